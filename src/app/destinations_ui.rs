//! Destinations in the window: Settings' list (test, remove), the "Add
//! destination" dialog (S3-compatible storage or a folder, tested before
//! it is stored), and the project form's "Copy to" section.

use crate::app::destinations::{DestinationChoice, DestinationForm, DestinationTest, FORM_FIELDS};
use crate::app::state::{Confirm, ProjectForm, UiState};
use crate::app::widgets::{LABEL_COLUMN, error_color, field, field_error, ok_color};
use crate::domain::ValidationErrors;
use crate::engine::DestinationView;
use crate::protocol::Command;
use egui::{Context, RichText, Ui};

/// Settings' Destinations section.
pub fn destinations_section(ui: &mut Ui, state: &mut UiState) {
    ui.horizontal(|ui| {
        ui.heading("Destinations");
        if ui.button("Add destination…").clicked() {
            state.destination_form = Some(DestinationForm::new());
        }
    });
    ui.add(
        egui::Label::new(
            RichText::new(
                "Second places every backup is copied to (S3-compatible storage, or a folder \
                 on a NAS, a second disk, a USB stick). A project chooses its destinations in \
                 its form (Copy to).",
            )
            .weak(),
        )
        .wrap(),
    );
    if state.data.destinations.is_empty() {
        ui.label("No destinations yet.");
        return;
    }
    let mut action = None;
    for d in &state.data.destinations {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(&d.name).strong());
                // The location says the kind ("folder /mnt/nas", "s3://...").
                ui.monospace(&d.location);
            });
            ui.label(uses_words(d));
            let test = state.destination_tests.get(&d.id);
            ui.horizontal(|ui| {
                let running = test == Some(&DestinationTest::Running);
                if ui
                    .add_enabled(!running, egui::Button::new(format!("Test {}", d.name)))
                    .on_hover_text("Writes, reads back and deletes a small file there")
                    .clicked()
                {
                    action = Some(Action::Test(d.id));
                }
                if ui.button(format!("Remove {}…", d.name)).clicked() {
                    let mut users: Vec<String> = d
                        .projects
                        .iter()
                        .map(|p| format!("project \"{p}\""))
                        .collect();
                    users.extend(d.schedules.iter().map(|s| format!("schedule \"{s}\"")));
                    action = Some(Action::Remove(d.id, d.name.clone(), users));
                }
            });
            match test {
                None => {}
                Some(DestinationTest::Running) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Testing…");
                    });
                }
                Some(DestinationTest::Done(Ok(what))) => {
                    ui.add(
                        egui::Label::new(
                            RichText::new(format!("Works: {what}")).color(ok_color(ui)),
                        )
                        .wrap(),
                    );
                }
                Some(DestinationTest::Done(Err(why))) => {
                    ui.add(egui::Label::new(RichText::new(why).color(error_color(ui))).wrap());
                }
            }
        });
        ui.add_space(4.0);
    }
    match action {
        Some(Action::Test(id)) => {
            state.destination_tests.insert(id, DestinationTest::Running);
            state.send(Command::TestDestination(id));
        }
        Some(Action::Remove(id, name, users)) => {
            state.confirm = Some(Confirm::RemoveDestination(id, name, users));
        }
        None => {}
    }
}

enum Action {
    Test(crate::domain::DestinationId),
    Remove(crate::domain::DestinationId, String, Vec<String>),
}

/// Which projects and schedules copy to `d`, in words.
fn uses_words(d: &DestinationView) -> String {
    let mut users: Vec<String> = d.projects.iter().map(|p| format!("\"{p}\"")).collect();
    users.extend(d.schedules.iter().map(|s| format!("schedule \"{s}\"")));
    if users.is_empty() {
        "No project copies here yet.".into()
    } else {
        format!("Copied to by {}.", users.join(", "))
    }
}

/// The "Add destination" dialog, when open.
pub fn destination_form_ui(ctx: &Context, state: &mut UiState) {
    let Some(form) = &mut state.destination_form else {
        return;
    };
    let mut commands = Vec::new();
    let mut close = false;
    let max_height = ctx.content_rect().height() - 80.0;
    // A fixed width: a long refusal wraps inside it instead of widening
    // the content past the dialog's frame.
    let width = (ctx.content_rect().width() - 80.0).clamp(300.0, 600.0);
    let modal = crate::app::widgets::modal("destination_form").show(ctx, |ui| {
        ui.set_width(width);
        // A short window (a large scale): the form scrolls, at the
        // window's height (a scroll area that shrinks to its content does
        // not grow back inside a modal when errors appear).
        if max_height < 480.0 {
            egui::ScrollArea::vertical()
                .max_height(max_height)
                .min_scrolled_height(max_height)
                .show(ui, |ui| close = form_body(ui, form, &mut commands));
        } else {
            close = form_body(ui, form, &mut commands);
        }
    });
    if modal.should_close() {
        close = true;
    }
    for c in commands {
        state.send(c);
    }
    if close {
        state.destination_form = None;
    }
}

