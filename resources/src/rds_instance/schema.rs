//! The schema of `aws.rds.instance`: its props with AWS's ranges and rules, and the IAM actions per operation.

use cairn_engine::provider::{NameScope, Naming, PropSpec, PropType, Props, PropsRule, ResourceSchema, TextRule};
use serde_json::Value;

use super::KIND;
use crate::rds_common::key_arn_rule;

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
        PropSpec::new(
            "monitoring_interval",
            PropType::IntRange(0, 60),
            "Seconds between Enhanced Monitoring samples: 0 (off), 1, 5, 10, 15, 30 or 60; above 0 needs monitoring_role_arn.",
        )
        .default("0")
        .rule(monitoring_interval),
        PropSpec::new(
            "monitoring_role_arn",
            PropType::Text(TextRule::len(20, 2048)),
            "IAM role RDS sends Enhanced Monitoring metrics to CloudWatch Logs with (trusting monitoring.rds.amazonaws.com, with the \
             AmazonRDSEnhancedMonitoringRole policy); required when monitoring_interval is above 0, refused when it is 0.",
        ),
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
        PropsRule { props: &["monitoring_role_arn", "monitoring_interval"], check: monitoring_role_with_interval },
    ],
};

pub(super) fn int_of(p: &Props, name: &str) -> Option<i64> {
    SCHEMA.value_or_default(p, name).and_then(|v| v.as_i64())
}

pub(super) fn flag_of(p: &Props, name: &str) -> bool {
    SCHEMA.value_or_default(p, name).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// Storage autoscaling's ceiling is 0 (off) or at least the allocated storage.
pub(super) fn storage_limit(p: &Props) -> Vec<String> {
    let storage = int_of(p, "allocated_storage").unwrap_or_default();
    match int_of(p, "max_allocated_storage").filter(|m| *m != 0 && *m < storage) {
        Some(max) => vec![format!("max_allocated_storage ({max}) must be 0 (off) or at least allocated_storage ({storage})")],
        None => vec![],
    }
}

pub(super) fn key_needs_encryption(p: &Props) -> Vec<String> {
    if SCHEMA.value_or_default(p, "kms_key").is_some() && !flag_of(p, "storage_encrypted") {
        vec!["kms_key needs storage_encrypted: true".into()]
    } else {
        vec![]
    }
}

pub(super) fn pi_key_needs_pi(p: &Props) -> Vec<String> {
    if SCHEMA.value_or_default(p, "performance_insights_kms_key").is_some() && !flag_of(p, "performance_insights_enabled") {
        vec!["performance_insights_kms_key needs performance_insights_enabled: true".into()]
    } else {
        vec![]
    }
}

/// The sampling intervals Enhanced Monitoring offers.
pub(super) const MONITORING_INTERVALS: &[i64] = &[0, 1, 5, 10, 15, 30, 60];

pub(super) fn monitoring_interval(v: &Value) -> Vec<String> {
    match v.as_i64() {
        Some(n) if !MONITORING_INTERVALS.contains(&n) => vec![format!("must be 0, 1, 5, 10, 15, 30 or 60, not {n}")],
        _ => vec![],
    }
}

/// AWS's rule: a monitoring role exactly when the interval is above 0.
pub(super) fn monitoring_role_with_interval(p: &Props) -> Vec<String> {
    let interval = int_of(p, "monitoring_interval").unwrap_or(0);
    match (interval, SCHEMA.value_or_default(p, "monitoring_role_arn").is_some()) {
        (0, true) => vec!["monitoring_role_arn needs monitoring_interval above 0 (RDS refuses a role with monitoring off)".into()],
        (n, false) if n > 0 => vec![format!("monitoring_interval {n} needs monitoring_role_arn: the role RDS publishes the metrics with")],
        _ => vec![],
    }
}

/// DB instance identifiers (CreateDBInstance): 1 to 63 letters, digits and `-`, stored in
/// lowercase; unique per account and region. (AWS also wants a letter first and no `--`
/// or trailing `-`; default names never have those.)
pub const NAMING: Naming = Naming::new(TextRule::len(1, 63).chars("-").lowercase(), NameScope::Region);

/// The engines a standalone DB instance can run (Aurora instances belong to a cluster and
/// RDS Custom needs an instance profile, neither of which this kind makes).
pub(super) const ENGINES: &[&str] = &[
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
pub(super) fn password_managed(v: &Value) -> Vec<String> {
    if v.as_bool() == Some(false) {
        vec!["must be true: cairn keeps no passwords, so RDS must keep the master password in Secrets Manager".into()]
    } else {
        vec![]
    }
}

/// `hh24:mi-hh24:mi` in UTC, at least 30 minutes long (it may cross midnight).
pub(super) fn backup_window(v: &Value) -> Vec<String> {
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

pub(super) const READ_ACTIONS: &[&str] = &["rds:DescribeDBInstances"];
pub(super) const CREATE_ACTIONS: &[&str] = &[
    "rds:CreateDBInstance",
    // The Enhanced Monitoring role is passed to RDS.
    "iam:PassRole",
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
pub(super) const UPDATE_ACTIONS: &[&str] = &[
    "rds:ModifyDBInstance",
    "iam:PassRole",
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
pub(super) const DELETE_ACTIONS: &[&str] = &[
    "rds:DescribeDBInstances",
    "rds:DeleteDBInstance",
    // The final snapshot.
    "rds:CreateDBSnapshot",
    // RDS removes the master user secret with the instance.
    "secretsmanager:DeleteSecret",
];
