//! Renders plans, drift and apply results as text for people (Terraform's layout) or Markdown for CI summaries.

use std::fmt::Write as _;

use cairn_engine::expr;
use cairn_engine::plan::{Action, Change, Plan, PlanMode, PlannedAction, ReplaceOrder};
use cairn_engine::structdiff::{self, Key, Node, Op, Shape};
use serde_json::Value;

use crate::style::Style;

/// A value as it reads in a plan: JSON for data, `(known after apply)` for unknowns.
pub fn value_text(v: &Value, indent: usize) -> String {
    if expr::as_unknown(v).is_some() {
        return "(known after apply)".into();
    }
    let partly = expr::contains_unknown(v);
    let masked;
    let v = if partly {
        masked = mask_unknowns(v);
        &masked
    } else {
        v
    };
    let compact = v.to_string();
    if compact.len() <= 72 || !(v.is_object() || v.is_array()) {
        return compact;
    }
    let pretty = serde_json::to_string_pretty(v).unwrap_or(compact);
    let pad = " ".repeat(indent);
    pretty.lines().enumerate().map(|(i, l)| if i == 0 { l.to_string() } else { format!("{pad}{l}") }).collect::<Vec<_>>().join("\n")
}

fn mask_unknowns(v: &Value) -> Value {
    if expr::as_unknown(v).is_some() {
        return Value::String("(known after apply)".into());
    }
    match v {
        Value::Array(a) => Value::Array(a.iter().map(mask_unknowns).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), mask_unknowns(x))).collect()),
        other => other.clone(),
    }
}

fn symbol(a: &PlannedAction) -> &'static str {
    match (a.action, a.replace_order) {
        (Action::Create, _) => "+",
        (Action::Update, _) => "~",
        (Action::Delete, _) => "-",
        (Action::Replace, Some(ReplaceOrder::CreateBeforeDelete)) => "+/-",
        (Action::Replace, _) => "-/+",
        (Action::NoOp, _) => " ",
    }
}

fn headline(a: &PlannedAction) -> String {
    match (a.action, a.replace_order) {
        (Action::Create, _) => format!("{} will be created", a.address),
        (Action::Update, _) => format!("{} will be updated in-place", a.address),
        (Action::Delete, _) => match cairn_engine::state::deposed_of(&a.address) {
            Some(base) => format!("{} (deposed object of {base}, {}) will be destroyed", a.address, a.id.as_deref().unwrap_or("?")),
            None => format!("{} will be destroyed", a.address),
        },
        (Action::Replace, Some(ReplaceOrder::CreateBeforeDelete)) => {
            format!(
                "{} must be replaced (new one created first; the old one is kept as {} until it is deleted)",
                a.address,
                cairn_engine::state::deposed_address(&a.address)
            )
        }
        (Action::Replace, _) => format!("{} must be replaced", a.address),
        (Action::NoOp, _) => format!("{} is up to date", a.address),
    }
}

fn paint(style: &Style, action: Action, s: &str) -> String {
    match action {
        Action::Create => style.green(s),
        Action::Update => style.yellow(s),
        Action::Delete => style.red(s),
        Action::Replace => style.yellow(s),
        Action::NoOp => s.to_string(),
    }
}

