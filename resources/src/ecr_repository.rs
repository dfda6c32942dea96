//! `aws.ecr.repository`: an ECR repository with tag mutability, scan on push, encryption, lifecycle policy and repository policy.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::types::{EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Repository, Tag};
use aws_sdk_ecr::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::{adopt_or, wanted};
use crate::error::{classify, found, gone, SdkResultExt};
use crate::kit::{defaults, tagging};

/// `delete` receives only the repository name, so `force_delete` travels on the repository as this tag.
const FORCE_DELETE_TAG: &str = "cairn:force-delete";

/// DescribeRepositories takes at most this many names per call.
const DESCRIBE_BATCH: usize = 100;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.ecr.repository",
    doc: "An ECR repository: image tag mutability, scan on push, encryption at rest, lifecycle policy and repository policy.",
    props: &[
        PropSpec::new("name", PropType::String, "Repository name; defaults to a name derived from stack, env and address.").force_new().naming(NAMING),
        PropSpec::new("image_tag_mutability", PropType::Enum(&["MUTABLE", "IMMUTABLE"]), "Whether a pushed tag may be moved to another image.")
            .default("\"MUTABLE\""),
        PropSpec::new(
            "image_scanning_configuration",
            PropType::Struct(&[PropSpec::new("scan_on_push", PropType::Bool, "Scan every image for vulnerabilities when it is pushed.").required()]),
            "Basic scanning: `{ scan_on_push: true }`.",
        )
        .default(r#"{"scan_on_push": false}"#),
        PropSpec::new(
            "encryption_configuration",
            PropType::Struct(&[
                PropSpec::new("encryption_type", PropType::Enum(&["AES256", "KMS", "KMS_DSSE"]), "AES256 (S3-managed keys), KMS or KMS_DSSE.").required(),
                PropSpec::new("kms_key", PropType::Text(TextRule::len(1, 2048)), "ARN of the KMS key, for KMS and KMS_DSSE."),
            ]),
            "Encryption at rest, fixed at creation: `{ encryption_type: KMS, kms_key: <key ARN> }`.",
        )
        .force_new()
        .default(r#"{"encryption_type": "AES256"}"#)
        .rule(encryption_rule),
        PropSpec::new(
            "force_delete",
            PropType::Bool,
            "Delete the repository's images when it is destroyed; without it, destroying a repository that holds images fails. Kept in the `cairn:force-delete` tag.",
        )
        .default("false"),
        PropSpec::new("lifecycle_policy", PropType::Struct(&[PropSpec::new("rules", PropType::List(&LIFECYCLE_RULE), "The rules, by priority.").required()]), "Lifecycle policy, ECR's document in its own spelling: `{ rules: [{ rulePriority: 1, selection: { tagStatus: untagged, countType: sinceImagePushed, countUnit: days, countNumber: 14 }, action: { type: expire } }] }`."),
        PropSpec::new("policy", PropType::Policy, "Repository policy: who may pull and push."),
    ],
    attrs: &["arn", "name", "repository_url", "registry_id"],
    taggable: true,
    rules: &[],
};

/// One lifecycle rule, with the fields and values ECR's lifecycle policy reference lists.
const LIFECYCLE_RULE: PropType = PropType::Struct(&[
    PropSpec::new("rulePriority", PropType::IntRange(1, 999), "Order of evaluation, unique within the policy.").required(),
    PropSpec::new("description", PropType::Text(TextRule::len(0, 1024)), "What the rule is for."),
    PropSpec::new(
        "selection",
        PropType::Struct(&[
            PropSpec::new("tagStatus", PropType::Enum(&["tagged", "untagged", "any"]), "Which images by tag state.").required(),
            PropSpec::new("tagPatternList", PropType::StringList, "Tag patterns (`*` wildcards), for tagged images."),
            PropSpec::new("tagPrefixList", PropType::StringList, "Tag prefixes, for tagged images."),
            PropSpec::new("storageClass", PropType::Enum(&["standard", "archive"]), "Which storage class the rule looks at."),
            PropSpec::new(
                "countType",
                PropType::Enum(&["imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"]),
                "Count images, or their age.",
            )
            .required(),
            PropSpec::new("countUnit", PropType::Enum(&["days"]), "Unit of an age count."),
            PropSpec::new("countNumber", PropType::IntRange(1, 2_147_483_647), "The count or the age.").required(),
        ]),
        "Which images the rule applies to.",
    )
    .required(),
    PropSpec::new(
        "action",
        PropType::Struct(&[
            PropSpec::new("type", PropType::Enum(&["expire", "transition"]), "Expire, or move to another storage class.").required(),
            PropSpec::new("targetStorageClass", PropType::Enum(&["archive"]), "Where a transition moves images."),
        ]),
        "What happens to selected images.",
    )
    .required(),
]);

/// Repository names: 2 to 256 characters, lowercase letters, digits and `._-/` (namespaces);
/// unique per registry and region.
pub const NAMING: Naming = Naming::new(TextRule::len(2, 256).chars("._-/").lowercase(), NameScope::Region);

/// A KMS key goes with KMS encryption only, as an ARN: ECR reports the key by ARN, and
/// one given another way would read back as a change that forces a replacement.
fn encryption_rule(v: &Value) -> Vec<String> {
    let kms = matches!(v.get("encryption_type").and_then(Value::as_str), Some("KMS" | "KMS_DSSE"));
    match v.get("kms_key").and_then(Value::as_str) {
        Some(_) if !kms => vec!["`kms_key` needs `encryption_type` KMS or KMS_DSSE".into()],
        Some(key) if !key.starts_with("arn:") => vec![format!("`kms_key` must be the key's ARN, not {key:?}")],
        None if kms => vec!["KMS encryption needs `kms_key`, the key's ARN".into()],
        _ => vec![],
    }
}

/// What CreateRepository and its follow-up calls send, after the schema's checks.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    name: String,
    mutability: String,
    scan_on_push: bool,
    encryption_type: String,
    kms_key: Option<String>,
    force_delete: bool,
    lifecycle_policy: Option<Value>,
    policy: Option<Value>,
}

