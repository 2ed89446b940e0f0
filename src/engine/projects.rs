//! Adding, editing, listing and removing projects; secrets sealed on the way in.

use crate::domain::{
    ConnInfo, DestinationId, EncryptionSetting, Extra, Level, Project, ProjectExtra, ProjectId,
    ProjectInput, SecretSlot,
};
use crate::engine::set::{Keys, Sealing};
use crate::engine::{Engine, EngineError, Unlocked};
use chrono::{DateTime, Utc};
use serde::Serialize;
use zeroize::Zeroizing;

mod changes;

pub use changes::ProjectChanges;

/// A project as shown to the user: secrets masked.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectView {
    /// Id.
    pub id: ProjectId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// production / staging / development.
    pub environment: String,
    /// Connection URL with the password as `****`.
    pub db_url: String,
    /// Service key, masked (`****` + last 4), if set.
    pub service_key: Option<String>,
    /// Anon key, masked, if set.
    pub anon_key: Option<String>,
    /// Backed up by schedules.
    pub is_active: bool,
    /// How its backups are encrypted.
    pub encryption: EncryptionSetting,
    /// The vault keeps an identity that opens its backups.
    pub identity_in_vault: bool,
    /// The destinations its backups are copied to, by name.
    pub copy_to: Vec<String>,
    /// The local folders go once every copy is verified.
    pub remote_only: bool,
    /// How its Storage files are reached, nothing secret (`None` when it
    /// could not be read). Not in the JSON: `project show` adds it itself.
    #[serde(skip)]
    pub storage: Option<crate::engine::storage::StorageView>,
    /// Added.
    pub created_at: DateTime<Utc>,
    /// Last edited.
    pub updated_at: DateTime<Utc>,
}

/// Changes to a project; `None` keeps a field. An empty key clears it.
#[derive(Default)]
pub struct ProjectPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New environment.
    pub environment: Option<String>,
    /// New connection string.
    pub db_url: Option<Zeroizing<String>>,
    /// New service key (empty clears).
    pub service_key: Option<Zeroizing<String>>,
    /// New anon key (empty clears).
    pub anon_key: Option<Zeroizing<String>>,
    /// Active flag.
    pub is_active: Option<bool>,
}

/// Masks a key: `****` and its last 4 characters.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("****{tail}")
}

/// A project record from checked input, its secrets sealed for `id`.
fn sealed_project(
    vault: &crate::vault::Vault,
    id: ProjectId,
    valid: crate::domain::ValidProjectInput,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    extra: Extra<ProjectExtra>,
) -> Result<Project, EngineError> {
    let seal = |slot: SecretSlot, v: &str| vault.seal_str(&slot.purpose(&id), v);
    Ok(Project {
        id,
        name: valid.name,
        description: valid.description,
        environment: valid.environment,
        db_url: seal(SecretSlot::DbUrl, &valid.db_url)?,
        service_key: valid
            .service_key
            .map(|k| seal(SecretSlot::ServiceKey, &k))
            .transpose()?,
        anon_key: valid
            .anon_key
            .map(|k| seal(SecretSlot::AnonKey, &k))
            .transpose()?,
        is_active,
        created_at,
        updated_at,
        extra,
    })
}

impl Engine {
    /// Every project, by name.
    pub fn projects(&self) -> Result<Vec<Project>, EngineError> {
        Ok(self.catalog().projects()?)
    }

    /// A project by id.
    pub fn project(&self, id: ProjectId) -> Result<Project, EngineError> {
        self.catalog()
            .project(id)?
            .ok_or_else(|| EngineError::Failed(format!("project {id} no longer exists")))
    }

    /// Removes a project and its schedules; backups stay on disk and in the
    /// history. Returns how many schedules went with it.
    pub fn remove_project(&self, id: ProjectId) -> Result<(Project, usize), EngineError> {
        let project = self.project(id)?;
        let jobs = self.catalog().remove_project(project.id)?;
        self.log(
            Level::Info,
            Some(project.id),
            format!(
                "project \"{}\" removed with {jobs} schedule(s); its backups are kept",
                project.name
            ),
        );
        Ok((project, jobs))
    }

