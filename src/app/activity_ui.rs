//! The Activity panel: the log, newest first.

use crate::app::state::UiState;
use crate::app::widgets::error_color;
use crate::domain::Level;
use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};

/// Draws the Activity panel.
pub fn activity_ui(ui: &mut Ui, state: &mut UiState) {
    ui.heading("Activity");
    let rows = &state.data.activity;
    if rows.is_empty() {
        ui.label("Nothing has happened yet.");
        return;
    }
    let h = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    TableBuilder::new(ui)
        .id_salt("activity")
        .striped(true)
        .column(Column::initial(160.0))
        .column(Column::initial(70.0))
        .column(Column::remainder())
        .header(h, |mut header| {
            header.col(|ui| {
                ui.strong("When (UTC)");
            });
            header.col(|ui| {
                ui.strong("Level");
            });
            header.col(|ui| {
                ui.strong("What happened");
            });
        })
        .body(|body| {
            body.rows(h, rows.len(), |mut row| {
                let a = &rows[row.index()];
                row.col(|ui| {
                    ui.label(a.at.format("%Y-%m-%d %H:%M:%S").to_string());
                });
                row.col(|ui| {
                    let text = format!("{:?}", a.level);
                    match a.level {
                        Level::Error => ui.label(RichText::new(text).color(error_color(ui))),
                        _ => ui.label(text),
                    };
                });
                row.col(|ui| {
                    ui.label(&a.message);
                });
            });
        });
}
