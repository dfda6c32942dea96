//! Pass `outputs`: evaluates the stack's `outputs:`; references to resources stay unknown markers until apply.

use std::cell::RefCell;
use std::collections::BTreeSet;

use super::scope::LocalScope;
use super::{eval_tree, Compilation};

pub(super) fn run(c: &mut Compilation<'_>) {
    let base = c.resolved.base(c.spec, c.opts);
    let refs = c.table.refs(c.schemas);
    for (name, node) in &c.spec.outputs {
        let local = LocalScope { base: &base, refs: &refs, each: None, count_index: None, deps: RefCell::new(BTreeSet::new()), self_name: "" };
        if let Some(v) = eval_tree(node, &local, c.diags) {
            c.outputs.insert(name.clone(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{after, diagnostics};

    #[test]
    fn outputs_evaluate_with_resource_attributes_left_for_apply() {
        let stack = "stack: s\nresources:\n  q: { type: fake.queue }\noutputs:\n  where: \"${region}\"\n  url: \"${q.url}\"\n  bad: \"${q.nope}\"\n";
        after(stack, "outputs", |c| {
            assert_eq!(c.outputs["where"], serde_json::json!("us-east-1"));
            assert!(c.outputs["url"].get("$unknown").is_some());
            assert!(!c.outputs.contains_key("bad"));
            assert_eq!(diagnostics(c).len(), 1);
            assert!(diagnostics(c)[0].starts_with("7:8 unknown-attribute: fake.queue has no attribute `nope`"), "{:?}", diagnostics(c));
        });
    }
}
