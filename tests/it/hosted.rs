//! Hosted Supabase's privilege model, written from the platform's facts:
//! the cluster's bootstrap superuser is `supabase_admin`; `postgres` is made
//! by it and demoted to NOSUPERUSER with CREATEROLE, CREATEDB, REPLICATION
//! and BYPASSRLS; the reserved roles; `auth` and `storage` owned and filled by
//! their admin roles (as the auth and Storage servers' migrations do);
//! `pgcrypto`, `uuid-ossp` and `pg_stat_statements` created by
//! `supabase_admin` in schema `extensions`, with their members granted to
//! `postgres` WITH GRANT OPTION (grantor `supabase_admin`).
//!
//! Two things the platform does with its `supautils` module, which plain
//! PostgreSQL lacks, stand in here: `GRANT SET ON PARAMETER
//! session_replication_role TO postgres` (supautils lets `postgres` SET it),
//! and membership of `postgres` in `supabase_storage_admin` (supautils'
//! policy grants let `postgres` manage the policies of `storage.objects`).
//!
//! Backups and restores here run as `postgres`, never as a superuser.

use crate::cli::{Sb, assert_no_secret};
use crate::fixture::{TABLES, USER_APP, digest};
use crate::pg::{PgCluster, SUPERUSER_PASSWORD, pg_bin};
use std::collections::BTreeMap;

/// Cluster-wide: the platform's roles, `postgres` still a superuser.
const HOSTED_ROLES: &str = r#"
CREATE ROLE postgres SUPERUSER LOGIN PASSWORD 'PW';
CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD 'authenticator-pw';
GRANT anon, authenticated, service_role TO authenticator;
CREATE ROLE supabase_auth_admin NOINHERIT CREATEROLE LOGIN NOREPLICATION;
CREATE ROLE supabase_storage_admin NOINHERIT CREATEROLE LOGIN NOREPLICATION;
CREATE ROLE dashboard_user NOSUPERUSER CREATEDB CREATEROLE REPLICATION;
CREATE ROLE supabase_replication_admin LOGIN REPLICATION;
CREATE ROLE supabase_read_only_user LOGIN BYPASSRLS;
GRANT pg_read_all_data TO supabase_read_only_user;
ALTER ROLE anon SET statement_timeout = '3s';
ALTER ROLE authenticated SET statement_timeout = '8s';
ALTER ROLE authenticator SET statement_timeout = '8s';
GRANT pg_read_all_data, pg_signal_backend, pg_monitor TO postgres;
-- PostgreSQL 16 made ADMIN OPTION the way to manage a role: the platform
-- grants it to postgres on 16 and later.
DO $$ BEGIN
  IF current_setting('server_version_num')::int >= 160000 THEN
    GRANT anon, authenticated, service_role, authenticator TO postgres WITH ADMIN OPTION;
  ELSE
    GRANT anon, authenticated, service_role TO postgres;
  END IF;
END $$;
GRANT SET ON PARAMETER session_replication_role TO postgres;
GRANT supabase_storage_admin TO postgres;
"#;

/// Per database, as `supabase_admin` (and the auth and Storage servers'
/// roles for their own tables).
const HOSTED_SCHEMA: &str = r#"
CREATE SCHEMA extensions AUTHORIZATION postgres;
CREATE EXTENSION pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions;
CREATE EXTENSION pg_stat_statements WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role, dashboard_user,
    supabase_auth_admin, supabase_storage_admin;
GRANT ALL ON ALL TABLES IN SCHEMA extensions TO postgres WITH GRANT OPTION;
GRANT ALL ON ALL ROUTINES IN SCHEMA extensions TO postgres WITH GRANT OPTION;
GRANT ALL ON ALL SEQUENCES IN SCHEMA extensions TO postgres WITH GRANT OPTION;
ALTER DEFAULT PRIVILEGES IN SCHEMA extensions GRANT ALL ON TABLES TO postgres WITH GRANT OPTION;
ALTER DEFAULT PRIVILEGES IN SCHEMA extensions GRANT ALL ON ROUTINES TO postgres WITH GRANT OPTION;

CREATE FUNCTION extensions.pgrst_ddl_watch() RETURNS event_trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_notify('pgrst', 'reload schema'); END $$;
CREATE EVENT TRIGGER pgrst_ddl_watch ON ddl_command_end EXECUTE FUNCTION extensions.pgrst_ddl_watch();

