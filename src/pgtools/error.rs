//! Errors of the PostgreSQL layer. Messages say what to do and never carry a
//! password.

use crate::pgtools::PgVersion;

/// What can go wrong talking to PostgreSQL or finding its tools.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No pg_dump at all.
    #[error(
        "this server runs PostgreSQL {server} and no pg_dump was found on this machine (looked \
         in the pg-bin-dir setting, the programs supabackup installed, PATH, \
         /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, Homebrew, Postgres.app and Program Files): \
         {hint}"
    )]
    NoPgDump {
        /// The server's version.
        server: PgVersion,
        /// What to run or install.
        hint: String,
    },
    /// Every pg_dump found is older than the server.
    #[error(
        "this server runs PostgreSQL {server} and the newest pg_dump found is {found} ({}), which \
         cannot dump it (pg_dump refuses newer servers): {hint}",
        found_dir.display()
    )]
    PgDumpTooOld {
        /// Newest pg_dump found.
        found: PgVersion,
        /// Its folder.
        found_dir: std::path::PathBuf,
        /// The server's version.
        server: PgVersion,
        /// What to run or install.
        hint: String,
    },
    /// Could not connect or authenticate.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// Host:port/db, no password.
        target: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A query failed.
    #[error("query failed on {target}: {reason}")]
    Query {
        /// Host:port/db.
        target: String,
        /// What the server said.
        reason: String,
    },
    /// A TLS setting could not be used.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

impl PgError {
    /// The major version whose client programs would fix this error, when
    /// it is a missing or too old pg_dump.
    pub fn missing_tools_major(&self) -> Option<u32> {
        match self {
            PgError::NoPgDump { server, .. } | PgError::PgDumpTooOld { server, .. } => {
                Some(server.major)
            }
            _ => None,
        }
    }
}
