//! Rebuilding backup records from the backup folder: when the catalog is
//! lost, or backups were copied from another machine. Every manifest under
//! the backup root is read and its checksums verified; unknown projects come
//! back as inactive placeholders (their connection string must be entered
//! again: it lived only in the lost catalog).

use crate::domain::{Environment, Level, Project, SecretSlot};
use crate::engine::set::{self, BackupSet};
use crate::engine::{EngineError, Unlocked};
use serde::Serialize;
use std::path::PathBuf;

/// What a rebuild did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RebuildReport {
    /// Backup folders found.
    pub found: usize,
    /// Records recreated.
    pub restored: usize,
    /// Already in the catalog.
    pub known: usize,
    /// Placeholder projects created.
    pub placeholders: Vec<String>,
    /// Folders skipped, and why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Unlocked {
    /// Recreates missing backup records from the manifests under the backup root.
    pub fn rebuild_catalog(&self) -> Result<RebuildReport, EngineError> {
        let root = self.backup_root()?;
        let mut report = RebuildReport::default();
        for dir in set::scan(&root) {
            report.found += 1;
            let found = match BackupSet::open_checked(&dir, None) {
                Ok(s) => s,
                Err(e) => {
                    report.skipped.push((dir, e.to_string()));
                    continue;
                }
            };
            let manifest = &found.manifest;
            if self.catalog().backup(manifest.id)?.is_some() {
                report.known += 1;
                continue;
            }
            if self.catalog().project(manifest.project_id)?.is_none() {
                let name = self.free_name(&manifest.project_name)?;
                let now = chrono::Utc::now();
                let id = manifest.project_id;
                let placeholder = Project {
                    id,
                    name: name.clone(),
                    description: format!(
                        "Recreated by `catalog rebuild` from {}: set its connection string with \
                         `supabackup project edit`",
                        dir.display()
                    ),
                    environment: manifest
                        .environment
                        .parse()
                        .unwrap_or(Environment::Development),
                    db_url: self.vault().seal_str(&SecretSlot::DbUrl.purpose(&id), "")?,
                    service_key: None,
                    anon_key: None,
                    is_active: false,
                    created_at: now,
                    updated_at: now,
                };
                self.catalog().insert_project(&placeholder)?;
                report.placeholders.push(name);
            }
            self.catalog().put_backup(&found.record())?;
            report.restored += 1;
        }
        self.log(
            Level::Info,
            None,
            format!(
                "catalog rebuild: {} backup folder(s), {} record(s) recreated, {} placeholder project(s), {} skipped",
                report.found,
                report.restored,
                report.placeholders.len(),
                report.skipped.len()
            ),
        );
        Ok(report)
    }

    /// `name`, or `name (2)`, `name (3)`... whichever is unused.
    fn free_name(&self, name: &str) -> Result<String, EngineError> {
        let base: String = name.chars().take(90).collect();
        let mut candidate = base.clone();
        let mut n = 2;
        while self.catalog().find_project(&candidate).is_ok() {
            candidate = format!("{base} ({n})");
            n += 1;
        }
        Ok(candidate)
    }
}
