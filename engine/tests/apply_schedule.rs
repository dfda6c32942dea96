//! Apply scheduling on the critical path: start order by weighted remaining chain, per-service budgets, and the reported critical path.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_engine::apply::{ApplyEvent, ApplyOptions, Weights};
use cairn_engine::testkit::{EventLog, Harness};
use tokio::sync::watch;

/// A chain of three queues (a → b → c), two lone queues, and a key and a queue that a grant
/// ties together. In address order (first-come first-served) the key starts fourth.
const FAN: &str = r#"
stack: sched
environments:
  dev: {}
resources:
  a:
    type: fake.queue
  b:
    type: fake.queue
    props: { dlq: "${a.arn}" }
  c:
    type: fake.queue
    props: { dlq: "${b.arn}" }
  d:
    type: fake.queue
  e:
    type: fake.queue
  zkey:
    type: fake.key
  zqueue:
    type: fake.queue
  zgrant:
    type: fake.grant
    props:
      key: ${zkey.arn}
      queue: ${zqueue.arn}
"#;

fn started(log: &EventLog) -> Vec<String> {
    log.events()
        .into_iter()
        .filter_map(|e| match e {
            ApplyEvent::Started { address, .. } => Some(address),
            _ => None,
        })
        .collect()
}

async fn start_order(opts: impl FnOnce(ApplyOptions) -> ApplyOptions) -> Vec<String> {
    let h = Harness::new();
    let plan = h.plan(&h.compile(FAN, "dev")).await;
    let (_cancel, rx) = watch::channel(false);
    let log = EventLog::default();
    let report = h.apply_with(&plan, opts(Harness::options(1, rx)), &log).await.expect("apply");
    assert!(report.succeeded(), "{report:#?}");
    started(&log)
}

#[tokio::test]
async fn a_slow_kind_starts_before_quick_ones_that_come_first_in_address_order() {
    let slow_key = Weights { by_kind: BTreeMap::from([("fake.key".to_string(), Duration::from_secs(60))]), ..Weights::uniform() };
    let order = start_order(|o| ApplyOptions { weights: slow_key, ..o }).await;
    assert_eq!(order, ["zkey", "a", "b", "zqueue", "c", "d", "e", "zgrant"]);
}

#[tokio::test]
async fn with_equal_weights_the_longest_chain_by_steps_starts_first() {
    // a → b → c (3 steps) leads; the two-step branches of the grant come before the lone queues.
    let order = start_order(|o| ApplyOptions { weights: Weights::uniform(), ..o }).await;
    assert_eq!(order, ["a", "b", "zkey", "zqueue", "c", "d", "e", "zgrant"]);
}

#[tokio::test]
async fn a_service_budget_bounds_that_service_alone() {
    let h = Harness::new();
    let plan = h.plan(&h.compile(FAN, "dev")).await;
    let (_cancel, rx) = watch::channel(false);
    let log = EventLog::default();
    let opts = ApplyOptions { service_limits: BTreeMap::from([("fake.queue".to_string(), 1)]), ..Harness::options(4, rx) };
    let report = h.apply_with(&plan, opts, &log).await.expect("apply");
    assert!(report.succeeded(), "{report:#?}");
    // In flight as the applier saw it: from its Started event to its Finished event.
    let (mut queues, mut all, mut max_queues, mut max_all) = (0usize, 0usize, 0, 0);
    for e in log.events() {
        let (address, delta) = match &e {
            ApplyEvent::Started { address, .. } => (address.clone(), 1isize),
            ApplyEvent::Finished { address, .. } => (address.clone(), -1),
            _ => continue,
        };
        let is_queue = plan.action(&address).expect("planned").kind == "fake.queue";
        all = all.checked_add_signed(delta).expect("count");
        if is_queue {
            queues = queues.checked_add_signed(delta).expect("count");
        }
        (max_queues, max_all) = (max_queues.max(queues), max_all.max(all));
    }
    assert_eq!(max_queues, 1, "{:#?}", log.events());
    // The first round starts the key next to the first queue: other services are not held back.
    assert_eq!(started(&log)[..2], ["a", "zkey"]);
    assert!(max_all >= 2);
}

#[tokio::test]
async fn the_report_names_a_chain_of_the_graph_as_critical_path() {
    let h = Harness::new();
    h.cloud.set_latency(Duration::from_millis(5));
    let plan = h.plan(&h.compile(FAN, "dev")).await;
    let report = h.apply(&plan).await;
    assert!(report.succeeded(), "{report:#?}");
    let cp = report.critical_path.clone().expect("a critical path");
    assert!(!cp.addresses.is_empty());
    for pair in cp.addresses.windows(2) {
        let later = plan.action(&pair[1]).expect("planned");
        assert!(later.deps.contains(&pair[0]), "{} does not wait on {}: {cp:?}", pair[1], pair[0]);
    }
    // Every action makes at least one call of 5 ms, and no schedule beats the chain.
    assert!(cp.critical_ms >= 5 * cp.addresses.len() as u64 && cp.critical_ms <= cp.wall_ms, "{cp:?}");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["critical_path"]["addresses"], serde_json::json!(cp.addresses));
}
