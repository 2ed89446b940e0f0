//! Off-site copies in the window, over the stand-in engine: destinations
//! added (tested first), tested and removed in Settings; "copy to" in the
//! project form; each copy's state in the Backups table; "Sync copies"
//! with progress and cancel; deleting a backup says its copies go too.

use super::*;
use supabackup::app::destinations::DestinationTest;
use supabackup::domain::{CopyState, CopyStatus, DestinationId, DestinationKind};
use supabackup::engine::DestinationView;
use supabackup::protocol::{CopiesChange, SYNC_TASK};

pub(super) fn destination(name: &str, kind: &'static str, projects: &[&str]) -> DestinationView {
    DestinationView {
        id: DestinationId::new(),
        name: name.into(),
        kind,
        location: match kind {
            "s3" => format!("s3://backups/{name} at https://s3.example.com (key AKIA****)"),
            _ => format!("/mnt/{name}"),
        },
        projects: projects.iter().map(|p| p.to_string()).collect(),
        schedules: Vec::new(),
        created_at: chrono::Utc::now(),
    }
}

/// Is the checkbox labelled `label` ticked?
fn ticked(h: &H, label: &str) -> bool {
    h.get_by_role_and_label(Role::CheckBox, label)
        .accesskit_node()
        .toggled()
        == Some(egui::accesskit::Toggled::True)
}

#[test]
fn a_folder_destination_is_checked_then_tested_by_the_engine_before_it_is_added() {
    let engine = StandIn::default();
    let (data, _, _) = two_projects();
    let mut h = unlocked(&engine, data);
    click(&mut h, "Settings");
    assert!(h.query_by_label("No destinations yet.").is_some());
    click(&mut h, "Add destination…");
    click(&mut h, "A folder");
    type_in(&mut h, "Destination name", "nas");
    click(&mut h, "Test and add");
    nothing_sent(&engine, "a form without a folder");
    assert!(h.query_by_label_contains("choose a folder").is_some());
    h.check_accessibility();
    type_in(&mut h, "Folder", "/mnt/nas/supabackup");
    assert!(
        h.query_by_label_contains("choose a folder").is_none(),
        "the error goes as the user types"
    );
    click(&mut h, "Browse…");
    assert!(matches!(one_sent(&engine), Command::PickDestinationFolder));
    click(&mut h, "Test and add");
    match one_sent(&engine) {
        Command::AddDestination(input) => {
            assert_eq!(input.name, "nas");
            assert!(input.secret.is_none());
            match input.kind {
                DestinationKind::Folder { path } => {
                    assert_eq!(path, PathBuf::from("/mnt/nas/supabackup"))
                }
                DestinationKind::S3 { .. } => panic!("a folder expected"),
            }
        }
        _ => panic!("AddDestination expected"),
    }
    assert!(h.query_by_label("Testing the destination…").is_some());
    // The engine's test failed: the form stays, saying why.
    let why = "destination \"nas\": /mnt/nas/supabackup is not writable: nothing was added";
    feed(&mut h, &engine, Event::DestinationRefused(why.into()));
    assert!(h.state().state.destination_form.is_some());
    assert!(h.query_by_label(why).is_some());
    click(&mut h, "Test and add");
    assert!(matches!(one_sent(&engine), Command::AddDestination(_)));
    feed(
        &mut h,
        &engine,
        Event::DestinationAdded {
            name: "nas".into(),
            tested: Some("wrote, read back and deleted a test file".into()),
        },
    );
    assert!(h.state().state.destination_form.is_none());
    assert!(
        h.state().state.toasts.iter().any(|t| t.ok
            && t.text == "Added destination \"nas\": wrote, read back and deleted a test file")
    );
}

#[test]
fn an_s3_destination_sends_its_fields_and_its_secret_is_never_shown() {
    let engine = StandIn::default();
    let (data, _, _) = two_projects();
    let mut h = unlocked(&engine, data);
    click(&mut h, "Settings");
    click(&mut h, "Add destination…");
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzEXAMPLEKEY";
    for (label, text) in [
        ("Destination name", "offsite"),
        ("Bucket and prefix", "s3://my-backups/shop"),
        ("Endpoint URL", "http://127.0.0.1:9000"),
        ("Region", "us-east-1"),
        ("Access key id", "AKIAIOSFODNN7EXAMPLE"),
        ("Secret access key", secret),
    ] {
        type_in(&mut h, label, text);
    }
    click(
        &mut h,
        "Path-style addressing (MinIO, most self-hosted servers)",
    );
    assert_no_secret("the destination form", screen_text(&h), secret);
    h.check_accessibility();
    click(&mut h, "Test and add");
    match one_sent(&engine) {
        Command::AddDestination(input) => {
            assert_eq!(input.secret.as_deref().map(|s| s.as_str()), Some(secret));
            match input.kind {
                DestinationKind::S3 {
                    endpoint,
                    region,
                    bucket,
                    prefix,
                    path_style,
                    access_key_id,
                } => {
                    assert_eq!(endpoint, "http://127.0.0.1:9000");
                    assert_eq!(region, "us-east-1");
                    assert_eq!((bucket.as_str(), prefix.as_str()), ("my-backups", "shop"));
                    assert!(path_style);
                    assert_eq!(access_key_id, "AKIAIOSFODNN7EXAMPLE");
                }
                DestinationKind::Folder { .. } => panic!("S3 expected"),
            }
        }
        _ => panic!("AddDestination expected"),
    }
    // A field the engine refuses is shown at that field.
    feed(
        &mut h,
        &engine,
        Event::DestinationInvalid(supabackup::domain::ValidationErrors(vec![
            supabackup::domain::ValidationError::new("name", "is taken by another destination"),
        ])),
    );
    assert!(
        h.query_by_label("is taken by another destination")
            .is_some()
    );
    assert!(!h.state().state.destination_form.as_ref().unwrap().busy);
}

