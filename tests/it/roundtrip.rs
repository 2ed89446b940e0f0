//! Backups restored into fresh targets give back the same rows, schema,
//! triggers, policies, publication, materialized views and roles.

use crate::cli::Sb;
use crate::fixture::{TABLES, digest, fresh_supabase, supabase_app};
use crate::pg::PgCluster;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn digests(pg: &PgCluster, db: &str) -> BTreeMap<&'static str, String> {
    TABLES.iter().map(|t| (*t, digest(pg, db, t))).collect()
}

/// Schema facts a restore must bring back, as comparable text.
fn schema_facts(pg: &PgCluster, db: &str) -> Vec<String> {
    [
        "SELECT string_agg(x, ', ' ORDER BY x) FROM (SELECT tgrelid::regclass || ' ' || tgname || ' ' || tgfoid::regproc || ' ' || tgenabled::text AS x FROM pg_trigger WHERE NOT tgisinternal) t",
        "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (SELECT schemaname || '.' || tablename || ' ' || policyname || ' ' || permissive || ' ' || cmd || ' ' || roles::text || ' ' || coalesce(qual, '-') || ' ' || coalesce(with_check, '-') AS x FROM pg_policies) p",
        "SELECT string_agg(x, ', ' ORDER BY x) FROM (SELECT schemaname || '.' || tablename AS x FROM pg_publication_tables WHERE pubname = 'supabase_realtime') p",
        "SELECT string_agg(enumlabel, ', ' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'public.mood'::regtype",
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'teams_captain_fk'",
        "SELECT string_agg(x, ', ' ORDER BY x) FROM (SELECT relname || ':' || relrowsecurity AS x FROM pg_class WHERE relname IN ('profiles', 'objects', 'buckets')) c",
        "SELECT string_agg(attname || ':' || attidentity::text || attgenerated::text, ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'public.profiles'::regclass AND attnum > 0",
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.events'::regclass",
        "SELECT string_agg(team_id || '=' || players, ', ' ORDER BY team_id) FROM public.team_sizes",
        "SELECT string_agg(x, ', ' ORDER BY x) FROM (SELECT grantee || ':' || privilege_type AS x FROM information_schema.role_table_grants WHERE table_name = 'profiles' AND grantee IN ('app_reader', 'anon', 'authenticated')) g",
    ]
    .iter()
    .map(|q| pg.psql(db, q))
    .collect()
}

fn backup_dir(v: &serde_json::Value) -> PathBuf {
    PathBuf::from(v["path"].as_str().unwrap())
}

#[test]
fn supabase_full_backup_restores_into_a_fresh_project() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    supabase_app(&src, "postgres");
    fresh_supabase(&dst, "postgres", true);
    let sb = Sb::new();
    sb.add_project("Prod", &src.url("postgres"));
    let b = sb.backup("Prod", &[]);
    assert_eq!(
        b["profile"], "supabase",
        "auth + storage schemas pick the supabase profile"
    );
    assert_eq!(b["kind"], "full");

    let dir = backup_dir(&b);
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let details: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("details.json")).unwrap()).unwrap();
    let rows = |t: &str| {
        details["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| {
                format!(
                    "{}.{}",
                    x["schema"].as_str().unwrap(),
                    x["table"].as_str().unwrap()
                ) == t
            })
            .map(|x| x["rows"].as_u64().unwrap())
    };
    assert_eq!(rows("public.big"), Some(120_000));
    assert_eq!(rows("auth.users"), Some(3));
    assert_eq!(rows("public.nasty"), Some(8));
    assert_eq!(
        rows("auth.schema_migrations"),
        None,
        "platform migrations are left out"
    );
    assert_eq!(rows("realtime.schema_migrations"), None);
    assert_eq!(details["roles"], serde_json::json!(["app_reader"]));

    let r = sb
        .run(&[
            "restore",
            b["id"].as_str().unwrap(),
            "--to-url",
            &dst.url("postgres"),
        ])
        .ok();
    assert!(r.stdout.contains("Restored backup"), "{}", r.stdout);

    assert_eq!(digests(&src, "postgres"), digests(&dst, "postgres"));
    assert_eq!(
        schema_facts(&src, "postgres"),
        schema_facts(&dst, "postgres")
    );
    // The platform's own rows and trigger are not duplicated.
    assert_eq!(
        dst.psql("postgres", "SELECT count(*) FROM auth.schema_migrations"),
        "2"
    );
    assert_eq!(
        dst.psql("postgres", "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'storage.objects'::regclass AND NOT tgisinternal"),
        "1"
    );
    // The restored trigger works: a new sign-up gets a profile.
    dst.psql(
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
    // The custom login role came back with its password.
    let login = dst
        .psql_cmd("app_reader", "reader-password", "postgres")
        .args(["-At", "-c", "SELECT count(*) FROM public.players"])
        .output()
        .unwrap();
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&login.stdout).trim(), "3");
}

