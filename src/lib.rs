//! supabackup: verified, scheduled, restorable backups of Supabase projects
//! and any PostgreSQL database. The library holds everything; `main.rs` only
//! picks the desktop app or the CLI. The desktop app (`app`, its engine side
//! `worker` and the `protocol` between them) is the `gui` feature; without
//! it the crate is the headless CLI.

#[cfg(feature = "gui")]
pub mod app;
pub mod cli;
pub mod datadir;
pub mod domain;
pub mod engine;
pub mod pgtools;
#[cfg(feature = "gui")]
pub mod protocol;
pub mod scheduler;
pub mod store;
pub mod vault;
#[cfg(feature = "gui")]
pub mod worker;
