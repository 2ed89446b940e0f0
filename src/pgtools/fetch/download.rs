//! Getting an archive and its checksum from a mirror: an HTTP(S) base URL
//! or a folder, both laid out as `<base>/<version>/<file>` (the layout of
//! the GitHub release downloads).

use super::error::FetchError;
use super::releases::Release;
use super::watch::Watch;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where archives come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    /// An HTTP(S) base URL.
    Http(reqwest::Url),
    /// A folder (a share, a USB stick).
    Folder(PathBuf),
}

impl Mirror {
    /// `https://...`, `http://...`, `file:///...` or a folder path.
    pub fn parse(given: &str) -> Result<Mirror, FetchError> {
        let bad = |reason: &str| FetchError::BadMirror {
            given: mask(given),
            reason: reason.to_string(),
        };
        let given = given.trim();
        if given.is_empty() {
            return Err(bad("it is empty"));
        }
        if given.chars().any(char::is_control) {
            return Err(bad("it contains control characters"));
        }
        let lower = given.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let url = reqwest::Url::parse(given).map_err(|e| bad(&e.to_string()))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(bad("it has no host"));
            }
            return Ok(Mirror::Http(url));
        }
        if let Some(path) = lower.strip_prefix("file://").map(|_| &given[7..]) {
            return Ok(Mirror::Folder(PathBuf::from(path)));
        }
        if lower.contains("://") {
            return Err(bad("only http://, https:// and folders are mirrors"));
        }
        let path = PathBuf::from(given);
        if !path.is_dir() {
            return Err(bad(
                "no such folder (a mirror is an http(s) URL or a folder)",
            ));
        }
        Ok(Mirror::Folder(path))
    }

    /// Where `file` of `release` is, for messages (no password).
    pub fn location(&self, release: Release, file: &str) -> String {
        match self {
            Mirror::Http(url) => mask(&format!(
                "{}/{release}/{file}",
                url.as_str().trim_end_matches('/')
            )),
            Mirror::Folder(dir) => dir
                .join(release.to_string())
                .join(file)
                .display()
                .to_string(),
        }
    }

    /// The mirror itself, for messages and the install record (no password).
    pub fn describe(&self) -> String {
        match self {
            Mirror::Http(url) => mask(url.as_str()),
            Mirror::Folder(dir) => dir.display().to_string(),
        }
    }
}

/// A URL without its password.
fn mask(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The HTTP client: connect and read timeouts, no overall one.
fn client() -> Result<reqwest::Client, FetchError> {
    // reqwest's rustls needs a process-wide crypto provider; a second
    // install is refused, harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| FetchError::Unreachable {
            url: String::new(),
            reason: format!("cannot build the HTTP client: {e}"),
        })
}

/// The hex SHA-256 in a `.sha256` file: `<hex>`, `<hex>  <file>` (Linux and
/// macOS archives), or certutil's lines around it (older Windows ones).
pub fn parse_checksum(text: &str) -> Option<String> {
    let is_sha = |w: &str| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit());
    text.lines().find_map(|line| {
        let first = line.split_whitespace().next().unwrap_or("");
        let joined: String = line.split_whitespace().collect();
        [first, joined.as_str()]
            .into_iter()
            .find(|w| is_sha(w))
            .map(str::to_ascii_lowercase)
    })
}

/// The archive's published SHA-256, from `<file>.sha256` beside it.
pub async fn checksum(mirror: &Mirror, release: Release, file: &str) -> Result<String, FetchError> {
    let sums = format!("{file}.sha256");
    let at = mirror.location(release, &sums);
    let text = match mirror {
        Mirror::Folder(dir) => {
            let path = dir.join(release.to_string()).join(&sums);
            match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let archive = dir.join(release.to_string()).join(file);
                    return Err(if archive.is_file() {
                        FetchError::NoChecksum { at }
                    } else {
                        FetchError::NotPublished {
                            at: mirror.location(release, file),
                        }
                    });
                }
                Err(e) => return Err(FetchError::io("cannot read", path, e)),
            }
        }
        Mirror::Http(_) => {
            let http = client()?;
            let resp = send(&http, &at).await?;
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                let archive = mirror.location(release, file);
                let head = http.head(&archive).send().await;
                return Err(match head {
                    Ok(r) if r.status().is_success() => FetchError::NoChecksum { at },
                    _ => FetchError::NotPublished { at: archive },
                });
            }
            let resp = success(resp, &at)?;
            resp.bytes()
                .await
                .map_err(|e| FetchError::Interrupted {
                    file: sums.clone(),
                    reason: e.to_string(),
                })?
                .to_vec()
        }
    };
    parse_checksum(&String::from_utf8_lossy(&text)).ok_or(FetchError::BadChecksumFile { at })
}

async fn send(http: &reqwest::Client, url: &str) -> Result<reqwest::Response, FetchError> {
    http.get(url)
        .send()
        .await
        .map_err(|e| FetchError::Unreachable {
            url: mask(url),
            reason: error_chain(&e),
        })
}

