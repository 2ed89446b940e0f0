//! Verifying the Storage files a set refers to: every stored file in its
//! `objects.txt` exists and has the bytes listed there; with the key (or
//! unencrypted) each one also decodes, and its content has the SHA-256 it
//! is named by.

use super::index::{OBJECTS_LIST, read_index, read_objects_list};
use super::store::{OBJECTS_DIR, Store, parse_stored};
use crate::engine::Progress;
use crate::engine::set::codec::HashReader;
use crate::engine::set::{FileInfo, Keys};
use serde::Serialize;
use sha2::Digest;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// What the check of a set's stored files found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StorageCheck {
    /// Stored files checked.
    pub files: u64,
    /// Their bytes on disk.
    pub bytes: u64,
    /// Each was also decoded and its content hashed (false for an
    /// encrypted set without its key: their bytes only).
    pub contents_checked: bool,
    /// What is wrong, one line per damaged or missing file.
    pub problems: Vec<String>,
}

/// Checks the stored files the set in `set_dir` refers to (`objects`: its
/// `objects.txt`; `index`: its Storage index, read to name the objects of
/// a damaged file when it can be), in `store`. Blocking.
pub fn check_objects(
    set_dir: &Path,
    store: &Store,
    objects: &FileInfo,
    index: Option<&FileInfo>,
    keys: &Keys,
    progress: &Progress,
) -> StorageCheck {
    let mut report = StorageCheck::default();
    let list = match read_objects_list(&set_dir.join(&objects.file)) {
        Ok(l) => l,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    // Which objects each stored file holds, to name them in problems.
    let mut users: HashMap<String, Vec<String>> = HashMap::new();
    let can_read_index = index.is_some_and(|i| !i.file.ends_with(".age") || !keys.is_empty());
    if let Some(info) = index.filter(|_| can_read_index) {
        match read_index(set_dir, info, keys) {
            Ok(ix) => {
                for o in ix.objects {
                    if !list.iter().any(|(n, _)| *n == o.stored) {
                        report.problems.push(format!(
                            "{}/{} is in the index but its stored file {} is not in {OBJECTS_LIST}",
                            o.bucket, o.name, o.stored
                        ));
                    }
                    users
                        .entry(o.stored)
                        .or_default()
                        .push(format!("{}/{}", o.bucket, o.name));
                }
            }
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    let total: u64 = list
        .iter()
        .filter_map(|(n, _)| std::fs::metadata(store.path(n)).ok())
        .map(|m| m.len())
        .sum();
    progress.set_total(progress.total() + total);
    report.contents_checked = true;
    let named = |name: &str| match users.get(name) {
        Some(u) if !u.is_empty() => format!(
            "{OBJECTS_DIR}/{name} (the file of {}{})",
            u[..u.len().min(3)].join(", "),
            if u.len() > 3 { ", ..." } else { "" }
        ),
        _ => format!("{OBJECTS_DIR}/{name}"),
    };
    for (name, disk_sha) in &list {
        progress.set_current(format!("verifying Storage files: {}", report.files + 1));
        report.files += 1;
        let Some((sha, _, encrypted)) = parse_stored(name) else {
            continue;
        };
        let path = store.path(name);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                report
                    .problems
                    .push(format!("{} is missing or unreadable: {e}", named(name)));
                continue;
            }
        };
        let open = !encrypted || !keys.is_empty();
        if !open {
            report.contents_checked = false;
        }
        let (hashing, tally) = HashReader::new(file);
        let mut content = sha2::Sha256::new();
        let mut decode_error = None;
        let reader = if open {
            let (_, compressed, _) = parse_stored(name).unwrap_or((sha, false, false));
            crate::engine::set::codec::sql_reader(
                hashing,
                if compressed {
                    crate::domain::Codec::Zstd
                } else {
                    crate::domain::Codec::None
                },
                encrypted.then_some(keys),
                &format!("{OBJECTS_DIR}/{name}"),
            )
            .map_err(|e| e.to_string())
        } else {
            Ok(Box::new(hashing) as Box<dyn Read + Send>)
        };
        match reader {
            Ok(mut r) => {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => content.update(&buf[..n]),
                        Err(e) => {
                            decode_error = Some(e.to_string());
                            break;
                        }
                    }
                }
            }
            Err(e) => decode_error = Some(e),
        }
        let (bytes, on_disk) = {
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let t = tally.lock().map(|t| (t.0.clone(), t.1)).ok();
            match t {
                Some((h, n)) if n == len => (n, hex::encode(h.finalize())),
                _ => crate::engine::set::codec::sha256_file(&path).unwrap_or((0, String::new())),
            }
        };
        report.bytes += bytes;
        progress.add_read(bytes);
        if on_disk != *disk_sha {
            report.problems.push(format!(
                "{} is damaged: its SHA-256 does not match {OBJECTS_LIST}",
                named(name)
            ));
        } else if let Some(e) = decode_error {
            report
                .problems
                .push(format!("{} cannot be read back: {e}", named(name)));
        } else if open && hex::encode(content.finalize()) != sha {
            report.problems.push(format!(
                "{} is damaged: its content does not have the SHA-256 it is named by",
                named(name)
            ));
        }
    }
    report
}
