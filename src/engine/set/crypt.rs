//! Encrypted sets, in age's format (age-encryption.org/v1): each part is
//! compressed, then encrypted, in one streaming pass, so the standard `age`
//! tool opens it (`age -d -i key.txt data.sql.zst.age | zstd -dc`). age's
//! STREAM construction authenticates every 64 KiB chunk and the last one:
//! a flipped byte, a truncated file or reordered chunks do not decrypt.

use crate::engine::EngineError;
use age::secrecy::{ExposeSecret, SecretString};
use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;

/// The scrypt work factor (log2 N) of passphrase-encrypted files: age's
/// own default, about a second here, 256 MiB of memory.
const SCRYPT_LOG_N: u8 = 18;
/// The most a file's work factor may be when opening it (age's CLI limit).
const SCRYPT_MAX_LOG_N: u8 = 22;

/// How a set is encrypted, as its manifest says (readable without the key).
pub use crate::domain::SetEncryption as Encryption;

/// What encrypts a new set.
#[derive(Clone)]
pub enum Sealing {
    /// To these public keys.
    Recipients(Vec<age::x25519::Recipient>),
    /// With this passphrase.
    Passphrase(SecretString),
}

impl Sealing {
    /// Parses `age1...` public keys; the error names the one that is not.
    pub fn to_recipients(keys: &[String]) -> Result<Self, EngineError> {
        if keys.is_empty() {
            return Err(crate::domain::ValidationError::new(
                "encrypt_to",
                "encryption to public keys needs at least one (age1...)",
            )
            .into());
        }
        let parsed = keys
            .iter()
            .map(|k| parse_recipient(k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::Recipients(parsed))
    }

    /// What the manifest says about it.
    pub fn describe(&self) -> Encryption {
        match self {
            Self::Recipients(rs) => Encryption::Recipients {
                recipients: rs.iter().map(|r| r.to_string()).collect(),
            },
            Self::Passphrase(_) => Encryption::Passphrase,
        }
    }

    /// Starts an age file on `out`.
    pub fn wrap<W: Write>(&self, out: W) -> io::Result<age::stream::StreamWriter<W>> {
        let encryptor = match self {
            Self::Recipients(rs) => {
                age::Encryptor::with_recipients(rs.iter().map(|r| r as &dyn age::Recipient))
                    .map_err(|e| io::Error::other(clean(e)))?
            }
            Self::Passphrase(p) => {
                let mut r = age::scrypt::Recipient::new(p.clone());
                r.set_work_factor(SCRYPT_LOG_N);
                age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
                    .map_err(|e| io::Error::other(clean(e)))?
            }
        };
        encryptor.wrap_output(out)
    }
}

/// An `age1...` public key, or an error that says what it should look like.
pub fn parse_recipient(key: &str) -> Result<age::x25519::Recipient, EngineError> {
    key.trim().parse::<age::x25519::Recipient>().map_err(|e| {
        crate::domain::ValidationError::new(
            "encrypt_to",
            format!(
                "\"{}\" is not an age public key ({}): it starts with age1 (make one with \
                 `supabackup key generate` or `age-keygen`)",
                key.trim(),
                clean(e)
            ),
        )
        .into()
    })
}

/// A new identity: (the identity file's text, its public key).
pub fn generate_identity() -> (SecretString, String) {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let text = format!(
        "# created: {} by supabackup\n# public key: {public}\n{}\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        identity.to_string().expose_secret()
    );
    (SecretString::from(text), public)
}

/// What opens encrypted sets: identities (from identity files or the vault)
/// and passphrases. Empty keys open nothing.
#[derive(Clone, Default)]
pub struct Keys {
    identities: Vec<Arc<dyn age::Identity + Send + Sync>>,
    passphrases: Vec<SecretString>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keys({} identities, {} passphrases)",
            self.identities.len(),
            self.passphrases.len()
        )
    }
}

impl Keys {
    /// No keys.
    pub fn none() -> Self {
        Self::default()
    }

