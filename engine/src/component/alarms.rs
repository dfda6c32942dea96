//! `cairn.alarms`: CloudWatch alarms on dead-letter queues and databases, notifying one SNS topic; one alarm per queue, database and metric.

use serde_json::{json, Value};

use super::{Component, ComponentInput, Expansion, Part};
use crate::provider::{PropSpec, PropType};

pub struct Alarms;

static PROPS: &[PropSpec] = &[
    PropSpec::new("topic", PropType::String, "ARN of the SNS topic every alarm notifies (on ALARM, and on OK when notify_ok).").required(),
    PropSpec::new("queues", PropType::StringList, "Names of dead-letter queues to watch: an alarm as soon as one holds a message.").default("[]"),
    PropSpec::new("databases", PropType::StringList, "RDS DB instance identifiers to watch: CPU, free storage and connections.").default("[]"),
    PropSpec::new("dlq_messages_threshold", PropType::Int, "A DLQ alarms when ApproximateNumberOfMessagesVisible exceeds this.").default("0"),
    PropSpec::new("cpu_threshold", PropType::Int, "A database alarms when its average CPUUtilization (percent) exceeds this.").default("80"),
    PropSpec::new("free_storage_threshold_bytes", PropType::Int, "A database alarms when its FreeStorageSpace falls below this many bytes (default 2 GiB).")
        .default("2147483648"),
    PropSpec::new("connections_threshold", PropType::Int, "A database alarms when its DatabaseConnections exceed this.").default("80"),
    PropSpec::new("period", PropType::Int, "Seconds per datapoint: 10, 20, 30 or a multiple of 60.").default("300"),
    PropSpec::new("evaluation_periods", PropType::Int, "Consecutive breaching periods before a database alarm fires (a DLQ fires on the first).").default("3"),
    PropSpec::new("notify_ok", PropType::Bool, "Notify the topic when an alarm recovers, too.").default("true"),
];

/// One database metric: what it is, how it breaches, and the statistic watched.
struct DbMetric {
    suffix: &'static str,
    metric: &'static str,
    statistic: &'static str,
    operator: &'static str,
    threshold_prop: &'static str,
    default: i64,
    description: &'static str,
}

const DB_METRICS: &[DbMetric] = &[
    DbMetric {
        suffix: "cpu",
        metric: "CPUUtilization",
        statistic: "Average",
        operator: "GreaterThanThreshold",
        threshold_prop: "cpu_threshold",
        default: 80,
        description: "CPU above the threshold",
    },
    DbMetric {
        suffix: "free-storage",
        metric: "FreeStorageSpace",
        statistic: "Minimum",
        operator: "LessThanThreshold",
        threshold_prop: "free_storage_threshold_bytes",
        default: 2_147_483_648,
        description: "free storage below the threshold",
    },
    DbMetric {
        suffix: "connections",
        metric: "DatabaseConnections",
        statistic: "Maximum",
        operator: "GreaterThanThreshold",
        threshold_prop: "connections_threshold",
        default: 80,
        description: "connections above the threshold",
    },
];

/// The names in a list prop, each with its key: the name without this stack's `<stack>-<env>-`
/// prefix, so that the alarms' addresses and names are the same in every environment. They name
/// the alarms, so they must be known at plan time.
fn names(input: &ComponentInput, prop: &str) -> Result<Vec<(String, String)>, String> {
    let own = format!("{}-{}-", input.stack, input.env);
    let mut out: Vec<(String, String)> = vec![];
    for v in input.list(prop)? {
        match v {
            Value::String(s) if !s.is_empty() && !s.contains(['"', '[', ']']) => {
                let key = s.strip_prefix(&own).filter(|k| !k.is_empty()).unwrap_or(&s).to_string();
                if out.iter().any(|(_, k)| *k == key) {
                    return Err(format!("`{prop}` names {s} twice"));
                }
                out.push((s, key))
            }
            other => return Err(format!("`{prop}` items must be names known at plan time, found {other}")),
        }
    }
    Ok(out)
}

