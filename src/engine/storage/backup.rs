//! Backing up a project's Storage files into a set being written: list
//! every bucket, keep what did not change since the last set (same size and
//! ETag, or last-modified) or what the journal says was already stored,
//! download the rest a few at a time (hashed on the way, stored once,
//! journalled as each lands), then write the set's index and `objects.txt`.

use super::client::{BucketInfo, Client, ClientError, Listed, Meta};
use super::index::{ObjectEntry, Skipped, StorageIndex, write_index, write_objects_list};
use super::journal::{Journal, JournalEntry};
use super::store::{Store, parse_stored};
use crate::domain::{BackupStatus, ConnInfo, Level, Project, StorageSummary};
use crate::engine::cancel::or_cancel;
use crate::engine::set::{BackupSet, FileInfo, Keys, Sealing};
use crate::engine::{CancelToken, EngineError, Progress, Unlocked};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the Storage part of a backup is about to download, told before it
/// starts (downloads from Supabase are billed egress past the plan's
/// allowance).
#[derive(Debug, Clone, Serialize)]
pub struct StoragePlan {
    /// The project.
    pub project: String,
    /// How the files are read, in words.
    pub access: String,
    /// Buckets backed up.
    pub buckets: usize,
    /// Files in them.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files to download (the others did not change or are stored).
    pub to_download: u64,
    /// Bytes to download.
    pub to_download_bytes: u64,
    /// No earlier backup of this project has its Storage files.
    pub first: bool,
}

/// Told the plan; answers whether to go on (`false` cancels the backup).
pub type PlanHook = Arc<dyn Fn(StoragePlan) -> BoxFuture<'static, bool> + Send + Sync>;

/// How a backup treats the Storage files.
#[derive(Clone, Default)]
pub struct BackupOptions {
    /// Leave the Storage files out of a `full` backup (`--no-storage`).
    pub no_storage: bool,
    /// Told what the Storage part will download, before it starts.
    pub on_storage_plan: Option<PlanHook>,
}

impl std::fmt::Debug for BackupOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupOptions")
            .field("no_storage", &self.no_storage)
            .field("on_storage_plan", &self.on_storage_plan.is_some())
            .finish()
    }
}

/// The Storage part of a backup, checked before the database is dumped:
/// the client, and the buckets it sees with their settings.
pub(crate) struct Prepared {
    client: Client,
    buckets: Vec<BucketInfo>,
    settings_from: &'static str,
    warnings: Vec<String>,
}

/// Opens the project's Storage and lists its buckets (with their settings:
/// from the REST API, or for S3 from `storage.buckets` over `db` when it
/// answers). `Ok(None)`: the project has no Storage access.
pub(crate) async fn prepare(
    engine: &Unlocked,
    project: &Project,
    db: Option<&ConnInfo>,
    cancel: &CancelToken,
) -> Result<Option<Prepared>, EngineError> {
    let access = engine.storage_access(project)?;
    let Some(client) = Client::open(&access).map_err(fail)? else {
        return Ok(None);
    };
    let settings = project.extra.storage.clone().unwrap_or_default();
    let mut all = or_cancel(cancel, async {
        client.list_buckets().await.map_err(|e| {
            EngineError::Failed(format!(
                "the Storage files cannot be backed up: {e}. Fix the access (`supabackup project \
                 test \"{}\"` says what it sees), or back up the database alone with --no-storage",
                project.name
            ))
        })
    })
    .await?;
    let mut warnings = Vec::new();
    for wanted in &settings.include_buckets {
        if !all.iter().any(|b| &b.name == wanted || &b.id == wanted) {
            warnings.push(format!(
                "bucket \"{wanted}\" (to include) does not exist at {}",
                client.describe()
            ));
        }
    }
    all.retain(|b| settings.wants_bucket(&b.id) || settings.wants_bucket(&b.name));
    let mut settings_from = if matches!(client, Client::Rest(_)) {
        "api"
    } else {
        "none"
    };
    if matches!(client, Client::S3(_))
        && let Some(info) = db
    {
        match or_cancel(cancel, async { Ok(super::db::bucket_settings(info).await) }).await? {
            Ok(Some(found)) => {
                settings_from = "database";
                for b in &mut all {
                    if let Some(f) = found.iter().find(|f| f.id == b.name || f.name == b.name) {
                        b.id = f.id.clone();
                        b.public = f.public;
                        b.file_size_limit = f.file_size_limit;
                        b.allowed_mime_types = f.allowed_mime_types.clone();
                    }
                }
            }
            Ok(None) => warnings.push(
                "the database has no storage.buckets table: the buckets' settings (public, file \
                 size limit, MIME types) are not in this backup"
                    .into(),
            ),
            Err(e) => warnings.push(format!(
                "the buckets' settings (public, file size limit, MIME types) could not be read \
                 from the database ({e}): they are not in this backup"
            )),
        }
    }
    Ok(Some(Prepared {
        client,
        buckets: all,
        settings_from,
        warnings,
    }))
}

