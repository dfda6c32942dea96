//! Terraform's RDS resources → `aws.rds.*`: DB instances, subnet groups and parameter groups.
//!
//! Since provider v5 an `aws_db_instance`'s `id` is the DBI resource id (`db-ABC…`); the
//! identifier cairn reads instances by is its `identifier` attribute. Settings the provider keeps
//! only in its own state have no AWS value to compare with: `apply_immediately` is carried over
//! (cairn has the same setting), `skip_final_snapshot` (a tag in cairn) and a password are
//! reported. Settings cairn does not manage (enhanced monitoring, log exports, provisioned IOPS,
//! ...) stay as they are in AWS and are reported.

use serde_json::{json, Value};

use super::{Family, Input, Mapped, Output, TfInstance};

pub const FAMILY: Family = Family { name: "rds", types: &["aws_db_instance", "aws_db_subnet_group", "aws_db_parameter_group"], map };

pub fn map(input: &Input, out: &mut Output) {
    for tf in input.of_type("aws_db_subnet_group") {
        out.push(subnet_group(tf));
    }
    for tf in input.of_type("aws_db_parameter_group") {
        out.push(parameter_group(tf));
    }
    for tf in input.of_type("aws_db_instance") {
        out.push(instance(tf));
    }
}

fn subnet_group(tf: &TfInstance) -> Mapped {
    let name = tf.str("name").or(tf.str("id")).unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.rds.subnet_group", name);
    m.prop("name", json!(name))
        .prop("description", tf.str("description").map(|s| json!(s)))
        .prop("subnet_ids", json!(tf.strings("subnet_ids")))
        .attr("name", Some(name))
        .attr("arn", tf.str("arn"));
    m
}

fn parameter_group(tf: &TfInstance) -> Mapped {
    let name = tf.str("name").or(tf.str("id")).unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.rds.parameter_group", name);
    let mut params: Vec<(String, Value)> = tf
        .list("parameter")
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|p| {
            let name = p.get("name").and_then(Value::as_str)?;
            let value = p.get("value").and_then(Value::as_str)?;
            // The provider records the method it was given ("immediate" unless set); AWS reports it in lower case.
            let method = p.get("apply_method").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("immediate").to_ascii_lowercase();
            Some((name.to_string(), json!({ "name": name, "value": value, "apply_method": method })))
        })
        .collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    m.prop("name", json!(name))
        .prop("family", tf.str("family").map(|s| json!(s)))
        .prop("description", tf.str("description").map(|s| json!(s)))
        .prop("parameters", Value::Array(params.into_iter().map(|p| p.1).collect()))
        .attr("name", Some(name))
        .attr("arn", tf.str("arn"));
    m
}

