//! Tests of the policy generator and the audit, on a graph with one resource of each scoping.

use super::audit::strings;
use super::*;
use crate::graph::ResourceNode;
use crate::provider::Owner;

/// Action tables as the real kinds declare them (resources/src), for the kinds these tests use.
fn table(kind: &str, op: Operation) -> Option<Vec<&'static str>> {
    use Operation::*;
    Some(match (kind, op) {
        ("aws.sqs.queue", Read) => vec!["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ListQueueTags"],
        ("aws.sqs.queue", Create) => vec!["sqs:CreateQueue", "sqs:TagQueue", "sqs:GetQueueAttributes"],
        ("aws.sqs.queue", Update) => vec!["sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue"],
        ("aws.sqs.queue", Delete) => vec!["sqs:DeleteQueue"],
        ("aws.kms.key", Read) => vec!["kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListAliases", "kms:ListResourceTags"],
        ("aws.kms.key", Create) => vec!["kms:CreateKey", "kms:TagResource", "kms:EnableKeyRotation", "kms:CreateAlias", "kms:ListKeys"],
        ("aws.kms.key", Update) => vec!["kms:PutKeyPolicy", "kms:UpdateAlias", "kms:DeleteAlias", "kms:TagResource", "kms:UntagResource"],
        ("aws.kms.key", Delete) => vec!["kms:DescribeKey", "kms:DeleteAlias", "kms:ScheduleKeyDeletion"],
        ("aws.ec2.vpc", Read) => vec!["ec2:DescribeVpcs"],
        ("aws.ec2.vpc", Create) => vec!["ec2:CreateVpc", "ec2:CreateTags", "ec2:ModifyVpcAttribute", "ec2:DescribeVpcs"],
        ("aws.ec2.vpc", Update) => vec!["ec2:ModifyVpcAttribute", "ec2:CreateTags", "ec2:DeleteTags"],
        ("aws.ec2.vpc", Delete) => vec!["ec2:DeleteVpc", "ec2:DescribeNetworkInterfaces"],
        ("aws.ec2.subnet", Create) => vec!["ec2:CreateSubnet", "ec2:CreateTags", "ec2:ModifySubnetAttribute"],
        ("aws.ec2.subnet", Delete) => vec!["ec2:DeleteSubnet"],
        ("aws.ec2.subnet", _) => vec!["ec2:DescribeSubnets"],
        ("aws.iam.role", Read) => vec!["iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies"],
        ("aws.iam.role", Create) => vec!["iam:CreateRole", "iam:TagRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"],
        ("aws.iam.role", Update) => {
            vec![
                "iam:UpdateAssumeRolePolicy",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:PutRolePermissionsBoundary",
                "iam:DeleteRolePermissionsBoundary",
            ]
        }
        ("aws.iam.role", Delete) => vec!["iam:DetachRolePolicy", "iam:DeleteRolePolicy", "iam:DeleteRole"],
        ("aws.eks.cluster", Read) => vec!["eks:DescribeCluster"],
        ("aws.eks.cluster", Create) => {
            vec!["eks:CreateCluster", "eks:TagResource", "iam:PassRole", "iam:CreateServiceLinkedRole", "kms:DescribeKey", "kms:CreateGrant"]
        }
        ("aws.eks.cluster", Update) => vec!["eks:UpdateClusterConfig"],
        ("aws.eks.cluster", Delete) => vec!["eks:DeleteCluster"],
        ("aws.rds.instance", Read) => vec!["rds:DescribeDBInstances"],
        ("aws.rds.instance", Create) => {
            vec!["rds:CreateDBInstance", "rds:AddTagsToResource", "secretsmanager:CreateSecret", "kms:CreateGrant", "kms:Decrypt"]
        }
        ("aws.rds.instance", Update) => vec!["rds:ModifyDBInstance"],
        ("aws.rds.instance", Delete) => vec!["rds:DeleteDBInstance", "rds:CreateDBSnapshot", "secretsmanager:DeleteSecret"],
        ("aws.wafv2.web_acl", Read) => vec!["wafv2:GetWebACL"],
        ("aws.wafv2.web_acl", Create) => vec!["wafv2:ListWebACLs", "wafv2:CreateWebACL", "wafv2:TagResource"],
        ("aws.wafv2.web_acl", Update) => vec!["wafv2:UpdateWebACL"],
        ("aws.wafv2.web_acl", Delete) => vec!["wafv2:DeleteWebACL"],
        ("aws.s3.bucket", Read) => vec!["s3:ListBucket", "s3:GetBucketPolicy"],
        ("aws.s3.bucket", Create) => vec!["s3:CreateBucket", "s3:PutBucketPolicy"],
        ("aws.s3.bucket", Update) => vec!["s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
        ("aws.s3.bucket", Delete) => vec!["s3:DeleteBucket", "s3:DeleteObject"],
        _ => return None,
    })
}