#[test]
fn a_saved_destination_is_tested_and_removed_only_after_confirmation() {
    let engine = StandIn::default();
    let (mut data, _, _) = two_projects();
    let nas = destination("nas", "folder", &["Alpha"]);
    data.destinations = vec![nas.clone()];
    let mut h = unlocked(&engine, data);
    click(&mut h, "Settings");
    assert!(h.query_by_label("/mnt/nas").is_some());
    assert!(h.query_by_label("Copied to by \"Alpha\".").is_some());
    click(&mut h, "Test nas");
    match one_sent(&engine) {
        Command::TestDestination(id) => assert_eq!(id, nas.id),
        _ => panic!("TestDestination expected"),
    }
    assert_eq!(
        h.state().state.destination_tests.get(&nas.id),
        Some(&DestinationTest::Running)
    );
    let why = "destination \"nas\": /mnt/nas is not mounted (no such folder)";
    feed(
        &mut h,
        &engine,
        Event::DestinationTested(nas.id, Err(why.into())),
    );
    assert!(h.query_by_label(why).is_some());
    click(&mut h, "Remove nas…");
    nothing_sent(&engine, "asking to remove");
    assert!(
        h.query_by_label_contains("These no longer copy there: project \"Alpha\".")
            .is_some()
    );
    h.get_all_by_label("Remove").last().unwrap().click();
    h.step();
    h.step();
    match one_sent(&engine) {
        Command::RemoveDestination(id) => assert_eq!(id, nas.id),
        _ => panic!("RemoveDestination expected"),
    }
}

#[test]
fn the_project_form_ticks_destinations_and_sends_only_a_change() {
    let engine = StandIn::default();
    let (mut data, mut alpha, _) = two_projects();
    let (nas, offsite) = (
        destination("nas", "folder", &["Alpha"]),
        destination("offsite", "s3", &[]),
    );
    alpha.copy_to = vec!["nas".into()];
    data.projects[0] = alpha.clone();
    data.destinations = vec![nas.clone(), offsite.clone()];
    let mut h = unlocked(&engine, data);
    click(&mut h, "Projects");
    assert!(h.query_by_label("nas").is_some(), "the card says where");
    let edit = |h: &mut H| {
        h.get_all_by_label("Edit").next().unwrap().click();
        h.step();
        h.step();
        // The form asks for its secrets.
        let sent = engine.take();
        assert!(sent.iter().all(|c| matches!(c, Command::Reveal { .. })));
        h.state_mut().state.project_form.as_mut().unwrap().db_url =
            Zeroizing::new("postgresql://postgres:pw@db.example.com:5432/postgres".into());
        h.step();
    };
    edit(&mut h);
    assert!(ticked(&h, "Copy to nas"));
    assert!(!ticked(&h, "Copy to offsite"));
    h.check_accessibility();
    // Untouched: the copies are left as they are.
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject { id, copies, .. } => {
            assert_eq!(id, Some(alpha.id));
            assert_eq!(copies, None);
        }
        _ => panic!("SaveProject expected"),
    }
    feed(&mut h, &engine, Event::ProjectSaved("Alpha".into()));
    edit(&mut h);
    click(&mut h, "Copy to offsite");
    click(
        &mut h,
        "Keep backups only at the destinations (the local folder goes once every copy is \
         verified)",
    );
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject { copies, .. } => assert_eq!(
            copies,
            Some(CopiesChange {
                copy_to: vec![nas.id, offsite.id],
                remote_only: true,
            })
        ),
        _ => panic!("SaveProject expected"),
    }
    // The engine refuses remote-only at its field: the form says so.
    feed(
        &mut h,
        &engine,
        Event::ProjectInvalid(supabackup::domain::ValidationErrors(vec![
            supabackup::domain::ValidationError::new(
                "remote_only",
                "needs at least one destination to copy to",
            ),
        ])),
    );
    assert!(
        h.query_by_label("needs at least one destination to copy to")
            .is_some()
    );
    // Unticking every destination turns remote-only off with them.
    click(&mut h, "Copy to nas");
    click(&mut h, "Copy to offsite");
    let f = h.state().state.project_form.as_ref().unwrap();
    assert!(f.copy_to.is_empty() && !f.remote_only);
    assert_eq!(
        f.copies_change(),
        Some(CopiesChange {
            copy_to: vec![],
            remote_only: false
        })
    );
}

