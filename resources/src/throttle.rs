//! Throttling without collapse: one adaptive rate budget per (service, operation family), so a
//! throttled API slows down alone, and no blind re-sends of creates AWS cannot deduplicate.
//!
//! AWS meters request rates per API or API family, not per client: EC2, KMS and WAF keep a
//! token bucket per API action, and IAM, EKS and RDS throttle their read and write calls apart. A single client-wide budget therefore turns one throttled family into
//! a slowdown of everything. Here each (service, family) pair owns an [`AdaptiveRate`]: it starts
//! at the bucket AWS documents for it ([`RateTable::aws_defaults`], changed with `--rate-limit`)
//! or unlimited where AWS documents none worth pacing for, is multiplicatively reduced on every
//! throttle, and raised additively on every success back to where it started.
//!
//! The pieces, all public SDK extension points:
//! - [`FamilyThrottle`], an interceptor: tags each attempt's request with its [`BudgetKey`],
//!   feeds every outcome into that family's budget (throttle or success), and stops SDK retries
//!   of [`resend_may_duplicate`] creates after a failure the request may have survived.
//! - [`PacedHttpClient`], a wrapper around the real HTTP client: before sending, it waits for
//!   the request's family to have room, using the SDK's async sleep and time source (so tests
//!   inject both).
//! - The SDK's standard retry strategy keeps doing exponential backoff with jitter and the
//!   attempt bound (`AwsSettings::max_attempts`).
//!
//! Why not the SDK's adaptive mode: its `ClientRateLimiter` is per retry partition (a whole
//! service), its tuning is private, and before retry spec 2.1 a throttled retry costs ten
//! tokens of a bucket refilled at as little as 0.5/s, which is the collapse this replaces.
//! Why not `governor`: its quotas are fixed at construction, while an adaptive budget changes
//! its rate on every answer, and it sleeps on its own clock instead of the SDK's.

use std::collections::{HashMap, VecDeque};
use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep};
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime::client::retries::classifiers::run_classifiers_on_ctx;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::dns::ResolveDnsError;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::interceptors::context::{BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef, InterceptorContext};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::classifiers::{RetryAction, RetryReason};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::{ErrorKind, RetryConfig};

/// Which of a service's rate buckets an operation draws from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Non-mutating calls: `Describe*`, `Get*`, `List*`, ...
    Read,
    /// Everything that changes something.
    Write,
    /// An API with a bucket of its own.
    Action(String),
}

const READ_PREFIXES: &[&str] = &["Describe", "Get", "List", "Head", "Search", "Lookup"];

/// Services that meter each API action in a bucket of its own: EC2 ("each API is evaluated
/// individually", EC2 API request throttling guide), KMS ("each request quota is calculated
/// independently", KMS request quotas) and WAF (a quota per individual action, WAF quotas).
const PER_ACTION_SERVICES: &[&str] = &["ec2", "kms", "wafv2"];

fn is_read(operation: &str) -> bool {
    READ_PREFIXES.iter().any(|p| operation.starts_with(p))
}

/// The family of an operation: its own for services metered per action; other services are
/// split into non-mutating and mutating calls by AWS's naming.
pub fn family_of(service: &str, operation: &str) -> Family {
    if PER_ACTION_SERVICES.iter().any(|s| s.eq_ignore_ascii_case(service)) {
        Family::Action(operation.to_string())
    } else if is_read(operation) {
        Family::Read
    } else {
        Family::Write
    }
}

/// One rate budget: a service (lower-case SDK service name) and an operation family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BudgetKey {
    pub service: String,
    pub family: Family,
}

impl BudgetKey {
    pub fn of(service: &str, operation: &str) -> BudgetKey {
        BudgetKey { service: service.to_ascii_lowercase(), family: family_of(service, operation) }
    }
}

/// Creates that have neither an idempotency token nor a unique name: when the answer is lost
/// after AWS may have performed one, sending it again can make a second, orphaned resource.
/// The SDK must not re-send these; the error goes back to the engine, whose create path looks
/// for the resource by its ownership tags (`find_owned`) before creating again.
/// Checked against the API reference: `CreateRouteTable` and `CreateNatGateway` take a
/// `ClientToken` the SDK fills in, `CreateSecurityGroup` names are unique per VPC and
/// `CreateSubnet` CIDRs unique per VPC (a repeat answers `InvalidGroup.Duplicate` /
/// `InvalidSubnet.Conflict`), so they may be retried.
const NON_IDEMPOTENT_CREATES: &[(&str, &str)] = &[
    ("ec2", "CreateVpc"),
    ("ec2", "CreateInternetGateway"),
    ("ec2", "AllocateAddress"),
    ("kms", "CreateKey"),
    // Each call adds a policy version (at most five exist); a repeat wastes one.
    ("iam", "CreatePolicyVersion"),
];

