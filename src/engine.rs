//! The engine: everything the desktop app and the CLI do, on top of the
//! catalog, the vault and the PostgreSQL tools. Never imports egui.

mod autorun;
mod backup;
mod cancel;
mod child;
mod copies;
mod destinations;
mod drill;
mod dump;
mod error;
mod export;
mod history;
mod hold;
mod jobs;
pub mod lease;
mod platform;
mod profile;
mod progress;
mod projects;
mod rebuild;
mod recover;
pub mod remote;
mod restore;
mod scheduler;
mod session;
pub mod set;
mod settings;
mod sqlfilter;
mod sqlstream;
pub mod storage;
mod test_connection;
mod tools;
mod verify;
mod view;

pub use autorun::{NoHooks, RunHooks, RunReport};
pub use backup::BackupRequest;
pub use cancel::CancelToken;
pub use copies::{Fetched, SyncReport, remote_prefix};
pub use destinations::{DestinationInput, DestinationView};
pub use drill::{BucketMismatch, DrillReport, DrillRequest, RowMismatch};
pub use error::EngineError;
pub use history::BackupFilter;
pub use jobs::JobInput;
pub use progress::Progress;
pub use projects::{EncryptionChange, ProjectChanges, ProjectPatch, ProjectView};
pub use rebuild::RebuildReport;
pub use restore::{RestoreReport, RestoreRequest};
pub use scheduler::{Scheduler, Source as SchedulerSource};
pub use session::{Unlocked, VaultState};
pub use set::{Keys, Manifest, PartCheck, SetRef, VerifyReport, describe as describe_problems};
pub use test_connection::{StorageTest, TestReport};
pub use tools::{ToolsRequest, ToolsSource};
pub use view::FolderSet;

use crate::datadir::DataDir;
use crate::domain::{Activity, Level, ProjectId};
use crate::store::Catalog;
use std::io::Write;
use std::sync::Arc;

/// A handle on the engine; clones share the same catalog and vault.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: DataDir,
    catalog: Catalog,
    /// Scheduled backups running at once, engine-wide (the concurrency setting).
    run_slots: Arc<tokio::sync::Semaphore>,
    /// How many permits `run_slots` was given in all.
    run_slot_total: std::sync::atomic::AtomicUsize,
    /// One lock per project: at most one backup of a project at a time.
    project_locks:
        std::sync::Mutex<std::collections::HashMap<ProjectId, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Engine({})", self.inner.data_dir.root.display())
    }
}

impl Engine {
    /// Opens the data dir (creating it) and its catalog.
    pub fn open(data_dir: DataDir) -> Result<Self, EngineError> {
        data_dir
            .ensure()
            .map_err(|e| EngineError::io("cannot create the data dir", &data_dir.root, e))?;
        let catalog = Catalog::open(&data_dir.catalog_path())?;
        let engine = Self {
            inner: Arc::new(Inner {
                data_dir,
                catalog,
                run_slots: Arc::new(tokio::sync::Semaphore::new(0)),
                run_slot_total: std::sync::atomic::AtomicUsize::new(0),
                project_locks: Default::default(),
            }),
        };
        engine.resize_run_slots(engine.concurrency()?);
        engine.recover_interrupted()?;
        Ok(engine)
    }

    /// The data dir.
    pub fn data_dir(&self) -> &DataDir {
        &self.inner.data_dir
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// Makes `n` scheduled backups able to run at once (a running one is not
    /// interrupted when the limit drops).
    pub(crate) fn resize_run_slots(&self, n: usize) {
        let n = n.max(1);
        let old = self
            .inner
            .run_slot_total
            .swap(n, std::sync::atomic::Ordering::SeqCst);
        if n > old {
            self.inner.run_slots.add_permits(n - old);
        } else {
            self.inner.run_slots.forget_permits(old - n);
        }
    }

    /// The slots scheduled backups take (as many as the concurrency setting).
    pub(crate) fn run_slots(&self) -> Arc<tokio::sync::Semaphore> {
        self.inner.run_slots.clone()
    }

    /// The lock that serialises backups of one project.
    pub(crate) fn project_lock(&self, id: ProjectId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = match self.inner.project_locks.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(id).or_default().clone()
    }

    /// Records an activity entry in the catalog and the text log.
    /// A failure to log is reported on stderr, never fatal.
    pub fn log(&self, level: Level, project: Option<ProjectId>, message: impl Into<String>) {
        let entry = Activity::now(level, project, message);
        if let Err(e) = self.inner.catalog.log(&entry) {
            eprintln!("warning: could not write the activity log: {e}");
        }
        let line = format!(
            "{} {:?} {}\n",
            entry.at.format("%Y-%m-%dT%H:%M:%SZ"),
            entry.level,
            entry.message
        );
        let path = self.inner.data_dir.root.join("supabackup.log");
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = options
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            eprintln!("warning: could not write {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SettingKey;

    #[test]
    fn run_slots_follow_the_concurrency_setting() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(DataDir::resolve(Some(dir.path())).unwrap()).unwrap();
        let free = || engine.inner.run_slots.available_permits();
        assert_eq!(free(), 2);
        engine.set_setting(SettingKey::Concurrency, "5").unwrap();
        assert_eq!(free(), 5);
        engine.unset_setting(SettingKey::Concurrency).unwrap();
        assert_eq!(free(), 2, "back to the default");
        drop(engine);
        let engine = Engine::open(DataDir::resolve(Some(dir.path())).unwrap()).unwrap();
        assert_eq!(engine.inner.run_slots.available_permits(), 2);
    }
}
