//! `aws.s3.bucket`: an S3 bucket with its encryption, versioning, public access block, lifecycle rules and policy.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::head_bucket::HeadBucketOutput;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, Transition, TransitionStorageClass,
    VersioningConfiguration,
};
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::client::result::SdkError;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use cairn_engine::typecheck;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::aws::AwsContext;
use crate::error::{classify, found, gone, SdkResultExt};
use crate::read_each::read_each;
use crate::tags::tag_changes;

/// `delete` receives only the bucket name, so `force_destroy` travels on the bucket as this tag.
const FORCE_DESTROY_TAG: &str = "cairn:force-destroy";
/// DeleteObjects takes at most this many keys per call.
const DELETE_BATCH: usize = 1000;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.s3.bucket",
    doc: "An S3 bucket, with default encryption, versioning, public access block, lifecycle rules and a bucket policy.",
    props: &[
        PropSpec::new("bucket", PropType::String, "The bucket name: globally unique, lowercase. Defaults to a name derived from stack, env and address.")
            .force_new()
            .naming(NAMING),
        PropSpec::new("versioning", PropType::Bool, "Keep every version of every object (turning it off suspends versioning).").default("false"),
        PropSpec::new(
            "sse",
            PropType::Struct(&[
                PropSpec::new("algorithm", PropType::Enum(&["AES256", "aws:kms", "aws:kms:dsse"]), "The server-side encryption algorithm.").required(),
                PropSpec::new(
                    "kms_key",
                    PropType::Text(TextRule::len(1, 2048)),
                    "KMS key ARN or id (aws:kms and aws:kms:dsse only); unset uses the AWS managed key.",
                ),
                PropSpec::new("bucket_key", PropType::Bool, "Use an S3 Bucket Key to cut KMS requests.").required(),
            ]),
            "Default encryption: `{ algorithm: \"AES256\" | \"aws:kms\" | \"aws:kms:dsse\", kms_key: <key ARN or id, KMS only, optional>, bucket_key: bool }`.",
        )
        .default("{\"algorithm\":\"AES256\",\"bucket_key\":false}")
        .rule(sse_rule),
        PropSpec::new("block_public_access", PropType::Bool, "Turn all four S3 Block Public Access settings on (or off).").default("true"),
        PropSpec::new(
            "lifecycle_rules",
            PropType::List(&PropType::Struct(&[
                PropSpec::new("id", PropType::Text(TextRule::len(1, 255)), "The rule's unique id.").required(),
                PropSpec::new("prefix", PropType::Text(TextRule::len(1, 1024)), "Only objects under this key prefix; omit for the whole bucket."),
                PropSpec::new("enabled", PropType::Bool, "Whether the rule is applied.").required(),
                PropSpec::new(
                    "transitions",
                    PropType::List(&PropType::Struct(&[
                        PropSpec::new("days", PropType::IntRange(0, i32::MAX as i64), "Days after creation.").required(),
                        PropSpec::new("storage_class", PropType::Enum(TRANSITION_CLASSES), "The storage class to move objects to.").required(),
                    ])),
                    "Moves to cheaper storage classes, in ascending order of days.",
                )
                .required()
                .rule(ascending_days),
                PropSpec::new("expiration_days", PropType::IntRange(1, i32::MAX as i64), "Delete current versions this many days after creation."),
                PropSpec::new(
                    "noncurrent_expiration_days",
                    PropType::IntRange(1, i32::MAX as i64),
                    "Delete noncurrent versions this many days after they become noncurrent.",
                ),
            ])),
            "Lifecycle rules: `[{ id, prefix (optional), enabled, transitions: [{ days, storage_class }], expiration_days (optional), \
             noncurrent_expiration_days (optional) }]`.",
        )
        .default("[]"),
        PropSpec::new("policy", PropType::Policy, "The bucket policy."),
        PropSpec::new(
            "force_destroy",
            PropType::Bool,
            "Delete every object version when the bucket is destroyed; without it, destroying a non-empty bucket fails. Kept in the `cairn:force-destroy` tag.",
        )
        .default("false"),
    ],
    attrs: &["arn", "bucket", "region"],
    taggable: true,
    rules: &[],
};

/// Bucket names: 3 to 63 lowercase letters, digits, `.` and `-`, unique across all of AWS.
/// (AWS also wants a letter or digit first and last; default names always have one.)
pub const NAMING: Naming = Naming::new(TextRule::len(3, 63).chars(".-").lowercase(), NameScope::Global);

/// The storage classes a lifecycle transition may name (PutBucketLifecycleConfiguration).
const TRANSITION_CLASSES: &[&str] = &["GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE", "GLACIER_IR"];

/// A KMS key only goes with a KMS algorithm.
fn sse_rule(sse: &Value) -> Vec<String> {
    match (sse.get("algorithm").and_then(Value::as_str), sse.get("kms_key")) {
        (Some("AES256"), Some(k)) if !k.is_null() => vec!["kms_key needs algorithm \"aws:kms\" or \"aws:kms:dsse\"".into()],
        _ => vec![],
    }
}

/// AWS returns transitions in its own order and `read` sorts them by days, so only an
/// ascending list reads back as written.
fn ascending_days(transitions: &Value) -> Vec<String> {
    let days: Vec<i64> = transitions.as_array().map(|a| a.iter().filter_map(|t| t.get("days")?.as_i64()).collect()).unwrap_or_default();
    if days.windows(2).any(|w| w[0] > w[1]) {
        vec!["must list transitions in ascending order of days".into()]
    } else {
        vec![]
    }
}

const READ_ACTIONS: &[&str] = &[
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetLifecycleConfiguration",
    "s3:GetBucketPolicy",
];
const CREATE_ACTIONS: &[&str] = &[
    "s3:CreateBucket",
    // CreateBucket with tags in its configuration needs it.
    "s3:TagResource",
    "s3:PutBucketTagging",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:ListBucket",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetLifecycleConfiguration",
    "s3:GetBucketPolicy",
];
const UPDATE_ACTIONS: &[&str] = &[
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketVersioning",
    // Also authorises DeleteBucketLifecycle.
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    // Also authorises DeleteBucketTagging.
    "s3:PutBucketTagging",
    "s3:ListBucket",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetLifecycleConfiguration",
    "s3:GetBucketPolicy",
];
const DELETE_ACTIONS: &[&str] = &["s3:DeleteBucket", "s3:GetBucketTagging", "s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion"];

pub struct S3Bucket {
    client: Client,
    /// Where new buckets go: CreateBucket needs it spelled out outside us-east-1.
    region: String,
}

