//! `aws.rds.instance`: an RDS database instance (PostgreSQL by default) whose master password RDS keeps in Secrets Manager.

use std::collections::BTreeMap;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::types::{DbInstance, PendingModifiedValues};
use aws_sdk_rds::Client;
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::{adopt, foreign, wanted};
use crate::aws::AwsContext;
use crate::error::found;
use crate::rds_common::{classify_rds, is_already_exists, key_arn_rule, physical_name, rds_tags, sync_tags, tags_from, RdsResultExt};
use crate::schema_check;

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

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: KIND,
    doc: "An RDS DB instance (PostgreSQL by default). The master password is created and rotated by RDS in Secrets Manager and never \
          passes through cairn. Changes go through ModifyDBInstance; with apply_immediately: false they wait for the maintenance window \
          and the plan keeps showing them (see the pending_modifications attribute). The id is the instance identifier.",
    props: &[
        PropSpec::new(
            "identifier",
            PropType::String,
            "DB instance identifier: 1 to 63 lowercase letters, digits and `-`. Defaults to a name derived from stack, env and address.",
        )
        .force_new()
        .naming(NAMING),
        PropSpec::new("engine", PropType::Enum(ENGINES), "Database engine.").force_new().default("\"postgres\""),
        PropSpec::new(
            "engine_version",
            PropType::Text(TextRule::len(1, 64).chars(".-_")),
            "Engine version. A major version alone (\"16\") lets RDS pick and upgrade the minor version; a full one (\"16.4\") pins it. \
             Changing it upgrades in place (major upgrades included).",
        ),
        PropSpec::new("instance_class", PropType::Text(TextRule::len(4, 64).chars(".")), "Instance class, e.g. db.t4g.medium.").required(),
        PropSpec::new(
            "allocated_storage",
            PropType::IntRange(5, 65_536),
            "Storage in GiB (the minimum depends on engine and storage type: 20 for gp2/gp3 with most engines). Storage cannot shrink. \
             With max_allocated_storage, RDS grows it by itself and that growth is not reported as a change.",
        )
        .required(),
        PropSpec::new(
            "max_allocated_storage",
            PropType::IntRange(0, 65_536),
            "Upper limit in GiB for storage autoscaling, at least allocated_storage; 0 turns autoscaling off.",
        ),
        PropSpec::new("storage_type", PropType::Enum(&["gp3", "gp2", "io1", "io2", "standard"]), "Storage type.").default("\"gp3\""),
        PropSpec::new("storage_encrypted", PropType::Bool, "Encrypt storage (and snapshots) at rest.").force_new().default("true"),
        PropSpec::new(
            "kms_key",
            PropType::Text(TextRule::len(1, 2048)),
            "KMS key ARN for storage encryption (needs storage_encrypted); unset uses the AWS managed key aws/rds.",
        )
        .force_new()
        .rule(key_arn_rule),
        PropSpec::new(
            "db_name",
            PropType::Text(TextRule::len(1, 64).chars("_")),
            "Name of a database to create in the instance (letters, digits and `_`; at most 63 for PostgreSQL, 8 for Oracle).",
        )
        .force_new(),
        PropSpec::new(
            "master_username",
            PropType::Text(TextRule::len(1, 128).chars("_")),
            "Master user name: letters, digits and `_` (at most 16 for MySQL and MariaDB, 30 for Oracle, 63 for PostgreSQL).",
        )
        .force_new()
        .default("\"postgres\""),
        PropSpec::new(
            "manage_master_user_password",
            PropType::Bool,
            "RDS generates the master password and keeps it in Secrets Manager (the secret's ARN is the master_user_secret_arn \
             attribute). cairn never handles passwords, so this must stay true.",
        )
        .default("true")
        .rule(password_managed),
        PropSpec::new(
            "db_subnet_group_name",
            PropType::Text(crate::rds_subnet_group::NAMING.rule),
            "DB subnet group (`${my_subnet_group.id}`); unset places the instance in the default VPC.",
        )
        .force_new(),
        PropSpec::new(
            "parameter_group_name",
            PropType::Text(crate::rds_parameter_group::NAMING.rule),
            "DB parameter group (`${my_params.id}`); unset uses the engine's default group.",
        ),
        PropSpec::new(
            "vpc_security_group_ids",
            PropType::List(&PropType::Text(TextRule::len(1, 255))),
            "VPC security groups; unset uses the VPC's default security group.",
        ),
        PropSpec::new("multi_az", PropType::Bool, "Keep a synchronous standby in another availability zone.").default("false"),
        PropSpec::new(
            "backup_retention_period",
            PropType::IntRange(0, 35),
            "Days to keep automated backups; point-in-time recovery is on whenever this is above 0.",
        )
        .default("7"),
        PropSpec::new(
            "preferred_backup_window",
            PropType::Text(TextRule::len(11, 11).chars(":-")),
            "Daily backup window in UTC, `hh24:mi-hh24:mi`, at least 30 minutes, e.g. 03:00-04:00; unset lets RDS choose.",
        )
        .rule(backup_window),
        PropSpec::new(
            "deletion_protection",
            PropType::Bool,
            "Refuse deletion. cairn never turns it off by itself: set it to false and apply before destroying.",
        )
        .default("false"),
        PropSpec::new("iam_database_authentication_enabled", PropType::Bool, "Allow IAM database authentication.").default("false"),
        PropSpec::new("performance_insights_enabled", PropType::Bool, "Turn on Performance Insights.").default("false"),
        PropSpec::new(
            "performance_insights_kms_key",
            PropType::Text(TextRule::len(1, 2048)),
            "KMS key ARN for Performance Insights data (needs performance_insights_enabled). It can be set once: AWS cannot change it \
             afterwards (replace the instance instead).",
        )
        .rule(key_arn_rule),
        PropSpec::new("publicly_accessible", PropType::Bool, "Give the instance a public DNS name reachable from outside the VPC.").default("false"),
        PropSpec::new(
            "skip_final_snapshot",
            PropType::Bool,
            "Destroy without the final snapshot `<identifier>-final`. Kept on the instance in the `cairn:skip-final-snapshot` tag, \
             since destroy sees only the identifier: apply a change to it before destroying.",
        )
        .default("false"),
        PropSpec::new(
            "apply_immediately",
            PropType::Bool,
            "Apply modifications now (true) or in the next maintenance window (false); some changes cause downtime either way.",
        )
        .local()
        .default("true"),
        PropSpec::new("wait_timeout_minutes", PropType::IntRange(1, 1_440), "How long create and update wait for the instance to become available.")
            .local()
            .default("60"),
    ],
    attrs: &["arn", "endpoint", "port", "master_user_secret_arn", "resource_id", "status", "pending_modifications"],
    taggable: true,
    rules: &[
        PropsRule { props: &["max_allocated_storage", "allocated_storage"], check: storage_limit },
        PropsRule { props: &["kms_key", "storage_encrypted"], check: key_needs_encryption },
        PropsRule { props: &["performance_insights_kms_key", "performance_insights_enabled"], check: pi_key_needs_pi },
    ],
};

