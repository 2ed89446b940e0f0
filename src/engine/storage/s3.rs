//! Storage's S3-compatible endpoint (path-style: `endpoint/bucket/key`):
//! ListBuckets, ListObjectsV2 (1000 keys a page, continuation tokens),
//! GetObject, HeadObject, PutObject, CreateBucket, DeleteObject. Requests
//! are signed with `object_store`'s SigV4 authorizer and sent with reqwest,
//! so object names go out exactly as they are (spaces, `*`, `?`, UTF-8),
//! each segment percent-encoded once, as SigV4 wants for S3.

use super::client::{
    ClientError, Downloaded, Head, Listed, Meta, ProgressFn, file_body, header, http_client, retry,
    retry_after, save_body,
};
use super::text::{base64_decode, base64_encode, element, elements, encode_component, encode_path};
use crate::engine::storage::{BucketInfo, S3Access};
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::{HttpRequest, HttpRequestBody};
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The prefix of the headers that carry an object's own metadata.
const META: &str = "x-amz-meta-";

/// The S3 endpoint, opened.
#[derive(Clone)]
pub struct S3Client {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    credential: Arc<AwsCredential>,
    target: String,
    /// Kept only to scrub it from any text.
    secret: Arc<Zeroizing<String>>,
}

impl S3Client {
    /// Builds the client; no request is made.
    pub(crate) fn open(a: &S3Access) -> Result<Self, ClientError> {
        // Checked again here, not only when it was set: the signer panics
        // on a URL it cannot parse, and an older version may have kept one.
        let unusable = |e: crate::domain::ValidationError| {
            ClientError::Other(format!(
                "the Storage S3 settings cannot be used: {e}; set them again with `supabackup \
                 project edit`"
            ))
        };
        let endpoint = crate::domain::validate_storage_url("storage_s3_endpoint", &a.endpoint)
            .map_err(unusable)?;
        crate::domain::validate_region("storage_s3_region", &a.region).map_err(unusable)?;
        crate::domain::validate_key_id("storage_s3_access_key_id", &a.access_key_id)
            .map_err(unusable)?;
        Ok(Self {
            http: http_client()?,
            target: format!(
                "Storage S3 at {endpoint} (region {}, access key {})",
                a.region,
                crate::domain::mask_key_id(&a.access_key_id)
            ),
            endpoint,
            region: a.region.clone(),
            credential: Arc::new(AwsCredential {
                key_id: a.access_key_id.clone(),
                secret_key: a.secret.to_string(),
                token: None,
            }),
            secret: Arc::new(a.secret.clone()),
        })
    }

    /// The endpoint, as set.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Where it is, nothing secret.
    pub(crate) fn describe(&self) -> String {
        self.target.clone()
    }

