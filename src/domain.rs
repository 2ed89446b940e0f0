//! Plain data shared by every layer: projects, backups, jobs, their ids and
//! validation. Nothing here touches the disk, the network or the UI.

mod activity;
mod backup;
mod conninfo;
mod extra;
#[cfg(test)]
pub(crate) mod fixtures;
mod ids;
mod job;
mod project;
mod settings;
mod units;
mod validation;

pub use activity::{Activity, Level};
pub use backup::{
    Backup, BackupKind, BackupStatus, Codec, Compression, Part, PartInfo, Profile, TableRows,
};
pub use conninfo::{ConnInfo, SslMode};
pub use extra::{BackupExtra, EncryptionSetting, Extra, JobExtra, ProjectExtra, SetEncryption};
pub use ids::{BackupId, JobId, ProjectId};
pub use job::{BackupJob, Retention, RunStatus};
pub use project::{
    Environment, Project, ProjectInput, Sealed, SecretSlot, ValidProjectInput, slugify,
    validate_name,
};
pub use settings::SettingKey;
pub use units::{human_bytes, human_count, human_duration_ms};
pub use validation::{ValidationError, ValidationErrors};