/// What the Storage part put into the set.
pub(crate) struct Outcome {
    /// `storage.json.zst(.age)`.
    pub index: FileInfo,
    /// `objects.txt`.
    pub objects: FileInfo,
    /// Counts for the record.
    pub summary: StorageSummary,
    /// What a person should know.
    pub warnings: Vec<String>,
}

/// Everything a run needs.
pub(crate) struct RunCtx<'a> {
    /// The engine, unlocked.
    pub engine: &'a Unlocked,
    /// The project.
    pub project: &'a Project,
    /// The client and buckets.
    pub prepared: Prepared,
    /// `<backup root>/<project slug>`: the sets and the store.
    pub project_dir: &'a Path,
    /// The set's folder being written (`.partial`).
    pub set_dir: &'a Path,
    /// Encrypts stored files and the index, when the project encrypts.
    pub sealing: Option<&'a Sealing>,
    /// The hook.
    pub options: &'a BackupOptions,
    /// Progress.
    pub progress: &'a Arc<Progress>,
    /// Cancel.
    pub cancel: &'a CancelToken,
}

/// What to do with one listed object.
enum Todo {
    /// Stored already: the entry as it goes into the index.
    Keep(ObjectEntry, bool),
    /// Stored unencrypted; the project now encrypts: store it again from
    /// the local copy (no download).
    Recode(ObjectEntry),
    /// Download it.
    Fetch(String, Listed),
}

