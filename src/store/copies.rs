//! Copies of the catalog's configuration (the vault header, projects with
//! their sealed secrets, schedules and settings), refreshed after every
//! commit that changes them, so that `catalog rebuild` can bring them back
//! when the catalog file is damaged. Backup records are not in a copy: they
//! come back from the backup folders' manifests.
//!
//! `<data dir>/catalog-copies/`: `latest.copy`, one `day-YYYY-MM-DD.copy` per
//! UTC day for the last 7 days that changed anything, and `replaced-*.copy`
//! (copies of an earlier catalog, kept when a new catalog took over). Each
//! file is written atomically (temp file, fsync, rename, fsync of the folder)
//! and readable by its owner only: `SBCOPY01`, the SHA-256 of the rest, then
//! the copy in postcard. Sealed secrets stay sealed.

use crate::domain::{BackupJob, Project};
use crate::store::StoreError;
use crate::vault::VaultHeader;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The copy folder's name, beside the catalog file.
pub const COPIES_DIR: &str = "catalog-copies";
/// The format of a copy file; a newer one is not read.
pub const COPY_FORMAT: u32 = 2;
/// Day copies kept.
const KEEP_DAYS: usize = 7;
/// Copies of replaced catalogs kept.
const KEEP_REPLACED: usize = 7;
const MAGIC: &[u8; 8] = b"SBCOPY01";
const LATEST: &str = "latest.copy";

/// The configuration part of a catalog, as a copy holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogCopy {
    /// `COPY_FORMAT` when written.
    pub format: u32,
    /// The catalog's schema version.
    pub schema_version: u32,
    /// The identity of the catalog it was taken from.
    pub catalog_id: u128,
    /// When it was taken.
    pub written_at: DateTime<Utc>,
    /// The master-password vault, once set.
    pub vault: Option<VaultHeader>,
    /// Every project, secrets sealed.
    pub projects: Vec<Project>,
    /// Every schedule.
    pub jobs: Vec<BackupJob>,
    /// Every setting, key and value.
    pub settings: Vec<(String, String)>,
    /// Every destination for copies, secrets sealed (format 2).
    pub destinations: Vec<crate::domain::Destination>,
}

impl CatalogCopy {
    /// The file's bytes: magic, SHA-256 of the body, body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = crate::store::records::encode(self);
        let mut out = Vec::with_capacity(MAGIC.len() + 32 + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&Sha256::digest(&body));
        out.extend_from_slice(&body);
        out
    }

    /// Reads a copy back, checking its checksum and format.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not a supabackup catalog copy")?;
        if rest.len() < 32 {
            return Err("cut short".into());
        }
        let (sum, body) = rest.split_at(32);
        if Sha256::digest(body).as_slice() != sum {
            return Err("checksum mismatch: the file is damaged".into());
        }
        let copy: CatalogCopy =
            postcard::from_bytes(body).map_err(|e| format!("does not decode: {e}"))?;
        if copy.format > COPY_FORMAT {
            return Err(format!(
                "written by a newer supabackup (copy format {})",
                copy.format
            ));
        }
        Ok(copy)
    }

    /// Reads a copy file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        Self::from_bytes(&bytes)
    }
}

/// The copy to restore (its file and content), if any, and the copies that
/// could not be used, with why.
pub type Choice = (Option<(PathBuf, CatalogCopy)>, Vec<(PathBuf, String)>);

/// The copy folder of one catalog.
#[derive(Debug)]
pub struct CopyDir {
    dir: PathBuf,
    /// Held while taking and writing a copy; the names of files known to
    /// hold copies of this catalog (checked once, then overwritten freely).
    ours: Mutex<HashSet<String>>,
}

impl CopyDir {
    /// `catalog-copies/` beside the catalog file.
    pub fn beside(catalog: &Path) -> Self {
        let parent = catalog.parent().unwrap_or(Path::new("."));
        Self {
            dir: parent.join(COPIES_DIR),
            ours: Mutex::new(HashSet::new()),
        }
    }

    /// True when a latest copy exists.
    pub fn has_latest(&self) -> bool {
        self.dir.join(LATEST).exists()
    }

    /// Serialises writers: take this, then the snapshot, then `write`.
    pub fn lock(&self) -> MutexGuard<'_, HashSet<String>> {
        match self.ours.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Writes `copy` as the latest and as today's copy, keeping a copy of
    /// another catalog rather than overwriting it, and prunes old ones.
    pub fn write(&self, ours: &mut HashSet<String>, copy: &CatalogCopy) -> Result<(), StoreError> {
        create_private_dir(&self.dir).map_err(|e| self.error("cannot create", &self.dir, e))?;
        let bytes = copy.to_bytes();
        let day = format!("day-{}.copy", copy.written_at.format("%Y-%m-%d"));
        for name in [LATEST.to_string(), day] {
            let target = self.dir.join(&name);
            if !ours.contains(&name) {
                self.keep_if_foreign(&target, copy.catalog_id)?;
                ours.insert(name);
            }
            write_atomic(&target, &bytes).map_err(|e| self.error("cannot write", &target, e))?;
        }
        self.prune();
        Ok(())
    }

    /// Renames `target` to `replaced-<time>-<name>` unless it is missing or
    /// a copy of the catalog `id`.
    fn keep_if_foreign(&self, target: &Path, id: u128) -> Result<(), StoreError> {
        if !target.exists() {
            return Ok(());
        }
        if matches!(CatalogCopy::read(target), Ok(c) if c.catalog_id == id) {
            return Ok(());
        }
        let name = target.file_name().map(|n| n.to_string_lossy().to_string());
        let kept = self.dir.join(format!(
            "replaced-{}-{}",
            Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            name.unwrap_or_default()
        ));
        std::fs::rename(target, &kept).map_err(|e| self.error("cannot keep", target, e))
    }

