//! `cairn.postgres`: RDS PostgreSQL with secure defaults: private, encrypted, IAM auth, managed master password, reachable only from given security groups.

use serde_json::{json, Value};

use super::{Component, ComponentInput, Expansion, Part};
use crate::provider::{PropSpec, PropType};

pub struct Postgres;

static PROPS: &[PropSpec] = &[
    PropSpec::new("vpc_id", PropType::String, "The VPC for the database's security group.").required(),
    PropSpec::new("subnet_ids", PropType::StringList, "Private subnets for the DB subnet group (at least two zones).").required(),
    PropSpec::new("allowed_security_group_ids", PropType::StringList, "Security groups allowed to connect (e.g. the EKS nodes'); nothing else is.")
        .default("[]"),
    PropSpec::new("instance_class", PropType::String, "Instance class.").default("\"db.t4g.micro\""),
    PropSpec::new("engine_version", PropType::String, "PostgreSQL version.").default("\"16.3\""),
    PropSpec::new("family", PropType::String, "Parameter group family.").default("\"postgres16\""),
    PropSpec::new("allocated_storage", PropType::Int, "Storage in GiB.").default("20"),
    PropSpec::new("max_allocated_storage", PropType::Int, "Storage autoscaling ceiling in GiB.").default("100"),
    PropSpec::new("db_name", PropType::String, "Initial database name.").default("\"app\""),
    PropSpec::new("kms_key", PropType::String, "KMS key ARN for storage and Performance Insights encryption."),
    PropSpec::new("multi_az", PropType::Bool, "A standby in a second zone.").default("false"),
    PropSpec::new("backup_retention_days", PropType::Int, "Automated backups and point-in-time recovery window (1-35).").default("7"),
    PropSpec::new("deletion_protection", PropType::Bool, "Refuse deletion until turned off.").default("false"),
    PropSpec::new("performance_insights", PropType::Bool, "Performance Insights.").default("true"),
    PropSpec::new(
        "monitoring_interval",
        PropType::IntRange(0, 60),
        "Enhanced Monitoring: seconds between OS metrics (0, 1, 5, 10, 15, 30 or 60; 0 turns it off). Above 0 the component adds the monitoring role.",
    )
    .default("0"),
    PropSpec::new("parameters", PropType::Object, "Extra parameters: [{ name, value, apply_method }].").default("[]"),
    PropSpec::new("apply_immediately", PropType::Bool, "Apply modifications now rather than in the maintenance window.").default("true"),
    PropSpec::new("skip_final_snapshot", PropType::Bool, "Delete without a final snapshot.").default("false"),
];