/// Runs the Storage part into `set_dir`.
pub(crate) async fn run(ctx: RunCtx<'_>) -> Result<Outcome, EngineError> {
    let RunCtx {
        engine,
        project,
        prepared,
        project_dir,
        set_dir,
        sealing,
        options,
        progress,
        cancel,
    } = ctx;
    let Prepared {
        client,
        buckets,
        settings_from,
        mut warnings,
    } = prepared;
    let encrypted = sealing.is_some();
    let store = Arc::new(Store::new(project_dir));
    let journal = {
        let store = store.clone();
        blocking(move || {
            store.prepare().map_err(|e| {
                EngineError::io("cannot create the Storage file store", store.dir(), e)
            })?;
            let journal = Journal::open(store.dir(), encrypted)
                .map_err(|e| EngineError::io("cannot read the journal", store.dir(), e))?;
            for e in journal.entries() {
                store.remember(&e.stored, &e.disk_sha256);
            }
            for (name, sha) in referenced(store.dir().parent().unwrap_or(store.dir())) {
                store.remember(&name, &sha);
            }
            Ok(journal)
        })
        .await?
    };
    let journal = Arc::new(journal);
    let (prev, had_storage) = previous_index(engine, project);

    // Every object of every bucket.
    let mut listed: Vec<(String, Vec<Listed>)> = Vec::new();
    for b in &buckets {
        progress.set_current(format!("storage: listing bucket {}", b.name));
        let p = progress.clone();
        let name = b.name.clone();
        let seen =
            move |n: usize| p.set_current(format!("storage: listing bucket {name}: {n} files"));
        let objects = or_cancel(cancel, async {
            client.list_objects(&b.name, &seen).await.map_err(|e| {
                EngineError::Failed(format!(
                    "cannot list the Storage bucket \"{}\": {e}; nothing was kept",
                    b.name
                ))
            })
        })
        .await?;
        listed.push((b.name.clone(), objects));
    }

    // What changed.
    let mut todo = Vec::new();
    for (bucket, objects) in listed {
        for l in objects {
            todo.push(classify(&store, &journal, &prev, &bucket, l, encrypted));
        }
    }
    let (mut objects, mut bytes, mut fetch_n, mut fetch_bytes) = (0u64, 0u64, 0u64, 0u64);
    for t in &todo {
        objects += 1;
        match t {
            Todo::Keep(e, _) | Todo::Recode(e) => bytes += e.size,
            Todo::Fetch(_, l) => {
                bytes += l.size;
                fetch_n += 1;
                fetch_bytes += l.size;
            }
        }
    }
    let plan = StoragePlan {
        project: project.name.clone(),
        access: client.describe(),
        buckets: buckets.len(),
        objects,
        bytes,
        to_download: fetch_n,
        to_download_bytes: fetch_bytes,
        first: !had_storage,
    };
    engine.log(
        Level::Info,
        Some(project.id),
        format!(
            "Storage of \"{}\": {} file(s) in {} bucket(s), {}; {} to download ({})",
            project.name,
            objects,
            buckets.len(),
            crate::domain::human_bytes(bytes),
            fetch_n,
            crate::domain::human_bytes(fetch_bytes)
        ),
    );
    if let Some(hook) = &options.on_storage_plan
        && !hook(plan).await
    {
        return Err(EngineError::Cancelled);
    }

    // Download (and re-store) what is needed, a few at a time.
    progress.set_total(fetch_bytes.max(1));
    progress.set_read(0);
    let concurrency = engine.storage_concurrency().unwrap_or(4).max(1);
    let done = Arc::new(AtomicU64::new(0));
    let (mut entries, mut needs_meta, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut work = Vec::new();
    for t in todo {
        match t {
            Todo::Keep(e, true) => entries.push(e),
            Todo::Keep(e, false) => needs_meta.push(e),
            other => work.push(other),
        }
    }
    let total = work.len();
    let (mut downloaded, mut downloaded_bytes, mut stored_new, mut stored_new_bytes) =
        (0u64, 0u64, 0u64, 0u64);
    let shared = Shared {
        client: client.clone(),
        store: store.clone(),
        journal: journal.clone(),
        sealing: sealing.cloned(),
        progress: progress.clone(),
        done: done.clone(),
        total,
    };
    let mut results = futures::stream::iter(work.into_iter().map(|t| shared.clone().one(t)))
        .buffer_unordered(concurrency);
    loop {
        let next = tokio::select! {
            r = results.next() => r,
            _ = cancel.cancelled() => return Err(EngineError::Cancelled),
        };
        let Some(r) = next else { break };
        match r? {
            Got::Stored {
                entry,
                fetched,
                new,
                disk_bytes,
            } => {
                if fetched {
                    downloaded += 1;
                    downloaded_bytes += entry.size;
                }
                if new {
                    stored_new += 1;
                    stored_new_bytes += disk_bytes;
                }
                entries.push(entry);
            }
            Got::Skipped(s) => skipped.push(s),
        }
    }
    drop(results);

    // Metadata of kept objects known only by the journal (S3 lists none).
    if !needs_meta.is_empty() {
        progress.set_current(format!(
            "storage: reading the metadata of {} file(s)",
            needs_meta.len()
        ));
        let fetched: Vec<Option<ObjectEntry>> = or_cancel(
            cancel,
            futures::stream::iter(needs_meta.into_iter().map(|mut e| {
                let client = client.clone();
                async move {
                    match client.head(&e.bucket, &e.name).await {
                        Ok(Some(head)) => {
                            set_meta(&mut e, head.meta);
                            Ok(Some(e))
                        }
                        Ok(None) => Ok(None),
                        Err(err) => Err(EngineError::Failed(format!(
                            "cannot read the metadata of {}/{}: {err}",
                            e.bucket, e.name
                        ))),
                    }
                }
            }))
            .buffer_unordered(concurrency)
            .try_collect(),
        )
        .await?;
        entries.extend(fetched.into_iter().flatten());
    }
    entries.sort_by(|a, b| (&a.bucket, &a.name).cmp(&(&b.bucket, &b.name)));

    crate::engine::hold::hold_point("backup-objects").await;
    // The index and the list, once every stored file is on disk for good.
    progress.set_current("storage: writing the index");
    let mut index = StorageIndex::new(client.kind(), &client.describe(), settings_from);
    index.buckets = buckets;
    index.skipped = skipped;
    let summary = StorageSummary {
        buckets: index.buckets.len() as u64,
        objects: entries.len() as u64,
        bytes: entries.iter().map(|e| e.size).sum(),
        downloaded,
        downloaded_bytes,
        stored_new,
        stored_new_bytes,
        access: client.kind().to_string(),
    };
    index.objects = entries;
    if !index.skipped.is_empty() {
        let shown: Vec<String> = index
            .skipped
            .iter()
            .take(5)
            .map(|s| format!("{}/{} ({})", s.bucket, s.name, s.why))
            .collect();
        warnings.push(format!(
            "{} Storage file(s) listed were not backed up: {}{}",
            index.skipped.len(),
            shown.join("; "),
            if index.skipped.len() > 5 { "; ..." } else { "" }
        ));
    }
    let (set_dir, sealing) = (set_dir.to_path_buf(), sealing.cloned());
    let (index_file, objects_file) = blocking(move || {
        let mut stored = BTreeMap::new();
        for e in &index.objects {
            if !stored.contains_key(&e.stored) {
                let (_, sha) = store.disk_info(&e.stored).map_err(|err| {
                    EngineError::io("cannot read the stored file", store.path(&e.stored), err)
                })?;
                stored.insert(e.stored.clone(), sha);
            }
        }
        store.sync()?;
        journal
            .sync()
            .map_err(|e| EngineError::io("cannot sync the journal", store.dir(), e))?;
        let index_file = write_index(&set_dir, &index, sealing.as_ref())?;
        let objects_file = write_objects_list(&set_dir, &stored)?;
        Ok((index_file, objects_file))
    })
    .await?;
    Ok(Outcome {
        index: index_file,
        objects: objects_file,
        summary,
        warnings,
    })
}

/// Sorts one listed object: stored already (in the wanted form), to
/// re-store from the local copy, or to download.
fn classify(
    store: &Store,
    journal: &Journal,
    prev: &HashMap<(String, String), ObjectEntry>,
    bucket: &str,
    l: Listed,
    encrypted: bool,
) -> Todo {
    let listed_meta = l.meta.clone();
    if let Some(p) = prev.get(&(bucket.to_string(), l.name.clone()))
        && same_version(&l, p.size, p.etag.as_deref(), p.last_modified.as_deref())
    {
        let mut e = p.clone();
        e.etag = l.etag.clone().or(e.etag);
        e.last_modified = l.last_modified.clone().or(e.last_modified);
        if let Some(m) = listed_meta.clone() {
            set_meta(&mut e, m);
        }
        if let Some(name) = store.existing(&p.sha256, encrypted) {
            e.stored = name;
            return Todo::Keep(e, true);
        }
        if encrypted
            && parse_stored(&p.stored).is_some_and(|(_, _, enc)| !enc)
            && store.has(&p.stored)
        {
            return Todo::Recode(e);
        }
    }
    if let Some(j) = journal.lookup(bucket, &l.name)
        && same_version(&l, j.size, j.etag.as_deref(), j.last_modified.as_deref())
        && let Some(name) = store.existing(&j.sha256, encrypted)
    {
        let mut e = ObjectEntry {
            bucket: bucket.to_string(),
            name: l.name.clone(),
            size: l.size,
            sha256: j.sha256.clone(),
            last_modified: l.last_modified.clone(),
            etag: l.etag.clone().or(j.etag.clone()),
            stored: name,
            ..Default::default()
        };
        return match listed_meta.or(j.meta.clone()) {
            Some(m) => {
                set_meta(&mut e, m);
                Todo::Keep(e, true)
            }
            None => Todo::Keep(e, false),
        };
    }
    Todo::Fetch(bucket.to_string(), l)
}

fn set_meta(e: &mut ObjectEntry, m: Meta) {
    e.content_type = m.content_type;
    e.cache_control = m.cache_control;
    e.user_metadata = m.user_metadata;
}

/// The same version of an object: same size, and the same ETag when both
/// have one, else the same last-modified.
fn same_version(l: &Listed, size: u64, etag: Option<&str>, last_modified: Option<&str>) -> bool {
    if l.size != size {
        return false;
    }
    if let (Some(a), Some(b)) = (l.etag.as_deref(), etag) {
        return a == b;
    }
    matches!((l.last_modified.as_deref(), last_modified), (Some(a), Some(b)) if a == b)
}

/// What one download (or re-store) gave.
enum Got {
    Stored {
        entry: ObjectEntry,
        fetched: bool,
        new: bool,
        disk_bytes: u64,
    },
    Skipped(Skipped),
}

/// What every download task shares.
#[derive(Clone)]
struct Shared {
    client: Client,
    store: Arc<Store>,
    journal: Arc<Journal>,
    sealing: Option<Sealing>,
    progress: Arc<Progress>,
    done: Arc<AtomicU64>,
    total: usize,
}

/// Removes a temporary file when dropped (a cancelled or failed download).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Shared {
    async fn one(self, t: Todo) -> Result<Got, EngineError> {
        let tmp = TempFile(self.store.tmp_file());
        let (mut entry, listed, fetched, sha) = match t {
            Todo::Keep(..) => unreachable!("kept objects are not fetched"),
            Todo::Recode(e) => {
                let (store, from, to) = (self.store.clone(), e.stored.clone(), tmp.0.clone());
                blocking(move || store.extract(&from, &Keys::none(), &to)).await?;
                let sha = e.sha256.clone();
                let listed = Listed {
                    name: e.name.clone(),
                    size: e.size,
                    etag: e.etag.clone(),
                    last_modified: e.last_modified.clone(),
                    meta: Some(e.meta()),
                };
                (e, listed, false, sha)
            }
            Todo::Fetch(bucket, l) => {
                let last = AtomicU64::new(0);
                let p = self.progress.clone();
                let report = move |n: u64| {
                    let before = last.swap(n, Ordering::Relaxed);
                    if n >= before {
                        p.add_read(n - before);
                    }
                };
                let got = match self
                    .client
                    .download(&bucket, &l.name, &tmp.0, &report)
                    .await
                {
                    Ok(got) => got,
                    Err(e @ (ClientError::NotFound { .. } | ClientError::InvalidName { .. })) => {
                        return Ok(Got::Skipped(Skipped {
                            bucket,
                            name: l.name,
                            why: match e {
                                ClientError::NotFound { .. } => {
                                    "deleted while the backup ran".to_string()
                                }
                                other => other.to_string(),
                            },
                        }));
                    }
                    Err(e) => {
                        return Err(EngineError::Failed(format!(
                            "cannot download {bucket}/{}: {e}. The files stored so far are kept: \
                             the next backup goes on from there",
                            l.name
                        )));
                    }
                };
                // REST rewrites some content types on the way out: the
                // listing's metadata is the object's own.
                let meta = match &l.meta {
                    Some(m) => Meta {
                        content_type: m.content_type.clone().or(got.meta.content_type.clone()),
                        cache_control: m.cache_control.clone().or(got.meta.cache_control.clone()),
                        user_metadata: m.user_metadata.clone().or(got.meta.user_metadata.clone()),
                    },
                    None => got.meta.clone(),
                };
                let mut e = ObjectEntry {
                    bucket,
                    name: l.name.clone(),
                    size: got.size,
                    sha256: got.sha256.clone(),
                    last_modified: l.last_modified.clone(),
                    etag: l.etag.clone().or(got.etag.clone()),
                    ..Default::default()
                };
                set_meta(&mut e, meta);
                let sha = got.sha256;
                (e, l, true, sha)
            }
        };
        let (store, raw, sealing, s) = (
            self.store.clone(),
            tmp.0.clone(),
            self.sealing.clone(),
            sha.clone(),
        );
        let stored = blocking(move || {
            store
                .put(&raw, &s, sealing.as_ref())
                .map_err(|e| EngineError::io("cannot store the file", store.dir(), e))
        })
        .await?;
        entry.stored = stored.name.clone();
        let j = self.journal.entry(
            &entry.bucket,
            &entry.name,
            JournalEntry {
                bucket: None,
                name: None,
                id: None,
                size: listed.size,
                etag: listed.etag.clone(),
                last_modified: listed.last_modified.clone(),
                sha256: sha,
                stored: stored.name.clone(),
                disk_sha256: stored.disk_sha256.clone(),
                disk_bytes: stored.disk_bytes,
                meta: Some(entry.meta()),
            },
        );
        self.journal
            .append(&j)
            .map_err(|e| EngineError::io("cannot write the journal", self.store.dir(), e))?;
        let n = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.progress.add_rows(1);
        self.progress.set_current(format!(
            "storage: {}: {n}/{} files",
            entry.bucket, self.total
        ));
        Ok(Got::Stored {
            entry,
            fetched,
            new: stored.new,
            disk_bytes: stored.disk_bytes,
        })
    }
}

