//! The Backups panel: live progress of running jobs, and the history in a
//! virtualised table (sortable, filterable) with row actions.

use crate::app::encryption::{describe_set, vault_opens};
use crate::app::state::{Confirm, RestoreDialog, SetAction, SortKey, UiState};
use crate::app::widgets::{bytes, error_color, ok_color, status_text};
use crate::domain::{
    Backup, BackupId, BackupStatus, CopyStatus, DestinationId, ProjectId, human_count,
};
use crate::protocol::{Command, GivenKeys, TaskInfo};
use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

/// One running task: bar, counters, ETA, Cancel.
pub fn task_ui(ui: &mut Ui, t: &TaskInfo, cancel: &mut Option<u64>) {
    let p = &t.progress;
    ui.horizontal(|ui| {
        ui.label(RichText::new(&t.label).strong());
        if ui.button("Cancel").clicked() {
            *cancel = Some(t.id);
        }
    });
    let read = p.bytes_read();
    let total = p.total();
    let text = match p.fraction() {
        Some(f) => format!("{:.0}%  {} of ~{}", f * 100.0, bytes(read), bytes(total)),
        None => bytes(read),
    };
    let bar = egui::ProgressBar::new(p.fraction().unwrap_or(0.0)).text(text);
    ui.add(if p.fraction().is_none() {
        bar.animate(true)
    } else {
        bar
    });
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("written {}", bytes(p.bytes_written())));
        ui.separator();
        ui.label(format!("{} rows", human_count(p.rows())));
        ui.separator();
        ui.label(p.current());
        if let Some(eta) = p.eta() {
            ui.separator();
            ui.label(format!("ETA {}s", eta.as_secs()));
        }
    });
}

fn sort_header(ui: &mut Ui, state: &mut UiState, key: SortKey, title: &str) {
    let active = state.history.sort == key;
    let arrow = match (active, state.history.descending) {
        (true, true) => " v",
        (true, false) => " ^",
        _ => "",
    };
    if ui.button(format!("{title}{arrow}")).clicked() {
        if active {
            state.history.descending = !state.history.descending;
        } else {
            state.history.sort = key;
            state.history.descending = true;
        }
        state.history.rebuild(&state.data.backups);
    }
}

/// Draws the Backups panel.
pub fn backups_ui(ui: &mut Ui, state: &mut UiState) {
    ui.horizontal_wrapped(|ui| {
        ui.heading("Backups");
        if let Some(p) = state.selected_project
            && ui
                .add_enabled(
                    state.running_backup(p).is_none(),
                    egui::Button::new("Back up now"),
                )
                .clicked()
        {
            state.open_backup_dialog(p);
        }
        if !state.data.destinations.is_empty()
            && ui
                .add_enabled(
                    state.running_sync().is_none(),
                    egui::Button::new("Sync copies"),
                )
                .on_hover_text(
                    "Copies every backup that is missing at one of its destinations (failed and \
                     pending copies too)",
                )
                .clicked()
        {
            state.send(Command::Sync(None));
        }
        if ui
            .button(crate::app::RESTORE_FROM_FOLDER)
            .on_hover_text(
                "A backup folder copied from another machine or a USB stick: see what it holds, \
                 checksums checked, then restore it or add it to the history",
            )
            .clicked()
        {
            state.send(Command::PickSetFolder);
        }
    });
    let mut cancel = None;
    for t in &state.tasks {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            task_ui(ui, t, &mut cancel);
        });
    }
    if let Some(id) = cancel {
        state.cancel(id);
    }
    ui.add_space(6.0);
    filters_ui(ui, state);
    history_table(ui, state);
}

