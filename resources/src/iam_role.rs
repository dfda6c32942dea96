//! `aws.iam.role`: an IAM role with its trust policy, inline policies and attached managed policies.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_iam::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Map, Value};

use aws_sdk_iam::error::ProvideErrorMetadata;

use crate::adopt::adopt_or;
use crate::aws::AwsContext;
use crate::error::{classify, found, gone, SdkResultExt};
use crate::iam_policy::{decode_document, document_text, document_value, fit_name, iam_path_rule, iam_tags, IAM_DESCRIPTION, IAM_NAME_CHARS, IAM_PATH};
use crate::tags::tag_changes;

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

pub struct IamRole {
    client: Client,
}

/// The desired value of a prop, falling back to the schema default.
fn value(desired: &Desired, name: &str) -> Option<Value> {
    desired.props.get(name).filter(|v| !v.is_null()).cloned().or_else(|| SCHEMA.prop(name)?.default.and_then(|json| serde_json::from_str(json).ok()))
}

fn invalid(message: String) -> ProviderError {
    ProviderError::Invalid(format!("{}: {message}", SCHEMA.kind))
}

fn string_value(desired: &Desired, name: &str) -> Result<String, ProviderError> {
    match value(desired, name) {
        Some(Value::String(s)) => Ok(s),
        None => Ok(String::new()),
        Some(_) => Err(invalid(format!("{name} must be a string"))),
    }
}

fn max_session_duration(desired: &Desired) -> Result<i32, ProviderError> {
    value(desired, "max_session_duration")
        .and_then(|v| v.as_i64())
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| invalid("max_session_duration must be an integer number of seconds".into()))
}

fn trust_policy(desired: &Desired) -> Result<String, ProviderError> {
    value(desired, "assume_role_policy").map(|v| document_text(&v)).ok_or_else(|| invalid("assume_role_policy is required".into()))
}

fn inline_policies(desired: &Desired) -> Result<Map<String, Value>, ProviderError> {
    match value(desired, "inline_policies") {
        None => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(invalid("inline_policies must be a map of policy name to policy document".into())),
    }
}

fn managed_policy_arns(desired: &Desired) -> Result<BTreeSet<String>, ProviderError> {
    let shape = || invalid("managed_policy_arns must be a list of policy ARNs".into());
    match value(desired, "managed_policy_arns") {
        None => Ok(BTreeSet::new()),
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().map(str::to_string).ok_or_else(shape)).collect(),
        Some(_) => Err(shape()),
    }
}

