//! `aws.eks.addon`: an EKS add-on on a cluster (vpc-cni, coredns, kube-proxy, the EBS CSI driver, ...) with its version, configuration and IAM role.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::client::Waiters;
use aws_sdk_eks::types::{Addon, AddonPodIdentityAssociations, AddonStatus, ResolveConflicts};
use aws_sdk_eks::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule};
use serde_json::{json, Value};

use crate::adopt::{adopt_or, token};
use crate::aws::AwsContext;
use crate::eks_common::{
    minutes, request_tags, required_string, split_id, still, still_deleting, string, sync_tags, tags_of, value, wait_addon_update, wait_minutes, waited, Clock,
    EksResultExt, Waited, ARN, CLUSTER_NAME,
};
use crate::error::{found, gone};
use crate::rds_common::message_of;

/// `delete` receives only the id, so `preserve` travels on the add-on as this tag.
const PRESERVE_TAG: &str = "cairn:preserve";

/// Add-on names as DescribeAddonVersions lists them (`vpc-cni`, `aws-ebs-csi-driver`,
/// marketplace ones like `vendor_product`).
const ADDON_NAME: TextRule = TextRule::len(1, 100).chars("-_.");

/// A Kubernetes service account name (DNS-1123 subdomain).
pub const SERVICE_ACCOUNT: TextRule = TextRule::len(1, 253).chars("-.").lowercase();

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.eks.addon",
    doc: "An EKS add-on (vpc-cni, coredns, kube-proxy, aws-ebs-csi-driver, eks-pod-identity-agent, ...) installed and kept up to date by EKS. Its id is `CLUSTER:ADDON_NAME`.",
    props: &[
        PropSpec::new("cluster_name", PropType::Text(CLUSTER_NAME), "Name of the cluster.").required().force_new(),
        PropSpec::new("addon_name", PropType::Text(ADDON_NAME), "The add-on, as `aws eks describe-addon-versions` names it.").required().force_new(),
        PropSpec::new("addon_version", PropType::Text(TextRule::len(1, 100)), "Version (e.g. `v1.18.3-eksbuild.1`); unset: EKS's default for the cluster's Kubernetes version, then left alone."),
        PropSpec::new(
            "configuration_values",
            PropType::Text(TextRule::len(1, 65_536)),
            "The add-on's configuration as a JSON string (its schema: `aws eks describe-addon-configuration`).",
        )
        .rule(json_rule),
        PropSpec::new("resolve_conflicts_on_create", PropType::Enum(&["NONE", "OVERWRITE"]), "What EKS does with fields a self-managed install set: NONE fails the create, OVERWRITE replaces them.")
            .local(),
        PropSpec::new(
            "resolve_conflicts_on_update",
            PropType::Enum(&["NONE", "OVERWRITE", "PRESERVE"]),
            "What an update does with fields changed in the cluster: NONE fails it, OVERWRITE replaces them, PRESERVE keeps them.",
        )
        .local(),
        PropSpec::new("service_account_role_arn", ARN, "IAM role for the add-on's service account (IRSA: trusted by the cluster's OIDC provider).").rule(role_rule),
        PropSpec::new(
            "pod_identity_association",
            PropType::List(&PropType::Struct(&[
                PropSpec::new("role_arn", ARN, "IAM role the service account's pods get (trusted by pods.eks.amazonaws.com for sts:AssumeRole and sts:TagSession).")
                    .required()
                    .rule(role_rule),
                PropSpec::new("service_account", PropType::Text(SERVICE_ACCOUNT), "The add-on's Kubernetes service account.").required().rule(dns_rule),
            ])),
            "EKS Pod Identity roles for the add-on's service accounts: a list of `{ role_arn, service_account }` sorted by service_account (needs the eks-pod-identity-agent add-on).",
        )
        .rule(sorted_service_accounts),
        PropSpec::new("preserve", PropType::Bool, "Leave the add-on's software in the cluster when the add-on is destroyed; kept in the `cairn:preserve` tag.")
            .default("false"),
        PropSpec::new("wait_timeout_minutes", PropType::IntRange(1, 1_440), "How long to wait for the add-on to become ACTIVE, or for an update to finish.")
            .local()
            .default("30"),
    ],
    attrs: &["arn", "status", "addon_version"],
    taggable: true,
    rules: &[],
};

