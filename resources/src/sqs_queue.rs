//! `aws.sqs.queue`: an SQS queue (standard or FIFO) with its attributes, dead-letter redrive and access policy.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use cairn_engine::typecheck;
use serde_json::{json, Value};

use aws_sdk_sqs::error::ProvideErrorMetadata;

use crate::adopt::{adopt_or, foreign};
use crate::error::{classify, found, gone, SdkResultExt};
use crate::kit::defaults;
use crate::kit::defaults::wanted;
use crate::kit::errors::invalid;
use crate::kit::tagging;
use crate::read_each::read_each;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.sqs.queue",
    doc: "An SQS queue, standard or FIFO, with optional KMS encryption, dead-letter redrive and queue policy.",
    props: &[
        PropSpec::new("name", PropType::String, "Queue name; defaults to a name derived from stack, env and address. `.fifo` is appended for FIFO queues.")
            .force_new()
            .naming(NAMING),
        PropSpec::new("fifo_queue", PropType::Bool, "Whether the queue is FIFO (exactly-once, ordered).").force_new().default("false"),
        PropSpec::new("visibility_timeout_seconds", PropType::IntRange(0, 43_200), "How long a received message stays hidden from other consumers.")
            .default("30"),
        PropSpec::new("message_retention_seconds", PropType::IntRange(60, 1_209_600), "How long SQS keeps a message.").default("345600"),
        PropSpec::new("max_message_size", PropType::IntRange(1_024, 1_048_576), "Largest accepted message in bytes.").default("1048576"),
        PropSpec::new("delay_seconds", PropType::IntRange(0, 900), "Delay before a new message becomes visible.").default("0"),
        PropSpec::new("receive_wait_time_seconds", PropType::IntRange(0, 20), "Long-polling wait for ReceiveMessage.").default("0"),
        PropSpec::new(
            "kms_key",
            PropType::Text(TextRule::len(1, 2048)),
            "KMS key id, ARN or alias for server-side encryption; unset uses SQS-managed encryption.",
        ),
        PropSpec::new(
            "redrive",
            PropType::Struct(&[
                PropSpec::new("dead_letter_queue", PropType::Text(TextRule::len(1, 2048)), "The dead-letter queue's ARN.").required(),
                PropSpec::new("max_receive_count", PropType::IntRange(1, 1_000), "Receives before a message moves to the dead-letter queue.").required(),
            ]),
            "Dead-letter queue: `{ dead_letter_queue: <queue ARN>, max_receive_count: <1-1000> }`.",
        ),
        PropSpec::new("policy", PropType::Policy, "Queue access policy."),
    ],
    attrs: &["arn", "url", "name"],
    taggable: true,
    rules: &[],
};

/// Queue names: up to 80 characters (`.fifo` included), letters, digits, `-` and `_`;
/// unique per account and region.
pub const NAMING: Naming = Naming::new(TextRule::len(1, 80).chars("-_"), NameScope::Region).fifo("fifo_queue", ".fifo", true);

/// Integer props and the queue attribute each one maps to.
const INT_ATTRIBUTES: &[(&str, QueueAttributeName)] = &[
    ("visibility_timeout_seconds", QueueAttributeName::VisibilityTimeout),
    ("message_retention_seconds", QueueAttributeName::MessageRetentionPeriod),
    ("max_message_size", QueueAttributeName::MaximumMessageSize),
    ("delay_seconds", QueueAttributeName::DelaySeconds),
    ("receive_wait_time_seconds", QueueAttributeName::ReceiveMessageWaitTimeSeconds),
];

/// Props set through queue attributes after creation (everything but the force-new ones).
const MUTABLE: &[&str] = &[
    "visibility_timeout_seconds",
    "message_retention_seconds",
    "max_message_size",
    "delay_seconds",
    "receive_wait_time_seconds",
    "kms_key",
    "redrive",
    "policy",
];

crate::kit::client::client_kind!(SqsQueue, Client, sqs);

impl SqsQueue {
    async fn current_tags(&self, url: &str) -> Result<Option<Tags>, ProviderError> {
        let out = found(self.client.list_queue_tags().queue_url(url).send().await.op("ListQueueTags"))?;
        Ok(out.map(|o| o.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()))
    }