fn filters_ui(ui: &mut Ui, state: &mut UiState) {
    let mut changed = false;
    ui.horizontal_wrapped(|ui| {
        let project_name = |id: Option<ProjectId>| match id {
            None => "All projects".to_string(),
            Some(id) => state
                .data
                .project_name(id)
                .unwrap_or("(removed project)")
                .to_string(),
        };
        let current = project_name(state.history.filter.project);
        let mut project = state.history.filter.project;
        egui::ComboBox::from_label("Project filter")
            .selected_text(current)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut project, None, "All projects");
                for p in &state.data.projects {
                    ui.selectable_value(&mut project, Some(p.id), &p.name);
                }
            });
        let mut status = state.history.filter.status;
        egui::ComboBox::from_label("Status filter")
            .selected_text(status.map(|s| s.as_str()).unwrap_or("All statuses"))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut status, None, "All statuses");
                for s in BackupStatus::ALL {
                    ui.selectable_value(&mut status, Some(s), s.as_str());
                }
            });
        if project != state.history.filter.project || status != state.history.filter.status {
            state.history.filter.project = project;
            state.history.filter.status = status;
            changed = true;
        }
        ui.label(format!(
            "{} of {} backups",
            state.history.order.len(),
            state.data.backups.len()
        ));
    });
    if changed {
        state.history.rebuild(&state.data.backups);
    }
}

/// What a click in a history row (or the details view) asks for.
pub(crate) enum RowAction {
    /// Verify, or restore, or drill.
    Open(BackupId, SetAction),
    /// Verify the copy at a destination.
    VerifyCopy(BackupId, DestinationId),
    /// Show the backup's details.
    Details(BackupId),
    /// Show the folder in the file manager.
    Reveal(std::path::PathBuf),
    /// Pin or unpin.
    Pin(BackupId, bool),
    /// Delete, once confirmed.
    Delete(BackupId, String),
}

impl RowAction {
    /// Carries it out: a command, a dialog, or the details view.
    pub(crate) fn apply(self, s: &mut UiState) {
        match self {
            RowAction::VerifyCopy(backup, destination) => s.send(Command::VerifyCopy {
                backup,
                destination,
            }),
            RowAction::Details(id) => s.open_details(id),
            RowAction::Open(backup, action) => {
                let d = RestoreDialog::open(backup, action, &s.data);
                // A verify needs no dialog unless the set is encrypted and
                // the vault holds no key: then it asks for one (optional).
                if action == SetAction::Verify && !d.needs_key() {
                    s.send(Command::Verify(backup, GivenKeys::default()));
                } else {
                    s.restore_dialog = Some(d);
                }
            }
            RowAction::Reveal(path) => s.send(Command::OpenFolder(path)),
            RowAction::Pin(id, pinned) => s.send(Command::SetPinned(id, pinned)),
            RowAction::Delete(id, label) => s.confirm = Some(Confirm::DeleteBackup(id, label)),
        }
    }
}

