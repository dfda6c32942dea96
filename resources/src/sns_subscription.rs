//! `aws.sns.subscription`: delivers an SNS topic's messages to an endpoint (queue, function, URL...).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_sns::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags};
use serde_json::{json, Value};

use crate::error::{found, gone, SdkResultExt};
use crate::kit::defaults;
use crate::read_each::read_each;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.sns.subscription",
    doc: "A subscription of an endpoint to an SNS topic.",
    props: &[
        PropSpec::new("topic", PropType::String, "ARN of the topic.").required().force_new(),
        PropSpec::new(
            "protocol",
            PropType::Enum(&["http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose"]),
            "Delivery protocol: sqs, lambda, https, http, email, email-json, sms, application or firehose.",
        )
        .required()
        .force_new(),
        PropSpec::new("endpoint", PropType::String, "Where messages go, in the protocol's form (queue ARN, function ARN, URL...).").required().force_new(),
        PropSpec::new("raw_message_delivery", PropType::Bool, "Deliver the bare message instead of SNS's JSON envelope (sqs, http(s), firehose).")
            .default("false"),
        // Free-form JSON (attribute names are the publisher's), so only its outer shape is declared.
        PropSpec::new("filter_policy", PropType::Object, "Message filter policy (JSON object); unset delivers everything.").rule(filter_policy_rule),
    ],
    attrs: &["arn"],
    taggable: false,
    rules: &[],
};

/// A filter policy is one JSON object (SNS refuses a list).
fn filter_policy_rule(policy: &Value) -> Vec<String> {
    if policy.is_object() {
        vec![]
    } else {
        vec!["must be a mapping of message attribute names to conditions".into()]
    }
}

crate::kit::client::client_kind!(SnsSubscription, Client, sns);

impl SnsSubscription {
    async fn set_attribute(&self, arn: &str, name: &str, value: String) -> Result<(), ProviderError> {
        self.client
            .set_subscription_attributes()
            .subscription_arn(arn)
            .attribute_name(name)
            .attribute_value(value)
            .send()
            .await
            .op("SetSubscriptionAttributes")?;
        Ok(())
    }
}

fn required<'a>(desired: &'a Desired, name: &str) -> Result<&'a str, ProviderError> {
    desired.str(name).ok_or_else(|| ProviderError::Invalid(format!("{}: {name} is required and must be a string", SCHEMA.kind)))
}

/// What Subscribe is sent, after the schema's checks (values known only at apply were not
/// checked at validate).
struct Subscribe<'a> {
    topic: &'a str,
    protocol: &'a str,
    endpoint: &'a str,
    attributes: HashMap<String, String>,
}

fn subscribe_request(desired: &Desired) -> Result<Subscribe<'_>, ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    let mut attributes = HashMap::new();
    // Sent only when true: protocols without raw delivery (lambda, email) reject the
    // attribute even when it is "false".
    if defaults::flag(&SCHEMA, desired, "raw_message_delivery")? {
        attributes.insert("RawMessageDelivery".to_string(), "true".to_string());
    }
    if let Some(filter) = filter_policy_text(desired) {
        attributes.insert("FilterPolicy".to_string(), filter);
    }
    Ok(Subscribe { topic: required(desired, "topic")?, protocol: required(desired, "protocol")?, endpoint: required(desired, "endpoint")?, attributes })
}

