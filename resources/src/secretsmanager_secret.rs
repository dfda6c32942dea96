//! `aws.secretsmanager.secret`: a Secrets Manager secret whose value comes from an environment variable or a file and is held by cairn only as a keyed hash.

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::{RotationRulesType, Tag};
use aws_sdk_secretsmanager::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use cairn_engine::sensitive::{self, HMAC_PROP, HMAC_TAG, SOURCE_PROP};
use serde_json::{json, Value};

use crate::adopt::{adopt, adopt_or};
use crate::error::{classify, found, gone, SdkResultExt};
use crate::kit::{defaults, tagging};

/// Where the recovery window lives: `delete(id)` needs nothing but the id.
const WINDOW_TAG: &str = "cairn:recovery-window";
/// The recovery window a secret without the tag gets: the schema's default.
fn default_window() -> i64 {
    defaults::default_int(&SCHEMA, "recovery_window_in_days")
}

/// `value_from`, shared with `aws.ssm.parameter`: one of an environment variable and a file.
pub const VALUE_FROM: PropSpec = PropSpec::new(
    SOURCE_PROP,
    PropType::Struct(&[
        PropSpec::new("env", PropType::Text(TextRule::len(1, 255).chars("_")), "Environment variable holding the value."),
        PropSpec::new("file", PropType::Text(TextRule::len(1, 4096)), "File holding the value (relative to the stack file's directory); read as is."),
    ]),
    "Where the value comes from: `{ env: NAME }` or `{ file: PATH }`. The value never enters plans or state; only `value_hmac` does.",
)
.local()
.rule(one_source);

/// The hash cairn keeps instead of the value.
pub const VALUE_HMAC: PropSpec = PropSpec::new(
    HMAC_PROP,
    PropType::Text(TextRule::len(1, 128)),
    "Computed by cairn from `value_from`: HMAC-SHA256 of the value keyed by stack, env and address. Never set it.",
);

fn one_source(v: &Value) -> Vec<String> {
    match sensitive::Source::parse(v) {
        Ok(_) => vec![],
        Err(msg) => vec![msg],
    }
}

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.secretsmanager.secret",
    doc: "A Secrets Manager secret; its value comes from `value_from` and only a keyed hash of it is stored.",
    props: &[
        PropSpec::new("name", PropType::String, "Secret name; defaults to a name derived from stack, env and address.").force_new().naming(NAMING),
        PropSpec::new("description", PropType::Text(TextRule::len(0, 2048)), "Description.").default("\"\""),
        PropSpec::new(
            "kms_key_id",
            PropType::Text(TextRule::len(1, 2048)),
            "KMS key (id, ARN or alias) encrypting the value; unset means `aws/secretsmanager`.",
        ),
        PropSpec::new(
            "recovery_window_in_days",
            PropType::IntRange(0, 30),
            "Days (7 to 30, or 0 for at once) between destroying the secret and its deletion; kept in the `cairn:recovery-window` tag.",
        )
        .default("30"),
        PropSpec::new(
            "rotation",
            PropType::Struct(&[
                PropSpec::new("rotation_lambda_arn", PropType::Text(TextRule::len(1, 2048)), "The rotation function's ARN.").required(),
                PropSpec::new(
                    "rotation_rules",
                    PropType::Struct(&[
                        PropSpec::new("automatically_after_days", PropType::IntRange(1, 1000), "Days between rotations."),
                        PropSpec::new("schedule_expression", PropType::Text(TextRule::len(1, 256)), "`rate(...)` or `cron(...)` schedule."),
                        PropSpec::new("duration", PropType::Text(TextRule::len(2, 3)), "Rotation window, e.g. `3h`."),
                    ]),
                    "When to rotate: `automatically_after_days` or `schedule_expression`.",
                )
                .required()
                .rule(one_schedule),
            ]),
            "Rotation by a Lambda function; removing it turns rotation off.",
        ),
        PropSpec::new("policy", PropType::Policy, "Resource policy; unset means none."),
        VALUE_FROM,
        VALUE_HMAC,
    ],
    attrs: &["arn", "name"],
    taggable: true,
    rules: &[PropsRule { props: &["recovery_window_in_days"], check: window_rule }],
};

/// Secret names: 1 to 512 letters, digits and `/_+=.@-`, unique per account and region.
pub const NAMING: Naming = Naming::new(TextRule::len(1, 512).chars("/_+=.@-"), NameScope::Region);

