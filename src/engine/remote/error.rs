//! What can go wrong at a destination, in words that say what to do, and
//! how the errors of `object_store` and of the file system map to them.
//! Never holds a secret: S3 texts are scrubbed of the secret key.

use std::path::PathBuf;

/// What was being done when a destination failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Reading an object.
    Read,
    /// Writing an object.
    Write,
    /// Listing objects.
    List,
    /// Deleting an object.
    Delete,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::List => "list",
            Action::Delete => "delete",
        })
    }
}

/// What can go wrong reading or writing a destination.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The service refused the access key id or the secret key.
    #[error(
        "{target} refused the keys ({detail}): check the access key id and the secret access key of this destination"
    )]
    WrongKeys {
        /// The destination, described.
        target: String,
        /// Which key looks wrong, in words.
        detail: &'static str,
    },
    /// The bucket does not exist at that endpoint.
    #[error(
        "there is no bucket \"{bucket}\" at {endpoint}: create it, or correct the bucket name, the region or the endpoint"
    )]
    NoBucket {
        /// The bucket.
        bucket: String,
        /// The endpoint.
        endpoint: String,
    },
    /// The endpoint did not answer (refused, unknown host, timed out).
    #[error(
        "cannot reach {endpoint} ({reason}): check the endpoint URL, the network and any firewall or proxy"
    )]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The lowest-level cause, in words.
        reason: String,
    },
    /// The service says this computer's clock is too far off.
    #[error(
        "{endpoint} rejected the request because this computer's clock is more than 15 minutes off: set the clock right (automatic time) and try again"
    )]
    ClockSkew {
        /// The endpoint.
        endpoint: String,
    },
    /// The keys (or the user, for a folder) may not do this.
    #[error("{target}: permission to {action} is missing: {hint}")]
    Denied {
        /// What was refused.
        action: Action,
        /// The destination, described.
        target: String,
        /// What to grant.
        hint: &'static str,
    },
    /// No object at that key.
    #[error("{key} does not exist at {target}")]
    NotFound {
        /// The key.
        key: String,
        /// The destination, described.
        target: String,
    },
    /// The destination folder is missing (or is not a folder).
    #[error(
        "the destination folder does not exist or is not a folder (is the disk or share mounted?): {}",
        path.display()
    )]
    NoFolder {
        /// The folder.
        path: PathBuf,
    },
    /// A key or prefix breaks the naming rules.
    #[error("invalid object key \"{key}\": {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Which rule.
        reason: &'static str,
    },
    /// A local file (or a destination folder's file) failed.
    #[error("cannot {action}: {source} ({})", path.display())]
    Io {
        /// What was being done.
        action: String,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Anything else, in words.
    #[error("{0}")]
    Other(String),
}

impl RemoteError {
    /// A file error with what was being done.
    pub(super) fn io(
        action: impl Into<String>,
        path: &std::path::Path,
        source: std::io::Error,
    ) -> Self {
        RemoteError::Io {
            action: action.into(),
            path: path.to_path_buf(),
            source,
        }
    }

    /// As an `io::Error` (for the blocking readers), kind kept where it helps.
    pub(super) fn into_io(self) -> std::io::Error {
        let kind = match &self {
            RemoteError::NotFound { .. } => std::io::ErrorKind::NotFound,
            RemoteError::Denied { .. } | RemoteError::WrongKeys { .. } => {
                std::io::ErrorKind::PermissionDenied
            }
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}

/// What an S3 error is checked against: the destination, to describe it, and
/// the secret, to scrub it from any text.
pub(super) struct S3Context<'a> {
    /// `s3://bucket/prefix at endpoint`.
    pub target: &'a str,
    /// The endpoint URL.
    pub endpoint: &'a str,
    /// The bucket.
    pub bucket: &'a str,
    /// The region the requests are signed for.
    pub region: &'a str,
    /// The secret access key (never shown).
    pub secret: &'a str,
}

/// Maps an `object_store` error to what a person can act on. The S3 error
/// code is looked for in the text of the whole chain, because list errors
/// arrive as `Generic` and a missing bucket answers a put with 404.
pub(super) fn from_store(
    e: object_store::Error,
    ctx: &S3Context<'_>,
    action: Action,
    key: &str,
) -> RemoteError {
    let text = chain_text(&e);
    let has = |code: &str| text.contains(code);
    if has("NoSuchBucket") {
        return RemoteError::NoBucket {
            bucket: ctx.bucket.to_string(),
            endpoint: ctx.endpoint.to_string(),
        };
    }
    if has("RequestTimeTooSkewed") {
        return RemoteError::ClockSkew {
            endpoint: ctx.endpoint.to_string(),
        };
    }
    let wrong_keys = |detail| RemoteError::WrongKeys {
        target: ctx.target.to_string(),
        detail,
    };
    // AWS says InvalidAccessKeyId; some servers (s3s) NotSignedUp.
    if has("InvalidAccessKeyId") || has("NotSignedUp") {
        return wrong_keys("the access key id is unknown to the service");
    }
    if has("SignatureDoesNotMatch") {
        return wrong_keys("the secret access key does not match the access key id");
    }
    if has("AuthorizationHeaderMalformed") || has("PermanentRedirect") || has("IncorrectEndpoint") {
        return RemoteError::Other(format!(
            "{} answered that the bucket is not in region \"{}\" (or not at this endpoint): set the bucket's own region and endpoint",
            ctx.target, ctx.region
        ));
    }
    if let Some(reason) = unreachable_reason(&e) {
        return RemoteError::Unreachable {
            endpoint: ctx.endpoint.to_string(),
            reason: scrub(&reason, ctx.secret),
        };
    }
    match e {
        object_store::Error::NotFound { .. } => RemoteError::NotFound {
            key: key.to_string(),
            target: ctx.target.to_string(),
        },
        object_store::Error::Unauthenticated { .. } => {
            wrong_keys("the service asked for valid credentials")
        }
        object_store::Error::PermissionDenied { .. } => s3_denied(ctx, action),
        _ if has("AccessDenied") || has("403 Forbidden") => s3_denied(ctx, action),
        _ => RemoteError::Other(scrub(
            &format!("could not {action} at {}: {text}", ctx.target),
            ctx.secret,
        )),
    }
}

fn s3_denied(ctx: &S3Context<'_>, action: Action) -> RemoteError {
    RemoteError::Denied {
        action,
        target: ctx.target.to_string(),
        hint: match action {
            Action::Read => "allow these keys s3:GetObject on the bucket",
            Action::Write => {
                "allow these keys s3:PutObject and s3:AbortMultipartUpload on the bucket"
            }
            Action::List => "allow these keys s3:ListBucket on the bucket",
            Action::Delete => {
                "allow these keys s3:DeleteObject on the bucket (retention and the test need it)"
            }
        },
    }
}

/// Maps a file-system error at a destination folder.
pub(super) fn from_fs(
    e: std::io::Error,
    target: &str,
    action: Action,
    path: &std::path::Path,
) -> RemoteError {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::PermissionDenied | K::ReadOnlyFilesystem => RemoteError::Denied {
            action,
            target: target.to_string(),
            hint: match action {
                Action::Read | Action::List => "make the folder readable by this user",
                Action::Write | Action::Delete => {
                    "make the folder writable by this user (or mount it read-write)"
                }
            },
        },
        _ => RemoteError::io(format!("{action} at {target}"), path, e),
    }
}