/// The boundary policy's ARN, if the role has one.
fn permissions_boundary(desired: &Desired) -> Result<Option<String>, ProviderError> {
    match value(desired, "permissions_boundary") {
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid("permissions_boundary must be a policy ARN".into())),
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
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.iam())
    }

    pub fn from_client(client: Client) -> Self {
        IamRole { client }
    }

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
        let (set, remove) = tag_changes(current, desired);
        if !set.is_empty() {
            self.client.tag_role().role_name(role).set_tags(Some(iam_tags(&set)?)).send().await.op("TagRole")?;
        }
        if !remove.is_empty() {
            self.client.untag_role().role_name(role).set_tag_keys(Some(remove)).send().await.op("UntagRole")?;
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for IamRole {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let Some(out) = found(self.client.get_role().role_name(id).send().await.op("GetRole"))? else {
            return Ok(None);
        };
        let Some(role) = out.role() else {
            return Ok(None);
        };
        let Some(inline) = found(self.inline_documents(id).await)? else {
            return Ok(None);
        };
        let Some(managed) = found(self.attached_arns(id).await)? else {
            return Ok(None);
        };

        let mut props = Props::new();
        props.insert("name".into(), json!(role.role_name()));
        props.insert("path".into(), json!(role.path()));
        props.insert("description".into(), json!(role.description().unwrap_or_default()));
        props.insert("assume_role_policy".into(), role.assume_role_policy_document().map(decode_document).unwrap_or(Value::Null));
        props.insert("max_session_duration".into(), json!(role.max_session_duration().unwrap_or(3600)));
        props.insert("inline_policies".into(), Value::Object(inline));
        // A BTreeSet, so the list is sorted.
        props.insert("managed_policy_arns".into(), json!(managed));
        if let Some(boundary) = role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()) {
            props.insert("permissions_boundary".into(), json!(boundary));
        }

        let mut attrs = Props::new();
        attrs.insert("arn".into(), json!(role.arn()));
        attrs.insert("unique_id".into(), json!(role.role_id()));
        attrs.insert("name".into(), json!(role.role_name()));
        let tags = role.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        Ok(Some(Observed { id: role.role_name().to_string(), props, attrs, tags }))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let CreateRequest { name, path, trust, description, max_session_duration, permissions_boundary, inline, managed } = create_request(desired)?;
        let tags = (!desired.tags.is_empty()).then(|| iam_tags(&desired.tags)).transpose()?;
        let created = self
            .client
            .create_role()
            .role_name(&name)
            .path(path)
            .assume_role_policy_document(trust)
            .set_description(description)
            .max_session_duration(max_session_duration)
            // Given at creation: a deploy policy may allow CreateRole only with the boundary.
            .set_permissions_boundary(permissions_boundary)
            .set_tags(tags)
            .send()
            .await;
        match created {
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
        self.read(&name).await?.ok_or_else(|| ProviderError::Retryable(format!("CreateRole: {name} is not readable yet")))
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
            Operation::Read => &["iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies"],
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
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_iam::operation::attach_role_policy::{AttachRolePolicyInput, AttachRolePolicyOutput};
    use aws_sdk_iam::operation::create_role::{CreateRoleInput, CreateRoleOutput};
    use aws_sdk_iam::operation::delete_role::DeleteRoleOutput;
    use aws_sdk_iam::operation::delete_role_policy::{DeleteRolePolicyInput, DeleteRolePolicyOutput};
    use aws_sdk_iam::operation::detach_role_policy::{DetachRolePolicyInput, DetachRolePolicyOutput};
    use aws_sdk_iam::operation::get_role::GetRoleOutput;
    use aws_sdk_iam::operation::get_role_policy::GetRolePolicyOutput;
    use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
    use aws_sdk_iam::operation::list_instance_profiles_for_role::ListInstanceProfilesForRoleOutput;
    use aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput;
    use aws_sdk_iam::operation::put_role_policy::{PutRolePolicyInput, PutRolePolicyOutput};
    use aws_sdk_iam::operation::remove_role_from_instance_profile::{RemoveRoleFromInstanceProfileInput, RemoveRoleFromInstanceProfileOutput};
    use aws_sdk_iam::operation::tag_role::{TagRoleInput, TagRoleOutput};
    use aws_sdk_iam::operation::untag_role::{UntagRoleInput, UntagRoleOutput};
    use aws_sdk_iam::primitives::DateTime;
    use aws_sdk_iam::types::{AttachedPolicy, InstanceProfile, Role};
    use aws_smithy_mocks::{mock, Rule};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use cairn_engine::provider::Owner;

    use super::*;

    const NAME: &str = "shop-dev-worker";
    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    const READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:ReceiveMessage","Resource":"*"}]}"#;
    const BASIC: &str = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
    const XRAY: &str = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess";

    fn kind(rules: &[Rule]) -> IamRole {
        IamRole::from_client(crate::mocked_client!(aws_sdk_iam, rules))
    }

    fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: "role.worker".into() }
    }

    fn desired(props: Value) -> Desired {
        Desired {
            props: props.as_object().unwrap().clone(),
            tags: owner().tags(),
            owner: owner(),
            default_name: NAME.into(),
            idempotency_token: "token".into(),
        }
    }

    fn doc(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn no_such_entity() -> HttpResponse {
        let body = "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
                    <Code>NoSuchEntity</Code><Message>The role cannot be found.</Message></Error><RequestId>r</RequestId></ErrorResponse>";
        HttpResponse::new(StatusCode::try_from(404).unwrap(), SdkBody::from(body))
    }

    /// Requests a mock received, for asserting on their shape.
    type Seen<I> = Arc<Mutex<Vec<I>>>;

    /// One handle to assert on and one to move into the mock.
    fn capture<I>() -> (Seen<I>, Seen<I>) {
        let seen: Seen<I> = Arc::default();
        (seen.clone(), seen)
    }

    /// GetRole and the listings as IAM returns them: documents URL-encoded, managed policies unsorted.
    fn read_rules(tags: Tags, inline: &[(&str, &str)], managed: &[&str]) -> Vec<Rule> {
        let get = mock!(Client::get_role).then_output(move || {
            let role = Role::builder()
                .path("/")
                .role_name(NAME)
                .role_id("AROA0000")
                .arn(format!("arn:aws:iam::123456789012:role/{NAME}"))
                .create_date(DateTime::from_secs(0))
                .assume_role_policy_document(urlencoding::encode(TRUST).into_owned())
                .max_session_duration(7200)
                .set_tags(Some(iam_tags(&tags).unwrap()))
                .build()
                .unwrap();
            GetRoleOutput::builder().role(role).build()
        });
        let inline: Vec<(String, String)> = inline.iter().map(|(n, d)| (n.to_string(), d.to_string())).collect();
        let names: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
        let list_inline =
            mock!(Client::list_role_policies).then_output(move || ListRolePoliciesOutput::builder().set_policy_names(Some(names.clone())).build().unwrap());
        let get_inline = mock!(Client::get_role_policy).then_compute_output(move |input| {
            let name = input.policy_name().unwrap();
            let text = &inline.iter().find(|(n, _)| n == name).unwrap().1;
            GetRolePolicyOutput::builder().role_name(NAME).policy_name(name).policy_document(urlencoding::encode(text).into_owned()).build().unwrap()
        });
        let managed: Vec<String> = managed.iter().map(|s| s.to_string()).collect();
        let list_managed = mock!(Client::list_attached_role_policies).then_output(move || {
            let attached = managed.iter().map(|arn| AttachedPolicy::builder().policy_arn(arn).build()).collect();
            ListAttachedRolePoliciesOutput::builder().set_attached_policies(Some(attached)).build()
        });
        vec![get, list_inline, get_inline, list_managed]
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let trust = doc(TRUST);
        for props in [
            json!({}),
            json!({"assume_role_policy": trust, "max_session_duration": 600}),
            json!({"assume_role_policy": trust, "max_session_duration": "3600"}),
            json!({"assume_role_policy": trust, "inline_policies": [doc(READ)]}),
            json!({"assume_role_policy": trust, "inline_policies": {"read orders": doc(READ)}}),
            json!({"assume_role_policy": trust, "inline_policies": {"read": 7}}),
            json!({"assume_role_policy": trust, "managed_policy_arns": XRAY}),
            json!({"assume_role_policy": trust, "managed_policy_arns": ["arn:short"]}),
            json!({"assume_role_policy": trust, "path": "service"}),
            json!({"assume_role_policy": trust, "permissions_boundary": 7}),
            json!({"assume_role_policy": trust, "description": "d".repeat(1_001)}),
        ] {
            let d = desired(props.clone());
            assert!(create_request(&d).is_err(), "builder accepts {props}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes a CreateRole request with a name IAM accepts.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            let req = create_request(&desired(Value::Object(props)));
            proptest::prop_assert!(req.is_ok(), "{:?}", req.err());
            let req = req.unwrap();
            proptest::prop_assert!(NAMING.rule.violation(&req.name).is_none(), "{}", req.name);
            proptest::prop_assert!((3_600..=43_200).contains(&req.max_session_duration));
        }
    }

    #[test]
    fn derived_names_fit_iam_limit() {
        let mut d = desired(json!({}));
        d.default_name = "a-very-long-stack-name-production-eu-west-1-module-worker-role-extra".into();
        assert!(role_name(&d).len() <= 64);
        d.props.insert("name".into(), json!("explicit"));
        assert_eq!(role_name(&d), "explicit");
    }

    #[tokio::test]
    async fn create_sends_trust_policy_tags_and_policies() {
        let (created, sink) = capture::<CreateRoleInput>();
        let create = mock!(Client::create_role).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateRoleOutput::builder().build()
        });
        let (put, sink) = capture::<PutRolePolicyInput>();
        let put_rule = mock!(Client::put_role_policy).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            PutRolePolicyOutput::builder().build()
        });
        let (attached, sink) = capture::<AttachRolePolicyInput>();
        let attach_rule = mock!(Client::attach_role_policy).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            AttachRolePolicyOutput::builder().build()
        });
        let want = desired(json!({
            "assume_role_policy": doc(TRUST),
            "max_session_duration": 7200,
            "inline_policies": {"read": doc(READ)},
            "managed_policy_arns": [XRAY, BASIC],
        }));
        let mut rules = vec![create, put_rule, attach_rule];
        rules.extend(read_rules(want.tags.clone(), &[("read", READ)], &[XRAY, BASIC]));
        let obs = kind(&rules).create(&want).await.unwrap();

        let input = created.lock().unwrap().pop().unwrap();
        assert_eq!(input.role_name(), Some(NAME));
        assert_eq!(input.path(), Some("/"));
        assert_eq!(input.max_session_duration(), Some(7200));
        assert_eq!(input.description(), None);
        assert_eq!(doc(input.assume_role_policy_document().unwrap()), doc(TRUST));
        let sent: Tags = input.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        assert_eq!(sent, want.tags);

        let put = put.lock().unwrap();
        assert_eq!(put.len(), 1);
        assert_eq!((put[0].policy_name(), doc(put[0].policy_document().unwrap())), (Some("read"), doc(READ)));
        let mut arns: Vec<String> = attached.lock().unwrap().iter().map(|i| i.policy_arn().unwrap().to_string()).collect();
        arns.sort();
        assert_eq!(arns, [XRAY, BASIC]);

        assert_eq!(obs.id, NAME);
        assert_eq!(obs.tags, want.tags);
    }

    #[tokio::test]
    async fn read_decodes_documents_and_sorts_managed_arns() {
        let obs = kind(&read_rules(owner().tags(), &[("read", READ)], &[BASIC, XRAY])).read(NAME).await.unwrap().unwrap();
        assert_eq!(
            Value::Object(obs.props),
            json!({
                "name": NAME,
                "path": "/",
                "description": "",
                "assume_role_policy": doc(TRUST),
                "max_session_duration": 7200,
                "inline_policies": {"read": doc(READ)},
                "managed_policy_arns": [XRAY, BASIC],
            })
        );
        assert_eq!(obs.attrs["unique_id"], json!("AROA0000"));
        assert_eq!(obs.tags, owner().tags());
    }

    #[tokio::test]
    async fn read_of_missing_role_is_none() {
        let get = mock!(Client::get_role).then_http_response(no_such_entity);
        assert_eq!(kind(&[get]).read(NAME).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_of_missing_role_is_ok() {
        let list = mock!(Client::list_attached_role_policies).then_http_response(no_such_entity);
        kind(&[list]).delete(NAME).await.unwrap();
    }

    #[tokio::test]
    async fn delete_empties_the_role_first() {
        let (detached, sink) = capture::<DetachRolePolicyInput>();
        let detach = mock!(Client::detach_role_policy).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            DetachRolePolicyOutput::builder().build()
        });
        let (deleted, sink) = capture::<DeleteRolePolicyInput>();
        let delete_inline = mock!(Client::delete_role_policy).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            DeleteRolePolicyOutput::builder().build()
        });
        let profiles = mock!(Client::list_instance_profiles_for_role).then_output(|| {
            let profile = InstanceProfile::builder()
                .path("/")
                .instance_profile_name("worker-profile")
                .instance_profile_id("AIPA0000")
                .arn("arn:aws:iam::123456789012:instance-profile/worker-profile")
                .create_date(DateTime::from_secs(0))
                .set_roles(Some(vec![]))
                .build()
                .unwrap();
            ListInstanceProfilesForRoleOutput::builder().instance_profiles(profile).build().unwrap()
        });
        let (removed, sink) = capture::<RemoveRoleFromInstanceProfileInput>();
        let remove = mock!(Client::remove_role_from_instance_profile).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            RemoveRoleFromInstanceProfileOutput::builder().build()
        });
        let delete = mock!(Client::delete_role).then_output(|| DeleteRoleOutput::builder().build());
        let mut rules = read_rules(owner().tags(), &[("read", READ)], &[BASIC]);
        rules.extend([detach, delete_inline, profiles, remove, delete.clone()]);
        kind(&rules).delete(NAME).await.unwrap();

        assert_eq!(detached.lock().unwrap()[0].policy_arn(), Some(BASIC));
        assert_eq!(deleted.lock().unwrap()[0].policy_name(), Some("read"));
        assert_eq!(removed.lock().unwrap()[0].instance_profile_name(), Some("worker-profile"));
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn update_syncs_policies_and_only_touches_what_changed() {
        let (put, sink) = capture::<PutRolePolicyInput>();
        let put_rule = mock!(Client::put_role_policy).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            PutRolePolicyOutput::builder().build()
        });
        let (deleted, sink) = capture::<DeleteRolePolicyInput>();
        let delete_inline = mock!(Client::delete_role_policy).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            DeleteRolePolicyOutput::builder().build()
        });
        let (attached, sink) = capture::<AttachRolePolicyInput>();
        let attach = mock!(Client::attach_role_policy).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            AttachRolePolicyOutput::builder().build()
        });
        let (detached, sink) = capture::<DetachRolePolicyInput>();
        let detach = mock!(Client::detach_role_policy).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            DetachRolePolicyOutput::builder().build()
        });
        let mut rules = read_rules(owner().tags(), &[("read", READ), ("old", READ)], &[BASIC]);
        rules.extend([put_rule, delete_inline, attach, detach]);
        let want = desired(json!({
            "assume_role_policy": doc(TRUST),
            // "read" is unchanged (given as text this time), "new" is added, "old" goes.
            "inline_policies": {"read": READ, "new": doc(READ)},
            "managed_policy_arns": [XRAY],
        }));
        kind(&rules).update(NAME, &want, &["inline_policies".into(), "managed_policy_arns".into()]).await.unwrap();

        assert_eq!(put.lock().unwrap().iter().map(|i| i.policy_name().unwrap()).collect::<Vec<_>>(), ["new"]);
        assert_eq!(deleted.lock().unwrap().iter().map(|i| i.policy_name().unwrap()).collect::<Vec<_>>(), ["old"]);
        assert_eq!(attached.lock().unwrap().iter().map(|i| i.policy_arn().unwrap()).collect::<Vec<_>>(), [XRAY]);
        assert_eq!(detached.lock().unwrap().iter().map(|i| i.policy_arn().unwrap()).collect::<Vec<_>>(), [BASIC]);
    }

    #[tokio::test]
    async fn update_of_tags_adds_and_removes_the_difference() {
        let mut current = owner().tags();
        current.insert("old".into(), "1".into());
        let (tagged, sink) = capture::<TagRoleInput>();
        let tag = mock!(Client::tag_role).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            TagRoleOutput::builder().build()
        });
        let (untagged, sink) = capture::<UntagRoleInput>();
        let untag = mock!(Client::untag_role).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            UntagRoleOutput::builder().build()
        });
        let mut rules = read_rules(current, &[], &[]);
        rules.extend([tag, untag]);
        let mut want = desired(json!({"assume_role_policy": doc(TRUST)}));
        want.tags.insert("team".into(), "payments".into());
        kind(&rules).update(NAME, &want, &["tags".into()]).await.unwrap();

        let tagged = tagged.lock().unwrap();
        let sent: Vec<(&str, &str)> = tagged[0].tags().iter().map(|t| (t.key(), t.value())).collect();
        assert_eq!(sent, [("team", "payments")]);
        assert_eq!(untagged.lock().unwrap()[0].tag_keys(), ["old".to_string()]);
    }

    #[tokio::test]
    async fn find_owned_requires_the_ownership_tags() {
        let want = desired(json!({"assume_role_policy": doc(TRUST)}));
        assert!(kind(&read_rules(owner().tags(), &[], &[])).find_owned(&want).await.unwrap().is_some());
        assert!(kind(&read_rules(Tags::new(), &[], &[])).find_owned(&want).await.unwrap().is_none());
    }

    const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/workload-boundary";

    #[tokio::test]
    async fn create_sends_the_permissions_boundary_and_read_returns_it() {
        let (created, sink) = capture::<CreateRoleInput>();
        let create = mock!(Client::create_role).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateRoleOutput::builder().build()
        });
        let get = mock!(Client::get_role).then_output(|| {
            let boundary = aws_sdk_iam::types::AttachedPermissionsBoundary::builder()
                .permissions_boundary_arn(BOUNDARY)
                .permissions_boundary_type(aws_sdk_iam::types::PermissionsBoundaryAttachmentType::Policy)
                .build();
            let role = Role::builder()
                .path("/")
                .role_name(NAME)
                .role_id("AROA0000")
                .arn(format!("arn:aws:iam::123456789012:role/{NAME}"))
                .create_date(DateTime::from_secs(0))
                .assume_role_policy_document(urlencoding::encode(TRUST).into_owned())
                .permissions_boundary(boundary)
                .build()
                .unwrap();
            GetRoleOutput::builder().role(role).build()
        });
        let mut rules = vec![create, get];
        rules.extend(read_rules(owner().tags(), &[], &[]).into_iter().skip(1));
        let want = desired(json!({ "assume_role_policy": doc(TRUST), "permissions_boundary": BOUNDARY }));
        let obs = kind(&rules).create(&want).await.unwrap();
        assert_eq!(created.lock().unwrap()[0].permissions_boundary(), Some(BOUNDARY));
        assert_eq!(obs.props["permissions_boundary"], json!(BOUNDARY));
    }

    #[tokio::test]
    async fn update_sets_the_boundary_before_the_policies_and_removes_it_when_dropped() {
        use aws_sdk_iam::operation::delete_role_permissions_boundary::DeleteRolePermissionsBoundaryOutput;
        use aws_sdk_iam::operation::put_role_permissions_boundary::PutRolePermissionsBoundaryOutput;
        let order: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let (o1, o2, o3) = (order.clone(), order.clone(), order.clone());
        let put_boundary = mock!(Client::put_role_permissions_boundary).then_compute_output(move |input| {
            assert_eq!(input.permissions_boundary(), Some(BOUNDARY));
            o1.lock().unwrap().push("boundary");
            PutRolePermissionsBoundaryOutput::builder().build()
        });
        let put_policy = mock!(Client::put_role_policy).then_compute_output(move |_| {
            o2.lock().unwrap().push("policy");
            PutRolePolicyOutput::builder().build()
        });
        let delete_boundary = mock!(Client::delete_role_permissions_boundary).then_compute_output(move |_| {
            o3.lock().unwrap().push("removed");
            DeleteRolePermissionsBoundaryOutput::builder().build()
        });
        let mut rules = read_rules(owner().tags(), &[], &[]);
        rules.extend([put_boundary, put_policy, delete_boundary]);
        let k = kind(&rules);
        let want = desired(json!({ "assume_role_policy": doc(TRUST), "permissions_boundary": BOUNDARY, "inline_policies": { "read": doc(READ) } }));
        k.update(NAME, &want, &["inline_policies".into(), "permissions_boundary".into()]).await.unwrap();
        let dropped = desired(json!({ "assume_role_policy": doc(TRUST) }));
        k.update(NAME, &dropped, &["permissions_boundary".into()]).await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["boundary", "policy", "removed"]);
    }

    fn already_exists() -> Rule {
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code("EntityAlreadyExists").message("Role with name exists.").build();
        mock!(Client::create_role).then_error(move || aws_sdk_iam::operation::create_role::CreateRoleError::generic(meta.clone()))
    }

    #[tokio::test]
    async fn create_answered_already_exists_adopts_our_role() {
        let create = already_exists();
        let mut rules = read_rules(owner().tags(), &[], &[]);
        rules.push(create.clone());
        let want = desired(json!({"assume_role_policy": doc(TRUST), "max_session_duration": 7200}));
        assert_eq!(kind(&rules).create(&want).await.unwrap().id, NAME);
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn create_answered_already_exists_refuses_a_role_that_is_not_ours() {
        let mut rules = read_rules(Tags::new(), &[], &[]);
        rules.push(already_exists());
        let want = desired(json!({"assume_role_policy": doc(TRUST), "max_session_duration": 7200}));
        crate::adopt::testing::assert_refused(kind(&rules).create(&want).await, &format!("IAM role {NAME}"));
    }
}
