//! A backup set in a folder the catalog does not know (copied from another
//! machine, a USB stick), for the desktop app's "Restore from a folder":
//! read with every checksum checked, and added to the history by copying
//! it under the backup root.

use crate::domain::{Backup, Level, slugify};
use crate::engine::set::{self, BackupSet, Details, Keys, MANIFEST, SUMS, SetRef};
use crate::engine::{Engine, EngineError};
use std::path::{Path, PathBuf};

/// A folder's set as read: checksums checked.
#[derive(Debug, Clone)]
pub struct FolderSet {
    /// The set (its manifest).
    pub set: BackupSet,
    /// What it says about the data, when it reads (without a key for a set
    /// that is not encrypted; with `keys` for one that is).
    pub details: Option<Details>,
    /// Why the details could not be read.
    pub details_note: Option<String>,
}

impl Engine {
    /// Reads the set in `dir`: every file's size and SHA-256 checked against
    /// its manifest (what a restore checks before touching a target), then
    /// its details. Blocking.
    pub fn read_folder_set(&self, dir: &Path, keys: &Keys) -> Result<FolderSet, EngineError> {
        let (dir, _, _) = self.locate_set(&SetRef::Folder(dir.to_path_buf()))?;
        let set =
            BackupSet::open_checked(&dir, None, set::Sums::ManifestOnly).map_err(|e| match e {
                EngineError::Failed(m) => EngineError::Failed(m.replace(
                    "nothing was restored; restore an older backup",
                    "this copy of the set cannot be trusted",
                )),
                other => other,
            })?;
        let (details, details_note) = match set.details(keys) {
            Ok(d) => (Some(d), None),
            Err(_) if set.encrypted() && keys.is_empty() => (
                None,
                Some(
                    "The set is encrypted: its versions, tables and row counts are in its \
                     encrypted details file, read once its key is given."
                        .to_string(),
                ),
            ),
            Err(e) => (None, Some(format!("its details cannot be read: {e}"))),
        };
        Ok(FolderSet {
            set,
            details,
            details_note,
        })
    }

    /// Copies the set in `dir` under the backup root
    /// (`<root>/<project slug>/<folder name>`, checked as it is read) and
    /// adds it to the history; the folder itself is left as it is. A set
    /// the history already holds, or one with Supabase Storage files (kept
    /// beside the set, not in it), is refused. Blocking.
    pub fn import_folder_set(&self, dir: &Path) -> Result<Backup, EngineError> {
        let found = BackupSet::open_checked(dir, None, set::Sums::ManifestOnly)?;
        let m = &found.manifest;
        if let Some(b) = self.catalog().backup(m.id)? {
            return Err(EngineError::Failed(format!(
                "backup {} is already in the history ({}): restore it from there",
                m.id.short(),
                b.path.display()
            )));
        }
        if m.has_storage() {
            return Err(EngineError::Failed(format!(
                "backup {} holds Supabase Storage files, which are kept beside its folder (in \
                 objects/), not in it: restore it from the folder, or copy its project folder \
                 under the backup root and run `supabackup catalog rebuild`",
                m.id.short()
            )));
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| m.id.short());
        let target = self
            .backup_root()?
            .join(slugify(&m.project_name))
            .join(&name);
        if target.exists() {
            return Err(EngineError::Failed(format!(
                "{} exists already: move it away first",
                target.display()
            )));
        }
        copy_set(&found, &target)?;
        let record =
            BackupSet::open_checked(&target, Some(&found.manifest_sha), set::Sums::ManifestOnly)?
                .record();
        self.catalog().put_backup(&record)?;
        self.log(
            Level::Info,
            Some(record.project_id),
            format!(
                "backup {} of \"{}\" added to the history from {} (copied to {})",
                record.id.short(),
                record.project_name,
                dir.display(),
                target.display()
            ),
        );
        Ok(record)
    }
}

