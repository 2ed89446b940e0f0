//! PostgreSQL connection strings: `postgresql://` / `postgres://` URLs and
//! libpq `key=value` strings, parsed into parts so the password can be kept
//! apart (masked for display, handed to child processes out of argv).

use crate::domain::ValidationError;
use std::fmt;
use zeroize::Zeroizing;

const FIELD: &str = "db_url";
const EXAMPLE: &str = "postgresql://postgres:PASSWORD@db.<ref>.supabase.co:5432/postgres";

/// libpq keywords accepted besides host, port, user, password and dbname.
const KNOWN_PARAMS: &[&str] = &[
    "hostaddr",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requirepeer",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// Plain first, TLS if the server insists.
    Allow,
    /// TLS when the server offers it (libpq's default).
    Prefer,
    /// TLS, certificate not checked.
    Require,
    /// TLS, certificate chain checked.
    VerifyCa,
    /// TLS, chain and host name checked.
    VerifyFull,
}

impl SslMode {
    /// Parses a libpq sslmode value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    /// The libpq spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// A parsed connection string. `Display` and `Debug` mask the password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ConnInfo {
    /// Host name, IP address, or a Unix socket folder (starts with `/`).
    pub host: Option<String>,
    /// TCP port; libpq's default is 5432.
    pub port: Option<u16>,
    /// Role to connect as.
    pub user: Option<String>,
    password: Option<Zeroizing<String>>,
    /// Database name; libpq's default is the user name.
    pub dbname: Option<String>,
    /// Other libpq keywords (sslmode among them), in the order given.
    pub params: Vec<(String, String)>,
}

