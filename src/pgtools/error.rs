//! Errors of the PostgreSQL layer. Messages say what to do and never carry a
//! password.

use crate::pgtools::PgVersion;

/// What can go wrong talking to PostgreSQL or finding its tools.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No pg_dump at all.
    #[error(
        "no pg_dump found (looked in PATH, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, Homebrew, \
         Postgres.app and Program Files): install the PostgreSQL client tools ({package} on \
         Debian/Ubuntu, `brew install postgresql@{major}` on macOS) or set the folder with \
         `supabackup settings set pg-bin-dir DIR`"
    )]
    NoPgDump {
        /// Package to install.
        package: String,
        /// Major version wanted.
        major: u32,
    },
    /// Every pg_dump found is older than the server.
    #[error(
        "pg_dump {found} cannot dump a PostgreSQL {server} server (pg_dump refuses newer servers): \
         install {package} (or `brew install postgresql@{major}` on macOS) or set the pg_dump folder \
         with `supabackup settings set pg-bin-dir DIR`"
    )]
    PgDumpTooOld {
        /// Newest pg_dump found.
        found: PgVersion,
        /// The server's version.
        server: PgVersion,
        /// Package to install.
        package: String,
        /// Major version wanted.
        major: u32,
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
