//! Tests of per-family throttling: the pure rate budget, and real SDK clients over a scripted
//! HTTP connector with an injected clock and a sleep that only records its delays.

use super::*;
use std::collections::BTreeMap;
use std::time::Duration;

use aws_smithy_async::rt::sleep::Sleep;
use aws_smithy_async::time::TimeSource;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use crate::error::SdkResultExt;
use cairn_engine::provider::ProviderError;

const T0: f64 = 1_700_000_000.0;

fn approx(d: Duration, secs: f64) -> bool {
    (d.as_secs_f64() - secs).abs() < 1e-6
}

#[test]
fn a_family_is_unlimited_until_throttled() {
    let mut rate = AdaptiveRate::default();
    for i in 0..100 {
        assert_eq!(rate.reserve(T0 + i as f64 * 0.001), Duration::ZERO);
    }
    assert_eq!(rate.limit(), None);
}

#[test]
fn a_throttle_cuts_the_measured_rate_and_paces_the_next_sends() {
    let mut rate = AdaptiveRate::default();
    for i in 0..10 {
        rate.reserve(T0 + i as f64 * 0.05);
    }
    rate.throttled(T0 + 0.5);
    // Ten sends in half a second (20/s), cut by the multiplicative decrease.
    assert!((rate.limit().unwrap() - 14.0).abs() < 1e-9);
    // The bucket keeps one send (the retry); later sends are spaced 1/14 s apart.
    assert_eq!(rate.reserve(T0 + 0.5), Duration::ZERO);
    assert!(approx(rate.reserve(T0 + 0.5), 1.0 / 14.0));
    assert!(approx(rate.reserve(T0 + 0.5), 2.0 / 14.0));
    // Further throttles keep cutting, down to the floor of one call per second.
    for _ in 0..20 {
        rate.throttled(T0 + 0.5);
    }
    assert_eq!(rate.limit(), Some(MIN_RATE));
}

#[test]
fn successes_raise_the_rate_until_the_limit_is_lifted() {
    let mut rate = AdaptiveRate::default();
    rate.reserve(T0);
    for _ in 0..10 {
        rate.throttled(T0);
    }
    assert_eq!(rate.limit(), Some(MIN_RATE));
    rate.succeeded(T0 + 1.0);
    assert_eq!(rate.limit(), Some(MIN_RATE + INCREASE));
    let mut steps = 1;
    while rate.limit().is_some() {
        rate.succeeded(T0 + 1.0 + steps as f64);
        steps += 1;
        assert!(steps < 100, "the limit is never lifted");
    }
    assert_eq!(rate.reserve(T0 + 200.0), Duration::ZERO);
}

#[test]
fn budgets_are_separate_per_service_and_family() {
    let budgets = Budgets::default();
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let ec2_write = BudgetKey::of("EC2", "CreateTags");
    let ec2_read = BudgetKey::of("EC2", "DescribeVpcs");
    let kms_write = BudgetKey::of("KMS", "CreateKey");
    budgets.reserve(&ec2_write, now);
    budgets.throttled(&ec2_write, now);
    // The retry goes at once, the send after it waits; other budgets never wait.
    assert_eq!(budgets.reserve(&ec2_write, now), Duration::ZERO);
    assert!(budgets.reserve(&ec2_write, now) > Duration::ZERO);
    for _ in 0..3 {
        assert_eq!(budgets.reserve(&ec2_read, now), Duration::ZERO);
        assert_eq!(budgets.reserve(&kms_write, now), Duration::ZERO);
    }
    assert_eq!(budgets.limit(&ec2_read), None);
    assert_eq!(budgets.limit(&kms_write), None);
}

#[test]
fn families_follow_aws_buckets() {
    assert_eq!(family_of("IAM", "GetRole"), Family::Read);
    assert_eq!(family_of("RDS", "DescribeDBInstances"), Family::Read);
    assert_eq!(family_of("EKS", "ListNodegroups"), Family::Read);
    assert_eq!(family_of("S3", "DeleteBucket"), Family::Write);
    assert_eq!(family_of("SNS", "CreateTopic"), Family::Write);
    // EC2, KMS and WAF meter every action in a bucket of its own.
    assert_eq!(family_of("EC2", "DescribeVpcs"), Family::Action("DescribeVpcs".into()));
    assert_eq!(family_of("KMS", "CreateKey"), Family::Action("CreateKey".into()));
    assert_eq!(family_of("WAFV2", "CreateWebACL"), Family::Action("CreateWebACL".into()));
    assert_ne!(BudgetKey::of("EC2", "CreateTags"), BudgetKey::of("EC2", "CreateVpc"));
    assert_eq!(BudgetKey::of("IAM", "CreateRole"), BudgetKey::of("iam", "PutRolePolicy"));
    assert!(resend_may_duplicate("EC2", "CreateVpc"));
    assert!(resend_may_duplicate("KMS", "CreateKey"));
    assert!(!resend_may_duplicate("EC2", "CreateSubnet"));
    assert!(!resend_may_duplicate("EC2", "CreateNatGateway"));
}

