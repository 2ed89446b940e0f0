//! Every keyboard shortcut, from one table: the window reads it to act,
//! the buttons to show their hints, and the help overlay (F1) to list them.

use crate::app::state::{Panel, ProjectForm, UiState};
use crate::protocol::Command;
use egui::{Context, Key, KeyboardShortcut, Modifiers, RichText};

/// What a shortcut does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiCommand {
    /// Open the "Add project" form.
    NewProject,
    /// "Back up now" for the project chosen in the top bar.
    BackUpNow,
    /// Copy what is missing to the destinations.
    SyncCopies,
    /// "Restore from a folder…".
    RestoreFromFolder,
    /// Lock the window.
    Lock,
    /// Go to a panel.
    Show(Panel),
    /// Show this list.
    Help,
}

/// A shortcut: its keys, what it does, in words.
pub struct Shortcut {
    /// The keys.
    pub keys: KeyboardShortcut,
    /// The command.
    pub command: UiCommand,
    /// What it does, in words.
    pub what: &'static str,
}

const fn cmd(key: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(Modifiers::COMMAND, key)
}

/// The table.
pub const SHORTCUTS: &[Shortcut] = &[
    Shortcut {
        keys: cmd(Key::N),
        command: UiCommand::NewProject,
        what: "Add a project",
    },
    Shortcut {
        keys: cmd(Key::B),
        command: UiCommand::BackUpNow,
        what: "Back up the project chosen in the top bar",
    },
    Shortcut {
        keys: KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::S),
        command: UiCommand::SyncCopies,
        what: "Sync copies to the destinations",
    },
    Shortcut {
        keys: cmd(Key::O),
        command: UiCommand::RestoreFromFolder,
        what: "Restore from a folder…",
    },
    Shortcut {
        keys: cmd(Key::L),
        command: UiCommand::Lock,
        what: "Lock the window",
    },
    Shortcut {
        keys: cmd(Key::Num1),
        command: UiCommand::Show(Panel::Dashboard),
        what: "Go to Dashboard",
    },
    Shortcut {
        keys: cmd(Key::Num2),
        command: UiCommand::Show(Panel::Projects),
        what: "Go to Projects",
    },
    Shortcut {
        keys: cmd(Key::Num3),
        command: UiCommand::Show(Panel::Backups),
        what: "Go to Backups",
    },
    Shortcut {
        keys: cmd(Key::Num4),
        command: UiCommand::Show(Panel::Schedules),
        what: "Go to Schedules",
    },
    Shortcut {
        keys: cmd(Key::Num5),
        command: UiCommand::Show(Panel::Settings),
        what: "Go to Settings",
    },
    Shortcut {
        keys: cmd(Key::Num6),
        command: UiCommand::Show(Panel::Activity),
        what: "Go to Activity",
    },
    Shortcut {
        keys: KeyboardShortcut::new(Modifiers::NONE, Key::F1),
        command: UiCommand::Help,
        what: "Show these shortcuts",
    },
];

/// Keys egui itself gives every widget, listed with the table's.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "Tab / Shift+Tab",
        "Move to the next / previous button or field",
    ),
    (
        "Space / Enter",
        "Press the focused button, tick the focused box",
    ),
    ("Enter", "Start the backup in \"Back up now\""),
    (
        "Esc",
        "Close the dialog; with none open, the backup's details",
    ),
];

/// The hint a button shows for `command` ("Ctrl+B").
pub fn hint(ctx: &Context, command: UiCommand) -> String {
    SHORTCUTS
        .iter()
        .find(|s| s.command == command)
        .map(|s| ctx.format_shortcut(&s.keys))
        .unwrap_or_default()
}

/// Consumes the shortcuts pressed this frame and carries them out.
pub fn handle(ctx: &Context, state: &mut UiState) {
    let pressed: Vec<UiCommand> = ctx.input_mut(|i| {
        SHORTCUTS
            .iter()
            .filter(|s| i.consume_shortcut(&s.keys))
            .map(|s| s.command)
            .collect()
    });
    for c in pressed {
        run(state, c);
    }
}

/// Carries out one command.
pub fn run(s: &mut UiState, c: UiCommand) {
    match c {
        UiCommand::NewProject => {
            s.panel = Panel::Projects;
            s.project_form = Some(ProjectForm::new());
        }
        UiCommand::BackUpNow => {
            if let Some(p) = s.selected_project
                && s.running_backup(p).is_none()
            {
                s.open_backup_dialog(p);
            }
        }
        UiCommand::SyncCopies => {
            if !s.data.destinations.is_empty() && s.running_sync().is_none() {
                s.panel = Panel::Backups;
                s.send(Command::Sync(None));
            }
        }
        UiCommand::RestoreFromFolder => s.send(Command::PickSetFolder),
        UiCommand::Lock => s.send(Command::Lock),
        UiCommand::Show(panel) => s.panel = panel,
        UiCommand::Help => s.show_help = !s.show_help,
    }
}

/// The overlay listing every shortcut, when shown.
pub fn help_ui(ctx: &Context, state: &mut UiState) {
    if !state.show_help {
        return;
    }
    let mut close = false;
    let modal = crate::app::widgets::modal("shortcuts_help").show(ctx, |ui| {
        ui.heading("Keyboard shortcuts");
        egui::Grid::new("shortcuts_table")
            .num_columns(2)
            .striped(true)
            .spacing([16.0, 4.0])
            .show(ui, |ui| {
                for s in SHORTCUTS {
                    ui.label(RichText::new(ctx.format_shortcut(&s.keys)).monospace());
                    ui.label(s.what);
                    ui.end_row();
                }
                for (keys, what) in BUILT_IN {
                    ui.label(RichText::new(*keys).monospace());
                    ui.label(*what);
                    ui.end_row();
                }
            });
        close = ui.button("Close shortcuts").clicked();
    });
    if close || modal.should_close() {
        state.show_help = false;
    }
}
