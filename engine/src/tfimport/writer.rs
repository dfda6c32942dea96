//! Turns mapped resources into the stack file a person would write: names, `for_each`/`count`, references, lifted tags, no defaults.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{IndexKey, Input, Mapped, TfInstance};
use crate::provider::{ResourceSchema, SchemaSource, Tags};

/// What the stack is called and where it runs.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub stack: String,
    pub env: String,
    pub region: String,
    /// Written as the environment's `account_id` (apply then refuses another account).
    pub account_id: Option<String>,
    /// Where the resources came from, for the file's header comment.
    pub source: String,
}

/// One cairn resource instance and the Terraform resources it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The cairn address as state records it (`subnet["a"]`).
    pub address: String,
    pub kind: String,
    pub id: String,
    pub tf: Vec<String>,
    pub notes: Vec<String>,
}

/// The written stack and its mapping table.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub yaml: String,
    pub rows: Vec<Row>,
    /// Tags lifted to the stack's `tags`.
    pub stack_tags: Tags,
}

/// How the instances of one Terraform resource (one `count`/`for_each` block) are written.
enum Shape {
    Single,
    Count(usize),
    ForEach,
    /// Instances that differ where cairn cannot express the difference: one resource each.
    Separate,
}

/// A Terraform resource block: (module path, type, name).
type BlockKey = (String, String, String);
/// A mapped resource and the Terraform instance that names it.
type Member<'a> = (&'a Mapped, Option<&'a TfInstance>);
/// One instance as written: address, props, tags.
type Body = (String, Map<String, Value>, Tags);

struct Group<'a> {
    name: String,
    members: Vec<Member<'a>>,
    shape: Shape,
}

