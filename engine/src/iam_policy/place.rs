//! Places each action a kind calls: on exact ARNs, on ownership-tag conditions where ids are random, or on `*`.

use serde_json::{json, Value};

use super::scope::{kms_key_arns, Scope};
use super::{is_read, service, PolicyError, Statements, BOUNDED_ROLE_ACTIONS};
use crate::graph::ResourceNode;

/// EC2 creates that mint a resource, and the resource type each mints.
const EC2_CREATES: &[(&str, &str)] = &[
    ("ec2:CreateVpc", "vpc"),
    ("ec2:CreateSubnet", "subnet"),
    ("ec2:CreateSecurityGroup", "security-group"),
    ("ec2:CreateRouteTable", "route-table"),
    ("ec2:CreateInternetGateway", "internet-gateway"),
    ("ec2:CreateNatGateway", "natgateway"),
    ("ec2:AllocateAddress", "elastic-ip"),
];

/// Resources an EC2 create also names (the VPC a subnet goes into, the subnet and address
/// of a NAT gateway). They may belong to another stack, and the create does not change them.
const EC2_CREATE_INTO: &[(&str, &[&str])] = &[
    ("ec2:CreateSubnet", &["vpc"]),
    ("ec2:CreateSecurityGroup", &["vpc"]),
    ("ec2:CreateRouteTable", &["vpc"]),
    ("ec2:CreateNatGateway", &["subnet", "elastic-ip"]),
];

/// EC2 actions that join a resource to another one the stack may only reference by id (a
/// subnet in a VPC made elsewhere): allowed on exactly the ids the stack names.
const EC2_JOINS: &[&str] = &[
    "ec2:CreateSubnet",
    "ec2:CreateSecurityGroup",
    "ec2:CreateRouteTable",
    "ec2:CreateNatGateway",
    "ec2:AttachInternetGateway",
    "ec2:DetachInternetGateway",
    "ec2:AssociateRouteTable",
];

/// The service-linked roles each kind may have AWS create.
fn service_linked(kind: &str) -> &'static [&'static str] {
    match kind {
        "aws.eks.cluster" => &["eks.amazonaws.com"],
        "aws.eks.nodegroup" => &["eks-nodegroup.amazonaws.com"],
        "aws.wafv2.logging_configuration" => &["wafv2.amazonaws.com"],
        _ => &[],
    }
}