    /// Where the project's backups are copied (`Some`: the new list) and
    /// whether the local folders go once every copy is verified.
    pub fn set_copies(
        &self,
        id: ProjectId,
        copy_to: Option<Vec<DestinationId>>,
        remote_only: Option<bool>,
    ) -> Result<Project, EngineError> {
        let mut project = self.project(id)?;
        self.apply_copies(&mut project, copy_to, remote_only)?;
        project.updated_at = Utc::now();
        self.catalog().update_project(&project)?;
        self.log(Level::Info, Some(id), self.copies_line(&project));
        Ok(project)
    }

    /// [`Self::set_copies`] on a record in memory: checked, not written.
    pub(crate) fn apply_copies(
        &self,
        project: &mut Project,
        copy_to: Option<Vec<DestinationId>>,
        remote_only: Option<bool>,
    ) -> Result<(), EngineError> {
        if let Some(list) = copy_to {
            for d in &list {
                self.destination(*d)?;
            }
            project.extra.copy_to = list;
        }
        if let Some(r) = remote_only {
            project.extra.remote_only = r;
        }
        if project.extra.remote_only && project.extra.copy_to.is_empty() {
            return Err(EngineError::Invalid(
                crate::domain::ValidationError::new(
                    "remote_only",
                    "needs at least one destination to copy to (--copy-to NAME): the backups \
                     would otherwise be nowhere",
                )
                .into(),
            ));
        }
        Ok(())
    }

    /// Where the project's backups are copied, for the activity log.
    pub(crate) fn copies_line(&self, project: &Project) -> String {
        let names: Vec<String> = project
            .extra
            .copy_to
            .iter()
            .map(|d| format!("\"{}\"", self.destination_name(*d)))
            .collect();
        format!(
            "backups of \"{}\" are copied to {}{}",
            project.name,
            if names.is_empty() {
                "no destination".to_string()
            } else {
                names.join(", ")
            },
            if project.extra.remote_only {
                " (remote-only: the local folders go once every copy is verified)"
            } else {
                ""
            }
        )
    }
}

impl Unlocked {
    /// Validates, seals and stores a new project.
    pub fn add_project(&self, input: &ProjectInput) -> Result<Project, EngineError> {
        let (project, masked) = self.new_project_record(input)?;
        self.catalog().insert_project(&project)?;
        self.log(
            Level::Info,
            Some(project.id),
            format!("project \"{}\" added ({masked})", project.name),
        );
        Ok(project)
    }

    /// A new project's record, checked and sealed, not stored; and its
    /// connection string masked.
    pub(crate) fn new_project_record(
        &self,
        input: &ProjectInput,
    ) -> Result<(Project, String), EngineError> {
        let valid = input.validate()?;
        let now = Utc::now();
        let masked = valid.conninfo.masked();
        let project = sealed_project(
            self.vault(),
            ProjectId::new(),
            valid,
            true,
            now,
            now,
            Extra::default(),
        )?;
        Ok((project, masked))
    }

    /// Applies a patch: the whole result is validated, changed secrets re-sealed.
    pub fn edit_project(&self, id: ProjectId, patch: ProjectPatch) -> Result<Project, EngineError> {
        let updated = self.edited_record(id, patch)?;
        self.catalog().update_project(&updated)?;
        self.log(
            Level::Info,
            Some(id),
            format!("project \"{}\" edited", updated.name),
        );
        Ok(updated)
    }

    /// The project with `patch` applied, checked and sealed, not stored.
    pub(crate) fn edited_record(
        &self,
        id: ProjectId,
        patch: ProjectPatch,
    ) -> Result<Project, EngineError> {
        let current = self.project(id)?;
        let open = |slot: SecretSlot| -> Result<Zeroizing<String>, EngineError> {
            Ok(self
                .project_secret(&current, slot)?
                .unwrap_or_else(|| Zeroizing::new(String::new())))
        };
        let input = ProjectInput {
            name: patch.name.unwrap_or_else(|| current.name.clone()),
            description: patch
                .description
                .unwrap_or_else(|| current.description.clone()),
            environment: patch
                .environment
                .unwrap_or_else(|| current.environment.to_string()),
            db_url: match patch.db_url {
                Some(u) => u,
                None => open(SecretSlot::DbUrl)?,
            },
            service_key: match patch.service_key {
                Some(k) => k,
                None => open(SecretSlot::ServiceKey)?,
            },
            anon_key: match patch.anon_key {
                Some(k) => k,
                None => open(SecretSlot::AnonKey)?,
            },
        };
        let valid = input.validate()?;
        sealed_project(
            self.vault(),
            id,
            valid,
            patch.is_active.unwrap_or(current.is_active),
            current.created_at,
            Utc::now(),
            current.extra.clone(),
        )
    }

