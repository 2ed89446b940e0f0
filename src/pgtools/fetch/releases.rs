//! What theseus-rs/postgresql-binaries publishes: the versions (a table
//! built into the binary, so a mirror needs no listing API), the targets,
//! the archive names and their approximate sizes.

use super::error::FetchError;
use std::fmt;
use std::str::FromStr;

/// Where the archives are published; `<base>/<version>/<file>`.
pub const DEFAULT_MIRROR: &str =
    "https://github.com/theseus-rs/postgresql-binaries/releases/download";

/// The newest release of each major this build knows (checked against the
/// published archives when this table was last updated). `tools install
/// MAJOR` picks it; any other version can still be named in full (a mirror
/// may hold newer ones).
const NEWEST: &[(u32, &str)] = &[
    (18, "18.6.0"),
    (17, "17.11.0"),
    (16, "16.15.0"),
    (15, "15.19.0"),
    (14, "14.23.0"),
];

/// An archive's target: the CPU and system its programs run on, as the
/// release assets name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Linux on x86-64 (glibc).
    LinuxX86_64,
    /// Linux on ARM64 (glibc).
    LinuxAarch64,
    /// macOS on Apple silicon.
    MacAarch64,
    /// macOS on Intel.
    MacX86_64,
    /// Windows on x86-64 (EDB's binaries, MSVC runtime).
    WindowsX86_64,
}

impl Target {
    /// Every target, for parsing names.
    pub const ALL: [Target; 5] = [
        Self::LinuxX86_64,
        Self::LinuxAarch64,
        Self::MacAarch64,
        Self::MacX86_64,
        Self::WindowsX86_64,
    ];

    /// The target this build runs on, if archives are published for it.
    pub fn this_machine() -> Option<Target> {
        match (std::env::consts::OS, std::env::consts::ARCH) {
            ("linux", "x86_64") => Some(Self::LinuxX86_64),
            ("linux", "aarch64") => Some(Self::LinuxAarch64),
            ("macos", "aarch64") => Some(Self::MacAarch64),
            ("macos", "x86_64") => Some(Self::MacX86_64),
            ("windows", "x86_64") => Some(Self::WindowsX86_64),
            _ => None,
        }
    }

    /// The target triple in the asset names.
    pub fn triple(&self) -> &'static str {
        match self {
            Self::LinuxX86_64 => "x86_64-unknown-linux-gnu",
            Self::LinuxAarch64 => "aarch64-unknown-linux-gnu",
            Self::MacAarch64 => "aarch64-apple-darwin",
            Self::MacX86_64 => "x86_64-apple-darwin",
            Self::WindowsX86_64 => "x86_64-pc-windows-msvc",
        }
    }

    /// The archive's size, roughly (they differ little between versions).
    pub fn approx_download_bytes(&self) -> u64 {
        const MB: u64 = 1_000_000;
        match self {
            Self::LinuxX86_64 | Self::LinuxAarch64 => 12 * MB,
            Self::MacAarch64 | Self::MacX86_64 => 13 * MB,
            Self::WindowsX86_64 => 54 * MB,
        }
    }

    /// True for Windows, where programs end in `.exe` and libraries sit
    /// beside them.
    pub fn is_windows(&self) -> bool {
        *self == Self::WindowsX86_64
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.triple())
    }
}

/// A published version: `17.11.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    /// PostgreSQL's major version.
    pub major: u32,
    /// PostgreSQL's minor version.
    pub minor: u32,
    /// The packaging's own revision (0 for the first build of a release).
    pub patch: u32,
}

impl Release {
    /// The archive's file name for a target.
    pub fn archive_name(&self, target: Target) -> String {
        format!("postgresql-{self}-{}.tar.gz", target.triple())
    }

    /// The PostgreSQL version its programs report.
    pub fn pg_version(&self) -> crate::pgtools::PgVersion {
        crate::pgtools::PgVersion {
            major: self.major,
            minor: self.minor,
        }
    }

