//! The one check every URL a person types goes through (S3 endpoints,
//! Storage API and S3 URLs, webhooks): the syntax only, so that whatever
//! later sends a request to it can build one (the HTTP stack and the S3
//! signer panic on a URL they cannot parse), and a mistake is named where
//! it is made.

use crate::domain::ValidationError;

/// The longest URL taken: far above any real endpoint, well below what the
/// HTTP stack refuses.
const MAX_LEN: usize = 2000;

/// What a URL may hold beyond scheme, host, port and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// An endpoint requests are built on (`endpoint/bucket/key`): no
    /// `?query` or `#fragment`.
    Endpoint,
    /// A URL called as it is (a webhook): a `?query` is kept.
    Call,
}

/// Checks `text` as an `http://` or `https://` URL and returns it trimmed,
/// without a trailing `/`. The error names `field` and the part that is
/// wrong: a control character or space, the scheme, the host (missing, too
/// long, not a host name or address), the port (1-65535), a user name or
/// password in it, a query or fragment where none belongs.
pub fn validate_url(
    field: &'static str,
    text: &str,
    kind: UrlKind,
) -> Result<String, ValidationError> {
    let wrong = |why: String| ValidationError::new(field, why);
    let trimmed = text.trim();
    let shown = shown(trimmed);
    if trimmed.is_empty() {
        return Err(wrong(
            "is empty: give an http:// or https:// URL such as https://s3.example.com".into(),
        ));
    }
    if let Some((i, c)) = trimmed
        .char_indices()
        .find(|(_, c)| c.is_control() || c.is_whitespace())
    {
        let what = if c.is_whitespace() && !c.is_control() {
            "a space".to_string()
        } else {
            format!("the control character U+{:04X}", c as u32)
        };
        return Err(wrong(format!(
            "contains {what} at position {} (\"{shown}\"): type the URL again without it",
            trimmed[..i].chars().count() + 1
        )));
    }
    if let Some(c) = trimmed.chars().find(|c| !c.is_ascii()) {
        return Err(wrong(format!(
            "contains the non-ASCII character '{c}' (\"{shown}\"): write a host name in its \
             xn-- form and percent-encode the path"
        )));
    }
    if trimmed.len() > MAX_LEN {
        return Err(wrong(format!(
            "is {} characters long, more than the {MAX_LEN} taken",
            trimmed.len()
        )));
    }
    // Trailing `/` dropped after the scheme's, not from it (`http://`).
    let u = match trimmed.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.trim_end_matches('/')),
        None => trimmed.to_string(),
    };
    let lower = u.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(wrong(format!(
            "must be an http:// or https:// URL (got \"{shown}\")"
        )));
    }
    // The scheme in lower case, as everything after compares it.
    let (scheme, rest) = u.split_once("://").unwrap_or(("https", &u));
    let u = format!("{}://{rest}", scheme.to_ascii_lowercase());
    let parsed = url::Url::parse(&u).map_err(|e| wrong(parse_error(e, &shown)))?;
    check_parts(&parsed, &u, kind, &shown).map_err(wrong)?;
    // What the HTTP stack builds on it must parse there too.
    let probe = match kind {
        UrlKind::Endpoint => format!("{u}/bucket/key"),
        UrlKind::Call => u.clone(),
    };
    if probe.parse::<http::Uri>().is_err() {
        return Err(wrong(format!(
            "is not a URL requests can be sent to (\"{shown}\")"
        )));
    }
    Ok(u)
}

/// The URL as an error message shows it: at most 100 characters.
fn shown(text: &str) -> String {
    let mut s: String = text
        .chars()
        .take(100)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > 100 {
        s.push('…');
    }
    s
}

/// The part a parse error is about, in words.
fn parse_error(e: url::ParseError, shown: &str) -> String {
    use url::ParseError as P;
    let what = match e {
        P::EmptyHost => "has no host: give one, as in https://s3.example.com".to_string(),
        P::InvalidPort => "has a port that is not a number from 1 to 65535".to_string(),
        P::InvalidIpv4Address => "has a host that is not a valid IPv4 address".to_string(),
        P::InvalidIpv6Address => "has a host that is not a valid IPv6 address (in brackets, \
                                  as http://[2001:db8::1]:9000; zone ids such as %eth0 are not \
                                  supported)"
            .to_string(),
        P::InvalidDomainCharacter | P::IdnaError => {
            "has a host with a character a host name cannot have".to_string()
        }
        other => format!("is not a URL ({other})"),
    };
    format!("{what} (got \"{shown}\")")
}

