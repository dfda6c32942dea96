//! Compiles a stack spec for one environment into a `ResourceGraph` by running named passes in order (`PASSES`): env and vars, `count`/`for_each`, components, resources and their references, tags, edges, type checks, permissions boundary, grants, policy lint, outputs, graph, wiring, DAG check.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::diag::Diagnostics;
use crate::graph::{ResourceGraph, ResourceNode};
use crate::policy_lint;
use crate::provider::{ResourceSchema, SchemaSource};
use crate::source::SourceFile;
use crate::spec::{self, StackSpec};

mod boundary;
mod components;
mod edges;
mod env_vars;
mod eval;
mod expand;
#[cfg(test)]
mod fixture;
mod grants;
mod graph;
mod outputs;
mod policy;
mod props;
mod resources;
mod scope;
mod tags;

use eval::{eval_node, eval_tree};
use expand::{Expansion, Instance};
use props::compile_props;
pub use scope::longest_address;
use scope::{BaseScope, RefTable};

/// What varies between runs of the same stack file.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    pub env: String,
    /// `--var name=value` overrides, as text (typed by the var's declared type).
    pub var_overrides: BTreeMap<String, String>,
    /// The caller's account, when known (from STS); the env's declared `account_id` wins.
    pub caller_account: Option<String>,
}

/// Kinds whose deletion loses data; an environment with `protect: true` guards them.
pub const STATEFUL_KINDS: &[&str] = &["aws.kms.key", "aws.s3.bucket", "aws.sqs.queue", "aws.rds.instance", "aws.eks.cluster"];

/// Parses, reads and compiles a stack file (`pipeline::load`, then `Loaded::compile`). All problems found are returned together.
pub fn compile_source(file: &SourceFile, opts: &CompileOptions, schemas: &dyn SchemaSource) -> Result<(ResourceGraph, Diagnostics), Diagnostics> {
    crate::pipeline::load(file.clone())?.compile(opts, schemas)
}

/// One step of compiling. A pass reads what the passes before it made (in [`Compilation`]) and
/// adds to it, reporting problems as located diagnostics; a new check or transformation is a new
/// module and one line in [`PASSES`]. In the spirit of OpenTofu's graph transformers.
struct Pass {
    name: &'static str,
    run: fn(&mut Compilation<'_>),
}

/// The passes `compile` runs, in order.
const PASSES: &[Pass] = &[
    Pass { name: "env-vars", run: env_vars::run },
    Pass { name: "expand", run: expand::run },
    Pass { name: "components", run: components::run },
    Pass { name: "resources", run: resources::run },
    Pass { name: "tags", run: tags::run },
    Pass { name: "edges", run: edges::run },
    Pass { name: "typecheck", run: |c| crate::typecheck::check(c.spec, &c.nodes, c.schemas, c.diags) },
    Pass { name: "names", run: |c| crate::names::check(&c.nodes, c.schemas, c.diags) },
    Pass { name: "sensitive", run: |c| crate::sensitive::seal(&mut c.nodes, &c.file.name, c.diags) },
    Pass { name: "boundary", run: boundary::run },
    Pass { name: "grants", run: grants::run },
    Pass { name: "policy", run: policy::run },
    Pass { name: "outputs", run: outputs::run },
    Pass { name: "graph", run: graph::assemble },
    Pass { name: "wiring", run: |c| crate::wiring::apply(&mut c.graph, c.diags) },
    Pass { name: "dag", run: graph::check_dag },
];

/// What the passes share: the inputs, and everything made so far.
struct Compilation<'s> {
    spec: &'s StackSpec,
    file: &'s SourceFile,
    opts: &'s CompileOptions,
    schemas: &'s dyn SchemaSource,
    diags: &'s mut Diagnostics,
    /// `env-vars`: the environment, vars, region and account.
    resolved: Resolved<'s>,
    /// `expand` and `components`: the instances and what references may name.
    table: Table<'s>,
    /// `resources` (and every pass after it, until `graph` moves them into the graph).
    nodes: BTreeMap<String, ResourceNode>,
    /// `resources`: the addresses of component parts, whose edges come from `edges`.
    part_nodes: Vec<String>,
    /// `resources`: the nodes each instance (by index into `table.instances`) made, for `tags`.
    made: Vec<(usize, Vec<components::Made>)>,
    /// `boundary`: roles the permissions boundary could not be put on, for `policy`.
    boundary_findings: Vec<policy_lint::Finding>,
    /// `outputs`.
    outputs: BTreeMap<String, Value>,
    /// `graph`: the result; the passes after it check the whole graph.
    graph: ResourceGraph,
}

