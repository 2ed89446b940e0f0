//! The desktop app over a stand-in for its engine side: the test plays the
//! engine, feeding the `Event`s it would send, and asserts the exact
//! `Command`s that clicks send. No PostgreSQL, no catalog, no disk: fast.

use crate::cli::assert_no_secret;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{By, NodeT, Queryable};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use supabackup::app::encryption::EncryptionMode;
use supabackup::app::state::Confirm;
use supabackup::app::{Panel, Screen, SupabackupApp};
use supabackup::domain::{
    Backup, BackupId, BackupJob, BackupKind, BackupStatus, Codec, Compression, EncryptionSetting,
    JobId, Profile, ProjectId, Retention, SecretSlot, SetEncryption, SettingKey,
};
use supabackup::engine::{CancelToken, EncryptionChange, Progress, ProjectView, VaultState};
use supabackup::protocol::{Command, Event, GivenKeys, Link, Snapshot, TaskInfo};
use zeroize::Zeroizing;

mod details;
mod offsite;
mod storage;
mod table;
mod tools;
mod window;

/// The engine side as the test plays it: every command the app sent, and
/// the events it drains at its next frame.
#[derive(Clone, Default)]
struct StandIn {
    sent: Arc<Mutex<Vec<Command>>>,
    inbox: Arc<Mutex<Vec<Event>>>,
}

impl Link for StandIn {
    fn send(&self, cmd: Command) -> bool {
        self.sent.lock().unwrap().push(cmd);
        true
    }

    fn drain(&self) -> Vec<Event> {
        std::mem::take(&mut *self.inbox.lock().unwrap())
    }
}