#[test]
fn a_family_with_a_starting_bucket_is_paced_from_its_first_call() {
    let mut rate = AdaptiveRate::starting(Some(Bucket::new(5.0, 3.0)));
    assert_eq!(rate.limit(), Some(5.0));
    // The whole bucket goes at once, then one call every fifth of a second.
    for _ in 0..3 {
        assert_eq!(rate.reserve(T0), Duration::ZERO);
    }
    assert!(approx(rate.reserve(T0), 0.2));
    assert!(approx(rate.reserve(T0), 0.4));
    // A quiet second refills five tokens but the bucket holds three.
    rate.reserve(T0 + 10.0);
    rate.reserve(T0 + 10.0);
    rate.reserve(T0 + 10.0);
    assert!(approx(rate.reserve(T0 + 10.0), 0.2));
}

#[test]
fn a_throttled_starting_bucket_recovers_to_its_rate_and_no_further() {
    let mut rate = AdaptiveRate::starting(Some(Bucket::new(10.0, 50.0)));
    rate.reserve(T0);
    rate.throttled(T0);
    assert!((rate.limit().unwrap() - 7.0).abs() < 1e-9, "cut by the multiplicative decrease");
    for i in 0..100 {
        rate.succeeded(T0 + i as f64);
    }
    assert_eq!(rate.limit(), Some(10.0), "back at AWS's documented rate, never lifted");
    // A bucket AWS refills slower than the floor is not raised by a throttle.
    let mut slow = AdaptiveRate::starting(Some(Bucket::new(0.3, 4.0)));
    slow.throttled(T0);
    assert_eq!(slow.limit(), Some(0.3));
}

#[test]
fn the_default_table_follows_the_published_limits() {
    let t = RateTable::aws_defaults();
    let start = |service: &str, op: &str| t.starting(&BudgetKey::of(service, op));
    assert_eq!(start("EC2", "DescribeSubnets"), Some(Bucket::new(20.0, 100.0)));
    assert_eq!(start("EC2", "CreateSubnet"), Some(Bucket::new(5.0, 50.0)));
    assert_eq!(start("EC2", "CreateTags"), Some(Bucket::new(10.0, 100.0)));
    assert_eq!(start("EC2", "CreateNatGateway"), Some(Bucket::new(1.0, 10.0)));
    assert_eq!(start("KMS", "CreateKey"), Some(Bucket::new(5.0, 5.0)));
    assert_eq!(start("KMS", "PutKeyPolicy"), Some(Bucket::new(15.0, 15.0)));
    assert_eq!(start("KMS", "DescribeKey"), Some(Bucket::new(100.0, 100.0)));
    assert_eq!(start("STS", "GetCallerIdentity"), Some(Bucket::new(300.0, 300.0)));
    assert_eq!(start("IAM", "CreateRole"), Some(Bucket::new(10.0, 20.0)));
    assert_eq!(start("RDS", "DescribeDBInstances"), Some(Bucket::new(8.0, 200.0)));
    assert_eq!(start("WAFV2", "CreateWebACL"), Some(Bucket::new(1.0, 1.0)));
    assert_eq!(start("WAFV2", "AssociateWebACL"), Some(Bucket::new(0.5, 1.0)));
    // SQS and SNS: far above what an apply sends; S3 is not in the table.
    assert_eq!(start("SQS", "CreateQueue"), None);
    assert_eq!(start("SNS", "Subscribe"), None);
    assert_eq!(start("S3", "CreateBucket"), None);
    for (service, scope, bucket, source) in DEFAULT_RATES {
        assert!(source.starts_with("https://docs.aws.amazon.com/"), "{service}.{scope}: {source}");
        if let Some((rate, burst)) = bucket {
            assert!(*rate > 0.0 && *burst >= 1.0, "{service}.{scope}");
        }
    }
}

