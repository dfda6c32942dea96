//! The compiled stack: concrete resources with resolved properties and their dependency DAG.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::provider::{Owner, Props, Tags};
use crate::source::Span;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Lifecycle {
    pub protect: bool,
    pub create_before_destroy: bool,
    pub ignore_changes: Vec<String>,
}

/// One concrete resource (one instance of a counted resource).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceNode {
    pub address: String,
    /// The resource's name in the stack file (without an instance index).
    pub name: String,
    pub kind: String,
    /// Properties; values that depend on other resources are unknown markers (see `expr`).
    pub props: Props,
    /// The complete tag set: stack tags, `Env`, resource tags, ownership tags.
    pub tags: Tags,
    pub deps: BTreeSet<String>,
    pub lifecycle: Lifecycle,
    pub span: Span,
    /// Where each property was written, for locating findings about it.
    pub prop_spans: BTreeMap<String, Span>,
    pub owner: Owner,
    pub default_name: String,
}

/// A stack compiled for one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceGraph {
    pub stack: String,
    pub env: String,
    pub region: String,
    pub account_id: Option<String>,
    pub nodes: BTreeMap<String, ResourceNode>,
    pub outputs: BTreeMap<String, Value>,
    pub vars: BTreeMap<String, Value>,
    /// Policy exceptions in force: (rule, address, reason).
    pub exceptions: Vec<(String, String, String)>,
    /// Renamed addresses: (from, to).
    pub moved: Vec<(String, String)>,
}

impl ResourceGraph {
    /// The petgraph DAG, edges pointing from a dependency to its dependent.
    pub fn dag(&self) -> (DiGraph<&str, ()>, BTreeMap<&str, NodeIndex>) {
        let mut g = DiGraph::new();
        let idx: BTreeMap<&str, NodeIndex> = self.nodes.keys().map(|a| (a.as_str(), g.add_node(a.as_str()))).collect();
        for n in self.nodes.values() {
            for d in &n.deps {
                if let (Some(&from), Some(&to)) = (idx.get(d.as_str()), idx.get(n.address.as_str())) {
                    g.add_edge(from, to, ());
                }
            }
        }
        (g, idx)
    }

    /// Addresses in dependency order (dependencies first, ties by address), or the path of a cycle.
    pub fn topo_order(&self) -> Result<Vec<String>, Vec<String>> {
        let (g, _) = self.dag();
        for scc in tarjan_scc(&g) {
            let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
            if scc.len() > 1 || self_loop {
                return Err(self.cycle_path(scc.iter().map(|i| g[*i].to_string()).collect()));
            }
        }
        // Kahn's algorithm over a sorted ready set keeps the order deterministic.
        // Dependents by dependency, built once: finding them by scanning every node per step was quadratic.
        let mut indegree: BTreeMap<&str, usize> = self.nodes.keys().map(|a| (a.as_str(), 0)).collect();
        let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for n in self.nodes.values() {
            let known: Vec<&str> = n.deps.iter().map(String::as_str).filter(|d| self.nodes.contains_key(*d)).collect();
            indegree.insert(n.address.as_str(), known.len());
            for d in known {
                dependents.entry(d).or_default().push(n.address.as_str());
            }
        }
        let mut ready: BTreeSet<&str> = indegree.iter().filter(|(_, d)| **d == 0).map(|(a, _)| *a).collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        while let Some(a) = ready.pop_first() {
            order.push(a.to_string());
            for &n in dependents.get(a).map(Vec::as_slice).unwrap_or_default() {
                let d = indegree.get_mut(n).expect("every node has an indegree");
                *d -= 1;
                if *d == 0 {
                    ready.insert(n);
                }
            }
        }
        Ok(order)
    }

