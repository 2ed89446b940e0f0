//! The line filters that make each part restore cleanly: into a fresh
//! Supabase project as its `postgres` role (supabase profile) and into a
//! server that already has some of the roles (both profiles). Statements are
//! recognised only where a line starts outside any string or function body,
//! and by the TOC entry pg_dump says they belong to.

use crate::domain::Profile;
use crate::engine::profile::{excluded_schemas, is_reserved_role, schema_matches};
use crate::engine::sqlstream::{Entry, LineFilter, parse_ident};
use crate::pgtools::{quote_ident, quote_literal};

/// Dollar-quote tag for the DO blocks this module writes.
pub const TAG: &str = "$supabackup$";

/// Name of the temporary table listing roles that existed before a restore.
const EXISTING_ROLES: &str = "pg_temp.supabackup_existing_roles";

/// Platform roles whose settings a user may change (Supabase documents
/// `statement_timeout` on them): restored where the target allows it.
pub const API_ROLES: &[&str] = &["anon", "authenticated", "service_role", "authenticator"];

/// What a warning the restore reports starts with (psql prints it on stderr).
pub const WARNING_MARK: &str = "supabackup: ";

pub(crate) fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(line);
    out.push(b'\n');
}

pub(crate) fn comment_out(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(b"-- ");
    push_line(out, line);
}

/// `SET transaction_timeout` exists from PostgreSQL 17 on; older targets fail on it.
fn is_transaction_timeout(line: &[u8]) -> bool {
    line.starts_with(b"SET transaction_timeout")
}

/// Writes `header` once: right after psql's `\restrict` line (which it
/// then writes too, returning true), or before the first statement when
/// there is none (returning false: the caller still writes that line).
fn header_once(done: &mut bool, line: &[u8], header: &str, out: &mut Vec<u8>) -> bool {
    if *done || line.starts_with(b"--") || line.is_empty() {
        // Written already, or the banner comment before `\restrict`.
        return false;
    }
    *done = true;
    if line.starts_with(b"\\restrict") {
        push_line(out, line);
        out.extend_from_slice(header.as_bytes());
        return true;
    }
    out.extend_from_slice(header.as_bytes());
    false
}

/// A `DO` block running `stmt`, turning a failure into a warning the
/// restore reports (the restore goes on).
fn try_or_warn(stmt: &str, what: &str) -> String {
    let warning = quote_literal(&format!("{WARNING_MARK}{what} (%): {stmt}"));
    format!(
        "DO {TAG} BEGIN {stmt} EXCEPTION WHEN OTHERS THEN RAISE WARNING {warning}, SQLERRM; END {TAG};"
    )
}

/// The roles part: every CREATE/ALTER ROLE guarded so roles that already exist
/// on the target are left as they are (and reported); for the supabase
/// profile, the platform's reserved roles commented out (but settings a user
/// may change on its API roles kept) and attributes only a superuser may set
/// dropped.
pub struct RolesFilter {
    profile: Profile,
    header_done: bool,
    /// Every role the dump creates, for the manifest.
    pub roles: Vec<String>,
    /// Login roles of the dump that carry no password.
    pub logins_without_password: Vec<String>,
}

impl RolesFilter {
    /// A filter for `profile`.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            header_done: false,
            roles: Vec::new(),
            logins_without_password: Vec::new(),
        }
    }
}

/// The role a `CREATE ROLE "x"` / `ALTER ROLE "x"` line is about.
fn role_of(line: &str, prefix: &str) -> Option<String> {
    parse_ident(line.strip_prefix(prefix)?).map(|(r, _)| r)
}

fn strip_superuser_only(line: &str) -> String {
    let mut s = line.to_string();
    for attr in [
        " NOSUPERUSER",
        " SUPERUSER",
        " NOREPLICATION",
        " REPLICATION",
        " NOBYPASSRLS",
        " BYPASSRLS",
    ] {
        s = s.replace(attr, "");
    }
    s
}

/// Drops ` GRANTED BY "x"`: the grantor may not exist on the target.
fn strip_granted_by(line: &str) -> String {
    match line.find(" GRANTED BY ") {
        Some(i) => {
            let rest = &line[i + " GRANTED BY ".len()..];
            let after = parse_ident(rest).map(|(_, a)| a).unwrap_or("");
            format!("{}{}", &line[..i], after)
        }
        None => line.to_string(),
    }
}

