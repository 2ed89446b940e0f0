//! Setting, unlocking, locking and changing the master password.

use crate::domain::Level;
use crate::engine::{Engine, EngineError};
use crate::vault::{Vault, VaultError};
use std::sync::Arc;

/// Whether the vault exists and is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultState {
    /// No master password set yet (first run).
    Uninitialized,
    /// Set, not unlocked in this process.
    Locked,
    /// Unlocked.
    Unlocked,
}

impl Engine {
    /// Where the vault stands.
    pub fn vault_state(&self) -> Result<VaultState, EngineError> {
        if self.vault().is_ok() {
            return Ok(VaultState::Unlocked);
        }
        Ok(match self.catalog().vault_header()? {
            None => VaultState::Uninitialized,
            Some(_) => VaultState::Locked,
        })
    }

    /// Sets the master password on first use and unlocks.
    pub fn init_vault(&self, password: &str) -> Result<(), EngineError> {
        if self.catalog().vault_header()?.is_some() {
            return Err(EngineError::Failed(
                "a master password is already set: unlock with it, or change it with \
                 `supabackup vault change-password`"
                    .into(),
            ));
        }
        let (vault, header) = Vault::create(password)?;
        self.catalog().init_vault(&header)?;
        self.set_vault(Some(vault));
        self.log(Level::Info, None, "master password set");
        Ok(())
    }

    /// Unlocks with the master password; a wrong one changes nothing.
    pub fn unlock(&self, password: &str) -> Result<(), EngineError> {
        let header = self.catalog().vault_header()?.ok_or(EngineError::NoVault)?;
        let vault = Vault::unlock(&header, password)?;
        self.set_vault(Some(vault));
        Ok(())
    }

    /// Forgets the key.
    pub fn lock(&self) {
        self.set_vault(None);
    }

    /// Re-seals every secret under a new password, in one catalog transaction.
    pub fn change_password(&self, old: &str, new: &str) -> Result<usize, EngineError> {
        let header = self.catalog().vault_header()?.ok_or(EngineError::NoVault)?;
        let old_vault = Vault::unlock(&header, old)?;
        let (new_vault, new_header) = Vault::create(new)?;
        let resealed = self
            .catalog()
            .reseal_vault(&new_header, |project, purpose, sealed| {
                let aad = secret_purpose(purpose, &project.id);
                let plain = old_vault.open(&aad, sealed)?;
                new_vault.seal(&aad, &plain)
            })?
            .map_err(|e: VaultError| EngineError::Vault(e))?;
        self.set_vault(Some(new_vault));
        self.log(
            Level::Info,
            None,
            format!("master password changed; {resealed} project(s) re-sealed"),
        );
        Ok(resealed)
    }

    fn set_vault(&self, vault: Option<Vault>) {
        if let Ok(mut guard) = self.inner.vault.write() {
            *guard = vault.map(Arc::new);
        }
    }
}

/// The associated data a project secret is sealed with: binds it to its
/// slot and its project, so a sealed value copied elsewhere does not open.
pub(crate) fn secret_purpose(slot: &str, project: &crate::domain::ProjectId) -> String {
    format!("{slot}:{project}")
}
