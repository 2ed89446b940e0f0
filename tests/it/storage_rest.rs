//! A small local HTTP server for the tests of the REST path. It implements
//! ONLY the documented endpoints of Supabase Storage's REST API, as the
//! Storage server serves them at `/`, or ([`Mount::Gateway`]) as Supabase's
//! gateway does (Kong, at the API URL `supabase status` prints): under
//! `/storage/v1`, anything else answered with Kong's "no Route matched"; or
//! ([`Mount::Html`]) a web site answering every path with an HTML page.
//!
//! - `GET /bucket`, `POST /bucket` (`name`, `id`, `public`,
//!   `file_size_limit`, `allowed_mime_types`; an existing one: Duplicate/409)
//! - `POST /object/list/{bucket}` (`prefix`, `limit`, `offset`, `sortBy`:
//!   one folder level, folders with `id: null`, names relative to the prefix)
//! - `POST /object/list-v2/{bucket}` (`prefix`, `limit` <= 1000, `cursor`,
//!   `with_delimiter`: false lists the whole tree with full names; a tenant
//!   without it answers "This feature is not available for your tenant")
//! - `GET /object/authenticated/{bucket}/{path}` (`Content-Type` with
//!   `text/html` served as `text/plain`, `ETag`, `Last-Modified`,
//!   `Cache-Control`, `Content-Length`; `Range: bytes=a-b`)
//! - `POST /object/{bucket}/{path}` (raw body; `content-type`,
//!   `cache-control` kept verbatim, `x-upsert`, `x-metadata` base64 JSON;
//!   an existing object without upsert: Duplicate/409), `PUT` (upsert)
//! - `DELETE /object/{bucket}` (`prefixes`: exact names)
//!
//! Every request needs `Authorization: Bearer <key>` and `apikey: <key>`.
//! Errors below 500 come as HTTP 400 with the real code in the body's
//! `statusCode` (a string), as the notes on the real server say; 429 and
//! 5xx keep their status. Object names follow the hosted (legacy) rule:
//! ASCII word characters and `/!-.*'() &$@=;:+,?` only, else `InvalidKey`.
//! No mock of the engine: the real client talks HTTP to it.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// An object the server holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Obj {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its content type (metadata.mimetype).
    pub content_type: String,
    /// Its cache control, verbatim.
    pub cache_control: String,
    /// Its user metadata.
    pub user_metadata: Value,
    /// Its ETag.
    pub etag: String,
    /// When it was last written (RFC 3339).
    pub updated_at: String,
}

/// A bucket and its settings.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    /// Files readable without a key.
    pub public: bool,
    /// Largest file accepted.
    pub file_size_limit: Option<u64>,
    /// MIME types accepted.
    pub allowed_mime_types: Option<Vec<String>>,
    /// Its objects by full name.
    pub objects: BTreeMap<String, Obj>,
}

/// Where the API is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mount {
    /// At `/`, as the Storage server itself.
    #[default]
    Root,
    /// Under `/storage/v1` only, as behind Kong; other paths answer 404
    /// `{"message":"no Route matched with those values"}`.
    Gateway,
    /// No API: every path answers a web page (a site's URL given by mistake).
    Html,
}

#[derive(Default)]
struct State {
    buckets: BTreeMap<String, Bucket>,
    mount: Mount,
    /// list-v2 answers (newer tenants) or not.
    v2: bool,
    /// Statuses to answer the next object downloads with (then normal).
    fail_downloads: VecDeque<u16>,
    /// Object downloads served (whole or ranged).
    downloads: u64,
    /// Bytes of object bodies served.
    bytes_out: u64,
    /// Every request line served, for "nothing secret in the URL" checks.
    requests: Vec<String>,
    seq: u64,
}

