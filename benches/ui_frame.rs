//! Time to build one frame of the Backups panel with 100 000 records and of
//! the Dashboard with 50 projects, and whether memory grows with frames.
//!
//! `cargo bench --bench ui_frame`. Target: under 2 ms per frame.

#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use supabackup::app::dashboard::DashboardModel;
use supabackup::app::{Panel, UiState, draw_panel};
use supabackup::domain::{
    Backup, BackupId, BackupJob, BackupKind, BackupStatus, Compression, JobId, Profile, ProjectId,
    Retention,
};
use supabackup::engine::ProjectView;
use supabackup::protocol::Snapshot;

/// Counts live heap bytes, to see whether frames leak.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn project(i: usize) -> ProjectView {
    ProjectView {
        id: ProjectId::new(),
        name: format!("project-{i:02}"),
        description: String::new(),
        environment: ["production", "staging", "development"][i % 3].into(),
        db_url: format!("postgresql://postgres:****@db{i}.example.com:5432/postgres"),
        service_key: None,
        anon_key: None,
        is_active: true,
        encryption: Default::default(),
        identity_in_vault: false,
        copy_to: Vec::new(),
        remote_only: false,
        storage: None,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    }
}

fn state(projects: usize, backups: usize) -> UiState {
    let projects: Vec<ProjectView> = (0..projects).map(project).collect();
    let now = chrono::Utc::now();
    let backups: Vec<Backup> = (0..backups)
        .map(|i| {
            let p = &projects[i % projects.len()];
            let at = now - chrono::Duration::minutes(i as i64 * 7);
            Backup {
                id: BackupId::new(),
                project_id: p.id,
                project_name: p.name.clone(),
                kind: BackupKind::Full,
                profile: Profile::Supabase,
                compression: Compression::default(),
                status: if i % 17 == 0 {
                    BackupStatus::Failed
                } else {
                    BackupStatus::Completed
                },
                path: format!("/backups/{}/{i}", p.name).into(),
                bytes: 1_000_000 + (i as u64 * 7919) % 50_000_000,
                raw_bytes: 0,
                rows: i as u64,
                started_at: at,
                finished_at: Some(at + chrono::Duration::seconds(42)),
                manifest_sha256: Some("ab".repeat(32)),
                error: (i % 17 == 0)
                    .then(|| "pg_dump failed (exit code 1): connection refused".into()),
                pinned: false,
                job_id: None,
                server_version: Some("15.8".into()),
                pg_dump_version: Some("15.18".into()),
                parts: vec![],
                pid: None,
                extra: Default::default(),
            }
        })
        .collect();
    let jobs: Vec<BackupJob> = projects
        .iter()
        .map(|p| BackupJob {
            id: JobId::new(),
            project_id: p.id,
            name: format!("{} nightly", p.name),
            cron: "0 3 * * *".into(),
            enabled: true,
            next_run_at: Some(now),
            created_at: now,
            kind: BackupKind::Full,
            profile: None,
            compression: Compression::default(),
            retention: Retention::default(),
            timeout_secs: None,
            retries: 2,
            last_run_at: None,
            last_run_status: None,
            last_backup_id: None,
            webhook_url: None,
            extra: Default::default(),
        })
        .collect();
    let mut s = UiState {
        data: Snapshot {
            projects,
            backups,
            jobs,
            ..Default::default()
        },
        ..Default::default()
    };
    s.history.rebuild(&s.data.backups);
    s.dashboard = DashboardModel::build(&s.data, now);
    s
}

fn frame(ctx: &egui::Context, state: &mut UiState, panel: Panel) {
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 860.0),
        )),
        ..Default::default()
    };
    let out = ctx.run_ui(input, |ui| {
        egui::CentralPanel::default().show(ui, |ui| draw_panel(ui, state, panel));
    });
    black_box(ctx.tessellate(out.shapes, out.pixels_per_point));
}

fn bench(c: &mut Criterion) {
    let ctx = egui::Context::default();
    for (name, panel, projects, backups) in [
        ("backups_panel_100k_records", Panel::Backups, 50, 100_000),
        ("dashboard_50_projects", Panel::Dashboard, 50, 100_000),
    ] {
        let mut s = state(projects, backups);
        for _ in 0..5 {
            frame(&ctx, &mut s, panel);
        }
        c.bench_function(name, |b| b.iter(|| frame(&ctx, &mut s, panel)));
        // Memory must not grow with frames.
        let before = LIVE.load(Ordering::Relaxed);
        for _ in 0..1000 {
            frame(&ctx, &mut s, panel);
        }
        let after = LIVE.load(Ordering::Relaxed);
        println!(
            "{name}: live heap after 1000 more frames changed by {} bytes",
            after - before
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
