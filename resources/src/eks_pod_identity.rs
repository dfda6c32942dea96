//! `aws.eks.pod_identity_association`: EKS Pod Identity, the IAM role that pods of one Kubernetes service account get.

use async_trait::async_trait;
use aws_sdk_eks::types::PodIdentityAssociation;
use aws_sdk_eks::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, TextRule};
use serde_json::{json, Value};

use crate::adopt::{adopt_or, token};
use crate::aws::AwsContext;
use crate::eks_addon::{dns_rule, role_rule, SERVICE_ACCOUNT};
use crate::eks_common::{request_tags, required_string, split_id, string, sync_tags, tags_of, value, EksResultExt, ARN, CLUSTER_NAME};
use crate::error::{found, gone};
use crate::rds_common::message_of;

/// A Kubernetes namespace (DNS-1123 label).
const NAMESPACE: TextRule = TextRule::len(1, 63).chars("-").lowercase();

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.eks.pod_identity_association",
    doc: "An EKS Pod Identity association: pods running as the service account get the role's credentials (needs the eks-pod-identity-agent add-on; the role trusts pods.eks.amazonaws.com for sts:AssumeRole and sts:TagSession). Its id is `CLUSTER:ASSOCIATION_ID`.",
    props: &[
        PropSpec::new("cluster_name", PropType::Text(CLUSTER_NAME), "Name of the cluster.").required().force_new(),
        PropSpec::new("namespace", PropType::Text(NAMESPACE), "Kubernetes namespace of the service account.").required().force_new().rule(dns_rule),
        PropSpec::new("service_account", PropType::Text(SERVICE_ACCOUNT), "Kubernetes service account whose pods get the role.").required().force_new().rule(dns_rule),
        PropSpec::new("role_arn", ARN, "IAM role the pods get.").required().rule(role_rule),
        PropSpec::new("target_role_arn", ARN, "A role in another account the pods' role is chained to (cross-account access).").rule(role_rule),
        PropSpec::new("disable_session_tags", PropType::Bool, "Leave out the session tags (cluster, namespace, service account, pod) EKS adds to the role session.")
            .default("false"),
    ],
    attrs: &["association_id", "association_arn"],
    taggable: true,
    rules: &[],
};

/// What CreatePodIdentityAssociation sends, after the schema's checks.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    cluster: String,
    namespace: String,
    service_account: String,
    role: String,
    target_role: Option<String>,
    disable_session_tags: bool,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        Ok(Spec {
            cluster: required_string(&SCHEMA, desired, "cluster_name")?,
            namespace: required_string(&SCHEMA, desired, "namespace")?,
            service_account: required_string(&SCHEMA, desired, "service_account")?,
            role: required_string(&SCHEMA, desired, "role_arn")?,
            target_role: string(&SCHEMA, desired, "target_role_arn")?,
            disable_session_tags: value(&SCHEMA, desired, "disable_session_tags").and_then(|v| v.as_bool()).unwrap_or(false),
        })
    }
}

fn association_id(cluster: &str, id: &str) -> String {
    format!("{cluster}:{id}")
}

fn observed(a: &PodIdentityAssociation) -> Observed {
    let cluster = a.cluster_name().unwrap_or_default();
    let mut props = Props::new();
    props.insert("cluster_name".into(), json!(cluster));
    props.insert("namespace".into(), json!(a.namespace().unwrap_or_default()));
    props.insert("service_account".into(), json!(a.service_account().unwrap_or_default()));
    props.insert("role_arn".into(), json!(a.role_arn().unwrap_or_default()));
    if let Some(t) = a.target_role_arn().filter(|t| !t.is_empty()) {
        props.insert("target_role_arn".into(), json!(t));
    }
    props.insert("disable_session_tags".into(), json!(a.disable_session_tags().unwrap_or(false)));
    let mut attrs = Props::new();
    attrs.insert("association_id".into(), json!(a.association_id().unwrap_or_default()));
    attrs.insert("association_arn".into(), json!(a.association_arn().unwrap_or_default()));
    Observed { id: association_id(cluster, a.association_id().unwrap_or_default()), props, attrs, tags: tags_of(a.tags()) }
}

pub struct EksPodIdentityAssociation {
    client: Client,
}

