//! What one block holds: props in schema order without defaults, and `count`/`for_each` bodies where instances share a shape.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::yaml::{emit_map, flow};
use super::{Body, Group, Shape};
use crate::provider::{ResourceSchema, Tags};
use crate::tfimport::{IndexKey, Mapped};

/// Props in schema order, without values equal to the schema default.
pub(super) fn ordered_props(m: &Mapped, schema: Option<&ResourceSchema>) -> Map<String, Value> {
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

/// Whether a count/for_each group can be written as one block.
pub(super) fn expressible(shape: &Shape, body: &[Body]) -> bool {
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
pub(super) fn shared_body(g: &Group, body: &[Body], y: &mut String) -> (Map<String, Value>, Tags) {
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
