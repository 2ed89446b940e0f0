//! What a careful, hostile user tries: a closed pipe on standard output,
//! endpoints that are not URLs, a command refused halfway. Nothing panics,
//! and a refused command changes nothing.

use crate::cli::{Run, Sb};
use crate::pg::PgCluster;
use std::process::Stdio;

/// A connection string nothing listens on: `project add` does not connect.
pub const NOWHERE: &str = "postgresql://postgres:pw@127.0.0.1:1/postgres";

/// Runs with standard output a pipe whose reader has gone (as `| head -1`
/// leaves it once `head` has its line, or `| true` at once): the reading end
/// is closed before the child starts, so its first write fails.
pub fn run_closed_stdout(sb: &Sb, args: &[&str]) -> Run {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = sb
        .cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    Run::from(child.wait_with_output().unwrap())
}

/// No panic: exit code 101 and Rust's panic message are both signs of one.
#[track_caller]
pub fn no_panic(what: &str, r: &Run) {
    assert!(
        r.code != 101 && !r.stderr.contains("panicked"),
        "{what} panicked (exit {}):\n{}",
        r.code,
        r.stderr
    );
}

#[test]
fn a_closed_stdout_ends_listings_quietly_and_a_finished_backup_stays_a_success() {
    let pg = PgCluster::start();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1)",
    );
    let sb = Sb::new();
    sb.add_project("big", &pg.url("postgres"));
    for args in [
        &["project", "list"][..],
        &["project", "list", "--json"],
        &["backups"],
        &["info", "--json"],
    ] {
        let r = run_closed_stdout(&sb, args);
        no_panic(&args.join(" "), &r);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr, "", "{args:?}: said something on stderr");
    }
    let r = run_closed_stdout(&sb, &["backup", "big", "--kind", "schema"]);
    no_panic("backup", &r);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let b = &sb.backups()[0];
    assert_eq!(b["status"], "completed", "{b}");
    sb.run(&["verify", b["id"].as_str().unwrap()]).ok();
    let r = run_closed_stdout(&sb, &["backup", "big", "--kind", "schema", "--json"]);
    no_panic("backup --json", &r);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sb.backups().len(), 2);
    assert!(sb.backups().iter().all(|b| b["status"] == "completed"));

    // The one output that must not be lost says so and fails.
    let r = run_closed_stdout(&sb, &["key", "generate"]);
    no_panic("key generate", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--out FILE"), "{}", r.stderr);
}

/// `destination add NAME --s3 s3://bk1/pre --endpoint ENDPOINT --path-style`
/// with keys, plus `extra`.
fn add_s3_at(sb: &Sb, name: &str, endpoint: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "destination",
        "add",
        name,
        "--s3",
        "s3://bk1/pre",
        "--endpoint",
        endpoint,
        "--path-style",
        "--access-key-id",
        "AKIAEXAMPLE",
    ];
    args.extend_from_slice(extra);
    sb.run_env(
        &args,
        &[("SUPABACKUP_S3_SECRET_ACCESS_KEY", "s3cr3t-not-real")],
    )
}

