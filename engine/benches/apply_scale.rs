//! Apply benchmark: the applier's own cost on plans of 10k and 100k actions against the fake cloud with zero latency.
//!
//! Three shapes: independent creates, a chain of creates (each waits on the one before), and the
//! destroy of that chain (deletes ordered by recorded dependencies). Every call returns at once,
//! so what is measured is scheduling, journaling and bookkeeping; a linear applier grows about
//! 10x from 10k to 100k actions (the goal is at most 12x), where one that rescans every pending
//! action after each finish grows 100x.
//!
//! `cargo bench -p cairn-engine --bench apply_scale` runs 10k and 100k (or the sizes in
//! `CAIRN_APPLY_SIZES=1000,10000`) and prints medians and the growth ratio per shape. Under
//! `cargo test` (no `--bench` argument) it runs 1k once, so CI keeps it compiling and correct.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cairn_engine::apply::{ApplyReport, Outcome, Silent, DEFAULT_PARALLELISM};
use cairn_engine::plan::{Action, DesiredResource, Plan, PlanMode, PlannedAction, Summary, PLAN_FORMAT};
use cairn_engine::provider::{Owner, Props, Tags};
use cairn_engine::testkit::{Harness, LINEAGE};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Independent,
    Chained,
    /// The destroy of a chain applied just before (not timed).
    DestroyChain,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Independent => "independent creates",
            Shape::Chained => "chained creates",
            Shape::DestroyChain => "destroy of the chain",
        }
    }
}

fn address(i: usize) -> String {
    format!("q{i:06}")
}

fn plan(mode: PlanMode, serial: u64, actions: Vec<PlannedAction>) -> Plan {
    let count = actions.len();
    let summary = if mode == PlanMode::Destroy { Summary { destroy: count, ..Summary::default() } } else { Summary { add: count, ..Summary::default() } };
    Plan {
        format_version: PLAN_FORMAT,
        stack: "bench".into(),
        env: "dev".into(),
        region: "us-east-1".into(),
        account_id: None,
        mode,
        lineage: LINEAGE.into(),
        serial,
        actions,
        drift: vec![],
        moved: vec![],
        outputs: BTreeMap::new(),
        exceptions: vec![],
        summary,
        backend: None,
    }
}

/// `n` creates of fake queues; chained, each depends on the one before.
fn creates(n: usize, chained: bool) -> Plan {
    let actions = (0..n)
        .map(|i| {
            let owner = Owner { stack: "bench".into(), env: "dev".into(), address: address(i) };
            PlannedAction {
                address: address(i),
                kind: "fake.queue".into(),
                action: Action::Create,
                reasons: vec![],
                id: None,
                desired: Some(DesiredResource { props: Props::new(), tags: Tags::new(), default_name: format!("bench-dev-{}", address(i)), owner }),
                changes: vec![],
                deps: if chained && i > 0 { vec![address(i - 1)] } else { vec![] },
                replace_order: None,
                replaced_kind: None,
            }
        })
        .collect();
    plan(PlanMode::Apply, 0, actions)
}

/// Deletes of everything the harness's state records, with the recorded dependencies.
async fn destroy_all(h: &Harness) -> Plan {
    let snapshot = h.snapshot().await;
    let actions = snapshot
        .resources
        .values()
        .map(|r| PlannedAction {
            address: r.address.clone(),
            kind: r.kind.clone(),
            action: Action::Delete,
            reasons: vec![],
            id: Some(r.id.clone()),
            desired: None,
            changes: vec![],
            deps: r.deps.clone(),
            replace_order: None,
            replaced_kind: None,
        })
        .collect();
    plan(PlanMode::Destroy, snapshot.serial, actions)
}

async fn apply(h: &Harness, plan: &Plan) -> ApplyReport {
    let (_cancel, rx) = watch::channel(false);
    h.apply_with(plan, Harness::options(DEFAULT_PARALLELISM, rx), &Silent).await.expect("apply")
}

fn check(report: &ApplyReport, n: usize, what: &str) {
    assert_eq!(report.outcomes.len(), n, "{what}");
    assert_eq!(report.count(|o| matches!(o, Outcome::Done { .. })), n, "{what}: every action done");
}

/// One timed apply of `shape` at `n` actions on a fresh harness.
async fn once(shape: Shape, n: usize) -> Duration {
    let h = Harness::new();
    let plan = match shape {
        Shape::Independent => creates(n, false),
        Shape::Chained => creates(n, true),
        Shape::DestroyChain => {
            check(&apply(&h, &creates(n, true)).await, n, "setup");
            destroy_all(&h).await
        }
    };
    let started = Instant::now();
    let report = apply(&h, &plan).await;
    let elapsed = started.elapsed();
    check(&report, n, shape.name());
    if shape == Shape::DestroyChain {
        assert!(h.snapshot().await.resources.is_empty(), "the destroy left resources in state");
    }
    elapsed
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` does not: then one quick round at 1k.
    let bench = std::env::args().any(|a| a == "--bench");
    let mut sizes = if bench { vec![10_000, 100_000] } else { vec![1_000] };
    if let Some(list) = std::env::var("CAIRN_APPLY_SIZES").ok().filter(|_| bench) {
        sizes = list.split(',').filter_map(|s| s.trim().parse().ok()).collect();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    for shape in [Shape::Independent, Shape::Chained, Shape::DestroyChain] {
        let mut medians: Vec<(usize, Duration)> = vec![];
        for &n in &sizes {
            let rounds = if !bench {
                1
            } else if n >= 100_000 {
                3
            } else {
                5
            };
            let runs: Vec<Duration> = (0..rounds).map(|_| runtime.block_on(once(shape, n))).collect();
            let m = median(runs.clone());
            let each: Vec<String> = runs.iter().map(|d| format!("{:.0}", ms(*d))).collect();
            println!(
                "apply {:<22} {n:>7} actions: median {:>9.1} ms ({:.2} µs/action; runs {} ms)",
                shape.name(),
                ms(m),
                ms(m) * 1000.0 / n as f64,
                each.join(", ")
            );
            medians.push((n, m));
        }
        for pair in medians.windows(2) {
            let ((a, ta), (b, tb)) = (pair[0], pair[1]);
            let ratio = tb.as_secs_f64() / ta.as_secs_f64().max(1e-9);
            let linear = b as f64 / a as f64;
            println!("apply {:<22} {b}/{a}: {ratio:.1}x (linear is {linear:.0}x; goal <= {:.0}x)", shape.name(), linear * 1.2);
        }
    }
}
