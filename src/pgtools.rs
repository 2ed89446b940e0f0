//! The PostgreSQL side: finding pg_dump / pg_dumpall / psql and their
//! versions, connecting natively (for server facts and the shared snapshot),
//! and Supabase-aware diagnosis of connection strings.

mod client;
mod diagnose;
mod discover;
mod error;
mod server;
mod version;

pub use client::{connect, db_message, quote_ident, quote_literal};
pub use diagnose::{Finding, Severity, SupabaseHost, diagnose_url, supabase_host};
pub use discover::{ToolSet, choose_tools, discover_tools, search_dirs};
pub use error::PgError;
pub use server::{ServerInfo, server_info};
pub use version::PgVersion;
