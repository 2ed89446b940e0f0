//! At start: backups that were running when supabackup stopped are marked
//! `interrupted` and their partial folders removed. The catalog lock means
//! no other process can be running them.

use crate::domain::{BackupStatus, Level};
use crate::engine::{Engine, EngineError, set};

impl Engine {
    /// Marks running backups interrupted; returns how many.
    pub fn recover_interrupted(&self) -> Result<usize, EngineError> {
        // Sets fetched for a verify or restore that never finished: the
        // catalog is held while a fetch runs, so none is in use now.
        let staging = crate::engine::copies::staging_root(self);
        if staging.exists() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        let mut fixed = Vec::new();
        for mut b in self.catalog().backups()? {
            if b.status != BackupStatus::Running {
                continue;
            }
            let _ = set::remove_partial(&b.path);
            b.status = BackupStatus::Interrupted;
            b.error = Some(
                "supabackup stopped while this backup ran (killed, crashed or the machine went \
                 down); its incomplete files were removed: run the backup again"
                    .into(),
            );
            b.finished_at.get_or_insert_with(chrono::Utc::now);
            b.pid = None;
            fixed.push(b);
        }
        self.catalog().put_backups(&fixed)?;
        for b in &fixed {
            self.log(
                Level::Warning,
                Some(b.project_id),
                format!(
                    "backup {} of \"{}\" was interrupted",
                    b.id.short(),
                    b.project_name
                ),
            );
        }
        let mut jobs = Vec::new();
        for mut j in self.catalog().jobs()? {
            if j.last_run_status == Some(crate::domain::RunStatus::Running) {
                j.last_run_status = Some(crate::domain::RunStatus::Failed);
                jobs.push(j);
            }
        }
        for j in &jobs {
            self.catalog().put_job(j)?;
            self.log(
                Level::Warning,
                Some(j.project_id),
                format!("schedule \"{}\" was interrupted while it ran", j.name),
            );
        }
        Ok(fixed.len())
    }
}
