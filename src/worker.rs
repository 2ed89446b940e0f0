//! The desktop app's engine side: the engine on its own tokio runtime,
//! taking `Command`s from the window and answering with `Event`s (see
//! [`crate::protocol`]). It never sees egui; the window never waits for it.

mod copies;
mod folder;
mod handle;
mod hooks;
mod keys;
mod os;

use crate::datadir::DataDir;
use crate::engine::{CancelToken, Engine, EngineError, Scheduler, SchedulerSource, Unlocked};
use crate::protocol::{Command, Event, Link, Snapshot, TaskId, TaskInfo, Waker};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};

/// The window's handle on the engine side: a bounded command channel, an
/// event channel, and the runtime the engine runs on.
pub struct Bridge {
    tx: tokio::sync::mpsc::Sender<Command>,
    rx: mpsc::Receiver<Event>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    /// Starts the engine on `data_dir`; `waker` asks the window to repaint.
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
}

impl Link for Bridge {
    fn send(&self, cmd: Command) -> bool {
        self.tx.try_send(cmd).is_ok()
    }

    fn drain(&self) -> Vec<Event> {
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

/// Sends events and wakes the window.
#[derive(Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Event>,
    waker: Waker,
}

impl Outbox {
    pub(crate) fn send(&self, ev: Event) {
        let _ = self.tx.send(ev);
        (self.waker)();
    }

    pub(crate) fn error(&self, e: impl std::fmt::Display) {
        self.send(Event::Error(e.to_string()));
    }
}

static NEXT_TASK: AtomicU64 = AtomicU64::new(1);

/// A fresh task id.
pub(crate) fn new_task_id() -> TaskId {
    NEXT_TASK.fetch_add(1, Ordering::Relaxed)
}

async fn run(data_dir: DataDir, mut rx: tokio::sync::mpsc::Receiver<Command>, out: Outbox) {
    let opened = tokio::task::spawn_blocking(move || Engine::open(data_dir)).await;
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
    let session = Arc::new(Session {
        engine,
        unlocked: RwLock::new(None),
    });
    let mut ctx = Ctx {
        hooks: Arc::new(hooks::AppHooks::new(out.clone(), session.clone())),
        session,
        out,
        ui_locked: true,
        scheduler: None,
        stop: stop.clone(),
    };
    while let Some(cmd) = rx.recv().await {
        handle::handle(&mut ctx, cmd).await;
    }
    stop.cancel();
}

/// The engine, and the engine with the key once unlocked (kept while the
/// window is locked, so schedules go on); shared with the hooks.
pub(crate) struct Session {
    pub(crate) engine: Engine,
    unlocked: RwLock<Option<Unlocked>>,
}

impl Session {
    /// The unlocked engine, if the window has been unlocked.
    pub(crate) fn unlocked(&self) -> Option<Unlocked> {
        self.unlocked.read().ok().and_then(|u| u.clone())
    }

    /// Sends a fresh snapshot. It reads the whole catalog: the runtime
    /// moves its other tasks off this worker meanwhile.
    pub(crate) fn refresh(&self, out: &Outbox) {
        let unlocked = self.unlocked();
        match tokio::task::block_in_place(|| snapshot(&self.engine, unlocked.as_ref())) {
            Ok(s) => out.send(Event::Data(Box::new(s))),
            Err(e) => out.error(e),
        }
    }
}

/// What the command handlers work with.
pub(crate) struct Ctx {
    pub(crate) session: Arc<Session>,
    pub(crate) out: Outbox,
    pub(crate) hooks: Arc<hooks::AppHooks>,
    /// The window is locked: only unlocking is accepted.
    pub(crate) ui_locked: bool,
    scheduler: Option<tokio::task::JoinHandle<()>>,
    pub(crate) stop: CancelToken,
}

impl Ctx {
    /// The window unlocked with `unlocked`: schedules start running (once).
    pub(crate) fn unlocked(&mut self, unlocked: Unlocked) {
        self.ui_locked = false;
        if self.scheduler.is_none() {
            let scheduler =
                Scheduler::new(SchedulerSource::Held(unlocked.clone()), self.hooks.clone())
                    .max_sleep(chrono::Duration::seconds(30));
            let (stop, out) = (self.stop.clone(), self.out.clone());
            self.scheduler = Some(tokio::spawn(async move {
                if let Err(e) = scheduler.run(stop).await {
                    out.error(format!("the scheduler stopped: {e}"));
                }
            }));
        }
        if let Ok(mut u) = self.session.unlocked.write() {
            *u = Some(unlocked);
        }
        self.out.send(Event::Unlocked);
        self.refresh();
        folder::find_tools(self.engine(), self.out.clone());
    }

    /// The engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.session.engine
    }

    /// Sends a fresh snapshot.
    pub(crate) fn refresh(&self) {
        self.session.refresh(&self.out);
    }

    /// Starts a background task with progress and cancel; its outcome
    /// becomes a `TaskFinished` event.
    pub(crate) fn spawn_task<F>(
        &self,
        label: String,
        project: Option<crate::domain::ProjectId>,
        is_backup: bool,
        work: impl FnOnce(Arc<crate::engine::Progress>, CancelToken) -> F,
    ) where
        F: std::future::Future<Output = (bool, String)> + Send + 'static,
    {
        let progress = Arc::new(crate::engine::Progress::new());
        let cancel = CancelToken::new();
        let id = new_task_id();
        self.out.send(Event::TaskStarted(TaskInfo {
            id,
            label,
            project,
            is_backup,
            progress: progress.clone(),
            cancel: cancel.clone(),
        }));
        let fut = work(progress, cancel);
        let out = self.out.clone();
        tokio::spawn(async move {
            let (ok, message) = fut.await;
            out.send(Event::TaskFinished { id, ok, message });
        });
    }
}

fn snapshot(engine: &Engine, unlocked: Option<&Unlocked>) -> Result<Snapshot, EngineError> {
    let projects = match unlocked {
        Some(u) => engine
            .projects()?
            .iter()
            .map(|p| u.project_view(p))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let destinations = match unlocked {
        Some(_) => engine
            .destinations()?
            .iter()
            .map(|d| engine.destination_view(d))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let settings = crate::domain::SettingKey::ALL
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
        destinations,
        data_dir: engine.data_dir().root.clone(),
    })
}
