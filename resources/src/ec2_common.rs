//! Helpers shared by the EC2 kinds: tags, ownership filters, batched describes, ARNs, error codes, waits and dependency reports.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_ec2::Client;
use aws_smithy_runtime_api::client::result::SdkError;
use cairn_engine::diff;
use cairn_engine::provider::{Desired, Observed, ProviderError, ResourceSchema, Tags, TextRule};
use serde_json::Value;

use crate::kit::errors::ServiceResultExt;
pub use crate::kit::errors::{invalid, text_of};
pub use crate::kit::service_codes::EC2;
use crate::kit::{arns, tagging};

/// Ids per Describe call. EC2 accepts at most 200 values in one filter, and the id-list
/// calls fall back to a filter, so both use the same chunk.
pub const BATCH: usize = 200;

/// Turns an EC2 error into a `ProviderError`: the shared table, then EC2's own codes.
pub fn ec2_error<E, R>(operation: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    EC2.classify(operation, err)
}

/// EC2's tag list as a map.
pub fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

fn ec2_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Tags for the creating call, so a resource never exists without its ownership tags.
pub fn tag_spec(resource_type: ResourceType, tags: &Tags) -> Option<Vec<TagSpecification>> {
    (!tags.is_empty()).then(|| vec![TagSpecification::builder().resource_type(resource_type).set_tags(Some(ec2_tags(tags))).build()])
}

pub fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder().name(name).set_values(Some(values.into_iter().map(Into::into).collect())).build()
}

/// `tag:cairn:*` filters that select what one owner created.
///
/// Filter values are patterns (`*` and `?` are wildcards on AWS; moto also reads `[...]` as a
/// character class, so `network.eip[0]` would never match itself there). Those characters are
/// sent as `?`, which matches any one character everywhere; the filter then narrows the answer
/// and the exact match is made on the tags read back (`Owner::matches`, via `pick_owned`).
pub fn owner_filters(desired: &Desired) -> Vec<Filter> {
    desired.owner.tags().iter().map(|(k, v)| filter(&format!("tag:{k}"), [literal_pattern(v)])).collect()
}

/// `value` as a filter pattern that matches at least `value` itself.
fn literal_pattern(value: &str) -> String {
    value.chars().map(|c| if matches!(c, '[' | ']' | '*' | '?') { '?' } else { c }).collect()
}

/// Brings the tags of `id` from `current` to `desired` with CreateTags / DeleteTags.
pub async fn sync_tags(client: &Client, id: &str, current: &Tags, desired: &Tags) -> Result<(), ProviderError> {
    let set = |tags: Tags| async move { client.create_tags().resources(id).set_tags(Some(ec2_tags(&tags))).send().await.map(|_| ()).op_in(&EC2, "CreateTags") };
    let remove = |keys: Vec<String>| async move {
        let keys = keys.into_iter().map(|k| Tag::builder().key(k).build()).collect();
        client.delete_tags().resources(id).set_tags(Some(keys)).send().await.map(|_| ()).op_in(&EC2, "DeleteTags")
    };
    tagging::sync(current, desired, set, remove).await
}

/// How one Describe call selects resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The id-list parameter (`VpcIds`, `SubnetIds`...): fails the whole call when one id is gone.
    Ids(Vec<String>),
    /// The id filter (`vpc-id`, `subnet-id`...): returns only those that exist.
    Filter(Vec<String>),
}

