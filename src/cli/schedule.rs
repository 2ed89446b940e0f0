//! `supabackup schedule ...`, `run-due`, `daemon`, `export-sqlite`,
//! `catalog rebuild`.

use crate::cli::args::{CatalogCmd, ScheduleCmd, ScheduleFields};
use crate::cli::backups::ctrl_c_cancels;
use crate::cli::output;
use crate::datadir::DataDir;
use crate::domain::BackupJob;
use crate::engine::{CancelToken, Engine, EngineError, JobInput, RunHooks, RunReport};
use crate::scheduler::CronSpec;
use crate::store::StoreError;
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
    retries: u32,
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
        retries: j.retries,
    }
}

fn local(t: chrono::DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

fn print_next_runs(cron: &CronSpec) {
    println!("When:      {} ({})", cron.describe(), cron.source());
    for (i, t) in cron.upcoming(Utc::now(), &Local, 5).iter().enumerate() {
        println!(
            "{}  {}",
            if i == 0 { "Next runs:" } else { "          " },
            local(*t)
        );
    }
}

/// Runs a schedule subcommand.
pub fn run(engine: &Engine, cmd: ScheduleCmd) -> Result<i32, EngineError> {
    match cmd {
        ScheduleCmd::Add {
            name,
            project,
            fields,
        } => {
            let job = engine.add_job(&input(engine, name, project, fields)?)?;
            println!(
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
            let i = input(engine, name.clone(), project, fields)?;
            let job = engine.edit_job(&name, &i)?;
            println!("Updated schedule \"{}\".", job.name);
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
                println!(
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
            let job = engine.catalog().find_job(&name)?;
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
                println!(
                    "Schedule:  {} ({}, {})",
                    r.name,
                    r.project,
                    if r.enabled { "enabled" } else { "disabled" }
                );
                println!(
                    "Kind:      {}; retention: keep last {}, keep {} days; retries {}",
                    r.kind,
                    r.keep_last
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                    r.keep_days
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                    r.retries
                );
                print_next_runs(&cron);
                println!(
                    "Last run:  {}",
                    match (r.last_run_at, r.last_run_status) {
                        (Some(t), Some(s)) => format!("{} ({s})", local(t)),
                        _ => "never".into(),
                    }
                );
            }
        }
        ScheduleCmd::Enable { name } => {
            let j = engine.set_job_enabled(&name, true)?;
            println!(
                "Enabled \"{}\"; next run {}.",
                j.name,
                j.next_run_at.map(local).unwrap_or_default()
            );
        }
        ScheduleCmd::Disable { name } => {
            let j = engine.set_job_enabled(&name, false)?;
            println!("Disabled \"{}\".", j.name);
        }
        ScheduleCmd::Remove { name } => {
            let j = engine.remove_job(&name)?;
            println!("Removed \"{}\"; its backups are kept.", j.name);
        }
        ScheduleCmd::Explain { cron } => print_next_runs(&CronSpec::parse(&cron)?),
    }
    Ok(0)
}

/// Prints scheduled runs as they start and end.
struct Printer;

impl RunHooks for Printer {
    fn started(&self, job: &BackupJob, _: Arc<crate::engine::Progress>, _: CancelToken) {
        eprintln!(
            "{} schedule \"{}\": backing up",
            Local::now().format("%H:%M:%S"),
            job.name
        );
    }
    fn finished(&self, r: &RunReport) {
        eprintln!(
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
    engine: &Engine,
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
        println!("Nothing is due.");
    }
    Ok(if reports.iter().all(|r| r.ok) { 0 } else { 1 })
}

/// How soon the daemon looks again when another supabackup holds the
/// catalog (a failed open costs next to nothing).
const BUSY_RETRY: chrono::Duration = chrono::Duration::seconds(5);

/// `supabackup daemon`: opens the catalog to look for due schedules (and
/// leaves it free in between, for the desktop app and the CLI; while another
/// supabackup holds it, looks again in a few seconds), runs what is due, sleeps until the
/// next slot (waking at least every minute, to notice clock jumps and new
/// schedules), until SIGTERM or Ctrl-C.
pub fn daemon(
    dd: DataDir,
    password: Zeroizing<String>,
    grace: u64,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    rt.block_on(async move {
        let stop = CancelToken::new();
        {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => return,
                };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                stop.cancel();
            });
        }
        eprintln!("supabackup daemon: running schedules from {} (SIGTERM or Ctrl-C stops)", dd.root.display());
        let mut busy_warned = false;
        let mut password_checked = false;
        let max_sleep = chrono::Duration::minutes(1);
        while !stop.is_cancelled() {
            let wake = match Engine::open(dd.clone()) {
                Ok(engine) => {
                    busy_warned = false;
                    let now = Utc::now();
                    let due = engine.next_wake(now, max_sleep)? <= now;
                    // Unlocking costs a key derivation: at the first open (a
                    // wrong password stops the daemon at once), then only
                    // when a job is due.
                    if due || !password_checked {
                        engine.unlock(&password)?;
                        password_checked = true;
                    }
                    if due {
                        let cancel = CancelToken::new();
                        let run = engine.run_due(now, &cancel, Arc::new(Printer));
                        tokio::pin!(run);
                        tokio::select! {
                            r = &mut run => r?,
                            _ = stop.cancelled() => {
                                eprintln!("stopping: running backups get {grace}s to finish");
                                tokio::select! {
                                    r = &mut run => r?,
                                    _ = tokio::time::sleep(Duration::from_secs(grace)) => {
                                        eprintln!("grace period over: cancelling the running backups");
                                        cancel.cancel();
                                        run.await?
                                    }
                                }
                            }
                        };
                    }
                    engine.next_wake(Utc::now(), max_sleep)?
                }
                Err(EngineError::Store(StoreError::InUse(_))) => {
                    if !busy_warned {
                        eprintln!("the catalog is in use (the desktop app runs the schedules while it is open; a CLI command holds it for a moment); checking again every {}s", BUSY_RETRY.num_seconds());
                        busy_warned = true;
                    }
                    Utc::now() + BUSY_RETRY
                }
                Err(e) => return Err(e),
            };
            let sleep = (wake - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = stop.cancelled() => {}
            }
        }
        eprintln!("supabackup daemon: stopped");
        Ok(0)
    })
}

/// `supabackup catalog ...`.
pub fn catalog(engine: &Engine, cmd: CatalogCmd) -> Result<i32, EngineError> {
    match cmd {
        CatalogCmd::Rebuild(j) => {
            let r = engine.rebuild_catalog()?;
            if j.json {
                output::json(&r);
            } else {
                println!(
                    "Found {} backup folder(s): {} record(s) recreated, {} already known, {} skipped.",
                    r.found,
                    r.restored,
                    r.known,
                    r.skipped.len()
                );
                for p in &r.placeholders {
                    println!(
                        "Created inactive placeholder project \"{p}\": set its connection string with supabackup project edit \"{p}\" --db-url URL"
                    );
                }
                for (dir, why) in &r.skipped {
                    println!("Skipped {}: {why}", dir.display());
                }
            }
            Ok(if r.skipped.is_empty() { 0 } else { 1 })
        }
    }
}
