//! Records for unit tests.

use crate::domain::{
    Backup, BackupId, BackupJob, BackupKind, BackupStatus, Compression, JobId, Profile, ProjectId,
    Retention,
};
use chrono::{DateTime, Utc};

/// A finished backup of `project` started at `at`.
pub fn backup(
    project: ProjectId,
    job: Option<JobId>,
    at: DateTime<Utc>,
    status: BackupStatus,
    bytes: u64,
) -> Backup {
    Backup {
        id: BackupId::new(),
        project_id: project,
        project_name: "p".into(),
        kind: BackupKind::Full,
        profile: Profile::Postgres,
        compression: Compression::default(),
        status,
        path: "/x".into(),
        bytes,
        raw_bytes: bytes,
        rows: 0,
        started_at: at,
        finished_at: Some(at),
        manifest_sha256: None,
        error: None,
        pinned: false,
        job_id: job,
        server_version: None,
        pg_dump_version: None,
        parts: vec![],
        pid: None,
        extra: Default::default(),
    }
}

/// An enabled full-backup job of `project` on `cron`, never run.
pub fn job(project: ProjectId, cron: &str) -> BackupJob {
    BackupJob {
        id: JobId::new(),
        project_id: project,
        name: "nightly".into(),
        cron: cron.into(),
        enabled: true,
        next_run_at: None,
        created_at: Utc::now(),
        kind: BackupKind::Full,
        profile: None,
        compression: Compression::default(),
        retention: Retention::default(),
        timeout_secs: None,
        retries: 0,
        last_run_at: None,
        last_run_status: None,
        last_backup_id: None,
        webhook_url: None,
        extra: Default::default(),
    }
}
