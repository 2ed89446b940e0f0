//! Running scheduled jobs: claim the due ones (their next run moves on before
//! they start, so a crash or a second look never runs a slot twice), run them
//! with a global limit and one backup per project, retry with back-off,
//! apply retention after a success, and tell someone about failures.

use crate::domain::{
    Backup, BackupId, BackupJob, BackupStatus, JobId, Level, ProjectId, RunStatus,
};
use crate::engine::backup::BackupRequest;
use crate::engine::{CancelToken, Engine, EngineError, Progress, Unlocked};
use crate::scheduler::{backoff, due_jobs, next_run, next_wake, retention_victims};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How one scheduled run ended.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The job.
    pub job_id: JobId,
    /// Its name.
    pub job: String,
    /// Its project's name.
    pub project: String,
    /// A backup completed.
    pub ok: bool,
    /// Attempts made.
    pub attempts: u32,
    /// The last backup made (completed or not).
    pub backup_id: Option<BackupId>,
    /// What happened.
    pub message: String,
    /// Backups retention removed.
    pub removed: Vec<BackupId>,
}

/// Who wants to know about scheduled runs (the app's progress bars and
/// notifications, the CLI's output).
pub trait RunHooks: Send + Sync {
    /// A backup attempt started.
    fn started(&self, _job: &BackupJob, _progress: Arc<Progress>, _cancel: CancelToken) {}
    /// An attempt failed; the next one starts after `wait`.
    fn retrying(&self, _job: &BackupJob, _attempt: u32, _wait: std::time::Duration, _error: &str) {}
    /// A run ended (after its retries).
    fn finished(&self, _report: &RunReport) {}
    /// Something about the scheduler itself worth telling (the catalog is in
    /// use, it is stopping, it could not read the schedules).
    fn notice(&self, _message: &str) {}
}

/// No hooks.
pub struct NoHooks;
impl RunHooks for NoHooks {}

impl Engine {
    /// Claims the jobs due at `now`: each one's next run moves on and it is
    /// marked running, before anything runs. A job claimed here is not due
    /// again until its next slot, whoever looks.
    pub fn claim_due(&self, now: DateTime<Utc>) -> Result<Vec<BackupJob>, EngineError> {
        let jobs = self.catalog().jobs()?;
        let active = self.active_projects()?;
        let mut due: Vec<BackupJob> = due_jobs(&jobs, &active, now).into_iter().cloned().collect();
        for job in &mut due {
            job.next_run_at = next_run(job, now, &chrono::Local);
            job.last_run_at = Some(now);
            job.last_run_status = Some(RunStatus::Running);
            self.catalog().put_job(job)?;
        }
        Ok(due)
    }

    /// When a scheduler should look again: the next slot of a job it
    /// runs, but after `max_sleep` at the latest.
    pub fn next_wake(
        &self,
        now: DateTime<Utc>,
        max_sleep: chrono::Duration,
    ) -> Result<DateTime<Utc>, EngineError> {
        let jobs = self.catalog().jobs()?;
        Ok(next_wake(&jobs, &self.active_projects()?, now, max_sleep))
    }

    fn active_projects(&self) -> Result<HashSet<ProjectId>, EngineError> {
        Ok(self
            .catalog()
            .projects()?
            .iter()
            .filter(|p| p.is_active)
            .map(|p| p.id)
            .collect())
    }

    fn record_run(&self, job: &BackupJob, report: &RunReport) {
        // The job may have been edited while it ran: update only its run fields.
        let current = self.catalog().job(job.id).ok().flatten();
        if let Some(mut j) = current {
            j.last_run_status = Some(if report.ok {
                RunStatus::Succeeded
            } else {
                RunStatus::Failed
            });
            j.last_backup_id = report.backup_id.or(j.last_backup_id);
            if let Err(e) = self.catalog().put_job(&j) {
                eprintln!("warning: could not record the run of \"{}\": {e}", j.name);
            }
        }
        let (level, what) = if report.ok {
            (Level::Info, "succeeded".to_string())
        } else {
            (
                Level::Error,
                format!(
                    "failed after {} attempt(s): {}",
                    report.attempts, report.message
                ),
            )
        };
        self.log(
            level,
            Some(job.project_id),
            format!("schedule \"{}\" {what}", job.name),
        );
    }

    async fn notify_failure(&self, job: &BackupJob, report: &RunReport) {
        let Some(url) = job.webhook_url.clone() else {
            return;
        };
        let body = serde_json::json!({
            "event": "backup_failed",
            "schedule": job.name,
            "project": report.project,
            "attempts": report.attempts,
            "backup_id": report.backup_id.map(|b| b.to_string()),
            "error": report.message,
            "at": Utc::now().to_rfc3339(),
        })
        .to_string();
        let target = url.clone();
        let sent = tokio::task::spawn_blocking(move || post_json(&target, &body)).await;
        let result = sent.map_err(|e| e.to_string()).and_then(|r| r);
        if let Err(e) = result {
            self.log(
                Level::Warning,
                Some(job.project_id),
                format!("could not call the webhook of \"{}\": {e}", job.name),
            );
        }
    }
}

impl Unlocked {
    /// Removes what the job's retention no longer keeps, locally and at
    /// every destination holding a copy (the local time zone's calendar for
    /// grandfather-father-son); the activity log lists what went where.
    /// Returns the ids removed.
    pub async fn apply_retention(&self, job: &BackupJob) -> Result<Vec<BackupId>, EngineError> {
        let backups = self.catalog().backups()?;
        let victims = retention_victims(job, &backups, Utc::now(), &chrono::Local);
        let mut removed = Vec::new();
        let mut lines = Vec::new();
        for id in victims {
            let removal = self.remove_backup(id, false).await?;
            lines.push(format!("{} ({})", id.short(), removal.places()));
            if removal.failed.is_empty() {
                removed.push(id);
            }
        }
        if !lines.is_empty() {
            self.log(
                Level::Info,
                Some(job.project_id),
                format!(
                    "retention of \"{}\" removed {} backup(s): {}",
                    job.name,
                    lines.len(),
                    lines.join(", ")
                ),
            );
        }
        Ok(removed)
    }