fn history_table(ui: &mut Ui, state: &mut UiState) {
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 8.0;
    let mut action: Option<RowAction> = None;
    let order = std::mem::take(&mut state.history.order);
    let available = ui.available_height().max(240.0);
    TableBuilder::new(ui)
        .id_salt("history")
        .striped(true)
        .resizable(true)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .max_scroll_height(available)
        .column(Column::initial(210.0).at_least(190.0))
        .column(Column::initial(140.0).at_least(80.0))
        .column(Column::initial(120.0))
        .column(Column::initial(90.0))
        .column(Column::initial(80.0))
        .column(Column::initial(70.0))
        .column(Column::initial(90.0))
        .column(Column::initial(130.0).at_least(70.0))
        .column(Column::remainder().at_least(260.0))
        .header(row_height + 4.0, |mut header| {
            header.col(|ui| sort_header(ui, state, SortKey::Date, "Date (UTC)"));
            header.col(|ui| {
                ui.strong("Project");
            });
            header.col(|ui| {
                ui.strong("Kind");
            });
            header.col(|ui| sort_header(ui, state, SortKey::Status, "Status"));
            header.col(|ui| sort_header(ui, state, SortKey::Size, "Size"));
            header.col(|ui| {
                ui.strong("Time");
            });
            header.col(|ui| {
                ui.strong("Rows");
            });
            header.col(|ui| {
                ui.strong("Copies");
            });
            header.col(|ui| {
                ui.strong("Actions");
            });
        })
        .body(|body| {
            body.rows(row_height, order.len(), |mut row| {
                let b = &state.data.backups[order[row.index()]];
                row.col(|ui| {
                    // First, so it is in view however narrow the window.
                    if ui
                        .button("Details")
                        .on_hover_text("Status, the full error, manifest, copies, actions")
                        .clicked()
                    {
                        action = Some(RowAction::Details(b.id));
                    }
                    ui.label(b.started_at.format("%Y-%m-%d %H:%M:%S").to_string());
                });
                row.col(|ui| {
                    ui.label(&b.project_name);
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
                row.col(|ui| {
                    let id = b.id;
                    let label = || {
                        format!(
                            "{} {}",
                            b.project_name,
                            b.started_at.format("%Y-%m-%d %H:%M")
                        )
                    };
                    if let Some(e) = &b.error {
                        if ui.button("Delete").clicked() {
                            action = Some(RowAction::Delete(id, label()));
                        }
                        // One line, cut at the cell's edge: Details shows all.
                        ui.add(
                            egui::Label::new(RichText::new(e).color(error_color(ui)).small())
                                .truncate(),
                        )
                        .on_hover_text(e);
                        return;
                    }
                    ui.add_enabled_ui(b.status == BackupStatus::Completed, |ui| {
                        if ui.button("Verify").clicked() {
                            action = Some(RowAction::Open(id, SetAction::Verify));
                        }
                        if ui.button("Restore…").clicked() {
                            action = Some(RowAction::Open(id, SetAction::Restore));
                        }
                    });
                    ui.menu_button("More", |ui| {
                        let completed = b.status == BackupStatus::Completed;
                        if ui
                            .add_enabled(completed, egui::Button::new("Restore drill…"))
                            .clicked()
                        {
                            action = Some(RowAction::Open(id, SetAction::Drill));
                        }
                        if ui
                            .add_enabled(completed, egui::Button::new("Open folder"))
                            .clicked()
                        {
                            action = Some(RowAction::Reveal(b.path.clone()));
                        }
                        if ui
                            .button(if b.pinned {
                                "Unpin"
                            } else {
                                "Pin (retention keeps it)"
                            })
                            .clicked()
                        {
                            action = Some(RowAction::Pin(id, !b.pinned));
                        }
                        if ui.button("Delete…").clicked() {
                            action = Some(RowAction::Delete(id, label()));
                        }
                    });
                });
            });
        });
    state.history.order = order;
    if let Some(a) = action {
        a.apply(state);
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
    egui::Frame::new()
        .fill(LOCK_COLOR)
        .corner_radius(3.0)
        .inner_margin(egui::Margin::symmetric(4, 0))
        .show(ui, |ui| {
            ui.label(RichText::new(LOCK).small().color(egui::Color32::WHITE))
                .on_hover_text(tip);
        });
}

/// What marks an encrypted set in the history.
pub const LOCK: &str = "encrypted";

/// The badge's colour: reads with white text on light and dark themes.
const LOCK_COLOR: egui::Color32 = egui::Color32::from_rgb(70, 100, 160);

/// Each copy's state, a word per destination in its colour; the tooltip
/// says when, and why a copy failed.
fn copies_cell(ui: &mut Ui, state: &UiState, b: &Backup) {
    if b.extra.copies.is_empty() {
        return;
    }
    for c in &b.extra.copies {
        let name = state.data.destination_name(c.destination);
        let when = c.at.format("%Y-%m-%d %H:%M UTC");
        let (word, color, tip) = match &c.status {
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
                    "The copy at \"{name}\" was found damaged at {when}: {error}. Sync copies \
                     it again."
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
        };
        ui.label(
            RichText::new(format!("{name}: {word}"))
                .color(color)
                .small(),
        )
        .on_hover_text(tip);
    }
    if b.extra.remote_only {
        ui.label(RichText::new("(only there)").weak().small())
            .on_hover_text("Its local folder was removed once every copy was verified");
    }
}
