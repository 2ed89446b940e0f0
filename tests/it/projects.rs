//! Projects through the CLI, as a newcomer uses them.

use crate::cli::{MASTER, Run, Sb, assert_no_secret};
use crate::pg::{PgCluster, SUPERUSER_PASSWORD};

#[test]
fn newcomer_adds_lists_tests_and_finds_a_project_again() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    let url = pg.url("postgres");
    let add = sb
        .run(&[
            "project",
            "add",
            "--name",
            "Shop DB",
            "--db-url",
            &url,
            "--environment",
            "staging",
        ])
        .ok();
    assert!(add.stderr.contains("Master password set"), "{}", add.stderr);
    assert!(add.stdout.contains("Added project \"Shop DB\""));

    let list = sb.run(&["project", "list"]).ok();
    assert!(list.stdout.contains("Shop DB"));
    assert!(
        list.stdout.contains("postgres:****@127.0.0.1"),
        "{}",
        list.stdout
    );

    let v = sb.run(&["project", "list", "--json"]).ok().json();
    let p = &v[0];
    assert_eq!(p["name"], "Shop DB");
    assert_eq!(p["environment"], "staging");
    assert_eq!(p["is_active"], true);
    assert!(p["db_url"].as_str().unwrap().contains(":****@"));
    assert!(p["id"].as_str().unwrap().len() == 36);

    let test = sb.run(&["project", "test", "shop db"]).ok();
    let server_version = pg.psql("postgres", "SHOW server_version");
    let major = server_version.split('.').next().unwrap();
    assert!(
        test.stdout.contains(&format!("PostgreSQL {major}.")),
        "{}",
        test.stdout
    );
    assert!(test.stdout.contains("pg_dump:"), "{}", test.stdout);
    assert!(test.stdout.contains("SSL:          no"));
    assert!(test.stdout.contains("OK: ready to back up"));

    let r = sb
        .run(&["project", "test", "Shop DB", "--json"])
        .ok()
        .json();
    assert_eq!(
        r["server"]["version"]["major"]
            .as_u64()
            .unwrap()
            .to_string(),
        major
    );
    assert!(r["tools"]["pg_dump"].as_str().unwrap().ends_with("pg_dump"));
    assert!(r["server"]["database_size"].as_u64().unwrap() > 0);

    // A new process (a restart) finds it again.
    let s = sb
        .run(&["project", "show", "Shop DB", "--json"])
        .ok()
        .json();
    assert_eq!(s["id"], p["id"]);
}

#[test]
fn wrong_password_is_refused_with_one_line_and_changes_nothing() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    sb.add_project("A", &pg.url("postgres"));
    let before = sb.run(&["project", "list", "--json"]).ok().stdout;
    let log_before = std::fs::read_to_string(sb.data_dir().join("supabackup.log")).unwrap();
    let r = sb
        .run_env(
            &[
                "project",
                "add",
                "--name",
                "B",
                "--db-url",
                &pg.url("postgres"),
            ],
            &[("SUPABACKUP_PASSWORD", "not the password")],
        )
        .expect_code(2);
    assert_no_secret("the refusal", &r.stderr, "not the password");
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("wrong master password"));
    let after = sb.run(&["project", "list", "--json"]).ok();
    assert_eq!(
        before, after.stdout,
        "a refused password must not change the projects"
    );
    let log_after = std::fs::read_to_string(sb.data_dir().join("supabackup.log")).unwrap();
    assert_eq!(
        log_before, log_after,
        "a refused password must not be logged as an action"
    );
    let v = after.json();
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[test]
fn bad_input_is_rejected_naming_the_field() {
    let sb = Sb::new();
    for (args, field) in [
        (
            vec!["--name", "bad/name", "--db-url", "postgres://h/db"],
            "name:",
        ),
        (vec!["--name", "", "--db-url", "postgres://h/db"], "name:"),
        (vec!["--name", "ok", "--db-url", "mysql://h/db"], "db_url:"),
        (
            vec!["--name", "ok", "--db-url", "postgres://u:p@h:70000/db"],
            "db_url: port",
        ),
        (
            vec!["--name", "ok", "--db-url", "postgres://h/db?sslmode=maybe"],
            "db_url: sslmode",
        ),
        (
            vec![
                "--name",
                "ok",
                "--db-url",
                "postgres://h/db",
                "--environment",
                "prod",
            ],
            "environment:",
        ),
    ] {
        let mut full = vec!["project", "add"];
        full.extend(args);
        let r = sb.run(&full).expect_code(2);
        assert!(r.stderr.contains(field), "{full:?}: {}", r.stderr);
    }
    let long = "n".repeat(101);
    let r = sb
        .run(&[
            "project",
            "add",
            "--name",
            &long,
            "--db-url",
            "postgres://h/db",
        ])
        .expect_code(2);
    assert!(r.stderr.contains("at most 100"));
    let list = sb.run(&["project", "list", "--json"]).ok();
    assert_eq!(list.stdout.trim(), "[]");
}

