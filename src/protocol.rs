//! What the desktop app and its engine side say to each other: the UI sends
//! imperative `Command`s (with `try_send`, from the frame), the engine side
//! answers with past-tense `Event`s and a waker that asks for a repaint, and
//! the panels read a `Snapshot`. The app talks through a [`Link`], so it can
//! be built over a stand-in in tests.

use crate::domain::{
    Activity, Backup, BackupId, BackupJob, BackupKind, Compression, DestinationId, JobId, Profile,
    ProjectId, ProjectInput, SecretSlot, SettingKey, ValidationErrors,
};
use crate::engine::set::Details;
use crate::engine::storage::{StoragePatch, StoragePlan};
use crate::engine::{
    CancelToken, DestinationInput, DestinationView, EncryptionChange, JobInput, Manifest, Progress,
    ProjectView, TestReport, VaultState,
};
use chrono::{DateTime, Utc};
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
        /// How its backups are encrypted from now on; `None` leaves it as
        /// it is. Saved with the fields in one write, as are the next two.
        encryption: Option<EncryptionChange>,
        /// Where its backups are copied from now on; `None` leaves it as it
        /// is.
        copies: Option<CopiesChange>,
        /// How its Supabase Storage files are reached from now on (only
        /// what changed); `None` leaves it as it is. The S3 secret in it is
        /// sealed with the project.
        storage: Option<StoragePatch>,
    },
    /// Ask where to write a new age identity (private key), write it
    /// owner-only, and answer with `KeyGenerated`.
    GenerateKey {
        /// The file name the save dialog suggests.
        file_name: String,
    },
    /// Ask for an age identity file and keep it in the vault, so this
    /// machine restores the project's backups without asking.
    ImportIdentity(ProjectId),
    /// Remove the project's identity from the vault.
    ForgetIdentity(ProjectId),
    /// Ask the OS for an identity file; the answer comes as `IdentityPicked`.
    PickIdentity,
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
        /// Leave the Storage files out of a `full` backup.
        no_storage: bool,
    },
    /// Verify checksums and decompression (and decryption, when a key
    /// opens the set).
    Verify(BackupId, GivenKeys),
    /// Restore into a scratch database and compare row counts.
    Drill {
        /// The backup.
        backup: BackupId,
        /// A server where a scratch database may be created.
        url: Zeroizing<String>,
        /// Keys for an encrypted set, beyond those the vault holds.
        keys: GivenKeys,
    },
    /// Restore into a database.
    Restore {
        /// The backup.
        backup: BackupId,
        /// The target.
        url: Zeroizing<String>,
        /// The user typed the database name to replace it.
        confirmed: bool,
        /// Keys for an encrypted set, beyond those the vault holds.
        keys: GivenKeys,
    },
    /// Verify the copy of a backup at one destination (fetched into a
    /// staging folder first, checked as it arrives).
    VerifyCopy {
        /// The backup.
        backup: BackupId,
        /// Where its copy is.
        destination: DestinationId,
    },
    /// Delete a backup everywhere: its copies at destinations, its local
    /// files, its record.
    DeleteBackup(BackupId),
    /// Read a backup set's manifest and details for its details view
    /// (answered with `SetContents`).
    LoadSetContents(BackupId),
    /// Copy whatever is missing to the destinations (of one project, or
    /// all), with progress and cancel.
    Sync(Option<ProjectId>),
    /// Test a destination, then add it; nothing is stored when the test
    /// fails (answered with `DestinationAdded`, `DestinationInvalid` or
    /// `DestinationRefused`).
    AddDestination(DestinationInput),
    /// Test a saved destination (answered with `DestinationTested`).
    TestDestination(DestinationId),
    /// Remove a destination; what was copied there stays there.
    RemoveDestination(DestinationId),
    /// Ask the OS for a folder for the destination form (answered with
    /// `DestinationFolderPicked`).
    PickDestinationFolder,
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
    /// Look for the PostgreSQL client tools again (answered with
    /// `ToolsFound`; the engine side also looks once after unlocking).
    FindTools,
    /// Download and install the newest client programs of this PostgreSQL
    /// major into the data dir (a task with progress and cancel; answered
    /// with `ToolsInstalled` and `ToolsFound`).
    InstallTools(u32),
    /// Remove client programs supabackup installed (by version, 17.11.0).
    RemoveTools(String),
    /// Ask the OS for a backup folder (copied from another machine, a USB
    /// stick) and read it: answered with `FolderSet`.
    PickSetFolder,
    /// Restore the backup set in a folder into a database.
    RestoreFolder {
        /// The set's folder.
        dir: PathBuf,
        /// The target.
        url: Zeroizing<String>,
        /// The user typed the database name to replace it.
        confirmed: bool,
        /// Keys for an encrypted set, beyond those the vault holds.
        keys: GivenKeys,
    },
    /// Copy the set in a folder under the backup root and add it to the
    /// history.
    ImportFolder(PathBuf),
}

/// Keys for an encrypted backup set given in a dialog, tried after those
/// the vault holds for its project.
#[derive(Clone, Default)]
pub struct GivenKeys {
    /// An age identity file (`AGE-SECRET-KEY-1...` lines).
    pub identity: Option<PathBuf>,
    /// The passphrase of a set encrypted with one.
    pub passphrase: Option<Zeroizing<String>>,
}

