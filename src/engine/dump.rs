//! One part of a backup: a dump tool's stdout streamed through the SQL filter
//! and row counter, the compressor and SHA-256 into the part file.

use crate::domain::{Compression, Part, PartInfo, TableRows};
use crate::engine::child::{ChildSlot, ToolRun, tail};
use crate::engine::codec::PartWriter;
use crate::engine::sqlstream::{LineFilter, SqlStream};
use crate::engine::{CancelToken, EngineError, Progress};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;

/// What to dump and where.
pub struct PartSpec<F: LineFilter> {
    /// Which part.
    pub part: Part,
    /// pg_dump or pg_dumpall, with its arguments.
    pub tool: ToolRun,
    /// The file to create (in the `.partial` folder).
    pub file: PathBuf,
    /// Codec and level.
    pub compression: Compression,
    /// The SQL filter.
    pub filter: F,
}

/// A finished part.
pub struct PartOutput<F> {
    /// Size and checksum.
    pub info: PartInfo,
    /// Rows per table.
    pub tables: Vec<TableRows>,
    /// The filter, with what it collected.
    pub filter: F,
}

/// A write error in words: a full disk says so.
pub fn write_error(path: &Path, e: std::io::Error) -> EngineError {
    if matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded) {
        EngineError::Failed(format!(
            "the disk is full while writing {}: free some space or set another backup root \
             (`supabackup settings set backup-root PATH`), then run the backup again; the \
             incomplete backup was removed",
            path.display()
        ))
    } else {
        EngineError::io("cannot write the backup file", path, e)
    }
}

/// Runs one part to completion. Blocking: call from `spawn_blocking`.
/// The child goes into `slot` so a cancel can kill it.
pub fn run_part<F: LineFilter>(
    spec: PartSpec<F>,
    progress: &Progress,
    cancel: &CancelToken,
    slot: &ChildSlot,
) -> Result<PartOutput<F>, EngineError> {
    let written_before = progress.bytes_written.load(Ordering::Relaxed);
    let running = spec.tool.spawn(slot, Stdio::null(), Stdio::piped())?;
    let mut stdout = running
        .slot
        .with(|c| c.stdout.take())
        .flatten()
        .ok_or_else(|| EngineError::Failed("the dump tool has no output pipe".into()))?;
    if cancel.is_cancelled() {
        running.slot.kill();
    }
    let mut writer =
        PartWriter::create(&spec.file, spec.compression).map_err(|e| write_error(&spec.file, e))?;
    let mut stream = SqlStream::new(spec.filter);
    let mut buf = vec![0u8; 256 * 1024];
    let mut table = None;
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(EngineError::Failed(format!(
                    "reading {}'s output failed: {e}",
                    spec.tool.name()
                )));
            }
        };
        Progress::add(&progress.bytes_read, n as u64);
        let rows_before = stream.rows();
        stream
            .feed(&buf[..n], &mut writer)
            .map_err(|e| write_error(&spec.file, e))?;
        Progress::add(&progress.rows, stream.rows() - rows_before);
        progress
            .bytes_written
            .store(written_before + writer.bytes_on_disk(), Ordering::Relaxed);
        let now = stream.current_table();
        if now.is_some() && now != table {
            progress.set_current(format!(
                "{}: {}",
                spec.part.as_str(),
                now.as_deref().unwrap_or("")
            ));
            table = now;
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    drop(stdout);
    if cancel.is_cancelled() {
        running.slot.kill();
        return Err(EngineError::Cancelled);
    }
    let tool = spec.tool.clone();
    let (status, stderr) = running.wait();
    if cancel.is_cancelled() {
        return Err(EngineError::Cancelled);
    }
    match status {
        Some(s) if s.success() => {}
        other => {
            let code = other
                .and_then(|s| s.code())
                .map(|c| format!("exit code {c}"))
                .unwrap_or_else(|| "killed".into());
            return Err(EngineError::Failed(format!(
                "{} failed ({code}) during the {} part: {}",
                tool.name(),
                spec.part.as_str(),
                tool.mask(&tail(&stderr, 6))
            )));
        }
    }
    let (tables, filter) = stream.finish(&mut writer).map_err(|e| {
        if e.kind() == ErrorKind::UnexpectedEof {
            EngineError::Failed(format!("{}: {e}", tool.name()))
        } else {
            write_error(&spec.file, e)
        }
    })?;
    let raw_bytes = writer.raw_bytes();
    let (bytes, sha256) = writer.finish().map_err(|e| write_error(&spec.file, e))?;
    progress
        .bytes_written
        .store(written_before + bytes, Ordering::Relaxed);
    let file = spec
        .file
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    Ok(PartOutput {
        info: PartInfo {
            part: spec.part,
            file,
            bytes,
            raw_bytes,
            sha256,
        },
        tables,
        filter,
    })
}