fn json_rule(v: &Value) -> Vec<String> {
    match v.as_str().map(serde_json::from_str::<Value>) {
        Some(Err(e)) => vec![format!("is not JSON: {e}")],
        Some(Ok(Value::Object(_))) | None => vec![],
        Some(Ok(_)) => vec!["must be a JSON object".into()],
    }
}

pub fn role_rule(v: &Value) -> Vec<String> {
    match v.as_str() {
        Some(s) if !(s.starts_with("arn:") && s.contains(":role/")) => vec![format!("must be an IAM role ARN, not {s:?}")],
        _ => vec![],
    }
}

/// Kubernetes names (DNS-1123) start and end with a letter or digit.
pub fn dns_rule(v: &Value) -> Vec<String> {
    match v.as_str() {
        Some(s) if s.starts_with(['-', '.']) || s.ends_with(['-', '.']) => vec![format!("{s:?} must start and end with a letter or digit")],
        _ => vec![],
    }
}

/// One association per service account, in the order read reports them.
fn sorted_service_accounts(v: &Value) -> Vec<String> {
    let names: Vec<&str> = v.as_array().map(|a| a.iter().filter_map(|p| p.get("service_account")?.as_str()).collect()).unwrap_or_default();
    match names.windows(2).find(|w| w[0] >= w[1]) {
        Some(w) if w[0] == w[1] => vec![format!("service account {} is given twice", w[0])],
        Some(w) => vec![format!("list the associations sorted by service_account ({} after {})", w[1], w[0])],
        None => vec![],
    }
}

/// One pod identity association of the add-on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PodIdentity {
    service_account: String,
    role_arn: String,
}

impl PodIdentity {
    fn json(&self) -> Value {
        json!({ "role_arn": self.role_arn, "service_account": self.service_account })
    }
}

/// What CreateAddon and UpdateAddon send, after the schema's checks.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    cluster: String,
    addon: String,
    version: Option<String>,
    config: Option<String>,
    role: Option<String>,
    pod_identity: Option<Vec<PodIdentity>>,
    on_create: Option<String>,
    on_update: Option<String>,
    preserve: bool,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let pod_identity = value(&SCHEMA, desired, "pod_identity_association").and_then(|v| v.as_array().cloned()).map(|items| {
            items
                .iter()
                .filter_map(|p| {
                    Some(PodIdentity { service_account: p.get("service_account")?.as_str()?.into(), role_arn: p.get("role_arn")?.as_str()?.into() })
                })
                .collect()
        });
        Ok(Spec {
            cluster: required_string(&SCHEMA, desired, "cluster_name")?,
            addon: required_string(&SCHEMA, desired, "addon_name")?,
            version: string(&SCHEMA, desired, "addon_version")?,
            config: string(&SCHEMA, desired, "configuration_values")?,
            role: string(&SCHEMA, desired, "service_account_role_arn")?,
            pod_identity,
            on_create: string(&SCHEMA, desired, "resolve_conflicts_on_create")?,
            on_update: string(&SCHEMA, desired, "resolve_conflicts_on_update")?,
            preserve: value(&SCHEMA, desired, "preserve").and_then(|v| v.as_bool()).unwrap_or(false),
        })
    }

    fn associations(&self) -> Result<Option<Vec<AddonPodIdentityAssociations>>, ProviderError> {
        let Some(list) = &self.pod_identity else { return Ok(None) };
        let build = |p: &PodIdentity| AddonPodIdentityAssociations::builder().service_account(&p.service_account).role_arn(&p.role_arn).build();
        list.iter().map(|p| build(p).map_err(|e| ProviderError::Invalid(format!("{}: {e}", SCHEMA.kind)))).collect::<Result<Vec<_>, _>>().map(Some)
    }
}

