//! Source files and byte spans, so every diagnostic can point at file:line:column.

use serde::{Deserialize, Serialize};

/// A range of bytes in one source file, with the 1-based line and column of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub col: usize,
}

impl Span {
    pub fn new(start: usize, end: usize, line: usize, col: usize) -> Span {
        Span { start, end: end.max(start), line, col }
    }

    /// A span inside a string scalar: `offset..offset+len` bytes into its text.
    /// Only exact for plain (unquoted, single-line) scalars; otherwise it widens to the whole scalar.
    pub fn narrow(self, offset: usize, len: usize, exact: bool) -> Span {
        if !exact {
            return self;
        }
        // Clamped, so a position reported just past the text (an unexpected end) stays inside the scalar.
        let start = self.start.saturating_add(offset).min(self.end);
        let end = start.saturating_add(len).min(self.end);
        Span { start, end, line: self.line, col: self.col + (start - self.start) }
    }
}

/// One stack file's text, kept for rendering diagnostics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile { name: name.into(), text: text.into() }
    }

    /// The text of 1-based line `line`, without its line ending and without a leading byte order mark.
    pub fn line_text(&self, line: usize) -> &str {
        self.line(line).map_or("", |(_, text)| text)
    }

    /// The byte offset where the text of 1-based line `line` starts, and that text (as `line_text`).
    /// Lines end at `\n`, `\r\n` or a lone `\r`, as in YAML, so line numbers agree with the parser's.
    /// For many look-ups in one file, build a `LineIndex` once instead.
    pub fn line(&self, line: usize) -> Option<(usize, &str)> {
        let mut start = 0;
        for _ in 1..line {
            start = next_line(&self.text, start)?;
        }
        (line >= 1).then(|| line_at(&self.text, start))
    }
}

/// Where each line of a text starts and ends, so each diagnostic of many finds its line
/// without rescanning the file (rendering thousands of them stays linear).
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte range of each line's text, as `SourceFile::line` gives it.
    lines: Vec<(usize, usize)>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let bytes = text.as_bytes();
        let mut lines = vec![];
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' | b'\r' => {
                    lines.push((start, i));
                    i += if bytes[i..].starts_with(b"\r\n") { 2 } else { 1 };
                    start = i;
                }
                _ => i += 1,
            }
        }
        lines.push((start, bytes.len()));
        if let Some(first) = lines.first_mut() {
            if text.starts_with('\u{feff}') {
                first.0 += '\u{feff}'.len_utf8();
            }
        }
        LineIndex { lines }
    }

    /// As `SourceFile::line`, for the text this index was built from.
    pub fn line<'t>(&self, text: &'t str, line: usize) -> Option<(usize, &'t str)> {
        let &(start, end) = self.lines.get(line.checked_sub(1)?)?;
        Some((start, text.get(start..end)?))
    }
}

/// Where the line after the one starting at byte `start` starts, if there is a line break.
fn next_line(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let end = start + bytes.get(start..)?.iter().position(|&b| b == b'\n' || b == b'\r')?;
    Some(if bytes[end..].starts_with(b"\r\n") { end + 2 } else { end + 1 })
}

/// The line starting at byte `start`, without its line break; a byte order mark opening the file is skipped.
fn line_at(text: &str, start: usize) -> (usize, &str) {
    let rest = &text[start..];
    let body = &rest[..rest.find(['\n', '\r']).unwrap_or(rest.len())];
    match body.strip_prefix('\u{feff}') {
        Some(after) if start == 0 => (start + '\u{feff}'.len_utf8(), after),
        _ => (start, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_drop_crlf_and_bom() {
        let f = SourceFile::new("s", "\u{feff}a: 1\r\nb: 2\r\n");
        assert_eq!(f.line(1), Some((3, "a: 1")));
        assert_eq!(f.line(2), Some((9, "b: 2")));
        assert_eq!(f.line(3), Some((15, "")));
        assert_eq!(f.line(4), None);
        assert_eq!(f.line_text(0), "");
        let old_mac = SourceFile::new("s", "a\rb\r\rc");
        assert_eq!(old_mac.line(2), Some((2, "b")));
        assert_eq!(old_mac.line(4), Some((5, "c")));
        for f in [f, old_mac, SourceFile::new("s", ""), SourceFile::new("s", "x\n")] {
            let index = LineIndex::new(&f.text);
            for n in 0..6 {
                assert_eq!(index.line(&f.text, n), f.line(n), "{:?} line {n}", f.text);
            }
        }
    }
}
