//! Lifecycle tests under faults: failing calls, crashes mid-create, drift, cancellation and bounded parallelism.

mod common;

use std::time::Duration;

use cairn_engine::apply::{ApplyEvent, Outcome};
use cairn_engine::plan::{Action, Change};
use cairn_engine::provider::{Operation, ProviderError};
use cairn_engine::state::{JournalAction, StateStore};
use cairn_engine::testkit::{Crash, EventLog, Harness, JournalStatus};
use common::{action, assert_noop, SHOP};
use serde_json::json;
use tokio::sync::watch;

fn is_done(o: Option<&Outcome>) -> bool {
    matches!(o, Some(Outcome::Done { .. }))
}

fn creates_of(h: &Harness, address: &str) -> usize {
    h.cloud.calls_of(Operation::Create).iter().filter(|c| c.target == address).count()
}

#[tokio::test]
async fn a_failure_blocks_only_its_dependents_and_a_rerun_completes() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    h.cloud.fail_always("dlq", Operation::Create);
    let report = h.apply(&h.plan(&graph).await).await;
    assert!(!report.succeeded() && !report.interrupted);
    assert!(matches!(&report.outcomes["dlq"], Outcome::Failed { error } if error.contains("injected failure")), "{report:#?}");
    assert_eq!(report.outcomes["orders"], Outcome::Blocked { because: "dlq".into() });
    assert_eq!(report.outcomes["grant"], Outcome::Blocked { because: "orders".into() });
    assert!(is_done(report.outcomes.get("key")), "the independent branch finishes: {report:#?}");
    let state = h.snapshot().await;
    assert_eq!(state.resources.keys().collect::<Vec<_>>(), ["key"]);
    assert!(state.outputs.contains_key("key_arn") && !state.outputs.contains_key("orders_url"), "{:?}", state.outputs);
    assert!(h.store.journal().iter().any(|r| r.status == JournalStatus::Failed && r.intent.address == "dlq"));
    assert!(h.store.open_ops().await.expect("open ops").is_empty());

    h.cloud.clear_failures();
    let plan = h.plan(&graph).await;
    assert_eq!(
        [action(&plan, "key"), action(&plan, "dlq"), action(&plan, "orders"), action(&plan, "grant")],
        [Action::NoOp, Action::Create, Action::Create, Action::Create]
    );
    assert!(h.apply(&plan).await.succeeded());
    assert_eq!(creates_of(&h, "key"), 1);
    assert_noop(&h.plan(&graph).await);
}

#[tokio::test]
async fn an_injected_one_off_error_reaches_the_report() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    h.cloud.fail_next("fake.key", Operation::Create, ProviderError::AccessDenied("kms:CreateKey".into()));
    let report = h.apply(&h.plan(&graph).await).await;
    assert!(
        matches!(&report.outcomes["key"], Outcome::Failed { error } if error.contains("access denied: kms:CreateKey") && error.contains("iam-policy")),
        "{report:#?}"
    );
    assert_eq!(report.outcomes["grant"], Outcome::Blocked { because: "key".into() });
    // One-off: the next run succeeds without clearing anything.
    assert!(h.apply(&h.plan(&graph).await).await.succeeded());
}

