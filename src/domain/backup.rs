//! Backups: kinds, profiles, compression, status and the record the catalog keeps.

use crate::domain::{BackupExtra, BackupId, Extra, JobId, ProjectId, ValidationError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// What a backup contains. The catalog stores these by position
/// (postcard): new variants go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    /// Roles, schema and data (and the Storage files, when the project has
    /// Storage access).
    Full,
    /// Schema only.
    Schema,
    /// Data only.
    Data,
    /// Supabase Storage files only (no database parts).
    Storage,
}

impl BackupKind {
    /// All kinds, in display order.
    pub const ALL: [BackupKind; 4] = [Self::Full, Self::Schema, Self::Data, Self::Storage];

    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Schema => "schema",
            Self::Data => "data",
            Self::Storage => "storage",
        }
    }

    /// The parts a backup of this kind writes, in restore order.
    pub fn parts(&self) -> &'static [Part] {
        match self {
            Self::Full => &[Part::Roles, Part::PreData, Part::Data, Part::PostData],
            Self::Schema => &[Part::PreData, Part::PostData],
            Self::Data => &[Part::Data],
            Self::Storage => &[],
        }
    }

    /// True for the kinds that back up the Storage files (when the project
    /// has Storage access).
    pub fn has_storage(&self) -> bool {
        matches!(self, Self::Full | Self::Storage)
    }

    /// True for the kinds that dump the database.
    pub fn has_database(&self) -> bool {
        !self.parts().is_empty()
    }
}

/// One file of a backup set. The catalog stores these by position (postcard):
/// new variants go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// `pg_dumpall --roles-only`.
    Roles,
    /// The whole schema in one file (sets written before the section split).
    Schema,
    /// pg_dump's data section: rows, sequence values.
    Data,
    /// pg_dump's pre-data section: what the rows need (types, tables, functions...).
    #[serde(rename = "pre-data")]
    PreData,
    /// pg_dump's post-data section: indexes, constraints, triggers, rules,
    /// policies, materialized view refreshes, privileges.
    #[serde(rename = "post-data")]
    PostData,
}

impl Part {
    /// `roles`, `pre-data`, `data`, `post-data` (or `schema`): the file's stem.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Roles => "roles",
            Self::Schema => "schema",
            Self::Data => "data",
            Self::PreData => "pre-data",
            Self::PostData => "post-data",
        }
    }

    /// Parses a stem.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "roles" => Some(Self::Roles),
            "schema" => Some(Self::Schema),
            "data" => Some(Self::Data),
            "pre-data" => Some(Self::PreData),
            "post-data" => Some(Self::PostData),
            _ => None,
        }
    }

    /// True for the parts that hold schema (objects, not rows or roles).
    pub fn is_schema(&self) -> bool {
        matches!(self, Self::Schema | Self::PreData | Self::PostData)
    }
}

impl fmt::Display for BackupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackupKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "schema" => Ok(Self::Schema),
            "data" => Ok(Self::Data),
            "storage" => Ok(Self::Storage),
            other => Err(ValidationError::new(
                "kind",
                format!("must be full, schema, data or storage (got \"{other}\")"),
            )),
        }
    }
}

/// What a backup leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Like `supabase db dump`: platform-managed schemas and roles left out,
    /// so the backup restores into a fresh Supabase project.
    Supabase,
    /// Everything, for any PostgreSQL or for leaving Supabase.
    Postgres,
}

impl Profile {
    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Supabase => "supabase",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "supabase" => Ok(Self::Supabase),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            other => Err(ValidationError::new(
                "profile",
                format!("must be supabase or postgres (got \"{other}\")"),
            )),
        }
    }
}

/// A compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// zstd, multi-threaded; the default.
    Zstd,
    /// xz, multi-threaded; smallest files, slowest.
    Xz,
    /// No compression.
    None,
}

impl Codec {
    /// All codecs, in display order.
    pub const ALL: [Codec; 3] = [Self::Zstd, Self::Xz, Self::None];

    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Xz => "xz",
            Self::None => "none",
        }
    }

    /// File suffix, dot included (empty for `none`).
    pub fn suffix(&self) -> &'static str {
        match self {
            Self::Zstd => ".zst",
            Self::Xz => ".xz",
            Self::None => "",
        }
    }

    /// The levels this codec accepts.
    pub fn level_range(&self) -> std::ops::RangeInclusive<u32> {
        match self {
            Self::Zstd => 1..=19,
            Self::Xz => 0..=9,
            Self::None => 0..=0,
        }
    }

    /// The level used when none is given.
    pub fn default_level(&self) -> u32 {
        match self {
            Self::Zstd => 3,
            Self::Xz => 6,
            Self::None => 0,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Codec {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zstd" | "zst" => Ok(Self::Zstd),
            "xz" => Ok(Self::Xz),
            "none" => Ok(Self::None),
            other => Err(ValidationError::new(
                "compression",
                format!("must be zstd, xz or none (got \"{other}\")"),
            )),
        }
    }
}

/// A codec and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Compression {
    /// The codec.
    pub codec: Codec,
    /// Its level (zstd 1-19, xz 0-9, none 0).
    pub level: u32,
}

