//! A test hook, and nothing else: `SUPABACKUP_TEST_HOLD=<point>:<path>`
//! stops the process at a named point of its work until the test lets it
//! go, so a test can do something at exactly that moment (another machine's
//! deletion while this one's copy is half done). At the point the process
//! writes `<path>.held` (its process id) and waits until `<path>.go` exists
//! (at most ten minutes). Points: `copy-objects` (a copy has uploaded its
//! Storage files, not yet its set's files and `objects.txt`) and
//! `backup-objects` (a backup has stored its Storage files, not yet written
//! its `objects.txt`). Unset, it costs one environment lookup.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The environment variable of the hook.
pub const HOLD_ENV: &str = "SUPABACKUP_TEST_HOLD";

/// Waits at `point` when the hook names it.
pub(crate) async fn hold_point(point: &str) {
    let Ok(spec) = std::env::var(HOLD_ENV) else {
        return;
    };
    let Some((at, path)) = spec.split_once(':') else {
        return;
    };
    if at != point || path.is_empty() {
        return;
    }
    let (held, go) = (
        PathBuf::from(format!("{path}.held")),
        PathBuf::from(format!("{path}.go")),
    );
    let _ = std::fs::write(&held, std::process::id().to_string());
    let deadline = Instant::now() + Duration::from_secs(600);
    while !go.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
