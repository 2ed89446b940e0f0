//! The file-system work under a destination folder: copying chunk by
//! chunk, temporary names, syncing folders, walking the tree.

use super::TEMP_MARK;
use crate::engine::remote::pipe::{FileSink, FileSource};
use crate::engine::remote::{ObjectInfo, ProgressFn, join_key};
use std::io;
use std::path::{Path, PathBuf};

/// Which side of a copy failed.
pub(super) enum Side {
    Read(io::Error),
    Write(io::Error),
}

/// Moves every chunk from `source` (after `first`) to `sink`; the bytes moved.
pub(super) async fn copy(
    first: Option<bytes::Bytes>,
    source: &mut FileSource,
    sink: &mut FileSink,
    progress: ProgressFn<'_>,
) -> Result<u64, Side> {
    let mut done = 0u64;
    let mut next = first;
    loop {
        let chunk = match next.take() {
            Some(chunk) => chunk,
            None => match source.next().await.map_err(Side::Read)? {
                Some(chunk) => chunk,
                None => return Ok(done),
            },
        };
        done += chunk.len() as u64;
        sink.write(chunk).await.map_err(Side::Write)?;
        progress(done);
    }
}

/// `dest` + `.partial-<random>`.
pub(super) fn temp_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        "{TEMP_MARK}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    dest.with_file_name(name)
}

/// Syncs the folder holding `path`, so a rename in it survives a power cut.
pub(super) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Syncs a folder's entries (Unix; elsewhere a folder cannot be opened for it).
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The files under `dir` (keys start with `rel`), skipping unfinished
/// copies, symlinks and names that are not UTF-8. A missing `dir` is empty.
pub(super) fn walk(dir: &Path, rel: &str, out: &mut Vec<ObjectInfo>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let kind = entry.file_type()?;
        let key = join_key(rel, &name);
        if kind.is_dir() {
            walk(&entry.path(), &key, out)?;
        } else if kind.is_file() && !name.contains(TEMP_MARK) {
            match entry.metadata() {
                Ok(m) => out.push(ObjectInfo {
                    key,
                    size: m.len(),
                    modified: m.modified().ok().map(chrono::DateTime::from),
                }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// The names of the folders in `dir` (none if it is missing).
pub(super) fn dirs_in(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir()
            && let Ok(name) = entry.file_name().into_string()
        {
            names.push(name);
        }
    }
    Ok(names)
}
