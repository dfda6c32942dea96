//! Builds the AWS SDK configuration every kind shares: credentials chain, region, endpoint override, retries.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_types::SdkConfig;

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

/// The shared SDK configuration; clients are built from it per kind.
#[derive(Clone, Debug)]
pub struct AwsContext {
    pub config: SdkConfig,
    /// Path-style S3 addressing, needed against local endpoints.
    pub s3_force_path_style: bool,
}

impl AwsContext {
    /// Loads credentials from the default chain (environment, profile, SSO, web identity).
    pub async fn load(settings: &AwsSettings) -> AwsContext {
        let attempts = if settings.max_attempts == 0 { 8 } else { settings.max_attempts };
        // Adaptive retry adds client-side rate limiting on top of backoff, which is what
        // a burst of concurrent creates against one API needs; no hand-written sleeps.
        let retry = RetryConfig::adaptive().with_max_attempts(attempts);
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry);
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
        AwsContext { config, s3_force_path_style }
    }

    /// A context over a fixed SDK config (tests with mocked clients).
    pub fn from_config(config: SdkConfig) -> AwsContext {
        AwsContext { config, s3_force_path_style: true }
    }

    pub fn region(&self) -> String {
        self.config.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".to_string())
    }
}
