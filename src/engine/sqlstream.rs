//! Streams pg_dump's plain SQL: knows where each line starts lexically (so
//! nothing inside a function body, a string or a comment is mistaken for a
//! statement), recognises the header pg_dump writes before each TOC entry,
//! and counts rows per table from the COPY blocks as they flow. COPY data
//! goes out untouched, in the chunks it came in.

use crate::domain::TableRows;
use std::io::{self, Write};

/// pg_dump's three sections, in restore order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    /// Types, tables, functions, views...: what the rows need.
    PreData,
    /// Table rows, sequence values, large objects.
    Data,
    /// Indexes, constraints checked against the rows, triggers, rules,
    /// policies, event triggers, materialized view refreshes, privileges.
    PostData,
}

impl Section {
    /// Index in `ALL`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One TOC entry, as its header comment names it:
/// `-- [Data for ]Name: <name>; Type: <desc>; Schema: <schema>; Owner: <owner>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// The tag: `users`, `TABLE "users"`, `SCHEMA "app"`, `users users_pkey`...
    pub name: String,
    /// The entry type: `TABLE`, `TABLE DATA`, `ACL`, `INDEX`...
    pub desc: String,
    /// The schema, `None` for `-`.
    pub schema: Option<String>,
    /// The owner, `None` for `-` or empty.
    pub owner: Option<String>,
    /// Other readings of the same header: a name, schema or owner may hold
    /// `; Type: X; Schema: ` itself (pg_dump only replaces newlines), so a
    /// header can parse more than one way. Decisions weigh every reading.
    pub others: Vec<Entry>,
}

/// Entry types of pg_dump's data section (pg_dump.c, 15 to 18; `BLOB
/// METADATA` from 17, `STATISTICS DATA` of tables in 18 with `--statistics`).
const DATA_DESCS: &[&str] = &[
    "TABLE DATA",
    "SEQUENCE SET",
    "BLOBS",
    "BLOB METADATA",
    "STATISTICS DATA",
];

/// Entry types of pg_dump's post-data section (pg_dump.c, 15 to 18).
const POST_DATA_DESCS: &[&str] = &[
    "INDEX",
    "INDEX ATTACH",
    "CONSTRAINT",
    "FK CONSTRAINT",
    "CHECK CONSTRAINT",
    "TRIGGER",
    "EVENT TRIGGER",
    "RULE",
    "POLICY",
    "ROW SECURITY",
    "MATERIALIZED VIEW DATA",
    "PUBLICATION",
    "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA",
    "SUBSCRIPTION",
    "SUBSCRIPTION TABLE",
    "STATISTICS",
    "DEFAULT ACL",
];

/// Entry types that belong to the entry before them (no section of their own).
const SECTIONLESS_DESCS: &[&str] = &["COMMENT", "ACL", "SECURITY LABEL"];

impl Entry {
    /// Parses a header line; `None` when it is not one.
    pub fn parse(line: &[u8]) -> Option<Entry> {
        let s = std::str::from_utf8(line).ok()?;
        let rest = s
            .strip_prefix("-- Name: ")
            .or_else(|| s.strip_prefix("-- Data for Name: "))
            .or_else(|| s.strip_prefix("-- Statistics for Name: "))?;
        // The name may hold anything but a newline: every "; Type: X;
        // Schema: " whose X looks like an entry type is a reading.
        let mut readings = Vec::new();
        let mut from = 0;
        while let Some(i) = rest[from..].find("; Type: ") {
            let at = from + i;
            let after = &rest[at + "; Type: ".len()..];
            if let Some(j) = after.find("; Schema: ") {
                let desc = &after[..j];
                if !desc.is_empty() && desc.bytes().all(|b| b.is_ascii_uppercase() || b == b' ') {
                    let tail = &after[j + "; Schema: ".len()..];
                    let (schema, owner) = match tail.find("; Owner: ") {
                        Some(k) => (&tail[..k], Some(&tail[k + "; Owner: ".len()..])),
                        None => (tail, None),
                    };
                    let owner = owner.map(|o| o.split("; Tablespace: ").next().unwrap_or(o));
                    let some = |v: &str| (!v.is_empty() && v != "-").then(|| v.to_string());
                    readings.push(Entry {
                        name: rest[..at].to_string(),
                        desc: desc.to_string(),
                        schema: some(schema),
                        owner: owner.and_then(some),
                        others: Vec::new(),
                    });
                }
            }
            from = at + 1;
        }
        let mut readings = readings.into_iter();
        let mut entry = readings.next()?;
        entry.others = readings.collect();
        Some(entry)
    }