/// True when re-sending `operation` after a lost answer could create a duplicate.
pub fn resend_may_duplicate(service: &str, operation: &str) -> bool {
    NON_IDEMPOTENT_CREATES.iter().any(|(s, o)| s.eq_ignore_ascii_case(service) && *o == operation)
}

/// Multiplicative decrease on each throttle (AIMD).
const DECREASE: f64 = 0.7;
/// Additive increase per success, in calls per second.
const INCREASE: f64 = 1.0;
/// Never paced below two calls per second: AWS refills even its small buckets at a few
/// tokens per second, so a slower pace would only add waiting.
const MIN_RATE: f64 = 2.0;
/// At this rate the budget is lifted: AWS's own buckets are far larger than that.
const UNLIMITED_AT: f64 = 50.0;
/// Window over which the send rate is measured, to pick the first limit after a throttle.
const MEASURE_WINDOW: f64 = 1.0;
/// Shortest span a measured rate is computed over.
const MIN_SPAN: f64 = 0.1;

/// A token bucket as AWS documents them: calls per second refilled, and calls the bucket holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub rate: f64,
    pub burst: f64,
}

impl Bucket {
    /// A bucket refilled at `rate` per second holding `burst` calls (at least one).
    pub fn new(rate: f64, burst: f64) -> Bucket {
        Bucket { rate, burst: burst.max(1.0) }
    }
}

/// One family's adaptive rate, as a pure function of the times it is given (seconds since
/// the UNIX epoch), so its behaviour is tested without clocks.
#[derive(Debug, Clone, Default)]
pub struct AdaptiveRate {
    /// Where the family starts and what it recovers to; `None`: unlimited.
    base: Option<Bucket>,
    /// Calls per second; `None` while unlimited (no starting bucket, not throttled, or recovered).
    limit: Option<f64>,
    /// Token bucket under the limit; negative when sends are already reserved ahead.
    tokens: f64,
    last_refill: f64,
    /// Send times within the last `MEASURE_WINDOW`.
    recent: VecDeque<f64>,
}

impl AdaptiveRate {
    /// A family paced from the start by `base` (full bucket), or unlimited until throttled.
    pub fn starting(base: Option<Bucket>) -> AdaptiveRate {
        // A bucket that never refills would never let a call go: taken as no bucket.
        match base.filter(|b| b.rate.is_finite() && b.rate > 0.0) {
            Some(b) => AdaptiveRate { base, limit: Some(b.rate), tokens: b.burst, last_refill: f64::NEG_INFINITY, recent: VecDeque::new() },
            None => AdaptiveRate::default(),
        }
    }

    /// The current limit in calls per second, `None` when unlimited.
    pub fn limit(&self) -> Option<f64> {
        self.limit
    }

