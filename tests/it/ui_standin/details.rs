//! A backup's details view, over the stand-in engine: the full error of a
//! failed backup wrapped inside the window and copyable; a completed set's
//! manifest in words (versions, snapshot, each file with its size and
//! SHA-256, tables with their row counts); the last check; its copies and
//! actions.

use super::*;
use supabackup::app::state::SetAction;
use supabackup::domain::{CopyState, CopyStatus, DestinationId, Part, PartInfo, TableRows};
use supabackup::engine::DestinationView;
use supabackup::engine::set::{Details, FileInfo, Manifest};
use supabackup::protocol::{CheckKind, CheckResult, SetContents};

/// An error as long as pg_dump's can be: many lines' worth, no line breaks.
fn long_error() -> String {
    let mut e = String::from("pg_dump: error: query failed: ERROR:  permission denied for table ");
    for i in 0..60 {
        e.push_str(&format!("secret_table_{i} "));
    }
    e.push_str("(the backup ran as a role that cannot read them) END-OF-ERROR");
    e
}

#[test]
fn a_failed_backups_long_error_is_wrapped_inside_the_window_whole_and_copyable() {
    let engine = StandIn::default();
    let (mut data, alpha, _) = two_projects();
    let mut failed = backup(&alpha, 30, BackupStatus::Failed);
    let error = long_error();
    failed.error = Some(error.clone());
    data.backups = vec![failed.clone()];
    let mut h = unlocked(&engine, data);
    click(&mut h, "Backups");
    row_action(&mut h, 0, "Details");
    nothing_sent(&engine, "the details of a failed backup (no set to read)");
    assert!(
        h.query_by_label_contains("it has no backup set to read")
            .is_some()
    );
    h.check_accessibility();
    let width = 1280.0;
    // The row shows its start; the details view the whole of it.
    assert_eq!(h.query_all_by_label(&error).count(), 2);
    let rect = h
        .query_all_by_label(&error)
        .map(|n| n.rect())
        .max_by(|a, b| a.height().total_cmp(&b.height()))
        .unwrap();
    assert!(
        rect.max.x <= width && rect.min.x >= 0.0,
        "the error runs off the window: {rect:?}"
    );
    let line = 20.0;
    assert!(
        rect.height() > 5.0 * line,
        "wrapped over many lines, not cut: {rect:?}"
    );
    // Copy error puts the whole of it on the clipboard.
    h.get_by_label(supabackup::app::COPY_ERROR).hover();
    settle(&mut h, supabackup::app::COPY_ERROR);
    h.get_by_label(supabackup::app::COPY_ERROR).click();
    let mut copied: Vec<String> = Vec::new();
    for _ in 0..3 {
        h.step();
        copied.extend(
            h.output()
                .platform_output
                .commands
                .iter()
                .filter_map(|c| match c {
                    egui::OutputCommand::CopyText(t) => Some(t.clone()),
                    _ => None,
                }),
        );
    }
    assert_eq!(copied, vec![error.clone()]);
    // A failed backup cannot be verified or restored; it can be deleted.
    assert!(h.get_by_label("Restore…").accesskit_node().is_disabled());
    h.get_all_by_label("Delete…").last().unwrap().click();
    h.step();
    h.step();
    assert!(matches!(
        h.state().state.confirm,
        Some(Confirm::DeleteBackup(id, _)) if id == failed.id
    ));
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(h.state().state.confirm.is_none());
    assert!(
        h.state().state.details.is_some(),
        "Esc closes the dialog first"
    );
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(h.state().state.details.is_none(), "then the details");
}