    /// This reading and the others.
    pub fn readings(&self) -> impl Iterator<Item = &Entry> {
        std::iter::once(self).chain(&self.others)
    }

    /// The section of an entry met while the stream is in `current`:
    /// pg_dump writes sections in order, so an entry never moves the stream
    /// back; a pre-data type after the data is one pg_dump postponed to
    /// post-data (a function or matview in a dependency loop).
    /// An ambiguous header takes the earliest section its readings allow:
    /// an entry routed too late only builds an index before the rows, one
    /// routed too early would load rows before their table.
    pub fn section_after(&self, current: Section) -> Section {
        self.readings()
            .map(|e| match e.section() {
                None => current,
                Some(Section::PreData) if current == Section::Data => Section::PostData,
                Some(s) => s.max(current),
            })
            .min()
            .unwrap_or(current)
    }

    /// The section this entry type belongs to; `None` for comments,
    /// privileges and labels, which follow the entry before them.
    pub fn section(&self) -> Option<Section> {
        let d = self.desc.as_str();
        if DATA_DESCS.contains(&d) {
            Some(Section::Data)
        } else if POST_DATA_DESCS.contains(&d) {
            Some(Section::PostData)
        } else if SECTIONLESS_DESCS.contains(&d) {
            None
        } else {
            Some(Section::PreData)
        }
    }
}

/// Where a line starts: outside everything, or inside a string, a quoted
/// identifier, a dollar-quoted body or a block comment. COPY data is not
/// lexed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum Lex {
    #[default]
    Top,
    /// `'...'`; in an `E'...'` string a backslash escapes the next byte.
    Single { escapes: bool },
    /// `"..."`.
    Double,
    /// `$tag$...$tag$`, holding the tag.
    Dollar(Vec<u8>),
    /// `/* ... */`, nested this deep.
    Block(u32),
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

impl Lex {
    /// Advances over one line (without its newline).
    fn line(&mut self, line: &[u8]) {
        let n = line.len();
        let mut i = 0;
        while i < n {
            match self {
                Lex::Top => {
                    let Some(j) = line[i..]
                        .iter()
                        .position(|b| matches!(b, b'\'' | b'"' | b'$' | b'-' | b'/'))
                    else {
                        return;
                    };
                    i += j;
                    match line[i] {
                        b'\'' => {
                            let escapes = i > 0
                                && matches!(line[i - 1], b'E' | b'e')
                                && (i < 2 || !is_ident(line[i - 2]));
                            *self = Lex::Single { escapes };
                            i += 1;
                        }
                        b'"' => {
                            *self = Lex::Double;
                            i += 1;
                        }
                        b'-' if line.get(i + 1) == Some(&b'-') => return,
                        b'/' if line.get(i + 1) == Some(&b'*') => {
                            *self = Lex::Block(1);
                            i += 2;
                        }
                        b'$' if i == 0 || !is_ident(line[i - 1]) => {
                            let mut k = i + 1;
                            while k < n
                                && (line[k].is_ascii_alphabetic()
                                    || line[k] == b'_'
                                    || line[k] >= 0x80
                                    || (k > i + 1 && line[k].is_ascii_digit()))
                            {
                                k += 1;
                            }
                            if k < n && line[k] == b'$' {
                                *self = Lex::Dollar(line[i + 1..k].to_vec());
                                i = k + 1;
                            } else {
                                i += 1;
                            }
                        }
                        _ => i += 1,
                    }
                }
                Lex::Single { escapes } => {
                    let escapes = *escapes;
                    match line[i..]
                        .iter()
                        .position(|&b| b == b'\'' || (escapes && b == b'\\'))
                    {
                        None => return,
                        Some(j) => {
                            i += j;
                            // A backslash escape, or a doubled quote: still inside.
                            if line[i] == b'\\' || line.get(i + 1) == Some(&b'\'') {
                                i += 2;
                            } else {
                                *self = Lex::Top;
                                i += 1;
                            }
                        }
                    }
                }
                Lex::Double => match memchr::memchr(b'"', &line[i..]) {
                    None => return,
                    Some(j) => {
                        i += j;
                        if line.get(i + 1) == Some(&b'"') {
                            i += 2;
                        } else {
                            *self = Lex::Top;
                            i += 1;
                        }
                    }
                },
                Lex::Dollar(tag) => {
                    let mut close = Vec::with_capacity(tag.len() + 2);
                    close.push(b'$');
                    close.extend_from_slice(tag);
                    close.push(b'$');
                    match memchr::memmem::find(&line[i..], &close) {
                        None => return,
                        Some(j) => {
                            i += j + close.len();
                            *self = Lex::Top;
                        }
                    }
                }
                Lex::Block(depth) => {
                    let rest = &line[i..];
                    let open = memchr::memmem::find(rest, b"/*");
                    let shut = memchr::memmem::find(rest, b"*/");
                    match (open, shut) {
                        (Some(o), Some(c)) if o < c => {
                            *depth += 1;
                            i += o + 2;
                        }
                        (_, Some(c)) => {
                            *depth -= 1;
                            i += c + 2;
                            if *depth == 0 {
                                *self = Lex::Top;
                            }
                        }
                        (Some(o), None) => {
                            *depth += 1;
                            i += o + 2;
                        }
                        (None, None) => return,
                    }
                }
            }
        }
    }
}

