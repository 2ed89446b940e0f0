//! `supabackup tools`: PostgreSQL's client programs fetched for this
//! machine from a mirror (a local HTTP server serving the real archives),
//! checked against their published SHA-256, and used by backups when the
//! machine's own pg_dump is too old.

use crate::cli::Sb;
use crate::mirror::{self, Mirror, Mode};
use crate::pg::{PgCluster, suite_major};
use std::path::{Path, PathBuf};

const TARGET: &str = "x86_64-unknown-linux-gnu";
/// What `tools install 17` picks (the newest 17.x this build knows).
const V17: &str = "17.11.0";

/// The tools folder holds no install and no leftovers.
#[track_caller]
fn nothing_installed(sb: &Sb) {
    let dir = sb.data_dir().join("tools");
    let left: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
    let list = sb.run(&["tools", "list", "--json"]).ok().json();
    assert!(list["installed"].as_array().unwrap().is_empty(), "{list}");
}

/// A mirror folder holding the 17 archive, with or without its checksum.
fn mirror_folder(with_checksum: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join(V17);
    std::fs::create_dir_all(&v).unwrap();
    let archive = mirror::archive(V17, TARGET);
    let name = archive.file_name().unwrap().to_owned();
    std::fs::copy(&archive, v.join(&name)).unwrap();
    if with_checksum {
        let sums = PathBuf::from(format!("{}.sha256", archive.display()));
        std::fs::copy(&sums, v.join(format!("{}.sha256", name.to_string_lossy()))).unwrap();
    }
    dir
}

fn is_linux_x86_64() -> bool {
    cfg!(all(target_os = "linux", target_arch = "x86_64"))
}

#[test]
fn a_postgresql_17_server_is_backed_up_with_installed_programs_when_the_machines_pg_dump_is_older()
{
    if !is_linux_x86_64() || suite_major() >= 17 {
        eprintln!("skipped: needs a machine whose own PostgreSQL is older than 17");
        return;
    }
    let pg = PgCluster::start_major(17);
    pg.psql(
        "postgres",
        "CREATE TABLE orders (id int PRIMARY KEY, note text); \
         INSERT INTO orders SELECT g, 'n' || g FROM generate_series(1, 500) g;",
    );
    let sb = Sb::new();
    sb.run(&[
        "project",
        "add",
        "--name",
        "P17",
        "--db-url",
        &pg.url("postgres"),
    ])
    .ok();

    // The machine's pg_dump cannot dump 17: one sentence with the command.
    let r = sb.run(&["project", "test", "P17"]);
    assert!(
        r.stdout.contains("supabackup tools install 17"),
        "{}",
        r.stdout
    );
    let r = sb.run(&["backup", "P17"]).expect_code(1);
    assert!(r.stderr.contains("runs PostgreSQL 17."), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("run `supabackup tools install 17` (downloads about"),
        "{}",
        r.stderr
    );
    nothing_installed(&sb);

    let server = Mirror::serve(&mirror::archives());
    let r = sb
        .run(&["tools", "install", "17", "--mirror", &server.url])
        .ok();
    assert!(
        r.stdout
            .contains(&format!("Installed PostgreSQL {V17} client programs")),
        "{}",
        r.stdout
    );
    let installed = sb.data_dir().join("tools").join(V17);
    let mut kept: Vec<String> = walk(&installed)
        .into_iter()
        .map(|p| p.strip_prefix(&installed).unwrap().display().to_string())
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            "bin/pg_dump",
            "bin/pg_dumpall",
            "bin/pg_restore",
            "bin/psql",
            "lib/libpq.so.5",
            "supabackup-tools.json"
        ],
        "only the client programs and the library they load are kept"
    );
    let list = sb.run(&["tools", "list", "--json"]).ok().json();
    let managed: Vec<&serde_json::Value> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["origin"] == "managed")
        .collect();
    assert_eq!(managed.len(), 1, "{list}");
    assert_eq!(managed[0]["version"]["major"], 17);
    assert_eq!(list["installed"][0]["version"], V17);

    let r = sb.run(&["backup", "P17"]).ok();
    assert!(
        r.stdout.contains(&format!(
            "Made with pg_dump 17.11 (installed by supabackup: {}",
            installed.join("bin").join("pg_dump").display()
        )),
        "{}",
        r.stdout
    );
    let backups = sb.backups();
    let done: Vec<&serde_json::Value> = backups
        .iter()
        .filter(|b| b["status"] == "completed")
        .collect();
    assert_eq!(done.len(), 1, "{backups:?}");
    let failed = backups.iter().find(|b| b["status"] == "failed").unwrap();
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("supabackup tools install 17"),
        "{failed}"
    );
    let id = done[0]["id"].as_str().unwrap().to_string();
    sb.run(&["verify", &id]).ok();
    pg.create_db("copy");
    sb.run(&["restore", &id, "--to-url", &pg.url("copy")]).ok();
    assert_eq!(pg.psql("copy", "SELECT count(*) FROM orders"), "500");
}

