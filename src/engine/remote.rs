//! Destinations opened: the layer that reads and writes backup sets at an
//! S3-compatible bucket (through `object_store`, SigV4 and all) or at a
//! folder (a mounted NAS share, a USB stick).
//!
//! Keys are relative to the destination's prefix (S3) or folder, with `/`
//! separators: `shop/20261201T030000Z-full-1a2b3c4d/data.sql.zst`. Both
//! backends behave the same: an upload that fails leaves nothing under its
//! key, a delete of a missing key succeeds, a "folder" exists only while an
//! object is under it. Bytes in flight are bounded whatever the file size
//! (S3: 8 MiB parts, at most 4 uploading, 1 MiB read-ahead chunks).

mod error;
mod folder;
mod pipe;
mod probe;
mod s3;

pub use error::{Action, RemoteError};
pub use probe::TEST_DIR;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Where a remote is and how to reach it (built by the caller from the
/// catalog's `Destination`; the S3 secret is given opened).
#[derive(Clone)]
pub enum RemoteConfig {
    /// An S3-compatible bucket.
    S3 {
        /// `http(s)://host[:port]`, without the bucket (it is added as a
        /// host name for virtual-host addressing).
        endpoint: String,
        /// The region the requests are signed for (`auto` or `us-east-1`
        /// where the service has none).
        region: String,
        /// The bucket.
        bucket: String,
        /// Every key is put under this (no leading or trailing `/`; may be empty).
        prefix: String,
        /// Path-style addressing (`endpoint/bucket/key`) instead of
        /// virtual-host (`bucket.endpoint/key`).
        path_style: bool,
        /// The access key id (not secret).
        access_key_id: String,
        /// The secret access key, opened.
        secret_access_key: Zeroizing<String>,
    },
    /// A folder that already exists.
    Folder {
        /// The folder.
        path: PathBuf,
    },
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::S3 {
                endpoint,
                region,
                bucket,
                prefix,
                path_style,
                access_key_id,
                secret_access_key: _,
            } => f
                .debug_struct("S3")
                .field("endpoint", endpoint)
                .field("region", region)
                .field("bucket", bucket)
                .field("prefix", prefix)
                .field("path_style", path_style)
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"<hidden>")
                .finish(),
            Self::Folder { path } => f.debug_struct("Folder").field("path", path).finish(),
        }
    }
}

/// An object at a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its key, relative to the destination (`shop/<set>/data.sql.zst`).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, when the destination says.
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// A destination opened. Cheap to clone; clones share the HTTP client.
#[derive(Clone)]
pub struct Remote {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    S3(Arc<s3::S3>),
    Folder(Arc<folder::Folder>),
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.describe())
    }
}

/// Called with the bytes done so far while a file moves.
pub type ProgressFn<'a> = &'a (dyn Fn(u64) + Send + Sync);

impl Remote {
    /// Opens a destination: checks the settings, builds the client. Makes no
    /// request (use [`Remote::test`] for that); a folder need not exist yet.
    pub fn open(config: RemoteConfig) -> Result<Remote, RemoteError> {
        let backend = match config {
            RemoteConfig::S3 {
                endpoint,
                region,
                bucket,
                prefix,
                path_style,
                access_key_id,
                secret_access_key,
            } => {
                let prefix = clean_prefix(&prefix)?;
                Backend::S3(Arc::new(s3::S3::open(s3::S3Settings {
                    endpoint,
                    region,
                    bucket,
                    prefix,
                    path_style,
                    access_key_id,
                    secret_access_key,
                })?))
            }
            RemoteConfig::Folder { path } => Backend::Folder(Arc::new(folder::Folder::new(path))),
        };
        Ok(Remote { backend })
    }

