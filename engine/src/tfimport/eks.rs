//! Terraform's EKS resources → `aws.eks.*`: clusters, managed node groups, and access entries with their policy associations.
//!
//! Terraform manages an access entry's EKS access policies as separate
//! `aws_eks_access_policy_association`s; cairn keeps them on the entry (`access_policies`), so they
//! are folded into the entry they belong to (same cluster and principal). The provider's endpoint
//! defaults (public on, private off) are the opposite of cairn's, so both flags are always written.

use serde_json::{json, Map, Value};

use super::{block_in, sorted_strings, Family, Input, Mapped, Output, TfInstance};

pub const FAMILY: Family =
    Family { name: "eks", types: &["aws_eks_cluster", "aws_eks_node_group", "aws_eks_access_entry", "aws_eks_access_policy_association"], map };

pub fn map(input: &Input, out: &mut Output) {
    for tf in input.of_type("aws_eks_cluster") {
        out.push(cluster(tf));
    }
    for tf in input.of_type("aws_eks_node_group") {
        out.push(node_group(tf));
    }
    for tf in input.of_type("aws_eks_access_entry") {
        out.push(access_entry(input, tf));
    }
    for tf in input.of_type("aws_eks_access_policy_association") {
        let (cluster, principal) = (tf.str("cluster_name").unwrap_or_default(), tf.str("principal_arn").unwrap_or_default());
        let has_entry = input.of_type("aws_eks_access_entry").any(|e| e.str("cluster_name") == Some(cluster) && e.str("principal_arn") == Some(principal));
        if !has_entry {
            out.note(tf, format!("left out: the access entry of {principal} on {cluster} is not a resource of this Terraform state, and cairn manages access policies only as part of their entry"));
        }
    }
}

fn cluster(tf: &TfInstance) -> Mapped {
    let name = tf.str("name").or(tf.str("id")).unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.eks.cluster", name);
    m.prop("name", json!(name)).prop("role_arn", tf.str("role_arn").map(|s| json!(s))).prop("version", tf.str("version").map(|s| json!(s)));
    let empty = Map::new();
    let vpc = tf.block("vpc_config").unwrap_or(&empty);
    let flag = |k: &str| vpc.get(k).and_then(Value::as_bool);
    m.prop("subnet_ids", json!(sorted_strings(vpc, "subnet_ids")))
        .prop("security_group_ids", json!(sorted_strings(vpc, "security_group_ids")))
        .prop("endpoint_private_access", flag("endpoint_private_access").map(|b| json!(b)))
        .prop("endpoint_public_access", flag("endpoint_public_access").map(|b| json!(b)));
    // EKS's own default (everyone) is what cairn leaves unset; anything narrower is written.
    let cidrs = sorted_strings(vpc, "public_access_cidrs");
    if !cidrs.is_empty() && cidrs != ["0.0.0.0/0"] {
        m.prop("public_access_cidrs", json!(cidrs));
    }
    m.prop("enabled_log_types", json!(tf.strings("enabled_cluster_log_types")));
    if let Some(enc) = tf.block("encryption_config") {
        m.prop("secrets_kms_key", block_in(enc, "provider").and_then(|p| p.get("key_arn")).filter(|v| v.as_str().is_some_and(|s| !s.is_empty())).cloned());
    }
    let issuer = tf.block("identity").and_then(|i| block_in(i, "oidc")).and_then(|o| o.get("issuer")).and_then(Value::as_str);
    m.attr("name", Some(name))
        .attr("arn", tf.str("arn"))
        .attr("endpoint", tf.str("endpoint"))
        .attr("oidc_issuer_url", issuer)
        .attr("cluster_security_group_id", vpc.get("cluster_security_group_id").and_then(Value::as_str));
    if let Some(access) = tf.block("access_config") {
        if let Some(mode) = access.get("authentication_mode").and_then(Value::as_str).filter(|m| !m.is_empty()) {
            // The kind reads both settings back; the creator's admin permissions default to true in AWS.
            let bootstrap = access.get("bootstrap_cluster_creator_admin_permissions").and_then(Value::as_bool).unwrap_or(true);
            m.prop("access_config", json!({ "authentication_mode": mode, "bootstrap_cluster_creator_admin_permissions": bootstrap }));
            if mode == "CONFIG_MAP" {
                m.note("authentication mode CONFIG_MAP: cairn's access entries need API_AND_CONFIG_MAP or API");
            }
        }
    }
    if let Some(net) = tf.block("kubernetes_network_config") {
        if net.get("ip_family").and_then(Value::as_str).is_some_and(|f| f == "ipv6") {
            m.note("the cluster's IPv6 service network is not expressed in cairn (it cannot change after creation)");
        }
    }
    if tf.block("upgrade_policy").and_then(|u| u.get("support_type")).and_then(Value::as_str) == Some("EXTENDED") {
        m.note("extended version support is not managed by cairn (it stays on)");
    }
    m
}

