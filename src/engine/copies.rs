//! Copies of backup sets at destinations: uploading a completed set (its
//! files streamed, `SHA256SUMS` last, so a remote set without it is
//! incomplete), recording each copy's state on the backup record, `sync`
//! for whatever is missing, removing the local folder of a remote-only
//! project once every copy is verified, fetching a remote set into a
//! staging folder for verify and restore, and deleting copies.
//!
//! At a destination a set has the same relative path as under the backup
//! root: `<project-slug>/<UTC>-<kind>-<short id>/<file>`, and the Storage
//! files its `objects.txt` lists are beside the sets, as locally:
//! `<project-slug>/objects/<ab>/<sha256>[.zst][.age]`, each uploaded once
//! however many sets refer to it, and removed with the last set that does.

use crate::domain::{
    Backup, BackupId, BackupStatus, CopyStatus, Destination, DestinationId, Level, ProjectId,
};
use crate::engine::cancel::unless_cancelled;
use crate::engine::destinations::remote_error;
use crate::engine::lease::{Collecting, Lease, LeaseRecord};
use crate::engine::remote::{Remote, RemoteError};
use crate::engine::set::{self, MANIFEST, SUMS, SetRef};
use crate::engine::storage::{OBJECTS_DIR, OBJECTS_LIST, parse_objects_list, read_objects_list};
use crate::engine::{CancelToken, Engine, EngineError, Progress, Unlocked};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

mod check;

/// How many times one file's upload is tried before the copy is marked failed.
const FILE_ATTEMPTS: u32 = 3;

/// The key prefix of a set at a destination: `<project-slug>/<set folder>`.
pub fn remote_prefix(b: &Backup) -> String {
    let name = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    format!("{}/{}", name(b.path.parent()), name(Some(b.path.as_path())))
}

/// The folder name (slug) of a backup's project, as at a destination.
pub(crate) fn project_slug(b: &Backup) -> String {
    b.path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The key prefix of a project's stored Storage files at a destination:
/// `<project-slug>/objects`.
pub fn remote_objects_prefix(b: &Backup) -> String {
    let prefix = remote_prefix(b);
    let slug = prefix.split('/').next().unwrap_or_default();
    format!("{slug}/{OBJECTS_DIR}")
}

/// The stored Storage files a local set refers to (from its
/// `objects.txt`): (name under `objects/`, SHA-256 of the stored bytes);
/// none for a set without Storage files.
fn set_objects(dir: &Path) -> Result<Vec<(String, String)>, EngineError> {
    let list = dir.join(OBJECTS_LIST);
    if list.is_file() {
        read_objects_list(&list)
    } else {
        Ok(Vec::new())
    }
}

/// What `sync` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    /// Copies made: (backup, destination).
    pub copied: Vec<(BackupId, String)>,
    /// Copies that failed: (backup, destination, why).
    pub failed: Vec<(BackupId, String, String)>,
    /// Copies that could not be made because the local folder is gone:
    /// (backup, destination).
    pub unavailable: Vec<(BackupId, String)>,
    /// Local folders removed because every copy was verified (remote-only
    /// projects).
    pub removed_local: Vec<BackupId>,
}

/// A set fetched from a destination into a staging folder; the folder is
/// removed when this is dropped.
#[derive(Debug)]
pub struct Fetched {
    /// The backup.
    pub id: BackupId,
    /// The destination it came from.
    pub destination: String,
    /// The staging folder.
    pub dir: PathBuf,
    /// Files whose bytes did not match `SHA256SUMS` as they arrived.
    pub mismatched: Vec<String>,
}

impl Fetched {
    /// The set to verify or restore.
    pub fn set_ref(&self) -> SetRef {
        SetRef::Fetched {
            id: self.id,
            dir: self.dir.clone(),
        }
    }
}

