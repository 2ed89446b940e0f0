//! Leases where backup sets live (a destination, or the local backup root,
//! which two machines may share), so that removing the stored Storage files
//! no set refers to never takes those of a backup or copy still being
//! written by another process or machine: its files are there before the
//! `objects.txt` that refers to them.
//!
//! A lease is a small JSON object `<prefix>/.supabackup/locks/<kind>-<machine>-<pid>-<nonce>.json`
//! (the machine, the process, when it was taken and last refreshed),
//! rewritten every five minutes while held and deleted when done. A writer
//! (a backup or a copy adding stored files) takes one and waits while a
//! collection holds one; a collection takes one and, when a writer holds
//! one, gives up (the next deletion collects). Each writes its own before it
//! looks at the others', so of two that start together at least one sees the
//! other. A lease not refreshed for 30 minutes, or held by a process of this
//! machine that is gone, is stale: ignored, and removed.

use crate::engine::remote::{Remote, RemoteError};
use crate::engine::{CancelToken, EngineError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where leases are, under the destination's prefix or the backup root.
pub const LOCKS_PREFIX: &str = ".supabackup/locks";
/// How often a held lease is rewritten.
const REFRESH: Duration = Duration::from_secs(300);
/// A lease not refreshed for this long is stale.
pub const STALE_MINUTES: i64 = 30;
/// How often a waiting writer looks again.
const POLL: Duration = Duration::from_millis(500);

/// What the holder of a lease is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseKind {
    /// A backup or a copy, adding stored files and a set that refers to them.
    Write,
    /// Removing the stored files no set refers to.
    Collect,
}

impl LeaseKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Collect => "collect",
        }
    }
}

/// A lease as it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// What its holder does.
    pub kind: LeaseKind,
    /// The project's folder name (slug) it is about.
    pub project: String,
    /// The holder's machine (host name).
    pub machine: String,
    /// The holder's process id.
    pub pid: u32,
    /// When it was taken.
    pub created: DateTime<Utc>,
    /// When it was last rewritten.
    pub refreshed: DateTime<Utc>,
    /// The program and version that wrote it.
    pub tool: String,
}

impl LeaseRecord {
    /// Stale: not refreshed for [`STALE_MINUTES`], or its process, on this
    /// machine, is gone.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now - self.refreshed > chrono::Duration::minutes(STALE_MINUTES)
            || (self.machine == machine_name() && !process_alive(self.pid))
    }

    /// "a copy on laptop-2 (process 4242, since 2026-01-02 03:04 UTC)".
    pub fn describe(&self) -> String {
        let what = match self.kind {
            LeaseKind::Write => "a backup or copy",
            LeaseKind::Collect => "a removal of unused stored files",
        };
        format!(
            "{what} on {} (process {}, since {} UTC)",
            self.machine,
            self.pid,
            self.created.format("%Y-%m-%d %H:%M")
        )
    }
}

/// Why a lease could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The place could not be read or written.
    #[error("cannot read or write its locks ({LOCKS_PREFIX}): {0}")]
    Remote(#[from] RemoteError),
    /// Cancelled while waiting.
    #[error("cancelled")]
    Cancelled,
}

impl LeaseError {
    /// As an engine error, `place` naming where (`destination "nas"`).
    pub fn at(self, place: &str) -> EngineError {
        match self {
            Self::Cancelled => EngineError::Cancelled,
            e => EngineError::Failed(format!("{place}: {e}")),
        }
    }
}

/// A lease held; rewritten in the background until released (or dropped,
/// which deletes it in the background).
pub struct Lease {
    remote: Remote,
    key: String,
    refresher: Option<tokio::task::JoinHandle<()>>,
}

/// What a collection may do.
pub enum Collecting {
    /// Go ahead, holding this.
    Go(Lease),
    /// A writer holds a lease: leave the files alone.
    Busy(LeaseRecord),
}