/// Describes `ids` in chunks of `BATCH`, one call per chunk (plus pages). When a chunk
/// fails because one of its ids no longer exists, the chunk is asked again through the id
/// filter, which returns the ones that do; a chunk of one id needs no second call.
pub async fn describe_batched<T, F, Fut>(ids: &[String], mut call: F) -> Result<Vec<T>, ProviderError>
where
    F: FnMut(Lookup) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ProviderError>>,
{
    let mut unique = ids.to_vec();
    unique.sort();
    unique.dedup();
    let mut out = Vec::new();
    for chunk in unique.chunks(BATCH) {
        match call(Lookup::Ids(chunk.to_vec())).await {
            Ok(items) => out.extend(items),
            Err(ProviderError::NotFound(_)) if chunk.len() == 1 => {}
            Err(ProviderError::NotFound(_)) => out.extend(call(Lookup::Filter(chunk.to_vec())).await?),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// One resource by id through `describe_batched`; `None` when it is gone.
pub async fn describe_by_id<T, F, Fut>(id: &str, call: F) -> Result<Option<T>, ProviderError>
where
    F: FnMut(Lookup) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ProviderError>>,
{
    Ok(describe_batched(&[id.to_string()], call).await?.into_iter().next())
}

/// Every asked id with what was observed of it (`None` for the ones not found).
pub fn answer_each(ids: &[String], observed: impl IntoIterator<Item = Observed>) -> BTreeMap<String, Option<Observed>> {
    let mut out: BTreeMap<String, Option<Observed>> = ids.iter().map(|id| (id.clone(), None)).collect();
    for o in observed {
        out.insert(o.id.clone(), Some(o));
    }
    out
}

/// `read_many` of an EC2 kind: its batched describes, each resource found observed.
pub async fn read_batched<T, F, Fut>(
    ids: &[String],
    call: F,
    observe: impl FnMut(&T) -> Option<Observed>,
) -> Result<BTreeMap<String, Option<Observed>>, ProviderError>
where
    F: FnMut(Lookup) -> Fut,
    Fut: Future<Output = Result<Vec<T>, ProviderError>>,
{
    let found = describe_batched(ids, call).await?;
    Ok(answer_each(ids, found.iter().filter_map(observe)))
}

/// The ARN of an EC2 resource that the API does not report one for.
pub fn arn(client: &Client, owner_id: &str, resource: &str) -> String {
    let region = client.config().region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    arns::regional("ec2", &region, owner_id, resource)
}

/// The schema's checks, run again when the request is built: values known only at apply
/// (`${vpc.id}`, a rule list holding one) skipped them at validate.
pub fn check(schema: &ResourceSchema, desired: &Desired) -> Result<(), ProviderError> {
    crate::schema_check::check(schema, &desired.props)
}

/// An EC2 resource id (`vpc-0a1b...`, `igw-...`, `eipalloc-...`): the API types ids as plain
/// strings; this keeps out what no id looks like (spaces, slashes, an empty string).
pub const ID: TextRule = TextRule::len(1, 64).chars("-");
/// An IPv4 CIDR block as text (`0.0.0.0/0` to `255.255.255.255/32`); its syntax and prefix
/// length are checked by the `*_cidr` rules.
pub const CIDR4: TextRule = TextRule::len(9, 18).chars("./");
/// An IPv6 CIDR block as text (`::/0` to eight groups with a prefix), checked by `ipv6_cidr`.
pub const CIDR6: TextRule = TextRule::len(4, 43).chars(":/");

/// Why `s` is not an IPv4 CIDR block with a prefix length in `prefixes`.
fn ipv4_violation(s: &str, prefixes: std::ops::RangeInclusive<u8>) -> Option<String> {
    let Some((addr, len)) = s.split_once('/') else { return Some(format!("must be an IPv4 CIDR block such as 10.0.0.0/16, not {s:?}")) };
    if addr.parse::<std::net::Ipv4Addr>().is_err() || len.parse::<u8>().is_err() || len.len() > 2 {
        return Some(format!("must be an IPv4 CIDR block such as 10.0.0.0/16, not {s:?}"));
    }
    let n: u8 = len.parse().unwrap_or(u8::MAX);
    (!prefixes.contains(&n)).then(|| format!("must have a prefix length from /{} to /{}, not /{n}", prefixes.start(), prefixes.end()))
}

fn text_rule(v: &Value, check: impl Fn(&str) -> Option<String>) -> Vec<String> {
    v.as_str().and_then(check).into_iter().collect()
}

/// Any IPv4 CIDR block (routes, security group rules).
pub fn ipv4_cidr(v: &Value) -> Vec<String> {
    text_rule(v, |s| ipv4_violation(s, 0..=32))
}

/// A VPC's or subnet's IPv4 block: AWS allows netmasks from /16 to /28 (CreateVpc, CreateSubnet).
pub fn network_cidr(v: &Value) -> Vec<String> {
    text_rule(v, |s| ipv4_violation(s, 16..=28))
}

/// Any IPv6 CIDR block.
pub fn ipv6_cidr(v: &Value) -> Vec<String> {
    text_rule(v, |s| {
        let ok = s.split_once('/').is_some_and(|(a, n)| a.parse::<std::net::Ipv6Addr>().is_ok() && n.len() <= 3 && n.parse::<u8>().is_ok_and(|n| n <= 128));
        (!ok).then(|| format!("must be an IPv6 CIDR block such as 2001:db8::/56, not {s:?}"))
    })
}

/// The desired value of a prop, or its schema default, so that create sets what read reports.
pub use crate::adopt::wanted as value;

pub fn str_value(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<Option<String>, ProviderError> {
    match value(schema, desired, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(schema.kind, format!("{name} must be a string, not {other}"))),
    }
}

pub fn required_str(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<String, ProviderError> {
    str_value(schema, desired, name)?.ok_or_else(|| invalid(schema.kind, format!("{name} is required")))
}

pub fn bool_value(schema: &ResourceSchema, desired: &Desired, name: &str) -> Result<bool, ProviderError> {
    match value(schema, desired, name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(other) => Err(invalid(schema.kind, format!("{name} must be true or false, not {other}"))),
    }
}

/// Whether a resource found by its ownership tags is the one `desired` describes. After
/// an interrupted replacement both the old and the new resource carry the owner's tags;
/// the old one differs in a property that forces replacement, so it is not adopted.
pub fn is_owned_match(schema: &ResourceSchema, desired: &Desired, observed: &Observed) -> bool {
    desired.owner.matches(&observed.tags)
        && schema.props.iter().filter(|p| p.force_new && !p.local).all(|p| match value(schema, desired, p.name) {
            Some(want) => diff::same(p.ty, &want, observed.props.get(p.name)),
            None => true,
        })
}

/// The first candidate `is_owned_match` accepts.
pub fn pick_owned(schema: &ResourceSchema, desired: &Desired, candidates: impl IntoIterator<Item = Observed>) -> Option<Observed> {
    candidates.into_iter().find(|o| is_owned_match(schema, desired, o))
}

/// How many client tokens a create tries before giving up: each retired token names a
/// resource of this address that was deleted since (a replacement, an out-of-band delete).
pub const TOKEN_GENERATIONS: u32 = 8;

/// The ClientToken of one create call, deterministic so that a create repeated after a lost
/// response or a crash is recognised by EC2 and answered with the resource it already made.
/// EC2 remembers a token after its resource is gone and answers with that dead resource (or
/// IdempotentParameterMismatch when the parameters changed), so a create that meets one moves
/// on to the next `generation`; the first generation naming no dead resource is the live one.
pub fn client_token(desired: &Desired, generation: u32) -> String {
    crate::adopt::token(&[&desired.idempotency_token, &generation.to_string()], 64)
}

/// Whether a create failed because its token was used before with other parameters.
pub fn is_token_mismatch(e: &ProviderError) -> bool {
    text_of(e).contains("IdempotentParameterMismatch")
}

/// Repeats `call` while it reports NotFound: EC2 is eventually consistent, and a resource
/// created a moment ago can be unknown to the next call for a few seconds.
pub async fn eventually<T, F, Fut>(mut call: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut delay = Duration::from_millis(500);
    for _ in 0..6 {
        match call().await {
            Err(ProviderError::NotFound(_)) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
    call().await
}

/// Reads a resource just created, allowing for EC2's eventual consistency.
pub async fn read_created<F, Fut>(kind: &str, id: &str, mut read: F) -> Result<Observed, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<Observed>, ProviderError>>,
{
    eventually(|| {
        let fut = read();
        async move { fut.await?.ok_or_else(|| ProviderError::NotFound(format!("{kind} {id} is not readable yet"))) }
    })
    .await
    .map_err(|e| match e {
        ProviderError::NotFound(m) => ProviderError::Retryable(m),
        other => other,
    })
}

/// Pauses between deletes refused with DependencyViolation: about two minutes in all, long
/// enough for the interfaces of a NAT gateway or load balancer deleted a moment earlier in
/// the same destroy to go, short enough that a real blocker is reported promptly.
pub const IN_USE_DELAYS: [Duration; 6] =
    [Duration::from_secs(5), Duration::from_secs(10), Duration::from_secs(15), Duration::from_secs(20), Duration::from_secs(30), Duration::from_secs(40)];

/// Repeats a delete while EC2 refuses it with DependencyViolation, within `IN_USE_DELAYS`,
/// sleeping with the client's own sleep so the pause follows the SDK's clock. Returns the
/// last answer, for `dependency_conflict` to explain.
pub async fn while_in_use<F, Fut>(client: &Client, mut delete: F) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ProviderError>>,
{
    use aws_sdk_ec2::config::AsyncSleep;
    for delay in IN_USE_DELAYS {
        match delete().await {
            Err(e @ ProviderError::Conflict(_)) if text_of(&e).contains("DependencyViolation") => match client.config().sleep_impl() {
                Some(sleep) => sleep.sleep(delay).await,
                None => tokio::time::sleep(delay).await,
            },
            other => return other,
        }
    }
    delete().await
}

/// The network interfaces that keep a subnet, security group or VPC from being deleted,
/// one line each, for the DependencyViolation message.
pub async fn blocking_interfaces(client: &Client, filter_name: &str, id: &str) -> Result<Vec<String>, ProviderError> {
    let enis = client
        .describe_network_interfaces()
        .filters(filter(filter_name, [id]))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .op_in(&EC2, "DescribeNetworkInterfaces")?;
    let mut lines: Vec<String> = enis
        .iter()
        .map(|eni| {
            let mut line = eni.network_interface_id().unwrap_or("?").to_string();
            if let Some(d) = eni.description().filter(|d| !d.is_empty()) {
                line.push_str(&format!(" \"{d}\""));
            }
            let requester = eni.requester_id().map(str::to_string).or_else(|| eni.attachment().and_then(|a| a.instance_owner_id()).map(str::to_string));
            if let Some(r) = requester {
                line.push_str(&format!(" requested by {r}"));
            }
            if let Some(t) = eni.interface_type() {
                line.push_str(&format!(" (type {})", t.as_str()));
            }
            if let Some(s) = eni.status() {
                line.push_str(&format!(", {}", s.as_str()));
            }
            line
        })
        .collect();
    lines.sort();
    Ok(lines)
}

/// Turns a DependencyViolation from deleting `what` into a Conflict naming the network
/// interfaces still using it and what to do. ENIs are never deleted here: they belong to
/// load balancers, EKS, Lambda or instances, which release them themselves.
pub async fn dependency_conflict(client: &Client, what: &str, filter_name: &str, id: &str, original: ProviderError) -> ProviderError {
    let ProviderError::Conflict(aws_message) = &original else { return original };
    let enis = match blocking_interfaces(client, filter_name, id).await {
        Ok(enis) => enis,
        Err(e) => return ProviderError::Conflict(format!("{aws_message} (listing the network interfaces that use {what} {id} failed too: {e})")),
    };
    if enis.is_empty() {
        return ProviderError::Conflict(format!(
            "{what} {id} is still in use ({aws_message}); no network interface uses it now, so it is another resource (a rule of another security group, a route, an attachment) or interfaces that were just released: re-run destroy"
        ));
    }
    ProviderError::Conflict(format!(
        "{what} {id} is still used, after waiting two minutes, by {} network interface(s): {}. These belong to other services (load balancers, EKS, Lambda, instances): delete the load balancer or service that owns them, or wait for EKS to release them (this can take several minutes after a cluster or node group is deleted), then re-run destroy. cairn does not delete interfaces it did not create. ({aws_message})",
        enis.len(),
        enis.join("; ")
    ))
}

/// Maps a waiter's error: a timeout becomes Retryable with advice, a failure state Fatal.
pub fn waiter_error<O, E>(
    what: &str,
    state: &str,
    minutes: i64,
    advice: &str,
    err: aws_smithy_runtime_api::client::waiters::error::WaiterError<O, E>,
) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_smithy_runtime_api::client::waiters::error::WaiterError;
    match err {
        WaiterError::ExceededMaxWait(_) => ProviderError::Retryable(format!("{what} still {state} after {minutes} minutes; {advice}")),
        WaiterError::FailureState(_) => ProviderError::Fatal(format!("{what} reached a failed state while waiting")),
        WaiterError::OperationFailed(f) => ec2_error("waiting", f.into_error()),
        WaiterError::ConstructionFailure(_) => ProviderError::Fatal(format!("waiting for {what}: the waiter could not be built")),
        _ => ProviderError::Fatal(format!("waiting for {what} failed")),
    }
}

/// Mocked EC2 clients for the kinds' tests and the benchmark.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use aws_sdk_ec2::config::{AsyncSleep, BehaviorVersion, Credentials, Region, Sleep};
    use aws_sdk_ec2::Client;
    use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use aws_types::sdk_config::TimeSource;
    use cairn_engine::provider::{Desired, Owner, Props, ProviderError, ResourceSchema, Tags};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use serde_json::Value;

    /// Virtual time: sleeping advances it at once, so waiter timeouts are reached instantly.
    #[derive(Debug, Clone, Default)]
    pub struct Clock(Arc<AtomicU64>);

    impl AsyncSleep for Clock {
        fn sleep(&self, duration: Duration) -> Sleep {
            self.0.fetch_add(duration.as_millis() as u64, Ordering::SeqCst);
            Sleep::new(std::future::ready(()))
        }
    }

    impl TimeSource for Clock {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(self.0.load(Ordering::SeqCst))
        }
    }

    pub fn client(rules: &[Rule]) -> Client {
        let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            mocks = mocks.with_rule(rule);
        }
        let clock = Clock::default();
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .sleep_impl(clock.clone())
            .time_source(clock)
            .interceptor(mocks)
            .build();
        Client::from_conf(config)
    }

    pub fn error_meta(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message(format!("mocked {code}")).build()
    }

    pub fn owner() -> Owner {
        Owner { stack: "net".into(), env: "dev".into(), address: "main".into() }
    }

    pub fn desired(props: Value) -> Desired {
        let mut tags = owner().tags();
        tags.insert("Project".into(), "LegacyPlatform".into());
        Desired {
            props: props.as_object().cloned().unwrap_or_default(),
            tags,
            owner: owner(),
            default_name: "net-dev-main".into(),
            idempotency_token: "cairn-0123456789abcdef".into(),
        }
    }

    pub fn ec2_tags(tags: &Tags) -> Vec<aws_sdk_ec2::types::Tag> {
        super::ec2_tags(tags)
    }

    /// Every default is JSON that the prop's own type accepts, so a prop left unset is set to
    /// something AWS takes (and the default never fails the apply-time `check`).
    pub fn defaults_typecheck(schema: &cairn_engine::provider::ResourceSchema) {
        for p in schema.props {
            if let Some(d) = p.default {
                let v = serde_json::from_str::<Value>(d).unwrap_or_else(|e| panic!("{} default of {}: {e}", schema.kind, p.name));
                let props = serde_json::Map::from_iter([(p.name.to_string(), v)]);
                // The default alone, without the rules that relate it to other props.
                let problems: Vec<_> = cairn_engine::typecheck::check_props(schema, &props, false).into_iter().filter(|v| !v.whole).collect();
                assert!(problems.is_empty(), "{} default of {}: {problems:?}", schema.kind, p.name);
            }
        }
    }

    /// Props the schema accepts (its cross-field rules included), drawn from the declared
    /// types like `schema_gen::props`, except for the props in `overrides`: those whose rules
    /// a draw from the type alone almost never meets (CIDR syntax, one source per rule, a
    /// sorted list), which get a strategy of values meant to pass. The filter keeps only
    /// what the schema accepts, so an override can never widen what is tested. The naming
    /// prop is left to the default name, as in `schema_gen::props`.
    pub fn props_with(schema: &'static ResourceSchema, overrides: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Props> {
        let naming = schema.naming().map(|(p, _)| p);
        let entries: Vec<BoxedStrategy<Option<(String, Value)>>> = schema
            .props
            .iter()
            .filter(|p| Some(p.name) != naming)
            .map(|p| {
                let name = p.name.to_string();
                let values = match overrides.iter().find(|(o, _)| *o == p.name) {
                    Some((_, s)) => s.clone(),
                    None => crate::schema_gen::value(p.ty),
                };
                let v = values.prop_map(move |v| Some((name.clone(), v)));
                if p.required {
                    v.boxed()
                } else {
                    prop_oneof![Just(None), v].boxed()
                }
            })
            .collect();
        entries
            .prop_map(|es| es.into_iter().flatten().collect::<Props>())
            .prop_filter("the schema accepts it", move |p| cairn_engine::typecheck::check_props(schema, p, true).is_empty())
            .boxed()
    }

    /// IPv4 CIDR blocks (host bits zero) with a prefix length in `prefixes`.
    pub fn cidr4(prefixes: std::ops::RangeInclusive<u8>) -> BoxedStrategy<Value> {
        (any::<u32>(), prefixes)
            .prop_map(|(addr, len)| {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
                Value::String(format!("{}/{len}", std::net::Ipv4Addr::from(addr & mask)))
            })
            .boxed()
    }

    /// IPv6 CIDR blocks.
    pub fn cidr6() -> BoxedStrategy<Value> {
        (any::<u128>(), 0u8..=128)
            .prop_map(|(addr, len)| {
                let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) };
                Value::String(format!("{}/{len}", std::net::Ipv6Addr::from(addr & mask)))
            })
            .boxed()
    }

    /// The first half of a kind's agreement test: `build` (the kind's pure request builder)
    /// accepts every props value `strategy` draws, and those are all values the schema accepts.
    pub fn builder_accepts_all<T>(schema: &'static ResourceSchema, strategy: BoxedStrategy<Props>, build: impl Fn(&Desired) -> Result<T, ProviderError>) {
        let mut runner = TestRunner::new(Config { cases: 200, failure_persistence: None, ..Config::default() });
        runner
            .run(&strategy, |props| {
                let d = desired(Value::Object(props));
                prop_assert!(cairn_engine::typecheck::check_props(schema, &d.props, true).is_empty());
                build(&d).map(|_| ()).map_err(|e| TestCaseError::fail(format!("the builder refuses {:?}: {e}", d.props)))
            })
            .unwrap_or_else(|e| panic!("{}: {e}", schema.kind));
    }

    /// The second half: each of `refused` is refused by `build` and by the schema.
    pub fn schema_refuses_what_the_builder_refuses<T>(
        schema: &'static ResourceSchema,
        refused: &[Value],
        build: impl Fn(&Desired) -> Result<T, ProviderError>,
    ) {
        for props in refused {
            let d = desired(props.clone());
            assert!(build(&d).is_err(), "{}: the builder accepts {props}", schema.kind);
            assert!(!cairn_engine::typecheck::check_props(schema, &d.props, true).is_empty(), "{}: the schema accepts {props}", schema.kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn owner_filter_patterns_match_indexed_addresses_literally() {
        assert_eq!(literal_pattern("network.eip[0]"), "network.eip?0?");
        assert_eq!(literal_pattern("cluster.nodegroup[\"apps\"]"), "cluster.nodegroup?\"apps\"?");
        assert_eq!(literal_pattern("plain_name"), "plain_name");
    }

    #[tokio::test]
    async fn batches_fall_back_to_the_filter_when_an_id_is_gone() {
        let calls: Arc<Mutex<Vec<Lookup>>> = Arc::default();
        let ids: Vec<String> = (0..450).map(|i| format!("vpc-{i:04}")).collect();
        let seen = calls.clone();
        let out = describe_batched(&ids, |lookup| {
            seen.lock().unwrap().push(lookup.clone());
            async move {
                match lookup {
                    Lookup::Ids(ids) if ids.contains(&"vpc-0300".to_string()) => Err(ProviderError::NotFound("InvalidVpcID.NotFound".into())),
                    Lookup::Ids(ids) => Ok(ids),
                    Lookup::Filter(ids) => Ok(ids.into_iter().filter(|i| i != "vpc-0300").collect()),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(out.len(), 449);
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 4, "three chunks, one retried through the filter");
        assert!(matches!(&calls[0], Lookup::Ids(c) if c.len() == 200));
        assert!(matches!(&calls[2], Lookup::Filter(c) if c.len() == 200));
        assert!(matches!(&calls[3], Lookup::Ids(c) if c.len() == 50));
    }

    #[tokio::test]
    async fn a_single_missing_id_needs_no_second_call() {
        let calls = Arc::new(Mutex::new(0));
        let seen = calls.clone();
        let out: Vec<String> = describe_batched(&["vpc-1".to_string()], |_| {
            *seen.lock().unwrap() += 1;
            async { Err(ProviderError::NotFound("gone".into())) }
        })
        .await
        .unwrap();
        assert!(out.is_empty());
        assert_eq!(*calls.lock().unwrap(), 1);
    }

    #[tokio::test]
    async fn other_errors_are_not_retried_through_the_filter() {
        let err = describe_batched::<String, _, _>(&["a".to_string(), "b".to_string()], |_| async { Err(ProviderError::AccessDenied("no".into())) })
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::AccessDenied(_)));
    }

    #[test]
    fn tag_specification_carries_every_tag() {
        let tags = Tags::from([("a".to_string(), "1".to_string()), ("cairn:stack".to_string(), "s".to_string())]);
        let spec = tag_spec(ResourceType::Vpc, &tags).unwrap();
        assert_eq!(spec[0].resource_type(), Some(&ResourceType::Vpc));
        assert_eq!(tags_of(spec[0].tags()), tags);
        assert!(tag_spec(ResourceType::Vpc, &Tags::new()).is_none());
    }

    #[test]
    fn client_tokens_fit_and_keep_the_engine_token() {
        let d = testing::desired(serde_json::json!({}));
        let t = client_token(&d, 0);
        assert_eq!(t, client_token(&d, 0), "a repeated create sends the same token");
        assert_ne!(t, client_token(&d, 1));
        assert!(t.starts_with("cairn-0123456789abcdef-") && t.len() <= 64, "{t}");
    }
}

/// What `cairn validate` says about EC2 network props the API would refuse halfway through an apply.
#[cfg(test)]
mod validate_tests {
    use cairn_engine::compile::{compile_source, CompileOptions};
    use cairn_engine::source::SourceFile;

    fn validate(resources: &str) -> String {
        let file = SourceFile::new("stack.yaml", format!("stack: net\nresources:\n{resources}"));
        match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas) {
            Ok(_) => "ok".into(),
            Err(d) => d.render(&file),
        }
    }

    #[test]
    fn network_props_aws_would_refuse_are_located() {
        insta::assert_snapshot!(validate(
            "  vpc:\n    type: aws.ec2.vpc\n    props: { cidr_block: 10.0.0.0/8, instance_tenancy: host }\n  \
             public:\n    type: aws.ec2.subnet\n    props: { vpc_id: \"${vpc.id}\", cidr_block: 10.0.0.0/24, availabilty_zone: us-east-1a }\n  \
             web:\n    type: aws.ec2.security_group\n    props:\n      name: sg-web\n      vpc_id: \"${vpc.id}\"\n      ingress:\n        \
             - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0] }\n        \
             - { protocol: tcp, from_port: 80, to_port: 80, cidr_blocks: [0.0.0.0/0, 10.0.0.0/8] }\n  \
             nat:\n    type: aws.ec2.nat_gateway\n    props: { subnet_id: \"${public.id}\", allocation_id: \"${eip.id}\", connectivity_type: Public }\n  \
             eip:\n    type: aws.ec2.eip\n"
        ));
    }

    #[test]
    fn a_valid_network_passes() {
        assert_eq!(
            validate(
                "  vpc:\n    type: aws.ec2.vpc\n    props: { cidr_block: 10.0.0.0/16 }\n  \
                 public:\n    type: aws.ec2.subnet\n    props: { vpc_id: \"${vpc.id}\", cidr_block: 10.0.0.0/24, availability_zone: us-east-1a }\n  \
                 igw:\n    type: aws.ec2.internet_gateway\n    props: { vpc_id: \"${vpc.id}\" }\n  \
                 rt:\n    type: aws.ec2.route_table\n    props: { vpc_id: \"${vpc.id}\", routes: [{ destination_cidr_block: 0.0.0.0/0, gateway_id: \"${igw.id}\" }], subnet_ids: [\"${public.id}\"] }\n  \
                 web:\n    type: aws.ec2.security_group\n    props:\n      vpc_id: \"${vpc.id}\"\n      ingress:\n        \
                 - { protocol: tcp, from_port: 80, to_port: 80, cidr_blocks: [0.0.0.0/0], description: \"HTTP (public)\" }\n        \
                 - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0] }\n"
            ),
            "ok"
        );
    }
}
