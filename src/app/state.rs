//! `UiState`: everything the window shows, as plain data. Events from the
//! engine are applied here; panels draw it and queue commands.

use crate::app::dashboard::DashboardModel;
pub use crate::app::destinations::{DestinationForm, DestinationTest};
pub use crate::app::details::{BackupDetails, Loaded};
use crate::app::encryption::{EncryptionForm, GeneratedKey};
pub use crate::app::folder::FolderRestore;
pub use crate::app::restore::{RestoreDialog, SetAction};
use crate::domain::{
    Backup, BackupId, BackupJob, BackupKind, Codec, Compression, DestinationId, Environment, JobId,
    Profile, ProjectId, ProjectInput, SecretSlot, SettingKey, ValidationError, ValidationErrors,
};
use crate::engine::{BackupFilter, DestinationView, JobInput, ProjectView, TestReport, VaultState};
use crate::protocol::{
    BackupAgain, CheckResult, Command, CopiesChange, Event, FoundTools, Snapshot, TaskId, TaskInfo,
    TestKey, ToolsOffer,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use zeroize::Zeroizing;

/// Which screen is up.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    /// Opening the catalog.
    Opening,
    /// The catalog could not be opened.
    OpenFailed(String),
    /// First run: choose a master password.
    Setup,
    /// Enter the master password.
    Locked,
    /// The app.
    Main,
}

/// The left navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Panel {
    /// Overview.
    Dashboard,
    /// Projects.
    Projects,
    /// Backup history and "Back up now".
    Backups,
    /// Schedules.
    Schedules,
    /// Settings.
    Settings,
    /// Activity log.
    Activity,
}

impl Panel {
    /// Every panel, in navigation order.
    pub const ALL: [Panel; 6] = [
        Panel::Dashboard,
        Panel::Projects,
        Panel::Backups,
        Panel::Schedules,
        Panel::Settings,
        Panel::Activity,
    ];

    /// Its title.
    pub fn title(&self) -> &'static str {
        match self {
            Panel::Dashboard => "Dashboard",
            Panel::Projects => "Projects",
            Panel::Backups => "Backups",
            Panel::Schedules => "Schedules",
            Panel::Settings => "Settings",
            Panel::Activity => "Activity",
        }
    }
}

/// The unlock / first-run form.
#[derive(Default)]
pub struct UnlockForm {
    /// The password typed.
    pub password: Zeroizing<String>,
    /// Typed again (first run).
    pub confirm: Zeroizing<String>,
    /// What went wrong last time.
    pub error: Option<String>,
    /// Waiting for the engine.
    pub busy: bool,
}

/// The add/edit project form.
pub struct ProjectForm {
    /// `None` when adding.
    pub id: Option<ProjectId>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Environment.
    pub environment: Environment,
    /// Connection string.
    pub db_url: Zeroizing<String>,
    /// Service key.
    pub service_key: Zeroizing<String>,
    /// Anon key.
    pub anon_key: Zeroizing<String>,
    /// Active flag.
    pub active: bool,
    /// Show secrets in the clear.
    pub reveal: bool,
    /// Errors per field (shown after the first save, and live after that).
    pub errors: ValidationErrors,
    /// A save was attempted.
    pub tried: bool,
    /// Waiting for the engine.
    pub busy: bool,
    /// The form's "Test connection": it goes when the form goes.
    pub test: Option<TestState>,
    /// How its backups are encrypted.
    pub encryption: EncryptionForm,
    /// The destinations its backups are copied to (ticked).
    pub copy_to: Vec<DestinationId>,
    /// Keep backups only at the destinations.
    pub remote_only: bool,
    /// The copies as saved (when editing): only a change is sent.
    pub saved_copies: Option<CopiesChange>,
    /// How its Supabase Storage files are reached.
    pub storage: crate::app::storage::StorageForm,
}

