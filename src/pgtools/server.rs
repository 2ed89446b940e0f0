//! Facts about a server: version, size, TLS, Supabase schemas.

use crate::domain::ConnInfo;
use crate::pgtools::client::{db_message, target};
use crate::pgtools::{PgError, PgVersion};
use serde::Serialize;

/// What `project test` reports about the server.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    /// Parsed version.
    pub version: PgVersion,
    /// `SELECT version()`.
    pub version_string: String,
    /// `pg_database_size` of the database, bytes.
    pub database_size: u64,
    /// Whether this connection uses TLS.
    pub ssl: bool,
    /// The database has `auth` and `storage` schemas (Supabase).
    pub has_supabase_schemas: bool,
    /// The role connected as.
    pub current_user: String,
    /// That role is a superuser.
    pub superuser: bool,
    /// The database connected to.
    pub database: String,
}

/// Asks the server about itself.
pub async fn server_info(
    client: &tokio_postgres::Client,
    info: &ConnInfo,
) -> Result<ServerInfo, PgError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int4, version(), \
                    pg_database_size(current_database())::int8, \
                    coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false), \
                    EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') \
                      AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'storage'), \
                    current_user::text, current_database()::text, \
                    coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)",
            &[],
        )
        .await
        .map_err(|e| PgError::Query {
            target: target(info),
            reason: db_message(e),
        })?;
    let num: i32 = row.get(0);
    Ok(ServerInfo {
        version: PgVersion::from_num(num.max(0) as u32),
        version_string: row.get(1),
        database_size: row.get::<_, i64>(2).max(0) as u64,
        ssl: row.get(3),
        has_supabase_schemas: row.get(4),
        current_user: row.get(5),
        database: row.get(6),
        superuser: row.get(7),
    })
}
