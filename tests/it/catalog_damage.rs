//! A damaged catalog: every command says so (never a crash, never advice
//! about permissions), and `catalog rebuild` moves it aside and brings back
//! projects with their sealed connection strings, schedules, settings and
//! backup records.

use crate::cli::{Run, Sb};
use crate::pg::{PgCluster, SUPERUSER_PASSWORD};
use std::path::{Path, PathBuf};

/// Written into a project's description, to find its record in the file.
const MARKER: &str = "find-me-in-the-catalog-file";

/// A data dir with two projects (the second added just before the damage),
/// a schedule, two settings (one a backup root outside the data dir) and a
/// backup. Returns the backup's id.
fn populated(pg: &PgCluster, sb: &Sb) -> String {
    pg.psql(
        "postgres",
        "CREATE TABLE IF NOT EXISTS t AS SELECT generate_series(1, 200) AS id",
    );
    let root = sb.tmp.path().join("elsewhere");
    sb.run(&["settings", "set", "backup-root", root.to_str().unwrap()])
        .ok();
    sb.run(&["settings", "set", "retry-delay", "45"]).ok();
    sb.add_project("App", &pg.url("postgres"));
    sb.run(&[
        "schedule",
        "add",
        "nightly",
        "--project",
        "App",
        "--cron",
        "@daily",
    ])
    .ok();
    let backup = sb.backup("App", &[]);
    sb.run(&[
        "project",
        "add",
        "--name",
        "Late",
        "--db-url",
        &pg.url("postgres"),
        "--description",
        MARKER,
    ])
    .ok();
    backup["id"].as_str().unwrap().to_string()
}

fn catalog(sb: &Sb) -> PathBuf {
    sb.data_dir().join("catalog.redb")
}

/// Flips the bytes of every copy of the marker in the file, and the first
/// bytes of every page in its middle third.
fn flip_in_the_middle(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut hits = 0;
    for i in 0..bytes.len().saturating_sub(MARKER.len()) {
        if &bytes[i..i + MARKER.len()] == MARKER.as_bytes() {
            for b in &mut bytes[i..i + MARKER.len()] {
                *b ^= 0xff;
            }
            hits += 1;
        }
    }
    assert!(hits > 0, "the project's record is in the file");
    let (from, to) = (bytes.len() / 3, bytes.len() * 2 / 3);
    for page in (from / 4096 * 4096..to).step_by(4096) {
        for b in &mut bytes[page..page + 8] {
            *b ^= 0xff;
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn overwrite_the_header(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[..8192].fill(0x5a);
    std::fs::write(path, bytes).unwrap();
}

fn truncate_to_half(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

/// The command fails (exit 1, not a crash) saying the catalog is damaged
/// and what to do.
#[track_caller]
fn says_damaged(r: Run, what: &str) {
    assert_eq!(
        r.code, 1,
        "{what}: exit {}\n{}{}",
        r.code, r.stdout, r.stderr
    );
    let e = &r.stderr;
    assert!(e.contains("the catalog is damaged"), "{what}: {e}");
    assert!(e.contains("supabackup catalog rebuild"), "{what}: {e}");
    assert!(
        e.contains("backups on disk are not affected"),
        "{what}: {e}"
    );
    assert!(!e.contains("permissions and free space"), "{what}: {e}");
    assert!(!e.contains("panicked"), "{what}: {e}");
    assert_eq!(e.trim().lines().count(), 1, "{what}: one line: {e}");
}

#[track_caller]
fn every_command_says_damaged(sb: &Sb, how: &str) {
    for args in [
        &["project", "list"][..],
        &["backups"],
        &["info"],
        &["schedule", "list"],
        &["settings", "get"],
    ] {
        says_damaged(sb.run(args), &format!("{how}: {}", args.join(" ")));
    }
}

#[test]
fn rebuild_after_damage_brings_back_projects_schedules_settings_and_backups() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    let backup_id = populated(&pg, &sb);
    flip_in_the_middle(&catalog(&sb));
    every_command_says_damaged(&sb, "flipped bytes");

    let r = sb.run(&["catalog", "rebuild", "--json"]).ok().json();
    let salvage = &r["salvage"];
    let moved = PathBuf::from(salvage["moved_to"].as_str().unwrap());
    assert!(moved.exists(), "the damaged file is kept: {r}");
    assert!(
        moved
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("catalog.redb.damaged-")
    );
    assert_eq!(salvage["projects"], serde_json::json!(["App", "Late"]));
    assert_eq!(salvage["schedules"], serde_json::json!(["nightly"]));
    assert_eq!(salvage["vault"], true);
    assert_eq!(r["restored"], 1, "{r}");
    assert_eq!(r["placeholders"], serde_json::json!([]));

    let projects = sb.run(&["project", "list", "--json"]).ok().json();
    let names: Vec<&str> = projects
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["App", "Late"]);
    let show = sb.run(&["project", "show", "Late"]).ok().stdout;
    assert!(show.contains(MARKER), "{show}");
    assert!(show.contains("127.0.0.1"), "{show}");
    assert!(!show.contains(SUPERUSER_PASSWORD), "masked: {show}");
    let jobs = sb.run(&["schedule", "list", "--json"]).ok().json();
    assert_eq!(jobs[0]["name"], "nightly");
    assert_eq!(jobs[0]["project"], "App");
    let delay = sb.run(&["settings", "get", "retry-delay"]).ok();
    assert_eq!(delay.stdout.trim(), "45");
    let backups = sb.backups();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0]["id"], backup_id.as_str());
    // The sealed connection strings really came back: both projects back up.
    sb.backup("App", &["--kind", "schema"]);
    sb.backup("Late", &["--kind", "schema"]);
    assert_eq!(sb.backups().len(), 3);
}

