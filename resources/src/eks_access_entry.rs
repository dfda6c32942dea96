//! `aws.eks.access_entry`: an IAM principal's access to an EKS cluster's Kubernetes API, with its groups and access policies.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_eks::types::{AccessEntry, AccessScope, AccessScopeType, AssociatedAccessPolicy};
use aws_sdk_eks::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, TextRule};
use serde_json::{json, Map, Value};

use crate::adopt::adopt_or;
use crate::aws::AwsContext;
use crate::eks_common::{
    request_tags, required_string, sorted_json, split_id, string, string_list, sync_tags, tags_of, value, EksResultExt, ARN, CLUSTER_NAME,
};
use crate::error::{found, gone};
use crate::rds_common::message_of;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.eks.access_entry",
    doc: "An EKS access entry: lets an IAM principal use the cluster's Kubernetes API, through Kubernetes groups and EKS access policies. Its id is `CLUSTER:PRINCIPAL_ARN`.",
    props: &[
        PropSpec::new("cluster_name", PropType::Text(CLUSTER_NAME), "Name of the cluster.").required().force_new(),
        PropSpec::new("principal_arn", ARN, "ARN of the IAM role or user given access.").required().force_new(),
        PropSpec::new(
            "kubernetes_groups",
            PropType::List(&PropType::Text(TextRule::len(1, 1_024))),
            "Kubernetes groups the principal belongs to (for RBAC bindings you manage in the cluster).",
        )
        .default("[]"),
        PropSpec::new(
            "type",
            PropType::Enum(&["STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYPERPOD_LINUX"]),
            "STANDARD, or a node type (EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX, EC2, HYPERPOD_LINUX) for node roles, which take no groups or policies.",
        )
        .force_new()
        .default("\"STANDARD\""),
        PropSpec::new(
            "access_policies",
            PropType::List(&PropType::Struct(&[
                PropSpec::new("policy_arn", PropType::Text(TextRule::len(1, 2_048)), "The access policy's ARN.").required(),
                PropSpec::new(
                    "access_scope",
                    PropType::Struct(&[
                        PropSpec::new("type", PropType::Enum(&["cluster", "namespace"]), "The whole cluster, or the namespaces listed.").required(),
                        PropSpec::new("namespaces", PropType::List(&PropType::Text(TextRule::len(1, 63))), "The namespaces (namespace scope only)."),
                    ]),
                    "Where the policy applies.",
                )
                .required()
                .rule(scope_rule),
            ])),
            "EKS access policies: a list of `{ policy_arn, access_scope: { type: cluster | namespace, namespaces?: [..] } }`, read back sorted by policy_arn with namespaces sorted.",
        )
        .default("[]")
        .rule(one_association_per_policy),
    ],
    attrs: &["arn"],
    taggable: true,
    rules: &[],
};

/// A namespace scope lists namespaces; a cluster scope takes none.
fn scope_rule(scope: &Value) -> Vec<String> {
    let listed = scope.get("namespaces").and_then(Value::as_array).is_some_and(|n| !n.is_empty());
    match (scope.get("type").and_then(Value::as_str), listed) {
        (Some("namespace"), false) => vec!["has a namespace scope but no namespaces".into()],
        (Some("cluster"), true) => vec!["has a cluster scope, which takes no namespaces".into()],
        _ => vec![],
    }
}

/// EKS keeps one association per policy: a second one would silently replace the first.
fn one_association_per_policy(policies: &Value) -> Vec<String> {
    let arns: Vec<&str> = policies.as_array().map(|a| a.iter().filter_map(|p| p.get("policy_arn")?.as_str()).collect()).unwrap_or_default();
    let mut seen = BTreeSet::new();
    arns.into_iter().filter(|a| !seen.insert(*a)).map(|a| format!("{a} is given twice")).collect()
}

const READ_ACTIONS: &[&str] = &["eks:DescribeAccessEntry", "eks:ListAssociatedAccessPolicies"];
// Tags given to CreateAccessEntry need eks:TagResource.
const CREATE_ACTIONS: &[&str] =
    &["eks:CreateAccessEntry", "eks:TagResource", "eks:AssociateAccessPolicy", "eks:DescribeAccessEntry", "eks:ListAssociatedAccessPolicies"];
