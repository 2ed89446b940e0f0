//! What can go wrong fetching the client programs: each case says what
//! happened and what to do, and that nothing was installed.

use std::path::PathBuf;

/// Why an install of the client programs did not happen.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not a version this can look up.
    #[error(
        "\"{given}\" is not a PostgreSQL version to install: give a major ({}) or a full version \
         such as 17.11.0",
        known.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    BadVersion {
        /// What was typed.
        given: String,
        /// The majors this build knows.
        known: Vec<u32>,
    },
    /// No archives are published for this system.
    #[error(
        "no PostgreSQL client programs are published for {os} on {arch}: install them with the \
         system's packages and point the pg-bin-dir setting at their folder"
    )]
    UnsupportedSystem {
        /// The OS.
        os: String,
        /// The CPU.
        arch: String,
    },
    /// The mirror given is neither a URL nor a folder.
    #[error("the mirror \"{given}\" cannot be used: {reason}")]
    BadMirror {
        /// What was given (password masked).
        given: String,
        /// Why.
        reason: String,
    },
    /// The network or the server is not there.
    #[error(
        "cannot reach {url}: {reason}: check the network, or install from a mirror (--mirror \
         URL_OR_FOLDER, the tools-mirror setting) or from a file downloaded by hand (--from \
         ARCHIVE); nothing was installed"
    )]
    Unreachable {
        /// Where (password masked).
        url: String,
        /// What the connection said.
        reason: String,
    },
    /// The file is not at the mirror.
    #[error(
        "{at} does not exist: check the version, and that the mirror is laid out as \
         <mirror>/<version>/<file> like the GitHub release downloads; nothing was installed"
    )]
    NotPublished {
        /// Where it was looked for.
        at: String,
    },
    /// The archive is there but its checksum is not.
    #[error(
        "there is no checksum at {at}: an archive without its SHA-256 is not installed; nothing \
         was installed"
    )]
    NoChecksum {
        /// Where it was looked for.
        at: String,
    },
    /// The checksum file holds no SHA-256.
    #[error("{at} holds no SHA-256 (64 hex digits): nothing was installed")]
    BadChecksumFile {
        /// Where.
        at: String,
    },
    /// The server answered with an error.
    #[error("{url} answered {status}: nothing was installed; try again later or use --mirror")]
    Refused {
        /// Where (password masked).
        url: String,
        /// The HTTP status.
        status: String,
    },
    /// The download stopped before its end.
    #[error("the download of {file} was cut off ({reason}): nothing was installed; try again")]
    Interrupted {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// The bytes are not the ones published.
    #[error(
        "{file} does not match its published SHA-256 (expected {expected}, got {actual}): the \
         download was damaged or tampered with, and was not unpacked; nothing was installed"
    )]
    ChecksumMismatch {
        /// The file.
        file: String,
        /// The published hash.
        expected: String,
        /// The hash of what arrived.
        actual: String,
    },
    /// The archive is for another system.
    #[error(
        "{file} holds programs for {archive}, and this machine needs {needed}: download \
         postgresql-<version>-{needed}.tar.gz instead; nothing was installed"
    )]
    WrongTarget {
        /// The file.
        file: String,
        /// Its target.
        archive: String,
        /// This machine's.
        needed: String,
    },
    /// The file is not such an archive, or is damaged.
    #[error("{file} is not a usable PostgreSQL binaries archive: {reason}; nothing was installed")]
    NotAnArchive {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The unpacked program does not start on this machine.
    #[error(
        "the downloaded {program} does not run on this machine ({reason}){hint}; nothing was \
         installed",
        hint = if cfg!(windows) {
            ": it needs the Microsoft Visual C++ Redistributable (x64), from Microsoft's site"
        } else {
            ""
        }
    )]
    DoesNotRun {
        /// The program.
        program: String,
        /// What happened when it was started.
        reason: String,
    },
    /// That version is installed already.
    #[error(
        "PostgreSQL {version} client programs are installed already in {}: remove them first with \
         `supabackup tools remove {version}` to install them again",
        dir.display()
    )]
    AlreadyInstalled {
        /// The version.
        version: String,
        /// Where.
        dir: PathBuf,
    },
    /// There is no such install to remove.
    #[error(
        "no PostgreSQL {version} client programs were installed by supabackup (`supabackup tools \
         list` shows what is)"
    )]
    NotInstalled {
        /// The version asked for.
        version: String,
    },
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
    /// Stopped on request.
    #[error("cancelled; nothing was installed")]
    Cancelled,
}

impl FetchError {
    /// A file error with what was being done.
    pub fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        FetchError::Io {
            context: context.into(),
            path: path.into(),
            source,
        }
    }

    /// True when the person asked for something that cannot be (exit 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            FetchError::BadVersion { .. }
                | FetchError::BadMirror { .. }
                | FetchError::WrongTarget { .. }
                | FetchError::AlreadyInstalled { .. }
                | FetchError::NotInstalled { .. }
        )
    }
}
