//! One SDK-error mapping for every kind: the shared code table of `crate::error`, then the service's own codes (`service_codes`).

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::provider::ProviderError;

use crate::error::classify;

/// How a service code is recognised.
#[derive(Debug, Clone, Copy)]
pub enum Code {
    /// Exactly this code.
    Is(&'static str),
    /// Codes starting with this.
    Prefix(&'static str),
    /// Codes ending with this.
    Suffix(&'static str),
    /// Codes starting with the first part and containing any of the others.
    PrefixWithAny(&'static str, &'static [&'static str]),
}

impl Code {
    pub fn matches(&self, code: &str) -> bool {
        match *self {
            Code::Is(c) => code == c,
            Code::Prefix(p) => code.starts_with(p),
            Code::Suffix(s) => code.ends_with(s),
            Code::PrefixWithAny(p, any) => code.starts_with(p) && any.iter().any(|a| code.contains(a)),
        }
    }
}

/// The `ProviderError` class a service code maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    NotFound,
    Throttled,
    Retryable,
    Conflict,
    Invalid,
    AccessDenied,
}

impl Class {
    pub fn make(self, message: String) -> ProviderError {
        match self {
            Class::NotFound => ProviderError::NotFound(message),
            Class::Throttled => ProviderError::Throttled(message),
            Class::Retryable => ProviderError::Retryable(message),
            Class::Conflict => ProviderError::Conflict(message),
            Class::Invalid => ProviderError::Invalid(message),
            Class::AccessDenied => ProviderError::AccessDenied(message),
        }
    }
}

/// A service's own error codes, checked in order before the shared table's answer stands, and
/// what to tell the user after AWS's message for some of them.
#[derive(Debug)]
pub struct ServiceCodes {
    pub service: &'static str,
    pub codes: &'static [(Code, Class)],
    pub advice: &'static [(Code, &'static str)],
}

impl ServiceCodes {
    /// The class this service gives `code`, if it has one of its own.
    pub fn class_of(&self, code: &str) -> Option<Class> {
        self.codes.iter().find(|(c, _)| c.matches(code)).map(|(_, class)| *class)
    }

    /// Turns an SDK error into a `ProviderError`: the shared classification (operation and
    /// AWS's message kept), re-classed when the code is one of this service's own.
    pub fn classify<E, R>(&self, operation: &str, err: SdkError<E, R>) -> ProviderError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_string);
        let base = classify(operation, err);
        let advice = code.as_deref().and_then(|c| self.advice.iter().find(|(a, _)| a.matches(c))).map(|(_, text)| *text);
        let base = match advice {
            Some(text) => rewrap(base, |m| format!("{m}; {text}")),
            None => base,
        };
        match code.as_deref().and_then(|c| self.class_of(c)) {
            Some(class) => class.make(message_of(base)),
            None => base,
        }
    }
}

/// `.op_in(&service_codes::EC2, "CreateVpc")?`: `classify` plus the service's own codes.
pub trait ServiceResultExt<T> {
    fn op_in(self, codes: &ServiceCodes, operation: &str) -> Result<T, ProviderError>;
}

impl<T, E, R> ServiceResultExt<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn op_in(self, codes: &ServiceCodes, operation: &str) -> Result<T, ProviderError> {
        self.map_err(|e| codes.classify(operation, e))
    }
}

/// The same class with its text changed.
fn rewrap(err: ProviderError, change: impl FnOnce(String) -> String) -> ProviderError {
    match err {
        ProviderError::NotFound(m) => ProviderError::NotFound(change(m)),
        ProviderError::Throttled(m) => ProviderError::Throttled(change(m)),
        ProviderError::Retryable(m) => ProviderError::Retryable(change(m)),
        ProviderError::Conflict(m) => ProviderError::Conflict(change(m)),
        ProviderError::Invalid(m) => ProviderError::Invalid(change(m)),
        ProviderError::AccessDenied(m) => ProviderError::AccessDenied(change(m)),
        ProviderError::Fatal(m) => ProviderError::Fatal(change(m)),
    }
}

/// The text inside any `ProviderError`, to re-wrap it in another class.
pub fn message_of(err: ProviderError) -> String {
    match err {
        ProviderError::NotFound(m)
        | ProviderError::Throttled(m)
        | ProviderError::Retryable(m)
        | ProviderError::Conflict(m)
        | ProviderError::Invalid(m)
        | ProviderError::AccessDenied(m)
        | ProviderError::Fatal(m) => m,
    }
}

/// The text inside any `ProviderError`, borrowed: to look for a code in it.
pub fn text_of(err: &ProviderError) -> &str {
    match err {
        ProviderError::NotFound(m)
        | ProviderError::Throttled(m)
        | ProviderError::Retryable(m)
        | ProviderError::Conflict(m)
        | ProviderError::Invalid(m)
        | ProviderError::AccessDenied(m)
        | ProviderError::Fatal(m) => m,
    }
}

/// A refusal of the kind's props, naming the kind: what every kind says when a value known only
/// at apply breaks a rule.
pub fn invalid(kind: &str, message: impl std::fmt::Display) -> ProviderError {
    ProviderError::Invalid(format!("{kind}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    static TEST: ServiceCodes = ServiceCodes {
        service: "test",
        codes: &[
            (Code::Is("Gateway.NotAttached"), Class::NotFound),
            (Code::Suffix("NotFoundFault"), Class::NotFound),
            (Code::PrefixWithAny("InvalidDB", &["State", "InUse"]), Class::Conflict),
            (Code::Prefix("WAFInvalid"), Class::Invalid),
        ],
        advice: &[(Code::Is("Gateway.NotAttached"), "nothing to detach")],
    };

    fn err(code: &str) -> SdkError<ErrorMetadata, HttpResponse> {
        let raw = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(""));
        SdkError::service_error(ErrorMetadata::builder().code(code).message("m").build(), raw)
    }

    #[test]
    fn service_codes_win_over_the_shared_table_and_keep_its_text() {
        let e = Err::<(), _>(err("DBClusterNotFoundFault")).op_in(&TEST, "DescribeDBClusters").unwrap_err();
        assert_eq!(e, ProviderError::NotFound("DescribeDBClusters: DBClusterNotFoundFault: m".into()));
        assert!(matches!(TEST.classify("X", err("DBClusterNotFoundFault")), ProviderError::NotFound(_)));
        assert!(matches!(TEST.classify("X", err("InvalidDBSubnetGroupStateFault")), ProviderError::Conflict(_)));
        assert!(matches!(TEST.classify("X", err("InvalidDBSecurityGroup")), ProviderError::Invalid(_)), "the shared table answers the rest");
        assert!(matches!(TEST.classify("X", err("WAFInvalidParameterException")), ProviderError::Invalid(_)));
        assert!(matches!(TEST.classify("X", err("Mystery")), ProviderError::Fatal(_)));
        assert_eq!(TEST.classify("Detach", err("Gateway.NotAttached")), ProviderError::NotFound("Detach: Gateway.NotAttached: m; nothing to detach".into()));
    }

    #[test]
    fn invalid_names_the_kind() {
        assert_eq!(invalid("aws.x.y", "bad"), ProviderError::Invalid("aws.x.y: bad".into()));
    }
}
