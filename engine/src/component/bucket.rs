//! `cairn.bucket`: an S3 bucket with the platform's defaults: versioned, KMS-encrypted, private, TLS-only, tiered, optionally access-logged.

use serde_json::{json, Value};

use super::{policy, Component, ComponentInput, Expansion, Part};
use crate::provider::{PropSpec, PropType};

pub struct Bucket;

static PROPS: &[PropSpec] = &[
    PropSpec::new("bucket", PropType::String, "Bucket name; defaults to <stack>-<env>-<name>."),
    PropSpec::new("kms_key", PropType::String, "KMS key ARN for SSE-KMS; without it, SSE-S3 (AES256)."),
    PropSpec::new("versioning", PropType::Bool, "Keep object versions.").default("true"),
    PropSpec::new("warm_after_days", PropType::Int, "Move objects to STANDARD_IA after this many days (0: never).").default("30"),
    PropSpec::new("archive_after_days", PropType::Int, "Move objects to GLACIER after this many days (0: never).").default("90"),
    PropSpec::new("expire_after_days", PropType::Int, "Delete objects after this many days (0: never).").default("0"),
    PropSpec::new("noncurrent_expire_after_days", PropType::Int, "Delete old versions after this many days (0: never).").default("90"),
    PropSpec::new("enforce_tls", PropType::Bool, "Deny every request not made over TLS (bucket policy).").default("true"),
    PropSpec::new("force_destroy", PropType::Bool, "Let destroy delete the bucket's objects.").default("false"),
    PropSpec::new(
        "access_logs",
        PropType::Struct(&[
            PropSpec::new("bucket", PropType::String, "The bucket that receives the access logs (name), e.g. `${logs.bucket}`.").required(),
            PropSpec::new("prefix", PropType::String, "Key prefix of the log objects; defaults to `<component name>/`."),
        ]),
        "Server access logging into another bucket; the wiring lets S3 log delivery write there.",
    ),
];

impl Component for Bucket {
    fn kind(&self) -> &'static str {
        "cairn.bucket"
    }
    fn doc(&self) -> &'static str {
        "S3 bucket: versioning, SSE-KMS, public access blocked, TLS-only policy, lifecycle tiers hot -> warm -> archive."
    }
    fn props(&self) -> &'static [PropSpec] {
        PROPS
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["arn", "bucket"]
    }

    fn expand(&self, input: &ComponentInput) -> Result<Expansion, String> {
        let name = input.get("bucket").cloned().unwrap_or_else(|| Value::String(input.name_prefix.clone()));
        let warm = input.int_or("warm_after_days", 30)?;
        let archive = input.int_or("archive_after_days", 90)?;
        if warm > 0 && archive > 0 && archive <= warm {
            return Err(format!("`archive_after_days` ({archive}) must come after `warm_after_days` ({warm})"));
        }
        let mut transitions = vec![];
        if warm > 0 {
            transitions.push(json!({ "days": warm, "storage_class": "STANDARD_IA" }));
        }
        if archive > 0 {
            transitions.push(json!({ "days": archive, "storage_class": "GLACIER" }));
        }
        let mut rule = json!({ "id": "tiers", "enabled": true, "transitions": transitions });
        let expire = input.int_or("expire_after_days", 0)?;
        if expire > 0 {
            rule["expiration_days"] = json!(expire);
        }
        let noncurrent = input.int_or("noncurrent_expire_after_days", 90)?;
        if noncurrent > 0 {
            rule["noncurrent_expiration_days"] = json!(noncurrent);
        }
        let sse = match input.get("kms_key") {
            Some(k) => json!({ "algorithm": "aws:kms", "kms_key": k, "bucket_key": true }),
            None => json!({ "algorithm": "AES256", "bucket_key": false }),
        };
        let arn = input.reference("bucket", "arn");
        let mut props = json!({
            "bucket": name,
            "versioning": input.bool_or("versioning", true)?,
            "sse": sse,
            "block_public_access": true,
            "lifecycle_rules": [rule],
            "force_destroy": input.bool_or("force_destroy", false)?,
        });
        if let Some(logs) = input.get("access_logs") {
            let target = logs.get("bucket").cloned().ok_or_else(|| "`access_logs` needs `bucket`".to_string())?;
            let prefix = logs.get("prefix").cloned().unwrap_or_else(|| Value::String(format!("{}/", input.address)));
            props["logging"] = json!({ "target_bucket": target, "target_prefix": prefix });
        }
        if input.bool_or("enforce_tls", true)? {
            let objects = crate::expr::unknown(&crate::expr::Expr::Concat(vec![
                crate::expr::as_unknown(&arn).unwrap_or(crate::expr::Expr::Lit(Value::Null)),
                crate::expr::Expr::Lit(Value::String("/*".into())),
            ]));
            props["policy"] = policy(vec![json!({
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, objects],
                "Condition": { "Bool": { "aws:SecureTransport": "false" } }
            })]);
        }
        let mut out = Expansion { parts: vec![Part::new("bucket", "aws.s3.bucket", props)], ..Default::default() };
        out.outputs.insert("arn".into(), input.reference("bucket", "arn"));
        out.outputs.insert("bucket".into(), input.reference("bucket", "bucket"));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Props;

    fn expand(props: Value) -> Expansion {
        let props: Props = props.as_object().cloned().unwrap_or_default();
        let input = ComponentInput { address: "media", props: &props, stack: "shop", env: "dev", region: "us-east-1", name_prefix: "shop-dev-media".into() };
        Bucket.expand(&input).unwrap()
    }

    #[test]
    fn access_logs_become_the_buckets_logging() {
        let out = expand(json!({ "access_logs": { "bucket": "shop-dev-logs" } }));
        assert_eq!(out.parts[0].props["logging"], json!({ "target_bucket": "shop-dev-logs", "target_prefix": "media/" }));
        let out = expand(json!({ "access_logs": { "bucket": "shop-dev-logs", "prefix": "s3/media/" } }));
        assert_eq!(out.parts[0].props["logging"]["target_prefix"], "s3/media/");
        assert!(expand(json!({})).parts[0].props.get("logging").is_none(), "no access_logs, no logging");
    }
}
