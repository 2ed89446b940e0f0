//! Checking a set: manifest, checksums, and a full decompression of every
//! part, in one pass per file. Names the damaged part.

use crate::domain::{BackupId, PartInfo};
use crate::engine::Progress;
use crate::engine::set::codec::{HashReader, sha256_file, sql_reader};
use crate::engine::set::crypt::Keys;
use crate::engine::set::manifest::{Details, FileInfo, MANIFEST, Manifest, read_sums};
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One file's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct PartCheck {
    /// The file.
    pub file: String,
    /// Intact and decompresses.
    pub ok: bool,
    /// What is wrong.
    pub problem: Option<String>,
}

/// The result of a verify.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The backup's id, when known.
    pub backup_id: Option<BackupId>,
    /// The folder.
    pub path: PathBuf,
    /// Every part.
    pub parts: Vec<PartCheck>,
    /// Problems outside the parts (manifest, SHA256SUMS).
    pub problems: Vec<String>,
    /// Every part was also decrypted and decompressed to its end (false for
    /// an encrypted set verified without its key: checksums only).
    pub contents_checked: bool,
    /// The Storage files the set refers to, when it has them (their
    /// problems are also among `parts`, one per damaged file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<crate::engine::storage::StorageCheck>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.parts.iter().all(|p| p.ok)
    }

    /// True when all that is wrong is that the key given does not open the
    /// set (its checksums are checked first, and matched): the backup is
    /// not damaged, the key is wrong.
    pub fn wrong_key_only(&self) -> bool {
        only_wrong_keys(
            self.problems
                .iter()
                .chain(self.parts.iter().filter_map(|p| p.problem.as_ref())),
        )
    }
}

/// True when there are problems and every one is a key that does not open
/// its file.
fn only_wrong_keys<'a>(problems: impl Iterator<Item = &'a String>) -> bool {
    let mut problems = problems.peekable();
    problems.peek().is_some()
        && problems.all(|p| p.ends_with(": wrong key") || p.ends_with(": wrong passphrase"))
}

/// How a set's files are read: whether they are encrypted, and with which
/// keys (none given: checksums only).
#[derive(Clone, Copy)]
pub(crate) struct Reading<'a> {
    pub(crate) codec: crate::domain::Codec,
    pub(crate) encrypted: bool,
    pub(crate) keys: &'a Keys,
}

impl Reading<'_> {
    /// True when the contents can be read (not encrypted, or keys given).
    fn can_open(&self) -> bool {
        !self.encrypted || !self.keys.is_empty()
    }
}

/// Checks one part file against the manifest; `done` bytes of the earlier
/// parts count towards the progress.
fn check_part(
    dir: &Path,
    part: &PartInfo,
    reading: Reading<'_>,
    progress: &Progress,
    done: u64,
) -> Option<String> {
    let path = dir.join(&part.file);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => return Some(format!("{} is missing or unreadable: {e}", part.file)),
    };
    let (hashing, tally) = HashReader::new(file);
    let mut raw = 0u64;
    let mut decode_error = None;
    let reader = if reading.can_open() {
        sql_reader(
            hashing,
            reading.codec,
            reading.encrypted.then_some(reading.keys),
            &part.file,
        )
    } else {
        Err(crate::engine::EngineError::Cancelled)
    };
    match reader {
        Ok(mut r) => {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => raw += n as u64,
                    Err(e) => {
                        decode_error = Some(e.to_string());
                        break;
                    }
                }
                let read = tally.lock().map(|t| t.1).unwrap_or(0);
                progress.set_read(done + read);
            }
        }
        // Encrypted and no key: the checksums are all there is to check.
        Err(crate::engine::EngineError::Cancelled) => {}
        Err(e) => decode_error = Some(e.to_string()),
    }
    // Hash the whole file, including anything after the compressed stream.
    let (size, sha) = match sha_and_size(&path, &tally) {
        Ok(v) => v,
        Err(e) => return Some(format!("{} cannot be read: {e}", part.file)),
    };
    if size != part.bytes {
        return Some(format!(
            "{} is {size} bytes but the manifest says {}: it was truncated or changed",
            part.file, part.bytes
        ));
    }
    if sha != part.sha256 {
        return Some(format!(
            "{} is damaged: its SHA-256 does not match the manifest",
            part.file
        ));
    }
    if let Some(e) = decode_error {
        return Some(if reading.encrypted {
            e
        } else {
            format!("{} cannot be decompressed: {e}", part.file)
        });
    }
    if reading.can_open() && part.raw_bytes != 0 && raw != part.raw_bytes {
        return Some(format!(
            "{} decompresses to {raw} bytes, expected {}",
            part.file, part.raw_bytes
        ));
    }
    None
}