impl ProjectForm {
    /// An empty form.
    pub fn new() -> Self {
        Self {
            id: None,
            name: String::new(),
            description: String::new(),
            environment: Environment::Production,
            db_url: Zeroizing::new(String::new()),
            service_key: Zeroizing::new(String::new()),
            anon_key: Zeroizing::new(String::new()),
            active: true,
            reveal: false,
            errors: ValidationErrors::default(),
            tried: false,
            busy: false,
            test: None,
            encryption: EncryptionForm::new(),
            copy_to: Vec::new(),
            remote_only: false,
            saved_copies: None,
            storage: Default::default(),
        }
    }

    /// A form showing `p` (its secrets come in the clear afterwards);
    /// `destinations` name the ones it copies to.
    pub fn edit(p: &ProjectView, destinations: &[DestinationView]) -> Self {
        let copy_to: Vec<DestinationId> = destinations
            .iter()
            .filter(|d| p.copy_to.contains(&d.name))
            .map(|d| d.id)
            .collect();
        Self {
            id: Some(p.id),
            name: p.name.clone(),
            description: p.description.clone(),
            environment: p.environment.parse().unwrap_or(Environment::Development),
            active: p.is_active,
            encryption: EncryptionForm::edit(&p.encryption),
            saved_copies: Some(CopiesChange {
                copy_to: copy_to.clone(),
                remote_only: p.remote_only,
            }),
            copy_to,
            remote_only: p.remote_only,
            storage: crate::app::storage::StorageForm::edit(p.storage.as_ref()),
            ..Self::new()
        }
    }

    /// Ticks or unticks a destination; with none left, backups are kept
    /// locally too.
    pub fn set_copy(&mut self, id: DestinationId, on: bool) {
        self.copy_to.retain(|d| *d != id);
        if on {
            self.copy_to.push(id);
        }
        if self.copy_to.is_empty() {
            self.remote_only = false;
        }
    }

    /// Where the backups go, when it differs from what is saved (`None`
    /// for a new project copying nowhere).
    pub fn copies_change(&self) -> Option<CopiesChange> {
        let now = CopiesChange {
            copy_to: self.copy_to.clone(),
            remote_only: self.remote_only && !self.copy_to.is_empty(),
        };
        let same = match &self.saved_copies {
            Some(saved) => {
                saved.remote_only == now.remote_only
                    && saved.copy_to.len() == now.copy_to.len()
                    && saved.copy_to.iter().all(|d| now.copy_to.contains(d))
            }
            None => now.copy_to.is_empty() && !now.remote_only,
        };
        (!same).then_some(now)
    }

    /// The form as engine input.
    pub fn input(&self) -> ProjectInput {
        ProjectInput {
            name: self.name.clone(),
            description: self.description.clone(),
            environment: self.environment.as_str().to_string(),
            db_url: self.db_url.clone(),
            service_key: self.service_key.clone(),
            anon_key: self.anon_key.clone(),
        }
    }

    /// Re-checks every field (cheap: plain data), encryption included.
    pub fn revalidate(&mut self) {
        let mut errors = match self.input().validate() {
            Ok(_) => ValidationErrors::default(),
            Err(e) => e,
        };
        errors.0.extend(self.encryption.errors());
        if let Err(e) = self.storage.change() {
            errors.0.extend(e);
        }
        self.errors = errors;
    }
}

impl Default for ProjectForm {
    fn default() -> Self {
        Self::new()
    }
}

/// The add/edit schedule form.
pub struct JobForm {
    /// `None` when adding.
    pub id: Option<JobId>,
    /// Name.
    pub name: String,
    /// Project.
    pub project: Option<ProjectId>,
    /// Cron line.
    pub cron: String,
    /// Kind.
    pub kind: BackupKind,
    /// Keep the newest N (empty: no limit).
    pub keep_last: String,
    /// Keep N days (empty: no limit).
    pub keep_days: String,
    /// Retries after a failure.
    pub retries: String,
    /// Timeout in seconds (empty: none).
    pub timeout: String,
    /// Webhook URL.
    pub webhook: String,
    /// Enabled.
    pub enabled: bool,
    /// The profile, which the form does not show: an edited job keeps its
    /// own (`None`: chosen from the database at run time).
    pub profile: Option<Profile>,
    /// The compression, which the form does not show: an edited job keeps
    /// its own (`None`: the default compression when saved).
    pub compression: Option<Compression>,
    /// Errors per field.
    pub errors: ValidationErrors,
}

