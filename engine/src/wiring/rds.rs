//! RDS rules: the role an instance sends Enhanced Monitoring metrics with must trust monitoring.rds.amazonaws.com and carry AWS's policy for it.

use serde_json::{json, Value};

use super::{admits, is_unknown, Action, Ctx, Finding};

/// The service principal Enhanced Monitoring assumes the role as.
const MONITORING: &str = "monitoring.rds.amazonaws.com";
/// AWS's managed policy that lets the role publish the metrics to CloudWatch Logs.
const MONITORING_POLICY: &str = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole";

/// Whether a list of managed policy ARNs holds the monitoring policy in any partition.
fn has_monitoring_policy(arns: Option<&Value>) -> bool {
    let suffix = MONITORING_POLICY.trim_start_matches("arn:aws");
    arns.and_then(Value::as_array).is_some_and(|l| l.iter().filter_map(Value::as_str).any(|a| a.starts_with("arn:") && a.ends_with(suffix)))
}

pub(super) fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    // rds-monitoring-role: one finding per role and problem, naming the first instance using it.
    let mut seen = std::collections::BTreeSet::new();
    for db in cx.nodes("aws.rds.instance") {
        let Some(role) = db.props.get("monitoring_role_arn").and_then(|r| cx.target(r)).filter(|r| r.kind == "aws.iam.role") else { continue };
        if !seen.insert(role.address.as_str()) {
            continue;
        }
        let trust = role.props.get("assume_role_policy");
        if !is_unknown(trust) && !admits(trust, MONITORING, &["sts:AssumeRole"]) {
            let stmt = json!({ "Effect": "Allow", "Principal": { "Service": MONITORING }, "Action": "sts:AssumeRole" });
            out.push(Finding::new(
                "rds-monitoring-role",
                role,
                "assume_role_policy",
                Action::Refuse {
                    message: format!(
                        "`{}` sends Enhanced Monitoring metrics with this role, whose trust policy does not let {MONITORING} assume it",
                        db.address
                    ),
                    help: format!("add this statement to its assume_role_policy: {}", super::show(&stmt)),
                },
            ));
        }
        let managed = role.props.get("managed_policy_arns");
        if !is_unknown(managed) && !has_monitoring_policy(managed) {
            out.push(Finding::new(
                "rds-monitoring-role",
                role,
                "managed_policy_arns",
                Action::Refuse {
                    message: format!("`{}` sends Enhanced Monitoring metrics with this role, which lacks AWS's policy for publishing them", db.address),
                    help: format!("add \"{MONITORING_POLICY}\" to its managed_policy_arns"),
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::fixture;
    use super::*;

    #[test]
    fn rds_monitoring_role_needs_the_service_trust_and_the_policy() {
        let o = fixture("rds-monitoring-role");
        assert_eq!(o.codes(), ["rds-monitoring-role", "rds-monitoring-role"], "{}", o.rendered());
        let text = o.rendered();
        assert!(text.contains(r#""Service":"monitoring.rds.amazonaws.com""#), "{text}");
        assert!(text.contains("AmazonRDSEnhancedMonitoringRole"), "{text}");
        assert!(!text.contains("`good`"), "a role with the trust and the policy passes: {text}");
    }

    #[test]
    fn the_policy_is_found_in_any_partition() {
        assert!(has_monitoring_policy(Some(&json!(["arn:aws-us-gov:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"]))));
        assert!(!has_monitoring_policy(Some(&json!(["arn:aws:iam::aws:policy/ReadOnlyAccess"]))));
        assert!(!has_monitoring_policy(None));
    }
}
