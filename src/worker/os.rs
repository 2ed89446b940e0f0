//! What the window asks of the operating system: file dialogs, desktop
//! notifications, showing a folder in the file manager.

use crate::domain::SettingKey;
use crate::protocol::Event;
use crate::worker::Outbox;
use std::path::{Path, PathBuf};

/// Shows an OS notification; best effort (no notification daemon, no harm).
pub(crate) fn notify(summary: &str, body: &str) {
    let (summary, body) = (summary.to_string(), body.to_string());
    std::thread::spawn(move || {
        let _ = notify_rust::Notification::new()
            .summary(&summary)
            .body(&body)
            .appname("supabackup")
            .show();
    });
}

/// Asks for a folder for a path setting; the answer comes as `FolderPicked`.
pub(crate) fn pick_folder(key: SettingKey, out: Outbox) {
    tokio::spawn(async move {
        if let Some(folder) = rfd::AsyncFileDialog::new()
            .set_title(format!("Choose the {key} folder"))
            .pick_folder()
            .await
        {
            out.send(Event::FolderPicked(key, folder.path().to_path_buf()));
        }
    });
}

/// Asks where to save a file; `None` when the dialog was closed.
pub(crate) async fn save_file(title: &str, name: &str) -> Option<PathBuf> {
    rfd::AsyncFileDialog::new()
        .set_title(title)
        .set_file_name(name)
        .save_file()
        .await
        .map(|f| f.path().to_path_buf())
}

/// Asks for a file to open; `None` when the dialog was closed.
pub(crate) async fn pick_file(title: &str) -> Option<PathBuf> {
    rfd::AsyncFileDialog::new()
        .set_title(title)
        .pick_file()
        .await
        .map(|f| f.path().to_path_buf())
}

/// Shows a folder in the OS file manager.
pub(crate) fn open_folder(path: &Path, out: &Outbox) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener).arg(path).spawn() {
        out.error(format!("cannot open {} with {opener}: {e}", path.display()));
    }
}
