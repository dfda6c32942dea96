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

mod audit;
mod place;
mod scope;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::graph::{ResourceGraph, ResourceNode};
use crate::provider::{Operation, Registry};

pub use audit::{account_wide, actions_of, audit};
use place::{place_foreign, place_own};
use scope::Scope;
use state::state_statements;

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
    ("iam:GetAccountAuthorizationDetails", "reading many roles at once"),
    ("iam:ListPolicies", "listing policies"),
    ("iam:ListOpenIDConnectProviders", "finding the account's OIDC provider"),
    ("eks:ListClusters", "listing clusters"),
    ("ssm:DescribeParameters", "reading a parameter's settings, filtered by its name"),
    ("backup:ListBackupPlans", "finding a backup plan a crashed run created, by name and ownership tags"),
    ("backup-storage:MountCapsule", "AWS Backup sets up a new vault's storage with the caller's permissions"),
    ("cloudtrail:DescribeTrails", "reading trails by name"),
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

/// Role actions that must leave the role with the stack's permissions boundary.
const BOUNDED_ROLE_ACTIONS: &[&str] = &["iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary"];

/// What identifies an Allow statement: its label, resources and condition (as JSON text).
type StatementKey = (String, Vec<String>, String);

/// Collects statements: one per (label, resources, condition), actions merged.
#[derive(Default)]
pub(super) struct Statements {
    allow: BTreeMap<StatementKey, (BTreeSet<String>, Option<Value>)>,
    deny: Vec<Value>,
    /// Services whose service-linked role AWS may be asked to create, for one statement.
    pub(super) service_linked: BTreeSet<&'static str>,
}

impl Statements {
    pub(super) fn allow(&mut self, label: &str, action: &str, resources: &[String], condition: Option<Value>) {
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
