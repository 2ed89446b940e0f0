//! The PostgreSQL side: finding pg_dump / pg_dumpall / psql / pg_restore and
//! their versions, fetching them for this machine when it has none that fit,
//! connecting natively (for server facts and the shared snapshot), and
//! Supabase-aware diagnosis of connection strings.

mod client;
mod diagnose;
mod discover;
mod error;
pub mod fetch;
mod server;
mod version;

pub use client::{connect, db_message, quote_ident, quote_literal};
pub use diagnose::{Finding, Severity, SupabaseHost, diagnose_url, supabase_host};
pub use discover::{
    SearchDir, ToolOrigin, ToolSet, choose_tools, discover_tools, install_hint, search_dirs,
};
pub use error::PgError;
pub use server::{ServerInfo, server_info};
pub use version::PgVersion;
