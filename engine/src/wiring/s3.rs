//! Bucket rules: WAF log destinations and their delivery statements, CloudTrail's bucket statements, Deny statements that lock out the services a bucket serves, and the statements AWS adds by itself.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{admits, principals, sid, statements, strings, Action, Ctx, Finding};
use crate::graph::ResourceNode;

const WAF_PREFIX: &str = "aws-waf-logs-";
const LOG_DELIVERY: &str = "delivery.logs.amazonaws.com";
const CLOUDTRAIL: &str = "cloudtrail.amazonaws.com";

/// Sids of the statements AWS log delivery writes into a bucket policy by itself when it is
/// given a bucket whose policy does not admit it (`AWSLogDeliveryWrite20150319`, ...).
const AWS_ADDED_SIDS: &[&str] = &["AWSLogDeliveryWrite", "AWSLogDeliveryAclCheck"];

/// A bucket policy as read, without the statements AWS log delivery adds on its own: they are
/// expected, not drift, and cairn's own statements already grant what they grant. `None` when
/// nothing else is left (the bucket has no policy of its own).
pub fn without_aws_added_statements(policy: Value) -> Option<Value> {
    let Value::Object(mut doc) = policy else { return Some(policy) };
    let added = |s: &Value| s.get("Sid").and_then(Value::as_str).is_some_and(|sid| AWS_ADDED_SIDS.iter().any(|p| sid.starts_with(p)));
    match doc.get_mut("Statement") {
        Some(Value::Array(items)) => {
            let before = items.len();
            items.retain(|s| !added(s));
            if items.is_empty() && before > 0 {
                return None;
            }
        }
        Some(single) if added(single) => return None,
        _ => {}
    }
    Some(Value::Object(doc))
}

/// The name inside a destination ARN: bucket, log group or Firehose stream.
fn name_in_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let service = parts.nth(2)?;
    let resource = parts.nth(2)?;
    match service {
        "s3" => Some(resource.split('/').next().unwrap_or(resource)),
        "logs" => resource.strip_prefix("log-group:").map(|r| r.split(':').next().unwrap_or(r)),
        "firehose" => resource.strip_prefix("deliverystream/"),
        _ => None,
    }
}

/// Buckets of this stack that receive WAF logs, with the logging configuration that sends them.
fn waf_log_buckets<'g>(cx: &Ctx<'g>) -> Vec<(&'g ResourceNode, &'g ResourceNode)> {
    let mut out = vec![];
    for logging in cx.nodes("aws.wafv2.logging_configuration") {
        if let Some(Value::Array(dests)) = logging.props.get("log_destination_arns") {
            for d in dests {
                if let Some(b) = cx.target(d).filter(|b| b.kind == "aws.s3.bucket") {
                    out.push((logging, b));
                }
            }
        }
    }
    out
}

/// The two statements log delivery needs on a bucket, as the WAF documentation gives them.
fn delivery_statements(cx: &Ctx, bucket_arn: &Value) -> [Value; 2] {
    let objects = cx.concat(&[bucket_arn.clone(), json!("/AWSLogs/"), cx.account(), json!("/*")]);
    let source = json!({ "StringEquals": { "aws:SourceAccount": [cx.account()] }, "ArnLike": { "aws:SourceArn": [cx.logs_source_arn()] } });
    let mut write_condition = source.clone();
    write_condition["StringEquals"]["s3:x-amz-acl"] = json!("bucket-owner-full-control");
    [
        json!({ "Sid": sid("s3-log-delivery-policy", "Write"), "Effect": "Allow", "Principal": { "Service": LOG_DELIVERY },
                "Action": "s3:PutObject", "Resource": objects, "Condition": write_condition }),
        json!({ "Sid": sid("s3-log-delivery-policy", "AclCheck"), "Effect": "Allow", "Principal": { "Service": LOG_DELIVERY },
                "Action": "s3:GetBucketAcl", "Resource": bucket_arn, "Condition": source }),
    ]
}

/// What trails write into one bucket: the trails' ARNs and the object paths they write.
#[derive(Default)]
struct TrailWrites<'g> {
    bucket: Option<&'g ResourceNode>,
    /// The name given when the bucket is not one of this stack's.
    name: String,
    trails: Vec<&'g ResourceNode>,
    arns: Vec<Value>,
    objects: Vec<Value>,
}

