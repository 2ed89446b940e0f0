//! The desktop app driven by egui_kittest (no display, no GPU): the real
//! engine on a fresh data dir and a real PostgreSQL. Accessibility checks on.

use crate::blocking::{Lock, wait_dump_blocked};
use crate::cli::{MASTER, Sb, assert_no_secret};
use crate::pg::{PgCluster, SUPERUSER_PASSWORD};
use crate::ui_standin::{screen_text, settle};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use std::time::{Duration, Instant};
use supabackup::app::{Screen, SupabackupApp};
use supabackup::datadir::{DataDir, DataDirSource};
use supabackup::domain::{BackupStatus, EncryptionSetting};

fn app(sb: &Sb) -> Harness<'static, SupabackupApp> {
    let dd = DataDir {
        root: sb.data_dir(),
        source: DataDirSource::Explicit,
    };
    Harness::builder()
        .with_size(egui::vec2(1280.0, 900.0))
        .build_eframe(move |cc| SupabackupApp::new(cc, dd))
}

/// Steps frames (with real time passing for the engine) until `done`.
fn step_until(
    h: &mut Harness<'static, SupabackupApp>,
    what: &str,
    done: impl Fn(&SupabackupApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(h.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(15));
    }
    h.step();
    h.step();
}

fn type_into(h: &mut Harness<'static, SupabackupApp>, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.step();
    h.get_by_label(label).type_text(text);
    h.step();
}

/// Selects all of a field's text and types over it.
fn retype(h: &mut Harness<'static, SupabackupApp>, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_label(label).type_text(text);
    h.step();
    h.step();
}

fn click(h: &mut Harness<'static, SupabackupApp>, label: &str) {
    // Let the layout settle (a modal re-centres as its content changes), so
    // the click lands where the widget is painted.
    settle(h, label);
    // Scrolled into view first, as a person would (a long Settings page).
    crate::ui_standin::scroll_into_view(h, label);
    h.get_all_by_label(label)
        .next()
        .unwrap_or_else(|| panic!("no widget labelled {label:?}"))
        .click();
    h.step();
    h.step();
}

/// Opens the actions menu ("…") of the history's top row and clicks `item`.
fn top_row_action(h: &mut Harness<'static, SupabackupApp>, item: &str) {
    click(h, supabackup::app::ACTIONS);
    h.get_all_by_label(item)
        .last()
        .unwrap_or_else(|| panic!("no {item:?} in the row's menu"))
        .click();
    h.step();
    h.step();
}

fn unlock(h: &mut Harness<'static, SupabackupApp>) {
    step_until(h, "the unlock screen", |a| a.state.screen == Screen::Locked);
    type_into(h, "Master password", MASTER);
    click(h, "Unlock");
    step_until(h, "the main screen", |a| a.state.screen == Screen::Main);
}

fn toast_contains(a: &SupabackupApp, text: &str) -> bool {
    a.state.toasts.iter().any(|t| t.text.contains(text))
}

#[test]
fn first_run_then_wrong_and_right_password() {
    let sb = Sb::new();
    {
        let mut h = app(&sb);
        step_until(&mut h, "the setup screen", |a| {
            a.state.screen == Screen::Setup
        });
        h.check_accessibility();
        type_into(&mut h, "Master password", MASTER);
        type_into(&mut h, "Type it again", "something else entirely");
        click(&mut h, "Set password");
        assert!(h.query_by_label("The two passwords differ.").is_some());
        retype(&mut h, "Type it again", MASTER);
        click(&mut h, "Set password");
        step_until(&mut h, "the main screen", |a| {
            a.state.screen == Screen::Main
        });
        assert_eq!(h.state().state.panel, supabackup::app::Panel::Dashboard);
        assert!(
            h.query_by_label("Add a project to start backing up.")
                .is_some()
        );
        h.check_accessibility();
        // Ctrl+L locks.
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::L);
        step_until(&mut h, "locked", |a| a.state.screen == Screen::Locked);
    }
    let mut h = app(&sb);
    step_until(&mut h, "the unlock screen", |a| {
        a.state.screen == Screen::Locked
    });
    type_into(&mut h, "Master password", "not the master password");
    click(&mut h, "Unlock");
    step_until(&mut h, "the refusal", |a| a.state.unlock.error.is_some());
    assert!(h.query_by_label_contains("wrong master password").is_some());
    assert_eq!(
        h.state().state.screen,
        Screen::Locked,
        "nothing else is reachable"
    );
    assert!(
        h.query_by_label("Projects").is_none(),
        "nothing else is reachable while locked"
    );
    type_into(&mut h, "Master password", MASTER);
    click(&mut h, "Unlock");
    step_until(&mut h, "the main screen", |a| {
        a.state.screen == Screen::Main
    });
}

