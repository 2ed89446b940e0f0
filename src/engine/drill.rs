//! The restore drill: restore into a scratch database, count rows per table,
//! compare with the manifest (and, for a set with Storage files, the object
//! count and bytes per bucket of its index with the restored
//! `storage.objects` rows), drop the scratch database.

use crate::domain::{ConnInfo, Level};
use crate::engine::restore::RestoreRequest;
use crate::engine::set::{BackupSet, Details, Keys, SetRef};
use crate::engine::test_connection::CONNECT_TIMEOUT;
use crate::engine::{CancelToken, Engine, EngineError, Progress};
use crate::pgtools::{connect, db_message, quote_ident};
use serde::Serialize;
use std::sync::Arc;

/// A table whose row count differs from the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct RowMismatch {
    /// `schema.table`.
    pub table: String,
    /// Rows at backup time.
    pub expected: u64,
    /// Rows after the restore (`None`: the table is missing).
    pub found: Option<u64>,
}

/// A bucket whose objects in the set's Storage index and rows in the
/// restored `storage.objects` differ.
#[derive(Debug, Clone, Serialize)]
pub struct BucketMismatch {
    /// The bucket.
    pub bucket: String,
    /// Files in the backup's index.
    pub expected_objects: u64,
    /// Their bytes.
    pub expected_bytes: u64,
    /// Rows in the restored `storage.objects`.
    pub found_objects: u64,
    /// The sizes those rows give.
    pub found_bytes: u64,
}

/// What to drill and where.
#[derive(Debug, Clone)]
pub struct DrillRequest {
    /// The set.
    pub source: SetRef,
    /// A server where a scratch database may be created.
    pub server: ConnInfo,
    /// Create the scratch database from this template.
    pub template: Option<String>,
    /// Keep the scratch database afterwards.
    pub keep: bool,
    /// What opens the set, when it is encrypted.
    pub keys: Keys,
}

/// How a drill went.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// The scratch database.
    pub database: String,
    /// Whether it was kept.
    pub kept: bool,
    /// Tables compared.
    pub tables_checked: usize,
    /// Rows restored.
    pub rows: u64,
    /// Tables that differ.
    pub mismatches: Vec<RowMismatch>,
    /// The restore's own report.
    pub warnings: Vec<String>,
    /// Buckets compared with `storage.objects` (none: the set has no
    /// Storage files).
    pub buckets_checked: usize,
    /// Buckets whose files and rows differ.
    pub storage_mismatches: Vec<BucketMismatch>,
}

impl DrillReport {
    /// True when every table came back with its rows (and every bucket's
    /// files with theirs).
    pub fn ok(&self) -> bool {
        self.mismatches.is_empty() && self.storage_mismatches.is_empty()
    }
}

