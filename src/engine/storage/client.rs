//! One face for the two ways to a project's Storage files: the S3-compatible
//! endpoint (signed with `object_store`'s SigV4 authorizer) and the REST API
//! with the service key. What can go wrong, in words; retries of what may
//! pass on a second try (429, 5xx, a dropped connection) with back-off.

use super::rest::RestClient;
use super::s3::S3Client;
use crate::engine::storage::Access;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Tries per request before a transient failure is given up on.
const ATTEMPTS: u32 = 5;
/// The first pause between tries; doubled each time, at most [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between tries (also caps a `Retry-After`).
const MAX_PAUSE: Duration = Duration::from_secs(20);
/// How long connecting may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may go silent.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// What can go wrong talking to Storage. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The keys were refused.
    #[error("{target} refused the keys ({detail}): {fix}")]
    WrongKeys {
        /// The service, described.
        target: String,
        /// What it said.
        detail: String,
        /// What to check.
        fix: &'static str,
    },
    /// No such bucket.
    #[error("there is no bucket \"{bucket}\" at {target}")]
    NoBucket {
        /// The bucket.
        bucket: String,
        /// The service, described.
        target: String,
    },
    /// No such object.
    #[error("{what} does not exist at {target}")]
    NotFound {
        /// `bucket/name`.
        what: String,
        /// The service, described.
        target: String,
    },
    /// The service did not answer.
    #[error(
        "cannot reach {target} ({reason}): check the URL, the network and any firewall or proxy"
    )]
    Unreachable {
        /// The service, described.
        target: String,
        /// The lowest-level cause.
        reason: String,
    },
    /// This computer's clock is off.
    #[error(
        "{target} rejected the request because this computer's clock is more than 15 minutes \
         off: set the clock right (automatic time) and try again"
    )]
    ClockSkew {
        /// The service, described.
        target: String,
    },
    /// The keys may not do this.
    #[error("{target}: permission to {action} is missing ({detail}): {hint}")]
    Denied {
        /// The service, described.
        target: String,
        /// What was refused.
        action: &'static str,
        /// What it said.
        detail: String,
        /// What to grant.
        hint: &'static str,
    },
    /// The service refused an object's name.
    #[error("{target} refused the name \"{name}\" ({detail})")]
    InvalidName {
        /// The name.
        name: String,
        /// The service, described.
        target: String,
        /// What it said.
        detail: String,
    },
    /// Too many requests, or a server error: worth another try.
    #[error("{target} answered HTTP {status} ({detail}): it is busy or failing; try again later")]
    Busy {
        /// The service, described.
        target: String,
        /// The HTTP status.
        status: u16,
        /// What it said.
        detail: String,
        /// How long it asked to wait.
        retry_after: Option<Duration>,
    },
    /// The connection broke while bytes were moving.
    #[error("the transfer from {target} broke off ({reason})")]
    Broken {
        /// The service, described.
        target: String,
        /// Why.
        reason: String,
    },
    /// A local file failed.
    #[error("cannot {action}: {source} ({})", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The URL answers, but not as Supabase Storage's REST API does.
    #[error(
        "{url} is not Supabase Storage's API URL: {why}. Give --api-url the API URL Supabase \
         prints (`supabase status`: API URL, such as http://127.0.0.1:54321; the dashboard: \
         https://PROJECT.supabase.co) or the Storage URL ending in /storage/v1"
    )]
    NotStorage {
        /// The URL as set.
        url: String,
        /// What it answered, place by place.
        why: String,
    },
    /// Anything else, in words.
    #[error("{0}")]
    Other(String),
}

impl ClientError {
    /// True when another try may pass.
    pub fn transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Busy { .. } | Self::Broken { .. }
        )
    }

    /// A local file error.
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// A reqwest error, sorted into unreachable / broken / other.
    pub(crate) fn from_http(e: reqwest::Error, target: &str) -> Self {
        let mut reason = e.to_string();
        let mut next = std::error::Error::source(&e);
        while let Some(cause) = next {
            reason = format!("{reason}: {cause}");
            next = cause.source();
        }
        if e.is_connect() || (e.is_timeout() && !e.is_body()) {
            Self::Unreachable {
                target: target.to_string(),
                reason,
            }
        } else if e.is_body() || e.is_decode() || e.is_timeout() || e.is_request() {
            Self::Broken {
                target: target.to_string(),
                reason,
            }
        } else {
            Self::Other(format!("{target}: {reason}"))
        }
    }
}

/// The pause before try `attempt + 1`.
fn pause(attempt: u32, asked: Option<Duration>) -> Duration {
    let doubled = FIRST_PAUSE.saturating_mul(1 << (attempt - 1).min(10));
    asked.unwrap_or(doubled).min(MAX_PAUSE)
}

