//! `aws.iam.policy`: a customer-managed IAM policy, plus the IAM document and naming helpers `iam_role` shares.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_iam::types::{PolicyScopeType, Tag};
use aws_sdk_iam::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Value};

use aws_sdk_iam::error::ProvideErrorMetadata;

use crate::adopt::adopt_or;
use crate::error::{classify, found, gone, SdkResultExt};
use crate::kit::defaults;
use crate::kit::defaults::wanted;
use crate::kit::tagging;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.iam.policy",
    doc: "A customer-managed IAM policy that roles, users and groups can attach.",
    props: &[
        PropSpec::new("name", PropType::String, "Policy name; defaults to a name derived from stack, env and address.").force_new().naming(NAMING),
        PropSpec::new("path", IAM_PATH, "IAM path, e.g. `/service/`.").force_new().default("\"/\"").rule(iam_path_rule),
        PropSpec::new("description", IAM_DESCRIPTION, "Description; IAM cannot change it after creation.").force_new().default("\"\""),
        PropSpec::new("policy", PropType::Policy, "The policy document.").required(),
    ],
    attrs: &["arn", "policy_id", "name"],
    taggable: true,
    rules: &[],
};

/// Policy names: up to 128 characters, letters, digits and `_+=,.@-`; unique per account
/// (IAM is global), whatever their case.
pub const NAMING: Naming = Naming::new(TextRule::len(1, 128).chars(IAM_NAME_CHARS), NameScope::Account);
/// The characters IAM allows in role, policy and inline policy names besides letters and digits.
pub(crate) const IAM_NAME_CHARS: &str = "_+=,.@-";
/// An IAM path: `/` or `/a/b/`, up to 512 characters (the slashes by `iam_path_rule`).
pub(crate) const IAM_PATH: PropType = PropType::Text(TextRule::len(1, 512));
/// IAM descriptions: up to 1000 characters.
pub(crate) const IAM_DESCRIPTION: PropType = PropType::Text(TextRule::len(0, 1_000));

/// A path begins and ends with `/` and holds printable ASCII (`!` to DEL) only.
pub(crate) fn iam_path_rule(path: &Value) -> Vec<String> {
    let Some(p) = path.as_str() else { return vec![] };
    let mut out = vec![];
    if !(p.starts_with('/') && p.ends_with('/')) {
        out.push(format!("\"{p}\" must begin and end with `/`"));
    }
    if let Some(bad) = p.chars().find(|c| !('!'..='\u{7f}').contains(c)) {
        out.push(format!("may not contain {bad:?} (printable ASCII without spaces only)"));
    }
    out
}

/// IAM keeps at most this many versions of a managed policy.
const MAX_VERSIONS: usize = 5;

/// A policy document as the text IAM expects; a document may be given as a JSON string.
pub(crate) fn document_text(doc: &Value) -> String {
    match doc {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A policy document as JSON, whether given as an object or as JSON text.
pub(crate) fn document_value(doc: &Value) -> Value {
    match doc {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| doc.clone()),
        other => other.clone(),
    }
}

/// IAM returns documents URL-encoded (RFC 3986). Text that already parses as JSON is taken
/// as is, so a literal `%` in an unencoded document is not mangled.
pub(crate) fn decode_document(text: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return v;
    }
    let decoded = urlencoding::decode(text).map(|c| c.into_owned()).unwrap_or_else(|_| text.to_string());
    serde_json::from_str(&decoded).unwrap_or(Value::String(decoded))
}

/// A derived name that fits IAM's length limit: long ones are cut and given a stable hash
/// suffix, so crash recovery finds the same name again.
pub(crate) fn fit_name(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    // FNV-1a: std's hasher is not guaranteed stable across Rust releases.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let suffix = format!("-{:08x}", hash as u32);
    let kept: String = name.chars().take(max - suffix.len()).collect();
    format!("{kept}{suffix}")
}

pub(crate) fn iam_tags(tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(format!("tag {k}: {e}")))).collect()
}

