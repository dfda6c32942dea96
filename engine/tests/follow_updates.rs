//! A resource whose property follows another's (`${cluster.version}` on a node group) is updated after it: the plan
//! shows both updates, and the applier runs the followed one first.

mod common;

use cairn_engine::plan::{Action, Change};
use cairn_engine::provider::Operation;
use cairn_engine::testkit::Harness;
use common::{assert_noop, compile_vars};
use serde_json::json;

/// `control` stands for the EKS control plane, `nodes` for a node group that follows its version.
const FOLLOW: &str = r#"
stack: shop
environments:
  dev: {}
vars:
  version: 30
resources:
  control:
    type: fake.queue
    props:
      visibility: ${var.version}
  nodes:
    type: fake.queue
    props:
      visibility: ${control.visibility}
"#;

#[tokio::test]
async fn an_upgrade_plans_both_updates_and_applies_the_followed_one_first() {
    let h = Harness::new();
    h.converge(&h.compile(FOLLOW, "dev")).await;
    h.cloud.clear_calls();

    let graph = compile_vars(&h, FOLLOW, &[("version", "31")]);
    let plan = h.plan(&graph).await;
    for address in ["control", "nodes"] {
        let a = plan.action(address).unwrap_or_else(|| panic!("{address} planned"));
        assert_eq!(a.action, Action::Update, "{address}");
        assert_eq!(a.changes, [Change { path: "visibility".into(), before: Some(json!(30)), after: Some(json!(31)), forces_replacement: false }], "{address}");
    }
    assert_eq!(plan.action("nodes").map(|a| a.deps.clone()), Some(vec!["control".to_string()]), "the reference is the edge");

    assert!(h.apply(&plan).await.succeeded());
    let updates: Vec<String> = h.cloud.calls().iter().filter(|c| c.op == Operation::Update).map(|c| c.target.clone()).collect();
    assert_eq!(updates.len(), 2, "{updates:?}");
    assert!(updates[0].contains("control") && updates[1].contains("nodes"), "control first: {updates:?}");
    assert_noop(&h.plan(&graph).await);
}