/// Runs `f` again while it fails transiently, pausing longer each time.
pub(crate) async fn retry<T, F, Fut>(mut f: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f().await {
            Err(e) if e.transient() && attempt < ATTEMPTS => {
                let asked = match &e {
                    ClientError::Busy { retry_after, .. } => *retry_after,
                    _ => None,
                };
                tokio::time::sleep(pause(attempt, asked)).await;
            }
            other => return other,
        }
    }
}

/// A bucket and its settings (unknown ones `None`: S3 does not carry them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    /// The bucket's id (its name, on Supabase).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Files readable without a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
    /// Largest file accepted, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size_limit: Option<u64>,
    /// MIME types accepted (`image/*`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_mime_types: Option<Vec<String>>,
}

/// An object as a listing shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    /// Full name inside the bucket (`folder/file.png`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag, as given (quotes kept).
    pub etag: Option<String>,
    /// Last modified, as given.
    pub last_modified: Option<String>,
    /// Metadata the listing carries (REST) or `None` (S3: ask with HEAD).
    pub meta: Option<Meta>,
}

/// What is sent with a file and comes back with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Cache-Control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// The object's own metadata (S3 `x-amz-meta-*`, REST `user_metadata`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<serde_json::Value>,
}

/// An object's headers, without its bytes.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// Content type, cache control, metadata.
    pub meta: Meta,
    /// Its ETag, if sent.
    pub etag: Option<String>,
}

/// A file downloaded.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of them, hex.
    pub sha256: String,
    /// What came with it.
    pub meta: Meta,
    /// Its ETag, if sent.
    pub etag: Option<String>,
}

/// Called with the bytes done so far while a file moves.
pub type ProgressFn<'a> = &'a (dyn Fn(u64) + Send + Sync);

/// A project's Storage, opened. Cheap to clone.
#[derive(Clone)]
pub enum Client {
    /// The S3-compatible endpoint.
    S3(S3Client),
    /// The REST API.
    Rest(RestClient),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.describe())
    }
}

impl Client {
    /// Builds the client for an access (no request yet); `None` when the
    /// access is none.
    pub fn open(access: &Access) -> Result<Option<Client>, ClientError> {
        Ok(match access {
            Access::S3(s3) => Some(Client::S3(S3Client::open(s3)?)),
            Access::Rest(rest) => Some(Client::Rest(RestClient::open(rest)?)),
            Access::None(_) => None,
        })
    }

