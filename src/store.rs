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

/// Makes `path` an owner-only file (0600 on Unix): created empty when it
/// is missing, its mode tightened when it is not.
pub(crate) fn owner_only_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut opts = std::fs::File::options();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    drop(file);
    Ok(())
}
