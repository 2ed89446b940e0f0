//! `manifest.json` and `SHA256SUMS`: what a backup set holds, readable with
//! standard tools (`sha256sum -c SHA256SUMS`, `jq`).

use crate::domain::{BackupId, BackupKind, Compression, PartInfo, Profile, ProjectId, TableRows};
use crate::engine::EngineError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// The manifest file name.
pub const MANIFEST: &str = "manifest.json";
/// The checksum file name.
pub const SUMS: &str = "SHA256SUMS";
/// Manifest format version.
pub const FORMAT: u32 = 1;

/// Everything about one backup set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version.
    pub format: u32,
    /// `supabackup <version>`.
    pub tool: String,
    /// The backup's id.
    pub id: BackupId,
    /// The project's id.
    pub project_id: ProjectId,
    /// The project's name.
    pub project_name: String,
    /// The project's environment.
    pub environment: String,
    /// full, schema or data.
    pub kind: BackupKind,
    /// supabase or postgres.
    pub profile: Profile,
    /// Codec and level.
    pub compression: Compression,
    /// The source, password masked.
    pub source: String,
    /// The server's version.
    pub server_version: String,
    /// The pg_dump used.
    pub pg_dump_version: String,
    /// The exported snapshot every part used.
    pub snapshot: Option<String>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// The files, in restore order.
    pub parts: Vec<PartInfo>,
    /// Rows per table, counted from the COPY stream.
    pub tables: Vec<TableRows>,
    /// Roles the roles part creates.
    pub roles: Vec<String>,
    /// Schemas the schema part creates or fills.
    pub schemas: Vec<String>,
}

impl Manifest {
    /// Total rows.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// Reads `<dir>/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self, EngineError> {
        Ok(Self::read_with_sha(dir)?.0)
    }

    /// Reads `<dir>/manifest.json` and the SHA-256 of the bytes it parsed.
    pub fn read_with_sha(dir: &Path) -> Result<(Self, String), EngineError> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|e| {
            EngineError::io(
                "cannot read the backup's manifest (is this a supabackup backup folder?)",
                &path,
                e,
            )
        })?;
        let manifest = serde_json::from_slice(&bytes).map_err(|e| {
            EngineError::Failed(format!(
                "the manifest is damaged ({e}): the backup cannot be trusted ({})",
                path.display()
            ))
        })?;
        Ok((manifest, hex::encode(Sha256::digest(&bytes))))
    }

    /// Writes `manifest.json` then `SHA256SUMS` (parts and manifest), each
    /// fsynced. Returns the manifest's SHA-256.
    pub fn write(&self, dir: &Path) -> Result<String, EngineError> {
        let path = dir.join(MANIFEST);
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| EngineError::Failed(format!("cannot encode the manifest: {e}")))?;
        write_synced(&path, &json)?;
        let manifest_sha = hex::encode(Sha256::digest(&json));
        let mut sums = String::new();
        for p in &self.parts {
            sums.push_str(&format!("{}  {}\n", p.sha256, p.file));
        }
        sums.push_str(&format!("{manifest_sha}  {MANIFEST}\n"));
        write_synced(&dir.join(SUMS), sums.as_bytes())?;
        Ok(manifest_sha)
    }
}

/// Writes a file and fsyncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    let mut f = crate::engine::codec::private_file(path)
        .map_err(|e| EngineError::io("cannot create", path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| EngineError::io("cannot write", path, e))
}

/// Fsyncs a folder so a rename or a new file in it survives a crash.
pub fn sync_dir(path: &Path) -> Result<(), EngineError> {
    #[cfg(unix)]
    {
        std::fs::File::open(path)
            .and_then(|d| d.sync_all())
            .map_err(|e| EngineError::io("cannot sync the folder", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Reads `SHA256SUMS`: (sha, file) pairs.
pub fn read_sums(dir: &Path) -> Result<Vec<(String, String)>, EngineError> {
    let path = dir.join(SUMS);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| EngineError::io("cannot read the checksums", &path, e))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(s, f)| (s.to_string(), f.trim_start_matches('*').to_string()))
        .collect())
}
