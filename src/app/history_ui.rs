//! The history: a virtualised table (sortable) that fits the width it has
//! (`history_columns`), each row's actions in its menu (the "…" button or a
//! right-click); a click on a row opens its details.

use crate::app::backups_ui::RowAction;
use crate::app::encryption::{describe_set, vault_opens};
use crate::app::history_columns::{COLUMNS, SPACING, column_widths, date_text};
use crate::app::state::{SetAction, SortKey, UiState};
use crate::app::widgets::{bytes, error_color, ok_color, status_text};
use crate::domain::{Backup, BackupStatus, CopyStatus, human_count};
use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

fn sort_header(ui: &mut Ui, state: &mut UiState, key: SortKey, title: &str) -> egui::Response {
    let active = state.history.sort == key;
    let arrow = match (active, state.history.descending) {
        (true, true) => " v",
        (true, false) => " ^",
        _ => "",
    };
    let r = ui.button(format!("{title}{arrow}"));
    if r.clicked() {
        if active {
            state.history.descending = !state.history.descending;
        } else {
            state.history.sort = key;
            state.history.descending = true;
        }
        state.history.rebuild(&state.data.backups);
    }
    r
}

/// Draws the history table.
pub(crate) fn history_table(ui: &mut Ui, state: &mut UiState) {
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 8.0;
    let mut action: Option<RowAction> = None;
    let order = std::mem::take(&mut state.history.order);
    let available = ui.available_height().max(240.0);
    // The table's own scroll bar takes some of the width.
    let widths = column_widths(ui.available_width() - SCROLL_BAR);
    let open = state.details.as_ref().map(|d| d.backup);
    ui.scope(|ui| {
        ui.spacing_mut().item_spacing.x = SPACING;
        // A click anywhere on a row is the row's (its details), not the
        // start of a text selection.
        ui.style_mut().interaction.selectable_labels = false;
        let mut table = TableBuilder::new(ui)
            .id_salt("history")
            .striped(true)
            .sense(egui::Sense::click())
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .max_scroll_height(available);
        for w in widths {
            table = table.column(Column::exact(w).clip(true));
        }
        table
            .header(row_height + 4.0, |mut header| {
                header.col(|_| {});
                header.col(|ui| {
                    sort_header(ui, state, SortKey::Date, COLUMNS[1].title)
                        .on_hover_text("When it started, UTC");
                });
                for title in [COLUMNS[2].title, COLUMNS[3].title] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
                header.col(|ui| {
                    sort_header(ui, state, SortKey::Status, COLUMNS[4].title);
                });
                header.col(|ui| {
                    sort_header(ui, state, SortKey::Size, COLUMNS[5].title);
                });
                for title in [COLUMNS[6].title, COLUMNS[7].title, COLUMNS[8].title] {
                    header.col(|ui| {
                        ui.strong(title);
                    });
                }
            })
            .body(|body| {
                body.rows(row_height, order.len(), |mut row| {
                    let b = &state.data.backups[order[row.index()]];
                    row.set_selected(open == Some(b.id));
                    row.col(|ui| {
                        let menu = ui.menu_button("…", |ui| row_menu(ui, b, &mut action));
                        menu.response.widget_info(|| {
                            egui::WidgetInfo::labeled(egui::Role::Button, true, ACTIONS)
                        });
                        menu.response.on_hover_text(
                            "Actions: details, verify, restore, drill, open folder, pin, delete \
                             (or right-click the row; a click opens the details)",
                        );
                    });
                    row_cells(&mut row, state, b, widths[1]);
                    let r = row.response();
                    if r.clicked() {
                        action = Some(RowAction::Details(b.id));
                    }
                    r.context_menu(|ui| row_menu(ui, b, &mut action));
                });
            });
    });
    state.history.order = order;
    if let Some(a) = action {
        a.apply(state);
    }
}

/// The accessible name of a row's action menu (its button shows "…").
pub const ACTIONS: &str = "Actions";

/// Room left for the table's vertical scroll bar.
const SCROLL_BAR: f32 = 12.0;