impl StandIn {
    /// Every command sent since the last call.
    fn take(&self) -> Vec<Command> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

type H = Harness<'static, SupabackupApp>;

/// The window over `engine`, showing whatever it has been fed.
fn app(engine: &StandIn) -> H {
    let link = engine.clone();
    Harness::builder()
        .with_size(egui::vec2(1280.0, 900.0))
        .build_eframe(move |cc| {
            SupabackupApp::with_engine(
                cc,
                Box::new(move |_waker| Box::new(link.clone()) as Box<dyn Link>),
            )
        })
}

/// Hands `event` to the app and lets it draw the result.
fn feed(h: &mut H, engine: &StandIn, event: Event) {
    engine.inbox.lock().unwrap().push(event);
    h.step();
    h.step();
}

/// The window unlocked, showing `data`; it sent nothing on its own.
fn unlocked(engine: &StandIn, data: Snapshot) -> H {
    let mut h = app(engine);
    feed(&mut h, engine, Event::Opened(VaultState::Locked));
    feed(&mut h, engine, Event::Unlocked);
    feed(&mut h, engine, Event::Data(Box::new(data)));
    assert_eq!(h.state().state.screen, Screen::Main);
    let sent = engine.take();
    assert!(sent.is_empty(), "sent unasked: {}", names(&sent));
    h
}

/// Each command's variant, for failure messages (`Command` has no Debug).
fn names(sent: &[Command]) -> String {
    // The catch-all keeps this compiling when a variant is added.
    #[allow(unreachable_patterns)]
    let name = |c: &Command| match c {
        Command::InitVault(_) => "InitVault",
        Command::Unlock(_) => "Unlock",
        Command::Lock => "Lock",
        Command::SaveProject { .. } => "SaveProject",
        Command::GenerateKey { .. } => "GenerateKey",
        Command::ImportIdentity(_) => "ImportIdentity",
        Command::ForgetIdentity(_) => "ForgetIdentity",
        Command::PickIdentity => "PickIdentity",
        Command::RemoveProject(_) => "RemoveProject",
        Command::TestProject(_) => "TestProject",
        Command::TestUrl(_) => "TestUrl",
        Command::Reveal { .. } => "Reveal",
        Command::Backup { .. } => "Backup",
        Command::Verify(..) => "Verify",
        Command::Drill { .. } => "Drill",
        Command::Restore { .. } => "Restore",
        Command::DeleteBackup(_) => "DeleteBackup",
        Command::SetPinned(..) => "SetPinned",
        Command::SetSetting(..) => "SetSetting",
        Command::PickFolder(_) => "PickFolder",
        Command::OpenFolder(_) => "OpenFolder",
        Command::SaveJob { .. } => "SaveJob",
        Command::SetJobEnabled(..) => "SetJobEnabled",
        Command::RemoveJob(_) => "RemoveJob",
        Command::RunJobNow(_) => "RunJobNow",
        Command::ExportSqlite => "ExportSqlite",
        _ => "(another command)",
    };
    format!("[{}]", sent.iter().map(name).collect::<Vec<_>>().join(", "))
}

/// The one command sent since the last look.
#[track_caller]
fn one_sent(engine: &StandIn) -> Command {
    let mut sent = engine.take();
    assert_eq!(sent.len(), 1, "expected one command, got {}", names(&sent));
    sent.remove(0)
}

#[track_caller]
fn nothing_sent(engine: &StandIn, after: &str) {
    let sent = engine.take();
    assert!(sent.is_empty(), "{after} sent {}", names(&sent));
}

/// Every label and value in the window's accessibility tree: what anyone
/// looking, or a screen reader, can read.
pub fn screen_text(h: &H) -> String {
    h.query_all(By::new())
        .flat_map(|n| {
            let node = n.accesskit_node();
            [node.label(), node.value()]
        })
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Clicks the first widget labelled `label`, letting the layout settle first
/// (a modal re-centres as its content changes).
fn click(h: &mut H, label: &str) {
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

/// Opens the actions menu ("…") of the history's row `row` (0: the top
/// one) and clicks `item` in it.
fn row_action(h: &mut H, row: usize, item: &str) {
    open_row_menu(h, row);
    h.get_all_by_label(item)
        .last()
        .unwrap_or_else(|| panic!("no {item:?} in the row's menu"))
        .click();
    h.step();
    h.step();
}

/// Opens the actions menu ("…") of the history's row `row`.
fn open_row_menu(h: &mut H, row: usize) {
    settle(h, supabackup::app::ACTIONS);
    h.get_all_by_label(supabackup::app::ACTIONS)
        .nth(row)
        .unwrap_or_else(|| panic!("no row {row} in the history"))
        .click();
    h.step();
    h.step();
}

/// Scrolls the panel holding the widget labelled `label` until the widget
/// is well inside the window, clear of the status bar at its foot (100 px
/// per step, as a mouse wheel would), or the panel scrolls no further.
pub fn scroll_into_view<S>(h: &mut Harness<'_, S>, label: &str) {
    let mut last = None;
    for _ in 0..60 {
        let Some(node) = h.query_all_by_label(label).next() else {
            return;
        };
        let (rect, screen) = (node.rect(), h.ctx.content_rect());
        if rect.bottom() <= screen.bottom() - 120.0 || last == Some(rect) {
            return;
        }
        last = Some(rect);
        // The wheel over the middle of the window: the panel under it scrolls.
        let middle = screen.center();
        h.event(egui::Event::PointerMoved(middle));
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -100.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: egui::Modifiers::default(),
        });
        h.step();
        h.step();
    }
}

/// Steps frames until the widget labelled `label` stays where it is: a
/// modal grows over a few frames (its scroll area, then its area, then its
/// centring), and a click aimed at where it was drawn would miss.
pub fn settle<S>(h: &mut Harness<'_, S>, label: &str) {
    let mut last = None;
    for _ in 0..12 {
        h.step();
        let now = h.query_all_by_label(label).next().map(|n| n.rect());
        if now.is_some() && now == last {
            return;
        }
        last = now;
    }
}

/// Opens the drop-down labelled `label` and picks `option`.
fn pick(h: &mut H, label: &str, option: &str) {
    h.step();
    h.get_by_role_and_label(Role::ComboBox, label).click();
    h.step();
    h.step();
    h.get_by_role_and_label(Role::Button, option).click();
    h.step();
    h.step();
}

/// Types `text` into the (empty) field labelled `label`.
fn type_in(h: &mut H, label: &str, text: &str) {
    settle(h, label);
    h.get_by_label(label).focus();
    h.step();
    h.get_by_label(label).type_text(text);
    h.step();
    h.step();
}

/// Selects all of a field's text and types `text` over it.
fn retype(h: &mut H, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_label(label).type_text(text);
    h.step();
    h.step();
}

fn project(name: &str) -> ProjectView {
    let now = chrono::Utc::now();
    ProjectView {
        id: ProjectId::new(),
        name: name.into(),
        description: String::new(),
        environment: "production".into(),
        db_url: format!("postgresql://postgres:****@db.example.com:5432/{name}"),
        service_key: None,
        anon_key: None,
        is_active: true,
        encryption: Default::default(),
        identity_in_vault: false,
        copy_to: Vec::new(),
        remote_only: false,
        storage: None,
        created_at: now,
        updated_at: now,
    }
}

fn backup(p: &ProjectView, minutes_ago: i64, status: BackupStatus) -> Backup {
    let at = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    Backup {
        id: BackupId::new(),
        project_id: p.id,
        project_name: p.name.clone(),
        kind: BackupKind::Full,
        profile: Profile::Postgres,
        compression: Compression::default(),
        status,
        path: PathBuf::from(format!("/backups/{}-{minutes_ago}", p.name)),
        bytes: 1000,
        raw_bytes: 4000,
        rows: 10,
        started_at: at,
        finished_at: Some(at + chrono::Duration::seconds(3)),
        manifest_sha256: None,
        error: (status == BackupStatus::Failed).then(|| "pg_dump failed: boom".to_string()),
        pinned: false,
        job_id: None,
        server_version: Some("17.2".into()),
        pg_dump_version: Some("17.2".into()),
        parts: vec![],
        pid: None,
        extra: Default::default(),
    }
}

fn job(p: &ProjectView, name: &str) -> BackupJob {
    BackupJob {
        id: JobId::new(),
        project_id: p.id,
        name: name.into(),
        cron: "0 3 * * *".into(),
        enabled: true,
        next_run_at: Some(chrono::Utc::now() + chrono::Duration::hours(3)),
        created_at: chrono::Utc::now(),
        kind: BackupKind::Full,
        profile: Some(Profile::Supabase),
        compression: Compression::new(Codec::Xz, Some(9)).unwrap(),
        retention: Retention {
            keep_last: Some(5),
            keep_days: None,
        },
        timeout_secs: None,
        retries: 1,
        last_run_at: None,
        last_run_status: None,
        last_backup_id: None,
        webhook_url: None,
        extra: Default::default(),
    }
}

/// Two projects, Alpha and Beta; every setting at its default.
fn two_projects() -> (Snapshot, ProjectView, ProjectView) {
    let (alpha, beta) = (project("Alpha"), project("Beta"));
    let data = Snapshot {
        projects: vec![alpha.clone(), beta.clone()],
        settings: SettingKey::ALL
            .iter()
            .map(|k| (*k, k.default_value().map(String::from)))
            .collect(),
        default_compression: Compression::new(Codec::Zstd, Some(5)).unwrap(),
        data_dir: PathBuf::from("/data"),
        ..Snapshot::default()
    };
    (data, alpha, beta)
}

#[test]
fn unlock_sends_the_password_typed_and_waits_for_the_answer() {
    let engine = StandIn::default();
    let mut h = app(&engine);
    h.step();
    assert_eq!(h.state().state.screen, Screen::Opening);
    feed(&mut h, &engine, Event::Opened(VaultState::Locked));
    assert_eq!(h.state().state.screen, Screen::Locked);
    h.check_accessibility();
    h.get_by_label("Master password").focus();
    h.step();
    h.get_by_label("Master password").type_text("a wrong one");
    h.step();
    nothing_sent(&engine, "typing");
    click(&mut h, "Unlock");
    match one_sent(&engine) {
        Command::Unlock(pw) => assert_eq!(pw.as_str(), "a wrong one"),
        _ => panic!("Unlock expected"),
    }
    // While the engine checks, a second click sends nothing.
    assert!(h.get_by_label("Unlock").accesskit_node().is_disabled());
    click(&mut h, "Unlock");
    nothing_sent(&engine, "a click while waiting");
    feed(
        &mut h,
        &engine,
        Event::UnlockFailed("wrong master password".into()),
    );
    assert!(h.query_by_label("wrong master password").is_some());
    assert_eq!(h.state().state.screen, Screen::Locked);
    // The field was cleared: the next try is only what is typed now, and
    // Enter sends it.
    h.get_by_label("Master password").focus();
    h.step();
    h.get_by_label("Master password").type_text("the right one");
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    h.step();
    match one_sent(&engine) {
        Command::Unlock(pw) => assert_eq!(pw.as_str(), "the right one"),
        _ => panic!("Unlock expected"),
    }
    feed(&mut h, &engine, Event::Unlocked);
    assert_eq!(h.state().state.screen, Screen::Main);
    assert!(h.state().state.unlock.password.is_empty(), "forgotten");
}

#[test]
fn first_run_sends_init_vault_only_when_both_passwords_agree() {
    let engine = StandIn::default();
    let mut h = app(&engine);
    feed(&mut h, &engine, Event::Opened(VaultState::Uninitialized));
    assert_eq!(h.state().state.screen, Screen::Setup);
    h.check_accessibility();
    let pw = "correct horse battery staple";
    retype(&mut h, "Master password", pw);
    retype(&mut h, "Type it again", "correct horse battery stapel");
    click(&mut h, "Set password");
    assert!(h.query_by_label("The two passwords differ.").is_some());
    nothing_sent(&engine, "two different passwords");
    retype(&mut h, "Master password", "short");
    retype(&mut h, "Type it again", "short");
    click(&mut h, "Set password");
    assert!(h.query_by_label_contains("Use at least").is_some());
    nothing_sent(&engine, "a short password");
    retype(&mut h, "Master password", pw);
    retype(&mut h, "Type it again", pw);
    click(&mut h, "Set password");
    match one_sent(&engine) {
        Command::InitVault(sent) => assert_eq!(sent.as_str(), pw),
        _ => panic!("InitVault expected"),
    }
}

#[test]
fn back_up_now_sends_the_project_kind_profile_and_compression_chosen() {
    let engine = StandIn::default();
    let (data, _alpha, beta) = two_projects();
    let mut h = unlocked(&engine, data);
    // The second project, picked in the top bar.
    pick(&mut h, "Active project", "Beta");
    click(&mut h, "Backups");
    assert_eq!(h.state().state.panel, Panel::Backups);
    click(&mut h, "Back up now");
    assert!(h.state().state.backup_dialog.is_some());
    h.check_accessibility();
    pick(&mut h, "Kind", "schema");
    pick(&mut h, "Profile", "postgres");
    pick(&mut h, "Compression", "xz");
    nothing_sent(&engine, "choosing options");
    click(&mut h, "Start backup");
    match one_sent(&engine) {
        Command::Backup {
            project,
            kind,
            profile,
            compression,
            no_storage,
        } => {
            assert!(
                !no_storage,
                "a schema backup has no Storage files to leave out"
            );
            assert_eq!(project, beta.id, "the project picked in the top bar");
            assert_eq!(kind, BackupKind::Schema);
            assert_eq!(profile, Some(Profile::Postgres));
            // Choosing a codec resets the level to that codec's default.
            assert_eq!(compression, Compression::new(Codec::Xz, Some(6)).unwrap());
        }
        _ => panic!("Backup expected"),
    }
    assert!(h.state().state.backup_dialog.is_none(), "the dialog closed");
}

#[test]
fn back_up_now_untouched_sends_the_default_compression_and_automatic_profile() {
    let engine = StandIn::default();
    let (data, alpha, _beta) = two_projects();
    let mut h = unlocked(&engine, data);
    // Ctrl+B opens the dialog for the active project; Enter starts it.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::B);
    h.step();
    h.step();
    assert!(h.state().state.backup_dialog.is_some());
    h.key_press(egui::Key::Enter);
    h.step();
    h.step();
    match one_sent(&engine) {
        Command::Backup {
            project,
            kind,
            profile,
            compression,
            no_storage,
        } => {
            assert!(!no_storage, "untouched: the Storage files are backed up");
            assert_eq!(project, alpha.id);
            assert_eq!(kind, BackupKind::Full);
            assert_eq!(profile, None, "automatic: chosen from the database");
            assert_eq!(compression, Compression::new(Codec::Zstd, Some(5)).unwrap());
        }
        _ => panic!("Backup expected"),
    }
}

#[test]
fn a_rows_verify_sends_that_rows_backup_and_delete_waits_for_confirmation() {
    let engine = StandIn::default();
    let (mut data, alpha, beta) = two_projects();
    let newest = backup(&alpha, 10, BackupStatus::Completed);
    let older = backup(&beta, 60, BackupStatus::Completed);
    let failed = backup(&alpha, 120, BackupStatus::Failed);
    data.backups = vec![newest.clone(), older.clone(), failed.clone()];
    let mut h = unlocked(&engine, data);
    click(&mut h, "Backups");
    h.check_accessibility();
    // Newest first: the second row is the older backup's; the failed
    // one's Verify is off.
    assert_eq!(h.get_all_by_label(supabackup::app::ACTIONS).count(), 3);
    open_row_menu(&mut h, 2);
    assert!(h.get_by_label("Verify").accesskit_node().is_disabled());
    row_action(&mut h, 1, "Verify");
    match one_sent(&engine) {
        Command::Verify(id, keys) => {
            assert_eq!(id, older.id);
            assert!(keys.is_empty(), "a set that is not encrypted needs none");
        }
        _ => panic!("Verify expected"),
    }
    row_action(&mut h, 2, "Delete…");
    assert_eq!(
        h.state().state.confirm,
        Some(Confirm::DeleteBackup(
            failed.id,
            format!("Alpha {}", failed.started_at.format("%Y-%m-%d %H:%M"))
        ))
    );
    nothing_sent(&engine, "asking to delete");
    assert!(h.query_by_label("Delete backup?").is_some());
    h.get_all_by_label("Delete").last().unwrap().click();
    h.step();
    h.step();
    match one_sent(&engine) {
        Command::DeleteBackup(id) => assert_eq!(id, failed.id),
        _ => panic!("DeleteBackup expected"),
    }
    assert!(h.state().state.confirm.is_none());
}

#[test]
fn restore_fills_the_url_from_a_project_and_confirms_by_the_typed_name() {
    let engine = StandIn::default();
    let (mut data, alpha, beta) = two_projects();
    let b = backup(&alpha, 10, BackupStatus::Completed);
    data.backups = vec![b.clone()];
    let mut h = unlocked(&engine, data);
    click(&mut h, "Backups");
    row_action(&mut h, 0, "Restore…");
    assert!(h.state().state.restore_dialog.is_some());
    // "Fill from project" asks the engine for that project's URL...
    h.get_by_label("Fill from project").click();
    h.step();
    h.step();
    h.get_by_role_and_label(Role::Button, "Beta").click();
    h.step();
    h.step();
    match one_sent(&engine) {
        Command::Reveal { project, slot } => {
            assert_eq!(project, beta.id);
            assert_eq!(slot, SecretSlot::DbUrl);
        }
        _ => panic!("Reveal expected"),
    }
    assert!(h.get_by_label("Restore").accesskit_node().is_disabled());
    // ...and the answer fills the field.
    let url = "postgresql://postgres:pw@db.example.com:5432/beta";
    feed(
        &mut h,
        &engine,
        Event::Revealed(beta.id, SecretSlot::DbUrl, Some(Zeroizing::new(url.into()))),
    );
    click(&mut h, "Restore");
    match one_sent(&engine) {
        Command::Restore {
            backup,
            url: sent,
            confirmed,
            ..
        } => {
            assert_eq!(backup, b.id);
            assert_eq!(sent.as_str(), url);
            assert!(!confirmed);
        }
        _ => panic!("Restore expected"),
    }
    // The target has tables: the engine asks for the database's name.
    feed(
        &mut h,
        &engine,
        Event::RestoreNeedsConfirmation {
            backup: b.id,
            url: Zeroizing::new(url.into()),
            dbname: "beta".into(),
            message: "beta already has 3 tables".into(),
            keys: Default::default(),
        },
    );
    h.check_accessibility();
    let label = "Type the database name \"beta\" to replace it";
    let replace = "Replace and restore";
    retype(&mut h, label, "bet");
    assert!(h.get_by_label(replace).accesskit_node().is_disabled());
    click(&mut h, replace);
    nothing_sent(&engine, "a click before the name is typed");
    retype(&mut h, label, "beta");
    click(&mut h, replace);
    match one_sent(&engine) {
        Command::Restore {
            backup,
            url: sent,
            confirmed,
            ..
        } => {
            assert_eq!(backup, b.id);
            assert_eq!(sent.as_str(), url);
            assert!(confirmed);
        }
        _ => panic!("Restore expected"),
    }
    assert!(h.state().state.restore_dialog.is_none());
}

#[test]
fn the_schedule_editor_sends_the_fields_typed() {
    let engine = StandIn::default();
    let (data, _alpha, beta) = two_projects();
    let mut h = unlocked(&engine, data);
    click(&mut h, "Schedules");
    click(&mut h, "Add schedule");
    h.check_accessibility();
    retype(&mut h, "Schedule name", "nightly");
    pick(&mut h, "Project", "Beta");
    retype(&mut h, "Cron line", "30 2 * * MON-FRI");
    assert!(
        h.query_by_label("At 02:30 on Monday through Friday")
            .is_some()
    );
    pick(&mut h, "Kind", "data");
    retype(&mut h, "Keep last", "14");
    retype(&mut h, "Keep days", "30");
    retype(&mut h, "Timeout (s)", "600");
    retype(&mut h, "Webhook URL", "https://hooks.example.com/x");
    // A field that is not a number is refused at the field, nothing sent.
    retype(&mut h, "Retries", "three");
    click(&mut h, "Save schedule");
    nothing_sent(&engine, "a retry count that is not a number");
    assert!(
        h.query_by_label_contains("must be a whole number")
            .is_some()
    );
    retype(&mut h, "Retries", "3");
    click(&mut h, "Save schedule");
    match one_sent(&engine) {
        Command::SaveJob { id, input } => {
            assert_eq!(id, None, "a new schedule");
            assert_eq!(input.name, "nightly");
            assert_eq!(input.project, beta.id);
            assert_eq!(input.cron, "30 2 * * MON-FRI");
            assert_eq!(input.kind, BackupKind::Data);
            assert_eq!(input.keep_last, Some(14));
            assert_eq!(input.keep_days, Some(30));
            assert_eq!(input.timeout_secs, Some(600));
            assert_eq!(input.retries, 3);
            assert_eq!(
                input.webhook_url.as_deref(),
                Some("https://hooks.example.com/x")
            );
            assert!(input.enabled);
            assert_eq!((input.profile, input.compression), (None, None));
        }
        _ => panic!("SaveJob expected"),
    }
    // The form stays until the engine says it is saved.
    assert!(h.state().state.job_form.is_some());
    feed(&mut h, &engine, Event::JobSaved("nightly".into()));
    assert!(h.state().state.job_form.is_none());
}

#[test]
fn a_schedules_row_sends_run_now_enable_and_an_edit_with_its_id() {
    let engine = StandIn::default();
    let (mut data, alpha, _beta) = two_projects();
    let j = job(&alpha, "nightly");
    data.jobs = vec![j.clone()];
    let mut h = unlocked(&engine, data);
    click(&mut h, "Schedules");
    h.check_accessibility();
    click(&mut h, "Run nightly now");
    match one_sent(&engine) {
        Command::RunJobNow(id) => assert_eq!(id, j.id),
        _ => panic!("RunJobNow expected"),
    }
    click(&mut h, "Enabled: nightly");
    match one_sent(&engine) {
        Command::SetJobEnabled(id, on) => assert_eq!((id, on), (j.id, false)),
        _ => panic!("SetJobEnabled expected"),
    }
    click(&mut h, "Edit nightly");
    retype(&mut h, "Keep last", "9");
    click(&mut h, "Save schedule");
    match one_sent(&engine) {
        Command::SaveJob { id, input } => {
            assert_eq!(id, Some(j.id), "the schedule edited");
            assert_eq!(input.keep_last, Some(9));
            assert_eq!(input.retries, 1);
            assert_eq!(input.cron, j.cron);
            // What the form does not show is kept.
            assert_eq!(input.profile, j.profile);
            assert_eq!(input.compression, Some(j.compression));
        }
        _ => panic!("SaveJob expected"),
    }
}

#[test]
fn settings_changes_send_set_setting() {
    let engine = StandIn::default();
    let (data, _alpha, _beta) = two_projects();
    let mut h = unlocked(&engine, data);
    click(&mut h, "Settings");
    h.check_accessibility();
    // A text setting: sent by its Apply button, which shows once it differs.
    assert!(
        h.query_by_label("Apply first retry after (seconds)")
            .is_none()
    );
    // Words, with the CLI key in the hover text.
    assert!(h.query_by_label("retry-delay").is_none());
    h.get_by_label("First retry after (seconds)").hover();
    // A tooltip waits for the pointer to rest.
    for _ in 0..45 {
        h.step();
    }
    assert!(
        h.query_by_label_contains("supabackup settings set retry-delay VALUE")
            .is_some()
    );
    retype(&mut h, "First retry after (seconds)", "5");
    nothing_sent(&engine, "typing");
    click(&mut h, "Apply first retry after (seconds)");
    match one_sent(&engine) {
        Command::SetSetting(key, value) => {
            assert_eq!((key, value.as_str()), (SettingKey::RetryDelay, "5"))
        }
        _ => panic!("SetSetting expected"),
    }
    // A choice: sent as soon as it is picked.
    pick(&mut h, "Theme", "dark");
    match one_sent(&engine) {
        Command::SetSetting(key, value) => {
            assert_eq!((key, value.as_str()), (SettingKey::Theme, "dark"))
        }
        _ => panic!("SetSetting expected"),
    }
    // A folder: the OS picker is the engine side's; its answer fills the field.
    click(&mut h, "Choose the backup folder…");
    match one_sent(&engine) {
        Command::PickFolder(key) => assert_eq!(key, SettingKey::BackupRoot),
        _ => panic!("PickFolder expected"),
    }
    feed(
        &mut h,
        &engine,
        Event::FolderPicked(SettingKey::BackupRoot, PathBuf::from("/mnt/backups")),
    );
    click(&mut h, "Apply backup folder");
    match one_sent(&engine) {
        Command::SetSetting(key, value) => {
            assert_eq!(
                (key, value.as_str()),
                (SettingKey::BackupRoot, "/mnt/backups")
            )
        }
        _ => panic!("SetSetting expected"),
    }
    click(&mut h, "Export catalog to SQLite…");
    assert!(matches!(one_sent(&engine), Command::ExportSqlite));
}

#[test]
fn a_running_backup_shows_cancels_and_blocks_a_second_one() {
    let engine = StandIn::default();
    let (data, alpha, _beta) = two_projects();
    let mut h = unlocked(&engine, data);
    click(&mut h, "Backups");
    let progress = Arc::new(Progress::new());
    progress.set_total(1000);
    progress.add_read(250);
    let cancel = CancelToken::new();
    feed(
        &mut h,
        &engine,
        Event::TaskStarted(TaskInfo {
            id: 7,
            label: "Backup of Alpha".into(),
            project: Some(alpha.id),
            is_backup: true,
            progress,
            cancel: cancel.clone(),
        }),
    );
    assert!(h.query_by_label("1 job(s) running").is_some());
    assert!(h.query_by_label_contains("25%").is_some());
    // No second backup of the same project while one runs (top bar, panel).
    assert_eq!(h.get_all_by_label("Back up now").count(), 2);
    for b in h.get_all_by_label("Back up now") {
        assert!(b.accesskit_node().is_disabled());
    }
    click(&mut h, "Cancel");
    assert!(cancel.is_cancelled(), "Cancel trips the task's own switch");
    nothing_sent(&engine, "Cancel");
    feed(
        &mut h,
        &engine,
        Event::TaskFinished {
            id: 7,
            ok: false,
            message: "Backup of Alpha cancelled".into(),
        },
    );
    assert!(h.state().state.tasks.is_empty());
    assert!(h.query_by_label("No jobs running").is_some());
    assert!(h.query_by_label("Backup of Alpha cancelled").is_some());
    for b in h.get_all_by_label("Back up now") {
        assert!(!b.accesskit_node().is_disabled());
    }
}

#[test]
fn lock_now_and_ctrl_l_send_lock_and_locked_hides_everything() {
    let engine = StandIn::default();
    let (data, _alpha, _beta) = two_projects();
    let mut h = unlocked(&engine, data);
    click(&mut h, "Lock now");
    assert!(matches!(one_sent(&engine), Command::Lock));
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::L);
    h.step();
    h.step();
    assert!(matches!(one_sent(&engine), Command::Lock));
    feed(&mut h, &engine, Event::Locked);
    assert_eq!(h.state().state.screen, Screen::Locked);
    assert!(h.state().state.data.projects.is_empty());
    assert!(h.query_by_label("Projects").is_none());
    assert!(h.query_by_label_contains("Alpha").is_none());
}

