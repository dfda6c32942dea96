//! Evaluation of YAML trees under a scope: every string is a `${...}` template; values that depend on resources become unknown markers. Each bad reference is underlined exactly.

use serde_json::Value;

use crate::diag::{Diagnostic, Diagnostics};
use crate::expr::{self, Expr, Scope};
use crate::yaml::{Node, NodeKind};

/// Evaluates a node that must be fully known (count, for_each).
pub(super) fn eval_node(node: &Node, scope: &dyn Scope, diags: &mut Diagnostics) -> Option<Value> {
    let v = eval_tree(node, scope, diags)?;
    if expr::contains_unknown(&v) {
        diags.push(
            Diagnostic::error("unknown-at-plan", "this value must be known before any resource is created", node.span)
                .help("use vars, env or literals here, not resource attributes"),
        );
        return None;
    }
    Some(v)
}

/// Evaluates every string in a YAML tree; values that depend on resources become unknown markers.
pub(super) fn eval_tree(node: &Node, scope: &dyn Scope, diags: &mut Diagnostics) -> Option<Value> {
    Some(match &node.kind {
        // Plain text (no `${`) is itself, as the template would say after parsing it.
        NodeKind::Str(s) if !s.contains("${") => Value::String(s.clone()),
        NodeKind::Str(s) => {
            let template = match expr::parse_template(s) {
                Ok(t) => t,
                Err(e) => {
                    let span = node.span.narrow(e.offset, e.len, node.plain);
                    diags.push(Diagnostic::error(e.code, e.message, span));
                    return None;
                }
            };
            // Check each reference alone so a bad one is underlined exactly.
            let mut failed = false;
            for site in &template.refs {
                if let Err(msg) = scope.lookup(&site.path) {
                    let code = if msg.contains("has no attribute") { "unknown-attribute" } else { "unknown-reference" };
                    let (message, help) = split_hint(&msg);
                    let mut d = Diagnostic::error(code, message, node.span.narrow(site.offset, site.len, node.plain));
                    if let Some(h) = help {
                        d = d.help(h);
                    }
                    diags.push(d);
                    failed = true;
                }
            }
            if failed {
                return None;
            }
            match expr::partial_eval(&template.expr, scope) {
                // A var's mapping comes out of the scope as a clone, with the original's spare room.
                Ok(Expr::Lit(v)) => expr::compact(v),
                Ok(residual) => expr::unknown(&residual),
                Err(msg) => {
                    diags.push(Diagnostic::error("expression", msg, node.span));
                    return None;
                }
            }
        }
        NodeKind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for i in items {
                match eval_tree(i, scope, diags) {
                    Some(v) => out.push(v),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            Value::Array(out)
        }
        NodeKind::Map(entries) => {
            // Sized up front: a mapping grown key by key keeps room it never uses, in every copy.
            let mut out = serde_json::Map::with_capacity(entries.len());
            let mut ok = true;
            for (k, v) in entries {
                match eval_tree(v, scope, diags) {
                    Some(v) => {
                        out.insert(k.key_text(), v);
                    }
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            Value::Object(out)
        }
        _ => node.to_json(),
    })
}

/// Splits "message; did you mean `x`?" into message and help.
fn split_hint(msg: &str) -> (String, Option<String>) {
    match msg.split_once("; ") {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (msg.to_string(), None),
    }
}
