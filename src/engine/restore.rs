//! Restoring a backup set: checksums first, then roles, schema and data
//! streamed into one psql session with ON_ERROR_STOP, all in one transaction
//! (each part lands whole, and a failure leaves the target as it was).

use crate::domain::{BackupId, ConnInfo, Level, Part, Profile};
use crate::engine::cancel::or_cancel;
use crate::engine::child::{ChildSlot, ToolRun, run_killable, tail};
use crate::engine::codec::{decoder, sha256_file};
use crate::engine::manifest::Manifest;
use crate::engine::profile::{SUPABASE_MANAGED_SCHEMAS, schema_matches};
use crate::engine::sqlfilter::REPLICA_LINE;
use crate::engine::sqlstream::{LineFilter, SqlStream};
use crate::engine::test_connection::CONNECT_TIMEOUT;
use crate::engine::{CancelToken, Engine, EngineError, Progress};
use crate::pgtools::{ToolSet, connect, db_message, quote_ident, quote_literal, server_info};
use serde::Serialize;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What to restore where.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// Backup id, or a backup folder.
    pub source: String,
    /// The database to restore into.
    pub target: ConnInfo,
    /// The user agreed to replace what the target holds.
    pub confirmed: bool,
}

/// How a restore went.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The backup restored.
    pub backup_id: BackupId,
    /// The target, password masked.
    pub target: String,
    /// Parts restored, in order.
    pub parts: Vec<String>,
    /// Roles the target already had: left as they were.
    pub existing_roles: Vec<String>,
    /// Tables the target held before (now replaced).
    pub replaced_tables: usize,
    /// Rows loaded.
    pub rows: u64,
    /// Things worth knowing.
    pub warnings: Vec<String>,
    /// Seconds taken.
    pub seconds: f64,
}

/// Checks every part's SHA-256 (and the manifest's, when the catalog knows
/// it) before anything touches the target. Returns the manifest and its
/// SHA-256.
pub fn check_checksums(
    dir: &Path,
    expected_manifest: Option<&str>,
) -> Result<(Manifest, String), EngineError> {
    let (manifest, manifest_sha) = Manifest::read_with_sha(dir)?;
    if expected_manifest.is_some_and(|expected| manifest_sha != expected) {
        return Err(EngineError::Failed(
            "manifest.json does not match the catalog's checksum: the backup was changed; \
             nothing was restored"
                .into(),
        ));
    }
    for p in &manifest.parts {
        let path = dir.join(&p.file);
        let (bytes, sha) = sha256_file(&path)
            .map_err(|e| EngineError::io("cannot read the backup file", &path, e))?;
        if bytes != p.bytes || sha != p.sha256 {
            return Err(EngineError::Failed(format!(
                "{} is damaged (its checksum does not match the manifest): nothing was restored; \
                 restore an older backup",
                p.file
            )));
        }
    }
    Ok((manifest, manifest_sha))
}

/// Passes lines through; drops the replica line when the target forbids it.
struct RestoreFilter {
    strip_replica: bool,
}

