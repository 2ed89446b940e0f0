//! Backup records and the activity log: not in the copies (backup records
//! come back from the backup folders' manifests).

use super::{Catalog, Scope, resolve_id};
use crate::domain::{Activity, Backup, BackupId};
use crate::store::StoreError;
use crate::store::records::{self, decode, encode};
use crate::store::tables::*;
use redb::{ReadableTable, ReadableTableMetadata};

impl Catalog {
    /// Every backup, newest first.
    pub fn backups(&self) -> Result<Vec<Backup>, StoreError> {
        self.read(|txn| {
            let mut all: Vec<Backup> = records::all(&txn.open_table(BACKUPS)?, "backups")?;
            all.sort_by_key(|b| std::cmp::Reverse(b.started_at));
            Ok(all)
        })
    }

    /// How many backup records there are.
    pub fn backup_count(&self) -> Result<u64, StoreError> {
        self.read(|txn| Ok(txn.open_table(BACKUPS)?.len()?))
    }

    /// One backup by id.
    pub fn backup(&self, id: BackupId) -> Result<Option<Backup>, StoreError> {
        self.read(|txn| records::get(&txn.open_table(BACKUPS)?, "backups", id.as_u128()))
    }

    /// A backup by full or short id (a unique prefix).
    pub fn find_backup(&self, key: &str) -> Result<Backup, StoreError> {
        let found = self.read(|txn| {
            let backups = txn.open_table(BACKUPS)?;
            match resolve_id(&backups, key)? {
                Some(id) => records::get(&backups, "backups", id),
                None => Ok(None),
            }
        })?;
        found.ok_or_else(|| StoreError::NotFound {
            what: "backup",
            key: key.to_string(),
            list: "backups",
        })
    }

    /// Inserts or replaces a backup record.
    pub fn put_backup(&self, backup: &Backup) -> Result<(), StoreError> {
        self.put_backups(std::slice::from_ref(backup))
    }

    /// Inserts or replaces many backup records in one transaction.
    pub fn put_backups(&self, backups: &[Backup]) -> Result<(), StoreError> {
        if backups.is_empty() {
            // redb would still write and fsync an empty commit.
            return Ok(());
        }
        self.write(Scope::Records, |txn| {
            let mut table = txn.open_table(BACKUPS)?;
            for b in backups {
                table.insert(b.id.as_u128(), encode(b).as_slice())?;
            }
            Ok(())
        })
    }

    /// Changes one backup record in place, in one transaction (a pin or a
    /// copy state changed meanwhile is not lost); returns the new record,
    /// or `None` when it is gone.
    pub fn update_backup(
        &self,
        id: BackupId,
        change: impl FnOnce(&mut Backup),
    ) -> Result<Option<Backup>, StoreError> {
        self.write(Scope::Records, |txn| {
            let mut table = txn.open_table(BACKUPS)?;
            let current: Option<Backup> = records::get(&table, "backups", id.as_u128())?;
            let Some(mut b) = current else {
                return Ok(None);
            };
            change(&mut b);
            table.insert(b.id.as_u128(), encode(&b).as_slice())?;
            Ok(Some(b))
        })
    }

    /// Removes a backup record (the caller removes its folder first).
    pub fn delete_backup(&self, id: BackupId) -> Result<bool, StoreError> {
        self.write(Scope::Records, |txn| {
            Ok(txn.open_table(BACKUPS)?.remove(id.as_u128())?.is_some())
        })
    }

    /// Appends to the activity log.
    pub fn log(&self, entry: &Activity) -> Result<(), StoreError> {
        self.write(Scope::Records, |txn| {
            let mut table = txn.open_table(ACTIVITY)?;
            let next = table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(0);
            table.insert(next, encode(entry).as_slice())?;
            Ok(())
        })
    }

    /// The newest `limit` activity entries, newest first.
    pub fn activity(&self, limit: usize) -> Result<Vec<Activity>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(ACTIVITY)?;
            let mut out = Vec::new();
            for entry in table.iter()?.rev().take(limit) {
                let (k, v) = entry?;
                out.push(decode("activity", k.value(), v.value())?);
            }
            Ok(out)
        })
    }
}
