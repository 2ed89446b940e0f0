//! Every redb table of the catalog, in one place.

use redb::TableDefinition;

/// Catalog-wide values: `schema_version`, `vault`, `catalog_id`.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Projects by id.
pub const PROJECTS: TableDefinition<u128, &[u8]> = TableDefinition::new("projects");
/// Lower-cased project name → id, keeping names unique.
pub const PROJECT_NAMES: TableDefinition<&str, u128> = TableDefinition::new("project_names");
/// Backups by id.
pub const BACKUPS: TableDefinition<u128, &[u8]> = TableDefinition::new("backups");
/// Backup jobs by id.
pub const JOBS: TableDefinition<u128, &[u8]> = TableDefinition::new("backup_jobs");
/// Lower-cased job name → id.
pub const JOB_NAMES: TableDefinition<&str, u128> = TableDefinition::new("job_names");
/// Destinations for copies, by id.
pub const DESTINATIONS: TableDefinition<u128, &[u8]> = TableDefinition::new("destinations");
/// Lower-cased destination name → id.
pub const DESTINATION_NAMES: TableDefinition<&str, u128> =
    TableDefinition::new("destination_names");
/// User settings, key → value.
pub const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");
/// Activity log, by sequence number.
pub const ACTIVITY: TableDefinition<u64, &[u8]> = TableDefinition::new("activity");

/// Meta key of the schema version (u32, little-endian).
pub const META_SCHEMA_VERSION: &str = "schema_version";
/// Meta key of the vault header (postcard).
pub const META_VAULT: &str = "vault";

/// Meta key of the catalog's identity (u128, little-endian), which its copies carry.
pub const META_CATALOG_ID: &str = "catalog_id";
