//! Helpers shared by the EKS kinds: error classes, waits (SDK waiters and DescribeUpdate polling), tags and prop parsing.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_eks::client::Waiters;
use aws_sdk_eks::config::{AsyncSleep, SharedAsyncSleep};
use aws_sdk_eks::types::Update;
use aws_sdk_eks::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use aws_smithy_runtime_api::client::waiters::FinalPoll;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::sdk_config::SharedTimeSource;
use cairn_engine::provider::{Desired, PropType, ProviderError, ResourceSchema, Tags, TextRule};
use serde_json::Value;

use crate::error::classify;
use crate::tags::tag_changes;

/// Cluster names (CreateCluster): 1 to 100 letters, digits, `-` and `_`. (EKS also wants a
/// letter or digit first; default names always start with one.)
pub const CLUSTER_NAME: TextRule = TextRule::len(1, 100).chars("-_");

/// An IAM ARN (role, user, key): at least `arn:aws:iam::` and an account.
pub const ARN: PropType = PropType::Text(TextRule::len(20, 2_048));

/// Minutes to wait when no `wait_timeout_minutes` applies (deletes get no desired props).
pub const DEFAULT_WAIT_MINUTES: u64 = 30;

/// `classify`, plus the EKS codes it does not know: `ResourceInUseException` (the name is
/// taken, or the cluster still has node groups / is mid-update) is a conflict, and EKS's
/// own server faults are worth retrying.
pub fn eks_error<E, R>(operation: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    match (code.as_deref(), classify(operation, err)) {
        (Some(code), ProviderError::Fatal(text)) => match code {
            "ResourceInUseException" => ProviderError::Conflict(text),
            "ServerException" | "ServiceUnavailableException" | "ResourcePropagationDelayException" => ProviderError::Retryable(text),
            "ResourceLimitExceededException" | "UnsupportedAvailabilityZoneException" => ProviderError::Invalid(text),
            _ => ProviderError::Fatal(text),
        },
        (_, other) => other,
    }
}

/// Shorthand for `.map_err(|e| eks_error(op, e))`.
pub trait EksResultExt<T> {
    fn eks(self, operation: &str) -> Result<T, ProviderError>;
}

impl<T, E, R> EksResultExt<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn eks(self, operation: &str) -> Result<T, ProviderError> {
        self.map_err(|e| eks_error(operation, e))
    }
}

/// How an SDK waiter ended, once errors that are not about the waited-for state are classified.
#[derive(Debug)]
pub enum Waited<O> {
    Reached,
    TimedOut,
    /// A failure state (e.g. `FAILED`, `CREATE_FAILED`): the last response, to report why.
    Failed(O),
}

pub fn waited<O, E>(operation: &str, result: Result<FinalPoll<O, SdkError<E, HttpResponse>>, WaiterError<O, E>>) -> Result<Waited<O>, ProviderError>
where
    O: std::fmt::Debug,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(Waited::Reached),
        Err(WaiterError::ExceededMaxWait(_)) => Ok(Waited::TimedOut),
        Err(WaiterError::FailureState(failure)) => match failure.into_final_poll().into_result() {
            Ok(output) => Ok(Waited::Failed(output)),
            Err(e) => Err(ProviderError::Fatal(format!("{operation}: {}: {}", e.code().unwrap_or("error"), e.message().unwrap_or_default()))),
        },
        Err(WaiterError::OperationFailed(failed)) => Err(eks_error(operation, failed.into_error())),
        Err(other) => Err(ProviderError::Fatal(format!("{operation}: waiter: {}", DisplayErrorContext(&other)))),
    }
}

/// The message for a create or update wait that ran out of time.
pub fn still(what: &str, state: &str, minutes: u64) -> ProviderError {
    ProviderError::Retryable(format!("{what} is still {state} after {minutes} minutes; raise wait_timeout_minutes or re-run apply to continue waiting"))
}

/// The message for a delete wait that ran out of time (deletes have no desired props, so
/// no wait_timeout_minutes either).
pub fn still_deleting(what: &str, state: &str) -> ProviderError {
    ProviderError::Retryable(format!("{what} is still {state} after {DEFAULT_WAIT_MINUTES} minutes; re-run the apply or destroy to continue waiting"))
}

