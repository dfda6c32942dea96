//! The run pipeline every command and the engine's tests go through: load → compile → reconcile → refresh → plan → apply.
//!
//! Each stage is a function of the one before: `load` parses a stack file once into a
//! [`Loaded`] (the `StackSpec`, its `state:` backend and the reading diagnostics), which
//! compiles for any environment; [`Run::plan`] reconciles, snapshots, refreshes and plans
//! under a lock the caller holds; [`Run::apply`] executes a plan. The stages return data and
//! report nothing themselves: the binary prints, the tests assert. The cloud and the state
//! come in as the `Registry` and `StateStore` trait objects, so no SDK or database is named here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::apply::{ApplyError, ApplyObserver, ApplyOptions, ApplyReport, RetryPolicy};
use crate::compile::{compile, CompileOptions};
use crate::diag::Diagnostics;
use crate::graph::ResourceGraph;
use crate::plan::{Plan, PlanError, PlanInput, PlanMode};
use crate::provider::{Observed, Registry, SchemaSource};
use crate::refresh::{reconcile, refresh, Reconciled, RefreshError, RefreshStats};
use crate::source::SourceFile;
use crate::spec::{self, StackSpec, StateSpec};
use crate::state::{StateError, StateStore};
use crate::yaml::Node;

/// A stack file read and parsed once: what every later stage of a command works from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: SourceFile,
    /// The environments as the file lists them (the spec keeps them sorted). The YAML tree
    /// itself is dropped once read: the spec holds what compiling needs, and keeping both
    /// doubled what a loaded stack costs.
    environments: Vec<String>,
    pub spec: StackSpec,
    /// What reading the structure found (errors included): compiling reports them with its own.
    pub diags: Diagnostics,
    /// Problems in the `state:` block alone: they stop a state-only command, the rest do not.
    state_diags: Diagnostics,
}

/// Parses a stack file and reads its structure. Fails only when the file is not YAML or too
/// broken to name its stack; every other problem waits in `Loaded::diags` for `compile`.
pub fn load(file: SourceFile) -> Result<Loaded, Diagnostics> {
    let root = crate::yaml::parse(&file.text).map_err(Diagnostics)?;
    // Read apart from the rest so that `state list` on a stack with a typo in a resource still works.
    let mut state_diags = Diagnostics::default();
    spec::read_state(&root, &mut state_diags);
    let environments = environment_names(&root);
    let mut diags = Diagnostics::default();
    let Some(spec) = spec::read_stack_owned(root, &mut diags) else { return Err(diags.sorted()) };
    Ok(Loaded { file, environments, spec, diags, state_diags: state_diags.sorted() })
}

impl Loaded {
    /// Compiles the stack for one environment. All problems found are returned together.
    pub fn compile(&self, opts: &CompileOptions, schemas: &dyn SchemaSource) -> Result<(ResourceGraph, Diagnostics), Diagnostics> {
        let mut diags = self.diags.clone();
        let graph = compile(&self.spec, &self.file, opts, schemas, &mut diags);
        if diags.has_errors() {
            return Err(diags.sorted());
        }
        Ok((graph, diags.sorted()))
    }

    /// The stack's `state:` block, or its located problems.
    pub fn state(&self) -> Result<Option<&StateSpec>, &Diagnostics> {
        if self.state_diags.has_errors() {
            return Err(&self.state_diags);
        }
        Ok(self.spec.state.as_ref())
    }

    /// The environments the stack declares, in the order the file lists them.
    pub fn environment_names(&self) -> Vec<String> {
        self.environments.clone()
    }
}

fn environment_names(root: &Node) -> Vec<String> {
    root.get("environments").and_then(|e| e.as_map()).map(|m| m.iter().map(|(k, _)| k.key_text()).collect()).unwrap_or_default()
}

/// What `plan` is asked for beyond the graph.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub mode: PlanMode,
    /// Read what AWS holds now; without it the plan compares against state alone.
    pub refresh: bool,
    /// Addresses the user allows to be deleted or replaced despite `protect`.
    pub allow_destroy: BTreeSet<String>,
}

impl PlanRequest {
    /// A refreshed plan in `mode` that destroys nothing protected.
    pub fn new(mode: PlanMode) -> PlanRequest {
        PlanRequest { mode, refresh: true, allow_destroy: BTreeSet::new() }
    }
}

/// A plan and what was done to make it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub plan: Plan,
    /// Journal rows an interrupted run left open, and how each was settled.
    pub reconciled: Vec<Reconciled>,
    /// What the refresh read, by address (`None`: gone from AWS); empty without refresh.
    pub observed: BTreeMap<String, Option<Observed>>,
    pub refresh: RefreshStats,
}

/// Why a plan could not be made; the texts are what the binary shows.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("reconciling an interrupted run: {0}")]
    Reconcile(RefreshError),
    #[error("reading state: {0}")]
    State(StateError),
    #[error("refreshing from AWS: {0}")]
    Refresh(RefreshError),
    #[error("cannot plan:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Plan(Vec<PlanError>),
    #[error("an earlier run was interrupted and left operations to reconcile; run `cairn plan` again and apply the new plan")]
    Unsettled,
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// One stack environment's world for a run: the kinds that reach the cloud and the state.
/// The caller holds the state lock for as long as it plans and applies.
pub struct Run<'a> {
    pub registry: &'a Registry,
    pub store: Arc<dyn StateStore>,
    /// How reconciliation looks again for what an interrupted create may have made.
    pub retry: RetryPolicy,
}