    /// Uploads a local file, streaming (multipart above 8 MiB: 8 MiB parts,
    /// at most 4 in flight), calling `progress(bytes_so_far)` as bytes are
    /// handed to the network or the disk. An upload that fails leaves no
    /// object under `key` (the multipart upload is aborted; a folder copy is
    /// written under a temporary name and renamed once synced). Returns the
    /// SHA-256 (hex) of what was sent.
    pub async fn put_file(
        &self,
        key: &str,
        local: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<String, RemoteError> {
        check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.put_file(key, local, progress).await,
            Backend::Folder(f) => f.put_file(key, local, progress).await,
        }
    }

    /// Writes a small object (a manifest, `SHA256SUMS`) in one request.
    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), RemoteError> {
        check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.put_bytes(key, bytes).await,
            Backend::Folder(f) => f.put_bytes(key, bytes).await,
        }
    }

    /// Downloads an object into `local` (created owner-only; it must not
    /// exist), hashing as it goes; returns (size, SHA-256 hex). Memory
    /// bounded. On failure the local file is removed.
    pub async fn get_to_file(
        &self,
        key: &str,
        local: &Path,
        progress: ProgressFn<'_>,
    ) -> Result<(u64, String), RemoteError> {
        check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.get_to_file(key, local, progress).await,
            Backend::Folder(f) => f.get_to_file(key, local, progress).await,
        }
    }

    /// Reads a small object whole (at most [`MAX_SMALL_OBJECT`] bytes).
    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, RemoteError> {
        check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.get_bytes(key).await,
            Backend::Folder(f) => f.get_bytes(key).await,
        }
    }

    /// Opens an object for reading through a blocking [`std::io::Read`], for
    /// a caller on a blocking thread (`spawn_blocking`; never call `read` on
    /// an async task). Errors while reading are `io::Error`s whose inner
    /// error is a [`RemoteError`]. Memory bounded.
    pub async fn reader(&self, key: &str) -> Result<Box<dyn std::io::Read + Send>, RemoteError> {
        check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.reader(key).await,
            Backend::Folder(f) => f.reader(key).await,
        }
    }

    /// Every object under the folder `prefix` (`""` for all), recursively,
    /// sorted by key; keys are relative to the destination.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, RemoteError> {
        let prefix = clean_prefix(prefix)?;
        let mut found = match &self.backend {
            Backend::S3(s) => s.list(&prefix).await?,
            Backend::Folder(f) => f.list(&prefix).await?,
        };
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    /// The names of the "folders" one level under `prefix` (`""` for the
    /// top), sorted: `list_dirs("")` → `["shop", "blog"]`, `list_dirs("shop")`
    /// → `["20261201T030000Z-full-1a2b3c4d", ...]`. Names, not keys.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, RemoteError> {
        let prefix = clean_prefix(prefix)?;
        let mut names = match &self.backend {
            Backend::S3(s) => s.list_dirs(&prefix).await?,
            Backend::Folder(f) => f.list_dirs(&prefix).await?,
        };
        names.sort();
        Ok(names)
    }

    /// Whether an object is at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, RemoteError> {
        check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.exists(key).await,
            Backend::Folder(f) => f.exists(key).await,
        }
    }

    /// Deletes the object at `key`; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), RemoteError> {
        check_key(key)?;
        match &self.backend {
            Backend::S3(s) => s.delete(key).await,
            Backend::Folder(f) => f.delete(key).await,
        }
    }

    /// Deletes every object under the folder `prefix` (which must not be
    /// empty: this never wipes a whole destination); returns how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, RemoteError> {
        let prefix = clean_prefix(prefix)?;
        if prefix.is_empty() {
            return Err(RemoteError::InvalidKey {
                key: String::new(),
                reason: "deleting everything at a destination is refused: name a folder",
            });
        }
        match &self.backend {
            Backend::S3(s) => s.delete_prefix(&prefix).await,
            Backend::Folder(f) => f.delete_prefix(&prefix).await,
        }
    }

    /// `destination test`: checks the destination answers (keys, bucket,
    /// endpoint, clock; the folder exists), writes a small object under
    /// `.supabackup-test/`, reads it back and compares, deletes it. Returns
    /// what it did in words, or the first failure in words.
    pub async fn test(&self) -> Result<String, RemoteError> {
        probe::run(self).await
    }

    /// The destination with nothing secret: `s3://bucket/prefix at
    /// https://endpoint` or `folder /path`.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::S3(s) => s.describe(),
            Backend::Folder(f) => f.describe(),
        }
    }

    /// Checks the destination answers (endpoint, keys, bucket; the folder
    /// exists) with one listing, writing nothing: before a test writes, and
    /// before a copy starts (some servers would create a missing bucket on
    /// the first upload).
    pub async fn reachable(&self) -> Result<(), RemoteError> {
        match &self.backend {
            Backend::S3(s) => s.reachable().await,
            Backend::Folder(f) => f.reachable().await,
        }
    }
}

