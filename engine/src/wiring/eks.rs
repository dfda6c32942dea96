//! EKS rules: access entries need an authentication mode that admits them, the secrets key must be a symmetric encryption key, and Pod Identity roles must trust pods.eks.amazonaws.com.

use serde_json::{json, Value};

use super::{admits, is_unknown, Action, Ctx, Finding};
use crate::graph::ResourceNode;

const BOOTSTRAP: &str = "bootstrap_cluster_creator_admin_permissions";
/// The service principal EKS Pod Identity assumes roles as.
const PODS: &str = "pods.eks.amazonaws.com";

/// The cluster of this stack an access entry names, by reference or by its literal name.
fn cluster_of<'g>(cx: &Ctx<'g>, entry: &ResourceNode) -> Option<&'g ResourceNode> {
    let name = entry.props.get("cluster_name")?;
    match cx.target(name) {
        Some(c) => Some(c).filter(|c| c.kind == "aws.eks.cluster"),
        None => {
            let name = name.as_str()?;
            cx.nodes("aws.eks.cluster").find(|c| cx.physical_name(c).as_deref() == Some(name))
        }
    }
}

pub(super) fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    // eks-access-entry-auth-mode: one finding per cluster, naming its entries.
    let mut seen = std::collections::BTreeSet::new();
    for entry in cx.nodes("aws.eks.access_entry") {
        let Some(cluster) = cluster_of(cx, entry) else { continue };
        if !seen.insert(cluster.address.as_str()) {
            continue;
        }
        let access = cluster.props.get("access_config");
        match access.and_then(|a| a.get("authentication_mode")) {
            Some(Value::String(m)) if m == "API" || m == "API_AND_CONFIG_MAP" => {}
            Some(Value::String(m)) => out.push(Finding::new(
                "eks-access-entry-auth-mode",
                cluster,
                "access_config",
                Action::Refuse {
                    message: format!("authentication mode {m} refuses access entries, and `{}` gives this cluster some", entry.address),
                    help: "set access_config.authentication_mode to API_AND_CONFIG_MAP (or API); EKS moves a cluster CONFIG_MAP -> API_AND_CONFIG_MAP -> API in place".into(),
                },
            )),
            Some(_) => {}
            // Unset means CONFIG_MAP on a cluster created through the API: the mode that keeps
            // the aws-auth ConfigMap working and adds access entries is set instead, as AWS's
            // console does. The bootstrap flag keeps AWS's default.
            None => {
                let mut fields = json!({ "authentication_mode": "API_AND_CONFIG_MAP" });
                if access.and_then(|a| a.get(BOOTSTRAP)).is_none() {
                    fields[BOOTSTRAP] = json!(true);
                }
                out.push(Finding::new("eks-access-entry-auth-mode", cluster, "access_config", Action::SetFields(fields)));
            }
        }
    }

    // eks-pod-identity-role-trust: only roles of the stack can be checked; a trust policy is
    // not widened silently, so a missing statement is refused with the statement to add.
    let mut given: Vec<(&ResourceNode, &Value)> = vec![];
    for a in cx.nodes("aws.eks.pod_identity_association") {
        given.extend(a.props.get("role_arn").map(|r| (a, r)));
    }
    for addon in cx.nodes("aws.eks.addon") {
        for pia in addon.props.get("pod_identity_association").and_then(Value::as_array).into_iter().flatten() {
            given.extend(pia.get("role_arn").map(|r| (addon, r)));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (user, role) in given {
        let Some(role) = cx.target(role).filter(|r| r.kind == "aws.iam.role") else { continue };
        let trust = role.props.get("assume_role_policy");
        if is_unknown(trust) || admits(trust, PODS, &["sts:AssumeRole", "sts:TagSession"]) || !seen.insert(role.address.as_str()) {
            continue;
        }
        let stmt = json!({ "Effect": "Allow", "Principal": { "Service": PODS }, "Action": ["sts:AssumeRole", "sts:TagSession"] });
        out.push(Finding::new(
            "eks-pod-identity-role-trust",
            role,
            "assume_role_policy",
            Action::Refuse {
                message: format!(
                    "`{}` gives this role to pods through EKS Pod Identity, and its trust policy does not let {PODS} assume it and tag the session",
                    user.address
                ),
                help: format!("add this statement to its assume_role_policy: {}", super::show(&stmt)),
            },
        ));
    }

    // eks-secrets-key-symmetric
    for cluster in cx.nodes("aws.eks.cluster") {
        let Some(key) = cluster.props.get("secrets_kms_key").and_then(|k| cx.target(k)).filter(|k| k.kind == "aws.kms.key") else { continue };
        let spec = key.props.get("key_spec").and_then(Value::as_str).unwrap_or("SYMMETRIC_DEFAULT");
        let usage = key.props.get("key_usage").and_then(Value::as_str).unwrap_or("ENCRYPT_DECRYPT");
        if spec != "SYMMETRIC_DEFAULT" || usage != "ENCRYPT_DECRYPT" {
            out.push(Finding::new(
                "eks-secrets-key-symmetric",
                cluster,
                "secrets_kms_key",
                Action::Refuse {
                    message: format!("EKS encrypts secrets only with a symmetric encryption key; `{}` is {spec} for {usage}", key.address),
                    help: "use a key with key_spec SYMMETRIC_DEFAULT and key_usage ENCRYPT_DECRYPT (the defaults)".into(),
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::fixture;
    use serde_json::json;

    #[test]
    fn eks_access_entry_auth_mode_is_completed_when_unset() {
        let o = fixture("eks-access-entry-auth-mode");
        assert_eq!(o.codes(), ["eks-access-entry-auth-mode"], "the CONFIG_MAP cluster is refused: {}", o.rendered());
        assert_eq!(
            o.props("open")["access_config"],
            json!({ "authentication_mode": "API_AND_CONFIG_MAP", "bootstrap_cluster_creator_admin_permissions": true })
        );
        assert!(o.rendered().contains("authentication mode CONFIG_MAP refuses access entries"), "{}", o.rendered());
        assert!(o.props("legacy")["access_config"]["authentication_mode"] == "CONFIG_MAP");
    }

    #[test]
    fn eks_access_entry_auth_mode_flags_the_component_set_to_config_map() {
        let o = fixture("eks-access-entry-auth-mode-component");
        assert_eq!(o.codes(), ["eks-access-entry-auth-mode"], "{}", o.rendered());
        assert!(o.rendered().contains("`cluster.cluster`"), "{}", o.rendered());
    }

    #[test]
    fn eks_pod_identity_role_trust_is_refused_without_pods_eks() {
        let o = fixture("eks-pod-identity-role-trust");
        assert_eq!(o.codes(), ["eks-pod-identity-role-trust", "eks-pod-identity-role-trust"], "{}", o.rendered());
        let text = o.rendered();
        assert!(text.contains("`orders_identity` gives this role") && text.contains("`ebs_csi` gives this role"), "{text}");
        assert!(text.contains(r#""Service":"pods.eks.amazonaws.com""#) && text.contains("sts:TagSession"), "{text}");
        assert!(!text.contains("`good`"), "a role that trusts pods.eks.amazonaws.com passes: {text}");
    }

    #[test]
    fn eks_secrets_key_symmetric() {
        let o = fixture("eks-secrets-key-symmetric");
        assert_eq!(o.codes(), ["eks-secrets-key-symmetric"], "{}", o.rendered());
        assert!(o.rendered().contains("`signing` is RSA_2048 for SIGN_VERIFY"), "{}", o.rendered());
    }
}
