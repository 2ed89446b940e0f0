//! Two machines on one destination (two data dirs, the same folder or S3
//! bucket), and two processes on one backup folder, lose nothing: machine
//! B's copy is held between the upload of its Storage files and that of
//! its `objects.txt` (the test hook `SUPABACKUP_TEST_HOLD`) while machine A
//! deletes a set that shared those files; A's collection leaves them alone
//! (B holds a lease under `.supabackup/locks/`), and B's copy completes and
//! verifies at the destination. Without the lease, A would have deleted
//! every file B's set refers to (A's grace period is 0 here).

use crate::cli::Sb;
use crate::pg::PgCluster;
use crate::s3::S3Server;
use crate::storage::rest_fixture;
use crate::storage_rest::RestServer;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "eyJhbGciOiJIUzI1NiJ9.shared-destination-5ecret.sig";
/// The prefix of the S3 destination.
const PREFIX: &str = "team";

/// Where the tests copy to.
enum Dest {
    Folder(PathBuf),
    S3(S3Server),
}

impl Dest {
    /// `destination add offsite ...` on `sb`.
    fn add(&self, sb: &Sb) {
        match self {
            Dest::Folder(dir) => sb
                .run(&[
                    "destination",
                    "add",
                    "offsite",
                    "--folder",
                    dir.to_str().unwrap(),
                ])
                .ok(),
            Dest::S3(server) => sb
                .run_env(
                    &[
                        "destination",
                        "add",
                        "offsite",
                        "--s3",
                        &format!("s3://{}/{PREFIX}", server.bucket),
                        "--endpoint",
                        &server.endpoint,
                        "--path-style",
                        "--access-key-id",
                        &server.access_key,
                    ],
                    &[("SUPABACKUP_S3_SECRET_ACCESS_KEY", &server.secret_key)],
                )
                .ok(),
        };
    }

    /// The destination's files on disk (s3s-fs keeps objects as files).
    fn root(&self) -> PathBuf {
        match self {
            Dest::Folder(dir) => dir.clone(),
            Dest::S3(server) => server.dir().join(&server.bucket).join(PREFIX),
        }
    }
}

/// A machine: its own data dir, the project "Shop" (its database and its
/// Storage through the REST API), copies to `dest`.
fn machine(pg: &PgCluster, storage: &RestServer, dest: Option<&Dest>) -> Sb {
    let sb = Sb::new();
    sb.run(&[
        "project",
        "add",
        "--name",
        "Shop",
        "--db-url",
        &pg.url("shop"),
        "--service-key",
        KEY,
        "--api-url",
        &storage.url,
    ])
    .ok();
    if let Some(dest) = dest {
        dest.add(&sb);
        sb.run(&["project", "edit", "Shop", "--copy-to", "offsite"])
            .ok();
    }
    sb
}