CREATE SCHEMA auth AUTHORIZATION supabase_admin;
GRANT CREATE, USAGE ON SCHEMA auth TO supabase_auth_admin;
SET ROLE supabase_auth_admin;
CREATE TABLE auth.users (
    instance_id uuid,
    id uuid PRIMARY KEY,
    aud varchar(255),
    role varchar(255),
    email varchar(255) UNIQUE,
    encrypted_password varchar(255),
    raw_user_meta_data jsonb,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz
);
CREATE TABLE auth.identities (
    id text NOT NULL,
    user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
    identity_data jsonb NOT NULL,
    provider text NOT NULL,
    PRIMARY KEY (provider, id)
);
CREATE TABLE auth.refresh_tokens (id bigserial PRIMARY KEY, token varchar(255), user_id varchar(255));
CREATE TABLE auth.schema_migrations (version varchar(255) PRIMARY KEY);
INSERT INTO auth.schema_migrations VALUES ('20171026211738'), ('20221208132122');
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.identities ENABLE ROW LEVEL SECURITY;
RESET ROLE;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role, dashboard_user, postgres;
GRANT ALL ON ALL TABLES IN SCHEMA auth TO dashboard_user;
GRANT INSERT, REFERENCES, DELETE, TRIGGER, TRUNCATE, UPDATE ON auth.users TO postgres;
GRANT SELECT ON auth.users TO postgres WITH GRANT OPTION;
GRANT ALL ON auth.identities, auth.refresh_tokens TO postgres;
GRANT ALL ON ALL SEQUENCES IN SCHEMA auth TO postgres;
REVOKE ALL ON auth.schema_migrations FROM postgres, dashboard_user;

CREATE SCHEMA storage AUTHORIZATION supabase_admin;
GRANT CREATE, USAGE ON SCHEMA storage TO supabase_storage_admin;
SET ROLE supabase_storage_admin;
CREATE TABLE storage.buckets (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    owner uuid,
    public boolean DEFAULT false,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);
CREATE TABLE storage.objects (
    id uuid PRIMARY KEY DEFAULT extensions.gen_random_uuid(),
    bucket_id text REFERENCES storage.buckets(id),
    name text,
    owner uuid,
    metadata jsonb,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now()
);
CREATE TABLE storage.migrations (id integer PRIMARY KEY, name varchar(100) NOT NULL UNIQUE);
INSERT INTO storage.migrations VALUES (0, 'create-migrations-table'), (1, 'initialmigration');
CREATE FUNCTION storage.update_updated_at_column() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
CREATE TRIGGER update_objects_updated_at BEFORE UPDATE ON storage.objects
    FOR EACH ROW EXECUTE FUNCTION storage.update_updated_at_column();
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
RESET ROLE;
GRANT USAGE ON SCHEMA storage TO postgres WITH GRANT OPTION;
GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
GRANT ALL ON storage.buckets, storage.objects TO anon, authenticated, service_role;
GRANT ALL ON storage.buckets, storage.objects TO postgres WITH GRANT OPTION;
REVOKE ALL ON storage.migrations FROM postgres;

CREATE SCHEMA realtime AUTHORIZATION supabase_admin;
CREATE TABLE realtime.schema_migrations (version bigint PRIMARY KEY, inserted_at timestamp(0));
INSERT INTO realtime.schema_migrations VALUES (20211116024918, now());
CREATE PUBLICATION supabase_realtime;
ALTER PUBLICATION supabase_realtime OWNER TO postgres;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON TABLES TO postgres, anon, authenticated, service_role;
"#;

/// The demotion the platform's last migration does.
const DEMOTE: &str = "ALTER ROLE postgres NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS; \
                      ALTER ROLE postgres SET search_path = \"$user\", public, extensions;";

/// A cluster prepared like a hosted project: databases `postgres` and
/// each of `more`, empty of user data; `postgres` demoted at the end.
pub fn hosted_cluster(more: &[&str]) -> PgCluster {
    let pg = PgCluster::start_in(pg_bin(), "supabase_admin");
    pg.psql(
        "postgres",
        &HOSTED_ROLES.replace("'PW'", &format!("'{SUPERUSER_PASSWORD}'")),
    );
    pg.psql("postgres", "ALTER DATABASE postgres OWNER TO postgres");
    for db in std::iter::once(&"postgres").chain(more) {
        if *db != "postgres" {
            pg.psql(
                "postgres",
                &format!("CREATE DATABASE \"{db}\" OWNER postgres"),
            );
        }
        pg.psql(db, HOSTED_SCHEMA);
    }
    pg.psql("postgres", DEMOTE);
    pg
}

/// `postgresql://postgres:...@.../<db>`: the user's role, not a superuser.
pub fn as_postgres(pg: &PgCluster, db: &str) -> String {
    pg.url_as("postgres", SUPERUSER_PASSWORD, db)
}

