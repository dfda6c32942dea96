//! Lifecycle tests: stacks of fake kinds taken through create, no-op, update, replace, delete and destroy.

mod common;

use cairn_engine::apply::{ApplyError, Outcome};
use cairn_engine::expr;
use cairn_engine::plan::{Action, Change, PlanError, PlanMode, ReplaceOrder};
use cairn_engine::provider::Operation;
use cairn_engine::state::{JournalAction, StateStore};
use cairn_engine::testkit::{Call, EventLog, Harness, JournalStatus, LINEAGE};
use common::{action, assert_noop, compile_vars, SHOP};
use serde_json::{json, Value};
use tokio::sync::watch;

/// Mutating calls (create, update, delete) in order, as (op, target).
fn mutations(calls: &[Call]) -> Vec<(Operation, String)> {
    calls.iter().filter(|c| c.op != Operation::Read).map(|c| (c.op, c.target.clone())).collect()
}

fn position(calls: &[(Operation, String)], op: Operation, target: &str) -> usize {
    calls.iter().position(|(o, t)| *o == op && t == target).unwrap_or_else(|| panic!("no {op:?} {target} in {calls:?}"))
}

#[tokio::test]
async fn create_builds_everything_with_merged_tags_and_outputs() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    let (plan, report) = h.converge(&graph).await;
    assert!(plan.actions.iter().all(|a| a.action == Action::Create), "{plan:#?}");
    assert_eq!((plan.summary.add, plan.summary.change, plan.summary.destroy), (4, 0, 0));
    assert!(report.succeeded(), "{report:#?}");

    assert_eq!((h.cloud.count("fake.queue"), h.cloud.count("fake.key"), h.cloud.count("fake.grant")), (2, 1, 1));
    let orders = h.cloud.resource("orders").expect("orders exists");
    let want_tags = [("Component", "orders"), ("Env", "dev"), ("Team", "core"), ("cairn:address", "orders"), ("cairn:env", "dev"), ("cairn:stack", "shop")];
    assert_eq!(orders.tags, want_tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    assert_eq!(orders.props["name"], json!("shop-dev-orders"));
    assert_eq!(orders.props["visibility"], json!(30));
    let key = h.cloud.resource("key").expect("key exists");
    assert_eq!(key.props["description"], json!("shop dev data"));
    assert_eq!(key.tags.get("cairn:address").map(String::as_str), Some("key"));
    assert!(h.cloud.resource("grant").expect("grant exists").tags.is_empty(), "untaggable kinds get no tags");

    let state = h.snapshot().await;
    assert_eq!(state.resources.keys().collect::<Vec<_>>(), ["dlq", "grant", "key", "orders"]);
    assert_eq!(state.resources["orders"].id, "queue/shop-dev-orders");
    assert_eq!(state.resources["grant"].deps, ["key", "orders"]);
    assert_eq!(state.outputs["orders_url"], json!("https://queue.fake/shop-dev-orders"));
    assert_eq!(state.outputs["key_arn"], json!(format!("arn:fake:key:{}", key.id)));
    assert_eq!(state.outputs, report.outputs);
    assert!(h.store.journal().iter().all(|r| r.status == JournalStatus::Done && r.intent.action == JournalAction::Create));
    let history = h.store.history().await.expect("history");
    assert_eq!((history[0].serial, history[0].operation.as_str(), history[0].resource_count), (state.serial, "apply", 4));
}

#[tokio::test]
async fn replanning_after_apply_is_a_noop_and_calls_nothing() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    h.converge(&graph).await;
    h.cloud.clear_calls();
    let plan = h.plan(&graph).await;
    assert_noop(&plan);
    assert_eq!(plan.outputs["orders_url"], json!("https://queue.fake/shop-dev-orders"));
    let serial = h.store.serial();
    let report = h.apply(&plan).await;
    assert!(report.succeeded() && report.outcomes.is_empty());
    assert!(mutations(&h.cloud.calls()).is_empty(), "{:?}", h.cloud.calls());
    assert_eq!(h.store.serial(), serial, "a no-op apply must not change state");
}

#[tokio::test]
async fn changed_var_updates_in_place() {
    let h = Harness::new();
    h.converge(&h.compile(SHOP, "dev")).await;
    h.cloud.clear_calls();
    let graph = compile_vars(&h, SHOP, &[("visibility", "60")]);
    let plan = h.plan(&graph).await;
    let orders = plan.action("orders").expect("orders planned");
    assert_eq!(orders.action, Action::Update);
    assert_eq!(orders.changes, [Change { path: "visibility".into(), before: Some(json!(30)), after: Some(json!(60)), forces_replacement: false }]);
    for other in ["key", "dlq", "grant"] {
        assert_eq!(action(&plan, other), Action::NoOp, "{other}");
    }
    assert!(h.apply(&plan).await.succeeded());
    assert_eq!(mutations(&h.cloud.calls()), [(Operation::Update, "queue/shop-dev-orders".to_string())]);
    assert_eq!(h.cloud.resource("orders").expect("orders").props["visibility"], json!(60));
    assert_eq!(h.snapshot().await.resources["orders"].props["visibility"], json!(60));
    assert_noop(&h.plan(&graph).await);
}

