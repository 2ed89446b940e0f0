//! A dump tool's stdout streamed into part files: one pg_dump split into
//! pg_dump's own sections (pre-data, data, post-data) by the entry headers
//! it writes, or pg_dumpall into the roles part; each part through its SQL
//! filter, the compressor and SHA-256, with rows counted from the COPY
//! stream as it flows.

use crate::domain::{Compression, Part, PartInfo, TableRows};
use crate::engine::child::{ChildSlot, ToolRun, tail};
use crate::engine::set::Sealing;
use crate::engine::set::codec::PartWriter;
use crate::engine::sqlstream::{Entry, LineFilter, Section, Sink, SqlStream};
use crate::engine::{CancelToken, EngineError, Progress};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

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

/// One part file being written through its filter.
pub struct PartSink<F: LineFilter> {
    part: Part,
    file: PathBuf,
    /// The filter, with what it collected.
    pub filter: F,
    writer: PartWriter,
    scratch: Vec<u8>,
}

impl<F: LineFilter> PartSink<F> {
    /// Creates `file` (it must not exist) for `part`, encrypted with
    /// `sealing` when given.
    pub fn create(
        file: PathBuf,
        part: Part,
        compression: Compression,
        sealing: Option<&Sealing>,
        filter: F,
    ) -> Result<Self, EngineError> {
        let writer =
            PartWriter::create(&file, compression, sealing).map_err(|e| write_error(&file, e))?;
        Ok(Self {
            part,
            file,
            filter,
            writer,
            scratch: Vec::new(),
        })
    }

    fn write_line(&mut self, line: &[u8], top: bool) -> std::io::Result<()> {
        self.scratch.clear();
        self.filter.line(line, top, &mut self.scratch);
        self.writer.write_all(&self.scratch)
    }

    /// Compressed bytes on disk so far.
    pub fn bytes_on_disk(&self) -> u64 {
        self.writer.bytes_on_disk()
    }

    /// Ends the file: the filter's tail, then `appendix`; flushed and
    /// fsynced. Returns its size and checksum, and the filter.
    pub fn close(mut self, appendix: &str) -> Result<(PartInfo, F), EngineError> {
        self.scratch.clear();
        self.filter.finish(&mut self.scratch);
        self.scratch.extend_from_slice(appendix.as_bytes());
        self.writer
            .write_all(&self.scratch)
            .map_err(|e| write_error(&self.file, e))?;
        let raw_bytes = self.writer.raw_bytes();
        let (bytes, sha256) = self
            .writer
            .finish()
            .map_err(|e| write_error(&self.file, e))?;
        let file = self
            .file
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        Ok((
            PartInfo {
                part: self.part,
                file,
                bytes,
                raw_bytes,
                sha256,
            },
            self.filter,
        ))
    }
}

impl<F: LineFilter> Sink for PartSink<F> {
    fn entry(&mut self, entry: &Entry) -> std::io::Result<()> {
        self.filter.entry(entry);
        Ok(())
    }
    fn line(&mut self, line: &[u8], top: bool) -> std::io::Result<()> {
        self.write_line(line, top)
    }
    fn copy(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }
}

/// A dump's output, as the progress sees it.
pub trait DumpOutput {
    /// Compressed bytes on disk so far, all files.
    fn bytes_on_disk(&self) -> u64;
    /// The file being written, for the progress line.
    fn label(&self) -> &'static str;
    /// The file being written, for messages.
    fn path(&self) -> &Path;
}

impl<F: LineFilter> DumpOutput for PartSink<F> {
    fn bytes_on_disk(&self) -> u64 {
        PartSink::bytes_on_disk(self)
    }
    fn label(&self) -> &'static str {
        self.part.as_str()
    }
    fn path(&self) -> &Path {
        &self.file
    }
}

/// A part file of a section split.
pub type SectionPart = PartSink<Box<dyn LineFilter>>;

