//! Encryption as the window sees it, as plain data: the project form's
//! Encryption section (the mode, the public keys typed one a line, the
//! passphrase typed twice, the keys generated while the form is open),
//! checked as the user types and turned into the engine's
//! `EncryptionChange`; and, for a backup set, how it is encrypted and
//! whether the vault holds what opens it.

use crate::domain::{EncryptionSetting, SetEncryption, ValidationError};
use crate::engine::set::crypt::parse_recipient;
use crate::engine::{EncryptionChange, ProjectView};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The shortest passphrase the engine accepts.
pub const MIN_PASSPHRASE: usize = 12;

/// How the form says backups are encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionMode {
    /// Not encrypted.
    Off,
    /// To age public keys.
    Recipients,
    /// With a passphrase sealed in the vault.
    Passphrase,
}

impl EncryptionMode {
    /// Every mode, in the order the form offers them.
    pub const ALL: [EncryptionMode; 3] = [Self::Off, Self::Recipients, Self::Passphrase];

    /// The choice's words.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Off => "Off",
            Self::Recipients => "To public keys (age1…)",
            Self::Passphrase => "With a passphrase",
        }
    }
}

/// A key generated while the form was open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The identity file (private key).
    pub path: PathBuf,
    /// Its public key, added to the recipients.
    pub public_key: String,
}

/// The project form's Encryption section.
pub struct EncryptionForm {
    /// The mode chosen.
    pub mode: EncryptionMode,
    /// Public keys, one a line.
    pub recipients: String,
    /// The passphrase typed.
    pub passphrase: Zeroizing<String>,
    /// Typed again.
    pub confirm: Zeroizing<String>,
    /// The setting saved (when editing): only a change is sent, and an
    /// empty passphrase keeps the one in the vault.
    pub current: EncryptionSetting,
    /// Identity files written while the form was open.
    pub generated: Vec<GeneratedKey>,
    /// "Forget identity" was clicked once: the form asks again.
    pub forgetting: bool,
}

impl Default for EncryptionForm {
    fn default() -> Self {
        Self::new()
    }
}

impl EncryptionForm {
    /// A new project's: off.
    pub fn new() -> Self {
        Self::edit(&EncryptionSetting::Off)
    }

    /// An edited project's: its setting as saved.
    pub fn edit(current: &EncryptionSetting) -> Self {
        let (mode, recipients) = match current {
            EncryptionSetting::Off => (EncryptionMode::Off, String::new()),
            EncryptionSetting::Recipients { recipients } => {
                (EncryptionMode::Recipients, recipients.join("\n"))
            }
            EncryptionSetting::Passphrase => (EncryptionMode::Passphrase, String::new()),
        };
        Self {
            mode,
            recipients,
            passphrase: Zeroizing::new(String::new()),
            confirm: Zeroizing::new(String::new()),
            current: current.clone(),
            generated: Vec::new(),
            forgetting: false,
        }
    }

    /// The public keys typed, trimmed, blank lines left out.
    pub fn keys(&self) -> Vec<String> {
        self.recipients
            .lines()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect()
    }

    /// Adds a public key on a line of its own and switches to public keys.
    pub fn add_key(&mut self, key: &str) {
        if !self.keys().iter().any(|k| k == key) {
            let text = self.recipients.trim_end();
            self.recipients = if text.is_empty() {
                key.to_string()
            } else {
                format!("{text}\n{key}")
            };
        }
        self.mode = EncryptionMode::Recipients;
    }

    /// The passphrase in the vault stays (editing, nothing typed).
    pub fn keeps_passphrase(&self) -> bool {
        self.current == EncryptionSetting::Passphrase
            && self.passphrase.is_empty()
            && self.confirm.is_empty()
    }

    /// What is wrong with the section, at its fields: `recipients` (naming
    /// the key that is not one), `passphrase`, `passphrase_confirm`.
    pub fn errors(&self) -> Vec<ValidationError> {
        let mut errors = Vec::new();
        match self.mode {
            EncryptionMode::Off => {}
            EncryptionMode::Recipients => {
                let keys = self.keys();
                if keys.is_empty() {
                    errors.push(ValidationError::new(
                        "recipients",
                        "add at least one public key (age1…), or generate one",
                    ));
                }
                if let Some(e) = keys.iter().find_map(|k| parse_recipient(k).err()) {
                    errors.push(ValidationError::new("recipients", e.to_string()));
                }
            }
            EncryptionMode::Passphrase if self.keeps_passphrase() => {}
            EncryptionMode::Passphrase => {
                if self.passphrase.chars().count() < MIN_PASSPHRASE {
                    errors.push(ValidationError::new(
                        "passphrase",
                        format!(
                            "must be at least {MIN_PASSPHRASE} characters: it is all that \
                             protects the backups"
                        ),
                    ));
                }
                if *self.confirm != *self.passphrase {
                    errors.push(ValidationError::new(
                        "passphrase_confirm",
                        "the two passphrases differ",
                    ));
                }
            }
        }
        errors
    }

