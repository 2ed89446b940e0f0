//! Schedules (backup jobs) and settings.

use super::{Catalog, Scope, resolve_id};
use crate::domain::{BackupJob, JobId};
use crate::store::StoreError;
use crate::store::records::{self, encode};
use crate::store::tables::*;
use redb::ReadableTable;

impl Catalog {
    /// Every job, sorted by name.
    pub fn jobs(&self) -> Result<Vec<BackupJob>, StoreError> {
        self.read(|txn| {
            let mut all: Vec<BackupJob> = records::all(&txn.open_table(JOBS)?, "backup_jobs")?;
            all.sort_by_key(|j| j.name.to_lowercase());
            Ok(all)
        })
    }

    /// One job by id.
    pub fn job(&self, id: JobId) -> Result<Option<BackupJob>, StoreError> {
        self.read(|txn| records::get(&txn.open_table(JOBS)?, "backup_jobs", id.as_u128()))
    }

    /// A job by name (case-insensitive) or id.
    pub fn find_job(&self, key: &str) -> Result<BackupJob, StoreError> {
        let found = self.read(|txn| {
            let jobs = txn.open_table(JOBS)?;
            let names = txn.open_table(JOB_NAMES)?;
            let id = match names.get(key.trim().to_lowercase().as_str())? {
                Some(id) => Some(id.value()),
                None => resolve_id(&jobs, key)?,
            };
            match id {
                Some(id) => records::get(&jobs, "backup_jobs", id),
                None => Ok(None),
            }
        })?;
        found.ok_or_else(|| StoreError::NotFound {
            what: "schedule",
            key: key.to_string(),
            list: "schedule list",
        })
    }

    /// Inserts or replaces a job; its name must be unused by another job.
    pub fn put_job(&self, job: &BackupJob) -> Result<(), StoreError> {
        self.write(Scope::Config, |txn| {
            let mut jobs = txn.open_table(JOBS)?;
            let mut names = txn.open_table(JOB_NAMES)?;
            let lower = job.name.to_lowercase();
            if let Some(existing) = names.get(lower.as_str())?
                && existing.value() != job.id.as_u128()
            {
                return Err(StoreError::NameTaken {
                    what: "schedule",
                    name: job.name.clone(),
                });
            }
            if let Some(old) = records::get::<BackupJob>(&jobs, "backup_jobs", job.id.as_u128())? {
                names.remove(old.name.to_lowercase().as_str())?;
            }
            names.insert(lower.as_str(), job.id.as_u128())?;
            jobs.insert(job.id.as_u128(), encode(job).as_slice())?;
            Ok(())
        })
    }

    /// Removes a job.
    pub fn remove_job(&self, id: JobId) -> Result<bool, StoreError> {
        self.write(Scope::Config, |txn| {
            let mut jobs = txn.open_table(JOBS)?;
            let old: Option<BackupJob> = records::get(&jobs, "backup_jobs", id.as_u128())?;
            let Some(old) = old else {
                return Ok(false);
            };
            jobs.remove(id.as_u128())?;
            txn.open_table(JOB_NAMES)?
                .remove(old.name.to_lowercase().as_str())?;
            Ok(true)
        })
    }

    /// A setting's value, if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(SETTINGS)?;
            Ok(table.get(key)?.map(|v| v.value().to_string()))
        })
    }

    /// Sets (or with `None`, clears) a setting.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        self.write(Scope::Config, |txn| {
            let mut table = txn.open_table(SETTINGS)?;
            match value {
                Some(v) => table.insert(key, v)?,
                None => table.remove(key)?,
            };
            Ok(())
        })
    }
}