/// `backup Shop --kind storage --json` started with the hold hook at `point`.
fn spawn_held(sb: &Sb, point: &str, hold: &Path) -> Child {
    sb.cmd()
        .args(["backup", "Shop", "--kind", "storage", "--json"])
        .env(
            "SUPABACKUP_TEST_HOLD",
            format!("{point}:{}", hold.display()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the held process says it is at its hold point.
#[track_caller]
fn wait_held(child: &mut Child, hold: &Path) {
    let held = PathBuf::from(format!("{}.held", hold.display()));
    let deadline = Instant::now() + Duration::from_secs(180);
    while !held.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            for pipe in [
                child.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
                child.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
            ]
            .into_iter()
            .flatten()
            {
                let mut pipe = pipe;
                let _ = pipe.read_to_string(&mut out);
            }
            panic!("the backup ended ({status}) before its hold point: {out}");
        }
        assert!(
            Instant::now() < deadline,
            "the hold point was never reached"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lets the held process go and returns its JSON record.
fn release(child: Child, hold: &Path) -> Value {
    std::fs::write(format!("{}.go", hold.display()), b"").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// The stored files under `<root>/shop/objects` (sorted `ab/<sha>` names).
fn stored(root: &Path) -> Vec<String> {
    let store = root.join("shop").join("objects");
    let mut out = Vec::new();
    for sub in std::fs::read_dir(&store).into_iter().flatten().flatten() {
        let name = sub.file_name().to_string_lossy().to_string();
        if name.len() != 2 || !sub.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(sub.path()).unwrap().flatten() {
            out.push(format!("{name}/{}", f.file_name().to_string_lossy()));
        }
    }
    out.sort();
    out
}

/// How many files are under `dir` (s3s-fs keeps emptied folders).
fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                files_under(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// The leases under `<root>/.supabackup/locks`, as JSON.
fn leases(root: &Path) -> Vec<Value> {
    let dir = root.join(".supabackup").join("locks");
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
        .collect()
}

/// `sha256sum -c <set>/objects.txt` in the store at `root`: every file the
/// set refers to is there, whole.
#[track_caller]
fn objects_intact(root: &Path, set: &str) {
    let store = root.join("shop").join("objects");
    let list = root.join("shop").join(set).join("objects.txt");
    let out = Command::new("sha256sum")
        .arg("-c")
        .arg(&list)
        .current_dir(&store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn set_name(b: &Value) -> String {
    Path::new(b["path"].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string()
}

fn short(b: &Value) -> String {
    b["id"].as_str().unwrap()[..8].to_string()
}

fn activity(sb: &Sb) -> String {
    std::fs::read_to_string(sb.data_dir().join("supabackup.log")).unwrap_or_default()
}

/// The scenario, at a folder or an S3 destination.
fn copy_in_flight_keeps_its_files(dest: Dest) {
    let pg = PgCluster::start();
    pg.create_db("shop");
    let storage = RestServer::start(KEY);
    let files = rest_fixture(&storage, 30);
    let root = dest.root();

    // Machine A: a set at the destination; it removes unused files at once.
    let a = machine(&pg, &storage, Some(&dest));
    a.run(&["settings", "set", "storage-grace-hours", "0"]).ok();
    let set_a = a.backup("Shop", &["--kind", "storage"]);
    assert_eq!(set_a["copies"][0]["state"], "copied", "{set_a}");
    let at_first = stored(&root);
    assert_eq!(at_first.len(), files, "{at_first:?}");

    // Machine B: the same project; its copy finds every Storage file there
    // already and stops before it uploads its set (and its objects.txt).
    let b = machine(&pg, &storage, Some(&dest));
    let hold = b.tmp.path().join("hold");
    let mut child = spawn_held(&b, "copy-objects", &hold);
    wait_held(&mut child, &hold);
    let held = leases(&root);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0]["kind"].as_str(), held[0]["project"].as_str()),
        (Some("write"), Some("shop")),
        "{held:?}"
    );
    assert_eq!(held[0]["pid"], child.id(), "{held:?}");

    // A deletes its set while B's copy is in flight: the set goes, the
    // files B's set will refer to stay.
    let r = a.run(&["backup-delete", &short(&set_a), "--yes"]).ok();
    assert!(r.stdout.contains("offsite"), "{}", r.stdout);
    assert_eq!(files_under(&root.join("shop").join(set_name(&set_a))), 0);
    assert_eq!(
        stored(&root),
        at_first,
        "files of a copy in flight were deleted"
    );
    let log = activity(&a);
    assert!(
        log.contains("at \"offsite\" were left alone: a backup or copy on")
            && log.contains(&format!("(process {}", child.id())),
        "{log}"
    );

    // B's copy completes and verifies at the destination.
    let set_b = release(child, &hold);
    assert_eq!(set_b["status"], "completed", "{set_b}");
    assert_eq!(set_b["copies"][0]["state"], "copied", "{set_b}");
    objects_intact(&root, &set_name(&set_b));
    let v = b.run(&["verify", &short(&set_b), "--at", "offsite"]).ok();
    assert!(v.stdout.contains("Backup intact"), "{}", v.stdout);
    assert!(leases(&root).is_empty(), "{:?}", leases(&root));

    // With no copy in flight, A's next deletion collects, and keeps what
    // B's set refers to.
    let again = a.backup("Shop", &["--kind", "storage"]);
    assert_eq!(again["copies"][0]["state"], "copied", "{again}");
    a.run(&["backup-delete", &short(&again), "--yes"]).ok();
    assert_eq!(stored(&root), at_first);
    b.run(&["verify", &short(&set_b), "--at", "offsite"]).ok();
}

#[test]
fn a_copy_in_flight_keeps_its_files_at_a_folder_another_machine_collects() {
    let dir = tempfile::tempdir().unwrap();
    let usb = dir.path().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    copy_in_flight_keeps_its_files(Dest::Folder(usb));
}

#[test]
fn a_copy_in_flight_keeps_its_files_at_an_s3_bucket_another_machine_collects() {
    copy_in_flight_keeps_its_files(Dest::S3(S3Server::start()));
}

#[test]
fn a_backup_in_flight_keeps_its_files_in_a_shared_backup_folder() {
    let pg = PgCluster::start();
    pg.create_db("shop");
    let storage = RestServer::start(KEY);
    let files = rest_fixture(&storage, 30);
    let shared = tempfile::tempdir().unwrap();
    let root = shared.path().to_path_buf();
    let root_arg = root.to_str().unwrap();
    let a = machine(&pg, &storage, None);
    let b = machine(&pg, &storage, None);
    for sb in [&a, &b] {
        sb.run(&["settings", "set", "backup-root", root_arg]).ok();
        sb.run(&["settings", "set", "storage-grace-hours", "0"])
            .ok();
    }
    let set_a = a.backup("Shop", &["--kind", "storage"]);
    let at_first = stored(&root);
    assert_eq!(at_first.len(), files);

    // B's backup has its files in the shared store, not yet the set that
    // refers to them; A deletes its own set meanwhile.
    let hold = b.tmp.path().join("hold");
    let mut child = spawn_held(&b, "backup-objects", &hold);
    wait_held(&mut child, &hold);
    assert_eq!(leases(&root).len(), 1, "{:?}", leases(&root));
    a.run(&["backup-delete", &short(&set_a), "--yes"]).ok();
    assert_eq!(
        stored(&root),
        at_first,
        "files of a backup in flight were deleted"
    );
    assert!(
        activity(&a).contains("were left alone: a backup or copy on"),
        "{}",
        activity(&a)
    );

    let set_b = release(child, &hold);
    assert_eq!(set_b["status"], "completed", "{set_b}");
    objects_intact(&root, &set_name(&set_b));
    let v = b.run(&["verify", &short(&set_b)]).ok();
    assert!(v.stdout.contains("Backup intact"), "{}", v.stdout);
    assert!(leases(&root).is_empty());
}

#[test]
fn unused_files_younger_than_the_grace_period_stay_until_it_passes() {
    let pg = PgCluster::start();
    pg.create_db("shop");
    let storage = RestServer::start(KEY);
    let files = rest_fixture(&storage, 5);
    let dir = tempfile::tempdir().unwrap();
    let usb = dir.path().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    let dest = Dest::Folder(usb.clone());
    let sb = machine(&pg, &storage, Some(&dest));
    let r = sb.run(&["settings", "get", "storage-grace-hours"]).ok();
    assert!(r.stdout.contains("24"), "{}", r.stdout);
    let first = sb.backup("Shop", &["--kind", "storage"]);
    let local_root = Path::new(first["path"].as_str().unwrap())
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    // The default: files a day old at most stay, here and there.
    sb.run(&["backup-delete", &short(&first), "--yes"]).ok();
    assert_eq!(stored(&local_root).len(), files);
    assert_eq!(stored(&usb).len(), files);
    let log = activity(&sb);
    assert!(
        log.contains(&format!(
            "kept {files} unused stored Storage file(s) younger than storage-grace-hours (24 h)"
        )) && log.contains(&format!(
            "kept {files} unused stored Storage file(s) at \"offsite\" younger than"
        )),
        "{log}"
    );
    // Once they are old enough (here: at once), the next deletion removes
    // them, and the files of the set deleted with it.
    sb.run(&["settings", "set", "storage-grace-hours", "0"])
        .ok();
    let second = sb.backup("Shop", &["--kind", "storage"]);
    sb.run(&["backup-delete", &short(&second), "--yes"]).ok();
    assert!(stored(&local_root).is_empty(), "{:?}", stored(&local_root));
    assert!(stored(&usb).is_empty(), "{:?}", stored(&usb));
}