impl JobForm {
    /// An empty form for `project`.
    pub fn new(project: Option<ProjectId>) -> Self {
        Self {
            id: None,
            name: String::new(),
            project,
            cron: "0 3 * * *".into(),
            kind: BackupKind::Full,
            keep_last: "7".into(),
            keep_days: String::new(),
            retries: "2".into(),
            timeout: String::new(),
            webhook: String::new(),
            enabled: true,
            profile: None,
            compression: None,
            errors: ValidationErrors::default(),
        }
    }

    /// A form showing `job`.
    pub fn edit(job: &BackupJob) -> Self {
        let opt = |v: Option<u32>| v.map(|n| n.to_string()).unwrap_or_default();
        Self {
            id: Some(job.id),
            name: job.name.clone(),
            project: Some(job.project_id),
            cron: job.cron.clone(),
            kind: job.kind,
            keep_last: opt(job.retention.keep_last),
            keep_days: opt(job.retention.keep_days),
            retries: job.retries.to_string(),
            timeout: job.timeout_secs.map(|t| t.to_string()).unwrap_or_default(),
            webhook: job.webhook_url.clone().unwrap_or_default(),
            enabled: job.enabled,
            profile: job.profile,
            compression: Some(job.compression),
            errors: ValidationErrors::default(),
        }
    }

    /// The form as engine input, or the fields that are not numbers.
    pub fn input(&self) -> Result<JobInput, ValidationErrors> {
        let mut errors = Vec::new();
        let mut num = |field: &'static str, text: &str| -> Option<u64> {
            let t = text.trim();
            if t.is_empty() {
                return None;
            }
            t.parse::<u64>()
                .map_err(|_| {
                    errors.push(ValidationError::new(
                        field,
                        "must be a whole number (or empty)",
                    ))
                })
                .ok()
        };
        let keep_last = num("keep_last", &self.keep_last).map(|v| v as u32);
        let keep_days = num("keep_days", &self.keep_days).map(|v| v as u32);
        let retries = num("retries", &self.retries).unwrap_or(0) as u32;
        let timeout_secs = num("timeout", &self.timeout);
        if self.project.is_none() {
            errors.push(ValidationError::new("project", "choose a project"));
        }
        if !errors.is_empty() {
            return Err(ValidationErrors(errors));
        }
        Ok(JobInput {
            name: self.name.clone(),
            project: self.project.unwrap_or_default(),
            cron: self.cron.clone(),
            kind: self.kind,
            profile: self.profile,
            compression: self.compression,
            keep_last,
            keep_days,
            timeout_secs,
            retries,
            webhook_url: Some(self.webhook.clone()).filter(|w| !w.trim().is_empty()),
            enabled: self.enabled,
            extra: None,
        })
    }
}

/// "Back up now" options.
#[derive(Debug, Clone)]
pub struct BackupDialog {
    /// The project.
    pub project: ProjectId,
    /// Full, schema or data.
    pub kind: BackupKind,
    /// `None`: chosen from the database.
    pub profile: Option<Profile>,
    /// Codec.
    pub codec: Codec,
    /// Level.
    pub level: u32,
    /// Leave the Storage files out of a `full` backup.
    pub no_storage: bool,
}

/// A first backup of a project's Storage files, waiting for a yes before
/// it downloads.
pub struct PendingPlan {
    /// What it will download.
    pub plan: crate::engine::storage::StoragePlan,
    /// Where the answer goes (dropped unanswered: the backup is cancelled).
    pub answer: tokio::sync::oneshot::Sender<bool>,
}

impl PendingPlan {
    /// Answers: go on, or cancel the backup.
    pub fn answer(self, go_on: bool) {
        let _ = self.answer.send(go_on);
    }
}

