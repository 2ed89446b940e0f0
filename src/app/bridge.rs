//! The UI's line to the engine: `Command`s go in on a bounded channel (sent
//! with `try_send` from the frame), past-tense `Event`s come back with a
//! waker that asks egui to repaint. The engine runs on its own tokio runtime
//! and never sees egui.

use crate::datadir::DataDir;
use crate::domain::{
    Activity, Backup, BackupId, BackupJob, BackupKind, Compression, ConnInfo, JobId, Profile,
    ProjectId, ProjectInput, SettingKey, ValidationErrors,
};
use crate::engine::{
    BackupRequest, CancelToken, Engine, EngineError, JobInput, Progress, ProjectPatch, ProjectView,
    RestoreRequest, RunHooks, RunReport, TestReport, VaultState,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
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
        /// `db_url`, `service_key` or `anon_key`.
        slot: &'static str,
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
    Revealed(ProjectId, &'static str, Option<Zeroizing<String>>),
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

/// The UI's handle on the engine.
pub struct Bridge {
    tx: tokio::sync::mpsc::Sender<Command>,
    rx: mpsc::Receiver<Event>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    /// Starts the engine on `data_dir`.
    pub fn start(data_dir: DataDir, waker: Waker) -> Self {
        let (tx, cmd_rx) = tokio::sync::mpsc::channel(64);
        let (ev_tx, rx) = mpsc::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("supabackup-engine")
            .build()
            .ok();
        let out = Outbox { tx: ev_tx, waker };
        match &runtime {
            Some(rt) => {
                rt.spawn(run(data_dir, cmd_rx, out));
            }
            None => out.send(Event::OpenFailed(
                "cannot start the background runtime".into(),
            )),
        }
        Self { tx, rx, runtime }
    }

    /// Sends a command without blocking; false when the engine is busy.
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.try_send(cmd).is_ok()
    }

    /// Every event that arrived since the last call.
    pub fn drain(&self) -> Vec<Event> {
        self.rx.try_iter().collect()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

/// Sends events and wakes the UI.
#[derive(Clone)]
struct Outbox {
    tx: mpsc::Sender<Event>,
    waker: Waker,
}

impl Outbox {
    fn send(&self, ev: Event) {
        let _ = self.tx.send(ev);
        (self.waker)();
    }
}

fn err(e: impl std::fmt::Display) -> Event {
    Event::Error(e.to_string())
}

static NEXT_TASK: AtomicU64 = AtomicU64::new(1);

/// A fresh task id.
fn new_task_id() -> TaskId {
    NEXT_TASK.fetch_add(1, Ordering::Relaxed)
}

/// The app's view of scheduled runs: progress bars, toasts, a desktop
/// notification when one fails.
struct AppHooks {
    out: Outbox,
    current: Mutex<HashMap<JobId, TaskId>>,
    engine: Engine,
}

impl RunHooks for AppHooks {
    fn started(&self, job: &BackupJob, progress: Arc<Progress>, cancel: CancelToken) {
        let id = new_task_id();
        let previous = self
            .current
            .lock()
            .ok()
            .and_then(|mut m| m.insert(job.id, id));
        if let Some(prev) = previous {
            self.out.send(Event::TaskFinished {
                id: prev,
                ok: false,
                message: format!("Scheduled backup \"{}\" failed; retrying", job.name),
            });
        }
        self.out.send(Event::TaskStarted(TaskInfo {
            id,
            label: format!("Scheduled: {}", job.name),
            project: Some(job.project_id),
            is_backup: true,
            progress,
            cancel,
        }));
    }

    fn finished(&self, r: &RunReport) {
        let id = self
            .current
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&r.job_id));
        let message = if r.ok {
            format!("Scheduled backup \"{}\" of {} completed", r.job, r.project)
        } else {
            format!(
                "Scheduled backup \"{}\" of {} failed: {}",
                r.job, r.project, r.message
            )
        };
        if !r.ok {
            desktop_notification("supabackup: a scheduled backup failed", &message);
        }
        match id {
            Some(id) => self.out.send(Event::TaskFinished {
                id,
                ok: r.ok,
                message,
            }),
            None => self.out.send(if r.ok {
                Event::Info(message)
            } else {
                Event::Error(message)
            }),
        }
        refresh(&self.engine, &self.out);
    }
}

/// Shows an OS notification; best effort (no notification daemon, no harm).
fn desktop_notification(summary: &str, body: &str) {
    let (summary, body) = (summary.to_string(), body.to_string());
    std::thread::spawn(move || {
        let _ = notify_rust::Notification::new()
            .summary(&summary)
            .body(&body)
            .appname("supabackup")
            .show();
    });
}

/// Runs due schedules while the app is open: wakes for the next due job (at
/// least every 30 s, to notice new schedules and clock jumps), claims what
/// is due and runs it in the background so later jobs are not held up.
async fn scheduler_loop(engine: Engine, hooks: Arc<AppHooks>, stop: CancelToken) {
    while !stop.is_cancelled() {
        match engine.claim_due(chrono::Utc::now()) {
            Ok(jobs) if !jobs.is_empty() => {
                let (e, h, c) = (engine.clone(), hooks.clone(), stop.clone());
                tokio::spawn(async move {
                    e.run_claimed(jobs, &c, h).await;
                });
            }
            Ok(_) => {}
            Err(e) => hooks.out.send(Event::Error(format!(
                "the scheduler could not read the schedules: {e}"
            ))),
        }
        let now = chrono::Utc::now();
        let max_sleep = chrono::Duration::seconds(30);
        let wake = engine.next_wake(now, max_sleep).unwrap_or(now + max_sleep);
        let sleep = (wake - now)
            .to_std()
            .unwrap_or_default()
            .max(std::time::Duration::from_millis(200));
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = stop.cancelled() => {}
        }
    }
}