    /// Reserves a send slot at `now`; returns how long the caller must wait before sending.
    pub fn reserve(&mut self, now: f64) -> Duration {
        self.recent.push_back(now);
        self.forget_before(now);
        let Some(rate) = self.limit else { return Duration::ZERO };
        self.refill(now, rate);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / rate)
        }
    }

    /// AWS throttled a call of this family: cut the rate and empty the bucket but for one send,
    /// the retry, which the SDK's backoff already delays; later sends wait for the new rate.
    pub fn throttled(&mut self, now: f64) {
        let base = match self.limit {
            Some(rate) => {
                self.refill(now, rate);
                rate
            }
            None => {
                self.last_refill = now;
                self.tokens = 1.0;
                self.measured(now)
            }
        };
        // A bucket AWS refills slower than the floor stays that slow.
        let floor = self.base.map_or(MIN_RATE, |b| b.rate.min(MIN_RATE));
        self.limit = Some((base * DECREASE).max(floor));
        self.tokens = self.tokens.min(1.0);
    }

    /// A call of this family succeeded: raise the rate back to the starting bucket's, or
    /// lift the limit once it is high when the family started unlimited.
    pub fn succeeded(&mut self, now: f64) {
        if let Some(rate) = self.limit {
            self.refill(now, rate);
            let raised = rate + INCREASE;
            self.limit = match self.base {
                Some(b) => Some(raised.min(b.rate)),
                None if raised >= UNLIMITED_AT => None,
                None => Some(raised),
            };
        }
    }

    /// Sends per second over the last `MEASURE_WINDOW`. A family that has only just started
    /// has few sends in the window, so they are spread over no less than `MIN_SPAN`, not the
    /// whole window: three calls in 30 ms are a fast family, not three calls per second.
    fn measured(&mut self, now: f64) -> f64 {
        self.forget_before(now);
        match self.recent.front() {
            Some(first) => self.recent.len() as f64 / (now - first).max(MIN_SPAN),
            None => 0.0,
        }
    }

    fn forget_before(&mut self, now: f64) {
        while self.recent.front().is_some_and(|t| now - t > MEASURE_WINDOW) {
            self.recent.pop_front();
        }
    }

    fn refill(&mut self, now: f64, rate: f64) {
        let elapsed = (now - self.last_refill).max(0.0);
        // At its starting rate a family may use AWS's whole bucket; slowed down, one second's worth.
        let capacity = match self.base {
            Some(b) if rate >= b.rate => b.burst,
            _ => rate.max(1.0),
        };
        self.tokens = (self.tokens + elapsed * rate).min(capacity);
        self.last_refill = now;
    }
}

/// Every family's budget, shared by all clients of one `AwsContext`.
#[derive(Debug, Clone, Default)]
pub struct Budgets {
    inner: Arc<Mutex<BudgetState>>,
}

#[derive(Debug, Default)]
struct BudgetState {
    rates: HashMap<BudgetKey, AdaptiveRate>,
    /// Where each family starts; empty (every family unlimited until throttled) by default.
    table: RateTable,
}

fn seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Budgets {
    /// Budgets whose families start at `table`'s buckets.
    pub fn new(table: RateTable) -> Budgets {
        Budgets { inner: Arc::new(Mutex::new(BudgetState { rates: HashMap::new(), table })) }
    }

    /// Replaces the starting buckets, for every client sharing these budgets; families already
    /// metered start over from the new table.
    pub fn set_table(&self, table: RateTable) {
        if let Ok(mut state) = self.inner.lock() {
            state.rates.clear();
            state.table = table;
        }
    }

    /// The budget a call draws from: its family, or a bucket of its own when the table gives
    /// the operation one (`--rate-limit iam.CreateRole=1`).
    pub fn key_of(&self, service: &str, operation: &str) -> BudgetKey {
        let own = self.inner.lock().ok().is_some_and(|s| s.table.get(service, &Scope::Operation(operation.to_string())).is_some());
        match own {
            true => BudgetKey { service: service.to_ascii_lowercase(), family: Family::Action(operation.to_string()) },
            false => BudgetKey::of(service, operation),
        }
    }

    fn with<T>(&self, key: &BudgetKey, f: impl FnOnce(&mut AdaptiveRate) -> T) -> Option<T> {
        let mut state = self.inner.lock().ok()?;
        let BudgetState { rates, table } = &mut *state;
        Some(f(rates.entry(key.clone()).or_insert_with(|| AdaptiveRate::starting(table.starting(key)))))
    }

    /// Reserves a send slot for `key`; the wait before sending.
    pub fn reserve(&self, key: &BudgetKey, now: SystemTime) -> Duration {
        self.with(key, |r| r.reserve(seconds(now))).unwrap_or(Duration::ZERO)
    }

    pub fn throttled(&self, key: &BudgetKey, now: SystemTime) {
        self.with(key, |r| r.throttled(seconds(now)));
    }

    pub fn succeeded(&self, key: &BudgetKey, now: SystemTime) {
        self.with(key, |r| r.succeeded(seconds(now)));
    }

    /// The limit of `key` in calls per second, `None` when unlimited (or never used).
    pub fn limit(&self, key: &BudgetKey) -> Option<f64> {
        self.inner.lock().ok()?.rates.get(key).and_then(AdaptiveRate::limit)
    }
}

/// The interceptor that keys, meters and guards every attempt (see the module docs).
#[derive(Debug, Clone)]
pub struct FamilyThrottle {
    budgets: Budgets,
}

impl FamilyThrottle {
    pub fn new(budgets: Budgets) -> FamilyThrottle {
        FamilyThrottle { budgets }
    }
}

