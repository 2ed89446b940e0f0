//! PostgreSQL version numbers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A PostgreSQL version: major and minor (9.6.24 is major 9.6 → `{9, 6}` style
/// is not used; releases before 10 keep major 9 and minor 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PgVersion {
    /// Major version (15, 17...).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl PgVersion {
    /// From `server_version_num` (150018 → 15.18; 90624 → 9.6).
    pub fn from_num(num: u32) -> Self {
        if num >= 100_000 {
            Self {
                major: num / 10_000,
                minor: num % 10_000,
            }
        } else {
            Self {
                major: num / 10_000,
                minor: (num / 100) % 100,
            }
        }
    }

    /// From a tool's `--version` line: `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
    pub fn from_tool_output(out: &str) -> Option<Self> {
        let line = out.lines().next()?;
        let after = line.split(')').nth(1).unwrap_or(line);
        let token = after.split_whitespace().next()?;
        let mut nums = token.split(|c: char| !c.is_ascii_digit());
        let major = nums.next()?.parse().ok()?;
        let minor = nums.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        Some(Self { major, minor })
    }

    /// The Debian/Ubuntu package that provides this major's client tools.
    pub fn client_package(&self) -> String {
        format!("postgresql-client-{}", self.major)
    }
}

impl fmt::Display for PgVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tool_output_and_server_numbers() {
        let v =
            PgVersion::from_tool_output("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n")
                .unwrap();
        assert_eq!(
            v,
            PgVersion {
                major: 15,
                minor: 18
            }
        );
        let v = PgVersion::from_tool_output("psql (PostgreSQL) 17beta1").unwrap();
        assert_eq!(v.major, 17);
        assert_eq!(PgVersion::from_num(170002).to_string(), "17.2");
        assert_eq!(PgVersion::from_num(90624).major, 9);
        assert!(PgVersion::from_tool_output("").is_none());
    }
}
