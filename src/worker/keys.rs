//! The encryption commands: a new age identity written owner-only where
//! the user chooses, an identity kept in (or removed from) the vault, an
//! encryption change checked before the project is saved, and the keys
//! that open a set (the vault's, then those given in a dialog).

use crate::domain::{BackupId, ValidationError, ValidationErrors};
use crate::engine::set::crypt::{generate_identity, parse_recipient};
use crate::engine::{EncryptionChange, EngineError, Keys, Unlocked, VerifyReport};
use crate::protocol::{Command, Event, GivenKeys};
use crate::worker::{Ctx, os};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Carries out the key commands.
pub(crate) fn keys(ctx: &mut Ctx, engine: Unlocked, cmd: Command) {
    let out = ctx.out.clone();
    match cmd {
        Command::GenerateKey { file_name } => {
            tokio::spawn(async move {
                let Some(path) = os::save_file(
                    "Save the new age identity (private key): keep it apart from the backups",
                    &file_name,
                )
                .await
                else {
                    return;
                };
                let written = tokio::task::spawn_blocking(move || {
                    write_identity(&path).map(|public_key| (path, public_key))
                })
                .await;
                match written {
                    Ok(Ok((path, public_key))) => {
                        out.send(Event::KeyGenerated { path, public_key })
                    }
                    Ok(Err(e)) => out.error(e),
                    Err(e) => out.error(e),
                }
            });
        }
        Command::ImportIdentity(project) => {
            let session = ctx.session.clone();
            tokio::spawn(async move {
                let Some(path) =
                    os::pick_file("Choose the age identity file to keep in the vault").await
                else {
                    return;
                };
                let r = tokio::task::spawn_blocking(move || {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|e| EngineError::io("cannot read the identity file", &path, e))?;
                    engine
                        .store_identity(project, Some(Zeroizing::new(text)))
                        .map(|p| (p, path))
                })
                .await;
                match r {
                    Ok(Ok((p, path))) => {
                        out.send(Event::Info(format!(
                            "The vault keeps the identity from {}: this machine restores \
                             \"{}\"'s backups without asking for it",
                            path.display(),
                            p.name
                        )));
                        session.refresh(&out);
                    }
                    Ok(Err(e)) => out.error(e),
                    Err(e) => out.error(e),
                }
            });
        }
        Command::ForgetIdentity(project) => match engine.store_identity(project, None) {
            Ok(p) => {
                out.send(Event::Info(format!(
                    "The vault no longer keeps an identity for \"{}\": restores ask for the \
                     identity file",
                    p.name
                )));
                ctx.refresh();
            }
            Err(e) => out.error(e),
        },
        Command::PickIdentity => {
            tokio::spawn(async move {
                if let Some(path) = os::pick_file("Choose the age identity file").await {
                    out.send(Event::IdentityPicked(path));
                }
            });
        }
        _ => {}
    }
}

/// Writes a new identity to `path` (which must not exist), owner-only;
/// returns its public key.
fn write_identity(path: &Path) -> Result<String, EngineError> {
    use age::secrecy::ExposeSecret;
    let (identity, public_key) = generate_identity();
    let mut f = crate::engine::set::codec::private_file(path).map_err(|e| {
        EngineError::io(
            "cannot create the identity file (it must not exist yet: choose a new name)",
            path,
            e,
        )
    })?;
    f.write_all(identity.expose_secret().as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| EngineError::io("cannot write the identity file", path, e))?;
    Ok(public_key)
}

/// The change's problems at the form's fields, found before anything is
/// saved (the engine checks again).
pub(crate) fn check_change(change: &EncryptionChange) -> Result<(), ValidationErrors> {
    let error = match change {
        EncryptionChange::Off => None,
        EncryptionChange::Recipients(keys) if keys.is_empty() => Some(ValidationError::new(
            "recipients",
            "add at least one public key (age1…)",
        )),
        EncryptionChange::Recipients(keys) => keys
            .iter()
            .find_map(|k| parse_recipient(k).err())
            .map(|e| ValidationError::new("recipients", e.to_string())),
        EncryptionChange::Passphrase(p) if p.chars().count() < 12 => Some(ValidationError::new(
            "passphrase",
            "must be at least 12 characters: it is all that protects the backups",
        )),
        EncryptionChange::Passphrase(_) => None,
    };
    error.map_or(Ok(()), |e| Err(e.into()))
}

/// True when all that is wrong with a verified set is that the key given
/// does not open it (see [`VerifyReport::wrong_key_only`]).
pub(crate) fn wrong_key_only(report: &VerifyReport) -> bool {
    report.wrong_key_only()
}

/// What opens `backup`: the keys the vault holds for its project, then an
/// identity file or passphrase given in the dialog.
pub(crate) fn set_keys(
    engine: &Unlocked,
    backup: BackupId,
    given: GivenKeys,
) -> Result<Keys, EngineError> {
    let mut keys = engine
        .backup_record(backup)
        .and_then(|b| engine.project(b.project_id))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_checked_at_the_forms_fields_before_anything_is_saved() {
        let bad = EncryptionChange::Recipients(vec!["age1nope".into()]);
        let e = check_change(&bad).unwrap_err();
        assert_eq!(e.0[0].field, "recipients");
        assert!(e.0[0].rule.contains("\"age1nope\""));
        let short = EncryptionChange::Passphrase(Zeroizing::new("short".into()));
        assert_eq!(check_change(&short).unwrap_err().0[0].field, "passphrase");
        let key = generate_identity().1;
        assert!(check_change(&EncryptionChange::Recipients(vec![key])).is_ok());
    }

    #[test]
    fn a_generated_identity_is_owner_only_opens_what_its_key_seals_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.txt");
        let public = write_identity(&path).unwrap();
        assert!(public.starts_with("age1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut keys = Keys::none();
        keys.add_identity_file(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&public), "the file names its public key");
        // A second key to the same path is refused: the first stays.
        assert!(write_identity(&path).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
