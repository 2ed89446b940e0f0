//! PostgreSQL 15, 17 and 18 side by side: each server major gets the
//! pg_dump of its own major; a backup restores into the same or a newer
//! major; into an older one it restores what the older server can express,
//! and what it cannot is refused before anything changes.
//!
//! Needs the 17 and 18 installs `.ci/pg-majors.sh` makes (`.ci/run` runs it).

use crate::cli::Sb;
use crate::fixture::{TABLES, digest, supabase_app};
use crate::pg::{PgCluster, bin_for_major};
use crate::sections::{POST_DATA_APP, assert_same_dump};
use std::collections::BTreeMap;

/// An Sb that sees the pg_dump and psql of 15, 17 and 18.
fn sb_with_every_major() -> Sb {
    Sb::with_bins(&[15, 17, 18].map(bin_for_major))
}

fn digests(pg: &PgCluster, db: &str) -> BTreeMap<&'static str, String> {
    TABLES.iter().map(|t| (*t, digest(pg, db, t))).collect()
}

fn major(v: &serde_json::Value, key: &str) -> u32 {
    v[key]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn each_server_major_gets_the_pg_dump_of_its_own_major() {
    let sb = sb_with_every_major();
    for m in [15, 17, 18] {
        let pg = PgCluster::start_major(m);
        pg.psql(
            "postgres",
            "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)",
        );
        let name = format!("pg{m}");
        sb.add_project(&name, &pg.url("postgres"));
        let test = sb.run(&["project", "test", &name, "--json"]).ok().json();
        assert_eq!(
            test["tools"]["version"]["major"], m,
            "PostgreSQL {m}: {test}"
        );
        let dir = test["tools"]["dir"].as_str().unwrap();
        assert!(dir.contains(&format!("/{m}/")), "PostgreSQL {m}: {dir}");
        let b = sb.backup(&name, &["--profile", "postgres"]);
        let dir = crate::sections::dir_of(&b);
        let details: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("details.json")).unwrap()).unwrap();
        assert_eq!(major(&details, "server_version"), m);
        assert_eq!(major(&details, "pg_dump_version"), m, "{details}");
    }
}

#[test]
fn backups_restore_into_the_same_or_a_newer_major() {
    let sb = sb_with_every_major();
    let p15 = PgCluster::start_major(15);
    let p17 = PgCluster::start_major(17);
    let p18 = PgCluster::start_major(18);
    supabase_app(&p15, "postgres");
    p15.psql("postgres", POST_DATA_APP);
    sb.add_project("Fifteen", &p15.url("postgres"));
    let b15 = sb.backup("Fifteen", &["--profile", "postgres"]);
    for (to, name) in [(&p17, "from15"), (&p18, "from15")] {
        to.create_db(name);
        sb.run(&[
            "restore",
            b15["id"].as_str().unwrap(),
            "--to-url",
            &to.url(name),
        ])
        .ok();
        assert_eq!(digests(&p15, "postgres"), digests(to, name));
    }
    // 17 to 18: the 17 copy, backed up with pg_dump 17, into 18; and into
    // another 17 database, which must give the very same dump.
    sb.add_project("Seventeen", &p17.url("from15"));
    let b17 = sb.backup("Seventeen", &["--profile", "postgres"]);
    p18.create_db("from17");
    p17.create_db("again17");
    for (to, name) in [(&p18, "from17"), (&p17, "again17")] {
        sb.run(&[
            "restore",
            b17["id"].as_str().unwrap(),
            "--to-url",
            &to.url(name),
        ])
        .ok();
        assert_eq!(digests(&p15, "postgres"), digests(to, name));
    }
    assert_same_dump(&p17.dump_text("from15"), &p17.dump_text("again17"));
    assert_same_dump(&p18.dump_text("from15"), &p18.dump_text("from17"));
}

#[test]
fn a_newer_backup_restores_into_an_older_major_or_is_refused_first() {
    let sb = sb_with_every_major();
    let p15 = PgCluster::start_major(15);
    let p17 = PgCluster::start_major(17);
    // A Supabase project on 17 (grants with INHERIT options, MAINTAIN
    // privileges, SET transaction_timeout) goes back to 15.
    supabase_app(&p17, "postgres");
    p17.psql(
        "postgres",
        "GRANT anon TO app_reader WITH INHERIT FALSE; \
         GRANT SELECT, MAINTAIN ON public.players TO app_reader;",
    );
    sb.add_project("On17", &p17.url("postgres"));
    let b = sb.backup("On17", &["--profile", "postgres"]);
    let r = sb
        .run(&[
            "restore",
            b["id"].as_str().unwrap(),
            "--to-url",
            &p15.url("postgres"),
        ])
        .ok();
    assert!(
        r.stdout.contains("restored a PostgreSQL 17") && r.stdout.contains("INHERIT FALSE"),
        "{}",
        r.stdout
    );
    assert_eq!(digests(&p17, "postgres"), digests(&p15, "postgres"));
    assert_eq!(
        p15.psql(
            "postgres",
            "SELECT string_agg(privilege_type, ',' ORDER BY privilege_type) FROM information_schema.role_table_grants \
             WHERE grantee = 'app_reader' AND table_name = 'players'"
        ),
        "SELECT"
    );

    // What 15 cannot express (any_value() arrived in 16): refused before the
    // target changes, naming both versions.
    p17.psql("postgres", "CREATE DATABASE newer");
    p17.psql(
        "newer",
        "CREATE TABLE t (id int, grp int); INSERT INTO t VALUES (1, 1); \
         CREATE VIEW v AS SELECT grp, any_value(id) AS some_id FROM t GROUP BY grp;",
    );
    sb.add_project("Newer", &p17.url("newer"));
    let b = sb.backup("Newer", &["--profile", "postgres"]);
    p15.create_db("target");
    p15.psql(
        "target",
        "CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (42)",
    );
    let refused = sb
        .run(&[
            "restore",
            b["id"].as_str().unwrap(),
            "--to-url",
            &p15.url("target"),
            "--yes",
        ])
        .expect_code(1);
    assert!(
        refused.stderr.contains("PostgreSQL 17") && refused.stderr.contains("PostgreSQL 15"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("any_value"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("Nothing was changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(p15.psql("target", "SELECT x FROM keep_me"), "42");
    assert_eq!(
        p15.psql(
            "target",
            "SELECT count(*) FROM pg_class WHERE relname IN ('t', 'v')"
        ),
        "0"
    );
}
