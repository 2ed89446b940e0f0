//! The content-addressed store of a project's Storage files, beside its
//! backup sets: `<backup root>/<project>/objects/<first 2 hex>/<sha256><suffix>`,
//! the SHA-256 of the file's content as its name, `.zst` when compressing
//! helped, `.age` when the project encrypts (compressed first, as parts
//! are). Written under a temporary name in `objects/.tmp/`, fsynced, then
//! renamed: a stored file is whole or absent. A content already stored in
//! the same form (encrypted or not) is never stored twice.

use crate::domain::{Codec, Compression};
use crate::engine::EngineError;
use crate::engine::set::codec::{PartWriter, private_dir, sha256_file, sql_reader};
use crate::engine::set::{Keys, Sealing};
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The store's folder name, beside the sets of a project.
pub const OBJECTS_DIR: &str = "objects";
/// Temporary files while a file is stored.
const TMP_DIR: &str = ".tmp";
/// The compression level stored files use (zstd).
const LEVEL: u32 = 3;
/// How much of a file is compressed to judge whether compressing it helps.
const SAMPLE: usize = 128 * 1024;

/// A stored file's name split: (content SHA-256, compressed, encrypted).
pub fn parse_stored(name: &str) -> Option<(&str, bool, bool)> {
    let (dir, file) = name.split_once('/')?;
    let (rest, encrypted) = match file.strip_suffix(".age") {
        Some(r) => (r, true),
        None => (file, false),
    };
    let (sha, compressed) = match rest.strip_suffix(".zst") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    (sha.len() == 64 && hex(sha) && dir.len() == 2 && sha.starts_with(dir))
        .then_some((sha, compressed, encrypted))
}

/// A file put in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its name in the store (`ab/<sha256>.zst`).
    pub name: String,
    /// Its size on disk.
    pub disk_bytes: u64,
    /// SHA-256 of its bytes on disk (what `objects.txt` lists).
    pub disk_sha256: String,
    /// This call stored it (it was not there yet).
    pub new: bool,
}

/// A project's store.
pub struct Store {
    dir: PathBuf,
    /// SHA-256 of the bytes on disk of stored files already known (from
    /// the sets' `objects.txt` and the journal), so they are not read again.
    known: Mutex<HashMap<String, String>>,
    /// Serialises "is it there? then rename" between concurrent puts.
    placing: Mutex<()>,
    /// Folders that got new files (fsynced before a set refers to them).
    touched: Mutex<BTreeSet<PathBuf>>,
}

impl Store {
    /// The store of the project whose sets are in `project_dir`.
    pub fn new(project_dir: &Path) -> Self {
        Self::at(project_dir.join(OBJECTS_DIR))
    }

