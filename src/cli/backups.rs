//! `supabackup backup`, `backups`, `verify`, `restore`, `backup-delete`.

use crate::cli::args::{BackupArgs, BackupsArgs, RestoreArgs, VerifyArgs};
use crate::cli::{confirm, output, password, resolve};
use crate::domain::{Backup, BackupKind, BackupStatus, Compression, ConnInfo, Profile};
use crate::engine::set::BackupSet;
use crate::engine::storage::{BackupOptions, RestoreOptions, RestoreScope, StoragePlan};
use crate::engine::{
    BackupFilter, BackupRequest, CancelToken, DrillRequest, Engine, EngineError, Keys, Progress,
    RestoreReport, RestoreRequest, SetRef, Unlocked, describe_problems,
};
use serde::Serialize;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// Runs `fut` with Ctrl-C wired to `cancel` (the future winds itself down).
pub(crate) async fn ctrl_c_cancels<T>(
    cancel: &CancelToken,
    fut: impl std::future::Future<Output = T>,
) -> T {
    let c = cancel.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            err!("\ncancelling...");
            c.cancel();
        }
    });
    let out = fut.await;
    ctrl_c.abort();
    out
}

/// Runs `fut` with a progress bar on a terminal and Ctrl-C wired to cancel;
/// the progress's notices (an upload tried again, with the wait) are said
/// on standard error as they come, bar or not.
pub(crate) fn with_progress<T>(
    rt: &tokio::runtime::Runtime,
    progress: Arc<Progress>,
    cancel: CancelToken,
    quiet: bool,
    fut: impl std::future::Future<Output = T>,
) -> T {
    with_bar(rt, progress, cancel, quiet, backup_message, fut)
}

/// The bar's words for a backup, restore or verify: rows or files, bytes
/// written, ETA, what is being worked on.
fn backup_message(p: &Progress) -> String {
    let eta = p
        .eta()
        .map(|d| format!(", ETA {}s", d.as_secs()))
        .unwrap_or_default();
    let current = p.current();
    let counted = if current.starts_with("storage") {
        format!("{} files", p.rows())
    } else {
        format!(
            "{} rows, {} written",
            p.rows(),
            output::bytes(p.bytes_written())
        )
    };
    format!("{counted}{eta} | {current}")
}