/// The buckets trails of this stack write into, keyed by bucket address or name. A trail
/// whose ARN, bucket or prefix is known only after apply is left out (nothing can be spelt out).
fn trail_buckets<'g>(cx: &Ctx<'g>) -> std::collections::BTreeMap<String, TrailWrites<'g>> {
    let mut out: std::collections::BTreeMap<String, TrailWrites<'g>> = std::collections::BTreeMap::new();
    for trail in cx.nodes("aws.cloudtrail.trail") {
        let Some(given) = trail.props.get("s3_bucket_name") else { continue };
        let bucket = match (cx.target(given), given.as_str()) {
            (Some(b), _) if b.kind == "aws.s3.bucket" => Some(b),
            (Some(_), _) => continue,
            // A literal name may still be one of this stack's buckets.
            (None, Some(name)) => cx.nodes("aws.s3.bucket").find(|b| cx.physical_name(b).as_deref() == Some(name)),
            (None, None) => continue,
        };
        let name = match bucket {
            Some(b) => match cx.physical_name(b) {
                Some(n) => n,
                None => continue,
            },
            None => given.as_str().unwrap_or_default().to_string(),
        };
        let prefix = match trail.props.get("s3_key_prefix") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(p)) => format!("{}/", p.trim_end_matches('/')),
            Some(_) => continue,
        };
        let Some(arn) = cx.arn_of(trail) else { continue };
        let objects = cx.concat(&[json!(format!("arn:{}:s3:::{name}/{prefix}AWSLogs/", cx.partition())), cx.account(), json!("/*")]);
        let entry = out.entry(bucket.map(|b| b.address.clone()).unwrap_or_else(|| name.clone())).or_default();
        entry.bucket = bucket;
        entry.name = name;
        entry.trails.push(trail);
        if !entry.arns.contains(&arn) {
            entry.arns.push(arn);
        }
        if !entry.objects.contains(&objects) {
            entry.objects.push(objects);
        }
    }
    out
}

/// The two statements CloudTrail needs on its bucket, as the CloudTrail documentation gives
/// them, limited to the trails that write there.
fn trail_statements(cx: &Ctx, w: &TrailWrites) -> [Value; 2] {
    let bucket_arn = json!(format!("arn:{}:s3:::{}", cx.partition(), w.name));
    let one = |v: &[Value]| if v.len() == 1 { v[0].clone() } else { Value::Array(v.to_vec()) };
    [
        json!({ "Sid": sid("s3-cloudtrail-policy", "Write"), "Effect": "Allow", "Principal": { "Service": CLOUDTRAIL },
                "Action": "s3:PutObject", "Resource": one(&w.objects),
                "Condition": { "StringEquals": { "s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": w.arns } } }),
        json!({ "Sid": sid("s3-cloudtrail-policy", "AclCheck"), "Effect": "Allow", "Principal": { "Service": CLOUDTRAIL },
                "Action": "s3:GetBucketAcl", "Resource": bucket_arn, "Condition": { "StringEquals": { "aws:SourceArn": w.arns } } }),
    ]
}

