//! A process killed mid-write keeps every committed record, and its copy of
//! the catalog reads back with every one of them.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use supabackup::domain::{Environment, Project, ProjectId, Sealed};
use supabackup::store::{COPIES_DIR, Catalog, CatalogCopy};

/// Set in the child: the catalog it writes to.
const CHILD_ENV: &str = "SUPABACKUP_CRASH_CHILD_CATALOG";
/// The test the child runs (this one, which hands over to `crash_writer`).
const THIS_TEST: &str = "catalog_crash::killed_writer_keeps_every_committed_record";

/// The writer that the crash test runs in a child process: commits projects
/// one at a time, printing each id once committed, until it is killed.
fn crash_writer(path: &Path) -> ! {
    let catalog = Catalog::open(path).unwrap();
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
            extra: Default::default(),
        };
        catalog.insert_project(&p).unwrap();
        println!("committed {}", p.id);
    }
    unreachable!("the loop ends only when the process is killed")
}

#[test]
fn killed_writer_keeps_every_committed_record() {
    // The child: the test binary run again, filtered to this test, with
    // CHILD_ENV set; it never gets past this line.
    if let Ok(path) = std::env::var(CHILD_ENV) {
        crash_writer(Path::new(&path));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", THIS_TEST, "--nocapture", "--test-threads=1"])
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
    assert_eq!(committed.len(), 150, "the child stopped early");
    let catalog = Catalog::open(&path).expect("reopen after a crash");
    let ids: Vec<ProjectId> = catalog.projects().unwrap().iter().map(|p| p.id).collect();
    for id in &committed {
        assert!(ids.contains(id), "committed record {id} lost");
    }
    // The copy is refreshed before a commit returns, atomically: it reads
    // back whole and holds every committed project too.
    let copy = CatalogCopy::read(&dir.path().join(COPIES_DIR).join("latest.copy"))
        .expect("the copy reads back after a crash");
    let copied: Vec<ProjectId> = copy.projects.iter().map(|p| p.id).collect();
    for id in &committed {
        assert!(
            copied.contains(id),
            "committed project {id} not in the copy"
        );
    }
}
