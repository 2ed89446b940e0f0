//! The one scheduling loop, for the desktop app and `supabackup daemon`:
//! wake for the next due slot (at least every `max_sleep`, to notice new
//! schedules and clock jumps), claim what is due and run it in the
//! background so later jobs are not held up; on stop, give running backups
//! `grace` to finish, then cancel them. Retries and anything worth telling
//! go through the [`RunHooks`].

use crate::datadir::DataDir;
use crate::engine::{CancelToken, Engine, EngineError, RunHooks, Unlocked};
use crate::store::StoreError;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// How soon to look again while another supabackup holds the catalog (a
/// failed open costs next to nothing).
const BUSY_RETRY: chrono::Duration = chrono::Duration::seconds(5);

/// Where the scheduler gets its engine.
pub enum Source {
    /// An engine the caller keeps open and unlocked (the desktop app).
    Held(Unlocked),
    /// Open the catalog only to look and while something runs, leaving it
    /// free in between for the desktop app and the CLI (the daemon). The
    /// password is checked at the first open, then only when a job is due
    /// (unlocking costs a key derivation).
    OpenWhenNeeded {
        /// The data dir.
        data_dir: DataDir,
        /// The master password.
        password: Zeroizing<String>,
    },
}

/// The scheduling loop.
pub struct Scheduler {
    source: Source,
    hooks: Arc<dyn RunHooks>,
    max_sleep: chrono::Duration,
    grace: Duration,
}

impl Scheduler {
    /// A scheduler on `source` telling `hooks`; wakes at least every minute,
    /// cancels running backups at once on stop.
    pub fn new(source: Source, hooks: Arc<dyn RunHooks>) -> Self {
        Self {
            source,
            hooks,
            max_sleep: chrono::Duration::minutes(1),
            grace: Duration::ZERO,
        }
    }

    /// Looks again after this long at the latest.
    pub fn max_sleep(mut self, max: chrono::Duration) -> Self {
        self.max_sleep = max;
        self
    }

    /// On stop, running backups get this long to finish before they are
    /// cancelled.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Runs until `stop`, then until the runs it started have ended. Fails
    /// only when it cannot unlock (a wrong master password, no vault).
    pub async fn run(self, stop: CancelToken) -> Result<(), EngineError> {
        let runs_cancel = CancelToken::new();
        let mut runs = tokio::task::JoinSet::new();
        // The daemon's engine, kept while its runs hold the catalog open.
        let mut held: Option<Unlocked> = None;
        let mut password_checked = false;
        let mut busy_told = false;
        // One sync of missing copies at a time.
        let syncing = Arc::new(std::sync::atomic::AtomicBool::new(false));
        while !stop.is_cancelled() {
            while runs.try_join_next().is_some() {}
            if runs.is_empty() {
                held = None;
            }
            let now = Utc::now();
            let wake = match self.look(&mut held, &mut password_checked, now) {
                Ok(Look::Engine(engine, due)) => {
                    busy_told = false;
                    if let Some(unlocked) = due {
                        if !syncing.load(std::sync::atomic::Ordering::SeqCst)
                            && unlocked.copies_due(now).unwrap_or(false)
                        {
                            syncing.store(true, std::sync::atomic::Ordering::SeqCst);
                            let (u, cancel, flag, hooks) = (
                                unlocked.clone(),
                                runs_cancel.clone(),
                                syncing.clone(),
                                self.hooks.clone(),
                            );
                            runs.spawn(async move {
                                let progress = Arc::new(crate::engine::Progress::new());
                                if let Err(e) = u.sync(None, Some(now), &progress, &cancel).await {
                                    hooks.notice(&format!("copying to destinations failed: {e}"));
                                }
                                flag.store(false, std::sync::atomic::Ordering::SeqCst);
                            });
                        }
                        match unlocked.claim_due(now) {
                            Ok(jobs) if !jobs.is_empty() => {
                                let (hooks, cancel) = (self.hooks.clone(), runs_cancel.clone());
                                runs.spawn(async move {
                                    unlocked.run_claimed(jobs, &cancel, hooks).await;
                                });
                            }
                            Ok(_) => {}
                            Err(e) => self.hooks.notice(&format!(
                                "the scheduler could not read the schedules: {e}"
                            )),
                        }
                    }
                    engine
                        .next_wake(Utc::now(), self.max_sleep)
                        .unwrap_or(now + self.max_sleep)
                }
                Ok(Look::Busy) => {
                    if !busy_told {
                        self.hooks.notice(&format!(
                            "the catalog is in use (the desktop app runs the schedules while it \
                             is open; a CLI command holds it for a moment); checking again every \
                             {}s",
                            BUSY_RETRY.num_seconds()
                        ));
                        busy_told = true;
                    }
                    now + BUSY_RETRY
                }
                Err(e @ (EngineError::Vault(_) | EngineError::NoVault)) => return Err(e),
                Err(e) => {
                    self.hooks
                        .notice(&format!("the scheduler could not read the schedules: {e}"));
                    now + self.max_sleep
                }
            };
            let sleep = (wake - Utc::now())
                .to_std()
                .unwrap_or_default()
                .max(Duration::from_millis(200));
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.cancelled() => {}
                // A run ended: the daemon may release the catalog now.
                Some(_) = runs.join_next(), if !runs.is_empty() => {}
            }
        }
        if !runs.is_empty() {
            if !self.grace.is_zero() {
                self.hooks.notice(&format!(
                    "stopping: running backups get {}s to finish",
                    self.grace.as_secs()
                ));
            }
            let waited = tokio::time::timeout(self.grace, async {
                while runs.join_next().await.is_some() {}
            })
            .await;
            if waited.is_err() {
                self.hooks
                    .notice("grace period over: cancelling the running backups");
                runs_cancel.cancel();
                while runs.join_next().await.is_some() {}
            }
        }
        Ok(())
    }

    /// An engine to look at the schedules with, and an unlocked one when a
    /// job is due (or `Busy` while another process holds the catalog).
    fn look(
        &self,
        held: &mut Option<Unlocked>,
        password_checked: &mut bool,
        now: chrono::DateTime<Utc>,
    ) -> Result<Look, EngineError> {
        let due_with = |engine: &Engine| -> Result<bool, EngineError> {
            Ok(engine.next_wake(now, self.max_sleep)? <= now || engine.copies_due(now)?)
        };
        match &self.source {
            Source::Held(unlocked) => {
                let due = due_with(unlocked)?.then(|| unlocked.clone());
                Ok(Look::Engine(unlocked.engine().clone(), due))
            }
            Source::OpenWhenNeeded { data_dir, password } => {
                if let Some(unlocked) = held.clone() {
                    let due = due_with(&unlocked)?.then(|| unlocked.clone());
                    return Ok(Look::Engine(unlocked.engine().clone(), due));
                }
                let engine = match Engine::open(data_dir.clone()) {
                    Ok(e) => e,
                    Err(EngineError::Store(StoreError::InUse(_))) => return Ok(Look::Busy),
                    Err(e) => return Err(e),
                };
                let due = due_with(&engine)?;
                if due || !*password_checked {
                    let unlocked = engine.unlock(password)?;
                    *password_checked = true;
                    if due {
                        *held = Some(unlocked.clone());
                        return Ok(Look::Engine(engine, Some(unlocked)));
                    }
                }
                Ok(Look::Engine(engine, None))
            }
        }
    }
}

/// What a look found.
enum Look {
    /// An engine, and an unlocked one when a job is due.
    Engine(Engine, Option<Unlocked>),
    /// Another supabackup holds the catalog.
    Busy,
}
