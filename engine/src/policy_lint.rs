//! IAM policy checks on every policy document in a stack, with stable rule ids, locations and fix hints.

use serde::Serialize;
use serde_json::Value;

use crate::expr;
use crate::graph::ResourceNode;

/// The rules, by id, with what they catch.
pub const RULES: &[(&str, &str)] = &[
    ("iam-wildcard-action", "Allow with Action \"*\" or \"service:*\""),
    ("iam-wildcard-resource", "Allow with Resource \"*\" for actions that support resource-level permissions"),
    ("iam-not-action", "Allow with NotAction"),
    ("iam-not-resource", "Allow with NotResource"),
    ("iam-passrole-wildcard", "iam:PassRole on any role"),
    ("iam-public-principal", "a \"*\" principal without a restricting condition"),
    ("iam-web-identity-trust", "a web-identity trust without both aud and sub conditions, or with a wildcard sub"),
    ("iam-admin-policy", "an AWS administrator policy attached"),
    ("iam-role-boundary", "a role whose permissions boundary is not the one the stack names in `policy.permissions_boundary`"),
];

/// One violation, before exceptions are applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub address: String,
    /// Where in the resource: `inline_policies.deploy Statement[0]`.
    pub location: String,
    pub message: String,
    pub hint: String,
    /// The property the finding is in, for locating it in the stack file.
    pub prop: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DocKind {
    /// Attached to a principal: what it may do.
    Identity,
    /// Attached to a resource: who may use it.
    Resource,
    /// A role's trust policy: who may assume it.
    Trust,
}

const ADMIN_POLICIES: &[&str] =
    &["arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/PowerUserAccess", "arn:aws:iam::aws:policy/IAMFullAccess"];

