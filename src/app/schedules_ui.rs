//! The Schedules panel: the list with next runs and last outcomes, and the
//! editor with a live plain-words preview of the cron line.

use crate::app::state::{Confirm, JobForm, UiState};
use crate::app::widgets::{choice, error_color, field, field_error, ok_color};
use crate::domain::{BackupKind, RunStatus};
use crate::protocol::Command;
use crate::scheduler::CronSpec;
use egui::{Context, RichText, Ui};

fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono::Local)
        .format("%a %Y-%m-%d %H:%M")
        .to_string()
}

/// Draws the Schedules panel.
pub fn schedules_ui(ui: &mut Ui, state: &mut UiState) {
    ui.horizontal(|ui| {
        ui.heading("Schedules");
        if ui.button("Add schedule").clicked() {
            state.job_form = Some(JobForm::new(state.selected_project));
        }
    });
    ui.label(
        RichText::new(
            "Schedules run while this window is open (also while it is locked). For a machine \
             without the window, use `supabackup daemon` or `supabackup run-due` from cron.",
        )
        .weak(),
    );
    ui.add_space(6.0);
    if state.data.jobs.is_empty() {
        ui.label("No schedules yet.");
        return;
    }
    let mut commands = Vec::new();
    let mut edit = None;
    let mut remove = None;
    egui::Grid::new("jobs")
        .striped(true)
        .num_columns(7)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            for h in [
                "Name", "Project", "When", "Next run", "Last run", "Enabled", "",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for j in &state.data.jobs {
                ui.label(&j.name);
                ui.label(state.data.project_name(j.project_id).unwrap_or_default());
                match CronSpec::parse(&j.cron) {
                    Ok(c) => ui.label(c.describe()).on_hover_text(&j.cron),
                    Err(e) => ui.label(RichText::new(e.rule).color(error_color(ui))),
                };
                ui.label(j.next_run_at.map(local).unwrap_or_else(|| "-".into()));
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
                let mut enabled = j.enabled;
                if ui
                    .checkbox(&mut enabled, format!("Enabled: {}", j.name))
                    .changed()
                {
                    commands.push(Command::SetJobEnabled(j.id, enabled));
                }
                ui.horizontal(|ui| {
                    if ui.button(format!("Run {} now", j.name)).clicked() {
                        commands.push(Command::RunJobNow(j.id));
                    }
                    if ui.button(format!("Edit {}", j.name)).clicked() {
                        edit = Some(JobForm::edit(j));
                    }
                    if ui.button(format!("Remove {}", j.name)).clicked() {
                        remove = Some(Confirm::RemoveJob(j.id, j.name.clone()));
                    }
                });
                ui.end_row();
            }
        });
    for c in commands {
        state.send(c);
    }
    if edit.is_some() {
        state.job_form = edit;
    }
    if remove.is_some() {
        state.confirm = remove;
    }
}

/// The schedule editor.
pub fn job_form_ui(ctx: &Context, state: &mut UiState) {
    let Some(form) = &mut state.job_form else {
        return;
    };
    let mut close = false;
    let mut save = None;
    let projects = state.data.project_choices();
    let modal = crate::app::widgets::modal("job_form").show(ctx, |ui| {
        ui.set_width(620.0);
        ui.heading(if form.id.is_some() {
            "Edit schedule"
        } else {
            "Add schedule"
        });
        egui::Grid::new("job_fields")
            .num_columns(2)
            .spacing([10.0, 6.0])
            .show(ui, |ui| {
                field(ui, "Schedule name", &mut form.name, "nightly", false);
                field_error(ui, &form.errors, "name");
                let l = ui.label("Project");
                let current = projects
                    .iter()
                    .find(|(id, _)| Some(*id) == form.project)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_else(|| "(choose)".into());
                egui::ComboBox::from_id_salt("job_project")
                    .selected_text(current)
                    .show_ui(ui, |ui| {
                        for (id, name) in &projects {
                            ui.selectable_value(&mut form.project, Some(*id), name);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
                field_error(ui, &form.errors, "project");
                field(
                    ui,
                    "Cron line",
                    &mut form.cron,
                    "0 3 * * *  (minute hour day month weekday)",
                    false,
                );
                ui.label("");
                ui.vertical(|ui| match CronSpec::parse(&form.cron) {
                    Ok(c) => {
                        ui.label(RichText::new(c.describe()).strong());
                        for t in c.upcoming(chrono::Utc::now(), &chrono::Local, 5) {
                            ui.label(RichText::new(local(t)).weak());
                        }
                    }
                    Err(e) => {
                        ui.label(RichText::new(e.rule).color(error_color(ui)));
                    }
                });
                ui.end_row();
                choice(ui, "Kind", &mut form.kind, &BackupKind::ALL, |k| k.as_str());
                field(
                    ui,
                    "Keep last",
                    &mut form.keep_last,
                    "number of backups (empty: all)",
                    false,
                );
                field_error(ui, &form.errors, "keep_last");
                field(
                    ui,
                    "Keep days",
                    &mut form.keep_days,
                    "days (empty: no age limit)",
                    false,
                );
                field_error(ui, &form.errors, "keep_days");
                field(
                    ui,
                    "Retries",
                    &mut form.retries,
                    "attempts after a failure",
                    false,
                );
                field_error(ui, &form.errors, "retries");
                field(ui, "Timeout (s)", &mut form.timeout, "empty: none", false);
                field_error(ui, &form.errors, "timeout");
                field(
                    ui,
                    "Webhook URL",
                    &mut form.webhook,
                    "https://... (POSTed when a run fails)",
                    false,
                );
                field_error(ui, &form.errors, "webhook");
                ui.label("");
                ui.checkbox(&mut form.enabled, "Enabled");
                ui.end_row();
            });
        ui.horizontal(|ui| {
            if ui.button("Save schedule").clicked() {
                match form.input() {
                    Ok(input) => save = Some(Command::SaveJob { id: form.id, input }),
                    Err(errors) => form.errors = errors,
                }
            }
            close = ui.button("Cancel").clicked();
        });
    });
    if modal.should_close() {
        close = true;
    }
    if let Some(c) = save {
        state.send(c);
    }
    if close {
        state.job_form = None;
    }
}
