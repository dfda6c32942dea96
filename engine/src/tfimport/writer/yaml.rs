//! YAML emission for the written stack: block-style maps and lists, short flow lists, quoting only where YAML needs it.

use serde_json::{Map, Value};

use crate::provider::{ResourceSchema, Tags};

pub(super) fn emit_tags(y: &mut String, tags: &Tags) {
    if tags.is_empty() {
        return;
    }
    y.push_str("    tags:\n");
    for (k, v) in tags {
        y.push_str(&format!("      {}: {}\n", key(k), scalar(&Value::String(v.clone()), false)));
    }
}

pub(super) fn emit_props(y: &mut String, props: &Value, schema: Option<&ResourceSchema>) {
    let Value::Object(m) = props else { return };
    if m.is_empty() {
        return;
    }
    y.push_str("    props:\n");
    // Schema order (what `cairn schema` lists), whatever order the map keeps.
    let rank = |k: &str| schema.and_then(|s| s.props.iter().position(|p| p.name == k)).unwrap_or(usize::MAX);
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    for k in keys {
        y.push_str(&format!("      {}:", key(k)));
        emit_after_key(y, &m[k], 6);
    }
}

/// Map keys in a stable order: `id`/`name` first, IAM policy elements as AWS documents them, then alphabetical.
pub(super) fn sorted_keys(m: &Map<String, Value>) -> Vec<&String> {
    const POLICY: &[&str] = &[
        "id",
        "name",
        "Version",
        "Id",
        "Statement",
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    ];
    let rank = |k: &str| POLICY.iter().position(|p| *p == k).unwrap_or(POLICY.len());
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    keys
}

/// A block mapping at `indent` spaces.
pub(super) fn emit_map(y: &mut String, m: &Map<String, Value>, indent: usize) {
    let pad = " ".repeat(indent);
    for k in sorted_keys(m) {
        y.push_str(&format!("{pad}{}:", key(k)));
        emit_after_key(y, &m[k], indent);
    }
}

pub(super) fn emit_after_key(y: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            if let Some(f) = short_flow(v) {
                y.push_str(&format!(" {f}\n"));
            } else {
                y.push('\n');
                emit_map(y, o, indent + 2);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            if let Some(f) = short_flow(v) {
                y.push_str(&format!(" {f}\n"));
            } else {
                y.push('\n');
                emit_list(y, a, indent + 2);
            }
        }
        other => y.push_str(&format!(" {}\n", scalar(other, false))),
    }
}

pub(super) fn emit_list(y: &mut String, a: &[Value], indent: usize) {
    let pad = " ".repeat(indent);
    for item in a {
        match item {
            Value::Object(o) if !o.is_empty() => {
                // `- first: ...` then the other keys aligned under it.
                let mut first = true;
                for k in sorted_keys(o) {
                    let v = &o[k];
                    if first {
                        y.push_str(&format!("{pad}- {}:", key(k)));
                        first = false;
                    } else {
                        y.push_str(&format!("{pad}  {}:", key(k)));
                    }
                    emit_after_key(y, v, indent + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                y.push_str(&format!("{pad}-\n"));
                emit_list(y, inner, indent + 2);
            }
            other => y.push_str(&format!("{pad}- {}\n", scalar(other, false))),
        }
    }
}

/// A one-line flow form for small lists of scalars and small flat maps.
pub(super) fn short_flow(v: &Value) -> Option<String> {
    let flat = match v {
        Value::Array(a) => a.iter().all(|x| !x.is_array() && !x.is_object()),
        Value::Object(o) => o.len() <= 4 && o.values().all(|x| !x.is_array() && !x.is_object()),
        _ => false,
    };
    let text = flow(v);
    (flat && text.len() <= 80).then_some(text)
}

pub(super) fn flow(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!("{{ {} }}", sorted_keys(o).into_iter().map(|k| format!("{}: {}", key(k), flow(&o[k]))).collect::<Vec<_>>().join(", ")),
        other => scalar(other, true),
    }
}

pub(super) fn key(k: &str) -> String {
    if needs_quotes(k, true) {
        Value::String(k.to_string()).to_string()
    } else {
        k.to_string()
    }
}

/// A scalar as YAML: strings plain where that reads back as the same string, else double-quoted.
pub(super) fn scalar(v: &Value, in_flow: bool) -> String {
    match v {
        Value::String(s) if !needs_quotes(s, in_flow) => s.clone(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        // JSON's double-quoted string is valid YAML.
        other => other.to_string(),
    }
}

pub(super) fn needs_quotes(s: &str, in_flow: bool) -> bool {
    let reference = s.starts_with("${") && s.ends_with('}') && !s[2..].contains("${") && !s.contains('"');
    s.is_empty()
        || s.starts_with([' ', '&', '*', '?', '|', '-', '<', '>', '=', '!', '%', '@', '\'', '"', '#', '.', ',', '[', ']', '{', '}', '`'])
        || s.ends_with([' ', ':'])
        || s.contains(": ")
        || s.contains(" #")
        || (in_flow && s.contains(':'))
        || s.contains(['\n', '\t', '\r', '\\'])
        || (s.contains(['{', '}', '[', ']', ',']) && (in_flow || !reference))
        || s.chars().any(|c| c.is_control())
        || matches!(s.to_ascii_lowercase().as_str(), "true" | "false" | "null" | "~" | "yes" | "no" | "on" | "off" | "y" | "n")
        || s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o")
        || (s.starts_with('$') && !reference)
}
