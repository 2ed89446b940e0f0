//! The line filters that make each part restore cleanly: into a fresh
//! Supabase project (supabase profile) and into a server that already has
//! some of the roles (both profiles).

use crate::domain::Profile;
use crate::engine::profile::is_reserved_role;
use crate::engine::sqlstream::{LineFilter, parse_ident};
use crate::pgtools::{quote_ident, quote_literal};

/// Dollar-quote tag for the DO blocks this module writes.
const TAG: &str = "$supabackup$";

/// Name of the temporary table listing roles that existed before a restore.
const EXISTING_ROLES: &str = "pg_temp.supabackup_existing_roles";

fn push_line(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(line);
    out.push(b'\n');
}

fn comment_out(out: &mut Vec<u8>, line: &[u8]) {
    out.extend_from_slice(b"-- ");
    push_line(out, line);
}

/// `SET transaction_timeout` exists from PostgreSQL 17 on; older targets fail on it.
fn is_transaction_timeout(line: &[u8]) -> bool {
    line.starts_with(b"SET transaction_timeout")
}

/// Writes a line, or inserts `header` right after psql's `\restrict` line
/// (or before the first line when there is none).
fn header_once(done: &mut bool, line: &[u8], header: &str, out: &mut Vec<u8>) -> bool {
    if *done {
        return false;
    }
    *done = true;
    if line.starts_with(b"\\restrict") {
        push_line(out, line);
        out.extend_from_slice(header.as_bytes());
    } else {
        out.extend_from_slice(header.as_bytes());
        push_line(out, line);
    }
    true
}

/// The roles part: every CREATE/ALTER ROLE guarded so roles that already exist
/// on the target are left as they are (and reported); for the supabase
/// profile, the platform's reserved roles commented out and privileges only a
/// superuser may grant dropped.
pub struct RolesFilter {
    profile: Profile,
    header_done: bool,
    /// Every role the dump creates, for the manifest.
    pub roles: Vec<String>,
}

impl RolesFilter {
    /// A filter for `profile`.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            header_done: false,
            roles: Vec::new(),
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
    fn line(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        let header = "-- supabackup: remember which roles exist, so existing ones are left as they are.\n\
             CREATE TEMP TABLE IF NOT EXISTS supabackup_existing_roles AS SELECT rolname FROM pg_catalog.pg_roles;\n";
        if header_once(&mut self.header_done, raw, header, out) {
            return;
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            push_line(out, raw);
            return;
        };
        if is_transaction_timeout(raw) {
            return comment_out(out, raw);
        }
        let supabase = self.profile == Profile::Supabase;
        let role = role_of(line, "CREATE ROLE ").or_else(|| role_of(line, "ALTER ROLE "));
        if let Some(role) = role {
            if supabase && is_reserved_role(&role) {
                return comment_out(out, raw);
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
        push_line(out, raw);
    }
}

/// The schema part of the supabase profile: statements a fresh project
/// already has, or that only the platform may run, made harmless; the user's
/// objects on platform tables appended.
pub struct SchemaFilter {
    profile: Profile,
    in_event_trigger: bool,
    appendix: String,
}

impl SchemaFilter {
    /// A filter for `profile` that appends `appendix` (SQL) at the end.
    pub fn new(profile: Profile, appendix: String) -> Self {
        Self {
            profile,
            in_event_trigger: false,
            appendix,
        }
    }
}

impl LineFilter for SchemaFilter {
    fn line(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        if is_transaction_timeout(raw) {
            return comment_out(out, raw);
        }
        let supabase = self.profile == Profile::Supabase;
        if self.in_event_trigger {
            if raw.trim_ascii_end().ends_with(b";") {
                self.in_event_trigger = false;
            }
            return if supabase {
                comment_out(out, raw)
            } else {
                push_line(out, raw)
            };
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            return push_line(out, raw);
        };
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
            if !(supabase && name.starts_with("supabase_realtime")) {
                out.extend_from_slice(
                    format!("DROP PUBLICATION IF EXISTS {};\n", quote_ident(&name)).as_bytes(),
                );
                return push_line(out, raw);
            }
        }
        if line.starts_with("CREATE EVENT TRIGGER ") || line.starts_with("ALTER EVENT TRIGGER ") {
            self.in_event_trigger = !line.trim_end().ends_with(';');
            if supabase {
                return comment_out(out, raw);
            }
            if let Some(rest) = line.strip_prefix("CREATE EVENT TRIGGER ")
                && let Some((name, _)) = parse_ident(rest)
            {
                out.extend_from_slice(
                    format!("DROP EVENT TRIGGER IF EXISTS {};\n", quote_ident(&name)).as_bytes(),
                );
            }
            return push_line(out, raw);
        }
        if !supabase {
            return push_line(out, raw);
        }
        if line.starts_with("COMMENT ON EXTENSION ")
            || line.starts_with("ALTER PUBLICATION \"supabase_realtime\" OWNER TO ")
            || line.starts_with("CREATE PUBLICATION \"supabase_realtime_")
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
        if let Some(rest) = line.strip_prefix("CREATE SCHEMA ") {
            return push_line(
                out,
                format!("CREATE SCHEMA IF NOT EXISTS {rest}").as_bytes(),
            );
        }
        push_line(out, raw)
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.appendix.as_bytes());
    }
}

