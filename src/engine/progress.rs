//! Live progress of a running job, shared as atomics: the engine writes, the
//! UI and the CLI's progress bar read, nobody waits.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Progress of one backup (or restore, or verify): writers call the
/// `add_*`/`set_*` methods, readers the getters; nobody waits.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    /// Bytes of SQL read from pg_dump (or decompressed, for restore/verify).
    bytes_read: AtomicU64,
    /// Bytes written to disk (compressed).
    bytes_written: AtomicU64,
    /// Rows seen in COPY blocks.
    rows: AtomicU64,
    /// Expected bytes of SQL (an estimate from the tables' sizes); 0 = unknown.
    total: AtomicU64,
    /// Set when the job has ended, whatever the outcome.
    done: AtomicBool,
    current: Mutex<String>,
    /// Things to say once, as they happen (an upload tried again).
    notices: Mutex<Vec<String>>,
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
            total: AtomicU64::new(0),
            done: AtomicBool::new(false),
            current: Mutex::new(String::new()),
            notices: Mutex::new(Vec::new()),
        }
    }

    /// Something to say once, as it happens (the CLI prints it on
    /// standard error, a wait of minutes is not silent).
    pub fn notice(&self, what: impl Into<String>) {
        if let Ok(mut n) = self.notices.lock() {
            n.push(what.into());
        }
    }

    /// The notices not taken yet, oldest first.
    pub fn take_notices(&self) -> Vec<String> {
        self.notices
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
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

    /// `n` more bytes read.
    pub fn add_read(&self, n: u64) {
        self.bytes_read.fetch_add(n, Ordering::Relaxed);
    }

    /// The bytes read so far are `n`.
    pub fn set_read(&self, n: u64) {
        self.bytes_read.store(n, Ordering::Relaxed);
    }

    /// `n` more bytes on disk.
    pub fn add_written(&self, n: u64) {
        self.bytes_written.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` more rows.
    pub fn add_rows(&self, n: u64) {
        self.rows.fetch_add(n, Ordering::Relaxed);
    }

    /// The expected total of bytes to read.
    pub fn set_total(&self, n: u64) {
        self.total.store(n, Ordering::Relaxed);
    }

    /// The job has ended.
    pub fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// Rows so far.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    /// The expected total of bytes to read; 0 when unknown.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// True once the job has ended.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Fraction done in 0..=1, when the total is known.
    pub fn fraction(&self) -> Option<f32> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        Some((self.bytes_read() as f64 / total as f64).min(0.99) as f32)
    }

    /// Time left at the current rate, when the total is known and some work is done.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.total();
        let read = self.bytes_read();
        let secs = self.elapsed().as_secs_f64();
        if total == 0 || read == 0 || secs < 0.5 {
            return None;
        }
        let rate = read as f64 / secs;
        Some(Duration::from_secs_f64(
            (total.saturating_sub(read) as f64 / rate).max(0.0),
        ))
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
        p.set_total(1000);
        p.add_read(250);
        assert_eq!(p.fraction(), Some(0.25));
        p.add_read(5000);
        assert_eq!(p.fraction(), Some(0.99));
        p.set_current("public.users");
        assert_eq!(p.current(), "public.users");
    }
}
