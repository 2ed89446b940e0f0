//! The window for someone who never read the README, over the stand-in
//! engine: the first-run page, "Restore from a folder…", the keyboard
//! shortcuts from one table, and the window at 1.5x and 2x scale in a
//! 1024x640 window.

use super::details::contents;
use super::*;
use supabackup::app::{FIRST_RUN, RESTORE_FROM_FOLDER};
use supabackup::protocol::FoundTools;

#[test]
fn the_first_run_page_says_what_to_do_and_where_supabase_keeps_the_connection_string() {
    let engine = StandIn::default();
    let (mut data, _, _) = two_projects();
    data.projects.clear();
    let mut h = unlocked(&engine, data);
    for panel in ["Dashboard", "Projects"] {
        click(&mut h, panel);
        assert!(h.query_by_label(FIRST_RUN).is_some(), "{panel}");
        for words in [
            "click Connect",
            "Session pooler",
            "pooler.supabase.com:5432/postgres",
            "transaction pooler on port 6543 cannot run it",
            "db.<ref>.supabase.co:5432",
            "IPv6",
        ] {
            assert!(
                h.query_by_label_contains(words).is_some(),
                "{panel}: {words:?} not said"
            );
        }
    }
    h.check_accessibility();
    // The engine's look for pg_dump found none: the page says so.
    feed(
        &mut h,
        &engine,
        Event::ToolsFound(Box::new(FoundTools {
            tools: vec![],
            searched: vec![PathBuf::from("/usr/lib/postgresql")],
        })),
    );
    assert!(h.query_by_label_contains("No pg_dump was found").is_some());
    click(&mut h, RESTORE_FROM_FOLDER);
    assert!(matches!(one_sent(&engine), Command::PickSetFolder));
    click(&mut h, "Dashboard");
    h.get_all_by_label("Add project").last().unwrap().click();
    h.step();
    h.step();
    assert!(h.state().state.project_form.is_some());
    assert_eq!(h.state().state.panel, Panel::Projects);
}

#[test]
fn a_folder_is_shown_checked_before_it_asks_for_the_target_and_can_join_the_history() {
    let engine = StandIn::default();
    let (data, alpha, _) = two_projects();
    let mut h = unlocked(&engine, data);
    click(&mut h, "Backups");
    click(&mut h, RESTORE_FROM_FOLDER);
    assert!(matches!(one_sent(&engine), Command::PickSetFolder));
    let dir = PathBuf::from("/media/usb/shop/20250101T030000Z-full-abcd1234");
    // A damaged folder: said, nothing to restore.
    feed(
        &mut h,
        &engine,
        Event::FolderSet(
            dir.clone(),
            Box::new(Err(
                "data.sql.zst is damaged (its checksum does not match the manifest)".into(),
            )),
        ),
    );
    assert!(
        h.query_by_label_contains("data.sql.zst is damaged")
            .is_some()
    );
    assert!(h.get_by_label("Restore").accesskit_node().is_disabled());
    assert!(h.query_by_label("Target database URL").is_none());
    click(&mut h, "Close");
    assert!(h.state().state.folder_restore.is_none());
    // A good one: what it holds first, then the target.
    let b = backup(&alpha, 90, BackupStatus::Completed);
    feed(
        &mut h,
        &engine,
        Event::FolderSet(dir.clone(), Box::new(Ok(contents(&b)))),
    );
    assert!(
        h.query_by_label("Every file matches its size and SHA-256 in the manifest.")
            .is_some()
    );
    for shown in ["PostgreSQL 17.2", "public.orders", "data.sql.zst"] {
        assert!(h.query_by_label(shown).is_some(), "{shown:?} not shown");
    }
    h.check_accessibility();
    assert!(h.get_by_label("Restore").accesskit_node().is_disabled());
    let url = "postgresql://postgres:pw@localhost:5432/postgres";
    type_in(&mut h, "Target database URL", url);
    assert!(!h.get_by_label("Restore").accesskit_node().is_disabled());
    click(&mut h, "Add to the history");
    match one_sent(&engine) {
        Command::ImportFolder(d) => assert_eq!(d, dir),
        _ => panic!("ImportFolder expected"),
    }
    assert!(
        h.get_by_label("Add to the history")
            .accesskit_node()
            .is_disabled(),
        "once"
    );
    click(&mut h, "Restore");
    match one_sent(&engine) {
        Command::RestoreFolder {
            dir: d,
            url: u,
            confirmed,
            keys,
        } => {
            assert_eq!((d, u.as_str(), confirmed), (dir.clone(), url, false));
            assert!(keys.is_empty());
        }
        _ => panic!("RestoreFolder expected"),
    }
    assert!(h.state().state.folder_restore.is_none());
    // The target has tables: the dialog comes back asking for its name.
    feed(
        &mut h,
        &engine,
        Event::FolderRestoreNeedsConfirmation {
            dbname: "postgres".into(),
            message: "the target has 3 tables".into(),
        },
    );
    let label = "Type the database name \"postgres\" to replace it";
    assert!(h.query_by_label(label).is_some());
    assert!(
        h.get_by_label("Replace and restore")
            .accesskit_node()
            .is_disabled()
    );
    type_in(&mut h, label, "postgres");
    click(&mut h, "Replace and restore");
    match one_sent(&engine) {
        Command::RestoreFolder {
            confirmed, url: u, ..
        } => {
            assert!(confirmed, "the name was typed");
            assert_eq!(u.as_str(), url, "the target kept");
        }
        _ => panic!("RestoreFolder expected"),
    }
}

