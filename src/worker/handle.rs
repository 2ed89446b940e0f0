//! Each `Command` carried out, grouped by what it is about: the session,
//! projects, backups (and what runs them), schedules, settings and the OS.

use crate::domain::{BackupStatus, ConnInfo, human_count};
use crate::engine::storage::{BackupOptions, PlanHook, StoragePlan};
use crate::engine::{
    BackupRequest, DrillRequest, EngineError, ProjectChanges, ProjectPatch, RestoreRequest,
    RunHooks, Unlocked,
};
use crate::protocol::{CheckKind, Command, Event, TestKey};
use crate::worker::copies::{checked, readable};
use crate::worker::keys::{check_change, set_keys};
use crate::worker::{Ctx, copies, folder, keys, os};

/// Carries out one command. While the window is locked only unlocking is
/// accepted.
pub(crate) async fn handle(ctx: &mut Ctx, cmd: Command) {
    if ctx.ui_locked && !matches!(cmd, Command::InitVault(_) | Command::Unlock(_)) {
        return;
    }
    match cmd {
        Command::InitVault(_) | Command::Unlock(_) | Command::Lock => session(ctx, cmd).await,
        Command::SaveProject { .. }
        | Command::RemoveProject(_)
        | Command::TestProject(_)
        | Command::TestUrl(_)
        | Command::Reveal { .. } => projects(ctx, cmd),
        Command::GenerateKey { .. }
        | Command::ImportIdentity(_)
        | Command::ForgetIdentity(_)
        | Command::PickIdentity => {
            if let Some(engine) = keyed(ctx) {
                keys::keys(ctx, engine, cmd);
            }
        }
        Command::Backup { .. }
        | Command::Verify(..)
        | Command::Drill { .. }
        | Command::Restore { .. }
        | Command::SetPinned(..) => backups(ctx, cmd),
        Command::AddDestination(_)
        | Command::TestDestination(_)
        | Command::RemoveDestination(_)
        | Command::PickDestinationFolder
        | Command::Sync(_)
        | Command::VerifyCopy { .. }
        | Command::DeleteBackup(_)
        | Command::LoadSetContents(_) => {
            if let Some(engine) = keyed(ctx) {
                copies::copies(ctx, engine, cmd);
            }
        }
        Command::InstallTools(_) | Command::RemoveTools(_) => {
            folder::tools(ctx, ctx.engine().clone(), cmd)
        }
        Command::FindTools
        | Command::PickSetFolder
        | Command::RestoreFolder { .. }
        | Command::ImportFolder(_) => {
            if let Some(engine) = keyed(ctx) {
                folder::folder(ctx, engine, cmd);
            }
        }
        Command::SaveJob { .. }
        | Command::SetJobEnabled(..)
        | Command::RemoveJob(_)
        | Command::RunJobNow(_) => schedules(ctx, cmd),
        Command::SetSetting(..)
        | Command::PickFolder(_)
        | Command::OpenFolder(_)
        | Command::ExportSqlite => settings(ctx, cmd),
    }
}

/// The engine with the key: the window is unlocked when these run.
fn keyed(ctx: &Ctx) -> Option<Unlocked> {
    let unlocked = ctx.session.unlocked();
    if unlocked.is_none() {
        ctx.out.error("unlock first");
    }
    unlocked
}

async fn session(ctx: &mut Ctx, cmd: Command) {
    let engine = ctx.engine().clone();
    match cmd {
        Command::InitVault(pw) => match engine.init_vault(&pw) {
            Ok(u) => ctx.unlocked(u),
            Err(e) => ctx.out.send(Event::UnlockFailed(e.to_string())),
        },
        Command::Unlock(pw) => {
            // The password is checked even when the worker holds the key
            // already (the window was locked, schedules kept running).
            let r = tokio::task::spawn_blocking(move || engine.unlock(&pw)).await;
            match r {
                Ok(Ok(u)) => ctx.unlocked(u),
                Ok(Err(e)) => ctx.out.send(Event::UnlockFailed(e.to_string())),
                Err(e) => ctx.out.send(Event::UnlockFailed(e.to_string())),
            }
        }
        Command::Lock => {
            // The window locks; the key stays for the scheduled backups.
            ctx.ui_locked = true;
            ctx.out.send(Event::Locked);
        }
        _ => {}
    }
}

