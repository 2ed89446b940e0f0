//! Where supabackup keeps its catalog and, by default, its backups.
//!
//! Order: `--data-dir` / `SUPABACKUP_DATA_DIR`, then portable mode (a file
//! `supabackup.portable` beside the executable puts the data dir in
//! `supabackup-data/` beside it), then the OS convention: `~/.local/share/supabackup`
//! on Linux, `~/Library/Application Support/supabackup` on macOS,
//! `%APPDATA%\supabackup` on Windows.

use std::path::{Path, PathBuf};

/// The marker file that turns on portable mode.
pub const PORTABLE_MARKER: &str = "supabackup.portable";
/// The data folder used in portable mode, beside the executable.
pub const PORTABLE_DIR: &str = "supabackup-data";
/// The catalog's file name inside the data dir.
pub const CATALOG_FILE: &str = "catalog.redb";

/// How the data dir was chosen, for `supabackup info` and the Settings panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDirSource {
    /// `--data-dir` or `SUPABACKUP_DATA_DIR`.
    Explicit,
    /// `supabackup.portable` beside the executable.
    Portable,
    /// The OS convention (XDG, Application Support, AppData).
    Os,
}

/// A resolved data dir.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// The folder.
    pub root: PathBuf,
    /// How it was chosen.
    pub source: DataDirSource,
}

impl DataDir {
    /// Resolves the data dir: `explicit` wins, then portable mode, then the OS default.
    pub fn resolve(explicit: Option<&Path>) -> std::io::Result<Self> {
        if let Some(p) = explicit {
            let root = if p.is_absolute() {
                p.to_path_buf()
            } else {
                std::env::current_dir()?.join(p)
            };
            return Ok(Self {
                root,
                source: DataDirSource::Explicit,
            });
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            && dir.join(PORTABLE_MARKER).exists()
        {
            return Ok(Self {
                root: dir.join(PORTABLE_DIR),
                source: DataDirSource::Portable,
            });
        }
        // ~/.local/share/supabackup (or $XDG_DATA_HOME), ~/Library/Application
        // Support/supabackup, %APPDATA%\supabackup: under the user's profile,
        // which the OS keeps from other users.
        let dirs = directories::BaseDirs::new().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no home folder found: pass --data-dir or set SUPABACKUP_DATA_DIR",
            )
        })?;
        Ok(Self {
            root: dirs.data_dir().join("supabackup"),
            source: DataDirSource::Os,
        })
    }

    /// Creates the folder (owner-only on Unix) if it is missing.
    pub fn ensure(&self) -> std::io::Result<()> {
        if !self.root.exists() {
            std::fs::create_dir_all(&self.root)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(())
    }

    /// The catalog file.
    pub fn catalog_path(&self) -> PathBuf {
        self.root.join(CATALOG_FILE)
    }

    /// Where supabackup keeps the PostgreSQL client programs it installs,
    /// `<data dir>/tools` (on the stick in portable mode).
    pub fn tools_dir(&self) -> PathBuf {
        self.root.join("tools")
    }

    /// The default backup root, `<data dir>/backups`.
    pub fn default_backup_root(&self) -> PathBuf {
        self.root.join("backups")
    }
}
