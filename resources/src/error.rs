//! Maps AWS SDK errors onto the engine's `ProviderError` classes by error code.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::provider::ProviderError;

/// Error codes that mean "the thing is not there", across the services cairn uses.
const NOT_FOUND: &[&str] = &[
    "NotFoundException",
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "WAFNonexistentItemException",
    "DBInstanceNotFound",
    "DBSubnetGroupNotFoundFault",
    "DBParameterGroupNotFound",
    "ParameterNotFound",
    "RepositoryNotFoundException",
    "LifecyclePolicyNotFoundException",
    "RepositoryPolicyNotFoundException",
];

const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "RequestThrottled",
    "RequestThrottledException",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
    "ProvisionedThroughputExceededException",
];

/// "Already exists" answers (a lost create that AWS performed, or a concurrent writer) and
/// "busy" answers. Kinds and the engine adopt or wait on these instead of failing.
const CONFLICT: &[&str] = &[
    "ConflictException",
    "OperationAbortedException",
    "ConcurrentModificationException",
    "ConcurrentModification",
    "EntityAlreadyExists",
    "AlreadyExistsException",
    "ResourceAlreadyExistsException",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "QueueAlreadyExists",
    "QueueNameExists",
    "DeleteConflict",
    "WAFOptimisticLockException",
    "WAFDuplicateItemException",
    "DependencyViolation",
    "InvalidStateException",
    "KMSInvalidStateException",
    "InvalidSubnet.Conflict",
    "InvalidGroup.Duplicate",
    "InvalidPermission.Duplicate",
    "RouteAlreadyExists",
    "Resource.AlreadyAssociated",
    "IncorrectState",
    "ResourceInUseException",
    "DBInstanceAlreadyExists",
    "DBSubnetGroupAlreadyExists",
    "DBParameterGroupAlreadyExists",
    "InvalidDBInstanceState",
    "InvalidDBParameterGroupState",
    "InvalidDBSubnetGroupStateFault",
    "ResourceExistsException",
    "RepositoryAlreadyExistsException",
    "RepositoryNotEmptyException",
];

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "AuthFailure",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
];

/// Server-side and capacity failures: the same request may succeed later.
const RETRYABLE: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "InternalServiceError",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "ServiceFailure",
    "RequestTimeout",
    "RequestTimeoutException",
    "KMSInternalException",
    "DependencyTimeoutException",
    "WAFInternalErrorException",
    "WAFUnavailableEntityException",
    "InsufficientInstanceCapacity",
    "InsufficientCapacity",
    "InsufficientDBInstanceCapacity",
    "InsufficientAddressCapacity",
];

/// Answers caused by IAM eventual consistency: a role or principal created seconds ago is
/// not yet visible to the service that checks it. AWS reports these with a client-error code,
/// so only the message tells them apart from a real mistake; they clear within a minute.
/// (code, lower-case message fragment).
const IAM_PROPAGATION: &[(&str, &str)] = &[
    // EKS CreateCluster / CreateNodegroup with a role created moments ago.
    ("InvalidParameterException", "cannot be assumed"),
    ("InvalidParameterException", "could not be assumed"),
    ("InvalidParameterException", "not authorized to perform sts:assumerole"),
    ("InvalidParameterException", "error in role params"),
    ("InvalidParameterException", "role provided in the request does not exist"),
    // EKS CreateAccessEntry for a fresh role.
    ("InvalidParameterException", "principalarn is invalid"),
    ("InvalidParameterValueException", "cannot be assumed"),
    // KMS CreateKey / PutKeyPolicy naming a fresh role.
    ("MalformedPolicyDocumentException", "invalid principals"),
    // IAM trust and resource policies naming a fresh role.
    ("MalformedPolicyDocument", "invalid principal in policy"),
    // RDS enhanced monitoring role not yet assumable by monitoring.rds.amazonaws.com.
    ("InvalidParameterValue", "iam role arn value is invalid or does not include the required permissions"),
    ("InvalidParameterCombination", "iam role arn value is invalid"),
];

/// Classifies an error code; `None` for codes with no special meaning.
pub fn class_of(code: &str) -> Option<fn(String) -> ProviderError> {
    if NOT_FOUND.contains(&code) || code.ends_with(".NotFound") || code.starts_with("NoSuch") {
        Some(ProviderError::NotFound)
    } else if THROTTLED.contains(&code) {
        Some(ProviderError::Throttled)
    } else if CONFLICT.contains(&code) || code.ends_with(".Duplicate") || code.ends_with("AlreadyExists") {
        Some(ProviderError::Conflict)
    } else if ACCESS_DENIED.contains(&code) {
        Some(ProviderError::AccessDenied)
    } else if RETRYABLE.contains(&code) {
        Some(ProviderError::Retryable)
    } else if code.starts_with("Invalid")
        || code.starts_with("Malformed")
        || code.ends_with("ValidationException")
        || code == "ValidationError"
        || code == "LimitExceeded"
        || code == "LimitExceededException"
    {
        Some(ProviderError::Invalid)
    } else {
        None
    }
}