fn instance(tf: &TfInstance) -> Mapped {
    let identifier = tf.str("identifier").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.rds.instance", identifier);
    let text = |k: &str| tf.str(k).map(|s| json!(s));
    let flag = |k: &str| tf.bool(k).map(|b| json!(b));
    // Without cairn's own record of the version asked for, its read reports the full running version.
    let version = tf.str("engine_version_actual").or(tf.str("engine_version"));
    m.prop("identifier", json!(identifier))
        .prop("engine", text("engine"))
        .prop("engine_version", version.map(|s| json!(s)))
        .prop("instance_class", text("instance_class"))
        .prop("allocated_storage", tf.i64("allocated_storage").map(|n| json!(n)))
        .prop("max_allocated_storage", tf.i64("max_allocated_storage").filter(|n| *n > 0).map(|n| json!(n)))
        .prop("storage_type", text("storage_type"))
        // The provider's default is unencrypted, cairn's encrypted: always written.
        .prop("storage_encrypted", Some(json!(tf.bool("storage_encrypted").unwrap_or(false))))
        .prop("kms_key", text("kms_key_id"))
        .prop("db_name", text("db_name"))
        .prop("master_username", text("username"))
        .prop("manage_master_user_password", Some(json!(tf.bool("manage_master_user_password").unwrap_or(false))))
        .prop("db_subnet_group_name", text("db_subnet_group_name"))
        .prop("parameter_group_name", text("parameter_group_name"))
        .prop("vpc_security_group_ids", json!(tf.strings("vpc_security_group_ids")))
        .prop("multi_az", flag("multi_az"))
        .prop("backup_retention_period", tf.i64("backup_retention_period").map(|n| json!(n)))
        .prop("preferred_backup_window", text("backup_window"))
        .prop("deletion_protection", flag("deletion_protection"))
        .prop("iam_database_authentication_enabled", flag("iam_database_authentication_enabled"))
        .prop("performance_insights_enabled", flag("performance_insights_enabled"))
        .prop("publicly_accessible", flag("publicly_accessible"));
    // Terraform holds modifications for the maintenance window unless told otherwise; cairn applies
    // them at once. The setting is cairn's own (never compared with AWS), so Terraform's behaviour is kept.
    if tf.bool("apply_immediately") != Some(true) {
        m.prop("apply_immediately", json!(false));
    }
    if tf.bool("performance_insights_enabled") == Some(true) {
        m.prop("performance_insights_kms_key", text("performance_insights_kms_key_id"));
    }
    let secret = tf.block("master_user_secret").and_then(|s| s.get("secret_arn")).and_then(Value::as_str);
    m.attr("arn", tf.str("arn"))
        .attr("endpoint", tf.str("address"))
        .attr("resource_id", tf.str("resource_id").or(tf.str("id")).filter(|s| s.starts_with("db-")))
        .attr("master_user_secret_arn", secret);

    if tf.bool("manage_master_user_password") != Some(true) {
        m.note(
            "the master password is not kept by RDS in Secrets Manager: cairn refuses to update such an instance until \
             manage_master_user_password is turned on (set it to true in the stack and apply; RDS then rotates the password into a secret)",
        );
    }
    if tf.str("engine_version").is_some_and(|asked| Some(asked) != version) {
        m.note(format!(
            "engine_version is the running {} (Terraform asked for {}); write the shorter version to let RDS pick minor versions, which the next apply records",
            version.unwrap_or_default(),
            tf.str("engine_version").unwrap_or_default()
        ));
    }
    if tf.bool("skip_final_snapshot") == Some(true) {
        m.note("Terraform's skip_final_snapshot = true is not carried over: cairn takes a final snapshot on destroy unless skip_final_snapshot: true is set and applied");
    }
    let unmanaged: Vec<&str> = [
        ("monitoring_interval", tf.i64("monitoring_interval").unwrap_or(0) > 0),
        ("enabled_cloudwatch_logs_exports", !tf.strings("enabled_cloudwatch_logs_exports").is_empty()),
        ("iops", tf.i64("iops").unwrap_or(0) > 0 && tf.str("storage_type") != Some("gp3")),
        ("option_group_name", tf.str("option_group_name").is_some_and(|g| !g.starts_with("default:"))),
        ("auto_minor_version_upgrade", tf.bool("auto_minor_version_upgrade") == Some(false)),
        ("copy_tags_to_snapshot", tf.bool("copy_tags_to_snapshot") == Some(true)),
        ("replicate_source_db", tf.str("replicate_source_db").is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if !unmanaged.is_empty() {
        m.note(format!("not managed by cairn (kept as they are in AWS): {}", unmanaged.join(", ")));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::testing::{find, inst, run};
    use super::*;

    #[test]
    fn groups_map_by_name_with_parameters_sorted() {
        let out = run(
            map,
            vec![
                inst(
                    "aws_db_subnet_group.db",
                    json!({"arn": "arn:aws:rds:us-east-1:123456789012:subgrp:app-db", "description": "Managed by Terraform", "id": "app-db", "name": "app-db",
                       "name_prefix": "", "subnet_ids": ["subnet-b", "subnet-a"], "supported_network_types": ["IPV4"], "tags": {}, "tags_all": {}, "vpc_id": "vpc-1"}),
                ),
                inst(
                    "aws_db_parameter_group.pg",
                    json!({"arn": "arn:aws:rds:us-east-1:123456789012:pg:app-pg16", "description": "Managed by Terraform", "family": "postgres16", "id": "app-pg16",
                       "name": "app-pg16", "name_prefix": "", "skip_destroy": false, "tags": {}, "tags_all": {},
                       "parameter": [{"apply_method": "pending-reboot", "name": "rds.force_ssl", "value": "1"},
                                     {"apply_method": "immediate", "name": "log_min_duration_statement", "value": "500"}]}),
                ),
            ],
        );
        let sg = find(&out, "aws_db_subnet_group.db");
        assert_eq!((sg.kind.as_str(), sg.id.as_str()), ("aws.rds.subnet_group", "app-db"));
        assert_eq!(Value::Object(sg.props.clone()), json!({"name": "app-db", "description": "Managed by Terraform", "subnet_ids": ["subnet-a", "subnet-b"]}));
        let pg = find(&out, "aws_db_parameter_group.pg");
        assert_eq!(
            pg.props["parameters"],
            json!([{"name": "log_min_duration_statement", "value": "500", "apply_method": "immediate"}, {"name": "rds.force_ssl", "value": "1", "apply_method": "pending-reboot"}])
        );
        assert_eq!(pg.props["family"], json!("postgres16"));
    }

    fn instance_attrs() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/tfimport/aws_db_instance.json")).unwrap()
    }

    #[test]
    fn an_instance_is_read_by_its_identifier_not_the_v5_resource_id() {
        let out = run(map, vec![inst("aws_db_instance.app", instance_attrs())]);
        let m = find(&out, "aws_db_instance.app");
        assert_eq!((m.kind.as_str(), m.id.as_str()), ("aws.rds.instance", "app"));
        assert_eq!(
            Value::Object(m.props.clone()),
            json!({
                "identifier": "app", "engine": "postgres", "engine_version": "16.3", "instance_class": "db.t4g.micro", "allocated_storage": 20,
                "max_allocated_storage": 100, "storage_type": "gp3", "storage_encrypted": true, "kms_key": "arn:aws:kms:us-east-1:123456789012:key/k1",
                "db_name": "app", "master_username": "app_admin", "manage_master_user_password": true, "db_subnet_group_name": "app-db",
                "parameter_group_name": "app-pg16", "vpc_security_group_ids": ["sg-db"], "multi_az": false, "backup_retention_period": 7,
                "preferred_backup_window": "03:00-04:00", "deletion_protection": false, "iam_database_authentication_enabled": true,
                "performance_insights_enabled": false, "publicly_accessible": false, "apply_immediately": false
            })
        );
        assert_eq!(m.attrs["resource_id"], "db-ABCDEFGHIJKL");
        assert_eq!(m.attrs["master_user_secret_arn"], "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1");
        // Only the final-snapshot setting, which lives in Terraform's state alone, is reported.
        assert_eq!(m.notes.len(), 1, "{:?}", m.notes);
        assert!(m.notes[0].contains("skip_final_snapshot"));
    }

    #[test]
    fn a_password_instance_with_a_major_version_and_monitoring_is_reported() {
        let mut attrs = instance_attrs();
        for (k, v) in [
            ("manage_master_user_password", json!(null)),
            ("master_user_secret", json!([])),
            ("password", json!("hunter2")),
            ("engine_version", json!("16")),
            ("storage_encrypted", json!(false)),
            ("kms_key_id", json!("")),
            ("monitoring_interval", json!(60)),
            ("skip_final_snapshot", json!(false)),
        ] {
            attrs[k] = v;
        }
        let out = run(map, vec![inst("aws_db_instance.app", attrs)]);
        let m = find(&out, "aws_db_instance.app");
        assert_eq!(m.props["manage_master_user_password"], json!(false));
        assert_eq!(m.props["storage_encrypted"], json!(false));
        assert_eq!(m.props["engine_version"], json!("16.3"));
        assert!(!m.props.contains_key("kms_key"));
        assert!(!m.attrs.contains_key("master_user_secret_arn"));
        assert_eq!(m.notes.len(), 3, "{:?}", m.notes);
        assert!(m.notes[2].contains("monitoring_interval"));
        assert!(m.notes.iter().all(|n| !n.contains("hunter2")));
    }
}
