//! Making a backup: one REPEATABLE READ snapshot shared by every part, each
//! part streamed to `.partial/`, then (for `full` and `storage`, when the
//! project has Storage access) the Storage files, then manifest, checksums,
//! fsync, rename.

use crate::domain::{
    Backup, BackupId, BackupKind, BackupStatus, Compression, ConnInfo, JobId, Level, Part,
    PartInfo, Profile, Project, ProjectId, TableRows,
};
use crate::engine::cancel::or_cancel;
use crate::engine::child::{ToolRun, run_killable};
use crate::engine::dump::{DumpOutput, PartSink, SectionSplit, run_dump};
use crate::engine::lease::{Lease, LeaseRecord};
use crate::engine::platform;
use crate::engine::profile::{dump_args, roles_args};
use crate::engine::remote::{Remote, RemoteConfig};
use crate::engine::set::{self, Details, Manifest, Sealing, SetWriter};
use crate::engine::sqlfilter::{DataFilter, RolesFilter, SchemaFilter};
use crate::engine::sqlstream::{LineFilter, Sink};
use crate::engine::storage::{self, BackupOptions};
use crate::engine::test_connection::{CONNECT_TIMEOUT, default_profile};
use crate::engine::{CancelToken, EngineError, Progress, Unlocked};
use crate::pgtools::{Severity, connect, db_message, diagnose_url, server_info};
use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// When no pg_dump here can dump the server, install the client
    /// programs of its major first (`backup --install-tools`).
    pub install_tools: bool,
}

impl Unlocked {
    /// Runs a backup to the end. `Err` only when it could not start (unknown
    /// project, catalog error); every started backup comes back as a record
    /// whose status says how it ended, and is in the catalog that way. A
    /// `full` backup of a project with Storage access also backs up its
    /// Storage files.
    pub async fn backup(
        &self,
        req: BackupRequest,
        progress: Arc<Progress>,
        cancel: CancelToken,
    ) -> Result<Backup, EngineError> {
        self.backup_with(req, BackupOptions::default(), progress, cancel)
            .await
    }

    /// [`Self::backup`], with how the Storage files are treated (left out,
    /// or a hook told what will be downloaded before it starts).
    pub async fn backup_with(
        &self,
        req: BackupRequest,
        options: BackupOptions,
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
        let final_dir = set::set_dir(&self.backup_root()?, &project, started, req.kind, id);
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
            extra: Default::default(),
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
        let outcome = match self
            .local_write_lease(&project, &req, &options, &final_dir, &progress, &cancel)
            .await
        {
            Ok(lease) => {
                let outcome = self
                    .run_backup(&project, &req, &options, &mut record, &progress, &cancel)
                    .await;
                if let Some(lease) = lease {
                    lease.release().await;
                }
                outcome
            }
            Err(e) => Err(e),
        };
        record.finished_at = Some(Utc::now());
        match outcome {
            Ok(()) => record.status = BackupStatus::Completed,
            Err(e) => {
                record.status = if matches!(e, EngineError::Cancelled) {
                    BackupStatus::Cancelled
                } else {
                    BackupStatus::Failed
                };
                if let EngineError::Pg(pg) = &e {
                    record.extra.missing_tools = pg.missing_tools_major();
                }
                record.error = Some(match e {
                    EngineError::Cancelled => "cancelled by the user; nothing was kept".into(),
                    e => e.to_string(),
                });
                if let Err(e) = set::remove_partial(&final_dir) {
                    self.log(Level::Warning, Some(project.id), e.to_string());
                }
            }
        }
        record.pid = None;
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
        if record.status == BackupStatus::Completed {
            // The set is complete and recorded: a crash from here on leaves
            // its copies pending for `sync`.
            self.copy_completed(&mut record, &progress, &cancel).await;
        }
        progress.finish();
        Ok(record)
    }