/// Actions that AWS does not scope to a resource, for which `Resource: "*"` is the only choice.
fn unscoped(action: &str) -> bool {
    const EXACT: &[&str] = &[
        "sts:GetCallerIdentity",
        "ecr:GetAuthorizationToken",
        "s3:ListAllMyBuckets",
        "kms:CreateKey",
        "kms:GenerateRandom",
        "iam:CreateServiceLinkedRole",
        "cloudwatch:PutMetricData",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "tag:GetResources",
        "ec2:CreateTags",
    ];
    let verb = action.split(':').nth(1).unwrap_or("");
    // What `cairn iam-policy` puts on "*" because AWS offers nothing narrower.
    let generated = crate::iam_policy::UNSCOPABLE.iter().any(|(a, _)| *a == action);
    generated
        || EXACT.contains(&action)
        || verb.starts_with("List")
        || action.starts_with("ec2:Describe")
        || action.starts_with("rds:Describe")
        || action.starts_with("logs:Describe")
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

fn check_doc(doc: &Value, kind: DocKind, address: &str, prop: &str, location: &str, out: &mut Vec<Finding>) {
    // A document built only at apply time (a trust for an issuer not yet known) is generated
    // by cairn's own components from checked inputs.
    if expr::as_unknown(doc).is_some() {
        return;
    }
    let stmts = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(s @ Value::Object(_)) => vec![s.clone()],
        _ => return,
    };
    let mut push = |rule: &'static str, i: usize, message: String, hint: &str| {
        out.push(Finding {
            rule,
            address: address.to_string(),
            location: format!("{location} Statement[{i}]"),
            message,
            hint: hint.to_string(),
            prop: prop.to_string(),
        });
    };
    for (i, s) in stmts.iter().enumerate() {
        let allow = s.get("Effect").and_then(Value::as_str) == Some("Allow");
        if !allow {
            continue;
        }
        let actions = strings(s.get("Action"));
        let resources = strings(s.get("Resource"));
        if s.get("NotAction").is_some() {
            push(
                "iam-not-action",
                i,
                "Allow with NotAction grants every action not listed, including ones AWS adds later".into(),
                "list the actions to allow in Action instead",
            );
        }
        if s.get("NotResource").is_some() {
            push("iam-not-resource", i, "Allow with NotResource applies to every resource not listed".into(), "list the resources in Resource instead");
        }
        if kind == DocKind::Identity {
            for a in &actions {
                if a == "*" || a.ends_with(":*") {
                    push(
                        "iam-wildcard-action",
                        i,
                        format!("Action `{a}` allows every action{}", if a == "*" { " in every service" } else { " of the service" }),
                        "list the exact actions needed (`cairn iam-actions` shows what each resource type calls)",
                    );
                }
            }
            let any_resource = resources.iter().any(|r| r == "*");
            if any_resource {
                let scoped: Vec<&String> = actions.iter().filter(|a| !unscoped(a)).collect();
                if !scoped.is_empty() {
                    push(
                        "iam-wildcard-resource",
                        i,
                        format!(
                            "Resource \"*\" for actions that can be scoped to resources: {}",
                            scoped.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                        "name the ARNs (reference them, e.g. ${orders.arn}) or use grants",
                    );
                }
            }
            let passrole = actions.iter().any(|a| a == "iam:PassRole" || a == "iam:*" || a == "*");
            if passrole && any_resource {
                push(
                    "iam-passrole-wildcard",
                    i,
                    "iam:PassRole on any role lets the holder hand any role, including admin roles, to a service".into(),
                    "scope Resource to the role ARNs that must be passed",
                );
            }
        }
        if matches!(kind, DocKind::Resource | DocKind::Trust) {
            let principal = s.get("Principal");
            let public = match principal {
                Some(Value::String(p)) => p == "*",
                Some(Value::Object(m)) => m.get("AWS").is_some_and(|v| strings(Some(v)).iter().any(|x| x == "*")),
                _ => false,
            };
            if public && s.get("Condition").is_none_or(|c| c.as_object().is_none_or(|m| m.is_empty())) {
                push(
                    "iam-public-principal",
                    i,
                    "Principal \"*\" with no condition lets anyone, in any account, use this".into(),
                    "name the principals, or add a condition such as aws:SourceArn or aws:PrincipalOrgID",
                );
            }
        }
        if kind == DocKind::Trust && actions.iter().any(|a| a == "sts:AssumeRoleWithWebIdentity") {
            let conds: Vec<(String, Vec<String>)> = s
                .get("Condition")
                .and_then(Value::as_object)
                .map(|ops| ops.values().filter_map(Value::as_object).flat_map(|m| m.iter().map(|(k, v)| (k.clone(), strings(Some(v))))).collect())
                .unwrap_or_default();
            let has = |suffix: &str| conds.iter().any(|(k, _)| k.ends_with(suffix));
            if !has(":aud") || !has(":sub") {
                push(
                    "iam-web-identity-trust",
                    i,
                    "a web-identity trust must pin both the audience (`:aud`) and the subject (`:sub`)".into(),
                    "add StringEquals conditions on <issuer>:aud (sts.amazonaws.com) and <issuer>:sub (e.g. repo:ORG/REPO:environment:prod)",
                );
            }
            for (k, values) in conds.iter().filter(|(k, _)| k.ends_with(":sub")) {
                for v in values {
                    if v == "*" || v.ends_with("/*") || v.ends_with(":*") || v.starts_with('*') {
                        push(
                            "iam-web-identity-trust",
                            i,
                            format!("`{k}` = \"{v}\" lets any repository or workload matching the wildcard assume the role"),
                            "pin the subject to one repository and environment or branch: repo:ORG/REPO:environment:ENV",
                        );
                    }
                }
            }
        }
    }
}

