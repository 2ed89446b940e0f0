//! Modal dialogs: the project form (its Encryption section in
//! `encryption_ui`), "Back up now", and confirmations before deleting; the
//! restore / drill / verify dialog is in `restore_ui`. Esc closes each.

use crate::app::destinations_ui::copies_section;
use crate::app::encryption_ui::encryption_section;
use crate::app::projects_ui::test_report_ui;
use crate::app::state::{Confirm, ProjectForm, TestState, UiState};
use crate::app::widgets::{LABEL_COLUMN, choice, error_color, field, field_error};
use crate::domain::{BackupKind, Codec, Compression, Environment, Profile};
use crate::engine::{DestinationView, ProjectView};
use crate::protocol::Command;
use egui::{Context, RichText, Ui};

/// Draws whichever dialog is open.
pub fn dialogs_ui(ctx: &Context, state: &mut UiState) {
    project_form_ui(ctx, state);
    crate::app::schedules_ui::job_form_ui(ctx, state);
    backup_dialog_ui(ctx, state);
    storage_plan_ui(ctx, state);
    crate::app::restore_ui::restore_dialog_ui(ctx, state);
    crate::app::destinations_ui::destination_form_ui(ctx, state);
    crate::app::folder_ui::folder_restore_ui(ctx, state);
    tools_offer_ui(ctx, state);
    confirm_ui(ctx, state);
}

/// A backup found no pg_dump for its server: offer to download the client
/// programs of its major (and back up again).
fn tools_offer_ui(ctx: &Context, state: &mut UiState) {
    let Some(offer) = state.tools_offer.clone() else {
        return;
    };
    let mut answer = None;
    let size = crate::pgtools::fetch::Target::this_machine()
        .map(|t| format!("about {} MB", t.approx_download_bytes() / 1_000_000))
        .unwrap_or_else(|| "a download".into());
    let yes = if offer.backup.is_some() {
        "Download and back up"
    } else {
        "Download"
    };
    let modal = crate::app::widgets::modal("tools_offer").show(ctx, |ui| {
        ui.set_width(460.0);
        ui.heading(format!(
            "Install the PostgreSQL {} client programs?",
            offer.major
        ));
        ui.add(egui::Label::new(&offer.message).wrap());
        ui.add_space(6.0);
        ui.add(
            egui::Label::new(format!(
                "supabackup can download pg_dump, pg_dumpall, psql and pg_restore {} for this \
                 computer ({size}, checked against their published SHA-256) into its data \
                 folder, and use them for this and later backups.",
                offer.major
            ))
            .wrap(),
        );
        ui.horizontal(|ui| {
            if ui.button(yes).clicked() {
                answer = Some(true);
            }
            if ui.button("Not now").clicked() {
                answer = Some(false);
            }
        });
    });
    if modal.should_close() && answer.is_none() {
        answer = Some(false);
    }
    if let Some(go) = answer {
        state.tools_offer = None;
        if go {
            state.after_tools = offer.backup;
            state.send(Command::InstallTools(offer.major));
        }
    }
}

