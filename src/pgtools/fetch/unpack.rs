//! Unpacking an archive of a whole PostgreSQL install into a folder that
//! holds only the client programs and the libraries they load.
//!
//! Only the entries chosen by name are written (`bin/<program>`, the shared
//! libraries directly in `bin/` and `lib/`): an entry's own path never
//! decides where a file goes, so a hostile archive cannot write elsewhere.
//! Symbolic links are written as plain files (USB sticks formatted FAT32 or
//! exFAT have no links).

use super::deps::needed_libraries;
use super::error::FetchError;
use super::releases::Target;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// The programs kept, without `.exe`.
pub const PROGRAMS: [&str; 4] = ["pg_dump", "pg_dumpall", "psql", "pg_restore"];

/// One file written: its path below the install folder and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// `bin/pg_dump`, `lib/libpq.so.5`...
    pub path: String,
    /// Bytes.
    pub bytes: u64,
}

/// An entry of the archive's `bin/` or `lib/` worth a look.
enum Entry {
    /// Written to the scratch folder under this name.
    File,
    /// A link to another file of the same folder.
    Link(String),
}

/// Unpacks `archive` (a `.tar.gz`) into `dest` (created), keeping the
/// programs and the libraries they load. `top` is the folder name the
/// archive must hold everything under (`postgresql-17.11.0-<target>`).
pub fn unpack(
    archive: &Path,
    top: &str,
    target: Target,
    dest: &Path,
    stop: &AtomicBool,
) -> Result<Vec<Kept>, FetchError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let scratch = dest.join(".all");
    let entries = read_entries(archive, &name, top, target, &scratch, stop)?;
    let exe = |p: &str| {
        if target.is_windows() {
            format!("{p}.exe")
        } else {
            p.to_string()
        }
    };
    let missing: Vec<String> = PROGRAMS
        .iter()
        .map(|p| format!("bin/{}", exe(p)))
        .filter(|p| !entries.contains_key(p))
        .collect();
    if !missing.is_empty() {
        return Err(FetchError::NotAnArchive {
            file: name,
            reason: format!("it holds no {} under {top}/", missing.join(", ")),
        });
    }
    let needed = closure(&entries, &scratch, target, &name)?;
    let mut kept = Vec::new();
    for (path, real) in &needed {
        if stop.load(Ordering::Relaxed) {
            return Err(FetchError::Cancelled);
        }
        let to = below(dest, path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| FetchError::io("cannot create a folder", parent, e))?;
        }
        // The size from the copy itself, not fs::copy's answer (wine's
        // CopyFileEx reports 0).
        let bytes = std::fs::copy(below(&scratch, real), &to)
            .and_then(|_| std::fs::metadata(&to))
            .map(|m| m.len())
            .map_err(|e| FetchError::io("cannot write a program file", &to, e))?;
        executable(&to)?;
        kept.push(Kept {
            path: path.clone(),
            bytes,
        });
    }
    std::fs::remove_dir_all(&scratch)
        .map_err(|e| FetchError::io("cannot remove a scratch folder", &scratch, e))?;
    Ok(kept)
}

/// Reads the archive once, writing the programs and every shared library
/// of `bin/` and `lib/` into `scratch`; returns what it saw by path.
fn read_entries(
    archive: &Path,
    name: &str,
    top: &str,
    target: Target,
    scratch: &Path,
    stop: &AtomicBool,
) -> Result<BTreeMap<String, Entry>, FetchError> {
    let damaged = |reason: String| FetchError::NotAnArchive {
        file: name.to_string(),
        reason,
    };
    let file =
        std::fs::File::open(archive).map_err(|e| FetchError::io("cannot open", archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut seen = BTreeMap::new();
    let mut any = false;
    for entry in tar.entries().map_err(|e| damaged(e.to_string()))? {
        if stop.load(Ordering::Relaxed) {
            return Err(FetchError::Cancelled);
        }
        let mut entry = entry.map_err(|e| damaged(e.to_string()))?;
        let path = entry.path().map_err(|e| damaged(e.to_string()))?;
        let parts: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .filter(|c| c != ".")
            .collect();
        let Some(first) = parts.first() else { continue };
        if first != top {
            return Err(damaged(format!(
                "its files are under {first}/, not {top}/: it is another version or for \
                 another system"
            )));
        }
        any = true;
        let [_, dir, file] = parts.as_slice() else {
            continue;
        };
        if !(dir == "bin" || dir == "lib") || !wanted(dir, file, target) {
            continue;
        }
        let rel = format!("{dir}/{file}");
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let link = entry
                .link_name()
                .map_err(|e| damaged(e.to_string()))?
                .map(|l| l.to_string_lossy().to_string())
                .unwrap_or_default();
            // Only links within the same folder are followed.
            let link = link.rsplit('/').next().unwrap_or(&link).to_string();
            seen.insert(rel, Entry::Link(format!("{dir}/{link}")));
        } else if kind.is_file() {
            let to = scratch.join(dir).join(file);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| FetchError::io("cannot create a folder", parent, e))?;
            }
            let mut out = std::fs::File::create(&to)
                .map_err(|e| FetchError::io("cannot write a file", &to, e))?;
            std::io::copy(&mut entry, &mut out).map_err(|e| {
                if e.kind() == std::io::ErrorKind::StorageFull {
                    FetchError::io("the disk is full while unpacking", &to, e)
                } else {
                    damaged(format!("reading {rel}: {e}"))
                }
            })?;
            seen.insert(rel, Entry::File);
        }
    }
    if !any {
        return Err(damaged("it is empty".into()));
    }
    Ok(seen)
}

