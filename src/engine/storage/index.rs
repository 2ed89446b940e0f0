//! What a set says about its Storage files: `storage.json.zst` (the
//! buckets with their settings and every object with its metadata and
//! stored file; `.age` appended when the set is encrypted) and
//! `objects.txt` (the stored files the set refers to, never encrypted, in
//! `sha256sum`'s format: the SHA-256 of each stored file's bytes, two
//! spaces, its name under `objects/`), so retention and off-site copies
//! read it without any key, and `cd objects && sha256sum -c
//! ../<set>/objects.txt` checks the files by hand.

use super::client::{BucketInfo, Meta};
use crate::domain::{Codec, Compression};
use crate::engine::EngineError;
use crate::engine::set::codec::{PartWriter, sql_reader};
use crate::engine::set::{FileInfo, Keys, Sealing};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;

/// The index file's name (`.age` appended when the set is encrypted).
pub const INDEX: &str = "storage.json.zst";
/// The stored-files list's name.
pub const OBJECTS_LIST: &str = "objects.txt";
/// The index's own format.
const INDEX_FORMAT: u32 = 1;

/// The Storage files of a set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageIndex {
    /// This file's format.
    pub format: u32,
    /// How they were read: `s3` or `rest`.
    pub access: String,
    /// Where from (the endpoint or API URL, nothing secret).
    pub source: String,
    /// When the listing was taken.
    pub taken_at: DateTime<Utc>,
    /// Where the bucket settings came from: `api`, `database` or `none`.
    pub settings_from: String,
    /// The buckets backed up, with their settings.
    pub buckets: Vec<BucketInfo>,
    /// Every object, by bucket and name.
    pub objects: Vec<ObjectEntry>,
    /// Objects listed but not backed up (gone before they could be read,
    /// or a name the service refused), and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// One object in a set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// Its bucket.
    pub bucket: String,
    /// Its full name in the bucket.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// SHA-256 of its content.
    pub sha256: String,
    /// Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Cache-Control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// Last modified, as listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// ETag, as listed (or sent with the download).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The object's own metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<serde_json::Value>,
    /// The stored file holding its content (`ab/<sha256>.zst`).
    pub stored: String,
}

impl ObjectEntry {
    /// What goes with the file when it is uploaded.
    pub fn meta(&self) -> Meta {
        Meta {
            content_type: self.content_type.clone(),
            cache_control: self.cache_control.clone(),
            user_metadata: self.user_metadata.clone(),
        }
    }
}

/// An object listed but not in the set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Its bucket.
    pub bucket: String,
    /// Its name.
    pub name: String,
    /// Why.
    pub why: String,
}

impl StorageIndex {
    /// A new, empty index.
    pub fn new(access: &str, source: &str, settings_from: &str) -> Self {
        Self {
            format: INDEX_FORMAT,
            access: access.to_string(),
            source: source.to_string(),
            taken_at: Utc::now(),
            settings_from: settings_from.to_string(),
            ..Default::default()
        }
    }

    /// Total bytes of the objects.
    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }

    /// (objects, bytes) per bucket, by bucket name.
    pub fn per_bucket(&self) -> std::collections::BTreeMap<String, (u64, u64)> {
        let mut out = std::collections::BTreeMap::new();
        for b in &self.buckets {
            out.insert(b.id.clone(), (0, 0));
        }
        for o in &self.objects {
            let e = out.entry(o.bucket.clone()).or_insert((0, 0));
            e.0 += 1;
            e.1 += o.size;
        }
        out
    }
}

/// Writes the index into the set folder `dir` (zstd, then age with
/// `sealing`), fsynced.
pub fn write_index(
    dir: &Path,
    index: &StorageIndex,
    sealing: Option<&Sealing>,
) -> Result<FileInfo, EngineError> {
    let file = format!("{INDEX}{}", if sealing.is_some() { ".age" } else { "" });
    let path = dir.join(&file);
    let json = serde_json::to_vec(index)
        .map_err(|e| EngineError::Failed(format!("cannot encode the Storage index: {e}")))?;
    let compression = Compression::new(Codec::Zstd, None)?;
    let written = (|| {
        let mut w = PartWriter::create(&path, compression, sealing)?;
        w.write_all(&json)?;
        w.finish()
    })();
    let (bytes, sha256) = written.map_err(|e| EngineError::io("cannot write", &path, e))?;
    Ok(FileInfo {
        file,
        bytes,
        sha256,
    })
}

