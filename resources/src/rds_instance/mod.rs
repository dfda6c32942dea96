//! `aws.rds.instance`: an RDS database instance (PostgreSQL by default) whose master password RDS keeps in Secrets Manager.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::types::DbInstance;
use aws_sdk_rds::Client;
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use cairn_engine::provider::{Desired, Observed, Operation, ProviderError, ResourceKind, ResourceSchema};

use crate::adopt::{adopt, foreign};
use crate::aws::AwsContext;
use crate::error::found;
use crate::rds_common::{classify_rds, is_already_exists, rds_tags, tags_from, RdsResultExt};

const KIND: &str = "aws.rds.instance";
/// The engine version as the stack gave it ("16"): RDS reports the full version ("16.4"),
/// which is what the stack meant when it names only a prefix of it.
const ENGINE_VERSION_TAG: &str = "cairn:engine-version";
/// The allocated storage the stack asked for: with storage autoscaling RDS grows the real
/// value on its own, and that growth is not a difference to undo.
const ALLOCATED_STORAGE_TAG: &str = "cairn:allocated-storage";
/// `delete` receives only the identifier, so `skip_final_snapshot` travels on the instance.
const SKIP_FINAL_SNAPSHOT_TAG: &str = "cairn:skip-final-snapshot";
const DEFAULT_WAIT_MINUTES: i64 = 60;

mod modify;
mod observed;
mod schema;
mod spec;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod update_tests;

use observed::observed;
use schema::{CREATE_ACTIONS, DELETE_ACTIONS, READ_ACTIONS, UPDATE_ACTIONS};
pub use schema::{NAMING, SCHEMA};
use spec::Spec;

pub struct RdsInstance {
    client: Client,
}

impl RdsInstance {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.rds())
    }

    pub fn from_client(client: Client) -> Self {
        RdsInstance { client }
    }

    async fn describe(&self, id: &str) -> Result<Option<DbInstance>, ProviderError> {
        let out = found(self.client.describe_db_instances().db_instance_identifier(id).send().await.rds("DescribeDBInstances"))?;
        Ok(out.and_then(|o| o.db_instances().first().cloned()))
    }

    /// The instance's status now, for a timeout message.
    async fn status_of(&self, id: &str) -> String {
        match self.describe(id).await {
            Ok(Some(db)) => db.db_instance_status().unwrap_or("in an unknown state").to_string(),
            Ok(None) => "gone".to_string(),
            Err(_) => "not yet available".to_string(),
        }
    }

    async fn wait_available(&self, id: &str, minutes: i64, rerun: &str) -> Result<(), ProviderError> {
        let result = self.client.wait_until_db_instance_available().db_instance_identifier(id).wait(minutes_of(minutes)).await;
        match result {
            Ok(_) => Ok(()),
            Err(WaiterError::ExceededMaxWait(_)) => Err(ProviderError::Retryable(format!(
                "{KIND} {id}: still {} after {minutes} minutes; raise wait_timeout_minutes or re-run {rerun} to continue waiting",
                self.status_of(id).await
            ))),
            Err(WaiterError::FailureState(failure)) => {
                let status =
                    failure.final_poll().as_result().ok().and_then(|o| o.db_instances().first()).and_then(|d| d.db_instance_status()).unwrap_or("failed");
                Err(ProviderError::Fatal(format!("{KIND} {id}: ended in status {status} instead of available; see its events in the RDS console")))
            }
            Err(WaiterError::OperationFailed(failed)) => Err(classify_rds("DescribeDBInstances", failed.into_error())),
            Err(other) => Err(ProviderError::Fatal(format!("{KIND} {id}: waiting for available: {other:?}"))),
        }
    }

    async fn wait_deleted(&self, id: &str) -> Result<(), ProviderError> {
        let result = self.client.wait_until_db_instance_deleted().db_instance_identifier(id).wait(minutes_of(DEFAULT_WAIT_MINUTES)).await;
        match result {
            Ok(_) => Ok(()),
            Err(WaiterError::ExceededMaxWait(_)) => Err(ProviderError::Retryable(format!(
                "{KIND} {id}: still {} after {DEFAULT_WAIT_MINUTES} minutes; re-run destroy to continue waiting",
                self.status_of(id).await
            ))),
            Err(WaiterError::FailureState(failure)) => {
                let status =
                    failure.final_poll().as_result().ok().and_then(|o| o.db_instances().first()).and_then(|d| d.db_instance_status()).unwrap_or("busy");
                Err(ProviderError::Conflict(format!("{KIND} {id}: is {status} instead of being deleted; something else is changing it")))
            }
            Err(WaiterError::OperationFailed(failed)) => match classify_rds("DescribeDBInstances", failed.into_error()) {
                ProviderError::NotFound(_) => Ok(()),
                other => Err(other),
            },
            Err(other) => Err(ProviderError::Fatal(format!("{KIND} {id}: waiting for deletion: {other:?}"))),
        }
    }

    async fn delete_instance(&self, id: &str) -> Result<(), ProviderError> {
        let Some(db) = self.describe(id).await? else { return Ok(()) };
        if db.db_instance_status() != Some("deleting") {
            if db.deletion_protection() == Some(true) {
                return Err(ProviderError::Conflict(format!(
                    "{KIND} {id} has deletion_protection; set deletion_protection: false and apply before destroying"
                )));
            }
            let tags = tags_from(db.tag_list());
            let skip = tags.get(SKIP_FINAL_SNAPSHOT_TAG).map(String::as_str) == Some("true");
            let mut req = self.client.delete_db_instance().db_instance_identifier(id).skip_final_snapshot(skip);
            if !skip {
                req = req.final_db_snapshot_identifier(final_snapshot_name(id));
            }
            match req.send().await.rds("DeleteDBInstance") {
                Ok(_) | Err(ProviderError::NotFound(_)) => {}
                Err(ProviderError::Conflict(m)) if m.contains("DBSnapshotAlreadyExists") => {
                    return Err(ProviderError::Conflict(format!(
                        "{KIND} {id}: the final snapshot {} already exists (from an earlier instance of the same name); \
                         delete or rename that snapshot, or set skip_final_snapshot: true and apply ({m})",
                        final_snapshot_name(id)
                    )))
                }
                Err(e) => return Err(e),
            }
        }
        self.wait_deleted(id).await
    }
}

