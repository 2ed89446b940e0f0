//! The desktop app (eframe/egui): draws a `UiState` each frame, sends
//! `Command`s to the engine, applies its `Event`s in `App::logic`, reads
//! progress from shared atomics, and never blocks a frame on the database,
//! the disk or a child process.

mod activity_ui;
mod backups_ui;
pub mod dashboard;
mod dashboard_ui;
pub mod destinations;
mod destinations_ui;
pub mod details;
mod details_ui;
mod dialogs;
pub mod encryption;
mod encryption_ui;
mod first_run_ui;
pub mod folder;
mod folder_ui;
pub mod history_columns;
mod history_ui;
mod projects_ui;
pub mod restore;
mod restore_ui;
mod schedules_ui;
mod settings_ui;
pub mod shortcuts;
pub mod state;
pub mod storage;
mod storage_ui;
mod unlock_ui;
mod widgets;

use crate::datadir::DataDir;
use crate::domain::SettingKey;
use crate::protocol::{Command, Link, Waker};
pub use details_ui::COPY_ERROR;
use egui::{Key, Modifiers, RichText};
pub use first_run_ui::FIRST_RUN;
pub use folder_ui::RESTORE_FROM_FOLDER;
pub use history_ui::ACTIONS;
pub use state::{Panel, Screen, UiState};
use std::sync::Arc;
use std::time::Duration;

/// Draws one panel's content into `ui` (for benchmarks and tests; the app
/// itself draws panels inside its navigation).
pub fn draw_panel(ui: &mut egui::Ui, state: &mut UiState, panel: Panel) {
    match panel {
        Panel::Dashboard => dashboard_ui::dashboard_ui(ui, state),
        Panel::Projects => projects_ui::projects_ui(ui, state),
        Panel::Backups => backups_ui::backups_ui(ui, state),
        Panel::Schedules => schedules_ui::schedules_ui(ui, state),
        Panel::Settings => settings_ui::settings_ui(ui, state),
        Panel::Activity => activity_ui::activity_ui(ui, state),
    }
}

/// Connects the window to an engine side (again, after "Try again").
pub type Connect = Box<dyn Fn(Waker) -> Box<dyn Link>>;

/// The app.
pub struct SupabackupApp {
    /// What the window shows.
    pub state: UiState,
    link: Box<dyn Link>,
    connect: Connect,
    theme: Option<String>,
}

const PANEL_KEY: &str = "supabackup.panel";

/// Wakes the window from the engine's side (soon, not at once: events
/// arriving together cost one frame).
fn waker(ctx: &egui::Context) -> Waker {
    let ctx = ctx.clone();
    Arc::new(move || ctx.request_repaint_after(Duration::from_millis(10)))
}

impl SupabackupApp {
    /// Starts the engine on `data_dir` and restores the last panel.
    pub fn new(cc: &eframe::CreationContext<'_>, data_dir: DataDir) -> Self {
        Self::with_engine(
            cc,
            Box::new(move |waker| {
                Box::new(crate::worker::Bridge::start(data_dir.clone(), waker)) as Box<dyn Link>
            }),
        )
    }

    /// The window over whatever `connect` gives: the real engine side, or a
    /// stand-in that records the commands (tests).
    pub fn with_engine(cc: &eframe::CreationContext<'_>, connect: Connect) -> Self {
        let mut state = UiState::default();
        if let Some(panel) = cc
            .storage
            .and_then(|s| eframe::get_value::<Panel>(s, PANEL_KEY))
        {
            state.panel = panel;
        }
        Self {
            state,
            link: connect(waker(&cc.egui_ctx)),
            connect,
            theme: None,
        }
    }

    fn retry_open(&mut self, ctx: &egui::Context) {
        self.link = (self.connect)(waker(ctx));
        self.state.screen = Screen::Opening;
    }