/// A question that must be answered before something is destroyed.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    /// Delete a backup.
    DeleteBackup(BackupId, String),
    /// Remove a project.
    RemoveProject(ProjectId, String),
    /// Remove a schedule.
    RemoveJob(JobId, String),
    /// Remove a destination: its name, and the projects and schedules that
    /// copy there.
    RemoveDestination(DestinationId, String, Vec<String>),
}

/// How the history is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Start time.
    Date,
    /// Size on disk.
    Size,
    /// Status.
    Status,
}

/// The history table's filter, sort and the resulting row order.
pub struct HistoryView {
    /// Sort column.
    pub sort: SortKey,
    /// Largest / newest first.
    pub descending: bool,
    /// Which backups are shown.
    pub filter: BackupFilter,
    /// Indices into the snapshot's backups, in display order.
    pub order: Vec<usize>,
}

impl Default for HistoryView {
    fn default() -> Self {
        Self {
            sort: SortKey::Date,
            descending: true,
            filter: BackupFilter::default(),
            order: Vec::new(),
        }
    }
}

impl HistoryView {
    /// Recomputes `order` for `backups`.
    pub fn rebuild(&mut self, backups: &[Backup]) {
        self.order = (0..backups.len())
            .filter(|&i| self.filter.matches(&backups[i]))
            .collect();
        let key = self.sort;
        self.order.sort_by(|&a, &b| {
            let (x, y) = (&backups[a], &backups[b]);
            match key {
                SortKey::Date => x.started_at.cmp(&y.started_at),
                SortKey::Size => x.bytes.cmp(&y.bytes),
                SortKey::Status => x.status.as_str().cmp(y.status.as_str()),
            }
        });
        if self.descending {
            self.order.reverse();
        }
    }
}

/// A connection test's state.
pub enum TestState {
    /// Running.
    Running,
    /// Finished.
    Done(Box<Result<TestReport, String>>),
}

/// A message in the corner.
#[derive(Debug, Clone)]
pub struct Toast {
    /// The text.
    pub text: String,
    /// Green or red.
    pub ok: bool,
    /// When it appeared (egui time).
    pub since: f64,
}

/// Everything the window shows.
pub struct UiState {
    /// The screen.
    pub screen: Screen,
    /// The panel.
    pub panel: Panel,
    /// The data.
    pub data: Snapshot,
    /// The unlock form.
    pub unlock: UnlockForm,
    /// The add/edit dialog.
    pub project_form: Option<ProjectForm>,
    /// The project picked in the top bar.
    pub selected_project: Option<ProjectId>,
    /// Connection tests.
    pub tests: HashMap<TestKey, TestState>,
    /// Running tasks.
    pub tasks: Vec<TaskInfo>,
    /// Toasts.
    pub toasts: Vec<Toast>,
    /// "Back up now" dialog.
    pub backup_dialog: Option<BackupDialog>,
    /// First backups of Storage files waiting for a yes (egress), oldest
    /// first.
    pub storage_plans: Vec<PendingPlan>,
    /// Restore / drill dialog.
    pub restore_dialog: Option<RestoreDialog>,
    /// The schedule editor.
    pub job_form: Option<JobForm>,
    /// A pending confirmation.
    pub confirm: Option<Confirm>,
    /// The history table.
    pub history: HistoryView,
    /// Secrets shown in the clear, by project and slot.
    pub revealed: HashMap<(ProjectId, SecretSlot), Zeroizing<String>>,
    /// Settings being edited.
    pub settings_edit: HashMap<SettingKey, String>,
    /// Precomputed dashboard.
    pub dashboard: DashboardModel,
    /// The "Add destination" form.
    pub destination_form: Option<DestinationForm>,
    /// Each destination's last test.
    pub destination_tests: HashMap<DestinationId, DestinationTest>,
    /// The backup whose details are shown beside the panels.
    pub details: Option<BackupDetails>,
    /// The last verify or drill of each backup, this session.
    pub checks: HashMap<BackupId, CheckResult>,
    /// The PostgreSQL client tools found (once the engine has looked).
    pub tools: Option<FoundTools>,
    /// A backup found no pg_dump for its server: the offer to install one.
    pub tools_offer: Option<ToolsOffer>,
    /// The backup to run again once the client programs are installed.
    pub after_tools: Option<BackupAgain>,
    /// The major picked in Settings for "Install client programs".
    pub tools_major: u32,
    /// The "Restore from a folder" dialog.
    pub folder_restore: Option<FolderRestore>,
    /// The folder restore sent, kept in case its target must be confirmed.
    pub folder_pending: Option<FolderRestore>,
    /// The keyboard shortcuts overlay is shown.
    pub show_help: bool,
    /// Commands the panels queued this frame.
    pub outbox: Vec<Command>,
    /// egui time of the last input, for auto-lock.
    pub last_input: f64,
}