/// The Display of an error and of all its sources, joined.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

/// Why the endpoint could not be reached, when the chain says it could not
/// connect (refused, unknown host, TLS) or timed out: the deepest cause.
fn unreachable_reason(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut what = None;
    let mut deepest = e;
    let mut next = Some(e);
    while let Some(cause) = next {
        if what.is_none()
            && let Some(http) = cause.downcast_ref::<HttpError>()
        {
            what = match http.kind() {
                HttpErrorKind::Connect => Some("could not connect"),
                HttpErrorKind::Timeout => Some("no answer in time"),
                _ => None,
            };
        }
        deepest = cause;
        next = cause.source();
    }
    Some(format!("{}: {deepest}", what?))
}

/// `text` with every occurrence of `secret` masked.
pub(super) fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret, "****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> S3Context<'static> {
        S3Context {
            target: "s3://b/p at http://h",
            endpoint: "http://h",
            bucket: "b",
            region: "us-east-1",
            secret: "s3cr3t",
        }
    }

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: text.to_string().into(),
        }
    }

    #[test]
    fn s3_codes_map_to_what_to_do() {
        let e = from_store(
            generic("<Code>RequestTimeTooSkewed</Code>"),
            &ctx(),
            Action::Write,
            "k",
        );
        assert!(matches!(e, RemoteError::ClockSkew { .. }), "{e}");
        assert!(e.to_string().contains("clock"), "{e}");
        let e = from_store(
            generic("<Code>NoSuchBucket</Code>"),
            &ctx(),
            Action::List,
            "k",
        );
        assert!(matches!(e, RemoteError::NoBucket { .. }), "{e}");
        let e = from_store(
            generic("SignatureDoesNotMatch with s3cr3t"),
            &ctx(),
            Action::List,
            "k",
        );
        assert!(matches!(e, RemoteError::WrongKeys { .. }), "{e}");
        assert!(!format!("{e} {e:?}").contains("s3cr3t"));
        let denied = object_store::Error::PermissionDenied {
            path: "k".into(),
            source: "AccessDenied".to_string().into(),
        };
        let e = from_store(denied, &ctx(), Action::Delete, "k");
        assert!(
            matches!(
                e,
                RemoteError::Denied {
                    action: Action::Delete,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("s3:DeleteObject"), "{e}");
        let e = from_store(generic("boom s3cr3t"), &ctx(), Action::Read, "k");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        let e = from_store(
            generic("<Code>AuthorizationHeaderMalformed</Code>"),
            &ctx(),
            Action::Read,
            "k",
        );
        assert!(e.to_string().contains("region"), "{e}");
    }

    #[test]
    fn folder_permission_errors_say_what_to_fix() {
        let e = from_fs(
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            "folder /x",
            Action::Write,
            std::path::Path::new("/x/a"),
        );
        assert!(e.to_string().contains("writable"), "{e}");
        let e = from_fs(
            std::io::Error::from(std::io::ErrorKind::StorageFull),
            "folder /x",
            Action::Write,
            std::path::Path::new("/x/a"),
        );
        assert!(matches!(e, RemoteError::Io { .. }), "{e}");
        assert!(e.to_string().ends_with("(/x/a)"), "{e}");
    }
}