    fn apply_theme(&mut self, ctx: &egui::Context) {
        let wanted = self.state.setting(SettingKey::Theme).unwrap_or("system");
        if self.theme.as_deref() != Some(wanted) {
            ctx.set_theme(match wanted {
                "light" => egui::ThemePreference::Light,
                "dark" => egui::ThemePreference::Dark,
                _ => egui::ThemePreference::System,
            });
            self.theme = Some(wanted.to_string());
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let s = &mut self.state;
        if s.screen != Screen::Main {
            return;
        }
        shortcuts::handle(ctx, s);
        let esc = ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape));
        if esc {
            // A dialog first; with none open, the details view.
            let dialog = s.project_form.is_some()
                || s.backup_dialog.is_some()
                || s.restore_dialog.is_some()
                || s.job_form.is_some()
                || s.confirm.is_some()
                || s.destination_form.is_some()
                || s.folder_restore.is_some()
                || !s.storage_plans.is_empty()
                || s.show_help;
            if !dialog {
                s.details = None;
            }
            s.project_form = None;
            s.backup_dialog = None;
            s.restore_dialog = None;
            s.job_form = None;
            s.confirm = None;
            s.destination_form = None;
            s.folder_restore = None;
            s.show_help = false;
            // A first Storage download asked about: Esc says no.
            if !s.storage_plans.is_empty() {
                s.storage_plans.remove(0).answer(false);
            }
        }
    }

    fn auto_lock(&mut self, ctx: &egui::Context) {
        let now = ctx.input(|i| i.time);
        let active = ctx.input(|i| !i.events.is_empty() || i.pointer.is_moving());
        if active || self.state.last_input == 0.0 {
            self.state.last_input = now;
        }
        if self.state.screen != Screen::Main {
            return;
        }
        let minutes: f64 = self
            .state
            .setting(SettingKey::AutoLockMinutes)
            .and_then(|m| m.parse().ok())
            .unwrap_or(15.0);
        if minutes > 0.0 {
            if now - self.state.last_input > minutes * 60.0 {
                self.state.send(Command::Lock);
                self.state.last_input = now;
            }
            ctx.request_repaint_after(Duration::from_secs(30));
        }
    }

    fn flush(&mut self, now: f64) {
        for cmd in std::mem::take(&mut self.state.outbox) {
            if !self.link.send(cmd) {
                self.state
                    .toast("The engine is busy: try again in a moment", false, now);
            }
        }
    }

    fn main_ui(&mut self, ui: &mut egui::Ui) {
        let s = &mut self.state;
        egui::Panel::top("top_bar").show(ui, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.heading("supabackup");
                ui.separator();
                let selected = s
                    .selected_project
                    .and_then(|id| s.data.project_name(id))
                    .unwrap_or("(no project)")
                    .to_string();
                egui::ComboBox::from_label("Active project")
                    .selected_text(selected)
                    .show_ui(ui, |ui| {
                        for p in &s.data.projects {
                            ui.selectable_value(&mut s.selected_project, Some(p.id), &p.name);
                        }
                    });
                if let Some(p) = s.selected_project {
                    let running = s.running_backup(p).is_some();
                    if ui
                        .add_enabled(!running, egui::Button::new("Back up now"))
                        .on_hover_text(shortcuts::hint(ui.ctx(), shortcuts::UiCommand::BackUpNow))
                        .clicked()
                    {
                        s.open_backup_dialog(p);
                    }
                }
                // Right-aligned when they fit; on the next line when the
                // window is narrow or the scale large.
                let room = ui.max_rect().max.x - ui.cursor().min.x;
                if room > 300.0 {
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        window_buttons(ui, s)
                    });
                } else {
                    window_buttons(ui, s);
                }
            });
        });
        egui::Panel::bottom("status_bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                if s.tasks.is_empty() {
                    ui.label("No jobs running");
                } else {
                    ui.spinner();
                    ui.label(format!("{} job(s) running", s.tasks.len()));
                    for t in &s.tasks {
                        ui.separator();
                        ui.label(&t.label);
                        if let Some(f) = t.progress.fraction() {
                            ui.add(egui::ProgressBar::new(f).desired_width(100.0));
                        }
                    }
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.label(
                        RichText::new(s.data.data_dir.display().to_string())
                            .weak()
                            .small(),
                    );
                });
            });
        });
        egui::Panel::left("navigation")
            .resizable(true)
            .default_size(170.0)
            .min_size(130.0)
            .show(ui, |ui| {
                ui.add_space(6.0);
                for p in Panel::ALL {
                    let r = ui.selectable_label(s.panel == p, p.title());
                    if r.clicked() {
                        s.panel = p;
                    }
                }
            });
        details_ui::details_panel(ui, s);
        egui::CentralPanel::default().show(ui, |ui| {
            let panel = s.panel;
            // Both ways: at a large scale or in a small window, wide
            // tables and forms scroll instead of being cut off.
            egui::ScrollArea::both()
                .auto_shrink(false)
                .id_salt(panel.title())
                .show(ui, |ui| draw_panel(ui, s, panel));
        });
        dialogs::dialogs_ui(ui.ctx(), s);
        shortcuts::help_ui(ui.ctx(), s);
        if !s.tasks.is_empty() {
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
    }

    fn toasts_ui(&mut self, ctx: &egui::Context) {
        let now = ctx.input(|i| i.time);
        self.state.toasts.retain(|t| now - t.since < 8.0);
        if self.state.toasts.is_empty() {
            return;
        }
        ctx.request_repaint_after(Duration::from_millis(500));
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -40.0])
            .show(ctx, |ui| {
                for t in &self.state.toasts {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.set_max_width(380.0);
                        let color = if t.ok {
                            widgets::ok_color(ui)
                        } else {
                            widgets::error_color(ui)
                        };
                        ui.label(RichText::new(&t.text).color(color));
                    });
                }
            });
    }
}

