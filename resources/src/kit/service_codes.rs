//! Each service's own error codes, as data: what `crate::error`'s shared table does not know or classes otherwise for that service.

use super::errors::{Class, Code, ServiceCodes};

/// No codes of its own: the shared table alone (services whose codes it already covers).
pub static SHARED: ServiceCodes = ServiceCodes { service: "shared", codes: &[], advice: &[] };

pub static EC2: ServiceCodes = ServiceCodes {
    service: "ec2",
    codes: &[
        // "Not there" without the usual `.NotFound` suffix.
        (Code::Is("NatGatewayNotFound"), Class::NotFound),
        (Code::Is("Gateway.NotAttached"), Class::NotFound),
        // "In use": the resource is fine, something else still holds it.
        (Code::Is("Resource.AlreadyAssociated"), Class::Conflict),
        (Code::Is("InvalidIPAddress.InUse"), Class::Conflict),
        (Code::Is("IncorrectState"), Class::Conflict),
    ],
    advice: &[],
};

/// RDS's families of codes (`DBInstanceNotFound`, `DBSubnetGroupNotFoundFault`, `InvalidDBInstanceState`, ...).
pub static RDS: ServiceCodes = ServiceCodes {
    service: "rds",
    codes: &[
        (Code::Suffix("NotFound"), Class::NotFound),
        (Code::Suffix("NotFoundFault"), Class::NotFound),
        (Code::Suffix("AlreadyExists"), Class::Conflict),
        (Code::Suffix("AlreadyExistsFault"), Class::Conflict),
        // The instance is busy (modifying, backing-up) or the group is still in use.
        (Code::PrefixWithAny("InvalidDB", &["State", "InUse"]), Class::Conflict),
        (Code::Suffix("QuotaExceeded"), Class::Invalid),
        (Code::Suffix("QuotaExceededFault"), Class::Invalid),
        (Code::Prefix("InsufficientDBInstanceCapacity"), Class::Invalid),
    ],
    advice: &[],
};

pub static WAFV2: ServiceCodes = ServiceCodes {
    service: "wafv2",
    codes: &[
        (Code::Is("WAFDuplicateItemException"), Class::Conflict),
        (Code::Is("WAFAssociatedItemException"), Class::Conflict),
        (Code::Is("WAFOptimisticLockException"), Class::Conflict),
        (Code::Is("WAFUnavailableEntityException"), Class::Retryable),
        (Code::Is("WAFInternalErrorException"), Class::Retryable),
        (Code::Is("WAFTagOperationException"), Class::Retryable),
        (Code::Is("WAFTagOperationInternalErrorException"), Class::Retryable),
        (Code::Is("WAFLogDestinationPermissionIssueException"), Class::AccessDenied),
        (Code::Prefix("WAFInvalid"), Class::Invalid),
        (Code::Is("WAFLimitsExceededException"), Class::Invalid),
        (Code::Is("WAFSubscriptionNotFoundException"), Class::Invalid),
        (Code::Is("WAFExpiredManagedRuleGroupVersionException"), Class::Invalid),
    ],
    advice: &[],
};

/// CloudTrail: "not found", "already exists", and the delivery checks CreateTrail and UpdateTrail
/// make against the bucket, key and log group, which fail for a while after those were created
/// or their policies changed.
const TRAIL_DELIVERY: &[&str] = &[
    "S3BucketDoesNotExistException",
    "InsufficientS3BucketPolicyException",
    "InsufficientEncryptionPolicyException",
    "InvalidCloudWatchLogsLogGroupArnException",
    "InvalidCloudWatchLogsRoleArnException",
];
pub static CLOUDTRAIL: ServiceCodes = ServiceCodes {
    service: "cloudtrail",
    codes: &[
        (Code::Is("TrailAlreadyExistsException"), Class::Conflict),
        (Code::Is("TrailNotFoundException"), Class::NotFound),
        (Code::Is(TRAIL_DELIVERY[0]), Class::Retryable),
        (Code::Is(TRAIL_DELIVERY[1]), Class::Retryable),
        (Code::Is(TRAIL_DELIVERY[2]), Class::Retryable),
        (Code::Is(TRAIL_DELIVERY[3]), Class::Retryable),
        (Code::Is(TRAIL_DELIVERY[4]), Class::Retryable),
    ],
    advice: &[
        (Code::Is(TRAIL_DELIVERY[0]), TRAIL_ADVICE),
        (Code::Is(TRAIL_DELIVERY[1]), TRAIL_ADVICE),
        (Code::Is(TRAIL_DELIVERY[2]), TRAIL_ADVICE),
        (Code::Is(TRAIL_DELIVERY[3]), TRAIL_ADVICE),
        (Code::Is(TRAIL_DELIVERY[4]), TRAIL_ADVICE),
    ],
};
const TRAIL_ADVICE: &str = "CloudTrail checks that the bucket exists and its policy admits cloudtrail.amazonaws.com (and the key's policy, and that the role may write to the log group), which takes a moment after they change";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_classes_its_own_codes() {
        assert_eq!(EC2.class_of("Gateway.NotAttached"), Some(Class::NotFound));
        assert_eq!(EC2.class_of("InvalidIPAddress.InUse"), Some(Class::Conflict));
        assert_eq!(RDS.class_of("DBSubnetGroupNotFoundFault"), Some(Class::NotFound));
        assert_eq!(RDS.class_of("DBSnapshotAlreadyExists"), Some(Class::Conflict));
        assert_eq!(RDS.class_of("InvalidDBParameterGroupState"), Some(Class::Conflict));
        assert_eq!(RDS.class_of("InvalidDBSubnetGroupStateFault"), Some(Class::Conflict));
        assert_eq!(RDS.class_of("StorageQuotaExceeded"), Some(Class::Invalid));
        assert_eq!(RDS.class_of("InvalidParameterValue"), None);
        assert_eq!(WAFV2.class_of("WAFInvalidParameterException"), Some(Class::Invalid));
        assert_eq!(WAFV2.class_of("WAFLogDestinationPermissionIssueException"), Some(Class::AccessDenied));
        assert_eq!(WAFV2.class_of("WAFNonexistentItemException"), None, "the shared table says not found");
        assert_eq!(SHARED.class_of("Anything"), None);
        assert_eq!(CLOUDTRAIL.class_of("InsufficientS3BucketPolicyException"), Some(Class::Retryable));
        assert_eq!(CLOUDTRAIL.class_of("TrailNotFoundException"), Some(Class::NotFound));
    }
}
