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

/// The path of an `http(s)://host[:port]/path` URL, without a trailing `/`
/// (`""` for none).
fn url_path(url: &str) -> &str {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    rest.find('/')
        .map_or("", |i| &rest[i..])
        .trim_end_matches('/')
}

/// The Storage REST path a gateway (Supabase's Kong, the hosted project URL)
/// serves Storage under.
pub const STORAGE_API_PATH: &str = "/storage/v1";

/// True when `url` is Storage's S3-compatible endpoint
/// (`.../storage/v1/s3`), which is not the REST API.
pub fn is_storage_s3_endpoint(url: &str) -> bool {
    url_path(url.trim())
        .to_ascii_lowercase()
        .ends_with("/storage/v1/s3")
}

/// Checks an `--api-url` the way people copy it: the API URL Supabase prints
/// (`http://127.0.0.1:54321`, `https://<ref>.supabase.co`), the Storage URL
/// under it (`.../storage/v1`) or a Storage server's own URL; a trailing `/`
/// is dropped. Storage's S3 endpoint is refused with what to give instead.
pub fn validate_api_url(url: &str) -> Result<String, ValidationError> {
    let url = validate_storage_url("api_url", url)?;
    if is_storage_s3_endpoint(&url) {
        return Err(ValidationError::new(
            "api_url",
            format!(
                "{url} is Storage's S3 endpoint, not its REST API: give --api-url the API URL \
                 Supabase prints (`supabase status`: API URL, such as http://127.0.0.1:54321; \
                 the dashboard: https://PROJECT.supabase.co), or use this endpoint with \
                 --storage-s3-endpoint and the S3 keys"
            ),
        ));
    }
    Ok(url)
}

/// Where Storage's REST API may be, given the URL a person set, in the order
/// to try: the URL itself when it ends in `/storage/v1`; otherwise the
/// gateway form (`<url>/storage/v1`, as `supabase status` and the dashboard
/// print the base) first, then the URL itself (a Storage server reached
/// directly serves the API at its root).
pub fn storage_api_candidates(url: &str) -> Vec<String> {
    let url = url.trim().trim_end_matches('/');
    if url_path(url)
        .to_ascii_lowercase()
        .ends_with(STORAGE_API_PATH)
    {
        vec![url.to_string()]
    } else {
        vec![format!("{url}{STORAGE_API_PATH}"), url.to_string()]
    }
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
    fn the_api_url_is_tried_as_printed_then_as_a_storage_server() {
        assert_eq!(
            storage_api_candidates("http://127.0.0.1:54321"),
            [
                "http://127.0.0.1:54321/storage/v1",
                "http://127.0.0.1:54321"
            ]
        );
        assert_eq!(
            storage_api_candidates("https://abc.supabase.co/"),
            [
                "https://abc.supabase.co/storage/v1",
                "https://abc.supabase.co"
            ]
        );
        assert_eq!(
            storage_api_candidates("https://abc.supabase.co/storage/v1/"),
            ["https://abc.supabase.co/storage/v1"]
        );
        assert_eq!(
            storage_api_candidates("http://gw.local/supabase/STORAGE/V1"),
            ["http://gw.local/supabase/STORAGE/V1"]
        );
        assert!(is_storage_s3_endpoint(
            "https://abc.storage.supabase.co/storage/v1/s3"
        ));
        assert!(!is_storage_s3_endpoint("https://s3.example.com"));
        assert!(!is_storage_s3_endpoint(
            "https://abc.supabase.co/storage/v1"
        ));
    }

    #[test]
    fn fields_are_checked() {
        assert_eq!(
            validate_storage_url("api_url", " http://127.0.0.1:5000/ ").unwrap(),
            "http://127.0.0.1:5000"
        );
        assert!(validate_storage_url("api_url", "ftp://x").is_err());
        assert_eq!(
            validate_api_url("http://127.0.0.1:54321/").unwrap(),
            "http://127.0.0.1:54321"
        );
        let e = validate_api_url("https://abc.storage.supabase.co/storage/v1/s3/").unwrap_err();
        assert!(e.rule.contains("--storage-s3-endpoint"), "{}", e.rule);
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
