//! A resource instance's `props:` evaluated and checked against its kind's schema: unknown properties, types (with the coercions YAML's reading makes necessary), required properties.

use std::collections::BTreeMap;

use serde_json::Value;

use super::eval::eval_tree;
use super::expand::Instance;
use super::scope::LocalScope;
use crate::diag::{Diagnostic, Diagnostics};
use crate::expr;
use crate::provider::{PropType, Props};
use crate::source::{SourceFile, Span};
use crate::spec;
use crate::yaml::Node;

pub(super) fn compile_props(inst: &Instance, scope: &LocalScope, file: &SourceFile, diags: &mut Diagnostics) -> (Props, BTreeMap<String, Span>) {
    let mut props = Props::new();
    let mut spans = BTreeMap::new();
    let Some(node) = &inst.spec.props else {
        check_required(inst, &props, diags);
        return (props, spans);
    };
    let Some(entries) = node.as_map() else { return (props, spans) };
    for (k, v) in entries {
        let name = k.key_text();
        spans.insert(name.clone(), k.span);
        let spec = inst.schema.and_then(|s| s.prop(&name));
        if let Some(schema) = inst.schema {
            if spec.is_none() {
                diags.push(
                    Diagnostic::error("unknown-property", format!("{} has no property `{name}`", schema.kind), k.span).help(
                        spec::suggest(&name, schema.props.iter().map(|p| p.name))
                            .unwrap_or_else(|| format!("its properties: {}", schema.props.iter().map(|p| p.name).collect::<Vec<_>>().join(", "))),
                    ),
                );
                continue;
            }
        }
        let Some(value) = eval_tree(v, scope, diags) else { continue };
        if value.is_null() {
            continue;
        }
        let value = match spec {
            Some(p) => match coerce(value, p.ty, v, file) {
                Ok(v) => v,
                Err(msg) => {
                    diags.push(Diagnostic::error("type", format!("`{name}` must be {}, found {msg}", p.ty.describe()), v.span));
                    continue;
                }
            },
            None => value,
        };
        props.insert(name, value);
    }
    check_required(inst, &props, diags);
    (props, spans)
}

fn check_required(inst: &Instance, props: &Props, diags: &mut Diagnostics) {
    let Some(schema) = inst.schema else { return };
    for p in schema.props.iter().filter(|p| p.required) {
        if !props.contains_key(p.name) && inst.spec.props.as_ref().and_then(|n| n.get(p.name)).is_none() {
            diags.push(
                Diagnostic::error("missing-property", format!("{} `{}` needs property `{}` ({})", schema.kind, inst.address, p.name, p.doc), inst.spec.span)
                    .help(format!("add `{}:` under `props:`", p.name)),
            );
        }
    }
}

/// Checks a value against a property type, converting where the YAML reading was ambiguous
/// (an unquoted `1.29` is a string where a string is wanted). Unknowns pass: checked at apply.
/// Takes the value and returns it where it fits as it is, rather than copying it.
fn coerce(v: Value, ty: PropType, node: &Node, file: &SourceFile) -> Result<Value, String> {
    if expr::as_unknown(&v).is_some() {
        return Ok(v);
    }
    let found = |v: &Value| match v {
        Value::Null => "null".to_string(),
        Value::Bool(_) => "a boolean".to_string(),
        Value::Number(_) => "a number".to_string(),
        Value::String(s) => format!("the string \"{s}\""),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "a mapping".to_string(),
    };
    match (ty.base(), &v) {
        (PropType::String, Value::String(_)) => Ok(v),
        (PropType::String, Value::Number(_) | Value::Bool(_)) => {
            let text = if node.plain { file.text.get(node.span.start..node.span.end).map(str::to_string) } else { None };
            Ok(Value::String(text.unwrap_or_else(|| v.to_string())))
        }
        (PropType::Int, Value::Number(n)) if n.is_i64() => Ok(v),
        (PropType::Int, Value::String(s)) => s.parse::<i64>().map(Value::from).map_err(|_| found(&v)),
        (PropType::Bool, Value::Bool(_)) => Ok(v),
        (PropType::Bool, Value::String(s)) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
        (PropType::StringList, Value::Array(items)) => {
            if items.iter().all(|i| i.is_string() || expr::as_unknown(i).is_some()) {
                Ok(v)
            } else {
                Err("a list with non-string items".into())
            }
        }
        (PropType::StringMap, Value::Object(_)) => match v {
            Value::Object(m) => Ok(Value::Object(
                m.into_iter().map(|(k, x)| (k, if let Value::Number(_) | Value::Bool(_) = x { Value::String(x.to_string()) } else { x })).collect(),
            )),
            other => Err(found(&other)),
        },
        (PropType::Object, Value::Object(_) | Value::Array(_)) => Ok(v),
        (PropType::Policy, Value::Object(m)) => {
            if m.contains_key("Statement") {
                Ok(v)
            } else {
                Err("a mapping without `Statement`".into())
            }
        }
        (PropType::Policy, Value::String(s)) => serde_json::from_str::<Value>(s).map(expr::compact).map_err(|_| found(&v)),
        _ => Err(found(&v)),
    }
}
