//! `aws.iam.role`: an IAM role with its trust policy, inline policies and attached managed policies.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_iam::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{Map, Value};

use aws_sdk_iam::error::ProvideErrorMetadata;

use crate::adopt::adopt_or;
use crate::error::{classify, found, gone, SdkResultExt};
use crate::iam_policy::{decode_document, document_text, document_value, fit_name, iam_path_rule, iam_tags, IAM_DESCRIPTION, IAM_NAME_CHARS, IAM_PATH};
use crate::kit::defaults::wanted;
use crate::kit::errors::invalid;
use crate::kit::tagging;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.iam.role",
    doc: "An IAM role: who may assume it (trust policy) and what it may do (inline and managed policies).",
    props: &[
        PropSpec::new("name", PropType::String, "Role name (at most 64 characters); defaults to a name derived from stack, env and address.")
            .force_new()
            .naming(NAMING),
        PropSpec::new("path", IAM_PATH, "IAM path, e.g. `/service/`.").force_new().default("\"/\"").rule(iam_path_rule),
        PropSpec::new("description", IAM_DESCRIPTION, "Description.").default("\"\""),
        PropSpec::new("assume_role_policy", PropType::Policy, "Trust policy: which principals may assume the role.").required(),
        PropSpec::new("max_session_duration", PropType::IntRange(3_600, 43_200), "Longest session, in seconds, when assuming the role (3600-43200).")
            .default("3600"),
        // A map whose keys are the user's policy names: no fixed fields, so its shape is a rule.
        PropSpec::new("inline_policies", PropType::Object, "Inline policies: a map of policy name to policy document.")
            .default("{}")
            .rule(inline_policies_rule),
        PropSpec::new("managed_policy_arns", PropType::List(&PropType::Text(TextRule::len(20, 2_048))), "ARNs of managed policies to attach.")
            .default("[]"),
        PropSpec::new(
            "permissions_boundary",
            // Empty means no boundary, overriding the stack's.
            PropType::Text(TextRule::len(0, 2_048)),
            "ARN of the managed policy that caps what the role may do, whatever its policies allow; defaults to the stack's `policy.permissions_boundary`.",
        ),
        PropSpec::new(
            "grants",
            PropType::Object,
            "What the role may do, compiled by cairn into the inline policy `cairn-grants`: [{ consume: ${queue.arn} }, { publish: ${topic.arn} }, { read: ${bucket.arn} }, { write: ... }, { encrypt: ${key.arn} }, { decrypt: ... }].",
        )
        .local(),
    ],
    attrs: &["arn", "unique_id", "name"],
    taggable: true,
    rules: &[],
};

/// Role names: up to 64 characters, letters, digits and `_+=,.@-`; unique per account (IAM
/// is global), whatever their case.
pub const NAMING: Naming = Naming::new(TextRule::len(1, 64).chars(IAM_NAME_CHARS), NameScope::Account);

/// Inline policy names (PutRolePolicy): up to 128 characters of the IAM name characters.
const INLINE_NAME: TextRule = TextRule::len(1, 128).chars(IAM_NAME_CHARS);

/// `inline_policies` is a mapping of policy name to a policy document (JSON text or a mapping).
fn inline_policies_rule(policies: &Value) -> Vec<String> {
    let Some(map) = policies.as_object() else {
        return vec!["must be a mapping of policy name to policy document".into()];
    };
    let mut out = vec![];
    for (name, doc) in map {
        if let Some(why) = INLINE_NAME.violation(name) {
            out.push(format!("policy name \"{name}\" {why}"));
        }
        if !(doc.is_object() || doc.is_string()) {
            out.push(format!("`{name}` must be a policy document"));
        }
    }
    out
}

mod read;

crate::kit::client::client_kind!(IamRole, Client, iam);

fn string_value(desired: &Desired, name: &str) -> Result<String, ProviderError> {
    match wanted(&SCHEMA, desired, name) {
        Some(Value::String(s)) => Ok(s),
        None => Ok(String::new()),
        Some(_) => Err(invalid(SCHEMA.kind, format!("{name} must be a string"))),
    }
}

