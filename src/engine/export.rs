//! `export-sqlite`: the catalog as a SQLite file.

use crate::domain::Level;
use crate::engine::{Engine, EngineError};
use crate::store::sqlite_export;
use std::path::Path;

impl Engine {
    /// Writes the catalog to `out` (replaced atomically); returns the row
    /// counts (projects, schedules, backups).
    pub fn export_sqlite(&self, out: &Path) -> Result<(usize, usize, usize), EngineError> {
        let projects = self.catalog().projects()?;
        let jobs = self.catalog().jobs()?;
        let backups = self.catalog().backups()?;
        let counts = sqlite_export::export(out, &projects, &jobs, &backups)
            .map_err(|e| EngineError::Failed(e.to_string()))?;
        self.log(
            Level::Info,
            None,
            format!(
                "exported {} project(s), {} schedule(s) and {} backup(s) to {}",
                counts.0,
                counts.1,
                counts.2,
                out.display()
            ),
        );
        Ok(counts)
    }
}
