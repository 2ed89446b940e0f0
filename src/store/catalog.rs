//! The `Catalog`: typed access to the redb file, one transaction per call.
//! Every redb call runs guarded: a damaged file (a corruption error, or a
//! panic inside redb) gives `StoreError::Damaged`, never a crash. Commits
//! that change the configuration refresh the copies in `catalog-copies/`.

mod backups;
mod copy;
mod destinations;
mod jobs;
mod projects;
mod vault;

use crate::store::copies::{COPIES_DIR, CopyDir};
use crate::store::tables::*;
use crate::store::{StoreError, guard};
use redb::{
    Database, DatabaseError, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The schema version this binary writes and understands.
pub const SCHEMA_VERSION: u32 = 2;

/// The catalog, open and locked by this process.
pub struct Catalog {
    /// `None` only while dropping.
    db: Option<Database>,
    path: PathBuf,
    /// `None` for a catalog in memory.
    copies: Option<CopyDir>,
    /// Set once the file showed damage: every later call says so.
    broken: AtomicBool,
}

/// Whether a commit changes what the copies hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The vault, projects, schedules or settings: refresh the copies.
    Config,
    /// Backup records, the activity log, the schema: no copy needed.
    Records,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Catalog({})", self.path.display())
    }
}

impl Drop for Catalog {
    fn drop(&mut self) {
        // Closing a damaged file can fail inside redb too.
        if let Some(db) = self.db.take() {
            let _ = guard::catch(move || drop(db));
        }
    }
}

impl Catalog {
    /// Opens (or creates) the catalog file and checks every page of it. A
    /// second process gets `InUse`; a file from a newer binary `TooNew`; a
    /// damaged file `Damaged`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let copies = CopyDir::beside(path);
        let empty = std::fs::metadata(path).is_ok_and(|m| m.len() == 0);
        if empty && copies.has_latest() {
            // redb would start afresh in an empty file; with copies around,
            // this catalog had content and lost it.
            return Err(damaged(path, "the file is empty".into()));
        }
        let db = match guard::catch(|| open_checked(path)) {
            Ok(opened) => opened?,
            Err(panic) => {
                return Err(damaged(
                    path,
                    format!("the file could not be read: {panic}"),
                ));
            }
        };
        let catalog = Self {
            db: Some(db),
            path: path.to_path_buf(),
            copies: Some(copies),
            broken: AtomicBool::new(false),
        };
        catalog.init()?;
        if catalog.copies.as_ref().is_some_and(|c| !c.has_latest()) {
            catalog.refresh_copies();
        }
        Ok(catalog)
    }

    /// A catalog in memory, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| StoreError::Open {
                path: PathBuf::from(":memory:"),
                detail: e.to_string(),
            })?;
        let catalog = Self {
            db: Some(db),
            path: PathBuf::from(":memory:"),
            copies: None,
            broken: AtomicBool::new(false),
        };
        catalog.init()?;
        Ok(catalog)
    }

    fn init(&self) -> Result<(), StoreError> {
        // Most opens find everything in place: check with a read so that a
        // plain open (or a refused password) commits nothing.
        if self.read(is_current)? {
            return Ok(());
        }
        let path = self.path.clone();
        // A migration changes the records the copies hold: refresh them.
        self.write(Scope::Config, move |txn| {
            {
                let mut meta = txn.open_table(META)?;
                let found = meta
                    .get(META_SCHEMA_VERSION)?
                    .map(|v| v.value().try_into().map(u32::from_le_bytes));
                match found {
                    None => {
                        meta.insert(META_SCHEMA_VERSION, &SCHEMA_VERSION.to_le_bytes()[..])?;
                    }
                    Some(Ok(v)) if v < SCHEMA_VERSION => {
                        migrate(txn, v)?;
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
                if meta.get(META_CATALOG_ID)?.is_none() {
                    let id = uuid::Uuid::new_v4().as_u128();
                    meta.insert(META_CATALOG_ID, &id.to_le_bytes()[..])?;
                }
            }
            txn.open_table(PROJECTS)?;
            txn.open_table(PROJECT_NAMES)?;
            txn.open_table(BACKUPS)?;
            txn.open_table(JOBS)?;
            txn.open_table(JOB_NAMES)?;
            txn.open_table(DESTINATIONS)?;
            txn.open_table(DESTINATION_NAMES)?;
            txn.open_table(SETTINGS)?;
            txn.open_table(ACTIVITY)?;
            Ok(())
        })
    }

    /// The catalog file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder of this catalog's copies.
    pub fn copies_dir(&self) -> PathBuf {
        copies_dir(&self.path)
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.read(|txn| {
            let meta = txn.open_table(META)?;
            let v = meta.get(META_SCHEMA_VERSION)?;
            Ok(
                v.and_then(|v| v.value().try_into().ok().map(u32::from_le_bytes))
                    .unwrap_or(0),
            )
        })
    }

    // ---- guarded access ----

    /// Runs `f` on the database; a panic inside redb or an error that means
    /// the file is damaged becomes `Damaged` (and so does every later call).
    fn guarded<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(self.damaged("an earlier read of the file failed".into()));
        }
        let Some(db) = self.db.as_ref() else {
            return Err(self.damaged("the file is closed".into()));
        };
        match guard::catch(|| f(db)) {
            Ok(Err(StoreError::Db(e))) => match guard::damage(&e) {
                Some(detail) => {
                    self.broken.store(true, Ordering::SeqCst);
                    Err(self.damaged(detail))
                }
                None => Err(StoreError::Db(e)),
            },
            Ok(done) => done,
            Err(panic) => {
                self.broken.store(true, Ordering::SeqCst);
                Err(self.damaged(format!("the file could not be read: {panic}")))
            }
        }
    }

    /// A read transaction.
    fn read<T>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.guarded(|db| f(&db.begin_read()?))
    }

    /// A write transaction, committed when `f` succeeds; a `Config` commit
    /// refreshes the copies.
    fn write<T>(
        &self,
        scope: Scope,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let out = self.guarded(|db| {
            let txn = db.begin_write()?;
            let out = f(&txn)?;
            txn.commit()?;
            Ok(out)
        })?;
        if scope == Scope::Config {
            self.refresh_copies();
        }
        Ok(out)
    }

    fn damaged(&self, detail: String) -> StoreError {
        damaged(&self.path, detail)
    }
}

