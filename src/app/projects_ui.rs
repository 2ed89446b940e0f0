//! The Projects panel: list with environment badges and last-backup status,
//! connection tests, reveal toggles; the form lives in `dialogs`.

use crate::app::dashboard::age_words;
use crate::app::state::{Confirm, ProjectForm, TestState, UiState};
use crate::app::widgets::{env_badge, error_color, ok_color, status_text};
use crate::domain::{EncryptionSetting, ProjectId, SecretSlot};
use crate::engine::{ProjectView, TestReport};
use crate::pgtools::Severity;
use crate::protocol::{Command, TestKey};
use egui::{RichText, Ui};

/// Draws a connection test's outcome; `Some(major)` when its "Install the
/// client programs" button was clicked.
pub fn test_report_ui(ui: &mut Ui, state: Option<&TestState>) -> Option<u32> {
    match state {
        None => None,
        Some(TestState::Running) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Testing the connection…");
            });
            None
        }
        Some(TestState::Done(done)) => match done.as_ref() {
            Err(e) => {
                ui.label(RichText::new(e).color(error_color(ui)));
                None
            }
            Ok(r) => report_ui(ui, r),
        },
    }
}

fn report_ui(ui: &mut Ui, r: &TestReport) -> Option<u32> {
    let mut install = None;
    egui::Grid::new(ui.next_auto_id())
        .num_columns(2)
        .show(ui, |ui| {
            if let Some(s) = &r.server {
                ui.label("Server");
                ui.label(format!("PostgreSQL {}", s.version));
                ui.end_row();
                ui.label("Database size");
                ui.label(crate::app::widgets::bytes(s.database_size));
                ui.end_row();
                ui.label("SSL");
                ui.label(if s.ssl { "in use" } else { "not in use" });
                ui.end_row();
            }
            if let Some(e) = &r.connect_error {
                ui.label("Connection");
                ui.label(RichText::new(e).color(error_color(ui)));
                ui.end_row();
            }
            match (&r.tools, &r.tools_error) {
                (Some(t), _) => {
                    ui.label("pg_dump");
                    ui.label(format!("{} ({})", t.version, t.pg_dump.display()));
                    ui.end_row();
                }
                (None, Some(e)) => {
                    ui.label("pg_dump");
                    ui.add(egui::Label::new(RichText::new(e).color(error_color(ui))).wrap());
                    ui.end_row();
                    if let Some(major) = r.tools_missing {
                        ui.label("");
                        let size = crate::pgtools::fetch::Target::this_machine()
                            .map(|t| {
                                format!(" (about {} MB)", t.approx_download_bytes() / 1_000_000)
                            })
                            .unwrap_or_default();
                        if ui
                            .button(format!(
                                "Install the PostgreSQL {major} client programs{size}"
                            ))
                            .clicked()
                        {
                            install = Some(major);
                        }
                        ui.end_row();
                    }
                }
                _ => {}
            }
            if let Some(p) = r.profile {
                ui.label("Profile");
                ui.label(p.as_str());
                ui.end_row();
            }
            if let Some(st) = &r.storage {
                ui.label("Storage");
                match &st.error {
                    Some(e) => ui.label(RichText::new(e).color(error_color(ui))),
                    None => ui.label(format!("{}; {} bucket(s)", st.access, st.buckets.len())),
                };
                ui.end_row();
                if let Some(url) = &st.url {
                    ui.label("Storage URL");
                    ui.label(url);
                    ui.end_row();
                }
            }
        });
    for f in &r.findings {
        let color = match f.severity {
            Severity::Error => error_color(ui),
            Severity::Warning => egui::Color32::from_rgb(210, 150, 20),
            Severity::Info => ui.visuals().text_color(),
        };
        ui.label(RichText::new(format!("{}: {}", f.severity, f.message)).color(color));
    }
    if r.ok() {
        ui.label(
            RichText::new("Ready to back up")
                .color(ok_color(ui))
                .strong(),
        );
    }
    install
}

