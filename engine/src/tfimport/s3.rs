//! Terraform's S3 resources → `aws.s3.bucket`: the bucket with its split-out configuration resources folded in.
//!
//! Since AWS provider v4 a bucket's settings are separate resources naming the bucket
//! (`aws_s3_bucket_versioning.bucket = "logs"`). The bucket resource still records the same
//! settings as computed attributes; a split resource, when present, wins, because it is what
//! the Terraform configuration manages.

use serde_json::{json, Map, Value};

use super::{block_of, Family, Input, Mapped, Output, TfInstance};

pub const FAMILY: Family = Family {
    name: "s3",
    types: &[
        "aws_s3_bucket",
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_logging",
        "aws_s3_bucket_ownership_controls",
    ],
    map,
};

pub fn map(input: &Input, out: &mut Output) {
    for tf in input.of_type("aws_s3_bucket") {
        out.push(bucket(input, tf));
    }
}

fn bucket(input: &Input, tf: &TfInstance) -> Mapped {
    let name = tf.str("bucket").or(tf.str("id")).unwrap_or_default().to_string();
    let mut m = Mapped::new(tf, "aws.s3.bucket", name.clone());
    m.attr("arn", tf.str("arn")).attr("bucket", Some(&name));
    m.prop("bucket", json!(name));

    // Inline (computed) settings first; the split resources below override them.
    if let Some(v) = tf.block("versioning") {
        m.prop("versioning", v.get("enabled").and_then(Value::as_bool).map(Value::Bool));
    }
    if let Some(sse) = tf.block("server_side_encryption_configuration").and_then(|c| sse_of(c.get("rule"))) {
        m.prop("sse", sse);
    }
    if tf.attrs.get("lifecycle_rule").and_then(Value::as_array).is_some_and(|r| !r.is_empty()) {
        m.note("lifecycle rules recorded inline on the bucket (provider v3 style) are not converted; they are taken from AWS on import");
    }
    if let Some(policy) = tf.policy("policy") {
        m.prop("policy", policy);
    }
    if tf.bool("force_destroy") == Some(true) {
        m.prop("force_destroy", json!(true));
        m.note("force_destroy: cairn keeps it in the `cairn:force-destroy` tag, which the first apply adds");
    }

    for part in input.parts("aws_s3_bucket_versioning", "bucket", &name) {
        m.merge(part);
        if let Some(status) = part.block("versioning_configuration").and_then(|c| c.get("status")).and_then(Value::as_str) {
            m.prop("versioning", json!(status == "Enabled"));
        }
    }
    for part in input.parts("aws_s3_bucket_server_side_encryption_configuration", "bucket", &name) {
        m.merge(part);
        if let Some(sse) = sse_of(part.attrs.get("rule")) {
            m.prop("sse", sse);
        }
    }
    for part in input.parts("aws_s3_bucket_public_access_block", "bucket", &name) {
        m.merge(part);
        let flags: Vec<bool> = ["block_public_acls", "ignore_public_acls", "block_public_policy", "restrict_public_buckets"]
            .iter()
            .map(|k| part.bool(k).unwrap_or(false))
            .collect();
        let all = flags.iter().all(|f| *f);
        if !all && flags.iter().any(|f| *f) {
            m.note("the public access block turns only some of its four settings on; cairn turns all four on or off, so it is written as off (block_public_access: false) and the settings that are on stay as they are until changed");
        }
        m.prop("block_public_access", json!(all));
    }
    for part in input.parts("aws_s3_bucket_lifecycle_configuration", "bucket", &name) {
        m.merge(part);
        let (rules, dropped) = lifecycle_rules(part.list("rule"));
        m.prop("lifecycle_rules", Value::Array(rules));
        for d in dropped {
            m.note(format!("lifecycle: {d}"));
        }
    }
    for part in input.parts("aws_s3_bucket_policy", "bucket", &name) {
        m.merge(part);
        m.prop("policy", part.policy("policy"));
    }
    for part in input.parts("aws_s3_bucket_logging", "bucket", &name) {
        m.merge(part);
        m.note(format!(
            "{}: cairn's aws.s3.bucket has no access-logging setting; the logging configuration (to {}) stays in AWS, no longer managed",
            part.address,
            part.str("target_bucket").unwrap_or("?")
        ));
    }
    for part in input.parts("aws_s3_bucket_ownership_controls", "bucket", &name) {
        m.merge(part);
        m.note(format!("{}: cairn's aws.s3.bucket has no object-ownership setting; it stays in AWS as it is, no longer managed", part.address));
    }
    m
}

