//! What keeps an apply from losing track of a resource: deposed objects, `type:` changes,
//! retries of temporary failures, a lost lock, and the recorded region and account.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cairn_engine::apply::{idempotency_token, ApplyEvent, Outcome};
use cairn_engine::lease::Lease;
use cairn_engine::plan::{Action, PlanError, PlanMode, ReplaceOrder};
use cairn_engine::provider::{Operation, Props, ProviderError, Tags};
use cairn_engine::state::{LockInfo, StateStore};
use cairn_engine::testkit::{Call, EventLog, Harness};
use common::{action, assert_noop, compile_vars, CBD};
use serde_json::json;
use tokio::sync::watch;

fn mutations(calls: &[Call]) -> Vec<(Operation, String)> {
    calls.iter().filter(|c| c.op != Operation::Read).map(|c| (c.op, c.target.clone())).collect()
}

#[tokio::test]
async fn dependents_move_to_the_replacement_before_the_old_resource_is_deleted() {
    let h = Harness::new();
    h.converge(&compile_vars(&h, CBD, &[])).await;
    let old = h.cloud.resource("dlq").expect("dlq").id;
    let orders = h.cloud.resource("orders").expect("orders").id;
    h.cloud.clear_calls();
    let graph = compile_vars(&h, CBD, &[("dlq_name", "dlq-b")]);
    let plan = h.plan(&graph).await;
    assert_eq!((action(&plan, "dlq"), action(&plan, "orders")), (Action::Replace, Action::Update));
    assert!(h.apply(&plan).await.succeeded());
    assert_eq!(mutations(&h.cloud.calls()), [(Operation::Create, "dlq".into()), (Operation::Update, orders), (Operation::Delete, old)]);
    assert_noop(&h.plan(&graph).await);
}

#[tokio::test]
async fn a_failed_delete_of_the_old_resource_leaves_a_deposed_object_the_next_apply_deletes() {
    let h = Harness::new();
    h.converge(&compile_vars(&h, CBD, &[])).await;
    let old = h.cloud.resource("key").expect("key").id;
    let graph = compile_vars(&h, CBD, &[("spec", "RSA_2048")]);
    let plan = h.plan(&graph).await;
    assert_eq!(plan.action("key").expect("key").replace_order, Some(ReplaceOrder::CreateBeforeDelete));
    h.cloud.fail_next(&old, Operation::Delete, ProviderError::Conflict("in use".into()));
    let report = h.apply(&plan).await;
    assert!(matches!(&report.outcomes["key~deposed"], Outcome::Failed { error } if error.contains("stays in state as deposed")), "{report:#?}");
    let state = h.snapshot().await;
    assert_eq!(state.resources["key~deposed"].id, old, "the old resource stays known");
    assert_ne!(state.resources["key"].id, old, "the replacement is recorded");

    let next = h.plan(&graph).await;
    let deposed = next.action("key~deposed").expect("the plan shows the deposed object");
    assert_eq!((deposed.action, deposed.id.as_deref()), (Action::Delete, Some(old.as_str())));
    assert!(deposed.reasons[0].contains("deposed"), "{:?}", deposed.reasons);
    assert!(h.apply(&next).await.succeeded());
    assert_eq!(h.cloud.count("fake.key"), 1);
    assert_noop(&h.plan(&graph).await);
}

const QUEUE_THING: &str = "stack: shop\nenvironments: { dev: {} }\nresources:\n  thing: { type: fake.queue }\n";
const KEY_THING: &str = "stack: shop\nenvironments: { dev: {} }\nresources:\n  thing: { type: fake.key }\n";

