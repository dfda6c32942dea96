//! AWS implementations of the engine's `ResourceKind`, one module per resource type.

pub mod acm_certificate;
pub mod acm_certificate_validation;
pub mod adopt;
pub mod aws;
pub mod backup_common;
pub mod backup_plan;
pub mod backup_selection;
pub mod backup_vault;
pub mod cloudtrail_trail;
pub mod cloudwatch_metric_alarm;
pub mod counted;
pub mod error;
pub mod identity;
pub mod kit;
pub mod tags;
pub mod throttle;

pub mod ec2_common;
pub mod ec2_eip;
pub mod ec2_internet_gateway;
pub mod ec2_nat_gateway;
pub mod ec2_route_table;
pub mod ec2_security_group;
pub mod ec2_subnet;
pub mod ec2_vpc;
pub mod ecr_repository;
pub mod eks_access_entry;
pub mod eks_addon;
pub mod eks_cluster;
pub mod eks_common;
pub mod eks_nodegroup;
pub mod eks_pod_identity;
pub mod iam_oidc_provider;
pub mod iam_policy;
pub mod iam_role;
pub mod kms_key;
pub mod logs_log_group;
pub mod rds_common;
pub mod rds_instance;
pub mod rds_parameter_group;
pub mod rds_subnet_group;
pub mod read_each;
pub mod route53_common;
pub mod route53_record;
pub mod route53_zone;
pub mod s3_bucket;
mod schema_check;
#[cfg(test)]
mod schema_gen;
#[cfg(test)]
mod schema_tests;
pub mod secretsmanager_secret;
pub mod sns_subscription;
pub mod sns_topic;
pub mod sqs_queue;
pub mod ssm_parameter;
pub mod wafv2_common;
pub mod wafv2_ip_set;
pub mod wafv2_logging_configuration;
pub mod wafv2_web_acl;
pub mod wafv2_web_acl_association;

use std::sync::Arc;

/// A real SDK client whose HTTP layer answers from aws-smithy-mocks rules (tests only).
#[cfg(test)]
#[macro_export]
macro_rules! mocked_client {
    ($sdk:ident, $rules:expr) => {{
        let mut mocks = aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(aws_smithy_mocks::RuleMode::MatchAny);
        for rule in $rules {
            mocks = mocks.with_rule(rule);
        }
        let config = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new("us-east-1"))
            .credentials_provider($sdk::config::Credentials::new("test", "test", None, None, "test"))
            .retry_config($sdk::config::retry::RetryConfig::disabled())
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(mocks)
            .build();
        $sdk::Client::from_conf(config)
    }};
}

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
    r.register(Arc::new(ec2_vpc::Ec2Vpc::new(ctx)));
    r.register(Arc::new(ec2_subnet::Ec2Subnet::new(ctx)));
    r.register(Arc::new(ec2_internet_gateway::Ec2InternetGateway::new(ctx)));
    r.register(Arc::new(ec2_eip::Ec2Eip::new(ctx)));
    r.register(Arc::new(ec2_nat_gateway::Ec2NatGateway::new(ctx)));
    r.register(Arc::new(ec2_route_table::Ec2RouteTable::new(ctx)));
    r.register(Arc::new(ec2_security_group::Ec2SecurityGroup::new(ctx)));
    r.register(Arc::new(eks_cluster::EksCluster::new(ctx)));
    r.register(Arc::new(eks_nodegroup::EksNodegroup::new(ctx)));
    r.register(Arc::new(eks_access_entry::EksAccessEntry::new(ctx)));
    r.register(Arc::new(eks_addon::EksAddon::new(ctx)));
    r.register(Arc::new(eks_pod_identity::EksPodIdentityAssociation::new(ctx)));
    r.register(Arc::new(iam_oidc_provider::IamOidcProvider::new(ctx)));
    r.register(Arc::new(rds_subnet_group::RdsSubnetGroup::new(ctx)));
    r.register(Arc::new(rds_parameter_group::RdsParameterGroup::new(ctx)));
    r.register(Arc::new(rds_instance::RdsInstance::new(ctx)));
    r.register(Arc::new(wafv2_ip_set::Wafv2IpSet::new(ctx)));
    r.register(Arc::new(wafv2_web_acl::Wafv2WebAcl::new(ctx)));
    r.register(Arc::new(wafv2_web_acl_association::Wafv2WebAclAssociation::new(ctx)));
    r.register(Arc::new(wafv2_logging_configuration::Wafv2LoggingConfiguration::new(ctx)));
    r.register(Arc::new(secretsmanager_secret::SecretsManagerSecret::new(ctx)));
    r.register(Arc::new(ssm_parameter::SsmParameter::new(ctx)));
    r.register(Arc::new(logs_log_group::LogsLogGroup::new(ctx)));
    r.register(Arc::new(ecr_repository::EcrRepository::new(ctx)));
    r.register(Arc::new(backup_vault::BackupVault::new(ctx)));
    r.register(Arc::new(backup_plan::BackupPlanKind::new(ctx)));
    r.register(Arc::new(backup_selection::BackupSelectionKind::new(ctx)));
    r.register(Arc::new(cloudtrail_trail::CloudTrailTrail::new(ctx)));
    r.register(Arc::new(acm_certificate::AcmCertificate::new(ctx)));
    r.register(Arc::new(acm_certificate_validation::AcmCertificateValidation::new(ctx)));
    r.register(Arc::new(cloudwatch_metric_alarm::CloudWatchMetricAlarm::new(ctx)));
    r.register(Arc::new(route53_zone::Route53Zone::new(ctx)));
    r.register(Arc::new(route53_record::Route53Record::new(ctx)));
    r.map(counted::Counted::wrap)
}