async fn run(data_dir: DataDir, mut rx: tokio::sync::mpsc::Receiver<Command>, out: Outbox) {
    let dd = data_dir.clone();
    let opened = tokio::task::spawn_blocking(move || Engine::open(dd)).await;
    let engine = match opened {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return out.send(Event::OpenFailed(e.to_string())),
        Err(e) => return out.send(Event::OpenFailed(e.to_string())),
    };
    match engine.vault_state() {
        Ok(state) => out.send(Event::Opened(state)),
        Err(e) => return out.send(Event::OpenFailed(e.to_string())),
    }
    let stop = CancelToken::new();
    let hooks = Arc::new(AppHooks {
        out: out.clone(),
        current: Mutex::new(HashMap::new()),
        engine: engine.clone(),
    });
    let mut ctx = Ctx {
        engine: engine.clone(),
        out: out.clone(),
        hooks: hooks.clone(),
        ui_locked: true,
        scheduler: None,
        stop: stop.clone(),
    };
    while let Some(cmd) = rx.recv().await {
        handle(&mut ctx, cmd).await;
    }
    stop.cancel();
}

/// What the command handler works with.
struct Ctx {
    engine: Engine,
    out: Outbox,
    hooks: Arc<AppHooks>,
    /// The window is locked: only unlocking is accepted.
    ui_locked: bool,
    scheduler: Option<tokio::task::JoinHandle<()>>,
    stop: CancelToken,
}

impl Ctx {
    fn unlocked(&mut self) {
        self.ui_locked = false;
        if self.scheduler.is_none() {
            self.scheduler = Some(tokio::spawn(scheduler_loop(
                self.engine.clone(),
                self.hooks.clone(),
                self.stop.clone(),
            )));
        }
        self.out.send(Event::Unlocked);
        refresh(&self.engine, &self.out);
    }
}

