//! `aws.cloudwatch.metric_alarm`: a CloudWatch alarm on one metric or on a metric-math expression, with its actions.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Metric, MetricAlarm, MetricDataQuery, MetricStat, StandardUnit, Statistic, Tag};
use aws_sdk_cloudwatch::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::adopt;
use crate::aws::AwsContext;
use crate::error::{found, SdkResultExt};

const OPERATORS: &[&str] = &[
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];
/// The operators of anomaly-detection alarms, which compare against a band (threshold_metric_id).
const BAND_OPERATORS: &[&str] = &["LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold"];

const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

static METRIC: &[PropSpec] = &[
    PropSpec::new("metric_name", PropType::Text(TextRule::len(1, 255)), "Name of the metric.").required(),
    PropSpec::new("namespace", PropType::Text(TextRule::len(1, 255)), "Namespace of the metric (`AWS/SQS`, ...).").required(),
    PropSpec::new("period", PropType::IntRange(1, 604_800), "Seconds per datapoint: 10, 20, 30 or a multiple of 60.").required(),
    PropSpec::new("stat", PropType::Text(TextRule::len(1, 100)), "Statistic: Average, Sum, Minimum, Maximum, SampleCount or an extended one (p99, tm90, ...).")
        .required(),
    PropSpec::new("unit", PropType::Enum(UNITS), "Unit of the datapoints to use."),
    PropSpec::new("dimensions", PropType::StringMap, "Dimensions of the metric, name to value."),
];

static QUERY: &[PropSpec] = &[
    PropSpec::new(
        "id",
        PropType::Text(TextRule::len(1, 255).chars("_")),
        "Short name, unique in the alarm: letters, digits and `_`, starting with a lowercase letter.",
    )
    .required(),
    PropSpec::new("expression", PropType::Text(TextRule::len(1, 2048)), "A metric-math expression over the other queries' ids."),
    PropSpec::new("label", PropType::Text(TextRule::len(1, 255)), "Human-readable label of the series."),
    PropSpec::new("return_data", PropType::Bool, "True on the one query whose result the alarm watches; omit it on the others."),
    PropSpec::new("period", PropType::IntRange(1, 604_800), "Seconds per datapoint of an expression: 10, 20, 30 or a multiple of 60."),
    PropSpec::new("metric", PropType::Struct(METRIC), "The metric this query retrieves (instead of an expression)."),
];