/// Where a project's backups are copied, as the project form sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiesChange {
    /// The destinations its backups are copied to.
    pub copy_to: Vec<DestinationId>,
    /// The local folders go once every copy is verified.
    pub remote_only: bool,
}

impl GivenKeys {
    /// True when nothing was given.
    pub fn is_empty(&self) -> bool {
        self.identity.is_none() && self.passphrase.is_none()
    }
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
    /// Destinations, by name (none while locked).
    pub destinations: Vec<DestinationView>,
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

    /// A destination's name, or words saying it was removed.
    pub fn destination_name(&self, id: DestinationId) -> String {
        self.destinations
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.name.clone())
            .unwrap_or_else(|| format!("(removed destination {})", id.short()))
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

/// The label of the task `Sync` starts (one at a time).
pub const SYNC_TASK: &str = "Sync copies";

/// A backup set read for its details view.
#[derive(Debug, Clone)]
pub struct SetContents {
    /// Its manifest (readable without any key).
    pub manifest: Manifest,
    /// What it says about the data; `None` when it cannot be read (an
    /// encrypted set the vault holds no key for).
    pub details: Option<Details>,
    /// Why the details could not be read, in words.
    pub details_note: Option<String>,
}

/// What `supabackup info` knows about the PostgreSQL client tools.
#[derive(Debug, Clone, Default)]
pub struct FoundTools {
    /// Every pg_dump found, with its psql and pg_dumpall, newest first.
    pub tools: Vec<crate::pgtools::ToolSet>,
    /// The folders searched, in order.
    pub searched: Vec<PathBuf>,
}

/// The offer made when a backup found no pg_dump for its server.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolsOffer {
    /// The server's major: the client programs to install.
    pub major: u32,
    /// What the engine said (server version, what was found).
    pub message: String,
    /// The backup to run again once they are installed.
    pub backup: Option<BackupAgain>,
}

/// A "Back up now" to repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupAgain {
    /// The project.
    pub project: ProjectId,
    /// Full, schema or data.
    pub kind: BackupKind,
    /// Profile, or chosen from the database.
    pub profile: Option<Profile>,
    /// Codec and level.
    pub compression: Compression,
    /// Leave the Storage files out.
    pub no_storage: bool,
}

impl BackupAgain {
    /// The command that runs it.
    pub fn command(&self) -> Command {
        Command::Backup {
            project: self.project,
            kind: self.kind,
            profile: self.profile,
            compression: self.compression,
            no_storage: self.no_storage,
        }
    }
}

/// What a check of a backup was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// Verify (the local set, or fetched when only copies are left).
    Verify,
    /// Verify of the copy at this destination.
    VerifyCopy(String),
    /// Restore drill.
    Drill,
}

/// What a verify or drill of a backup found, for its details view.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The backup.
    pub backup: BackupId,
    /// Which check.
    pub kind: CheckKind,
    /// It passed.
    pub ok: bool,
    /// What it found, in words.
    pub message: String,
    /// When it ended.
    pub at: DateTime<Utc>,
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
        /// The keys given for the set (kept for the retry).
        keys: GivenKeys,
    },
    /// A new age identity was written (owner-only) for the project form.
    KeyGenerated {
        /// Where the identity file is: without it, sets encrypted to
        /// `public_key` cannot be restored.
        path: PathBuf,
        /// Its public key (`age1...`).
        public_key: String,
    },
    /// An identity file was picked for the restore dialog.
    IdentityPicked(PathBuf),
    /// A folder was picked for a setting.
    FolderPicked(SettingKey, PathBuf),
    /// A destination was tested and added.
    DestinationAdded {
        /// Its name.
        name: String,
        /// What the test did, in words.
        tested: Option<String>,
    },
    /// The destination form has errors at these fields.
    DestinationInvalid(ValidationErrors),
    /// The destination was not added (its test failed, or the name is
    /// taken): the engine's words, for the form.
    DestinationRefused(String),
    /// A saved destination's test ended: what it did, or what failed.
    DestinationTested(DestinationId, Result<String, String>),
    /// A folder was picked for the destination form.
    DestinationFolderPicked(PathBuf),
    /// A backup set's manifest and details, or why they cannot be read.
    SetContents(BackupId, Box<Result<SetContents, String>>),
    /// A verify or drill of a backup ended.
    Checked(CheckResult),
    /// The PostgreSQL client tools found on this machine.
    ToolsFound(Box<FoundTools>),
    /// A backup could not run because no pg_dump here can dump its server:
    /// offer to install the client programs (and back up again).
    ToolsNeeded(Box<ToolsOffer>),
    /// Client programs were installed (their version).
    ToolsInstalled(String),
    /// A backup folder picked for "Restore from a folder", as read: its
    /// manifest and details with every checksum checked, or why not.
    FolderSet(PathBuf, Box<Result<SetContents, String>>),
    /// A folder restore found tables in the target: the name to type.
    FolderRestoreNeedsConfirmation {
        /// The target's database name.
        dbname: String,
        /// What the engine said.
        message: String,
    },
    /// A folder's set was added to the history.
    FolderImported(BackupId),
    /// The first backup of a project's Storage files is about to download
    /// this (billed egress past the plan's allowance): the window asks, and
    /// answers `true` to go on, `false` (or nothing) to cancel the backup.
    StoragePlan {
        /// What it will download.
        plan: Box<StoragePlan>,
        /// Where the answer goes.
        answer: tokio::sync::oneshot::Sender<bool>,
    },
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