fn document_text(doc: &Value) -> String {
    match doc {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!(text))
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let get = |p: &str| wanted(&SCHEMA, desired, p);
        let enc = get("encryption_configuration").unwrap_or(Value::Null);
        Ok(Spec {
            name: desired.name(),
            mutability: defaults::text(&SCHEMA, desired, "image_tag_mutability")?,
            scan_on_push: get("image_scanning_configuration").and_then(|v| v.get("scan_on_push").and_then(Value::as_bool)).unwrap_or(false),
            encryption_type: enc.get("encryption_type").and_then(Value::as_str).unwrap_or("AES256").to_string(),
            kms_key: enc.get("kms_key").and_then(Value::as_str).map(str::to_string),
            force_delete: get("force_delete").and_then(|v| v.as_bool()).unwrap_or(false),
            lifecycle_policy: get("lifecycle_policy"),
            policy: get("policy"),
        })
    }

    fn props(&self) -> Props {
        let mut props = Props::new();
        props.insert("name".into(), json!(self.name));
        props.insert("image_tag_mutability".into(), json!(self.mutability));
        props.insert("image_scanning_configuration".into(), json!({ "scan_on_push": self.scan_on_push }));
        let mut enc = json!({ "encryption_type": self.encryption_type });
        if let Some(key) = &self.kms_key {
            enc["kms_key"] = json!(key);
        }
        props.insert("encryption_configuration".into(), enc);
        props.insert("force_delete".into(), json!(self.force_delete));
        if let Some(p) = &self.lifecycle_policy {
            props.insert("lifecycle_policy".into(), p.clone());
        }
        if let Some(p) = &self.policy {
            props.insert("policy".into(), p.clone());
        }
        props
    }

    fn encryption(&self) -> Result<EncryptionConfiguration, ProviderError> {
        EncryptionConfiguration::builder()
            .encryption_type(EncryptionType::from(self.encryption_type.as_str()))
            .set_kms_key(self.kms_key.clone())
            .build()
            .map_err(|e| ProviderError::Invalid(format!("{}: encryption_configuration: {e}", SCHEMA.kind)))
    }
}

