//! A backup's details, beside the panels: its status and full error
//! (wrapped, selectable, with a copy button), what the last verify or
//! drill found, its copies, the manifest in words (versions, snapshot,
//! kind, profile, compression, encryption, each file with its size and
//! SHA-256, tables with their row counts), and its actions.

use crate::app::backups_ui::RowAction;
use crate::app::dashboard::age_words;
use crate::app::details::{Loaded, check_words, copy_lines, last_check};
use crate::app::encryption::{describe_set, vault_opens};
use crate::app::state::{SetAction, UiState};
use crate::app::widgets::{bytes, error_color, ok_color, status_text};
use crate::domain::{Backup, BackupStatus, human_count};
use crate::protocol::SetContents;
use egui::{RichText, Ui};

/// The label of the button that copies a failed backup's error.
pub const COPY_ERROR: &str = "Copy error";

/// Draws the details side panel, when a backup is chosen.
pub fn details_panel(ui: &mut Ui, state: &mut UiState) {
    let Some(id) = state.details.as_ref().map(|d| d.backup) else {
        return;
    };
    let Some(b) = state.data.backups.iter().find(|b| b.id == id).cloned() else {
        // Deleted meanwhile.
        state.details = None;
        return;
    };
    let mut action = None;
    let mut close = false;
    egui::Panel::right("backup_details")
        .resizable(true)
        // Beside the history at the default window size (1180 wide), every
        // column of the history still shows.
        .default_size(380.0)
        .min_size(300.0)
        .max_size((ui.available_width() * 0.6).max(300.0))
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .auto_shrink(false)
                .id_salt("details_scroll")
                .show(ui, |ui| {
                    close = header_ui(ui, &b);
                    status_ui(ui, &b);
                    actions_ui(ui, state, &b, &mut action);
                    check_ui(ui, state, &b);
                    copies_ui(ui, state, &b, &mut action);
                    ui.separator();
                    if let Some(d) = &state.details {
                        contents_ui(ui, &d.contents, &b, state);
                    }
                });
        });
    if let Some(a) = action {
        a.apply(state);
    }
    if close {
        state.details = None;
    }
}

/// Title and Close; returns true when Close was clicked.
fn header_ui(ui: &mut Ui, b: &Backup) -> bool {
    let mut close = false;
    ui.horizontal(|ui| {
        ui.heading(format!("Backup {}", b.id.short()));
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            close = ui.button("Close details").on_hover_text("Esc").clicked();
        });
    });
    ui.label(format!(
        "{} · {} · started {}",
        b.project_name,
        b.kind.as_str(),
        b.started_at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    close
}

fn status_ui(ui: &mut Ui, b: &Backup) {
    egui::Grid::new("details_status")
        .num_columns(2)
        .spacing([10.0, 4.0])
        .show(ui, |ui| {
            ui.label("Status");
            ui.label(status_text(ui, b.status));
            ui.end_row();
            if let Some(d) = b.duration() {
                ui.label("Took");
                ui.label(format!("{:.1}s", d.num_milliseconds() as f64 / 1000.0));
                ui.end_row();
            }
            if b.status == BackupStatus::Completed {
                ui.label("Size");
                ui.label(format!(
                    "{} on disk ({} of SQL)",
                    bytes(b.bytes),
                    bytes(b.raw_bytes)
                ));
                ui.end_row();
                ui.label("Rows");
                ui.label(human_count(b.rows));
                ui.end_row();
            }
            ui.label("Folder");
            ui.add(
                egui::Label::new(RichText::new(b.path.display().to_string()).monospace()).wrap(),
            );
            ui.end_row();
            if b.pinned {
                ui.label("Pinned");
                ui.label("yes: retention keeps it");
                ui.end_row();
            }
        });
    if let Some(e) = &b.error {
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.strong("Error");
            if ui
                .button(COPY_ERROR)
                .on_hover_text("Copies the whole error to the clipboard")
                .clicked()
            {
                ui.ctx().copy_text(e.clone());
            }
        });
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            // Wrapped to the panel's width, selectable, whole.
            ui.add(egui::Label::new(RichText::new(e).color(error_color(ui))).wrap());
        });
    }
    for w in &b.extra.warnings {
        ui.add(egui::Label::new(RichText::new(format!("Warning: {w}")).weak()).wrap());
    }
}