impl LineFilter for RestoreFilter {
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        if self.strip_replica && line == REPLICA_LINE.as_bytes() {
            out.extend_from_slice(b"-- ");
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

/// What the target looks like before the restore.
struct TargetState {
    server_major: u32,
    user_tables: Vec<String>,
    existing_roles: Vec<String>,
    replica_allowed: bool,
    schemas: Vec<String>,
    tables: Vec<(String, String)>,
}

async fn inspect_target(
    target: &ConnInfo,
    manifest: &Manifest,
) -> Result<TargetState, EngineError> {
    let client = connect(target, CONNECT_TIMEOUT).await?;
    let server = server_info(&client, target).await?;
    let q = |e: tokio_postgres::Error| {
        EngineError::Failed(format!("cannot inspect the target: {}", db_message(e)))
    };
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'pg\\_%' \
               AND n.nspname <> 'information_schema' ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(q)?;
    let tables: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let managed: &[&str] = match manifest.profile {
        Profile::Supabase => SUPABASE_MANAGED_SCHEMAS,
        Profile::Postgres => &[],
    };
    let mut user_tables: Vec<String> = tables
        .iter()
        .filter(|(s, _)| !schema_matches(s, managed))
        .map(|(s, t)| format!("{s}.{t}"))
        .collect();
    // A Supabase target with users already signed up is not empty either.
    if manifest.profile == Profile::Supabase
        && tables.iter().any(|(s, t)| s == "auth" && t == "users")
    {
        let n: i64 = client
            .query_one("SELECT count(*) FROM auth.users", &[])
            .await
            .map_err(q)?
            .get(0);
        if n > 0 {
            user_tables.push("auth.users".into());
        }
    }
    let existing_roles: Vec<String> = client
        .query(
            "SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname = ANY($1) ORDER BY 1",
            &[&manifest.roles],
        )
        .await
        .map_err(q)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let schemas: Vec<String> = client
        .query("SELECT nspname::text FROM pg_catalog.pg_namespace", &[])
        .await
        .map_err(q)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Try it: superusers may, Supabase's postgres may, others often may not.
    let replica_allowed = client
        .batch_execute("BEGIN; SET LOCAL session_replication_role = replica; ROLLBACK;")
        .await
        .is_ok();
    if !replica_allowed {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    Ok(TargetState {
        server_major: server.version.major,
        user_tables,
        existing_roles,
        replica_allowed,
        schemas,
        tables,
    })
}

/// SQL that empties the schemas the backup recreates: other schemas are
/// dropped, `public` is emptied (keeping extensions and the schema itself).
fn clean_sql(manifest: &Manifest, state: &TargetState) -> String {
    let mut sql = String::from("-- supabackup: replacing what the target held\n");
    for s in manifest
        .schemas
        .iter()
        .filter(|s| state.schemas.contains(s))
    {
        if s == "public" {
            sql.push_str(&format!(
                "DO $supabackup$ DECLARE stmt text; BEGIN FOR stmt IN SELECT unnest(ARRAY( \
                 SELECT format('DROP %s IF EXISTS %I.%I CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW' \
                   WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' \
                   ELSE 'TABLE' END, n.nspname, c.relname) \
                 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = {lit} AND c.relkind IN ('r','p','v','m','S','f') AND NOT c.relispartition \
                   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = c.oid \
                     AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i')))) \
                 UNION ALL \
                 SELECT format('DROP %s IF EXISTS %I.%I(%s) CASCADE', CASE p.prokind WHEN 'p' THEN 'PROCEDURE' \
                   WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, n.nspname, p.proname, \
                   pg_catalog.pg_get_function_identity_arguments(p.oid)) \
                 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                 WHERE n.nspname = {lit} \
                   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') \
                 UNION ALL \
                 SELECT format('DROP %s IF EXISTS %I.%I CASCADE', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, \
                   n.nspname, t.typname) \
                 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
                 WHERE n.nspname = {lit} AND t.typtype IN ('e', 'd', 'r', 'm') \
                   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') \
                 )) LOOP EXECUTE stmt; END LOOP; END $supabackup$;\n",
                lit = quote_literal(s)
            ));
        } else {
            sql.push_str(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE;\n",
                quote_ident(s)
            ));
        }
    }
    sql
}

/// `TRUNCATE` of every backup table that exists when the data loads: those
/// the target has now, and (after a clean) those the schema part recreated,
/// empty. One statement, so foreign keys among them do not get in the way.
fn truncate_sql(manifest: &Manifest, state: &TargetState, cleaned: bool) -> String {
    let survivors: Vec<String> = manifest
        .tables
        .iter()
        .filter(|t| {
            state
                .tables
                .iter()
                .any(|(s, n)| *s == t.schema && *n == t.table)
                || (cleaned && manifest.schemas.contains(&t.schema))
        })
        .map(|t| format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.table)))
        .collect();
    if survivors.is_empty() {
        return String::new();
    }
    format!(
        "-- supabackup: the backup's rows replace these tables' rows\nTRUNCATE TABLE ONLY {};\n",
        survivors.join(", ")
    )
}