    /// The store in the folder `dir` itself.
    pub fn at(dir: PathBuf) -> Self {
        Self {
            dir,
            known: Mutex::default(),
            placing: Mutex::default(),
            touched: Mutex::default(),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a stored file is.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// True when `name` is a stored file here.
    pub fn has(&self, name: &str) -> bool {
        parse_stored(name).is_some() && self.path(name).is_file()
    }

    /// Creates the folders (owner-only) and empties the temporary one.
    pub fn prepare(&self) -> io::Result<()> {
        private_dir(&self.dir)?;
        let tmp = self.dir.join(TMP_DIR);
        if tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        private_dir(&tmp)
    }

    /// A fresh temporary file name (not created).
    pub fn tmp_file(&self) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(TMP_DIR)
            .join(format!("{}-{n}", std::process::id()))
    }

    /// Remembers the SHA-256 of a stored file's bytes on disk.
    pub fn remember(&self, name: &str, disk_sha256: &str) {
        if let Ok(mut k) = self.known.lock() {
            k.insert(name.to_string(), disk_sha256.to_string());
        }
    }

    /// Size and SHA-256 of a stored file's bytes on disk (hashed once).
    pub fn disk_info(&self, name: &str) -> io::Result<(u64, String)> {
        let path = self.path(name);
        if let Some(sha) = self.known.lock().ok().and_then(|k| k.get(name).cloned()) {
            return Ok((std::fs::metadata(&path)?.len(), sha));
        }
        let v = sha256_file(&path)?;
        self.remember(name, &v.1);
        Ok(v)
    }

    /// The stored file holding content `sha256` in the wanted form, if any.
    pub fn existing(&self, sha256: &str, encrypted: bool) -> Option<String> {
        let age = if encrypted { ".age" } else { "" };
        [".zst", ""]
            .iter()
            .map(|z| format!("{}/{sha256}{z}{age}", &sha256[..2]))
            .find(|name| self.path(name).is_file())
    }

    /// Stores the raw file `raw` (whose content's SHA-256 is `sha256`),
    /// compressed when that helps and encrypted with `sealing`; `raw` is
    /// removed. A content already stored in that form is not stored again.
    /// Blocking.
    pub fn put(&self, raw: &Path, sha256: &str, sealing: Option<&Sealing>) -> io::Result<Stored> {
        let encrypted = sealing.is_some();
        if let Some(name) = self.existing(sha256, encrypted) {
            let _ = std::fs::remove_file(raw);
            let (disk_bytes, disk_sha256) = self.disk_info(&name)?;
            return Ok(Stored {
                name,
                disk_bytes,
                disk_sha256,
                new: false,
            });
        }
        let compress = worth_compressing(raw)?;
        let compression = if compress {
            Compression::new(Codec::Zstd, Some(LEVEL)).map_err(io::Error::other)?
        } else {
            Compression::new(Codec::None, None).map_err(io::Error::other)?
        };
        let name = format!(
            "{}/{sha256}{}{}",
            &sha256[..2],
            if compress { ".zst" } else { "" },
            if encrypted { ".age" } else { "" }
        );
        let tmp = self.tmp_file();
        let written = (|| {
            let mut w = PartWriter::create_with(&tmp, compression, sealing, 1)?;
            let mut input = std::fs::File::open(raw)?;
            std::io::copy(&mut input, &mut w)?;
            w.flush()?;
            w.finish()
        })();
        let (disk_bytes, disk_sha256) = match written {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let _ = std::fs::remove_file(raw);
        let final_path = self.path(&name);
        let placed = {
            let _one = self
                .placing
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            if let Some(other) = self.existing(sha256, encrypted) {
                // Stored meanwhile by another download of the same content.
                let _ = std::fs::remove_file(&tmp);
                Err(other)
            } else {
                let parent = final_path.parent().unwrap_or(&self.dir).to_path_buf();
                private_dir(&parent)?;
                std::fs::rename(&tmp, &final_path)?;
                if let Ok(mut t) = self.touched.lock() {
                    t.insert(parent);
                }
                Ok(())
            }
        };
        match placed {
            Ok(()) => {
                self.remember(&name, &disk_sha256);
                Ok(Stored {
                    name,
                    disk_bytes,
                    disk_sha256,
                    new: true,
                })
            }
            Err(other) => {
                let (disk_bytes, disk_sha256) = self.disk_info(&other)?;
                Ok(Stored {
                    name: other,
                    disk_bytes,
                    disk_sha256,
                    new: false,
                })
            }
        }
    }

    /// Fsyncs the folders that got new files, and the store itself.
    pub fn sync(&self) -> Result<(), EngineError> {
        let dirs: Vec<PathBuf> = self
            .touched
            .lock()
            .map(|mut t| std::mem::take(&mut *t).into_iter().collect())
            .unwrap_or_default();
        for d in dirs {
            crate::engine::set::sync_dir(&d)?;
        }
        if self.dir.is_dir() {
            crate::engine::set::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// A reader of a stored file's content: decrypted (with `keys`, which
    /// it then needs) and decompressed as read. `what` names it in errors.
    pub fn open(&self, name: &str, keys: &Keys) -> Result<Box<dyn Read + Send>, EngineError> {
        let (_, compressed, encrypted) = parse_stored(name).ok_or_else(|| {
            EngineError::Failed(format!("\"{name}\" is not the name of a stored file"))
        })?;
        let path = self.path(name);
        let file = std::fs::File::open(&path)
            .map_err(|e| EngineError::io("cannot open the stored file", &path, e))?;
        let codec = if compressed { Codec::Zstd } else { Codec::None };
        let what = format!("{OBJECTS_DIR}/{name}");
        sql_reader(file, codec, encrypted.then_some(keys), &what)
    }

    /// Decodes a stored file into `dest` (created owner-only), checking
    /// that its content's SHA-256 is its name. Blocking.
    pub fn extract(&self, name: &str, keys: &Keys, dest: &Path) -> Result<u64, EngineError> {
        use sha2::Digest;
        let (sha, _, _) = parse_stored(name).ok_or_else(|| {
            EngineError::Failed(format!("\"{name}\" is not the name of a stored file"))
        })?;
        let mut reader = self.open(name, keys)?;
        let mut out = crate::engine::set::codec::private_file(dest)
            .map_err(|e| EngineError::io("cannot create", dest, e))?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(EngineError::Failed(format!(
                        "{OBJECTS_DIR}/{name} cannot be read back: {e}"
                    )));
                }
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| EngineError::io("cannot write", dest, e))?;
            total += n as u64;
        }
        out.flush()
            .map_err(|e| EngineError::io("cannot write", dest, e))?;
        if hex::encode(hasher.finalize()) != sha {
            return Err(EngineError::Failed(format!(
                "{OBJECTS_DIR}/{name} is damaged: its content no longer has the SHA-256 it was \
                 stored under"
            )));
        }
        Ok(total)
    }
}

/// True when zstd makes the start of the file at least 10% smaller.
fn worth_compressing(path: &Path) -> io::Result<bool> {
    let mut sample = Vec::with_capacity(SAMPLE);
    std::fs::File::open(path)?
        .take(SAMPLE as u64)
        .read_to_end(&mut sample)?;
    if sample.len() < 64 {
        return Ok(false);
    }
    let packed = zstd::bulk::compress(&sample, LEVEL as i32)?;
    Ok(packed.len() * 10 < sample.len() * 9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    fn raw(dir: &Path, n: usize, bytes: &[u8]) -> (PathBuf, String) {
        let p = dir.join(format!("raw{n}"));
        std::fs::write(&p, bytes).unwrap();
        (p, hex::encode(sha2::Sha256::digest(bytes)))
    }

    #[test]
    fn files_are_stored_once_compressed_when_it_helps_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        store.prepare().unwrap();
        let text = "hello storage\n".repeat(10_000);
        let (p, sha) = raw(tmp.path(), 1, text.as_bytes());
        let s = store.put(&p, &sha, None).unwrap();
        assert!(s.new && s.name.ends_with(".zst"), "{s:?}");
        assert!(s.disk_bytes < text.len() as u64 / 10);
        assert!(!p.exists(), "the raw file is removed");
        assert_eq!(parse_stored(&s.name), Some((sha.as_str(), true, false)));
        // Stored again: the same file, nothing new.
        let (p, _) = raw(tmp.path(), 2, text.as_bytes());
        let again = store.put(&p, &sha, None).unwrap();
        assert_eq!((again.name.as_str(), again.new), (s.name.as_str(), false));
        assert_eq!(again.disk_sha256, s.disk_sha256);
        let back = tmp.path().join("back");
        assert_eq!(
            store.extract(&s.name, &Keys::none(), &back).unwrap(),
            text.len() as u64
        );
        assert_eq!(std::fs::read(&back).unwrap(), text.as_bytes());

        // Random bytes do not compress: stored as they are.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..50_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let (p, sha) = raw(tmp.path(), 3, &noise);
        let s = store.put(&p, &sha, None).unwrap();
        assert!(!s.name.ends_with(".zst"), "{s:?}");
        assert_eq!(s.disk_sha256, sha, "a raw file's bytes are its content");

        // A damaged stored file is caught when read back.
        let mut bytes = std::fs::read(store.path(&s.name)).unwrap();
        bytes[100] ^= 1;
        std::fs::write(store.path(&s.name), bytes).unwrap();
        let e = store
            .extract(&s.name, &Keys::none(), &tmp.path().join("back2"))
            .unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");

        // Empty files are stored too.
        let (p, sha) = raw(tmp.path(), 4, b"");
        let s = store.put(&p, &sha, None).unwrap();
        assert_eq!(s.disk_bytes, 0);
        store.sync().unwrap();
    }

    #[test]
    fn encrypted_files_need_the_key() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        store.prepare().unwrap();
        let (identity, public) = crate::engine::set::crypt::generate_identity();
        let sealing = Sealing::to_recipients(&[public]).unwrap();
        let (p, sha) = raw(tmp.path(), 1, b"secret contents of a file");
        let s = store.put(&p, &sha, Some(&sealing)).unwrap();
        assert!(s.name.ends_with(".age"), "{s:?}");
        // Not the same form as a plain copy: a plain put stores another.
        let (p, _) = raw(tmp.path(), 2, b"secret contents of a file");
        let plain = store.put(&p, &sha, None).unwrap();
        assert!(plain.new && !plain.name.ends_with(".age"));
        let e = store
            .extract(&s.name, &Keys::none(), &tmp.path().join("x"))
            .unwrap_err();
        assert!(e.to_string().contains("--identity"), "{e}");
        let mut keys = Keys::none();
        use age::secrecy::ExposeSecret;
        keys.add_identity_text(identity.expose_secret(), "id")
            .unwrap();
        store
            .extract(&s.name, &keys, &tmp.path().join("y"))
            .unwrap();
        assert_eq!(
            std::fs::read(tmp.path().join("y")).unwrap(),
            b"secret contents of a file"
        );
    }
}
