//! Server access logging of a bucket (Terraform's `aws_s3_bucket_logging`, as the `logging` prop): PutBucketLogging and GetBucketLogging.
//!
//! The target bucket must let `logging.s3.amazonaws.com` write under the prefix; the wiring rule
//! `s3-access-log-policy` adds that statement when the target is one of the stack's buckets.

use aws_sdk_s3::types::{BucketLoggingStatus, LoggingEnabled};
use cairn_engine::provider::{PropSpec, PropType, ProviderError, TextRule};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{build_error, S3Bucket};
use crate::error::SdkResultExt;

/// The fields of `logging`.
pub(super) const FIELDS: &[PropSpec] = &[
    PropSpec::new(
        "target_bucket",
        PropType::Text(TextRule::len(3, 63).chars(".-").lowercase()),
        "The bucket that receives the log objects: a name, in the same region and account.",
    )
    .required(),
    PropSpec::new(
        "target_prefix",
        PropType::Text(TextRule::len(1, 1024)),
        "Key prefix of the log objects, e.g. `media/`; omit to write at the top of the target bucket.",
    ),
];

/// The `logging` prop as sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Logging {
    pub(super) target_bucket: String,
    #[serde(default)]
    pub(super) target_prefix: Option<String>,
}

impl Logging {
    /// The PutBucketLogging body: `None` turns logging off (an empty BucketLoggingStatus).
    pub(super) fn to_sdk(logging: Option<&Logging>) -> Result<BucketLoggingStatus, ProviderError> {
        let Some(l) = logging else { return Ok(BucketLoggingStatus::builder().build()) };
        // TargetPrefix is a required member; an empty one writes at the top of the bucket.
        let enabled = LoggingEnabled::builder()
            .target_bucket(&l.target_bucket)
            .target_prefix(l.target_prefix.clone().unwrap_or_default())
            .build()
            .map_err(build_error)?;
        Ok(BucketLoggingStatus::builder().logging_enabled(enabled).build())
    }

    /// The stack's shape of what GetBucketLogging answered (or what was just sent): `None` when off.
    pub(super) fn to_json(status: &BucketLoggingStatus) -> Option<Value> {
        let enabled = status.logging_enabled()?;
        let mut out = json!({ "target_bucket": enabled.target_bucket() });
        if !enabled.target_prefix().is_empty() {
            out["target_prefix"] = enabled.target_prefix().into();
        }
        Some(out)
    }
}

impl S3Bucket {
    pub(super) async fn logging_of(&self, name: &str) -> Result<Option<Value>, ProviderError> {
        let out = self.client.get_bucket_logging().bucket(name).send().await.op("GetBucketLogging")?;
        let status = BucketLoggingStatus::builder().set_logging_enabled(out.logging_enabled().cloned()).build();
        Ok(Logging::to_json(&status))
    }

    pub(super) async fn put_logging(&self, name: &str, logging: Option<&Logging>) -> Result<(), ProviderError> {
        let status = Logging::to_sdk(logging)?;
        self.client.put_bucket_logging().bucket(name).bucket_logging_status(status).send().await.op("PutBucketLogging")?;
        Ok(())
    }
}