/// A row's cells after its menu: what the backup is.
fn row_cells(row: &mut egui_extras::TableRow<'_, '_>, state: &UiState, b: &Backup, date_w: f32) {
    row.col(|ui| {
        ui.label(date_text(b.started_at, date_w))
            .on_hover_text(b.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    });
    row.col(|ui| {
        ui.add(egui::Label::new(&b.project_name).truncate());
    });
    row.col(|ui| {
        ui.label(b.kind.as_str());
        lock_ui(ui, state, b);
    });
    row.col(|ui| {
        let r = ui.label(status_text(ui, b.status));
        if let Some(e) = &b.error {
            r.on_hover_text(RichText::new(e).color(error_color(ui)));
        }
    });
    row.col(|ui| {
        ui.label(bytes(b.bytes));
    });
    row.col(|ui| {
        ui.label(
            b.duration()
                .map(|d| format!("{:.1}s", d.num_milliseconds() as f64 / 1000.0))
                .unwrap_or_default(),
        );
    });
    row.col(|ui| {
        ui.label(human_count(b.rows));
    });
    row.col(|ui| copies_cell(ui, state, b));
}

/// A row's actions (its "…" menu and its right-click menu).
fn row_menu(ui: &mut Ui, b: &Backup, action: &mut Option<RowAction>) {
    let id = b.id;
    let completed = b.status == BackupStatus::Completed;
    let label = || {
        format!(
            "{} {}",
            b.project_name,
            b.started_at.format("%Y-%m-%d %H:%M")
        )
    };
    if ui.button("Details").clicked() {
        *action = Some(RowAction::Details(id));
    }
    if ui
        .add_enabled(completed, egui::Button::new("Verify"))
        .clicked()
    {
        *action = Some(RowAction::Open(id, SetAction::Verify));
    }
    if ui
        .add_enabled(completed, egui::Button::new("Restore…"))
        .clicked()
    {
        *action = Some(RowAction::Open(id, SetAction::Restore));
    }
    if ui
        .add_enabled(completed, egui::Button::new("Restore drill…"))
        .clicked()
    {
        *action = Some(RowAction::Open(id, SetAction::Drill));
    }
    if ui
        .add_enabled(completed, egui::Button::new("Open folder"))
        .clicked()
    {
        *action = Some(RowAction::Reveal(b.path.clone()));
    }
    let pin = if b.pinned {
        "Unpin"
    } else {
        "Pin (retention keeps it)"
    };
    if ui.button(pin).clicked() {
        *action = Some(RowAction::Pin(id, !b.pinned));
    }
    if ui.button("Delete…").clicked() {
        *action = Some(RowAction::Delete(id, label()));
    }
}

/// A copy's state in a word, its colour, and the tooltip that says when
/// (and why it failed).
fn copy_words(
    ui: &Ui,
    c: &crate::domain::CopyState,
    name: &str,
) -> (&'static str, egui::Color32, String) {
    let when = c.at.format("%Y-%m-%d %H:%M UTC");
    match &c.status {
        CopyStatus::Copied => (
            "copied",
            ok_color(ui),
            format!("Copied to \"{name}\" at {when}"),
        ),
        CopyStatus::Pending => (
            "pending",
            ui.visuals().weak_text_color(),
            format!("Not copied to \"{name}\" yet: Sync copies (or the scheduler) copies it"),
        ),
        CopyStatus::Damaged { error } => (
            "damaged",
            error_color(ui),
            format!(
                "The copy at \"{name}\" was found damaged at {when}: {error}. Sync copies it \
                 again."
            ),
        ),
        CopyStatus::Failed { error } => (
            "failed",
            error_color(ui),
            format!(
                "Copy to \"{name}\" failed at {when} (attempt {}): {error}. Sync copies \
                 tries again.",
                c.attempts.max(1)
            ),
        ),
    }
}

/// The tag of an encrypted set, saying how in its tooltip. (egui's
/// default fonts have no lock emoji: a word in a badge.)
fn lock_ui(ui: &mut Ui, state: &UiState, b: &Backup) {
    let Some(set) = &b.extra.encryption else {
        return;
    };
    let project = state.data.projects.iter().find(|p| p.id == b.project_id);
    let tip = describe_set(set, vault_opens(set, project));
    // The whole word when the cell has room for it, else its short form.
    let text = |t: &str| RichText::new(t).small().color(egui::Color32::WHITE);
    let room = egui::WidgetText::from(text(LOCK))
        .into_galley(
            ui,
            Some(egui::TextWrapMode::Extend),
            f32::INFINITY,
            egui::TextStyle::Small,
        )
        .size()
        .x
        + 8.0;
    let word = if ui.available_width() >= room {
        LOCK
    } else {
        LOCK_SHORT
    };
    egui::Frame::new()
        .fill(LOCK_COLOR)
        .corner_radius(3.0)
        .inner_margin(egui::Margin::symmetric(4, 0))
        .show(ui, |ui| {
            ui.add(egui::Label::new(text(word)).wrap_mode(egui::TextWrapMode::Extend))
                .on_hover_text(tip);
        });
}

/// What marks an encrypted set in the history.
pub const LOCK: &str = "encrypted";

/// Its short form, in a narrow column.
pub const LOCK_SHORT: &str = "enc";

/// The badge's colour: reads with white text on light and dark themes.
const LOCK_COLOR: egui::Color32 = egui::Color32::from_rgb(70, 100, 160);

/// Each copy's state, a word per destination in its colour (in a narrow
/// column: how many are copied, how many failed); the tooltip says when,
/// and why a copy failed. A failed backup's error instead.
fn copies_cell(ui: &mut Ui, state: &UiState, b: &Backup) {
    if b.extra.copies.is_empty() {
        // A backup that failed has none: the cell says why, in one line cut
        // at its edge (the details show all of it).
        if let Some(e) = &b.error {
            ui.add(egui::Label::new(RichText::new(e).color(error_color(ui)).small()).truncate())
                .on_hover_text(e);
        }
        return;
    }
    let lines: Vec<(String, &'static str, egui::Color32, String)> = b
        .extra
        .copies
        .iter()
        .map(|c| {
            let name = state.data.destination_name(c.destination);
            let (word, color, tip) = copy_words(ui, c, &name);
            (name, word, color, tip)
        })
        .collect();
    let small = |t: String, color| RichText::new(t).color(color).small();
    let width = |t: RichText| {
        egui::WidgetText::from(t)
            .into_galley(
                ui,
                Some(egui::TextWrapMode::Extend),
                f32::INFINITY,
                egui::TextStyle::Small,
            )
            .size()
            .x
    };
    let spacing = ui.spacing().item_spacing.x;
    let needed: f32 = lines
        .iter()
        .map(|(name, word, color, _)| width(small(format!("{name}: {word}"), *color)) + spacing)
        .sum();
    if needed <= ui.available_width() {
        for (name, word, color, tip) in lines {
            ui.label(small(format!("{name}: {word}"), color))
                .on_hover_text(tip);
        }
    } else {
        // Narrow: how many are copied, and how many failed; each in the tooltip.
        let tips: Vec<String> = lines.iter().map(|l| l.3.clone()).collect();
        let copied = lines.iter().filter(|l| l.1 == "copied").count();
        let failed = lines.iter().filter(|l| l.1 == "failed").count();
        let color = if copied == lines.len() {
            ok_color(ui)
        } else {
            ui.visuals().weak_text_color()
        };
        ui.label(small(format!("{copied}/{} copied", lines.len()), color))
            .on_hover_text(tips.join("\n"));
        if failed > 0 {
            ui.label(small(format!("{failed} failed"), error_color(ui)))
                .on_hover_text(tips.join("\n"));
        }
    }
    if b.extra.remote_only {
        ui.label(RichText::new("(only there)").weak().small())
            .on_hover_text("Its local folder was removed once every copy was verified");
    }
}
