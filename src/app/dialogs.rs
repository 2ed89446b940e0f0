//! Modal dialogs: the project form, "Back up now", restore / drill (with
//! the typed-name confirmation), and confirmations before deleting. Esc
//! closes each of them.

use crate::app::projects_ui::test_report_ui;
use crate::app::state::{Confirm, TestState, UiState};
use crate::app::widgets::{choice, error_color, field, field_error};
use crate::domain::{BackupKind, Codec, Compression, Environment, Profile, SecretSlot};
use crate::protocol::Command;
use egui::{Context, Id, Modal, RichText};
use zeroize::Zeroizing;

/// Draws whichever dialog is open.
pub fn dialogs_ui(ctx: &Context, state: &mut UiState) {
    project_form_ui(ctx, state);
    crate::app::schedules_ui::job_form_ui(ctx, state);
    backup_dialog_ui(ctx, state);
    restore_dialog_ui(ctx, state);
    confirm_ui(ctx, state);
}

fn project_form_ui(ctx: &Context, state: &mut UiState) {
    let Some(form) = &mut state.project_form else {
        return;
    };
    let mut close = false;
    let mut commands = Vec::new();
    let modal = Modal::new(Id::unique("project_form")).show(ctx, |ui| {
        ui.set_width(620.0);
        ui.heading(if form.id.is_some() { "Edit project" } else { "Add project" });
        ui.add_space(6.0);
        // Errors are live after the first save: re-check on any edit.
        let mut edited = false;
        egui::Grid::new("project_fields").num_columns(2).spacing([10.0, 6.0]).show(ui, |ui| {
            edited |= field(ui, "Name", &mut form.name, "My shop (production)", false).changed();
            if form.tried {
                field_error(ui, &form.errors, "name");
            }
            edited |= field(ui, "Description", &mut form.description, "optional", false).changed();
            edited |= choice(ui, "Environment", &mut form.environment, &Environment::ALL, |e| e.as_str());
            edited |= field(
                ui,
                "Database URL",
                &mut form.db_url,
                "postgresql://postgres.<ref>:PASSWORD@aws-0-<region>.pooler.supabase.com:5432/postgres",
                !form.reveal,
            )
            .changed();
            if form.tried {
                field_error(ui, &form.errors, "db_url");
            }
            edited |= field(ui, "Service key", &mut form.service_key, "optional (service_role)", !form.reveal).changed();
            if form.tried {
                field_error(ui, &form.errors, "service_key");
            }
            edited |= field(ui, "Anon key", &mut form.anon_key, "optional", !form.reveal).changed();
            if form.tried {
                field_error(ui, &form.errors, "anon_key");
            }
            ui.label("");
            ui.horizontal(|ui| {
                ui.checkbox(&mut form.reveal, "Show secrets");
                ui.checkbox(&mut form.active, "Active (scheduled backups run)");
            });
            ui.end_row();
        });
        if form.tried && edited {
            form.revalidate();
        }
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            let testing = matches!(form.test, Some(TestState::Running));
            if ui.add_enabled(!testing, egui::Button::new("Test connection")).clicked() {
                form.test = Some(TestState::Running);
                commands.push(Command::TestUrl(form.db_url.clone()));
            }
            if ui.add_enabled(!form.busy, egui::Button::new("Save")).clicked() {
                form.tried = true;
                form.revalidate();
                if form.errors.is_empty() {
                    form.busy = true;
                    commands.push(Command::SaveProject {
                        id: form.id,
                        input: form.input(),
                        active: form.active,
                    });
                }
            }
            if ui.button("Cancel").clicked() {
                close = true;
            }
            if form.tried && !form.errors.is_empty() {
                ui.label(RichText::new("Fix the fields marked in red.").color(error_color(ui)));
            }
        });
        test_report_ui(ui, form.test.as_ref());
    });
    if modal.should_close() {
        close = true;
    }
    for c in commands {
        state.send(c);
    }
    if close {
        state.project_form = None;
    }
}

fn backup_dialog_ui(ctx: &Context, state: &mut UiState) {
    let Some(d) = &mut state.backup_dialog else {
        return;
    };
    let name = state
        .data
        .project_name(d.project)
        .unwrap_or_default()
        .to_string();
    let mut start = false;
    let mut close = false;
    let modal = Modal::new(Id::unique("backup_dialog")).show(ctx, |ui| {
        ui.set_width(420.0);
        ui.heading(format!("Back up {name}"));
        egui::Grid::new("backup_options")
            .num_columns(2)
            .spacing([10.0, 8.0])
            .show(ui, |ui| {
                choice(ui, "Kind", &mut d.kind, &BackupKind::ALL, |k| k.as_str());
                choice(
                    ui,
                    "Profile",
                    &mut d.profile,
                    &[None, Some(Profile::Supabase), Some(Profile::Postgres)],
                    |p| p.map(|p| p.as_str()).unwrap_or("automatic"),
                );
                if choice(ui, "Compression", &mut d.codec, &Codec::ALL, |c| c.as_str()) {
                    d.level = d.codec.default_level();
                }
                if d.codec != Codec::None {
                    let l = ui.label("Level");
                    ui.add(egui::Slider::new(&mut d.level, d.codec.level_range()))
                        .labelled_by(l.id);
                    ui.end_row();
                }
            });
        ui.label(
            RichText::new(match d.kind {
                BackupKind::Full => "Roles, schema and data, from one consistent snapshot.",
                BackupKind::Schema => "Schema only: tables, functions, policies, no rows.",
                BackupKind::Data => "Rows only, for a database that already has the schema.",
            })
            .weak(),
        );
        ui.horizontal(|ui| {
            start = ui.button("Start backup").on_hover_text("Enter").clicked();
            close = ui.button("Cancel").clicked();
        });
        // Enter starts the backup: the dialog's one obvious action.
        start |= ui.input(|i| i.key_pressed(egui::Key::Enter));
    });
    if modal.should_close() {
        close = true;
    }
    if start {
        if let Ok(compression) = Compression::new(d.codec, Some(d.level)) {
            let cmd = Command::Backup {
                project: d.project,
                kind: d.kind,
                profile: d.profile,
                compression,
            };
            state.send(cmd);
        }
        close = true;
    }
    if close {
        state.backup_dialog = None;
    }
}

