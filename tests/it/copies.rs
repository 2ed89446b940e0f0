//! Off-site copies from the CLI, against a real S3 server (s3s-fs) and a
//! second folder: a backup copied to both and restored on a fresh machine
//! from the bucket alone; copies that fail (wrong keys, no bucket, a server
//! that is down) and `sync` finishing them; a server killed mid-upload; a
//! copy changed at the destination; remote-only projects; retention at
//! every destination.

use crate::cli::{MASTER, Run, Sb, assert_no_secret};
use crate::pg::{PgCluster, SUPERUSER_PASSWORD};
use crate::s3::S3Server;
use crate::sections::{POST_DATA_APP, assert_same_dump};
use chrono::{DateTime, Datelike, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use supabackup::store::Catalog;

/// The prefix every S3 destination of these tests puts its sets under.
const PREFIX: &str = "team/pg";

/// `destination add NAME --s3 s3://BUCKET/team/pg` at `server`, path-style,
/// with its access key id and `secret` (given the way a person would: in
/// the environment, never as an argument).
fn add_s3(
    sb: &Sb,
    name: &str,
    server: &S3Server,
    bucket: &str,
    secret: &str,
    extra: &[&str],
) -> Run {
    let url = format!("s3://{bucket}/{PREFIX}");
    let mut args = vec![
        "destination",
        "add",
        name,
        "--s3",
        &url,
        "--endpoint",
        &server.endpoint,
        "--path-style",
        "--access-key-id",
        &server.access_key,
    ];
    args.extend_from_slice(extra);
    sb.run_env(&args, &[("SUPABACKUP_S3_SECRET_ACCESS_KEY", secret)])
}

/// `destination add NAME --folder DIR` (the folder is created first).
fn add_folder(sb: &Sb, name: &str, dir: &Path) -> Run {
    std::fs::create_dir_all(dir).unwrap();
    sb.run(&[
        "destination",
        "add",
        name,
        "--folder",
        dir.to_str().unwrap(),
    ])
}

/// Appends what a run printed to `seen` (for the "the secret never shows"
/// checks) and hands the run back.
fn keep(seen: &mut String, r: Run) -> Run {
    seen.push_str(&r.stdout);
    seen.push_str(&r.stderr);
    r
}

/// A backup record's id.
fn id_of(b: &Value) -> String {
    b["id"].as_str().unwrap().to_string()
}

/// Where a set lives at a destination (and under the backup root):
/// `<project-slug>/<set folder>`.
fn set_key(b: &Value) -> String {
    let path = Path::new(b["path"].as_str().unwrap());
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().to_string();
    format!("{}/{}", name(path.parent().unwrap()), name(path))
}

/// The `<slug>/<set>` part of a key or relative path that is a file of a set.
fn set_of(key: &str) -> Option<String> {
    let mut parts = key.split('/');
    let (slug, set) = (parts.next()?, parts.next()?);
    parts.next()?;
    Some(format!("{slug}/{set}"))
}

/// The file of `key` at the S3 destination (as s3s-fs stores it).
fn s3_file(server: &S3Server, bucket: &str, key: &str, file: &str) -> PathBuf {
    server.dir().join(bucket).join(PREFIX).join(key).join(file)
}

/// The sets that have any object at the S3 destination, listed through the
/// S3 API (what a client of the bucket sees).
fn sets_at_s3(server: &S3Server) -> BTreeSet<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(server.remote(PREFIX).list(""))
        .unwrap()
        .iter()
        .filter_map(|o| set_of(&o.key))
        .collect()
}

/// The sets that have any file in a folder destination.
fn sets_in_folder(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                out.extend(set_of(&rel));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// The file names in a folder, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// The copy of `b` at `destination` in its `backups --json` row.
#[track_caller]
fn copy_at<'a>(b: &'a Value, destination: &str) -> &'a Value {
    b["copies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["destination"] == destination)
        .unwrap_or_else(|| panic!("no copy at {destination:?}: {b:#}"))
}

/// The one backup record with this id.
#[track_caller]
fn record(sb: &Sb, id: &str) -> Value {
    sb.backups()
        .into_iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("no backup {id}"))
}