/// Routes one pg_dump stream into the pre-data, data and post-data parts,
/// following the entry headers: pg_dump writes its sections in order, so the
/// stream only ever moves forward. Privileges come after every entry in
/// pg_dump's output and so land in post-data, where pg_restore applies them
/// too. Each part starts with pg_dump's prelude (session settings, psql's
/// `\restrict` guard) and ends with the matching `\unrestrict`, so each one
/// also runs on its own.
pub struct SectionSplit {
    parts: [Option<SectionPart>; 3],
    started: [bool; 3],
    current: Section,
    /// Lines before the first entry, until it arrives.
    prelude: Option<Vec<Vec<u8>>>,
    prelude_lines: Vec<Vec<u8>>,
    restrict_key: Option<String>,
    /// The latest `SET default_tablespace` / `default_table_access_method`
    /// lines: session state a later part needs again.
    state_lines: [Option<Vec<u8>>; 2],
}

impl SectionSplit {
    /// A split writing the given parts (absent sections go to the nearest
    /// part present).
    pub fn new(
        pre: Option<SectionPart>,
        data: Option<SectionPart>,
        post: Option<SectionPart>,
    ) -> Self {
        Self {
            parts: [pre, data, post],
            started: [false; 3],
            current: Section::PreData,
            prelude: Some(Vec::new()),
            prelude_lines: Vec::new(),
            restrict_key: None,
            state_lines: [None, None],
        }
    }

    /// The part a section's lines go to.
    fn target(&self, section: Section) -> usize {
        let i = section.index();
        if self.parts[i].is_some() {
            return i;
        }
        (0..i)
            .rev()
            .chain(i + 1..3)
            .find(|&j| self.parts[j].is_some())
            .unwrap_or(i)
    }

    /// Starts part `i` with the prelude and the session state, once.
    fn start(&mut self, i: usize) -> std::io::Result<()> {
        if self.started[i] {
            return Ok(());
        }
        self.started[i] = true;
        let Some(part) = self.parts[i].as_mut() else {
            return Ok(());
        };
        for line in &self.prelude_lines {
            part.write_line(line, true)?;
        }
        for line in self.state_lines.iter().flatten() {
            part.write_line(line, true)?;
        }
        Ok(())
    }

    fn end_prelude(&mut self) {
        if let Some(lines) = self.prelude.take() {
            self.restrict_key = lines.iter().find_map(|l| {
                std::str::from_utf8(l)
                    .ok()?
                    .strip_prefix("\\restrict ")
                    .map(|k| k.trim().to_string())
            });
            self.prelude_lines = lines;
        }
    }

    /// Ends every part (those no entry reached still get the prelude), each
    /// with `\unrestrict` where the stream's own end went elsewhere, and the
    /// appendix given for its part.
    pub fn close(mut self, appendices: &[(Part, String)]) -> Result<Vec<PartInfo>, EngineError> {
        self.end_prelude();
        let last = self.target(self.current);
        let mut infos = Vec::new();
        for i in 0..3 {
            self.start(i).map_err(|e| self.write_error(i, e))?;
            let Some(mut part) = self.parts[i].take() else {
                continue;
            };
            if i != last
                && let Some(key) = &self.restrict_key
            {
                part.write_line(b"", true)
                    .and_then(|_| part.write_line(format!("\\unrestrict {key}").as_bytes(), true))
                    .map_err(|e| write_error(&part.file, e))?;
            }
            let appendix: String = appendices
                .iter()
                .filter(|(p, _)| *p == part.part)
                .map(|(_, a)| a.as_str())
                .collect();
            infos.push(part.close(&appendix)?.0);
        }
        Ok(infos)
    }

    fn write_error(&self, i: usize, e: std::io::Error) -> EngineError {
        match &self.parts[i] {
            Some(p) => write_error(&p.file, e),
            None => EngineError::Failed(e.to_string()),
        }
    }
}

