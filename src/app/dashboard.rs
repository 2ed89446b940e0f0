//! The dashboard's view-model: per-project health, computed when the data
//! changes (never per frame), so a frame only draws.

use crate::domain::{BackupStatus, ProjectId};
use crate::protocol::Snapshot;
use crate::scheduler::CronSpec;
use chrono::{DateTime, Duration, Utc};
use egui_plot::PlotPoint;
use std::collections::HashMap;

/// One project's health.
#[derive(Debug, Clone)]
pub struct ProjectHealth {
    /// Id.
    pub id: ProjectId,
    /// Name.
    pub name: String,
    /// Environment.
    pub environment: String,
    /// Last completed backup.
    pub last_success: Option<DateTime<Utc>>,
    /// The shortest interval its enabled schedules promise.
    pub promised: Option<Duration>,
    /// Older than the schedule promises (or never backed up despite one).
    pub stale: bool,
    /// Completed / finished, in 0..=1.
    pub success_rate: Option<f32>,
    /// Bytes of its completed backups.
    pub storage: u64,
    /// Its backup sizes over time, oldest first: x in days relative to the
    /// model's `origin`, y in MiB. Relative, so points minutes apart stay
    /// distinct after the plot maps them to f32 screen coordinates.
    pub sizes: Vec<PlotPoint>,
    /// What each point of `sizes` is, for its hover text.
    pub size_labels: Vec<String>,
    /// Its colour in the legend, the plot and the health table.
    pub color: egui::Color32,
    /// Its last backup failed.
    pub last_failed: bool,
    /// Its newest backup's status and start.
    pub last: Option<(BackupStatus, DateTime<Utc>)>,
}

/// Everything the dashboard draws.
#[derive(Debug, Clone, Default)]
pub struct DashboardModel {
    /// Per project.
    pub projects: Vec<ProjectHealth>,
    /// The time x = 0 of the size plots stands for.
    pub origin: DateTime<Utc>,
    /// Bytes of every completed backup.
    pub total_storage: u64,
    /// Backups completed / finished in the last 30 days.
    pub recent_success_rate: Option<f32>,
    /// The plot's x range (days from `origin`), fitted to the points with
    /// a margin, at least two hours wide; `None` without points.
    pub x_range: Option<(f64, f64)>,
    /// The plot's top (MiB), above the largest point.
    pub y_max: f64,
}

/// Distinct colours that read on light and dark backgrounds, one per
/// project in list order (repeating after eight).
pub fn project_color(index: usize) -> egui::Color32 {
    const PALETTE: [egui::Color32; 8] = [
        egui::Color32::from_rgb(66, 133, 244),
        egui::Color32::from_rgb(234, 120, 30),
        egui::Color32::from_rgb(52, 168, 83),
        egui::Color32::from_rgb(200, 60, 160),
        egui::Color32::from_rgb(0, 160, 170),
        egui::Color32::from_rgb(190, 150, 0),
        egui::Color32::from_rgb(140, 90, 220),
        egui::Color32::from_rgb(220, 60, 60),
    ];
    PALETTE[index % PALETTE.len()]
}

/// Points per project in the plot: enough to see a trend, cheap to draw.
const MAX_POINTS: usize = 400;

