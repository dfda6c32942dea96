//! Reading a bucket: each setting's Get call, mapped to the stack's shapes, and the same shapes built from what a create just wrote.

use super::logging::Logging;
use super::replication::Replication;
use super::*;

impl S3Bucket {
    pub(super) async fn versioning_of(&self, name: &str) -> Result<bool, ProviderError> {
        match self.client.get_bucket_versioning().bucket(name).send().await {
            // A never-versioned bucket has no status at all; Suspended means off as well.
            Ok(out) => Ok(out.status() == Some(&BucketVersioningStatus::Enabled)),
            // moto (5.2) names the document's root GetBucketVersioningResponse instead of
            // VersioningConfiguration, which the SDK refuses to parse; the Status inside is right.
            Err(e) if e.code().is_none() && e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => {
                let body = e.raw_response().and_then(|r| r.body().bytes()).unwrap_or_default();
                Ok(String::from_utf8_lossy(body).contains("<Status>Enabled</Status>"))
            }
            Err(e) => Err(classify("GetBucketVersioning", e)),
        }
    }

    pub(super) async fn sse_of(&self, name: &str) -> Result<Value, ProviderError> {
        let out = unless_absent(
            self.client.get_bucket_encryption().bucket(name).send().await,
            "GetBucketEncryption",
            "ServerSideEncryptionConfigurationNotFoundError",
        )?;
        let rule = out.as_ref().and_then(|o| o.server_side_encryption_configuration()).and_then(|c| c.rules().first());
        let by_default = rule.and_then(|r| r.apply_server_side_encryption_by_default());
        let Some(by_default) = by_default else {
            // Since 2023 AWS encrypts every bucket with SSE-S3 when nothing else is configured.
            return Ok(json!({"algorithm": "AES256", "bucket_key": false}));
        };
        let mut sse = serde_json::Map::new();
        sse.insert("algorithm".into(), by_default.sse_algorithm().as_str().into());
        if let Some(key) = by_default.kms_master_key_id() {
            sse.insert("kms_key".into(), key.into());
        }
        sse.insert("bucket_key".into(), rule.and_then(|r| r.bucket_key_enabled()).unwrap_or(false).into());
        Ok(Value::Object(sse))
    }

    pub(super) async fn public_access_blocked(&self, name: &str) -> Result<bool, ProviderError> {
        let out =
            unless_absent(self.client.get_public_access_block().bucket(name).send().await, "GetPublicAccessBlock", "NoSuchPublicAccessBlockConfiguration")?;
        let Some(c) = out.as_ref().and_then(|o| o.public_access_block_configuration()) else {
            return Ok(false);
        };
        Ok([c.block_public_acls(), c.ignore_public_acls(), c.block_public_policy(), c.restrict_public_buckets()].iter().all(|s| *s == Some(true)))
    }

    pub(super) async fn lifecycle_of(&self, name: &str) -> Result<Value, ProviderError> {
        let out = unless_absent(
            self.client.get_bucket_lifecycle_configuration().bucket(name).send().await,
            "GetBucketLifecycleConfiguration",
            "NoSuchLifecycleConfiguration",
        )?;
        let rules = out.as_ref().map(|o| o.rules()).unwrap_or_default();
        Ok(Value::Array(rules.iter().map(rule_to_json).collect()))
    }