fn node(address: &str, kind: &str, props: Value) -> ResourceNode {
    ResourceNode {
        address: address.into(),
        name: address.into(),
        kind: kind.into(),
        props: props.as_object().cloned().unwrap_or_default(),
        tags: [("Team".to_string(), "core".to_string())].into(),
        deps: Default::default(),
        lifecycle: Default::default(),
        span: Default::default(),
        owner: Owner { stack: "app".into(), env: "prod".into(), address: address.into() },
        default_name: crate::compile::default_name("app", "prod", address),
        prop_spans: Default::default(),
    }
}

const BOUNDARY: &str = "arn:aws:iam::111122223333:policy/workload-boundary";

fn graph() -> ResourceGraph {
    let nodes = [
        node("orders", "aws.sqs.queue", json!({})),
        node("jobs", "aws.sqs.queue", json!({ "name": "app-prod-jobs", "fifo_queue": true })),
        node("data_key", "aws.kms.key", json!({ "alias": "alias/app-prod-data" })),
        node("vpc", "aws.ec2.vpc", json!({ "cidr_block": "10.0.0.0/16" })),
        node("subnet", "aws.ec2.subnet", json!({ "vpc_id": { "$unknown": "vpc.id" } })),
        node("worker", "aws.iam.role", json!({ "path": "/svc/", "permissions_boundary": BOUNDARY })),
        node("cluster", "aws.eks.cluster", json!({ "name": "app-prod" })),
        node("db", "aws.rds.instance", json!({})),
        node("acl", "aws.wafv2.web_acl", json!({ "scope": "REGIONAL" })),
        node("media", "aws.s3.bucket", json!({ "bucket": "acme-media" })),
    ];
    ResourceGraph {
        stack: "app".into(),
        env: "prod".into(),
        region: "eu-west-1".into(),
        account_id: Some("111122223333".into()),
        nodes: nodes.into_iter().map(|n| (n.address.clone(), n)).collect(),
        outputs: Default::default(),
        vars: Default::default(),
        exceptions: vec![],
        moved: vec![],
    }
}

fn generate_for(graph: &ResourceGraph, purpose: Purpose, state: Option<&StateBackend>) -> Result<Value, PolicyError> {
    let extra = BTreeSet::new();
    generate_with(graph, &table, &Request { purpose, account: "111122223333", extra_kinds: &extra, state })
}

fn statement<'a>(policy: &'a Value, sid: &str) -> &'a Value {
    policy["Statement"].as_array().and_then(|a| a.iter().find(|s| s["Sid"] == sid)).unwrap_or_else(|| panic!("no statement {sid} in {policy:#}"))
}

fn resources(policy: &Value) -> Vec<String> {
    policy["Statement"].as_array().into_iter().flatten().flat_map(|s| strings(&s["Resource"])).collect()
}

#[test]
fn no_resource_is_a_prefix_another_stack_can_match() {
    let p = generate_for(&graph(), Purpose::Apply, None).unwrap();
    assert!(audit(&p, "app", "prod").is_empty(), "{:#?}", audit(&p, "app", "prod"));
    let all = resources(&p);
    assert!(all.iter().all(|r| !r.contains("app-prod-*")), "{all:#?}");
    // Exact names: derived, explicit with the FIFO suffix, IAM path, bucket and its objects.
    for want in [
        "arn:aws:sqs:eu-west-1:111122223333:app-prod-orders",
        "arn:aws:sqs:eu-west-1:111122223333:app-prod-jobs.fifo",
        "arn:aws:iam::111122223333:role/svc/app-prod-worker",
        "arn:aws:s3:::acme-media",
        "arn:aws:s3:::acme-media/*",
        "arn:aws:eks:eu-west-1:111122223333:cluster/app-prod",
        "arn:aws:eks:eu-west-1:111122223333:nodegroup/app-prod/*",
        "arn:aws:rds:eu-west-1:111122223333:db:app-prod-db",
        "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/app-prod-acl/*",
        "arn:aws:kms:eu-west-1:111122223333:alias/app-prod-data",
    ] {
        assert!(all.iter().any(|r| r == want), "{want} missing from {all:#?}");
    }
}

