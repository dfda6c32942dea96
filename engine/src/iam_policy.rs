//! Generates the least-privilege IAM policy a principal needs to run plan, apply or destroy on one stack.
//!
//! Actions come from each kind's own table (`ResourceKind::iam_actions`); resources are
//! scoped to the stack's names: explicit names where the stack sets them, and the
//! `<stack>-<env>-*` prefix cairn gives every resource it names itself. Actions AWS cannot
//! scope to a resource (List*, Describe*, kms:CreateKey...) get `Resource: "*"`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::graph::ResourceGraph;
use crate::provider::{Operation, Registry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Plan,
    Apply,
    Destroy,
}

impl Purpose {
    fn operations(self) -> &'static [Operation] {
        match self {
            Purpose::Plan => &[Operation::Read],
            Purpose::Apply => &[Operation::Read, Operation::Create, Operation::Update, Operation::Delete],
            Purpose::Destroy => &[Operation::Read, Operation::Delete],
        }
    }
}

/// Actions AWS does not scope to a resource (account-wide lists, creates that mint a random id).
fn unscoped(action: &str) -> bool {
    const ACCOUNT_WIDE: &[&str] = &[
        "sts:GetCallerIdentity",
        "kms:CreateKey",
        "kms:ListKeys",
        "kms:ListAliases",
        "kms:GenerateRandom",
        "s3:ListAllMyBuckets",
        "sqs:ListQueues",
        "sns:ListTopics",
        "sns:ListSubscriptions",
        "iam:ListRoles",
        "iam:ListPolicies",
        "iam:ListOpenIDConnectProviders",
        "iam:CreateServiceLinkedRole",
        "eks:ListClusters",
        "wafv2:CheckCapacity",
        "wafv2:ListWebACLs",
        "wafv2:ListIPSets",
        "ec2:AllocateAddress",
    ];
    // EC2 Describe calls and most creates cannot be scoped by ARN before the resource exists.
    ACCOUNT_WIDE.contains(&action)
        || action.starts_with("ec2:Describe")
        || action.starts_with("rds:Describe")
        || action.starts_with("ec2:Create") && action != "ec2:CreateTags"
}

/// The ARN patterns of one kind's resources in this stack.
fn scopes(kind: &str, names: &BTreeSet<String>, prefix: &str, region: &str, account: &str) -> Vec<String> {
    let mut all: Vec<String> = names.iter().cloned().collect();
    all.push(format!("{prefix}*"));
    let each = |f: &dyn Fn(&str) -> String| all.iter().map(|n| f(n)).collect::<Vec<_>>();
    match kind {
        "aws.sqs.queue" => each(&|n| format!("arn:aws:sqs:{region}:{account}:{n}")),
        "aws.sns.topic" | "aws.sns.subscription" => each(&|n| format!("arn:aws:sns:{region}:{account}:{n}")),
        "aws.s3.bucket" => {
            let mut v = each(&|n| format!("arn:aws:s3:::{n}"));
            v.extend(each(&|n| format!("arn:aws:s3:::{n}/*")));
            v
        }
        "aws.iam.role" => each(&|n| format!("arn:aws:iam::{account}:role/{n}")),
        "aws.iam.policy" => each(&|n| format!("arn:aws:iam::{account}:policy/{n}")),
        "aws.iam.oidc_provider" => vec![format!("arn:aws:iam::{account}:oidc-provider/*")],
        // Key ids are random: scope to the account's keys and aliases in the region.
        "aws.kms.key" => vec![format!("arn:aws:kms:{region}:{account}:key/*"), format!("arn:aws:kms:{region}:{account}:alias/*")],
        k if k.starts_with("aws.ec2.") => vec![format!("arn:aws:ec2:{region}:{account}:*")],
        k if k.starts_with("aws.eks.") => vec![format!("arn:aws:eks:{region}:{account}:*")],
        k if k.starts_with("aws.rds.") => vec![format!("arn:aws:rds:{region}:{account}:*")],
        k if k.starts_with("aws.wafv2.") => vec![format!("arn:aws:wafv2:{region}:{account}:*")],
        _ => vec!["*".into()],
    }
}