#[test]
fn rate_limits_parse_service_scope_rate_and_burst() {
    let parsed = |s: &str| parse_rate_limit(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(parsed("ec2.describe=20"), RateOverride { service: "ec2".into(), scopes: vec![Scope::Read], bucket: Some(Bucket::new(20.0, 20.0)) });
    assert_eq!(parsed("EC2.CreateTags=10/100").scopes, [Scope::Operation("CreateTags".into())]);
    assert_eq!(parsed("EC2.CreateTags=10/100").bucket, Some(Bucket::new(10.0, 100.0)));
    assert_eq!(parsed("rds.mutating=0.5").bucket, Some(Bucket::new(0.5, 1.0)), "a burst holds one call at least");
    assert_eq!(parsed("iam=unlimited"), RateOverride { service: "iam".into(), scopes: vec![Scope::Read, Scope::Write], bucket: None });
    assert_eq!(parsed("wafv2.write=off").bucket, None);
    for bad in ["ec2", "=5", "ec2 x.read=1", ".read=1"] {
        assert!(matches!(parse_rate_limit(bad), Err(RateParseError::Shape(_))), "{bad}");
    }
    for bad in ["ec2.createTags=1", "ec2.Create-Tags=1"] {
        assert!(matches!(parse_rate_limit(bad), Err(RateParseError::Scope(_))), "{bad}");
    }
    for bad in ["ec2.read=0", "ec2.read=-1", "ec2.read=fast", "ec2.read=5/0.5", "ec2.read=inf", "ec2.read=NaN"] {
        assert!(matches!(parse_rate_limit(bad), Err(RateParseError::Value(_))), "{bad}");
    }
}

#[test]
fn overrides_replace_entries_and_an_operation_of_a_family_gets_its_own_bucket() {
    let table = RateTable::aws_defaults().with(&[
        parse_rate_limit("ec2.read=50/200").unwrap(),
        parse_rate_limit("sqs=3").unwrap(),
        parse_rate_limit("iam.CreateRole=1").unwrap(),
    ]);
    assert_eq!(table.starting(&BudgetKey::of("EC2", "DescribeVpcs")), Some(Bucket::new(50.0, 200.0)));
    assert_eq!(table.starting(&BudgetKey::of("SQS", "CreateQueue")), Some(Bucket::new(3.0, 3.0)));
    let budgets = Budgets::new(table);
    let create_role = budgets.key_of("IAM", "CreateRole");
    assert_eq!(create_role, BudgetKey { service: "iam".into(), family: Family::Action("CreateRole".into()) });
    assert_eq!(budgets.key_of("IAM", "PutRolePolicy"), BudgetKey::of("IAM", "PutRolePolicy"));
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(budgets.reserve(&create_role, now), Duration::ZERO);
    assert_eq!(budgets.reserve(&create_role, now), Duration::from_secs(1));
    assert_eq!(budgets.reserve(&budgets.key_of("IAM", "PutRolePolicy"), now), Duration::ZERO, "the rest of IAM's writes keep their bucket");
    // A new table starts every family over.
    budgets.set_table(RateTable::default());
    assert_eq!(budgets.reserve(&create_role, now), Duration::ZERO);
    assert_eq!(budgets.reserve(&create_role, now), Duration::ZERO);
}

/// What the scripted server does with the n-th call (0-based) of an operation.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Ok,
    Throttle,
    ServerError,
    /// The connection drops after the request was sent.
    Reset,
    /// Nothing listens: the request never left.
    Refused,
}

type Script = Arc<dyn Fn(&str, usize) -> Answer + Send + Sync>;

#[derive(Clone)]
struct FakeAws {
    script: Script,
    calls: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl fmt::Debug for FakeAws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FakeAws")
    }
}

impl FakeAws {
    fn new(script: impl Fn(&str, usize) -> Answer + Send + Sync + 'static) -> FakeAws {
        FakeAws { script: Arc::new(script), calls: Arc::default() }
    }
    fn calls(&self, op: &str) -> usize {
        self.calls.lock().unwrap().get(op).copied().unwrap_or(0)
    }
}

fn operation_in(request: &HttpRequest) -> String {
    if let Some(target) = request.headers().get("x-amz-target") {
        return target.rsplit('.').next().unwrap_or_default().to_string();
    }
    let body = std::str::from_utf8(request.body().bytes().unwrap_or_default()).unwrap_or_default();
    body.split('&').find_map(|kv| kv.strip_prefix("Action=")).unwrap_or_default().to_string()
}