/// Classifies an error by code and message: IAM propagation answers are retryable even though
/// their codes alone say "invalid".
pub fn class_of_error(code: &str, message: &str) -> Option<fn(String) -> ProviderError> {
    let lower = message.to_ascii_lowercase();
    if IAM_PROPAGATION.iter().any(|(c, fragment)| *c == code && lower.contains(fragment)) {
        return Some(ProviderError::Retryable);
    }
    class_of(code)
}

/// The HTTP status of a raw response, when the SDK kept one.
fn status_of<R: 'static>(raw: &R) -> Option<u16> {
    (raw as &dyn std::any::Any).downcast_ref::<HttpResponse>().map(|r| r.status().as_u16())
}

/// Turns an SDK error into a `ProviderError`, keeping the operation name and AWS's own message.
pub fn classify<E, R>(operation: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let message = err.message().map(str::to_string);
    let (raw_text, status) = match &err {
        SdkError::ServiceError(ctx) => (format!("{:?}", ctx.raw()), status_of(ctx.raw())),
        SdkError::ResponseError(ctx) => (String::new(), status_of(ctx.raw())),
        _ => (String::new(), None),
    };
    // Some answers (an emulator's HTML-typed XML, a proxy's error page) are not parsed by the
    // SDK; their <Code> and <Message> still say what went wrong.
    let (code, message) = match (code, message, &err) {
        (None, None, SdkError::ServiceError(_)) => (between(&raw_text, "<Code>", "</Code>"), between(&raw_text, "<Message>", "</Message>")),
        (c, m, _) => (c, m),
    };
    match (code, &err) {
        (Some(code), _) => {
            let message = message.unwrap_or_default();
            let make = class_of_error(&code, &message);
            let text = format!("{operation}: {code}: {message}");
            match make {
                Some(make) => make(text),
                None if status.is_some_and(|s| s >= 500) => ProviderError::Retryable(text),
                None => ProviderError::Fatal(text),
            }
        }
        (None, SdkError::TimeoutError(_)) | (None, SdkError::DispatchFailure(_)) => {
            ProviderError::Retryable(format!("{operation}: {}", DisplayErrorContext(&err)))
        }
        (None, _) if status.is_some_and(|s| s >= 500) => ProviderError::Retryable(format!("{operation}: {}", DisplayErrorContext(&err))),
        (None, SdkError::ServiceError(_)) if status == Some(404) || raw_text.contains("404") => {
            ProviderError::NotFound(format!("{operation}: {}", DisplayErrorContext(&err)))
        }
        (None, _) => ProviderError::Fatal(format!("{operation}: {}", DisplayErrorContext(&err))),
    }
}

fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].to_string())
}

/// Shorthand for `.map_err(|e| classify(op, e))`.
pub trait SdkResultExt<T> {
    fn op(self, operation: &str) -> Result<T, ProviderError>;
}

impl<T, E, R> SdkResultExt<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn op(self, operation: &str) -> Result<T, ProviderError> {
        self.map_err(|e| classify(operation, e))
    }
}