fn max_session_duration(desired: &Desired) -> Result<i32, ProviderError> {
    wanted(&SCHEMA, desired, "max_session_duration")
        .and_then(|v| v.as_i64())
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| invalid(SCHEMA.kind, "max_session_duration must be an integer number of seconds"))
}

fn trust_policy(desired: &Desired) -> Result<String, ProviderError> {
    wanted(&SCHEMA, desired, "assume_role_policy").map(|v| document_text(&v)).ok_or_else(|| invalid(SCHEMA.kind, "assume_role_policy is required"))
}

fn inline_policies(desired: &Desired) -> Result<Map<String, Value>, ProviderError> {
    match wanted(&SCHEMA, desired, "inline_policies") {
        None => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(invalid(SCHEMA.kind, "inline_policies must be a map of policy name to policy document")),
    }
}

fn managed_policy_arns(desired: &Desired) -> Result<BTreeSet<String>, ProviderError> {
    let shape = || invalid(SCHEMA.kind, "managed_policy_arns must be a list of policy ARNs");
    match wanted(&SCHEMA, desired, "managed_policy_arns") {
        None => Ok(BTreeSet::new()),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(shape)).collect(),
        Some(_) => Err(shape()),
    }
}

/// The boundary policy's ARN, if the role has one.
fn permissions_boundary(desired: &Desired) -> Result<Option<String>, ProviderError> {
    match wanted(&SCHEMA, desired, "permissions_boundary") {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(SCHEMA.kind, "permissions_boundary must be a policy ARN")),
    }
}

/// Explicit names are used as given (IAM rejects bad ones); derived ones are made to fit.
pub fn role_name(desired: &Desired) -> String {
    match desired.str("name") {
        Some(name) => name.to_string(),
        None => fit_name(&desired.default_name, NAMING.rule.max),
    }
}

/// Everything CreateRole and the calls that complete the role are sent, after the schema's
/// checks (values known only at apply were not checked at validate), so a bad value does
/// not leave a half-made role behind.
struct CreateRequest {
    name: String,
    path: String,
    trust: String,
    description: Option<String>,
    max_session_duration: i32,
    permissions_boundary: Option<String>,
    inline: Map<String, Value>,
    managed: BTreeSet<String>,
}

fn create_request(desired: &Desired) -> Result<CreateRequest, ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    let description = string_value(desired, "description")?;
    Ok(CreateRequest {
        name: role_name(desired),
        path: string_value(desired, "path")?,
        trust: trust_policy(desired)?,
        description: (!description.is_empty()).then_some(description),
        max_session_duration: max_session_duration(desired)?,
        permissions_boundary: permissions_boundary(desired)?,
        inline: inline_policies(desired)?,
        managed: managed_policy_arns(desired)?,
    })
}

impl IamRole {
    async fn inline_names(&self, role: &str) -> Result<Vec<String>, ProviderError> {
        self.client.list_role_policies().role_name(role).into_paginator().items().send().try_collect().await.op("ListRolePolicies")
    }

    /// Inline policies by name, documents decoded.
    async fn inline_documents(&self, role: &str) -> Result<Map<String, Value>, ProviderError> {
        let mut out = Map::new();
        for name in self.inline_names(role).await? {
            let doc = self.client.get_role_policy().role_name(role).policy_name(&name).send().await.op("GetRolePolicy");
            // Deleted between the listing and the read: it is no longer there.
            if let Some(doc) = found(doc)? {
                out.insert(name, decode_document(doc.policy_document()));
            }
        }
        Ok(out)
    }

    async fn attached_arns(&self, role: &str) -> Result<BTreeSet<String>, ProviderError> {
        let attached: Vec<_> =
            self.client.list_attached_role_policies().role_name(role).into_paginator().items().send().try_collect().await.op("ListAttachedRolePolicies")?;
        Ok(attached.iter().filter_map(|p| p.policy_arn()).map(str::to_string).collect())
    }

    async fn put_inline(&self, role: &str, name: &str, doc: &Value) -> Result<(), ProviderError> {
        self.client.put_role_policy().role_name(role).policy_name(name).policy_document(document_text(doc)).send().await.op("PutRolePolicy")?;
        Ok(())
    }