/// Every tag the add-on carries: the stack's plus the preserve marker.
fn all_tags(desired: &Tags, preserve: bool) -> Tags {
    let mut tags = desired.clone();
    if preserve {
        tags.insert(PRESERVE_TAG.into(), "true".into());
    }
    tags
}

fn addon_id(cluster: &str, addon: &str) -> String {
    format!("{cluster}:{addon}")
}

/// The association id at the end of an association ARN (`.../podidentityassociation/CLUSTER/a-xxxx`).
fn association_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// A described add-on in the stack's shapes, with its associations as read one by one.
fn observed(addon: &Addon, mut associations: Vec<PodIdentity>) -> Observed {
    let mut tags = tags_of(addon.tags());
    let preserve = tags.remove(PRESERVE_TAG).as_deref() == Some("true");
    let cluster = addon.cluster_name().unwrap_or_default();
    let name = addon.addon_name().unwrap_or_default();
    associations.sort();
    let mut props = Props::new();
    props.insert("cluster_name".into(), json!(cluster));
    props.insert("addon_name".into(), json!(name));
    if let Some(v) = addon.addon_version() {
        props.insert("addon_version".into(), json!(v));
    }
    if let Some(c) = addon.configuration_values().filter(|c| !c.is_empty()) {
        props.insert("configuration_values".into(), json!(c));
    }
    if let Some(r) = addon.service_account_role_arn().filter(|r| !r.is_empty()) {
        props.insert("service_account_role_arn".into(), json!(r));
    }
    props.insert("pod_identity_association".into(), Value::Array(associations.iter().map(PodIdentity::json).collect()));
    props.insert("preserve".into(), json!(preserve));
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(addon.addon_arn().unwrap_or_default()));
    attrs.insert("status".into(), json!(addon.status().map(|s| s.as_str()).unwrap_or_default()));
    attrs.insert("addon_version".into(), json!(addon.addon_version().unwrap_or_default()));
    Observed { id: addon_id(cluster, name), props, attrs, tags }
}

/// The add-on's status and health issues, for messages.
fn health(addon: &Addon) -> String {
    let status = addon.status().map(|s| s.as_str()).unwrap_or("in an unknown state");
    let issues: Vec<String> = addon
        .health()
        .map(|h| h.issues().iter().map(|i| format!("{}: {}", i.code().map(|c| c.as_str()).unwrap_or("issue"), i.message().unwrap_or_default())).collect())
        .unwrap_or_default();
    if issues.is_empty() {
        status.to_string()
    } else {
        format!("{status} ({})", issues.join("; "))
    }
}

pub struct EksAddon {
    client: Client,
}