fn actions_ui(ui: &mut Ui, state: &UiState, b: &Backup, action: &mut Option<RowAction>) {
    let completed = b.status == BackupStatus::Completed;
    let readable = completed && (!b.extra.remote_only || !b.extra.copies.is_empty());
    ui.add_space(4.0);
    ui.horizontal_wrapped(|ui| {
        ui.add_enabled_ui(readable, |ui| {
            if ui.button("Verify").clicked() {
                *action = Some(RowAction::Open(b.id, SetAction::Verify));
            }
            if ui.button("Restore…").clicked() {
                *action = Some(RowAction::Open(b.id, SetAction::Restore));
            }
            if ui.button("Restore drill…").clicked() {
                *action = Some(RowAction::Open(b.id, SetAction::Drill));
            }
        });
        if ui
            .add_enabled(
                completed && !b.extra.remote_only,
                egui::Button::new("Open folder"),
            )
            .clicked()
        {
            *action = Some(RowAction::Reveal(b.path.clone()));
        }
        if ui
            .button(if b.pinned { "Unpin" } else { "Pin" })
            .on_hover_text("A pinned backup survives retention")
            .clicked()
        {
            *action = Some(RowAction::Pin(b.id, !b.pinned));
        }
        let running = state.tasks.iter().any(|t| t.label.contains(&b.id.short()));
        if ui
            .add_enabled(
                b.status != BackupStatus::Running && !running,
                egui::Button::new("Delete…"),
            )
            .clicked()
        {
            *action = Some(RowAction::Delete(
                b.id,
                format!(
                    "{} {}",
                    b.project_name,
                    b.started_at.format("%Y-%m-%d %H:%M")
                ),
            ));
        }
    });
}

fn check_ui(ui: &mut Ui, state: &UiState, b: &Backup) {
    if b.status != BackupStatus::Completed {
        return;
    }
    ui.add_space(4.0);
    ui.strong("Last check");
    match last_check(b, state.checks.get(&b.id), &state.data.activity) {
        None => {
            ui.label(
                RichText::new("Not verified or drilled yet (as far as the recent activity shows).")
                    .weak(),
            );
        }
        Some(c) => {
            let color = if c.ok { ok_color(ui) } else { error_color(ui) };
            ui.label(
                RichText::new(format!(
                    "{} {} {}",
                    check_words(&c.kind),
                    if c.ok { "passed" } else { "failed" },
                    age_words(chrono::Utc::now() - c.at)
                ))
                .color(color),
            )
            .on_hover_text(c.at.format("%Y-%m-%d %H:%M:%S UTC").to_string());
            ui.add(egui::Label::new(RichText::new(&c.message).weak()).wrap());
        }
    }
}

fn copies_ui(ui: &mut Ui, state: &UiState, b: &Backup, action: &mut Option<RowAction>) {
    let lines = copy_lines(b, &state.data);
    if lines.is_empty() {
        return;
    }
    ui.add_space(4.0);
    ui.strong("Copies");
    for (line, c) in lines.iter().zip(&b.extra.copies) {
        ui.horizontal_wrapped(|ui| {
            let color = match line.state {
                "copied" => ok_color(ui),
                "failed" => error_color(ui),
                _ => ui.visuals().weak_text_color(),
            };
            ui.label(RichText::new(&line.destination).strong());
            ui.label(RichText::new(line.state).color(color));
            ui.label(
                RichText::new(line.at.format("%Y-%m-%d %H:%M UTC").to_string())
                    .weak()
                    .small(),
            );
            if line.readable
                && ui
                    .button(format!("Verify copy at {}", line.destination))
                    .on_hover_text("Downloads it into a staging folder, checked as it arrives")
                    .clicked()
            {
                *action = Some(RowAction::VerifyCopy(b.id, c.destination));
            }
        });
        if let Some(e) = &line.error {
            ui.add(egui::Label::new(RichText::new(e).color(error_color(ui)).small()).wrap());
        }
    }
}

