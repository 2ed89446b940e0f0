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

/// Where psql reads the SQL a restore feeds it. On Unix its standard
/// input. On Windows a named pipe that psql opens itself with `-f`: psql
/// reads a file in binary mode, while its standard input is in text mode,
/// where "\r\n" becomes "\n" and a Ctrl-Z byte (0x1A, valid in text data)
/// ends the input, so the rest of a restore would be silently lost.
pub enum SqlInput {
    /// psql's standard input.
    #[cfg(not(windows))]
    Stdin(std::process::ChildStdin),
    /// The server end of the pipe psql reads.
    #[cfg(windows)]
    Pipe(tokio_util::io::SyncIoBridge<tokio::net::windows::named_pipe::NamedPipeServer>),
}

impl std::io::Write for SqlInput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            #[cfg(not(windows))]
            SqlInput::Stdin(s) => s.write(buf),
            #[cfg(windows)]
            SqlInput::Pipe(p) => p.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            #[cfg(not(windows))]
            SqlInput::Stdin(s) => s.flush(),
            #[cfg(windows)]
            SqlInput::Pipe(p) => p.flush(),
        }
    }
}

impl ToolRun {
    /// Spawns psql reading its SQL from the returned writer (dropping it
    /// ends the input). Blocking: call from the blocking pool.
    pub fn spawn_fed(&self, slot: &ChildSlot) -> Result<(Running, SqlInput), EngineError> {
        #[cfg(windows)]
        return self.spawn_fed_by_pipe(slot);
        #[cfg(not(windows))]
        {
            let running = self.spawn(slot, Stdio::piped(), Stdio::null())?;
            let stdin = running
                .slot
                .with(|c| c.stdin.take())
                .flatten()
                .ok_or_else(|| EngineError::Failed(format!("{} has no input pipe", self.name())))?;
            Ok((running, SqlInput::Stdin(stdin)))
        }
    }

    #[cfg(windows)]
    fn spawn_fed_by_pipe(&self, slot: &ChildSlot) -> Result<(Running, SqlInput), EngineError> {
        use std::time::{Duration, Instant};
        use tokio::net::windows::named_pipe::ServerOptions;
        let handle = tokio::runtime::Handle::current();
        let mut nonce = [0u8; 8];
        let _ = getrandom::fill(&mut nonce);
        let name = format!(
            r"\\.\pipe\supabackup-{}-{}",
            std::process::id(),
            hex::encode(nonce)
        );
        let pipe_error = |e: std::io::Error| {
            EngineError::Failed(format!(
                "cannot make the pipe psql reads the restore from: {e}"
            ))
        };
        let server = {
            let _inside = handle.enter();
            ServerOptions::new()
                .first_pipe_instance(true)
                .access_inbound(false)
                .create(&name)
                .map_err(pipe_error)?
        };
        let mut fed = self.clone();
        fed.args.extend(["-f".to_string(), name]);
        let running = fed.spawn(slot, Stdio::null(), Stdio::null())?;
        // psql connects to the server first, then opens the file: wait for
        // it, or for its end (a refused connection says why on stderr).
        let started = Instant::now();
        loop {
            let connected = handle.block_on(async {
                tokio::time::timeout(Duration::from_millis(200), server.connect()).await
            });
            match connected {
                Ok(Ok(())) => break,
                Ok(Err(e)) => return Err(pipe_error(e)),
                Err(_) => {}
            }
            let exited = running
                .slot
                .with(|c| c.try_wait().ok().flatten().is_some())
                .unwrap_or(true);
            if exited || started.elapsed() > Duration::from_secs(120) {
                let (_, stderr) = running.wait();
                return Err(EngineError::Failed(format!(
                    "{} ended before reading the restore: {}",
                    self.name(),
                    self.mask(&tail(&stderr, 6))
                )));
            }
        }
        let input = tokio_util::io::SyncIoBridge::new_with_handle(server, handle);
        Ok((running, SqlInput::Pipe(input)))
    }
}