impl Default for UiState {
    fn default() -> Self {
        Self {
            screen: Screen::Opening,
            panel: Panel::Dashboard,
            data: Snapshot::default(),
            unlock: UnlockForm::default(),
            project_form: None,
            selected_project: None,
            tests: HashMap::new(),
            tasks: Vec::new(),
            toasts: Vec::new(),
            backup_dialog: None,
            storage_plans: Vec::new(),
            restore_dialog: None,
            job_form: None,
            confirm: None,
            history: HistoryView::default(),
            revealed: HashMap::new(),
            settings_edit: HashMap::new(),
            dashboard: DashboardModel::default(),
            destination_form: None,
            destination_tests: HashMap::new(),
            details: None,
            checks: HashMap::new(),
            tools: None,
            tools_offer: None,
            after_tools: None,
            tools_major: 17,
            folder_restore: None,
            folder_pending: None,
            show_help: false,
            outbox: Vec::new(),
            last_input: 0.0,
        }
    }
}

impl UiState {
    /// Queues a command for the engine.
    pub fn send(&mut self, cmd: Command) {
        self.outbox.push(cmd);
    }

    /// Shows a toast.
    pub fn toast(&mut self, text: impl Into<String>, ok: bool, now: f64) {
        self.toasts.push(Toast {
            text: text.into(),
            ok,
            since: now,
        });
        if self.toasts.len() > 5 {
            self.toasts.remove(0);
        }
    }

