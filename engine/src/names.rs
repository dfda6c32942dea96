//! Physical-name checks at validate: names over AWS's limits or with refused characters, FIFO suffix rules, and two resources that would get the same name.
//!
//! Uses each kind's `Naming` facts (declared on its name prop). The name checked is the
//! one the kind will use: the explicit prop, else the node's default name, with the FIFO
//! suffix added where the kind adds it. All resources of a stack live in one account and
//! region, so two resources of one kind with the same name collide whatever the scope;
//! the scope says how far beyond the stack the name must be unique, for the message.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::diag::{Diagnostic, Diagnostics};
use crate::expr;
use crate::graph::ResourceNode;
use crate::provider::{NameScope, Naming, SchemaSource};
use crate::source::Span;

/// The name a node's kind will create it under, and whether it was written explicitly.
/// `None` when the name is known only after apply.
pub fn physical_name(node: &ResourceNode, prop: &str, naming: &Naming) -> Option<(String, bool)> {
    let (mut name, explicit) = match node.props.get(prop) {
        Some(Value::String(s)) if expr::as_unknown(&Value::String(s.clone())).is_none() => (s.clone(), true),
        Some(Value::Null) | None => (node.default_name.clone(), false),
        Some(_) => return None,
    };
    if let Some(f) = naming.fifo {
        if f.appended && node.props.get(f.prop).and_then(Value::as_bool) == Some(true) && !name.ends_with(f.suffix) {
            name.push_str(f.suffix);
        }
    }
    Some((name, explicit))
}

/// Reports name problems of all nodes into `diags`.
pub fn check(nodes: &BTreeMap<String, ResourceNode>, schemas: &dyn SchemaSource, diags: &mut Diagnostics) {
    // (kind, name) -> first address and where it was set.
    let mut seen: BTreeMap<(String, String), (String, Span)> = BTreeMap::new();
    for node in nodes.values() {
        let Some(schema) = schemas.schema_of(&node.kind) else { continue };
        let Some((prop, naming)) = schema.naming() else { continue };
        let Some((name, explicit)) = physical_name(node, prop, &naming) else { continue };
        let span = if explicit { node.prop_spans.get(prop).copied().unwrap_or(node.span) } else { node.span };
        let origin = if explicit { format!("`{prop}`") } else { "the default name".to_string() };
        let fix = if explicit { "choose another name".to_string() } else { format!("set `{prop}:` to a shorter name, or rename the resource") };
        let mut err =
            |message: String, help: String| diags.push(Diagnostic::error("name", format!("`{}` ({}): {message}", node.address, schema.kind), span).help(help));

        let fifo = naming.fifo.map(|f| (f, node.props.get(f.prop).and_then(Value::as_bool) == Some(true)));
        let mut stem = name.as_str();
        if let Some((f, is_fifo)) = fifo {
            match (is_fifo, name.ends_with(f.suffix)) {
                (true, false) => err(format!("{origin} \"{name}\" must end in `{}` for a FIFO resource", f.suffix), format!("append `{}`", f.suffix)),
                (false, true) => err(
                    format!("{origin} \"{name}\" ends in `{}`, which only a FIFO resource may", f.suffix),
                    format!("set `{}: true` or drop the suffix", f.prop),
                ),
                _ => {}
            }
            stem = name.strip_suffix(f.suffix).unwrap_or(&name);
        }
        // The suffix counts toward the length but is exempt from the character rule.
        let mut rule = naming.rule;
        rule.max = rule.max.saturating_sub(name.len() - stem.len());
        if let Some(why) = rule.violation(stem) {
            let why = if stem.len() == name.len() { why } else { format!("{why} (before `{}`)", &name[stem.len()..]) };
            err(format!("{origin} \"{name}\" {why}"), fix.clone());
        }

        let key = (schema.kind.to_string(), name.clone());
        match seen.get(&key) {
            Some((first, first_span)) => {
                let scope = match naming.scope {
                    NameScope::Region => "in an account and region",
                    NameScope::Account => "in an account",
                    NameScope::Global => "across all of AWS",
                };
                err(
                    format!("{origin} \"{name}\" is also the name of `{first}` (line {}); names must be unique {scope}", first_span.line),
                    format!("set `{prop}:` on one of them"),
                );
            }
            None => {
                seen.insert(key, (node.address.clone(), span));
            }
        }
    }
}
