//! The off-site commands: destinations added (tested first), tested and
//! removed; `sync` with progress and cancel; a copy verified where it is;
//! a backup deleted with its copies; a set read for its details view; and
//! reading a set from a copy when its local folder is gone.

use crate::domain::{BackupId, DestinationId};
use crate::engine::set::BackupSet;
use crate::engine::{
    CancelToken, EngineError, Fetched, Keys, Progress, SetRef, SyncReport, Unlocked,
};
use crate::protocol::{CheckKind, CheckResult, Command, Event, GivenKeys, SYNC_TASK, SetContents};
use crate::worker::keys::{set_keys, wrong_key_only};
use crate::worker::{Ctx, Outbox};
use std::sync::Arc;

/// Carries out the destination and copy commands.
pub(crate) fn copies(ctx: &mut Ctx, engine: Unlocked, cmd: Command) {
    let out = ctx.out.clone();
    let session = ctx.session.clone();
    match cmd {
        Command::AddDestination(input) => {
            tokio::spawn(async move {
                match engine.add_destination(input, true).await {
                    Ok((d, tested)) => {
                        out.send(Event::DestinationAdded {
                            name: d.name,
                            tested,
                        });
                        session.refresh(&out);
                    }
                    Err(EngineError::Invalid(errors)) => {
                        out.send(Event::DestinationInvalid(errors))
                    }
                    Err(e) => out.send(Event::DestinationRefused(e.to_string())),
                }
            });
        }
        Command::TestDestination(id) => {
            tokio::spawn(async move {
                let r = match engine.destination(id) {
                    Ok(d) => engine.test_destination(&d).await,
                    Err(e) => Err(e),
                };
                out.send(Event::DestinationTested(id, r.map_err(|e| e.to_string())));
                session.refresh(&out);
            });
        }
        Command::RemoveDestination(id) => match engine.remove_destination(id) {
            Ok((d, touched)) => {
                let no_longer = if touched.is_empty() {
                    String::new()
                } else {
                    format!(" (no longer copied to by {})", touched.join(", "))
                };
                out.send(Event::Info(format!(
                    "Removed destination \"{}\"{no_longer}; what was copied there stays there",
                    d.name
                )));
                ctx.refresh();
            }
            Err(e) => out.error(e),
        },
        Command::PickDestinationFolder => {
            tokio::spawn(async move {
                if let Some(folder) = rfd::AsyncFileDialog::new()
                    .set_title("Choose the folder backups are copied to")
                    .pick_folder()
                    .await
                {
                    out.send(Event::DestinationFolderPicked(folder.path().to_path_buf()));
                }
            });
        }
        Command::Sync(project) => {
            ctx.spawn_task(SYNC_TASK.into(), project, false, move |p, c| async move {
                let r = match engine.sync(project, None, &p, &c).await {
                    Ok(report) => sync_words(&report),
                    Err(EngineError::Cancelled) => (
                        false,
                        "Sync cancelled: the copies not made yet stay pending".into(),
                    ),
                    Err(e) => (false, e.to_string()),
                };
                session.refresh(&out);
                r
            });
        }
        Command::VerifyCopy {
            backup,
            destination,
        } => {
            let at = engine.destination_name(destination);
            ctx.spawn_task(
                format!("Verify {} at {at}", backup.short()),
                None,
                false,
                move |p, c| async move {
                    let (ok, message) = verify_copy(&engine, backup, destination, p, c).await;
                    checked(&out, backup, CheckKind::VerifyCopy(at), ok, &message);
                    session.refresh(&out);
                    (ok, message)
                },
            );
        }
        Command::DeleteBackup(id) => {
            tokio::spawn(async move {
                match engine.remove_backup(id, false).await {
                    Ok(removal) if removal.failed.is_empty() => {
                        out.send(Event::Info(format!(
                            "Deleted backup {} from {}",
                            id.short(),
                            removal.places()
                        )));
                    }
                    Ok(removal) => {
                        let failed: Vec<String> = removal
                            .failed
                            .iter()
                            .map(|(d, why)| format!("at \"{d}\": {why}"))
                            .collect();
                        out.error(format!(
                            "Backup {}: its copy could not be deleted {}. The record is kept: \
                             delete it again to retry",
                            id.short(),
                            failed.join("; ")
                        ));
                    }
                    Err(e) => out.error(e),
                }
                session.refresh(&out);
            });
        }
        Command::LoadSetContents(id) => {
            tokio::spawn(async move {
                let r = tokio::task::spawn_blocking(move || set_contents(&engine, id)).await;
                let r = match r {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                out.send(Event::SetContents(id, Box::new(r)));
            });
        }
        _ => {}
    }
}

/// What a sync did, in words.
fn sync_words(r: &SyncReport) -> (bool, String) {
    let mut words = if r.copied.is_empty() && r.failed.is_empty() {
        "Nothing to copy: every backup is at each of its destinations".to_string()
    } else {
        format!(
            "Sync: {} copy(ies) made, {} failed",
            r.copied.len(),
            r.failed.len()
        )
    };
    for (id, d, why) in &r.failed {
        words.push_str(&format!("; {} to \"{d}\": {why}", id.short()));
    }
    if !r.unavailable.is_empty() {
        words.push_str(&format!(
            "; {} copy(ies) not made: the local folder is gone",
            r.unavailable.len()
        ));
    }
    if !r.removed_local.is_empty() {
        words.push_str(&format!(
            "; {} local folder(s) removed (remote-only, every copy verified)",
            r.removed_local.len()
        ));
    }
    (r.failed.is_empty(), words)
}

/// Tells the details view how a check ended.
pub(crate) fn checked(out: &Outbox, backup: BackupId, kind: CheckKind, ok: bool, message: &str) {
    out.send(Event::Checked(CheckResult {
        backup,
        kind,
        ok,
        message: message.to_string(),
        at: chrono::Utc::now(),
    }));
}

/// Fetches the copy at `destination` (checked as it arrives) and verifies it.
async fn verify_copy(
    engine: &Unlocked,
    backup: BackupId,
    destination: DestinationId,
    progress: Arc<Progress>,
    cancel: CancelToken,
) -> (bool, String) {
    let d = match engine.destination(destination) {
        Ok(d) => d,
        Err(e) => return (false, e.to_string()),
    };
    let keys = set_keys(engine, backup, GivenKeys::default()).unwrap_or_else(|_| Keys::none());
    let place = format!("the copy at \"{}\"", d.name);
    let (fetched, r) = match engine
        .verify_copy(backup, &d, &keys, progress, &cancel)
        .await
    {
        Ok(v) => v,
        Err(e) => return (false, e.to_string()),
    };
    match r {
        r if r.ok() && fetched.mismatched.is_empty() => (
            true,
            format!(
                "Backup {}: {place} is intact ({})",
                backup.short(),
                if r.contents_checked {
                    "checksums match, every part decompresses"
                } else {
                    "every checksum matches"
                }
            ),
        ),
        r if wrong_key_only(&r) && fetched.mismatched.is_empty() => (
            true,
            format!(
                "Backup {}: every checksum of {place} matches (encrypted: not decrypted without \
                 its key)",
                backup.short()
            ),
        ),
        r => {
            let mut problems = fetched.mismatched.clone();
            let described = crate::engine::describe_problems(&r);
            if !described.is_empty() {
                problems.push(described);
            }
            (
                false,
                format!(
                    "Backup {}: {place} is damaged: {}",
                    backup.short(),
                    problems.join("; ")
                ),
            )
        }
    }
}

/// The set to read for `backup`: its local folder, or, when that is gone
/// and a copy exists, the copy fetched into a staging folder (checked as it
/// arrives; `strict`: the first mismatch stops it, for a restore).
pub(crate) async fn readable(
    engine: &Unlocked,
    backup: BackupId,
    strict: bool,
    progress: &Arc<Progress>,
    cancel: &CancelToken,
) -> Result<(SetRef, Option<Fetched>), EngineError> {
    let b = engine.backup_record(backup)?;
    if b.path.is_dir() || b.extra.copies.is_empty() {
        return Ok((SetRef::Id(backup), None));
    }
    let d = engine.copy_source(&b, None)?;
    let fetched = engine
        .fetch_set(backup, &d, strict, progress, cancel)
        .await?;
    progress.set_current(format!("read from {}", d.name));
    Ok((fetched.set_ref(), Some(fetched)))
}

/// A set's manifest, and its details when they can be read (with the keys
/// the vault holds for its project, when it is encrypted). Blocking.
fn set_contents(engine: &Unlocked, id: BackupId) -> Result<SetContents, EngineError> {
    let (dir, expected, _) = engine.locate_set(&SetRef::Id(id))?;
    let set = BackupSet::open(&dir)?;
    let mut note = None;
    if expected.is_some_and(|sha| sha != set.manifest_sha) {
        note = Some(
            "manifest.json does not match the checksum the catalog recorded: the set was \
             changed since the backup; verify it"
                .to_string(),
        );
    }
    let keys = if set.encrypted() {
        set_keys(engine, id, GivenKeys::default())?
    } else {
        Keys::none()
    };
    let details = match set.details(&keys) {
        Ok(d) => Some(d),
        Err(_) if set.encrypted() && keys.is_empty() => {
            note.get_or_insert_with(|| {
                "The set is encrypted and the vault holds no key for it: its versions, tables \
                 and row counts are in the encrypted details file"
                    .to_string()
            });
            None
        }
        Err(e) => {
            note.get_or_insert_with(|| format!("its details cannot be read: {e}"));
            None
        }
    };
    Ok(SetContents {
        manifest: set.manifest,
        details,
        details_note: note,
    })
}
