//! Diagnostics: located, actionable errors and warnings, collected so all are reported at once.

use std::fmt::Write as _;

use serde::Serialize;

use crate::source::{LineIndex, SourceFile, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a stack file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable id users can search for and policies can name (`unknown-reference`, `cycle`...).
    pub code: &'static str,
    pub message: String,
    pub span: Option<Span>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>, span: impl Into<Option<Span>>) -> Diagnostic {
        Diagnostic { severity: Severity::Error, code, message: message.into(), span: span.into(), help: None }
    }
    pub fn warning(code: &'static str, message: impl Into<String>, span: impl Into<Option<Span>>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, code, message: message.into(), span: span.into(), help: None }
    }
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders like a compiler error: header, `--> file:line:col`, the source line, and a caret underline.
    pub fn render(&self, file: &SourceFile) -> String {
        self.render_with(file, &LineIndex::new(&file.text))
    }

    fn render_with(&self, file: &SourceFile, lines: &LineIndex) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}[{}]: {}", self.code, clip_middle(&self.message));
        if let Some(span) = self.span {
            let (line_start, line) = lines.line(&file.text, span.line).unwrap_or((0, ""));
            let excerpt = Excerpt::new(file, line_start, line, span);
            let line_no = span.line.to_string();
            let pad = " ".repeat(line_no.len());
            let _ = writeln!(out, "{pad}--> {}:{}:{}", file.name, span.line, excerpt.col + 1);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{line_no} | {}", excerpt.text);
            let _ = writeln!(out, "{pad} | {}{}", " ".repeat(excerpt.caret), "^".repeat(excerpt.width));
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {}", clip_middle(help));
        }
        out
    }
}

/// How many characters of a source line a diagnostic shows; longer lines are clipped to a
/// window around the span, so a 200 KB minified line does not fill the terminal.
pub const MAX_SHOWN_CHARS: usize = 120;

/// The part of a span's line that is shown, and where the caret underline goes in it.
struct Excerpt {
    /// The line (or a window of it), with control characters made harmless for a terminal.
    text: String,
    /// 0-based character column of the span in the whole line.
    col: usize,
    /// Characters before the caret in `text`.
    caret: usize,
    width: usize,
}

impl Excerpt {
    /// Works in time proportional to the shown window, apart from counting the line's chars,
    /// so thousands of diagnostics on one long line still render quickly.
    fn new(file: &SourceFile, line_start: usize, line: &str, span: Span) -> Excerpt {
        let total = line.chars().count();
        // The column is recounted from the byte offset when the span lies in this line: spans
        // narrowed inside a scalar add byte offsets to the column, which is off after multibyte text.
        let (col, at) = match span.start.checked_sub(line_start).filter(|&rel| line.is_char_boundary(rel)) {
            Some(rel) => (line[..rel].chars().count(), rel),
            None => {
                let col = span.col.saturating_sub(1).min(total);
                (col, byte_of_char(line, col))
            }
        };
        let width = text_width(file, span).clamp(1, (total - col).max(1));
        let (from, to, first) = if total <= MAX_SHOWN_CHARS {
            (0, line.len(), 0)
        } else {
            let first = col.saturating_sub(MAX_SHOWN_CHARS / 3).min(total - MAX_SHOWN_CHARS);
            let from = match col - first {
                0 => at,
                back => line[..at].char_indices().rev().nth(back - 1).map_or(0, |(i, _)| i),
            };
            (from, from + byte_of_char(&line[from..], MAX_SHOWN_CHARS), first)
        };
        let mut text = String::new();
        if from > 0 {
            text.push('…');
        }
        // A tab becomes one space so the caret line below stays aligned with it.
        text.extend(line[from..to].chars().map(|c| match c {
            '\t' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        }));
        if to < line.len() {
            text.push('…');
        }
        let shown = total.min(MAX_SHOWN_CHARS);
        let caret = col - first + usize::from(from > 0);
        let width = width.min((first + shown).saturating_sub(col)).max(1);
        Excerpt { text, col, caret, width }
    }
}

/// The byte offset of char `n` of `s` (its length when `s` is shorter).
fn byte_of_char(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// The longest message or help text rendered in full. Messages quote user text (a key, a
/// value), which can be any length; the middle of an overlong one is left out.
pub const MAX_MESSAGE_CHARS: usize = 1000;

fn clip_middle(text: &str) -> std::borrow::Cow<'_, str> {
    let count = text.chars().count();
    if count <= MAX_MESSAGE_CHARS {
        return text.into();
    }
    let head: String = text.chars().take(MAX_MESSAGE_CHARS * 3 / 4).collect();
    let tail: String = text.chars().skip(count - MAX_MESSAGE_CHARS / 4).collect();
    format!("{head}…{tail}").into()
}

/// How many characters of the span's first line to underline.
fn text_width(file: &SourceFile, span: Span) -> usize {
    let Some(slice) = file.text.get(span.start..span.end) else { return 1 };
    // More than the window shows is never drawn, so there is no need to count further.
    slice.chars().take_while(|&c| c != '\n' && c != '\r').take(MAX_SHOWN_CHARS + 1).count()
}

/// A set of diagnostics; an error anywhere fails the command, but every one is reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }
    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
    /// Orders by position so output is stable and reads top to bottom.
    pub fn sorted(mut self) -> Diagnostics {
        self.0.sort_by_key(|d| (d.span.map(|s| (s.line, s.col)).unwrap_or((usize::MAX, 0)), d.code));
        self.0.dedup();
        self
    }
    pub fn render(&self, file: &SourceFile) -> String {
        let lines = LineIndex::new(&file.text);
        let mut out = String::new();
        for d in &self.0 {
            out.push_str(&d.render_with(file, &lines));
            out.push('\n');
        }
        out
    }
}
