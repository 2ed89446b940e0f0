//! Finding the PostgreSQL client tools installed on this machine and choosing
//! a pg_dump that can dump a given server.

use crate::pgtools::{PgError, PgVersion};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a folder of client programs was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolOrigin {
    /// The pg-bin-dir setting.
    Setting,
    /// Installed by supabackup into the data dir (`supabackup tools install`).
    Managed,
    /// A folder on PATH.
    Path,
    /// A usual install place (Debian, Homebrew, Postgres.app, EDB...).
    UsualPlace,
}

impl ToolOrigin {
    /// In words, for listings.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Setting => "pg-bin-dir setting",
            Self::Managed => "installed by supabackup",
            Self::Path => "PATH",
            Self::UsualPlace => "usual install place",
        }
    }
}

/// A folder to look in, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDir {
    /// The folder.
    pub dir: PathBuf,
    /// Why it is searched.
    pub origin: ToolOrigin,
}

/// pg_dump, pg_dumpall, psql and pg_restore from one folder, with their version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolSet {
    /// The folder.
    pub dir: PathBuf,
    /// How it was found.
    pub origin: ToolOrigin,
    /// `pg_dump --version`.
    pub version: PgVersion,
    /// pg_dump.
    pub pg_dump: PathBuf,
    /// pg_dumpall, if present.
    pub pg_dumpall: Option<PathBuf>,
    /// psql, if present.
    pub psql: Option<PathBuf>,
    /// pg_restore, if present.
    pub pg_restore: Option<PathBuf>,
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Every folder searched, in order: the pg-bin-dir setting, the programs
/// supabackup installed (`tools_dir`), PATH, then the usual install places
/// on Linux, macOS and Windows (newest version first).
pub fn search_dirs(override_dir: Option<&Path>, tools_dir: Option<&Path>) -> Vec<SearchDir> {
    let mut dirs = Vec::new();
    let mut add = |dir: PathBuf, origin| dirs.push(SearchDir { dir, origin });
    if let Some(d) = override_dir {
        add(d.to_path_buf(), ToolOrigin::Setting);
    }
    if let Some(t) = tools_dir {
        for d in crate::pgtools::fetch::bin_dirs(t) {
            add(d, ToolOrigin::Managed);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            add(d, ToolOrigin::Path);
        }
    }
    for d in usual_places() {
        add(d, ToolOrigin::UsualPlace);
    }
    dirs
}

/// Where PostgreSQL's installers put the client programs.
fn usual_places() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    dirs.extend(glob_versions("/usr/lib/postgresql", "", "bin"));
    dirs.extend(glob_versions("/usr", "pgsql-", "bin"));
    dirs.extend(glob_versions("/opt/homebrew/opt", "postgresql@", "bin"));
    dirs.push(PathBuf::from("/opt/homebrew/bin"));
    dirs.extend(glob_versions("/usr/local/opt", "postgresql@", "bin"));
    dirs.push(PathBuf::from("/usr/local/bin"));
    dirs.extend(glob_versions(
        "/Applications/Postgres.app/Contents/Versions",
        "",
        "bin",
    ));
    for base in [
        "C:\\Program Files\\PostgreSQL",
        "C:\\Program Files (x86)\\PostgreSQL",
    ] {
        dirs.extend(glob_versions(base, "", "bin"));
    }
    dirs
}

