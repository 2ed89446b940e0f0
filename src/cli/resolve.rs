//! What a person typed (a name, a short id, a folder) resolved once, here
//! at the edge: the engine takes typed ids.

use crate::domain::{Backup, BackupJob, DestinationId, Project};
use crate::engine::{Engine, EngineError, SetRef};
use std::path::Path;

/// A project by name, id or short id.
pub fn project(engine: &Engine, text: &str) -> Result<Project, EngineError> {
    Ok(engine.catalog().find_project(text)?)
}

/// A backup by id or short id.
pub fn backup(engine: &Engine, text: &str) -> Result<Backup, EngineError> {
    Ok(engine.catalog().find_backup(text)?)
}

/// A schedule by name or id.
pub fn job(engine: &Engine, text: &str) -> Result<BackupJob, EngineError> {
    Ok(engine.catalog().find_job(text)?)
}

/// A backup set: a folder when `text` is one, else a backup id.
pub fn set(engine: &Engine, text: &str) -> Result<SetRef, EngineError> {
    let path = Path::new(text);
    if path.is_dir() {
        return Ok(SetRef::Folder(path.to_path_buf()));
    }
    Ok(SetRef::Id(backup(engine, text)?.id))
}

/// Destinations by name or id, each checked.
pub fn destinations(engine: &Engine, names: &[String]) -> Result<Vec<DestinationId>, EngineError> {
    let mut ids = Vec::new();
    for name in names {
        let id = engine.find_destination(name)?.id;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}
