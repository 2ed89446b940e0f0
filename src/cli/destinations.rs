//! `supabackup destination ...` and `supabackup sync`.

use crate::cli::args::{DestinationCmd, SyncArgs};
use crate::cli::backups::with_progress;
use crate::cli::{confirm, output, resolve};
use crate::domain::{DestinationKind, ValidationError, parse_s3_url};
use crate::engine::{
    CancelToken, DestinationInput, Engine, EngineError, Progress, SyncReport, Unlocked,
};
use std::io::IsTerminal;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The S3 secret access key: SUPABACKUP_S3_SECRET_ACCESS_KEY, else asked
/// on a terminal (never an argument: argv is visible to other users).
fn s3_secret() -> Result<Zeroizing<String>, EngineError> {
    match std::env::var("SUPABACKUP_S3_SECRET_ACCESS_KEY") {
        Ok(v) if !v.trim().is_empty() => Ok(Zeroizing::new(v)),
        _ if std::io::stdin().is_terminal() => rpassword::prompt_password("S3 secret access key: ")
            .map(Zeroizing::new)
            .map_err(|e| EngineError::Failed(format!("cannot read the secret key: {e}"))),
        _ => Err(EngineError::NeedsConfirmation(
            "the S3 secret access key is needed: set SUPABACKUP_S3_SECRET_ACCESS_KEY, or run in \
             a terminal to be asked"
                .into(),
        )),
    }
}