pub(super) fn contents(b: &Backup) -> SetContents {
    let part = |part, file: &str, bytes, hex: char| PartInfo {
        part,
        file: file.into(),
        bytes,
        raw_bytes: bytes * 5,
        sha256: hex.to_string().repeat(64),
    };
    SetContents {
        manifest: Manifest {
            format: 3,
            tool: "supabackup 0.1.0".into(),
            id: b.id,
            project_id: b.project_id,
            project_name: b.project_name.clone(),
            environment: "production".into(),
            kind: BackupKind::Full,
            profile: Profile::Supabase,
            compression: Compression::new(Codec::Zstd, Some(7)).unwrap(),
            started_at: b.started_at,
            finished_at: b.finished_at.unwrap(),
            parts: vec![
                part(Part::Roles, "roles.sql.zst", 900, 'a'),
                part(Part::PreData, "pre-data.sql.zst", 12_000, 'b'),
                part(Part::Data, "data.sql.zst", 3 << 20, 'c'),
                part(Part::PostData, "post-data.sql.zst", 4_000, 'd'),
            ],
            encryption: None,
            details: Some(FileInfo {
                file: "details.json".into(),
                bytes: 321,
                sha256: "e".repeat(64),
            }),
            storage: None,
            objects: None,
            inline_details: Details::default(),
        },
        details: Some(Details {
            source: "postgresql://postgres:****@db.example.com:5432/postgres".into(),
            server_version: "17.2".into(),
            pg_dump_version: "17.4".into(),
            snapshot: Some("00000003-0000001B-1".into()),
            tables: vec![
                TableRows {
                    schema: "public".into(),
                    table: "orders".into(),
                    rows: 1234,
                },
                TableRows {
                    schema: "auth".into(),
                    table: "users".into(),
                    rows: 56,
                },
            ],
            roles: vec!["authenticator".into()],
            schemas: vec!["public".into(), "auth".into()],
            role_passwords: Some(false),
            logins_without_password: vec![],
        }),
        details_note: None,
    }
}

#[test]
fn a_completed_backups_details_read_its_manifest_and_offer_its_actions() {
    let engine = StandIn::default();
    let (mut data, alpha, _) = two_projects();
    let nas = DestinationView {
        id: DestinationId::new(),
        name: "nas".into(),
        kind: "folder",
        location: "/mnt/nas".into(),
        projects: vec!["Alpha".into()],
        schedules: vec![],
        created_at: chrono::Utc::now(),
    };
    let mut b = backup(&alpha, 30, BackupStatus::Completed);
    b.extra.copies = vec![CopyState {
        destination: nas.id,
        status: CopyStatus::Copied,
        at: chrono::Utc::now(),
        attempts: 1,
    }];
    data.backups = vec![b.clone()];
    data.destinations = vec![nas.clone()];
    let mut h = unlocked(&engine, data);
    click(&mut h, "Backups");
    row_action(&mut h, 0, "Details");
    match one_sent(&engine) {
        Command::LoadSetContents(id) => assert_eq!(id, b.id),
        _ => panic!("LoadSetContents expected"),
    }
    assert!(h.query_by_label("Reading its manifest…").is_some());
    // The engine's answer for another backup is not this one's.
    feed(
        &mut h,
        &engine,
        Event::SetContents(BackupId::new(), Box::new(Err("no".into()))),
    );
    assert!(h.query_by_label("Reading its manifest…").is_some());
    feed(
        &mut h,
        &engine,
        Event::SetContents(b.id, Box::new(Ok(contents(&b)))),
    );
    for shown in [
        "PostgreSQL 17.2",
        "17.4",
        "00000003-0000001B-1",
        "supabase",
        "zstd:7",
        "none",
        "data.sql.zst",
        "3.0 MiB",
        &format!("sha256 {}", "c".repeat(64)),
        &format!("sha256 {}", "e".repeat(64)),
        "Tables: 2 with 1,290 rows",
        "public.orders",
        "1,234",
        "auth.users",
    ] {
        assert!(h.query_by_label(shown).is_some(), "{shown:?} not shown");
    }
    assert!(
        h.query_by_label_contains("Not verified or drilled yet")
            .is_some()
    );
    h.check_accessibility();
    // Its actions.
    click(&mut h, "Verify copy at nas");
    match one_sent(&engine) {
        Command::VerifyCopy {
            backup,
            destination,
        } => assert_eq!((backup, destination), (b.id, nas.id)),
        _ => panic!("VerifyCopy expected"),
    }
    feed(
        &mut h,
        &engine,
        Event::Checked(CheckResult {
            backup: b.id,
            kind: CheckKind::VerifyCopy("nas".into()),
            ok: false,
            message: "Backup x: the copy at \"nas\" is damaged: data.sql.zst does not match".into(),
            at: chrono::Utc::now(),
        }),
    );
    assert!(
        h.query_by_label("Verify of the copy at \"nas\" failed just now")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("data.sql.zst does not match")
            .is_some()
    );
    click(&mut h, "Pin");
    assert!(matches!(one_sent(&engine), Command::SetPinned(id, true) if id == b.id));
    h.get_all_by_label("Restore drill…").last().unwrap().click();
    h.step();
    h.step();
    let d = h
        .state()
        .state
        .restore_dialog
        .as_ref()
        .expect("the drill dialog");
    assert_eq!((d.backup, d.action), (b.id, SetAction::Drill));
}
