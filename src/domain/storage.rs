//! Supabase Storage access of a project, as the catalog keeps it (the S3
//! secret is sealed beside the project's other secrets, never here), and
//! the rules its fields obey.

use crate::domain::{ConnInfo, ValidationError};
use serde::{Deserialize, Serialize};

/// How a project's Storage files are reached. Kept in the project's extra
/// fields; `None` there means "nothing set", which still gives REST access
/// when the project has a service key and a Supabase connection string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageSettings {
    /// The Storage REST API (`https://<ref>.supabase.co/storage/v1`), for
    /// self-hosted Supabase or `supabase start`; default derived from the
    /// project ref in the connection string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Storage's S3-compatible endpoint and key id (the secret is sealed in
    /// the vault, slot `storage_s3_secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<StorageS3>,
    /// Only these buckets (empty: every bucket).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_buckets: Vec<String>,
    /// Never these buckets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_buckets: Vec<String>,
}

/// Storage's S3-compatible endpoint, as the dashboard (Storage > S3) shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageS3 {
    /// `https://<ref>.storage.supabase.co/storage/v1/s3` (path-style).
    pub endpoint: String,
    /// The project's region (`eu-central-1`...).
    pub region: String,
    /// The access key id (not secret).
    pub access_key_id: String,
}

impl StorageSettings {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Whether a bucket is backed up under the include/exclude lists.
    pub fn wants_bucket(&self, bucket: &str) -> bool {
        (self.include_buckets.is_empty() || self.include_buckets.iter().any(|b| b == bucket))
            && !self.exclude_buckets.iter().any(|b| b == bucket)
    }
}

/// The Supabase project ref in a connection string: `db.<ref>.supabase.co`
/// (direct) or the pooler user `postgres.<ref>` on `*.pooler.supabase.com`.
pub fn project_ref(info: &ConnInfo) -> Option<String> {
    let host = info
        .host
        .as_deref()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if let Some(r) = host
        .strip_prefix("db.")
        .and_then(|rest| rest.strip_suffix(".supabase.co"))
        .filter(|r| is_ref(r))
    {
        return Some(r.to_string());
    }
    if host.ends_with(".pooler.supabase.com") {
        let user = info.user.as_deref()?;
        let r = user.strip_prefix("postgres.")?;
        if is_ref(r) {
            return Some(r.to_ascii_lowercase());
        }
    }
    None
}

fn is_ref(r: &str) -> bool {
    !r.is_empty() && r.len() <= 40 && r.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The Storage REST API of a hosted project: `https://<ref>.supabase.co/storage/v1`.
pub fn derived_api_url(info: &ConnInfo) -> Option<String> {
    project_ref(info).map(|r| format!("https://{r}.supabase.co/storage/v1"))
}

/// Checks and normalises an API or S3 endpoint URL (`http(s)://...`, no
/// trailing `/`), naming `field` in the error (see
/// [`crate::domain::validate_url`]: the syntax only).
pub fn validate_storage_url(field: &'static str, url: &str) -> Result<String, ValidationError> {
    crate::domain::validate_url(field, url, crate::domain::UrlKind::Endpoint)
}

/// Checks a bucket name given to `--storage-include`/`--storage-exclude`.
pub fn validate_bucket_name(name: &str) -> Result<String, ValidationError> {
    let n = name.trim();
    if n.is_empty() || n.len() > 100 || n.contains('/') || n.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "bucket",
            format!("must be a bucket name without '/' (got \"{n}\")"),
        ));
    }
    Ok(n.to_string())
}

/// Checks the S3 fields together.
pub fn validate_storage_s3(s3: &StorageS3) -> Result<StorageS3, ValidationError> {
    let endpoint = validate_storage_url("storage_s3_endpoint", &s3.endpoint)?;
    if s3.region.trim().is_empty() {
        return Err(ValidationError::new(
            "storage_s3_region",
            "is required: the project's region, such as eu-central-1 (Settings > General)",
        ));
    }
    let region = crate::domain::validate_region("storage_s3_region", &s3.region)?;
    if s3.access_key_id.trim().is_empty() {
        return Err(ValidationError::new(
            "storage_s3_access_key_id",
            "is required: the access key id made under Storage > S3 in the dashboard",
        ));
    }
    let access_key_id =
        crate::domain::validate_key_id("storage_s3_access_key_id", &s3.access_key_id)?;
    Ok(StorageS3 {
        endpoint,
        region,
        access_key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_ref_comes_from_the_direct_host_or_the_pooler_user() {
        let info = |url: &str| ConnInfo::parse(url).unwrap();
        assert_eq!(
            project_ref(&info(
                "postgresql://postgres:pw@db.abcdefghij.supabase.co:5432/postgres"
            ))
            .as_deref(),
            Some("abcdefghij")
        );
        assert_eq!(
            derived_api_url(&info(
                "postgresql://postgres.abcdefghij:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres"
            ))
            .as_deref(),
            Some("https://abcdefghij.supabase.co/storage/v1")
        );
        assert_eq!(
            project_ref(&info("postgresql://postgres:pw@127.0.0.1:5432/db")),
            None
        );
        assert_eq!(
            project_ref(&info(
                "postgresql://postgres:pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres"
            )),
            None
        );
    }

    #[test]
    fn fields_are_checked() {
        assert_eq!(
            validate_storage_url("api_url", " http://127.0.0.1:5000/ ").unwrap(),
            "http://127.0.0.1:5000"
        );
        assert!(validate_storage_url("api_url", "ftp://x").is_err());
        assert!(validate_bucket_name("a/b").is_err());
        let s3 = StorageS3 {
            endpoint: "https://x.storage.supabase.co/storage/v1/s3".into(),
            region: String::new(),
            access_key_id: "k".into(),
        };
        assert_eq!(
            validate_storage_s3(&s3).unwrap_err().field,
            "storage_s3_region"
        );
        let settings = StorageSettings {
            include_buckets: vec!["a".into(), "b".into()],
            exclude_buckets: vec!["b".into()],
            ..Default::default()
        };
        assert!(settings.wants_bucket("a"));
        assert!(!settings.wants_bucket("b"));
        assert!(!settings.wants_bucket("c"));
        assert!(StorageSettings::default().wants_bucket("c"));
    }
}
