//! `supabackup settings ...` and `supabackup info`.

use crate::cli::args::SettingsCmd;
use crate::cli::output;
use crate::datadir::DataDirSource;
use crate::domain::SettingKey;
use crate::engine::{Engine, EngineError};
use crate::pgtools::search_dirs;
use serde::Serialize;

#[derive(Serialize)]
struct SettingRow {
    key: &'static str,
    value: Option<String>,
    set: bool,
    help: &'static str,
}

/// Runs a settings subcommand.
pub fn run(engine: &Engine, cmd: SettingsCmd) -> Result<i32, EngineError> {
    match cmd {
        SettingsCmd::Get { key, json } => {
            let keys = match key {
                Some(k) => vec![k.parse::<SettingKey>()?],
                None => SettingKey::ALL.to_vec(),
            };
            let mut rows = Vec::new();
            for k in keys {
                rows.push(SettingRow {
                    key: k.as_str(),
                    value: engine.setting(k)?,
                    set: engine.catalog().setting(k.as_str())?.is_some(),
                    help: k.help(),
                });
            }
            if json.json {
                output::json(&rows);
            } else if rows.len() == 1 {
                out!("{}", rows[0].value.clone().unwrap_or_default());
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.key.to_string(),
                            r.value.clone().unwrap_or_else(|| "(auto)".into()),
                            if r.set { "set" } else { "default" }.into(),
                        ]
                    })
                    .collect();
                output::table(&["KEY", "VALUE", "SOURCE"], &table);
            }
        }
        SettingsCmd::Set { key, value } => {
            let key: SettingKey = key.parse()?;
            let stored = engine.set_setting(key, &value)?;
            out!("{key} = {stored}");
        }
        SettingsCmd::Unset { key } => {
            let key: SettingKey = key.parse()?;
            engine.unset_setting(key)?;
            out!(
                "{key} back to its default ({})",
                engine.setting(key)?.unwrap_or_else(|| "auto".into())
            );
        }
    }
    Ok(0)
}

#[derive(Serialize)]
struct Info {
    data_dir: String,
    data_dir_source: &'static str,
    catalog: String,
    backup_root: String,
    tools_dir: String,
    tools: Vec<crate::pgtools::ToolSet>,
    searched: Vec<String>,
}

/// `supabackup info`.
pub fn info(engine: &Engine, json: bool) -> Result<i32, EngineError> {
    let dd = engine.data_dir();
    let override_dir = engine.pg_bin_override()?;
    let info = Info {
        data_dir: dd.root.display().to_string(),
        data_dir_source: match dd.source {
            DataDirSource::Explicit => "--data-dir / SUPABACKUP_DATA_DIR",
            DataDirSource::Portable => "portable (supabackup.portable beside the binary)",
            DataDirSource::Os => "OS default",
        },
        catalog: engine.catalog().path().display().to_string(),
        backup_root: engine.backup_root()?.display().to_string(),
        tools_dir: engine.tools_dir().display().to_string(),
        tools: engine.all_tools()?,
        searched: search_dirs(override_dir.as_deref(), Some(&engine.tools_dir()))
            .iter()
            .map(|p| p.dir.display().to_string())
            .collect(),
    };
    if json {
        output::json(&info);
        return Ok(0);
    }
    out!("Data dir:     {} ({})", info.data_dir, info.data_dir_source);
    out!("Catalog:      {}", info.catalog);
    out!("Backup root:  {}", info.backup_root);
    out!("Tools folder: {}", info.tools_dir);
    if info.tools.is_empty() {
        out!(
            "PostgreSQL:   no pg_dump found: `supabackup tools install MAJOR` downloads one (a \
             server needs its major or newer)"
        );
    }
    for t in &info.tools {
        out!(
            "PostgreSQL:   {} in {} ({}){}{}",
            t.version,
            t.dir.display(),
            t.origin.label(),
            if t.pg_dumpall.is_none() {
                " (no pg_dumpall)"
            } else {
                ""
            },
            if t.psql.is_none() { " (no psql)" } else { "" },
        );
    }
    Ok(0)
}
