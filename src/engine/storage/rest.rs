//! Storage's REST API with the project's service_role key (headers
//! `Authorization: Bearer <key>` and `apikey`): `GET /bucket`, `POST
//! /object/list-v2/{bucket}` (a cursor, the whole tree at once) or, where
//! the server lacks it, `POST /object/list/{bucket}` (one folder level at a
//! time, folders with `id: null`), `GET /object/authenticated/{bucket}/{path}`,
//! `POST /object/{bucket}/{path}` with `x-upsert`, `POST /bucket`, `DELETE
//! /object/{bucket}`. Errors come as HTTP 400 with the real code in the
//! body's `statusCode`.

use super::client::{
    ClientError, Downloaded, Head, Listed, Meta, ProgressFn, file_body, header, http_client, retry,
    retry_after, save_body,
};
use super::text::{base64_encode, encode_component, encode_path};
use crate::domain::{is_storage_s3_endpoint, storage_api_candidates};
use crate::engine::storage::{BucketInfo, RestAccess};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use zeroize::Zeroizing;

/// Objects asked for per list request.
const PAGE: usize = 1000;

/// The REST API, opened.
#[derive(Clone)]
pub struct RestClient {
    http: reqwest::Client,
    /// The URL as set (`--api-url`, or derived), without a trailing `/`.
    given: String,
    /// Where the API really is, found by the first request
    /// ([`storage_api_candidates`]): `<given>/storage/v1` or `<given>`.
    root: Arc<tokio::sync::OnceCell<String>>,
    key: Arc<Zeroizing<String>>,
    /// The server answered that it has no list-v2: use list (v1).
    v1_only: Arc<AtomicBool>,
}

/// A bucket as `GET /bucket` gives it.
#[derive(Deserialize)]
struct RestBucket {
    id: Option<String>,
    name: String,
    #[serde(default)]
    public: Option<bool>,
    #[serde(default)]
    file_size_limit: Option<Value>,
    #[serde(default)]
    allowed_mime_types: Option<Vec<String>>,
}