fn change_lines(out: &mut String, style: &Style, changes: &[Change], action: Action) {
    let nested: Vec<Option<Node>> = changes.iter().map(nested_change).collect();
    let width = changes.iter().zip(&nested).filter(|(_, n)| n.is_none()).map(|(c, _)| c.path.len()).max().unwrap_or(0);
    for (c, node) in changes.iter().zip(nested) {
        let force = if c.forces_replacement { style.red(" # forces replacement") } else { String::new() };
        // A secret value shows only that it is set or changed; even its keyed hash stays out of sight.
        if c.path == cairn_engine::sensitive::HMAC_PROP {
            let (sym, text) = if c.before.is_some() && action != Action::Create { ("~", "(sensitive, changed)") } else { ("+", "(sensitive)") };
            let _ = writeln!(out, "      {} {:<width$} = {text}", painted(style, sym), "value");
            continue;
        }
        if let Some(node) = node {
            node_lines(out, style, 6, &format!("{} = ", c.path), &node, &force);
            continue;
        }
        let (sym, text) = match (&c.before, &c.after) {
            (None, Some(after)) => ("+", value_text(after, width + 11)),
            (Some(before), None) => ("-", format!("{} -> null", value_text(before, width + 11))),
            (Some(before), Some(after)) => ("~", format!("{} -> {}", value_text(before, width + 11), value_text(after, width + 11))),
            (None, None) => continue,
        };
        let sym = if action == Action::Create { "+" } else { sym };
        let _ = writeln!(out, "      {} {:<width$} = {text}{force}", painted(style, sym), c.path);
    }
}

fn painted(style: &Style, sym: &str) -> String {
    match sym {
        "+" => style.green(sym),
        "-" => style.red(sym),
        _ => style.yellow(sym),
    }
}

/// The structural diff of a change to a nested value (object, list, policy), when there is one
/// to show: a value added or removed whole, or replaced by one of another shape, reads better as before and after.
fn nested_change(c: &Change) -> Option<Node> {
    let (before, after) = (c.before.as_ref()?, c.after.as_ref()?);
    if expr::as_unknown(after).is_some() {
        return None;
    }
    match structdiff::diff_values(before, after)? {
        node @ Node::Nested { .. } => Some(node),
        Node::Leaf { .. } => None,
    }
}

fn key_label(key: &Key) -> String {
    match key {
        Key::Field(k) if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => k.clone(),
        Key::Field(k) => format!("{k:?}"),
        Key::Index(_) => String::new(),
        Key::Statement(Some(sid)) => format!("statement {sid:?}"),
        Key::Statement(None) => "statement".into(),
    }
}

fn hidden(n: usize, what: &str) -> String {
    format!("# ({n} unchanged {what}{} hidden)", if n == 1 { "" } else { "s" })
}

/// One node of a structural diff at `indent`, Terraform style: `label` is `name = ` for a
/// field, empty for a list item, `statement "Sid" ` for a policy statement.
fn node_lines(out: &mut String, style: &Style, indent: usize, label: &str, node: &Node, suffix: &str) {
    let pad = " ".repeat(indent);
    let deep = indent + 2 + label.len();
    match node {
        Node::Leaf { op: Op::Add, after, .. } => {
            let _ = writeln!(out, "{pad}{} {label}{}{suffix}", painted(style, "+"), after.as_ref().map(|v| value_text(v, deep)).unwrap_or_default());
        }
        Node::Leaf { op: Op::Remove, before, .. } => {
            let gone = if label.is_empty() || label.starts_with("statement") { "" } else { " -> null" };
            let _ = writeln!(out, "{pad}{} {label}{}{gone}{suffix}", painted(style, "-"), before.as_ref().map(|v| value_text(v, deep)).unwrap_or_default());
        }
        Node::Leaf { op: Op::Change, before, after } => {
            let text = |v: &Option<Value>| v.as_ref().map(|v| value_text(v, deep)).unwrap_or_else(|| "null".into());
            let _ = writeln!(out, "{pad}{} {label}{} -> {}{suffix}", painted(style, "~"), text(before), text(after));
        }
        Node::Nested { shape, entries, unchanged } => {
            let (open, close, what) = match shape {
                Shape::List => ("[", "]", "element"),
                Shape::Policy => ("{", "}", "statement"),
                Shape::Object | Shape::Statement => ("{", "}", "attribute"),
            };
            let _ = writeln!(out, "{pad}{} {label}{open}{suffix}", painted(style, "~"));
            let labels: Vec<String> = entries.iter().map(|e| key_label(&e.key)).collect();
            let width = entries
                .iter()
                .zip(&labels)
                .filter(|(e, _)| matches!(e.key, Key::Field(_)) && matches!(e.node, Node::Leaf { .. }))
                .map(|(_, l)| l.len())
                .max()
                .unwrap_or(0);
            for (e, l) in entries.iter().zip(&labels) {
                let label = match (&e.key, &e.node) {
                    (Key::Field(_), Node::Leaf { .. }) => format!("{l:<width$} = "),
                    (Key::Field(_), Node::Nested { .. }) => format!("{l} = "),
                    (Key::Index(_), _) => String::new(),
                    (Key::Statement(_), _) => format!("{l} "),
                };
                node_lines(out, style, indent + 4, &label, &e.node, "");
            }
            if *unchanged > 0 {
                let _ = writeln!(out, "{pad}    {}", style.dim(&hidden(*unchanged, what)));
            }
            let _ = writeln!(out, "{pad}  {close}");
        }
    }
}

