//! The Settings panel: backup root (folder picker), default compression and
//! level, pg_dump folder, theme, auto-lock, concurrency.

use crate::app::state::UiState;
use crate::domain::{Codec, SettingKey};
use crate::protocol::Command;
use egui::{RichText, Ui};

/// Draws the Settings panel.
pub fn settings_ui(ui: &mut Ui, state: &mut UiState) {
    ui.heading("Settings");
    ui.label(format!("Data dir: {}", state.data.data_dir.display()));
    ui.add_space(6.0);
    let mut commands = Vec::new();
    egui::Grid::new("settings")
        .num_columns(3)
        .spacing([10.0, 8.0])
        .show(ui, |ui| {
            for key in SettingKey::ALL {
                let current = state.setting(key).unwrap_or("").to_string();
                let edit = state
                    .settings_edit
                    .entry(key)
                    .or_insert_with(|| current.clone());
                let l = ui.label(key.as_str());
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
                            .labelled_by(l.id);
                        if *edit != before {
                            commands.push(Command::SetSetting(key, edit.clone()));
                        }
                        ui.label(RichText::new(key.help()).weak());
                    }
                    _ => {
                        ui.horizontal(|ui| {
                            ui.add(egui::TextEdit::singleline(edit).desired_width(320.0))
                                .labelled_by(l.id);
                            if matches!(key, SettingKey::BackupRoot | SettingKey::PgBinDir)
                                && ui.button(format!("Browse for {}", key.as_str())).clicked()
                            {
                                commands.push(Command::PickFolder(key));
                            }
                            if *edit != current
                                && ui.button(format!("Apply {}", key.as_str())).clicked()
                            {
                                commands.push(Command::SetSetting(key, edit.clone()));
                            }
                        });
                        ui.label(RichText::new(key.help()).weak());
                    }
                }
                ui.end_row();
            }
        });
    ui.add_space(10.0);
    ui.horizontal(|ui| {
        if ui.button("Export catalog to SQLite…").clicked() {
            commands.push(Command::ExportSqlite);
        }
        ui.label(
            RichText::new("tables projects, backups, backup_jobs; secrets stay sealed").weak(),
        );
    });
    for c in commands {
        state.send(c);
    }
}