/// The data part: restored with `session_replication_role = replica` (so
/// circular foreign keys and triggers do not get in the way), materialized
/// views refreshed at the end.
pub struct DataFilter {
    header_done: bool,
    appendix: String,
}

/// The line the data part starts with; the restore leaves it out when the
/// target does not allow it.
pub const REPLICA_LINE: &str = "SET session_replication_role = replica;";

impl DataFilter {
    /// A filter that appends `appendix` (the refreshes).
    pub fn new(appendix: String) -> Self {
        Self {
            header_done: false,
            appendix,
        }
    }
}

impl LineFilter for DataFilter {
    fn line(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        let header = format!(
            "-- supabackup: triggers and foreign keys are not checked while the data loads.\n{REPLICA_LINE}\n"
        );
        if header_once(&mut self.header_done, raw, &header, out) {
            return;
        }
        if is_transaction_timeout(raw) {
            return comment_out(out, raw);
        }
        push_line(out, raw)
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.appendix.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sqlstream::SqlStream;

    fn run<F: LineFilter>(f: F, input: &str) -> String {
        let mut s = SqlStream::new(f);
        let mut out = Vec::new();
        s.feed(input.as_bytes(), &mut out).unwrap();
        s.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    const ROLES: &str = "\\restrict abc\n\
SET client_encoding = 'UTF8';\n\
CREATE ROLE \"anon\";\n\
ALTER ROLE \"anon\" WITH NOSUPERUSER INHERIT NOLOGIN;\n\
CREATE ROLE \"app_user\";\n\
ALTER ROLE \"app_user\" WITH NOSUPERUSER INHERIT LOGIN NOBYPASSRLS PASSWORD 'SCRAM$x';\n\
GRANT \"anon\" TO \"authenticator\" GRANTED BY \"supabase_admin\";\n\
GRANT \"authenticated\" TO \"app_user\" WITH INHERIT TRUE GRANTED BY \"postgres\";\n\
\\unrestrict abc\n";

    #[test]
    fn supabase_roles_comment_reserved_and_guard_the_rest() {
        let mut f = RolesFilter::new(Profile::Supabase);
        let mut s = SqlStream::new(&mut f);
        let mut out = Vec::new();
        s.feed(ROLES.as_bytes(), &mut out).unwrap();
        s.finish(&mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("\\restrict abc\n-- supabackup"), "{out}");
        assert!(out.contains("-- CREATE ROLE \"anon\";"));
        assert!(out.contains("-- ALTER ROLE \"anon\""));
        assert!(out.contains("THEN CREATE ROLE \"app_user\"; ELSE RAISE NOTICE"));
        assert!(out.contains(
            "THEN ALTER ROLE \"app_user\" WITH INHERIT LOGIN PASSWORD 'SCRAM$x'; END IF;"
        ));
        assert!(out.contains("-- GRANT \"anon\" TO \"authenticator\""));
        assert!(out.contains("GRANT \"authenticated\" TO \"app_user\" WITH INHERIT TRUE;\n"));
        assert_eq!(f.roles, vec!["app_user".to_string()]);
    }

    #[test]
    fn postgres_roles_keep_every_role_but_guard_existing_ones() {
        let out = run(RolesFilter::new(Profile::Postgres), ROLES);
        assert!(out.contains("THEN CREATE ROLE \"anon\";"));
        assert!(out.contains("NOSUPERUSER"));
        assert!(!out.contains("GRANTED BY"));
    }

    #[test]
    fn supabase_schema_makes_platform_statements_harmless() {
        let input = "SET transaction_timeout = 0;\n\
CREATE SCHEMA \"app\";\n\
COMMENT ON EXTENSION \"pgcrypto\" IS 'x';\n\
CREATE EVENT TRIGGER \"issue_pg_cron_access\" ON \"ddl_command_end\"\n\
         WHEN TAG IN ('CREATE EXTENSION')\n\
   EXECUTE FUNCTION \"extensions\".\"grant_pg_cron_access\"();\n\
CREATE PUBLICATION \"supabase_realtime\" WITH (publish = 'insert, update, delete, truncate');\n\
ALTER PUBLICATION \"supabase_realtime\" OWNER TO \"postgres\";\n\
ALTER PUBLICATION \"supabase_realtime\" ADD TABLE ONLY \"public\".\"t\";\n\
ALTER DEFAULT PRIVILEGES FOR ROLE \"supabase_admin\" IN SCHEMA \"public\" GRANT ALL ON TABLES TO \"anon\";\n\
ALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\" IN SCHEMA \"public\" GRANT ALL ON TABLES TO \"anon\";\n\
CREATE TABLE \"public\".\"t\" (\"id\" integer);\n";
        let out = run(
            SchemaFilter::new(Profile::Supabase, "-- appendix\n".into()),
            input,
        );
        assert!(out.contains("-- SET transaction_timeout"));
        assert!(out.contains("CREATE SCHEMA IF NOT EXISTS \"app\";"));
        assert!(out.contains("-- COMMENT ON EXTENSION"));
        assert!(out.contains("-- WHEN TAG IN"));
        assert!(out.contains("-- EXECUTE FUNCTION"));
        assert!(out.contains("IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication"));
        assert!(out.contains("-- ALTER PUBLICATION \"supabase_realtime\" OWNER"));
        assert!(out.contains("\nALTER PUBLICATION \"supabase_realtime\" ADD TABLE ONLY"));
        assert!(out.contains("-- ALTER DEFAULT PRIVILEGES FOR ROLE \"supabase_admin\""));
        assert!(out.contains("\nALTER DEFAULT PRIVILEGES FOR ROLE \"postgres\""));
        assert!(out.contains("\nCREATE TABLE \"public\".\"t\""));
        assert!(out.ends_with("-- appendix\n"));
    }

    #[test]
    fn postgres_schema_makes_database_wide_objects_replaceable() {
        let input = "CREATE PUBLICATION \"pub1\" WITH (publish = 'insert');\n\
CREATE EVENT TRIGGER \"et\" ON \"ddl_command_end\"\n\
EXECUTE FUNCTION \"public\".\"f\"();\n\
CREATE PUBLICATION \"supabase_realtime\";\n";
        let out = run(SchemaFilter::new(Profile::Postgres, String::new()), input);
        assert!(
            out.starts_with("DROP PUBLICATION IF EXISTS \"pub1\";\nCREATE PUBLICATION \"pub1\""),
            "{out}"
        );
        assert!(out.contains("DROP EVENT TRIGGER IF EXISTS \"et\";\nCREATE EVENT TRIGGER \"et\""));
        assert!(out.contains("\nEXECUTE FUNCTION"));
        assert!(out.contains("IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_publication"));
    }

    #[test]
    fn data_part_starts_in_replica_mode_and_ends_with_refreshes() {
        let out = run(
            DataFilter::new("REFRESH MATERIALIZED VIEW \"public\".\"mv\";\n".into()),
            "\\restrict k\nSET a = 1;\nCOPY public.t (a) FROM stdin;\n1\n\\.\n\\unrestrict k\n",
        );
        assert!(out.starts_with(&format!("\\restrict k\n-- supabackup: triggers and foreign keys are not checked while the data loads.\n{REPLICA_LINE}\nSET a = 1;")), "{out}");
        assert!(out.ends_with("\\unrestrict k\nREFRESH MATERIALIZED VIEW \"public\".\"mv\";\n"));
    }
}
