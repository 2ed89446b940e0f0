//! Plain data shared by every layer: projects, backups, jobs, their ids and
//! validation. Nothing here touches the disk, the network or the UI.

mod activity;
mod backup;
mod conninfo;
mod destination;
mod endpoint;
mod extra;
#[cfg(test)]
pub(crate) mod fixtures;
mod ids;
mod job;
mod project;
mod settings;
mod storage;
mod units;
mod validation;

pub use activity::{Activity, Level};
pub use backup::{
    Backup, BackupKind, BackupStatus, Codec, Compression, Part, PartInfo, Profile, TableRows,
};
pub use conninfo::{ConnInfo, SslMode};
pub use destination::{
    Destination, DestinationExtra, DestinationKind, mask_key_id, parse_s3_url,
    validate_destination, validate_endpoint, validate_key_id, validate_region,
};
pub use endpoint::{UrlKind, validate_url};
pub use extra::{
    BackupExtra, CopyState, CopyStatus, EncryptionSetting, Extra, Gfs, JobExtra, ProjectExtra,
    SetEncryption, StorageSummary, UsedTool,
};
pub use ids::{BackupId, DestinationId, JobId, ProjectId};
pub use job::{BackupJob, Retention, RunStatus};
pub use project::{
    Environment, Project, ProjectInput, Sealed, SecretSlot, ValidProjectInput, slugify,
    validate_name,
};
pub use settings::SettingKey;
pub use storage::{
    STORAGE_API_PATH, StorageS3, StorageSettings, derived_api_url, is_storage_s3_endpoint,
    project_ref, storage_api_candidates, validate_api_url, validate_bucket_name,
    validate_storage_s3, validate_storage_url,
};
pub use units::{human_bytes, human_count, human_duration_ms};
pub use validation::{ValidationError, ValidationErrors};