    fn url(&self, bucket: Option<&str>, key: Option<&str>, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}/", self.endpoint);
        if let Some(b) = bucket {
            url.push_str(&encode_component(b));
            if let Some(k) = key {
                url.push('/');
                url.push_str(&encode_path(k));
            }
        }
        if !query.is_empty() {
            url.push('?');
            let pairs: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
                .collect();
            url.push_str(&pairs.join("&"));
        }
        url
    }

    /// Signs and sends a request; `body` with its length and SHA-256.
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Option<(reqwest::Body, u64, [u8; 32])>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut req = HttpRequest::new(HttpRequestBody::empty());
        *req.method_mut() = method.clone();
        *req.uri_mut() = url
            .parse()
            .map_err(|e| ClientError::Other(format!("cannot make a request URL of {url}: {e}")))?;
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| ClientError::Other(format!("bad header name {k}: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| ClientError::Other(format!("bad value for header {k}: {e}")))?;
            req.headers_mut().insert(name, value);
        }
        let digest = body.as_ref().map(|(_, _, sha)| *sha);
        AwsAuthorizer::new(&self.credential, "s3", &self.region)
            .try_authorize(&mut req, digest.as_ref().map(|d| d.as_slice()))
            .map_err(|e| {
                ClientError::Other(self.scrub(&format!("cannot sign the request: {e}")))
            })?;
        let mut builder = self.http.request(method, url);
        for (k, v) in req.headers() {
            builder = builder.header(k, v);
        }
        if let Some((body, len, _)) = body {
            builder = builder
                .header(reqwest::header::CONTENT_LENGTH, len)
                .body(body);
        }
        builder
            .send()
            .await
            .map_err(|e| ClientError::from_http(e, &self.target))
    }

    fn scrub(&self, text: &str) -> String {
        super::client::scrub(text, &self.secret)
    }

    /// The response when it succeeded; the S3 error in words when not.
    async fn check(
        &self,
        response: reqwest::Response,
        bucket: Option<&str>,
        key: Option<&str>,
        action: &'static str,
    ) -> Result<reqwest::Response, ClientError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let wait = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        let code = element(&text, "Code").unwrap_or_default();
        let message = self.scrub(&element(&text, "Message").unwrap_or_default());
        Err(self.error(status.as_u16(), &code, &message, bucket, key, action, wait))
    }

    #[allow(clippy::too_many_arguments)]
    fn error(
        &self,
        status: u16,
        code: &str,
        message: &str,
        bucket: Option<&str>,
        key: Option<&str>,
        action: &'static str,
        wait: Option<std::time::Duration>,
    ) -> ClientError {
        let target = self.target.clone();
        let detail = if message.is_empty() {
            code.to_string()
        } else {
            format!("{code}: {message}")
        };
        let what = match (bucket, key) {
            (Some(b), Some(k)) => format!("{b}/{k}"),
            (Some(b), None) => b.to_string(),
            _ => String::new(),
        };
        let fix = "check the access key id and the secret made under Storage > S3 in the \
                   Supabase dashboard (project edit P --storage-s3-access-key-id ID, secret in \
                   SUPABACKUP_STORAGE_S3_SECRET)";
        match code {
            "InvalidAccessKeyId" => ClientError::WrongKeys {
                target,
                detail: "the access key id is unknown to the service".into(),
                fix,
            },
            "SignatureDoesNotMatch" => ClientError::WrongKeys {
                target,
                detail: "the secret does not match the access key id".into(),
                fix,
            },
            "NoSuchBucket" => ClientError::NoBucket {
                bucket: bucket.unwrap_or_default().to_string(),
                target,
            },
            "NoSuchKey" => ClientError::NotFound { what, target },
            "RequestTimeTooSkewed" => ClientError::ClockSkew { target },
            "InvalidKey" | "InvalidObjectName" | "KeyTooLongError" => ClientError::InvalidName {
                name: key.unwrap_or_default().to_string(),
                target,
                detail,
            },
            "AuthorizationHeaderMalformed" | "PermanentRedirect" | "IncorrectEndpoint" => {
                ClientError::Other(format!(
                    "{target} answered that the region or endpoint is wrong ({detail}): set the \
                     project's own region and its S3 endpoint \
                     (https://PROJECT.storage.supabase.co/storage/v1/s3)"
                ))
            }
            "SlowDown" | "ServiceUnavailable" | "InternalError" => ClientError::Busy {
                target,
                status,
                detail,
                retry_after: wait,
            },
            _ if status == 429 || status >= 500 => ClientError::Busy {
                target,
                status,
                detail,
                retry_after: wait,
            },
            _ if status == 404 && key.is_some() => ClientError::NotFound { what, target },
            _ if status == 404 => ClientError::NoBucket {
                bucket: what,
                target,
            },
            _ if code == "AccessDenied" || status == 403 => ClientError::Denied {
                target,
                action,
                detail,
                hint: "give these keys access to every bucket (S3 access keys made in the \
                       dashboard have it)",
            },
            _ => ClientError::Other(format!(
                "{target} answered HTTP {status} to {action} {what}: {detail}"
            )),
        }
    }

    /// ListBuckets.
    pub(crate) async fn list_buckets(&self) -> Result<Vec<BucketInfo>, ClientError> {
        let url = self.url(None, None, &[]);
        let r = self.send(Method::GET, &url, &[], None).await?;
        let r = self.check(r, None, None, "list the buckets").await?;
        let text = r
            .text()
            .await
            .map_err(|e| ClientError::from_http(e, &self.target))?;
        Ok(elements(&text, "Bucket")
            .iter()
            .filter_map(|b| element(b, "Name"))
            .map(|name| BucketInfo {
                id: name.clone(),
                name,
                ..Default::default()
            })
            .collect())
    }

    /// ListObjectsV2, every page.
    pub(crate) async fn list_objects(
        &self,
        bucket: &str,
        seen: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Vec<Listed>, ClientError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2"), ("max-keys", "1000")];
            if let Some(t) = &token {
                query.push(("continuation-token", t.as_str()));
            }
            let url = self.url(Some(bucket), None, &query);
            let text = retry(|| async {
                let r = self.send(Method::GET, &url, &[], None).await?;
                let r = self.check(r, Some(bucket), None, "list").await?;
                r.text()
                    .await
                    .map_err(|e| ClientError::from_http(e, &self.target))
            })
            .await?;
            for c in elements(&text, "Contents") {
                let Some(name) = element(c, "Key") else {
                    continue;
                };
                out.push(Listed {
                    name,
                    size: element(c, "Size")
                        .and_then(|s| s.trim().parse().ok())
                        .unwrap_or(0),
                    etag: element(c, "ETag").filter(|e| !e.is_empty()),
                    last_modified: element(c, "LastModified").filter(|e| !e.is_empty()),
                    meta: None,
                });
            }
            seen(out.len());
            let truncated = element(&text, "IsTruncated").is_some_and(|t| t.trim() == "true");
            token = element(&text, "NextContinuationToken").filter(|t| !t.is_empty());
            if !truncated || token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// GetObject into a file.
    pub(crate) async fn download(
        &self,
        bucket: &str,
        name: &str,
        dest: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<Downloaded, ClientError> {
        let url = self.url(Some(bucket), Some(name), &[]);
        let r = self.send(Method::GET, &url, &[], None).await?;
        let r = self.check(r, Some(bucket), Some(name), "read").await?;
        let meta = meta_of(r.headers());
        let etag = header(r.headers(), "etag");
        let expected = r.content_length();
        let (size, sha256) = save_body(r, dest, expected, &self.target, progress).await?;
        Ok(Downloaded {
            size,
            sha256,
            meta,
            etag,
        })
    }

    /// HeadObject.
    pub(crate) async fn head(&self, bucket: &str, name: &str) -> Result<Option<Head>, ClientError> {
        let url = self.url(Some(bucket), Some(name), &[]);
        let r = self.send(Method::HEAD, &url, &[], None).await?;
        if r.status().as_u16() == 404 {
            return Ok(None);
        }
        if !r.status().is_success() {
            let status = r.status().as_u16();
            let wait = retry_after(r.headers());
            return Err(self.error(status, "", "", Some(bucket), Some(name), "read", wait));
        }
        Ok(Some(Head {
            meta: meta_of(r.headers()),
            etag: header(r.headers(), "etag"),
        }))
    }

    /// Reads the first byte (an empty file: its head).
    pub(crate) async fn probe(
        &self,
        bucket: &str,
        name: &str,
        size: u64,
    ) -> Result<bool, ClientError> {
        if size == 0 {
            return Ok(self.head(bucket, name).await?.is_some());
        }
        let url = self.url(Some(bucket), Some(name), &[]);
        let headers = [("range".to_string(), "bytes=0-0".to_string())];
        let r = self.send(Method::GET, &url, &headers, None).await?;
        match self.check(r, Some(bucket), Some(name), "read").await {
            Ok(_) => Ok(true),
            Err(ClientError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// PutObject from a file.
    pub(crate) async fn upload(
        &self,
        bucket: &str,
        name: &str,
        file: &Path,
        sha256: &str,
        meta: &Meta,
    ) -> Result<(), ClientError> {
        let digest: [u8; 32] = hex::decode(sha256)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| ClientError::Other(format!("bad SHA-256 for {name}: {sha256}")))?;
        let mut headers = Vec::new();
        if let Some(t) = &meta.content_type {
            headers.push(("content-type".to_string(), t.clone()));
        }
        if let Some(c) = &meta.cache_control {
            headers.push(("cache-control".to_string(), c.clone()));
        }
        if let Some(serde_json::Value::Object(map)) = &meta.user_metadata {
            for (k, v) in map {
                let key = k.to_ascii_lowercase();
                if key.is_empty()
                    || !key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                {
                    continue;
                }
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                headers.push((format!("{META}{key}"), header_text(&text)));
            }
        }
        let (body, len) = file_body(file).await?;
        let url = self.url(Some(bucket), Some(name), &[]);
        let r = self
            .send(Method::PUT, &url, &headers, Some((body, len, digest)))
            .await?;
        self.check(r, Some(bucket), Some(name), "write").await?;
        Ok(())
    }

    /// CreateBucket; `false` when it exists.
    pub(crate) async fn create_bucket(&self, bucket: &str) -> Result<bool, ClientError> {
        let url = self.url(Some(bucket), None, &[]);
        let r = self.send(Method::PUT, &url, &[], None).await?;
        match self.check(r, Some(bucket), None, "create the bucket").await {
            Ok(_) => Ok(true),
            Err(ClientError::Other(t)) | Err(ClientError::Denied { detail: t, .. })
                if t.contains("BucketAlreadyOwnedByYou") || t.contains("BucketAlreadyExists") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// DeleteObject (a missing object is not an error).
    pub(crate) async fn delete(&self, bucket: &str, name: &str) -> Result<(), ClientError> {
        let url = self.url(Some(bucket), Some(name), &[]);
        let r = self.send(Method::DELETE, &url, &[], None).await?;
        match self.check(r, Some(bucket), Some(name), "delete").await {
            Ok(_) | Err(ClientError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Content type, cache control and `x-amz-meta-*` of a response.
fn meta_of(headers: &reqwest::header::HeaderMap) -> Meta {
    let mut user = serde_json::Map::new();
    for (k, v) in headers {
        if let Some(key) = k.as_str().strip_prefix(META)
            && let Ok(text) = v.to_str()
        {
            user.insert(
                key.to_string(),
                serde_json::Value::String(header_untext(text)),
            );
        }
    }
    Meta {
        content_type: header(headers, "content-type"),
        cache_control: header(headers, "cache-control"),
        user_metadata: (!user.is_empty()).then_some(serde_json::Value::Object(user)),
    }
}

/// A metadata value as a header: printable ASCII as is, anything else as
/// an RFC 2047 encoded word (what AWS does with non-ASCII metadata).
fn header_text(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) && !s.starts_with("=?") {
        s.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", base64_encode(s.as_bytes()))
    }
}

/// The reverse of [`header_text`].
fn header_untext(s: &str) -> String {
    s.strip_prefix("=?UTF-8?B?")
        .or_else(|| s.strip_prefix("=?utf-8?b?"))
        .and_then(|r| r.strip_suffix("?="))
        .and_then(base64_decode)
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_each_segment_once() {
        let c = S3Client::open(&S3Access {
            endpoint: "http://127.0.0.1:9/storage/v1/s3/".into(),
            region: "eu-central-1".into(),
            access_key_id: "AKIAEXAMPLEKEY".into(),
            secret: Zeroizing::new("secret-value".into()),
        })
        .unwrap();
        assert_eq!(
            c.url(Some("b"), Some("dir x/é?.txt"), &[]),
            "http://127.0.0.1:9/storage/v1/s3/b/dir%20x/%C3%A9%3F.txt"
        );
        assert_eq!(
            c.url(
                Some("b"),
                None,
                &[("list-type", "2"), ("continuation-token", "a+b/=")]
            ),
            "http://127.0.0.1:9/storage/v1/s3/b?list-type=2&continuation-token=a%2Bb%2F%3D"
        );
        assert!(!c.describe().contains("secret-value"));
        assert!(!c.describe().contains("AKIAEXAMPLEKEY"));
    }

    #[test]
    fn metadata_values_survive_headers() {
        for v in ["plain", "é à", "=?not?="] {
            assert_eq!(header_untext(&header_text(v)), v);
        }
    }
}
