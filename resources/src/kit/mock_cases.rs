//! The mock-test shapes the kinds share: error answers as each protocol puts them on the wire, and the adopt-ours / refuse-theirs case.

use std::future::Future;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::ErrorMetadata;
use cairn_engine::provider::{Observed, ProviderError, Tags};

use crate::adopt::testing::{assert_refused, foreign_tags, owner};

/// An error as the SDK parsed it, for `then_error(|| XError::generic(meta(code)))`.
pub fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(format!("{code} from the test")).build()
}

/// An awsJson1_1 error answer (Logs, ECR, CloudTrail, KMS, SSM, ...), for `then_http_response`.
pub fn json_error(code: &'static str) -> impl Fn() -> HttpResponse + Send + Sync + 'static {
    move || {
        let body = format!(r#"{{"__type":"{code}","message":"{code} from the test"}}"#);
        let mut resp = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body));
        resp.headers_mut().insert("content-type", "application/x-amz-json-1.1");
        resp
    }
}

/// An awsQuery error answer (IAM, SNS, RDS, ...) with its HTTP status, for `then_http_response`.
pub fn query_error(status: u16, code: &'static str) -> impl Fn() -> HttpResponse + Send + Sync + 'static {
    move || {
        let body = format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code} from the test</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        );
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
    }
}

/// The create-after-a-lost-answer case every kind must pass: what the earlier attempt made,
/// carrying this owner's tags, is adopted (the create answers its id); the same name carrying
/// another owner's tags is refused, naming `what`. `create_finding` runs one create against
/// mocks in which the existing resource carries the given tags. Answers what was adopted, for
/// the kind's own further assertions.
pub async fn adopts_ours_refuses_theirs<F, Fut>(create_finding: F, id: &str, what: &str) -> Observed
where
    F: Fn(Tags) -> Fut,
    Fut: Future<Output = Result<Observed, ProviderError>>,
{
    let ours = create_finding(owner().tags()).await;
    assert_eq!(ours.as_ref().map(|o| o.id.as_str()), Ok(id), "ours is adopted");
    assert_refused(create_finding(foreign_tags()).await, what);
    ours.unwrap_or_else(|e| panic!("{e}"))
}