#[test]
fn the_audit_catches_a_prefix() {
    let p = json!({ "Statement": [{ "Sid": "Old", "Effect": "Allow", "Action": "sqs:DeleteQueue", "Resource": "arn:aws:sqs:r:1:app-prod-*" }] });
    assert_eq!(audit(&p, "app", "prod"), ["Old: arn:aws:sqs:r:1:app-prod-* is a name prefix another stack can match"]);
}

#[test]
fn no_account_wide_destructive_action_without_a_tag_condition() {
    let p = generate_for(&graph(), Purpose::Apply, None).unwrap();
    // What the old generator gave: account-wide EC2 and KMS deletes.
    let old = json!({ "Statement": [
        { "Sid": "Ec2Scoped", "Effect": "Allow", "Action": ["ec2:DeleteVpc"], "Resource": ["arn:aws:ec2:eu-west-1:111122223333:*"] },
        { "Sid": "KmsScoped", "Effect": "Allow", "Action": ["kms:ScheduleKeyDeletion"], "Resource": ["arn:aws:kms:eu-west-1:111122223333:key/*"] }
    ] });
    assert_eq!(audit(&old, "app", "prod").len(), 2, "{:#?}", audit(&old, "app", "prod"));
    for (sid, action) in
        [("Ec2Owned", "ec2:DeleteVpc"), ("Ec2Owned", "ec2:DeleteSubnet"), ("KmsOwned", "kms:ScheduleKeyDeletion"), ("KmsOwned", "kms:PutKeyPolicy")]
    {
        let s = statement(&p, sid);
        assert!(strings(&s["Action"]).contains(&action.to_string()), "{action} in {s:#}");
        assert_eq!(s["Condition"]["StringEquals"]["aws:ResourceTag/cairn:stack"], "app", "{s:#}");
        assert_eq!(s["Condition"]["StringEquals"]["aws:ResourceTag/cairn:env"], "prod", "{s:#}");
    }
    // Creates carry the ownership tags in the request, and CreateTags on its own is only for creates.
    let create = statement(&p, "Ec2CreateTagged");
    assert_eq!(create["Condition"]["StringEquals"]["aws:RequestTag/cairn:stack"], "app");
    assert!(strings(&create["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"]).contains(&"Team".to_string()));
    assert!(strings(&statement(&p, "Ec2TagOnCreate")["Condition"]["StringEquals"]["ec2:CreateAction"]).contains(&"CreateVpc".to_string()));
    assert_eq!(statement(&p, "KmsCreate")["Condition"]["StringEquals"]["aws:RequestTag/cairn:env"], "prod");
    // Grants only for AWS resources, secrets only RDS-managed ones.
    assert_eq!(statement(&p, "KmsGrantForAwsResource")["Condition"]["Bool"]["kms:GrantIsForAWSResource"], "true");
    assert_eq!(statement(&p, "RdsManagedSecrets")["Resource"], "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!*");
}

#[test]
fn no_role_creation_without_a_boundary() {
    let p = generate_for(&graph(), Purpose::Apply, None).unwrap();
    let bounded = statement(&p, "IamRoleBounded");
    assert_eq!(strings(&bounded["Action"]), ["iam:AttachRolePolicy", "iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy"]);
    assert_eq!(bounded["Condition"]["StringEquals"]["iam:PermissionsBoundary"], json!([BOUNDARY]));
    let allowed = actions_of(&p);
    assert!(!allowed.contains("iam:DeleteRolePermissionsBoundary"));
    assert_eq!(statement(&p, "KeepRoleBoundaries")["Effect"], "Deny");
    assert_eq!(statement(&p, "KeepTheBoundaryPolicy")["Resource"], json!([BOUNDARY]));

    let mut g = graph();
    g.nodes.get_mut("worker").unwrap().props.remove("permissions_boundary");
    let err = generate_for(&g, Purpose::Apply, None).unwrap_err();
    assert_eq!(err, PolicyError::RolesWithoutBoundary { roles: vec!["worker".into()] });
    assert!(err.to_string().contains("permissions_boundary"), "{err}");
    // Reading needs no boundary.
    generate_for(&g, Purpose::Plan, None).unwrap();
    let audited =
        audit(&json!({ "Statement": [{ "Sid": "R", "Effect": "Allow", "Action": "iam:CreateRole", "Resource": "arn:aws:iam::1:role/x" }] }), "app", "prod");
    assert_eq!(audited.len(), 1, "{audited:?}");
}

