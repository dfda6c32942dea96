//! Reads YAML into a tree of nodes that keep their source spans (the YAML crate's own tree drops them).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diag::Diagnostic;
use crate::source::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys are kept in file order; duplicate keys are rejected while reading.
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// A plain scalar: its text in the file is exactly its value, so spans inside it are exact.
    pub plain: bool,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }
    /// Looks a key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.key_str() == key).map(|(_, v)| v)
    }
    /// [`Node::key_text`] without copying a string key.
    pub fn key_str(&self) -> std::borrow::Cow<'_, str> {
        match &self.kind {
            NodeKind::Str(s) => std::borrow::Cow::Borrowed(s),
            _ => std::borrow::Cow::Owned(self.key_text()),
        }
    }
    /// A mapping key as text (numbers and booleans used as keys read as their text).
    pub fn key_text(&self) -> String {
        match &self.kind {
            NodeKind::Str(s) => s.clone(),
            NodeKind::Int(i) => i.to_string(),
            NodeKind::Float(f) => f.to_string(),
            NodeKind::Bool(b) => b.to_string(),
            NodeKind::Null => "null".into(),
            NodeKind::Seq(_) | NodeKind::Map(_) => "<complex key>".into(),
        }
    }
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
    /// Plain JSON, for values with no expressions in them.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::from(*i),
            NodeKind::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(entries.iter().map(|(k, v)| (k.key_text(), v.to_json())).collect()),
        }
    }
}

/// How many nodes anchors and aliases may copy in total, beyond twice the file's own node count.
/// A stack file has no use for more; without a cap a few hundred bytes of nested aliases
/// ("billion laughs") expand into gigabytes.
pub const MAX_ALIAS_NODES: usize = 100_000;
/// How many bytes of scalar text anchors and aliases may copy, beyond twice the file's own:
/// one long string aliased many times is as costly as many nodes.
pub const MAX_ALIAS_BYTES: usize = 16 << 20;
/// Mappings up to this many keys find a duplicate key by scanning their entries; larger ones
/// keep a hash of the keys seen.
const SCAN_KEYS: usize = 16;
/// How deeply collections may nest. Everything downstream walks the tree recursively, so an
/// unbounded depth would overflow the stack instead of reporting an error.
pub const MAX_DEPTH: usize = 256;

/// What a subtree costs to copy: its node count and the bytes of its scalar text.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
}

impl Size {
    fn add(&mut self, other: Size) {
        self.nodes = self.nodes.saturating_add(other.nodes);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        span: Span,
        anchor: usize,
        size: Size,
    },
    Map {
        entries: Vec<(Node, Node)>,
        /// Key text → line of its first occurrence, so duplicates are found in constant time.
        /// Filled only once the mapping outgrows [`SCAN_KEYS`]: below that a scan of `entries`
        /// is faster, and most mappings are small.
        seen: HashMap<String, usize>,
        pending_key: Option<Node>,
        span: Span,
        anchor: usize,
        size: Size,
    },
}

struct Builder<'a> {
    src: &'a str,
    /// Byte offset of each char index: the scanner counts characters, spans are bytes. Empty
    /// when the text after the byte order mark is ASCII: then a char index is its byte offset
    /// (past the mark), and the table, eight bytes per character, is not worth building.
    char_to_byte: Vec<usize>,
    /// How many characters follow the byte order mark.
    chars: usize,
    /// The byte order mark's length (0 without one).
    bom: usize,
    /// Char index where each line starts. Lines and columns are derived from the scanner's char
    /// index, because its own line count can disagree with it at some errors.
    line_starts: Vec<usize>,
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, (Node, Size)>,
    /// What the file itself holds so far (nodes and scalar bytes), before any copying.
    own: Size,
    /// What anchors (copied when defined) and aliases (copied when used) have copied so far.
    /// Both count: nested anchors around a large value copy it once per level.
    copied: Size,
    errors: Vec<Diagnostic>,
    documents: usize,
}