    /// The project's connection string, opened.
    pub fn project_conninfo(&self, project: &Project) -> Result<ConnInfo, EngineError> {
        let url = self
            .project_secret(project, SecretSlot::DbUrl)?
            .unwrap_or_default();
        Ok(ConnInfo::parse(&url)?)
    }

    /// One of the project's secrets in the clear (for a reveal toggle).
    pub fn project_secret(
        &self,
        project: &Project,
        slot: SecretSlot,
    ) -> Result<Option<Zeroizing<String>>, EngineError> {
        project
            .sealed(slot)
            .map(|s| self.vault().open_string(&slot.purpose(&project.id), s))
            .transpose()
            .map_err(EngineError::from)
    }

    /// The project with its secrets masked.
    pub fn project_view(&self, project: &Project) -> Result<ProjectView, EngineError> {
        let masked = |slot: SecretSlot| -> Result<Option<String>, EngineError> {
            Ok(self.project_secret(project, slot)?.map(|k| mask_key(&k)))
        };
        Ok(ProjectView {
            id: project.id,
            name: project.name.clone(),
            description: project.description.clone(),
            environment: project.environment.to_string(),
            db_url: match self.project_secret(project, SecretSlot::DbUrl)? {
                Some(url) if !url.trim().is_empty() => ConnInfo::parse(&url)?.masked(),
                // A placeholder from `catalog rebuild` has none yet.
                _ => "(not set: edit the project)".to_string(),
            },
            service_key: masked(SecretSlot::ServiceKey)?,
            anon_key: masked(SecretSlot::AnonKey)?,
            is_active: project.is_active,
            encryption: project.extra.encryption.clone(),
            identity_in_vault: project.sealed(SecretSlot::AgeIdentity).is_some(),
            copy_to: project
                .extra
                .copy_to
                .iter()
                .map(|d| self.destination_name(*d))
                .collect(),
            remote_only: project.extra.remote_only,
            storage: self.storage_view(project).ok(),
            created_at: project.created_at,
            updated_at: project.updated_at,
        })
    }

    /// How the project's backups are encrypted from now on. A passphrase
    /// is sealed in the vault (backups run unattended); public keys need
    /// nothing secret.
    pub fn set_encryption(
        &self,
        id: ProjectId,
        change: EncryptionChange,
    ) -> Result<Project, EngineError> {
        let mut project = self.project(id)?;
        let line = self.apply_encryption(&mut project, change)?;
        project.updated_at = Utc::now();
        self.catalog().update_project(&project)?;
        self.log(Level::Info, Some(id), line);
        Ok(project)
    }

