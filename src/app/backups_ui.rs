//! The Backups panel: live progress of running jobs, the history's filters,
//! the history (`history_ui`), and what a row's actions ask for.

use crate::app::state::{Confirm, RestoreDialog, SetAction, UiState};
use crate::app::widgets::bytes;
use crate::domain::{BackupId, BackupStatus, DestinationId, ProjectId, human_count};
use crate::protocol::{Command, GivenKeys, TaskInfo};
use egui::{RichText, Ui};

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
    crate::app::history_ui::history_table(ui, state);
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
