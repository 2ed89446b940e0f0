//! "Restore from a folder" and what Settings shows of `supabackup info`:
//! a backup folder picked, read with every checksum checked, restored into
//! a database or added to the history; the PostgreSQL tools found.

use crate::domain::{ConnInfo, human_count};
use crate::engine::{EngineError, Keys, RestoreRequest, SetRef, Unlocked};
use crate::protocol::{Command, Event, FoundTools, GivenKeys, SetContents};
use crate::worker::{Ctx, Outbox};
use std::path::Path;

/// Carries out the folder commands.
pub(crate) fn folder(ctx: &mut Ctx, engine: Unlocked, cmd: Command) {
    let out = ctx.out.clone();
    let session = ctx.session.clone();
    match cmd {
        Command::PickSetFolder => {
            tokio::spawn(async move {
                let Some(dir) = rfd::AsyncFileDialog::new()
                    .set_title("Choose a backup folder (the one holding manifest.json)")
                    .pick_folder()
                    .await
                else {
                    return;
                };
                let dir = dir.path().to_path_buf();
                let d = dir.clone();
                let r = tokio::task::spawn_blocking(move || read(&engine, &d)).await;
                let r = match r {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                out.send(Event::FolderSet(dir, Box::new(r)));
            });
        }
        Command::RestoreFolder {
            dir,
            url,
            confirmed,
            keys: given,
        } => {
            let target = match ConnInfo::parse(&url) {
                Ok(t) => t,
                Err(e) => return out.error(e),
            };
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            ctx.spawn_task(
                format!("Restore from {name}"),
                None,
                false,
                move |p, c| async move {
                    let keys = match folder_keys(&engine, &dir, given) {
                        Ok(k) => k,
                        Err(err) => return (false, err.to_string()),
                    };
                    let req = RestoreRequest {
                        source: SetRef::Folder(dir),
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
                            out.send(Event::FolderRestoreNeedsConfirmation {
                                dbname: target.dbname_or_default().to_string(),
                                message,
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
        Command::ImportFolder(dir) => {
            tokio::spawn(async move {
                let e = engine.clone();
                let r = tokio::task::spawn_blocking(move || e.import_folder_set(&dir)).await;
                match r {
                    Ok(Ok(b)) => {
                        out.send(Event::FolderImported(b.id));
                        out.send(Event::Info(format!(
                            "Added backup {} of \"{}\" to the history (copied to {})",
                            b.id.short(),
                            b.project_name,
                            b.path.display()
                        )));
                        session.refresh(&out);
                    }
                    Ok(Err(e)) => out.error(e),
                    Err(e) => out.error(e),
                }
            });
        }
        Command::FindTools => find_tools(&engine, out),
        _ => {}
    }
}

/// Installs or removes PostgreSQL client programs (no key needed).
pub(crate) fn tools(ctx: &Ctx, engine: crate::engine::Engine, cmd: Command) {
    let out = ctx.out.clone();
    match cmd {
        Command::InstallTools(major) => {
            ctx.spawn_task(
                format!("Install the PostgreSQL {major} client programs"),
                None,
                false,
                move |p, c| async move {
                    let req = crate::engine::ToolsRequest::for_major(major);
                    let r = match engine.install_tools(req, p, c).await {
                        Ok(i) => {
                            out.send(Event::ToolsInstalled(i.record.version.clone()));
                            (
                                true,
                                format!(
                                    "Installed the PostgreSQL {} client programs in {}",
                                    i.record.version,
                                    i.dir.display()
                                ),
                            )
                        }
                        Err(e) => (false, e.to_string()),
                    };
                    find_tools(&engine, out);
                    r
                },
            );
        }
        Command::RemoveTools(version) => {
            match engine.remove_tools(&version) {
                Ok(dir) => out.send(Event::Info(format!(
                    "Removed the PostgreSQL {version} client programs ({})",
                    dir.display()
                ))),
                Err(e) => out.error(e),
            }
            find_tools(&engine, out);
        }
        _ => {}
    }
}

/// Looks for the PostgreSQL client tools (runs each `pg_dump --version`)
/// and answers with `ToolsFound`.
pub(crate) fn find_tools(engine: &crate::engine::Engine, out: Outbox) {
    let engine = engine.clone();
    tokio::spawn(async move {
        let r = tokio::task::spawn_blocking(move || {
            let dir = engine.pg_bin_override()?;
            Ok::<_, EngineError>(FoundTools {
                tools: engine.all_tools()?,
                searched: crate::pgtools::search_dirs(dir.as_deref(), Some(&engine.tools_dir()))
                    .into_iter()
                    .map(|s| s.dir)
                    .collect(),
            })
        })
        .await;
        match r {
            Ok(Ok(found)) => out.send(Event::ToolsFound(Box::new(found))),
            Ok(Err(e)) => out.error(e),
            Err(e) => out.error(e),
        }
    });
}

/// The keys the vault holds for the set's project (when this catalog
/// knows it), then those given in the dialog.
fn folder_keys(engine: &Unlocked, dir: &Path, given: GivenKeys) -> Result<Keys, EngineError> {
    let manifest = crate::engine::Manifest::read(dir)?;
    let mut keys = engine
        .project(manifest.project_id)
        .and_then(|p| engine.project_keys(&p))
        .unwrap_or_default();
    if let Some(path) = &given.identity {
        keys.add_identity_file(path)?;
    }
    if let Some(p) = given.passphrase {
        keys.add_passphrase(age::secrecy::SecretString::from(p.to_string()));
    }
    Ok(keys)
}

/// The set in `dir` with its checksums checked, its details read with the
/// vault's keys when it is encrypted. Blocking.
fn read(engine: &Unlocked, dir: &Path) -> Result<SetContents, EngineError> {
    let keys = folder_keys(engine, dir, GivenKeys::default())?;
    let found = engine.read_folder_set(dir, &keys)?;
    Ok(SetContents {
        manifest: found.set.manifest,
        details: found.details,
        details_note: found.details_note,
    })
}
