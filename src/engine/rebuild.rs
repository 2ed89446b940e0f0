//! Rebuilding backup records from the backup folder: when the catalog is
//! lost, or backups were copied from another machine. Every manifest under
//! the backup root is read and its checksums verified; unknown projects come
//! back as inactive placeholders (their connection string must be entered
//! again: it lived only in the lost catalog).

use crate::domain::{Backup, BackupStatus, Environment, Level, Project};
use crate::engine::manifest::{MANIFEST, Manifest};
use crate::engine::restore::check_checksums;
use crate::engine::session::secret_purpose;
use crate::engine::{Engine, EngineError};
use serde::Serialize;
use std::path::{Path, PathBuf};

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

/// Every folder holding a manifest.json, two levels below `root`
/// (`<root>/<project>/<backup>`), skipping `.partial`.
fn manifest_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(projects) = std::fs::read_dir(root) else {
        return out;
    };
    for p in projects.flatten().filter(|e| e.path().is_dir()) {
        let Ok(backups) = std::fs::read_dir(p.path()) else {
            continue;
        };
        for b in backups.flatten() {
            let path = b.path();
            if b.file_name() != ".partial" && path.join(MANIFEST).is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

impl Engine {
    /// Recreates missing backup records from the manifests under the backup root.
    pub fn rebuild_catalog(&self) -> Result<RebuildReport, EngineError> {
        let vault = self.vault()?;
        let root = self.backup_root()?;
        let mut report = RebuildReport::default();
        for dir in manifest_dirs(&root) {
            report.found += 1;
            let (manifest, manifest_sha) = match check_checksums(&dir, None) {
                Ok(m) => m,
                Err(e) => {
                    report.skipped.push((dir, e.to_string()));
                    continue;
                }
            };
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
                    db_url: vault.seal_str(&secret_purpose("db_url", &id), "")?,
                    service_key: None,
                    anon_key: None,
                    is_active: false,
                    created_at: now,
                    updated_at: now,
                };
                self.catalog().insert_project(&placeholder)?;
                report.placeholders.push(name);
            }
            self.catalog()
                .put_backup(&record_from(&manifest, manifest_sha, &dir))?;
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

fn record_from(m: &Manifest, manifest_sha: String, dir: &Path) -> Backup {
    Backup {
        id: m.id,
        project_id: m.project_id,
        project_name: m.project_name.clone(),
        kind: m.kind,
        profile: m.profile,
        compression: m.compression,
        status: BackupStatus::Completed,
        path: dir.to_path_buf(),
        bytes: m.parts.iter().map(|p| p.bytes).sum(),
        raw_bytes: m.parts.iter().map(|p| p.raw_bytes).sum(),
        rows: m.rows(),
        started_at: m.started_at,
        finished_at: Some(m.finished_at),
        manifest_sha256: Some(manifest_sha),
        error: None,
        pinned: false,
        job_id: None,
        server_version: Some(m.server_version.clone()),
        pg_dump_version: Some(m.pg_dump_version.clone()),
        parts: m.parts.clone(),
        pid: None,
    }
}
