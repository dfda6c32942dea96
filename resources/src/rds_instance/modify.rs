//! ModifyDBInstance for what changed, then the tags cairn keeps on the instance.

use cairn_engine::provider::{Desired, Observed, ProviderError, ResourceKind};

use super::spec::Spec;
use super::{RdsInstance, KIND};
use crate::rds_common::{sync_tags, tags_from, RdsResultExt};

impl RdsInstance {
    /// Sends only the changed props (RDS applies some of them with downtime), waits as
    /// `apply_immediately` says, and returns the instance as read afterwards.
    pub(super) async fn modify(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let has = |name: &str| changed.iter().any(|c| c == name);
        let current = self.describe(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND} {id} disappeared before update")))?;

        let mut req = self.client.modify_db_instance().db_instance_identifier(id).apply_immediately(spec.apply_immediately);
        let mut modify = false;
        if has("instance_class") {
            req = req.db_instance_class(&spec.instance_class);
            modify = true;
        }
        let actual_storage = current.allocated_storage().unwrap_or_default();
        let autoscaling_now = current.max_allocated_storage().is_some_and(|m| m > 0);
        // Autoscaling may already have grown the storage past the new figure; storage never shrinks.
        if has("allocated_storage") && !(autoscaling_now && spec.allocated_storage <= actual_storage) {
            req = req.allocated_storage(spec.allocated_storage);
            modify = true;
        }
        if has("max_allocated_storage") {
            // RDS turns autoscaling off when the limit equals the allocated storage.
            let max = match spec.max_allocated_storage {
                Some(m) if m > 0 => m,
                _ => spec.allocated_storage.max(actual_storage),
            };
            req = req.max_allocated_storage(max);
            modify = true;
        }
        if has("storage_type") {
            req = req.storage_type(&spec.storage_type);
            modify = true;
        }
        if has("engine_version") {
            if let Some(version) = &spec.engine_version {
                req = req.engine_version(version).allow_major_version_upgrade(true);
                modify = true;
            }
        }
        if has("parameter_group_name") {
            if let Some(group) = &spec.parameter_group_name {
                req = req.db_parameter_group_name(group);
                modify = true;
            }
        }
        if has("vpc_security_group_ids") {
            if let Some(groups) = &spec.vpc_security_group_ids {
                req = req.set_vpc_security_group_ids(Some(groups.clone()));
                modify = true;
            }
        }
        if has("multi_az") {
            req = req.multi_az(spec.multi_az);
            modify = true;
        }
        if has("backup_retention_period") {
            req = req.backup_retention_period(spec.backup_retention_period);
            modify = true;
        }
        if has("preferred_backup_window") {
            if let Some(window) = &spec.preferred_backup_window {
                req = req.preferred_backup_window(window);
                modify = true;
            }
        }
        if has("deletion_protection") {
            req = req.deletion_protection(spec.deletion_protection);
            modify = true;
        }
        if has("iam_database_authentication_enabled") {
            req = req.enable_iam_database_authentication(spec.iam_auth);
            modify = true;
        }
        if has("performance_insights_enabled") || has("performance_insights_kms_key") {
            if let (Some(now), Some(want)) = (current.performance_insights_kms_key_id(), &spec.pi_kms_key) {
                if now != want && has("performance_insights_kms_key") {
                    return Err(ProviderError::Invalid(format!(
                        "{KIND} {id}: AWS cannot change the Performance Insights KMS key once set ({now}); keep it, or replace the instance under a new identifier"
                    )));
                }
            }
            req = req.enable_performance_insights(spec.pi_enabled).set_performance_insights_kms_key_id(spec.pi_kms_key.clone());
            modify = true;
        }
        if has("monitoring_interval") || has("monitoring_role_arn") {
            // Turning monitoring off sends no role: RDS refuses one with an interval of 0.
            let role = spec.monitoring_role_arn.clone().filter(|_| spec.monitoring_interval > 0);
            req = req.monitoring_interval(spec.monitoring_interval).set_monitoring_role_arn(role);
            modify = true;
        }
        if has("publicly_accessible") {
            req = req.publicly_accessible(spec.publicly_accessible);
            modify = true;
        }
        if has("manage_master_user_password") {
            req = req.manage_master_user_password(true);
            modify = true;
        }

        if modify {
            if current.db_instance_status() != Some("available") {
                // RDS refuses modifications while the instance is busy.
                self.wait_available(id, spec.wait_minutes, "apply").await?;
            }
            req.send().await.rds("ModifyDBInstance")?;
            if spec.apply_immediately {
                self.wait_available(id, spec.wait_minutes, "apply").await?;
            }
        }

        let internal_changed = ["engine_version", "allocated_storage", "max_allocated_storage", "skip_final_snapshot"].iter().any(|p| has(p));
        if has("tags") || internal_changed {
            let arn = current.db_instance_arn().unwrap_or_default();
            sync_tags(&self.client, arn, &tags_from(current.tag_list()), &spec.tags(desired)).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{KIND} {id} disappeared during update")))
    }
}