static QUERIES: PropType = PropType::Struct(QUERY);

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.cloudwatch.metric_alarm",
    doc: "A CloudWatch metric alarm: one metric (metric_name, namespace, period, statistic) or a metric-math expression (metric_query), compared with a threshold, notifying SNS topics and other actions.",
    props: &[
        PropSpec::new("alarm_name", PropType::Text(TextRule::len(1, 255)), "Alarm name; defaults to a name derived from stack, env and address.")
            .force_new()
            .naming(NAMING),
        PropSpec::new("alarm_description", PropType::Text(TextRule::len(0, 1024)), "What the alarm means and what to do about it.").default("\"\""),
        PropSpec::new("comparison_operator", PropType::Enum(OPERATORS), "How the statistic is compared with the threshold.").required(),
        PropSpec::new("evaluation_periods", PropType::IntRange(1, 604_800), "Periods evaluated (the N of M out of N).").required(),
        PropSpec::new("datapoints_to_alarm", PropType::IntRange(1, 604_800), "Breaching datapoints that trigger the alarm (the M); at most evaluation_periods."),
        PropSpec::new(
            "threshold",
            PropType::Text(TextRule::len(1, 40)),
            "The value compared with, a number written as it reads back (80, 0.5, -3; not 80.0).",
        )
        .rule(threshold_rule),
        PropSpec::new(
            "threshold_metric_id",
            PropType::Text(TextRule::len(1, 255)),
            "For an anomaly-detection alarm: the id of the metric_query holding the ANOMALY_DETECTION_BAND, instead of a threshold.",
        ),
        PropSpec::new("metric_name", PropType::Text(TextRule::len(1, 255)), "Name of the metric watched (without metric_query)."),
        PropSpec::new("namespace", PropType::Text(TextRule::len(1, 255)), "Namespace of the metric (`AWS/SQS`, `AWS/RDS`, ...)."),
        PropSpec::new("period", PropType::IntRange(1, 604_800), "Seconds per datapoint: 10, 20, 30 or a multiple of 60."),
        PropSpec::new("statistic", PropType::Enum(&["SampleCount", "Average", "Sum", "Minimum", "Maximum"]), "Statistic of the metric (or extended_statistic)."),
        PropSpec::new("extended_statistic", PropType::Text(TextRule::len(2, 32)), "A percentile or trimmed statistic (`p99`, `p99.9`, `tm90`) instead of statistic.")
            .rule(extended_rule),
        PropSpec::new("dimensions", PropType::StringMap, "Dimensions of the metric, name to value (at most 30).").default("{}").rule(dimensions_rule),
        PropSpec::new("unit", PropType::Enum(UNITS), "Unit of the datapoints to use."),
        PropSpec::new("treat_missing_data", PropType::Enum(&["breaching", "notBreaching", "ignore", "missing"]), "How missing datapoints are treated.")
            .default("\"missing\""),
        PropSpec::new(
            "evaluate_low_sample_count_percentiles",
            PropType::Enum(&["evaluate", "ignore"]),
            "For percentiles: whether too few datapoints still change the alarm's state.",
        ),
        PropSpec::new("actions_enabled", PropType::Bool, "Whether the actions run when the state changes.").default("true"),
        PropSpec::new("alarm_actions", PropType::StringList, "ARNs notified on ALARM (SNS topics, ...), at most 5.").default("[]").rule(actions_rule),
        PropSpec::new("ok_actions", PropType::StringList, "ARNs notified on OK, at most 5.").default("[]").rule(actions_rule),
        PropSpec::new("insufficient_data_actions", PropType::StringList, "ARNs notified on INSUFFICIENT_DATA, at most 5.").default("[]").rule(actions_rule),
        PropSpec::new("metric_query", PropType::List(&QUERIES), "Metric-math queries, instead of metric_name/namespace/period/statistic.").rule(queries_rule),
    ],
    attrs: &["arn", "alarm_name"],
    taggable: true,
    rules: &[
        PropsRule {
            props: &["metric_query", "metric_name", "namespace", "period", "statistic", "extended_statistic", "dimensions", "unit"],
            check: metric_or_query_rule,
        },
        PropsRule { props: &["threshold", "threshold_metric_id", "comparison_operator", "metric_query"], check: threshold_choice_rule },
        PropsRule { props: &["period", "evaluation_periods", "datapoints_to_alarm"], check: periods_rule },
        PropsRule { props: &["evaluate_low_sample_count_percentiles", "extended_statistic"], check: low_sample_rule },
    ],
};

/// Alarm names: 1 to 255 characters; unique per region and account.
pub const NAMING: Naming = Naming::new(TextRule::len(1, 255), NameScope::Region);

/// A threshold as the API reads it back: the shortest spelling of the number.
pub fn number(f: f64) -> String {
    format!("{f}")
}

fn threshold_rule(v: &Value) -> Vec<String> {
    let Some(s) = v.as_str() else { return vec![] };
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && number(f) == s => vec![],
        Ok(f) if f.is_finite() => vec![format!("write the threshold {s} as {} (the way CloudWatch reports it), so plans compare it exactly", number(f))],
        _ => vec![format!("threshold {s:?} is not a number")],
    }
}

fn is_statistic(s: &str) -> bool {
    ["SampleCount", "Average", "Sum", "Minimum", "Maximum"].contains(&s) || extended_ok(s)
}