/// Draws the Projects panel.
pub fn projects_ui(ui: &mut Ui, state: &mut UiState) {
    ui.horizontal(|ui| {
        ui.heading("Projects");
        if ui
            .button("Add project")
            .on_hover_text(crate::app::shortcuts::hint(
                ui.ctx(),
                crate::app::shortcuts::UiCommand::NewProject,
            ))
            .clicked()
        {
            state.project_form = Some(ProjectForm::new());
        }
    });
    ui.add_space(6.0);
    if state.data.projects.is_empty() {
        crate::app::first_run_ui::first_run_ui(ui, state);
        return;
    }
    let mut action = None;
    for p in &state.data.projects {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                ui.label(RichText::new(&p.name).strong().size(16.0));
                env_badge(ui, &p.environment);
                if !p.is_active {
                    ui.label(RichText::new("inactive").weak());
                }
                match state.dashboard.project(p.id).and_then(|h| h.last) {
                    Some((status, at)) => {
                        ui.label("Last backup:");
                        ui.label(status_text(ui, status));
                        ui.label(age_words(chrono::Utc::now() - at));
                    }
                    None => {
                        ui.label(RichText::new("never backed up").weak());
                    }
                }
            });
            if !p.description.is_empty() {
                ui.label(&p.description);
            }
            let revealed = state.revealed.get(&(p.id, SecretSlot::DbUrl));
            ui.horizontal(|ui| {
                ui.label("Database:");
                ui.monospace(revealed.map_or(p.db_url.as_str(), |v| v.as_str()));
                let shown = revealed.is_some();
                if ui.button(if shown { "Hide" } else { "Reveal" }).clicked() {
                    action = Some(if shown {
                        ProjectAction::Hide(p.id)
                    } else {
                        ProjectAction::Reveal(p.id)
                    });
                }
            });
            if !p.copy_to.is_empty() {
                ui.horizontal_wrapped(|ui| {
                    ui.label("Copies to:");
                    ui.label(format!(
                        "{}{}",
                        p.copy_to.join(", "),
                        if p.remote_only {
                            " (remote-only: local folders go once every copy is verified)"
                        } else {
                            ""
                        }
                    ));
                });
            }
            if let Some(words) = encryption_words(p) {
                ui.horizontal(|ui| {
                    ui.label("Encryption:");
                    ui.label(words);
                });
            }
            for (slot, masked) in [
                (SecretSlot::ServiceKey, &p.service_key),
                (SecretSlot::AnonKey, &p.anon_key),
            ] {
                let slot = slot.as_str();
                if let Some(m) = masked {
                    ui.horizontal(|ui| {
                        ui.label(format!("{slot}:"));
                        ui.monospace(m);
                    });
                }
            }
            ui.horizontal(|ui| {
                let testing = matches!(
                    state.tests.get(&TestKey::Project(p.id)),
                    Some(TestState::Running)
                );
                if ui
                    .add_enabled(!testing, egui::Button::new("Test connection"))
                    .clicked()
                {
                    action = Some(ProjectAction::Test(p.id));
                }
                let running = state.running_backup(p.id).is_some();
                if ui
                    .add_enabled(!running, egui::Button::new("Back up now"))
                    .clicked()
                {
                    action = Some(ProjectAction::BackUp(p.id));
                }
                if ui.button("Edit").clicked() {
                    action = Some(ProjectAction::Edit(p.id));
                }
                if ui.button("Remove…").clicked() {
                    action = Some(ProjectAction::Remove(p.id, p.name.clone()));
                }
            });
            if let Some(major) = test_report_ui(ui, state.tests.get(&TestKey::Project(p.id))) {
                action = Some(ProjectAction::InstallTools(major));
            }
        });
        ui.add_space(4.0);
    }
    if let Some(a) = action {
        a.apply(state);
    }
}

/// How a project's backups are encrypted, in words (`None`: they are not
/// and the vault holds no identity).
fn encryption_words(p: &ProjectView) -> Option<String> {
    let how = match &p.encryption {
        EncryptionSetting::Off if !p.identity_in_vault => return None,
        EncryptionSetting::Off => "off".to_string(),
        EncryptionSetting::Recipients { recipients } => match recipients.len() {
            1 => "age, to 1 public key".to_string(),
            n => format!("age, to {n} public keys"),
        },
        EncryptionSetting::Passphrase => "age, with the passphrase in the vault".to_string(),
    };
    Some(if p.identity_in_vault {
        format!("{how}; the vault keeps an identity to restore them")
    } else {
        how
    })
}

/// What a click on a project card asks for.
enum ProjectAction {
    Hide(ProjectId),
    Reveal(ProjectId),
    Test(ProjectId),
    BackUp(ProjectId),
    Edit(ProjectId),
    Remove(ProjectId, String),
    InstallTools(u32),
}

impl ProjectAction {
    fn apply(self, state: &mut UiState) {
        match self {
            ProjectAction::Hide(id) => {
                state.revealed.remove(&(id, SecretSlot::DbUrl));
            }
            ProjectAction::Reveal(project) => state.send(Command::Reveal {
                project,
                slot: SecretSlot::DbUrl,
            }),
            ProjectAction::Test(id) => {
                state.tests.insert(TestKey::Project(id), TestState::Running);
                state.send(Command::TestProject(id));
            }
            ProjectAction::BackUp(id) => {
                state.selected_project = Some(id);
                state.open_backup_dialog(id);
            }
            ProjectAction::Edit(project) => {
                let Some(p) = state.data.projects.iter().find(|p| p.id == project) else {
                    return;
                };
                state.project_form = Some(ProjectForm::edit(p, &state.data.destinations));
                // The form needs the secrets it shows in the clear to edit
                // them (not the backup passphrase nor the identity: an
                // empty passphrase field keeps the one in the vault).
                for slot in [
                    SecretSlot::DbUrl,
                    SecretSlot::ServiceKey,
                    SecretSlot::AnonKey,
                ] {
                    state.send(Command::Reveal { project, slot });
                }
            }
            ProjectAction::Remove(id, name) => {
                state.confirm = Some(Confirm::RemoveProject(id, name));
            }
            ProjectAction::InstallTools(major) => state.send(Command::InstallTools(major)),
        }
    }
}
