//! The stack's props for one DB instance, checked before any call and turned into request values.

use cairn_engine::provider::{Desired, ProviderError, Tags};

use super::schema::SCHEMA;
use super::{ALLOCATED_STORAGE_TAG, DEFAULT_WAIT_MINUTES, ENGINE_VERSION_TAG, SKIP_FINAL_SNAPSHOT_TAG};
use crate::adopt::wanted;
use crate::rds_common::physical_name;
use crate::schema_check;

/// The stack's props, checked before any call so a bad value cannot leave a half-made database.
pub(super) struct Spec {
    pub(super) identifier: String,
    pub(super) engine: String,
    pub(super) engine_version: Option<String>,
    pub(super) instance_class: String,
    pub(super) allocated_storage: i32,
    pub(super) max_allocated_storage: Option<i32>,
    pub(super) storage_type: String,
    pub(super) storage_encrypted: bool,
    pub(super) kms_key: Option<String>,
    pub(super) db_name: Option<String>,
    pub(super) master_username: String,
    pub(super) db_subnet_group_name: Option<String>,
    pub(super) parameter_group_name: Option<String>,
    pub(super) vpc_security_group_ids: Option<Vec<String>>,
    pub(super) multi_az: bool,
    pub(super) backup_retention_period: i32,
    pub(super) preferred_backup_window: Option<String>,
    pub(super) deletion_protection: bool,
    pub(super) iam_auth: bool,
    pub(super) pi_enabled: bool,
    pub(super) pi_kms_key: Option<String>,
    pub(super) publicly_accessible: bool,
    pub(super) monitoring_interval: i32,
    pub(super) monitoring_role_arn: Option<String>,
    pub(super) skip_final_snapshot: bool,
    pub(super) apply_immediately: bool,
    pub(super) wait_minutes: i64,
}

impl Spec {
    pub(super) fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        // Types, ranges, enums, key ARNs and the managed password are the schema's; values
        // known only at apply were not checked at validate, so the same checks run here.
        schema_check::check(&SCHEMA, &desired.props)?;
        let get = |name: &str| wanted(&SCHEMA, desired, name);
        let text = |name: &str| get(name).and_then(|v| v.as_str().map(str::to_string));
        let flag = |name: &str| get(name).and_then(|v| v.as_bool()).unwrap_or(false);
        // The schema's ranges fit in an i32.
        let int = |name: &str| get(name).and_then(|v| v.as_i64()).and_then(|n| i32::try_from(n).ok());

        let allocated_storage = int("allocated_storage").unwrap_or_default();
        let max_allocated_storage = int("max_allocated_storage");
        let storage_encrypted = flag("storage_encrypted");
        let kms_key = text("kms_key");
        let pi_enabled = flag("performance_insights_enabled");
        let pi_kms_key = text("performance_insights_kms_key");
        // The rules across props (`storage_limit`, `key_needs_encryption`, `pi_key_needs_pi`) ran in `schema_check::check`.
        Ok(Spec {
            identifier: physical_name(&SCHEMA, desired)?,
            engine: text("engine").unwrap_or_default(),
            engine_version: text("engine_version"),
            instance_class: text("instance_class").unwrap_or_default(),
            allocated_storage,
            max_allocated_storage,
            storage_type: text("storage_type").unwrap_or_default(),
            storage_encrypted,
            kms_key,
            db_name: text("db_name"),
            master_username: text("master_username").unwrap_or_default(),
            db_subnet_group_name: text("db_subnet_group_name"),
            parameter_group_name: text("parameter_group_name"),
            vpc_security_group_ids: get("vpc_security_group_ids")
                .and_then(|v| v.as_array().map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect())),
            multi_az: flag("multi_az"),
            backup_retention_period: int("backup_retention_period").unwrap_or_default(),
            preferred_backup_window: text("preferred_backup_window"),
            deletion_protection: flag("deletion_protection"),
            iam_auth: flag("iam_database_authentication_enabled"),
            pi_enabled,
            pi_kms_key,
            publicly_accessible: flag("publicly_accessible"),
            monitoring_interval: int("monitoring_interval").unwrap_or_default(),
            monitoring_role_arn: text("monitoring_role_arn"),
            skip_final_snapshot: flag("skip_final_snapshot"),
            apply_immediately: flag("apply_immediately"),
            wait_minutes: get("wait_timeout_minutes").and_then(|v| v.as_i64()).unwrap_or(DEFAULT_WAIT_MINUTES),
        })
    }

    pub(super) fn autoscaling(&self) -> bool {
        self.max_allocated_storage.is_some_and(|m| m > 0)
    }

    /// cairn's own settings, carried on the instance as tags.
    pub(super) fn internal_tags(&self) -> Tags {
        let mut tags = Tags::new();
        if let Some(version) = &self.engine_version {
            tags.insert(ENGINE_VERSION_TAG.into(), version.clone());
        }
        if self.autoscaling() {
            tags.insert(ALLOCATED_STORAGE_TAG.into(), self.allocated_storage.to_string());
        }
        if self.skip_final_snapshot {
            tags.insert(SKIP_FINAL_SNAPSHOT_TAG.into(), "true".into());
        }
        tags
    }

    pub(super) fn tags(&self, desired: &Desired) -> Tags {
        let mut tags = desired.tags.clone();
        tags.extend(self.internal_tags());
        tags
    }
}
