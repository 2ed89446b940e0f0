//! Checking a set: manifest, checksums, and a full decompression of every
//! part, in one pass per file. Names the damaged part.

use crate::domain::{BackupId, PartInfo};
use crate::engine::Progress;
use crate::engine::set::codec::{HashReader, decoder, sha256_file};
use crate::engine::set::manifest::{MANIFEST, Manifest, read_sums};
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
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.parts.iter().all(|p| p.ok)
    }
}

/// Checks one part file against the manifest; `done` bytes of the earlier
/// parts count towards the progress.
fn check_part(
    dir: &Path,
    part: &PartInfo,
    codec: crate::domain::Codec,
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
    match decoder(hashing, codec) {
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
        return Some(format!("{} cannot be decompressed: {e}", part.file));
    }
    if part.raw_bytes != 0 && raw != part.raw_bytes {
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

/// Verifies the backup folder `dir`. Blocking.
pub fn verify_dir(
    dir: &Path,
    expected_manifest_sha: Option<&str>,
    progress: &Progress,
) -> VerifyReport {
    let mut report = VerifyReport {
        backup_id: None,
        path: dir.to_path_buf(),
        parts: Vec::new(),
        problems: Vec::new(),
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
            for p in &manifest.parts {
                if listed(&p.file).as_deref() != Some(p.sha256.as_str()) {
                    report.problems.push(format!(
                        "SHA256SUMS and manifest.json disagree about {}",
                        p.file
                    ));
                }
            }
        }
        Err(e) => report.problems.push(e.to_string()),
    }
    progress.set_total(manifest.parts.iter().map(|p| p.bytes).sum());
    let mut done = 0;
    for part in &manifest.parts {
        progress.set_current(format!("verifying {}", part.file));
        let problem = check_part(dir, part, manifest.compression.codec, progress, done);
        done += part.bytes;
        progress.set_read(done);
        report.parts.push(PartCheck {
            file: part.file.clone(),
            ok: problem.is_none(),
            problem,
        });
    }
    report
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
