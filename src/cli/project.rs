//! `supabackup project ...`

use crate::cli::args::{
    CopyFlags, EncryptionFlags, JsonFlag, ProjectCmd, ProjectFields, StorageFlags,
};
use crate::cli::{confirm, output, password, resolve};
use crate::domain::{EncryptionSetting, Project, ProjectInput, SecretSlot};
use crate::engine::storage::{S3Change, StoragePatch, StorageView};
use crate::engine::{
    EncryptionChange, EngineError, ProjectChanges, ProjectPatch, TestReport, Unlocked,
};
use serde::Serialize;
use std::io::IsTerminal;
use zeroize::Zeroizing;

/// The environment variable the Storage S3 secret is read from.
const S3_SECRET_ENV: &str = "SUPABACKUP_STORAGE_S3_SECRET";

fn z(s: Option<String>) -> Option<Zeroizing<String>> {
    s.map(Zeroizing::new)
}

/// Runs a project subcommand; the vault is already unlocked.
pub fn run(
    engine: &Unlocked,
    cmd: ProjectCmd,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    match cmd {
        ProjectCmd::Add {
            name,
            db_url,
            fields:
                ProjectFields {
                    environment,
                    description,
                    service_key,
                    anon_key,
                    encryption,
                    copies,
                    storage,
                },
        } => {
            let input = ProjectInput {
                name,
                description: description.unwrap_or_default(),
                environment: environment.unwrap_or_default(),
                db_url: Zeroizing::new(db_url),
                service_key: Zeroizing::new(service_key.unwrap_or_default()),
                anon_key: Zeroizing::new(anon_key.unwrap_or_default()),
            };
            // Everything is checked (and every secret read) first, then the
            // project is added whole in one write: a refusal adds nothing.
            input.validate()?;
            let patch = storage_patch(&storage, None)?;
            if let Some(p) = &patch {
                p.check_new()?;
            }
            let storage_given = patch.is_some();
            let changes = project_changes(engine, &encryption, &copies, patch)?;
            let project = engine.add_project_with(&input, true, changes)?;
            let view = engine.project_view(&project)?;
            out!(
                "Added project \"{}\" ({}) {} {}",
                view.name,
                view.environment,
                view.db_url,
                view.id
            );
            say_changes(engine, &project, &encryption, &copies, storage_given)?;
            out!("Storage files: {}", engine.storage_view(&project)?.access);
            out!("Next: supabackup project test \"{}\"", view.name);
        }
        ProjectCmd::List(JsonFlag { json }) => {
            let views = engine
                .projects()?
                .iter()
                .map(|p| engine.project_view(p))
                .collect::<Result<Vec<_>, _>>()?;
            if json {
                output::json(&views);
            } else if views.is_empty() {
                out!("No projects yet: add one with supabackup project add --name N --db-url URL");
            } else {
                let rows: Vec<Vec<String>> = views
                    .iter()
                    .map(|v| {
                        vec![
                            v.id.short(),
                            v.name.clone(),
                            v.environment.clone(),
                            v.db_url.clone(),
                            if v.is_active { "yes" } else { "no" }.into(),
                        ]
                    })
                    .collect();
                output::table(&["ID", "NAME", "ENVIRONMENT", "DB_URL", "ACTIVE"], &rows);
            }
        }
        ProjectCmd::Show { project, json } => {
            let p = resolve::project(engine, &project)?;
            let v = engine.project_view(&p)?;
            let storage = engine.storage_view(&p)?;
            if json.json {
                #[derive(Serialize)]
                struct Shown<'a> {
                    #[serde(flatten)]
                    view: &'a crate::engine::ProjectView,
                    storage: &'a StorageView,
                }
                output::json(&Shown {
                    view: &v,
                    storage: &storage,
                });
            } else {
                let none = || "(not set)".to_string();
                out!("id:           {}", v.id);
                out!("name:         {}", v.name);
                out!("description:  {}", v.description);
                out!("environment:  {}", v.environment);
                out!("db_url:       {}", v.db_url);
                out!(
                    "service_key:  {}",
                    v.service_key.clone().unwrap_or_else(none)
                );
                out!("anon_key:     {}", v.anon_key.clone().unwrap_or_else(none));
                out!("encryption:   {}", describe_encryption(&p));
                out!(
                    "copies:       {}{}",
                    if v.copy_to.is_empty() {
                        "none".to_string()
                    } else {
                        v.copy_to.join(", ")
                    },
                    if v.remote_only {
                        " (remote-only: local folders removed once every copy is verified)"
                    } else {
                        ""
                    }
                );
                out!("storage:      {}", storage.access);
                out!("buckets:      {}", describe_buckets(&storage));
                out!("active:       {}", if v.is_active { "yes" } else { "no" });
                out!(
                    "created:      {}",
                    v.created_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
                out!(
                    "updated:      {}",
                    v.updated_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
            }
        }
        ProjectCmd::Edit {
            project,
            name,
            db_url,
            fields,
            active,
        } => {
            let patch = ProjectPatch {
                name,
                description: fields.description.clone(),
                environment: fields.environment.clone(),
                db_url: z(db_url),
                service_key: z(fields.service_key.clone()),
                anon_key: z(fields.anon_key.clone()),
                is_active: active,
            };
            // Every flag is checked first, then applied in one write: a
            // refused flag changes nothing, the others included.
            let current = resolve::project(engine, &project)?;
            let storage = storage_patch(&fields.storage, Some(&current))?;
            let storage_given = storage.is_some();
            let changes = project_changes(engine, &fields.encryption, &fields.copies, storage)?;
            let p = engine.edit_project_with(current.id, patch, changes)?;
            say_changes(
                engine,
                &p,
                &fields.encryption,
                &fields.copies,
                storage_given,
            )?;
            let v = engine.project_view(&p)?;
            out!(
                "Updated project \"{}\" ({}) {}",
                v.name,
                v.environment,
                v.db_url
            );
        }
        ProjectCmd::Remove { project, yes } => {
            let p = resolve::project(engine, &project)?;
            if !yes {
                confirm(&format!(
                    "Remove project \"{}\" and its schedules? Its backups stay on disk.",
                    p.name
                ))?;
            }
            let (p, jobs) = engine.remove_project(p.id)?;
            out!(
                "Removed project \"{}\" and {jobs} schedule(s); its backups are kept.",
                p.name
            );
        }
        ProjectCmd::Test { project, json } => {
            let id = resolve::project(engine, &project)?.id;
            let report = rt.block_on(engine.test_project(id))?;
            if json.json {
                output::json(&report);
            } else {
                print_report(&report);
            }
            return Ok(if report.ok() { 0 } else { 1 });
        }
    }
    Ok(0)
}

/// Prints a connection test for humans.
pub fn print_report(r: &TestReport) {
    out!("URL:          {}", r.db_url);
    match (&r.server, &r.connect_error) {
        (Some(s), _) => {
            out!(
                "Server:       PostgreSQL {} ({})",
                s.version,
                s.version_string
            );
            out!("Database:     {} as {}", s.database, s.current_user);
            if let Some(role) = &r.role {
                out!("Role:         {role}");
            }
            out!("Size:         {}", output::bytes(s.database_size));
            out!("SSL:          {}", if s.ssl { "yes" } else { "no" });
            out!(
                "Supabase:     {}",
                if s.has_supabase_schemas {
                    "auth and storage schemas found"
                } else {
                    "no auth/storage schemas (plain PostgreSQL)"
                }
            );
        }
        (None, Some(e)) => out!("Connection:   FAILED: {e}"),
        (None, None) => {}
    }
    match (&r.tools, &r.tools_error) {
        (Some(t), _) => out!(
            "pg_dump:      {} (version {}, {})",
            t.pg_dump.display(),
            t.version,
            t.origin.label()
        ),
        (None, Some(e)) => out!("pg_dump:      NONE FITS: {e}"),
        (None, None) => {}
    }
    if let Some(p) = r.profile {
        out!("Profile:      {p} (default for backups of this project)");
    }
    if let Some(st) = &r.storage {
        if let Some(url) = &st.url {
            out!("Storage URL:  {url}");
        }
        match (&st.error, st.kind) {
            (Some(e), _) => out!("Storage:      {}: FAILED: {e}", st.access),
            (None, "none") => out!(
                "Storage:      {}: backups hold the database only",
                st.access
            ),
            (None, _) if st.buckets.is_empty() => {
                out!("Storage:      {}: no buckets", st.access)
            }
            (None, _) => out!(
                "Storage:      {}: {} bucket(s): {}",
                st.access,
                st.buckets.len(),
                st.buckets.join(", ")
            ),
        }
    }
    for f in &r.findings {
        out!("Diagnosis:    [{}] {}", f.severity, f.message);
    }
    out!(
        "Result:       {}",
        if r.ok() {
            "OK: ready to back up"
        } else {
            "NOT READY: see above"
        }
    );
}

/// What `--encrypt-to`, `--encrypt-passphrase`, `--no-encryption`,
/// `--store-identity`, `--forget-identity`, `--copy-to`, `--no-copies`,
/// `--remote-only`, `--keep-local` and the Storage flags (`storage`) ask
/// for: the passphrase asked, the identity file read, the destinations
/// found, before anything is written.
fn project_changes(
    engine: &Unlocked,
    enc: &EncryptionFlags,
    copies: &CopyFlags,
    storage: Option<StoragePatch>,
) -> Result<ProjectChanges, EngineError> {
    let encryption = if enc.no_encryption {
        Some(EncryptionChange::Off)
    } else if enc.encrypt_passphrase {
        Some(EncryptionChange::Passphrase(password::backup_passphrase()?))
    } else if !enc.encrypt_to.is_empty() {
        Some(EncryptionChange::Recipients(enc.encrypt_to.clone()))
    } else {
        None
    };
    let identity = if let Some(file) = &enc.store_identity {
        let text = std::fs::read_to_string(file)
            .map_err(|e| EngineError::io("cannot read the identity file", file, e))?;
        Some(Some(Zeroizing::new(text)))
    } else if enc.forget_identity {
        Some(None)
    } else {
        None
    };
    let copy_to = if copies.no_copies {
        Some(Vec::new())
    } else if copies.copy_to.is_empty() {
        None
    } else {
        Some(resolve::destinations(engine, &copies.copy_to)?)
    };
    let remote_only = if copies.remote_only {
        Some(true)
    } else if copies.keep_local {
        Some(false)
    } else {
        None
    };
    Ok(ProjectChanges {
        encryption,
        identity,
        copy_to,
        remote_only,
        storage,
    })
}

/// Says what the encryption, identity, copy and (when `storage`) Storage
/// flags changed, once the project is saved.
fn say_changes(
    engine: &Unlocked,
    project: &Project,
    enc: &EncryptionFlags,
    copies: &CopyFlags,
    storage: bool,
) -> Result<(), EngineError> {
    if enc.no_encryption || enc.encrypt_passphrase || !enc.encrypt_to.is_empty() {
        out!(
            "Backups of \"{}\" are encrypted: {}.",
            project.name,
            describe_encryption(project)
        );
        if matches!(project.extra.encryption, EncryptionSetting::Passphrase) {
            out!(
                "The passphrase is sealed in the vault for scheduled backups. Keep it somewhere \
                 else too: without it, the backups cannot be restored."
            );
        }
    }
    if let Some(file) = &enc.store_identity {
        out!(
            "The identity in {} is kept in the vault: this machine restores \"{}\"'s backups \
             without asking for it.",
            file.display(),
            project.name
        );
    }
    if enc.forget_identity {
        out!(
            "The vault no longer keeps an identity for \"{}\".",
            project.name
        );
    }
    let copies_given =
        copies.no_copies || !copies.copy_to.is_empty() || copies.remote_only || copies.keep_local;
    if copies_given {
        let v = engine.project_view(project)?;
        if v.copy_to.is_empty() {
            out!("Backups of \"{}\" are not copied anywhere.", v.name);
        } else {
            out!(
                "Backups of \"{}\" are copied to {} after each backup{}.",
                v.name,
                v.copy_to.join(", "),
                if v.remote_only {
                    "; each local folder is removed once every copy of it is verified"
                } else {
                    ""
                }
            );
        }
    }
    if storage {
        let view = engine.storage_view(project)?;
        out!(
            "Storage files of \"{}\": {}; {}.",
            project.name,
            view.access,
            describe_buckets(&view)
        );
    }
    Ok(())
}

/// The change `--api-url`, `--storage-s3-*`, `--no-storage-s3`,
/// `--storage-include` and `--storage-exclude` ask for (`None`: none), to
/// `project` (`None`: a new one). The S3 secret comes from
/// SUPABACKUP_STORAGE_S3_SECRET or a prompt, never argv.
fn storage_patch(
    flags: &StorageFlags,
    project: Option<&Project>,
) -> Result<Option<StoragePatch>, EngineError> {
    let s3_given = flags.storage_s3_endpoint.is_some()
        || flags.storage_s3_region.is_some()
        || flags.storage_s3_access_key_id.is_some();
    let env_secret = std::env::var(S3_SECRET_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(Zeroizing::new);
    let has_s3 = project
        .and_then(|p| p.extra.storage.as_ref())
        .is_some_and(|s| s.s3.is_some());
    let s3 = if flags.no_storage_s3 {
        Some(None)
    } else if s3_given || (env_secret.is_some() && has_s3) {
        let kept = project.is_some_and(|p| p.sealed(SecretSlot::StorageS3Secret).is_some());
        let secret = match env_secret {
            Some(s) => Some(s),
            None if kept => None,
            None => Some(prompt_s3_secret()?),
        };
        Some(Some(S3Change {
            endpoint: flags.storage_s3_endpoint.clone(),
            region: flags.storage_s3_region.clone(),
            access_key_id: flags.storage_s3_access_key_id.clone(),
            secret,
        }))
    } else {
        None
    };
    let list = |given: &Vec<String>| (!given.is_empty()).then(|| given.clone());
    let patch = StoragePatch {
        api_url: flags
            .api_url
            .clone()
            .map(|u| (!u.trim().is_empty()).then_some(u)),
        s3,
        include: list(&flags.storage_include),
        exclude: list(&flags.storage_exclude),
    };
    Ok((!patch.is_empty()).then_some(patch))
}

/// The Storage S3 secret, asked on a terminal.
fn prompt_s3_secret() -> Result<Zeroizing<String>, EngineError> {
    if !std::io::stdin().is_terminal() {
        return Err(EngineError::NeedsConfirmation(format!(
            "the Storage S3 secret access key is needed: set {S3_SECRET_ENV} (it is never taken \
             as an argument) or run on a terminal to be asked"
        )));
    }
    rpassword::prompt_password("Storage S3 secret access key: ")
        .map(Zeroizing::new)
        .map_err(|e| EngineError::Failed(format!("cannot read the secret: {e}")))
}

/// Which buckets are backed up, in words.
fn describe_buckets(v: &StorageView) -> String {
    match (v.include_buckets.is_empty(), v.exclude_buckets.is_empty()) {
        (true, true) => "every bucket".into(),
        (false, true) => format!("only {}", v.include_buckets.join(", ")),
        (true, false) => format!("every bucket but {}", v.exclude_buckets.join(", ")),
        (false, false) => format!(
            "only {}, but not {}",
            v.include_buckets.join(", "),
            v.exclude_buckets.join(", ")
        ),
    }
}

/// The encryption setting in words.
fn describe_encryption(p: &Project) -> String {
    let identity = if p.sealed(crate::domain::SecretSlot::AgeIdentity).is_some() {
        " (identity kept in the vault)"
    } else {
        ""
    };
    match &p.extra.encryption {
        EncryptionSetting::Off => "off".into(),
        EncryptionSetting::Recipients { recipients } => {
            format!("age, to {}{identity}", recipients.join(", "))
        }
        EncryptionSetting::Passphrase => format!("age, with the passphrase in the vault{identity}"),
    }
}
