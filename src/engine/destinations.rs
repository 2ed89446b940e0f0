//! Destinations: adding (the S3 secret sealed in the vault), listing,
//! testing and removing the places copies of backup sets go to, and
//! opening one for the copy, sync, fetch and retention code.

use crate::domain::{Destination, DestinationId, DestinationKind, Level, validate_destination};
use crate::engine::remote::{Remote, RemoteConfig};
use crate::engine::{Engine, EngineError, Unlocked};
use chrono::Utc;
use serde::Serialize;
use zeroize::Zeroizing;

/// A destination to add.
pub struct DestinationInput {
    /// Its name (what `--copy-to` takes).
    pub name: String,
    /// Where and how.
    pub kind: DestinationKind,
    /// The S3 secret access key (not for a folder).
    pub secret: Option<Zeroizing<String>>,
}

/// A destination as shown: nothing secret.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationView {
    /// Id.
    pub id: DestinationId,
    /// Name.
    pub name: String,
    /// `s3` or `folder`.
    pub kind: &'static str,
    /// Where, keys masked.
    pub location: String,
    /// Projects that copy their backups there.
    pub projects: Vec<String>,
    /// Schedules that copy their backups there.
    pub schedules: Vec<String>,
    /// When it was added.
    pub created_at: chrono::DateTime<Utc>,
}

impl Engine {
    /// Every destination, by name.
    pub fn destinations(&self) -> Result<Vec<Destination>, EngineError> {
        Ok(self.catalog().destinations()?)
    }

    /// A destination by name or id.
    pub fn find_destination(&self, key: &str) -> Result<Destination, EngineError> {
        Ok(self.catalog().find_destination(key)?)
    }

    /// A destination by id; a clear error when it was removed.
    pub fn destination(&self, id: DestinationId) -> Result<Destination, EngineError> {
        self.catalog().destination(id)?.ok_or_else(|| {
            EngineError::Failed(format!(
                "destination {id} no longer exists: see `supabackup destination list`"
            ))
        })
    }

    /// A destination's name, or its id when it was removed.
    pub fn destination_name(&self, id: DestinationId) -> String {
        match self.catalog().destination(id) {
            Ok(Some(d)) => d.name,
            _ => format!("(removed destination {})", id.short()),
        }
    }

    /// The destination with what uses it; nothing secret.
    pub fn destination_view(&self, d: &Destination) -> Result<DestinationView, EngineError> {
        let projects = self
            .projects()?
            .into_iter()
            .filter(|p| p.extra.copy_to.contains(&d.id))
            .map(|p| p.name)
            .collect();
        let schedules = self
            .catalog()
            .jobs()?
            .into_iter()
            .filter(|j| j.extra.copy_to.as_ref().is_some_and(|c| c.contains(&d.id)))
            .map(|j| j.name)
            .collect();
        Ok(DestinationView {
            id: d.id,
            name: d.name.clone(),
            kind: match d.kind {
                DestinationKind::S3 { .. } => "s3",
                DestinationKind::Folder { .. } => "folder",
            },
            location: d.describe(),
            projects,
            schedules,
            created_at: d.created_at,
        })
    }
}

