//! Removing stored files no set refers to any more (after retention or a
//! delete removed a set): every remaining set of the project lists its
//! stored files in `objects.txt`, readable without a key.

use super::index::read_objects_list;
use super::journal::compact;
use super::store::{OBJECTS_DIR, parse_stored};
use crate::domain::{Backup, Level};
use crate::engine::lease::{Collecting, Lease};
use crate::engine::remote::{Remote, RemoteConfig};
use crate::engine::set::{MANIFEST, Manifest};
use crate::engine::{Engine, EngineError};
use serde::Serialize;
use std::collections::HashSet;
use std::path::Path;

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Collected {
    /// Stored files removed.
    pub removed: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Stored files kept (some set refers to them).
    pub kept: u64,
    /// Stored files no set refers to, kept because they are younger than
    /// the grace period (`storage-grace-hours`).
    pub young: u64,
}

/// Removes the stored files under `<project_dir>/objects/` that no set in
/// `project_dir` refers to and that are older than `grace` (a backup still
/// running somewhere has stored its files but not yet written the
/// `objects.txt` that refers to them), and their journal lines. A set whose
/// manifest or `objects.txt` cannot be read stops it before anything is
/// removed. Call it only under a collection lease (no backup of the project
/// runs). Blocking.
pub fn collect_unreferenced(
    project_dir: &Path,
    grace: chrono::Duration,
) -> Result<Collected, EngineError> {
    let store = project_dir.join(OBJECTS_DIR);
    let mut out = Collected::default();
    if !store.is_dir() {
        return Ok(out);
    }
    let mut wanted = HashSet::new();
    let sets = std::fs::read_dir(project_dir)
        .map_err(|e| EngineError::io("cannot read the project's backup folder", project_dir, e))?;
    for entry in sets.flatten() {
        let dir = entry.path();
        if !dir.join(MANIFEST).is_file() {
            continue;
        }
        let manifest = Manifest::read(&dir).map_err(|e| {
            EngineError::Failed(format!(
                "no stored Storage file was removed: a backup's manifest cannot be read ({e})"
            ))
        })?;
        if let Some(list) = &manifest.objects {
            for (name, _) in read_objects_list(&dir.join(&list.file))? {
                wanted.insert(name);
            }
        }
    }
    let cutoff = std::time::SystemTime::now()
        .checked_sub(grace.to_std().unwrap_or_default())
        .unwrap_or(std::time::UNIX_EPOCH);
    let subdirs = std::fs::read_dir(&store)
        .map_err(|e| EngineError::io("cannot read the Storage file store", &store, e))?;
    for sub in subdirs.flatten() {
        let sub_path = sub.path();
        let sub_name = sub.file_name().to_string_lossy().into_owned();
        if !sub_path.is_dir() || sub_name.len() != 2 {
            continue;
        }
        let Ok(files) = std::fs::read_dir(&sub_path) else {
            continue;
        };
        for f in files.flatten() {
            let name = format!("{sub_name}/{}", f.file_name().to_string_lossy());
            if parse_stored(&name).is_none() {
                continue;
            }
            if wanted.contains(&name) {
                out.kept += 1;
                continue;
            }
            let Ok(meta) = f.metadata() else {
                continue;
            };
            // Unknown age counts as young: kept.
            if meta.modified().map_or(true, |m| m > cutoff) {
                out.young += 1;
                continue;
            }
            let len = meta.len();
            std::fs::remove_file(f.path())
                .map_err(|e| EngineError::io("cannot remove the stored file", f.path(), e))?;
            out.removed += 1;
            out.bytes += len;
        }
        // An emptied folder goes too (fails harmlessly when not empty).
        let _ = std::fs::remove_dir(&sub_path);
    }
    compact(&store, |e| store.join(&e.stored).is_file())
        .map_err(|e| EngineError::io("cannot rewrite the journal", &store, e))?;
    crate::engine::set::sync_dir(&store)?;
    Ok(out)
}

impl Engine {
    /// After `removed` (a set) was deleted: removes the stored Storage
    /// files of its project that no remaining set refers to and that are
    /// older than `storage-grace-hours`. Skipped while a backup of the
    /// project runs here, or holds a lease in the backup folder (another
    /// process or machine sharing it): the next removal collects them.
    /// Failures are logged, never returned: the removal itself succeeded.
    pub async fn collect_storage_after_removal(&self, removed: &Backup) -> Option<Collected> {
        let project_dir = removed.path.parent()?.to_path_buf();
        if !project_dir.join(OBJECTS_DIR).is_dir() {
            return None;
        }
        let project = removed.project_id;
        let lock = self.project_lock(project);
        let Ok(_quiet) = lock.try_lock() else {
            self.log(
                Level::Info,
                Some(project),
                "a backup of the project is running: its unused stored Storage files are removed \
                 at the next deletion or retention",
            );
            return None;
        };
        match self.local_collection(&project_dir).await {
            Ok(Some(c)) => {
                self.log_collected(project, &c);
                Some(c)
            }
            Ok(None) => None,
            Err(e) => {
                self.log(
                    Level::Warning,
                    Some(project),
                    format!("unused stored Storage files were not removed: {e}"),
                );
                None
            }
        }
    }

