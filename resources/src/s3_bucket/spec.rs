//! The stack's props of a bucket as typed requests: checked against the schema, then turned into SDK configurations.

use super::logging::Logging;
use super::replication::Replication;
use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Sse {
    pub(super) algorithm: String,
    #[serde(default)]
    pub(super) kms_key: Option<String>,
    pub(super) bucket_key: bool,
}

impl Sse {
    /// The PutBucketEncryption request body.
    pub(super) fn to_sdk(&self) -> Result<ServerSideEncryptionConfiguration, ProviderError> {
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(self.algorithm.as_str()))
            .set_kms_master_key_id(self.kms_key.clone())
            .build()
            .map_err(build_error)?;
        let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).bucket_key_enabled(self.bucket_key).build();
        ServerSideEncryptionConfiguration::builder().rules(rule).build().map_err(build_error)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TransitionSpec {
    pub(super) days: i32,
    pub(super) storage_class: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LifecycleRuleSpec {
    pub(super) id: String,
    #[serde(default)]
    pub(super) prefix: Option<String>,
    pub(super) enabled: bool,
    pub(super) transitions: Vec<TransitionSpec>,
    #[serde(default)]
    pub(super) expiration_days: Option<i32>,
    #[serde(default)]
    pub(super) noncurrent_expiration_days: Option<i32>,
}

impl LifecycleRuleSpec {
    pub(super) fn to_sdk(&self) -> Result<LifecycleRule, ProviderError> {
        let filter = LifecycleRuleFilter::builder().prefix(self.prefix.clone().unwrap_or_default()).build();
        let status = if self.enabled { ExpirationStatus::Enabled } else { ExpirationStatus::Disabled };
        let transitions = self
            .transitions
            .iter()
            .map(|t| Transition::builder().days(t.days).storage_class(TransitionStorageClass::from(t.storage_class.as_str())).build())
            .collect();
        LifecycleRule::builder()
            .id(&self.id)
            .filter(filter)
            .status(status)
            .set_transitions(Some(transitions))
            .set_expiration(self.expiration_days.map(|d| LifecycleExpiration::builder().days(d).build()))
            .set_noncurrent_version_expiration(self.noncurrent_expiration_days.map(|d| NoncurrentVersionExpiration::builder().noncurrent_days(d).build()))
            .build()
            .map_err(build_error)
    }
}

/// The stack's properties, checked before any call so that a bad value cannot leave a half-configured bucket.
pub(super) struct Spec {
    pub(super) versioning: bool,
    pub(super) sse: Sse,
    pub(super) block_public_access: bool,
    pub(super) lifecycle: Vec<LifecycleRuleSpec>,
    pub(super) policy: Option<String>,
    pub(super) force_destroy: bool,
    pub(super) logging: Option<Logging>,
    pub(super) replication: Option<Replication>,
}

impl Spec {
    pub(super) fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        let invalid = |msg: String| ProviderError::Invalid(format!("aws.s3.bucket: {msg}"));
        let flag = |name: &str, default: bool| -> Result<bool, ProviderError> {
            match desired.props.get(name) {
                None | Some(Value::Null) => Ok(default),
                Some(v) => v.as_bool().ok_or_else(|| invalid(format!("{name} must be a boolean, not {v}"))),
            }
        };

        // Values known only at apply were not checked at validate: the schema's checks run here too.
        let problems: Vec<String> =
            typecheck::check_props(&SCHEMA, &desired.props, true).into_iter().map(|v| format!("{} {}", typecheck::path_text(&v.path), v.message)).collect();
        if !problems.is_empty() {
            return Err(invalid(problems.join("; ")));
        }
        let decode = |name: &str, e: serde_json::Error| invalid(format!("{name}: {e}"));
        let sse: Sse = match desired.props.get("sse") {
            None | Some(Value::Null) => Sse { algorithm: "AES256".into(), kms_key: None, bucket_key: false },
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| decode("sse", e))?,
        };
        let lifecycle: Vec<LifecycleRuleSpec> = match desired.props.get("lifecycle_rules") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| decode("lifecycle_rules", e))?,
        };

        let policy = match desired.props.get("policy") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(doc) => Some(doc.to_string()),
        };
        let logging: Option<Logging> = match desired.props.get("logging") {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| decode("logging", e))?),
        };
        let replication: Option<Replication> = match desired.props.get("replication_configuration") {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value(v.clone()).map_err(|e| decode("replication_configuration", e))?),
        };
        Ok(Spec {
            versioning: flag("versioning", false)?,
            sse,
            block_public_access: flag("block_public_access", true)?,
            lifecycle,
            policy,
            force_destroy: flag("force_destroy", false)?,
            logging,
            replication,
        })
    }

    /// Every tag the bucket should carry: the stack's plus the force_destroy marker.
    pub(super) fn tags(&self, desired: &Desired) -> Tags {
        let mut tags = desired.tags.clone();
        if self.force_destroy {
            tags.insert(FORCE_DESTROY_TAG.to_string(), "true".to_string());
        }
        tags
    }
}