impl LineFilter for RolesFilter {
    fn line(&mut self, raw: &[u8], top: bool, out: &mut Vec<u8>) {
        let header = "-- supabackup: remember which roles exist, so existing ones are left as they are.\n\
             CREATE TEMP TABLE IF NOT EXISTS supabackup_existing_roles AS SELECT rolname FROM pg_catalog.pg_roles;\n";
        if header_once(&mut self.header_done, raw, header, out) {
            return;
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            return push_line(out, raw);
        };
        if !top {
            return push_line(out, raw);
        }
        if is_transaction_timeout(raw) {
            return comment_out(out, raw);
        }
        let supabase = self.profile == Profile::Supabase;
        let role = role_of(line, "CREATE ROLE ").or_else(|| role_of(line, "ALTER ROLE "));
        if let Some(role) = role {
            let settings = line.starts_with("ALTER ROLE ")
                && line
                    .get("ALTER ROLE ".len()..)
                    .and_then(parse_ident)
                    .is_some_and(|(_, rest)| {
                        rest.starts_with(" SET ") || rest.starts_with(" IN DATABASE ")
                    });
            if supabase && is_reserved_role(&role) {
                if settings && API_ROLES.contains(&role.as_str()) {
                    let what = format!("the setting of role \"{role}\" was not restored");
                    return push_line(out, try_or_warn(line, &what).as_bytes());
                }
                return comment_out(out, raw);
            }
            if line.starts_with("ALTER ROLE ") && !settings {
                let attrs = &line["ALTER ROLE ".len()..];
                if attrs.contains(" LOGIN") && !attrs.contains(" PASSWORD ") {
                    self.logins_without_password.push(role.clone());
                }
            }
            let stmt = if supabase {
                strip_superuser_only(line)
            } else {
                line.to_string()
            };
            let lit = quote_literal(&role);
            let exists = format!("EXISTS (SELECT 1 FROM {EXISTING_ROLES} WHERE rolname = {lit})");
            let block = if line.starts_with("CREATE ROLE ") {
                self.roles.push(role.clone());
                let notice = quote_literal(&format!(
                    "supabackup: role \"{role}\" already exists: left as it is"
                ));
                format!(
                    "DO {TAG} BEGIN IF NOT {exists} THEN {stmt} ELSE RAISE NOTICE {notice}; END IF; END {TAG};"
                )
            } else {
                format!("DO {TAG} BEGIN IF NOT {exists} THEN {stmt} END IF; END {TAG};")
            };
            return push_line(out, block.as_bytes());
        }
        if let Some(rest) = line.strip_prefix("GRANT ") {
            // GRANT "role" TO "member" [WITH ...] [GRANTED BY "x"];
            let member = rest
                .find(" TO ")
                .and_then(|i| parse_ident(&rest[i + 4..]))
                .map(|(m, _)| m);
            if supabase && member.as_deref().is_some_and(is_reserved_role) {
                return comment_out(out, raw);
            }
            return push_line(out, strip_granted_by(line).as_bytes());
        }
        push_line(out, raw)
    }
}

/// The pre-data and post-data parts: for the supabase profile, the objects
/// of platform-managed schemas left out (their rows stay in the data part),
/// and statements a fresh project already has, or that only the platform may
/// run, made harmless; the user's objects on platform tables appended. For
/// both profiles, database-wide objects made replaceable.
pub struct SchemaFilter {
    profile: Profile,
    /// Schemas whose objects this part leaves out.
    managed: Vec<&'static str>,
    /// The current entry is left out.
    skip: bool,
    /// The current entry's type.
    desc: String,
}