    /// Walks a strongly connected component into one readable cycle: a -> b -> c -> a.
    fn cycle_path(&self, members: BTreeSet<String>) -> Vec<String> {
        let start = members.iter().next().cloned().unwrap_or_default();
        let mut path = vec![start.clone()];
        let mut seen = BTreeSet::from([start.clone()]);
        let mut cur = start.clone();
        loop {
            // Follow a dependency edge that stays inside the component.
            let next = self.nodes.get(&cur).and_then(|n| n.deps.iter().find(|d| members.contains(*d) && (!seen.contains(*d) || **d == start)).cloned());
            match next {
                Some(n) if n == start => {
                    path.push(n);
                    break;
                }
                Some(n) => {
                    seen.insert(n.clone());
                    path.push(n.clone());
                    cur = n;
                }
                None => {
                    path.push(start);
                    break;
                }
            }
        }
        path
    }

    /// Graphviz text; `dot -Tsvg` renders it.
    pub fn to_dot(&self) -> String {
        let mut out = format!("digraph \"{}-{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n", self.stack, self.env);
        for n in self.nodes.values() {
            let _ = writeln!(out, "  \"{}\" [label=\"{}\\n{}\"];", esc(&n.address), esc(&n.address), n.kind);
        }
        for n in self.nodes.values() {
            for d in &n.deps {
                let _ = writeln!(out, "  \"{}\" -> \"{}\";", esc(d), esc(&n.address));
            }
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart text, which GitHub renders in Markdown.
    pub fn to_mermaid(&self) -> String {
        let ids: BTreeMap<&str, String> = self.nodes.keys().enumerate().map(|(i, a)| (a.as_str(), format!("n{i}"))).collect();
        let mut out = String::from("flowchart LR\n");
        for n in self.nodes.values() {
            let _ = writeln!(out, "  {}[\"{}<br/><small>{}</small>\"]", ids[n.address.as_str()], n.address.replace('"', "#quot;"), n.kind);
        }
        for n in self.nodes.values() {
            for d in &n.deps {
                if let Some(from) = ids.get(d.as_str()) {
                    let _ = writeln!(out, "  {from} --> {}", ids[n.address.as_str()]);
                }
            }
        }
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(address: &str, deps: &[&str]) -> ResourceNode {
        ResourceNode {
            address: address.into(),
            name: address.into(),
            kind: "fake.queue".into(),
            props: Default::default(),
            tags: Default::default(),
            deps: deps.iter().map(|d| d.to_string()).collect(),
            lifecycle: Lifecycle::default(),
            span: Span::default(),
            prop_spans: BTreeMap::new(),
            owner: Owner { stack: "s".into(), env: "dev".into(), address: address.into() },
            default_name: address.into(),
        }
    }

    fn graph(nodes: &[ResourceNode]) -> ResourceGraph {
        ResourceGraph {
            stack: "s".into(),
            env: "dev".into(),
            region: String::new(),
            account_id: None,
            nodes: nodes.iter().map(|n| (n.address.clone(), n.clone())).collect(),
            outputs: BTreeMap::new(),
            vars: BTreeMap::new(),
            exceptions: vec![],
            moved: vec![],
        }
    }

    #[test]
    fn topo_order_puts_dependencies_first_and_breaks_ties_by_address() {
        // d depends on b and c, which depend on a; `outside` is not in the graph and is ignored.
        let g = graph(&[node("d", &["c", "b"]), node("c", &["a", "outside"]), node("b", &["a"]), node("a", &[]), node("e", &[])]);
        assert_eq!(g.topo_order(), Ok(vec!["a".to_string(), "b".into(), "c".into(), "d".into(), "e".into()]));
        // A dependent becomes ready only when its last dependency is placed, then by address.
        let g = graph(&[node("z", &[]), node("m", &["z"]), node("b", &["z", "y"]), node("y", &[])]);
        assert_eq!(g.topo_order(), Ok(vec!["y".to_string(), "z".into(), "b".into(), "m".into()]));
    }

    #[test]
    fn topo_order_reports_a_cycle() {
        let g = graph(&[node("a", &["b"]), node("b", &["a"]), node("c", &[])]);
        assert_eq!(g.topo_order(), Err(vec!["a".to_string(), "b".into(), "a".into()]));
    }
}
