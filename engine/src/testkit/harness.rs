//! `Harness`: runs stacks through the binary's own pipeline (`crate::pipeline`: load, compile, reconcile, refresh, plan, apply) against a `FakeCloud` and a `MemoryStore`.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::cloud::FakeCloud;
use super::memory_store::MemoryStore;
use crate::apply::{ApplyError, ApplyEvent, ApplyObserver, ApplyOptions, ApplyReport, RetryPolicy, DEFAULT_PARALLELISM};
use crate::compile::CompileOptions;
use crate::graph::ResourceGraph;
pub use crate::pipeline::Planned;
use crate::pipeline::{self, PlanRequest, Run, RunError};
use crate::plan::{Plan, PlanError, PlanMode};
use crate::provider::Registry;
use crate::source::SourceFile;
use crate::state::Snapshot;

/// The lineage every harness store starts with.
pub const LINEAGE: &str = "lineage-test";

/// A fake cloud, its registry and a state store: one stack's world.
pub struct Harness {
    pub cloud: FakeCloud,
    pub registry: Registry,
    pub store: Arc<MemoryStore>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Harness {
        let cloud = FakeCloud::new();
        Harness { registry: cloud.registry(), cloud, store: Arc::new(MemoryStore::new(LINEAGE)) }
    }

    /// Compiles a stack for `env`; panics with the rendered diagnostics if it does not compile.
    pub fn compile(&self, yaml: &str, env: &str) -> ResourceGraph {
        self.compile_with(yaml, &CompileOptions { env: env.into(), ..CompileOptions::default() })
            .unwrap_or_else(|rendered| panic!("stack does not compile:\n{rendered}"))
    }

    /// Compiles a stack, returning the rendered diagnostics on failure.
    pub fn compile_with(&self, yaml: &str, opts: &CompileOptions) -> Result<ResourceGraph, String> {
        let file = SourceFile::new("stack.yaml", yaml);
        let loaded = pipeline::load(file.clone()).map_err(|d| d.render(&file))?;
        loaded.compile(opts, &self.registry).map(|(g, _)| g).map_err(|d| d.render(&file))
    }

    /// The pipeline's run over this harness's cloud and store; retries do not wait.
    pub fn run(&self) -> Run<'_> {
        Run { registry: &self.registry, store: self.store.clone(), retry: RetryPolicy::immediate() }
    }

    /// Reconcile, snapshot, refresh and plan through the pipeline, as `cairn plan` does.
    pub async fn try_plan(&self, graph: &ResourceGraph, mode: PlanMode, allow_destroy: &[&str]) -> Result<Planned, Vec<PlanError>> {
        let req = PlanRequest { allow_destroy: allow_destroy.iter().map(|s| s.to_string()).collect(), ..PlanRequest::new(mode) };
        match self.run().plan(graph, &req).await {
            Ok(planned) => Ok(planned),
            Err(RunError::Plan(errs)) => Err(errs),
            Err(e) => panic!("{e}"),
        }
    }

    /// An apply-mode plan; panics if planning fails.
    pub async fn plan(&self, graph: &ResourceGraph) -> Plan {
        self.try_plan(graph, PlanMode::Apply, &[]).await.unwrap_or_else(|e| panic!("cannot plan: {e:?}")).plan
    }

    /// Applies with the default parallelism and no cancellation.
    pub async fn apply(&self, plan: &Plan) -> ApplyReport {
        let (_cancel, rx) = watch::channel(false);
        self.apply_with(plan, Self::options(DEFAULT_PARALLELISM, rx), &EventLog::default()).await.expect("apply")
    }

    /// Apply options for tests: retries without waiting, a lock that cannot be lost.
    pub fn options(parallelism: usize, cancel: watch::Receiver<bool>) -> ApplyOptions {
        ApplyOptions { retry: RetryPolicy::immediate(), ..ApplyOptions::new(parallelism, cancel) }
    }

    pub async fn apply_with(&self, plan: &Plan, opts: ApplyOptions, observer: &dyn ApplyObserver) -> Result<ApplyReport, ApplyError> {
        self.run().apply(plan, opts, observer).await
    }

    /// Plans and applies once; returns both.
    pub async fn converge(&self, graph: &ResourceGraph) -> (Plan, ApplyReport) {
        let plan = self.plan(graph).await;
        let report = self.apply(&plan).await;
        (plan, report)
    }

    pub async fn snapshot(&self) -> Snapshot {
        crate::state::StateStore::snapshot(self.store.as_ref()).await.expect("snapshot")
    }
}

/// An observer that keeps every event and lets a test wait for one.
#[derive(Default)]
pub struct EventLog {
    events: Mutex<Vec<ApplyEvent>>,
    count: watch::Sender<usize>,
}

impl EventLog {
    pub fn events(&self) -> Vec<ApplyEvent> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits until an event satisfying `f` has been seen.
    pub async fn wait_for(&self, f: impl Fn(&ApplyEvent) -> bool) {
        let mut rx = self.count.subscribe();
        loop {
            if self.events().iter().any(&f) {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

impl ApplyObserver for EventLog {
    fn event(&self, event: ApplyEvent) {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).push(event);
        self.count.send_modify(|n| *n += 1);
    }
}
