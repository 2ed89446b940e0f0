//! Choosing a pg_dump when several versions are installed.

use crate::cli::Sb;
use crate::pg::PgCluster;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A folder with pg_dump/pg_dumpall/psql scripts that report `version`.
fn fake_tools(root: &Path, version: &str) -> PathBuf {
    let dir = root.join(format!("pg-{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    for tool in ["pg_dump", "pg_dumpall", "psql"] {
        let p = dir.join(tool);
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho \"{tool} (PostgreSQL) {version}\"\n"),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

#[test]
fn the_oldest_new_enough_pg_dump_is_chosen_and_a_too_old_one_is_named() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    let v17 = fake_tools(sb.tmp.path(), "17.2");
    let v9 = fake_tools(sb.tmp.path(), "9.6.24");
    let path = std::env::join_paths(
        [v17.clone(), v9.clone()]
            .into_iter()
            .chain(std::env::split_paths(&std::env::var("PATH").unwrap())),
    )
    .unwrap();
    let path = path.to_str().unwrap();
    sb.run_env(
        &[
            "project",
            "add",
            "--name",
            "P",
            "--db-url",
            &pg.url("postgres"),
        ],
        &[("PATH", path)],
    )
    .ok();
    let server = pg.psql("postgres", "SHOW server_version");
    let major: u32 = server.split('.').next().unwrap().parse().unwrap();

    let r = sb
        .run_env(&["project", "test", "P", "--json"], &[("PATH", path)])
        .ok();
    let v = r.json();
    let chosen = v["tools"]["version"]["major"].as_u64().unwrap() as u32;
    assert!(chosen >= major);
    if major < 17 {
        assert_ne!(
            chosen, 17,
            "a newer pg_dump than needed was chosen: {}",
            r.stdout
        );
    }

    // `info` lists every version found.
    let i = sb
        .run_env(&["info", "--json"], &[("PATH", path)])
        .ok()
        .json();
    let majors: Vec<u64> = i["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["version"]["major"].as_u64().unwrap())
        .collect();
    assert!(majors.contains(&17) && majors.contains(&9), "{majors:?}");

    // Pinning a too-old folder names both versions and what to install.
    sb.run(&["settings", "set", "pg-bin-dir", v9.to_str().unwrap()])
        .ok();
    let r = sb
        .run_env(&["project", "test", "P"], &[("PATH", path)])
        .expect_code(1);
    assert!(
        r.stdout
            .contains(&format!("this server runs PostgreSQL {major}."))
            && r.stdout.contains("the newest pg_dump found is 9.6"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("the pg-bin-dir setting picks that folder"),
        "{}",
        r.stdout
    );
}
