//! The unlock screen, and the first-run "choose a master password".

use crate::app::state::UiState;
use crate::app::widgets::error_color;
use crate::protocol::Command;
use crate::vault::MIN_PASSWORD_CHARS;
use egui::{RichText, TextEdit, Ui};
use zeroize::Zeroizing;

/// A rough strength hint: length and variety.
pub fn strength_hint(pw: &str) -> (&'static str, f32) {
    let len = pw.chars().count();
    let classes = [
        pw.chars().any(|c| c.is_lowercase()),
        pw.chars().any(|c| c.is_uppercase()),
        pw.chars().any(|c| c.is_ascii_digit()),
        pw.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    let score = len as f32 / 20.0 + classes as f32 / 8.0;
    match score {
        s if len < MIN_PASSWORD_CHARS => ("too short", s.min(0.2)),
        s if s < 0.7 => (
            "weak: longer is stronger (a phrase of several words works well)",
            s,
        ),
        s if s < 1.1 => ("fair", s),
        s => ("strong", s.min(1.0)),
    }
}

/// Draws the unlock (or setup) form, centred.
pub fn unlock_ui(ui: &mut Ui, state: &mut UiState, first_run: bool) {
    let width = 440.0;
    ui.add_space(ui.available_height() * 0.2);
    ui.horizontal(|ui| {
        ui.add_space(((ui.available_width() - width) / 2.0).max(0.0));
        ui.vertical(|ui| {
            ui.set_width(width);
            form_ui(ui, state, first_run);
        });
    });
}

fn form_ui(ui: &mut Ui, state: &mut UiState, first_run: bool) {
    {
        ui.heading("supabackup");
        ui.add_space(8.0);
        if first_run {
            ui.label(
                "Choose a master password. It seals every database password and key on this disk.",
            );
            ui.label(RichText::new("It cannot be recovered: keep it somewhere safe.").strong());
        } else {
            ui.label("Enter the master password to unlock.");
        }
        ui.add_space(12.0);
        let form = &mut state.unlock;
        let mut submit = false;
        egui::Grid::new("unlock")
            .num_columns(2)
            .spacing([8.0, 8.0])
            .show(ui, |ui| {
                let l = ui.label("Master password");
                let r = ui
                    .add(
                        TextEdit::singleline(&mut *form.password)
                            .password(true)
                            .desired_width(280.0),
                    )
                    .labelled_by(l.id);
                // Ask for focus only while egui's own memory has none: `has_focus()`
                // also needs the OS window focused, and asking every frame would
                // interrupt the input method every frame (a repaint storm).
                let focused_in_memory = ui.ctx().memory(|m| m.has_focus(r.id));
                if !form.busy && !focused_in_memory && form.password.is_empty() {
                    r.request_focus();
                }
                submit |= r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.end_row();
                if first_run {
                    let l = ui.label("Type it again");
                    let r = ui
                        .add(
                            TextEdit::singleline(&mut *form.confirm)
                                .password(true)
                                .desired_width(280.0),
                        )
                        .labelled_by(l.id);
                    submit |= r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    ui.end_row();
                    let (words, score) = strength_hint(&form.password);
                    ui.label("Strength");
                    ui.add(
                        egui::ProgressBar::new(score)
                            .desired_width(280.0)
                            .text(words),
                    );
                    ui.end_row();
                }
            });
        let label = if first_run { "Set password" } else { "Unlock" };
        ui.add_space(8.0);
        if ui
            .add_enabled(!form.busy, egui::Button::new(label))
            .clicked()
        {
            submit = true;
        }
        if form.busy {
            ui.spinner();
        }
        if let Some(e) = &form.error {
            ui.label(RichText::new(e).color(error_color(ui)));
        }
        if submit && !form.busy {
            if first_run && form.password.chars().count() < MIN_PASSWORD_CHARS {
                form.error = Some(format!("Use at least {MIN_PASSWORD_CHARS} characters."));
            } else if first_run && *form.password != *form.confirm {
                form.error = Some("The two passwords differ.".into());
            } else {
                form.busy = true;
                form.error = None;
                let pw = Zeroizing::new(form.password.to_string());
                state.send(if first_run {
                    Command::InitVault(pw)
                } else {
                    Command::Unlock(pw)
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strength_grows_with_length_and_variety() {
        assert_eq!(super::strength_hint("short").0, "too short");
        assert!(
            super::strength_hint("abcdefgh").1
                < super::strength_hint("Correct horse battery staple 9!").1
        );
        assert_eq!(
            super::strength_hint("Correct horse battery staple 9!").0,
            "strong"
        );
    }
}
