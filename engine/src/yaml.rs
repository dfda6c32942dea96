//! Reads YAML into a tree of nodes that keep their source spans (the YAML crate's own tree drops them).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
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
        self.as_map()?.iter().find(|(k, _)| k.key_text() == key).map(|(_, v)| v)
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

enum Frame {
    Seq { items: Vec<Node>, span: Span, anchor: usize },
    Map { entries: Vec<(Node, Node)>, pending_key: Option<Node>, span: Span, anchor: usize },
}

struct Builder<'a> {
    src: &'a str,
    /// Byte offset of each char index: the scanner counts characters, spans are bytes.
    char_to_byte: Vec<usize>,
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    errors: Vec<Diagnostic>,
    documents: usize,
}

impl Builder<'_> {
    fn span_at(&self, mark: Marker, len_chars: usize) -> Span {
        let start = self.byte_of(mark.index());
        let end = self.byte_of(mark.index() + len_chars);
        Span::new(start, end, mark.line(), mark.col() + 1)
    }

    fn byte_of(&self, char_index: usize) -> usize {
        self.char_to_byte.get(char_index).copied().unwrap_or(self.src.len())
    }

    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, pending_key, .. }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    let name = key.key_text();
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.key_text() == name) {
                        let first_line = first.span.line;
                        self.errors.push(
                            Diagnostic::error("duplicate-key", format!("duplicate key `{name}`"), key.span)
                                .help(format!("`{name}` is already set on line {first_line}; remove one of them")),
                        );
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

fn scalar(value: String, style: TScalarStyle, span: Span) -> Node {
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
    Node { kind, span, plain }
}

/// YAML 1.2 core-schema floats only: `1.5`, `-2e3`; not `inf`, `nan` or dotted versions like `1.2.3`.
fn looks_like_float(v: &str) -> bool {
    let body = v.strip_prefix(['-', '+']).unwrap_or(v);
    !body.is_empty()
        && body.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.')
        && body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && body.matches('.').count() <= 1
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
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
                let node = scalar(value, style, self.span_at(mark, len));
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node);
            }
            Event::SequenceStart(anchor, _) => {
                let span = self.span_at(mark, 1);
                self.stack.push(Frame::Seq { items: vec![], span, anchor });
            }
            Event::MappingStart(anchor, _) => {
                let span = self.span_at(mark, 1);
                self.stack.push(Frame::Map { entries: vec![], pending_key: None, span, anchor });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, span, anchor }) => (Node { kind: NodeKind::Seq(items), span, plain: false }, anchor),
                    Some(Frame::Map { entries, span, anchor, .. }) => (Node { kind: NodeKind::Map(entries), span, plain: false }, anchor),
                    None => return,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push_node(node);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node { kind: NodeKind::Null, span: self.span_at(mark, 1), plain: false });
                self.push_node(node);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

/// Parses one YAML document. Syntax errors stop at the first one (the YAML parser cannot
/// recover); structural problems such as duplicate keys are all collected.
pub fn parse(src: &str) -> Result<Node, Vec<Diagnostic>> {
    let char_to_byte: Vec<usize> = src.char_indices().map(|(b, _)| b).chain(std::iter::once(src.len())).collect();
    let mut builder = Builder { src, char_to_byte, stack: vec![], root: None, anchors: HashMap::new(), errors: vec![], documents: 0 };
    let mut parser = Parser::new_from_str(src);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        let span = builder.span_at(*m, 1);
        let mut errors = builder.errors;
        errors.push(Diagnostic::error("yaml", format!("invalid YAML: {}", e.info()), span).help("check indentation and quoting around this point"));
        return Err(errors);
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    match builder.root {
        Some(root) => Ok(root),
        None => Err(vec![Diagnostic::error("yaml", "the stack file is empty", Span::new(0, 0, 1, 1)).help("start with `stack: NAME` and `resources:`")]),
    }
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
    fn versions_stay_strings() {
        let root = parse("v: 1.29\nw: 1.2.3\n").unwrap();
        assert_eq!(root.get("w").unwrap().as_str(), Some("1.2.3"));
    }
}