#[tokio::test]
async fn a_run_dying_between_journal_begin_and_finish_is_adopted_not_duplicated() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    h.cloud.crash_after_create("orders", Crash::Panic);
    let report = h.apply(&h.plan(&graph).await).await;
    assert!(matches!(&report.outcomes["orders"], Outcome::Failed { error } if error.contains("panic")), "{report:#?}");
    assert_eq!(report.outcomes["grant"], Outcome::Blocked { because: "orders".into() });
    assert_eq!(report.outcomes.len(), 4, "every planned address has an outcome, nothing else: {report:#?}");
    assert!(h.cloud.resource("orders").is_some(), "the create happened in the cloud");
    assert!(!h.snapshot().await.resources.contains_key("orders"), "but was never recorded");
    let open = h.store.open_ops().await.expect("open ops");
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].intent.address.as_str(), open[0].intent.action), ("orders", JournalAction::Create));

    let planned = h.try_plan(&graph, cairn_engine::plan::PlanMode::Apply, &[]).await.expect("plan");
    assert_eq!(planned.reconciled.len(), 1);
    assert!(planned.reconciled[0].result.starts_with("adopted queue/shop-dev-orders"), "{:?}", planned.reconciled);
    let state = h.snapshot().await;
    assert_eq!(state.resources["orders"].id, "queue/shop-dev-orders");
    assert_eq!(state.resources["orders"].deps, ["dlq"]);
    assert!(h.store.open_ops().await.expect("open ops").is_empty());
    assert_eq!(action(&planned.plan, "orders"), Action::NoOp, "adopted, so no second create");
    assert_eq!(action(&planned.plan, "grant"), Action::Create);
    assert!(h.apply(&planned.plan).await.succeeded());
    assert_eq!((creates_of(&h, "orders"), h.cloud.count("fake.queue")), (1, 2));
    assert_noop(&h.plan(&graph).await);
}

#[tokio::test]
async fn a_create_whose_response_is_lost_is_recorded_by_find_owned() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    h.cloud.crash_after_create("fake.key", Crash::Error);
    let report = h.apply(&h.plan(&graph).await).await;
    assert!(matches!(&report.outcomes["key"], Outcome::Failed { error } if error.contains("was created and is recorded")), "{report:#?}");
    assert!(h.snapshot().await.resources.contains_key("key"));
    assert!(h.store.open_ops().await.expect("open ops").is_empty());
    let plan = h.plan(&graph).await;
    assert_eq!((action(&plan, "key"), action(&plan, "grant")), (Action::NoOp, Action::Create));
    assert!(h.apply(&plan).await.succeeded());
    assert_eq!((creates_of(&h, "key"), h.cloud.count("fake.key")), (1, 1));
}

#[tokio::test]
async fn out_of_band_changes_show_as_drift_and_are_reverted() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    h.converge(&graph).await;
    h.cloud.set_prop_out_of_band("orders", "visibility", json!(99));
    h.cloud.set_tag_out_of_band("orders", "Owner", "bob");
    let plan = h.plan(&graph).await;
    assert_eq!(plan.drift.len(), 1, "{:#?}", plan.drift);
    let drift = &plan.drift[0];
    assert_eq!((drift.address.as_str(), drift.deleted), ("orders", false));
    assert_eq!(
        drift.changes,
        [
            Change { path: "visibility".into(), before: Some(json!(30)), after: Some(json!(99)), forces_replacement: false },
            Change { path: "tags[\"Owner\"]".into(), before: None, after: Some(json!("bob")), forces_replacement: false },
        ]
    );
    let orders = plan.action("orders").expect("orders");
    assert_eq!(orders.action, Action::Update);
    assert!(
        orders.changes.contains(&Change { path: "visibility".into(), before: Some(json!(99)), after: Some(json!(30)), forces_replacement: false }),
        "{:#?}",
        orders.changes
    );
    assert!(
        orders.changes.contains(&Change { path: "tags[\"Owner\"]".into(), before: Some(json!("bob")), after: None, forces_replacement: false }),
        "{:#?}",
        orders.changes
    );
    assert!(h.apply(&plan).await.succeeded());
    let cloud = h.cloud.resource("orders").expect("orders");
    assert_eq!((cloud.props["visibility"].clone(), cloud.tags.get("Owner")), (json!(30), None));
    assert_noop(&h.plan(&graph).await);
}