fn contents_ui(ui: &mut Ui, contents: &Loaded, b: &Backup, state: &UiState) {
    ui.strong("What the backup set holds");
    match contents {
        Loaded::Loading => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Reading its manifest…");
            });
        }
        Loaded::Unavailable(why) => {
            ui.add(egui::Label::new(RichText::new(why).weak()).wrap());
        }
        Loaded::Done(done) => match done.as_ref() {
            Err(e) => {
                ui.add(egui::Label::new(RichText::new(e).color(error_color(ui))).wrap());
            }
            Ok(c) => {
                let project = state.data.projects.iter().find(|p| p.id == b.project_id);
                manifest_ui(ui, c, project);
            }
        },
    }
}

/// A set's manifest and details, in words (shared with "Restore from a
/// folder").
pub fn manifest_ui(ui: &mut Ui, c: &SetContents, project: Option<&crate::engine::ProjectView>) {
    let m = &c.manifest;
    egui::Grid::new(ui.next_auto_id())
        .num_columns(2)
        .spacing([10.0, 4.0])
        .show(ui, |ui| {
            let row = |ui: &mut Ui, k: &str, v: String| {
                ui.label(k);
                ui.add(egui::Label::new(v).wrap());
                ui.end_row();
            };
            row(
                ui,
                "Project",
                format!("{} ({})", m.project_name, m.environment),
            );
            row(ui, "Kind", m.kind.as_str().to_string());
            row(ui, "Profile", m.profile.as_str().to_string());
            row(ui, "Compression", m.compression.to_string());
            row(
                ui,
                "Encryption",
                match &m.encryption {
                    None => "none".into(),
                    Some(e) => describe_set(e, vault_opens(e, project)).replace('\n', " "),
                },
            );
            row(
                ui,
                "Taken",
                format!(
                    "{} to {}",
                    m.started_at.format("%Y-%m-%d %H:%M:%S"),
                    m.finished_at.format("%H:%M:%S UTC")
                ),
            );
            row(
                ui,
                "Written by",
                format!("{} (set format {})", m.tool, m.format),
            );
            if let Some(d) = &c.details {
                row(ui, "Server", format!("PostgreSQL {}", d.server_version));
                row(ui, "pg_dump", d.pg_dump_version.clone());
                row(
                    ui,
                    "Snapshot",
                    d.snapshot.clone().unwrap_or_else(|| "(none)".into()),
                );
                if !d.source.is_empty() {
                    row(ui, "Source", d.source.clone());
                }
            }
        });
    if let Some(note) = &c.details_note {
        ui.add(egui::Label::new(RichText::new(note).weak()).wrap());
    }
    ui.add_space(4.0);
    ui.strong("Files");
    let files = m.parts.iter().map(|p| (&p.file, p.bytes, &p.sha256)).chain(
        m.files_beside_parts()
            .map(|f| (&f.file, f.bytes, &f.sha256)),
    );
    for (file, size, sha) in files {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(file).strong());
            ui.label(bytes(size));
        });
        ui.add(egui::Label::new(RichText::new(format!("sha256 {sha}")).monospace().small()).wrap());
    }
    let Some(d) = &c.details else {
        return;
    };
    if !d.tables.is_empty() {
        ui.add_space(4.0);
        egui::CollapsingHeader::new(format!(
            "Tables: {} with {} rows",
            d.tables.len(),
            human_count(d.rows())
        ))
        .default_open(d.tables.len() <= 40)
        .show(ui, |ui| {
            egui::Grid::new(ui.next_auto_id())
                .num_columns(2)
                .striped(true)
                .show(ui, |ui| {
                    for t in &d.tables {
                        ui.label(format!("{}.{}", t.schema, t.table));
                        ui.label(human_count(t.rows));
                        ui.end_row();
                    }
                });
        });
    }
    if !d.schemas.is_empty() {
        ui.add(egui::Label::new(format!("Schemas: {}", d.schemas.join(", "))).wrap());
    }
    if !d.roles.is_empty() {
        ui.add(egui::Label::new(format!("Roles: {}", d.roles.join(", "))).wrap());
    }
    for w in d.warnings() {
        ui.add(egui::Label::new(RichText::new(format!("Warning: {w}")).weak()).wrap());
    }
}