#[test]
fn the_backups_table_shows_each_copys_state_with_the_failure_in_its_tooltip() {
    let engine = StandIn::default();
    let (mut data, alpha, _) = two_projects();
    let (nas, offsite) = (
        destination("nas", "folder", &["Alpha"]),
        destination("offsite", "s3", &["Alpha"]),
    );
    let mut b = backup(&alpha, 5, BackupStatus::Completed);
    let error = "destination \"offsite\": the access key id or secret is wrong (403 \
                 SignatureDoesNotMatch)";
    b.extra.copies = vec![
        CopyState {
            destination: nas.id,
            status: CopyStatus::Copied,
            at: chrono::Utc::now(),
            attempts: 1,
        },
        CopyState {
            destination: offsite.id,
            status: CopyStatus::Failed {
                error: error.into(),
            },
            at: chrono::Utc::now(),
            attempts: 3,
        },
    ];
    let plain = backup(&alpha, 60, BackupStatus::Completed);
    data.backups = vec![b.clone(), plain];
    data.destinations = vec![nas, offsite];
    let mut h = unlocked(&engine, data);
    click(&mut h, "Backups");
    assert!(h.query_by_label("nas: copied").is_some());
    assert!(h.query_by_label("offsite: failed").is_some());
    assert_eq!(
        h.query_all_by_label_contains(": copied").count(),
        1,
        "a backup without copies shows none"
    );
    assert!(h.query_by_label_contains("SignatureDoesNotMatch").is_none());
    h.get_by_label("offsite: failed").hover();
    // A tooltip waits for the pointer to rest.
    for _ in 0..45 {
        h.step();
    }
    assert!(
        h.query_by_label_contains("SignatureDoesNotMatch").is_some(),
        "the tooltip says why"
    );
    assert!(h.query_by_label_contains("(attempt 3)").is_some());
    // Deleting it says its copies go too.
    row_action(&mut h, 0, "Details");
    assert!(matches!(one_sent(&engine), Command::LoadSetContents(id) if id == b.id));
    h.get_by_label("Delete…").hover();
    settle(&mut h, "Delete…");
    click(&mut h, "Delete…");
    assert!(
        h.query_by_label_contains(
            "its files and its copies at \"nas\", \"offsite\" will be deleted"
        )
        .is_some()
    );
    h.get_all_by_label("Delete").last().unwrap().click();
    h.step();
    h.step();
    match one_sent(&engine) {
        Command::DeleteBackup(id) => assert_eq!(id, b.id),
        _ => panic!("DeleteBackup expected"),
    }
}

#[test]
fn sync_copies_runs_as_a_task_with_live_progress_and_cancel() {
    let engine = StandIn::default();
    let (mut data, _, _) = two_projects();
    let mut h = unlocked(&engine, data.clone());
    click(&mut h, "Backups");
    assert!(
        h.query_by_label("Sync copies").is_none(),
        "nothing to sync to without destinations"
    );
    data.destinations = vec![destination("nas", "folder", &["Alpha"])];
    feed(&mut h, &engine, Event::Data(Box::new(data)));
    click(&mut h, "Sync copies");
    assert!(matches!(one_sent(&engine), Command::Sync(None)));
    let progress = std::sync::Arc::new(Progress::new());
    progress.set_total(4 << 20);
    progress.set_read(1 << 20);
    progress.set_current("copying to nas");
    let cancel = CancelToken::new();
    feed(
        &mut h,
        &engine,
        Event::TaskStarted(TaskInfo {
            id: 7,
            label: SYNC_TASK.into(),
            project: None,
            is_backup: false,
            progress: progress.clone(),
            cancel: cancel.clone(),
        }),
    );
    assert!(
        h.get_by_role_and_label(Role::Button, "Sync copies")
            .accesskit_node()
            .is_disabled(),
        "one sync at a time"
    );
    assert!(h.query_by_label("copying to nas").is_some());
    assert!(h.query_by_label_contains("25%").is_some());
    h.get_all_by_label("Cancel").next().unwrap().click();
    h.step();
    assert!(cancel.is_cancelled());
    nothing_sent(&engine, "cancel (a shared switch, not a command)");
    feed(
        &mut h,
        &engine,
        Event::TaskFinished {
            id: 7,
            ok: false,
            message: "Sync cancelled: the copies not made yet stay pending".into(),
        },
    );
    assert!(
        !h.get_by_role_and_label(Role::Button, "Sync copies")
            .accesskit_node()
            .is_disabled()
    );
}
