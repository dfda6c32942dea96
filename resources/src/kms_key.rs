//! `aws.kms.key`: a customer managed KMS key with its key policy, automatic rotation and alias.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyState, KeyUsageType, Tag};
use aws_sdk_kms::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule};
use serde_json::Value;

use crate::adopt::wanted;
use crate::aws::AwsContext;
use crate::error::{classify, found, gone, SdkResultExt};
use crate::kit::{defaults, tagging};
use crate::read_each::read_each;

/// `delete` receives only the key id, so the deletion window travels on the key as this tag.
const WINDOW_TAG: &str = "cairn:deletion-window";
/// The deletion window a key without the tag gets: the schema's default.
fn default_window() -> i64 {
    defaults::default_int(&SCHEMA, "deletion_window_in_days")
}
/// KMS keys have exactly one key policy and it is always called this.
const POLICY_NAME: &str = "default";

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.kms.key",
    doc: "A customer managed KMS key, with its key policy, yearly rotation and an optional alias.",
    props: &[
        PropSpec::new("description", PropType::Text(TextRule::len(0, 8_192)), "What the key protects; shown in the KMS console.").default("\"\""),
        PropSpec::new(
            "key_usage",
            PropType::Enum(&["ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"]),
            "ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC or KEY_AGREEMENT.",
        )
        .force_new()
        .default("\"ENCRYPT_DECRYPT\""),
        PropSpec::new(
            "key_spec",
            PropType::Enum(&[
                "SYMMETRIC_DEFAULT",
                "RSA_2048",
                "RSA_3072",
                "RSA_4096",
                "ECC_NIST_P256",
                "ECC_NIST_P384",
                "ECC_NIST_P521",
                "ECC_NIST_EDWARDS25519",
                "ECC_SECG_P256K1",
                "HMAC_224",
                "HMAC_256",
                "HMAC_384",
                "HMAC_512",
                "SM2",
                "ML_DSA_44",
                "ML_DSA_65",
                "ML_DSA_87",
                "ML_KEM_512",
                "ML_KEM_768",
                "ML_KEM_1024",
            ]),
            "SYMMETRIC_DEFAULT, RSA_2048, ECC_NIST_P256, HMAC_256, ... (see the KMS CreateKey KeySpec).",
        )
        .force_new()
        .default("\"SYMMETRIC_DEFAULT\""),
        PropSpec::new("enable_key_rotation", PropType::Bool, "Rotate the key material yearly; symmetric encryption keys only.").default("false"),
        PropSpec::new(
            "deletion_window_in_days",
            PropType::IntRange(7, 30),
            "Days (7 to 30) between destroying the key and KMS deleting it for good; kept in the `cairn:deletion-window` tag.",
        )
        .default("30"),
        PropSpec::new("policy", PropType::Policy, "The key policy. Unset, KMS applies its default policy (the account manages the key through IAM)."),
        PropSpec::new(
            "alias",
            PropType::Text(TextRule::len(7, 256).chars("/_-")),
            "The key's alias, with its prefix (`alias/platform-data`). Changing it moves the key to the new alias and removes its other aliases.",
        )
        .rule(alias_rule),
    ],
    attrs: &["arn", "key_id"],
    taggable: true,
    rules: &[PropsRule { props: &["enable_key_rotation", "key_spec"], check: rotation_needs_symmetric }],
};

/// KMS rotates only symmetric encryption keys.
fn rotation_needs_symmetric(p: &Props) -> Vec<String> {
    let rotation = SCHEMA.value_or_default(p, "enable_key_rotation").and_then(|v| v.as_bool()).unwrap_or(false);
    let key_spec = SCHEMA.value_or_default(p, "key_spec");
    match key_spec.as_ref().and_then(Value::as_str) {
        Some(spec) if rotation && spec != "SYMMETRIC_DEFAULT" => vec![format!("enable_key_rotation needs a SYMMETRIC_DEFAULT key, not {spec}")],
        _ => vec![],
    }
}

/// An alias is `alias/NAME`, and `alias/aws/` is reserved for AWS managed keys (CreateAlias).
fn alias_rule(alias: &Value) -> Vec<String> {
    match alias.as_str() {
        Some(a) if !a.starts_with("alias/") => vec![format!("\"{a}\" must start with `alias/`")],
        Some(a) if a.starts_with("alias/aws/") => vec![format!("\"{a}\" is under `alias/aws/`, which AWS keeps for its own keys")],
        _ => vec![],
    }
}

