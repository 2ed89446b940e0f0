//! The project form's Encryption section: off, to age public keys (checked
//! as typed; "Generate a key…"), or a passphrase typed twice; and for a
//! saved project, the identity the vault keeps to restore without asking.

use crate::app::encryption::{EncryptionForm, EncryptionMode, MIN_PASSPHRASE};
use crate::app::state::ProjectForm;
use crate::app::widgets::{LABEL_COLUMN, error_color, field, field_error};
use crate::domain::{EncryptionSetting, ValidationErrors};
use crate::engine::ProjectView;
use crate::protocol::Command;
use egui::{Color32, RichText, TextEdit, Ui};

/// Amber that reads on light and dark backgrounds.
fn warning_color(ui: &Ui) -> Color32 {
    if ui.visuals().dark_mode {
        Color32::from_rgb(255, 190, 70)
    } else {
        Color32::from_rgb(150, 85, 0)
    }
}

/// The file name the save dialog suggests for a project's new identity.
fn identity_file_name(project: &str) -> String {
    let slug = project
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if slug.is_empty() {
        "supabackup-age-identity.txt".into()
    } else {
        format!("{slug}-age-identity.txt")
    }
}

/// The section's errors, each shown after the first save or, for the
/// fields checked as typed, as soon as there is something to check.
struct Shown {
    recipients: ValidationErrors,
    passphrase: ValidationErrors,
    confirm: ValidationErrors,
}

impl Shown {
    fn of(form: &ProjectForm) -> Self {
        let shown = |field: &str, live: bool| -> ValidationErrors {
            if form.tried || live {
                ValidationErrors(form.errors.for_field(field).cloned().into_iter().collect())
            } else {
                ValidationErrors::default()
            }
        };
        let enc = &form.encryption;
        let (typed, again) = (enc.passphrase.chars().count(), enc.confirm.chars().count());
        Self {
            recipients: shown("recipients", !enc.recipients.trim().is_empty()),
            passphrase: shown("passphrase", again > 0),
            confirm: shown("passphrase_confirm", again > 0 && again >= typed),
        }
    }
}

/// Draws the section; returns true when a field changed. `project` is the
/// saved project being edited, if any.
pub fn encryption_section(
    ui: &mut Ui,
    form: &mut ProjectForm,
    project: Option<&ProjectView>,
    commands: &mut Vec<Command>,
) -> bool {
    let mut edited = false;
    ui.add_space(4.0);
    ui.separator();
    ui.label(RichText::new("Backup encryption (age)").strong());
    let shown = Shown::of(form);
    let (reveal, file_name) = (form.reveal, identity_file_name(&form.name));
    let enc = &mut form.encryption;
    egui::Grid::new("encryption_fields")
        .num_columns(2)
        .min_col_width(LABEL_COLUMN)
        .spacing([10.0, 6.0])
        .show(ui, |ui| {
            ui.label("Encryption");
            ui.horizontal(|ui| {
                for mode in EncryptionMode::ALL {
                    edited |= ui.radio_value(&mut enc.mode, mode, mode.label()).changed();
                }
            });
            ui.end_row();
            match enc.mode {
                EncryptionMode::Off => {}
                EncryptionMode::Recipients => {
                    edited |= recipients_rows(ui, enc, &shown, commands, file_name);
                }
                EncryptionMode::Passphrase => {
                    edited |= passphrase_rows(ui, enc, &shown, reveal);
                }
            }
            if let Some(p) = project
                && (enc.mode == EncryptionMode::Recipients || p.identity_in_vault)
            {
                identity_row(ui, enc, p, commands);
            }
        });
    notes_ui(ui, &form.encryption);
    edited
}

/// The public keys, their error, and "Generate a key…".
fn recipients_rows(
    ui: &mut Ui,
    enc: &mut EncryptionForm,
    shown: &Shown,
    commands: &mut Vec<Command>,
    file_name: String,
) -> bool {
    let l = ui.label("Public keys");
    let edited = ui
        .add(
            TextEdit::multiline(&mut enc.recipients)
                .id_salt("Public keys")
                .hint_text("age1… (one a line)")
                .font(egui::FontId::monospace(11.0))
                .desired_rows(2)
                .desired_width(470.0),
        )
        .labelled_by(l.id)
        .changed();
    ui.end_row();
    field_error(ui, &shown.recipients, "recipients");
    ui.label("");
    ui.horizontal(|ui| {
        if ui.button("Generate a key…").clicked() {
            commands.push(Command::GenerateKey { file_name });
        }
        ui.label(RichText::new("writes a new identity file, adds its public key").weak());
    });
    ui.end_row();
    edited
}