impl Sink for SectionSplit {
    fn entry(&mut self, entry: &Entry) -> std::io::Result<()> {
        self.end_prelude();
        self.current = entry.section_after(self.current);
        let i = self.target(self.current);
        self.start(i)?;
        if let Some(p) = self.parts[i].as_mut() {
            p.filter.entry(entry);
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], top: bool) -> std::io::Result<()> {
        if let Some(prelude) = self.prelude.as_mut() {
            prelude.push(line.to_vec());
            return Ok(());
        }
        if top {
            if line.starts_with(b"SET default_tablespace = ") {
                self.state_lines[0] = Some(line.to_vec());
            } else if line.starts_with(b"SET default_table_access_method = ") {
                self.state_lines[1] = Some(line.to_vec());
            }
        }
        let i = self.target(self.current);
        self.start(i)?;
        match self.parts[i].as_mut() {
            Some(p) => p.write_line(line, top),
            None => Ok(()),
        }
    }

    fn copy(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let i = self.target(self.current);
        self.start(i)?;
        match self.parts[i].as_mut() {
            Some(p) => p.writer.write_all(bytes),
            None => Ok(()),
        }
    }
}

impl DumpOutput for SectionSplit {
    fn bytes_on_disk(&self) -> u64 {
        self.parts.iter().flatten().map(|p| p.bytes_on_disk()).sum()
    }
    fn label(&self) -> &'static str {
        match self.current {
            Section::PreData => "pre-data",
            Section::Data => "data",
            Section::PostData => "post-data",
        }
    }
    fn path(&self) -> &Path {
        let i = self.target(self.current);
        self.parts[i]
            .as_ref()
            .map(|p| p.file.as_path())
            .unwrap_or(Path::new(""))
    }
}

/// Undoes what a Windows C runtime's text-mode stdout does to a program's
/// output: every "\n" written comes out as "\r\n". The inverse is exact:
/// each "\r\n" becomes "\n" (an "\r\n" the program wrote came out as
/// "\r\r\n"); a chunk's last "\r" waits for the next chunk.
#[derive(Debug, Default)]
pub struct TextModeOutput {
    pending_cr: bool,
}

impl TextModeOutput {
    /// Converts `input` into `out` (cleared first).
    pub fn undo(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.clear();
        if input.is_empty() {
            return;
        }
        out.reserve(input.len() + 1);
        let mut rest = input;
        if self.pending_cr {
            self.pending_cr = false;
            if rest.first() != Some(&b'\n') {
                out.push(b'\r');
            }
        }
        while let Some(i) = memchr::memchr(b'\r', rest) {
            out.extend_from_slice(&rest[..i]);
            match rest.get(i + 1) {
                Some(b'\n') => {}
                Some(_) => out.push(b'\r'),
                None => self.pending_cr = true,
            }
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
    }

    /// At the end: a held "\r" goes out as it was (true when `out` has it).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
            return true;
        }
        false
    }
}