/// Every (effect, action, resource) a policy value grants: a document, or a map of name -> document.
fn grants_of(v: Option<&Value>) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let Some(v) = v else { return out };
    let docs: Vec<&Value> = if v.get("Statement").is_some() { vec![v] } else { v.as_object().map(|m| m.values().collect()).unwrap_or_default() };
    let list = |x: Option<&Value>| -> Vec<String> {
        match x {
            Some(Value::Array(a)) => a.iter().map(|i| value_text(i, 0).trim_matches('"').to_string()).collect(),
            Some(other) => vec![value_text(other, 0).trim_matches('"').to_string()],
            None => vec!["*".to_string()],
        }
    };
    for doc in docs {
        let stmts = match doc.get("Statement") {
            Some(Value::Array(a)) => a.clone(),
            Some(one) => vec![one.clone()],
            None => vec![],
        };
        for st in stmts {
            let effect = st.get("Effect").and_then(Value::as_str).unwrap_or("Allow");
            let who = st.get("Principal").map(|p| format!(" for {}", value_text(p, 0))).unwrap_or_default();
            for a in list(st.get("Action")) {
                for r in list(st.get("Resource")) {
                    out.insert(format!("{effect} {a} on {r}{who}"));
                }
            }
        }
    }
    out
}

/// Permission lines that an IAM change adds (+) or removes (-).
pub fn permission_changes(a: &PlannedAction) -> Vec<String> {
    if !a.kind.starts_with("aws.iam.") {
        return vec![];
    }
    let mut out = vec![];
    for c in a.shown_changes().iter().filter(|c| matches!(c.path.as_str(), "inline_policies" | "policy" | "assume_role_policy" | "managed_policy_arns")) {
        if c.path == "managed_policy_arns" {
            let (b, f) = (grants_list(c.before.as_ref()), grants_list(c.after.as_ref()));
            out.extend(f.difference(&b).map(|x| format!("+ attach {x}")));
            out.extend(b.difference(&f).map(|x| format!("- detach {x}")));
            continue;
        }
        let (before, after) = (grants_of(c.before.as_ref()), grants_of(c.after.as_ref()));
        let label = if c.path == "assume_role_policy" { "trust: " } else { "" };
        out.extend(after.difference(&before).map(|x| format!("+ {label}{x}")));
        out.extend(before.difference(&after).map(|x| format!("- {label}{x}")));
    }
    out
}

fn grants_list(v: Option<&Value>) -> std::collections::BTreeSet<String> {
    v.and_then(Value::as_array).map(|a| a.iter().map(|x| value_text(x, 0).trim_matches('"').to_string()).collect()).unwrap_or_default()
}

/// Past this many changing resources, a text plan groups resources whose changes are identical
/// (`12 × ~ aws.sqs.queue: update tags["Team"] = "core"`), as `--compact` does for any plan.
pub const COMPACT_AFTER: usize = 50;

