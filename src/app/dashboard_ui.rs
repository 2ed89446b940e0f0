//! The Dashboard: per-project health, recent activity, backup sizes over
//! time, quick actions. Draws the precomputed `DashboardModel`.

use crate::app::dashboard::age_words;
use crate::app::state::UiState;
use crate::app::widgets::{bytes, env_badge, error_color, ok_color};
use crate::domain::Level;
use egui::{RichText, Ui};
use egui_plot::{HoverPosition, Legend, Line, Plot, Points};

/// Draws the Dashboard.
pub fn dashboard_ui(ui: &mut Ui, state: &mut UiState) {
    ui.heading("Dashboard");
    let m = &state.dashboard;
    ui.horizontal(|ui| {
        ui.label(format!("{} projects", m.projects.len()));
        ui.separator();
        ui.label(format!("storage used {}", bytes(m.total_storage)));
        ui.separator();
        match m.recent_success_rate {
            Some(r) => ui.label(format!(
                "{:.0}% of backups in the last 30 days succeeded",
                r * 100.0
            )),
            None => ui.label("no backups in the last 30 days"),
        };
    });
    ui.add_space(6.0);
    if m.projects.is_empty() {
        crate::app::first_run_ui::first_run_ui(ui, state);
        return;
    }
    let now = chrono::Utc::now();
    let mut backup_now = None;
    egui::Grid::new("health")
        .striped(true)
        .num_columns(7)
        .spacing([14.0, 6.0])
        .show(ui, |ui| {
            for h in [
                "Project",
                "Environment",
                "Last good backup",
                "Schedule",
                "Success",
                "Storage",
                "",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for h in &m.projects {
                ui.horizontal(|ui| {
                    // The project's colour, as in the plot.
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
                    ui.painter().rect_filled(rect, 2.0, h.color);
                    ui.label(RichText::new(&h.name).strong());
                });
                env_badge(ui, &h.environment);
                let age = match h.last_success {
                    Some(t) => age_words(now - t),
                    None => "never".into(),
                };
                let color = if h.stale || h.last_failed {
                    error_color(ui)
                } else if h.last_success.is_some() {
                    ok_color(ui)
                } else {
                    ui.visuals().weak_text_color()
                };
                let r = ui.label(RichText::new(age).color(color));
                if h.stale {
                    r.on_hover_text("Older than its schedule promises");
                }
                ui.label(match h.promised {
                    Some(p) if p.num_hours() >= 24 => format!("every {} day(s)", p.num_days()),
                    Some(p) if p.num_minutes() >= 60 => format!("every {} h", p.num_hours()),
                    Some(p) => format!("every {} min", p.num_minutes()),
                    None => "no schedule".into(),
                });
                ui.label(
                    h.success_rate
                        .map(|r| format!("{:.0}%", r * 100.0))
                        .unwrap_or_else(|| "-".into()),
                );
                ui.label(bytes(h.storage));
                if ui.button(format!("Back up {}", h.name)).clicked() {
                    backup_now = Some(h.id);
                }
                ui.end_row();
            }
        });
    if let Some(id) = backup_now {
        state.selected_project = Some(id);
        state.open_backup_dialog(id);
    }
    ui.add_space(10.0);
    ui.strong("Backup sizes over time (MiB)");
    let projects = &state.dashboard.projects;
    let origin = state.dashboard.origin;
    let mut plot = Plot::new("sizes")
        .height(220.0)
        .legend(Legend::default())
        .allow_scroll(false)
        .default_y_bounds(0.0, state.dashboard.y_max)
        .label_formatter(|pos| match pos {
            HoverPosition::NearDataPoint {
                plot_name, index, ..
            } => projects
                .iter()
                .find(|h| h.name == *plot_name)
                .and_then(|h| h.size_labels.get(*index).cloned()),
            HoverPosition::Elsewhere { .. } => None,
        });
    if let Some((lo, hi)) = state.dashboard.x_range {
        plot = plot.default_x_bounds(lo, hi);
    }
    plot.x_axis_formatter(move |mark, range| {
        let t = origin + chrono::Duration::milliseconds((mark.value * 86_400_000.0) as i64);
        let t = t.with_timezone(&chrono::Local);
        if range.end() - range.start() > 3.0 {
            t.format("%m-%d").to_string()
        } else {
            t.format("%m-%d %H:%M").to_string()
        }
    })
    .show(ui, |plot| {
        for h in projects {
            let points = &h.sizes[..];
            if points.len() > 1 {
                plot.line(Line::new(&h.name, points).color(h.color));
            }
            plot.points(Points::new(&h.name, points).radius(3.5).color(h.color));
        }
    });
    ui.add_space(10.0);
    ui.strong("Recent activity");
    for a in state.data.activity.iter().take(8) {
        let color = match a.level {
            Level::Error => error_color(ui),
            Level::Warning => egui::Color32::from_rgb(210, 150, 20),
            Level::Info => ui.visuals().text_color(),
        };
        ui.label(
            RichText::new(format!("{}  {}", a.at.format("%Y-%m-%d %H:%M"), a.message)).color(color),
        );
    }
}
