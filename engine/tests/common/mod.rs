//! Stacks and helpers shared by the lifecycle test binaries.
#![allow(dead_code)]

use cairn_engine::compile::CompileOptions;
use cairn_engine::graph::ResourceGraph;
use cairn_engine::plan::{Action, Plan};
use cairn_engine::testkit::Harness;

/// A key replaced create-before-destroy when `spec` changes, and a queue whose `dlq` follows it.
pub const CBD: &str = r#"
stack: shop
environments:
  dev: {}
vars:
  spec: SYMMETRIC
  dlq_name: dlq-a
resources:
  key:
    type: fake.key
    lifecycle: { create_before_destroy: true }
    props:
      spec: ${var.spec}
  dlq:
    type: fake.queue
    lifecycle: { create_before_destroy: true }
    props:
      name: ${var.dlq_name}
  orders:
    type: fake.queue
    props:
      dlq: ${dlq.arn}
"#;

/// A key, a dead-letter queue, a queue using it, and a grant tying the key to the queue.
/// Edges: dlq -> orders -> grant, key -> grant.
pub const SHOP: &str = r#"
stack: shop
environments:
  dev: {}
vars:
  visibility: 30
  spec: SYMMETRIC
tags:
  Team: core
resources:
  key:
    type: fake.key
    props:
      description: ${stack} ${env} data
      spec: ${var.spec}
  dlq:
    type: fake.queue
  orders:
    type: fake.queue
    tags: { Component: orders }
    props:
      visibility: ${var.visibility}
      dlq: ${dlq.arn}
  grant:
    type: fake.grant
    props:
      key: ${key.arn}
      queue: ${orders.arn}
      actions: [encrypt, decrypt]
outputs:
  orders_url: ${orders.url}
  key_arn: ${key.arn}
"#;

/// Compiles `yaml` for env `dev` with `--var` overrides.
pub fn compile_vars(h: &Harness, yaml: &str, vars: &[(&str, &str)]) -> ResourceGraph {
    let opts = CompileOptions { env: "dev".into(), var_overrides: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), caller_account: None };
    h.compile_with(yaml, &opts).unwrap_or_else(|d| panic!("{d}"))
}

/// The action planned for `address`; panics if there is none.
pub fn action(plan: &Plan, address: &str) -> Action {
    plan.action(address).unwrap_or_else(|| panic!("no action for {address} in {plan:#?}")).action
}

/// Panics unless every planned action is a no-op.
pub fn assert_noop(plan: &Plan) {
    let changes: Vec<(&str, Action)> = plan.actions.iter().filter(|a| a.action != Action::NoOp).map(|a| (a.address.as_str(), a.action)).collect();
    assert!(changes.is_empty() && !plan.has_changes(), "expected a no-op plan, got {changes:?}\n{plan:#?}");
    assert!(plan.drift.is_empty(), "unexpected drift: {:#?}", plan.drift);
}