/// Runs `sha256sum -c SHA256SUMS` (the standard tool) in `dir`.
#[track_caller]
fn sha256sum_check(dir: &Path) {
    let out = Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sha256sum -c in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The activity log.
fn activity(sb: &Sb) -> String {
    std::fs::read_to_string(sb.data_dir().join("supabackup.log")).unwrap_or_default()
}

/// Sets fetched for verify or restore are gone once the command ends.
#[track_caller]
fn staging_is_empty(sb: &Sb) {
    let staging = sb.data_dir().join("staging");
    if staging.exists() {
        assert!(
            files_in(&staging).is_empty(),
            "left in staging: {:?}",
            files_in(&staging)
        );
    }
}

/// Makes every schedule due now.
fn make_due(sb: &Sb) {
    let c = Catalog::open(&sb.data_dir().join("catalog.redb")).unwrap();
    for mut j in c.jobs().unwrap() {
        j.next_run_at = Some(Utc::now() - chrono::Duration::minutes(1));
        c.put_job(&j).unwrap();
    }
}

/// A digest of a table's rows and its row count.
fn digest(pg: &PgCluster, db: &str, table: &str) -> String {
    pg.psql(
        db,
        &format!("SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"),
    )
}

/// A project "App" on `pg` with one table of 5000 rows.
fn small_app(pg: &PgCluster, sb: &Sb) {
    pg.psql(
        "postgres",
        "CREATE TABLE t (id int PRIMARY KEY, v text); \
         INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g",
    );
    sb.add_project("App", &pg.url("postgres"));
}

#[test]
fn a_backup_copied_to_s3_and_a_folder_restores_on_a_fresh_machine_from_the_bucket() {
    let src = PgCluster::start();
    let dst = PgCluster::start();
    src.psql("postgres", POST_DATA_APP);
    let server = S3Server::start();
    let secret = server.secret_key.clone();
    let sb = Sb::new();
    let nas = sb.tmp.path().join("nas");
    let mut seen = String::new();

    let r = keep(
        &mut seen,
        add_s3(&sb, "offsite", &server, "backups", &secret, &[]),
    )
    .ok();
    assert!(r.stdout.contains("Tested: "), "{}", r.stdout);
    assert!(
        r.stdout.contains("Added destination \"offsite\""),
        "{}",
        r.stdout
    );
    keep(&mut seen, add_folder(&sb, "nas", &nas)).ok();
    sb.add_project("Shop", &src.url("postgres"));
    keep(
        &mut seen,
        sb.run(&[
            "project",
            "edit",
            "Shop",
            "--copy-to",
            "offsite",
            "--copy-to",
            "nas",
        ]),
    )
    .ok();
    let r = keep(
        &mut seen,
        sb.run(&["backup", "Shop", "--profile", "postgres"]),
    )
    .ok();
    assert!(
        r.stdout.contains("Copied to \"offsite\"."),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(
        r.stdout.contains("Copied to \"nas\"."),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);

    let b = sb.backups().remove(0);
    assert_eq!(b["status"], "completed");
    assert_eq!(b["remote_only"], false);
    assert_eq!(b["copies"].as_array().unwrap().len(), 2, "{b:#}");
    for d in ["offsite", "nas"] {
        let c = copy_at(&b, d);
        assert_eq!(c["state"], "copied", "{c}");
        assert_eq!(c["attempts"], 1, "{c}");
        assert!(c.get("error").is_none_or(Value::is_null), "{c}");
    }
    let (id, key) = (id_of(&b), set_key(&b));
    let local = PathBuf::from(b["path"].as_str().unwrap());
    let files = files_in(&local);
    assert!(
        files.contains(&"data.sql.zst".to_string()) && files.contains(&"SHA256SUMS".to_string())
    );

    // The folder copy holds the same files, and the standard tool checks it.
    let copy = nas.join(&key);
    assert_eq!(files_in(&copy), files);
    sha256sum_check(&copy);
    // The bucket holds the same bytes under the prefix, nothing else.
    for f in &files {
        let at_s3 = std::fs::read(s3_file(&server, "backups", &key, f)).unwrap();
        assert!(
            at_s3 == std::fs::read(local.join(f)).unwrap(),
            "{f} differs at S3"
        );
    }
    assert_eq!(sets_at_s3(&server), BTreeSet::from([key.clone()]));
    let shown = keep(&mut seen, sb.run(&["destination", "show", "offsite"])).ok();
    assert!(
        shown.stdout.contains("1 copied, 0 failed, 0 pending"),
        "{}",
        shown.stdout
    );

    // A fresh machine, the local set gone: only the bucket has it.
    std::fs::remove_dir_all(&local).unwrap();
    let fresh = Sb::new();
    keep(
        &mut seen,
        add_s3(&fresh, "offsite", &server, "backups", &secret, &[]),
    )
    .ok();
    let r = keep(
        &mut seen,
        fresh.run(&["catalog", "rebuild", "--from", "offsite", "--json"]),
    )
    .ok();
    let report = r.json();
    assert_eq!(report["restored"], 1, "{report}");
    assert_eq!(
        report["placeholders"],
        serde_json::json!(["Shop"]),
        "{report}"
    );
    assert_eq!(report["skipped"], serde_json::json!([]), "{report}");
    let listed = fresh.backups();
    assert_eq!(listed.len(), 1);
    let rebuilt = &listed[0];
    assert_eq!(rebuilt["id"], id.as_str());
    assert_eq!(rebuilt["status"], "completed");
    assert_eq!(rebuilt["remote_only"], true, "{rebuilt:#}");
    assert_eq!(copy_at(rebuilt, "offsite")["state"], "copied");
    assert!(!Path::new(rebuilt["path"].as_str().unwrap()).exists());

    let r = keep(&mut seen, fresh.run(&["verify", &id])).ok();
    assert!(r.stdout.contains("Backup intact"), "{}", r.stdout);
    assert!(r.stdout.contains("the copy at \"offsite\""), "{}", r.stdout);
    let r = keep(
        &mut seen,
        fresh.run(&["restore", &id, "--to-url", &dst.url("postgres")]),
    )
    .ok();
    assert!(r.stderr.contains("from \"offsite\""), "{}", r.stderr);
    assert!(
        r.stdout.contains("pre-data + data + post-data"),
        "{}",
        r.stdout
    );
    assert_same_dump(&src.dump_text("postgres"), &dst.dump_text("postgres"));
    staging_is_empty(&fresh);

    // The S3 secret key shows nowhere: no output, no file of either data
    // dir (catalog, its copies, the activity log), no export, no listing.
    for s in [&sb, &fresh] {
        for args in [
            &["destination", "list", "--json"][..],
            &["destination", "show", "offsite", "--json"],
            &["destination", "list"],
        ] {
            let r = keep(&mut seen, s.run(args)).ok();
            assert!(r.stdout.contains("offsite"), "{}", r.stdout);
        }
        let out = s.tmp.path().join("export.db");
        keep(&mut seen, s.run(&["export-sqlite", out.to_str().unwrap()])).ok();
        let log = activity(s);
        assert!(log.contains("destination \"offsite\" added"), "{log}");
        for (what, bytes) in [
            ("the SQLite export", std::fs::read(&out).unwrap()),
            ("the activity log", log.into_bytes()),
            ("the data dir", s.all_bytes()),
        ] {
            assert_no_secret(what, &bytes, &secret);
            assert_no_secret(what, &bytes, SUPERUSER_PASSWORD);
        }
    }
    let listed = sb
        .run(&["destination", "show", "offsite", "--json"])
        .ok()
        .json();
    assert_eq!(listed["kind"], "s3");
    assert_eq!(listed["projects"], serde_json::json!(["Shop"]));
    assert!(
        listed["location"]
            .as_str()
            .unwrap()
            .contains(&format!("s3://backups/{PREFIX}")),
        "{listed}"
    );
    assert_no_secret("the commands' output", &seen, &secret);
    assert_no_secret("the commands' output", &seen, MASTER);
    assert_no_secret("the commands' output", &seen, SUPERUSER_PASSWORD);
}

#[test]
fn failed_copies_leave_the_backup_complete_and_sync_finishes_them_once_fixed() {
    let pg = PgCluster::start();
    let main = S3Server::start();
    let mut down = S3Server::start();
    let sb = Sb::new();
    small_app(&pg, &sb);
    sb.run(&["settings", "set", "retry-delay", "1"]).ok();
    let wrong = "wrong-secret-key-never-shown-41c7";
    let mut seen = String::new();

    // Tested first: wrong keys are named and nothing is added.
    let r = keep(
        &mut seen,
        add_s3(&sb, "badkeys", &main, "backups", wrong, &[]),
    )
    .expect_code(1);
    assert!(
        r.stderr
            .contains("check the access key id and the secret access key"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was added"), "{}", r.stderr);
    assert_eq!(
        sb.run(&["destination", "list", "--json"]).ok().json(),
        serde_json::json!([])
    );
    let r = keep(
        &mut seen,
        add_s3(
            &sb,
            "nobucket",
            &main,
            "no-such-bucket",
            &main.secret_key,
            &[],
        ),
    )
    .expect_code(1);
    assert!(
        r.stderr.contains("no bucket \"no-such-bucket\""),
        "{}",
        r.stderr
    );

    // Added untested (or while it worked), they fail at backup time.
    keep(
        &mut seen,
        add_s3(&sb, "badkeys", &main, "backups", wrong, &["--no-test"]),
    )
    .ok();
    keep(
        &mut seen,
        add_s3(
            &sb,
            "nobucket",
            &main,
            "no-such-bucket",
            &main.secret_key,
            &["--no-test"],
        ),
    )
    .ok();
    keep(
        &mut seen,
        add_s3(&sb, "flaky", &down, "backups", &down.secret_key, &[]),
    )
    .ok();
    down.kill();
    keep(
        &mut seen,
        sb.run(&[
            "project",
            "edit",
            "App",
            "--copy-to",
            "badkeys",
            "--copy-to",
            "nobucket",
            "--copy-to",
            "flaky",
        ]),
    )
    .ok();
    let r = keep(&mut seen, sb.run(&["backup", "App"])).ok();
    assert!(r.stdout.contains("completed"), "{}", r.stdout);
    for d in ["badkeys", "nobucket", "flaky"] {
        assert!(
            r.stderr
                .contains(&format!("warning: the copy to \"{d}\" failed: ")),
            "{}\n{}",
            r.stdout,
            r.stderr
        );
    }
    let b = sb.backups().remove(0);
    let id = id_of(&b);
    assert_eq!(b["status"], "completed");
    for (d, why) in [
        (
            "badkeys",
            "check the access key id and the secret access key".to_string(),
        ),
        (
            "nobucket",
            "there is no bucket \"no-such-bucket\"".to_string(),
        ),
        ("flaky", format!("cannot reach {}", down.endpoint)),
    ] {
        let c = copy_at(&b, d);
        assert_eq!(c["state"], "failed", "{c}");
        let error = c["error"].as_str().unwrap();
        assert!(error.contains(&format!("destination \"{d}\"")), "{error}");
        assert!(error.contains(&why), "{d}: {error}");
    }
    // The local set is whole.
    keep(&mut seen, sb.run(&["verify", &id])).ok();
    assert!(!s3_file(&main, "backups", &set_key(&b), "SHA256SUMS").exists());
    // Nothing fixed yet: sync fails again, and says so in its exit code.
    let r = keep(&mut seen, sb.run(&["sync", "--json"])).expect_code(1);
    assert_eq!(
        r.json()["failed"].as_array().unwrap().len(),
        3,
        "{}",
        r.stdout
    );

    // Fixed: the server is back, the bucket exists, the keys are replaced.
    down.restart();
    std::fs::create_dir(main.dir().join("no-such-bucket")).unwrap();
    let r = keep(
        &mut seen,
        sb.run(&["destination", "remove", "badkeys", "--yes"]),
    )
    .ok();
    assert!(r.stdout.contains("project \"App\""), "{}", r.stdout);
    keep(
        &mut seen,
        add_s3(&sb, "goodkeys", &main, "backups", &main.secret_key, &[]),
    )
    .ok();
    keep(
        &mut seen,
        sb.run(&[
            "project",
            "edit",
            "App",
            "--copy-to",
            "goodkeys",
            "--copy-to",
            "nobucket",
            "--copy-to",
            "flaky",
        ]),
    )
    .ok();
    let r = keep(&mut seen, sb.run(&["sync", "--json"])).ok();
    let report = r.json();
    assert_eq!(report["copied"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    let b = record(&sb, &id);
    for d in ["goodkeys", "nobucket", "flaky"] {
        let c = copy_at(&b, d);
        assert_eq!(c["state"], "copied", "{c}");
    }
    assert_eq!(
        copy_at(&b, "nobucket")["attempts"],
        3,
        "backup, failed sync, sync"
    );
    let key = set_key(&b);
    for (server, bucket) in [
        (&main, "backups"),
        (&main, "no-such-bucket"),
        (&down, "backups"),
    ] {
        let at = s3_file(server, bucket, &key, "SHA256SUMS");
        assert!(at.is_file(), "{}", at.display());
        sha256sum_check(at.parent().unwrap());
    }
    let r = keep(&mut seen, sb.run(&["verify", &id, "--at", "flaky"])).ok();
    assert!(r.stdout.contains("Backup intact"), "{}", r.stdout);
    let r = keep(&mut seen, sb.run(&["sync"])).ok();
    assert!(r.stdout.contains("Nothing to copy"), "{}", r.stdout);

    for secret in [wrong, main.secret_key.as_str(), down.secret_key.as_str()] {
        assert_no_secret("the commands' output", &seen, secret);
        assert_no_secret("the data dir", sb.all_bytes(), secret);
    }
}

#[test]
fn a_server_killed_mid_upload_leaves_an_incomplete_copy_that_sync_completes() {
    let pg = PgCluster::start();
    // About 150 MB of dump text: the upload takes long enough to cut.
    pg.psql(
        "postgres",
        "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 7) AS payload \
         FROM generate_series(1, 650000) g",
    );
    let mut server = S3Server::start();
    let sb = Sb::new();
    sb.add_project("App", &pg.url("postgres"));
    sb.run(&["settings", "set", "retry-delay", "1"]).ok();
    add_s3(&sb, "offsite", &server, "backups", &server.secret_key, &[]).ok();
    sb.run(&["project", "edit", "App", "--copy-to", "offsite"])
        .ok();

    let mut child = sb
        .cmd()
        .args(["backup", "App", "--compression", "none", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // s3s-fs keeps each finished part of a multipart upload as
    // `.upload_id-<id>.part-<n>` until the upload completes: one there means
    // the big part is on its way, and most of it still to come.
    let uploading = || {
        std::fs::read_dir(server.dir())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".upload_id-"))
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    while !uploading() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before its upload got going"
        );
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    let r = Run::from(child.wait_with_output().unwrap()).ok();
    let b = r.json();
    assert_eq!(b["status"], "completed", "{}", r.stdout);
    let id = id_of(&b);
    let key = set_key(&b);
    assert!(
        PathBuf::from(b["path"].as_str().unwrap())
            .join("data.sql")
            .is_file()
    );
    let c = copy_at(&b, "offsite");
    assert_eq!(c["state"], "failed", "{c}");
    assert!(!c["error"].as_str().unwrap().is_empty(), "{c}");
    // Three tries of the big part, each counted, each wait said as it
    // starts (a run from cron shows it in its mail, not only the log).
    assert_eq!(c["attempts"], 3, "{c}");
    assert!(
        r.stderr.contains("warning: uploading data.sql of backup")
            && r.stderr.contains("(attempt 1 of 3); trying again in 1s")
            && r.stderr.contains("(attempt 2 of 3); trying again in 4s"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    // The first parts went up; the big one and SHA256SUMS did not.
    assert!(s3_file(&server, "backups", &key, "pre-data.sql").is_file());
    assert!(!s3_file(&server, "backups", &key, "data.sql").exists());
    assert!(!s3_file(&server, "backups", &key, "SHA256SUMS").exists());
    let log = activity(&sb);
    assert!(
        log.contains("uploading data.sql of backup") && log.contains("trying again in 1s"),
        "{log}"
    );

    // A fresh machine finds the incomplete set and leaves it out.
    server.restart();
    let fresh = Sb::new();
    add_s3(
        &fresh,
        "offsite",
        &server,
        "backups",
        &server.secret_key,
        &[],
    )
    .ok();
    let r = fresh.run(&["catalog", "rebuild", "--from", "offsite", "--json"]);
    let report = r.json();
    assert_eq!(
        (report["found"].as_u64(), report["restored"].as_u64()),
        (Some(1), Some(0)),
        "{report}"
    );
    let skipped = report["skipped"].to_string();
    assert!(
        skipped.contains(&key) && skipped.contains("incomplete (no SHA256SUMS)"),
        "{report}"
    );
    assert!(fresh.backups().is_empty());

    // Once the server is back, sync completes it.
    let r = sb.run(&["sync", "--json"]).ok();
    assert_eq!(
        r.json()["copied"].as_array().unwrap().len(),
        1,
        "{}",
        r.stdout
    );
    let c = copy_at(&record(&sb, &id), "offsite").clone();
    assert_eq!(
        (c["state"].as_str(), c["attempts"].as_u64()),
        (Some("copied"), Some(4)),
        "three tries in the backup, one in the sync: {c}"
    );
    assert!(s3_file(&server, "backups", &key, "SHA256SUMS").is_file());
    let r = sb.run(&["verify", &id, "--at", "offsite"]).ok();
    assert!(r.stdout.contains("Backup intact"), "{}", r.stdout);
    staging_is_empty(&sb);
    let report = fresh
        .run(&["catalog", "rebuild", "--from", "offsite", "--json"])
        .ok()
        .json();
    assert_eq!(report["restored"], 1, "{report}");
}

#[test]
fn a_copy_changed_at_the_destination_is_caught_by_verify_and_refused_by_restore() {
    let pg = PgCluster::start();
    let server = S3Server::start();
    let sb = Sb::new();
    small_app(&pg, &sb);
    pg.create_db("target");
    pg.psql(
        "target",
        "CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (42)",
    );
    let nas = sb.tmp.path().join("nas");
    add_s3(&sb, "offsite", &server, "backups", &server.secret_key, &[]).ok();
    add_folder(&sb, "nas", &nas).ok();
    sb.run(&[
        "project",
        "edit",
        "App",
        "--copy-to",
        "offsite",
        "--copy-to",
        "nas",
    ])
    .ok();
    let b = sb.backup("App", &[]);
    let (id, key) = (id_of(&b), set_key(&b));
    assert_eq!(copy_at(&b, "offsite")["state"], "copied");

    // One byte changed in the middle of the data part, at the bucket.
    let part = s3_file(&server, "backups", &key, "data.sql.zst");
    let mut bytes = std::fs::read(&part).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&part, bytes).unwrap();

    let r = sb.run(&["verify", &id, "--at", "offsite"]).expect_code(1);
    let damaged: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("DAMAGED"))
        .collect();
    assert_eq!(damaged.len(), 1, "{}", r.stdout);
    assert!(damaged[0].contains("data.sql.zst"), "{}", r.stdout);
    assert!(
        r.stderr.contains("the copy at \"offsite\" is damaged"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("recorded as damaged"), "{}", r.stderr);
    assert_eq!(copy_at(&record(&sb, &id), "offsite")["state"], "damaged");
    // The other copy and the local set are fine.
    sb.run(&["verify", &id, "--at", "nas"]).ok();
    sb.run(&["verify", &id]).ok();

    // Restore from the changed copy stops before the target is touched
    // (--yes: only the damage can stop it).
    let before = pg.dump_text("target");
    let r = sb.run(&[
        "restore",
        &id,
        "--to-url",
        &pg.url("target"),
        "--at",
        "offsite",
        "--yes",
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("data.sql.zst at \"offsite\" does not match its checksum"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was restored"), "{}", r.stderr);
    assert_eq!(pg.dump_text("target"), before, "the target was touched");
    staging_is_empty(&sb);

    // The folder copy restores.
    sb.run(&[
        "restore",
        &id,
        "--to-url",
        &pg.url("target"),
        "--at",
        "nas",
        "--yes",
    ])
    .ok();
    assert_eq!(digest(&pg, "target", "t"), digest(&pg, "postgres", "t"));

    // Sync replaces the damaged copy; it verifies again.
    let report = sb.run(&["sync", "--json"]).ok().json();
    assert_eq!(report["copied"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(copy_at(&record(&sb, &id), "offsite")["state"], "copied");
    sb.run(&["verify", &id, "--at", "offsite"]).ok();
    sha256sum_check(part.parent().unwrap());
}

#[test]
fn a_copy_found_missing_or_changed_is_recorded_damaged_and_sync_replaces_it() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    small_app(&pg, &sb);
    let nas = sb.tmp.path().join("nas");
    add_folder(&sb, "nas", &nas).ok();
    sb.run(&["project", "edit", "App", "--copy-to", "nas"]).ok();
    let b = sb.backup("App", &[]);
    let (id, key) = (id_of(&b), set_key(&b));
    let at = nas.join(&key);
    assert_eq!(copy_at(&b, "nas")["state"], "copied");

    // A part gone from the copy: verify says so and records it.
    std::fs::remove_file(at.join("data.sql.zst")).unwrap();
    let r = sb.run(&["verify", &id, "--at", "nas"]).expect_code(1);
    assert!(r.stderr.contains("is damaged"), "{}", r.stderr);
    assert!(r.stderr.contains("supabackup sync"), "{}", r.stderr);
    let c = copy_at(&record(&sb, &id), "nas").clone();
    assert_eq!(c["state"], "damaged", "{c}");
    assert!(c["error"].as_str().unwrap().contains("data.sql.zst"), "{c}");
    assert_eq!(c["attempts"], 1, "a check is not an upload: {c}");
    let listed = sb.run(&["backups"]).ok();
    assert!(listed.stdout.contains("nas DAMAGED"), "{}", listed.stdout);
    let r = sb.run(&["sync", "--json"]).ok();
    let report = r.json();
    assert_eq!(report["copied"].as_array().unwrap().len(), 1, "{report}");
    let c = copy_at(&record(&sb, &id), "nas").clone();
    assert_eq!(
        (c["state"].as_str(), c["attempts"].as_u64()),
        (Some("copied"), Some(2)),
        "{c}"
    );
    sha256sum_check(&at);
    sb.run(&["verify", &id, "--at", "nas"]).ok();
    assert!(sb.run(&["sync"]).ok().stdout.contains("Nothing to copy"));

    // The copy's SHA256SUMS gone (an upload cut short, by the look of it).
    std::fs::remove_file(at.join("SHA256SUMS")).unwrap();
    let r = sb.run(&["verify", &id, "--at", "nas"]).expect_code(1);
    assert!(r.stderr.contains("recorded as damaged"), "{}", r.stderr);
    assert_eq!(copy_at(&record(&sb, &id), "nas")["state"], "damaged");
    let report = sb.run(&["sync", "--json"]).ok().json();
    assert_eq!(report["copied"].as_array().unwrap().len(), 1, "{report}");
    sha256sum_check(&at);
    sb.run(&["verify", &id, "--at", "nas"]).ok();

    // A changed byte, found by a restore from the copy: recorded too, and
    // nothing restored; sync mends it.
    let part = at.join("data.sql.zst");
    let mut bytes = std::fs::read(&part).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&part, bytes).unwrap();
    pg.create_db("target");
    let r = sb.run(&["restore", &id, "--to-url", &pg.url("target"), "--at", "nas"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(copy_at(&record(&sb, &id), "nas")["state"], "damaged");
    sb.run(&["sync"]).ok();
    sb.run(&["restore", &id, "--to-url", &pg.url("target"), "--at", "nas"])
        .ok();
    assert_eq!(digest(&pg, "target", "t"), digest(&pg, "postgres", "t"));
}

#[test]
fn remote_only_backups_live_at_the_destinations_and_delete_removes_them_there() {
    let pg = PgCluster::start();
    let server = S3Server::start();
    let sb = Sb::new();
    small_app(&pg, &sb);
    let nas = sb.tmp.path().join("nas");
    add_s3(&sb, "offsite", &server, "backups", &server.secret_key, &[]).ok();
    add_folder(&sb, "nas", &nas).ok();
    // Remote-only with nowhere to copy to would keep the backups nowhere.
    let r = sb
        .run(&["project", "edit", "App", "--remote-only"])
        .expect_code(2);
    assert!(
        r.stderr.contains("needs at least one destination"),
        "{}",
        r.stderr
    );
    sb.run(&[
        "project",
        "edit",
        "App",
        "--copy-to",
        "offsite",
        "--copy-to",
        "nas",
        "--remote-only",
    ])
    .ok();

    let r = sb.run(&["backup", "App"]).ok();
    assert!(
        r.stdout
            .contains("the local folder was removed (remote-only)"),
        "{}",
        r.stdout
    );
    let b = sb.backups().remove(0);
    let (id, key) = (id_of(&b), set_key(&b));
    assert_eq!(b["remote_only"], true, "{b:#}");
    for d in ["offsite", "nas"] {
        assert_eq!(copy_at(&b, d)["state"], "copied");
    }
    assert!(
        !Path::new(b["path"].as_str().unwrap()).exists(),
        "the local folder is gone"
    );
    assert!(s3_file(&server, "backups", &key, "SHA256SUMS").is_file());
    sha256sum_check(&nas.join(&key));

    // Verify and restore fetch it without being told where from.
    let r = sb.run(&["verify", &id]).ok();
    assert!(r.stdout.contains("Backup intact"), "{}", r.stdout);
    pg.create_db("restored");
    let r = sb
        .run(&["restore", &id, "--to-url", &pg.url("restored")])
        .ok();
    assert!(
        r.stderr.contains(&format!("Reading backup {}", &id[..8])),
        "{}",
        r.stderr
    );
    assert_eq!(digest(&pg, "restored", "t"), digest(&pg, "postgres", "t"));
    staging_is_empty(&sb);

    // Deleting it deletes it everywhere.
    let r = sb.run(&["backup-delete", &id, "--yes"]).ok();
    assert!(
        r.stdout.contains("from \"offsite\", \"nas\""),
        "{}",
        r.stdout
    );
    assert!(sb.backups().is_empty());
    assert!(sets_at_s3(&server).is_empty(), "{:?}", sets_at_s3(&server));
    assert!(
        sets_in_folder(&nas).is_empty(),
        "{:?}",
        sets_in_folder(&nas)
    );

    // --keep-copies leaves them there, and a rebuild finds them again.
    sb.run(&["backup", "App"]).ok();
    let b = sb.backups().remove(0);
    let (id, key) = (id_of(&b), set_key(&b));
    sb.run(&["backup-delete", &id, "--yes", "--keep-copies"])
        .ok();
    assert!(sb.backups().is_empty());
    assert_eq!(sets_at_s3(&server), BTreeSet::from([key.clone()]));
    assert_eq!(sets_in_folder(&nas), BTreeSet::from([key]));
    let report = sb
        .run(&["catalog", "rebuild", "--from", "nas", "--json"])
        .ok()
        .json();
    assert_eq!(report["restored"], 1, "{report}");
    assert_eq!(record(&sb, &id)["remote_only"], true);
}

/// The newest backup of each of the last `n` periods that have one.
fn newest_of_last<P: Ord>(
    all: &[(String, DateTime<Utc>)],
    n: usize,
    period: impl Fn(&DateTime<Utc>) -> P,
) -> BTreeSet<String> {
    let mut newest: BTreeMap<P, (DateTime<Utc>, String)> = BTreeMap::new();
    for (id, at) in all {
        let slot = newest.entry(period(at)).or_insert((*at, id.clone()));
        if *at > slot.0 {
            *slot = (*at, id.clone());
        }
    }
    newest
        .into_values()
        .rev()
        .take(n)
        .map(|(_, id)| id)
        .collect()
}

#[test]
fn retention_removes_the_same_backups_locally_and_at_every_destination() {
    let pg = PgCluster::start();
    let server = S3Server::start();
    let sb = Sb::new();
    small_app(&pg, &sb);
    let nas = sb.tmp.path().join("nas");
    add_s3(&sb, "offsite", &server, "backups", &server.secret_key, &[]).ok();
    add_folder(&sb, "nas", &nas).ok();
    let schedule = |keep: &[&str]| {
        let mut args = vec![
            "schedule",
            "add",
            "daily",
            "--project",
            "App",
            "--cron",
            "@daily",
            "--copy-to",
            "offsite",
            "--copy-to",
            "nas",
        ];
        if !keep.is_empty() {
            args[1] = "edit";
            args.extend_from_slice(keep);
        }
        sb.run(&args).ok();
    };
    // No retention while the history is made (they are all from today).
    schedule(&[]);
    for _ in 0..20 {
        make_due(&sb);
        sb.run(&["run-due"]).ok();
    }
    let made = sb.backups();
    assert_eq!(made.len(), 20);
    for b in &made {
        for d in ["offsite", "nas"] {
            assert_eq!(copy_at(b, d)["state"], "copied", "{b:#}");
        }
    }

    // One a day, going back 20 days (the newest yesterday).
    let now = Utc::now();
    let mut at: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    {
        let c = Catalog::open(&sb.data_dir().join("catalog.redb")).unwrap();
        let mut all = c.backups().unwrap();
        all.sort_by_key(|b| std::cmp::Reverse(b.started_at));
        for (k, mut b) in all.into_iter().enumerate() {
            let took = b.finished_at.unwrap() - b.started_at;
            b.started_at = now - chrono::Duration::days(k as i64 + 1);
            b.finished_at = Some(b.started_at + took);
            at.insert(b.id.to_string(), b.started_at);
            c.put_backup(&b).unwrap();
        }
    }
    let keys: BTreeMap<String, String> = made.iter().map(|b| (id_of(b), set_key(b))).collect();
    let day = |t: &DateTime<Utc>| (t.year(), t.ordinal());
    let week = |t: &DateTime<Utc>| (t.iso_week().year(), t.iso_week().week());
    // Pin one the rules would not keep (with today's backup to come).
    let mut with_today: Vec<(String, DateTime<Utc>)> = at.clone().into_iter().collect();
    with_today.push(("today".into(), now));
    let ruled: BTreeSet<String> = newest_of_last(&with_today, 7, day)
        .union(&newest_of_last(&with_today, 4, week))
        .cloned()
        .collect();
    let pinned = at
        .iter()
        .filter(|(id, _)| !ruled.contains(*id))
        .min_by_key(|(_, t)| **t)
        .map(|(id, _)| id.clone())
        .unwrap();
    sb.run(&["backup-pin", &pinned]).ok();

    schedule(&["--keep-daily", "7", "--keep-weekly", "4"]);
    make_due(&sb);
    let r = sb.run_env(&["run-due", "--json"], &[("TZ", "UTC")]).ok();
    let run = &r.json()[0];
    assert_eq!(run["ok"], true, "{}", r.stdout);
    let newest = run["backup_id"].as_str().unwrap().to_string();
    let after = sb.backups();
    let newest_b = after.iter().find(|b| b["id"] == newest.as_str()).unwrap();
    let newest_at: DateTime<Utc> = newest_b["created_at"].as_str().unwrap().parse().unwrap();
    let mut keys = keys;
    keys.insert(newest.clone(), set_key(newest_b));
    at.insert(newest.clone(), newest_at);

    // What the rules keep, worked out here: the newest of each of the last
    // 7 days and of the last 4 ISO weeks, the pinned one, the newest.
    let all: Vec<(String, DateTime<Utc>)> = at.clone().into_iter().collect();
    let mut expected: BTreeSet<String> = newest_of_last(&all, 7, day);
    expected.extend(newest_of_last(&all, 4, week));
    expected.insert(pinned.clone());
    expected.insert(newest.clone());
    let removed: BTreeSet<String> = at
        .keys()
        .filter(|id| !expected.contains(*id))
        .cloned()
        .collect();
    assert!(
        removed.len() >= 8,
        "the test removes something: {removed:?}"
    );

    let remaining: BTreeSet<String> = after.iter().map(id_of).collect();
    assert_eq!(remaining, expected);
    let expected_sets: BTreeSet<String> = expected.iter().map(|id| keys[id].clone()).collect();
    assert_eq!(sets_at_s3(&server), expected_sets, "at offsite");
    assert_eq!(sets_in_folder(&nas), expected_sets, "at nas");
    for b in &after {
        assert!(
            Path::new(b["path"].as_str().unwrap())
                .join("SHA256SUMS")
                .is_file()
        );
        for d in ["offsite", "nas"] {
            assert_eq!(copy_at(b, d)["state"], "copied", "{b:#}");
        }
    }
    let root = Path::new(newest_b["path"].as_str().unwrap())
        .parent()
        .unwrap();
    let local: BTreeSet<String> = files_in(root)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .map(|n| format!("{}/{n}", root.file_name().unwrap().to_string_lossy()))
        .collect();
    assert_eq!(local, expected_sets, "locally");

    let removed_by_run: BTreeSet<String> = run["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(removed_by_run, removed);
    let log = activity(&sb);
    let line = log
        .lines()
        .find(|l| l.contains("retention of \"daily\" removed"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains(&format!("removed {} backup(s): ", removed.len())),
        "{line}"
    );
    for id in &removed {
        assert!(
            line.contains(&format!("{} (local, \"offsite\", \"nas\")", &id[..8])),
            "{id}: {line}"
        );
    }
}
