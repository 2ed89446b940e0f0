//! The backup set on disk, in one place: its folder's name and layout, the
//! `.partial` folder it is written in and promoted from, its parts' file
//! names, `manifest.json` and `SHA256SUMS`, finding a set by id or folder,
//! checking its checksums, reading its parts, removing it. Backup, verify,
//! restore, drill, rebuild, recovery and retention all go through here.
//!
//! ```text
//! <backup root>/<project-slug>/<UTC yyyymmddThhmmssZ>-<kind>-<short id>/
//!     manifest.json, details.json, roles.sql.zst, pre-data.sql.zst,
//!     data.sql.zst, post-data.sql.zst, storage.json.zst, objects.txt,
//!     SHA256SUMS (last)
//! <backup root>/<project-slug>/.partial/<same name>/   while it is written
//! <backup root>/<project-slug>/objects/                Storage files (engine::storage)
//! ```

mod check;
pub mod codec;
pub mod crypt;
mod manifest;

pub use check::{PartCheck, VerifyReport, describe, verify_dir, verify_dir_with};
pub use crypt::{Encryption, Keys, Sealing};
pub use manifest::{
    DETAILS, Details, FORMAT, FORMAT_DATABASE, FileInfo, MANIFEST, Manifest, SUMS, parse_sums,
    read_sums, sync_dir, write_synced,
};

use crate::domain::{Backup, BackupId, BackupKind, BackupStatus, Codec, Part, PartInfo, Project};
use crate::engine::{Engine, EngineError};
use chrono::{DateTime, Utc};
use codec::{private_dir, sha256_file, sql_reader};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where a set is: by its catalog record, or a folder (copied from another
/// machine, or found without a catalog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetRef {
    /// A backup the catalog knows.
    Id(BackupId),
    /// A backup folder.
    Folder(PathBuf),
    /// A backup the catalog knows, fetched from a destination into a
    /// staging folder (checked against the record like the local one).
    Fetched {
        /// The backup.
        id: BackupId,
        /// The staging folder holding its files.
        dir: PathBuf,
    },
}

impl std::fmt::Display for SetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "backup {}", id.short()),
            Self::Folder(p) => write!(f, "{}", p.display()),
            Self::Fetched { id, .. } => write!(f, "backup {} (fetched)", id.short()),
        }
    }
}

/// The folder a backup lands in: `<root>/<slug>/<UTC>-<kind>-<short id>`.
pub fn set_dir(
    root: &Path,
    project: &Project,
    started: DateTime<Utc>,
    kind: BackupKind,
    id: BackupId,
) -> PathBuf {
    root.join(project.slug()).join(format!(
        "{}-{}-{}",
        started.format("%Y%m%dT%H%M%SZ"),
        kind.as_str(),
        id.short()
    ))
}

/// The `.partial` folder a set is written in before it is promoted.
pub fn partial_dir(final_dir: &Path) -> PathBuf {
    let name = final_dir.file_name().unwrap_or_default();
    final_dir
        .parent()
        .map(|p| p.join(".partial").join(name))
        .unwrap_or_else(|| final_dir.with_extension("partial"))
}

/// A part's file name: `<part>.sql<codec suffix>`, and `.age` when the set
/// is encrypted (compressed first, then encrypted).
pub fn part_file_name(part: Part, codec: Codec, encrypted: bool) -> String {
    format!(
        "{}.sql{}{}",
        part.as_str(),
        codec.suffix(),
        if encrypted { ".age" } else { "" }
    )
}

/// Every set folder under the backup root (`<root>/<project>/<set>` holding
/// a manifest), skipping `.partial`.
pub fn scan(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(projects) = std::fs::read_dir(root) else {
        return out;
    };
    for p in projects.flatten().filter(|e| e.path().is_dir()) {
        let Ok(sets) = std::fs::read_dir(p.path()) else {
            continue;
        };
        for s in sets.flatten() {
            let path = s.path();
            if s.file_name() != ".partial" && path.join(MANIFEST).is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Removes a set's folder and its `.partial` twin, whichever exist.
pub fn remove(final_dir: &Path) -> Result<(), EngineError> {
    for dir in [final_dir.to_path_buf(), partial_dir(final_dir)] {
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| EngineError::io("cannot delete the backup folder", &dir, e))?;
        }
    }
    Ok(())
}

/// Removes what a failed or cancelled backup left in `.partial`; says what
/// could not be removed.
pub fn remove_partial(final_dir: &Path) -> Result<(), EngineError> {
    let partial = partial_dir(final_dir);
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .map_err(|e| EngineError::io("could not remove the incomplete backup", &partial, e))?;
    }
    Ok(())
}