fn int_of(p: &Props, name: &str) -> Option<i64> {
    SCHEMA.value_or_default(p, name).and_then(|v| v.as_i64())
}

fn flag_of(p: &Props, name: &str) -> bool {
    SCHEMA.value_or_default(p, name).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// Storage autoscaling's ceiling is 0 (off) or at least the allocated storage.
fn storage_limit(p: &Props) -> Vec<String> {
    let storage = int_of(p, "allocated_storage").unwrap_or_default();
    match int_of(p, "max_allocated_storage").filter(|m| *m != 0 && *m < storage) {
        Some(max) => vec![format!("max_allocated_storage ({max}) must be 0 (off) or at least allocated_storage ({storage})")],
        None => vec![],
    }
}

fn key_needs_encryption(p: &Props) -> Vec<String> {
    if SCHEMA.value_or_default(p, "kms_key").is_some() && !flag_of(p, "storage_encrypted") {
        vec!["kms_key needs storage_encrypted: true".into()]
    } else {
        vec![]
    }
}

fn pi_key_needs_pi(p: &Props) -> Vec<String> {
    if SCHEMA.value_or_default(p, "performance_insights_kms_key").is_some() && !flag_of(p, "performance_insights_enabled") {
        vec!["performance_insights_kms_key needs performance_insights_enabled: true".into()]
    } else {
        vec![]
    }
}

/// DB instance identifiers (CreateDBInstance): 1 to 63 letters, digits and `-`, stored in
/// lowercase; unique per account and region. (AWS also wants a letter first and no `--`
/// or trailing `-`; default names never have those.)
pub const NAMING: Naming = Naming::new(TextRule::len(1, 63).chars("-").lowercase(), NameScope::Region);

/// The engines a standalone DB instance can run (Aurora instances belong to a cluster and
/// RDS Custom needs an instance profile, neither of which this kind makes).
const ENGINES: &[&str] = &[
    "postgres",
    "mysql",
    "mariadb",
    "oracle-ee",
    "oracle-ee-cdb",
    "oracle-se2",
    "oracle-se2-cdb",
    "sqlserver-ee",
    "sqlserver-se",
    "sqlserver-ex",
    "sqlserver-web",
    "db2-ae",
    "db2-se",
];

/// cairn keeps no passwords, so RDS must keep the master password in Secrets Manager.
fn password_managed(v: &Value) -> Vec<String> {
    if v.as_bool() == Some(false) {
        vec!["must be true: cairn keeps no passwords, so RDS must keep the master password in Secrets Manager".into()]
    } else {
        vec![]
    }
}

/// `hh24:mi-hh24:mi` in UTC, at least 30 minutes long (it may cross midnight).
fn backup_window(v: &Value) -> Vec<String> {
    let Some(text) = v.as_str() else { return vec![] };
    let minute = |t: &str| -> Option<u32> {
        let (h, m) = t.split_once(':')?;
        let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
        (h < 24 && m < 60 && t.len() == 5).then_some(h * 60 + m)
    };
    match text.split_once('-').and_then(|(a, b)| Some((minute(a)?, minute(b)?))) {
        Some((from, to)) if (to + 24 * 60 - from) % (24 * 60) >= 30 => vec![],
        Some(_) => vec!["must be at least 30 minutes long".into()],
        None => vec![format!("must be hh24:mi-hh24:mi in UTC, e.g. 03:00-04:00, not {text:?}")],
    }
}

const READ_ACTIONS: &[&str] = &["rds:DescribeDBInstances"];
const CREATE_ACTIONS: &[&str] = &[
    "rds:CreateDBInstance",
    // Tags given to a create call are authorised as AddTagsToResource too.
    "rds:AddTagsToResource",
    "rds:DescribeDBInstances",
    // RDS creates the master user secret and uses the KMS keys on the caller's behalf.
    "secretsmanager:CreateSecret",
    "secretsmanager:TagResource",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:GenerateDataKey",
];
const UPDATE_ACTIONS: &[&str] = &[
    "rds:ModifyDBInstance",
    "rds:AddTagsToResource",
    "rds:RemoveTagsFromResource",
    "rds:DescribeDBInstances",
    "secretsmanager:CreateSecret",
    "secretsmanager:TagResource",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:GenerateDataKey",
];
const DELETE_ACTIONS: &[&str] = &[
    "rds:DescribeDBInstances",
    "rds:DeleteDBInstance",
    // The final snapshot.
    "rds:CreateDBSnapshot",
    // RDS removes the master user secret with the instance.
    "secretsmanager:DeleteSecret",
];

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

/// The instance in the stack's shape; `None` for one being deleted.
fn observed(db: &DbInstance) -> Option<Observed> {
    let status = db.db_instance_status().unwrap_or_default();
    if status == "deleting" {
        return None;
    }
    let id = db.db_instance_identifier()?.to_string();
    let mut tags = tags_from(db.tag_list());
    let requested_version = tags.remove(ENGINE_VERSION_TAG);
    let requested_storage = tags.remove(ALLOCATED_STORAGE_TAG).and_then(|s| s.parse::<i32>().ok());
    let skip_final_snapshot = tags.remove(SKIP_FINAL_SNAPSHOT_TAG).as_deref() == Some("true");

    let mut props = Props::new();
    let mut put = |name: &str, value: Value| {
        props.insert(name.to_string(), value);
    };
    put("identifier", json!(id));
    put("engine", json!(db.engine().unwrap_or_default()));
    if let Some(actual) = db.engine_version() {
        let version = match requested_version {
            Some(v) if actual == v || actual.starts_with(&format!("{v}.")) => v,
            _ => actual.to_string(),
        };
        put("engine_version", json!(version));
    }
    put("instance_class", json!(db.db_instance_class().unwrap_or_default()));
    let allocated = db.allocated_storage().unwrap_or_default();
    let autoscaling = db.max_allocated_storage().is_some_and(|m| m > 0);
    let allocated = match requested_storage {
        Some(asked) if autoscaling && allocated >= asked => asked,
        _ => allocated,
    };
    put("allocated_storage", json!(allocated));
    put("max_allocated_storage", json!(db.max_allocated_storage().unwrap_or(0)));
    put("storage_type", json!(db.storage_type().unwrap_or_default()));
    put("storage_encrypted", json!(db.storage_encrypted().unwrap_or(false)));
    if let Some(key) = db.kms_key_id() {
        put("kms_key", json!(key));
    }
    if let Some(name) = db.db_name() {
        put("db_name", json!(name));
    }
    put("master_username", json!(db.master_username().unwrap_or_default()));
    put("manage_master_user_password", json!(db.master_user_secret().is_some()));
    if let Some(group) = db.db_subnet_group().and_then(|g| g.db_subnet_group_name()) {
        put("db_subnet_group_name", json!(group));
    }
    if let Some(group) = db.db_parameter_groups().first().and_then(|g| g.db_parameter_group_name()) {
        put("parameter_group_name", json!(group));
    }
    let mut groups: Vec<&str> = db.vpc_security_groups().iter().filter(|g| g.status() != Some("removing")).filter_map(|g| g.vpc_security_group_id()).collect();
    groups.sort();
    put("vpc_security_group_ids", json!(groups));
    put("multi_az", json!(db.multi_az().unwrap_or(false)));
    put("backup_retention_period", json!(db.backup_retention_period().unwrap_or(0)));
    if let Some(window) = db.preferred_backup_window() {
        put("preferred_backup_window", json!(window));
    }
    put("deletion_protection", json!(db.deletion_protection().unwrap_or(false)));
    put("iam_database_authentication_enabled", json!(db.iam_database_authentication_enabled().unwrap_or(false)));
    put("performance_insights_enabled", json!(db.performance_insights_enabled().unwrap_or(false)));
    if let Some(key) = db.performance_insights_kms_key_id() {
        put("performance_insights_kms_key", json!(key));
    }
    put("publicly_accessible", json!(db.publicly_accessible().unwrap_or(false)));
    put("skip_final_snapshot", json!(skip_final_snapshot));

    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(db.db_instance_arn().unwrap_or_default()));
    if let Some(address) = db.endpoint().and_then(|e| e.address()) {
        attrs.insert("endpoint".into(), json!(address));
    }
    if let Some(port) = db.endpoint().and_then(|e| e.port()).or(db.db_instance_port().filter(|p| *p > 0)) {
        attrs.insert("port".into(), json!(port));
    }
    if let Some(secret) = db.master_user_secret().and_then(|s| s.secret_arn()) {
        attrs.insert("master_user_secret_arn".into(), json!(secret));
    }
    if let Some(resource_id) = db.dbi_resource_id() {
        attrs.insert("resource_id".into(), json!(resource_id));
    }
    attrs.insert("status".into(), json!(status));
    attrs.insert("pending_modifications".into(), pending_modifications(db));
    Some(Observed { id, props, attrs, tags })
}