/// Places one of a kind's own actions.
pub(super) fn place_own(st: &mut Statements, s: &Scope, kind: &str, action: &str, boundaries: &[String]) -> Result<(), PolicyError> {
    let (r, a) = (s.region, s.account);
    if kind.starts_with("aws.ec2.") {
        let any = vec![format!("arn:aws:ec2:{r}:{a}:*/*")];
        if let Some((_, ty)) = EC2_CREATES.iter().find(|(c, _)| *c == action) {
            st.allow("Ec2CreateTagged", action, &[format!("arn:aws:ec2:{r}:{a}:{ty}/*")], Some(s.tagged_at_creation("aws.ec2.")));
            if let Some((_, into)) = EC2_CREATE_INTO.iter().find(|(c, _)| *c == action) {
                let res: Vec<String> = into.iter().map(|t| format!("arn:aws:ec2:{r}:{a}:{t}/*")).collect();
                st.allow("Ec2CreateInto", action, &res, Some(s.owned()));
            }
        }
        if EC2_JOINS.contains(&action) {
            let named = s.ec2_literals();
            if !named.is_empty() {
                st.allow("Ec2Referenced", action, &named, None);
            }
        }
        if EC2_CREATES.iter().any(|(c, _)| *c == action) {
            return Ok(());
        }
        if action == "ec2:CreateTags" {
            let creates: Vec<&str> = EC2_CREATES.iter().map(|(c, _)| c.trim_start_matches("ec2:")).collect();
            st.allow("Ec2TagOnCreate", action, &any, Some(json!({ "StringEquals": { "ec2:CreateAction": creates } })));
            st.allow("Ec2Owned", action, &any, Some(s.owned()));
        } else {
            st.allow("Ec2Owned", action, &any, Some(s.owned()));
        }
        return Ok(());
    }
    if kind == "aws.kms.key" {
        let keys = kms_key_arns(s);
        match action {
            "kms:CreateKey" => st.allow("KmsCreate", action, &["*".to_string()], Some(s.tagged_at_creation("aws.kms."))),
            "kms:TagResource" => {
                // CreateKey with tags is authorised as TagResource too, on a key that has no tags yet.
                st.allow("KmsTagOnCreate", action, &keys, Some(s.tagging_at_creation("aws.kms.")));
                st.allow("KmsOwned", action, &keys, Some(s.owned()));
            }
            "kms:CreateAlias" | "kms:UpdateAlias" | "kms:DeleteAlias" => {
                let aliases: Vec<String> =
                    s.nodes(kind).filter_map(|n| n.props.get("alias").and_then(Value::as_str)).map(|al| format!("arn:aws:kms:{r}:{a}:{al}")).collect();
                if !aliases.is_empty() {
                    st.allow("KmsAliases", action, &aliases, None);
                }
                st.allow("KmsOwned", action, &keys, Some(s.owned()));
            }
            a if is_read(a) => st.allow("KmsRead", a, &keys, None),
            a => st.allow("KmsOwned", a, &keys, Some(s.owned())),
        }
        return Ok(());
    }
    if kind.starts_with("aws.acm.") {
        // Certificate ARNs are random: requested with this stack's tags, changed only while they carry them.
        let certs = [format!("arn:aws:acm:{r}:{a}:certificate/*")];
        match action {
            "acm:RequestCertificate" => st.allow("AcmRequest", action, &["*".to_string()], Some(s.tagged_at_creation("aws.acm."))),
            "acm:AddTagsToCertificate" => {
                // RequestCertificate with tags is authorised as AddTagsToCertificate too, on a certificate without tags yet.
                st.allow("AcmTagOnCreate", action, &certs, Some(s.tagging_at_creation("aws.acm.")));
                st.allow("AcmOwned", action, &certs, Some(s.owned()));
            }
            // ListCertificates has no resource type.
            "acm:ListCertificates" => st.allow("AcmList", action, &["*".to_string()], None),
            a2 if is_read(a2) => st.allow("AcmRead", a2, &certs, None),
            a2 => st.allow("AcmOwned", a2, &certs, Some(s.owned())),
        }
        return Ok(());
    }
    if kind == "aws.backup.plan" || kind == "aws.backup.selection" {
        // Plan ids are random, so plans are scoped by their ownership tags; a selection is
        // authorised on its plan.
        let plans = [format!("arn:aws:backup:{r}:{a}:backup-plan:*")];
        match action {
            "backup:CreateBackupPlan" => st.allow("BackupPlanCreate", action, &plans, Some(s.tagged_at_creation("aws.backup."))),
            "backup:TagResource" => {
                // CreateBackupPlan with tags is authorised as TagResource too, on a plan that has no tags yet.
                st.allow("BackupPlanTagOnCreate", action, &plans, Some(s.tagging_at_creation("aws.backup.")));
                st.allow("BackupPlanOwned", action, &plans, Some(s.owned()));
            }
            a2 if is_read(a2) => st.allow("BackupPlanRead", a2, &plans, None),
            a2 => st.allow("BackupPlanOwned", a2, &plans, Some(s.owned())),
        }
        return Ok(());
    }
    let issuer_unknown = |n: &ResourceNode| !n.props.get("url").is_some_and(Value::is_string);
    if kind == "aws.iam.oidc_provider" && s.nodes(kind).any(issuer_unknown) {
        // An issuer known only after apply (an EKS cluster's): the provider's ARN is not known
        // either, so it is scoped like a random id, by its ownership tags.
        let any = [format!("arn:aws:iam::{a}:oidc-provider/*")];
        match action {
            "iam:CreateOpenIDConnectProvider" => st.allow("IamOidcCreate", action, &any, Some(s.tagged_at_creation("aws.iam."))),
            "iam:TagOpenIDConnectProvider" => {
                st.allow("IamOidcCreate", action, &any, Some(s.tagging_at_creation("aws.iam.")));
                st.allow("IamOidcOwned", action, &any, Some(s.owned()));
            }
            a2 if is_read(a2) => st.allow("IamOidcRead", a2, &any, None),
            a2 => st.allow("IamOidcOwned", a2, &any, Some(s.owned())),
        }
        return Ok(());
    }
    let Some(arns) = s.exact(kind)? else {
        st.allow("Unscoped", action, &["*".to_string()], None);
        return Ok(());
    };
    if arns.is_empty() {
        // A kind only state still holds (it left the stack): its names are not in the graph,
        // but what cairn made carries the ownership tags.
        let svc = service(action);
        let any = match svc {
            "s3" => "arn:aws:s3:::*".to_string(),
            "iam" => format!("arn:aws:iam::{a}:*"),
            _ => format!("arn:aws:{svc}:{r}:{a}:*"),
        };
        if is_read(action) {
            st.allow("LeftTheStackRead", action, &[any], None);
        } else {
            st.allow("LeftTheStack", action, &[any], Some(s.owned()));
        }
        return Ok(());
    }
    let svc = service(action);
    let base = svc[..1].to_uppercase() + &svc[1..];
    if kind == "aws.iam.role" && BOUNDED_ROLE_ACTIONS.contains(&action) {
        st.allow("IamRoleBounded", action, &arns, Some(json!({ "StringEquals": { "iam:PermissionsBoundary": boundaries } })));
    } else if kind == "aws.iam.role" && action == "iam:DeleteRolePermissionsBoundary" {
        // Denied below: a role's boundary is never removed by the deploy role.
    } else {
        st.allow(&format!("{base}ByName"), action, &arns, None);
    }
    Ok(())
}

