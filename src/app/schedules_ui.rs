//! The Schedules panel: every schedule the catalog holds, its next runs.

use crate::app::state::UiState;
use crate::app::widgets::{error_color, ok_color};
use crate::domain::RunStatus;
use crate::scheduler::CronSpec;
use egui::{RichText, Ui};

/// Draws the Schedules panel.
pub fn schedules_ui(ui: &mut Ui, state: &mut UiState) {
    ui.heading("Schedules");
    if state.data.jobs.is_empty() {
        ui.label("No schedules yet.");
        return;
    }
    egui::Grid::new("jobs")
        .striped(true)
        .num_columns(6)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            for h in ["Name", "Project", "When", "Next run", "Last run", "Enabled"] {
                ui.strong(h);
            }
            ui.end_row();
            for j in &state.data.jobs {
                ui.label(&j.name);
                let project = state
                    .data
                    .projects
                    .iter()
                    .find(|p| p.view.id == j.project_id)
                    .map(|p| p.view.name.clone())
                    .unwrap_or_default();
                ui.label(project);
                match CronSpec::parse(&j.cron) {
                    Ok(c) => ui.label(format!("{} ({})", c.describe(), j.cron)),
                    Err(e) => ui.label(RichText::new(e.rule).color(error_color(ui))),
                };
                ui.label(
                    j.next_run_at
                        .map(|t| {
                            t.with_timezone(&chrono::Local)
                                .format("%Y-%m-%d %H:%M")
                                .to_string()
                        })
                        .unwrap_or_else(|| "-".into()),
                );
                match j.last_run_status {
                    Some(RunStatus::Failed) => {
                        ui.label(RichText::new("failed").color(error_color(ui)))
                    }
                    Some(RunStatus::Succeeded) => {
                        ui.label(RichText::new("succeeded").color(ok_color(ui)))
                    }
                    Some(s) => ui.label(s.as_str()),
                    None => ui.label("never"),
                };
                ui.label(if j.enabled { "yes" } else { "no" });
                ui.end_row();
            }
        });
}