/// Changes RDS accepted but holds for the maintenance window (or a reboot), keyed by the
/// stack's prop names: read reports the current values, so these explain a lasting diff.
fn pending_modifications(db: &DbInstance) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(p) = db.pending_modified_values() {
        pending_values(p, &mut out);
    }
    if let Some(status) = db.db_parameter_groups().first().and_then(|g| g.parameter_apply_status()) {
        if status != "in-sync" && status != "applying" {
            out.insert("parameter_apply_status".into(), json!(status));
        }
    }
    Value::Object(out)
}

fn pending_values(p: &PendingModifiedValues, out: &mut serde_json::Map<String, Value>) {
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(v) = value {
            out.insert(name.to_string(), v);
        }
    };
    put("instance_class", p.db_instance_class().map(|v| json!(v)));
    put("allocated_storage", p.allocated_storage().map(|v| json!(v)));
    put("engine_version", p.engine_version().map(|v| json!(v)));
    put("storage_type", p.storage_type().map(|v| json!(v)));
    put("multi_az", p.multi_az().map(|v| json!(v)));
    put("backup_retention_period", p.backup_retention_period().map(|v| json!(v)));
    put("iam_database_authentication_enabled", p.iam_database_authentication_enabled().map(|v| json!(v)));
    put("db_subnet_group_name", p.db_subnet_group_name().map(|v| json!(v)));
    put("port", p.port().map(|v| json!(v)));
    put("iops", p.iops().map(|v| json!(v)));
    put("storage_throughput", p.storage_throughput().map(|v| json!(v)));
    put("ca_certificate_identifier", p.ca_certificate_identifier().map(|v| json!(v)));
    // Never the password itself: only that a change is waiting.
    put("master_user_password", p.master_user_password().map(|_| json!("(pending)")));
}

