//! "Test connection": what the server is, which pg_dump will be used, the
//! Supabase diagnosis, and (a saved project) its Storage access.

use crate::domain::{ConnInfo, Profile, Project, ProjectId};
use crate::engine::storage::Client;
use crate::engine::{Engine, EngineError, Unlocked};
use crate::pgtools::{
    Finding, ServerInfo, Severity, ToolSet, choose_tools, connect, diagnose_url, server_info,
    supabase_host,
};
use serde::Serialize;
use std::time::Duration;

/// The outcome of a connection test. Failures are inside, so the diagnosis
/// can be shown beside them.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    /// The URL tested, password masked.
    pub db_url: String,
    /// What the URL itself tells.
    pub findings: Vec<Finding>,
    /// The server, when it answered.
    pub server: Option<ServerInfo>,
    /// Why it did not.
    pub connect_error: Option<String>,
    /// The pg_dump that backups will use.
    pub tools: Option<ToolSet>,
    /// Why no pg_dump fits.
    pub tools_error: Option<String>,
    /// The major whose client programs would fit, when none here does
    /// (`supabackup tools install MAJOR`).
    pub tools_missing: Option<u32>,
    /// The profile a backup will use by default.
    pub profile: Option<Profile>,
    /// What the connected role may do, and what that means for a backup
    /// and a restore (a person's words).
    pub role: Option<String>,
    /// How the project's Storage files are reached and what it sees (a
    /// saved project only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageTest>,
}

/// The Storage side of a project test.
#[derive(Debug, Clone, Serialize)]
pub struct StorageTest {
    /// `s3`, `rest` or `none`.
    pub kind: &'static str,
    /// In words: where and which key (masked), or why there is none.
    pub access: String,
    /// The URL its requests go to: the S3 endpoint, or the Storage REST
    /// API found under the API URL as set (`<url>/storage/v1` for the
    /// URL Supabase prints). `None` when it was not reached.
    pub url: Option<String>,
    /// The buckets the access sees.
    pub buckets: Vec<String>,
    /// Why it could not list them.
    pub error: Option<String>,
}

impl TestReport {
    /// True when a backup can run: connected and a pg_dump fits (and the
    /// Storage access, when there is one, answers).
    pub fn ok(&self) -> bool {
        self.server.is_some()
            && self.tools.is_some()
            && !self.findings.iter().any(|f| f.severity == Severity::Error)
            && self.storage.as_ref().is_none_or(|s| s.error.is_none())
    }
}

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default profile: supabase for Supabase hosts or databases with the
/// auth and storage schemas.
pub fn default_profile(info: &ConnInfo, server: Option<&ServerInfo>) -> Profile {
    let host_is_supabase = info.host.as_deref().and_then(supabase_host).is_some();
    if host_is_supabase || server.is_some_and(|s| s.has_supabase_schemas) {
        Profile::Supabase
    } else {
        Profile::Postgres
    }
}

/// What the connected role means for a backup and for a restore into this
/// database.
async fn role_note(client: &tokio_postgres::Client, server: &ServerInfo) -> String {
    let user = &server.current_user;
    if server.superuser {
        return format!(
            "{user}, a superuser: backups keep role passwords, and a restore here may create \
             everything a backup holds"
        );
    }
    // Hosted Supabase lets its postgres set this; plain PostgreSQL only a
    // superuser or a role granted SET on it.
    let replica = client
        .batch_execute("BEGIN; SET LOCAL session_replication_role = replica; ROLLBACK;")
        .await
        .is_ok();
    if !replica {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    let mut note = format!(
        "{user} (not a superuser, as on hosted Supabase): login role passwords cannot be backed \
         up (those roles come back without one, and the backup says which); a restore here runs \
         as {user} and creates only what {user} may"
    );
    if !replica {
        note.push_str(
            "; it may not set session_replication_role, so a restore into tables that already \
             exist fires their triggers and checks their foreign keys while the rows load",
        );
    }
    note
}

impl Unlocked {
    /// Tests a saved project.
    pub async fn test_project(&self, id: ProjectId) -> Result<TestReport, EngineError> {
        let project = self.project(id)?;
        let info = self.project_conninfo(&project)?;
        let (report, storage) =
            tokio::join!(self.test_conninfo(&info), self.test_storage(&project));
        let mut report = report?;
        report.storage = Some(storage?);
        Ok(report)
    }

    /// Which Storage access the project has, and the buckets it sees.
    async fn test_storage(&self, project: &Project) -> Result<StorageTest, EngineError> {
        let access = self.storage_access(project)?;
        let mut test = StorageTest {
            kind: access.kind(),
            access: access.describe(),
            url: None,
            buckets: Vec::new(),
            error: None,
        };
        match Client::open(&access) {
            Ok(Some(client)) => match client.list_buckets().await {
                Ok(found) => {
                    test.url = Some(client.url());
                    test.buckets = found.into_iter().map(|b| b.name).collect();
                }
                Err(e) => test.error = Some(e.to_string()),
            },
            Ok(None) => {}
            Err(e) => test.error = Some(e.to_string()),
        }
        Ok(test)
    }
}

impl Engine {
    /// Tests a connection string (the add form's "Test connection").
    pub async fn test_conninfo(&self, info: &ConnInfo) -> Result<TestReport, EngineError> {
        let mut report = TestReport {
            db_url: info.masked(),
            findings: diagnose_url(info),
            server: None,
            connect_error: None,
            tools: None,
            tools_error: None,
            tools_missing: None,
            profile: None,
            role: None,
            storage: None,
        };
        let (sets, override_dir) = self.find_tools().await?;
        match connect(info, CONNECT_TIMEOUT).await {
            Ok(client) => match server_info(&client, info).await {
                Ok(server) => {
                    match choose_tools(&sets, server.version, override_dir.as_deref()) {
                        Ok(t) => report.tools = Some(t),
                        Err(e) => {
                            report.tools_missing = e.missing_tools_major();
                            report.tools_error = Some(e.to_string());
                        }
                    }
                    report.profile = Some(default_profile(info, Some(&server)));
                    report.role = Some(role_note(&client, &server).await);
                    report.server = Some(server);
                }
                Err(e) => report.connect_error = Some(e.to_string()),
            },
            Err(e) => report.connect_error = Some(e.to_string()),
        }
        Ok(report)
    }
}
