//! `supabackup tools ...`: PostgreSQL's client programs.

use crate::cli::args::{JsonFlag, ToolsCmd};
use crate::cli::backups::with_bar;
use crate::cli::output;
use crate::engine::{CancelToken, Engine, EngineError, Progress, ToolsRequest, ToolsSource};
use crate::pgtools::ToolSet;
use crate::pgtools::fetch::{InstallRecord, PROGRAMS, Target};
use serde::Serialize;
use std::sync::Arc;

/// Runs a tools subcommand.
pub fn run(
    engine: &Engine,
    cmd: ToolsCmd,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    match cmd {
        ToolsCmd::List(JsonFlag { json }) => list(engine, json),
        ToolsCmd::Install {
            version,
            mirror,
            from,
            sha256,
            json,
        } => {
            let source = match from {
                Some(path) => ToolsSource::File { path, sha256 },
                None => ToolsSource::Mirror(mirror),
            };
            install(engine, ToolsRequest { version, source }, json, rt)
        }
        ToolsCmd::Remove { version } => {
            let dir = engine.remove_tools(&version)?;
            out!(
                "Removed the PostgreSQL {version} client programs ({}).",
                dir.display()
            );
            Ok(0)
        }
    }
}

#[derive(Serialize)]
struct Listing {
    tools_dir: String,
    target: Option<&'static str>,
    tools: Vec<ToolSet>,
    installed: Vec<InstalledRow>,
}

#[derive(Serialize)]
struct InstalledRow {
    dir: String,
    bytes: u64,
    #[serde(flatten)]
    record: InstallRecord,
}

fn list(engine: &Engine, json: bool) -> Result<i32, EngineError> {
    let tools = engine.all_tools()?;
    let installed: Vec<InstalledRow> = engine
        .installed_tools()
        .into_iter()
        .map(|(dir, record)| InstalledRow {
            dir: dir.display().to_string(),
            bytes: record.bytes(),
            record,
        })
        .collect();
    let target = Target::this_machine();
    if json {
        output::json(&Listing {
            tools_dir: engine.tools_dir().display().to_string(),
            target: target.map(|t| t.triple()),
            tools,
            installed,
        });
        return Ok(0);
    }
    if tools.is_empty() {
        out!("No PostgreSQL client programs found on this machine.");
    } else {
        let rows: Vec<Vec<String>> = tools
            .iter()
            .map(|t| {
                vec![
                    t.version.to_string(),
                    t.origin.label().to_string(),
                    programs(t),
                    t.dir.display().to_string(),
                ]
            })
            .collect();
        output::table(&["VERSION", "FOUND BY", "PROGRAMS", "FOLDER"], &rows);
    }
    out!();
    out!(
        "Installed by supabackup into {}:",
        engine.tools_dir().display()
    );
    if installed.is_empty() {
        out!("  none yet");
    }
    for i in &installed {
        out!(
            "  {} ({}, {}, from {})",
            i.record.version,
            i.record.target,
            output::bytes(i.bytes),
            i.record.source
        );
    }
    if let Some(t) = target {
        out!(
            "A server needs a pg_dump of its major version or newer: `supabackup tools install \
             MAJOR` downloads one for {} (about {} MB).",
            t.triple(),
            t.approx_download_bytes() / 1_000_000
        );
    }
    Ok(0)
}

/// The programs a set has, by name.
fn programs(t: &ToolSet) -> String {
    let mut have = vec!["pg_dump"];
    for (name, p) in [
        ("pg_dumpall", &t.pg_dumpall),
        ("psql", &t.psql),
        ("pg_restore", &t.pg_restore),
    ] {
        if p.is_some() {
            have.push(name);
        }
    }
    have.join(" ")
}

#[derive(Serialize)]
struct InstallResult {
    dir: String,
    bytes: u64,
    #[serde(flatten)]
    record: InstallRecord,
}

fn install(
    engine: &Engine,
    req: ToolsRequest,
    json: bool,
    rt: &tokio::runtime::Runtime,
) -> Result<i32, EngineError> {
    let (release, file) = engine.plan_tools(&req)?;
    if !json {
        let from = match &req.source {
            ToolsSource::File { path, .. } => path.display().to_string(),
            ToolsSource::Mirror(Some(m)) => m.clone(),
            ToolsSource::Mirror(None) => engine.tools_mirror()?.describe(),
        };
        let size = Target::this_machine()
            .map(|t| format!(" (about {} MB)", t.approx_download_bytes() / 1_000_000))
            .unwrap_or_default();
        err!("Installing PostgreSQL {release} client programs: {file}{size} from {from}");
    }
    let progress = Arc::new(Progress::new());
    let cancel = CancelToken::new();
    let installed = with_bar(
        rt,
        progress.clone(),
        cancel.clone(),
        json,
        |p| p.current(),
        engine.install_tools(req, progress, cancel),
    )?;
    let bytes = installed.record.bytes();
    if json {
        output::json(&InstallResult {
            dir: installed.dir.display().to_string(),
            bytes,
            record: installed.record,
        });
        return Ok(0);
    }
    let libraries = installed.record.files.len().saturating_sub(PROGRAMS.len());
    out!(
        "Installed PostgreSQL {} client programs in {} ({}, and {libraries} \
         librar{} they load; {}).",
        installed.record.version,
        installed.dir.display(),
        PROGRAMS.join(", "),
        if libraries == 1 { "y" } else { "ies" },
        output::bytes(bytes)
    );
    out!("From:    {}", installed.record.source);
    out!(
        "SHA-256: {} (checked before unpacking)",
        installed.record.archive_sha256
    );
    out!(
        "Backups of PostgreSQL {} servers use them (and of older servers when no closer pg_dump \
         is found: `supabackup tools list` shows what is).",
        release.major
    );
    Ok(0)
}
