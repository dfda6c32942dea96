//! Terraform's IAM resources → `aws.iam.role` (with its inline policies and attachments folded in), `aws.iam.policy`, `aws.iam.oidc_provider`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::{Family, Input, Mapped, Output, TfInstance};

pub const FAMILY: Family = Family {
    name: "iam",
    types: &[
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_iam_role_policy_attachment",
        "aws_iam_role_policies_exclusive",
        "aws_iam_role_policy_attachments_exclusive",
        "aws_iam_policy",
        "aws_iam_openid_connect_provider",
    ],
    map,
};

pub fn map(input: &Input, out: &mut Output) {
    for tf in input.of_type("aws_iam_role") {
        out.push(role(input, tf));
    }
    for tf in input.of_type("aws_iam_policy") {
        out.push(policy(tf));
    }
    for tf in input.of_type("aws_iam_openid_connect_provider") {
        out.push(oidc_provider(tf));
    }
}

fn role(input: &Input, tf: &TfInstance) -> Mapped {
    let name = tf.str("name").or(tf.str("id")).unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.iam.role", name);
    m.attr("arn", tf.str("arn")).attr("unique_id", tf.str("unique_id")).attr("name", Some(name));
    m.prop("name", json!(name));
    m.prop("path", tf.str("path").map(|v| json!(v)));
    m.prop("description", Some(json!(tf.str("description").unwrap_or_default())));
    m.prop("assume_role_policy", tf.policy("assume_role_policy"));
    m.prop("max_session_duration", tf.i64("max_session_duration").map(|n| json!(n)));

    // The role's own computed lists describe what AWS holds; the separate resources name the same.
    let mut inline: BTreeMap<String, Value> = tf
        .list("inline_policy")
        .iter()
        .filter_map(|p| {
            let name = p.get("name")?.as_str().filter(|n| !n.is_empty())?;
            let doc = serde_json::from_str(p.get("policy")?.as_str()?).ok()?;
            Some((name.to_string(), doc))
        })
        .collect();
    let mut managed: BTreeSet<String> = tf.strings("managed_policy_arns").into_iter().collect();
    for part in input.parts("aws_iam_role_policy", "role", name) {
        m.merge(part);
        if let (Some(policy_name), Some(doc)) = (part.str("name"), part.policy("policy")) {
            inline.insert(policy_name.to_string(), doc);
        }
    }
    for part in input.parts("aws_iam_role_policy_attachment", "role", name) {
        m.merge(part);
        if let Some(arn) = part.str("policy_arn") {
            managed.insert(arn.to_string());
        }
    }
    for ty in ["aws_iam_role_policies_exclusive", "aws_iam_role_policy_attachments_exclusive"] {
        for part in input.parts(ty, "role_name", name) {
            // Exclusive management is what cairn does anyway: the role's lists are complete.
            m.merge(part);
        }
    }
    m.prop("inline_policies", Value::Object(inline.into_iter().collect()));
    m.prop("managed_policy_arns", json!(managed.into_iter().collect::<Vec<_>>()));
    if tf.str("permissions_boundary").is_some() {
        m.note("the role has a permissions boundary; cairn's aws.iam.role does not manage it, so it stays as it is");
    }
    m
}

fn policy(tf: &TfInstance) -> Mapped {
    let arn = tf.str("arn").or(tf.str("id")).unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.iam.policy", arn);
    m.attr("arn", Some(arn)).attr("policy_id", tf.str("policy_id")).attr("name", tf.str("name"));
    m.prop("name", tf.str("name").map(|v| json!(v)));
    m.prop("path", tf.str("path").map(|v| json!(v)));
    m.prop("description", Some(json!(tf.str("description").unwrap_or_default())));
    m.prop("policy", tf.policy("policy"));
    m
}

fn oidc_provider(tf: &TfInstance) -> Mapped {
    let arn = tf.str("arn").or(tf.str("id")).unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.iam.oidc_provider", arn);
    m.attr("arn", Some(arn));
    // IAM stores the issuer without its scheme; cairn (like the provider's configuration) writes it with.
    m.prop("url", tf.str("url").map(|u| if u.starts_with("https://") { json!(u) } else { json!(format!("https://{u}")) }));
    m.prop("client_id_list", json!(tf.strings("client_id_list")));
    let thumbprints = tf.strings("thumbprint_list");
    if !thumbprints.is_empty() {
        m.prop("thumbprint_list", json!(thumbprints));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::testing::{input, one};
    use super::*;

    #[test]
    fn role_merges_inline_policies_and_attachments() {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        let input = input(json!([
            {"type": "aws_iam_role", "name": "app", "attributes": {"id": "app", "name": "app", "arn": "arn:aws:iam::123456789012:role/app", "path": "/",
                "description": "", "assume_role_policy": trust, "max_session_duration": 3600, "unique_id": "AROA1",
                "managed_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"], "inline_policy": [{"name": "read", "policy": doc}], "tags": {}}},
            {"type": "aws_iam_role_policy", "name": "read", "attributes": {"id": "app:read", "role": "app", "name": "read", "policy": doc}},
            {"type": "aws_iam_role_policy_attachment", "name": "ssm", "attributes": {"id": "app-2024", "role": "app", "policy_arn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"}},
            {"type": "aws_iam_role_policy_attachment", "name": "other", "attributes": {"role": "not-here", "policy_arn": "arn:aws:iam::aws:policy/X"}}
        ]));
        let (out, m) = one(&input, map);
        assert_eq!((m.kind.as_str(), m.id.as_str()), ("aws.iam.role", "app"));
        assert_eq!(m.sources.len(), 3);
        assert!(!out.consumed.contains("aws_iam_role_policy_attachment.other"));
        assert_eq!(m.props["managed_policy_arns"], json!(["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", "arn:aws:iam::aws:policy/ReadOnlyAccess"]));
        assert_eq!(m.props["inline_policies"]["read"]["Statement"][0]["Action"], json!("s3:GetObject"));
        assert_eq!(m.props["assume_role_policy"]["Statement"][0]["Principal"]["Service"], json!("ec2.amazonaws.com"));
    }

    #[test]
    fn policy_and_oidc_provider() {
        let input = input(json!([
            {"type": "aws_iam_policy", "name": "p", "attributes": {"id": "arn:aws:iam::123456789012:policy/p", "arn": "arn:aws:iam::123456789012:policy/p",
                "name": "p", "path": "/", "description": "", "policy": "{\"Version\":\"2012-10-17\",\"Statement\":[]}", "policy_id": "ANPA1"}},
            {"type": "aws_iam_openid_connect_provider", "name": "gh", "attributes": {"arn": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
                "url": "token.actions.githubusercontent.com", "client_id_list": ["sts.amazonaws.com"], "thumbprint_list": ["b", "a"]}}
        ]));
        let mut out = Output::default();
        map(&input, &mut out);
        assert_eq!(out.resources[0].id, "arn:aws:iam::123456789012:policy/p");
        assert_eq!(out.resources[0].props["policy"], json!({"Version": "2012-10-17", "Statement": []}));
        let oidc = &out.resources[1];
        assert_eq!(oidc.props["url"], json!("https://token.actions.githubusercontent.com"));
        assert_eq!(oidc.props["thumbprint_list"], json!(["a", "b"]));
    }
}
