//! `aws.wafv2.logging_configuration`: placeholder until implemented.

use async_trait::async_trait;
use cairn_engine::provider::{Desired, Observed, Operation, ProviderError, ResourceKind, ResourceSchema};

use crate::aws::AwsContext;

pub static SCHEMA: ResourceSchema = ResourceSchema { kind: "aws.wafv2.logging_configuration", doc: "", props: &[], attrs: &["arn"], taggable: true };

pub struct Wafv2LoggingConfiguration;

impl Wafv2LoggingConfiguration {
    pub fn new(_ctx: &AwsContext) -> Self {
        Wafv2LoggingConfiguration
    }
}

#[async_trait]
impl ResourceKind for Wafv2LoggingConfiguration {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }
    async fn read(&self, _id: &str) -> Result<Option<Observed>, ProviderError> {
        Err(ProviderError::Fatal("aws.wafv2.logging_configuration is not implemented".into()))
    }
    async fn create(&self, _d: &Desired) -> Result<Observed, ProviderError> {
        Err(ProviderError::Fatal("aws.wafv2.logging_configuration is not implemented".into()))
    }
    async fn update(&self, _id: &str, _d: &Desired, _c: &[String]) -> Result<Observed, ProviderError> {
        Err(ProviderError::Fatal("aws.wafv2.logging_configuration is not implemented".into()))
    }
    async fn delete(&self, _id: &str) -> Result<(), ProviderError> {
        Err(ProviderError::Fatal("aws.wafv2.logging_configuration is not implemented".into()))
    }
    async fn find_owned(&self, _d: &Desired) -> Result<Option<Observed>, ProviderError> {
        Ok(None)
    }
    fn iam_actions(&self, _op: Operation) -> &'static [&'static str] {
        &[]
    }
}
