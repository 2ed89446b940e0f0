//! The "Restore from a folder" dialog: what the folder holds (its manifest
//! in words, every checksum checked), then the target; or add the set to
//! the history.

use crate::app::details_ui::manifest_ui;
use crate::app::state::UiState;
use crate::app::widgets::{error_color, field, ok_color};
use crate::domain::SetEncryption;
use crate::protocol::Command;
use egui::{Context, RichText};

/// The title of the dialog (and of the button that opens it).
pub const RESTORE_FROM_FOLDER: &str = "Restore from a folder…";

/// Draws the dialog, when open.
pub fn folder_restore_ui(ctx: &Context, state: &mut UiState) {
    let Some(d) = &mut state.folder_restore else {
        return;
    };
    let mut go = false;
    let mut import = false;
    let mut close = false;
    let max_height = ctx.content_rect().height() - 160.0;
    let modal = crate::app::widgets::modal("folder_restore").show(ctx, |ui| {
        ui.set_width(ui.ctx().content_rect().width().clamp(320.0, 680.0) - 40.0);
        ui.heading("Restore from a folder");
        ui.add(
            egui::Label::new(RichText::new(d.dir.display().to_string()).monospace()).wrap(),
        );
        match &d.contents {
            Err(e) => {
                ui.add(egui::Label::new(RichText::new(e).color(error_color(ui))).wrap());
            }
            Ok(c) => {
                ui.label(
                    RichText::new("Every file matches its size and SHA-256 in the manifest.")
                        .color(ok_color(ui)),
                );
                egui::ScrollArea::vertical()
                    .max_height((max_height * 0.55).max(120.0))
                    .id_salt("folder_manifest")
                    .show(ui, |ui| manifest_ui(ui, c, None));
            }
        }
        if d.contents.is_ok() {
            ui.separator();
            egui::Grid::new("folder_restore_fields")
                .num_columns(2)
                .show(ui, |ui| {
                    field(
                        ui,
                        "Target database URL",
                        &mut d.url,
                        "postgresql://postgres:PASSWORD@localhost:5432/postgres",
                        true,
                    );
                    match d.encryption() {
                        Some(SetEncryption::Recipients { .. }) => {
                            field(
                                ui,
                                "Identity file path",
                                &mut d.identity,
                                "the private key file, AGE-SECRET-KEY-1… (unless the vault holds it)",
                                false,
                            );
                        }
                        Some(SetEncryption::Passphrase) => {
                            field(
                                ui,
                                "Backup passphrase",
                                &mut d.passphrase,
                                "the passphrase it was encrypted with",
                                true,
                            );
                        }
                        None => {}
                    }
                });
            if let Some((dbname, message)) = &d.confirm {
                ui.add(egui::Label::new(RichText::new(message).color(error_color(ui))).wrap());
                ui.horizontal(|ui| {
                    let l = ui.label(format!("Type the database name \"{dbname}\" to replace it"));
                    ui.add(egui::TextEdit::singleline(&mut d.typed).desired_width(200.0))
                        .labelled_by(l.id);
                });
            }
        }
        ui.horizontal(|ui| {
            let label = if d.confirm.is_some() {
                "Replace and restore"
            } else {
                "Restore"
            };
            go = ui
                .add_enabled(d.ready(), egui::Button::new(label))
                .on_hover_text("Checksums are checked again, then roles, schema and data in one transaction")
                .clicked();
            import = ui
                .add_enabled(
                    d.contents.is_ok() && !d.imported,
                    egui::Button::new("Add to the history"),
                )
                .on_hover_text(
                    "Copies the set under the backup folder and lists it with the others",
                )
                .clicked();
            close = ui.button("Close").clicked();
        });
    });
    if modal.should_close() {
        close = true;
    }
    if import {
        d.imported = true;
        let cmd = Command::ImportFolder(d.dir.clone());
        state.send(cmd);
        return;
    }
    if go {
        // The dialog goes; it comes back if the target must be confirmed.
        let cmd = d.command();
        state.folder_pending = state.folder_restore.take();
        state.send(cmd);
        return;
    }
    if close {
        state.folder_restore = None;
    }
}