    /// The value in effect for a setting.
    pub fn setting(&self, key: SettingKey) -> Option<&str> {
        self.data
            .settings
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// A running backup of this project, if any.
    pub fn running_backup(&self, project: ProjectId) -> Option<&TaskInfo> {
        self.tasks
            .iter()
            .find(|t| t.is_backup && t.project == Some(project))
    }

    /// Opens the "Back up now" dialog with the default compression.
    pub fn open_backup_dialog(&mut self, project: ProjectId) {
        let Compression { codec, level } = self.data.default_compression;
        self.backup_dialog = Some(BackupDialog {
            project,
            kind: BackupKind::Full,
            profile: None,
            codec,
            level,
            no_storage: false,
        });
    }

    /// Applies one event from the engine. `now` is egui time.
    pub fn apply(&mut self, event: Event, now: f64) {
        match event {
            Event::Opened(state) => {
                self.screen = match state {
                    VaultState::Uninitialized => Screen::Setup,
                    VaultState::Locked => Screen::Locked,
                };
            }
            Event::OpenFailed(msg) => self.screen = Screen::OpenFailed(msg),
            Event::Unlocked => {
                self.unlock = UnlockForm::default();
                self.screen = Screen::Main;
                self.last_input = now;
            }
            Event::UnlockFailed(msg) => {
                self.unlock.busy = false;
                self.unlock.password = Zeroizing::new(String::new());
                self.unlock.error = Some(msg);
            }
            Event::Locked => {
                self.screen = Screen::Locked;
                // Unanswered: those backups are cancelled.
                self.storage_plans.clear();
                self.revealed.clear();
                self.project_form = None;
                self.restore_dialog = None;
                self.destination_form = None;
                self.details = None;
                self.folder_restore = None;
                self.folder_pending = None;
                self.data.projects.clear();
                self.data.destinations.clear();
            }
            Event::Data(snapshot) => {
                self.data = *snapshot;
                if let Some(sel) = self.selected_project
                    && !self.data.projects.iter().any(|p| p.id == sel)
                {
                    self.selected_project = None;
                }
                if self.selected_project.is_none() {
                    self.selected_project = self.data.projects.first().map(|p| p.id);
                }
                self.history.rebuild(&self.data.backups);
                self.dashboard = DashboardModel::build(&self.data, chrono::Utc::now());
                let known: Vec<DestinationId> =
                    self.data.destinations.iter().map(|d| d.id).collect();
                self.destination_tests.retain(|id, _| known.contains(id));
                if let Some(f) = &mut self.project_form {
                    f.copy_to.retain(|d| known.contains(d));
                }
            }
            Event::ProjectSaved(name) => {
                self.project_form = None;
                self.toast(format!("Saved project \"{name}\""), true, now);
            }
            Event::ProjectInvalid(errors) => {
                if let Some(f) = &mut self.project_form {
                    f.busy = false;
                    f.tried = true;
                    f.errors = errors;
                }
            }
            Event::Tested(TestKey::Form, result) => {
                if let Some(f) = &mut self.project_form {
                    f.test = Some(TestState::Done(result));
                }
            }
            Event::Tested(key, result) => {
                self.tests.insert(key, TestState::Done(result));
            }
            Event::Revealed(project, slot, value) => {
                let Some(v) = value else { return };
                if let Some(d) = &mut self.restore_dialog
                    && d.fill_from == Some(project)
                    && slot == SecretSlot::DbUrl
                {
                    d.url = v;
                    d.fill_from = None;
                    return;
                }
                // An edit form waiting for its secrets gets them; otherwise
                // the value backs a reveal toggle.
                if let Some(f) = &mut self.project_form
                    && f.id == Some(project)
                {
                    let field = match slot {
                        SecretSlot::DbUrl => &mut f.db_url,
                        SecretSlot::ServiceKey => &mut f.service_key,
                        SecretSlot::AnonKey => &mut f.anon_key,
                        SecretSlot::BackupPassphrase
                        | SecretSlot::AgeIdentity
                        | SecretSlot::StorageS3Secret => return,
                    };
                    if field.is_empty() {
                        *field = v;
                    }
                    return;
                }
                self.revealed.insert((project, slot), v);
            }
            Event::TaskStarted(info) => self.tasks.push(info),
            Event::TaskFinished { id, ok, message } => {
                self.tasks.retain(|t| t.id != id);
                self.toast(message, ok, now);
            }
            Event::RestoreNeedsConfirmation {
                backup,
                url,
                dbname,
                message,
                keys,
            } => {
                let mut d = RestoreDialog::open(backup, SetAction::Restore, &self.data);
                d.url = url;
                d.confirm = Some((dbname, message));
                if let Some(path) = keys.identity {
                    d.identity = path.display().to_string();
                }
                if let Some(p) = keys.passphrase {
                    d.passphrase = p;
                }
                self.restore_dialog = Some(d);
            }
            Event::KeyGenerated { path, public_key } => match &mut self.project_form {
                Some(f) => {
                    f.encryption.add_key(&public_key);
                    f.encryption
                        .generated
                        .push(GeneratedKey { path, public_key });
                    if f.tried {
                        f.revalidate();
                    }
                }
                None => self.toast(
                    format!(
                        "Wrote a new identity to {}: without it, backups encrypted to {public_key} \
                         cannot be restored",
                        path.display()
                    ),
                    false,
                    now,
                ),
            },
            Event::IdentityPicked(path) => {
                if let Some(d) = &mut self.restore_dialog {
                    d.identity = path.display().to_string();
                }
            }
            Event::StoragePlan { plan, answer } => self.storage_plans.push(PendingPlan {
                plan: *plan,
                answer,
            }),
            Event::JobSaved(name) => {
                self.job_form = None;
                self.toast(format!("Saved schedule \"{name}\""), true, now);
            }
            Event::JobInvalid(errors) => {
                if let Some(f) = &mut self.job_form {
                    f.errors = errors;
                }
            }
            Event::FolderPicked(key, path) => {
                self.settings_edit.insert(key, path.display().to_string());
            }
            Event::DestinationAdded { name, tested } => {
                self.destination_form = None;
                let how = tested.map(|t| format!(": {t}")).unwrap_or_default();
                self.toast(format!("Added destination \"{name}\"{how}"), true, now);
            }
            Event::DestinationInvalid(errors) => {
                if let Some(f) = &mut self.destination_form {
                    f.engine_errors(errors);
                }
            }
            Event::DestinationRefused(why) => match &mut self.destination_form {
                Some(f) => {
                    f.busy = false;
                    f.refused = Some(why);
                }
                None => self.toast(why, false, now),
            },
            Event::DestinationTested(id, result) => {
                self.destination_tests
                    .insert(id, DestinationTest::Done(result));
            }
            Event::DestinationFolderPicked(path) => {
                if let Some(f) = &mut self.destination_form {
                    f.folder = path.display().to_string();
                    if f.tried {
                        f.revalidate();
                    }
                }
            }
            Event::SetContents(id, contents) => {
                if let Some(d) = &mut self.details
                    && d.backup == id
                {
                    d.contents = Loaded::Done(contents);
                }
            }
            Event::Checked(check) => {
                self.checks.insert(check.backup, check);
            }
            Event::ToolsFound(found) => self.tools = Some(*found),
            Event::ToolsNeeded(offer) => self.tools_offer = Some(*offer),
            Event::ToolsInstalled(version) => {
                self.toast(
                    format!("PostgreSQL {version} client programs installed"),
                    true,
                    now,
                );
                if let Some(again) = self.after_tools.take() {
                    self.send(again.command());
                }
            }
            Event::FolderSet(dir, contents) => {
                self.folder_restore = Some(FolderRestore::new(dir, *contents));
            }
            Event::FolderRestoreNeedsConfirmation { dbname, message } => {
                if let Some(mut d) = self.folder_pending.take() {
                    d.confirm = Some((dbname, message));
                    d.typed.clear();
                    self.folder_restore = Some(d);
                }
            }
            Event::FolderImported(_) => {
                // The new row shows whatever the filter was.
                self.history.filter = BackupFilter::default();
            }
            Event::Error(msg) => self.toast(msg, false, now),
            Event::Info(msg) => self.toast(msg, true, now),
        }
    }

    /// Shows the details of `backup` beside the panels, reading its set
    /// when it has a local one.
    pub fn open_details(&mut self, backup: BackupId) {
        let Some(b) = self.data.backups.iter().find(|b| b.id == backup) else {
            return;
        };
        let details = BackupDetails::open(b);
        if details.contents.is_loading() {
            self.send(Command::LoadSetContents(backup));
        }
        self.details = Some(details);
    }

    /// The running sync, if any.
    pub fn running_sync(&self) -> Option<&TaskInfo> {
        self.tasks
            .iter()
            .find(|t| t.label == crate::protocol::SYNC_TASK)
    }

    /// Cancels a running task.
    pub fn cancel(&self, id: TaskId) {
        if let Some(t) = self.tasks.iter().find(|t| t.id == id) {
            t.cancel.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    #[test]
    fn editing_a_schedule_keeps_what_the_form_does_not_show() {
        let mut job = fixtures::job(ProjectId::new(), "0 3 * * *");
        job.profile = Some(Profile::Postgres);
        job.compression = Compression::new(Codec::Xz, Some(9)).unwrap();
        let input = JobForm::edit(&job).input().unwrap();
        assert_eq!(input.profile, Some(Profile::Postgres));
        assert_eq!(input.compression, Some(job.compression));
        // A new schedule leaves both to the engine's defaults.
        let input = JobForm::new(Some(job.project_id)).input().unwrap();
        assert_eq!((input.profile, input.compression), (None, None));
    }
}
