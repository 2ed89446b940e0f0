//! A real S3-protocol server for tests (s3s-fs, started by
//! `.ci/s3-server.sh`: SigV4 signatures, keys and clock checked, objects as
//! plain files under a temp dir), and the tests of the remote layer
//! (`engine::remote`) against it.
//!
//! Other tests use the harness: `crate::s3::S3Server::start()`.

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use supabackup::engine::remote::{Remote, RemoteConfig, RemoteError};
use zeroize::Zeroizing;

/// An s3s-fs server on 127.0.0.1 with one bucket, killed on drop.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The access key id it accepts.
    pub access_key: String,
    /// The secret key it accepts.
    pub secret_key: String,
    /// The bucket it was started with (a folder of `dir`).
    pub bucket: String,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
}

impl S3Server {
    /// Starts a server on a free port with a fresh dir and bucket `backups`;
    /// panics (saying to run `.ci/s3-server.sh install`) if s3s-fs is missing.
    pub fn start() -> S3Server {
        let mut server = S3Server {
            endpoint: String::new(),
            access_key: "test-access-key-7c1d".into(),
            secret_key: "test-secret-key-Q9x2-never-shown".into(),
            bucket: "backups".into(),
            dir: tempfile::tempdir().unwrap(),
            port: 0,
            child: None,
            stderr: Arc::default(),
        };
        server.spawn();
        server
    }

    /// The folder the server keeps its buckets in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where an object of the bucket lies on disk (`key` with the prefix).
    pub fn object_file(&self, key: &str) -> PathBuf {
        self.dir.path().join(&self.bucket).join(key)
    }

    /// A destination for this server's bucket under `prefix`, path-style.
    pub fn config(&self, prefix: &str) -> RemoteConfig {
        RemoteConfig::S3 {
            endpoint: self.endpoint.clone(),
            region: "us-east-1".into(),
            bucket: self.bucket.clone(),
            prefix: prefix.into(),
            path_style: true,
            access_key_id: self.access_key.clone(),
            secret_access_key: Zeroizing::new(self.secret_key.clone()),
        }
    }

    /// [`Self::config`] opened.
    pub fn remote(&self, prefix: &str) -> Remote {
        Remote::open(self.config(prefix)).unwrap()
    }

    /// Kills the server at once (SIGKILL), as a crash or a cut link would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and dir (after [`Self::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/s3-server.sh");
        let bin = Command::new(&script).arg("bin").output().unwrap();
        let bin = PathBuf::from(String::from_utf8_lossy(&bin.stdout).trim());
        assert!(
            bin.is_file(),
            "s3s-fs is not installed (looked for {}): run `.ci/s3-server.sh install` first \
             (it builds s3s-fs with cargo, about 5-8 minutes)",
            bin.display()
        );
        let mut child = Command::new(&script)
            .arg("start")
            .args(["--port", &self.port.to_string()])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--access-key", &self.access_key])
            .args(["--secret-key", &self.secret_key])
            .args(["--bucket", &self.bucket])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        watchdog(child.id());
        let stderr = child.stderr.take().unwrap();
        let sink = self.stderr.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            sink.lock().unwrap().push_str(&text);
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            // Keeps draining: a full pipe would stall the server's logging.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = ready_port(&line) {
                    let _ = tx.send(port);
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "s3s-fs did not say it was running within 20 s ({status:?}); stderr: {}",
                    self.stderr.lock().unwrap()
                );
            }
        };
        self.port = port;
        self.endpoint = format!("http://127.0.0.1:{port}");
        self.child = Some(child);
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The port in s3s-fs's `server is running at http://127.0.0.1:PORT` line
/// (which may carry colour codes).
fn ready_port(line: &str) -> Option<u16> {
    let rest = &line[line.find("server is running at")?..];
    let url = &rest[rest.find("http://")? + "http://".len()..];
    let host_port: String = url
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == ':')
        .collect();
    host_port.rsplit(':').next()?.parse().ok()
}