/// Runs SQL as `postgres`, failing the test on error.
pub fn psql_as_postgres(pg: &PgCluster, db: &str, sql: &str) -> String {
    let out = pg
        .psql_cmd("postgres", SUPERUSER_PASSWORD, db)
        .args(["-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "as postgres: {}\nSQL: {}",
        String::from_utf8_lossy(&out.stderr),
        &sql[..sql.len().min(400)]
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

fn digests(pg: &PgCluster, db: &str) -> BTreeMap<&'static str, String> {
    TABLES.iter().map(|t| (*t, digest(pg, db, t))).collect()
}

/// What the done criteria compare: triggers on platform tables, storage
/// policies, grants, realtime tables, matview rows.
fn facts(pg: &PgCluster, db: &str) -> Vec<String> {
    [
        "SELECT string_agg(x, ', ' ORDER BY x) FROM (SELECT tgrelid::regclass || ' ' || tgname || ' ' || tgfoid::regproc AS x FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = 'auth.users'::regclass) t",
        "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT schemaname || '.' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text || ' ' || coalesce(qual, '-') || ' ' || coalesce(with_check, '-') AS x FROM pg_policies) p",
        "SELECT string_agg(x, ', ' ORDER BY x) FROM (SELECT grantee || ':' || table_name || ':' || privilege_type AS x FROM information_schema.role_table_grants WHERE table_schema = 'public') g",
        "SELECT string_agg(x, ', ' ORDER BY x) FROM (SELECT schemaname || '.' || tablename AS x FROM pg_publication_tables WHERE pubname = 'supabase_realtime') p",
        "SELECT string_agg(team_id || '=' || players, ', ' ORDER BY team_id) FROM public.team_sizes",
        "SELECT rolname || ' ' || rolcanlogin FROM pg_roles WHERE rolname = 'app_reader'",
    ]
    .iter()
    .map(|q| pg.psql(db, q))
    .collect()
}

#[test]
fn a_full_backup_made_as_postgres_restores_as_postgres_into_a_fresh_project() {
    let src = hosted_cluster(&[]);
    let dst = hosted_cluster(&[]);
    assert_eq!(
        src.psql(
            "postgres",
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'"
        ),
        "f"
    );
    psql_as_postgres(&src, "postgres", USER_APP);
    psql_as_postgres(
        &src,
        "postgres",
        "ALTER ROLE authenticated SET statement_timeout = '15s'; \
         INSERT INTO auth.refresh_tokens (token, user_id) VALUES ('t1', 'u1'), ('t2', 'u2');",
    );
    let sb = Sb::new();
    sb.add_project("Hosted", &as_postgres(&src, "postgres"));
    let test = sb.run(&["project", "test", "Hosted"]).ok();
    assert!(
        test.stdout.contains("postgres (not a superuser"),
        "{}",
        test.stdout
    );
    assert!(test.stdout.contains("passwords"), "{}", test.stdout);

    let backup = sb.run(&["backup", "Hosted", "--json"]).ok();
    let b = backup.json();
    assert_eq!(b["profile"], "supabase");
    let warnings = b["warnings"].to_string();
    assert!(warnings.contains("app_reader"), "{}", backup.stdout);
    let dir = crate::sections::dir_of(&b);
    let details: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("details.json")).unwrap()).unwrap();
    assert_eq!(details["role_passwords"], false);
    assert_eq!(
        details["logins_without_password"],
        serde_json::json!(["app_reader"])
    );
    let post = crate::sections::part_text(&dir, "post-data.sql.zst");
    assert!(
        !post
            .lines()
            .any(|l| l.starts_with("GRANT") && l.contains("\"extensions\".")),
        "no grants on the platform's extension functions"
    );

    let r = sb
        .run(&[
            "restore",
            b["id"].as_str().unwrap(),
            "--to-url",
            &as_postgres(&dst, "postgres"),
        ])
        .ok();
    assert!(r.stdout.contains("Restored backup"), "{}", r.stdout);
    assert!(
        r.stdout.contains("without a password")
            && r.stdout.contains("ALTER ROLE \"app_reader\" PASSWORD"),
        "{}",
        r.stdout
    );
    assert_eq!(digests(&src, "postgres"), digests(&dst, "postgres"));
    assert_eq!(
        digest(&src, "postgres", "auth.refresh_tokens"),
        digest(&dst, "postgres", "auth.refresh_tokens")
    );
    assert_eq!(facts(&src, "postgres"), facts(&dst, "postgres"));
    assert_eq!(
        dst.psql(
            "postgres",
            "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setrole = 'authenticated'::regrole AND setdatabase = 0"
        ),
        "statement_timeout=15s"
    );
    // The sequence went on where it was.
    assert_eq!(
        dst.psql(
            "postgres",
            "SELECT last_value FROM auth.refresh_tokens_id_seq"
        ),
        "2"
    );
    // The trigger on auth.users works for the next sign-up.
    psql_as_postgres(
        &dst,
        "postgres",
        "INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES ('00000000-0000-0000-0000-000000000009', 'dee@example.com', '{\"username\": \"dee\"}')",
    );
    assert_eq!(
        dst.psql(
            "postgres",
            "SELECT username FROM public.profiles WHERE email = 'dee@example.com'"
        ),
        "dee"
    );
    // The role's password, in no form, in what was printed or kept
    // (backup parts decompressed).
    for (what, run) in [("test", &test), ("backup", &backup), ("restore", &r)] {
        let said = format!("{}{}", run.stdout, run.stderr);
        assert_no_secret(what, said, SUPERUSER_PASSWORD);
    }
    assert_no_secret("the data dir", sb.all_bytes(), SUPERUSER_PASSWORD);
}
