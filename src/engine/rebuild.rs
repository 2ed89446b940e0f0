//! Rebuilding the catalog. A damaged catalog file is first moved aside and
//! replaced by a new one holding the newest good copy of its configuration
//! (the vault, projects with their sealed secrets, schedules, settings).
//! Then backup records are recreated from the backup folder: every manifest
//! under the backup root is read and its checksums verified; projects no
//! copy knew come back as inactive placeholders (their connection string
//! must be entered again).

use crate::datadir::DataDir;
use crate::domain::{CopyStatus, Destination, Environment, Level, Project, SecretSlot};
use crate::engine::copies::Staging;
use crate::engine::destinations::remote_error;
use crate::engine::remote::{Remote, RemoteError};
use crate::engine::set::{self, BackupSet};
use crate::engine::{Engine, EngineError, Unlocked};
use crate::store::{Catalog, CopySource, Salvage, StoreError};
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
    /// In the catalog as not completed (interrupted, failed) while their
    /// set is complete on disk: recorded as completed.
    pub reconciled: usize,
    /// Placeholder projects created.
    pub placeholders: Vec<String>,
    /// Folders skipped, and why.
    pub skipped: Vec<(PathBuf, String)>,
    /// When the catalog file was replaced first: what came from which copy.
    pub salvage: Option<Salvage>,
}

impl Engine {
    /// Opens the catalog for `catalog rebuild`. A readable catalog opens as
    /// usual (and every record of it is read once). A damaged one, or any
    /// with `from_copy`, is moved aside and replaced by a new catalog holding
    /// the newest good copy's vault, projects, schedules and settings (or
    /// `from_copy`'s); the report says what came from where.
    pub fn open_for_rebuild(
        data_dir: DataDir,
        from_copy: Option<&Path>,
    ) -> Result<(Engine, Option<Salvage>), EngineError> {
        let damage = match Engine::open(data_dir.clone()) {
            Ok(engine) => match engine.catalog().check() {
                Ok(()) if from_copy.is_none() => return Ok((engine, None)),
                Ok(()) => None,
                Err(e) => Some(damage_detail(e)?),
            },
            Err(EngineError::Store(e)) => Some(damage_detail(e)?),
            Err(e) => return Err(e),
        };
        let source = from_copy.map_or(CopySource::Newest, CopySource::File);
        let salvage = Catalog::salvage(&data_dir.catalog_path(), source, damage)?;
        let engine = Engine::open(data_dir)?;
        engine.log(Level::Warning, None, salvage_summary(&salvage));
        Ok((engine, Some(salvage)))
    }
}

/// What is damaged, or the error itself when it is not damage (busy, too
/// new, unwritable: a rebuild cannot help).
fn damage_detail(e: StoreError) -> Result<String, EngineError> {
    match e {
        StoreError::Damaged { detail, .. } => Ok(detail),
        StoreError::Corrupt {
            table, key, detail, ..
        } => Ok(format!("record {table}/{key} does not decode: {detail}")),
        other => Err(other.into()),
    }
}

/// One line for the activity log.
fn salvage_summary(s: &Salvage) -> String {
    let moved = match &s.moved_to {
        Some(p) => format!("the old file was moved to {}", p.display()),
        None => "there was no old file".to_string(),
    };
    let restored = match &s.copy {
        Some(copy) => format!(
            "{} project(s), {} schedule(s), {} setting(s){} restored from {}",
            s.projects.len(),
            s.schedules.len(),
            s.settings.len(),
            if s.vault { " and the vault" } else { "" },
            copy.display()
        ),
        None => "no usable copy was found".to_string(),
    };
    let why = s.damage.as_deref().unwrap_or("asked for with --from-copy");
    format!("catalog replaced ({why}): {moved}; {restored}")
}

