//! Maps AWS SDK errors onto the engine's `ProviderError` classes by error code.

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
];

const CONFLICT: &[&str] = &[
    "ConflictException",
    "OperationAbortedException",
    "ConcurrentModificationException",
    "ConcurrentModification",
    "EntityAlreadyExists",
    "AlreadyExistsException",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "QueueAlreadyExists",
    "DeleteConflict",
    "WAFOptimisticLockException",
    "DependencyViolation",
    "InvalidStateException",
    "KMSInvalidStateException",
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

const RETRYABLE: &[&str] = &["InternalError", "InternalFailure", "ServiceUnavailable", "KMSInternalException", "ServiceFailure"];

/// Classifies an error code; `None` for codes with no special meaning.
pub fn class_of(code: &str) -> Option<fn(String) -> ProviderError> {
    if NOT_FOUND.contains(&code) || code.ends_with(".NotFound") || code.starts_with("NoSuch") {
        Some(ProviderError::NotFound)
    } else if THROTTLED.contains(&code) {
        Some(ProviderError::Throttled)
    } else if CONFLICT.contains(&code) {
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

/// Turns an SDK error into a `ProviderError`, keeping the operation name and AWS's own message.
pub fn classify<E, R>(operation: &str, err: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let message = err.message().map(str::to_string);
    let raw_status = match &err {
        SdkError::ServiceError(ctx) => format!("{:?}", ctx.raw()),
        _ => String::new(),
    };
    // Some answers (an emulator's HTML-typed XML, a proxy's error page) are not parsed by the
    // SDK; their <Code> and <Message> still say what went wrong.
    let (code, message) = match (code, message, &err) {
        (None, None, SdkError::ServiceError(_)) => (between(&raw_status, "<Code>", "</Code>"), between(&raw_status, "<Message>", "</Message>")),
        (c, m, _) => (c, m),
    };
    match (code, &err) {
        (Some(code), _) => {
            let text = format!("{operation}: {code}: {}", message.unwrap_or_default());
            match class_of(&code) {
                Some(make) => make(text),
                None => ProviderError::Fatal(text),
            }
        }
        (None, SdkError::TimeoutError(_)) | (None, SdkError::DispatchFailure(_)) => {
            ProviderError::Retryable(format!("{operation}: {}", DisplayErrorContext(&err)))
        }
        (None, SdkError::ServiceError(_)) if raw_status.contains("404") => ProviderError::NotFound(format!("{operation}: {}", DisplayErrorContext(&err))),
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
}
