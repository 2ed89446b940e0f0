//! The page shown while there is no project yet (Dashboard and Projects):
//! what to do first, and where a Supabase user finds the connection
//! string.

use crate::app::state::{Panel, ProjectForm, UiState};
use crate::app::widgets::{error_color, ok_color};
use crate::protocol::Command;
use egui::{RichText, Ui};

/// The first line of the page (tests look for it).
pub const FIRST_RUN: &str = "Add a project to start backing up.";

/// Draws the page.
pub fn first_run_ui(ui: &mut Ui, state: &mut UiState) {
    let wrap = |ui: &mut Ui, text: &str| {
        ui.add(egui::Label::new(text).wrap());
    };
    ui.label(RichText::new(FIRST_RUN).size(18.0).strong());
    ui.add_space(4.0);
    wrap(
        ui,
        "A project is a database to back up: its name and its connection string. The \
         connection test tells you the server's version, the pg_dump that will be used, and \
         what is wrong if it cannot connect.",
    );
    ui.add_space(4.0);
    if ui
        .button("Add project")
        .on_hover_text(crate::app::shortcuts::hint(
            ui.ctx(),
            crate::app::shortcuts::UiCommand::NewProject,
        ))
        .clicked()
    {
        state.panel = Panel::Projects;
        state.project_form = Some(ProjectForm::new());
    }
    ui.add_space(10.0);
    ui.strong("Where a Supabase project's connection string is");
    for (n, step) in [
        "Open the project in the Supabase dashboard and click Connect (top of the page).",
        "Under Connection string, pick the Session pooler: postgresql://postgres.<ref>:[YOUR-PASSWORD]@aws-0-<region>.pooler.supabase.com:5432/postgres. Port 5432 is the session mode pg_dump needs; the transaction pooler on port 6543 cannot run it.",
        "On a network with IPv6 (or with the IPv4 add-on), the Direct connection works too: postgresql://postgres:[YOUR-PASSWORD]@db.<ref>.supabase.co:5432/postgres.",
        "Replace [YOUR-PASSWORD] with the database password (Project Settings > Database can reset it), paste the string in the form, then Test connection.",
    ]
    .iter()
    .enumerate()
    {
        wrap(ui, &format!("{}. {step}", n + 1));
    }
    ui.add_space(6.0);
    wrap(
        ui,
        "Any other PostgreSQL: postgresql://USER:PASSWORD@HOST:5432/DATABASE. The password is \
         sealed in the vault; it never appears in the window, logs or exports.",
    );
    ui.add_space(10.0);
    ui.strong("Backups from another machine?");
    ui.horizontal_wrapped(|ui| {
        ui.label("A backup folder copied here can be checked and restored without a project:");
        if ui.button(crate::app::RESTORE_FROM_FOLDER).clicked() {
            state.send(Command::PickSetFolder);
        }
    });
    ui.add_space(10.0);
    match &state.tools {
        Some(t) if t.tools.is_empty() => {
            ui.add(
                egui::Label::new(
                    RichText::new(
                        "No pg_dump was found on this machine: install the PostgreSQL client \
                         tools (see Settings > This machine).",
                    )
                    .color(error_color(ui)),
                )
                .wrap(),
            );
        }
        Some(t) => {
            let versions: Vec<String> = t.tools.iter().map(|t| t.version.to_string()).collect();
            ui.label(
                RichText::new(format!("pg_dump found: {}", versions.join(", ")))
                    .color(ok_color(ui)),
            );
        }
        None => {}
    }
}