/// Reads the index of the set in `dir` (decrypted with `keys` when its
/// name ends in `.age`).
pub fn read_index(dir: &Path, info: &FileInfo, keys: &Keys) -> Result<StorageIndex, EngineError> {
    let path = dir.join(&info.file);
    let file = std::fs::File::open(&path)
        .map_err(|e| EngineError::io("cannot read the Storage index", &path, e))?;
    let encrypted = info.file.ends_with(".age");
    let mut bytes = Vec::new();
    sql_reader(file, Codec::Zstd, encrypted.then_some(keys), &info.file)?
        .read_to_end(&mut bytes)
        .map_err(|e| EngineError::Failed(format!("{} cannot be read: {e}", info.file)))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        EngineError::Failed(format!(
            "{} is damaged ({e}): the Storage part of the backup cannot be trusted",
            info.file
        ))
    })
}

/// Writes `objects.txt`: (stored file, SHA-256 of its bytes) pairs, sorted,
/// each once; fsynced.
pub fn write_objects_list(
    dir: &Path,
    stored: &std::collections::BTreeMap<String, String>,
) -> Result<FileInfo, EngineError> {
    let mut text = String::new();
    for (name, disk_sha) in stored {
        text.push_str(&format!("{disk_sha}  {name}\n"));
    }
    let path = dir.join(OBJECTS_LIST);
    crate::engine::set::write_synced(&path, text.as_bytes())?;
    let (bytes, sha256) = crate::engine::set::codec::sha256_file(&path)
        .map_err(|e| EngineError::io("cannot read back", &path, e))?;
    Ok(FileInfo {
        file: OBJECTS_LIST.to_string(),
        bytes,
        sha256,
    })
}

/// The stored files a set refers to, from its `objects.txt`: (name under
/// `objects/`, SHA-256 of the stored bytes). No key needed. Lines that are
/// not a stored file's name are refused (the list is damaged).
pub fn read_objects_list(path: &Path) -> Result<Vec<(String, String)>, EngineError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EngineError::io("cannot read the list of stored files", path, e))?;
    parse_objects_list(&text, &path.display().to_string())
}

/// [`read_objects_list`] of text read elsewhere (a copy at a destination);
/// `origin` names it in errors.
pub fn parse_objects_list(text: &str, origin: &str) -> Result<Vec<(String, String)>, EngineError> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (sha, name) = line.split_once("  ").ok_or_else(|| damaged(origin, line))?;
        if super::store::parse_stored(name).is_none() || sha.len() != 64 {
            return Err(damaged(origin, line));
        }
        out.push((name.to_string(), sha.to_string()));
    }
    Ok(out)
}

fn damaged(origin: &str, line: &str) -> EngineError {
    EngineError::Failed(format!(
        "{origin} is damaged (the line \"{}\" is not a stored file): nothing was removed or copied",
        line.chars().take(100).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_list_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = StorageIndex::new("s3", "http://x", "database");
        index.buckets.push(BucketInfo {
            id: "a".into(),
            name: "a".into(),
            public: Some(true),
            ..Default::default()
        });
        let sha = "c".repeat(64);
        index.objects.push(ObjectEntry {
            bucket: "a".into(),
            name: "dir/é x.txt".into(),
            size: 5,
            sha256: sha.clone(),
            stored: format!("cc/{sha}.zst"),
            ..Default::default()
        });
        let info = write_index(dir.path(), &index, None).unwrap();
        assert_eq!(info.file, INDEX);
        assert_eq!(read_index(dir.path(), &info, &Keys::none()).unwrap(), index);
        assert_eq!(index.per_bucket()["a"], (1, 5));

        let mut stored = std::collections::BTreeMap::new();
        stored.insert(format!("cc/{sha}.zst"), "d".repeat(64));
        let info = write_objects_list(dir.path(), &stored).unwrap();
        let back = read_objects_list(&dir.path().join(&info.file)).unwrap();
        assert_eq!(back, vec![(format!("cc/{sha}.zst"), "d".repeat(64))]);
        std::fs::write(dir.path().join("bad.txt"), "x  ../../etc/passwd\n").unwrap();
        assert!(read_objects_list(&dir.path().join("bad.txt")).is_err());
    }
}