    /// [`Self::set_encryption`] on a record in memory: checked, sealed, not
    /// written. Returns the line for the activity log.
    pub(crate) fn apply_encryption(
        &self,
        project: &mut Project,
        change: EncryptionChange,
    ) -> Result<String, EngineError> {
        let id = project.id;
        let (setting, passphrase) = match change {
            EncryptionChange::Off => (EncryptionSetting::Off, None),
            EncryptionChange::Recipients(keys) => {
                Sealing::to_recipients(&keys)?;
                let keys = keys.iter().map(|k| k.trim().to_string()).collect();
                (EncryptionSetting::Recipients { recipients: keys }, None)
            }
            EncryptionChange::Passphrase(p) => {
                if p.chars().count() < 12 {
                    return Err(EngineError::Invalid(
                        crate::domain::ValidationError::new(
                            "passphrase",
                            "must be at least 12 characters: it is all that protects the backups",
                        )
                        .into(),
                    ));
                }
                (EncryptionSetting::Passphrase, Some(p))
            }
        };
        let sealed = passphrase
            .map(|p| {
                self.vault()
                    .seal_str(&SecretSlot::BackupPassphrase.purpose(&id), &p)
            })
            .transpose()?;
        project.set_sealed(SecretSlot::BackupPassphrase, sealed);
        let what = match &setting {
            EncryptionSetting::Off => "off".to_string(),
            EncryptionSetting::Recipients { recipients } => {
                format!("to {}", recipients.join(", "))
            }
            EncryptionSetting::Passphrase => "with a passphrase".to_string(),
        };
        project.extra.encryption = setting;
        Ok(format!(
            "encryption of \"{}\"'s backups: {what}",
            project.name
        ))
    }

    /// Keeps an age identity (the text of an identity file) sealed in the
    /// vault, so this machine opens the project's backups without asking;
    /// `None` forgets it.
    pub fn store_identity(
        &self,
        id: ProjectId,
        identity: Option<Zeroizing<String>>,
    ) -> Result<Project, EngineError> {
        let mut project = self.project(id)?;
        let line = self.apply_identity(&mut project, identity)?;
        project.updated_at = Utc::now();
        self.catalog().update_project(&project)?;
        self.log(Level::Info, Some(id), line);
        Ok(project)
    }

    /// [`Self::store_identity`] on a record in memory: checked, sealed, not
    /// written. Returns the line for the activity log.
    pub(crate) fn apply_identity(
        &self,
        project: &mut Project,
        identity: Option<Zeroizing<String>>,
    ) -> Result<String, EngineError> {
        let sealed = match &identity {
            Some(text) => {
                Keys::none().add_identity_text(text, "the identity")?;
                Some(
                    self.vault()
                        .seal_str(&SecretSlot::AgeIdentity.purpose(&project.id), text)?,
                )
            }
            None => None,
        };
        project.set_sealed(SecretSlot::AgeIdentity, sealed);
        Ok(format!(
            "identity of \"{}\"'s backups {} the vault",
            project.name,
            if identity.is_some() {
                "kept in"
            } else {
                "removed from"
            }
        ))
    }

    /// What encrypts the project's next backup, if anything.
    pub(crate) fn project_sealing(
        &self,
        project: &Project,
    ) -> Result<Option<Sealing>, EngineError> {
        Ok(match &project.extra.encryption {
            EncryptionSetting::Off => None,
            EncryptionSetting::Recipients { recipients } => {
                Some(Sealing::to_recipients(recipients)?)
            }
            EncryptionSetting::Passphrase => {
                let p = self
                    .project_secret(project, SecretSlot::BackupPassphrase)?
                    .ok_or_else(|| {
                        EngineError::Failed(format!(
                            "\"{}\" encrypts with a passphrase, but none is in the vault: set \
                             it with `supabackup project edit \"{}\" --encrypt-passphrase`",
                            project.name, project.name
                        ))
                    })?;
                Some(Sealing::Passphrase(age::secrecy::SecretString::from(
                    p.to_string(),
                )))
            }
        })
    }

    /// The keys the vault holds for the project's backups: its passphrase
    /// and its identity, when kept.
    pub fn project_keys(&self, project: &Project) -> Result<Keys, EngineError> {
        let mut keys = Keys::none();
        if let Some(p) = self.project_secret(project, SecretSlot::BackupPassphrase)? {
            keys.add_passphrase(age::secrecy::SecretString::from(p.to_string()));
        }
        if let Some(text) = self.project_secret(project, SecretSlot::AgeIdentity)? {
            keys.add_identity_text(&text, "the identity kept in the vault")?;
        }
        Ok(keys)
    }
}

/// A change to how a project's backups are encrypted.
#[derive(Clone)]
pub enum EncryptionChange {
    /// Not encrypted.
    Off,
    /// To these age public keys (`age1...`).
    Recipients(Vec<String>),
    /// With this passphrase (sealed in the vault).
    Passphrase(Zeroizing<String>),
}