#[test]
fn endpoints_that_are_not_urls_are_refused_at_once_naming_the_part() {
    let sb = Sb::new();
    sb.add_project("p", NOWHERE);
    for (endpoint, says) in [
        ("http://127.0.0.1:9000\x04", "control character U+0004"),
        ("http://[2001:db8::1]:99999", "port"),
        ("http://127.0.0.1:9000é", "non-ASCII"),
        ("http://[g::1]/", "IPv6"),
        ("http://[fe80::1%eth0]:9000", "IPv6"),
        ("http://1", "would be read as \"0.0.0.1\""),
        ("ftp://127.0.0.1", "http:// or https://"),
        ("http://user:pw@127.0.0.1:9000", "user name or password"),
    ] {
        let long = format!("http://{}.example.com", "a".repeat(300));
        for e in [endpoint, long.as_str()] {
            for no_test in [&[][..], &["--no-test"]] {
                let r = add_s3_at(&sb, "dz", e, no_test);
                no_panic(&format!("destination add {e:?}"), &r);
                assert_eq!(r.code, 2, "{e:?}: {}", r.stderr);
                assert!(r.stderr.contains("endpoint"), "{e:?}: {}", r.stderr);
                if e == endpoint {
                    assert!(r.stderr.contains(says), "{e:?}: {}", r.stderr);
                }
            }
        }
    }
    // Virtual-host addressing needs a host name to put the bucket in.
    let args = [
        "destination",
        "add",
        "dz",
        "--s3",
        "s3://bk1/pre",
        "--endpoint",
        "http://127.0.0.1:9000",
        "--access-key-id",
        "AKIAEXAMPLE",
        "--no-test",
    ];
    let r = sb.run_env(&args, &[("SUPABACKUP_S3_SECRET_ACCESS_KEY", "x")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--path-style"), "{}", r.stderr);
    let listed = sb.run(&["destination", "list", "--json"]).ok().json();
    assert_eq!(
        listed,
        serde_json::json!([]),
        "a refused destination was kept"
    );

    // Storage's endpoint and API URL go through the same check.
    let before = projects_state(&sb);
    let s3 = [
        "--storage-s3-region",
        "eu-central-1",
        "--storage-s3-access-key-id",
        "k",
    ];
    for (flag, field, url) in [
        (
            "--storage-s3-endpoint",
            "storage_s3_endpoint",
            "http://[g::1]/",
        ),
        (
            "--storage-s3-endpoint",
            "storage_s3_endpoint",
            "http://[fe80::1%eth0]:9000",
        ),
        ("--api-url", "api_url", "http://127.0.0.1:54321\x07"),
        ("--api-url", "api_url", "https://[::1]:70000"),
    ] {
        let with_s3: &[&str] = if field == "api_url" { &[] } else { &s3 };
        let mut add = vec![
            "project", "add", "--name", "p2", "--db-url", NOWHERE, flag, url,
        ];
        add.extend_from_slice(with_s3);
        let mut edit = vec!["project", "edit", "p", flag, url];
        edit.extend_from_slice(with_s3);
        for args in [add, edit] {
            let r = sb.run_env(&args, &[("SUPABACKUP_STORAGE_S3_SECRET", "s")]);
            no_panic(&format!("{args:?}"), &r);
            assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
            assert!(r.stderr.contains(field), "{args:?}: {}", r.stderr);
        }
    }
    assert_eq!(
        projects_state(&sb),
        before,
        "a refused URL changed a project"
    );
}

#[test]
fn a_destination_stored_with_a_bad_endpoint_fails_alone_and_the_others_get_their_copies() {
    let pg = PgCluster::start();
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int); INSERT INTO t VALUES (1)",
    );
    let sb = Sb::new();
    sb.add_project("p", &pg.url("postgres"));
    let nas = sb.tmp.path().join("nas");
    std::fs::create_dir_all(&nas).unwrap();
    sb.run(&[
        "destination",
        "add",
        "nas",
        "--folder",
        nas.to_str().unwrap(),
    ])
    .ok();
    // As an older version kept it: an endpoint with a control character.
    {
        let catalog =
            supabackup::store::Catalog::open(&sb.data_dir().join("catalog.redb")).unwrap();
        catalog
            .put_destination(&supabackup::domain::Destination {
                id: supabackup::domain::DestinationId::new(),
                name: "dz".into(),
                kind: supabackup::domain::DestinationKind::S3 {
                    endpoint: "http://127.0.0.1:9000\x04".into(),
                    region: "us-east-1".into(),
                    bucket: "bk1".into(),
                    prefix: "pre".into(),
                    path_style: true,
                    access_key_id: "AKIAEXAMPLE".into(),
                },
                secret: None,
                created_at: chrono::Utc::now(),
                extra: Default::default(),
            })
            .unwrap();
    }
    let r = sb.run(&["destination", "test", "dz"]);
    no_panic("destination test", &r);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("control character"), "{}", r.stderr);
    assert!(r.stderr.contains("add it again"), "{}", r.stderr);
    sb.run(&[
        "project",
        "edit",
        "p",
        "--copy-to",
        "dz",
        "--copy-to",
        "nas",
    ])
    .ok();
    let r = sb.run(&["backup", "p", "--kind", "schema", "--json"]);
    no_panic("backup", &r);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let b = r.json();
    assert_eq!(b["status"], "completed");
    let state = |b: &serde_json::Value, d: &str| {
        b["copies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["destination"] == d)
            .map(|c| c["state"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(state(&b, "dz"), "failed", "{b}");
    assert_eq!(state(&b, "nas"), "copied", "{b}");
    // A second backup made before nas was reachable: sync copies it there
    // even though dz fails first.
    std::fs::rename(&nas, sb.tmp.path().join("nas-away")).unwrap();
    let b2 = sb
        .run(&["backup", "p", "--kind", "schema", "--json"])
        .ok()
        .json();
    assert_eq!(state(&b2, "nas"), "failed", "{b2}");
    std::fs::rename(sb.tmp.path().join("nas-away"), &nas).unwrap();
    let r = sb.run(&["sync", "--json"]);
    no_panic("sync", &r);
    assert_eq!(r.code, 1, "dz still fails: {}", r.stderr);
    let report = r.json();
    let copied = report["copied"].to_string();
    assert!(copied.contains("nas"), "{report}");
    let now = sb
        .backups()
        .into_iter()
        .find(|b| b["id"] == b2["id"])
        .unwrap();
    assert_eq!(state(&now, "nas"), "copied", "{now}");
}

/// What `project list --json` and `project show --json` say, for
/// before/after comparisons.
fn projects_state(sb: &Sb) -> String {
    let mut text = sb.run(&["project", "list", "--json"]).ok().stdout;
    for p in sb
        .run(&["project", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
    {
        let name = p["name"].as_str().unwrap();
        text.push_str(&sb.run(&["project", "show", name, "--json"]).ok().stdout);
    }
    text
}

#[test]
fn a_refused_project_add_or_edit_changes_nothing() {
    let sb = Sb::new();
    let dir = sb.tmp.path().to_path_buf();
    let key = dir.join("key.txt");
    sb.run(&["key", "generate", "--out", key.to_str().unwrap()])
        .ok();
    let nas = dir.join("nas");
    std::fs::create_dir_all(&nas).unwrap();
    sb.run(&[
        "destination",
        "add",
        "nas",
        "--folder",
        nas.to_str().unwrap(),
    ])
    .ok();
    sb.add_project("p1", NOWHERE);
    let before = projects_state(&sb);
    let add = |extra: &[&str]| {
        let mut args = vec!["project", "add", "--name", "p2", "--db-url", NOWHERE];
        args.extend_from_slice(extra);
        sb.run_env(&args, &[("SUPABACKUP_BACKUP_PASSPHRASE", "short")])
    };
    for (extra, code, says) in [
        (
            &["--encrypt-to", "age1bogus"][..],
            2,
            "is not an age public key",
        ),
        (&["--copy-to", "nosuch"], 2, "nosuch"),
        (&["--store-identity", "/nonexistent"], 1, "identity file"),
        (&["--encrypt-passphrase"], 2, "at least 12 characters"),
        (&["--remote-only"], 2, "needs at least one destination"),
        (
            &["--copy-to", "nas", "--encrypt-to", "age1bogus"],
            2,
            "age public key",
        ),
        (&["--storage-include", "a/b"], 2, "bucket"),
    ] {
        let r = add(extra);
        no_panic(&format!("project add {extra:?}"), &r);
        assert_eq!(r.code, code, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{extra:?}: {}", r.stderr);
        assert_eq!(
            projects_state(&sb),
            before,
            "{extra:?} left a project behind"
        );
    }
    // The name is still free.
    let public = std::fs::read_to_string(&key)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    add(&["--encrypt-to", &public]).ok();
    let shown = sb.run(&["project", "show", "p2"]).ok();
    assert!(
        shown.stdout.contains("encryption:   age, to age1"),
        "{}",
        shown.stdout
    );

    // An edit with one refused flag applies none of the others.
    let before = projects_state(&sb);
    for extra in [
        &["--encrypt-to", "age1bogus"][..],
        &["--copy-to", "nosuch"],
        &["--store-identity", "/nonexistent"],
        &["--encrypt-passphrase"],
        &["--api-url", "http://[g::1]/"],
        &["--name", "no/slash"],
    ] {
        let mut args = vec![
            "project",
            "edit",
            "p2",
            "--description",
            "changed",
            "--environment",
            "staging",
            "--copy-to",
            "nas",
        ];
        args.extend_from_slice(extra);
        let r = sb.run(&args);
        no_panic(&format!("project edit {extra:?}"), &r);
        assert_ne!(r.code, 0, "{extra:?}: {}", r.stdout);
        assert_eq!(projects_state(&sb), before, "{extra:?} changed the project");
    }
}

#[test]
fn bad_input_exits_2_as_the_readme_promises() {
    let sb = Sb::new();
    sb.add_project("p", NOWHERE);
    let r = sb.run(&["project", "edit", "p", "--encrypt-to", "age1bogus"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for prefix in ["s3://bk1/pré", "s3://bk1/a b", "s3://bk1/a/../b"] {
        let r = sb.run_env(
            &[
                "destination",
                "add",
                "dz",
                "--s3",
                prefix,
                "--endpoint",
                "http://127.0.0.1:9",
                "--path-style",
                "--access-key-id",
                "k",
                "--no-test",
            ],
            &[("SUPABACKUP_S3_SECRET_ACCESS_KEY", "x")],
        );
        no_panic(prefix, &r);
        assert_eq!(r.code, 2, "{prefix}: {}", r.stderr);
        assert!(
            r.stderr.contains("invalid object key"),
            "{prefix}: {}",
            r.stderr
        );
    }
}

#[test]
fn a_schedule_shows_its_timeout() {
    let sb = Sb::new();
    sb.add_project("p", NOWHERE);
    sb.run(&[
        "schedule",
        "add",
        "nightly",
        "--project",
        "p",
        "--cron",
        "0 3 * * *",
        "--timeout",
        "3600",
    ])
    .ok();
    sb.run(&[
        "schedule",
        "add",
        "hourly",
        "--project",
        "p",
        "--cron",
        "@hourly",
    ])
    .ok();
    let shown = sb.run(&["schedule", "show", "nightly"]).ok();
    assert!(
        shown
            .stdout
            .contains("a run longer than 1h 0m 0s (3600 s) is cancelled"),
        "{}",
        shown.stdout
    );
    let shown = sb.run(&["schedule", "show", "hourly"]).ok();
    assert!(shown.stdout.contains("no timeout"), "{}", shown.stdout);
    let v = sb
        .run(&["schedule", "show", "nightly", "--json"])
        .ok()
        .json();
    assert_eq!(v["timeout_secs"], 3600, "{v}");
    let list = sb.run(&["schedule", "list", "--json"]).ok().json();
    let by_name = |n: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("nightly")["timeout_secs"], 3600);
    assert_eq!(by_name("hourly")["timeout_secs"], serde_json::Value::Null);
}

#[cfg(unix)]
#[test]
fn the_catalog_the_log_and_the_sqlite_export_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sb::new();
    sb.add_project("p", NOWHERE);
    let out = sb.tmp.path().join("export.db");
    sb.run(&["export-sqlite", out.to_str().unwrap()]).ok();
    for f in [
        sb.data_dir().join("catalog.redb"),
        sb.data_dir().join("supabackup.log"),
        out,
    ] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", f.display());
    }
    // A catalog made with a looser mode is tightened when opened.
    let catalog = sb.data_dir().join("catalog.redb");
    std::fs::set_permissions(&catalog, std::fs::Permissions::from_mode(0o644)).unwrap();
    sb.run(&["project", "list"]).ok();
    let mode = std::fs::metadata(&catalog).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