/// The file's size and SHA-256: from the tally when the decoder read it all,
/// else by reading it again.
fn sha_and_size(
    path: &Path,
    tally: &Arc<std::sync::Mutex<(sha2::Sha256, u64)>>,
) -> std::io::Result<(u64, String)> {
    use sha2::Digest;
    let len = std::fs::metadata(path)?.len();
    let guard = tally
        .lock()
        .map_err(|_| std::io::Error::other("poisoned"))?;
    if guard.1 == len {
        return Ok((len, hex::encode(guard.0.clone().finalize())));
    }
    drop(guard);
    sha256_file(path)
}

/// Checks the details file: its size and checksum, and that it reads back
/// (decrypted when the set is encrypted and keys are given).
fn check_details(dir: &Path, info: &FileInfo, reading: Reading<'_>) -> Option<String> {
    let path = dir.join(&info.file);
    let (size, sha) = match sha256_file(&path) {
        Ok(v) => v,
        Err(e) => return Some(format!("{} is missing or unreadable: {e}", info.file)),
    };
    if size != info.bytes || sha != info.sha256 {
        return Some(format!(
            "{} is damaged: its size or SHA-256 does not match the manifest",
            info.file
        ));
    }
    if reading.can_open()
        && let Err(e) = read_details(dir, info, reading.encrypted.then_some(reading.keys))
    {
        return Some(e.to_string());
    }
    None
}

/// Reads the details file (decrypting it with `keys` when given).
pub(crate) fn read_details(
    dir: &Path,
    info: &FileInfo,
    keys: Option<&Keys>,
) -> Result<Details, crate::engine::EngineError> {
    let path = dir.join(&info.file);
    let file = std::fs::File::open(&path).map_err(|e| {
        crate::engine::EngineError::io("cannot read the backup's details", &path, e)
    })?;
    let mut bytes = Vec::new();
    sql_reader(file, crate::domain::Codec::None, keys, &info.file)?
        .read_to_end(&mut bytes)
        .map_err(|e| crate::engine::EngineError::Failed(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        crate::engine::EngineError::Failed(format!(
            "{} is damaged ({e}): the backup cannot be trusted",
            info.file
        ))
    })
}

/// Verifies the backup folder `dir`: checksums always; the contents
/// (decrypted with `keys` when encrypted) when they can be read; the
/// Storage files it refers to in the store beside it. Blocking.
pub fn verify_dir(
    dir: &Path,
    expected_manifest_sha: Option<&str>,
    keys: &Keys,
    progress: &Progress,
) -> VerifyReport {
    verify_dir_with(dir, None, expected_manifest_sha, keys, progress)
}