/// What is known before any resource exists.
#[derive(Default)]
struct Resolved<'s> {
    env: Option<&'s spec::EnvSpec>,
    vars: BTreeMap<String, Value>,
    region: String,
    account_id: Option<String>,
}

impl Resolved<'_> {
    /// The scope of vars and builtins (`env`, `region`, `stack`, `account_id`).
    fn base<'a>(&'a self, spec: &'a StackSpec, opts: &'a CompileOptions) -> BaseScope<'a> {
        BaseScope {
            vars: &self.vars,
            declared: &spec.vars,
            env: &opts.env,
            region: &self.region,
            stack: &spec.stack.value,
            account_id: self.account_id.as_deref(),
        }
    }
}

/// Every instance, and the names a reference may resolve to.
#[derive(Default)]
struct Table<'s> {
    expansions: BTreeMap<&'s str, Expansion>,
    instances: Vec<Instance<'s>>,
    kinds: BTreeMap<&'s str, Option<&'static ResourceSchema>>,
    /// Component parts by full address, with their kinds.
    parts: BTreeMap<String, &'static str>,
    /// Component outputs by component address.
    component_outputs: BTreeMap<String, BTreeMap<String, Value>>,
}

impl Table<'_> {
    fn refs<'a>(&'a self, schemas: &'a dyn SchemaSource) -> RefTable<'a> {
        RefTable { expansions: &self.expansions, kinds: &self.kinds, parts: &self.parts, outputs: &self.component_outputs, schemas }
    }
}

impl<'s> Compilation<'s> {
    fn new(spec: &'s StackSpec, file: &'s SourceFile, opts: &'s CompileOptions, schemas: &'s dyn SchemaSource, diags: &'s mut Diagnostics) -> Self {
        let graph = ResourceGraph {
            stack: spec.stack.value.clone(),
            env: opts.env.clone(),
            region: String::new(),
            account_id: None,
            nodes: BTreeMap::new(),
            outputs: BTreeMap::new(),
            vars: BTreeMap::new(),
            exceptions: vec![],
            moved: vec![],
        };
        Compilation {
            spec,
            file,
            opts,
            schemas,
            diags,
            resolved: Resolved::default(),
            table: Table::default(),
            nodes: BTreeMap::new(),
            part_nodes: vec![],
            made: vec![],
            boundary_findings: vec![],
            outputs: BTreeMap::new(),
            graph,
        }
    }
}

/// Compiles a read stack for one environment by running [`PASSES`] in order.
pub fn compile(spec: &StackSpec, file: &SourceFile, opts: &CompileOptions, schemas: &dyn SchemaSource, diags: &mut Diagnostics) -> ResourceGraph {
    let mut c = Compilation::new(spec, file, opts, schemas, diags);
    for pass in PASSES {
        tracing::trace!(pass = pass.name, "compile pass");
        (pass.run)(&mut c);
    }
    c.graph
}

/// The physical name given to a resource that does not set one: `stack-env-address`, lowercase.
pub fn default_name(stack: &str, env: &str, address: &str) -> String {
    let raw = format!("{stack}-{env}-{address}");
    let mut name: String = raw
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            '_' | '.' | '[' => Some('-'),
            _ => None,
        })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_end_matches('-').to_string();
    // 63 fits S3 bucket names and is under the IAM/SQS/SNS limits; keep it unique with a hash.
    if name.len() > 63 {
        let hash = fnv1a(&raw);
        format!("{}-{:08x}", &name[..54], hash as u32)
    } else {
        name
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_have_unique_names_and_run_in_dependency_order() {
        let names: Vec<&str> = PASSES.iter().map(|p| p.name).collect();
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let at = |n: &str| names.iter().position(|x| *x == n).unwrap_or_else(|| panic!("no pass {n}"));
        // Each pass reads what the one before it made.
        for (before, after) in
            [("env-vars", "expand"), ("expand", "components"), ("components", "resources"), ("resources", "tags"), ("grants", "policy"), ("graph", "dag")]
        {
            assert!(at(before) < at(after), "{before} must run before {after}: {names:?}");
        }
        assert_eq!(names.last(), Some(&"dag"), "the DAG check sees every edge");
    }

    #[test]
    fn default_names_are_valid_and_bounded() {
        assert_eq!(default_name("platform", "dev", "orders_dlq"), "platform-dev-orders-dlq");
        assert_eq!(default_name("p", "dev", "subnet[\"a\"]"), "p-dev-subnet-a");
        assert_eq!(default_name("p", "dev", "subnet[0]"), "p-dev-subnet-0");
        let long = default_name("platform", "staging", &"x".repeat(80));
        assert_eq!(long.len(), 63);
        assert_ne!(long, default_name("platform", "staging", &"x".repeat(81)));
    }
}
