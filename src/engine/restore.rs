//! Restoring a backup set: checksums first, then roles, schema and data
//! streamed into one psql session with ON_ERROR_STOP, all in one transaction
//! (each part lands whole, and a failure leaves the target as it was).

use crate::domain::{BackupId, ConnInfo, Level, Part, Profile};
use crate::engine::cancel::or_cancel;
use crate::engine::child::{ChildSlot, ToolRun, run_killable, tail};
use crate::engine::profile::{SUPABASE_MANAGED_SCHEMAS, schema_matches};
use crate::engine::set::{BackupSet, Details, Keys, Manifest, SetRef};
use crate::engine::sqlfilter::{
    REPLICA_LINE, WARNING_MARK, comment_out, is_blob_transaction, push_line,
};
use crate::engine::sqlstream::{Filtered, LineFilter, SqlStream};
use crate::engine::storage::{RestoreOptions, RestoreScope, StorageRestoreReport};
use crate::engine::test_connection::CONNECT_TIMEOUT;
use crate::engine::{CancelToken, Engine, EngineError, Progress, Unlocked};
use crate::pgtools::{ToolSet, connect, db_message, quote_ident, quote_literal, server_info};
use serde::Serialize;
use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

/// What to restore where.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// The set: a backup id, or a backup folder.
    pub source: SetRef,
    /// The database to restore into.
    pub target: ConnInfo,
    /// The user agreed to replace what the target holds.
    pub confirmed: bool,
    /// What opens the set, when it is encrypted (identity files, the
    /// vault's keys, a passphrase); empty otherwise.
    pub keys: Keys,
    /// Restore a set whose `SHA256SUMS` is missing or disagrees with its
    /// manifest (`--skip-checksums`); each file is still checked against
    /// the manifest's SHA-256.
    pub skip_checksums: bool,
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
    /// Login roles that came back without a password (the backup could not
    /// read them): set one with `ALTER ROLE name PASSWORD '...'`.
    pub logins_without_password: Vec<String>,
    /// Things worth knowing.
    pub warnings: Vec<String>,
    /// Seconds taken.
    pub seconds: f64,
    /// The Storage files, when they were restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageRestoreReport>,
}

/// Passes lines through; drops the replica line when the target forbids it,
/// and rewrites what a newer pg_dump writes that an older target's syntax
/// lacks (for what the older server can still express).
struct RestoreFilter {
    strip_replica: bool,
    in_blobs: bool,
    target_major: u32,
    /// What the rewriting changed, for the report.
    notes: Vec<String>,
}

impl RestoreFilter {
    fn note(&mut self, what: String) {
        if !self.notes.contains(&what) {
            self.notes.push(what);
        }
    }
}

impl LineFilter for RestoreFilter {
    fn entry(&mut self, entry: &crate::engine::sqlstream::Entry) {
        self.in_blobs = entry.readings().any(|e| e.desc == "BLOBS");
    }

    fn line(&mut self, line: &[u8], top: bool, out: &mut Vec<u8>) {
        if !top {
            return push_line(out, line);
        }
        if (self.strip_replica && line == REPLICA_LINE.as_bytes())
            || is_blob_transaction(self.in_blobs, line)
        {
            return comment_out(out, line);
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return push_line(out, line);
        };
        match downgrade(text, self.target_major) {
            Downgrade::Keep => push_line(out, line),
            Downgrade::Drop(why) => {
                if let Some(why) = why {
                    self.note(why);
                }
                comment_out(out, line)
            }
            Downgrade::Rewrite(new, why) => {
                if let Some(why) = why {
                    self.note(why);
                }
                push_line(out, new.as_bytes())
            }
        }
    }
}

/// What to do with a statement for an older target.
#[derive(Debug, PartialEq, Eq)]
enum Downgrade {
    Keep,
    Drop(Option<String>),
    Rewrite(String, Option<String>),
}