impl Unlocked {
    /// Recreates missing backup records from the manifests under the backup root.
    pub fn rebuild_catalog(&self) -> Result<RebuildReport, EngineError> {
        let root = self.backup_root()?;
        let mut report = RebuildReport::default();
        for dir in set::scan(&root) {
            report.found += 1;
            let found = match BackupSet::open_checked(&dir, None, set::Sums::ManifestOnly) {
                Ok(s) => s,
                Err(e) => {
                    report.skipped.push((dir, e.to_string()));
                    continue;
                }
            };
            let manifest = &found.manifest;
            if let Some(known) = self.catalog().backup(manifest.id)? {
                if self.reconcile(&known, &found)? {
                    report.reconciled += 1;
                } else {
                    report.known += 1;
                }
                continue;
            }
            self.ensure_project(manifest, &dir.display().to_string(), &mut report)?;
            self.catalog().put_backup(&found.record())?;
            report.restored += 1;
        }
        self.log(
            Level::Info,
            None,
            format!(
                "catalog rebuild: {} backup folder(s), {} record(s) recreated, {} corrected, {} placeholder project(s), {} skipped",
                report.found,
                report.restored,
                report.reconciled,
                report.placeholders.len(),
                report.skipped.len()
            ),
        );
        Ok(report)
    }

    /// A record that says a backup did not complete while its set is
    /// complete on disk (manifest, `SHA256SUMS` and every file agreeing):
    /// recorded as completed. Returns whether it was.
    fn reconcile(
        &self,
        known: &crate::domain::Backup,
        found: &BackupSet,
    ) -> Result<bool, EngineError> {
        use crate::domain::BackupStatus;
        if matches!(
            known.status,
            BackupStatus::Completed | BackupStatus::Running
        ) || found.check_sums().is_err()
        {
            return Ok(false);
        }
        let fixed = crate::engine::recover::completed_from_disk(known, found);
        self.catalog().put_backup(&fixed)?;
        self.log(
            Level::Warning,
            Some(fixed.project_id),
            format!(
                "catalog rebuild: backup {} of \"{}\" was recorded as {}, but its set is \
                 complete at {}: recorded as completed",
                known.id.short(),
                known.project_name,
                known.status,
                found.dir.display()
            ),
        );
        Ok(true)
    }

