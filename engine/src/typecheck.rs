//! Checks every resource's props (component parts included) against its kind's typed schema, reporting all violations with their location.
//!
//! Runs on the compiled nodes, after `count`/`for_each` and components, so that what is
//! checked is exactly what the kinds will receive. The compiler already coerced and
//! checked the top-level types of resources written in the stack file; this adds nested
//! shapes, enums, ranges, text rules and cross-field rules, and checks component parts in
//! full. Values known only after apply (`${queue.arn}`) skip the value checks, never the
//! key checks.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::component;
use crate::diag::{Diagnostic, Diagnostics};
use crate::expr;
use crate::graph::ResourceNode;
use crate::provider::{PropSpec, PropType, ResourceSchema, SchemaSource};
use crate::source::Span;
use crate::spec::{self, StackSpec};
use crate::yaml::{Node, NodeKind};

/// One step into a props value.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A problem with one value, before it is located in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub path: Vec<Seg>,
    pub message: String,
    pub help: Option<String>,
    /// Points at the key itself (an unknown key) rather than its value.
    pub at_key: bool,
    /// A required field that is absent: points at the key of the object that lacks it.
    pub missing: bool,
    /// From a rule across top-level props (`ResourceSchema::rules`): the message stands
    /// alone, and `path` (the first prop the rule reads that is written, or empty) only locates it.
    pub whole: bool,
}

