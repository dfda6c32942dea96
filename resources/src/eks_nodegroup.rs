//! `aws.eks.nodegroup`: an EKS managed node group with its instances, scaling, labels and taints.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_eks::client::Waiters;
use aws_sdk_eks::types::{AmiTypes, CapacityTypes, Nodegroup, NodegroupScalingConfig, Taint, TaintEffect, UpdateLabelsPayload, UpdateTaintsPayload};
use aws_sdk_eks::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, TextRule};
use serde_json::{json, Map, Value};

use crate::adopt::{adopt, foreign};
use crate::aws::AwsContext;
use crate::eks_common::{
    int, invalid, minutes, request_tags, required_string, sorted_json, split_id, still, still_deleting, string, string_list, string_map, sync_tags, tags_of,
    value, wait_cluster_active, wait_minutes, wait_update, waited, EksResultExt, Waited, ARN, CLUSTER_NAME, DEFAULT_WAIT_MINUTES,
};
use crate::error::{found, gone};
use crate::rds_common::{message_of, non_empty};

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.eks.nodegroup",
    doc: "An EKS managed node group. Its id is `CLUSTER:NODEGROUP`.",
    props: &[
        PropSpec::new("cluster_name", PropType::Text(CLUSTER_NAME), "Name of the cluster the nodes join.").required().force_new(),
        // Unique per cluster rather than per account or region, so no `Naming`: two clusters
        // of one stack may each have a `workers` group. Default names always fit the rule.
        PropSpec::new(
            "name",
            PropType::Text(TextRule::len(1, 63).chars("-_")),
            "Node group name: 1 to 63 letters, digits, `-` and `_`, unique in its cluster; defaults to a name derived from stack, env and address.",
        )
        .force_new(),
        PropSpec::new(
            "node_role_arn",
            ARN,
            "ARN of the IAM role the nodes run as (trusting ec2.amazonaws.com, with the EKS worker, CNI and ECR read policies).",
        )
        .required()
        .force_new(),
        PropSpec::new("subnet_ids", PropType::List(&PropType::Text(TextRule::len(1, 255))), "Subnets to launch nodes in.")
            .required()
            .force_new()
            .rule(non_empty),
        PropSpec::new(
            "instance_types",
            PropType::List(&PropType::Text(TextRule::len(1, 64).chars(".-"))),
            "EC2 instance types; several only make sense with SPOT capacity.",
        )
        .force_new()
        .default("[\"t3.medium\"]"),
        PropSpec::new("capacity_type", PropType::Enum(&["ON_DEMAND", "SPOT"]), "ON_DEMAND or SPOT.").force_new().default("\"ON_DEMAND\""),
        PropSpec::new("ami_type", PropType::Enum(AMI_TYPES), "AMI family; unset lets EKS choose for the instance type.").force_new(),
        PropSpec::new("disk_size", PropType::IntRange(1, 16_384), "Root volume size in GiB; unset takes EKS's default (20).").force_new(),
        PropSpec::new(
            "desired_size",
            PropType::IntRange(0, i32::MAX as i64),
            "Nodes to run now, from min_size to max_size. Unset starts at min_size and leaves the count to autoscaling; when set, a different \
             count in AWS is reported as drift (add `ignore_changes: [desired_size]` when a cluster autoscaler owns it).",
        ),
        PropSpec::new("min_size", PropType::IntRange(0, i32::MAX as i64), "Fewest nodes (at most max_size).").required(),
        PropSpec::new("max_size", PropType::IntRange(1, i32::MAX as i64), "Most nodes.").required(),
        PropSpec::new("labels", PropType::StringMap, "Kubernetes labels put on every node (keys and values 1 to 63 characters).")
            .default("{}")
            .rule(label_lengths),
        PropSpec::new(
            "taints",
            PropType::List(&PropType::Struct(&[
                PropSpec::new("key", PropType::Text(TextRule::len(1, 63)), "The taint's key.").required(),
                PropSpec::new("value", PropType::Text(TextRule::len(0, 63)), "The taint's value, if any."),
                PropSpec::new("effect", PropType::Enum(EFFECTS), "NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE.").required(),
            ])),
            "Kubernetes taints put on every node (at most 50): a list of `{ key, value?, effect }`, read back sorted by key then effect.",
        )
        .default("[]")
        .rule(unique_taints),
        PropSpec::new(
            "wait_timeout_minutes",
            PropType::IntRange(1, 1_440),
            "How long to wait for the cluster and the node group to become ACTIVE, or for an update to finish.",
        )
        .local()
        .default("30"),
    ],
    attrs: &["arn", "status"],
    taggable: true,
    rules: &[PropsRule { props: &["min_size", "max_size", "desired_size"], check: sizes_in_order }],
};

/// min_size ≤ desired_size (when set) ≤ max_size: EKS refuses sizes out of order.
fn sizes_in_order(p: &Props) -> Vec<String> {
    let size = |name: &str| p.get(name).and_then(Value::as_i64);
    let (Some(min), Some(max)) = (size("min_size"), size("max_size")) else { return vec![] };
    if min > max {
        return vec![format!("min_size {min} is above max_size {max}")];
    }
    match size("desired_size").filter(|n| *n < min || *n > max) {
        Some(n) => vec![format!("desired_size {n} is outside min_size {min} .. max_size {max}")],
        None => vec![],
    }
}