/// Which checksums a check of a set asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sums {
    /// `SHA256SUMS` there and agreeing with the manifest, and every file
    /// matching the manifest: what verify checks.
    Required,
    /// Every file matching the manifest only (`--skip-checksums`: a set
    /// whose `SHA256SUMS` is lost).
    ManifestOnly,
}

/// A set on disk: its folder and manifest.
#[derive(Debug, Clone)]
pub struct BackupSet {
    /// The folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// SHA-256 of `manifest.json` as read.
    pub manifest_sha: String,
}

impl BackupSet {
    /// Reads the set in `dir` (its manifest; nothing else is checked).
    pub fn open(dir: &Path) -> Result<Self, EngineError> {
        let (manifest, manifest_sha) = Manifest::read_with_sha(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            manifest_sha,
        })
    }

    /// Reads the set and checks every file's size and SHA-256 (and the
    /// manifest's, when the catalog recorded it; with [`Sums::Required`],
    /// also that `SHA256SUMS` is there and agrees with the manifest, as
    /// verify checks): what a restore does before anything touches the
    /// target.
    pub fn open_checked(
        dir: &Path,
        expected_manifest: Option<&str>,
        sums: Sums,
    ) -> Result<Self, EngineError> {
        let set = Self::open(dir)?;
        if expected_manifest.is_some_and(|expected| set.manifest_sha != expected) {
            return Err(EngineError::Failed(
                "manifest.json does not match the catalog's checksum: the backup was changed; \
                 nothing was restored"
                    .into(),
            ));
        }
        if sums == Sums::Required {
            set.check_sums()?;
        }
        let files = set
            .manifest
            .parts
            .iter()
            .map(|p| (&p.file, p.bytes, &p.sha256))
            .chain(
                set.manifest
                    .files_beside_parts()
                    .map(|d| (&d.file, d.bytes, &d.sha256)),
            );
        for (file, size, expected) in files {
            let path = set.dir.join(file);
            let (bytes, sha) = sha256_file(&path)
                .map_err(|e| EngineError::io("cannot read the backup file", &path, e))?;
            if bytes != size || sha != *expected {
                return Err(EngineError::Failed(format!(
                    "{file} is damaged (its checksum does not match the manifest): nothing was \
                     restored; restore an older backup"
                )));
            }
        }
        Ok(set)
    }

    /// `SHA256SUMS` is there, lists the manifest with its checksum, and
    /// agrees with the manifest about every file.
    pub(crate) fn check_sums(&self) -> Result<(), EngineError> {
        let refused = |why: String| {
            EngineError::Failed(format!(
                "{why}: verify calls this backup damaged, so nothing was restored. Restore an \
                 older backup, or (knowing why) pass --skip-checksums to restore it with only \
                 the manifest's checksums checked"
            ))
        };
        let sums = read_sums(&self.dir).map_err(|e| {
            refused(match e {
                EngineError::Io { source, .. } => format!("{SUMS} cannot be read ({source})"),
                e => e.to_string(),
            })
        })?;
        let listed = |file: &str| {
            sums.iter()
                .find(|(_, f)| f == file)
                .map(|(s, _)| s.as_str())
        };
        if listed(MANIFEST) != Some(self.manifest_sha.as_str()) {
            return Err(refused(format!("{SUMS} does not match {MANIFEST}")));
        }
        let files = self
            .manifest
            .parts
            .iter()
            .map(|p| (&p.file, &p.sha256))
            .chain(
                self.manifest
                    .files_beside_parts()
                    .map(|d| (&d.file, &d.sha256)),
            );
        for (file, sha) in files {
            if listed(file) != Some(sha.as_str()) {
                return Err(refused(format!(
                    "{SUMS} and {MANIFEST} disagree about {file}"
                )));
            }
        }
        Ok(())
    }

    /// True when the parts and details are encrypted.
    pub fn encrypted(&self) -> bool {
        self.manifest.encryption.is_some()
    }

    /// The keys to read this set with: `keys` when it is encrypted, none
    /// when it is not.
    fn keys<'a>(&self, keys: &'a Keys) -> Option<&'a Keys> {
        self.encrypted().then_some(keys)
    }

    /// What the set says about the data (decrypted with `keys` when the set
    /// is encrypted; sets of format 1 carry it in the manifest).
    pub fn details(&self, keys: &Keys) -> Result<Details, EngineError> {
        match &self.manifest.details {
            Some(info) => check::read_details(&self.dir, info, self.keys(keys)),
            None => Ok(self.manifest.inline_details.clone()),
        }
    }

    /// Where a part's file is.
    pub fn part_path(&self, part: &PartInfo) -> PathBuf {
        self.dir.join(&part.file)
    }

    /// A part's SQL, decrypted (with `keys`, when the set is encrypted) and
    /// decompressed as it is read.
    pub fn part_reader(
        &self,
        part: &PartInfo,
        keys: &Keys,
    ) -> Result<Box<dyn Read + Send>, EngineError> {
        let path = self.part_path(part);
        let file = std::fs::File::open(&path)
            .map_err(|e| EngineError::io("cannot open the backup file", &path, e))?;
        sql_reader(
            file,
            self.manifest.compression.codec,
            self.keys(keys),
            &part.file,
        )
    }

    /// Checks that `keys` open every encrypted file of the set (the age
    /// header of each: a wrong key or passphrase shows here, before a
    /// restore touches its target; the checksums cover the rest). Nothing
    /// to check for a set that is not encrypted. Blocking.
    pub fn check_keys(&self, keys: &Keys) -> Result<(), EngineError> {
        if !self.encrypted() {
            return Ok(());
        }
        let files = self
            .manifest
            .parts
            .iter()
            .map(|p| &p.file)
            .chain(self.manifest.files_beside_parts().map(|d| &d.file))
            .filter(|f| f.ends_with(".age"));
        for file in files {
            let path = self.dir.join(file);
            let f = std::fs::File::open(&path)
                .map_err(|e| EngineError::io("cannot open the backup file", &path, e))?;
            keys.open(std::io::BufReader::new(f), file)?;
        }
        Ok(())
    }

    /// The catalog record this set stands for (for a rebuild); rows and
    /// versions when the details read without a key (not for an encrypted
    /// set).
    pub fn record(&self) -> Backup {
        let details = if self.encrypted() {
            None
        } else {
            self.details(&Keys::none()).ok()
        };
        let details = details.as_ref();
        let m = &self.manifest;
        Backup {
            id: m.id,
            project_id: m.project_id,
            project_name: m.project_name.clone(),
            kind: m.kind,
            profile: m.profile,
            compression: m.compression,
            status: BackupStatus::Completed,
            path: self.dir.clone(),
            bytes: m.parts.iter().map(|p| p.bytes).sum(),
            raw_bytes: m.parts.iter().map(|p| p.raw_bytes).sum(),
            rows: details.map(Details::rows).unwrap_or(0),
            started_at: m.started_at,
            finished_at: Some(m.finished_at),
            manifest_sha256: Some(self.manifest_sha.clone()),
            error: None,
            pinned: false,
            job_id: None,
            server_version: details.map(|d| d.server_version.clone()),
            pg_dump_version: details.map(|d| d.pg_dump_version.clone()),
            parts: m.parts.clone(),
            pid: None,
            extra: crate::domain::Extra(crate::domain::BackupExtra {
                warnings: details.map(Details::warnings).unwrap_or_default(),
                encryption: m.encryption.clone(),
                storage: self.storage_summary(),
                ..Default::default()
            }),
        }
    }

    /// What the set holds of Storage files, for its record: counted from
    /// the index when it reads without a key (an encrypted set: only that
    /// it has them).
    pub fn storage_summary(&self) -> Option<crate::domain::StorageSummary> {
        let info = self.manifest.storage.as_ref()?;
        let index = if self.encrypted() {
            None
        } else {
            crate::engine::storage::read_index(&self.dir, info, &Keys::none()).ok()
        };
        Some(match index {
            Some(ix) => crate::domain::StorageSummary {
                buckets: ix.buckets.len() as u64,
                objects: ix.objects.len() as u64,
                bytes: ix.bytes(),
                access: ix.access,
                ..Default::default()
            },
            None => crate::domain::StorageSummary::default(),
        })
    }
}

