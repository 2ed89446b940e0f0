//! PostgreSQL's client programs: the ones this machine has, and installing
//! the ones a server needs into the data dir (`supabackup tools ...`, the
//! window's "Install" button, `backup --install-tools`).

use crate::domain::{Level, SettingKey};
use crate::engine::cancel::unless_cancelled;
use crate::engine::{CancelToken, Engine, EngineError, Progress};
use crate::pgtools::fetch::{
    self, FetchError, InstallRecord, InstallRequest, Installed, Mirror, Release, Target,
};
use crate::pgtools::{PgVersion, ToolSet, choose_tools, discover_tools};
use std::path::PathBuf;
use std::sync::Arc;

/// Where an install comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolsSource {
    /// A mirror: the one given (URL or folder), else the tools-mirror
    /// setting, else the GitHub releases.
    Mirror(Option<String>),
    /// An archive downloaded by hand, with its SHA-256 when given (else
    /// `<archive>.sha256` beside it).
    File {
        /// The `.tar.gz`.
        path: PathBuf,
        /// Its SHA-256, hex.
        sha256: Option<String>,
    },
}

/// `supabackup tools install MAJOR|VERSION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolsRequest {
    /// `17`, `17.11` or `17.11.0`; with a file, optional (its name says).
    pub version: Option<String>,
    /// Where from.
    pub source: ToolsSource,
}

impl ToolsRequest {
    /// The newest known client programs of `major`, from the configured mirror.
    pub fn for_major(major: u32) -> Self {
        Self {
            version: Some(major.to_string()),
            source: ToolsSource::Mirror(None),
        }
    }
}

impl fetch::Watch for Progress {
    fn set_total(&self, bytes: u64) {
        Progress::set_total(self, bytes);
    }

    fn add(&self, bytes: u64) {
        self.add_read(bytes);
    }

    fn step(&self, what: &str) {
        self.set_current(what);
    }
}

impl Engine {
    /// `<data dir>/tools`.
    pub fn tools_dir(&self) -> PathBuf {
        self.data_dir().tools_dir()
    }

    /// The client programs supabackup installed, newest first.
    pub fn installed_tools(&self) -> Vec<(PathBuf, InstallRecord)> {
        fetch::installed(&self.tools_dir())
    }

    /// Every set of client programs on this machine, in the order they are
    /// preferred (setting, installed by supabackup, PATH, usual places).
    pub fn all_tools(&self) -> Result<Vec<ToolSet>, EngineError> {
        let override_dir = self.pg_bin_override()?;
        Ok(discover_tools(
            override_dir.as_deref(),
            Some(&self.tools_dir()),
        ))
    }

    /// [`Self::all_tools`] on the blocking pool, with the pg-bin-dir
    /// setting they were looked for with.
    pub(crate) async fn find_tools(&self) -> Result<(Vec<ToolSet>, Option<PathBuf>), EngineError> {
        let override_dir = self.pg_bin_override()?;
        let (dirs, tools) = (override_dir.clone(), self.tools_dir());
        let sets =
            tokio::task::spawn_blocking(move || discover_tools(dirs.as_deref(), Some(&tools)))
                .await
                .map_err(|e| EngineError::Failed(e.to_string()))?;
        Ok((sets, override_dir))
    }

    /// The mirror installs use when none is given.
    pub fn tools_mirror(&self) -> Result<Mirror, EngineError> {
        let value = self
            .setting(SettingKey::ToolsMirror)?
            .unwrap_or_else(|| fetch::DEFAULT_MIRROR.to_string());
        Ok(Mirror::parse(&value)?)
    }

