//! `aws.ssm.parameter`: a Parameter Store parameter; a `SecureString`'s value comes from `value_from` and is held by cairn only as a keyed hash.

use async_trait::async_trait;
use aws_sdk_ssm::types::{ParameterMetadata, ParameterStringFilter, ParameterTier, ParameterType, ResourceTypeForTagging, Tag};
use aws_sdk_ssm::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use cairn_engine::sensitive::{self, HMAC_PROP, HMAC_TAG, SOURCE_PROP};
use serde_json::{json, Value};

use crate::adopt::adopt_or;
use crate::error::{found, gone, SdkResultExt};
use crate::kit::defaults;
use crate::kit::tagging;
use crate::secretsmanager_secret::{VALUE_FROM, VALUE_HMAC};

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.ssm.parameter",
    doc: "A Parameter Store parameter; a SecureString's value comes from `value_from` and only a keyed hash of it is stored.",
    props: &[
        PropSpec::new("name", PropType::String, "Parameter name (`/a/b` paths allowed); defaults to a name derived from stack, env and address.")
            .force_new()
            .naming(NAMING),
        PropSpec::new("type", PropType::Enum(&["String", "StringList", "SecureString"]), "Parameter type.").default("\"String\""),
        PropSpec::new("value", PropType::Text(TextRule::len(1, 8192)), "A String or StringList parameter's value; a SecureString's comes from `value_from`."),
        PropSpec::new("key_id", PropType::Text(TextRule::len(1, 256)), "KMS key encrypting a SecureString; unset means `alias/aws/ssm`."),
        PropSpec::new("description", PropType::Text(TextRule::len(0, 1024)), "Description.").default("\"\""),
        PropSpec::new("tier", PropType::Enum(&["Standard", "Advanced", "Intelligent-Tiering"]), "Standard (4 KB values) or Advanced (8 KB).")
            .default("\"Standard\""),
        PropSpec::new("allowed_pattern", PropType::Text(TextRule::len(0, 1024)), "Regular expression the value must match.").default("\"\""),
        PropSpec::new("data_type", PropType::Enum(&["text", "aws:ec2:image", "aws:ssm:integration"]), "What the value holds.").default("\"text\""),
        VALUE_FROM,
        VALUE_HMAC,
    ],
    attrs: &["arn", "name"],
    taggable: true,
    rules: &[PropsRule { props: &["type", "value", "key_id", "tier"], check: value_rules }],
};

/// Parameter names: up to 1011 characters (AWS's limit with the ARN), letters, digits and `_.-/`.
pub const NAMING: Naming = Naming::new(TextRule::len(1, 1011).chars("_.-/"), NameScope::Region);

fn value_rules(props: &Props) -> Vec<String> {
    let mut out = vec![];
    let ty = SCHEMA.value_or_default(props, "type");
    let ty = ty.as_ref().and_then(Value::as_str).unwrap_or_default();
    let literal = props.get("value").filter(|v| !v.is_null());
    let from = props.contains_key(SOURCE_PROP);
    match (literal.is_some(), from) {
        (true, true) => out.push("set one of `value` and `value_from`, not both".into()),
        (false, false) => out.push("set `value` (or `value_from` for a value kept out of the stack)".into()),
        _ => {}
    }
    // Never echo the value: these messages reach the terminal.
    if ty == "SecureString" && literal.is_some() {
        out.push("a SecureString's value must come from `value_from: { env: NAME }` or `{ file: PATH }`, never from the stack file".into());
    }
    if ty != "SecureString" && props.contains_key("key_id") {
        out.push("`key_id` applies to SecureString parameters only".into());
    }
    let tier = SCHEMA.value_or_default(props, "tier");
    let tier = tier.as_ref().and_then(Value::as_str).unwrap_or_default();
    if tier == "Standard" && literal.and_then(Value::as_str).is_some_and(|v| v.len() > 4096) {
        out.push("a Standard parameter's value is at most 4 KB: set `tier: Advanced`".into());
    }
    out
}