/// The newest psql on the machine (it reads dumps of every older pg_dump).
pub fn newest_psql(sets: &[ToolSet]) -> Result<PathBuf, EngineError> {
    sets.iter()
        .filter(|s| s.psql.is_some())
        .max_by_key(|s| s.version)
        .and_then(|s| s.psql.clone())
        .ok_or_else(|| {
            EngineError::Failed(
                "no psql found: install the PostgreSQL client tools (postgresql-client)".into(),
            )
        })
}

impl Engine {
    /// Restores a backup (by id or folder) into `req.target`.
    pub async fn restore(
        &self,
        req: RestoreRequest,
        progress: Arc<Progress>,
        cancel: CancelToken,
    ) -> Result<RestoreReport, EngineError> {
        let result = self.restore_inner(&req, &progress, &cancel).await;
        progress.done.store(true, Ordering::SeqCst);
        let target = req.target.masked();
        match &result {
            Ok(r) => self.log(
                Level::Info,
                None,
                format!(
                    "restored backup {} into {target} ({} rows)",
                    r.backup_id.short(),
                    r.rows
                ),
            ),
            Err(EngineError::NeedsConfirmation(_)) => {}
            Err(e) => self.log(
                Level::Error,
                None,
                format!("restore into {target} failed: {e}"),
            ),
        }
        result
    }