/// `<base>/<prefix><version>/<sub>` for every version folder, newest first.
fn glob_versions(base: &str, prefix: &str, sub: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(base) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let rest = name.strip_prefix(prefix)?;
            let key: Vec<u32> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect();
            let dir = e.path().join(sub);
            dir.is_dir().then_some((key, dir))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Finds the tool sets in `search_dirs(override_dir, tools_dir)`.
pub fn discover_tools(override_dir: Option<&Path>, tools_dir: Option<&Path>) -> Vec<ToolSet> {
    discover_in(&search_dirs(override_dir, tools_dir))
}

/// Finds the tool sets in `dirs`: one per distinct pg_dump (a folder found
/// twice, through PATH and a usual place, counts once), in search order.
pub fn discover_in(dirs: &[SearchDir]) -> Vec<ToolSet> {
    let mut out: Vec<ToolSet> = Vec::new();
    let mut seen_paths = Vec::new();
    for SearchDir { dir, origin } in dirs {
        let pg_dump = dir.join(exe("pg_dump"));
        if !pg_dump.is_file() {
            continue;
        }
        let canonical = pg_dump.canonicalize().unwrap_or_else(|_| pg_dump.clone());
        // Debian's /usr/bin/pg_dump is its pg_wrapper script, which picks one
        // of the /usr/lib/postgresql/*/bin tools (searched too) and costs a
        // Perl start per call.
        let is_wrapper = canonical
            .file_stem()
            .is_some_and(|n| n.to_string_lossy() != "pg_dump");
        if is_wrapper || seen_paths.contains(&canonical) {
            continue;
        }
        seen_paths.push(canonical);
        let Some(version) = tool_version(&pg_dump) else {
            continue;
        };
        let sibling = |name: &str| {
            let p = dir.join(exe(name));
            p.is_file().then_some(p)
        };
        out.push(ToolSet {
            dir: dir.clone(),
            origin: *origin,
            version,
            pg_dump,
            pg_dumpall: sibling("pg_dumpall"),
            psql: sibling("psql"),
            pg_restore: sibling("pg_restore"),
        });
    }
    out
}

/// Runs `tool --version` and parses it.
pub fn tool_version(tool: &Path) -> Option<PgVersion> {
    let out = Command::new(tool)
        .arg("--version")
        .env_remove("PGPASSWORD")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    PgVersion::from_tool_output(&String::from_utf8_lossy(&out.stdout))
}

/// Chooses the tool set for a server: the override folder if set (it must be
/// new enough), otherwise the oldest major that is >= the server's (its SQL
/// restores into servers of that version without conversion), newest minor
/// within it; among equal versions, the first in search order.
pub fn choose_tools(
    sets: &[ToolSet],
    server: PgVersion,
    override_dir: Option<&Path>,
) -> Result<ToolSet, PgError> {
    let too_old = |found: &ToolSet| PgError::PgDumpTooOld {
        found: found.version,
        found_dir: found.dir.clone(),
        server,
        hint: install_hint(server.major),
    };
    if let Some(dir) = override_dir
        && let Some(set) = sets.iter().find(|s| s.dir == dir)
    {
        return if set.version.major >= server.major {
            Ok(set.clone())
        } else {
            Err(PgError::PgDumpTooOld {
                found: set.version,
                found_dir: set.dir.clone(),
                server,
                hint: format!(
                    "the pg-bin-dir setting picks that folder: point it at the PostgreSQL {} \
                     client programs, or clear it (`supabackup settings unset pg-bin-dir`) so \
                     supabackup chooses",
                    server.major
                ),
            })
        };
    }
    let best = sets
        .iter()
        .filter(|s| s.version.major >= server.major)
        .min_by(|a, b| {
            a.version
                .major
                .cmp(&b.version.major)
                .then(b.version.minor.cmp(&a.version.minor))
        });
    match best {
        Some(s) => Ok(s.clone()),
        None => match sets.iter().max_by_key(|s| s.version) {
            Some(found) => Err(too_old(found)),
            None => Err(PgError::NoPgDump {
                server,
                hint: install_hint(server.major),
            }),
        },
    }
}

/// What to run or install for client programs of `major`: `supabackup tools
/// install 17` with its download size where archives exist for this
/// machine, the system's packages otherwise.
pub fn install_hint(major: u32) -> String {
    use crate::pgtools::fetch::{Release, Target};
    let packages = format!(
        "postgresql-client-{major} on Debian/Ubuntu, `brew install postgresql@{major}` on macOS"
    );
    match (Target::this_machine(), Release::newest_of(major)) {
        (Some(target), Some(_)) => format!(
            "run `supabackup tools install {major}` (downloads about {} MB), or install {packages}, \
             or point the pg-bin-dir setting at their folder",
            target.approx_download_bytes() / 1_000_000
        ),
        _ => format!(
            "install the PostgreSQL {major} client programs ({packages}) and point the \
             pg-bin-dir setting at their folder"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(dir: &str, major: u32, minor: u32) -> ToolSet {
        ToolSet {
            dir: PathBuf::from(dir),
            origin: ToolOrigin::Path,
            version: PgVersion { major, minor },
            pg_dump: PathBuf::from(dir).join("pg_dump"),
            pg_dumpall: None,
            psql: None,
            pg_restore: None,
        }
    }

    #[test]
    fn picks_the_oldest_major_that_is_new_enough() {
        let sets = [
            set("/a", 17, 2),
            set("/b", 15, 8),
            set("/c", 15, 12),
            set("/d", 14, 1),
        ];
        let v15 = PgVersion {
            major: 15,
            minor: 6,
        };
        assert_eq!(
            choose_tools(&sets, v15, None).unwrap().dir,
            PathBuf::from("/c")
        );
        let v16 = PgVersion {
            major: 16,
            minor: 0,
        };
        assert_eq!(
            choose_tools(&sets, v16, None).unwrap().dir,
            PathBuf::from("/a")
        );
    }

    #[test]
    fn too_old_names_both_versions_and_the_package() {
        let sets = [set("/b", 15, 8)];
        let e = choose_tools(
            &sets,
            PgVersion {
                major: 17,
                minor: 2,
            },
            None,
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(
                "this server runs PostgreSQL 17.2 and the newest pg_dump found is 15.8 (/b), \
                 which cannot dump it"
            ),
            "{msg}"
        );
        assert!(msg.contains("postgresql-client-17"), "{msg}");
        if crate::pgtools::fetch::Target::this_machine().is_some() {
            assert!(msg.contains("supabackup tools install 17"), "{msg}");
        }
        let e = choose_tools(
            &[],
            PgVersion {
                major: 17,
                minor: 2,
            },
            None,
        )
        .unwrap_err();
        assert!(matches!(e, PgError::NoPgDump { server, .. } if server.major == 17));
    }

    #[test]
    fn the_override_wins_but_must_be_new_enough() {
        let sets = [set("/a", 17, 2), set("/x", 16, 1)];
        let v15 = PgVersion {
            major: 15,
            minor: 6,
        };
        assert_eq!(
            choose_tools(&sets, v15, Some(Path::new("/a"))).unwrap().dir,
            PathBuf::from("/a")
        );
        let v17 = PgVersion {
            major: 17,
            minor: 0,
        };
        assert!(choose_tools(&sets, v17, Some(Path::new("/x"))).is_err());
    }
}
