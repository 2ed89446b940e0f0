//! The client programs supabackup installed itself: `<data dir>/tools/<version>/`
//! with `bin/`, `lib/` and a record of what was installed from where.

use super::error::FetchError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The record's file name inside an install folder; written last, so a
/// folder without it is not an install.
pub const INSTALL_RECORD: &str = "supabackup-tools.json";

/// What an install holds and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// `17.11.0`.
    pub version: String,
    /// The archive's target triple.
    pub target: String,
    /// The archive's file name.
    pub archive: String,
    /// The archive's SHA-256, as checked.
    pub archive_sha256: String,
    /// Where it came from (a URL without password, or a path).
    pub source: String,
    /// When.
    pub installed_at: chrono::DateTime<chrono::Utc>,
    /// Each file kept.
    pub files: Vec<RecordedFile>,
}

/// One kept file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFile {
    /// `bin/pg_dump`.
    pub path: String,
    /// Size.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

impl InstallRecord {
    /// Writes the record into `dir` (synced).
    pub fn write(&self, dir: &Path) -> Result<(), FetchError> {
        let path = dir.join(INSTALL_RECORD);
        let text = serde_json::to_vec_pretty(self).map_err(|e| {
            FetchError::io(
                "cannot write the install record",
                &path,
                std::io::Error::other(e),
            )
        })?;
        std::fs::write(&path, text)
            .and_then(|_| super::unpack::sync_file(&path))
            .map_err(|e| FetchError::io("cannot write the install record", &path, e))
    }

    /// Total bytes of the kept files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// Every install in `tools_dir`, newest version first.
pub fn installed(tools_dir: &Path) -> Vec<(PathBuf, InstallRecord)> {
    let Ok(entries) = std::fs::read_dir(tools_dir) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf, InstallRecord)> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let dir = e.path();
            let text = std::fs::read(dir.join(INSTALL_RECORD)).ok()?;
            let record: InstallRecord = serde_json::from_slice(&text).ok()?;
            let key = record
                .version
                .split('.')
                .filter_map(|n| n.parse().ok())
                .collect();
            Some((key, dir, record))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, d, r)| (d, r)).collect()
}

/// The `bin/` folders of every install, newest first.
pub fn bin_dirs(tools_dir: &Path) -> Vec<PathBuf> {
    installed(tools_dir)
        .into_iter()
        .map(|(dir, _)| dir.join("bin"))
        .collect()
}

/// Removes the install of `version` (`17.11.0`, or `17.11`); returns its folder.
pub fn remove(tools_dir: &Path, version: &str) -> Result<PathBuf, FetchError> {
    let wanted = version.trim();
    let found = installed(tools_dir)
        .into_iter()
        .find(|(_, r)| r.version == wanted || r.version.strip_suffix(".0") == Some(wanted));
    let Some((dir, _)) = found else {
        return Err(FetchError::NotInstalled {
            version: wanted.to_string(),
        });
    };
    // Renamed first, so a half-removed folder never looks like an install.
    let doomed = tools_dir.join(format!(".removing-{}-{}", wanted, std::process::id()));
    std::fs::rename(&dir, &doomed)
        .map_err(|e| FetchError::io("cannot remove the tools (are they in use?)", &dir, e))?;
    std::fs::remove_dir_all(&doomed)
        .map_err(|e| FetchError::io("cannot remove the tools", &doomed, e))?;
    Ok(dir)
}