#[test]
fn plaintext_secrets_never_reach_the_catalog_listings_or_logs() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    let service_key = "svc-key-Zq8NoLeak9";
    let r = sb
        .run(&[
            "project",
            "add",
            "--name",
            "Leaky",
            "--db-url",
            &pg.url("postgres"),
            "--service-key",
            service_key,
            "--anon-key",
            "anon-key-Xy7NoLeak",
        ])
        .ok();
    let list = sb.run(&["project", "list", "--json"]).ok();
    let table = sb.run(&["project", "list"]).ok();
    let show = sb.run(&["project", "show", "Leaky"]).ok();
    let show_json = sb.run(&["project", "show", "Leaky", "--json"]).ok();
    let test = sb.run(&["project", "test", "Leaky"]).ok();
    let test_json = sb.run(&["project", "test", "Leaky", "--json"]).ok();
    let bytes = sb.all_bytes();
    for secret in [
        SUPERUSER_PASSWORD,
        service_key,
        "anon-key-Xy7NoLeak",
        MASTER,
    ] {
        for (what, run) in [
            ("add", &r),
            ("list --json", &list),
            ("list", &table),
            ("show", &show),
            ("show --json", &show_json),
            ("test", &test),
            ("test --json", &test_json),
        ] {
            assert_no_secret(&format!("{what} stdout"), &run.stdout, secret);
            assert_no_secret(&format!("{what} stderr"), &run.stderr, secret);
        }
        assert_no_secret("the data dir", &bytes, secret);
    }
    assert!(
        show.stdout.contains("service_key:  ****eak9"),
        "{}",
        show.stdout
    );
    let log = std::fs::read_to_string(sb.data_dir().join("supabackup.log")).unwrap();
    assert!(log.contains("project \"Leaky\" added"), "{log}");
}

#[test]
fn change_password_reseals_everything() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    sb.run(&[
        "project",
        "add",
        "--name",
        "A",
        "--db-url",
        &pg.url("postgres"),
        "--anon-key",
        "k123",
    ])
    .ok();
    let new_pw = "a brand new master password";
    let r = sb
        .run_env(
            &["vault", "change-password"],
            &[("SUPABACKUP_NEW_PASSWORD", new_pw)],
        )
        .ok();
    assert!(
        r.stdout
            .contains("1 project(s) and destination(s) re-sealed")
    );
    sb.run(&["project", "list"]).expect_code(2);
    let test = sb
        .run_env(
            &["project", "test", "A"],
            &[("SUPABACKUP_PASSWORD", new_pw)],
        )
        .ok();
    assert!(test.stdout.contains("OK: ready to back up"));
    let show = sb
        .run_env(
            &["project", "show", "A"],
            &[("SUPABACKUP_PASSWORD", new_pw)],
        )
        .ok();
    assert!(show.stdout.contains("anon_key:     ****k123"));
    // Password from a file works the same.
    let pwfile = sb.tmp.path().join("pw.txt");
    std::fs::write(&pwfile, format!("{new_pw}\n")).unwrap();
    let mut c = sb.cmd();
    c.env_remove("SUPABACKUP_PASSWORD").args([
        "--password-file",
        pwfile.to_str().unwrap(),
        "project",
        "list",
    ]);
    let out = Run::from(c.output().unwrap());
    assert!(out.code == 0, "{}", out.stderr);
}