/// A string prop or its schema default (the type checked by the schema first).
fn string_value(desired: &Desired, name: &str) -> String {
    wanted(&SCHEMA, desired, name).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn policy_document(desired: &Desired) -> Result<String, ProviderError> {
    wanted(&SCHEMA, desired, "policy").map(|v| document_text(&v)).ok_or_else(|| ProviderError::Invalid(format!("{}: policy is required", SCHEMA.kind)))
}

/// Explicit names are used as given (validate checked them); derived ones are made to fit.
pub fn policy_name(desired: &Desired) -> String {
    match desired.str("name") {
        Some(name) => name.to_string(),
        None => fit_name(&desired.default_name, NAMING.rule.max),
    }
}

/// What CreatePolicy is sent, after the schema's checks (values known only at apply were
/// not checked at validate).
struct CreateRequest {
    name: String,
    path: String,
    document: String,
    description: Option<String>,
}

fn create_request(desired: &Desired) -> Result<CreateRequest, ProviderError> {
    crate::schema_check::check(&SCHEMA, &desired.props)?;
    let description = string_value(desired, "description");
    Ok(CreateRequest {
        name: policy_name(desired),
        path: string_value(desired, "path"),
        document: policy_document(desired)?,
        description: (!description.is_empty()).then_some(description),
    })
}

/// The number in a version id ("v7" → 7); versions are numbered in creation order.
fn version_number(id: Option<&str>) -> u64 {
    id.and_then(|s| s.trim_start_matches('v').parse().ok()).unwrap_or(u64::MAX)
}

crate::kit::client::client_kind!(IamPolicy, Client, iam);

/// What a policy's props and attrs are made of, from GetPolicy and its default version or
/// from what CreatePolicy was sent and answered.
struct PolicyFacts<'a> {
    name: &'a str,
    path: &'a str,
    description: &'a str,
    document: Value,
    arn: &'a str,
    policy_id: &'a str,
}

impl PolicyFacts<'_> {
    fn observed(self, id: &str, tags: Tags) -> Observed {
        let mut props = Props::new();
        props.insert("name".into(), json!(self.name));
        props.insert("path".into(), json!(self.path));
        props.insert("description".into(), json!(self.description));
        props.insert("policy".into(), self.document);
        let mut attrs = Props::new();
        attrs.insert("arn".into(), json!(self.arn));
        attrs.insert("policy_id".into(), json!(self.policy_id));
        attrs.insert("name".into(), json!(self.name));
        Observed { id: id.to_string(), props, attrs, tags }
    }
}

impl IamPolicy {
    /// The customer managed policy called `name` under `path_prefix`, whoever made it.
    async fn named(&self, name: &str, path_prefix: &str) -> Result<Option<Observed>, ProviderError> {
        let mut policies = self.client.list_policies().scope(PolicyScopeType::Local).path_prefix(path_prefix).into_paginator().items().send();
        while let Some(policy) = policies.next().await {
            let policy = policy.op("ListPolicies")?;
            if policy.policy_name() == Some(name) {
                let Some(arn) = policy.arn() else { continue };
                return self.read(arn).await;
            }
        }
        Ok(None)
    }

