//! Settings with their defaults applied.

use crate::domain::{Codec, Compression, Level, SettingKey};
use crate::engine::{Engine, EngineError};
use std::path::PathBuf;

impl Engine {
    /// The value in effect: the one set, else the default (`None` if neither).
    pub fn setting(&self, key: SettingKey) -> Result<Option<String>, EngineError> {
        if let Some(v) = self.catalog().setting(key.as_str())? {
            return Ok(Some(v));
        }
        Ok(match key {
            SettingKey::BackupRoot => {
                Some(self.data_dir().default_backup_root().display().to_string())
            }
            SettingKey::DefaultLevel => Some(self.default_compression()?.level.to_string()),
            k => k.default_value().map(str::to_string),
        })
    }

    /// Checks and stores a setting.
    pub fn set_setting(&self, key: SettingKey, value: &str) -> Result<String, EngineError> {
        let value = key.validate(value)?;
        if key == SettingKey::DefaultLevel {
            let codec = self.default_codec()?;
            Compression::new(codec, Some(value.parse().unwrap_or(0)))?;
        }
        if key == SettingKey::PgBinDir {
            let pg_dump =
                PathBuf::from(&value).join(format!("pg_dump{}", std::env::consts::EXE_SUFFIX));
            if !pg_dump.is_file() {
                return Err(crate::domain::ValidationError::new(
                    "pg-bin-dir",
                    format!("no pg_dump in {value}: give the folder that holds pg_dump"),
                )
                .into());
            }
        }
        self.catalog().set_setting(key.as_str(), Some(&value))?;
        if key == SettingKey::Concurrency {
            self.resize_run_slots(self.concurrency()?);
        }
        self.log(Level::Info, None, format!("setting {key} = {value}"));
        Ok(value)
    }

    /// Clears a setting back to its default.
    pub fn unset_setting(&self, key: SettingKey) -> Result<(), EngineError> {
        self.catalog().set_setting(key.as_str(), None)?;
        if key == SettingKey::Concurrency {
            self.resize_run_slots(self.concurrency()?);
        }
        Ok(())
    }

    /// Where backups go.
    pub fn backup_root(&self) -> Result<PathBuf, EngineError> {
        Ok(
            match self.catalog().setting(SettingKey::BackupRoot.as_str())? {
                Some(v) => PathBuf::from(v),
                None => self.data_dir().default_backup_root(),
            },
        )
    }

    /// The pg_dump folder set by the user, if any.
    pub fn pg_bin_override(&self) -> Result<Option<PathBuf>, EngineError> {
        Ok(self
            .catalog()
            .setting(SettingKey::PgBinDir.as_str())?
            .map(PathBuf::from))
    }

    fn default_codec(&self) -> Result<Codec, EngineError> {
        Ok(
            match self
                .catalog()
                .setting(SettingKey::DefaultCompression.as_str())?
            {
                Some(c) => c.parse()?,
                None => Codec::Zstd,
            },
        )
    }

    /// The default codec and level (a stored level that does not fit the
    /// codec falls back to the codec's default).
    pub fn default_compression(&self) -> Result<Compression, EngineError> {
        let codec = self.default_codec()?;
        let level = self
            .catalog()
            .setting(SettingKey::DefaultLevel.as_str())?
            .and_then(|l| l.parse().ok());
        Ok(Compression::new(codec, level).or_else(|_| Compression::new(codec, None))?)
    }

    /// How long a failed scheduled backup waits before its first retry.
    pub fn retry_delay(&self) -> Result<std::time::Duration, EngineError> {
        Ok(std::time::Duration::from_secs(
            self.setting(SettingKey::RetryDelay)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(30),
        ))
    }

    /// Storage files downloaded or uploaded at once.
    pub fn storage_concurrency(&self) -> Result<usize, EngineError> {
        Ok(self
            .setting(SettingKey::StorageConcurrency)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(4))
    }

    /// How old an unreferenced stored Storage file must be before it is
    /// removed (`storage-grace-hours`, default a day).
    pub fn storage_grace(&self) -> Result<chrono::Duration, EngineError> {
        Ok(chrono::Duration::hours(
            self.setting(SettingKey::StorageGraceHours)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(24),
        ))
    }

    /// Backups running at once, all projects together.
    pub fn concurrency(&self) -> Result<usize, EngineError> {
        Ok(self
            .setting(SettingKey::Concurrency)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(2))
    }
}
