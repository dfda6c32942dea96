//! Pass `edges`: a component's parts reference each other through markers in their props; each reference to another node becomes an edge.

use std::collections::BTreeSet;

use serde_json::Value;

use super::scope::longest_address;
use super::Compilation;
use crate::expr;

pub(super) fn run(c: &mut Compilation<'_>) {
    let addresses: BTreeSet<String> = c.nodes.keys().cloned().collect();
    for a in &c.part_nodes {
        if let Some(n) = c.nodes.get_mut(a) {
            let mut found = vec![];
            expr::refs_in(&Value::Object(n.props.clone()), &mut found);
            for path in found {
                if let Some(target) = longest_address(&path, &addresses) {
                    if target != *a {
                        n.deps.insert(target);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::after;

    const STACK: &str = "stack: s\nresources:\n  work: { type: cairn.queue }\n";

    #[test]
    fn parts_referencing_each_other_get_edges() {
        assert!(after(STACK, "resources", |c| c.nodes["work.queue"].deps.is_empty()), "no edge before the pass");
        after(STACK, "edges", |c| {
            assert_eq!(c.nodes["work.queue"].deps.iter().map(String::as_str).collect::<Vec<_>>(), vec!["work.dlq"]);
            assert!(c.nodes["work.dlq"].deps.is_empty());
        });
    }
}
