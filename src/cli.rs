//! The headless command line: the same engine as the desktop app.

/// `println!` that a closed standard output does not crash (see
/// [`output::stdout`]).
macro_rules! out {
    () => {{
        let _ = $crate::cli::output::stdout(format_args!("\n"));
    }};
    ($($arg:tt)*) => {{
        let _ = $crate::cli::output::stdout(format_args!("{}\n", format_args!($($arg)*)));
    }};
}

/// `eprintln!` that a closed standard error does not crash.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::cli::output::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub mod args;
mod backups;
mod destinations;
mod output;
mod password;
mod project;
mod resolve;
mod schedule;
mod settings;
mod tools;

pub use args::Cli;

use crate::datadir::DataDir;
use crate::engine::{Engine, EngineError, Unlocked};
use args::{Command, VaultCmd};
use std::io::{BufRead, IsTerminal};

/// Asks y/N on a terminal; refuses without one (the caller offers `--yes`).
pub fn confirm(question: &str) -> Result<(), EngineError> {
    if !std::io::stdin().is_terminal() {
        return Err(EngineError::NeedsConfirmation(format!(
            "{question} Pass --yes to confirm when not running in a terminal."
        )));
    }
    output::stderr(format_args!("{question} [y/N] "));
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).ok();
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(EngineError::Cancelled)
    }
}

/// `--compression C --level N` as given, `None` when neither is (the
/// settings' default applies then).
pub(crate) fn compression_flags(
    engine: &Engine,
    codec: &Option<String>,
    level: Option<u32>,
) -> Result<Option<crate::domain::Compression>, EngineError> {
    if codec.is_none() && level.is_none() {
        return Ok(None);
    }
    let codec = match codec {
        Some(c) => c.parse::<crate::domain::Codec>()?,
        None => engine.default_compression()?.codec,
    };
    Ok(Some(crate::domain::Compression::new(codec, level)?))
}

/// The data dir the flags and environment pick.
fn data_dir(explicit: Option<&std::path::Path>) -> Result<DataDir, EngineError> {
    DataDir::resolve(explicit)
        .map_err(|e| EngineError::Failed(format!("cannot find a data dir: {e}")))
}

/// Runs a subcommand and returns the process exit code: 0 ok, 1 the
/// operation failed, 2 bad input.
pub fn run(cli: Cli) -> i32 {
    match run_inner(cli) {
        Ok(code) => code,
        Err(e) => {
            err!("error: {e}");
            e.exit_code()
        }
    }
}

fn run_inner(cli: Cli) -> Result<i32, EngineError> {
    let Some(command) = cli.command else {
        return Ok(0);
    };
    // Needs no catalog.
    if let Command::Key(args::KeyCmd::Generate { out }) = &command {
        return backups::key_generate(out.as_deref());
    }
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| EngineError::Failed(format!("cannot start the async runtime: {e}")))?;
    let password_file = cli.password_file.as_deref();
    if let Command::Daemon { grace } = command {
        // The daemon opens the catalog only while it works, and waits while
        // another supabackup holds it; it checks the password at its first
        // open.
        let password = password::current_password(password_file)?;
        return schedule::daemon(data_dir(cli.data_dir.as_deref())?, password, grace, &rt);
    }
    if let Command::Catalog(cmd) = command {
        // `catalog rebuild` opens the catalog itself: it must also work when
        // the catalog is damaged and cannot be opened.
        return schedule::catalog(data_dir(cli.data_dir.as_deref())?, password_file, cmd);
    }
    let engine = match Engine::open(data_dir(cli.data_dir.as_deref())?) {
        // From system cron, another supabackup holding the catalog is normal:
        // the desktop app or the daemon runs the due schedules itself.
        Err(EngineError::Store(crate::store::StoreError::InUse(_)))
            if matches!(command, Command::RunDue(_)) =>
        {
            err!(
                "the catalog is in use by another supabackup (the desktop app or the daemon), \
                 which runs the due schedules itself; nothing to do"
            );
            return Ok(0);
        }
        other => other?,
    };
    // The commands that need projects' secrets unlock once, here.
    let unlocked = if needs_key(&command) {
        Some(password::unlock(&engine, password_file)?)
    } else {
        None
    };
    let keyed = || -> Result<&Unlocked, EngineError> {
        unlocked
            .as_ref()
            .ok_or_else(|| EngineError::Failed("internal: this command needs the vault".into()))
    };
    match command {
        Command::Project(cmd) => project::run(keyed()?, cmd, &rt),
        Command::Settings(cmd) => settings::run(&engine, cmd),
        Command::Backup(a) => backups::backup(keyed()?, a, &rt),
        Command::Backups(a) => backups::list(&engine, a),
        Command::Verify(a) => backups::verify(&engine, a, password_file, &rt),
        Command::Restore(a) => backups::restore(&engine, unlocked.as_ref(), a, password_file, &rt),
        Command::BackupDelete {
            id,
            yes,
            keep_copies,
        } => backups::delete(&engine, &id, yes, keep_copies, password_file, &rt),
        Command::Destination(cmd) => destinations::run(&engine, unlocked.as_ref(), cmd, &rt),
        Command::Sync(a) => destinations::sync(keyed()?, a, &rt),
        Command::BackupPin { id } => backups::pin(&engine, &id, true),
        Command::BackupUnpin { id } => backups::pin(&engine, &id, false),
        Command::Schedule(cmd) => schedule::run(keyed()?, cmd),
        Command::RunDue(j) => schedule::run_due(keyed()?, j.json, &rt),
        Command::Daemon { .. } | Command::Key(_) => {
            unreachable!("handled before the catalog is opened")
        }
        Command::ExportSqlite { out } => {
            let (p, j, b) = engine.export_sqlite(&out)?;
            out!(
                "Wrote {} ({p} projects, {j} schedules, {b} backups).",
                out.display()
            );
            Ok(0)
        }
        Command::Catalog(_) => unreachable!("handled before the catalog is opened"),
        Command::Info(j) => settings::info(&engine, j.json),
        Command::Tools(cmd) => tools::run(&engine, cmd, &rt),
        Command::Vault(VaultCmd::Unlock) => {
            keyed()?;
            out!("The master password unlocks the vault.");
            Ok(0)
        }
        Command::Vault(VaultCmd::ChangePassword { new_password_file }) => {
            if engine.vault_state()? == crate::engine::VaultState::Uninitialized {
                return Err(EngineError::NoVault);
            }
            let old = password::current_password(password_file)?;
            let unlocked = engine.unlock(&old)?;
            let new = password::new_password(new_password_file.as_deref())?;
            let (_, n) = unlocked.change_password(&old, &new)?;
            out!("Master password changed; {n} project(s) and destination(s) re-sealed.");
            Ok(0)
        }
    }
}

/// True for the commands that use projects' secrets (they unlock first).
fn needs_key(command: &Command) -> bool {
    match command {
        Command::Project(_)
        | Command::Backup(_)
        | Command::Schedule(_)
        | Command::RunDue(_)
        | Command::Catalog(_)
        | Command::Sync(_)
        | Command::Vault(VaultCmd::Unlock) => true,
        Command::Destination(d) => !matches!(
            d,
            args::DestinationCmd::List(_) | args::DestinationCmd::Show { .. }
        ),
        Command::Restore(a) => a.to_project.is_some() || a.at.is_some(),
        _ => false,
    }
}
