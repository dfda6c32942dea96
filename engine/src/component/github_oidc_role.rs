//! `cairn.github_oidc_role`: GitHub Actions' OIDC provider and a deploy role trusted only by one repository's environment or branch.

use serde_json::{json, Value};

use super::{Component, ComponentInput, Expansion, Part};
use crate::provider::{PropSpec, PropType};

pub struct GithubOidcRole;

const ISSUER: &str = "token.actions.githubusercontent.com";

static PROPS: &[PropSpec] = &[
    PropSpec::new("repository", PropType::String, "ORG/REPO allowed to assume the role.").required(),
    PropSpec::new("environment", PropType::String, "GitHub environment whose jobs may assume the role (default: the cairn env name)."),
    PropSpec::new("branch", PropType::String, "Trust a branch instead of an environment (e.g. main)."),
    PropSpec::new("create_provider", PropType::Bool, "Create the account's GitHub OIDC provider (one per account).").default("true"),
    PropSpec::new("provider_arn", PropType::String, "An existing GitHub OIDC provider, when create_provider is false."),
    PropSpec::new("policy", PropType::Policy, "The deploy policy; generate it with `cairn iam-policy --stack S --env E`."),
    PropSpec::new("max_session_duration", PropType::Int, "Longest session in seconds.").default("3600"),
];

impl Component for GithubOidcRole {
    fn kind(&self) -> &'static str {
        "cairn.github_oidc_role"
    }
    fn doc(&self) -> &'static str {
        "GitHub Actions OIDC provider + deploy role whose trust is pinned to repo:ORG/REPO:environment:ENV (or a branch) and aud=sts.amazonaws.com."
    }
    fn props(&self) -> &'static [PropSpec] {
        PROPS
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["role_arn", "provider_arn"]
    }

    fn expand(&self, input: &ComponentInput) -> Result<Expansion, String> {
        let repo = input.str("repository").ok_or("`repository` must be ORG/REPO known at plan time")?;
        let valid = repo.split_once('/').is_some_and(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'));
        if !valid || repo.contains('*') {
            return Err(format!("`repository` must be exactly ORG/REPO with no wildcard, found `{repo}`"));
        }
        let sub = match (input.str("branch"), input.str("environment")) {
            (Some(_), Some(_)) => return Err("set `environment` or `branch`, not both".into()),
            (Some(b), None) => format!("repo:{repo}:ref:refs/heads/{b}"),
            (None, Some(e)) => format!("repo:{repo}:environment:{e}"),
            (None, None) => format!("repo:{repo}:environment:{}", input.env),
        };
        let mut parts = vec![];
        let provider = if input.bool_or("create_provider", true)? {
            parts.push(Part::new("provider", "aws.iam.oidc_provider", json!({ "url": format!("https://{ISSUER}"), "client_id_list": ["sts.amazonaws.com"] })));
            input.reference("provider", "arn")
        } else {
            input.get("provider_arn").cloned().ok_or("`provider_arn` is needed when create_provider is false")?
        };
        let trust = json!({ "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": provider },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": { "StringEquals": { format!("{ISSUER}:aud"): "sts.amazonaws.com", format!("{ISSUER}:sub"): sub } }
        }]});
        let mut role = json!({ "assume_role_policy": trust, "description": format!("GitHub Actions deploy role for {repo}"), "max_session_duration": input.int_or("max_session_duration", 3600)? });
        if let Some(p) = input.get("policy") {
            role["inline_policies"] = json!({ "deploy": p });
        }
        let mut r = Part::new("role", "aws.iam.role", role);
        if parts.is_empty() {
            r.props.retain(|_, v| !v.is_null());
        }
        parts.push(r);
        let mut out = Expansion { parts, ..Default::default() };
        out.outputs.insert("role_arn".into(), input.reference("role", "arn"));
        out.outputs.insert("provider_arn".into(), provider.clone());
        let _ = Value::Null;
        Ok(out)
    }
}
