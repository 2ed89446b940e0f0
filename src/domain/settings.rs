//! Settings the user can change, their keys and rules.

use crate::domain::{Codec, ValidationError};
use std::fmt;
use std::str::FromStr;

/// A setting's key, as typed after `supabackup settings set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingKey {
    /// Folder where backup sets are written.
    BackupRoot,
    /// Folder holding the pg_dump / pg_dumpall / psql to use.
    PgBinDir,
    /// zstd, xz or none.
    DefaultCompression,
    /// The codec's level.
    DefaultLevel,
    /// system, light or dark.
    Theme,
    /// Minutes of idle time before the desktop app locks; 0 = never.
    AutoLockMinutes,
    /// Backups running at once, all projects together.
    Concurrency,
    /// Seconds before a failed scheduled backup's first retry.
    RetryDelay,
    /// Storage files downloaded or uploaded at once.
    StorageConcurrency,
    /// Where `tools install` downloads PostgreSQL's client programs from.
    ToolsMirror,
    /// Hours a stored Storage file is kept however unreferenced it is.
    StorageGraceHours,
}

impl SettingKey {
    /// Every key, in display order.
    pub const ALL: [SettingKey; 11] = [
        Self::BackupRoot,
        Self::PgBinDir,
        Self::DefaultCompression,
        Self::DefaultLevel,
        Self::Theme,
        Self::AutoLockMinutes,
        Self::Concurrency,
        Self::RetryDelay,
        Self::StorageConcurrency,
        Self::ToolsMirror,
        Self::StorageGraceHours,
    ];

    /// The key as typed.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::BackupRoot => "backup-root",
            Self::PgBinDir => "pg-bin-dir",
            Self::DefaultCompression => "default-compression",
            Self::DefaultLevel => "default-level",
            Self::Theme => "theme",
            Self::AutoLockMinutes => "auto-lock-minutes",
            Self::Concurrency => "concurrency",
            Self::RetryDelay => "retry-delay",
            Self::StorageConcurrency => "storage-concurrency",
            Self::ToolsMirror => "tools-mirror",
            Self::StorageGraceHours => "storage-grace-hours",
        }
    }

    /// What the setting does, for `--help` and the Settings panel.
    pub fn help(&self) -> &'static str {
        match self {
            Self::BackupRoot => "folder where backups are written (default <data dir>/backups)",
            Self::PgBinDir => "folder with pg_dump, pg_dumpall and psql to use before any other",
            Self::DefaultCompression => "zstd, xz or none (default zstd)",
            Self::DefaultLevel => "compression level: zstd 1-19, xz 0-9 (default 3 / 6)",
            Self::Theme => "system, light or dark (desktop app)",
            Self::AutoLockMinutes => {
                "lock the desktop app after this many idle minutes; 0 = never (default 15)"
            }
            Self::Concurrency => "backups running at once across all projects, 1-16 (default 2)",
            Self::RetryDelay => {
                "seconds before a failed scheduled backup is retried; each later retry waits four \
                 times longer, up to an hour (default 30)"
            }
            Self::StorageConcurrency => {
                "Supabase Storage files downloaded or uploaded at once, 1-16 (default 4)"
            }
            Self::ToolsMirror => {
                "where `supabackup tools install` downloads PostgreSQL's client programs: an \
                 http(s) URL or a folder laid out as <mirror>/<version>/<file> (default: the \
                 theseus-rs/postgresql-binaries releases on GitHub)"
            }
            Self::StorageGraceHours => {
                "a stored Storage file no backup refers to is removed only once it is this many \
                 hours old, locally and at destinations, so a backup or copy another machine \
                 is still writing keeps its files; 0-8760 (default 24)"
            }
        }
    }

    /// The value used when none is set (`None` for paths that derive from the data dir).
    pub fn default_value(&self) -> Option<&'static str> {
        match self {
            Self::BackupRoot | Self::PgBinDir => None,
            Self::ToolsMirror => Some(crate::pgtools::fetch::DEFAULT_MIRROR),
            Self::DefaultCompression => Some("zstd"),
            Self::DefaultLevel => None,
            Self::Theme => Some("system"),
            Self::AutoLockMinutes => Some("15"),
            Self::Concurrency => Some("2"),
            Self::RetryDelay => Some("30"),
            Self::StorageConcurrency => Some("4"),
            Self::StorageGraceHours => Some("24"),
        }
    }

    /// Checks and normalises a value for this key.
    pub fn validate(&self, value: &str) -> Result<String, ValidationError> {
        let v = value.trim();
        let field = self.as_str();
        match self {
            Self::BackupRoot | Self::PgBinDir => {
                if v.is_empty() {
                    return Err(ValidationError::new(field, "must be a folder path"));
                }
                let path = std::path::Path::new(v);
                if !path.is_absolute() {
                    return Err(ValidationError::new(
                        field,
                        format!("must be an absolute path (got \"{v}\")"),
                    ));
                }
                Ok(v.to_string())
            }
            Self::DefaultCompression => Codec::from_str(v)
                .map(|c| c.as_str().to_string())
                .map_err(|e| ValidationError::new(field, e.rule)),
            Self::DefaultLevel => number(field, v, 0, 19),
            Self::Theme => match v.to_ascii_lowercase().as_str() {
                t @ ("system" | "light" | "dark") => Ok(t.to_string()),
                _ => Err(ValidationError::new(
                    field,
                    format!("must be system, light or dark (got \"{v}\")"),
                )),
            },
            Self::AutoLockMinutes => number(field, v, 0, 1440),
            Self::Concurrency => number(field, v, 1, 16),
            Self::RetryDelay => number(field, v, 1, 3600),
            Self::StorageConcurrency => number(field, v, 1, 16),
            Self::ToolsMirror => crate::pgtools::fetch::Mirror::parse(v)
                .map(|_| v.to_string())
                .map_err(|e| ValidationError::new(field, e.to_string())),
            Self::StorageGraceHours => number(field, v, 0, 8760),
        }
    }
}

fn number(field: &'static str, v: &str, min: u32, max: u32) -> Result<String, ValidationError> {
    match v.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
        _ => Err(ValidationError::new(
            field,
            format!("must be a whole number from {min} to {max} (got \"{v}\")"),
        )),
    }
}

impl fmt::Display for SettingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SettingKey {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                let keys: Vec<_> = Self::ALL.iter().map(|k| k.as_str()).collect();
                ValidationError::new(
                    "key",
                    format!("unknown setting \"{s}\": one of {}", keys.join(", ")),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_per_key() {
        assert_eq!(SettingKey::Theme.validate("Dark").unwrap(), "dark");
        assert!(SettingKey::Concurrency.validate("0").is_err());
        assert!(SettingKey::BackupRoot.validate("relative/path").is_err());
        assert!("colour".parse::<SettingKey>().is_err());
        assert_eq!(
            "default-compression".parse::<SettingKey>().unwrap(),
            SettingKey::DefaultCompression
        );
    }
}
