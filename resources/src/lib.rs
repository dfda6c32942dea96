//! AWS implementations of the engine's `ResourceKind`, one module per resource type.

pub mod aws;
pub mod error;
pub mod tags;

pub mod kms_key;
pub mod s3_bucket;
pub mod sqs_queue;
pub mod sns_topic;
pub mod sns_subscription;
pub mod iam_role;
pub mod iam_policy;

use std::sync::Arc;

use cairn_engine::provider::{Registry, ResourceSchema, SchemaSource};

pub use aws::{AwsContext, AwsSettings};

/// Every kind with a live SDK client behind it.
pub fn registry(ctx: &AwsContext) -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(kms_key::KmsKey::new(ctx)));
    r.register(Arc::new(s3_bucket::S3Bucket::new(ctx)));
    r.register(Arc::new(sqs_queue::SqsQueue::new(ctx)));
    r.register(Arc::new(sns_topic::SnsTopic::new(ctx)));
    r.register(Arc::new(sns_subscription::SnsSubscription::new(ctx)));
    r.register(Arc::new(iam_role::IamRole::new(ctx)));
    r.register(Arc::new(iam_policy::IamPolicy::new(ctx)));
    r
}

/// The schemas of every kind, for offline work (validate, schema, graph).
pub fn schemas() -> Vec<&'static ResourceSchema> {
    vec![&kms_key::SCHEMA, &s3_bucket::SCHEMA, &sqs_queue::SCHEMA, &sns_topic::SCHEMA, &sns_subscription::SCHEMA, &iam_role::SCHEMA, &iam_policy::SCHEMA]
}

/// A `SchemaSource` that needs no AWS configuration.
pub struct Schemas;

impl SchemaSource for Schemas {
    fn schema_of(&self, kind: &str) -> Option<&'static ResourceSchema> {
        schemas().into_iter().find(|s| s.kind == kind)
    }
    fn all_schemas(&self) -> Vec<&'static ResourceSchema> {
        schemas()
    }
}