/// Opens the file with redb and checks every page's checksum (a file that
/// was not closed cleanly is repaired first, by redb).
fn open_checked(path: &Path) -> Result<Database, StoreError> {
    // Owner-only: it holds the sealed secrets (made so before redb writes
    // to it; an older catalog made with the umask's mode is tightened).
    crate::store::owner_only_file(path).map_err(|e| StoreError::Open {
        path: path.to_path_buf(),
        detail: format!("cannot make it owner-only: {e}"),
    })?;
    let mut db = Database::create(path).map_err(|e| open_error(path, e))?;
    db.check_integrity().map_err(|e| open_error(path, e))?;
    Ok(db)
}

fn open_error(path: &Path, e: DatabaseError) -> StoreError {
    match e {
        DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.to_path_buf()),
        other => {
            let e = redb::Error::from(other);
            match guard::damage(&e) {
                Some(detail) => damaged(path, detail),
                None => StoreError::Open {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                },
            }
        }
    }
}

/// Brings the records of schema `from` up to the current one, in the
/// opening write transaction (all or nothing).
///
/// 1 → 2: projects, schedules and backups end in an `Extra` (JSON text that
/// later fields go into without another migration); an older record gets an
/// empty one, which postcard writes as one zero byte.
fn migrate(txn: &WriteTransaction, from: u32) -> Result<(), StoreError> {
    if from < 2 {
        for table in [PROJECTS, JOBS, BACKUPS] {
            let mut t = txn.open_table(table)?;
            let old: Vec<(u128, Vec<u8>)> = t
                .iter()?
                .map(|e| e.map(|(k, v)| (k.value(), v.value().to_vec())))
                .collect::<Result<_, _>>()?;
            for (key, mut bytes) in old {
                bytes.push(0);
                t.insert(key, bytes.as_slice())?;
            }
        }
    }
    Ok(())
}

/// True when the schema version is current, the catalog has its identity
/// and every table exists (a newer schema is refused by `init`'s write path).
fn is_current(txn: &ReadTransaction) -> Result<bool, StoreError> {
    let meta = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let version = meta
        .get(META_SCHEMA_VERSION)?
        .and_then(|v| v.value().try_into().ok().map(u32::from_le_bytes));
    Ok(version == Some(SCHEMA_VERSION)
        && meta.get(META_CATALOG_ID)?.is_some()
        && txn.open_table(PROJECTS).is_ok()
        && txn.open_table(PROJECT_NAMES).is_ok()
        && txn.open_table(BACKUPS).is_ok()
        && txn.open_table(JOBS).is_ok()
        && txn.open_table(JOB_NAMES).is_ok()
        && txn.open_table(DESTINATIONS).is_ok()
        && txn.open_table(DESTINATION_NAMES).is_ok()
        && txn.open_table(SETTINGS).is_ok()
        && txn.open_table(ACTIVITY).is_ok())
}

/// `catalog-copies/` beside the catalog file.
pub(crate) fn copies_dir(catalog: &Path) -> PathBuf {
    catalog.parent().unwrap_or(Path::new(".")).join(COPIES_DIR)
}

/// The damaged-catalog error for the file at `path`.
pub(crate) fn damaged(path: &Path, detail: String) -> StoreError {
    StoreError::Damaged {
        path: path.to_path_buf(),
        copies: copies_dir(path),
        detail,
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
mod tests;