fn success(resp: reqwest::Response, url: &str) -> Result<reqwest::Response, FetchError> {
    if resp.status().is_success() {
        Ok(resp)
    } else if resp.status() == reqwest::StatusCode::NOT_FOUND {
        Err(FetchError::NotPublished { at: mask(url) })
    } else {
        Err(FetchError::Refused {
            url: mask(url),
            status: resp.status().to_string(),
        })
    }
}

/// The error and its causes in one line ("error sending request: ...
/// Connection refused").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Copies the archive to `to`, hashing as it goes; returns its SHA-256.
pub async fn archive(
    mirror: &Mirror,
    release: Release,
    file: &str,
    to: &Path,
    watch: &std::sync::Arc<dyn Watch>,
) -> Result<String, FetchError> {
    let mut out = std::fs::File::create(to).map_err(|e| FetchError::io("cannot create", to, e))?;
    let mut hash = Sha256::new();
    let write = |out: &mut std::fs::File, chunk: &[u8]| {
        out.write_all(chunk).map_err(|e| {
            let context = if e.kind() == std::io::ErrorKind::StorageFull {
                "the disk is full while downloading"
            } else {
                "cannot write the download"
            };
            FetchError::io(context, to, e)
        })
    };
    match mirror {
        Mirror::Folder(dir) => {
            drop(out);
            let from = dir.join(release.to_string()).join(file);
            if !from.is_file() {
                return Err(FetchError::NotPublished {
                    at: from.display().to_string(),
                });
            }
            let (to, watch) = (to.to_path_buf(), watch.clone());
            return tokio::task::spawn_blocking(move || local_archive(&from, &to, &*watch))
                .await
                .map_err(|e| {
                    FetchError::io("the copy stopped", PathBuf::new(), std::io::Error::other(e))
                })?;
        }
        Mirror::Http(_) => {
            let url = mirror.location(release, file);
            let http = client()?;
            let mut resp = success(send(&http, &url).await?, &url)?;
            let expected = resp.content_length();
            if let Some(len) = expected {
                watch.set_total(len);
            }
            let mut got = 0u64;
            loop {
                let chunk = resp.chunk().await.map_err(|e| FetchError::Interrupted {
                    file: file.to_string(),
                    reason: error_chain(&e),
                })?;
                let Some(chunk) = chunk else { break };
                hash.update(&chunk);
                write(&mut out, &chunk)?;
                got += chunk.len() as u64;
                watch.add(chunk.len() as u64);
            }
            if let Some(len) = expected
                && got != len
            {
                return Err(FetchError::Interrupted {
                    file: file.to_string(),
                    reason: format!("{got} of {len} bytes arrived"),
                });
            }
        }
    }
    out.sync_all()
        .map_err(|e| FetchError::io("cannot write the download", to, e))?;
    Ok(hex::encode(hash.finalize()))
}

/// Copies a local archive's bytes to `to`, hashing as it goes (so the
/// bytes checked are the bytes unpacked).
pub fn local_archive(from: &Path, to: &Path, watch: &dyn Watch) -> Result<String, FetchError> {
    let mut input =
        std::fs::File::open(from).map_err(|e| FetchError::io("cannot read", from, e))?;
    if let Ok(meta) = input.metadata() {
        watch.set_total(meta.len());
    }
    let mut out = std::fs::File::create(to).map_err(|e| FetchError::io("cannot create", to, e))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = std::io::Read::read(&mut input, &mut buf)
            .map_err(|e| FetchError::io("cannot read", from, e))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| FetchError::io("cannot write", to, e))?;
        watch.add(n as u64);
    }
    Ok(hex::encode(hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_files_in_either_form() {
        let hex = "a".repeat(64);
        assert_eq!(parse_checksum(&hex), Some(hex.clone()));
        assert_eq!(
            parse_checksum(&format!(
                "{}  postgresql-17.11.0-x.tar.gz\n",
                hex.to_uppercase()
            )),
            Some(hex.clone())
        );
        let certutil = format!(
            "SHA256 hash of postgresql-17.11.0-x86_64-pc-windows-msvc.tar.gz:\r\n{}\r\nCertUtil: \
             -hashfile command completed successfully.\r\n",
            hex.as_bytes()
                .chunks(2)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(parse_checksum(&certutil), Some(hex.clone()));
        assert_eq!(parse_checksum("not a checksum"), None);
        assert_eq!(parse_checksum(""), None);
        assert_eq!(parse_checksum(&"g".repeat(64)), None);
    }

    #[test]
    fn mirrors_are_urls_or_folders_and_passwords_stay_hidden() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Mirror::parse(dir.path().to_str().unwrap()).unwrap(),
            Mirror::Folder(_)
        ));
        let m = Mirror::parse("https://user:secret@mirror.example.com/pg").unwrap();
        let r: Release = "17.11.0".parse().unwrap();
        let at = m.location(r, "x.tar.gz");
        assert!(!at.contains("secret"), "{at}");
        assert!(at.ends_with("/pg/17.11.0/x.tar.gz"), "{at}");
        for bad in [
            "",
            "ftp://x/y",
            "http://",
            "/no/such/folder/here",
            "http://a\u{4}b/",
        ] {
            let e = Mirror::parse(bad).unwrap_err().to_string();
            assert!(!e.is_empty());
        }
        let e = Mirror::parse("ftp://u:secret@x/").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }
}
