//! AWS calls per resource, by kind: what a create costs (writes AWS requires vs reads) and what a refresh costs, from `api_calls_by_kind` of `cairn apply --json` and `cairn plan --json`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::harness::{unique, Workspace};

/// The yardstick: 100 queues, 25 topics each with a subscription, a key and a bucket.
const QUEUES: usize = 100;
const TOPICS: usize = 25;

/// Calls per created resource allowed on that stack.
const CREATE_GOAL: f64 = 1.5;

fn yardstick(name: &str) -> String {
    let mut s = format!("stack: {name}\nregion: us-east-1\ntags: {{ Team: platform }}\nresources:\n");
    s.push_str("  key:\n    type: aws.kms.key\n    props: { description: \"yardstick\", enable_key_rotation: true }\n");
    s.push_str("  bucket:\n    type: aws.s3.bucket\n    props: { versioning: true, force_destroy: true }\n");
    for i in 0..QUEUES {
        s.push_str(&format!("  q{i:03}:\n    type: aws.sqs.queue\n    props: {{ visibility_timeout_seconds: 45 }}\n"));
    }
    for i in 0..TOPICS {
        s.push_str(&format!("  t{i:02}:\n    type: aws.sns.topic\n"));
        s.push_str(&format!(
            "  s{i:02}:\n    type: aws.sns.subscription\n    props: {{ topic: \"${{t{i:02}.arn}}\", protocol: sqs, endpoint: \"${{q{i:03}.arn}}\" }}\n"
        ));
    }
    s
}

/// Whether an operation only reads (by AWS's naming of its APIs).
fn is_read(op: &str) -> bool {
    let name = op.rsplit('.').next().unwrap_or(op);
    ["Get", "List", "Describe", "Head"].iter().any(|p| name.starts_with(p))
}

#[derive(Default, Debug)]
struct KindCalls {
    resources: usize,
    writes: u64,
    reads: u64,
}

/// Per kind: writes and reads from `api_calls_by_kind`, and how many resources of the kind `count` says.
fn per_kind(by_kind: &Value, count: impl Fn(&str) -> usize) -> BTreeMap<String, KindCalls> {
    let mut out: BTreeMap<String, KindCalls> = BTreeMap::new();
    for (kind, ops) in by_kind.as_object().into_iter().flatten() {
        let k = out.entry(kind.clone()).or_default();
        k.resources = count(kind);
        for (op, n) in ops.as_object().into_iter().flatten() {
            let n = n.as_u64().unwrap_or(0);
            if is_read(op) {
                k.reads += n;
            } else {
                k.writes += n;
            }
        }
    }
    out
}

fn table(title: &str, rows: &BTreeMap<String, KindCalls>) -> (usize, u64) {
    eprintln!("{title}");
    let (mut resources, mut calls) = (0, 0);
    for (kind, k) in rows {
        let total = k.writes + k.reads;
        let per = if k.resources > 0 { total as f64 / k.resources as f64 } else { f64::NAN };
        eprintln!("  {kind:<28} resources {:>4}  writes {:>4}  reads {:>4}  per resource {per:.2}", k.resources, k.writes, k.reads);
        resources += k.resources;
        calls += total;
    }
    (resources, calls)
}

#[test]
fn creates_cost_the_writes_aws_requires_and_refresh_reads_each_resource_once() {
    let name = unique("calls");
    let ws = Workspace::with_stack(&yardstick(&name), &name, "dev");
    let r = ws.cairn(&["apply", "--auto-approve", "--json"]);
    r.assert_code(0);
    let applied: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("apply --json is not JSON ({e}):\n{}", r.stdout));
    let created = |kind: &str| applied["plan"]["actions"].as_array().into_iter().flatten().filter(|a| a["kind"] == kind && a["action"] == "create").count();
    let rows = per_kind(&applied["api_calls_by_kind"], created);
    let (resources, calls) = table("calls per created resource (apply):", &rows);
    assert_eq!(resources, 2 + QUEUES + 2 * TOPICS, "every resource is a create of a counted kind: {rows:?}");
    let per = calls as f64 / resources as f64;
    eprintln!("api-calls: create {calls} calls for {resources} resources = {per:.2} per resource (goal <= {CREATE_GOAL})");
    assert!(per <= CREATE_GOAL, "creating {resources} resources made {calls} calls ({per:.2} per resource): {rows:?}");

    let r = ws.cairn(&["plan", "--json", "--detailed-exitcode"]);
    r.assert_code(0);
    let planned: Value = serde_json::from_str(&r.stdout).expect("plan --json");
    let recorded = |kind: &str| planned["plan"]["actions"].as_array().into_iter().flatten().filter(|a| a["kind"] == kind).count();
    let rows = per_kind(&planned["api_calls_by_kind"], recorded);
    let (resources, calls) = table("calls per resource (refresh):", &rows);
    eprintln!("api-calls: refresh {calls} calls for {resources} resources = {:.2} per resource", calls as f64 / resources.max(1) as f64);
    for (kind, k) in &rows {
        assert_eq!(k.writes, 0, "a refresh of {kind} wrote: {k:?}");
    }
}

#[test]
fn reads_and_writes_are_told_apart_by_operation_name() {
    assert!(is_read("S3.HeadBucket") && is_read("SQS.GetQueueAttributes") && is_read("KMS.ListAliases") && is_read("EC2.DescribeVpcs"));
    assert!(!is_read("SQS.CreateQueue") && !is_read("S3.PutBucketTagging") && !is_read("SNS.Subscribe"));
}
