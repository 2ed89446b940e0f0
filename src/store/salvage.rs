//! Replacing a damaged catalog file: it is moved aside (never deleted), a
//! new catalog is made in its place and the newest good copy of the old
//! one's configuration (vault, projects, schedules, settings) is put into it.

use crate::store::catalog::copies_dir;
use crate::store::copies::{Choice, CopyDir};
use crate::store::{Catalog, CatalogCopy, SCHEMA_VERSION, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Which copy a salvage restores.
#[derive(Debug, Clone, Copy)]
pub enum CopySource<'a> {
    /// The newest copy in `catalog-copies/` that reads back cleanly.
    Newest,
    /// This copy file.
    File(&'a Path),
}

/// What a salvage did, and where everything came from.
#[derive(Debug, Clone, Serialize)]
pub struct Salvage {
    /// The damage found; `None` when a readable catalog was replaced on
    /// request (`--from-copy`).
    pub damage: Option<String>,
    /// Where the old catalog file went, when there was one.
    pub moved_to: Option<PathBuf>,
    /// The copy restored, if any.
    pub copy: Option<PathBuf>,
    /// When that copy was taken.
    pub copy_written_at: Option<DateTime<Utc>>,
    /// Whether the master-password vault came back.
    pub vault: bool,
    /// Projects restored, by name.
    pub projects: Vec<String>,
    /// Schedules restored, by name.
    pub schedules: Vec<String>,
    /// Settings restored, by key.
    pub settings: Vec<String>,
    /// Copies that could not be used, and why.
    pub unusable_copies: Vec<(PathBuf, String)>,
    /// The folder the copies are in.
    pub copies_dir: PathBuf,
}

impl Catalog {
    /// Moves the catalog file at `path` aside to `<name>.damaged-<UTC time>`
    /// (`.replaced-` when `damage` is `None`), creates a new catalog there
    /// and restores `source` into it. The new catalog is closed again.
    pub fn salvage(
        path: &Path,
        source: CopySource<'_>,
        damage: Option<String>,
    ) -> Result<Salvage, StoreError> {
        let (chosen, unusable_copies) = choose(path, source)?;
        let label = if damage.is_some() {
            "damaged"
        } else {
            "replaced"
        };
        let moved_to = set_aside(path, label)?;
        let catalog = Catalog::open(path)?;
        let mut report = Salvage {
            damage,
            moved_to,
            copy: None,
            copy_written_at: None,
            vault: false,
            projects: Vec::new(),
            schedules: Vec::new(),
            settings: Vec::new(),
            unusable_copies,
            copies_dir: copies_dir(path),
        };
        if let Some((file, copy)) = chosen {
            catalog.restore_copy(&copy)?;
            report.copy = Some(file);
            report.copy_written_at = Some(copy.written_at);
            report.vault = copy.vault.is_some();
            report.projects = sorted(copy.projects.iter().map(|p| p.name.clone()));
            report.schedules = sorted(copy.jobs.iter().map(|j| j.name.clone()));
            report.settings = copy.settings.iter().map(|(k, _)| k.clone()).collect();
        }
        Ok(report)
    }
}

/// Names in the order lists show them (case-insensitive).
fn sorted(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut names: Vec<String> = names.collect();
    names.sort_by_key(|n| n.to_lowercase());
    names
}

/// The copy to restore, before anything is moved: a named copy that cannot
/// be used is an error.
fn choose(path: &Path, source: CopySource<'_>) -> Result<Choice, StoreError> {
    match source {
        CopySource::Newest => Ok(CopyDir::beside(path).newest_good(SCHEMA_VERSION)),
        CopySource::File(file) => {
            let unusable = |detail: String| StoreError::File {
                context: "cannot restore this copy of the catalog".into(),
                path: file.to_path_buf(),
                detail,
            };
            let copy = CatalogCopy::read(file).map_err(unusable)?;
            if copy.schema_version > SCHEMA_VERSION {
                return Err(unusable(format!(
                    "written by a newer supabackup (schema version {}): use the newer binary",
                    copy.schema_version
                )));
            }
            Ok((Some((file.to_path_buf(), copy)), Vec::new()))
        }
    }
}

/// Renames the file to `<name>.<label>-<UTC time>` (a free name); `None`
/// when there is no file.
fn set_aside(path: &Path, label: &str) -> Result<Option<PathBuf>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let base = format!("{}.{label}-{stamp}", path.display());
    let mut target = PathBuf::from(&base);
    let mut n = 2;
    while target.exists() {
        target = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    std::fs::rename(path, &target).map_err(|e| StoreError::File {
        context: "cannot move the damaged catalog aside: check the data dir's permissions".into(),
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Environment, Project, ProjectId, Sealed};

    #[test]
    fn a_damaged_catalog_is_moved_aside_and_its_copy_restored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        let id = ProjectId::new();
        {
            let c = Catalog::open(&path).unwrap();
            c.insert_project(&Project {
                id,
                name: "Shop".into(),
                description: String::new(),
                environment: Environment::Production,
                db_url: Sealed(vec![4, 5, 6]),
                service_key: None,
                anon_key: None,
                is_active: true,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                extra: Default::default(),
            })
            .unwrap();
            c.set_setting("concurrency", Some("3")).unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[..4096].fill(0);
        std::fs::write(&path, &bytes).unwrap();
        let err = Catalog::open(&path).unwrap_err();
        let report = Catalog::salvage(&path, CopySource::Newest, Some(err.to_string())).unwrap();
        let moved = report.moved_to.unwrap();
        assert!(moved.to_string_lossy().contains("catalog.redb.damaged-"));
        assert_eq!(std::fs::read(&moved).unwrap(), bytes, "kept as it was");
        assert_eq!(report.projects, vec!["Shop".to_string()]);
        assert_eq!(report.settings, vec!["concurrency".to_string()]);
        let c = Catalog::open(&path).unwrap();
        assert_eq!(
            c.project(id).unwrap().unwrap().db_url,
            Sealed(vec![4, 5, 6])
        );
        assert_eq!(c.setting("concurrency").unwrap().as_deref(), Some("3"));
    }

    #[test]
    fn without_copies_a_new_empty_catalog_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        std::fs::write(&path, b"not a database at all").unwrap();
        let report = Catalog::salvage(&path, CopySource::Newest, Some("x".into())).unwrap();
        assert!(report.moved_to.is_some());
        assert!(report.copy.is_none());
        assert!(Catalog::open(&path).unwrap().projects().unwrap().is_empty());
    }
}