    /// Collects in `project_dir` under a lease in its backup folder;
    /// `Ok(None)` when another process's backup holds one there (logged).
    async fn local_collection(&self, project_dir: &Path) -> Result<Option<Collected>, EngineError> {
        let root = project_dir.parent().unwrap_or(project_dir).to_path_buf();
        let slug = project_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let place = format!("the backup folder {}", root.display());
        let remote = Remote::open(RemoteConfig::Folder { path: root })
            .map_err(|e| EngineError::Failed(format!("{place}: {e}")))?;
        let lease = match Lease::for_collecting(&remote, &slug).await {
            Ok(Collecting::Go(lease)) => lease,
            Ok(Collecting::Busy(writer)) => {
                self.log(
                    Level::Info,
                    None,
                    format!(
                        "unused stored Storage files in {place} were left alone: {} is \
                         writing there; a later deletion removes them",
                        writer.describe()
                    ),
                );
                return Ok(None);
            }
            Err(e) => return Err(e.at(&place)),
        };
        let grace = self.storage_grace()?;
        let dir = project_dir.to_path_buf();
        let outcome = tokio::task::spawn_blocking(move || collect_unreferenced(&dir, grace))
            .await
            .map_err(|e| EngineError::Failed(e.to_string()));
        lease.release().await;
        outcome?.map(Some)
    }

    fn log_collected(&self, project: crate::domain::ProjectId, c: &Collected) {
        let mut said = Vec::new();
        if c.removed > 0 {
            said.push(format!(
                "removed {} stored Storage file(s) ({}) no backup refers to any more",
                c.removed,
                crate::domain::human_bytes(c.bytes)
            ));
        }
        if c.young > 0 {
            said.push(format!(
                "kept {} unused stored Storage file(s) younger than storage-grace-hours ({} h): \
                 a later deletion removes them",
                c.young,
                self.storage_grace().map(|g| g.num_hours()).unwrap_or(24)
            ));
        }
        if !said.is_empty() {
            self.log(Level::Info, Some(project), said.join("; "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_no_set_lists_go() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path();
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let (na, nb) = (format!("aa/{a}.zst"), format!("bb/{b}"));
        for n in [&na, &nb] {
            let p = project.join(OBJECTS_DIR).join(n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        std::fs::write(project.join(OBJECTS_DIR).join(super::super::JOURNAL), "").unwrap();
        // A set that lists `a` only.
        let set = project.join("20260101T000000Z-full-1a2b3c4d");
        std::fs::create_dir_all(&set).unwrap();
        let m = serde_json::json!({
            "format": 3, "tool": "t", "id": "6f9619ff-8b86-d011-b42d-00c04fc964ff",
            "project_id": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "project_name": "p",
            "environment": "development", "kind": "storage", "profile": "supabase",
            "compression": {"codec": "zstd", "level": 3},
            "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:00Z",
            "parts": [], "objects": {"file": "objects.txt", "bytes": 1, "sha256": "x"}
        });
        std::fs::write(set.join(MANIFEST), m.to_string()).unwrap();
        std::fs::write(
            set.join("objects.txt"),
            format!("{}  {na}\n", "c".repeat(64)),
        )
        .unwrap();
        // Young files stay, however unreferenced.
        let c = collect_unreferenced(project, chrono::Duration::hours(24)).unwrap();
        assert_eq!((c.removed, c.kept, c.young), (0, 1, 1));
        assert!(project.join(OBJECTS_DIR).join(&nb).is_file());
        let c = collect_unreferenced(project, chrono::Duration::zero()).unwrap();
        assert_eq!((c.removed, c.kept), (1, 1));
        assert!(project.join(OBJECTS_DIR).join(&na).is_file());
        assert!(!project.join(OBJECTS_DIR).join("bb").exists());
        // A damaged list stops it before anything goes.
        std::fs::write(set.join("objects.txt"), "garbage\n").unwrap();
        assert!(collect_unreferenced(project, chrono::Duration::zero()).is_err());
        assert!(project.join(OBJECTS_DIR).join(&na).is_file());
    }
}
