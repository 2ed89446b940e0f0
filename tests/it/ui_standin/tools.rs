//! PostgreSQL's client programs in the window, over the stand-in engine:
//! a backup that found no pg_dump for its server offers to install them and
//! backs up again once they are; the connection test offers the same; the
//! Settings panel installs and removes them.

use super::*;
use supabackup::engine::TestReport;
use supabackup::pgtools::{PgVersion, ServerInfo, ToolOrigin, ToolSet};
use supabackup::protocol::{BackupAgain, FoundTools, TestKey, ToolsOffer};

const NEEDS_17: &str = "this server runs PostgreSQL 17.2 and the newest pg_dump found is 15.18 \
                        (/usr/lib/postgresql/15/bin), which cannot dump it";

#[test]
fn a_backup_without_a_fitting_pg_dump_offers_the_programs_then_backs_up_again() {
    let engine = StandIn::default();
    let (data, alpha, _) = two_projects();
    let mut h = unlocked(&engine, data);
    let again = BackupAgain {
        project: alpha.id,
        kind: BackupKind::Schema,
        profile: Some(Profile::Postgres),
        compression: Compression::new(Codec::Zstd, Some(7)).unwrap(),
        no_storage: true,
    };
    let offer = ToolsOffer {
        major: 17,
        message: NEEDS_17.into(),
        backup: Some(again.clone()),
    };
    // "Not now" installs nothing and runs nothing.
    feed(&mut h, &engine, Event::ToolsNeeded(Box::new(offer.clone())));
    assert!(
        h.query_by_label("Install the PostgreSQL 17 client programs?")
            .is_some()
    );
    assert!(h.query_by_label_contains("which cannot dump it").is_some());
    assert!(h.query_by_label_contains("about 12 MB").is_some());
    h.check_accessibility();
    click(&mut h, "Not now");
    nothing_sent(&engine, "Not now");
    assert!(h.state().state.tools_offer.is_none());

    feed(&mut h, &engine, Event::ToolsNeeded(Box::new(offer)));
    click(&mut h, "Download and back up");
    assert!(matches!(one_sent(&engine), Command::InstallTools(17)));
    nothing_sent(&engine, "before the install ended");
    feed(&mut h, &engine, Event::ToolsInstalled("17.11.0".into()));
    match one_sent(&engine) {
        Command::Backup {
            project,
            kind,
            profile,
            compression,
            no_storage,
        } => {
            assert_eq!(project, again.project);
            assert_eq!(kind, BackupKind::Schema);
            assert_eq!(profile, Some(Profile::Postgres));
            assert_eq!(compression, again.compression);
            assert!(no_storage);
        }
        _ => panic!("the backup was not run again"),
    }
    // A later install (from Settings) runs nothing more.
    feed(&mut h, &engine, Event::ToolsInstalled("16.15.0".into()));
    nothing_sent(&engine, "a second install");
}

fn report(major_missing: Option<u32>) -> TestReport {
    TestReport {
        db_url: "postgresql://postgres:****@db.example.com:5432/postgres".into(),
        findings: vec![],
        server: Some(ServerInfo {
            version: PgVersion {
                major: 17,
                minor: 2,
            },
            version_string: "PostgreSQL 17.2".into(),
            database_size: 1 << 20,
            ssl: true,
            has_supabase_schemas: true,
            current_user: "postgres".into(),
            superuser: false,
            database: "postgres".into(),
        }),
        connect_error: None,
        tools: None,
        tools_error: Some(NEEDS_17.into()),
        tools_missing: major_missing,
        profile: Some(Profile::Supabase),
        role: None,
        storage: None,
    }
}

#[test]
fn the_connection_test_offers_the_programs_its_server_needs() {
    let engine = StandIn::default();
    let (data, alpha, _) = two_projects();
    let mut h = unlocked(&engine, data);
    click(&mut h, "Projects");
    feed(
        &mut h,
        &engine,
        Event::Tested(TestKey::Project(alpha.id), Box::new(Ok(report(Some(17))))),
    );
    assert!(h.query_by_label_contains("which cannot dump it").is_some());
    h.check_accessibility();
    click(
        &mut h,
        "Install the PostgreSQL 17 client programs (about 12 MB)",
    );
    assert!(matches!(one_sent(&engine), Command::InstallTools(17)));
    // Another failure (no server answer) offers nothing.
    feed(
        &mut h,
        &engine,
        Event::Tested(TestKey::Project(alpha.id), Box::new(Ok(report(None)))),
    );
    assert!(
        h.query_by_label_contains("Install the PostgreSQL 17 client programs")
            .is_none()
    );
}

#[test]
fn settings_list_how_each_pg_dump_was_found_and_install_or_remove_programs() {
    let engine = StandIn::default();
    let (data, _, _) = two_projects();
    let mut h = unlocked(&engine, data);
    click(&mut h, "Settings");
    let set = |dir: &str, major, origin| ToolSet {
        dir: PathBuf::from(dir),
        origin,
        version: PgVersion { major, minor: 11 },
        pg_dump: PathBuf::from(dir).join("pg_dump"),
        pg_dumpall: Some(PathBuf::from(dir).join("pg_dumpall")),
        psql: Some(PathBuf::from(dir).join("psql")),
        pg_restore: Some(PathBuf::from(dir).join("pg_restore")),
    };
    feed(
        &mut h,
        &engine,
        Event::ToolsFound(Box::new(FoundTools {
            tools: vec![
                set("/data/tools/17.11.0/bin", 17, ToolOrigin::Managed),
                set("/usr/lib/postgresql/15/bin", 15, ToolOrigin::UsualPlace),
            ],
            searched: vec![],
        })),
    );
    assert!(
        h.query_by_label_contains("installed by supabackup")
            .is_some()
    );
    assert!(h.query_by_label_contains("usual install place").is_some());
    h.check_accessibility();
    // Only the installed one can be removed.
    assert_eq!(h.query_all_by_label_contains("Remove ").count(), 1);
    click(&mut h, "Remove 17.11.0");
    match one_sent(&engine) {
        Command::RemoveTools(v) => assert_eq!(v, "17.11.0"),
        _ => panic!("not a RemoveTools"),
    }
    pick(&mut h, "Install the client programs of PostgreSQL", "16");
    click(&mut h, "Install");
    assert!(matches!(one_sent(&engine), Command::InstallTools(16)));
}