fn one_schedule(v: &Value) -> Vec<String> {
    match (v.get("automatically_after_days").is_some(), v.get("schedule_expression").is_some()) {
        (true, false) | (false, true) => vec![],
        _ => vec!["`rotation_rules` takes one of `automatically_after_days` and `schedule_expression`".into()],
    }
}

fn window_rule(props: &Props) -> Vec<String> {
    match props.get("recovery_window_in_days").and_then(Value::as_i64) {
        Some(1..=6) => vec!["`recovery_window_in_days` must be 0 (delete at once) or 7 to 30".into()],
        _ => vec![],
    }
}

fn is_internal(key: &str) -> bool {
    key == HMAC_TAG || key == WINDOW_TAG
}

fn sm_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn window(desired: &Desired) -> i64 {
    defaults::int(&SCHEMA, desired, "recovery_window_in_days").unwrap_or_else(|_| default_window())
}

/// The tags the secret carries: the stack's, the recovery window and the value's hash.
fn full_tags(desired: &Desired) -> Tags {
    let mut tags = desired.tags.clone();
    tags.insert(WINDOW_TAG.into(), window(desired).to_string());
    if let Some(h) = desired.str(HMAC_PROP) {
        tags.insert(HMAC_TAG.into(), h.to_string());
    }
    tags
}

/// The value to send, after the schema's checks; its errors never contain it.
fn value_of(desired: &Desired) -> Result<Option<sensitive::SecretValue>, ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    sensitive::resolve(&desired.props, &desired.owner).map_err(|m| ProviderError::Invalid(format!("{} `{}`: {m}", SCHEMA.kind, desired.owner.address)))
}

/// CreateSecret's token (32 to 64 characters): the same for a retry of the same create.
fn request_token(desired: &Desired) -> String {
    let mut t = crate::adopt::token(&[&desired.idempotency_token, "secret"], 64);
    while t.len() < 32 {
        t.push('0');
    }
    t
}

fn rotation_rules(rot: &Value) -> RotationRulesType {
    let rules = rot.get("rotation_rules").cloned().unwrap_or(Value::Null);
    RotationRulesType::builder()
        .set_automatically_after_days(rules.get("automatically_after_days").and_then(Value::as_i64))
        .set_schedule_expression(rules.get("schedule_expression").and_then(Value::as_str).map(str::to_string))
        .set_duration(rules.get("duration").and_then(Value::as_str).map(str::to_string))
        .build()
}

fn observed(out: &DescribeSecretOutput, policy: Option<Value>) -> Observed {
    let mut tags: Tags = out.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect();
    let window = tags.get(WINDOW_TAG).and_then(|w| w.parse::<i64>().ok()).unwrap_or_else(default_window);
    let hmac = tags.get(HMAC_TAG).cloned();
    tags.retain(|k, _| !is_internal(k));
    let arn = out.arn().unwrap_or_default().to_string();
    let name = out.name().unwrap_or_default().to_string();
    let mut props = Props::new();
    props.insert("name".into(), json!(name));
    props.insert("description".into(), json!(out.description().unwrap_or_default()));
    if let Some(k) = out.kms_key_id() {
        props.insert("kms_key_id".into(), json!(k));
    }
    props.insert("recovery_window_in_days".into(), json!(window));
    if out.rotation_enabled() == Some(true) {
        let mut rules = serde_json::Map::new();
        if let Some(r) = out.rotation_rules() {
            if let Some(d) = r.automatically_after_days() {
                rules.insert("automatically_after_days".into(), json!(d));
            }
            if let Some(s) = r.schedule_expression() {
                rules.insert("schedule_expression".into(), json!(s));
            }
            if let Some(d) = r.duration() {
                rules.insert("duration".into(), json!(d));
            }
        }
        props.insert("rotation".into(), json!({"rotation_lambda_arn": out.rotation_lambda_arn().unwrap_or_default(), "rotation_rules": rules}));
    }
    if let Some(p) = policy {
        props.insert("policy".into(), p);
    }
    if let Some(h) = hmac {
        props.insert(HMAC_PROP.into(), json!(h));
    }
    Observed { id: arn.clone(), props, attrs: [("arn".to_string(), json!(arn)), ("name".to_string(), json!(name))].into_iter().collect(), tags }
}

crate::kit::client::client_kind!(SecretsManagerSecret, Client, secretsmanager);

