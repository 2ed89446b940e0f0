//! The Backups table at the window's default size (1180x760): every column
//! shows whole, side by side, with a backup's details open beside it too;
//! each row's actions are in its menu ("…", or a right-click), and a click
//! on a row opens its details.

use super::offsite::destination;
use super::*;
use supabackup::domain::{CopyState, CopyStatus};

/// The window's default size.
const DEFAULT: egui::Vec2 = egui::vec2(1180.0, 760.0);

/// The headers in order (the date column sorts, newest first).
const HEADERS: [&str; 8] = [
    "Date v", "Project", "Kind", "Status", "Size", "Time", "Rows", "Copies",
];

/// The window at `size`, unlocked, showing `data`.
fn window(engine: &StandIn, data: Snapshot, size: egui::Vec2, ppp: f32) -> H {
    let link = engine.clone();
    let mut h: H = Harness::builder()
        .with_size(size)
        .with_pixels_per_point(ppp)
        .build_eframe(move |cc| {
            SupabackupApp::with_engine(
                cc,
                Box::new(move |_waker| Box::new(link.clone()) as Box<dyn Link>),
            )
        });
    feed(&mut h, engine, Event::Opened(VaultState::Locked));
    feed(&mut h, engine, Event::Unlocked);
    feed(&mut h, engine, Event::Data(Box::new(data)));
    h
}

/// Backups as a busy history has them: a long project name, big numbers,
/// an encrypted set, copies at two destinations, a failed one.
fn history() -> (Snapshot, Vec<Backup>) {
    let (mut data, alpha, beta) = two_projects();
    let mut long = project("Customer analytics warehouse");
    long.id = alpha.id;
    data.projects[0] = long.clone();
    let (nas, offsite) = (
        destination("nas", "folder", &["Customer analytics warehouse"]),
        destination("offsite", "s3", &["Customer analytics warehouse"]),
    );
    let mut first = backup(&long, 5, BackupStatus::Completed);
    first.bytes = 140_000_000;
    first.rows = 3_640_000;
    first.kind = BackupKind::Schema;
    first.extra.encryption = Some(SetEncryption::Recipients {
        recipients: vec![age_key()],
    });
    first.extra.copies = [&nas, &offsite]
        .iter()
        .map(|d| CopyState {
            destination: d.id,
            status: CopyStatus::Copied,
            at: chrono::Utc::now(),
            attempts: 1,
        })
        .collect();
    let mut failed = backup(&beta, 50, BackupStatus::Failed);
    failed.error = Some(format!("pg_dump failed: {}", "y".repeat(300)));
    let backups = vec![first, failed, backup(&beta, 90, BackupStatus::Interrupted)];
    data.backups = backups.clone();
    data.destinations = vec![nas, offsite];
    (data, backups)
}

/// Each header's rect, in order (the details beside may have labels of the
/// same words: the header's are on the date header's line).
fn header_rects(h: &H) -> Vec<(&'static str, egui::Rect)> {
    let line = h.get_by_label(HEADERS[0]).rect().center().y;
    HEADERS
        .iter()
        .map(|t| {
            let rect = h
                .query_all_by_label(t)
                .map(|n| n.rect())
                .find(|r| (r.center().y - line).abs() < 4.0)
                .unwrap_or_else(|| panic!("no header {t:?}"));
            (*t, rect)
        })
        .collect()
}

/// Every header shows whole, left to right without overlapping, before
/// `right` (the window's edge, or the details panel's).
#[track_caller]
fn every_column_shows(h: &H, right: f32, what: &str) {
    let rects = header_rects(h);
    for pair in rects.windows(2) {
        let ((a, ra), (b, rb)) = (pair[0], pair[1]);
        assert!(
            ra.max.x <= rb.min.x,
            "{what}: {a:?} {ra:?} runs into {b:?} {rb:?}"
        );
    }
    let (last, r) = rects[rects.len() - 1];
    assert!(r.max.x <= right, "{what}: {last:?} {r:?} is past {right}");
    assert!(rects[0].1.min.x >= 0.0, "{what}: {rects:?}");
}

/// The cells of the top row, in column order, show whole: each ends
/// before the next column starts, the last before `right`.
#[track_caller]
fn top_row_shows(h: &H, cells: &[&str], right: f32, what: &str) {
    let headers = header_rects(h);
    for (i, cell) in cells.iter().enumerate() {
        // The table's cell, not the details' label of the same words.
        let r = h
            .query_all_by_label(cell)
            .map(|n| n.rect())
            .min_by(|a, b| a.min.x.total_cmp(&b.min.x))
            .unwrap_or_else(|| panic!("{what}: no cell {cell:?}"));
        let end = headers.get(i + 1).map_or(right, |(_, n)| n.min.x);
        assert!(
            r.min.x >= headers[i].1.min.x - 1.0 && r.max.x <= end,
            "{what}: {cell:?} {r:?} is not inside its column (ends at {end})"
        );
    }
}