fn node_group(tf: &TfInstance) -> Mapped {
    let cluster = tf.str("cluster_name").unwrap_or_default();
    let name = tf.str("node_group_name").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.eks.nodegroup", format!("{cluster}:{name}"));
    m.prop("cluster_name", json!(cluster))
        .prop("name", json!(name))
        .prop("node_role_arn", tf.str("node_role_arn").map(|s| json!(s)))
        .prop("subnet_ids", json!(tf.strings("subnet_ids")))
        .prop("instance_types", json!(tf.strings("instance_types")))
        .prop("capacity_type", tf.str("capacity_type").map(|s| json!(s)))
        .prop("ami_type", tf.str("ami_type").filter(|a| *a != "CUSTOM").map(|s| json!(s)))
        .prop("disk_size", tf.i64("disk_size").filter(|d| *d > 0).map(|d| json!(d)));
    if let Some(scaling) = tf.block("scaling_config") {
        for key in ["desired_size", "min_size", "max_size"] {
            m.prop(key, scaling.get(key).and_then(Value::as_i64).map(|n| json!(n)));
        }
    }
    m.prop("labels", Value::Object(tf.attrs.get("labels").and_then(Value::as_object).cloned().unwrap_or_default()));
    let mut taints: Vec<(String, String, Option<String>)> = tf
        .list("taint")
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|t| {
            let text = |k: &str| t.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
            Some((text("key")?, text("effect")?, text("value")))
        })
        .collect();
    // The kind reads taints back sorted by key, then effect.
    taints.sort();
    let taints: Vec<Value> = taints
        .into_iter()
        .map(|(key, effect, value)| {
            let mut t = Map::new();
            t.insert("key".into(), json!(key));
            if let Some(v) = value {
                t.insert("value".into(), json!(v));
            }
            t.insert("effect".into(), json!(effect));
            Value::Object(t)
        })
        .collect();
    m.prop("taints", Value::Array(taints)).attr("arn", tf.str("arn"));
    if tf.block("launch_template").is_some() {
        m.note("the node group uses a launch template, which cairn does not manage: replacing the group from the stack would launch nodes without it");
    }
    if tf.block("remote_access").is_some() {
        m.note("SSH remote access of the nodes is not managed by cairn (it cannot change after creation)");
    }
    m
}

fn access_entry(input: &Input, tf: &TfInstance) -> Mapped {
    let cluster = tf.str("cluster_name").unwrap_or_default();
    let principal = tf.str("principal_arn").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.eks.access_entry", format!("{cluster}:{principal}"));
    let mut policies: Vec<(String, Value)> = vec![];
    for assoc in input.parts("aws_eks_access_policy_association", "cluster_name", cluster).filter(|a| a.str("principal_arn") == Some(principal)) {
        let Some(policy) = assoc.str("policy_arn") else { continue };
        let scope = assoc.block("access_scope");
        let ty = scope.and_then(|s| s.get("type")).and_then(Value::as_str).unwrap_or("cluster");
        let mut access_scope = Map::new();
        access_scope.insert("type".into(), json!(ty));
        if ty == "namespace" {
            access_scope.insert("namespaces".into(), json!(scope.map(|s| sorted_strings(s, "namespaces")).unwrap_or_default()));
        }
        policies.push((policy.to_string(), json!({ "policy_arn": policy, "access_scope": access_scope })));
        m.merge(assoc);
    }
    policies.sort_by(|a, b| a.0.cmp(&b.0));
    m.prop("cluster_name", json!(cluster))
        .prop("principal_arn", json!(principal))
        .prop("kubernetes_groups", json!(tf.strings("kubernetes_groups")))
        .prop("type", tf.str("type").map(|s| json!(s)))
        .prop("access_policies", Value::Array(policies.into_iter().map(|p| p.1).collect()))
        .attr("arn", tf.str("access_entry_arn"));
    m
}

