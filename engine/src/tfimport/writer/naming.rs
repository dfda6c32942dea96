//! Cairn names for Terraform resources: group names from module paths and resource names, instance addresses, shapes from index keys.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{BlockKey, Group, Member, Shape};
use crate::tfimport::{tfstate, IndexKey, TfInstance};

/// A cairn name for every group: module path and resource name joined, disambiguated by kind.
pub(super) fn group_names(order: &[BlockKey], groups: &BTreeMap<BlockKey, Vec<Member>>) -> BTreeMap<BlockKey, String> {
    let base = |k: &BlockKey| {
        let mut parts = module_parts(&k.0);
        parts.push(k.2.clone());
        sanitize(&parts.join("_"))
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for k in order {
        *counts.entry(base(k)).or_default() += 1;
    }
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut out = BTreeMap::new();
    for k in order {
        let b = base(k);
        let mut name = if counts[&b] > 1 {
            let kind = groups[k].first().map(|(m, _)| m.kind.rsplit('.').next().unwrap_or_default().to_string()).unwrap_or_default();
            sanitize(&format!("{b}_{kind}"))
        } else {
            b
        };
        if taken.contains(&name) {
            let stem = format!("{name}_{}", k.1.trim_start_matches("aws_"));
            name = sanitize(&stem);
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{stem}_{n}");
                n += 1;
            }
        }
        taken.insert(name.clone());
        out.insert(k.clone(), name);
    }
    out
}

/// `module.app["x"].module.db` → `["app", "x", "db"]`.
pub(super) fn module_parts(module: &str) -> Vec<String> {
    let mut parts = vec![];
    let mut rest = module;
    while let Some(r) = rest.strip_prefix("module.") {
        let end = r.find(['.', '[']).unwrap_or(r.len());
        parts.push(r[..end].to_string());
        rest = &r[end..];
        if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').unwrap_or(r.len());
            parts.push(r[..close].trim_matches('"').to_string());
            rest = r.get(close + 1..).unwrap_or("");
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if !rest.starts_with("module.") {
            break;
        }
    }
    parts
}

/// A valid cairn name: letters, digits, `_` and `-`, not starting with a digit or `-`.
pub fn sanitize(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

pub(super) fn initial_shape(g: &Group) -> Shape {
    let keys: Vec<Option<&IndexKey>> = g.members.iter().map(|(_, t)| t.and_then(|t| t.index.as_ref())).collect();
    if keys.iter().all(Option::is_none) {
        return if g.members.len() == 1 { Shape::Single } else { Shape::Separate };
    }
    if keys.iter().enumerate().all(|(i, k)| *k == Some(&IndexKey::Int(i as i64))) {
        return Shape::Count(keys.len());
    }
    if keys.iter().all(|k| matches!(k, Some(IndexKey::Str(_)))) {
        return Shape::ForEach;
    }
    Shape::Separate
}

pub(super) fn instance_address(g: &Group, i: usize, tf: Option<&TfInstance>) -> String {
    match tf.and_then(|t| t.index.as_ref()) {
        Some(IndexKey::Int(n)) => format!("{}[{n}]", g.name),
        Some(IndexKey::Str(k)) => format!("{}[{}]", g.name, Value::String(k.clone())),
        None if g.members.len() > 1 => format!("{}#{i}", g.name),
        None => g.name.clone(),
    }
}

pub(super) fn separate_name(g: &Group, i: usize) -> String {
    match g.members[i].1.and_then(|t| t.index.as_ref()) {
        Some(IndexKey::Int(n)) => format!("{}_{n}", g.name),
        Some(IndexKey::Str(k)) => sanitize(&format!("{}_{k}", g.name)),
        None if g.members.len() > 1 => format!("{}_{}", g.name, i + 1),
        None => g.name.clone(),
    }
}

pub(super) fn tf_comment(g: &Group) -> String {
    let (m, t) = g.members[0];
    let mut parts = vec![];
    for s in &m.sources {
        // For count/for_each groups name the block, not one instance.
        let s = match t.filter(|_| g.members.len() > 1) {
            Some(t) if s == &t.address => s.strip_suffix(&tfstate::index_suffix(&t.index)).unwrap_or(s).to_string(),
            _ => s.clone(),
        };
        parts.push(s);
    }
    if g.members.len() > 1 {
        parts[0] = format!("{} ({} instances)", parts[0], g.members.len());
    }
    parts.join(" + ")
}
