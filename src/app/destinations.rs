//! Destinations as the window sees them, as plain data: the "Add
//! destination" form (S3-compatible storage or a folder), checked as the
//! user types with the engine's own rules and turned into the engine's
//! `DestinationInput`; and each saved destination's last test.

use crate::domain::{
    DestinationKind, ValidationError, ValidationErrors, parse_s3_url, validate_destination,
};
use crate::engine::DestinationInput;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Which kind of destination the form adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationChoice {
    /// An S3-compatible bucket.
    S3,
    /// A folder (a NAS share, a second disk, a USB stick).
    Folder,
}

impl DestinationChoice {
    /// Both, in the order the form offers them.
    pub const ALL: [DestinationChoice; 2] = [Self::S3, Self::Folder];

    /// The choice's words.
    pub fn label(&self) -> &'static str {
        match self {
            Self::S3 => "S3-compatible storage",
            Self::Folder => "A folder",
        }
    }
}

/// The fields the form shows an error at; an error at any other field is
/// shown above the buttons.
pub const FORM_FIELDS: [&str; 7] = [
    "name",
    "s3",
    "endpoint",
    "region",
    "access_key_id",
    "secret_access_key",
    "folder",
];

/// The "Add destination" form.
pub struct DestinationForm {
    /// S3 or a folder.
    pub kind: DestinationChoice,
    /// Its name (what projects and `--copy-to` refer to).
    pub name: String,
    /// `s3://BUCKET/PREFIX`.
    pub s3_url: String,
    /// The endpoint URL.
    pub endpoint: String,
    /// The region.
    pub region: String,
    /// Path-style addressing.
    pub path_style: bool,
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key: typed once, sent once, never shown.
    pub secret: Zeroizing<String>,
    /// The folder.
    pub folder: String,
    /// Errors per field.
    pub errors: ValidationErrors,
    /// "Test and add" was clicked once: errors show, and live after that.
    pub tried: bool,
    /// Waiting for the engine's test.
    pub busy: bool,
    /// Why the engine did not add it (the test's words), shown at the form.
    pub refused: Option<String>,
}

impl Default for DestinationForm {
    fn default() -> Self {
        Self::new()
    }
}

impl DestinationForm {
    /// An empty form for an S3 destination.
    pub fn new() -> Self {
        Self {
            kind: DestinationChoice::S3,
            name: String::new(),
            s3_url: String::new(),
            endpoint: String::new(),
            region: String::new(),
            path_style: false,
            access_key_id: String::new(),
            secret: Zeroizing::new(String::new()),
            folder: String::new(),
            errors: ValidationErrors::default(),
            tried: false,
            busy: false,
            refused: None,
        }
    }

    /// The form as the engine's input, or what is wrong at its fields (the
    /// engine's own checks, so what passes here is what it accepts).
    pub fn input(&self) -> Result<DestinationInput, ValidationErrors> {
        let mut errors = Vec::new();
        let (kind, secret) = match self.kind {
            DestinationChoice::S3 => {
                let (bucket, prefix) = parse_s3_url(&self.s3_url).unwrap_or_else(|e| {
                    errors.push(e);
                    Default::default()
                });
                if self.secret.trim().is_empty() {
                    errors.push(ValidationError::new(
                        "secret_access_key",
                        "must be set: the secret key that goes with the access key id",
                    ));
                }
                let kind = DestinationKind::S3 {
                    endpoint: self.endpoint.trim().to_string(),
                    region: self.region.trim().to_string(),
                    bucket,
                    prefix,
                    path_style: self.path_style,
                    access_key_id: self.access_key_id.trim().to_string(),
                };
                (kind, Some(self.secret.clone()))
            }
            DestinationChoice::Folder => {
                let path = self.folder.trim();
                if path.is_empty() {
                    errors.push(ValidationError::new(
                        "folder",
                        "choose a folder (Browse…) or type its full path",
                    ));
                }
                let kind = DestinationKind::Folder {
                    path: PathBuf::from(path),
                };
                (kind, None)
            }
        };
        if let Err(e) = validate_destination(&self.name, &kind) {
            // An empty folder is said once, above.
            errors.extend(
                e.0.into_iter()
                    .filter(|e| !(e.field == "folder" && self.folder.trim().is_empty())),
            );
        }
        if errors.is_empty() {
            Ok(DestinationInput {
                name: self.name.trim().to_string(),
                kind,
                secret,
            })
        } else {
            Err(ValidationErrors(errors))
        }
    }

