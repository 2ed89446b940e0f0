//! Checking a copy at a destination: fetched into a staging folder and
//! verified there. What the check finds goes on the record: a copy with a
//! file missing or changed is `damaged`, and the next sync replaces it.

use crate::domain::{Backup, BackupId, CopyStatus, Destination, Level};
use crate::engine::copies::Fetched;
use crate::engine::set::{Keys, VerifyReport, describe};
use crate::engine::{CancelToken, EngineError, Progress, Unlocked};
use std::sync::Arc;

impl Unlocked {
    /// Verifies the copy of backup `id` at `d`: every file fetched and
    /// checked against the copy's `SHA256SUMS`, then the staged set
    /// verified (decrypted with `keys` when they are given). A copy found
    /// damaged is recorded so (a wrong key is not damage); one found intact
    /// again is recorded copied. The staging folder lives as long as the
    /// returned `Fetched`.
    pub async fn verify_copy(
        &self,
        id: BackupId,
        d: &Destination,
        keys: &Keys,
        progress: Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<(Fetched, VerifyReport), EngineError> {
        let fetched = self.fetch_set(id, d, false, &progress, cancel).await?;
        let report = self.verify(&fetched.set_ref(), keys, progress).await?;
        self.record_copy_check(&fetched, &report)?;
        Ok((fetched, report))
    }

    /// Records what verifying a fetched copy found: damaged when a file was
    /// missing or changed (a wrong key is not damage), copied again when a
    /// copy recorded damaged is intact.
    pub fn record_copy_check(
        &self,
        fetched: &Fetched,
        report: &VerifyReport,
    ) -> Result<(), EngineError> {
        let d = self.find_destination(&fetched.destination)?;
        let b = self.backup_record(fetched.id)?;
        let mut problems = fetched.mismatched.clone();
        if !report.ok() && !report.wrong_key_only() {
            problems.push(describe(report));
        }
        if problems.is_empty() {
            self.note_copy_intact(&b, &d);
        } else {
            self.note_copy_damage(&b, &d, problems.join("; "));
        }
        Ok(())
    }

    /// Records the copy of `b` at `d` as damaged (`why`), unless it was
    /// never copied there.
    pub(crate) fn note_copy_damage(&self, b: &Backup, d: &Destination, why: String) {
        let Some(c) = b.extra.copy(d.id) else {
            return;
        };
        if matches!(c.status, CopyStatus::Pending | CopyStatus::Failed { .. }) {
            return;
        }
        let recorded = self.catalog().update_backup(b.id, |r| {
            r.extra
                .set_copy(d.id, CopyStatus::Damaged { error: why.clone() })
        });
        let line = match recorded {
            Ok(_) => format!(
                "the copy of backup {} at \"{}\" is damaged: {why}; recorded so, `supabackup \
                 sync` replaces it",
                b.id.short(),
                d.name
            ),
            Err(e) => format!(
                "the copy of backup {} at \"{}\" is damaged ({why}), but that could not be \
                 recorded: {e}",
                b.id.short(),
                d.name
            ),
        };
        self.log(Level::Error, Some(b.project_id), line);
    }

    /// Records a copy recorded damaged that a check found intact as copied.
    fn note_copy_intact(&self, b: &Backup, d: &Destination) {
        let damaged = b
            .extra
            .copy(d.id)
            .is_some_and(|c| matches!(c.status, CopyStatus::Damaged { .. }));
        if !damaged {
            return;
        }
        let recorded = self.catalog().update_backup(b.id, |r| {
            r.extra.set_copy_tried(d.id, CopyStatus::Copied, 0)
        });
        if recorded.is_ok() {
            self.log(
                Level::Info,
                Some(b.project_id),
                format!(
                    "the copy of backup {} at \"{}\" was checked and is intact again",
                    b.id.short(),
                    d.name
                ),
            );
        }
    }
}
