//! Things going wrong: killed tools, a server that disappears, cancel, a
//! killed supabackup, damaged files. Nothing half-written is kept, the
//! catalog says what happened, no secret leaks.

use crate::blocking::{Lock, pg_dump_pids, wait_dump_blocked};
use crate::cli::{Run, Sb, assert_no_secret};
use crate::pg::{PgCluster, SUPERUSER_PASSWORD, pg_bin};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const SMALL_APP: &str = "CREATE TABLE public.big (id int PRIMARY KEY, v text); \
    INSERT INTO public.big SELECT g, repeat('v', 50) FROM generate_series(1, 20000) g; \
    CREATE TABLE public.small (id int PRIMARY KEY); INSERT INTO public.small VALUES (1), (2);";

fn spawn_backup(sb: &Sb, project: &str) -> Child {
    sb.cmd()
        .args(["backup", project, "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> (i32, serde_json::Value, String) {
    let r = Run::from(child.wait_with_output().unwrap());
    let v = serde_json::from_str(&r.stdout).unwrap_or(serde_json::Value::Null);
    (r.code, v, r.stderr)
}

/// No file is left under any `.partial` folder of the backup root.
fn no_partial_files(sb: &Sb) {
    let root = sb.data_dir().join("backups");
    let Ok(projects) = std::fs::read_dir(&root) else {
        return;
    };
    for p in projects.flatten() {
        let partial = p.path().join(".partial");
        if let Ok(rd) = std::fs::read_dir(&partial) {
            let left: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            assert!(left.is_empty(), "partial files left behind: {left:?}");
        }
        // Only the .partial folder and completed backups live here.
        for e in std::fs::read_dir(p.path()).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            assert!(
                name == ".partial"
                    || name.contains("-full-")
                    || name.contains("-schema-")
                    || name.contains("-data-"),
                "{name}"
            );
            if name != ".partial" {
                assert!(
                    e.path().join("manifest.json").is_file(),
                    "a folder without a manifest looks like a backup: {name}"
                );
            }
        }
    }
}

fn setup() -> (PgCluster, Sb) {
    let pg = PgCluster::start();
    pg.psql("postgres", SMALL_APP);
    let sb = Sb::new();
    sb.add_project("P", &pg.url("postgres"));
    (pg, sb)
}

#[test]
fn a_killed_pg_dump_fails_the_backup_and_keeps_nothing() {
    let (pg, sb) = setup();
    let lock = Lock::take(&pg);
    let child = spawn_backup(&sb, "P");
    wait_dump_blocked(&pg);
    let pids = pg_dump_pids(&pg);
    assert_eq!(pids.len(), 1, "{pids:?}");
    Command::new("kill")
        .args(["-9", &pids[0]])
        .status()
        .unwrap();
    let (code, v, stderr) = finish(child);
    drop(lock);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(v["status"], "failed");
    let err = v["error"].as_str().unwrap();
    assert!(
        err.contains("pg_dump failed (killed) during the pre-data part"),
        "{err}"
    );
    assert_no_secret("the error", err, SUPERUSER_PASSWORD);
    no_partial_files(&sb);
    assert_eq!(sb.backups()[0]["status"], "failed");
}

#[test]
fn a_server_that_goes_away_mid_dump_fails_the_backup_cleanly() {
    let (mut pg, sb) = setup();
    let lock = Lock::take(&pg);
    let child = spawn_backup(&sb, "P");
    wait_dump_blocked(&pg);
    // The server goes while pg_dump is certainly inside the dump (waiting on
    // the lock); releasing the lock first let a quick pg_dump finish before
    // the stop on a busy machine.
    pg.stop_now();
    drop(lock);
    let (code, v, stderr) = finish(child);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(v["status"], "failed");
    let err = v["error"].as_str().unwrap();
    assert!(err.contains("pg_dump failed"), "{err}");
    assert_no_secret("the error", err, SUPERUSER_PASSWORD);
    assert_no_secret("stderr", &stderr, SUPERUSER_PASSWORD);
    for b in sb.backups() {
        assert_no_secret("the history", b.to_string(), SUPERUSER_PASSWORD);
    }
    assert_no_secret("the data dir", sb.all_bytes(), SUPERUSER_PASSWORD);
    no_partial_files(&sb);
}

#[test]
fn ctrl_c_cancels_kills_pg_dump_and_records_cancelled() {
    let (pg, sb) = setup();
    let lock = Lock::take(&pg);
    let child = spawn_backup(&sb, "P");
    wait_dump_blocked(&pg);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let (code, v, stderr) = finish(child);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(v["status"], "cancelled", "{stderr}");
    assert!(
        pg_dump_pids(&pg).is_empty(),
        "pg_dump still runs after cancel"
    );
    drop(lock);
    no_partial_files(&sb);
    assert_eq!(sb.backups()[0]["status"], "cancelled");
    // The next backup works.
    sb.backup("P", &[]);
}

#[test]
fn a_killed_supabackup_is_found_interrupted_at_the_next_start() {
    let (pg, sb) = setup();
    let lock = Lock::take(&pg);
    let mut child = spawn_backup(&sb, "P");
    wait_dump_blocked(&pg);
    child.kill().unwrap();
    child.wait().unwrap();
    for pid in pg_dump_pids(&pg) {
        Command::new("kill").args(["-9", &pid]).status().unwrap();
    }
    drop(lock);
    let b = &sb.backups()[0];
    assert_eq!(b["status"], "interrupted");
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("run the backup again")
    );
    no_partial_files(&sb);
}

