//! Restoring a set's Storage files into a project: buckets it lacks are
//! created with their settings, files it lacks or holds in another version
//! are uploaded (decoded from the store and checked against their SHA-256
//! first), identical ones are left alone, and files the backup does not
//! know are deleted only when asked (`--storage-mirror`).
//!
//! "Identical" is the same size and ETag, and the file really readable: a
//! listing reads the database, and after a database restore into a new
//! project its rows point at files that are not there yet.

use super::client::{BucketInfo, Client, ClientError, Head, Listed};
use super::index::{ObjectEntry, StorageIndex};
use super::store::Store;
use crate::domain::{ConnInfo, Level, Project, ProjectId};
use crate::engine::cancel::or_cancel;
use crate::engine::set::Keys;
use crate::engine::{CancelToken, EngineError, Progress, Unlocked};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a restore puts back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreScope {
    /// The database and (with a target project) the Storage files.
    #[default]
    Everything,
    /// The database only (`--database-only`).
    DatabaseOnly,
    /// The Storage files only (`--storage-only`).
    StorageOnly,
}

/// How a restore treats the Storage files.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The project whose Storage receives the files (`--to-project`);
    /// `None`: no Storage access, the database only.
    pub storage_target: Option<ProjectId>,
    /// Delete the target's files the backup does not know, in the
    /// backup's buckets (`--storage-mirror`).
    pub mirror: bool,
    /// What to restore.
    pub scope: RestoreScope,
}

/// How the Storage part of a restore went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StorageRestoreReport {
    /// Where the files went, nothing secret.
    pub target: String,
    /// Buckets in the backup.
    pub buckets: usize,
    /// Buckets created.
    pub buckets_created: Vec<String>,
    /// Files in the backup.
    pub objects: u64,
    /// Files uploaded.
    pub uploaded: u64,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// Of those, files that replaced another version.
    pub replaced: u64,
    /// Files left alone (already identical).
    pub unchanged: u64,
    /// Files deleted (`--storage-mirror`).
    pub deleted: u64,
    /// Files that could not be uploaded, and why.
    pub failed: Vec<String>,
    /// What a person should know.
    pub warnings: Vec<String>,
}

/// The target's side, opened.
pub(crate) struct Target {
    client: Client,
    project: Project,
    db: Option<ConnInfo>,
}

/// What the restore will do.
pub(crate) struct Plan {
    missing_buckets: Vec<BucketInfo>,
    uploads: Vec<(ObjectEntry, bool)>,
    unchanged: u64,
    deletions: Vec<(String, Vec<String>)>,
}

impl Plan {
    /// Why a person must agree first (files replaced or deleted), if so.
    pub(crate) fn needs_confirmation(&self) -> Option<String> {
        let replaced: Vec<String> = self
            .uploads
            .iter()
            .filter(|(_, r)| *r)
            .map(|(e, _)| format!("{}/{}", e.bucket, e.name))
            .collect();
        let deleted: usize = self.deletions.iter().map(|(_, n)| n.len()).sum();
        if replaced.is_empty() && deleted == 0 {
            return None;
        }
        let mut what = Vec::new();
        if !replaced.is_empty() {
            what.push(format!(
                "{} file(s) differ from the backup and would be replaced (such as {})",
                replaced.len(),
                replaced[..replaced.len().min(3)].join(", ")
            ));
        }
        if deleted > 0 {
            what.push(format!(
                "{deleted} file(s) the backup does not know would be deleted (--storage-mirror)"
            ));
        }
        Some(format!(
            "the target's Storage already has files: {}; nothing was changed",
            what.join("; ")
        ))
    }
}

/// Opens the target project's Storage.
pub(crate) fn open_target(engine: &Unlocked, project: &Project) -> Result<Target, EngineError> {
    let access = engine.storage_access(project)?;
    let client = Client::open(&access)
        .map_err(|e| EngineError::Failed(e.to_string()))?
        .ok_or_else(|| {
            EngineError::Failed(format!(
                "project \"{}\" has no Storage access ({}): nothing was restored",
                project.name,
                access.describe()
            ))
        })?;
    Ok(Target {
        client,
        project: project.clone(),
        db: engine.project_conninfo(project).ok(),
    })
}

fn failed(e: ClientError, what: &str) -> EngineError {
    EngineError::Failed(format!("{what}: {e}"))
}

/// An ETag without quotes or the weak mark.
fn bare(etag: &str) -> &str {
    etag.trim().trim_start_matches("W/").trim_matches('"')
}

impl Target {
    /// Where, in words.
    pub(crate) fn describe(&self) -> String {
        format!("\"{}\" ({})", self.project.name, self.client.describe())
    }

