//! Pass `components`: expands each component leniently to learn its parts and outputs, so that references to them can be checked strictly like any other; and the strict expansion of one component instance into part nodes.

use std::collections::BTreeSet;

use super::expand::Instance;
use super::scope::LenientScope;
use super::{default_name, eval_tree, Compilation, CompileOptions, STATEFUL_KINDS};
use crate::component::{ComponentInput, Expansion};
use crate::diag::Diagnostics;
use crate::graph::{Lifecycle, ResourceNode};
use crate::provider::{Owner, Props, SchemaSource, Tags};
use crate::source::Span;
use crate::spec::{EnvSpec, StackSpec};

pub(super) fn run(c: &mut Compilation<'_>) {
    let base = c.resolved.base(c.spec, c.opts);
    for inst in c.table.instances.iter().filter(|i| i.component.is_some()) {
        let lenient = LenientScope { base: &base, each: inst.each.as_ref(), count_index: inst.count_index };
        // Problems in the props are reported by the strict pass; this one only learns names.
        let mut scratch = Diagnostics::default();
        let props = inst.spec.props.as_ref().and_then(|n| eval_tree(n, &lenient, &mut scratch)).and_then(|v| v.as_object().cloned()).unwrap_or_default();
        if let Some(Ok(exp)) = inst.component.map(|comp| comp.expand(&component_input(inst, &props, c.spec, c.opts, &c.resolved.region))) {
            for p in &exp.parts {
                c.table.parts.insert(format!("{}.{}", inst.address, p.sub), p.kind);
            }
            c.table.component_outputs.insert(inst.address.clone(), exp.outputs);
        }
    }
}

pub(super) fn component_input<'a>(inst: &'a Instance, props: &'a Props, spec: &'a StackSpec, opts: &'a CompileOptions, region: &'a str) -> ComponentInput<'a> {
    ComponentInput {
        address: &inst.address,
        props,
        stack: &spec.stack.value,
        env: &opts.env,
        region,
        name_prefix: default_name(&spec.stack.value, &opts.env, &inst.address),
    }
}

/// A node the resources pass made, and what the tags pass needs to tag it.
pub(super) struct Made {
    pub(super) address: String,
    /// Tags a component gives its part on top of the stack's and the component's.
    pub(super) part_tags: Tags,
    pub(super) taggable: bool,
}

/// What a component instance's parts share: the instance's own evaluated settings.
pub(super) struct PartContext<'a> {
    pub(super) spec: &'a StackSpec,
    pub(super) opts: &'a CompileOptions,
    pub(super) schemas: &'a dyn SchemaSource,
    pub(super) env: Option<&'a EnvSpec>,
    pub(super) explicit: &'a BTreeSet<String>,
    pub(super) lifecycle: &'a Lifecycle,
    pub(super) prop_spans: &'a std::collections::BTreeMap<String, Span>,
}

/// The part nodes of one expanded component instance, in the component's order.
pub(super) fn part_nodes(inst: &Instance, expansion: Expansion, cx: &PartContext) -> Vec<(ResourceNode, Made)> {
    let mut out = vec![];
    for part in expansion.parts {
        let address = format!("{}.{}", inst.address, part.sub);
        let owner = Owner { stack: cx.spec.stack.value.clone(), env: cx.opts.env.clone(), address: address.clone() };
        let taggable = cx.schemas.schema_of(part.kind).is_some_and(|s| s.taggable);
        // A part depends on what its own properties reference (the `edges` pass) and on the component's depends_on.
        let mut part_deps = cx.explicit.clone();
        part_deps.extend(part.depends_on.iter().map(|d| format!("{}.{d}", inst.address)));
        let node = ResourceNode {
            address: address.clone(),
            name: inst.spec.name.clone(),
            kind: part.kind.to_string(),
            props: part.props,
            tags: Tags::new(),
            deps: part_deps,
            lifecycle: Lifecycle {
                protect: cx.lifecycle.protect || (STATEFUL_KINDS.contains(&part.kind) && cx.env.is_some_and(|e| e.protect)),
                ..cx.lifecycle.clone()
            },
            span: inst.spec.span,
            prop_spans: cx.prop_spans.clone(),
            default_name: default_name(&cx.spec.stack.value, &cx.opts.env, &address),
            owner,
        };
        out.push((node, Made { address, part_tags: part.tags, taggable }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{after, diagnostics};

    const STACK: &str = "stack: s
resources:
  work:
    type: cairn.queue
    props: { visibility_timeout_seconds: 60 }
  q:
    type: fake.queue
    props: { dlq: \"${work.dlq_arn}\" }
";

    #[test]
    fn components_are_expanded_leniently_to_learn_parts_and_outputs() {
        after(STACK, "components", |c| {
            let parts: Vec<(&str, &str)> = c.table.parts.iter().map(|(a, k)| (a.as_str(), *k)).collect();
            assert_eq!(parts, vec![("work.dlq", "aws.sqs.queue"), ("work.queue", "aws.sqs.queue")]);
            let outputs: Vec<&str> = c.table.component_outputs["work"].keys().map(String::as_str).collect();
            assert_eq!(outputs, vec!["arn", "dlq_arn", "dlq_url", "url"]);
            // Nothing is made yet: the resources pass makes the part nodes.
            assert!(c.nodes.is_empty());
            assert_eq!(diagnostics(c), Vec::<String>::new());
        });
    }
}
