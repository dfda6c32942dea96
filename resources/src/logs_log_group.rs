//! `aws.logs.log_group`: a CloudWatch Logs log group with its retention, KMS key and class.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::{LogGroup, LogGroupClass};
use aws_sdk_cloudwatchlogs::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::{adopt_or, wanted};
use crate::error::{classify, found, gone, SdkResultExt};
use crate::kit::{defaults, tagging};

/// The retention periods PutRetentionPolicy accepts, in days; `0` is cairn's "never expire".
pub const RETENTION_DAYS: &[i64] = &[0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.logs.log_group",
    doc: "A CloudWatch Logs log group with its retention period, optional KMS encryption and log class.",
    props: &[
        PropSpec::new("name", PropType::String, "Log group name; defaults to a name derived from stack, env and address.").force_new().naming(NAMING),
        PropSpec::new(
            "retention_in_days",
            PropType::IntRange(0, 3653),
            "Days to keep log events: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653; 0 keeps them forever.",
        )
        .default("0")
        .rule(retention_rule),
        PropSpec::new(
            "kms_key_id",
            PropType::Text(TextRule::len(1, 256)),
            "ARN of the KMS key that encrypts the log data; unset uses CloudWatch Logs' own encryption. The key policy must let logs.<region>.amazonaws.com use it.",
        ),
        PropSpec::new("log_group_class", PropType::Enum(&["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"]), "Log class; cannot change after creation.")
            .force_new()
            .default("\"STANDARD\""),
    ],
    attrs: &["arn", "name"],
    taggable: true,
    rules: &[],
};

/// Log group names: 1 to 512 characters, letters, digits and `._-/#`; unique per region.
pub const NAMING: Naming = Naming::new(TextRule::len(1, 512).chars("._-/#"), NameScope::Region);

fn retention_rule(v: &Value) -> Vec<String> {
    match v.as_i64() {
        Some(days) if !RETENTION_DAYS.contains(&days) => {
            vec![format!("{days} is not a retention CloudWatch Logs offers; use 0 (never expire) or one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653")]
        }
        _ => vec![],
    }
}

/// What CreateLogGroup and PutRetentionPolicy send, after the schema's checks (values known
/// only at apply were not checked at validate).
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    name: String,
    retention: i64,
    kms_key_id: Option<String>,
    class: String,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let text = |p: &str| wanted(&SCHEMA, desired, p).and_then(|v| v.as_str().map(str::to_string));
        Ok(Spec {
            name: desired.name(),
            retention: defaults::int(&SCHEMA, desired, "retention_in_days")?,
            kms_key_id: text("kms_key_id"),
            class: defaults::text(&SCHEMA, desired, "log_group_class")?,
        })
    }

    fn props(&self) -> Props {
        let mut props = Props::new();
        props.insert("name".into(), json!(self.name));
        props.insert("retention_in_days".into(), json!(self.retention));
        if let Some(key) = &self.kms_key_id {
            props.insert("kms_key_id".into(), json!(key));
        }
        props.insert("log_group_class".into(), json!(self.class));
        props
    }
}

/// A log group's ARN without the `:*` that DescribeLogGroups' `arn` field carries.
fn group_arn(group: &LogGroup) -> String {
    group.log_group_arn().map(str::to_string).or_else(|| group.arn().map(|a| a.trim_end_matches(":*").to_string())).unwrap_or_default()
}

fn observed(name: &str, arn: &str, props: Props, tags: Tags) -> Observed {
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("name".into(), json!(name));
    Observed { id: name.to_string(), props, attrs, tags }
}

