//! Terraform's KMS resources → `aws.kms.key`, with the key's `aws_kms_alias` folded in as its `alias`.

use serde_json::{json, Value};

use super::{is_default_policy, Family, Input, Mapped, Output, TfInstance};

pub const FAMILY: Family = Family { name: "kms", types: &["aws_kms_key", "aws_kms_alias"], map };

pub fn map(input: &Input, out: &mut Output) {
    for tf in input.of_type("aws_kms_key") {
        out.push(key(input, tf));
    }
}

fn key(input: &Input, tf: &TfInstance) -> Mapped {
    let key_id = tf.str("key_id").or(tf.str("id")).unwrap_or_default();
    let arn = tf.str("arn").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.kms.key", key_id);
    m.attr("arn", Some(arn)).attr("key_id", Some(key_id));
    m.prop("description", Some(json!(tf.str("description").unwrap_or_default())));
    m.prop("key_usage", tf.str("key_usage").map(|v| json!(v)));
    m.prop("key_spec", tf.str("customer_master_key_spec").or(tf.str("key_spec")).map(|v| json!(v)));
    m.prop("enable_key_rotation", tf.bool("enable_key_rotation").map(Value::Bool));
    if let Some(days) = tf.i64("deletion_window_in_days") {
        m.prop("deletion_window_in_days", json!(days));
        if days != 30 {
            m.note(format!(
                "deletion_window_in_days {days}: cairn keeps it in the `cairn:deletion-window` tag, which the first apply adds (a tag-only change)"
            ));
        }
    }
    // KMS's default key policy (the account's IAM decides) is what cairn applies when unset.
    m.prop("policy", tf.policy("policy").filter(|p| !is_default_policy(p)));
    if tf.bool("is_enabled") == Some(false) {
        m.note("the key is disabled; cairn's aws.kms.key does not manage that, so it stays disabled");
    }
    let mut aliases: Vec<&TfInstance> = input
        .of_type("aws_kms_alias")
        .filter(|a| a.str("target_key_id").is_some_and(|t| t == key_id || t == arn) || a.str("target_key_arn").is_some_and(|t| t == arn))
        .collect();
    aliases.sort_by(|a, b| a.str("name").cmp(&b.str("name")));
    for (i, alias) in aliases.iter().enumerate() {
        m.merge(alias);
        if i == 0 {
            m.prop("alias", alias.str("name").map(|n| json!(n)));
            m.attr("alias_arn", alias.str("arn"));
        } else {
            m.note(format!(
                "{} ({}) is a second alias of this key; cairn keeps one alias per key, so it stays in AWS unmanaged (changing `alias` later would remove it)",
                alias.address,
                alias.str("name").unwrap_or("?")
            ));
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::testing::{input, one};
    use super::*;

    #[test]
    fn key_with_alias_and_default_policy() {
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let policy = json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}]});
        let input = input(json!([
            {"type": "aws_kms_key", "name": "data", "attributes": {"id": "1234abcd-12ab-34cd-56ef-1234567890ab", "key_id": "1234abcd-12ab-34cd-56ef-1234567890ab",
                "arn": arn, "description": "data at rest", "key_usage": "ENCRYPT_DECRYPT", "customer_master_key_spec": "SYMMETRIC_DEFAULT",
                "enable_key_rotation": true, "deletion_window_in_days": 7, "is_enabled": true, "policy": policy.to_string(), "tags": {"Team": "sec"}}},
            {"type": "aws_kms_alias", "name": "data", "attributes": {"id": "alias/data", "name": "alias/data", "target_key_id": "1234abcd-12ab-34cd-56ef-1234567890ab",
                "target_key_arn": arn, "arn": "arn:aws:kms:us-east-1:123456789012:alias/data"}},
            {"type": "aws_kms_alias", "name": "zz", "attributes": {"id": "alias/zz", "name": "alias/zz", "target_key_id": arn}}
        ]));
        let (out, m) = one(&input, map);
        assert_eq!(m.id, "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(
            Value::Object(m.props.clone()),
            json!({"description": "data at rest", "key_usage": "ENCRYPT_DECRYPT", "key_spec": "SYMMETRIC_DEFAULT", "enable_key_rotation": true,
                   "deletion_window_in_days": 7, "alias": "alias/data"})
        );
        assert!(out.consumed.contains("aws_kms_alias.zz"));
        assert_eq!(m.notes.len(), 2, "{:?}", m.notes);
    }
}
