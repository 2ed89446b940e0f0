//! supabackup: verified, scheduled, restorable backups of Supabase projects
//! and any PostgreSQL database. The library holds everything; `main.rs` only
//! picks the desktop app or the CLI.

pub mod app;
pub mod cli;
pub mod datadir;
pub mod domain;
pub mod engine;
pub mod pgtools;
pub mod scheduler;
pub mod store;
pub mod vault;