/// `sse.bucket_key`, `lifecycle_rules[0].transitions[1].days`.
pub fn path_text(path: &[Seg]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Checks all nodes (schema types, then physical names) and reports into `diags`.
pub fn check(spec: &StackSpec, nodes: &BTreeMap<String, ResourceNode>, schemas: &dyn SchemaSource, diags: &mut Diagnostics) {
    for node in nodes.values() {
        let Some(schema) = schemas.schema_of(&node.kind) else { continue };
        let written = spec.resources.get(&node.name);
        let from_component = written.and_then(|r| component::find(&r.kind.value)).map(|c| c.kind());
        // Top-level required props of written resources were reported by the compiler already.
        let violations = check_props(schema, &node.props, from_component.is_some());
        let yaml = written.and_then(|r| r.props.as_ref());
        for v in violations {
            let at = if v.whole { String::new() } else { format!("`{}` ", path_text(&v.path)) };
            let (span, message) = match from_component {
                None if v.missing => {
                    (locate(yaml, &v.path[..v.path.len() - 1], true).unwrap_or(node.span), format!("`{}` ({}): {at}{}", node.address, schema.kind, v.message))
                }
                None => (locate(yaml, &v.path, v.at_key).unwrap_or(node.span), format!("`{}` ({}): {at}{}", node.address, schema.kind, v.message)),
                Some(ckind) => {
                    let value = value_at(&node.props, &v.path);
                    (
                        locate_in_component(yaml, &v.path, value).unwrap_or(node.span),
                        format!("`{}` ({}, a part of {ckind} `{}`): {at}{}", node.address, schema.kind, node.name, v.message),
                    )
                }
            };
            let mut d = Diagnostic::error("schema", message, span);
            if let Some(h) = v.help {
                d = d.help(h);
            }
            diags.push(d);
        }
    }
}

/// Every violation of `props` against the schema. `top_required` also reports missing
/// top-level required props (for parts, which the compiler did not see written).
pub fn check_props(schema: &ResourceSchema, props: &crate::provider::Props, top_required: bool) -> Vec<Violation> {
    let mut out = vec![];
    let mut path = vec![];
    check_fields(schema.props, props, top_required, &mut path, &mut out);
    for rule in schema.rules {
        // A value known only at apply, or one already refused on its own, is not related to others.
        let reads =
            |k: &&str| props.get(*k).is_some_and(expr::contains_unknown) || out.iter().any(|v| !v.whole && v.path.first() == Some(&Seg::Key(k.to_string())));
        if rule.props.iter().any(reads) {
            continue;
        }
        let at: Vec<Seg> = rule.props.iter().find(|k| props.get(**k).is_some_and(|v| !v.is_null())).map(|k| Seg::Key(k.to_string())).into_iter().collect();
        for message in (rule.check)(props) {
            out.push(Violation { path: at.clone(), message, help: None, at_key: false, missing: false, whole: true });
        }
    }
    out
}

fn check_fields(fields: &[PropSpec], obj: &serde_json::Map<String, Value>, required: bool, path: &mut Vec<Seg>, out: &mut Vec<Violation>) {
    for (k, v) in obj {
        path.push(Seg::Key(k.clone()));
        match fields.iter().find(|f| f.name == k) {
            Some(f) => check_value(f, v, path, out),
            None => out.push(Violation {
                path: path.clone(),
                message: "is not a known field".into(),
                help: Some(spec::suggest(k, fields.iter().map(|f| f.name)).unwrap_or_else(|| format!("the fields are: {}", names(fields)))),
                at_key: true,
                missing: false,
                whole: false,
            }),
        }
        path.pop();
    }
    if required {
        for f in fields.iter().filter(|f| f.required && obj.get(f.name).is_none_or(Value::is_null)) {
            path.push(Seg::Key(f.name.to_string()));
            let doc = if f.doc.is_empty() { String::new() } else { format!(": {}", f.doc) };
            out.push(Violation {
                path: path.clone(),
                message: format!("is required{doc}"),
                help: Some(format!("add `{}:`", f.name)),
                at_key: false,
                missing: true,
                whole: false,
            });
            path.pop();
        }
    }
}

fn names(fields: &[PropSpec]) -> String {
    fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

fn check_value(spec: &PropSpec, v: &Value, path: &mut Vec<Seg>, out: &mut Vec<Violation>) {
    if v.is_null() {
        return;
    }
    let before = out.len();
    check_type(spec.ty, v, path, out);
    if out.len() == before && !expr::contains_unknown(v) {
        if let Some(rule) = spec.rule {
            for message in rule(v) {
                out.push(Violation { path: path.clone(), message, help: None, at_key: false, missing: false, whole: false });
            }
        }
    }
}

fn found(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("\"{s}\""),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn check_type(ty: PropType, v: &Value, path: &mut Vec<Seg>, out: &mut Vec<Violation>) {
    if expr::as_unknown(v).is_some() {
        return;
    }
    let mut bad =
        |message: String, help: Option<String>| out.push(Violation { path: path.clone(), message, help, at_key: false, missing: false, whole: false });
    let is_str = |x: &Value| x.is_string() || expr::as_unknown(x).is_some();
    match ty {
        PropType::String | PropType::Policy if v.is_string() => {}
        PropType::Policy if v.is_object() => {}
        PropType::Int if v.as_i64().is_some() => {}
        PropType::Bool if v.is_boolean() => {}
        PropType::StringList if v.as_array().is_some_and(|a| a.iter().all(is_str)) => {}
        PropType::StringMap if v.as_object().is_some_and(|m| m.values().all(is_str)) => {}
        PropType::Object if v.is_object() || v.is_array() => {}
        PropType::Enum(allowed) => match v.as_str() {
            Some(s) if allowed.contains(&s) => {}
            Some(s) => bad(
                format!("must be one of {}, found \"{s}\"", allowed.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ")),
                spec::suggest(s, allowed.iter().copied()),
            ),
            None => bad(format!("must be a string, found {}", found(v)), None),
        },
        PropType::IntRange(lo, hi) => match v.as_i64() {
            Some(n) if (lo..=hi).contains(&n) => {}
            Some(n) => bad(format!("must be from {lo} to {hi}, found {n}"), None),
            None => bad(format!("must be an integer, found {}", found(v)), None),
        },
        PropType::Text(rule) => match v.as_str() {
            Some(s) => {
                if let Some(why) = rule.violation(s) {
                    bad(why, None)
                }
            }
            None => bad(format!("must be a string, found {}", found(v)), Some("quote it".into())),
        },
        PropType::Struct(fields) => match v.as_object() {
            Some(obj) => check_fields(fields, obj, true, path, out),
            None => bad(format!("must be a mapping with fields {}, found {}", names(fields), found(v)), None),
        },
        PropType::List(item) => match v.as_array() {
            Some(items) => {
                let spec = PropSpec::new("", *item, "");
                for (i, x) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    check_value(&spec, x, path, out);
                    path.pop();
                }
            }
            None => bad(format!("must be a list, found {}", found(v)), None),
        },
        other => bad(format!("must be {}, found {}", other.describe(), found(v)), None),
    }
}

fn value_at<'a>(props: &'a crate::provider::Props, path: &[Seg]) -> Option<&'a Value> {
    let (Seg::Key(first), rest) = path.split_first()? else { return None };
    let mut v = props.get(first)?;
    for s in rest {
        v = match s {
            Seg::Key(k) => v.get(k)?,
            Seg::Index(i) => v.get(i)?,
        };
    }
    Some(v)
}

/// The span of the value at `path` in the written props (or of its key), or of the deepest
/// written node on the way (a value that came whole from a var or expression).
fn locate(props: Option<&Node>, path: &[Seg], at_key: bool) -> Option<Span> {
    let mut node = props?;
    let mut span = node.span;
    for (i, s) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        let next = match (s, &node.kind) {
            (Seg::Key(k), NodeKind::Map(entries)) => match entries.iter().find(|(key, _)| key.key_text() == *k) {
                Some((key, value)) => {
                    if last && at_key {
                        return Some(key.span);
                    }
                    value
                }
                None => return Some(span),
            },
            (Seg::Index(i), NodeKind::Seq(items)) => match items.get(*i) {
                Some(n) => n,
                None => return Some(span),
            },
            _ => return Some(span),
        };
        node = next;
        span = node.span;
    }
    Some(span)
}