/// `wait_timeout_minutes` from the desired props (the schema default is 30).
pub fn wait_minutes(desired: &Desired) -> Result<u64, ProviderError> {
    match desired.props.get("wait_timeout_minutes") {
        None | Some(Value::Null) => Ok(DEFAULT_WAIT_MINUTES),
        Some(v) => match v.as_i64() {
            // The SDK waiters poll at least every 30 seconds; under a minute they cannot poll twice.
            Some(n) if (1..=24 * 60).contains(&n) => Ok(n as u64),
            _ => Err(ProviderError::Invalid(format!("wait_timeout_minutes must be an integer from 1 to 1440, not {v}"))),
        },
    }
}

pub fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

/// The cluster's status as a word for messages; "gone" when it no longer exists.
pub async fn cluster_status(client: &Client, name: &str) -> String {
    match client.describe_cluster().name(name).send().await {
        Ok(out) => out.cluster().and_then(|c| c.status()).map(|s| s.as_str().to_string()).unwrap_or_else(|| "in an unknown state".into()),
        Err(e) if e.code() == Some("ResourceNotFoundException") => "gone".into(),
        Err(_) => "not ACTIVE".into(),
    }
}

/// Waits for a cluster to be ACTIVE: after creating it, after a config update EKS gave no
/// update id for, and before adding node groups to it (a cluster whose creation timed out
/// in an earlier run may still be CREATING).
pub async fn wait_cluster_active(client: &Client, name: &str, wait_minutes: u64) -> Result<(), ProviderError> {
    let result = client.wait_until_cluster_active().name(name).wait(minutes(wait_minutes)).await;
    match waited("DescribeCluster", result)? {
        Waited::Reached => Ok(()),
        Waited::TimedOut => {
            let state = cluster_status(client, name).await;
            Err(still(&format!("aws.eks.cluster {name}"), &state, wait_minutes))
        }
        Waited::Failed(out) => {
            let cluster = out.cluster();
            let status = cluster.and_then(|c| c.status()).map(|s| s.as_str()).unwrap_or("FAILED");
            let issues: Vec<String> = cluster
                .and_then(|c| c.health())
                .map(|h| {
                    h.issues().iter().map(|i| format!("{}: {}", i.code().map(|c| c.as_str()).unwrap_or("issue"), i.message().unwrap_or_default())).collect()
                })
                .unwrap_or_default();
            let why = if issues.is_empty() { String::new() } else { format!(" ({})", issues.join("; ")) };
            Err(ProviderError::Fatal(format!(
                "aws.eks.cluster {name} is {status} instead of ACTIVE{why}; EKS cannot repair a failed cluster: fix the cause, delete it (`aws eks delete-cluster --name {name}`) and apply again"
            )))
        }
    }
}

/// The client's own sleep and clock (what its waiters use), so that DescribeUpdate polling
/// runs on the same time as the SDK waiters, in production and in tests alike.
pub struct Clock {
    sleep: Option<SharedAsyncSleep>,
    time: Option<SharedTimeSource>,
}

impl Clock {
    pub fn of(client: &Client) -> Clock {
        Clock { sleep: client.config().sleep_impl(), time: client.config().time_source() }
    }
    pub fn now(&self) -> SystemTime {
        self.time.as_ref().map(|t| t.now()).unwrap_or_else(SystemTime::now)
    }
    pub async fn sleep(&self, duration: Duration) {
        match &self.sleep {
            Some(s) => s.sleep(duration).await,
            None => tokio::time::sleep(duration).await,
        }
    }
}

/// Waits for an update EKS started (UpdateClusterConfig, UpdateClusterVersion,
/// UpdateNodegroupConfig) to finish. EKS has no SDK waiter for updates, so DescribeUpdate
/// is polled.
pub async fn wait_update(client: &Client, cluster: &str, nodegroup: Option<&str>, update: &Update, what: &str, wait_minutes: u64) -> Result<(), ProviderError> {
    poll_update(client, cluster, nodegroup, None, update, what, wait_minutes).await
}