/// Kills the server if this test process dies without dropping it.
fn watchdog(child: u32) {
    let script = format!(
        "while kill -0 {me} 2>/dev/null && kill -0 {child} 2>/dev/null; do sleep 1; done; kill -9 {child} 2>/dev/null",
        me = std::process::id()
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// Writes `size` bytes of varied (not compressible, not repeating) data;
/// returns their SHA-256.
fn big_file(path: &Path, size: usize) -> String {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n]).unwrap();
        hasher.update(&buf[..n]);
        left -= n;
    }
    f.flush().unwrap();
    hex::encode(hasher.finalize())
}

fn sha256_of(path: &Path) -> String {
    hash_of(std::fs::File::open(path).unwrap())
}

fn hash_of(mut r: impl Read) -> String {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            return hex::encode(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

fn no_progress(_: u64) {}

fn keys(list: Vec<supabackup::engine::remote::ObjectInfo>) -> Vec<String> {
    list.into_iter().map(|o| o.key).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50mb_file_goes_up_in_parts_and_comes_back_identical() {
    let server = S3Server::start();
    let local = tempfile::tempdir().unwrap();
    let from = local.path().join("data.sql.zst");
    let expected = big_file(&from, 50 << 20);
    let remote = server.remote("team/backups");
    let calls = Arc::new(AtomicU64::new(0));
    let last = Arc::new(AtomicU64::new(0));
    let (c, l) = (calls.clone(), last.clone());
    let key = "shop/20261201T030000Z-full-1a2b3c4d/data.sql.zst";
    let sent = remote
        .put_file(key, &from, &move |n| {
            c.fetch_add(1, Ordering::SeqCst);
            l.store(n, Ordering::SeqCst);
        })
        .await
        .unwrap();
    assert_eq!(sent, expected);
    assert_eq!(last.load(Ordering::SeqCst), 50 << 20);
    assert!(calls.load(Ordering::SeqCst) > 10, "progress as it goes");
    // The server really holds it, under the prefix.
    let stored = server.object_file(&format!("team/backups/{key}"));
    assert_eq!(sha256_of(&stored), expected);

    let back = local.path().join("back");
    let got = remote.get_to_file(key, &back, &no_progress).await.unwrap();
    assert_eq!(got, (50 << 20, expected.clone()));
    assert_eq!(sha256_of(&back), expected);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&back).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The blocking reader gives the same bytes.
    let reader = remote.reader(key).await.unwrap();
    let read_hash = tokio::task::spawn_blocking(move || hash_of(reader))
        .await
        .unwrap();
    assert_eq!(read_hash, expected);

    // A small file goes in one put.
    let small = local.path().join("manifest.json");
    std::fs::write(&small, b"{}").unwrap();
    remote
        .put_file("shop/s/manifest.json", &small, &no_progress)
        .await
        .unwrap();
    assert_eq!(
        remote.get_bytes("shop/s/manifest.json").await.unwrap(),
        b"{}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_exists_delete_and_delete_prefix() {
    let server = S3Server::start();
    let remote = server.remote("pre");
    for key in ["shop/s1/a", "shop/s1/b", "shop/s2/a", "blog/s1/x", "top"] {
        remote
            .put_bytes(key, key.as_bytes().to_vec())
            .await
            .unwrap();
    }
    // Outside the prefix: never seen through it.
    server
        .remote("")
        .put_bytes("other/z", vec![1])
        .await
        .unwrap();

    assert_eq!(
        keys(remote.list("").await.unwrap()),
        ["blog/s1/x", "shop/s1/a", "shop/s1/b", "shop/s2/a", "top"]
    );
    let shop = remote.list("shop").await.unwrap();
    assert_eq!((shop[0].key.as_str(), shop[0].size), ("shop/s1/a", 9));
    assert_eq!(
        keys(remote.list("shop/s1").await.unwrap()),
        ["shop/s1/a", "shop/s1/b"]
    );
    assert!(remote.list("nothing").await.unwrap().is_empty());
    assert_eq!(remote.list_dirs("").await.unwrap(), ["blog", "shop"]);
    assert_eq!(remote.list_dirs("shop").await.unwrap(), ["s1", "s2"]);
    assert_eq!(
        server.remote("").list_dirs("").await.unwrap(),
        ["other", "pre"]
    );

    assert!(remote.exists("shop/s1/a").await.unwrap());
    assert!(!remote.exists("shop/s1/zz").await.unwrap());
    remote.delete("blog/s1/x").await.unwrap();
    remote.delete("blog/s1/x").await.unwrap();
    assert!(!remote.exists("blog/s1/x").await.unwrap());
    let e = remote.get_bytes("blog/s1/x").await.unwrap_err();
    assert!(matches!(e, RemoteError::NotFound { .. }), "{e}");

    assert_eq!(remote.delete_prefix("shop/s1").await.unwrap(), 2);
    assert_eq!(keys(remote.list("").await.unwrap()), ["shop/s2/a", "top"]);
    assert_eq!(remote.delete_prefix("shop").await.unwrap(), 1);
    assert_eq!(keys(remote.list("").await.unwrap()), ["top"]);
    assert!(remote.delete_prefix("").await.is_err(), "never everything");
    assert_eq!(
        keys(server.remote("").list("other").await.unwrap()),
        ["other/z"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_passes_on_a_good_destination_and_leaves_nothing() {
    let server = S3Server::start();
    let remote = server.remote("team");
    let said = remote.test().await.unwrap();
    assert!(
        said.contains("wrote, read back (identical) and deleted"),
        "{said}"
    );
    assert!(
        said.contains(&format!("s3://backups/team at {}", server.endpoint)),
        "{said}"
    );
    assert!(!said.contains(&server.secret_key));
    assert!(
        remote.list("").await.unwrap().is_empty(),
        "the test object is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_named_and_never_shown() {
    let server = S3Server::start();
    let wrong_secret = "wrong-secret-5f5f5f-do-not-print";
    let mut config = server.config("");
    if let RemoteConfig::S3 {
        secret_access_key, ..
    } = &mut config
    {
        *secret_access_key = Zeroizing::new(wrong_secret.into());
    }
    let remote = Remote::open(config).unwrap();
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let errors = [
        remote.test().await.unwrap_err(),
        remote.put_bytes("k", vec![1]).await.unwrap_err(),
        remote.put_file("k", &file, &no_progress).await.unwrap_err(),
        remote.list("").await.unwrap_err(),
        remote.get_bytes("k").await.unwrap_err(),
    ];
    for e in errors {
        assert!(matches!(e, RemoteError::WrongKeys { .. }), "{e:?}");
        let shown = format!("{e} | {e:?}");
        assert!(
            shown.contains("check the access key id and the secret access key"),
            "{shown}"
        );
        assert!(!shown.contains(wrong_secret), "{shown}");
        assert!(!shown.contains(&server.secret_key), "{shown}");
    }
    assert!(!format!("{remote:?}").contains(wrong_secret));

    let mut config = server.config("");
    if let RemoteConfig::S3 { access_key_id, .. } = &mut config {
        *access_key_id = "AKIAUNKNOWNKEY000000".into();
    }
    let e = Remote::open(config).unwrap().test().await.unwrap_err();
    assert!(matches!(e, RemoteError::WrongKeys { .. }), "{e:?}");
    assert!(!format!("{e} {e:?}").contains(&server.secret_key), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_named() {
    let server = S3Server::start();
    let mut config = server.config("p");
    if let RemoteConfig::S3 { bucket, .. } = &mut config {
        *bucket = "no-such-bucket".into();
    }
    let remote = Remote::open(config).unwrap();
    let e = remote.test().await.unwrap_err();
    assert!(matches!(e, RemoteError::NoBucket { .. }), "{e:?}");
    let shown = e.to_string();
    assert!(shown.contains("no bucket \"no-such-bucket\""), "{shown}");
    assert!(shown.contains(&server.endpoint), "{shown}");
    let e = remote.list("").await.unwrap_err();
    assert!(matches!(e, RemoteError::NoBucket { .. }), "{e:?}");
    assert!(
        !server.dir().join("no-such-bucket").exists(),
        "the test must not create the bucket by writing to it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_fails_in_seconds() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let remote = Remote::open(RemoteConfig::S3 {
        endpoint: format!("http://127.0.0.1:{port}"),
        region: "us-east-1".into(),
        bucket: "backups".into(),
        prefix: String::new(),
        path_style: true,
        access_key_id: "id".into(),
        secret_access_key: Zeroizing::new("secret-abc".into()),
    })
    .unwrap();
    let started = Instant::now();
    let e = remote.test().await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(e, RemoteError::Unreachable { .. }), "{e:?}");
    let shown = e.to_string();
    assert!(
        shown.contains(&format!("cannot reach http://127.0.0.1:{port}")),
        "{shown}"
    );
    assert!(shown.contains("check the endpoint URL"), "{shown}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let e = remote.put_bytes("k", vec![1]).await.unwrap_err();
    assert!(matches!(e, RemoteError::Unreachable { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_upload_leaves_no_object() {
    let mut server = S3Server::start();
    let local = tempfile::tempdir().unwrap();
    let from = local.path().join("big");
    big_file(&from, 400 << 20);
    let remote = server.remote("p");
    let done = Arc::new(AtomicU64::new(0));
    let d = done.clone();
    let key = "shop/s/data.sql.zst";
    let upload = tokio::spawn({
        let remote = remote.clone();
        let from = from.clone();
        async move {
            remote
                .put_file(key, &from, &move |n| d.store(n, Ordering::SeqCst))
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < 48 << 20 {
        assert!(Instant::now() < deadline, "the upload never got going");
        assert!(!upload.is_finished(), "the upload ended before the kill");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    let killed_at = done.load(Ordering::SeqCst);
    let result = tokio::time::timeout(Duration::from_secs(60), upload)
        .await
        .expect("the upload must fail, not hang")
        .unwrap();
    let e = result.expect_err("an upload to a killed server cannot succeed");
    eprintln!("killed at {killed_at} bytes: {e}");
    assert!(killed_at < 400 << 20, "killed too late to test anything");
    assert!(
        matches!(e, RemoteError::Unreachable { .. } | RemoteError::Other(_)),
        "{e:?}"
    );
    server.restart();
    let remote = server.remote("p");
    assert!(!remote.exists(key).await.unwrap(), "no half object visible");
    assert!(remote.list("").await.unwrap().is_empty());
    assert!(!server.object_file(&format!("p/{key}")).exists());
}

/// The multipart uploads s3s-fs holds open (`.upload-<id>.json` in its dir).
fn open_uploads(server: &S3Server) -> usize {
    std::fs::read_dir(server.dir())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with(".upload") && name.ends_with(".json")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_is_aborted_on_the_server() {
    let server = S3Server::start();
    let local = tempfile::tempdir().unwrap();
    let from = local.path().join("big");
    big_file(&from, 300 << 20);
    let remote = server.remote("p");
    let done = Arc::new(AtomicU64::new(0));
    let d = done.clone();
    let upload = tokio::spawn({
        let remote = remote.clone();
        async move {
            remote
                .put_file("k", &from, &move |n| d.store(n, Ordering::SeqCst))
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < 32 << 20 {
        assert!(Instant::now() < deadline, "the upload never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(open_uploads(&server), 1, "a multipart upload is under way");
    upload.abort();
    assert!(upload.await.unwrap_err().is_cancelled());
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_uploads(&server) > 0 {
        assert!(
            Instant::now() < deadline,
            "the cancelled upload was never aborted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!remote.exists("k").await.unwrap());
    let parts = std::fs::read_dir(server.dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".upload_id-")
        })
        .count();
    assert_eq!(parts, 0, "its parts are gone from the server");
}

/// Peak memory of this process while a 500 MB file goes up and comes back.
/// Run alone: `cargo test --test it -- s3::peak_memory --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes 1.5 GB of temp files; run alone to read the process's peak memory"]
async fn peak_memory_moving_a_500mb_file() {
    let server = S3Server::start();
    let local = tempfile::tempdir().unwrap();
    let from = local.path().join("big");
    let expected = big_file(&from, 500 << 20);
    let remote = server.remote("p");
    let started = Instant::now();
    let sent = remote.put_file("big", &from, &no_progress).await.unwrap();
    let up = started.elapsed();
    assert_eq!(sent, expected);
    let started = Instant::now();
    let back = local.path().join("back");
    let (_, got) = remote
        .get_to_file("big", &back, &no_progress)
        .await
        .unwrap();
    let down = started.elapsed();
    assert_eq!(got, expected);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    eprintln!(
        "500 MiB: up {:.1} s, down {:.1} s, peak RSS {} MiB",
        up.as_secs_f64(),
        down.as_secs_f64(),
        peak_kb / 1024
    );
    assert!(peak_kb < 100 * 1024, "peak RSS {peak_kb} kB");
}