#[test]
fn backup_install_tools_installs_from_the_configured_mirror_first() {
    if !is_linux_x86_64() || suite_major() >= 17 {
        eprintln!("skipped: needs a machine whose own PostgreSQL is older than 17");
        return;
    }
    let pg = PgCluster::start_major(17);
    let sb = Sb::new();
    let folder = mirror_folder(true);
    sb.run(&[
        "settings",
        "set",
        "tools-mirror",
        folder.path().to_str().unwrap(),
    ])
    .ok();
    sb.run(&[
        "project",
        "add",
        "--name",
        "P",
        "--db-url",
        &pg.url("postgres"),
    ])
    .ok();
    let r = sb.run(&["backup", "P", "--install-tools"]).ok();
    assert!(
        r.stdout
            .contains("Made with pg_dump 17.11 (installed by supabackup"),
        "{}",
        r.stdout
    );
    let log = std::fs::read_to_string(sb.data_dir().join("supabackup.log")).unwrap();
    assert!(
        log.contains(&format!("installed PostgreSQL {V17} client programs")),
        "{log}"
    );
}

#[test]
fn a_tampered_cut_off_unchecked_or_unreachable_download_installs_nothing() {
    if !is_linux_x86_64() {
        return;
    }
    let sb = Sb::new();
    let server = Mirror::serve(&mirror::archives());

    server.set_mode(Mode::Tampered);
    let r = sb
        .run(&["tools", "install", "17", "--mirror", &server.url])
        .expect_code(1);
    assert!(
        r.stderr.contains("does not match its published SHA-256"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("nothing was installed"), "{}", r.stderr);
    nothing_installed(&sb);

    server.set_mode(Mode::CutOff);
    let r = sb
        .run(&["tools", "install", "17", "--mirror", &server.url])
        .expect_code(1);
    assert!(r.stderr.contains("was cut off"), "{}", r.stderr);
    nothing_installed(&sb);

    // A checksum file that names other bytes.
    let folder = mirror_folder(true);
    let sums = folder
        .path()
        .join(V17)
        .join(format!("postgresql-{V17}-{TARGET}.tar.gz.sha256"));
    std::fs::write(
        &sums,
        format!("{}  postgresql-{V17}-{TARGET}.tar.gz\n", "ab".repeat(32)),
    )
    .unwrap();
    let r = sb
        .run(&[
            "tools",
            "install",
            "17",
            "--mirror",
            folder.path().to_str().unwrap(),
        ])
        .expect_code(1);
    assert!(
        r.stderr.contains("does not match its published SHA-256"),
        "{}",
        r.stderr
    );
    nothing_installed(&sb);

    // No checksum at all: refused.
    let folder = mirror_folder(false);
    let r = sb
        .run(&[
            "tools",
            "install",
            "17",
            "--mirror",
            folder.path().to_str().unwrap(),
        ])
        .expect_code(1);
    assert!(r.stderr.contains("there is no checksum at"), "{}", r.stderr);
    nothing_installed(&sb);

    // Nobody listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = sb
        .run(&[
            "tools",
            "install",
            "17",
            "--mirror",
            &format!("http://127.0.0.1:{closed}"),
        ])
        .expect_code(1);
    assert!(
        r.stderr.contains("cannot reach http://127.0.0.1:"),
        "{}",
        r.stderr
    );
    nothing_installed(&sb);

    // A version the mirror does not have; a version that is none.
    server.set_mode(Mode::Honest);
    let r = sb
        .run(&["tools", "install", "16.99.0", "--mirror", &server.url])
        .expect_code(1);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    let r = sb.run(&["tools", "install", "seventeen"]).expect_code(2);
    assert!(
        r.stderr.contains("is not a PostgreSQL version"),
        "{}",
        r.stderr
    );
    let r = sb
        .run(&["tools", "install", "17", "--mirror", "ftp://x/"])
        .expect_code(2);
    assert!(
        r.stderr.contains("only http://, https:// and folders"),
        "{}",
        r.stderr
    );
    nothing_installed(&sb);
}

#[test]
fn an_archive_downloaded_by_hand_installs_with_its_checksum_and_is_removed_again() {
    if !is_linux_x86_64() {
        return;
    }
    let sb = Sb::new();
    let hand = tempfile::tempdir().unwrap();
    let archive = mirror::archive(V17, TARGET);
    let copy = hand.path().join(archive.file_name().unwrap());
    std::fs::copy(&archive, &copy).unwrap();
    let published = std::fs::read_to_string(format!("{}.sha256", archive.display())).unwrap();
    let hex = published.split_whitespace().next().unwrap().to_string();

    // No checksum given and none beside it: refused.
    let r = sb
        .run(&["tools", "install", "--from", copy.to_str().unwrap()])
        .expect_code(1);
    assert!(r.stderr.contains("give --sha256 HEX"), "{}", r.stderr);
    nothing_installed(&sb);
    // A wrong one: refused.
    let r = sb
        .run(&[
            "tools",
            "install",
            "--from",
            copy.to_str().unwrap(),
            "--sha256",
            &"0".repeat(64),
        ])
        .expect_code(1);
    assert!(
        r.stderr.contains("does not match its published SHA-256"),
        "{}",
        r.stderr
    );
    nothing_installed(&sb);
    // The right one.
    let r = sb
        .run(&[
            "tools",
            "install",
            "--from",
            copy.to_str().unwrap(),
            "--sha256",
            &hex,
            "--json",
        ])
        .ok();
    let v = r.json();
    assert_eq!(v["version"], V17);
    assert_eq!(v["archive_sha256"], hex);
    let r = sb.run(&[
        "tools",
        "install",
        "--from",
        copy.to_str().unwrap(),
        "--sha256",
        &hex,
    ]);
    assert_eq!(r.code, 2, "installing twice is refused: {}", r.stderr);
    assert!(r.stderr.contains("installed already"), "{}", r.stderr);

    // Another system's archive is refused before anything is read.
    let windows = hand
        .path()
        .join(format!("postgresql-{V17}-x86_64-pc-windows-msvc.tar.gz"));
    std::fs::write(&windows, b"not read").unwrap();
    let r = sb
        .run(&[
            "tools",
            "install",
            "--from",
            windows.to_str().unwrap(),
            "--sha256",
            &hex,
        ])
        .expect_code(2);
    assert!(
        r.stderr
            .contains("holds programs for x86_64-pc-windows-msvc"),
        "{}",
        r.stderr
    );

    let r = sb.run(&["tools", "remove", V17]).ok();
    assert!(r.stdout.contains("Removed"), "{}", r.stdout);
    nothing_installed(&sb);
    sb.run(&["tools", "remove", V17]).expect_code(2);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