/// Resources of a service that a kind touches on the side, by the names cairn or AWS give them.
fn foreign_scope(service: &str, prefix: &str, region: &str, account: &str) -> Vec<String> {
    match service {
        "kms" => vec![format!("arn:aws:kms:{region}:{account}:key/*"), format!("arn:aws:kms:{region}:{account}:alias/*")],
        "iam" => vec![format!("arn:aws:iam::{account}:role/{prefix}*"), format!("arn:aws:iam::{account}:role/aws-service-role/*")],
        // RDS-managed master passwords live in secrets named rds!...
        "secretsmanager" => vec![format!("arn:aws:secretsmanager:{region}:{account}:secret:rds!*")],
        "logs" => vec![format!("arn:aws:logs:{region}:{account}:log-group:*")],
        "s3" => vec![format!("arn:aws:s3:::{prefix}*"), "arn:aws:s3:::aws-waf-logs-*".to_string()],
        "firehose" => vec![format!("arn:aws:firehose:{region}:{account}:deliverystream/aws-waf-logs-*")],
        "elasticloadbalancing" => vec![format!("arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/*")],
        "ec2" => vec![format!("arn:aws:ec2:{region}:{account}:*")],
        "eks" => vec![format!("arn:aws:eks:{region}:{account}:*")],
        "rds" => vec![format!("arn:aws:rds:{region}:{account}:*")],
        "sqs" => vec![format!("arn:aws:sqs:{region}:{account}:{prefix}*")],
        "sns" => vec![format!("arn:aws:sns:{region}:{account}:{prefix}*")],
        _ => vec!["*".to_string()],
    }
}

/// The service part of an action (`sqs` of `sqs:CreateQueue`), for statement ids.
fn service(action: &str) -> &str {
    action.split(':').next().unwrap_or("")
}

/// The policy document. `account` is the account id (or `*` when unknown).
pub fn generate(graph: &ResourceGraph, extra_kinds: &BTreeSet<String>, registry: &Registry, purpose: Purpose, account: &str) -> Value {
    let prefix = format!("{}-{}-", graph.stack, graph.env);
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for n in graph.nodes.values() {
        let set = names.entry(n.kind.clone()).or_default();
        for key in ["name", "bucket"] {
            if let Some(Value::String(s)) = n.props.get(key) {
                if !s.starts_with(&prefix) {
                    set.insert(s.clone());
                }
            }
        }
        // IAM roles and policies referenced by the stack are passed to services (EKS, RDS monitoring).
    }
    for k in extra_kinds {
        names.entry(k.clone()).or_default();
    }
    // (scope list) -> actions; unscoped actions gather under "*".
    let mut by_scope: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    let mut unscoped_actions: BTreeSet<String> = BTreeSet::from(["sts:GetCallerIdentity".to_string()]);
    for (kind, explicit) in &names {
        let Some(k) = registry.get(kind) else { continue };
        let scope = scopes(kind, explicit, &prefix, &graph.region, account);
        let kind_service = kind.split('.').nth(1).unwrap_or("");
        for op in purpose.operations() {
            for a in k.iam_actions(*op) {
                if unscoped(a) {
                    unscoped_actions.insert(a.to_string());
                } else if service(a) == kind_service || kind_service == "ec2" && service(a) == "ec2" {
                    by_scope.entry(scope.clone()).or_default().insert(a.to_string());
                } else {
                    // A kind also calls other services (RDS manages a Secrets Manager secret,
                    // WAF logs to S3): scope those by the action's own service.
                    by_scope.entry(foreign_scope(service(a), &prefix, &graph.region, account)).or_default().insert(a.to_string());
                }
            }
        }
    }
    let mut statements = vec![json!({ "Sid": "Unscoped", "Effect": "Allow", "Action": unscoped_actions, "Resource": "*" })];
    for (scope, actions) in by_scope {
        let services: BTreeSet<&str> = actions.iter().map(|a| service(a)).collect();
        let sid: String = services.iter().map(|s| s[..1].to_uppercase() + &s[1..]).collect::<Vec<_>>().join("");
        statements.push(json!({ "Sid": format!("{sid}Scoped"), "Effect": "Allow", "Action": actions, "Resource": scope }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// Every action in a generated policy, for diffs between two versions of a stack.
pub fn actions_of(policy: &Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_services_are_scoped_by_their_own_arns() {
        assert_eq!(foreign_scope("secretsmanager", "p-dev-", "us-east-1", "1"), ["arn:aws:secretsmanager:us-east-1:1:secret:rds!*"]);
        assert!(foreign_scope("s3", "p-dev-", "us-east-1", "1").contains(&"arn:aws:s3:::aws-waf-logs-*".to_string()));
        assert!(unscoped("kms:CreateKey") && unscoped("ec2:DescribeVpcs") && !unscoped("s3:ListBucket") && !unscoped("ec2:CreateTags"));
    }
}