/// [`verify_dir`], with the Storage files looked for in `objects` (a set
/// fetched from a destination) instead of beside the set. Blocking.
pub fn verify_dir_with(
    dir: &Path,
    objects: Option<crate::engine::storage::Store>,
    expected_manifest_sha: Option<&str>,
    keys: &Keys,
    progress: &Progress,
) -> VerifyReport {
    let mut report = VerifyReport {
        backup_id: None,
        path: dir.to_path_buf(),
        parts: Vec::new(),
        problems: Vec::new(),
        contents_checked: false,
        storage: None,
    };
    let (manifest, sha) = match Manifest::read_with_sha(dir) {
        Ok(m) => m,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    report.backup_id = Some(manifest.id);
    if expected_manifest_sha.is_some_and(|expected| sha != expected) {
        report.problems.push(
            "manifest.json does not match the checksum the catalog recorded: it was changed or \
             damaged"
                .into(),
        );
    }
    match read_sums(dir) {
        Ok(sums) => {
            let listed = |file: &str| sums.iter().find(|(_, f)| f == file).map(|(s, _)| s.clone());
            if listed(MANIFEST).as_deref() != Some(sha.as_str()) {
                report
                    .problems
                    .push("SHA256SUMS does not match manifest.json".into());
            }
            let files = manifest
                .parts
                .iter()
                .map(|p| (&p.file, &p.sha256))
                .chain(manifest.files_beside_parts().map(|d| (&d.file, &d.sha256)));
            for (file, sha) in files {
                if listed(file).as_deref() != Some(sha.as_str()) {
                    report.problems.push(format!(
                        "SHA256SUMS and manifest.json disagree about {file}"
                    ));
                }
            }
        }
        Err(e) => report.problems.push(e.to_string()),
    }
    let reading = Reading {
        codec: manifest.compression.codec,
        encrypted: manifest.encryption.is_some(),
        keys,
    };
    report.contents_checked = reading.can_open();
    if let Some(info) = &manifest.details {
        let problem = check_details(dir, info, reading);
        report.parts.push(PartCheck {
            file: info.file.clone(),
            ok: problem.is_none(),
            problem,
        });
    }
    progress.set_total(manifest.parts.iter().map(|p| p.bytes).sum());
    let mut done = 0;
    for part in &manifest.parts {
        progress.set_current(format!("verifying {}", part.file));
        let problem = check_part(dir, part, reading, progress, done);
        done += part.bytes;
        progress.set_read(done);
        report.parts.push(PartCheck {
            file: part.file.clone(),
            ok: problem.is_none(),
            problem,
        });
    }
    check_storage(dir, objects, &manifest, reading, progress, &mut report);
    report
}

/// Checks the Storage index, `objects.txt` and every stored file they
/// refer to (see [`crate::engine::storage::check_objects`]).
fn check_storage(
    dir: &Path,
    store: Option<crate::engine::storage::Store>,
    manifest: &Manifest,
    reading: Reading<'_>,
    progress: &Progress,
    report: &mut VerifyReport,
) {
    for info in manifest.storage.iter().chain(manifest.objects.iter()) {
        let path = dir.join(&info.file);
        let problem = match sha256_file(&path) {
            Err(e) => Some(format!("{} is missing or unreadable: {e}", info.file)),
            Ok((size, sha)) if size != info.bytes || sha != info.sha256 => Some(format!(
                "{} is damaged: its size or SHA-256 does not match the manifest",
                info.file
            )),
            Ok(_) => None,
        };
        report.parts.push(PartCheck {
            file: info.file.clone(),
            ok: problem.is_none(),
            problem,
        });
    }
    let Some(objects) = &manifest.objects else {
        return;
    };
    let store = store.unwrap_or_else(|| crate::engine::storage::store_for_set(dir));
    let keys = if reading.encrypted {
        reading.keys.clone()
    } else {
        Keys::none()
    };
    let found = crate::engine::storage::check_objects(
        dir,
        &store,
        objects,
        manifest.storage.as_ref(),
        &keys,
        progress,
    );
    for p in &found.problems {
        report.parts.push(PartCheck {
            file: crate::engine::storage::OBJECTS_DIR.to_string(),
            ok: false,
            problem: Some(p.clone()),
        });
    }
    if reading.encrypted && !found.contents_checked {
        report.contents_checked = false;
    }
    report.storage = Some(found);
}

/// The problems in one line.
pub fn describe(report: &VerifyReport) -> String {
    report
        .problems
        .iter()
        .cloned()
        .chain(report.parts.iter().filter_map(|p| p.problem.clone()))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only_wrong(problems: &[&str]) -> bool {
        let owned: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        only_wrong_keys(owned.iter())
    }

    #[test]
    fn a_wrong_key_is_told_apart_from_damage() {
        let wrong = "data.sql.zst.age cannot be decrypted: none of the identities given is one \
                     it was encrypted to: wrong key";
        assert!(only_wrong(&[wrong, wrong]));
        assert!(!only_wrong(&[
            wrong,
            "pre-data.sql.zst.age is damaged: its SHA-256 does not match the manifest"
        ]));
        assert!(!only_wrong(&[]), "nothing wrong");
    }
}
