//! The Settings panel, in words (each setting's CLI key in its hover
//! text): backup folder (folder picker), compression and level, the
//! PostgreSQL tools folder, theme, auto-lock, concurrency; what `supabackup
//! info` knows (the tools found, which each project's backups used, the
//! data dir); the SQLite export; destinations.

use crate::app::state::UiState;
use crate::app::widgets::{error_color, ok_color};
use crate::domain::{BackupStatus, Codec, ProjectId, SettingKey};
use crate::protocol::Command;
use egui::{RichText, Ui};

/// A setting's name in words.
pub fn setting_words(key: SettingKey) -> &'static str {
    match key {
        SettingKey::BackupRoot => "Backup folder",
        SettingKey::PgBinDir => "PostgreSQL tools folder",
        SettingKey::DefaultCompression => "Compression",
        SettingKey::DefaultLevel => "Compression level",
        SettingKey::Theme => "Theme",
        SettingKey::AutoLockMinutes => "Lock after idle (minutes)",
        SettingKey::Concurrency => "Backups at once",
        SettingKey::RetryDelay => "First retry after (seconds)",
        SettingKey::StorageConcurrency => "Storage files at once",
        SettingKey::ToolsMirror => "PostgreSQL programs download from",
        SettingKey::StorageGraceHours => "Keep unused Storage files (hours)",
    }
}

/// The hover text of a setting: what it does and its CLI key.
fn key_hover(key: SettingKey) -> String {
    format!(
        "{}\n\nCLI: supabackup settings set {} VALUE",
        key.help(),
        key.as_str()
    )
}

/// Draws the Settings panel.
pub fn settings_ui(ui: &mut Ui, state: &mut UiState) {
    ui.heading("Settings");
    ui.add_space(6.0);
    let mut commands = Vec::new();
    egui::Grid::new("settings")
        .num_columns(3)
        .spacing([10.0, 8.0])
        .show(ui, |ui| {
            for key in SettingKey::ALL {
                setting_row(ui, state, key, &mut commands);
                ui.end_row();
            }
        });
    ui.add_space(10.0);
    ui.horizontal_wrapped(|ui| {
        if ui.button("Export catalog to SQLite…").clicked() {
            commands.push(Command::ExportSqlite);
        }
        ui.label(
            RichText::new("tables projects, backups, backup_jobs; secrets stay sealed").weak(),
        );
    });
    ui.add_space(12.0);
    found_ui(ui, state, &mut commands);
    for c in commands {
        state.send(c);
    }
    ui.add_space(12.0);
    crate::app::destinations_ui::destinations_section(ui, state);
}

fn setting_row(ui: &mut Ui, state: &mut UiState, key: SettingKey, commands: &mut Vec<Command>) {
    let words = setting_words(key);
    let current = state.setting(key).unwrap_or("").to_string();
    let edit = state
        .settings_edit
        .entry(key)
        .or_insert_with(|| current.clone());
    let l = ui.label(words).on_hover_text(key_hover(key));
    match key {
        SettingKey::DefaultCompression | SettingKey::Theme => {
            let codecs = Codec::ALL.map(|c| c.as_str());
            let options: &[&str] = if key == SettingKey::Theme {
                &["system", "light", "dark"]
            } else {
                &codecs
            };
            let before = edit.clone();
            egui::ComboBox::from_id_salt(key.as_str())
                .selected_text(edit.clone())
                .show_ui(ui, |ui| {
                    for o in options {
                        ui.selectable_value(edit, o.to_string(), *o);
                    }
                })
                .response
                .labelled_by(l.id)
                .on_hover_text(key_hover(key));
            if *edit != before {
                commands.push(Command::SetSetting(key, edit.clone()));
            }
        }
        _ => {
            ui.horizontal(|ui| {
                ui.add(egui::TextEdit::singleline(edit).desired_width(300.0))
                    .labelled_by(l.id)
                    .on_hover_text(key_hover(key));
                // "backup folder", "PostgreSQL tools folder".
                let lower = match words.split_at(1) {
                    (first, rest) if !rest.starts_with("ostgreSQL") => {
                        format!("{}{rest}", first.to_lowercase())
                    }
                    _ => words.to_string(),
                };
                if matches!(key, SettingKey::BackupRoot | SettingKey::PgBinDir)
                    && ui.button(format!("Choose the {lower}…")).clicked()
                {
                    commands.push(Command::PickFolder(key));
                }
                if *edit != current && ui.button(format!("Apply {lower}")).clicked() {
                    commands.push(Command::SetSetting(key, edit.clone()));
                }
            });
        }
    }
    ui.add(egui::Label::new(RichText::new(key.help()).weak()).wrap());
}

