//! The starting rate budgets: AWS's published request limits per service and action, and the `--rate-limit` overrides on top of them.

use super::{is_read, Bucket, BudgetKey, Family};
use std::collections::BTreeMap;

/// Which calls of a service a rate applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Non-mutating calls (`Describe*`, `Get*`, `List*`, ...).
    Read,
    /// Mutating calls.
    Write,
    /// One API action; wins over its category's entry.
    Operation(String),
}

/// Starting buckets per (service, scope); `None` is an explicit "unlimited until throttled".
/// For services metered per action (EC2, KMS, WAF) a category's bucket is each action's own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateTable {
    entries: BTreeMap<(String, Scope), Option<Bucket>>,
}

/// One default starting bucket: service (lower-case SDK name), scope (`read`, `write` or an
/// API action), rate per second and burst (`None`: unlimited), and the AWS page it comes from.
type DefaultRate = (&'static str, &'static str, Option<(f64, f64)>, &'static str);

const EC2_RATES: &str = "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html";
const KMS_RATES: &str = "https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html";
const WAF_RATES: &str = "https://docs.aws.amazon.com/waf/latest/developerguide/limits.html";

/// AWS's published request limits, per account and Region; a service or scope not listed
/// starts unlimited and is only slowed when AWS throttles it.
pub const DEFAULT_RATES: &[DefaultRate] = &[
    // EC2 "Non-mutating actions": bucket 100, refill 20/s.
    ("ec2", "read", Some((20.0, 100.0)), EC2_RATES),
    // EC2 "Mutating actions": bucket 50, refill 5/s.
    ("ec2", "write", Some((5.0, 50.0)), EC2_RATES),
    // EC2 "Uncategorized actions" that cairn's kinds call.
    ("ec2", "CreateTags", Some((10.0, 100.0)), EC2_RATES),
    ("ec2", "DeleteTags", Some((10.0, 100.0)), EC2_RATES),
    ("ec2", "CreateNatGateway", Some((1.0, 10.0)), EC2_RATES),
    ("ec2", "DeleteNatGateway", Some((1.0, 10.0)), EC2_RATES),
    ("ec2", "CreateVpcEndpoint", Some((0.3, 4.0)), EC2_RATES),
    ("ec2", "ModifyVpcEndpoint", Some((0.3, 4.0)), EC2_RATES),
    ("ec2", "DeleteVpcEndpoints", Some((0.3, 4.0)), EC2_RATES),
    // KMS request quotas are per second, without a documented burst: one second's worth.
    // Reads: ListGrants, ListKeyPolicies and ListRetirableGrants are 100/s, the others higher.
    ("kms", "read", Some((100.0, 100.0)), KMS_RATES),
    // Most management operations (CreateKey, CreateAlias, EnableKey, UpdateAlias, ...) are 5/s.
    ("kms", "write", Some((5.0, 5.0)), KMS_RATES),
    ("kms", "PutKeyPolicy", Some((15.0, 15.0)), KMS_RATES),
    ("kms", "ScheduleKeyDeletion", Some((15.0, 15.0)), KMS_RATES),
    ("kms", "EnableKeyRotation", Some((15.0, 15.0)), KMS_RATES),
    ("kms", "DeleteAlias", Some((15.0, 15.0)), KMS_RATES),
    ("kms", "TagResource", Some((10.0, 10.0)), KMS_RATES),
    ("kms", "CreateGrant", Some((50.0, 50.0)), KMS_RATES),
    ("kms", "RetireGrant", Some((50.0, 50.0)), KMS_RATES),
    ("kms", "RevokeGrant", Some((50.0, 50.0)), KMS_RATES),
    // STS: 600 requests/s per account and Region, shared by its operations; split in two halves.
    ("sts", "read", Some((300.0, 300.0)), "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"),
    ("sts", "write", Some((300.0, 300.0)), "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"),
    // IAM publishes object quotas but no request rate: conservative, and adaptive on top.
    ("iam", "read", Some((20.0, 40.0)), "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"),
    ("iam", "write", Some((10.0, 20.0)), "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"),
    // RDS: one bucket for every call of the account, 300 burst and 12/s; split 2:1 for the
    // waiters' DescribeDBInstances polling.
    ("rds", "read", Some((8.0, 200.0)), "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-api-throttling.html"),
    ("rds", "write", Some((4.0, 100.0)), "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-api-throttling.html"),
    // EKS publishes no control-plane request rate: conservative, and adaptive on top.
    ("eks", "read", Some((10.0, 20.0)), "https://docs.aws.amazon.com/eks/latest/best-practices/known_limits_and_service_quotas.html"),
    ("eks", "write", Some((5.0, 10.0)), "https://docs.aws.amazon.com/eks/latest/best-practices/known_limits_and_service_quotas.html"),
    // WAF: five calls/s to any individual Get or List action, one to any Create, Put or Update
    // action (taken for every mutating one), one every two seconds to (Dis)AssociateWebACL.
    ("wafv2", "read", Some((5.0, 5.0)), WAF_RATES),
    ("wafv2", "write", Some((1.0, 1.0)), WAF_RATES),
    ("wafv2", "GetWebACLForResource", Some((1.0, 1.0)), WAF_RATES),
    ("wafv2", "ListResourcesForWebACL", Some((1.0, 1.0)), WAF_RATES),
    ("wafv2", "AssociateWebACL", Some((0.5, 1.0)), WAF_RATES),
    ("wafv2", "DisassociateWebACL", Some((0.5, 1.0)), WAF_RATES),
    // SQS: "a nearly unlimited number of API calls per second" (standard queues).
    ("sqs", "read", None, "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html"),
    ("sqs", "write", None, "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html"),
    // SNS: API quotas in the hundreds to thousands per second, far above what an apply sends.
    ("sns", "read", None, "https://docs.aws.amazon.com/general/latest/gr/sns.html"),
    ("sns", "write", None, "https://docs.aws.amazon.com/general/latest/gr/sns.html"),
];

impl RateTable {
    /// The published limits in `DEFAULT_RATES`.
    pub fn aws_defaults() -> RateTable {
        let mut table = RateTable::default();
        for (service, scope, bucket, _) in DEFAULT_RATES {
            table.set(service, scope_of(scope), bucket.map(|(rate, burst)| Bucket::new(rate, burst)));
        }
        table
    }

    pub fn set(&mut self, service: &str, scope: Scope, bucket: Option<Bucket>) {
        self.entries.insert((service.to_ascii_lowercase(), scope), bucket);
    }

    /// The entry for exactly (service, scope): `Some(None)` is an explicit "unlimited".
    pub fn get(&self, service: &str, scope: &Scope) -> Option<Option<Bucket>> {
        self.entries.get(&(service.to_ascii_lowercase(), scope.clone())).copied()
    }

    /// Where the family `key` starts: its operation's entry, else its category's.
    pub fn starting(&self, key: &BudgetKey) -> Option<Bucket> {
        let category = match &key.family {
            Family::Read => Scope::Read,
            Family::Write => Scope::Write,
            Family::Action(op) => {
                if let Some(own) = self.get(&key.service, &Scope::Operation(op.clone())) {
                    return own;
                }
                if is_read(op) {
                    Scope::Read
                } else {
                    Scope::Write
                }
            }
        };
        self.get(&key.service, &category).flatten()
    }

    /// This table with `overrides` applied in order.
    pub fn with(mut self, overrides: &[RateOverride]) -> RateTable {
        for o in overrides {
            for scope in &o.scopes {
                self.set(&o.service, scope.clone(), o.bucket);
            }
        }
        self
    }
}

fn scope_of(word: &str) -> Scope {
    match word.to_ascii_lowercase().as_str() {
        "read" | "describe" | "non-mutating" => Scope::Read,
        "write" | "mutate" | "mutating" => Scope::Write,
        _ => Scope::Operation(word.to_string()),
    }
}

/// A parsed `--rate-limit`: one service's scopes and the bucket they start at.
#[derive(Debug, Clone, PartialEq)]
pub struct RateOverride {
    pub service: String,
    pub scopes: Vec<Scope>,
    /// `None`: unlimited until throttled.
    pub bucket: Option<Bucket>,
}

/// A `--rate-limit` value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateParseError {
    #[error("`{0}` is not SERVICE[.SCOPE]=RATE[/BURST] (for example ec2.describe=20, ec2.CreateTags=10/100 or iam=unlimited)")]
    Shape(String),
    #[error("`{0}`: SCOPE is read, write or an API action such as CreateTags")]
    Scope(String),
    #[error("`{0}`: RATE must be calls per second above 0, BURST at least 1, or `unlimited`")]
    Value(String),
}

