//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Verified, scheduled, restorable backups of Supabase projects and any
/// PostgreSQL database. With no command, opens the desktop app.
#[derive(Debug, Parser)]
#[command(name = "supabackup", version, about, long_about = None)]
pub struct Cli {
    /// Data folder (catalog, log, default backup root). Default: the OS
    /// convention, or supabackup-data/ beside the binary when a file
    /// supabackup.portable sits there.
    #[arg(long, global = true, env = "SUPABACKUP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Read the master password from the first line of FILE (else
    /// SUPABACKUP_PASSWORD, else a prompt).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// What to do; none opens the desktop app.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add, list, show, edit, remove and test projects.
    #[command(subcommand)]
    Project(ProjectCmd),
    /// Read and change settings.
    #[command(subcommand)]
    Settings(SettingsCmd),
    /// The master password.
    #[command(subcommand)]
    Vault(VaultCmd),
    /// Where things are: data dir, catalog, backup root, PostgreSQL tools found.
    Info(JsonFlag),
    /// PostgreSQL's client programs (pg_dump, pg_dumpall, psql, pg_restore):
    /// the ones found, and installing the ones a server needs.
    #[command(subcommand)]
    Tools(ToolsCmd),
    /// Back up a project now.
    Backup(BackupArgs),
    /// List backups.
    Backups(BackupsArgs),
    /// Check a backup: checksums and a full decompression of every part;
    /// with --restore-to, also a restore drill.
    Verify(VerifyArgs),
    /// Restore a backup (by id, or a backup folder's path) into a database.
    Restore(RestoreArgs),
    /// Pin a backup: retention never removes it.
    BackupPin {
        /// Backup id.
        id: String,
    },
    /// Unpin a backup.
    BackupUnpin {
        /// Backup id.
        id: String,
    },
    /// Scheduled backups.
    #[command(subcommand)]
    Schedule(ScheduleCmd),
    /// Run the schedules that are due now, then exit (for system cron or a
    /// systemd timer).
    RunDue(JsonFlag),
    /// Run the scheduler until SIGTERM or Ctrl-C. A running backup may finish
    /// within the grace period; after it, it is cancelled cleanly.
    Daemon {
        /// Seconds a running backup may take to finish after SIGTERM.
        #[arg(long, default_value_t = 300, value_name = "SECS")]
        grace: u64,
    },
    /// Write the catalog to a SQLite file (projects, backups, backup_jobs).
    ExportSqlite {
        /// The file to write (replaced atomically).
        out: std::path::PathBuf,
    },
    /// Catalog maintenance.
    #[command(subcommand)]
    Catalog(CatalogCmd),
    /// Encryption keys for backups (age).
    #[command(subcommand)]
    Key(KeyCmd),
    /// Delete a backup: its copies at destinations, its files and its record.
    BackupDelete {
        /// Backup id (full or the first 8 characters).
        id: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
        /// Leave its copies at destinations where they are.
        #[arg(long)]
        keep_copies: bool,
    },
    /// Where copies of backups go: S3-compatible storage or a folder.
    #[command(subcommand)]
    Destination(DestinationCmd),
    /// Copy every completed backup to the destinations it should be at and
    /// is not yet (failed, interrupted or pending copies; destinations added
    /// since).
    Sync(SyncArgs),
}

