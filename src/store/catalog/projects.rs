//! Projects: unique names (case-insensitive), removal takes their schedules.

use super::{Catalog, Scope, resolve_id};
use crate::domain::{BackupJob, Project, ProjectId};
use crate::store::StoreError;
use crate::store::records::{self, encode};
use crate::store::tables::*;
use redb::ReadableTable;

impl Catalog {
    /// Every project, sorted by name.
    pub fn projects(&self) -> Result<Vec<Project>, StoreError> {
        self.read(|txn| {
            let mut all: Vec<Project> = records::all(&txn.open_table(PROJECTS)?, "projects")?;
            all.sort_by_key(|p| p.name.to_lowercase());
            Ok(all)
        })
    }

    /// One project by id.
    pub fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError> {
        self.read(|txn| records::get(&txn.open_table(PROJECTS)?, "projects", id.as_u128()))
    }

    /// A project by name (case-insensitive), full id, or short id.
    pub fn find_project(&self, key: &str) -> Result<Project, StoreError> {
        let found = self.read(|txn| {
            let projects = txn.open_table(PROJECTS)?;
            let names = txn.open_table(PROJECT_NAMES)?;
            let id = match names.get(key.trim().to_lowercase().as_str())? {
                Some(id) => Some(id.value()),
                None => resolve_id(&projects, key)?,
            };
            match id {
                Some(id) => records::get(&projects, "projects", id),
                None => Ok(None),
            }
        })?;
        found.ok_or_else(|| StoreError::NotFound {
            what: "project",
            key: key.to_string(),
            list: "project list",
        })
    }

    /// Adds a project; its name must be unused.
    pub fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        self.put_project(project, None)
    }

    /// Replaces a project (renames keep the name index in step).
    pub fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let old = self
            .project(project.id)?
            .ok_or_else(|| StoreError::NotFound {
                what: "project",
                key: project.id.to_string(),
                list: "project list",
            })?;
        self.put_project(project, Some(&old.name))
    }

    fn put_project(&self, project: &Project, old_name: Option<&str>) -> Result<(), StoreError> {
        self.write(Scope::Config, |txn| {
            let mut names = txn.open_table(PROJECT_NAMES)?;
            let lower = project.name.to_lowercase();
            if let Some(existing) = names.get(lower.as_str())?
                && existing.value() != project.id.as_u128()
            {
                return Err(StoreError::NameTaken {
                    what: "project",
                    name: project.name.clone(),
                });
            }
            if let Some(old) = old_name {
                names.remove(old.to_lowercase().as_str())?;
            }
            names.insert(lower.as_str(), project.id.as_u128())?;
            let mut projects = txn.open_table(PROJECTS)?;
            projects.insert(project.id.as_u128(), encode(project).as_slice())?;
            Ok(())
        })
    }

    /// Removes a project and its schedules; its backups stay (they are the
    /// user's copies) and keep the project's name.
    pub fn remove_project(&self, id: ProjectId) -> Result<usize, StoreError> {
        self.write(Scope::Config, |txn| {
            let mut projects = txn.open_table(PROJECTS)?;
            let Some(p) = records::get::<Project>(&projects, "projects", id.as_u128())? else {
                return Err(StoreError::NotFound {
                    what: "project",
                    key: id.to_string(),
                    list: "project list",
                });
            };
            projects.remove(id.as_u128())?;
            txn.open_table(PROJECT_NAMES)?
                .remove(p.name.to_lowercase().as_str())?;
            let mut jobs = txn.open_table(JOBS)?;
            let mut job_names = txn.open_table(JOB_NAMES)?;
            let all: Vec<BackupJob> = records::all(&jobs, "backup_jobs")?;
            let mut removed_jobs = 0;
            for j in all.iter().filter(|j| j.project_id == id) {
                jobs.remove(j.id.as_u128())?;
                job_names.remove(j.name.to_lowercase().as_str())?;
                removed_jobs += 1;
            }
            Ok(removed_jobs)
        })
    }
}
