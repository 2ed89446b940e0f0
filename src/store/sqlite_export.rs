//! Export of the catalog to a real SQLite file: tables `projects`,
//! `backups` and `backup_jobs` with foreign keys and indexes. Secrets go out
//! as the sealed bytes, never in the clear. Written beside the target and
//! renamed over it, so a re-export replaces the file atomically.

use crate::domain::{Backup, BackupJob, Project};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};

/// What went wrong exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// SQLite refused something.
    #[error("SQLite export failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Rows point at rows that are not there (a bug: nothing was replaced).
    #[error("the export has {0} broken reference(s); the previous export was left as it was")]
    Integrity(i64),
    /// The file could not be moved into place.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The target.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

const SCHEMA: &str = "
PRAGMA foreign_keys = ON;
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT NOT NULL DEFAULT '',
    database_url_encrypted BLOB NOT NULL,
    service_key_encrypted BLOB,
    anon_key_encrypted BLOB,
    environment TEXT NOT NULL CHECK (environment IN ('production', 'staging', 'development')),
    is_active INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE backup_jobs (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    cron_expression TEXT NOT NULL,
    is_enabled INTEGER NOT NULL CHECK (is_enabled IN (0, 1)),
    next_run_at TEXT,
    created_at TEXT NOT NULL,
    backup_type TEXT NOT NULL,
    profile TEXT,
    compression TEXT NOT NULL,
    keep_last INTEGER,
    keep_days INTEGER,
    timeout_secs INTEGER,
    retries INTEGER NOT NULL,
    last_run_at TEXT,
    last_run_status TEXT,
    webhook_url TEXT
);
CREATE TABLE backups (
    id TEXT PRIMARY KEY,
    project_id TEXT REFERENCES projects(id) ON DELETE SET NULL,
    project_name TEXT NOT NULL,
    job_id TEXT REFERENCES backup_jobs(id) ON DELETE SET NULL,
    backup_type TEXT NOT NULL CHECK (backup_type IN ('full', 'schema', 'data', 'storage')),
    profile TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled', 'interrupted')),
    file_path TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    compression TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    checksum TEXT,
    error_message TEXT,
    is_pinned INTEGER NOT NULL CHECK (is_pinned IN (0, 1)),
    server_version TEXT,
    pg_dump_version TEXT,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_backups_project_id ON backups(project_id);
CREATE INDEX idx_backups_started_at ON backups(started_at);
CREATE INDEX idx_backups_status ON backups(status);
CREATE INDEX idx_backup_jobs_project_id ON backup_jobs(project_id);
CREATE INDEX idx_backup_jobs_next_run_at ON backup_jobs(next_run_at);
";

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Writes the export to `out` (replacing it atomically). Returns the row
/// counts (projects, jobs, backups).
pub fn export(
    out: &Path,
    projects: &[Project],
    jobs: &[BackupJob],
    backups: &[Backup],
) -> Result<(usize, usize, usize), ExportError> {
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}",
        out.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    // Owner-only, as the catalog it comes from (SQLite's journal follows).
    crate::store::owner_only_file(&tmp).map_err(|source| ExportError::Io {
        path: tmp.clone(),
        source,
    })?;
    let result = write(&tmp, projects, jobs, backups);
    match result {
        Ok(counts) => {
            std::fs::rename(&tmp, out).map_err(|source| ExportError::Io {
                path: out.to_path_buf(),
                source,
            })?;
            Ok(counts)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write(
    path: &Path,
    projects: &[Project],
    jobs: &[BackupJob],
    backups: &[Backup],
) -> Result<(usize, usize, usize), ExportError> {
    let mut conn = Connection::open(path)?;
    conn.execute_batch(SCHEMA)?;
    let tx = conn.transaction()?;
    {
        let mut st =
            tx.prepare("INSERT INTO projects VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?;
        for p in projects {
            st.execute(params![
                p.id.to_string(),
                p.name,
                p.description,
                p.db_url.0,
                p.service_key.as_ref().map(|s| s.0.clone()),
                p.anon_key.as_ref().map(|s| s.0.clone()),
                p.environment.as_str(),
                p.is_active,
                ts(p.created_at),
                ts(p.updated_at),
            ])?;
        }
        let mut st = tx.prepare(
            "INSERT INTO backup_jobs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )?;
        for j in jobs {
            st.execute(params![
                j.id.to_string(),
                j.project_id.to_string(),
                j.name,
                j.cron,
                j.enabled,
                j.next_run_at.map(ts),
                ts(j.created_at),
                j.kind.as_str(),
                j.profile.map(|p| p.as_str()),
                j.compression.to_string(),
                j.retention.keep_last,
                j.retention.keep_days,
                j.timeout_secs.map(|t| t as i64),
                j.retries,
                j.last_run_at.map(ts),
                j.last_run_status.map(|s| s.as_str()),
                j.webhook_url,
            ])?;
        }
        let known: std::collections::HashSet<String> =
            projects.iter().map(|p| p.id.to_string()).collect();
        let known_jobs: std::collections::HashSet<String> =
            jobs.iter().map(|j| j.id.to_string()).collect();
        let mut st = tx.prepare(
            "INSERT INTO backups VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
        )?;
        for b in backups {
            let project = b.project_id.to_string();
            let job = b.job_id.map(|j| j.to_string());
            st.execute(params![
                b.id.to_string(),
                known.contains(&project).then_some(project),
                b.project_name,
                job.filter(|j| known_jobs.contains(j)),
                b.kind.as_str(),
                b.profile.as_str(),
                b.status.as_str(),
                b.path.display().to_string(),
                b.bytes as i64,
                b.compression.to_string(),
                b.rows as i64,
                b.manifest_sha256,
                b.error,
                b.pinned,
                b.server_version,
                b.pg_dump_version,
                ts(b.started_at),
                b.finished_at.map(ts),
                ts(b.started_at),
            ])?;
        }
    }
    tx.commit()?;
    let broken: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if broken > 0 {
        return Err(ExportError::Integrity(broken));
    }
    conn.execute_batch("VACUUM;")?;
    Ok((projects.len(), jobs.len(), backups.len()))
}
