//! The ARN forms cairn spells itself, for the resources an API does not report an ARN for.

/// The partition a region belongs to.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`, the partition taken from the region.
pub fn regional(service: &str, region: &str, account: &str, resource: &str) -> String {
    format!("arn:{}:{service}:{region}:{account}:{resource}", partition_of(region))
}

/// Whether `value` is an ARN of `service` whose resource part starts with `resource_type`
/// (`key/`, `role/`): a shape check for values that must name one kind of thing.
pub fn is_arn_of(value: &str, service: &str, resource_type: &str) -> bool {
    let mut parts = value.splitn(6, ':');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("arn"), Some(_), Some(s), Some(_), Some(_), Some(r)) if s == service && r.starts_with(resource_type)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_follow_the_region_partition() {
        assert_eq!(regional("ec2", "us-east-1", "123456789012", "vpc/vpc-1"), "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1");
        assert_eq!(regional("sqs", "cn-north-1", "123456789012", "q"), "arn:aws-cn:sqs:cn-north-1:123456789012:q");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    }

    #[test]
    fn arn_shapes_are_recognised() {
        assert!(is_arn_of("arn:aws:kms:us-east-1:123456789012:key/abcd", "kms", "key/"));
        assert!(is_arn_of("arn:aws:iam::123456789012:role/app", "iam", "role/"));
        assert!(!is_arn_of("arn:aws:kms:us-east-1:123456789012:alias/rds", "kms", "key/"));
        assert!(!is_arn_of("alias/rds", "kms", "key/"));
    }
}