const UPDATE_ACTIONS: &[&str] = &[
    "eks:UpdateAccessEntry",
    "eks:AssociateAccessPolicy",
    "eks:DisassociateAccessPolicy",
    "eks:TagResource",
    "eks:UntagResource",
    "eks:DescribeAccessEntry",
    "eks:ListAssociatedAccessPolicies",
];
const DELETE_ACTIONS: &[&str] = &["eks:DeleteAccessEntry"];

/// One access policy association; ordered by policy ARN, as read reports them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PolicySpec {
    policy_arn: String,
    scope: String,
    namespaces: Vec<String>,
}

impl PolicySpec {
    fn json(&self) -> Value {
        let mut scope = Map::new();
        scope.insert("type".into(), json!(self.scope));
        if self.scope == "namespace" {
            scope.insert("namespaces".into(), json!(self.namespaces));
        }
        json!({ "policy_arn": self.policy_arn, "access_scope": scope })
    }

    fn sdk_scope(&self) -> AccessScope {
        AccessScope::builder()
            .r#type(AccessScopeType::from(self.scope.as_str()))
            .set_namespaces((self.scope == "namespace").then(|| self.namespaces.clone()))
            .build()
    }

    fn from_sdk(p: &AssociatedAccessPolicy) -> PolicySpec {
        let scope = p.access_scope();
        let mut namespaces = scope.map(|s| s.namespaces().to_vec()).unwrap_or_default();
        namespaces.sort();
        PolicySpec {
            policy_arn: p.policy_arn().unwrap_or_default().to_string(),
            scope: scope.and_then(|s| s.r#type()).map(|t| t.as_str().to_string()).unwrap_or_else(|| "cluster".into()),
            namespaces,
        }
    }
}

/// The desired policy associations (their shape, scopes and uniqueness checked by the
/// schema), sorted as read reports them.
fn access_policies(desired: &Desired) -> Vec<PolicySpec> {
    let items = match value(&SCHEMA, desired, "access_policies") {
        Some(Value::Array(items)) => items,
        _ => vec![],
    };
    let mut out: Vec<PolicySpec> = items
        .iter()
        .filter_map(|item| {
            let scope = item.get("access_scope")?;
            let mut namespaces: Vec<String> = scope
                .get("namespaces")
                .and_then(Value::as_array)
                .map(|ns| ns.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            namespaces.sort();
            namespaces.dedup();
            Some(PolicySpec { policy_arn: item.get("policy_arn")?.as_str()?.to_string(), scope: scope.get("type")?.as_str()?.to_string(), namespaces })
        })
        .collect();
    out.sort();
    out
}

/// What CreateAccessEntry and AssociateAccessPolicy are sent, checked against the schema
/// before any call (values known only at apply were not checked at validate).
#[derive(Debug)]
struct Spec {
    cluster: String,
    principal: String,
    groups: Vec<String>,
    kind: String,
    policies: Vec<PolicySpec>,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        Ok(Spec {
            cluster: required_string(&SCHEMA, desired, "cluster_name")?,
            principal: required_string(&SCHEMA, desired, "principal_arn")?,
            groups: string_list(&SCHEMA, desired, "kubernetes_groups")?.unwrap_or_default(),
            kind: string(&SCHEMA, desired, "type")?.unwrap_or_default(),
            policies: access_policies(desired),
        })
    }
}

fn entry_id(cluster: &str, principal: &str) -> String {
    format!("{cluster}:{principal}")
}

fn observed(entry: &AccessEntry, policies: &BTreeSet<PolicySpec>) -> Observed {
    let cluster = entry.cluster_name().unwrap_or_default();
    let principal = entry.principal_arn().unwrap_or_default();
    let mut props = Props::new();
    props.insert("cluster_name".into(), json!(cluster));
    props.insert("principal_arn".into(), json!(principal));
    props.insert("kubernetes_groups".into(), sorted_json(entry.kubernetes_groups()));
    props.insert("type".into(), json!(entry.r#type().unwrap_or("STANDARD")));
    props.insert("access_policies".into(), Value::Array(policies.iter().map(PolicySpec::json).collect()));
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(entry.access_entry_arn().unwrap_or_default()));
    Observed { id: entry_id(cluster, principal), props, attrs, tags: tags_of(entry.tags()) }
}

pub struct EksAccessEntry {
    client: Client,
}

impl EksAccessEntry {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.eks())
    }

