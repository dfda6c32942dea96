//! `aws.s3.bucket`: an S3 bucket with its encryption, versioning, public access block, lifecycle rules, policy, access logging and replication.

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
use cairn_engine::provider::{Desired, Observed, Operation, Props, ProviderError, ResourceKind, ResourceSchema, Tags};
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

#[cfg(test)]
mod agreement_tests;
#[cfg(test)]
mod log_replication_tests;
mod logging;
mod read;
mod replication;
mod schema;
mod spec;
#[cfg(test)]
mod tests;

use schema::*;
pub use schema::{NAMING, SCHEMA};
use spec::*;

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
            // A bucket that logs its access into itself gets a log object for the very calls
            // that empty it: logging stops first.
            if self.logging_of(name).await?.is_some_and(|l| l["target_bucket"] == name) {
                self.put_logging(name, None).await?;
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
        // After the policy: a bucket that logs into itself admits the log delivery first.
        if spec.logging.is_some() {
            self.put_logging(name, spec.logging.as_ref()).await?;
        }
        // After versioning, which S3 requires before it accepts a replication configuration.
        if spec.replication.is_some() {
            self.put_replication(name, spec.replication.as_ref()).await?;
        }
        Ok(())
    }
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
        let replication = has("replication_configuration");
        // S3 refuses to suspend versioning while replication is configured: remove it first.
        if replication && spec.replication.is_none() {
            self.put_replication(id, None).await?;
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
        if has("logging") {
            self.put_logging(id, spec.logging.as_ref()).await?;
        }
        if replication && spec.replication.is_some() {
            self.put_replication(id, spec.replication.as_ref()).await?;
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