#[test]
fn shortcuts_come_from_one_table_listed_in_the_help_overlay() {
    let engine = StandIn::default();
    let (mut data, _, _) = two_projects();
    data.destinations = vec![supabackup::engine::DestinationView {
        id: supabackup::domain::DestinationId::new(),
        name: "nas".into(),
        kind: "folder",
        location: "/mnt/nas".into(),
        projects: vec![],
        schedules: vec![],
        created_at: chrono::Utc::now(),
    }];
    let mut h = unlocked(&engine, data);
    h.key_press(egui::Key::F1);
    h.step();
    h.step();
    assert!(h.query_by_label("Keyboard shortcuts").is_some());
    let ctx = h.ctx.clone();
    for s in supabackup::app::shortcuts::SHORTCUTS {
        assert!(
            h.query_by_label(&ctx.format_shortcut(&s.keys)).is_some(),
            "{} not listed",
            s.what
        );
        assert!(h.query_by_label(s.what).is_some(), "{} not listed", s.what);
    }
    h.check_accessibility();
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(!h.state().state.show_help);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num3);
    h.step();
    assert_eq!(h.state().state.panel, Panel::Backups);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::O);
    h.step();
    assert!(matches!(one_sent(&engine), Command::PickSetFolder));
    h.key_press_modifiers(
        egui::Modifiers::COMMAND.plus(egui::Modifiers::SHIFT),
        egui::Key::S,
    );
    h.step();
    assert!(matches!(one_sent(&engine), Command::Sync(None)));
}

#[test]
fn at_twice_the_scale_in_a_small_window_nothing_is_cut_off_and_the_history_scrolls() {
    for ppp in [1.5, 2.0] {
        let engine = StandIn::default();
        let (mut data, alpha, beta) = two_projects();
        data.backups = (0..60)
            .map(|i| {
                backup(
                    if i % 2 == 0 { &alpha } else { &beta },
                    i * 30,
                    BackupStatus::Completed,
                )
            })
            .collect();
        data.backups[3].status = BackupStatus::Failed;
        data.backups[3].error = Some(format!("pg_dump failed: {}", "x".repeat(900)));
        let link = engine.clone();
        let mut h: H = Harness::builder()
            // A 1024x640 window in pixels: fewer points at a larger scale.
            .with_size(egui::vec2(1024.0 / ppp, 640.0 / ppp))
            .with_pixels_per_point(ppp)
            .build_eframe(move |cc| {
                SupabackupApp::with_engine(
                    cc,
                    Box::new(move |_waker| Box::new(link.clone()) as Box<dyn Link>),
                )
            });
        feed(&mut h, &engine, Event::Opened(VaultState::Locked));
        feed(&mut h, &engine, Event::Unlocked);
        feed(&mut h, &engine, Event::Data(Box::new(data)));
        let inside = |h: &H, label: &str| {
            let r = h.get_all_by_label(label).next().unwrap().rect();
            assert!(
                r.min.x >= 0.0
                    && r.min.y >= 0.0
                    && r.max.x <= 1024.0 / ppp
                    && r.max.y <= 640.0 / ppp,
                "at {ppp}x {label:?} is cut off: {r:?}"
            );
        };
        for label in [
            "Lock now",
            "Shortcuts",
            "Back up now",
            "Dashboard",
            "Activity",
        ] {
            inside(&h, label);
        }
        // The top bar's buttons do not overlap: they wrap instead.
        let top: Vec<(&str, egui::Rect)> = ["Lock now", "Shortcuts", "Light theme", "Back up now"]
            .into_iter()
            .map(|l| (l, h.get_by_label(l).rect()))
            .chain(std::iter::once((
                "Active project",
                h.get_by_role_and_label(Role::ComboBox, "Active project")
                    .rect(),
            )))
            .collect();
        for (i, (a, ra)) in top.iter().enumerate() {
            for (b, rb) in &top[i + 1..] {
                assert!(
                    !ra.intersects(*rb),
                    "at {ppp}x {a:?} {ra:?} overlaps {b:?} {rb:?}"
                );
            }
        }
        click(&mut h, "Backups");
        inside(&h, RESTORE_FROM_FOLDER);
        // 60 rows do not fit: the table draws those in view and scrolls.
        let shown = h.query_all_by_label(supabackup::app::ACTIONS).count();
        assert!(
            shown > 0 && shown < 60,
            "at {ppp}x {shown} of 60 rows drawn"
        );
        // The failed backup's details: its long error wraps inside.
        let failed = h.state().state.data.backups[3].id;
        h.get_all_by_label(supabackup::app::ACTIONS)
            .nth(3)
            .unwrap()
            .hover();
        h.step();
        h.step();
        row_action(&mut h, 3, "Details");
        assert_eq!(
            h.state().state.details.as_ref().map(|d| d.backup),
            Some(failed)
        );
        settle(&mut h, supabackup::app::COPY_ERROR);
        // The details view shows all of it, wrapped.
        let r = h
            .query_all_by_label_contains("pg_dump failed: xxx")
            .map(|n| n.rect())
            .max_by(|a, b| a.height().total_cmp(&b.height()))
            .unwrap();
        assert!(r.height() > 60.0, "at {ppp}x not wrapped: {r:?}");
        assert!(
            r.max.x <= 1024.0 / ppp,
            "at {ppp}x the error runs off: {r:?}"
        );
        inside(&h, supabackup::app::COPY_ERROR);
        inside(&h, "Close details");
        h.check_accessibility();
    }
}
