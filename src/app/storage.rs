//! Supabase Storage files as the project form sees them, as plain data: the
//! S3 endpoint, region, access key id and secret, the REST API URL and the
//! buckets included or left out, checked as the user types with the
//! engine's own rules and turned into the engine's `StoragePatch` (only
//! what changed; `None` when nothing did). The secret is typed once, sent
//! once and never shown: an edit form starts with it empty, which keeps
//! the one sealed in the vault.

use crate::domain::{
    ConnInfo, StorageS3, ValidationError, derived_api_url, validate_api_url, validate_bucket_name,
    validate_storage_s3,
};
use crate::engine::storage::{S3Change, StoragePatch, StorageView};
use zeroize::Zeroizing;

/// The fields the Storage section shows an error at.
pub const STORAGE_FIELDS: [&str; 7] = [
    "storage_s3_endpoint",
    "storage_s3_region",
    "storage_s3_access_key_id",
    "storage_s3_secret",
    "api_url",
    "storage_include",
    "storage_exclude",
];

/// The project form's "Supabase Storage files" section.
#[derive(Default)]
pub struct StorageForm {
    /// `https://<ref>.storage.supabase.co/storage/v1/s3`.
    pub endpoint: String,
    /// The project's region.
    pub region: String,
    /// The access key id; when editing, empty keeps the saved one (shown
    /// masked in the hint).
    pub access_key_id: String,
    /// The S3 secret: empty keeps the one sealed in the vault.
    pub secret: Zeroizing<String>,
    /// The REST API URL; empty: derived from the connection string.
    pub api_url: String,
    /// Only these buckets, comma-separated (empty: every bucket).
    pub include: String,
    /// Never these buckets, comma-separated.
    pub exclude: String,
    /// Stop using the S3 endpoint (remove it and its secret).
    pub remove_s3: bool,
    /// The engine's view of the project's Storage access (when editing).
    pub saved: Option<StorageView>,
}

/// Bucket names typed comma-separated, trimmed, empty ones left out.
pub fn bucket_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(String::from)
        .collect()
}

impl StorageForm {
    /// The form showing a saved project's Storage access.
    pub fn edit(view: Option<&StorageView>) -> Self {
        let Some(v) = view else {
            return Self::default();
        };
        Self {
            endpoint: v
                .s3
                .as_ref()
                .map(|s| s.endpoint.clone())
                .unwrap_or_default(),
            region: v.s3.as_ref().map(|s| s.region.clone()).unwrap_or_default(),
            api_url: if v.api_url_derived {
                String::new()
            } else {
                v.api_url.clone().unwrap_or_default()
            },
            include: v.include_buckets.join(", "),
            exclude: v.exclude_buckets.join(", "),
            saved: Some(v.clone()),
            ..Self::default()
        }
    }

    fn saved_s3(&self) -> Option<&StorageS3> {
        self.saved.as_ref().and_then(|v| v.s3.as_ref())
    }

    /// A secret is kept in the vault for the saved S3 keys.
    fn secret_kept(&self) -> bool {
        self.saved.as_ref().is_some_and(|v| v.kind == "s3")
    }

    /// The S3 fields differ from what is saved (or, for a new project, one
    /// is typed).
    fn s3_touched(&self) -> bool {
        let saved = self.saved_s3();
        self.endpoint.trim() != saved.map_or("", |s| s.endpoint.as_str())
            || self.region.trim() != saved.map_or("", |s| s.region.as_str())
            || !self.access_key_id.trim().is_empty()
            || !self.secret.trim().is_empty()
    }

    /// The S3 endpoint is being removed.
    fn removing_s3(&self) -> bool {
        self.remove_s3 && self.saved_s3().is_some()
    }

    /// The change the form asks for (`None`: nothing changed), or what is
    /// wrong at its fields: the engine's own rules.
    pub fn change(&self) -> Result<Option<StoragePatch>, Vec<ValidationError>> {
        let mut errors = Vec::new();
        let saved = self.saved.as_ref();
        // The REST API URL: empty goes back to the derived one.
        let saved_url = saved
            .filter(|v| !v.api_url_derived)
            .and_then(|v| v.api_url.clone())
            .unwrap_or_default();
        let url = self.api_url.trim();
        let api_url = if url == saved_url {
            None
        } else if url.is_empty() {
            Some(None)
        } else {
            match validate_api_url(url) {
                Ok(u) => Some(Some(u)),
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        };
        let s3 = if self.removing_s3() {
            Some(None)
        } else if self.s3_touched() {
            let saved_s3 = self.saved_s3();
            let key_id = self.access_key_id.trim();
            let whole = StorageS3 {
                endpoint: self.endpoint.trim().to_string(),
                region: self.region.trim().to_string(),
                access_key_id: if key_id.is_empty() && saved_s3.is_some() {
                    // Kept: the saved one (masked in the view, not checked again).
                    "kept".to_string()
                } else {
                    key_id.to_string()
                },
            };
            if let Err(e) = validate_storage_s3(&whole) {
                errors.push(e);
            }
            let secret = self.secret.trim();
            if secret.is_empty() && !self.secret_kept() {
                errors.push(ValidationError::new(
                    "storage_s3_secret",
                    "is required: the secret access key made with the access key id under \
                     Storage > S3 in the dashboard; it is sealed in the vault",
                ));
            } else if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
                errors.push(ValidationError::new(
                    "storage_s3_secret",
                    "must not contain spaces or line breaks: paste it exactly as the dashboard \
                     shows it",
                ));
            }
            let given = |now: &str, was: Option<&String>| {
                (Some(now) != was.map(String::as_str)).then(|| now.to_string())
            };
            Some(Some(S3Change {
                endpoint: given(self.endpoint.trim(), saved_s3.map(|s| &s.endpoint)),
                region: given(self.region.trim(), saved_s3.map(|s| &s.region)),
                access_key_id: (!key_id.is_empty()).then(|| key_id.to_string()),
                secret: (!secret.is_empty()).then(|| Zeroizing::new(secret.to_string())),
            }))
        } else {
            None
        };
        let mut list = |text: &str, was: Option<&Vec<String>>, field: &'static str| {
            let now = bucket_list(text);
            for b in &now {
                if let Err(e) = validate_bucket_name(b) {
                    errors.push(ValidationError::new(field, e.rule));
                }
            }
            (now.as_slice() != was.map_or(&[][..], Vec::as_slice)).then_some(now)
        };
        let include = list(
            &self.include,
            saved.map(|v| &v.include_buckets),
            "storage_include",
        );
        let exclude = list(
            &self.exclude,
            saved.map(|v| &v.exclude_buckets),
            "storage_exclude",
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        let patch = StoragePatch {
            api_url,
            s3,
            include,
            exclude,
        };
        Ok((!patch.is_empty()).then_some(patch))
    }

