//! `supabackup backup`, `backups`, `verify`, `restore`, `backup-delete`.

use crate::cli::args::{BackupArgs, BackupsArgs, RestoreArgs, VerifyArgs};
use crate::cli::{confirm, output, password, resolve};
use crate::domain::{Backup, BackupKind, BackupStatus, Compression, ConnInfo, Profile};
use crate::engine::set::BackupSet;
use crate::engine::{
    BackupFilter, BackupRequest, CancelToken, DrillRequest, Engine, EngineError, Keys, Progress,
    RestoreRequest, SetRef, Unlocked, describe_problems,
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
            eprintln!("\ncancelling...");
            c.cancel();
        }
    });
    let out = fut.await;
    ctrl_c.abort();
    out
}

/// Runs `fut` with a progress bar on a terminal and Ctrl-C wired to cancel.
fn with_progress<T>(
    rt: &tokio::runtime::Runtime,
    progress: Arc<Progress>,
    cancel: CancelToken,
    quiet: bool,
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
        let ticker = bar.clone().map(|bar| {
            let p = progress.clone();
            tokio::spawn(async move {
                loop {
                    bar.set_length(p.total());
                    bar.set_position(p.bytes_read());
                    let eta = p
                        .eta()
                        .map(|d| format!(", ETA {}s", d.as_secs()))
                        .unwrap_or_default();
                    bar.set_message(format!(
                        "{} rows, {} written{eta} | {}",
                        p.rows(),
                        output::bytes(p.bytes_written()),
                        p.current()
                    ));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        });
        let out = ctrl_c_cancels(&cancel, fut).await;
        if let Some(t) = ticker {
            t.abort();
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        out
    })
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
}

fn row(b: &Backup) -> BackupRow<'_> {
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
    }
}

/// `supabackup backup`.
pub fn backup(
    engine: &Unlocked,
    a: BackupArgs,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    let project = resolve::project(engine, &a.project)?;
    let kind: BackupKind = a.kind.parse()?;
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
    };
    let b = with_progress(
        rt,
        progress.clone(),
        cancel.clone(),
        a.json,
        engine.backup(req, progress, cancel),
    )?;
    let warnings = b.extra.warnings.clone();
    if a.json {
        output::json(&BackupRow {
            warnings,
            ..row(&b)
        });
    } else if b.status == BackupStatus::Completed {
        for w in &warnings {
            println!("warning: {w}");
        }
        println!(
            "Backup {} of \"{}\" completed: {} ({}, {} rows, {:.1}s)",
            b.id.short(),
            b.project_name,
            b.path.display(),
            output::bytes(b.bytes),
            crate::domain::human_count(b.rows),
            b.duration()
                .map(|d| d.num_milliseconds() as f64 / 1000.0)
                .unwrap_or(0.0)
        );
    }
    if b.status != BackupStatus::Completed {
        eprintln!(
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
        output::json(&backups.iter().map(row).collect::<Vec<_>>());
        return Ok(0);
    }
    if backups.is_empty() {
        println!("No backups yet: make one with supabackup backup PROJECT");
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
    let set = resolve::set(engine, &a.backup)?;
    // Without an identity or passphrase given, an encrypted set gets its
    // checksums checked (no key needed), unless a drill must restore it.
    let keys = if a.identity.is_empty()
        && password::given_backup_passphrase().is_none()
        && a.restore_to.is_none()
    {
        Keys::none()
    } else {
        keys_for(engine, &set, &a.identity, None, password_file)?
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
    let drill = match (&a.restore_to, report.ok()) {
        (Some(url), true) => {
            let server = ConnInfo::parse(url)?;
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
            None => println!("ok       {}", p.file),
            Some(problem) => println!("DAMAGED  {problem}"),
        }
    }
    for p in &report.problems {
        println!("PROBLEM  {p}");
    }
    if report.ok() && report.contents_checked {
        println!(
            "Backup intact: checksums match and every part decompresses ({}).",
            report.path.display()
        );
    } else if report.ok() {
        println!(
            "Backup intact: every checksum matches ({}). It is encrypted: give its identity \
             with --identity FILE (or SUPABACKUP_BACKUP_PASSPHRASE) to also decrypt and \
             decompress every part.",
            report.path.display()
        );
    } else {
        eprintln!(
            "error: the backup is damaged: {}",
            describe_problems(&report)
        );
    }
    match drill {
        Some(Ok(d)) => {
            for m in &d.mismatches {
                println!(
                    "MISMATCH {}: {} rows at backup time, {} after restore",
                    m.table,
                    m.expected,
                    m.found
                        .map(|f| f.to_string())
                        .unwrap_or_else(|| "table missing".into())
                );
            }
            for w in &d.warnings {
                println!("warning: {w}");
            }
            println!(
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
        Some(Err(e)) => eprintln!("error: restore drill failed: {e}"),
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
    let target = match (&a.to_url, &a.to_project, unlocked) {
        (Some(url), _, _) => ConnInfo::parse(url)?,
        (None, Some(p), Some(unlocked)) => {
            let p = resolve::project(engine, p)?;
            unlocked.project_conninfo(&p)?
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
    let keys = keys_for(engine, &source, &a.identity, unlocked, password_file)?;
    let req = RestoreRequest {
        keys,
        source,
        target,
        confirmed: a.yes,
    };
    let report = with_progress(
        rt,
        progress.clone(),
        cancel.clone(),
        a.json,
        engine.restore(req, progress, cancel),
    )
    .map_err(|e| match e {
        EngineError::NeedsConfirmation(m) => {
            EngineError::NeedsConfirmation(format!("{m}. Pass --yes to go ahead."))
        }
        e => e,
    })?;
    if a.json {
        output::json(&report);
        return Ok(0);
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    if !report.existing_roles.is_empty() {
        println!(
            "Roles already present, left as they are: {}",
            report.existing_roles.join(", ")
        );
    }
    if !report.logins_without_password.is_empty() {
        println!(
            "Login roles restored without a password (the backup could not read them): {}. \
             Set each one's password:",
            report.logins_without_password.join(", ")
        );
        for r in &report.logins_without_password {
            println!(
                "    ALTER ROLE {} PASSWORD '...';",
                crate::pgtools::quote_ident(r)
            );
        }
    }
    println!(
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
    Ok(0)
}

/// `supabackup backup-delete`.
pub fn delete(engine: &Engine, id: &str, yes: bool) -> Result<i32, EngineError> {
    let b = resolve::backup(engine, id)?;
    if !yes {
        confirm(&format!(
            "Delete backup {} of \"{}\" ({}, {}) and its files in {}?",
            b.id.short(),
            b.project_name,
            b.started_at.format("%Y-%m-%d %H:%M UTC"),
            output::bytes(b.bytes),
            b.path.display()
        ))?;
    }
    let b = engine.delete_backup(b.id)?;
    println!("Deleted backup {} of \"{}\".", b.id.short(), b.project_name);
    Ok(0)
}

/// `supabackup backup-pin` / `backup-unpin`.
pub fn pin(engine: &Engine, id: &str, pinned: bool) -> Result<i32, EngineError> {
    let id = resolve::backup(engine, id)?.id;
    let b = engine.set_pinned(id, pinned)?;
    println!(
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
            eprintln!(
                "Wrote the identity (private key) to {}. Keep it safe and apart from the backups: \
                 without it, backups encrypted to its public key cannot be restored.",
                path.display()
            );
        }
        None => print!("{}", identity.expose_secret()),
    }
    if out.is_some() {
        println!("{public}");
    } else {
        eprintln!("Public key: {public}");
    }
    Ok(0)
}