    /// For a backup with Storage files: a lease in the backup folder (which
    /// another process or machine may share), held until the set that
    /// refers to its stored files is complete, so their collection leaves
    /// them alone; waits while one runs there.
    async fn local_write_lease(
        &self,
        project: &Project,
        req: &BackupRequest,
        options: &BackupOptions,
        final_dir: &std::path::Path,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<Option<Lease>, EngineError> {
        if !req.kind.has_storage() || options.no_storage || !self.storage_access(project)?.is_some()
        {
            return Ok(None);
        }
        let Some(project_dir) = final_dir.parent() else {
            return Ok(None);
        };
        let root = project_dir.parent().unwrap_or(project_dir);
        let place = format!("the backup folder {}", root.display());
        if !root.is_dir() {
            set::codec::private_dir(root)
                .map_err(|e| EngineError::io("cannot create the backup folder", root, e))?;
        }
        let remote = Remote::open(RemoteConfig::Folder {
            path: root.to_path_buf(),
        })
        .map_err(|e| EngineError::Failed(format!("{place}: {e}")))?;
        let slug = project_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let p = progress.clone();
        let waiting = move |r: &LeaseRecord| {
            p.set_current(format!(
                "waiting: {} is removing unused stored files",
                r.describe()
            ))
        };
        Lease::for_writing(&remote, &slug, cancel, &waiting)
            .await
            .map(Some)
            .map_err(|e| e.at(&place))
    }

    async fn run_backup(
        &self,
        project: &Project,
        req: &BackupRequest,
        options: &BackupOptions,
        record: &mut Backup,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        progress.set_current("connecting");
        let info = self.project_conninfo(project)?;
        let sealing = self.project_sealing(project)?;
        // The Storage side first (its keys and buckets): a mistake there
        // shows before the database is dumped.
        let wants_storage = req.kind.has_storage() && !options.no_storage;
        let prepared = if wants_storage {
            progress.set_current("storage: listing the buckets");
            storage::prepare(self, project, Some(&info), cancel).await?
        } else {
            None
        };
        if req.kind == BackupKind::Storage && prepared.is_none() {
            return Err(EngineError::Failed(format!(
                "\"{}\" has no Storage access, so there are no files to back up: {}",
                project.name,
                self.storage_access(project)?.describe()
            )));
        }
        let writer = SetWriter::create(&record.path)?;
        let (parts, mut details) = if req.kind.has_database() {
            self.dump_database(
                req,
                &info,
                record,
                &writer,
                sealing.as_ref(),
                progress,
                cancel,
            )
            .await?
        } else {
            record.profile = req.profile.unwrap_or_else(|| default_profile(&info, None));
            let details = Details {
                source: info.masked(),
                ..Details::default()
            };
            (Vec::new(), details)
        };
        let mut warnings = Vec::new();
        let stored = match prepared {
            Some(prepared) => {
                let project_dir = record
                    .path
                    .parent()
                    .map(std::path::Path::to_path_buf)
                    .unwrap_or_default();
                let out = storage::run_backup(storage::RunCtx {
                    engine: self,
                    project,
                    prepared,
                    project_dir: &project_dir,
                    set_dir: writer.dir(),
                    sealing: sealing.as_ref(),
                    options,
                    progress,
                    cancel,
                })
                .await?;
                warnings.extend(out.warnings.iter().cloned());
                Some(out)
            }
            // No Storage access: the database only (`project test` says why).
            None => None,
        };
        if details.source.is_empty() {
            details.source = info.masked();
        }

        progress.set_current("writing manifest");
        let details_file = writer.write_details(&details, sealing.as_ref())?;
        let manifest = Manifest {
            format: if stored.is_some() {
                set::FORMAT
            } else {
                set::FORMAT_DATABASE
            },
            tool: format!("supabackup {}", env!("CARGO_PKG_VERSION")),
            id: record.id,
            project_id: project.id,
            project_name: project.name.clone(),
            environment: project.environment.to_string(),
            kind: req.kind,
            profile: record.profile,
            compression: record.compression,
            started_at: record.started_at,
            finished_at: Utc::now(),
            parts: parts.clone(),
            encryption: sealing.as_ref().map(Sealing::describe),
            details: Some(details_file),
            storage: stored.as_ref().map(|s| s.index.clone()),
            objects: stored.as_ref().map(|s| s.objects.clone()),
            inline_details: Details::default(),
        };
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        let manifest_sha = writer.seal(&manifest)?;
        record.extra.warnings = details.warnings();
        record.extra.warnings.extend(warnings);
        record.extra.encryption = manifest.encryption.clone();
        record.extra.storage = stored.map(|s| s.summary);
        record.bytes = parts.iter().map(|p| p.bytes).sum();
        record.raw_bytes = parts.iter().map(|p| p.raw_bytes).sum();
        record.rows = details.rows();
        record.parts = parts;
        record.manifest_sha256 = Some(manifest_sha);
        Ok(())
    }

    /// Dumps the database into the set's parts; the parts (in restore
    /// order) and what the set says about the data.
    #[allow(clippy::too_many_arguments)]
    async fn dump_database(
        &self,
        req: &BackupRequest,
        info: &ConnInfo,
        record: &mut Backup,
        writer: &SetWriter,
        sealing: Option<&Sealing>,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<(Vec<PartInfo>, Details), EngineError> {
        let blockers: Vec<String> = diagnose_url(info)
            .into_iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.message)
            .collect();
        if !blockers.is_empty() {
            return Err(EngineError::Failed(blockers.join("; ")));
        }
        // Round trips count on a remote link: the tools are looked for while
        // connecting, and the server's facts and the snapshot are asked for
        // together (one snapshot for every part: the transaction that
        // exports it stays open until the dump has read its tables).
        let pg = |e: tokio_postgres::Error| {
            EngineError::Failed(format!(
                "cannot open the backup snapshot: {}",
                db_message(e)
            ))
        };
        let (client, found) = or_cancel(cancel, async {
            let (client, found) = tokio::join!(connect(info, CONNECT_TIMEOUT), self.find_tools());
            Ok((client?, found?))
        })
        .await?;
        let (server, snapshot) = or_cancel(cancel, async {
            let (server, snap) = tokio::join!(
                server_info(&client, info),
                client.simple_query(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; \
                     SELECT pg_catalog.pg_export_snapshot(), \
                     coalesce((SELECT rolsuper FROM pg_catalog.pg_roles \
                               WHERE rolname = current_user), false)::text"
                )
            );
            let row = snap
                .map_err(pg)?
                .into_iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
                    _ => None,
                })
                .ok_or_else(|| EngineError::Failed("the server exported no snapshot".into()))?;
            let snapshot = (
                row.get(0).unwrap_or_default().to_string(),
                row.get(1) == Some("true"),
            );
            Ok((server?, snapshot))
        })
        .await?;
        let (snapshot, superuser) = snapshot;
        let profile = req
            .profile
            .unwrap_or_else(|| default_profile(info, Some(&server)));
        record.profile = profile;
        record.server_version = Some(server.version.to_string());
        let tools = self
            .tools_for(found, server.version, req.install_tools, progress, cancel)
            .await?;
        record.pg_dump_version = Some(tools.version.to_string());
        record.extra.pg_dump = Some(crate::domain::UsedTool {
            path: tools.pg_dump.display().to_string(),
            found_by: tools.origin.label().to_string(),
        });
        let full = req.kind == BackupKind::Full;
        let pg_dumpall = match (&tools.pg_dumpall, full) {
            (Some(p), true) => Some(p.clone()),
            (None, true) => {
                return Err(EngineError::Failed(format!(
                    "pg_dumpall is missing beside {} (needed for the roles of a full backup): \
                     install the full PostgreSQL client tools",
                    tools.pg_dump.display()
                )));
            }
            (_, false) => None,
        };
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }

        let dbname = format!("--dbname={}", info.libpq_string_without_password());
        let password = info
            .password()
            .map(|p| zeroize::Zeroizing::new(p.to_string()));
        let tool = |program: PathBuf, args: Vec<String>| ToolRun {
            program,
            args: [vec![dbname.clone(), "--no-password".into()], args].concat(),
            password: password.clone(),
        };
        let compression = record.compression;
        let encrypted = sealing.is_some();

        // pg_dump (every section, one catalog read), pg_dumpall (roles) and
        // the questions this backup asks inside the snapshot run at once;
        // the first failure stops the others.
        let local = CancelToken::new();
        let forward = tokio::spawn({
            let (parent, local) = (cancel.clone(), local.clone());
            async move {
                parent.cancelled().await;
                local.cancel();
            }
        });
        progress.set_current("dumping");
        let kind = req.kind;
        let mut dump_args_ = dump_args(profile, kind);
        dump_args_.push(format!("--snapshot={snapshot}"));
        let dump_tool = tool(tools.pg_dump.clone(), dump_args_);
        let dump = async {
            let split = {
                let part = |p: Part, f: Box<dyn LineFilter>| {
                    PartSink::create(
                        writer.part_path(p, compression.codec, encrypted),
                        p,
                        compression,
                        sealing,
                        f,
                    )
                    .map(Some)
                };
                let parts = kind.parts();
                let has = |p: Part| parts.contains(&p);
                SectionSplit::new(
                    if has(Part::PreData) {
                        part(Part::PreData, Box::new(SchemaFilter::new(profile)))?
                    } else {
                        None
                    },
                    if has(Part::Data) {
                        part(Part::Data, Box::new(DataFilter::new()))?
                    } else {
                        None
                    },
                    if has(Part::PostData) {
                        part(Part::PostData, Box::new(SchemaFilter::new(profile)))?
                    } else {
                        None
                    },
                )
            };
            let r = run_blocking(dump_tool, split, progress, &local).await;
            if r.is_err() {
                local.cancel();
            }
            r
        };
        let roles = async {
            let Some(program) = pg_dumpall.clone() else {
                return Ok(None);
            };
            let sink = PartSink::create(
                writer.part_path(Part::Roles, compression.codec, encrypted),
                Part::Roles,
                compression,
                sealing,
                RolesFilter::new(profile),
            )?;
            let r =
                run_blocking(tool(program, roles_args(superuser)), sink, progress, &local).await;
            if r.is_err() {
                local.cancel();
            }
            r.map(|(_, sink)| Some(sink))
        };
        let plan = async {
            let p = progress.clone();
            let r = or_cancel(&local, async {
                platform::plan(
                    &client,
                    profile,
                    kind,
                    server.version.major,
                    move |estimate| p.set_total(estimate.max(64 * 1024)),
                )
                .await
                .map_err(|e| EngineError::Failed(format!("cannot read the database catalog: {e}")))
            })
            .await;
            if r.is_err() {
                local.cancel();
            }
            r
        };
        let (dumped, roles, plan) = tokio::join!(dump, roles, plan);
        forward.abort();
        if cancel.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        // The first real failure, not the cancels it caused.
        let first_error = [
            dumped.as_ref().err(),
            roles.as_ref().err(),
            plan.as_ref().err(),
        ]
        .into_iter()
        .flatten()
        .find(|e| !matches!(e, EngineError::Cancelled))
        .map(|e| e.to_string());
        if let Some(e) = first_error {
            return Err(EngineError::Failed(e));
        }
        let (tables, split) = dumped?;
        let roles = roles?;
        let plan = plan?;
        // The snapshot is no longer needed.
        let _ = client.batch_execute("ROLLBACK").await;
        drop(client);

        progress.set_current("closing the parts");
        let appendices = vec![
            (Part::PostData, plan.post_data_appendix.clone()),
            (Part::Data, plan.data_appendix.clone()),
        ];
        let (mut parts, roles_found) = tokio::task::spawn_blocking(move || {
            let mut parts = Vec::new();
            let mut found = None;
            if let Some(sink) = roles {
                let (info, filter) = sink.close("")?;
                parts.push(info);
                found = Some((filter.roles, filter.logins_without_password));
            }
            parts.extend(split.close(&appendices)?);
            Ok::<_, EngineError>((parts, found))
        })
        .await
        .map_err(|e| EngineError::Failed(format!("the backup task stopped: {e}")))??;
        parts.sort_by_key(|p| kind.parts().iter().position(|k| *k == p.part));
        let (roles, logins_without_password) = roles_found.unwrap_or_default();
        let details = Details {
            source: info.masked(),
            server_version: server.version.to_string(),
            pg_dump_version: tools.version.to_string(),
            snapshot: Some(snapshot),
            tables,
            roles,
            schemas: plan.schemas.clone(),
            role_passwords: full.then_some(superuser),
            logins_without_password: if full && !superuser {
                logins_without_password
            } else {
                Vec::new()
            },
        };
        Ok((parts, details))
    }
}

/// Runs a dump tool into `sink` on the blocking pool; a cancel kills it.
async fn run_blocking<S: Sink + DumpOutput + Send + 'static>(
    tool: ToolRun,
    sink: S,
    progress: &Arc<Progress>,
    cancel: &CancelToken,
) -> Result<(Vec<TableRows>, S), EngineError> {
    let (p, c) = (progress.clone(), cancel.clone());
    run_killable(cancel, move |slot| run_dump(&tool, sink, &p, &c, &slot))
        .await
        .map_err(|e| EngineError::Failed(format!("the backup task stopped: {e}")))?
}