#[test]
fn adding_a_project_shows_errors_at_the_field_then_saves() {
    let pg = PgCluster::start();
    let sb = Sb::new();
    sb.run(&["vault", "unlock"]).ok();
    let mut h = app(&sb);
    unlock(&mut h);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    h.step();
    h.step();
    assert!(
        h.state().state.project_form.is_some(),
        "Ctrl+N opens the form"
    );
    type_into(&mut h, "Name", "Bad/Name");
    type_into(&mut h, "Database URL", "mysql://nope");
    click(&mut h, "Save");
    assert!(
        h.query_by_label_contains("may contain only letters, digits")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("must start with postgresql://")
            .is_some()
    );
    h.check_accessibility();
    // Fix both fields.
    for (label, text) in [
        ("Name", "Shop"),
        ("Database URL", pg.url("postgres").as_str()),
    ] {
        retype(&mut h, label, text);
    }
    assert!(
        h.query_by_label_contains("may contain only letters")
            .is_none(),
        "errors clear as the user types"
    );
    assert_no_secret("the form", screen_text(&h), SUPERUSER_PASSWORD);
    click(&mut h, "Test connection");
    step_until(&mut h, "the connection test", |a| {
        matches!(
            a.state.project_form.as_ref().and_then(|f| f.test.as_ref()),
            Some(supabackup::app::state::TestState::Done(_))
        )
    });
    if let Some(supabackup::app::state::TestState::Done(r)) = h
        .state()
        .state
        .project_form
        .as_ref()
        .and_then(|f| f.test.as_ref())
    {
        let r = r.as_ref().as_ref().expect("the test ran");
        assert!(r.ok(), "{:?}", r.connect_error);
    }
    assert!(h.query_by_label("Ready to back up").is_some());
    click(&mut h, "Save");
    step_until(&mut h, "the saved project", |a| {
        a.state.data.projects.len() == 1
    });
    assert!(h.state().state.project_form.is_none());
    // The card shows the URL with the password masked, and in no other form.
    assert_no_secret("the Projects panel", screen_text(&h), SUPERUSER_PASSWORD);
    assert!(
        h.query_by_label_contains("postgres:****@127.0.0.1")
            .is_some()
    );
    // The next form starts without this one's test result.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    h.step();
    h.step();
    assert!(h.state().state.project_form.is_some());
    assert!(h.query_by_label("Ready to back up").is_none());
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(h.state().state.project_form.is_none());
    // While the window is open it holds the catalog; closed, the CLI sees the project.
    let in_use = sb.run(&["project", "list"]).expect_code(1);
    assert!(
        in_use
            .stderr
            .contains("in use by another supabackup process")
    );
    drop(h);
    let list = sb.run(&["project", "list", "--json"]).ok();
    assert!(
        list.stdout.contains("\"name\": \"Shop\""),
        "{}",
        list.stdout
    );
}