#[tokio::test]
async fn a_resource_deleted_out_of_band_is_recreated() {
    let h = Harness::new();
    let graph = h.compile(SHOP, "dev");
    h.converge(&graph).await;
    h.cloud.delete_out_of_band("key");
    let plan = h.plan(&graph).await;
    assert_eq!(plan.drift.len(), 1);
    assert!(plan.drift[0].deleted && plan.drift[0].address == "key");
    let key = plan.action("key").expect("key");
    assert_eq!((key.action, key.reasons.as_slice()), (Action::Create, ["it was deleted outside cairn".to_string()].as_slice()));
    assert!(h.apply(&plan).await.succeeded());
    assert_eq!(h.cloud.count("fake.key"), 1);
    assert_eq!(h.cloud.resource("grant").expect("grant").props["key"], h.cloud.resource("key").expect("key").attrs["arn"]);
    assert_noop(&h.plan(&graph).await);
}

const THREE: &str = r#"
stack: trio
resources:
  a: { type: fake.queue }
  b: { type: fake.queue }
  c: { type: fake.queue }
"#;

#[tokio::test]
async fn cancelling_lets_in_flight_calls_finish_and_starts_nothing_new() {
    let h = Harness::new();
    let graph = h.compile(THREE, "dev");
    let plan = h.plan(&graph).await;
    let (tx, rx) = watch::channel(false);
    let events = EventLog::default();
    h.cloud.pause();
    let control = async {
        h.cloud.wait_in_flight(1).await;
        tx.send(true).expect("apply is listening");
        events.wait_for(|e| matches!(e, ApplyEvent::Interrupted { .. })).await;
        h.cloud.resume();
    };
    let run = async { tokio::join!(h.apply_with(&plan, Harness::options(1, rx), &events), control).0 };
    // A guard against hanging forever if apply never reacts; not a timing assertion.
    let report = tokio::time::timeout(Duration::from_secs(60), run).await.expect("apply reacts to the cancel").expect("apply");
    assert!(events.events().contains(&ApplyEvent::Interrupted { in_flight: 1 }), "{:#?}", events.events());
    assert!(report.interrupted && !report.succeeded());
    assert!(is_done(report.outcomes.get("a")), "the in-flight create finishes: {report:#?}");
    assert_eq!((&report.outcomes["b"], &report.outcomes["c"]), (&Outcome::NotStarted, &Outcome::NotStarted));
    assert_eq!(h.cloud.calls_of(Operation::Create).len(), 1);
    assert_eq!(h.snapshot().await.resources.keys().collect::<Vec<_>>(), ["a"], "the finished call is recorded");
    assert!(h.store.open_ops().await.expect("open ops").is_empty());
    let plan = h.plan(&graph).await;
    assert_eq!([action(&plan, "a"), action(&plan, "b"), action(&plan, "c")], [Action::NoOp, Action::Create, Action::Create]);
}

#[tokio::test]
async fn a_dropped_cancel_sender_does_not_interrupt() {
    let h = Harness::new();
    let graph = h.compile(THREE, "dev");
    let plan = h.plan(&graph).await;
    h.cloud.set_latency(Duration::from_millis(5));
    let (tx, rx) = watch::channel(false);
    drop(tx);
    let report = h.apply_with(&plan, Harness::options(1, rx), &EventLog::default()).await.expect("apply");
    assert!(report.succeeded(), "nobody can cancel any more, so nothing is cancelled: {report:#?}");
    assert_eq!(h.cloud.count("fake.queue"), 3);
}

#[tokio::test]
async fn no_more_calls_than_the_parallelism_are_in_flight() {
    let stack = (0..6).fold(String::from("stack: wide\nresources:\n"), |s, i| s + &format!("  q{i}: {{ type: fake.queue }}\n"));
    for parallelism in [1, 2, 3] {
        let h = Harness::new();
        let plan = h.plan(&h.compile(&stack, "dev")).await;
        h.cloud.set_latency(Duration::from_millis(20));
        let (_tx, rx) = watch::channel(false);
        let report = h.apply_with(&plan, Harness::options(parallelism, rx), &EventLog::default()).await.expect("apply");
        assert!(report.succeeded());
        assert_eq!(h.cloud.count("fake.queue"), 6);
        assert_eq!(h.cloud.max_in_flight(), parallelism, "parallelism {parallelism}");
    }
}