/// Host, port, credentials, query and fragment of a parsed URL; `raw` is
/// what was typed.
fn check_parts(u: &url::Url, raw: &str, kind: UrlKind, shown: &str) -> Result<(), String> {
    let Some(host) = u.host_str().filter(|h| !h.is_empty()) else {
        return Err(format!(
            "has no host: give one, as in https://s3.example.com (got \"{shown}\")"
        ));
    };
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!(
            "must not hold a user name or password (got \"{}\"): keys are given apart, and \
             sealed",
            redacted(u)
        ));
    }
    if u.port() == Some(0) {
        return Err(format!(
            "has a port that is not a number from 1 to 65535 (got \"{shown}\")"
        ));
    }
    let typed = typed_host(raw);
    // An IPv6 address may be written many ways; anything else must be read
    // as typed (`http://1` is 0.0.0.1 to a URL parser, `010.0.0.1` 8.0.0.1).
    let ipv6 = matches!(u.host(), Some(url::Host::Ipv6(_)));
    if !ipv6 && !typed.eq_ignore_ascii_case(host) {
        return Err(format!(
            "has the host \"{typed}\", which would be read as \"{host}\": write the host name or \
             the full address (a.b.c.d) you mean"
        ));
    }
    if let Some(url::Host::Domain(d)) = u.host() {
        if d.len() > 253 {
            return Err(format!(
                "has a host name of {} characters: at most 253",
                d.len()
            ));
        }
        let labels = d.strip_suffix('.').unwrap_or(d);
        if let Some(label) = labels.split('.').find(|l| l.is_empty() || l.len() > 63) {
            return Err(format!(
                "has a host name with a part of {} characters (\"{}\"): each part between dots \
                 is 1 to 63 characters",
                label.len(),
                shown_part(label)
            ));
        }
    }
    if kind == UrlKind::Endpoint && (u.query().is_some() || u.fragment().is_some()) {
        return Err(format!(
            "must not have a ?query or #fragment: give the endpoint alone (got \"{shown}\")"
        ));
    }
    if u.fragment().is_some() {
        return Err(format!("must not have a #fragment (got \"{shown}\")"));
    }
    Ok(())
}

/// The host as typed: between `://` and the first `/`, `?` or `#`, without
/// a port.
fn typed_host(raw: &str) -> &str {
    let rest = raw.split_once("://").map_or(raw, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return host_port
            .find(']')
            .map_or(host_port, |end| &host_port[..=end]);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

/// A long label shortened for a message.
fn shown_part(label: &str) -> String {
    if label.len() > 20 {
        format!("{}…", &label[..20])
    } else {
        label.to_string()
    }
}

/// The URL with its password masked, for a message.
fn redacted(u: &url::Url) -> String {
    let mut u = u.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("****"));
    }
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> String {
        validate_url("endpoint", text, UrlKind::Endpoint)
            .unwrap_err()
            .rule
    }

    #[test]
    fn good_urls_come_back_trimmed() {
        for (given, kept) in [
            (" http://127.0.0.1:9000/ ", "http://127.0.0.1:9000"),
            (
                "https://s3.eu-central-1.amazonaws.com",
                "https://s3.eu-central-1.amazonaws.com",
            ),
            (
                "https://abc.storage.supabase.co/storage/v1/s3",
                "https://abc.storage.supabase.co/storage/v1/s3",
            ),
            ("http://[2001:db8::1]:9000", "http://[2001:db8::1]:9000"),
            ("http://localhost:54321", "http://localhost:54321"),
            ("HTTPS://Example.COM/x", "https://Example.COM/x"),
            ("http://[2001:DB8:0::1]", "http://[2001:DB8:0::1]"),
        ] {
            assert_eq!(
                validate_url("endpoint", given, UrlKind::Endpoint).unwrap(),
                kept
            );
        }
        assert_eq!(
            validate_url(
                "webhook",
                "https://hooks.example.com/x?token=1",
                UrlKind::Call
            )
            .unwrap(),
            "https://hooks.example.com/x?token=1"
        );
    }

    #[test]
    fn each_wrong_part_is_named() {
        assert!(rule("http://127.0.0.1:9000\x04").contains("control character U+0004"));
        assert!(rule("http://127.0.0.1:9000\x04").contains("position 22"));
        assert!(rule("http://a b").contains("a space"));
        assert!(rule("http://[2001:db8::1]:99999").contains("port"));
        assert!(rule("http://127.0.0.1:0").contains("port"));
        assert!(rule("http://127.0.0.1:9000é").contains("non-ASCII"));
        assert!(rule("http://[g::1]/").contains("IPv6"));
        assert!(rule("http://[fe80::1%eth0]:9000").contains("IPv6"));
        assert!(rule("ftp://x").contains("http:// or https://"));
        assert!(rule("s3.amazonaws.com").contains("http:// or https://"));
        assert!(rule("http://").contains("host"));
        assert!(rule("http://:9000").contains("host"));
        assert!(rule("http://1").contains("would be read as \"0.0.0.1\""));
        assert!(rule(&format!("http://{}.com", "a".repeat(64))).contains("1 to 63"));
        assert!(rule(&format!("http://{}", "abc.".repeat(70))).contains("at most 253"));
        assert!(rule(&format!("http://a.com/{}", "p".repeat(3000))).contains("characters long"));
        assert!(rule("http://key:secret@s3.example.com").contains("user name or password"));
        assert!(!rule("http://key:secret@s3.example.com").contains("secret"));
        assert!(rule("http://s3.example.com/?x=1").contains("?query"));
        assert!(rule("").contains("empty"));
    }
}