    /// Which access backups will use, in words (nothing secret): S3 when
    /// its keys are set, else REST with the service key, else the database
    /// only. `db_url` and `service_key` are the form's.
    pub fn access_words(&self, db_url: &str, service_key: &str) -> String {
        let s3_ready = !self.removing_s3()
            && !self.endpoint.trim().is_empty()
            && !self.region.trim().is_empty()
            && (!self.access_key_id.trim().is_empty() || self.saved_s3().is_some())
            && (!self.secret.trim().is_empty() || self.secret_kept());
        if s3_ready {
            return format!(
                "S3 at {} (region {})",
                self.endpoint.trim(),
                self.region.trim()
            );
        }
        if !service_key.trim().is_empty() {
            let url = self.api_url.trim();
            return if !url.is_empty() {
                format!("the REST API at {url} with the service key")
            } else {
                match ConnInfo::parse(db_url)
                    .ok()
                    .and_then(|i| derived_api_url(&i))
                {
                    Some(u) => format!("the REST API at {u} with the service key"),
                    None => "the database only: the connection string names no Supabase \
                             project, so set the REST API URL (or the S3 keys)"
                        .into(),
                }
            };
        }
        "the database only: no Storage keys (give the S3 keys or the service key)".into()
    }

    /// The REST API URL the connection string gives, for the field's hint.
    pub fn derived_url(db_url: &str) -> Option<String> {
        ConnInfo::parse(db_url)
            .ok()
            .and_then(|i| derived_api_url(&i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> StorageView {
        StorageView {
            kind: "s3",
            access: "S3 at https://abc.storage.supabase.co/storage/v1/s3".into(),
            api_url: Some("https://abc.supabase.co/storage/v1".into()),
            api_url_derived: true,
            s3: Some(StorageS3 {
                endpoint: "https://abc.storage.supabase.co/storage/v1/s3".into(),
                region: "eu-central-1".into(),
                access_key_id: "****abcd".into(),
            }),
            include_buckets: vec!["avatars".into()],
            exclude_buckets: vec![],
        }
    }

    #[test]
    fn an_untouched_edit_changes_nothing_and_an_empty_secret_keeps_the_sealed_one() {
        let mut f = StorageForm::edit(Some(&view()));
        assert!(f.change().unwrap().is_none());
        f.region = "us-east-1".into();
        let p = f.change().unwrap().unwrap();
        let s3 = p.s3.unwrap().unwrap();
        assert_eq!(s3.region.as_deref(), Some("us-east-1"));
        assert!(s3.endpoint.is_none() && s3.access_key_id.is_none() && s3.secret.is_none());
        assert!(p.api_url.is_none() && p.include.is_none() && p.exclude.is_none());
    }

    fn fields_wrong(f: &StorageForm) -> Vec<&'static str> {
        match f.change() {
            Err(errors) => errors.iter().map(|e| e.field).collect(),
            Ok(_) => Vec::new(),
        }
    }

    #[test]
    fn new_s3_keys_need_every_field_and_the_secret() {
        let mut f = StorageForm {
            endpoint: "https://abc.storage.supabase.co/storage/v1/s3".into(),
            ..Default::default()
        };
        let fields = fields_wrong(&f);
        assert_eq!(fields, ["storage_s3_region", "storage_s3_secret"]);
        f.region = "eu-central-1".into();
        f.access_key_id = "AKID".into();
        f.secret = Zeroizing::new("sec ret".into());
        let fields = fields_wrong(&f);
        assert_eq!(fields, ["storage_s3_secret"]);
        f.secret = Zeroizing::new("secret".into());
        assert!(f.access_words("", "").starts_with("S3 at https://abc."));
        assert!(f.change().unwrap().unwrap().s3.unwrap().is_some());
    }

    #[test]
    fn without_s3_the_service_key_gives_rest_at_the_derived_url() {
        let f = StorageForm::default();
        let url = "postgresql://postgres:pw@db.abcdefghij.supabase.co:5432/postgres";
        assert_eq!(
            f.access_words(url, "svc"),
            "the REST API at https://abcdefghij.supabase.co/storage/v1 with the service key"
        );
        assert!(f.access_words(url, "").starts_with("the database only"));
    }
}
