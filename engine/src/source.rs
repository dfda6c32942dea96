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
        Span { start: self.start + offset, end: self.start + offset + len, line: self.line, col: self.col + offset }
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

    /// The text of 1-based line `line`, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        self.text.lines().nth(line.saturating_sub(1)).unwrap_or("")
    }
}
