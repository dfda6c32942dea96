//! Terraform's SQS and SNS resources → `aws.sqs.queue`, `aws.sns.topic`, `aws.sns.subscription`.
//!
//! A queue's `aws_sqs_queue_policy` / `aws_sqs_queue_redrive_policy` and a topic's
//! `aws_sns_topic_policy` are settings of the queue or topic in cairn, so they are folded in.

use serde_json::{json, Value};

use super::{is_default_policy, Family, Input, Mapped, Output, TfInstance};

pub const FAMILY: Family = Family {
    name: "sqs_sns",
    types: &[
        "aws_sqs_queue",
        "aws_sqs_queue_policy",
        "aws_sqs_queue_redrive_policy",
        "aws_sqs_queue_redrive_allow_policy",
        "aws_sns_topic",
        "aws_sns_topic_policy",
        "aws_sns_topic_subscription",
    ],
    map,
};

pub fn map(input: &Input, out: &mut Output) {
    for tf in input.of_type("aws_sqs_queue") {
        out.push(queue(input, tf));
    }
    for tf in input.of_type("aws_sns_topic") {
        out.push(topic(input, tf));
    }
    for tf in input.of_type("aws_sns_topic_subscription") {
        out.push(subscription(tf));
    }
}

const QUEUE_INTS: &[&str] = &["visibility_timeout_seconds", "message_retention_seconds", "max_message_size", "delay_seconds", "receive_wait_time_seconds"];

fn queue(input: &Input, tf: &TfInstance) -> Mapped {
    let url = tf.str("url").or(tf.str("id")).unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.sqs.queue", url);
    m.attr("arn", tf.str("arn")).attr("url", Some(url)).attr("name", tf.str("name"));
    m.prop("name", tf.str("name").map(|n| json!(n)));
    m.prop("fifo_queue", tf.bool("fifo_queue").map(Value::Bool));
    for k in QUEUE_INTS {
        m.prop(k, tf.i64(k).map(|n| json!(n)));
    }
    m.prop("kms_key", tf.str("kms_master_key_id").map(|k| json!(k)));
    m.prop("redrive", tf.str("redrive_policy").and_then(redrive));
    m.prop("policy", tf.policy("policy"));
    if tf.bool("content_based_deduplication") == Some(true) {
        m.note("content_based_deduplication is on; cairn's aws.sqs.queue does not manage it, so it stays as it is");
    }
    for part in input.parts("aws_sqs_queue_policy", "queue_url", url) {
        m.merge(part);
        m.prop("policy", part.policy("policy"));
    }
    for part in input.parts("aws_sqs_queue_redrive_policy", "queue_url", url) {
        m.merge(part);
        m.prop("redrive", part.str("redrive_policy").and_then(redrive));
    }
    for part in input.parts("aws_sqs_queue_redrive_allow_policy", "queue_url", url) {
        m.merge(part);
        m.note(format!("{}: cairn's aws.sqs.queue has no redrive-allow policy; it stays in AWS as it is, no longer managed", part.address));
    }
    m
}

/// `{"deadLetterTargetArn": ..., "maxReceiveCount": 5}` → `{ dead_letter_queue, max_receive_count }`.
fn redrive(text: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(text).ok()?;
    let count = match v.get("maxReceiveCount")? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Some(json!({"dead_letter_queue": v.get("deadLetterTargetArn")?.as_str()?, "max_receive_count": count}))
}

fn topic(input: &Input, tf: &TfInstance) -> Mapped {
    let arn = tf.str("arn").or(tf.str("id")).unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.sns.topic", arn);
    m.attr("arn", Some(arn)).attr("name", tf.str("name"));
    m.prop("name", tf.str("name").map(|n| json!(n)));
    m.prop("fifo_topic", tf.bool("fifo_topic").map(Value::Bool));
    m.prop("display_name", Some(json!(tf.str("display_name").unwrap_or_default())));
    m.prop("kms_key", tf.str("kms_master_key_id").map(|k| json!(k)));
    // The owner-only policy SNS gives every topic is left unmanaged, as cairn does when unset.
    m.prop("policy", tf.policy("policy").filter(|p| !is_default_policy(p)));
    for part in input.parts("aws_sns_topic_policy", "arn", arn) {
        m.merge(part);
        m.prop("policy", part.policy("policy"));
    }
    m
}