impl EksPodIdentityAssociation {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.eks())
    }

    pub fn from_client(client: Client) -> Self {
        EksPodIdentityAssociation { client }
    }

    /// The association of the namespace's service account, whoever made it (EKS allows one);
    /// `None` when there is none or the cluster is gone.
    async fn of_service_account(&self, spec: &Spec) -> Result<Option<Observed>, ProviderError> {
        let listed = self
            .client
            .list_pod_identity_associations()
            .cluster_name(&spec.cluster)
            .namespace(&spec.namespace)
            .service_account(&spec.service_account)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        let Some(listed) = found(listed.eks("ListPodIdentityAssociations"))? else { return Ok(None) };
        for id in listed.iter().filter_map(|s| s.association_id()) {
            if let Some(o) = self.read(&association_id(&spec.cluster, id)).await? {
                return Ok(Some(o));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl ResourceKind for EksPodIdentityAssociation {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let (cluster, association) = split_id(&SCHEMA, id, "CLUSTER:ASSOCIATION_ID")?;
        let sent = self.client.describe_pod_identity_association().cluster_name(cluster).association_id(association).send().await;
        Ok(found(sent.eks("DescribePodIdentityAssociation"))?.and_then(|o| o.association().map(observed)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let created = self
            .client
            .create_pod_identity_association()
            .cluster_name(&spec.cluster)
            .namespace(&spec.namespace)
            .service_account(&spec.service_account)
            .role_arn(&spec.role)
            .set_target_role_arn(spec.target_role.clone())
            .disable_session_tags(spec.disable_session_tags)
            .set_tags(request_tags(&desired.tags))
            // A retry after a lost answer carries the same token: EKS returns the association it made.
            .client_request_token(&desired.idempotency_token)
            .send()
            .await
            .eks("CreatePodIdentityAssociation");
        match created {
            // The service account has an association already: ours (by its tags) from an
            // attempt with other props or tags, or someone else's.
            Err(e @ ProviderError::Conflict(_)) if message_of(e.clone()).contains("ResourceInUseException") => {
                let existing = self.of_service_account(&spec).await?;
                let what = format!("EKS pod identity association of {}/{} in {}", spec.namespace, spec.service_account, spec.cluster);
                adopt_or(self, desired, &what, existing, e).await
            }
            Err(e) => Err(e),
            Ok(out) => {
                out.association().map(observed).ok_or_else(|| ProviderError::Fatal("CreatePodIdentityAssociation: no association in the response".into()))
            }
        }
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let (cluster, association) = split_id(&SCHEMA, id, "CLUSTER:ASSOCIATION_ID")?;
        let has = |p: &str| changed.iter().any(|c| c == p);
        if has("role_arn") || has("target_role_arn") || has("disable_session_tags") {
            self.client
                .update_pod_identity_association()
                .cluster_name(cluster)
                .association_id(association)
                .role_arn(&spec.role)
                .set_target_role_arn(spec.target_role.clone())
                .disable_session_tags(spec.disable_session_tags)
                .client_request_token(token(&[&desired.idempotency_token, "update"], 64))
                .send()
                .await
                .eks("UpdatePodIdentityAssociation")?;
        }
        let gone_during = || ProviderError::NotFound(format!("{} {id} disappeared during update", SCHEMA.kind));
        if has("tags") {
            let current = self.read(id).await?.ok_or_else(gone_during)?;
            let arn = current.attrs.get("association_arn").and_then(Value::as_str).unwrap_or_default().to_string();
            sync_tags(&self.client, &arn, &current.tags, &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(gone_during)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let (cluster, association) = split_id(&SCHEMA, id, "CLUSTER:ASSOCIATION_ID")?;
        let sent = self.client.delete_pod_identity_association().cluster_name(cluster).association_id(association).send().await;
        gone(sent.map(|_| ()).eks("DeletePodIdentityAssociation"))
    }

    /// The association id is AWS's: the service account's association, if it carries this owner's tags.
    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::from(desired)?;
        Ok(self.of_service_account(&spec).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["eks:DescribePodIdentityAssociation"],
            // Tags given to the create need eks:TagResource; the role is passed to EKS. A create that
            // meets the service account's association lists and reads it to adopt it.
            Operation::Create => &[
                "eks:CreatePodIdentityAssociation",
                "eks:TagResource",
                "eks:ListPodIdentityAssociations",
                "eks:DescribePodIdentityAssociation",
                "iam:PassRole",
            ],
            Operation::Update => {
                &["eks:UpdatePodIdentityAssociation", "eks:DescribePodIdentityAssociation", "eks:TagResource", "eks:UntagResource", "iam:PassRole"]
            }
            Operation::Delete => &["eks:DeletePodIdentityAssociation"],
        }
    }
}

#[cfg(test)]
#[path = "eks_pod_identity_tests.rs"]
mod tests;
