//! Verifying a backup: the set's checks (see `set::check`), its Storage
//! files among them, logged.

use crate::domain::Level;
use crate::engine::set::{BackupSet, Keys, SetRef, VerifyReport, describe, verify_dir_with};
use crate::engine::{Engine, EngineError, Progress};
use std::sync::Arc;

impl Engine {
    /// Verifies a set (by id or folder): every checksum; every part
    /// decompressed to its end (decrypted with `keys` first when the set is
    /// encrypted; without keys an encrypted set gets its checksums checked).
    pub async fn verify(
        &self,
        set: &SetRef,
        keys: &Keys,
        progress: Arc<Progress>,
    ) -> Result<VerifyReport, EngineError> {
        let (dir, expected, record) = self.locate_set(set)?;
        // A set fetched from a destination: its Storage files are in the
        // staging folder when fetched with it, else in the local store.
        let objects = match set {
            SetRef::Fetched { .. } => BackupSet::open(&dir)
                .ok()
                .and_then(|found| self.store_for(&found, set).ok()),
            _ => None,
        };
        let exp = expected.clone();
        let (p, k) = (progress.clone(), keys.clone());
        let d = dir.clone();
        let report = tokio::task::spawn_blocking(move || {
            verify_dir_with(&d, objects, exp.as_deref(), &k, &p)
        })
        .await
        .map_err(|e| EngineError::Failed(e.to_string()))?;
        progress.finish();
        let project = record.as_ref().map(|b| b.project_id);
        if report.ok() {
            self.log(
                Level::Info,
                project,
                format!("verified {}: intact", dir.display()),
            );
        } else {
            self.log(
                Level::Error,
                project,
                format!(
                    "verify of {} found damage: {}",
                    dir.display(),
                    describe(&report)
                ),
            );
        }
        Ok(report)
    }
}