impl ConnInfo {
    /// Parses a URL (`postgresql://` or `postgres://`) or a `key=value` string.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(err(format!("is required, for example {EXAMPLE}")));
        }
        let lower = s.to_ascii_lowercase();
        let info = if let Some(rest) = strip_scheme(s, &lower) {
            parse_url(rest)?
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            return Err(err(
                "this looks like the project's API URL, not its database: copy the connection \
                 string from Supabase (Connect > Direct connection or Session pooler), for example "
                    .to_string()
                    + EXAMPLE,
            ));
        } else if s.contains('=') {
            parse_key_value(s)?
        } else {
            return Err(err(format!(
                "must start with postgresql:// or postgres://, or be key=value pairs \
                 (host=... dbname=...), for example {EXAMPLE}"
            )));
        };
        info.check()?;
        Ok(info)
    }

    /// The password, if the string carried one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref().map(|s| s.as_str())
    }

    /// Replaces the password.
    pub fn set_password(&mut self, password: Option<&str>) {
        self.password = password.map(|p| Zeroizing::new(p.to_string()));
    }

    /// The value of a libpq keyword other than host/port/user/password/dbname.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The sslmode given, if any.
    pub fn sslmode(&self) -> Option<SslMode> {
        self.param("sslmode").and_then(SslMode::parse)
    }

    /// The host, or `localhost` when none is given and the port is TCP.
    pub fn host_or_default(&self) -> &str {
        self.host.as_deref().unwrap_or("localhost")
    }

    /// The port, or 5432.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(5432)
    }

    /// The database name, or the user name, or `postgres`.
    pub fn dbname_or_default(&self) -> &str {
        self.dbname
            .as_deref()
            .or(self.user.as_deref())
            .unwrap_or("postgres")
    }

    /// A copy pointing at another database on the same server.
    pub fn with_dbname(&self, dbname: &str) -> Self {
        let mut c = self.clone();
        c.dbname = Some(dbname.to_string());
        c
    }

    /// The URL with the password shown as `****`: safe to print and log.
    pub fn masked(&self) -> String {
        self.to_url_inner(false).to_string()
    }

    /// The full URL, password included. Keep it sealed; never print it.
    pub fn to_url(&self) -> Zeroizing<String> {
        self.to_url_inner(true)
    }

    fn to_url_inner(&self, with_password: bool) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::from("postgresql://"));
        if let Some(user) = &self.user {
            out.push_str(&pct_encode(user));
            if let Some(pw) = &self.password {
                out.push(':');
                if with_password {
                    out.push_str(&pct_encode(pw));
                } else {
                    out.push_str("****");
                }
            }
            out.push('@');
        }
        if let Some(host) = &self.host {
            if host.contains(':') {
                out.push('[');
                out.push_str(host);
                out.push(']');
            } else {
                out.push_str(&pct_encode(host));
            }
        }
        if let Some(port) = self.port {
            out.push_str(&format!(":{port}"));
        }
        if let Some(db) = &self.dbname {
            out.push('/');
            out.push_str(&pct_encode(db));
        }
        for (i, (k, v)) in self.params.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            out.push('=');
            if k == "sslpassword" && !with_password {
                out.push_str("****");
            } else {
                out.push_str(&pct_encode(v));
            }
        }
        out
    }

    /// A libpq `key=value` string without the password, for the `--dbname`
    /// argument of pg_dump, pg_dumpall and psql (the password goes to the
    /// child's environment instead).
    pub fn libpq_string_without_password(&self) -> String {
        let mut parts = Vec::new();
        let mut push = |k: &str, v: &str| parts.push(format!("{k}={}", libpq_quote(v)));
        if let Some(h) = &self.host {
            push("host", h);
        }
        if let Some(p) = self.port {
            push("port", &p.to_string());
        }
        if let Some(u) = &self.user {
            push("user", u);
        }
        if let Some(d) = &self.dbname {
            push("dbname", d);
        }
        for (k, v) in &self.params {
            if k != "sslpassword" {
                push(k, v);
            }
        }
        parts.join(" ")
    }

    fn check(&self) -> Result<(), ValidationError> {
        if let Some(h) = &self.host {
            if h.contains(',') {
                return Err(err("more than one host is not supported: give one host"));
            }
            if h.is_empty() {
                return Err(err("the host is empty"));
            }
            if h.chars().any(|c| c.is_whitespace()) {
                return Err(err("the host contains a space"));
            }
        }
        if let Some(v) = self.param("sslmode")
            && SslMode::parse(v).is_none()
        {
            return Err(err(format!(
                "sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full \
                 (got \"{v}\")"
            )));
        }
        if let Some(v) = self.param("connect_timeout")
            && v.parse::<u32>().is_err()
        {
            return Err(err(format!(
                "connect_timeout must be a whole number of seconds (got \"{v}\")"
            )));
        }
        Ok(())
    }

    fn set(&mut self, key: &str, value: String) -> Result<(), ValidationError> {
        match key {
            "host" => self.host = Some(value),
            "port" => self.port = Some(parse_port(&value)?),
            "user" => self.user = Some(value),
            "password" => self.password = Some(Zeroizing::new(value)),
            "dbname" => self.dbname = Some(value),
            k if KNOWN_PARAMS.contains(&k) => self.params.push((k.to_string(), value)),
            k => {
                return Err(err(format!(
                    "unknown connection parameter \"{k}\": check its spelling against the \
                     libpq documentation"
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Display for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnInfo({})", self.masked())
    }
}

fn err(rule: impl Into<String>) -> ValidationError {
    ValidationError::new(FIELD, rule)
}

fn strip_scheme<'a>(s: &'a str, lower: &str) -> Option<&'a str> {
    ["postgresql://", "postgres://"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| &s[p.len()..])
}

fn parse_port(v: &str) -> Result<u16, ValidationError> {
    match v.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(err(format!(
            "port must be a number from 1 to 65535 (got \"{}\")",
            v.chars().take(20).collect::<String>()
        ))),
    }
}

fn parse_url(rest: &str) -> Result<ConnInfo, ValidationError> {
    let mut info = ConnInfo::default();
    let query_at = rest.find('?').unwrap_or(rest.len());
    // The last '@' before the query ends the user info, so a password with an
    // unencoded '@' or '/' still parses the way the user meant.
    let (userinfo, remainder) = match rest[..query_at].rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    if let Some(ui) = userinfo {
        let (user, password) = match ui.find(':') {
            Some(c) => (&ui[..c], Some(&ui[c + 1..])),
            None => (ui, None),
        };
        if !user.is_empty() {
            info.user = Some(pct_decode(user, "the user name")?);
        }
        if let Some(pw) = password {
            let decoded = Zeroizing::new(pct_decode(pw, "the password")?);
            info.password = Some(decoded);
        }
    }
    let end_hostport = remainder.find(['/', '?']).unwrap_or(remainder.len());
    let hostport = &remainder[..end_hostport];
    let after = &remainder[end_hostport..];
    parse_hostport(hostport, &mut info)?;
    let (path, query) = match after.find('?') {
        Some(q) => (&after[..q], Some(&after[q + 1..])),
        None => (after, None),
    };
    let db = path.strip_prefix('/').unwrap_or(path);
    if !db.is_empty() {
        info.dbname = Some(pct_decode(db, "the database name")?);
    }
    if let Some(q) = query {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(err(format!(
                    "query parameter \"{}\" has no value: write key=value",
                    pair.chars().take(40).collect::<String>()
                )));
            };
            let k = pct_decode(k, "a parameter name")?;
            let v = pct_decode(v, "a parameter value")?;
            info.set(&k, v)?;
        }
    }
    Ok(info)
}

