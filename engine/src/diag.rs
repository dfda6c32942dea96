//! Diagnostics: located, actionable errors and warnings, collected so all are reported at once.

use std::fmt::Write as _;

use serde::Serialize;

use crate::source::{SourceFile, Span};

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
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}[{}]: {}", self.code, self.message);
        if let Some(span) = self.span {
            let line_no = span.line.to_string();
            let pad = " ".repeat(line_no.len());
            let text = file.line_text(span.line);
            let _ = writeln!(out, "{pad}--> {}:{}:{}", file.name, span.line, span.col);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{line_no} | {text}");
            let col0 = span.col.saturating_sub(1).min(text.chars().count());
            let rest = text.chars().count() - col0;
            let width = text_width(file, span).clamp(1, rest.max(1));
            let _ = writeln!(out, "{pad} | {}{}", " ".repeat(col0), "^".repeat(width));
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

/// How many characters of the span's first line to underline.
fn text_width(file: &SourceFile, span: Span) -> usize {
    let Some(slice) = file.text.get(span.start..span.end) else { return 1 };
    slice.lines().next().map(|l| l.chars().count()).unwrap_or(1)
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
        let mut out = String::new();
        for d in &self.0 {
            out.push_str(&d.render(file));
            out.push('\n');
        }
        out
    }
}
