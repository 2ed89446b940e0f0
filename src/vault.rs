//! The secrets vault: a master password, stretched with Argon2id, seals every
//! secret with AES-256-GCM-SIV and a fresh random nonce.
//!
//! The header (salt, Argon2 parameters, a verifier) lives in the catalog; the
//! key lives only in memory, zeroized on drop.

use crate::domain::Sealed;
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

/// Sealed-format version byte at the front of every sealed secret.
const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const VERIFIER_PURPOSE: &str = "vault-verifier";
const VERIFIER_PLAINTEXT: &[u8] = b"supabackup vault v1";
/// The shortest master password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Errors of the vault.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The password does not open this vault.
    #[error("wrong master password: nothing was changed; try again")]
    WrongPassword,
    /// A new password is too short.
    #[error("the master password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    /// A sealed value did not open: damaged, or sealed for another slot.
    #[error("a sealed secret ({purpose}) is damaged and cannot be opened: enter it again")]
    Damaged {
        /// Which secret.
        purpose: String,
    },
    /// The header's parameters are not usable.
    #[error("the vault header is damaged ({0}): restore the catalog from a copy")]
    BadHeader(String),
    /// The OS random source failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

/// What the catalog stores so the password can be checked and the key derived.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultHeader {
    /// Argon2id salt.
    pub salt: [u8; 16],
    /// Argon2id memory in KiB.
    pub m_cost: u32,
    /// Argon2id passes.
    pub t_cost: u32,
    /// Argon2id lanes.
    pub p_cost: u32,
    /// A known plaintext sealed with the key: opening it proves the password.
    pub verifier: Vec<u8>,
}

impl fmt::Debug for VaultHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultHeader")
            .field("m_cost", &self.m_cost)
            .field("t_cost", &self.t_cost)
            .field("p_cost", &self.p_cost)
            .finish_non_exhaustive()
    }
}

/// An unlocked vault: holds the derived key.
pub struct Vault {
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault(unlocked)")
    }
}

impl Vault {
    /// A new vault for `password`, with a fresh salt and default Argon2id
    /// parameters (19 MiB, 2 passes, 1 lane: OWASP's baseline).
    pub fn create(password: &str) -> Result<(Vault, VaultHeader), VaultError> {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(VaultError::TooShort);
        }
        let mut salt = [0u8; 16];
        random(&mut salt)?;
        let params = argon2::Params::DEFAULT;
        let mut header = VaultHeader {
            salt,
            m_cost: params.m_cost(),
            t_cost: params.t_cost(),
            p_cost: params.p_cost(),
            verifier: Vec::new(),
        };
        let vault = Vault {
            key: derive(password, &header)?,
        };
        header.verifier = vault.seal(VERIFIER_PURPOSE, VERIFIER_PLAINTEXT)?.0;
        Ok((vault, header))
    }

    /// Unlocks with `password`; `WrongPassword` when the verifier does not open.
    pub fn unlock(header: &VaultHeader, password: &str) -> Result<Vault, VaultError> {
        let vault = Vault {
            key: derive(password, header)?,
        };
        match vault.open(VERIFIER_PURPOSE, &Sealed(header.verifier.clone())) {
            Ok(p) if p.as_slice() == VERIFIER_PLAINTEXT => Ok(vault),
            _ => Err(VaultError::WrongPassword),
        }
    }

    /// Seals `plaintext` for `purpose` (bound as associated data, so a secret
    /// copied into another slot does not open).
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let cipher = self.cipher();
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Damaged {
                purpose: purpose.to_string(),
            })?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(Sealed(out))
    }

    /// Seals a string.
    pub fn seal_str(&self, purpose: &str, plaintext: &str) -> Result<Sealed, VaultError> {
        self.seal(purpose, plaintext.as_bytes())
    }

    /// Opens a sealed value; the result is zeroized on drop.
    pub fn open(&self, purpose: &str, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let damaged = || VaultError::Damaged {
            purpose: purpose.to_string(),
        };
        let bytes = &sealed.0;
        if bytes.len() < 1 + NONCE_LEN + 16 || bytes[0] != SEAL_VERSION {
            return Err(damaged());
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[1..1 + NONCE_LEN]);
        self.cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &bytes[1 + NONCE_LEN..],
                    aad: purpose.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| damaged())
    }

    /// Opens a sealed string.
    pub fn open_string(
        &self,
        purpose: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<String>, VaultError> {
        let bytes = self.open(purpose, sealed)?;
        std::str::from_utf8(&bytes)
            .map(|s| Zeroizing::new(s.to_string()))
            .map_err(|_| VaultError::Damaged {
                purpose: purpose.to_string(),
            })
    }

    fn cipher(&self) -> Aes256GcmSiv {
        // A 32-byte key is always the right length for AES-256.
        Aes256GcmSiv::new(&(*self.key).into())
    }
}

fn derive(password: &str, header: &VaultHeader) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let params = argon2::Params::new(header.m_cost, header.t_cost, header.p_cost, Some(32))
        .map_err(|e| VaultError::BadHeader(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password.as_bytes(), &header.salt, key.as_mut())
        .map_err(|e| VaultError::BadHeader(e.to_string()))?;
    Ok(key)
}

fn random(buf: &mut [u8]) -> Result<(), VaultError> {
    getrandom::fill(buf).map_err(|e| VaultError::Random(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_with_the_same_password() {
        let (vault, header) = Vault::create("correct horse").unwrap();
        let sealed = vault.seal_str("db_url", "postgres://u:pw@h/db").unwrap();
        assert!(!sealed.0.windows(2).any(|w| w == b"pw"));
        let again = Vault::unlock(&header, "correct horse").unwrap();
        assert_eq!(
            again.open_string("db_url", &sealed).unwrap().as_str(),
            "postgres://u:pw@h/db"
        );
    }

    #[test]
    fn wrong_password_is_refused() {
        let (_, header) = Vault::create("correct horse").unwrap();
        assert!(matches!(
            Vault::unlock(&header, "wrong horse"),
            Err(VaultError::WrongPassword)
        ));
    }

    #[test]
    fn nonces_are_fresh_and_slots_are_bound() {
        let (vault, _) = Vault::create("correct horse").unwrap();
        let a = vault.seal_str("db_url", "same").unwrap();
        let b = vault.seal_str("db_url", "same").unwrap();
        assert_ne!(a, b);
        assert!(vault.open("service_key", &a).is_err());
        let mut damaged = a.clone();
        let last = damaged.0.len() - 1;
        damaged.0[last] ^= 1;
        assert!(vault.open("db_url", &damaged).is_err());
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(matches!(Vault::create("short"), Err(VaultError::TooShort)));
    }
}