/// True for the programs and for files that may be shared libraries.
fn wanted(dir: &str, file: &str, target: Target) -> bool {
    let stem = file.strip_suffix(".exe").unwrap_or(file);
    if dir == "bin" && PROGRAMS.contains(&stem) {
        return true;
    }
    let lower = file.to_ascii_lowercase();
    if target.is_windows() {
        lower.ends_with(".dll")
    } else {
        lower.starts_with("lib") && (lower.contains(".so") || lower.ends_with(".dylib"))
    }
}

/// The files to keep, by the path they get, and the scratch file each is
/// written from: the programs and, transitively, every library they load
/// that the archive holds (searched in `bin/`, then `lib/`).
fn closure(
    entries: &BTreeMap<String, Entry>,
    scratch: &Path,
    target: Target,
    name: &str,
) -> Result<BTreeMap<String, String>, FetchError> {
    // Library names as the loader looks them up (Windows ignores case).
    let key = |s: &str| {
        if target.is_windows() {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let by_name: BTreeMap<String, String> = entries
        .keys()
        .rev() // bin/ wins over lib/ for the same name
        .map(|p| (key(p.rsplit('/').next().unwrap_or(p)), p.clone()))
        .collect();
    let resolve = |path: &str| -> Option<String> {
        let mut p = path.to_string();
        for _ in 0..8 {
            match entries.get(&p)? {
                Entry::File => return Some(p),
                Entry::Link(to) => p = to.clone(),
            }
        }
        None
    };
    let mut keep: BTreeMap<String, String> = BTreeMap::new();
    let mut todo: Vec<String> = PROGRAMS
        .iter()
        .map(|p| {
            if target.is_windows() {
                format!("bin/{p}.exe")
            } else {
                format!("bin/{p}")
            }
        })
        .collect();
    let mut done = BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !done.insert(path.clone()) {
            continue;
        }
        let Some(real) = resolve(&path) else { continue };
        let bytes = std::fs::read(below(scratch, &real)).map_err(|e| {
            FetchError::io("cannot read an unpacked file", below(scratch, &real), e)
        })?;
        let libs = needed_libraries(&bytes).map_err(|e| FetchError::NotAnArchive {
            file: name.to_string(),
            reason: format!("{path} is not a program for {target}: {e}"),
        })?;
        keep.insert(path, real);
        for lib in libs {
            if let Some(found) = by_name.get(&key(&lib)) {
                todo.push(found.clone());
            }
        }
    }
    Ok(keep)
}

/// Makes a kept file executable (Unix); on Windows the extension decides.
fn executable(path: &Path) -> Result<(), FetchError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| FetchError::io("cannot make a program executable", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// `dir` joined with a `/`-separated path below it, in the system's own
/// separators (`bin\pg_dump.exe` on Windows).
pub fn below(dir: &Path, path: &str) -> std::path::PathBuf {
    path.split('/')
        .fold(dir.to_path_buf(), |p, part| p.join(part))
}

/// Flushes a file to disk. Windows flushes only through a handle opened for
/// writing; nothing is written.
pub fn sync_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .sync_all()
}