/// Runs a destination subcommand (`unlocked` is there for add, test and
/// remove).
pub fn run(
    engine: &Engine,
    unlocked: Option<&Unlocked>,
    cmd: DestinationCmd,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    let keyed = || {
        unlocked.ok_or_else(|| EngineError::Failed("internal: this command needs the vault".into()))
    };
    match cmd {
        DestinationCmd::Add {
            name,
            s3,
            endpoint,
            region,
            path_style,
            access_key_id,
            folder,
            no_test,
        } => {
            let (kind, secret) = match (s3, folder) {
                (Some(url), None) => {
                    let (bucket, prefix) = parse_s3_url(&url)?;
                    let access_key_id = access_key_id.unwrap_or_default();
                    if access_key_id.trim().is_empty() {
                        return Err(ValidationError::new(
                            "access_key_id",
                            "give it with --access-key-id or SUPABACKUP_S3_ACCESS_KEY_ID",
                        )
                        .into());
                    }
                    let kind = DestinationKind::S3 {
                        endpoint: endpoint.unwrap_or_default(),
                        region,
                        bucket,
                        prefix,
                        path_style,
                        access_key_id,
                    };
                    crate::domain::validate_destination(&name, &kind)?;
                    (kind, Some(s3_secret()?))
                }
                (None, Some(path)) => {
                    let path = std::path::absolute(&path)
                        .map_err(|e| EngineError::io("cannot resolve the folder", &path, e))?;
                    (DestinationKind::Folder { path }, None)
                }
                _ => {
                    return Err(ValidationError::new(
                        "destination",
                        "give --s3 s3://BUCKET/PREFIX --endpoint URL, or --folder PATH",
                    )
                    .into());
                }
            };
            let u = keyed()?;
            let (d, tested) =
                rt.block_on(u.add_destination(DestinationInput { name, kind, secret }, !no_test))?;
            if let Some(what) = tested {
                out!("Tested: {what}");
            }
            out!("Added destination \"{}\": {}", d.name, d.describe());
            out!(
                "Next: supabackup project edit PROJECT --copy-to \"{}\"",
                d.name
            );
        }
        DestinationCmd::List(j) => {
            let views = engine
                .destinations()?
                .iter()
                .map(|d| engine.destination_view(d))
                .collect::<Result<Vec<_>, _>>()?;
            if j.json {
                output::json(&views);
            } else if views.is_empty() {
                out!(
                    "No destinations yet: supabackup destination add NAME --s3 s3://BUCKET/PREFIX \
                     --endpoint URL, or --folder PATH"
                );
            } else {
                let rows: Vec<Vec<String>> = views
                    .iter()
                    .map(|v| {
                        vec![
                            v.name.clone(),
                            v.kind.to_string(),
                            v.projects.join(", "),
                            v.location.clone(),
                        ]
                    })
                    .collect();
                output::table(&["NAME", "KIND", "PROJECTS", "WHERE"], &rows);
            }
        }
        DestinationCmd::Show { name, json } => {
            let d = engine.find_destination(&name)?;
            let v = engine.destination_view(&d)?;
            if json.json {
                output::json(&v);
            } else {
                out!("name:       {}", v.name);
                out!("id:         {}", v.id);
                out!("kind:       {}", v.kind);
                out!("where:      {}", v.location);
                out!(
                    "projects:   {}",
                    if v.projects.is_empty() {
                        "none".into()
                    } else {
                        v.projects.join(", ")
                    }
                );
                if !v.schedules.is_empty() {
                    out!("schedules:  {}", v.schedules.join(", "));
                }
                let copies = engine
                    .catalog()
                    .backups()?
                    .iter()
                    .filter_map(|b| b.extra.copy(d.id).map(|c| c.status.clone()))
                    .fold((0, 0, 0), |(ok, failed, pending), s| match s {
                        crate::domain::CopyStatus::Copied => (ok + 1, failed, pending),
                        crate::domain::CopyStatus::Failed { .. }
                        | crate::domain::CopyStatus::Damaged { .. } => (ok, failed + 1, pending),
                        crate::domain::CopyStatus::Pending => (ok, failed, pending + 1),
                    });
                out!(
                    "copies:     {} copied, {} failed, {} pending",
                    copies.0,
                    copies.1,
                    copies.2
                );
                out!(
                    "added:      {}",
                    v.created_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
        }
        DestinationCmd::Test { name } => {
            let d = engine.find_destination(&name)?;
            let what = rt.block_on(keyed()?.test_destination(&d))?;
            out!("Destination \"{}\" works: {what}", d.name);
        }
        DestinationCmd::Remove { name, yes } => {
            let d = engine.find_destination(&name)?;
            if !yes {
                confirm(&format!(
                    "Remove destination \"{}\" ({})? What was copied there stays there.",
                    d.name,
                    d.describe()
                ))?;
            }
            let (d, touched) = keyed()?.remove_destination(d.id)?;
            out!("Removed destination \"{}\".", d.name);
            if !touched.is_empty() {
                out!("No longer copied there: {}.", touched.join(", "));
            }
        }
    }
    Ok(0)
}

/// `supabackup sync`.
pub fn sync(
    engine: &Unlocked,
    a: SyncArgs,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    let project = a
        .project
        .as_deref()
        .map(|p| resolve::project(engine, p).map(|p| p.id))
        .transpose()?;
    let progress = Arc::new(Progress::new());
    let cancel = CancelToken::new();
    let report: SyncReport = with_progress(
        rt,
        progress.clone(),
        cancel.clone(),
        a.json,
        engine.sync(project, None, &progress, &cancel),
    )?;
    let code = if report.failed.is_empty() { 0 } else { 1 };
    if a.json {
        output::json(&report);
        return Ok(code);
    }
    for (id, d) in &report.copied {
        out!("copied   {} to \"{d}\"", id.short());
    }
    for (id, d, why) in &report.failed {
        out!("FAILED   {} to \"{d}\": {why}", id.short());
    }
    for (id, d) in &report.unavailable {
        out!(
            "skipped  {} to \"{d}\": its local folder is gone (kept only at other destinations)",
            id.short()
        );
    }
    for id in &report.removed_local {
        out!(
            "removed  {}'s local folder: every copy is verified (remote-only)",
            id.short()
        );
    }
    if report.copied.is_empty() && report.failed.is_empty() {
        out!("Nothing to copy: every backup is at each of its destinations.");
    } else {
        out!(
            "{} copy(ies) made, {} failed.",
            report.copied.len(),
            report.failed.len()
        );
    }
    Ok(code)
}
