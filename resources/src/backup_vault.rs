//! `aws.backup.vault`: an AWS Backup vault, the container recovery points are kept in, encrypted with a KMS key.

use async_trait::async_trait;
use aws_sdk_backup::error::ProvideErrorMetadata;
use aws_sdk_backup::operation::describe_backup_vault::DescribeBackupVaultOutput;
use aws_sdk_backup::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::adopt_or;
use crate::backup_common::{backup_tags, creator_request_id, list_tags, set_tags};
use crate::error::{classify, found, gone, SdkResultExt};

/// `delete` receives only the vault name, so `force_destroy` travels on the vault as this tag.
const FORCE_DESTROY_TAG: &str = "cairn:force-destroy";

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.backup.vault",
    doc: "An AWS Backup vault: where the recovery points of backup plans are kept, encrypted with a KMS key.",
    props: &[
        PropSpec::new("name", PropType::String, "Vault name (2 to 50 letters, digits, `-` and `_`); defaults to a name derived from stack, env and address.")
            .force_new()
            .naming(NAMING),
        PropSpec::new(
            "kms_key_arn",
            PropType::Text(TextRule::len(20, 2048)),
            "ARN of the KMS key that encrypts the recovery points; unset uses the account's `aws/backup` key. Fixed at creation.",
        )
        .force_new()
        .rule(arn_rule),
        PropSpec::new(
            "force_destroy",
            PropType::Bool,
            "Delete the vault's recovery points when it is destroyed; without it, destroying a vault that holds any fails. Kept in the `cairn:force-destroy` tag.",
        )
        .default("false"),
    ],
    attrs: &["arn", "name", "recovery_points"],
    taggable: true,
    rules: &[],
};

/// Vault names: 2 to 50 letters, digits, `-` and `_`; unique per account and region.
pub const NAMING: Naming = Naming::new(TextRule::len(2, 50).chars("-_"), NameScope::Region);

/// The key is compared with what DescribeBackupVault reports, which is always the key's ARN.
fn arn_rule(v: &Value) -> Vec<String> {
    match v.as_str() {
        Some(s) if !crate::kit::arns::is_arn_of(s, "kms", "key/") => vec![format!("must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not {s:?}")],
        _ => vec![],
    }
}

/// What CreateBackupVault sends, after the schema's checks.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    name: String,
    kms_key_arn: Option<String>,
    force_destroy: bool,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let name = desired.name();
        if let Some(why) = NAMING.rule.violation(&name) {
            return Err(ProviderError::Invalid(format!("{}: vault name {name:?} {why}", SCHEMA.kind)));
        }
        Ok(Spec {
            name,
            kms_key_arn: desired.str("kms_key_arn").map(str::to_string),
            force_destroy: crate::kit::defaults::flag(&SCHEMA, desired, "force_destroy")?,
        })
    }

    fn props(&self) -> Props {
        let mut props = Props::new();
        props.insert("name".into(), json!(self.name));
        if let Some(k) = &self.kms_key_arn {
            props.insert("kms_key_arn".into(), json!(k));
        }
        props.insert("force_destroy".into(), json!(self.force_destroy));
        props
    }
}

/// Every tag the vault carries: the stack's plus the force-destroy marker.
fn all_tags(desired: &Tags, force_destroy: bool) -> Tags {
    let mut tags = desired.clone();
    if force_destroy {
        tags.insert(FORCE_DESTROY_TAG.into(), "true".into());
    }
    tags
}

/// A described vault in the stack's prop shapes; `tags` as read, the marker included.
fn observed(out: &DescribeBackupVaultOutput, mut tags: Tags) -> Observed {
    let force_destroy = tags.remove(FORCE_DESTROY_TAG).as_deref() == Some("true");
    let name = out.backup_vault_name().unwrap_or_default().to_string();
    let spec = Spec { name: name.clone(), kms_key_arn: out.encryption_key_arn().filter(|k| !k.is_empty()).map(str::to_string), force_destroy };
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(out.backup_vault_arn().unwrap_or_default()));
    attrs.insert("name".into(), json!(name));
    attrs.insert("recovery_points".into(), json!(out.number_of_recovery_points()));
    Observed { id: name, props: spec.props(), attrs, tags }
}

crate::kit::client::client_kind!(BackupVault, Client, backup);

impl BackupVault {
    async fn describe(&self, name: &str) -> Result<Option<DescribeBackupVaultOutput>, ProviderError> {
        found(self.client.describe_backup_vault().backup_vault_name(name).send().await.op("DescribeBackupVault"))
    }

    /// Deletes every recovery point in the vault (RDS snapshots, EBS snapshots, ...), page by page.
    async fn empty(&self, name: &str) -> Result<(), ProviderError> {
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_recovery_points_by_backup_vault()
                .backup_vault_name(name)
                .set_next_token(token.take())
                .send()
                .await
                .op("ListRecoveryPointsByBackupVault")?;
            for arn in page.recovery_points().iter().filter_map(|p| p.recovery_point_arn()) {
                let sent = self.client.delete_recovery_point().backup_vault_name(name).recovery_point_arn(arn).send().await;
                gone(sent.map(|_| ()).op("DeleteRecoveryPoint"))?;
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(()),
            }
        }
    }
}

