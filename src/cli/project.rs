//! `supabackup project ...`

use crate::cli::args::{EncryptionFlags, JsonFlag, ProjectCmd, ProjectFields};
use crate::cli::{confirm, output, password, resolve};
use crate::domain::{EncryptionSetting, Project, ProjectInput};
use crate::engine::{EncryptionChange, EngineError, ProjectPatch, TestReport, Unlocked};
use zeroize::Zeroizing;

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
            let project = engine.add_project(&input)?;
            let project = apply_encryption(engine, project, &encryption)?;
            let view = engine.project_view(&project)?;
            println!(
                "Added project \"{}\" ({}) {} {}",
                view.name, view.environment, view.db_url, view.id
            );
            println!("Next: supabackup project test \"{}\"", view.name);
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
                println!(
                    "No projects yet: add one with supabackup project add --name N --db-url URL"
                );
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
            if json.json {
                output::json(&v);
            } else {
                let none = || "(not set)".to_string();
                println!("id:           {}", v.id);
                println!("name:         {}", v.name);
                println!("description:  {}", v.description);
                println!("environment:  {}", v.environment);
                println!("db_url:       {}", v.db_url);
                println!(
                    "service_key:  {}",
                    v.service_key.clone().unwrap_or_else(none)
                );
                println!("anon_key:     {}", v.anon_key.clone().unwrap_or_else(none));
                println!("encryption:   {}", describe_encryption(&p));
                println!("active:       {}", if v.is_active { "yes" } else { "no" });
                println!(
                    "created:      {}",
                    v.created_at.format("%Y-%m-%d %H:%M:%S UTC")
                );
                println!(
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
            let id = resolve::project(engine, &project)?.id;
            let p = engine.edit_project(id, patch)?;
            let p = apply_encryption(engine, p, &fields.encryption)?;
            let v = engine.project_view(&p)?;
            println!(
                "Updated project \"{}\" ({}) {}",
                v.name, v.environment, v.db_url
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
            println!(
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
    println!("URL:          {}", r.db_url);
    match (&r.server, &r.connect_error) {
        (Some(s), _) => {
            println!(
                "Server:       PostgreSQL {} ({})",
                s.version, s.version_string
            );
            println!("Database:     {} as {}", s.database, s.current_user);
            if let Some(role) = &r.role {
                println!("Role:         {role}");
            }
            println!("Size:         {}", output::bytes(s.database_size));
            println!("SSL:          {}", if s.ssl { "yes" } else { "no" });
            println!(
                "Supabase:     {}",
                if s.has_supabase_schemas {
                    "auth and storage schemas found"
                } else {
                    "no auth/storage schemas (plain PostgreSQL)"
                }
            );
        }
        (None, Some(e)) => println!("Connection:   FAILED: {e}"),
        (None, None) => {}
    }
    match (&r.tools, &r.tools_error) {
        (Some(t), _) => println!(
            "pg_dump:      {} (version {})",
            t.pg_dump.display(),
            t.version
        ),
        (None, Some(e)) => println!("pg_dump:      NONE FITS: {e}"),
        (None, None) => {}
    }
    if let Some(p) = r.profile {
        println!("Profile:      {p} (default for backups of this project)");
    }
    for f in &r.findings {
        println!("Diagnosis:    [{}] {}", f.severity, f.message);
    }
    println!(
        "Result:       {}",
        if r.ok() {
            "OK: ready to back up"
        } else {
            "NOT READY: see above"
        }
    );
}

/// Applies `--encrypt-to`, `--encrypt-passphrase`, `--no-encryption`,
/// `--store-identity` and `--forget-identity`, saying what changed.
fn apply_encryption(
    engine: &Unlocked,
    mut project: Project,
    flags: &EncryptionFlags,
) -> Result<Project, EngineError> {
    let change = if flags.no_encryption {
        Some(EncryptionChange::Off)
    } else if flags.encrypt_passphrase {
        Some(EncryptionChange::Passphrase(password::backup_passphrase()?))
    } else if !flags.encrypt_to.is_empty() {
        Some(EncryptionChange::Recipients(flags.encrypt_to.clone()))
    } else {
        None
    };
    if let Some(change) = change {
        project = engine.set_encryption(project.id, change)?;
        println!(
            "Backups of \"{}\" are encrypted: {}.",
            project.name,
            describe_encryption(&project)
        );
        if matches!(project.extra.encryption, EncryptionSetting::Passphrase) {
            println!(
                "The passphrase is sealed in the vault for scheduled backups. Keep it somewhere \
                 else too: without it, the backups cannot be restored."
            );
        }
    }
    if let Some(file) = &flags.store_identity {
        let text = std::fs::read_to_string(file)
            .map_err(|e| EngineError::io("cannot read the identity file", file, e))?;
        project = engine.store_identity(project.id, Some(Zeroizing::new(text)))?;
        println!(
            "The identity in {} is kept in the vault: this machine restores \"{}\"'s backups \
             without asking for it.",
            file.display(),
            project.name
        );
    }
    if flags.forget_identity {
        project = engine.store_identity(project.id, None)?;
        println!(
            "The vault no longer keeps an identity for \"{}\".",
            project.name
        );
    }
    Ok(project)
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