    /// Runs claimed jobs: at most `concurrency` backups at once across the
    /// engine, one per project. Returns how each ended.
    pub async fn run_claimed(
        &self,
        jobs: Vec<BackupJob>,
        cancel: &CancelToken,
        hooks: Arc<dyn RunHooks>,
    ) -> Vec<RunReport> {
        let mut set = tokio::task::JoinSet::new();
        for job in jobs {
            let (engine, cancel, hooks) = (self.clone(), cancel.clone(), hooks.clone());
            set.spawn(async move {
                let _slot = engine.run_slots().acquire_owned().await;
                let report = engine.run_job(job, &cancel, hooks.as_ref()).await;
                hooks.finished(&report);
                report
            });
        }
        let mut reports = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(report) = r {
                reports.push(report);
            }
        }
        reports
    }

    /// Claims and runs every job due at `now`.
    pub async fn run_due(
        &self,
        now: DateTime<Utc>,
        cancel: &CancelToken,
        hooks: Arc<dyn RunHooks>,
    ) -> Result<Vec<RunReport>, EngineError> {
        let jobs = self.claim_due(now)?;
        Ok(self.run_claimed(jobs, cancel, hooks).await)
    }

    /// Runs one job now, with its retries, retention and notifications.
    pub async fn run_job(
        &self,
        job: BackupJob,
        cancel: &CancelToken,
        hooks: &dyn RunHooks,
    ) -> RunReport {
        let project = self
            .catalog()
            .project(job.project_id)
            .ok()
            .flatten()
            .map(|p| p.name)
            .unwrap_or_default();
        let mut report = RunReport {
            job_id: job.id,
            job: job.name.clone(),
            project: project.clone(),
            ok: false,
            attempts: 0,
            backup_id: None,
            message: String::new(),
            removed: Vec::new(),
        };
        loop {
            report.attempts += 1;
            let (outcome, backup) = self.attempt(&job, cancel, hooks).await;
            report.backup_id = backup.as_ref().map(|b| b.id).or(report.backup_id);
            match outcome {
                Ok(()) => {
                    report.ok = true;
                    report.message = format!(
                        "backup {} completed",
                        backup.as_ref().map(|b| b.id.short()).unwrap_or_default()
                    );
                    match self.apply_retention(&job).await {
                        Ok(removed) => report.removed = removed,
                        Err(e) => self.log(
                            Level::Warning,
                            Some(job.project_id),
                            format!("retention of \"{}\" failed: {e}", job.name),
                        ),
                    }
                    break;
                }
                Err(message) => {
                    report.message = message;
                    if cancel.is_cancelled() || report.attempts > job.retries {
                        break;
                    }
                    let wait = backoff(report.attempts, self.retry_delay().unwrap_or_default());
                    hooks.retrying(&job, report.attempts, wait, &report.message);
                    self.log(
                        Level::Warning,
                        Some(job.project_id),
                        format!(
                            "schedule \"{}\" attempt {} failed; retrying in {}s: {}",
                            job.name,
                            report.attempts,
                            wait.as_secs(),
                            report.message
                        ),
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => break,
                    }
                }
            }
        }
        self.record_run(&job, &report);
        if !report.ok {
            self.notify_failure(&job, &report).await;
        }
        report
    }

    /// One attempt, with the job's timeout.
    async fn attempt(
        &self,
        job: &BackupJob,
        cancel: &CancelToken,
        hooks: &dyn RunHooks,
    ) -> (Result<(), String>, Option<Backup>) {
        let token = CancelToken::new();
        let timed_out = Arc::new(AtomicBool::new(false));
        let watch = tokio::spawn({
            let (token, parent, timed_out, limit) = (
                token.clone(),
                cancel.clone(),
                timed_out.clone(),
                job.timeout_secs,
            );
            async move {
                let timeout = async {
                    match limit {
                        Some(secs) => {
                            tokio::time::sleep(std::time::Duration::from_secs(secs)).await
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = parent.cancelled() => {}
                    _ = timeout => timed_out.store(true, Ordering::SeqCst),
                }
                token.cancel();
            }
        });
        let progress = Arc::new(Progress::new());
        hooks.started(job, progress.clone(), token.clone());
        let req = BackupRequest {
            project: job.project_id,
            kind: job.kind,
            profile: job.profile,
            compression: Some(job.compression),
            job_id: Some(job.id),
            // A schedule never downloads what nobody asked for.
            install_tools: false,
        };
        let result = self.backup(req, progress, token).await;
        watch.abort();
        match result {
            Ok(b) if b.status == BackupStatus::Completed => (Ok(()), Some(b)),
            Ok(mut b) => {
                if timed_out.load(Ordering::SeqCst) {
                    let secs = job.timeout_secs.unwrap_or(0);
                    b.status = BackupStatus::Failed;
                    b.error = Some(format!(
                        "timed out after {secs}s (the schedule's timeout); nothing was kept"
                    ));
                    let _ = self.catalog().put_backup(&b);
                }
                (
                    Err(b.error.clone().unwrap_or_else(|| b.status.to_string())),
                    Some(b),
                )
            }
            Err(e) => (Err(e.to_string()), None),
        }
    }
}

/// POSTs a JSON body; an error says why.
fn post_json(url: &str, body: &str) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