/// Copies a set's files into `target` through a `.partial` folder renamed
/// when complete, `SHA256SUMS` last.
fn copy_set(found: &BackupSet, target: &Path) -> Result<(), EngineError> {
    let partial: PathBuf = set::partial_dir(target);
    if partial.exists() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    set::codec::private_dir(&partial)
        .map_err(|e| EngineError::io("cannot create the folder", &partial, e))?;
    let m = &found.manifest;
    let files = m
        .parts
        .iter()
        .map(|p| p.file.clone())
        .chain(m.files_beside_parts().map(|f| f.file.clone()))
        .chain([MANIFEST.to_string(), SUMS.to_string()]);
    let copied = files.into_iter().try_for_each(|file| {
        let (from, to) = (found.dir.join(&file), partial.join(&file));
        if file == SUMS && !from.exists() {
            return Ok(());
        }
        std::fs::copy(&from, &to)
            .map(|_| ())
            .map_err(|e| EngineError::io("cannot copy the backup file", &from, e))
    });
    let done = copied.and_then(|_| set::sync_dir(&partial)).and_then(|_| {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| EngineError::io("cannot create the folder", parent, e))?;
        }
        std::fs::rename(&partial, target)
            .map_err(|e| EngineError::io("cannot move the copied set into place", target, e))
    });
    if done.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::DataDir;
    use crate::domain::{BackupId, BackupKind, Compression, Part, PartInfo, Profile, ProjectId};
    use crate::engine::set::{FORMAT, Manifest};

    /// A small set (one data part) written by hand into `dir`.
    fn write_set(dir: &Path) -> Manifest {
        std::fs::create_dir_all(dir).unwrap();
        let data = b"COPY public.t (id) FROM stdin;\n1\n\\.\n";
        std::fs::write(dir.join("data.sql"), data).unwrap();
        let (bytes, sha256) = set::codec::sha256_file(&dir.join("data.sql")).unwrap();
        let now = chrono::Utc::now();
        let m = Manifest {
            format: FORMAT,
            tool: "supabackup test".into(),
            id: BackupId::new(),
            project_id: ProjectId::new(),
            project_name: "Moved Shop".into(),
            environment: "production".into(),
            kind: BackupKind::Data,
            profile: Profile::Postgres,
            compression: Compression::new(crate::domain::Codec::None, None).unwrap(),
            started_at: now,
            finished_at: now,
            parts: vec![PartInfo {
                part: Part::Data,
                file: "data.sql".into(),
                bytes,
                raw_bytes: bytes,
                sha256,
            }],
            encryption: None,
            details: None,
            storage: None,
            objects: None,
            inline_details: Default::default(),
        };
        m.write(dir).unwrap();
        m
    }

    #[test]
    fn a_folder_set_is_read_checked_and_imported_once_under_the_backup_root() {
        let tmp = tempfile::tempdir().unwrap();
        let engine =
            Engine::open(DataDir::resolve(Some(&tmp.path().join("data"))).unwrap()).unwrap();
        let usb = tmp
            .path()
            .join("usb")
            .join("20250101T000000Z-data-abcd1234");
        let m = write_set(&usb);
        let read = engine.read_folder_set(&usb, &Keys::none()).unwrap();
        assert_eq!(read.set.manifest.id, m.id);
        let b = engine.import_folder_set(&usb).unwrap();
        assert_eq!(b.id, m.id);
        assert!(
            b.path
                .starts_with(engine.backup_root().unwrap().join("moved-shop"))
        );
        assert!(b.path.join("data.sql").is_file() && usb.join("data.sql").is_file());
        assert_eq!(engine.catalog().backup(m.id).unwrap().unwrap().path, b.path);
        let again = engine.import_folder_set(&usb).unwrap_err().to_string();
        assert!(again.contains("already in the history"), "{again}");
        // A changed file is caught before anything is read or copied.
        std::fs::write(
            usb.join("data.sql"),
            b"COPY public.t (id) FROM stdin;\n2\n\\.\n",
        )
        .unwrap();
        let damaged = engine
            .read_folder_set(&usb, &Keys::none())
            .unwrap_err()
            .to_string();
        assert!(damaged.contains("data.sql is damaged"), "{damaged}");
    }
}