#[test]
fn the_project_form_sends_test_url_and_save_project_with_the_fields_typed() {
    let engine = StandIn::default();
    let (data, _alpha, _beta) = two_projects();
    let mut h = unlocked(&engine, data);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    h.step();
    h.step();
    assert!(h.state().state.project_form.is_some());
    h.check_accessibility();
    let url = "postgresql://postgres:s3cret@db.example.com:5432/postgres";
    retype(&mut h, "Name", "Gamma");
    retype(&mut h, "Database URL", url);
    retype(&mut h, "Service key", "svc-key-1234");
    pick(&mut h, "Environment", "staging");
    // What was typed in the secret fields is not readable in the window
    // (nor by a screen reader) until "Show secrets" is ticked.
    for secret in ["s3cret", "svc-key-1234"] {
        assert_no_secret("the form", screen_text(&h), secret);
    }
    click(&mut h, "Show secrets");
    assert!(screen_text(&h).contains("svc-key-1234"), "shown when asked");
    click(&mut h, "Show secrets");
    // The form's button, not those of the project cards behind it.
    h.get_all_by_label("Test connection")
        .last()
        .unwrap()
        .click();
    h.step();
    h.step();
    match one_sent(&engine) {
        Command::TestUrl(sent) => assert_eq!(sent.as_str(), url),
        _ => panic!("TestUrl expected"),
    }
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject {
            id,
            input,
            active,
            encryption,
            copies,
            storage,
        } => {
            assert_eq!(id, None, "a new project");
            assert!(storage.is_none(), "no Storage fields typed");
            assert!(encryption.is_none(), "left off");
            assert!(copies.is_none(), "no destinations: copied nowhere");
            assert_eq!(input.name, "Gamma");
            assert_eq!(input.environment, "staging");
            assert_eq!(input.db_url.as_str(), url);
            assert_eq!(input.service_key.as_str(), "svc-key-1234");
            assert!(input.anon_key.is_empty());
            assert!(active);
        }
        _ => panic!("SaveProject expected"),
    }
    feed(&mut h, &engine, Event::ProjectSaved("Gamma".into()));
    assert!(h.state().state.project_form.is_none());
}