    /// The newest release of `major` this build knows.
    pub fn newest_of(major: u32) -> Option<Release> {
        NEWEST
            .iter()
            .find(|(m, _)| *m == major)
            .and_then(|(_, v)| v.parse().ok())
    }

    /// The majors this build knows, newest first.
    pub fn known_majors() -> Vec<u32> {
        NEWEST.iter().map(|(m, _)| *m).collect()
    }

    /// `17` (the newest 17.x known), `17.10` or `17.10.0`.
    pub fn resolve(spec: &str) -> Result<Release, FetchError> {
        let spec = spec.trim();
        let bad = || FetchError::BadVersion {
            given: spec.to_string(),
            known: Self::known_majors(),
        };
        let parts: Vec<&str> = spec.split('.').collect();
        if parts.is_empty()
            || parts.len() > 3
            || parts
                .iter()
                .any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad());
        }
        let num = |i: usize| parts.get(i).and_then(|p| p.parse::<u32>().ok());
        let major = num(0).ok_or_else(bad)?;
        match parts.len() {
            1 => Self::newest_of(major).ok_or_else(bad),
            _ => {
                let minor = num(1).ok_or_else(bad)?;
                let patch = num(2).unwrap_or(0);
                if major < 10 {
                    return Err(bad());
                }
                Ok(Release {
                    major,
                    minor,
                    patch,
                })
            }
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for Release {
    type Err = FetchError;

    /// A full version, `17.11.0`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('.').collect();
        let nums: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
        match nums.as_deref() {
            Some([major, minor, patch]) => Ok(Release {
                major: *major,
                minor: *minor,
                patch: *patch,
            }),
            _ => Err(FetchError::BadVersion {
                given: s.to_string(),
                known: Self::known_majors(),
            }),
        }
    }
}

/// The release and target an archive's name says: `postgresql-17.11.0-x86_64-unknown-linux-gnu`
/// (with or without `.tar.gz`).
pub fn parse_archive_name(name: &str) -> Option<(Release, Target)> {
    let stem = name.strip_suffix(".tar.gz").unwrap_or(name);
    let rest = stem.strip_prefix("postgresql-")?;
    let (version, triple) = rest.split_once('-')?;
    let release = version.parse().ok()?;
    let target = Target::ALL.into_iter().find(|t| t.triple() == triple)?;
    Some((release, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_major_picks_the_newest_known_minor_and_versions_parse() {
        assert_eq!(Release::resolve("17").unwrap().to_string(), "17.11.0");
        assert_eq!(Release::resolve("17.10").unwrap().to_string(), "17.10.0");
        assert_eq!(Release::resolve(" 16.9.1 ").unwrap().to_string(), "16.9.1");
        for bad in [
            "",
            "seventeen",
            "9",
            "17.",
            "17..1",
            "1.2.3.4",
            "99",
            "17.x",
            "-1",
        ] {
            assert!(Release::resolve(bad).is_err(), "{bad:?} was accepted");
        }
        let e = Release::resolve("12").unwrap_err().to_string();
        assert!(e.contains("18, 17, 16"), "{e}");
    }

    #[test]
    fn archive_names_round_trip() {
        let r = Release::resolve("17").unwrap();
        let name = r.archive_name(Target::WindowsX86_64);
        assert_eq!(name, "postgresql-17.11.0-x86_64-pc-windows-msvc.tar.gz");
        assert_eq!(parse_archive_name(&name), Some((r, Target::WindowsX86_64)));
        assert_eq!(
            parse_archive_name("postgresql-18.6.0-aarch64-apple-darwin"),
            Some((Release::resolve("18.6.0").unwrap(), Target::MacAarch64))
        );
        assert_eq!(parse_archive_name("pg-17.tar.gz"), None);
        assert_eq!(
            parse_archive_name("postgresql-17.1.0-sparc-sun.tar.gz"),
            None
        );
    }
}
