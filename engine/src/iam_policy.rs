//! Generates the least-privilege IAM policy a principal needs to run plan, apply or destroy on one stack.
//!
//! Actions come from each kind's own table (`ResourceKind::iam_actions`). Resources are
//! scoped, strongest first:
//!
//! * **Exact ARNs** from the names the compiled graph gives each resource (its `name`,
//!   `bucket` or `identifier`, else the name cairn derives): SQS, SNS, S3, IAM, RDS, WAF,
//!   EKS (node groups and access entries under the stack's clusters) and KMS aliases. No
//!   `<stack>-<env>-*` prefix: `app-prod-*` would also match another stack `app-prod-eu`.
//! * **Ownership tags** where ids are random (EC2, KMS keys): every action that changes or
//!   deletes needs `aws:ResourceTag/cairn:stack` and `cairn:env` to be this stack's, every
//!   create needs the same values in `aws:RequestTag` (and only the stack's tag keys in
//!   `aws:TagKeys`), and EC2 `CreateTags` without an owned resource is allowed only as
//!   part of a create (`ec2:CreateAction`).
//! * **`Resource: "*"`** only for what AWS cannot scope: lists, describes, and the few
//!   service-side setups in [`UNSCOPABLE`].
//!
//! Roles: when the stack creates roles, each must carry a permissions boundary (the stack's
//! `policy.permissions_boundary`), and `CreateRole`, `PutRolePolicy`, `AttachRolePolicy` and
//! `PutRolePermissionsBoundary` are allowed only with `iam:PermissionsBoundary` equal to it;
//! removing a boundary and changing the boundary policy itself are denied. Without a
//! boundary the deploy role could create a role with any policy and assume it.
//!
//! State: with an S3 backend the policy includes its objects (state, lock, history), the
//! listing of its prefix, and the KMS key the objects are encrypted with.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::graph::{ResourceGraph, ResourceNode};
use crate::provider::{Operation, Registry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Read-only on the stack's resources (plus the state lock): for plan jobs.
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

/// Where the stack keeps its state in S3 (`state.s3` in the stack file).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateBackend {
    pub bucket: String,
    pub key_prefix: String,
    /// The bucket's region when it is not the stack's.
    pub region: Option<String>,
    /// Key id, key ARN, alias name or alias ARN the state objects are encrypted with.
    pub kms_key: Option<String>,
}

/// What to generate a policy for.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub purpose: Purpose,
    /// The account id to put in ARNs (`*` when unknown).
    pub account: &'a str,
    /// Kinds that state holds but the stack no longer declares (destroy must reach them).
    pub extra_kinds: &'a BTreeSet<String>,
    pub state: Option<&'a StateBackend>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("`{address}` ({kind}) has a name known only after apply; the deploy policy names every resource exactly, so give it a name known at plan time")]
    NameUnknown { address: String, kind: String },
    #[error(
        "the stack creates IAM roles without a permissions boundary ({}): a deploy role allowed to create them could create an administrator role and assume it. Name the boundary every role gets: policy: {{ permissions_boundary: arn:aws:iam::ACCOUNT:policy/NAME }}",
        roles.join(", ")
    )]
    RolesWithoutBoundary { roles: Vec<String> },
    #[error("the permissions boundary of `{address}` is known only once the account is: pass --account-id, or set the environment's account_id")]
    BoundaryUnknown { address: String },
}