#[test]
fn a_backup_runs_with_live_progress_and_lands_in_the_history() {
    let pg = PgCluster::start();
    pg.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 30000) g",
    );
    let sb = Sb::new();
    sb.add_project("Shop", &pg.url("postgres"));
    let mut h = app(&sb);
    unlock(&mut h);
    click(&mut h, "Backups");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
    h.step();
    h.step();
    h.check_accessibility();
    click(&mut h, "Start backup");
    step_until(&mut h, "the backup to start", |a| {
        !a.state.tasks.is_empty() || !a.state.data.backups.is_empty()
    });
    step_until(&mut h, "the backup to complete", |a| {
        a.state.tasks.is_empty()
            && a.state
                .data
                .backups
                .first()
                .is_some_and(|b| b.status == BackupStatus::Completed)
    });
    let b = &h.state().state.data.backups[0];
    assert_eq!(b.rows, 30000);
    assert!(h.query_by_label("completed").is_some());
    assert!(toast_contains(h.state(), "completed (30,000 rows)"));
    // Verify from the row's menu.
    top_row_action(&mut h, "Verify");
    step_until(&mut h, "the verify", |a| toast_contains(a, "is intact"));
}

#[test]
fn cancel_stops_a_running_backup() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE TABLE public.big (id int PRIMARY KEY); INSERT INTO public.big SELECT generate_series(1, 1000)");
    let sb = Sb::new();
    sb.add_project("Slow", &pg.url("postgres"));
    let lock = Lock::take(&pg);
    let mut h = app(&sb);
    unlock(&mut h);
    click(&mut h, "Backups");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
    h.step();
    click(&mut h, "Start backup");
    step_until(&mut h, "the running task", |a| !a.state.tasks.is_empty());
    wait_dump_blocked(&pg);
    h.step();
    assert!(h.query_all_by_label("Backup of Slow").count() >= 1);
    click(&mut h, "Cancel");
    step_until(&mut h, "the cancelled backup", |a| {
        a.state.tasks.is_empty()
            && a.state
                .data
                .backups
                .first()
                .is_some_and(|b| b.status == BackupStatus::Cancelled)
    });
    drop(lock);
    assert!(h.query_by_label("cancelled").is_some());
}

#[test]
fn restoring_over_a_database_asks_for_its_typed_name() {
    let pg = PgCluster::start();
    pg.psql(
        "postgres",
        "CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t VALUES (1), (2)",
    );
    let sb = Sb::new();
    sb.add_project("P", &pg.url("postgres"));
    sb.backup("P", &[]);
    pg.psql("postgres", "INSERT INTO public.t VALUES (3)");
    let mut h = app(&sb);
    unlock(&mut h);
    click(&mut h, "Backups");
    top_row_action(&mut h, "Restore…");
    // Restore into the project's own database: fill the URL from it.
    click(&mut h, "Fill from project");
    h.get_by_role_and_label(egui::accesskit::Role::Button, "P")
        .click();
    step_until(&mut h, "the URL filled in", |a| {
        a.state
            .restore_dialog
            .as_ref()
            .is_some_and(|d| !d.url.is_empty())
    });
    click(&mut h, "Restore");
    step_until(&mut h, "the confirmation", |a| {
        a.state
            .restore_dialog
            .as_ref()
            .is_some_and(|d| d.confirm.is_some())
    });
    h.check_accessibility();
    let label = "Type the database name \"postgres\" to replace it";
    assert!(h.query_by_label(label).is_some());
    assert!(
        h.get_by_label("Replace and restore")
            .accesskit_node()
            .is_disabled()
    );
    type_into(&mut h, label, "postgres");
    assert!(
        !h.get_by_label("Replace and restore")
            .accesskit_node()
            .is_disabled()
    );
    click(&mut h, "Replace and restore");
    step_until(&mut h, "the restore", |a| {
        toast_contains(a, "Restored 2 rows")
    });
    assert_eq!(pg.psql("postgres", "SELECT count(*) FROM public.t"), "2");
}

