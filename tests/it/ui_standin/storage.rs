//! Supabase Storage files in the window, over the stand-in engine: the
//! project form's "Supabase Storage files" section (S3 keys, the secret
//! never shown back, the REST API URL, buckets, which access is used), and
//! the backup dialog's `storage` kind and "Leave out the Storage files".

use super::*;
use supabackup::domain::{StorageS3, ValidationError, ValidationErrors};
use supabackup::engine::storage::StorageView;

const ENDPOINT: &str = "https://abcdefghij.storage.supabase.co/storage/v1/s3";
const SECRET: &str = "s3-secret-Qw7zR9vK2";

/// A project whose Storage is reached with S3 keys (the secret sealed).
fn with_s3(mut p: ProjectView) -> ProjectView {
    p.storage = Some(StorageView {
        kind: "s3",
        access: format!("S3 at {ENDPOINT} (region eu-central-1, access key ****9XYZ)"),
        api_url: Some("https://abcdefghij.supabase.co/storage/v1".into()),
        api_url_derived: true,
        s3: Some(StorageS3 {
            endpoint: ENDPOINT.into(),
            region: "eu-central-1".into(),
            access_key_id: "****9XYZ".into(),
        }),
        include_buckets: Vec::new(),
        exclude_buckets: vec!["tmp".into()],
    });
    p
}

#[test]
fn a_new_project_sends_its_s3_keys_and_buckets_and_never_shows_the_secret() {
    let engine = StandIn::default();
    let (data, _alpha, _beta) = two_projects();
    let mut h = unlocked(&engine, data);
    new_project_form(&mut h);
    assert!(
        h.query_by_label_contains("Storage access: the database only")
            .is_some(),
        "no keys yet: the database only"
    );
    type_in(&mut h, "S3 endpoint", ENDPOINT);
    type_in(&mut h, "S3 region", "eu-central-1");
    type_in(&mut h, "S3 access key id", "AKID9XYZ");
    click(&mut h, "Save");
    nothing_sent(&engine, "S3 keys without their secret");
    assert!(
        h.query_by_label_contains("is required: the secret access key")
            .is_some(),
        "the missing secret is said at its field"
    );
    h.check_accessibility();
    type_in(&mut h, "S3 secret", SECRET);
    type_in(&mut h, "Include buckets", "avatars, docs");
    assert!(
        h.query_by_label_contains("is required: the secret access key")
            .is_none(),
        "the error goes as the user types"
    );
    assert!(
        h.query_by_label_contains(&format!("Storage access: S3 at {ENDPOINT}"))
            .is_some(),
        "says S3 will be used"
    );
    // Masked, even with the other secrets shown.
    assert_no_secret("the form", screen_text(&h), SECRET);
    click(&mut h, "Show secrets");
    assert_no_secret("the form with secrets shown", screen_text(&h), SECRET);
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject {
            id, input, storage, ..
        } => {
            assert_eq!(id, None);
            assert_eq!(input.name, "Gamma Shop");
            let patch = storage.expect("the Storage access is sent");
            let s3 = patch.s3.expect("S3 changed").expect("S3 set, not removed");
            assert_eq!(s3.endpoint.as_deref(), Some(ENDPOINT));
            assert_eq!(s3.region.as_deref(), Some("eu-central-1"));
            assert_eq!(s3.access_key_id.as_deref(), Some("AKID9XYZ"));
            assert_eq!(s3.secret.as_deref().map(String::as_str), Some(SECRET));
            assert_eq!(
                patch.include,
                Some(vec!["avatars".to_string(), "docs".to_string()])
            );
            assert_eq!(patch.exclude, None, "nothing typed: left as it is");
            assert_eq!(patch.api_url, None, "derived from the connection string");
        }
        _ => panic!("SaveProject expected"),
    }
    feed(&mut h, &engine, Event::ProjectSaved("Gamma Shop".into()));
    assert!(h.state().state.project_form.is_none());
    assert_no_secret("the window after saving", screen_text(&h), SECRET);
}