fn restore_dialog_ui(ctx: &Context, state: &mut UiState) {
    let projects = state.data.project_choices();
    let Some(d) = &mut state.restore_dialog else {
        return;
    };
    let mut go = None;
    let mut fetch = None;
    let mut close = false;
    let modal = Modal::new(Id::unique("restore_dialog")).show(ctx, |ui| {
        ui.set_width(600.0);
        ui.heading(if d.drill {
            format!("Restore drill of {}", d.backup.short())
        } else {
            format!("Restore backup {}", d.backup.short())
        });
        ui.label(if d.drill {
            "A scratch database is created on this server, the backup restored into it, row counts compared with the manifest, and the scratch database dropped."
        } else {
            "Checksums are checked first; then roles, schema and data run in one transaction: the target gets all of it or none."
        });
        {
            ui.horizontal(|ui| {
                let l = ui.label("Fill from project");
                let mut pick = None;
                egui::ComboBox::from_id_salt("restore_fill")
                    .selected_text("(choose)")
                    .show_ui(ui, |ui| {
                        for (id, name) in &projects {
                            if ui.selectable_label(false, name).clicked() {
                                pick = Some(*id);
                            }
                        }
                    })
                    .response
                    .labelled_by(l.id);
                if let Some(id) = pick {
                    d.fill_from = Some(id);
                    fetch = Some(Command::Reveal {
                        project: id,
                        slot: SecretSlot::DbUrl,
                    });
                }
            });
        }
        egui::Grid::new("restore_fields").num_columns(2).show(ui, |ui| {
            field(
                ui,
                if d.drill { "Server URL" } else { "Target database URL" },
                &mut d.url,
                "postgresql://postgres:PASSWORD@localhost:5432/postgres",
                true,
            );
        });
        if let Some((dbname, message)) = &d.confirm {
            ui.label(RichText::new(message).color(error_color(ui)));
            ui.horizontal(|ui| {
                let l = ui.label(format!("Type the database name \"{dbname}\" to replace it"));
                ui.add(egui::TextEdit::singleline(&mut d.typed).desired_width(200.0))
                    .labelled_by(l.id);
            });
        }
        ui.horizontal(|ui| {
            let typed_ok = d.confirm.as_ref().is_none_or(|(name, _)| d.typed == *name);
            let label = match (d.drill, &d.confirm) {
                (true, _) => "Run drill",
                (false, None) => "Restore",
                (false, Some(_)) => "Replace and restore",
            };
            if ui
                .add_enabled(typed_ok && !d.url.is_empty(), egui::Button::new(label))
                .clicked()
            {
                go = Some(if d.drill {
                    Command::Drill {
                        backup: d.backup,
                        url: Zeroizing::new(d.url.to_string()),
                    }
                } else {
                    Command::Restore {
                        backup: d.backup,
                        url: Zeroizing::new(d.url.to_string()),
                        confirmed: d.confirm.is_some(),
                    }
                });
            }
            close |= ui.button("Cancel").clicked();
        });
    });
    if modal.should_close() {
        close = true;
    }
    if let Some(c) = fetch {
        state.send(c);
    }
    if let Some(c) = go {
        state.send(c);
        close = true;
    }
    if close {
        state.restore_dialog = None;
    }
}

fn confirm_ui(ctx: &Context, state: &mut UiState) {
    let Some(c) = state.confirm.clone() else {
        return;
    };
    let mut yes = false;
    let mut close = false;
    let (title, text, button) = match &c {
        Confirm::DeleteBackup(_, label) => (
            "Delete backup?",
            format!("The backup {label} and its files will be deleted. This cannot be undone."),
            "Delete",
        ),
        Confirm::RemoveProject(_, name) => (
            "Remove project?",
            format!(
                "\"{name}\" and its schedules will be removed. Its backups stay on disk and in the history."
            ),
            "Remove",
        ),
        Confirm::RemoveJob(_, name) => (
            "Remove schedule?",
            format!("The schedule \"{name}\" will be removed. The backups it made stay."),
            "Remove",
        ),
    };
    let modal = Modal::new(Id::unique("confirm")).show(ctx, |ui| {
        ui.set_width(420.0);
        ui.heading(title);
        ui.label(text);
        ui.horizontal(|ui| {
            yes = ui
                .button(RichText::new(button).color(error_color(ui)))
                .clicked();
            close = ui.button("Cancel").clicked();
        });
    });
    if modal.should_close() {
        close = true;
    }
    if yes {
        state.send(match c {
            Confirm::DeleteBackup(id, _) => Command::DeleteBackup(id),
            Confirm::RemoveProject(id, _) => Command::RemoveProject(id),
            Confirm::RemoveJob(id, _) => Command::RemoveJob(id),
        });
        close = true;
    }
    if close {
        state.confirm = None;
    }
}
