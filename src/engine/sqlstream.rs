//! Streams pg_dump's plain SQL: counts rows per table from the COPY blocks as
//! they flow and passes every other line through a filter. COPY data goes
//! out untouched, in the chunks it came in.

use crate::domain::TableRows;
use std::io::{self, Write};

/// Rewrites the SQL lines of one part (never the COPY data).
pub trait LineFilter: Send {
    /// One line, without its `\n`; write what should replace it (with `\n`).
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>);
    /// End of stream: write anything to append.
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}

impl<F: LineFilter + ?Sized> LineFilter for &mut F {
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        (**self).line(line, out)
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
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

/// The stream processor.
pub struct SqlStream<F: LineFilter> {
    filter: F,
    pending: Vec<u8>,
    in_copy: bool,
    line_len: usize,
    line_head: [u8; 3],
    current: Option<(String, String)>,
    current_rows: u64,
    tables: Vec<TableRows>,
    rows_total: u64,
    scratch: Vec<u8>,
}

impl<F: LineFilter> SqlStream<F> {
    /// A processor applying `filter` to SQL lines.
    pub fn new(filter: F) -> Self {
        Self {
            filter,
            pending: Vec::new(),
            in_copy: false,
            line_len: 0,
            line_head: [0; 3],
            current: None,
            current_rows: 0,
            tables: Vec::new(),
            rows_total: 0,
            scratch: Vec::new(),
        }
    }

    /// Rows seen so far, all tables.
    pub fn rows(&self) -> u64 {
        self.rows_total
    }

    /// The table whose COPY block is flowing, as `schema.table`.
    pub fn current_table(&self) -> Option<String> {
        self.current.as_ref().map(|(s, t)| format!("{s}.{t}"))
    }

    /// Processes a chunk, writing the output to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut dyn Write) -> io::Result<()> {
        let mut pos = 0;
        while pos < chunk.len() {
            if self.in_copy {
                pos = self.feed_copy(chunk, pos, out)?;
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
                        self.text_line(&line, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// COPY data from `pos`: counts rows until `\.`, writes the bytes as they
    /// are; returns where it stopped (end of chunk, or after the `\.` line).
    fn feed_copy(&mut self, chunk: &[u8], pos: usize, out: &mut dyn Write) -> io::Result<usize> {
        let mut cursor = pos;
        for nl in memchr::memchr_iter(b'\n', &chunk[pos..]) {
            let end = pos + nl;
            let piece = &chunk[cursor..end];
            self.note_line_bytes(piece);
            let is_end = self.line_len == 2 && &self.line_head[..2] == b"\\.";
            self.line_len = 0;
            cursor = end + 1;
            if is_end {
                out.write_all(&chunk[pos..cursor])?;
                self.end_copy();
                return Ok(cursor);
            }
            self.current_rows += 1;
            self.rows_total += 1;
        }
        self.note_line_bytes(&chunk[cursor..]);
        out.write_all(&chunk[pos..])?;
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

    fn text_line(&mut self, line: &[u8], out: &mut dyn Write) -> io::Result<()> {
        if line.starts_with(b"COPY ") && line.ends_with(b" FROM stdin;") {
            if let Some(name) = parse_copy_target(&line[5..]) {
                self.current = Some(name);
                self.current_rows = 0;
                self.in_copy = true;
                self.line_len = 0;
            }
            out.write_all(line)?;
            return out.write_all(b"\n");
        }
        self.scratch.clear();
        self.filter.line(line, &mut self.scratch);
        out.write_all(&self.scratch)
    }

    /// Ends the stream. Fails when it stopped inside a COPY block (the dump
    /// was cut short). Returns the row counts per table and the filter.
    pub fn finish(mut self, out: &mut dyn Write) -> io::Result<(Vec<TableRows>, F)> {
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
            self.text_line(&line, out)?;
        }
        self.scratch.clear();
        self.filter.finish(&mut self.scratch);
        out.write_all(&self.scratch)?;
        Ok((self.tables, self.filter))
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
        let end = s.find(['.', ' ', '(', ';']).unwrap_or(s.len());
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

    fn run(chunk_size: usize) -> (Vec<u8>, Vec<TableRows>) {
        let mut s = SqlStream::new(PassThrough);
        let mut out = Vec::new();
        for c in DUMP.as_bytes().chunks(chunk_size) {
            s.feed(c, &mut out).unwrap();
        }
        let (t, _) = s.finish(&mut out).unwrap();
        (out, t)
    }

    #[test]
    fn counts_rows_per_table_whatever_the_chunking() {
        for size in [1, 2, 3, 5, 7, 64, 4096] {
            let (out, tables) = run(size);
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
        let mut s = SqlStream::new(PassThrough);
        let mut out = Vec::new();
        s.feed(b"COPY public.t (a) FROM stdin;\n1\n2\n", &mut out)
            .unwrap();
        assert_eq!(s.rows(), 2);
        assert_eq!(s.current_table().as_deref(), Some("public.t"));
        assert!(s.finish(&mut out).is_err());
    }

    struct Upper;
    impl LineFilter for Upper {
        fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
            out.extend(line.to_ascii_uppercase());
            out.push(b'\n');
        }
        fn finish(&mut self, out: &mut Vec<u8>) {
            out.extend_from_slice(b"-- end\n");
        }
    }

    #[test]
    fn filters_touch_sql_lines_only() {
        let mut s = SqlStream::new(Upper);
        let mut out = Vec::new();
        s.feed(
            b"set x;\nCOPY public.t (a) FROM stdin;\nlower\n\\.\nselect 1;",
            &mut out,
        )
        .unwrap();
        s.finish(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SET X;\nCOPY public.t (a) FROM stdin;\nlower\n\\.\nSELECT 1;\n-- end\n"
        );
    }
}
