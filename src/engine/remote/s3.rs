//! The S3-compatible backend, on `object_store` (SigV4 signing, retries,
//! multipart uploads): AWS S3, Cloudflare R2, Backblaze B2, Wasabi, MinIO,
//! Supabase Storage's S3 endpoint.

use super::error::{Action, RemoteError, S3Context, from_store, scrub};
use super::pipe::{FileSink, RemoveOnDrop};
use super::{MAX_SMALL_OBJECT, ObjectInfo, ProgressFn, join_key};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use object_store::prefix::PrefixStore;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

mod upload;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request may wait for its answer (a part's upload counts:
/// 4 parts of 8 MiB sharing a 0.5 Mbit/s uplink still fit), or a download
/// for its next bytes. A stalled connection fails after this.
const READ_TIMEOUT: Duration = Duration::from_secs(600);

/// What [`S3::open`] needs.
pub(super) struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub prefix: String,
    pub path_style: bool,
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
}

/// An S3 bucket (and prefix) opened.
pub(super) struct S3 {
    store: Arc<dyn ObjectStore>,
    endpoint: String,
    bucket: String,
    prefix: String,
    region: String,
    target: String,
    /// Virtual-host addressing: `url` is the endpoint with the bucket in its host.
    path_style: bool,
    url: String,
    /// Kept only to scrub it from error texts.
    secret: Zeroizing<String>,
}

impl S3 {
    /// Builds the client (no request is made).
    pub(super) fn open(s: S3Settings) -> Result<Self, RemoteError> {
        // reqwest's rustls needs a process-wide crypto provider; a second
        // install (ours or another part of the program's) is refused, harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Checked again here, not only when it was added: a request built
        // on a URL the HTTP stack cannot parse panics inside it, and a
        // destination stored by an older version may hold one.
        let unusable = |e: crate::domain::ValidationError| {
            RemoteError::Other(format!(
                "its {e}; remove the destination and add it again with a correct value"
            ))
        };
        let endpoint = crate::domain::validate_endpoint(&s.endpoint).map_err(unusable)?;
        let insecure = endpoint.starts_with("http://");
        if s.bucket.is_empty() || s.access_key_id.is_empty() || s.secret_access_key.is_empty() {
            return Err(RemoteError::Other(
                "an S3 destination needs a bucket, an access key id and a secret access key".into(),
            ));
        }
        crate::domain::validate_key_id("access key id", &s.access_key_id).map_err(unusable)?;
        let url = if s.path_style {
            endpoint.clone()
        } else {
            let url = virtual_host_endpoint(&endpoint, &s.bucket);
            crate::domain::validate_endpoint(&url).map_err(|_| {
                RemoteError::Other(format!(
                    "the bucket cannot go in front of the host of {endpoint} (virtual-host \
                     addressing): remove the destination and add it again with --path-style"
                ))
            })?;
            url
        };
        let region = if s.region.trim().is_empty() {
            "us-east-1".to_string()
        } else {
            crate::domain::validate_region("region", &s.region).map_err(unusable)?
        };
        let built = AmazonS3Builder::new()
            // First: it replaces every client option set before it.
            .with_client_options(client_options())
            .with_endpoint(&url)
            .with_allow_http(insecure)
            .with_virtual_hosted_style_request(!s.path_style)
            .with_region(&region)
            .with_bucket_name(&s.bucket)
            .with_access_key_id(&s.access_key_id)
            .with_secret_access_key(s.secret_access_key.as_str())
            .with_retry(retry_config())
            .build()
            .map_err(|e| {
                RemoteError::Other(scrub(
                    &format!("invalid S3 settings: {e}"),
                    &s.secret_access_key,
                ))
            })?;
        let store: Arc<dyn ObjectStore> = if s.prefix.is_empty() {
            Arc::new(built)
        } else {
            Arc::new(PrefixStore::new(built, StorePath::from(s.prefix.as_str())))
        };
        let target = match s.prefix.as_str() {
            "" => format!("s3://{} at {endpoint}", s.bucket),
            p => format!("s3://{}/{p} at {endpoint}", s.bucket),
        };
        Ok(Self {
            store,
            endpoint,
            bucket: s.bucket,
            prefix: s.prefix,
            region,
            target,
            path_style: s.path_style,
            url,
            secret: s.secret_access_key,
        })
    }