/// Every tag the repository carries: the stack's plus the force-delete marker.
fn all_tags(desired: &Tags, force_delete: bool) -> Tags {
    let mut tags = desired.clone();
    if force_delete {
        tags.insert(FORCE_DELETE_TAG.into(), "true".into());
    }
    tags
}

fn ecr_tags(tags: &Tags) -> Result<Vec<Tag>, ProviderError> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::Invalid(format!("tag {k}: {e}")))).collect()
}

/// The repository's settings and attributes; `tags` as read, the force-delete marker included.
fn observed(repo: &Repository, mut spec: Spec, mut tags: Tags) -> Observed {
    spec.force_delete = tags.remove(FORCE_DELETE_TAG).as_deref() == Some("true");
    let name = repo.repository_name().unwrap_or_default().to_string();
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(repo.repository_arn().unwrap_or_default()));
    attrs.insert("name".into(), json!(name));
    attrs.insert("repository_url".into(), json!(repo.repository_uri().unwrap_or_default()));
    attrs.insert("registry_id".into(), json!(repo.registry_id().unwrap_or_default()));
    Observed { id: name, props: spec.props(), attrs, tags }
}

/// A described repository's settings (policies are read separately).
fn spec_of(repo: &Repository) -> Spec {
    let enc = repo.encryption_configuration();
    Spec {
        name: repo.repository_name().unwrap_or_default().to_string(),
        mutability: repo.image_tag_mutability().map(|m| m.as_str().to_string()).unwrap_or_else(|| defaults::default_text(&SCHEMA, "image_tag_mutability")),
        scan_on_push: repo.image_scanning_configuration().is_some_and(|c| c.scan_on_push()),
        encryption_type: enc.map(|e| e.encryption_type().as_str().to_string()).unwrap_or_else(|| "AES256".into()),
        kms_key: enc.and_then(|e| e.kms_key()).filter(|k| !k.is_empty()).map(str::to_string),
        force_delete: false,
        lifecycle_policy: None,
        policy: None,
    }
}

crate::kit::client::client_kind!(EcrRepository, Client, ecr);

impl EcrRepository {
    /// The named repositories that exist. DescribeRepositories fails whole when one name is
    /// missing, so such a batch is asked again name by name.
    async fn describe(&self, names: &[String]) -> Result<Vec<Repository>, ProviderError> {
        let mut out = vec![];
        for batch in names.chunks(DESCRIBE_BATCH) {
            match self.client.describe_repositories().set_repository_names(Some(batch.to_vec())).send().await {
                Ok(page) => out.extend(page.repositories().iter().cloned()),
                Err(e) if e.code() == Some("RepositoryNotFoundException") && batch.len() > 1 => {
                    for name in batch {
                        out.extend(Box::pin(self.describe(std::slice::from_ref(name))).await?);
                    }
                }
                Err(e) if e.code() == Some("RepositoryNotFoundException") => {}
                Err(e) => return Err(classify("DescribeRepositories", e)),
            }
        }
        Ok(out)
    }

    async fn tags(&self, arn: &str) -> Result<Option<Tags>, ProviderError> {
        let out = found(self.client.list_tags_for_resource().resource_arn(arn).send().await.op("ListTagsForResource"))?;
        Ok(out.map(|o| o.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()))
    }

    /// The lifecycle policy (`lifecycle`) or the repository policy, `None` when there is none.
    async fn policy_text(&self, name: &str, lifecycle: bool) -> Result<Option<Value>, ProviderError> {
        let text = if lifecycle {
            match self.client.get_lifecycle_policy().repository_name(name).send().await {
                Err(e) if e.code() == Some("LifecyclePolicyNotFoundException") => return Ok(None),
                other => other.op("GetLifecyclePolicy")?.lifecycle_policy_text().map(str::to_string),
            }
        } else {
            match self.client.get_repository_policy().repository_name(name).send().await {
                Err(e) if e.code() == Some("RepositoryPolicyNotFoundException") => return Ok(None),
                other => other.op("GetRepositoryPolicy")?.policy_text().map(str::to_string),
            }
        };
        Ok(text.filter(|t| !t.is_empty()).map(|t| parsed(&t)))
    }

