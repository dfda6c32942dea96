//! Reads a policy back: the actions it allows, and what it must never contain (`audit`).

use std::collections::BTreeSet;

use serde_json::Value;

use super::{is_read, unscopable, BOUNDED_ROLE_ACTIONS};

/// Every action a generated policy allows, for diffs between two versions of a stack.
pub fn actions_of(policy: &Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| match &s["Action"] {
            Value::Array(a) => a.clone(),
            v => vec![v.clone()],
        })
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

pub(super) fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

/// Whether an ARN pattern covers every resource of its type in the account (`*`, `key/*`,
/// `arn:aws:ec2:r:a:*/*`), as opposed to naming resources.
pub fn account_wide(resource: &str) -> bool {
    if resource == "*" {
        return true;
    }
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    let Some(rest) = parts.get(5) else { return false };
    if matches!(parts[2], "s3" | "sqs" | "sns") {
        // No type segment: `bucket/*` names one bucket's objects, `topic:*` one topic's subscriptions.
        return rest.starts_with('*');
    }
    let name = rest.split_once(['/', ':']).map(|(_, n)| n).unwrap_or(rest);
    rest.starts_with('*') || name.starts_with('*')
}

/// What a generated policy must never contain, as messages (empty: none): an Allow that
/// reaches every resource of a type with an action that is not a read and not in
/// [`UNSCOPABLE`] and carries no condition; role creation without `iam:PermissionsBoundary`;
/// a resource pattern ending in `<stack>-<env>-*`, which another stack's names can match.
pub fn audit(policy: &Value, stack: &str, env: &str) -> Vec<String> {
    let mut out = vec![];
    let prefix = format!("{stack}-{env}-*");
    for s in policy["Statement"].as_array().into_iter().flatten().filter(|s| s["Effect"] == "Allow") {
        let sid = s["Sid"].as_str().unwrap_or("?");
        let actions = strings(&s["Action"]);
        let resources = strings(&s["Resource"]);
        let conditioned = s.get("Condition").is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty()));
        for r in &resources {
            if r.ends_with(&prefix) {
                out.push(format!("{sid}: {r} is a name prefix another stack can match"));
            }
        }
        if !conditioned && resources.iter().any(|r| account_wide(r)) {
            for a in actions.iter().filter(|a| !is_read(a) && !unscopable(a)) {
                out.push(format!("{sid}: {a} on every resource of its type without a condition"));
            }
        }
        if actions.iter().any(|a| BOUNDED_ROLE_ACTIONS.contains(&a.as_str())) && s.pointer("/Condition/StringEquals/iam:PermissionsBoundary").is_none() {
            out.push(format!("{sid}: role creation or policy changes without an iam:PermissionsBoundary condition"));
        }
    }
    out
}