#[cfg(test)]
mod tests {
    use super::super::testing::{find, inst, run};
    use super::*;

    const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/5C3A1B2D";

    fn cluster_attrs() -> Value {
        json!({
            "access_config": [{"authentication_mode": "API_AND_CONFIG_MAP", "bootstrap_cluster_creator_admin_permissions": true}],
            "arn": "arn:aws:eks:us-east-1:123456789012:cluster/platform", "bootstrap_self_managed_addons": true,
            "certificate_authority": [{"data": "LS0t"}], "cluster_id": null, "created_at": "2024-05-01T10:00:00Z",
            "enabled_cluster_log_types": ["audit", "api"],
            "encryption_config": [{"provider": [{"key_arn": "arn:aws:kms:us-east-1:123456789012:key/k1"}], "resources": ["secrets"]}],
            "endpoint": "https://5C3A1B2D.gr7.us-east-1.eks.amazonaws.com", "id": "platform",
            "identity": [{"oidc": [{"issuer": ISSUER}]}],
            "kubernetes_network_config": [{"ip_family": "ipv4", "service_ipv4_cidr": "172.20.0.0/16", "service_ipv6_cidr": ""}],
            "name": "platform", "outpost_config": [], "platform_version": "eks.8", "role_arn": "arn:aws:iam::123456789012:role/cluster",
            "status": "ACTIVE", "tags": {"Name": "platform"}, "tags_all": {"Name": "platform"}, "timeouts": null,
            "upgrade_policy": [{"support_type": "STANDARD"}], "version": "1.30",
            "vpc_config": [{"cluster_security_group_id": "sg-eks", "endpoint_private_access": false, "endpoint_public_access": true,
                            "public_access_cidrs": ["0.0.0.0/0"], "security_group_ids": [], "subnet_ids": ["subnet-b", "subnet-a"], "vpc_id": "vpc-1"}],
            "zonal_shift_config": []
        })
    }

    #[test]
    fn a_cluster_writes_terraforms_endpoint_defaults_and_exposes_its_issuer() {
        let out = run(map, vec![inst("aws_eks_cluster.main", cluster_attrs())]);
        let m = find(&out, "aws_eks_cluster.main");
        assert_eq!((m.kind.as_str(), m.id.as_str()), ("aws.eks.cluster", "platform"));
        assert_eq!(
            Value::Object(m.props.clone()),
            json!({
                "name": "platform", "role_arn": "arn:aws:iam::123456789012:role/cluster", "version": "1.30",
                "subnet_ids": ["subnet-a", "subnet-b"], "security_group_ids": [],
                "endpoint_private_access": false, "endpoint_public_access": true,
                "enabled_log_types": ["api", "audit"], "secrets_kms_key": "arn:aws:kms:us-east-1:123456789012:key/k1",
                "access_config": {"authentication_mode": "API_AND_CONFIG_MAP", "bootstrap_cluster_creator_admin_permissions": true}
            })
        );
        assert_eq!(m.attrs["oidc_issuer_url"], ISSUER);
        assert_eq!(m.attrs["name"], "platform");
        assert!(m.notes.is_empty(), "{:?}", m.notes);
    }

    #[test]
    fn a_narrowed_public_endpoint_and_a_config_map_cluster_are_kept_and_reported() {
        let mut attrs = cluster_attrs();
        attrs["vpc_config"][0]["public_access_cidrs"] = json!(["203.0.113.0/24"]);
        attrs["access_config"][0]["authentication_mode"] = json!("CONFIG_MAP");
        attrs["encryption_config"] = json!([]);
        let out = run(map, vec![inst("aws_eks_cluster.main", attrs)]);
        let m = find(&out, "aws_eks_cluster.main");
        assert_eq!(m.props["public_access_cidrs"], json!(["203.0.113.0/24"]));
        assert!(!m.props.contains_key("secrets_kms_key"));
        assert_eq!(m.props["access_config"], json!({"authentication_mode": "CONFIG_MAP", "bootstrap_cluster_creator_admin_permissions": true}));
        assert_eq!(m.notes.len(), 1);
    }

