//! `supabackup schedule ...`, `run-due`, `daemon`, `export-sqlite`,
//! `catalog rebuild`.

use crate::cli::args::{CatalogCmd, ScheduleCmd, ScheduleFields};
use crate::cli::backups::ctrl_c_cancels;
use crate::cli::{output, resolve};
use crate::datadir::DataDir;
use crate::domain::{BackupJob, Gfs, JobExtra, ValidationError};
use crate::engine::{
    CancelToken, Engine, EngineError, JobInput, RunHooks, RunReport, Scheduler, SchedulerSource,
    Unlocked,
};
use crate::scheduler::CronSpec;
use chrono::{Local, Utc};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

fn input(
    engine: &Engine,
    name: String,
    project: String,
    f: ScheduleFields,
) -> Result<JobInput, EngineError> {
    let compression = crate::cli::compression_flags(engine, &f.compression, f.level)?;
    let project = resolve::project(engine, &project)
        .map_err(|e| ValidationError::new("project", e.to_string()))?
        .id;
    Ok(JobInput {
        name,
        project,
        cron: f.cron,
        kind: f.kind.parse()?,
        profile: f.profile.as_deref().map(str::parse).transpose()?,
        compression,
        keep_last: f.keep_last,
        keep_days: f.keep_days,
        timeout_secs: f.timeout,
        retries: f.retries,
        webhook_url: f.webhook,
        enabled: !f.disabled,
        extra: Some(JobExtra {
            gfs: Gfs {
                hourly: f.keep_hourly,
                daily: f.keep_daily,
                weekly: f.keep_weekly,
                monthly: f.keep_monthly,
                yearly: f.keep_yearly,
            },
            copy_to: if f.no_copies {
                Some(Vec::new())
            } else if f.copy_to.is_empty() {
                None
            } else {
                Some(resolve::destinations(engine, &f.copy_to)?)
            },
        }),
    })
}

#[derive(Serialize)]
struct JobRow {
    id: String,
    name: String,
    project: String,
    cron: String,
    when: String,
    enabled: bool,
    next_run_at: Option<chrono::DateTime<Utc>>,
    last_run_at: Option<chrono::DateTime<Utc>>,
    last_run_status: Option<String>,
    kind: String,
    keep_last: Option<u32>,
    keep_days: Option<u32>,
    /// Grandfather-father-son: keep hourly/daily/weekly/monthly/yearly.
    keep: Gfs,
    /// Where its backups are copied instead of the project's destinations.
    copy_to: Option<Vec<String>>,
    retries: u32,
    /// A run taking longer is cancelled (`--timeout`).
    timeout_secs: Option<u64>,
}

fn row(engine: &Engine, j: &BackupJob) -> JobRow {
    let project = engine
        .catalog()
        .project(j.project_id)
        .ok()
        .flatten()
        .map(|p| p.name)
        .unwrap_or_default();
    JobRow {
        id: j.id.to_string(),
        name: j.name.clone(),
        project,
        cron: j.cron.clone(),
        when: CronSpec::parse(&j.cron)
            .map(|c| c.describe())
            .unwrap_or_default(),
        enabled: j.enabled,
        next_run_at: j.next_run_at,
        last_run_at: j.last_run_at,
        last_run_status: j.last_run_status.map(|s| s.to_string()),
        kind: j.kind.to_string(),
        keep_last: j.retention.keep_last,
        keep_days: j.retention.keep_days,
        keep: j.extra.gfs,
        copy_to: j
            .extra
            .copy_to
            .as_ref()
            .map(|list| list.iter().map(|d| engine.destination_name(*d)).collect()),
        retries: j.retries,
        timeout_secs: j.timeout_secs,
    }
}

/// What retention keeps, in words.
fn describe_retention(r: &JobRow) -> String {
    let mut rules = Vec::new();
    if let Some(n) = r.keep_last {
        rules.push(format!("the last {n}"));
    }
    if let Some(n) = r.keep_days {
        rules.push(format!("those younger than {n} days"));
    }
    for (n, what) in [
        (r.keep.hourly, "hour"),
        (r.keep.daily, "day"),
        (r.keep.weekly, "week"),
        (r.keep.monthly, "month"),
        (r.keep.yearly, "year"),
    ] {
        if let Some(n) = n {
            rules.push(format!("the newest of each of the last {n} {what}(s)"));
        }
    }
    if rules.is_empty() {
        "keeps everything".into()
    } else {
        format!(
            "keeps {} (locally and at each destination; pinned backups and the newest always)",
            rules.join(", ")
        )
    }
}