/// Actions AWS authorises only on `Resource: "*"` (no resource-level permissions), and why
/// cairn calls them. Everything else in a generated policy names resources or carries a
/// tag condition.
pub const UNSCOPABLE: &[(&str, &str)] = &[
    ("sts:GetCallerIdentity", "who is calling, checked against the environment's account"),
    ("kms:ListKeys", "finding a key a crashed run created, by its ownership tags"),
    ("kms:ListAliases", "reading a key's aliases"),
    ("kms:GenerateRandom", "random bytes"),
    ("s3:ListAllMyBuckets", "listing buckets"),
    ("sqs:ListQueues", "listing queues"),
    ("sns:ListTopics", "listing topics"),
    ("sns:ListSubscriptions", "listing subscriptions"),
    ("iam:ListRoles", "listing roles"),
    ("iam:ListPolicies", "listing policies"),
    ("iam:ListOpenIDConnectProviders", "finding the account's OIDC provider"),
    ("eks:ListClusters", "listing clusters"),
    ("wafv2:CheckCapacity", "sizing a web ACL's rules"),
    ("wafv2:ListWebACLs", "finding a web ACL a crashed run created"),
    ("wafv2:ListIPSets", "finding an IP set a crashed run created"),
    ("firehose:ListDeliveryStreams", "WAF checks its log destination"),
    ("logs:CreateLogDelivery", "WAF sets up log delivery on the caller's behalf"),
    ("logs:DeleteLogDelivery", "WAF removes log delivery on the caller's behalf"),
    ("logs:PutResourcePolicy", "WAF admits log delivery to CloudWatch Logs"),
    ("logs:DescribeResourcePolicies", "WAF reads the log resource policies"),
    ("logs:DescribeLogGroups", "WAF checks its log destination"),
];

fn unscopable(action: &str) -> bool {
    UNSCOPABLE.iter().any(|(a, _)| *a == action) || action.starts_with("ec2:Describe") || action.starts_with("rds:Describe")
}

/// Reads: allowed on every resource of a type without conditions, because finding what a
/// crashed run created means looking at resources before knowing they are ours.
fn is_read(action: &str) -> bool {
    let verb = action.split(':').nth(1).unwrap_or("");
    ["Describe", "Get", "List"].iter().any(|p| verb.starts_with(p))
}

/// The service part of an action (`sqs` of `sqs:CreateQueue`).
fn service(action: &str) -> &str {
    action.split(':').next().unwrap_or("")
}

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

/// Props of EC2 kinds that hold another EC2 resource's id, and that resource's ARN type.
const EC2_ID_PROPS: &[(&str, &str)] = &[("vpc_id", "vpc"), ("subnet_id", "subnet"), ("allocation_id", "elastic-ip")];

/// Role actions that must leave the role with the stack's permissions boundary.
const BOUNDED_ROLE_ACTIONS: &[&str] = &["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"];

/// The service-linked roles each kind may have AWS create.
fn service_linked(kind: &str) -> &'static [&'static str] {
    match kind {
        "aws.eks.cluster" => &["eks.amazonaws.com"],
        "aws.eks.nodegroup" => &["eks-nodegroup.amazonaws.com"],
        "aws.wafv2.logging_configuration" => &["wafv2.amazonaws.com"],
        _ => &[],
    }
}

/// What identifies an Allow statement: its label, resources and condition (as JSON text).
type StatementKey = (String, Vec<String>, String);

/// Collects statements: one per (label, resources, condition), actions merged.
#[derive(Default)]
struct Statements {
    allow: BTreeMap<StatementKey, (BTreeSet<String>, Option<Value>)>,
    deny: Vec<Value>,
    /// Services whose service-linked role AWS may be asked to create, for one statement.
    service_linked: BTreeSet<&'static str>,
}

impl Statements {
    fn allow(&mut self, label: &str, action: &str, resources: &[String], condition: Option<Value>) {
        let mut resources: Vec<String> = resources.to_vec();
        resources.sort();
        resources.dedup();
        let key = (label.to_string(), resources, condition.as_ref().map(Value::to_string).unwrap_or_default());
        self.allow.entry(key).or_insert_with(|| (BTreeSet::new(), condition)).0.insert(action.to_string());
    }

    fn into_document(self) -> Value {
        let mut used: BTreeMap<String, usize> = BTreeMap::new();
        let mut out = vec![];
        for ((label, resources, _), (actions, condition)) in self.allow {
            let n = used.entry(label.clone()).or_default();
            *n += 1;
            let sid = if *n == 1 { label } else { format!("{label}{n}") };
            let resource = if resources.len() == 1 { json!(resources[0]) } else { json!(resources) };
            let mut s = json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource });
            if let Some(c) = condition {
                s["Condition"] = c;
            }
            out.push(s);
        }
        out.extend(self.deny);
        json!({ "Version": "2012-10-17", "Statement": out })
    }
}

/// What the generator knows about the stack: names, ARNs and conditions.
struct Scope<'a> {
    graph: &'a ResourceGraph,
    region: &'a str,
    account: &'a str,
}