#[test]
fn editing_keeps_the_sealed_secret_sends_only_changes_and_shows_engine_errors_at_fields() {
    let engine = StandIn::default();
    let (mut data, alpha, _) = two_projects();
    let alpha = with_s3(alpha);
    data.projects[0] = alpha.clone();
    let mut h = unlocked(&engine, data);
    click(&mut h, "Projects");
    let edit = |h: &mut H| {
        h.get_all_by_label("Edit").next().unwrap().click();
        h.step();
        h.step();
        let sent = engine.take();
        assert!(
            sent.iter().all(|c| matches!(
                c,
                Command::Reveal { slot, .. } if *slot != SecretSlot::StorageS3Secret
            )),
            "the form never asks for the S3 secret: {}",
            names(&sent)
        );
        h.state_mut().state.project_form.as_mut().unwrap().db_url = Zeroizing::new(
            "postgresql://postgres:pw@db.abcdefghij.supabase.co:5432/postgres".into(),
        );
        h.step();
    };
    edit(&mut h);
    assert!(
        h.query_by_label_contains("Storage access now: S3 at")
            .is_some(),
        "the engine's view of the access"
    );
    assert_eq!(
        h.get_by_label("S3 region").value().as_deref(),
        Some("eu-central-1")
    );
    assert_eq!(
        h.get_by_label("Exclude buckets").value().as_deref(),
        Some("tmp")
    );
    assert_eq!(
        h.get_by_label("S3 secret").value().as_deref().unwrap_or(""),
        "",
        "the secret is not read back"
    );
    // Untouched: nothing about Storage is sent.
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject { id, storage, .. } => {
            assert_eq!(id, Some(alpha.id));
            assert!(storage.is_none(), "untouched");
        }
        _ => panic!("SaveProject expected"),
    }
    feed(&mut h, &engine, Event::ProjectSaved("Alpha".into()));
    edit(&mut h);
    retype(&mut h, "S3 region", "us-east-1");
    type_in(&mut h, "REST API URL", "ftp://storage.example.com");
    click(&mut h, "Save");
    nothing_sent(&engine, "a REST API URL that is not http(s)");
    assert!(
        h.query_by_label_contains("must be an http:// or https:// URL")
            .is_some()
    );
    retype(&mut h, "REST API URL", "http://127.0.0.1:54321/storage/v1/");
    assert!(
        h.query_by_label_contains("After saving: S3 at").is_some(),
        "the S3 keys stay in use: the secret is kept"
    );
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject { storage, .. } => {
            let patch = storage.expect("changed");
            assert_eq!(
                patch.api_url,
                Some(Some("http://127.0.0.1:54321/storage/v1".to_string()))
            );
            let s3 = patch.s3.expect("S3 changed").expect("not removed");
            assert_eq!(s3.region.as_deref(), Some("us-east-1"));
            assert!(s3.endpoint.is_none(), "unchanged: kept");
            assert!(s3.access_key_id.is_none(), "empty: the saved one kept");
            assert!(s3.secret.is_none(), "empty: the sealed one kept");
            assert!(patch.include.is_none() && patch.exclude.is_none());
        }
        _ => panic!("SaveProject expected"),
    }
    // The engine refuses: its words at the field, the form stays open.
    feed(
        &mut h,
        &engine,
        Event::ProjectInvalid(ValidationErrors(vec![ValidationError::new(
            "storage_s3_endpoint",
            "the engine refused this endpoint",
        )])),
    );
    assert!(h.state().state.project_form.is_some());
    assert!(
        h.query_by_label_contains("the engine refused this endpoint")
            .is_some()
    );
    // Stopping S3 sends its removal.
    click(
        &mut h,
        "Stop using the S3 keys (remove them and the sealed secret)",
    );
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject { storage, .. } => {
            let patch = storage.expect("changed");
            assert!(matches!(patch.s3, Some(None)), "S3 removed");
        }
        _ => panic!("SaveProject expected"),
    }
}