const READ_ACTIONS: &[&str] = &["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListResourceTags"];
const CREATE_ACTIONS: &[&str] = &[
    "kms:CreateKey",
    // CreateKey with tags is authorised as kms:TagResource as well.
    "kms:TagResource",
    "kms:EnableKeyRotation",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    // find_owned, which the engine runs before repeating a create interrupted by a crash.
    "kms:ListKeys",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
];
const UPDATE_ACTIONS: &[&str] = &[
    "kms:UpdateKeyDescription",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:PutKeyPolicy",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
];
const DELETE_ACTIONS: &[&str] = &["kms:DescribeKey", "kms:ListResourceTags", "kms:ListAliases", "kms:DeleteAlias", "kms:ScheduleKeyDeletion"];

pub struct KmsKey {
    client: Client,
    /// Aliases by key, listed once for a whole batch read (`read_many`); `None` lists per key.
    known_aliases: Option<Arc<BTreeMap<String, Vec<String>>>>,
}

impl KmsKey {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.kms())
    }

    pub fn from_client(client: Client) -> Self {
        KmsKey { client, known_aliases: None }
    }

    async fn tags_of(&self, key_id: &str) -> Result<Tags, ProviderError> {
        let tags = self.client.list_resource_tags().key_id(key_id).into_paginator().items().send().try_collect().await.op("ListResourceTags")?;
        Ok(tags.into_iter().map(|t| (t.tag_key().to_string(), t.tag_value().to_string())).collect())
    }

    async fn aliases_of(&self, key_id: &str) -> Result<Vec<String>, ProviderError> {
        let entries = self.client.list_aliases().key_id(key_id).into_paginator().items().send().try_collect().await.op("ListAliases")?;
        let mut names: Vec<String> = entries.iter().filter_map(|a| a.alias_name()).map(str::to_string).collect();
        names.sort();
        Ok(names)
    }

    async fn rotation_of(&self, key_id: &str) -> Result<bool, ProviderError> {
        match self.client.get_key_rotation_status().key_id(key_id).send().await {
            Ok(out) => Ok(out.key_rotation_enabled()),
            // Asymmetric, HMAC and imported keys cannot rotate; AWS refuses to even report the status.
            Err(e) if e.code() == Some("UnsupportedOperationException") => Ok(false),
            Err(e) => Err(classify("GetKeyRotationStatus", e)),
        }
    }

    async fn policy_of(&self, key_id: &str) -> Result<Option<Value>, ProviderError> {
        let out = self.client.get_key_policy().key_id(key_id).policy_name(POLICY_NAME).send().await.op("GetKeyPolicy")?;
        Ok(out.policy().map(parse_policy))
    }

    async fn observe(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let out = self.client.describe_key().key_id(id).send().await.op("DescribeKey")?;
        let meta = out.key_metadata().ok_or_else(|| ProviderError::Fatal(format!("DescribeKey {id}: no key metadata")))?;
        if is_deleted(meta.key_state()) {
            return Ok(None);
        }
        let key_id = meta.key_id();
        let aliases = async {
            match &self.known_aliases {
                Some(all) => Ok(all.get(key_id).cloned().unwrap_or_default()),
                None => self.aliases_of(key_id).await,
            }
        };
        let (rotation, policy, aliases, tags) = tokio::try_join!(self.rotation_of(key_id), self.policy_of(key_id), aliases, self.tags_of(key_id))?;
        Ok(Some(observed(meta, rotation, policy, aliases.into_iter().next(), tags)))
    }

    /// Every alias of the account by the key it points to (each key's sorted), in one
    /// paginated ListAliases: a batch read asks once, not once per key.
    async fn all_aliases(&self) -> Result<BTreeMap<String, Vec<String>>, ProviderError> {
        let entries = self.client.list_aliases().into_paginator().items().send().try_collect().await.op("ListAliases")?;
        let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in &entries {
            if let (Some(key), Some(name)) = (entry.target_key_id(), entry.alias_name()) {
                all.entry(key.to_string()).or_default().push(name.to_string());
            }
        }
        all.values_mut().for_each(|names| names.sort());
        Ok(all)
    }

    /// Points `alias` at `key_id`, taking it over only from a key of the same owner (the
    /// key this one replaces); an alias held by anyone else's key is a conflict.
    async fn attach_alias(&self, alias: &str, key_id: &str, desired: &Desired) -> Result<(), ProviderError> {
        let err = match self.client.create_alias().alias_name(alias).target_key_id(key_id).send().await {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("AlreadyExistsException") => e,
            Err(e) => return Err(classify("CreateAlias", e)),
        };
        let holder = self.client.describe_key().key_id(alias).send().await.op("DescribeKey")?;
        let holder = holder.key_metadata().map(|m| m.key_id().to_string()).unwrap_or_default();
        if holder == key_id {
            return Ok(());
        }
        if holder.is_empty() {
            return Err(classify("CreateAlias", err));
        }
        let tags = self.tags_of(&holder).await?;
        if !desired.owner.matches(&tags) {
            return Err(crate::adopt::foreign(SCHEMA.kind, &format!("alias {alias} (on key {holder})"), desired, &tags));
        }
        self.client.update_alias().alias_name(alias).target_key_id(key_id).send().await.op("UpdateAlias")?;
        Ok(())
    }

    async fn sync_tags(&self, key_id: &str, want: &Tags) -> Result<(), ProviderError> {
        let current = self.tags_of(key_id).await?;
        let set = |set: Tags| async move {
            let mut req = self.client.tag_resource().key_id(key_id);
            for (k, v) in &set {
                req = req.tags(kms_tag(k, v)?);
            }
            req.send().await.map(|_| ()).op("TagResource")
        };
        let remove = |remove: Vec<String>| async move {
            self.client.untag_resource().key_id(key_id).set_tag_keys(Some(remove)).send().await.map(|_| ()).op("UntagResource")
        };
        tagging::sync(&current, want, set, remove).await
    }

    async fn sync_alias(&self, key_id: &str, desired: &Desired, want: Option<&str>) -> Result<(), ProviderError> {
        let current = self.aliases_of(key_id).await?;
        if let Some(alias) = want {
            if !current.iter().any(|a| a == alias) {
                self.attach_alias(alias, key_id, desired).await?;
            }
        }
        for old in current.iter().filter(|a| Some(a.as_str()) != want) {
            gone(self.client.delete_alias().alias_name(old).send().await.map(|_| ()).op("DeleteAlias"))?;
        }
        Ok(())
    }

    async fn delete_key(&self, id: &str) -> Result<(), ProviderError> {
        let out = self.client.describe_key().key_id(id).send().await.op("DescribeKey")?;
        let Some(meta) = out.key_metadata() else {
            return Ok(());
        };
        // Scheduling deletion twice is an error (KMSInvalidStateException), not a no-op.
        if is_deleted(meta.key_state()) {
            return Ok(());
        }
        let key_id = meta.key_id();
        let tags = self.tags_of(key_id).await?;
        let window = tags.get(WINDOW_TAG).and_then(|w| w.parse::<i64>().ok()).filter(|w| window_allowed(*w)).unwrap_or_else(default_window);
        // An alias left on a key pending deletion still resolves, and blocks reusing the name.
        for alias in self.aliases_of(key_id).await? {
            gone(self.client.delete_alias().alias_name(&alias).send().await.map(|_| ()).op("DeleteAlias"))?;
        }
        self.client.schedule_key_deletion().key_id(key_id).pending_window_in_days(window as i32).send().await.op("ScheduleKeyDeletion")?;
        Ok(())
    }

    /// The newest live key carrying the owner's tags: after an interrupted replacement both
    /// the old and the new key carry them, and the new one is the one being created.
    async fn scan_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let keys = self.client.list_keys().into_paginator().items().send().try_collect().await.op("ListKeys")?;
        let mut best: Option<(aws_smithy_types::DateTime, String)> = None;
        for key in keys.iter().filter_map(|k| k.key_id()) {
            let tags = match self.tags_of(key).await {
                Ok(tags) => tags,
                // Gone since ListKeys, or a key whose policy shuts this caller out: either
                // way not a key this caller created with the tags it can read.
                Err(ProviderError::NotFound(_) | ProviderError::AccessDenied(_)) => continue,
                Err(e) => return Err(e),
            };
            if !desired.owner.matches(&tags) {
                continue;
            }
            let Some(out) = found(self.client.describe_key().key_id(key).send().await.op("DescribeKey"))? else {
                continue;
            };
            let Some(meta) = out.key_metadata() else {
                continue;
            };
            if meta.key_state() != Some(&KeyState::Enabled) {
                continue;
            }
            let created = meta.creation_date().copied().unwrap_or(aws_smithy_types::DateTime::from_secs(0));
            if best.as_ref().is_none_or(|(at, _)| created > *at) {
                best = Some((created, key.to_string()));
            }
        }
        match best {
            Some((_, key)) => self.read(&key).await,
            None => Ok(None),
        }
    }
}