    pub(super) async fn policy_of(&self, name: &str) -> Result<Option<Value>, ProviderError> {
        let out = unless_absent(self.client.get_bucket_policy().bucket(name).send().await, "GetBucketPolicy", "NoSuchBucketPolicy")?;
        let policy = out.as_ref().and_then(|o| o.policy()).map(|p| serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.to_string())));
        // Log delivery (WAF logs) adds its own statements to the policy of a bucket it writes
        // to: expected, not drift, so they are not reported and a policy update does not fight them.
        Ok(policy.and_then(cairn_engine::wiring::without_aws_added_statements))
    }

    /// Reads every setting at once. No HeadBucket first: each of these calls answers
    /// NoSuchBucket for a bucket that is gone, and a bucket in another region answers them with
    /// a redirect, so one that succeeds is in this client's region.
    pub(super) async fn observe(&self, name: &str) -> Result<Observed, ProviderError> {
        let (tags, versioning, sse, blocked, lifecycle, policy, logging, replication) = tokio::try_join!(
            self.raw_tags(name),
            self.versioning_of(name),
            self.sse_of(name),
            self.public_access_blocked(name),
            self.lifecycle_of(name),
            self.policy_of(name),
            self.logging_of(name),
            self.replication_of(name),
        )?;
        Ok(self.observed(name, Settings { versioning, sse, blocked, lifecycle, policy, logging, replication }, tags))
    }

    /// The bucket in the stack's shape, from the settings read (or just written).
    pub(super) fn observed(&self, name: &str, settings: Settings, mut tags: Tags) -> Observed {
        let Settings { versioning, sse, blocked, lifecycle, policy, logging, replication } = settings;
        let force_destroy = tags.remove(FORCE_DESTROY_TAG).as_deref() == Some("true");

        let mut props = Props::new();
        props.insert("bucket".into(), name.into());
        props.insert("versioning".into(), versioning.into());
        props.insert("sse".into(), sse);
        props.insert("block_public_access".into(), blocked.into());
        props.insert("lifecycle_rules".into(), lifecycle);
        if let Some(policy) = policy {
            props.insert("policy".into(), policy);
        }
        props.insert("force_destroy".into(), force_destroy.into());
        if let Some(logging) = logging {
            props.insert("logging".into(), logging);
        }
        if let Some(replication) = replication {
            props.insert("replication_configuration".into(), replication);
        }

        let mut attrs = Props::new();
        attrs.insert("arn".into(), format!("arn:aws:s3:::{name}").into());
        attrs.insert("bucket".into(), name.into());
        attrs.insert("region".into(), self.region.clone().into());
        Observed { id: name.to_string(), props, attrs, tags }
    }

    /// What `observe` reads back from a bucket `configure` has just set up from scratch: every
    /// setting through the same conversions `read` applies to AWS's answers.
    pub(super) fn configured(&self, name: &str, spec: &Spec, desired: &Desired) -> Result<Observed, ProviderError> {
        let sse = spec.sse.to_sdk()?;
        let rule = sse.rules().first();
        let mut sse_json = serde_json::Map::new();
        if let Some(by_default) = rule.and_then(|r| r.apply_server_side_encryption_by_default()) {
            sse_json.insert("algorithm".into(), by_default.sse_algorithm().as_str().into());
            if let Some(key) = by_default.kms_master_key_id() {
                sse_json.insert("kms_key".into(), key.into());
            }
        }
        sse_json.insert("bucket_key".into(), rule.and_then(|r| r.bucket_key_enabled()).unwrap_or(false).into());
        let rules = spec.lifecycle.iter().map(|r| r.to_sdk().map(|r| rule_to_json(&r))).collect::<Result<Vec<_>, _>>()?;
        let policy = spec.policy.as_deref().map(|p| serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.to_string())));
        let policy = policy.and_then(cairn_engine::wiring::without_aws_added_statements);
        let logging = Logging::to_json(&Logging::to_sdk(spec.logging.as_ref())?);
        let replication = spec.replication.as_ref().map(|r| r.to_sdk().map(|c| Replication::to_json(&c))).transpose()?;
        let settings = Settings {
            versioning: spec.versioning,
            sse: Value::Object(sse_json),
            blocked: spec.block_public_access,
            lifecycle: Value::Array(rules),
            policy,
            logging,
            replication,
        };
        Ok(self.observed(name, settings, spec.tags(desired)))
    }
}

/// A bucket's settings in the stack's shapes, as read (or as just written).
pub(super) struct Settings {
    pub(super) versioning: bool,
    pub(super) sse: Value,
    pub(super) blocked: bool,
    pub(super) lifecycle: Value,
    pub(super) policy: Option<Value>,
    pub(super) logging: Option<Value>,
    pub(super) replication: Option<Value>,
}

/// A lifecycle rule in the stack's shape: the same shape `read` reports.
pub(super) fn rule_to_json(rule: &LifecycleRule) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("id".into(), rule.id().unwrap_or_default().into());
    #[allow(deprecated)]
    let prefix = rule.filter().and_then(|f| f.prefix().or_else(|| f.and().and_then(|a| a.prefix()))).or(rule.prefix()).unwrap_or_default();
    if !prefix.is_empty() {
        out.insert("prefix".into(), prefix.into());
    }
    out.insert("enabled".into(), (rule.status() == &ExpirationStatus::Enabled).into());
    let mut transitions: Vec<(i32, &str)> =
        rule.transitions().iter().filter_map(|t| Some((t.days()?, t.storage_class().map(TransitionStorageClass::as_str).unwrap_or_default()))).collect();
    transitions.sort();
    let transitions = transitions.into_iter().map(|(days, class)| json!({"days": days, "storage_class": class})).collect();
    out.insert("transitions".into(), Value::Array(transitions));
    if let Some(days) = rule.expiration().and_then(|e| e.days()) {
        out.insert("expiration_days".into(), days.into());
    }
    if let Some(days) = rule.noncurrent_version_expiration().and_then(|e| e.noncurrent_days()) {
        out.insert("noncurrent_expiration_days".into(), days.into());
    }
    Value::Object(out)
}