const EFFECTS: &[&str] = &["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"];
/// The AMI families a node group without a launch template can use (`CUSTOM` needs one).
const AMI_TYPES: &[&str] = &[
    "AL2023_x86_64_STANDARD",
    "AL2023_ARM_64_STANDARD",
    "AL2023_x86_64_NVIDIA",
    "AL2023_ARM_64_NVIDIA",
    "AL2023_x86_64_NEURON",
    "AL2_x86_64",
    "AL2_x86_64_GPU",
    "AL2_ARM_64",
    "BOTTLEROCKET_x86_64",
    "BOTTLEROCKET_ARM_64",
    "BOTTLEROCKET_x86_64_FIPS",
    "BOTTLEROCKET_ARM_64_FIPS",
    "BOTTLEROCKET_x86_64_NVIDIA",
    "BOTTLEROCKET_ARM_64_NVIDIA",
    "BOTTLEROCKET_x86_64_NVIDIA_FIPS",
    "BOTTLEROCKET_ARM_64_NVIDIA_FIPS",
    "WINDOWS_CORE_2019_x86_64",
    "WINDOWS_FULL_2019_x86_64",
    "WINDOWS_CORE_2022_x86_64",
    "WINDOWS_FULL_2022_x86_64",
    "WINDOWS_CORE_2025_x86_64",
    "WINDOWS_FULL_2025_x86_64",
];

/// EKS takes label keys and values of 1 to 63 characters.
fn label_lengths(labels: &Value) -> Vec<String> {
    let fits = |s: &str| (1..=63).contains(&s.chars().count());
    let Some(map) = labels.as_object() else { return vec![] };
    map.iter()
        .flat_map(|(k, v)| {
            let mut out = vec![];
            if !fits(k) {
                out.push(format!("label key {k:?} must be 1 to 63 characters long"));
            }
            if v.as_str().is_some_and(|v| !fits(v)) {
                out.push(format!("label `{k}`'s value must be 1 to 63 characters long"));
            }
            out
        })
        .collect()
}

/// Kubernetes identifies a taint by key and effect, so a pair given twice conflicts; EKS
/// takes at most 50 taints.
fn unique_taints(taints: &Value) -> Vec<String> {
    let items = taints.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut out = vec![];
    if items.len() > 50 {
        out.push(format!("may hold at most 50 taints, not {}", items.len()));
    }
    let mut seen = BTreeSet::new();
    for t in items {
        if let (Some(key), Some(effect)) = (t.get("key").and_then(Value::as_str), t.get("effect").and_then(Value::as_str)) {
            if !seen.insert((key, effect)) {
                out.push(format!("{key}:{effect} is given twice"));
            }
        }
    }
    out
}

const SCALING_PROPS: &[&str] = &["desired_size", "min_size", "max_size"];

const READ_ACTIONS: &[&str] = &["eks:DescribeNodegroup"];
// The cluster is waited for before the node group is added; CreateNodegroup passes the
// node role, and checks (iam:GetRole) or creates EKS's node group service-linked role.
const CREATE_ACTIONS: &[&str] =
    &["eks:DescribeCluster", "eks:CreateNodegroup", "eks:TagResource", "eks:DescribeNodegroup", "iam:PassRole", "iam:GetRole", "iam:CreateServiceLinkedRole"];
const UPDATE_ACTIONS: &[&str] = &["eks:DescribeNodegroup", "eks:UpdateNodegroupConfig", "eks:DescribeUpdate", "eks:TagResource", "eks:UntagResource"];
const DELETE_ACTIONS: &[&str] = &["eks:DescribeNodegroup", "eks:DeleteNodegroup"];

/// One taint; ordered by key, then effect, as read reports them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct TaintSpec {
    key: String,
    effect: String,
    value: Option<String>,
}

impl TaintSpec {
    fn json(&self) -> Value {
        let mut m = Map::new();
        m.insert("key".into(), json!(self.key));
        if let Some(v) = &self.value {
            m.insert("value".into(), json!(v));
        }
        m.insert("effect".into(), json!(self.effect));
        Value::Object(m)
    }

    fn sdk(&self) -> Taint {
        Taint::builder().key(&self.key).set_value(self.value.clone()).effect(TaintEffect::from(self.effect.as_str())).build()
    }

    fn from_sdk(t: &Taint) -> TaintSpec {
        TaintSpec {
            key: t.key().unwrap_or_default().to_string(),
            effect: t.effect().map(|e| e.as_str().to_string()).unwrap_or_default(),
            value: t.value().filter(|v| !v.is_empty()).map(str::to_string),
        }
    }
}

/// The desired taints (their shape and uniqueness checked by the schema), in read's order.
fn taints(desired: &Desired) -> Vec<TaintSpec> {
    let items = match value(&SCHEMA, desired, "taints") {
        Some(Value::Array(items)) => items,
        _ => vec![],
    };
    let taints: BTreeSet<TaintSpec> = items
        .iter()
        .filter_map(|t| {
            Some(TaintSpec {
                key: t.get("key")?.as_str()?.to_string(),
                effect: t.get("effect")?.as_str()?.to_string(),
                // An empty value is no value: that is how EKS reports it.
                value: t.get("value").and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string),
            })
        })
        .collect();
    taints.into_iter().collect()
}

/// min, max and (when set) desired; their order is the schema's rule `sizes_in_order`,
/// which `schema_check::check` ran before this.
fn scaling(desired: &Desired) -> Result<(i32, i32, Option<i32>), ProviderError> {
    let min = int(&SCHEMA, desired, "min_size")?.ok_or_else(|| invalid(&SCHEMA, "min_size is required"))?;
    let max = int(&SCHEMA, desired, "max_size")?.ok_or_else(|| invalid(&SCHEMA, "max_size is required"))?;
    let want = int(&SCHEMA, desired, "desired_size")?;
    Ok((min, max, want))
}

/// What CreateNodegroup is sent, checked against the schema before any call (values known
/// only at apply were not checked at validate).
#[derive(Debug)]
struct Spec {
    cluster: String,
    name: String,
    role: String,
    subnets: Vec<String>,
    min: i32,
    max: i32,
    want: Option<i32>,
    labels: std::collections::HashMap<String, String>,
    taints: Vec<TaintSpec>,
    capacity: CapacityTypes,
    disk: Option<i32>,
    ami: Option<AmiTypes>,
    instance_types: Option<Vec<String>>,
    wait: u64,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let (min, max, want) = scaling(desired)?;
        Ok(Spec {
            cluster: required_string(&SCHEMA, desired, "cluster_name")?,
            name: desired.name(),
            role: required_string(&SCHEMA, desired, "node_role_arn")?,
            subnets: string_list(&SCHEMA, desired, "subnet_ids")?.unwrap_or_default(),
            min,
            max,
            want,
            labels: string_map(&SCHEMA, desired, "labels")?.unwrap_or_default(),
            taints: taints(desired),
            capacity: CapacityTypes::from(string(&SCHEMA, desired, "capacity_type")?.unwrap_or_default().as_str()),
            disk: int(&SCHEMA, desired, "disk_size")?,
            ami: string(&SCHEMA, desired, "ami_type")?.as_deref().map(AmiTypes::from),
            instance_types: string_list(&SCHEMA, desired, "instance_types")?,
            wait: wait_minutes(desired)?,
        })
    }
}