fn local(t: chrono::DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

fn print_next_runs(cron: &CronSpec) {
    out!("When:      {} ({})", cron.describe(), cron.source());
    for (i, t) in cron.upcoming(Utc::now(), &Local, 5).iter().enumerate() {
        out!(
            "{}  {}",
            if i == 0 { "Next runs:" } else { "          " },
            local(*t)
        );
    }
}

/// Runs a schedule subcommand.
pub fn run(engine: &Unlocked, cmd: ScheduleCmd) -> Result<i32, EngineError> {
    match cmd {
        ScheduleCmd::Add {
            name,
            project,
            fields,
        } => {
            let job = engine.add_job(&input(engine, name, project, fields)?)?;
            out!(
                "Added schedule \"{}\" for {}.",
                job.name,
                row(engine, &job).project
            );
            print_next_runs(&CronSpec::parse(&job.cron)?);
        }
        ScheduleCmd::Edit {
            name,
            project,
            fields,
        } => {
            let id = resolve::job(engine, &name)?.id;
            let i = input(engine, name.clone(), project, fields)?;
            let job = engine.edit_job(id, &i)?;
            out!("Updated schedule \"{}\".", job.name);
            print_next_runs(&CronSpec::parse(&job.cron)?);
        }
        ScheduleCmd::List(j) => {
            let rows: Vec<JobRow> = engine
                .catalog()
                .jobs()?
                .iter()
                .map(|j| row(engine, j))
                .collect();
            if j.json {
                output::json(&rows);
            } else if rows.is_empty() {
                out!(
                    "No schedules yet: supabackup schedule add NAME --project P --cron \"0 3 * * *\""
                );
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            r.project.clone(),
                            r.cron.clone(),
                            if r.enabled { "yes" } else { "no" }.into(),
                            r.next_run_at.map(local).unwrap_or_else(|| "-".into()),
                            r.last_run_status.clone().unwrap_or_else(|| "-".into()),
                        ]
                    })
                    .collect();
                output::table(
                    &["NAME", "PROJECT", "CRON", "ENABLED", "NEXT RUN", "LAST RUN"],
                    &table,
                );
            }
        }
        ScheduleCmd::Show { name, json } => {
            let job = resolve::job(engine, &name)?;
            let cron = CronSpec::parse(&job.cron)?;
            if json.json {
                #[derive(Serialize)]
                struct Show {
                    #[serde(flatten)]
                    row: JobRow,
                    next_runs: Vec<chrono::DateTime<Utc>>,
                }
                output::json(&Show {
                    row: row(engine, &job),
                    next_runs: cron.upcoming(Utc::now(), &Local, 5),
                });
            } else {
                let r = row(engine, &job);
                out!(
                    "Schedule:  {} ({}, {})",
                    r.name,
                    r.project,
                    if r.enabled { "enabled" } else { "disabled" }
                );
                out!(
                    "Kind:      {}; retries {}; {}",
                    r.kind,
                    r.retries,
                    match r.timeout_secs {
                        Some(secs) => format!(
                            "a run longer than {} ({secs} s) is cancelled",
                            output::duration_ms(
                                i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
                            )
                        ),
                        None => "no timeout".to_string(),
                    }
                );
                out!("Retention: {}", describe_retention(&r));
                out!(
                    "Copies:    {}",
                    match &r.copy_to {
                        None => "the project's destinations".to_string(),
                        Some(list) if list.is_empty() => "none".to_string(),
                        Some(list) => list.join(", "),
                    }
                );
                print_next_runs(&cron);
                out!(
                    "Last run:  {}",
                    match (r.last_run_at, r.last_run_status) {
                        (Some(t), Some(s)) => format!("{} ({s})", local(t)),
                        _ => "never".into(),
                    }
                );
            }
        }
        ScheduleCmd::Enable { name } => {
            let j = engine.set_job_enabled(resolve::job(engine, &name)?.id, true)?;
            out!(
                "Enabled \"{}\"; next run {}.",
                j.name,
                j.next_run_at.map(local).unwrap_or_default()
            );
        }
        ScheduleCmd::Disable { name } => {
            let j = engine.set_job_enabled(resolve::job(engine, &name)?.id, false)?;
            out!("Disabled \"{}\".", j.name);
        }
        ScheduleCmd::Remove { name } => {
            let j = engine.remove_job(resolve::job(engine, &name)?.id)?;
            out!("Removed \"{}\"; its backups are kept.", j.name);
        }
        ScheduleCmd::Explain { cron } => print_next_runs(&CronSpec::parse(&cron)?),
    }
    Ok(0)
}