    pub fn from_client(client: Client) -> Self {
        EksAccessEntry { client }
    }

    async fn describe(&self, cluster: &str, principal: &str) -> Result<Option<AccessEntry>, ProviderError> {
        let out = found(self.client.describe_access_entry().cluster_name(cluster).principal_arn(principal).send().await.eks("DescribeAccessEntry"))?;
        Ok(out.and_then(|o| o.access_entry().cloned()))
    }

    /// The associated policies, or None when the entry went away meanwhile.
    async fn policies(&self, cluster: &str, principal: &str) -> Result<Option<BTreeSet<PolicySpec>>, ProviderError> {
        let listed: Result<Vec<AssociatedAccessPolicy>, _> =
            self.client.list_associated_access_policies().cluster_name(cluster).principal_arn(principal).into_paginator().items().send().try_collect().await;
        let listed = found(listed.eks("ListAssociatedAccessPolicies"))?;
        Ok(listed.map(|l| l.iter().map(PolicySpec::from_sdk).collect()))
    }

    async fn associate(&self, cluster: &str, principal: &str, policy: &PolicySpec) -> Result<(), ProviderError> {
        self.client
            .associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(principal)
            .policy_arn(&policy.policy_arn)
            .access_scope(policy.sdk_scope())
            .send()
            .await
            .eks("AssociateAccessPolicy")?;
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for EksAccessEntry {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let (cluster, principal) = split_id(&SCHEMA, id, "CLUSTER:PRINCIPAL_ARN")?;
        let Some(entry) = self.describe(cluster, principal).await? else {
            return Ok(None);
        };
        let Some(policies) = self.policies(cluster, principal).await? else {
            return Ok(None);
        };
        Ok(Some(observed(&entry, &policies)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let Spec { cluster, principal, groups, kind, policies } = Spec::from(desired)?;
        let id = entry_id(&cluster, &principal);
        let created = self
            .client
            .create_access_entry()
            .cluster_name(&cluster)
            .principal_arn(&principal)
            .set_kubernetes_groups((!groups.is_empty()).then_some(groups))
            .r#type(kind)
            .set_tags(request_tags(&desired.tags))
            .client_request_token(&desired.idempotency_token)
            .send()
            .await
            .eks("CreateAccessEntry");
        match created {
            // One entry per principal: an earlier attempt (perhaps with only some policies
            // associated) made it, or someone else did.
            Err(e @ ProviderError::Conflict(_)) if message_of(e.clone()).contains("ResourceInUseException") => {
                let existing = self.read(&id).await?;
                return adopt_or(self, desired, &format!("EKS access entry {id}"), existing, e).await;
            }
            other => other?,
        };
        for policy in &policies {
            self.associate(&cluster, &principal, policy).await?;
        }
        self.read(&id).await?.ok_or_else(|| ProviderError::Retryable(format!("aws.eks.access_entry {id} is not readable yet")))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let (cluster, principal) = split_id(&SCHEMA, id, "CLUSTER:PRINCIPAL_ARN")?;
        let gone_during = || ProviderError::NotFound(format!("aws.eks.access_entry {id} disappeared during update"));
        let has = |p: &str| changed.iter().any(|c| c == p);
        if has("kubernetes_groups") {
            let groups = spec.groups.clone();
            // An empty list is sent (not omitted) so that removing every group clears them.
            self.client
                .update_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .set_kubernetes_groups(Some(groups))
                .send()
                .await
                .eks("UpdateAccessEntry")?;
        }
        if has("access_policies") {
            let want = &spec.policies;
            let have = self.policies(cluster, principal).await?.ok_or_else(gone_during)?;
            // Associating an associated policy again replaces its scope.
            for policy in want.iter().filter(|p| !have.contains(p)) {
                self.associate(cluster, principal, policy).await?;
            }
            for policy in have.iter().filter(|h| !want.iter().any(|w| w.policy_arn == h.policy_arn)) {
                let result =
                    self.client.disassociate_access_policy().cluster_name(cluster).principal_arn(principal).policy_arn(&policy.policy_arn).send().await;
                gone(result.map(|_| ()).eks("DisassociateAccessPolicy"))?;
            }
        }
        if has("tags") {
            let entry = self.describe(cluster, principal).await?.ok_or_else(gone_during)?;
            sync_tags(&self.client, entry.access_entry_arn().unwrap_or_default(), &tags_of(entry.tags()), &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(gone_during)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let (cluster, principal) = split_id(&SCHEMA, id, "CLUSTER:PRINCIPAL_ARN")?;
        // Deleting the entry removes its policy associations with it.
        gone(self.client.delete_access_entry().cluster_name(cluster).principal_arn(principal).send().await.map(|_| ()).eks("DeleteAccessEntry"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let cluster = required_string(&SCHEMA, desired, "cluster_name")?;
        let principal = required_string(&SCHEMA, desired, "principal_arn")?;
        Ok(self.read(&entry_id(&cluster, &principal)).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => READ_ACTIONS,
            Operation::Create => CREATE_ACTIONS,
            Operation::Update => UPDATE_ACTIONS,
            Operation::Delete => DELETE_ACTIONS,
        }
    }
}

#[cfg(test)]
mod tests {
    //! moto does not implement access entries (every call is a 404), so this kind is
    //! tested with mocks only.

    use super::*;
    use crate::eks_common::test_support::{client, desired, error};
    use aws_sdk_eks::operation::associate_access_policy::AssociateAccessPolicyOutput;
    use aws_sdk_eks::operation::create_access_entry::{CreateAccessEntryError, CreateAccessEntryOutput};
    use aws_sdk_eks::operation::delete_access_entry::{DeleteAccessEntryError, DeleteAccessEntryOutput};
    use aws_sdk_eks::operation::describe_access_entry::{DescribeAccessEntryError, DescribeAccessEntryOutput};
    use aws_sdk_eks::operation::disassociate_access_policy::DisassociateAccessPolicyOutput;
    use aws_sdk_eks::operation::list_associated_access_policies::ListAssociatedAccessPoliciesOutput;
    use aws_sdk_eks::operation::update_access_entry::UpdateAccessEntryOutput;
    use aws_sdk_eks::types::error::{ResourceInUseException, ResourceNotFoundException};
    use aws_smithy_mocks::mock;
    use cairn_engine::provider::Tags;

    const CLUSTER: &str = "shop-prod-cluster";
    const PRINCIPAL: &str = "arn:aws:iam::111122223333:role/deployer";
    const ID: &str = "shop-prod-cluster:arn:aws:iam::111122223333:role/deployer";
    const ARN: &str = "arn:aws:eks:us-east-1:111122223333:access-entry/shop-prod-cluster/role/111122223333/deployer/uuid";
    const ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
    const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
    const EDIT: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";

    fn props() -> Value {
        json!({
            "cluster_name": CLUSTER, "principal_arn": PRINCIPAL, "kubernetes_groups": ["deployers", "auditors"], "type": "STANDARD",
            "access_policies": [
                {"policy_arn": VIEW, "access_scope": {"type": "namespace", "namespaces": ["shop", "billing"]}},
                {"policy_arn": ADMIN, "access_scope": {"type": "cluster"}}
            ]
        })
    }

    fn entry(tags: &Tags) -> AccessEntry {
        AccessEntry::builder()
            .cluster_name(CLUSTER)
            .principal_arn(PRINCIPAL)
            .access_entry_arn(ARN)
            .kubernetes_groups("deployers")
            .kubernetes_groups("auditors")
            .r#type("STANDARD")
            .set_tags(Some(tags.clone().into_iter().collect()))
            .build()
    }

    fn associated(arn: &str, scope: AccessScopeType, namespaces: &[&str]) -> AssociatedAccessPolicy {
        let mut s = AccessScope::builder().r#type(scope);
        for n in namespaces {
            s = s.namespaces(*n);
        }
        AssociatedAccessPolicy::builder().policy_arn(arn).access_scope(s.build()).build()
    }

    fn listed() -> ListAssociatedAccessPoliciesOutput {
        ListAssociatedAccessPoliciesOutput::builder()
            .associated_access_policies(associated(VIEW, AccessScopeType::Namespace, &["shop", "billing"]))
            .associated_access_policies(associated(ADMIN, AccessScopeType::Cluster, &[]))
            .build()
    }

    fn not_found() -> DescribeAccessEntryError {
        DescribeAccessEntryError::ResourceNotFoundException(
            ResourceNotFoundException::builder().message("not found").meta(error("ResourceNotFoundException")).build(),
        )
    }

    fn assert_actions(actions: &[&str], operations: &[&str]) {
        for op in operations {
            assert!(actions.contains(&format!("eks:{op}").as_str()), "eks:{op} missing from {actions:?}");
        }
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let with = |key: &str, bad: Value| {
            let mut p = props();
            p[key] = bad;
            p
        };
        for p in [
            json!({"cluster_name": CLUSTER}),
            json!({"principal_arn": PRINCIPAL}),
            with("cluster_name", json!("")),
            with("kubernetes_groups", json!("deployers")),
            with("type", json!("NODE")),
            with("access_policies", json!([{"policy_arn": VIEW, "access_scope": {"type": "namespace"}}])),
            with("access_policies", json!([{"policy_arn": VIEW, "access_scope": {"type": "namespace", "namespaces": []}}])),
            with("access_policies", json!([{"policy_arn": VIEW, "access_scope": {"type": "cluster", "namespaces": ["a"]}}])),
            with("access_policies", json!([{"policy_arn": VIEW, "access_scope": {"type": "account"}}])),
            with("access_policies", json!([{"policy_arn": VIEW}])),
            with("access_policies", json!([{"policy_arn": "", "access_scope": {"type": "cluster"}}])),
            with(
                "access_policies",
                json!([{"policy_arn": VIEW, "access_scope": {"type": "cluster"}}, {"policy_arn": VIEW, "access_scope": {"type": "cluster"}}]),
            ),
            with("access_policies", json!([{"policy_arn": VIEW, "access_scope": {"type": "cluster", "namespace": ["a"]}}])),
            with("access_policies", json!({"policy_arn": VIEW})),
        ] {
            let d = desired(p.clone(), "deployer");
            assert!(Spec::from(&d).is_err(), "builder accepts {p}");
            assert!(crate::rds_common::test_support::schema_refuses(&SCHEMA, &d.props), "schema accepts {p}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes CreateAccessEntry and AssociateAccessPolicy
        /// requests with scope types the SDK knows.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            let spec = Spec::from(&desired(Value::Object(props), "deployer"));
            proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
            for p in &spec.unwrap().policies {
                let scope = p.sdk_scope();
                proptest::prop_assert!(scope.r#type().is_some_and(|t| AccessScopeType::values().contains(&t.as_str())));
                proptest::prop_assert!(p.scope == "namespace" || p.namespaces.is_empty());
            }
        }
    }

    #[tokio::test]
    async fn create_sends_tags_and_associates_each_policy() {
        let d = desired(props(), "deployer");
        let tags = d.tags.clone();
        let create = mock!(Client::create_access_entry)
            .match_requests(|r| {
                r.cluster_name() == Some(CLUSTER)
                    && r.principal_arn() == Some(PRINCIPAL)
                    && r.kubernetes_groups() == ["deployers", "auditors"]
                    && r.r#type() == Some("STANDARD")
                    && r.client_request_token() == Some("token-1")
                    && r.tags().is_some_and(|t| {
                        t.get("cairn:address").map(String::as_str) == Some("deployer") && t.get("team").map(String::as_str) == Some("platform")
                    })
            })
            .then_output(|| CreateAccessEntryOutput::builder().build());
        let admin = mock!(Client::associate_access_policy)
            .match_requests(|r| {
                r.policy_arn() == Some(ADMIN) && r.access_scope().is_some_and(|s| s.r#type() == Some(&AccessScopeType::Cluster) && s.namespaces().is_empty())
            })
            .then_output(|| AssociateAccessPolicyOutput::builder().build());
        let view = mock!(Client::associate_access_policy)
            .match_requests(|r| {
                r.policy_arn() == Some(VIEW)
                    && r.access_scope().is_some_and(|s| s.r#type() == Some(&AccessScopeType::Namespace) && s.namespaces() == ["billing", "shop"])
            })
            .then_output(|| AssociateAccessPolicyOutput::builder().build());
        let t = tags.clone();
        let describe = mock!(Client::describe_access_entry).then_output(move || DescribeAccessEntryOutput::builder().access_entry(entry(&t)).build());
        let list = mock!(Client::list_associated_access_policies)
            .match_requests(|r| r.cluster_name() == Some(CLUSTER) && r.principal_arn() == Some(PRINCIPAL))
            .then_output(listed);

        let observed = EksAccessEntry::from_client(client(&[&create, &admin, &view, &describe, &list])).create(&d).await.unwrap();

        assert_eq!((create.num_calls(), admin.num_calls(), view.num_calls()), (1, 1, 1));
        assert_eq!(observed.id, ID);
        assert_eq!(observed.tags, tags);
        assert_eq!(observed.attrs["arn"], json!(ARN));
        assert_eq!(observed.props["kubernetes_groups"], json!(["auditors", "deployers"]));
        assert_eq!(
            observed.props["access_policies"],
            json!([
                {"policy_arn": ADMIN, "access_scope": {"type": "cluster"}},
                {"policy_arn": VIEW, "access_scope": {"type": "namespace", "namespaces": ["billing", "shop"]}}
            ])
        );
        assert_actions(CREATE_ACTIONS, &["CreateAccessEntry", "AssociateAccessPolicy", "DescribeAccessEntry", "ListAssociatedAccessPolicies", "TagResource"]);
    }

    #[tokio::test]
    async fn create_of_an_existing_entry_adopts_ours_and_refuses_another() {
        let create = mock!(Client::create_access_entry).then_error(|| {
            CreateAccessEntryError::ResourceInUseException(ResourceInUseException::builder().message("exists").meta(error("ResourceInUseException")).build())
        });
        let list = mock!(Client::list_associated_access_policies).then_output(listed);
        let theirs = mock!(Client::describe_access_entry).then_output(|| DescribeAccessEntryOutput::builder().access_entry(entry(&Tags::new())).build());
        let result = EksAccessEntry::from_client(client(&[&create, &list, &theirs])).create(&desired(props(), "deployer")).await;
        crate::adopt::testing::assert_refused(result, &format!("EKS access entry {ID}"));
        let d = desired(props(), "deployer");
        let tags = d.tags.clone();
        let ours = mock!(Client::describe_access_entry).then_output(move || DescribeAccessEntryOutput::builder().access_entry(entry(&tags)).build());
        assert_eq!(EksAccessEntry::from_client(client(&[&create, &list, &ours])).create(&d).await.map(|o| o.id), Ok(ID.to_string()));
    }

    #[tokio::test]
    async fn invalid_policies_fail_before_any_call() {
        let kind = EksAccessEntry::from_client(client(&[]));
        for bad in [
            json!([{"policy_arn": VIEW, "access_scope": {"type": "namespace"}}]),
            json!([{"policy_arn": VIEW, "access_scope": {"type": "cluster", "namespaces": ["a"]}}]),
            json!([{"policy_arn": VIEW, "access_scope": {"type": "account"}}]),
            json!([{"policy_arn": VIEW}]),
            json!([{"policy_arn": VIEW, "access_scope": {"type": "cluster"}}, {"policy_arn": VIEW, "access_scope": {"type": "cluster"}}]),
            json!({"policy_arn": VIEW}),
        ] {
            let mut p = props();
            p["access_policies"] = bad.clone();
            assert!(matches!(kind.create(&desired(p, "deployer")).await, Err(ProviderError::Invalid(_))), "{bad}");
        }
    }

    #[tokio::test]
    async fn read_of_missing_entry_is_none() {
        let describe = mock!(Client::describe_access_entry).then_error(not_found);
        assert_eq!(EksAccessEntry::from_client(client(&[&describe])).read(ID).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_of_missing_entry_is_ok() {
        let delete =
            mock!(Client::delete_access_entry).match_requests(|r| r.cluster_name() == Some(CLUSTER) && r.principal_arn() == Some(PRINCIPAL)).then_error(|| {
                DeleteAccessEntryError::ResourceNotFoundException(
                    ResourceNotFoundException::builder().message("gone").meta(error("ResourceNotFoundException")).build(),
                )
            });
        EksAccessEntry::from_client(client(&[&delete])).delete(ID).await.unwrap();
        let deleted = mock!(Client::delete_access_entry).then_output(|| DeleteAccessEntryOutput::builder().build());
        EksAccessEntry::from_client(client(&[&deleted])).delete(ID).await.unwrap();
        assert_actions(DELETE_ACTIONS, &["DeleteAccessEntry"]);
    }

    #[tokio::test]
    async fn update_reassociates_changed_scopes_and_drops_removed_policies() {
        let list = mock!(Client::list_associated_access_policies).then_output(listed);
        let describe = mock!(Client::describe_access_entry).then_output(|| DescribeAccessEntryOutput::builder().access_entry(entry(&Tags::new())).build());
        let view = mock!(Client::associate_access_policy)
            .match_requests(|r| r.policy_arn() == Some(VIEW) && r.access_scope().is_some_and(|s| s.namespaces() == ["shop"]))
            .then_output(|| AssociateAccessPolicyOutput::builder().build());
        let edit = mock!(Client::associate_access_policy)
            .match_requests(|r| r.policy_arn() == Some(EDIT))
            .then_output(|| AssociateAccessPolicyOutput::builder().build());
        let drop = mock!(Client::disassociate_access_policy)
            .match_requests(|r| r.policy_arn() == Some(ADMIN))
            .then_output(|| DisassociateAccessPolicyOutput::builder().build());
        let groups = mock!(Client::update_access_entry)
            .match_requests(|r| r.kubernetes_groups().is_empty() && r.kubernetes_groups.is_some())
            .then_output(|| UpdateAccessEntryOutput::builder().build());
        let mut p = props();
        p["kubernetes_groups"] = json!([]);
        p["access_policies"] = json!([
            {"policy_arn": VIEW, "access_scope": {"type": "namespace", "namespaces": ["shop"]}},
            {"policy_arn": EDIT, "access_scope": {"type": "cluster"}}
        ]);
        let changed = ["kubernetes_groups".to_string(), "access_policies".to_string()];
        EksAccessEntry::from_client(client(&[&list, &describe, &view, &edit, &drop, &groups])).update(ID, &desired(p, "deployer"), &changed).await.unwrap();
        assert_eq!((view.num_calls(), edit.num_calls(), drop.num_calls(), groups.num_calls()), (1, 1, 1, 1));
        assert_actions(
            UPDATE_ACTIONS,
            &["UpdateAccessEntry", "AssociateAccessPolicy", "DisassociateAccessPolicy", "ListAssociatedAccessPolicies", "DescribeAccessEntry"],
        );
    }

    #[tokio::test]
    async fn update_of_tags_only_tags() {
        let list = mock!(Client::list_associated_access_policies).then_output(listed);
        let describe = mock!(Client::describe_access_entry)
            .then_output(|| DescribeAccessEntryOutput::builder().access_entry(entry(&Tags::from([("old".to_string(), "1".to_string())]))).build());
        let tag = mock!(Client::tag_resource)
            .match_requests(|r| r.resource_arn() == Some(ARN))
            .then_output(|| aws_sdk_eks::operation::tag_resource::TagResourceOutput::builder().build());
        let untag = mock!(Client::untag_resource)
            .match_requests(|r| r.tag_keys() == ["old"])
            .then_output(|| aws_sdk_eks::operation::untag_resource::UntagResourceOutput::builder().build());
        EksAccessEntry::from_client(client(&[&list, &describe, &tag, &untag])).update(ID, &desired(props(), "deployer"), &["tags".into()]).await.unwrap();
        assert_eq!((tag.num_calls(), untag.num_calls()), (1, 1));
        assert_actions(UPDATE_ACTIONS, &["TagResource", "UntagResource"]);
    }

    #[tokio::test]
    async fn find_owned_requires_the_ownership_tags() {
        let d = desired(props(), "deployer");
        let list = mock!(Client::list_associated_access_policies).then_output(listed);
        let theirs = mock!(Client::describe_access_entry).then_output(|| DescribeAccessEntryOutput::builder().access_entry(entry(&Tags::new())).build());
        assert_eq!(EksAccessEntry::from_client(client(&[&list, &theirs])).find_owned(&d).await.unwrap(), None);
        let tags = d.tags.clone();
        let ours = mock!(Client::describe_access_entry).then_output(move || DescribeAccessEntryOutput::builder().access_entry(entry(&tags)).build());
        assert_eq!(EksAccessEntry::from_client(client(&[&list, &ours])).find_owned(&d).await.unwrap().map(|o| o.id), Some(ID.to_string()));
    }

    #[test]
    fn every_operation_lists_read() {
        for action in READ_ACTIONS {
            assert!(CREATE_ACTIONS.contains(action) && UPDATE_ACTIONS.contains(action), "{action}");
        }
    }
}
