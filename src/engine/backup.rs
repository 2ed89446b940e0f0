//! Making a backup: one REPEATABLE READ snapshot shared by every part, each
//! part streamed to `.partial/`, then manifest, checksums, fsync, rename.

use crate::domain::{
    Backup, BackupId, BackupKind, BackupStatus, Compression, JobId, Level, Part, Profile, Project,
    ProjectId,
};
use crate::engine::cancel::or_cancel;
use crate::engine::child::{ToolRun, run_killable};
use crate::engine::codec::private_dir;
use crate::engine::dump::{PartOutput, PartSpec, run_part};
use crate::engine::manifest::{Manifest, sync_dir};
use crate::engine::platform;
use crate::engine::profile::dump_args;
use crate::engine::sqlfilter::{DataFilter, RolesFilter, SchemaFilter};
use crate::engine::sqlstream::LineFilter;
use crate::engine::test_connection::{CONNECT_TIMEOUT, default_profile};
use crate::engine::{CancelToken, Engine, EngineError, Progress};
use crate::pgtools::{Severity, choose_tools, connect, db_message, diagnose_url, server_info};
use chrono::Utc;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What to back up.
#[derive(Debug, Clone)]
pub struct BackupRequest {
    /// The project.
    pub project: ProjectId,
    /// Full, schema or data.
    pub kind: BackupKind,
    /// Profile; chosen from the database when `None`.
    pub profile: Option<Profile>,
    /// Codec and level; the settings' default when `None`.
    pub compression: Option<Compression>,
    /// The schedule asking, if any.
    pub job_id: Option<JobId>,
}

/// The folder a backup lands in: `<root>/<slug>/<UTC>-<kind>-<short id>`.
pub fn backup_dir(
    root: &Path,
    project: &Project,
    started: chrono::DateTime<Utc>,
    kind: BackupKind,
    id: BackupId,
) -> PathBuf {
    root.join(project.slug()).join(format!(
        "{}-{}-{}",
        started.format("%Y%m%dT%H%M%SZ"),
        kind.as_str(),
        id.short()
    ))
}

/// The `.partial` folder a backup is written in before the rename.
pub fn partial_dir(final_dir: &Path) -> PathBuf {
    let name = final_dir.file_name().unwrap_or_default();
    final_dir
        .parent()
        .map(|p| p.join(".partial").join(name))
        .unwrap_or_else(|| final_dir.with_extension("partial"))
}

impl Engine {
    /// Runs a backup to the end. `Err` only when it could not start (unknown
    /// project, catalog error); every started backup comes back as a record
    /// whose status says how it ended, and is in the catalog that way.
    pub async fn backup(
        &self,
        req: BackupRequest,
        progress: Arc<Progress>,
        cancel: CancelToken,
    ) -> Result<Backup, EngineError> {
        // At most one backup of a project at a time: a second one waits.
        let lock = self.project_lock(req.project);
        let _running = tokio::select! {
            guard = lock.lock() => guard,
            _ = cancel.cancelled() => return Err(EngineError::Cancelled),
        };
        let project = self.catalog().project(req.project)?.ok_or_else(|| {
            EngineError::Failed(format!("project {} no longer exists", req.project))
        })?;
        let compression = match req.compression {
            Some(c) => c,
            None => self.default_compression()?,
        };
        let id = BackupId::new();
        let started = Utc::now();
        let final_dir = backup_dir(&self.backup_root()?, &project, started, req.kind, id);
        let mut record = Backup {
            id,
            project_id: project.id,
            project_name: project.name.clone(),
            kind: req.kind,
            profile: req.profile.unwrap_or(Profile::Postgres),
            compression,
            status: BackupStatus::Running,
            path: final_dir.clone(),
            bytes: 0,
            raw_bytes: 0,
            rows: 0,
            started_at: started,
            finished_at: None,
            manifest_sha256: None,
            error: None,
            pinned: false,
            job_id: req.job_id,
            server_version: None,
            pg_dump_version: None,
            parts: Vec::new(),
            pid: Some(std::process::id()),
        };
        self.catalog().put_backup(&record)?;
        self.log(
            Level::Info,
            Some(project.id),
            format!(
                "backup {} of \"{}\" started ({})",
                id.short(),
                project.name,
                req.kind
            ),
        );
        let partial = partial_dir(&final_dir);
        let outcome = self
            .run_backup(&project, &req, &mut record, &partial, &progress, &cancel)
            .await;
        record.finished_at = Some(Utc::now());
        match outcome {
            Ok(()) => record.status = BackupStatus::Completed,
            Err(e) => {
                record.status = if matches!(e, EngineError::Cancelled) {
                    BackupStatus::Cancelled
                } else {
                    BackupStatus::Failed
                };
                record.error = Some(match e {
                    EngineError::Cancelled => "cancelled by the user; nothing was kept".into(),
                    e => e.to_string(),
                });
                if partial.exists()
                    && let Err(e) = std::fs::remove_dir_all(&partial)
                {
                    self.log(
                        Level::Warning,
                        Some(project.id),
                        format!("could not remove {}: {e}", partial.display()),
                    );
                }
            }
        }
        record.pid = None;
        progress.done.store(true, Ordering::SeqCst);
        self.catalog().put_backup(&record)?;
        let (level, what) = match record.status {
            BackupStatus::Completed => (Level::Info, "completed".to_string()),
            BackupStatus::Cancelled => (Level::Warning, "cancelled".to_string()),
            _ => (
                Level::Error,
                format!("failed: {}", record.error.clone().unwrap_or_default()),
            ),
        };
        self.log(
            level,
            Some(project.id),
            format!("backup {} of \"{}\" {what}", id.short(), project.name),
        );
        Ok(record)
    }