#[async_trait]
impl ResourceKind for BackupVault {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let Some(out) = self.describe(id).await? else { return Ok(None) };
        let Some(tags) = list_tags(&self.client, out.backup_vault_arn().unwrap_or_default()).await? else { return Ok(None) };
        Ok(Some(observed(&out, tags)))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let what = format!("backup vault {}", spec.name);
        let tags = all_tags(&desired.tags, spec.force_destroy);
        let sent = self
            .client
            .create_backup_vault()
            .backup_vault_name(&spec.name)
            .set_encryption_key_arn(spec.kms_key_arn.clone())
            .set_backup_vault_tags(backup_tags(&tags))
            .creator_request_id(creator_request_id(desired, "vault"))
            .send()
            .await;
        let out = match sent {
            // Made by an attempt whose answer was lost (ours), or someone else's.
            Err(e) if e.code() == Some("AlreadyExistsException") => {
                let existing = self.read(&spec.name).await?;
                return adopt_or(self, desired, &what, existing, classify("CreateBackupVault", e)).await;
            }
            other => other.op("CreateBackupVault")?,
        };
        // The key AWS chose when none was given is only known from a describe.
        if spec.kms_key_arn.is_none() {
            if let Some(o) = self.read(&spec.name).await? {
                return Ok(o);
            }
        }
        let mut attrs = Props::new();
        attrs.insert("arn".into(), json!(out.backup_vault_arn().unwrap_or_default()));
        attrs.insert("name".into(), json!(spec.name));
        attrs.insert("recovery_points".into(), json!(0));
        Ok(Observed { id: spec.name.clone(), props: spec.props(), attrs, tags: desired.tags.clone() })
    }

    /// Only tags and `force_destroy` (a tag) change in place; the key and name replace the vault.
    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        let spec = Spec::from(desired)?;
        let mut current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{}: backup vault {id} is gone", SCHEMA.kind)))?;
        if names.contains(&"tags") || names.contains(&"force_destroy") {
            let arn = current.attrs.get("arn").and_then(Value::as_str).unwrap_or_default().to_string();
            let now = all_tags(&current.tags, current.props.get("force_destroy").and_then(Value::as_bool) == Some(true));
            set_tags(&self.client, &arn, &now, &all_tags(&desired.tags, spec.force_destroy)).await?;
            current.tags = desired.tags.clone();
            current.props.insert("force_destroy".into(), json!(spec.force_destroy));
        }
        Ok(current)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        match self.client.delete_backup_vault().backup_vault_name(id).send().await {
            // A vault that still holds recovery points: only now is the marker worth a look.
            Err(e) if e.code() == Some("InvalidRequestException") => {
                let forced = self.read(id).await?.is_some_and(|o| o.props.get("force_destroy").and_then(Value::as_bool) == Some(true));
                if !forced {
                    return Err(ProviderError::Conflict(format!(
                        "backup vault {id} cannot be deleted ({}); set force_destroy: true to delete its recovery points with it",
                        e.message().unwrap_or("it holds recovery points")
                    )));
                }
                self.empty(id).await?;
                gone(self.client.delete_backup_vault().backup_vault_name(id).send().await.map(|_| ()).op("DeleteBackupVault"))
            }
            other => gone(other.map(|_| ()).op("DeleteBackupVault")),
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read(&desired.name()).await?.filter(|o| desired.owner.matches(&o.tags)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        const READ: &[&str] = &["backup:DescribeBackupVault", "backup:ListTags"];
        match op {
            Operation::Read => READ,
            // TagResource: tags given to CreateBackupVault are authorised as TagResource too.
            // MountCapsule and the KMS actions: AWS Backup sets up the vault's storage under
            // the caller's permissions. UntagResource: a create that finds its own vault brings
            // it to the stack.
            Operation::Create => &[
                "backup:CreateBackupVault",
                "backup:TagResource",
                "backup:UntagResource",
                "backup:DescribeBackupVault",
                "backup:ListTags",
                "backup-storage:MountCapsule",
                "kms:CreateGrant",
                "kms:DescribeKey",
                "kms:GenerateDataKey",
                "kms:Decrypt",
            ],
            Operation::Update => &["backup:TagResource", "backup:UntagResource", "backup:DescribeBackupVault", "backup:ListTags"],
            Operation::Delete => &[
                "backup:DeleteBackupVault",
                "backup:DescribeBackupVault",
                "backup:ListTags",
                "backup:ListRecoveryPointsByBackupVault",
                "backup:DeleteRecoveryPoint",
            ],
        }
    }
}

#[cfg(test)]
#[path = "backup_vault_tests.rs"]
mod tests;
