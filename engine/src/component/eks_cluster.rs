//! `cairn.eks_cluster`: an EKS cluster with its IAM roles, managed node groups, IRSA OIDC provider and access entries.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{policy, Component, ComponentInput, Expansion, Part};
use crate::provider::{PropSpec, PropType};

pub struct EksCluster;

static PROPS: &[PropSpec] = &[
    PropSpec::new("version", PropType::String, "Kubernetes version, e.g. \"1.30\".").required(),
    PropSpec::new("subnet_ids", PropType::StringList, "Subnets for the control plane's network interfaces and the nodes (private).").required(),
    PropSpec::new("endpoint_public_access", PropType::Bool, "Expose the API server publicly (else private only).").default("false"),
    PropSpec::new("public_access_cidrs", PropType::StringList, "Who may reach a public endpoint."),
    PropSpec::new("log_types", PropType::StringList, "Control-plane logs to send to CloudWatch.")
        .default("[\"api\",\"audit\",\"authenticator\",\"controllerManager\",\"scheduler\"]"),
    PropSpec::new("secrets_kms_key", PropType::String, "KMS key ARN that envelope-encrypts Kubernetes secrets."),
    PropSpec::new(
        "node_groups",
        PropType::Object,
        "Map of name -> { instance_types, capacity_type, min_size, max_size, desired_size, labels, taints, disk_size, version (default: the cluster's, \
         followed on upgrades), release_version, launch_template, update_config }.",
    )
    .required(),
    PropSpec::new("admin_role_arns", PropType::StringList, "IAM roles granted cluster-admin through access entries.").default("[]"),
    PropSpec::new("developer_role_arns", PropType::StringList, "IAM roles granted edit rights through access entries.").default("[]"),
    PropSpec::new(
        "authentication_mode",
        PropType::String,
        "API_AND_CONFIG_MAP or API: access entries need the EKS API (CONFIG_MAP, EKS's own default, refuses them). Moves only CONFIG_MAP -> API_AND_CONFIG_MAP -> API.",
    )
    .default("\"API_AND_CONFIG_MAP\""),
    PropSpec::new(
        "bootstrap_cluster_creator_admin_permissions",
        PropType::Bool,
        "Make whoever creates the cluster (the deploy role) its administrator, outside the access entries listed here; set at creation only.",
    )
    .default("true"),
];

/// The authentication modes, in the only order EKS lets a cluster move through them.
pub const AUTHENTICATION_MODES: &[&str] = &["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"];

const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const EDIT_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";