/// The newest completed set of the project with Storage files, read (with
/// the vault's keys when it is encrypted), by (bucket, name); and whether
/// any completed backup of the project has Storage files at all.
fn previous_index(
    engine: &Unlocked,
    project: &Project,
) -> (HashMap<(String, String), ObjectEntry>, bool) {
    let Ok(all) = engine.catalog().backups() else {
        return (HashMap::new(), false);
    };
    let mut with_storage = all.into_iter().filter(|b| {
        b.project_id == project.id
            && b.status == BackupStatus::Completed
            && b.extra.storage.is_some()
    });
    let Some(newest) = with_storage.find(|b| b.path.is_dir()) else {
        return (HashMap::new(), false);
    };
    let keys = engine.project_keys(project).unwrap_or_default();
    let read = BackupSet::open(&newest.path).and_then(|set| match &set.manifest.storage {
        Some(info) => super::index::read_index(&set.dir, info, &keys),
        None => Ok(StorageIndex::default()),
    });
    let map = match read {
        Ok(index) => index
            .objects
            .into_iter()
            .map(|e| ((e.bucket.clone(), e.name.clone()), e))
            .collect(),
        Err(_) => HashMap::new(),
    };
    (map, true)
}

/// Every (stored file, SHA-256 on disk) the sets in `project_dir` list.
fn referenced(project_dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(project_dir) else {
        return out;
    };
    for d in rd.flatten() {
        let list = d.path().join(super::index::OBJECTS_LIST);
        if list.is_file()
            && let Ok(found) = super::index::read_objects_list(&list)
        {
            out.extend(found);
        }
    }
    out
}

/// Runs blocking work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::Failed(format!("the Storage task stopped: {e}")))?
}

fn fail(e: ClientError) -> EngineError {
    EngineError::Failed(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_the_size_and_the_etag_or_else_the_date() {
        let l = |etag: Option<&str>, lm: Option<&str>| Listed {
            name: "x".into(),
            size: 3,
            etag: etag.map(str::to_string),
            last_modified: lm.map(str::to_string),
            meta: None,
        };
        assert!(same_version(&l(Some("a"), None), 3, Some("a"), None));
        assert!(!same_version(
            &l(Some("a"), Some("t")),
            3,
            Some("b"),
            Some("t")
        ));
        assert!(!same_version(&l(Some("a"), None), 4, Some("a"), None));
        assert!(same_version(&l(None, Some("t")), 3, Some("a"), Some("t")));
        assert!(!same_version(&l(None, Some("t")), 3, None, Some("u")));
        assert!(!same_version(&l(None, None), 3, None, None));
    }
}