    /// Keeps the newest day and replaced copies; removes stale temp files.
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut days = Vec::new();
        let mut replaced = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("day-") && name.ends_with(".copy") {
                days.push(name);
            } else if name.starts_with("replaced-") && name.ends_with(".copy") {
                replaced.push(name);
            } else if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        for (mut names, keep) in [(days, KEEP_DAYS), (replaced, KEEP_REPLACED)] {
            names.sort_unstable_by(|a, b| b.cmp(a));
            for old in names.iter().skip(keep) {
                let _ = std::fs::remove_file(self.dir.join(old));
            }
        }
    }

    /// Every copy file, with what it holds or why it cannot be used.
    pub fn all(&self) -> Vec<(PathBuf, Result<CatalogCopy, String>)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "copy"))
            .map(|p| {
                let read = CatalogCopy::read(&p);
                (p, read)
            })
            .collect();
        // The latest first, so that it wins a tie with today's copy.
        out.sort_by_key(|(p, _)| (!p.ends_with(LATEST), p.clone()));
        out
    }

    /// The newest copy that reads back cleanly and this binary understands,
    /// and the copies that could not be used, with why.
    pub fn newest_good(&self, schema_version: u32) -> Choice {
        let mut best: Option<(PathBuf, CatalogCopy)> = None;
        let mut bad = Vec::new();
        for (path, read) in self.all() {
            match read {
                Ok(c) if c.schema_version > schema_version => bad.push((
                    path,
                    format!(
                        "written by a newer supabackup (schema version {})",
                        c.schema_version
                    ),
                )),
                Ok(c) => {
                    if best
                        .as_ref()
                        .is_none_or(|(_, b)| c.written_at > b.written_at)
                    {
                        best = Some((path, c));
                    }
                }
                Err(why) => bad.push((path, why)),
            }
        }
        (best, bad)
    }

    fn error(&self, what: &str, path: &Path, e: std::io::Error) -> StoreError {
        StoreError::File {
            context: format!("{what} a copy of the catalog"),
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    }
}

/// Creates `dir` readable by its owner only, if it is missing.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `bytes` to `target` so that a crash leaves either the old file or
/// the new one: a temp file (owner-only), fsync, rename, fsync the folder.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = target.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, target)?;
    sync_dir(target.parent().unwrap_or(Path::new(".")))
}

/// Makes a rename in `dir` durable (a no-op where folders cannot be opened).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn copy(id: u128, at: DateTime<Utc>) -> CatalogCopy {
        CatalogCopy {
            format: COPY_FORMAT,
            schema_version: 1,
            catalog_id: id,
            written_at: at,
            vault: None,
            projects: Vec::new(),
            jobs: vec![fixtures::job(crate::domain::ProjectId::new(), "@daily")],
            settings: vec![("retry-delay".into(), "30".into())],
            destinations: Vec::new(),
        }
    }

    #[test]
    fn a_copy_round_trips_and_a_flipped_byte_is_refused() {
        let c = copy(7, Utc::now());
        let mut bytes = c.to_bytes();
        assert_eq!(CatalogCopy::from_bytes(&bytes).unwrap(), c);
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        let err = CatalogCopy::from_bytes(&bytes).unwrap_err();
        assert!(err.contains("checksum"), "{err}");
        assert!(CatalogCopy::from_bytes(b"hello").is_err());
    }

    #[test]
    fn copies_are_private_pruned_and_the_newest_good_one_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = CopyDir::beside(&tmp.path().join("catalog.redb"));
        let start = Utc::now() - chrono::Duration::days(10);
        for d in 0..10 {
            let mut ours = dir.lock();
            dir.write(&mut ours, &copy(1, start + chrono::Duration::days(d)))
                .unwrap();
        }
        let names: Vec<String> = dir
            .all()
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(names.len(), 1 + KEEP_DAYS, "{names:?}");
        assert!(names.contains(&LATEST.to_string()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.dir.join(LATEST))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Damage the latest: the newest day copy is used instead.
        std::fs::write(dir.dir.join(LATEST), b"SBCOPY01garbage").unwrap();
        let (best, bad) = dir.newest_good(1);
        let (path, best) = best.unwrap();
        assert_eq!(best.written_at, start + chrono::Duration::days(9));
        assert!(path.to_string_lossy().contains("day-"));
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn a_copy_of_another_catalog_is_kept_not_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = CopyDir::beside(&tmp.path().join("catalog.redb"));
        let mut ours = dir.lock();
        dir.write(&mut ours, &copy(1, Utc::now())).unwrap();
        drop(ours);
        // A new catalog (another process, say, after the file was lost).
        let other = CopyDir::beside(&tmp.path().join("catalog.redb"));
        let mut ours = other.lock();
        other.write(&mut ours, &copy(2, Utc::now())).unwrap();
        let all = other.all();
        let replaced: Vec<_> = all
            .iter()
            .filter(|(p, _)| p.to_string_lossy().contains("replaced-"))
            .collect();
        assert_eq!(
            replaced.len(),
            2,
            "latest and today's copy of catalog 1 kept"
        );
        assert!(
            replaced
                .iter()
                .all(|(_, c)| c.as_ref().unwrap().catalog_id == 1)
        );
    }
}
