//! Errors of the engine, and the exit code each maps to.

use crate::domain::{ValidationError, ValidationErrors};
use crate::pgtools::PgError;
use crate::store::StoreError;
use crate::vault::VaultError;
use std::path::PathBuf;

/// What can go wrong in an engine operation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The catalog.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The vault (wrong password, damaged secret).
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// User input broke a rule.
    #[error("{0}")]
    Invalid(#[from] ValidationErrors),
    /// PostgreSQL or its tools.
    #[error(transparent)]
    Pg(#[from] PgError),
    /// Installing PostgreSQL's client programs.
    #[error(transparent)]
    Tools(#[from] crate::pgtools::fetch::FetchError),
    /// The vault must be unlocked first.
    #[error("the vault is locked: unlock it with the master password first")]
    Locked,
    /// No master password set yet.
    #[error("no master password is set yet: set one first (any project command asks for it)")]
    NoVault,
    /// A file operation failed.
    #[error("{context}: {source} ({})", path.display())]
    Io {
        /// What was being done.
        context: String,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The operation failed for a reason given in words.
    #[error("{0}")]
    Failed(String),
    /// The user cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The user must confirm first.
    #[error("{0}")]
    NeedsConfirmation(String),
}

impl From<ValidationError> for EngineError {
    fn from(e: ValidationError) -> Self {
        EngineError::Invalid(e.into())
    }
}

impl EngineError {
    /// A file error with what was being done.
    pub fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        EngineError::Io {
            context: context.into(),
            path: path.into(),
            source,
        }
    }

    /// 2 for bad input (validation, wrong password, unknown names, a needed
    /// confirmation), 1 when the operation itself failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::Invalid(_)
            | EngineError::NoVault
            | EngineError::NeedsConfirmation(_)
            | EngineError::Vault(VaultError::WrongPassword | VaultError::TooShort)
            | EngineError::Store(StoreError::NotFound { .. } | StoreError::NameTaken { .. }) => 2,
            EngineError::Tools(e) if e.is_bad_input() => 2,
            _ => 1,
        }
    }
}