impl Builder<'_> {
    fn span_at(&self, mark: Marker, len_chars: usize) -> Span {
        let mut index = mark.index().min(self.chars);
        // The scanner may point between the `\r` and `\n` of a CRLF; that is still the end of the line before.
        if index > 0 && self.src.as_bytes().get(self.byte_of(index)) == Some(&b'\n') && self.src.as_bytes().get(self.byte_of(index - 1)) == Some(&b'\r') {
            index -= 1;
        }
        let start = self.byte_of(index);
        let end = self.byte_of(index.saturating_add(len_chars));
        let line = self.line_starts.partition_point(|&s| s <= index).max(1);
        let col = index - self.line_starts.get(line - 1).copied().unwrap_or(0) + 1;
        Span::new(start, end, line, col)
    }

    fn byte_of(&self, char_index: usize) -> usize {
        if self.char_to_byte.is_empty() {
            return if char_index < self.chars { self.bom + char_index } else { self.src.len() };
        }
        self.char_to_byte.get(char_index).copied().unwrap_or(self.src.len())
    }

    fn push_node(&mut self, node: Node, size: Size) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, size: total, .. }) => {
                total.add(size);
                items.push(node);
            }
            Some(Frame::Map { entries, seen, pending_key, size: total, .. }) => {
                total.add(size);
                match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => {
                        let name = key.key_str();
                        if entries.len() == SCAN_KEYS {
                            seen.extend(entries.iter().map(|(k, _)| (k.key_text(), k.span.line)));
                        }
                        let first_line = if entries.len() < SCAN_KEYS {
                            entries.iter().find(|(k, _)| k.key_str() == name).map(|(k, _)| k.span.line)
                        } else {
                            seen.get(name.as_ref()).copied()
                        };
                        if let Some(first_line) = first_line {
                            self.errors.push(
                                Diagnostic::error("duplicate-key", format!("duplicate key `{name}`"), key.span)
                                    .help(format!("`{name}` is already set on line {first_line}; remove one of them")),
                            );
                        } else {
                            if entries.len() >= SCAN_KEYS {
                                seen.insert(name.into_owned(), key.span.line);
                            } else {
                                drop(name);
                            }
                            entries.push((key, node));
                        }
                    }
                }
            }
        }
    }

    fn anchor(&mut self, anchor: usize, node: &Node, size: Size, span: Span) -> Result<(), Diagnostic> {
        if anchor > 0 {
            self.copy(size, span)?;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        Ok(())
    }

    /// Accounts for copying a subtree, refusing once copies outgrow the file itself.
    fn copy(&mut self, size: Size, span: Span) -> Result<(), Diagnostic> {
        self.copied.add(size);
        let max_nodes = MAX_ALIAS_NODES.saturating_add(self.own.nodes.saturating_mul(2));
        let max_bytes = MAX_ALIAS_BYTES.saturating_add(self.own.bytes.saturating_mul(2));
        if self.copied.nodes <= max_nodes && self.copied.bytes <= max_bytes {
            return Ok(());
        }
        Err(Diagnostic::error(
            "yaml",
            format!("aliases expand to more than {max_nodes} nodes or {} MiB of text; refusing to expand further", max_bytes >> 20),
            span,
        )
        .help("this looks like nested aliases multiplying each other; write the values out or use fewer levels of `*alias`"))
    }

    fn open(&mut self, mark: Marker) -> Result<Span, Diagnostic> {
        let span = self.span_at(mark, 1);
        if self.stack.len() >= MAX_DEPTH {
            return Err(Diagnostic::error("yaml", format!("lists and mappings nest more than {MAX_DEPTH} levels deep here"), span)
                .help("a stack file never needs this much nesting; flatten the structure"));
        }
        Ok(span)
    }

    /// Handles one parser event; an `Err` is fatal and stops reading.
    fn on_event(&mut self, ev: Event, mark: Marker) -> Result<(), Diagnostic> {
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.errors.push(Diagnostic::error("yaml", "a stack file holds one YAML document; found a second `---`", self.span_at(mark, 3)));
                }
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let len = match style {
                    TScalarStyle::Plain => value.chars().count(),
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => value.chars().count() + 2,
                    _ => 1,
                };
                let size = Size { nodes: 1, bytes: value.len() };
                self.own.add(size);
                let span = self.span_at(mark, len);
                // A plain scalar folded over several lines is not its own text in the file.
                let exact = style == TScalarStyle::Plain && self.src.get(span.start..span.end) == Some(value.as_str());
                let node = scalar(value, style, span, exact);
                self.anchor(anchor, &node, size, node.span)?;
                self.push_node(node, size);
            }
            Event::SequenceStart(anchor, _) => {
                let span = self.open(mark)?;
                self.own.add(Size { nodes: 1, bytes: 0 });
                self.stack.push(Frame::Seq { items: vec![], span, anchor, size: Size { nodes: 1, bytes: 0 } });
            }
            Event::MappingStart(anchor, _) => {
                let span = self.open(mark)?;
                self.own.add(Size { nodes: 1, bytes: 0 });
                self.stack.push(Frame::Map { entries: vec![], seen: HashMap::new(), pending_key: None, span, anchor, size: Size { nodes: 1, bytes: 0 } });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                // Trimmed to their length: the tree lives as long as the stack's spec, and the
                // room a vector grows into is up to half of it again.
                let (node, anchor, size) = match self.stack.pop() {
                    Some(Frame::Seq { mut items, span, anchor, size }) => {
                        items.shrink_to_fit();
                        (Node { kind: NodeKind::Seq(items), span, plain: false }, anchor, size)
                    }
                    Some(Frame::Map { mut entries, span, anchor, size, .. }) => {
                        entries.shrink_to_fit();
                        (Node { kind: NodeKind::Map(entries), span, plain: false }, anchor, size)
                    }
                    None => return Ok(()),
                };
                self.anchor(anchor, &node, size, node.span)?;
                self.push_node(node, size);
            }
            Event::Alias(id) => {
                let span = self.span_at(mark, 1);
                let Some(size) = self.anchors.get(&id).map(|(_, size)| *size) else {
                    self.push_node(Node { kind: NodeKind::Null, span, plain: false }, Size { nodes: 1, bytes: 0 });
                    return Ok(());
                };
                self.copy(size, span)?;
                let node = self.anchors.get(&id).map_or(Node { kind: NodeKind::Null, span, plain: false }, |(node, _)| node.clone());
                self.push_node(node, size);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }
}