    /// What to send with the project: `None` when the setting stays as
    /// saved. Call once `errors()` is empty.
    pub fn change(&self) -> Option<EncryptionChange> {
        match self.mode {
            EncryptionMode::Off => {
                (self.current != EncryptionSetting::Off).then_some(EncryptionChange::Off)
            }
            EncryptionMode::Recipients => {
                let keys = self.keys();
                let same = matches!(&self.current,
                    EncryptionSetting::Recipients { recipients } if *recipients == keys);
                (!same).then_some(EncryptionChange::Recipients(keys))
            }
            EncryptionMode::Passphrase if self.keeps_passphrase() => None,
            EncryptionMode::Passphrase => {
                Some(EncryptionChange::Passphrase(self.passphrase.clone()))
            }
        }
    }
}

/// True when the keys the vault keeps for `project` open a set encrypted
/// as `set`: its identity for a set to public keys, its passphrase for a
/// passphrase set (the vault holds one while the project uses one).
pub fn vault_opens(set: &SetEncryption, project: Option<&ProjectView>) -> bool {
    let Some(p) = project else { return false };
    match set {
        SetEncryption::Recipients { .. } => p.identity_in_vault,
        SetEncryption::Passphrase => p.encryption == EncryptionSetting::Passphrase,
    }
}

/// How a set is encrypted and what opens it, in words (the lock's tooltip).
pub fn describe_set(set: &SetEncryption, vault: bool) -> String {
    let how = match set {
        SetEncryption::Recipients { recipients } => {
            format!("Encrypted with age to:\n{}", recipients.join("\n"))
        }
        SetEncryption::Passphrase => "Encrypted with age, with a passphrase.".to_string(),
    };
    let opens = match (set, vault) {
        (SetEncryption::Recipients { .. }, true) => {
            "The vault keeps the identity: restores need nothing more."
        }
        (SetEncryption::Recipients { .. }, false) => {
            "Restoring asks for the identity file (private key)."
        }
        (SetEncryption::Passphrase, true) => {
            "The vault keeps the passphrase: restores need nothing more."
        }
        (SetEncryption::Passphrase, false) => "Restoring asks for the passphrase.",
    };
    format!("{how}\n{opens}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        crate::engine::set::crypt::generate_identity().1
    }

    #[test]
    fn public_keys_are_checked_one_a_line_and_the_error_names_the_bad_one() {
        let good = key();
        let mut f = EncryptionForm::new();
        f.mode = EncryptionMode::Recipients;
        assert_eq!(f.errors()[0].field, "recipients", "none yet");
        f.recipients = format!("  {good}\n\nage1notakey\n");
        let e = f.errors();
        assert_eq!(e.len(), 1);
        assert!(e[0].rule.contains("\"age1notakey\""), "{}", e[0].rule);
        f.recipients = format!("{good}\n");
        assert!(f.errors().is_empty());
        match f.change() {
            Some(EncryptionChange::Recipients(keys)) => assert_eq!(keys, vec![good.clone()]),
            _ => panic!("Recipients expected"),
        }
        // The same keys as saved: nothing to change.
        let saved = EncryptionForm::edit(&EncryptionSetting::Recipients {
            recipients: vec![good.clone()],
        });
        assert!(saved.change().is_none());
        // A generated key is added once, on its own line.
        let mut f = EncryptionForm::new();
        f.add_key(&good);
        f.add_key(&good);
        assert_eq!((f.mode, f.keys()), (EncryptionMode::Recipients, vec![good]));
    }

    #[test]
    fn a_passphrase_is_typed_twice_and_an_empty_one_keeps_the_saved_one() {
        let mut f = EncryptionForm::new();
        f.mode = EncryptionMode::Passphrase;
        let fields = |f: &EncryptionForm| f.errors().iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(&f), ["passphrase"], "a new one must be typed");
        *f.passphrase = "short".into();
        *f.confirm = "short".into();
        assert_eq!(fields(&f), ["passphrase"]);
        *f.passphrase = "long enough passphrase".into();
        assert_eq!(fields(&f), ["passphrase_confirm"]);
        *f.confirm = "long enough passphrase".into();
        assert!(f.errors().is_empty());
        assert!(
            matches!(f.change(), Some(EncryptionChange::Passphrase(p)) if p.as_str() == "long enough passphrase")
        );
        let kept = EncryptionForm::edit(&EncryptionSetting::Passphrase);
        assert!(kept.errors().is_empty());
        assert!(kept.change().is_none(), "empty: the vault's stays");
        // Off, from off, changes nothing; from a setting, turns it off.
        assert!(EncryptionForm::new().change().is_none());
        let mut off = EncryptionForm::edit(&EncryptionSetting::Passphrase);
        off.mode = EncryptionMode::Off;
        assert!(matches!(off.change(), Some(EncryptionChange::Off)));
    }
}
