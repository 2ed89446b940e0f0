//! A project's Storage access: resolved from its settings and sealed
//! secrets (S3 keys first, then the service key), shown masked, changed.

use super::{Access, RestAccess, S3Access};
use crate::domain::{
    ConnInfo, Level, Project, ProjectId, SecretSlot, StorageS3, StorageSettings, ValidationError,
    derived_api_url, validate_api_url, validate_bucket_name, validate_storage_s3,
};
use crate::engine::{EngineError, Unlocked};
use serde::Serialize;
use zeroize::Zeroizing;

/// Changes to a project's Storage access; `None` keeps a field.
#[derive(Default)]
pub struct StoragePatch {
    /// The API URL: `Some(None)` goes back to the one derived from the
    /// connection string.
    pub api_url: Option<Option<String>>,
    /// The S3 endpoint: `Some(None)` removes it (`--no-storage-s3`).
    pub s3: Option<Option<S3Change>>,
    /// Only these buckets (empty: all).
    pub include: Option<Vec<String>>,
    /// Never these buckets.
    pub exclude: Option<Vec<String>>,
}

impl StoragePatch {
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.api_url.is_none()
            && self.s3.is_none()
            && self.include.is_none()
            && self.exclude.is_none()
    }

    /// Checks it as the whole Storage access of a new project (every S3
    /// field and the secret given), so a project is not added half-set.
    pub fn check_new(&self) -> Result<(), EngineError> {
        if let Some(Some(url)) = &self.api_url {
            validate_api_url(url)?;
        }
        if let Some(Some(s3)) = &self.s3 {
            validate_storage_s3(&StorageS3 {
                endpoint: s3.endpoint.clone().unwrap_or_default(),
                region: s3.region.clone().unwrap_or_default(),
                access_key_id: s3.access_key_id.clone().unwrap_or_default(),
            })?;
            if s3.secret.as_ref().is_none_or(|s| s.trim().is_empty()) {
                return Err(ValidationError::new(
                    "storage_s3_secret",
                    "is required: give it in SUPABACKUP_STORAGE_S3_SECRET (or on the prompt); it \
                     is sealed in the vault",
                )
                .into());
            }
        }
        for b in self.include.iter().chain(self.exclude.iter()).flatten() {
            if !b.trim().is_empty() {
                validate_bucket_name(b)?;
            }
        }
        Ok(())
    }
}

/// The S3 fields given; the others keep their value.
#[derive(Default)]
pub struct S3Change {
    /// The endpoint.
    pub endpoint: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret (required when none is kept yet).
    pub secret: Option<Zeroizing<String>>,
}

/// A project's Storage access as shown: nothing secret.
#[derive(Debug, Clone, Serialize)]
pub struct StorageView {
    /// `s3`, `rest` or `none`.
    pub kind: &'static str,
    /// In words: where, which key (masked), or why none.
    pub access: String,
    /// The API URL in use, if any.
    pub api_url: Option<String>,
    /// It is derived from the connection string (not set by hand).
    pub api_url_derived: bool,
    /// The S3 endpoint, region and key id (masked), when set.
    pub s3: Option<StorageS3>,
    /// Only these buckets (empty: all).
    pub include_buckets: Vec<String>,
    /// Never these buckets.
    pub exclude_buckets: Vec<String>,
}

/// The API URL a project's REST access uses: the one set, else derived.
fn api_url(settings: &StorageSettings, info: Option<&ConnInfo>) -> (Option<String>, bool) {
    match &settings.api_url {
        Some(u) => (Some(u.clone()), false),
        None => (info.and_then(derived_api_url), true),
    }
}

impl Unlocked {
    /// How the project's Storage files are reached: S3 when its keys are
    /// set, else REST with the service key, else none (and why).
    pub fn storage_access(&self, project: &Project) -> Result<Access, EngineError> {
        let settings = project.extra.storage.clone().unwrap_or_default();
        if let Some(s3) = &settings.s3 {
            return Ok(
                match self.project_secret(project, SecretSlot::StorageS3Secret)? {
                    Some(secret) if !secret.is_empty() => Access::S3(S3Access {
                        endpoint: s3.endpoint.clone(),
                        region: s3.region.clone(),
                        access_key_id: s3.access_key_id.clone(),
                        secret,
                    }),
                    _ => Access::None(format!(
                        "the Storage S3 secret of \"{}\" is not in the vault: give it again with \
                         SUPABACKUP_STORAGE_S3_SECRET=... supabackup project edit \"{}\" \
                         --storage-s3-access-key-id {}",
                        project.name, project.name, s3.access_key_id
                    )),
                },
            );
        }
        let info = self.project_conninfo(project).ok();
        let (url, _) = api_url(&settings, info.as_ref());
        Ok(
            match (self.project_secret(project, SecretSlot::ServiceKey)?, url) {
                (Some(key), Some(api_url)) if !key.is_empty() => Access::Rest(RestAccess {
                    api_url,
                    service_key: key,
                }),
                (Some(_), None) => Access::None(
                    "the connection string names no Supabase project, so the Storage API URL is \
                     unknown: set it with --api-url URL"
                        .into(),
                ),
                _ => Access::None(
                    "no Storage keys: give the S3 keys (--storage-s3-endpoint, \
                     --storage-s3-region, --storage-s3-access-key-id) or the service key \
                     (--service-key)"
                        .into(),
                ),
            },
        )
    }