/// What a stream's lines go to.
pub trait Sink {
    /// A TOC entry starts; its header lines come next through `line`.
    fn entry(&mut self, _entry: &Entry) -> io::Result<()> {
        Ok(())
    }
    /// One SQL line, without its `\n`; `top` when it starts outside any
    /// string, quoted identifier, dollar-quoted body or block comment.
    fn line(&mut self, line: &[u8], top: bool) -> io::Result<()>;
    /// COPY data, as it came (rows and the `\.` line).
    fn copy(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// End of stream.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Rewrites the SQL lines of one part (never the COPY data).
pub trait LineFilter: Send {
    /// A TOC entry starts.
    fn entry(&mut self, _entry: &Entry) {}
    /// One line, without its `\n`; write what should replace it (with `\n`).
    /// `top`: the line starts outside any string, body or comment.
    fn line(&mut self, line: &[u8], top: bool, out: &mut Vec<u8>);
    /// End of stream: write anything to append.
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}

impl<F: LineFilter + ?Sized> LineFilter for &mut F {
    fn entry(&mut self, entry: &Entry) {
        (**self).entry(entry)
    }
    fn line(&mut self, line: &[u8], top: bool, out: &mut Vec<u8>) {
        (**self).line(line, top, out)
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        (**self).finish(out)
    }
}

impl LineFilter for Box<dyn LineFilter> {
    fn entry(&mut self, entry: &Entry) {
        (**self).entry(entry)
    }
    fn line(&mut self, line: &[u8], top: bool, out: &mut Vec<u8>) {
        (**self).line(line, top, out)
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        (**self).finish(out)
    }
}

/// Leaves every line as it is (tests).
#[cfg(test)]
pub struct PassThrough;

#[cfg(test)]
impl LineFilter for PassThrough {
    fn line(&mut self, line: &[u8], _top: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

/// A filter writing into one output: the sink for a single part.
pub struct Filtered<F: LineFilter, W: Write> {
    /// The filter.
    pub filter: F,
    /// Where the filtered SQL goes.
    pub out: W,
    scratch: Vec<u8>,
}

impl<F: LineFilter, W: Write> Filtered<F, W> {
    /// `filter` writing to `out`.
    pub fn new(filter: F, out: W) -> Self {
        Self {
            filter,
            out,
            scratch: Vec::new(),
        }
    }
}

impl<F: LineFilter, W: Write> Sink for Filtered<F, W> {
    fn entry(&mut self, entry: &Entry) -> io::Result<()> {
        self.filter.entry(entry);
        Ok(())
    }
    fn line(&mut self, line: &[u8], top: bool) -> io::Result<()> {
        self.scratch.clear();
        self.filter.line(line, top, &mut self.scratch);
        self.out.write_all(&self.scratch)
    }
    fn copy(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)
    }
    fn finish(&mut self) -> io::Result<()> {
        self.scratch.clear();
        self.filter.finish(&mut self.scratch);
        self.out.write_all(&self.scratch)
    }
}

/// The stream processor.
pub struct SqlStream<S: Sink> {
    sink: S,
    pending: Vec<u8>,
    lex: Lex,
    /// A `--` line held back: it may open an entry header.
    held_dashes: bool,
    /// A COPY statement read so far (a quoted table name may span lines).
    copy_stmt: Option<Vec<u8>>,
    in_copy: bool,
    line_len: usize,
    line_head: [u8; 3],
    current: Option<(String, String)>,
    current_rows: u64,
    tables: Vec<TableRows>,
    rows_total: u64,
}

impl<S: Sink> SqlStream<S> {
    /// A processor sending what it reads to `sink`.
    pub fn new(sink: S) -> Self {
        Self {
            sink,
            pending: Vec::new(),
            lex: Lex::Top,
            held_dashes: false,
            copy_stmt: None,
            in_copy: false,
            line_len: 0,
            line_head: [0; 3],
            current: None,
            current_rows: 0,
            tables: Vec::new(),
            rows_total: 0,
        }
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Rows seen so far, all tables.
    pub fn rows(&self) -> u64 {
        self.rows_total
    }

    /// The table whose COPY block is flowing, as `schema.table`.
    pub fn current_table(&self) -> Option<String> {
        self.current.as_ref().map(|(s, t)| format!("{s}.{t}"))
    }

    /// Processes a chunk.
    pub fn feed(&mut self, chunk: &[u8]) -> io::Result<()> {
        let mut pos = 0;
        while pos < chunk.len() {
            if self.in_copy {
                pos = self.feed_copy(chunk, pos)?;
            } else {
                match memchr::memchr(b'\n', &chunk[pos..]) {
                    None => {
                        self.pending.extend_from_slice(&chunk[pos..]);
                        pos = chunk.len();
                    }
                    Some(i) => {
                        self.pending.extend_from_slice(&chunk[pos..pos + i]);
                        pos += i + 1;
                        let line = std::mem::take(&mut self.pending);
                        self.text_line(&line)?;
                        self.pending = line;
                        self.pending.clear();
                    }
                }
            }
        }
        Ok(())
    }

    /// COPY data from `pos`: counts rows until `\.`, passes the bytes on as
    /// they are; returns where it stopped (end of chunk, or after `\.`).
    fn feed_copy(&mut self, chunk: &[u8], pos: usize) -> io::Result<usize> {
        let mut cursor = pos;
        for nl in memchr::memchr_iter(b'\n', &chunk[pos..]) {
            let end = pos + nl;
            let piece = &chunk[cursor..end];
            self.note_line_bytes(piece);
            let is_end = self.line_len == 2 && &self.line_head[..2] == b"\\.";
            self.line_len = 0;
            cursor = end + 1;
            if is_end {
                self.sink.copy(&chunk[pos..cursor])?;
                self.end_copy();
                return Ok(cursor);
            }
            self.current_rows += 1;
            self.rows_total += 1;
        }
        self.note_line_bytes(&chunk[cursor..]);
        self.sink.copy(&chunk[pos..])?;
        Ok(chunk.len())
    }

    /// Tracks the current COPY line's length and first bytes, across chunks.
    fn note_line_bytes(&mut self, piece: &[u8]) {
        let have = self.line_len.min(3);
        let take = (3 - have).min(piece.len());
        self.line_head[have..have + take].copy_from_slice(&piece[..take]);
        self.line_len += piece.len();
    }

    fn end_copy(&mut self) {
        self.in_copy = false;
        if let Some((schema, table)) = self.current.take() {
            self.tables.push(TableRows {
                schema,
                table,
                rows: self.current_rows,
            });
        }
        self.current_rows = 0;
    }

    fn text_line(&mut self, line: &[u8]) -> io::Result<()> {
        let top = self.lex == Lex::Top;
        if self.held_dashes {
            self.held_dashes = false;
            if let Some(entry) = Entry::parse(line) {
                self.sink.entry(&entry)?;
            }
            self.sink.line(b"--", true)?;
        }
        if top && line == b"--" {
            self.held_dashes = true;
            return Ok(());
        }
        if top && line.starts_with(b"COPY ") {
            self.copy_stmt = Some(Vec::new());
        }
        self.lex.line(line);
        if let Some(stmt) = self.copy_stmt.as_mut() {
            if !stmt.is_empty() {
                stmt.push(b'\n');
            }
            stmt.extend_from_slice(line);
            if self.lex == Lex::Top && line.ends_with(b";") {
                let stmt = self.copy_stmt.take().unwrap_or_default();
                if stmt.ends_with(b" FROM stdin;")
                    && let Some(name) = parse_copy_target(&stmt[5..])
                {
                    self.current = Some(name);
                    self.current_rows = 0;
                    self.in_copy = true;
                    self.line_len = 0;
                }
            }
        }
        self.sink.line(line, top)
    }

    /// Ends the stream. Fails when it stopped inside a COPY block (the dump
    /// was cut short). Returns the row counts per table and the sink.
    pub fn finish(mut self) -> io::Result<(Vec<TableRows>, S)> {
        if self.in_copy {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the dump ended inside the data of {}",
                    self.current_table().unwrap_or_default()
                ),
            ));
        }
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.text_line(&line)?;
        }
        if self.held_dashes {
            self.held_dashes = false;
            self.sink.line(b"--", true)?;
        }
        self.sink.finish()?;
        Ok((self.tables, self.sink))
    }
}