impl Drop for Fetched {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh owner-only folder under `<data dir>/staging/`, removed when
/// dropped (and, after a crash, when the engine next opens).
pub(crate) struct Staging(PathBuf);

impl Staging {
    /// `<data dir>/staging/<name>-<pid>-<n>`, created empty.
    pub(crate) fn new(engine: &Engine, name: &str) -> Result<Self, EngineError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let root = staging_root(engine);
        set::codec::private_dir(&root)
            .map_err(|e| EngineError::io("cannot create the staging folder", &root, e))?;
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = root.join(format!("{name}-{}-{n}", std::process::id()));
        if dir.exists() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        set::codec::private_dir(&dir)
            .map_err(|e| EngineError::io("cannot create the staging folder", &dir, e))?;
        Ok(Self(dir))
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Hands the folder over (its new owner removes it).
    fn keep(self) -> PathBuf {
        let dir = self.0.clone();
        std::mem::forget(self);
        dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where sets fetched from destinations are staged.
pub(crate) fn staging_root(engine: &Engine) -> PathBuf {
    engine.data_dir().root.join("staging")
}

impl Engine {
    /// Where a backup is copied: the destinations its record already names,
    /// and those of its schedule (when the schedule names its own) or else
    /// its project. Removed destinations are left out.
    pub fn copy_targets(&self, b: &Backup) -> Result<Vec<Destination>, EngineError> {
        let mut ids: Vec<DestinationId> = b.extra.copies.iter().map(|c| c.destination).collect();
        let job = match b.job_id {
            Some(j) => self.catalog().job(j)?,
            None => None,
        };
        let wanted = match job.and_then(|j| j.extra.0.copy_to) {
            Some(list) => list,
            None => self
                .catalog()
                .project(b.project_id)?
                .map(|p| p.extra.0.copy_to)
                .unwrap_or_default(),
        };
        for id in wanted {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut out = Vec::new();
        for id in ids {
            if let Some(d) = self.catalog().destination(id)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// The destinations a completed backup should be at and is not: no copy
    /// there yet, pending, or failed (with `due`: only once its back-off
    /// from `first_wait` has passed). Not for a backup whose local folder
    /// is gone (there is nothing to copy from).
    pub fn missing_copies(
        &self,
        b: &Backup,
        due: Option<DateTime<Utc>>,
        first_wait: std::time::Duration,
    ) -> Result<Vec<Destination>, EngineError> {
        if b.status != BackupStatus::Completed || b.extra.remote_only {
            return Ok(Vec::new());
        }
        let mut out = self.copy_targets(b)?;
        out.retain(|d| match b.extra.copy(d.id) {
            None => true,
            Some(c) => match &c.status {
                CopyStatus::Copied => false,
                CopyStatus::Pending | CopyStatus::Damaged { .. } => true,
                CopyStatus::Failed { .. } => due.is_none_or(|now| {
                    let wait = crate::scheduler::backoff(c.attempts.max(1), first_wait);
                    c.at + chrono::Duration::from_std(wait).unwrap_or_default() <= now
                }),
            },
        });
        Ok(out)
    }

    /// True when a copy is waiting that the scheduler should make now.
    pub fn copies_due(&self, now: DateTime<Utc>) -> Result<bool, EngineError> {
        if self.catalog().destinations()?.is_empty() {
            return Ok(false);
        }
        let first_wait = self.retry_delay().unwrap_or_default();
        for b in self.catalog().backups()? {
            if b.path.is_dir() && !self.missing_copies(&b, Some(now), first_wait)?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn set_copy(&self, id: BackupId, d: DestinationId, status: CopyStatus) -> Option<Backup> {
        match self
            .catalog()
            .update_backup(id, |b| b.extra.set_copy(d, status))
        {
            Ok(b) => b,
            Err(e) => {
                self.log(
                    Level::Warning,
                    None,
                    format!(
                        "could not record the copy state of backup {}: {e}",
                        id.short()
                    ),
                );
                None
            }
        }
    }
}

impl Unlocked {
    /// After a backup completed: copies it to each of its destinations (the
    /// progress shows the upload; a cancel leaves the copies pending for
    /// `sync`), then removes the local folder when the project keeps its
    /// backups remote-only and every copy was verified. Failures are on the
    /// record and in the activity log; the backup stays completed.
    pub(crate) async fn copy_completed(
        &self,
        record: &mut Backup,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) {
        let targets = match self.copy_targets(record) {
            Ok(t) => t,
            Err(e) => {
                self.log(
                    Level::Warning,
                    Some(record.project_id),
                    format!(
                        "could not read where backup {} is copied: {e}",
                        record.id.short()
                    ),
                );
                return;
            }
        };
        if targets.is_empty() {
            return;
        }
        for d in &targets {
            if let Some(b) = self.set_copy(record.id, d.id, CopyStatus::Pending) {
                *record = b;
            }
        }
        for d in &targets {
            if cancel.is_cancelled() {
                break;
            }
            let _ = self.copy_backup(record.id, d, progress, cancel).await;
        }
        let _ = self.apply_remote_only(record.id);
        if let Ok(b) = self.backup_record(record.id) {
            *record = b;
        }
    }

    /// Copies one completed backup to one destination: every file streamed,
    /// each checked against `SHA256SUMS` as it is sent, `SHA256SUMS` last,
    /// then the listing compared with the local files. A failed file is
    /// tried again with back-off. The record says how it ended.
    pub async fn copy_backup(
        &self,
        id: BackupId,
        d: &Destination,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        let b = self.backup_record(id)?;
        // A copy verify found damaged gets every file sent again, its
        // stored Storage files included (same name is no proof there).
        let resend = b
            .extra
            .copy(d.id)
            .is_some_and(|c| matches!(c.status, CopyStatus::Damaged { .. }));
        let tries = AtomicU32::new(0);
        let outcome = self
            .upload_set(&b, d, resend, &tries, progress, cancel)
            .await;
        let (status, level, what) = match &outcome {
            Ok(bytes) => (
                CopyStatus::Copied,
                Level::Info,
                format!(
                    "backup {} copied to \"{}\" ({})",
                    b.id.short(),
                    d.name,
                    crate::domain::human_bytes(*bytes)
                ),
            ),
            Err(EngineError::Cancelled) => (
                CopyStatus::Pending,
                Level::Warning,
                format!(
                    "copy of backup {} to \"{}\" cancelled: `supabackup sync` finishes it",
                    b.id.short(),
                    d.name
                ),
            ),
            Err(e) => (
                CopyStatus::Failed {
                    error: e.to_string(),
                },
                Level::Error,
                format!(
                    "copy of backup {} to \"{}\" failed: {e}; `supabackup sync` tries again",
                    b.id.short(),
                    d.name
                ),
            ),
        };
        let tries = match status {
            CopyStatus::Pending => 0,
            _ => tries.load(Ordering::Relaxed).max(1),
        };
        if let Err(e) = self
            .catalog()
            .update_backup(b.id, |r| r.extra.set_copy_tried(d.id, status, tries))
        {
            self.log(
                Level::Warning,
                None,
                format!(
                    "could not record the copy state of backup {}: {e}",
                    b.id.short()
                ),
            );
        }
        self.log(level, Some(b.project_id), what);
        outcome.map(|_| ())
    }

    /// The upload itself; returns the bytes sent.
    async fn upload_set(
        &self,
        b: &Backup,
        d: &Destination,
        resend: bool,
        tries: &AtomicU32,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<u64, EngineError> {
        if b.status != BackupStatus::Completed {
            return Err(EngineError::Failed(format!(
                "backup {} is {}: only completed backups are copied",
                b.id.short(),
                b.status
            )));
        }
        if !b.path.is_dir() {
            return Err(EngineError::Failed(format!(
                "the local folder of backup {} is gone ({}): it cannot be copied from here",
                b.id.short(),
                b.path.display()
            )));
        }
        let sums = set::read_sums(&b.path)?;
        let mut files: Vec<(String, u64)> = Vec::new();
        for (_, file) in &sums {
            let path = b.path.join(file);
            let size = std::fs::metadata(&path)
                .map_err(|e| EngineError::io("cannot read the backup file", &path, e))?
                .len();
            files.push((file.clone(), size));
        }
        let sums_size = std::fs::metadata(b.path.join(SUMS))
            .map(|m| m.len())
            .unwrap_or(0);
        files.push((SUMS.to_string(), sums_size));
        let expected: BTreeMap<&str, &str> =
            sums.iter().map(|(s, f)| (f.as_str(), s.as_str())).collect();
        // The Storage files it refers to, from the project's store.
        let store = b
            .path
            .parent()
            .map(|p| p.join(OBJECTS_DIR))
            .unwrap_or_default();
        let mut objects: Vec<(String, PathBuf, u64, String)> = Vec::new();
        for (name, sha) in set_objects(&b.path)? {
            let path = store.join(&name);
            let size = std::fs::metadata(&path)
                .map_err(|e| {
                    EngineError::io(
                        "a stored Storage file of the backup is missing (run `supabackup verify`)",
                        &path,
                        e,
                    )
                })?
                .len();
            objects.push((name, path, size, sha));
        }

        let remote = self.remote(d)?;
        unless_cancelled(cancel, remote.reachable())
            .await?
            .map_err(|e| remote_error(d, e))?;
        // Its Storage files are there before the `objects.txt` that refers
        // to them: a lease keeps another machine's collection off them.
        let lease = if objects.is_empty() {
            None
        } else {
            Some(self.write_lease(&remote, d, b, progress, cancel).await?)
        };
        let plan = SendPlan {
            files: &files,
            expected: &expected,
            objects: &objects,
            resend,
            tries,
        };
        let sent = self.send_set(b, d, &remote, plan, progress, cancel).await;
        if let Some(lease) = lease {
            lease.release().await;
        }
        sent
    }

    /// Takes the lease a copy holds at `d` while it writes, waiting while
    /// another machine removes unused stored files there.
    async fn write_lease(
        &self,
        remote: &Remote,
        d: &Destination,
        b: &Backup,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<Lease, EngineError> {
        let slug = project_slug(b);
        let p = progress.clone();
        let name = d.name.clone();
        let waiting = move |r: &LeaseRecord| {
            p.set_current(format!(
                "waiting at {name}: {} is removing unused stored files",
                r.describe()
            ))
        };
        Lease::for_writing(remote, &slug, cancel, &waiting)
            .await
            .map_err(|e| e.at(&format!("destination \"{}\"", d.name)))
    }

    /// The copy itself, once the destination answers: the Storage files not
    /// there yet (all of them when `resend`: a damaged copy is replaced), the
    /// set's files, `SHA256SUMS` last, then the listing compared with what
    /// was sent; `tries` counts every upload attempt. Returns the bytes of
    /// the set.
    async fn send_set(
        &self,
        b: &Backup,
        d: &Destination,
        remote: &Remote,
        plan: SendPlan<'_>,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<u64, EngineError> {
        let SendPlan {
            files,
            expected,
            objects,
            resend,
            tries,
        } = plan;
        let remote = remote.clone();
        let prefix = remote_prefix(b);
        let objects_prefix = remote_objects_prefix(b);
        let sums_key = format!("{prefix}/{SUMS}");
        // A set being replaced must not look complete while it is.
        unless_cancelled(cancel, remote.delete(&sums_key))
            .await?
            .map_err(|e| remote_error(d, e))?;
        // Stored files already there (same name: same content) are not sent again.
        let present = if objects.is_empty() || resend {
            BTreeMap::new()
        } else {
            self.listed_sizes(&remote, d, &objects_prefix, cancel)
                .await?
        };
        let uploads: Vec<&(String, PathBuf, u64, String)> = objects
            .iter()
            .filter(|(name, _, size, _)| {
                present.get(&format!("{objects_prefix}/{name}")) != Some(size)
            })
            .collect();
        let total: u64 = files.iter().map(|(_, n)| n).sum::<u64>()
            + uploads.iter().map(|(_, _, n, _)| n).sum::<u64>();
        progress.set_current(format!("copying to {}", d.name));
        progress.set_total(total);
        progress.set_read(0);

        let mut done = 0u64;
        // The Storage files first: a set whose `SHA256SUMS` is there has them.
        for (name, path, size, want) in uploads {
            let key = format!("{objects_prefix}/{name}");
            let sent = self
                .put_retrying(
                    b,
                    d,
                    &remote,
                    (&key, name),
                    path,
                    done,
                    tries,
                    progress,
                    cancel,
                )
                .await?;
            if sent != *want {
                return Err(EngineError::Failed(format!(
                    "the stored Storage file {name} of backup {} no longer matches its checksum: \
                     the local store is damaged (run `supabackup verify {}`); it was not copied \
                     as good",
                    b.id.short(),
                    b.id.short()
                )));
            }
            done += size;
            progress.set_read(done);
        }
        crate::engine::hold::hold_point("copy-objects").await;
        for (file, size) in files {
            let key = format!("{prefix}/{file}");
            let path = b.path.join(file);
            let sent = self
                .put_retrying(
                    b,
                    d,
                    &remote,
                    (&key, file),
                    &path,
                    done,
                    tries,
                    progress,
                    cancel,
                )
                .await?;
            if let Some(want) = expected.get(file.as_str())
                && *want != sent
            {
                return Err(EngineError::Failed(format!(
                    "{file} of backup {} no longer matches its checksum: the local copy is \
                     damaged (run `supabackup verify {}`); it was not copied as good",
                    b.id.short(),
                    b.id.short()
                )));
            }
            done += size;
            progress.set_read(done);
        }
        // Every file is there, with the size it has here.
        let mut listed = self.listed_sizes(&remote, d, &prefix, cancel).await?;
        if !objects.is_empty() {
            listed.extend(
                self.listed_sizes(&remote, d, &objects_prefix, cancel)
                    .await?,
            );
        }
        let wanted = files
            .iter()
            .map(|(file, size)| (format!("{prefix}/{file}"), *size))
            .chain(
                objects
                    .iter()
                    .map(|(name, _, size, _)| (format!("{objects_prefix}/{name}"), *size)),
            );
        for (key, size) in wanted {
            if listed.get(&key) != Some(&size) {
                return Err(EngineError::Failed(format!(
                    "after the upload, {key} is {} at \"{}\" instead of {size} bytes: the \
                     destination did not keep what was sent",
                    listed
                        .get(&key)
                        .map_or("missing".to_string(), |n| format!("{n} bytes")),
                    d.name
                )));
            }
        }
        Ok(total)
    }

    /// Every object under `prefix` at `d` with its size.
    async fn listed_sizes(
        &self,
        remote: &Remote,
        d: &Destination,
        prefix: &str,
        cancel: &CancelToken,
    ) -> Result<BTreeMap<String, u64>, EngineError> {
        Ok(unless_cancelled(cancel, remote.list(prefix))
            .await?
            .map_err(|e| remote_error(d, e))?
            .into_iter()
            .map(|o| (o.key, o.size))
            .collect())
    }

    /// Uploads one file to `key` (`label` names it in the log), trying
    /// again after a pause when the network or the disk failed (each try
    /// counted in `tries` beyond the first, each pause a progress notice);
    /// progress counts on from `base`. Returns the SHA-256 of what was
    /// sent.
    #[allow(clippy::too_many_arguments)]
    async fn put_retrying(
        &self,
        b: &Backup,
        d: &Destination,
        remote: &Remote,
        (key, label): (&str, &str),
        path: &Path,
        base: u64,
        tries: &AtomicU32,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<String, EngineError> {
        let first_wait = self.retry_delay().unwrap_or_default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The copy's tries: the first file's first try, and each retry.
            if attempt > 1 || tries.load(Ordering::Relaxed) == 0 {
                tries.fetch_add(1, Ordering::Relaxed);
            }
            let p = progress.clone();
            let report = move |n: u64| p.set_read(base + n);
            let put = remote.put_file(key, path, &report);
            match unless_cancelled(cancel, put).await? {
                Ok(sha) => return Ok(sha),
                Err(e) if attempt < FILE_ATTEMPTS && transient(&e) => {
                    let wait = crate::scheduler::backoff(attempt, first_wait);
                    let what = format!(
                        "uploading {label} of backup {} to \"{}\" failed (attempt {attempt} of \
                         {FILE_ATTEMPTS}); trying again in {}s: {}",
                        b.id.short(),
                        d.name,
                        wait.as_secs(),
                        remote_error(d, e)
                    );
                    progress.notice(what.clone());
                    progress.set_current(format!(
                        "copying to {}: waiting {}s to try again",
                        d.name,
                        wait.as_secs()
                    ));
                    self.log(Level::Warning, Some(b.project_id), what);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return Err(EngineError::Cancelled),
                    }
                    progress.set_current(format!("copying to {}", d.name));
                }
                Err(e) => return Err(remote_error(d, e)),
            }
        }
    }

    /// Removes the local folder of a backup whose project keeps backups
    /// remote-only, once every destination has a verified copy. Returns
    /// whether it did.
    pub fn apply_remote_only(&self, id: BackupId) -> Result<bool, EngineError> {
        let b = self.backup_record(id)?;
        let remote_only = self
            .catalog()
            .project(b.project_id)?
            .is_some_and(|p| p.extra.remote_only);
        if !remote_only || b.extra.remote_only || b.pinned || b.status != BackupStatus::Completed {
            return Ok(false);
        }
        let targets = self.copy_targets(&b)?;
        let all_copied = !targets.is_empty()
            && targets.iter().all(|d| {
                b.extra
                    .copy(d.id)
                    .is_some_and(|c| matches!(c.status, CopyStatus::Copied))
            });
        if !all_copied {
            return Ok(false);
        }
        set::remove(&b.path)?;
        self.catalog()
            .update_backup(id, |r| r.extra.remote_only = true)?;
        self.log(
            Level::Info,
            Some(b.project_id),
            format!(
                "backup {}: every copy verified; the local folder {} was removed (the project \
                 keeps its backups remote-only)",
                b.id.short(),
                b.path.display()
            ),
        );
        Ok(true)
    }

    /// Copies whatever is missing: every completed backup (of `project`,
    /// or all) to each destination it should be at and is not yet. With
    /// `due`, a failed copy waits for its back-off (the scheduler's sync);
    /// without, everything missing is tried now. A backup whose project is
    /// busy (a backup of it is running and copies its own) is left for the
    /// next sync.
    pub async fn sync(
        &self,
        project: Option<ProjectId>,
        due: Option<DateTime<Utc>>,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<SyncReport, EngineError> {
        let mut backups = self.catalog().backups()?;
        backups.reverse(); // oldest first
        let first_wait = self.retry_delay().unwrap_or_default();
        let mut report = SyncReport::default();
        for b in backups {
            if project.is_some_and(|p| p != b.project_id) {
                continue;
            }
            let wanted = self.missing_copies(&b, due, first_wait)?;
            if wanted.is_empty() {
                if self.apply_remote_only(b.id).unwrap_or(false) {
                    report.removed_local.push(b.id);
                }
                continue;
            }
            let lock = self.project_lock(b.project_id);
            let Ok(_busy) = lock.try_lock() else {
                continue;
            };
            for d in wanted {
                if !b.path.is_dir() {
                    report.unavailable.push((b.id, d.name.clone()));
                    continue;
                }
                if cancel.is_cancelled() {
                    return Err(EngineError::Cancelled);
                }
                match self.copy_backup(b.id, &d, progress, cancel).await {
                    Ok(()) => report.copied.push((b.id, d.name.clone())),
                    Err(EngineError::Cancelled) => return Err(EngineError::Cancelled),
                    Err(e) => report.failed.push((b.id, d.name.clone(), e.to_string())),
                }
            }
            if self.apply_remote_only(b.id)? {
                report.removed_local.push(b.id);
            }
        }
        if !report.copied.is_empty() || !report.failed.is_empty() {
            self.log(
                if report.failed.is_empty() {
                    Level::Info
                } else {
                    Level::Warning
                },
                project,
                format!(
                    "sync: {} copy(ies) made, {} failed",
                    report.copied.len(),
                    report.failed.len()
                ),
            );
        }
        Ok(report)
    }

    /// The destination a backup is read from: `at` (by name or id) when
    /// given, else the first one holding a complete copy.
    pub fn copy_source(&self, b: &Backup, at: Option<&str>) -> Result<Destination, EngineError> {
        if let Some(name) = at {
            return self.find_destination(name);
        }
        for c in &b.extra.copies {
            if matches!(c.status, CopyStatus::Copied)
                && let Some(d) = self.catalog().destination(c.destination)?
            {
                return Ok(d);
            }
        }
        Err(EngineError::Failed(format!(
            "backup {} has no complete copy at any destination (see `supabackup backups show {}`)",
            b.id.short(),
            b.id.short()
        )))
    }

    /// Downloads a backup's copy at `d` into a staging folder under the data
    /// dir, each file hashed as it arrives and compared with the copy's
    /// `SHA256SUMS`. `strict`: the first mismatch is an error (for a
    /// restore); otherwise the mismatches are noted and a verify of the
    /// staged set reports them.
    pub async fn fetch_set(
        &self,
        id: BackupId,
        d: &Destination,
        strict: bool,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<Fetched, EngineError> {
        let b = self.backup_record(id)?;
        let remote = self.remote(d)?;
        let prefix = remote_prefix(&b);
        let staging = Staging::new(self, &prefix.replace('/', "_"))?;
        let dir = staging.keep();
        let mut fetched = Fetched {
            id,
            destination: d.name.clone(),
            dir: dir.clone(),
            mismatched: Vec::new(),
        };
        progress.set_current(format!("fetching from {}", d.name));
        let sums_bytes =
            match unless_cancelled(cancel, remote.get_bytes(&format!("{prefix}/{SUMS}"))).await? {
                Ok(bytes) => bytes,
                Err(RemoteError::NotFound { .. }) => {
                    self.note_copy_damage(&b, d, format!("{SUMS} is missing"));
                    return Err(EngineError::Failed(format!(
                        "the copy of backup {} at \"{}\" is incomplete (it has no {SUMS}): \
                         recorded as damaged; `supabackup sync` copies it again, or read it from \
                         another destination",
                        b.id.short(),
                        d.name
                    )));
                }
                Err(e) => return Err(remote_error(d, e)),
            };
        let sums_text = String::from_utf8_lossy(&sums_bytes).into_owned();
        let sums = set::parse_sums(&sums_text);
        if !sums.iter().any(|(_, f)| f == MANIFEST) {
            return Err(EngineError::Failed(format!(
                "{SUMS} of backup {} at \"{}\" does not list {MANIFEST}: it is not a supabackup set",
                b.id.short(),
                d.name
            )));
        }
        let listed = unless_cancelled(cancel, remote.list(&prefix))
            .await?
            .map_err(|e| remote_error(d, e))?;
        let size_of = |file: &str| {
            let key = format!("{prefix}/{file}");
            listed.iter().find(|o| o.key == key).map(|o| o.size)
        };
        let total: u64 = sums.iter().filter_map(|(_, f)| size_of(f)).sum();
        progress.set_total(total);
        progress.set_read(0);
        let mut done = 0u64;
        for (want, file) in &sums {
            if file.contains('/') || file.contains('\\') || file.starts_with('.') {
                return Err(EngineError::Failed(format!(
                    "{SUMS} at \"{}\" names \"{file}\", which is not a file of a set",
                    d.name
                )));
            }
            if size_of(file).is_none() {
                let msg = format!("{file} is missing from the copy at \"{}\"", d.name);
                if strict {
                    self.note_copy_damage(&b, d, msg.clone());
                    return Err(EngineError::Failed(format!("{msg}: nothing was restored")));
                }
                fetched.mismatched.push(msg);
                continue;
            }
            let base = done;
            let p = progress.clone();
            let report = move |n: u64| p.set_read(base + n);
            let local = dir.join(file);
            let key = format!("{prefix}/{file}");
            let get = remote.get_to_file(&key, &local, &report);
            let (bytes, sha) = unless_cancelled(cancel, get)
                .await?
                .map_err(|e| remote_error(d, e))?;
            done += bytes;
            if sha != *want {
                let msg = format!(
                    "{file} at \"{}\" does not match its checksum in {SUMS}: the copy there was \
                     changed or damaged",
                    d.name
                );
                if strict {
                    self.note_copy_damage(&b, d, msg.clone());
                    return Err(EngineError::Failed(format!(
                        "{msg}; nothing was restored (read it from another destination, or the \
                         local set)"
                    )));
                }
                fetched.mismatched.push(msg);
            }
        }
        if sums.iter().any(|(_, f)| f == OBJECTS_LIST) && dir.join(OBJECTS_LIST).is_file() {
            self.fetch_objects(&b, d, &remote, strict, &mut fetched, done, progress, cancel)
                .await?;
        }
        set::write_synced(&dir.join(SUMS), sums_text.as_bytes())?;
        Ok(fetched)
    }

    /// Downloads the Storage files a fetched set's `objects.txt` lists into
    /// `<staging>/objects/`, each checked against the list as it arrives
    /// (what is missing or different is an error when `strict`, else noted
    /// for the verify).
    #[allow(clippy::too_many_arguments)]
    async fn fetch_objects(
        &self,
        b: &Backup,
        d: &Destination,
        remote: &Remote,
        strict: bool,
        fetched: &mut Fetched,
        mut done: u64,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        // Present even when empty, so the staged set's files are looked for
        // here and nowhere else.
        let store = fetched.dir.join(OBJECTS_DIR);
        set::codec::private_dir(&store)
            .map_err(|e| EngineError::io("cannot create the staging folder", &store, e))?;
        let mut problem = |msg: String| {
            if strict {
                Err(EngineError::Failed(format!(
                    "{msg}; nothing was restored (read it from another destination, or the \
                     local set)"
                )))
            } else {
                fetched.mismatched.push(msg);
                Ok(())
            }
        };
        let list = match read_objects_list(&fetched.dir.join(OBJECTS_LIST)) {
            Ok(list) => list,
            Err(e) => return problem(e.to_string()),
        };
        let objects_prefix = remote_objects_prefix(b);
        let listed = self
            .listed_sizes(remote, d, &objects_prefix, cancel)
            .await?;
        let extra: u64 = list
            .iter()
            .filter_map(|(name, _)| listed.get(&format!("{objects_prefix}/{name}")))
            .sum();
        progress.set_total(done + extra);
        progress.set_current(format!("fetching Storage files from {}", d.name));
        let mut failures = Vec::new();
        for (name, want) in &list {
            let key = format!("{objects_prefix}/{name}");
            if !listed.contains_key(&key) {
                failures.push(format!(
                    "the Storage file {name} is missing from the copy at \"{}\"",
                    d.name
                ));
                continue;
            }
            let local = store.join(name);
            if let Some(parent) = local.parent() {
                set::codec::private_dir(parent)
                    .map_err(|e| EngineError::io("cannot create the staging folder", parent, e))?;
            }
            let base = done;
            let p = progress.clone();
            let report = move |n: u64| p.set_read(base + n);
            let get = remote.get_to_file(&key, &local, &report);
            let (bytes, sha) = unless_cancelled(cancel, get)
                .await?
                .map_err(|e| remote_error(d, e))?;
            done += bytes;
            progress.set_read(done);
            if sha != *want {
                failures.push(format!(
                    "the Storage file {name} at \"{}\" does not match its checksum in \
                     {OBJECTS_LIST}: the copy there was changed or damaged",
                    d.name
                ));
            }
        }
        for f in failures {
            problem(f)?;
        }
        Ok(())
    }

    /// After a set's copy at `d` was deleted: deletes the stored Storage
    /// files there that no remaining set of the project refers to and that
    /// are older than the grace period, unless another machine's backup or
    /// copy holds a lease there (then nothing is deleted).
    async fn collect_remote_objects(
        &self,
        remote: &Remote,
        d: &Destination,
        b: &Backup,
    ) -> Result<RemoteCollected, EngineError> {
        let slug = project_slug(b);
        let lease = match Lease::for_collecting(remote, &slug).await {
            Ok(Collecting::Go(lease)) => lease,
            Ok(Collecting::Busy(writer)) => return Ok(RemoteCollected::Busy(writer)),
            Err(e) => return Err(e.at(&format!("destination \"{}\"", d.name))),
        };
        let grace = self.storage_grace()?;
        let outcome = self.delete_unreferenced(remote, d, b, grace).await;
        lease.release().await;
        outcome
    }

    /// The deletion itself, under a collection lease.
    async fn delete_unreferenced(
        &self,
        remote: &Remote,
        d: &Destination,
        b: &Backup,
        grace: chrono::Duration,
    ) -> Result<RemoteCollected, EngineError> {
        let objects_prefix = remote_objects_prefix(b);
        let slug = project_slug(b);
        let err = |e| remote_error(d, e);
        let mut referenced = BTreeSet::new();
        for name in remote.list_dirs(&slug).await.map_err(err)? {
            if name == OBJECTS_DIR || name.starts_with('.') {
                continue;
            }
            let key = format!("{slug}/{name}/{OBJECTS_LIST}");
            match remote.get_bytes(&key).await {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let origin = format!("{key} at \"{}\"", d.name);
                    for (n, _) in parse_objects_list(&text, &origin)? {
                        referenced.insert(n);
                    }
                }
                Err(RemoteError::NotFound { .. }) => {}
                Err(e) => return Err(err(e)),
            }
        }
        let (mut removed, mut young) = (0, 0);
        let inside = format!("{objects_prefix}/");
        let now = Utc::now();
        for o in remote.list(&objects_prefix).await.map_err(err)? {
            let name = o.key.strip_prefix(&inside).unwrap_or(&o.key);
            if referenced.contains(name) {
                continue;
            }
            // Unknown age counts as young: kept.
            if o.modified.is_none_or(|m| now - m < grace) {
                young += 1;
                continue;
            }
            remote.delete(&o.key).await.map_err(err)?;
            removed += 1;
        }
        Ok(RemoteCollected::Done { removed, young })
    }
}

/// What a collection at a destination did.
enum RemoteCollected {
    /// Removed `removed` unreferenced stored files; kept `young` others
    /// younger than the grace period.
    Done {
        /// Deleted.
        removed: usize,
        /// Kept for their age.
        young: usize,
    },
    /// Did nothing: a backup or copy holds a lease there.
    Busy(LeaseRecord),
}

/// Errors worth trying again after a pause (the network, the disk), not
/// those a person must fix (keys, bucket, clock, permissions).
fn transient(e: &RemoteError) -> bool {
    matches!(
        e,
        RemoteError::Unreachable { .. } | RemoteError::Io { .. } | RemoteError::Other(_)
    )
}

/// What removing a backup did, where.
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    /// The backup as it was.
    pub backup: Backup,
    /// Its local folder was removed (it had one).
    pub local: bool,
    /// Destinations its copy was deleted from.
    pub remote: Vec<String>,
    /// Destinations where deleting failed, and why: the record is kept
    /// (with those copies) so a later delete or retention tries again.
    pub failed: Vec<(String, String)>,
}

impl Removal {
    /// "local, offsite, nas" — where it was removed from.
    pub fn places(&self) -> String {
        let mut places: Vec<String> = Vec::new();
        if self.local {
            places.push("local".into());
        }
        places.extend(self.remote.iter().map(|d| format!("\"{d}\"")));
        if places.is_empty() {
            "its record".into()
        } else {
            places.join(", ")
        }
    }
}

impl Unlocked {
    /// Removes a backup: its copies at destinations (unless `keep_copies`),
    /// its local folder, then its record. When a copy cannot be deleted,
    /// the record stays, holding the copies still there, so deleting again
    /// (or the next retention) finishes it. A running backup cannot be
    /// removed (cancel it first).
    pub async fn remove_backup(
        &self,
        id: BackupId,
        keep_copies: bool,
    ) -> Result<Removal, EngineError> {
        let b = self.backup_record(id)?;
        if b.status == BackupStatus::Running {
            return Err(EngineError::Failed(format!(
                "backup {} is still running: cancel it first",
                b.id.short()
            )));
        }
        let mut removal = Removal {
            backup: b.clone(),
            local: false,
            remote: Vec::new(),
            failed: Vec::new(),
        };
        if !keep_copies {
            for c in &b.extra.copies {
                // A removed destination's copies are out of reach: forgotten.
                let outcome = match self.catalog().destination(c.destination)? {
                    Some(d) => match self.remote(&d) {
                        Ok(remote) => {
                            let deleted = remote
                                .delete_prefix(&remote_prefix(&b))
                                .await
                                .map(|_| Some(d.name.clone()))
                                .map_err(|e| (d.name.clone(), remote_error(&d, e).to_string()));
                            if deleted.is_ok() && b.extra.storage.is_some() {
                                self.log_collected_remote(&remote, &d, &b).await;
                            }
                            deleted
                        }
                        Err(e) => Err((d.name.clone(), e.to_string())),
                    },
                    None => Ok(None),
                };
                match outcome {
                    Ok(name) => {
                        self.catalog().update_backup(id, |r| {
                            r.extra.copies.retain(|x| x.destination != c.destination)
                        })?;
                        removal.remote.extend(name);
                    }
                    Err(failed) => removal.failed.push(failed),
                }
            }
        }
        let path = b.path.clone();
        removal.local = path.exists();
        tokio::task::spawn_blocking(move || set::remove(&path))
            .await
            .map_err(|e| EngineError::Failed(e.to_string()))??;
        if removal.local {
            self.collect_storage_after_removal(&b).await;
        }
        if removal.failed.is_empty() {
            self.catalog().delete_backup(id)?;
        } else {
            self.catalog()
                .update_backup(id, |r| r.extra.remote_only = true)?;
        }
        let mut what = format!(
            "backup {} of \"{}\" deleted from {}",
            b.id.short(),
            b.project_name,
            removal.places()
        );
        for (name, e) in &removal.failed {
            what.push_str(&format!(
                "; its copy at \"{name}\" could not be deleted ({e}): the record is kept, delete \
                 it again to retry"
            ));
        }
        self.log(
            if removal.failed.is_empty() {
                Level::Info
            } else {
                Level::Warning
            },
            Some(b.project_id),
            what,
        );
        Ok(removal)
    }
}

impl Unlocked {
    /// [`Self::collect_remote_objects`], its outcome in the log (the
    /// removal itself succeeded either way).
    async fn log_collected_remote(&self, remote: &Remote, d: &Destination, b: &Backup) {
        match self.collect_remote_objects(remote, d, b).await {
            Ok(RemoteCollected::Done { removed, young }) => {
                let mut said = Vec::new();
                if removed > 0 {
                    said.push(format!(
                        "removed {removed} stored Storage file(s) at \"{}\" no backup refers to \
                         any more",
                        d.name
                    ));
                }
                if young > 0 {
                    said.push(format!(
                        "kept {young} unused stored Storage file(s) at \"{}\" younger than \
                         storage-grace-hours ({} h): a later deletion removes them",
                        d.name,
                        self.storage_grace().map(|g| g.num_hours()).unwrap_or(24)
                    ));
                }
                if !said.is_empty() {
                    self.log(Level::Info, Some(b.project_id), said.join("; "));
                }
            }
            Ok(RemoteCollected::Busy(writer)) => self.log(
                Level::Info,
                Some(b.project_id),
                format!(
                    "unused stored Storage files at \"{}\" were left alone: {} is writing \
                     there; a later deletion removes them",
                    d.name,
                    writer.describe()
                ),
            ),
            Err(e) => self.log(
                Level::Warning,
                Some(b.project_id),
                format!(
                    "unused stored Storage files at \"{}\" were not removed ({e}): the next \
                     deletion tries again",
                    d.name
                ),
            ),
        }
    }
}

/// What one copy sends: the set's files with their sizes and published
/// SHA-256, the stored Storage files it refers to (name, path, size, SHA-256),
/// whether those are sent even when present (a damaged copy), and the count
/// of upload attempts.
struct SendPlan<'a> {
    files: &'a [(String, u64)],
    expected: &'a BTreeMap<&'a str, &'a str>,
    objects: &'a [(String, PathBuf, u64, String)],
    resend: bool,
    tries: &'a AtomicU32,
}
