//! Setting, unlocking and changing the master password. Unlocking gives an
//! [`Unlocked`] engine: everything that needs a project's secrets is on it,
//! so holding one is the proof the vault is open.

use crate::domain::Level;
use crate::engine::{Engine, EngineError};
use crate::vault::{Vault, VaultError};
use std::sync::Arc;

/// Whether a master password has been set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultState {
    /// No master password set yet (first run).
    Uninitialized,
    /// Set: unlock to use the projects' secrets.
    Locked,
}

/// An engine whose vault is open. Derefs to [`Engine`] for everything that
/// needs no secret; clones share the same engine and key.
#[derive(Clone)]
pub struct Unlocked {
    engine: Engine,
    vault: Arc<Vault>,
}

impl std::ops::Deref for Unlocked {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl std::fmt::Debug for Unlocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Unlocked({:?})", self.engine)
    }
}

impl Unlocked {
    /// The open vault.
    pub(crate) fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The engine, without the key.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Re-seals every secret under a new password, in one catalog
    /// transaction; the old password must be the current one. Returns the
    /// engine unlocked with the new key and how many projects were re-sealed.
    pub fn change_password(&self, old: &str, new: &str) -> Result<(Unlocked, usize), EngineError> {
        let header = self.catalog().vault_header()?.ok_or(EngineError::NoVault)?;
        let old_vault = Vault::unlock(&header, old)?;
        let (new_vault, new_header) = Vault::create(new)?;
        let resealed = self
            .catalog()
            .reseal_vault(&new_header, |aad, sealed| {
                let plain = old_vault.open(aad, sealed)?;
                new_vault.seal(aad, &plain)
            })?
            .map_err(|e: VaultError| EngineError::Vault(e))?;
        self.log(
            Level::Info,
            None,
            format!("master password changed; {resealed} project(s) and destination(s) re-sealed"),
        );
        let unlocked = Unlocked {
            engine: self.engine.clone(),
            vault: Arc::new(new_vault),
        };
        Ok((unlocked, resealed))
    }
}

impl Engine {
    /// Whether a master password is set.
    pub fn vault_state(&self) -> Result<VaultState, EngineError> {
        Ok(match self.catalog().vault_header()? {
            None => VaultState::Uninitialized,
            Some(_) => VaultState::Locked,
        })
    }

    /// Sets the master password on first use; returns the unlocked engine.
    pub fn init_vault(&self, password: &str) -> Result<Unlocked, EngineError> {
        if self.catalog().vault_header()?.is_some() {
            return Err(EngineError::Failed(
                "a master password is already set: unlock with it, or change it with \
                 `supabackup vault change-password`"
                    .into(),
            ));
        }
        let (vault, header) = Vault::create(password)?;
        self.catalog().init_vault(&header)?;
        self.log(Level::Info, None, "master password set");
        Ok(self.with_vault(vault))
    }

    /// Unlocks with the master password; a wrong one changes nothing.
    pub fn unlock(&self, password: &str) -> Result<Unlocked, EngineError> {
        let header = self.catalog().vault_header()?.ok_or(EngineError::NoVault)?;
        let vault = Vault::unlock(&header, password)?;
        Ok(self.with_vault(vault))
    }

    fn with_vault(&self, vault: Vault) -> Unlocked {
        Unlocked {
            engine: self.clone(),
            vault: Arc::new(vault),
        }
    }
}
