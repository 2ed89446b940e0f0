//! The growing part of a catalog record. Records are postcard, which is
//! positional: a new field would make every older record unreadable. So each
//! record ends in one [`Extra`], stored as JSON text inside the record,
//! whose fields all have defaults: later versions add fields there without
//! a catalog migration, and older records read as the defaults.

use crate::domain::{Sealed, SecretSlot};
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
}

/// What a schedule record holds beyond its fixed fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobExtra {}

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
            }),
        };
        let bytes = postcard::to_stdvec(&v).unwrap();
        assert_eq!(postcard::from_bytes::<V2>(&bytes).unwrap(), v);
        // JSON shows the value itself, not text.
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["extra"]["encryption"]["mode"], "passphrase");
    }
}
