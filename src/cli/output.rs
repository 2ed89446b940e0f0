//! Printing: aligned tables, JSON, sizes and durations; standard output
//! and error that a closed pipe does not crash.

use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once standard output is found closed (its reader went away, as
/// `head` does): what is printed after that is dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// The same for standard error.
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `args` to standard output. A reader that stopped reading is done,
/// not an error: the command goes on to its end (a finished backup stays a
/// success) and prints nothing more. Any other write error is said once on
/// standard error. Returns whether it was written.
pub fn stdout(args: std::fmt::Arguments<'_>) -> bool {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return false;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            stderr(format_args!(
                "warning: cannot write to standard output ({e}): the rest of the output is lost\n"
            ));
        }
        return false;
    }
    true
}

/// Writes `args` to standard error; a closed one drops it (there is nowhere
/// left to say anything).
pub fn stderr(args: std::fmt::Arguments<'_>) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut err = std::io::stderr().lock();
    if err.write_fmt(args).and_then(|()| err.flush()).is_err() {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Prints rows under headers, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints a value as pretty JSON.
pub fn json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => out!("{s}"),
        Err(e) => err!("error: cannot print JSON: {e}"),
    }
}

pub use crate::domain::{human_bytes as bytes, human_duration_ms as duration_ms};
