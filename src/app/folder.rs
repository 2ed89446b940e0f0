//! "Restore from a folder" as plain data: a backup folder copied from
//! another machine or a USB stick, as the engine read it (checksums
//! checked), the target, the typed-name confirmation and the key of an
//! encrypted set.

use crate::domain::SetEncryption;
use crate::protocol::{Command, GivenKeys, SetContents};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// The dialog.
#[derive(Clone)]
pub struct FolderRestore {
    /// The folder picked.
    pub dir: PathBuf,
    /// What the engine read there (every checksum checked), or why not.
    pub contents: Result<SetContents, String>,
    /// Target database URL.
    pub url: Zeroizing<String>,
    /// Set when the target has tables: the name to type, and why.
    pub confirm: Option<(String, String)>,
    /// What the user typed.
    pub typed: String,
    /// An identity file's path (a set encrypted to public keys).
    pub identity: String,
    /// The passphrase (a set encrypted with one).
    pub passphrase: Zeroizing<String>,
    /// "Add to the history" was sent.
    pub imported: bool,
}

impl FolderRestore {
    /// The dialog for what the engine read in `dir`.
    pub fn new(dir: PathBuf, contents: Result<SetContents, String>) -> Self {
        Self {
            dir,
            contents,
            url: Zeroizing::new(String::new()),
            confirm: None,
            typed: String::new(),
            identity: String::new(),
            passphrase: Zeroizing::new(String::new()),
            imported: false,
        }
    }

    /// How the set is encrypted, if it read and is.
    pub fn encryption(&self) -> Option<&SetEncryption> {
        self.contents
            .as_ref()
            .ok()
            .and_then(|c| c.manifest.encryption.as_ref())
    }

    /// The keys typed in the dialog.
    pub fn given_keys(&self) -> GivenKeys {
        match self.encryption() {
            None => GivenKeys::default(),
            Some(SetEncryption::Recipients { .. }) => GivenKeys {
                identity: Some(self.identity.trim())
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from),
                passphrase: None,
            },
            Some(SetEncryption::Passphrase) => GivenKeys {
                identity: None,
                passphrase: Some(self.passphrase.clone()).filter(|p| !p.is_empty()),
            },
        }
    }

    /// Restore may be pressed: the set read, a target, the name typed
    /// when asked.
    pub fn ready(&self) -> bool {
        self.contents.is_ok()
            && !self.url.trim().is_empty()
            && self
                .confirm
                .as_ref()
                .is_none_or(|(name, _)| self.typed == *name)
    }

    /// What Restore sends.
    pub fn command(&self) -> Command {
        Command::RestoreFolder {
            dir: self.dir.clone(),
            url: self.url.clone(),
            confirmed: self.confirm.is_some(),
            keys: self.given_keys(),
        }
    }
}
