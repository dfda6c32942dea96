//! Helpers shared by the WAFv2 kinds: schema pieces, error codes, composite ids, lock-token retries, tags and visibility configs.

use std::future::Future;

use aws_sdk_wafv2::types::{Scope, Tag, VisibilityConfig};
use aws_sdk_wafv2::Client;
use cairn_engine::provider::{NameScope, Naming, PropSpec, PropType, ProviderError, Tags, TextRule};
use serde_json::{json, Value};

use crate::kit::errors::{message_of, ServiceResultExt};
pub(crate) use crate::kit::service_codes::WAFV2;
use crate::kit::tagging;

/// The same typed prop reading the RDS kinds use.
pub(crate) use crate::rds_common::PropReader;

/// WAF names (IP sets, web ACLs, rules): up to 128 letters, digits, `_` and `-`; unique per
/// scope in a region.
pub(crate) const NAME_RULE: TextRule = TextRule::len(1, 128).chars("_-");
pub(crate) const NAMING: Naming = Naming::new(NAME_RULE, NameScope::Region);
/// Where a WAF object applies.
pub(crate) const SCOPE: PropType = PropType::Enum(&["REGIONAL", "CLOUDFRONT"]);
/// Descriptions: up to 256 of letters, digits, spaces and `_+=:#@/-,.` ("" sends none).
pub(crate) const DESCRIPTION: PropType = PropType::Text(TextRule::len(0, 256).chars("_+=:#@/-,. "));
/// A WAF resource ARN (web ACL, IP set, log destination): 20 to 2048 characters.
pub(crate) const ARN: PropType = PropType::Text(TextRule::len(20, 2_048));
/// An ARN-holding field: the builders refuse anything else before WAF would.
pub(crate) fn arn_rule(arn: &Value) -> Vec<String> {
    match arn.as_str() {
        Some(a) if !a.starts_with("arn:") => vec![format!("\"{a}\" is not an ARN (write a reference such as ${{my_acl.arn}})")],
        _ => vec![],
    }
}

/// `{ cloudwatch_metrics_enabled, metric_name, sampled_requests_enabled }`, all required.
pub(crate) const VISIBILITY: PropType = PropType::Struct(&[
    PropSpec::new("cloudwatch_metrics_enabled", PropType::Bool, "Send metrics to CloudWatch.").required(),
    PropSpec::new("metric_name", PropType::Text(TextRule::len(1, 255).chars("_#:.-/")), "The CloudWatch metric name.").required(),
    PropSpec::new("sampled_requests_enabled", PropType::Bool, "Keep samples of matching requests.").required(),
]);

/// How often an update re-reads the lock token and tries again when someone else changed
/// the resource in between (WAFOptimisticLockException).
pub(crate) const LOCK_ATTEMPTS: usize = 5;
const LOCK_CODE: &str = "WAFOptimisticLockException";

pub(crate) fn is_lock_conflict(err: &ProviderError) -> bool {
    matches!(err, ProviderError::Conflict(m) if m.contains(LOCK_CODE))
}

/// Runs `attempt` (which reads the lock token and then writes) again while WAF answers that
/// the resource changed since the token was read: conflict handling, not throttling, so no
/// sleeping; the SDK's own retries cover throttling.
pub(crate) async fn retry_on_lock<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut last = String::new();
    for _ in 0..LOCK_ATTEMPTS {
        match attempt().await {
            Err(e) if is_lock_conflict(&e) => last = message_of(e),
            other => return other,
        }
    }
    Err(ProviderError::Conflict(format!("{what}: changed by someone else {LOCK_ATTEMPTS} times in a row while cairn was writing it; re-run apply ({last})")))
}

pub(crate) fn scope_of(kind: &str, scope: &str) -> Result<Scope, ProviderError> {
    match scope {
        "REGIONAL" => Ok(Scope::Regional),
        "CLOUDFRONT" => Ok(Scope::Cloudfront),
        other => Err(ProviderError::Invalid(format!("{kind}: scope must be \"REGIONAL\" or \"CLOUDFRONT\", not {other:?}"))),
    }
}

/// CloudFront-scoped WAF objects live in us-east-1 only.
pub(crate) fn check_scope_region(kind: &str, scope: &Scope, client: &Client) -> Result<(), ProviderError> {
    let region = client.config().region().map(|r| r.to_string()).unwrap_or_default();
    if *scope == Scope::Cloudfront && region != "us-east-1" {
        return Err(ProviderError::Invalid(format!("{kind}: scope CLOUDFRONT works only in us-east-1, and this stack is in {region}")));
    }
    Ok(())
}

/// A WAF object's id: WAF needs name, id and scope for every call, so cairn's id is
/// `SCOPE/NAME/ID` (names cannot contain `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WafId {
    pub scope: Scope,
    pub name: String,
    pub id: String,
}

impl WafId {
    pub fn parse(kind: &str, text: &str) -> Result<WafId, ProviderError> {
        let mut parts = text.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(scope), Some(name), Some(id)) if !name.is_empty() && !id.is_empty() => {
                Ok(WafId { scope: scope_of(kind, scope)?, name: name.to_string(), id: id.to_string() })
            }
            _ => Err(ProviderError::Invalid(format!("{kind}: id {text:?} is not SCOPE/NAME/ID"))),
        }
    }
}

