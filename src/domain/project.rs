//! Projects: a database to back up, with its sealed secrets.

use crate::domain::{ConnInfo, Extra, ProjectExtra, ProjectId, ValidationError, ValidationErrors};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use zeroize::Zeroizing;

/// Bytes sealed by the vault (nonce + ciphertext + tag). Opaque here.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// Where a project sits in the user's release pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Live data.
    Production,
    /// Pre-release copy.
    Staging,
    /// A developer's database.
    Development,
}

impl Environment {
    /// All environments, in display order.
    pub const ALL: [Environment; 3] = [Self::Production, Self::Staging, Self::Development];

    /// Lower-case name, as typed on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Staging => "staging",
            Self::Development => "development",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "production" => Ok(Self::Production),
            "staging" => Ok(Self::Staging),
            "development" => Ok(Self::Development),
            other => Err(ValidationError::new(
                "environment",
                format!(
                    "must be production, staging or development (got \"{}\")",
                    other.chars().take(30).collect::<String>()
                ),
            )),
        }
    }
}

/// A project as the catalog keeps it: secrets sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Stable id.
    pub id: ProjectId,
    /// Unique (case-insensitive) display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Production, staging or development.
    pub environment: Environment,
    /// The connection string, sealed.
    pub db_url: Sealed,
    /// Supabase service_role key, sealed.
    pub service_key: Option<Sealed>,
    /// Supabase anon key, sealed.
    pub anon_key: Option<Sealed>,
    /// Inactive projects are kept but not backed up by schedules.
    pub is_active: bool,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Last edit.
    pub updated_at: DateTime<Utc>,
    /// Encryption and the secrets beyond the fixed three (more to come).
    pub extra: Extra<ProjectExtra>,
}

impl Project {
    /// A folder-safe form of the name, used under the backup root.
    pub fn slug(&self) -> String {
        slugify(&self.name)
    }

    /// A secret's sealed bytes, if set.
    pub fn sealed(&self, slot: SecretSlot) -> Option<&Sealed> {
        match slot {
            SecretSlot::DbUrl => Some(&self.db_url),
            SecretSlot::ServiceKey => self.service_key.as_ref(),
            SecretSlot::AnonKey => self.anon_key.as_ref(),
            other => self.extra.sealed.get(&other),
        }
    }

    /// Replaces a secret's sealed bytes (the connection string cannot be
    /// cleared: `None` leaves it).
    pub fn set_sealed(&mut self, slot: SecretSlot, sealed: Option<Sealed>) {
        match slot {
            SecretSlot::DbUrl => {
                if let Some(s) = sealed {
                    self.db_url = s;
                }
            }
            SecretSlot::ServiceKey => self.service_key = sealed,
            SecretSlot::AnonKey => self.anon_key = sealed,
            other => match sealed {
                Some(s) => {
                    self.extra.sealed.insert(other, s);
                }
                None => {
                    self.extra.sealed.remove(&other);
                }
            },
        }
    }
}

/// A project's secrets, each sealed in the vault on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSlot {
    /// The connection string.
    DbUrl,
    /// Supabase service_role key.
    ServiceKey,
    /// Supabase anon key.
    AnonKey,
    /// The passphrase backups are encrypted with.
    BackupPassphrase,
    /// An age identity (private key) that opens the backups, kept so this
    /// machine restores without asking.
    AgeIdentity,
    /// The secret access key of Supabase Storage's S3 endpoint.
    StorageS3Secret,
}

impl SecretSlot {
    /// Every slot.
    pub const ALL: [SecretSlot; 6] = [
        Self::DbUrl,
        Self::ServiceKey,
        Self::AnonKey,
        Self::BackupPassphrase,
        Self::AgeIdentity,
        Self::StorageS3Secret,
    ];

    /// The slot's name, as the form field and the export column call it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DbUrl => "db_url",
            Self::ServiceKey => "service_key",
            Self::AnonKey => "anon_key",
            Self::BackupPassphrase => "backup_passphrase",
            Self::AgeIdentity => "age_identity",
            Self::StorageS3Secret => "storage_s3_secret",
        }
    }

    /// The associated data a secret is sealed with: binds it to its slot and
    /// its project, so a sealed value copied elsewhere does not open.
    pub fn purpose(self, project: &ProjectId) -> String {
        format!("{}:{project}", self.as_str())
    }
}

/// Lower-case letters and digits joined by single dashes: `My App` → `my-app`.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(|c| c.to_lowercase()) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').to_string();
    if slug.is_empty() {
        "project".to_string()
    } else if cfg!(windows) && is_windows_device_name(&slug) {
        // Windows keeps these names for devices in every folder, so
        // `<backup root>\con` cannot be made there. Elsewhere they are
        // ordinary names and stay as they are.
        format!("{slug}-project")
    } else {
        slug
    }
}

/// `con`, `prn`, `aux`, `nul`, `com0`-`com9` and `lpt0`-`lpt9`: the device
/// names Windows reserves (a slug has no dot, so no extension to strip).
fn is_windows_device_name(slug: &str) -> bool {
    matches!(slug, "con" | "prn" | "aux" | "nul")
        || (slug.len() == 4
            && (slug.starts_with("com") || slug.starts_with("lpt"))
            && slug.ends_with(|c: char| c.is_ascii_digit()))
}