    /// `s3://bucket/prefix at endpoint`.
    pub(super) fn describe(&self) -> String {
        self.target.clone()
    }

    fn err(&self, e: object_store::Error, action: Action, key: &str) -> RemoteError {
        let ctx = S3Context {
            target: &self.target,
            endpoint: &self.endpoint,
            bucket: &self.bucket,
            region: &self.region,
            secret: &self.secret,
        };
        match from_store(e, &ctx, action, key) {
            RemoteError::Unreachable { reason, .. } if !self.path_style => {
                RemoteError::Unreachable {
                    endpoint: self.url.clone(),
                    reason: format!(
                        "{reason}; virtual-host addressing puts the bucket in the host name: for MinIO or a server on your network choose path-style"
                    ),
                }
            }
            other => other,
        }
    }

    /// Lists the top level once: wrong keys, a missing bucket, an unreachable
    /// endpoint or a skewed clock show here (a put to a missing bucket may
    /// not say so on every service).
    pub(super) async fn reachable(&self) -> Result<(), RemoteError> {
        self.store
            .list_with_delimiter(None)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e, Action::List, &self.prefix))
    }

    pub(super) async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), RemoteError> {
        self.store
            .put(&StorePath::from(key), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| self.err(e, Action::Write, key))
    }

    pub(super) async fn get_to_file(
        &self,
        key: &str,
        local: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<(u64, String), RemoteError> {
        let got = self
            .store
            .get(&StorePath::from(key))
            .await
            .map_err(|e| self.err(e, Action::Read, key))?;
        let expected = got.meta.size;
        let mut stream = got.into_stream();
        let mut sink = FileSink::create(local)
            .await
            .map_err(|e| RemoteError::io("create the download file", local, e))?;
        let guard = RemoveOnDrop::new(local);
        let mut done = 0u64;
        while let Some(chunk) = stream.next().await {
            let written = match chunk {
                Ok(chunk) => {
                    done += chunk.len() as u64;
                    sink.write(chunk)
                        .await
                        .map_err(|e| RemoteError::io("write the download file", local, e))
                }
                Err(e) => Err(self.err(e, Action::Read, key)),
            };
            if let Err(e) = written {
                sink.discard().await;
                return Err(e);
            }
            progress(done);
        }
        let (size, hash) = sink
            .finish()
            .await
            .map_err(|e| RemoteError::io("write the download file", local, e))?;
        if size != expected {
            return Err(RemoteError::Other(format!(
                "{key} at {} came short ({size} of {expected} bytes): try again",
                self.target
            )));
        }
        guard.disarm();
        Ok((size, hash))
    }

    pub(super) async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, RemoteError> {
        let got = self
            .store
            .get(&StorePath::from(key))
            .await
            .map_err(|e| self.err(e, Action::Read, key))?;
        if got.meta.size > MAX_SMALL_OBJECT {
            return Err(too_large(key, &self.target, got.meta.size));
        }
        let bytes = got
            .bytes()
            .await
            .map_err(|e| self.err(e, Action::Read, key))?;
        Ok(bytes.to_vec())
    }

    pub(super) async fn reader(
        &self,
        key: &str,
    ) -> Result<Box<dyn std::io::Read + Send>, RemoteError> {
        let got = self
            .store
            .get(&StorePath::from(key))
            .await
            .map_err(|e| self.err(e, Action::Read, key))?;
        let ctx = ReadContext {
            target: self.target.clone(),
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            secret: self.secret.clone(),
            key: key.to_string(),
        };
        let stream = got.into_stream().map_err(move |e| ctx.error(e));
        let reader = tokio_util::io::StreamReader::new(stream);
        Ok(Box::new(tokio_util::io::SyncIoBridge::new(reader)))
    }

    pub(super) async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, RemoteError> {
        let at = (!prefix.is_empty()).then(|| StorePath::from(prefix));
        self.store
            .list(at.as_ref())
            .map_ok(|meta| ObjectInfo {
                key: meta.location.to_string(),
                size: meta.size,
                modified: Some(meta.last_modified),
            })
            .try_collect()
            .await
            .map_err(|e| self.err(e, Action::List, prefix))
    }

    pub(super) async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, RemoteError> {
        let at = (!prefix.is_empty()).then(|| StorePath::from(prefix));
        let found = self
            .store
            .list_with_delimiter(at.as_ref())
            .await
            .map_err(|e| self.err(e, Action::List, prefix))?;
        Ok(found
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    pub(super) async fn exists(&self, key: &str) -> Result<bool, RemoteError> {
        match self.store.head(&StorePath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err(e, Action::Read, key)),
        }
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        match self.store.delete(&StorePath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e, Action::Delete, key)),
        }
    }

    pub(super) async fn delete_prefix(&self, prefix: &str) -> Result<usize, RemoteError> {
        let found = self.list(prefix).await?;
        let paths: Vec<_> = found
            .iter()
            .map(|o| Ok(StorePath::from(o.key.as_str())))
            .collect();
        let mut deleted = 0;
        let mut results = self
            .store
            .delete_stream(futures::stream::iter(paths).boxed());
        while let Some(result) = results.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(e) => return Err(self.err(e, Action::Delete, &join_key(prefix, "…"))),
            }
        }
        Ok(deleted)
    }
}

