//! Tests of `aws.acm.certificate_validation` against aws-smithy-mocks: the wait for ISSUED, its failures and its bound, the record check.

use aws_sdk_acm::operation::describe_certificate::{DescribeCertificateError, DescribeCertificateOutput};
use aws_sdk_acm::types::{CertificateStatus, DomainValidation, FailureReason, RecordType, ResourceRecord};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::error::ErrorMetadata;

use super::*;
use crate::adopt::testing::desired;

const ARN: &str = "arn:aws:acm:us-east-1:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab";

fn kind(rules: &[Rule]) -> AcmCertificateValidation {
    AcmCertificateValidation::from_client(crate::mocked_client!(aws_sdk_acm, rules))
}

fn cert(status: CertificateStatus) -> CertificateDetail {
    let record = |d: &str| ResourceRecord::builder().name(format!("_x1.{d}.")).r#type(RecordType::Cname).value("_y1.acm-validations.aws.").build().unwrap();
    let option = |d: &str| DomainValidation::builder().domain_name(d).validation_method(ValidationMethod::Dns).resource_record(record(d)).build().unwrap();
    CertificateDetail::builder()
        .certificate_arn(ARN)
        .domain_name("example.com")
        .status(status)
        .domain_validation_options(option("example.com"))
        .domain_validation_options(option("www.example.com"))
        .build()
}

