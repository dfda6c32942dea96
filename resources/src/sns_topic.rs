//! `aws.sns.topic`: an SNS topic (standard or FIFO) with its display name, encryption and access policy.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use aws_sdk_sns::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Value};

use aws_sdk_sns::error::ProvideErrorMetadata;

use crate::adopt::{adopt_or, foreign};
use crate::error::{classify, found, gone, SdkResultExt};
use crate::kit::defaults;
use crate::kit::tagging;
use crate::read_each::read_each;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.sns.topic",
    doc: "An SNS topic, standard or FIFO, with optional KMS encryption and topic policy.",
    props: &[
        PropSpec::new("name", PropType::String, "Topic name; defaults to a name derived from stack, env and address. `.fifo` is appended for FIFO topics.")
            .force_new()
            .naming(NAMING),
        PropSpec::new("fifo_topic", PropType::Bool, "Whether the topic is FIFO (ordered, deduplicated).").force_new().default("false"),
        PropSpec::new("display_name", PropType::Text(TextRule::len(0, 100)), "Sender name used for SMS and email subscriptions (at most 100 characters).")
            .default("\"\""),
        PropSpec::new("kms_key", PropType::Text(TextRule::len(1, 2048)), "KMS key id, ARN or alias for server-side encryption; unset means unencrypted."),
        PropSpec::new("policy", PropType::Policy, "Topic access policy; when unset AWS keeps its default owner-only policy."),
    ],
    attrs: &["arn", "name"],
    taggable: true,
    rules: &[],
};

/// Topic names: up to 256 characters (`.fifo` included), letters, digits, `-` and `_`;
/// unique per account and region.
pub const NAMING: Naming = Naming::new(TextRule::len(1, 256).chars("-_"), NameScope::Region).fifo("fifo_topic", ".fifo", true);

crate::kit::client::client_kind!(SnsTopic, Client, sns);

impl SnsTopic {
    async fn current_tags(&self, arn: &str) -> Result<Option<Tags>, ProviderError> {
        let out = found(self.client.list_tags_for_resource().resource_arn(arn).send().await.op("ListTagsForResource"))?;
        Ok(out.map(|o| o.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()))
    }

    async fn set_tags(&self, arn: &str, desired: &Tags) -> Result<(), ProviderError> {
        let current = self.current_tags(arn).await?.unwrap_or_default();
        let set =
            |set: Tags| async move { self.client.tag_resource().resource_arn(arn).set_tags(Some(sns_tags(&set)?)).send().await.map(|_| ()).op("TagResource") };
        let remove = |remove: Vec<String>| async move {
            self.client.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await.map(|_| ()).op("UntagResource")
        };
        tagging::sync(&current, desired, set, remove).await
    }

    async fn set_attribute(&self, arn: &str, name: &str, value: String) -> Result<(), ProviderError> {
        self.client.set_topic_attributes().topic_arn(arn).attribute_name(name).attribute_value(value).send().await.op("SetTopicAttributes")?;
        Ok(())
    }
}

/// The policy AWS gives a new topic, the topic's own account (in its ARN) as the only
/// source owner. SNS cannot remove a topic policy, only replace it: removing `policy` from
/// the stack puts this one back, and a topic created without one reads back with it.
fn default_policy(arn: &str) -> String {
    let owner = arn.split(':').nth(4).unwrap_or_default();
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
                "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"
            ],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": owner}},
        }],
    })
    .to_string()
}

fn sns_tags(tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(format!("tag {k}: {e}")))).collect()
}

/// The topic's name: FIFO topics must end in `.fifo`, so it is added rather than rejected.
pub fn topic_name(desired: &Desired) -> String {
    let name = desired.name();
    if defaults::flag(&SCHEMA, desired, "fifo_topic").unwrap_or_default() && !name.ends_with(".fifo") {
        format!("{name}.fifo")
    } else {
        name
    }
}

/// A string prop (its type checked by the schema before any request is built).
fn string_prop(desired: &Desired, name: &str) -> Option<String> {
    desired.str(name).map(str::to_string)
}