impl SchemaFilter {
    /// A filter for `profile`.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            managed: match profile {
                Profile::Supabase => excluded_schemas(profile, crate::domain::Part::PreData),
                Profile::Postgres => Vec::new(),
            },
            skip: false,
            desc: String::new(),
        }
    }

    /// True when `entry` belongs to a schema this part leaves out: an object
    /// in it (privileges on the platform's extension functions among them,
    /// which `postgres` may not grant back), or the schema itself and its
    /// comment and privileges.
    fn leaves_out(&self, entry: &Entry) -> bool {
        !self.managed.is_empty() && entry.readings().all(|e| self.reading_left_out(e))
    }

    fn reading_left_out(&self, entry: &Entry) -> bool {
        if let Some(schema) = &entry.schema {
            return schema_matches(schema, &self.managed);
        }
        let schema_name = match entry.desc.as_str() {
            "SCHEMA" => parse_ident(&entry.name).map(|(s, _)| s),
            "COMMENT" | "ACL" | "SECURITY LABEL" => entry
                .name
                .strip_prefix("SCHEMA ")
                .and_then(parse_ident)
                .map(|(s, _)| s),
            _ => None,
        };
        schema_name.is_some_and(|s| schema_matches(&s, &self.managed))
    }
}

impl LineFilter for SchemaFilter {
    fn entry(&mut self, entry: &Entry) {
        let supabase = self.profile == Profile::Supabase;
        // The platform's event triggers exist in a fresh project; only a
        // superuser may create event triggers.
        let event_trigger = entry.readings().all(|e| {
            e.desc == "EVENT TRIGGER"
                || (e.desc == "COMMENT" && e.name.starts_with("EVENT TRIGGER "))
        });
        self.skip = self.leaves_out(entry) || (supabase && event_trigger);
        self.desc = entry.desc.clone();
    }

    fn line(&mut self, raw: &[u8], top: bool, out: &mut Vec<u8>) {
        if top && is_transaction_timeout(raw) {
            return comment_out(out, raw);
        }
        // psql's guard lines and the session state pg_dump sets before the
        // next entry's header belong to no entry: never left out.
        let session = top
            && (raw.starts_with(b"\\")
                || raw.starts_with(b"SET default_tablespace = ")
                || raw.starts_with(b"SET default_table_access_method = "));
        if self.skip && !session {
            return comment_out(out, raw);
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            return push_line(out, raw);
        };
        if !top {
            return push_line(out, raw);
        }
        let supabase = self.profile == Profile::Supabase;
        // Database-wide objects survive the clean step of a replacing restore:
        // make them replaceable (the platform's own stay untouched).
        if let Some(rest) = line.strip_prefix("CREATE PUBLICATION ") {
            let Some((name, _)) = parse_ident(rest) else {
                return push_line(out, raw);
            };
            if name == "supabase_realtime" {
                let block = format!(
                    "DO {TAG} BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = 'supabase_realtime') THEN {line} END IF; END {TAG};"
                );
                return push_line(out, block.as_bytes());
            }
            if supabase && name.starts_with("supabase_realtime") {
                return comment_out(out, raw);
            }
            out.extend_from_slice(
                format!("DROP PUBLICATION IF EXISTS {};\n", quote_ident(&name)).as_bytes(),
            );
            return push_line(out, raw);
        }
        if let Some(rest) = line.strip_prefix("CREATE EVENT TRIGGER ")
            && let Some((name, _)) = parse_ident(rest)
        {
            out.extend_from_slice(
                format!("DROP EVENT TRIGGER IF EXISTS {};\n", quote_ident(&name)).as_bytes(),
            );
            return push_line(out, raw);
        }
        if !supabase {
            return push_line(out, raw);
        }
        if line.starts_with("COMMENT ON EXTENSION ")
            || line.starts_with("ALTER PUBLICATION \"supabase_realtime\" OWNER TO ")
            || line.starts_with("ALTER PUBLICATION \"supabase_realtime_")
        {
            return comment_out(out, raw);
        }
        if let Some(rest) = line.strip_prefix("ALTER DEFAULT PRIVILEGES FOR ROLE ")
            && let Some((role, _)) = parse_ident(rest)
            && role != "postgres"
            && is_reserved_role(&role)
        {
            return comment_out(out, raw);
        }
        if self.desc == "SCHEMA"
            && let Some(rest) = line.strip_prefix("CREATE SCHEMA ")
        {
            return push_line(
                out,
                format!("CREATE SCHEMA IF NOT EXISTS {rest}").as_bytes(),
            );
        }
        push_line(out, raw)
    }
}

/// The data part: restored with `session_replication_role = replica` (so
/// the platform's tables, whose triggers and foreign keys exist before the
/// rows arrive, load in any order); large objects without the transaction
/// pg_dump wraps them in (see [`is_blob_transaction`]).
pub struct DataFilter {
    header_done: bool,
    in_blobs: bool,
}

