//! The vault header, and re-sealing every secret under a new one.

use super::{Catalog, Scope};
use crate::domain::{Destination, Project, Sealed, SecretSlot};
use crate::store::StoreError;
use crate::store::records::{self, decode, encode};
use crate::store::tables::*;
use crate::vault::VaultHeader;
use redb::{ReadableTable, WriteTransaction};

impl Catalog {
    /// The vault header, once a master password has been set.
    pub fn vault_header(&self) -> Result<Option<VaultHeader>, StoreError> {
        self.read(|txn| {
            let meta = txn.open_table(META)?;
            match meta.get(META_VAULT)? {
                Some(v) => decode("meta", META_VAULT, v.value()).map(Some),
                None => Ok(None),
            }
        })
    }

    /// Stores the header of a new vault. Refuses to replace an existing one.
    pub fn init_vault(&self, header: &VaultHeader) -> Result<(), StoreError> {
        self.write(Scope::Config, |txn| {
            let mut meta = txn.open_table(META)?;
            if meta.get(META_VAULT)?.is_some() {
                return Err(StoreError::NameTaken {
                    what: "vault",
                    name: "master password".into(),
                });
            }
            meta.insert(META_VAULT, encode(header).as_slice())?;
            Ok(())
        })
    }

    /// Replaces the vault header and every sealed secret (projects' and
    /// destinations') in one transaction: `reseal` maps (the secret's
    /// purpose, the old sealed bytes) to new sealed bytes. Returns how many
    /// projects and destinations were re-sealed.
    pub fn reseal_vault<E>(
        &self,
        header: &VaultHeader,
        mut reseal: impl FnMut(&str, &Sealed) -> Result<Sealed, E>,
    ) -> Result<Result<usize, E>, StoreError> {
        let out = self.guarded(|db| {
            let txn = db.begin_write()?;
            let resealed = reseal_all(&txn, header, &mut reseal)?;
            if resealed.is_ok() {
                txn.commit()?;
            }
            Ok(resealed)
        })?;
        if out.is_ok() {
            self.refresh_copies();
        }
        Ok(out)
    }
}

/// Re-seals every project and destination and stores the new header,
/// inside `txn`.
fn reseal_all<E>(
    txn: &WriteTransaction,
    header: &VaultHeader,
    reseal: &mut impl FnMut(&str, &Sealed) -> Result<Sealed, E>,
) -> Result<Result<usize, E>, StoreError> {
    let mut count = 0;
    let mut projects = txn.open_table(PROJECTS)?;
    let all: Vec<Project> = records::all(&projects, "projects")?;
    for mut p in all {
        let snapshot = p.clone();
        for slot in SecretSlot::ALL {
            if let Some(old) = snapshot.sealed(slot) {
                match reseal(&slot.purpose(&snapshot.id), old) {
                    Ok(s) => p.set_sealed(slot, Some(s)),
                    Err(e) => return Ok(Err(e)),
                }
            }
        }
        projects.insert(p.id.as_u128(), encode(&p).as_slice())?;
        count += 1;
    }
    let mut destinations = txn.open_table(DESTINATIONS)?;
    let all: Vec<Destination> = records::all(&destinations, "destinations")?;
    for mut d in all {
        if let Some(old) = &d.secret {
            match reseal(&d.secret_purpose(), old) {
                Ok(s) => d.secret = Some(s),
                Err(e) => return Ok(Err(e)),
            }
            destinations.insert(d.id.as_u128(), encode(&d).as_slice())?;
            count += 1;
        }
    }
    txn.open_table(META)?
        .insert(META_VAULT, encode(header).as_slice())?;
    Ok(Ok(count))
}
