//! `project add` and `project edit` as one change each: the fields, the
//! encryption, the identity kept, the copies and the Storage access are all
//! checked (and their secrets sealed) on the record in memory, which is
//! then written in one transaction. A refusal anywhere writes nothing.

use crate::domain::{DestinationId, Level, Project, ProjectId, ProjectInput};
use crate::engine::storage::StoragePatch;
use crate::engine::{EncryptionChange, EngineError, ProjectPatch, Unlocked};
use zeroize::Zeroizing;

/// What a project save changes besides its fields; `None` keeps each.
#[derive(Default)]
pub struct ProjectChanges {
    /// How its backups are encrypted.
    pub encryption: Option<EncryptionChange>,
    /// The identity the vault keeps (the text of an identity file);
    /// `Some(None)` forgets it.
    pub identity: Option<Option<Zeroizing<String>>>,
    /// The destinations its backups are copied to.
    pub copy_to: Option<Vec<DestinationId>>,
    /// The local folders go once every copy is verified.
    pub remote_only: Option<bool>,
    /// How its Storage files are reached.
    pub storage: Option<StoragePatch>,
}

impl Unlocked {
    /// Adds a project with everything `changes` sets, in one write:
    /// nothing is added when any part is refused.
    pub fn add_project_with(
        &self,
        input: &ProjectInput,
        is_active: bool,
        changes: ProjectChanges,
    ) -> Result<Project, EngineError> {
        let (mut project, masked) = self.new_project_record(input)?;
        project.is_active = is_active;
        let lines = self.apply_changes(&mut project, changes)?;
        self.catalog().insert_project(&project)?;
        self.log(
            Level::Info,
            Some(project.id),
            format!("project \"{}\" added ({masked})", project.name),
        );
        for line in lines {
            self.log(Level::Info, Some(project.id), line);
        }
        Ok(project)
    }

    /// Edits a project and applies `changes`, in one write: nothing
    /// changes when any part is refused.
    pub fn edit_project_with(
        &self,
        id: ProjectId,
        patch: ProjectPatch,
        changes: ProjectChanges,
    ) -> Result<Project, EngineError> {
        let mut project = self.edited_record(id, patch)?;
        let lines = self.apply_changes(&mut project, changes)?;
        self.catalog().update_project(&project)?;
        self.log(
            Level::Info,
            Some(id),
            format!("project \"{}\" edited", project.name),
        );
        for line in lines {
            self.log(Level::Info, Some(id), line);
        }
        Ok(project)
    }

    /// Applies `changes` to the record in memory; the lines for the
    /// activity log once it is written.
    fn apply_changes(
        &self,
        project: &mut Project,
        changes: ProjectChanges,
    ) -> Result<Vec<String>, EngineError> {
        let mut lines = Vec::new();
        if let Some(change) = changes.encryption {
            lines.push(self.apply_encryption(project, change)?);
        }
        if let Some(identity) = changes.identity {
            lines.push(self.apply_identity(project, identity)?);
        }
        if changes.copy_to.is_some() || changes.remote_only.is_some() {
            self.apply_copies(project, changes.copy_to, changes.remote_only)?;
            lines.push(self.copies_line(project));
        }
        if let Some(patch) = changes.storage {
            self.apply_storage(project, patch)?;
            lines.push(self.storage_line(project)?);
        }
        Ok(lines)
    }
}
