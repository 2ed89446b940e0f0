//! What the desktop app and its engine side say to each other: the UI sends
//! imperative `Command`s (with `try_send`, from the frame), the engine side
//! answers with past-tense `Event`s and a waker that asks for a repaint, and
//! the panels read a `Snapshot`. The app talks through a [`Link`], so it can
//! be built over a stand-in in tests.

use crate::domain::{
    Activity, Backup, BackupId, BackupJob, BackupKind, Compression, JobId, Profile, ProjectId,
    ProjectInput, SecretSlot, SettingKey, ValidationErrors,
};
use crate::engine::{CancelToken, JobInput, Progress, ProjectView, TestReport, VaultState};
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Identifies a background task (backup, verify, restore, drill).
pub type TaskId = u64;

/// What the UI asks of the engine.
pub enum Command {
    /// Set the master password on first run.
    InitVault(Zeroizing<String>),
    /// Unlock.
    Unlock(Zeroizing<String>),
    /// Forget the key.
    Lock,
    /// Add (`id: None`) or edit a project.
    SaveProject {
        /// The project being edited, if any.
        id: Option<ProjectId>,
        /// The form's fields.
        input: ProjectInput,
        /// Active flag.
        active: bool,
    },
    /// Remove a project (backups kept).
    RemoveProject(ProjectId),
    /// Test a saved project.
    TestProject(ProjectId),
    /// Test a connection string typed in the form.
    TestUrl(Zeroizing<String>),
    /// Show a secret in the clear.
    Reveal {
        /// The project.
        project: ProjectId,
        /// Which secret.
        slot: SecretSlot,
    },
    /// Back up now.
    Backup {
        /// The project.
        project: ProjectId,
        /// Full, schema or data.
        kind: BackupKind,
        /// Profile, or chosen from the database.
        profile: Option<Profile>,
        /// Codec and level.
        compression: Compression,
    },
    /// Verify checksums and decompression.
    Verify(BackupId),
    /// Restore into a scratch database and compare row counts.
    Drill {
        /// The backup.
        backup: BackupId,
        /// A server where a scratch database may be created.
        url: Zeroizing<String>,
    },
    /// Restore into a database.
    Restore {
        /// The backup.
        backup: BackupId,
        /// The target.
        url: Zeroizing<String>,
        /// The user typed the database name to replace it.
        confirmed: bool,
    },
    /// Delete a backup's files and record.
    DeleteBackup(BackupId),
    /// Pin or unpin (pinned backups survive retention).
    SetPinned(BackupId, bool),
    /// Change a setting.
    SetSetting(SettingKey, String),
    /// Ask the OS for a folder for a path setting.
    PickFolder(SettingKey),
    /// Show a folder in the OS file manager.
    OpenFolder(PathBuf),
    /// Add (`id: None`) or edit a schedule.
    SaveJob {
        /// The schedule being edited, if any.
        id: Option<JobId>,
        /// The form's fields.
        input: JobInput,
    },
    /// Enable or disable a schedule.
    SetJobEnabled(JobId, bool),
    /// Remove a schedule.
    RemoveJob(JobId),
    /// Run a schedule now (its next slot stays).
    RunJobNow(JobId),
    /// Ask where to write the SQLite export, then write it.
    ExportSqlite,
}

/// Everything the panels show, loaded in one go.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Projects.
    pub projects: Vec<ProjectView>,
    /// Backups, newest first.
    pub backups: Vec<Backup>,
    /// Schedules.
    pub jobs: Vec<BackupJob>,
    /// Every setting's value in effect.
    pub settings: Vec<(SettingKey, Option<String>)>,
    /// The compression settings in effect, for "Back up now".
    pub default_compression: Compression,
    /// Recent activity, newest first.
    pub activity: Vec<Activity>,
    /// The data dir.
    pub data_dir: PathBuf,
}

impl Snapshot {
    /// The name of the project with this id, if it still exists.
    pub fn project_name(&self, id: ProjectId) -> Option<&str> {
        self.projects
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.name.as_str())
    }

    /// Every project as (id, name), for pickers.
    pub fn project_choices(&self) -> Vec<(ProjectId, String)> {
        self.projects
            .iter()
            .map(|p| (p.id, p.name.clone()))
            .collect()
    }
}

/// A running task, for the progress bars.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// Id.
    pub id: TaskId,
    /// What it is, in words.
    pub label: String,
    /// Its project, if any.
    pub project: Option<ProjectId>,
    /// A backup of a project (blocks another backup of it).
    pub is_backup: bool,
    /// Live counters.
    pub progress: Arc<Progress>,
    /// Its cancel switch.
    pub cancel: CancelToken,
}

/// What a connection test was for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TestKey {
    /// A saved project.
    Project(ProjectId),
    /// The add/edit form.
    Form,
}

/// What the engine reports back.
pub enum Event {
    /// The catalog is open.
    Opened(VaultState),
    /// The catalog could not be opened.
    OpenFailed(String),
    /// The vault is unlocked.
    Unlocked,
    /// The password was wrong (or another unlock problem).
    UnlockFailed(String),
    /// The vault was locked.
    Locked,
    /// Fresh data for every panel.
    Data(Box<Snapshot>),
    /// A project was saved.
    ProjectSaved(String),
    /// The form has errors at these fields.
    ProjectInvalid(ValidationErrors),
    /// A connection test finished.
    Tested(TestKey, Box<Result<TestReport, String>>),
    /// A secret, in the clear, for the reveal toggle.
    Revealed(ProjectId, SecretSlot, Option<Zeroizing<String>>),
    /// A task started.
    TaskStarted(TaskInfo),
    /// A task ended.
    TaskFinished {
        /// Which.
        id: TaskId,
        /// Whether it succeeded.
        ok: bool,
        /// What happened, in words.
        message: String,
    },
    /// The restore target has tables: the user must type its name.
    RestoreNeedsConfirmation {
        /// The backup.
        backup: BackupId,
        /// The target URL (kept for the retry).
        url: Zeroizing<String>,
        /// The name to type.
        dbname: String,
        /// What the engine said.
        message: String,
    },
    /// A folder was picked for a setting.
    FolderPicked(SettingKey, PathBuf),
    /// A schedule was saved.
    JobSaved(String),
    /// The schedule form has errors at these fields.
    JobInvalid(ValidationErrors),
    /// Something failed.
    Error(String),
    /// Something worth a toast.
    Info(String),
}

/// Calls `ctx.request_repaint` (or a test's stand-in) from the engine side.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The app's line to its engine side.
pub trait Link {
    /// Sends a command without blocking; false when the engine side is busy.
    fn send(&self, cmd: Command) -> bool;
    /// Every event that arrived since the last call.
    fn drain(&self) -> Vec<Event>;
}
