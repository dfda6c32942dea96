//! Grants: `grants: [{ consume: ${queue.arn} }]` on a role compiles to exact IAM actions on exact ARNs, KMS included.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::component::{address_segments, segments_address};
use crate::expr::{self, Expr, Seg};
use crate::graph::ResourceNode;

/// The verbs a grant may use.
pub const VERBS: &[&str] = &["consume", "send", "publish", "read", "write", "read_write", "encrypt", "decrypt"];

/// Actions for a verb on a kind: (actions on the target ARN, actions on `<arn>/*`, KMS actions on the target's key).
fn actions(verb: &str, kind: &str) -> Option<(&'static [&'static str], &'static [&'static str], &'static [&'static str])> {
    const DECRYPT: &[&str] = &["kms:Decrypt"];
    const ENCRYPT: &[&str] = &["kms:Decrypt", "kms:GenerateDataKey"];
    Some(match (kind, verb) {
        ("aws.sqs.queue", "consume") => {
            (&["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"], &[], DECRYPT)
        }
        ("aws.sqs.queue", "send" | "publish") => (&["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"], &[], ENCRYPT),
        ("aws.sns.topic", "publish" | "send") => (&["sns:Publish"], &[], ENCRYPT),
        ("aws.s3.bucket", "read") => (&["s3:ListBucket"], &["s3:GetObject", "s3:GetObjectVersion"], DECRYPT),
        ("aws.s3.bucket", "write") => (&[], &["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"], ENCRYPT),
        ("aws.s3.bucket", "read_write") => {
            (&["s3:ListBucket"], &["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], ENCRYPT)
        }
        ("aws.kms.key", "encrypt") => (&["kms:Encrypt", "kms:GenerateDataKey"], &[], &[]),
        ("aws.kms.key", "decrypt") => (&["kms:Decrypt"], &[], &[]),
        ("secretsmanager", "read") => (&["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], &[], DECRYPT),
        _ => return None,
    })
}

/// Which verbs a kind accepts, for error messages.
fn verbs_for(kind: &str) -> Vec<&'static str> {
    VERBS.iter().copied().filter(|v| actions(v, kind).is_some()).collect()
}

/// The address a reference path points at, by the longest prefix that is a resource.
pub fn target_address<'a>(path: &[Seg], nodes: &'a BTreeMap<String, ResourceNode>) -> Option<&'a ResourceNode> {
    (1..=path.len()).rev().find_map(|n| nodes.get(&segments_address(&path[..n])))
}

/// The KMS key a resource is encrypted with, if any.
fn kms_key_of(node: &ResourceNode) -> Option<Value> {
    match node.kind.as_str() {
        "aws.sqs.queue" | "aws.sns.topic" => node.props.get("kms_key").cloned(),
        "aws.s3.bucket" => node.props.get("sse").and_then(|s| s.get("kms_key")).cloned(),
        _ => None,
    }
    .filter(|k| !k.is_null())
}

fn with_suffix(arn: &Value, suffix: &str) -> Value {
    match arn {
        Value::String(s) => Value::String(format!("{s}{suffix}")),
        other => match expr::as_unknown(other) {
            Some(e) => expr::unknown(&Expr::Concat(vec![e, Expr::Lit(Value::String(suffix.into()))])),
            None => other.clone(),
        },
    }
}

/// Compiles one role's `grants` into a policy document. Errors are messages for the resource.
pub fn compile_grants(grants: &Value, nodes: &BTreeMap<String, ResourceNode>) -> Result<Option<Value>, Vec<String>> {
    let Some(list) = grants.as_array() else { return Err(vec!["`grants` must be a list like [{ consume: ${queue.arn} }]".into()]) };
    if list.is_empty() {
        return Ok(None);
    }
    let mut errors = vec![];
    let mut statements = vec![];
    for (i, g) in list.iter().enumerate() {
        let Some((verb, target)) = g.as_object().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) else {
            errors.push(format!("grant {i} must have exactly one verb, e.g. {{ consume: ${{queue.arn}} }}"));
            continue;
        };
        if !VERBS.contains(&verb.as_str()) {
            errors.push(format!("grant {i}: unknown verb `{verb}`; use one of {}", VERBS.join(", ")));
            continue;
        }
        let (kind, key) = match (expr::as_unknown(target), target.as_str()) {
            (Some(Expr::Ref(path)), _) => match target_address(&path, nodes) {
                Some(node) => (node.kind.clone(), kms_key_of(node)),
                None => {
                    errors.push(format!("grant {i}: `{}` is not a resource of this stack", expr::path_text(&path)));
                    continue;
                }
            },
            (_, Some(arn)) if arn.starts_with("arn:") => (arn_kind(arn), None),
            _ => {
                errors.push(format!("grant {i}: the target must be a reference such as ${{orders.arn}} or a literal ARN"));
                continue;
            }
        };
        let Some((on_arn, on_objects, kms)) = actions(verb, &kind) else {
            let ok = verbs_for(&kind);
            errors.push(format!(
                "grant {i}: `{verb}` does not apply to {kind}{}",
                if ok.is_empty() { String::new() } else { format!("; it accepts {}", ok.join(", ")) }
            ));
            continue;
        };
        let sid = |part: &str| format!("{}{}{i}", capitalise(verb), part);
        if !on_arn.is_empty() {
            statements.push(json!({ "Sid": sid(""), "Effect": "Allow", "Action": on_arn, "Resource": target }));
        }
        if !on_objects.is_empty() {
            statements.push(json!({ "Sid": sid("Objects"), "Effect": "Allow", "Action": on_objects, "Resource": with_suffix(target, "/*") }));
        }
        if let (Some(key), false) = (key, kms.is_empty()) {
            statements.push(json!({ "Sid": sid("Key"), "Effect": "Allow", "Action": kms, "Resource": key }));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Some(json!({ "Version": "2012-10-17", "Statement": statements })))
}

fn capitalise(s: &str) -> String {
    s.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

/// The kind-like name of a literal ARN's service, for grants on resources outside the stack.
fn arn_kind(arn: &str) -> String {
    match arn.split(':').nth(2).unwrap_or("") {
        "sqs" => "aws.sqs.queue".into(),
        "sns" => "aws.sns.topic".into(),
        "s3" => "aws.s3.bucket".into(),
        "kms" => "aws.kms.key".into(),
        other => other.to_string(),
    }
}

/// Expands `grants` on every node that has them into `inline_policies["cairn-grants"]`.
pub fn expand_all(nodes: &mut BTreeMap<String, ResourceNode>) -> Vec<(String, Vec<String>)> {
    // Every role's grants compile against the nodes as they were before any was expanded: all
    // are compiled first, then put in place (cloning every node for that cost a graph's worth of memory).
    let compiled: Vec<_> = nodes.values().filter_map(|n| n.props.get("grants").map(|g| (n.address.clone(), compile_grants(g, nodes)))).collect();
    let mut problems = vec![];
    for (address, result) in compiled {
        let Some(node) = nodes.get_mut(&address) else { continue };
        node.props.remove("grants");
        match result {
            Ok(Some(doc)) => {
                let inline = node.props.entry("inline_policies").or_insert_with(|| json!({}));
                if let Value::Object(m) = inline {
                    m.insert("cairn-grants".into(), doc);
                }
            }
            Ok(None) => {}
            Err(e) => problems.push((node.address.clone(), e)),
        }
    }
    let _ = address_segments;
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_arns_map_to_kinds() {
        let doc = compile_grants(&json!([{ "consume": "arn:aws:sqs:us-east-1:1:q" }, { "read": "arn:aws:s3:::b" }]), &BTreeMap::new()).unwrap().unwrap();
        let s = doc["Statement"].as_array().unwrap();
        assert_eq!(s[0]["Resource"], "arn:aws:sqs:us-east-1:1:q");
        assert!(s[0]["Action"].as_array().unwrap().contains(&json!("sqs:ReceiveMessage")));
        assert_eq!(s[2]["Resource"], "arn:aws:s3:::b/*");
        assert!(!doc.to_string().contains("sqs:*"));
    }

    #[test]
    fn wrong_verbs_are_explained() {
        let e = compile_grants(&json!([{ "consume": "arn:aws:sns:us-east-1:1:t" }]), &BTreeMap::new()).unwrap_err();
        assert!(e[0].contains("`consume` does not apply to aws.sns.topic; it accepts send, publish"), "{e:?}");
        let e = compile_grants(&json!([{ "eat": "arn:aws:sns:us-east-1:1:t" }]), &BTreeMap::new()).unwrap_err();
        assert!(e[0].contains("unknown verb"));
    }
}