/// A fresh age public key (`age1...`).
fn age_key() -> String {
    supabackup::engine::set::crypt::generate_identity().1
}

/// The add-project form, its required fields filled in.
fn new_project_form(h: &mut H) {
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    h.step();
    h.step();
    assert!(h.state().state.project_form.is_some());
    retype(h, "Name", "Gamma Shop");
    retype(
        h,
        "Database URL",
        "postgresql://postgres:pw@db.example.com:5432/postgres",
    );
}

#[test]
fn encryption_to_public_keys_is_checked_as_typed_and_sent_with_the_project() {
    let engine = StandIn::default();
    let (data, _alpha, _beta) = two_projects();
    let mut h = unlocked(&engine, data);
    new_project_form(&mut h);
    click(&mut h, "To public keys (age1…)");
    h.check_accessibility();
    let (k1, k2) = (age_key(), age_key());
    // A key that is not one: the error, at the field, names it, before
    // any save; and a save sends nothing.
    retype(&mut h, "Public keys", &format!("{k1}\nage1notakey"));
    assert!(
        h.query_by_label_contains("\"age1notakey\" is not an age public key")
            .is_some(),
        "{}",
        screen_text(&h)
    );
    click(&mut h, "Save");
    nothing_sent(&engine, "a public key that is not one");
    assert!(h.query_by_label("Fix the fields marked in red.").is_some());
    retype(&mut h, "Public keys", &format!("{k1}\n {k2} \n"));
    assert!(
        h.query_by_label_contains("is not an age public key")
            .is_none()
    );
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject {
            id,
            input,
            encryption,
            ..
        } => {
            assert_eq!((id, input.name.as_str()), (None, "Gamma Shop"));
            match encryption {
                Some(EncryptionChange::Recipients(keys)) => assert_eq!(keys, [k1, k2]),
                _ => panic!("Recipients expected"),
            }
        }
        _ => panic!("SaveProject expected"),
    }
}