/// Percentile (`p99.9`) and trimmed/windsorized (`tm90`, `wm90`, `tc90`, `ts90`) statistics with a
/// value from 0 to 100, and `IQM`.
fn extended_ok(s: &str) -> bool {
    if s == "IQM" {
        return true;
    }
    let rest = ["tm", "wm", "tc", "ts", "p"].iter().find_map(|p| s.strip_prefix(p));
    rest.and_then(|r| r.parse::<f64>().ok()).is_some_and(|n| (0.0..=100.0).contains(&n))
}

fn extended_rule(v: &Value) -> Vec<String> {
    match v.as_str() {
        Some(s) if !extended_ok(s) => vec![format!("{s:?} is not an extended statistic: use p0 to p100 (p99, p99.9), tm/wm/tc/ts with 0 to 100, or IQM")],
        _ => vec![],
    }
}

fn dimensions_rule(v: &Value) -> Vec<String> {
    dimension_problems(v, "dimensions")
}

fn dimension_problems(v: &Value, what: &str) -> Vec<String> {
    let Some(m) = v.as_object() else { return vec![] };
    let mut out = vec![];
    if m.len() > 30 {
        out.push(format!("{what}: at most 30 dimensions, not {}", m.len()));
    }
    for (k, val) in m {
        if k.is_empty() || k.chars().count() > 255 {
            out.push(format!("{what}: dimension name {k:?} must be 1 to 255 characters"));
        }
        if val.as_str().is_some_and(|s| s.is_empty() || s.chars().count() > 1024) {
            out.push(format!("{what}: the value of {k:?} must be 1 to 1024 characters"));
        }
    }
    out
}

fn actions_rule(v: &Value) -> Vec<String> {
    let Some(list) = v.as_array() else { return vec![] };
    let mut out = vec![];
    if list.len() > 5 {
        out.push(format!("at most 5 actions, not {}", list.len()));
    }
    for a in list.iter().filter_map(Value::as_str) {
        if !a.starts_with("arn:") || a.len() > 1024 {
            out.push(format!("{a:?} is not an action ARN (arn:..., at most 1024 characters)"));
        }
    }
    out
}

fn period_problem(what: &str, p: i64) -> Option<String> {
    (!(p == 10 || p == 20 || p == 30 || (p > 0 && p % 60 == 0))).then(|| format!("{what} {p} must be 10, 20, 30 or a multiple of 60"))
}

fn queries_rule(v: &Value) -> Vec<String> {
    let Some(list) = v.as_array() else { return vec![] };
    let mut out = vec![];
    if list.is_empty() {
        out.push("metric_query needs at least one query".into());
    }
    let mut ids = BTreeSet::new();
    let mut returned = 0;
    for q in list {
        let id = q.get("id").and_then(Value::as_str).unwrap_or_default();
        if !id.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
            out.push(format!("metric_query id {id:?} must start with a lowercase letter"));
        }
        if !ids.insert(id) {
            out.push(format!("metric_query id {id:?} is used twice"));
        }
        if q.get("return_data").and_then(Value::as_bool) == Some(true) {
            returned += 1;
        }
        let expression = q.get("expression").is_some_and(|e| !e.is_null());
        let metric = q.get("metric").filter(|m| !m.is_null());
        if expression == metric.is_some() {
            out.push(format!("metric_query {id:?} needs exactly one of expression and metric"));
        }
        if let Some(m) = metric {
            if let Some(p) = period_problem("metric period", m.get("period").and_then(Value::as_i64).unwrap_or(60)) {
                out.push(format!("metric_query {id:?}: {p}"));
            }
            if let Some(s) = m.get("stat").and_then(Value::as_str).filter(|s| !is_statistic(s)) {
                out.push(format!("metric_query {id:?}: {s:?} is not a statistic (Average, Sum, Minimum, Maximum, SampleCount, p99, ...)"));
            }
            out.extend(m.get("dimensions").map(|d| dimension_problems(d, &format!("metric_query {id:?}"))).unwrap_or_default());
        }
        if let Some(p) = q.get("period").and_then(Value::as_i64).and_then(|p| period_problem("period", p)) {
            out.push(format!("metric_query {id:?}: {p}"));
        }
    }
    if !list.is_empty() && returned != 1 {
        out.push(format!("exactly one metric_query must have return_data: true (the series the alarm watches), not {returned}"));
    }
    out
}