impl Run<'_> {
    /// Reconcile → snapshot → refresh → plan. A pure function of the graph and what state and
    /// the cloud hold, once open journal rows are settled.
    pub async fn plan(&self, graph: &ResourceGraph, req: &PlanRequest) -> Result<Planned, RunError> {
        let reconciled = reconcile(self.store.as_ref(), self.registry, Some(graph), &self.retry).await.map_err(RunError::Reconcile)?;
        let snapshot = self.store.snapshot().await.map_err(RunError::State)?;
        let (observed, stats) = if req.refresh { refresh(&snapshot, self.registry).await.map_err(RunError::Refresh)? } else { Default::default() };
        tracing::debug!(resources = stats.resources, batches = stats.batches, "refresh complete");
        let input = PlanInput { graph, snapshot: &snapshot, observed: &observed, schemas: self.registry, mode: req.mode, allow_destroy: &req.allow_destroy };
        let plan = crate::plan::plan(&input).map_err(RunError::Plan)?;
        Ok(Planned { plan, reconciled, observed, refresh: stats })
    }

    /// Executes a plan made by `plan`, in this run or saved earlier (refused if state moved since).
    pub async fn apply(&self, plan: &Plan, opts: ApplyOptions, observer: &dyn ApplyObserver) -> Result<ApplyReport, ApplyError> {
        crate::apply::apply(plan, self.registry, self.store.clone(), opts, observer).await
    }

    /// A saved plan is applied only when no interrupted run awaits reconciliation: settling it
    /// may change what the plan should have been.
    pub async fn check_settled(&self) -> Result<(), RunError> {
        if self.store.open_ops().await.map_err(RunError::State)?.is_empty() {
            Ok(())
        } else {
            Err(RunError::Unsettled)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::Silent;
    use crate::plan::Action;
    use crate::testkit::Harness;

    const STACK: &str = "stack: s\nenvironments: { dev: {}, ab: {} }\nstate:\n  s3: { bucket: b }\nresources:\n  q:\n    type: fake.queue\n";

    #[test]
    fn load_parses_once_and_compiles_for_each_environment() {
        let loaded = load(SourceFile::new("stack.yaml", STACK)).expect("loads");
        assert_eq!(loaded.environment_names(), vec!["dev".to_string(), "ab".to_string()]);
        assert_eq!(loaded.state().ok().flatten().and_then(|s| s.s3.as_ref()).map(|s| s.bucket.value.as_str()), Some("b"));
        let h = Harness::new();
        for env in ["dev", "ab"] {
            let (graph, _) = loaded.compile(&CompileOptions { env: env.into(), ..Default::default() }, &h.registry).expect("compiles");
            assert_eq!(graph.env, env);
            assert!(graph.nodes.contains_key("q"));
        }
    }

    #[test]
    fn reading_errors_surface_at_compile_and_state_errors_alone_at_state() {
        let src = "stack: s\nstate: { s3: { buckt: b } }\nresources:\n  q: { type: fake.queue, prop: 1 }\n";
        let loaded = load(SourceFile::new("stack.yaml", src)).expect("loads");
        let errs = loaded.compile(&CompileOptions { env: "dev".into(), ..Default::default() }, &Harness::new().registry).expect_err("refused");
        let codes: Vec<(usize, &str)> = errs.0.iter().map(|d| (d.span.map_or(0, |s| s.line), d.code)).collect();
        assert_eq!(codes, vec![(2, "missing-key"), (2, "unknown-key"), (4, "unknown-key")]);
        let state = loaded.state().expect_err("state block refused");
        assert_eq!(state.0.iter().map(|d| d.code).collect::<Vec<_>>(), vec!["missing-key", "unknown-key"]);
    }

    #[test]
    fn a_file_too_broken_to_name_its_stack_does_not_load() {
        let errs = load(SourceFile::new("stack.yaml", "resources: {}\n")).expect_err("no stack name");
        assert_eq!(errs.0[0].code, "missing-key");
        let errs = load(SourceFile::new("stack.yaml", "a: [1\n")).expect_err("not yaml");
        assert_eq!(errs.0[0].code, "yaml");
    }

    #[tokio::test]
    async fn plan_then_apply_then_plan_again_converges() {
        let h = Harness::new();
        let graph = h.compile(STACK, "dev");
        let run = h.run();
        let planned = run.plan(&graph, &PlanRequest::new(PlanMode::Apply)).await.expect("plans");
        assert_eq!(planned.plan.action("q").map(|a| a.action), Some(Action::Create));
        let (_cancel, rx) = tokio::sync::watch::channel(false);
        let report = run.apply(&planned.plan, Harness::options(2, rx), &Silent).await.expect("applies");
        assert!(report.succeeded());
        run.check_settled().await.expect("nothing left open");
        let again = run.plan(&graph, &PlanRequest::new(PlanMode::Apply)).await.expect("plans");
        assert!(!again.plan.has_changes());
        assert_eq!(again.refresh.resources, 1);
        let offline = run.plan(&graph, &PlanRequest { refresh: false, ..PlanRequest::new(PlanMode::Apply) }).await.expect("plans");
        assert!(offline.observed.is_empty() && offline.refresh.resources == 0);
    }
}