impl S3Bucket {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.s3())
    }

    pub fn from_client(client: Client) -> Self {
        let region = client.config().region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_string());
        S3Bucket { client, region }
    }

    async fn head(&self, name: &str) -> Result<HeadBucketOutput, ProviderError> {
        self.client.head_bucket().bucket(name).send().await.map_err(|e| {
            // HEAD responses have no body, so there is no error code to classify: only the status.
            match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404) => ProviderError::NotFound(format!("HeadBucket: bucket {name} does not exist")),
                Some(403) => ProviderError::AccessDenied(format!("HeadBucket: access to bucket {name} denied (or it belongs to another account)")),
                Some(301) => ProviderError::Invalid(format!("HeadBucket: bucket {name} is in a different region than {}", self.region)),
                _ => classify("HeadBucket", e),
            }
        })
    }

    /// Every tag on the bucket, including the ones cairn keeps for itself.
    async fn raw_tags(&self, name: &str) -> Result<Tags, ProviderError> {
        let out = unless_absent(self.client.get_bucket_tagging().bucket(name).send().await, "GetBucketTagging", "NoSuchTagSet")?;
        Ok(out.map(|o| o.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()).unwrap_or_default())
    }

    async fn versioning_of(&self, name: &str) -> Result<bool, ProviderError> {
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

    async fn sse_of(&self, name: &str) -> Result<Value, ProviderError> {
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

    async fn public_access_blocked(&self, name: &str) -> Result<bool, ProviderError> {
        let out =
            unless_absent(self.client.get_public_access_block().bucket(name).send().await, "GetPublicAccessBlock", "NoSuchPublicAccessBlockConfiguration")?;
        let Some(c) = out.as_ref().and_then(|o| o.public_access_block_configuration()) else {
            return Ok(false);
        };
        Ok([c.block_public_acls(), c.ignore_public_acls(), c.block_public_policy(), c.restrict_public_buckets()].iter().all(|s| *s == Some(true)))
    }

    async fn lifecycle_of(&self, name: &str) -> Result<Value, ProviderError> {
        let out = unless_absent(
            self.client.get_bucket_lifecycle_configuration().bucket(name).send().await,
            "GetBucketLifecycleConfiguration",
            "NoSuchLifecycleConfiguration",
        )?;
        let rules = out.as_ref().map(|o| o.rules()).unwrap_or_default();
        Ok(Value::Array(rules.iter().map(rule_to_json).collect()))
    }

    async fn policy_of(&self, name: &str) -> Result<Option<Value>, ProviderError> {
        let out = unless_absent(self.client.get_bucket_policy().bucket(name).send().await, "GetBucketPolicy", "NoSuchBucketPolicy")?;
        let policy = out.as_ref().and_then(|o| o.policy()).map(|p| serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.to_string())));
        // Log delivery (WAF logs) adds its own statements to the policy of a bucket it writes
        // to: expected, not drift, so they are not reported and a policy update does not fight them.
        Ok(policy.and_then(cairn_engine::wiring::without_aws_added_statements))
    }

    /// Reads every setting at once. No HeadBucket first: each of these calls answers
    /// NoSuchBucket for a bucket that is gone, and a bucket in another region answers them with
    /// a redirect, so one that succeeds is in this client's region.
    async fn observe(&self, name: &str) -> Result<Observed, ProviderError> {
        let (tags, versioning, sse, blocked, lifecycle, policy) = tokio::try_join!(
            self.raw_tags(name),
            self.versioning_of(name),
            self.sse_of(name),
            self.public_access_blocked(name),
            self.lifecycle_of(name),
            self.policy_of(name),
        )?;
        Ok(self.observed(name, Settings { versioning, sse, blocked, lifecycle, policy }, tags))
    }

    /// The bucket in the stack's shape, from the settings read (or just written).
    fn observed(&self, name: &str, settings: Settings, mut tags: Tags) -> Observed {
        let Settings { versioning, sse, blocked, lifecycle, policy } = settings;
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

        let mut attrs = Props::new();
        attrs.insert("arn".into(), format!("arn:aws:s3:::{name}").into());
        attrs.insert("bucket".into(), name.into());
        attrs.insert("region".into(), self.region.clone().into());
        Observed { id: name.to_string(), props, attrs, tags }
    }

    /// What `observe` reads back from a bucket `configure` has just set up from scratch: every
    /// setting through the same conversions `read` applies to AWS's answers.
    fn configured(&self, name: &str, spec: &Spec, desired: &Desired) -> Result<Observed, ProviderError> {
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
        let settings =
            Settings { versioning: spec.versioning, sse: Value::Object(sse_json), blocked: spec.block_public_access, lifecycle: Value::Array(rules), policy };
        Ok(self.observed(name, settings, spec.tags(desired)))
    }

    /// Refuses a bucket of this account that does not carry this owner's tags.
    async fn check_ours(&self, name: &str, desired: &Desired) -> Result<(), ProviderError> {
        let tags = self.raw_tags(name).await?;
        if desired.owner.matches(&tags) {
            return Ok(());
        }
        Err(crate::adopt::foreign(SCHEMA.kind, &format!("bucket {name}"), desired, &tags))
    }

    async fn put_tags(&self, name: &str, tags: &Tags) -> Result<(), ProviderError> {
        if tags.is_empty() {
            return gone(self.client.delete_bucket_tagging().bucket(name).send().await.map(|_| ()).op("DeleteBucketTagging"));
        }
        let tag_set = s3_tag_set(tags)?;
        let tagging = Tagging::builder().set_tag_set(Some(tag_set)).build().map_err(build_error)?;
        self.client.put_bucket_tagging().bucket(name).tagging(tagging).send().await.op("PutBucketTagging")?;
        Ok(())
    }

    async fn put_public_access_block(&self, name: &str, on: bool) -> Result<(), ProviderError> {
        let config =
            PublicAccessBlockConfiguration::builder().block_public_acls(on).ignore_public_acls(on).block_public_policy(on).restrict_public_buckets(on).build();
        self.client.put_public_access_block().bucket(name).public_access_block_configuration(config).send().await.op("PutPublicAccessBlock")?;
        Ok(())
    }

    async fn put_encryption(&self, name: &str, sse: &Sse) -> Result<(), ProviderError> {
        let config = sse.to_sdk()?;
        self.client.put_bucket_encryption().bucket(name).server_side_encryption_configuration(config).send().await.op("PutBucketEncryption")?;
        Ok(())
    }

    async fn put_versioning(&self, name: &str, on: bool) -> Result<(), ProviderError> {
        let status = if on { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
        let config = VersioningConfiguration::builder().status(status).build();
        self.client.put_bucket_versioning().bucket(name).versioning_configuration(config).send().await.op("PutBucketVersioning")?;
        Ok(())
    }

    async fn put_lifecycle(&self, name: &str, rules: &[LifecycleRuleSpec]) -> Result<(), ProviderError> {
        if rules.is_empty() {
            self.client.delete_bucket_lifecycle().bucket(name).send().await.op("DeleteBucketLifecycle")?;
            return Ok(());
        }
        let rules = rules.iter().map(LifecycleRuleSpec::to_sdk).collect::<Result<Vec<_>, _>>()?;
        let config = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().map_err(build_error)?;
        self.client.put_bucket_lifecycle_configuration().bucket(name).lifecycle_configuration(config).send().await.op("PutBucketLifecycleConfiguration")?;
        Ok(())
    }

    async fn put_policy(&self, name: &str, policy: Option<&str>) -> Result<(), ProviderError> {
        match policy {
            Some(policy) => {
                self.client.put_bucket_policy().bucket(name).policy(policy).send().await.op("PutBucketPolicy")?;
            }
            None => {
                self.client.delete_bucket_policy().bucket(name).send().await.op("DeleteBucketPolicy")?;
            }
        }
        Ok(())
    }

    /// Deletes every object version and delete marker, a page at a time.
    async fn empty(&self, name: &str) -> Result<(), ProviderError> {
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(name)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .op("ListObjectVersions")?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            let objects = versions
                .chain(markers)
                .filter_map(|(key, version)| key.map(|k| ObjectIdentifier::builder().key(k).set_version_id(version.map(str::to_string)).build()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(build_error)?;
            for batch in objects.chunks(DELETE_BATCH) {
                let delete = Delete::builder().set_objects(Some(batch.to_vec())).quiet(true).build().map_err(build_error)?;
                let out = self.client.delete_objects().bucket(name).delete(delete).send().await.op("DeleteObjects")?;
                if let Some(err) = out.errors().first() {
                    let code = err.code().unwrap_or("Unknown");
                    let text =
                        format!("DeleteObjects: {code}: {} ({} of {} objects failed)", err.message().unwrap_or_default(), out.errors().len(), batch.len());
                    return Err(crate::error::class_of(code).map_or(ProviderError::Fatal(text.clone()), |make| make(text)));
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
        }
    }

    async fn delete_bucket(&self, name: &str) -> Result<(), ProviderError> {
        // Objects written while emptying (a live producer) make DeleteBucket fail again: retry a few times.
        for _ in 0..3 {
            match self.client.delete_bucket().bucket(name).send().await {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some("BucketNotEmpty") => {}
                Err(e) => return Err(classify("DeleteBucket", e)),
            }
            if self.raw_tags(name).await?.get(FORCE_DESTROY_TAG).map(String::as_str) != Some("true") {
                return Err(ProviderError::Conflict(format!("bucket {name} is not empty; set force_destroy: true to delete its objects")));
            }
            self.empty(name).await?;
        }
        Err(ProviderError::Conflict(format!("bucket {name} still has objects after emptying it three times; is something still writing to it?")))
    }

    /// The bucket called `name`, but only if it carries this owner's tags.
    async fn owned(&self, name: &str, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        match self.head(name).await {
            Ok(_) => {}
            // 403: the name is taken by another account, so it cannot be ours.
            Err(ProviderError::NotFound(_) | ProviderError::AccessDenied(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        let tags = self.raw_tags(name).await?;
        if desired.owner.matches(&tags) {
            return self.read(name).await;
        }
        // Asked only where this owner's create of exactly this name was under way (a crash or
        // a failed create): an emulator that ignores the tags of CreateBucket leaves the bucket
        // untagged until PutBucketTagging, so a bucket with no tags at all and no objects is
        // that create's, and is tagged now. Anything tagged or holding data is not taken.
        if tags.keys().all(|k| k.starts_with("aws:")) && self.is_empty(name).await? {
            self.put_tags(name, &Spec::from(desired)?.tags(desired)).await?;
            return self.read(name).await;
        }
        Ok(None)
    }

    async fn is_empty(&self, name: &str) -> Result<bool, ProviderError> {
        let out = self.client.list_objects_v2().bucket(name).max_keys(1).send().await.op("ListObjectsV2")?;
        Ok(out.contents().is_empty() && out.common_prefixes().is_empty())
    }

    /// Applies every setting, in the order that lets a public policy follow a relaxed public access block.
    async fn configure(&self, name: &str, spec: &Spec, desired: &Desired) -> Result<(), ProviderError> {
        self.put_tags(name, &spec.tags(desired)).await?;
        self.put_public_access_block(name, spec.block_public_access).await?;
        self.put_encryption(name, &spec.sse).await?;
        if spec.versioning {
            self.put_versioning(name, spec.versioning).await?;
        }
        if !spec.lifecycle.is_empty() {
            self.put_lifecycle(name, &spec.lifecycle).await?;
        }
        if let Some(policy) = &spec.policy {
            self.put_policy(name, Some(policy)).await?;
        }
        Ok(())
    }
}

/// A bucket's settings in the stack's shapes, as read (or as just written).
struct Settings {
    versioning: bool,
    sse: Value,
    blocked: bool,
    lifecycle: Value,
    policy: Option<Value>,
}

/// Runs an S3 read whose error `absent` means "nothing configured" rather than a failure.
fn unless_absent<T, E, R>(result: Result<T, SdkError<E, R>>, operation: &str, absent: &str) -> Result<Option<T>, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.code() == Some(absent) => Ok(None),
        Err(e) => Err(classify(operation, e)),
    }
}

fn build_error(e: aws_sdk_s3::error::BuildError) -> ProviderError {
    ProviderError::Invalid(format!("aws.s3.bucket: {e}"))
}

/// A lifecycle rule in the stack's shape: the same shape `read` reports.
fn rule_to_json(rule: &LifecycleRule) -> Value {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sse {
    algorithm: String,
    #[serde(default)]
    kms_key: Option<String>,
    bucket_key: bool,
}

impl Sse {
    /// The PutBucketEncryption request body.
    fn to_sdk(&self) -> Result<ServerSideEncryptionConfiguration, ProviderError> {
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
struct TransitionSpec {
    days: i32,
    storage_class: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LifecycleRuleSpec {
    id: String,
    #[serde(default)]
    prefix: Option<String>,
    enabled: bool,
    transitions: Vec<TransitionSpec>,
    #[serde(default)]
    expiration_days: Option<i32>,
    #[serde(default)]
    noncurrent_expiration_days: Option<i32>,
}

impl LifecycleRuleSpec {
    fn to_sdk(&self) -> Result<LifecycleRule, ProviderError> {
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
struct Spec {
    versioning: bool,
    sse: Sse,
    block_public_access: bool,
    lifecycle: Vec<LifecycleRuleSpec>,
    policy: Option<String>,
    force_destroy: bool,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
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
        Ok(Spec {
            versioning: flag("versioning", false)?,
            sse,
            block_public_access: flag("block_public_access", true)?,
            lifecycle,
            policy,
            force_destroy: flag("force_destroy", false)?,
        })
    }

    /// Every tag the bucket should carry: the stack's plus the force_destroy marker.
    fn tags(&self, desired: &Desired) -> Tags {
        let mut tags = desired.tags.clone();
        if self.force_destroy {
            tags.insert(FORCE_DESTROY_TAG.to_string(), "true".to_string());
        }
        tags
    }
}

fn s3_tag_set(tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(format!("tag {k}: {e}")))).collect()
}

fn bucket_name(desired: &Desired) -> String {
    desired.str("bucket").map(str::to_string).unwrap_or_else(|| desired.default_name.clone())
}

#[async_trait]
impl ResourceKind for S3Bucket {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        // NoSuchBucket from any of the calls (the bucket deleted mid-read) is "gone" too.
        found(self.observe(id).await)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let name = bucket_name(desired);
        // In us-east-1 CreateBucket succeeds on a bucket the account already owns, so only
        // looking first keeps a stack from silently adopting someone's existing bucket. Not
        // needed elsewhere (CreateBucket answers BucketAlreadyOwnedByYou), nor for a derived
        // name, which is this owner's by construction (`Desired::has_derived_name`).
        let look_first = self.region == "us-east-1" && !desired.has_derived_name(&name);
        let exists = look_first
            && match self.head(&name).await {
                Ok(_) => true,
                Err(ProviderError::NotFound(_)) => false,
                // Another account's bucket: CreateBucket reports it as BucketAlreadyExists.
                Err(ProviderError::AccessDenied(_)) => false,
                Err(e) => return Err(e),
            };
        let mut fresh = !exists;
        if exists {
            self.check_ours(&name, desired).await?;
        } else {
            // Tags go in the creating call, so the bucket is never without its ownership tags;
            // `configure` writes them again for emulators that ignore them there.
            let mut config = CreateBucketConfiguration::builder().set_tags(Some(s3_tag_set(&spec.tags(desired))?));
            if self.region != "us-east-1" {
                config = config.location_constraint(BucketLocationConstraint::from(self.region.as_str()));
            }
            match self.client.create_bucket().bucket(&name).create_bucket_configuration(config.build()).send().await {
                Ok(_) => {}
                // Outside us-east-1, the answer to repeating a create whose first answer was lost.
                Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => {
                    self.check_ours(&name, desired).await?;
                    fresh = false;
                }
                Err(e) => return Err(classify("CreateBucket", e)),
            }
        }
        self.configure(&name, &spec, desired).await?;
        if fresh {
            // A bucket CreateBucket may have answered for an earlier attempt (default name in
            // us-east-1) was made by that attempt from the same desired state, so it holds
            // what `configure` wrote as well.
            return self.configured(&name, &spec, desired);
        }
        // An existing bucket keeps settings `configure` leaves alone (versioning it does not
        // turn on, a lifecycle or policy the stack does not set): only a read tells them.
        self.read(&name).await?.ok_or_else(|| ProviderError::Fatal(format!("bucket {name} was not readable right after it was created")))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        read_each(ids, || S3Bucket { client: self.client.clone(), region: self.region.clone() }).await
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let has = |name: &str| changed.iter().any(|c| c == name);
        // Fixed order, whatever the order of `changed`: a public policy is refused until the block is lifted.
        if has("block_public_access") {
            self.put_public_access_block(id, spec.block_public_access).await?;
        }
        if has("sse") {
            self.put_encryption(id, &spec.sse).await?;
        }
        if has("versioning") {
            self.put_versioning(id, spec.versioning).await?;
        }
        if has("lifecycle_rules") {
            self.put_lifecycle(id, &spec.lifecycle).await?;
        }
        if has("policy") {
            self.put_policy(id, spec.policy.as_deref()).await?;
        }
        if has("tags") || has("force_destroy") {
            let want = spec.tags(desired);
            let (set, remove) = tag_changes(&self.raw_tags(id).await?, &want);
            // PutBucketTagging replaces the whole set, so any difference means sending all of it.
            if !set.is_empty() || !remove.is_empty() {
                self.put_tags(id, &want).await?;
            }
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("bucket {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.delete_bucket(id).await)
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        self.owned(&bucket_name(desired), desired).await
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => READ_ACTIONS,
            Operation::Create => CREATE_ACTIONS,
            Operation::Update => UPDATE_ACTIONS,
            Operation::Delete => DELETE_ACTIONS,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use aws_sdk_s3::config::retry::RetryConfig;
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::create_bucket::{CreateBucketError, CreateBucketOutput};
    use aws_sdk_s3::operation::delete_bucket::{DeleteBucketError, DeleteBucketOutput};
    use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
    use aws_sdk_s3::operation::get_bucket_encryption::{GetBucketEncryptionError, GetBucketEncryptionOutput};
    use aws_sdk_s3::operation::get_bucket_lifecycle_configuration::{GetBucketLifecycleConfigurationError, GetBucketLifecycleConfigurationOutput};
    use aws_sdk_s3::operation::get_bucket_policy::{GetBucketPolicyError, GetBucketPolicyOutput};
    use aws_sdk_s3::operation::get_bucket_tagging::{GetBucketTaggingError, GetBucketTaggingOutput};
    use aws_sdk_s3::operation::get_bucket_versioning::{GetBucketVersioningError, GetBucketVersioningOutput};
    use aws_sdk_s3::operation::get_public_access_block::{GetPublicAccessBlockError, GetPublicAccessBlockOutput};
    use aws_sdk_s3::operation::head_bucket::HeadBucketError;
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
    use aws_sdk_s3::operation::put_bucket_encryption::PutBucketEncryptionOutput;
    use aws_sdk_s3::operation::put_bucket_lifecycle_configuration::PutBucketLifecycleConfigurationOutput;
    use aws_sdk_s3::operation::put_bucket_policy::PutBucketPolicyOutput;
    use aws_sdk_s3::operation::put_bucket_tagging::PutBucketTaggingOutput;
    use aws_sdk_s3::operation::put_bucket_versioning::PutBucketVersioningOutput;
    use aws_sdk_s3::operation::put_public_access_block::PutPublicAccessBlockOutput;
    use aws_sdk_s3::types::error::NotFound;
    use aws_sdk_s3::types::{DeleteMarkerEntry, ObjectVersion};
    use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use cairn_engine::provider::Owner;

    const BUCKET: &str = "shop-prod-data";
    const KMS_ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn kind(rules: &[&Rule]) -> S3Bucket {
        kind_in("eu-west-1", rules)
    }

    fn kind_in(region: &'static str, rules: &[&Rule]) -> S3Bucket {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .force_path_style(true)
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build();
        S3Bucket::from_client(Client::from_conf(config))
    }

    fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "prod".into(), address: "bucket.data".into() }
    }

    fn desired(props: Value) -> Desired {
        let owner = owner();
        let mut tags = owner.tags();
        tags.insert("team".into(), "data".into());
        Desired { props: props.as_object().unwrap().clone(), tags, owner, default_name: BUCKET.into(), idempotency_token: "t".into() }
    }

    fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message("mocked").build()
    }

    fn status(code: u16) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(code).unwrap(), SdkBody::empty())
    }

    fn s3_tags(tags: &Tags) -> Vec<Tag> {
        tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap()).collect()
    }

    fn full_props() -> Value {
        json!({
            "bucket": BUCKET,
            "versioning": true,
            "sse": {"algorithm": "aws:kms", "kms_key": KMS_ARN, "bucket_key": true},
            "block_public_access": true,
            "lifecycle_rules": [
                {"id": "logs", "prefix": "logs/", "enabled": true,
                 "transitions": [{"days": 30, "storage_class": "STANDARD_IA"}, {"days": 90, "storage_class": "GLACIER"}],
                 "expiration_days": 365, "noncurrent_expiration_days": 7},
                {"id": "tmp", "enabled": false, "transitions": [], "expiration_days": 1}
            ],
            "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::shop-prod-data/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]},
            "force_destroy": true
        })
    }

    /// The calls `read` makes after HeadBucket, answering with exactly `full_props()` and `tags`.
    fn read_rules(tags: Tags) -> Vec<Rule> {
        vec![
            mock!(Client::get_bucket_tagging).then_output(move || GetBucketTaggingOutput::builder().set_tag_set(Some(s3_tags(&tags))).build().unwrap()),
            mock!(Client::get_bucket_versioning).then_output(|| GetBucketVersioningOutput::builder().status(BucketVersioningStatus::Enabled).build()),
            mock!(Client::get_bucket_encryption).then_output(|| {
                let by_default =
                    ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::AwsKms).kms_master_key_id(KMS_ARN).build().unwrap();
                let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).bucket_key_enabled(true).build();
                GetBucketEncryptionOutput::builder()
                    .server_side_encryption_configuration(ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap())
                    .build()
            }),
            mock!(Client::get_public_access_block).then_output(|| {
                let c = PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build();
                GetPublicAccessBlockOutput::builder().public_access_block_configuration(c).build()
            }),
            mock!(Client::get_bucket_lifecycle_configuration).then_output(|| {
                let rules: Vec<LifecycleRuleSpec> = serde_json::from_value(full_props()["lifecycle_rules"].clone()).unwrap();
                // AWS does not promise the transitions' order; read must sort them.
                let mut sdk: Vec<LifecycleRule> = rules.iter().map(|r| r.to_sdk().unwrap()).collect();
                sdk[0].transitions.as_mut().unwrap().reverse();
                GetBucketLifecycleConfigurationOutput::builder().set_rules(Some(sdk)).build()
            }),
            mock!(Client::get_bucket_policy).then_output(|| GetBucketPolicyOutput::builder().policy(full_props()["policy"].to_string()).build()),
        ]
    }

    fn head_ok() -> Rule {
        mock!(Client::head_bucket).then_output(|| HeadBucketOutput::builder().bucket_region("eu-west-1").build())
    }

    #[test]
    fn schema_defaults_are_json_and_valid() {
        for prop in SCHEMA.props {
            if let Some(default) = prop.default {
                serde_json::from_str::<Value>(default).unwrap_or_else(|e| panic!("{}: {e}", prop.name));
            }
        }
        let defaults: Props = SCHEMA.props.iter().filter_map(|p| Some((p.name.to_string(), serde_json::from_str(p.default?).unwrap()))).collect();
        Spec::from(&desired(Value::Object(defaults))).expect("the defaults are accepted");
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        for props in [
            json!({"sse": {"algorithm": "AES256", "kms_key": KMS_ARN, "bucket_key": false}}),
            json!({"sse": {"algorithm": "aws:kms"}}),
            json!({"sse": {"algorithm": "DES", "bucket_key": false}}),
            json!({"sse": {"algorithm": "AES256", "bucket_kye": false}}),
            json!({"lifecycle_rules": [{"id": "a", "prefix": "", "enabled": true, "transitions": []}]}),
            json!({"lifecycle_rules": [{"id": "a", "enabled": true, "transitions": [{"days": 90, "storage_class": "GLACIER"}, {"days": 30, "storage_class": "STANDARD_IA"}]}]}),
            json!({"lifecycle_rules": [{"id": "a", "enabled": true, "transitions": [{"days": 3_000_000_000i64, "storage_class": "GLACIER"}]}]}),
            json!({"lifecycle_rules": [{"id": "a", "enabled": true, "transitions": [], "expires": 3}]}),
            json!({"versioning": "yes"}),
            json!({"bucket": 7}),
        ] {
            let d = desired(props.clone());
            assert!(Spec::from(&d).is_err(), "builder accepts {props}");
            assert!(!cairn_engine::typecheck::check_props(&SCHEMA, &d.props, true).is_empty(), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes a request the SDK builds, naming
        /// only values the SDK knows.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            let spec = Spec::from(&desired(Value::Object(props.clone())));
            proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
            let spec = spec.unwrap();
            let sse = spec.sse.to_sdk();
            proptest::prop_assert!(sse.is_ok(), "{:?}", sse.err());
            let algorithm = sse.unwrap().rules()[0].apply_server_side_encryption_by_default().map(|d| d.sse_algorithm().as_str().to_string());
            proptest::prop_assert!(algorithm.is_some_and(|a| ServerSideEncryption::values().contains(&a.as_str())));
            for rule in &spec.lifecycle {
                let sdk = rule.to_sdk();
                proptest::prop_assert!(sdk.is_ok(), "{:?}", sdk.err());
                for t in sdk.unwrap().transitions() {
                    proptest::prop_assert!(t.storage_class().is_some_and(|c| TransitionStorageClass::values().contains(&c.as_str())));
                }
            }
        }
    }

    #[tokio::test]
    async fn create_configures_everything_in_order_then_reads() {
        let calls = Arc::new(Mutex::new(Vec::<&'static str>::new()));
        let log = |name: &'static str| {
            let calls = calls.clone();
            move || calls.lock().unwrap().push(name)
        };
        let head = mock!(Client::head_bucket)
            .sequence()
            .http_response(|| status(404))
            .output(|| HeadBucketOutput::builder().bucket_region("eu-west-1").build())
            .repeatedly()
            .build();
        let d = desired(full_props());
        let want_tags = {
            let mut t = d.tags.clone();
            t.insert(FORCE_DESTROY_TAG.into(), "true".into());
            t
        };
        let note = log("CreateBucket");
        let created_with = want_tags.clone();
        let create = mock!(Client::create_bucket)
            .match_requests(move |r| {
                let config = r.create_bucket_configuration();
                let sent: Tags = config.map(|c| c.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()).unwrap_or_default();
                r.bucket() == Some(BUCKET) && config.and_then(|c| c.location_constraint()) == Some(&BucketLocationConstraint::EuWest1) && sent == created_with
            })
            .then_compute_output(move |_| {
                note();
                CreateBucketOutput::builder().build()
            });
        let (note, expected) = (log("PutBucketTagging"), want_tags.clone());
        let tagging = mock!(Client::put_bucket_tagging)
            .match_requests(move |r| {
                let sent: Tags = r.tagging().unwrap().tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                sent == expected
            })
            .then_compute_output(move |_| {
                note();
                PutBucketTaggingOutput::builder().build()
            });
        let note = log("PutPublicAccessBlock");
        let block = mock!(Client::put_public_access_block)
            .match_requests(|r| {
                let c = r.public_access_block_configuration().unwrap();
                [c.block_public_acls(), c.ignore_public_acls(), c.block_public_policy(), c.restrict_public_buckets()] == [Some(true); 4]
            })
            .then_compute_output(move |_| {
                note();
                PutPublicAccessBlockOutput::builder().build()
            });
        let note = log("PutBucketEncryption");
        let encryption = mock!(Client::put_bucket_encryption)
            .match_requests(|r| {
                let rule = &r.server_side_encryption_configuration().unwrap().rules()[0];
                let by_default = rule.apply_server_side_encryption_by_default().unwrap();
                by_default.sse_algorithm() == &ServerSideEncryption::AwsKms
                    && by_default.kms_master_key_id() == Some(KMS_ARN)
                    && rule.bucket_key_enabled() == Some(true)
            })
            .then_compute_output(move |_| {
                note();
                PutBucketEncryptionOutput::builder().build()
            });
        let note = log("PutBucketVersioning");
        let versioning = mock!(Client::put_bucket_versioning)
            .match_requests(|r| r.versioning_configuration().and_then(|c| c.status()) == Some(&BucketVersioningStatus::Enabled))
            .then_compute_output(move |_| {
                note();
                PutBucketVersioningOutput::builder().build()
            });
        let note = log("PutBucketLifecycleConfiguration");
        let lifecycle = mock!(Client::put_bucket_lifecycle_configuration)
            .match_requests(|r| {
                let rules = r.lifecycle_configuration().unwrap().rules();
                rules.len() == 2
                    && rules[0].filter().and_then(|f| f.prefix()) == Some("logs/")
                    && rules[0].transitions().len() == 2
                    && rules[0].noncurrent_version_expiration().and_then(|e| e.noncurrent_days()) == Some(7)
                    && rules[1].status() == &ExpirationStatus::Disabled
                    && rules[1].filter().and_then(|f| f.prefix()) == Some("")
            })
            .then_compute_output(move |_| {
                note();
                PutBucketLifecycleConfigurationOutput::builder().build()
            });
        let note = log("PutBucketPolicy");
        let policy = mock!(Client::put_bucket_policy)
            .match_requests(|r| r.policy().map(|p| serde_json::from_str::<Value>(p).unwrap()) == Some(full_props()["policy"].clone()))
            .then_compute_output(move |_| {
                note();
                PutBucketPolicyOutput::builder().build()
            });
        let reads = read_rules(want_tags);
        let mut rules = vec![&head, &create, &tagging, &block, &encryption, &versioning, &lifecycle, &policy];
        rules.extend(reads.iter());

        let k = kind(&rules);
        let observed = k.create(&d).await.unwrap();

        // Outside us-east-1 CreateBucket itself says whether the bucket exists, and what was
        // written is known: no HeadBucket, no read.
        assert_eq!(head.num_calls(), 0);
        assert_eq!(reads.iter().map(Rule::num_calls).sum::<usize>(), 0, "create makes no read");
        assert_eq!(observed, k.read(BUCKET).await.unwrap().unwrap(), "create returns what read reports");
        assert_eq!(
            *calls.lock().unwrap(),
            [
                "CreateBucket",
                "PutBucketTagging",
                "PutPublicAccessBlock",
                "PutBucketEncryption",
                "PutBucketVersioning",
                "PutBucketLifecycleConfiguration",
                "PutBucketPolicy"
            ]
        );
        assert_eq!(observed.id, BUCKET);
        assert_eq!(Value::Object(observed.props.clone()), full_props(), "read reports exactly what was written");
        assert_eq!(observed.tags, d.tags, "the force-destroy tag is cairn's, not the stack's");
        assert_eq!(observed.attrs["arn"], json!("arn:aws:s3:::shop-prod-data"));
        assert_eq!(observed.attrs["region"], json!("eu-west-1"));
        let needed = [
            "s3:CreateBucket",
            "s3:PutBucketTagging",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutEncryptionConfiguration",
            "s3:PutBucketVersioning",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketPolicy",
        ];
        for action in needed.iter().chain(READ_ACTIONS) {
            assert!(CREATE_ACTIONS.contains(action), "{action} missing from Create's IAM actions");
        }
    }

    #[tokio::test]
    async fn create_refuses_an_existing_bucket_owned_by_someone_else() {
        // In us-east-1 CreateBucket succeeds on a bucket the account owns: an explicit name
        // is looked up first.
        let head = head_ok();
        let tags = mock!(Client::get_bucket_tagging).then_output(|| GetBucketTaggingOutput::builder().set_tag_set(Some(vec![])).build().unwrap());
        let result = kind_in("us-east-1", &[&head, &tags]).create(&desired(json!({"bucket": "shared-data"}))).await;
        crate::adopt::testing::assert_refused(result, "bucket shared-data");
    }

    /// In us-east-1 with cairn's default name (this owner's by construction), CreateBucket and
    /// the writes are all: no HeadBucket and no read.
    #[tokio::test]
    async fn create_with_the_default_name_in_us_east_1_makes_no_read() {
        let head = head_ok();
        let create = mock!(Client::create_bucket)
            .match_requests(|r| r.create_bucket_configuration().and_then(|c| c.location_constraint()).is_none())
            .then_output(|| CreateBucketOutput::builder().build());
        let tagging = mock!(Client::put_bucket_tagging).then_output(|| PutBucketTaggingOutput::builder().build());
        let block = mock!(Client::put_public_access_block).then_output(|| PutPublicAccessBlockOutput::builder().build());
        let encryption = mock!(Client::put_bucket_encryption).then_output(|| PutBucketEncryptionOutput::builder().build());
        let reads = read_rules(Tags::new());
        let mut rules = vec![&head, &create, &tagging, &block, &encryption];
        rules.extend(reads.iter());
        let observed = kind_in("us-east-1", &rules).create(&desired(json!({}))).await.unwrap();
        assert_eq!((head.num_calls(), reads.iter().map(Rule::num_calls).sum::<usize>()), (0, 0));
        assert_eq!(
            Value::Object(observed.props),
            json!({"bucket": BUCKET, "versioning": false, "sse": {"algorithm": "AES256", "bucket_key": false}, "block_public_access": true,
                   "lifecycle_rules": [], "force_destroy": false})
        );
        assert_eq!(observed.attrs["region"], json!("us-east-1"));
    }

    #[tokio::test]
    async fn read_many_reads_every_bucket_without_head_bucket() {
        let head = head_ok();
        let reads = read_rules(Tags::new());
        let mut rules = vec![&head];
        rules.extend(reads.iter());
        let names = ["a-bucket".to_string(), "b-bucket".to_string(), "c-bucket".to_string()];
        let out = kind(&rules).read_many(&names).await.unwrap();
        assert_eq!(head.num_calls(), 0);
        assert!(reads.iter().all(|r| r.num_calls() == 3), "each setting read once per bucket");
        assert_eq!(out["b-bucket"].as_ref().unwrap().props["bucket"], json!("b-bucket"));
    }

    #[tokio::test]
    async fn already_owned_by_you_is_checked_for_our_tags() {
        let missing = mock!(Client::head_bucket).then_http_response(|| status(404));
        let create = mock!(Client::create_bucket).then_error(|| CreateBucketError::generic(error("BucketAlreadyOwnedByYou")));
        let tags = mock!(Client::get_bucket_tagging).then_output(|| GetBucketTaggingOutput::builder().set_tag_set(Some(vec![])).build().unwrap());
        let result = kind(&[&missing, &create, &tags]).create(&desired(json!({}))).await;
        crate::adopt::testing::assert_refused(result, &format!("bucket {BUCKET}"));
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn read_of_missing_bucket_is_none() {
        // Every setting's read answers NoSuchBucket; no HeadBucket is needed to tell.
        let head = head_ok();
        let rules = [
            mock!(Client::get_bucket_tagging).then_error(|| GetBucketTaggingError::generic(error("NoSuchBucket"))),
            mock!(Client::get_bucket_versioning).then_error(|| GetBucketVersioningError::generic(error("NoSuchBucket"))),
            mock!(Client::get_bucket_encryption).then_error(|| GetBucketEncryptionError::generic(error("NoSuchBucket"))),
            mock!(Client::get_public_access_block).then_error(|| GetPublicAccessBlockError::generic(error("NoSuchBucket"))),
            mock!(Client::get_bucket_lifecycle_configuration).then_error(|| GetBucketLifecycleConfigurationError::generic(error("NoSuchBucket"))),
            mock!(Client::get_bucket_policy).then_error(|| GetBucketPolicyError::generic(error("NoSuchBucket"))),
        ];
        let mut all: Vec<&Rule> = rules.iter().collect();
        all.push(&head);
        assert_eq!(kind(&all).read(BUCKET).await.unwrap(), None);
        assert_eq!(head.num_calls(), 0);
    }

    #[tokio::test]
    async fn head_bucket_answers_are_classified() {
        let modeled = mock!(Client::head_bucket).then_error(|| HeadBucketError::NotFound(NotFound::builder().meta(error("NotFound")).build()));
        assert!(matches!(kind(&[&modeled]).head(BUCKET).await, Err(ProviderError::NotFound(_))));
        let bare = mock!(Client::head_bucket).then_http_response(|| status(404));
        assert!(matches!(kind(&[&bare]).head(BUCKET).await, Err(ProviderError::NotFound(_))));
        let denied = mock!(Client::head_bucket).then_http_response(|| status(403));
        assert!(matches!(kind(&[&denied]).head(BUCKET).await, Err(ProviderError::AccessDenied(_))));
    }

    #[tokio::test]
    async fn read_of_bucket_deleted_mid_read_is_none() {
        let head = head_ok();
        let mut reads = read_rules(Tags::new());
        reads[0] = mock!(Client::get_bucket_tagging).then_error(|| GetBucketTaggingError::generic(error("NoSuchBucket")));
        let mut rules = vec![&head];
        rules.extend(reads.iter());
        assert_eq!(kind(&rules).read(BUCKET).await.unwrap(), None);
    }

    #[tokio::test]
    async fn read_maps_unconfigured_settings_to_their_defaults() {
        let rules = [
            head_ok(),
            mock!(Client::get_bucket_tagging).then_error(|| GetBucketTaggingError::generic(error("NoSuchTagSet"))),
            mock!(Client::get_bucket_versioning).then_output(|| GetBucketVersioningOutput::builder().build()),
            mock!(Client::get_bucket_encryption).then_error(|| GetBucketEncryptionError::generic(error("ServerSideEncryptionConfigurationNotFoundError"))),
            mock!(Client::get_public_access_block).then_error(|| GetPublicAccessBlockError::generic(error("NoSuchPublicAccessBlockConfiguration"))),
            mock!(Client::get_bucket_lifecycle_configuration)
                .then_error(|| GetBucketLifecycleConfigurationError::generic(error("NoSuchLifecycleConfiguration"))),
            mock!(Client::get_bucket_policy).then_error(|| GetBucketPolicyError::generic(error("NoSuchBucketPolicy"))),
        ];
        let observed = kind(&rules.iter().collect::<Vec<_>>()).read(BUCKET).await.unwrap().unwrap();
        let want = json!({
            "bucket": BUCKET, "versioning": false, "sse": {"algorithm": "AES256", "bucket_key": false},
            "block_public_access": false, "lifecycle_rules": [], "force_destroy": false
        });
        assert_eq!(Value::Object(observed.props), want);
        assert!(observed.tags.is_empty());
    }

    #[tokio::test]
    async fn read_understands_motos_versioning_document() {
        let mut rules = vec![head_ok()];
        rules.extend(read_rules(Tags::new()));
        rules[2] = mock!(Client::get_bucket_versioning).then_http_response(|| {
            let body = r#"<?xml version="1.0" encoding="utf-8"?><GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></GetBucketVersioningResponse>"#;
            HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body))
        });
        let observed = kind(&rules.iter().collect::<Vec<_>>()).read(BUCKET).await.unwrap().unwrap();
        assert_eq!(observed.props["versioning"], json!(true));
    }

    #[tokio::test]
    async fn access_denied_is_classified() {
        let mut rules = vec![head_ok()];
        rules.extend(read_rules(Tags::new()));
        rules[6] = mock!(Client::get_bucket_policy).then_error(|| GetBucketPolicyError::generic(error("AccessDenied")));
        assert!(matches!(kind(&rules.iter().collect::<Vec<_>>()).read(BUCKET).await, Err(ProviderError::AccessDenied(_))));
    }

    #[tokio::test]
    async fn delete_of_missing_bucket_is_ok() {
        let delete = mock!(Client::delete_bucket).then_error(|| DeleteBucketError::generic(error("NoSuchBucket")));
        kind(&[&delete]).delete(BUCKET).await.unwrap();
    }

    #[tokio::test]
    async fn delete_of_non_empty_bucket_needs_force_destroy() {
        let delete = mock!(Client::delete_bucket).then_error(|| DeleteBucketError::generic(error("BucketNotEmpty")));
        let tags = mock!(Client::get_bucket_tagging).then_error(|| GetBucketTaggingError::generic(error("NoSuchTagSet")));
        let result = kind(&[&delete, &tags]).delete(BUCKET).await;
        assert_eq!(result, Err(ProviderError::Conflict(format!("bucket {BUCKET} is not empty; set force_destroy: true to delete its objects"))));
    }

    #[tokio::test]
    async fn delete_with_force_destroy_removes_every_version_first() {
        let delete = mock!(Client::delete_bucket)
            .sequence()
            .error(|| DeleteBucketError::generic(error("BucketNotEmpty")))
            .output(|| DeleteBucketOutput::builder().build())
            .build();
        let tags = mock!(Client::get_bucket_tagging)
            .then_output(|| GetBucketTaggingOutput::builder().tag_set(Tag::builder().key(FORCE_DESTROY_TAG).value("true").build().unwrap()).build().unwrap());
        let list = mock!(Client::list_object_versions).then_output(|| {
            ListObjectVersionsOutput::builder()
                .versions(ObjectVersion::builder().key("a").version_id("v1").build())
                .versions(ObjectVersion::builder().key("a").version_id("v2").build())
                .delete_markers(DeleteMarkerEntry::builder().key("b").version_id("m1").build())
                .is_truncated(false)
                .build()
        });
        let objects = mock!(Client::delete_objects)
            .match_requests(|r| {
                let sent: Vec<(&str, Option<&str>)> = r.delete().unwrap().objects().iter().map(|o| (o.key(), o.version_id())).collect();
                sent == [("a", Some("v1")), ("a", Some("v2")), ("b", Some("m1"))]
            })
            .then_output(|| DeleteObjectsOutput::builder().build());
        kind(&[&delete, &tags, &list, &objects]).delete(BUCKET).await.unwrap();
        assert_eq!((delete.num_calls(), objects.num_calls()), (2, 1));
        for action in ["s3:DeleteBucket", "s3:GetBucketTagging", "s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion"] {
            assert!(DELETE_ACTIONS.contains(&action), "{action}");
        }
    }

    #[tokio::test]
    async fn update_lifts_the_public_access_block_before_the_policy() {
        let calls = Arc::new(Mutex::new(Vec::<&'static str>::new()));
        let (c1, c2) = (calls.clone(), calls.clone());
        let policy = mock!(Client::put_bucket_policy).then_compute_output(move |_| {
            c1.lock().unwrap().push("PutBucketPolicy");
            PutBucketPolicyOutput::builder().build()
        });
        let block = mock!(Client::put_public_access_block)
            .match_requests(|r| r.public_access_block_configuration().and_then(|c| c.block_public_policy()) == Some(false))
            .then_compute_output(move |_| {
                c2.lock().unwrap().push("PutPublicAccessBlock");
                PutPublicAccessBlockOutput::builder().build()
            });
        let mut rules = vec![policy, block, head_ok()];
        rules.extend(read_rules(Tags::new()));
        let mut props = full_props();
        props["block_public_access"] = json!(false);
        let changed = ["policy".to_string(), "block_public_access".to_string()];
        kind(&rules.iter().collect::<Vec<_>>()).update(BUCKET, &desired(props), &changed).await.unwrap();
        assert_eq!(*calls.lock().unwrap(), ["PutPublicAccessBlock", "PutBucketPolicy"]);
    }

    #[tokio::test]
    async fn update_of_empty_lifecycle_deletes_it() {
        let delete = mock!(Client::delete_bucket_lifecycle)
            .then_output(|| aws_sdk_s3::operation::delete_bucket_lifecycle::DeleteBucketLifecycleOutput::builder().build());
        let mut rules = vec![delete, head_ok()];
        rules.extend(read_rules(Tags::new()));
        let mut props = full_props();
        props["lifecycle_rules"] = json!([]);
        kind(&rules.iter().collect::<Vec<_>>()).update(BUCKET, &desired(props), &["lifecycle_rules".to_string()]).await.unwrap();
        assert_eq!(rules[0].num_calls(), 1);
    }

    #[tokio::test]
    async fn find_owned_checks_the_ownership_tags() {
        let head = head_ok();
        let mut reads = read_rules(owner().tags());
        let mine = kind(&[&head].into_iter().chain(reads.iter()).collect::<Vec<_>>()).find_owned(&desired(json!({}))).await.unwrap();
        assert_eq!(mine.map(|o| o.id), Some(BUCKET.to_string()));

        reads[0] = mock!(Client::get_bucket_tagging).then_output(|| {
            let mut other = owner();
            other.address = "bucket.other".into();
            GetBucketTaggingOutput::builder().set_tag_set(Some(s3_tags(&other.tags()))).build().unwrap()
        });
        let theirs = kind(&[&head].into_iter().chain(reads.iter()).collect::<Vec<_>>()).find_owned(&desired(json!({}))).await.unwrap();
        assert_eq!(theirs, None);

        let missing = mock!(Client::head_bucket).then_http_response(|| status(404));
        assert_eq!(kind(&[&missing]).find_owned(&desired(json!({}))).await.unwrap(), None);
    }

    #[tokio::test]
    async fn find_owned_takes_an_untagged_empty_bucket_left_by_an_interrupted_create() {
        use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
        let head = head_ok();
        let reads = read_rules(Tags::new());
        let tagging = mock!(Client::put_bucket_tagging).then_output(|| PutBucketTaggingOutput::builder().build());
        let empty = mock!(Client::list_objects_v2).then_output(|| ListObjectsV2Output::builder().build());
        let rules: Vec<&Rule> = [&head, &tagging, &empty].into_iter().chain(reads.iter()).collect();
        assert_eq!(kind(&rules).find_owned(&desired(json!({}))).await.unwrap().map(|o| o.id), Some(BUCKET.to_string()));
        assert_eq!(tagging.num_calls(), 1, "tagged as ours at once");

        let full = mock!(Client::list_objects_v2)
            .then_output(|| ListObjectsV2Output::builder().contents(aws_sdk_s3::types::Object::builder().key("data").build()).build());
        let rules: Vec<&Rule> = [&head, &full].into_iter().chain(reads.iter()).collect();
        assert_eq!(kind(&rules).find_owned(&desired(json!({}))).await.unwrap(), None, "a bucket holding data is never taken");
    }
}
