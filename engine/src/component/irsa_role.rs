//! `cairn.irsa_role`: an IAM role for one Kubernetes service account (IRSA), its policy compiled from grants.

use serde_json::{json, Value};

use super::{web_identity_trust, Component, ComponentInput, Expansion, Part};
use crate::provider::{PropSpec, PropType};

pub struct IrsaRole;

static PROPS: &[PropSpec] = &[
    PropSpec::new("oidc_provider_arn", PropType::String, "The cluster's IAM OIDC provider (e.g. ${cluster.oidc_provider_arn}).").required(),
    PropSpec::new("oidc_issuer_url", PropType::String, "The cluster's issuer URL (e.g. ${cluster.oidc_issuer_url}).").required(),
    PropSpec::new("service_account", PropType::String, "NAMESPACE/NAME of the service account that may assume the role.").required(),
    PropSpec::new(
        "grants",
        PropType::Object,
        "What the workload may do: [{ consume: queue }, { publish: topic }, { read: bucket }, { write: bucket }, { encrypt: key }, { decrypt: key }].",
    )
    .default("[]"),
];

impl Component for IrsaRole {
    fn kind(&self) -> &'static str {
        "cairn.irsa_role"
    }
    fn doc(&self) -> &'static str {
        "IAM role assumable only by one service account of one cluster, with exact actions on exact ARNs from grants."
    }
    fn props(&self) -> &'static [PropSpec] {
        PROPS
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["arn", "name"]
    }

    fn expand(&self, input: &ComponentInput) -> Result<Expansion, String> {
        let sa = input.str("service_account").ok_or("`service_account` must be NAMESPACE/NAME known at plan time")?;
        let (ns, name) = sa
            .split_once('/')
            .filter(|(n, s)| !n.is_empty() && !s.is_empty() && !s.contains('/'))
            .ok_or(format!("`service_account` must be NAMESPACE/NAME, found `{sa}`"))?;
        if ns.contains('*') || name.contains('*') {
            return Err("`service_account` must name one service account; wildcards would let other workloads assume the role".into());
        }
        let trust = web_identity_trust(input.required("oidc_provider_arn")?, input.required("oidc_issuer_url")?, &format!("system:serviceaccount:{ns}:{name}"));
        let grants = input.get("grants").cloned().unwrap_or(Value::Array(vec![]));
        let role = json!({ "assume_role_policy": trust, "description": format!("IRSA role for {sa}"), "grants": grants });
        let mut out = Expansion { parts: vec![Part::new("role", "aws.iam.role", role)], ..Default::default() };
        out.outputs.insert("arn".into(), input.reference("role", "arn"));
        out.outputs.insert("name".into(), input.reference("role", "name"));
        Ok(out)
    }
}
