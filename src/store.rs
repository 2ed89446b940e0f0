//! The catalog: one redb file holding projects, backups, jobs, settings, the
//! vault header and the activity log. Exports to SQLite.

mod catalog;
mod error;
mod records;
pub mod sqlite_export;
mod tables;

pub use catalog::{Catalog, SCHEMA_VERSION};
pub use error::StoreError;