#[test]
fn edit_and_remove_projects() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    sb.add_project("Old", &pg.url("postgres"));
    sb.run(&[
        "project",
        "edit",
        "old",
        "--name",
        "New Name",
        "--environment",
        "production",
        "--active",
        "false",
    ])
    .ok();
    let v = sb
        .run(&["project", "show", "New Name", "--json"])
        .ok()
        .json();
    assert_eq!(v["environment"], "production");
    assert_eq!(v["is_active"], false);
    assert!(v["db_url"].as_str().unwrap().contains("127.0.0.1"));
    sb.run(&["project", "edit", "New Name", "--db-url", "nonsense"])
        .expect_code(2);
    // Without a terminal, removal needs --yes.
    let r = sb.run(&["project", "remove", "New Name"]).expect_code(2);
    assert!(r.stderr.contains("--yes"));
    sb.run(&["project", "remove", "New Name", "--yes"]).ok();
    sb.run(&["project", "show", "New Name"]).expect_code(2);
}

#[test]
fn a_server_that_is_down_gets_a_clear_error() {
    let mut pg = PgCluster::start();
    let sb = Sb::new();
    sb.add_project("Down", &pg.url("postgres"));
    pg.stop_now();
    let r = sb.run(&["project", "test", "Down"]).expect_code(1);
    assert!(r.stdout.contains("connection refused"), "{}", r.stdout);
    assert!(r.stdout.contains("NOT READY"));
    let said = format!("{}{}", r.stdout, r.stderr);
    assert_no_secret("the connection error", said, SUPERUSER_PASSWORD);
}

#[test]
fn a_second_process_gets_catalog_in_use() {
    let sb = Sb::new();
    sb.run(&["settings", "get"]).ok();
    let held = supabackup::store::Catalog::open(&sb.data_dir().join("catalog.redb")).unwrap();
    let r = sb.run(&["settings", "get"]).expect_code(1);
    assert!(
        r.stderr.contains("in use by another supabackup process"),
        "{}",
        r.stderr
    );
    drop(held);
    sb.run(&["settings", "get"]).ok();
}

#[test]
fn settings_are_validated_and_kept() {
    let sb = Sb::new();
    let root = sb.tmp.path().join("elsewhere");
    sb.run(&["settings", "set", "backup-root", root.to_str().unwrap()])
        .ok();
    let r = sb.run(&["settings", "get", "backup-root"]).ok();
    assert_eq!(r.stdout.trim(), root.to_str().unwrap());
    sb.run(&["settings", "set", "backup-root", "relative"])
        .expect_code(2);
    sb.run(&["settings", "set", "colour", "red"]).expect_code(2);
    sb.run(&["settings", "set", "default-compression", "xz"])
        .ok();
    sb.run(&["settings", "set", "default-level", "12"])
        .expect_code(2);
    sb.run(&["settings", "set", "default-level", "9"]).ok();
    sb.run(&["settings", "set", "retry-delay", "0"])
        .expect_code(2);
    sb.run(&["settings", "set", "retry-delay", "5"]).ok();
    let v = sb.run(&["info", "--json"]).ok().json();
    assert_eq!(v["backup_root"], root.to_str().unwrap());
    // A new process reads back what was kept, refused values not among them.
    for (key, want) in [
        ("default-compression", "xz"),
        ("default-level", "9"),
        ("retry-delay", "5"),
    ] {
        let r = sb.run(&["settings", "get", key]).ok();
        assert_eq!(r.stdout.trim(), want, "{key}");
    }
}

#[test]
fn portable_mode_keeps_data_beside_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("supabackup");
    std::fs::copy(env!("CARGO_BIN_EXE_supabackup"), &exe).unwrap();
    std::fs::write(dir.path().join("supabackup.portable"), "").unwrap();
    // A copy just written can be "busy" for a moment: another test thread
    // that forks in between holds its write handle until that child execs
    // (ETXTBSY). Try again briefly rather than fail on the harness's race.
    let mut tries = 0;
    let output = loop {
        match std::process::Command::new(&exe)
            .env_remove("SUPABACKUP_DATA_DIR")
            .args(["info", "--json"])
            .output()
        {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => break other.unwrap(),
        }
    };
    let out = Run::from(output);
    assert!(out.code == 0, "{}", out.stderr);
    let v = out.json();
    let want = dir.path().join("supabackup-data");
    assert_eq!(v["data_dir"], want.to_str().unwrap());
    assert!(want.join("catalog.redb").is_file());
}