fn xml_error(status: u16, code: &str) -> HttpResponse {
    let body = format!("<Response><Errors><Error><Code>{code}</Code><Message>{code}</Message></Error></Errors><RequestID>r</RequestID></Response>");
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

fn success(op: &str) -> HttpResponse {
    let body = match op {
        "CreateVpc" => "<CreateVpcResponse><requestId>r</requestId><vpc><vpcId>vpc-1</vpcId></vpc></CreateVpcResponse>".to_string(),
        "CreateSubnet" => "<CreateSubnetResponse><requestId>r</requestId><subnet><subnetId>subnet-1</subnetId></subnet></CreateSubnetResponse>".to_string(),
        "ListKeys" => r#"{"Keys":[],"Truncated":false}"#.to_string(),
        _ => format!("<{op}Response><requestId>r</requestId></{op}Response>"),
    };
    HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body))
}

impl HttpConnector for FakeAws {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let op = operation_in(&request);
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let entry = calls.entry(op.clone()).or_default();
            *entry += 1;
            *entry - 1
        };
        let io = |kind| ConnectorError::io(Box::new(std::io::Error::new(kind, "scripted")));
        HttpConnectorFuture::ready(match (self.script)(&op, n) {
            Answer::Ok => Ok(success(&op)),
            Answer::Throttle => Ok(xml_error(503, "RequestLimitExceeded")),
            Answer::ServerError => Ok(xml_error(500, "InternalError")),
            Answer::Reset => Err(io(std::io::ErrorKind::ConnectionReset)),
            Answer::Refused => Err(io(std::io::ErrorKind::ConnectionRefused)),
        })
    }
}

impl HttpClient for FakeAws {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// A clock that moves only when something sleeps on it, and a sleep that returns at once
/// but records how long it was asked to wait.
#[derive(Debug, Clone, Default)]
struct Clock {
    sleeps: Arc<Mutex<Vec<Duration>>>,
}

impl TimeSource for Clock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000) + self.sleeps.lock().unwrap().iter().sum::<Duration>()
    }
}

impl AsyncSleep for Clock {
    fn sleep(&self, duration: Duration) -> Sleep {
        let sleeps = self.sleeps.clone();
        Sleep::new(async move { sleeps.lock().unwrap().push(duration) })
    }
}

struct Harness {
    fake: FakeAws,
    budgets: Budgets,
    clock: Clock,
}

impl Harness {
    fn new(script: impl Fn(&str, usize) -> Answer + Send + Sync + 'static) -> Harness {
        Harness { fake: FakeAws::new(script), budgets: Budgets::default(), clock: Clock::default() }
    }