impl Component for Postgres {
    fn kind(&self) -> &'static str {
        "cairn.postgres"
    }
    fn doc(&self) -> &'static str {
        "RDS PostgreSQL: subnet group, parameter group forcing TLS, security group admitting only given groups, encrypted instance with IAM auth and an AWS-managed master password."
    }
    fn props(&self) -> &'static [PropSpec] {
        PROPS
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["endpoint", "port", "arn", "security_group_id", "master_user_secret_arn"]
    }

    fn expand(&self, input: &ComponentInput) -> Result<Expansion, String> {
        let retention = input.int_or("backup_retention_days", 7)?;
        if !(1..=35).contains(&retention) {
            return Err(format!("`backup_retention_days` must be 1-35 (point-in-time recovery needs backups), found {retention}"));
        }
        let subnets = input.required("subnet_ids")?.clone();
        let allowed = input.list("allowed_security_group_ids")?;
        let ingress: Vec<Value> = allowed.iter().map(|sg| json!({ "protocol": "tcp", "from_port": 5432, "to_port": 5432, "source_security_group_id": sg, "description": "PostgreSQL from an allowed group" })).collect();
        let mut parameters = vec![json!({ "name": "rds.force_ssl", "value": "1", "apply_method": "pending-reboot" })];
        parameters.extend(input.list("parameters")?);
        let mut instance = json!({
            "engine": "postgres",
            "engine_version": input.get("engine_version").cloned().unwrap_or(json!("16.3")),
            "instance_class": input.get("instance_class").cloned().unwrap_or(json!("db.t4g.micro")),
            "allocated_storage": input.int_or("allocated_storage", 20)?,
            "max_allocated_storage": input.int_or("max_allocated_storage", 100)?,
            "storage_encrypted": true,
            "db_name": input.get("db_name").cloned().unwrap_or(json!("app")),
            "manage_master_user_password": true,
            "iam_database_authentication_enabled": true,
            "publicly_accessible": false,
            "multi_az": input.bool_or("multi_az", false)?,
            "backup_retention_period": retention,
            "deletion_protection": input.bool_or("deletion_protection", false)?,
            "performance_insights_enabled": input.bool_or("performance_insights", true)?,
            "db_subnet_group_name": input.reference("subnet_group", "id"),
            "parameter_group_name": input.reference("parameter_group", "id"),
            "vpc_security_group_ids": [input.reference("security_group", "id")],
            "apply_immediately": input.bool_or("apply_immediately", true)?,
            "skip_final_snapshot": input.bool_or("skip_final_snapshot", false)?,
        });
        if let Some(k) = input.get("kms_key") {
            instance["kms_key"] = k.clone();
            if input.bool_or("performance_insights", true)? {
                instance["performance_insights_kms_key"] = k.clone();
            }
        }
        let monitoring = monitoring_interval(input)?;
        let mut parts = vec![];
        if monitoring > 0 {
            instance["monitoring_interval"] = json!(monitoring);
            instance["monitoring_role_arn"] = input.reference("monitoring_role", "arn");
            parts.push(Part::new(
                "monitoring_role",
                "aws.iam.role",
                json!({
                    "description": "RDS Enhanced Monitoring",
                    "assume_role_policy": super::policy(vec![json!({ "Effect": "Allow", "Principal": { "Service": "monitoring.rds.amazonaws.com" }, "Action": "sts:AssumeRole" })]),
                    "managed_policy_arns": ["arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"],
                }),
            ));
        }
        parts.extend([
            Part::new("subnet_group", "aws.rds.subnet_group", json!({ "subnet_ids": subnets })),
            Part::new(
                "parameter_group",
                "aws.rds.parameter_group",
                json!({ "family": input.get("family").cloned().unwrap_or(json!("postgres16")), "parameters": parameters }),
            ),
            Part::new(
                "security_group",
                "aws.ec2.security_group",
                json!({ "vpc_id": input.required("vpc_id")?, "description": "PostgreSQL clients", "ingress": ingress, "egress": [] }),
            ),
            Part::new("instance", "aws.rds.instance", instance),
        ]);
        let mut out = Expansion { parts, ..Default::default() };
        for (k, attr) in [("endpoint", "endpoint"), ("port", "port"), ("arn", "arn"), ("master_user_secret_arn", "master_user_secret_arn")] {
            out.outputs.insert(k.into(), input.reference("instance", attr));
        }
        out.outputs.insert("security_group_id".into(), input.reference("security_group", "id"));
        Ok(out)
    }
}

/// The interval, one of the values RDS accepts.
fn monitoring_interval(input: &ComponentInput) -> Result<i64, String> {
    let n = input.int_or("monitoring_interval", 0)?;
    if [0, 1, 5, 10, 15, 30, 60].contains(&n) {
        Ok(n)
    } else {
        Err(format!("`monitoring_interval` must be 0, 1, 5, 10, 15, 30 or 60, found {n}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(extra: Value) -> Result<Expansion, String> {
        let mut props: crate::provider::Props = serde_json::from_value(json!({ "vpc_id": "vpc-1", "subnet_ids": ["subnet-a", "subnet-b"] })).unwrap();
        if let Value::Object(m) = extra {
            props.extend(m);
        }
        let input = ComponentInput { address: "db", props: &props, stack: "shop", env: "prod", region: "us-east-1", name_prefix: "shop-prod-db".into() };
        Postgres.expand(&input)
    }

    #[test]
    fn enhanced_monitoring_brings_its_role_and_zero_brings_none() {
        let out = expand(json!({ "monitoring_interval": 60 })).unwrap();
        let role = out.parts.iter().find(|p| p.sub == "monitoring_role").expect("a monitoring role");
        assert_eq!(role.props["assume_role_policy"]["Statement"][0]["Principal"]["Service"], "monitoring.rds.amazonaws.com");
        let db = out.parts.iter().find(|p| p.sub == "instance").unwrap();
        assert_eq!(db.props["monitoring_interval"], 60);
        assert_eq!(db.props["monitoring_role_arn"], crate::component::reference("db.monitoring_role", "arn"));

        let off = expand(json!({})).unwrap();
        assert!(off.parts.iter().all(|p| p.sub != "monitoring_role"));
        assert!(!off.parts.iter().any(|p| p.props.contains_key("monitoring_interval")));
        assert!(expand(json!({ "monitoring_interval": 20 })).unwrap_err().contains("0, 1, 5, 10, 15, 30 or 60"));
    }
}