impl SecretsManagerSecret {
    /// The secret `id` (ARN or name) as AWS describes it, scheduled deletions included.
    async fn describe(&self, id: &str) -> Result<Option<DescribeSecretOutput>, ProviderError> {
        found(self.client.describe_secret().secret_id(id).send().await.op("DescribeSecret"))
    }

    async fn policy(&self, id: &str) -> Result<Option<Value>, ProviderError> {
        let out = self.client.get_resource_policy().secret_id(id).send().await.op("GetResourcePolicy")?;
        Ok(out.resource_policy().map(|p| serde_json::from_str(p).unwrap_or_else(|_| json!(p))))
    }

    async fn set_tags(&self, id: &str, desired: &Desired) -> Result<(), ProviderError> {
        let current: Tags = match self.describe(id).await? {
            Some(out) => out.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect(),
            None => return Err(ProviderError::NotFound(format!("secret {id} disappeared during update"))),
        };
        let set = |set: Tags| async move { self.client.tag_resource().secret_id(id).set_tags(Some(sm_tags(&set))).send().await.map(|_| ()).op("TagResource") };
        let remove = |remove: Vec<String>| async move {
            self.client.untag_resource().secret_id(id).set_tag_keys(Some(remove)).send().await.map(|_| ()).op("UntagResource")
        };
        tagging::sync(&current, &full_tags(desired), set, remove).await
    }

    async fn set_policy(&self, id: &str, desired: &Desired) -> Result<(), ProviderError> {
        match desired.props.get("policy").filter(|v| !v.is_null()) {
            Some(p) => {
                let text = p.as_str().map(str::to_string).unwrap_or_else(|| p.to_string());
                self.client.put_resource_policy().secret_id(id).resource_policy(text).send().await.op("PutResourcePolicy")?;
            }
            None => {
                self.client.delete_resource_policy().secret_id(id).send().await.op("DeleteResourcePolicy")?;
            }
        }
        Ok(())
    }

    async fn set_rotation(&self, id: &str, desired: &Desired) -> Result<(), ProviderError> {
        match desired.props.get("rotation").filter(|v| !v.is_null()) {
            // Rotation starts on its schedule, not at once: the first value is the stack's.
            Some(rot) => {
                let lambda = rot.get("rotation_lambda_arn").and_then(Value::as_str).unwrap_or_default();
                self.client
                    .rotate_secret()
                    .secret_id(id)
                    .rotation_lambda_arn(lambda)
                    .rotation_rules(rotation_rules(rot))
                    .rotate_immediately(false)
                    .send()
                    .await
                    .op("RotateSecret")?;
            }
            None => {
                self.client.cancel_rotate_secret().secret_id(id).send().await.op("CancelRotateSecret")?;
            }
        }
        Ok(())
    }

    /// A name held by a secret scheduled for deletion: this owner's is restored and adopted,
    /// anyone else's is reported with what to do.
    async fn restore_or_refuse(&self, desired: &Desired, name: &str, err: ProviderError) -> Result<Observed, ProviderError> {
        let Some(out) = self.describe(name).await? else { return Err(err) };
        let tags: Tags = out.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect();
        if out.deleted_date().is_none() || !desired.owner.matches(&tags) {
            return Err(ProviderError::Conflict(format!(
                "{}: secret {name} is scheduled for deletion and not this stack's; restore it (`aws secretsmanager restore-secret --secret-id {name}`) or choose another name",
                SCHEMA.kind
            )));
        }
        let arn = out.arn().unwrap_or(name).to_string();
        self.client.restore_secret().secret_id(&arn).send().await.op("RestoreSecret")?;
        let existing = self.read(&arn).await?.ok_or_else(|| ProviderError::Retryable(format!("RestoreSecret: {arn} is not readable yet")))?;
        // The value held before deletion is not known to match: write the stack's.
        let mut existing = existing;
        existing.props.remove(HMAC_PROP);
        adopt(self, desired, &format!("secret {name}"), existing).await
    }
}

