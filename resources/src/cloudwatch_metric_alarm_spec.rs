//! The one shape of a metric alarm that the stack's props, the PutMetricAlarm request and DescribeAlarms' answer all convert through.

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{Dimension, MetricAlarm, MetricDataQuery};
use cairn_engine::provider::{Desired, Props, ProviderError};
use serde_json::{json, Map, Value};

use super::{number, SCHEMA};
use crate::adopt::wanted;

#[derive(Debug, Clone, PartialEq)]
pub struct MetricSpec {
    pub metric_name: String,
    pub namespace: String,
    pub period: i32,
    pub stat: String,
    pub unit: Option<String>,
    pub dimensions: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub id: String,
    pub expression: Option<String>,
    pub label: Option<String>,
    pub return_data: bool,
    pub period: Option<i32>,
    pub metric: Option<MetricSpec>,
}

/// What PutMetricAlarm sends, after the schema's checks (values known only at apply were not
/// checked at validate).
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub description: String,
    pub operator: String,
    pub evaluation_periods: i32,
    pub datapoints_to_alarm: Option<i32>,
    pub threshold: Option<f64>,
    pub threshold_metric_id: Option<String>,
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
    pub period: Option<i32>,
    pub statistic: Option<String>,
    pub extended_statistic: Option<String>,
    pub dimensions: BTreeMap<String, String>,
    pub unit: Option<String>,
    pub treat_missing_data: String,
    pub low_sample: Option<String>,
    pub actions_enabled: bool,
    pub alarm_actions: Vec<String>,
    pub ok_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub queries: Vec<Query>,
}

fn int(v: Option<&Value>, what: &str) -> Result<Option<i32>, ProviderError> {
    match v.and_then(Value::as_i64) {
        None => Ok(None),
        Some(n) => i32::try_from(n).map(Some).map_err(|_| ProviderError::Invalid(format!("{}: {what} {n} is out of range", SCHEMA.kind))),
    }
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object).map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()).unwrap_or_default()
}

fn strings(v: Option<Value>) -> Vec<String> {
    v.and_then(|v| v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())).unwrap_or_default()
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn dims_of(dims: &[Dimension]) -> BTreeMap<String, String> {
    dims.iter().filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string()))).collect()
}

fn query_from(q: &Value) -> Result<Query, ProviderError> {
    let metric = match q.get("metric").filter(|m| !m.is_null()) {
        None => None,
        Some(m) => Some(MetricSpec {
            metric_name: text(m.get("metric_name")).unwrap_or_default(),
            namespace: text(m.get("namespace")).unwrap_or_default(),
            period: int(m.get("period"), "metric period")?.unwrap_or(60),
            stat: text(m.get("stat")).unwrap_or_default(),
            unit: text(m.get("unit")),
            dimensions: string_map(m.get("dimensions")),
        }),
    };
    Ok(Query {
        id: text(q.get("id")).unwrap_or_default(),
        expression: text(q.get("expression")),
        label: text(q.get("label")),
        return_data: q.get("return_data").and_then(Value::as_bool).unwrap_or(false),
        period: int(q.get("period"), "metric_query period")?,
        metric,
    })
}

fn query_of_aws(q: &MetricDataQuery) -> Query {
    let metric = q.metric_stat().map(|s| {
        let m = s.metric();
        MetricSpec {
            metric_name: m.and_then(|m| m.metric_name()).unwrap_or_default().to_string(),
            namespace: m.and_then(|m| m.namespace()).unwrap_or_default().to_string(),
            period: s.period().unwrap_or(60),
            stat: s.stat().unwrap_or_default().to_string(),
            unit: s.unit().map(|u| u.as_str().to_string()),
            dimensions: m.map(|m| dims_of(m.dimensions())).unwrap_or_default(),
        }
    });
    Query {
        id: q.id().unwrap_or_default().to_string(),
        expression: q.expression().map(str::to_string),
        label: q.label().map(str::to_string),
        return_data: q.return_data().unwrap_or(false),
        period: q.period(),
        metric,
    }
}