impl Unlocked {
    /// Checks and stores a destination, its secret sealed. With `test`, it
    /// is first tested (written to, read back, deleted from) and nothing is
    /// stored when that fails; returns what the test did.
    pub async fn add_destination(
        &self,
        input: DestinationInput,
        test: bool,
    ) -> Result<(Destination, Option<String>), EngineError> {
        let name = input.name.trim().to_string();
        let kind = match input.kind {
            DestinationKind::S3 {
                endpoint,
                region,
                bucket,
                prefix,
                path_style,
                access_key_id,
            } => DestinationKind::S3 {
                endpoint: crate::domain::validate_endpoint(&endpoint)
                    .unwrap_or_else(|_| endpoint.trim().to_string()),
                region: region.trim().to_string(),
                bucket,
                prefix: prefix.trim_matches('/').to_string(),
                path_style,
                access_key_id: access_key_id.trim().to_string(),
            },
            folder => folder,
        };
        validate_destination(&name, &kind)?;
        let id = DestinationId::new();
        let mut d = Destination {
            id,
            name,
            kind,
            secret: None,
            created_at: Utc::now(),
            extra: Default::default(),
        };
        match (&d.kind, input.secret) {
            (DestinationKind::S3 { .. }, Some(secret)) if !secret.trim().is_empty() => {
                d.secret = Some(self.vault().seal_str(&d.secret_purpose(), secret.trim())?);
            }
            (DestinationKind::S3 { .. }, _) => {
                return Err(EngineError::Invalid(
                    crate::domain::ValidationError::new(
                        "secret_access_key",
                        "must be set (SUPABACKUP_S3_SECRET_ACCESS_KEY, or typed at the prompt)",
                    )
                    .into(),
                ));
            }
            (DestinationKind::Folder { .. }, _) => {}
        }
        // The prefix's characters are checked as every key is: a mistake
        // typed is bad input.
        if let DestinationKind::S3 { prefix, .. } = &d.kind {
            crate::engine::remote::clean_prefix(prefix)
                .map_err(|e| crate::domain::ValidationError::new("s3", e.to_string()))?;
        }
        let remote = self.remote(&d)?;
        if self.catalog().find_destination(&d.name).is_ok() {
            return Err(crate::store::StoreError::NameTaken {
                what: "destination",
                name: d.name.clone(),
            }
            .into());
        }
        let tested = match test {
            true => Some(remote.test().await.map_err(|e| {
                EngineError::Failed(format!(
                    "{}: nothing was added; fix it and add the destination again (or add it \
                     untested)",
                    remote_error(&d, e)
                ))
            })?),
            false => None,
        };
        self.catalog().put_destination(&d)?;
        self.log(
            Level::Info,
            None,
            format!("destination \"{}\" added ({})", d.name, d.describe()),
        );
        Ok((d, tested))
    }

    /// Removes a destination and every project's and schedule's wish to
    /// copy there; what was copied there stays there. Returns the names of
    /// the projects and schedules that copied there.
    pub fn remove_destination(
        &self,
        id: DestinationId,
    ) -> Result<(Destination, Vec<String>), EngineError> {
        let d = self.destination(id)?;
        let mut touched = Vec::new();
        for mut p in self.projects()? {
            if p.extra.copy_to.contains(&id) {
                p.extra.copy_to.retain(|x| *x != id);
                p.updated_at = Utc::now();
                self.catalog().update_project(&p)?;
                touched.push(format!("project \"{}\"", p.name));
            }
        }
        for mut j in self.catalog().jobs()? {
            if let Some(list) = j.extra.copy_to.as_mut()
                && list.contains(&id)
            {
                list.retain(|x| *x != id);
                self.catalog().put_job(&j)?;
                touched.push(format!("schedule \"{}\"", j.name));
            }
        }
        self.catalog().remove_destination(id)?;
        self.log(
            Level::Info,
            None,
            format!(
                "destination \"{}\" removed{}; the copies there were left as they are",
                d.name,
                if touched.is_empty() {
                    String::new()
                } else {
                    format!(" (no longer copied to by {})", touched.join(", "))
                }
            ),
        );
        Ok((d, touched))
    }

    /// The destination opened (its secret unsealed into the client).
    pub fn remote(&self, d: &Destination) -> Result<Remote, EngineError> {
        let config = match &d.kind {
            DestinationKind::S3 {
                endpoint,
                region,
                bucket,
                prefix,
                path_style,
                access_key_id,
            } => {
                let secret = match &d.secret {
                    Some(s) => self.vault().open_string(&d.secret_purpose(), s)?,
                    None => Zeroizing::new(String::new()),
                };
                RemoteConfig::S3 {
                    endpoint: endpoint.clone(),
                    region: region.clone(),
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    path_style: *path_style,
                    access_key_id: access_key_id.clone(),
                    secret_access_key: secret,
                }
            }
            DestinationKind::Folder { path } => RemoteConfig::Folder { path: path.clone() },
        };
        Remote::open(config).map_err(|e| remote_error(d, e))
    }

    /// `destination test`: writes, reads back and deletes a small object.
    /// Returns what it did, in words.
    pub async fn test_destination(&self, d: &Destination) -> Result<String, EngineError> {
        let remote = self.remote(d)?;
        let outcome = remote.test().await.map_err(|e| remote_error(d, e));
        self.log(
            if outcome.is_ok() {
                Level::Info
            } else {
                Level::Warning
            },
            None,
            match &outcome {
                Ok(_) => format!("destination \"{}\" tested: it works", d.name),
                Err(e) => format!("destination \"{}\" test failed: {e}", d.name),
            },
        );
        outcome
    }
}

/// A remote error as the engine's, naming the destination.
pub(crate) fn remote_error(d: &Destination, e: crate::engine::remote::RemoteError) -> EngineError {
    EngineError::Failed(format!("destination \"{}\": {e}", d.name))
}