/// The largest object [`Remote::get_bytes`] reads (64 MiB).
pub const MAX_SMALL_OBJECT: u64 = 64 << 20;

/// Checks a key: `/`-separated segments, none empty, `.` or `..`, printable
/// ASCII without `\`, no leading or trailing `/`, and not one of the
/// temporary names a folder copy uses while it writes.
fn check_key(key: &str) -> Result<(), RemoteError> {
    let bad = |reason| {
        Err(RemoteError::InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return bad("it is empty");
    }
    if key.len() > 1000 {
        return bad("it is longer than 1000 bytes");
    }
    if !key.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return bad("only printable ASCII without spaces or '\\' is allowed");
    }
    for segment in key.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return bad("it has an empty, '.' or '..' segment (or a leading or trailing '/')");
        }
        if segment.contains(folder::TEMP_MARK) {
            return bad("a name must not contain \".partial-\" (used for unfinished copies)");
        }
    }
    Ok(())
}

/// A prefix checked like a key, `""` allowed, surrounding `/` dropped.
pub fn clean_prefix(prefix: &str) -> Result<String, RemoteError> {
    let trimmed = prefix.trim_matches('/');
    if !trimmed.is_empty() {
        check_key(trimmed)?;
    }
    Ok(trimmed.to_string())
}

/// `a` joined to `b` with `/`, either may be empty.
fn join_key(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        for good in [
            "shop/20261201T030000Z-full-1a2b3c4d/data.sql.zst",
            "SHA256SUMS",
            "shop/objects/ab/0123abcd",
            ".supabackup-test/x",
        ] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a/../b",
            "./a",
            "a b",
            "café",
            "a\\b",
            "a/b.partial-1234",
            "a\nb",
        ] {
            let err = check_key(bad).unwrap_err();
            assert!(matches!(err, RemoteError::InvalidKey { .. }), "{bad}");
        }
    }

    #[test]
    fn prefixes_drop_slashes_and_may_be_empty() {
        assert_eq!(clean_prefix("").unwrap(), "");
        assert_eq!(clean_prefix("/").unwrap(), "");
        assert_eq!(clean_prefix("shop/").unwrap(), "shop");
        assert!(clean_prefix("shop/../x").is_err());
        assert_eq!(join_key("", "a"), "a");
        assert_eq!(join_key("a", ""), "a");
        assert_eq!(join_key("a", "b"), "a/b");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let config = RemoteConfig::S3 {
            endpoint: "http://127.0.0.1:9".into(),
            region: "us-east-1".into(),
            bucket: "backups".into(),
            prefix: "p".into(),
            path_style: true,
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: Zeroizing::new("very-secret-value".into()),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(shown.contains("AKIAEXAMPLE"));
        let remote = Remote::open(config).unwrap();
        let shown = format!("{remote:?} {}", remote.describe());
        assert!(!shown.contains("very-secret-value"), "{shown}");
        assert!(
            shown.contains("s3://backups/p at http://127.0.0.1:9"),
            "{shown}"
        );
    }
}
