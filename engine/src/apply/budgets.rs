//! Default concurrency budgets per service or kind, and the `--service-limit` syntax that changes them.
//!
//! `parallelism` bounds all mutations in flight; these bound a service (`aws.eks`) or a single
//! kind (`aws.ec2.nat_gateway`) within it, where AWS itself copes badly with many operations
//! at once. An action counts against the budget of its kind and of its service.

use std::collections::BTreeMap;

use super::critical::service_of;

/// One default budget and why it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceBudget {
    /// A service (`aws.eks`) or a kind (`aws.ec2.nat_gateway`).
    pub key: &'static str,
    /// Most actions in flight at once.
    pub max: usize,
    pub why: &'static str,
}

/// The defaults, from AWS's documented limits and behaviour.
pub const DEFAULT_SERVICE_BUDGETS: &[ServiceBudget] = &[
    ServiceBudget {
        key: "aws.eks",
        max: 4,
        why: "each cluster or node group operation runs for many minutes under a polling waiter; four lets a cluster's usual node groups (system, apps, spot) be created side by side, which AWS allows, while bounding the pollers",
    },
    ServiceBudget {
        key: "aws.rds",
        max: 2,
        why: "RDS meters every API call of the account against one bucket (12 calls/s sustained), and each instance in flight is polled until available",
    },
    ServiceBudget {
        key: "aws.ec2.nat_gateway",
        max: 2,
        why: "CreateNatGateway and DeleteNatGateway share a 10-token bucket refilled at 1/s, and each gateway is polled until available or deleted",
    },
    ServiceBudget {
        key: "aws.wafv2",
        max: 1,
        why: "WAF allows one call per second of each Create, Put or Update action, and concurrent changes fail with WAFOptimisticLockException",
    },
];

/// The default budgets as `ApplyOptions::service_limits` takes them.
pub fn default_service_limits() -> BTreeMap<String, usize> {
    DEFAULT_SERVICE_BUDGETS.iter().map(|b| (b.key.to_string(), b.max)).collect()
}

/// The budget keys an action of `kind` counts against: its kind, then its service.
pub fn budget_keys(kind: &str) -> Vec<&str> {
    let service = service_of(kind);
    if service == kind {
        vec![kind]
    } else {
        vec![kind, service]
    }
}

/// A `--service-limit` value that is not `KEY=N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitParseError {
    #[error("`{0}` is not KEY=N (for example eks=2 or ec2.nat_gateway=1)")]
    Shape(String),
    #[error("`{0}`: the limit must be a whole number of at least 1")]
    Value(String),
}

/// Parses `eks=2`, `aws.eks=2` or `ec2.nat_gateway=1` into (`aws.eks`, 2): the `aws.` prefix of
/// the service or kind may be left out.
pub fn parse_service_limit(text: &str) -> Result<(String, usize), LimitParseError> {
    let (key, value) = text.split_once('=').ok_or_else(|| LimitParseError::Shape(text.to_string()))?;
    let key = key.trim().to_ascii_lowercase();
    let valid = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !key.split('.').all(valid) {
        return Err(LimitParseError::Shape(text.to_string()));
    }
    let max: usize = value.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| LimitParseError::Value(text.to_string()))?;
    let key = if key.starts_with("aws.") { key } else { format!("aws.{key}") };
    Ok((key, max))
}

/// The defaults with `overrides` (parsed `--service-limit` values) on top; a later value for
/// the same key wins.
pub fn service_limits_with(overrides: &[(String, usize)]) -> BTreeMap<String, usize> {
    let mut limits = default_service_limits();
    limits.extend(overrides.iter().cloned());
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_bound_the_slow_services_and_kinds_and_say_why() {
        let d = default_service_limits();
        assert_eq!(d.get("aws.eks"), Some(&4));
        assert_eq!(d.get("aws.rds"), Some(&2));
        assert_eq!(d.get("aws.ec2.nat_gateway"), Some(&2));
        assert_eq!(d.get("aws.wafv2"), Some(&1));
        assert_eq!(d.get("aws.sqs"), None, "SQS needs no budget of its own");
        for b in DEFAULT_SERVICE_BUDGETS {
            assert!(b.max >= 1 && b.why.len() > 20, "{b:?}");
            assert!(b.key.starts_with("aws.") && b.key.split('.').count() <= 3, "{b:?}");
        }
    }

    #[test]
    fn an_action_counts_against_its_kind_and_its_service() {
        assert_eq!(budget_keys("aws.ec2.nat_gateway"), ["aws.ec2.nat_gateway", "aws.ec2"]);
        assert_eq!(budget_keys("fake.queue"), ["fake.queue"]);
    }

    #[test]
    fn service_limits_parse_with_or_without_the_aws_prefix() {
        assert_eq!(parse_service_limit("eks=2"), Ok(("aws.eks".to_string(), 2)));
        assert_eq!(parse_service_limit("aws.rds=1"), Ok(("aws.rds".to_string(), 1)));
        assert_eq!(parse_service_limit(" EC2.nat_gateway = 3 "), Ok(("aws.ec2.nat_gateway".to_string(), 3)));
        assert!(matches!(parse_service_limit("eks"), Err(LimitParseError::Shape(_))));
        assert!(matches!(parse_service_limit("=2"), Err(LimitParseError::Shape(_))));
        assert!(matches!(parse_service_limit("e ks=2"), Err(LimitParseError::Shape(_))));
        assert!(matches!(parse_service_limit("eks=0"), Err(LimitParseError::Value(_))));
        assert!(matches!(parse_service_limit("eks=-1"), Err(LimitParseError::Value(_))));
        assert!(matches!(parse_service_limit("eks=two"), Err(LimitParseError::Value(_))));
    }

    #[test]
    fn overrides_replace_defaults_and_add_new_keys() {
        let limits = service_limits_with(&[("aws.eks".into(), 5), ("aws.iam".into(), 1), ("aws.eks".into(), 3)]);
        assert_eq!(limits["aws.eks"], 3);
        assert_eq!(limits["aws.iam"], 1);
        assert_eq!(limits["aws.rds"], 2);
    }
}