/// How many addresses a grouped line names before it says how many more there are.
const GROUP_NAMES: usize = 5;

/// What a resource's change does, the same text for the same change on any resource of its kind.
fn change_summary(a: &PlannedAction) -> String {
    let what = match a.action {
        Action::Create => return "create".into(),
        Action::Delete => return "destroy".into(),
        Action::NoOp => return "no change".into(),
        Action::Update => "update",
        Action::Replace => "replace",
    };
    let mut parts = vec![];
    for c in a.shown_changes().iter() {
        let node = nested_change(c).unwrap_or_else(|| Node::Leaf {
            op: if c.after.is_some() { Op::Change } else { Op::Remove },
            before: None,
            after: c.after.clone(),
        });
        for (path, leaf) in node.leaves(&c.path) {
            parts.push(match leaf {
                Node::Leaf { op: Op::Remove, .. } => format!("{path} removed"),
                Node::Leaf { after: Some(v), .. } => format!("{path} = {}", value_text(v, 0).lines().map(str::trim).collect::<String>()),
                _ => path,
            });
        }
    }
    format!("{what} {}", parts.join(", "))
}

/// Resources with the same kind, action and change, in the plan's order of their first member.
fn groups<'a>(changing: &[&'a PlannedAction]) -> Vec<(String, Vec<&'a PlannedAction>)> {
    let mut order: Vec<(String, Vec<&PlannedAction>)> = vec![];
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for a in changing {
        let key = format!("{} {} {}", symbol(a), a.kind, change_summary(a));
        match index.get(&key) {
            Some(&i) => order[i].1.push(*a),
            None => {
                index.insert(key.clone(), order.len());
                order.push((key, vec![*a]));
            }
        }
    }
    order
}

/// One group per resource unless `compact`.
fn groups_if<'a>(changing: &[&'a PlannedAction], compact: bool) -> Vec<(String, Vec<&'a PlannedAction>)> {
    if compact {
        groups(changing)
    } else {
        changing.iter().map(|a| (String::new(), vec![*a])).collect()
    }
}

