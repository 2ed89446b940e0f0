//! Running PostgreSQL's client tools: the password reaches the child through
//! its own environment only (never argv), stderr is captured (capped) with
//! secrets masked, and the child can be killed from another thread.

use crate::engine::{CancelToken, EngineError};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use zeroize::Zeroizing;

/// Most stderr kept for an error message.
const STDERR_CAP: usize = 64 * 1024;

/// A tool invocation.
#[derive(Clone)]
pub struct ToolRun {
    /// The program.
    pub program: PathBuf,
    /// Its arguments: never a password.
    pub args: Vec<String>,
    /// Given to the child as PGPASSWORD in its own environment.
    pub password: Option<Zeroizing<String>>,
}

impl ToolRun {
    /// The program's file name, for messages.
    pub fn name(&self) -> String {
        self.program
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "tool".into())
    }

    /// Replaces the password wherever it appears in `text`.
    pub fn mask(&self, text: &str) -> String {
        match &self.password {
            Some(pw) if !pw.is_empty() => text.replace(pw.as_str(), "****"),
            _ => text.to_string(),
        }
    }

    /// Spawns with the given stdin and stdout into `slot` (so whoever holds
    /// a clone of it can kill the child); stderr is captured.
    pub fn spawn(
        &self,
        slot: &ChildSlot,
        stdin: Stdio,
        stdout: Stdio,
    ) -> Result<Running, EngineError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .env_remove("PGPASSWORD")
            .env_remove("PGPASSFILE")
            .env("PGAPPNAME", "supabackup")
            .env("PGCONNECT_TIMEOUT", "15");
        if let Some(pw) = &self.password {
            cmd.env("PGPASSWORD", pw.as_str());
        }
        let mut child = cmd.spawn().map_err(|e| {
            EngineError::Failed(format!(
                "cannot run {}: {e} (check the PostgreSQL client tools: `supabackup info`)",
                self.program.display()
            ))
        })?;
        let stderr = child.stderr.take();
        let reader = std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(mut err) = stderr {
                let mut buf = [0u8; 8192];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if kept.len() < STDERR_CAP {
                        kept.extend_from_slice(&buf[..n.min(STDERR_CAP - kept.len())]);
                    }
                }
            }
            String::from_utf8_lossy(&kept).to_string()
        });
        if let Ok(mut guard) = slot.0.lock() {
            *guard = Some(child);
        }
        Ok(Running {
            slot: slot.clone(),
            stderr: Some(reader),
        })
    }
}

/// Runs `work` on the blocking pool with an empty slot for the child it
/// spawns: a cancel kills that child.
pub async fn run_killable<T: Send + 'static>(
    cancel: &CancelToken,
    work: impl FnOnce(ChildSlot) -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    let slot = ChildSlot::default();
    let watcher = tokio::spawn({
        let (cancel, slot) = (cancel.clone(), slot.clone());
        async move {
            cancel.cancelled().await;
            slot.kill();
        }
    });
    let result = tokio::task::spawn_blocking(move || work(slot)).await;
    watcher.abort();
    result
}

/// A child another thread can kill.
#[derive(Clone, Default)]
pub struct ChildSlot(Arc<Mutex<Option<Child>>>);

impl ChildSlot {
    /// Kills the child if it still runs.
    pub fn kill(&self) {
        if let Ok(mut guard) = self.0.lock()
            && let Some(child) = guard.as_mut()
        {
            let _ = child.kill();
        }
    }

    /// Takes the child's stdout / stdin.
    pub fn with<R>(&self, f: impl FnOnce(&mut Child) -> R) -> Option<R> {
        self.0.lock().ok()?.as_mut().map(f)
    }
}

/// A running child; killed when dropped before `wait`.
pub struct Running {
    /// The child, shared with whoever may cancel.
    pub slot: ChildSlot,
    stderr: Option<JoinHandle<String>>,
}

impl Running {
    /// Waits for the exit and returns the status and captured stderr.
    pub fn wait(mut self) -> (Option<ExitStatus>, String) {
        let child = self.slot.0.lock().ok().and_then(|mut g| g.take());
        let status = child.and_then(|mut c| c.wait().ok());
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (status, stderr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.slot.0.lock()
            && let Some(mut child) = guard.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The last lines of a tool's stderr, for a one-paragraph error.
pub fn tail(stderr: &str, lines: usize) -> String {
    let all: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}
