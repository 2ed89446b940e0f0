//! Native connections (tokio-postgres + rustls), honouring libpq's sslmode.

use crate::domain::{ConnInfo, SslMode};
use crate::pgtools::PgError;
use crate::pgtools::diagnose::{SupabaseHost, supabase_host};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// Connects and returns a client; the connection task runs on the current
/// tokio runtime and ends when the client is dropped.
pub async fn connect(
    info: &ConnInfo,
    timeout: Duration,
) -> Result<tokio_postgres::Client, PgError> {
    let cfg = config(info, timeout)?;
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(info)?);
    let target = target(info);
    let attempt = tokio::time::timeout(timeout + Duration::from_secs(1), cfg.connect(tls)).await;
    let (client, connection) = match attempt {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => {
            return Err(PgError::Connect {
                target,
                reason: describe(&e, info, timeout),
            });
        }
        Err(_) => {
            return Err(PgError::Connect {
                target,
                reason: timeout_reason(info, timeout),
            });
        }
    };
    tokio::spawn(async move {
        // The connection ends with an error when the server goes away; the
        // client's next query reports it, so nothing to do here.
        let _ = connection.await;
    });
    Ok(client)
}

/// `host:port/db` for messages: never the password.
pub(crate) fn target(info: &ConnInfo) -> String {
    format!(
        "{}:{}/{}",
        info.host_or_default(),
        info.port_or_default(),
        info.dbname_or_default()
    )
}

fn config(info: &ConnInfo, timeout: Duration) -> Result<tokio_postgres::Config, PgError> {
    let mut cfg = tokio_postgres::Config::new();
    match info.host.as_deref() {
        #[cfg(unix)]
        Some(h) if h.starts_with('/') => {
            cfg.host_path(h);
        }
        // tokio-postgres has Unix-socket hosts on Unix only: elsewhere say
        // so plainly rather than fail a DNS lookup of a folder name.
        #[cfg(not(unix))]
        Some(h) if h.starts_with('/') => {
            return Err(PgError::Connect {
                target: target(info),
                reason: format!(
                    "\"{h}\" is a Unix-socket folder, which this system cannot connect to: give a host name"
                ),
            });
        }
        Some(h) => {
            cfg.host(h);
        }
        None => {
            cfg.host("localhost");
        }
    }
    cfg.port(info.port_or_default());
    let user = info
        .user
        .clone()
        .or_else(|| std::env::var("PGUSER").ok())
        .unwrap_or_else(|| "postgres".into());
    cfg.user(user);
    if let Some(pw) = info.password() {
        cfg.password(pw);
    } else if let Ok(pw) = std::env::var("PGPASSWORD") {
        cfg.password(pw);
    }
    cfg.dbname(info.dbname_or_default());
    cfg.application_name("supabackup");
    let connect_timeout = info
        .param("connect_timeout")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .unwrap_or(timeout);
    cfg.connect_timeout(connect_timeout);
    if let Some(addr) = info.param("hostaddr") {
        let ip = addr.parse().map_err(|_| PgError::Connect {
            target: target(info),
            reason: format!("hostaddr \"{addr}\" is not an IP address"),
        })?;
        cfg.hostaddr(ip);
    }
    if let Some(opts) = info.param("options") {
        cfg.options(opts);
    }
    cfg.ssl_mode(match info.sslmode().unwrap_or(SslMode::Prefer) {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    if info.param("sslnegotiation") == Some("direct") {
        cfg.ssl_negotiation(tokio_postgres::config::SslNegotiation::Direct);
    }
    Ok(cfg)
}

fn tls_config(info: &ConnInfo) -> Result<rustls::ClientConfig, PgError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls(e.to_string()))?;
    let mode = info.sslmode().unwrap_or(SslMode::Prefer);
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(root_store(info.param("sslrootcert"))?);
            let webpki =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| PgError::Tls(e.to_string()))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
        // libpq's require/prefer encrypt without checking the certificate.
        _ => Arc::new(NoVerify(provider)),
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