    /// True when there is nothing to try.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty() && self.passphrases.is_empty()
    }

    /// Adds the identities of an identity file's text (`AGE-SECRET-KEY-1...`
    /// lines, `#` comments; several keys allowed).
    pub fn add_identity_text(&mut self, text: &str, what: &str) -> Result<(), EngineError> {
        let file = age::IdentityFile::from_buffer(text.as_bytes()).map_err(|e| {
            EngineError::Failed(format!(
                "{what} is not an age identity file ({}): it holds AGE-SECRET-KEY-1... lines",
                clean(e)
            ))
        })?;
        let ids = file
            .into_identities()
            .map_err(|e| EngineError::Failed(format!("{what}: {}", clean(e))))?;
        if ids.is_empty() {
            return Err(EngineError::Failed(format!(
                "{what} holds no age identity (AGE-SECRET-KEY-1... line)"
            )));
        }
        self.identities.extend(ids.into_iter().map(Arc::from));
        Ok(())
    }

    /// Adds the identities of an identity file.
    pub fn add_identity_file(&mut self, path: &std::path::Path) -> Result<(), EngineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::io("cannot read the identity file", path, e))?;
        self.add_identity_text(&text, &path.display().to_string())
    }

    /// Adds a passphrase.
    pub fn add_passphrase(&mut self, passphrase: SecretString) {
        self.passphrases.push(passphrase);
    }

    /// Opens an age file: a reader of its plaintext, which fails on any
    /// chunk that does not authenticate (so read it to the end before
    /// trusting it). `what` names the file in errors.
    pub fn open<R: BufRead>(
        &self,
        input: R,
        what: &str,
    ) -> Result<age::stream::StreamReader<R>, EngineError> {
        let decryptor = age::Decryptor::new_buffered(input).map_err(|e| {
            EngineError::Failed(format!(
                "{what} is not a readable age file ({}): the backup is damaged",
                clean(e)
            ))
        })?;
        let scrypt = decryptor.is_scrypt();
        let scrypt_ids: Vec<age::scrypt::Identity> = self
            .passphrases
            .iter()
            .map(|p| {
                let mut id = age::scrypt::Identity::new(p.clone());
                id.set_max_work_factor(SCRYPT_MAX_LOG_N);
                id
            })
            .collect();
        let tried: Vec<&dyn age::Identity> = if scrypt {
            scrypt_ids.iter().map(|i| i as &dyn age::Identity).collect()
        } else {
            self.identities
                .iter()
                .map(|i| i.as_ref() as &dyn age::Identity)
                .collect()
        };
        if tried.is_empty() {
            return Err(EngineError::Failed(if scrypt {
                format!(
                    "{what} is encrypted with a passphrase: give it (SUPABACKUP_BACKUP_PASSPHRASE, \
                     or keep it in the vault with `supabackup project edit P --encrypt-passphrase`)"
                )
            } else {
                format!(
                    "{what} is encrypted to an age key: give its identity file with --identity \
                     FILE (or keep it in the vault with `supabackup project edit P \
                     --store-identity FILE`)"
                )
            }));
        }
        decryptor.decrypt(tried.into_iter()).map_err(|e| {
            let why = match e {
                age::DecryptError::NoMatchingKeys => {
                    "none of the identities given is one it was encrypted to: wrong key".to_string()
                }
                age::DecryptError::DecryptionFailed if scrypt => "wrong passphrase".to_string(),
                other => clean(other),
            };
            EngineError::Failed(format!("{what} cannot be decrypted: {why}"))
        })
    }
}

/// A reader that turns decryption failures inside an age body into errors
/// that say so (age's own messages are terse).
pub struct Decrypted<R: Read> {
    inner: R,
    what: String,
}

impl<R: Read> Decrypted<R> {
    /// Wraps `inner`, naming the file as `what`.
    pub fn new(inner: R, what: &str) -> Self {
        Self {
            inner,
            what: what.to_string(),
        }
    }
}

impl<R: Read> Read for Decrypted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let why = match e.kind() {
                io::ErrorKind::UnexpectedEof => "it is truncated",
                io::ErrorKind::InvalidData => {
                    "a chunk does not authenticate (a changed or damaged byte)"
                }
                _ => "it cannot be read",
            };
            io::Error::new(
                e.kind(),
                format!("{} cannot be decrypted: {why} ({})", self.what, clean(&e)),
            )
        })
    }
}

/// age's messages come through a localisation layer that wraps arguments
/// in invisible bidi marks: drop them.
pub fn clean(e: impl std::fmt::Display) -> String {
    e.to_string()
        .chars()
        .filter(|c| !matches!(c, '\u{2066}'..='\u{2069}'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(sealing: &Sealing, data: &[u8]) -> Vec<u8> {
        let mut w = sealing.wrap(Vec::new()).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn open(keys: &Keys, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let r = keys.open(bytes, "part").map_err(|e| e.to_string())?;
        Decrypted::new(r, "part")
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn recipients_and_identities_round_trip_and_damage_is_caught() {
        let (text, public) = generate_identity();
        let (other, _) = generate_identity();
        let sealing = Sealing::to_recipients(std::slice::from_ref(&public)).unwrap();
        assert_eq!(
            sealing.describe(),
            Encryption::Recipients {
                recipients: vec![public]
            }
        );
        let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let sealed = seal(&sealing, &data);
        let mut keys = Keys::none();
        keys.add_identity_text(text.expose_secret(), "key").unwrap();
        assert_eq!(open(&keys, &sealed).unwrap(), data);

        let mut wrong = Keys::none();
        wrong
            .add_identity_text(other.expose_secret(), "other")
            .unwrap();
        assert!(open(&wrong, &sealed).unwrap_err().contains("wrong key"));
        assert!(
            open(&Keys::none(), &sealed)
                .unwrap_err()
                .contains("--identity")
        );

        let mut flipped = sealed.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 1;
        assert!(open(&keys, &flipped).unwrap_err().contains("authenticate"));
        // Cut at a chunk boundary (64 KiB + tag) and mid-chunk: both caught.
        let header = sealed.len() - data.len() - 16 * data.len().div_ceil(65536);
        for cut in [header + 65536 + 16, sealed.len() - 100] {
            let err = open(&keys, &sealed[..cut]).unwrap_err();
            assert!(err.contains("cannot be decrypted"), "{cut}: {err}");
        }
        assert!(
            open(&keys, b"not an age file at all")
                .unwrap_err()
                .contains("not a readable age file")
        );
        assert!(Sealing::to_recipients(&["age1nope".into()]).is_err());
    }

    #[test]
    fn passphrases_round_trip_and_a_wrong_one_says_so() {
        let sealing = Sealing::Passphrase(SecretString::from("correct horse".to_string()));
        assert_eq!(sealing.describe(), Encryption::Passphrase);
        let sealed = seal(&sealing, b"rows");
        let mut keys = Keys::none();
        keys.add_passphrase(SecretString::from("correct horse".to_string()));
        assert_eq!(open(&keys, &sealed).unwrap(), b"rows");
        let mut wrong = Keys::none();
        wrong.add_passphrase(SecretString::from("wrong".to_string()));
        assert!(
            open(&wrong, &sealed)
                .unwrap_err()
                .contains("wrong passphrase")
        );
        assert!(
            open(&Keys::none(), &sealed)
                .unwrap_err()
                .contains("passphrase")
        );
    }
}
