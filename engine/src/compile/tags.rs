//! Pass `tags`: merges the stack's, the resource's (and a component part's own) tags with `Env` and the `cairn:` ownership tags, and checks `policy.required_tags`.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde_json::Value;

use super::expand::Instance;
use super::scope::LocalScope;
use super::{eval_tree, Compilation};
use crate::diag::{Diagnostic, Diagnostics};
use crate::expr::Scope;
use crate::provider::{Owner, Tags};
use crate::spec::StackSpec;
use crate::yaml::Node;

pub(super) fn run(c: &mut Compilation<'_>) {
    let base = c.resolved.base(c.spec, c.opts);
    let refs = c.table.refs(c.schemas);
    // In the order instances were made, so that diagnostics come out as they always have.
    for (index, made) in &c.made {
        let inst = &c.table.instances[*index];
        let tag_scope = LocalScope {
            base: &base,
            refs: &refs,
            each: inst.each.as_ref(),
            count_index: inst.count_index,
            deps: RefCell::new(BTreeSet::new()),
            self_name: &inst.spec.name,
        };
        for m in made.iter().filter(|m| m.taggable) {
            let Some(owner) = c.nodes.get(&m.address).map(|n| n.owner.clone()) else { continue };
            let mut tags = merge_tags(c.spec, inst, &owner, &tag_scope, c.diags);
            tags.extend(m.part_tags.clone());
            tags.extend(owner.tags());
            // A component's parts are reported once, for the component (duplicates are dropped).
            check_required_tags(c.spec, inst, &inst.address, &tags, c.diags);
            if let Some(n) = c.nodes.get_mut(&m.address) {
                n.tags = tags;
            }
        }
    }
}

fn merge_tags(spec: &StackSpec, inst: &Instance, owner: &Owner, scope: &dyn Scope, diags: &mut Diagnostics) -> Tags {
    // Reserved keys (`cairn:`, `aws:`) were refused, at the key, when the spec was read.
    let put = |k: &str, node: &Node, diags: &mut Diagnostics| -> Option<String> {
        match eval_tree(node, scope, diags) {
            Some(Value::String(s)) => Some(s),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
            Some(_) => {
                diags.push(Diagnostic::error("type", format!("tag `{k}` must be a string known at plan time"), node.span));
                None
            }
            None => None,
        }
    };
    let mut tags = Tags::new();
    for (k, n) in &spec.tags {
        if let Some(v) = put(k, n, diags) {
            tags.insert(k.clone(), v);
        }
    }
    // `Env` always comes from --env; a resource may still override it explicitly.
    tags.insert("Env".to_string(), owner.env.clone());
    for (k, n) in &inst.spec.tags {
        if let Some(v) = put(k, n, diags) {
            tags.insert(k.clone(), v);
        }
    }
    tags.extend(owner.tags());
    tags
}

fn check_required_tags(spec: &StackSpec, inst: &Instance, address: &str, tags: &Tags, diags: &mut Diagnostics) {
    let missing: Vec<&str> = spec.policy.required_tags.iter().map(|t| t.value.as_str()).filter(|t| tags.get(*t).is_none_or(|v| v.trim().is_empty())).collect();
    if missing.is_empty() {
        return;
    }
    let excepted = spec
        .policy
        .exceptions
        .iter()
        .any(|e| e.rule.value == "required-tags" && (e.address.value == inst.spec.name || e.address.value == inst.address || e.address.value == address));
    if !excepted {
        diags.push(
            Diagnostic::error(
                "required-tags",
                format!(
                    "`{}` lacks required tag{} {}",
                    inst.address,
                    if missing.len() > 1 { "s" } else { "" },
                    missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                ),
                inst.spec.span,
            )
            .help(format!(
                "add them under this resource's `tags:` or the stack's `tags:` (required by policy.required_tags: {})",
                spec.policy.required_tags.iter().map(|t| t.value.as_str()).collect::<Vec<_>>().join(", ")
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{after, diagnostics};

    const STACK: &str = "stack: s
tags: { Team: core, Owner: \"${stack}\" }
policy: { required_tags: [Team, CostCenter] }
resources:
  q:
    type: fake.queue
    count: 2
    tags: { CostCenter: \"42\", Team: edge }
  k: { type: fake.key }
  g:
    type: fake.grant
    props: { key: \"${k.arn}\", queue: \"${q[0].arn}\" }
";

    #[test]
    fn stack_resource_env_and_owner_tags_merge() {
        after(STACK, "tags", |c| {
            let t = &c.nodes["q[1]"].tags;
            assert_eq!(t.get("Team").map(String::as_str), Some("edge"), "the resource's own tag wins");
            assert_eq!(t.get("Owner").map(String::as_str), Some("s"));
            assert_eq!(t.get("Env").map(String::as_str), Some("dev"));
            assert_eq!(t.get("cairn:address").map(String::as_str), Some("q[1]"));
            assert!(c.nodes["g"].tags.is_empty(), "an untaggable kind gets no tags");
        });
    }

    #[test]
    fn missing_required_tags_are_reported_per_instance() {
        after(STACK, "tags", |c| {
            assert_eq!(diagnostics(c), vec!["9:3 required-tags: `k` lacks required tag `CostCenter`"]);
        });
    }
}