fn projects(ctx: &mut Ctx, cmd: Command) {
    let Some(engine) = keyed(ctx) else { return };
    let out = ctx.out.clone();
    match cmd {
        Command::SaveProject {
            id,
            input,
            active,
            encryption,
            copies,
            storage,
        } => {
            if let Some(Err(errors)) = encryption.as_ref().map(check_change) {
                return out.send(Event::ProjectInvalid(errors));
            }
            // A new project's Storage access is checked whole first, so a
            // mistake there adds nothing.
            if id.is_none()
                && let Some(Err(e)) = storage.as_ref().map(|p| p.check_new())
            {
                return match e {
                    EngineError::Invalid(errors) => out.send(Event::ProjectInvalid(errors)),
                    e => out.error(e),
                };
            }
            // The fields, the encryption, the copies and the Storage access
            // in one write: a refusal of any saves nothing.
            let changes = ProjectChanges {
                encryption,
                copy_to: copies.as_ref().map(|c| c.copy_to.clone()),
                remote_only: copies.as_ref().map(|c| c.remote_only),
                storage,
                ..Default::default()
            };
            let result = match id {
                None => engine.add_project_with(&input, active, changes),
                Some(id) => engine.edit_project_with(
                    id,
                    ProjectPatch {
                        name: Some(input.name.clone()),
                        description: Some(input.description.clone()),
                        environment: Some(input.environment.clone()),
                        db_url: Some(input.db_url.clone()),
                        service_key: Some(input.service_key.clone()),
                        anon_key: Some(input.anon_key.clone()),
                        is_active: Some(active),
                    },
                    changes,
                ),
            };
            match result {
                Ok(saved) => out.send(Event::ProjectSaved(saved.name)),
                Err(EngineError::Invalid(errors)) => out.send(Event::ProjectInvalid(errors)),
                Err(e) => out.error(e),
            }
            ctx.refresh();
        }
        Command::RemoveProject(id) => match engine.remove_project(id) {
            Ok((p, _)) => {
                out.send(Event::Info(format!(
                    "Removed \"{}\"; its backups are kept",
                    p.name
                )));
                ctx.refresh();
            }
            Err(e) => out.error(e),
        },
        Command::TestProject(id) => {
            tokio::spawn(async move {
                let r = engine.test_project(id).await.map_err(|e| e.to_string());
                out.send(Event::Tested(TestKey::Project(id), Box::new(r)));
            });
        }
        Command::TestUrl(url) => {
            tokio::spawn(async move {
                let r = match ConnInfo::parse(&url) {
                    Ok(info) => engine.test_conninfo(&info).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                out.send(Event::Tested(TestKey::Form, Box::new(r)));
            });
        }
        Command::Reveal { project, slot } => {
            match engine
                .project(project)
                .and_then(|p| engine.project_secret(&p, slot))
            {
                Ok(v) => out.send(Event::Revealed(project, slot, v)),
                Err(e) => out.error(e),
            }
        }
        _ => {}
    }
}

fn backups(ctx: &mut Ctx, cmd: Command) {
    let Some(engine) = keyed(ctx) else { return };
    let session = ctx.session.clone();
    let out = ctx.out.clone();
    match cmd {
        Command::Backup {
            project,
            kind,
            profile,
            compression,
            no_storage,
        } => {
            let name = engine.project(project).map(|p| p.name).unwrap_or_default();
            ctx.spawn_task(
                format!("Backup of {name}"),
                Some(project),
                true,
                move |p, c| async move {
                    let req = BackupRequest {
                        project,
                        kind,
                        profile,
                        compression: Some(compression),
                        job_id: None,
                        install_tools: false,
                    };
                    let options = BackupOptions {
                        no_storage,
                        on_storage_plan: Some(ask_first_plan(out.clone(), c.clone())),
                    };
                    let r = match engine.backup_with(req, options, p, c).await {
                        Ok(b) if b.extra.missing_tools.is_some() => {
                            let offer = crate::protocol::ToolsOffer {
                                major: b.extra.missing_tools.unwrap_or_default(),
                                message: b.error.clone().unwrap_or_default(),
                                backup: Some(crate::protocol::BackupAgain {
                                    project,
                                    kind,
                                    profile,
                                    compression,
                                    no_storage,
                                }),
                            };
                            out.send(Event::ToolsNeeded(Box::new(offer)));
                            (
                                false,
                                format!(
                                    "Backup of {}: no pg_dump here can dump its server",
                                    b.project_name
                                ),
                            )
                        }
                        Ok(b) if b.status == BackupStatus::Completed => (
                            true,
                            format!(
                                "Backup of {} completed ({} rows)",
                                b.project_name,
                                human_count(b.rows)
                            ),
                        ),
                        Ok(b) => (
                            false,
                            format!(
                                "Backup of {} {}: {}",
                                b.project_name,
                                b.status,
                                b.error.unwrap_or_default()
                            ),
                        ),
                        Err(err) => (false, err.to_string()),
                    };
                    session.refresh(&out);
                    r
                },
            );
        }
        Command::Verify(id, given) => {
            ctx.spawn_task(
                format!("Verify {}", id.short()),
                None,
                false,
                move |p, c| async move {
                    let r = verify(&engine, id, given, p, c).await;
                    checked(&out, id, CheckKind::Verify, r.0, &r.1);
                    r
                },
            );
        }
        Command::Drill {
            backup,
            url,
            keys: given,
        } => {
            ctx.spawn_task(
                format!("Restore drill {}", backup.short()),
                None,
                false,
                move |p, c| async move {
                    let server = match ConnInfo::parse(&url) {
                        Ok(s) => s,
                        Err(err) => return (false, err.to_string()),
                    };
                    let keys = match set_keys(&engine, backup, given) {
                        Ok(k) => k,
                        Err(err) => return (false, err.to_string()),
                    };
                    let (source, _fetched) = match readable(&engine, backup, true, &p, &c).await {
                        Ok(r) => r,
                        Err(err) => return (false, err.to_string()),
                    };
                    let req = DrillRequest {
                        source,
                        server,
                        template: None,
                        keep: false,
                        keys,
                    };
                    let r = match engine.drill(req, p, c).await {
                        Ok(d) if d.ok() => (
                            true,
                            format!(
                                "Restore drill passed: {} table(s), {} rows",
                                d.tables_checked,
                                human_count(d.rows)
                            ),
                        ),
                        Ok(d) => (
                            false,
                            format!(
                                "Restore drill found {} table(s) with other row counts",
                                d.mismatches.len()
                            ),
                        ),
                        Err(err) => (false, err.to_string()),
                    };
                    checked(&out, backup, CheckKind::Drill, r.0, &r.1);
                    session.refresh(&out);
                    r
                },
            );
        }
        Command::Restore {
            backup,
            url,
            confirmed,
            keys: given,
        } => {
            let target = match ConnInfo::parse(&url) {
                Ok(t) => t,
                Err(e) => return out.error(e),
            };
            ctx.spawn_task(
                format!("Restore {}", backup.short()),
                None,
                false,
                move |p, c| async move {
                    let keys = match set_keys(&engine, backup, given.clone()) {
                        Ok(k) => k,
                        Err(err) => return (false, err.to_string()),
                    };
                    let (source, _fetched) = match readable(&engine, backup, true, &p, &c).await {
                        Ok(r) => r,
                        Err(err) => return (false, err.to_string()),
                    };
                    let req = RestoreRequest {
                        source,
                        target: target.clone(),
                        confirmed,
                        keys,
                        skip_checksums: false,
                    };
                    let r = match engine.restore(req, p, c).await {
                        Ok(r) => (
                            true,
                            format!("Restored {} rows into {}", human_count(r.rows), r.target),
                        ),
                        Err(EngineError::NeedsConfirmation(message)) => {
                            out.send(Event::RestoreNeedsConfirmation {
                                backup,
                                url,
                                dbname: target.dbname_or_default().to_string(),
                                message,
                                keys: given,
                            });
                            (true, "Type the database name to confirm the restore".into())
                        }
                        Err(err) => (false, err.to_string()),
                    };
                    session.refresh(&out);
                    r
                },
            );
        }
        Command::SetPinned(id, pinned) => match engine.set_pinned(id, pinned) {
            Ok(_) => ctx.refresh(),
            Err(e) => out.error(e),
        },
        _ => {}
    }
}

/// Asks the window before the first backup of a project's Storage files
/// downloads anything (billed egress); later ones, and a first one with
/// nothing left to download, go on without asking. No answer (the window
/// locked or closed) or a cancel of the task: the backup is cancelled.
fn ask_first_plan(out: crate::worker::Outbox, cancel: crate::engine::CancelToken) -> PlanHook {
    std::sync::Arc::new(move |plan: StoragePlan| {
        let (out, cancel) = (out.clone(), cancel.clone());
        Box::pin(async move {
            if !plan.first || plan.to_download == 0 {
                return true;
            }
            let (answer, reply) = tokio::sync::oneshot::channel();
            out.send(Event::StoragePlan {
                plan: Box::new(plan),
                answer,
            });
            tokio::select! {
                r = reply => r.unwrap_or(false),
                _ = cancel.cancelled() => false,
            }
        })
    })
}

/// Verifies a backup (its copy fetched first when only copies are left);
/// the outcome in words.
async fn verify(
    engine: &Unlocked,
    id: crate::domain::BackupId,
    given: crate::protocol::GivenKeys,
    p: std::sync::Arc<crate::engine::Progress>,
    c: crate::engine::CancelToken,
) -> (bool, String) {
    let keys = match set_keys(engine, id, given) {
        Ok(k) => k,
        Err(err) => return (false, err.to_string()),
    };
    let (set, _fetched) = match readable(engine, id, false, &p, &c).await {
        Ok(r) => r,
        Err(err) => return (false, err.to_string()),
    };
    match engine.verify(&set, &keys, p).await {
        Ok(r) if r.ok() && r.contents_checked => (true, format!("Backup {} is intact", id.short())),
        Ok(r) if r.ok() => (
            true,
            format!(
                "Backup {}: every checksum matches (encrypted: not decrypted \
                         without its key)",
                id.short()
            ),
        ),
        Ok(r) if keys::wrong_key_only(&r) => (
            false,
            format!(
                "Backup {}: every checksum matches, but no key given opens it \
                         (a wrong identity file or passphrase)",
                id.short()
            ),
        ),
        Ok(r) => (
            false,
            format!(
                "Backup {} is damaged: {}",
                id.short(),
                crate::engine::describe_problems(&r)
            ),
        ),
        Err(err) => (false, err.to_string()),
    }
}

fn schedules(ctx: &mut Ctx, cmd: Command) {
    let Some(engine) = keyed(ctx) else { return };
    let out = ctx.out.clone();
    match cmd {
        Command::SaveJob { id, input } => {
            let r = match id {
                None => engine.add_job(&input),
                Some(id) => engine.edit_job(id, &input),
            };
            match r {
                Ok(j) => {
                    out.send(Event::JobSaved(j.name));
                    ctx.refresh();
                }
                Err(EngineError::Invalid(errors)) => out.send(Event::JobInvalid(errors)),
                Err(e) => out.error(e),
            }
        }
        Command::SetJobEnabled(id, enabled) => match engine.set_job_enabled(id, enabled) {
            Ok(_) => ctx.refresh(),
            Err(e) => out.error(e),
        },
        Command::RemoveJob(id) => match engine.remove_job(id) {
            Ok(j) => {
                out.send(Event::Info(format!(
                    "Removed schedule \"{}\"; its backups are kept",
                    j.name
                )));
                ctx.refresh();
            }
            Err(e) => out.error(e),
        },
        Command::RunJobNow(id) => match engine.job(id) {
            Ok(job) => {
                let (hooks, stop) = (ctx.hooks.clone(), ctx.stop.clone());
                tokio::spawn(async move {
                    let report = engine.run_job(job, &stop, hooks.as_ref()).await;
                    hooks.finished(&report);
                });
            }
            Err(e) => out.error(e),
        },
        _ => {}
    }
}

fn settings(ctx: &mut Ctx, cmd: Command) {
    let engine = ctx.engine().clone();
    let out = ctx.out.clone();
    match cmd {
        Command::SetSetting(key, value) => match engine.set_setting(key, &value) {
            Ok(v) => {
                out.send(Event::Info(format!("{key} = {v}")));
                if key == crate::domain::SettingKey::PgBinDir {
                    folder::find_tools(&engine, out.clone());
                }
                ctx.refresh();
            }
            Err(e) => out.error(e),
        },
        Command::PickFolder(key) => os::pick_folder(key, out),
        Command::OpenFolder(path) => os::open_folder(&path, &out),
        Command::ExportSqlite => {
            tokio::spawn(async move {
                let Some(path) =
                    os::save_file("Export the catalog to SQLite", "supabackup-catalog.db").await
                else {
                    return;
                };
                let r = tokio::task::spawn_blocking(move || {
                    engine.export_sqlite(&path).map(|c| (c, path))
                })
                .await;
                match r {
                    Ok(Ok(((p, j, b), path))) => out.send(Event::Info(format!(
                        "Exported {p} projects, {j} schedules and {b} backups to {}",
                        path.display()
                    ))),
                    Ok(Err(e)) => out.error(e),
                    Err(e) => out.error(e),
                }
            });
        }
        _ => {}
    }
}
