//! The `Catalog`: typed access to the redb file, one transaction per call.

use crate::domain::{
    Activity, Backup, BackupId, BackupJob, JobId, Project, ProjectId, Sealed, SecretSlot,
};
use crate::store::StoreError;
use crate::store::records::{self, decode, encode};
use crate::store::tables::*;
use crate::vault::VaultHeader;
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use std::path::{Path, PathBuf};

/// The schema version this binary writes and understands.
pub const SCHEMA_VERSION: u32 = 1;

/// The catalog, open and locked by this process.
pub struct Catalog {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Catalog({})", self.path.display())
    }
}

impl Catalog {
    /// Opens (or creates) the catalog file. A second process gets `InUse`;
    /// a file from a newer binary gets `TooNew`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.to_path_buf()),
            other => StoreError::Open {
                path: path.to_path_buf(),
                detail: other.to_string(),
            },
        })?;
        Self::init(db, path.to_path_buf())
    }

    /// A catalog in memory, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::Open {
                path: PathBuf::from(":memory:"),
                detail: e.to_string(),
            })?;
        Self::init(db, PathBuf::from(":memory:"))
    }

    fn init(db: Database, path: PathBuf) -> Result<Self, StoreError> {
        // Most opens find everything in place: check with a read so that a
        // plain open (or a refused password) commits nothing.
        if Self::is_current(&db)? {
            return Ok(Self { db, path });
        }
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta
                .get(META_SCHEMA_VERSION)?
                .map(|v| v.value().try_into().map(u32::from_le_bytes));
            match found {
                None => {
                    meta.insert(META_SCHEMA_VERSION, &SCHEMA_VERSION.to_le_bytes()[..])?;
                }
                Some(Ok(v)) if v > SCHEMA_VERSION => {
                    return Err(StoreError::TooNew {
                        found: v,
                        supported: SCHEMA_VERSION,
                        path,
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(_)) => {
                    return Err(StoreError::Corrupt {
                        table: "meta",
                        key: META_SCHEMA_VERSION.into(),
                        detail: "not a 4-byte number".into(),
                    });
                }
            }
            txn.open_table(PROJECTS)?;
            txn.open_table(PROJECT_NAMES)?;
            txn.open_table(BACKUPS)?;
            txn.open_table(JOBS)?;
            txn.open_table(JOB_NAMES)?;
            txn.open_table(SETTINGS)?;
            txn.open_table(ACTIVITY)?;
        }
        txn.commit()?;
        Ok(Self { db, path })
    }

    /// True when the schema version is current and every table exists (a
    /// newer schema is refused by `init`'s write path).
    fn is_current(db: &Database) -> Result<bool, StoreError> {
        let txn = db.begin_read()?;
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let version = meta
            .get(META_SCHEMA_VERSION)?
            .and_then(|v| v.value().try_into().ok().map(u32::from_le_bytes));
        Ok(version == Some(SCHEMA_VERSION)
            && txn.open_table(PROJECTS).is_ok()
            && txn.open_table(PROJECT_NAMES).is_ok()
            && txn.open_table(BACKUPS).is_ok()
            && txn.open_table(JOBS).is_ok()
            && txn.open_table(JOB_NAMES).is_ok()
            && txn.open_table(SETTINGS).is_ok()
            && txn.open_table(ACTIVITY).is_ok())
    }

    /// The catalog file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let v = meta.get(META_SCHEMA_VERSION)?;
        Ok(
            v.and_then(|v| v.value().try_into().ok().map(u32::from_le_bytes))
                .unwrap_or(0),
        )
    }

    // ---- vault ----

    /// The vault header, once a master password has been set.
    pub fn vault_header(&self) -> Result<Option<VaultHeader>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        match meta.get(META_VAULT)? {
            Some(v) => decode("meta", META_VAULT, v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Stores the header of a new vault. Refuses to replace an existing one.
    pub fn init_vault(&self, header: &VaultHeader) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            if meta.get(META_VAULT)?.is_some() {
                return Err(StoreError::NameTaken {
                    what: "vault",
                    name: "master password".into(),
                });
            }
            meta.insert(META_VAULT, encode(header).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Replaces the vault header and every project's sealed secrets in one
    /// transaction: `reseal` maps (slot, old sealed) to new sealed bytes.
    pub fn reseal_vault<E>(
        &self,
        header: &VaultHeader,
        mut reseal: impl FnMut(&Project, SecretSlot, &Sealed) -> Result<Sealed, E>,
    ) -> Result<Result<usize, E>, StoreError> {
        let txn = self.db.begin_write()?;
        let mut count = 0;
        {
            let mut projects = txn.open_table(PROJECTS)?;
            let all: Vec<Project> = records::all(&projects, "projects")?;
            for mut p in all {
                let snapshot = p.clone();
                for slot in SecretSlot::ALL {
                    if let Some(old) = snapshot.sealed(slot) {
                        match reseal(&snapshot, slot, old) {
                            Ok(s) => p.set_sealed(slot, Some(s)),
                            Err(e) => return Ok(Err(e)),
                        }
                    }
                }
                projects.insert(p.id.as_u128(), encode(&p).as_slice())?;
                count += 1;
            }
            let mut meta = txn.open_table(META)?;
            meta.insert(META_VAULT, encode(header).as_slice())?;
        }
        txn.commit()?;
        Ok(Ok(count))
    }

    // ---- projects ----

    /// Every project, sorted by name.
    pub fn projects(&self) -> Result<Vec<Project>, StoreError> {
        let txn = self.db.begin_read()?;
        let mut all: Vec<Project> = records::all(&txn.open_table(PROJECTS)?, "projects")?;
        all.sort_by_key(|p| p.name.to_lowercase());
        Ok(all)
    }

    /// One project by id.
    pub fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError> {
        let txn = self.db.begin_read()?;
        records::get(&txn.open_table(PROJECTS)?, "projects", id.as_u128())
    }

    /// A project by name (case-insensitive), full id, or short id.
    pub fn find_project(&self, key: &str) -> Result<Project, StoreError> {
        let txn = self.db.begin_read()?;
        let projects = txn.open_table(PROJECTS)?;
        let names = txn.open_table(PROJECT_NAMES)?;
        let id = match names.get(key.trim().to_lowercase().as_str())? {
            Some(id) => Some(id.value()),
            None => resolve_id(&projects, key)?,
        };
        let found = match id {
            Some(id) => records::get(&projects, "projects", id)?,
            None => None,
        };
        found.ok_or_else(|| StoreError::NotFound {
            what: "project",
            key: key.to_string(),
            list: "project list",
        })
    }

    /// Adds a project; its name must be unused.
    pub fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        self.put_project(project, None)
    }

    /// Replaces a project (renames keep the name index in step).
    pub fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let old = self
            .project(project.id)?
            .ok_or_else(|| StoreError::NotFound {
                what: "project",
                key: project.id.to_string(),
                list: "project list",
            })?;
        self.put_project(project, Some(&old.name))
    }

    fn put_project(&self, project: &Project, old_name: Option<&str>) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut names = txn.open_table(PROJECT_NAMES)?;
            let lower = project.name.to_lowercase();
            if let Some(existing) = names.get(lower.as_str())?
                && existing.value() != project.id.as_u128()
            {
                return Err(StoreError::NameTaken {
                    what: "project",
                    name: project.name.clone(),
                });
            }
            if let Some(old) = old_name {
                names.remove(old.to_lowercase().as_str())?;
            }
            names.insert(lower.as_str(), project.id.as_u128())?;
            let mut projects = txn.open_table(PROJECTS)?;
            projects.insert(project.id.as_u128(), encode(project).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes a project and its schedules; its backups stay (they are the
    /// user's copies) and keep the project's name.
    pub fn remove_project(&self, id: ProjectId) -> Result<usize, StoreError> {
        let txn = self.db.begin_write()?;
        let mut removed_jobs = 0;
        {
            let mut projects = txn.open_table(PROJECTS)?;
            let Some(p) = records::get::<Project>(&projects, "projects", id.as_u128())? else {
                return Err(StoreError::NotFound {
                    what: "project",
                    key: id.to_string(),
                    list: "project list",
                });
            };
            projects.remove(id.as_u128())?;
            txn.open_table(PROJECT_NAMES)?
                .remove(p.name.to_lowercase().as_str())?;
            let mut jobs = txn.open_table(JOBS)?;
            let mut job_names = txn.open_table(JOB_NAMES)?;
            let all: Vec<BackupJob> = records::all(&jobs, "backup_jobs")?;
            for j in all.iter().filter(|j| j.project_id == id) {
                jobs.remove(j.id.as_u128())?;
                job_names.remove(j.name.to_lowercase().as_str())?;
                removed_jobs += 1;
            }
        }
        txn.commit()?;
        Ok(removed_jobs)
    }

    // ---- backups ----

    /// Every backup, newest first.
    pub fn backups(&self) -> Result<Vec<Backup>, StoreError> {
        let txn = self.db.begin_read()?;
        let mut all: Vec<Backup> = records::all(&txn.open_table(BACKUPS)?, "backups")?;
        all.sort_by_key(|b| std::cmp::Reverse(b.started_at));
        Ok(all)
    }

    /// How many backup records there are.
    pub fn backup_count(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(BACKUPS)?.len()?)
    }

    /// One backup by id.
    pub fn backup(&self, id: BackupId) -> Result<Option<Backup>, StoreError> {
        let txn = self.db.begin_read()?;
        records::get(&txn.open_table(BACKUPS)?, "backups", id.as_u128())
    }

    /// A backup by full or short id (a unique prefix).
    pub fn find_backup(&self, key: &str) -> Result<Backup, StoreError> {
        let txn = self.db.begin_read()?;
        let backups = txn.open_table(BACKUPS)?;
        let found = match resolve_id(&backups, key)? {
            Some(id) => records::get(&backups, "backups", id)?,
            None => None,
        };
        found.ok_or_else(|| StoreError::NotFound {
            what: "backup",
            key: key.to_string(),
            list: "backups",
        })
    }

    /// Inserts or replaces a backup record.
    pub fn put_backup(&self, backup: &Backup) -> Result<(), StoreError> {
        self.put_backups(std::slice::from_ref(backup))
    }

    /// Inserts or replaces many backup records in one transaction.
    pub fn put_backups(&self, backups: &[Backup]) -> Result<(), StoreError> {
        if backups.is_empty() {
            // redb would still write and fsync an empty commit.
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(BACKUPS)?;
            for b in backups {
                table.insert(b.id.as_u128(), encode(b).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes a backup record (the caller removes its folder first).
    pub fn delete_backup(&self, id: BackupId) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let existed = txn.open_table(BACKUPS)?.remove(id.as_u128())?.is_some();
        txn.commit()?;
        Ok(existed)
    }

    // ---- jobs ----

    /// Every job, sorted by name.
    pub fn jobs(&self) -> Result<Vec<BackupJob>, StoreError> {
        let txn = self.db.begin_read()?;
        let mut all: Vec<BackupJob> = records::all(&txn.open_table(JOBS)?, "backup_jobs")?;
        all.sort_by_key(|j| j.name.to_lowercase());
        Ok(all)
    }

    /// One job by id.
    pub fn job(&self, id: JobId) -> Result<Option<BackupJob>, StoreError> {
        let txn = self.db.begin_read()?;
        records::get(&txn.open_table(JOBS)?, "backup_jobs", id.as_u128())
    }

    /// A job by name (case-insensitive) or id.
    pub fn find_job(&self, key: &str) -> Result<BackupJob, StoreError> {
        let txn = self.db.begin_read()?;
        let jobs = txn.open_table(JOBS)?;
        let names = txn.open_table(JOB_NAMES)?;
        let id = match names.get(key.trim().to_lowercase().as_str())? {
            Some(id) => Some(id.value()),
            None => resolve_id(&jobs, key)?,
        };
        let found = match id {
            Some(id) => records::get(&jobs, "backup_jobs", id)?,
            None => None,
        };
        found.ok_or_else(|| StoreError::NotFound {
            what: "schedule",
            key: key.to_string(),
            list: "schedule list",
        })
    }

    /// Inserts or replaces a job; its name must be unused by another job.
    pub fn put_job(&self, job: &BackupJob) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut jobs = txn.open_table(JOBS)?;
            let mut names = txn.open_table(JOB_NAMES)?;
            let lower = job.name.to_lowercase();
            if let Some(existing) = names.get(lower.as_str())?
                && existing.value() != job.id.as_u128()
            {
                return Err(StoreError::NameTaken {
                    what: "schedule",
                    name: job.name.clone(),
                });
            }
            if let Some(old) = records::get::<BackupJob>(&jobs, "backup_jobs", job.id.as_u128())? {
                names.remove(old.name.to_lowercase().as_str())?;
            }
            names.insert(lower.as_str(), job.id.as_u128())?;
            jobs.insert(job.id.as_u128(), encode(job).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes a job.
    pub fn remove_job(&self, id: JobId) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let existed;
        {
            let mut jobs = txn.open_table(JOBS)?;
            let old: Option<BackupJob> = records::get(&jobs, "backup_jobs", id.as_u128())?;
            existed = old.is_some();
            if let Some(old) = old {
                jobs.remove(id.as_u128())?;
                txn.open_table(JOB_NAMES)?
                    .remove(old.name.to_lowercase().as_str())?;
            }
        }
        txn.commit()?;
        Ok(existed)
    }

    // ---- settings ----

    /// A setting's value, if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SETTINGS)?;
        Ok(table.get(key)?.map(|v| v.value().to_string()))
    }

    /// Sets (or with `None`, clears) a setting.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(SETTINGS)?;
            match value {
                Some(v) => {
                    table.insert(key, v)?;
                }
                None => {
                    table.remove(key)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    // ---- activity ----

    /// Appends to the activity log.
    pub fn log(&self, entry: &Activity) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(ACTIVITY)?;
            let next = table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(0);
            table.insert(next, encode(entry).as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The newest `limit` activity entries, newest first.
    pub fn activity(&self, limit: usize) -> Result<Vec<Activity>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ACTIVITY)?;
        let mut out = Vec::new();
        for entry in table.iter()?.rev().take(limit) {
            let (k, v) = entry?;
            out.push(decode("activity", k.value(), v.value())?);
        }
        Ok(out)
    }
}

/// A full UUID, or a unique prefix of its hex form (at least 4 digits).
fn resolve_id(
    table: &impl ReadableTable<u128, &'static [u8]>,
    key: &str,
) -> Result<Option<u128>, StoreError> {
    let key = key.trim().to_ascii_lowercase();
    if let Ok(u) = uuid::Uuid::parse_str(&key) {
        return Ok(Some(u.as_u128()));
    }
    let prefix: String = key.chars().filter(|c| *c != '-').collect();
    if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let mut found = None;
    for entry in table.iter()? {
        let (k, _) = entry?;
        let hex = format!("{:032x}", k.value());
        if hex.starts_with(&prefix) {
            if found.is_some() {
                return Ok(None);
            }
            found = Some(k.value());
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Environment;
    use chrono::Utc;

    fn project(name: &str) -> Project {
        Project {
            id: ProjectId::new(),
            name: name.into(),
            description: String::new(),
            environment: Environment::Staging,
            db_url: Sealed(vec![1, 2, 3]),
            service_key: None,
            anon_key: None,
            is_active: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn project_names_are_unique_regardless_of_case() {
        let c = Catalog::in_memory().unwrap();
        let a = project("Shop");
        c.insert_project(&a).unwrap();
        assert!(matches!(
            c.insert_project(&project("shop")),
            Err(StoreError::NameTaken { .. })
        ));
        assert_eq!(c.find_project("SHOP").unwrap().id, a.id);
        assert_eq!(c.find_project(&a.id.short()).unwrap().id, a.id);
        let mut renamed = a.clone();
        renamed.name = "Store".into();
        c.update_project(&renamed).unwrap();
        assert!(c.find_project("shop").is_err());
        c.insert_project(&project("Shop")).unwrap();
        assert_eq!(c.projects().unwrap().len(), 2);
    }

    #[test]
    fn a_damaged_record_is_reported_not_a_panic() {
        let c = Catalog::in_memory().unwrap();
        let txn = c.db.begin_write().unwrap();
        txn.open_table(PROJECTS)
            .unwrap()
            .insert(7u128, &[0xff, 0xff, 0xff][..])
            .unwrap();
        txn.commit().unwrap();
        let err = c.projects().unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Corrupt {
                    table: "projects",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("damaged"));
    }

    #[test]
    fn settings_and_activity_round_trip() {
        let c = Catalog::in_memory().unwrap();
        c.set_setting("theme", Some("dark")).unwrap();
        assert_eq!(c.setting("theme").unwrap().as_deref(), Some("dark"));
        c.set_setting("theme", None).unwrap();
        assert_eq!(c.setting("theme").unwrap(), None);
        for i in 0..3 {
            c.log(&Activity::now(
                crate::domain::Level::Info,
                None,
                format!("e{i}"),
            ))
            .unwrap();
        }
        let recent = c.activity(2).unwrap();
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].message, "e2");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        {
            let c = Catalog::open(&path).unwrap();
            let txn = c.db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(META_SCHEMA_VERSION, &99u32.to_le_bytes()[..])
                .unwrap();
            txn.commit().unwrap();
        }
        let err = Catalog::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }

    #[test]
    fn a_second_open_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        let _first = Catalog::open(&path).unwrap();
        let err = Catalog::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::InUse(_)));
        assert!(
            err.to_string()
                .contains("in use by another supabackup process")
        );
    }
}