    /// The project's Storage access as shown.
    pub fn storage_view(&self, project: &Project) -> Result<StorageView, EngineError> {
        let settings = project.extra.storage.clone().unwrap_or_default();
        let access = self.storage_access(project)?;
        let info = self.project_conninfo(project).ok();
        let (api_url, derived) = api_url(&settings, info.as_ref());
        Ok(StorageView {
            kind: access.kind(),
            access: access.describe(),
            api_url,
            api_url_derived: derived,
            s3: settings.s3.as_ref().map(|s| StorageS3 {
                access_key_id: crate::domain::mask_key_id(&s.access_key_id),
                ..s.clone()
            }),
            include_buckets: settings.include_buckets,
            exclude_buckets: settings.exclude_buckets,
        })
    }

    /// Changes how the project's Storage files are reached; the S3 secret
    /// is sealed in the vault.
    pub fn set_storage(&self, id: ProjectId, patch: StoragePatch) -> Result<Project, EngineError> {
        let mut project = self.project(id)?;
        self.apply_storage(&mut project, patch)?;
        project.updated_at = chrono::Utc::now();
        self.catalog().update_project(&project)?;
        self.log(Level::Info, Some(id), self.storage_line(&project)?);
        Ok(project)
    }

    /// How the project's Storage files are reached, for the activity log.
    pub(crate) fn storage_line(&self, project: &Project) -> Result<String, EngineError> {
        Ok(format!(
            "Storage access of \"{}\": {}",
            project.name,
            self.storage_access(project)?.describe()
        ))
    }

    /// [`Self::set_storage`] on a record in memory: checked, the secret
    /// sealed, not written.
    pub(crate) fn apply_storage(
        &self,
        project: &mut Project,
        patch: StoragePatch,
    ) -> Result<(), EngineError> {
        let id = project.id;
        let mut settings = project.extra.storage.clone().unwrap_or_default();
        let mut secret: Option<Option<Zeroizing<String>>> = None;
        if let Some(url) = patch.api_url {
            settings.api_url = match url.filter(|u| !u.trim().is_empty()) {
                Some(u) => Some(validate_api_url(&u)?),
                None => None,
            };
        }
        match patch.s3 {
            None => {}
            Some(None) => {
                settings.s3 = None;
                secret = Some(None);
            }
            Some(Some(change)) => {
                let old = settings.s3.clone();
                let pick = |given: Option<String>, old: Option<&String>| {
                    given.or_else(|| old.cloned()).unwrap_or_default()
                };
                let s3 = validate_storage_s3(&StorageS3 {
                    endpoint: pick(change.endpoint, old.as_ref().map(|o| &o.endpoint)),
                    region: pick(change.region, old.as_ref().map(|o| &o.region)),
                    access_key_id: pick(
                        change.access_key_id,
                        old.as_ref().map(|o| &o.access_key_id),
                    ),
                })?;
                let kept = project.sealed(SecretSlot::StorageS3Secret).is_some();
                match change.secret.filter(|s| !s.trim().is_empty()) {
                    Some(s) => {
                        let s = s.trim();
                        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                            return Err(ValidationError::new(
                                "storage_s3_secret",
                                "must not contain spaces or line breaks: paste it exactly as \
                                 the dashboard shows it",
                            )
                            .into());
                        }
                        secret = Some(Some(Zeroizing::new(s.to_string())));
                    }
                    None if kept => {}
                    None => {
                        return Err(ValidationError::new(
                            "storage_s3_secret",
                            "is required: give it in SUPABACKUP_STORAGE_S3_SECRET (or on the \
                             prompt); it is sealed in the vault",
                        )
                        .into());
                    }
                }
                settings.s3 = Some(s3);
            }
        }
        if let Some(list) = patch.include {
            settings.include_buckets = list
                .iter()
                .filter(|b| !b.trim().is_empty())
                .map(|b| validate_bucket_name(b))
                .collect::<Result<_, _>>()?;
        }
        if let Some(list) = patch.exclude {
            settings.exclude_buckets = list
                .iter()
                .filter(|b| !b.trim().is_empty())
                .map(|b| validate_bucket_name(b))
                .collect::<Result<_, _>>()?;
        }
        if let Some(secret) = secret {
            let sealed = secret
                .map(|s| {
                    self.vault()
                        .seal_str(&SecretSlot::StorageS3Secret.purpose(&id), &s)
                })
                .transpose()?;
            project.set_sealed(SecretSlot::StorageS3Secret, sealed);
        }
        project.extra.storage = (!settings.is_empty()).then_some(settings);
        Ok(())
    }
}