#[test]
fn a_passphrase_must_be_typed_twice_alike_and_long_enough() {
    let engine = StandIn::default();
    let (data, _alpha, _beta) = two_projects();
    let mut h = unlocked(&engine, data);
    new_project_form(&mut h);
    click(&mut h, "With a passphrase");
    h.check_accessibility();
    retype(&mut h, "Backup passphrase", "short");
    retype(&mut h, "Passphrase again", "short");
    assert!(
        h.query_by_label_contains("at least 12 characters:")
            .is_some()
    );
    click(&mut h, "Save");
    nothing_sent(&engine, "a short passphrase");
    let pass = "a long enough backup passphrase";
    retype(&mut h, "Backup passphrase", pass);
    retype(
        &mut h,
        "Passphrase again",
        "a long enough backup passphrasf",
    );
    assert!(h.query_by_label("the two passphrases differ").is_some());
    click(&mut h, "Save");
    nothing_sent(&engine, "two different passphrases");
    // Typed in password fields: not readable until asked for.
    assert_no_secret("the form", screen_text(&h), pass);
    retype(&mut h, "Passphrase again", pass);
    assert!(h.query_by_label("the two passphrases differ").is_none());
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject { encryption, .. } => match encryption {
            Some(EncryptionChange::Passphrase(p)) => assert_eq!(p.as_str(), pass),
            _ => panic!("Passphrase expected"),
        },
        _ => panic!("SaveProject expected"),
    }
}