/// The passphrase, typed twice, and their errors.
fn passphrase_rows(ui: &mut Ui, enc: &mut EncryptionForm, shown: &Shown, reveal: bool) -> bool {
    let hint = if enc.current == EncryptionSetting::Passphrase {
        "leave empty to keep the one in the vault"
    } else {
        "at least 12 characters"
    };
    let mut edited = field(ui, "Backup passphrase", &mut enc.passphrase, hint, !reveal).changed();
    field_error(ui, &shown.passphrase, "passphrase");
    edited |= field(ui, "Passphrase again", &mut enc.confirm, "", !reveal).changed();
    field_error(ui, &shown.confirm, "passphrase_confirm");
    edited
}

/// What to keep safe: the passphrase, and every key generated meanwhile
/// (where its file is: without it, the backups cannot be restored).
fn notes_ui(ui: &mut Ui, enc: &EncryptionForm) {
    if enc.mode == EncryptionMode::Passphrase {
        ui.label(
            RichText::new(format!(
                "At least {MIN_PASSPHRASE} characters. It is sealed in the vault so scheduled \
                 backups run; keep a copy elsewhere too: without it the backups cannot be restored."
            ))
            .weak(),
        );
    }
    for key in &enc.generated {
        egui::Frame::group(ui.style())
            .stroke(egui::Stroke::new(1.5, warning_color(ui)))
            .show(ui, |ui| {
                ui.set_max_width(600.0);
                ui.label(
                    RichText::new(format!(
                        "Warning: keep the new identity file safe: {}",
                        key.path.display()
                    ))
                    .color(warning_color(ui))
                    .strong(),
                );
                ui.add(
                    egui::Label::new(format!(
                        "Without this file, backups encrypted to {} cannot be restored. \
                         Keep a copy apart from the backups (a password manager, another disk).",
                        key.public_key
                    ))
                    .wrap(),
                );
            });
    }
}

/// "Identity in the vault": kept or not, Import identity… and Forget
/// identity (asked twice: the backups may have no other key).
fn identity_row(
    ui: &mut Ui,
    enc: &mut EncryptionForm,
    p: &ProjectView,
    commands: &mut Vec<Command>,
) {
    ui.label("Identity in the vault");
    ui.horizontal_wrapped(|ui| {
        ui.set_max_width(440.0);
        if p.identity_in_vault {
            ui.label("kept: this machine restores without asking");
        } else {
            ui.label(RichText::new("none: restores ask for the identity file").weak());
        }
        if ui
            .button("Import identity…")
            .on_hover_text("Keep an identity file (private key) sealed in the vault")
            .clicked()
        {
            commands.push(Command::ImportIdentity(p.id));
        }
        if p.identity_in_vault && !enc.forgetting && ui.button("Forget identity").clicked() {
            enc.forgetting = true;
        }
    });
    ui.end_row();
    if enc.forgetting && p.identity_in_vault {
        ui.label("");
        ui.horizontal_wrapped(|ui| {
            ui.set_max_width(440.0);
            ui.label(
                RichText::new("Restores will ask for the identity file. Forget it?")
                    .color(error_color(ui)),
            );
            if ui
                .button(RichText::new("Forget it").color(error_color(ui)))
                .clicked()
            {
                commands.push(Command::ForgetIdentity(p.id));
                enc.forgetting = false;
            }
            if ui.button("Keep it").clicked() {
                enc.forgetting = false;
            }
        });
        ui.end_row();
    }
}

#[cfg(test)]
mod tests {
    use super::identity_file_name;

    #[test]
    fn the_suggested_file_name_is_the_projects_slug() {
        assert_eq!(
            identity_file_name("My Shop (prod)"),
            "my-shop-prod-age-identity.txt"
        );
        assert_eq!(identity_file_name(""), "supabackup-age-identity.txt");
    }
}