fn minutes_of(minutes: i64) -> Duration {
    Duration::from_secs(u64::try_from(minutes).unwrap_or(1).max(1) * 60)
}

pub fn final_snapshot_name(identifier: &str) -> String {
    format!("{identifier}-final")
}

#[async_trait]
impl ResourceKind for RdsInstance {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.describe(id).await?.as_ref().and_then(observed))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        // One resource per read call: the reads run side by side.
        let client = self.client.clone();
        crate::read_each::read_each(ids, || RdsInstance::from_client(client.clone())).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let mut req = self
            .client
            .create_db_instance()
            .db_instance_identifier(&spec.identifier)
            .engine(&spec.engine)
            .set_engine_version(spec.engine_version.clone())
            .db_instance_class(&spec.instance_class)
            .allocated_storage(spec.allocated_storage)
            .storage_type(&spec.storage_type)
            .storage_encrypted(spec.storage_encrypted)
            .set_kms_key_id(spec.kms_key.clone())
            .set_db_name(spec.db_name.clone())
            .master_username(&spec.master_username)
            .manage_master_user_password(true)
            .set_db_subnet_group_name(spec.db_subnet_group_name.clone())
            .set_db_parameter_group_name(spec.parameter_group_name.clone())
            .set_vpc_security_group_ids(spec.vpc_security_group_ids.clone())
            .multi_az(spec.multi_az)
            .backup_retention_period(spec.backup_retention_period)
            .set_preferred_backup_window(spec.preferred_backup_window.clone())
            .deletion_protection(spec.deletion_protection)
            .enable_iam_database_authentication(spec.iam_auth)
            .enable_performance_insights(spec.pi_enabled)
            .set_performance_insights_kms_key_id(spec.pi_kms_key.clone())
            .publicly_accessible(spec.publicly_accessible)
            .monitoring_interval(spec.monitoring_interval)
            .set_monitoring_role_arn(spec.monitoring_role_arn.clone())
            .set_tags(Some(rds_tags(&spec.tags(desired))));
        if spec.autoscaling() {
            req = req.set_max_allocated_storage(spec.max_allocated_storage);
        }
        let what = format!("DB instance {}", spec.identifier);
        let adopted = match req.send().await.rds("CreateDBInstance") {
            Ok(_) => false,
            // An earlier attempt whose answer was lost (or a run killed while waiting) made it,
            // or the identifier is someone else's.
            Err(e) if is_already_exists(&e) => match self.read(&spec.identifier).await? {
                Some(o) if desired.owner.matches(&o.tags) => true,
                Some(o) => return Err(foreign(KIND, &format!("{what} ({})", o.id), desired, &o.tags)),
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        self.wait_available(&spec.identifier, spec.wait_minutes, "apply").await?;
        let observed = self
            .read(&spec.identifier)
            .await?
            .ok_or_else(|| ProviderError::Retryable(format!("{KIND} {}: not readable right after it became available", spec.identifier)))?;
        if adopted {
            return adopt(self, desired, &what, observed).await;
        }
        Ok(observed)
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        self.modify(id, desired, changed).await
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.delete_instance(id).await
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::from(desired)?;
        let Some(found) = self.read(&spec.identifier).await?.filter(|o| desired.owner.matches(&o.tags)) else { return Ok(None) };
        // A run that died while waiting left it creating: finish the wait that run began, so
        // what is recorded has its endpoint.
        let status = self.status_of(&spec.identifier).await;
        if matches!(
            status.as_str(),
            "creating" | "backing-up" | "configuring-enhanced-monitoring" | "configuring-iam-database-auth" | "configuring-log-exports"
        ) {
            self.wait_available(&spec.identifier, spec.wait_minutes, "apply").await?;
            return self.read(&spec.identifier).await;
        }
        Ok(Some(found))
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