/// The plan as Terraform users expect to read it; `compact` (or a plan past `COMPACT_AFTER`
/// changing resources) groups identical changes.
pub fn plan_text(plan: &Plan, style: &Style, compact: bool) -> String {
    let mut out = String::new();
    if !plan.drift.is_empty() {
        let _ = writeln!(out, "{}", style.bold("Objects have changed outside of cairn:"));
        out.push('\n');
        for d in &plan.drift {
            if d.deleted {
                let _ = writeln!(out, "  # {} has been deleted", style.bold(&d.address));
                let _ = writeln!(out, "  {} {} \"{}\" {{}}", style.red("-"), d.kind, d.address);
            } else {
                let _ = writeln!(out, "  # {} has changed", style.bold(&d.address));
                let _ = writeln!(out, "  {} {} \"{}\" {{", style.yellow("~"), d.kind, d.address);
                change_lines(&mut out, style, &d.changes, Action::Update);
                let _ = writeln!(out, "    }}");
            }
            out.push('\n');
        }
        let _ = writeln!(out, "The plan below brings these back to the stack's definition.\n");
    }
    for (from, to) in &plan.moved {
        let _ = writeln!(out, "  # {from} has moved to {to}\n");
    }
    let changing: Vec<&PlannedAction> = plan.actions.iter().filter(|a| a.action != Action::NoOp).collect();
    if changing.is_empty() && plan.moved.is_empty() {
        let _ = writeln!(out, "{}", style.green("No changes. Your infrastructure matches the stack."));
        let _ = writeln!(out, "\ncairn compared {} resource(s) in {}/{} with AWS and found nothing to do.", plan.actions.len(), plan.stack, plan.env);
        exceptions(&mut out, plan);
        return out;
    }
    let verb = if plan.mode == PlanMode::Destroy { "destroy" } else { "change" };
    let _ = writeln!(
        out,
        "cairn will {verb} the following in {}/{} ({}{}):",
        style.bold(&plan.stack),
        style.bold(&plan.env),
        plan.region,
        plan.account_id.as_ref().map(|a| format!(", account {a}")).unwrap_or_default()
    );
    let legend: Vec<&str> = [
        (plan.summary.add > 0 && changing.iter().any(|a| a.action == Action::Create), "  + create"),
        (changing.iter().any(|a| a.action == Action::Update), "  ~ update in-place"),
        (changing.iter().any(|a| a.action == Action::Delete), "  - destroy"),
        (changing.iter().any(|a| a.action == Action::Replace), "-/+ replace"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, s)| s)
    .collect();
    let _ = writeln!(out, "{}\n", legend.join("\n"));
    let compact = compact || changing.len() > COMPACT_AFTER;
    for (_, members) in &groups_if(&changing, compact) {
        let a = members[0];
        if members.len() > 1 {
            let names: Vec<&str> = members.iter().take(GROUP_NAMES).map(|m| m.address.as_str()).collect();
            let more = members.len().saturating_sub(GROUP_NAMES);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            let _ = writeln!(out, "  {} × {} {}: {}", members.len(), paint(style, a.action, symbol(a)), a.kind, change_summary(a));
            let _ = writeln!(out, "      {}{more}\n", names.join(", "));
            continue;
        }
        let _ = writeln!(out, "  # {}", style.bold(&headline(a)));
        for r in &a.reasons {
            let _ = writeln!(out, "  # ({r})");
        }
        let sym = symbol(a);
        let _ = writeln!(out, "{:>3} {} \"{}\" {{", paint(style, a.action, sym), a.kind, a.address);
        if let Some(id) = &a.id {
            let _ = writeln!(out, "        {} = {}", style.dim("id"), style.dim(&format!("{id:?}")));
        }
        change_lines(&mut out, style, &a.shown_changes(), a.action);
        let perms = permission_changes(a);
        if !perms.is_empty() {
            let _ = writeln!(out, "      # permission changes:");
            for p in perms {
                let line = format!("      #   {p}");
                let _ = writeln!(out, "{}", if p.starts_with('+') { style.green(&line) } else { style.red(&line) });
            }
        }
        let _ = writeln!(out, "    }}\n");
    }
    let s = plan.summary;
    let _ = writeln!(out, "{} {} to add, {} to change, {} to destroy.", style.bold("Plan:"), s.add, s.change, s.destroy);
    let unknown_outputs = plan.outputs.iter().filter(|(_, v)| expr::contains_unknown(v)).count();
    if !plan.outputs.is_empty() {
        let _ = writeln!(out, "\nOutputs: {} ({} known after apply)", plan.outputs.keys().cloned().collect::<Vec<_>>().join(", "), unknown_outputs);
    }
    exceptions(&mut out, plan);
    out
}

fn exceptions(out: &mut String, plan: &Plan) {
    if plan.exceptions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nPolicy exceptions in force:");
    for e in &plan.exceptions {
        let _ = writeln!(out, "  - {} on {}: {}", e.rule, e.address, e.reason);
    }
}