#[tokio::test]
async fn force_new_change_replaces_delete_first_and_dependents_follow() {
    let h = Harness::new();
    h.converge(&h.compile(SHOP, "dev")).await;
    let old_key = h.cloud.resource("key").expect("key").id;
    let old_grant = h.cloud.resource("grant").expect("grant").id;
    h.cloud.clear_calls();

    let graph = compile_vars(&h, SHOP, &[("spec", "RSA_2048")]);
    let plan = h.plan(&graph).await;
    let key = plan.action("key").expect("key planned");
    assert_eq!((key.action, key.replace_order), (Action::Replace, Some(ReplaceOrder::DeleteBeforeCreate)));
    assert_eq!(key.reasons, ["`spec` forces replacement"]);
    // The grant's `key` is the new key's ARN, known only after apply, and forces replacement.
    let grant = plan.action("grant").expect("grant planned");
    assert_eq!(grant.action, Action::Replace);
    assert!(expr::contains_unknown(&grant.desired.as_ref().expect("desired").props["key"]));

    assert!(h.apply(&plan).await.succeeded());
    let calls = mutations(&h.cloud.calls());
    assert_eq!(
        calls,
        [(Operation::Delete, old_key.clone()), (Operation::Create, "key".into()), (Operation::Delete, old_grant), (Operation::Create, "grant".into())]
    );
    let new_key = h.cloud.resource("key").expect("new key");
    assert_ne!(new_key.id, old_key);
    assert_eq!(new_key.props["spec"], json!("RSA_2048"));
    assert_eq!(h.cloud.count("fake.key"), 1);
    assert_eq!(h.cloud.resource("grant").expect("grant").props["key"], new_key.attrs["arn"]);
    assert_eq!(h.snapshot().await.outputs["key_arn"], new_key.attrs["arn"]);
    assert_noop(&h.plan(&graph).await);
}

const KEY_CBD: &str = r#"
stack: vault
vars:
  spec: SYMMETRIC
resources:
  key:
    type: fake.key
    lifecycle: { create_before_destroy: true }
    props:
      spec: ${var.spec}
"#;

#[tokio::test]
async fn create_before_destroy_creates_the_replacement_first() {
    let h = Harness::new();
    h.converge(&h.compile(KEY_CBD, "dev")).await;
    let old = h.cloud.resource("key").expect("key").id;
    h.cloud.clear_calls();
    let graph = compile_vars(&h, KEY_CBD, &[("spec", "RSA_2048")]);
    let plan = h.plan(&graph).await;
    let key = plan.action("key").expect("key planned");
    assert_eq!((key.action, key.replace_order), (Action::Replace, Some(ReplaceOrder::CreateBeforeDelete)));
    assert!(h.apply(&plan).await.succeeded());
    assert_eq!(mutations(&h.cloud.calls()), [(Operation::Create, "key".into()), (Operation::Delete, old.clone())]);
    let new = h.cloud.resource("key").expect("new key");
    assert_eq!((h.cloud.count("fake.key"), new.props["spec"].clone()), (1, json!("RSA_2048")));
    assert_eq!(h.snapshot().await.resources["key"].id, new.id);
    assert_noop(&h.plan(&graph).await);
}

#[tokio::test]
async fn resource_removed_from_the_stack_is_deleted() {
    let h = Harness::new();
    h.converge(&h.compile(SHOP, "dev")).await;
    h.cloud.clear_calls();
    let without_grant = SHOP.split("  grant:").next().expect("prefix").to_string()
        + SHOP.split_once("outputs:").map(|(_, o)| format!("outputs:{o}")).expect("outputs").as_str();
    let graph = h.compile(&without_grant, "dev");
    assert!(!graph.nodes.contains_key("grant"));
    let plan = h.plan(&graph).await;
    let grant = plan.action("grant").expect("grant planned");
    assert_eq!((grant.action, grant.reasons.as_slice()), (Action::Delete, ["it is no longer in the stack".to_string()].as_slice()));
    assert_eq!(plan.summary.destroy, 1);
    assert!(h.apply(&plan).await.succeeded());
    assert_eq!(h.cloud.count("fake.grant"), 0);
    assert!(!h.snapshot().await.resources.contains_key("grant"));
    assert_eq!(mutations(&h.cloud.calls()).len(), 1);
    assert_noop(&h.plan(&graph).await);
}

