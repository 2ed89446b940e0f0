//! Live progress of a running job, shared as atomics: the engine writes, the
//! UI and the CLI's progress bar read, nobody waits.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Progress of one backup (or restore, or verify).
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    /// Bytes of SQL read from pg_dump (or decompressed, for restore/verify).
    pub bytes_read: AtomicU64,
    /// Bytes written to disk (compressed).
    pub bytes_written: AtomicU64,
    /// Rows seen in COPY blocks.
    pub rows: AtomicU64,
    /// Expected bytes of SQL (an estimate from the tables' sizes); 0 = unknown.
    pub estimated_total: AtomicU64,
    /// Set when the job has ended, whatever the outcome.
    pub done: AtomicBool,
    current: Mutex<String>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    /// Fresh progress, clock started now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            bytes_read: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            estimated_total: AtomicU64::new(0),
            done: AtomicBool::new(false),
            current: Mutex::new(String::new()),
        }
    }

    /// What is being worked on: a part, a table.
    pub fn set_current(&self, what: impl Into<String>) {
        if let Ok(mut c) = self.current.lock() {
            *c = what.into();
        }
    }

    /// What is being worked on.
    pub fn current(&self) -> String {
        self.current.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Fraction done in 0..=1, when the total is known.
    pub fn fraction(&self) -> Option<f32> {
        let total = self.estimated_total.load(Ordering::Relaxed);
        if total == 0 {
            return None;
        }
        let read = self.bytes_read.load(Ordering::Relaxed);
        Some((read as f64 / total as f64).min(0.99) as f32)
    }

    /// Time left at the current rate, when the total is known and some work is done.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.estimated_total.load(Ordering::Relaxed);
        let read = self.bytes_read.load(Ordering::Relaxed);
        let secs = self.elapsed().as_secs_f64();
        if total == 0 || read == 0 || secs < 0.5 {
            return None;
        }
        let rate = read as f64 / secs;
        Some(Duration::from_secs_f64(
            (total.saturating_sub(read) as f64 / rate).max(0.0),
        ))
    }

    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_and_eta_need_a_total() {
        let p = Progress::new();
        assert_eq!(p.fraction(), None);
        assert_eq!(p.eta(), None);
        p.estimated_total.store(1000, Ordering::Relaxed);
        Progress::add(&p.bytes_read, 250);
        assert_eq!(p.fraction(), Some(0.25));
        Progress::add(&p.bytes_read, 5000);
        assert_eq!(p.fraction(), Some(0.99));
        p.set_current("public.users");
        assert_eq!(p.current(), "public.users");
    }
}