/// Where a component's props produced a part's value: the component prop of the same
/// name, else a written scalar equal to the offending value, else the props block.
fn locate_in_component(props: Option<&Node>, path: &[Seg], value: Option<&Value>) -> Option<Span> {
    let props = props?;
    if let Some(Seg::Key(k)) = path.first() {
        if let Some(n) = props.get(k) {
            return locate(Some(props), path, false).filter(|_| matches!(n.kind, NodeKind::Map(_) | NodeKind::Seq(_))).or(Some(n.span));
        }
    }
    if let Some(v) = value.filter(|v| !v.is_object() && !v.is_array()) {
        if let Some(span) = find_scalar(props, v) {
            return Some(span);
        }
    }
    Some(props.span)
}

fn find_scalar(node: &Node, v: &Value) -> Option<Span> {
    match &node.kind {
        NodeKind::Map(entries) => entries.iter().find_map(|(_, n)| find_scalar(n, v)),
        NodeKind::Seq(items) => items.iter().find_map(|n| find_scalar(n, v)),
        _ => (node.to_json() == *v).then_some(node.span),
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::{compile_source, CompileOptions};
    use crate::provider::{NameScope, Naming, PropSpec, PropType, Props, PropsRule, ResourceSchema, SchemaSource, TextRule};
    use crate::source::SourceFile;

    static BOX: ResourceSchema = ResourceSchema {
        kind: "test.box",
        doc: "",
        props: &[
            PropSpec::new("name", PropType::String, "").naming(Naming::new(TextRule::len(1, 20).chars("-_"), NameScope::Region).fifo("fifo", ".fifo", true)),
            PropSpec::new("fifo", PropType::Bool, ""),
            PropSpec::new("size", PropType::IntRange(0, 10), ""),
            PropSpec::new("spec", PropType::Enum(&["RSA_2048", "RSA_4096"]), ""),
            PropSpec::new(
                "inner",
                PropType::Struct(&[PropSpec::new("mode", PropType::String, "the mode").required(), PropSpec::new("flag", PropType::Bool, "").required()]),
                "",
            ),
            PropSpec::new("items", PropType::List(&PropType::Struct(&[PropSpec::new("days", PropType::IntRange(1, 5), "").required()])), "").rule(|v| {
                if v.as_array().is_some_and(|a| a.len() > 2) {
                    vec!["has more than two items".into()]
                } else {
                    vec![]
                }
            }),
        ],
        attrs: &["arn"],
        taggable: false,
        rules: &[PropsRule { props: &["spec", "size"], check: big_needs_rsa_4096 }],
    };

    fn big_needs_rsa_4096(p: &Props) -> Vec<String> {
        let big = p.get("size").and_then(|v| v.as_i64()).is_some_and(|n| n > 5);
        if big && p.get("spec").and_then(|v| v.as_str()) != Some("RSA_4096") {
            vec!["a size above 5 needs spec RSA_4096".into()]
        } else {
            vec![]
        }
    }

    struct Schemas;
    impl SchemaSource for Schemas {
        fn schema_of(&self, kind: &str) -> Option<&'static ResourceSchema> {
            (kind == BOX.kind).then_some(&BOX)
        }
        fn all_schemas(&self) -> Vec<&'static ResourceSchema> {
            vec![&BOX]
        }
    }

    fn errors(yaml: &str) -> String {
        let file = SourceFile::new("stack.yaml", format!("stack: t\nresources:\n{yaml}"));
        match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &Schemas) {
            Ok(_) => String::new(),
            Err(d) => d
                .iter()
                .map(|d| {
                    format!(
                        "{}:{} {} {}{}\n",
                        d.span.map_or(0, |s| s.line),
                        d.span.map_or(0, |s| s.col),
                        d.code,
                        d.message,
                        d.help.as_ref().map(|h| format!(" [{h}]")).unwrap_or_default()
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn nested_keys_values_and_rules_are_all_reported_at_their_place() {
        let out = errors(
            "  a:\n    type: test.box\n    props:\n      size: 11\n      spec: RSA_9999\n      inner: { mode: x, flg: true }\n      items: [{ days: 1 }, { days: 9 }, { days: 2 }]\n",
        );
        insta::assert_snapshot!(out);
    }

    #[test]
    fn unknown_values_skip_value_checks_but_not_key_checks() {
        let out = errors("  a:\n    type: test.box\n    props:\n      size: 3\n  b:\n    type: test.box\n    props:\n      size: ${a.arn}\n      inner: { mode: \"${a.arn}\", flag: true, extra: 1 }\n");
        assert_eq!(out, "11:46 schema `b` (test.box): `inner.extra` is not a known field [the fields are: mode, flag]\n");
    }

    #[test]
    fn names_that_collide_or_break_the_rules_are_refused() {
        let out = errors(
            "  orders_dlq:\n    type: test.box\n  orders-dlq:\n    type: test.box\n  c:\n    type: test.box\n    props: { name: \"a.fifo\" }\n  d:\n    type: test.box\n    props: { name: \"way-too-long-for-this-kind\", fifo: true }\n",
        );
        insta::assert_snapshot!(out);
    }

    #[test]
    fn valid_props_pass() {
        assert_eq!(errors("  a:\n    type: test.box\n    props: { name: q, fifo: true, size: 10, spec: RSA_4096, inner: { mode: m, flag: false }, items: [{ days: 5 }] }\n"), "");
    }

    #[test]
    fn rules_across_props_are_located_at_the_first_prop_they_read_that_is_written() {
        let out = errors("  a:\n    type: test.box\n    props:\n      fifo: true\n      size: 7\n  b:\n    type: test.box\n    props:\n      size: 8\n      spec: RSA_2048\n");
        assert_eq!(out, "7:13 schema `a` (test.box): a size above 5 needs spec RSA_4096\n12:13 schema `b` (test.box): a size above 5 needs spec RSA_4096\n");
    }

    #[test]
    fn rules_across_props_skip_values_known_only_at_apply_and_values_refused_alone() {
        let out = errors("  a:\n    type: test.box\n    props: { size: 3 }\n  b:\n    type: test.box\n    props: { size: 9, spec: \"${a.arn}\" }\n  c:\n    type: test.box\n    props: { size: 9, spec: RSA_9 }\n");
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("`spec` must be one of"), "{out}");
    }
}
