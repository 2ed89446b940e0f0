//! The window's view of scheduled runs: a progress bar per attempt, the
//! retry said as such, a toast and (on failure) a desktop notification.

use crate::domain::{BackupJob, JobId};
use crate::engine::{CancelToken, Progress, RunHooks, RunReport};
use crate::protocol::{Event, TaskId, TaskInfo};
use crate::worker::{Outbox, Session, new_task_id, os};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Hooks for the scheduler and "Run now".
pub(crate) struct AppHooks {
    out: Outbox,
    session: Arc<Session>,
    /// The task (progress bar) of each job's current attempt.
    current: Mutex<HashMap<JobId, TaskId>>,
}

impl AppHooks {
    pub(crate) fn new(out: Outbox, session: Arc<Session>) -> Self {
        Self {
            out,
            session,
            current: Mutex::new(HashMap::new()),
        }
    }

    fn take_task(&self, job: JobId) -> Option<TaskId> {
        self.current.lock().ok().and_then(|mut m| m.remove(&job))
    }
}

impl RunHooks for AppHooks {
    fn started(&self, job: &BackupJob, progress: Arc<Progress>, cancel: CancelToken) {
        let id = new_task_id();
        if let Ok(mut m) = self.current.lock() {
            m.insert(job.id, id);
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

    fn retrying(&self, job: &BackupJob, attempt: u32, wait: std::time::Duration, error: &str) {
        let message = format!(
            "Scheduled backup \"{}\" failed (attempt {attempt}); retrying in {}s: {error}",
            job.name,
            wait.as_secs()
        );
        match self.take_task(job.id) {
            Some(id) => self.out.send(Event::TaskFinished {
                id,
                ok: false,
                message,
            }),
            None => self.out.send(Event::Error(message)),
        }
    }

    fn finished(&self, r: &RunReport) {
        let message = if r.ok {
            format!("Scheduled backup \"{}\" of {} completed", r.job, r.project)
        } else {
            format!(
                "Scheduled backup \"{}\" of {} failed: {}",
                r.job, r.project, r.message
            )
        };
        if !r.ok {
            os::notify("supabackup: a scheduled backup failed", &message);
        }
        match self.take_task(r.job_id) {
            Some(id) => self.out.send(Event::TaskFinished {
                id,
                ok: r.ok,
                message,
            }),
            None if r.ok => self.out.send(Event::Info(message)),
            None => self.out.send(Event::Error(message)),
        }
        self.session.refresh(&self.out);
    }

    fn notice(&self, message: &str) {
        self.out.send(Event::Error(message.to_string()));
    }
}
