//! Destinations: where copies of backup sets go (off-site S3-compatible
//! storage, or a second folder).

use crate::domain::{DestinationId, Extra, Sealed, ValidationError, ValidationErrors};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A named place backup sets are copied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// Stable id.
    pub id: DestinationId,
    /// Unique (case-insensitive) name, as `--copy-to` takes it.
    pub name: String,
    /// Where and how.
    pub kind: DestinationKind,
    /// The S3 secret access key, sealed (bound to this destination).
    pub secret: Option<Sealed>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// What later versions add.
    pub extra: Extra<DestinationExtra>,
}

/// What a destination record holds beyond its fixed fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationExtra {}

/// The kinds of destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DestinationKind {
    /// An S3-compatible bucket (AWS S3, Cloudflare R2, Backblaze B2, Wasabi,
    /// MinIO, a Supabase project's Storage S3 endpoint...).
    S3 {
        /// `https://s3.eu-central-1.amazonaws.com`, `https://<account>.r2.cloudflarestorage.com`...
        endpoint: String,
        /// The region (`auto` where the service has none).
        region: String,
        /// The bucket.
        bucket: String,
        /// Keys start with this (no leading or trailing `/`; may be empty).
        prefix: String,
        /// Path-style addressing (`endpoint/bucket/key`) instead of
        /// virtual-host (`bucket.endpoint/key`).
        path_style: bool,
        /// The access key id (not secret; the secret key is sealed).
        access_key_id: String,
    },
    /// A folder: a mounted NAS share, a second disk, a USB stick.
    Folder {
        /// The folder (absolute).
        path: PathBuf,
    },
}

impl Destination {
    /// The associated data its secret is sealed with (binds the sealed
    /// secret to this destination).
    pub fn secret_purpose(&self) -> String {
        format!("destination_secret:{}", self.id)
    }

    /// Where it is, with nothing secret in it: `s3://bucket/prefix at
    /// https://endpoint (key AKIA...)` or the folder.
    pub fn describe(&self) -> String {
        match &self.kind {
            DestinationKind::S3 {
                endpoint,
                bucket,
                prefix,
                access_key_id,
                ..
            } => format!(
                "s3://{bucket}/{prefix} at {endpoint} (access key {})",
                mask_key_id(access_key_id)
            ),
            DestinationKind::Folder { path } => format!("folder {}", path.display()),
        }
    }
}

/// An access key id with its middle hidden: `AKIA…WXYZ`.
pub fn mask_key_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 8 {
        return "****".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// `s3://BUCKET/PREFIX` → (bucket, prefix), checked.
pub fn parse_s3_url(url: &str) -> Result<(String, String), ValidationError> {
    let rest = url.trim().strip_prefix("s3://").ok_or_else(|| {
        ValidationError::new(
            "s3",
            format!("must look like s3://BUCKET/PREFIX (got \"{url}\")"),
        )
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !ok {
        return Err(ValidationError::new(
            "s3",
            format!(
                "bucket \"{bucket}\" must be 3-63 lower-case letters, digits, '-' or '.' (s3://BUCKET/PREFIX)"
            ),
        ));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// Checks an endpoint URL: `http(s)://host[:port][/path]` (see
/// [`crate::domain::validate_url`]).
pub fn validate_endpoint(endpoint: &str) -> Result<String, ValidationError> {
    crate::domain::validate_url("endpoint", endpoint, crate::domain::UrlKind::Endpoint)
}

/// Checks an S3 region (`us-east-1`, `auto`...): it goes into every
/// signed request, so letters, digits, `-` and `_` only.
pub fn validate_region(field: &'static str, region: &str) -> Result<String, ValidationError> {
    let r = region.trim();
    let ok = !r.is_empty()
        && r.len() <= 64
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(r.to_string())
    } else {
        Err(ValidationError::new(
            field,
            "must be a region name such as eu-central-1 (letters, digits, '-'; \"auto\" for R2)",
        ))
    }
}

/// Checks an access key id: it goes into every signed request, so visible
/// ASCII only, without spaces.
pub fn validate_key_id(field: &'static str, id: &str) -> Result<String, ValidationError> {
    let k = id.trim();
    if !k.is_empty() && k.len() <= 256 && k.chars().all(|c| c.is_ascii_graphic()) {
        Ok(k.to_string())
    } else {
        Err(ValidationError::new(
            field,
            "must be the access key id as the provider shows it (visible ASCII, no spaces)",
        ))
    }
}

/// An IP address cannot carry a bucket name in front of it: virtual-host
/// addressing needs a host name.
fn check_virtual_host(endpoint: &str) -> Result<(), ValidationError> {
    let host = url::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()));
    match host {
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => Err(ValidationError::new(
            "endpoint",
            "is an IP address, so the bucket cannot go in front of its host name: add \
             --path-style (MinIO and most self-hosted servers want it)",
        )),
        _ => Ok(()),
    }
}

/// Checks a whole destination's fields, each error naming its field.
pub fn validate_destination(name: &str, kind: &DestinationKind) -> Result<(), ValidationErrors> {
    let mut errors = Vec::new();
    if let Err(e) = crate::domain::validate_name(name.trim()) {
        errors.push(e);
    }
    match kind {
        DestinationKind::S3 {
            endpoint,
            region,
            access_key_id,
            path_style,
            ..
        } => {
            match validate_endpoint(endpoint) {
                Ok(e) if !path_style => errors.extend(check_virtual_host(&e).err()),
                Ok(_) => {}
                Err(e) => errors.push(e),
            }
            if let Err(e) = validate_region("region", region) {
                errors.push(e);
            }
            if access_key_id.trim().is_empty() {
                errors.push(ValidationError::new(
                    "access_key_id",
                    "must be set (--access-key-id or SUPABACKUP_S3_ACCESS_KEY_ID)",
                ));
            } else if let Err(e) = validate_key_id("access_key_id", access_key_id) {
                errors.push(e);
            }
        }
        DestinationKind::Folder { path } => {
            if !path.is_absolute() {
                errors.push(ValidationError::new(
                    "folder",
                    format!("must be an absolute path (got \"{}\")", path.display()),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_and_endpoints_are_checked() {
        assert_eq!(
            parse_s3_url("s3://my-backups/shop/prod/").unwrap(),
            ("my-backups".into(), "shop/prod".into())
        );
        assert_eq!(
            parse_s3_url("s3://bkt").unwrap(),
            ("bkt".into(), String::new())
        );
        assert!(parse_s3_url("https://x").is_err());
        assert!(parse_s3_url("s3://UPPER/x").is_err());
        assert!(validate_endpoint("http://127.0.0.1:9000/").is_ok());
        assert!(validate_endpoint("ftp://x").is_err());
        assert_eq!(mask_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        let errs = validate_destination(
            "",
            &DestinationKind::Folder {
                path: "relative".into(),
            },
        )
        .unwrap_err();
        assert!(errs.for_field("name").is_some() && errs.for_field("folder").is_some());
    }
}