impl EksAddon {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.eks())
    }

    pub fn from_client(client: Client) -> Self {
        EksAddon { client }
    }

    async fn describe(&self, cluster: &str, addon: &str) -> Result<Option<Addon>, ProviderError> {
        let out = found(self.client.describe_addon().cluster_name(cluster).addon_name(addon).send().await.eks("DescribeAddon"))?;
        Ok(out.and_then(|o| o.addon().cloned()))
    }

    /// The role and service account of each association the add-on lists (one that went
    /// away meanwhile is left out).
    async fn associations(&self, addon: &Addon) -> Result<Vec<PodIdentity>, ProviderError> {
        let cluster = addon.cluster_name().unwrap_or_default();
        let mut out = vec![];
        for arn in addon.pod_identity_associations() {
            let sent = self.client.describe_pod_identity_association().cluster_name(cluster).association_id(association_id(arn)).send().await;
            if let Some(a) = found(sent.eks("DescribePodIdentityAssociation"))?.and_then(|o| o.association().cloned()) {
                out.push(PodIdentity {
                    service_account: a.service_account().unwrap_or_default().to_string(),
                    role_arn: a.role_arn().unwrap_or_default().to_string(),
                });
            }
        }
        Ok(out)
    }

    /// Polls until the add-on is ACTIVE. CREATE_FAILED and UPDATE_FAILED end the wait at once;
    /// DEGRADED is waited through (an add-on is DEGRADED until its pods are scheduled, e.g.
    /// while nodes join) and reported with its health issues if it lasts.
    async fn wait_active(&self, cluster: &str, addon: &str, wait_minutes: u64) -> Result<(), ProviderError> {
        let what = format!("{} {}", SCHEMA.kind, addon_id(cluster, addon));
        let clock = Clock::of(&self.client);
        let start = clock.now();
        let limit = minutes(wait_minutes);
        let mut delay = Duration::from_secs(5);
        loop {
            let Some(current) = self.describe(cluster, addon).await? else {
                return Err(ProviderError::NotFound(format!("{what} disappeared while waiting for it to become ACTIVE")));
            };
            match current.status() {
                Some(AddonStatus::Active) => return Ok(()),
                Some(AddonStatus::CreateFailed | AddonStatus::UpdateFailed) => {
                    return Err(ProviderError::Fatal(format!(
                        "{what} is {}; fix the cause (the add-on's IAM role, its configuration_values, or nodes to run its pods), destroy it and apply again",
                        health(&current)
                    )))
                }
                _ => {}
            }
            let elapsed = clock.now().duration_since(start).unwrap_or_default();
            if elapsed >= limit {
                return Err(still(&what, &health(&current), wait_minutes));
            }
            clock.sleep(delay.min(limit - elapsed)).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
}

#[async_trait]
impl ResourceKind for EksAddon {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let (cluster, name) = split_id(&SCHEMA, id, "CLUSTER:ADDON_NAME")?;
        let Some(addon) = self.describe(cluster, name).await? else { return Ok(None) };
        let associations = self.associations(&addon).await?;
        Ok(Some(observed(&addon, associations)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let wait = wait_minutes(desired)?;
        let id = addon_id(&spec.cluster, &spec.addon);
        let created = self
            .client
            .create_addon()
            .cluster_name(&spec.cluster)
            .addon_name(&spec.addon)
            .set_addon_version(spec.version.clone())
            .set_configuration_values(spec.config.clone())
            .set_service_account_role_arn(spec.role.clone())
            .set_pod_identity_associations(spec.associations()?)
            .set_resolve_conflicts(spec.on_create.as_deref().map(ResolveConflicts::from))
            .set_tags(request_tags(&all_tags(&desired.tags, spec.preserve)))
            .client_request_token(&desired.idempotency_token)
            .send()
            .await
            .eks("CreateAddon");
        match created {
            // One add-on of a name per cluster: an attempt whose answer was lost made it
            // (ours by its tags), or someone else did.
            Err(e @ ProviderError::Conflict(_)) if message_of(e.clone()).contains("ResourceInUseException") => {
                let existing = self.read(&id).await?;
                adopt_or(self, desired, &format!("EKS add-on {id}"), existing, e).await?;
            }
            other => {
                other?;
            }
        }
        self.wait_active(&spec.cluster, &spec.addon, wait).await?;
        self.read(&id).await?.ok_or_else(|| ProviderError::Retryable(format!("{} {id} is not readable yet", SCHEMA.kind)))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let wait = wait_minutes(desired)?;
        let (cluster, name) = split_id(&SCHEMA, id, "CLUSTER:ADDON_NAME")?;
        let gone_during = || ProviderError::NotFound(format!("{} {id} disappeared during update", SCHEMA.kind));
        let has = |p: &str| changed.iter().any(|c| c == p);
        if ["addon_version", "configuration_values", "service_account_role_arn", "pod_identity_association"].iter().any(|p| has(p)) {
            let out = self
                .client
                .update_addon()
                .cluster_name(cluster)
                .addon_name(name)
                .set_addon_version(spec.version.clone())
                .set_configuration_values(spec.config.clone())
                .set_service_account_role_arn(spec.role.clone())
                .set_pod_identity_associations(spec.associations()?)
                .set_resolve_conflicts(spec.on_update.as_deref().map(ResolveConflicts::from))
                // The same update retried (a lost answer) is the same request to EKS.
                .client_request_token(token(&[&desired.idempotency_token, "update"], 64))
                .send()
                .await
                .eks("UpdateAddon")?;
            let update = out.update().ok_or_else(|| ProviderError::Fatal(format!("UpdateAddon: no update in the response for {id}")))?;
            wait_addon_update(&self.client, cluster, name, update, &format!("{} {id}", SCHEMA.kind), wait).await?;
        }
        if has("tags") || has("preserve") {
            let addon = self.describe(cluster, name).await?.ok_or_else(gone_during)?;
            sync_tags(&self.client, addon.addon_arn().unwrap_or_default(), &tags_of(addon.tags()), &all_tags(&desired.tags, spec.preserve)).await?;
        }
        self.read(id).await?.ok_or_else(gone_during)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let (cluster, name) = split_id(&SCHEMA, id, "CLUSTER:ADDON_NAME")?;
        let Some(addon) = self.describe(cluster, name).await? else { return Ok(()) };
        let preserve = tags_of(addon.tags()).get(PRESERVE_TAG).map(String::as_str) == Some("true");
        if addon.status() != Some(&AddonStatus::Deleting) {
            gone(self.client.delete_addon().cluster_name(cluster).addon_name(name).preserve(preserve).send().await.map(|_| ()).eks("DeleteAddon"))?;
        }
        let result = self.client.wait_until_addon_deleted().cluster_name(cluster).addon_name(name).wait(minutes(crate::eks_common::DEFAULT_WAIT_MINUTES)).await;
        match waited("DescribeAddon", result)? {
            Waited::Reached => Ok(()),
            Waited::TimedOut => Err(still_deleting(&format!("{} {id}", SCHEMA.kind), "DELETING")),
            Waited::Failed(out) => Err(ProviderError::Fatal(format!(
                "{} {id} is {}; fix the cause and destroy again",
                SCHEMA.kind,
                out.addon().map(health).unwrap_or_else(|| "DELETE_FAILED".into())
            ))),
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let cluster = required_string(&SCHEMA, desired, "cluster_name")?;
        let name = required_string(&SCHEMA, desired, "addon_name")?;
        Ok(self.read(&addon_id(&cluster, &name)).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["eks:DescribeAddon", "eks:DescribePodIdentityAssociation"],
            // Tags given to CreateAddon need eks:TagResource; the add-on's roles are passed to EKS,
            // and EKS makes its pod identity associations on the caller's behalf.
            Operation::Create => &[
                "eks:CreateAddon",
                "eks:TagResource",
                "eks:DescribeAddon",
                "eks:DescribePodIdentityAssociation",
                "eks:CreatePodIdentityAssociation",
                "iam:PassRole",
            ],
            Operation::Update => &[
                "eks:UpdateAddon",
                "eks:DescribeUpdate",
                "eks:DescribeAddon",
                "eks:DescribePodIdentityAssociation",
                "eks:CreatePodIdentityAssociation",
                "eks:UpdatePodIdentityAssociation",
                "eks:DeletePodIdentityAssociation",
                "eks:TagResource",
                "eks:UntagResource",
                "iam:PassRole",
            ],
            Operation::Delete => &["eks:DeleteAddon", "eks:DescribeAddon", "eks:DeletePodIdentityAssociation"],
        }
    }
}

#[cfg(test)]
#[path = "eks_addon_tests.rs"]
mod tests;