#[test]
fn generate_a_key_sends_its_command_and_the_answer_fills_the_keys_and_warns() {
    let engine = StandIn::default();
    let (data, _alpha, _beta) = two_projects();
    let mut h = unlocked(&engine, data);
    new_project_form(&mut h);
    click(&mut h, "To public keys (age1…)");
    click(&mut h, "Generate a key…");
    match one_sent(&engine) {
        Command::GenerateKey { file_name } => {
            assert_eq!(file_name, "gamma-shop-age-identity.txt")
        }
        _ => panic!("GenerateKey expected"),
    }
    // The engine side asked where, wrote the file, and answers.
    let key = age_key();
    let path = PathBuf::from("/home/me/keys/gamma-shop-age-identity.txt");
    feed(
        &mut h,
        &engine,
        Event::KeyGenerated {
            path: path.clone(),
            public_key: key.clone(),
        },
    );
    let form = h.state().state.project_form.as_ref().unwrap();
    assert_eq!(form.encryption.keys(), std::slice::from_ref(&key));
    let text = screen_text(&h);
    assert!(text.contains(&key), "the key in the field: {text}");
    assert!(
        h.query_by_label_contains(
            "keep the new identity file safe: /home/me/keys/gamma-shop-age-identity.txt"
        )
        .is_some(),
        "{text}"
    );
    assert!(
        h.query_by_label_contains("Without this file, backups encrypted to")
            .is_some()
    );
    h.check_accessibility();
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject { encryption, .. } => match encryption {
            Some(EncryptionChange::Recipients(keys)) => assert_eq!(keys, [key]),
            _ => panic!("Recipients expected"),
        },
        _ => panic!("SaveProject expected"),
    }
}

