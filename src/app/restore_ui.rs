//! The restore / drill / verify dialog: the target (filled from a
//! project), the typed-name confirmation, and for an encrypted set the key
//! the vault does not hold (an identity file, picked with the OS dialog or
//! typed, or the passphrase).

use crate::app::encryption::describe_set;
use crate::app::state::{RestoreDialog, SetAction, UiState};
use crate::app::widgets::{error_color, field};
use crate::domain::{SecretSlot, SetEncryption};
use crate::protocol::Command;
use egui::{Context, RichText, Ui};

/// Draws the dialog, if open.
pub fn restore_dialog_ui(ctx: &Context, state: &mut UiState) {
    let projects = state.data.project_choices();
    let Some(d) = &mut state.restore_dialog else {
        return;
    };
    let mut go = None;
    let mut fetch = None;
    let mut pick_identity = false;
    let mut close = false;
    let modal = crate::app::widgets::modal("restore_dialog").show(ctx, |ui| {
        ui.set_width(600.0);
        ui.heading(d.action.title(&d.backup.short()));
        ui.add(egui::Label::new(d.action.explain()).wrap());
        if d.action != SetAction::Verify {
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
        egui::Grid::new("restore_fields")
            .num_columns(2)
            .show(ui, |ui| {
                if d.action != SetAction::Verify {
                    field(
                        ui,
                        if d.action == SetAction::Drill {
                            "Server URL"
                        } else {
                            "Target database URL"
                        },
                        &mut d.url,
                        "postgresql://postgres:PASSWORD@localhost:5432/postgres",
                        true,
                    );
                }
                pick_identity = set_key_rows(ui, d);
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
            let label = match (d.action, &d.confirm) {
                (SetAction::Verify, _) => "Verify",
                (SetAction::Drill, _) => "Run drill",
                (SetAction::Restore, None) => "Restore",
                (SetAction::Restore, Some(_)) => "Replace and restore",
            };
            if ui
                .add_enabled(d.ready(), egui::Button::new(label))
                .clicked()
            {
                go = Some(d.command());
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
    if pick_identity {
        state.send(Command::PickIdentity);
    }
    if let Some(c) = go {
        state.send(c);
        close = true;
    }
    if close {
        state.restore_dialog = None;
    }
}

/// For an encrypted set: how it is encrypted, and the key the vault does
/// not hold (optional when it holds one). Returns true when "Identity
/// file…" was clicked.
fn set_key_rows(ui: &mut Ui, d: &mut RestoreDialog) -> bool {
    let Some(set) = d.encryption.clone() else {
        return false;
    };
    let mut pick = false;
    ui.label("Encryption");
    ui.add(egui::Label::new(describe_set(&set, d.vault_opens)).wrap());
    ui.end_row();
    let optional = if d.vault_opens {
        " (optional: the vault holds one)"
    } else {
        ""
    };
    match set {
        SetEncryption::Recipients { .. } => {
            let l = ui.label("Identity file path");
            ui.horizontal(|ui| {
                ui.add(
                    egui::TextEdit::singleline(&mut d.identity)
                        .id_salt("Identity file path")
                        .hint_text(format!("the private key file, AGE-SECRET-KEY-1…{optional}"))
                        .desired_width(330.0),
                )
                .labelled_by(l.id);
                pick = ui.button("Identity file…").clicked();
            });
            ui.end_row();
        }
        SetEncryption::Passphrase => {
            field(
                ui,
                "Backup passphrase",
                &mut d.passphrase,
                &format!("the passphrase it was encrypted with{optional}"),
                true,
            );
        }
    }
    if d.needs_key() && d.action != SetAction::Verify {
        ui.label("");
        ui.label(
            RichText::new("The vault holds no key for this backup: give it to restore.").weak(),
        );
        ui.end_row();
    }
    pick
}
