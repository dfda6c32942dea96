//! Key-policy rules: a customer managed key admits the AWS services that write into what it encrypts (SNS into queues, S3 notifications, alarms, EventBridge, log delivery, CloudTrail trails and their buckets).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::{admits, principals, show, sid, statements, strings, Action, Ctx, Finding};
use crate::graph::ResourceNode;

/// A service that writes into encrypted resources: its principal, the rule that covers it,
/// and the key actions it needs.
struct Service {
    principal: &'static str,
    rule: &'static str,
    actions: &'static [&'static str],
}

const SERVICES: &[Service] = &[
    Service { principal: "sns.amazonaws.com", rule: "kms-sns-to-sqs", actions: &["kms:Decrypt", "kms:GenerateDataKey*"] },
    Service { principal: "s3.amazonaws.com", rule: "kms-s3-notifications", actions: &["kms:Decrypt", "kms:GenerateDataKey*"] },
    Service { principal: "cloudwatch.amazonaws.com", rule: "kms-cloudwatch-alarms", actions: &["kms:Decrypt", "kms:GenerateDataKey*"] },
    Service { principal: "events.amazonaws.com", rule: "kms-eventbridge", actions: &["kms:Decrypt", "kms:GenerateDataKey*"] },
    Service {
        principal: "delivery.logs.amazonaws.com",
        rule: "kms-log-delivery",
        actions: &["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
    },
    Service { principal: "cloudtrail.amazonaws.com", rule: "kms-cloudtrail", actions: &["kms:DescribeKey", "kms:GenerateDataKey*"] },
];

fn service(principal: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.principal == principal)
}

/// What a service must be admitted for: the resource it writes into, and the source ARNs
/// and accounts it writes for (`None`: the writer puts no condition on the service).
struct Use<'g> {
    user: &'g ResourceNode,
    /// The property of `user` that names the key.
    key_prop: &'static str,
    source_arns: Option<Vec<Value>>,
    source_accounts: Vec<Value>,
}

/// The key a resource is encrypted with, and the property that names it.
fn key_of(node: &ResourceNode) -> Option<(&Value, &'static str)> {
    match node.kind.as_str() {
        "aws.sqs.queue" | "aws.sns.topic" => node.props.get("kms_key").filter(|k| !k.is_null()).map(|k| (k, "kms_key")),
        "aws.s3.bucket" => node.props.get("sse").and_then(|s| s.get("kms_key")).filter(|k| !k.is_null()).map(|k| (k, "sse")),
        _ => None,
    }
}

/// The actions a service performs on a resource of this kind when it writes into it.
fn write_actions(kind: &str) -> &'static [&'static str] {
    match kind {
        "aws.sqs.queue" => &["sqs:SendMessage"],
        "aws.sns.topic" => &["sns:Publish"],
        "aws.s3.bucket" => &["s3:PutObject"],
        _ => &[],
    }
}

