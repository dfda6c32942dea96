//! Builds the AWS SDK configuration every kind shares: credentials chain, region, endpoint override, retries.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder as HttpClientBuilder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;

use crate::throttle::{Budgets, FamilyThrottle, PacedHttpClient};

/// First retry delay; later ones double, with full jitter. Short because pacing a throttled
/// family is the rate limiter's job, not the backoff's.
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);

/// Where and how to reach AWS (or an emulator).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    /// Send every call here instead of AWS (LocalStack, moto). `AWS_ENDPOINT_URL` works too.
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    /// Attempts per call, including the first, for throttling and transient errors.
    pub max_attempts: u32,
}

/// Counts AWS operations by `Service.Operation` (once per operation, not per retry), so a
/// refresh or an apply can report how many calls it made, and by the kind that made them.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
    by_kind: Arc<Mutex<BTreeMap<String, BTreeMap<String, u64>>>>,
}

impl CallCounter {
    pub fn total(&self) -> u64 {
        self.calls.lock().map(|m| m.values().sum()).unwrap_or(0)
    }
    pub fn by_operation(&self) -> BTreeMap<String, u64> {
        self.calls.lock().map(|m| m.clone()).unwrap_or_default()
    }
    /// Calls by kind (`aws.sqs.queue`), then `Service.Operation`; calls made outside a kind's
    /// method (caller identity, the state backend) are under `-`.
    pub fn by_kind(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.by_kind.lock().map(|m| m.clone()).unwrap_or_default()
    }
    pub fn reset(&self) {
        if let Ok(mut m) = self.calls.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.by_kind.lock() {
            m.clear();
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CairnCallCounter"
    }
    // Not `read_before_execution`: client interceptors run that before the operation has put
    // its `Metadata` in the bag. Serialization happens once per operation, retries excluded.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map(|m| format!("{}.{}", m.service(), m.name())).unwrap_or_else(|| "unknown".into());
        if let Ok(mut m) = self.by_kind.lock() {
            let kind = crate::counted::current_kind().filter(|k| !k.is_empty()).unwrap_or("-");
            *m.entry(kind.to_string()).or_default().entry(op.clone()).or_default() += 1;
        }
        if let Ok(mut m) = self.calls.lock() {
            *m.entry(op).or_default() += 1;
        }
        Ok(())
    }
}

/// The shared SDK configuration; clients are built from it per kind.
#[derive(Clone, Debug)]
pub struct AwsContext {
    pub config: SdkConfig,
    /// Path-style S3 addressing, needed against local endpoints.
    pub s3_force_path_style: bool,
    /// Every client built through this context counts its calls here.
    pub calls: CallCounter,
    /// Rate budgets per (service, operation family), shared by every client of this context.
    pub budgets: Budgets,
}

macro_rules! client {
    ($fn_name:ident, $krate:ident) => {
        pub fn $fn_name(&self) -> $krate::Client {
            $krate::Client::from_conf(
                $krate::config::Builder::from(&self.config).interceptor(self.calls.clone()).interceptor(FamilyThrottle::new(self.budgets.clone())).build(),
            )
        }
    };
}

impl AwsContext {
    /// Loads credentials from the default chain (environment, profile, SSO, web identity).
    pub async fn load(settings: &AwsSettings) -> AwsContext {
        let attempts = if settings.max_attempts == 0 { 8 } else { settings.max_attempts };
        // Standard mode: bounded attempts, exponential backoff with jitter. Rate limiting is
        // per (service, operation family) in `throttle`, not the SDK's per-service adaptive mode,
        // so one throttled API does not slow every other call down.
        let retry = RetryConfig::standard().with_max_attempts(attempts).with_initial_backoff(INITIAL_BACKOFF);
        let budgets = Budgets::default();
        let http = PacedHttpClient::new(default_http_client(), budgets.clone());
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry).http_client(http);
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let s3_force_path_style = config.endpoint_url().is_some();
        AwsContext { config, s3_force_path_style, calls: CallCounter::default(), budgets }
    }

    /// A context over a fixed SDK config (tests with mocked clients).
    pub fn from_config(config: SdkConfig) -> AwsContext {
        AwsContext { config, s3_force_path_style: true, calls: CallCounter::default(), budgets: Budgets::default() }
    }

    client!(sqs, aws_sdk_sqs);
    client!(sns, aws_sdk_sns);
    client!(kms, aws_sdk_kms);
    client!(iam, aws_sdk_iam);
    client!(sts, aws_sdk_sts);
    client!(ec2, aws_sdk_ec2);
    client!(eks, aws_sdk_eks);
    client!(rds, aws_sdk_rds);
    client!(wafv2, aws_sdk_wafv2);
    client!(elbv2, aws_sdk_elasticloadbalancingv2);
    client!(ecr, aws_sdk_ecr);
    client!(logs, aws_sdk_cloudwatchlogs);
    client!(cloudwatch, aws_sdk_cloudwatch);
    client!(secretsmanager, aws_sdk_secretsmanager);
    client!(ssm, aws_sdk_ssm);
    client!(cloudtrail, aws_sdk_cloudtrail);
    client!(backup, aws_sdk_backup);
    client!(acm, aws_sdk_acm);
    // Route 53 is global: the SDK's endpoint rules send every region's calls to
    // route53.amazonaws.com signed for us-east-1 (route53.amazonaws.com.cn in China), and a
    // custom endpoint (an emulator) as it is.
    client!(route53, aws_sdk_route53);

    /// S3 with path-style addressing when talking to a local endpoint.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(self.s3_force_path_style)
                .interceptor(self.calls.clone())
                .interceptor(FamilyThrottle::new(self.budgets.clone()))
                .build(),
        )
    }

    pub fn region(&self) -> String {
        self.config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_string())
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, proxy settings from the
/// environment), built here because the SDK only exposes it through clients it configures
/// itself, and cairn wraps it in the per-family pacer.
fn default_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    HttpClientBuilder::new().build_with_connector_fn(|settings, components| {
        let mut conn = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}