/// Prints scheduled runs as they start and end.
struct Printer;

impl RunHooks for Printer {
    fn started(&self, job: &BackupJob, _: Arc<crate::engine::Progress>, _: CancelToken) {
        err!(
            "{} schedule \"{}\": backing up",
            Local::now().format("%H:%M:%S"),
            job.name
        );
    }
    fn retrying(&self, job: &BackupJob, attempt: u32, wait: Duration, error: &str) {
        err!(
            "{} schedule \"{}\": attempt {attempt} failed, retrying in {}s: {error}",
            Local::now().format("%H:%M:%S"),
            job.name,
            wait.as_secs()
        );
    }
    fn notice(&self, message: &str) {
        err!("{} {message}", Local::now().format("%H:%M:%S"));
    }
    fn finished(&self, r: &RunReport) {
        err!(
            "{} schedule \"{}\" ({}): {} after {} attempt(s): {}{}",
            Local::now().format("%H:%M:%S"),
            r.job,
            r.project,
            if r.ok { "succeeded" } else { "FAILED" },
            r.attempts,
            r.message,
            if r.removed.is_empty() {
                String::new()
            } else {
                format!("; retention removed {}", r.removed.len())
            }
        );
    }
}

/// `supabackup run-due`.
pub fn run_due(
    engine: &Unlocked,
    json: bool,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    let cancel = CancelToken::new();
    let reports = rt.block_on(ctrl_c_cancels(
        &cancel,
        engine.run_due(Utc::now(), &cancel, Arc::new(Printer)),
    ))?;
    if json {
        output::json(&reports);
    } else if reports.is_empty() {
        out!("Nothing is due.");
    }
    Ok(if reports.iter().all(|r| r.ok) { 0 } else { 1 })
}

/// `supabackup daemon`: the engine's scheduler, opening the catalog only to
/// look and while something runs (the desktop app and the CLI can use it in
/// between), until SIGTERM or Ctrl-C; running backups get `grace` seconds.
pub fn daemon(
    dd: DataDir,
    password: Zeroizing<String>,
    grace: u64,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    rt.block_on(async move {
        let stop = CancelToken::new();
        tokio::spawn(stop_on_signal(stop.clone()));
        err!(
            "supabackup daemon: running schedules from {} (SIGTERM or Ctrl-C stops)",
            dd.root.display()
        );
        Scheduler::new(
            SchedulerSource::OpenWhenNeeded {
                data_dir: dd,
                password,
            },
            Arc::new(Printer),
        )
        .grace(Duration::from_secs(grace))
        .run(stop)
        .await?;
        err!("supabackup daemon: stopped");
        Ok(0)
    })
}