/// Every kind, with clients that are never called: for the IAM action tables and schemas.
pub fn offline_registry() -> Registry {
    let config = aws_types::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
    registry(&AwsContext::from_config(config))
}

/// The schemas of every kind, for offline work (validate, schema, graph).
pub fn schemas() -> Vec<&'static ResourceSchema> {
    vec![
        &kms_key::SCHEMA,
        &s3_bucket::SCHEMA,
        &sqs_queue::SCHEMA,
        &sns_topic::SCHEMA,
        &sns_subscription::SCHEMA,
        &iam_role::SCHEMA,
        &iam_policy::SCHEMA,
        &ec2_vpc::SCHEMA,
        &ec2_subnet::SCHEMA,
        &ec2_internet_gateway::SCHEMA,
        &ec2_eip::SCHEMA,
        &ec2_nat_gateway::SCHEMA,
        &ec2_route_table::SCHEMA,
        &ec2_security_group::SCHEMA,
        &eks_cluster::SCHEMA,
        &eks_nodegroup::SCHEMA,
        &eks_access_entry::SCHEMA,
        &eks_addon::SCHEMA,
        &eks_pod_identity::SCHEMA,
        &iam_oidc_provider::SCHEMA,
        &rds_subnet_group::SCHEMA,
        &rds_parameter_group::SCHEMA,
        &rds_instance::SCHEMA,
        &wafv2_ip_set::SCHEMA,
        &wafv2_web_acl::SCHEMA,
        &wafv2_web_acl_association::SCHEMA,
        &wafv2_logging_configuration::SCHEMA,
        &secretsmanager_secret::SCHEMA,
        &ssm_parameter::SCHEMA,
        &logs_log_group::SCHEMA,
        &ecr_repository::SCHEMA,
        &backup_vault::SCHEMA,
        &backup_plan::SCHEMA,
        &backup_selection::SCHEMA,
        &cloudtrail_trail::SCHEMA,
        &acm_certificate::SCHEMA,
        &acm_certificate_validation::SCHEMA,
        &cloudwatch_metric_alarm::SCHEMA,
        &route53_zone::SCHEMA,
        &route53_record::SCHEMA,
    ]
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
