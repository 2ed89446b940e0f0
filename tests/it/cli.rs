//! Running the real `supabackup` binary on a fresh data dir.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The master password the tests use.
pub const MASTER: &str = "correct horse battery staple";

/// A fresh data dir and a way to run the binary on it.
pub struct Sb {
    /// Holds the data dir until the test ends.
    pub tmp: tempfile::TempDir,
    /// PostgreSQL bin folders put first on the binary's PATH (the suite's
    /// own always), so it finds their pg_dump and psql.
    pub bins: Vec<PathBuf>,
}

/// What a run printed and returned.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with both streams unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(self) -> Self {
        self.expect_code(0)
    }

    /// Standard output parsed as JSON; panics with both streams if it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).to_string(),
            stderr: String::from_utf8_lossy(&o.stderr).to_string(),
        }
    }
}

impl Sb {
    /// A fresh data dir.
    pub fn new() -> Self {
        Self::with_bins(&[])
    }

    /// A fresh data dir, with these PostgreSQL bin folders on PATH too.
    pub fn with_bins(bins: &[PathBuf]) -> Self {
        let mut all = vec![crate::pg::pg_bin().to_path_buf()];
        all.extend(bins.iter().cloned());
        Sb {
            tmp: tempfile::tempdir().unwrap(),
            bins: all,
        }
    }

    /// The data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// A command with the data dir and master password set.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_supabackup"));
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            self.bins
                .iter()
                .cloned()
                .chain(std::env::split_paths(&path)),
        )
        .unwrap();
        c.env("PATH", path)
            .env("SUPABACKUP_DATA_DIR", self.data_dir())
            .env("SUPABACKUP_PASSWORD", MASTER)
            .env_remove("SUPABACKUP_DB_URL")
            .env_remove("PGPASSWORD");
        c
    }

    /// Runs with arguments.
    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd()
            .args(args)
            .output()
            .expect("run supabackup")
            .into()
    }

    /// Runs with extra environment.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.cmd();
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(args).output().expect("run supabackup").into()
    }

    /// Runs with arguments; kills it and fails the test, with what it
    /// printed so far, when it is still running after `limit`.
    #[track_caller]
    pub fn run_within(&self, args: &[&str], limit: Duration) -> Run {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run supabackup");
        let out = read_all(child.stdout.take().unwrap());
        let err = read_all(child.stderr.take().unwrap());
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for supabackup") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
        let Some(status) = status else {
            panic!(
                "supabackup {} still ran after {limit:?}: killed\nstdout:\n{stdout}\nstderr:\n{stderr}",
                args.join(" ")
            );
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }

    /// `project add --name NAME --db-url URL`, which must succeed.
    pub fn add_project(&self, name: &str, url: &str) {
        self.run(&["project", "add", "--name", name, "--db-url", url])
            .ok();
    }

    /// Runs `backup PROJECT --json EXTRA...`, which must complete; the record.
    #[track_caller]
    pub fn backup(&self, project: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["backup", project, "--json"];
        args.extend_from_slice(extra);
        let r = self.run(&args);
        let v = r.json();
        assert_eq!(v["status"], "completed", "{}\n{}", r.stdout, r.stderr);
        assert_eq!(r.code, 0);
        v
    }

    /// `backups --json`: every backup record, newest first.
    #[track_caller]
    pub fn backups(&self) -> Vec<serde_json::Value> {
        self.run(&["backups", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Every byte under the data dir, compressed backup parts decompressed,
    /// for "the secret is not there" checks.
    pub fn all_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        collect(&self.data_dir(), &mut out);
        out
    }
}

/// Reads `r` to its end on a thread of its own (a child's pipe, so the
/// child never blocks on a full one).
fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).to_string()
    })
}