impl Spec {
    pub fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let p = |name: &str| wanted(&SCHEMA, desired, name);
        let threshold = match p("threshold") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .and_then(|s| s.parse::<f64>().ok())
                    .ok_or_else(|| ProviderError::Invalid(format!("{}: threshold {v} is not a number", SCHEMA.kind)))?,
            ),
        };
        let queries = match p("metric_query") {
            Some(Value::Array(items)) => items.iter().map(query_from).collect::<Result<Vec<_>, _>>()?,
            _ => vec![],
        };
        Ok(Spec {
            name: desired.str("alarm_name").map(str::to_string).unwrap_or_else(|| desired.default_name.clone()),
            description: text(p("alarm_description").as_ref()).unwrap_or_default(),
            operator: text(p("comparison_operator").as_ref()).unwrap_or_default(),
            evaluation_periods: int(p("evaluation_periods").as_ref(), "evaluation_periods")?.unwrap_or(1),
            datapoints_to_alarm: int(p("datapoints_to_alarm").as_ref(), "datapoints_to_alarm")?,
            threshold,
            threshold_metric_id: text(p("threshold_metric_id").as_ref()),
            metric_name: text(p("metric_name").as_ref()),
            namespace: text(p("namespace").as_ref()),
            period: int(p("period").as_ref(), "period")?,
            statistic: text(p("statistic").as_ref()),
            extended_statistic: text(p("extended_statistic").as_ref()),
            dimensions: string_map(p("dimensions").as_ref()),
            unit: text(p("unit").as_ref()),
            treat_missing_data: text(p("treat_missing_data").as_ref()).unwrap_or_else(|| "missing".into()),
            low_sample: text(p("evaluate_low_sample_count_percentiles").as_ref()),
            actions_enabled: p("actions_enabled").and_then(|v| v.as_bool()).unwrap_or(true),
            alarm_actions: strings(p("alarm_actions")),
            ok_actions: strings(p("ok_actions")),
            insufficient_data_actions: strings(p("insufficient_data_actions")),
            queries,
        })
    }

    /// A described alarm. Unset optional settings read as AWS's defaults (no description, missing
    /// data treated as `missing`, actions enabled), the way `from` fills them in.
    pub fn from_aws(a: &MetricAlarm) -> Spec {
        let anomaly = a.threshold_metric_id().is_some();
        Spec {
            name: a.alarm_name().unwrap_or_default().to_string(),
            description: a.alarm_description().unwrap_or_default().to_string(),
            operator: a.comparison_operator().map(|o| o.as_str().to_string()).unwrap_or_default(),
            evaluation_periods: a.evaluation_periods().unwrap_or(1),
            datapoints_to_alarm: a.datapoints_to_alarm(),
            threshold: if anomaly { None } else { a.threshold() },
            threshold_metric_id: a.threshold_metric_id().map(str::to_string),
            metric_name: a.metric_name().map(str::to_string),
            namespace: a.namespace().map(str::to_string),
            period: a.period(),
            statistic: a.statistic().map(|s| s.as_str().to_string()),
            extended_statistic: a.extended_statistic().map(str::to_string),
            dimensions: dims_of(a.dimensions()),
            unit: a.unit().map(|u| u.as_str().to_string()),
            treat_missing_data: a.treat_missing_data().unwrap_or("missing").to_string(),
            low_sample: a.evaluate_low_sample_count_percentile().map(str::to_string),
            actions_enabled: a.actions_enabled().unwrap_or(true),
            alarm_actions: a.alarm_actions().to_vec(),
            ok_actions: a.ok_actions().to_vec(),
            insufficient_data_actions: a.insufficient_data_actions().to_vec(),
            queries: a.metrics().iter().map(query_of_aws).collect(),
        }
    }

    /// The alarm in the stack's prop shapes: optional settings only when set; within queries
    /// `return_data` only where true (the way the stack writes it).
    pub fn props(&self) -> Props {
        let mut props = Props::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                props.insert(k.to_string(), v);
            }
        };
        put("alarm_name", Some(json!(self.name)));
        put("alarm_description", Some(json!(self.description)));
        put("comparison_operator", Some(json!(self.operator)));
        put("evaluation_periods", Some(json!(self.evaluation_periods)));
        put("datapoints_to_alarm", self.datapoints_to_alarm.map(|n| json!(n)));
        put("threshold", self.threshold.map(|t| json!(number(t))));
        put("threshold_metric_id", self.threshold_metric_id.as_ref().map(|t| json!(t)));
        put("metric_name", self.metric_name.as_ref().map(|t| json!(t)));
        put("namespace", self.namespace.as_ref().map(|t| json!(t)));
        put("period", self.period.map(|n| json!(n)));
        put("statistic", self.statistic.as_ref().map(|t| json!(t)));
        put("extended_statistic", self.extended_statistic.as_ref().map(|t| json!(t)));
        put("dimensions", Some(json!(self.dimensions)));
        put("unit", self.unit.as_ref().map(|t| json!(t)));
        put("treat_missing_data", Some(json!(self.treat_missing_data)));
        put("evaluate_low_sample_count_percentiles", self.low_sample.as_ref().map(|t| json!(t)));
        put("actions_enabled", Some(json!(self.actions_enabled)));
        put("alarm_actions", Some(json!(self.alarm_actions)));
        put("ok_actions", Some(json!(self.ok_actions)));
        put("insufficient_data_actions", Some(json!(self.insufficient_data_actions)));
        if !self.queries.is_empty() {
            put("metric_query", Some(Value::Array(self.queries.iter().map(query_props).collect())));
        }
        props
    }
}

fn query_props(q: &Query) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(q.id));
    if let Some(e) = &q.expression {
        m.insert("expression".into(), json!(e));
    }
    if let Some(l) = &q.label {
        m.insert("label".into(), json!(l));
    }
    if q.return_data {
        m.insert("return_data".into(), json!(true));
    }
    if let Some(p) = q.period {
        m.insert("period".into(), json!(p));
    }
    if let Some(metric) = &q.metric {
        let mut x = Map::new();
        x.insert("metric_name".into(), json!(metric.metric_name));
        x.insert("namespace".into(), json!(metric.namespace));
        x.insert("period".into(), json!(metric.period));
        x.insert("stat".into(), json!(metric.stat));
        if let Some(u) = &metric.unit {
            x.insert("unit".into(), json!(u));
        }
        if !metric.dimensions.is_empty() {
            x.insert("dimensions".into(), json!(metric.dimensions));
        }
        m.insert("metric".into(), Value::Object(x));
    }
    Value::Object(m)
}