/// What `supabackup info` knows: the data dir, each pg_dump found, which
/// one each project's last backup used.
fn found_ui(ui: &mut Ui, state: &mut UiState, commands: &mut Vec<Command>) {
    ui.heading("This machine");
    ui.horizontal_wrapped(|ui| {
        ui.label("Data folder (catalog, log, window state):");
        ui.monospace(state.data.data_dir.display().to_string());
        if ui.button("Open data folder").clicked() {
            commands.push(Command::OpenFolder(state.data.data_dir.clone()));
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.strong("PostgreSQL client tools");
        if ui
            .button("Look again")
            .on_hover_text("After installing PostgreSQL client tools")
            .clicked()
        {
            commands.push(Command::FindTools);
        }
    });
    install_tools_ui(ui, state, commands);
    match &state.tools {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Looking for pg_dump…");
            });
        }
        Some(found) if found.tools.is_empty() => {
            ui.add(
                egui::Label::new(
                    RichText::new(
                        "No pg_dump found: install the client programs below (downloaded \
                         for this computer), or with the system's packages (Debian/Ubuntu: \
                         postgresql-client-17; macOS: brew install libpq) and choose their \
                         folder above.",
                    )
                    .color(error_color(ui)),
                )
                .wrap(),
            );
        }
        Some(found) => {
            egui::Grid::new("tools_found")
                .num_columns(3)
                .spacing([10.0, 4.0])
                .show(ui, |ui| {
                    for t in &found.tools {
                        ui.label(
                            RichText::new(format!("pg_dump {}", t.version)).color(ok_color(ui)),
                        );
                        let mut missing = Vec::new();
                        if t.psql.is_none() {
                            missing.push("no psql: restores cannot run");
                        }
                        if t.pg_dumpall.is_none() {
                            missing.push("no pg_dumpall: roles are not backed up");
                        }
                        let extra = if missing.is_empty() {
                            " (with psql and pg_dumpall)".to_string()
                        } else {
                            format!(" ({})", missing.join("; "))
                        };
                        ui.add(
                            egui::Label::new(format!(
                                "{}{extra}, {}",
                                t.dir.display(),
                                t.origin.label()
                            ))
                            .wrap(),
                        );
                        if t.origin == crate::pgtools::ToolOrigin::Managed {
                            let version = t
                                .dir
                                .parent()
                                .and_then(|d| d.file_name())
                                .map(|n| n.to_string_lossy().to_string())
                                .unwrap_or_default();
                            if ui
                                .button(format!("Remove {version}"))
                                .on_hover_text("Delete these programs from the data folder")
                                .clicked()
                            {
                                commands.push(Command::RemoveTools(version));
                            }
                        } else {
                            ui.label("");
                        }
                        ui.end_row();
                    }
                });
        }
    }
    if let Some(found) = &state.tools {
        let searched: Vec<String> = found
            .searched
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        ui.label(RichText::new(format!("{} folders searched", searched.len())).weak())
            .on_hover_text(searched.join("\n"));
    }
    let uses = project_tools(state);
    if !uses.is_empty() {
        ui.add_space(4.0);
        ui.strong("What each project's backups use");
        for line in uses {
            ui.add(egui::Label::new(line).wrap());
        }
    }
}

/// "Install client programs": a major and a button (a task with progress
/// and cancel follows).
fn install_tools_ui(ui: &mut Ui, state: &mut UiState, commands: &mut Vec<Command>) {
    let Some(target) = crate::pgtools::fetch::Target::this_machine() else {
        return;
    };
    ui.horizontal_wrapped(|ui| {
        let l = ui.label("Install the client programs of PostgreSQL");
        egui::ComboBox::from_id_salt("tools_major")
            .selected_text(state.tools_major.to_string())
            .show_ui(ui, |ui| {
                for major in crate::pgtools::fetch::Release::known_majors() {
                    ui.selectable_value(&mut state.tools_major, major, major.to_string());
                }
            })
            .response
            .labelled_by(l.id);
        if ui
            .button("Install")
            .on_hover_text(format!(
                "Downloads pg_dump, pg_dumpall, psql and pg_restore for {} (about {} MB, checked \
                 against their published SHA-256) into the data folder",
                target.triple(),
                target.approx_download_bytes() / 1_000_000
            ))
            .clicked()
        {
            commands.push(Command::InstallTools(state.tools_major));
        }
    });
}

/// Per project: the pg_dump and server of its newest backup that got that
/// far (the engine picks a pg_dump at least as new as the server).
pub fn project_tools(state: &UiState) -> Vec<String> {
    state
        .data
        .projects
        .iter()
        .map(|p| {
            let last = newest_with_versions(state, p.id);
            match last {
                Some((dump, server)) => format!(
                    "{}: pg_dump {dump} for PostgreSQL {server} (its last backup)",
                    p.name
                ),
                None => format!(
                    "{}: no backup has reached pg_dump yet (Test connection says which one it will use)",
                    p.name
                ),
            }
        })
        .collect()
}

fn newest_with_versions(state: &UiState, project: ProjectId) -> Option<(String, String)> {
    // Backups are newest first.
    state
        .data
        .backups
        .iter()
        .filter(|b| b.project_id == project && b.status != BackupStatus::Running)
        .find_map(|b| Some((b.pg_dump_version.clone()?, b.server_version.clone()?)))
}
