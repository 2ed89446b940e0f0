//! Supabase-aware diagnosis of a connection string: pooler ports and users,
//! IPv6-only direct hosts, SSL.

use crate::domain::{ConnInfo, SslMode};
use serde::Serialize;
use std::fmt;

/// What kind of Supabase host a connection string points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SupabaseHost {
    /// `db.<ref>.supabase.co`: the direct host, IPv6-only.
    Direct {
        /// The project ref.
        project_ref: String,
    },
    /// `*.pooler.supabase.com`: Supavisor (5432 session, 6543 transaction).
    Pooler,
    /// Another `*.supabase.co` / `*.supabase.com` host.
    Other,
}

/// Classifies a host name, `None` when it is not a Supabase host.
pub fn supabase_host(host: &str) -> Option<SupabaseHost> {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h.ends_with(".pooler.supabase.com") {
        return Some(SupabaseHost::Pooler);
    }
    if let Some(rest) = h.strip_prefix("db.")
        && let Some(project_ref) = rest.strip_suffix(".supabase.co")
        && !project_ref.contains('.')
    {
        return Some(SupabaseHost::Direct {
            project_ref: project_ref.to_string(),
        });
    }
    if h.ends_with(".supabase.co") || h.ends_with(".supabase.com") {
        return Some(SupabaseHost::Other);
    }
    None
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Good to know.
    Info,
    /// Will probably cause trouble.
    Warning,
    /// Backups will fail until fixed.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

/// One line of diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// What it means and what to do.
    pub message: String,
}

impl Finding {
    fn new(severity: Severity, message: impl Into<String>) -> Self {
        Self {
            severity,
            message: message.into(),
        }
    }
}

/// What can be told from the connection string alone.
pub fn diagnose_url(info: &ConnInfo) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(host) = info.host.as_deref() else {
        return out;
    };
    let Some(kind) = supabase_host(host) else {
        return out;
    };
    let port = info.port_or_default();
    let user = info.user.as_deref().unwrap_or("");
    if port == 6543 {
        out.push(Finding::new(
            Severity::Error,
            "port 6543 is Supabase's transaction pooler, which cannot run pg_dump (no session \
             features): use port 5432 on the same host (session pooler) or the direct connection",
        ));
    }
    match &kind {
        SupabaseHost::Pooler => match user.split_once('.') {
            Some((_, project_ref)) if !project_ref.is_empty() => {
                if port == 5432 {
                    out.push(Finding::new(
                        Severity::Info,
                        format!(
                            "session pooler (IPv4) for project {project_ref}: fine for backups"
                        ),
                    ));
                }
            }
            _ => out.push(Finding::new(
                Severity::Error,
                format!(
                    "on the Supabase pooler the user must be postgres.<project-ref> (got \
                         \"{user}\"): copy the string from Connect > Session pooler"
                ),
            )),
        },
        SupabaseHost::Direct { project_ref } => out.push(Finding::new(
            Severity::Info,
            format!(
                "db.{project_ref}.supabase.co is the direct host and is IPv6-only: if this \
                 machine has no IPv6, use the session pooler (Connect > Session pooler: \
                 aws-0-<region>.pooler.supabase.com:5432, user postgres.{project_ref})"
            ),
        )),
        SupabaseHost::Other => {}
    }
    if info.sslmode() == Some(SslMode::Disable) {
        out.push(Finding::new(
            Severity::Warning,
            "sslmode=disable sends the password and data in the clear: Supabase supports TLS, \
             use sslmode=require",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(url: &str) -> Vec<Finding> {
        diagnose_url(&ConnInfo::parse(url).unwrap())
    }

    #[test]
    fn transaction_pooler_port_is_an_error() {
        let f = diag(
            "postgresql://postgres.abc:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres",
        );
        assert!(
            f.iter()
                .any(|f| f.severity == Severity::Error && f.message.contains("5432"))
        );
    }

    #[test]
    fn pooler_user_must_carry_the_ref() {
        let f =
            diag("postgresql://postgres:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres");
        assert!(
            f.iter()
                .any(|f| f.message.contains("postgres.<project-ref>"))
        );
        let ok = diag(
            "postgresql://postgres.abc:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres",
        );
        assert!(ok.iter().all(|f| f.severity == Severity::Info));
    }

    #[test]
    fn direct_host_mentions_ipv6() {
        let f = diag("postgresql://postgres:pw@db.abcdef.supabase.co:5432/postgres");
        assert!(f[0].message.contains("IPv6-only"));
        assert_eq!(
            supabase_host("db.abcdef.supabase.co"),
            Some(SupabaseHost::Direct {
                project_ref: "abcdef".into()
            })
        );
        assert!(diag("postgresql://u:p@localhost/db").is_empty());
    }
}