impl eframe::App for SupabackupApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let now = ctx.input(|i| i.time);
        for ev in self.link.drain() {
            self.state.apply(ev, now);
        }
        self.apply_theme(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let now = ctx.input(|i| i.time);
        self.shortcuts(&ctx);
        self.auto_lock(&ctx);
        match self.state.screen.clone() {
            Screen::Opening => {
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.vertical_centered(|ui| {
                        ui.add_space(ui.available_height() * 0.3);
                        ui.spinner();
                        ui.label("Opening the catalog…");
                    });
                });
            }
            Screen::OpenFailed(msg) => {
                let mut retry = false;
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.vertical_centered(|ui| {
                        ui.add_space(ui.available_height() * 0.3);
                        ui.heading("The catalog could not be opened");
                        ui.label(RichText::new(&msg).color(widgets::error_color(ui)));
                        retry = ui.button("Try again").clicked();
                    });
                });
                if retry {
                    self.retry_open(&ctx);
                }
            }
            Screen::Setup | Screen::Locked => {
                let first = self.state.screen == Screen::Setup;
                egui::CentralPanel::default()
                    .show(ui, |ui| unlock_ui::unlock_ui(ui, &mut self.state, first));
            }
            Screen::Main => self.main_ui(ui),
        }
        self.toasts_ui(&ctx);
        self.flush(now);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, PANEL_KEY, &self.state.panel);
    }
}

/// Lock, the shortcuts overlay and the theme switch (the top bar's right).
fn window_buttons(ui: &mut egui::Ui, s: &mut UiState) {
    if ui
        .button("Lock now")
        .on_hover_text(shortcuts::hint(ui.ctx(), shortcuts::UiCommand::Lock))
        .clicked()
    {
        s.send(Command::Lock);
    }
    if ui
        .button("Shortcuts")
        .on_hover_text(shortcuts::hint(ui.ctx(), shortcuts::UiCommand::Help))
        .clicked()
    {
        s.show_help = true;
    }
    let dark = ui.visuals().dark_mode;
    if ui
        .button(if dark { "Light theme" } else { "Dark theme" })
        .clicked()
    {
        s.send(Command::SetSetting(
            SettingKey::Theme,
            if dark { "light" } else { "dark" }.into(),
        ));
    }
}

/// Opens the window on `data_dir`; returns when it closes.
pub fn run(data_dir: DataDir) -> Result<(), String> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("supabackup")
            .with_inner_size([1180.0, 760.0])
            .with_min_inner_size([760.0, 480.0]),
        persistence_path: Some(data_dir.root.join("window-state.ron")),
        ..Default::default()
    };
    eframe::run_native(
        "supabackup",
        options,
        Box::new(move |cc| Ok(Box::new(SupabackupApp::new(cc, data_dir)))),
    )
    .map_err(|e| {
        format!(
            "cannot open the window ({e}): on a machine without a display, use the CLI \
             (`supabackup --help`) or run under Xvfb"
        )
    })
}