/// The server; stopped on drop.
pub struct RestServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The service key it accepts.
    pub key: String,
    state: Arc<Mutex<State>>,
    port: u16,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RestServer {
    /// Starts on a free port, list-v2 on.
    pub fn start(key: &str) -> RestServer {
        let mut s = RestServer {
            url: String::new(),
            key: key.to_string(),
            state: Arc::new(Mutex::new(State {
                v2: true,
                ..Default::default()
            })),
            port: 0,
            stop: None,
            thread: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (state, key, port) = (self.state.clone(), self.key.clone(), self.port);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
                ready_tx
                    .send(listener.local_addr().unwrap().port())
                    .unwrap();
                let mut stop = rx.clone();
                let mut conns = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((sock, _)) = accepted else { continue };
                            let (state, key) = (state.clone(), key.clone());
                            conns.spawn(serve(sock, state, key));
                        }
                        _ = stop.changed() => break,
                    }
                }
                // Dropping the set aborts every connection mid-way.
                conns.abort_all();
            });
        });
        self.port = ready_rx.recv().unwrap();
        self.url = format!("http://127.0.0.1:{}", self.port);
        self.stop = Some(tx);
        self.thread = Some(thread);
    }

    /// Stops at once: connections cut, nothing answers.
    pub fn kill(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Creates a bucket (test side).
    pub fn create_bucket(
        &self,
        name: &str,
        public: bool,
        limit: Option<u64>,
        mimes: Option<&[&str]>,
    ) {
        self.state.lock().unwrap().buckets.insert(
            name.to_string(),
            Bucket {
                public,
                file_size_limit: limit,
                allowed_mime_types: mimes.map(|m| m.iter().map(|s| s.to_string()).collect()),
                objects: BTreeMap::new(),
            },
        );
    }

    /// Puts an object (test side), as an upload would.
    pub fn put(
        &self,
        bucket: &str,
        name: &str,
        bytes: &[u8],
        content_type: &str,
        cache: &str,
        meta: Value,
    ) {
        let mut st = self.state.lock().unwrap();
        st.seq += 1;
        let seq = st.seq;
        let b = st.buckets.get_mut(bucket).expect("bucket");
        b.objects
            .insert(name.to_string(), obj(bytes, content_type, cache, meta, seq));
    }

    /// A bucket as it is now.
    pub fn bucket(&self, name: &str) -> Option<Bucket> {
        self.state.lock().unwrap().buckets.get(name).cloned()
    }

    /// Every bucket's name.
    pub fn bucket_names(&self) -> Vec<String> {
        self.state.lock().unwrap().buckets.keys().cloned().collect()
    }

    /// Object downloads served so far.
    pub fn downloads(&self) -> u64 {
        self.state.lock().unwrap().downloads
    }

    /// Answers the next object downloads with these statuses first.
    pub fn fail_next_downloads(&self, statuses: &[u16]) {
        self.state.lock().unwrap().fail_downloads.extend(statuses);
    }

    /// Turns list-v2 on (newer tenants) or off.
    pub fn set_v2(&self, on: bool) {
        self.state.lock().unwrap().v2 = on;
    }

    /// Serves the API there (see [`Mount`]).
    pub fn set_mount(&self, mount: Mount) {
        self.state.lock().unwrap().mount = mount;
    }

    /// Every request line served.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for RestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn obj(bytes: &[u8], content_type: &str, cache: &str, meta: Value, seq: u64) -> Obj {
    let sha = hex::encode(Sha256::digest(bytes));
    Obj {
        bytes: bytes.to_vec(),
        content_type: content_type.to_string(),
        cache_control: cache.to_string(),
        user_metadata: meta,
        etag: format!("\"{}\"", &sha[..32]),
        // A clock that always moves: a rewrite within a second differs too.
        updated_at: format!(
            "{}.{seq:06}Z",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S")
        ),
    }
}

/// A parsed request.
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn json_resp(status: u16, v: Value) -> Resp {
    Resp {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: v.to_string().into_bytes(),
    }
}