fn parse_hostport(hostport: &str, info: &mut ConnInfo) -> Result<(), ValidationError> {
    if hostport.is_empty() {
        return Ok(());
    }
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(err("an IPv6 address must be closed with ']'"));
        };
        let after = &inner[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(err("unexpected text after the IPv6 address")),
        };
        (inner[..close].to_string(), port)
    } else {
        match hostport.rfind(':') {
            Some(c) => (
                pct_decode(&hostport[..c], "the host")?,
                Some(&hostport[c + 1..]),
            ),
            None => (pct_decode(hostport, "the host")?, None),
        }
    };
    if !host.is_empty() {
        info.host = Some(host);
    }
    if let Some(p) = port.filter(|p| !p.is_empty()) {
        info.port = Some(parse_port(p)?);
    }
    Ok(())
}

fn parse_key_value(s: &str) -> Result<ConnInfo, ValidationError> {
    let mut info = ConnInfo::default();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(err(format!(
                "\"{}\" is missing '=': write key=value pairs separated by spaces",
                key.chars().take(40).collect::<String>()
            )));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = Zeroizing::new(String::new());
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(err(format!("the value of \"{key}\" has no closing quote")));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        info.set(&key, value.to_string())?;
    }
    Ok(info)
}

fn pct_decode(s: &str, what: &str) -> Result<String, ValidationError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => out.push(b),
                None => {
                    return Err(err(format!(
                        "bad percent-encoding in {what}: '%' must be followed by two hex digits \
                         (write %25 for a literal '%')"
                    )));
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out);
    // Wipe the raw bytes of a password that is not UTF-8 as well.
    decoded.map_err(|e| {
        let mut raw = e.into_bytes();
        zeroize::Zeroize::zeroize(&mut raw);
        err(format!("{what} is not valid UTF-8 after percent-decoding"))
    })
}

fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn libpq_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for c in v.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_supabase_direct_url() {
        let c = ConnInfo::parse(
            "postgresql://postgres:s3cr%40t@db.abcdefghij.supabase.co:5432/postgres?sslmode=require",
        )
        .unwrap();
        assert_eq!(c.host.as_deref(), Some("db.abcdefghij.supabase.co"));
        assert_eq!(c.port, Some(5432));
        assert_eq!(c.user.as_deref(), Some("postgres"));
        assert_eq!(c.password(), Some("s3cr@t"));
        assert_eq!(c.dbname.as_deref(), Some("postgres"));
        assert_eq!(c.sslmode(), Some(SslMode::Require));
    }

    #[test]
    fn both_schemes_and_unencoded_at_in_password() {
        let c = ConnInfo::parse("postgres://u:p@ss/w@localhost/db").unwrap();
        assert_eq!(c.password(), Some("p@ss/w"));
        assert_eq!(c.host.as_deref(), Some("localhost"));
        assert_eq!(c.dbname.as_deref(), Some("db"));
    }

    #[test]
    fn ipv6_host_and_socket_folder() {
        let c = ConnInfo::parse("postgresql://u@[2001:db8::1]:6543/x").unwrap();
        assert_eq!(c.host.as_deref(), Some("2001:db8::1"));
        assert_eq!(c.port, Some(6543));
        let s = ConnInfo::parse("postgresql://%2Fvar%2Frun%2Fpostgresql/db").unwrap();
        assert_eq!(s.host.as_deref(), Some("/var/run/postgresql"));
    }

    #[test]
    fn key_value_strings_with_quotes() {
        let c = ConnInfo::parse(
            "host=127.0.0.1 port = 5433 user=app password='it''s \\'q\\' x' dbname=shop sslmode=disable",
        );
        // libpq does not double quotes: '' closes and reopens, which we reject as
        // an unknown trailing token; the backslash form works.
        assert!(c.is_err());
        let c = ConnInfo::parse(
            "host=127.0.0.1 port = 5433 user=app password='it\\'s x' dbname=shop sslmode=disable",
        )
        .unwrap();
        assert_eq!(c.password(), Some("it's x"));
        assert_eq!(c.port, Some(5433));
        assert_eq!(c.sslmode(), Some(SslMode::Disable));
    }

    #[test]
    fn masked_and_debug_never_show_the_password() {
        let c = ConnInfo::parse("postgresql://postgres:hunter2@h:5432/db").unwrap();
        assert_eq!(c.masked(), "postgresql://postgres:****@h:5432/db");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!c.libpq_string_without_password().contains("hunter2"));
        assert!(c.to_url().contains("hunter2"));
    }

    #[test]
    fn round_trip_through_the_full_url() {
        let c =
            ConnInfo::parse("postgresql://us%20er:p%3Aw%27@host:1/d%2Fb?sslmode=prefer").unwrap();
        let again = ConnInfo::parse(&c.to_url()).unwrap();
        assert_eq!(c, again);
    }

    #[test]
    fn bad_input_names_the_field_and_rule() {
        for (input, needle) in [
            ("", "is required"),
            ("mysql://x", "must start with postgresql://"),
            ("https://abc.supabase.co", "API URL"),
            ("postgresql://u:p@h:99999/db", "port must be a number"),
            ("postgresql://u:p@h:abc/db", "port must be a number"),
            (
                "postgresql://u:p@h/db?sslmode=yes",
                "sslmode must be one of",
            ),
            (
                "postgresql://u:p@h/db?colour=red",
                "unknown connection parameter",
            ),
            (
                "postgresql://u:p%zz@h/db",
                "bad percent-encoding in the password",
            ),
            ("postgresql://u@h1,h2/db", "more than one host"),
            ("host=x port", "missing '='"),
        ] {
            let e = ConnInfo::parse(input).unwrap_err();
            assert_eq!(e.field, "db_url", "{input}");
            assert!(e.rule.contains(needle), "{input}: {}", e.rule);
        }
    }

    #[test]
    fn errors_never_echo_the_password() {
        let e = ConnInfo::parse("postgresql://u:topsecret@h:notaport/db").unwrap_err();
        assert!(!e.to_string().contains("topsecret"));
    }

    #[test]
    fn libpq_string_quotes_values() {
        let c = ConnInfo::parse("postgresql://o%27brien@h/db").unwrap();
        assert_eq!(
            c.libpq_string_without_password(),
            "host='h' user='o\\'brien' dbname='db'"
        );
    }
}