#[test]
fn editing_shows_the_saved_encryption_keeps_an_empty_passphrase_and_imports_an_identity() {
    let engine = StandIn::default();
    let (mut data, _alpha, _beta) = two_projects();
    data.projects[0].encryption = EncryptionSetting::Passphrase;
    data.projects[1].encryption = EncryptionSetting::Recipients {
        recipients: vec![age_key()],
    };
    data.projects[1].identity_in_vault = true;
    let (alpha, beta) = (data.projects[0].clone(), data.projects[1].clone());
    let mut h = unlocked(&engine, data);
    click(&mut h, "Projects");
    assert!(
        h.query_by_label("age, with the passphrase in the vault")
            .is_some()
    );
    click(&mut h, "Edit");
    let _reveals = engine.take();
    let form = h.state().state.project_form.as_ref().unwrap();
    assert_eq!(form.encryption.mode, EncryptionMode::Passphrase);
    assert_eq!(
        h.get_by_label("With a passphrase")
            .accesskit_node()
            .toggled(),
        Some(egui::accesskit::Toggled::True),
        "the saved setting is chosen"
    );
    // The secrets come as the engine sends them.
    feed(
        &mut h,
        &engine,
        Event::Revealed(
            alpha.id,
            SecretSlot::DbUrl,
            Some(Zeroizing::new(
                "postgresql://postgres:pw@db.example.com:5432/alpha".into(),
            )),
        ),
    );
    click(&mut h, "Save");
    match one_sent(&engine) {
        Command::SaveProject { id, encryption, .. } => {
            assert_eq!(id, Some(alpha.id));
            assert!(encryption.is_none(), "empty: the vault's passphrase stays");
        }
        _ => panic!("SaveProject expected"),
    }
    feed(&mut h, &engine, Event::ProjectSaved("Alpha".into()));
    // The second card: keys shown, identity kept, import and forget.
    h.get_all_by_label("Edit").nth(1).unwrap().click();
    h.step();
    h.step();
    let _reveals = engine.take();
    let form = h.state().state.project_form.as_ref().unwrap();
    assert_eq!(form.encryption.mode, EncryptionMode::Recipients);
    assert_eq!(form.encryption.keys().len(), 1);
    assert!(
        h.query_by_label("kept: this machine restores without asking")
            .is_some()
    );
    click(&mut h, "Import identity…");
    match one_sent(&engine) {
        Command::ImportIdentity(id) => assert_eq!(id, beta.id),
        _ => panic!("ImportIdentity expected"),
    }
    click(&mut h, "Forget identity");
    nothing_sent(&engine, "a first click on Forget identity");
    click(&mut h, "Forget it");
    match one_sent(&engine) {
        Command::ForgetIdentity(id) => assert_eq!(id, beta.id),
        _ => panic!("ForgetIdentity expected"),
    }
}