/// The dialog's content; returns true when Cancel was clicked.
fn form_body(ui: &mut Ui, form: &mut DestinationForm, commands: &mut Vec<Command>) -> bool {
    ui.heading("Add destination");
    ui.horizontal(|ui| {
        for c in DestinationChoice::ALL {
            if ui.radio_value(&mut form.kind, c, c.label()).changed() && form.tried {
                form.revalidate();
            }
        }
    });
    let errors = if form.tried {
        form.errors.clone()
    } else {
        ValidationErrors::default()
    };
    let mut edited = false;
    let mut browse = false;
    egui::Grid::new("destination_fields")
        .num_columns(2)
        .min_col_width(LABEL_COLUMN)
        .spacing([10.0, 6.0])
        .show(ui, |ui| {
            edited |= field(ui, "Destination name", &mut form.name, "offsite", false).changed();
            field_error(ui, &errors, "name");
            match form.kind {
                DestinationChoice::S3 => {
                    edited |= s3_fields(ui, form, &errors);
                }
                DestinationChoice::Folder => {
                    let l = ui.label("Folder");
                    ui.horizontal(|ui| {
                        edited |= ui
                            .add(
                                egui::TextEdit::singleline(&mut form.folder)
                                    .id_salt("Folder")
                                    .hint_text("/mnt/nas/supabackup")
                                    .desired_width(300.0),
                            )
                            .labelled_by(l.id)
                            .changed();
                        browse = ui.button("Browse…").clicked();
                    });
                    ui.end_row();
                    field_error(ui, &errors, "folder");
                }
            }
        });
    if edited && form.tried {
        form.revalidate();
    }
    if browse {
        commands.push(Command::PickDestinationFolder);
    }
    // Errors at fields the form does not show (the engine's words).
    let other: Vec<String> = errors
        .0
        .iter()
        .filter(|e| !FORM_FIELDS.contains(&e.field))
        .map(|e| format!("{}: {}", e.field, e.rule))
        .collect();
    if let Some(why) = form
        .refused
        .clone()
        .or_else(|| (!other.is_empty()).then(|| other.join("; ")))
    {
        ui.add(egui::Label::new(RichText::new(why).color(error_color(ui))).wrap());
    }
    ui.add(
        egui::Label::new(
            RichText::new(
                "Test and add writes, reads back and deletes a small file there; nothing is \
                 stored if that fails.",
            )
            .weak(),
        )
        .wrap(),
    );
    let mut close = false;
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!form.busy, egui::Button::new("Test and add"))
            .clicked()
        {
            form.tried = true;
            form.refused = None;
            match form.input() {
                Ok(input) => {
                    form.errors = ValidationErrors::default();
                    form.busy = true;
                    commands.push(Command::AddDestination(input));
                }
                Err(e) => form.errors = e,
            }
        }
        close = ui.button("Cancel").clicked();
        if form.busy {
            ui.spinner();
            ui.label("Testing the destination…");
        } else if form.tried && !form.errors.is_empty() {
            ui.label(RichText::new("Fix the fields marked in red.").color(error_color(ui)));
        }
    });
    close
}

/// The S3 fields; returns true when one changed.
fn s3_fields(ui: &mut Ui, form: &mut DestinationForm, errors: &ValidationErrors) -> bool {
    let mut edited = false;
    edited |= field(
        ui,
        "Bucket and prefix",
        &mut form.s3_url,
        "s3://my-backups/supabackup",
        false,
    )
    .changed();
    field_error(ui, errors, "s3");
    edited |= field(
        ui,
        "Endpoint URL",
        &mut form.endpoint,
        "https://<account>.r2.cloudflarestorage.com, https://s3.eu-central-1.amazonaws.com",
        false,
    )
    .changed();
    field_error(ui, errors, "endpoint");
    edited |= field(ui, "Region", &mut form.region, "eu-central-1, auto", false).changed();
    field_error(ui, errors, "region");
    ui.label("");
    edited |= ui
        .checkbox(
            &mut form.path_style,
            "Path-style addressing (MinIO, most self-hosted servers)",
        )
        .changed();
    ui.end_row();
    edited |= field(ui, "Access key id", &mut form.access_key_id, "AKIA…", false).changed();
    field_error(ui, errors, "access_key_id");
    edited |= field(
        ui,
        "Secret access key",
        &mut form.secret,
        "sealed in the vault, never shown again",
        true,
    )
    .changed();
    field_error(ui, errors, "secret_access_key");
    edited
}

/// The project form's "Copy to" section; returns true when it changed.
pub fn copies_section(
    ui: &mut Ui,
    form: &mut ProjectForm,
    destinations: &[DestinationView],
) -> bool {
    let mut edited = false;
    ui.add_space(4.0);
    ui.separator();
    ui.label(RichText::new("Off-site copies").strong());
    if destinations.is_empty() {
        ui.label(
            RichText::new(
                "No destinations yet: add S3-compatible storage or a folder in Settings > \
                 Destinations, then tick it here.",
            )
            .weak(),
        );
        return false;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Copy to:");
        for d in destinations {
            let mut on = form.copy_to.contains(&d.id);
            if ui
                .checkbox(&mut on, format!("Copy to {}", d.name))
                .on_hover_text(&d.location)
                .changed()
            {
                form.set_copy(d.id, on);
                edited = true;
            }
        }
    });
    ui.add_enabled_ui(!form.copy_to.is_empty(), |ui| {
        edited |= ui
            .checkbox(
                &mut form.remote_only,
                "Keep backups only at the destinations (the local folder goes once every copy \
                 is verified)",
            )
            .changed();
    });
    if let Some(e) = form.errors.for_field("remote_only") {
        ui.label(RichText::new(&e.rule).color(error_color(ui)).small());
    }
    edited
}