impl Lease {
    /// Takes a lease for writing: written first, then held back while
    /// another process's collection runs (`waiting` is told about it).
    pub async fn for_writing(
        remote: &Remote,
        project: &str,
        cancel: &CancelToken,
        waiting: &(dyn Fn(&LeaseRecord) + Send + Sync),
    ) -> Result<Lease, LeaseError> {
        let lease = Lease::take(remote, LeaseKind::Write, project).await?;
        loop {
            let busy = match lease.others(LeaseKind::Collect, project).await {
                Ok(found) => found,
                Err(e) => {
                    lease.release().await;
                    return Err(e.into());
                }
            };
            let Some(first) = busy.first() else {
                return Ok(lease);
            };
            waiting(first);
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = cancel.cancelled() => {
                    lease.release().await;
                    return Err(LeaseError::Cancelled);
                }
            }
        }
    }

    /// Takes a lease for collecting, unless a writer holds one (then none is
    /// kept, and the writer is named).
    pub async fn for_collecting(remote: &Remote, project: &str) -> Result<Collecting, LeaseError> {
        let lease = Lease::take(remote, LeaseKind::Collect, project).await?;
        match lease.others(LeaseKind::Write, project).await {
            Ok(found) => match found.into_iter().next() {
                Some(writer) => {
                    lease.release().await;
                    Ok(Collecting::Busy(writer))
                }
                None => Ok(Collecting::Go(lease)),
            },
            Err(e) => {
                lease.release().await;
                Err(e.into())
            }
        }
    }

    /// Writes a lease and starts rewriting it every [`REFRESH`].
    async fn take(remote: &Remote, kind: LeaseKind, project: &str) -> Result<Lease, RemoteError> {
        let now = Utc::now();
        let mut record = LeaseRecord {
            kind,
            project: project.to_string(),
            machine: machine_name(),
            pid: std::process::id(),
            created: now,
            refreshed: now,
            tool: format!("supabackup {}", env!("CARGO_PKG_VERSION")),
        };
        let key = format!(
            "{LOCKS_PREFIX}/{}-{}-{}-{:08x}.json",
            kind.as_str(),
            record.machine,
            record.pid,
            nonce()
        );
        remote.put_bytes(&key, encode(&record)).await?;
        let refresher = {
            let (remote, key) = (remote.clone(), key.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(REFRESH).await;
                    record.refreshed = Utc::now();
                    // A failed rewrite is tried again at the next turn; the
                    // lease goes stale only after several.
                    let _ = remote.put_bytes(&key, encode(&record)).await;
                }
            })
        };
        Ok(Lease {
            remote: remote.clone(),
            key,
            refresher: Some(refresher),
        })
    }

    /// Stops refreshing and deletes the lease (a failure leaves it to go
    /// stale).
    pub async fn release(mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
            let _ = r.await;
        }
        let key = std::mem::take(&mut self.key);
        let _ = self.remote.delete(&key).await;
    }

    /// The live leases of `kind` on `project` other than this one (a lease
    /// that cannot be read counts, for any project, until it is stale by
    /// its age at the place). Stale ones are removed on the way.
    async fn others(
        &self,
        kind: LeaseKind,
        project: &str,
    ) -> Result<Vec<LeaseRecord>, RemoteError> {
        let now = Utc::now();
        let mut live = Vec::new();
        for o in self.remote.list(LOCKS_PREFIX).await? {
            if o.key == self.key || !o.key.ends_with(".json") {
                continue;
            }
            let bytes = match self.remote.get_bytes(&o.key).await {
                Ok(b) => b,
                Err(RemoteError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            match serde_json::from_slice::<LeaseRecord>(&bytes) {
                Ok(r) if r.is_stale(now) => {
                    let _ = self.remote.delete(&o.key).await;
                }
                Ok(r) if r.kind == kind && r.project == project => live.push(r),
                Ok(_) => {}
                Err(_) => {
                    let old = o
                        .modified
                        .is_some_and(|m| now - m > chrono::Duration::minutes(STALE_MINUTES));
                    if !old && kind == LeaseKind::Write {
                        live.push(LeaseRecord {
                            kind,
                            project: project.to_string(),
                            machine: format!("an unreadable lock ({})", o.key),
                            pid: 0,
                            created: o.modified.unwrap_or(now),
                            refreshed: o.modified.unwrap_or(now),
                            tool: String::new(),
                        });
                    }
                }
            }
        }
        Ok(live)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(r) = self.refresher.take() {
            r.abort();
        }
        if !self.key.is_empty()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let (remote, key) = (self.remote.clone(), std::mem::take(&mut self.key));
            handle.spawn(async move {
                let _ = remote.delete(&key).await;
            });
        }
    }
}

fn encode(record: &LeaseRecord) -> Vec<u8> {
    serde_json::to_vec_pretty(record).unwrap_or_default()
}

/// This machine's host name, as a key may hold it (ASCII letters, digits,
/// `-` and `_`; at most 63 characters).
pub fn machine_name() -> String {
    let name: String = gethostname::gethostname()
        .to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    if name.is_empty() {
        "machine".into()
    } else {
        name
    }
}

