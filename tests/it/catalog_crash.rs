//! A process killed mid-write keeps every committed record.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use supabackup::domain::{Environment, Project, ProjectId, Sealed};
use supabackup::store::Catalog;

const CHILD_ENV: &str = "SUPABACKUP_CRASH_CHILD_CATALOG";

/// Not a test on its own: the writer the crash test runs in a child process.
#[test]
fn crash_writer_child_helper() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let catalog = Catalog::open(std::path::Path::new(&path)).unwrap();
    for i in 0.. {
        let p = Project {
            id: ProjectId::new(),
            name: format!("p{i}"),
            description: "x".repeat(2000),
            environment: Environment::Development,
            db_url: Sealed(vec![7; 64]),
            service_key: None,
            anon_key: None,
            is_active: true,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        catalog.insert_project(&p).unwrap();
        println!("committed {}", p.id);
    }
}

#[test]
fn killed_writer_keeps_every_committed_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "catalog_crash::crash_writer_child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut committed = Vec::new();
    let reader = BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("committed ") {
            committed.push(id.parse::<ProjectId>().unwrap());
            if committed.len() == 150 {
                break;
            }
        }
    }
    // SIGKILL: no destructor, no clean shutdown, mid-transaction.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(committed.len(), 150);
    let catalog = Catalog::open(&path).expect("reopen after a crash");
    let ids: Vec<ProjectId> = catalog.projects().unwrap().iter().map(|p| p.id).collect();
    for id in &committed {
        assert!(ids.contains(id), "committed record {id} lost");
    }
}