    async fn set_tags(&self, url: &str, desired: &Tags) -> Result<(), ProviderError> {
        let current = self.current_tags(url).await?.unwrap_or_default();
        let set =
            |set: Tags| async move { self.client.tag_queue().queue_url(url).set_tags(Some(set.into_iter().collect())).send().await.map(|_| ()).op("TagQueue") };
        let remove =
            |remove: Vec<String>| async move { self.client.untag_queue().queue_url(url).set_tag_keys(Some(remove)).send().await.map(|_| ()).op("UntagQueue") };
        tagging::sync(&current, desired, set, remove).await
    }
}

/// The queue's name: FIFO queues must end in `.fifo`, so it is added rather than rejected.
pub fn queue_name(desired: &Desired) -> String {
    let name = desired.name();
    if defaults::flag(&SCHEMA, desired, "fifo_queue").unwrap_or_default() && !name.ends_with(".fifo") {
        format!("{name}.fifo")
    } else {
        name
    }
}

/// The queue's ARN from its URL (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, or an
/// emulator's `http://HOST/ACCOUNT/NAME`): the path holds account and name, the client the
/// region. `None` when the URL does not have that shape.
fn queue_arn(url: &str, region: Option<&str>) -> Option<String> {
    let region = region?;
    let mut path = url.split("://").nth(1)?.split('/').skip(1).filter(|s| !s.is_empty());
    let (account, name) = (path.next()?, path.next()?);
    if path.next().is_some() || account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(crate::kit::arns::regional("sqs", region, account, name))
}

/// The stack's redrive object as SQS's RedrivePolicy JSON (its shape checked by the schema).
fn redrive_policy(redrive: &Value) -> Result<String, ProviderError> {
    let shape = || invalid(SCHEMA.kind, "redrive must be { dead_letter_queue: <queue ARN>, max_receive_count: <integer> }");
    let dlq = redrive.get("dead_letter_queue").and_then(Value::as_str).ok_or_else(shape)?;
    let count = redrive.get("max_receive_count").and_then(Value::as_i64).ok_or_else(shape)?;
    Ok(json!({ "deadLetterTargetArn": dlq, "maxReceiveCount": count }).to_string())
}

/// SQS's RedrivePolicy JSON back in the stack's shape. `maxReceiveCount` comes back as a
/// number from AWS but as a string from some emulators.
fn redrive_from_aws(text: &str) -> Value {
    let parsed = serde_json::from_str::<Value>(text).ok().and_then(|v| {
        let count = match v.get("maxReceiveCount")? {
            Value::Number(n) => n.as_i64()?,
            Value::String(s) => s.trim().parse().ok()?,
            _ => return None,
        };
        let dlq = v.get("deadLetterTargetArn")?.as_str()?;
        Some(json!({ "dead_letter_queue": dlq, "max_receive_count": count }))
    });
    // Unparseable text is reported raw so the difference shows instead of vanishing.
    parsed.unwrap_or_else(|| Value::String(text.to_string()))
}

