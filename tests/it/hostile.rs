//! What a careful, hostile user tries: a closed pipe on standard output,
//! endpoints that are not URLs, a command refused halfway. Nothing panics,
//! and a refused command changes nothing.

use crate::cli::{Run, Sb};
use crate::pg::PgCluster;
use std::process::Stdio;

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