/// A described log group in the stack's prop shapes. An absent class is STANDARD (emulators
/// that predate classes report none).
fn from_aws(group: &LogGroup, tags: Tags) -> Observed {
    let name = group.log_group_name().unwrap_or_default();
    let spec = Spec {
        name: name.to_string(),
        retention: group.retention_in_days().map(i64::from).unwrap_or_else(|| defaults::default_int(&SCHEMA, "retention_in_days")),
        kms_key_id: group.kms_key_id().filter(|k| !k.is_empty()).map(str::to_string),
        class: group.log_group_class().map(|c| c.as_str().to_string()).unwrap_or_else(|| defaults::default_text(&SCHEMA, "log_group_class")),
    };
    observed(name, &group_arn(group), spec.props(), tags)
}

/// The longest prefix every name shares, so one paginated DescribeLogGroups covers them all.
fn common_prefix(names: &[String]) -> String {
    let Some(first) = names.first() else { return String::new() };
    let mut len = first.len();
    for n in &names[1..] {
        len = first.bytes().zip(n.bytes()).take(len).take_while(|(a, b)| a == b).count();
    }
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    first[..len].to_string()
}

crate::kit::client::client_kind!(LogsLogGroup, Client, logs);

impl LogsLogGroup {
    /// The log groups whose names start with `prefix` and are in `wanted`, every page read
    /// (names come back in order, so an exact name is on the first page its prefix has).
    async fn describe(&self, prefix: &str, wanted: &[String]) -> Result<BTreeMap<String, LogGroup>, ProviderError> {
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.client.describe_log_groups().log_group_name_prefix(prefix).set_next_token(token.take()).send().await.op("DescribeLogGroups")?;
            for g in page.log_groups() {
                if let Some(name) = g.log_group_name().filter(|n| wanted.iter().any(|w| w == n)) {
                    out.insert(name.to_string(), g.clone());
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() && out.len() < wanted.len() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    async fn tags(&self, arn: &str) -> Result<Option<Tags>, ProviderError> {
        let out = found(self.client.list_tags_for_resource().resource_arn(arn).send().await.op("ListTagsForResource"))?;
        Ok(out.map(|o| o.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()))
    }

    async fn with_tags(&self, group: &LogGroup) -> Result<Option<Observed>, ProviderError> {
        Ok(self.tags(&group_arn(group)).await?.map(|tags| from_aws(group, tags)))
    }

    async fn set_tags(&self, arn: &str, current: &Tags, desired: &Tags) -> Result<(), ProviderError> {
        let set = |set: Tags| async move {
            self.client.tag_resource().resource_arn(arn).set_tags(Some(set.into_iter().collect())).send().await.map(|_| ()).op("TagResource")
        };
        let remove = |remove: Vec<String>| async move {
            self.client.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await.map(|_| ()).op("UntagResource")
        };
        tagging::sync(current, desired, set, remove).await
    }

    async fn set_retention(&self, name: &str, days: i64) -> Result<(), ProviderError> {
        if days == 0 {
            // Never expire is the absence of a policy; removing an absent one is no change.
            return gone(self.client.delete_retention_policy().log_group_name(name).send().await.map(|_| ()).op("DeleteRetentionPolicy"));
        }
        let days = i32::try_from(days).map_err(|_| ProviderError::Invalid(format!("{}: retention_in_days {days} is out of range", SCHEMA.kind)))?;
        self.client.put_retention_policy().log_group_name(name).retention_in_days(days).send().await.op("PutRetentionPolicy")?;
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for LogsLogGroup {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read_many(&[id.to_string()]).await?.remove(id).flatten())
    }

    /// One paginated DescribeLogGroups over the names' common prefix, then the tags of each
    /// group found (DescribeLogGroups does not return tags).
    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        let mut out: BTreeMap<String, Option<Observed>> = ids.iter().map(|id| (id.clone(), None)).collect();
        if ids.is_empty() {
            return Ok(out);
        }
        let prefix = common_prefix(ids);
        let groups = if prefix.is_empty() && ids.len() > 1 {
            // Nothing shared: describing the whole account would cost more than one call each.
            let mut all = BTreeMap::new();
            for id in ids {
                all.extend(self.describe(id, std::slice::from_ref(id)).await?);
            }
            all
        } else {
            self.describe(&prefix, ids).await?
        };
        for (name, group) in groups {
            out.insert(name, self.with_tags(&group).await?);
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let what = format!("log group {}", spec.name);
        let tags = (!desired.tags.is_empty()).then(|| desired.tags.clone().into_iter().collect::<HashMap<_, _>>());
        let sent = self
            .client
            .create_log_group()
            .log_group_name(&spec.name)
            .set_kms_key_id(spec.kms_key_id.clone())
            .log_group_class(LogGroupClass::from(spec.class.as_str()))
            .set_tags(tags)
            .send()
            .await;
        match sent {
            // Made by an attempt whose answer was lost (ours), or someone else's.
            Err(e) if e.code() == Some("ResourceAlreadyExistsException") => {
                let existing = self.read(&spec.name).await?;
                return adopt_or(self, desired, &what, existing, classify("CreateLogGroup", e)).await;
            }
            other => other.op("CreateLogGroup")?,
        };
        if spec.retention != 0 {
            self.set_retention(&spec.name, spec.retention).await?;
        }
        // CreateLogGroup answers nothing: the ARN (which holds the account) needs one describe.
        let group = self.describe(&spec.name, std::slice::from_ref(&spec.name)).await?.remove(&spec.name);
        let group = group.ok_or_else(|| ProviderError::Retryable(format!("CreateLogGroup: {} is not listed yet", spec.name)))?;
        Ok(observed(&spec.name, &group_arn(&group), spec.props(), desired.tags.clone()))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        let mut current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{}: log group {id} is gone", SCHEMA.kind)))?;
        let arn = current.attrs.get("arn").and_then(Value::as_str).unwrap_or_default().to_string();
        for prop in changed {
            match prop.as_str() {
                "retention_in_days" => {
                    let days = defaults::int(&SCHEMA, desired, prop)?;
                    self.set_retention(id, days).await?;
                    current.props.insert(prop.clone(), json!(days));
                }
                "kms_key_id" => match desired.str("kms_key_id") {
                    Some(key) => {
                        self.client.associate_kms_key().log_group_name(id).kms_key_id(key).send().await.op("AssociateKmsKey")?;
                        current.props.insert(prop.clone(), json!(key));
                    }
                    None => {
                        self.client.disassociate_kms_key().log_group_name(id).send().await.op("DisassociateKmsKey")?;
                        current.props.remove(prop);
                    }
                },
                "tags" => {
                    self.set_tags(&arn, &current.tags, &desired.tags).await?;
                    current.tags = desired.tags.clone();
                }
                _ => {}
            }
        }
        Ok(current)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.delete_log_group().log_group_name(id).send().await.map(|_| ()).op("DeleteLogGroup"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read(&desired.name()).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["logs:DescribeLogGroups", "logs:ListTagsForResource"],
            // TagResource: tags given to CreateLogGroup are authorised as TagResource too.
            // The update actions: a create that finds its own group brings it to the stack.
            Operation::Create => &[
                "logs:CreateLogGroup",
                "logs:TagResource",
                "logs:UntagResource",
                "logs:PutRetentionPolicy",
                "logs:DeleteRetentionPolicy",
                "logs:AssociateKmsKey",
                "logs:DisassociateKmsKey",
                "logs:DescribeLogGroups",
                "logs:ListTagsForResource",
            ],
            Operation::Update => &[
                "logs:PutRetentionPolicy",
                "logs:DeleteRetentionPolicy",
                "logs:AssociateKmsKey",
                "logs:DisassociateKmsKey",
                "logs:TagResource",
                "logs:UntagResource",
                "logs:DescribeLogGroups",
                "logs:ListTagsForResource",
            ],
            Operation::Delete => &["logs:DeleteLogGroup"],
        }
    }
}

#[cfg(test)]
#[path = "logs_log_group_tests.rs"]
mod tests;