/// What a user typed in the add/edit form or on the command line.
#[derive(Clone, Default)]
pub struct ProjectInput {
    /// Name, 1-100 letters, digits, spaces, `-` or `_`.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `production`, `staging` or `development`.
    pub environment: String,
    /// Connection URL or key=value string.
    pub db_url: Zeroizing<String>,
    /// Optional service_role key.
    pub service_key: Zeroizing<String>,
    /// Optional anon key.
    pub anon_key: Zeroizing<String>,
}

impl fmt::Debug for ProjectInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectInput")
            .field("name", &self.name)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

/// A checked `ProjectInput`: every field obeys its rule.
#[derive(Debug, Clone)]
pub struct ValidProjectInput {
    /// Trimmed name.
    pub name: String,
    /// Trimmed description.
    pub description: String,
    /// Parsed environment.
    pub environment: Environment,
    /// The connection string as given (trimmed), already known to parse.
    pub db_url: Zeroizing<String>,
    /// Parsed connection string.
    pub conninfo: ConnInfo,
    /// Service key, if given.
    pub service_key: Option<Zeroizing<String>>,
    /// Anon key, if given.
    pub anon_key: Option<Zeroizing<String>>,
}

impl ProjectInput {
    /// Checks every field and returns all that fail, each naming its field.
    pub fn validate(&self) -> Result<ValidProjectInput, ValidationErrors> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_string();
        if let Err(e) = validate_name(&name) {
            errors.push(e);
        }
        let description = self.description.trim().to_string();
        if description.chars().count() > 1000 {
            errors.push(ValidationError::new(
                "description",
                "must be at most 1000 characters",
            ));
        }
        let environment = if self.environment.trim().is_empty() {
            Ok(Environment::Development)
        } else {
            self.environment.parse::<Environment>()
        };
        let environment = environment.map_err(|e| errors.push(e)).ok();
        let db_url = Zeroizing::new(self.db_url.trim().to_string());
        let conninfo = ConnInfo::parse(&db_url).map_err(|e| errors.push(e)).ok();
        let service_key = optional_key(&self.service_key, "service_key", &mut errors);
        let anon_key = optional_key(&self.anon_key, "anon_key", &mut errors);
        match (environment, conninfo) {
            (Some(environment), Some(conninfo)) if errors.is_empty() => Ok(ValidProjectInput {
                name,
                description,
                environment,
                db_url,
                conninfo,
                service_key,
                anon_key,
            }),
            _ => Err(ValidationErrors(errors)),
        }
    }
}

fn optional_key(
    key: &str,
    field: &'static str,
    errors: &mut Vec<ValidationError>,
) -> Option<Zeroizing<String>> {
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(ValidationError::new(
            field,
            "must not contain spaces or line breaks: paste the key exactly as Supabase shows it",
        ));
        return None;
    }
    if key.len() > 4096 {
        errors.push(ValidationError::new(
            field,
            "must be at most 4096 characters",
        ));
        return None;
    }
    Some(Zeroizing::new(key.to_string()))
}

/// Checks the name rule: 1-100 characters; letters, digits, space, `-`, `_`.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    let count = name.chars().count();
    if count == 0 {
        return Err(ValidationError::new(
            "name",
            "is required (1-100 characters)",
        ));
    }
    if count > 100 {
        return Err(ValidationError::new(
            "name",
            format!("must be at most 100 characters (got {count})"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_'))
    {
        return Err(ValidationError::new(
            "name",
            format!("may contain only letters, digits, spaces, '-' and '_' (found {bad:?})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, env: &str, url: &str) -> ProjectInput {
        ProjectInput {
            name: name.into(),
            environment: env.into(),
            db_url: Zeroizing::new(url.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_project_validates() {
        let v = input("  My App_2 ", "Production", "postgres://u:p@h/db")
            .validate()
            .unwrap();
        assert_eq!(v.name, "My App_2");
        assert_eq!(v.environment, Environment::Production);
    }

    #[test]
    fn every_bad_field_is_named() {
        let errs = input("bad/name", "prod", "nope").validate().unwrap_err();
        assert!(errs.for_field("name").is_some());
        assert!(errs.for_field("environment").is_some());
        assert!(errs.for_field("db_url").is_some());
        let long = "x".repeat(101);
        let errs = input(&long, "staging", "postgres://h/db")
            .validate()
            .unwrap_err();
        assert!(errs.for_field("name").unwrap().rule.contains("at most 100"));
        assert!(input("", "", "postgres://h/db").validate().is_err());
    }

    #[test]
    fn slugs_are_folder_safe() {
        assert_eq!(slugify("My App  (prod)"), "my-app-prod");
        assert_eq!(slugify("___"), "project");
        assert_eq!(slugify("Crème"), "cr-me");
    }

    #[test]
    fn windows_device_names_get_a_suffix_there_only() {
        for name in ["con", "prn", "aux", "nul", "com1", "lpt9", "com0"] {
            assert!(is_windows_device_name(name), "{name}");
        }
        for name in [
            "console", "com", "com10", "lpt", "comx", "nul-db", "project",
        ] {
            assert!(!is_windows_device_name(name), "{name}");
        }
        let want = if cfg!(windows) { "con-project" } else { "con" };
        assert_eq!(slugify("CON"), want);
        assert_eq!(slugify("Console"), "console");
    }
}