impl Component for Alarms {
    fn kind(&self) -> &'static str {
        "cairn.alarms"
    }
    fn doc(&self) -> &'static str {
        "CloudWatch alarms notifying one SNS topic: a message in any dead-letter queue, and each database's CPU, free storage and connections."
    }
    fn props(&self) -> &'static [PropSpec] {
        PROPS
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["alarm_names"]
    }

    fn expand(&self, input: &ComponentInput) -> Result<Expansion, String> {
        let topic = input.required("topic")?.clone();
        let queues = names(input, "queues")?;
        let databases = names(input, "databases")?;
        let period = input.int_or("period", 300)?;
        if !(period == 10 || period == 20 || period == 30 || (period > 0 && period % 60 == 0)) {
            return Err(format!("`period` {period} must be 10, 20, 30 or a multiple of 60"));
        }
        let evaluations = input.int_or("evaluation_periods", 3)?;
        let ok = if input.bool_or("notify_ok", true)? { json!([topic.clone()]) } else { json!([]) };
        let mut parts = vec![];
        let mut alarm = |sub: String, name: String, body: Value| {
            let mut props = json!({
                "alarm_name": name,
                "alarm_actions": [topic.clone()],
                "ok_actions": ok.clone(),
                "period": period,
                "treat_missing_data": "notBreaching",
            });
            if let (Some(p), Value::Object(b)) = (props.as_object_mut(), body) {
                p.extend(b);
            }
            parts.push(Part::new(sub, "aws.cloudwatch.metric_alarm", props));
        };
        let dlq_threshold = input.int_or("dlq_messages_threshold", 0)?;
        for (q, key) in &queues {
            alarm(
                format!("dlq[\"{key}\"]"),
                format!("{}-{key}-messages", input.name_prefix),
                json!({
                    "alarm_description": format!("Dead-letter queue {q} holds messages that failed processing"),
                    "namespace": "AWS/SQS",
                    "metric_name": "ApproximateNumberOfMessagesVisible",
                    "dimensions": {"QueueName": q},
                    "statistic": "Maximum",
                    "comparison_operator": "GreaterThanThreshold",
                    "threshold": dlq_threshold.to_string(),
                    "evaluation_periods": 1,
                }),
            );
        }
        for (db, key) in &databases {
            for m in DB_METRICS {
                let threshold = input.int_or(m.threshold_prop, m.default)?;
                alarm(
                    format!("{}[\"{key}\"]", m.suffix.replace('-', "_")),
                    format!("{}-{key}-{}", input.name_prefix, m.suffix),
                    json!({
                        "alarm_description": format!("Database {db}: {}", m.description),
                        "namespace": "AWS/RDS",
                        "metric_name": m.metric,
                        "dimensions": {"DBInstanceIdentifier": db},
                        "statistic": m.statistic,
                        "comparison_operator": m.operator,
                        "threshold": threshold.to_string(),
                        "evaluation_periods": evaluations,
                    }),
                );
            }
        }
        let names: Vec<Value> = parts.iter().filter_map(|p| p.props.get("alarm_name").cloned()).collect();
        let mut out = Expansion { parts, ..Default::default() };
        out.outputs.insert("alarm_names".into(), Value::Array(names));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Props;

    fn expand(props: Value) -> Result<Expansion, String> {
        let props: Props = props.as_object().cloned().unwrap_or_default();
        let input = ComponentInput { address: "alarms", props: &props, stack: "shop", env: "dev", region: "us-east-1", name_prefix: "shop-dev-alarms".into() };
        Alarms.expand(&input)
    }

    #[test]
    fn one_alarm_per_queue_and_database_metric() {
        let out = expand(json!({"topic": "arn:aws:sns:us-east-1:1:alerts", "queues": ["shop-dev-orders-dlq"], "databases": ["shop-dev-db"]})).unwrap();
        let subs: Vec<&str> = out.parts.iter().map(|p| p.sub.as_str()).collect();
        // Keyed without the stack's `<stack>-<env>-` prefix: the same addresses in every environment.
        assert_eq!(subs, ["dlq[\"orders-dlq\"]", "cpu[\"db\"]", "free_storage[\"db\"]", "connections[\"db\"]"]);
        let dlq = &out.parts[0].props;
        assert_eq!(dlq["alarm_name"], json!("shop-dev-alarms-orders-dlq-messages"));
        assert_eq!(dlq["dimensions"], json!({"QueueName": "shop-dev-orders-dlq"}));
        assert_eq!((dlq["threshold"].clone(), dlq["evaluation_periods"].clone()), (json!("0"), json!(1)));
        assert_eq!(dlq["alarm_actions"], json!(["arn:aws:sns:us-east-1:1:alerts"]));
        let storage = &out.parts[2].props;
        assert_eq!((storage["metric_name"].clone(), storage["comparison_operator"].clone()), (json!("FreeStorageSpace"), json!("LessThanThreshold")));
        assert_eq!(storage["threshold"], json!("2147483648"));
        assert_eq!(out.outputs["alarm_names"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn thresholds_and_notifications_are_inputs() {
        let out = expand(json!({"topic": "t", "databases": ["db"], "cpu_threshold": 90, "notify_ok": false, "period": 60, "evaluation_periods": 5})).unwrap();
        let cpu = &out.parts[0].props;
        assert_eq!((cpu["threshold"].clone(), cpu["period"].clone(), cpu["evaluation_periods"].clone()), (json!("90"), json!(60), json!(5)));
        assert_eq!(cpu["ok_actions"], json!([]));
    }

    #[test]
    fn names_must_be_known_and_distinct() {
        assert!(expand(json!({"queues": ["q"]})).unwrap_err().contains("topic"));
        assert!(expand(json!({"topic": "t", "queues": ["q", "q"]})).unwrap_err().contains("twice"));
        assert!(expand(json!({"topic": "t", "queues": ["q", "shop-dev-q"]})).unwrap_err().contains("twice"));
        assert!(expand(json!({"topic": "t", "queues": [7]})).unwrap_err().contains("known at plan time"));
        assert!(expand(json!({"topic": "t", "period": 45})).unwrap_err().contains("multiple of 60"));
    }
}