/// Parses `ec2.describe=20`, `ec2.CreateNatGateway=1/10`, `rds.write=2`, `iam=unlimited`:
/// a service (lower-case SDK name), an optional scope (`read`/`describe`, `write`/`mutating`,
/// or an API action; both categories when left out) and calls per second with an optional burst
/// (one second's worth when left out).
pub fn parse_rate_limit(text: &str) -> Result<RateOverride, RateParseError> {
    let shape = || RateParseError::Shape(text.to_string());
    let (target, value) = text.split_once('=').ok_or_else(shape)?;
    let (service, scope) = match target.trim().split_once('.') {
        Some((s, scope)) => (s, Some(scope)),
        None => (target.trim(), None),
    };
    if service.is_empty() || !service.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(shape());
    }
    let scopes = match scope {
        None => vec![Scope::Read, Scope::Write],
        Some(word) => match scope_of(word) {
            Scope::Operation(op) if !(op.starts_with(|c: char| c.is_ascii_uppercase()) && op.chars().all(|c| c.is_ascii_alphanumeric())) => {
                return Err(RateParseError::Scope(text.to_string()))
            }
            s => vec![s],
        },
    };
    let value = value.trim();
    let bucket = if ["unlimited", "off", "none"].contains(&value.to_ascii_lowercase().as_str()) {
        None
    } else {
        let number = |s: &str| s.trim().parse::<f64>().ok().filter(|n| n.is_finite());
        let (rate, burst) = match value.split_once('/') {
            Some((r, b)) => (number(r), number(b)),
            None => (number(value), number(value).map(|r| r.max(1.0))),
        };
        match (rate, burst) {
            (Some(r), Some(b)) if r > 0.0 && b >= 1.0 => Some(Bucket::new(r, b)),
            _ => return Err(RateParseError::Value(text.to_string())),
        }
    };
    Ok(RateOverride { service: service.to_ascii_lowercase(), scopes, bucket })
}