    fn retry(&self) -> RetryConfig {
        // A fixed exponential base removes the jitter, so delays are exact.
        RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(200)).with_use_static_exponential_base(true)
    }

    fn http(&self) -> PacedHttpClient {
        PacedHttpClient::new(SharedHttpClient::new(self.fake.clone()), self.budgets.clone())
    }

    fn ec2(&self) -> aws_sdk_ec2::Client {
        use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig};
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            // Its throughput checks sleep too, which would move the test clock.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(self.retry())
            .time_source(self.clock.clone())
            .sleep_impl(self.clock.clone())
            .http_client(self.http())
            .interceptor(FamilyThrottle::new(self.budgets.clone()))
            .build();
        aws_sdk_ec2::Client::from_conf(config)
    }

    fn kms(&self) -> aws_sdk_kms::Client {
        use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig};
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            // Its throughput checks sleep too, which would move the test clock.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(self.retry())
            .time_source(self.clock.clone())
            .sleep_impl(self.clock.clone())
            .http_client(self.http())
            .interceptor(FamilyThrottle::new(self.budgets.clone()))
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    fn sleeps(&self) -> Vec<Duration> {
        self.clock.sleeps.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_throttled_family_is_slowed_while_other_families_and_services_are_not() {
    // The first CreateTags is throttled once; everything else answers at once.
    let h = Harness::new(|op, n| if op == "CreateTags" && n == 0 { Answer::Throttle } else { Answer::Ok });
    let ec2 = h.ec2();
    ec2.create_tags().resources("vpc-1").send().await.op("CreateTags").expect("the retry succeeds");
    assert_eq!(h.fake.calls("CreateTags"), 2);
    // One send measured over the shortest span (10/s), cut to 7/s; the 0.2 s backoff
    // refills enough for the retry to go at once, and its success raises the limit to 8/s.
    let write = BudgetKey::of("EC2", "CreateTags");
    assert_eq!(h.budgets.limit(&write), Some(8.0));
    assert_eq!(h.sleeps().len(), 1);
    assert!(approx(h.sleeps()[0], 0.2), "{:?}", h.sleeps());

    // Another family of the same service and another service: sent without any wait.
    ec2.describe_vpcs().send().await.op("DescribeVpcs").unwrap();
    h.kms().list_keys().send().await.op("ListKeys").unwrap();
    assert_eq!(h.sleeps().len(), 1, "{:?}", h.sleeps());
    assert_eq!(h.budgets.limit(&BudgetKey::of("EC2", "DescribeVpcs")), None);
    assert_eq!(h.budgets.limit(&BudgetKey::of("KMS", "ListKeys")), None);

    // The throttled family's next calls draw its bucket down (1.4 tokens left), then wait:
    // 0.6 of a token short at 9/s, then a whole token at 10/s.
    for vpc in ["vpc-2", "vpc-3", "vpc-4"] {
        ec2.create_tags().resources(vpc).send().await.op("CreateTags").unwrap();
    }
    let sleeps = h.sleeps();
    let expected = [0.2, 0.6 / 9.0, 1.0 / 10.0];
    assert_eq!(sleeps.len(), expected.len(), "{sleeps:?}");
    for (got, want) in sleeps.iter().zip(expected) {
        assert!(approx(*got, want), "{sleeps:?}");
    }
}

#[tokio::test]
async fn a_starting_bucket_paces_real_clients_before_any_throttle() {
    // NAT gateway creates: AWS's bucket of 10 refilled at 1/s, shrunk here to 2 for brevity.
    let h = Harness::new(|_, _| Answer::Ok);
    h.budgets.set_table(RateTable::aws_defaults().with(&[parse_rate_limit("ec2.CreateTags=1/2").unwrap()]));
    let ec2 = h.ec2();
    for vpc in ["vpc-1", "vpc-2", "vpc-3", "vpc-4"] {
        ec2.create_tags().resources(vpc).send().await.op("CreateTags").unwrap();
    }
    // Two from the bucket, then one a second; no throttle was needed to get there.
    let sleeps = h.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(sleeps.iter().all(|d| approx(*d, 1.0)), "{sleeps:?}");
    assert_eq!(h.fake.calls("CreateTags"), 4);
    // Another action of EC2 draws from its own documented bucket.
    ec2.describe_vpcs().send().await.op("DescribeVpcs").unwrap();
    assert_eq!(h.sleeps().len(), 2);
    assert_eq!(h.budgets.limit(&BudgetKey::of("EC2", "DescribeVpcs")), Some(20.0));
}

#[tokio::test]
async fn retries_are_bounded_by_max_attempts() {
    let h = Harness::new(|op, _| if op == "CreateTags" { Answer::Throttle } else { Answer::Ok });
    let err = h.ec2().create_tags().resources("vpc-1").send().await.op("CreateTags").unwrap_err();
    assert!(matches!(err, ProviderError::Throttled(_)), "{err:?}");
    assert_eq!(h.fake.calls("CreateTags"), 3);
}

#[tokio::test]
async fn a_create_without_idempotency_token_is_not_resent_after_a_lost_answer() {
    // A 5xx or a connection dropped after sending: AWS may have created the VPC.
    for answer in [Answer::ServerError, Answer::Reset] {
        let h = Harness::new(move |op, n| if op == "CreateVpc" && n == 0 { answer } else { Answer::Ok });
        let err = h.ec2().create_vpc().cidr_block("10.0.0.0/16").send().await.op("CreateVpc").unwrap_err();
        assert!(matches!(err, ProviderError::Retryable(_)), "{answer:?}: {err:?}");
        assert_eq!(h.fake.calls("CreateVpc"), 1, "{answer:?}");
    }
}

#[tokio::test]
async fn a_create_without_token_is_resent_when_aws_cannot_have_performed_it() {
    // Throttled, or the connection was refused: the request was not performed.
    for answer in [Answer::Throttle, Answer::Refused] {
        let h = Harness::new(move |op, n| if op == "CreateVpc" && n == 0 { answer } else { Answer::Ok });
        let out = h.ec2().create_vpc().cidr_block("10.0.0.0/16").send().await.op("CreateVpc").expect("retried");
        assert_eq!(out.vpc().and_then(|v| v.vpc_id()), Some("vpc-1"));
        assert_eq!(h.fake.calls("CreateVpc"), 2, "{answer:?}");
    }
}

#[tokio::test]
async fn a_create_with_a_unique_key_is_resent_after_a_server_error() {
    // A repeated CreateSubnet answers InvalidSubnet.Conflict, which the kind adopts.
    let h = Harness::new(|op, n| if op == "CreateSubnet" && n == 0 { Answer::ServerError } else { Answer::Ok });
    h.ec2().create_subnet().vpc_id("vpc-1").cidr_block("10.0.1.0/24").send().await.op("CreateSubnet").expect("retried");
    assert_eq!(h.fake.calls("CreateSubnet"), 2);
}
