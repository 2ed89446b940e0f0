//! Schedules from the CLI: adding, run-due, two run-due at once, retention,
//! the daemon, webhooks, the SQLite export and catalog rebuild.

use crate::cli::{MASTER, Run, Sb, assert_no_secret};
use crate::pg::{PgCluster, SUPERUSER_PASSWORD};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use supabackup::store::Catalog;

/// Makes every schedule due now (as if its time had come).
fn make_due(sb: &Sb) {
    let c = Catalog::open(&sb.data_dir().join("catalog.redb")).unwrap();
    for mut j in c.jobs().unwrap() {
        j.next_run_at = Some(chrono::Utc::now() - chrono::Duration::minutes(1));
        c.put_job(&j).unwrap();
    }
}

/// `schedule add NAME --project App --cron @daily`, unchecked.
fn add_daily(sb: &Sb, name: &str) -> Run {
    sb.run(&[
        "schedule",
        "add",
        name,
        "--project",
        "App",
        "--cron",
        "@daily",
    ])
}

fn setup() -> (PgCluster, Sb) {
    let pg = PgCluster::start();
    pg.psql(
        "postgres",
        "CREATE TABLE t AS SELECT generate_series(1, 500) AS id",
    );
    let sb = Sb::new();
    sb.add_project("App", &pg.url("postgres"));
    (pg, sb)
}

#[test]
fn adding_a_schedule_shows_it_in_words_and_a_bad_line_names_the_field() {
    let (_pg, sb) = setup();
    let r = sb
        .run(&[
            "schedule",
            "add",
            "nightly",
            "--project",
            "App",
            "--cron",
            "30 3 * * MON-FRI",
            "--keep-last",
            "7",
        ])
        .ok();
    assert!(
        r.stdout.contains("At 03:30 on Monday through Friday"),
        "{}",
        r.stdout
    );
    let runs = r
        .stdout
        .lines()
        .filter(|l| l.contains("Next runs:") || l.starts_with("           "))
        .count();
    assert_eq!(runs, 5, "five next runs: {}", r.stdout);
    let bad = sb
        .run(&[
            "schedule",
            "add",
            "broken",
            "--project",
            "App",
            "--cron",
            "0 25 * * *",
        ])
        .expect_code(2);
    assert!(
        bad.stderr.contains("cron: hour field \"25\""),
        "{}",
        bad.stderr
    );
    let bad = sb
        .run(&[
            "schedule",
            "add",
            "short",
            "--project",
            "App",
            "--cron",
            "0 3 * *",
        ])
        .expect_code(2);
    assert!(bad.stderr.contains("needs 5 fields"), "{}", bad.stderr);
    add_daily(&sb, "nightly").expect_code(2);
    let v = sb.run(&["schedule", "list", "--json"]).ok().json();
    let j = &v[0];
    assert_eq!(j["name"], "nightly");
    assert_eq!(j["project"], "App");
    assert_eq!(j["enabled"], true);
    assert!(j["next_run_at"].is_string());
    assert!(j["last_run_status"].is_null());
    sb.run(&["schedule", "disable", "nightly"]).ok();
    let v = sb.run(&["schedule", "list", "--json"]).ok().json();
    assert_eq!(v[0]["enabled"], false);
    assert!(v[0]["next_run_at"].is_null());
    sb.run(&["schedule", "enable", "nightly"]).ok();
    sb.run(&["schedule", "remove", "nightly"]).ok();
    assert_eq!(
        sb.run(&["schedule", "list", "--json"]).ok().stdout.trim(),
        "[]"
    );
}

#[test]
fn run_due_backs_up_and_moves_the_next_run_on() {
    let (_pg, sb) = setup();
    sb.run(&[
        "schedule",
        "add",
        "hourly",
        "--project",
        "App",
        "--cron",
        "@hourly",
    ])
    .ok();
    let r = sb.run(&["run-due"]).ok();
    assert!(r.stdout.contains("Nothing is due"), "{}", r.stdout);
    make_due(&sb);
    let r = sb.run(&["run-due", "--json"]).ok();
    let reports = r.json();
    assert_eq!(reports[0]["ok"], true, "{}", r.stdout);
    let b = sb.backups();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0]["status"], "completed");
    let v = sb.run(&["schedule", "list", "--json"]).ok().json();
    let next: chrono::DateTime<chrono::Utc> =
        v[0]["next_run_at"].as_str().unwrap().parse().unwrap();
    assert!(next > chrono::Utc::now(), "next run moved into the future");
    assert!(next - chrono::Utc::now() <= chrono::Duration::hours(1));
    assert_eq!(v[0]["last_run_status"], "succeeded");
    // Not due again right away.
    assert!(sb.run(&["run-due"]).ok().stdout.contains("Nothing is due"));
}