/// Turns "not found" into `Ok(None)`, for reads.
pub fn found<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(ProviderError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Turns "not found" into success, for deletes.
pub fn gone(result: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match result {
        Err(ProviderError::NotFound(_)) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn class(code: &str, message: &str) -> ProviderError {
        class_of_error(code, message).map(|make| make("x".into())).unwrap_or(ProviderError::Fatal("unclassified".into()))
    }

    fn service_error(status: u16, code: Option<&str>, message: &str) -> SdkError<ErrorMetadata, HttpResponse> {
        let mut meta = ErrorMetadata::builder().message(message);
        if let Some(code) = code {
            meta = meta.code(code);
        }
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(""));
        SdkError::service_error(meta.build(), raw)
    }

    #[test]
    fn codes_map_to_classes() {
        assert!(matches!(class_of("NoSuchEntity").unwrap()("x".into()), ProviderError::NotFound(_)));
        assert!(matches!(class_of("AWS.SimpleQueueService.NonExistentQueue").unwrap()("x".into()), ProviderError::NotFound(_)));
        assert!(matches!(class_of("ThrottlingException").unwrap()("x".into()), ProviderError::Throttled(_)));
        assert!(matches!(class_of("AccessDeniedException").unwrap()("x".into()), ProviderError::AccessDenied(_)));
        assert!(matches!(class_of("InvalidParameterValue").unwrap()("x".into()), ProviderError::Invalid(_)));
        assert!(matches!(class_of("DeleteConflict").unwrap()("x".into()), ProviderError::Conflict(_)));
        assert!(class_of("SomethingElse").is_none());
    }

    #[test]
    fn ecr_answers_are_classified() {
        for code in ["RepositoryNotFoundException", "LifecyclePolicyNotFoundException", "RepositoryPolicyNotFoundException"] {
            assert!(matches!(class(code, "missing"), ProviderError::NotFound(_)), "{code}");
        }
        assert!(matches!(class("RepositoryNotEmptyException", "has images"), ProviderError::Conflict(_)));
    }

    #[test]
    fn already_exists_codes_of_every_service_are_conflicts() {
        for code in [
            "InvalidSubnet.Conflict",
            "InvalidGroup.Duplicate",
            "InvalidPermission.Duplicate",
            "RouteAlreadyExists",
            "Resource.AlreadyAssociated",
            "DBInstanceAlreadyExists",
            "DBSubnetGroupAlreadyExists",
            "DBParameterGroupAlreadyExists",
            "WAFDuplicateItemException",
            "ResourceInUseException",
            "EntityAlreadyExists",
            "AlreadyExistsException",
            "BucketAlreadyOwnedByYou",
            "QueueAlreadyExists",
            "QueueNameExists",
            "InvalidKeyPair.Duplicate",
            "RepositoryAlreadyExistsException",
            "ResourceAlreadyExistsException",
        ] {
            assert!(matches!(class(code, "exists"), ProviderError::Conflict(_)), "{code}");
        }
    }

    #[test]
    fn server_and_capacity_failures_are_retryable() {
        for code in [
            "InternalError",
            "InternalFailure",
            "ServiceUnavailable",
            "ServiceUnavailableException",
            "ServerException",
            "Unavailable",
            "KMSInternalException",
            "WAFInternalErrorException",
            "InsufficientInstanceCapacity",
            "InsufficientDBInstanceCapacity",
            "RequestTimeout",
        ] {
            assert!(matches!(class(code, "try again"), ProviderError::Retryable(_)), "{code}");
        }
    }

    #[test]
    fn throttling_codes_are_throttled() {
        for code in ["RequestLimitExceeded", "Throttling", "ThrottlingException", "SlowDown", "TooManyRequestsException", "EC2ThrottledException"] {
            assert!(matches!(class(code, "rate exceeded"), ProviderError::Throttled(_)), "{code}");
        }
    }

    #[test]
    fn not_found_codes_of_rds_are_not_found() {
        for code in ["DBInstanceNotFound", "DBSubnetGroupNotFoundFault", "DBParameterGroupNotFound", "InvalidVpcID.NotFound"] {
            assert!(matches!(class(code, "gone"), ProviderError::NotFound(_)), "{code}");
        }
    }

    #[test]
    fn iam_propagation_answers_are_retryable() {
        let cases = [
            (
                "InvalidParameterException",
                "Role with arn: arn:aws:iam::123456789012:role/eks could not be assumed because it does not exist or the trusted entity is not correct",
            ),
            ("InvalidParameterException", "The role arn:aws:iam::123456789012:role/eks cannot be assumed by eks.amazonaws.com"),
            ("InvalidParameterException", "Error in role params"),
            ("InvalidParameterException", "The specified principalArn is invalid: invalid principal."),
            ("InvalidParameterException", "Role provided in the request does not exist"),
            ("MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid principals."),
            ("MalformedPolicyDocument", "Invalid principal in policy: \"AWS\":\"arn:aws:iam::123456789012:role/app\""),
            ("InvalidParameterValue", "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING"),
        ];
        for (code, message) in cases {
            assert!(matches!(class(code, message), ProviderError::Retryable(_)), "{code}: {message}");
        }
        // The same codes with other messages are real mistakes.
        assert!(matches!(class("InvalidParameterException", "Unsupported Kubernetes minor version update"), ProviderError::Invalid(_)));
        assert!(matches!(
            class("MalformedPolicyDocumentException", "Policy contains a statement with one or more invalid actions."),
            ProviderError::Invalid(_)
        ));
    }

    #[test]
    fn unknown_code_with_5xx_status_is_retryable_and_with_4xx_fatal() {
        assert!(matches!(classify("CreateVpc", service_error(503, Some("Overloaded"), "busy")), ProviderError::Retryable(_)));
        assert!(matches!(classify("CreateVpc", service_error(400, Some("Overloaded"), "busy")), ProviderError::Fatal(_)));
        assert!(matches!(classify("CreateVpc", service_error(502, None, "")), ProviderError::Retryable(_)));
        assert!(matches!(classify("GetRole", service_error(404, None, "")), ProviderError::NotFound(_)));
    }

    #[test]
    fn classify_uses_code_message_and_operation() {
        let err = classify(
            "CreateKey",
            service_error(400, Some("MalformedPolicyDocumentException"), "Policy contains a statement with one or more invalid principals."),
        );
        match err {
            ProviderError::Retryable(text) => assert!(text.starts_with("CreateKey: MalformedPolicyDocumentException:"), "{text}"),
            other => panic!("expected retryable, got {other:?}"),
        }
        assert!(matches!(classify("CreateSubnet", service_error(400, Some("InvalidSubnet.Conflict"), "conflicts")), ProviderError::Conflict(_)));
    }
}