/// Appends every file under `dir`; `.zst` and `.xz` files decompressed (a
/// secret inside a backup part is invisible in its compressed bytes).
fn collect(dir: &Path, out: &mut Vec<u8>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
            continue;
        }
        let Ok(bytes) = std::fs::read(&p) else {
            continue;
        };
        let name = p.to_string_lossy();
        if name.ends_with(".zst") {
            let plain = zstd::decode_all(bytes.as_slice())
                .unwrap_or_else(|e| panic!("decompress {name}: {e}"));
            out.extend(plain);
        } else if name.ends_with(".xz") {
            let mut plain = Vec::new();
            liblzma::read::XzDecoder::new_multi_decoder(bytes.as_slice())
                .read_to_end(&mut plain)
                .unwrap_or_else(|e| panic!("decompress {name}: {e}"));
            out.extend(plain);
        } else {
            out.extend(bytes);
        }
    }
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The forms a secret takes in text the program writes: as typed, quoted
/// for a libpq `key=value` string (`'...'`, `\\` and `\'` escaped), and
/// escaped in JSON. Percent-encoded forms are found by decoding the text
/// instead (see [`assert_no_secret`]).
fn secret_forms(secret: &str) -> Vec<(&'static str, String)> {
    let libpq = format!("'{}'", secret.replace('\\', "\\\\").replace('\'', "\\'"));
    let json = serde_json::to_string(secret).unwrap();
    vec![
        ("raw", secret.to_string()),
        ("libpq-quoted", libpq),
        ("JSON-escaped", json[1..json.len() - 1].to_string()),
    ]
}

/// `hay` with every `%XX` decoded (upper or lower case hex), and `+` as a
/// space when `plus_is_space` (form encoding).
fn percent_decoded(hay: &[u8], plus_is_space: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        match hay[i] {
            b'%' if i + 2 < hay.len() => match (hex(hay[i + 1]), hex(hay[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Panics, naming `what` and the form found, when `hay` holds `secret`:
/// as typed, libpq-quoted, JSON-escaped, or percent-encoded as in a URL
/// (every `%XX` of `hay` is decoded first, so upper- or lower-case hex and
/// partly encoded forms are all found; `+` for a space too). The message
/// shows the text around the hit (decoded, for an encoded one).
#[track_caller]
pub fn assert_no_secret(what: &str, hay: impl AsRef<[u8]>, secret: &str) {
    assert!(!secret.is_empty(), "an empty secret matches everything");
    let hay = hay.as_ref();
    let decoded = [
        ("percent-encoded", percent_decoded(hay, false)),
        ("form-encoded", percent_decoded(hay, true)),
    ];
    let mut searches: Vec<(&str, String, &[u8])> = secret_forms(secret)
        .into_iter()
        .map(|(form, needle)| (form, needle, hay))
        .collect();
    for (form, text) in &decoded {
        searches.push((form, secret.to_string(), text.as_slice()));
    }
    for (form, needle, text) in searches {
        if let Some(at) = find(text, needle.as_bytes()) {
            let from = at.saturating_sub(80);
            let to = (at + needle.len() + 80).min(text.len());
            let around: String = String::from_utf8_lossy(&text[from..to])
                .chars()
                .map(|c| {
                    if c.is_control() || c == '\u{fffd}' {
                        '.'
                    } else {
                        c
                    }
                })
                .collect();
            panic!("secret {secret:?} ({form}) leaked in {what}: ...{around}...");
        }
    }
}

#[test]
fn assert_no_secret_finds_every_form_a_secret_takes() {
    let pw = crate::pg::SUPERUSER_PASSWORD;
    let found = |hay: &str, secret: &str| {
        let (hay, secret) = (hay.to_string(), secret.to_string());
        std::panic::catch_unwind(move || assert_no_secret("text", hay, &secret)).is_err()
    };
    let encoded = crate::pg::encode(pw);
    assert_eq!(encoded, "pg%20pw%3Awith%40odd%2Fchars");
    for hay in [
        format!("password {pw} here"),
        format!("postgresql://postgres:{encoded}@127.0.0.1/db"),
        format!("postgresql://postgres:{}@h/db", encoded.to_lowercase()),
        "postgresql://postgres:pg%20pw:with@odd/chars@h/db".to_string(),
        "pw=pg+pw%3Awith%40odd%2Fchars".to_string(),
    ] {
        assert!(found(&hay, pw), "not found in {hay}");
    }
    assert!(found(r"password='it\'s a \\secret'", r"it's a \secret"));
    assert!(found(r#"{"url": "say \"hi\""}"#, r#"say "hi""#));
    assert!(!found("postgresql://postgres:****@127.0.0.1/db", pw));
    assert!(!found("pg pw:with@odd/char", pw));
}
