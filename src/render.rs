//! Renders plans, drift and apply results as text for people (Terraform's layout) or Markdown for CI summaries.

use std::fmt::Write as _;

use cairn_engine::expr;
use cairn_engine::plan::{Action, Change, Plan, PlanMode, PlannedAction, ReplaceOrder};
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
    let width = changes.iter().map(|c| c.path.len()).max().unwrap_or(0);
    for c in changes {
        let (sym, text) = match (&c.before, &c.after) {
            (None, Some(after)) => ("+", value_text(after, width + 11)),
            (Some(before), None) => ("-", format!("{} -> null", value_text(before, width + 11))),
            (Some(before), Some(after)) => ("~", format!("{} -> {}", value_text(before, width + 11), value_text(after, width + 11))),
            (None, None) => continue,
        };
        let sym = if action == Action::Create { "+" } else { sym };
        let painted = match sym {
            "+" => style.green(sym),
            "-" => style.red(sym),
            _ => style.yellow(sym),
        };
        let force = if c.forces_replacement { style.red(" # forces replacement") } else { String::new() };
        let _ = writeln!(out, "      {painted} {:<width$} = {text}{force}", c.path);
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
    for c in a.changes.iter().filter(|c| matches!(c.path.as_str(), "inline_policies" | "policy" | "assume_role_policy" | "managed_policy_arns")) {
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

/// The plan as Terraform users expect to read it.
pub fn plan_text(plan: &Plan, style: &Style) -> String {
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
    for a in &changing {
        let _ = writeln!(out, "  # {}", style.bold(&headline(a)));
        for r in &a.reasons {
            let _ = writeln!(out, "  # ({r})");
        }
        let sym = symbol(a);
        let _ = writeln!(out, "{:>3} {} \"{}\" {{", paint(style, a.action, sym), a.kind, a.address);
        if let Some(id) = &a.id {
            let _ = writeln!(out, "        {} = {}", style.dim("id"), style.dim(&format!("{id:?}")));
        }
        change_lines(&mut out, style, &a.changes, a.action);
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

/// The plan for a GitHub job summary or pull-request comment.
pub fn plan_markdown(plan: &Plan) -> String {
    let s = plan.summary;
    let mut out = format!("### cairn plan: `{}` / `{}`\n\n", plan.stack, plan.env);
    if !plan.has_changes() {
        out.push_str("**No changes.** Infrastructure matches the stack.\n");
    } else {
        let _ = writeln!(out, "**Plan:** {} to add, {} to change, {} to destroy.\n", s.add, s.change, s.destroy);
        out.push_str("| action | address | type | why |\n|---|---|---|---|\n");
        for a in plan.actions.iter().filter(|a| a.action != Action::NoOp) {
            let _ = writeln!(out, "| {} | `{}` | {} | {} |", symbol(a), a.address, a.kind, a.reasons.join("; "));
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
    out.push_str(&plan_text(plan, &Style::plain()));
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

    #[test]
    fn unknowns_read_as_known_after_apply() {
        let marker = expr::unknown(&expr::Expr::Ref(vec![expr::Seg::Name("a".into()), expr::Seg::Name("arn".into())]));
        assert_eq!(value_text(&marker, 0), "(known after apply)");
        let nested = json!({"dead_letter_queue": marker, "max_receive_count": 5});
        assert!(value_text(&nested, 0).contains("\"(known after apply)\""));
    }
}