/// The key in the stack's shape, from its metadata and the settings read (or just set) beside it.
fn observed(meta: &KeyMetadata, rotation: bool, policy: Option<Value>, alias: Option<String>, mut tags: Tags) -> Observed {
    let window = tags.remove(WINDOW_TAG).and_then(|w| w.parse::<i64>().ok()).unwrap_or_else(default_window);

    let mut props = Props::new();
    props.insert("description".into(), meta.description().unwrap_or_default().into());
    if let Some(usage) = meta.key_usage() {
        props.insert("key_usage".into(), usage.as_str().into());
    }
    if let Some(spec) = meta.key_spec() {
        props.insert("key_spec".into(), spec.as_str().into());
    }
    props.insert("enable_key_rotation".into(), rotation.into());
    props.insert("deletion_window_in_days".into(), window.into());
    if let Some(policy) = policy {
        props.insert("policy".into(), policy);
    }
    if let Some(alias) = alias {
        props.insert("alias".into(), alias.into());
    }

    let mut attrs = Props::new();
    attrs.insert("key_id".into(), meta.key_id().into());
    if let Some(arn) = meta.arn() {
        attrs.insert("arn".into(), arn.into());
    }
    Observed { id: meta.key_id().to_string(), props, attrs, tags }
}

/// Whether a window read back from the key's tag (which anyone can edit) is one the schema allows.
fn window_allowed(days: i64) -> bool {
    matches!(SCHEMA.prop("deletion_window_in_days").map(|p| p.ty), Some(PropType::IntRange(lo, hi)) if (lo..=hi).contains(&days))
}