/// `rule[0].apply_server_side_encryption_by_default[0]` → `{ algorithm, kms_key?, bucket_key }`.
fn sse_of(rules: Option<&Value>) -> Option<Value> {
    let rule = block_of(rules)?;
    let by_default = block_of(rule.get("apply_server_side_encryption_by_default"))?;
    let mut sse = Map::new();
    sse.insert("algorithm".into(), by_default.get("sse_algorithm").cloned().unwrap_or(json!("AES256")));
    if let Some(key) = by_default.get("kms_master_key_id").and_then(Value::as_str).filter(|k| !k.is_empty()) {
        sse.insert("kms_key".into(), json!(key));
    }
    sse.insert("bucket_key".into(), json!(rule.get("bucket_key_enabled").and_then(Value::as_bool).unwrap_or(false)));
    Some(Value::Object(sse))
}

fn int(o: &Map<String, Value>, k: &str) -> Option<i64> {
    o.get(k).and_then(Value::as_i64).filter(|n| *n > 0)
}

/// Lifecycle rules in cairn's shape, and what cairn cannot express (for the report).
fn lifecycle_rules(rules: &[Value]) -> (Vec<Value>, Vec<String>) {
    let mut out = vec![];
    let mut dropped = vec![];
    for rule in rules.iter().filter_map(Value::as_object) {
        let id = rule.get("id").and_then(Value::as_str).unwrap_or_default();
        let mut r = Map::new();
        r.insert("id".into(), json!(id));
        let filter = block_of(rule.get("filter"));
        let prefix = filter
            .and_then(|f| {
                f.get("prefix").and_then(Value::as_str).filter(|p| !p.is_empty()).or_else(|| block_of(f.get("and")).and_then(|a| a.get("prefix")?.as_str()))
            })
            .or_else(|| rule.get("prefix").and_then(Value::as_str))
            .filter(|p| !p.is_empty());
        if let Some(p) = prefix {
            r.insert("prefix".into(), json!(p));
        }
        if filter.is_some_and(|f| {
            block_of(f.get("tag")).is_some() || block_of(f.get("and")).is_some_and(|a| a.get("tags").and_then(Value::as_object).is_some_and(|t| !t.is_empty()))
        }) {
            dropped.push(format!("rule {id:?} filters on tags, which cairn's lifecycle rules cannot; the rule is written for its prefix only"));
        }
        r.insert("enabled".into(), json!(rule.get("status").and_then(Value::as_str) == Some("Enabled")));
        let mut transitions: Vec<(i64, String)> = rule
            .get("transition")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter().filter_map(Value::as_object).filter_map(|t| Some((t.get("days")?.as_i64()?, t.get("storage_class")?.as_str()?.to_string()))).collect()
            })
            .unwrap_or_default();
        transitions.sort();
        r.insert("transitions".into(), Value::Array(transitions.into_iter().map(|(d, c)| json!({"days": d, "storage_class": c})).collect()));
        if let Some(days) = block_of(rule.get("expiration")).and_then(|e| int(e, "days")) {
            r.insert("expiration_days".into(), json!(days));
        }
        if let Some(days) = block_of(rule.get("noncurrent_version_expiration")).and_then(|e| int(e, "noncurrent_days")) {
            r.insert("noncurrent_expiration_days".into(), json!(days));
        }
        if block_of(rule.get("abort_incomplete_multipart_upload")).is_some_and(|a| int(a, "days_after_initiation").is_some()) {
            dropped.push(format!(
                "rule {id:?} aborts incomplete multipart uploads, which cairn's lifecycle rules cannot express; applying the stack would remove it"
            ));
        }
        if rule.get("noncurrent_version_transition").and_then(Value::as_array).is_some_and(|t| !t.is_empty()) {
            dropped.push(format!(
                "rule {id:?} has noncurrent-version transitions, which cairn's lifecycle rules cannot express; applying the stack would remove them"
            ));
        }
        out.push(Value::Object(r));
    }
    (out, dropped)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{input, one};
    use super::*;

    #[test]
    fn bucket_merges_its_split_resources() {
        let input = input(json!([
            {"type": "aws_s3_bucket", "name": "logs", "attributes": {
                "id": "acme-logs", "bucket": "acme-logs", "arn": "arn:aws:s3:::acme-logs", "force_destroy": false,
                "tags": {"Team": "data"}, "tags_all": {"Team": "data", "Project": "x"},
                "versioning": [{"enabled": false, "mfa_delete": false}],
                "server_side_encryption_configuration": [{"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256", "kms_master_key_id": ""}], "bucket_key_enabled": false}]}]}},
            {"type": "aws_s3_bucket_versioning", "name": "logs", "attributes": {"bucket": "acme-logs", "versioning_configuration": [{"status": "Enabled", "mfa_delete": ""}]}},
            {"type": "aws_s3_bucket_server_side_encryption_configuration", "name": "logs", "attributes": {"bucket": "acme-logs",
                "rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms", "kms_master_key_id": "arn:aws:kms:us-east-1:123456789012:key/k1"}], "bucket_key_enabled": true}]}},
            {"type": "aws_s3_bucket_public_access_block", "name": "logs", "attributes": {"bucket": "acme-logs",
                "block_public_acls": true, "block_public_policy": true, "ignore_public_acls": true, "restrict_public_buckets": true}},
            {"type": "aws_s3_bucket_lifecycle_configuration", "name": "logs", "attributes": {"bucket": "acme-logs", "rule": [
                {"id": "archive", "status": "Enabled", "filter": [{"prefix": "logs/", "and": [], "tag": []}],
                 "transition": [{"days": 90, "storage_class": "GLACIER", "date": null}, {"days": 30, "storage_class": "STANDARD_IA", "date": null}],
                 "expiration": [{"days": 365, "date": null, "expired_object_delete_marker": false}],
                 "noncurrent_version_expiration": [{"noncurrent_days": 30, "newer_noncurrent_versions": 0}],
                 "abort_incomplete_multipart_upload": [{"days_after_initiation": 7}]}]}},
            {"type": "aws_s3_bucket_policy", "name": "logs", "attributes": {"bucket": "acme-logs", "policy": "{\"Version\":\"2012-10-17\",\"Statement\":[]}"}},
            {"type": "aws_s3_bucket_logging", "name": "logs", "attributes": {"bucket": "acme-logs", "target_bucket": "acme-audit", "target_prefix": "s3/"}},
            {"type": "aws_s3_bucket_versioning", "name": "other", "attributes": {"bucket": "someone-else", "versioning_configuration": [{"status": "Enabled"}]}}
        ]));
        let (out, m) = one(&input, map);
        assert_eq!(m.kind, "aws.s3.bucket");
        assert_eq!(m.id, "acme-logs");
        assert_eq!(m.sources.len(), 7, "{:?}", m.sources);
        assert!(!out.consumed.contains("aws_s3_bucket_versioning.other"));
        assert_eq!(
            Value::Object(m.props.clone()),
            json!({
                "bucket": "acme-logs", "versioning": true,
                "sse": {"algorithm": "aws:kms", "kms_key": "arn:aws:kms:us-east-1:123456789012:key/k1", "bucket_key": true},
                "block_public_access": true,
                "lifecycle_rules": [{"id": "archive", "prefix": "logs/", "enabled": true,
                    "transitions": [{"days": 30, "storage_class": "STANDARD_IA"}, {"days": 90, "storage_class": "GLACIER"}],
                    "expiration_days": 365, "noncurrent_expiration_days": 30}],
                "policy": {"Version": "2012-10-17", "Statement": []}
            })
        );
        assert_eq!(m.attrs["arn"], "arn:aws:s3:::acme-logs");
        assert!(m.notes.iter().any(|n| n.contains("multipart")), "{:?}", m.notes);
        assert!(m.notes.iter().any(|n| n.contains("access-logging")), "{:?}", m.notes);
        assert_eq!(m.tags_all.get("Project").map(String::as_str), Some("x"));
    }

    #[test]
    fn partial_public_access_block_is_off_with_a_note() {
        let input = input(json!([
            {"type": "aws_s3_bucket", "name": "b", "attributes": {"id": "b", "bucket": "b"}},
            {"type": "aws_s3_bucket_public_access_block", "name": "b", "attributes": {"bucket": "b", "block_public_acls": true}}
        ]));
        let (_, m) = one(&input, map);
        assert_eq!(m.props["block_public_access"], json!(false));
        assert_eq!(m.notes.len(), 1);
    }
}
