//! The catalog's side of its copies: taking one after a configuration
//! commit, putting one into a new catalog, and reading everything back.

use super::{Catalog, SCHEMA_VERSION, Scope};
use crate::store::StoreError;
use crate::store::copies::{COPY_FORMAT, CatalogCopy};
use crate::store::records::{self, decode, encode};
use crate::store::tables::*;
use crate::vault::VaultHeader;
use redb::ReadableTable;

impl Catalog {
    /// Writes the copies from what is committed now. A failure is reported
    /// on stderr: the commit itself stands.
    pub(super) fn refresh_copies(&self) {
        let Some(copies) = &self.copies else {
            return;
        };
        let mut ours = copies.lock();
        let written = self
            .snapshot()
            .and_then(|copy| copies.write(&mut ours, &copy));
        if let Err(e) = written {
            eprintln!("warning: the catalog's copies were not refreshed: {e}");
        }
    }

    /// The configuration part of the catalog, as a copy holds it.
    pub fn snapshot(&self) -> Result<CatalogCopy, StoreError> {
        self.read(|txn| {
            let meta = txn.open_table(META)?;
            let vault = match meta.get(META_VAULT)? {
                Some(v) => Some(decode::<VaultHeader>("meta", META_VAULT, v.value())?),
                None => None,
            };
            let catalog_id = meta
                .get(META_CATALOG_ID)?
                .and_then(|v| v.value().try_into().ok().map(u128::from_le_bytes))
                .unwrap_or(0);
            let mut settings = Vec::new();
            for entry in txn.open_table(SETTINGS)?.iter()? {
                let (k, v) = entry?;
                settings.push((k.value().to_string(), v.value().to_string()));
            }
            Ok(CatalogCopy {
                format: COPY_FORMAT,
                schema_version: SCHEMA_VERSION,
                catalog_id,
                written_at: chrono::Utc::now(),
                vault,
                projects: records::all(&txn.open_table(PROJECTS)?, "projects")?,
                jobs: records::all(&txn.open_table(JOBS)?, "backup_jobs")?,
                settings,
                destinations: records::all(&txn.open_table(DESTINATIONS)?, "destinations")?,
            })
        })
    }

    /// Puts a copy's vault, projects, schedules and settings into this
    /// catalog (a new one) and takes its identity, in one transaction.
    pub fn restore_copy(&self, copy: &CatalogCopy) -> Result<(), StoreError> {
        self.write(Scope::Config, |txn| {
            {
                let mut meta = txn.open_table(META)?;
                if let Some(vault) = &copy.vault {
                    meta.insert(META_VAULT, encode(vault).as_slice())?;
                }
                meta.insert(META_CATALOG_ID, &copy.catalog_id.to_le_bytes()[..])?;
            }
            let mut projects = txn.open_table(PROJECTS)?;
            let mut project_names = txn.open_table(PROJECT_NAMES)?;
            for p in &copy.projects {
                projects.insert(p.id.as_u128(), encode(p).as_slice())?;
                project_names.insert(p.name.to_lowercase().as_str(), p.id.as_u128())?;
            }
            let mut jobs = txn.open_table(JOBS)?;
            let mut job_names = txn.open_table(JOB_NAMES)?;
            for j in &copy.jobs {
                jobs.insert(j.id.as_u128(), encode(j).as_slice())?;
                job_names.insert(j.name.to_lowercase().as_str(), j.id.as_u128())?;
            }
            let mut settings = txn.open_table(SETTINGS)?;
            for (k, v) in &copy.settings {
                settings.insert(k.as_str(), v.as_str())?;
            }
            let mut destinations = txn.open_table(DESTINATIONS)?;
            let mut destination_names = txn.open_table(DESTINATION_NAMES)?;
            for d in &copy.destinations {
                destinations.insert(d.id.as_u128(), encode(d).as_slice())?;
                destination_names.insert(d.name.to_lowercase().as_str(), d.id.as_u128())?;
            }
            Ok(())
        })
    }

    /// Reads every record of every table: `Damaged` or `Corrupt` when
    /// something does not read back (every page's checksum was checked when
    /// the file was opened).
    pub fn check(&self) -> Result<(), StoreError> {
        self.snapshot()?;
        self.read(|txn| {
            records::all::<crate::domain::Backup>(&txn.open_table(BACKUPS)?, "backups")?;
            for entry in txn.open_table(ACTIVITY)?.iter()? {
                let (k, v) = entry?;
                decode::<crate::domain::Activity>("activity", k.value(), v.value())?;
            }
            for entry in txn.open_table(PROJECT_NAMES)?.iter()? {
                entry?;
            }
            for entry in txn.open_table(JOB_NAMES)?.iter()? {
                entry?;
            }
            for entry in txn.open_table(DESTINATION_NAMES)?.iter()? {
                entry?;
            }
            Ok(())
        })
    }
}
