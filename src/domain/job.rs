//! Scheduled backup jobs and their retention policy.

use crate::domain::{
    BackupId, BackupKind, Compression, Extra, JobExtra, JobId, Profile, ProjectId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How many backups a job keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Retention {
    /// Keep the newest N successful backups.
    pub keep_last: Option<u32>,
    /// Keep backups younger than N days.
    pub keep_days: Option<u32>,
}

/// How a job's last run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// It is running now.
    Running,
    /// A backup completed.
    Succeeded,
    /// Every attempt failed.
    Failed,
}

impl RunStatus {
    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scheduled backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupJob {
    /// Stable id.
    pub id: JobId,
    /// The project it backs up.
    pub project_id: ProjectId,
    /// Unique name.
    pub name: String,
    /// Cron line as the user wrote it (5 fields or `@daily`...).
    pub cron: String,
    /// Disabled jobs keep their settings but do not run.
    pub enabled: bool,
    /// Next time it is due.
    pub next_run_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Full, schema or data.
    pub kind: BackupKind,
    /// Profile, or chosen from the database when `None`.
    pub profile: Option<Profile>,
    /// Codec and level.
    pub compression: Compression,
    /// What retention keeps.
    pub retention: Retention,
    /// A run longer than this is cancelled.
    pub timeout_secs: Option<u64>,
    /// Extra attempts after a failure.
    pub retries: u32,
    /// When it last ran.
    pub last_run_at: Option<DateTime<Utc>>,
    /// How that run ended.
    pub last_run_status: Option<RunStatus>,
    /// The backup that run made.
    pub last_backup_id: Option<BackupId>,
    /// POSTed a small JSON when a run fails.
    pub webhook_url: Option<String>,
    /// What later versions add.
    pub extra: Extra<JobExtra>,
}