/// Waits for an UpdateAddon to finish (DescribeUpdate names the add-on).
pub async fn wait_addon_update(client: &Client, cluster: &str, addon: &str, update: &Update, what: &str, wait_minutes: u64) -> Result<(), ProviderError> {
    poll_update(client, cluster, None, Some(addon), update, what, wait_minutes).await
}

async fn poll_update(
    client: &Client,
    cluster: &str,
    nodegroup: Option<&str>,
    addon: Option<&str>,
    update: &Update,
    what: &str,
    wait_minutes: u64,
) -> Result<(), ProviderError> {
    let Some(id) = update.id() else {
        return Err(ProviderError::Fatal(format!("{what}: EKS returned an update without an id")));
    };
    let clock = Clock::of(client);
    let start = clock.now();
    let limit = minutes(wait_minutes);
    let mut delay = Duration::from_secs(5);
    let mut current = update.clone();
    loop {
        match current.status().map(|s| s.as_str()).unwrap_or("InProgress") {
            "Successful" => return Ok(()),
            "Failed" | "Cancelled" => {
                let status = current.status().map(|s| s.as_str()).unwrap_or_default();
                let errors: Vec<String> = current
                    .errors()
                    .iter()
                    .map(|e| format!("{}: {}", e.error_code().map(|c| c.as_str()).unwrap_or("error"), e.error_message().unwrap_or_default()))
                    .collect();
                return Err(ProviderError::Fatal(format!("{what}: update {id} {status}: {}", errors.join("; "))));
            }
            _ => {}
        }
        let elapsed = clock.now().duration_since(start).unwrap_or_default();
        if elapsed >= limit {
            return Err(still(&format!("{what}: update {id}"), "InProgress", wait_minutes));
        }
        clock.sleep(delay.min(limit - elapsed)).await;
        delay = (delay * 2).min(Duration::from_secs(30));
        let out = client
            .describe_update()
            .name(cluster)
            .update_id(id)
            .set_nodegroup_name(nodegroup.map(str::to_string))
            .set_addon_name(addon.map(str::to_string))
            .send()
            .await
            .eks("DescribeUpdate")?;
        current = out.update().cloned().unwrap_or_else(|| Update::builder().id(id).build());
    }
}

