//! The schema of `aws.s3.bucket`: every prop with AWS's rules, and the IAM actions of each operation.

use cairn_engine::provider::{NameScope, Naming, PropSpec, PropType, PropsRule, ResourceSchema, TextRule};
use serde_json::Value;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.s3.bucket",
    doc: "An S3 bucket, with default encryption, versioning, public access block, lifecycle rules, a bucket policy, access logging and replication.",
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
        PropSpec::new(
            "logging",
            PropType::Struct(super::logging::FIELDS),
            "Server access logging: `{ target_bucket, target_prefix (optional) }`. The target must admit logging.s3.amazonaws.com \
             (the wiring adds that statement to a target in the stack); unset turns logging off.",
        )
        .default("null"),
        PropSpec::new(
            "replication_configuration",
            PropType::Struct(super::replication::FIELDS),
            "Replication: `{ role, rules: [{ id, status, priority, filter: { prefix }, destination: { bucket (ARN), storage_class }, \
             delete_marker_replication: { status } }] }`. Needs versioning on this bucket and on each destination; unset removes it.",
        )
        .default("null"),
    ],
    attrs: &["arn", "bucket", "region"],
    taggable: true,
    rules: &[PropsRule { props: &["versioning"], check: super::replication::props_rule }],
};

/// Bucket names: 3 to 63 lowercase letters, digits, `.` and `-`, unique across all of AWS.
/// (AWS also wants a letter or digit first and last; default names always have one.)
pub const NAMING: Naming = Naming::new(TextRule::len(3, 63).chars(".-").lowercase(), NameScope::Global);

/// The storage classes a lifecycle transition may name (PutBucketLifecycleConfiguration).
pub(super) const TRANSITION_CLASSES: &[&str] = &["GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "DEEP_ARCHIVE", "GLACIER_IR"];

/// A KMS key only goes with a KMS algorithm.
pub(super) fn sse_rule(sse: &Value) -> Vec<String> {
    match (sse.get("algorithm").and_then(Value::as_str), sse.get("kms_key")) {
        (Some("AES256"), Some(k)) if !k.is_null() => vec!["kms_key needs algorithm \"aws:kms\" or \"aws:kms:dsse\"".into()],
        _ => vec![],
    }
}

/// AWS returns transitions in its own order and `read` sorts them by days, so only an
/// ascending list reads back as written.
pub(super) fn ascending_days(transitions: &Value) -> Vec<String> {
    let days: Vec<i64> = transitions.as_array().map(|a| a.iter().filter_map(|t| t.get("days")?.as_i64()).collect()).unwrap_or_default();
    if days.windows(2).any(|w| w[0] > w[1]) {
        vec!["must list transitions in ascending order of days".into()]
    } else {
        vec![]
    }
}

pub(super) const READ_ACTIONS: &[&str] = &[
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetLifecycleConfiguration",
    "s3:GetBucketPolicy",
    "s3:GetBucketLogging",
    "s3:GetReplicationConfiguration",
];
pub(super) const CREATE_ACTIONS: &[&str] = &[
    "s3:CreateBucket",
    // CreateBucket with tags in its configuration needs it.
    "s3:TagResource",
    "s3:PutBucketTagging",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:PutBucketLogging",
    // PutBucketReplication (and DeleteBucketReplication), which also passes the role to S3.
    "s3:PutReplicationConfiguration",
    "iam:PassRole",
    "s3:ListBucket",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetLifecycleConfiguration",
    "s3:GetBucketPolicy",
    "s3:GetBucketLogging",
    "s3:GetReplicationConfiguration",
];
pub(super) const UPDATE_ACTIONS: &[&str] = &[
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketVersioning",
    // Also authorises DeleteBucketLifecycle.
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketLogging",
    // Also authorises DeleteBucketReplication; passing the role needs iam:PassRole.
    "s3:PutReplicationConfiguration",
    "iam:PassRole",
    // Also authorises DeleteBucketTagging.
    "s3:PutBucketTagging",
    "s3:ListBucket",
    "s3:GetBucketTagging",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetLifecycleConfiguration",
    "s3:GetBucketPolicy",
    "s3:GetBucketLogging",
    "s3:GetReplicationConfiguration",
];
pub(super) const DELETE_ACTIONS: &[&str] = &[
    "s3:DeleteBucket",
    "s3:GetBucketTagging",
    "s3:ListBucketVersions",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    // A force-destroyed bucket that logs into itself stops logging before it is emptied.
    "s3:GetBucketLogging",
    "s3:PutBucketLogging",
];