/// An error as the server sends it: HTTP 400 (429/5xx as they are), the
/// real code in the body.
fn error(code: u16, error: &str, message: &str) -> Resp {
    let http = if code == 429 || code >= 500 {
        code
    } else {
        400
    };
    json_resp(
        http,
        json!({"statusCode": code.to_string(), "error": error, "message": message}),
    )
}

async fn serve(sock: TcpStream, state: Arc<Mutex<State>>, key: String) {
    let (read, mut write) = sock.into_split();
    let mut read = BufReader::new(read);
    loop {
        let Some(req) = read_request(&mut read).await else {
            return;
        };
        let resp = handle(&req, &state, &key);
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            resp.status,
            resp.body.len()
        );
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if write.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        // Bodies go out in pieces, so a kill can land in the middle.
        for chunk in resp.body.chunks(64 * 1024) {
            if write.write_all(chunk).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
        if req
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            return;
        }
    }
}

async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Req {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = req
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await.ok()?;
        req.body = body;
    } else if req
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await.ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).await.ok()?;
            if n == 0 {
                break;
            }
            req.body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(req)
}

/// `%XX` decoded (a path segment).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let hex = |c: u8| (c as char).to_digit(16);
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The hosted (legacy) key rule.
fn valid_key(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_/!-.*'() &$@=;:+,?".contains(c))
}

fn metadata(o: &Obj) -> Value {
    json!({
        "eTag": o.etag,
        "size": o.bytes.len(),
        "mimetype": o.content_type,
        "cacheControl": o.cache_control,
        "lastModified": o.updated_at,
        "contentLength": o.bytes.len(),
        "httpStatusCode": 200,
    })
}

fn listed(name: &str, o: &Obj) -> Value {
    json!({
        "id": hex::encode(Sha256::digest(name.as_bytes()))[..36].to_string(),
        "name": name,
        "metadata": metadata(o),
        "user_metadata": o.user_metadata,
        "created_at": o.updated_at,
        "updated_at": o.updated_at,
        "last_accessed_at": o.updated_at,
    })
}

