//! The growing part of a catalog record. Records are postcard, which is
//! positional: a new field would make every older record unreadable. So each
//! record ends in one [`Extra`], stored as JSON text inside the record,
//! whose fields all have defaults: later versions add fields there without
//! a catalog migration, and older records read as the defaults.

use crate::domain::{DestinationId, Sealed, SecretSlot, StorageSettings};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// A record's extensible tail: JSON text inside postcard (an empty text is
/// the default), the value itself in human-readable formats (JSON output).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra<T>(pub T);

impl<T> std::ops::Deref for Extra<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Extra<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Serialize> Serialize for Extra<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return self.0.serialize(s);
        }
        let text = serde_json::to_string(&self.0).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }
}

impl<'de, T: DeserializeOwned + Default> Deserialize<'de> for Extra<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return T::deserialize(d).map(Extra);
        }
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(Extra(T::default()));
        }
        serde_json::from_str(&text)
            .map(Extra)
            .map_err(serde::de::Error::custom)
    }
}

/// How a project's backups are encrypted (the secrets, a passphrase or an
/// identity, are sealed in the vault beside the project's others).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum EncryptionSetting {
    /// Not encrypted.
    #[default]
    Off,
    /// To these age public keys (`age1...`).
    Recipients {
        /// The public keys.
        recipients: Vec<String>,
    },
    /// With the passphrase sealed in the vault.
    Passphrase,
}

/// What a project record holds beyond its fixed fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectExtra {
    /// Backup encryption.
    #[serde(default)]
    pub encryption: EncryptionSetting,
    /// Secrets of the slots beyond the fixed three, sealed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sealed: BTreeMap<SecretSlot, Sealed>,
    /// Where its backups are copied after they complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copy_to: Vec<DestinationId>,
    /// Delete the local folder once every copy is verified.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remote_only: bool,
    /// How its Supabase Storage files are reached (none set: REST with the
    /// service key when the connection string names a Supabase project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSettings>,
}

/// Grandfather-father-son retention, as restic's `forget` counts it: for
/// each of the last N hours (days, weeks, months, years) that have backups,
/// the newest backup of it is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gfs {
    /// Hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly: Option<u32>,
    /// Days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<u32>,
    /// ISO weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<u32>,
    /// Months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<u32>,
    /// Years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yearly: Option<u32>,
}

impl Gfs {
    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a schedule record holds beyond its fixed fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobExtra {
    /// Grandfather-father-son retention, beside keep-last and keep-days.
    #[serde(default, skip_serializing_if = "Gfs::is_empty")]
    pub gfs: Gfs,
    /// Where this schedule's backups are copied, instead of the project's
    /// destinations (`None`: the project's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_to: Option<Vec<DestinationId>>,
}

/// How a backup set is encrypted, as its record remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum SetEncryption {
    /// To these age public keys.
    Recipients {
        /// The public keys.
        recipients: Vec<String>,
    },
    /// With a passphrase.
    Passphrase,
}

impl std::fmt::Display for SetEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Recipients { recipients } => write!(f, "age, to {}", recipients.join(", ")),
            Self::Passphrase => f.write_str("age, with a passphrase"),
        }
    }
}

/// What a backup record holds beyond its fixed fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupExtra {
    /// What a person should know about the set (login roles without their
    /// password...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How the set is encrypted, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<SetEncryption>,
    /// Its copies at destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<CopyState>,
    /// The local folder was removed once every copy was verified.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remote_only: bool,
    /// The Storage files in the set, when it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSummary>,
    /// The pg_dump that made it, and how it was found ("installed by
    /// supabackup", "PATH"...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_dump: Option<UsedTool>,
    /// The PostgreSQL major whose client programs this backup needed and
    /// did not find (it failed for that; `tools install` fixes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_tools: Option<u32>,
}

/// A program a backup used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedTool {
    /// Its path.
    pub path: String,
    /// How it was found.
    pub found_by: String,
}

/// What a set holds of a project's Storage files, and what its backup
/// downloaded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageSummary {
    /// Buckets backed up.
    pub buckets: u64,
    /// Files in the set.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files this backup downloaded (the others had not changed).
    pub downloaded: u64,
    /// Bytes it downloaded (egress).
    pub downloaded_bytes: u64,
    /// Files newly stored (not already in the store).
    pub stored_new: u64,
    /// Bytes those take on disk.
    pub stored_new_bytes: u64,
    /// `s3` or `rest`.
    #[serde(default)]
    pub access: String,
}

/// Where one copy of a set stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyState {
    /// The destination.
    pub destination: DestinationId,
    /// Copied, failed or pending.
    pub status: CopyStatus,
    /// When it last changed.
    pub at: DateTime<Utc>,
    /// Uploads tried so far.
    #[serde(default)]
    pub attempts: u32,
}

/// A copy's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state")]
pub enum CopyStatus {
    /// To do (the next sync or scheduler wake copies it).
    Pending,
    /// Every file is there, SHA256SUMS last.
    Copied,
    /// The last try failed.
    Failed {
        /// Why, in words.
        error: String,
    },
    /// It was copied, but a verify found a file of it missing or changed
    /// there: the next sync replaces it.
    Damaged {
        /// What verify found, in words.
        error: String,
    },
}

impl BackupExtra {
    /// The copy state for `destination`, if the set has one there.
    pub fn copy(&self, destination: DestinationId) -> Option<&CopyState> {
        self.copies.iter().find(|c| c.destination == destination)
    }

    /// Sets the copy state for `destination`; a copied or failed one
    /// counts one upload try.
    pub fn set_copy(&mut self, destination: DestinationId, status: CopyStatus) {
        let tries = u32::from(matches!(
            status,
            CopyStatus::Copied | CopyStatus::Failed { .. }
        ));
        self.set_copy_tried(destination, status, tries);
    }

    /// Sets the copy state for `destination`, counting `tries` more upload
    /// tries (a copy whose file was tried three times counts three).
    pub fn set_copy_tried(&mut self, destination: DestinationId, status: CopyStatus, tries: u32) {
        let now = Utc::now();
        match self
            .copies
            .iter_mut()
            .find(|c| c.destination == destination)
        {
            Some(c) => {
                c.attempts = c.attempts.saturating_add(tries);
                c.status = status;
                c.at = now;
            }
            None => self.copies.push(CopyState {
                destination,
                attempts: tries,
                status,
                at: now,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V1 {
        a: u32,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V2 {
        a: u32,
        extra: Extra<BackupExtra>,
    }

    #[test]
    fn a_record_with_an_empty_tail_reads_as_the_defaults_and_fields_round_trip() {
        // What the catalog migration does to an older record: one empty
        // string (a zero byte) appended.
        let mut old = postcard::to_stdvec(&V1 { a: 7 }).unwrap();
        old.push(0);
        let read: V2 = postcard::from_bytes(&old).unwrap();
        assert_eq!(read.extra, Extra::default());
        let v = V2 {
            a: 7,
            extra: Extra(BackupExtra {
                warnings: vec!["w".into()],
                encryption: Some(SetEncryption::Passphrase),
                ..Default::default()
            }),
        };
        let bytes = postcard::to_stdvec(&v).unwrap();
        assert_eq!(postcard::from_bytes::<V2>(&bytes).unwrap(), v);
        // JSON shows the value itself, not text.
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["extra"]["encryption"]["mode"], "passphrase");
    }
}