#[test]
fn plan_policies_only_read() {
    let p = generate_for(&graph(), Purpose::Plan, None).unwrap();
    let writes: Vec<String> = actions_of(&p).into_iter().filter(|a| !is_read(a) && !unscopable(a)).collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[test]
fn state_backend_objects_listing_and_key() {
    let b = StateBackend {
        bucket: "acme-state".into(),
        key_prefix: "/platform/".into(),
        region: Some("us-east-1".into()),
        kms_key: Some("alias/cairn-state".into()),
    };
    let p = generate_for(&graph(), Purpose::Plan, Some(&b)).unwrap();
    let base = "arn:aws:s3:::acme-state/platform/app/prod/";
    assert_eq!(strings(&statement(&p, "StateLock")["Resource"]), [format!("{base}lock.json")]);
    assert_eq!(strings(&statement(&p, "StateLock")["Action"]), ["s3:DeleteObject", "s3:PutObject"]);
    assert!(strings(&statement(&p, "StateRead")["Resource"]).contains(&format!("{base}state.json")));
    let list = statement(&p, "StateList");
    assert_eq!(list["Resource"], "arn:aws:s3:::acme-state");
    assert_eq!(list["Condition"]["StringLike"]["s3:prefix"], json!(["platform/app/prod/*"]));
    let key = statement(&p, "StateKey");
    assert_eq!(strings(&key["Action"]), ["kms:Decrypt", "kms:GenerateDataKey"]);
    assert_eq!(key["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"], json!(["alias/cairn-state"]));
    assert_eq!(key["Condition"]["StringEquals"]["kms:ViaService"], "s3.us-east-1.amazonaws.com");
    // Apply also writes history; a key given by ARN is named exactly.
    let b = StateBackend { kms_key: Some("arn:aws:kms:us-east-1:111122223333:key/1234".into()), ..b };
    let p = generate_for(&graph(), Purpose::Apply, Some(&b)).unwrap();
    assert!(strings(&statement(&p, "StateWrite")["Resource"]).contains(&format!("{base}history/*")));
    assert_eq!(statement(&p, "StateKey")["Resource"], "arn:aws:kms:us-east-1:111122223333:key/1234");
    assert!(audit(&p, "app", "prod").is_empty(), "{:#?}", audit(&p, "app", "prod"));
}

#[test]
fn kinds_only_state_holds_are_reached_by_their_ownership_tags() {
    let mut g = graph();
    g.nodes.retain(|_, n| n.kind != "aws.sqs.queue");
    let extra = BTreeSet::from(["aws.sqs.queue".to_string()]);
    let p = generate_with(&g, &table, &Request { purpose: Purpose::Destroy, account: "111122223333", extra_kinds: &extra, state: None }).unwrap();
    let s = statement(&p, "LeftTheStack");
    assert_eq!(strings(&s["Action"]), ["sqs:DeleteQueue"]);
    assert_eq!(s["Condition"]["StringEquals"]["aws:ResourceTag/cairn:stack"], "app");
    assert!(audit(&p, "app", "prod").is_empty(), "{:#?}", audit(&p, "app", "prod"));
}

#[test]
fn a_name_known_only_after_apply_is_refused() {
    let mut g = graph();
    g.nodes.get_mut("orders").unwrap().props.insert("name".into(), json!({ "$unknown": "x.id" }));
    assert_eq!(generate_for(&g, Purpose::Apply, None).unwrap_err(), PolicyError::NameUnknown { address: "orders".into(), kind: "aws.sqs.queue".into() });
}

static ROLE: crate::provider::ResourceSchema = crate::provider::ResourceSchema {
    kind: "aws.iam.role",
    doc: "",
    props: &[
        crate::provider::PropSpec::new("name", crate::provider::PropType::String, ""),
        crate::provider::PropSpec::new("description", crate::provider::PropType::String, ""),
        crate::provider::PropSpec::new("assume_role_policy", crate::provider::PropType::Policy, ""),
        crate::provider::PropSpec::new("max_session_duration", crate::provider::PropType::Int, ""),
        crate::provider::PropSpec::new("inline_policies", crate::provider::PropType::Object, ""),
        crate::provider::PropSpec::new("permissions_boundary", crate::provider::PropType::String, ""),
    ],
    attrs: &["arn", "name"],
    taggable: true,
    rules: &[],
};

struct RoleOnly;
impl crate::provider::SchemaSource for RoleOnly {
    fn schema_of(&self, kind: &str) -> Option<&'static crate::provider::ResourceSchema> {
        (kind == ROLE.kind).then_some(&ROLE)
    }
    fn all_schemas(&self) -> Vec<&'static crate::provider::ResourceSchema> {
        vec![&ROLE]
    }
}