    /// Compares the backup with the target: what to create, upload, leave
    /// and (mirroring) delete.
    pub(crate) async fn plan(
        &self,
        index: &StorageIndex,
        mirror: bool,
        concurrency: usize,
        progress: &Progress,
        cancel: &CancelToken,
    ) -> Result<Plan, EngineError> {
        progress.set_current("storage: comparing with the target");
        let existing = or_cancel(cancel, async {
            self.client
                .list_buckets()
                .await
                .map_err(|e| failed(e, "cannot list the target's buckets"))
        })
        .await?;
        let mut plan = Plan {
            missing_buckets: Vec::new(),
            uploads: Vec::new(),
            unchanged: 0,
            deletions: Vec::new(),
        };
        let mut by_bucket: BTreeMap<&str, Vec<&ObjectEntry>> = BTreeMap::new();
        for o in &index.objects {
            by_bucket.entry(o.bucket.as_str()).or_default().push(o);
        }
        let mut to_check: Vec<(ObjectEntry, Listed)> = Vec::new();
        for b in &index.buckets {
            let wanted = by_bucket.remove(b.id.as_str()).unwrap_or_default();
            if !existing.iter().any(|x| x.id == b.id || x.name == b.name) {
                plan.missing_buckets.push(b.clone());
                plan.uploads
                    .extend(wanted.into_iter().map(|e| (e.clone(), false)));
                continue;
            }
            let listed = or_cancel(cancel, async {
                self.client
                    .list_objects(&b.name, &|_| {})
                    .await
                    .map_err(|e| {
                        failed(
                            e,
                            &format!("cannot list the target's bucket \"{}\"", b.name),
                        )
                    })
            })
            .await?;
            let mut there: HashMap<String, Listed> =
                listed.into_iter().map(|l| (l.name.clone(), l)).collect();
            for e in wanted {
                match there.remove(&e.name) {
                    None => plan.uploads.push((e.clone(), false)),
                    Some(t) if t.size != e.size => plan.uploads.push((e.clone(), true)),
                    Some(t) => to_check.push((e.clone(), t)),
                }
            }
            if mirror && !there.is_empty() {
                let mut names: Vec<String> = there.into_keys().collect();
                names.sort();
                plan.deletions.push((b.name.clone(), names));
            }
        }
        // Objects of buckets the index lists no settings for (never, but
        // an index is data): uploaded into buckets of that name.
        for (bucket, rest) in by_bucket {
            plan.missing_buckets.push(BucketInfo {
                id: bucket.to_string(),
                name: bucket.to_string(),
                ..Default::default()
            });
            plan.uploads
                .extend(rest.into_iter().map(|e| (e.clone(), false)));
        }
        // Same size: the same file only with the same ETag (and content
        // type), and only if it can really be read.
        let client = self.client.clone();
        let checked: Vec<Result<(ObjectEntry, Option<bool>), EngineError>> =
            or_cancel(cancel, async {
                Ok(futures::stream::iter(to_check.into_iter().map(|(e, t)| {
                    let client = client.clone();
                    async move {
                        let head: Option<Head> =
                            client.head(&e.bucket, &e.name).await.map_err(|err| {
                                failed(
                                    err,
                                    &format!("cannot read {}/{} at the target", e.bucket, e.name),
                                )
                            })?;
                        let Some(h) = head else {
                            return Ok((e, None));
                        };
                        let theirs = t.etag.or(h.etag);
                        let same_etag = matches!((theirs.as_deref(), e.etag.as_deref()),
                        (Some(a), Some(b)) if bare(a) == bare(b));
                        let same_type = match (&h.meta.content_type, &e.content_type) {
                            (Some(a), Some(b)) => a == b,
                            _ => true,
                        };
                        Ok((e, Some(same_etag && same_type)))
                    }
                }))
                .buffer_unordered(concurrency)
                .collect()
                .await)
            })
            .await?;
        for r in checked {
            match r? {
                (e, None) => plan.uploads.push((e, false)),
                (e, Some(false)) => plan.uploads.push((e, true)),
                (_, Some(true)) => plan.unchanged += 1,
            }
        }
        Ok(plan)
    }