#[tokio::test]
async fn dependencies_are_created_first_and_their_attributes_flow_in() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    let plan = h.plan(&graph).await;
    let orders = plan.action("orders").expect("orders");
    assert_eq!(orders.deps, ["dlq"]);
    assert!(expr::contains_unknown(&orders.desired.as_ref().expect("desired").props["dlq"]), "the dlq's ARN is known only after apply");
    let report = h.apply(&plan).await;
    assert!(report.succeeded(), "{report:#?}");

    let calls = mutations(&h.cloud.calls());
    assert!(position(&calls, Operation::Create, "dlq") < position(&calls, Operation::Create, "orders"), "{calls:?}");
    assert!(position(&calls, Operation::Create, "orders") < position(&calls, Operation::Create, "grant"), "{calls:?}");
    assert!(position(&calls, Operation::Create, "key") < position(&calls, Operation::Create, "grant"), "{calls:?}");
    let arn = |a: &str| h.cloud.resource(a).expect(a).attrs["arn"].clone();
    assert_eq!(h.cloud.resource("orders").expect("orders").props["dlq"], arn("dlq"));
    let grant = h.cloud.resource("grant").expect("grant");
    assert_eq!((grant.props["key"].clone(), grant.props["queue"].clone()), (arn("key"), arn("orders")));
    assert_eq!(grant.props["actions"], json!(["decrypt", "encrypt"]));
}

#[tokio::test]
async fn destroy_deletes_dependents_before_their_dependencies() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    h.converge(&graph).await;
    let ids: Vec<String> = ["key", "dlq", "orders", "grant"].iter().map(|a| h.cloud.resource(a).expect(a).id).collect();
    h.cloud.clear_calls();
    let plan = h.try_plan(&graph, PlanMode::Destroy, &[]).await.expect("destroy plan").plan;
    assert!(plan.actions.iter().all(|a| a.action == Action::Delete) && plan.actions.len() == 4, "{plan:#?}");
    let report = h.apply(&plan).await;
    assert!(report.succeeded(), "{report:#?}");
    let calls = mutations(&h.cloud.calls());
    let at = |i: usize| position(&calls, Operation::Delete, &ids[i]);
    assert!(at(3) < at(0) && at(3) < at(2) && at(2) < at(1), "grant before key and orders, orders before dlq: {calls:?}");
    assert!(h.cloud.resources().is_empty());
    let state = h.snapshot().await;
    assert!(state.resources.is_empty() && state.outputs.is_empty(), "{state:#?}");
    assert_eq!(h.store.history().await.expect("history")[0].operation, "destroy");
}

const PROTECTED: &str = r#"
stack: vault
vars:
  spec: SYMMETRIC
resources:
  key:
    type: fake.key
    lifecycle: { protect: true }
    props:
      spec: ${var.spec}
  dlq:
    type: fake.queue
"#;

#[tokio::test]
async fn protected_resources_are_not_destroyed_or_replaced_without_allow_destroy() {
    let h = Harness::new();
    let graph = h.compile(PROTECTED, "dev");
    h.converge(&graph).await;
    let errs = h.try_plan(&graph, PlanMode::Destroy, &[]).await.expect_err("destroy of a protected key");
    assert_eq!(errs, [PlanError::Protected { address: "key".into(), verb: "destroy" }]);
    let replace = compile_vars(&h, PROTECTED, &[("spec", "RSA_2048")]);
    let errs = h.try_plan(&replace, PlanMode::Apply, &[]).await.expect_err("replace of a protected key");
    assert_eq!(errs, [PlanError::Protected { address: "key".into(), verb: "replace" }]);

    let plan = h.try_plan(&graph, PlanMode::Destroy, &["key"]).await.expect("allowed").plan;
    assert_eq!((action(&plan, "key"), action(&plan, "dlq")), (Action::Delete, Action::Delete));
    assert!(h.apply(&plan).await.succeeded());
    assert!(h.cloud.resources().is_empty());
}

#[tokio::test]
async fn a_plan_made_against_older_state_is_refused() {
    let h = Harness::new();
    h.converge(&h.compile(SHOP, "dev")).await;
    let graph = compile_vars(&h, SHOP, &[("visibility", "60")]);
    let first = h.plan(&graph).await;
    let second = h.plan(&graph).await;
    assert!(h.apply(&second).await.succeeded());
    h.cloud.clear_calls();
    let (_tx, rx) = watch::channel(false);
    let err = h.apply_with(&first, Harness::options(2, rx), &EventLog::default()).await.expect_err("stale plan");
    match err {
        ApplyError::Stale { plan_lineage, plan_serial, lineage, serial } => {
            assert_eq!((plan_lineage.as_str(), lineage.as_str()), (LINEAGE, LINEAGE));
            assert_eq!(plan_serial, first.serial);
            assert!(serial > plan_serial);
        }
        other => panic!("expected Stale, got {other}"),
    }
    assert!(h.cloud.calls().is_empty(), "a refused plan calls nothing");
}

