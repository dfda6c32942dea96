//! Passes `graph` and `dag`: assemble the `ResourceGraph` from what the passes before made; check, once every pass has drawn its edges, that it is a DAG (a cycle is reported with its full path).

use super::Compilation;
use crate::diag::Diagnostic;
use crate::graph::ResourceGraph;

pub(super) fn assemble(c: &mut Compilation<'_>) {
    c.graph = ResourceGraph {
        stack: c.spec.stack.value.clone(),
        env: c.opts.env.clone(),
        region: c.resolved.region.clone(),
        account_id: c.resolved.account_id.clone(),
        nodes: std::mem::take(&mut c.nodes),
        outputs: std::mem::take(&mut c.outputs),
        vars: c.resolved.vars.clone(),
        exceptions: c.spec.policy.exceptions.iter().map(|e| (e.rule.value.clone(), e.address.value.clone(), e.reason.clone())).collect(),
        moved: c.spec.moved.iter().map(|m| (m.from.value.clone(), m.to.value.clone())).collect(),
    };
}

pub(super) fn check_dag(c: &mut Compilation<'_>) {
    if let Some(cycle) = c.graph.cycle() {
        let first = c.graph.nodes.get(&cycle[0]).map(|n| n.span);
        c.diags.push(
            Diagnostic::error("cycle", format!("dependency cycle: {}", cycle.join(" -> ")), first)
                .help("break the cycle: one of these resources must not reference the next"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{after, diagnostics};

    #[test]
    fn the_graph_holds_what_the_passes_made() {
        let stack =
            "stack: s\nenvironments: { dev: { region: eu-west-1 } }\nvars: { n: 1 }\nresources:\n  q: { type: fake.queue }\noutputs: { u: \"${q.url}\" }\n";
        after(stack, "graph", |c| {
            assert!(c.nodes.is_empty(), "moved into the graph");
            assert_eq!((c.graph.stack.as_str(), c.graph.env.as_str(), c.graph.region.as_str()), ("s", "dev", "eu-west-1"));
            assert_eq!(c.graph.nodes.keys().collect::<Vec<_>>(), vec!["q"]);
            assert_eq!(c.graph.vars["n"], serde_json::json!(1));
            assert!(c.graph.outputs.contains_key("u"));
        });
    }

    #[test]
    fn a_cycle_is_reported_with_its_path() {
        let stack = "stack: s\nresources:\n  a: { type: fake.queue, props: { dlq: \"${b.arn}\" } }\n  b: { type: fake.queue, props: { dlq: \"${a.arn}\" } }\n";
        after(stack, "dag", |c| assert_eq!(diagnostics(c), vec!["3:3 cycle: dependency cycle: a -> b -> a"]));
    }
}