fn describe_rule(status: CertificateStatus) -> Rule {
    let c = cert(status);
    mock!(Client::describe_certificate).then_output(move || DescribeCertificateOutput::builder().certificate(c.clone()).build())
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    for props in [
        json!({}),
        json!({"certificate_arn": "short"}),
        json!({"certificate_arn": ARN, "validation_record_fqdns": [""]}),
        json!({"certificate_arn": ARN, "validation_record_fqdns": "one.example.com"}),
        json!({"certificate_arn": ARN, "wait_timeout_minutes": 0}),
        json!({"certificate_arn": ARN, "wait_timeout_minutes": 1441}),
    ] {
        let d = desired(props.clone());
        assert!(Spec::from(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts gives a wait of at most a day.
    #[test]
    fn every_value_the_schema_accepts_builds_a_wait(props in crate::schema_gen::props(&SCHEMA)) {
        let d = desired(Value::Object(props));
        let spec = Spec::from(&d);
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let wait = spec.unwrap().wait;
        proptest::prop_assert!(wait >= Duration::from_secs(60) && wait <= Duration::from_secs(24 * 3600));
    }
}

#[tokio::test(start_paused = true)]
async fn create_waits_until_the_certificate_is_issued() {
    let pending = cert(CertificateStatus::PendingValidation);
    let issued = cert(CertificateStatus::Issued);
    let polls = mock!(Client::describe_certificate)
        .sequence()
        .output(move || DescribeCertificateOutput::builder().certificate(pending.clone()).build())
        .times(3)
        .output(move || DescribeCertificateOutput::builder().certificate(issued.clone()).build())
        .build();
    let want = desired(json!({"certificate_arn": ARN, "validation_record_fqdns": ["_x1.example.com", "_X1.WWW.example.com."]}));
    let start = tokio::time::Instant::now();
    let obs = kind(std::slice::from_ref(&polls)).create(&want).await.unwrap();
    assert_eq!(polls.num_calls(), 4);
    // 2 + 4 + 8 seconds of backoff between the four polls.
    assert_eq!(start.elapsed().as_secs(), 14);
    assert_eq!(obs.id, ARN);
    assert_eq!(obs.attrs["status"], json!("ISSUED"));
    assert_eq!(obs.props["certificate_arn"], json!(ARN));
}

#[tokio::test(start_paused = true)]
async fn the_wait_is_bounded_and_says_how_to_continue() {
    let want = desired(json!({"certificate_arn": ARN, "wait_timeout_minutes": 2}));
    let start = tokio::time::Instant::now();
    let result = kind(&[describe_rule(CertificateStatus::PendingValidation)]).create(&want).await;
    assert!(
        matches!(&result, Err(ProviderError::Retryable(m)) if m.contains("still PENDING_VALIDATION after 2 minutes") && m.contains("wait_timeout_minutes")),
        "{result:?}"
    );
    assert_eq!(start.elapsed().as_secs(), 120, "the last sleep stops at the bound");
}

#[tokio::test]
async fn failed_and_timed_out_certificates_fail_clearly() {
    let failed = CertificateDetail::builder().certificate_arn(ARN).status(CertificateStatus::Failed).failure_reason(FailureReason::CaaError).build();
    let rule = mock!(Client::describe_certificate).then_output(move || DescribeCertificateOutput::builder().certificate(failed.clone()).build());
    let result = kind(&[rule]).create(&desired(json!({"certificate_arn": ARN}))).await;
    assert!(matches!(&result, Err(ProviderError::Fatal(m)) if m.contains("FAILED") && m.contains("CAA_ERROR")), "{result:?}");

    let result = kind(&[describe_rule(CertificateStatus::ValidationTimedOut)]).create(&desired(json!({"certificate_arn": ARN}))).await;
    assert!(matches!(&result, Err(ProviderError::Fatal(m)) if m.contains("VALIDATION_TIMED_OUT") && m.contains("72 hours")), "{result:?}");
}

#[tokio::test]
async fn missing_validation_records_are_named() {
    let want = desired(json!({"certificate_arn": ARN, "validation_record_fqdns": ["_x1.example.com."]}));
    let result = kind(&[describe_rule(CertificateStatus::Issued)]).create(&want).await;
    assert!(
        matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("www.example.com: _x1.www.example.com.") && !m.contains("example.com: _x1.example.com")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_missing_certificate_is_invalid() {
    let gone = mock!(Client::describe_certificate)
        .then_error(|| DescribeCertificateError::generic(ErrorMetadata::builder().code("ResourceNotFoundException").message("no").build()));
    let result = kind(std::slice::from_ref(&gone)).create(&desired(json!({"certificate_arn": ARN}))).await;
    assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("does not exist")), "{result:?}");
    assert_eq!(kind(&[gone]).read(ARN).await.unwrap(), None);
}

#[tokio::test]
async fn read_reports_issued_and_treats_any_other_status_as_gone() {
    let obs = kind(&[describe_rule(CertificateStatus::Issued)]).read(ARN).await.unwrap().unwrap();
    assert_eq!(obs.attrs["status"], json!("ISSUED"));
    assert_eq!(kind(&[describe_rule(CertificateStatus::Expired)]).read(ARN).await.unwrap(), None);
    assert_eq!(kind(&[describe_rule(CertificateStatus::PendingValidation)]).read(ARN).await.unwrap(), None);
}

#[tokio::test]
async fn find_owned_is_the_issued_certificate_and_update_and_delete_touch_nothing() {
    let want = desired(json!({"certificate_arn": ARN}));
    assert_eq!(kind(&[describe_rule(CertificateStatus::Issued)]).find_owned(&want).await.unwrap().unwrap().id, ARN);
    assert_eq!(kind(&[describe_rule(CertificateStatus::PendingValidation)]).find_owned(&want).await.unwrap(), None);
    let describe = describe_rule(CertificateStatus::Issued);
    let k = kind(std::slice::from_ref(&describe));
    assert_eq!(k.update(ARN, &want, &["wait_timeout_minutes".to_string()]).await.unwrap().id, ARN);
    k.delete(ARN).await.unwrap();
    assert_eq!(describe.num_calls(), 1, "delete calls nothing");
}

/// Compiles a stack of the certificate, a record-like consumer of its validation record and
/// the validation, with the real kinds' schemas.
fn validate(validation_props: &str) -> Result<(), String> {
    use cairn_engine::compile::{compile_source, CompileOptions};
    use cairn_engine::source::SourceFile;
    let text = format!(
        "stack: shop\nresources:\n  cert:\n    type: aws.acm.certificate\n    props: {{ domain_name: shop.example.com }}\n  \
         validation:\n    type: aws.acm.certificate_validation\n    props: {validation_props}\n"
    );
    let file = SourceFile::new("stack.yaml", text);
    compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas).map(|_| ()).map_err(|d| d.render(&file))
}

#[test]
fn a_stack_indexes_the_certificates_validation_records() {
    validate("{ certificate_arn: \"${cert.arn}\", validation_record_fqdns: [\"${cert.domain_validation_options[0].resource_record_name}\"] }").unwrap();
    let typo = validate("{ certificate_arn: \"${cert.arn}\", validation_record_fqdns: [\"${cert.domain_validation_option[0].resource_record_name}\"] }");
    assert!(typo.as_ref().is_err_and(|e| e.contains("domain_validation_options")), "{typo:?}");
    let email = validate(
        "{ certificate_arn: \"${cert.arn}\" }\n  other:\n    type: aws.acm.certificate\n    props: { domain_name: a.example.com, validation_method: EMAIL }",
    );
    assert!(email.as_ref().is_err_and(|e| e.contains("EMAIL validation")), "{email:?}");
}