/// Places an action a kind calls on another service (RDS on Secrets Manager, WAF on S3...).
pub(super) fn place_foreign(st: &mut Statements, s: &Scope, kind: &str, action: &str) -> Result<(), PolicyError> {
    let (r, a) = (s.region, s.account);
    match action {
        "iam:PassRole" | "iam:GetRole" => {
            let roles = s.role_arns()?;
            if !roles.is_empty() {
                st.allow("IamPassStackRoles", action, &roles, None);
            }
        }
        "iam:CreateServiceLinkedRole" => st.service_linked.extend(service_linked(kind)),
        "kms:DescribeKey" => st.allow("KmsRead", action, &kms_key_arns(s), None),
        // Only for a grant an AWS service makes for its own resource (the cluster's secrets, the DB's storage).
        "kms:CreateGrant" => st.allow("KmsGrantForAwsResource", action, &kms_key_arns(s), Some(json!({ "Bool": { "kms:GrantIsForAWSResource": "true" } }))),
        "kms:Decrypt" | "kms:GenerateDataKey" | "kms:Encrypt" => {
            let mut services = vec!["rds", "secretsmanager"];
            if s.nodes("aws.backup.vault").next().is_some() {
                // AWS Backup sets up an encrypted vault's storage with the caller's permissions.
                services.push("backup");
            }
            let via: Vec<String> = services.iter().map(|svc| format!("{svc}.{r}.amazonaws.com")).collect();
            st.allow("KmsViaRds", action, &kms_key_arns(s), Some(json!({ "StringEquals": { "kms:ViaService": via } })))
        }
        // RDS names the master user secrets it manages `rds!...` (a prefix only RDS-managed
        // secrets carry) and creates and deletes them with the caller's permissions; their
        // ids are random, so this is as narrow as AWS allows.
        a2 if service(a2) == "secretsmanager" => st.allow("RdsManagedSecrets", action, &[format!("arn:aws:secretsmanager:{r}:{a}:secret:rds!*")], None),
        a2 if service(a2) == "s3" => {
            let buckets = s.bucket_arns()?;
            if !buckets.is_empty() {
                st.allow("S3ByName", action, &buckets, None);
            }
        }
        "elasticloadbalancing:SetWebACL" | "apigateway:SetWebACL" => {
            let targets = s.literal_arns(&["aws.wafv2.web_acl_association"], "resource_arn", "arn:aws:");
            let res = if !targets.is_empty() && targets.len() == s.nodes("aws.wafv2.web_acl_association").count() {
                targets.into_iter().filter(|t| t.contains(service(action))).collect()
            } else if service(action) == "apigateway" {
                vec![format!("arn:aws:apigateway:{r}::/restapis/*/stages/*")]
            } else {
                vec![format!("arn:aws:elasticloadbalancing:{r}:{a}:loadbalancer/app/*/*")]
            };
            if !res.is_empty() {
                st.allow("WafProtectedResources", action, &res, None);
            }
        }
        other => st.allow("Unscoped", other, &["*".to_string()], None),
    }
    Ok(())
}
