//! Getting the master password: SUPABACKUP_PASSWORD, --password-file, or a
//! prompt without echo.

use crate::engine::{Engine, EngineError, Unlocked, VaultState};
use std::io::IsTerminal;
use std::path::Path;
use zeroize::Zeroizing;

/// Reads the first line of a password file.
pub fn read_password_file(path: &Path) -> Result<Zeroizing<String>, EngineError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| EngineError::io("cannot read the password file", path, e))?,
    );
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(EngineError::Failed(format!(
            "the password file {} is empty: put the master password on its first line",
            path.display()
        )));
    }
    Ok(Zeroizing::new(line.to_string()))
}

fn from_env_or_file(
    env: &str,
    file: Option<&Path>,
) -> Result<Option<Zeroizing<String>>, EngineError> {
    if let Some(f) = file {
        return read_password_file(f).map(Some);
    }
    match std::env::var(env) {
        Ok(v) if !v.is_empty() => Ok(Some(Zeroizing::new(v))),
        _ => Ok(None),
    }
}

fn prompt(label: &str) -> Result<Zeroizing<String>, EngineError> {
    rpassword::prompt_password(label)
        .map(Zeroizing::new)
        .map_err(|e| EngineError::Failed(format!("cannot read the password: {e}")))
}

fn no_source() -> EngineError {
    EngineError::NeedsConfirmation(
        "the master password is needed: set SUPABACKUP_PASSWORD, pass --password-file FILE, \
         or run in a terminal to be asked"
            .into(),
    )
}

/// Asks twice for a new password and checks both match.
pub fn prompt_new(what: &str) -> Result<Zeroizing<String>, EngineError> {
    if !std::io::stdin().is_terminal() {
        return Err(no_source());
    }
    let first = prompt(&format!("Choose {what}: "))?;
    let second = prompt("Type it again: ")?;
    if first != second {
        return Err(EngineError::NeedsConfirmation(
            "the two passwords differ: nothing was changed; try again".into(),
        ));
    }
    Ok(first)
}

/// Unlocks the engine, setting the master password first if there is none.
pub fn unlock(engine: &Engine, password_file: Option<&Path>) -> Result<Unlocked, EngineError> {
    let given = from_env_or_file("SUPABACKUP_PASSWORD", password_file)?;
    match engine.vault_state()? {
        VaultState::Uninitialized => {
            let password = match given {
                Some(p) => p,
                None => {
                    err!(
                        "No master password is set yet. It seals the database passwords and keys \
                         in the catalog; it cannot be recovered, so keep it somewhere safe."
                    );
                    prompt_new("a master password")?
                }
            };
            let unlocked = engine.init_vault(&password)?;
            err!("Master password set.");
            Ok(unlocked)
        }
        VaultState::Locked => {
            let password = match given {
                Some(p) => p,
                None if std::io::stdin().is_terminal() => prompt("Master password: ")?,
                None => return Err(no_source()),
            };
            engine.unlock(&password)
        }
    }
}

/// The new password for `vault change-password`.
pub fn new_password(file: Option<&Path>) -> Result<Zeroizing<String>, EngineError> {
    match from_env_or_file("SUPABACKUP_NEW_PASSWORD", file)? {
        Some(p) => Ok(p),
        None => prompt_new("a new master password"),
    }
}

/// The current password, for commands that must check it explicitly.
pub fn current_password(file: Option<&Path>) -> Result<Zeroizing<String>, EngineError> {
    match from_env_or_file("SUPABACKUP_PASSWORD", file)? {
        Some(p) => Ok(p),
        None if std::io::stdin().is_terminal() => prompt("Current master password: "),
        None => Err(no_source()),
    }
}

/// The passphrase to encrypt backups with: `SUPABACKUP_BACKUP_PASSPHRASE`,
/// or asked twice on a terminal.
pub fn backup_passphrase() -> Result<Zeroizing<String>, EngineError> {
    match std::env::var("SUPABACKUP_BACKUP_PASSPHRASE") {
        Ok(p) if !p.is_empty() => Ok(Zeroizing::new(p)),
        _ if std::io::stdin().is_terminal() => prompt_new("a passphrase for the backups"),
        _ => Err(EngineError::NeedsConfirmation(
            "give the backup passphrase in SUPABACKUP_BACKUP_PASSPHRASE (or run on a terminal \
             to be asked)"
                .into(),
        )),
    }
}

/// A backup passphrase given in the environment, to open encrypted sets.
pub fn given_backup_passphrase() -> Option<Zeroizing<String>> {
    std::env::var("SUPABACKUP_BACKUP_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new)
}