#[test]
fn a_schedule_is_added_in_the_window_previewed_in_words_and_run() {
    let pg = PgCluster::start();
    pg.psql(
        "postgres",
        "CREATE TABLE t AS SELECT generate_series(1, 100) AS id",
    );
    let sb = Sb::new();
    sb.add_project("Shop", &pg.url("postgres"));
    let mut h = app(&sb);
    unlock(&mut h);
    click(&mut h, "Schedules");
    click(&mut h, "Add schedule");
    type_into(&mut h, "Schedule name", "nightly");
    retype(&mut h, "Cron line", "0 25 * * *");
    assert!(
        h.query_by_label_contains("hour field \"25\" is not valid")
            .is_some()
    );
    retype(&mut h, "Cron line", "30 2 * * MON-FRI");
    assert!(
        h.query_by_label("At 02:30 on Monday through Friday")
            .is_some()
    );
    h.check_accessibility();
    click(&mut h, "Save schedule");
    step_until(&mut h, "the saved schedule", |a| {
        a.state.data.jobs.len() == 1 && a.state.job_form.is_none()
    });
    let job = h.state().state.data.jobs[0].clone();
    assert!(job.next_run_at.is_some());
    assert_eq!(job.retention.keep_last, Some(7));
    click(&mut h, "Run nightly now");
    step_until(&mut h, "the scheduled run", |a| {
        a.state
            .data
            .backups
            .iter()
            .any(|b| b.job_id == Some(job.id) && b.status == BackupStatus::Completed)
            && a.state.tasks.is_empty()
    });
    assert!(toast_contains(
        h.state(),
        "Scheduled backup \"nightly\" of Shop completed"
    ));
    assert_eq!(
        h.state().state.data.jobs[0].last_run_status,
        Some(supabackup::domain::RunStatus::Succeeded)
    );
}

#[test]
fn the_unlock_screen_goes_idle_without_window_focus() {
    // Regression: asking for keyboard focus every frame while the OS window
    // has none made egui toggle the input method each frame, a repaint storm
    // that starved X event processing (no input reached the app).
    let sb = Sb::new();
    sb.run(&["vault", "unlock"]).ok();
    let mut h = app(&sb);
    h.input_mut().focused = false;
    step_until(&mut h, "the unlock screen", |a| {
        a.state.screen == Screen::Locked
    });
    let mut interrupts = 0;
    for _ in 0..10 {
        h.input_mut().focused = false;
        h.step();
        let ime = &h.output().platform_output.ime;
        if ime.as_ref().is_some_and(|i| i.should_interrupt_composition) {
            interrupts += 1;
        }
    }
    assert!(
        interrupts <= 1,
        "the input method was interrupted on {interrupts} of 10 frames"
    );
}