fn project_form_ui(ctx: &Context, state: &mut UiState) {
    let Some(form) = &mut state.project_form else {
        return;
    };
    let project = form
        .id
        .and_then(|id| state.data.projects.iter().find(|p| p.id == id));
    let destinations = &state.data.destinations;
    let mut close = false;
    let mut commands = Vec::new();
    // Taller than the window (a small one, the passphrase and its errors
    // shown): it scrolls, its buttons stay reachable.
    let max_height = ctx.content_rect().height() - 80.0;
    let modal = crate::app::widgets::modal("project_form").show(ctx, |ui| {
        egui::ScrollArea::vertical()
            .max_height(max_height)
            .min_scrolled_height(max_height)
            .show(ui, |ui| {
                close = project_form_body(ui, form, project, destinations, &mut commands);
            });
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

/// The form's content; returns true when Cancel was clicked.
fn project_form_body(
    ui: &mut Ui,
    form: &mut ProjectForm,
    project: Option<&ProjectView>,
    destinations: &[DestinationView],
    commands: &mut Vec<Command>,
) -> bool {
    let mut close = false;
    ui.set_width(620.0);
    ui.heading(if form.id.is_some() {
        "Edit project"
    } else {
        "Add project"
    });
    ui.add_space(6.0);
    // Re-check on any edit; most errors show after the first save, the
    // encryption section's as the user types.
    let mut edited = project_fields_ui(ui, form);
    edited |= encryption_section(ui, form, project, commands);
    edited |= copies_section(ui, form, destinations);
    edited |= crate::app::storage_ui::storage_section(ui, form);
    if edited {
        form.revalidate();
    }
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        let testing = matches!(form.test, Some(TestState::Running));
        if ui
            .add_enabled(!testing, egui::Button::new("Test connection"))
            .clicked()
        {
            form.test = Some(TestState::Running);
            commands.push(Command::TestUrl(form.db_url.clone()));
        }
        if ui
            .add_enabled(!form.busy, egui::Button::new("Save"))
            .clicked()
        {
            form.tried = true;
            form.revalidate();
            if form.errors.is_empty() {
                form.busy = true;
                commands.push(Command::SaveProject {
                    id: form.id,
                    input: form.input(),
                    active: form.active,
                    encryption: form.encryption.change(),
                    copies: form.copies_change(),
                    // Checked by `revalidate` just above.
                    storage: form.storage.change().ok().flatten(),
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
    if let Some(major) = test_report_ui(ui, form.test.as_ref()) {
        commands.push(Command::InstallTools(major));
    }
    close
}

const URL_HINT: &str =
    "postgresql://postgres.<ref>:PASSWORD@aws-0-<region>.pooler.supabase.com:5432/postgres";

/// The project's own fields; returns true when one changed.
fn project_fields_ui(ui: &mut Ui, form: &mut ProjectForm) -> bool {
    let mut edited = false;
    let hidden = !form.reveal;
    egui::Grid::new("project_fields")
        .num_columns(2)
        .min_col_width(LABEL_COLUMN)
        .spacing([10.0, 6.0])
        .show(ui, |ui| {
            let errors = if form.tried {
                form.errors.clone()
            } else {
                Default::default()
            };
            edited |= field(ui, "Name", &mut form.name, "My shop (production)", false).changed();
            field_error(ui, &errors, "name");
            edited |= field(ui, "Description", &mut form.description, "optional", false).changed();
            edited |= choice(
                ui,
                "Environment",
                &mut form.environment,
                &Environment::ALL,
                |e| e.as_str(),
            );
            edited |= field(ui, "Database URL", &mut form.db_url, URL_HINT, hidden).changed();
            field_error(ui, &errors, "db_url");
            edited |= field(
                ui,
                "Service key",
                &mut form.service_key,
                "optional (service_role)",
                hidden,
            )
            .changed();
            field_error(ui, &errors, "service_key");
            edited |= field(ui, "Anon key", &mut form.anon_key, "optional", hidden).changed();
            field_error(ui, &errors, "anon_key");
            ui.label("");
            ui.horizontal(|ui| {
                ui.checkbox(&mut form.reveal, "Show secrets");
                ui.checkbox(&mut form.active, "Active (scheduled backups run)");
            });
            ui.end_row();
        });
    edited
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
    // How the project's Storage files are reached, as the engine says.
    let storage_words = state
        .data
        .projects
        .iter()
        .find(|p| p.id == d.project)
        .and_then(|p| p.storage.as_ref())
        .map(|v| match v.kind {
            "none" => "Storage files: none (this project has no Storage keys: set them in the \
                       project form)"
                .to_string(),
            _ => format!("Storage files: {}", v.access),
        });
    let mut start = false;
    let mut close = false;
    let modal = crate::app::widgets::modal("backup_dialog").show(ctx, |ui| {
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
                BackupKind::Full => {
                    "Roles, schema and data, from one consistent snapshot, and the Storage \
                     files when the project has Storage access."
                }
                BackupKind::Schema => "Schema only: tables, functions, policies, no rows.",
                BackupKind::Data => "Rows only, for a database that already has the schema.",
                BackupKind::Storage => "Supabase Storage files only, no database.",
            })
            .weak(),
        );
        if d.kind == BackupKind::Full {
            ui.checkbox(&mut d.no_storage, "Leave out the Storage files");
        }
        if matches!(d.kind, BackupKind::Full | BackupKind::Storage)
            && let Some(words) = storage_words
        {
            ui.label(RichText::new(words).weak());
        }
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
                no_storage: d.kind == BackupKind::Full && d.no_storage,
            };
            state.send(cmd);
        }
        close = true;
    }
    if close {
        state.backup_dialog = None;
    }
}

/// Before the first backup of a project's Storage files downloads
/// anything: what it will download, and a yes or a no.
fn storage_plan_ui(ctx: &Context, state: &mut UiState) {
    let Some(pending) = state.storage_plans.first() else {
        return;
    };
    let plan = &pending.plan;
    let mut answer = None;
    let modal = crate::app::widgets::modal("storage_plan").show(ctx, |ui| {
        ui.set_width(460.0);
        ui.heading(format!("Download the Storage files of {}?", plan.project));
        ui.add(
            egui::Label::new(format!(
                "This first backup of its Storage files downloads {} file(s), {}, from {} \
                 bucket(s) ({}).",
                crate::domain::human_count(plan.to_download),
                crate::app::widgets::bytes(plan.to_download_bytes),
                plan.buckets,
                plan.access
            ))
            .wrap(),
        );
        ui.add(
            egui::Label::new(
                RichText::new(
                    "Downloads from Supabase count as egress, billed past your plan's \
                     allowance. Later backups download only what changed.",
                )
                .weak(),
            )
            .wrap(),
        );
        ui.horizontal(|ui| {
            if ui.button("Download and back up").clicked() {
                answer = Some(true);
            }
            if ui.button("Cancel the backup").clicked() {
                answer = Some(false);
            }
        });
    });
    if modal.should_close() && answer.is_none() {
        answer = Some(false);
    }
    if let Some(go_on) = answer {
        state.storage_plans.remove(0).answer(go_on);
    }
}

fn confirm_ui(ctx: &Context, state: &mut UiState) {
    let Some(c) = state.confirm.clone() else {
        return;
    };
    let mut yes = false;
    let mut close = false;
    let (title, text, button) = match &c {
        Confirm::DeleteBackup(id, label) => {
            ("Delete backup?", delete_words(state, *id, label), "Delete")
        }
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
        Confirm::RemoveDestination(_, name, users) => (
            "Remove destination?",
            format!(
                "The destination \"{name}\" will be removed. What was copied there stays \
                 there.{}",
                if users.is_empty() {
                    String::new()
                } else {
                    format!(" These no longer copy there: {}.", users.join(", "))
                }
            ),
            "Remove",
        ),
    };
    let modal = crate::app::widgets::modal("confirm").show(ctx, |ui| {
        ui.set_width(420.0);
        ui.heading(title);
        ui.add(egui::Label::new(text).wrap());
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
            Confirm::RemoveDestination(id, _, _) => Command::RemoveDestination(id),
        });
        close = true;
    }
    if close {
        state.confirm = None;
    }
}

/// What deleting a backup removes, in words: its local files and each of
/// its copies, by destination.
fn delete_words(state: &UiState, id: crate::domain::BackupId, label: &str) -> String {
    let copies: Vec<String> = state
        .data
        .backups
        .iter()
        .find(|b| b.id == id)
        .map(|b| {
            b.extra
                .copies
                .iter()
                .map(|c| format!("\"{}\"", state.data.destination_name(c.destination)))
                .collect()
        })
        .unwrap_or_default();
    if copies.is_empty() {
        format!("The backup {label} and its files will be deleted. This cannot be undone.")
    } else {
        format!(
            "The backup {label}, its files and its copies at {} will be deleted. This cannot be \
             undone.",
            copies.join(", ")
        )
    }
}