/// Whether a process of this machine still runs (where that can be known:
/// on Linux; elsewhere a lease goes stale by its age alone).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        std::path::Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// A random number that tells two leases of one process apart.
fn nonce() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::remote::RemoteConfig;

    fn folder() -> (tempfile::TempDir, Remote) {
        let dir = tempfile::tempdir().unwrap();
        let remote = Remote::open(RemoteConfig::Folder {
            path: dir.path().to_path_buf(),
        })
        .unwrap();
        (dir, remote)
    }

    fn record(kind: LeaseKind, machine: &str, pid: u32, age_minutes: i64) -> LeaseRecord {
        let at = Utc::now() - chrono::Duration::minutes(age_minutes);
        LeaseRecord {
            kind,
            project: "shop".into(),
            machine: machine.into(),
            pid,
            created: at,
            refreshed: at,
            tool: "t".into(),
        }
    }

    #[test]
    fn a_lease_goes_stale_by_age_or_with_its_process() {
        let now = Utc::now();
        assert!(!record(LeaseKind::Write, "other-host", 1, 5).is_stale(now));
        assert!(record(LeaseKind::Write, "other-host", 1, 31).is_stale(now));
        let me = machine_name();
        assert!(!record(LeaseKind::Write, &me, std::process::id(), 5).is_stale(now));
        if cfg!(target_os = "linux") {
            // No process has this id (above pid_max).
            assert!(record(LeaseKind::Write, &me, 4_194_305, 5).is_stale(now));
        }
    }

    #[tokio::test]
    async fn a_collection_gives_way_to_a_writer_and_a_writer_waits_for_a_collection() {
        let (dir, remote) = folder();
        let cancel = CancelToken::new();
        let writer = Lease::for_writing(&remote, "shop", &cancel, &|_| {})
            .await
            .unwrap();
        let locks = dir.path().join(".supabackup").join("locks");
        assert_eq!(std::fs::read_dir(&locks).unwrap().count(), 1);
        // Another project's collection is not held back.
        assert!(matches!(
            Lease::for_collecting(&remote, "blog").await.unwrap(),
            Collecting::Go(_)
        ));
        match Lease::for_collecting(&remote, "shop").await.unwrap() {
            Collecting::Busy(r) => {
                assert_eq!((r.kind, r.pid), (LeaseKind::Write, std::process::id()));
                assert!(
                    r.describe().contains("a backup or copy on"),
                    "{}",
                    r.describe()
                );
            }
            Collecting::Go(_) => panic!("collected under a writer"),
        }
        writer.release().await;
        let Collecting::Go(collector) = Lease::for_collecting(&remote, "shop").await.unwrap()
        else {
            panic!("a released writer still holds it back");
        };
        // A writer waits while the collection runs, then goes.
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let waiting = {
            let (remote, cancel, seen) = (remote.clone(), cancel.clone(), seen.clone());
            tokio::spawn(async move {
                let told = move |r: &LeaseRecord| {
                    assert_eq!(r.kind, LeaseKind::Collect);
                    seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                };
                Lease::for_writing(&remote, "shop", &cancel, &told).await
            })
        };
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(!waiting.is_finished(), "the writer did not wait");
        assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= 1);
        collector.release().await;
        let lease = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        lease.release().await;
        assert!(!locks.exists(), "released leases leave nothing behind");
    }

    #[tokio::test]
    async fn stale_leases_are_ignored_and_removed_and_a_waiting_writer_can_be_cancelled() {
        let (dir, remote) = folder();
        let put = |name: &str, r: &LeaseRecord| {
            let path = dir.path().join(LOCKS_PREFIX).join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, encode(r)).unwrap();
        };
        put(
            "write-old.json",
            &record(LeaseKind::Write, "gone-host", 7, 45),
        );
        assert!(matches!(
            Lease::for_collecting(&remote, "shop").await.unwrap(),
            Collecting::Go(_)
        ));
        assert!(
            !dir.path()
                .join(LOCKS_PREFIX)
                .join("write-old.json")
                .exists()
        );
        put(
            "collect-live.json",
            &record(LeaseKind::Collect, "other-host", 7, 1),
        );
        let cancel = CancelToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            c.cancel();
        });
        let r = Lease::for_writing(&remote, "shop", &cancel, &|_| {}).await;
        assert!(matches!(r, Err(LeaseError::Cancelled)));
        let left: Vec<_> = std::fs::read_dir(dir.path().join(LOCKS_PREFIX))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left,
            ["collect-live.json"],
            "the cancelled writer's lease went"
        );
    }
}