fn operation_of(cfg: &ConfigBag) -> Option<(String, String)> {
    cfg.load::<Metadata>().map(|m| (m.service().to_string(), m.name().to_string()))
}

fn is_throttling(action: &RetryAction) -> bool {
    matches!(action, RetryAction::RetryIndicated(RetryReason::RetryableError { kind: ErrorKind::ThrottlingError, .. }))
}

/// True when the connection failed before any byte of the request could have left: nothing
/// listened, or the name did not resolve.
fn never_sent(err: &ConnectorError) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<ResolveDnsError>().is_some() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return matches!(io.kind(), ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable);
        }
        next = e.source();
    }
    false
}

/// True when a failed attempt may have been performed by AWS although no usable answer came
/// back: a timeout or a dropped connection after sending, a garbled answer, or a 5xx.
/// Throttling answers are excluded: AWS rejects those before doing anything.
pub(crate) fn may_have_been_performed(ctx: &InterceptorContext, action: &RetryAction) -> bool {
    if is_throttling(action) {
        return false;
    }
    match ctx.output_or_error() {
        Some(Err(err)) => {
            if let Some(conn) = err.as_connector_error() {
                !never_sent(conn)
            } else if err.is_timeout_error() || err.is_response_error() {
                true
            } else {
                ctx.response().is_some_and(|r| r.status().is_server_error())
            }
        }
        _ => false,
    }
}

impl Intercept for FamilyThrottle {
    fn name(&self) -> &'static str {
        "CairnFamilyThrottle"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some((service, operation)) = operation_of(cfg) {
            context.request_mut().add_extension(self.budgets.key_of(&service, &operation));
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some((service, operation)) = operation_of(cfg) else { return Ok(()) };
        let key = self.budgets.key_of(&service, &operation);
        let now = runtime_components.time_source().map(|t| t.now()).unwrap_or_else(SystemTime::now);
        let ctx = context.inner();
        let action = run_classifiers_on_ctx(runtime_components.retry_classifiers(), ctx);
        match ctx.output_or_error() {
            Some(Ok(_)) => self.budgets.succeeded(&key, now),
            Some(Err(_)) if is_throttling(&action) => self.budgets.throttled(&key, now),
            _ => {}
        }
        if action.should_retry() && resend_may_duplicate(&service, &operation) && may_have_been_performed(ctx, &action) {
            // Spending the attempt budget makes the SDK's retry strategy return this error
            // instead of re-sending; the engine then looks for the resource by its tags.
            let attempts = cfg.load::<RequestAttempts>().map(|a| a.attempts()).unwrap_or(1);
            let stop = cfg.load::<RetryConfig>().cloned().unwrap_or_else(RetryConfig::standard).with_max_attempts(attempts);
            cfg.interceptor_state().store_put(stop);
        }
        Ok(())
    }
}

/// Wraps the real HTTP client so every request first waits for its family's budget.
#[derive(Clone)]
pub struct PacedHttpClient {
    inner: SharedHttpClient,
    budgets: Budgets,
}

impl fmt::Debug for PacedHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacedHttpClient").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl PacedHttpClient {
    pub fn new(inner: SharedHttpClient, budgets: Budgets) -> PacedHttpClient {
        PacedHttpClient { inner, budgets }
    }
}

impl HttpClient for PacedHttpClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            budgets: self.budgets.clone(),
            sleep: components.sleep_impl(),
            time: components.time_source(),
        })
    }

    fn validate_base_client_config(&self, runtime_components: &RuntimeComponentsBuilder, cfg: &ConfigBag) -> Result<(), BoxError> {
        self.inner.validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(&self, runtime_components: &RuntimeComponents, cfg: &ConfigBag) -> Result<(), BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    budgets: Budgets,
    sleep: Option<SharedAsyncSleep>,
    time: Option<SharedTimeSource>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let wait = match (request.extension::<BudgetKey>(), &self.time) {
            (Some(key), Some(time)) => self.budgets.reserve(key, time.now()),
            _ => Duration::ZERO,
        };
        match (&self.sleep, wait.is_zero()) {
            (Some(sleep), false) => {
                let (sleep, inner) = (sleep.clone(), self.inner.clone());
                HttpConnectorFuture::new(async move {
                    sleep.sleep(wait).await;
                    inner.call(request).await
                })
            }
            _ => self.inner.call(request),
        }
    }
}

#[path = "throttle_rates.rs"]
mod rates;
pub use rates::*;

#[cfg(test)]
#[path = "throttle_tests.rs"]
mod tests;