impl std::fmt::Display for WafId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.scope.as_str(), self.name, self.id)
    }
}

pub(crate) fn waf_tags(tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(format!("tag {k}: {e}")))).collect()
}

pub(crate) async fn list_tags(client: &Client, arn: &str) -> Result<Tags, ProviderError> {
    let mut tags = Tags::new();
    let mut marker: Option<String> = None;
    loop {
        let out = client.list_tags_for_resource().resource_arn(arn).set_next_marker(marker.clone()).send().await.op_in(&WAFV2, "ListTagsForResource")?;
        if let Some(info) = out.tag_info_for_resource() {
            tags.extend(info.tag_list().iter().map(|t| (t.key().to_string(), t.value().to_string())));
        }
        match out.next_marker().filter(|m| !m.is_empty() && Some(*m) != marker.as_deref()) {
            Some(next) => marker = Some(next.to_string()),
            None => return Ok(tags),
        }
    }
}

pub(crate) async fn sync_tags(client: &Client, arn: &str, want: &Tags) -> Result<(), ProviderError> {
    let current = list_tags(client, arn).await?;
    let set = |tags: Tags| async move {
        client.tag_resource().resource_arn(arn).set_tags(Some(waf_tags(&tags)?)).send().await.map(|_| ()).op_in(&WAFV2, "TagResource")
    };
    let remove = |keys: Vec<String>| async move {
        client.untag_resource().resource_arn(arn).set_tag_keys(Some(keys)).send().await.map(|_| ()).op_in(&WAFV2, "UntagResource")
    };
    tagging::sync(&current, want, set, remove).await
}

/// `{ cloudwatch_metrics_enabled, metric_name, sampled_requests_enabled }`, all required.
pub(crate) fn visibility_config(reader: &PropReader<'_>, at: &str, value: Option<&Value>) -> Result<VisibilityConfig, ProviderError> {
    let shape = || reader.invalid(format!("{at} must be {{ cloudwatch_metrics_enabled: bool, metric_name: string, sampled_requests_enabled: bool }}"));
    let obj = value.and_then(Value::as_object).ok_or_else(shape)?;
    if obj.keys().any(|k| !["cloudwatch_metrics_enabled", "metric_name", "sampled_requests_enabled"].contains(&k.as_str())) {
        return Err(shape());
    }
    let metrics = obj.get("cloudwatch_metrics_enabled").and_then(Value::as_bool).ok_or_else(shape)?;
    let sampled = obj.get("sampled_requests_enabled").and_then(Value::as_bool).ok_or_else(shape)?;
    let metric_name = obj.get("metric_name").and_then(Value::as_str).filter(|m| !m.is_empty()).ok_or_else(shape)?;
    VisibilityConfig::builder()
        .cloud_watch_metrics_enabled(metrics)
        .sampled_requests_enabled(sampled)
        .metric_name(metric_name)
        .build()
        .map_err(|e| reader.invalid(format!("{at}: {e}")))
}

pub(crate) fn visibility_json(config: Option<&VisibilityConfig>) -> Value {
    match config {
        Some(c) => json!({
            "cloudwatch_metrics_enabled": c.cloud_watch_metrics_enabled(),
            "metric_name": c.metric_name(),
            "sampled_requests_enabled": c.sampled_requests_enabled(),
        }),
        None => Value::Null,
    }
}

/// WAF refuses an empty description, so "" means "send none".
pub(crate) fn description_param(description: &str) -> Option<String> {
    (!description.is_empty()).then(|| description.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn ids_round_trip_and_bad_ones_are_refused() {
        let id = WafId::parse("k", "REGIONAL/blocklist/a1b2-c3").unwrap();
        assert_eq!((id.scope.clone(), id.name.as_str(), id.id.as_str()), (Scope::Regional, "blocklist", "a1b2-c3"));
        assert_eq!(id.to_string(), "REGIONAL/blocklist/a1b2-c3");
        for bad in ["blocklist", "REGIONAL/blocklist", "GLOBAL/a/b", "REGIONAL//b"] {
            assert!(WafId::parse("k", bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn lock_conflicts_are_retried_a_bounded_number_of_times() {
        let calls = Cell::new(0);
        let result: Result<u32, _> = retry_on_lock("x", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(ProviderError::Conflict(format!("UpdateIPSet: {LOCK_CODE}: stale token")))
                } else {
                    Ok(7)
                }
            }
        })
        .await;
        assert_eq!((result, calls.get()), (Ok(7), 3));

        calls.set(0);
        let result: Result<u32, _> = retry_on_lock("x", || {
            calls.set(calls.get() + 1);
            async { Err(ProviderError::Conflict(format!("UpdateIPSet: {LOCK_CODE}: stale token"))) }
        })
        .await;
        assert!(matches!(result, Err(ProviderError::Conflict(ref m)) if m.contains("5 times")), "{result:?}");
        assert_eq!(calls.get(), LOCK_ATTEMPTS);

        calls.set(0);
        let result: Result<u32, _> = retry_on_lock("x", || {
            calls.set(calls.get() + 1);
            async { Err(ProviderError::Conflict("WAFAssociatedItemException: in use".into())) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.get(), 1, "other conflicts are not retried");
    }
}
