//! The compiled stack: concrete resources with resolved properties and their dependency DAG.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
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
        let (addresses, order) = self.kahn();
        if order.len() == addresses.len() {
            return Ok(order.into_iter().map(|i| addresses[i].to_string()).collect());
        }
        Err(self.cycle_of(&addresses, &order))
    }

    /// [`ResourceGraph::topo_order`] borrowing the addresses rather than copying each.
    pub(crate) fn topo_addresses(&self) -> Result<Vec<&str>, Vec<String>> {
        let (addresses, order) = self.kahn();
        if order.len() == addresses.len() {
            return Ok(order.into_iter().map(|i| addresses[i]).collect());
        }
        Err(self.cycle_of(&addresses, &order))
    }

    /// The path of a dependency cycle, if the graph has one (what `topo_order` would refuse with).
    pub fn cycle(&self) -> Option<Vec<String>> {
        let (addresses, order) = self.kahn();
        (order.len() != addresses.len()).then(|| self.cycle_of(&addresses, &order))
    }

    /// Kahn's algorithm over a sorted ready set, which keeps the order deterministic. Nodes are
    /// numbered in address order, so the smallest ready number is the smallest ready address,
    /// and the work is on integers rather than on maps keyed by address. Returns the addresses
    /// and the order as indices into them; the order is short of some nodes when there is a cycle.
    fn kahn(&self) -> (Vec<&str>, Vec<usize>) {
        let addresses: Vec<&str> = self.nodes.keys().map(String::as_str).collect();
        let mut indegree = vec![0usize; addresses.len()];
        // Dependents by dependency, built once: finding them by scanning every node per step was quadratic.
        let mut dependents: Vec<Vec<usize>> = vec![vec![]; addresses.len()];
        for (i, n) in self.nodes.values().enumerate() {
            for d in &n.deps {
                if let Ok(j) = addresses.binary_search(&d.as_str()) {
                    indegree[i] += 1;
                    dependents[j].push(i);
                }
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> = (0..addresses.len()).filter(|&i| indegree[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(addresses.len());
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for &n in &dependents[i] {
                indegree[n] -= 1;
                if indegree[n] == 0 {
                    ready.push(Reverse(n));
                }
            }
        }
        (addresses, order)
    }

    /// Some nodes never became ready: they are on or behind a cycle. The strongly connected
    /// components name it the way they always have.
    fn cycle_of(&self, addresses: &[&str], order: &[usize]) -> Vec<String> {
        self.first_cycle().unwrap_or_else(|| {
            let placed: BTreeSet<usize> = order.iter().copied().collect();
            (0..addresses.len()).filter(|i| !placed.contains(i)).map(|i| addresses[i].to_string()).collect()
        })
    }

    /// The first cycle among the strongly connected components, as a path.
    fn first_cycle(&self) -> Option<Vec<String>> {
        let (g, _) = self.dag();
        tarjan_scc(&g).into_iter().find_map(|scc| {
            let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
            (scc.len() > 1 || self_loop).then(|| self.cycle_path(scc.iter().map(|i| g[*i].to_string()).collect()))
        })
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