    async fn delete_inline(&self, role: &str, name: &str) -> Result<(), ProviderError> {
        let result = self.client.delete_role_policy().role_name(role).policy_name(name).send().await;
        gone(result.map(|_| ()).op("DeleteRolePolicy"))
    }

    async fn attach(&self, role: &str, arn: &str) -> Result<(), ProviderError> {
        self.client.attach_role_policy().role_name(role).policy_arn(arn).send().await.op("AttachRolePolicy")?;
        Ok(())
    }

    async fn detach(&self, role: &str, arn: &str) -> Result<(), ProviderError> {
        let result = self.client.detach_role_policy().role_name(role).policy_arn(arn).send().await;
        gone(result.map(|_| ()).op("DetachRolePolicy"))
    }

    async fn sync_inline(&self, role: &str, desired: &Desired) -> Result<(), ProviderError> {
        let want = inline_policies(desired)?;
        let have = self.inline_documents(role).await?;
        for (name, doc) in &want {
            if have.get(name) != Some(&document_value(doc)) {
                self.put_inline(role, name, doc).await?;
            }
        }
        for name in have.keys().filter(|n| !want.contains_key(*n)) {
            self.delete_inline(role, name).await?;
        }
        Ok(())
    }

    async fn sync_managed(&self, role: &str, desired: &Desired) -> Result<(), ProviderError> {
        let want = managed_policy_arns(desired)?;
        let have = self.attached_arns(role).await?;
        for arn in want.difference(&have) {
            self.attach(role, arn).await?;
        }
        for arn in have.difference(&want) {
            self.detach(role, arn).await?;
        }
        Ok(())
    }

    async fn sync_tags(&self, role: &str, current: &Tags, desired: &Tags) -> Result<(), ProviderError> {
        let set = |set: Tags| async move { self.client.tag_role().role_name(role).set_tags(Some(iam_tags(&set)?)).send().await.map(|_| ()).op("TagRole") };
        let remove =
            |remove: Vec<String>| async move { self.client.untag_role().role_name(role).set_tag_keys(Some(remove)).send().await.map(|_| ()).op("UntagRole") };
        tagging::sync(current, desired, set, remove).await
    }
}