impl Compression {
    /// `codec` at `level`, or its default level; checks the range.
    pub fn new(codec: Codec, level: Option<u32>) -> Result<Self, ValidationError> {
        let level = level.unwrap_or_else(|| codec.default_level());
        let range = codec.level_range();
        if !range.contains(&level) {
            return Err(ValidationError::new(
                "level",
                format!(
                    "{codec} takes a level from {} to {} (got {level})",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(Self { codec, level })
    }
}

impl Default for Compression {
    fn default() -> Self {
        Self {
            codec: Codec::Zstd,
            level: Codec::Zstd.default_level(),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.codec {
            Codec::None => f.write_str("none"),
            c => write!(f, "{c}:{}", self.level),
        }
    }
}

/// Where a backup is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupStatus {
    /// pg_dump is running.
    Running,
    /// Every part written, synced and checksummed.
    Completed,
    /// Something went wrong; see the error.
    Failed,
    /// The user cancelled it.
    Cancelled,
    /// supabackup stopped while it ran (found at the next start).
    Interrupted,
}

impl BackupStatus {
    /// All statuses, in display order.
    pub const ALL: [BackupStatus; 5] = [
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Interrupted,
    ];

    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for BackupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackupStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                ValidationError::new(
                    "status",
                    format!(
                        "must be running, completed, failed, cancelled or interrupted (got \"{s}\")"
                    ),
                )
            })
    }
}

/// One file in a finished backup set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    /// Which part.
    pub part: Part,
    /// File name inside the backup folder.
    pub file: String,
    /// Size on disk.
    pub bytes: u64,
    /// Size of the SQL before compression.
    pub raw_bytes: u64,
    /// SHA-256 of the file on disk, lower-case hex.
    pub sha256: String,
}

/// Rows in one table at backup time, counted from the COPY stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// Rows.
    pub rows: u64,
}

/// A backup as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// Stable id.
    pub id: BackupId,
    /// The project backed up.
    pub project_id: ProjectId,
    /// The project's name at backup time.
    pub project_name: String,
    /// Full, schema or data.
    pub kind: BackupKind,
    /// Supabase or postgres.
    pub profile: Profile,
    /// Codec and level.
    pub compression: Compression,
    /// Where it is in its life.
    pub status: BackupStatus,
    /// The backup folder (final path; the `.partial` one while running).
    pub path: PathBuf,
    /// Bytes on disk, all parts.
    pub bytes: u64,
    /// Bytes of SQL before compression.
    pub raw_bytes: u64,
    /// Rows dumped, all tables.
    pub rows: u64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended, whatever the outcome.
    pub finished_at: Option<DateTime<Utc>>,
    /// SHA-256 of manifest.json.
    pub manifest_sha256: Option<String>,
    /// What went wrong (secrets masked).
    pub error: Option<String>,
    /// Pinned backups are never removed by retention.
    pub pinned: bool,
    /// The schedule that made it, if any.
    pub job_id: Option<JobId>,
    /// PostgreSQL server version at backup time.
    pub server_version: Option<String>,
    /// The pg_dump used.
    pub pg_dump_version: Option<String>,
    /// The files, once complete.
    pub parts: Vec<PartInfo>,
    /// Process id of the supabackup running it, to find interrupted ones.
    pub pid: Option<u32>,
    /// Warnings, encryption (more to come).
    pub extra: Extra<BackupExtra>,
}

impl Backup {
    /// How long it took, once finished.
    pub fn duration(&self) -> Option<chrono::Duration> {
        self.finished_at.map(|f| f - self.started_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_levels_are_checked_per_codec() {
        assert!(Compression::new(Codec::Zstd, Some(19)).is_ok());
        assert!(Compression::new(Codec::Zstd, Some(0)).is_err());
        assert!(Compression::new(Codec::Xz, Some(9)).is_ok());
        let e = Compression::new(Codec::Xz, Some(10)).unwrap_err();
        assert_eq!(e.field, "level");
        assert_eq!(Compression::new(Codec::None, None).unwrap().level, 0);
        assert_eq!("zstd".parse::<Codec>().unwrap().suffix(), ".zst");
    }

    #[test]
    fn kinds_list_their_parts_in_restore_order() {
        assert_eq!(
            BackupKind::Full.parts(),
            &[Part::Roles, Part::PreData, Part::Data, Part::PostData]
        );
        assert_eq!(BackupKind::Schema.parts(), &[Part::PreData, Part::PostData]);
        assert!(BackupKind::Storage.parts().is_empty());
        assert_eq!(
            "storage".parse::<BackupKind>().unwrap(),
            BackupKind::Storage
        );
        // Stored by position: the older kinds keep theirs.
        assert_eq!(postcard::to_stdvec(&BackupKind::Data).unwrap(), [2]);
        assert_eq!(postcard::to_stdvec(&BackupKind::Storage).unwrap(), [3]);
        for p in [
            Part::Roles,
            Part::Schema,
            Part::PreData,
            Part::Data,
            Part::PostData,
        ] {
            assert_eq!(Part::parse(p.as_str()), Some(p));
        }
        assert!("weekly".parse::<BackupKind>().is_err());
    }
}