/// Runs `fut` with a progress bar (bytes, and `message`) on a terminal and
/// Ctrl-C wired to cancel; the progress's notices (an upload tried again,
/// with the wait) are said on standard error as they come, bar or not.
pub(crate) fn with_bar<T>(
    rt: &tokio::runtime::Runtime,
    progress: Arc<Progress>,
    cancel: CancelToken,
    quiet: bool,
    message: fn(&Progress) -> String,
    fut: impl std::future::Future<Output = T>,
) -> T {
    let show = !quiet && std::io::stderr().is_terminal();
    rt.block_on(async {
        let bar = show.then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let ticker = {
            let (p, bar) = (progress.clone(), bar.clone());
            tokio::spawn(async move {
                loop {
                    say_notices(&p, bar.as_ref());
                    if let Some(bar) = &bar {
                        bar.set_length(p.total());
                        bar.set_position(p.bytes_read());
                        bar.set_message(message(&p));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let out = ctrl_c_cancels(&cancel, fut).await;
        ticker.abort();
        say_notices(&progress, bar.as_ref());
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        out
    })
}

/// Prints the notices not said yet: above the bar, or on standard error.
fn say_notices(p: &Progress, bar: Option<&indicatif::ProgressBar>) {
    for n in p.take_notices() {
        match bar {
            Some(bar) => bar.suspend(|| err!("warning: {n}")),
            None => err!("warning: {n}"),
        }
    }
}

#[derive(Serialize)]
struct BackupRow<'a> {
    id: String,
    project: &'a str,
    kind: BackupKind,
    profile: Profile,
    status: BackupStatus,
    path: String,
    bytes: u64,
    rows: u64,
    created_at: chrono::DateTime<chrono::Utc>,
    duration_secs: Option<f64>,
    sha256: Option<&'a str>,
    compression: Compression,
    error: Option<&'a str>,
    pinned: bool,
    /// What a person should know about the set (the `backup` command only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    /// Its copies at destinations.
    copies: Vec<CopyRow>,
    /// The local folder was removed once every copy was verified.
    remote_only: bool,
    /// The Supabase Storage files in the set.
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<&'a crate::domain::StorageSummary>,
}

#[derive(Serialize)]
struct CopyRow {
    destination: String,
    #[serde(flatten)]
    status: crate::domain::CopyStatus,
    at: chrono::DateTime<chrono::Utc>,
    attempts: u32,
}

fn copy_rows(engine: &Engine, b: &Backup) -> Vec<CopyRow> {
    b.extra
        .copies
        .iter()
        .map(|c| CopyRow {
            destination: engine.destination_name(c.destination),
            status: c.status.clone(),
            at: c.at,
            attempts: c.attempts,
        })
        .collect()
}

/// The copies in a few words: `offsite ok, nas FAILED, usb pending`.
fn copies_cell(engine: &Engine, b: &Backup) -> String {
    let cells: Vec<String> = copy_rows(engine, b)
        .iter()
        .map(|c| {
            let state = match &c.status {
                crate::domain::CopyStatus::Copied => "ok",
                crate::domain::CopyStatus::Failed { .. } => "FAILED",
                crate::domain::CopyStatus::Damaged { .. } => "DAMAGED",
                crate::domain::CopyStatus::Pending => "pending",
            };
            format!("{} {state}", c.destination)
        })
        .collect();
    match (cells.is_empty(), b.extra.remote_only) {
        (true, _) => "-".into(),
        (false, true) => format!("{} (remote-only)", cells.join(", ")),
        (false, false) => cells.join(", "),
    }
}

fn row<'a>(engine: &Engine, b: &'a Backup) -> BackupRow<'a> {
    BackupRow {
        id: b.id.to_string(),
        project: &b.project_name,
        kind: b.kind,
        profile: b.profile,
        status: b.status,
        path: b.path.display().to_string(),
        bytes: b.bytes,
        rows: b.rows,
        created_at: b.started_at,
        duration_secs: b.duration().map(|d| d.num_milliseconds() as f64 / 1000.0),
        sha256: b.manifest_sha256.as_deref(),
        compression: b.compression,
        error: b.error.as_deref(),
        pinned: b.pinned,
        warnings: Vec::new(),
        copies: copy_rows(engine, b),
        remote_only: b.extra.remote_only,
        storage: b.extra.storage.as_ref(),
    }
}

/// Prints what the Storage part of a backup will download when it is the
/// project's first (downloads from Supabase are billed egress).
fn plan_hook() -> crate::engine::storage::PlanHook {
    std::sync::Arc::new(|plan: StoragePlan| {
        if plan.first {
            err!(
                "First backup of the Storage files of \"{}\": {} file(s) in {} bucket(s), {} to \
                 download from {}. Downloads from Supabase count as egress (billed past the \
                 plan's allowance); later backups download only what changed.",
                plan.project,
                crate::domain::human_count(plan.objects),
                plan.buckets,
                output::bytes(plan.to_download_bytes),
                plan.access
            );
        }
        Box::pin(async { true })
    })
}

/// The Storage files of a finished backup, in a line.
fn storage_line(s: &crate::domain::StorageSummary) -> String {
    format!(
        "Storage: {} file(s) ({}) in {} bucket(s); {} downloaded ({}), {} newly stored ({} on disk)",
        crate::domain::human_count(s.objects),
        output::bytes(s.bytes),
        s.buckets,
        crate::domain::human_count(s.downloaded),
        output::bytes(s.downloaded_bytes),
        crate::domain::human_count(s.stored_new),
        output::bytes(s.stored_new_bytes)
    )
}

/// `supabackup backup`.
pub fn backup(
    engine: &Unlocked,
    a: BackupArgs,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    let project = resolve::project(engine, &a.project)?;
    let kind: BackupKind = a.kind.parse()?;
    if a.no_storage && kind == BackupKind::Storage {
        return Err(crate::domain::ValidationError::new(
            "kind",
            "--no-storage leaves out the Storage files, which are all a storage backup holds",
        )
        .into());
    }
    let profile = a
        .profile
        .as_deref()
        .map(str::parse::<Profile>)
        .transpose()?;
    let compression = crate::cli::compression_flags(engine, &a.compression, a.level)?;
    let progress = Arc::new(Progress::new());
    let cancel = CancelToken::new();
    let req = BackupRequest {
        project: project.id,
        kind,
        profile,
        compression,
        job_id: None,
        install_tools: a.install_tools,
    };
    let options = BackupOptions {
        no_storage: a.no_storage,
        on_storage_plan: Some(plan_hook()),
    };
    let b = with_progress(
        rt,
        progress.clone(),
        cancel.clone(),
        a.json,
        engine.backup_with(req, options, progress, cancel),
    )?;
    let warnings = b.extra.warnings.clone();
    if a.json {
        output::json(&BackupRow {
            warnings,
            ..row(engine, &b)
        });
    } else if b.status == BackupStatus::Completed {
        for w in &warnings {
            out!("warning: {w}");
        }
        let secs = b
            .duration()
            .map(|d| d.num_milliseconds() as f64 / 1000.0)
            .unwrap_or(0.0);
        // A files-only set has no database parts to count.
        let what = if b.kind == crate::domain::BackupKind::Storage {
            format!("{secs:.1}s")
        } else {
            format!(
                "{}, {} rows, {secs:.1}s",
                output::bytes(b.bytes),
                crate::domain::human_count(b.rows)
            )
        };
        out!(
            "Backup {} of \"{}\" completed: {} ({what})",
            b.id.short(),
            b.project_name,
            b.path.display(),
        );
        if let (Some(v), Some(tool)) = (&b.pg_dump_version, &b.extra.pg_dump) {
            out!("Made with pg_dump {v} ({}: {}).", tool.found_by, tool.path);
        }
        if let Some(s) = &b.extra.storage {
            out!("{}", storage_line(s));
        }
        for c in copy_rows(engine, &b) {
            match &c.status {
                crate::domain::CopyStatus::Copied => {
                    out!("Copied to \"{}\".", c.destination)
                }
                crate::domain::CopyStatus::Damaged { error } => err!(
                    "warning: the copy at \"{}\" is damaged: {error}; `supabackup sync` \
                     replaces it",
                    c.destination
                ),
                crate::domain::CopyStatus::Failed { error } => err!(
                    "warning: the copy to \"{}\" failed: {error} (the backup itself is \
                     complete; `supabackup sync` tries the copy again)",
                    c.destination
                ),
                crate::domain::CopyStatus::Pending => err!(
                    "warning: the copy to \"{}\" was not made (cancelled); `supabackup sync` \
                     makes it",
                    c.destination
                ),
            }
        }
        if b.extra.remote_only {
            out!("Every copy verified: the local folder was removed (remote-only).");
        }
    }
    if b.status != BackupStatus::Completed {
        err!(
            "error: backup {} {}: {}",
            b.id.short(),
            b.status,
            b.error.as_deref().unwrap_or("")
        );
        return Ok(1);
    }
    Ok(0)
}

/// `supabackup backups`.
pub fn list(engine: &Engine, a: BackupsArgs) -> Result<i32, EngineError> {
    let project = match a.project.as_deref() {
        None => None,
        Some(p) => Some(match resolve::project(engine, p) {
            Ok(found) => found.id,
            // Backups outlive their project: match the name they recorded.
            Err(not_found) => engine
                .catalog()
                .backups()?
                .iter()
                .find(|b| b.project_name.eq_ignore_ascii_case(p))
                .map(|b| b.project_id)
                .ok_or(not_found)?,
        }),
    };
    let filter = BackupFilter {
        project,
        status: a.status.as_deref().map(str::parse).transpose()?,
    };
    let backups = engine.backups(&filter)?;
    if a.json {
        output::json(&backups.iter().map(|b| row(engine, b)).collect::<Vec<_>>());
        return Ok(0);
    }
    if backups.is_empty() {
        out!("No backups yet: make one with supabackup backup PROJECT");
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = backups
        .iter()
        .map(|b| {
            vec![
                b.id.short(),
                b.project_name.clone(),
                b.kind.to_string(),
                b.status.to_string(),
                output::bytes(b.bytes),
                b.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                b.duration()
                    .map(|d| output::duration_ms(d.num_milliseconds()))
                    .unwrap_or_else(|| "-".into()),
                b.manifest_sha256
                    .as_deref()
                    .map(|s| s[..12].to_string())
                    .unwrap_or_else(|| "-".into()),
                copies_cell(engine, b),
                b.path.display().to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "PROJECT",
            "KIND",
            "STATUS",
            "SIZE",
            "CREATED (UTC)",
            "DURATION",
            "SHA256",
            "COPIES",
            "PATH",
        ],
        &rows,
    );
    Ok(0)
}

/// What opens `set` when it is encrypted: the identity files given, the
/// passphrase in SUPABACKUP_BACKUP_PASSPHRASE, else (when `use_vault`) the
/// keys the vault keeps for its project (unlocking asks for the master
/// password). Empty for a set that is not encrypted.
fn keys_for(
    engine: &Engine,
    set: &SetRef,
    identities: &[std::path::PathBuf],
    use_vault: Option<&Unlocked>,
    password_file: Option<&std::path::Path>,
) -> Result<Keys, EngineError> {
    let (dir, _, _) = engine.locate_set(set)?;
    let found = BackupSet::open(&dir)?;
    let mut keys = Keys::none();
    if !found.encrypted() {
        return Ok(keys);
    }
    for file in identities {
        keys.add_identity_file(file)?;
    }
    if let Some(p) = password::given_backup_passphrase() {
        keys.add_passphrase(age::secrecy::SecretString::from(p.to_string()));
    }
    if keys.is_empty()
        && let Ok(project) = engine.project(found.manifest.project_id)
    {
        let unlocked = match use_vault {
            Some(u) => u.clone(),
            None => password::unlock(engine, password_file)?,
        };
        keys = unlocked.project_keys(&project)?;
    }
    Ok(keys)
}

/// `supabackup verify`.
pub fn verify(
    engine: &Engine,
    a: VerifyArgs,
    password_file: Option<&std::path::Path>,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    // The drill's server is checked before the (long) verify.
    let server = a.restore_to.as_deref().map(ConnInfo::parse).transpose()?;
    let set = resolve::set(engine, &a.backup)?;
    let Fetch {
        set,
        fetched,
        unlocked,
    } = fetch_if_remote(
        engine,
        None,
        set,
        ReadFrom {
            at: a.at.as_deref(),
            strict: false,
            quiet: a.json,
        },
        password_file,
        rt,
    )?;
    // Without an identity or passphrase given, an encrypted set gets its
    // checksums checked (no key needed), unless a drill must restore it.
    let keys = if a.identity.is_empty()
        && password::given_backup_passphrase().is_none()
        && a.restore_to.is_none()
    {
        Keys::none()
    } else {
        keys_for(engine, &set, &a.identity, unlocked.as_ref(), password_file)?
    };
    let progress = Arc::new(Progress::new());
    let cancel = CancelToken::new();
    let report = with_progress(
        rt,
        progress.clone(),
        cancel.clone(),
        a.json,
        engine.verify(&set, &keys, progress),
    )?;
    // A copy at a destination: what was found goes on its record (damaged
    // copies are replaced by the next sync).
    if let (Some(f), Some(u)) = (&fetched, &unlocked) {
        u.record_copy_check(f, &report)?;
    }
    let drill = match (server, report.ok()) {
        (Some(server), true) => {
            let progress = Arc::new(Progress::new());
            let r = with_progress(
                rt,
                progress.clone(),
                cancel.clone(),
                a.json,
                engine.drill(
                    DrillRequest {
                        source: set.clone(),
                        server,
                        template: a.template.clone(),
                        keep: a.keep,
                        keys: keys.clone(),
                    },
                    progress,
                    cancel,
                ),
            );
            Some(r.map_err(|e| e.to_string()))
        }
        _ => None,
    };
    let ok = report.ok()
        && drill
            .as_ref()
            .is_none_or(|d| d.as_ref().is_ok_and(|d| d.ok()));
    let code = if ok { 0 } else { 1 };
    if a.json {
        #[derive(Serialize)]
        struct Out<'a> {
            ok: bool,
            verify: &'a crate::engine::VerifyReport,
            drill: Option<&'a crate::engine::DrillReport>,
            drill_error: Option<&'a str>,
        }
        let (d, de) = match &drill {
            Some(Ok(d)) => (Some(d), None),
            Some(Err(e)) => (None, Some(e.as_str())),
            None => (None, None),
        };
        output::json(&Out {
            ok,
            verify: &report,
            drill: d,
            drill_error: de,
        });
        return Ok(code);
    }
    for p in &report.parts {
        match &p.problem {
            None => out!("ok       {}", p.file),
            Some(problem)
                if problem.ends_with(": wrong key") || problem.ends_with(": wrong passphrase") =>
            {
                out!("KEY      {problem}")
            }
            Some(problem) => out!("DAMAGED  {problem}"),
        }
    }
    for p in &report.problems {
        out!("PROBLEM  {p}");
    }
    if let Some(st) = &report.storage {
        out!(
            "{}  {} stored Storage file(s), {}{}",
            if st.problems.is_empty() {
                "ok      "
            } else {
                "DAMAGED "
            },
            crate::domain::human_count(st.files),
            output::bytes(st.bytes),
            if st.contents_checked {
                ", each decoded and its SHA-256 checked"
            } else {
                " (encrypted: their bytes checked, not decrypted)"
            }
        );
    }
    let place = match &fetched {
        Some(f) => format!("the copy at \"{}\"", f.destination),
        None => report.path.display().to_string(),
    };
    if report.ok() && report.contents_checked {
        out!("Backup intact: checksums match and every part decompresses ({place}).");
    } else if report.ok() {
        out!(
            "Backup intact: every checksum matches ({place}). It is encrypted: give its identity \
             with --identity FILE (or SUPABACKUP_BACKUP_PASSPHRASE) to also decrypt and \
             decompress every part."
        );
    } else if report.wrong_key_only() {
        err!(
            "error: the key given does not open this backup; every checksum matches, so it is \
             not damaged: give the identity (--identity FILE) or passphrase \
             (SUPABACKUP_BACKUP_PASSPHRASE) it was encrypted with"
        );
    } else if let Some(f) = &fetched {
        let local = engine
            .backup_record(f.id)
            .is_ok_and(|b| !b.extra.remote_only && b.path.is_dir());
        err!(
            "error: the copy at \"{}\" is damaged: {}. It is recorded as damaged: {}",
            f.destination,
            describe_problems(&report),
            if local {
                "`supabackup sync` replaces it from the local set"
            } else {
                "the local folder is gone, so read the backup from another destination"
            }
        );
    } else {
        err!(
            "error: the backup is damaged: {}",
            describe_problems(&report)
        );
    }
    match drill {
        Some(Ok(d)) => {
            for m in &d.mismatches {
                out!(
                    "MISMATCH {}: {} rows at backup time, {} after restore",
                    m.table,
                    m.expected,
                    m.found
                        .map(|f| f.to_string())
                        .unwrap_or_else(|| "table missing".into())
                );
            }
            for m in &d.storage_mismatches {
                out!(
                    "MISMATCH bucket {}: {} file(s), {} in the backup; {} row(s), {} in \
                     storage.objects after restore",
                    m.bucket,
                    m.expected_objects,
                    output::bytes(m.expected_bytes),
                    m.found_objects,
                    output::bytes(m.found_bytes)
                );
            }
            for w in &d.warnings {
                out!("warning: {w}");
            }
            if d.buckets_checked > 0 {
                out!(
                    "Storage: {} bucket(s) compared with storage.objects.",
                    d.buckets_checked
                );
            }
            out!(
                "Restore drill {}: {} tables and {} rows restored into {}{}.",
                if d.ok() { "passed" } else { "FAILED" },
                d.tables_checked,
                d.rows,
                d.database,
                if d.kept {
                    " (kept)"
                } else {
                    " (dropped afterwards)"
                }
            );
        }
        Some(Err(e)) => err!("error: restore drill failed: {e}"),
        None => {}
    }
    Ok(code)
}

/// `supabackup restore`.
pub fn restore(
    engine: &Engine,
    unlocked: Option<&Unlocked>,
    a: RestoreArgs,
    password_file: Option<&std::path::Path>,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    let scope = if a.storage_only {
        RestoreScope::StorageOnly
    } else if a.database_only {
        RestoreScope::DatabaseOnly
    } else {
        RestoreScope::Everything
    };
    let (target, target_project) = match (&a.to_url, &a.to_project, unlocked) {
        (Some(_), _, _) if a.storage_only || a.storage_mirror => {
            return Err(crate::domain::ValidationError::new(
                "to_url",
                "a database URL gives no Storage access: restore the Storage files into a \
                 project with --to-project NAME",
            )
            .into());
        }
        (Some(url), _, _) => (ConnInfo::parse(url)?, None),
        (None, Some(p), Some(unlocked)) => {
            let p = resolve::project(engine, p)?;
            (unlocked.project_conninfo(&p)?, Some(p.id))
        }
        _ => {
            return Err(EngineError::NeedsConfirmation(
                "give the target with --to-url URL or --to-project NAME".into(),
            ));
        }
    };
    let progress = Arc::new(Progress::new());
    let cancel = CancelToken::new();
    let source = resolve::set(engine, &a.backup)?;
    let Fetch {
        set: source,
        fetched: _fetched,
        unlocked,
    } = fetch_if_remote(
        engine,
        unlocked,
        source,
        ReadFrom {
            at: a.at.as_deref(),
            strict: true,
            quiet: a.json,
        },
        password_file,
        rt,
    )?;
    let keys = keys_for(
        engine,
        &source,
        &a.identity,
        unlocked.as_ref(),
        password_file,
    )?;
    let req = RestoreRequest {
        keys,
        source,
        target,
        confirmed: a.yes,
        skip_checksums: a.skip_checksums,
    };
    let run = async {
        match (&unlocked, target_project) {
            (Some(u), Some(id)) => {
                let opts = RestoreOptions {
                    storage_target: Some(id),
                    mirror: a.storage_mirror,
                    scope,
                };
                u.restore_with(req, opts, progress.clone(), cancel.clone())
                    .await
            }
            _ if a.database_only => {
                engine
                    .restore_database(req, progress.clone(), cancel.clone())
                    .await
            }
            _ => engine.restore(req, progress.clone(), cancel.clone()).await,
        }
    };
    let report =
        with_progress(rt, progress.clone(), cancel.clone(), a.json, run).map_err(|e| match e {
            EngineError::NeedsConfirmation(m) => {
                EngineError::NeedsConfirmation(format!("{m}. Pass --yes to go ahead."))
            }
            e => e,
        })?;
    let storage_failed = report
        .storage
        .as_ref()
        .is_some_and(|s| !s.failed.is_empty());
    if a.json {
        output::json(&report);
        return Ok(if storage_failed { 1 } else { 0 });
    }
    print_restore(&report);
    Ok(if storage_failed { 1 } else { 0 })
}

/// Prints how a restore went.
fn print_restore(report: &RestoreReport) {
    for w in &report.warnings {
        out!("warning: {w}");
    }
    if !report.existing_roles.is_empty() {
        out!(
            "Roles already present, left as they are: {}",
            report.existing_roles.join(", ")
        );
    }
    if !report.logins_without_password.is_empty() {
        out!(
            "Login roles restored without a password (the backup could not read them): {}. \
             Set each one's password:",
            report.logins_without_password.join(", ")
        );
        for r in &report.logins_without_password {
            out!(
                "    ALTER ROLE {} PASSWORD '...';",
                crate::pgtools::quote_ident(r)
            );
        }
    }
    if !report.parts.is_empty() {
        out!(
            "Restored backup {} ({}) into {}: {} rows in {:.1}s{}.",
            report.backup_id.short(),
            report.parts.join(" + "),
            report.target,
            report.rows,
            report.seconds,
            if report.replaced_tables > 0 {
                format!("; {} existing table(s) replaced", report.replaced_tables)
            } else {
                String::new()
            }
        );
    }
    if let Some(s) = &report.storage {
        for f in &s.failed {
            err!("error: not restored: {f}");
        }
        out!(
            "Restored the Storage files of backup {} into {}: {} of {} file(s) uploaded ({}), \
             {} already identical{}{}{}.",
            report.backup_id.short(),
            s.target,
            crate::domain::human_count(s.uploaded),
            crate::domain::human_count(s.objects),
            output::bytes(s.uploaded_bytes),
            crate::domain::human_count(s.unchanged),
            if s.replaced > 0 {
                format!(", {} replaced another version", s.replaced)
            } else {
                String::new()
            },
            if s.deleted > 0 {
                format!(", {} deleted (--storage-mirror)", s.deleted)
            } else {
                String::new()
            },
            if s.buckets_created.is_empty() {
                String::new()
            } else {
                format!("; bucket(s) created: {}", s.buckets_created.join(", "))
            }
        );
        if !s.failed.is_empty() {
            err!(
                "error: {} Storage file(s) could not be restored (see above); the others were",
                s.failed.len()
            );
        }
    }
}

/// `supabackup backup-delete`.
pub fn delete(
    engine: &Engine,
    id: &str,
    yes: bool,
    keep_copies: bool,
    password_file: Option<&std::path::Path>,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    let b = resolve::backup(engine, id)?;
    let copies: Vec<String> = b
        .extra
        .copies
        .iter()
        .map(|c| format!("\"{}\"", engine.destination_name(c.destination)))
        .collect();
    let with_copies = !keep_copies && !copies.is_empty();
    if !yes {
        confirm(&format!(
            "Delete backup {} of \"{}\" ({}, {}), its files in {}{}?",
            b.id.short(),
            b.project_name,
            b.started_at.format("%Y-%m-%d %H:%M UTC"),
            output::bytes(b.bytes),
            b.path.display(),
            if with_copies {
                format!(" and its copies at {}", copies.join(", "))
            } else {
                String::new()
            }
        ))?;
    }
    if !with_copies {
        let b = rt.block_on(engine.delete_backup(b.id))?;
        out!("Deleted backup {} of \"{}\".", b.id.short(), b.project_name);
        return Ok(0);
    }
    let unlocked = password::unlock(engine, password_file)?;
    let removal = rt.block_on(unlocked.remove_backup(b.id, false))?;
    out!(
        "Deleted backup {} of \"{}\" from {}.",
        b.id.short(),
        b.project_name,
        removal.places()
    );
    for (d, why) in &removal.failed {
        err!(
            "error: its copy at \"{d}\" could not be deleted: {why}. The record is kept; run \
             the delete again to retry."
        );
    }
    Ok(if removal.failed.is_empty() { 0 } else { 1 })
}

/// The set to read: the local one, or (with `--at NAME`, or for a backup
/// kept only at destinations) its copy fetched into a staging folder, which
/// lives as long as the returned `Fetched`. `strict`: a file that does not
/// match its checksum stops the fetch (restore); otherwise verify reports it.
fn fetch_if_remote(
    engine: &Engine,
    unlocked: Option<&Unlocked>,
    set: SetRef,
    how: ReadFrom<'_>,
    password_file: Option<&std::path::Path>,
    rt: &tokio::runtime::Runtime,
) -> Result<Fetch, EngineError> {
    let ReadFrom { at, strict, quiet } = how;
    let none = |set| Fetch {
        set,
        fetched: None,
        unlocked: unlocked.cloned(),
    };
    let SetRef::Id(id) = set else {
        if at.is_some() {
            return Err(EngineError::Failed(
                "--at reads a backup the catalog knows: give its id, not a folder".into(),
            ));
        }
        return Ok(none(set));
    };
    let b = engine.backup_record(id)?;
    let local_gone = !b.path.is_dir() && !b.extra.copies.is_empty();
    if at.is_none() && !local_gone {
        return Ok(none(set));
    }
    let unlocked = match unlocked {
        Some(u) => u.clone(),
        None => password::unlock(engine, password_file)?,
    };
    let d = unlocked.copy_source(&b, at)?;
    if !quiet {
        err!(
            "Reading backup {} from \"{}\" ({}).",
            b.id.short(),
            d.name,
            d.describe()
        );
    }
    let progress = Arc::new(Progress::new());
    let cancel = CancelToken::new();
    let fetched = with_progress(
        rt,
        progress.clone(),
        cancel.clone(),
        quiet,
        unlocked.fetch_set(id, &d, strict, &progress, &cancel),
    )?;
    Ok(Fetch {
        set: fetched.set_ref(),
        fetched: Some(fetched),
        unlocked: Some(unlocked),
    })
}

/// Where and how `fetch_if_remote` reads a set.
struct ReadFrom<'a> {
    /// `--at NAME`.
    at: Option<&'a str>,
    /// Stop at the first file that does not match its checksum.
    strict: bool,
    /// No progress bar or notes (JSON output).
    quiet: bool,
}

/// What `fetch_if_remote` found.
struct Fetch {
    /// The set to read.
    set: SetRef,
    /// The staging folder, when the set was fetched.
    fetched: Option<crate::engine::Fetched>,
    /// The engine unlocked, when it had to be (for the vault's keys).
    unlocked: Option<Unlocked>,
}

/// `supabackup backup-pin` / `backup-unpin`.
pub fn pin(engine: &Engine, id: &str, pinned: bool) -> Result<i32, EngineError> {
    let id = resolve::backup(engine, id)?.id;
    let b = engine.set_pinned(id, pinned)?;
    out!(
        "Backup {} {}.",
        b.id.short(),
        if pinned {
            "pinned: retention keeps it"
        } else {
            "unpinned"
        }
    );
    Ok(0)
}

/// `supabackup key generate`.
pub fn key_generate(out: Option<&std::path::Path>) -> Result<i32, EngineError> {
    use age::secrecy::ExposeSecret;
    let (identity, public) = crate::engine::set::crypt::generate_identity();
    match out {
        Some(path) => {
            let mut f = crate::engine::set::codec::private_file(path).map_err(|e| {
                EngineError::io(
                    "cannot create the identity file (it must not exist yet)",
                    path,
                    e,
                )
            })?;
            use std::io::Write;
            f.write_all(identity.expose_secret().as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| EngineError::io("cannot write the identity file", path, e))?;
            err!(
                "Wrote the identity (private key) to {}. Keep it safe and apart from the backups: \
                 without it, backups encrypted to its public key cannot be restored.",
                path.display()
            );
        }
        None => {
            if !output::stdout(format_args!("{}", identity.expose_secret())) {
                return Err(EngineError::Failed(
                    "the identity could not be written to standard output, so it is lost: \
                     nothing was kept; run it again with --out FILE"
                        .into(),
                ));
            }
        }
    }
    if out.is_some() {
        out!("{public}");
    } else {
        err!("Public key: {public}");
    }
    Ok(0)
}
