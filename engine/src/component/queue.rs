//! `cairn.queue`: an SQS work queue with its dead-letter queue, redrive, and optionally an SNS subscription with the queue policy that allows it.

use serde_json::{json, Value};

use super::{policy, Component, ComponentInput, Expansion, Part};
use crate::expr::{Expr, Seg};
use crate::provider::{PropSpec, PropType};

pub struct Queue;

static PROPS: &[PropSpec] = &[
    PropSpec::new("name", PropType::String, "Queue name; defaults to <stack>-<env>-<name>. The DLQ adds -dlq."),
    PropSpec::new("kms_key", PropType::String, "KMS key for server-side encryption of both queues."),
    PropSpec::new("visibility_timeout_seconds", PropType::Int, "How long a received message stays hidden.").default("30"),
    PropSpec::new("message_retention_seconds", PropType::Int, "How long messages are kept.").default("345600"),
    PropSpec::new("max_receive_count", PropType::Int, "Receives before a message moves to the DLQ.").default("5"),
    PropSpec::new("dlq_retention_seconds", PropType::Int, "How long the DLQ keeps messages.").default("1209600"),
    PropSpec::new("subscribe_to", PropType::String, "An SNS topic ARN to subscribe the queue to."),
    PropSpec::new("raw_message_delivery", PropType::Bool, "Deliver the SNS message body without the SNS envelope.").default("true"),
    PropSpec::new("filter_policy", PropType::Object, "SNS subscription filter policy."),
];

impl Component for Queue {
    fn kind(&self) -> &'static str {
        "cairn.queue"
    }
    fn doc(&self) -> &'static str {
        "SQS queue + dead-letter queue + redrive; optional SNS subscription with the queue policy allowing only that topic."
    }
    fn props(&self) -> &'static [PropSpec] {
        PROPS
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["arn", "url", "dlq_arn", "dlq_url"]
    }

    fn expand(&self, input: &ComponentInput) -> Result<Expansion, String> {
        let name = match input.get("name") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err("`name` must be a string known at plan time".into()),
            None => input.name_prefix.clone(),
        };
        let kms = input.get("kms_key").cloned();
        let mut dlq = json!({ "name": format!("{name}-dlq"), "message_retention_seconds": input.int_or("dlq_retention_seconds", 1_209_600)? });
        let mut queue = json!({
            "name": name,
            "visibility_timeout_seconds": input.int_or("visibility_timeout_seconds", 30)?,
            "message_retention_seconds": input.int_or("message_retention_seconds", 345_600)?,
            "redrive": { "dead_letter_queue": input.reference("dlq", "arn"), "max_receive_count": input.int_or("max_receive_count", 5)? },
        });
        if let Some(k) = &kms {
            dlq["kms_key"] = k.clone();
            queue["kms_key"] = k.clone();
        }
        let mut parts = vec![];
        if let Some(topic) = input.get("subscribe_to") {
            // The queue cannot reference its own ARN, so it is spelled out from the name.
            let own_arn = crate::expr::unknown(&Expr::Concat(vec![
                Expr::Lit(Value::String(format!("arn:aws:sqs:{}:", input.region))),
                Expr::Ref(vec![Seg::Name("account_id".into())]),
                Expr::Lit(Value::String(format!(":{name}"))),
            ]));
            queue["policy"] = policy(vec![json!({
                "Sid": "AllowTopic",
                "Effect": "Allow",
                "Principal": { "Service": "sns.amazonaws.com" },
                "Action": "sqs:SendMessage",
                "Resource": own_arn,
                "Condition": { "ArnEquals": { "aws:SourceArn": topic } }
            })]);
            let mut sub = json!({ "topic": topic, "protocol": "sqs", "endpoint": input.reference("queue", "arn"), "raw_message_delivery": input.bool_or("raw_message_delivery", true)? });
            if let Some(f) = input.get("filter_policy") {
                sub["filter_policy"] = f.clone();
            }
            parts.push(Part::new("subscription", "aws.sns.subscription", sub));
        }
        parts.insert(0, Part::new("dlq", "aws.sqs.queue", dlq));
        parts.insert(1, Part::new("queue", "aws.sqs.queue", queue));
        let mut out = Expansion { parts, ..Default::default() };
        out.outputs.insert("arn".into(), input.reference("queue", "arn"));
        out.outputs.insert("url".into(), input.reference("queue", "url"));
        out.outputs.insert("dlq_arn".into(), input.reference("dlq", "arn"));
        out.outputs.insert("dlq_url".into(), input.reference("dlq", "url"));
        Ok(out)
    }
}
