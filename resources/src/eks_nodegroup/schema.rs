//! The schema of `aws.eks.nodegroup`: its props with the EKS API's ranges and rules, and the IAM actions per operation.

use std::collections::BTreeSet;

use cairn_engine::provider::{PropSpec, PropType, Props, PropsRule, ResourceSchema, TextRule};
use serde_json::Value;

use crate::eks_common::{ARN, CLUSTER_NAME};
use crate::rds_common::non_empty;

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
        PropSpec::new(
            "disk_size",
            PropType::IntRange(1, 16_384),
            "Root volume size in GiB; unset takes EKS's default (20). Not with a launch_template (set the volume there).",
        )
        .force_new(),
        PropSpec::new(
            "version",
            PropType::Text(TextRule::len(3, 8).chars(".")),
            "Kubernetes version of the nodes, `MAJOR.MINOR` (e.g. \"1.30\"); unset takes the cluster's at creation. At most the cluster's \
             version and at most three minor versions older (two for clusters before 1.28). `${cluster.version}` makes the nodes follow the \
             control plane: the cluster is upgraded first, then the nodes (UpdateNodegroupVersion, rolling as update_config allows).",
        )
        .rule(kubernetes_version),
        PropSpec::new(
            "release_version",
            PropType::Text(TextRule::len(1, 64).chars(".-_")),
            "AMI release of the EKS optimized AMI (e.g. \"1.30.4-20240917\"); unset takes the latest for the version. Changing it rolls \
             the nodes onto that release (UpdateNodegroupVersion).",
        ),
        PropSpec::new(
            "launch_template",
            PropType::Struct(&[
                PropSpec::new("id", PropType::Text(TextRule::len(4, 255).chars("-")), "The template's id (`lt-...`); give id or name."),
                PropSpec::new("name", PropType::Text(TextRule::len(3, 128).chars("()./-_")), "The template's name; give id or name."),
                PropSpec::new(
                    "version",
                    PropType::Text(TextRule::len(1, 20)),
                    "The template version number (EKS reports `$Latest` and `$Default` as the number they stood for, so give the number).",
                )
                .required(),
            ]),
            "EC2 launch template for the nodes: `{ id | name, version }`. A new version rolls the nodes onto it (UpdateNodegroupVersion); \
             EKS keeps the template a node group was created with, so adding one or naming another needs a new node group (rename it).",
        )
        .rule(launch_template_shape),
        PropSpec::new(
            "update_config",
            PropType::Struct(&[
                PropSpec::new("max_unavailable", PropType::IntRange(1, 100), "Nodes replaced at once during a version update."),
                PropSpec::new(
                    "max_unavailable_percentage",
                    PropType::IntRange(1, 100),
                    "Percentage of the nodes replaced at once during a version update (up to 100 nodes).",
                ),
            ]),
            "How many nodes a version update may take down at once: exactly one of `max_unavailable` and `max_unavailable_percentage`; \
             unset keeps EKS's default (one node).",
        )
        .rule(one_unavailable_limit),
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
    rules: &[
        PropsRule { props: &["min_size", "max_size", "desired_size"], check: sizes_in_order },
        PropsRule { props: &["launch_template", "disk_size", "instance_types"], check: launch_template_conflicts },
    ],
};