pub fn tags_of(tags: Option<&HashMap<String, String>>) -> Tags {
    tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

/// Brings an EKS resource's tags from `current` to `desired` (TagResource / UntagResource).
pub async fn sync_tags(client: &Client, arn: &str, current: &Tags, desired: &Tags) -> Result<(), ProviderError> {
    let (set, remove) = tag_changes(current, desired);
    if !set.is_empty() {
        client.tag_resource().resource_arn(arn).set_tags(Some(set.into_iter().collect())).send().await.eks("TagResource")?;
    }
    if !remove.is_empty() {
        client.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await.eks("UntagResource")?;
    }
    Ok(())
}

/// The request's tags, or none (EKS rejects an empty map on some operations).
pub fn request_tags(tags: &Tags) -> Option<HashMap<String, String>> {
    (!tags.is_empty()).then(|| tags.clone().into_iter().collect())
}

pub fn invalid(schema: &ResourceSchema, message: impl std::fmt::Display) -> ProviderError {
    ProviderError::Invalid(format!("{}: {message}", schema.kind))
}

/// The desired value of a prop, falling back to the schema default so that a create sets
/// what a later read reports.
pub fn value(schema: &ResourceSchema, desired: &Desired, name: &str) -> Option<Value> {
    desired.props.get(name).filter(|v| !v.is_null()).cloned().or_else(|| schema.prop(name)?.default.and_then(|json| serde_json::from_str(json).ok()))
}

pub fn string(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<Option<String>, ProviderError> {
    match value(schema, desired, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(schema, format!("{name} must be a string, not {other}"))),
    }
}

pub fn required_string(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<String, ProviderError> {
    string(schema, desired, name)?.filter(|s| !s.is_empty()).ok_or_else(|| invalid(schema, format!("{name} is required")))
}

pub fn boolean(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<Option<bool>, ProviderError> {
    match value(schema, desired, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(other) => Err(invalid(schema, format!("{name} must be true or false, not {other}"))),
    }
}

pub fn int(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<Option<i32>, ProviderError> {
    match value(schema, desired, name) {
        None => Ok(None),
        Some(v) => v.as_i64().and_then(|n| i32::try_from(n).ok()).map(Some).ok_or_else(|| invalid(schema, format!("{name} must be an integer, not {v}"))),
    }
}

pub fn string_list(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<Option<Vec<String>>, ProviderError> {
    let shape = || invalid(schema, format!("{name} must be a list of strings"));
    match value(schema, desired, name) {
        None => Ok(None),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(shape)).collect::<Result<Vec<_>, _>>().map(Some),
        Some(_) => Err(shape()),
    }
}

pub fn string_map(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<Option<HashMap<String, String>>, ProviderError> {
    let shape = || invalid(schema, format!("{name} must be a map of strings"));
    match value(schema, desired, name) {
        None => Ok(None),
        Some(Value::Object(map)) => {
            map.iter().map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())).ok_or_else(shape)).collect::<Result<HashMap<_, _>, _>>().map(Some)
        }
        Some(_) => Err(shape()),
    }
}

/// A sorted JSON list of strings, the shape read reports for order-free lists.
pub fn sorted_json(items: &[String]) -> Value {
    let mut items = items.to_vec();
    items.sort();
    Value::from(items)
}

/// Splits a composite id `FIRST:REST`. Cluster names cannot contain ':', so the first ':'
/// separates even when REST is an ARN.
pub fn split_id<'a>(schema: &ResourceSchema, id: &'a str, shape: &str) -> Result<(&'a str, &'a str), ProviderError> {
    id.split_once(':').filter(|(a, b)| !a.is_empty() && !b.is_empty()).ok_or_else(|| invalid(schema, format!("id {id:?} is not {shape}")))
}

#[cfg(test)]
pub mod test_support {
    //! Mocked EKS clients on a fake clock: the SDK waiters and the DescribeUpdate poller
    //! sleep through it, so waits of minutes run instantly and deterministically.

    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime};

    use aws_sdk_eks::config::{AsyncSleep, BehaviorVersion, Credentials, Region, Sleep};
    use aws_sdk_eks::Client;
    use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use aws_smithy_types::retry::RetryConfig;
    use aws_types::sdk_config::TimeSource;
    use cairn_engine::provider::{Desired, Owner};
    use serde_json::Value;

    /// A clock that only moves when something sleeps on it. (tokio's paused clock would do
    /// the same for sleeps, but the crate's tokio has no `test-util`, and the SDK waiters
    /// measure their deadline with the client's time source, not tokio's.)
    #[derive(Debug, Clone)]
    struct FakeClock(Arc<Mutex<SystemTime>>);

    impl Default for FakeClock {
        fn default() -> FakeClock {
            FakeClock(Arc::new(Mutex::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))))
        }
    }

    impl TimeSource for FakeClock {
        fn now(&self) -> SystemTime {
            *self.0.lock().unwrap()
        }
    }

    impl AsyncSleep for FakeClock {
        fn sleep(&self, duration: Duration) -> Sleep {
            *self.0.lock().unwrap() += duration;
            Sleep::new(std::future::ready(()))
        }
    }

    pub fn client(rules: &[&Rule]) -> Client {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let clock = FakeClock::default();
        let config = aws_sdk_eks::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .time_source(clock.clone())
            .sleep_impl(clock)
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build();
        Client::from_conf(config)
    }

    pub fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message("mocked").build()
    }

    pub fn desired(props: Value, address: &str) -> Desired {
        let owner = Owner { stack: "shop".into(), env: "prod".into(), address: address.into() };
        let mut tags = owner.tags();
        tags.insert("team".into(), "platform".into());
        Desired {
            props: props.as_object().cloned().unwrap_or_default(),
            tags,
            owner,
            default_name: format!("shop-prod-{address}"),
            idempotency_token: "token-1".into(),
        }
    }
}