/// Puts the stack's permissions boundary (`policy.permissions_boundary`) on every role that
/// sets none, component parts included, and reports a role that sets another one, or a
/// boundary that is not a managed policy ARN. The deploy policy `cairn iam-policy` writes
/// lets roles be created only with the stack's boundary, so such a role could not be created.
///
/// A stack that names no boundary gets no finding here: its roles are valid, and it is
/// `cairn iam-policy --for apply` that refuses to write a deploy policy able to create them.
pub fn apply_boundary(nodes: &mut std::collections::BTreeMap<String, ResourceNode>, boundary: Option<&Value>) -> Vec<Finding> {
    let Some(boundary) = boundary.filter(|b| !b.is_null()) else { return vec![] };
    let mut out = vec![];
    if let Some(text) = boundary.as_str() {
        if !(text.starts_with("arn:") && text.contains(":iam::") && text.contains(":policy/")) {
            out.push(Finding {
                rule: "iam-role-boundary",
                address: "policy.permissions_boundary".into(),
                location: "policy.permissions_boundary".into(),
                message: format!("`{text}` is not a managed policy ARN"),
                hint: "name the boundary policy by ARN: arn:aws:iam::ACCOUNT:policy/NAME".into(),
                prop: String::new(),
            });
            return out;
        }
    }
    for node in nodes.values_mut().filter(|n| n.kind == "aws.iam.role") {
        match node.props.get("permissions_boundary") {
            None | Some(Value::Null) => {
                node.props.insert("permissions_boundary".into(), boundary.clone());
            }
            Some(own) if own == boundary || expr::as_unknown(own).is_some() => {}
            Some(own) => out.push(Finding {
                rule: "iam-role-boundary",
                address: node.address.clone(),
                location: "permissions_boundary".into(),
                message: format!("sets the permissions boundary {own}, not the stack's {boundary}"),
                hint: "leave `permissions_boundary` out (the role gets the stack's), or change `policy.permissions_boundary`".into(),
                prop: "permissions_boundary".into(),
            }),
        }
    }
    out
}