    async fn run_backup(
        &self,
        project: &Project,
        req: &BackupRequest,
        record: &mut Backup,
        partial: &Path,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        progress.set_current("connecting");
        let info = self.project_conninfo(project)?;
        let blockers: Vec<String> = diagnose_url(&info)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.message)
            .collect();
        if !blockers.is_empty() {
            return Err(EngineError::Failed(blockers.join("; ")));
        }
        let client =
            or_cancel(cancel, async { Ok(connect(&info, CONNECT_TIMEOUT).await?) }).await?;
        let server = or_cancel(cancel, async { Ok(server_info(&client, &info).await?) }).await?;
        let profile = req
            .profile
            .unwrap_or_else(|| default_profile(&info, Some(&server)));
        record.profile = profile;
        record.server_version = Some(server.version.to_string());
        let (sets, override_dir) = self.find_tools().await?;
        let tools = choose_tools(&sets, server.version, override_dir.as_deref())?;
        record.pg_dump_version = Some(tools.version.to_string());
        let pg_dumpall = tools.pg_dumpall.clone();
        if req.kind == BackupKind::Full && pg_dumpall.is_none() {
            return Err(EngineError::Failed(format!(
                "pg_dumpall is missing beside {} (needed for the roles of a full backup): \
                 install the full PostgreSQL client tools",
                tools.pg_dump.display()
            )));
        }
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }

        // One snapshot for every part: the transaction that exports it stays
        // open until the last part is written.
        let pg = |e: tokio_postgres::Error| {
            EngineError::Failed(format!(
                "cannot open the backup snapshot: {}",
                db_message(e)
            ))
        };
        let (snapshot, plan) = or_cancel(cancel, async {
            client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await
                .map_err(pg)?;
            let snapshot: String = client
                .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
                .await
                .map_err(pg)?
                .get(0);
            let plan = platform::plan(&client, profile).await.map_err(|e| {
                EngineError::Failed(format!("cannot read the database catalog: {e}"))
            })?;
            Ok((snapshot, plan))
        })
        .await?;
        progress
            .estimated_total
            .store(plan.estimate.max(64 * 1024), Ordering::Relaxed);

        // <root>/<project>/.partial/<name>: the project folder and below are owner-only.
        for dir in [
            partial.parent().and_then(Path::parent),
            partial.parent(),
            Some(partial),
        ]
        .into_iter()
        .flatten()
        {
            private_dir(dir)
                .map_err(|e| EngineError::io("cannot create the backup folder", dir, e))?;
        }
        let dbname = format!("--dbname={}", info.libpq_string_without_password());
        let password = info
            .password()
            .map(|p| zeroize::Zeroizing::new(p.to_string()));
        let mut parts = Vec::new();
        let mut tables = Vec::new();
        let mut roles = Vec::new();
        for &part in req.kind.parts() {
            progress.set_current(format!("{}: starting", part.as_str()));
            let mut args = vec![dbname.clone(), "--no-password".into()];
            args.extend(dump_args(profile, part, plan.superuser));
            let program = match part {
                Part::Roles => pg_dumpall.clone().unwrap_or_default(),
                _ => {
                    args.push(format!("--snapshot={snapshot}"));
                    tools.pg_dump.clone()
                }
            };
            let tool = ToolRun {
                program,
                args,
                password: password.clone(),
            };
            let file = partial.join(format!(
                "{}.sql{}",
                part.as_str(),
                record.compression.codec.suffix()
            ));
            let compression = record.compression;
            macro_rules! spec {
                ($filter:expr) => {
                    PartSpec {
                        part,
                        tool: tool.clone(),
                        file: file.clone(),
                        compression,
                        filter: $filter,
                    }
                };
            }
            match part {
                Part::Roles => {
                    let out =
                        run_blocking(spec!(RolesFilter::new(profile)), progress, cancel).await?;
                    roles = out.filter.roles.clone();
                    parts.push(out.info);
                }
                Part::Schema => {
                    let f = SchemaFilter::new(profile, plan.schema_appendix.clone());
                    let out = run_blocking(spec!(f), progress, cancel).await?;
                    parts.push(out.info);
                }
                Part::Data => {
                    let f = DataFilter::new(plan.data_appendix.clone());
                    let out = run_blocking(spec!(f), progress, cancel).await?;
                    tables.extend(out.tables);
                    parts.push(out.info);
                }
            }
        }
        // The snapshot is no longer needed.
        let _ = client.batch_execute("ROLLBACK").await;
        drop(client);

        progress.set_current("writing manifest");
        let manifest = Manifest {
            format: crate::engine::manifest::FORMAT,
            tool: format!("supabackup {}", env!("CARGO_PKG_VERSION")),
            id: record.id,
            project_id: project.id,
            project_name: project.name.clone(),
            environment: project.environment.to_string(),
            kind: req.kind,
            profile,
            compression: record.compression,
            source: info.masked(),
            server_version: server.version.to_string(),
            pg_dump_version: tools.version.to_string(),
            snapshot: Some(snapshot),
            started_at: record.started_at,
            finished_at: Utc::now(),
            parts: parts.clone(),
            tables,
            roles,
            schemas: plan.schemas.clone(),
        };
        let manifest_sha = manifest.write(partial)?;
        sync_dir(partial)?;
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        let final_dir = record.path.clone();
        if final_dir.exists() {
            return Err(EngineError::Failed(format!(
                "{} already exists: nothing was overwritten",
                final_dir.display()
            )));
        }
        std::fs::rename(partial, &final_dir).map_err(|e| {
            EngineError::io("cannot move the finished backup into place", &final_dir, e)
        })?;
        if let Some(parent) = final_dir.parent() {
            sync_dir(parent)?;
        }
        record.bytes = parts.iter().map(|p| p.bytes).sum();
        record.raw_bytes = parts.iter().map(|p| p.raw_bytes).sum();
        record.rows = manifest.rows();
        record.parts = parts;
        record.manifest_sha256 = Some(manifest_sha);
        Ok(())
    }
}

/// Runs a part on the blocking pool; a cancel kills its child process.
async fn run_blocking<F: LineFilter + 'static>(
    spec: PartSpec<F>,
    progress: &Arc<Progress>,
    cancel: &CancelToken,
) -> Result<PartOutput<F>, EngineError> {
    let (p, c) = (progress.clone(), cancel.clone());
    run_killable(cancel, move |slot| run_part(spec, &p, &c, &slot))
        .await
        .map_err(|e| EngineError::Failed(format!("the backup task stopped: {e}")))?
}