fn root_store(sslrootcert: Option<&str>) -> Result<rustls::RootCertStore, PgError> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match sslrootcert {
        Some(path) if path != "system" => {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                PgError::Tls(format!(
                    "cannot read sslrootcert {path}: {e}; download the CA certificate (Supabase: \
                     Project Settings > Database > SSL) and point sslrootcert at it"
                ))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| PgError::Tls(format!("sslrootcert {path}: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| PgError::Tls(format!("sslrootcert {path}: {e}")))?;
            }
        }
        _ => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

/// Accepts any certificate but still checks handshake signatures: libpq's
/// `sslmode=require` semantics.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks the chain but not the host name: libpq's `sslmode=verify-ca`.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                NotValidForName | NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn timeout_reason(info: &ConnInfo, timeout: Duration) -> String {
    let mut reason = format!(
        "no answer within {}s: check the host and port, and that a firewall lets you through",
        timeout.as_secs()
    );
    reason.push_str(&ipv6_hint(info));
    reason
}

fn ipv6_hint(info: &ConnInfo) -> String {
    match info.host.as_deref().and_then(supabase_host) {
        Some(SupabaseHost::Direct { project_ref }) => format!(
            ". db.{project_ref}.supabase.co is IPv6-only: if this network has no IPv6, use the \
             session pooler instead (Supabase: Connect > Session pooler; host \
             aws-0-<region>.pooler.supabase.com, port 5432, user postgres.{project_ref})"
        ),
        _ => String::new(),
    }
}

/// A query error in one line: the server's own message when it sent one.
pub fn db_message(e: tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// Turns a connection error into what happened and what to do.
fn describe(e: &tokio_postgres::Error, info: &ConnInfo, timeout: Duration) -> String {
    let user = info.user.as_deref().unwrap_or("postgres");
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD {
            return format!(
                "password authentication failed for user \"{user}\": check the password in the \
                 connection string (Supabase: Project Settings > Database > Reset database password)"
            );
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return format!(
                "database \"{}\" does not exist: check the name after the last '/' (Supabase uses postgres)",
                info.dbname_or_default()
            );
        }
        if *code == SqlState::TOO_MANY_CONNECTIONS {
            return "the server has no free connections: close other clients or try again later"
                .into();
        }
        let msg = db.message();
        if msg.contains("Tenant or user not found") {
            return format!(
                "the Supabase pooler does not know user \"{user}\": on the pooler the user is \
                 postgres.<project-ref>, as shown under Connect > Session pooler"
            );
        }
        return format!("the server refused the connection: {msg}");
    }
    let chain = error_chain(e);
    let lower = chain.to_lowercase();
    let host = info.host_or_default();
    let port = info.port_or_default();
    let mut reason = if lower.contains("refused") {
        format!(
            "connection refused: is PostgreSQL running on {host} port {port} and accepting TCP connections?"
        )
    } else if lower.contains("lookup")
        || lower.contains("resolve")
        || lower.contains("name or service")
    {
        format!("the host name {host} does not resolve: check it for typos")
    } else if lower.contains("unreachable") {
        format!("the network cannot reach {host}")
    } else if lower.contains("timed out") || lower.contains("timeout") {
        format!("no answer within {}s from {host}:{port}", timeout.as_secs())
    } else if lower.contains("tls") || lower.contains("certificate") || lower.contains("ssl") {
        format!(
            "TLS failed ({chain}): with sslmode=verify-full or verify-ca, point sslrootcert at the \
             server's CA certificate; or use sslmode=require"
        )
    } else if lower.contains("password missing") {
        "the server asks for a password and the connection string has none: add it as \
         postgresql://user:PASSWORD@host/db"
            .to_string()
    } else {
        chain
    };
    if !lower.contains("password") {
        reason.push_str(&ipv6_hint(info));
    }
    reason
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Quotes an SQL identifier: `my "t"` → `"my ""t"""`.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes an SQL string literal: `it's` → `'it''s'`.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