/// Writes the stack. `schemas` gives each kind's property order and defaults.
pub fn write(input: &Input, mapped: &[Mapped], schemas: &dyn SchemaSource, opts: &WriteOptions) -> Written {
    let by_address: BTreeMap<&str, &TfInstance> = input.instances.iter().map(|i| (i.address.as_str(), i)).collect();

    // 1. Groups: the instances of one Terraform resource block, in the order they were mapped.
    let mut order: Vec<BlockKey> = vec![];
    let mut groups: BTreeMap<BlockKey, Vec<Member>> = BTreeMap::new();
    for m in mapped {
        let tf = m.sources.first().and_then(|a| by_address.get(a.as_str()).copied());
        let key = match tf {
            Some(t) => (t.module.clone(), t.ty.clone(), t.name.clone()),
            None => (String::new(), m.kind.clone(), m.sources.first().cloned().unwrap_or_default()),
        };
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push((m, tf));
    }
    let names = group_names(&order, &groups);

    // 2. Instance addresses (before shapes are known, references name instances as Terraform does).
    let mut groups: Vec<Group> = order
        .iter()
        .map(|k| {
            let mut members = groups.remove(k).unwrap_or_default();
            members.sort_by(|a, b| a.1.and_then(|t| t.index.clone()).cmp(&b.1.and_then(|t| t.index.clone())));
            Group { name: names[k].clone(), members, shape: Shape::Single }
        })
        .collect();
    for g in &mut groups {
        g.shape = initial_shape(g);
    }

    // 3. Tags every taggable resource shares (and provider default_tags) go to the stack.
    let taggable = |m: &Mapped| schemas.schema_of(&m.kind).is_some_and(|s| s.taggable);
    let all: Vec<&Mapped> = mapped.iter().filter(|m| taggable(m)).collect();
    let effective = |m: &Mapped| -> Tags {
        if m.tags_all.is_empty() {
            m.tags.clone()
        } else {
            m.tags_all.clone()
        }
    };
    let mut stack_tags: Tags = Tags::new();
    if let Some(first) = all.first() {
        for (k, v) in effective(first) {
            if k == "Env" || k.starts_with("aws:") || k.starts_with("cairn:") {
                continue;
            }
            let everywhere = all.iter().all(|m| effective(m).get(&k) == Some(&v));
            let default_tag = all.iter().all(|m| !m.tags.contains_key(&k) && m.tags_all.contains_key(&k));
            if everywhere && (all.len() > 1 || default_tag) {
                stack_tags.insert(k, v);
            }
        }
    }

    // 4. Props and tags per instance, with references, then shapes settled by what differs.
    let targets = reference_targets(&groups);
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut bodies: Vec<Vec<Body>> = vec![];
    for g in &groups {
        let mut body = vec![];
        for (i, (m, tf)) in g.members.iter().enumerate() {
            let address = instance_address(g, i, *tf);
            let schema = schemas.schema_of(&m.kind);
            let mut props = ordered_props(m, schema);
            substitute(&mut props, &address, &targets, &mut deps);
            let mut tags = effective(m);
            tags.retain(|k, v| !(stack_tags.get(k) == Some(v) || k.starts_with("aws:") || (k == "Env" && *v == opts.env)));
            if !taggable(m) {
                tags.clear();
            }
            body.push((address, props, tags));
        }
        bodies.push(body);
    }
    for (g, body) in groups.iter_mut().zip(&bodies) {
        if matches!(g.shape, Shape::ForEach | Shape::Count(_)) && !expressible(&g.shape, body) {
            g.shape = Shape::Separate;
        }
    }
    // Separate instances get names of their own; references to them are rewritten.
    let renames: BTreeMap<String, String> = groups
        .iter()
        .zip(&bodies)
        .filter(|(g, _)| matches!(g.shape, Shape::Separate))
        .flat_map(|(g, body)| body.iter().enumerate().map(move |(i, (address, _, _))| (address.clone(), separate_name(g, i))).collect::<Vec<_>>())
        .collect();

    // 5. Text.
    let mut y = String::new();
    y.push_str(&format!("# Imported from {} by `cairn import terraform`.\n", opts.source));
    y.push_str("# Each resource names the Terraform resources it replaces; review with `cairn plan` before applying.\n");
    y.push_str(&format!("stack: {}\nregion: {}\n\n", scalar(&Value::String(opts.stack.clone()), false), scalar(&Value::String(opts.region.clone()), false)));
    y.push_str("environments:\n");
    match &opts.account_id {
        Some(a) => y.push_str(&format!("  {}:\n    account_id: \"{a}\"\n", key(&opts.env))),
        None => y.push_str(&format!("  {}: {{}}\n", key(&opts.env))),
    }
    if !stack_tags.is_empty() {
        y.push_str("\ntags:\n");
        for (k, v) in &stack_tags {
            y.push_str(&format!("  {}: {}\n", key(k), scalar(&Value::String(v.clone()), false)));
        }
    }
    y.push_str("\nresources:\n");
    let mut rows = vec![];
    for (g, body) in groups.iter().zip(&bodies) {
        let rename = |v: &mut Value| rename_refs(v, &renames);
        match g.shape {
            Shape::Single | Shape::Count(_) | Shape::ForEach => {
                let (m0, _) = g.members[0];
                y.push('\n');
                y.push_str(&format!("  # {}\n", tf_comment(g)));
                y.push_str(&format!("  {}:\n    type: {}\n", g.name, m0.kind));
                let (props, tags) = shared_body(g, body, &mut y);
                let mut props = Value::Object(props);
                rename(&mut props);
                emit_tags(&mut y, &tags);
                emit_props(&mut y, &props, schemas.schema_of(&m0.kind));
                for ((m, _), (address, _, _)) in g.members.iter().zip(body) {
                    rows.push(Row { address: address.clone(), kind: m.kind.clone(), id: m.id.clone(), tf: m.sources.clone(), notes: m.notes.clone() });
                }
            }
            Shape::Separate => {
                for (i, ((m, _), (_, props, tags))) in g.members.iter().zip(body).enumerate() {
                    let name = separate_name(g, i);
                    let mut props = Value::Object(props.clone());
                    rename(&mut props);
                    y.push('\n');
                    y.push_str(&format!("  # {}\n", m.sources.join(" + ")));
                    y.push_str(&format!("  {name}:\n    type: {}\n", m.kind));
                    emit_tags(&mut y, tags);
                    emit_props(&mut y, &props, schemas.schema_of(&m.kind));
                    rows.push(Row { address: name, kind: m.kind.clone(), id: m.id.clone(), tf: m.sources.clone(), notes: m.notes.clone() });
                }
            }
        }
    }
    Written { yaml: y, rows, stack_tags }
}