fn document_text(doc: &Value) -> String {
    match doc {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Queue attributes for `props`. When `clearing` is set, an unset optional prop becomes an
/// empty string, which is how SQS removes KMS encryption, redrive and policy.
fn attributes(desired: &Desired, props: &[&str], clearing: bool) -> Result<HashMap<QueueAttributeName, String>, ProviderError> {
    // Values known only at apply were not checked at validate: the schema's checks run here too.
    let problems: Vec<String> = typecheck::check_props(&SCHEMA, &desired.props, false)
        .into_iter()
        .filter(|v| matches!(v.path.first(), Some(typecheck::Seg::Key(k)) if props.contains(&k.as_str())))
        .map(|v| format!("{} {}", typecheck::path_text(&v.path), v.message))
        .collect();
    if !problems.is_empty() {
        return Err(invalid(SCHEMA.kind, problems.join("; ")));
    }
    let mut out = HashMap::new();
    for &prop in props {
        if let Some((_, attr)) = INT_ATTRIBUTES.iter().find(|(p, _)| *p == prop) {
            if let Some(v) = wanted(&SCHEMA, desired, prop) {
                let n = v.as_i64().ok_or_else(|| invalid(SCHEMA.kind, format!("{prop} must be an integer")))?;
                out.insert(attr.clone(), n.to_string());
            }
            continue;
        }
        let (attr, text) = match prop {
            "kms_key" => (
                QueueAttributeName::KmsMasterKeyId,
                wanted(&SCHEMA, desired, prop)
                    .map(|v| v.as_str().map(str::to_string).ok_or_else(|| invalid(SCHEMA.kind, "kms_key must be a string")))
                    .transpose()?,
            ),
            "redrive" => (QueueAttributeName::RedrivePolicy, wanted(&SCHEMA, desired, prop).map(|v| redrive_policy(&v)).transpose()?),
            "policy" => (QueueAttributeName::Policy, wanted(&SCHEMA, desired, prop).map(|v| document_text(&v))),
            _ => continue,
        };
        match text {
            Some(text) => {
                out.insert(attr, text);
            }
            None if clearing => {
                out.insert(attr, String::new());
            }
            None => {}
        }
    }
    Ok(out)
}

/// Turns GetQueueAttributes output into the stack's prop shapes.
fn observed(url: &str, attrs: &HashMap<QueueAttributeName, String>, tags: Tags) -> Observed {
    let get = |name: &QueueAttributeName| attrs.get(name).map(String::as_str).filter(|s| !s.is_empty());
    let arn = get(&QueueAttributeName::QueueArn).unwrap_or_default().to_string();
    let name = match arn.rsplit_once(':') {
        Some((_, name)) => name.to_string(),
        None => url.rsplit('/').next().unwrap_or_default().to_string(),
    };

    let mut props = Props::new();
    props.insert("name".into(), json!(name));
    props.insert("fifo_queue".into(), json!(get(&QueueAttributeName::FifoQueue) == Some("true")));
    for (prop, attr) in INT_ATTRIBUTES {
        let n = get(attr).and_then(|s| s.trim().parse::<i64>().ok());
        let n = n.or_else(|| SCHEMA.prop(prop)?.default?.parse().ok());
        if let Some(n) = n {
            props.insert((*prop).into(), json!(n));
        }
    }
    if let Some(key) = get(&QueueAttributeName::KmsMasterKeyId) {
        props.insert("kms_key".into(), json!(key));
    }
    if let Some(text) = get(&QueueAttributeName::RedrivePolicy) {
        props.insert("redrive".into(), redrive_from_aws(text));
    }
    if let Some(text) = get(&QueueAttributeName::Policy) {
        props.insert("policy".into(), serde_json::from_str(text).unwrap_or_else(|_| json!(text)));
    }

    let mut out_attrs = Props::new();
    out_attrs.insert("arn".into(), json!(arn));
    out_attrs.insert("url".into(), json!(url));
    out_attrs.insert("name".into(), json!(name));
    Observed { id: url.to_string(), props, attrs: out_attrs, tags }
}

impl SqsQueue {
    /// The queue of the desired name, whoever made it.
    async fn named(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let out = found(self.client.get_queue_url().queue_name(queue_name(desired)).send().await.op("GetQueueUrl"))?;
        let Some(url) = out.as_ref().and_then(|o| o.queue_url()) else {
            return Ok(None);
        };
        self.read(url).await
    }
}

#[async_trait]
impl ResourceKind for SqsQueue {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let out = self.client.get_queue_attributes().queue_url(id).attribute_names(QueueAttributeName::All).send().await.op("GetQueueAttributes");
        let Some(out) = found(out)? else {
            return Ok(None);
        };
        let Some(tags) = self.current_tags(id).await? else {
            return Ok(None);
        };
        Ok(Some(observed(id, out.attributes().unwrap_or(&HashMap::new()), tags)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let mut attrs = attributes(desired, MUTABLE, false)?;
        if defaults::flag(&SCHEMA, desired, "fifo_queue")? {
            // Only sent for FIFO: a standard queue is the absence of the attribute.
            attrs.insert(QueueAttributeName::FifoQueue, "true".into());
        }
        let tags = (!desired.tags.is_empty()).then(|| desired.tags.clone().into_iter().collect());
        let name = queue_name(desired);
        let what = format!("SQS queue {name}");
        let mut sent = attrs.clone();
        let out = match self.client.create_queue().queue_name(&name).set_attributes(Some(attrs)).set_tags(tags).send().await {
            // Same name, other attributes: ours (made by an attempt whose answer was lost, then
            // changed) or someone else's.
            Err(e) if matches!(e.code(), Some("QueueAlreadyExists" | "QueueNameExists")) => {
                let existing = self.named(desired).await?;
                return adopt_or(self, desired, &what, existing, classify("CreateQueue", e)).await;
            }
            other => other.op("CreateQueue")?,
        };
        let url = out.queue_url().ok_or_else(|| ProviderError::Fatal("CreateQueue: no queue URL in the response".into()))?;
        // CreateQueue answers with an existing queue of the same name and identical attributes
        // without applying the tags, so only the tags can say whether that queue is ours, unless
        // the name itself does (`Desired::has_derived_name`).
        let tags = if desired.has_derived_name(&desired.name()) {
            desired.tags.clone()
        } else {
            let tags = self.current_tags(url).await?.ok_or_else(|| ProviderError::Retryable(format!("CreateQueue: {url} is not readable yet")))?;
            if !desired.owner.matches(&tags) {
                return Err(foreign(SCHEMA.kind, &format!("{what} ({url})"), desired, &tags));
            }
            tags
        };
        // The queue holds exactly the attributes just sent (CreateQueue refuses an existing
        // queue whose attributes differ), so what a read would report is known already.
        match queue_arn(url, self.client.config().region().map(|r| r.as_ref())) {
            Some(arn) => {
                sent.insert(QueueAttributeName::QueueArn, arn);
                Ok(observed(url, &sent, tags))
            }
            // A URL of an unexpected shape: ask SQS instead of guessing.
            None => self.read(url).await?.ok_or_else(|| ProviderError::Retryable(format!("CreateQueue: {url} is not readable yet"))),
        }
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        read_each(ids, || SqsQueue::from_client(self.client.clone())).await
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let mut props: Vec<&str> = changed.iter().map(String::as_str).filter(|c| MUTABLE.contains(c)).collect();
        // moto drops a queue's Policy on any SetQueueAttributes that omits it; re-sending the
        // desired policy is a no-op on AWS and keeps the emulator from losing it.
        if !props.is_empty() && !props.contains(&"policy") && desired.props.get("policy").is_some_and(|p| !p.is_null()) {
            props.push("policy");
        }
        let attrs = attributes(desired, &props, true)?;
        if !attrs.is_empty() {
            self.client.set_queue_attributes().queue_url(id).set_attributes(Some(attrs)).send().await.op("SetQueueAttributes")?;
        }
        if changed.iter().any(|c| c == "tags") {
            self.set_tags(id, &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.delete_queue().queue_url(id).send().await.map(|_| ()).op("DeleteQueue"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        Ok(self.named(desired).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["sqs:GetQueueAttributes", "sqs:ListQueueTags"],
            // TagQueue: SQS authorises tags given to CreateQueue as a separate action.
            // GetQueueUrl: crash recovery looks the queue up by name before creating.
            // GetQueueAttributes: adopting a queue an interrupted create left behind reads it.
            Operation::Create => &["sqs:GetQueueUrl", "sqs:CreateQueue", "sqs:TagQueue", "sqs:GetQueueAttributes", "sqs:ListQueueTags"],
            Operation::Update => &["sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue", "sqs:GetQueueAttributes", "sqs:ListQueueTags"],
            Operation::Delete => &["sqs:DeleteQueue"],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_sqs::operation::create_queue::{CreateQueueInput, CreateQueueOutput};
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
    use aws_sdk_sqs::operation::list_queue_tags::ListQueueTagsOutput;
    use aws_sdk_sqs::operation::set_queue_attributes::{SetQueueAttributesInput, SetQueueAttributesOutput};
    use aws_sdk_sqs::operation::tag_queue::{TagQueueInput, TagQueueOutput};
    use aws_sdk_sqs::operation::untag_queue::{UntagQueueInput, UntagQueueOutput};
    use aws_smithy_mocks::{mock, Rule};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use cairn_engine::provider::Owner;

    use super::*;

    const URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/orders.fifo";
    const ARN: &str = "arn:aws:sqs:us-east-1:123456789012:orders.fifo";
    const DLQ: &str = "arn:aws:sqs:us-east-1:123456789012:orders-dlq.fifo";
    const DEFAULT_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/shop-dev-orders";
    const DEFAULT_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:shop-dev-orders";

    fn kind(rules: &[Rule]) -> SqsQueue {
        SqsQueue::from_client(crate::mocked_client!(aws_sdk_sqs, rules))
    }

    fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: "queue.orders".into() }
    }

    fn desired(props: Value) -> Desired {
        let mut tags = owner().tags();
        tags.insert("team".into(), "payments".into());
        Desired { props: props.as_object().unwrap().clone(), tags, owner: owner(), default_name: "shop-dev-orders".into(), idempotency_token: "token".into() }
    }

    /// The wire shape of SQS's "no such queue" error (JSON protocol with the query-compatible header).
    fn no_such_queue() -> HttpResponse {
        let body = r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#;
        let mut resp = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body));
        resp.headers_mut().insert("content-type", "application/x-amz-json-1.0");
        resp.headers_mut().insert("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender");
        resp
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        for props in [
            json!({"visibility_timeout_seconds": 999_999}),
            json!({"delay_seconds": -1}),
            json!({"redrive": {"dead_letter_queue": DLQ}}),
            json!({"redrive": {"dead_letter_queue": DLQ, "max_receive_count": 3, "extra": 1}}),
            json!({"redrive": {"dead_letter_queue": DLQ, "max_receive_count": "3"}}),
            json!({"kms_key": 7}),
        ] {
            let d = desired(props.clone());
            assert!(attributes(&d, MUTABLE, false).is_err(), "builder accepts {props}");
            assert!(!cairn_engine::typecheck::check_props(&SCHEMA, &d.props, true).is_empty(), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes queue attributes, and a name SQS accepts.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            let d = desired(Value::Object(props));
            let attrs = attributes(&d, MUTABLE, false);
            proptest::prop_assert!(attrs.is_ok(), "{:?}", attrs.err());
            let name = queue_name(&d);
            let rule = NAMING.rule;
            proptest::prop_assert!(rule.violation(name.trim_end_matches(".fifo")).is_none(), "{name}");
        }
    }

    fn attributes_output(extra: &[(QueueAttributeName, &str)]) -> GetQueueAttributesOutput {
        let mut b = GetQueueAttributesOutput::builder()
            .attributes(QueueAttributeName::QueueArn, ARN)
            .attributes(QueueAttributeName::VisibilityTimeout, "45")
            .attributes(QueueAttributeName::MessageRetentionPeriod, "345600")
            .attributes(QueueAttributeName::MaximumMessageSize, "1048576")
            .attributes(QueueAttributeName::DelaySeconds, "0")
            .attributes(QueueAttributeName::ReceiveMessageWaitTimeSeconds, "20")
            .attributes(QueueAttributeName::ApproximateNumberOfMessages, "3");
        for (k, v) in extra {
            b = b.attributes(k.clone(), *v);
        }
        b.build()
    }

    fn tags_output(tags: &Tags) -> Rule {
        let tags = tags.clone();
        mock!(Client::list_queue_tags).then_output(move || ListQueueTagsOutput::builder().set_tags(Some(tags.clone().into_iter().collect())).build())
    }

    #[test]
    fn defaults_are_json() {
        for p in SCHEMA.props {
            if let Some(d) = p.default {
                serde_json::from_str::<Value>(d).unwrap_or_else(|e| panic!("{}: {e}", p.name));
            }
        }
    }

    #[test]
    fn fifo_names_get_the_suffix_once() {
        assert_eq!(queue_name(&desired(json!({"name": "orders", "fifo_queue": true}))), "orders.fifo");
        assert_eq!(queue_name(&desired(json!({"name": "orders.fifo", "fifo_queue": true}))), "orders.fifo");
        assert_eq!(queue_name(&desired(json!({"fifo_queue": false}))), "shop-dev-orders");
    }

    #[tokio::test]
    async fn create_sends_tags_attributes_and_redrive_json() {
        let seen: Arc<Mutex<Vec<CreateQueueInput>>> = Arc::default();
        let sink = seen.clone();
        let create = mock!(Client::create_queue).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateQueueOutput::builder().queue_url(URL).build()
        });
        let redrive = format!(r#"{{"deadLetterTargetArn":"{DLQ}","maxReceiveCount":5}}"#);
        let redrive_out = redrive.clone();
        let get = mock!(Client::get_queue_attributes)
            .then_output(move || attributes_output(&[(QueueAttributeName::FifoQueue, "true"), (QueueAttributeName::RedrivePolicy, &redrive_out)]));
        let want = desired(json!({
            "name": "orders",
            "fifo_queue": true,
            "visibility_timeout_seconds": 45,
            "receive_wait_time_seconds": 20,
            "redrive": {"dead_letter_queue": DLQ, "max_receive_count": 5},
        }));
        let tags = tags_output(&want.tags);
        let kind = kind(&[create, get.clone(), tags.clone()]);

        let obs = kind.create(&want).await.unwrap();
        // An explicit name can be anyone's queue: its tags are read, nothing else is.
        assert_eq!((get.num_calls(), tags.num_calls()), (0, 1));

        let input = seen.lock().unwrap().pop().expect("CreateQueue was called");
        assert_eq!(input.queue_name(), Some("orders.fifo"));
        let sent_tags: Tags = input.tags().unwrap().clone().into_iter().collect();
        assert_eq!(sent_tags, want.tags);
        let attrs = input.attributes().unwrap();
        assert_eq!(attrs[&QueueAttributeName::FifoQueue], "true");
        assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "45");
        assert_eq!(attrs[&QueueAttributeName::MessageRetentionPeriod], "345600", "defaults are sent explicitly");
        let sent_redrive: Value = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
        assert_eq!(sent_redrive, json!({"deadLetterTargetArn": DLQ, "maxReceiveCount": 5}));
        assert!(!attrs.contains_key(&QueueAttributeName::KmsMasterKeyId));
        assert!(!attrs.contains_key(&QueueAttributeName::Policy));

        assert_eq!(obs.id, URL);
        assert_eq!(obs.attrs["arn"], json!(ARN));
        assert_eq!(obs.props["name"], json!("orders.fifo"));
        assert_eq!(obs.props["redrive"], json!({"dead_letter_queue": DLQ, "max_receive_count": 5}));
        assert_eq!(obs.tags, want.tags);
    }

    #[tokio::test]
    async fn standard_queue_omits_fifo_attribute() {
        let seen: Arc<Mutex<Vec<CreateQueueInput>>> = Arc::default();
        let sink = seen.clone();
        let create = mock!(Client::create_queue).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateQueueOutput::builder().queue_url(URL).build()
        });
        let get = mock!(Client::get_queue_attributes).then_output(|| attributes_output(&[]));
        let want = desired(json!({}));
        let kind = kind(&[create, get, tags_output(&want.tags)]);
        kind.create(&want).await.unwrap();
        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!(input.queue_name(), Some("shop-dev-orders"));
        assert!(!input.attributes().unwrap().contains_key(&QueueAttributeName::FifoQueue));
    }

    /// A queue with cairn's default name is this owner's by construction: CreateQueue is the
    /// only call, and what it returns is what a later read reports.
    #[tokio::test]
    async fn create_with_the_default_name_makes_no_read_and_returns_what_read_reports() {
        let create = mock!(Client::create_queue).then_output(|| CreateQueueOutput::builder().queue_url(DEFAULT_URL).build());
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}"#;
        let redrive = format!(r#"{{"deadLetterTargetArn":"{DLQ}","maxReceiveCount":4}}"#);
        let answer = HashMap::from([
            (QueueAttributeName::QueueArn, DEFAULT_ARN.to_string()),
            (QueueAttributeName::VisibilityTimeout, "60".to_string()),
            (QueueAttributeName::MessageRetentionPeriod, "345600".to_string()),
            (QueueAttributeName::MaximumMessageSize, "1048576".to_string()),
            (QueueAttributeName::DelaySeconds, "0".to_string()),
            (QueueAttributeName::ReceiveMessageWaitTimeSeconds, "0".to_string()),
            (QueueAttributeName::KmsMasterKeyId, "alias/orders".to_string()),
            (QueueAttributeName::RedrivePolicy, redrive),
            (QueueAttributeName::Policy, policy.to_string()),
            (QueueAttributeName::SqsManagedSseEnabled, "false".to_string()),
        ]);
        let get = mock!(Client::get_queue_attributes).then_output(move || GetQueueAttributesOutput::builder().set_attributes(Some(answer.clone())).build());
        let want = desired(json!({
            "visibility_timeout_seconds": 60,
            "kms_key": "alias/orders",
            "redrive": {"dead_letter_queue": DLQ, "max_receive_count": 4},
            "policy": serde_json::from_str::<Value>(policy).unwrap(),
        }));
        let tags = tags_output(&want.tags);
        let kind = kind(&[create.clone(), get.clone(), tags.clone()]);

        let created = kind.create(&want).await.unwrap();
        assert_eq!((create.num_calls(), get.num_calls(), tags.num_calls()), (1, 0, 0), "create makes no read");
        assert_eq!(created.attrs["arn"], json!(DEFAULT_ARN));
        assert_eq!(created, kind.read(DEFAULT_URL).await.unwrap().unwrap());
    }

    #[test]
    fn queue_arns_come_from_the_url_and_the_region() {
        assert_eq!(queue_arn(URL, Some("us-east-1")).as_deref(), Some(ARN));
        assert_eq!(queue_arn("http://localhost:5000/123456789012/jobs", Some("eu-west-1")).as_deref(), Some("arn:aws:sqs:eu-west-1:123456789012:jobs"));
        assert_eq!(
            queue_arn("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", Some("cn-north-1")).as_deref(),
            Some("arn:aws-cn:sqs:cn-north-1:123456789012:q")
        );
        assert_eq!(queue_arn("https://example.com/queues/q", Some("us-east-1")), None);
        assert_eq!(queue_arn(URL, None), None);
    }

    #[tokio::test]
    async fn read_normalises_strings_to_numbers_and_json() {
        let get = mock!(Client::get_queue_attributes).then_output(|| {
            attributes_output(&[
                (QueueAttributeName::RedrivePolicy, r#"{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:dlq", "maxReceiveCount": "7"}"#),
                (QueueAttributeName::Policy, r#"{"Version":"2012-10-17","Statement":[]}"#),
                (QueueAttributeName::KmsMasterKeyId, "alias/aws/sqs"),
                (QueueAttributeName::FifoQueue, "true"),
            ])
        });
        let kind = kind(&[get, tags_output(&owner().tags())]);
        let obs = kind.read(URL).await.unwrap().unwrap();
        assert_eq!(
            Value::Object(obs.props),
            json!({
                "name": "orders.fifo",
                "fifo_queue": true,
                "visibility_timeout_seconds": 45,
                "message_retention_seconds": 345600,
                "max_message_size": 1048576,
                "delay_seconds": 0,
                "receive_wait_time_seconds": 20,
                "kms_key": "alias/aws/sqs",
                "redrive": {"dead_letter_queue": "arn:aws:sqs:us-east-1:1:dlq", "max_receive_count": 7},
                "policy": {"Version": "2012-10-17", "Statement": []},
            })
        );
        assert_eq!(obs.attrs["url"], json!(URL));
        assert_eq!(obs.tags, owner().tags());
    }

    #[tokio::test]
    async fn read_of_missing_queue_is_none() {
        let get = mock!(Client::get_queue_attributes).then_http_response(no_such_queue);
        assert_eq!(kind(&[get]).read(URL).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_of_missing_queue_is_ok() {
        let del = mock!(Client::delete_queue).then_http_response(no_such_queue);
        kind(&[del]).delete(URL).await.unwrap();
    }

    #[tokio::test]
    async fn update_sets_only_changed_attributes_and_clears_removed_ones() {
        let seen: Arc<Mutex<Vec<SetQueueAttributesInput>>> = Arc::default();
        let sink = seen.clone();
        let set = mock!(Client::set_queue_attributes).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            SetQueueAttributesOutput::builder().build()
        });
        let tagged: Arc<Mutex<Vec<TagQueueInput>>> = Arc::default();
        let tag_sink = tagged.clone();
        let tag = mock!(Client::tag_queue).then_compute_output(move |input| {
            tag_sink.lock().unwrap().push(input.clone());
            TagQueueOutput::builder().build()
        });
        let untagged: Arc<Mutex<Vec<UntagQueueInput>>> = Arc::default();
        let untag_sink = untagged.clone();
        let untag = mock!(Client::untag_queue).then_compute_output(move |input| {
            untag_sink.lock().unwrap().push(input.clone());
            UntagQueueOutput::builder().build()
        });
        let mut current = owner().tags();
        current.insert("old".into(), "x".into());
        let get = mock!(Client::get_queue_attributes).then_output(|| attributes_output(&[]));
        let want = desired(json!({"visibility_timeout_seconds": 45, "delay_seconds": 5}));
        let kind = kind(&[set, tag, untag, get, tags_output(&current)]);

        let changed = ["visibility_timeout_seconds".to_string(), "redrive".to_string(), "tags".to_string()];
        kind.update(URL, &want, &changed).await.unwrap();

        let input = seen.lock().unwrap().pop().unwrap();
        let attrs = input.attributes().unwrap();
        assert_eq!(attrs.len(), 2, "{attrs:?}");
        assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "45");
        assert_eq!(attrs[&QueueAttributeName::RedrivePolicy], "");
        let added = tagged.lock().unwrap().pop().unwrap();
        assert_eq!(added.tags().unwrap().get("team").map(String::as_str), Some("payments"));
        assert_eq!(added.tags().unwrap().len(), 1);
        assert_eq!(untagged.lock().unwrap().pop().unwrap().tag_keys(), ["old".to_string()]);
    }

    #[tokio::test]
    async fn find_owned_ignores_a_queue_with_foreign_tags() {
        let url = mock!(Client::get_queue_url).then_output(|| GetQueueUrlOutput::builder().queue_url(URL).build());
        let get = mock!(Client::get_queue_attributes).then_output(|| attributes_output(&[]));
        let foreign = Tags::from([("cairn:stack".to_string(), "other".to_string())]);
        let kind_foreign = kind(&[url.clone(), get.clone(), tags_output(&foreign)]);
        assert_eq!(kind_foreign.find_owned(&desired(json!({}))).await.unwrap(), None);

        let kind_ours = kind(&[url, get, tags_output(&owner().tags())]);
        assert_eq!(kind_ours.find_owned(&desired(json!({}))).await.unwrap().unwrap().id, URL);
    }

    #[tokio::test]
    async fn find_owned_when_nothing_exists_is_none() {
        let url = mock!(Client::get_queue_url).then_http_response(no_such_queue);
        assert_eq!(kind(&[url]).find_owned(&desired(json!({}))).await.unwrap(), None);
    }

    #[test]
    fn redrive_rejects_unknown_keys() {
        // The schema's checks, run by `attributes`, refuse what SQS would not read back.
        assert!(attributes(&desired(json!({"redrive": {"dead_letter_queue": DLQ, "max_receive_count": 3, "extra": 1}})), &["redrive"], false).is_err());
        assert!(attributes(&desired(json!({"redrive": {"dead_letter_queue": DLQ}})), &["redrive"], false).is_err());
        assert!(redrive_policy(&json!({"dead_letter_queue": DLQ})).is_err());
    }

    #[tokio::test]
    async fn create_answered_with_someone_elses_identical_queue_is_refused() {
        // Only an explicit name can belong to someone else (the default one is this owner's).
        let create = mock!(Client::create_queue).then_output(|| CreateQueueOutput::builder().queue_url(URL).build());
        let result = kind(&[create, tags_output(&Tags::new())]).create(&desired(json!({"name": "orders", "fifo_queue": true}))).await;
        crate::adopt::testing::assert_refused(result, "SQS queue orders.fifo");
    }

    #[tokio::test]
    async fn read_many_reads_every_queue_and_maps_missing_ones_to_none() {
        let get = mock!(Client::get_queue_attributes)
            .match_requests(|r| r.queue_url() == Some(URL))
            .then_output(|| attributes_output(&[(QueueAttributeName::FifoQueue, "true")]));
        let missing = mock!(Client::get_queue_attributes).match_requests(|r| r.queue_url() != Some(URL)).then_http_response(no_such_queue);
        let kind = kind(&[get, missing, tags_output(&owner().tags())]);
        let ids = [URL.to_string(), DEFAULT_URL.to_string()];
        let out = kind.read_many(&ids).await.unwrap();
        assert_eq!(out[URL].as_ref().unwrap().props["name"], json!("orders.fifo"));
        assert_eq!(out[DEFAULT_URL], None);
    }

    #[tokio::test]
    async fn queue_already_exists_adopts_ours_and_brings_it_to_the_desired_attributes() {
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code("QueueAlreadyExists").message("different attributes").build();
        let create = mock!(Client::create_queue).then_error(move || aws_sdk_sqs::operation::create_queue::CreateQueueError::generic(meta.clone()));
        let url = mock!(Client::get_queue_url).then_output(|| GetQueueUrlOutput::builder().queue_url(URL).build());
        let get = mock!(Client::get_queue_attributes).then_output(|| attributes_output(&[]));
        let set = mock!(Client::set_queue_attributes).then_output(|| aws_sdk_sqs::operation::set_queue_attributes::SetQueueAttributesOutput::builder().build());
        let want = desired(json!({"visibility_timeout_seconds": 60}));
        let adopted = kind(&[create.clone(), url, get, set.clone(), tags_output(&want.tags)]).create(&want).await.unwrap();
        assert_eq!(adopted.id, URL);
        assert_eq!((create.num_calls(), set.num_calls()), (1, 1));
    }
}
