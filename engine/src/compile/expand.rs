//! Pass `expand`: evaluates `count` and `for_each` and turns each resource spec into its concrete instances (`name`, `name[0]`, `name["key"]`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{eval_node, Compilation};
use crate::component::{self, Component};
use crate::diag::{Diagnostic, Diagnostics};
use crate::provider::ResourceSchema;
use crate::spec;

/// One concrete instance of a resource spec (after `count` / `for_each`).
pub(super) struct Instance<'s> {
    pub(super) address: String,
    pub(super) spec: &'s spec::ResourceSpec,
    pub(super) schema: Option<&'static ResourceSchema>,
    pub(super) component: Option<&'static dyn Component>,
    pub(super) each: Option<(Value, Value)>,
    pub(super) count_index: Option<i64>,
}

/// The shape of each resource's expansion, so references can be checked before props are evaluated.
#[derive(Clone)]
pub(super) enum Expansion {
    Single,
    Count(i64),
    Keys(Vec<String>),
}

pub(super) fn run(c: &mut Compilation<'_>) {
    let base = c.resolved.base(c.spec, c.opts);
    let diags = &mut *c.diags;

    // Expansion first: references to `name[i]` are checked against it.
    let mut expansions: BTreeMap<&str, Expansion> = BTreeMap::new();
    for (name, r) in &c.spec.resources {
        let exp = if let Some(n) = &r.count {
            match eval_node(n, &base, diags) {
                Some(Value::Number(n)) if n.as_i64().is_some_and(|n| (0..=1000).contains(&n)) => Expansion::Count(n.as_i64().unwrap_or(0)),
                Some(other) => {
                    diags.push(Diagnostic::error("count", format!("`count` must be a whole number from 0 to 1000, found {other}"), n.span));
                    Expansion::Count(0)
                }
                None => Expansion::Count(0),
            }
        } else if let Some(f) = &r.for_each {
            match eval_node(f, &base, diags) {
                Some(Value::Array(items)) => {
                    let keys: Vec<String> = items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
                    if keys.len() != items.len() {
                        diags.push(Diagnostic::error("for-each", "`for_each` over a list needs a list of strings", f.span));
                    }
                    Expansion::Keys(keys)
                }
                Some(Value::Object(m)) => Expansion::Keys(m.keys().cloned().collect()),
                Some(other) => {
                    diags.push(Diagnostic::error("for-each", format!("`for_each` needs a list of strings or a map, found {other}"), f.span));
                    Expansion::Keys(vec![])
                }
                None => Expansion::Keys(vec![]),
            }
        } else {
            Expansion::Single
        };
        expansions.insert(name.as_str(), exp);
    }

    let mut instances = vec![];
    for (name, r) in &c.spec.resources {
        let component = component::find(&r.kind.value);
        let schema = c.schemas.schema_of(&r.kind.value).or_else(|| component::schema_of(&r.kind.value));
        if schema.is_none() {
            let mut kinds: Vec<&str> = c.schemas.all_schemas().iter().map(|s| s.kind).collect();
            kinds.extend(component::all().iter().map(|c| c.kind()));
            diags.push(
                Diagnostic::error("unknown-type", format!("unknown resource type `{}`", r.kind.value), r.kind.span)
                    .help(spec::suggest(&r.kind.value, kinds.iter().copied()).unwrap_or_else(|| format!("known types: {}", kinds.join(", ")))),
            );
        }
        let each_values: BTreeMap<String, Value> = match (&r.for_each, &expansions[name.as_str()]) {
            (Some(f), Expansion::Keys(_)) => match eval_node(f, &base, &mut Diagnostics::default()) {
                Some(Value::Object(m)) => m.into_iter().collect(),
                Some(Value::Array(items)) => items.iter().filter_map(|v| v.as_str().map(|s| (s.to_string(), v.clone()))).collect(),
                _ => BTreeMap::new(),
            },
            _ => BTreeMap::new(),
        };
        match &expansions[name.as_str()] {
            Expansion::Single => instances.push(Instance { address: name.clone(), spec: r, schema, component, each: None, count_index: None }),
            Expansion::Count(n) => {
                for i in 0..*n {
                    instances.push(Instance { address: format!("{name}[{i}]"), spec: r, schema, component, each: None, count_index: Some(i) });
                }
            }
            Expansion::Keys(keys) => {
                for k in keys {
                    let v = each_values.get(k).cloned().unwrap_or(Value::String(k.clone()));
                    instances.push(Instance {
                        address: format!("{name}[\"{k}\"]"),
                        spec: r,
                        schema,
                        component,
                        each: Some((Value::String(k.clone()), v)),
                        count_index: None,
                    });
                }
            }
        }
    }
    c.table.kinds = instances.iter().map(|i| (i.spec.name.as_str(), i.schema)).collect();
    c.table.expansions = expansions;
    c.table.instances = instances;
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{after, diagnostics};

    const STACK: &str = "stack: s
vars: { zones: [a, b] }
resources:
  q: { type: fake.queue, count: 2 }
  k: { type: fake.key, for_each: \"${var.zones}\" }
  m: { type: fake.key, for_each: { x: 1 } }
  bad: { type: fake.queue, count: 1001 }
  odd: { type: fake.nope }
";

    #[test]
    fn count_and_for_each_make_one_instance_each() {
        after(STACK, "expand", |c| {
            let addresses: Vec<&str> = c.table.instances.iter().map(|i| i.address.as_str()).collect();
            assert_eq!(addresses, vec!["k[\"a\"]", "k[\"b\"]", "m[\"x\"]", "odd", "q[0]", "q[1]"]);
            let m = c.table.instances.iter().find(|i| i.address == "m[\"x\"]").and_then(|i| i.each.clone());
            assert_eq!(m, Some((serde_json::json!("x"), serde_json::json!(1))));
            assert_eq!(c.table.instances.iter().find(|i| i.address == "q[1]").and_then(|i| i.count_index), Some(1));
        });
    }

    #[test]
    fn bad_counts_and_unknown_types_are_located() {
        after(STACK, "expand", |c| {
            assert_eq!(
                diagnostics(c),
                vec!["7:35 count: `count` must be a whole number from 0 to 1000, found 1001", "8:16 unknown-type: unknown resource type `fake.nope`"]
            );
            assert!(c.table.kinds.get("odd").is_some_and(|k| k.is_none()), "an unknown type still has an entry");
        });
    }
}
