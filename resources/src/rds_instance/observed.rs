//! DescribeDBInstances output in the stack's shape, and the changes RDS holds for the maintenance window.

use aws_sdk_rds::types::{DbInstance, PendingModifiedValues};
use cairn_engine::provider::{Observed, Props};
use serde_json::{json, Value};

use super::{ALLOCATED_STORAGE_TAG, ENGINE_VERSION_TAG, SKIP_FINAL_SNAPSHOT_TAG};
use crate::rds_common::tags_from;

/// The instance in the stack's shape; `None` for one being deleted.
pub(super) fn observed(db: &DbInstance) -> Option<Observed> {
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
    let interval = db.monitoring_interval().unwrap_or(0);
    put("monitoring_interval", json!(interval));
    if let Some(role) = db.monitoring_role_arn().filter(|_| interval > 0) {
        put("monitoring_role_arn", json!(role));
    }
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
pub(super) fn pending_modifications(db: &DbInstance) -> Value {
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

pub(super) fn pending_values(p: &PendingModifiedValues, out: &mut serde_json::Map<String, Value>) {
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
