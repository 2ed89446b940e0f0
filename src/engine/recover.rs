//! At start: backups that were running when supabackup stopped. One whose
//! folder was already moved into place whole (manifest and `SHA256SUMS`
//! there and matching every file: the process died between promoting the
//! set and recording it) is recorded as completed; any other is marked
//! `interrupted` and what it left is removed. The catalog lock means no
//! other process can be running them.

use crate::domain::{Backup, BackupStatus, Level};
use crate::engine::set::{self, BackupSet, Sums};
use crate::engine::{Engine, EngineError};

/// The record of a backup whose set on disk is complete: what the set says,
/// with what only the record knows (its schedule, pin, copies) kept.
pub(crate) fn completed_from_disk(old: &Backup, found: &BackupSet) -> Backup {
    let mut b = found.record();
    b.path = found.dir.clone();
    b.job_id = old.job_id;
    b.pinned = old.pinned;
    b.extra.copies = old.extra.copies.clone();
    b.extra.remote_only = old.extra.remote_only;
    if b.extra.warnings.is_empty() {
        b.extra.warnings = old.extra.warnings.clone();
    }
    b
}

/// The set of a record, when its folder is complete: the manifest is the
/// record's, `SHA256SUMS` is there, and every file matches both. Blocking
/// (hashes every file).
pub(crate) fn complete_set(b: &Backup) -> Option<BackupSet> {
    if !b.path.join(set::MANIFEST).is_file() {
        return None;
    }
    let found = BackupSet::open_checked(&b.path, None, Sums::Required).ok()?;
    (found.manifest.id == b.id).then_some(found)
}

impl Engine {
    /// Settles the backups that were running: completed when their set is
    /// complete on disk, else interrupted with what they left removed.
    /// Returns how many were settled.
    pub fn recover_interrupted(&self) -> Result<usize, EngineError> {
        // Sets fetched for a verify or restore that never finished: the
        // catalog is held while a fetch runs, so none is in use now.
        let staging = crate::engine::copies::staging_root(self);
        if staging.exists() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        let mut fixed = Vec::new();
        let mut notes = Vec::new();
        for b in self.catalog().backups()? {
            if b.status != BackupStatus::Running {
                continue;
            }
            let (record, note) = self.settle(b);
            fixed.push(record);
            notes.push(note);
        }
        self.catalog().put_backups(&fixed)?;
        for (b, (level, note)) in fixed.iter().zip(notes) {
            self.log(level, Some(b.project_id), note);
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

    /// One running backup settled, and the line for the activity log.
    fn settle(&self, mut b: Backup) -> (Backup, (Level, String)) {
        if let Some(found) = complete_set(&b) {
            let _ = set::remove_partial(&b.path);
            let done = completed_from_disk(&b, &found);
            let note = format!(
                "backup {} of \"{}\": supabackup stopped after its files were complete and in \
                 place, before recording it; checked and recorded as completed (its copies are \
                 made by the next sync)",
                b.id.short(),
                b.project_name
            );
            return (done, (Level::Warning, note));
        }
        // Incomplete: nothing of it may look like a backup.
        let _ = set::remove(&b.path);
        b.status = BackupStatus::Interrupted;
        b.error = Some(
            "supabackup stopped while this backup ran (killed, crashed or the machine went \
             down); its incomplete files were removed: run the backup again"
                .into(),
        );
        b.finished_at.get_or_insert_with(chrono::Utc::now);
        b.pid = None;
        let note = format!(
            "backup {} of \"{}\" was interrupted",
            b.id.short(),
            b.project_name
        );
        (b, (Level::Warning, note))
    }
}

/// The environment variable naming the test crash point.
pub const CRASH_AT_ENV: &str = "SUPABACKUP_TEST_CRASH_AT";

/// Test hook for the crash tests: in a debug build, when
/// `SUPABACKUP_TEST_CRASH_AT` names `point`, the process dies here at once
/// (SIGKILL, as `kill -9` or a power cut: no destructor runs, nothing more
/// is written). Points: `set-promoted` (a backup's folder moved into place,
/// not yet recorded in the catalog). Release builds never read it.
pub(crate) fn crash_point(point: &str) {
    if cfg!(debug_assertions) && std::env::var(CRASH_AT_ENV).as_deref() == Ok(point) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::process::id().to_string()])
            .status();
        std::process::abort();
    }
}