    async fn complete(&self, repo: &Repository) -> Result<Option<Observed>, ProviderError> {
        let name = repo.repository_name().unwrap_or_default();
        let Some(tags) = self.tags(repo.repository_arn().unwrap_or_default()).await? else {
            return Ok(None);
        };
        let mut spec = spec_of(repo);
        spec.lifecycle_policy = self.policy_text(name, true).await?;
        spec.policy = self.policy_text(name, false).await?;
        Ok(Some(observed(repo, spec, tags)))
    }

    async fn put_policies(&self, name: &str, spec: &Spec, lifecycle: bool, policy: bool) -> Result<(), ProviderError> {
        if lifecycle {
            match &spec.lifecycle_policy {
                Some(doc) => {
                    self.client.put_lifecycle_policy().repository_name(name).lifecycle_policy_text(document_text(doc)).send().await.op("PutLifecyclePolicy")?;
                }
                None => match self.client.delete_lifecycle_policy().repository_name(name).send().await {
                    Err(e) if e.code() == Some("LifecyclePolicyNotFoundException") => {}
                    other => drop(other.op("DeleteLifecyclePolicy")?),
                },
            }
        }
        if policy {
            match &spec.policy {
                Some(doc) => {
                    self.client.set_repository_policy().repository_name(name).policy_text(document_text(doc)).send().await.op("SetRepositoryPolicy")?;
                }
                None => match self.client.delete_repository_policy().repository_name(name).send().await {
                    Err(e) if e.code() == Some("RepositoryPolicyNotFoundException") => {}
                    other => drop(other.op("DeleteRepositoryPolicy")?),
                },
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for EcrRepository {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read_many(&[id.to_string()]).await?.remove(id).flatten())
    }

    /// One DescribeRepositories per hundred names; tags and policies are per repository.
    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        let mut out: BTreeMap<String, Option<Observed>> = ids.iter().map(|id| (id.clone(), None)).collect();
        for repo in self.describe(ids).await? {
            if let Some(o) = self.complete(&repo).await? {
                out.insert(o.id.clone(), Some(o));
            }
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let what = format!("ECR repository {}", spec.name);
        let tags = all_tags(&desired.tags, spec.force_delete);
        let sent = self
            .client
            .create_repository()
            .repository_name(&spec.name)
            .image_tag_mutability(ImageTagMutability::from(spec.mutability.as_str()))
            .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(spec.scan_on_push).build())
            .encryption_configuration(spec.encryption()?)
            .set_tags((!tags.is_empty()).then(|| ecr_tags(&tags)).transpose()?)
            .send()
            .await;
        let out = match sent {
            // Made by an attempt whose answer was lost (ours), or someone else's.
            Err(e) if e.code() == Some("RepositoryAlreadyExistsException") => {
                let existing = self.read(&spec.name).await?;
                return adopt_or(self, desired, &what, existing, classify("CreateRepository", e)).await;
            }
            other => other.op("CreateRepository")?,
        };
        let repo = out.repository().ok_or_else(|| ProviderError::Fatal("CreateRepository: no repository in the response".into()))?;
        self.put_policies(&spec.name, &spec, spec.lifecycle_policy.is_some(), spec.policy.is_some()).await?;
        // CreateRepository answers with the repository as made: no read needed. The key is
        // the one sent (the rule asks for its ARN, which is what ECR reports).
        Ok(observed(repo, spec, tags))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        let spec = Spec::from(desired)?;
        let mut current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{}: repository {id} is gone", SCHEMA.kind)))?;
        let has = |p: &str| names.contains(&p);
        if has("image_tag_mutability") {
            let m = ImageTagMutability::from(spec.mutability.as_str());
            self.client.put_image_tag_mutability().repository_name(id).image_tag_mutability(m).send().await.op("PutImageTagMutability")?;
        }
        if has("image_scanning_configuration") {
            let c = ImageScanningConfiguration::builder().scan_on_push(spec.scan_on_push).build();
            self.client
                .put_image_scanning_configuration()
                .repository_name(id)
                .image_scanning_configuration(c)
                .send()
                .await
                .op("PutImageScanningConfiguration")?;
        }
        self.put_policies(id, &spec, has("lifecycle_policy"), has("policy")).await?;
        if has("tags") || has("force_delete") {
            let arn = current.attrs.get("arn").and_then(Value::as_str).unwrap_or_default().to_string();
            let now = all_tags(&current.tags, current.props.get("force_delete").and_then(Value::as_bool) == Some(true));
            let arn = arn.as_str();
            let set = |set: Tags| async move {
                self.client.tag_resource().resource_arn(arn).set_tags(Some(ecr_tags(&set)?)).send().await.map(|_| ()).op("TagResource")
            };
            let remove = |remove: Vec<String>| async move {
                self.client.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await.map(|_| ()).op("UntagResource")
            };
            tagging::sync(&now, &all_tags(&desired.tags, spec.force_delete), set, remove).await?;
            current.tags = desired.tags.clone();
        }
        // Everything changeable now holds what was sent; encryption cannot change in place.
        let mut props = spec.props();
        if let Some(enc) = current.props.remove("encryption_configuration") {
            props.insert("encryption_configuration".into(), enc);
        }
        current.props = props;
        Ok(current)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        match self.client.delete_repository().repository_name(id).send().await {
            // Only now is the force-delete marker worth a look.
            Err(e) if e.code() == Some("RepositoryNotEmptyException") => {
                let forced = self.read(id).await?.is_some_and(|o| o.props.get("force_delete").and_then(Value::as_bool) == Some(true));
                if !forced {
                    return Err(ProviderError::Conflict(format!("ECR repository {id} still holds images; set force_delete: true to delete them with it")));
                }
                gone(self.client.delete_repository().repository_name(id).force(true).send().await.map(|_| ()).op("DeleteRepository"))
            }
            other => gone(other.map(|_| ()).op("DeleteRepository")),
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let found = self.read(&desired.name()).await?;
        match found {
            Some(o) if desired.owner.matches(&o.tags) => Ok(Some(o)),
            Some(_) | None => Ok(None),
        }
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        const READ: &[&str] = &["ecr:DescribeRepositories", "ecr:ListTagsForResource", "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy"];
        match op {
            Operation::Read => READ,
            // TagResource: tags given to CreateRepository are authorised as TagResource too.
            // KMS: ECR makes a grant on the key for the repository. The update actions: a
            // create that finds its own repository brings it to the stack.
            Operation::Create => &[
                "ecr:CreateRepository",
                "ecr:TagResource",
                "ecr:UntagResource",
                "ecr:PutLifecyclePolicy",
                "ecr:DeleteLifecyclePolicy",
                "ecr:SetRepositoryPolicy",
                "ecr:DeleteRepositoryPolicy",
                "ecr:PutImageTagMutability",
                "ecr:PutImageScanningConfiguration",
                "ecr:DescribeRepositories",
                "ecr:ListTagsForResource",
                "ecr:GetLifecyclePolicy",
                "ecr:GetRepositoryPolicy",
                "kms:DescribeKey",
                "kms:CreateGrant",
            ],
            Operation::Update => &[
                "ecr:PutImageTagMutability",
                "ecr:PutImageScanningConfiguration",
                "ecr:PutLifecyclePolicy",
                "ecr:DeleteLifecyclePolicy",
                "ecr:SetRepositoryPolicy",
                "ecr:DeleteRepositoryPolicy",
                "ecr:TagResource",
                "ecr:UntagResource",
                "ecr:DescribeRepositories",
                "ecr:ListTagsForResource",
                "ecr:GetLifecyclePolicy",
                "ecr:GetRepositoryPolicy",
            ],
            Operation::Delete => {
                &["ecr:DeleteRepository", "ecr:DescribeRepositories", "ecr:ListTagsForResource", "ecr:GetLifecyclePolicy", "ecr:GetRepositoryPolicy"]
            }
        }
    }
}

#[cfg(test)]
#[path = "ecr_repository_tests.rs"]
mod tests;