pub(super) fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    // waf-log-destination-name
    for logging in cx.nodes("aws.wafv2.logging_configuration") {
        let Some(Value::Array(dests)) = logging.props.get("log_destination_arns") else { continue };
        for d in dests {
            let name = match (cx.target(d), d.as_str()) {
                (Some(b), _) if b.kind == "aws.s3.bucket" => cx.physical_name(b),
                (Some(_), _) => None,
                (None, Some(arn)) => name_in_arn(arn).map(str::to_string),
                (None, None) => None,
            };
            if let Some(name) = name.filter(|n| !n.starts_with(WAF_PREFIX)) {
                let (node, prop, help) = match cx.target(d) {
                    Some(b) => (
                        b,
                        if b.kind == "aws.s3.bucket" { "bucket" } else { "name" },
                        format!("name the bucket `{WAF_PREFIX}...`, e.g. bucket: {WAF_PREFIX}{name}"),
                    ),
                    None => (logging, "log_destination_arns", format!("log to a destination whose name starts with `{WAF_PREFIX}`")),
                };
                out.push(Finding::new(
                    "waf-log-destination-name",
                    node,
                    prop,
                    Action::Refuse { message: format!("WAF only logs to destinations named `{WAF_PREFIX}...`, not `{name}`"), help },
                ));
            }
        }
    }

    // s3-log-delivery-policy
    let mut done = BTreeSet::new();
    for (_, bucket) in waf_log_buckets(cx) {
        if !done.insert(bucket.address.as_str()) || super::is_unknown(bucket.props.get("policy")) {
            continue;
        }
        let Some(arn) = cx.arn_of(bucket) else { continue };
        let policy = bucket.props.get("policy");
        if admits(policy, LOG_DELIVERY, &["s3:PutObject", "s3:GetBucketAcl"]) {
            continue;
        }
        for stmt in delivery_statements(cx, &arn) {
            out.push(Finding::new("s3-log-delivery-policy", bucket, "policy", Action::AddStatement(stmt)));
        }
    }
    // A bucket given by ARN is managed elsewhere: WAF's PutLoggingConfiguration adds the
    // delivery statements to its policy itself (when the caller may), so nothing is refused.

    // s3-cloudtrail-policy
    let trails = trail_buckets(cx);
    for w in trails.values() {
        let stmts = trail_statements(cx, w);
        match w.bucket {
            Some(bucket) => {
                if super::is_unknown(bucket.props.get("policy")) || admits(bucket.props.get("policy"), CLOUDTRAIL, &["s3:PutObject", "s3:GetBucketAcl"]) {
                    continue;
                }
                for stmt in stmts {
                    out.push(Finding::new("s3-cloudtrail-policy", bucket, "policy", Action::AddStatement(stmt)));
                }
            }
            None => {
                let shown = stmts.iter().map(super::show).collect::<Vec<_>>().join(", ");
                for trail in &w.trails {
                    out.push(Finding::new(
                        "s3-cloudtrail-policy",
                        trail,
                        "s3_bucket_name",
                        Action::Refuse {
                            message: format!(
                                "CloudTrail delivers to `{}` only if its bucket policy admits cloudtrail.amazonaws.com, and that bucket is not this stack's",
                                w.name
                            ),
                            help: format!("add these statements to that bucket's policy: {shown}"),
                        },
                    ));
                }
            }
        }
    }

    // s3-deny-locks-out-service
    for bucket in cx.nodes("aws.s3.bucket") {
        let mut services: BTreeSet<String> = BTreeSet::new();
        if waf_log_buckets(cx).iter().any(|(_, b)| b.address == bucket.address) {
            services.insert(LOG_DELIVERY.to_string());
        }
        if trails.get(&bucket.address).is_some_and(|w| w.bucket.is_some()) {
            services.insert(CLOUDTRAIL.to_string());
        }
        if super::s3_access::is_access_log_target(cx, bucket) {
            services.insert("logging.s3.amazonaws.com".to_string());
        }
        for s in statements(bucket.props.get("policy")) {
            if s.get("Effect").and_then(Value::as_str) == Some("Allow") {
                services.extend(principals(&s).into_iter().filter(|p| p.ends_with(".amazonaws.com")));
            }
        }
        if services.is_empty() {
            continue;
        }
        for (i, s) in statements(bucket.props.get("policy")).iter().enumerate() {
            if s.get("Effect").and_then(Value::as_str) != Some("Deny") || !principals(s).iter().any(|p| p == "*") {
                continue;
            }
            let actions = strings(s.get("Action"));
            if !actions.iter().any(|a| super::glob(a, "s3:PutObject") || super::glob(a, "s3:GetBucketAcl")) {
                continue;
            }
            if spares_services(s) {
                continue;
            }
            let list = services.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
            out.push(Finding::new(
                "s3-deny-locks-out-service",
                bucket,
                "policy",
                Action::Refuse {
                    message: format!("policy Statement[{i}] denies every principal, including {list} that this stack has write to the bucket"),
                    help: "deny only what services never do: non-TLS requests (`Bool: { aws:SecureTransport: \"false\" }`), or exempt services with `BoolIfExists: { aws:PrincipalIsAWSService: \"false\" }`".into(),
                },
            ));
        }
    }
}