fn set(props: &Props, p: &str) -> bool {
    match props.get(p) {
        None | Some(Value::Null) => false,
        Some(Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    }
}

fn metric_or_query_rule(props: &Props) -> Vec<String> {
    const SINGLE: &[&str] = &["metric_name", "namespace", "period", "statistic", "extended_statistic", "dimensions", "unit"];
    if set(props, "metric_query") {
        let extra: Vec<&str> = SINGLE.iter().copied().filter(|p| set(props, p)).collect();
        return if extra.is_empty() { vec![] } else { vec![format!("with metric_query, {} go into the queries' metric blocks", extra.join(", "))] };
    }
    let mut out: Vec<String> =
        ["metric_name", "namespace", "period"].iter().filter(|p| !set(props, p)).map(|p| format!("{p} is required without metric_query")).collect();
    if set(props, "statistic") == set(props, "extended_statistic") {
        out.push("give exactly one of statistic and extended_statistic".into());
    }
    out
}

fn threshold_choice_rule(props: &Props) -> Vec<String> {
    let op = props.get("comparison_operator").and_then(Value::as_str).unwrap_or_default();
    let band = BAND_OPERATORS.contains(&op);
    let mut out = vec![];
    match (set(props, "threshold"), set(props, "threshold_metric_id")) {
        (true, true) => out.push("give threshold or threshold_metric_id, not both".into()),
        (false, false) => out.push("threshold is required (or threshold_metric_id for an anomaly-detection alarm)".into()),
        (false, true) if !set(props, "metric_query") => out.push("threshold_metric_id names a metric_query: it needs metric_query".into()),
        _ => {}
    }
    if set(props, "threshold_metric_id") && !band && !op.is_empty() {
        out.push(format!("an anomaly-detection alarm compares with a band: comparison_operator must be one of {}", BAND_OPERATORS.join(", ")));
    }
    if band && set(props, "threshold") {
        out.push(format!("{op} compares with an anomaly-detection band: use threshold_metric_id instead of threshold"));
    }
    out
}

fn periods_rule(props: &Props) -> Vec<String> {
    let int = |p: &str| props.get(p).and_then(Value::as_i64);
    let mut out = vec![];
    if let Some(p) = int("period").and_then(|p| period_problem("period", p)) {
        out.push(p);
    }
    if let (Some(period), Some(n)) = (int("period"), int("evaluation_periods")) {
        let limit = if period < 3600 { 86_400 } else { 604_800 };
        if period.saturating_mul(n) > limit {
            out.push(format!(
                "period x evaluation_periods is {} seconds; CloudWatch evaluates at most {limit} (one day below hourly periods, else seven)",
                period * n
            ));
        }
    }
    if let (Some(m), Some(n)) = (int("datapoints_to_alarm"), int("evaluation_periods")) {
        if m > n {
            out.push(format!("datapoints_to_alarm ({m}) cannot exceed evaluation_periods ({n})"));
        }
    }
    out
}

fn low_sample_rule(props: &Props) -> Vec<String> {
    if set(props, "evaluate_low_sample_count_percentiles") && !props.get("extended_statistic").and_then(Value::as_str).is_some_and(|s| s.starts_with('p')) {
        return vec!["evaluate_low_sample_count_percentiles applies only to a percentile extended_statistic (p99, ...)".into()];
    }
    vec![]
}

#[path = "cloudwatch_metric_alarm_spec.rs"]
mod spec;
use spec::Spec;

fn observed(name: &str, arn: &str, props: Props, tags: Tags) -> Observed {
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("alarm_name".into(), json!(name));
    Observed { id: name.to_string(), props, attrs, tags }
}

pub struct CloudWatchMetricAlarm {
    client: Client,
}

impl CloudWatchMetricAlarm {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.cloudwatch())
    }

    pub fn from_client(client: Client) -> Self {
        CloudWatchMetricAlarm { client }
    }

    /// The metric alarms of these names (DescribeAlarms takes 100 names a call), every page read.
    async fn describe(&self, names: &[String]) -> Result<BTreeMap<String, MetricAlarm>, ProviderError> {
        let mut out = BTreeMap::new();
        for chunk in names.chunks(100) {
            let mut token: Option<String> = None;
            loop {
                let page =
                    self.client.describe_alarms().set_alarm_names(Some(chunk.to_vec())).set_next_token(token.take()).send().await.op("DescribeAlarms")?;
                for a in page.metric_alarms() {
                    if let Some(name) = a.alarm_name() {
                        out.insert(name.to_string(), a.clone());
                    }
                }
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    async fn tags(&self, arn: &str) -> Result<Option<Tags>, ProviderError> {
        let out = found(self.client.list_tags_for_resource().resource_arn(arn).send().await.op("ListTagsForResource"))?;
        Ok(out.map(|o| o.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect()))
    }

    async fn with_tags(&self, alarm: &MetricAlarm) -> Result<Option<Observed>, ProviderError> {
        let arn = alarm.alarm_arn().unwrap_or_default();
        Ok(self.tags(arn).await?.map(|tags| observed(alarm.alarm_name().unwrap_or_default(), arn, Spec::from_aws(alarm).props(), tags)))
    }

    async fn set_tags(&self, arn: &str, current: &Tags, desired: &Tags) -> Result<(), ProviderError> {
        let set = |set: Tags| async move {
            let tags: Vec<Tag> = set.into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
            self.client.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map(|_| ()).op("TagResource")
        };
        let remove = |remove: Vec<String>| async move {
            self.client.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await.map(|_| ()).op("UntagResource")
        };
        crate::kit::tagging::sync(current, desired, set, remove).await
    }

    fn put(&self, spec: &Spec) -> PutMetricAlarmFluentBuilder {
        let dims = |m: &BTreeMap<String, String>| -> Option<Vec<Dimension>> {
            (!m.is_empty()).then(|| m.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect())
        };
        let queries: Option<Vec<MetricDataQuery>> = (!spec.queries.is_empty()).then(|| {
            spec.queries
                .iter()
                .map(|q| {
                    let stat = q.metric.as_ref().map(|m| {
                        let metric = Metric::builder().metric_name(&m.metric_name).namespace(&m.namespace).set_dimensions(dims(&m.dimensions)).build();
                        MetricStat::builder().metric(metric).period(m.period).stat(&m.stat).set_unit(m.unit.as_deref().map(StandardUnit::from)).build()
                    });
                    MetricDataQuery::builder()
                        .id(&q.id)
                        .set_expression(q.expression.clone())
                        .set_label(q.label.clone())
                        .return_data(q.return_data)
                        .set_period(q.period)
                        .set_metric_stat(stat)
                        .build()
                })
                .collect()
        });
        self.client
            .put_metric_alarm()
            .alarm_name(&spec.name)
            .alarm_description(&spec.description)
            .comparison_operator(ComparisonOperator::from(spec.operator.as_str()))
            .evaluation_periods(spec.evaluation_periods)
            .set_datapoints_to_alarm(spec.datapoints_to_alarm)
            .set_threshold(spec.threshold)
            .set_threshold_metric_id(spec.threshold_metric_id.clone())
            .set_metric_name(spec.metric_name.clone())
            .set_namespace(spec.namespace.clone())
            .set_period(spec.period)
            .set_statistic(spec.statistic.as_deref().map(Statistic::from))
            .set_extended_statistic(spec.extended_statistic.clone())
            .set_dimensions(dims(&spec.dimensions))
            .set_unit(spec.unit.as_deref().map(StandardUnit::from))
            .treat_missing_data(&spec.treat_missing_data)
            .set_evaluate_low_sample_count_percentile(spec.low_sample.clone())
            .actions_enabled(spec.actions_enabled)
            .set_alarm_actions(Some(spec.alarm_actions.clone()))
            .set_ok_actions(Some(spec.ok_actions.clone()))
            .set_insufficient_data_actions(Some(spec.insufficient_data_actions.clone()))
            .set_metrics(queries)
    }
}

#[async_trait]
impl ResourceKind for CloudWatchMetricAlarm {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read_many(&[id.to_string()]).await?.remove(id).flatten())
    }

    /// One DescribeAlarms per 100 names, then the tags of each alarm found (DescribeAlarms does
    /// not return tags).
    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        let mut out: BTreeMap<String, Option<Observed>> = ids.iter().map(|id| (id.clone(), None)).collect();
        if ids.is_empty() {
            return Ok(out);
        }
        for (name, alarm) in self.describe(ids).await? {
            if let Some(slot) = out.get_mut(&name) {
                *slot = self.with_tags(&alarm).await?;
            }
        }
        Ok(out)
    }

    /// PutMetricAlarm creates or overwrites by name, so a create looks first: an alarm of this
    /// name is adopted only when it carries this owner's tags (an earlier attempt whose answer
    /// was lost made it), and refused otherwise. Tags go into the creating call; AWS ignores
    /// them when the alarm already exists, so a repeated put cannot change them.
    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let what = format!("alarm {}", spec.name);
        if let Some(existing) = self.read(&spec.name).await? {
            return adopt(self, desired, &what, existing).await;
        }
        let tags: Vec<Tag> = desired.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        self.put(&spec).set_tags((!tags.is_empty()).then_some(tags)).send().await.op("PutMetricAlarm")?;
        // PutMetricAlarm answers nothing: the ARN (which holds the account) needs one describe.
        let alarm = self.describe(std::slice::from_ref(&spec.name)).await?.remove(&spec.name);
        let alarm = alarm.ok_or_else(|| ProviderError::Retryable(format!("PutMetricAlarm: {} is not listed yet", spec.name)))?;
        Ok(observed(&spec.name, alarm.alarm_arn().unwrap_or_default(), spec.props(), desired.tags.clone()))
    }

    /// PutMetricAlarm replaces the whole alarm, so any changed setting sends all of them (tags
    /// aside: AWS ignores them on an existing alarm, they go through TagResource/UntagResource).
    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let mut current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{}: alarm {id} is gone", SCHEMA.kind)))?;
        let arn = current.attrs.get("arn").and_then(Value::as_str).unwrap_or_default().to_string();
        if changed.iter().any(|c| c != "tags") {
            self.put(&spec).send().await.op("PutMetricAlarm")?;
            current.props = spec.props();
        }
        if changed.iter().any(|c| c == "tags") {
            self.set_tags(&arn, &current.tags, &desired.tags).await?;
            current.tags = desired.tags.clone();
        }
        Ok(current)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        match self.client.delete_alarms().alarm_names(id).send().await {
            // DeleteAlarms names a missing alarm ResourceNotFound (not ...Exception): already gone.
            Err(e) if e.code() == Some("ResourceNotFound") => Ok(()),
            other => other.map(|_| ()).op("DeleteAlarms"),
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let name = desired.str("alarm_name").map(str::to_string).unwrap_or_else(|| desired.default_name.clone());
        Ok(self.read(&name).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"],
            // TagResource: tags given to PutMetricAlarm are authorised as TagResource too.
            // UntagResource: a create that finds its own alarm brings its tags to the stack.
            Operation::Create => &[
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:ListTagsForResource",
            ],
            Operation::Update => &[
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:ListTagsForResource",
            ],
            Operation::Delete => &["cloudwatch:DeleteAlarms"],
        }
    }
}

#[cfg(test)]
#[path = "cloudwatch_metric_alarm_tests.rs"]
mod tests;