#[test]
fn an_overwritten_header_or_a_cut_file_says_damaged_and_rebuilds() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    populated(&pg, &sb);
    let path = catalog(&sb);
    let good = std::fs::read(&path).unwrap();
    overwrite_the_header(&path);
    every_command_says_damaged(&sb, "overwritten header");
    std::fs::write(&path, &good).unwrap();
    sb.run(&["project", "list"]).ok();
    truncate_to_half(&path);
    every_command_says_damaged(&sb, "cut file");
    std::fs::write(&path, b"").unwrap();
    every_command_says_damaged(&sb, "emptied file");

    let r = sb.run(&["catalog", "rebuild"]).ok();
    assert!(r.stdout.contains("The catalog was damaged"), "{}", r.stdout);
    assert!(r.stdout.contains("projects (2): App, Late"), "{}", r.stdout);
    assert!(r.stdout.contains("1 record(s) recreated"), "{}", r.stdout);
    let projects = sb.run(&["project", "list", "--json"]).ok().json();
    assert_eq!(projects.as_array().unwrap().len(), 2);
    // Healthy now: a second rebuild changes nothing.
    let again = sb.run(&["catalog", "rebuild", "--json"]).ok().json();
    assert!(again["salvage"].is_null());
    assert_eq!(again["known"], 1);
}

#[test]
fn without_copies_rebuild_still_recreates_backup_records() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    let backup_id = populated(&pg, &sb);
    std::fs::remove_dir_all(sb.data_dir().join("catalog-copies")).unwrap();
    overwrite_the_header(&catalog(&sb));
    says_damaged(sb.run(&["backups"]), "no copies");
    // The backup root setting is lost with the copies: point at it again.
    let r = sb.run(&["catalog", "rebuild", "--json"]).ok().json();
    assert!(r["salvage"]["copy"].is_null(), "{r}");
    assert!(
        PathBuf::from(r["salvage"]["moved_to"].as_str().unwrap()).exists(),
        "{r}"
    );
    assert_eq!(r["found"], 0, "the backups are in the old backup root");
    let root = sb.tmp.path().join("elsewhere");
    sb.run(&["settings", "set", "backup-root", root.to_str().unwrap()])
        .ok();
    let r = sb.run(&["catalog", "rebuild", "--json"]).ok().json();
    assert_eq!(r["restored"], 1, "{r}");
    assert_eq!(r["placeholders"], serde_json::json!(["App"]));
    assert_eq!(sb.backups()[0]["id"], backup_id.as_str());
    let damaged: Vec<_> = std::fs::read_dir(sb.data_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
        .collect();
    assert_eq!(damaged.len(), 1);
}