    async fn restore_inner(
        &self,
        req: &RestoreRequest,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<RestoreReport, EngineError> {
        let started = std::time::Instant::now();
        progress.set_current("checking checksums");
        let (dir, expected, _) = self.locate_backup(&req.source)?;
        let d = dir.clone();
        let (manifest, _) =
            tokio::task::spawn_blocking(move || check_checksums(&d, expected.as_deref()))
                .await
                .map_err(|e| EngineError::Failed(e.to_string()))??;
        progress.set_current("inspecting the target");
        let state = or_cancel(cancel, inspect_target(&req.target, &manifest)).await?;
        let non_empty = !state.user_tables.is_empty();
        if non_empty && !req.confirmed {
            return Err(EngineError::NeedsConfirmation(format!(
                "the target database \"{}\" already has {} table(s) (such as {}): restoring \
                 replaces them; nothing was changed",
                req.target.dbname_or_default(),
                state.user_tables.len(),
                state.user_tables[..state.user_tables.len().min(3)].join(", ")
            )));
        }
        let (sets, _) = self.find_tools().await?;
        let psql = newest_psql(&sets)?;

        let mut warnings = Vec::new();
        if !state.replica_allowed && manifest.parts.iter().any(|p| p.part == Part::Data) {
            warnings.push(
                "this user may not set session_replication_role on the target: triggers fire and \
                 foreign keys are checked while the data loads"
                    .to_string(),
            );
        }
        if state.server_major
            < manifest
                .server_version
                .split('.')
                .next()
                .and_then(|m| m.parse().ok())
                .unwrap_or(0)
        {
            warnings.push(format!(
                "the target runs PostgreSQL {} but the backup came from {}: newer syntax may fail",
                state.server_major, manifest.server_version
            ));
        }
        let has_schema = manifest.parts.iter().any(|p| p.part == Part::Schema);
        let cleaned = non_empty && has_schema;
        let mut prefixes: Vec<(Part, String)> = Vec::new();
        if cleaned {
            prefixes.push((Part::Schema, clean_sql(&manifest, &state)));
        }
        if non_empty {
            prefixes.push((Part::Data, truncate_sql(&manifest, &state, cleaned)));
        }

        let tool = ToolRun {
            program: psql,
            args: vec![
                "-X".into(),
                "-q".into(),
                "-v".into(),
                "ON_ERROR_STOP=1".into(),
                "--single-transaction".into(),
                "--no-password".into(),
                format!("--dbname={}", req.target.libpq_string_without_password()),
            ],
            password: req
                .target
                .password()
                .map(|p| zeroize::Zeroizing::new(p.to_string())),
        };
        progress.estimated_total.store(
            manifest
                .parts
                .iter()
                .map(|p| p.raw_bytes)
                .sum::<u64>()
                .max(1),
            Ordering::Relaxed,
        );
        let strip_replica = !state.replica_allowed;
        let m = manifest.clone();
        let (p, c, d) = (progress.clone(), cancel.clone(), dir.clone());
        let rows = run_killable(cancel, move |slot| {
            feed_psql(&tool, &d, &m, &prefixes, strip_replica, &p, &c, &slot)
        })
        .await
        .map_err(|e| EngineError::Failed(e.to_string()))??;
        Ok(RestoreReport {
            backup_id: manifest.id,
            target: req.target.masked(),
            parts: manifest
                .parts
                .iter()
                .map(|p| p.part.as_str().to_string())
                .collect(),
            existing_roles: state.existing_roles,
            replaced_tables: if non_empty {
                state.user_tables.len()
            } else {
                0
            },
            rows,
            warnings,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Streams every part (with its prefix) into one psql. Blocking.
#[allow(clippy::too_many_arguments)]
fn feed_psql(
    tool: &ToolRun,
    dir: &Path,
    manifest: &Manifest,
    prefixes: &[(Part, String)],
    strip_replica: bool,
    progress: &Progress,
    cancel: &CancelToken,
    slot: &ChildSlot,
) -> Result<u64, EngineError> {
    let running = tool.spawn(slot, Stdio::piped(), Stdio::null())?;
    let mut stdin = running
        .slot
        .with(|c| c.stdin.take())
        .flatten()
        .ok_or_else(|| EngineError::Failed("psql has no input pipe".into()))?;
    let mut rows = 0u64;
    let mut broken = false;
    'parts: for part in &manifest.parts {
        progress.set_current(format!("restoring {}", part.part.as_str()));
        for (p, sql) in prefixes {
            if *p == part.part && stdin.write_all(sql.as_bytes()).is_err() {
                broken = true;
                break 'parts;
            }
        }
        let path = dir.join(&part.file);
        let file = std::fs::File::open(&path)
            .map_err(|e| EngineError::io("cannot open the backup file", &path, e))?;
        let mut reader = decoder(file, manifest.compression.codec)
            .map_err(|e| EngineError::io("cannot decompress", &path, e))?;
        let mut stream = SqlStream::new(RestoreFilter { strip_replica });
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            if cancel.is_cancelled() {
                break 'parts;
            }
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(EngineError::Failed(format!(
                        "{} cannot be decompressed: {e}; nothing was restored",
                        part.file
                    )));
                }
            };
            Progress::add(&progress.bytes_read, n as u64);
            let before = stream.rows();
            if stream.feed(&buf[..n], &mut stdin).is_err() {
                broken = true;
                break 'parts;
            }
            Progress::add(&progress.rows, stream.rows() - before);
            if let Some(t) = stream.current_table() {
                progress.set_current(format!("restoring data: {t}"));
            }
        }
        rows += stream.rows();
        match stream.finish(&mut stdin) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                return Err(EngineError::Failed(format!(
                    "{} ends in the middle of a table's data: the backup is truncated; nothing was restored",
                    part.file
                )));
            }
            Err(_) => {
                broken = true;
                break 'parts;
            }
        }
    }
    drop(stdin);
    if cancel.is_cancelled() {
        running.slot.kill();
        let _ = running.wait();
        return Err(EngineError::Cancelled);
    }
    let (status, stderr) = running.wait();
    let ok = status.is_some_and(|s| s.success());
    if !ok || broken {
        let errors: String = stderr
            .lines()
            .filter(|l| !l.contains("NOTICE:"))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(EngineError::Failed(format!(
            "psql stopped at the first error; the restore ran in one transaction, so the \
             target is as it was: {}",
            tool.mask(&tail(&errors, 6))
        )));
    }
    Ok(rows)
}