fn node_group_id(cluster: &str, name: &str) -> String {
    format!("{cluster}:{name}")
}

fn status_of(ng: &Nodegroup) -> &str {
    ng.status().map(|s| s.as_str()).unwrap_or("in an unknown state")
}

fn health_of(ng: &Nodegroup) -> String {
    let issues: Vec<String> = ng
        .health()
        .map(|h| h.issues().iter().map(|i| format!("{}: {}", i.code().map(|c| c.as_str()).unwrap_or("issue"), i.message().unwrap_or_default())).collect())
        .unwrap_or_default();
    if issues.is_empty() {
        String::new()
    } else {
        format!(" ({})", issues.join("; "))
    }
}

/// DescribeNodegroup output in the stack's shape.
fn observed(ng: &Nodegroup) -> Observed {
    let cluster = ng.cluster_name().unwrap_or_default();
    let name = ng.nodegroup_name().unwrap_or_default();
    let mut props = Props::new();
    props.insert("cluster_name".into(), json!(cluster));
    props.insert("name".into(), json!(name));
    props.insert("node_role_arn".into(), json!(ng.node_role().unwrap_or_default()));
    props.insert("subnet_ids".into(), sorted_json(ng.subnets()));
    props.insert("instance_types".into(), sorted_json(ng.instance_types()));
    if let Some(c) = ng.capacity_type() {
        props.insert("capacity_type".into(), json!(c.as_str()));
    }
    if let Some(a) = ng.ami_type() {
        props.insert("ami_type".into(), json!(a.as_str()));
    }
    if let Some(d) = ng.disk_size() {
        props.insert("disk_size".into(), json!(d));
    }
    if let Some(s) = ng.scaling_config() {
        for (prop, v) in [("desired_size", s.desired_size()), ("min_size", s.min_size()), ("max_size", s.max_size())] {
            if let Some(v) = v {
                props.insert(prop.into(), json!(v));
            }
        }
    }
    let labels: BTreeMap<&String, &String> = ng.labels().map(|l| l.iter().collect()).unwrap_or_default();
    props.insert("labels".into(), json!(labels));
    let taints: BTreeSet<TaintSpec> = ng.taints().iter().map(TaintSpec::from_sdk).collect();
    props.insert("taints".into(), Value::Array(taints.iter().map(TaintSpec::json).collect()));

    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(ng.nodegroup_arn().unwrap_or_default()));
    attrs.insert("status".into(), json!(status_of(ng)));
    Observed { id: node_group_id(cluster, name), props, attrs, tags: tags_of(ng.tags()) }
}

pub struct EksNodegroup {
    client: Client,
}

impl EksNodegroup {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.eks())
    }

    pub fn from_client(client: Client) -> Self {
        EksNodegroup { client }
    }

    async fn describe(&self, cluster: &str, name: &str) -> Result<Option<Nodegroup>, ProviderError> {
        let out = found(self.client.describe_nodegroup().cluster_name(cluster).nodegroup_name(name).send().await.eks("DescribeNodegroup"))?;
        Ok(out.and_then(|o| o.nodegroup().cloned()))
    }

    async fn status(&self, cluster: &str, name: &str) -> String {
        match self.describe(cluster, name).await {
            Ok(Some(ng)) => status_of(&ng).to_string(),
            Ok(None) => "gone".into(),
            Err(_) => "not ACTIVE".into(),
        }
    }

    async fn wait_active(&self, cluster: &str, name: &str, wait: u64) -> Result<(), ProviderError> {
        let result = self.client.wait_until_nodegroup_active().cluster_name(cluster).nodegroup_name(name).wait(minutes(wait)).await;
        match waited("DescribeNodegroup", result)? {
            Waited::Reached => Ok(()),
            Waited::TimedOut => Err(still(&format!("aws.eks.nodegroup {cluster}:{name}"), &self.status(cluster, name).await, wait)),
            Waited::Failed(out) => {
                let (status, why) = out.nodegroup().map(|ng| (status_of(ng).to_string(), health_of(ng))).unwrap_or_default();
                Err(ProviderError::Fatal(format!(
                    "aws.eks.nodegroup {cluster}:{name} is {status} instead of ACTIVE{why}; fix the cause, delete it (`aws eks delete-nodegroup --cluster-name {cluster} --nodegroup-name {name}`) and apply again"
                )))
            }
        }
    }
}