    /// Creates an inactive placeholder for the set's project when the
    /// catalog does not know it (its connection string must be entered).
    fn ensure_project(
        &self,
        manifest: &set::Manifest,
        source: &str,
        report: &mut RebuildReport,
    ) -> Result<(), EngineError> {
        if self.catalog().project(manifest.project_id)?.is_some() {
            return Ok(());
        }
        let name = self.free_name(&manifest.project_name)?;
        let now = chrono::Utc::now();
        let id = manifest.project_id;
        let placeholder = Project {
            id,
            name: name.clone(),
            description: format!(
                "Recreated by `catalog rebuild` from {source}: set its connection string with \
                 `supabackup project edit`"
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
            extra: Default::default(),
        };
        self.catalog().insert_project(&placeholder)?;
        report.placeholders.push(name);
        Ok(())
    }

    /// Recreates records from the complete sets at a destination (those
    /// with `SHA256SUMS`, whose manifest matches it): on a fresh machine,
    /// after adding the destination. The files stay there (the records say
    /// the backups are kept remote-only, unless the set is also under the
    /// local backup root); a known backup gets the copy noted.
    pub async fn rebuild_from_destination(
        &self,
        d: &Destination,
    ) -> Result<RebuildReport, EngineError> {
        let remote = self.remote(d)?;
        let root = self.backup_root()?;
        let err = |e| remote_error(d, e);
        let mut report = RebuildReport::default();
        for slug in remote.list_dirs("").await.map_err(err)? {
            if slug.starts_with('.') {
                continue;
            }
            for name in remote.list_dirs(&slug).await.map_err(err)? {
                // `objects/` holds the project's Storage files, not a set.
                if name.starts_with('.') || name == crate::engine::storage::OBJECTS_DIR {
                    continue;
                }
                report.found += 1;
                let prefix = format!("{slug}/{name}");
                let shown = PathBuf::from(format!("{}:{prefix}", d.name));
                let tmp = Staging::new(self, "rebuild")?;
                let found = match fetch_small_files(&remote, &prefix, tmp.path()).await {
                    Ok(()) => BackupSet::open(tmp.path()),
                    Err(why) => Err(EngineError::Failed(why)),
                };
                let found = match found.and_then(|f| check_small_files(&f).map(|()| f)) {
                    Ok(f) => f,
                    Err(e) => {
                        report.skipped.push((shown, e.to_string()));
                        continue;
                    }
                };
                let manifest = &found.manifest;
                if let Some(known) = self.catalog().backup(manifest.id)? {
                    if known.extra.copy(d.id).is_none() {
                        self.catalog().update_backup(known.id, |b| {
                            b.extra.set_copy(d.id, CopyStatus::Copied)
                        })?;
                    }
                    report.known += 1;
                    continue;
                }
                self.ensure_project(manifest, &format!("\"{}\"", d.name), &mut report)?;
                let mut record = found.record();
                record.path = root.join(&slug).join(&name);
                record.extra.remote_only = !record.path.is_dir();
                record.extra.set_copy(d.id, CopyStatus::Copied);
                self.catalog().put_backup(&record)?;
                report.restored += 1;
            }
        }
        self.log(
            Level::Info,
            None,
            format!(
                "catalog rebuild from \"{}\": {} set(s), {} record(s) recreated, {} placeholder project(s), {} skipped",
                d.name,
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

/// Downloads a remote set's `SHA256SUMS`, `manifest.json` and details file
/// into `dir`; says why not in words.
async fn fetch_small_files(remote: &Remote, prefix: &str, dir: &Path) -> Result<(), String> {
    let sums = match remote.get_bytes(&format!("{prefix}/{}", set::SUMS)).await {
        Ok(b) => b,
        Err(RemoteError::NotFound { .. }) => {
            return Err(format!(
                "incomplete (no {}): an upload that did not finish",
                set::SUMS
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    let text = String::from_utf8_lossy(&sums).into_owned();
    for (_, file) in set::parse_sums(&text) {
        let small = file == set::MANIFEST || file.starts_with(set::DETAILS);
        if !small || file.contains('/') {
            continue;
        }
        let bytes = remote
            .get_bytes(&format!("{prefix}/{file}"))
            .await
            .map_err(|e| e.to_string())?;
        std::fs::write(dir.join(&file), bytes).map_err(|e| e.to_string())?;
    }
    std::fs::write(dir.join(set::SUMS), text.as_bytes()).map_err(|e| e.to_string())
}

/// Checks the small files fetched against `SHA256SUMS` (and that it lists
/// every part the manifest names).
fn check_small_files(found: &BackupSet) -> Result<(), EngineError> {
    let sums = set::read_sums(&found.dir)?;
    let listed = |file: &str| {
        sums.iter()
            .find(|(_, f)| f == file)
            .map(|(s, _)| s.as_str())
    };
    if listed(set::MANIFEST) != Some(found.manifest_sha.as_str()) {
        return Err(EngineError::Failed(format!(
            "{} does not match {}: the set was changed",
            set::MANIFEST,
            set::SUMS
        )));
    }
    for p in &found.manifest.parts {
        if listed(&p.file) != Some(p.sha256.as_str()) {
            return Err(EngineError::Failed(format!(
                "{} and {} disagree about {}",
                set::SUMS,
                set::MANIFEST,
                p.file
            )));
        }
    }
    if let Some(d) = &found.manifest.details {
        let (_, sha) = set::codec::sha256_file(&found.dir.join(&d.file))
            .map_err(|e| EngineError::io("cannot read", found.dir.join(&d.file), e))?;
        if sha != d.sha256 {
            return Err(EngineError::Failed(format!("{} is damaged", d.file)));
        }
    }
    Ok(())
}