/// pg_dump writes large objects between its own `BEGIN;` and `COMMIT;`,
/// which inside a restore's single transaction would commit everything so
/// far and run the rest without one. True for those two lines of a BLOBS
/// entry: they are left out (the restore is one transaction anyway).
pub fn is_blob_transaction(in_blobs: bool, line: &[u8]) -> bool {
    in_blobs && (line == b"BEGIN;" || line == b"COMMIT;")
}

/// The line the data part starts with; the restore leaves it out when the
/// target does not allow it.
pub const REPLICA_LINE: &str = "SET session_replication_role = replica;";

impl DataFilter {
    /// A data filter.
    pub fn new() -> Self {
        Self {
            header_done: false,
            in_blobs: false,
        }
    }
}

impl LineFilter for DataFilter {
    fn entry(&mut self, entry: &Entry) {
        self.in_blobs = entry.readings().any(|e| e.desc == "BLOBS");
    }

    fn line(&mut self, raw: &[u8], top: bool, out: &mut Vec<u8>) {
        let header = format!(
            "-- supabackup: triggers and foreign keys are not checked while the data loads.\n{REPLICA_LINE}\n"
        );
        if header_once(&mut self.header_done, raw, &header, out) {
            return;
        }
        if top && (is_transaction_timeout(raw) || is_blob_transaction(self.in_blobs, raw)) {
            return comment_out(out, raw);
        }
        push_line(out, raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sqlstream::{Filtered, SqlStream};

    fn run<F: LineFilter>(f: F, input: &str) -> String {
        let mut s = SqlStream::new(Filtered::new(f, Vec::new()));
        s.feed(input.as_bytes()).unwrap();
        let (_, sink) = s.finish().unwrap();
        String::from_utf8(sink.out).unwrap()
    }

    const ROLES: &str = "--\n-- PostgreSQL database cluster dump\n--\n\n\\restrict abc\n\
SET client_encoding = 'UTF8';\n\
CREATE ROLE \"anon\";\n\
ALTER ROLE \"anon\" WITH NOSUPERUSER INHERIT NOLOGIN;\n\
ALTER ROLE \"anon\" SET \"statement_timeout\" TO '3s';\n\
ALTER ROLE \"supabase_admin\" SET \"search_path\" TO 'x';\n\
CREATE ROLE \"app_user\";\n\
ALTER ROLE \"app_user\" WITH NOSUPERUSER INHERIT LOGIN NOBYPASSRLS PASSWORD 'SCRAM$x';\n\
CREATE ROLE \"app_login\";\n\
ALTER ROLE \"app_login\" WITH NOSUPERUSER INHERIT LOGIN NOBYPASSRLS;\n\
GRANT \"anon\" TO \"authenticator\" GRANTED BY \"supabase_admin\";\n\
GRANT \"authenticated\" TO \"app_user\" WITH INHERIT TRUE GRANTED BY \"postgres\";\n\
\\unrestrict abc\n";

    #[test]
    fn supabase_roles_comment_reserved_and_guard_the_rest() {
        let mut f = RolesFilter::new(Profile::Supabase);
        let out = run(&mut f, ROLES);
        assert!(
            out.contains("\\restrict abc\n-- supabackup: remember"),
            "{out}"
        );
        assert!(out.contains("-- CREATE ROLE \"anon\";"));
        assert!(out.contains("-- ALTER ROLE \"anon\" WITH"));
        assert!(out.contains(
            "DO $supabackup$ BEGIN ALTER ROLE \"anon\" SET \"statement_timeout\" TO '3s'; EXCEPTION WHEN OTHERS THEN RAISE WARNING"
        ));
        assert!(out.contains("-- ALTER ROLE \"supabase_admin\" SET"));
        assert!(out.contains("THEN CREATE ROLE \"app_user\"; ELSE RAISE NOTICE"));
        assert!(out.contains(
            "THEN ALTER ROLE \"app_user\" WITH INHERIT LOGIN PASSWORD 'SCRAM$x'; END IF;"
        ));
        assert!(out.contains("-- GRANT \"anon\" TO \"authenticator\""));
        assert!(out.contains("GRANT \"authenticated\" TO \"app_user\" WITH INHERIT TRUE;\n"));
        assert_eq!(f.roles, vec!["app_user".to_string(), "app_login".into()]);
        assert_eq!(f.logins_without_password, vec!["app_login".to_string()]);
    }

    #[test]
    fn postgres_roles_keep_every_role_but_guard_existing_ones() {
        let out = run(RolesFilter::new(Profile::Postgres), ROLES);
        assert!(out.contains("THEN CREATE ROLE \"anon\";"));
        assert!(
            out.contains("THEN ALTER ROLE \"anon\" SET \"statement_timeout\" TO '3s'; END IF;")
        );
        assert!(out.contains("NOSUPERUSER"));
        assert!(!out.contains("GRANTED BY"));
    }

    fn entry(name: &str, desc: &str, schema: &str) -> String {
        format!("--\n-- Name: {name}; Type: {desc}; Schema: {schema}; Owner: postgres\n--\n\n")
    }

    #[test]
    fn supabase_schema_makes_platform_statements_harmless() {
        let input = [
            "SET transaction_timeout = 0;\n".to_string(),
            entry("app", "SCHEMA", "-"),
            "CREATE SCHEMA \"app\";\n".into(),
            entry("auth", "SCHEMA", "-"),
            "CREATE SCHEMA \"auth\";\n".into(),
            entry("SCHEMA \"auth\"", "ACL", "-"),
            "GRANT USAGE ON SCHEMA \"auth\" TO \"anon\";\n".into(),
            entry("users", "TABLE", "auth"),
            "CREATE TABLE \"auth\".\"users\" (\n    \"id\" uuid\n);\n".into(),
            entry("FUNCTION \"armor\"(\"bytea\")", "ACL", "extensions"),
            "GRANT ALL ON FUNCTION \"extensions\".\"armor\"(\"bytea\") TO \"postgres\" WITH GRANT OPTION;\n".into(),
            entry("EXTENSION \"pgcrypto\"", "COMMENT", "-"),
            "COMMENT ON EXTENSION \"pgcrypto\" IS 'x';\n".into(),
            entry("f()", "FUNCTION", "app"),
            "CREATE FUNCTION \"app\".\"f\"() RETURNS int LANGUAGE sql AS $$\nCREATE SCHEMA x;\nCOMMENT ON EXTENSION y IS 'z';\n$$;\n".into(),
            entry("issue_pg_cron_access", "EVENT TRIGGER", "-"),
            "CREATE EVENT TRIGGER \"issue_pg_cron_access\" ON \"ddl_command_end\"\n         WHEN TAG IN ('CREATE EXTENSION')\n   EXECUTE FUNCTION \"extensions\".\"grant_pg_cron_access\"();\n".into(),
            entry("supabase_realtime", "PUBLICATION", "-"),
            "CREATE PUBLICATION \"supabase_realtime\" WITH (publish = 'insert, update, delete, truncate');\n".into(),
            "ALTER PUBLICATION \"supabase_realtime\" OWNER TO \"postgres\";\n".into(),
            entry("supabase_realtime t", "PUBLICATION TABLE", "public"),
            "ALTER PUBLICATION \"supabase_realtime\" ADD TABLE ONLY \"public\".\"t\";\n".into(),
            entry("DEFAULT PRIVILEGES FOR TABLES", "DEFAULT ACL", "public"),
            "ALTER DEFAULT PRIVILEGES FOR ROLE \"supabase_admin\" IN SCHEMA \"public\" GRANT ALL ON TABLES TO \"anon\";\n".into(),
            "ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" GRANT ALL ON TABLES TO \"anon\";\n".into(),
            entry("t", "TABLE", "public"),
            "CREATE TABLE \"public\".\"t\" (\"id\" integer);\n".into(),
            entry("FUNCTION \"crypt\"(\"text\")", "ACL", "extensions"),
            "SET SESSION AUTHORIZATION \"supabase_admin\";\nGRANT ALL ON FUNCTION \"extensions\".\"crypt\"(\"text\") TO \"x\";\n".into(),
            "SET default_tablespace = '';\n".into(),
            "--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict KEY\n".into(),
        ]
        .concat();
        let out = run(SchemaFilter::new(Profile::Supabase), &input);
        assert!(out.contains("-- SET SESSION AUTHORIZATION"));
        assert!(out.contains("\nSET default_tablespace = '';\n"));
        assert!(out.ends_with("\n\\unrestrict KEY\n"), "{out}");
        assert!(out.contains("-- SET transaction_timeout"));
        assert!(out.contains("\nCREATE SCHEMA IF NOT EXISTS \"app\";"));
        assert!(out.contains("-- CREATE SCHEMA \"auth\";"), "{out}");
        assert!(out.contains("-- GRANT USAGE ON SCHEMA \"auth\""));
        assert!(out.contains("-- CREATE TABLE \"auth\".\"users\" (\n--     \"id\" uuid\n-- );"));
        assert!(out.contains("-- GRANT ALL ON FUNCTION \"extensions\".\"armor\""));
        assert!(out.contains("-- COMMENT ON EXTENSION \"pgcrypto\""));
        // A function body is never rewritten.
        assert!(out.contains("AS $$\nCREATE SCHEMA x;\nCOMMENT ON EXTENSION y IS 'z';\n$$;"));
        assert!(out.contains("-- CREATE EVENT TRIGGER"));
        assert!(out.contains("--          WHEN TAG IN"));
        assert!(out.contains("--    EXECUTE FUNCTION"));
        assert!(out.contains("IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication"));
        assert!(out.contains("-- ALTER PUBLICATION \"supabase_realtime\" OWNER"));
        assert!(out.contains("\nALTER PUBLICATION \"supabase_realtime\" ADD TABLE ONLY"));
        assert!(out.contains("-- ALTER DEFAULT PRIVILEGES FOR ROLE \"supabase_admin\""));
        assert!(out.contains("\nALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\""));
        assert!(out.contains("\nCREATE TABLE \"public\".\"t\""));
    }

    #[test]
    fn postgres_schema_makes_database_wide_objects_replaceable() {
        let input = [
            entry("pub1", "PUBLICATION", "-"),
            "CREATE PUBLICATION \"pub1\" WITH (publish = 'insert');\n".into(),
            entry("et", "EVENT TRIGGER", "-"),
            "CREATE EVENT TRIGGER \"et\" ON \"ddl_command_end\"\nEXECUTE FUNCTION \"public\".\"f\"();\n".into(),
            entry("supabase_realtime", "PUBLICATION", "-"),
            "CREATE PUBLICATION \"supabase_realtime\";\n".into(),
            entry("SCHEMA \"auth\"", "ACL", "-"),
            "GRANT USAGE ON SCHEMA \"auth\" TO \"anon\";\n".into(),
        ]
        .concat();
        let out = run(SchemaFilter::new(Profile::Postgres), &input);
        assert!(
            out.contains("DROP PUBLICATION IF EXISTS \"pub1\";\nCREATE PUBLICATION \"pub1\""),
            "{out}"
        );
        assert!(out.contains("DROP EVENT TRIGGER IF EXISTS \"et\";\nCREATE EVENT TRIGGER \"et\""));
        assert!(out.contains("\nEXECUTE FUNCTION"));
        assert!(out.contains("IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication"));
        assert!(out.contains("\nGRANT USAGE ON SCHEMA \"auth\""));
    }

    #[test]
    fn data_part_starts_in_replica_mode() {
        let out = run(
            DataFilter::new(),
            "--\n-- PostgreSQL database dump\n--\n\n\\restrict k\nSET a = 1;\nCOPY public.t (a) FROM stdin;\n1\n\\.\n\\unrestrict k\n",
        );
        assert!(out.starts_with(&format!("--\n-- PostgreSQL database dump\n--\n\n\\restrict k\n-- supabackup: triggers and foreign keys are not checked while the data loads.\n{REPLICA_LINE}\nSET a = 1;")), "{out}");
        assert!(out.ends_with("\\unrestrict k\n"));
        let blobs = run(
            DataFilter::new(),
            "--\n-- Data for Name: BLOBS; Type: BLOBS; Schema: -; Owner: -\n--\n\nBEGIN;\n\nSELECT pg_catalog.lo_open('16385', 131072);\nCOMMIT;\n",
        );
        assert!(
            blobs.contains("-- BEGIN;\n") && blobs.contains("-- COMMIT;\n"),
            "{blobs}"
        );
    }
}
