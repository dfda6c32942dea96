//! Reads AWS (the emulator) through the SDK, independently of cairn, to check what an apply did.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;

use crate::harness::sdk_config;

pub struct Aws {
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub iam: aws_sdk_iam::Client,
}

impl Aws {
    pub async fn new() -> Aws {
        let c = sdk_config().await;
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&c).force_path_style(true).build());
        Aws { sqs: aws_sdk_sqs::Client::new(&c), sns: aws_sdk_sns::Client::new(&c), s3, kms: aws_sdk_kms::Client::new(&c), iam: aws_sdk_iam::Client::new(&c) }
    }

    /// The queue's URL, or None when it does not exist.
    pub async fn queue_url(&self, name: &str) -> Option<String> {
        self.sqs.get_queue_url().queue_name(name).send().await.ok().and_then(|o| o.queue_url().map(str::to_string))
    }

    pub async fn queue_attrs(&self, url: &str) -> BTreeMap<String, String> {
        let out = self.sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::All).send().await.expect("GetQueueAttributes");
        out.attributes().map(|m| m.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect()).unwrap_or_default()
    }

    pub async fn queue_tags(&self, url: &str) -> BTreeMap<String, String> {
        let out = self.sqs.list_queue_tags().queue_url(url).send().await.expect("ListQueueTags");
        out.tags().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    }

    pub async fn bucket_exists(&self, name: &str) -> bool {
        self.s3.head_bucket().bucket(name).send().await.is_ok()
    }

    pub async fn bucket_tags(&self, name: &str) -> BTreeMap<String, String> {
        let out = self.s3.get_bucket_tagging().bucket(name).send().await.expect("GetBucketTagging");
        out.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
    }

    /// The key behind an alias, and whether it is usable (not pending deletion).
    pub async fn key_by_alias(&self, alias: &str) -> Option<(String, bool)> {
        let out = self.kms.describe_key().key_id(alias).send().await.ok()?;
        let meta = out.key_metadata()?;
        let usable = meta.key_state().map(|s| s.as_str() != "PendingDeletion").unwrap_or(false);
        Some((meta.key_id().to_string(), usable))
    }

    pub async fn key_state(&self, key_id: &str) -> String {
        let out = self.kms.describe_key().key_id(key_id).send().await.expect("DescribeKey");
        out.key_metadata().and_then(|m| m.key_state()).map(|s| s.as_str().to_string()).unwrap_or_default()
    }

    pub async fn topic_exists(&self, arn: &str) -> bool {
        self.sns.get_topic_attributes().topic_arn(arn).send().await.is_ok()
    }

    pub async fn role_exists(&self, name: &str) -> bool {
        self.iam.get_role().role_name(name).send().await.is_ok()
    }
}

/// The ownership tags every cairn-created resource carries.
pub fn assert_owned(tags: &BTreeMap<String, String>, stack: &str, env: &str, address: &str) {
    assert_eq!(tags.get("cairn:stack").map(String::as_str), Some(stack), "cairn:stack tag in {tags:?}");
    assert_eq!(tags.get("cairn:env").map(String::as_str), Some(env), "cairn:env tag in {tags:?}");
    assert_eq!(tags.get("cairn:address").map(String::as_str), Some(address), "cairn:address tag in {tags:?}");
    assert_eq!(tags.get("Env").map(String::as_str), Some(env), "Env tag in {tags:?}");
    assert_eq!(tags.get("Project").map(String::as_str), Some("LegacyPlatform"), "Project tag in {tags:?}");
}