    /// What `req` would install: the version and the archive's name.
    pub fn plan_tools(&self, req: &ToolsRequest) -> Result<(Release, String), EngineError> {
        let target = this_target()?;
        let release = match (&req.version, &req.source) {
            (Some(v), _) => Release::resolve(v)?,
            (None, ToolsSource::File { path, .. }) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                fetch::parse_archive_name(&name)
                    .map(|(r, _)| r)
                    .ok_or_else(|| FetchError::NotAnArchive {
                        file: name,
                        reason: "its name is not postgresql-<version>-<target>.tar.gz, as \
                                 published"
                            .into(),
                    })?
            }
            (None, ToolsSource::Mirror(_)) => Release::resolve("")?,
        };
        Ok((release, release.archive_name(target)))
    }

    /// Installs client programs into the data dir: checked against their
    /// published SHA-256 before anything is unpacked, only pg_dump,
    /// pg_dumpall, psql, pg_restore and their libraries kept. A failure or
    /// a cancel leaves nothing that looks installed.
    pub async fn install_tools(
        &self,
        req: ToolsRequest,
        progress: Arc<Progress>,
        cancel: CancelToken,
    ) -> Result<Installed, EngineError> {
        let target = this_target()?;
        let (release, _) = self.plan_tools(&req)?;
        if let (Some(_), ToolsSource::File { path, .. }) = (&req.version, &req.source) {
            let name = path.file_name().map(|n| n.to_string_lossy().to_string());
            if let Some((named, _)) = name.as_deref().and_then(fetch::parse_archive_name)
                && named.pg_version() != release.pg_version()
            {
                return Err(FetchError::NotAnArchive {
                    file: name.unwrap_or_default(),
                    reason: format!("it holds {named}, not the {release} asked for"),
                }
                .into());
            }
        }
        let source = match req.source {
            ToolsSource::Mirror(Some(m)) => fetch::Source::Mirror(Mirror::parse(&m)?),
            ToolsSource::Mirror(None) => fetch::Source::Mirror(self.tools_mirror()?),
            ToolsSource::File { path, sha256 } => fetch::Source::File { path, sha256 },
        };
        let request = InstallRequest {
            release: Some(release),
            source,
            tools_dir: self.tools_dir(),
            target,
        };
        let watch: Arc<dyn fetch::Watch> = progress.clone();
        let outcome = unless_cancelled(&cancel, fetch::install(&request, watch)).await;
        progress.finish();
        let installed = match outcome {
            Ok(Ok(i)) => i,
            Ok(Err(e)) => {
                self.log(
                    Level::Error,
                    None,
                    format!("PostgreSQL {release} client programs not installed: {e}"),
                );
                return Err(e.into());
            }
            Err(cancelled) => return Err(cancelled),
        };
        self.log(
            Level::Info,
            None,
            format!(
                "installed PostgreSQL {} client programs in {} (from {}, SHA-256 {})",
                installed.record.version,
                installed.dir.display(),
                installed.record.source,
                installed.record.archive_sha256
            ),
        );
        Ok(installed)
    }

    /// The programs that back up a server of version `server`, from the
    /// sets found (and the pg-bin-dir setting they were found with); with
    /// `install`, the newest client programs of the server's major are
    /// installed first when none fits.
    pub(crate) async fn tools_for(
        &self,
        found: (Vec<ToolSet>, Option<PathBuf>),
        server: PgVersion,
        install: bool,
        progress: &Arc<Progress>,
        cancel: &CancelToken,
    ) -> Result<ToolSet, EngineError> {
        let (sets, override_dir) = found;
        let err = match choose_tools(&sets, server, override_dir.as_deref()) {
            Ok(t) => return Ok(t),
            Err(e) => e,
        };
        let Some(major) = err.missing_tools_major().filter(|_| install) else {
            return Err(err.into());
        };
        progress.set_current(format!("installing the PostgreSQL {major} client programs"));
        let request = ToolsRequest::for_major(major);
        match self
            .install_tools(request, Arc::new(Progress::new()), cancel.clone())
            .await
        {
            Ok(_) | Err(EngineError::Tools(FetchError::AlreadyInstalled { .. })) => {}
            Err(e) => return Err(e),
        }
        let (sets, override_dir) = self.find_tools().await?;
        Ok(choose_tools(&sets, server, override_dir.as_deref())?)
    }

    /// Removes client programs supabackup installed.
    pub fn remove_tools(&self, version: &str) -> Result<PathBuf, EngineError> {
        let dir = fetch::remove(&self.tools_dir(), version)?;
        self.log(
            Level::Info,
            None,
            format!(
                "removed the PostgreSQL {version} client programs ({})",
                dir.display()
            ),
        );
        Ok(dir)
    }
}

/// This machine's archive target, or why there is none.
fn this_target() -> Result<Target, EngineError> {
    Target::this_machine().ok_or_else(|| {
        FetchError::UnsupportedSystem {
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
        }
        .into()
    })
}