fn scalar(value: String, style: TScalarStyle, span: Span, exact: bool) -> Node {
    let plain = style == TScalarStyle::Plain;
    let kind = if !plain {
        NodeKind::Str(value)
    } else {
        match value.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => NodeKind::Null,
            "true" | "True" | "TRUE" => NodeKind::Bool(true),
            "false" | "False" | "FALSE" => NodeKind::Bool(false),
            v => {
                if let Ok(i) = v.parse::<i64>() {
                    NodeKind::Int(i)
                } else if looks_like_float(v) {
                    v.parse::<f64>().map(NodeKind::Float).unwrap_or(NodeKind::Str(value))
                } else {
                    NodeKind::Str(value)
                }
            }
        }
    };
    Node { kind, span, plain: exact }
}

/// YAML 1.2 core-schema floats only: `1.5`, `-2e3`; not `inf`, `nan` or dotted versions like `1.2.3`.
fn looks_like_float(v: &str) -> bool {
    let body = v.strip_prefix(['-', '+']).unwrap_or(v);
    !body.is_empty()
        && body.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.')
        && body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && body.matches('.').count() <= 1
}

/// Parses one YAML document. Syntax errors stop at the first one (the YAML parser cannot
/// recover); structural problems such as duplicate keys are all collected.
///
/// A leading UTF-8 byte order mark (Windows editors write one) is skipped; spans still count
/// bytes of `src` as given, so they index the original text.
pub fn parse(src: &str) -> Result<Node, Vec<Diagnostic>> {
    let bom = if src.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
    let body = &src[bom..];
    let ascii = body.is_ascii();
    let mut char_to_byte = Vec::with_capacity(if ascii { 0 } else { body.len() + 1 });
    // Line breaks as YAML has them: `\n`, `\r\n` or a lone `\r`.
    let mut line_starts = vec![0];
    let mut after_cr = false;
    let mut chars = 0;
    for (i, (b, c)) in body.char_indices().enumerate() {
        if after_cr && c != '\n' {
            line_starts.push(i);
        }
        if !ascii {
            char_to_byte.push(b + bom);
        }
        after_cr = c == '\r';
        if c == '\n' {
            line_starts.push(i + 1);
        }
        chars = i + 1;
    }
    if after_cr {
        line_starts.push(chars);
    }
    if !ascii {
        char_to_byte.push(src.len());
    }
    let mut builder = Builder {
        src,
        char_to_byte,
        chars,
        bom,
        line_starts,
        stack: vec![],
        root: None,
        anchors: HashMap::new(),
        own: Size::default(),
        copied: Size::default(),
        errors: vec![],
        documents: 0,
    };
    // Events are pulled one by one rather than through `Parser::load`, whose recursive
    // descent has no depth limit and which cannot be stopped once a limit is hit.
    let mut parser = Parser::new_from_str(body);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((ev, mark)) => {
                if let Err(fatal) = builder.on_event(ev, mark) {
                    let mut errors = builder.errors;
                    errors.push(fatal);
                    return Err(errors);
                }
            }
            Err(e) => {
                let span = builder.span_at(*e.marker(), 1);
                let mut errors = builder.errors;
                errors.push(Diagnostic::error("yaml", format!("invalid YAML: {}", e.info()), span).help(syntax_help(src, span)));
                return Err(errors);
            }
        }
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    match builder.root {
        Some(root) => Ok(root),
        None => Err(vec![Diagnostic::error("yaml", "the stack file is empty", Span::new(bom, bom, 1, 1)).help("start with `stack: NAME` and `resources:`")]),
    }
}