#[async_trait]
impl ResourceKind for IamRole {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        read::read_one(self, id).await
    }

    /// Large batches with the two account-wide listings, small ones role by role, concurrently
    /// (see `read::BULK_MIN` for where the line is drawn and why).
    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        if ids.len() >= read::BULK_MIN {
            read::read_bulk(self, ids).await
        } else {
            let client = self.client.clone();
            crate::read_each::read_each(ids, || IamRole::from_client(client.clone())).await
        }
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let CreateRequest { name, path, trust, description, max_session_duration, permissions_boundary, inline, managed } = create_request(desired)?;
        let tags = (!desired.tags.is_empty()).then(|| iam_tags(&desired.tags)).transpose()?;
        let created = self
            .client
            .create_role()
            .role_name(&name)
            .path(&path)
            .assume_role_policy_document(&trust)
            .set_description(description.clone())
            .max_session_duration(max_session_duration)
            // Given at creation: a deploy policy may allow CreateRole only with the boundary.
            .set_permissions_boundary(permissions_boundary.clone())
            .set_tags(tags)
            .send()
            .await;
        let created = match created {
            // An earlier attempt whose answer was lost made it, or the name is someone else's.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                let existing = self.read(&name).await?;
                return adopt_or(self, desired, &format!("IAM role {name}"), existing, classify("CreateRole", e)).await;
            }
            other => other.op("CreateRole")?,
        };
        for (policy, doc) in &inline {
            self.put_inline(&name, policy, doc).await?;
        }
        for arn in &managed {
            self.attach(&name, arn).await?;
        }
        // IAM has what was sent and CreateRole answered the rest (ARN, id): reading the role
        // back would only return the same.
        let role = created.role().ok_or_else(|| ProviderError::Retryable(format!("CreateRole: {name} answered without the role")))?;
        Ok(read::RoleFacts {
            name: &name,
            path: &path,
            description: description.as_deref().unwrap_or_default(),
            trust: document_value(&Value::String(trust)),
            max_session_duration,
            inline: inline.iter().map(|(policy, doc)| (policy.clone(), document_value(doc))).collect(),
            managed,
            boundary: permissions_boundary.as_deref(),
            arn: role.arn(),
            role_id: role.role_id(),
            tags: desired.tags.clone(),
        }
        .observed())
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        let has = |prop: &str| changed.iter().any(|c| c == prop);
        // First, so the policy changes below happen to a role that already has its boundary
        // (a deploy policy may allow PutRolePolicy only on roles with the boundary).
        if has("permissions_boundary") {
            match permissions_boundary(desired)? {
                Some(arn) => {
                    self.client.put_role_permissions_boundary().role_name(id).permissions_boundary(arn).send().await.op("PutRolePermissionsBoundary")?;
                }
                None => {
                    let result = self.client.delete_role_permissions_boundary().role_name(id).send().await;
                    gone(result.map(|_| ()).op("DeleteRolePermissionsBoundary"))?;
                }
            }
        }
        if has("assume_role_policy") {
            self.client.update_assume_role_policy().role_name(id).policy_document(trust_policy(desired)?).send().await.op("UpdateAssumeRolePolicy")?;
        }
        if has("description") || has("max_session_duration") {
            // Both are always sent: an emulator resets whichever one UpdateRole leaves out.
            self.client
                .update_role()
                .role_name(id)
                .description(string_value(desired, "description")?)
                .max_session_duration(max_session_duration(desired)?)
                .send()
                .await
                .op("UpdateRole")?;
        }
        if has("inline_policies") {
            self.sync_inline(id, desired).await?;
        }
        if has("managed_policy_arns") {
            self.sync_managed(id, desired).await?;
        }
        if has("tags") {
            let role = self.client.get_role().role_name(id).send().await.op("GetRole")?;
            let current = role.role().map(|r| r.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect());
            self.sync_tags(id, &current.unwrap_or_default(), &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        // IAM refuses to delete a role that still has policies or instance profiles.
        let Some(managed) = found(self.attached_arns(id).await)? else {
            return Ok(());
        };
        for arn in &managed {
            self.detach(id, arn).await?;
        }
        let Some(inline) = found(self.inline_names(id).await)? else {
            return Ok(());
        };
        for name in &inline {
            self.delete_inline(id, name).await?;
        }
        let profiles: Result<Vec<_>, _> = self.client.list_instance_profiles_for_role().role_name(id).into_paginator().items().send().try_collect().await;
        let Some(profiles) = found(profiles.op("ListInstanceProfilesForRole"))? else {
            return Ok(());
        };
        for profile in &profiles {
            let result = self.client.remove_role_from_instance_profile().instance_profile_name(profile.instance_profile_name()).role_name(id).send().await;
            gone(result.map(|_| ()).op("RemoveRoleFromInstanceProfile"))?;
        }
        gone(self.client.delete_role().role_name(id).send().await.map(|_| ()).op("DeleteRole"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read(&role_name(desired)).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            // The account-wide listings read large batches (see `read::BULK_MIN`).
            Operation::Read => &[
                "iam:GetRole",
                "iam:ListRolePolicies",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:GetAccountAuthorizationDetails",
                "iam:ListRoles",
            ],
            // TagRole: IAM authorises tags given to CreateRole as a separate action.
            Operation::Create => &[
                "iam:CreateRole",
                "iam:TagRole",
                "iam:PutRolePolicy",
                "iam:AttachRolePolicy",
                "iam:GetRole",
                "iam:ListRolePolicies",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
            ],
            Operation::Update => &[
                "iam:PutRolePermissionsBoundary",
                "iam:DeleteRolePermissionsBoundary",
                "iam:UpdateAssumeRolePolicy",
                "iam:UpdateRole",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:GetRole",
                "iam:ListRolePolicies",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
            ],
            Operation::Delete => &[
                "iam:ListAttachedRolePolicies",
                "iam:DetachRolePolicy",
                "iam:ListRolePolicies",
                "iam:DeleteRolePolicy",
                "iam:ListInstanceProfilesForRole",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteRole",
            ],
        }
    }
}

#[cfg(test)]
mod tests;