/// What a streaming read needs to word its errors (owned: the stream is 'static).
struct ReadContext {
    target: String,
    endpoint: String,
    bucket: String,
    region: String,
    secret: Zeroizing<String>,
    key: String,
}

impl ReadContext {
    fn error(&self, e: object_store::Error) -> std::io::Error {
        let ctx = S3Context {
            target: &self.target,
            endpoint: &self.endpoint,
            bucket: &self.bucket,
            region: &self.region,
            secret: &self.secret,
        };
        from_store(e, &ctx, Action::Read, &self.key).into_io()
    }
}

fn too_large(key: &str, target: &str, size: u64) -> RemoteError {
    RemoteError::Other(format!(
        "{key} at {target} is {size} bytes, too large to read whole (at most {MAX_SMALL_OBJECT}): download it to a file"
    ))
}

/// Connect and read timeouts (no overall timeout: a big download takes
/// as long as it takes).
fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(CONNECT_TIMEOUT)
        .with_timeout_disabled()
        .with_read_timeout(READ_TIMEOUT)
}

/// A few quick retries of a request for transient failures (5xx, refused
/// or dropped connections); the caller backs off between whole attempts.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(60),
    }
}

/// `https://s3.example.com` + `bucket` → `https://bucket.s3.example.com`
/// (object_store takes a virtual-host endpoint with the bucket in it);
/// unchanged when it already starts with the bucket.
fn virtual_host_endpoint(endpoint: &str, bucket: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    if rest.starts_with(&format!("{bucket}.")) {
        endpoint.to_string()
    } else {
        format!("{scheme}://{bucket}.{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_host_puts_the_bucket_in_the_host() {
        assert_eq!(
            virtual_host_endpoint("https://s3.eu-central-1.amazonaws.com", "b"),
            "https://b.s3.eu-central-1.amazonaws.com"
        );
        assert_eq!(
            virtual_host_endpoint("https://b.s3.eu-central-1.amazonaws.com", "b"),
            "https://b.s3.eu-central-1.amazonaws.com"
        );
        assert_eq!(
            virtual_host_endpoint("http://minio:9000", "b"),
            "http://b.minio:9000"
        );
    }

    #[test]
    fn bad_settings_are_refused_in_words() {
        let settings = |endpoint: &str| S3Settings {
            endpoint: endpoint.into(),
            region: String::new(),
            bucket: "b".into(),
            prefix: String::new(),
            path_style: true,
            access_key_id: "id".into(),
            secret_access_key: Zeroizing::new("secret".into()),
        };
        let e = S3::open(settings("ftp://x")).err().unwrap();
        assert!(e.to_string().contains("http:// or https://"), "{e}");
        let s3 = S3::open(settings("http://127.0.0.1:9/")).unwrap();
        assert_eq!(s3.describe(), "s3://b at http://127.0.0.1:9");
        assert_eq!(s3.region, "us-east-1");
    }
}