/// A set being written: parts go into its `.partial` folder; `seal` writes
/// the manifest and checksums and promotes it. Dropped unsealed, nothing of
/// it is left.
pub struct SetWriter {
    final_dir: PathBuf,
    partial: PathBuf,
    sealed: bool,
}

impl SetWriter {
    /// Creates the `.partial` folder for `final_dir` (the project folder and
    /// below owner-only: they hold the data and role password hashes).
    pub fn create(final_dir: &Path) -> Result<Self, EngineError> {
        let partial = partial_dir(final_dir);
        for dir in [
            partial.parent().and_then(Path::parent),
            partial.parent(),
            Some(partial.as_path()),
        ]
        .into_iter()
        .flatten()
        {
            private_dir(dir)
                .map_err(|e| EngineError::io("cannot create the backup folder", dir, e))?;
        }
        Ok(Self {
            final_dir: final_dir.to_path_buf(),
            partial,
            sealed: false,
        })
    }

    /// The folder the parts are written in.
    pub fn dir(&self) -> &Path {
        &self.partial
    }

    /// Where a part's file goes.
    pub fn part_path(&self, part: Part, codec: Codec, encrypted: bool) -> PathBuf {
        self.partial.join(part_file_name(part, codec, encrypted))
    }

    /// Writes the details file (`details.json`, or `details.json.age`
    /// encrypted with `sealing`), fsynced.
    pub fn write_details(
        &self,
        details: &Details,
        sealing: Option<&Sealing>,
    ) -> Result<FileInfo, EngineError> {
        let file = format!("{DETAILS}{}", if sealing.is_some() { ".age" } else { "" });
        let path = self.partial.join(&file);
        let json = serde_json::to_vec_pretty(details)
            .map_err(|e| EngineError::Failed(format!("cannot encode the details: {e}")))?;
        let (bytes, sha256) = codec::write_small(&path, &json, sealing)
            .map_err(|e| EngineError::io("cannot write", &path, e))?;
        Ok(FileInfo {
            file,
            bytes,
            sha256,
        })
    }