#[test]
fn an_encrypted_project_backs_up_tagged_and_restores_with_the_identity_file() {
    let pg = PgCluster::start();
    pg.psql(
        "postgres",
        "CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 5)",
    );
    pg.create_db("copy");
    let sb = Sb::new();
    sb.add_project("Shop", &pg.url("postgres"));
    let key_file = sb.tmp.path().join("shop-key.txt");
    let wrong_file = sb.tmp.path().join("other-key.txt");
    let public = sb
        .run(&["key", "generate", "--out", key_file.to_str().unwrap()])
        .ok()
        .stdout
        .trim()
        .to_string();
    sb.run(&["key", "generate", "--out", wrong_file.to_str().unwrap()])
        .ok();
    let mut h = app(&sb);
    unlock(&mut h);
    // Encryption turned on in the edit form, once its URL has come.
    click(&mut h, "Projects");
    click(&mut h, "Edit");
    step_until(&mut h, "the form's secrets", |a| {
        a.state
            .project_form
            .as_ref()
            .is_some_and(|f| !f.db_url.is_empty())
    });
    click(&mut h, "To public keys (age1…)");
    type_into(&mut h, "Public keys", &public);
    h.check_accessibility();
    click(&mut h, "Save");
    step_until(&mut h, "the saved encryption", |a| {
        a.state.project_form.is_none()
            && a.state.data.projects[0].encryption
                == EncryptionSetting::Recipients {
                    recipients: vec![public.clone()],
                }
    });
    // A backup: encrypted, behind a lock.
    click(&mut h, "Backups");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
    h.step();
    click(&mut h, "Start backup");
    step_until(&mut h, "the backup to complete", |a| {
        a.state.tasks.is_empty()
            && a.state
                .data
                .backups
                .first()
                .is_some_and(|b| b.status == BackupStatus::Completed)
    });
    let b = &h.state().state.data.backups[0];
    assert!(b.extra.encryption.is_some());
    assert!(h.query_by_label("encrypted").is_some(), "the tag shows");
    // Restored into an empty database: the vault holds no identity, the
    // dialog asks; a wrong one is refused with the target untouched.
    let restore_with = |h: &mut Harness<'static, SupabackupApp>, identity: &std::path::Path| {
        top_row_action(h, "Restore…");
        retype(h, "Target database URL", &pg.url("copy"));
        assert!(h.get_by_label("Restore").accesskit_node().is_disabled());
        type_into(h, "Identity file path", identity.to_str().unwrap());
        click(h, "Restore");
    };
    restore_with(&mut h, &wrong_file);
    step_until(&mut h, "the refusal", |a| toast_contains(a, "wrong key"));
    assert_eq!(
        pg.psql(
            "copy",
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "0"
    );
    restore_with(&mut h, &key_file);
    step_until(&mut h, "the restore", |a| {
        toast_contains(a, "Restored 5 rows")
    });
    assert_eq!(pg.psql("copy", "SELECT sum(id) FROM public.t"), "15");
}

#[test]
fn a_folder_destination_added_in_the_window_gets_a_copy_of_each_backup_and_loses_it_on_delete() {
    let pg = PgCluster::start();
    pg.psql(
        "postgres",
        "CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 7)",
    );
    let sb = Sb::new();
    sb.add_project("Shop", &pg.url("postgres"));
    let nas = sb.tmp.path().join("nas");
    std::fs::create_dir_all(&nas).unwrap();
    let mut h = app(&sb);
    unlock(&mut h);
    // Settings > Destinations: a folder, tested by the engine, then added.
    click(&mut h, "Settings");
    click(&mut h, "Add destination…");
    assert!(
        h.state().state.destination_form.is_some(),
        "the form did not open: {:?}",
        h.query_by_label("Add destination…").map(|n| n.rect())
    );
    click(&mut h, "A folder");
    type_into(&mut h, "Destination name", "nas");
    type_into(&mut h, "Folder", nas.to_str().unwrap());
    h.check_accessibility();
    click(&mut h, "Test and add");
    step_until(&mut h, "the destination added", |a| {
        a.state.data.destinations.len() == 1 && a.state.destination_form.is_none()
    });
    assert!(toast_contains(h.state(), "Added destination \"nas\""));
    // The project copies there.
    click(&mut h, "Projects");
    click(&mut h, "Edit");
    step_until(&mut h, "the form's secrets", |a| {
        a.state
            .project_form
            .as_ref()
            .is_some_and(|f| !f.db_url.is_empty())
    });
    click(&mut h, "Copy to nas");
    click(&mut h, "Save");
    step_until(&mut h, "the saved copies", |a| {
        a.state.project_form.is_none() && a.state.data.projects[0].copy_to == ["nas"]
    });
    // A backup is copied as part of it.
    click(&mut h, "Backups");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
    h.step();
    click(&mut h, "Start backup");
    step_until(&mut h, "the backup and its copy", |a| {
        a.state.tasks.is_empty()
            && a.state.data.backups.first().is_some_and(|b| {
                b.status == BackupStatus::Completed
                    && b.extra
                        .copies
                        .iter()
                        .any(|c| matches!(c.status, supabackup::domain::CopyStatus::Copied))
            })
    });
    assert!(h.query_by_label("nas: copied").is_some());
    let b = h.state().state.data.backups[0].clone();
    let copy = nas
        .join(b.path.parent().unwrap().file_name().unwrap())
        .join(b.path.file_name().unwrap());
    assert!(copy.join("SHA256SUMS").is_file(), "{}", copy.display());
    // The copy is verified where it is, from the details view.
    top_row_action(&mut h, "Details");
    click(&mut h, "Verify copy at nas");
    step_until(&mut h, "the copy verified", |a| {
        a.state
            .checks
            .get(&b.id)
            .is_some_and(|c| c.kind == supabackup::protocol::CheckKind::VerifyCopy("nas".into()))
    });
    let check = h.state().state.checks[&b.id].clone();
    assert!(check.ok, "{}", check.message);
    assert!(
        h.query_by_label_contains("Verify of the copy at \"nas\" passed")
            .is_some()
    );
    // Deleting the backup deletes its copy too, as the confirmation says.
    click(&mut h, "Delete…");
    assert!(
        h.query_by_label_contains("its copies at \"nas\" will be deleted")
            .is_some()
    );
    h.get_all_by_label("Delete").last().unwrap().click();
    h.step();
    step_until(&mut h, "the backup deleted", |a| {
        a.state.data.backups.is_empty()
    });
    assert!(!copy.exists(), "the copy at the destination is gone");
    assert!(!b.path.exists(), "the local folder is gone");
}