/// Runs a dump tool to completion, its stdout streamed into `sink`.
/// Blocking: call from `spawn_blocking`. The child goes into `slot` so a
/// cancel can kill it. Returns the rows per table and the sink.
pub fn run_dump<S: Sink + DumpOutput>(
    tool: &ToolRun,
    sink: S,
    progress: &Progress,
    cancel: &CancelToken,
    slot: &ChildSlot,
) -> Result<(Vec<TableRows>, S), EngineError> {
    let running = tool.spawn(slot, Stdio::null(), Stdio::piped())?;
    let mut stdout = running
        .slot
        .with(|c| c.stdout.take())
        .flatten()
        .ok_or_else(|| EngineError::Failed("the dump tool has no output pipe".into()))?;
    if cancel.is_cancelled() {
        running.slot.kill();
    }
    let mut stream = SqlStream::new(sink);
    let mut buf = vec![0u8; 256 * 1024];
    let mut table = None;
    let mut on_disk = 0;
    // Windows' pg_dump writes its SQL through a text-mode stdout, which
    // turns every "\n" into "\r\n": undone here, exactly, so the set is
    // the same bytes a pg_dump anywhere else writes.
    let mut crlf = TextModeOutput::default();
    let mut undone = Vec::new();
    loop {
        let n = match stdout.read(&mut buf) {
            Ok(0) => {
                if cfg!(windows) && crlf.finish(&mut undone) {
                    stream
                        .feed(&undone)
                        .map_err(|e| write_error(stream.sink().path(), e))?;
                }
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(EngineError::Failed(format!(
                    "reading {}'s output failed: {e}",
                    tool.name()
                )));
            }
        };
        let sql: &[u8] = if cfg!(windows) {
            crlf.undo(&buf[..n], &mut undone);
            &undone
        } else {
            &buf[..n]
        };
        progress.add_read(n as u64);
        let rows_before = stream.rows();
        stream
            .feed(sql)
            .map_err(|e| write_error(stream.sink().path(), e))?;
        progress.add_rows(stream.rows() - rows_before);
        let now_on_disk = stream.sink().bytes_on_disk();
        progress.add_written(now_on_disk.saturating_sub(on_disk));
        on_disk = now_on_disk.max(on_disk);
        let now = stream.current_table();
        if now.is_some() && now != table {
            progress.set_current(format!(
                "{}: {}",
                stream.sink().label(),
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
    let (status, stderr) = running.wait();
    if cancel.is_cancelled() {
        return Err(EngineError::Cancelled);
    }
    let label = stream.sink().label();
    match status {
        Some(s) if s.success() => {}
        other => {
            let code = other
                .and_then(|s| s.code())
                .map(|c| format!("exit code {c}"))
                .unwrap_or_else(|| "killed".into());
            return Err(EngineError::Failed(format!(
                "{} failed ({code}) during the {label} part: {}",
                tool.name(),
                tool.mask(&tail(&stderr, 6))
            )));
        }
    }
    let path = stream.sink().path().to_path_buf();
    let (tables, sink) = stream.finish().map_err(|e| {
        if e.kind() == ErrorKind::UnexpectedEof {
            EngineError::Failed(format!("{}: {e}", tool.name()))
        } else {
            write_error(&path, e)
        }
    })?;
    progress.add_written(sink.bytes_on_disk().saturating_sub(on_disk));
    Ok((tables, sink))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a Windows text-mode stdout makes of `bytes`.
    fn text_mode(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                out.push(b'\r');
            }
            out.push(b);
        }
        out
    }

    #[test]
    fn a_windows_text_mode_output_is_undone_exactly_at_any_chunk_boundary() {
        let original: &[u8] = b"COPY t FROM stdin;\n1\tCR here:\r\n2\ta\\r\rb\n\\.\n\r\r\nend\r";
        let written = text_mode(original);
        for cut in 0..=written.len() {
            for second in cut..=written.len() {
                let mut undo = TextModeOutput::default();
                let (mut got, mut part) = (Vec::new(), Vec::new());
                for chunk in [&written[..cut], &written[cut..second], &written[second..]] {
                    undo.undo(chunk, &mut part);
                    got.extend_from_slice(&part);
                }
                undo.finish(&mut part);
                got.extend_from_slice(&part);
                assert_eq!(got, original, "cut at {cut} and {second}");
            }
        }
    }
    use crate::domain::Codec;
    use crate::engine::set::codec::decoder;
    use crate::engine::sqlstream::PassThrough;

    fn read(dir: &Path, name: &str) -> String {
        let mut s = String::new();
        decoder(std::fs::File::open(dir.join(name)).unwrap(), Codec::None)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict KEY\n\n\
SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n\
--\n-- Name: t; Type: TABLE; Schema: app; Owner: o\n--\n\n\
CREATE TABLE \"app\".\"t\" (\"id\" integer);\n\n\
SET default_tablespace = 'fast';\n\n\
--\n-- Data for Name: t; Type: TABLE DATA; Schema: app; Owner: o\n--\n\n\
COPY \"app\".\"t\" (\"id\") FROM stdin;\n1\n2\n\\.\n\n\
--\n-- Name: t t_pkey; Type: CONSTRAINT; Schema: app; Owner: o\n--\n\n\
ALTER TABLE ONLY \"app\".\"t\" ADD CONSTRAINT \"t_pkey\" PRIMARY KEY (\"id\");\n\n\
--\n-- Name: TABLE \"t\"; Type: ACL; Schema: app; Owner: o\n--\n\n\
GRANT SELECT ON TABLE \"app\".\"t\" TO \"r\";\n\n\
--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict KEY\n\n";

    fn split(parts: [bool; 3]) -> (tempfile::TempDir, Vec<PartInfo>, Vec<TableRows>) {
        let dir = tempfile::tempdir().unwrap();
        let c = Compression::new(Codec::None, None).unwrap();
        let make = |on: bool, part: Part| {
            on.then(|| {
                PartSink::create(
                    dir.path()
                        .join(crate::engine::set::part_file_name(part, c.codec, false)),
                    part,
                    c,
                    None,
                    Box::new(PassThrough) as Box<dyn LineFilter>,
                )
                .unwrap()
            })
        };
        let sink = SectionSplit::new(
            make(parts[0], Part::PreData),
            make(parts[1], Part::Data),
            make(parts[2], Part::PostData),
        );
        let mut s = SqlStream::new(sink);
        for chunk in DUMP.as_bytes().chunks(7) {
            s.feed(chunk).unwrap();
        }
        let (tables, sink) = s.finish().unwrap();
        let infos = sink
            .close(&[(Part::PostData, "-- appendix\n".into())])
            .unwrap();
        (dir, infos, tables)
    }

    #[test]
    fn one_dump_splits_into_pg_dumps_sections() {
        let (dir, infos, tables) = split([true, true, true]);
        assert_eq!(infos.len(), 3);
        assert_eq!(tables[0].rows, 2);
        let pre = read(dir.path(), "pre-data.sql");
        let data = read(dir.path(), "data.sql");
        let post = read(dir.path(), "post-data.sql");
        let prelude = "--\n-- PostgreSQL database dump\n--\n\n\\restrict KEY\n\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n";
        for part in [&pre, &data, &post] {
            assert!(part.starts_with(prelude), "{part}");
            assert!(part.contains("\\unrestrict KEY\n"), "{part}");
        }
        assert!(pre.contains("CREATE TABLE"));
        assert!(!pre.contains("COPY") && !pre.contains("ADD CONSTRAINT"));
        assert!(data.contains("COPY \"app\".\"t\" (\"id\") FROM stdin;\n1\n2\n\\.\n"));
        assert!(!data.contains("CREATE TABLE") && !data.contains("ADD CONSTRAINT"));
        // The tablespace set before the data stays in force for the data and
        // post-data parts on their own.
        assert!(data.contains("SET default_tablespace = 'fast';"));
        assert!(post.contains("SET default_tablespace = 'fast';\n"));
        assert!(post.contains("ADD CONSTRAINT \"t_pkey\""));
        assert!(post.contains("GRANT SELECT"));
        assert!(
            post.ends_with("\\unrestrict KEY\n\n-- appendix\n"),
            "{post}"
        );
        assert!(!post.contains("CREATE TABLE") && !post.contains("COPY"));
        // Nothing lost, nothing doubled: every line of the dump is in exactly
        // one part, beyond the prelude and the guards each part repeats.
        let body = |s: &str| s.strip_prefix(prelude).unwrap().to_string();
        let all = format!("{}{}{}", body(&pre), body(&data), body(&post));
        for line in DUMP.lines().skip(9).filter(|l| !l.is_empty() && *l != "--") {
            assert!(all.contains(line), "{line} lost");
        }
    }

    #[test]
    fn a_schema_only_split_keeps_everything_in_the_parts_it_has() {
        let (dir, infos, _) = split([true, false, true]);
        assert_eq!(infos.len(), 2);
        let pre = read(dir.path(), "pre-data.sql");
        assert!(pre.contains("CREATE TABLE") && pre.contains("COPY"));
        assert!(!dir.path().join("data.sql").exists());
        let (dir, infos, _) = split([false, true, false]);
        assert_eq!(infos.len(), 1);
        let data = read(dir.path(), "data.sql");
        assert!(data.contains("CREATE TABLE") && data.contains("COPY") && data.contains("GRANT"));
        assert_eq!(data.matches("\\unrestrict KEY").count(), 1);
    }
}
