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
    /// Delete a backup's files and record.
    BackupDelete {
        /// Backup id (full or the first 8 characters).
        id: String,
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
    /// full (roles + schema + data), schema or data.
    #[arg(long, default_value = "full", value_name = "K")]
    pub kind: String,
    /// supabase or postgres; default: supabase for Supabase databases.
    #[arg(long, value_name = "P")]
    pub profile: Option<String>,
    /// zstd, xz or none; default from settings (zstd).
    #[arg(long, value_name = "C")]
    pub compression: Option<String>,
    /// Compression level: zstd 1-19, xz 0-9.
    #[arg(long, value_name = "N")]
    pub level: Option<u32>,
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
        /// theme, auto-lock-minutes or concurrency.
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
        #[arg(long, value_name = "FILE")]
        from_copy: Option<std::path::PathBuf>,
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
