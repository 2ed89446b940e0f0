//! Typed ids: a UUID each, shown in full or as an 8-character short form.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// The first 8 hex digits: enough to tell backups apart in a folder name.
            pub fn short(&self) -> String {
                self.0.simple().to_string()[..8].to_string()
            }

            /// The id as a `u128`, the key type of the catalog tables.
            pub fn as_u128(&self) -> u128 {
                self.0.as_u128()
            }

            /// The id from a catalog key.
            pub fn from_u128(v: u128) -> Self {
                Self(Uuid::from_u128(v))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies a project.
    ProjectId
);
id_type!(
    /// Identifies one backup set.
    BackupId
);
id_type!(
    /// Identifies a scheduled backup job.
    JobId
);
id_type!(
    /// Identifies a destination for copies.
    DestinationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_is_eight_hex_digits_of_the_full_id() {
        let id = BackupId::new();
        assert_eq!(id.short().len(), 8);
        assert!(id.to_string().starts_with(&id.short()));
        assert_eq!(BackupId::from_u128(id.as_u128()), id);
        assert_eq!(id.to_string().parse::<BackupId>().ok(), Some(id));
    }
}