#[test]
fn an_encrypted_set_is_tagged_and_restoring_it_without_vault_keys_asks_for_the_identity() {
    let engine = StandIn::default();
    let (mut data, alpha, beta) = two_projects();
    let key = age_key();
    let mut locked = backup(&alpha, 10, BackupStatus::Completed);
    locked.extra.encryption = Some(SetEncryption::Recipients {
        recipients: vec![key.clone()],
    });
    let plain = backup(&beta, 60, BackupStatus::Completed);
    data.backups = vec![locked.clone(), plain.clone()];
    let mut h = unlocked(&engine, data);
    click(&mut h, "Backups");
    h.check_accessibility();
    assert_eq!(
        h.query_all_by_label("encrypted").count(),
        1,
        "one set encrypted"
    );
    // Verify of the set that is not encrypted goes at once; of the
    // encrypted one, the dialog offers the identity (optional).
    row_action(&mut h, 1, "Verify");
    assert!(matches!(one_sent(&engine), Command::Verify(id, k) if id == plain.id && k.is_empty()));
    row_action(&mut h, 0, "Verify");
    nothing_sent(&engine, "opening the verify dialog");
    assert!(
        h.query_by_label_contains(&key).is_some(),
        "the key it is encrypted to"
    );
    // The dialog's button, once the dialog has settled; nothing given:
    // checksums only.
    settle(&mut h, "Cancel");
    h.get_all_by_label("Verify").last().unwrap().click();
    h.step();
    h.step();
    assert!(matches!(one_sent(&engine), Command::Verify(id, k) if id == locked.id && k.is_empty()));
    assert!(h.state().state.restore_dialog.is_none());

    row_action(&mut h, 0, "Restore…");
    h.check_accessibility();
    assert!(
        h.query_by_label_contains("Restoring asks for the identity file")
            .is_some()
    );
    let url = "postgresql://postgres:pw@db.example.com:5432/copy";
    retype(&mut h, "Target database URL", url);
    assert!(
        h.get_by_label("Restore").accesskit_node().is_disabled(),
        "no key yet"
    );
    // The OS dialog is the engine side's; its answer shows in the dialog.
    click(&mut h, "Identity file…");
    assert!(matches!(one_sent(&engine), Command::PickIdentity));
    let path = PathBuf::from("/home/me/keys/alpha.txt");
    feed(&mut h, &engine, Event::IdentityPicked(path.clone()));
    assert!(screen_text(&h).contains("/home/me/keys/alpha.txt"));
    click(&mut h, "Restore");
    match one_sent(&engine) {
        Command::Restore {
            backup,
            url: sent,
            keys,
            ..
        } => {
            assert_eq!((backup, sent.as_str()), (locked.id, url));
            assert_eq!(keys.identity, Some(path.clone()));
        }
        _ => panic!("Restore expected"),
    }
    // A wrong key: the engine's words, as with any failed task.
    let wrong = "data.sql.zst.age cannot be decrypted: none of the identities given is one it \
                 was encrypted to: wrong key";
    feed(
        &mut h,
        &engine,
        Event::TaskFinished {
            id: 3,
            ok: false,
            message: wrong.into(),
        },
    );
    assert!(h.query_by_label(wrong).is_some());
    // Asked to confirm the target's name, the retry keeps the identity.
    feed(
        &mut h,
        &engine,
        Event::RestoreNeedsConfirmation {
            backup: locked.id,
            url: Zeroizing::new(url.into()),
            dbname: "copy".into(),
            message: "copy already has 1 table".into(),
            keys: GivenKeys {
                identity: Some(path.clone()),
                passphrase: None,
            },
        },
    );
    retype(
        &mut h,
        "Type the database name \"copy\" to replace it",
        "copy",
    );
    click(&mut h, "Replace and restore");
    match one_sent(&engine) {
        Command::Restore {
            confirmed, keys, ..
        } => assert_eq!((confirmed, keys.identity), (true, Some(path))),
        _ => panic!("Restore expected"),
    }
}
