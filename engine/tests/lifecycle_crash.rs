//! A run that dies after any number of state writes, then a fresh run: the cloud ends up
//! holding exactly the declared resources, state knows each, and a re-plan is a no-op.
//! Covers create, update, delete, both replace orders, a `type:` change and `moved`.

mod common;

use std::collections::BTreeSet;

use cairn_engine::graph::ResourceGraph;
use cairn_engine::state::StateStore;
use cairn_engine::testkit::Harness;
use common::{assert_noop, compile_vars, CBD, SHOP};
use tokio::sync::watch;

/// `thing` as a queue; `RETYPED` makes it a key.
const RETYPE: &str = r#"
stack: shop
environments:
  dev: {}
resources:
  thing:
    type: fake.queue
"#;

const RETYPED: &str = r#"
stack: shop
environments:
  dev: {}
resources:
  thing:
    type: fake.key
"#;

const MOVED_BEFORE: &str = r#"
stack: shop
environments:
  dev: {}
resources:
  key:
    type: fake.key
"#;

const MOVED_AFTER: &str = r#"
stack: shop
environments:
  dev: {}
moved:
  - { from: key, to: vault }
resources:
  vault:
    type: fake.key
"#;

/// One change to make from a converged starting point.
struct Scenario {
    name: &'static str,
    before: Option<(&'static str, Vec<(&'static str, &'static str)>)>,
    after: (&'static str, Vec<(&'static str, &'static str)>),
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario { name: "create", before: None, after: (SHOP, vec![]) },
        Scenario { name: "update", before: Some((SHOP, vec![])), after: (SHOP, vec![("visibility", "60")]) },
        Scenario { name: "delete", before: Some((SHOP, vec![])), after: (MOVED_BEFORE, vec![]) },
        Scenario { name: "replace delete-first", before: Some((SHOP, vec![])), after: (SHOP, vec![("spec", "RSA_2048")]) },
        Scenario { name: "replace create-first", before: Some((CBD, vec![])), after: (CBD, vec![("spec", "RSA_2048"), ("dlq_name", "dlq-b")]) },
        Scenario { name: "type change", before: Some((RETYPE, vec![])), after: (RETYPED, vec![]) },
        Scenario { name: "moved", before: Some((MOVED_BEFORE, vec![])), after: (MOVED_AFTER, vec![]) },
    ]
}

fn graph(h: &Harness, (yaml, vars): &(&str, Vec<(&str, &str)>)) -> ResourceGraph {
    compile_vars(h, yaml, vars)
}

/// A harness converged on the scenario's starting point.
async fn start(s: &Scenario) -> Harness {
    let h = Harness::new();
    if let Some(before) = &s.before {
        let (_, report) = h.converge(&graph(&h, before)).await;
        assert!(report.succeeded(), "{}: setup failed: {report:#?}", s.name);
    }
    h
}

/// The cloud holds one resource per declared address and nothing else; state records exactly those, with the cloud's ids.
async fn assert_converged(h: &Harness, g: &ResourceGraph, context: &str) {
    let declared: BTreeSet<String> = g.nodes.keys().cloned().collect();
    let cloud = h.cloud.resources();
    let mut held: Vec<String> = cloud.iter().map(|r| r.address.clone()).collect();
    held.sort();
    // `moved` keeps the resource but its creation-time address: compare by state instead.
    let snapshot = h.snapshot().await;
    let recorded: BTreeSet<String> = snapshot.resources.keys().cloned().collect();
    assert_eq!(recorded, declared, "{context}: state records other addresses");
    assert_eq!(cloud.len(), declared.len(), "{context}: cloud holds {held:?}");
    for (addr, r) in &snapshot.resources {
        let node = &g.nodes[addr];
        let live = cloud.iter().find(|c| c.id == r.id).unwrap_or_else(|| panic!("{context}: {addr} records {} which does not exist", r.id));
        assert_eq!(live.kind, node.kind, "{context}: {addr} is of the wrong kind");
    }
    assert!(h.store.open_ops().await.expect("open ops").is_empty(), "{context}: open journal rows");
    assert_noop(&h.plan(g).await);
}

#[tokio::test]
async fn a_crash_after_any_state_write_converges_on_the_next_run() {
    for s in scenarios() {
        // How many writes the undisturbed change makes.
        let clean = start(&s).await;
        let target = graph(&clean, &s.after);
        let before = clean.store.writes();
        let plan = clean.plan(&target).await;
        assert!(plan.has_changes(), "{}: nothing to do", s.name);
        assert!(clean.apply(&plan).await.succeeded(), "{}", s.name);
        assert_converged(&clean, &target, s.name).await;
        let total = clean.store.writes() - before;
        assert!(total >= 2, "{}: only {total} writes", s.name);

        for (n, dies) in (0..total).flat_map(|n| [(n, false), (n, true)]) {
            let h = start(&s).await;
            let target = graph(&h, &s.after);
            let plan = h.plan(&target).await;
            if dies {
                // Dies right after write n: the cloud call that write announced never happens.
                h.store.die_after_writes(n, &h.cloud);
            } else {
                // The call after write n lands, but its result is never recorded.
                h.store.crash_after_writes(n);
            }
            let (_cancel, rx) = watch::channel(false);
            // The dying run's own result is beside the point: only what it left behind matters.
            let _ = h.apply_with(&plan, Harness::options(1, rx), &cairn_engine::testkit::EventLog::default()).await;
            h.store.restart();
            let context = format!("{} crashing after write {n} of {total} (cloud halted: {dies})", s.name);
            let (_, report) = h.converge(&target).await;
            assert!(report.succeeded(), "{context}: the next run failed: {report:#?}");
            assert_converged(&h, &target, &context).await;
        }
    }
}
