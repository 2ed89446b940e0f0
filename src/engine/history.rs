//! The backup history: listing, pinning and deleting.

use crate::domain::{Backup, BackupId, BackupStatus, Level, ProjectId};
use crate::engine::{Engine, EngineError, set};

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
    /// One backup's record.
    pub fn backup_record(&self, id: BackupId) -> Result<Backup, EngineError> {
        self.catalog()
            .backup(id)?
            .ok_or_else(|| EngineError::Failed(format!("no backup {}", id.short())))
    }

    /// Backups, newest first.
    pub fn backups(&self, filter: &BackupFilter) -> Result<Vec<Backup>, EngineError> {
        let mut all = self.catalog().backups()?;
        all.retain(|b| filter.matches(b));
        Ok(all)
    }

    /// Pins a backup (retention never removes it) or unpins it.
    pub fn set_pinned(&self, id: BackupId, pinned: bool) -> Result<Backup, EngineError> {
        let mut b = self.backup_record(id)?;
        b.pinned = pinned;
        self.catalog().put_backup(&b)?;
        Ok(b)
    }

    /// Deletes a backup's folder, then its record, then the stored Storage
    /// files no remaining set of its project refers to. A running backup
    /// cannot be deleted (cancel it first).
    pub async fn delete_backup(&self, id: BackupId) -> Result<Backup, EngineError> {
        let b = self.backup_record(id)?;
        if b.status == BackupStatus::Running {
            return Err(EngineError::Failed(format!(
                "backup {} is still running: cancel it first",
                b.id.short()
            )));
        }
        set::remove(&b.path)?;
        self.catalog().delete_backup(b.id)?;
        self.log(
            Level::Info,
            Some(b.project_id),
            format!("backup {} of \"{}\" deleted", b.id.short(), b.project_name),
        );
        self.collect_storage_after_removal(&b).await;
        Ok(b)
    }
}