fn ssm_tags(tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(format!("tag {k}: {e}")))).collect()
}

fn full_tags(desired: &Desired) -> Tags {
    let mut tags = desired.tags.clone();
    if let Some(h) = desired.str(HMAC_PROP) {
        tags.insert(HMAC_TAG.into(), h.to_string());
    }
    tags
}

/// The value to send: the literal of a plain parameter, or what `value_from` holds (checked
/// against the plan). Errors never contain the value.
fn value_of(desired: &Desired) -> Result<String, ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    let secret =
        sensitive::resolve(&desired.props, &desired.owner).map_err(|m| ProviderError::Invalid(format!("{} `{}`: {m}", SCHEMA.kind, desired.owner.address)))?;
    match (secret, desired.str("value")) {
        (Some(v), _) => Ok(v.expose().to_string()),
        (None, Some(v)) => Ok(v.to_string()),
        (None, None) => Err(ProviderError::Invalid(format!("{} `{}`: set `value` or `value_from`", SCHEMA.kind, desired.owner.address))),
    }
}

fn observed(meta: &ParameterMetadata, value: Option<String>, mut tags: Tags) -> Observed {
    let hmac = tags.remove(HMAC_TAG);
    let name = meta.name().unwrap_or_default().to_string();
    let arn = meta.arn().unwrap_or_default().to_string();
    let mut props = Props::new();
    props.insert("name".into(), json!(name));
    props.insert("type".into(), json!(meta.r#type().map(|t| t.as_str().to_string()).unwrap_or_else(|| defaults::default_text(&SCHEMA, "type"))));
    if let Some(k) = meta.key_id().filter(|_| meta.r#type() == Some(&ParameterType::SecureString)) {
        props.insert("key_id".into(), json!(k));
    }
    props.insert("description".into(), json!(meta.description().unwrap_or_default()));
    props.insert("tier".into(), json!(meta.tier().map(|t| t.as_str().to_string()).unwrap_or_else(|| defaults::default_text(&SCHEMA, "tier"))));
    props.insert("allowed_pattern".into(), json!(meta.allowed_pattern().unwrap_or_default()));
    props.insert("data_type".into(), json!(meta.data_type().map(str::to_string).unwrap_or_else(|| defaults::default_text(&SCHEMA, "data_type"))));
    match hmac {
        Some(h) => {
            props.insert(HMAC_PROP.into(), json!(h));
        }
        None => {
            if let Some(v) = value {
                props.insert("value".into(), json!(v));
            }
        }
    }
    Observed { id: name.clone(), props, attrs: [("arn".to_string(), json!(arn)), ("name".to_string(), json!(name))].into_iter().collect(), tags }
}

crate::kit::client::client_kind!(SsmParameter, Client, ssm);

impl SsmParameter {
    async fn metadata(&self, name: &str) -> Result<Option<ParameterMetadata>, ProviderError> {
        let filter = ParameterStringFilter::builder().key("Name").option("Equals").values(name).build().map_err(|e| ProviderError::Fatal(e.to_string()))?;
        let out = self.client.describe_parameters().parameter_filters(filter).send().await.op("DescribeParameters")?;
        Ok(out.parameters().iter().find(|p| p.name() == Some(name)).cloned())
    }

    async fn tags(&self, name: &str) -> Result<Option<Tags>, ProviderError> {
        let out = found(
            self.client.list_tags_for_resource().resource_type(ResourceTypeForTagging::Parameter).resource_id(name).send().await.op("ListTagsForResource"),
        )?;
        Ok(out.map(|o| o.tag_list().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()))
    }

    async fn put(&self, desired: &Desired, overwrite: bool) -> Result<(), ProviderError> {
        let value = value_of(desired)?;
        let ty = defaults::text(&SCHEMA, desired, "type")?;
        let ty = ty.as_str();
        let call = self
            .client
            .put_parameter()
            .name(desired.name())
            .value(value)
            .r#type(ParameterType::from(ty))
            .set_key_id(desired.str("key_id").filter(|_| ty == "SecureString").map(str::to_string))
            .description(desired.str("description").unwrap_or_default())
            .tier(ParameterTier::from(defaults::text(&SCHEMA, desired, "tier")?.as_str()))
            .set_allowed_pattern(desired.str("allowed_pattern").filter(|p| !p.is_empty()).map(str::to_string))
            .data_type(defaults::text(&SCHEMA, desired, "data_type")?);
        // PutParameter takes tags only when it creates; an overwrite must not send them.
        let call = if overwrite { call.overwrite(true) } else { call.set_tags(Some(ssm_tags(&full_tags(desired))?)) };
        call.send().await.op("PutParameter")?;
        Ok(())
    }

    async fn set_tags(&self, name: &str, desired: &Desired) -> Result<(), ProviderError> {
        let current = self.tags(name).await?.unwrap_or_default();
        let set = |set: Tags| async move {
            self.client
                .add_tags_to_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(name)
                .set_tags(Some(ssm_tags(&set)?))
                .send()
                .await
                .map(|_| ())
                .op("AddTagsToResource")
        };
        let remove = |remove: Vec<String>| async move {
            self.client
                .remove_tags_from_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(name)
                .set_tag_keys(Some(remove))
                .send()
                .await
                .map(|_| ())
                .op("RemoveTagsFromResource")
        };
        tagging::sync(&current, &full_tags(desired), set, remove).await
    }
}

#[async_trait]
impl ResourceKind for SsmParameter {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    /// A plain parameter's value is read back; a SecureString's never is (no decryption):
    /// its `value_hmac` tag says whether it changed.
    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let Some(meta) = self.metadata(id).await? else { return Ok(None) };
        let Some(tags) = self.tags(id).await? else { return Ok(None) };
        let value = if meta.r#type() == Some(&ParameterType::SecureString) || tags.contains_key(HMAC_TAG) {
            None
        } else {
            let out = found(self.client.get_parameter().name(id).send().await.op("GetParameter"))?;
            out.and_then(|o| o.parameter().and_then(|p| p.value()).map(str::to_string))
        };
        Ok(Some(observed(&meta, value, tags)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let name = desired.name();
        match self.put(desired, false).await {
            Ok(()) => {}
            // A lost create that SSM performed, or someone else's parameter.
            Err(ProviderError::Conflict(msg)) => {
                let existing = self.read(&name).await?;
                return adopt_or(self, desired, &format!("SSM parameter {name}"), existing, ProviderError::Conflict(msg)).await;
            }
            Err(e) => return Err(e),
        }
        self.read(&name).await?.ok_or_else(|| ProviderError::Retryable(format!("PutParameter: {name} is not readable yet")))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        // PutParameter rewrites everything but tags and always needs the value.
        if changed.iter().any(|c| c != "tags") {
            self.put(desired, true).await?;
        }
        if changed.iter().any(|c| c == "tags" || c == HMAC_PROP) {
            self.set_tags(id, desired).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.delete_parameter().name(id).send().await.map(|_| ()).op("DeleteParameter"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read(&desired.name()).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["ssm:DescribeParameters", "ssm:ListTagsForResource", "ssm:GetParameter"],
            Operation::Create => &[
                "ssm:PutParameter",
                "ssm:AddTagsToResource",
                "ssm:RemoveTagsFromResource",
                "ssm:DescribeParameters",
                "ssm:ListTagsForResource",
                "ssm:GetParameter",
            ],
            Operation::Update => &[
                "ssm:PutParameter",
                "ssm:AddTagsToResource",
                "ssm:RemoveTagsFromResource",
                "ssm:DescribeParameters",
                "ssm:ListTagsForResource",
                "ssm:GetParameter",
            ],
            Operation::Delete => &["ssm:DeleteParameter"],
        }
    }
}

#[cfg(test)]
#[path = "ssm_parameter_tests.rs"]
mod tests;