    /// Carries the plan out.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn apply(
        &self,
        engine: &Unlocked,
        store: Arc<Store>,
        keys: &Keys,
        index: &StorageIndex,
        plan: Plan,
        concurrency: usize,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<StorageRestoreReport, EngineError> {
        let mut report = StorageRestoreReport {
            target: self.describe(),
            buckets: index.buckets.len(),
            objects: index.objects.len() as u64,
            unchanged: plan.unchanged,
            ..Default::default()
        };
        for b in &plan.missing_buckets {
            progress.set_current(format!("storage: creating bucket {}", b.name));
            let created = or_cancel(cancel, async {
                self.client
                    .create_bucket(b)
                    .await
                    .map_err(|e| failed(e, &format!("cannot create the bucket \"{}\"", b.name)))
            })
            .await?;
            if created {
                report.buckets_created.push(b.name.clone());
            }
        }
        let with_settings: Vec<BucketInfo> = plan
            .missing_buckets
            .iter()
            .filter(|b| {
                b.public.is_some() || b.file_size_limit.is_some() || b.allowed_mime_types.is_some()
            })
            .cloned()
            .collect();
        if matches!(self.client, Client::S3(_)) && !with_settings.is_empty() {
            let applied = match &self.db {
                Some(db) => super::db::apply_bucket_settings(db, &with_settings).await,
                None => Err("the project's connection string cannot be read".into()),
            };
            if let Err(e) = applied {
                report.warnings.push(format!(
                    "the buckets were created through S3, which cannot set their settings, and \
                     the target's database could not take them ({e}): set public, file size \
                     limit and MIME types in the dashboard ({})",
                    with_settings
                        .iter()
                        .map(|b| b.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }

        let total: u64 = plan.uploads.iter().map(|(e, _)| e.size).sum();
        progress.set_total(total.max(1));
        progress.set_read(0);
        let staging = crate::engine::copies::Staging::new(engine, "storage-restore")?;
        let dir = staging.path().to_path_buf();
        let seq = Arc::new(AtomicU64::new(0));
        let n_uploads = plan.uploads.len();
        let mut results = futures::stream::iter(plan.uploads.into_iter().map(|(e, replaces)| {
            let (client, store, keys, dir, seq) = (
                self.client.clone(),
                store.clone(),
                keys.clone(),
                dir.clone(),
                seq.clone(),
            );
            let progress = progress.clone();
            async move {
                let tmp = dir.join(seq.fetch_add(1, Ordering::Relaxed).to_string());
                let (s, t, k) = (store.clone(), tmp.clone(), keys.clone());
                let stored = e.stored.clone();
                let extracted = tokio::task::spawn_blocking(move || s.extract(&stored, &k, &t))
                    .await
                    .map_err(|err| EngineError::Failed(err.to_string()))?;
                if let Err(err) = extracted {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(EngineError::Failed(format!(
                        "{}/{} cannot be restored: {err} (run `supabackup verify`; the files \
                         uploaded so far stay)",
                        e.bucket, e.name
                    )));
                }
                progress.set_current(format!("storage: uploading {}/{}", e.bucket, e.name));
                let sent = client
                    .upload(&e.bucket, &e.name, &tmp, &e.sha256, &e.meta())
                    .await;
                let _ = std::fs::remove_file(&tmp);
                progress.add_read(e.size);
                Ok::<_, EngineError>((e, replaces, sent))
            }
        }))
        .buffer_unordered(concurrency);
        let mut done = 0;
        loop {
            let next = tokio::select! {
                r = results.next() => r,
                _ = cancel.cancelled() => return Err(EngineError::Cancelled),
            };
            let Some(r) = next else { break };
            let (e, replaces, sent) = r?;
            done += 1;
            progress.add_rows(1);
            progress.set_current(format!("storage: {done}/{n_uploads} files uploaded"));
            match sent {
                Ok(()) => {
                    report.uploaded += 1;
                    report.uploaded_bytes += e.size;
                    if replaces {
                        report.replaced += 1;
                    }
                }
                Err(
                    err @ (ClientError::Unreachable { .. }
                    | ClientError::Busy { .. }
                    | ClientError::Broken { .. }
                    | ClientError::WrongKeys { .. }
                    | ClientError::ClockSkew { .. }),
                ) => {
                    return Err(EngineError::Failed(format!(
                        "uploading {}/{} failed: {err}; {} file(s) were uploaded, running the \
                         restore again uploads the rest",
                        e.bucket, e.name, report.uploaded
                    )));
                }
                Err(err) => report
                    .failed
                    .push(format!("{}/{}: {err}", e.bucket, e.name)),
            }
        }
        drop(results);
        drop(staging);
        for (bucket, names) in &plan.deletions {
            progress.set_current(format!(
                "storage: deleting {} file(s) from {bucket}",
                names.len()
            ));
            or_cancel(cancel, async {
                self.client
                    .delete_objects(bucket, names)
                    .await
                    .map_err(|e| failed(e, &format!("cannot delete from the bucket \"{bucket}\"")))
            })
            .await?;
            report.deleted += names.len() as u64;
        }
        engine.log(
            if report.failed.is_empty() {
                Level::Info
            } else {
                Level::Warning
            },
            Some(self.project.id),
            format!(
                "Storage files restored into {}: {} uploaded, {} unchanged, {} deleted, {} failed",
                self.describe(),
                report.uploaded,
                report.unchanged,
                report.deleted,
                report.failed.len()
            ),
        );
        Ok(report)
    }
}
