//! Schedules: adding, editing, enabling, removing.

use crate::domain::{
    BackupJob, BackupKind, Compression, Extra, JobExtra, JobId, Level, Profile, ProjectId,
    Retention, ValidationError, ValidationErrors, validate_name,
};
use crate::engine::{Engine, EngineError};
use crate::scheduler::{CronSpec, next_run};
use chrono::Utc;

/// What the user gave for a schedule.
#[derive(Debug, Clone)]
pub struct JobInput {
    /// Unique name (same rules as project names).
    pub name: String,
    /// The project.
    pub project: ProjectId,
    /// Cron line.
    pub cron: String,
    /// Full, schema or data.
    pub kind: BackupKind,
    /// Profile, or chosen from the database.
    pub profile: Option<Profile>,
    /// Codec and level; the default when `None`.
    pub compression: Option<Compression>,
    /// Keep the newest N.
    pub keep_last: Option<u32>,
    /// Keep those younger than N days.
    pub keep_days: Option<u32>,
    /// Cancel a run longer than this.
    pub timeout_secs: Option<u64>,
    /// Extra attempts after a failure.
    pub retries: u32,
    /// POSTed a JSON when a run fails.
    pub webhook_url: Option<String>,
    /// Runs when due.
    pub enabled: bool,
    /// Grandfather-father-son retention and where its backups are copied;
    /// `None` keeps what the schedule has (a form that does not show them).
    pub extra: Option<JobExtra>,
}

fn validate_webhook(url: &Option<String>) -> Result<(), ValidationError> {
    match url.as_deref().map(str::trim) {
        None | Some("") => Ok(()),
        Some(u) => {
            crate::domain::validate_url("webhook", u, crate::domain::UrlKind::Call).map(drop)
        }
    }
}

impl Engine {
    /// One schedule.
    pub fn job(&self, id: JobId) -> Result<BackupJob, EngineError> {
        self.catalog()
            .job(id)?
            .ok_or_else(|| EngineError::Failed(format!("schedule {id} no longer exists")))
    }

    /// Checks a schedule's fields, each error naming its field.
    pub fn check_job(
        &self,
        input: &JobInput,
    ) -> Result<(crate::domain::Project, CronSpec, Compression), EngineError> {
        let mut errors = Vec::new();
        if let Err(e) = validate_name(input.name.trim()) {
            errors.push(e);
        }
        let cron = CronSpec::parse(&input.cron)
            .map_err(|e| errors.push(e))
            .ok();
        if let Err(e) = validate_webhook(&input.webhook_url) {
            errors.push(e);
        }
        if input.retries > 10 {
            errors.push(ValidationError::new("retries", "must be at most 10"));
        }
        if input.timeout_secs == Some(0) {
            errors.push(ValidationError::new("timeout", "must be at least 1 second"));
        }
        let project = self.project(input.project).map_err(|e| {
            errors.push(ValidationError::new("project", e.to_string()));
        });
        match (cron, project) {
            (Some(cron), Ok(project)) if errors.is_empty() => {
                let compression = match input.compression {
                    Some(c) => c,
                    None => self.default_compression()?,
                };
                Ok((project, cron, compression))
            }
            _ => Err(ValidationErrors(errors).into()),
        }
    }

    fn job_from(
        &self,
        id: JobId,
        input: &JobInput,
        existing: Option<&BackupJob>,
    ) -> Result<BackupJob, EngineError> {
        let (project, cron, compression) = self.check_job(input)?;
        let now = Utc::now();
        let mut job = BackupJob {
            id,
            project_id: project.id,
            name: input.name.trim().to_string(),
            cron: cron.source().to_string(),
            enabled: input.enabled,
            next_run_at: None,
            created_at: existing.map(|j| j.created_at).unwrap_or(now),
            kind: input.kind,
            profile: input.profile,
            compression,
            retention: Retention {
                keep_last: input.keep_last,
                keep_days: input.keep_days,
            },
            timeout_secs: input.timeout_secs,
            retries: input.retries,
            last_run_at: existing.and_then(|j| j.last_run_at),
            last_run_status: existing.and_then(|j| j.last_run_status),
            last_backup_id: existing.and_then(|j| j.last_backup_id),
            webhook_url: input.webhook_url.clone().filter(|u| !u.trim().is_empty()),
            extra: match &input.extra {
                Some(extra) => Extra(extra.clone()),
                None => existing.map(|j| j.extra.clone()).unwrap_or_default(),
            },
        };
        job.next_run_at = next_run(&job, now, &chrono::Local);
        Ok(job)
    }

    /// Adds a schedule; its first run is the next slot after now.
    pub fn add_job(&self, input: &JobInput) -> Result<BackupJob, EngineError> {
        let job = self.job_from(JobId::new(), input, None)?;
        self.catalog().put_job(&job)?;
        self.log(
            Level::Info,
            Some(job.project_id),
            format!("schedule \"{}\" added ({})", job.name, job.cron),
        );
        Ok(job)
    }

    /// Replaces a schedule's settings (its history stays).
    pub fn edit_job(&self, id: JobId, input: &JobInput) -> Result<BackupJob, EngineError> {
        let old = self.job(id)?;
        let job = self.job_from(old.id, input, Some(&old))?;
        self.catalog().put_job(&job)?;
        self.log(
            Level::Info,
            Some(job.project_id),
            format!("schedule \"{}\" edited", job.name),
        );
        Ok(job)
    }

    /// Enables (next run computed from now: no burst of missed runs) or disables.
    pub fn set_job_enabled(&self, id: JobId, enabled: bool) -> Result<BackupJob, EngineError> {
        let mut job = self.job(id)?;
        job.enabled = enabled;
        job.next_run_at = if enabled {
            next_run(&job, Utc::now(), &chrono::Local)
        } else {
            None
        };
        self.catalog().put_job(&job)?;
        self.log(
            Level::Info,
            Some(job.project_id),
            format!(
                "schedule \"{}\" {}",
                job.name,
                if enabled { "enabled" } else { "disabled" }
            ),
        );
        Ok(job)
    }

    /// Removes a schedule; the backups it made stay.
    pub fn remove_job(&self, id: JobId) -> Result<BackupJob, EngineError> {
        let job = self.job(id)?;
        self.catalog().remove_job(job.id)?;
        self.log(
            Level::Info,
            Some(job.project_id),
            format!("schedule \"{}\" removed", job.name),
        );
        Ok(job)
    }
}