#[tokio::test]
async fn a_plan_for_another_lineage_is_refused() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    let mut plan = h.plan(&graph).await;
    plan.lineage = "someone-else".into();
    let (_tx, rx) = watch::channel(false);
    let err = h.apply_with(&plan, Harness::options(2, rx), &EventLog::default()).await.expect_err("other lineage");
    assert!(matches!(err, ApplyError::Stale { .. }), "{err}");
    assert!(h.cloud.resources().is_empty());
}

#[tokio::test]
async fn planning_is_deterministic() {
    let h = Harness::new();
    let first = serde_json::to_string(&h.plan(&h.compile(SHOP, "dev")).await).expect("json");
    let second = serde_json::to_string(&h.plan(&h.compile(SHOP, "dev")).await).expect("json");
    assert_eq!(first, second);
    // Against existing state too, with drift and unknowns in play.
    h.converge(&h.compile(SHOP, "dev")).await;
    h.cloud.set_prop_out_of_band("dlq", "visibility", json!(5));
    let graph = compile_vars(&h, SHOP, &[("spec", "RSA_2048"), ("visibility", "45")]);
    let a = serde_json::to_string(&h.plan(&graph).await).expect("json");
    let b = serde_json::to_string(&h.plan(&graph).await).expect("json");
    assert_eq!(a, b);
    let v: Value = serde_json::from_str(&a).expect("json");
    assert_eq!(v["drift"].as_array().map(Vec::len), Some(1), "{v:#}");
}

#[tokio::test]
async fn delete_waits_for_whatever_still_uses_the_resource() {
    // Removing both the grant and its key: the grant must go first.
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    h.converge(&graph).await;
    let key_id = h.cloud.resource("key").expect("key").id;
    let grant_id = h.cloud.resource("grant").expect("grant").id;
    h.cloud.clear_calls();
    let stack = SHOP
        .replace("  grant:\n    type: fake.grant\n    props:\n      key: ${key.arn}\n      queue: ${orders.arn}\n      actions: [encrypt, decrypt]\n", "")
        .replace("  key:\n    type: fake.key\n    props:\n      description: ${stack} ${env} data\n      spec: ${var.spec}\n", "")
        .replace("  key_arn: ${key.arn}\n", "");
    let graph = h.compile(&stack, "dev");
    assert_eq!(graph.nodes.len(), 2);
    let report = h.apply(&h.plan(&graph).await).await;
    assert!(report.outcomes.values().all(|o| matches!(o, Outcome::Done { .. })) && report.outcomes.len() == 2, "{report:#?}");
    let calls = mutations(&h.cloud.calls());
    assert!(position(&calls, Operation::Delete, &grant_id) < position(&calls, Operation::Delete, &key_id), "{calls:?}");
}

#[tokio::test]
async fn tag_changes_and_removed_defaulted_props_update_in_place() {
    let h = Harness::new();
    h.converge(&compile_vars(&h, SHOP, &[("visibility", "60")])).await;
    h.cloud.clear_calls();
    // `visibility` gone from the stack falls back to its default; a stack tag changes everywhere taggable.
    let stack = SHOP.replace("      visibility: ${var.visibility}\n", "").replace("Team: core", "Team: platform");
    let graph = h.compile(&stack, "dev");
    let plan = h.plan(&graph).await;
    let orders = plan.action("orders").expect("orders");
    assert_eq!(orders.action, Action::Update);
    assert!(
        orders.changes.contains(&Change { path: "visibility".into(), before: Some(json!(60)), after: Some(json!(30)), forces_replacement: false }),
        "{:#?}",
        orders.changes
    );
    assert!(orders.changes.contains(&Change {
        path: "tags[\"Team\"]".into(),
        before: Some(json!("core")),
        after: Some(json!("platform")),
        forces_replacement: false
    }));
    assert_eq!((action(&plan, "key"), action(&plan, "dlq"), action(&plan, "grant")), (Action::Update, Action::Update, Action::NoOp));
    assert!(h.apply(&plan).await.succeeded());
    assert_eq!(mutations(&h.cloud.calls()).iter().filter(|(o, _)| *o == Operation::Update).count(), 3);
    let orders = h.cloud.resource("orders").expect("orders");
    assert_eq!((orders.props["visibility"].clone(), orders.tags["Team"].as_str()), (json!(30), "platform"));
    assert_noop(&h.plan(&graph).await);
}