/// Whether a Deny's conditions can never hold for an AWS service's request: services call
/// over TLS, and `aws:PrincipalIsAWSService` is true for them. Every other condition (none,
/// a VPC endpoint, a source IP, an organisation) also matches the service's request.
fn spares_services(stmt: &Value) -> bool {
    let Some(ops) = stmt.get("Condition").and_then(Value::as_object) else { return false };
    ops.iter().any(|(op, keys)| {
        let op = op.to_ascii_lowercase();
        if op != "bool" && op != "boolifexists" {
            return false;
        }
        keys.as_object().is_some_and(|m| {
            m.iter().any(|(k, v)| {
                let k = k.to_ascii_lowercase();
                let falsy = strings(Some(v)).iter().chain(v.as_bool().map(|b| b.to_string()).iter()).all(|x| x == "false");
                (k == "aws:securetransport" || k == "aws:principalisawsservice") && falsy
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::super::sid;
    use super::super::testing::fixture;
    use super::*;

    #[test]
    fn aws_added_statements_are_not_drift() {
        let read = json!({ "Version": "2012-10-17", "Statement": [
            { "Sid": "CairnWiringS3LogDeliveryPolicyWrite", "Effect": "Allow" },
            { "Sid": "AWSLogDeliveryWrite20150319", "Effect": "Allow" },
            { "Sid": "AWSLogDeliveryAclCheck", "Effect": "Allow" }
        ] });
        let kept = without_aws_added_statements(read).unwrap();
        assert_eq!(kept["Statement"].as_array().map(Vec::len), Some(1));
        let only_aws = json!({ "Statement": [{ "Sid": "AWSLogDeliveryWrite", "Effect": "Allow" }] });
        assert_eq!(without_aws_added_statements(only_aws), None);
        let plain = json!({ "Statement": [{ "Effect": "Deny" }] });
        assert_eq!(without_aws_added_statements(plain.clone()), Some(plain));
    }

    #[test]
    fn s3_log_delivery_policy_completes_the_waf_bucket() {
        let o = fixture("s3-log-delivery-policy");
        assert!(o.diags.is_empty(), "{}", o.rendered());
        let w = o.statement("waf_logs", "policy", &sid("s3-log-delivery-policy", "Write")).expect("write statement");
        assert_eq!(w["Resource"], "arn:aws:s3:::aws-waf-logs-shop-dev/AWSLogs/111122223333/*");
        assert_eq!(w["Condition"]["StringEquals"]["s3:x-amz-acl"], "bucket-owner-full-control");
        let a = o.statement("waf_logs", "policy", &sid("s3-log-delivery-policy", "AclCheck")).expect("acl statement");
        assert_eq!(a["Action"], "s3:GetBucketAcl");
        assert_eq!(a["Resource"], "arn:aws:s3:::aws-waf-logs-shop-dev");
        // The TLS-only Deny the bucket had is kept.
        assert!(o.statement("waf_logs", "policy", "DenyInsecureTransport").is_some());
    }

    #[test]
    fn s3_cloudtrail_policy_completes_the_trail_bucket() {
        let o = fixture("s3-cloudtrail-policy");
        assert!(o.diags.is_empty(), "{}", o.rendered());
        let trail = json!(["arn:aws:cloudtrail:us-east-1:111122223333:trail/shop-dev-trail"]);
        let w = o.statement("audit", "policy", &sid("s3-cloudtrail-policy", "Write")).expect("write statement");
        assert_eq!(w["Principal"]["Service"], "cloudtrail.amazonaws.com");
        assert_eq!(w["Resource"], "arn:aws:s3:::shop-dev-audit/trail/AWSLogs/111122223333/*");
        assert_eq!(w["Condition"]["StringEquals"]["s3:x-amz-acl"], "bucket-owner-full-control");
        assert_eq!(w["Condition"]["StringEquals"]["aws:SourceArn"], trail);
        let a = o.statement("audit", "policy", &sid("s3-cloudtrail-policy", "AclCheck")).expect("acl statement");
        assert_eq!((&a["Action"], &a["Resource"]), (&json!("s3:GetBucketAcl"), &json!("arn:aws:s3:::shop-dev-audit")));
        assert_eq!(a["Condition"]["StringEquals"]["aws:SourceArn"], trail);
        // The TLS-only Deny is kept, and the bucket gains no dependency on the trail.
        assert!(o.statement("audit", "policy", "DenyInsecureTransport").is_some());
        assert!(o.graph.as_ref().is_some_and(|g| !g.nodes["audit"].deps.contains("trail")));
        // A bucket outside the stack is refused with the statements to add.
        let o = fixture("s3-cloudtrail-policy-external");
        assert_eq!(o.codes(), ["s3-cloudtrail-policy"], "{}", o.rendered());
        let text = o.rendered();
        assert!(text.contains("add these statements to that bucket's policy") && text.contains("arn:aws:s3:::central-audit/AWSLogs/"), "{text}");
    }

    #[test]
    fn waf_log_destination_name_needs_the_prefix() {
        let o = fixture("waf-log-destination-name");
        assert_eq!(o.codes(), ["waf-log-destination-name", "waf-log-destination-name"], "{}", o.rendered());
        let text = o.rendered();
        assert!(text.contains("not `shop-dev-logs`") && text.contains("bucket: aws-waf-logs-shop-dev-logs"), "{text}");
        assert!(text.contains("not `waf`"), "a log group ARN: {text}");
    }

    #[test]
    fn s3_deny_locks_out_service_is_refused() {
        let o = fixture("s3-deny-locks-out-service");
        assert_eq!(o.codes(), ["s3-deny-locks-out-service"], "{}", o.rendered());
        assert!(o.rendered().contains("Statement[1] denies every principal, including delivery.logs.amazonaws.com"), "{}", o.rendered());
    }

    #[test]
    fn arn_names() {
        assert_eq!(name_in_arn("arn:aws:s3:::aws-waf-logs-x"), Some("aws-waf-logs-x"));
        assert_eq!(name_in_arn("arn:aws:logs:us-east-1:1:log-group:aws-waf-logs-g:*"), Some("aws-waf-logs-g"));
        assert_eq!(name_in_arn("arn:aws:firehose:us-east-1:1:deliverystream/aws-waf-logs-f"), Some("aws-waf-logs-f"));
    }
}