fn snapshot(engine: &Engine) -> Result<Snapshot, EngineError> {
    let projects = match engine.vault() {
        Ok(_) => engine
            .projects()?
            .iter()
            .map(|p| engine.project_view(p))
            .collect::<Result<Vec<_>, _>>()?,
        Err(_) => Vec::new(),
    };
    let settings = SettingKey::ALL
        .iter()
        .map(|k| engine.setting(*k).map(|v| (*k, v)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Snapshot {
        projects,
        backups: engine.catalog().backups()?,
        jobs: engine.catalog().jobs()?,
        settings,
        default_compression: engine.default_compression()?,
        activity: engine.catalog().activity(200)?,
        data_dir: engine.data_dir().root.clone(),
    })
}

/// Sends a fresh snapshot. It reads the whole catalog: the runtime moves
/// its other tasks off this worker meanwhile.
fn refresh(engine: &Engine, out: &Outbox) {
    match tokio::task::block_in_place(|| snapshot(engine)) {
        Ok(s) => out.send(Event::Data(Box::new(s))),
        Err(e) => out.send(err(e)),
    }
}

fn spawn_task<F>(
    ctx: &Ctx,
    label: String,
    project: Option<ProjectId>,
    is_backup: bool,
    work: impl FnOnce(Arc<Progress>, CancelToken) -> F,
) where
    F: std::future::Future<Output = (bool, String)> + Send + 'static,
{
    let progress = Arc::new(Progress::new());
    let cancel = CancelToken::new();
    let id = new_task_id();
    ctx.out.send(Event::TaskStarted(TaskInfo {
        id,
        label,
        project,
        is_backup,
        progress: progress.clone(),
        cancel: cancel.clone(),
    }));
    let fut = work(progress, cancel);
    let out = ctx.out.clone();
    tokio::spawn(async move {
        let (ok, message) = fut.await;
        out.send(Event::TaskFinished { id, ok, message });
    });
}

async fn handle(ctx: &mut Ctx, cmd: Command) {
    let engine = &ctx.engine.clone();
    let out = &ctx.out.clone();
    if ctx.ui_locked && !matches!(cmd, Command::InitVault(_) | Command::Unlock(_)) {
        return;
    }
    match cmd {
        Command::InitVault(pw) => match engine.init_vault(&pw) {
            Ok(()) => ctx.unlocked(),
            Err(e) => out.send(Event::UnlockFailed(e.to_string())),
        },
        Command::Unlock(pw) => {
            // Checks the password even when the engine still holds the key
            // (the window was locked, schedules kept running).
            let e2 = engine.clone();
            let r = tokio::task::spawn_blocking(move || e2.unlock(&pw)).await;
            match r {
                Ok(Ok(())) => ctx.unlocked(),
                Ok(Err(e)) => out.send(Event::UnlockFailed(e.to_string())),
                Err(e) => out.send(Event::UnlockFailed(e.to_string())),
            }
        }
        Command::Lock => {
            // The window locks; the engine keeps its key so scheduled
            // backups go on while nobody is at the desk.
            ctx.ui_locked = true;
            out.send(Event::Locked);
        }
        Command::SaveProject { id, input, active } => {
            let result = match id {
                None => engine.add_project(&input).and_then(|p| {
                    if active {
                        Ok(p)
                    } else {
                        engine.edit_project(
                            &p.id.to_string(),
                            ProjectPatch {
                                is_active: Some(false),
                                ..Default::default()
                            },
                        )
                    }
                }),
                Some(id) => engine.edit_project(
                    &id.to_string(),
                    ProjectPatch {
                        name: Some(input.name.clone()),
                        description: Some(input.description.clone()),
                        environment: Some(input.environment.clone()),
                        db_url: Some(input.db_url.clone()),
                        service_key: Some(input.service_key.clone()),
                        anon_key: Some(input.anon_key.clone()),
                        is_active: Some(active),
                    },
                ),
            };
            match result {
                Ok(p) => {
                    out.send(Event::ProjectSaved(p.name));
                    refresh(engine, out);
                }
                Err(EngineError::Invalid(errors)) => out.send(Event::ProjectInvalid(errors)),
                Err(e) => out.send(err(e)),
            }
        }
        Command::RemoveProject(id) => match engine.remove_project(&id.to_string()) {
            Ok((p, _)) => {
                out.send(Event::Info(format!(
                    "Removed \"{}\"; its backups are kept",
                    p.name
                )));
                refresh(engine, out);
            }
            Err(e) => out.send(err(e)),
        },
        Command::TestProject(id) => {
            let (engine, out) = (engine.clone(), out.clone());
            tokio::spawn(async move {
                let r = engine
                    .test_project(&id.to_string())
                    .await
                    .map_err(|e| e.to_string());
                out.send(Event::Tested(TestKey::Project(id), Box::new(r)));
            });
        }
        Command::TestUrl(url) => {
            let (engine, out) = (engine.clone(), out.clone());
            tokio::spawn(async move {
                let r = match ConnInfo::parse(&url) {
                    Ok(info) => engine.test_conninfo(&info).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                out.send(Event::Tested(TestKey::Form, Box::new(r)));
            });
        }
        Command::Reveal { project, slot } => {
            let r = engine
                .catalog()
                .project(project)
                .map_err(EngineError::from)
                .and_then(|p| match p {
                    Some(p) => engine.project_secret(&p, slot),
                    None => Ok(None),
                });
            match r {
                Ok(v) => out.send(Event::Revealed(project, slot, v)),
                Err(e) => out.send(err(e)),
            }
        }
        Command::Backup {
            project,
            kind,
            profile,
            compression,
        } => {
            let name = engine
                .catalog()
                .project(project)
                .ok()
                .flatten()
                .map(|p| p.name)
                .unwrap_or_default();
            let e = engine.clone();
            let o = out.clone();
            spawn_task(
                ctx,
                format!("Backup of {name}"),
                Some(project),
                true,
                move |p, c| async move {
                    let req = BackupRequest {
                        project,
                        kind,
                        profile,
                        compression: Some(compression),
                        job_id: None,
                    };
                    let r = match e.backup(req, p, c).await {
                        Ok(b) if b.status == crate::domain::BackupStatus::Completed => (
                            true,
                            format!(
                                "Backup of {} completed ({} rows)",
                                b.project_name,
                                crate::domain::human_count(b.rows)
                            ),
                        ),
                        Ok(b) => (
                            false,
                            format!(
                                "Backup of {} {}: {}",
                                b.project_name,
                                b.status,
                                b.error.unwrap_or_default()
                            ),
                        ),
                        Err(err) => (false, err.to_string()),
                    };
                    refresh(&e, &o);
                    r
                },
            );
        }
        Command::Verify(id) => {
            let e = engine.clone();
            spawn_task(
                ctx,
                format!("Verify {}", id.short()),
                None,
                false,
                move |p, _c| async move {
                    match e.verify(&id.to_string(), p).await {
                        Ok(r) if r.ok() => (true, format!("Backup {} is intact", id.short())),
                        Ok(r) => (
                            false,
                            format!(
                                "Backup {} is damaged: {}",
                                id.short(),
                                crate::engine::describe_problems(&r)
                            ),
                        ),
                        Err(err) => (false, err.to_string()),
                    }
                },
            );
        }
        Command::Drill { backup, url } => {
            let e = engine.clone();
            let o = out.clone();
            spawn_task(
                ctx,
                format!("Restore drill {}", backup.short()),
                None,
                false,
                move |p, c| async move {
                    let server = match ConnInfo::parse(&url) {
                        Ok(s) => s,
                        Err(err) => return (false, err.to_string()),
                    };
                    let r = match e
                        .drill(&backup.to_string(), &server, None, false, p, c)
                        .await
                    {
                        Ok(d) if d.ok() => (
                            true,
                            format!(
                                "Restore drill passed: {} table(s), {} rows",
                                d.tables_checked,
                                crate::domain::human_count(d.rows)
                            ),
                        ),
                        Ok(d) => (
                            false,
                            format!(
                                "Restore drill found {} table(s) with other row counts",
                                d.mismatches.len()
                            ),
                        ),
                        Err(err) => (false, err.to_string()),
                    };
                    refresh(&e, &o);
                    r
                },
            );
        }
        Command::Restore {
            backup,
            url,
            confirmed,
        } => {
            let target = match ConnInfo::parse(&url) {
                Ok(t) => t,
                Err(e) => return out.send(err(e)),
            };
            let e = engine.clone();
            let o = out.clone();
            spawn_task(
                ctx,
                format!("Restore {}", backup.short()),
                None,
                false,
                move |p, c| async move {
                    let req = RestoreRequest {
                        source: backup.to_string(),
                        target: target.clone(),
                        confirmed,
                    };
                    let r = match e.restore(req, p, c).await {
                        Ok(r) => (
                            true,
                            format!(
                                "Restored {} rows into {}",
                                crate::domain::human_count(r.rows),
                                r.target
                            ),
                        ),
                        Err(EngineError::NeedsConfirmation(message)) => {
                            o.send(Event::RestoreNeedsConfirmation {
                                backup,
                                url,
                                dbname: target.dbname_or_default().to_string(),
                                message,
                            });
                            (true, "Type the database name to confirm the restore".into())
                        }
                        Err(err) => (false, err.to_string()),
                    };
                    refresh(&e, &o);
                    r
                },
            );
        }
        Command::DeleteBackup(id) => match tokio::task::block_in_place(|| {
            // Removes a whole folder.
            engine.delete_backup(&id.to_string())
        }) {
            Ok(b) => {
                out.send(Event::Info(format!("Deleted backup {}", b.id.short())));
                refresh(engine, out);
            }
            Err(e) => out.send(err(e)),
        },
        Command::SetPinned(id, pinned) => match engine.set_pinned(&id.to_string(), pinned) {
            Ok(_) => refresh(engine, out),
            Err(e) => out.send(err(e)),
        },
        Command::SetSetting(key, value) => match engine.set_setting(key, &value) {
            Ok(v) => {
                out.send(Event::Info(format!("{key} = {v}")));
                refresh(engine, out);
            }
            Err(e) => out.send(err(e)),
        },
        Command::PickFolder(key) => {
            let out = out.clone();
            tokio::spawn(async move {
                if let Some(folder) = rfd::AsyncFileDialog::new()
                    .set_title(format!("Choose the {key} folder"))
                    .pick_folder()
                    .await
                {
                    out.send(Event::FolderPicked(key, folder.path().to_path_buf()));
                }
            });
        }
        Command::OpenFolder(path) => {
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else if cfg!(windows) {
                "explorer"
            } else {
                "xdg-open"
            };
            if let Err(e) = std::process::Command::new(opener).arg(&path).spawn() {
                out.send(Event::Error(format!(
                    "cannot open {} with {opener}: {e}",
                    path.display()
                )));
            }
        }
        Command::SaveJob { id, input } => {
            let r = match id {
                None => engine.add_job(&input),
                Some(id) => engine.edit_job(&id.to_string(), &input),
            };
            match r {
                Ok(j) => {
                    out.send(Event::JobSaved(j.name));
                    refresh(engine, out);
                }
                Err(EngineError::Invalid(errors)) => out.send(Event::JobInvalid(errors)),
                Err(e) => out.send(err(e)),
            }
        }
        Command::SetJobEnabled(id, enabled) => {
            match engine.set_job_enabled(&id.to_string(), enabled) {
                Ok(_) => refresh(engine, out),
                Err(e) => out.send(err(e)),
            }
        }
        Command::RemoveJob(id) => match engine.remove_job(&id.to_string()) {
            Ok(j) => {
                out.send(Event::Info(format!(
                    "Removed schedule \"{}\"; its backups are kept",
                    j.name
                )));
                refresh(engine, out);
            }
            Err(e) => out.send(err(e)),
        },
        Command::RunJobNow(id) => match engine.catalog().job(id) {
            Ok(Some(job)) => {
                let (e, hooks, stop) = (engine.clone(), ctx.hooks.clone(), ctx.stop.clone());
                tokio::spawn(async move {
                    let report = e.run_job(job, &stop, hooks.as_ref()).await;
                    hooks.finished(&report);
                });
            }
            Ok(None) => {}
            Err(e) => out.send(err(e)),
        },
        Command::ExportSqlite => {
            let (e, out) = (engine.clone(), out.clone());
            tokio::spawn(async move {
                let Some(file) = rfd::AsyncFileDialog::new()
                    .set_title("Export the catalog to SQLite")
                    .set_file_name("supabackup-catalog.db")
                    .save_file()
                    .await
                else {
                    return;
                };
                let path = file.path().to_path_buf();
                let r =
                    tokio::task::spawn_blocking(move || e.export_sqlite(&path).map(|c| (c, path)))
                        .await;
                match r {
                    Ok(Ok(((p, j, b), path))) => out.send(Event::Info(format!(
                        "Exported {p} projects, {j} schedules and {b} backups to {}",
                        path.display()
                    ))),
                    Ok(Err(e)) => out.send(err(e)),
                    Err(e) => out.send(err(e)),
                }
            });
        }
    }
}