    /// Writes `manifest.json` and `SHA256SUMS` (each fsynced), then moves the
    /// folder into place. Returns the manifest's SHA-256.
    pub fn seal(mut self, manifest: &Manifest) -> Result<String, EngineError> {
        let sha = manifest.write(&self.partial)?;
        manifest::sync_dir(&self.partial)?;
        if self.final_dir.exists() {
            return Err(EngineError::Failed(format!(
                "{} already exists: nothing was overwritten",
                self.final_dir.display()
            )));
        }
        std::fs::rename(&self.partial, &self.final_dir).map_err(|e| {
            EngineError::io(
                "cannot move the finished backup into place",
                &self.final_dir,
                e,
            )
        })?;
        if let Some(parent) = self.final_dir.parent() {
            manifest::sync_dir(parent)?;
        }
        self.sealed = true;
        crate::engine::recover::crash_point("set-promoted");
        Ok(sha)
    }
}

impl Drop for SetWriter {
    fn drop(&mut self) {
        if !self.sealed && self.partial.exists() {
            let _ = std::fs::remove_dir_all(&self.partial);
        }
    }
}

impl Engine {
    /// A set's folder, the manifest checksum the catalog recorded and the
    /// record, for a set given by id or folder. Only completed backups have
    /// a set.
    pub fn locate_set(
        &self,
        set: &SetRef,
    ) -> Result<(PathBuf, Option<String>, Option<Backup>), EngineError> {
        let id = match set {
            SetRef::Folder(dir) => {
                if !dir.is_dir() {
                    return Err(EngineError::Failed(format!(
                        "{} is not a folder: give a backup id or a backup folder",
                        dir.display()
                    )));
                }
                return Ok((dir.clone(), None, None));
            }
            SetRef::Id(id) => *id,
            SetRef::Fetched { id, dir } => {
                let b = self.backup_record(*id)?;
                return Ok((dir.clone(), b.manifest_sha256.clone(), Some(b)));
            }
        };
        let b = self
            .catalog()
            .backup(id)?
            .ok_or_else(|| EngineError::Failed(format!("no backup {}", id.short())))?;
        if b.status != BackupStatus::Completed {
            return Err(EngineError::Failed(format!(
                "backup {} is {}: only completed backups have files to use",
                b.id.short(),
                b.status
            )));
        }
        if !b.path.is_dir() && b.extra.remote_only {
            let at: Vec<String> = b
                .extra
                .copies
                .iter()
                .filter(|c| matches!(c.status, crate::domain::CopyStatus::Copied))
                .map(|c| self.destination_name(c.destination))
                .collect();
            return Err(EngineError::Failed(format!(
                "backup {} is kept only at its destination(s) ({}): read it from there with \
                 `--at NAME`",
                b.id.short(),
                at.join(", ")
            )));
        }
        if !b.path.is_dir() {
            return Err(EngineError::Failed(format!(
                "the folder of backup {} is gone ({}): it was moved or deleted outside supabackup",
                b.id.short(),
                b.path.display()
            )));
        }
        Ok((b.path.clone(), b.manifest_sha256.clone(), Some(b)))
    }
}
