//! Supabase Storage files: backed up with the database (or alone), each
//! file stored once per project however many sets refer to it, restored
//! into the same or another project.
//!
//! ```text
//! <backup root>/<project-slug>/objects/<first 2 hex>/<sha256>[.zst][.age]   the files, by content
//! <backup root>/<project-slug>/objects/journal.jsonl                        what was stored, for resuming
//! <backup root>/<project-slug>/<set>/storage.json.zst[.age]                 buckets, settings, every object
//! <backup root>/<project-slug>/<set>/objects.txt                            the stored files it refers to
//! ```
//!
//! Access, per project: Storage's S3-compatible endpoint when its keys are
//! set, else the REST API with the project's service key, else none (the
//! database only).

mod access;
mod backup;
mod check;
mod client;
mod db;
mod gc;
mod index;
mod journal;
mod rest;
mod restore;
mod s3;
mod store;
mod text;

pub use access::{S3Change, StoragePatch, StorageView};
pub use backup::{BackupOptions, PlanHook, StoragePlan};
pub(crate) use backup::{RunCtx, prepare, run as run_backup};
pub use check::{StorageCheck, check_objects};
pub use client::{BucketInfo, Client, ClientError, Head, Listed, Meta};
pub(crate) use db::bucket_counts;
pub use gc::{Collected, collect_unreferenced};
pub use index::{
    INDEX, OBJECTS_LIST, ObjectEntry, Skipped, StorageIndex, parse_objects_list, read_index,
    read_objects_list,
};
pub use journal::JOURNAL;
pub(crate) use restore::open_target;
pub use restore::{RestoreOptions, RestoreScope, StorageRestoreReport};
pub use store::{OBJECTS_DIR, Store, parse_stored};

use std::path::Path;
use zeroize::Zeroizing;

impl crate::engine::Engine {
    /// The store holding a set's Storage files: for a set fetched from a
    /// destination, `<staging>/objects/` when it was fetched with its files,
    /// else this machine's store of the project; for a local set, the
    /// store beside it.
    pub fn store_for(
        &self,
        set: &crate::engine::set::BackupSet,
        source: &crate::engine::SetRef,
    ) -> Result<Store, crate::engine::EngineError> {
        if let crate::engine::SetRef::Fetched { id, dir } = source {
            let inside = dir.join(OBJECTS_DIR);
            if inside.is_dir() {
                return Ok(Store::at(inside));
            }
            let record = self.backup_record(*id)?;
            if let Some(project_dir) = record.path.parent() {
                return Ok(Store::new(project_dir));
            }
        }
        Ok(store_for_set(&set.dir))
    }
}

/// The store holding the files of the set in `set_dir`: `<set>/objects/`
/// when the set was fetched together with its files, else the project's,
/// beside the set.
pub fn store_for_set(set_dir: &Path) -> Store {
    let inside = set_dir.join(OBJECTS_DIR);
    if inside.is_dir() {
        return Store::at(inside);
    }
    Store::new(set_dir.parent().unwrap_or(set_dir))
}

/// How a project's Storage is reached, secrets opened. Never printed
/// whole: [`Access::describe`] says where, without the secret.
#[derive(Clone)]
pub enum Access {
    /// The S3-compatible endpoint.
    S3(S3Access),
    /// The REST API with the service key.
    Rest(RestAccess),
    /// None: why, and what to set.
    None(String),
}

/// Storage's S3 endpoint and keys.
#[derive(Clone)]
pub struct S3Access {
    /// `https://<ref>.storage.supabase.co/storage/v1/s3`.
    pub endpoint: String,
    /// The project's region.
    pub region: String,
    /// The access key id.
    pub access_key_id: String,
    /// The secret, opened.
    pub secret: Zeroizing<String>,
}

/// Storage's REST API and the service key.
#[derive(Clone)]
pub struct RestAccess {
    /// `https://<ref>.supabase.co/storage/v1`.
    pub api_url: String,
    /// The service_role key, opened.
    pub service_key: Zeroizing<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Access({})", self.describe())
    }
}

impl Access {
    /// `s3`, `rest` or `none`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::S3(_) => "s3",
            Self::Rest(_) => "rest",
            Self::None(_) => "none",
        }
    }

    /// True when there is a way to the files.
    pub fn is_some(&self) -> bool {
        !matches!(self, Self::None(_))
    }

    /// Where, in words, nothing secret.
    pub fn describe(&self) -> String {
        match self {
            Self::S3(s) => format!(
                "S3 at {} (region {}, access key {})",
                s.endpoint,
                s.region,
                crate::domain::mask_key_id(&s.access_key_id)
            ),
            Self::Rest(r) => format!(
                "REST API at {} (service key {})",
                r.api_url,
                crate::engine::projects::mask_key(&r.service_key)
            ),
            Self::None(why) => format!("none ({why})"),
        }
    }
}