/// Advice for a YAML syntax error. The commonest cause is a `${...}` reference left unquoted
/// (YAML reads `{` as the start of a mapping), so when one is near the error, say how to quote it.
fn syntax_help(src: &str, span: Span) -> String {
    let generic = "check indentation and quoting around this point".to_string();
    let at = span.start.min(src.len());
    let line_start = src.get(..at).and_then(|s| s.rfind('\n')).map_or(0, |i| i + 1);
    // The parser often notices the problem only on the line after it, so look one line back too.
    let prev_start = src.get(..line_start.saturating_sub(1)).and_then(|s| s.rfind('\n')).map_or(0, |i| i + 1);
    let line_end = src.get(at..).and_then(|s| s.find('\n')).map_or(src.len(), |i| at + i);
    let Some(region) = src.get(prev_start..line_end) else { return generic };
    match region.lines().rev().find_map(unquoted_reference) {
        Some((key, reference)) => {
            let example = if key.is_empty() { format!("\"{reference}\"") } else { format!("{key}: \"{reference}\"") };
            format!("a `${{...}}` reference must be quoted in YAML, e.g. `{example}`; unquoted, `{{` starts a mapping")
        }
        None => generic,
    }
}

/// The first `${...}` on a line that is outside quotes, with the mapping key written before it.
fn unquoted_reference(line: &str) -> Option<(&str, &str)> {
    let mut quote: Option<char> = None;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let scalar_may_start = || line[..i].trim_end().is_empty() || line[..i].trim_end().ends_with([':', '[', '{', ',', '-']);
        match (quote, c) {
            // `''` inside single quotes and `\x` inside double quotes do not end the string.
            (Some('\''), '\'') if chars.peek().is_some_and(|&(_, n)| n == '\'') => {
                chars.next();
            }
            (Some('"'), '\\') => {
                chars.next();
            }
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '#') if i == 0 || line[..i].ends_with([' ', '\t']) => return None,
            // A quote opens a quoted scalar only where a scalar can start, not inside `it's`.
            (None, '"' | '\'') if scalar_may_start() => quote = Some(c),
            (None, '$') if line[i..].starts_with("${") => {
                let rest = &line[i..];
                let reference = rest.find('}').map_or(rest, |end| &rest[..=end]);
                let before = line[..i].trim_end().strip_suffix(':').unwrap_or("");
                let key = before.rsplit(|c: char| c.is_whitespace() || matches!(c, '{' | ',' | '[' | '-')).next().unwrap_or("");
                return Some((key, reference));
            }
            (None, _) => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_line_and_column() {
        let src = "a: 1\nb:\n  c: \"x\"\n  d: [true, ~, 2.5]\n";
        let root = parse(src).unwrap();
        let c = root.get("b").unwrap().get("c").unwrap();
        assert_eq!(c.as_str(), Some("x"));
        assert_eq!((c.span.line, c.span.col), (3, 6));
        assert_eq!(&src[c.span.start..c.span.end], "\"x\"");
        let d = root.get("b").unwrap().get("d").unwrap().as_seq().unwrap();
        assert_eq!(d[0].kind, NodeKind::Bool(true));
        assert_eq!(d[1].kind, NodeKind::Null);
        assert_eq!(d[2].kind, NodeKind::Float(2.5));
    }

    #[test]
    fn multibyte_text_keeps_byte_spans() {
        let src = "é: ünïcode\nk: v\n";
        let root = parse(src).unwrap();
        let v = root.get("k").unwrap();
        assert_eq!(&src[v.span.start..v.span.end], "v");
        assert_eq!((v.span.line, v.span.col), (2, 4));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let errs = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(errs[0].code, "duplicate-key");
        assert_eq!(errs[0].span.unwrap().line, 3);
    }

    #[test]
    fn syntax_error_is_located() {
        let errs = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(errs[0].code, "yaml");
        assert!(errs[0].span.unwrap().line >= 1);
    }

    #[test]
    fn unquoted_reference_help_names_the_key() {
        let errs = parse("props: { kms_key: ${key.arn} }\n").unwrap_err();
        assert_eq!(
            errs[0].help.as_deref(),
            Some("a `${...}` reference must be quoted in YAML, e.g. `kms_key: \"${key.arn}\"`; unquoted, `{` starts a mapping")
        );
        assert_eq!(unquoted_reference("a: '${x}' # ${y}"), None);
        assert_eq!(unquoted_reference("- [\"a\\\"\", ${x}]"), Some(("", "${x}")));
    }

    #[test]
    fn unquoted_references_get_quoting_help_in_flow_and_block_collections() {
        let help = |src: &str| parse(src).map(|_| String::new()).unwrap_or_else(|e| e[0].help.clone().unwrap_or_default());
        for (src, example) in [
            // A flow mapping, a flow sequence, a flow mapping as an item of a block sequence, and
            // a flow mapping over several lines (the parser notices on a later line).
            ("props: { kms_key: ${key.arn} }\n", "kms_key: \"${key.arn}\""),
            ("props:\n  subnets: [${a.id}, ${b.id}]\n", "\"${a.id}\""),
            ("items:\n  - { arn: ${q.arn} }\n", "arn: \"${q.arn}\""),
            ("props: {\n  size: 1,\n  kms_key: ${key.arn}\n}\n", "kms_key: \"${key.arn}\""),
        ] {
            assert_eq!(help(src), format!("a `${{...}}` reference must be quoted in YAML, e.g. `{example}`; unquoted, `{{` starts a mapping"), "for {src:?}");
        }
        // In block mappings and sequences a plain scalar may hold `${...}`: no error, the text is kept.
        let root = parse("props:\n  kms_key: ${key.arn}\n  subnets:\n    - ${a.id}\n").unwrap();
        let props = root.get("props").unwrap();
        assert_eq!(props.get("kms_key").unwrap().as_str(), Some("${key.arn}"));
        assert_eq!(props.get("subnets").unwrap().as_seq().unwrap()[0].as_str(), Some("${a.id}"));
        // A quoted reference in a flow mapping is fine, and other syntax errors keep the generic advice.
        assert!(parse("props: { kms_key: \"${key.arn}\" }\n").is_ok());
        assert_eq!(help("a: [1, 2\nb: 3\n"), "check indentation and quoting around this point");
    }

    #[test]
    fn versions_stay_strings() {
        let root = parse("v: 1.29\nw: 1.2.3\n").unwrap();
        assert_eq!(root.get("w").unwrap().as_str(), Some("1.2.3"));
    }
}