#[test]
fn storage_s3_keys_typed_in_the_form_are_saved_with_the_secret_sealed() {
    const SECRET: &str = "ui-storage-secret-Hq83Zp";
    let sb = Sb::new();
    sb.run(&["vault", "unlock"]).ok();
    let mut h = app(&sb);
    unlock(&mut h);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    h.step();
    h.step();
    for (label, text) in [
        ("Name", "Files"),
        (
            "Database URL",
            "postgresql://postgres:pw@db.abcdefghij.supabase.co:5432/postgres",
        ),
        (
            "S3 endpoint",
            "https://abcdefghij.storage.supabase.co/storage/v1/s3",
        ),
        ("S3 region", "eu-central-1"),
        ("S3 access key id", "AKIDUI1234"),
        ("S3 secret", SECRET),
        ("Exclude buckets", "tmp, cache"),
    ] {
        settle(&mut h, label);
        type_into(&mut h, label, text);
    }
    assert_no_secret("the form", screen_text(&h), SECRET);
    click(&mut h, "Save");
    step_until(&mut h, "the saved project", |a| {
        a.state.data.projects.len() == 1 && a.state.project_form.is_none()
    });
    // The engine's view comes back with the snapshot: S3, nothing secret.
    let view = h.state().state.data.projects[0]
        .storage
        .clone()
        .expect("the Storage view");
    assert_eq!(view.kind, "s3", "{}", view.access);
    assert_eq!(view.exclude_buckets, ["tmp", "cache"]);
    assert_no_secret("the Projects panel", screen_text(&h), SECRET);
    // Editing shows the saved fields, never the secret.
    h.get_all_by_label("Edit").next().unwrap().click();
    h.step();
    h.step();
    settle(&mut h, "S3 region");
    assert!(
        h.query_by_label_contains("Storage access now: S3 at https://abcdefghij")
            .is_some()
    );
    assert_no_secret("the edit form", screen_text(&h), SECRET);
    h.key_press(egui::Key::Escape);
    h.step();
    drop(h);
    let shown = sb.run(&["project", "show", "Files", "--json"]).ok().json();
    assert_eq!(shown["storage"]["kind"], "s3", "{shown}");
    assert_no_secret("the data dir", sb.all_bytes(), SECRET);
}

