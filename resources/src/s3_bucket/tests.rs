//! Unit tests of `aws.s3.bucket` against aws-smithy-mocks: request shapes, call order, reads, adoption and deletes.

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
use aws_sdk_s3::operation::get_bucket_logging::{GetBucketLoggingError, GetBucketLoggingOutput};
use aws_sdk_s3::operation::get_bucket_policy::{GetBucketPolicyError, GetBucketPolicyOutput};
use aws_sdk_s3::operation::get_bucket_replication::{GetBucketReplicationError, GetBucketReplicationOutput};
use aws_sdk_s3::operation::get_bucket_tagging::{GetBucketTaggingError, GetBucketTaggingOutput};
use aws_sdk_s3::operation::get_bucket_versioning::{GetBucketVersioningError, GetBucketVersioningOutput};
use aws_sdk_s3::operation::get_public_access_block::{GetPublicAccessBlockError, GetPublicAccessBlockOutput};
use aws_sdk_s3::operation::head_bucket::HeadBucketError;
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::operation::put_bucket_encryption::PutBucketEncryptionOutput;
use aws_sdk_s3::operation::put_bucket_lifecycle_configuration::PutBucketLifecycleConfigurationOutput;
use aws_sdk_s3::operation::put_bucket_logging::PutBucketLoggingOutput;
use aws_sdk_s3::operation::put_bucket_policy::PutBucketPolicyOutput;
use aws_sdk_s3::operation::put_bucket_replication::PutBucketReplicationOutput;
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

pub(super) const BUCKET: &str = "shop-prod-data";
pub(super) const KMS_ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

pub(super) fn kind(rules: &[&Rule]) -> S3Bucket {
    kind_in("eu-west-1", rules)
}

pub(super) fn kind_in(region: &'static str, rules: &[&Rule]) -> S3Bucket {
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

pub(super) fn owner() -> Owner {
    Owner { stack: "shop".into(), env: "prod".into(), address: "bucket.data".into() }
}

pub(super) fn desired(props: Value) -> Desired {
    let owner = owner();
    let mut tags = owner.tags();
    tags.insert("team".into(), "data".into());
    Desired { props: props.as_object().unwrap().clone(), tags, owner, default_name: BUCKET.into(), idempotency_token: "t".into() }
}

pub(super) fn error(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message("mocked").build()
}

pub(super) fn status(code: u16) -> HttpResponse {
    HttpResponse::new(StatusCode::try_from(code).unwrap(), SdkBody::empty())
}

pub(super) fn s3_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap()).collect()
}

pub(super) fn full_props() -> Value {
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
        "force_destroy": true,
        "logging": {"target_bucket": "shop-prod-logs", "target_prefix": "data/"},
        "replication_configuration": {"role": "arn:aws:iam::111122223333:role/replication", "rules": [
            {"id": "all", "status": "Enabled", "priority": 1, "filter": {}, "delete_marker_replication": {"status": "Disabled"},
             "destination": {"bucket": "arn:aws:s3:::shop-prod-replica", "storage_class": "STANDARD_IA"}},
            {"id": "reports", "status": "Disabled", "priority": 2, "filter": {"prefix": "reports/"}, "delete_marker_replication": {"status": "Enabled"},
             "destination": {"bucket": "arn:aws:s3:::shop-prod-replica"}}
        ]}
    })
}

/// The stack's `logging` and `replication_configuration` of `full_props()`, typed.
pub(super) fn full_settings() -> (logging::Logging, replication::Replication) {
    let p = full_props();
    (serde_json::from_value(p["logging"].clone()).unwrap(), serde_json::from_value(p["replication_configuration"].clone()).unwrap())
}