/// The plan for a GitHub job summary or pull-request comment; `compact` as for `plan_text`.
pub fn plan_markdown(plan: &Plan, compact: bool) -> String {
    let s = plan.summary;
    let changing: Vec<&PlannedAction> = plan.actions.iter().filter(|a| a.action != Action::NoOp).collect();
    let compact = compact || changing.len() > COMPACT_AFTER;
    let mut out = format!("### cairn plan: `{}` / `{}`\n\n", plan.stack, plan.env);
    if !plan.has_changes() {
        out.push_str("**No changes.** Infrastructure matches the stack.\n");
    } else {
        let _ = writeln!(out, "**Plan:** {} to add, {} to change, {} to destroy.\n", s.add, s.change, s.destroy);
        out.push_str("| action | address | type | why |\n|---|---|---|---|\n");
        for (_, members) in groups_if(&changing, compact) {
            let a = members[0];
            if members.len() > 1 {
                let _ = writeln!(out, "| {} | {} × `{}`, ... | {} | {} |", symbol(a), members.len(), a.address, a.kind, change_summary(a).replace('|', "\\|"));
            } else {
                let _ = writeln!(out, "| {} | `{}` | {} | {} |", symbol(a), a.address, a.kind, a.reasons.join("; "));
            }
        }
    }
    let perms: Vec<(String, String)> =
        plan.actions.iter().flat_map(|a| permission_changes(a).into_iter().map(|p| (a.address.clone(), p)).collect::<Vec<_>>()).collect();
    if !perms.is_empty() {
        out.push_str("\n**Permission changes:**\n\n");
        for (addr, p) in perms {
            let _ = writeln!(out, "- `{addr}`: `{p}`");
        }
    }
    if !plan.drift.is_empty() {
        let _ = writeln!(
            out,
            "\n**Drift:** {} resource(s) changed outside cairn: {}",
            plan.drift.len(),
            plan.drift.iter().map(|d| format!("`{}`", d.address)).collect::<Vec<_>>().join(", ")
        );
    }
    out.push_str("\n<details><summary>Full plan</summary>\n\n```diff\n");
    out.push_str(&plan_text(plan, &Style::plain(), compact));
    out.push_str("```\n\n</details>\n");
    if !plan.exceptions.is_empty() {
        out.push_str("\n**Policy exceptions in force:**\n\n");
        for e in &plan.exceptions {
            let _ = writeln!(out, "- `{}` on `{}`: {}", e.rule, e.address, e.reason);
        }
    }
    out
}