/// The stack's props, checked before any call so a bad value cannot leave a half-made database.
struct Spec {
    identifier: String,
    engine: String,
    engine_version: Option<String>,
    instance_class: String,
    allocated_storage: i32,
    max_allocated_storage: Option<i32>,
    storage_type: String,
    storage_encrypted: bool,
    kms_key: Option<String>,
    db_name: Option<String>,
    master_username: String,
    db_subnet_group_name: Option<String>,
    parameter_group_name: Option<String>,
    vpc_security_group_ids: Option<Vec<String>>,
    multi_az: bool,
    backup_retention_period: i32,
    preferred_backup_window: Option<String>,
    deletion_protection: bool,
    iam_auth: bool,
    pi_enabled: bool,
    pi_kms_key: Option<String>,
    publicly_accessible: bool,
    skip_final_snapshot: bool,
    apply_immediately: bool,
    wait_minutes: i64,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
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
            skip_final_snapshot: flag("skip_final_snapshot"),
            apply_immediately: flag("apply_immediately"),
            wait_minutes: get("wait_timeout_minutes").and_then(|v| v.as_i64()).unwrap_or(DEFAULT_WAIT_MINUTES),
        })
    }

    fn autoscaling(&self) -> bool {
        self.max_allocated_storage.is_some_and(|m| m > 0)
    }

    /// cairn's own settings, carried on the instance as tags.
    fn internal_tags(&self) -> Tags {
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

    fn tags(&self, desired: &Desired) -> Tags {
        let mut tags = desired.tags.clone();
        tags.extend(self.internal_tags());
        tags
    }
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::rds_common::test_support::InstantClock;
    use aws_sdk_rds::config::retry::RetryConfig;
    use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_rds::error::ErrorMetadata;
    use aws_sdk_rds::operation::add_tags_to_resource::{AddTagsToResourceInput, AddTagsToResourceOutput};
    use aws_sdk_rds::operation::create_db_instance::{CreateDbInstanceInput, CreateDbInstanceOutput};
    use aws_sdk_rds::operation::delete_db_instance::{DeleteDbInstanceInput, DeleteDbInstanceOutput};
    use aws_sdk_rds::operation::describe_db_instances::{DescribeDBInstancesError, DescribeDbInstancesOutput};
    use aws_sdk_rds::operation::modify_db_instance::{ModifyDbInstanceInput, ModifyDbInstanceOutput};
    use aws_sdk_rds::operation::remove_tags_from_resource::{RemoveTagsFromResourceInput, RemoveTagsFromResourceOutput};
    use aws_sdk_rds::types::{DbParameterGroupStatus, DbSubnetGroup, Endpoint, MasterUserSecret, VpcSecurityGroupMembership};
    use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
    use cairn_engine::provider::Owner;

    const ID: &str = "shop-dev-db";
    const ARN: &str = "arn:aws:rds:us-east-1:123456789012:db:shop-dev-db";
    const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1234";

    fn kind_with_clock(rules: &[&Rule], clock: &InstantClock) -> RdsInstance {
        let mut mocks = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            mocks = mocks.with_rule(rule);
        }
        let config = aws_sdk_rds::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .sleep_impl(clock.clone())
            .time_source(clock.clone())
            .interceptor(mocks)
            .build();
        RdsInstance::from_client(Client::from_conf(config))
    }

    fn kind(rules: &[&Rule]) -> RdsInstance {
        kind_with_clock(rules, &InstantClock::default())
    }

    fn owner() -> Owner {
        Owner { stack: "shop".into(), env: "dev".into(), address: "db".into() }
    }

    fn desired(props: Value) -> Desired {
        let mut tags = owner().tags();
        tags.insert("Project".into(), "LegacyPlatform".into());
        Desired { props: props.as_object().unwrap().clone(), tags, owner: owner(), default_name: ID.into(), idempotency_token: "t".into() }
    }

    fn base_props() -> Value {
        json!({
            "engine_version": "16",
            "instance_class": "db.t4g.medium",
            "allocated_storage": 20,
            "db_subnet_group_name": "shop-dev-db-subnets",
            "parameter_group_name": "shop-dev-pg",
            "vpc_security_group_ids": ["sg-b", "sg-a"],
            "backup_retention_period": 7,
            "wait_timeout_minutes": 30
        })
    }

    fn error(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message("mocked").build()
    }

    /// An instance as DescribeDBInstances reports one created from `base_props`.
    fn db(status: &str) -> aws_sdk_rds::types::builders::DbInstanceBuilder {
        let mut tags = desired(json!({})).tags;
        tags.insert(ENGINE_VERSION_TAG.into(), "16".into());
        DbInstance::builder()
            .db_instance_identifier(ID)
            .db_instance_arn(ARN)
            .db_instance_status(status)
            .engine("postgres")
            .engine_version("16.4")
            .db_instance_class("db.t4g.medium")
            .allocated_storage(20)
            .storage_type("gp3")
            .storage_encrypted(true)
            .kms_key_id("arn:aws:kms:us-east-1:123456789012:key/aws-rds")
            .master_username("postgres")
            .master_user_secret(MasterUserSecret::builder().secret_arn(SECRET).secret_status("active").build())
            .db_subnet_group(DbSubnetGroup::builder().db_subnet_group_name("shop-dev-db-subnets").build())
            .db_parameter_groups(DbParameterGroupStatus::builder().db_parameter_group_name("shop-dev-pg").parameter_apply_status("in-sync").build())
            .vpc_security_groups(VpcSecurityGroupMembership::builder().vpc_security_group_id("sg-a").status("active").build())
            .vpc_security_groups(VpcSecurityGroupMembership::builder().vpc_security_group_id("sg-b").status("active").build())
            .multi_az(false)
            .backup_retention_period(7)
            .preferred_backup_window("03:00-03:30")
            .deletion_protection(false)
            .iam_database_authentication_enabled(false)
            .performance_insights_enabled(false)
            .publicly_accessible(false)
            .endpoint(Endpoint::builder().address("shop-dev-db.abc.us-east-1.rds.amazonaws.com").port(5432).build())
            .dbi_resource_id("db-ABCDEFG")
            .set_tag_list(Some(rds_tags(&tags)))
    }

    fn describe_output(instance: DbInstance) -> DescribeDbInstancesOutput {
        DescribeDbInstancesOutput::builder().db_instances(instance).build()
    }

    /// DescribeDBInstances answering with these statuses in turn, then the last one forever.
    fn describe_sequence(statuses: &[&'static str]) -> Rule {
        let mut seq = mock!(Client::describe_db_instances).match_requests(|r| r.db_instance_identifier() == Some(ID)).sequence();
        for (i, status) in statuses.iter().enumerate() {
            let status = *status;
            seq = seq.output(move || describe_output(db(status).build()));
            if i == statuses.len() - 1 {
                return seq.repeatedly().build();
            }
        }
        unreachable!("at least one status")
    }

    fn not_found() -> DescribeDBInstancesError {
        DescribeDBInstancesError::generic(error("DBInstanceNotFound"))
    }

    /// Requests a mock saw, shared between the mock and the test.
    type Seen<T> = Arc<Mutex<Vec<T>>>;

    fn recorder<T>() -> (Seen<T>, Seen<T>) {
        let seen: Seen<T> = Arc::new(Mutex::new(Vec::new()));
        (seen.clone(), seen)
    }

    fn assert_actions(list: &[&str], operations: &[&str]) {
        for op in operations {
            assert!(list.contains(&format!("rds:{op}").as_str()), "{op} missing from {list:?}");
        }
    }

    #[test]
    fn cairn_settings_are_local_and_the_wait_default_is_the_schemas() {
        for name in ["apply_immediately", "wait_timeout_minutes"] {
            assert!(SCHEMA.prop(name).unwrap().local, "{name}");
        }
        assert_eq!(SCHEMA.prop("wait_timeout_minutes").and_then(|p| p.default_value()), Some(json!(DEFAULT_WAIT_MINUTES)));
        let spec = Spec::from(&desired(json!({"instance_class": "db.t4g.micro", "allocated_storage": 20}))).unwrap();
        assert_eq!((spec.engine.as_str(), spec.storage_type.as_str(), spec.master_username.as_str()), ("postgres", "gp3", "postgres"));
        assert_eq!((spec.storage_encrypted, spec.backup_retention_period, spec.wait_minutes), (true, 7, DEFAULT_WAIT_MINUTES));
    }

    /// The schema refuses what the request builder refuses (the other half of the agreement test).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let with = |key: &str, value: Value| {
            let mut p = base_props();
            p[key] = value;
            p
        };
        for props in [
            json!({"allocated_storage": 20}),
            json!({"instance_class": "db.t4g.micro"}),
            with("allocated_storage", json!(0)),
            with("allocated_storage", json!(5_000_000_000i64)),
            with("allocated_storage", json!("20")),
            with("manage_master_user_password", json!(false)),
            with("identifier", json!("Shop-DB")),
            with("identifier", json!("shop_db")),
            with("db_subnet_group_name", json!("Subnets")),
            with("parameter_group_name", json!("Params")),
            with("kms_key", json!("alias/aws/rds")),
            with("performance_insights_kms_key", json!("key-id")),
            with("backup_retention_period", json!(40)),
            with("wait_timeout_minutes", json!(0)),
            with("vpc_security_group_ids", json!(["sg-a", 7])),
            with("multi_az", json!("yes")),
            with("storage_type", json!("ssd")),
            with("engine", json!("postgresql")),
            with("instance_clas", json!("db.t4g.micro")),
            with("max_allocated_storage", json!(10)),
            {
                let mut p = with("storage_encrypted", json!(false));
                p["kms_key"] = json!("arn:aws:kms:us-east-1:123456789012:key/abcd1234");
                p
            },
            with("performance_insights_kms_key", json!("arn:aws:kms:us-east-1:123456789012:key/abcd1234")),
        ] {
            let d = desired(props.clone());
            assert!(Spec::from(&d).is_err(), "builder accepts {props}");
            assert!(crate::rds_common::test_support::schema_refuses(&SCHEMA, &d.props), "schema accepts {props}");
        }
    }

    /// `validate` refuses at their place what an apply would have failed on halfway, in the
    /// instance and in the postgres component's parts alike.
    #[test]
    fn validate_refuses_bad_values_with_their_location() {
        use cairn_engine::compile::{compile_source, CompileOptions};
        use cairn_engine::source::SourceFile;
        let text = "stack: shop\nresources:\n  db:\n    type: aws.rds.instance\n    props:\n      identifier: Shop-DB\n      instance_class: db.t4g.micro\n      allocated_storage: 20\n      backup_retention_period: 40\n      kms_key: alias/aws/rds\n      manage_master_user_password: false\n";
        let file = SourceFile::new("stack.yaml", text.to_string());
        let rendered = match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas) {
            Ok(_) => panic!("validate accepted the stack"),
            Err(d) => d.render(&file),
        };
        for want in [
            "stack.yaml:6:",
            "`identifier` \"Shop-DB\"",
            "stack.yaml:9:",
            "`backup_retention_period` must be from 0 to 35, found 40",
            "stack.yaml:10:",
            "must be a KMS key ARN",
            "stack.yaml:11:",
            "cairn keeps no passwords",
        ] {
            assert!(rendered.contains(want), "{want:?} missing from:\n{rendered}");
        }
    }

    #[test]
    fn backup_windows_are_checked_for_form_and_length() {
        assert!(backup_window(&json!("03:00-03:30")).is_empty());
        assert!(backup_window(&json!("23:45-00:15")).is_empty(), "across midnight");
        for bad in ["03:00-03:10", "3:00-04:00x", "25:00-01:00", "03:00/04:00"] {
            assert!(!backup_window(&json!(bad)).is_empty(), "{bad}");
        }
    }

    /// Props the generator can draw, plus the ones it cannot (key ARNs and backup windows
    /// follow a form no character rule states; the schema's rule refuses random text).
    fn accepted_props() -> impl proptest::strategy::Strategy<Value = Props> {
        use proptest::prelude::*;
        let key = proptest::option::of("[0-9a-f]{8}").prop_map(|k| k.map(|k| json!(format!("arn:aws:kms:us-east-1:123456789012:key/{k}"))));
        let window = proptest::option::of((0u32..24, 0u32..60, 30u32..600)).prop_map(|w| {
            w.map(|(h, m, len)| {
                let end = (h * 60 + m + len) % (24 * 60);
                json!(format!("{h:02}:{m:02}-{:02}:{:02}", end / 60, end % 60))
            })
        });
        (crate::schema_gen::props(&SCHEMA), key.clone(), key, window).prop_map(|(mut props, kms, pi, window)| {
            for (name, v) in [("kms_key", kms), ("performance_insights_kms_key", pi), ("preferred_backup_window", window)] {
                if let Some(v) = v {
                    props.insert(name.into(), v);
                }
            }
            props
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// Every props value the schema accepts (its rules across props included) becomes a CreateDBInstance request.
        #[test]
        fn every_value_the_schema_accepts_builds_a_request(props in accepted_props()) {
            proptest::prop_assume!(crate::schema_check::accepts(&SCHEMA, &props));
            let spec = Spec::from(&desired(Value::Object(props)));
            proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
            let spec = spec.unwrap();
            proptest::prop_assert!(NAMING.rule.violation(&spec.identifier).is_none(), "{}", spec.identifier);
            proptest::prop_assert!(spec.allocated_storage > 0 && spec.wait_minutes >= 1);
        }
    }

    #[tokio::test]
    async fn create_sends_one_call_with_tags_and_managed_password_then_waits_until_available() {
        let (created, sink) = recorder::<CreateDbInstanceInput>();
        let create = mock!(Client::create_db_instance).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateDbInstanceOutput::builder().db_instance(db("creating").build()).build()
        });
        let describe = describe_sequence(&["creating", "backing-up", "available"]);
        let d = desired(base_props());
        let clock = InstantClock::default();

        let observed = kind_with_clock(&[&create, &describe], &clock).create(&d).await.unwrap();

        let input = created.lock().unwrap().pop().unwrap();
        assert_eq!(input.db_instance_identifier(), Some(ID), "the derived default identifier");
        assert_eq!((input.engine(), input.engine_version(), input.db_instance_class()), (Some("postgres"), Some("16"), Some("db.t4g.medium")));
        assert_eq!((input.allocated_storage(), input.storage_type(), input.storage_encrypted()), (Some(20), Some("gp3"), Some(true)));
        assert_eq!(input.manage_master_user_password(), Some(true));
        assert_eq!(input.master_user_password(), None, "cairn never sends a password");
        assert_eq!(input.max_allocated_storage(), None, "no autoscaling unless asked");
        assert_eq!((input.db_subnet_group_name(), input.db_parameter_group_name()), (Some("shop-dev-db-subnets"), Some("shop-dev-pg")));
        assert_eq!((input.backup_retention_period(), input.deletion_protection(), input.publicly_accessible()), (Some(7), Some(false), Some(false)));
        let tags = tags_from(input.tags());
        assert_eq!(tags.get("cairn:address").map(String::as_str), Some("db"), "ownership tags in the creating call");
        assert_eq!(tags.get(ENGINE_VERSION_TAG).map(String::as_str), Some("16"));
        assert!(describe.num_calls() >= 3, "polled until available");
        assert!(clock.elapsed_since_start() > Duration::ZERO, "the waiter slept between polls");

        assert_eq!(observed.id, ID);
        for (name, want) in d.props.iter().filter(|(n, _)| !SCHEMA.prop(n).unwrap().local) {
            let have = observed.props.get(name);
            let same = match want {
                Value::Array(w) => {
                    let mut w = w.clone();
                    w.sort_by_key(|v| v.to_string());
                    have == Some(&Value::Array(w))
                }
                w => have == Some(w),
            };
            assert!(same, "{name}: asked {want}, read {have:?}");
        }
        assert_eq!(observed.props["engine_version"], json!("16"), "the major version the stack gave, though RDS runs 16.4");
        assert_eq!(observed.props["manage_master_user_password"], json!(true));
        assert_eq!(observed.props["skip_final_snapshot"], json!(false));
        assert!(!observed.props.contains_key("apply_immediately") && !observed.props.contains_key("wait_timeout_minutes"), "local props are never read");
        assert_eq!(observed.attrs["master_user_secret_arn"], json!(SECRET));
        assert_eq!(observed.attrs["endpoint"], json!("shop-dev-db.abc.us-east-1.rds.amazonaws.com"));
        assert_eq!(observed.attrs["port"], json!(5432));
        assert_eq!(observed.attrs["pending_modifications"], json!({}));
        assert_eq!(observed.tags, d.tags, "cairn's bookkeeping tags are not the stack's tags");
        assert_actions(CREATE_ACTIONS, &["CreateDBInstance", "AddTagsToResource", "DescribeDBInstances"]);
    }

    #[tokio::test]
    async fn create_that_outlasts_the_timeout_is_retryable_and_says_how_to_continue() {
        let create = mock!(Client::create_db_instance).then_output(|| CreateDbInstanceOutput::builder().build());
        let describe = describe_sequence(&["creating"]);
        let clock = InstantClock::default();
        let mut props = base_props();
        props["wait_timeout_minutes"] = json!(2);

        let result = kind_with_clock(&[&create, &describe], &clock).create(&desired(props)).await;

        match result {
            Err(ProviderError::Retryable(m)) => {
                assert!(m.contains("still creating after 2 minutes") && m.contains("raise wait_timeout_minutes or re-run apply"), "{m}")
            }
            other => panic!("expected a retryable timeout, got {other:?}"),
        }
        assert!(clock.elapsed_since_start() >= Duration::from_secs(120), "waited the whole timeout: {:?}", clock.elapsed_since_start());
    }

    #[tokio::test]
    async fn create_that_ends_failed_is_fatal() {
        let create = mock!(Client::create_db_instance).then_output(|| CreateDbInstanceOutput::builder().build());
        let describe = describe_sequence(&["creating", "incompatible-parameters"]);
        let result = kind(&[&create, &describe]).create(&desired(base_props())).await;
        assert!(matches!(&result, Err(ProviderError::Fatal(m)) if m.contains("incompatible-parameters")), "{result:?}");
    }

    #[tokio::test]
    async fn settings_that_cannot_work_are_refused_before_any_call() {
        let k = kind(&[]);
        let with = |key: &str, value: Value| {
            let mut p = base_props();
            p[key] = value;
            desired(p)
        };
        for (d, needle) in [
            (with("manage_master_user_password", json!(false)), "cairn keeps no passwords"),
            (with("identifier", json!("Shop-DB")), "\"shop-db\""),
            (with("db_subnet_group_name", json!("Subnets")), "lowercase"),
            (with("kms_key", json!("alias/aws/rds")), "KMS key ARN"),
            (with("max_allocated_storage", json!(10)), "max_allocated_storage"),
            (with("backup_retention_period", json!(40)), "must be from 0 to 35"),
            (with("performance_insights_kms_key", json!("arn:aws:kms:us-east-1:123456789012:key/k")), "performance_insights_enabled"),
            (with("wait_timeout_minutes", json!(0)), "wait_timeout_minutes"),
            (desired(json!({"allocated_storage": 20})), "instance_class"),
        ] {
            let result = k.create(&d).await;
            assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains(needle)), "{needle}: {result:?}");
        }
    }

    #[tokio::test]
    async fn read_of_missing_or_deleting_instance_is_none() {
        let missing = mock!(Client::describe_db_instances).then_error(not_found);
        assert_eq!(kind(&[&missing]).read(ID).await.unwrap(), None);
        let deleting = describe_sequence(&["deleting"]);
        assert_eq!(kind(&[&deleting]).read(ID).await.unwrap(), None);
    }

    #[tokio::test]
    async fn read_hides_autoscaled_growth_but_not_a_manual_resize() {
        let mut tags = owner().tags();
        tags.insert(ALLOCATED_STORAGE_TAG.into(), "100".into());
        let grown = mock!(Client::describe_db_instances).then_output(move || {
            describe_output(db("available").allocated_storage(150).max_allocated_storage(1000).set_tag_list(Some(rds_tags(&tags))).build())
        });
        let o = kind(&[&grown]).read(ID).await.unwrap().unwrap();
        assert_eq!((o.props["allocated_storage"].clone(), o.props["max_allocated_storage"].clone()), (json!(100), json!(1000)));
        assert!(!o.tags.contains_key(ALLOCATED_STORAGE_TAG));

        let manual = mock!(Client::describe_db_instances).then_output(|| describe_output(db("available").allocated_storage(150).build()));
        let o = kind(&[&manual]).read(ID).await.unwrap().unwrap();
        assert_eq!((o.props["allocated_storage"].clone(), o.props["max_allocated_storage"].clone()), (json!(150), json!(0)));
    }

    #[tokio::test]
    async fn read_reports_a_pinned_version_that_differs_as_the_running_one() {
        let describe = mock!(Client::describe_db_instances).then_output(|| describe_output(db("available").engine_version("16.10").build()));
        let mut tags = owner().tags();
        tags.insert(ENGINE_VERSION_TAG.into(), "16.1".into());
        let pinned = mock!(Client::describe_db_instances)
            .then_output(move || describe_output(db("available").engine_version("16.10").set_tag_list(Some(rds_tags(&tags))).build()));
        assert_eq!(kind(&[&describe]).read(ID).await.unwrap().unwrap().props["engine_version"], json!("16"));
        assert_eq!(kind(&[&pinned]).read(ID).await.unwrap().unwrap().props["engine_version"], json!("16.10"), "16.1 is not a prefix of 16.10");
    }

    #[tokio::test]
    async fn deferred_update_sends_only_the_change_and_read_reports_it_pending() {
        let (modified, sink) = recorder::<ModifyDbInstanceInput>();
        let modify = mock!(Client::modify_db_instance).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            ModifyDbInstanceOutput::builder().build()
        });
        let describe = mock!(Client::describe_db_instances).then_output(|| {
            describe_output(db("available").pending_modified_values(PendingModifiedValues::builder().db_instance_class("db.r6g.large").build()).build())
        });
        let mut props = base_props();
        props["instance_class"] = json!("db.r6g.large");
        props["apply_immediately"] = json!(false);
        // Other props differ from the mock too, but are not in `changed`.
        props["multi_az"] = json!(true);

        let observed = kind(&[&modify, &describe]).update(ID, &desired(props), &["instance_class".into()]).await.unwrap();

        let input = modified.lock().unwrap().pop().unwrap();
        assert_eq!(input.db_instance_identifier(), Some(ID));
        assert_eq!(input.db_instance_class(), Some("db.r6g.large"));
        assert_eq!(input.apply_immediately(), Some(false), "held for the maintenance window");
        assert_eq!((input.multi_az(), input.allocated_storage(), input.engine_version()), (None, None, None), "only what changed");
        assert_eq!(observed.props["instance_class"], json!("db.t4g.medium"), "read reports the current value, so the plan keeps the change");
        assert_eq!(observed.attrs["pending_modifications"], json!({"instance_class": "db.r6g.large"}));
        assert_actions(UPDATE_ACTIONS, &["ModifyDBInstance", "DescribeDBInstances"]);
    }

    #[tokio::test]
    async fn immediate_update_waits_for_the_modification_to_finish() {
        let modify = mock!(Client::modify_db_instance)
            .match_requests(|r| r.apply_immediately() == Some(true) && r.allocated_storage() == Some(50))
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let describe = describe_sequence(&["available", "modifying", "modifying", "available"]);
        let mut props = base_props();
        props["allocated_storage"] = json!(50);
        kind(&[&modify, &describe]).update(ID, &desired(props), &["allocated_storage".into()]).await.unwrap();
        assert_eq!(modify.num_calls(), 1);
        assert!(describe.num_calls() >= 4, "polled through modifying: {}", describe.num_calls());
    }

    #[tokio::test]
    async fn update_of_storage_already_grown_by_autoscaling_only_records_the_new_figure() {
        // No ModifyDBInstance rule: asking RDS to shrink storage would panic here.
        let mut tags = desired(json!({})).tags;
        tags.insert(ENGINE_VERSION_TAG.into(), "16".into());
        tags.insert(ALLOCATED_STORAGE_TAG.into(), "100".into());
        let describe = mock!(Client::describe_db_instances).then_output(move || {
            describe_output(db("available").allocated_storage(150).max_allocated_storage(1000).set_tag_list(Some(rds_tags(&tags))).build())
        });
        let (added, sink) = recorder::<AddTagsToResourceInput>();
        let add = mock!(Client::add_tags_to_resource).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            AddTagsToResourceOutput::builder().build()
        });
        let mut props = base_props();
        props["allocated_storage"] = json!(120);
        props["max_allocated_storage"] = json!(1000);
        kind(&[&describe, &add]).update(ID, &desired(props), &["allocated_storage".into()]).await.unwrap();
        let input = added.lock().unwrap().pop().unwrap();
        assert_eq!(input.resource_name(), Some(ARN));
        assert_eq!(tags_from(input.tags()), Tags::from([(ALLOCATED_STORAGE_TAG.to_string(), "120".to_string())]));
    }

    #[tokio::test]
    async fn tag_update_goes_by_arn_and_keeps_cairns_own_tags() {
        let mut current = desired(json!({})).tags;
        current.insert(ENGINE_VERSION_TAG.into(), "16".into());
        current.insert("Owner".into(), "someone-else".into());
        let describe =
            mock!(Client::describe_db_instances).then_output(move || describe_output(db("available").set_tag_list(Some(rds_tags(&current))).build()));
        let (added, sink) = recorder::<AddTagsToResourceInput>();
        let add = mock!(Client::add_tags_to_resource).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            AddTagsToResourceOutput::builder().build()
        });
        let (removed, sink) = recorder::<RemoveTagsFromResourceInput>();
        let remove = mock!(Client::remove_tags_from_resource).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            RemoveTagsFromResourceOutput::builder().build()
        });
        let mut d = desired(base_props());
        d.tags.insert("Team".into(), "data".into());
        kind(&[&describe, &add, &remove]).update(ID, &d, &["tags".into()]).await.unwrap();
        let add = added.lock().unwrap().pop().unwrap();
        assert_eq!(add.resource_name(), Some(ARN));
        assert_eq!(tags_from(add.tags()), Tags::from([("Team".to_string(), "data".to_string())]));
        let remove = removed.lock().unwrap().pop().unwrap();
        assert_eq!(remove.tag_keys(), ["Owner".to_string()], "the engine-version tag stays");
        assert_actions(UPDATE_ACTIONS, &["AddTagsToResource", "RemoveTagsFromResource"]);
    }

    #[tokio::test]
    async fn changing_a_performance_insights_key_once_set_is_refused() {
        let describe = mock!(Client::describe_db_instances).then_output(|| {
            describe_output(
                db("available").performance_insights_enabled(true).performance_insights_kms_key_id("arn:aws:kms:us-east-1:123456789012:key/old").build(),
            )
        });
        let mut props = base_props();
        props["performance_insights_enabled"] = json!(true);
        props["performance_insights_kms_key"] = json!("arn:aws:kms:us-east-1:123456789012:key/new");
        let result = kind(&[&describe]).update(ID, &desired(props), &["performance_insights_kms_key".into()]).await;
        assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("cannot change the Performance Insights KMS key")), "{result:?}");
    }

    #[tokio::test]
    async fn delete_refuses_an_instance_with_deletion_protection() {
        // No DeleteDBInstance or ModifyDBInstance rule: turning protection off silently would panic.
        let describe = mock!(Client::describe_db_instances).then_output(|| describe_output(db("available").deletion_protection(true).build()));
        let result = kind(&[&describe]).delete(ID).await;
        assert_eq!(
            result,
            Err(ProviderError::Conflict(format!("{KIND} {ID} has deletion_protection; set deletion_protection: false and apply before destroying")))
        );
    }

    #[tokio::test]
    async fn delete_takes_a_final_snapshot_and_waits_until_gone() {
        let (deleted, sink) = recorder::<DeleteDbInstanceInput>();
        let delete = mock!(Client::delete_db_instance).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            DeleteDbInstanceOutput::builder().build()
        });
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .output(|| describe_output(db("available").build()))
            .output(|| describe_output(db("deleting").build()))
            .times(2)
            .error(not_found)
            .build();
        kind(&[&delete, &describe]).delete(ID).await.unwrap();
        let input = deleted.lock().unwrap().pop().unwrap();
        assert_eq!(input.skip_final_snapshot(), Some(false));
        assert_eq!(input.final_db_snapshot_identifier(), Some("shop-dev-db-final"));
        assert_eq!(describe.num_calls(), 4, "polled through deleting until not found");
        assert_actions(DELETE_ACTIONS, &["DescribeDBInstances", "DeleteDBInstance", "CreateDBSnapshot"]);
    }

    #[tokio::test]
    async fn delete_skips_the_snapshot_when_the_instance_says_so() {
        let mut tags = owner().tags();
        tags.insert(SKIP_FINAL_SNAPSHOT_TAG.into(), "true".into());
        let delete = mock!(Client::delete_db_instance)
            .match_requests(|r| r.skip_final_snapshot() == Some(true) && r.final_db_snapshot_identifier().is_none())
            .then_output(|| DeleteDbInstanceOutput::builder().build());
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .output(move || describe_output(db("available").set_tag_list(Some(rds_tags(&tags))).build()))
            .error(not_found)
            .build();
        kind(&[&delete, &describe]).delete(ID).await.unwrap();
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn delete_of_missing_instance_is_ok_and_of_a_deleting_one_just_waits() {
        let missing = mock!(Client::describe_db_instances).then_error(not_found);
        kind(&[&missing]).delete(ID).await.unwrap();
        // No DeleteDBInstance rule: deleting twice would panic.
        let deleting = mock!(Client::describe_db_instances).sequence().output(|| describe_output(db("deleting").build())).times(2).error(not_found).build();
        kind(&[&deleting]).delete(ID).await.unwrap();
    }

    #[tokio::test]
    async fn delete_that_outlasts_the_wait_is_retryable() {
        let delete = mock!(Client::delete_db_instance).then_output(|| DeleteDbInstanceOutput::builder().build());
        let describe = mock!(Client::describe_db_instances)
            .sequence()
            .output(|| describe_output(db("available").build()))
            .output(|| describe_output(db("deleting").build()))
            .repeatedly()
            .build();
        let clock = InstantClock::default();
        let result = kind_with_clock(&[&delete, &describe], &clock).delete(ID).await;
        assert!(
            matches!(&result, Err(ProviderError::Retryable(m)) if m.contains("still deleting after 60 minutes") && m.contains("re-run destroy")),
            "{result:?}"
        );
        assert!(clock.elapsed_since_start() >= Duration::from_secs(3600));
    }

    #[tokio::test]
    async fn delete_when_the_final_snapshot_name_is_taken_explains_the_way_out() {
        use aws_sdk_rds::operation::delete_db_instance::DeleteDBInstanceError;
        let delete = mock!(Client::delete_db_instance).then_error(|| DeleteDBInstanceError::generic(error("DBSnapshotAlreadyExists")));
        let describe = describe_sequence(&["available"]);
        let result = kind(&[&delete, &describe]).delete(ID).await;
        assert!(
            matches!(&result, Err(ProviderError::Conflict(m)) if m.contains("shop-dev-db-final already exists") && m.contains("skip_final_snapshot")),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn find_owned_needs_the_owner_tags() {
        let ours = describe_sequence(&["available"]);
        assert_eq!(kind(&[&ours]).find_owned(&desired(base_props())).await.unwrap().map(|o| o.id), Some(ID.to_string()));
        let foreign = mock!(Client::describe_db_instances).then_output(|| {
            describe_output(db("available").set_tag_list(Some(rds_tags(&Tags::from([("cairn:stack".to_string(), "other".to_string())])))).build())
        });
        assert_eq!(kind(&[&foreign]).find_owned(&desired(base_props())).await.unwrap(), None);
    }

    fn already_exists() -> Rule {
        use aws_sdk_rds::operation::create_db_instance::CreateDBInstanceError;
        mock!(Client::create_db_instance).then_error(|| CreateDBInstanceError::generic(error("DBInstanceAlreadyExists")))
    }

    #[tokio::test]
    async fn create_answered_already_exists_waits_for_our_instance_and_adopts_it() {
        let create = already_exists();
        let describe = describe_sequence(&["creating", "creating", "available"]);
        let adopted = kind(&[&create, &describe]).create(&desired(base_props())).await;
        assert_eq!(adopted.map(|o| o.id), Ok(ID.to_string()));
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn create_answered_already_exists_refuses_an_instance_that_is_not_ours() {
        let foreign = mock!(Client::describe_db_instances).then_output(|| describe_output(db("available").set_tag_list(Some(vec![])).build()));
        let result = kind(&[&already_exists(), &foreign]).create(&desired(base_props())).await;
        crate::adopt::testing::assert_refused(result, &format!("DB instance {ID}"));
    }

    #[tokio::test]
    async fn find_owned_finishes_the_wait_of_a_run_killed_while_creating() {
        let describe = describe_sequence(&["creating", "creating", "backing-up", "available"]);
        let found = kind(&[&describe]).find_owned(&desired(base_props())).await.unwrap();
        assert_eq!(found.map(|o| o.props["instance_class"].clone()), Some(json!("db.t4g.medium")));
        assert!(describe.num_calls() >= 4, "waited until available");
    }
}