#[test]
fn two_run_due_at_once_run_a_job_once() {
    let (_pg, sb) = setup();
    add_daily(&sb, "daily").ok();
    make_due(&sb);
    let spawn = || {
        sb.cmd()
            .arg("run-due")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        Run::from(a.wait_with_output().unwrap()),
        Run::from(b.wait_with_output().unwrap()),
    );
    assert!(a.code == 0 && b.code == 0, "both exit 0");
    let outs = format!("{}{}{}{}", a.stdout, a.stderr, b.stdout, b.stderr);
    // One ran it; the other either found the catalog in use or nothing due.
    assert_eq!(sb.backups().len(), 1, "{outs}");
    assert!(
        outs.contains("in use") || outs.contains("Nothing is due"),
        "{outs}"
    );
}

#[test]
fn retention_trims_old_backups_but_keeps_pinned_and_manual_ones() {
    let (_pg, sb) = setup();
    let manual = sb.backup("App", &[]);
    sb.run(&[
        "schedule",
        "add",
        "frequent",
        "--project",
        "App",
        "--cron",
        "@hourly",
        "--keep-last",
        "2",
    ])
    .ok();
    for _ in 0..2 {
        make_due(&sb);
        sb.run(&["run-due"]).ok();
    }
    let first_scheduled = sb
        .backups()
        .iter()
        .find(|b| b["id"] != manual["id"])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.run(&["backup-pin", &first_scheduled]).ok();
    for _ in 0..3 {
        make_due(&sb);
        sb.run(&["run-due"]).ok();
    }
    let all = sb.backups();
    // 1 manual + 2 kept by keep_last + 1 pinned.
    assert_eq!(all.len(), 4, "{all:#?}");
    assert!(
        all.iter().any(|b| b["id"] == manual["id"]),
        "another's backup was removed"
    );
    assert!(
        all.iter()
            .any(|b| b["id"] == first_scheduled.as_str() && b["pinned"] == true)
    );
    for b in &all {
        assert!(std::path::Path::new(b["path"].as_str().unwrap()).is_dir());
    }
    let log = std::fs::read_to_string(sb.data_dir().join("supabackup.log")).unwrap();
    assert!(
        log.contains("retention of \"frequent\" removed 1 backup(s)"),
        "{log}"
    );
}

/// One HTTP request: its head (request line and headers) and its body.
struct Request {
    head: String,
    body: String,
}

/// Listens on 127.0.0.1 for one request, answers 204 and hands it over;
/// gives up after `limit` (an error then, never a hang).
fn one_request(limit: Duration) -> (u16, mpsc::Receiver<Result<Request, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        let _ = tx.send(Err(format!("no request within {limit:?}")));
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("accept: {e}")));
                    return;
                }
            }
        };
        let _ = tx.send(read_request(stream).map_err(|e| format!("read the request: {e}")));
    });
    (port, rx)
}

