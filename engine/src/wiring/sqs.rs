//! Queue and subscription rules: the queue policy admits the topics that deliver to it, FIFO pairs and dead-letter retention (the redrive's maxReceiveCount range is the queue schema's).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{admits, is_true, show, sid, Action, Ctx, Finding};
use crate::graph::ResourceNode;

const SNS: &str = "sns.amazonaws.com";
/// SQS's default message retention (4 days), in seconds.
const DEFAULT_RETENTION: i64 = 345_600;

/// Whether a queue or topic is FIFO, from the node or, for a literal ARN, from its name.
fn fifo(cx: &Ctx, v: &Value, flag: &str) -> Option<bool> {
    match cx.target(v) {
        Some(n) => Some(is_true(n.props.get(flag))),
        None => v.as_str().map(|arn| arn.ends_with(".fifo")),
    }
}

fn retention(node: &ResourceNode) -> Option<i64> {
    match node.props.get("message_retention_seconds") {
        None => Some(DEFAULT_RETENTION),
        Some(v) => v.as_i64(),
    }
}

pub(super) fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    // sqs-policy-admits-sns and sns-fifo-queue-needs-fifo-topic, per subscription.
    let mut topics_of: BTreeMap<&str, (&ResourceNode, Vec<Value>)> = BTreeMap::new();
    for sub in cx.nodes("aws.sns.subscription") {
        if sub.props.get("protocol").and_then(Value::as_str) != Some("sqs") {
            continue;
        }
        let (Some(endpoint), Some(topic)) = (sub.props.get("endpoint"), sub.props.get("topic")) else { continue };
        if fifo(cx, endpoint, "fifo_queue") == Some(true) && fifo(cx, topic, "fifo_topic") == Some(false) {
            out.push(Finding::new(
                "sns-fifo-queue-needs-fifo-topic",
                sub,
                "endpoint",
                Action::Refuse {
                    message: "a FIFO queue cannot subscribe to a standard topic".into(),
                    help: "subscribe a standard queue, or make the topic FIFO (fifo_topic: true)".into(),
                },
            ));
        }
        let Some(queue) = cx.target(endpoint).filter(|q| q.kind == "aws.sqs.queue") else { continue };
        let topic_arn = match cx.target(topic) {
            Some(t) => cx.arn_of(t),
            None => Some(topic.clone()),
        };
        let entry = topics_of.entry(queue.address.as_str()).or_insert((queue, vec![]));
        if let Some(a) = topic_arn {
            entry.1.push(a);
        }
    }
    for (queue, topics) in topics_of.into_values() {
        if super::is_unknown(queue.props.get("policy")) || admits(queue.props.get("policy"), SNS, &["sqs:SendMessage"]) || topics.is_empty() {
            continue;
        }
        let Some(arn) = cx.arn_of(queue) else { continue };
        out.push(Finding::new(
            "sqs-policy-admits-sns",
            queue,
            "policy",
            Action::AddStatement(json!({
                "Sid": sid("sqs-policy-admits-sns", ""),
                "Effect": "Allow",
                "Principal": { "Service": SNS },
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": { "ArnLike": { "aws:SourceArn": topics } }
            })),
        ));
    }
    // A subscription to a queue managed elsewhere: say what its policy needs.
    for sub in cx.nodes("aws.sns.subscription") {
        let Some(endpoint) = sub.props.get("endpoint").and_then(Value::as_str) else { continue };
        if sub.props.get("protocol").and_then(Value::as_str) != Some("sqs") || !endpoint.starts_with("arn:") {
            continue;
        }
        let topic = sub.props.get("topic").and_then(|t| cx.spell_out(t)).unwrap_or(Value::Null);
        let stmt = json!({ "Effect": "Allow", "Principal": { "Service": SNS }, "Action": "sqs:SendMessage", "Resource": endpoint,
                           "Condition": { "ArnEquals": { "aws:SourceArn": topic } } });
        out.push(Finding::new(
            "sqs-policy-admits-sns",
            sub,
            "endpoint",
            Action::Refuse {
                message: format!("the queue {endpoint} is not managed by this stack, so cairn cannot let the topic deliver to it"),
                help: format!("make sure its queue policy has this statement: {}", show(&stmt)),
            },
        ));
    }

    // Redrive: FIFO pairs and retention.
    for queue in cx.nodes("aws.sqs.queue") {
        let Some(redrive) = queue.props.get("redrive").and_then(Value::as_object) else { continue };
        let Some(dlq_value) = redrive.get("dead_letter_queue") else { continue };
        let own = is_true(queue.props.get("fifo_queue"));
        if let Some(dlq_fifo) = fifo(cx, dlq_value, "fifo_queue") {
            if dlq_fifo != own {
                let (q, d) = if own { ("FIFO", "standard") } else { ("standard", "FIFO") };
                out.push(Finding::new(
                    "sqs-fifo-dlq",
                    queue,
                    "redrive",
                    Action::Refuse {
                        message: format!("a {q} queue needs a {q} dead-letter queue, but this one is {d}"),
                        help: format!("make the dead-letter queue {q} too (fifo_queue: {own})"),
                    },
                ));
            }
        }
        let Some(dlq) = cx.target(dlq_value).filter(|d| d.kind == "aws.sqs.queue") else { continue };
        if let (false, Some(mine), Some(theirs)) = (own, retention(queue), retention(dlq)) {
            if theirs < mine {
                out.push(Finding::new(
                    "sqs-dlq-retention",
                    queue,
                    "redrive",
                    Action::Warn {
                        message: format!(
                            "the dead-letter queue `{}` keeps messages {theirs} s, less than this queue's {mine} s; a message's age counts from its first enqueue, so it can expire on arrival",
                            dlq.address
                        ),
                        help: format!("set the dead-letter queue's message_retention_seconds to at least {mine}"),
                    },
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::sid;
    use super::super::testing::fixture;
    use serde_json::json;

    #[test]
    fn sqs_policy_admits_sns_completes_the_queue_policy() {
        let o = fixture("sqs-policy-admits-sns");
        assert_eq!(o.codes(), ["sqs-policy-admits-sns"], "only the external queue is refused: {}", o.rendered());
        let s = o.statement("jobs", "policy", &sid("sqs-policy-admits-sns", "")).expect("statement added");
        assert_eq!(s["Resource"], "arn:aws:sqs:us-east-1:111122223333:shop-dev-jobs");
        assert_eq!(s["Condition"]["ArnLike"]["aws:SourceArn"], json!(["arn:aws:sns:us-east-1:111122223333:shop-dev-events"]));
        // A queue whose policy already admits the topic (as cairn.queue writes it) is left alone.
        assert!(o.statement("orders.queue", "policy", &sid("sqs-policy-admits-sns", "")).is_none());
        assert!(o.rendered().contains("arn:aws:sqs:us-east-1:999999999999:elsewhere"), "{}", o.rendered());
    }

    #[test]
    fn sns_fifo_queue_needs_fifo_topic() {
        let o = fixture("sns-fifo-queue-needs-fifo-topic");
        assert_eq!(o.codes(), ["sns-fifo-queue-needs-fifo-topic"], "{}", o.rendered());
    }

    #[test]
    fn sqs_fifo_dlq_pairs_kinds() {
        let o = fixture("sqs-fifo-dlq");
        assert_eq!(o.codes(), ["sqs-fifo-dlq", "sqs-fifo-dlq"], "{}", o.rendered());
        assert!(o.rendered().contains("a FIFO queue needs a FIFO dead-letter queue"), "{}", o.rendered());
    }

    #[test]
    fn sqs_dlq_retention_warns() {
        let o = fixture("sqs-dlq-retention");
        assert!(!o.diags.iter().any(|d| d.is_error()), "a warning does not stop the compile: {}", o.rendered());
        assert_eq!(o.codes(), ["sqs-dlq-retention"], "{}", o.rendered());
        assert!(o.rendered().starts_with("warning[sqs-dlq-retention]"), "{}", o.rendered());
    }
}