impl RestClient {
    /// Builds the client; no request is made.
    pub(crate) fn open(a: &RestAccess) -> Result<Self, ClientError> {
        let base = a.api_url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Other(format!(
                "the Storage API URL must be an http:// or https:// URL (got \"{base}\")"
            )));
        }
        Ok(Self {
            http: http_client()?,
            given: base,
            root: Arc::new(tokio::sync::OnceCell::new()),
            key: Arc::new(a.service_key.clone()),
            v1_only: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Where it is, nothing secret: the Storage URL once found, else the
    /// URL as set.
    pub(crate) fn describe(&self) -> String {
        format!("the Storage API at {}", self.url())
    }

    /// The Storage URL in use once a request found it, else the URL as set.
    pub(crate) fn url(&self) -> &str {
        self.root.get().map_or(&self.given, String::as_str)
    }

    /// The Storage URL: found by the first call (see [`Self::find_root`]).
    pub(crate) async fn root(&self) -> Result<&str, ClientError> {
        self.root
            .get_or_try_init(|| self.find_root())
            .await
            .map(String::as_str)
    }

    /// Asks `GET /bucket` at each place the API may be
    /// ([`storage_api_candidates`]) and keeps the first that answers as
    /// Storage does: a bucket list, or the keys refused (the request that
    /// follows says so in words). Anything else (a gateway's "no route", a
    /// web page, an S3 endpoint's XML) is said, place by place.
    async fn find_root(&self) -> Result<String, ClientError> {
        if is_storage_s3_endpoint(&self.given) {
            return Err(ClientError::NotStorage {
                url: self.given.clone(),
                why: "it is Storage's S3 endpoint, not its REST API (use it with \
                      --storage-s3-endpoint and the S3 keys)"
                    .into(),
            });
        }
        let mut answers = Vec::new();
        for candidate in storage_api_candidates(&self.given) {
            let target = format!("the Storage API at {candidate}");
            let r = self
                .with_keys(self.http.get(format!("{candidate}/bucket")))
                .send()
                .await
                .map_err(|e| ClientError::from_http(e, &target))?;
            let (status, wait) = (r.status().as_u16(), retry_after(r.headers()));
            let content_type = header(r.headers(), "content-type").unwrap_or_default();
            let body = self.scrub(&r.text().await.unwrap_or_default());
            if status == 429 || status >= 500 {
                return Err(ClientError::Busy {
                    target,
                    status,
                    detail: body.chars().take(200).collect(),
                    retry_after: wait,
                });
            }
            match storage_answer(status, &content_type, &body) {
                Ok(()) => return Ok(candidate),
                Err(what) => answers.push(format!("{candidate}/bucket answered {what}")),
            }
        }
        Err(ClientError::NotStorage {
            url: self.given.clone(),
            why: answers.join("; "),
        })
    }

    fn with_keys(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", **self.key))
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
        bearer.set_sensitive(true);
        let mut apikey = reqwest::header::HeaderValue::from_str(&self.key)
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
        apikey.set_sensitive(true);
        builder
            .header(reqwest::header::AUTHORIZATION, bearer)
            .header("apikey", apikey)
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let root = self.root().await?;
        Ok(self.with_keys(self.http.request(method, format!("{root}{path}"))))
    }

    async fn send(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        builder
            .send()
            .await
            .map_err(|e| ClientError::from_http(e, &self.describe()))
    }

    fn scrub(&self, text: &str) -> String {
        super::client::scrub(text, &self.key)
    }

    /// The response when it succeeded; the error in words when not.
    async fn check(
        &self,
        response: reqwest::Response,
        bucket: Option<&str>,
        name: Option<&str>,
        action: &'static str,
    ) -> Result<reqwest::Response, ClientError> {
        if response.status().is_success() {
            return Ok(response);
        }
        let (status, wait) = (response.status().as_u16(), retry_after(response.headers()));
        let text = self.scrub(&response.text().await.unwrap_or_default());
        Err(self.error(status, &text, bucket, name, action, wait))
    }

    fn error(
        &self,
        http_status: u16,
        body: &str,
        bucket: Option<&str>,
        name: Option<&str>,
        action: &'static str,
        wait: Option<std::time::Duration>,
    ) -> ClientError {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let field = |k: &str| match &v[k] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let status = if http_status >= 500 || http_status == 429 {
            http_status
        } else {
            field("statusCode").parse::<u16>().unwrap_or(http_status)
        };
        let (error, message) = (field("error"), field("message"));
        let code = field("code");
        let detail = match (error.is_empty(), message.is_empty()) {
            (true, true) => body.chars().take(200).collect(),
            (false, true) => error.clone(),
            (true, false) => message.clone(),
            (false, false) => format!("{error}: {message}"),
        };
        let target = self.describe();
        let what = match (bucket, name) {
            (Some(b), Some(n)) => format!("{b}/{n}"),
            (Some(b), None) => b.to_string(),
            _ => String::new(),
        };
        let lower = format!("{error} {message} {code}").to_ascii_lowercase();
        if error == "InvalidKey" || code == "InvalidKey" {
            return ClientError::InvalidName {
                name: name.unwrap_or_default().to_string(),
                target,
                detail,
            };
        }
        match status {
            401 | 403
                if lower.contains("signature")
                    || lower.contains("jwt")
                    || lower.contains("unauthorized")
                    || lower.contains("invalid") =>
            {
                ClientError::WrongKeys {
                    target,
                    detail,
                    fix: "check the project's service_role key (project edit P --service-key \
                          K) and that the API URL is this project's",
                }
            }
            401 | 403 => ClientError::Denied {
                target,
                action,
                detail,
                hint: "use the service_role key (not the anon key): it may read and write \
                       every bucket",
            },
            404 if name.is_none() || lower.contains("bucket") => ClientError::NoBucket {
                bucket: bucket.unwrap_or_default().to_string(),
                target,
            },
            404 => ClientError::NotFound { what, target },
            429 => ClientError::Busy {
                target,
                status,
                detail,
                retry_after: wait,
            },
            s if s >= 500 => ClientError::Busy {
                target,
                status: s,
                detail,
                retry_after: wait,
            },
            _ => ClientError::Other(format!(
                "{target} refused to {action} {what} (HTTP {http_status}, status {status}): {detail}"
            )),
        }
    }

    /// `GET /bucket`.
    pub(crate) async fn list_buckets(&self) -> Result<Vec<BucketInfo>, ClientError> {
        let r = self
            .send(self.request(Method::GET, "/bucket").await?)
            .await?;
        let r = self.check(r, None, None, "list the buckets").await?;
        let found: Vec<RestBucket> = json_of(r, &self.describe()).await.map_err(|e| {
            ClientError::Other(format!(
                "{} sent a bucket list it could not read: {e}",
                self.describe()
            ))
        })?;
        Ok(found
            .into_iter()
            .map(|b| BucketInfo {
                id: b.id.unwrap_or_else(|| b.name.clone()),
                public: b.public,
                file_size_limit: b.file_size_limit.as_ref().and_then(|v| match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                }),
                allowed_mime_types: b.allowed_mime_types,
                name: b.name,
            })
            .collect())
    }

    /// Every object of a bucket: list-v2 where the server has it, else
    /// list (v1) folder by folder.
    pub(crate) async fn list_objects(
        &self,
        bucket: &str,
        seen: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Vec<Listed>, ClientError> {
        if !self.v1_only.load(Ordering::Relaxed) {
            match self.list_v2(bucket, seen).await {
                Ok(found) => return Ok(found),
                Err(None) => self.v1_only.store(true, Ordering::Relaxed),
                Err(Some(e)) => return Err(e),
            }
        }
        self.list_v1(bucket, seen).await
    }

    /// `POST /object/list-v2/{bucket}`, flat, page by page; `Err(None)`
    /// when the server does not have it.
    async fn list_v2(
        &self,
        bucket: &str,
        seen: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Vec<Listed>, Option<ClientError>> {
        let path = format!("/object/list-v2/{}", encode_component(bucket));
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut body = json!({"prefix": "", "limit": PAGE, "with_delimiter": false});
            if let Some(c) = &cursor {
                body["cursor"] = Value::String(c.clone());
            }
            let page = retry(|| async {
                let r = self
                    .send(
                        self.request(Method::POST, &path)
                            .await?
                            .header(reqwest::header::CONTENT_TYPE, "application/json")
                            .body(body.to_string()),
                    )
                    .await?;
                if !r.status().is_success() {
                    let (status, wait) = (r.status().as_u16(), retry_after(r.headers()));
                    let text = self.scrub(&r.text().await.unwrap_or_default());
                    if missing_feature(status, &text) {
                        return Ok(None);
                    }
                    return Err(self.error(status, &text, Some(bucket), None, "list", wait));
                }
                json_of::<Value>(r, &self.describe())
                    .await
                    .map(Some)
                    .map_err(|e| {
                        ClientError::Other(format!(
                            "{} sent a listing it could not read: {e}",
                            self.describe()
                        ))
                    })
            })
            .await
            .map_err(Some)?;
            let Some(page) = page else {
                return Err(None);
            };
            for o in page["objects"].as_array().into_iter().flatten() {
                if let Some(l) = listed(o, "") {
                    out.push(l);
                }
            }
            seen(out.len());
            let next = page["nextCursor"].as_str().filter(|c| !c.is_empty());
            if page["hasNext"].as_bool() != Some(true) || next.is_none() {
                break;
            }
            cursor = next.map(str::to_string);
        }
        Ok(out)
    }

    /// `POST /object/list/{bucket}`: one folder level at a time (folders
    /// have `id: null`), `limit`/`offset` pages.
    async fn list_v1(
        &self,
        bucket: &str,
        seen: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<Vec<Listed>, ClientError> {
        let path = format!("/object/list/{}", encode_component(bucket));
        let mut out = Vec::new();
        let mut folders = VecDeque::from([String::new()]);
        while let Some(folder) = folders.pop_front() {
            let mut offset = 0usize;
            loop {
                let body = json!({
                    "prefix": folder,
                    "limit": PAGE,
                    "offset": offset,
                    "sortBy": {"column": "name", "order": "asc"},
                });
                let entries: Vec<Value> = retry(|| async {
                    let r = self
                        .send(
                            self.request(Method::POST, &path)
                                .await?
                                .header(reqwest::header::CONTENT_TYPE, "application/json")
                                .body(body.to_string()),
                        )
                        .await?;
                    let r = self.check(r, Some(bucket), None, "list").await?;
                    json_of(r, &self.describe()).await.map_err(|e| {
                        ClientError::Other(format!(
                            "{} sent a listing it could not read: {e}",
                            self.describe()
                        ))
                    })
                })
                .await?;
                let n = entries.len();
                let base = if folder.is_empty() {
                    String::new()
                } else {
                    format!("{folder}/")
                };
                for e in &entries {
                    if e["id"].is_null() {
                        if let Some(name) = e["name"].as_str().filter(|n| !n.is_empty()) {
                            folders.push_back(format!("{base}{name}"));
                        }
                    } else if let Some(l) = listed(e, &base) {
                        out.push(l);
                    }
                }
                seen(out.len());
                if n < PAGE {
                    break;
                }
                offset += n;
            }
        }
        Ok(out)
    }

    /// `GET /object/authenticated/{bucket}/{path}` into a file.
    pub(crate) async fn download(
        &self,
        bucket: &str,
        name: &str,
        dest: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<Downloaded, ClientError> {
        let path = object_path("/object/authenticated", bucket, name);
        let r = self.send(self.request(Method::GET, &path).await?).await?;
        let r = self.check(r, Some(bucket), Some(name), "read").await?;
        let meta = Meta {
            content_type: header(r.headers(), "content-type"),
            cache_control: header(r.headers(), "cache-control"),
            user_metadata: None,
        };
        let etag = header(r.headers(), "etag");
        let expected = r.content_length();
        let (size, sha256) = save_body(r, dest, expected, &self.describe(), progress).await?;
        Ok(Downloaded {
            size,
            sha256,
            meta,
            etag,
        })
    }

    /// The headers of the object's first byte (there is no user metadata
    /// in them: the listing carries that).
    pub(crate) async fn head(&self, bucket: &str, name: &str) -> Result<Option<Head>, ClientError> {
        let path = object_path("/object/authenticated", bucket, name);
        let r = self
            .send(
                self.request(Method::GET, &path)
                    .await?
                    .header("range", "bytes=0-0"),
            )
            .await?;
        match self.check(r, Some(bucket), Some(name), "read").await {
            Ok(r) => Ok(Some(Head {
                meta: Meta {
                    content_type: header(r.headers(), "content-type"),
                    cache_control: header(r.headers(), "cache-control"),
                    user_metadata: None,
                },
                etag: header(r.headers(), "etag"),
            })),
            Err(ClientError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// True when the object's first byte can be read.
    pub(crate) async fn probe(
        &self,
        bucket: &str,
        name: &str,
        _size: u64,
    ) -> Result<bool, ClientError> {
        Ok(self.head(bucket, name).await?.is_some())
    }

    /// `POST /object/{bucket}/{path}` with `x-upsert: true`.
    pub(crate) async fn upload(
        &self,
        bucket: &str,
        name: &str,
        file: &Path,
        meta: &Meta,
    ) -> Result<(), ClientError> {
        let (body, len) = file_body(file).await?;
        let mut req = self
            .request(Method::POST, &object_path("/object", bucket, name))
            .await?
            .header("x-upsert", "true")
            .header(reqwest::header::CONTENT_LENGTH, len)
            .header(
                reqwest::header::CONTENT_TYPE,
                meta.content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
            );
        if let Some(c) = &meta.cache_control {
            req = req.header(reqwest::header::CACHE_CONTROL, c);
        }
        if let Some(m) = &meta.user_metadata
            && !m.is_null()
        {
            req = req.header("x-metadata", base64_encode(m.to_string().as_bytes()));
        }
        let r = self.send(req.body(body)).await?;
        self.check(r, Some(bucket), Some(name), "write").await?;
        Ok(())
    }

    /// `POST /bucket` with the settings; `false` when it exists.
    pub(crate) async fn create_bucket(&self, b: &BucketInfo) -> Result<bool, ClientError> {
        let mut body = json!({"id": b.id, "name": b.name});
        if let Some(p) = b.public {
            body["public"] = Value::Bool(p);
        }
        if let Some(l) = b.file_size_limit {
            body["file_size_limit"] = json!(l);
        }
        if let Some(m) = &b.allowed_mime_types {
            body["allowed_mime_types"] = json!(m);
        }
        let r = self
            .send(
                self.request(Method::POST, "/bucket")
                    .await?
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string()),
            )
            .await?;
        if r.status().is_success() {
            return Ok(true);
        }
        let (status, wait) = (r.status().as_u16(), retry_after(r.headers()));
        let text = self.scrub(&r.text().await.unwrap_or_default());
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = match &v["statusCode"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        if code == "409" || status == 409 {
            return Ok(false);
        }
        Err(self.error(
            status,
            &text,
            Some(&b.name),
            None,
            "create the bucket",
            wait,
        ))
    }

    /// `DELETE /object/{bucket}` with `prefixes` (exact names).
    pub(crate) async fn delete(&self, bucket: &str, names: &[String]) -> Result<(), ClientError> {
        let path = format!("/object/{}", encode_component(bucket));
        let r = self
            .send(
                self.request(Method::DELETE, &path)
                    .await?
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(json!({ "prefixes": names }).to_string()),
            )
            .await?;
        self.check(r, Some(bucket), None, "delete").await?;
        Ok(())
    }
}

/// A response body read as JSON.
async fn json_of<T: serde::de::DeserializeOwned>(
    r: reqwest::Response,
    target: &str,
) -> Result<T, String> {
    let bytes = r
        .bytes()
        .await
        .map_err(|e| ClientError::from_http(e, target).to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// Whether `GET <place>/bucket` answered as Storage does: `Ok` for a bucket
/// list (a JSON array) or the keys refused in JSON (401/403, or Storage's
/// HTTP 400 with that `statusCode`); otherwise what it answered, in words.
fn storage_answer(status: u16, content_type: &str, body: &str) -> Result<(), String> {
    let start = body.trim_start().get(..64).unwrap_or(body.trim_start());
    let lower = start.to_ascii_lowercase();
    let ct = content_type.to_ascii_lowercase();
    if ct.contains("html") || lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        return Err(format!(
            "with a web page (HTML, HTTP {status}), not Storage's JSON"
        ));
    }
    if ct.contains("xml") || lower.starts_with("<?xml") || lower.starts_with("<error") {
        return Err(format!(
            "in XML (HTTP {status}), as an S3 endpoint does, not Storage's JSON"
        ));
    }
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        let said: String = body.chars().filter(|c| !c.is_control()).take(120).collect();
        return Err(format!("HTTP {status} ({said}), not Storage's JSON"));
    };
    let inner = match &v["statusCode"] {
        Value::String(s) => s.parse::<u16>().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    };
    let refused =
        matches!(status, 401 | 403) || (status == 400 && matches!(inner, Some(401 | 403)));
    if ((200..300).contains(&status) && v.is_array()) || refused {
        return Ok(());
    }
    let said = match (&v["message"], &v["error"]) {
        (Value::String(m), _) if !m.is_empty() => m.clone(),
        (_, Value::String(e)) if !e.is_empty() => e.clone(),
        _ => "JSON that is not a bucket list".to_string(),
    };
    Err(format!("HTTP {status} ({said})"))
}

/// `{route}/{bucket}/{encoded name}`.
fn object_path(route: &str, bucket: &str, name: &str) -> String {
    format!("{route}/{}/{}", encode_component(bucket), encode_path(name))
}

/// True for the answers of a server without list-v2: the documented 400
/// "This feature is not available for your tenant", or no such route.
fn missing_feature(status: u16, body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    lower.contains("not available for your tenant")
        || (status == 404 && lower.contains("route") && lower.contains("not found"))
}

/// A listing entry (v1 names are relative to `base`; v2's are full).
fn listed(o: &Value, base: &str) -> Option<Listed> {
    let name = format!("{base}{}", o["name"].as_str()?);
    let m = &o["metadata"];
    let size = match &m["size"] {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => m["contentLength"].as_u64().unwrap_or(0),
    };
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let user = &o["user_metadata"];
    Some(Listed {
        name,
        size,
        etag: text(&m["eTag"]),
        last_modified: text(&m["lastModified"]).or_else(|| text(&o["updated_at"])),
        meta: Some(Meta {
            content_type: text(&m["mimetype"]),
            cache_control: text(&m["cacheControl"]),
            user_metadata: (!user.is_null()).then(|| user.clone()),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> RestClient {
        RestClient::open(&RestAccess {
            api_url: "http://127.0.0.1:9/storage/v1/".into(),
            service_key: Zeroizing::new("service-key-secret".into()),
        })
        .unwrap()
    }

    #[test]
    fn errors_in_the_body_map_to_words() {
        let c = client();
        let e = c.error(
            400,
            r#"{"statusCode":"403","error":"Unauthorized","message":"invalid signature"}"#,
            None,
            None,
            "list",
            None,
        );
        assert!(matches!(e, ClientError::WrongKeys { .. }), "{e}");
        let e = c.error(
            400,
            r#"{"statusCode":"404","error":"not_found","message":"Object not found"}"#,
            Some("b"),
            Some("x.png"),
            "read",
            None,
        );
        assert!(matches!(e, ClientError::NotFound { .. }), "{e}");
        let e = c.error(
            400,
            r#"{"statusCode":"404","error":"Bucket not found","message":"Bucket not found"}"#,
            Some("b"),
            None,
            "list",
            None,
        );
        assert!(matches!(e, ClientError::NoBucket { .. }), "{e}");
        let e = c.error(
            429,
            r#"{"statusCode":"429","error":"SlowDown"}"#,
            None,
            None,
            "list",
            None,
        );
        assert!(e.transient(), "{e}");
        let e = c.error(
            400,
            r#"{"statusCode":"400","error":"InvalidKey","message":"Invalid key: café"}"#,
            Some("b"),
            Some("café"),
            "write",
            None,
        );
        assert!(matches!(e, ClientError::InvalidName { .. }), "{e}");
        assert!(missing_feature(
            400,
            r#"{"statusCode":"400","error":"x","message":"This feature is not available for your tenant"}"#
        ));
        assert!(!c.describe().contains("service-key-secret"));
    }

    #[test]
    fn only_storage_answers_count_as_storage() {
        assert!(storage_answer(200, "application/json", r#"[{"name":"a"}]"#).is_ok());
        assert!(storage_answer(200, "application/json", "[]").is_ok());
        // The keys refused: Storage's way (HTTP 400, the code inside) and Kong's.
        assert!(
            storage_answer(
                400,
                "application/json",
                r#"{"statusCode":"403","error":"Unauthorized","message":"invalid signature"}"#
            )
            .is_ok()
        );
        assert!(
            storage_answer(401, "application/json", r#"{"message":"Invalid API key"}"#).is_ok()
        );
        // Kong without a route there, the Storage server without one.
        let e = storage_answer(
            404,
            "application/json",
            r#"{"message":"no Route matched with those values"}"#,
        )
        .unwrap_err();
        assert!(e.contains("HTTP 404 (no Route matched"), "{e}");
        let e = storage_answer(
            400,
            "application/json",
            r#"{"statusCode":"404","error":"not_found","message":"Route GET /storage/v1/bucket not found"}"#,
        )
        .unwrap_err();
        assert!(e.contains("Route GET"), "{e}");
        let e = storage_answer(200, "text/html", "<!DOCTYPE html><html></html>").unwrap_err();
        assert!(e.contains("web page"), "{e}");
        let e = storage_answer(
            403,
            "application/xml",
            "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>",
        )
        .unwrap_err();
        assert!(e.contains("S3 endpoint"), "{e}");
        let e = storage_answer(200, "application/json", r#"{"ok":true}"#).unwrap_err();
        assert!(e.contains("not a bucket list"), "{e}");
    }

    #[test]
    fn listing_entries_carry_their_metadata() {
        let o = json!({"name": "a b.png", "id": "x", "metadata": {"eTag": "\"e\"", "size": 3,
            "mimetype": "image/png", "cacheControl": "max-age=60", "lastModified": "2024"},
            "user_metadata": {"k": "v"}});
        let l = listed(&o, "dir/").unwrap();
        assert_eq!(l.name, "dir/a b.png");
        assert_eq!(l.size, 3);
        assert_eq!(l.meta.unwrap().user_metadata.unwrap()["k"], "v");
    }
}
