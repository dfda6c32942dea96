//! Replication of a bucket (Terraform's `aws_s3_bucket_replication_configuration`, as the `replication_configuration` prop): PutBucketReplication, GetBucketReplication, DeleteBucketReplication.
//!
//! A rule with a `filter` is AWS's current rule shape (V2), which needs `priority` and
//! `delete_marker_replication`; a rule without one is the older shape (V1), which takes neither,
//! and one configuration cannot mix them. Validate refuses what PutBucketReplication would.

use std::collections::BTreeSet;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination, ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter,
    ReplicationRuleStatus, StorageClass,
};
use cairn_engine::provider::{PropSpec, PropType, Props, ProviderError, TextRule};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{build_error, unless_absent, S3Bucket};
use crate::error::SdkResultExt;

/// A replication configuration holds at most this many rules.
const MAX_RULES: usize = 1000;
const STATUS: &[&str] = &["Enabled", "Disabled"];
/// The storage classes a replica may be written in (Destination.StorageClass).
const DESTINATION_CLASSES: &[&str] =
    &["STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR"];

const RULE_FIELDS: &[PropSpec] = &[
    PropSpec::new("id", PropType::Text(TextRule::len(1, 255)), "The rule's id, unique in the configuration.").required(),
    PropSpec::new("status", PropType::Enum(STATUS), "Whether the rule is applied.").required(),
    PropSpec::new("priority", PropType::IntRange(0, i32::MAX as i64), "Which rule wins when two match an object (higher wins); rules with a filter only."),
    PropSpec::new(
        "filter",
        PropType::Struct(&[PropSpec::new("prefix", PropType::Text(TextRule::len(1, 1024)), "Only objects under this key prefix; omit for all.")]),
        "Which objects the rule replicates (`{}` for all); a rule with a filter also needs priority and delete_marker_replication.",
    ),
    PropSpec::new(
        "destination",
        PropType::Struct(&[
            PropSpec::new("bucket", PropType::Text(TextRule::len(1, 2048)), "The destination bucket's ARN (arn:aws:s3:::name); it must be versioned.")
                .required()
                .rule(bucket_arn),
            PropSpec::new("storage_class", PropType::Enum(DESTINATION_CLASSES), "The storage class of the replicas; unset keeps the source's."),
        ]),
        "Where replicas go.",
    )
    .required(),
    PropSpec::new(
        "delete_marker_replication",
        PropType::Struct(&[PropSpec::new("status", PropType::Enum(STATUS), "Whether delete markers are replicated.").required()]),
        "Whether delete markers are replicated; rules with a filter only.",
    ),
];

/// The fields of `replication_configuration`.
pub(super) const FIELDS: &[PropSpec] = &[
    PropSpec::new("role", PropType::Text(TextRule::len(20, 2048)), "ARN of the IAM role S3 assumes to replicate; it must trust s3.amazonaws.com.")
        .required()
        .rule(role_arn),
    PropSpec::new("rules", PropType::List(&PropType::Struct(RULE_FIELDS)), "The replication rules, 1 to 1000.").required().rule(rules_rule),
];

fn role_arn(v: &Value) -> Vec<String> {
    match v.as_str() {
        Some(s) if !(s.starts_with("arn:") && s.contains(":iam::") && s.contains(":role/")) => {
            vec![format!("must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), found \"{s}\"")]
        }
        _ => vec![],
    }
}

fn bucket_arn(v: &Value) -> Vec<String> {
    match v.as_str() {
        Some(s) if !(s.starts_with("arn:") && s.split_once(":s3:::").is_some_and(|(_, name)| !name.is_empty() && !name.contains('/'))) => {
            vec![format!("must be a bucket ARN (arn:aws:s3:::<name>), not a name: found \"{s}\"")]
        }
        _ => vec![],
    }
}

/// The rules across a configuration's list, as PutBucketReplication enforces them. Values known
/// only at apply are skipped, so that the rest is still checked at validate.
pub(super) fn rules_rule(rules: &Value) -> Vec<String> {
    let Some(rules) = rules.as_array() else { return vec![] };
    let mut out = vec![];
    if rules.is_empty() || rules.len() > MAX_RULES {
        out.push(format!("must hold 1 to {MAX_RULES} rules, found {}", rules.len()));
    }
    let mut ids = BTreeSet::new();
    for id in rules.iter().filter_map(|r| r.get("id")?.as_str()) {
        if !ids.insert(id) {
            out.push(format!("rule id \"{id}\" is used twice; ids must be unique"));
        }
    }
    let filtered = rules.iter().filter(|r| r.get("filter").is_some_and(|f| !f.is_null())).count();
    if filtered > 0 && filtered < rules.len() {
        out.push("either every rule has a filter (with priority and delete_marker_replication) or none has".into());
    }
    let mut priorities = BTreeSet::new();
    for (i, r) in rules.iter().enumerate() {
        let has = |k: &str| r.get(k).is_some_and(|v| !v.is_null());
        if has("filter") {
            for needed in ["priority", "delete_marker_replication"] {
                if !has(needed) {
                    out.push(format!("rules[{i}] has a filter, so it needs {needed}"));
                }
            }
            if let Some(p) = r.get("priority").and_then(Value::as_i64) {
                if !priorities.insert(p) {
                    out.push(format!("rules[{i}]: priority {p} is used twice; rules with a filter need distinct priorities"));
                }
            }
        } else {
            for refused in ["priority", "delete_marker_replication"] {
                if has(refused) {
                    out.push(format!("rules[{i}]: {refused} needs a filter (`filter: {{}}` for every object)"));
                }
            }
        }
    }
    out
}