/// Terraform-style progress words.
/// Every changed leaf of every action, as data: `{address, action, changes: [{path, op, before, after}]}`,
/// the structural diff the text plan draws (`lifecycle_rules[0].transitions[0].days`), one entry per
/// action so a reader can stream it. `plan --json` prints it beside the plan itself.
pub fn change_paths(plan: &Plan) -> Value {
    let actions: Vec<Value> = plan
        .actions
        .iter()
        .filter_map(|a| {
            let changes = a.shown_changes();
            (!changes.is_empty()).then_some((a, changes))
        })
        .map(|(a, changes)| {
            let leaves: Vec<Value> = changes
                .iter()
                .flat_map(|c| {
                    let tree = structdiff::diff(c.before.as_ref(), c.after.as_ref());
                    tree.map(|n| {
                        n.leaves(&c.path)
                            .into_iter()
                            .map(|(path, leaf)| match leaf {
                                Node::Leaf { op, before, after } => serde_json::json!({ "path": path, "op": op, "before": before, "after": after }),
                                Node::Nested { .. } => serde_json::json!({ "path": path, "op": leaf.op() }),
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
                })
                .collect();
            serde_json::json!({ "address": a.address, "action": a.action, "changes": leaves })
        })
        .collect();
    Value::Array(actions)
}

pub fn progress_words(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Create => ("Creating...", "Creation complete"),
        Action::Update => ("Modifying...", "Modifications complete"),
        Action::Delete => ("Destroying...", "Destruction complete"),
        Action::Replace => ("Replacing...", "Replacement complete"),
        Action::NoOp => ("", ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iam_changes_are_listed_as_permissions() {
        let doc = |actions: Value| json!({ "p": { "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": actions, "Resource": "arn:aws:sqs:r:1:q" }] } });
        let a = PlannedAction {
            address: "role".into(),
            kind: "aws.iam.role".into(),
            action: Action::Update,
            reasons: vec![],
            id: Some("r".into()),
            desired: None,
            changes: vec![Change {
                path: "inline_policies".into(),
                before: Some(doc(json!(["sqs:ReceiveMessage"]))),
                after: Some(doc(json!(["sqs:ReceiveMessage", "sqs:SendMessage"]))),
                forces_replacement: false,
            }],
            deps: vec![],
            replace_order: None,
            replaced_kind: None,
        };
        assert_eq!(permission_changes(&a), vec!["+ Allow sqs:SendMessage on arn:aws:sqs:r:1:q".to_string()]);
    }

    fn update(address: &str, kind: &str, changes: Vec<Change>) -> PlannedAction {
        PlannedAction {
            address: address.into(),
            kind: kind.into(),
            action: Action::Update,
            reasons: vec![],
            id: Some(format!("{address}-id")),
            desired: None,
            changes,
            deps: vec![],
            replace_order: None,
            replaced_kind: None,
        }
    }

    fn change(path: &str, before: Value, after: Value) -> Change {
        Change { path: path.into(), before: Some(before), after: Some(after), forces_replacement: false }
    }

    fn plan_of(actions: Vec<PlannedAction>) -> Plan {
        let change = actions.iter().filter(|a| a.action == Action::Update).count();
        let add = actions.iter().filter(|a| a.action == Action::Create).count();
        Plan {
            format_version: cairn_engine::plan::PLAN_FORMAT,
            stack: "shop".into(),
            env: "prod".into(),
            region: "eu-west-1".into(),
            account_id: Some("123456789012".into()),
            mode: PlanMode::Apply,
            lineage: "l".into(),
            serial: 1,
            actions,
            drift: vec![],
            moved: vec![],
            outputs: Default::default(),
            exceptions: vec![],
            summary: cairn_engine::plan::Summary { add, change, destroy: 0 },
            backend: None,
        }
    }

    fn bucket_rules(days: u32) -> Value {
        json!([
            {"id": "archive", "enabled": true, "prefix": "logs/", "transitions": [{"days": days, "storage_class": "GLACIER"}, {"days": 365, "storage_class": "DEEP_ARCHIVE"}], "expiration_days": 730},
            {"id": "tmp", "enabled": true, "prefix": "tmp/", "transitions": [], "expiration_days": 7}
        ])
    }

    fn role_policy(actions: Value) -> Value {
        json!({"orders": {"Version": "2012-10-17", "Statement": [
            {"Sid": "ReadQueue", "Effect": "Allow", "Action": actions, "Resource": "arn:aws:sqs:eu-west-1:123456789012:orders"},
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "arn:aws:kms:eu-west-1:123456789012:key/k"}
        ]}})
    }

    /// The five changes the structural diff is for, each as one resource's update.
    fn cases() -> Vec<(&'static str, PlannedAction)> {
        let ingress = |extra: bool| {
            let mut rules = vec![
                json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/16"], "description": "https"}),
                json!({"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["10.0.0.0/16"], "description": "http"}),
            ];
            if extra {
                rules.push(json!({"protocol": "tcp", "from_port": 5432, "to_port": 5432, "source_security_group_id": "sg-0abc", "description": "db"}));
            }
            Value::Array(rules)
        };
        let encryption = |key: bool| {
            let mut e = json!({"algorithm": "aws:kms", "bucket_key": true});
            if key {
                e["kms_key_id"] = json!("arn:aws:kms:eu-west-1:123456789012:key/k");
            }
            e
        };
        vec![
            ("lifecycle_transition", update("logs", "aws.s3.bucket", vec![change("lifecycle_rules", bucket_rules(90), bucket_rules(120))])),
            (
                "policy_action_added",
                update(
                    "worker",
                    "aws.iam.role",
                    vec![change("inline_policies", role_policy(json!("sqs:ReceiveMessage")), role_policy(json!(["sqs:ReceiveMessage", "sqs:DeleteMessage"])))],
                ),
            ),
            ("tag_changed", update("orders", "aws.sqs.queue", vec![change("tags[\"Team\"]", json!("payments"), json!("checkout"))])),
            ("list_item_added", update("web", "aws.ec2.security_group", vec![change("ingress", ingress(false), ingress(true))])),
            ("nested_key_removed", update("data", "aws.s3.bucket", vec![change("encryption", encryption(true), encryption(false))])),
        ]
    }

    #[test]
    fn json_plans_carry_the_path_of_every_changed_leaf() {
        let actions: Vec<PlannedAction> = cases().into_iter().map(|(_, a)| a).collect();
        insta::with_settings!({sort_maps => true}, {
            insta::assert_json_snapshot!("change_paths_json", change_paths(&plan_of(actions)));
        });
    }

    #[test]
    fn nested_changes_render_as_structural_diffs() {
        for (name, action) in cases() {
            let plan = plan_of(vec![action]);
            insta::assert_snapshot!(format!("{name}_text"), plan_text(&plan, &Style::plain(), false));
            insta::assert_snapshot!(format!("{name}_markdown"), plan_markdown(&plan, false));
            // The JSON plan keeps its shape (whole before and after); the structural diff's paths are what a reader of it can compute.
            let a = &plan.actions[0];
            let paths: Vec<String> = a
                .shown_changes()
                .iter()
                .flat_map(|c| structdiff::diff(c.before.as_ref(), c.after.as_ref()).map(|n| n.paths(&c.path)).unwrap_or_default())
                .map(|(p, op)| format!("{op:?} {p}"))
                .collect();
            insta::with_settings!({sort_maps => true}, {
                insta::assert_json_snapshot!(format!("{name}_json"), json!({"action": a, "paths": paths}));
            });
        }
    }

    #[test]
    fn lifecycle_transition_is_one_line_not_two_documents() {
        let plan = plan_of(vec![cases().remove(0).1]);
        let text = plan_text(&plan, &Style::plain(), false);
        assert!(text.contains("~ days = 90 -> 120"), "{text}");
        assert_eq!(text.matches("->").count(), 1, "only the changed leaf shows before and after: {text}");
        assert!(!text.contains("DEEP_ARCHIVE"), "unchanged siblings are hidden: {text}");
    }

    #[test]
    fn large_plans_group_identical_changes() {
        let queue = |i: usize, team: &str| update(&format!("q{i:02}"), "aws.sqs.queue", vec![change("tags[\"Team\"]", json!("payments"), json!(team))]);
        let mut actions: Vec<PlannedAction> = (0..12).map(|i| queue(i, "checkout")).collect();
        actions.push(queue(12, "search"));
        let plan = plan_of(actions.clone());
        let full = plan_text(&plan, &Style::plain(), false);
        assert!(!full.contains(" × "), "a small plan is shown in full unless asked");
        let compact = plan_text(&plan, &Style::plain(), true);
        insta::assert_snapshot!(compact);
        insta::assert_snapshot!("large_plans_group_identical_changes_markdown", plan_markdown(&plan, true));
        // Past the size, grouping needs no flag.
        let big: Vec<PlannedAction> = (0..=COMPACT_AFTER).map(|i| queue(i, "checkout")).collect();
        let text = plan_text(&plan_of(big), &Style::plain(), false);
        assert!(text.contains(&format!("{} × ~ aws.sqs.queue: update tags[\"Team\"] = \"checkout\"", COMPACT_AFTER + 1)), "{text}");
    }

    #[test]
    fn unknowns_read_as_known_after_apply() {
        let marker = expr::unknown(&expr::Expr::Ref(vec![expr::Seg::Name("a".into()), expr::Seg::Name("arn".into())]));
        assert_eq!(value_text(&marker, 0), "(known after apply)");
        let nested = json!({"dead_letter_queue": marker, "max_receive_count": 5});
        assert!(value_text(&nested, 0).contains("\"(known after apply)\""));
    }
}