/// `supabackup tools ...`
#[derive(Debug, Subcommand)]
pub enum ToolsCmd {
    /// Every pg_dump / pg_dumpall / psql / pg_restore found, with its
    /// version, folder and how it was found, in the order they are preferred.
    List(JsonFlag),
    /// Download PostgreSQL's client programs for this machine from the
    /// theseus-rs/postgresql-binaries releases (or a mirror), check their
    /// published SHA-256, and keep pg_dump, pg_dumpall, psql, pg_restore and
    /// their libraries in <data dir>/tools/<version>/.
    Install {
        /// A major (18, 17, 16, 15, 14: its newest release known to this
        /// build) or a full version (17.11.0).
        #[arg(value_name = "MAJOR|VERSION", required_unless_present = "from")]
        version: Option<String>,
        /// Download from here instead: an http(s) base URL or a folder laid
        /// out as <mirror>/<version>/<file> (default: the tools-mirror setting,
        /// else GitHub).
        #[arg(long, value_name = "URL_OR_FOLDER", conflicts_with = "from")]
        mirror: Option<String>,
        /// Install an archive downloaded by hand
        /// (postgresql-<version>-<target>.tar.gz).
        #[arg(long, value_name = "ARCHIVE")]
        from: Option<PathBuf>,
        /// The archive's SHA-256 (else read from <ARCHIVE>.sha256 beside it).
        #[arg(long, value_name = "HEX", requires = "from")]
        sha256: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove client programs supabackup installed.
    Remove {
        /// The version (17.11.0), as `tools list` shows it.
        version: String,
    },
}

/// `supabackup sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only this project's backups.
    #[arg(long, value_name = "P")]
    pub project: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `supabackup destination ...`
#[derive(Debug, Subcommand)]
pub enum DestinationCmd {
    /// Add a destination, after checking it works (write, read back, delete
    /// a small object). The S3 access key id comes from --access-key-id or
    /// SUPABACKUP_S3_ACCESS_KEY_ID, the secret from
    /// SUPABACKUP_S3_SECRET_ACCESS_KEY or a prompt; it is sealed in the vault.
    Add {
        /// A name for it (letters, digits, spaces, '-', '_').
        name: String,
        /// An S3-compatible bucket and prefix: s3://BUCKET/PREFIX.
        #[arg(
            long,
            value_name = "s3://BUCKET/PREFIX",
            conflicts_with = "folder",
            required_unless_present = "folder",
            requires = "endpoint"
        )]
        s3: Option<String>,
        /// The S3 endpoint: https://s3.eu-central-1.amazonaws.com,
        /// https://ACCOUNT.r2.cloudflarestorage.com, http://127.0.0.1:9000...
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// The region requests are signed for ("auto" for Cloudflare R2).
        #[arg(long, value_name = "R", default_value = "us-east-1")]
        region: String,
        /// Path-style addressing (endpoint/bucket/key), for MinIO and most
        /// self-hosted servers; default: virtual-host (bucket.endpoint/key).
        #[arg(long)]
        path_style: bool,
        /// The access key id (not secret).
        #[arg(
            long,
            value_name = "ID",
            env = "SUPABACKUP_S3_ACCESS_KEY_ID",
            hide_env_values = true
        )]
        access_key_id: Option<String>,
        /// A folder: a mounted NAS share, a second disk, a USB stick.
        #[arg(long, value_name = "PATH")]
        folder: Option<PathBuf>,
        /// Add it without checking it works (the disk is not mounted now).
        #[arg(long)]
        no_test: bool,
    },
    /// List destinations (keys masked).
    List(JsonFlag),
    /// One destination: where it is, what copies to it.
    Show {
        /// Its name.
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Check a destination works: write, read back and delete a small object.
    Test {
        /// Its name.
        name: String,
    },
    /// Remove a destination (what was copied there stays there; projects and
    /// schedules stop copying there).
    Remove {
        /// Its name.
        name: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

/// `supabackup backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Project name or id.
    pub project: String,
    /// full (roles + schema + data, and the Storage files when the project
    /// has Storage access), schema, data, or storage (the files only).
    #[arg(long, default_value = "full", value_name = "K")]
    pub kind: String,
    /// Leave the Supabase Storage files out of a full backup.
    #[arg(long)]
    pub no_storage: bool,
    /// supabase or postgres; default: supabase for Supabase databases.
    #[arg(long, value_name = "P")]
    pub profile: Option<String>,
    /// zstd, xz or none; default from settings (zstd).
    #[arg(long, value_name = "C")]
    pub compression: Option<String>,
    /// Compression level: zstd 1-19, xz 0-9.
    #[arg(long, value_name = "N")]
    pub level: Option<u32>,
    /// When no pg_dump on this machine can dump the server, install the
    /// client programs of its major first (`supabackup tools install MAJOR`).
    #[arg(long)]
    pub install_tools: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `supabackup backups`.
#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// Only this project's backups.
    #[arg(long, value_name = "P")]
    pub project: Option<String>,
    /// Only backups with this status.
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `supabackup verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Backup id, or a backup folder's path.
    pub backup: String,
    /// Also restore into a scratch database created on this server (and
    /// dropped afterwards), then compare row counts with the manifest.
    #[arg(long, value_name = "URL")]
    pub restore_to: Option<String>,
    /// With --restore-to: create the scratch database from this template.
    #[arg(long, value_name = "DB")]
    pub template: Option<String>,
    /// With --restore-to: keep the scratch database.
    #[arg(long)]
    pub keep: bool,
    /// An age identity file that opens an encrypted backup (repeatable);
    /// without one, an encrypted backup gets its checksums checked.
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<std::path::PathBuf>,
    /// Check the backup's copy at this destination (downloaded into a
    /// staging folder, checked, then removed) instead of the local set.
    #[arg(long, value_name = "NAME")]
    pub at: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `supabackup restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Backup id, or a backup folder's path (e.g. copied from another machine).
    pub backup: String,
    /// The database to restore into.
    #[arg(
        long,
        value_name = "URL",
        required_unless_present = "to_project",
        conflicts_with = "to_project"
    )]
    pub to_url: Option<String>,
    /// Restore into a saved project's database.
    #[arg(long, value_name = "P")]
    pub to_project: Option<String>,
    /// Restore into a database that already has tables (they are replaced).
    #[arg(long)]
    pub yes: bool,
    /// An age identity file that opens an encrypted backup (repeatable;
    /// not needed when the vault keeps the project's identity or passphrase).
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<std::path::PathBuf>,
    /// Restore from the backup's copy at this destination (downloaded and
    /// checked before anything touches the target). Without it, a backup
    /// kept only at destinations is read from the first that has it.
    #[arg(long, value_name = "NAME")]
    pub at: Option<String>,
    /// Restore only the Supabase Storage files (into --to-project's Storage).
    #[arg(long, conflicts_with = "database_only")]
    pub storage_only: bool,
    /// Restore only the database, not the Storage files.
    #[arg(long)]
    pub database_only: bool,
    /// Restore a backup whose SHA256SUMS is missing or disagrees with its
    /// manifest (verify calls it damaged); every file is still checked
    /// against the manifest's SHA-256 first.
    #[arg(long)]
    pub skip_checksums: bool,
    /// Also delete the target's Storage files the backup does not know (in
    /// the backup's buckets); without it nothing is ever deleted.
    #[arg(long, conflicts_with = "database_only")]
    pub storage_mirror: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--json` for listings.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Fields shared by `project add` and `project edit`.
#[derive(Debug, Args, Default)]
pub struct ProjectFields {
    /// production, staging or development.
    #[arg(long, value_name = "E")]
    pub environment: Option<String>,
    /// Free text.
    #[arg(long, value_name = "D")]
    pub description: Option<String>,
    /// Supabase service_role key (sealed in the catalog).
    #[arg(long, value_name = "K")]
    pub service_key: Option<String>,
    /// Supabase anon key (sealed in the catalog).
    #[arg(long, value_name = "K")]
    pub anon_key: Option<String>,
    #[command(flatten)]
    pub encryption: EncryptionFlags,
    #[command(flatten)]
    pub copies: CopyFlags,
    #[command(flatten)]
    pub storage: StorageFlags,
}

/// How a project's Supabase Storage files are reached.
#[derive(Debug, Default, Args)]
pub struct StorageFlags {
    /// The Storage REST API, for self-hosted Supabase or `supabase start`
    /// (default: https://PROJECT.supabase.co/storage/v1, from the
    /// connection string); used with --service-key. An empty value goes
    /// back to the default.
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// Storage's S3 endpoint (https://PROJECT.storage.supabase.co/storage/v1/s3);
    /// the secret comes from SUPABACKUP_STORAGE_S3_SECRET or a prompt and is
    /// sealed in the vault. Used instead of the REST API when set.
    #[arg(long, value_name = "URL", conflicts_with = "no_storage_s3")]
    pub storage_s3_endpoint: Option<String>,
    /// The project's region, for the S3 endpoint (eu-central-1...).
    #[arg(long, value_name = "R", conflicts_with = "no_storage_s3")]
    pub storage_s3_region: Option<String>,
    /// The access key id made under Storage > S3 in the dashboard.
    #[arg(long, value_name = "ID", conflicts_with = "no_storage_s3")]
    pub storage_s3_access_key_id: Option<String>,
    /// Forget the Storage S3 endpoint and its keys (the REST API with the
    /// service key is used, if set).
    #[arg(long)]
    pub no_storage_s3: bool,
    /// Back up only this bucket (repeatable; replaces the list; an empty
    /// value means every bucket).
    #[arg(long, value_name = "BUCKET")]
    pub storage_include: Vec<String>,
    /// Never back up this bucket (repeatable; replaces the list; an empty
    /// value clears it).
    #[arg(long, value_name = "BUCKET")]
    pub storage_exclude: Vec<String>,
}

/// Where a project's backups are copied.
#[derive(Debug, Default, Args)]
pub struct CopyFlags {
    /// Copy its backups to this destination after each backup (repeatable;
    /// replaces the list).
    #[arg(long, value_name = "NAME", conflicts_with = "no_copies")]
    pub copy_to: Vec<String>,
    /// Copy its backups nowhere.
    #[arg(long)]
    pub no_copies: bool,
    /// Delete the local folder of each backup once every copy of it is
    /// verified (the backups then live only at the destinations).
    #[arg(long, conflicts_with = "keep_local")]
    pub remote_only: bool,
    /// Keep the local folders (the default; undoes --remote-only).
    #[arg(long)]
    pub keep_local: bool,
}

/// How a project's backups are encrypted.
#[derive(Debug, Default, Args)]
pub struct EncryptionFlags {
    /// Encrypt backups to this age public key (age1...; repeatable). The
    /// machine making backups needs only public keys.
    #[arg(long, value_name = "RECIPIENT", conflicts_with_all = ["encrypt_passphrase", "no_encryption"])]
    pub encrypt_to: Vec<String>,
    /// Encrypt backups with a passphrase, sealed in the vault (read from
    /// SUPABACKUP_BACKUP_PASSPHRASE, or asked twice on a terminal).
    #[arg(long, conflicts_with = "no_encryption")]
    pub encrypt_passphrase: bool,
    /// Stop encrypting backups (the ones made stay encrypted).
    #[arg(long)]
    pub no_encryption: bool,
    /// Keep this age identity file sealed in the vault, so this machine
    /// restores the project's encrypted backups without asking.
    #[arg(long, value_name = "FILE", conflicts_with = "forget_identity")]
    pub store_identity: Option<std::path::PathBuf>,
    /// Remove the identity kept in the vault.
    #[arg(long)]
    pub forget_identity: bool,
}

/// `supabackup key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Make an age identity (a private key) and print its public key. Keep
    /// the identity file safe: without it, backups encrypted to its public
    /// key cannot be restored.
    Generate {
        /// Write the identity here (owner-only); without it, to standard
        /// output, as age-keygen does.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

/// `supabackup project ...`
#[derive(Debug, Subcommand)]
pub enum ProjectCmd {
    /// Add a project.
    Add {
        /// 1-100 letters, digits, spaces, '-' or '_'.
        #[arg(long, value_name = "N")]
        name: String,
        /// postgresql://user:password@host:5432/db (or key=value). Read from
        /// SUPABACKUP_DB_URL when omitted, to keep it out of shell history.
        #[arg(
            long,
            value_name = "URL",
            env = "SUPABACKUP_DB_URL",
            hide_env_values = true
        )]
        db_url: String,
        #[command(flatten)]
        fields: ProjectFields,
    },
    /// List projects (passwords masked).
    List(JsonFlag),
    /// Show one project.
    Show {
        /// Name or id.
        project: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Change a project; only the flags given change.
    Edit {
        /// Name or id.
        project: String,
        /// New name.
        #[arg(long, value_name = "N")]
        name: Option<String>,
        /// New connection string.
        #[arg(long, value_name = "URL")]
        db_url: Option<String>,
        #[command(flatten)]
        fields: ProjectFields,
        /// Scheduled backups run only for active projects.
        #[arg(long, value_name = "BOOL")]
        active: Option<bool>,
    },
    /// Remove a project and its schedules (its backups are kept).
    Remove {
        /// Name or id.
        project: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Connect and report server version, size, SSL, the pg_dump to be used,
    /// and a Supabase diagnosis.
    Test {
        /// Name or id.
        project: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

/// `supabackup settings ...`
#[derive(Debug, Subcommand)]
pub enum SettingsCmd {
    /// Print one setting, or all of them.
    Get {
        /// The key (all when omitted).
        key: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Change a setting.
    Set {
        /// backup-root, pg-bin-dir, default-compression, default-level,
        /// theme, auto-lock-minutes, concurrency, retry-delay,
        /// storage-concurrency or storage-grace-hours.
        key: String,
        /// The new value.
        value: String,
    },
    /// Put a setting back to its default.
    Unset {
        /// The key.
        key: String,
    },
}

/// `supabackup vault ...`
#[derive(Debug, Subcommand)]
pub enum VaultCmd {
    /// Re-seal every secret under a new master password, in one transaction.
    /// The new password comes from SUPABACKUP_NEW_PASSWORD,
    /// --new-password-file, or a prompt.
    ChangePassword {
        /// Read the new password from the first line of FILE.
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
    /// Set the master password (first use) or check that it unlocks.
    Unlock,
}

/// `supabackup catalog ...`
#[derive(Debug, Subcommand)]
pub enum CatalogCmd {
    /// Recreate backup records from the manifests under the backup root
    /// (after losing the catalog, or copying backups from another machine).
    /// A damaged catalog is first moved aside and replaced by one holding
    /// the projects, schedules, settings and master-password vault of the
    /// newest good copy in the data dir's catalog-copies folder.
    Rebuild {
        /// Print the result as JSON.
        #[command(flatten)]
        json: JsonFlag,
        /// Replace the catalog (moved aside, never deleted) with this copy
        /// from catalog-copies/, even when the catalog is readable.
        #[arg(long, value_name = "FILE", conflicts_with = "from")]
        from_copy: Option<std::path::PathBuf>,
        /// Recreate records from the complete sets at this destination
        /// instead (on a fresh machine: add the destination first). Their
        /// files stay there; verify and restore fetch them.
        #[arg(long, value_name = "NAME")]
        from: Option<String>,
    },
}

/// Schedule settings shared by `schedule add` and `schedule edit`.
#[derive(Debug, Args)]
pub struct ScheduleFields {
    /// Cron line: 5 fields ("0 3 * * *") or @hourly, @daily, @weekly, @monthly.
    #[arg(long, value_name = "CRON")]
    pub cron: String,
    /// full, schema or data.
    #[arg(long, default_value = "full", value_name = "K")]
    pub kind: String,
    /// supabase or postgres; default: chosen from the database.
    #[arg(long, value_name = "P")]
    pub profile: Option<String>,
    /// zstd, xz or none; default from settings.
    #[arg(long, value_name = "C")]
    pub compression: Option<String>,
    /// Compression level.
    #[arg(long, value_name = "N")]
    pub level: Option<u32>,
    /// Keep the newest N backups of this schedule.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep this schedule's backups younger than N days.
    #[arg(long, value_name = "D")]
    pub keep_days: Option<u32>,
    /// Keep the newest backup of each of the last N hours that have one.
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<u32>,
    /// Keep the newest backup of each of the last N days that have one
    /// (local time).
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last N ISO weeks that have one.
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the last N months that have one.
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Keep the newest backup of each of the last N years that have one.
    #[arg(long, value_name = "N")]
    pub keep_yearly: Option<u32>,
    /// Copy this schedule's backups to this destination instead of the
    /// project's (repeatable).
    #[arg(long, value_name = "NAME", conflicts_with = "no_copies")]
    pub copy_to: Vec<String>,
    /// Copy this schedule's backups nowhere (whatever the project says).
    #[arg(long)]
    pub no_copies: bool,
    /// Cancel a run that takes longer than this many seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Attempts after a failure (with back-off: 30 s, 2 min, 8 min...).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub retries: u32,
    /// POST a small JSON here when a run fails.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Create it disabled.
    #[arg(long)]
    pub disabled: bool,
}

/// `supabackup schedule ...`
#[derive(Debug, Subcommand)]
pub enum ScheduleCmd {
    /// Add a schedule; prints when it runs, in words, and its next runs.
    Add {
        /// A name for it (letters, digits, spaces, '-', '_').
        name: String,
        /// Project name or id.
        #[arg(long, value_name = "P")]
        project: String,
        #[command(flatten)]
        fields: ScheduleFields,
    },
    /// Replace a schedule's settings.
    Edit {
        /// Its name.
        name: String,
        /// Project name or id.
        #[arg(long, value_name = "P")]
        project: String,
        #[command(flatten)]
        fields: ScheduleFields,
    },
    /// List schedules.
    List(JsonFlag),
    /// One schedule and its next five runs.
    Show {
        /// Its name.
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Enable a schedule (its next run is the next slot from now).
    Enable {
        /// Its name.
        name: String,
    },
    /// Disable a schedule.
    Disable {
        /// Its name.
        name: String,
    },
    /// Remove a schedule (its backups stay).
    Remove {
        /// Its name.
        name: String,
    },
    /// Explain a cron line: plain words and the next five runs.
    Explain {
        /// The cron line.
        cron: String,
    },
}