impl Component for EksCluster {
    fn kind(&self) -> &'static str {
        "cairn.eks_cluster"
    }
    fn doc(&self) -> &'static str {
        "EKS cluster + cluster and node IAM roles + managed node groups + OIDC provider for IRSA + access entries for admin and developer roles."
    }
    fn props(&self) -> &'static [PropSpec] {
        PROPS
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["name", "arn", "endpoint", "oidc_provider_arn", "oidc_issuer_url", "node_role_arn", "cluster_security_group_id"]
    }

    fn expand(&self, input: &ComponentInput) -> Result<Expansion, String> {
        let subnets = input.required("subnet_ids")?.clone();
        let trust = |service: &str| policy(vec![json!({ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" })]);
        let mut cluster = json!({
            "name": input.name_prefix,
            "role_arn": input.reference("cluster_role", "arn"),
            "version": input.required("version")?,
            "subnet_ids": subnets,
            "endpoint_private_access": true,
            "endpoint_public_access": input.bool_or("endpoint_public_access", false)?,
            "enabled_log_types": input.get("log_types").cloned().unwrap_or(json!(["api", "audit", "authenticator", "controllerManager", "scheduler"])),
        });
        if let Some(c) = input.get("public_access_cidrs") {
            cluster["public_access_cidrs"] = c.clone();
        }
        if let Some(k) = input.get("secrets_kms_key") {
            cluster["secrets_kms_key"] = k.clone();
        }
        let mode = match input.get("authentication_mode") {
            None => "API_AND_CONFIG_MAP".to_string(),
            Some(Value::String(m)) if AUTHENTICATION_MODES.contains(&m.as_str()) => m.clone(),
            Some(other) => return Err(format!("`authentication_mode` must be one of {}, found {other}", AUTHENTICATION_MODES.join(", "))),
        };
        cluster["access_config"] = json!({
            "authentication_mode": mode,
            "bootstrap_cluster_creator_admin_permissions": input.bool_or("bootstrap_cluster_creator_admin_permissions", true)?,
        });
        let mut parts = vec![
            Part::new(
                "cluster_role",
                "aws.iam.role",
                json!({ "assume_role_policy": trust("eks.amazonaws.com"), "managed_policy_arns": ["arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"] }),
            ),
            Part::new(
                "node_role",
                "aws.iam.role",
                json!({ "assume_role_policy": trust("ec2.amazonaws.com"), "managed_policy_arns": [
                    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
                    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
                    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
                ] }),
            ),
            Part::new("cluster", "aws.eks.cluster", cluster),
            Part::new(
                "oidc",
                "aws.iam.oidc_provider",
                json!({ "url": input.reference("cluster", "oidc_issuer_url"), "client_id_list": ["sts.amazonaws.com"] }),
            ),
        ];
        let groups: BTreeMap<String, Value> = match input.required("node_groups")? {
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            other => return Err(format!("`node_groups` must map names to settings, found {other}")),
        };
        if groups.is_empty() {
            return Err("`node_groups` needs at least one group".into());
        }
        for (name, g) in &groups {
            let get = |k: &str| g.get(k).cloned();
            let min = get("min_size").and_then(|v| v.as_i64()).ok_or(format!("node group `{name}` needs min_size"))?;
            let max = get("max_size").and_then(|v| v.as_i64()).ok_or(format!("node group `{name}` needs max_size"))?;
            let desired = get("desired_size").and_then(|v| v.as_i64()).unwrap_or(min);
            if !(min <= desired && desired <= max) {
                return Err(format!("node group `{name}`: need min_size <= desired_size <= max_size, found {min} <= {desired} <= {max}"));
            }
            let mut ng = json!({
                "cluster_name": input.reference("cluster", "name"),
                "name": format!("{name}"),
                "node_role_arn": input.reference("node_role", "arn"),
                "subnet_ids": subnets,
                "instance_types": get("instance_types").unwrap_or(json!(["t3.medium"])),
                "capacity_type": get("capacity_type").unwrap_or(json!("ON_DEMAND")),
                "min_size": min, "max_size": max, "desired_size": desired,
                "labels": get("labels").unwrap_or(json!({})),
                "taints": get("taints").unwrap_or(json!([])),
            });
            if let Some(d) = get("disk_size") {
                ng["disk_size"] = d;
            }
            // The nodes follow the control plane: an upgrade of the cluster plans, and applies
            // first, before the node groups' own (the reference is the edge between them).
            ng["version"] = get("version").unwrap_or_else(|| input.reference("cluster", "version"));
            for k in ["release_version", "launch_template", "update_config"] {
                if let Some(v) = get(k) {
                    ng[k] = v;
                }
            }
            parts.push(Part::new(format!("nodegroup[\"{name}\"]"), "aws.eks.nodegroup", ng));
        }
        for (list, policy_arn, label) in [("admin_role_arns", ADMIN_POLICY, "admin"), ("developer_role_arns", EDIT_POLICY, "developer")] {
            for (i, arn) in input.list(list)?.into_iter().enumerate() {
                parts.push(Part::new(
                    format!("access.{label}[{i}]"),
                    "aws.eks.access_entry",
                    json!({ "cluster_name": input.reference("cluster", "name"), "principal_arn": arn, "access_policies": [{ "policy_arn": policy_arn, "access_scope": { "type": "cluster" } }] }),
                ));
            }
        }
        let mut out = Expansion { parts, ..Default::default() };
        for (k, sub, attr) in [
            ("name", "cluster", "name"),
            ("arn", "cluster", "arn"),
            ("endpoint", "cluster", "endpoint"),
            ("oidc_issuer_url", "cluster", "oidc_issuer_url"),
            ("cluster_security_group_id", "cluster", "cluster_security_group_id"),
            ("oidc_provider_arn", "oidc", "arn"),
            ("node_role_arn", "node_role", "arn"),
        ] {
            out.outputs.insert(k.into(), input.reference(sub, attr));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Props;

    fn expand(extra: Value) -> Result<Expansion, String> {
        let mut props: Props =
            json!({ "version": "1.30", "subnet_ids": ["subnet-a", "subnet-b"], "node_groups": { "system": { "min_size": 1, "max_size": 2 } } })
                .as_object()
                .cloned()
                .unwrap_or_default();
        props.extend(extra.as_object().cloned().unwrap_or_default());
        let input =
            ComponentInput { address: "cluster", props: &props, stack: "shop", env: "dev", region: "us-east-1", name_prefix: "shop-dev-cluster".into() };
        EksCluster.expand(&input)
    }

    fn access_config(e: &Expansion) -> Value {
        e.parts.iter().find(|p| p.sub == "cluster").map(|p| p.props["access_config"].clone()).unwrap_or_default()
    }

    #[test]
    fn the_cluster_admits_access_entries_by_default() {
        let e = expand(json!({})).unwrap();
        assert_eq!(access_config(&e), json!({ "authentication_mode": "API_AND_CONFIG_MAP", "bootstrap_cluster_creator_admin_permissions": true }));
        let e = expand(json!({ "authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": false })).unwrap();
        assert_eq!(access_config(&e), json!({ "authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": false }));
    }

    #[test]
    fn an_unknown_authentication_mode_is_refused() {
        let err = expand(json!({ "authentication_mode": "IAM" })).unwrap_err();
        assert!(err.contains("must be one of CONFIG_MAP, API_AND_CONFIG_MAP, API"), "{err}");
    }
}