#[test]
fn at_the_default_size_every_column_shows_with_and_without_the_details() {
    let engine = StandIn::default();
    let (data, backups) = history();
    let mut h = window(&engine, data, DEFAULT, 1.0);
    click(&mut h, "Backups");
    h.check_accessibility();
    let date = backups[0].started_at.format("%Y-%m-%d %H:%M").to_string();
    every_column_shows(&h, DEFAULT.x, "details closed");
    top_row_shows(
        &h,
        &[
            &date,
            "Customer analytics warehouse",
            "encrypted",
            "completed",
            "133.5 MiB",
            "3.0s",
            "3,640,000",
        ],
        DEFAULT.x,
        "details closed",
    );
    for copy in ["nas: copied", "offsite: copied"] {
        let r = h.get_by_label(copy).rect();
        assert!(r.max.x <= DEFAULT.x, "{copy} {r:?}");
    }
    // The failed row says why on its status; its details say all.
    assert_eq!(h.query_all_by_label(supabackup::app::ACTIONS).count(), 3);

    // A click on the row opens its details, beside the table, which still
    // shows every column.
    h.get_by_label("3,640,000").click();
    h.step();
    h.step();
    assert_eq!(
        h.state().state.details.as_ref().map(|d| d.backup),
        Some(backups[0].id)
    );
    assert!(matches!(one_sent(&engine), Command::LoadSetContents(id) if id == backups[0].id));
    settle(&mut h, "Close details");
    let panel = h
        .get_by_label(&format!("Backup {}", backups[0].id.short()))
        .rect()
        .min
        .x;
    assert!(panel < DEFAULT.x * 0.75, "the details take {panel}..");
    every_column_shows(&h, panel, "details open");
    let short = backups[0].started_at.format("%m-%d %H:%M").to_string();
    top_row_shows(
        &h,
        &[
            &short,
            "Customer analytics warehouse",
            // The badge's short form, its tooltip as before.
            "enc",
            "completed",
            "133.5 MiB",
            "3.0s",
            "3,640,000",
        ],
        panel,
        "details open",
    );
    // The copies, counted where their names do not fit.
    let copies = h.get_by_label("2/2 copied").rect();
    assert!(copies.max.x <= panel, "details open: copies {copies:?}");
    h.check_accessibility();
}

#[test]
fn a_rows_menu_and_its_right_click_hold_its_actions() {
    let engine = StandIn::default();
    let (data, backups) = history();
    let mut h = window(&engine, data, DEFAULT, 1.0);
    click(&mut h, "Backups");
    // The failed one: nothing to verify or restore; details and delete.
    open_row_menu(&mut h, 1);
    for off in ["Verify", "Restore…", "Restore drill…", "Open folder"] {
        assert!(
            h.get_by_label(off).accesskit_node().is_disabled(),
            "{off} is offered for a failed backup"
        );
    }
    h.get_by_label("Delete…").click();
    h.step();
    h.step();
    assert_eq!(
        h.state().state.confirm,
        Some(Confirm::DeleteBackup(
            backups[1].id,
            format!("Beta {}", backups[1].started_at.format("%Y-%m-%d %H:%M"))
        ))
    );
    h.get_by_label("Cancel").click();
    h.step();
    h.step();
    nothing_sent(&engine, "a cancelled delete");
    // A right-click on the top row: its menu, the same actions.
    h.get_by_label("3,640,000").click_secondary();
    h.step();
    h.step();
    h.get_by_label("Pin (retention keeps it)").click();
    h.step();
    h.step();
    match one_sent(&engine) {
        Command::SetPinned(id, true) => assert_eq!(id, backups[0].id),
        _ => panic!("SetPinned expected"),
    }
}

#[test]
fn at_twice_the_scale_the_default_window_keeps_every_column_with_the_details_closed() {
    // The same window (1180x760 points) on a 2x screen: 2360x1520 pixels.
    let engine = StandIn::default();
    let (data, _) = history();
    let mut h = window(&engine, data, DEFAULT, 2.0);
    click(&mut h, "Backups");
    every_column_shows(&h, DEFAULT.x, "at 2x");
}