/// min_size ≤ desired_size (when set) ≤ max_size: EKS refuses sizes out of order.
pub(super) fn sizes_in_order(p: &Props) -> Vec<String> {
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

/// `MAJOR.MINOR`, the form EKS takes for a Kubernetes version.
pub(super) fn kubernetes_version(v: &Value) -> Vec<String> {
    match v.as_str() {
        Some(text) if minor_of(text).is_none() => vec![format!("must be MAJOR.MINOR, e.g. \"1.30\", not {text:?}")],
        _ => vec![],
    }
}

/// The (major, minor) of a `MAJOR.MINOR` version.
pub(super) fn minor_of(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (digits(major) && digits(minor)).then(|| Some((major.parse().ok()?, minor.parse().ok()?)))?
}

/// LaunchTemplateSpecification: the template by id or by name, not both; ids are `lt-...`;
/// the version a number, since EKS reports `$Latest`/`$Default` as the number they resolved to.
pub(super) fn launch_template_shape(v: &Value) -> Vec<String> {
    let text = |k: &str| v.get(k).and_then(Value::as_str);
    let mut out = vec![];
    match (text("id"), text("name")) {
        (Some(_), Some(_)) => out.push("give the template's id or its name, not both".into()),
        (None, None) if v.is_object() => out.push("needs the template's id or its name".into()),
        (Some(id), None) if !id.starts_with("lt-") => out.push(format!("id must be a launch template id (lt-...), not {id:?}")),
        _ => {}
    }
    if let Some(version) = text("version").filter(|t| !t.chars().all(|c| c.is_ascii_digit())) {
        out.push(format!("version must be the template's version number, not {version:?}"));
    }
    out
}

/// NodegroupUpdateConfig takes exactly one of its two limits.
pub(super) fn one_unavailable_limit(v: &Value) -> Vec<String> {
    let Some(m) = v.as_object() else { return vec![] };
    match (m.contains_key("max_unavailable"), m.contains_key("max_unavailable_percentage")) {
        (true, true) => vec!["give max_unavailable or max_unavailable_percentage, not both".into()],
        (false, false) => vec!["needs max_unavailable or max_unavailable_percentage".into()],
        _ => vec![],
    }
}

/// With a launch template EKS refuses `diskSize` (the volume is the template's). Instance
/// types may be in the template or in the request, not both; cairn cannot see the template,
/// so it asks for them in the request, where read reports them.
pub(super) fn launch_template_conflicts(p: &Props) -> Vec<String> {
    if p.get("launch_template").is_none_or(Value::is_null) {
        return vec![];
    }
    let mut out = vec![];
    if p.get("disk_size").is_some_and(|v| !v.is_null()) {
        out.push("disk_size conflicts with launch_template: EKS takes the root volume from the template's block device mappings".into());
    }
    if p.get("instance_types").is_none_or(Value::is_null) {
        out.push("launch_template needs instance_types written out (and no instance type in the template): cairn reads node types from the node group".into());
    }
    out
}

pub(super) const EFFECTS: &[&str] = &["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"];
/// The AMI families a node group without a launch template can use (`CUSTOM` needs one).
pub(super) const AMI_TYPES: &[&str] = &[
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
pub(super) fn label_lengths(labels: &Value) -> Vec<String> {
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
pub(super) fn unique_taints(taints: &Value) -> Vec<String> {
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

pub(super) const SCALING_PROPS: &[&str] = &["desired_size", "min_size", "max_size"];
/// What UpdateNodegroupVersion changes.
pub(super) const VERSION_PROPS: &[&str] = &["version", "release_version", "launch_template"];

pub(super) const READ_ACTIONS: &[&str] = &["eks:DescribeNodegroup"];
// The cluster is waited for before the node group is added; CreateNodegroup passes the
// node role, and checks (iam:GetRole) or creates EKS's node group service-linked role; a
// launch template's version is read by EKS with the caller's rights.
pub(super) const CREATE_ACTIONS: &[&str] = &[
    "eks:DescribeCluster",
    "eks:CreateNodegroup",
    "eks:TagResource",
    "eks:DescribeNodegroup",
    "iam:PassRole",
    "iam:GetRole",
    "iam:CreateServiceLinkedRole",
    "ec2:DescribeLaunchTemplateVersions",
];
pub(super) const UPDATE_ACTIONS: &[&str] = &[
    "eks:DescribeNodegroup",
    "eks:UpdateNodegroupConfig",
    "eks:UpdateNodegroupVersion",
    "eks:DescribeUpdate",
    "eks:TagResource",
    "eks:UntagResource",
    "ec2:DescribeLaunchTemplateVersions",
];
pub(super) const DELETE_ACTIONS: &[&str] = &["eks:DescribeNodegroup", "eks:DeleteNodegroup"];