    /// Re-checks every field (cheap: plain data).
    pub fn revalidate(&mut self) {
        self.errors = self.input().err().unwrap_or_default();
    }

    /// The engine's errors: those at the form's fields go there, the others
    /// above the buttons.
    pub fn engine_errors(&mut self, errors: ValidationErrors) {
        self.busy = false;
        self.tried = true;
        let (at_fields, other): (Vec<_>, Vec<_>) = errors
            .0
            .into_iter()
            .partition(|e| FORM_FIELDS.contains(&e.field));
        self.refused = (!other.is_empty()).then(|| {
            other
                .iter()
                .map(|e| format!("{}: {}", e.field, e.rule))
                .collect::<Vec<_>>()
                .join("; ")
        });
        self.errors = ValidationErrors(at_fields);
    }
}

/// A saved destination's test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationTest {
    /// Running.
    Running,
    /// What it did, or what failed.
    Done(Result<String, String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(f: &DestinationForm) -> Vec<&'static str> {
        f.input()
            .err()
            .map(|e| e.0.iter().map(|e| e.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn an_s3_form_is_checked_field_by_field_and_becomes_the_engines_input() {
        let mut f = DestinationForm::new();
        assert_eq!(
            fields(&f),
            [
                "s3",
                "secret_access_key",
                "name",
                "endpoint",
                "region",
                "access_key_id"
            ]
        );
        f.name = "offsite".into();
        f.s3_url = "s3://My_Bucket".into();
        f.endpoint = "ftp://x".into();
        f.region = "eu-central-1".into();
        f.access_key_id = "AKIAIOSFODNN7EXAMPLE".into();
        *f.secret = "wJalrXUtnFEMI".into();
        assert_eq!(fields(&f), ["s3", "endpoint"]);
        f.s3_url = "s3://my-backups/shop/".into();
        f.endpoint = "http://127.0.0.1:9000/".into();
        f.path_style = true;
        let input = f.input().unwrap();
        assert_eq!(input.name, "offsite");
        assert_eq!(
            input.secret.as_deref().map(|s| s.as_str()),
            Some("wJalrXUtnFEMI")
        );
        match input.kind {
            DestinationKind::S3 {
                bucket,
                prefix,
                path_style,
                ..
            } => assert_eq!(
                (bucket.as_str(), prefix.as_str(), path_style),
                ("my-backups", "shop", true)
            ),
            DestinationKind::Folder { .. } => panic!("S3 expected"),
        }
    }

    #[test]
    fn a_folder_must_be_chosen_and_absolute_and_the_engines_other_errors_go_above_the_buttons() {
        let mut f = DestinationForm::new();
        f.kind = DestinationChoice::Folder;
        f.name = "nas".into();
        assert_eq!(fields(&f), ["folder"]);
        f.folder = "relative/path".into();
        assert_eq!(fields(&f), ["folder"]);
        f.folder = "/mnt/nas/backups".into();
        let input = f.input().unwrap();
        assert!(input.secret.is_none());
        f.engine_errors(ValidationErrors(vec![
            ValidationError::new("name", "is taken"),
            ValidationError::new("prefix", "has a character S3 refuses"),
        ]));
        assert_eq!(f.errors.0.len(), 1);
        assert_eq!(
            f.refused.as_deref(),
            Some("prefix: has a character S3 refuses")
        );
    }
}