impl Scope<'_> {
    fn nodes(&self, kind: &str) -> impl Iterator<Item = &ResourceNode> + '_ {
        let kind = kind.to_string();
        self.graph.nodes.values().filter(move |n| n.kind == kind)
    }

    fn owned(&self) -> Value {
        json!({ "StringEquals": { "aws:ResourceTag/cairn:stack": self.graph.stack, "aws:ResourceTag/cairn:env": self.graph.env } })
    }

    /// Creates: the new resource must carry this stack's ownership tags, and only the tag
    /// keys the stack's resources of that service have (plus cairn's own).
    fn tagged_at_creation(&self, service_prefix: &str) -> Value {
        let mut keys: BTreeSet<String> = BTreeSet::from(["cairn:*".to_string()]);
        for n in self.graph.nodes.values().filter(|n| n.kind.starts_with(service_prefix)) {
            keys.extend(n.tags.keys().filter(|k| !k.starts_with("cairn:")).cloned());
        }
        json!({
            "StringEquals": { "aws:RequestTag/cairn:stack": self.graph.stack, "aws:RequestTag/cairn:env": self.graph.env },
            "ForAllValues:StringLike": { "aws:TagKeys": keys },
        })
    }

    /// The physical name of a node, as its kind will name it.
    fn name(&self, node: &ResourceNode, prop: &str) -> Result<String, PolicyError> {
        let name = match node.props.get(prop) {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => node.default_name.clone(),
            Some(_) => return Err(PolicyError::NameUnknown { address: node.address.clone(), kind: node.kind.clone() }),
        };
        let fifo = |flag: &str| node.props.get(flag).and_then(Value::as_bool).unwrap_or(false) && !name.ends_with(".fifo");
        Ok(match node.kind.as_str() {
            "aws.sqs.queue" if fifo("fifo_queue") => format!("{name}.fifo"),
            "aws.sns.topic" if fifo("fifo_topic") => format!("{name}.fifo"),
            k if k.starts_with("aws.rds.") => name.to_lowercase(),
            _ => name,
        })
    }

    fn iam_path(node: &ResourceNode) -> String {
        match node.props.get("path").and_then(Value::as_str) {
            Some(p) if !p.is_empty() => {
                let p = if p.starts_with('/') { p.to_string() } else { format!("/{p}") };
                if p.ends_with('/') {
                    p
                } else {
                    format!("{p}/")
                }
            }
            _ => "/".into(),
        }
    }

    fn names(&self, kind: &str, prop: &str) -> Result<Vec<String>, PolicyError> {
        self.nodes(kind).map(|n| self.name(n, prop)).collect()
    }

    /// Literal strings in a kind's props that look like ARNs of `prefix` (resources outside the stack it refers to).
    fn literal_arns(&self, kinds: &[&str], prop: &str, prefix: &str) -> Vec<String> {
        self.graph
            .nodes
            .values()
            .filter(|n| kinds.contains(&n.kind.as_str()))
            .filter_map(|n| n.props.get(prop).and_then(Value::as_str))
            .filter(|s| s.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    fn role_arns(&self) -> Result<Vec<String>, PolicyError> {
        let a = self.account;
        let mut out: Vec<String> =
            self.nodes("aws.iam.role").map(|n| Ok(format!("arn:aws:iam::{a}:role{}{}", Self::iam_path(n), self.name(n, "name")?))).collect::<Result<_, _>>()?;
        // Roles named by ARN in the stack's props (an EKS cluster's role from elsewhere) are passed too.
        for n in self.graph.nodes.values() {
            for v in n.props.values() {
                if let Some(s) = v.as_str().filter(|s| s.starts_with("arn:aws:iam::") && s.contains(":role/")) {
                    out.push(s.to_string());
                }
            }
        }
        Ok(out)
    }

    /// ARNs of EC2 resources the stack names by literal id (made elsewhere).
    fn ec2_literals(&self) -> Vec<String> {
        let (r, a) = (self.region, self.account);
        let mut out = vec![];
        for n in self.graph.nodes.values().filter(|n| n.kind.starts_with("aws.ec2.")) {
            for (prop, ty) in EC2_ID_PROPS {
                if let Some(id) = n.props.get(*prop).and_then(Value::as_str) {
                    out.push(format!("arn:aws:ec2:{r}:{a}:{ty}/{id}"));
                }
            }
        }
        out
    }

    fn topic_arns(&self) -> Result<Vec<String>, PolicyError> {
        let (r, a) = (self.region, self.account);
        let mut out: Vec<String> = self.names("aws.sns.topic", "name")?.iter().map(|n| format!("arn:aws:sns:{r}:{a}:{n}")).collect();
        out.extend(self.literal_arns(&["aws.sns.subscription"], "topic", "arn:aws:sns:"));
        Ok(out)
    }

    fn bucket_arns(&self) -> Result<Vec<String>, PolicyError> {
        Ok(self.names("aws.s3.bucket", "bucket")?.iter().flat_map(|n| [format!("arn:aws:s3:::{n}"), format!("arn:aws:s3:::{n}/*")]).collect())
    }

    fn cluster_names(&self) -> Result<Vec<String>, PolicyError> {
        let mut out = self.names("aws.eks.cluster", "name")?;
        for n in self.graph.nodes.values().filter(|n| matches!(n.kind.as_str(), "aws.eks.nodegroup" | "aws.eks.access_entry")) {
            if let Some(c) = n.props.get("cluster_name").and_then(Value::as_str) {
                out.push(c.to_string());
            }
        }
        Ok(out)
    }

    fn web_acl_arns(&self) -> Result<Vec<String>, PolicyError> {
        let (r, a) = (self.region, self.account);
        let mut out = vec![];
        for (kind, what) in [("aws.wafv2.web_acl", "webacl"), ("aws.wafv2.ip_set", "ipset")] {
            for n in self.nodes(kind) {
                let scope = if n.props.get("scope").and_then(Value::as_str) == Some("CLOUDFRONT") { "global" } else { "regional" };
                out.push(format!("arn:aws:wafv2:{r}:{a}:{scope}/{what}/{}/*", self.name(n, "name")?));
            }
        }
        out.extend(self.literal_arns(&["aws.wafv2.logging_configuration", "aws.wafv2.web_acl_association"], "web_acl_arn", "arn:aws:wafv2:"));
        Ok(out)
    }

    fn rds_arns(&self) -> Result<Vec<String>, PolicyError> {
        let (r, a) = (self.region, self.account);
        let mut out = vec![];
        for n in self.names("aws.rds.instance", "identifier")? {
            out.push(format!("arn:aws:rds:{r}:{a}:db:{n}"));
            // The final snapshot a destroy takes.
            out.push(format!("arn:aws:rds:{r}:{a}:snapshot:{n}-final"));
        }
        for n in self.names("aws.rds.parameter_group", "name")? {
            out.push(format!("arn:aws:rds:{r}:{a}:pg:{n}"));
        }
        for n in self.names("aws.rds.subnet_group", "name")? {
            out.push(format!("arn:aws:rds:{r}:{a}:subgrp:{n}"));
        }
        if self.nodes("aws.rds.instance").next().is_some() {
            // An instance without its own parameter or option group gets the engine's default one.
            out.push(format!("arn:aws:rds:{r}:{a}:pg:default.*"));
            out.push(format!("arn:aws:rds:{r}:{a}:og:default:*"));
        }
        Ok(out)
    }

    /// The exact ARNs of a name-scoped kind, `None` for kinds scoped by tags.
    fn exact(&self, kind: &str) -> Result<Option<Vec<String>>, PolicyError> {
        let (r, a) = (self.region, self.account);
        Ok(Some(match kind {
            "aws.sqs.queue" => self.names(kind, "name")?.iter().map(|n| format!("arn:aws:sqs:{r}:{a}:{n}")).collect(),
            "aws.sns.topic" => self.topic_arns()?,
            // Subscribe is authorised on the topic, the others on `<topic>:<subscription id>`.
            "aws.sns.subscription" => self.topic_arns()?.into_iter().flat_map(|t| [format!("{t}:*"), t]).collect(),
            "aws.s3.bucket" => self.bucket_arns()?,
            "aws.iam.role" => {
                self.nodes(kind).map(|n| Ok(format!("arn:aws:iam::{a}:role{}{}", Self::iam_path(n), self.name(n, "name")?))).collect::<Result<_, _>>()?
            }
            "aws.iam.policy" => {
                self.nodes(kind).map(|n| Ok(format!("arn:aws:iam::{a}:policy{}{}", Self::iam_path(n), self.name(n, "name")?))).collect::<Result<_, _>>()?
            }
            "aws.iam.oidc_provider" => self
                .nodes(kind)
                .map(|n| match n.props.get("url").and_then(Value::as_str) {
                    Some(url) => Ok(format!("arn:aws:iam::{a}:oidc-provider/{}", url.trim_start_matches("https://").trim_end_matches('/'))),
                    None => Err(PolicyError::NameUnknown { address: n.address.clone(), kind: n.kind.clone() }),
                })
                .collect::<Result<_, _>>()?,
            k if k.starts_with("aws.rds.") => self.rds_arns()?,
            k if k.starts_with("aws.eks.") => self
                .cluster_names()?
                .iter()
                .flat_map(|c| {
                    [
                        format!("arn:aws:eks:{r}:{a}:cluster/{c}"),
                        format!("arn:aws:eks:{r}:{a}:nodegroup/{c}/*"),
                        format!("arn:aws:eks:{r}:{a}:access-entry/{c}/*"),
                    ]
                })
                .collect(),
            "aws.wafv2.web_acl" | "aws.wafv2.ip_set" | "aws.wafv2.logging_configuration" => self.web_acl_arns()?,
            "aws.wafv2.web_acl_association" => {
                let mut v = self.web_acl_arns()?;
                let targets = self.literal_arns(&["aws.wafv2.web_acl_association"], "resource_arn", "arn:aws:");
                if targets.len() == self.nodes(kind).count() {
                    v.extend(targets);
                } else {
                    // The protected resource is known only after apply: any load balancer or API stage in the region.
                    v.push(format!("arn:aws:elasticloadbalancing:{r}:{a}:loadbalancer/app/*/*"));
                    v.push(format!("arn:aws:apigateway:{r}::/restapis/*/stages/*"));
                }
                v
            }
            _ => return Ok(None),
        }))
    }
}

fn kms_key_arns(s: &Scope) -> Vec<String> {
    vec![format!("arn:aws:kms:{}:{}:key/*", s.region, s.account)]
}

/// Places one of a kind's own actions.
fn place_own(st: &mut Statements, s: &Scope, kind: &str, action: &str, boundaries: &[String]) -> Result<(), PolicyError> {
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
                let mut c = s.tagged_at_creation("aws.kms.");
                c["Null"] = json!({ "aws:ResourceTag/cairn:stack": "true" });
                st.allow("KmsTagOnCreate", action, &keys, Some(c));
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
    let issuer_unknown = |n: &ResourceNode| !n.props.get("url").is_some_and(Value::is_string);
    if kind == "aws.iam.oidc_provider" && s.nodes(kind).any(issuer_unknown) {
        // An issuer known only after apply (an EKS cluster's): the provider's ARN is not known
        // either, so it is scoped like a random id, by its ownership tags.
        let any = [format!("arn:aws:iam::{a}:oidc-provider/*")];
        match action {
            "iam:CreateOpenIDConnectProvider" => st.allow("IamOidcCreate", action, &any, Some(s.tagged_at_creation("aws.iam."))),
            "iam:TagOpenIDConnectProvider" => {
                let mut c = s.tagged_at_creation("aws.iam.");
                c["Null"] = json!({ "aws:ResourceTag/cairn:stack": "true" });
                st.allow("IamOidcCreate", action, &any, Some(c));
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
fn place_foreign(st: &mut Statements, s: &Scope, kind: &str, action: &str) -> Result<(), PolicyError> {
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
            let via: Vec<String> = ["rds", "secretsmanager"].iter().map(|svc| format!("{svc}.{r}.amazonaws.com")).collect();
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

/// The state backend's objects, listing and key.
fn state_statements(st: &mut Statements, b: &StateBackend, graph: &ResourceGraph, purpose: Purpose, account: &str) {
    let prefix = b.key_prefix.trim_matches('/');
    let base = if prefix.is_empty() { format!("{}/{}/", graph.stack, graph.env) } else { format!("{prefix}/{}/{}/", graph.stack, graph.env) };
    let object = |k: &str| format!("arn:aws:s3:::{}/{base}{k}", b.bucket);
    st.allow("StateRead", "s3:GetObject", &[object("state.json"), object("lock.json"), object("history/*")], None);
    st.allow("StateList", "s3:ListBucket", &[format!("arn:aws:s3:::{}", b.bucket)], Some(json!({ "StringLike": { "s3:prefix": [format!("{base}*")] } })));
    for a in ["s3:PutObject", "s3:DeleteObject"] {
        st.allow("StateLock", a, &[object("lock.json")], None);
    }
    // Plan writes state.json too: the first plan creates an empty state, and a plan settles
    // the journal rows of an interrupted run (adopting what it created) before it refreshes.
    // Apply and destroy also keep a snapshot per run under history/.
    let written = if purpose == Purpose::Plan { vec![object("state.json")] } else { vec![object("state.json"), object("history/*")] };
    st.allow("StateWrite", "s3:PutObject", &written, None);
    if let Some(key) = b.kms_key.as_deref().filter(|k| !k.is_empty()) {
        let region = b.region.as_deref().unwrap_or(&graph.region);
        let via = json!({ "kms:ViaService": format!("s3.{region}.amazonaws.com") });
        let (resource, condition) = if key.starts_with("arn:") && key.contains(":key/") {
            (key.to_string(), json!({ "StringEquals": via }))
        } else if let Some(alias) = key
            .strip_prefix("arn:")
            .and_then(|k| k.split_once(":alias/"))
            .map(|(_, a)| format!("alias/{a}"))
            .or_else(|| key.starts_with("alias/").then(|| key.to_string()))
        {
            // IAM authorises cryptographic calls on the key, not the alias: name the key by its alias.
            (format!("arn:aws:kms:{region}:{account}:key/*"), json!({ "StringEquals": via, "ForAnyValue:StringEquals": { "kms:ResourceAliases": [alias] } }))
        } else {
            (format!("arn:aws:kms:{region}:{account}:key/{key}"), json!({ "StringEquals": via }))
        };
        // SSE-KMS: PutObject asks KMS for a data key, GetObject to decrypt it; nothing else.
        for a in ["kms:GenerateDataKey", "kms:Decrypt"] {
            st.allow("StateKey", a, std::slice::from_ref(&resource), Some(condition.clone()));
        }
    }
}

/// The policy document, from the kinds' action tables in `registry`.
pub fn generate(graph: &ResourceGraph, registry: &Registry, req: &Request) -> Result<Value, PolicyError> {
    generate_with(graph, &|kind, op| registry.get(kind).map(|k| k.iam_actions(op).to_vec()), req)
}

/// The policy document, with `actions(kind, op)` giving each kind's actions (`None`: kind unknown).
pub fn generate_with(graph: &ResourceGraph, actions: &dyn Fn(&str, Operation) -> Option<Vec<&'static str>>, req: &Request) -> Result<Value, PolicyError> {
    let scope = Scope { graph, region: &graph.region, account: req.account };
    let mut kinds: BTreeSet<String> = graph.nodes.values().map(|n| n.kind.clone()).collect();
    kinds.extend(req.extra_kinds.iter().cloned());

    let roles: Vec<&ResourceNode> = scope.nodes("aws.iam.role").collect();
    let boundaries: Vec<String> = roles
        .iter()
        .filter_map(|n| n.props.get("permissions_boundary").and_then(Value::as_str))
        .map(str::to_string)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let writes = req.purpose == Purpose::Apply;
    if writes {
        if let Some(n) = roles.iter().find(|n| n.props.get("permissions_boundary").is_some_and(|b| crate::expr::as_unknown(b).is_some())) {
            return Err(PolicyError::BoundaryUnknown { address: n.address.clone() });
        }
        let unbounded: Vec<String> =
            roles.iter().filter(|n| n.props.get("permissions_boundary").and_then(Value::as_str).is_none()).map(|n| n.address.clone()).collect();
        if !unbounded.is_empty() {
            return Err(PolicyError::RolesWithoutBoundary { roles: unbounded });
        }
    }

    let mut st = Statements::default();
    st.allow("Unscoped", "sts:GetCallerIdentity", &["*".to_string()], None);
    for kind in &kinds {
        let kind_service = kind.split('.').nth(1).unwrap_or("");
        for op in req.purpose.operations() {
            for a in actions(kind, *op).unwrap_or_default() {
                if unscopable(a) {
                    st.allow("Unscoped", a, &["*".to_string()], None);
                } else if service(a) == kind_service {
                    place_own(&mut st, &scope, kind, a, &boundaries)?;
                } else {
                    place_foreign(&mut st, &scope, kind, a)?;
                }
            }
        }
    }
    if !st.service_linked.is_empty() {
        let names: Vec<&str> = st.service_linked.iter().copied().collect();
        let only = Some(json!({ "StringEquals": { "iam:AWSServiceName": names } }));
        st.allow("IamServiceLinkedRoles", "iam:CreateServiceLinkedRole", &[format!("arn:aws:iam::{}:role/aws-service-role/*", req.account)], only);
    }
    if let Some(b) = req.state {
        state_statements(&mut st, b, graph, req.purpose, req.account);
    }
    if req.purpose != Purpose::Plan && (!boundaries.is_empty() || kinds.contains("aws.iam.role")) {
        st.deny.push(json!({ "Sid": "KeepRoleBoundaries", "Effect": "Deny", "Action": "iam:DeleteRolePermissionsBoundary", "Resource": "*" }));
        if !boundaries.is_empty() {
            st.deny.push(json!({
                "Sid": "KeepTheBoundaryPolicy",
                "Effect": "Deny",
                "Action": ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"],
                "Resource": boundaries,
            }));
        }
    }
    Ok(st.into_document())
}

/// Every action a generated policy allows, for diffs between two versions of a stack.
pub fn actions_of(policy: &Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| match &s["Action"] {
            Value::Array(a) => a.clone(),
            v => vec![v.clone()],
        })
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => vec![],
    }
}

/// Whether an ARN pattern covers every resource of its type in the account (`*`, `key/*`,
/// `arn:aws:ec2:r:a:*/*`), as opposed to naming resources.
pub fn account_wide(resource: &str) -> bool {
    if resource == "*" {
        return true;
    }
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    let Some(rest) = parts.get(5) else { return false };
    if matches!(parts[2], "s3" | "sqs" | "sns") {
        // No type segment: `bucket/*` names one bucket's objects, `topic:*` one topic's subscriptions.
        return rest.starts_with('*');
    }
    let name = rest.split_once(['/', ':']).map(|(_, n)| n).unwrap_or(rest);
    rest.starts_with('*') || name.starts_with('*')
}

/// What a generated policy must never contain, as messages (empty: none): an Allow that
/// reaches every resource of a type with an action that is not a read and not in
/// [`UNSCOPABLE`] and carries no condition; role creation without `iam:PermissionsBoundary`;
/// a resource pattern ending in `<stack>-<env>-*`, which another stack's names can match.
pub fn audit(policy: &Value, stack: &str, env: &str) -> Vec<String> {
    let mut out = vec![];
    let prefix = format!("{stack}-{env}-*");
    for s in policy["Statement"].as_array().into_iter().flatten().filter(|s| s["Effect"] == "Allow") {
        let sid = s["Sid"].as_str().unwrap_or("?");
        let actions = strings(&s["Action"]);
        let resources = strings(&s["Resource"]);
        let conditioned = s.get("Condition").is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty()));
        for r in &resources {
            if r.ends_with(&prefix) {
                out.push(format!("{sid}: {r} is a name prefix another stack can match"));
            }
        }
        if !conditioned && resources.iter().any(|r| account_wide(r)) {
            for a in actions.iter().filter(|a| !is_read(a) && !unscopable(a)) {
                out.push(format!("{sid}: {a} on every resource of its type without a condition"));
            }
        }
        if actions.iter().any(|a| BOUNDED_ROLE_ACTIONS.contains(&a.as_str())) && s.pointer("/Condition/StringEquals/iam:PermissionsBoundary").is_none() {
            out.push(format!("{sid}: role creation or policy changes without an iam:PermissionsBoundary condition"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
        let other = STACK.replace(
            "props:\n      assume_role_policy",
            "props:\n      permissions_boundary: arn:aws:iam::111122223333:policy/other\n      assume_role_policy",
        );
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
}