    async fn current_tags(&self, arn: &str) -> Result<Tags, ProviderError> {
        let tags: Vec<Tag> = self.client.list_policy_tags().policy_arn(arn).into_paginator().items().send().try_collect().await.op("ListPolicyTags")?;
        Ok(tags.into_iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
    }

    async fn set_tags(&self, arn: &str, desired: &Tags) -> Result<(), ProviderError> {
        let current = self.current_tags(arn).await?;
        let set = |set: Tags| async move { self.client.tag_policy().policy_arn(arn).set_tags(Some(iam_tags(&set)?)).send().await.map(|_| ()).op("TagPolicy") };
        let remove = |remove: Vec<String>| async move {
            self.client.untag_policy().policy_arn(arn).set_tag_keys(Some(remove)).send().await.map(|_| ()).op("UntagPolicy")
        };
        tagging::sync(&current, desired, set, remove).await
    }

    async fn versions(&self, arn: &str) -> Result<Vec<aws_sdk_iam::types::PolicyVersion>, ProviderError> {
        self.client.list_policy_versions().policy_arn(arn).into_paginator().items().send().try_collect().await.op("ListPolicyVersions")
    }

    async fn delete_version(&self, arn: &str, version: &str) -> Result<(), ProviderError> {
        let result = self.client.delete_policy_version().policy_arn(arn).version_id(version).send().await;
        gone(result.map(|_| ()).op("DeletePolicyVersion"))
    }

    /// Makes `document` the default version, first making room if IAM's version limit is reached.
    async fn put_document(&self, arn: &str, document: String) -> Result<(), ProviderError> {
        let versions = self.versions(arn).await?;
        if versions.len() >= MAX_VERSIONS {
            let oldest = versions.iter().filter(|v| !v.is_default_version()).min_by_key(|v| version_number(v.version_id()));
            if let Some(id) = oldest.and_then(|v| v.version_id()) {
                self.delete_version(arn, id).await?;
            }
        }
        self.client.create_policy_version().policy_arn(arn).policy_document(document).set_as_default(true).send().await.op("CreatePolicyVersion")?;
        Ok(())
    }

    /// Detaches the policy from every role, user and group; IAM refuses to delete it otherwise.
    async fn detach_everywhere(&self, arn: &str) -> Result<(), ProviderError> {
        let mut pages = self.client.list_entities_for_policy().policy_arn(arn).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.op("ListEntitiesForPolicy")?;
            for role in page.policy_roles().iter().filter_map(|r| r.role_name()) {
                let result = self.client.detach_role_policy().role_name(role).policy_arn(arn).send().await;
                gone(result.map(|_| ()).op("DetachRolePolicy"))?;
            }
            for user in page.policy_users().iter().filter_map(|u| u.user_name()) {
                let result = self.client.detach_user_policy().user_name(user).policy_arn(arn).send().await;
                gone(result.map(|_| ()).op("DetachUserPolicy"))?;
            }
            for group in page.policy_groups().iter().filter_map(|g| g.group_name()) {
                let result = self.client.detach_group_policy().group_name(group).policy_arn(arn).send().await;
                gone(result.map(|_| ()).op("DetachGroupPolicy"))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for IamPolicy {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let Some(out) = found(self.client.get_policy().policy_arn(id).send().await.op("GetPolicy"))? else {
            return Ok(None);
        };
        let Some(policy) = out.policy() else {
            return Ok(None);
        };
        let version = policy.default_version_id().unwrap_or("v1");
        let out = self.client.get_policy_version().policy_arn(id).version_id(version).send().await.op("GetPolicyVersion");
        let Some(version) = found(out)? else {
            return Ok(None);
        };
        let document = version.policy_version().and_then(|v| v.document()).map(decode_document).unwrap_or(Value::Null);
        let Some(tags) = found(self.current_tags(id).await)? else {
            return Ok(None);
        };

        let default_path = defaults::default_text(&SCHEMA, "path");
        let facts = PolicyFacts {
            name: policy.policy_name().unwrap_or_default(),
            path: policy.path().unwrap_or(&default_path),
            description: policy.description().unwrap_or_default(),
            document,
            arn: policy.arn().unwrap_or(id),
            policy_id: policy.policy_id().unwrap_or_default(),
        };
        Ok(Some(facts.observed(id, tags)))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        // One resource per read call: the reads run side by side.
        let client = self.client.clone();
        crate::read_each::read_each(ids, || IamPolicy::from_client(client.clone())).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let req = create_request(desired)?;
        let tags = (!desired.tags.is_empty()).then(|| iam_tags(&desired.tags)).transpose()?;
        let out = self
            .client
            .create_policy()
            .policy_name(&req.name)
            .path(&req.path)
            .policy_document(&req.document)
            .set_description(req.description.clone())
            .set_tags(tags)
            .send()
            .await;
        let out = match out {
            // An earlier attempt whose answer was lost made it, or the name is someone else's.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                let name = policy_name(desired);
                let existing = self.named(&name, "/").await?;
                return adopt_or(self, desired, &format!("IAM policy {name}"), existing, classify("CreatePolicy", e)).await;
            }
            other => other.op("CreatePolicy")?,
        };
        let policy = out.policy();
        let arn = policy.and_then(|p| p.arn()).ok_or_else(|| ProviderError::Fatal("CreatePolicy: no policy ARN in the response".into()))?;
        // The policy is what was sent, and the answer names it: no need to read it back.
        let facts = PolicyFacts {
            name: &req.name,
            path: &req.path,
            description: req.description.as_deref().unwrap_or_default(),
            document: document_value(&Value::String(req.document.clone())),
            arn,
            policy_id: policy.and_then(|p| p.policy_id()).unwrap_or_default(),
        };
        Ok(facts.observed(arn, desired.tags.clone()))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        if changed.iter().any(|c| c == "policy") {
            self.put_document(id, policy_document(desired)?).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            self.set_tags(id, &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        if found(self.detach_everywhere(id).await)?.is_none() {
            return Ok(());
        }
        let Some(versions) = found(self.versions(id).await)? else {
            return Ok(());
        };
        for version in versions.iter().filter(|v| !v.is_default_version()) {
            if let Some(vid) = version.version_id() {
                self.delete_version(id, vid).await?;
            }
        }
        gone(self.client.delete_policy().policy_arn(id).send().await.map(|_| ()).op("DeletePolicy"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let name = policy_name(desired);
        Ok(self.named(&name, &string_value(desired, "path")).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyTags"],
            // TagPolicy: IAM authorises tags given to CreatePolicy as a separate action.
            // ListPolicies: crash recovery looks the policy up by name before creating.
            Operation::Create => &["iam:ListPolicies", "iam:CreatePolicy", "iam:TagPolicy", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyTags"],
            Operation::Update => &[
                "iam:ListPolicyVersions",
                "iam:DeletePolicyVersion",
                "iam:CreatePolicyVersion",
                "iam:TagPolicy",
                "iam:UntagPolicy",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:ListPolicyTags",
            ],
            Operation::Delete => &[
                "iam:ListEntitiesForPolicy",
                "iam:DetachRolePolicy",
                "iam:DetachUserPolicy",
                "iam:DetachGroupPolicy",
                "iam:ListPolicyVersions",
                "iam:DeletePolicyVersion",
                "iam:DeletePolicy",
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_iam::operation::create_policy::{CreatePolicyInput, CreatePolicyOutput};
    use aws_sdk_iam::operation::create_policy_version::{CreatePolicyVersionInput, CreatePolicyVersionOutput};
    use aws_sdk_iam::operation::delete_policy::DeletePolicyOutput;
    use aws_sdk_iam::operation::delete_policy_version::{DeletePolicyVersionInput, DeletePolicyVersionOutput};
    use aws_sdk_iam::operation::detach_role_policy::{DetachRolePolicyInput, DetachRolePolicyOutput};
    use aws_sdk_iam::operation::get_policy::GetPolicyOutput;
    use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
    use aws_sdk_iam::operation::list_entities_for_policy::ListEntitiesForPolicyOutput;
    use aws_sdk_iam::operation::list_policy_tags::ListPolicyTagsOutput;
    use aws_sdk_iam::operation::list_policy_versions::ListPolicyVersionsOutput;
    use aws_sdk_iam::types::{Policy, PolicyRole, PolicyVersion};
    use aws_smithy_mocks::{mock, Rule};
    use cairn_engine::provider::Owner;

    use super::*;
    use crate::kit::mock_cases::query_error;

    const ARN: &str = "arn:aws:iam::123456789012:policy/app/read-orders";
    const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/a b%"}]}"#;

    fn kind(rules: &[Rule]) -> IamPolicy {
        IamPolicy::from_client(crate::mocked_client!(aws_sdk_iam, rules))
    }

    fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: "policy.read_orders".into() }
    }

    fn desired(props: Value) -> Desired {
        Desired {
            props: props.as_object().unwrap().clone(),
            tags: owner().tags(),
            owner: owner(),
            default_name: "shop-dev-read-orders".into(),
            idempotency_token: "token".into(),
        }
    }

    fn read_rules(tags: Tags) -> Vec<Rule> {
        let get = mock!(Client::get_policy).then_output(|| {
            GetPolicyOutput::builder()
                .policy(Policy::builder().policy_name("read-orders").policy_id("ANPA0000").arn(ARN).path("/app/").default_version_id("v2").build())
                .build()
        });
        let version = mock!(Client::get_policy_version).match_requests(|r| r.version_id() == Some("v2")).then_output(|| {
            GetPolicyVersionOutput::builder()
                .policy_version(PolicyVersion::builder().document(urlencoding::encode(DOC).into_owned()).version_id("v2").is_default_version(true).build())
                .build()
        });
        let tags =
            mock!(Client::list_policy_tags).then_output(move || ListPolicyTagsOutput::builder().set_tags(Some(iam_tags(&tags).unwrap())).build().unwrap());
        vec![get, version, tags]
    }

    fn versions_rule(count: usize, default: usize) -> Rule {
        mock!(Client::list_policy_versions).then_output(move || {
            let versions = (1..=count).map(|n| PolicyVersion::builder().version_id(format!("v{n}")).is_default_version(n == default).build()).rev().collect();
            ListPolicyVersionsOutput::builder().set_versions(Some(versions)).build()
        })
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let doc: Value = serde_json::from_str(DOC).unwrap();
        for props in [
            json!({}),
            json!({"policy": 7}),
            json!({"policy": doc, "path": "app"}),
            json!({"policy": doc, "path": "/my app/"}),
            json!({"policy": doc, "path": format!("/{}/", "a".repeat(511))}),
            json!({"policy": doc, "description": "d".repeat(1_001)}),
            json!({"policy": doc, "descripton": "typo"}),
        ] {
            let d = desired(props.clone());
            assert!(create_request(&d).is_err(), "builder accepts {props}");
            assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts becomes a CreatePolicy request with a name IAM accepts.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
            let req = create_request(&desired(Value::Object(props)));
            proptest::prop_assert!(req.is_ok(), "{:?}", req.err());
            let req = req.unwrap();
            proptest::prop_assert!(NAMING.rule.violation(&req.name).is_none(), "{}", req.name);
            proptest::prop_assert!(req.path.starts_with('/') && req.path.ends_with('/'));
        }
    }

    #[test]
    fn documents_decode_from_url_encoding_or_plain_json() {
        let expected: Value = serde_json::from_str(DOC).unwrap();
        assert_eq!(decode_document(&urlencoding::encode(DOC)), expected);
        assert_eq!(decode_document(DOC), expected);
    }

    #[test]
    fn long_derived_names_are_cut_stably() {
        let long = "x".repeat(200);
        let fitted = fit_name(&long, 64);
        assert_eq!(fitted.len(), 64);
        assert_eq!(fitted, fit_name(&long, 64));
        assert_ne!(fitted, fit_name(&format!("{long}y"), 64));
        assert_eq!(fit_name("short", 64), "short");
    }

    #[tokio::test]
    async fn create_sends_document_and_tags() {
        let seen: Arc<Mutex<Vec<CreatePolicyInput>>> = Arc::default();
        let sink = seen.clone();
        let create = mock!(Client::create_policy).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreatePolicyOutput::builder().policy(Policy::builder().arn(ARN).policy_id("ANPA0000").policy_name("read-orders").path("/app/").build()).build()
        });
        let want = desired(json!({"name": "read-orders", "path": "/app/", "policy": serde_json::from_str::<Value>(DOC).unwrap()}));
        let reads = read_rules(want.tags.clone());
        let mut rules = vec![create];
        rules.extend(reads.iter().cloned());
        let obs = kind(&rules).create(&want).await.unwrap();
        // Create makes no read, and answers what a later read returns.
        assert_eq!(reads.iter().map(Rule::num_calls).sum::<usize>(), 0);
        assert_eq!(Some(&obs), kind(&reads).read(ARN).await.unwrap().as_ref());

        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!(input.policy_name(), Some("read-orders"));
        assert_eq!(input.path(), Some("/app/"));
        assert_eq!(input.description(), None, "an empty description is not sent");
        assert_eq!(serde_json::from_str::<Value>(input.policy_document().unwrap()).unwrap(), serde_json::from_str::<Value>(DOC).unwrap());
        let sent: Tags = input.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        assert_eq!(sent, want.tags);

        assert_eq!(obs.id, ARN);
        assert_eq!(obs.tags, want.tags);
    }

    #[tokio::test]
    async fn read_decodes_the_default_version() {
        let obs = kind(&read_rules(owner().tags())).read(ARN).await.unwrap().unwrap();
        assert_eq!(
            Value::Object(obs.props),
            json!({
                "name": "read-orders",
                "path": "/app/",
                "description": "",
                "policy": serde_json::from_str::<Value>(DOC).unwrap(),
            })
        );
        assert_eq!(obs.attrs["policy_id"], json!("ANPA0000"));
    }

    #[tokio::test]
    async fn read_of_missing_policy_is_none() {
        let get = mock!(Client::get_policy).then_http_response(query_error(404, "NoSuchEntity"));
        assert_eq!(kind(&[get]).read(ARN).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_of_missing_policy_is_ok() {
        let entities = mock!(Client::list_entities_for_policy).then_http_response(query_error(404, "NoSuchEntity"));
        kind(&[entities]).delete(ARN).await.unwrap();
    }

    #[tokio::test]
    async fn delete_detaches_and_removes_old_versions_first() {
        let entities = mock!(Client::list_entities_for_policy)
            .then_output(|| ListEntitiesForPolicyOutput::builder().policy_roles(PolicyRole::builder().role_name("app").build()).build());
        let detached: Arc<Mutex<Vec<DetachRolePolicyInput>>> = Arc::default();
        let sink = detached.clone();
        let detach = mock!(Client::detach_role_policy).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            DetachRolePolicyOutput::builder().build()
        });
        let deleted: Arc<Mutex<Vec<DeletePolicyVersionInput>>> = Arc::default();
        let sink = deleted.clone();
        let delete_version = mock!(Client::delete_policy_version).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            DeletePolicyVersionOutput::builder().build()
        });
        let delete = mock!(Client::delete_policy).then_output(|| DeletePolicyOutput::builder().build());
        kind(&[entities, detach, versions_rule(3, 3), delete_version, delete.clone()]).delete(ARN).await.unwrap();

        assert_eq!(detached.lock().unwrap()[0].role_name(), Some("app"));
        let mut ids: Vec<String> = deleted.lock().unwrap().iter().map(|i| i.version_id().unwrap().to_string()).collect();
        ids.sort();
        assert_eq!(ids, ["v1", "v2"]);
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn update_makes_room_when_five_versions_exist() {
        let deleted: Arc<Mutex<Vec<DeletePolicyVersionInput>>> = Arc::default();
        let sink = deleted.clone();
        let delete_version = mock!(Client::delete_policy_version).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            DeletePolicyVersionOutput::builder().build()
        });
        let created: Arc<Mutex<Vec<CreatePolicyVersionInput>>> = Arc::default();
        let sink = created.clone();
        let create_version = mock!(Client::create_policy_version).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreatePolicyVersionOutput::builder().build()
        });
        // v1 is the default: the oldest version that may go is v2.
        let mut rules = vec![versions_rule(5, 1), delete_version, create_version];
        rules.extend(read_rules(owner().tags()));
        let want = desired(json!({"policy": {"Version": "2012-10-17", "Statement": []}}));
        kind(&rules).update(ARN, &want, &["policy".into()]).await.unwrap();

        assert_eq!(deleted.lock().unwrap().iter().map(|i| i.version_id().unwrap()).collect::<Vec<_>>(), ["v2"]);
        let input = created.lock().unwrap().pop().unwrap();
        assert_eq!(input.set_as_default(), Some(true));
        assert_eq!(serde_json::from_str::<Value>(input.policy_document().unwrap()).unwrap(), json!({"Version": "2012-10-17", "Statement": []}));
    }

    fn already_exists_then_listed(tags: Tags) -> Vec<Rule> {
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code("EntityAlreadyExists").message("A policy called read-orders already exists.").build();
        let create = mock!(Client::create_policy).then_error(move || aws_sdk_iam::operation::create_policy::CreatePolicyError::generic(meta.clone()));
        let list = mock!(Client::list_policies).then_output(|| {
            aws_sdk_iam::operation::list_policies::ListPoliciesOutput::builder().policies(Policy::builder().policy_name("read-orders").arn(ARN).build()).build()
        });
        let mut rules = read_rules(tags);
        rules.extend([create, list]);
        rules
    }

    #[tokio::test]
    async fn create_answered_already_exists_adopts_our_policy_and_refuses_another() {
        let want = desired(json!({"name": "read-orders", "path": "/app/", "policy": serde_json::from_str::<Value>(DOC).unwrap()}));
        assert_eq!(kind(&already_exists_then_listed(owner().tags())).create(&want).await.unwrap().id, ARN);
        let theirs = Owner { stack: "billing".into(), env: "prod".into(), address: "p".into() }.tags();
        crate::adopt::testing::assert_refused(kind(&already_exists_then_listed(theirs)).create(&want).await, "IAM policy read-orders");
    }
}