fn is_deleted(state: Option<&KeyState>) -> bool {
    matches!(state, Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion))
}

/// Policies come back as text; parsed JSON compares semantically with the stack's.
fn parse_policy(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn kms_tag(key: &str, value: &str) -> Result<Tag, ProviderError> {
    Tag::builder().tag_key(key).tag_value(value).build().map_err(|e| ProviderError::Invalid(format!("tag {key}: {e}")))
}

/// The stack's properties, checked before any call so that a bad value cannot leave a half-made key.
struct Spec {
    description: String,
    key_usage: String,
    key_spec: String,
    rotation: bool,
    window: i64,
    policy: Option<String>,
    alias: Option<String>,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        // Ranges, the alias's form and the enums are the schema's; values known only at
        // apply were not checked at validate, so the same checks run here.
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let string = |name: &str| wanted(&SCHEMA, desired, name).and_then(|v| v.as_str().map(str::to_string));
        let window = defaults::int(&SCHEMA, desired, "deletion_window_in_days")?;
        let rotation = defaults::flag(&SCHEMA, desired, "enable_key_rotation")?;
        let key_spec = defaults::text(&SCHEMA, desired, "key_spec")?;
        // Rotation on a symmetric key only is the schema's rule `rotation_needs_symmetric`, run by `check` above.
        let policy = match desired.props.get("policy") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(doc) => Some(doc.to_string()),
        };
        Ok(Spec {
            description: string("description").unwrap_or_default(),
            key_usage: defaults::text(&SCHEMA, desired, "key_usage")?,
            key_spec,
            rotation,
            window,
            policy,
            alias: string("alias"),
        })
    }

    /// Every tag the key should carry: the stack's plus the deletion window.
    fn tags(&self, desired: &Desired) -> Tags {
        let mut tags = desired.tags.clone();
        tags.insert(WINDOW_TAG.to_string(), self.window.to_string());
        tags
    }
}