    #[test]
    fn a_node_group_flattens_scaling_and_sorts_its_taints() {
        let out = run(
            map,
            vec![inst(
                "aws_eks_node_group.apps",
                json!({
                    "ami_type": "AL2023_x86_64_STANDARD", "arn": "arn:aws:eks:us-east-1:123456789012:nodegroup/platform/apps/1", "capacity_type": "SPOT",
                    "cluster_name": "platform", "disk_size": 50, "force_update_version": null, "id": "platform:apps", "instance_types": ["m6i.large", "m5.large"],
                    "labels": {"role": "apps"}, "launch_template": [], "node_group_name": "apps", "node_group_name_prefix": "",
                    "node_role_arn": "arn:aws:iam::123456789012:role/node", "release_version": "1.30.0-20240501", "remote_access": [],
                    "resources": [{"autoscaling_groups": [{"name": "eks-apps"}], "remote_access_security_group_id": ""}],
                    "scaling_config": [{"desired_size": 3, "max_size": 6, "min_size": 2}], "status": "ACTIVE", "subnet_ids": ["subnet-a"],
                    "tags": {}, "tags_all": {},
                    "taint": [{"effect": "NO_SCHEDULE", "key": "spot", "value": "true"}, {"effect": "NO_EXECUTE", "key": "dedicated", "value": ""}],
                    "timeouts": null, "update_config": [{"max_unavailable": 1, "max_unavailable_percentage": 0}], "version": "1.30"
                }),
            )],
        );
        let m = find(&out, "aws_eks_node_group.apps");
        assert_eq!(m.id, "platform:apps");
        assert_eq!(
            Value::Object(m.props.clone()),
            json!({
                "cluster_name": "platform", "name": "apps", "node_role_arn": "arn:aws:iam::123456789012:role/node", "subnet_ids": ["subnet-a"],
                "instance_types": ["m5.large", "m6i.large"], "capacity_type": "SPOT", "ami_type": "AL2023_x86_64_STANDARD", "disk_size": 50,
                "desired_size": 3, "min_size": 2, "max_size": 6, "labels": {"role": "apps"},
                "taints": [{"key": "dedicated", "effect": "NO_EXECUTE"}, {"key": "spot", "value": "true", "effect": "NO_SCHEDULE"}]
            })
        );
        assert!(m.notes.is_empty(), "{:?}", m.notes);
    }

    #[test]
    fn policy_associations_fold_into_their_access_entry_sorted_by_policy() {
        let role = "arn:aws:iam::123456789012:role/dev";
        let assoc = |policy: &str, scope: Value| {
            json!({"access_scope": [scope], "associated_at": "2024-05-01", "cluster_name": "platform", "id": format!("platform#{role}#{policy}"),
                   "modified_at": "2024-05-01", "policy_arn": policy, "principal_arn": role, "timeouts": null})
        };
        let view = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
        let edit = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";
        let out = run(
            map,
            vec![
                inst(
                    "aws_eks_access_entry.dev",
                    json!({"access_entry_arn": "arn:aws:eks:us-east-1:123456789012:access-entry/platform/role/123456789012/dev/1", "cluster_name": "platform",
                       "created_at": "2024-05-01", "id": format!("platform:{role}"), "kubernetes_groups": ["viewers"], "modified_at": "2024-05-01",
                       "principal_arn": role, "tags": {}, "tags_all": {}, "type": "STANDARD", "user_name": role}),
                ),
                inst("aws_eks_access_policy_association.view", assoc(view, json!({"type": "cluster", "namespaces": []}))),
                inst("aws_eks_access_policy_association.edit", assoc(edit, json!({"type": "namespace", "namespaces": ["web", "api"]}))),
                inst(
                    "aws_eks_access_policy_association.other",
                    json!({"cluster_name": "platform", "principal_arn": "arn:aws:iam::123456789012:role/x", "policy_arn": view}),
                ),
            ],
        );
        let m = find(&out, "aws_eks_access_entry.dev");
        assert_eq!(m.id, format!("platform:{role}"));
        assert_eq!(m.sources.len(), 3);
        assert_eq!(
            m.props["access_policies"],
            json!([
                {"policy_arn": edit, "access_scope": {"type": "namespace", "namespaces": ["api", "web"]}},
                {"policy_arn": view, "access_scope": {"type": "cluster"}}
            ])
        );
        assert_eq!(m.props["kubernetes_groups"], json!(["viewers"]));
        assert!(!out.consumed.contains("aws_eks_access_policy_association.other"));
        assert_eq!(out.notes.len(), 1);
    }
}