/// Cancels `stop` on Ctrl-C, and on SIGTERM where there are signals (on
/// Windows: Ctrl-Break, console close, shutdown).
async fn stop_on_signal(stop: CancelToken) {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return stop.cancel();
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    // Windows has no SIGTERM. Ctrl-Break (what GenerateConsoleCtrlEvent
    // sends a process group), closing the console and shutdown ask to stop
    // too; after the last two Windows ends the process within seconds, so
    // the grace period is cut short there.
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_break, ctrl_close, ctrl_shutdown};
        match (ctrl_break(), ctrl_close(), ctrl_shutdown()) {
            (Ok(mut brk), Ok(mut close), Ok(mut shutdown)) => {
                tokio::select! {
                    _ = brk.recv() => {}
                    _ = close.recv() => {}
                    _ = shutdown.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    stop.cancel();
}

/// `supabackup catalog ...`. Opens the catalog itself: `catalog rebuild`
/// must work when the catalog is damaged.
pub fn catalog(
    dd: DataDir,
    password_file: Option<&std::path::Path>,
    cmd: CatalogCmd,
) -> Result<i32, EngineError> {
    match cmd {
        CatalogCmd::Rebuild {
            json,
            from_copy,
            from,
        } => {
            if let Some(file) = &from_copy {
                // Checked before anything is moved; a file that is not a good
                // copy is bad input.
                crate::store::CatalogCopy::read(file).map_err(|why| {
                    ValidationError::new(
                        "from-copy",
                        format!(
                            "{} is not a usable copy of the catalog ({why}): pick one in the data \
                             dir's catalog-copies folder",
                            file.display()
                        ),
                    )
                })?;
            }
            let (engine, salvage) = Engine::open_for_rebuild(dd, from_copy.as_deref())?;
            if let Some(s) = &salvage
                && !json.json
            {
                print_salvage(s);
            }
            let unlocked = match crate::cli::password::unlock(&engine, password_file) {
                Ok(u) => u,
                Err(e) => {
                    if salvage.is_some() {
                        err!(
                            "The catalog was replaced, but backup records were not recreated: \
                             run `supabackup catalog rebuild` again with the master password."
                        );
                    }
                    return Err(e);
                }
            };
            let mut r = match &from {
                None => unlocked.rebuild_catalog()?,
                Some(name) => {
                    let d = unlocked.find_destination(name)?;
                    let rt = tokio::runtime::Runtime::new().map_err(|e| {
                        EngineError::Failed(format!("cannot start the async runtime: {e}"))
                    })?;
                    rt.block_on(unlocked.rebuild_from_destination(&d))?
                }
            };
            r.salvage = salvage;
            if json.json {
                output::json(&r);
            } else {
                print_rebuild(&r);
            }
            Ok(if r.skipped.is_empty() { 0 } else { 1 })
        }
    }
}

/// What replacing a damaged catalog did, in words.
fn print_salvage(s: &crate::store::Salvage) {
    match (&s.moved_to, &s.damage) {
        (Some(p), Some(damage)) => out!(
            "The catalog was damaged ({damage}): moved it aside to {}.",
            p.display()
        ),
        (Some(p), None) => out!("Moved the catalog aside to {}.", p.display()),
        (None, _) => out!("There was no catalog file; made a new one."),
    }
    for (p, why) in &s.unusable_copies {
        out!("Could not use the copy {}: {why}", p.display());
    }
    let (Some(copy), Some(at)) = (&s.copy, s.copy_written_at) else {
        out!(
            "No usable copy of the catalog in {}: projects, schedules and settings could not be \
             restored; backup records come back from the backup folders, with placeholder projects.",
            s.copies_dir.display()
        );
        return;
    };
    out!(
        "Restored from the copy of {} ({}):",
        at.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S %Z"),
        copy.display()
    );
    let list = |names: &[String]| {
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    out!(
        "  master-password vault: {}",
        if s.vault { "yes" } else { "none was set" }
    );
    out!("  projects ({}): {}", s.projects.len(), list(&s.projects));
    out!(
        "  schedules ({}): {}",
        s.schedules.len(),
        list(&s.schedules)
    );
    out!("  settings ({}): {}", s.settings.len(), list(&s.settings));
}

/// The backup records part of a rebuild, in words.
fn print_rebuild(r: &crate::engine::RebuildReport) {
    out!(
        "Found {} backup set(s): {} record(s) recreated, {} already known, {} skipped.",
        r.found,
        r.restored,
        r.known,
        r.skipped.len()
    );
    if r.reconciled > 0 {
        out!(
            "{} record(s) said a backup did not complete while its set is complete on disk: \
             recorded as completed.",
            r.reconciled
        );
    }
    for p in &r.placeholders {
        out!(
            "Created inactive placeholder project \"{p}\": set its connection string with supabackup project edit \"{p}\" --db-url URL"
        );
    }
    for (dir, why) in &r.skipped {
        out!("Skipped {}: {why}", dir.display());
    }
}
