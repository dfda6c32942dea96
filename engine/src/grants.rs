//! Grants: `grants: [{ consume: ${queue.arn} }]` on a role compiles to exact IAM actions on exact ARNs, KMS included.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::component::{address_segments, segments_address};
use crate::expr::{self, Expr, Seg};
use crate::graph::ResourceNode;

/// The verbs a grant may use.
pub const VERBS: &[&str] = &["consume", "send", "publish", "read", "write", "read_write", "encrypt", "decrypt", "pull"];

/// Actions for a verb on a kind: (actions on the target ARN, actions on `<arn>/*` (`<arn>:*`
/// for a log group's streams), KMS actions on the target's key).
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
        // A log group's streams are `<group ARN>:*`; CreateLogStream is authorised on either form.
        ("aws.logs.log_group", "write") => (&["logs:CreateLogStream", "logs:PutLogEvents"], &["logs:CreateLogStream", "logs:PutLogEvents"], &[]),
        // ECR encrypts through its own grant on the key, so a puller needs no KMS action.
        ("aws.ecr.repository", "pull") => (&["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], &[], &[]),
        ("aws.kms.key", "encrypt") => (&["kms:Encrypt", "kms:GenerateDataKey"], &[], &[]),
        ("aws.kms.key", "decrypt") => (&["kms:Decrypt"], &[], &[]),
        ("secretsmanager", "read") => (&["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], &[], DECRYPT),
        ("aws.secretsmanager.secret", "read") => (&["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], &[], DECRYPT),
        ("aws.ssm.parameter", "read") => (&["ssm:GetParameter", "ssm:GetParameters"], &[], DECRYPT),
        _ => return None,
    })
}

/// Actions a verb also needs that AWS authorises only on `*`: a registry login token is for
/// the whole registry, not one repository.
fn account_wide(verb: &str, kind: &str) -> &'static [&'static str] {
    match (kind, verb) {
        ("aws.ecr.repository", "pull") => &["ecr:GetAuthorizationToken"],
        _ => &[],
    }
}

/// Where a kind's sub-resources live under its ARN (objects of a bucket, streams of a log group).
fn sub_suffix(kind: &str) -> &'static str {
    if kind == "aws.logs.log_group" {
        ":*"
    } else {
        "/*"
    }
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
        "aws.secretsmanager.secret" => node.props.get("kms_key_id").cloned(),
        // Only a SecureString is encrypted.
        "aws.ssm.parameter" if node.props.get("type").and_then(Value::as_str) == Some("SecureString") => node.props.get("key_id").cloned(),
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
            statements.push(json!({ "Sid": sid("Objects"), "Effect": "Allow", "Action": on_objects, "Resource": with_suffix(target, sub_suffix(&kind)) }));
        }
        let anywhere = account_wide(verb, &kind);
        if !anywhere.is_empty() {
            statements.push(json!({ "Sid": sid("Anywhere"), "Effect": "Allow", "Action": anywhere, "Resource": "*" }));
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
        "logs" => "aws.logs.log_group".into(),
        "ecr" => "aws.ecr.repository".into(),
        "ssm" => "aws.ssm.parameter".into(),
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
    fn log_group_write_covers_the_group_and_its_streams() {
        let arn = "arn:aws:logs:us-east-1:1:log-group:/app/api";
        let doc = compile_grants(&json!([{ "write": arn }]), &BTreeMap::new()).unwrap().unwrap();
        let s = doc["Statement"].as_array().unwrap();
        assert_eq!(s.len(), 2, "{doc}");
        assert_eq!(s[0]["Resource"], arn);
        assert_eq!(s[1]["Resource"], format!("{arn}:*"));
        for st in s {
            assert_eq!(st["Action"], json!(["logs:CreateLogStream", "logs:PutLogEvents"]));
        }
        let e = compile_grants(&json!([{ "read": arn }]), &BTreeMap::new()).unwrap_err();
        assert!(e[0].contains("`read` does not apply to aws.logs.log_group; it accepts write"), "{e:?}");
    }

    #[test]
    fn repository_pull_adds_the_registry_login_on_any_resource() {
        let arn = "arn:aws:ecr:us-east-1:1:repository/app";
        let doc = compile_grants(&json!([{ "pull": arn }]), &BTreeMap::new()).unwrap().unwrap();
        let s = doc["Statement"].as_array().unwrap();
        assert_eq!(s.len(), 2, "{doc}");
        assert_eq!(s[0]["Resource"], arn);
        assert_eq!(s[0]["Action"], json!(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]));
        assert_eq!((s[1]["Action"].clone(), s[1]["Resource"].clone()), (json!(["ecr:GetAuthorizationToken"]), json!("*")));
        assert!(!doc.to_string().contains("ecr:Put"), "pull never pushes");
        let e = compile_grants(&json!([{ "pull": "arn:aws:sqs:us-east-1:1:q" }]), &BTreeMap::new()).unwrap_err();
        assert!(e[0].contains("`pull` does not apply to aws.sqs.queue"), "{e:?}");
    }

    fn node(address: &str, kind: &str, props: Value) -> ResourceNode {
        ResourceNode {
            address: address.into(),
            name: address.into(),
            kind: kind.into(),
            props: props.as_object().unwrap().clone(),
            tags: Default::default(),
            deps: Default::default(),
            lifecycle: Default::default(),
            span: Default::default(),
            prop_spans: Default::default(),
            owner: crate::provider::Owner { stack: "s".into(), env: "e".into(), address: address.into() },
            default_name: address.into(),
        }
    }

    fn reference(address: &str) -> Value {
        expr::unknown(&Expr::Ref(vec![Seg::Name(address.into()), Seg::Name("arn".into())]))
    }

    #[test]
    fn reading_a_secret_or_a_secure_parameter_includes_its_key() {
        let key = "arn:aws:kms:us-east-1:1:key/k";
        let mut nodes = BTreeMap::new();
        nodes.insert("db".to_string(), node("db", "aws.secretsmanager.secret", json!({"kms_key_id": key})));
        nodes.insert("token".to_string(), node("token", "aws.ssm.parameter", json!({"type": "SecureString", "key_id": key})));
        nodes.insert("url".to_string(), node("url", "aws.ssm.parameter", json!({"type": "String", "value": "https://x"})));
        let doc = compile_grants(&json!([{ "read": reference("db") }, { "read": reference("token") }, { "read": reference("url") }]), &nodes).unwrap().unwrap();
        let s = doc["Statement"].as_array().unwrap();
        assert_eq!(s.len(), 5, "{doc}");
        assert_eq!(s[0]["Action"], json!(["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]));
        assert_eq!((s[1]["Action"].clone(), s[1]["Resource"].clone()), (json!(["kms:Decrypt"]), json!(key)));
        assert_eq!(s[2]["Action"], json!(["ssm:GetParameter", "ssm:GetParameters"]));
        assert_eq!((s[3]["Action"].clone(), s[3]["Resource"].clone()), (json!(["kms:Decrypt"]), json!(key)));
        assert_eq!(s[4]["Action"], json!(["ssm:GetParameter", "ssm:GetParameters"]), "a plain parameter needs no key");
        let e = compile_grants(&json!([{ "write": "arn:aws:ssm:us-east-1:1:parameter/x" }]), &BTreeMap::new()).unwrap_err();
        assert!(e[0].contains("`write` does not apply to aws.ssm.parameter; it accepts read"), "{e:?}");
    }

    #[test]
    fn wrong_verbs_are_explained() {
        let e = compile_grants(&json!([{ "consume": "arn:aws:sns:us-east-1:1:t" }]), &BTreeMap::new()).unwrap_err();
        assert!(e[0].contains("`consume` does not apply to aws.sns.topic; it accepts send, publish"), "{e:?}");
        let e = compile_grants(&json!([{ "eat": "arn:aws:sns:us-east-1:1:t" }]), &BTreeMap::new()).unwrap_err();
        assert!(e[0].contains("unknown verb"));
    }
}