/// Across props: S3 replicates only from a versioned bucket. Reached also when a destination or
/// role is known only at apply, so the list's own checks run here too in that case (the
/// list's rule is skipped for a value holding one).
pub(super) fn props_rule(props: &Props) -> Vec<String> {
    let Some(config) = props.get("replication_configuration").filter(|c| !c.is_null()) else { return vec![] };
    let mut out = vec![];
    if props.get("versioning") != Some(&Value::Bool(true)) {
        out.push("replication_configuration needs versioning: true (S3 replicates only from a versioned bucket)".into());
    }
    if let Some(rules) = config.get("rules").filter(|r| cairn_engine::expr::contains_unknown(r) && cairn_engine::expr::as_unknown(r).is_none()) {
        out.extend(rules_rule(rules).into_iter().map(|m| format!("replication_configuration.rules {m}")));
    }
    out
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Filter {
    #[serde(default)]
    prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Target {
    bucket: String,
    #[serde(default)]
    storage_class: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusOnly {
    status: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rule {
    id: String,
    status: String,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    filter: Option<Filter>,
    destination: Target,
    #[serde(default)]
    delete_marker_replication: Option<StatusOnly>,
}

/// The `replication_configuration` prop as sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Replication {
    role: String,
    rules: Vec<Rule>,
}

impl Replication {
    /// The PutBucketReplication body.
    pub(super) fn to_sdk(&self) -> Result<ReplicationConfiguration, ProviderError> {
        let rules = self.rules.iter().map(Rule::to_sdk).collect::<Result<Vec<_>, _>>()?;
        ReplicationConfiguration::builder().role(&self.role).set_rules(Some(rules)).build().map_err(build_error)
    }

    /// The stack's shape of a configuration read (or just sent).
    pub(super) fn to_json(config: &ReplicationConfiguration) -> Value {
        json!({ "role": config.role(), "rules": config.rules().iter().map(rule_to_json).collect::<Vec<_>>() })
    }
}

impl Rule {
    fn to_sdk(&self) -> Result<ReplicationRule, ProviderError> {
        let mut destination = Destination::builder().bucket(&self.destination.bucket);
        if let Some(class) = &self.destination.storage_class {
            destination = destination.storage_class(StorageClass::from(class.as_str()));
        }
        let mut rule = ReplicationRule::builder()
            .id(&self.id)
            .status(ReplicationRuleStatus::from(self.status.as_str()))
            .destination(destination.build().map_err(build_error)?);
        match &self.filter {
            // The current shape: an empty prefix is every object.
            Some(f) => {
                rule = rule
                    .filter(ReplicationRuleFilter::builder().prefix(f.prefix.clone().unwrap_or_default()).build())
                    .set_priority(self.priority)
                    .set_delete_marker_replication(
                        self.delete_marker_replication
                            .as_ref()
                            .map(|d| DeleteMarkerReplication::builder().status(DeleteMarkerReplicationStatus::from(d.status.as_str())).build()),
                    );
            }
            // The older shape: a rule-level prefix, required there.
            None => {
                #[allow(deprecated)]
                {
                    rule = rule.prefix("");
                }
            }
        }
        rule.build().map_err(build_error)
    }
}

/// One rule in the stack's shape: priority and delete-marker replication only where a filter
/// makes them meaningful, an empty prefix as no prefix.
fn rule_to_json(rule: &ReplicationRule) -> Value {
    let mut out = json!({ "id": rule.id().unwrap_or_default(), "status": rule.status().as_str() });
    if let Some(filter) = rule.filter() {
        let prefix = filter.prefix().or_else(|| filter.and().and_then(|a| a.prefix())).unwrap_or_default();
        out["filter"] = if prefix.is_empty() { json!({}) } else { json!({ "prefix": prefix }) };
        if let Some(p) = rule.priority() {
            out["priority"] = p.into();
        }
        if let Some(status) = rule.delete_marker_replication().and_then(|d| d.status()) {
            out["delete_marker_replication"] = json!({ "status": status.as_str() });
        }
    }
    if let Some(d) = rule.destination() {
        let mut dest = json!({ "bucket": d.bucket() });
        if let Some(class) = d.storage_class() {
            dest["storage_class"] = class.as_str().into();
        }
        out["destination"] = dest;
    }
    out
}

impl S3Bucket {
    pub(super) async fn replication_of(&self, name: &str) -> Result<Option<Value>, ProviderError> {
        let out =
            unless_absent(self.client.get_bucket_replication().bucket(name).send().await, "GetBucketReplication", "ReplicationConfigurationNotFoundError")?;
        Ok(out.as_ref().and_then(|o| o.replication_configuration()).map(Replication::to_json))
    }

    pub(super) async fn put_replication(&self, name: &str, replication: Option<&Replication>) -> Result<(), ProviderError> {
        match replication {
            Some(r) => {
                let config = r.to_sdk()?;
                self.client.put_bucket_replication().bucket(name).replication_configuration(config).send().await.op("PutBucketReplication")?;
            }
            None => match self.client.delete_bucket_replication().bucket(name).send().await {
                // Already without replication: what was asked.
                Err(e) if e.code() == Some("ReplicationConfigurationNotFoundError") => {}
                other => {
                    other.op("DeleteBucketReplication")?;
                }
            },
        }
        Ok(())
    }
}