/// `"public"."my ""t""" ("id") FROM stdin;` → (public, my "t"). Also plain
/// identifiers.
fn parse_copy_target(rest: &[u8]) -> Option<(String, String)> {
    let s = std::str::from_utf8(rest).ok()?;
    let (schema, after) = parse_ident(s)?;
    let after = after.strip_prefix('.')?;
    let (table, _) = parse_ident(after)?;
    Some((schema, table))
}

/// Reads one identifier, quoted or not; returns it and what follows.
pub(crate) fn parse_ident(s: &str) -> Option<(String, &str)> {
    if let Some(inner) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().map(|(_, n)| *n) == Some('"') {
                    out.push('"');
                    chars.next();
                } else {
                    return Some((out, &inner[i + 1..]));
                }
            } else {
                out.push(c);
            }
        }
        None
    } else {
        let end = s.find(['.', ' ', '(', ';', ',']).unwrap_or(s.len());
        if end == 0 {
            return None;
        }
        Some((s[..end].to_string(), &s[end..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "SET a = 1;\n\
COPY \"public\".\"t\" (\"id\", \"v\") FROM stdin;\n\
1\tone\n\
2\t\\\\.\n\
3\tline\\nbreak\n\
\\.\n\
SELECT 1;\n\
COPY \"my \"\"s\"\"\".\"e\" (\"x\") FROM stdin;\n\
\\.\n\
COPY public.plain (a) FROM stdin;\n\
x\n\
\\.\n";

    fn run(input: &str, chunk_size: usize) -> (Vec<u8>, Vec<TableRows>) {
        let mut s = SqlStream::new(Filtered::new(PassThrough, Vec::new()));
        for c in input.as_bytes().chunks(chunk_size) {
            s.feed(c).unwrap();
        }
        let (t, sink) = s.finish().unwrap();
        (sink.out, t)
    }

    #[test]
    fn counts_rows_per_table_whatever_the_chunking() {
        for size in [1, 2, 3, 5, 7, 64, 4096] {
            let (out, tables) = run(DUMP, size);
            assert_eq!(String::from_utf8(out).unwrap(), DUMP, "chunk {size}");
            let got: Vec<(String, String, u64)> = tables
                .into_iter()
                .map(|t| (t.schema, t.table, t.rows))
                .collect();
            assert_eq!(
                got,
                vec![
                    ("public".into(), "t".into(), 3),
                    ("my \"s\"".into(), "e".into(), 0),
                    ("public".into(), "plain".into(), 1),
                ],
                "chunk {size}"
            );
        }
    }

    #[test]
    fn a_stream_cut_inside_copy_is_an_error() {
        let mut s = SqlStream::new(Filtered::new(PassThrough, Vec::new()));
        s.feed(b"COPY \"public\".\"odd\n-- Name: x; Type: INDEX; Schema: a; Owner: b\n\" (a) FROM stdin;\n1\n2\n").unwrap();
        assert_eq!(s.rows(), 2);
        assert_eq!(
            s.current_table().as_deref(),
            Some("public.odd\n-- Name: x; Type: INDEX; Schema: a; Owner: b\n")
        );
        assert!(s.finish().is_err());
    }

    struct Upper;
    impl LineFilter for Upper {
        fn line(&mut self, line: &[u8], _top: bool, out: &mut Vec<u8>) {
            out.extend(line.to_ascii_uppercase());
            out.push(b'\n');
        }
        fn finish(&mut self, out: &mut Vec<u8>) {
            out.extend_from_slice(b"-- end\n");
        }
    }

    #[test]
    fn filters_touch_sql_lines_only() {
        let mut s = SqlStream::new(Filtered::new(Upper, Vec::new()));
        s.feed(b"set x;\nCOPY public.t (a) FROM stdin;\nlower\n\\.\nselect 1;")
            .unwrap();
        let (_, sink) = s.finish().unwrap();
        assert_eq!(
            String::from_utf8(sink.out).unwrap(),
            "SET X;\nCOPY PUBLIC.T (A) FROM STDIN;\nlower\n\\.\nSELECT 1;\n-- end\n"
        );
    }

    /// Records each line with where it starts and the entry it belongs to.
    #[derive(Default)]
    struct Record {
        entries: Vec<Entry>,
        lines: Vec<(String, bool, usize)>,
    }
    impl Sink for Record {
        fn entry(&mut self, entry: &Entry) -> io::Result<()> {
            self.entries.push(entry.clone());
            Ok(())
        }
        fn line(&mut self, line: &[u8], top: bool) -> io::Result<()> {
            self.lines.push((
                String::from_utf8_lossy(line).to_string(),
                top,
                self.entries.len(),
            ));
            Ok(())
        }
        fn copy(&mut self, _bytes: &[u8]) -> io::Result<()> {
            Ok(())
        }
    }

    fn record(input: &str) -> Record {
        let mut s = SqlStream::new(Record::default());
        s.feed(input.as_bytes()).unwrap();
        s.finish().unwrap().1
    }

    #[test]
    fn entry_headers_are_recognised_only_outside_bodies_and_strings() {
        let input = "\\restrict abc\n\
--\n\
-- Name: f(); Type: FUNCTION; Schema: app; Owner: postgres\n\
--\n\
\n\
CREATE FUNCTION \"app\".\"f\"() RETURNS \"trigger\"\n\
    LANGUAGE \"plpgsql\"\n\
    AS $_$\n\
begin -- it's $$ here\n\
--\n\
-- Name: fake; Type: INDEX; Schema: app; Owner: postgres\n\
--\n\
return new; end $_$;\n\
COMMENT ON FUNCTION \"app\".\"f\"() IS 'two\n\
--\n\
-- Name: fake2; Type: INDEX; Schema: app; Owner: postgres\n\
--\n\
lines';\n\
CREATE TABLE \"we\"\"ird\n\
--\n\
-- Name: fake3; Type: INDEX; Schema: app; Owner: x\n\
\" (a int);\n\
/* block /* nested */\n\
--\n\
-- Name: fake4; Type: INDEX; Schema: app; Owner: x\n\
*/ SELECT E'it\\'s\n\
--\n\
-- Name: fake5; Type: INDEX; Schema: app; Owner: x\n\
';\n\
--\n\
-- Data for Name: t; Type: TABLE DATA; Schema: app; Owner: postgres\n\
--\n\
COPY \"app\".\"t\" (\"id\") FROM stdin;\n\
--\n\
-- Name: inside copy; Type: INDEX; Schema: app; Owner: x\n\
\\.\n\
--\n\
-- Name: t t_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres\n\
--\n\
ALTER TABLE ONLY \"app\".\"t\" ADD CONSTRAINT \"t_pkey\" PRIMARY KEY (\"id\");\n\
--\n\
-- PostgreSQL database dump complete\n\
--\n";
        let r = record(input);
        let names: Vec<(&str, &str)> = r
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.desc.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("f()", "FUNCTION"),
                ("t", "TABLE DATA"),
                ("t t_pkey", "CONSTRAINT")
            ]
        );
        // Every input line comes out once, in order; the three lines after
        // the COPY statement are COPY data and go to `copy`.
        let out: Vec<&str> = r.lines.iter().map(|(l, _, _)| l.as_str()).collect();
        let all: Vec<&str> = input.lines().collect();
        let copy_at = all.iter().position(|l| l.starts_with("COPY ")).unwrap();
        let expected: Vec<&str> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| !(copy_at + 1..=copy_at + 3).contains(i))
            .map(|(_, l)| *l)
            .collect();
        assert_eq!(out, expected);
        let top = |l: &str| r.lines.iter().find(|(x, _, _)| x == l).unwrap().1;
        assert!(!top("return new; end $_$;"));
        assert!(top("COMMENT ON FUNCTION \"app\".\"f\"() IS 'two"));
        assert!(!top("lines';"));
        assert!(!top("\" (a int);"));
        assert!(!top("*/ SELECT E'it\\'s"));
        assert!(!top("';"));
        assert!(top(
            "ALTER TABLE ONLY \"app\".\"t\" ADD CONSTRAINT \"t_pkey\" PRIMARY KEY (\"id\");"
        ));
        // The header lines belong to their entry.
        let at = |l: &str| r.lines.iter().find(|(x, _, _)| x == l).unwrap().2;
        assert_eq!(
            at("-- Name: t t_pkey; Type: CONSTRAINT; Schema: app; Owner: postgres"),
            3
        );
    }

    #[test]
    fn entry_header_fields_and_sections() {
        let e =
            Entry::parse(b"-- Name: TABLE \"a; Type: x\"; Type: ACL; Schema: app; Owner: postgres")
                .unwrap();
        assert_eq!(e.name, "TABLE \"a; Type: x\"");
        assert!(e.others.is_empty());
        assert_eq!(e.desc, "ACL");
        assert_eq!(e.schema.as_deref(), Some("app"));
        assert_eq!(e.owner.as_deref(), Some("postgres"));
        assert_eq!(e.section(), None);
        let e = Entry::parse(b"-- Name: EXTENSION \"pgcrypto\"; Type: COMMENT; Schema: -; Owner: ")
            .unwrap();
        assert_eq!((e.schema, e.owner), (None, None));
        let e = Entry::parse(
            b"-- Name: t; Type: TABLE; Schema: app; Owner: postgres; Tablespace: fast",
        )
        .unwrap();
        assert_eq!(e.owner.as_deref(), Some("postgres"));
        assert_eq!(e.section(), Some(Section::PreData));
        let data =
            Entry::parse(b"-- Data for Name: t; Type: TABLE DATA; Schema: app; Owner: o").unwrap();
        assert_eq!(data.section(), Some(Section::Data));
        let chk =
            Entry::parse(b"-- Name: t c2; Type: CHECK CONSTRAINT; Schema: app; Owner: o").unwrap();
        assert_eq!(chk.section(), Some(Section::PostData));
        let f = Entry::parse(b"-- Name: f(); Type: FUNCTION; Schema: app; Owner: o").unwrap();
        assert_eq!(f.section_after(Section::PreData), Section::PreData);
        assert_eq!(f.section_after(Section::Data), Section::PostData);
        assert_eq!(data.section_after(Section::PostData), Section::PostData);
        let acl = Entry::parse(b"-- Name: TABLE \"t\"; Type: ACL; Schema: app; Owner: o").unwrap();
        assert_eq!(acl.section_after(Section::Data), Section::Data);
        // A table whose name carries a header of its own (newlines become
        // spaces in headers): two readings; the earliest section wins.
        let odd = Entry::parse(
            b"-- Name: odd -- -- Name: x; Type: INDEX; Schema: app; Owner: po; Type: TABLE; Schema: app; Owner: postgres",
        )
        .unwrap();
        assert_eq!(odd.readings().count(), 2);
        assert_eq!(odd.section_after(Section::PreData), Section::PreData);
        assert!(Entry::parse(b"-- PostgreSQL database dump").is_none());
        assert!(Entry::parse(b"-- Name: x").is_none());
    }

    #[test]
    fn lexer_knows_quotes_bodies_and_comments() {
        let mut l = Lex::Top;
        for (line, after) in [
            ("SELECT 'it''s' -- a 'comment", Lex::Top),
            ("SELECT $x$ body", Lex::Dollar(b"x".to_vec())),
            ("$y$ still $x$ || a$b$c", Lex::Top),
            ("SELECT $1, $$", Lex::Dollar(Vec::new())),
            ("$$; /* a /* b */", Lex::Block(1)),
            ("*/ \"id", Lex::Double),
            ("\"\"\"", Lex::Top),
            ("E'\\\\' e'\\''", Lex::Top),
            ("x'", Lex::Single { escapes: false }),
        ] {
            l.line(line.as_bytes());
            assert_eq!(l, after, "after {line}");
        }
    }
}