/// The `aws:SourceArn` and `aws:SourceAccount` values of a statement's conditions.
fn source_conditions(stmt: &Value) -> (Option<Vec<Value>>, Vec<Value>) {
    let mut arns: Option<Vec<Value>> = None;
    let mut accounts = vec![];
    if let Some(ops) = stmt.get("Condition").and_then(Value::as_object) {
        for keys in ops.values().filter_map(Value::as_object) {
            for (k, v) in keys {
                let values = match v {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                match k.to_ascii_lowercase().as_str() {
                    "aws:sourcearn" => arns.get_or_insert_with(Vec::new).extend(values),
                    "aws:sourceaccount" => accounts.extend(values),
                    _ => {}
                }
            }
        }
    }
    (arns, accounts)
}

/// One name per key however it is referenced (`${key.arn}`, `${key.key_id}`): its address, or the literal.
fn key_id(cx: &Ctx, key: &Value) -> String {
    match cx.target(key) {
        Some(n) => format!("address {}", n.address),
        None => key.to_string(),
    }
}

pub(super) fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    // (key value as JSON text, service principal) -> uses
    let mut uses: BTreeMap<(String, &'static str), Vec<Use>> = BTreeMap::new();
    let mut keys: BTreeMap<String, Value> = BTreeMap::new();

    // SNS delivering into encrypted queues of this stack.
    for sub in cx.nodes("aws.sns.subscription") {
        if sub.props.get("protocol").and_then(Value::as_str) != Some("sqs") {
            continue;
        }
        let Some(queue) = sub.props.get("endpoint").and_then(|e| cx.target(e)).filter(|q| q.kind == "aws.sqs.queue") else { continue };
        let Some((key, key_prop)) = key_of(queue) else { continue };
        let topic = sub.props.get("topic").cloned().unwrap_or(Value::Null);
        let topic_arn = match cx.target(&topic) {
            Some(t) if t.kind == "aws.sns.topic" => cx.arn_of(t),
            Some(_) => None,
            None => topic.as_str().map(|s| Value::String(s.to_string())),
        };
        let source_arns = Some(topic_arn.into_iter().collect::<Vec<_>>()).filter(|v| !v.is_empty());
        let accounts = if source_arns.is_none() { vec![cx.account()] } else { vec![] };
        keys.insert(key_id(cx, key), key.clone());
        uses.entry((key_id(cx, key), "sns.amazonaws.com")).or_default().push(Use { user: queue, key_prop, source_arns, source_accounts: accounts });
    }

    // Services a resource policy lets write into an encrypted queue, topic or bucket.
    for node in cx.graph.nodes.values() {
        let Some((key, key_prop)) = key_of(node) else { continue };
        let wanted = write_actions(&node.kind);
        for stmt in statements(node.props.get("policy")) {
            if stmt.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            let actions = strings(stmt.get("Action"));
            if !wanted.iter().any(|w| actions.iter().any(|a| super::glob(a, w))) {
                continue;
            }
            for p in principals(&stmt) {
                let Some(svc) = service(&p) else { continue };
                let (arns, accounts) = source_conditions(&stmt);
                // A condition naming a resource of this stack is spelt out (no dependency on it).
                let arns = arns.and_then(|a| a.iter().map(|v| cx.spell_out(v)).collect::<Option<Vec<_>>>());
                keys.insert(key_id(cx, key), key.clone());
                uses.entry((key_id(cx, key), svc.principal)).or_default().push(Use { user: node, key_prop, source_arns: arns, source_accounts: accounts });
            }
        }
    }

    // Log delivery writing WAF logs into encrypted buckets.
    for logging in cx.nodes("aws.wafv2.logging_configuration") {
        let dests: Vec<Value> = match logging.props.get("log_destination_arns") {
            Some(Value::Array(a)) => a.clone(),
            _ => vec![],
        };
        for d in dests {
            let Some(bucket) = cx.target(&d).filter(|b| b.kind == "aws.s3.bucket") else { continue };
            let Some((key, key_prop)) = key_of(bucket) else { continue };
            keys.insert(key_id(cx, key), key.clone());
            uses.entry((key_id(cx, key), "delivery.logs.amazonaws.com")).or_default().push(Use {
                user: bucket,
                key_prop,
                source_arns: Some(vec![cx.logs_source_arn()]),
                source_accounts: vec![cx.account()],
            });
        }
    }

    // CloudTrail encrypting a trail's log files with its own key, or writing into an encrypted bucket.
    for trail in cx.nodes("aws.cloudtrail.trail") {
        let source_arns = cx.arn_of(trail).map(|a| vec![a]);
        if let Some(key) = trail.props.get("kms_key_id").filter(|k| !k.is_null()) {
            keys.insert(key_id(cx, key), key.clone());
            uses.entry((key_id(cx, key), "cloudtrail.amazonaws.com")).or_default().push(Use {
                user: trail,
                key_prop: "kms_key_id",
                source_arns: source_arns.clone(),
                source_accounts: vec![],
            });
        }
        let bucket = trail.props.get("s3_bucket_name").and_then(|b| cx.target(b)).filter(|b| b.kind == "aws.s3.bucket");
        if let Some((key, key_prop)) = bucket.and_then(key_of) {
            keys.insert(key_id(cx, key), key.clone());
            let user = bucket.unwrap_or(trail);
            uses.entry((key_id(cx, key), "cloudtrail.amazonaws.com")).or_default().push(Use { user, key_prop, source_arns, source_accounts: vec![] });
        }
    }

    // CloudWatch alarms of this stack notifying its encrypted topics (no topic policy needed in
    // the same account, but the key must admit the service, or the notification is dropped).
    for alarm in cx.nodes("aws.cloudwatch.metric_alarm") {
        for prop in ["alarm_actions", "ok_actions", "insufficient_data_actions"] {
            for action in alarm.props.get(prop).and_then(Value::as_array).into_iter().flatten() {
                let Some(topic) = cx.target(action).filter(|t| t.kind == "aws.sns.topic") else { continue };
                let Some((key, key_prop)) = key_of(topic) else { continue };
                keys.insert(key_id(cx, key), key.clone());
                uses.entry((key_id(cx, key), "cloudwatch.amazonaws.com")).or_default().push(Use {
                    user: topic,
                    key_prop,
                    source_arns: None,
                    source_accounts: vec![cx.account()],
                });
            }
        }
    }

    for ((key_text, principal), list) in uses {
        let Some(svc) = service(principal) else { continue };
        let Some(key) = keys.get(&key_text) else { continue };
        let stmt = statement(svc, &list);
        match cx.target(key) {
            Some(k) if k.kind == "aws.kms.key" => {
                if super::is_unknown(k.props.get("policy")) || admits(k.props.get("policy"), svc.principal, svc.actions) {
                    continue;
                }
                out.push(Finding::new(svc.rule, k, "policy", Action::AddStatement(stmt)));
            }
            Some(_) => {}
            None => {
                let Some(key_name) = key.as_str() else { continue };
                let users: BTreeSet<&str> = list.iter().map(|u| u.user.address.as_str()).collect();
                let what = users.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ");
                let (message, help) = if key_name.starts_with("alias/aws/") {
                    (
                        format!("{principal} cannot use the AWS managed key {key_name}, which encrypts {what}: its policy cannot be changed"),
                        "encrypt with a customer managed key (an aws.kms.key of this stack, which cairn completes)".to_string(),
                    )
                } else {
                    (
                        format!("{principal} must be allowed to use the key {key_name}, which encrypts {what}, or AWS drops what it delivers"),
                        format!("add this statement to that key's policy: {}", show(&stmt)),
                    )
                };
                let mut seen = BTreeSet::new();
                for u in list.iter().filter(|u| seen.insert(u.user.address.as_str())) {
                    out.push(Finding::new(svc.rule, u.user, u.key_prop, Action::Refuse { message: message.clone(), help: help.clone() }));
                }
            }
        }
    }
}

/// The key-policy statement that admits a service for these uses.
fn statement(svc: &Service, uses: &[Use]) -> Value {
    let mut condition = serde_json::Map::new();
    // A use without a source condition must not be narrowed by another's.
    if uses.iter().all(|u| u.source_arns.is_some()) {
        let mut arns: Vec<Value> = vec![];
        for a in uses.iter().flat_map(|u| u.source_arns.iter().flatten()) {
            if !arns.contains(a) {
                arns.push(a.clone());
            }
        }
        if !arns.is_empty() {
            condition.insert("ArnLike".into(), json!({ "aws:SourceArn": arns }));
        }
    }
    if uses.iter().all(|u| !u.source_accounts.is_empty()) {
        let mut accounts: Vec<Value> = vec![];
        for a in uses.iter().flat_map(|u| u.source_accounts.iter()) {
            if !accounts.contains(a) {
                accounts.push(a.clone());
            }
        }
        condition.insert("StringEquals".into(), json!({ "aws:SourceAccount": accounts }));
    }
    let mut stmt = json!({
        "Sid": sid(svc.rule, ""),
        "Effect": "Allow",
        "Principal": { "Service": svc.principal },
        "Action": svc.actions,
        "Resource": "*",
    });
    if !condition.is_empty() {
        stmt["Condition"] = Value::Object(condition);
    }
    stmt
}

#[cfg(test)]
mod tests {
    use super::super::sid;
    use super::super::testing::fixture;
    use serde_json::json;

    #[test]
    fn kms_sns_to_sqs_completes_the_queue_key() {
        let o = fixture("kms-sns-to-sqs");
        assert!(o.diags.is_empty(), "{}", o.rendered());
        let s = o.statement("data_key", "policy", &sid("kms-sns-to-sqs", "")).expect("statement added");
        assert_eq!(s["Principal"], json!({ "Service": "sns.amazonaws.com" }));
        assert_eq!(s["Action"], json!(["kms:Decrypt", "kms:GenerateDataKey*"]));
        assert_eq!(s["Condition"]["ArnLike"]["aws:SourceArn"], json!(["arn:aws:sns:us-east-1:111122223333:shop-dev-events"]));
        // The default key policy is kept: the account still administers the key through IAM.
        assert!(o.statement("data_key", "policy", "Enable IAM User Permissions").is_some());
        // Spelt out, not referenced: the key gains no dependency on the topic it encrypts.
        assert!(o.graph.as_ref().is_some_and(|g| !g.nodes["data_key"].deps.contains("events")));
    }

    #[test]
    fn kms_sns_to_sqs_refuses_an_external_key_with_the_statement() {
        let o = fixture("kms-sns-to-sqs-external");
        assert_eq!(o.codes(), ["kms-sns-to-sqs", "kms-sns-to-sqs"], "{}", o.rendered());
        let text = o.rendered();
        assert!(text.contains("add this statement to that key's policy"), "{text}");
        assert!(text.contains("\"Service\":\"sns.amazonaws.com\""), "{text}");
        assert!(text.contains("AWS managed key alias/aws/sqs"), "{text}");
        assert!(text.contains("wiring/kms-sns-to-sqs-external.yaml:"), "{text}");
    }

    #[test]
    fn refusals_read_as_printed() {
        insta::assert_snapshot!(fixture("kms-sns-to-sqs-external").rendered());
    }

    #[test]
    fn kms_s3_notifications_follow_the_queue_policy() {
        let o = fixture("kms-s3-notifications");
        assert!(o.diags.is_empty(), "{}", o.rendered());
        let s = o.statement("key", "policy", &sid("kms-s3-notifications", "")).expect("statement added");
        assert_eq!(s["Condition"]["ArnLike"]["aws:SourceArn"], json!(["arn:aws:s3:::shop-dev-uploads"]));
    }

    #[test]
    fn kms_cloudwatch_alarms_follow_the_topic_policy() {
        let o = fixture("kms-cloudwatch-alarms");
        assert!(o.diags.is_empty(), "{}", o.rendered());
        assert!(o.statement("key", "policy", &sid("kms-cloudwatch-alarms", "")).is_some());
        // A key policy that already admits the service is left alone.
        assert!(o.statement("admitted_key", "policy", &sid("kms-cloudwatch-alarms", "")).is_none());
        // An alarm of the stack notifying an encrypted topic with no policy of its own.
        let s = o.statement("alarm_key", "policy", &sid("kms-cloudwatch-alarms", "")).expect("statement added for the alarm's topic");
        assert_eq!(s["Principal"]["Service"], "cloudwatch.amazonaws.com");
        assert_eq!(s["Condition"]["StringEquals"]["aws:SourceAccount"], json!(["111122223333"]));
    }

    #[test]
    fn kms_eventbridge_follows_the_topic_policy() {
        let o = fixture("kms-eventbridge");
        assert!(o.diags.is_empty(), "{}", o.rendered());
        let s = o.statement("key", "policy", &sid("kms-eventbridge", "")).expect("statement added");
        assert!(s.get("Condition").is_none(), "the topic policy admits EventBridge unconditionally: {s}");
    }

    #[test]
    fn kms_log_delivery_admits_waf_log_delivery() {
        let o = fixture("kms-log-delivery");
        assert!(o.diags.is_empty(), "{}", o.rendered());
        let s = o.statement("logs_key", "policy", &sid("kms-log-delivery", "")).expect("statement added");
        assert_eq!(s["Principal"]["Service"], "delivery.logs.amazonaws.com");
        assert_eq!(s["Condition"]["StringEquals"]["aws:SourceAccount"], json!(["111122223333"]));
        assert_eq!(s["Condition"]["ArnLike"]["aws:SourceArn"], json!(["arn:aws:logs:us-east-1:111122223333:*"]));
    }

    #[test]
    fn kms_cloudtrail_admits_a_trail_that_encrypts_with_the_key() {
        let o = fixture("s3-cloudtrail-policy");
        assert!(o.diags.is_empty(), "{}", o.rendered());
        let s = o.statement("audit_key", "policy", &sid("kms-cloudtrail", "")).expect("statement added");
        assert_eq!(s["Principal"]["Service"], "cloudtrail.amazonaws.com");
        assert_eq!(s["Condition"]["ArnLike"]["aws:SourceArn"], json!(["arn:aws:cloudtrail:us-east-1:111122223333:trail/shop-dev-trail"]));
        // Spelt out, not referenced: the key gains no dependency on the trail that uses it.
        assert!(o.graph.as_ref().is_some_and(|g| !g.nodes["audit_key"].deps.contains("trail")));
    }

    #[test]
    fn kms_cloudtrail_follows_the_bucket_policy() {
        let o = fixture("kms-cloudtrail");
        assert!(o.diags.is_empty(), "{}", o.rendered());
        let s = o.statement("trail_key", "policy", &sid("kms-cloudtrail", "")).expect("statement added");
        assert_eq!(s["Action"], json!(["kms:DescribeKey", "kms:GenerateDataKey*"]));
    }
}
