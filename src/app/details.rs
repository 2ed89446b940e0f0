//! A backup's details view as plain data: which backup, its set's manifest
//! and details as the engine read them (or why there is nothing to read),
//! and what the last verify or drill of it found.

use crate::domain::{Activity, Backup, BackupId, BackupStatus, CopyStatus};
use crate::protocol::{CheckKind, CheckResult, SetContents, Snapshot};
use chrono::{DateTime, Utc};

/// The set's contents, as far as they have been read.
#[derive(Debug, Clone)]
pub enum Loaded {
    /// Asked for (`LoadSetContents`); the engine is reading it.
    Loading,
    /// There is nothing to read, and why.
    Unavailable(String),
    /// What the engine read, or why it could not.
    Done(Box<Result<SetContents, String>>),
}

impl Loaded {
    /// Still waiting for the engine.
    pub fn is_loading(&self) -> bool {
        matches!(self, Loaded::Loading)
    }
}

/// The backup whose details are shown.
#[derive(Debug, Clone)]
pub struct BackupDetails {
    /// The backup.
    pub backup: BackupId,
    /// Its set's manifest and details.
    pub contents: Loaded,
}

impl BackupDetails {
    /// The details of `b`: its set is read when it has a local one (a
    /// completed backup whose folder was not removed for remote-only).
    pub fn open(b: &Backup) -> Self {
        let contents = if b.status != BackupStatus::Completed {
            Loaded::Unavailable(format!(
                "This backup {}: it has no backup set to read.",
                match b.status {
                    BackupStatus::Running => "is still running",
                    BackupStatus::Failed => "failed",
                    BackupStatus::Cancelled => "was cancelled",
                    BackupStatus::Interrupted => "was interrupted",
                    BackupStatus::Completed => "completed",
                }
            ))
        } else if b.extra.remote_only {
            Loaded::Unavailable(
                "Its local folder was removed once every copy was verified: it is kept only at \
                 its destinations. Verify a copy to check it; restore reads it from there."
                    .into(),
            )
        } else {
            Loaded::Loading
        };
        Self {
            backup: b.id,
            contents,
        }
    }
}

/// A copy of a backup, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyLine {
    /// The destination's name.
    pub destination: String,
    /// "copied", "failed", "pending".
    pub state: &'static str,
    /// When it last changed.
    pub at: DateTime<Utc>,
    /// Why it failed.
    pub error: Option<String>,
    /// It can be read (verified, restored from).
    pub readable: bool,
}

/// Each copy of `b`, by destination name.
pub fn copy_lines(b: &Backup, data: &Snapshot) -> Vec<CopyLine> {
    b.extra
        .copies
        .iter()
        .map(|c| CopyLine {
            destination: data.destination_name(c.destination),
            state: match c.status {
                CopyStatus::Copied => "copied",
                CopyStatus::Pending => "pending",
                CopyStatus::Failed { .. } => "failed",
                CopyStatus::Damaged { .. } => "damaged",
            },
            at: c.at,
            error: match &c.status {
                CopyStatus::Failed { error } | CopyStatus::Damaged { error } => Some(error.clone()),
                _ => None,
            },
            readable: matches!(c.status, CopyStatus::Copied)
                && data.destinations.iter().any(|d| d.id == c.destination),
        })
        .collect()
}

/// What the last verify or drill of `b` found: this session's own (from
/// `Checked`), else the newest the activity log recorded about its set.
pub fn last_check(
    b: &Backup,
    session: Option<&CheckResult>,
    activity: &[Activity],
) -> Option<CheckResult> {
    if let Some(c) = session {
        return Some(c.clone());
    }
    // The engine logs a verify as "verified <folder>: intact" or "verify of
    // <set> found damage", a drill as "restore drill of <set> ...".
    let folder = b.path.display().to_string();
    let short = format!("backup {}", b.id.short());
    let drill = format!("restore drill of {} ", b.id.short());
    let about = |m: &str| {
        (!folder.is_empty() && m.contains(&folder)) || m.contains(&short) || m.starts_with(&drill)
    };
    // Activity is newest first.
    activity.iter().find_map(|a| {
        let m = a.message.as_str();
        if !about(m) {
            return None;
        }
        let (kind, ok) = if m.starts_with("verified ") {
            (CheckKind::Verify, true)
        } else if m.starts_with("verify of ") {
            (CheckKind::Verify, false)
        } else if m.starts_with("restore drill of ") {
            (CheckKind::Drill, m.contains(" passed"))
        } else {
            return None;
        };
        Some(CheckResult {
            backup: b.id,
            kind,
            ok,
            message: a.message.clone(),
            at: a.at,
        })
    })
}

/// A check's kind, in words.
pub fn check_words(kind: &CheckKind) -> String {
    match kind {
        CheckKind::Verify => "Verify".into(),
        CheckKind::VerifyCopy(d) => format!("Verify of the copy at \"{d}\""),
        CheckKind::Drill => "Restore drill".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Level, ProjectId, fixtures};

    #[test]
    fn only_a_completed_local_set_is_read() {
        let now = Utc::now();
        let p = ProjectId::new();
        let mut b = fixtures::backup(p, None, now, BackupStatus::Failed, 0);
        assert!(matches!(
            BackupDetails::open(&b).contents,
            Loaded::Unavailable(ref why) if why.contains("failed")
        ));
        b.status = BackupStatus::Completed;
        assert!(BackupDetails::open(&b).contents.is_loading());
        b.extra.remote_only = true;
        assert!(matches!(
            BackupDetails::open(&b).contents,
            Loaded::Unavailable(ref why) if why.contains("only at its destinations")
        ));
    }

    #[test]
    fn the_last_check_comes_from_the_session_else_the_activity_about_this_set() {
        let now = Utc::now();
        let p = ProjectId::new();
        let mut b = fixtures::backup(p, None, now, BackupStatus::Completed, 10);
        b.path = "/backups/shop/20250101T000000Z-full-abcd1234".into();
        let other = "verified /backups/shop/other: intact".to_string();
        let activity = vec![
            Activity::now(Level::Info, Some(p), other),
            Activity::now(
                Level::Error,
                Some(p),
                format!("verify of {} found damage: data.sql.zst", b.path.display()),
            ),
            Activity::now(
                Level::Info,
                Some(p),
                format!("verified {}: intact", b.path.display()),
            ),
        ];
        let found = last_check(&b, None, &activity).unwrap();
        let drilled = Activity::now(
            Level::Info,
            Some(p),
            format!("restore drill of {} passed: 1 tables, 3 rows", b.id.short()),
        );
        let newer: Vec<Activity> = std::iter::once(drilled).chain(activity.clone()).collect();
        let d = last_check(&b, None, &newer).unwrap();
        assert_eq!((d.kind, d.ok), (CheckKind::Drill, true));
        assert_eq!(found.kind, CheckKind::Verify);
        assert!(!found.ok, "the newest about this set: damage");
        assert!(found.message.contains("data.sql.zst"));
        let mine = CheckResult {
            backup: b.id,
            kind: CheckKind::Drill,
            ok: true,
            message: "passed".into(),
            at: now,
        };
        assert_eq!(
            last_check(&b, Some(&mine), &activity).unwrap().kind,
            CheckKind::Drill
        );
        assert!(last_check(&b, None, &activity[..1]).is_none());
    }
}