fn document_text(doc: &Value) -> String {
    match doc {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn observed(arn: &str, attrs: &HashMap<String, String>, tags: Tags) -> Observed {
    let get = |name: &str| attrs.get(name).map(String::as_str).filter(|s| !s.is_empty());
    let name = arn.rsplit(':').next().unwrap_or_default().to_string();

    let mut props = Props::new();
    props.insert("name".into(), json!(name));
    props.insert("fifo_topic".into(), json!(get("FifoTopic") == Some("true")));
    props.insert("display_name".into(), json!(get("DisplayName").unwrap_or_default()));
    if let Some(key) = get("KmsMasterKeyId") {
        props.insert("kms_key".into(), json!(key));
    }
    if let Some(text) = get("Policy") {
        props.insert("policy".into(), serde_json::from_str(text).unwrap_or_else(|_| json!(text)));
    }

    let mut out_attrs = Props::new();
    out_attrs.insert("arn".into(), json!(arn));
    out_attrs.insert("name".into(), json!(name));
    Observed { id: arn.to_string(), props, attrs: out_attrs, tags }
}

/// CreateTopic's attributes, after the schema's checks (values known only at apply were not
/// checked at validate).
fn create_attributes(desired: &Desired) -> Result<HashMap<String, String>, ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    let mut attrs = HashMap::new();
    if defaults::flag(&SCHEMA, desired, "fifo_topic")? {
        attrs.insert("FifoTopic".to_string(), "true".to_string());
    }
    // Empty values are AWS's own defaults; sending them would only make CreateTopic's
    // idempotency check stricter than it needs to be.
    if let Some(display) = string_prop(desired, "display_name").filter(|s| !s.is_empty()) {
        attrs.insert("DisplayName".into(), display);
    }
    if let Some(key) = string_prop(desired, "kms_key") {
        attrs.insert("KmsMasterKeyId".into(), key);
    }
    if let Some(policy) = desired.props.get("policy").filter(|v| !v.is_null()) {
        attrs.insert("Policy".into(), document_text(policy));
    }
    Ok(attrs)
}

impl SnsTopic {
    /// The topic called `name` in this region, whoever made it.
    async fn named(&self, name: &str) -> Result<Option<Observed>, ProviderError> {
        let mut pages = self.client.list_topics().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.op("ListTopics")?;
            for arn in page.topics().iter().filter_map(|t| t.topic_arn()) {
                if arn.rsplit(':').next() == Some(name) {
                    return self.read(arn).await;
                }
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl ResourceKind for SnsTopic {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let out = found(self.client.get_topic_attributes().topic_arn(id).send().await.op("GetTopicAttributes"))?;
        let Some(out) = out else { return Ok(None) };
        let Some(tags) = self.current_tags(id).await? else {
            return Ok(None);
        };
        Ok(Some(observed(id, out.attributes().unwrap_or(&HashMap::new()), tags)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let attrs = create_attributes(desired)?;
        let tags = (!desired.tags.is_empty()).then(|| sns_tags(&desired.tags)).transpose()?;
        let name = topic_name(desired);
        let what = format!("SNS topic {name}");
        let out = self.client.create_topic().name(&name).set_attributes((!attrs.is_empty()).then(|| attrs.clone())).set_tags(tags).send().await;
        let out = match out {
            // "Topic already exists with different attributes/tags": ours since changed, or someone else's.
            Err(e) if e.code() == Some("InvalidParameter") && e.message().is_some_and(|m| m.contains("already exists")) => {
                let existing = self.named(&name).await?;
                return adopt_or(self, desired, &what, existing, classify("CreateTopic", e)).await;
            }
            other => other.op("CreateTopic")?,
        };
        let arn = out.topic_arn().ok_or_else(|| ProviderError::Fatal("CreateTopic: no topic ARN in the response".into()))?;
        // CreateTopic answers with an existing topic of the same name and attributes as if it
        // had made it. AWS refuses one whose tags differ ("already exists with different
        // tags", adopted or refused above), but emulators do not, so the tags are still
        // checked where a foreign topic could answer: not for a derived name, which is this
        // owner's by construction (`Desired::has_derived_name`).
        let tags = if desired.has_derived_name(&desired.name()) {
            desired.tags.clone()
        } else {
            let tags = self.current_tags(arn).await?.ok_or_else(|| ProviderError::Retryable(format!("CreateTopic: {arn} is not readable yet")))?;
            if !desired.owner.matches(&tags) {
                return Err(foreign(SCHEMA.kind, &format!("{what} ({arn})"), desired, &tags));
            }
            tags
        };
        // The topic holds what was sent (CreateTopic refuses an existing topic whose
        // attributes differ); without a policy AWS gives it its default one.
        let mut sent = attrs;
        if !sent.contains_key("Policy") {
            sent.insert("Policy".into(), default_policy(arn));
        }
        Ok(observed(arn, &sent, tags))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        read_each(ids, || SnsTopic::from_client(self.client.clone())).await
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        for prop in changed {
            match prop.as_str() {
                "display_name" => {
                    let display = string_prop(desired, "display_name").unwrap_or_default();
                    self.set_attribute(id, "DisplayName", display).await?;
                }
                // An empty key id turns server-side encryption off.
                "kms_key" => self.set_attribute(id, "KmsMasterKeyId", string_prop(desired, "kms_key").unwrap_or_default()).await?,
                "policy" => {
                    let policy = match desired.props.get("policy").filter(|v| !v.is_null()) {
                        Some(policy) => document_text(policy),
                        None => default_policy(id),
                    };
                    self.set_attribute(id, "Policy", policy).await?;
                }
                "tags" => self.set_tags(id, &desired.tags).await?,
                _ => {}
            }
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.delete_topic().topic_arn(id).send().await.map(|_| ()).op("DeleteTopic"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        Ok(self.named(&topic_name(desired)).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["sns:GetTopicAttributes", "sns:ListTagsForResource"],
            // TagResource: SNS authorises tags given to CreateTopic as a separate action.
            // ListTopics: crash recovery looks the topic up by name before creating.
            Operation::Create => &["sns:ListTopics", "sns:CreateTopic", "sns:TagResource", "sns:GetTopicAttributes", "sns:ListTagsForResource"],
            Operation::Update => &["sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource", "sns:GetTopicAttributes", "sns:ListTagsForResource"],
            Operation::Delete => &["sns:DeleteTopic"],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_sns::operation::create_topic::{CreateTopicInput, CreateTopicOutput};
    use aws_sdk_sns::operation::delete_topic::DeleteTopicOutput;
    use aws_sdk_sns::operation::get_topic_attributes::GetTopicAttributesOutput;
    use aws_sdk_sns::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_sns::operation::list_topics::ListTopicsOutput;
    use aws_sdk_sns::operation::set_topic_attributes::{SetTopicAttributesInput, SetTopicAttributesOutput};
    use aws_sdk_sns::types::Topic;
    use aws_smithy_mocks::{mock, Rule};
    use cairn_engine::provider::Owner;

    use super::*;
    use crate::kit::mock_cases::query_error;

    const ARN: &str = "arn:aws:sns:us-east-1:123456789012:events";

    fn kind(rules: &[Rule]) -> SnsTopic {
        SnsTopic::from_client(crate::mocked_client!(aws_sdk_sns, rules))
    }

    fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: "topic.events".into() }
    }

    fn desired(props: Value) -> Desired {
        Desired {
            props: props.as_object().unwrap().clone(),
            tags: owner().tags(),
            owner: owner(),
            default_name: "shop-dev-events".into(),
            idempotency_token: "token".into(),
        }
    }

    fn attributes_rule(extra: &[(&str, &str)]) -> Rule {
        let extra: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        mock!(Client::get_topic_attributes).then_output(move || {
            let mut b = GetTopicAttributesOutput::builder()
                .attributes("TopicArn", ARN)
                .attributes("Owner", "123456789012")
                .attributes("DisplayName", "")
                .attributes("SubscriptionsConfirmed", "0");
            for (k, v) in &extra {
                b = b.attributes(k, v);
            }
            b.build()
        })
    }

    fn tags_rule(tags: Tags) -> Rule {
        mock!(Client::list_tags_for_resource).then_output(move || ListTagsForResourceOutput::builder().set_tags(Some(sns_tags(&tags).unwrap())).build())
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        for props in [
            json!({"display_name": "x".repeat(101)}),
            json!({"display_name": 7}),
            json!({"kms_key": ""}),
            json!({"kms_key": true}),
            json!({"fifo_topic": "yes"}),
            json!({"policy": 3}),
            json!({"delivery_policy": {}}),
        ] {
            let d = desired(props.clone());
            assert!(create_attributes(&d).is_err(), "builder accepts {props}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes CreateTopic attributes, and a name SNS accepts.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            let d = desired(Value::Object(props));
            let attrs = create_attributes(&d);
            proptest::prop_assert!(attrs.is_ok(), "{:?}", attrs.err());
            let name = topic_name(&d);
            proptest::prop_assert!(NAMING.rule.violation(name.trim_end_matches(".fifo")).is_none(), "{name}");
            proptest::prop_assert_eq!(name.ends_with(".fifo"), d.bool("fifo_topic") == Some(true));
        }
    }

    /// Validate catches topic names SNS would refuse, at the name, before any apply.
    #[test]
    fn validate_refuses_bad_topic_names() {
        use cairn_engine::compile::{compile_source, CompileOptions};
        use cairn_engine::source::SourceFile;
        let text = format!(
            "stack: shop\nresources:\n  a:\n    type: aws.sns.topic\n    props: {{ name: events.fifo }}\n  b:\n    type: aws.sns.topic\n    props: {{ name: \"{}\", fifo_topic: true }}\n  c:\n    type: aws.sns.topic\n    props: {{ name: \"order events\" }}\n",
            "t".repeat(252)
        );
        let file = SourceFile::new("stack.yaml", text);
        let rendered = match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas) {
            Ok(_) => panic!("validate accepted bad topic names"),
            Err(d) => d.render(&file),
        };
        assert!(rendered.contains("`a` (aws.sns.topic): `name` \"events.fifo\" ends in `.fifo`, which only a FIFO resource may"), "{rendered}");
        assert!(rendered.contains("must be 1 to 251 characters long, not 252 (before `.fifo`)"), "{rendered}");
        assert!(rendered.contains("may not contain ' '"), "{rendered}");
        assert!(rendered.contains("stack.yaml:5:"), "{rendered}");
    }

    #[test]
    fn fifo_names_get_the_suffix_once() {
        assert_eq!(topic_name(&desired(json!({"name": "events", "fifo_topic": true}))), "events.fifo");
        assert_eq!(topic_name(&desired(json!({"name": "events.fifo", "fifo_topic": true}))), "events.fifo");
        assert_eq!(topic_name(&desired(json!({"fifo_topic": false}))), "shop-dev-events");
    }

    #[tokio::test]
    async fn create_sends_tags_and_attributes() {
        let seen: Arc<Mutex<Vec<CreateTopicInput>>> = Arc::default();
        let sink = seen.clone();
        let create = mock!(Client::create_topic).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateTopicOutput::builder().topic_arn(ARN).build()
        });
        let want = desired(json!({
            "name": "events",
            "fifo_topic": true,
            "display_name": "",
            "kms_key": "alias/aws/sns",
            "policy": {"Version": "2012-10-17", "Statement": []},
        }));
        let kind = kind(&[create, attributes_rule(&[("KmsMasterKeyId", "alias/aws/sns")]), tags_rule(want.tags.clone())]);
        let obs = kind.create(&want).await.unwrap();

        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!(input.name(), Some("events.fifo"));
        let sent: Tags = input.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        assert_eq!(sent, want.tags);
        let attrs = input.attributes().unwrap();
        assert_eq!(attrs["FifoTopic"], "true");
        assert_eq!(attrs["KmsMasterKeyId"], "alias/aws/sns");
        assert!(!attrs.contains_key("DisplayName"));
        assert_eq!(serde_json::from_str::<Value>(&attrs["Policy"]).unwrap(), json!({"Version": "2012-10-17", "Statement": []}));
        assert_eq!(obs.id, ARN);
        assert_eq!(obs.tags, want.tags);
    }

    /// A topic with cairn's default name is this owner's by construction: CreateTopic is the
    /// only call, and what it returns is what a later read reports, AWS's default policy included.
    #[tokio::test]
    async fn create_with_the_default_name_makes_no_read_and_returns_what_read_reports() {
        let create = mock!(Client::create_topic).then_output(|| CreateTopicOutput::builder().topic_arn(ARN).build());
        let get = attributes_rule(&[("DisplayName", "Events"), ("Policy", &default_policy(ARN)), ("EffectiveDeliveryPolicy", "{}")]);
        let tags = tags_rule(owner().tags());
        let kind = kind(&[create.clone(), get.clone(), tags.clone()]);
        let created = kind.create(&desired(json!({"display_name": "Events"}))).await.unwrap();
        assert_eq!((create.num_calls(), get.num_calls(), tags.num_calls()), (1, 0, 0), "create makes no read");
        assert_eq!(created.props["policy"]["Statement"][0]["Condition"], json!({"StringEquals": {"AWS:SourceOwner": "123456789012"}}));
        assert_eq!(created, kind.read(ARN).await.unwrap().unwrap());
    }

    #[tokio::test]
    async fn read_many_reads_every_topic_and_maps_missing_ones_to_none() {
        let gone_arn = "arn:aws:sns:us-east-1:123456789012:gone";
        let get = attributes_rule(&[]);
        let missing =
            mock!(Client::get_topic_attributes).match_requests(move |r| r.topic_arn() == Some(gone_arn)).then_http_response(query_error(404, "NotFound"));
        let kind = kind(&[missing, get, tags_rule(owner().tags())]);
        let out = kind.read_many(&[ARN.to_string(), gone_arn.to_string()]).await.unwrap();
        assert_eq!(out[ARN].as_ref().unwrap().id, ARN);
        assert_eq!(out[gone_arn], None);
    }

    #[tokio::test]
    async fn read_reports_every_prop() {
        let policy = r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow"}]}"#;
        let kind = kind(&[attributes_rule(&[("Policy", policy), ("DisplayName", "Events")]), tags_rule(owner().tags())]);
        let obs = kind.read(ARN).await.unwrap().unwrap();
        assert_eq!(
            Value::Object(obs.props),
            json!({
                "name": "events",
                "fifo_topic": false,
                "display_name": "Events",
                "policy": {"Version": "2008-10-17", "Statement": [{"Effect": "Allow"}]},
            })
        );
        assert_eq!(obs.attrs["arn"], json!(ARN));
    }

    #[tokio::test]
    async fn read_of_missing_topic_is_none() {
        let get = mock!(Client::get_topic_attributes).then_http_response(query_error(404, "NotFound"));
        assert_eq!(kind(&[get]).read(ARN).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_of_missing_topic_is_ok() {
        let del = mock!(Client::delete_topic).then_http_response(query_error(404, "NotFound"));
        kind(&[del]).delete(ARN).await.unwrap();
        let del = mock!(Client::delete_topic).then_output(|| DeleteTopicOutput::builder().build());
        kind(&[del]).delete(ARN).await.unwrap();
    }

    #[tokio::test]
    async fn update_clears_kms_and_sets_display_name() {
        let seen: Arc<Mutex<Vec<SetTopicAttributesInput>>> = Arc::default();
        let sink = seen.clone();
        let set = mock!(Client::set_topic_attributes).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            SetTopicAttributesOutput::builder().build()
        });
        let kind = kind(&[set, attributes_rule(&[]), tags_rule(owner().tags())]);
        let want = desired(json!({"display_name": "Orders"}));
        kind.update(ARN, &want, &["display_name".into(), "kms_key".into()]).await.unwrap();
        let sent: Vec<(String, String)> =
            seen.lock().unwrap().iter().map(|i| (i.attribute_name().unwrap().to_string(), i.attribute_value().unwrap_or_default().to_string())).collect();
        assert_eq!(sent, [("DisplayName".to_string(), "Orders".to_string()), ("KmsMasterKeyId".to_string(), String::new())]);
    }

    #[tokio::test]
    async fn find_owned_matches_the_name_and_the_owner() {
        let list = mock!(Client::list_topics).then_output(|| {
            ListTopicsOutput::builder()
                .topics(Topic::builder().topic_arn("arn:aws:sns:us-east-1:123456789012:events-old").build())
                .topics(Topic::builder().topic_arn(ARN).build())
                .build()
        });
        let kind_ours = kind(&[list.clone(), attributes_rule(&[]), tags_rule(owner().tags())]);
        let found = kind_ours.find_owned(&desired(json!({"name": "events"}))).await.unwrap();
        assert_eq!(found.unwrap().id, ARN);

        let kind_foreign = kind(&[list, attributes_rule(&[]), tags_rule(Tags::new())]);
        assert_eq!(kind_foreign.find_owned(&desired(json!({"name": "events"}))).await.unwrap(), None);
    }

    #[tokio::test]
    async fn create_answered_with_someone_elses_identical_topic_is_refused() {
        let create = mock!(Client::create_topic).then_output(|| CreateTopicOutput::builder().topic_arn(ARN).build());
        let result = kind(&[create, attributes_rule(&[]), tags_rule(Tags::new())]).create(&desired(json!({"name": "events"}))).await;
        crate::adopt::testing::assert_refused(result, "SNS topic events");
    }

    #[tokio::test]
    async fn topic_already_exists_with_other_tags_is_adopted_when_ours() {
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code("InvalidParameter")
            .message("Invalid parameter: Tags Reason: Topic already exists with different tags")
            .build();
        let create = mock!(Client::create_topic).then_error(move || aws_sdk_sns::operation::create_topic::CreateTopicError::generic(meta.clone()));
        let list = mock!(Client::list_topics).then_output(|| ListTopicsOutput::builder().topics(Topic::builder().topic_arn(ARN).build()).build());
        let want = desired(json!({"name": "events"}));
        let adopted = kind(&[create.clone(), list.clone(), attributes_rule(&[]), tags_rule(want.tags.clone())]).create(&want).await;
        assert_eq!(adopted.unwrap().id, ARN);
        let theirs = kind(&[create, list, attributes_rule(&[]), tags_rule(Tags::new())]).create(&want).await;
        crate::adopt::testing::assert_refused(theirs, "SNS topic events");
    }
}