fn subscription(tf: &TfInstance) -> Mapped {
    let arn = tf.str("arn").or(tf.str("id")).unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.sns.subscription", arn);
    m.attr("arn", Some(arn));
    m.prop("topic", tf.str("topic_arn").map(|v| json!(v)));
    m.prop("protocol", tf.str("protocol").map(|v| json!(v)));
    m.prop("endpoint", tf.str("endpoint").map(|v| json!(v)));
    m.prop("raw_message_delivery", tf.bool("raw_message_delivery").map(Value::Bool));
    m.prop("filter_policy", tf.policy("filter_policy"));
    if tf.str("filter_policy_scope").is_some_and(|s| s != "MessageAttributes") {
        m.note("the filter policy applies to the message body; cairn's aws.sns.subscription does not manage the scope, so it stays as it is");
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::testing::{input, one};
    use super::*;

    #[test]
    fn queue_with_policy_and_redrive_resources() {
        let url = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs";
        let input = input(json!([
            {"type": "aws_sqs_queue", "name": "jobs", "attributes": {
                "id": url, "url": url, "arn": "arn:aws:sqs:us-east-1:123456789012:jobs", "name": "jobs", "fifo_queue": false,
                "visibility_timeout_seconds": 60, "message_retention_seconds": 345600, "max_message_size": 262144, "delay_seconds": 0,
                "receive_wait_time_seconds": 0, "kms_master_key_id": "", "redrive_policy": "", "policy": "", "tags": {}, "tags_all": {}}},
            {"type": "aws_sqs_queue_policy", "name": "jobs", "attributes": {"id": url, "queue_url": url, "policy": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\"}]}"}},
            {"type": "aws_sqs_queue_redrive_policy", "name": "jobs", "attributes": {"id": url, "queue_url": url,
                "redrive_policy": "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:123456789012:jobs-dlq\",\"maxReceiveCount\":5}"}}
        ]));
        let (_, m) = one(&input, map);
        assert_eq!((m.kind.as_str(), m.id.as_str()), ("aws.sqs.queue", url));
        assert_eq!(m.sources.len(), 3);
        assert_eq!(
            Value::Object(m.props.clone()),
            json!({"name": "jobs", "fifo_queue": false, "visibility_timeout_seconds": 60, "message_retention_seconds": 345600,
                   "max_message_size": 262144, "delay_seconds": 0, "receive_wait_time_seconds": 0,
                   "redrive": {"dead_letter_queue": "arn:aws:sqs:us-east-1:123456789012:jobs-dlq", "max_receive_count": 5},
                   "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}})
        );
        assert_eq!(m.attrs["arn"], "arn:aws:sqs:us-east-1:123456789012:jobs");
    }

    #[test]
    fn topic_default_policy_is_left_unmanaged_and_subscription_maps() {
        let arn = "arn:aws:sns:us-east-1:123456789012:events";
        let default_policy = json!({"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": [{"Sid": "__default_statement_ID", "Effect": "Allow",
            "Principal": {"AWS": "*"}, "Action": ["SNS:Publish"], "Resource": arn}]});
        let input = input(json!([
            {"type": "aws_sns_topic", "name": "events", "attributes": {"id": arn, "arn": arn, "name": "events", "display_name": "", "fifo_topic": false,
                "kms_master_key_id": "", "policy": default_policy.to_string()}},
            {"type": "aws_sns_topic_subscription", "name": "jobs", "attributes": {"id": format!("{arn}:1111"), "arn": format!("{arn}:1111"),
                "topic_arn": arn, "protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:123456789012:jobs", "raw_message_delivery": true,
                "filter_policy": "", "filter_policy_scope": ""}}
        ]));
        let mut out = Output::default();
        map(&input, &mut out);
        let topic = &out.resources[0];
        assert_eq!(Value::Object(topic.props.clone()), json!({"name": "events", "fifo_topic": false, "display_name": ""}));
        let sub = &out.resources[1];
        assert_eq!(sub.kind, "aws.sns.subscription");
        assert_eq!(
            Value::Object(sub.props.clone()),
            json!({"topic": arn, "protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:123456789012:jobs", "raw_message_delivery": true})
        );
    }
}