/// The calls `read` makes after HeadBucket, answering with exactly `full_props()` and `tags`.
pub(super) fn read_rules(tags: Tags) -> Vec<Rule> {
    vec![
        mock!(Client::get_bucket_tagging).then_output(move || GetBucketTaggingOutput::builder().set_tag_set(Some(s3_tags(&tags))).build().unwrap()),
        mock!(Client::get_bucket_versioning).then_output(|| GetBucketVersioningOutput::builder().status(BucketVersioningStatus::Enabled).build()),
        mock!(Client::get_bucket_encryption).then_output(|| {
            let by_default = ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::AwsKms).kms_master_key_id(KMS_ARN).build().unwrap();
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
        mock!(Client::get_bucket_logging).then_output(|| {
            let status = logging::Logging::to_sdk(Some(&full_settings().0)).unwrap();
            GetBucketLoggingOutput::builder().set_logging_enabled(status.logging_enabled().cloned()).build()
        }),
        mock!(Client::get_bucket_replication)
            .then_output(|| GetBucketReplicationOutput::builder().replication_configuration(full_settings().1.to_sdk().unwrap()).build()),
    ]
}

pub(super) fn head_ok() -> Rule {
    mock!(Client::head_bucket).then_output(|| HeadBucketOutput::builder().bucket_region("eu-west-1").build())
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
    let note = log("PutBucketLogging");
    let logging = mock!(Client::put_bucket_logging)
        .match_requests(|r| {
            let enabled = r.bucket_logging_status().and_then(|s| s.logging_enabled());
            enabled.map(|e| (e.target_bucket(), e.target_prefix())) == Some(("shop-prod-logs", "data/"))
        })
        .then_compute_output(move |_| {
            note();
            PutBucketLoggingOutput::builder().build()
        });
    let note = log("PutBucketReplication");
    let replication = mock!(Client::put_bucket_replication)
        .match_requests(|r| {
            let c = r.replication_configuration().unwrap();
            let rules = c.rules();
            c.role() == "arn:aws:iam::111122223333:role/replication"
                && rules.len() == 2
                && rules[0].filter().and_then(|f| f.prefix()) == Some("")
                && rules[1].filter().and_then(|f| f.prefix()) == Some("reports/")
                && rules[1].priority() == Some(2)
                && rules[0].destination().and_then(|d| d.storage_class()) == Some(&aws_sdk_s3::types::StorageClass::StandardIa)
        })
        .then_compute_output(move |_| {
            note();
            PutBucketReplicationOutput::builder().build()
        });
    let reads = read_rules(want_tags);
    let mut rules = vec![&head, &create, &tagging, &block, &encryption, &versioning, &lifecycle, &policy, &logging, &replication];
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
            "PutBucketPolicy",
            "PutBucketLogging",
            "PutBucketReplication"
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
        "s3:PutBucketLogging",
        "s3:PutReplicationConfiguration",
        "iam:PassRole",
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
        mock!(Client::get_bucket_logging).then_error(|| GetBucketLoggingError::generic(error("NoSuchBucket"))),
        mock!(Client::get_bucket_replication).then_error(|| GetBucketReplicationError::generic(error("NoSuchBucket"))),
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
        mock!(Client::get_bucket_lifecycle_configuration).then_error(|| GetBucketLifecycleConfigurationError::generic(error("NoSuchLifecycleConfiguration"))),
        mock!(Client::get_bucket_policy).then_error(|| GetBucketPolicyError::generic(error("NoSuchBucketPolicy"))),
        mock!(Client::get_bucket_logging).then_output(|| GetBucketLoggingOutput::builder().build()),
        mock!(Client::get_bucket_replication).then_error(|| GetBucketReplicationError::generic(error("ReplicationConfigurationNotFoundError"))),
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
    let logging = mock!(Client::get_bucket_logging).then_output(|| GetBucketLoggingOutput::builder().build());
    kind(&[&delete, &tags, &list, &objects, &logging]).delete(BUCKET).await.unwrap();
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
    let delete =
        mock!(Client::delete_bucket_lifecycle).then_output(|| aws_sdk_s3::operation::delete_bucket_lifecycle::DeleteBucketLifecycleOutput::builder().build());
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