#[async_trait]
impl ResourceKind for KmsKey {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        // A key can vanish between the calls that make up one read; that too is "gone".
        Ok(found(self.observe(id).await)?.flatten())
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let mut req = self
            .client
            .create_key()
            .description(&spec.description)
            .key_usage(KeyUsageType::from(spec.key_usage.as_str()))
            .key_spec(KeySpec::from(spec.key_spec.as_str()))
            .set_policy(spec.policy.clone());
        for (k, v) in &spec.tags(desired) {
            req = req.tags(kms_tag(k, v)?);
        }
        let out = req.send().await.op("CreateKey")?;
        let meta = out.key_metadata().ok_or_else(|| ProviderError::Fatal("CreateKey: no key metadata".into()))?;
        let key_id = meta.key_id();
        if spec.rotation {
            self.client.enable_key_rotation().key_id(key_id).send().await.op("EnableKeyRotation")?;
        }
        if let Some(alias) = &spec.alias {
            self.attach_alias(alias, key_id, desired).await?;
        }
        // CreateKey answered the full metadata, KMS stores a policy as sent, and rotation, alias
        // and tags are what was just set: only a key policy KMS chose itself must be asked for.
        let policy = match &spec.policy {
            Some(text) => Some(parse_policy(text)),
            None => self.policy_of(key_id).await?,
        };
        Ok(observed(meta, spec.rotation, policy, spec.alias.clone(), spec.tags(desired)))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let aliases = Arc::new(self.all_aliases().await?);
        read_each(ids, || KmsKey { client: self.client.clone(), known_aliases: Some(aliases.clone()) }).await
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let has = |name: &str| changed.iter().any(|c| c == name);
        if has("description") {
            self.client.update_key_description().key_id(id).description(&spec.description).send().await.op("UpdateKeyDescription")?;
        }
        if has("enable_key_rotation") {
            if spec.rotation {
                self.client.enable_key_rotation().key_id(id).send().await.op("EnableKeyRotation")?;
            } else {
                self.client.disable_key_rotation().key_id(id).send().await.op("DisableKeyRotation")?;
            }
        }
        if has("policy") {
            if let Some(policy) = &spec.policy {
                self.client.put_key_policy().key_id(id).policy_name(POLICY_NAME).policy(policy).send().await.op("PutKeyPolicy")?;
            }
        }
        if has("alias") {
            self.sync_alias(id, desired, spec.alias.as_deref()).await?;
        }
        if has("tags") || has("deletion_window_in_days") {
            self.sync_tags(id, &spec.tags(desired)).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("key {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.delete_key(id).await)
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        if let Some(alias) = Spec::from(desired)?.alias {
            if let Some(out) = found(self.client.describe_key().key_id(&alias).send().await.op("DescribeKey"))? {
                if let Some(key_id) = out.key_metadata().map(|m| m.key_id().to_string()) {
                    if found(self.tags_of(&key_id).await)?.is_some_and(|tags| desired.owner.matches(&tags)) {
                        if let Some(observed) = self.read(&key_id).await? {
                            return Ok(Some(observed));
                        }
                    }
                }
            }
        }
        // No alias, or a crash came between CreateKey and CreateAlias: only the tags can tell.
        self.scan_owned(desired).await
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => READ_ACTIONS,
            Operation::Create => CREATE_ACTIONS,
            Operation::Update => UPDATE_ACTIONS,
            Operation::Delete => DELETE_ACTIONS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use aws_sdk_kms::error::ErrorMetadata;
    use aws_sdk_kms::operation::create_alias::{CreateAliasError, CreateAliasOutput};
    use aws_sdk_kms::operation::create_key::CreateKeyOutput;
    use aws_sdk_kms::operation::delete_alias::DeleteAliasOutput;
    use aws_sdk_kms::operation::describe_key::{DescribeKeyError, DescribeKeyOutput};
    use aws_sdk_kms::operation::enable_key_rotation::EnableKeyRotationOutput;
    use aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput;
    use aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusOutput;
    use aws_sdk_kms::operation::list_aliases::ListAliasesOutput;
    use aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput;
    use aws_sdk_kms::operation::schedule_key_deletion::ScheduleKeyDeletionOutput;
    use aws_sdk_kms::operation::update_key_description::UpdateKeyDescriptionOutput;
    use aws_sdk_kms::types::error::{AlreadyExistsException, NotFoundException};
    use aws_sdk_kms::types::{AliasListEntry, KeyMetadata};
    use aws_smithy_mocks::{mock, Rule};
    use cairn_engine::provider::Owner;
    use serde_json::json;

    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn kind(rules: &[&Rule]) -> KmsKey {
        KmsKey::from_client(crate::mocked_client!(aws_sdk_kms, rules))
    }

    fn desired(props: Value) -> Desired {
        let owner = Owner { stack: "shop".into(), env: "prod".into(), address: "key.data".into() };
        let mut tags = owner.tags();
        tags.insert("team".into(), "data".into());
        Desired { props: props.as_object().unwrap().clone(), tags, owner, default_name: "shop-prod-key-data".into(), idempotency_token: "t".into() }
    }

    fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message("mocked").build()
    }

    fn metadata(state: KeyState) -> KeyMetadata {
        KeyMetadata::builder()
            .key_id(KEY)
            .arn(ARN)
            .description("data key")
            .key_state(state)
            .key_usage(KeyUsageType::EncryptDecrypt)
            .key_spec(KeySpec::SymmetricDefault)
            .build()
            .unwrap()
    }

    fn policy() -> Value {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}]})
    }

    /// The calls `read` makes, answering for a live key with the given tags.
    fn read_rules(tags: &[(&str, &str)]) -> Vec<Rule> {
        let tags: Vec<Tag> = tags.iter().map(|(k, v)| kms_tag(k, v).unwrap()).collect();
        vec![
            mock!(Client::describe_key).then_output(|| DescribeKeyOutput::builder().key_metadata(metadata(KeyState::Enabled)).build()),
            mock!(Client::get_key_rotation_status).then_output(|| GetKeyRotationStatusOutput::builder().key_rotation_enabled(true).build()),
            mock!(Client::get_key_policy).then_output(|| GetKeyPolicyOutput::builder().policy(policy().to_string()).build()),
            mock!(Client::list_aliases)
                .then_output(|| ListAliasesOutput::builder().aliases(AliasListEntry::builder().alias_name("alias/data").target_key_id(KEY).build()).build()),
            mock!(Client::list_resource_tags).then_output(move || ListResourceTagsOutput::builder().set_tags(Some(tags.clone())).build()),
        ]
    }

    /// The IAM action each mocked operation needs.
    fn action_of(operation: &str) -> String {
        format!("kms:{operation}")
    }

    #[test]
    fn the_schema_defaults_are_the_ones_the_code_falls_back_to() {
        let default = SCHEMA.prop("deletion_window_in_days").and_then(|p| p.default_value());
        assert_eq!(default, Some(json!(default_window())));
        let defaults: Props = SCHEMA.props.iter().filter_map(|p| Some((p.name.to_string(), p.default_value()?))).collect();
        Spec::from(&desired(Value::Object(defaults))).expect("the defaults are accepted");
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        for props in [
            json!({"deletion_window_in_days": 3}),
            json!({"deletion_window_in_days": "7"}),
            json!({"alias": "platform-data"}),
            json!({"alias": "alias/"}),
            json!({"alias": "alias/aws/s3"}),
            json!({"alias": "alias/with space"}),
            json!({"key_spec": "RSA_9999"}),
            json!({"key_usage": "ENCRYPT"}),
            json!({"description": "x".repeat(8_193)}),
            json!({"enable_key_rotation": "yes"}),
            json!({"key_spec": "RSA_2048", "key_usage": "SIGN_VERIFY", "enable_key_rotation": true}),
        ] {
            let d = desired(props.clone());
            assert!(Spec::from(&d).is_err(), "builder accepts {props}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts (its rule on rotation included) becomes a
        /// CreateKey request with values the SDK knows.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            proptest::prop_assume!(crate::schema_check::rules_pass(&SCHEMA, &props));
            let spec = Spec::from(&desired(Value::Object(props)));
            proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
            let spec = spec.unwrap();
            proptest::prop_assert!(KeySpec::values().contains(&spec.key_spec.as_str()));
            proptest::prop_assert!(KeyUsageType::values().contains(&spec.key_usage.as_str()));
        }
    }

    #[tokio::test]
    async fn create_sends_tags_policy_rotation_and_alias() {
        let create = mock!(Client::create_key)
            .match_requests(|r| {
                let tags: Tags = r.tags().iter().map(|t| (t.tag_key().to_string(), t.tag_value().to_string())).collect();
                tags.get("cairn:stack").map(String::as_str) == Some("shop")
                    && tags.get("cairn:address").map(String::as_str) == Some("key.data")
                    && tags.get("team").map(String::as_str) == Some("data")
                    && tags.get(WINDOW_TAG).map(String::as_str) == Some("7")
                    && r.description() == Some("data key")
                    && r.key_usage() == Some(&KeyUsageType::EncryptDecrypt)
                    && r.key_spec() == Some(&KeySpec::SymmetricDefault)
                    && r.policy().map(|p| serde_json::from_str::<Value>(p).unwrap()) == Some(policy())
            })
            .then_output(|| CreateKeyOutput::builder().key_metadata(metadata(KeyState::Enabled)).build());
        let rotate = mock!(Client::enable_key_rotation).match_requests(|r| r.key_id() == Some(KEY)).then_output(|| EnableKeyRotationOutput::builder().build());
        let alias = mock!(Client::create_alias)
            .match_requests(|r| r.alias_name() == Some("alias/data") && r.target_key_id() == Some(KEY))
            .then_output(|| CreateAliasOutput::builder().build());
        let reads = read_rules(&[("cairn:stack", "shop"), ("cairn:env", "prod"), ("cairn:address", "key.data"), ("team", "data"), (WINDOW_TAG, "7")]);
        let mut rules = vec![&create, &rotate, &alias];
        rules.extend(reads.iter());
        let d = desired(json!({
            "description": "data key", "key_usage": "ENCRYPT_DECRYPT", "key_spec": "SYMMETRIC_DEFAULT",
            "enable_key_rotation": true, "deletion_window_in_days": 7, "policy": policy(), "alias": "alias/data"
        }));

        let observed = kind(&rules).create(&d).await.unwrap();

        assert_eq!(observed.id, KEY);
        assert_eq!(observed.attrs["arn"], json!(ARN));
        assert_eq!(observed.tags, d.tags, "the deletion-window tag is cairn's, not the stack's");
        for (name, value) in &d.props {
            assert_eq!(observed.props.get(name), Some(value), "{name} reads back as written");
        }
        for (rule, operation) in [(&create, "CreateKey"), (&rotate, "EnableKeyRotation"), (&alias, "CreateAlias")] {
            assert_eq!(rule.num_calls(), 1, "{operation}");
        }
        assert_eq!(reads.iter().map(Rule::num_calls).sum::<usize>(), 0, "create makes no read");
        assert_eq!(observed, kind(&rules).read(KEY).await.unwrap().unwrap(), "create returns what read reports");
        let called = [
            "CreateKey",
            "TagResource",
            "EnableKeyRotation",
            "CreateAlias",
            "DescribeKey",
            "GetKeyRotationStatus",
            "GetKeyPolicy",
            "ListAliases",
            "ListResourceTags",
        ];
        for operation in called {
            assert!(CREATE_ACTIONS.contains(&action_of(operation).as_str()), "{operation} missing from Create's IAM actions");
        }
    }

    /// A key created without a policy gets the one KMS chooses: that alone is read back.
    #[tokio::test]
    async fn create_without_a_policy_reads_only_the_policy_kms_chose() {
        let create = mock!(Client::create_key)
            .match_requests(|r| r.policy().is_none())
            .then_output(|| CreateKeyOutput::builder().key_metadata(metadata(KeyState::Enabled)).build());
        let reads = read_rules(&[]);
        let mut rules = vec![&create];
        rules.extend(reads.iter());
        let observed = kind(&rules).create(&desired(json!({"description": "data key"}))).await.unwrap();
        let calls: Vec<usize> = reads.iter().map(Rule::num_calls).collect();
        assert_eq!(calls, [0, 0, 1, 0, 0], "DescribeKey, GetKeyRotationStatus, GetKeyPolicy, ListAliases, ListResourceTags");
        assert_eq!(observed.props["policy"], policy());
        assert_eq!(observed.props["enable_key_rotation"], json!(false));
        assert!(!observed.props.contains_key("alias"));
    }

    /// A batch read lists the account's aliases once, not once per key.
    #[tokio::test]
    async fn read_many_lists_aliases_once() {
        const OTHER: &str = "5678efgh-12ab-34cd-56ef-1234567890ab";
        let describe = mock!(Client::describe_key).then_compute_output(|r| {
            let id = r.key_id().unwrap_or_default().to_string();
            let meta =
                KeyMetadata::builder().key_id(&id).arn(format!("arn:aws:kms:us-east-1:111122223333:key/{id}")).key_state(KeyState::Enabled).build().unwrap();
            DescribeKeyOutput::builder().key_metadata(meta).build()
        });
        let rotation = mock!(Client::get_key_rotation_status).then_output(|| GetKeyRotationStatusOutput::builder().key_rotation_enabled(false).build());
        let policy_rule = mock!(Client::get_key_policy).then_output(|| GetKeyPolicyOutput::builder().policy(policy().to_string()).build());
        let tags = mock!(Client::list_resource_tags).then_output(|| ListResourceTagsOutput::builder().build());
        let aliases = mock!(Client::list_aliases).match_requests(|r| r.key_id().is_none()).then_output(|| {
            ListAliasesOutput::builder()
                .aliases(AliasListEntry::builder().alias_name("alias/data").target_key_id(KEY).build())
                .aliases(AliasListEntry::builder().alias_name("alias/aws/s3").target_key_id("aws-managed").build())
                .aliases(AliasListEntry::builder().alias_name("alias/logs").target_key_id(OTHER).build())
                .aliases(AliasListEntry::builder().alias_name("alias/archive").target_key_id(OTHER).build())
                .build()
        });
        let third = "9abcdef0-12ab-34cd-56ef-1234567890ab";
        let out =
            kind(&[&describe, &rotation, &policy_rule, &tags, &aliases]).read_many(&[KEY.to_string(), OTHER.to_string(), third.to_string()]).await.unwrap();
        assert_eq!(aliases.num_calls(), 1);
        assert_eq!(describe.num_calls(), 3);
        assert_eq!(out[KEY].as_ref().unwrap().props["alias"], json!("alias/data"));
        assert_eq!(out[OTHER].as_ref().unwrap().props["alias"], json!("alias/archive"), "the first alias by name, as read reports it");
        assert!(!out[third].as_ref().unwrap().props.contains_key("alias"));
    }

    #[tokio::test]
    async fn invalid_props_fail_before_any_call() {
        // No rules: any call would panic in the mock interceptor.
        let k = kind(&[]);
        for props in [
            json!({"deletion_window_in_days": 3}),
            json!({"alias": "platform-data"}),
            json!({"alias": "alias/aws/s3"}),
            json!({"key_spec": "RSA_2048", "key_usage": "SIGN_VERIFY", "enable_key_rotation": true}),
        ] {
            assert!(matches!(k.create(&desired(props.clone())).await, Err(ProviderError::Invalid(_))), "{props}");
        }
    }

    #[tokio::test]
    async fn read_of_missing_key_is_none() {
        let describe = mock!(Client::describe_key)
            .then_error(|| DescribeKeyError::NotFoundException(NotFoundException::builder().meta(error("NotFoundException")).build()));
        assert_eq!(kind(&[&describe]).read(KEY).await.unwrap(), None);
    }

    #[tokio::test]
    async fn read_of_key_pending_deletion_is_none() {
        let describe = mock!(Client::describe_key).then_output(|| DescribeKeyOutput::builder().key_metadata(metadata(KeyState::PendingDeletion)).build());
        assert_eq!(kind(&[&describe]).read(KEY).await.unwrap(), None);
    }

    #[tokio::test]
    async fn read_reports_window_from_tag_and_hides_it() {
        let reads = read_rules(&[("team", "data"), (WINDOW_TAG, "12")]);
        let rules: Vec<&Rule> = reads.iter().collect();
        let observed = kind(&rules).read(KEY).await.unwrap().unwrap();
        assert_eq!(observed.props["deletion_window_in_days"], json!(12));
        assert_eq!(observed.props["enable_key_rotation"], json!(true));
        assert_eq!(observed.props["policy"], policy());
        assert_eq!(observed.props["alias"], json!("alias/data"));
        assert_eq!(observed.tags, Tags::from([("team".to_string(), "data".to_string())]));
    }

    #[tokio::test]
    async fn access_denied_is_classified() {
        let describe = mock!(Client::describe_key).then_error(|| DescribeKeyError::generic(error("AccessDeniedException")));
        assert!(matches!(kind(&[&describe]).read(KEY).await, Err(ProviderError::AccessDenied(_))));
    }

    #[tokio::test]
    async fn delete_of_missing_key_is_ok() {
        let describe = mock!(Client::describe_key)
            .then_error(|| DescribeKeyError::NotFoundException(NotFoundException::builder().meta(error("NotFoundException")).build()));
        kind(&[&describe]).delete(KEY).await.unwrap();
    }

    #[tokio::test]
    async fn delete_of_key_pending_deletion_is_ok() {
        let describe = mock!(Client::describe_key).then_output(|| DescribeKeyOutput::builder().key_metadata(metadata(KeyState::PendingDeletion)).build());
        kind(&[&describe]).delete(KEY).await.unwrap();
    }

    #[tokio::test]
    async fn delete_removes_alias_and_uses_window_tag() {
        let reads = read_rules(&[(WINDOW_TAG, "9")]);
        let unalias = mock!(Client::delete_alias).match_requests(|r| r.alias_name() == Some("alias/data")).then_output(|| DeleteAliasOutput::builder().build());
        let schedule = mock!(Client::schedule_key_deletion)
            .match_requests(|r| r.key_id() == Some(KEY) && r.pending_window_in_days() == Some(9))
            .then_output(|| ScheduleKeyDeletionOutput::builder().build());
        let mut rules: Vec<&Rule> = reads.iter().collect();
        rules.extend([&unalias, &schedule]);
        kind(&rules).delete(KEY).await.unwrap();
        assert_eq!((unalias.num_calls(), schedule.num_calls()), (1, 1));
        for operation in ["DescribeKey", "ListResourceTags", "ListAliases", "DeleteAlias", "ScheduleKeyDeletion"] {
            assert!(DELETE_ACTIONS.contains(&action_of(operation).as_str()), "{operation} missing from Delete's IAM actions");
        }
    }

    #[tokio::test]
    async fn update_touches_only_changed_props() {
        let describe_text = mock!(Client::update_key_description)
            .match_requests(|r| r.key_id() == Some(KEY) && r.description() == Some("new"))
            .then_output(|| UpdateKeyDescriptionOutput::builder().build());
        let reads = read_rules(&[]);
        let mut rules = vec![&describe_text];
        rules.extend(reads.iter());
        // Rotation, policy and alias differ from what the mocks report, but are not in `changed`:
        // calling their APIs would hit a missing rule and panic.
        let d = desired(json!({"description": "new", "enable_key_rotation": false, "alias": "alias/other", "policy": {}}));
        kind(&rules).update(KEY, &d, &["description".to_string()]).await.unwrap();
        assert_eq!(describe_text.num_calls(), 1);
    }

    #[tokio::test]
    async fn alias_held_by_a_foreign_key_is_a_conflict() {
        let create = mock!(Client::create_key).then_output(|| CreateKeyOutput::builder().key_metadata(metadata(KeyState::Enabled)).build());
        let alias = mock!(Client::create_alias)
            .then_error(|| CreateAliasError::AlreadyExistsException(AlreadyExistsException::builder().meta(error("AlreadyExistsException")).build()));
        let holder = mock!(Client::describe_key).match_requests(|r| r.key_id() == Some("alias/data")).then_output(|| {
            let other = KeyMetadata::builder().key_id("other-key").key_state(KeyState::Enabled).build().unwrap();
            DescribeKeyOutput::builder().key_metadata(other).build()
        });
        let holder_tags = mock!(Client::list_resource_tags)
            .match_requests(|r| r.key_id() == Some("other-key"))
            .then_output(|| ListResourceTagsOutput::builder().tags(kms_tag("cairn:stack", "someone-else").unwrap()).build());
        let d = desired(json!({"alias": "alias/data"}));
        let result = kind(&[&create, &alias, &holder, &holder_tags]).create(&d).await;
        assert!(
            matches!(&result, Err(ProviderError::Conflict(m)) if m.contains("alias/data") && m.contains("other-key") && m.contains("someone-else")),
            "{result:?}"
        );
    }

    #[test]
    fn update_actions_cover_read() {
        for action in READ_ACTIONS {
            assert!(UPDATE_ACTIONS.contains(action) && CREATE_ACTIONS.contains(action), "{action}");
        }
    }
}
