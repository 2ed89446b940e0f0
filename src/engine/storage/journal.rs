//! `objects/journal.jsonl`: one JSON line per file stored (bucket, name,
//! size, ETag, last modified → content SHA-256 and stored file), appended
//! as each file lands, so a backup that was cancelled or crashed resumes
//! without downloading what it had already stored. For a project that
//! encrypts, bucket and name are replaced by a SHA-256 of them (and no
//! metadata is kept): the journal itself is never encrypted.
//!
//! A line cut short by a crash is ignored; an entry whose stored file is
//! gone is never trusted.

use super::client::Meta;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The journal's file name, in the store.
pub const JOURNAL: &str = "journal.jsonl";

/// One stored file, by the version of the object it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The bucket (projects that do not encrypt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// The object's name (projects that do not encrypt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// SHA-256 of `bucket`, a NUL and `name` (projects that encrypt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its size.
    pub size: u64,
    /// Its ETag as listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Its last-modified as listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// SHA-256 of its content.
    pub sha256: String,
    /// The stored file.
    pub stored: String,
    /// SHA-256 of the stored file's bytes on disk.
    pub disk_sha256: String,
    /// Size of the stored file on disk.
    pub disk_bytes: u64,
    /// Content type, cache control, metadata (projects that do not encrypt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// The journal of a store, read once, appended to as files land.
pub struct Journal {
    path: PathBuf,
    hashed: bool,
    entries: HashMap<String, JournalEntry>,
    out: Mutex<Option<std::fs::File>>,
}

/// How an object is looked up: bucket and name, or their hash.
fn key(bucket: &str, name: &str, hashed: bool) -> String {
    if hashed {
        format!("#{}", hashed_id(bucket, name))
    } else {
        format!("{bucket}\0{name}")
    }
}

/// SHA-256 of bucket, NUL, name.
pub fn hashed_id(bucket: &str, name: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(bucket.as_bytes());
    h.update([0u8]);
    h.update(name.as_bytes());
    hex::encode(h.finalize())
}

impl Journal {
    /// Reads the journal in `store_dir` (none yet: empty). `hashed`: the
    /// project encrypts (names are looked up, and written, hashed).
    pub fn open(store_dir: &Path, hashed: bool) -> io::Result<Self> {
        let path = store_dir.join(JOURNAL);
        let mut entries = HashMap::new();
        for e in read_entries(&path)? {
            let k = match (&e.bucket, &e.name, &e.id) {
                (Some(b), Some(n), _) => key(b, n, hashed),
                (_, _, Some(id)) if hashed => format!("#{id}"),
                _ => continue,
            };
            entries.insert(k, e);
        }
        Ok(Self {
            path,
            hashed,
            entries,
            out: Mutex::new(None),
        })
    }

    /// The entry for an object, if the journal has one.
    pub fn lookup(&self, bucket: &str, name: &str) -> Option<&JournalEntry> {
        self.entries.get(&key(bucket, name, self.hashed))
    }

    /// How many entries it holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every entry (for seeding what is known about stored files).
    pub fn entries(&self) -> impl Iterator<Item = &JournalEntry> {
        self.entries.values()
    }

    /// Makes an entry for an object in this journal's form.
    pub fn entry(&self, bucket: &str, name: &str, mut e: JournalEntry) -> JournalEntry {
        if self.hashed {
            e.bucket = None;
            e.name = None;
            e.meta = None;
            e.id = Some(hashed_id(bucket, name));
        } else {
            e.bucket = Some(bucket.to_string());
            e.name = Some(name.to_string());
            e.id = None;
        }
        e
    }

    /// Appends a line (flushed to the OS, not fsynced: a lost line only
    /// means a download again).
    pub fn append(&self, e: &JournalEntry) -> io::Result<()> {
        let mut line = serde_json::to_string(e).map_err(io::Error::other)?;
        line.push('\n');
        let mut out = self.out.lock().map_err(|_| io::Error::other("poisoned"))?;
        if out.is_none() {
            *out = Some(open_append(&self.path)?);
        }
        if let Some(f) = out.as_mut() {
            f.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    /// Fsyncs what was appended.
    pub fn sync(&self) -> io::Result<()> {
        let out = self.out.lock().map_err(|_| io::Error::other("poisoned"))?;
        match out.as_ref() {
            Some(f) => f.sync_data(),
            None => Ok(()),
        }
    }
}

fn open_append(path: &Path) -> io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Every well-formed line of the journal at `path` (none: empty).
pub fn read_entries(path: &Path) -> io::Result<Vec<JournalEntry>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in io::BufReader::new(file).lines() {
        let line = line?;
        if let Ok(e) = serde_json::from_str::<JournalEntry>(&line) {
            out.push(e);
        }
    }
    Ok(out)
}

/// Rewrites the journal keeping only the entries `keep` accepts (temp
/// file, fsync, rename). Returns how many were dropped.
pub fn compact(store_dir: &Path, keep: impl Fn(&JournalEntry) -> bool) -> io::Result<usize> {
    let path = store_dir.join(JOURNAL);
    if !path.exists() {
        return Ok(0);
    }
    let entries = read_entries(&path)?;
    let before = entries.len();
    let kept: Vec<&JournalEntry> = entries.iter().filter(|e| keep(e)).collect();
    if kept.len() == before {
        return Ok(0);
    }
    let tmp = store_dir.join(format!("{JOURNAL}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    {
        let mut f = crate::engine::set::codec::private_file(&tmp)?;
        for e in &kept {
            let mut line = serde_json::to_string(e).map_err(io::Error::other)?;
            line.push('\n');
            f.write_all(line.as_bytes())?;
        }
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    Ok(before - kept.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: u64) -> JournalEntry {
        JournalEntry {
            bucket: None,
            name: None,
            id: None,
            size,
            etag: Some("\"e\"".into()),
            last_modified: None,
            sha256: "a".repeat(64),
            stored: format!("aa/{}", "a".repeat(64)),
            disk_sha256: "b".repeat(64),
            disk_bytes: size,
            meta: Some(Meta {
                content_type: Some("text/plain".into()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn entries_survive_a_reopen_and_a_cut_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), false).unwrap();
        assert_eq!(j.len(), 0);
        j.append(&j.entry("avatars", "a/b c.png", entry(3)))
            .unwrap();
        j.append(&j.entry("docs", "x", entry(4))).unwrap();
        j.sync().unwrap();
        // A crash in the middle of a line.
        let mut f = open_append(&dir.path().join(JOURNAL)).unwrap();
        f.write_all(b"{\"bucket\":\"docs\",\"na").unwrap();
        drop(f);
        let j = Journal::open(dir.path(), false).unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!(j.lookup("avatars", "a/b c.png").unwrap().size, 3);
        assert!(j.lookup("avatars", "x").is_none());
        // Compacted, the cut line and the dropped entry go.
        assert_eq!(compact(dir.path(), |e| e.size == 4).unwrap(), 1);
        let j = Journal::open(dir.path(), false).unwrap();
        assert_eq!(j.len(), 1);
    }

    #[test]
    fn an_encrypting_project_keeps_no_names() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), true).unwrap();
        j.append(&j.entry("private", "passport-scan.pdf", entry(9)))
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(JOURNAL)).unwrap();
        assert!(
            !text.contains("passport") && !text.contains("private"),
            "{text}"
        );
        assert!(!text.contains("text/plain"), "{text}");
        let j = Journal::open(dir.path(), true).unwrap();
        assert_eq!(j.lookup("private", "passport-scan.pdf").unwrap().size, 9);
    }
}