#[tokio::test]
async fn a_type_change_deletes_with_the_old_kind_and_creates_with_the_new() {
    let h = Harness::new();
    h.converge(&h.compile(QUEUE_THING, "dev")).await;
    let queue = h.cloud.resource("thing").expect("queue").id;
    h.cloud.clear_calls();
    let graph = h.compile(KEY_THING, "dev");
    let plan = h.plan(&graph).await;
    let a = plan.action("thing").expect("thing");
    assert_eq!((a.action, a.kind.as_str(), a.replaced_kind.as_deref()), (Action::Replace, "fake.key", Some("fake.queue")));
    assert_eq!(a.reasons, ["its type changed from fake.queue to fake.key"]);
    assert!(h.apply(&plan).await.succeeded());
    let calls: Vec<(&str, Operation, String)> = h.cloud.calls().into_iter().filter(|c| c.op != Operation::Read).map(|c| (c.kind, c.op, c.target)).collect();
    assert_eq!(calls, [("fake.queue", Operation::Delete, queue), ("fake.key", Operation::Create, "thing".to_string())]);
    assert_eq!((h.cloud.count("fake.queue"), h.cloud.count("fake.key")), (0, 1));
    assert_noop(&h.plan(&graph).await);
}

#[tokio::test]
async fn temporary_failures_are_retried_within_a_budget() {
    let h = Harness::new();
    let graph = h.compile(KEY_THING, "dev");
    for _ in 0..2 {
        h.cloud.fail_next("thing", Operation::Create, ProviderError::Retryable("the role cannot be assumed yet".into()));
    }
    assert!(h.apply(&h.plan(&graph).await).await.succeeded(), "IAM propagation clears within the budget");
    assert_eq!(h.cloud.count("fake.key"), 1, "retries create no second resource");

    let h = Harness::new();
    for _ in 0..20 {
        h.cloud.fail_next("thing", Operation::Create, ProviderError::Retryable("invalid principal".into()));
    }
    let report = h.apply(&h.plan(&graph).await).await;
    assert!(matches!(&report.outcomes["thing"], Outcome::Failed { error } if error.contains("retry budget")), "{report:#?}");
    let creates = h.cloud.calls_of(Operation::Create).len();
    assert_eq!(creates, cairn_engine::apply::RetryPolicy::default().attempts as usize, "bounded");
    assert_eq!(h.cloud.count("fake.key"), 0);
}

#[tokio::test]
async fn a_resource_not_yet_visible_by_tags_is_found_by_a_later_look() {
    let h = Harness::new();
    let graph = h.compile(KEY_THING, "dev");
    h.cloud.crash_after_create("thing", cairn_engine::testkit::Crash::Error);
    // The first lookup by tags misses it, as a lagging tag index would.
    h.cloud.fail_next("thing", Operation::Read, ProviderError::Retryable("not indexed yet".into()));
    let report = h.apply(&h.plan(&graph).await).await;
    assert!(matches!(&report.outcomes["thing"], Outcome::Failed { error } if error.contains("was created and is recorded")), "{report:#?}");
    assert_eq!(h.cloud.count("fake.key"), 1, "no second create");
    assert!(h.snapshot().await.resources.contains_key("thing"));
}

const THREE: &str = "stack: trio\nresources:\n  a: { type: fake.queue }\n  b: { type: fake.queue }\n  c: { type: fake.queue }\n";

#[tokio::test]
async fn losing_the_lock_stops_new_work_and_records_what_finished() {
    let h = Harness::new();
    let graph = h.compile(THREE, "dev");
    let plan = h.plan(&graph).await;
    let info = LockInfo { owner: "me".into(), host: "h".into(), pid: 1, operation: "apply".into(), created_at: 1, lease_expires_at: 2 };
    h.store.lock(&info).await.expect("lock");
    let store: Arc<dyn StateStore> = h.store.clone();
    let lease = Lease::keep(store, Duration::from_secs(120), Duration::from_millis(1));
    let (_cancel, rx) = watch::channel(false);
    let opts = cairn_engine::apply::ApplyOptions { lock_lost: lease.lost(), ..Harness::options(1, rx) };
    let events = EventLog::default();
    h.cloud.pause();
    let control = async {
        h.cloud.wait_in_flight(1).await;
        h.store.force_unlock().await.expect("someone runs `cairn state unlock`");
        events.wait_for(|e| matches!(e, ApplyEvent::LockLost { .. })).await;
        h.cloud.resume();
    };
    let run = async { tokio::join!(h.apply_with(&plan, opts, &events), control).0 };
    // A guard against hanging forever; not a timing assertion.
    let report = tokio::time::timeout(Duration::from_secs(60), run).await.expect("apply reacts").expect("apply");
    assert!(report.lock_lost && !report.succeeded(), "{report:#?}");
    assert!(matches!(report.outcomes["a"], Outcome::Done { .. }), "the in-flight create finishes");
    assert_eq!((&report.outcomes["b"], &report.outcomes["c"]), (&Outcome::NotStarted, &Outcome::NotStarted));
    assert_eq!(h.snapshot().await.resources.keys().collect::<Vec<_>>(), ["a"], "the finished call is recorded");
    assert!(lease.why().is_some());
}