#[async_trait]
impl ResourceKind for EksNodegroup {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let (cluster, name) = split_id(&SCHEMA, id, "CLUSTER:NODEGROUP")?;
        let ng = self.describe(cluster, name).await?;
        Ok(ng.filter(|ng| status_of(ng) != "DELETING").map(|ng| observed(&ng)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let Spec { cluster, name, role, subnets, min, max, want, labels, taints, capacity, disk, ami, instance_types, wait } = Spec::from(desired)?;
        wait_cluster_active(&self.client, &cluster, wait).await?;
        let created = self
            .client
            .create_nodegroup()
            .cluster_name(&cluster)
            .nodegroup_name(&name)
            .node_role(role)
            .set_subnets(Some(subnets))
            .scaling_config(NodegroupScalingConfig::builder().min_size(min).max_size(max).desired_size(want.unwrap_or(min)).build())
            .set_instance_types(instance_types)
            .capacity_type(capacity)
            .set_ami_type(ami)
            .set_disk_size(disk)
            .set_labels((!labels.is_empty()).then_some(labels))
            .set_taints((!taints.is_empty()).then(|| taints.iter().map(TaintSpec::sdk).collect()))
            .set_tags(request_tags(&desired.tags))
            .client_request_token(&desired.idempotency_token)
            .send()
            .await
            .eks("CreateNodegroup");
        let id = node_group_id(&cluster, &name);
        let what = format!("EKS node group {id}");
        let adopted = match created {
            Ok(_) => false,
            // The name is taken: by this node group when a run died while waiting for it, or by someone else.
            Err(e @ ProviderError::Conflict(_)) if message_of(e.clone()).contains("ResourceInUseException") => match self.read(&id).await? {
                Some(o) if desired.owner.matches(&o.tags) => true,
                Some(o) => return Err(foreign(SCHEMA.kind, &what, desired, &o.tags)),
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        self.wait_active(&cluster, &name, wait).await?;
        let observed = self.read(&id).await?.ok_or_else(|| ProviderError::Retryable(format!("aws.eks.nodegroup {id} is not readable yet")))?;
        if adopted {
            return adopt(self, desired, &what, observed).await;
        }
        Ok(observed)
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let wait = spec.wait;
        let (cluster, name) = split_id(&SCHEMA, id, "CLUSTER:NODEGROUP")?;
        let gone_during = || ProviderError::NotFound(format!("aws.eks.nodegroup {id} disappeared during update"));
        let has = |p: &str| changed.iter().any(|c| c == p);
        let current = self.describe(cluster, name).await?.ok_or_else(gone_during)?;

        let mut request = self.client.update_nodegroup_config().cluster_name(cluster).nodegroup_name(name);
        let mut any = false;
        if SCALING_PROPS.iter().any(|p| has(p)) {
            let (min, max, want) = (spec.min, spec.max, spec.want);
            // Unmanaged desired_size stays where autoscaling put it, moved into the new range.
            let now = current.scaling_config().and_then(|s| s.desired_size()).unwrap_or(min);
            let target = want.unwrap_or_else(|| now.clamp(min, max));
            request = request.scaling_config(NodegroupScalingConfig::builder().min_size(min).max_size(max).desired_size(target).build());
            any = true;
        }
        if has("labels") {
            let want = &spec.labels;
            let have = current.labels().cloned().unwrap_or_default();
            let set: std::collections::HashMap<String, String> =
                want.iter().filter(|(k, v)| have.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
            let mut remove: Vec<String> = have.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
            remove.sort();
            if !set.is_empty() || !remove.is_empty() {
                let payload = UpdateLabelsPayload::builder()
                    .set_add_or_update_labels((!set.is_empty()).then_some(set))
                    .set_remove_labels((!remove.is_empty()).then_some(remove))
                    .build();
                request = request.labels(payload);
                any = true;
            }
        }
        if has("taints") {
            let want = &spec.taints;
            let have: BTreeSet<TaintSpec> = current.taints().iter().map(TaintSpec::from_sdk).collect();
            let add: Vec<Taint> = want.iter().filter(|t| !have.contains(t)).map(TaintSpec::sdk).collect();
            let remove: Vec<Taint> = have.iter().filter(|h| !want.iter().any(|w| w.key == h.key && w.effect == h.effect)).map(TaintSpec::sdk).collect();
            if !add.is_empty() || !remove.is_empty() {
                let payload = UpdateTaintsPayload::builder()
                    .set_add_or_update_taints((!add.is_empty()).then_some(add))
                    .set_remove_taints((!remove.is_empty()).then_some(remove))
                    .build();
                request = request.taints(payload);
                any = true;
            }
        }
        if any {
            let out = request.send().await.eks("UpdateNodegroupConfig")?;
            match out.update() {
                Some(update) => wait_update(&self.client, cluster, Some(name), update, &format!("aws.eks.nodegroup {id}"), wait).await?,
                None => self.wait_active(cluster, name, wait).await?,
            }
        }
        if has("tags") {
            sync_tags(&self.client, current.nodegroup_arn().unwrap_or_default(), &tags_of(current.tags()), &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(gone_during)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let (cluster, name) = split_id(&SCHEMA, id, "CLUSTER:NODEGROUP")?;
        let Some(ng) = self.describe(cluster, name).await? else {
            return Ok(());
        };
        if status_of(&ng) != "DELETING" {
            gone(self.client.delete_nodegroup().cluster_name(cluster).nodegroup_name(name).send().await.map(|_| ()).eks("DeleteNodegroup"))?;
        }
        let result = self.client.wait_until_nodegroup_deleted().cluster_name(cluster).nodegroup_name(name).wait(minutes(DEFAULT_WAIT_MINUTES)).await;
        match waited("DescribeNodegroup", result)? {
            Waited::Reached => Ok(()),
            Waited::TimedOut => Err(still_deleting(&format!("aws.eks.nodegroup {id}"), "DELETING")),
            Waited::Failed(out) => {
                let (status, why) = out.nodegroup().map(|ng| (status_of(ng).to_string(), health_of(ng))).unwrap_or_default();
                Err(ProviderError::Fatal(format!("aws.eks.nodegroup {id} is {status}{why}")))
            }
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let cluster = required_string(&SCHEMA, desired, "cluster_name")?;
        let name = desired.name();
        let Some(found) = self.read(&node_group_id(&cluster, &name)).await?.filter(|o| desired.owner.matches(&o.tags)) else { return Ok(None) };
        // A run that died during the long wait after CreateNodegroup left it CREATING: finish that wait.
        if self.describe(&cluster, &name).await?.and_then(|n| n.status().map(|s| s.as_str() == "CREATING")).unwrap_or(false) {
            self.wait_active(&cluster, &name, wait_minutes(desired)?).await?;
            return self.read(&node_group_id(&cluster, &name)).await;
        }
        Ok(Some(found))
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
    use super::*;
    use crate::eks_common::test_support::{client, desired, error};
    use aws_sdk_eks::operation::create_nodegroup::CreateNodegroupOutput;
    use aws_sdk_eks::operation::delete_nodegroup::DeleteNodegroupOutput;
    use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
    use aws_sdk_eks::operation::describe_nodegroup::{DescribeNodegroupError, DescribeNodegroupOutput};
    use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
    use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
    use aws_sdk_eks::types::error::ResourceNotFoundException;
    use aws_sdk_eks::types::{Cluster, ClusterStatus, Issue, NodegroupHealth, NodegroupIssueCode, NodegroupStatus, Update, UpdateStatus};
    use aws_smithy_mocks::mock;
    use cairn_engine::provider::Tags;

    const CLUSTER: &str = "shop-prod-cluster";
    const NAME: &str = "shop-prod-workers";
    const ID: &str = "shop-prod-cluster:shop-prod-workers";
    const ARN: &str = "arn:aws:eks:us-east-1:111122223333:nodegroup/shop-prod-cluster/shop-prod-workers/uuid";
    const ROLE: &str = "arn:aws:iam::111122223333:role/nodes";

    fn props() -> Value {
        json!({
            "cluster_name": CLUSTER, "node_role_arn": ROLE, "subnet_ids": ["subnet-a", "subnet-b"],
            "instance_types": ["m5.large", "m6i.large"], "capacity_type": "SPOT", "ami_type": "AL2023_x86_64_STANDARD", "disk_size": 50,
            "desired_size": 2, "min_size": 1, "max_size": 4, "labels": {"role": "worker", "tier": "batch"},
            "taints": [{"key": "dedicated", "value": "batch", "effect": "NO_SCHEDULE"}, {"key": "spot", "effect": "PREFER_NO_SCHEDULE"}]
        })
    }

    fn nodegroup(status: NodegroupStatus, tags: &Tags) -> Nodegroup {
        Nodegroup::builder()
            .cluster_name(CLUSTER)
            .nodegroup_name(NAME)
            .nodegroup_arn(ARN)
            .status(status)
            .node_role(ROLE)
            .subnets("subnet-b")
            .subnets("subnet-a")
            .instance_types("m6i.large")
            .instance_types("m5.large")
            .capacity_type(CapacityTypes::Spot)
            .ami_type(AmiTypes::Al2023X8664Standard)
            .disk_size(50)
            .scaling_config(NodegroupScalingConfig::builder().min_size(1).max_size(4).desired_size(2).build())
            .labels("tier", "batch")
            .labels("role", "worker")
            .taints(Taint::builder().key("spot").effect(TaintEffect::PreferNoSchedule).build())
            .taints(Taint::builder().key("dedicated").value("batch").effect(TaintEffect::NoSchedule).build())
            .set_tags(Some(tags.clone().into_iter().collect()))
            .build()
    }

    fn describing(status: NodegroupStatus, tags: Tags) -> DescribeNodegroupOutput {
        DescribeNodegroupOutput::builder().nodegroup(nodegroup(status, &tags)).build()
    }

    fn not_found() -> DescribeNodegroupError {
        DescribeNodegroupError::ResourceNotFoundException(
            ResourceNotFoundException::builder().message("No node group found").meta(error("ResourceNotFoundException")).build(),
        )
    }

    fn active_cluster() -> DescribeClusterOutput {
        DescribeClusterOutput::builder().cluster(Cluster::builder().name(CLUSTER).status(ClusterStatus::Active).build()).build()
    }

    fn assert_actions(actions: &[&str], operations: &[&str]) {
        for op in operations {
            assert!(actions.contains(&format!("eks:{op}").as_str()), "eks:{op} missing from {actions:?}");
        }
    }

    #[test]
    fn the_wait_default_is_the_schemas() {
        assert_eq!(SCHEMA.prop("wait_timeout_minutes").and_then(|p| p.default_value()), Some(json!(DEFAULT_WAIT_MINUTES)));
        assert_eq!(crate::eks_cluster::SCHEMA.prop("wait_timeout_minutes").and_then(|p| p.default_value()), Some(json!(DEFAULT_WAIT_MINUTES)));
    }

    /// `validate` refuses at their place what an apply would have failed on, nested values included.
    #[test]
    fn validate_refuses_bad_values_with_their_location() {
        use cairn_engine::compile::{compile_source, CompileOptions};
        use cairn_engine::source::SourceFile;
        let text = "stack: shop\nresources:\n  workers:\n    type: aws.eks.nodegroup\n    props:\n      cluster_name: shop\n      node_role_arn: arn:aws:iam::111122223333:role/nodes\n      subnet_ids: [subnet-a]\n      min_size: 1\n      max_size: 0\n      capacity_type: spot\n      taints: [{ key: gpu, effect: NoSchedule }]\n";
        let file = SourceFile::new("stack.yaml", text.to_string());
        let rendered = match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas) {
            Ok(_) => panic!("validate accepted the stack"),
            Err(d) => d.render(&file),
        };
        for want in ["stack.yaml:10:", "`max_size` must be from 1", "stack.yaml:11:", "`capacity_type` must be one of", "stack.yaml:12:", "`taints[0].effect`"]
        {
            assert!(rendered.contains(want), "{want:?} missing from:\n{rendered}");
        }
    }

    /// Sizes out of order are refused by `validate`, located at the first size written.
    #[test]
    fn validate_refuses_sizes_out_of_order_at_min_size() {
        use cairn_engine::compile::{compile_source, CompileOptions};
        use cairn_engine::source::SourceFile;
        let text = "stack: shop\nresources:\n  workers:\n    type: aws.eks.nodegroup\n    props:\n      cluster_name: shop\n      node_role_arn: arn:aws:iam::111122223333:role/nodes\n      subnet_ids: [subnet-a]\n      min_size: 5\n      max_size: 2\n";
        let file = SourceFile::new("stack.yaml", text.to_string());
        let diags = match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas) {
            Ok(_) => panic!("validate accepted the stack"),
            Err(d) => d,
        };
        let found: Vec<(usize, String)> = diags.iter().map(|d| (d.span.map_or(0, |s| s.line), d.message.clone())).collect();
        assert_eq!(found, vec![(9, "`workers` (aws.eks.nodegroup): min_size 5 is above max_size 2".to_string())]);
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let with = |key: &str, bad: Value| {
            let mut p = props();
            p[key] = bad;
            p
        };
        let without = |key: &str| {
            let mut p = props();
            p.as_object_mut().unwrap().remove(key);
            p
        };
        for p in [
            without("cluster_name"),
            without("node_role_arn"),
            without("min_size"),
            without("max_size"),
            with("cluster_name", json!("")),
            with("subnet_ids", json!([])),
            with("subnet_ids", json!("subnet-a")),
            with("max_size", json!(0)),
            with("min_size", json!(-1)),
            with("desired_size", json!(5_000_000_000i64)),
            with("disk_size", json!("50")),
            with("capacity_type", json!("spot")),
            with("taints", json!([{"key": "a", "effect": "NoSchedule"}])),
            with("taints", json!([{"key": "a", "effect": "NO_SCHEDULE"}, {"key": "a", "value": "b", "effect": "NO_SCHEDULE"}])),
            with("taints", json!({"key": "a"})),
            with("taints", json!([{"key": "a", "effect": "NO_SCHEDULE", "operator": "Equal"}])),
            with("labels", json!({"a": 1})),
            with("instance_types", json!("m5.large")),
            with("wait_timeout_minutes", json!(0)),
            with("min_size", json!(9)),
            with("desired_size", json!(9)),
        ] {
            let d = desired(p.clone(), "workers");
            assert!(Spec::from(&d).is_err(), "builder accepts {p}");
            assert!(crate::rds_common::test_support::schema_refuses(&SCHEMA, &d.props), "schema accepts {p}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts (its rule on size order included) becomes a
        /// CreateNodegroup request with values the SDK knows.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            proptest::prop_assume!(crate::schema_check::rules_pass(&SCHEMA, &props));
            let spec = Spec::from(&desired(Value::Object(props), "workers"));
            proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
            let spec = spec.unwrap();
            proptest::prop_assert!(CapacityTypes::values().contains(&spec.capacity.as_str()));
            proptest::prop_assert!(spec.ami.iter().all(|a| AmiTypes::values().contains(&a.as_str())));
            for t in &spec.taints {
                proptest::prop_assert!(t.sdk().effect().is_some_and(|e| TaintEffect::values().contains(&e.as_str())));
            }
            proptest::prop_assert!(!spec.subnets.is_empty() && spec.wait >= 1);
        }
    }

    #[tokio::test]
    async fn create_waits_for_the_cluster_then_the_node_group() {
        let d = desired(props(), "workers");
        let tags = d.tags.clone();
        let cluster = mock!(Client::describe_cluster)
            .match_requests(|r| r.name() == Some(CLUSTER))
            .sequence()
            .output(|| DescribeClusterOutput::builder().cluster(Cluster::builder().name(CLUSTER).status(ClusterStatus::Creating).build()).build())
            .output(active_cluster)
            .build();
        let create = mock!(Client::create_nodegroup)
            .match_requests(|r| {
                let s = r.scaling_config().unwrap();
                let tags = r.tags().unwrap();
                r.cluster_name() == Some(CLUSTER)
                    && r.nodegroup_name() == Some(NAME)
                    && r.node_role() == Some(ROLE)
                    && r.subnets() == ["subnet-a", "subnet-b"]
                    && r.instance_types() == ["m5.large", "m6i.large"]
                    && r.capacity_type() == Some(&CapacityTypes::Spot)
                    && r.disk_size() == Some(50)
                    && (s.min_size(), s.max_size(), s.desired_size()) == (Some(1), Some(4), Some(2))
                    && r.labels().is_some_and(|l| l.len() == 2)
                    && r.taints().len() == 2
                    && r.client_request_token() == Some("token-1")
                    && tags.get("cairn:address").map(String::as_str) == Some("workers")
            })
            .then_output(|| CreateNodegroupOutput::builder().build());
        let t = tags.clone();
        let describe = mock!(Client::describe_nodegroup)
            .sequence()
            .output({
                let t = t.clone();
                move || describing(NodegroupStatus::Creating, t.clone())
            })
            .times(3)
            .output(move || describing(NodegroupStatus::Active, t.clone()))
            .repeatedly()
            .build();

        let observed = EksNodegroup::from_client(client(&[&cluster, &create, &describe])).create(&d).await.unwrap();

        assert_eq!((cluster.num_calls(), create.num_calls()), (2, 1));
        assert!(describe.num_calls() >= 4);
        assert_eq!(observed.id, ID);
        assert_eq!(observed.tags, tags);
        for (name, value) in &d.props {
            assert_eq!(observed.props.get(name), Some(value), "{name} reads back as written");
        }
        assert_eq!(observed.attrs["status"], json!("ACTIVE"));
        assert_actions(CREATE_ACTIONS, &["DescribeCluster", "CreateNodegroup", "DescribeNodegroup", "TagResource"]);
    }

    #[tokio::test]
    async fn create_that_stays_creating_times_out_as_retryable() {
        let cluster = mock!(Client::describe_cluster).then_output(active_cluster);
        let create = mock!(Client::create_nodegroup).then_output(|| CreateNodegroupOutput::builder().build());
        let describe = mock!(Client::describe_nodegroup).then_output(|| describing(NodegroupStatus::Creating, Tags::new()));
        let mut p = props();
        p["wait_timeout_minutes"] = json!(5);
        let result = EksNodegroup::from_client(client(&[&cluster, &create, &describe])).create(&desired(p, "workers")).await;
        assert!(matches!(&result, Err(ProviderError::Retryable(m)) if m.contains(ID) && m.contains("still CREATING after 5 minutes")), "{result:?}");
    }

    #[tokio::test]
    async fn create_failed_is_fatal_with_the_health_issue() {
        let cluster = mock!(Client::describe_cluster).then_output(active_cluster);
        let create = mock!(Client::create_nodegroup).then_output(|| CreateNodegroupOutput::builder().build());
        let describe = mock!(Client::describe_nodegroup).then_output(|| {
            let mut ng = nodegroup(NodegroupStatus::CreateFailed, &Tags::new());
            ng.health = Some(
                NodegroupHealth::builder()
                    .issues(Issue::builder().code(NodegroupIssueCode::NodeCreationFailure).message("Instances failed to join").build())
                    .build(),
            );
            DescribeNodegroupOutput::builder().nodegroup(ng).build()
        });
        let result = EksNodegroup::from_client(client(&[&cluster, &create, &describe])).create(&desired(props(), "workers")).await;
        assert!(matches!(&result, Err(ProviderError::Fatal(m)) if m.contains("CREATE_FAILED") && m.contains("failed to join")), "{result:?}");
    }

    #[tokio::test]
    async fn cluster_that_never_becomes_active_stops_the_create() {
        // No CreateNodegroup rule: creating against a CREATING cluster would fail the test.
        let cluster = mock!(Client::describe_cluster)
            .then_output(|| DescribeClusterOutput::builder().cluster(Cluster::builder().name(CLUSTER).status(ClusterStatus::Creating).build()).build());
        let mut p = props();
        p["wait_timeout_minutes"] = json!(1);
        let result = EksNodegroup::from_client(client(&[&cluster])).create(&desired(p, "workers")).await;
        assert!(matches!(&result, Err(ProviderError::Retryable(m)) if m.contains("aws.eks.cluster shop-prod-cluster is still CREATING")), "{result:?}");
    }

    #[tokio::test]
    async fn invalid_props_fail_before_any_call() {
        let kind = EksNodegroup::from_client(client(&[]));
        let base = props();
        for (key, bad) in [
            ("min_size", json!(5)),
            ("desired_size", json!(9)),
            ("max_size", json!(0)),
            ("min_size", json!(-1)),
            ("taints", json!([{"key": "a", "effect": "NoSchedule"}])),
            ("taints", json!([{"key": "a", "effect": "NO_SCHEDULE"}, {"key": "a", "value": "b", "effect": "NO_SCHEDULE"}])),
            ("taints", json!({"key": "a"})),
            ("labels", json!({"a": 1})),
        ] {
            let mut p = base.clone();
            p[key] = bad.clone();
            assert!(matches!(kind.create(&desired(p, "workers")).await, Err(ProviderError::Invalid(_))), "{key}: {bad}");
        }
    }

    #[tokio::test]
    async fn read_of_missing_or_deleting_node_group_is_none() {
        let missing = mock!(Client::describe_nodegroup).then_error(not_found);
        assert_eq!(EksNodegroup::from_client(client(&[&missing])).read(ID).await.unwrap(), None);
        let deleting = mock!(Client::describe_nodegroup).then_output(|| describing(NodegroupStatus::Deleting, Tags::new()));
        assert_eq!(EksNodegroup::from_client(client(&[&deleting])).read(ID).await.unwrap(), None);
        assert!(matches!(EksNodegroup::from_client(client(&[])).read("no-colon").await, Err(ProviderError::Invalid(_))));
    }

    #[tokio::test]
    async fn delete_of_missing_node_group_is_ok() {
        let missing = mock!(Client::describe_nodegroup).then_error(not_found);
        EksNodegroup::from_client(client(&[&missing])).delete(ID).await.unwrap();
    }

    #[tokio::test]
    async fn delete_waits_until_gone() {
        let describe = mock!(Client::describe_nodegroup)
            .sequence()
            .output(|| describing(NodegroupStatus::Active, Tags::new()))
            .output(|| describing(NodegroupStatus::Deleting, Tags::new()))
            .times(3)
            .error(not_found)
            .build();
        let delete = mock!(Client::delete_nodegroup)
            .match_requests(|r| r.cluster_name() == Some(CLUSTER) && r.nodegroup_name() == Some(NAME))
            .then_output(|| DeleteNodegroupOutput::builder().build());
        EksNodegroup::from_client(client(&[&describe, &delete])).delete(ID).await.unwrap();
        assert_eq!((delete.num_calls(), describe.num_calls()), (1, 5));
        assert_actions(DELETE_ACTIONS, &["DescribeNodegroup", "DeleteNodegroup"]);
    }

    #[tokio::test]
    async fn delete_failed_is_fatal() {
        let describe = mock!(Client::describe_nodegroup)
            .sequence()
            .output(|| describing(NodegroupStatus::Deleting, Tags::new()))
            .output(|| describing(NodegroupStatus::DeleteFailed, Tags::new()))
            .build();
        let result = EksNodegroup::from_client(client(&[&describe])).delete(ID).await;
        assert!(matches!(&result, Err(ProviderError::Fatal(m)) if m.contains("DELETE_FAILED")), "{result:?}");
    }

    #[tokio::test]
    async fn update_sends_scaling_label_and_taint_changes_in_one_call_and_waits() {
        let current = Tags::new();
        let describe = mock!(Client::describe_nodegroup).then_output(move || describing(NodegroupStatus::Active, current.clone()));
        let config = mock!(Client::update_nodegroup_config)
            .match_requests(|r| {
                let s = r.scaling_config().unwrap();
                let labels = r.labels().unwrap();
                let taints = r.taints().unwrap();
                let added: Vec<(&str, &str)> = taints.add_or_update_taints().iter().map(|t| (t.key().unwrap(), t.effect().unwrap().as_str())).collect();
                let removed: Vec<&str> = taints.remove_taints().iter().map(|t| t.key().unwrap()).collect();
                r.cluster_name() == Some(CLUSTER)
                    && r.nodegroup_name() == Some(NAME)
                    && (s.min_size(), s.max_size(), s.desired_size()) == (Some(2), Some(6), Some(3))
                    && labels.add_or_update_labels().is_some_and(|l| l.len() == 1 && l.get("tier").map(String::as_str) == Some("web"))
                    && labels.remove_labels() == ["role"]
                    && added == [("dedicated", "NO_EXECUTE")]
                    && removed == ["dedicated", "spot"]
            })
            .then_output(|| UpdateNodegroupConfigOutput::builder().update(Update::builder().id("u-9").status(UpdateStatus::InProgress).build()).build());
        let poll = mock!(Client::describe_update)
            .match_requests(|r| r.name() == Some(CLUSTER) && r.nodegroup_name() == Some(NAME) && r.update_id() == Some("u-9"))
            .sequence()
            .output(|| DescribeUpdateOutput::builder().update(Update::builder().id("u-9").status(UpdateStatus::InProgress).build()).build())
            .output(|| DescribeUpdateOutput::builder().update(Update::builder().id("u-9").status(UpdateStatus::Successful).build()).build())
            .build();
        let mut p = props();
        p["min_size"] = json!(2);
        p["max_size"] = json!(6);
        p["desired_size"] = json!(3);
        p["labels"] = json!({"tier": "web"});
        p["taints"] = json!([{"key": "dedicated", "value": "batch", "effect": "NO_EXECUTE"}]);
        let changed: Vec<String> = ["min_size", "max_size", "desired_size", "labels", "taints"].iter().map(|s| s.to_string()).collect();
        EksNodegroup::from_client(client(&[&describe, &config, &poll])).update(ID, &desired(p, "workers"), &changed).await.unwrap();
        assert_eq!((config.num_calls(), poll.num_calls()), (1, 2));
        assert_actions(UPDATE_ACTIONS, &["DescribeNodegroup", "UpdateNodegroupConfig", "DescribeUpdate"]);
    }

    #[tokio::test]
    async fn unmanaged_desired_size_is_kept_inside_the_new_range() {
        let describe = mock!(Client::describe_nodegroup).then_output(|| describing(NodegroupStatus::Active, Tags::new()));
        let config = mock!(Client::update_nodegroup_config)
            .match_requests(|r| {
                r.scaling_config().is_some_and(|s| (s.min_size(), s.max_size(), s.desired_size()) == (Some(3), Some(5), Some(3)))
                    && r.labels().is_none()
                    && r.taints().is_none()
            })
            .then_output(|| UpdateNodegroupConfigOutput::builder().update(Update::builder().id("u").status(UpdateStatus::Successful).build()).build());
        let mut p = props();
        p.as_object_mut().unwrap().remove("desired_size");
        p["min_size"] = json!(3);
        p["max_size"] = json!(5);
        EksNodegroup::from_client(client(&[&describe, &config])).update(ID, &desired(p, "workers"), &["min_size".into(), "max_size".into()]).await.unwrap();
        assert_eq!(config.num_calls(), 1);
    }

    #[tokio::test]
    async fn update_of_tags_only_tags() {
        let describe =
            mock!(Client::describe_nodegroup).then_output(|| describing(NodegroupStatus::Active, Tags::from([("old".to_string(), "1".to_string())])));
        let tag = mock!(Client::tag_resource)
            .match_requests(|r| r.resource_arn() == Some(ARN))
            .then_output(|| aws_sdk_eks::operation::tag_resource::TagResourceOutput::builder().build());
        let untag = mock!(Client::untag_resource)
            .match_requests(|r| r.tag_keys() == ["old"])
            .then_output(|| aws_sdk_eks::operation::untag_resource::UntagResourceOutput::builder().build());
        EksNodegroup::from_client(client(&[&describe, &tag, &untag])).update(ID, &desired(props(), "workers"), &["tags".into()]).await.unwrap();
        assert_eq!((tag.num_calls(), untag.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn find_owned_uses_cluster_and_name() {
        let d = desired(props(), "workers");
        let tags = d.tags.clone();
        let active = tags.clone();
        let describe = mock!(Client::describe_nodegroup)
            .match_requests(|r| r.cluster_name() == Some(CLUSTER) && r.nodegroup_name() == Some(NAME))
            .sequence()
            .output(move || describing(NodegroupStatus::Creating, tags.clone()))
            .times(3)
            .output(move || describing(NodegroupStatus::Active, active.clone()))
            .repeatedly()
            .build();
        assert_eq!(EksNodegroup::from_client(client(&[&describe])).find_owned(&d).await.unwrap().map(|o| o.id), Some(ID.to_string()));
        assert!(describe.num_calls() >= 4, "a node group left CREATING by a killed run is waited for");
    }

    #[tokio::test]
    async fn create_answered_resource_in_use_adopts_our_node_group_and_refuses_another() {
        use aws_sdk_eks::operation::create_nodegroup::CreateNodegroupError;
        use aws_sdk_eks::types::error::ResourceInUseException;
        let d = desired(props(), "workers");
        let cluster = mock!(Client::describe_cluster).then_output(active_cluster);
        let in_use = mock!(Client::create_nodegroup).then_error(|| {
            CreateNodegroupError::ResourceInUseException(
                ResourceInUseException::builder().message("NodeGroup already exists").meta(error("ResourceInUseException")).build(),
            )
        });
        let tags = d.tags.clone();
        let ours = mock!(Client::describe_nodegroup).then_output(move || describing(NodegroupStatus::Active, tags.clone()));
        assert_eq!(EksNodegroup::from_client(client(&[&cluster, &in_use, &ours])).create(&d).await.map(|o| o.id), Ok(ID.to_string()));
        let theirs = mock!(Client::describe_nodegroup).then_output(|| describing(NodegroupStatus::Active, Tags::new()));
        let result = EksNodegroup::from_client(client(&[&cluster, &in_use, &theirs])).create(&d).await;
        crate::adopt::testing::assert_refused(result, &format!("EKS node group {ID}"));
    }

    #[test]
    fn every_operation_lists_read() {
        for action in READ_ACTIONS {
            assert!(CREATE_ACTIONS.contains(action) && UPDATE_ACTIONS.contains(action), "{action}");
        }
    }
}