#[test]
fn the_backup_dialog_sends_kind_storage_and_leaving_out_the_storage_files() {
    let engine = StandIn::default();
    let (mut data, alpha, _) = two_projects();
    data.projects[0] = with_s3(alpha.clone());
    let mut h = unlocked(&engine, data);
    let open = |h: &mut H| {
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
        h.step();
        h.step();
        assert!(h.state().state.backup_dialog.is_some());
    };
    open(&mut h);
    assert!(
        h.query_by_label_contains(&format!("Storage files: S3 at {ENDPOINT}"))
            .is_some(),
        "says how the files are read"
    );
    h.check_accessibility();
    click(&mut h, "Leave out the Storage files");
    click(&mut h, "Start backup");
    match one_sent(&engine) {
        Command::Backup {
            project,
            kind,
            no_storage,
            ..
        } => {
            assert_eq!(project, alpha.id);
            assert_eq!(kind, BackupKind::Full);
            assert!(no_storage, "ticked");
        }
        _ => panic!("Backup expected"),
    }
    open(&mut h);
    pick(&mut h, "Kind", "storage");
    assert!(
        h.query_by_label("Leave out the Storage files").is_none(),
        "only for a full backup"
    );
    click(&mut h, "Start backup");
    match one_sent(&engine) {
        Command::Backup {
            kind, no_storage, ..
        } => {
            assert_eq!(kind, BackupKind::Storage);
            assert!(!no_storage);
        }
        _ => panic!("Backup expected"),
    }
}

fn plan(project: &str) -> supabackup::engine::storage::StoragePlan {
    supabackup::engine::storage::StoragePlan {
        project: project.into(),
        access: format!("S3 at {ENDPOINT}"),
        buckets: 3,
        objects: 1250,
        bytes: 3 * 1024 * 1024 * 1024,
        to_download: 1250,
        to_download_bytes: 3 * 1024 * 1024 * 1024,
        first: true,
    }
}

#[test]
fn the_first_storage_backup_asks_before_downloading_and_answers_yes_or_no() {
    let engine = StandIn::default();
    let (data, _alpha, _) = two_projects();
    let mut h = unlocked(&engine, data);
    let (answer, mut reply) = tokio::sync::oneshot::channel();
    feed(
        &mut h,
        &engine,
        Event::StoragePlan {
            plan: Box::new(plan("Alpha")),
            answer,
        },
    );
    settle(&mut h, "Download and back up");
    assert!(
        h.query_by_label("Download the Storage files of Alpha?")
            .is_some()
    );
    let text = screen_text(&h);
    assert!(
        text.contains("1,250 file(s)") || text.contains("1250 file(s)"),
        "{text}"
    );
    assert!(text.contains("3 bucket(s)"), "{text}");
    assert!(text.contains("egress"), "{text}");
    h.check_accessibility();
    assert!(reply.try_recv().is_err(), "not answered before a click");
    click(&mut h, "Download and back up");
    assert_eq!(reply.try_recv(), Ok(true));
    assert!(h.query_by_label("Download and back up").is_none(), "closed");
    nothing_sent(&engine, "the answer (it goes back on its own channel)");
    // The other answer, and Esc, cancel the backup.
    for close in ["Esc", "Cancel the backup"] {
        let (answer, mut reply) = tokio::sync::oneshot::channel();
        feed(
            &mut h,
            &engine,
            Event::StoragePlan {
                plan: Box::new(plan("Beta")),
                answer,
            },
        );
        settle(&mut h, "Cancel the backup");
        if close == "Esc" {
            h.key_press(egui::Key::Escape);
            h.step();
            h.step();
        } else {
            click(&mut h, close);
        }
        assert_eq!(reply.try_recv(), Ok(false), "{close}");
        assert!(
            h.query_by_label("Cancel the backup").is_none(),
            "{close}: closed"
        );
    }
}