#[test]
fn postgres_profile_restores_everything_into_a_plain_server() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    supabase_app(&src, "postgres");
    let sb = Sb::new();
    sb.add_project("Leaving", &src.url("postgres"));
    let b = sb.backup(
        "Leaving",
        &[
            "--profile",
            "postgres",
            "--compression",
            "xz",
            "--level",
            "1",
        ],
    );
    assert_eq!(b["profile"], "postgres");
    assert!(b["path"].as_str().unwrap().contains("-full-"));
    let dir = backup_dir(&b);
    assert!(dir.join("data.sql.xz").is_file());
    sb.run(&[
        "restore",
        b["id"].as_str().unwrap(),
        "--to-url",
        &dst.url("postgres"),
    ])
    .ok();
    assert_eq!(digests(&src, "postgres"), digests(&dst, "postgres"));
    assert_eq!(
        schema_facts(&src, "postgres"),
        schema_facts(&dst, "postgres")
    );
    for t in [
        "auth.schema_migrations",
        "storage.migrations",
        "realtime.schema_migrations",
    ] {
        assert_eq!(
            digest(&src, "postgres", t),
            digest(&dst, "postgres", t),
            "{t}"
        );
    }
    assert_eq!(dst.psql("postgres", "SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role', 'app_reader')"), "4");
}

#[test]
fn schema_and_data_kinds_restore_one_after_the_other() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    supabase_app(&src, "postgres");
    fresh_supabase(&dst, "postgres", true);
    dst.psql("postgres", "CREATE ROLE app_reader LOGIN");
    let sb = Sb::new();
    sb.add_project("P", &src.url("postgres"));
    let schema = sb.backup("P", &["--kind", "schema", "--compression", "none"]);
    let data = sb.backup(
        "P",
        &["--kind", "data", "--compression", "zstd", "--level", "19"],
    );
    assert!(backup_dir(&schema).join("pre-data.sql").is_file());
    assert!(backup_dir(&schema).join("post-data.sql").is_file());
    assert!(!backup_dir(&schema).join("data.sql").exists());
    assert!(backup_dir(&data).join("data.sql.zst").is_file());
    assert!(!backup_dir(&data).join("roles.sql.zst").exists());

    sb.run(&[
        "restore",
        schema["id"].as_str().unwrap(),
        "--to-url",
        &dst.url("postgres"),
    ])
    .ok();
    assert_eq!(dst.psql("postgres", "SELECT count(*) FROM public.big"), "0");
    assert_eq!(
        dst.psql(
            "postgres",
            "SELECT relispopulated FROM pg_class WHERE relname = 'team_sizes'"
        ),
        "f"
    );
    // The target now has the user's tables: replacing needs --yes.
    let refused = sb
        .run(&[
            "restore",
            data["id"].as_str().unwrap(),
            "--to-url",
            &dst.url("postgres"),
        ])
        .expect_code(2);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    sb.run(&[
        "restore",
        data["id"].as_str().unwrap(),
        "--to-url",
        &dst.url("postgres"),
        "--yes",
    ])
    .ok();
    assert_eq!(digests(&src, "postgres"), digests(&dst, "postgres"));
    assert_eq!(
        schema_facts(&src, "postgres"),
        schema_facts(&dst, "postgres")
    );
}

#[test]
fn putting_last_night_back_on_the_same_server() {
    let src = PgCluster::start();
    supabase_app(&src, "postgres");
    let sb = Sb::new();
    sb.add_project("Live", &src.url("postgres"));
    let b = sb.backup("Live", &[]);
    let id = b["id"].as_str().unwrap();
    let before = digests(&src, "postgres");
    let facts = schema_facts(&src, "postgres");

    // Into another database on the same server: the roles exist already.
    fresh_supabase(&src, "copy", false);
    let r = sb.run(&["restore", id, "--to-url", &src.url("copy")]).ok();
    assert!(
        r.stdout
            .contains("Roles already present, left as they are: app_reader"),
        "{}",
        r.stdout
    );
    assert_eq!(digests(&src, "copy"), before);

    // A bad day on the live database...
    src.psql(
        "postgres",
        "DELETE FROM auth.users WHERE email = 'bob@example.com'; \
         UPDATE public.big SET payload = 'oops' WHERE id < 1000; \
         CREATE TABLE public.stray (x int); DROP MATERIALIZED VIEW public.team_sizes;",
    );
    let damaged = digests(&src, "postgres");
    assert_ne!(damaged, before);
    let refused = sb
        .run(&["restore", id, "--to-url", &src.url("postgres")])
        .expect_code(2);
    assert!(refused.stderr.contains("already has"), "{}", refused.stderr);
    assert_eq!(
        digests(&src, "postgres"),
        damaged,
        "a refused restore changes nothing"
    );
    assert_eq!(
        src.psql(
            "postgres",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'stray'"
        ),
        "1",
        "a refused restore changes nothing"
    );
    // ...put last night back.
    let r = sb
        .run(&["restore", id, "--to-url", &src.url("postgres"), "--yes"])
        .ok();
    assert!(r.stdout.contains("replaced"), "{}", r.stdout);
    assert_eq!(digests(&src, "postgres"), before);
    assert_eq!(schema_facts(&src, "postgres"), facts);
    assert_eq!(
        src.psql(
            "postgres",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'stray'"
        ),
        "0"
    );
}

#[test]
fn a_backup_folder_from_another_machine_restores_without_the_catalog() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    supabase_app(&src, "postgres");
    let sb = Sb::new();
    sb.add_project("P", &src.url("postgres"));
    let b = sb.backup("P", &["--profile", "postgres"]);
    let copied = tempfile::tempdir().unwrap();
    let target = copied.path().join("from-usb-stick");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(backup_dir(&b))
        .arg(&target)
        .status()
        .unwrap();
    assert!(cp.success());
    let other = Sb::new();
    other.run(&["verify", target.to_str().unwrap()]).ok();
    other
        .run(&[
            "restore",
            target.to_str().unwrap(),
            "--to-url",
            &dst.url("postgres"),
        ])
        .ok();
    assert_eq!(digests(&src, "postgres"), digests(&dst, "postgres"));
}
