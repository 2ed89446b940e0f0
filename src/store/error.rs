//! Errors of the catalog.

use std::path::PathBuf;

/// What can go wrong with the catalog.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the catalog.
    #[error(
        "the catalog is in use by another supabackup process (the desktop app, a daemon or a \
         running backup): close it or wait for it to finish, then try again ({})",
        .0.display()
    )]
    InUse(PathBuf),
    /// Written by a newer supabackup.
    #[error(
        "the catalog was written by a newer supabackup (schema version {found}; this binary \
         supports up to {supported}): use the newer binary ({})",
        path.display()
    )]
    TooNew {
        /// Version in the file.
        found: u32,
        /// Newest version this binary knows.
        supported: u32,
        /// The catalog file.
        path: PathBuf,
    },
    /// The catalog file is damaged: redb reported corruption or panicked
    /// while opening or reading it.
    #[error(
        "the catalog is damaged ({detail}). Your backups on disk are not affected: run \
         `supabackup catalog rebuild`; it moves the damaged file aside, brings back projects, \
         schedules, settings and the master-password vault from the newest good copy, and backup \
         records from the backup folders (catalog: {}; copies: {})",
        path.display(),
        copies.display()
    )]
    Damaged {
        /// The catalog file.
        path: PathBuf,
        /// The folder of the catalog's copies.
        copies: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A record did not decode.
    #[error(
        "the catalog is damaged (record {table}/{key} does not decode: {detail}). Your backups on \
         disk are not affected: run `supabackup catalog rebuild`; it moves the damaged file \
         aside, brings back projects, schedules, settings and the master-password vault from the \
         newest good copy, and backup records from the backup folders"
    )]
    Corrupt {
        /// Table name.
        table: &'static str,
        /// The record's key.
        key: String,
        /// What the decoder said.
        detail: String,
    },
    /// A project or job name is already used.
    #[error("{what} \"{name}\" already exists: choose another name")]
    NameTaken {
        /// "project" or "schedule".
        what: &'static str,
        /// The name.
        name: String,
    },
    /// No such record.
    #[error("no {what} \"{key}\": list them with `supabackup {list}`")]
    NotFound {
        /// "project", "backup" or "schedule".
        what: &'static str,
        /// What the user asked for.
        key: String,
        /// The listing command.
        list: &'static str,
    },
    /// The file could not be opened or written.
    #[error("cannot open the catalog ({detail}): check the data dir's permissions and free space ({})", path.display())]
    Open {
        /// The catalog file.
        path: PathBuf,
        /// What redb said.
        detail: String,
    },
    /// A copy of the catalog could not be used or a file could not be moved
    /// while rebuilding.
    #[error("{context}: {detail} ({})", path.display())]
    File {
        /// What was being done.
        context: String,
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// redb failed during a transaction.
    #[error("catalog error: {0}")]
    Db(#[from] redb::Error),
}

impl StoreError {
    /// True when the catalog file itself is damaged (`catalog rebuild`
    /// replaces it), as opposed to being busy, too new or unwritable.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            StoreError::Damaged { .. } | StoreError::Corrupt { .. }
        )
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}

from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
