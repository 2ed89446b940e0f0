//! The activity log: what happened, for the dashboard and for humans.

use crate::domain::ProjectId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How serious an activity entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Level {
    /// Something finished as expected.
    Info,
    /// Worth a look.
    Warning,
    /// Something failed.
    Error,
}

/// One line of the activity log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// When.
    pub at: DateTime<Utc>,
    /// How serious.
    pub level: Level,
    /// The project concerned, if any.
    pub project_id: Option<ProjectId>,
    /// What happened, secrets masked.
    pub message: String,
}

impl Activity {
    /// An entry stamped now.
    pub fn now(level: Level, project_id: Option<ProjectId>, message: impl Into<String>) -> Self {
        Self {
            at: Utc::now(),
            level,
            project_id,
            message: message.into(),
        }
    }
}