#[async_trait]
impl ResourceKind for SecretsManagerSecret {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    /// A secret scheduled for deletion reads as gone: it can no longer be used.
    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let Some(out) = self.describe(id).await? else { return Ok(None) };
        if out.deleted_date().is_some() {
            return Ok(None);
        }
        let policy = self.policy(id).await?;
        Ok(Some(observed(&out, policy)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let value = value_of(desired)?;
        let name = desired.name();
        let out = self
            .client
            .create_secret()
            .name(&name)
            .set_description(desired.str("description").filter(|d| !d.is_empty()).map(str::to_string))
            .set_kms_key_id(desired.str("kms_key_id").map(str::to_string))
            .set_secret_string(value.as_ref().map(|v| v.expose().to_string()))
            .set_tags(Some(sm_tags(&full_tags(desired))))
            .client_request_token(request_token(desired))
            .send()
            .await;
        let arn = match out {
            Ok(out) => out.arn().map(str::to_string).ok_or_else(|| ProviderError::Fatal("CreateSecret: no ARN in the response".into()))?,
            Err(e) if e.code() == Some("ResourceExistsException") => {
                let existing = self.read(&name).await?;
                return adopt_or(self, desired, &format!("secret {name}"), existing, classify("CreateSecret", e)).await;
            }
            Err(e) if e.code() == Some("InvalidRequestException") && e.message().is_some_and(|m| m.contains("scheduled for deletion")) => {
                return self.restore_or_refuse(desired, &name, classify("CreateSecret", e)).await;
            }
            Err(e) => return Err(classify("CreateSecret", e)),
        };
        if desired.props.get("policy").is_some_and(|p| !p.is_null()) {
            self.set_policy(&arn, desired).await?;
        }
        if desired.props.get("rotation").is_some_and(|p| !p.is_null()) {
            self.set_rotation(&arn, desired).await?;
        }
        self.read(&arn).await?.ok_or_else(|| ProviderError::Retryable(format!("CreateSecret: {arn} is not readable yet")))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        let has = |p: &str| changed.iter().any(|c| c == p);
        if has("description") || has("kms_key_id") {
            self.client
                .update_secret()
                .secret_id(id)
                .set_description(has("description").then(|| desired.str("description").unwrap_or_default().to_string()))
                .set_kms_key_id(if has("kms_key_id") { desired.str("kms_key_id").map(str::to_string) } else { None })
                .send()
                .await
                .op("UpdateSecret")?;
        }
        if has(HMAC_PROP) {
            if let Some(value) = value_of(desired)? {
                self.client.put_secret_value().secret_id(id).secret_string(value.expose()).send().await.op("PutSecretValue")?;
            }
        }
        if has("policy") {
            self.set_policy(id, desired).await?;
        }
        if has("rotation") {
            self.set_rotation(id, desired).await?;
        }
        // The hash and the window are tags: written after the value they describe.
        if has("tags") || has(HMAC_PROP) || has("recovery_window_in_days") {
            self.set_tags(id, desired).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let Some(out) = self.describe(id).await? else { return Ok(()) };
        if out.deleted_date().is_some() {
            return Ok(());
        }
        let window = out.tags().iter().find(|t| t.key() == Some(WINDOW_TAG)).and_then(|t| t.value()?.parse::<i64>().ok()).unwrap_or_else(default_window);
        let call = self.client.delete_secret().secret_id(id);
        let call = if window == 0 { call.force_delete_without_recovery(true) } else { call.recovery_window_in_days(window) };
        gone(call.send().await.map(|_| ()).op("DeleteSecret"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read(&desired.name()).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"],
            // TagResource: tags given to CreateSecret are authorised as such. RestoreSecret and the
            // update actions: a name held by this stack's secret scheduled for deletion is restored and adopted.
            Operation::Create => &[
                "secretsmanager:CreateSecret",
                "secretsmanager:TagResource",
                "secretsmanager:UntagResource",
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetResourcePolicy",
                "secretsmanager:PutResourcePolicy",
                "secretsmanager:DeleteResourcePolicy",
                "secretsmanager:RotateSecret",
                "secretsmanager:CancelRotateSecret",
                "secretsmanager:RestoreSecret",
                "secretsmanager:UpdateSecret",
                "secretsmanager:PutSecretValue",
            ],
            Operation::Update => &[
                "secretsmanager:UpdateSecret",
                "secretsmanager:PutSecretValue",
                "secretsmanager:PutResourcePolicy",
                "secretsmanager:DeleteResourcePolicy",
                "secretsmanager:RotateSecret",
                "secretsmanager:CancelRotateSecret",
                "secretsmanager:TagResource",
                "secretsmanager:UntagResource",
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetResourcePolicy",
            ],
            Operation::Delete => &["secretsmanager:DescribeSecret", "secretsmanager:DeleteSecret"],
        }
    }
}

#[cfg(test)]
#[path = "secretsmanager_secret_tests.rs"]
mod tests;
