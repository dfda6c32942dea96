//! Pass `resources`: evaluates each instance's props (checking every reference and drawing its edges), `depends_on` and `lifecycle`, and makes its node; a component instance is expanded strictly into its part nodes.

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::components::{component_input, part_nodes, Made, PartContext};
use super::scope::LocalScope;
use super::{compile_props, default_name, Compilation, STATEFUL_KINDS};
use crate::diag::Diagnostic;
use crate::graph::{Lifecycle, ResourceNode};
use crate::provider::{Owner, Tags};
use crate::spec;

pub(super) fn run(c: &mut Compilation<'_>) {
    let base = c.resolved.base(c.spec, c.opts);
    let refs = c.table.refs(c.schemas);
    let env = c.resolved.env;
    for (index, inst) in c.table.instances.iter().enumerate() {
        let local = LocalScope {
            base: &base,
            refs: &refs,
            each: inst.each.as_ref(),
            count_index: inst.count_index,
            deps: RefCell::new(BTreeSet::new()),
            self_name: &inst.spec.name,
        };
        let (props, prop_spans) = compile_props(inst, &local, c.file, c.diags);
        let mut deps = local.deps.into_inner();
        let mut explicit = BTreeSet::new();
        for d in &inst.spec.depends_on {
            if let Some(addrs) = refs.addresses_of(&d.value) {
                explicit.extend(addrs.clone());
                deps.extend(addrs);
            } else {
                c.diags.push(
                    Diagnostic::error("unknown-reference", format!("`depends_on` names `{}`, which is not a resource in this stack", d.value), d.span).help(
                        spec::suggest(&d.value, c.spec.resources.keys().map(String::as_str)).unwrap_or_else(|| "list resource names from `resources:`".into()),
                    ),
                );
            }
        }
        deps.remove(&inst.address);
        let lifecycle = Lifecycle {
            protect: inst.spec.lifecycle.protect || (STATEFUL_KINDS.contains(&inst.spec.kind.value.as_str()) && env.is_some_and(|e| e.protect)),
            create_before_destroy: inst.spec.lifecycle.create_before_destroy,
            ignore_changes: inst.spec.lifecycle.ignore_changes.iter().map(|s| s.value.clone()).collect(),
        };
        if let Some(schema) = inst.schema {
            for ic in &inst.spec.lifecycle.ignore_changes {
                if ic.value != "tags" && schema.prop(&ic.value).is_none() && inst.component.is_none() {
                    c.diags.push(
                        Diagnostic::error(
                            "unknown-property",
                            format!("`ignore_changes` names `{}`, which is not a property of {}", ic.value, schema.kind),
                            ic.span,
                        )
                        .help(spec::suggest(&ic.value, schema.props.iter().map(|p| p.name)).unwrap_or_else(|| "name a property or `tags`".into())),
                    );
                }
            }
        }

        if let Some(comp) = inst.component {
            if c.diags.has_errors() && props.is_empty() && inst.spec.props.is_some() {
                continue;
            }
            let expansion = match comp.expand(&component_input(inst, &props, c.spec, c.opts, &c.resolved.region)) {
                Ok(e) => e,
                Err(msg) => {
                    c.diags.push(Diagnostic::error("component", format!("{} `{}`: {msg}", comp.kind(), inst.address), inst.spec.span));
                    continue;
                }
            };
            let cx = PartContext { spec: c.spec, opts: c.opts, schemas: c.schemas, env, explicit: &explicit, lifecycle: &lifecycle, prop_spans: &prop_spans };
            let mut made = vec![];
            for (node, m) in part_nodes(inst, expansion, &cx) {
                c.part_nodes.push(node.address.clone());
                c.nodes.insert(node.address.clone(), node);
                made.push(m);
            }
            c.made.push((index, made));
            continue;
        }

        let owner = Owner { stack: c.spec.stack.value.clone(), env: c.opts.env.clone(), address: inst.address.clone() };
        let taggable = inst.schema.is_some_and(|s| s.taggable);
        c.nodes.insert(
            inst.address.clone(),
            ResourceNode {
                address: inst.address.clone(),
                name: inst.spec.name.clone(),
                kind: inst.spec.kind.value.clone(),
                props,
                tags: Tags::new(),
                deps,
                lifecycle,
                span: inst.spec.span,
                prop_spans,
                default_name: default_name(&c.spec.stack.value, &c.opts.env, &inst.address),
                owner,
            },
        );
        c.made.push((index, vec![Made { address: inst.address.clone(), part_tags: Tags::new(), taggable }]));
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{after, diagnostics};

    const STACK: &str = "stack: s
resources:
  dlq: { type: fake.queue }
  key: { type: fake.key }
  q:
    type: fake.queue
    depends_on: [key, nope]
    lifecycle: { ignore_changes: [visibilty] }
    props: { dlq: \"${dlq.arn}\", visibility: \"45\" }
  work:
    type: cairn.queue
    depends_on: [key]
";

    #[test]
    fn references_and_depends_on_become_edges() {
        after(STACK, "resources", |c| {
            let q = &c.nodes["q"];
            assert_eq!(q.deps.iter().map(String::as_str).collect::<Vec<_>>(), vec!["dlq", "key"]);
            assert_eq!(q.props["visibility"], serde_json::json!(45), "typed by the schema");
            assert!(q.props["dlq"].get("$unknown").is_some(), "an attribute of another resource is known after apply");
            assert_eq!(q.default_name, "s-dev-q");
            assert!(q.tags.is_empty(), "tags come from the tags pass");
        });
    }

    #[test]
    fn a_component_becomes_its_parts_with_its_depends_on() {
        after(STACK, "resources", |c| {
            let parts: Vec<&str> = c.nodes.keys().filter(|a| a.starts_with("work.")).map(String::as_str).collect();
            assert_eq!(parts, vec!["work.dlq", "work.queue"]);
            assert_eq!(c.part_nodes, vec!["work.dlq", "work.queue"]);
            assert!(c.nodes["work.queue"].deps.contains("key"));
            assert_eq!(c.nodes["work.queue"].name, "work");
        });
    }

    #[test]
    fn unknown_depends_on_and_ignore_changes_are_located() {
        after(STACK, "resources", |c| {
            assert_eq!(
                diagnostics(c),
                vec![
                    "7:23 unknown-reference: `depends_on` names `nope`, which is not a resource in this stack",
                    "8:35 unknown-property: `ignore_changes` names `visibilty`, which is not a property of fake.queue",
                ]
            );
        });
    }
}