/// Rewrites a top-level line that a server of `major` cannot run but can
/// express otherwise: PostgreSQL 17's MAINTAIN privilege (not in 15 and 16)
/// and `SET ACCESS METHOD heap` on partitioned tables, PostgreSQL 16's role
/// grant options (INHERIT, SET: not in 15).
fn downgrade(line: &str, major: u32) -> Downgrade {
    if major < 17 {
        if line.starts_with("SET transaction_timeout") {
            return Downgrade::Drop(None);
        }
        if line.starts_with("ALTER TABLE ") && line.ends_with(" SET ACCESS METHOD \"heap\";") {
            return Downgrade::Drop(None);
        }
        if let Some(d) = without_maintain(line) {
            return d;
        }
    }
    if major < 16
        && line.starts_with("GRANT ")
        && let Some(i) = line.find(" WITH ")
        && line[..i].contains(" TO ")
        && !line[..i].contains(" ON ")
    {
        let options = line[i + " WITH ".len()..].trim_end_matches(';');
        let mut kept = Vec::new();
        let mut lost = Vec::new();
        for opt in options.split(',').map(str::trim) {
            match opt {
                "ADMIN OPTION" | "ADMIN TRUE" => kept.push("ADMIN OPTION"),
                "INHERIT TRUE" | "SET TRUE" | "ADMIN FALSE" => {}
                other => lost.push(other.to_string()),
            }
        }
        let stmt = if kept.is_empty() {
            format!("{};", &line[..i])
        } else {
            format!("{} WITH {};", &line[..i], kept.join(", "))
        };
        let why = (!lost.is_empty()).then(|| {
            format!(
                "PostgreSQL {major} has no per-grant {} option: \"{stmt}\" was granted without it",
                lost.join(", ")
            )
        });
        return Downgrade::Rewrite(stmt, why);
    }
    Downgrade::Keep
}

/// `GRANT|REVOKE [GRANT OPTION FOR] privs ON ...` (also inside ALTER DEFAULT
/// PRIVILEGES) without MAINTAIN; `None` when the line has none.
fn without_maintain(line: &str) -> Option<Downgrade> {
    if !line.contains("MAINTAIN") {
        return None;
    }
    let (head, rest) = ["GRANT ", "REVOKE "].iter().find_map(|kw| {
        let at = if line.starts_with(kw) {
            0
        } else {
            line.starts_with("ALTER DEFAULT PRIVILEGES ")
                .then(|| line.find(&format!(" {kw}")).map(|i| i + 1))??
        };
        Some((&line[..at + kw.len()], &line[at + kw.len()..]))
    })?;
    let (option, rest) = match rest.strip_prefix("GRANT OPTION FOR ") {
        Some(r) => ("GRANT OPTION FOR ", r),
        None => ("", rest),
    };
    let on = rest.find(" ON ")?;
    let privs: Vec<&str> = rest[..on]
        .split(',')
        .map(str::trim)
        .filter(|p| *p != "MAINTAIN")
        .collect();
    if privs.len() == rest[..on].split(',').count() {
        return None;
    }
    if privs.is_empty() {
        return Some(Downgrade::Drop(None));
    }
    Some(Downgrade::Rewrite(
        format!("{head}{option}{}{}", privs.join(","), &rest[on..]),
        None,
    ))
}

/// What the target looks like before the restore.
struct TargetState {
    server_major: u32,
    server_version: String,
    user_tables: Vec<String>,
    existing_roles: Vec<String>,
    replica_allowed: bool,
    schemas: Vec<String>,
    tables: Vec<(String, String)>,
    /// NOT VALID check constraints: (is a domain, schema, table or domain,
    /// constraint, definition).
    not_valid: Vec<NotValid>,
}

/// A NOT VALID check constraint of the target: rows that break it may be
/// in the backup too (that is why it is NOT VALID), so it steps aside
/// while rows load into its existing table and comes back NOT VALID.
struct NotValid {
    domain: bool,
    schema: String,
    object: String,
    name: String,
    definition: String,
}