impl DashboardModel {
    /// The health of one project.
    pub fn project(&self, id: ProjectId) -> Option<&ProjectHealth> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// Builds the model from the data (one pass over the backups).
    pub fn build(data: &Snapshot, now: DateTime<Utc>) -> Self {
        let mut model = DashboardModel {
            origin: now,
            ..Default::default()
        };
        model.projects = data
            .projects
            .iter()
            .enumerate()
            .map(|(i, p)| ProjectHealth {
                id: p.id,
                name: p.name.clone(),
                environment: p.environment.clone(),
                last_success: None,
                promised: None,
                stale: false,
                success_rate: None,
                storage: 0,
                sizes: Vec::new(),
                size_labels: Vec::new(),
                color: project_color(i),
                last_failed: false,
                last: None,
            })
            .collect();
        let index: HashMap<ProjectId, usize> = model
            .projects
            .iter()
            .enumerate()
            .map(|(i, h)| (h.id, i))
            .collect();
        // (finished, completed) per project, and across projects in the
        // last 30 days.
        let mut counts = vec![(0usize, 0usize); model.projects.len()];
        let mut recent = (0usize, 0usize);
        let month_ago = now - Duration::days(30);
        // Backups are newest first.
        for b in &data.backups {
            let Some(&i) = index.get(&b.project_id) else {
                continue;
            };
            let h = &mut model.projects[i];
            if h.last.is_none() {
                h.last = Some((b.status, b.started_at));
                h.last_failed =
                    matches!(b.status, BackupStatus::Failed | BackupStatus::Interrupted);
            }
            if b.status != BackupStatus::Running {
                counts[i].0 += 1;
                if b.started_at >= month_ago {
                    recent.1 += 1;
                }
            }
            if b.status == BackupStatus::Completed {
                counts[i].1 += 1;
                if b.started_at >= month_ago {
                    recent.0 += 1;
                }
                h.storage += b.bytes;
                let end = b.finished_at.unwrap_or(b.started_at);
                if h.last_success.is_none_or(|l| end > l) {
                    h.last_success = Some(end);
                }
                if h.sizes.len() < MAX_POINTS {
                    h.sizes.push(PlotPoint::new(
                        (b.started_at - now).num_milliseconds() as f64 / 86_400_000.0,
                        b.bytes as f64 / (1024.0 * 1024.0),
                    ));
                    h.size_labels.push(format!(
                        "{}: backup {} ({})\n{}\n{}, {} rows",
                        h.name,
                        b.id.short(),
                        b.kind.as_str(),
                        b.started_at
                            .with_timezone(&chrono::Local)
                            .format("%Y-%m-%d %H:%M"),
                        crate::domain::human_bytes(b.bytes),
                        crate::domain::human_count(b.rows)
                    ));
                }
            }
        }
        for (h, (finished, completed)) in model.projects.iter_mut().zip(counts) {
            if finished > 0 {
                h.success_rate = Some(completed as f32 / finished as f32);
            }
            h.promised = data
                .jobs
                .iter()
                .filter(|j| j.enabled && j.project_id == h.id)
                .filter_map(|j| CronSpec::parse(&j.cron).ok()?.interval(now, &chrono::Local))
                .min();
            if let Some(promised) = h.promised {
                let grace = (promised / 10).max(Duration::minutes(15));
                h.stale = match h.last_success {
                    Some(last) => now - last > promised + grace,
                    None => true,
                };
            }
            model.total_storage += h.storage;
            h.sizes.reverse();
            h.size_labels.reverse();
        }
        let all = || model.projects.iter().flat_map(|h| h.sizes.iter());
        let (lo, hi) = all().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.x), hi.max(p.x))
        });
        if lo <= hi {
            // A margin of a tenth each side, and never under two hours
            // wide: one backup sits in a readable range, not a day.
            let pad = ((hi - lo) * 0.1).max(1.0 / 24.0);
            model.x_range = Some((lo - pad, hi + pad));
        }
        let top = all().fold(0.0f64, |m, p| m.max(p.y));
        model.y_max = if top > 0.0 { top * 1.15 } else { 1.0 };
        if recent.1 > 0 {
            model.recent_success_rate = Some(recent.0 as f32 / recent.1 as f32);
        }
        model
    }
}

/// "3 h ago", "2 days ago".
pub fn age_words(age: Duration) -> String {
    let mins = age.num_minutes();
    if mins < 1 {
        "just now".into()
    } else if mins < 60 {
        format!("{mins} min ago")
    } else if mins < 48 * 60 {
        format!("{} h ago", mins / 60)
    } else {
        format!("{} days ago", mins / (24 * 60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{backup as fixture, job};
    use crate::engine::ProjectView;

    fn project(name: &str) -> ProjectView {
        ProjectView {
            id: ProjectId::new(),
            name: name.into(),
            description: String::new(),
            environment: "production".into(),
            db_url: String::new(),
            service_key: None,
            anon_key: None,
            is_active: true,
            encryption: Default::default(),
            identity_in_vault: false,
            copy_to: Vec::new(),
            remote_only: false,
            storage: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn health_counts_rates_storage_and_staleness() {
        let now = Utc::now();
        let (a, b) = (project("a"), project("b"));
        let (ai, bi) = (a.id, b.id);
        let data = Snapshot {
            projects: vec![a, b],
            backups: vec![
                fixture(
                    ai,
                    None,
                    now - Duration::hours(2),
                    BackupStatus::Completed,
                    100,
                ),
                fixture(ai, None, now - Duration::hours(30), BackupStatus::Failed, 0),
                fixture(
                    bi,
                    None,
                    now - Duration::days(3),
                    BackupStatus::Completed,
                    50,
                ),
            ],
            jobs: vec![job(ai, "0 3 * * *"), job(bi, "0 3 * * *")],
            ..Default::default()
        };
        let m = DashboardModel::build(&data, now);
        let ha = &m.projects[0];
        assert_eq!(ha.success_rate, Some(0.5));
        assert_eq!(ha.storage, 100);
        assert!(!ha.stale, "2 hours old with a daily schedule is fine");
        let hb = &m.projects[1];
        assert!(hb.stale, "3 days old with a daily schedule is overdue");
        assert_eq!(m.total_storage, 150);
        assert_eq!(ha.sizes.len(), 1);
        assert_eq!(ha.size_labels.len(), 1);
        assert!(ha.size_labels[0].starts_with("a: backup "));
        assert_ne!(ha.color, hb.color, "each project its colour");
        // Fitted to the two points (2 hours and 3 days ago), with margins.
        let (lo, hi) = m.x_range.unwrap();
        assert!(lo < -3.0 && lo > -3.5, "{lo}");
        assert!(hi > -2.0 / 24.0 && hi < 0.3, "{hi}");
        let one = Snapshot {
            backups: data.backups[..1].to_vec(),
            ..data.clone()
        };
        let (lo, hi) = DashboardModel::build(&one, now).x_range.unwrap();
        assert!(
            (hi - lo - 2.0 / 24.0).abs() < 1e-9,
            "one backup: two hours wide"
        );
        assert_eq!(age_words(Duration::hours(3)), "3 h ago");
    }
}