impl Engine {
    /// Restores a set into a new database on the request's server (from its
    /// template if given), compares row counts, then drops it unless `keep`.
    pub async fn drill(
        &self,
        req: DrillRequest,
        progress: Arc<Progress>,
        cancel: CancelToken,
    ) -> Result<DrillReport, EngineError> {
        let (dir, _, record) = self.locate_set(&req.source)?;
        let set = BackupSet::open(&dir)?;
        if set.manifest.parts.is_empty() {
            return Err(EngineError::Failed(format!(
                "backup {} holds only Storage files, no database to drill: `supabackup verify {}` \
                 checks every stored file",
                set.manifest.id.short(),
                set.manifest.id.short()
            )));
        }
        let details = set.details(&req.keys)?;
        let storage = match &set.manifest.storage {
            Some(info) => Some(crate::engine::storage::read_index(
                &set.dir, info, &req.keys,
            )?),
            None => None,
        };
        let manifest = set.manifest;
        let (server, keep) = (&req.server, req.keep);
        let scratch = format!(
            "supabackup_drill_{}_{}",
            manifest.id.short(),
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        );
        let admin = connect(server, CONNECT_TIMEOUT).await?;
        let create = match req.template.as_deref() {
            Some(t) => format!(
                "CREATE DATABASE {} TEMPLATE {}",
                quote_ident(&scratch),
                quote_ident(t)
            ),
            None => format!("CREATE DATABASE {}", quote_ident(&scratch)),
        };
        admin.batch_execute(&create).await.map_err(|e| {
            EngineError::Failed(format!(
                "cannot create the drill database {scratch}: {} (the drill needs a role that may \
                 CREATE DATABASE on that server)",
                db_message(e)
            ))
        })?;
        let target = server.with_dbname(&scratch);
        let outcome = self
            .drill_in(&details, storage.as_ref(), &req, &target, progress, cancel)
            .await;
        let kept = keep && outcome.is_ok();
        if !kept {
            let drop = format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&scratch)
            );
            if let Err(e) = admin.batch_execute(&drop).await {
                self.log(
                    Level::Warning,
                    None,
                    format!("could not drop the drill database {scratch}: {e}"),
                );
            }
        }
        let mut report = outcome?;
        report.database = scratch;
        report.kept = kept;
        let project = record.map(|b| b.project_id);
        if report.ok() {
            self.log(
                Level::Info,
                project,
                format!(
                    "restore drill of {} passed: {} tables, {} rows",
                    manifest.id.short(),
                    report.tables_checked,
                    report.rows
                ),
            );
        } else {
            self.log(
                Level::Error,
                project,
                format!(
                    "restore drill of {} found {} table(s) with other row counts and {} \
                     bucket(s) whose files and storage.objects rows differ",
                    manifest.id.short(),
                    report.mismatches.len(),
                    report.storage_mismatches.len()
                ),
            );
        }
        Ok(report)
    }

    async fn drill_in(
        &self,
        details: &Details,
        storage: Option<&crate::engine::storage::StorageIndex>,
        req: &DrillRequest,
        target: &ConnInfo,
        progress: Arc<Progress>,
        cancel: CancelToken,
    ) -> Result<DrillReport, EngineError> {
        let restore = RestoreRequest {
            source: req.source.clone(),
            keys: req.keys.clone(),
            target: target.clone(),
            confirmed: true,
            // The drill runs after verify, which checked them.
            skip_checksums: false,
        };
        let restored = self
            .restore_inner(&restore, &progress, &cancel, None, false)
            .await;
        progress.finish();
        let mut restored = restored?;
        progress.set_current("comparing row counts");
        let client = connect(target, CONNECT_TIMEOUT).await?;
        let mut mismatches = Vec::new();
        for t in &details.tables {
            let q = format!(
                "SELECT count(*) FROM ONLY {}.{}",
                quote_ident(&t.schema),
                quote_ident(&t.table)
            );
            let found = client
                .query_one(&q, &[])
                .await
                .ok()
                .map(|r| r.get::<_, i64>(0).max(0) as u64);
            if found != Some(t.rows) {
                mismatches.push(RowMismatch {
                    table: format!("{}.{}", t.schema, t.table),
                    expected: t.rows,
                    found,
                });
            }
        }
        let (mut buckets_checked, mut storage_mismatches) = (0, Vec::new());
        if let Some(index) = storage {
            progress.set_current("comparing Storage files with storage.objects");
            let expected = index.per_bucket();
            match crate::engine::storage::bucket_counts(&client).await {
                Ok(Some(found)) => {
                    for (bucket, (objects, bytes)) in &expected {
                        buckets_checked += 1;
                        let (n, b) = found.get(bucket).copied().unwrap_or((0, 0));
                        if (n, b) != (*objects, *bytes) {
                            storage_mismatches.push(BucketMismatch {
                                bucket: bucket.clone(),
                                expected_objects: *objects,
                                expected_bytes: *bytes,
                                found_objects: n,
                                found_bytes: b,
                            });
                        }
                    }
                }
                Ok(None) => restored.warnings.push(format!(
                    "the restored database has no storage.objects table: the {} Storage file(s) \
                     of the backup were not compared",
                    index.objects.len()
                )),
                Err(e) => restored.warnings.push(format!(
                    "storage.objects could not be counted ({e}): the Storage files were not \
                     compared"
                )),
            }
        }
        Ok(DrillReport {
            database: String::new(),
            kept: false,
            tables_checked: details.tables.len(),
            rows: restored.rows,
            mismatches,
            warnings: restored.warnings,
            buckets_checked,
            storage_mismatches,
        })
    }
}