fn compiled(text: &str) -> Result<ResourceGraph, String> {
    let file = crate::source::SourceFile::new("stack.yaml", text.to_string());
    let opts = crate::compile::CompileOptions { env: "prod".into(), ..Default::default() };
    crate::compile::compile_source(&file, &opts, &RoleOnly).map(|(g, _)| g).map_err(|d| d.render(&file))
}

const STACK: &str = "stack: app\nregion: eu-west-1\nenvironments: { prod: { account_id: \"111122223333\" } }\n\
    policy: { permissions_boundary: \"arn:aws:iam::${account_id}:policy/workload-boundary\" }\nresources:\n\
    \x20 worker:\n    type: aws.iam.role\n    props:\n      assume_role_policy: { Version: \"2012-10-17\", Statement: [{ Effect: Allow, Principal: { Service: ec2.amazonaws.com }, Action: sts:AssumeRole }] }\n\
    \x20 ci:\n    type: cairn.github_oidc_role\n    props: { repository: acme/app, create_provider: false, provider_arn: \"arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com\" }\n";

#[test]
fn the_stacks_boundary_reaches_every_role_and_the_deploy_policy() {
    let g = compiled(STACK).unwrap();
    let boundary = json!("arn:aws:iam::111122223333:policy/workload-boundary");
    for address in ["worker", "ci.role"] {
        assert_eq!(g.nodes[address].props["permissions_boundary"], boundary, "{address}");
    }
    let extra = BTreeSet::new();
    let p = generate_with(&g, &table, &Request { purpose: Purpose::Apply, account: "111122223333", extra_kinds: &extra, state: None }).unwrap();
    assert_eq!(statement(&p, "IamRoleBounded")["Condition"]["StringEquals"]["iam:PermissionsBoundary"], json!([boundary]));
    assert!(audit(&p, "app", "prod").is_empty(), "{:#?}", audit(&p, "app", "prod"));

    // A role naming another boundary is refused where it says so.
    let other = STACK
        .replace("props:\n      assume_role_policy", "props:\n      permissions_boundary: arn:aws:iam::111122223333:policy/other\n      assume_role_policy");
    let err = compiled(&other).unwrap_err();
    assert!(err.contains("error[iam-role-boundary]") && err.contains("stack.yaml:9:"), "{err}");
    let bad = STACK.replace("policy/workload-boundary", "role/not-a-policy");
    let err = compiled(&bad).unwrap_err();
    assert!(err.contains("error[iam-role-boundary]") && err.contains("not a managed policy ARN"), "{err}");
    // Without a boundary the stack compiles, and the apply policy is refused.
    let none = STACK.replace("policy: { permissions_boundary: \"arn:aws:iam::${account_id}:policy/workload-boundary\" }\n", "");
    let g = compiled(&none).unwrap();
    let err = generate_with(&g, &table, &Request { purpose: Purpose::Apply, account: "1", extra_kinds: &extra, state: None }).unwrap_err();
    assert_eq!(err, PolicyError::RolesWithoutBoundary { roles: vec!["ci.role".into(), "worker".into()] });
}

#[test]
fn account_wide_patterns() {
    for r in ["*", "arn:aws:kms:r:1:key/*", "arn:aws:ec2:r:1:*/*", "arn:aws:ec2:r:1:*", "arn:aws:iam::1:role/*"] {
        assert!(account_wide(r), "{r}");
    }
    for r in [
        "arn:aws:sqs:r:1:app-prod-orders",
        "arn:aws:s3:::b/*",
        "arn:aws:sns:r:1:app-prod-events:*",
        "arn:aws:eks:r:1:nodegroup/c/*",
        "arn:aws:wafv2:r:1:regional/webacl/n/*",
    ] {
        assert!(!account_wide(r), "{r}");
    }
}