/// A cairn name for every group: module path and resource name joined, disambiguated by kind.
fn group_names(order: &[BlockKey], groups: &BTreeMap<BlockKey, Vec<Member>>) -> BTreeMap<BlockKey, String> {
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
fn module_parts(module: &str) -> Vec<String> {
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

fn initial_shape(g: &Group) -> Shape {
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

fn instance_address(g: &Group, i: usize, tf: Option<&TfInstance>) -> String {
    match tf.and_then(|t| t.index.as_ref()) {
        Some(IndexKey::Int(n)) => format!("{}[{n}]", g.name),
        Some(IndexKey::Str(k)) => format!("{}[{}]", g.name, Value::String(k.clone())),
        None if g.members.len() > 1 => format!("{}#{i}", g.name),
        None => g.name.clone(),
    }
}

fn separate_name(g: &Group, i: usize) -> String {
    match g.members[i].1.and_then(|t| t.index.as_ref()) {
        Some(IndexKey::Int(n)) => format!("{}_{n}", g.name),
        Some(IndexKey::Str(k)) => sanitize(&format!("{}_{k}", g.name)),
        None if g.members.len() > 1 => format!("{}_{}", g.name, i + 1),
        None => g.name.clone(),
    }
}

fn tf_comment(g: &Group) -> String {
    let (m, t) = g.members[0];
    let mut parts = vec![];
    for s in &m.sources {
        // For count/for_each groups name the block, not one instance.
        let s = match t.filter(|_| g.members.len() > 1) {
            Some(t) if s == &t.address => s.strip_suffix(&super::tfstate::index_suffix(&t.index)).unwrap_or(s).to_string(),
            _ => s.clone(),
        };
        parts.push(s);
    }
    if g.members.len() > 1 {
        parts[0] = format!("{} ({} instances)", parts[0], g.members.len());
    }
    parts.join(" + ")
}

/// Props in schema order, without values equal to the schema default.
fn ordered_props(m: &Mapped, schema: Option<&ResourceSchema>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(schema) = schema else {
        return m.props.clone();
    };
    for p in schema.props {
        let Some(v) = m.props.get(p.name) else { continue };
        let default = p.default.and_then(|d| serde_json::from_str::<Value>(d).ok());
        if default.is_some_and(|d| crate::diff::same(p.ty, &d, Some(v))) {
            continue;
        }
        out.insert(p.name.to_string(), v.clone());
    }
    // Anything a mapper set that the schema does not know is kept, so the compiler names it.
    for (k, v) in &m.props {
        if schema.prop(k).is_none() {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Values another resource may reference → (instance address, attribute); ARNs preferred over ids over the rest.
fn reference_targets(groups: &[Group]) -> BTreeMap<String, (String, String)> {
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

fn substitute(props: &mut Map<String, Value>, me: &str, targets: &BTreeMap<String, (String, String)>, deps: &mut BTreeMap<String, BTreeSet<String>>) {
    for (k, v) in props.iter_mut() {
        if OWN_NAMES.contains(&k.as_str()) {
            continue;
        }
        substitute_value(v, me, targets, deps);
    }
}

fn substitute_value(v: &mut Value, me: &str, targets: &BTreeMap<String, (String, String)>, deps: &mut BTreeMap<String, BTreeSet<String>>) {
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
fn reference_for(s: &str, me: &str, targets: &BTreeMap<String, (String, String)>, deps: &mut BTreeMap<String, BTreeSet<String>>) -> Option<String> {
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
fn reaches(deps: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> bool {
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

/// Whether a count/for_each group can be written as one block.
fn expressible(shape: &Shape, body: &[Body]) -> bool {
    let (_, p0, t0) = &body[0];
    let differing: Vec<&String> =
        p0.keys().chain(body.iter().flat_map(|(_, p, _)| p.keys())).filter(|k| body.iter().any(|(_, p, _)| p.get(*k) != p0.get(*k))).collect();
    let tags_differ = body.iter().any(|(_, _, t)| t != t0);
    match shape {
        Shape::Count(_) => differing.is_empty() && !tags_differ,
        // Differing values go into the for_each map, which must be known without references.
        Shape::ForEach => {
            body.iter().all(|(_, p, _)| differing.iter().all(|k| p.contains_key(*k) && !p[*k].to_string().contains("${")))
                && body.iter().all(|(_, _, t)| t.keys().collect::<Vec<_>>() == t0.keys().collect::<Vec<_>>())
        }
        _ => true,
    }
}

/// Writes `count:`/`for_each:` and returns the props and tags of the block.
fn shared_body(g: &Group, body: &[Body], y: &mut String) -> (Map<String, Value>, Tags) {
    let (_, p0, t0) = &body[0];
    match g.shape {
        Shape::Count(n) => {
            y.push_str(&format!("    count: {n}\n"));
            (p0.clone(), t0.clone())
        }
        Shape::ForEach => {
            let differing: BTreeSet<String> = p0.keys().filter(|k| body.iter().any(|(_, p, _)| p.get(*k) != p0.get(*k))).cloned().collect();
            let differing_tags: BTreeSet<String> = t0.keys().filter(|k| body.iter().any(|(_, _, t)| t.get(*k) != t0.get(*k))).cloned().collect();
            let mut each = Map::new();
            for ((_, tf), (_, p, t)) in g.members.iter().zip(body) {
                let Some(IndexKey::Str(k)) = tf.and_then(|t| t.index.as_ref()) else { continue };
                let mut v = Map::new();
                for d in &differing {
                    v.insert(d.clone(), p[d].clone());
                }
                if !differing_tags.is_empty() {
                    v.insert("tags".into(), Value::Object(differing_tags.iter().map(|d| (d.clone(), Value::String(t[d].clone()))).collect()));
                }
                each.insert(k.clone(), Value::Object(v));
            }
            if differing.is_empty() && differing_tags.is_empty() {
                let keys: Vec<Value> = each.keys().map(|k| Value::String(k.clone())).collect();
                y.push_str(&format!("    for_each: {}\n", flow(&Value::Array(keys))));
            } else {
                y.push_str("    for_each:\n");
                emit_map(y, &each, 6);
            }
            let mut props = p0.clone();
            for d in &differing {
                props.insert(d.clone(), Value::String(format!("${{each.value.{d}}}")));
            }
            let mut tags = t0.clone();
            for d in &differing_tags {
                tags.insert(d.clone(), format!("${{each.value.tags.{}}}", d));
            }
            (props, tags)
        }
        _ => (p0.clone(), t0.clone()),
    }
}

fn rename_refs(v: &mut Value, renames: &BTreeMap<String, String>) {
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

fn emit_tags(y: &mut String, tags: &Tags) {
    if tags.is_empty() {
        return;
    }
    y.push_str("    tags:\n");
    for (k, v) in tags {
        y.push_str(&format!("      {}: {}\n", key(k), scalar(&Value::String(v.clone()), false)));
    }
}

fn emit_props(y: &mut String, props: &Value, schema: Option<&ResourceSchema>) {
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
fn sorted_keys(m: &Map<String, Value>) -> Vec<&String> {
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
fn emit_map(y: &mut String, m: &Map<String, Value>, indent: usize) {
    let pad = " ".repeat(indent);
    for k in sorted_keys(m) {
        y.push_str(&format!("{pad}{}:", key(k)));
        emit_after_key(y, &m[k], indent);
    }
}

fn emit_after_key(y: &mut String, v: &Value, indent: usize) {
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

fn emit_list(y: &mut String, a: &[Value], indent: usize) {
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
fn short_flow(v: &Value) -> Option<String> {
    let flat = match v {
        Value::Array(a) => a.iter().all(|x| !x.is_array() && !x.is_object()),
        Value::Object(o) => o.len() <= 4 && o.values().all(|x| !x.is_array() && !x.is_object()),
        _ => false,
    };
    let text = flow(v);
    (flat && text.len() <= 80).then_some(text)
}

fn flow(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!("{{ {} }}", sorted_keys(o).into_iter().map(|k| format!("{}: {}", key(k), flow(&o[k]))).collect::<Vec<_>>().join(", ")),
        other => scalar(other, true),
    }
}

fn key(k: &str) -> String {
    if needs_quotes(k, true) {
        Value::String(k.to_string()).to_string()
    } else {
        k.to_string()
    }
}

/// A scalar as YAML: strings plain where that reads back as the same string, else double-quoted.
fn scalar(v: &Value, in_flow: bool) -> String {
    match v {
        Value::String(s) if !needs_quotes(s, in_flow) => s.clone(),
        Value::Object(o) if o.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        // JSON's double-quoted string is valid YAML.
        other => other.to_string(),
    }
}

fn needs_quotes(s: &str, in_flow: bool) -> bool {
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

#[cfg(test)]
mod tests {
    use super::super::tests::input;
    use super::*;
    use crate::provider::{PropSpec, PropType};
    use serde_json::json;

    static NET: ResourceSchema = ResourceSchema {
        kind: "aws.ec2.vpc",
        doc: "",
        props: &[PropSpec::new("cidr_block", PropType::String, ""), PropSpec::new("enable_dns_support", PropType::Bool, "").default("true")],
        attrs: &["arn"],
        taggable: true,
        rules: &[],
    };
    static SUBNET: ResourceSchema = ResourceSchema {
        kind: "aws.ec2.subnet",
        doc: "",
        props: &[
            PropSpec::new("vpc_id", PropType::String, ""),
            PropSpec::new("cidr_block", PropType::String, ""),
            PropSpec::new("availability_zone", PropType::String, ""),
            PropSpec::new("map_public_ip_on_launch", PropType::Bool, "").default("false"),
        ],
        attrs: &["arn"],
        taggable: true,
        rules: &[],
    };
    static SUB: ResourceSchema = ResourceSchema {
        kind: "aws.sns.subscription",
        doc: "",
        props: &[PropSpec::new("topic", PropType::String, ""), PropSpec::new("endpoint", PropType::String, "")],
        attrs: &["arn"],
        taggable: false,
        rules: &[],
    };
    struct Schemas;
    impl SchemaSource for Schemas {
        fn schema_of(&self, kind: &str) -> Option<&'static ResourceSchema> {
            [&NET, &SUBNET, &SUB].into_iter().find(|s| s.kind == kind)
        }
        fn all_schemas(&self) -> Vec<&'static ResourceSchema> {
            vec![&NET, &SUBNET, &SUB]
        }
    }

    fn opts() -> WriteOptions {
        WriteOptions {
            stack: "legacy".into(),
            env: "prod".into(),
            region: "us-east-1".into(),
            account_id: Some("123456789012".into()),
            source: "terraform.tfstate".into(),
        }
    }

    fn mapped(input: &Input, kind: &str, id: &str, i: usize, props: Value) -> Mapped {
        let mut m = Mapped::new(&input.instances[i], kind, id);
        m.props = props.as_object().cloned().unwrap();
        m.attr("arn", Some(&format!("arn:aws:ec2:us-east-1:123456789012:thing/{id}")));
        m
    }

    #[test]
    fn modules_for_each_references_tags_and_defaults() {
        let tags = |name: &str| json!({"Name": name, "Project": "shop", "Team": "net"});
        let tags_all = |name: &str| json!({"Name": name, "Project": "shop", "Team": "net", "ManagedBy": "terraform"});
        let input = input(json!([
            {"module": "module.network", "type": "aws_vpc", "name": "this", "attributes": {"tags": tags("main"), "tags_all": tags_all("main")}},
            {"module": "module.network", "type": "aws_subnet", "name": "private", "index": "a", "attributes": {"tags": tags("private-a"), "tags_all": tags_all("private-a")}},
            {"module": "module.network", "type": "aws_subnet", "name": "private", "index": "b", "attributes": {"tags": tags("private-b"), "tags_all": tags_all("private-b")}},
            {"type": "aws_sns_topic_subscription", "name": "s", "attributes": {}}
        ]));
        let ms = vec![
            mapped(&input, "aws.ec2.vpc", "vpc-0123456789", 0, json!({"cidr_block": "10.0.0.0/16", "enable_dns_support": true})),
            mapped(
                &input,
                "aws.ec2.subnet",
                "subnet-aaaaaaaa",
                1,
                json!({"vpc_id": "vpc-0123456789", "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a", "map_public_ip_on_launch": false}),
            ),
            mapped(
                &input,
                "aws.ec2.subnet",
                "subnet-bbbbbbbb",
                2,
                json!({"vpc_id": "vpc-0123456789", "cidr_block": "10.0.2.0/24", "availability_zone": "us-east-1b", "map_public_ip_on_launch": false}),
            ),
            mapped(
                &input,
                "aws.sns.subscription",
                "sub-1",
                3,
                json!({"topic": "arn:aws:ec2:us-east-1:123456789012:thing/vpc-0123456789", "endpoint": "arn:aws:sqs:us-east-1:123456789012:elsewhere"}),
            ),
        ];
        let w = write(&input, &ms, &Schemas, &opts());
        insta::assert_snapshot!(w.yaml);
        let addrs: Vec<&str> = w.rows.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(addrs, ["network_this", "network_private[\"a\"]", "network_private[\"b\"]", "s"]);
        assert_eq!(w.stack_tags, Tags::from([("ManagedBy".into(), "terraform".into()), ("Project".into(), "shop".into()), ("Team".into(), "net".into())]));
        // The text reads back as YAML with the same structure.
        let root = crate::yaml::parse(&w.yaml).expect("valid YAML");
        assert!(root.get("resources").and_then(|r| r.get("network_private")).is_some());
    }

    #[test]
    fn count_with_equal_instances_and_separate_when_they_differ() {
        let input = input(json!([
            {"type": "aws_vpc", "name": "same", "index": 0, "attributes": {}},
            {"type": "aws_vpc", "name": "same", "index": 1, "attributes": {}},
            {"type": "aws_vpc", "name": "diff", "index": 0, "attributes": {}},
            {"type": "aws_vpc", "name": "diff", "index": 1, "attributes": {}},
            {"type": "aws_subnet", "name": "s", "attributes": {}}
        ]));
        let ms = vec![
            mapped(&input, "aws.ec2.vpc", "vpc-00000001", 0, json!({"cidr_block": "10.0.0.0/16"})),
            mapped(&input, "aws.ec2.vpc", "vpc-00000002", 1, json!({"cidr_block": "10.0.0.0/16"})),
            mapped(&input, "aws.ec2.vpc", "vpc-00000003", 2, json!({"cidr_block": "10.1.0.0/16"})),
            mapped(&input, "aws.ec2.vpc", "vpc-00000004", 3, json!({"cidr_block": "10.2.0.0/16"})),
            mapped(&input, "aws.ec2.subnet", "subnet-1", 4, json!({"vpc_id": "vpc-00000004"})),
        ];
        let w = write(&input, &ms, &Schemas, &opts());
        let addrs: Vec<&str> = w.rows.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(addrs, ["same[0]", "same[1]", "diff_0", "diff_1", "s"]);
        assert!(w.yaml.contains("    count: 2\n"), "{}", w.yaml);
        assert!(w.yaml.contains("vpc_id: ${diff_1.id}"), "{}", w.yaml);
    }

    #[test]
    fn references_never_close_a_cycle_and_arn_prefixes_become_templates() {
        let input = input(json!([
            {"type": "aws_sns_topic_subscription", "name": "a", "attributes": {}},
            {"type": "aws_sns_topic_subscription", "name": "b", "attributes": {}}
        ]));
        let a_arn = "arn:aws:ec2:us-east-1:123456789012:thing/sub-aaaa";
        let b_arn = "arn:aws:ec2:us-east-1:123456789012:thing/sub-bbbb";
        let ms = vec![
            mapped(&input, "aws.sns.subscription", "sub-aaaa", 0, json!({"topic": b_arn, "endpoint": format!("{a_arn}/self")})),
            mapped(&input, "aws.sns.subscription", "sub-bbbb", 1, json!({"topic": a_arn, "endpoint": format!("{a_arn}/x/*")})),
        ];
        let w = write(&input, &ms, &Schemas, &opts());
        assert!(w.yaml.contains("topic: ${b.arn}"), "{}", w.yaml);
        // b → a would close a cycle: the literal stays.
        assert!(w.yaml.contains(&format!("topic: {a_arn}")), "{}", w.yaml);
        assert!(w.yaml.contains(&format!("endpoint: {a_arn}/x/*")), "{}", w.yaml);
    }

    #[test]
    fn default_tags_lift_even_alone_and_env_equal_to_the_environment_is_implied() {
        let input = input(json!([
            {"type": "aws_vpc", "name": "main", "attributes": {"tags": {"Team": "net", "Env": "prod"}, "tags_all": {"Team": "net", "Env": "prod", "Project": "shop"}}},
            {"type": "aws_vpc", "name": "old", "attributes": {"tags": {"Env": "legacy"}, "tags_all": {"Env": "legacy", "Project": "shop"}}}
        ]));
        let ms = vec![mapped(&input, "aws.ec2.vpc", "vpc-1", 0, json!({})), mapped(&input, "aws.ec2.vpc", "vpc-2", 1, json!({}))];
        let w = write(&input, &ms, &Schemas, &opts());
        assert_eq!(w.stack_tags, Tags::from([("Project".into(), "shop".into())]));
        // `Env: prod` comes from --env; another value stays on the resource, which overrides it.
        assert!(w.yaml.contains("  main:\n    type: aws.ec2.vpc\n    tags:\n      Team: net\n"), "{}", w.yaml);
        assert!(w.yaml.contains("  old:\n    type: aws.ec2.vpc\n    tags:\n      Env: legacy\n"), "{}", w.yaml);

        let one = super::super::tests::input(
            json!([{"type": "aws_vpc", "name": "main", "attributes": {"tags": {"Team": "net"}, "tags_all": {"Team": "net", "Project": "shop"}}}]),
        );
        let w = write(&one, &[mapped(&one, "aws.ec2.vpc", "vpc-1", 0, json!({}))], &Schemas, &opts());
        assert_eq!(w.stack_tags, Tags::from([("Project".into(), "shop".into())]));
    }

    #[test]
    fn names_from_modules_and_collisions() {
        assert_eq!(module_parts("module.app[\"x\"].module.db"), ["app", "x", "db"]);
        assert_eq!(module_parts("module.network"), ["network"]);
        assert_eq!(sanitize("9lives.x"), "_9lives_x");
        let input = input(json!([
            {"type": "aws_vpc", "name": "main", "attributes": {}},
            {"type": "aws_subnet", "name": "main", "attributes": {}}
        ]));
        let ms = vec![mapped(&input, "aws.ec2.vpc", "vpc-1", 0, json!({})), mapped(&input, "aws.ec2.subnet", "subnet-1", 1, json!({}))];
        let w = write(&input, &ms, &Schemas, &opts());
        let addrs: Vec<&str> = w.rows.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(addrs, ["main_vpc", "main_subnet"]);
    }

    #[test]
    fn quoting_keeps_strings_strings() {
        for s in ["true", "1.30", "", "a: b", "${x.id}", "${x.arn}/*", "${s[\"a\"].id}", "-x", "10.0.0.0/16", "arn:aws:s3:::b", "*", "#x"] {
            let text = format!("k: {}\nl: {}\n", scalar(&json!(s), false), flow(&json!([s, s])));
            let root = crate::yaml::parse(&text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(root.get("k").and_then(|n| n.as_str()), Some(s), "{text}");
        }
    }
}