#[test]
fn the_first_storage_backup_asks_before_downloading_and_the_next_one_does_not() {
    let pg = PgCluster::start();
    let key = "ui-service-key-5ecret";
    let rest = crate::storage_rest::RestServer::start(key);
    rest.create_bucket("avatars", true, None, None);
    for (name, bytes) in [("a.png", &b"first file"[..]), ("dir/b.txt", b"second")] {
        rest.put(
            "avatars",
            name,
            bytes,
            "text/plain",
            "max-age=3600",
            serde_json::json!({}),
        );
    }
    let sb = Sb::new();
    sb.run(&[
        "project",
        "add",
        "--name",
        "Files",
        "--db-url",
        &pg.url("postgres"),
        "--service-key",
        key,
        "--api-url",
        &rest.url,
    ])
    .ok();
    let mut h = app(&sb);
    unlock(&mut h);
    click(&mut h, "Backups");
    let back_up = |h: &mut Harness<'static, SupabackupApp>| {
        h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
        h.step();
        h.step();
        click(h, "Start backup");
    };
    back_up(&mut h);
    step_until(&mut h, "the question before downloading", |a| {
        !a.state.storage_plans.is_empty()
    });
    settle(&mut h, "Download and back up");
    assert!(
        h.query_by_label("Download the Storage files of Files?")
            .is_some()
    );
    assert!(
        screen_text(&h).contains("downloads 2 file(s)"),
        "{}",
        screen_text(&h)
    );
    assert_eq!(rest.downloads(), 0, "nothing downloaded before the yes");
    h.check_accessibility();
    click(&mut h, "Download and back up");
    step_until(&mut h, "the backup to complete", |a| {
        a.state.tasks.is_empty()
            && a.state
                .data
                .backups
                .first()
                .is_some_and(|b| b.status == BackupStatus::Completed)
    });
    assert_eq!(rest.downloads(), 2);
    // The second backup downloads nothing new and does not ask.
    back_up(&mut h);
    step_until(&mut h, "the second backup to complete", |a| {
        assert!(a.state.storage_plans.is_empty(), "asked again");
        a.state.tasks.is_empty()
            && a.state.data.backups.len() == 2
            && a.state.data.backups[0].status == BackupStatus::Completed
    });
    assert_eq!(rest.downloads(), 2);
}

#[test]
fn a_backup_with_no_fitting_pg_dump_installs_the_programs_when_asked_and_backs_up() {
    if crate::pg::suite_major() >= 17 || !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        eprintln!("skipped: needs a machine whose own PostgreSQL is older than 17");
        return;
    }
    let pg = PgCluster::start_major(17);
    pg.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1234) g",
    );
    let sb = Sb::new();
    // A folder mirror holding the real archive and its checksum.
    let mirror = tempfile::tempdir().unwrap();
    let archive = crate::mirror::archive("17.11.0", "x86_64-unknown-linux-gnu");
    let dir = mirror.path().join("17.11.0");
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        archive.clone(),
        format!("{}.sha256", archive.display()).into(),
    ] {
        std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    sb.run(&[
        "settings",
        "set",
        "tools-mirror",
        mirror.path().to_str().unwrap(),
    ])
    .ok();
    sb.add_project("Seventeen", &pg.url("postgres"));
    let mut h = app(&sb);
    unlock(&mut h);
    click(&mut h, "Backups");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
    h.step();
    click(&mut h, "Start backup");
    step_until(&mut h, "the offer", |a| a.state.tools_offer.is_some());
    assert!(h.query_all_by_label_contains("runs PostgreSQL 17.").count() >= 1);
    h.check_accessibility();
    click(&mut h, "Download and back up");
    step_until(&mut h, "the install and the backup", |a| {
        a.state.tasks.is_empty()
            && a.state
                .data
                .backups
                .first()
                .is_some_and(|b| b.status == BackupStatus::Completed)
    });
    let b = &h.state().state.data.backups[0];
    assert_eq!(b.rows, 1234);
    assert_eq!(b.pg_dump_version.as_deref(), Some("17.11"));
    assert!(
        sb.data_dir()
            .join("tools/17.11.0/supabackup-tools.json")
            .is_file()
    );
    assert!(toast_contains(h.state(), "client programs installed"));
}
