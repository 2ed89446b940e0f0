//! Small pieces every panel uses: labelled inputs (so every input has an
//! accessible name), field errors, status colours, sizes.

use crate::domain::{BackupStatus, Environment, ValidationErrors};
use egui::{Color32, RichText, TextEdit, Ui};

/// How much a dialog dims the window under it: enough that the page behind
/// does not read as part of the dialog, in the light and the dark theme.
pub const BACKDROP: Color32 = Color32::from_black_alpha(170);

/// A dialog: centred, over a dimmed window ([`BACKDROP`]).
pub fn modal(id: &str) -> egui::Modal {
    egui::Modal::new(egui::Id::unique(id)).backdrop_color(BACKDROP)
}

/// The label column of a form's grids, so that grids one under the other
/// line up.
pub const LABEL_COLUMN: f32 = 130.0;

/// A labelled single-line input in a two-column grid row.
pub fn field(
    ui: &mut Ui,
    label: &str,
    text: &mut String,
    hint: &str,
    password: bool,
) -> egui::Response {
    let l = ui.label(label);
    let r = ui
        .add(
            TextEdit::singleline(text)
                // A stable id: error rows appearing above must not move focus.
                .id_salt(label)
                .hint_text(hint)
                .password(password)
                .desired_width(420.0),
        )
        .labelled_by(l.id);
    ui.end_row();
    r
}

/// A labelled drop-down in a two-column grid row; returns true when the
/// value changed.
pub fn choice<T: PartialEq + Copy>(
    ui: &mut Ui,
    label: &str,
    value: &mut T,
    options: &[T],
    name: impl Fn(&T) -> &'static str,
) -> bool {
    let before = *value;
    let l = ui.label(label);
    egui::ComboBox::from_id_salt(label)
        .selected_text(name(value))
        .show_ui(ui, |ui| {
            for o in options {
                ui.selectable_value(value, *o, name(o));
            }
        })
        .response
        .labelled_by(l.id);
    ui.end_row();
    *value != before
}

/// The error for `name`, in red under its field (a grid row).
pub fn field_error(ui: &mut Ui, errors: &ValidationErrors, name: &str) {
    if let Some(e) = errors.for_field(name) {
        ui.label("");
        ui.scope(|ui| {
            ui.set_max_width(420.0);
            ui.add(egui::Label::new(RichText::new(&e.rule).color(error_color(ui)).small()).wrap());
        });
        ui.end_row();
    }
}

/// Red that reads on light and dark backgrounds.
pub fn error_color(ui: &Ui) -> Color32 {
    if ui.visuals().dark_mode {
        Color32::from_rgb(255, 110, 100)
    } else {
        Color32::from_rgb(190, 30, 30)
    }
}

/// Green that reads on light and dark backgrounds.
pub fn ok_color(ui: &Ui) -> Color32 {
    if ui.visuals().dark_mode {
        Color32::from_rgb(110, 210, 120)
    } else {
        Color32::from_rgb(20, 130, 40)
    }
}

/// A status in its colour.
pub fn status_text(ui: &Ui, status: BackupStatus) -> RichText {
    let c = match status {
        BackupStatus::Completed => ok_color(ui),
        BackupStatus::Running => ui.visuals().hyperlink_color,
        BackupStatus::Cancelled => ui.visuals().weak_text_color(),
        BackupStatus::Failed | BackupStatus::Interrupted => error_color(ui),
    };
    RichText::new(status.as_str()).color(c)
}

/// An environment badge.
pub fn env_badge(ui: &mut Ui, env: &str) {
    let color = match env.parse::<Environment>() {
        Ok(Environment::Production) => Color32::from_rgb(200, 60, 60),
        Ok(Environment::Staging) => Color32::from_rgb(200, 140, 20),
        _ => Color32::from_rgb(60, 130, 200),
    };
    ui.label(
        RichText::new(format!(" {env} "))
            .small()
            .color(Color32::WHITE)
            .background_color(color),
    );
}

pub use crate::domain::human_bytes as bytes;
