//! References: values equal to another imported resource's attribute become `${address.attr}`, without closing a cycle.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::naming::instance_address;
use super::Group;

/// Values another resource may reference → (instance address, attribute); ARNs preferred over ids over the rest.
pub(super) fn reference_targets(groups: &[Group]) -> BTreeMap<String, (String, String)> {
    let rank = |a: &str| match a {
        "arn" => 0,
        "id" => 1,
        "url" => 2,
        _ => 3,
    };
    let mut best: BTreeMap<String, (usize, String, String)> = BTreeMap::new();
    for g in groups {
        for (i, (m, tf)) in g.members.iter().enumerate() {
            let address = instance_address(g, i, *tf);
            for (attr, value) in &m.attrs {
                // Short values (a role called `app`) would match unrelated text.
                if value.len() < 8
                    || !matches!(attr.as_str(), "arn" | "id" | "url" | "key_id" | "unique_id" | "alias_arn" | "oidc_issuer_url" | "oidc_provider_arn")
                        && !value.contains(':')
                {
                    continue;
                }
                let r = rank(attr);
                if best.get(value).is_none_or(|(br, _, _)| r < *br) {
                    best.insert(value.clone(), (r, address.clone(), attr.clone()));
                }
            }
        }
    }
    best.into_iter().map(|(v, (_, a, attr))| (v, (a, attr))).collect()
}

/// Props that name a resource itself are never turned into references.
const OWN_NAMES: &[&str] = &["name", "bucket", "description", "display_name", "alias", "path", "identifier"];

pub(super) fn substitute(
    props: &mut Map<String, Value>,
    me: &str,
    targets: &BTreeMap<String, (String, String)>,
    deps: &mut BTreeMap<String, BTreeSet<String>>,
) {
    for (k, v) in props.iter_mut() {
        if OWN_NAMES.contains(&k.as_str()) {
            continue;
        }
        substitute_value(v, me, targets, deps);
    }
}

pub(super) fn substitute_value(v: &mut Value, me: &str, targets: &BTreeMap<String, (String, String)>, deps: &mut BTreeMap<String, BTreeSet<String>>) {
    match v {
        Value::String(s) => {
            if let Some(r) = reference_for(s, me, targets, deps) {
                *s = r;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| substitute_value(x, me, targets, deps)),
        Value::Object(o) => o.values_mut().for_each(|x| substitute_value(x, me, targets, deps)),
        _ => {}
    }
}

/// `${address.attr}` for a value equal to (or an ARN followed by `/...` of) another resource, unless that closes a cycle.
pub(super) fn reference_for(s: &str, me: &str, targets: &BTreeMap<String, (String, String)>, deps: &mut BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    let (target, text) = if let Some((a, attr)) = targets.get(s) {
        (a.clone(), format!("${{{a}.{attr}}}"))
    } else {
        let (arn, rest) = s.split_once('/').filter(|(arn, _)| arn.starts_with("arn:"))?;
        let (a, attr) = targets.get(arn).filter(|(_, attr)| attr == "arn")?;
        (a.clone(), format!("${{{a}.{attr}}}/{rest}"))
    };
    if target == me || reaches(deps, &target, me) {
        return None;
    }
    deps.entry(me.to_string()).or_default().insert(target);
    Some(text)
}

/// Whether `from` already depends, directly or not, on `to` (a reference back would be a cycle).
pub(super) fn reaches(deps: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
    let group = |a: &str| a.split(['[', '#']).next().unwrap_or(a).to_string();
    let (from, to) = (group(from), group(to));
    let mut seen = BTreeSet::new();
    let mut stack = vec![from];
    while let Some(a) = stack.pop() {
        if a == to {
            return true;
        }
        if !seen.insert(a.clone()) {
            continue;
        }
        for (k, ds) in deps.iter().filter(|(k, _)| group(k) == a) {
            let _ = k;
            stack.extend(ds.iter().map(|d| group(d)));
        }
    }
    false
}

pub(super) fn rename_refs(v: &mut Value, renames: &BTreeMap<String, String>) {
    match v {
        Value::String(s) if s.contains("${") => {
            for (from, to) in renames {
                let needle = format!("${{{from}.");
                if s.contains(&needle) {
                    *s = s.replace(&needle, &format!("${{{to}."));
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rename_refs(x, renames)),
        Value::Object(o) => o.values_mut().for_each(|x| rename_refs(x, renames)),
        _ => {}
    }
}
