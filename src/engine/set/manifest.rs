//! `manifest.json` and `SHA256SUMS`: what a backup set holds, readable with
//! standard tools (`sha256sum -c SHA256SUMS`, `jq`).

use crate::domain::{BackupId, BackupKind, Compression, PartInfo, Profile, ProjectId, TableRows};
use crate::engine::EngineError;
use crate::engine::set::crypt::Encryption;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// The manifest file name.
pub const MANIFEST: &str = "manifest.json";
/// The checksum file name.
pub const SUMS: &str = "SHA256SUMS";
/// The details file name (`.age` appended when the set is encrypted).
pub const DETAILS: &str = "details.json";
/// Manifest format version: 3 since a set may hold Supabase Storage files
/// (`storage` and `objects`, files stored under `<project>/objects/`); 2
/// since the schema is split into pg_dump's pre-data and post-data sections
/// and what the set says about the data is in `details.json` (encrypted
/// with the parts when they are); 1: one `schema` part, everything in
/// `manifest.json`.
pub const FORMAT: u32 = 3;
/// The format a set without Storage files is written in: nothing in it
/// needs format 3, so a supabackup that knows only format 2 still reads it.
pub const FORMAT_DATABASE: u32 = 2;

/// A file of the set beside the parts (the details).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    /// File name inside the set's folder.
    pub file: String,
    /// Size on disk.
    pub bytes: u64,
    /// SHA-256 of the file on disk.
    pub sha256: String,
}

/// What a set holds, readable without any key: enough to check it, find
/// it, rebuild the catalog and know how it is encrypted; nothing about the
/// data (those are in the [`Details`]).
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
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// The files, in restore order (sizes and SHA-256 of the bytes on disk).
    pub parts: Vec<PartInfo>,
    /// How the parts and the details are encrypted; `None`: not encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// The details file (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<FileInfo>,
    /// The Storage index, `storage.json.zst(.age)` (format 3, sets with
    /// Storage files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<FileInfo>,
    /// The stored files the set refers to, `objects.txt` (never
    /// encrypted; format 3, sets with Storage files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<FileInfo>,
    /// Format 1 kept the details in the manifest itself.
    #[serde(flatten, default, skip_serializing_if = "Details::is_empty")]
    pub inline_details: Details,
}

/// What a set says about the data: the source, versions, rows per table,
/// roles, schemas. In `details.json` (`details.json.age` when encrypted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    /// The source, password masked.
    #[serde(default)]
    pub source: String,
    /// The server's version.
    #[serde(default)]
    pub server_version: String,
    /// The pg_dump used.
    #[serde(default)]
    pub pg_dump_version: String,
    /// The exported snapshot every part used.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Rows per table, counted from the COPY stream.
    #[serde(default)]
    pub tables: Vec<TableRows>,
    /// Roles the roles part creates.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Schemas the schema parts create or fill.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// Whether the roles part holds role passwords (a full backup made as a
    /// superuser); `None` without a roles part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_passwords: Option<bool>,
    /// Login roles whose password could not be backed up (the backup ran as
    /// a role that may not read them, as `postgres` on hosted Supabase).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logins_without_password: Vec<String>,
}

impl Details {
    /// True for the empty details a format 2 manifest carries inline.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Total rows.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// The PostgreSQL major whose syntax the parts use: the newer of the
    /// server's and pg_dump's.
    pub fn source_major(&self) -> u32 {
        let major = |v: &str| {
            v.split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0)
        };
        major(&self.server_version).max(major(&self.pg_dump_version))
    }

    /// What a person should know about this set.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.logins_without_password.is_empty() {
            out.push(format!(
                "login role(s) without their password in this backup: {} (the backup ran as a \
                 role that may not read password hashes, such as postgres on hosted Supabase); \
                 after a restore set one with ALTER ROLE name PASSWORD '...'",
                self.logins_without_password.join(", ")
            ));
        }
        out
    }
}

impl Manifest {
    /// The files of the set beside its parts: the details, the Storage
    /// index and `objects.txt`, those it has.
    pub fn files_beside_parts(&self) -> impl Iterator<Item = &FileInfo> {
        self.details
            .iter()
            .chain(self.storage.iter())
            .chain(self.objects.iter())
    }

    /// True when the set holds Storage files.
    pub fn has_storage(&self) -> bool {
        self.storage.is_some()
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
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        if let Ok(head) = serde_json::from_slice::<Head>(&bytes)
            && head.format > FORMAT
        {
            return Err(EngineError::Failed(format!(
                "the backup was made by a newer supabackup (manifest format {}, this one reads \
                 up to {FORMAT}): upgrade supabackup to use it ({})",
                head.format,
                path.display()
            )));
        }
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
        for d in self.files_beside_parts() {
            sums.push_str(&format!("{}  {}\n", d.sha256, d.file));
        }
        sums.push_str(&format!("{manifest_sha}  {MANIFEST}\n"));
        write_synced(&dir.join(SUMS), sums.as_bytes())?;
        Ok(manifest_sha)
    }
}

/// Writes a file and fsyncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    let mut f = crate::engine::set::codec::private_file(path)
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
    Ok(parse_sums(&text))
}

/// The (sha, file) pairs of a `SHA256SUMS` text (`sha256sum`'s format,
/// text or binary mode).
pub fn parse_sums(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once("  "))
        .map(|(s, f)| (s.to_string(), f.trim_start_matches('*').to_string()))
        .collect()
}