fn filter_policy_text(desired: &Desired) -> Option<String> {
    match desired.props.get("filter_policy")? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn observed(arn: &str, attrs: &HashMap<String, String>) -> Observed {
    let get = |name: &str| attrs.get(name).map(String::as_str).filter(|s| !s.is_empty());
    let mut props = Props::new();
    props.insert("topic".into(), json!(get("TopicArn").unwrap_or_default()));
    props.insert("protocol".into(), json!(get("Protocol").unwrap_or_default()));
    props.insert("endpoint".into(), json!(get("Endpoint").unwrap_or_default()));
    // Protocols without raw delivery do not report the attribute at all.
    props.insert("raw_message_delivery".into(), json!(get("RawMessageDelivery") == Some("true")));
    // A cleared filter policy comes back as "" from some endpoints and is absent from others.
    if let Some(text) = get("FilterPolicy") {
        props.insert("filter_policy".into(), serde_json::from_str(text).unwrap_or_else(|_| json!(text)));
    }
    let mut out_attrs = Props::new();
    out_attrs.insert("arn".into(), json!(arn));
    Observed { id: arn.to_string(), props, attrs: out_attrs, tags: Tags::new() }
}

#[async_trait]
impl ResourceKind for SnsSubscription {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let out = self.client.get_subscription_attributes().subscription_arn(id).send().await.op("GetSubscriptionAttributes");
        Ok(found(out)?.map(|o| observed(id, o.attributes().unwrap_or(&HashMap::new()))))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let req = subscribe_request(desired)?;
        let attrs = req.attributes;
        // What GetSubscriptionAttributes would report, from what is sent: Subscribe answers an
        // existing subscription of the same topic, protocol, endpoint and attributes with its
        // ARN, and refuses one whose attributes differ.
        let mut sent = attrs.clone();
        sent.insert("TopicArn".into(), req.topic.to_string());
        sent.insert("Protocol".into(), req.protocol.to_string());
        sent.insert("Endpoint".into(), req.endpoint.to_string());
        let out = self
            .client
            .subscribe()
            .topic_arn(req.topic)
            .protocol(req.protocol)
            .endpoint(req.endpoint)
            .set_attributes((!attrs.is_empty()).then_some(attrs))
            // Without this, subscriptions awaiting confirmation come back as "pending confirmation".
            .return_subscription_arn(true)
            .send()
            .await
            .op("Subscribe")?;
        let arn = out.subscription_arn().ok_or_else(|| ProviderError::Fatal("Subscribe: no subscription ARN in the response".into()))?;
        Ok(observed(arn, &sent))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        read_each(ids, || SnsSubscription::from_client(self.client.clone())).await
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        for prop in changed {
            match prop.as_str() {
                "raw_message_delivery" => {
                    let raw = defaults::flag(&SCHEMA, desired, "raw_message_delivery")?;
                    self.set_attribute(id, "RawMessageDelivery", raw.to_string()).await?;
                }
                // An empty filter policy removes filtering.
                "filter_policy" => self.set_attribute(id, "FilterPolicy", filter_policy_text(desired).unwrap_or_default()).await?,
                _ => {}
            }
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.unsubscribe().subscription_arn(id).send().await.map(|_| ()).op("Unsubscribe"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let (topic, protocol, endpoint) = (required(desired, "topic")?, required(desired, "protocol")?, required(desired, "endpoint")?);
        let mut pages = self.client.list_subscriptions_by_topic().topic_arn(topic).into_paginator().send();
        while let Some(page) = pages.next().await {
            let Some(page) = found(page.op("ListSubscriptionsByTopic"))? else {
                return Ok(None);
            };
            for sub in page.subscriptions() {
                // Unconfirmed subscriptions are listed as "PendingConfirmation", not an ARN.
                let Some(arn) = sub.subscription_arn().filter(|a| a.starts_with("arn:")) else {
                    continue;
                };
                if sub.protocol() == Some(protocol) && sub.endpoint() == Some(endpoint) {
                    return self.read(arn).await;
                }
            }
        }
        Ok(None)
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["sns:GetSubscriptionAttributes"],
            // ListSubscriptionsByTopic: crash recovery looks for the subscription before subscribing.
            Operation::Create => &["sns:ListSubscriptionsByTopic", "sns:Subscribe", "sns:GetSubscriptionAttributes"],
            Operation::Update => &["sns:SetSubscriptionAttributes", "sns:GetSubscriptionAttributes"],
            Operation::Delete => &["sns:Unsubscribe"],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_sns::operation::get_subscription_attributes::GetSubscriptionAttributesOutput;
    use aws_sdk_sns::operation::list_subscriptions_by_topic::ListSubscriptionsByTopicOutput;
    use aws_sdk_sns::operation::set_subscription_attributes::{SetSubscriptionAttributesInput, SetSubscriptionAttributesOutput};
    use aws_sdk_sns::operation::subscribe::{SubscribeInput, SubscribeOutput};
    use aws_sdk_sns::types::Subscription;
    use aws_smithy_mocks::{mock, Rule};
    use cairn_engine::provider::Owner;

    use super::*;
    use crate::kit::mock_cases::query_error;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:events";
    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:orders";
    const ARN: &str = "arn:aws:sns:us-east-1:123456789012:events:0b8f3c1e-5d1a-4a55-9d44-2f0c8a1b7e01";

    fn kind(rules: &[Rule]) -> SnsSubscription {
        SnsSubscription::from_client(crate::mocked_client!(aws_sdk_sns, rules))
    }

    fn desired(props: Value) -> Desired {
        let owner = Owner { stack: "shop".into(), env: "dev".into(), address: "sub.orders".into() };
        Desired {
            props: props.as_object().unwrap().clone(),
            tags: Tags::new(),
            owner,
            default_name: "shop-dev-sub-orders".into(),
            idempotency_token: "token".into(),
        }
    }

    fn attributes_rule(extra: &[(&str, &str)]) -> Rule {
        let extra: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        mock!(Client::get_subscription_attributes).then_output(move || {
            let mut b = GetSubscriptionAttributesOutput::builder()
                .attributes("SubscriptionArn", ARN)
                .attributes("TopicArn", TOPIC)
                .attributes("Protocol", "sqs")
                .attributes("Endpoint", QUEUE)
                .attributes("PendingConfirmation", "false");
            for (k, v) in &extra {
                b = b.attributes(k, v);
            }
            b.build()
        })
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        for props in [
            json!({"topic": TOPIC, "endpoint": QUEUE}),
            json!({"topic": TOPIC, "protocol": "SQS", "endpoint": QUEUE}),
            json!({"topic": TOPIC, "protocol": "sqs", "endpoint": 7}),
            json!({"topic": TOPIC, "protocol": "sqs", "endpoint": QUEUE, "filter_policy": [{"event": ["a"]}]}),
            json!({"topic": TOPIC, "protocol": "sqs", "endpoint": QUEUE, "raw_message_delivery": "true"}),
            json!({"topic": TOPIC, "protocol": "sqs", "endpoint": QUEUE, "delivery_policy": {}}),
        ] {
            let d = desired(props.clone());
            assert!(subscribe_request(&d).is_err(), "builder accepts {props}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes a Subscribe request with a protocol SNS knows.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            let d = desired(Value::Object(props));
            let req = subscribe_request(&d);
            proptest::prop_assert!(req.is_ok(), "{:?}", req.err());
            let req = req.unwrap();
            proptest::prop_assert!(!req.topic.is_empty() && !req.endpoint.is_empty());
            proptest::prop_assert_eq!(req.attributes.contains_key("RawMessageDelivery"), d.bool("raw_message_delivery") == Some(true));
        }
    }

    #[tokio::test]
    async fn create_subscribes_with_attributes_and_asks_for_the_arn() {
        let seen: Arc<Mutex<Vec<SubscribeInput>>> = Arc::default();
        let sink = seen.clone();
        let subscribe = mock!(Client::subscribe).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            SubscribeOutput::builder().subscription_arn(ARN).build()
        });
        let get = attributes_rule(&[("RawMessageDelivery", "true"), ("FilterPolicy", r#"{"kind": ["order"]}"#)]);
        let want = desired(json!({
            "topic": TOPIC, "protocol": "sqs", "endpoint": QUEUE,
            "raw_message_delivery": true, "filter_policy": {"kind": ["order"]},
        }));
        let kind = kind(&[subscribe, get.clone()]);
        let obs = kind.create(&want).await.unwrap();
        assert_eq!(get.num_calls(), 0, "create makes no read");

        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!((input.topic_arn(), input.protocol(), input.endpoint()), (Some(TOPIC), Some("sqs"), Some(QUEUE)));
        assert_eq!(input.return_subscription_arn(), Some(true));
        let attrs = input.attributes().unwrap();
        assert_eq!(attrs["RawMessageDelivery"], "true");
        assert_eq!(serde_json::from_str::<Value>(&attrs["FilterPolicy"]).unwrap(), json!({"kind": ["order"]}));

        assert_eq!(obs.id, ARN);
        assert_eq!(
            Value::Object(obs.props.clone()),
            json!({
                "topic": TOPIC, "protocol": "sqs", "endpoint": QUEUE,
                "raw_message_delivery": true, "filter_policy": {"kind": ["order"]},
            })
        );
        assert!(obs.tags.is_empty());
        assert_eq!(obs, kind.read(ARN).await.unwrap().unwrap(), "create returns what read reports");
    }

    #[tokio::test]
    async fn read_many_reads_every_subscription_and_maps_missing_ones_to_none() {
        let gone_arn = format!("{TOPIC}:gone");
        let missing_arn = gone_arn.clone();
        let missing = mock!(Client::get_subscription_attributes)
            .match_requests(move |r| r.subscription_arn() == Some(missing_arn.as_str()))
            .then_http_response(query_error(404, "NotFound"));
        let out = kind(&[missing, attributes_rule(&[])]).read_many(&[ARN.to_string(), gone_arn.clone()]).await.unwrap();
        assert_eq!(out[ARN].as_ref().unwrap().props["endpoint"], json!(QUEUE));
        assert_eq!(out[&gone_arn], None);
    }

    #[tokio::test]
    async fn read_treats_absent_or_empty_attributes_as_unset() {
        let obs = kind(&[attributes_rule(&[("FilterPolicy", "")])]).read(ARN).await.unwrap().unwrap();
        assert_eq!(obs.props["raw_message_delivery"], json!(false));
        assert!(!obs.props.contains_key("filter_policy"));
    }

    #[tokio::test]
    async fn read_of_missing_subscription_is_none() {
        let get = mock!(Client::get_subscription_attributes).then_http_response(query_error(404, "NotFound"));
        assert_eq!(kind(&[get]).read(ARN).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_of_missing_subscription_is_ok() {
        let del = mock!(Client::unsubscribe).then_http_response(query_error(404, "NotFound"));
        kind(&[del]).delete(ARN).await.unwrap();
    }

    #[tokio::test]
    async fn update_removes_the_filter_policy_with_an_empty_value() {
        let seen: Arc<Mutex<Vec<SetSubscriptionAttributesInput>>> = Arc::default();
        let sink = seen.clone();
        let set = mock!(Client::set_subscription_attributes).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            SetSubscriptionAttributesOutput::builder().build()
        });
        let want = desired(json!({"topic": TOPIC, "protocol": "sqs", "endpoint": QUEUE, "raw_message_delivery": false}));
        kind(&[set, attributes_rule(&[])]).update(ARN, &want, &["filter_policy".into(), "raw_message_delivery".into()]).await.unwrap();
        let sent: Vec<(String, String)> =
            seen.lock().unwrap().iter().map(|i| (i.attribute_name().unwrap().to_string(), i.attribute_value().unwrap_or_default().to_string())).collect();
        assert_eq!(sent, [("FilterPolicy".to_string(), String::new()), ("RawMessageDelivery".to_string(), "false".to_string())]);
    }

    #[tokio::test]
    async fn find_owned_matches_protocol_and_endpoint() {
        let list = mock!(Client::list_subscriptions_by_topic).then_output(|| {
            ListSubscriptionsByTopicOutput::builder()
                .subscriptions(Subscription::builder().subscription_arn("PendingConfirmation").protocol("sqs").endpoint(QUEUE).build())
                .subscriptions(Subscription::builder().subscription_arn(format!("{TOPIC}:other")).protocol("lambda").endpoint(QUEUE).build())
                .subscriptions(Subscription::builder().subscription_arn(ARN).protocol("sqs").endpoint(QUEUE).build())
                .build()
        });
        let want = desired(json!({"topic": TOPIC, "protocol": "sqs", "endpoint": QUEUE}));
        let found = kind(&[list, attributes_rule(&[])]).find_owned(&want).await.unwrap();
        assert_eq!(found.unwrap().id, ARN);

        let missing_topic = mock!(Client::list_subscriptions_by_topic).then_http_response(query_error(404, "NotFound"));
        assert_eq!(kind(&[missing_topic]).find_owned(&want).await.unwrap(), None);
    }
}
