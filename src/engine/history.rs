//! The backup history: listing, pinning and deleting.

use crate::domain::{Backup, BackupStatus, Level, ProjectId};
use crate::engine::backup::partial_dir;
use crate::engine::{Engine, EngineError};

/// Which backups to list.
#[derive(Debug, Clone, Default)]
pub struct BackupFilter {
    /// Only this project's.
    pub project: Option<ProjectId>,
    /// Only with this status.
    pub status: Option<BackupStatus>,
}

impl BackupFilter {
    /// True when `b` passes the filter.
    pub fn matches(&self, b: &Backup) -> bool {
        self.project.is_none_or(|p| b.project_id == p) && self.status.is_none_or(|s| b.status == s)
    }
}

impl Engine {
    /// Backups, newest first.
    pub fn backups(&self, filter: &BackupFilter) -> Result<Vec<Backup>, EngineError> {
        let mut all = self.catalog().backups()?;
        all.retain(|b| filter.matches(b));
        Ok(all)
    }

    /// Pins a backup (retention never removes it) or unpins it.
    pub fn set_pinned(&self, key: &str, pinned: bool) -> Result<Backup, EngineError> {
        let mut b = self.catalog().find_backup(key)?;
        b.pinned = pinned;
        self.catalog().put_backup(&b)?;
        Ok(b)
    }

    /// Deletes a backup's folder, then its record. A running backup cannot
    /// be deleted (cancel it first).
    pub fn delete_backup(&self, key: &str) -> Result<Backup, EngineError> {
        let b = self.catalog().find_backup(key)?;
        if b.status == BackupStatus::Running {
            return Err(EngineError::Failed(format!(
                "backup {} is still running: cancel it first",
                b.id.short()
            )));
        }
        for dir in [b.path.clone(), partial_dir(&b.path)] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| EngineError::io("cannot delete the backup folder", &dir, e))?;
            }
        }
        self.catalog().delete_backup(b.id)?;
        self.log(
            Level::Info,
            Some(b.project_id),
            format!("backup {} of \"{}\" deleted", b.id.short(), b.project_name),
        );
        Ok(b)
    }
}