const EU: &str = "stack: shop\nregion: eu-west-1\nenvironments: { dev: {} }\nresources:\n  thing: { type: fake.key }\n";
const US: &str = "stack: shop\nregion: us-east-1\nenvironments: { dev: {} }\nresources:\n  thing: { type: fake.key }\n";

#[tokio::test]
async fn the_first_apply_records_the_region_and_another_region_is_refused() {
    let h = Harness::new();
    h.converge(&h.compile(EU, "dev")).await;
    assert_eq!(h.snapshot().await.region.as_deref(), Some("eu-west-1"));
    let errors = h.try_plan(&h.compile(US, "dev"), PlanMode::Apply, &[]).await.expect_err("refused");
    let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(matches!(errors[0], PlanError::Location(_)), "{errors:?}");
    assert!(text.contains("eu-west-1") && text.contains("us-east-1") && text.contains("cairn state migrate"), "{text}");

    // An account recorded earlier is compared too.
    h.store.set_location("eu-west-1", Some("111111111111")).await.expect("set");
    let mut graph = h.compile(EU, "dev");
    graph.account_id = Some("222222222222".into());
    let errors = h.try_plan(&graph, PlanMode::Apply, &[]).await.expect_err("refused");
    assert!(errors[0].to_string().contains("111111111111") && errors[0].to_string().contains("222222222222"), "{errors:?}");
}

#[tokio::test]
async fn state_written_before_locations_were_recorded_adopts_the_current_one() {
    let h = Harness::new();
    let graph = h.compile(EU, "dev");
    h.converge(&graph).await;
    // As an older cairn left it: resources, no location.
    let mut legacy = h.snapshot().await;
    legacy.region = None;
    let h2 = Harness::new();
    for r in legacy.resources.values() {
        h2.store.put_record(r).await.expect("put");
    }
    assert_eq!(h2.snapshot().await.region, None);
    let h2 = Harness { cloud: h.cloud.clone(), registry: h.cloud.registry(), store: h2.store.clone() };
    let plan = h2.plan(&graph).await;
    assert_noop(&plan);
    assert!(h2.apply(&plan).await.succeeded());
    assert_eq!(h2.snapshot().await.region.as_deref(), Some("eu-west-1"), "adopted by the next apply");
}

#[test]
fn the_idempotency_token_follows_the_desired_state() {
    let props = |v: i64| -> Props { json!({ "visibility": v, "name": "q" }).as_object().cloned().unwrap_or_default() };
    let tags = Tags::from([("Team".to_string(), "core".to_string())]);
    let t = idempotency_token("s", "dev", "q", &props(30), &tags);
    assert_eq!(t, idempotency_token("s", "dev", "q", &props(30), &tags), "stable");
    let reordered: Props = json!({ "name": "q", "visibility": 30 }).as_object().cloned().unwrap_or_default();
    assert_eq!(t, idempotency_token("s", "dev", "q", &reordered, &tags), "independent of key order");
    assert_ne!(t, idempotency_token("s", "dev", "q", &props(60), &tags), "a new desired state, a new token");
    assert_ne!(t, idempotency_token("s", "dev", "q", &props(30), &Tags::new()));
    assert_ne!(t, idempotency_token("s", "prod", "q", &props(30), &tags));
    assert!(t.starts_with("cairn-") && t.len() == 22, "{t}");
}