    /// `s3` or `rest`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::S3(_) => "s3",
            Self::Rest(_) => "rest",
        }
    }

    /// Where it is, nothing secret.
    pub fn describe(&self) -> String {
        match self {
            Self::S3(c) => c.describe(),
            Self::Rest(c) => c.describe(),
        }
    }

    /// The URL requests go to: the S3 endpoint, or the Storage REST API's
    /// URL (once a request found it under the URL as set).
    pub fn url(&self) -> String {
        match self {
            Self::S3(c) => c.endpoint().to_string(),
            Self::Rest(c) => c.url().to_string(),
        }
    }

    /// Every bucket the keys see, by name (settings filled in by the REST
    /// API only). Sorted here: servers list them in their own order.
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>, ClientError> {
        let mut buckets = retry(|| async {
            match self {
                Self::S3(c) => c.list_buckets().await,
                Self::Rest(c) => c.list_buckets().await,
            }
        })
        .await?;
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(buckets)
    }

    /// Every object of a bucket, whatever the folders; `seen(n)` after each
    /// page with the count so far.
    pub async fn list_objects(
        &self,
        bucket: &str,
        seen: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Vec<Listed>, ClientError> {
        let mut all = match self {
            Self::S3(c) => c.list_objects(bucket, seen).await?,
            Self::Rest(c) => c.list_objects(bucket, seen).await?,
        };
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all.dedup_by(|a, b| a.name == b.name);
        Ok(all)
    }

    /// Downloads an object into `dest` (created owner-only; removed again
    /// on failure), hashing it on the way. Retried from the start when the
    /// transfer breaks.
    pub async fn download(
        &self,
        bucket: &str,
        name: &str,
        dest: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<Downloaded, ClientError> {
        retry(|| async {
            let _ = tokio::fs::remove_file(dest).await;
            let got = match self {
                Self::S3(c) => c.download(bucket, name, dest, progress).await,
                Self::Rest(c) => c.download(bucket, name, dest, progress).await,
            };
            if got.is_err() {
                let _ = tokio::fs::remove_file(dest).await;
            }
            got
        })
        .await
    }

    /// An object's metadata without its bytes (`None`: no such object).
    pub async fn head(&self, bucket: &str, name: &str) -> Result<Option<Head>, ClientError> {
        retry(|| async {
            match self {
                Self::S3(c) => c.head(bucket, name).await,
                Self::Rest(c) => c.head(bucket, name).await,
            }
        })
        .await
    }

    /// True when the object's file can really be read (a listing reads the
    /// database, which may hold a row whose file is gone: after a database
    /// restore into a new project, for one).
    pub async fn probe(&self, bucket: &str, name: &str, size: u64) -> Result<bool, ClientError> {
        retry(|| async {
            match self {
                Self::S3(c) => c.probe(bucket, name, size).await,
                Self::Rest(c) => c.probe(bucket, name, size).await,
            }
        })
        .await
    }

    /// Uploads `file` as `bucket/name` (replacing what is there), with its
    /// content type, cache control and metadata; `sha256` is the file's.
    pub async fn upload(
        &self,
        bucket: &str,
        name: &str,
        file: &Path,
        sha256: &str,
        meta: &Meta,
    ) -> Result<(), ClientError> {
        retry(|| async {
            match self {
                Self::S3(c) => c.upload(bucket, name, file, sha256, meta).await,
                Self::Rest(c) => c.upload(bucket, name, file, meta).await,
            }
        })
        .await
    }

    /// Creates a bucket with its settings; `false` when it already existed.
    pub async fn create_bucket(&self, bucket: &BucketInfo) -> Result<bool, ClientError> {
        retry(|| async {
            match self {
                Self::S3(c) => c.create_bucket(&bucket.name).await,
                Self::Rest(c) => c.create_bucket(bucket).await,
            }
        })
        .await
    }

    /// Deletes objects of a bucket by name.
    pub async fn delete_objects(&self, bucket: &str, names: &[String]) -> Result<(), ClientError> {
        match self {
            Self::S3(c) => {
                for name in names {
                    retry(|| c.delete(bucket, name)).await?;
                }
                Ok(())
            }
            Self::Rest(c) => {
                for chunk in names.chunks(500) {
                    retry(|| c.delete(bucket, chunk)).await?;
                }
                Ok(())
            }
        }
    }
}

/// Writes a response body to `dest` as it arrives, hashing it; the size is
/// checked against `expected` (Content-Length) when given.
pub(crate) async fn save_body(
    mut response: reqwest::Response,
    dest: &Path,
    expected: Option<u64>,
    target: &str,
    progress: ProgressFn<'_>,
) -> Result<(u64, String), ClientError> {
    use sha2::Digest;
    use tokio::io::AsyncWriteExt;
    let file = crate::engine::set::codec::private_file(dest)
        .map_err(|e| ClientError::io("create the download file", dest, e))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let mut hasher = sha2::Sha256::new();
    let mut size = 0u64;
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| ClientError::from_http(e, target))?;
        let Some(chunk) = chunk else { break };
        hasher.update(&chunk);
        size += chunk.len() as u64;
        out.write_all(&chunk)
            .await
            .map_err(|e| ClientError::io("write the download file", dest, e))?;
        progress(size);
    }
    out.flush()
        .await
        .map_err(|e| ClientError::io("write the download file", dest, e))?;
    out.into_inner()
        .sync_all()
        .await
        .map_err(|e| ClientError::io("write the download file", dest, e))?;
    if let Some(want) = expected
        && want != size
    {
        return Err(ClientError::Broken {
            target: target.to_string(),
            reason: format!("{size} of {want} bytes arrived"),
        });
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// A request body streamed from a file, with its length.
pub(crate) async fn file_body(path: &Path) -> Result<(reqwest::Body, u64), ClientError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ClientError::io("read the file to upload", path, e))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| ClientError::io("read the file to upload", path, e))?
        .len();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    Ok((reqwest::Body::wrap_stream(stream), len))
}

/// The HTTP client both use: connect and read timeouts, no overall one (a
/// big file takes as long as it takes).
pub(crate) fn http_client() -> Result<reqwest::Client, ClientError> {
    // reqwest's rustls needs a process-wide crypto provider; a second
    // install is refused, harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| ClientError::Other(format!("cannot build the HTTP client: {e}")))
}

/// `Retry-After` in seconds, when given.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A header's value as text.
pub(crate) fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// `text` with every occurrence of `secret` replaced by `****` (servers
/// may echo what they were sent).
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_are_capped() {
        assert_eq!(pause(1, None), Duration::from_millis(250));
        assert_eq!(pause(3, None), Duration::from_secs(1));
        assert_eq!(pause(30, None), MAX_PAUSE);
        assert_eq!(
            pause(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(pause(1, Some(Duration::from_secs(3600))), MAX_PAUSE);
    }

    #[tokio::test]
    async fn transient_failures_are_tried_again_and_others_are_not() {
        let tries = std::sync::atomic::AtomicU32::new(0);
        let busy = || ClientError::Busy {
            target: "t".into(),
            status: 429,
            detail: String::new(),
            retry_after: Some(Duration::from_millis(1)),
        };
        let r: Result<u32, _> = retry(|| async {
            let n = tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n < 2 { Err(busy()) } else { Ok(n) }
        })
        .await;
        assert_eq!(r.unwrap(), 2);
        tries.store(0, std::sync::atomic::Ordering::SeqCst);
        let r: Result<(), _> = retry(|| async {
            tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(ClientError::Other("no".into()))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
