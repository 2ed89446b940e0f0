//! The restore / drill / verify dialog as plain data: the target, the
//! typed-name confirmation, and for an encrypted set the key the vault
//! does not hold (an identity file, or the passphrase).

use crate::app::encryption::vault_opens;
use crate::domain::{BackupId, ProjectId, SetEncryption};
use crate::protocol::{Command, GivenKeys, Snapshot};
use std::path::PathBuf;
use zeroize::Zeroizing;

/// What the dialog does with the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetAction {
    /// Restore into a database.
    Restore,
    /// Restore into a scratch database and compare row counts.
    Drill,
    /// Check checksums (and decrypt, given the key).
    Verify,
}

impl SetAction {
    /// The dialog's title for the backup whose short id is `short`.
    pub fn title(&self, short: &str) -> String {
        match self {
            Self::Restore => format!("Restore backup {short}"),
            Self::Drill => format!("Restore drill of {short}"),
            Self::Verify => format!("Verify backup {short}"),
        }
    }

    /// What it does, in words.
    pub fn explain(&self) -> &'static str {
        match self {
            Self::Restore => {
                "Checksums are checked first; then roles, schema and data run in one \
                 transaction: the target gets all of it or none."
            }
            Self::Drill => {
                "A scratch database is created on this server, the backup restored into it, \
                 row counts compared with the manifest, and the scratch database dropped."
            }
            Self::Verify => {
                "Without the key, every file's checksum is checked; with it, every part is \
                 also decrypted and decompressed to the end."
            }
        }
    }
}

/// Restore / drill / verify options.
pub struct RestoreDialog {
    /// The backup.
    pub backup: BackupId,
    /// What to do with it.
    pub action: SetAction,
    /// Target (or drill server) URL.
    pub url: Zeroizing<String>,
    /// Set when the target has tables: the name to type, and why.
    pub confirm: Option<(String, String)>,
    /// What the user typed.
    pub typed: String,
    /// The project whose URL is being fetched into `url`.
    pub fill_from: Option<ProjectId>,
    /// How the set is encrypted, if it is.
    pub encryption: Option<SetEncryption>,
    /// The vault holds what opens it.
    pub vault_opens: bool,
    /// An identity file's path (typed, or picked with the OS dialog).
    pub identity: String,
    /// A passphrase typed (a passphrase set).
    pub passphrase: Zeroizing<String>,
}

impl RestoreDialog {
    /// The dialog for `backup` as the snapshot knows it.
    pub fn open(backup: BackupId, action: SetAction, data: &Snapshot) -> Self {
        let record = data.backups.iter().find(|b| b.id == backup);
        let encryption = record.and_then(|b| b.extra.encryption.clone());
        let project = record.and_then(|b| data.projects.iter().find(|p| p.id == b.project_id));
        Self {
            backup,
            action,
            url: Zeroizing::new(String::new()),
            confirm: None,
            typed: String::new(),
            fill_from: None,
            vault_opens: encryption.as_ref().is_some_and(|e| vault_opens(e, project)),
            encryption,
            identity: String::new(),
            passphrase: Zeroizing::new(String::new()),
        }
    }

    /// An encrypted set the vault holds no key for: the dialog asks.
    pub fn needs_key(&self) -> bool {
        self.encryption.is_some() && !self.vault_opens
    }

    /// The keys typed or picked in the dialog.
    pub fn given_keys(&self) -> GivenKeys {
        match &self.encryption {
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

    /// The dialog's button may be pressed: a target, the name typed when
    /// asked, and a key when the vault holds none (a verify goes without:
    /// it checks the checksums).
    pub fn ready(&self) -> bool {
        let typed_ok = self
            .confirm
            .as_ref()
            .is_none_or(|(name, _)| self.typed == *name);
        let key_ok = !self.needs_key() || !self.given_keys().is_empty();
        match self.action {
            SetAction::Verify => true,
            SetAction::Restore | SetAction::Drill => typed_ok && key_ok && !self.url.is_empty(),
        }
    }

    /// What the button sends.
    pub fn command(&self) -> Command {
        let keys = self.given_keys();
        match self.action {
            SetAction::Verify => Command::Verify(self.backup, keys),
            SetAction::Drill => Command::Drill {
                backup: self.backup,
                url: self.url.clone(),
                keys,
            },
            SetAction::Restore => Command::Restore {
                backup: self.backup,
                url: self.url.clone(),
                confirmed: self.confirm.is_some(),
                keys,
            },
        }
    }
}