fn handle(req: &Req, state: &Mutex<State>, key: &str) -> Resp {
    let mut st = state.lock().unwrap();
    st.requests.push(format!("{} {}", req.method, req.path));
    let full = req.path.split('?').next().unwrap_or("");
    let path = match (st.mount, full.strip_prefix("/storage/v1")) {
        (Mount::Html, _) => {
            return Resp {
                status: 200,
                headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
                body: b"<!DOCTYPE html><html><head><title>Acme</title></head><body>Welcome</body></html>"
                    .to_vec(),
            };
        }
        (Mount::Root, _) => full.to_string(),
        (Mount::Gateway, Some(rest)) if rest.starts_with('/') => rest.to_string(),
        (Mount::Gateway, _) => {
            return json_resp(
                404,
                json!({"message": "no Route matched with those values"}),
            );
        }
    };
    let bearer = req.header("authorization") == Some(&format!("Bearer {key}"));
    if !bearer || req.header("apikey") != Some(key) {
        return error(403, "Unauthorized", "invalid signature");
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let segs: Vec<&str> = path.trim_start_matches('/').splitn(3, '/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["bucket"]) => {
            let list: Vec<Value> = st
                .buckets
                .iter()
                .map(|(name, b)| {
                    json!({"id": name, "name": name, "owner": "", "public": b.public,
                       "file_size_limit": b.file_size_limit,
                       "allowed_mime_types": b.allowed_mime_types,
                       "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                       "type": "STANDARD"})
                })
                .collect();
            json_resp(200, Value::Array(list))
        }
        ("POST", ["bucket"]) => {
            let Some(name) = body["id"].as_str().or(body["name"].as_str()) else {
                return error(400, "InvalidRequest", "body must have a name");
            };
            if st.buckets.contains_key(name) {
                return error(409, "Duplicate", "The resource already exists");
            }
            st.buckets.insert(
                name.to_string(),
                Bucket {
                    public: body["public"].as_bool().unwrap_or(false),
                    file_size_limit: body["file_size_limit"].as_u64(),
                    allowed_mime_types: body["allowed_mime_types"].as_array().map(|a| {
                        a.iter()
                            .filter_map(|m| m.as_str().map(str::to_string))
                            .collect()
                    }),
                    objects: BTreeMap::new(),
                },
            );
            json_resp(200, json!({"name": name}))
        }
        ("POST", ["object", "list", bucket]) => {
            let Some(b) = st.buckets.get(&decode(bucket)) else {
                return error(404, "Bucket not found", "Bucket not found");
            };
            let Some(prefix) = body["prefix"].as_str() else {
                return error(400, "InvalidRequest", "prefix is required");
            };
            let limit = body["limit"].as_u64().unwrap_or(100) as usize;
            let offset = body["offset"].as_u64().unwrap_or(0) as usize;
            let base = if prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", prefix.trim_end_matches('/'))
            };
            let mut entries: BTreeMap<String, Value> = BTreeMap::new();
            for (name, o) in &b.objects {
                let Some(rest) = name.strip_prefix(&base) else {
                    continue;
                };
                match rest.split_once('/') {
                    Some((folder, _)) => {
                        entries.entry(folder.to_string()).or_insert_with(|| {
                            json!({"name": folder, "id": null, "updated_at": null,
                                   "created_at": null, "last_accessed_at": null, "metadata": null})
                        });
                    }
                    None => {
                        entries.insert(rest.to_string(), listed(rest, o));
                    }
                }
            }
            let page: Vec<Value> = entries
                .into_values()
                .skip(offset)
                .take(limit.min(1500))
                .collect();
            json_resp(200, Value::Array(page))
        }
        ("POST", ["object", "list-v2", bucket]) => {
            if !st.v2 {
                return error(
                    400,
                    "InvalidRequest",
                    "This feature is not available for your tenant",
                );
            }
            let Some(b) = st.buckets.get(&decode(bucket)) else {
                return error(404, "Bucket not found", "Bucket not found");
            };
            let prefix = body["prefix"].as_str().unwrap_or("");
            let limit = body["limit"].as_u64().unwrap_or(1000).min(1000) as usize;
            let after = body["cursor"]
                .as_str()
                .and_then(|c| hex::decode(c).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            let names: Vec<(&String, &Obj)> = b
                .objects
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .filter(|(n, _)| after.as_ref().is_none_or(|a| n.as_str() > a.as_str()))
                .collect();
            let page: Vec<Value> = names
                .iter()
                .take(limit)
                .map(|(n, o)| listed(n, o))
                .collect();
            let has_next = names.len() > limit;
            let mut out = json!({"hasNext": has_next, "folders": [], "objects": page});
            if has_next {
                out["nextCursor"] = json!(hex::encode(names[limit - 1].0.as_bytes()));
            }
            json_resp(200, out)
        }
        ("GET", ["object", "authenticated", rest]) => {
            let Some((bucket, name)) = rest.split_once('/') else {
                return error(400, "InvalidRequest", "no object name");
            };
            let (bucket, name) = (decode(bucket), decode(name));
            if let Some(status) = st.fail_downloads.pop_front() {
                let mut r = error(status, "SlowDown", "slow down");
                r.headers.push(("retry-after".into(), "0".into()));
                return r;
            }
            let Some(o) = st
                .buckets
                .get(&bucket)
                .and_then(|b| b.objects.get(&name))
                .cloned()
            else {
                return error(404, "not_found", "Object not found");
            };
            st.downloads += 1;
            let content_type = if o.content_type.starts_with("text/html") {
                "text/plain".to_string()
            } else {
                o.content_type.clone()
            };
            let mut headers = vec![
                ("content-type".to_string(), content_type),
                ("etag".to_string(), o.etag.clone()),
                ("cache-control".to_string(), o.cache_control.clone()),
                (
                    "last-modified".to_string(),
                    "Thu, 01 Jan 2026 00:00:00 GMT".to_string(),
                ),
            ];
            let (status, body) = match req.header("range").and_then(|r| r.strip_prefix("bytes=")) {
                Some(range) if !o.bytes.is_empty() => {
                    let (a, b) = range.split_once('-').unwrap_or(("0", ""));
                    let a: usize = a.parse().unwrap_or(0);
                    let b: usize = b
                        .parse()
                        .unwrap_or(o.bytes.len() - 1)
                        .min(o.bytes.len() - 1);
                    headers.push((
                        "content-range".into(),
                        format!("bytes {a}-{b}/{}", o.bytes.len()),
                    ));
                    (206, o.bytes[a..=b].to_vec())
                }
                _ => (200, o.bytes.clone()),
            };
            st.bytes_out += body.len() as u64;
            Resp {
                status,
                headers,
                body,
            }
        }
        ("POST" | "PUT", ["object", bucket, name]) => {
            let (bucket, name) = (decode(bucket), decode(name));
            if !valid_key(&name) {
                return error(400, "InvalidKey", &format!("Invalid key: {name}"));
            }
            let upsert = req.method == "PUT" || req.header("x-upsert").is_some_and(|u| u == "true");
            let content_type = req
                .header("content-type")
                .unwrap_or("text/plain;charset=UTF-8")
                .to_string();
            let cache = req
                .header("cache-control")
                .unwrap_or("no-cache")
                .to_string();
            let meta = match req.header("x-metadata") {
                Some(m) => {
                    let raw = decode_b64(m);
                    match serde_json::from_slice::<Value>(&raw) {
                        Ok(v) => v,
                        Err(_) => {
                            return error(400, "InvalidRequest", "x-metadata is not base64 JSON");
                        }
                    }
                }
                None => Value::Null,
            };
            st.seq += 1;
            let seq = st.seq;
            let Some(b) = st.buckets.get_mut(&bucket) else {
                return error(404, "Bucket not found", "Bucket not found");
            };
            if b.objects.contains_key(&name) && !upsert {
                return error(409, "Duplicate", "The resource already exists");
            }
            if let Some(limit) = b.file_size_limit
                && req.body.len() as u64 > limit
            {
                return error(
                    413,
                    "Payload too large",
                    "The object exceeded the maximum allowed size",
                );
            }
            if let Some(mimes) = &b.allowed_mime_types {
                let base = content_type.split(';').next().unwrap_or("").trim();
                let ok = mimes.iter().any(|m| {
                    m == base
                        || m.strip_suffix("/*")
                            .is_some_and(|p| base.starts_with(&format!("{p}/")))
                });
                if !ok {
                    return error(
                        415,
                        "invalid_mime_type",
                        &format!("mime type {base} is not supported"),
                    );
                }
            }
            b.objects.insert(
                name.clone(),
                obj(&req.body, &content_type, &cache, meta, seq),
            );
            json_resp(
                200,
                json!({"Id": format!("{seq}"), "Key": format!("{bucket}/{name}")}),
            )
        }
        ("DELETE", ["object", bucket]) => {
            let Some(b) = st.buckets.get_mut(&decode(bucket)) else {
                return error(404, "Bucket not found", "Bucket not found");
            };
            let mut gone = Vec::new();
            for p in body["prefixes"].as_array().into_iter().flatten() {
                if let Some(n) = p.as_str()
                    && b.objects.remove(n).is_some()
                {
                    gone.push(json!({"name": n}));
                }
            }
            json_resp(200, Value::Array(gone))
        }
        _ => error(
            404,
            "not_found",
            &format!("Route {} {} not found", req.method, path),
        ),
    }
}

fn decode_b64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => break,
        };
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits & 0xFF) as u8);
        }
    }
    out
}
