//! Destinations for copies of backup sets.

use super::{Catalog, Scope, resolve_id};
use crate::domain::{Destination, DestinationId};
use crate::store::StoreError;
use crate::store::records::{self, encode};
use crate::store::tables::*;
use redb::ReadableTable;

impl Catalog {
    /// Every destination, sorted by name.
    pub fn destinations(&self) -> Result<Vec<Destination>, StoreError> {
        self.read(|txn| {
            let mut all: Vec<Destination> =
                records::all(&txn.open_table(DESTINATIONS)?, "destinations")?;
            all.sort_by_key(|d| d.name.to_lowercase());
            Ok(all)
        })
    }

    /// One destination by id.
    pub fn destination(&self, id: DestinationId) -> Result<Option<Destination>, StoreError> {
        self.read(|txn| records::get(&txn.open_table(DESTINATIONS)?, "destinations", id.as_u128()))
    }

    /// A destination by name (case-insensitive) or id.
    pub fn find_destination(&self, key: &str) -> Result<Destination, StoreError> {
        let found = self.read(|txn| {
            let all = txn.open_table(DESTINATIONS)?;
            let names = txn.open_table(DESTINATION_NAMES)?;
            let id = match names.get(key.trim().to_lowercase().as_str())? {
                Some(id) => Some(id.value()),
                None => resolve_id(&all, key)?,
            };
            match id {
                Some(id) => records::get(&all, "destinations", id),
                None => Ok(None),
            }
        })?;
        found.ok_or_else(|| StoreError::NotFound {
            what: "destination",
            key: key.to_string(),
            list: "destination list",
        })
    }

    /// Inserts or replaces a destination; its name must be unused by another.
    pub fn put_destination(&self, d: &Destination) -> Result<(), StoreError> {
        self.write(Scope::Config, |txn| {
            let mut all = txn.open_table(DESTINATIONS)?;
            let mut names = txn.open_table(DESTINATION_NAMES)?;
            let lower = d.name.to_lowercase();
            if let Some(existing) = names.get(lower.as_str())?
                && existing.value() != d.id.as_u128()
            {
                return Err(StoreError::NameTaken {
                    what: "destination",
                    name: d.name.clone(),
                });
            }
            if let Some(old) = records::get::<Destination>(&all, "destinations", d.id.as_u128())? {
                names.remove(old.name.to_lowercase().as_str())?;
            }
            names.insert(lower.as_str(), d.id.as_u128())?;
            all.insert(d.id.as_u128(), encode(d).as_slice())?;
            Ok(())
        })
    }

    /// Removes a destination.
    pub fn remove_destination(&self, id: DestinationId) -> Result<bool, StoreError> {
        self.write(Scope::Config, |txn| {
            let mut all = txn.open_table(DESTINATIONS)?;
            let old: Option<Destination> = records::get(&all, "destinations", id.as_u128())?;
            let Some(old) = old else {
                return Ok(false);
            };
            all.remove(id.as_u128())?;
            txn.open_table(DESTINATION_NAMES)?
                .remove(old.name.to_lowercase().as_str())?;
            Ok(true)
        })
    }
}