async fn inspect_target(
    target: &ConnInfo,
    manifest: &Manifest,
    details: &Details,
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
            &[&details.roles],
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
    let not_valid = client
        .query(
            "SELECT false, n.nspname::text, r.relname::text, c.conname::text, \
                    pg_catalog.pg_get_constraintdef(c.oid) \
             FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class r ON r.oid = c.conrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace \
             WHERE c.contype = 'c' AND NOT c.convalidated AND c.coninhcount = 0 \
             UNION ALL \
             SELECT true, n.nspname::text, t.typname::text, c.conname::text, \
                    pg_catalog.pg_get_constraintdef(c.oid) \
             FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_type t ON t.oid = c.contypid \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE c.contype = 'c' AND NOT c.convalidated ORDER BY 2, 3, 4",
            &[],
        )
        .await
        .map_err(q)?
        .iter()
        .map(|r| NotValid {
            domain: r.get(0),
            schema: r.get(1),
            object: r.get(2),
            name: r.get(3),
            definition: r.get(4),
        })
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
        server_version: server.version.to_string(),
        user_tables,
        existing_roles,
        replica_allowed,
        schemas,
        tables,
        not_valid,
    })
}

/// SQL that empties the schemas the backup recreates: other schemas are
/// dropped, `public` is emptied (keeping extensions and the schema itself).
fn clean_sql(details: &Details, state: &TargetState) -> String {
    let mut sql = String::from("-- supabackup: replacing what the target held\n");
    for s in details.schemas.iter().filter(|s| state.schemas.contains(s)) {
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
fn truncate_sql(details: &Details, state: &TargetState, cleaned: bool) -> String {
    let survivors: Vec<String> = details
        .tables
        .iter()
        .filter(|t| {
            state
                .tables
                .iter()
                .any(|(s, n)| *s == t.schema && *n == t.table)
                || (cleaned && details.schemas.contains(&t.schema))
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

/// The NOT VALID check constraints on tables and domains that stay through
/// the restore (a replacing restore drops the backup's schemas first) and
/// that rows of the backup load into: SQL that drops them before the data
/// and adds them back NOT VALID after it.
fn not_valid_sql(details: &Details, state: &TargetState, cleaned: bool) -> (String, String) {
    let stays = |schema: &str| !(cleaned && details.schemas.iter().any(|s| s == schema));
    let (mut before, mut after) = (String::new(), String::new());
    for c in state.not_valid.iter().filter(|c| stays(&c.schema)) {
        let loaded = c.domain
            || details
                .tables
                .iter()
                .any(|t| t.schema == c.schema && t.table == c.object);
        if !loaded {
            continue;
        }
        let what = if c.domain { "DOMAIN" } else { "TABLE" };
        let object = format!("{}.{}", quote_ident(&c.schema), quote_ident(&c.object));
        before.push_str(&format!(
            "ALTER {what} {object} DROP CONSTRAINT {};\n",
            quote_ident(&c.name)
        ));
        after.push_str(&format!(
            "ALTER {what} {object} ADD CONSTRAINT {} {};\n",
            quote_ident(&c.name),
            c.definition
        ));
    }
    if before.is_empty() {
        return (before, after);
    }
    (
        format!("-- supabackup: NOT VALID checks step aside while the rows load\n{before}"),
        format!("-- supabackup: NOT VALID checks back in place\n{after}"),
    )
}

/// The newest psql on the machine (it reads dumps of every older pg_dump),
/// and a warning when it is older than the pg_dump that wrote the set
/// (`source_major`): newer dumps may use commands it does not know.
pub fn newest_psql(
    sets: &[ToolSet],
    source_major: u32,
) -> Result<(PathBuf, Option<String>), EngineError> {
    // Among equal versions, the first in search order (the pg-bin-dir
    // setting, then the installed ones...): `max_by_key` keeps the last.
    let newest = sets
        .iter()
        .rev()
        .filter(|s| s.psql.is_some())
        .max_by_key(|s| s.version);
    let Some((set, psql)) = newest.and_then(|s| Some((s, s.psql.clone()?))) else {
        return Err(EngineError::Failed(format!(
            "no psql found on this machine to restore with: {}",
            crate::pgtools::install_hint(source_major.max(15))
        )));
    };
    let warning = (set.version.major < source_major).then(|| {
        format!(
            "psql {} is older than the PostgreSQL {source_major} pg_dump that wrote this backup; \
             if the restore stops on a command psql does not know: {}",
            set.version,
            crate::pgtools::install_hint(source_major)
        )
    });
    Ok((psql, warning))
}

impl Engine {
    /// Restores a backup's database (by id or folder) into `req.target`.
    /// Its Storage files need a target project's access: see
    /// [`Unlocked::restore_with`].
    pub async fn restore(
        &self,
        req: RestoreRequest,
        progress: Arc<Progress>,
        cancel: CancelToken,
    ) -> Result<RestoreReport, EngineError> {
        self.restore_logged(req, true, progress, cancel).await
    }

    /// [`Self::restore`] without the note about Storage files it leaves
    /// out (`--database-only`).
    pub async fn restore_database(
        &self,
        req: RestoreRequest,
        progress: Arc<Progress>,
        cancel: CancelToken,
    ) -> Result<RestoreReport, EngineError> {
        self.restore_logged(req, false, progress, cancel).await
    }

    /// The database restore, its progress finished and its outcome logged.
    async fn restore_logged(
        &self,
        req: RestoreRequest,
        note_storage: bool,
        progress: Arc<Progress>,
        cancel: CancelToken,
    ) -> Result<RestoreReport, EngineError> {
        let result = self
            .restore_inner(&req, &progress, &cancel, None, note_storage)
            .await;
        progress.finish();
        self.log_restore(&req, &result);
        result
    }

    fn log_restore(&self, req: &RestoreRequest, result: &Result<RestoreReport, EngineError>) {
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
    }

    /// The set checked: every file's checksum, then (an encrypted set) the
    /// keys against every encrypted file. Before anything touches a target.
    async fn open_for_restore(&self, req: &RestoreRequest) -> Result<BackupSet, EngineError> {
        let (dir, expected, _) = self.locate_set(&req.source)?;
        let keys = req.keys.clone();
        let sums = if req.skip_checksums {
            crate::engine::set::Sums::ManifestOnly
        } else {
            crate::engine::set::Sums::Required
        };
        tokio::task::spawn_blocking(move || {
            let set = BackupSet::open_checked(&dir, expected.as_deref(), sums)?;
            set.check_keys(&keys)?;
            Ok::<_, EngineError>(set)
        })
        .await
        .map_err(|e| EngineError::Failed(e.to_string()))?
    }

    /// Restores the database parts (`opened`: the set, already checked).
    /// `note_storage`: say so when the set also holds Storage files, which
    /// this does not restore.
    pub(crate) async fn restore_inner(
        &self,
        req: &RestoreRequest,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
        opened: Option<BackupSet>,
        note_storage: bool,
    ) -> Result<RestoreReport, EngineError> {
        let started = std::time::Instant::now();
        progress.set_current("checking checksums");
        let set = match opened {
            Some(set) => set,
            None => self.open_for_restore(req).await?,
        };
        if set.manifest.parts.is_empty() {
            return Err(EngineError::Failed(format!(
                "backup {} holds only Storage files, no database: restore them into a project \
                 with `supabackup restore {} --to-project P --storage-only`",
                set.manifest.id.short(),
                set.manifest.id.short()
            )));
        }
        let keys = req.keys.clone();
        let set_for_details = set.clone();
        let details = tokio::task::spawn_blocking(move || set_for_details.details(&keys))
            .await
            .map_err(|e| EngineError::Failed(e.to_string()))??;
        let manifest = set.manifest.clone();
        progress.set_current("inspecting the target");
        let state = or_cancel(cancel, inspect_target(&req.target, &manifest, &details)).await?;
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
        let (psql, psql_warning) = newest_psql(&sets, details.source_major())?;

        let mut warnings: Vec<String> = psql_warning.into_iter().collect();
        if !state.replica_allowed && manifest.parts.iter().any(|p| p.part == Part::Data) {
            warnings.push(
                "this user may not set session_replication_role on the target: triggers that \
                 already exist there fire and their foreign keys are checked while the rows load \
                 (the backup's own triggers and constraints come after the rows anyway)"
                    .to_string(),
            );
        }
        let has_schema = manifest.parts.iter().any(|p| p.part.is_schema());
        let cleaned = non_empty && has_schema;
        let mut prefixes: Vec<(Part, String)> = Vec::new();
        if cleaned {
            let first_schema = manifest
                .parts
                .iter()
                .find(|p| p.part.is_schema())
                .map(|p| p.part)
                .unwrap_or(Part::PreData);
            prefixes.push((first_schema, clean_sql(&details, &state)));
        }
        if non_empty {
            prefixes.push((Part::Data, truncate_sql(&details, &state, cleaned)));
        }
        let mut suffixes: Vec<(Part, String)> = Vec::new();
        let (drop_checks, add_checks) = not_valid_sql(&details, &state, cleaned);
        if !drop_checks.is_empty() && manifest.parts.iter().any(|p| p.part == Part::Data) {
            prefixes.push((Part::Data, drop_checks));
            suffixes.push((Part::Data, add_checks));
        }

        let tool = |single: bool| ToolRun {
            program: psql.clone(),
            args: [
                vec![
                    "-X".into(),
                    "-q".into(),
                    "-v".into(),
                    "ON_ERROR_STOP=1".into(),
                ],
                if single {
                    vec!["--single-transaction".into()]
                } else {
                    Vec::new()
                },
                vec![
                    "--no-password".into(),
                    format!("--dbname={}", req.target.libpq_string_without_password()),
                ],
            ]
            .concat(),
            password: req
                .target
                .password()
                .map(|p| zeroize::Zeroizing::new(p.to_string())),
        };
        let feed = Feed {
            set,
            keys: req.keys.clone(),
            prefixes,
            suffixes,
            strip_replica: !state.replica_allowed,
            target_major: state.server_major,
            rehearsal: false,
        };

        // A backup from a newer major: its schema is tried first in a
        // transaction that is rolled back, so what the older server cannot
        // run is refused before anything changes.
        let source_major = details.source_major();
        if state.server_major < source_major {
            progress.set_current(format!(
                "checking that PostgreSQL {} can run this schema",
                state.server_major
            ));
            let trial = Feed {
                rehearsal: true,
                ..feed.clone()
            };
            let (t, p, c) = (tool(false), progress.clone(), cancel.clone());
            let tried = run_killable(cancel, move |slot| trial.run(&t, &p, &c, &slot))
                .await
                .map_err(|e| EngineError::Failed(e.to_string()))?;
            match tried {
                Ok(_) => {}
                Err(EngineError::Failed(why)) => {
                    return Err(EngineError::Failed(format!(
                        "this backup comes from PostgreSQL {} (pg_dump {}) and the target runs \
                         PostgreSQL {}, which cannot run part of its schema: {why}. Nothing was \
                         changed: restore it into a PostgreSQL {source_major} or newer server",
                        details.server_version, details.pg_dump_version, state.server_version
                    )));
                }
                Err(e) => return Err(e),
            }
        }

        progress.set_total(
            manifest
                .parts
                .iter()
                .map(|p| p.raw_bytes)
                .sum::<u64>()
                .max(1),
        );
        progress.set_read(0);
        let (t, p, c) = (tool(true), progress.clone(), cancel.clone());
        let fed = run_killable(cancel, move |slot| feed.run(&t, &p, &c, &slot))
            .await
            .map_err(|e| EngineError::Failed(e.to_string()))??;
        if state.server_major < source_major {
            warnings.push(format!(
                "restored a PostgreSQL {} backup into PostgreSQL {}",
                details.server_version, state.server_version
            ));
        }
        warnings.extend(fed.notes);
        warnings.extend(fed.server_warnings);
        if note_storage && manifest.has_storage() {
            warnings.push(storage_note(&manifest));
        }
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
            rows: fed.rows,
            logins_without_password: details.logins_without_password.clone(),
            warnings,
            seconds: started.elapsed().as_secs_f64(),
            storage: None,
        })
    }
}

/// What to do about the Storage files of a set restored without them.
fn storage_note(manifest: &Manifest) -> String {
    format!(
        "this backup also holds Storage files, which were not restored (a database URL gives \
         no Storage access): restore them with `supabackup restore {} --to-project P \
         --storage-only`",
        manifest.id.short()
    )
}

impl Unlocked {
    /// Restores a backup: its database into `req.target` and, with a
    /// target project (`opts.storage_target`), its Storage files into that
    /// project's Storage; or only one of them (`opts.scope`). Everything
    /// that can refuse (checksums, keys, the stored files, a target that
    /// already holds other versions of files) is checked before anything
    /// changes.
    pub async fn restore_with(
        &self,
        req: RestoreRequest,
        opts: RestoreOptions,
        progress: Arc<Progress>,
        cancel: CancelToken,
    ) -> Result<RestoreReport, EngineError> {
        let result = self.restore_scoped(&req, &opts, &progress, &cancel).await;
        progress.finish();
        self.log_restore(&req, &result);
        result
    }

    async fn restore_scoped(
        &self,
        req: &RestoreRequest,
        opts: &RestoreOptions,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<RestoreReport, EngineError> {
        let started = std::time::Instant::now();
        progress.set_current("checking checksums");
        let set = self.open_for_restore(req).await?;
        let manifest = set.manifest.clone();
        let short = manifest.id.short();
        let (has_db, has_storage) = (!manifest.parts.is_empty(), manifest.has_storage());
        let want_db = opts.scope != RestoreScope::StorageOnly && has_db;
        let want_storage = opts.scope != RestoreScope::DatabaseOnly && has_storage;
        match opts.scope {
            RestoreScope::StorageOnly if !has_storage => {
                return Err(EngineError::Failed(format!(
                    "backup {short} has no Storage files: nothing to restore with --storage-only"
                )));
            }
            RestoreScope::DatabaseOnly if !has_db => {
                return Err(EngineError::Failed(format!(
                    "backup {short} holds only Storage files: nothing to restore with \
                     --database-only"
                )));
            }
            _ => {}
        }
        let target_project = match opts.storage_target {
            Some(id) if want_storage => Some(self.project(id)?),
            _ => None,
        };
        if want_storage && target_project.is_none() && !want_db {
            return Err(EngineError::Failed(format!(
                "the Storage files of backup {short} go into a project's Storage: give it with \
                 --to-project P"
            )));
        }
        // The Storage side, checked and compared before anything changes.
        let concurrency = self.storage_concurrency().unwrap_or(4).max(1);
        let prepared = match &target_project {
            Some(p) => {
                let (index, store) = self.storage_of_set(&set, &req.source, &req.keys).await?;
                let target = crate::engine::storage::open_target(self, p)?;
                let plan = target
                    .plan(&index, opts.mirror, concurrency, progress, cancel)
                    .await?;
                if let Some(why) = plan.needs_confirmation()
                    && !req.confirmed
                {
                    return Err(EngineError::NeedsConfirmation(why));
                }
                Some((index, store, target, plan))
            }
            None => None,
        };
        let mut report = if want_db {
            self.restore_inner(req, progress, cancel, Some(set), false)
                .await?
        } else {
            RestoreReport {
                backup_id: manifest.id,
                target: String::new(),
                parts: Vec::new(),
                existing_roles: Vec::new(),
                replaced_tables: 0,
                rows: 0,
                logins_without_password: Vec::new(),
                warnings: Vec::new(),
                seconds: 0.0,
                storage: None,
            }
        };
        match prepared {
            Some((index, store, target, plan)) => {
                // The database restore rewrote storage.objects: compare again.
                let plan = if want_db {
                    target
                        .plan(&index, opts.mirror, concurrency, progress, cancel)
                        .await?
                } else {
                    plan
                };
                let done = target
                    .apply(
                        self,
                        std::sync::Arc::new(store),
                        &req.keys,
                        &index,
                        plan,
                        concurrency,
                        progress,
                        cancel,
                    )
                    .await?;
                if report.target.is_empty() {
                    report.target = done.target.clone();
                }
                report.warnings.extend(done.warnings.iter().cloned());
                report.storage = Some(done);
            }
            None if want_storage => report.warnings.push(storage_note(&manifest)),
            None => {}
        }
        report.seconds = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// A set's Storage index (decrypted with `keys`) and the store holding
    /// its files, every one of which must be there.
    async fn storage_of_set(
        &self,
        set: &BackupSet,
        source: &SetRef,
        keys: &Keys,
    ) -> Result<
        (
            crate::engine::storage::StorageIndex,
            crate::engine::storage::Store,
        ),
        EngineError,
    > {
        let store = self.store_for(set, source)?;
        let (set, keys) = (set.clone(), keys.clone());
        tokio::task::spawn_blocking(move || {
            let info = set
                .manifest
                .storage
                .clone()
                .ok_or_else(|| EngineError::Failed("the backup has no Storage index".into()))?;
            let index = crate::engine::storage::read_index(&set.dir, &info, &keys)?;
            let missing: Vec<&str> = index
                .objects
                .iter()
                .filter(|o| !store.has(&o.stored))
                .map(|o| o.stored.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(EngineError::Failed(format!(
                    "{} stored file(s) of this backup are missing from {} (such as {}): nothing \
                     was restored; run `supabackup verify`",
                    missing.len(),
                    store.dir().display(),
                    missing[0]
                )));
            }
            Ok((index, store))
        })
        .await
        .map_err(|e| EngineError::Failed(e.to_string()))?
    }
}

/// What goes into one psql session.
#[derive(Clone)]
struct Feed {
    set: BackupSet,
    /// What opens the set, when it is encrypted.
    keys: Keys,
    /// SQL written before a part.
    prefixes: Vec<(Part, String)>,
    /// SQL written after a part.
    suffixes: Vec<(Part, String)>,
    strip_replica: bool,
    target_major: u32,
    /// Schema only, in a transaction rolled back at the end.
    rehearsal: bool,
}

/// What a psql session did.
struct Fed {
    rows: u64,
    /// What the down-conversion changed.
    notes: Vec<String>,
    /// Warnings the restore's own SQL raised (a setting not restored...).
    server_warnings: Vec<String>,
}

impl Feed {
    /// Streams every part (with its prefix) into one psql. Blocking.
    fn run(
        &self,
        tool: &ToolRun,
        progress: &Progress,
        cancel: &CancelToken,
        slot: &ChildSlot,
    ) -> Result<Fed, EngineError> {
        let (running, mut stdin) = tool.spawn_fed(slot)?;
        let mut rows = 0u64;
        let mut notes = Vec::new();
        let mut broken = stdin
            .write_all(if self.rehearsal { b"BEGIN;\n" } else { b"" })
            .is_err();
        'parts: for part in &self.set.manifest.parts {
            if broken || (self.rehearsal && !part.part.is_schema() && part.part != Part::Roles) {
                continue;
            }
            progress.set_current(format!("restoring {}", part.part.as_str()));
            for (p, sql) in &self.prefixes {
                if *p == part.part && stdin.write_all(sql.as_bytes()).is_err() {
                    broken = true;
                    break 'parts;
                }
            }
            let mut reader = self.set.part_reader(part, &self.keys)?;
            let filter = RestoreFilter {
                strip_replica: self.strip_replica,
                in_blobs: false,
                target_major: self.target_major,
                notes: Vec::new(),
            };
            let mut stream = SqlStream::new(Filtered::new(filter, &mut stdin));
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
                progress.add_read(n as u64);
                let before = stream.rows();
                if stream.feed(&buf[..n]).is_err() {
                    broken = true;
                    break 'parts;
                }
                progress.add_rows(stream.rows() - before);
                if let Some(t) = stream.current_table() {
                    progress.set_current(format!("restoring data: {t}"));
                }
            }
            rows += stream.rows();
            match stream.finish() {
                Ok((_, sink)) => {
                    for n in sink.filter.notes {
                        if !notes.contains(&n) {
                            notes.push(n);
                        }
                    }
                }
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
            for (p, sql) in &self.suffixes {
                if *p == part.part && stdin.write_all(sql.as_bytes()).is_err() {
                    broken = true;
                    break 'parts;
                }
            }
        }
        if self.rehearsal && !broken && stdin.write_all(b"ROLLBACK;\n").is_err() {
            broken = true;
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
                .filter(|l| !l.contains("NOTICE:") && !l.contains(WARNING_MARK))
                .collect::<Vec<_>>()
                .join("\n");
            let errors = tool.mask(&tail(&errors, 6));
            return Err(EngineError::Failed(if self.rehearsal {
                errors
            } else {
                format!(
                    "psql stopped at the first error; the restore ran in one transaction, so \
                     the target is as it was: {errors}"
                )
            }));
        }
        let server_warnings = stderr
            .lines()
            .filter_map(|l| {
                l.split_once(WARNING_MARK)
                    .map(|(_, w)| w.trim().to_string())
            })
            .map(|w| tool.mask(&w))
            .collect();
        Ok(Fed {
            rows,
            notes,
            server_warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_syntax_is_rewritten_for_older_targets() {
        let g = |l: &str, m: u32| downgrade(l, m);
        assert_eq!(
            g(
                "GRANT SELECT,INSERT,MAINTAIN ON TABLE \"public\".\"t\" TO \"r\";",
                15
            ),
            Downgrade::Rewrite(
                "GRANT SELECT,INSERT ON TABLE \"public\".\"t\" TO \"r\";".into(),
                None
            )
        );
        assert_eq!(
            g(
                "REVOKE GRANT OPTION FOR MAINTAIN ON TABLE \"t\" FROM \"r\";",
                16
            ),
            Downgrade::Drop(None)
        );
        assert_eq!(
            g(
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"o\" GRANT SELECT,MAINTAIN ON TABLES TO \"r\";",
                15
            ),
            Downgrade::Rewrite(
                "ALTER DEFAULT PRIVILEGES FOR ROLE \"o\" GRANT SELECT ON TABLES TO \"r\";".into(),
                None
            )
        );
        let maintain = "GRANT MAINTAIN ON TABLE \"t\" TO \"r\";";
        assert_eq!(g(maintain, 17), Downgrade::Keep);
        assert_eq!(g("GRANT ALL ON TABLE \"t\" TO \"r\";", 15), Downgrade::Keep);
        assert_eq!(
            g("GRANT \"anon\" TO \"app\" WITH INHERIT TRUE;", 15),
            Downgrade::Rewrite("GRANT \"anon\" TO \"app\";".into(), None)
        );
        match g(
            "GRANT \"a\" TO \"b\" WITH ADMIN OPTION, INHERIT FALSE, SET FALSE;",
            15,
        ) {
            Downgrade::Rewrite(s, Some(why)) => {
                assert_eq!(s, "GRANT \"a\" TO \"b\" WITH ADMIN OPTION;");
                assert!(why.contains("INHERIT FALSE, SET FALSE"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            g("GRANT \"a\" TO \"b\" WITH INHERIT FALSE;", 16),
            Downgrade::Keep
        );
        assert_eq!(g("SET transaction_timeout = 0;", 15), Downgrade::Drop(None));
        assert_eq!(g("SET transaction_timeout = 0;", 17), Downgrade::Keep);
    }
}