/// Every finding in one resource's properties.
pub fn check_node(node: &ResourceNode) -> Vec<Finding> {
    let mut out = vec![];
    let a = &node.address;
    match node.kind.as_str() {
        "aws.iam.role" => {
            if let Some(t) = node.props.get("assume_role_policy") {
                check_doc(t, DocKind::Trust, a, "assume_role_policy", "assume_role_policy", &mut out);
            }
            if let Some(Value::Object(m)) = node.props.get("inline_policies") {
                for (name, doc) in m {
                    check_doc(doc, DocKind::Identity, a, "inline_policies", &format!("inline_policies.{name}"), &mut out);
                }
            }
            for arn in strings(node.props.get("managed_policy_arns")) {
                if ADMIN_POLICIES.contains(&arn.as_str()) {
                    out.push(Finding {
                        rule: "iam-admin-policy",
                        address: a.clone(),
                        location: "managed_policy_arns".into(),
                        message: format!("attaches {arn}"),
                        hint: "grant only what the role needs (grants, or `cairn iam-policy` for deploy roles)".into(),
                        prop: "managed_policy_arns".into(),
                    });
                }
            }
        }
        "aws.iam.policy" => {
            if let Some(d) = node.props.get("policy") {
                check_doc(d, DocKind::Identity, a, "policy", "policy", &mut out);
            }
        }
        "aws.s3.bucket" | "aws.sqs.queue" | "aws.sns.topic" | "aws.kms.key" => {
            if let Some(d) = node.props.get("policy") {
                check_doc(d, DocKind::Resource, a, "policy", "policy", &mut out);
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(props: Value) -> ResourceNode {
        ResourceNode {
            address: "r".into(),
            name: "r".into(),
            kind: "aws.iam.role".into(),
            props: props.as_object().cloned().unwrap_or_default(),
            tags: Default::default(),
            deps: Default::default(),
            lifecycle: Default::default(),
            span: Default::default(),
            owner: crate::provider::Owner { stack: "s".into(), env: "e".into(), address: "r".into() },
            default_name: "s-e-r".into(),
            prop_spans: Default::default(),
        }
    }

    fn rules(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|x| x.rule).collect()
    }

    #[test]
    fn catches_wildcards_and_passrole() {
        let n = role(json!({ "inline_policies": { "p": { "Statement": [
            { "Effect": "Allow", "Action": "*", "Resource": "*" },
            { "Effect": "Allow", "Action": ["s3:*"], "Resource": "arn:aws:s3:::b" },
            { "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*" },
            { "Effect": "Allow", "Action": ["sts:GetCallerIdentity", "ecr:GetAuthorizationToken"], "Resource": "*" },
            { "Effect": "Deny", "Action": "*", "Resource": "*" }
        ] } } }));
        let f = check_node(&n);
        assert_eq!(
            rules(&f),
            ["iam-wildcard-action", "iam-wildcard-resource", "iam-passrole-wildcard", "iam-wildcard-action", "iam-wildcard-resource", "iam-passrole-wildcard"]
        );
        assert_eq!(f[3].location, "inline_policies.p Statement[1]");
    }

    #[test]
    fn web_identity_trust_needs_aud_and_pinned_sub() {
        let trust = |cond: Value| {
            role(
                json!({ "assume_role_policy": { "Statement": [{ "Effect": "Allow", "Principal": { "Federated": "arn:p" }, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": cond }] } }),
            )
        };
        assert_eq!(rules(&check_node(&trust(json!({ "StringEquals": { "x:sub": "repo:o/r:environment:prod" } })))), ["iam-web-identity-trust"]);
        assert_eq!(rules(&check_node(&trust(json!({ "StringLike": { "x:sub": "repo:o/*", "x:aud": "sts.amazonaws.com" } })))), ["iam-web-identity-trust"]);
        assert!(check_node(&trust(json!({ "StringEquals": { "x:sub": "repo:o/r:environment:prod", "x:aud": "sts.amazonaws.com" } }))).is_empty());
    }

    #[test]
    fn the_stacks_boundary_goes_on_every_role_and_another_one_is_refused() {
        let boundary = json!("arn:aws:iam::1:policy/boundary");
        let mut nodes: std::collections::BTreeMap<String, ResourceNode> = [
            ("a".to_string(), role(json!({}))),
            ("b".to_string(), role(json!({ "permissions_boundary": "arn:aws:iam::1:policy/other" }))),
            ("c".to_string(), ResourceNode { kind: "aws.sqs.queue".into(), ..role(json!({})) }),
        ]
        .into();
        nodes.get_mut("b").unwrap().address = "b".into();
        let f = apply_boundary(&mut nodes, Some(&boundary));
        assert_eq!(nodes["a"].props["permissions_boundary"], boundary);
        assert!(!nodes["c"].props.contains_key("permissions_boundary"));
        assert_eq!(rules(&f), ["iam-role-boundary"]);
        assert_eq!((f[0].address.as_str(), f[0].prop.as_str()), ("b", "permissions_boundary"));
        // No boundary named: nothing changes and nothing is reported here (iam-policy refuses instead).
        let mut plain: std::collections::BTreeMap<String, ResourceNode> = [("a".to_string(), role(json!({})))].into();
        assert!(apply_boundary(&mut plain, None).is_empty());
        assert!(!plain["a"].props.contains_key("permissions_boundary"));
        let bad = apply_boundary(&mut plain, Some(&json!("AdministratorAccess")));
        assert_eq!(rules(&bad), ["iam-role-boundary"]);
        assert!(bad[0].message.contains("not a managed policy ARN"));
    }

    #[test]
    fn public_principals_and_admin_policies() {
        let mut n = role(
            json!({ "managed_policy_arns": ["arn:aws:iam::aws:policy/AdministratorAccess"], "assume_role_policy": { "Statement": [{ "Effect": "Allow", "Principal": { "AWS": "*" }, "Action": "sts:AssumeRole" }] } }),
        );
        assert_eq!(rules(&check_node(&n)), ["iam-public-principal", "iam-admin-policy"]);
        n.kind = "aws.sqs.queue".into();
        n.props = json!({ "policy": { "Statement": [{ "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*", "Condition": { "ArnEquals": { "aws:SourceArn": "arn:t" } } }] } }).as_object().cloned().unwrap_or_default();
        assert!(check_node(&n).is_empty(), "a condition restricts a public principal; Resource * is normal in resource policies");
    }
}