#[test]
fn verify_names_a_damaged_or_truncated_part_and_restore_refuses_it() {
    let (pg, sb) = setup();
    let b = sb.backup("P", &[]);
    let id = b["id"].as_str().unwrap().to_string();
    let dir = PathBuf::from(b["path"].as_str().unwrap());
    sb.run(&["verify", &id]).ok();

    let data = dir.join("data.sql.zst");
    let original = std::fs::read(&data).unwrap();
    let mut damaged = original.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x01;
    std::fs::write(&data, &damaged).unwrap();
    let r = sb.run(&["verify", &id]).expect_code(1);
    assert!(
        r.stdout.contains("DAMAGED  data.sql.zst is damaged"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("ok       pre-data.sql.zst"));
    let v = sb.run(&["verify", &id, "--json"]).expect_code(1).json();
    assert_eq!(v["ok"], false);

    pg.create_db("target");
    let r = sb
        .run(&["restore", &id, "--to-url", &pg.url("target")])
        .expect_code(1);
    assert!(r.stderr.contains("data.sql.zst is damaged"), "{}", r.stderr);
    assert_eq!(
        pg.psql(
            "target",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0"
    );

    std::fs::write(&data, &original).unwrap();
    let schema = dir.join("post-data.sql.zst");
    let bytes = std::fs::read(&schema).unwrap();
    std::fs::write(&schema, &bytes[..bytes.len() - 7]).unwrap();
    let r = sb.run(&["verify", &id]).expect_code(1);
    assert!(r.stdout.contains("post-data.sql.zst is"), "{}", r.stdout);
    assert!(r.stdout.contains("truncated"), "{}", r.stdout);
    std::fs::write(&schema, &bytes).unwrap();

    std::fs::remove_file(dir.join("roles.sql.zst")).unwrap();
    let r = sb.run(&["verify", &id]).expect_code(1);
    assert!(
        r.stdout.contains("roles.sql.zst is missing"),
        "{}",
        r.stdout
    );
}

/// A folder of pg_dump/pg_dumpall/psql that log argv and whether PGPASSWORD
/// is set, then run the real tool.
fn logging_tools(dir: &Path, log: &Path) -> PathBuf {
    let bin = dir.join("wrapped-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = pg_bin().to_str().unwrap();
    for tool in ["pg_dump", "pg_dumpall", "psql"] {
        let p = bin.join(tool);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"{tool} $*\" >> '{log}'\n\
                 echo \"{tool} PGPASSWORD=${{PGPASSWORD:+set}}\" >> '{log}'\n\
                 exec '{real}/{tool}' \"$@\"\n",
                log = log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
fn the_password_never_appears_in_any_childs_arguments() {
    let (pg, sb) = setup();
    let log = sb.tmp.path().join("argv.log");
    let bin = logging_tools(sb.tmp.path(), &log);
    sb.run(&["settings", "set", "pg-bin-dir", bin.to_str().unwrap()])
        .ok();
    let b = sb.backup("P", &[]);
    let id = b["id"].as_str().unwrap();
    pg.create_db("copy");
    let restore = sb.run(&["restore", id, "--to-url", &pg.url("copy")]).ok();
    let drill = sb
        .run(&["verify", id, "--restore-to", &pg.url("postgres")])
        .ok();
    let text = std::fs::read_to_string(&log).unwrap();
    for tool in ["pg_dump --dbname=", "pg_dumpall --dbname=", "psql -X"] {
        assert!(text.contains(tool), "{tool} was not run: {text}");
    }
    for tool in ["pg_dump", "pg_dumpall", "psql"] {
        let line = format!("{tool} PGPASSWORD=set");
        assert!(text.contains(&line), "{tool} got no password: {text}");
    }
    assert_no_secret("a child's arguments", &text, SUPERUSER_PASSWORD);
    for (what, run) in [("restore", &restore), ("drill", &drill)] {
        assert_no_secret(
            what,
            format!("{}{}", run.stdout, run.stderr),
            SUPERUSER_PASSWORD,
        );
    }
    assert_no_secret("the data dir", sb.all_bytes(), SUPERUSER_PASSWORD);
}

#[test]
fn the_restore_drill_passes_and_catches_wrong_row_counts() {
    let (pg, sb) = setup();
    let b = sb.backup("P", &[]);
    let id = b["id"].as_str().unwrap();
    let r = sb
        .run(&["verify", id, "--restore-to", &pg.url("postgres")])
        .ok();
    assert!(
        r.stdout
            .contains("Restore drill passed: 2 tables and 20002 rows"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("dropped afterwards"));
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'supabackup_drill_%'"
        ),
        "0"
    );

    // A copy whose manifest claims another row count (checksums rewritten to
    // match): the drill notices.
    let copy = sb.tmp.path().join("tampered");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(b["path"].as_str().unwrap())
            .arg(&copy)
            .status()
            .unwrap()
            .success()
    );
    // The row counts are in details.json; its size and checksum are in the
    // manifest, and both are in SHA256SUMS: all rewritten to match.
    let details = std::fs::read_to_string(copy.join("details.json")).unwrap();
    let mut d: serde_json::Value = serde_json::from_str(&details).unwrap();
    for t in d["tables"].as_array_mut().unwrap() {
        if t["table"] == "small" {
            t["rows"] = serde_json::json!(3);
        }
    }
    let details = serde_json::to_vec_pretty(&d).unwrap();
    std::fs::write(copy.join("details.json"), &details).unwrap();
    let sha = Command::new("sha256sum")
        .arg("details.json")
        .current_dir(&copy)
        .output()
        .unwrap();
    let sha = String::from_utf8_lossy(&sha.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let manifest = std::fs::read_to_string(copy.join("manifest.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    m["details"]["sha256"] = serde_json::json!(sha);
    m["details"]["bytes"] = serde_json::json!(details.len());
    std::fs::write(
        copy.join("manifest.json"),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
    let sums = Command::new("sh")
        .arg("-c")
        .arg("sha256sum *.zst details.json manifest.json > SHA256SUMS")
        .current_dir(&copy)
        .status()
        .unwrap();
    assert!(sums.success());
    let r = sb
        .run(&[
            "verify",
            copy.to_str().unwrap(),
            "--restore-to",
            &pg.url("postgres"),
        ])
        .expect_code(1);
    assert!(
        r.stdout
            .contains("MISMATCH public.small: 3 rows at backup time, 2 after restore"),
        "{}",
        r.stdout
    );
}

#[test]
fn restore_refuses_a_set_verify_calls_damaged_unless_checksums_are_skipped() {
    let (pg, sb) = setup();
    let b = sb.backup("P", &[]);
    let id = b["id"].as_str().unwrap().to_string();
    let dir = PathBuf::from(b["path"].as_str().unwrap());
    pg.create_db("target");
    let tables = || {
        pg.psql(
            "target",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        )
    };
    let sums = dir.join("SHA256SUMS");
    let original_sums = std::fs::read_to_string(&sums).unwrap();

    // SHA256SUMS gone: verify and restore agree that the set is damaged.
    std::fs::remove_file(&sums).unwrap();
    let r = sb.run(&["verify", &id]).expect_code(1);
    assert!(
        r.stdout.contains("cannot read the checksums"),
        "{}",
        r.stdout
    );
    let r = sb
        .run(&["restore", &id, "--to-url", &pg.url("target")])
        .expect_code(1);
    assert!(
        r.stderr.contains("SHA256SUMS cannot be read (No such file"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--skip-checksums"), "{}", r.stderr);
    assert!(r.stderr.contains("nothing was restored"), "{}", r.stderr);
    assert_eq!(tables(), "0");

    // SHA256SUMS there but disagreeing with the manifest: refused too.
    let changed = original_sums.replacen(
        &original_sums[..8],
        if original_sums.starts_with('0') {
            "11111111"
        } else {
            "00000000"
        },
        1,
    );
    std::fs::write(&sums, &changed).unwrap();
    sb.run(&["verify", &id]).expect_code(1);
    let r = sb
        .run(&["restore", &id, "--to-url", &pg.url("target")])
        .expect_code(1);
    assert!(r.stderr.contains("disagree"), "{}", r.stderr);
    assert_eq!(tables(), "0");
    std::fs::remove_file(&sums).unwrap();

    // --skip-checksums still checks every file against the manifest.
    let data = dir.join("data.sql.zst");
    let good = std::fs::read(&data).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    std::fs::write(&data, &bad).unwrap();
    let r = sb
        .run(&[
            "restore",
            &id,
            "--to-url",
            &pg.url("target"),
            "--skip-checksums",
        ])
        .expect_code(1);
    assert!(r.stderr.contains("data.sql.zst is damaged"), "{}", r.stderr);
    assert_eq!(tables(), "0");

    // Said explicitly, with intact files, the set restores.
    std::fs::write(&data, &good).unwrap();
    sb.run(&[
        "restore",
        &id,
        "--to-url",
        &pg.url("target"),
        "--skip-checksums",
    ])
    .ok();
    assert_eq!(tables(), "2");
    // And with SHA256SUMS back, a plain restore works as before.
    std::fs::write(&sums, &original_sums).unwrap();
    pg.create_db("target2");
    sb.run(&["restore", &id, "--to-url", &pg.url("target2")])
        .ok();
}

/// Runs a backup of "P" that dies (SIGKILL) right after its folder is moved
/// into place, before the catalog records it; the new folder (not one of
/// `before`).
fn backup_killed_after_promotion(sb: &Sb, before: &[PathBuf]) -> PathBuf {
    let r = sb.run_env(
        &["backup", "P", "--json"],
        &[("SUPABACKUP_TEST_CRASH_AT", "set-promoted")],
    );
    assert_eq!(r.code, -1, "not killed\n{}\n{}", r.stdout, r.stderr);
    let sets: Vec<PathBuf> = std::fs::read_dir(sb.data_dir().join("backups").join("p"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("manifest.json").is_file() && !before.contains(p))
        .collect();
    assert_eq!(sets.len(), 1, "{sets:?}");
    sets[0].clone()
}

#[test]
fn a_backup_killed_between_its_folder_and_its_record_is_settled_by_what_is_on_disk() {
    let (pg, sb) = setup();
    // Complete on disk: the next start checks it and records it completed.
    let dir = backup_killed_after_promotion(&sb, &[]);
    let b = sb.backups()[0].clone();
    assert_eq!(b["status"], "completed", "{b}");
    assert_eq!(b["path"], dir.to_str().unwrap());
    assert_eq!(b["error"], serde_json::Value::Null);
    assert_eq!(b["rows"], 20002, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    sb.run(&["verify", &id]).ok();
    pg.create_db("target");
    sb.run(&["restore", &id, "--to-url", &pg.url("target")])
        .ok();
    assert_eq!(
        pg.psql("target", "SELECT count(*) FROM public.big"),
        "20000"
    );
    let log = std::fs::read_to_string(sb.data_dir().join("supabackup.log")).unwrap();
    assert!(log.contains("recorded as completed"), "{log}");
    no_partial_files(&sb);

    // Incomplete on disk (its SHA256SUMS lost): interrupted, and the folder
    // is removed, so nothing half-made looks like a backup.
    let second = backup_killed_after_promotion(&sb, &[dir]);
    std::fs::remove_file(second.join("SHA256SUMS")).unwrap();
    let all = sb.backups();
    let b = all.iter().find(|b| b["id"] != id.as_str()).unwrap();
    assert_eq!(b["status"], "interrupted", "{b}");
    assert!(!second.exists(), "the incomplete folder was left behind");
    no_partial_files(&sb);
}

#[test]
fn catalog_rebuild_corrects_a_record_that_calls_a_complete_set_interrupted() {
    let (_pg, sb) = setup();
    let b = sb.backup("P", &[]);
    let id: supabackup::domain::BackupId = b["id"].as_str().unwrap().parse().unwrap();
    // What an older version left: the set complete on disk, its record
    // saying it was interrupted.
    {
        let catalog =
            supabackup::store::Catalog::open(&sb.data_dir().join("catalog.redb")).unwrap();
        catalog
            .update_backup(id, |r| {
                r.status = supabackup::domain::BackupStatus::Interrupted;
                r.error = Some("its incomplete files were removed".into());
            })
            .unwrap();
    }
    let short = &b["id"].as_str().unwrap()[..8];
    let r = sb.run(&["verify", short]).expect_code(1);
    assert!(r.stderr.contains("only completed backups"), "{}", r.stderr);
    let report = sb.run(&["catalog", "rebuild", "--json"]).ok().json();
    assert_eq!(report["reconciled"], 1, "{report}");
    assert_eq!(report["restored"], 0, "{report}");
    let r = sb.run(&["catalog", "rebuild"]).ok();
    assert!(
        r.stdout.contains("0 record(s) recreated, 1 already known"),
        "{}",
        r.stdout
    );
    let now = &sb.backups()[0];
    assert_eq!(now["status"], "completed", "{now}");
    assert_eq!(now["error"], serde_json::Value::Null);
    sb.run(&["verify", short]).ok();
}
