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
        let mut indegree: BTreeMap<&str, usize> = self.nodes.keys().map(|a| (a.as_str(), 0)).collect();
        for n in self.nodes.values() {
            let known = n.deps.iter().filter(|d| self.nodes.contains_key(*d)).count();
            indegree.insert(n.address.as_str(), known);
        }
        let mut ready: BTreeSet<&str> = indegree.iter().filter(|(_, d)| **d == 0).map(|(a, _)| *a).collect();
        let mut order = vec![];
        while let Some(a) = ready.pop_first() {
            order.push(a.to_string());
            for n in self.nodes.values().filter(|n| n.deps.contains(a)) {
                let d = indegree.get_mut(n.address.as_str()).expect("every node has an indegree");
                *d -= 1;
                if *d == 0 {
                    ready.insert(n.address.as_str());
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