/// Reads one request from `s` and answers 204 No Content.
fn read_request(mut s: TcpStream) -> std::io::Result<Request> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(s.try_clone()?);
    let (mut head, mut len) = (String::new(), 0);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")?;
    Ok(Request {
        head,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}

#[test]
fn a_failing_schedule_calls_its_webhook_and_is_retried() {
    let (mut pg, sb) = setup();
    // One retry, 1 s after the first failure (30 s by default).
    sb.run(&["settings", "set", "retry-delay", "1"]).ok();
    let (port, hook) = one_request(Duration::from_secs(20));
    sb.run(&[
        "schedule",
        "add",
        "doomed",
        "--project",
        "App",
        "--cron",
        "@daily",
        "--retries",
        "1",
        "--webhook",
        &format!("http://127.0.0.1:{port}/hook"),
    ])
    .ok();
    pg.stop_now();
    make_due(&sb);
    let started = Instant::now();
    // Well short of the default 30 s back-off: a delay that is not honoured
    // fails here, in seconds.
    let r = sb
        .run_within(&["run-due", "--json"], Duration::from_secs(15))
        .expect_code(1);
    assert!(
        r.stderr
            .contains("schedule \"doomed\": attempt 1 failed, retrying in 1s"),
        "{}",
        r.stderr
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "run-due took {:?}, less than the 1 s retry-delay",
        started.elapsed()
    );
    assert!(
        r.stderr.contains("FAILED after 2 attempt(s)"),
        "{}",
        r.stderr
    );
    let reports = r.json();
    assert_eq!(reports[0]["ok"], false);
    assert_eq!(reports[0]["attempts"], 2, "{}", r.stdout);
    assert!(
        reports[0]["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{}",
        r.stdout
    );
    // run-due calls the webhook before it exits: the request is here already.
    let req = hook
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the webhook was not called ({e})"))
        .unwrap_or_else(|e| panic!("the webhook was not called: {e}"));
    assert!(req.head.starts_with("POST /hook "), "{}", req.head);
    assert!(
        req.head
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        req.head
    );
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["event"], "backup_failed");
    assert_eq!(body["schedule"], "doomed");
    assert_eq!(body["project"], "App");
    assert_eq!(body["attempts"], 2, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{body}"
    );
    for (what, text) in [
        ("the webhook", &req.body),
        ("run-due stdout", &r.stdout),
        ("run-due stderr", &r.stderr),
    ] {
        assert_no_secret(what, text, SUPERUSER_PASSWORD);
        assert_no_secret(what, text, MASTER);
    }
    let log = std::fs::read_to_string(sb.data_dir().join("supabackup.log")).unwrap();
    assert!(
        log.contains("schedule \"doomed\" attempt 1 failed; retrying in 1s"),
        "{log}"
    );
    assert!(
        log.contains("schedule \"doomed\" failed after 2 attempt(s)"),
        "{log}"
    );
    let v = sb.run(&["schedule", "list", "--json"]).ok().json();
    assert_eq!(v[0]["last_run_status"], "failed");
}

#[test]
fn the_daemon_runs_what_is_due_and_stops_on_sigterm() {
    let (_pg, sb) = setup();
    add_daily(&sb, "daily").ok();
    make_due(&sb);
    let mut daemon = sb
        .cmd()
        .arg("daemon")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the daemon made no backup");
        // The daemon holds the catalog only while it runs something.
        let r = sb.run(&["backups", "--json"]);
        if r.code == 0 && r.stdout.contains("\"completed\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    let status = daemon.wait().unwrap();
    assert!(status.success());
    let mut err = String::new();
    daemon
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("schedule \"daily\" (App): succeeded"), "{err}");
    assert!(err.contains("stopped"), "{err}");
}

#[test]
fn sqlite_export_has_the_rows_and_no_plaintext_secret() {
    let (_pg, sb) = setup();
    sb.run(&[
        "project",
        "edit",
        "App",
        "--service-key",
        "svc-secret-key-1234",
    ])
    .ok();
    sb.run(&[
        "schedule",
        "add",
        "nightly",
        "--project",
        "App",
        "--cron",
        "0 3 * * *",
        "--keep-days",
        "14",
    ])
    .ok();
    sb.backup("App", &[]);
    let out = sb.tmp.path().join("export.db");
    sb.run(&["export-sqlite", out.to_str().unwrap()]).ok();
    let db = rusqlite::Connection::open(&out).unwrap();
    let number = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    let count = |t: &str| number(&format!("SELECT count(*) FROM {t}"));
    assert_eq!(
        (count("projects"), count("backup_jobs"), count("backups")),
        (1, 1, 1)
    );
    let (env, sealed): (String, Vec<u8>) = db
        .query_row(
            "SELECT environment, database_url_encrypted FROM projects",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(env, "development");
    assert!(sealed.len() > 28);
    let joined = number(
        "SELECT count(*) FROM backups b JOIN projects p ON p.id = b.project_id \
         JOIN backup_jobs j ON j.project_id = p.id WHERE j.keep_days = 14 AND b.status = 'completed'",
    );
    assert_eq!(joined, 1);
    let fks = number("SELECT count(*) FROM pragma_foreign_key_list('backups')");
    assert_eq!(fks, 2);
    let idx =
        number("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'");
    assert!(idx >= 4);
    drop(db);
    let bytes = std::fs::read(&out).unwrap();
    for secret in [SUPERUSER_PASSWORD, "svc-secret-key-1234", MASTER] {
        assert_no_secret("the export", &bytes, secret);
    }
    // Re-export replaces the file: the new backup is there, nothing twice.
    sb.backup("App", &[]);
    sb.run(&["export-sqlite", out.to_str().unwrap()]).ok();
    let db = rusqlite::Connection::open(&out).unwrap();
    let count = |t: &str| -> i64 {
        db.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(
        (count("projects"), count("backup_jobs"), count("backups")),
        (1, 1, 2)
    );
    drop(db);
    // Any SQLite reads it (the sqlite3 shell, where installed).
    match Command::new("sqlite3")
        .arg(&out)
        .arg("SELECT name FROM projects")
        .output()
    {
        Ok(o) => assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "App"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "sqlite3: {e}"),
    }
}

#[test]
fn rebuild_after_losing_the_catalog_restores_the_history() {
    let (_pg, sb) = setup();
    let a = sb.backup("App", &[]);
    let b = sb.backup("App", &["--kind", "schema"]);
    std::fs::remove_file(sb.data_dir().join("catalog.redb")).unwrap();
    assert!(sb.backups().is_empty());
    let report = sb.run(&["catalog", "rebuild", "--json"]).ok().json();
    assert_eq!(report["restored"], 2);
    assert_eq!(report["placeholders"], serde_json::json!(["App"]));
    let after = sb.backups();
    let ids: Vec<&str> = after.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&a["id"].as_str().unwrap()) && ids.contains(&b["id"].as_str().unwrap()));
    assert!(after.iter().all(|x| x["status"] == "completed"));
    let p = sb.run(&["project", "list", "--json"]).ok().json();
    assert_eq!(p[0]["is_active"], false);
    assert!(p[0]["db_url"].as_str().unwrap().contains("not set"));
    sb.run(&["verify", a["id"].as_str().unwrap()]).ok();
    // Running it again finds everything known.
    let again = sb.run(&["catalog", "rebuild", "--json"]).ok().json();
    assert_eq!(again["known"], 2);
    assert_eq!(again["restored"], 0);
}
