//! The catalog: one redb file holding projects, backups, jobs, settings, the
//! vault header and the activity log, with copies of its configuration in
//! `catalog-copies/` beside it. Exports to SQLite.

mod catalog;
mod copies;
mod error;
mod guard;
mod records;
mod salvage;
pub mod sqlite_export;
mod tables;

pub use catalog::{Catalog, SCHEMA_VERSION};
pub use copies::{COPIES_DIR, CatalogCopy};
pub use error::StoreError;
pub use salvage::{CopySource, Salvage};
