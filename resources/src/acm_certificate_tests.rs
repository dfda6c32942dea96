//! Tests of `aws.acm.certificate` against aws-smithy-mocks: requests sent, the wait for validation records, shapes read, errors classified.

use std::sync::{Arc, Mutex};

use aws_sdk_acm::operation::add_tags_to_certificate::{AddTagsToCertificateInput, AddTagsToCertificateOutput};
use aws_sdk_acm::operation::delete_certificate::{DeleteCertificateError, DeleteCertificateOutput};
use aws_sdk_acm::operation::describe_certificate::DescribeCertificateOutput;
use aws_sdk_acm::operation::list_certificates::{ListCertificatesInput, ListCertificatesOutput};
use aws_sdk_acm::operation::list_tags_for_certificate::ListTagsForCertificateOutput;
use aws_sdk_acm::operation::remove_tags_from_certificate::{RemoveTagsFromCertificateInput, RemoveTagsFromCertificateOutput};
use aws_sdk_acm::operation::request_certificate::{RequestCertificateError, RequestCertificateInput, RequestCertificateOutput};
use aws_sdk_acm::types::{CertificateStatus, CertificateSummary, RecordType, ResourceRecord};
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::error::ErrorMetadata;
use proptest::prelude::*;

use super::*;
use crate::adopt::testing::{desired, foreign_tags, owner};

const ARN: &str = "arn:aws:acm:us-east-1:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab";
const OLD_ARN: &str = "arn:aws:acm:us-east-1:123456789012:certificate/0000abcd-12ab-34cd-56ef-1234567890ab";

fn kind(rules: &[Rule]) -> AcmCertificate {
    AcmCertificate::from_client(crate::mocked_client!(aws_sdk_acm, rules))
}

fn error(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(format!("{code} from the mock")).build()
}

fn validation(domain: &str, with_record: bool) -> DomainValidation {
    let record = ResourceRecord::builder()
        .name(format!("_x1.{}.", domain.trim_start_matches("*.")))
        .r#type(RecordType::Cname)
        .value("_y1.acm-validations.aws.")
        .build()
        .unwrap();
    DomainValidation::builder().domain_name(domain).validation_method(ValidationMethod::Dns).set_resource_record(with_record.then_some(record)).build().unwrap()
}

fn cert(arn: &str, domain: &str, sans: &[&str], status: CertificateStatus, records: bool) -> CertificateDetail {
    let mut names = vec![domain.to_string()];
    names.extend(sans.iter().map(|s| s.to_string()));
    // ACM lists the validation records in an order of its own: here the SANs before the first name.
    let mut options: Vec<DomainValidation> = names.iter().map(|n| validation(n, records)).collect();
    options.reverse();
    CertificateDetail::builder()
        .certificate_arn(arn)
        .domain_name(domain)
        .set_subject_alternative_names(Some(names))
        .status(status)
        .key_algorithm(KeyAlgorithm::Rsa2048)
        .options(CertificateOptions::builder().export(CertificateExport::Disabled).build())
        .set_domain_validation_options(Some(options))
        .build()
}

fn describe_rule(c: CertificateDetail) -> Rule {
    mock!(Client::describe_certificate).then_output(move || DescribeCertificateOutput::builder().certificate(c.clone()).build())
}

fn tags_rule(tags: Tags) -> Rule {
    mock!(Client::list_tags_for_certificate).then_output(move || {
        ListTagsForCertificateOutput::builder().set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap()).collect())).build()
    })
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    let long_label = format!("{}.example.com", "a".repeat(64));
    let long_first = format!("{}.example.com", "a".repeat(60));
    let many: Vec<String> = (0..101).map(|i| format!("n{i}.example.com")).collect();
    for props in [
        json!({}),
        json!({"domain_name": ""}),
        json!({"domain_name": "example"}),
        json!({"domain_name": "example.com."}),
        json!({"domain_name": "www.*.example.com"}),
        json!({"domain_name": "a*.example.com"}),
        json!({"domain_name": "*.com"}),
        json!({"domain_name": "-a.example.com"}),
        json!({"domain_name": "a_b.example.com"}),
        json!({"domain_name": "example.c"}),
        json!({"domain_name": long_label}),
        json!({"domain_name": long_first}),
        json!({"domain_name": "example.com", "subject_alternative_names": ["ok.example.com", "bad..example.com"]}),
        json!({"domain_name": "example.com", "subject_alternative_names": many}),
        json!({"domain_name": "example.com", "validation_method": "EMAIL"}),
        json!({"domain_name": "example.com", "key_algorithm": "RSA_4096"}),
        json!({"domain_name": "example.com", "subject_alternative_names": ["a.example.com", "A.example.com"]}),
        json!({"domain_name": "example.com", "subject_alternative_names": ["example.com"]}),
        json!({"domain_name": "example.com", "options": {"certificate_transparency_logging_preference": "OFF", "export": "DISABLED"}}),
        json!({"domain_name": "example.com", "options": {"certificate_transparency_logging_preference": "DISABLED", "export": "DISABLED"}}),
        json!({"domain_name": "example.com", "options": {"export": "ENABLED"}}),
        json!({"domain_name": "example.com", "options": {"other": true}}),
    ] {
        let d = desired(props.clone());
        assert!(Spec::from(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

#[test]
fn domain_names_acm_accepts_pass() {
    for name in ["example.com", "*.example.com", "a-b.c-d.example.co", "xn--bcher-kva.example", &format!("{}.example.com", "a".repeat(63))] {
        assert_eq!(domain_violation(name, MAX_SAN), None, "{name}");
    }
    assert!(domain_violation(&format!("{}.example.com", "a".repeat(63)), MAX_FIRST_NAME).is_some(), "the first name holds 64 characters at most");
}

/// Names the domain rules accept: an optional wildcard, then 2 to 4 labels.
fn domain() -> impl Strategy<Value = String> {
    ("(\\*\\.)?", proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..4), "[a-z]{2,6}")
        .prop_map(|(w, labels, top)| format!("{w}{}.{top}", labels.join(".")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts becomes a RequestCertificate request. Names are
    /// drawn as domains: a draw from the text type alone would almost never be one.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(
        first in domain(),
        sans in proptest::collection::vec(domain(), 0..4),
        key in proptest::sample::select(KEY_ALGORITHMS),
        options in crate::schema_gen::value(SCHEMA.prop("options").unwrap().ty),
        with_options in any::<bool>(),
    ) {
        let mut props = json!({"domain_name": first, "subject_alternative_names": sans, "key_algorithm": key});
        if with_options {
            props["options"] = options;
        }
        let d = desired(props);
        prop_assume!(crate::schema_check::accepts(&SCHEMA, &d.props));
        let spec = Spec::from(&d);
        prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        prop_assert!(spec.names().len() <= MAX_SANS + 1);
        prop_assert!(KEY_ALGORITHMS.contains(&spec.key_algorithm.as_str()));
    }
}

#[test]
fn the_request_token_is_word_characters_and_at_most_32() {
    let mut d = desired(json!({"domain_name": "example.com"}));
    assert_eq!(request_token(&d, 0), "cairn0123456789abcdef0");
    assert_ne!(request_token(&d, 0), request_token(&d, 1));
    d.idempotency_token = format!("cairn-{}", "f".repeat(40));
    let token = request_token(&d, 3);
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
}

#[tokio::test(start_paused = true)]
async fn create_sends_token_tags_and_names_then_waits_for_the_records() {
    let seen: Arc<Mutex<Vec<RequestCertificateInput>>> = Arc::default();
    let sink = seen.clone();
    let request = mock!(Client::request_certificate).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        RequestCertificateOutput::builder().certificate_arn(ARN).build()
    });
    // ACM answers the request before it has chosen the records: the first describes lack them.
    let pending = cert(ARN, "example.com", &["www.example.com"], CertificateStatus::PendingValidation, false);
    let ready = cert(ARN, "example.com", &["www.example.com"], CertificateStatus::PendingValidation, true);
    let early = mock!(Client::describe_certificate)
        .sequence()
        .output(move || DescribeCertificateOutput::builder().certificate(pending.clone()).build())
        .times(2)
        .output(move || DescribeCertificateOutput::builder().certificate(ready.clone()).build())
        .build();
    let want = desired(json!({"domain_name": "example.com", "subject_alternative_names": ["www.example.com"], "key_algorithm": "EC_prime256v1"}));
    let obs = kind(&[request, early.clone()]).create(&want).await.unwrap();

    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.domain_name(), Some("example.com"));
    assert_eq!(input.subject_alternative_names(), ["example.com".to_string(), "www.example.com".to_string()]);
    assert_eq!(input.validation_method(), Some(&ValidationMethod::Dns));
    assert_eq!(input.key_algorithm(), Some(&KeyAlgorithm::EcPrime256v1));
    assert_eq!(input.idempotency_token(), Some("cairn0123456789abcdef0"));
    assert_eq!(input.options().and_then(|o| o.export()), Some(&CertificateExport::Disabled));
    let sent: Tags = input.tags().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect();
    assert_eq!(sent, want.tags);
    assert_eq!(early.num_calls(), 3);

    assert_eq!(obs.id, ARN);
    assert_eq!(obs.attrs["status"], json!("PENDING_VALIDATION"));
    // The first name's record first, whatever order ACM lists them in.
    assert_eq!(
        obs.attrs["domain_validation_options"],
        json!([
            {"domain_name": "example.com", "resource_record_name": "_x1.example.com.", "resource_record_type": "CNAME", "resource_record_value": "_y1.acm-validations.aws."},
            {"domain_name": "www.example.com", "resource_record_name": "_x1.www.example.com.", "resource_record_type": "CNAME", "resource_record_value": "_y1.acm-validations.aws."},
        ])
    );
    assert_eq!(obs.props["subject_alternative_names"], json!(["www.example.com"]), "the first name is not repeated among the SANs");
    assert_eq!(obs.tags, want.tags);
}

#[tokio::test(start_paused = true)]
async fn records_that_never_come_are_a_retryable_error_naming_the_certificate() {
    let request = mock!(Client::request_certificate).then_output(|| RequestCertificateOutput::builder().certificate_arn(ARN).build());
    let never = describe_rule(cert(ARN, "example.com", &[], CertificateStatus::PendingValidation, false));
    let result = kind(&[request, never]).create(&desired(json!({"domain_name": "example.com"}))).await;
    assert!(matches!(&result, Err(ProviderError::Retryable(m)) if m.contains(ARN) && m.contains("DNS validation records")), "{result:?}");
}

#[tokio::test]
async fn request_errors_are_classified_and_quotas_named() {
    let limit = mock!(Client::request_certificate).then_error(|| RequestCertificateError::generic(error("LimitExceededException")));
    let result = kind(&[limit]).create(&desired(json!({"domain_name": "example.com"}))).await;
    assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("Service Quotas")), "{result:?}");
    let throttled = mock!(Client::request_certificate).then_error(|| RequestCertificateError::generic(error("ThrottlingException")));
    let result = kind(&[throttled]).create(&desired(json!({"domain_name": "example.com"}))).await;
    assert!(matches!(result, Err(ProviderError::Throttled(_))), "{result:?}");
}

#[tokio::test]
async fn read_reports_props_attrs_and_tags() {
    let c = cert(ARN, "example.com", &["*.example.com"], CertificateStatus::Issued, true);
    let obs = kind(&[describe_rule(c), tags_rule(owner().tags())]).read(ARN).await.unwrap().unwrap();
    assert_eq!(
        Value::Object(obs.props),
        json!({"domain_name": "example.com", "subject_alternative_names": ["*.example.com"], "validation_method": "DNS", "key_algorithm": "RSA_2048",
               "options": {"certificate_transparency_logging_preference": "ENABLED", "export": "DISABLED"}})
    );
    assert_eq!(obs.attrs["status"], json!("ISSUED"));
    assert_eq!(obs.attrs["domain_validation_options"][1]["resource_record_name"], json!("_x1.example.com."));
    assert_eq!(obs.tags, owner().tags());
}

#[tokio::test]
async fn read_of_a_deleted_certificate_is_none() {
    let gone = mock!(Client::describe_certificate)
        .then_error(|| aws_sdk_acm::operation::describe_certificate::DescribeCertificateError::generic(error("ResourceNotFoundException")));
    assert_eq!(kind(&[gone]).read(ARN).await.unwrap(), None);
}

#[tokio::test]
async fn update_changes_tags() {
    let added: Arc<Mutex<Vec<AddTagsToCertificateInput>>> = Arc::default();
    let asink = added.clone();
    let add = mock!(Client::add_tags_to_certificate).then_compute_output(move |input| {
        asink.lock().unwrap().push(input.clone());
        AddTagsToCertificateOutput::builder().build()
    });
    let removed: Arc<Mutex<Vec<RemoveTagsFromCertificateInput>>> = Arc::default();
    let rsink = removed.clone();
    let remove = mock!(Client::remove_tags_from_certificate).then_compute_output(move |input| {
        rsink.lock().unwrap().push(input.clone());
        RemoveTagsFromCertificateOutput::builder().build()
    });
    let mut current = owner().tags();
    current.insert("old".into(), "x".into());
    let mut want = desired(json!({"domain_name": "example.com"}));
    want.tags.insert("team".into(), "core".into());
    let k = kind(&[add, remove, describe_rule(cert(ARN, "example.com", &[], CertificateStatus::Issued, true)), tags_rule(current)]);
    let obs = k.update(ARN, &want, &["tags".to_string()]).await.unwrap();
    let a = added.lock().unwrap().pop().unwrap();
    assert_eq!(a.certificate_arn(), Some(ARN));
    assert_eq!((a.tags().len(), a.tags()[0].key()), (1, "team"));
    let r = removed.lock().unwrap().pop().unwrap();
    assert_eq!(r.tags().iter().map(|t| t.key()).collect::<Vec<_>>(), ["old"]);
    assert_eq!(obs.tags, want.tags);
}

#[tokio::test]
async fn delete_of_a_missing_certificate_is_ok_and_one_in_use_names_its_users() {
    let gone = mock!(Client::delete_certificate).then_error(|| DeleteCertificateError::generic(error("ResourceNotFoundException")));
    kind(&[gone]).delete(ARN).await.unwrap();
    let ok = mock!(Client::delete_certificate).then_output(|| DeleteCertificateOutput::builder().build());
    kind(&[ok]).delete(ARN).await.unwrap();

    let in_use = mock!(Client::delete_certificate).then_error(|| DeleteCertificateError::generic(error("ResourceInUseException")));
    let lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
    let c = CertificateDetail::builder().certificate_arn(ARN).in_use_by(lb).build();
    let result = kind(&[in_use, describe_rule(c)]).delete(ARN).await;
    assert!(matches!(&result, Err(ProviderError::Conflict(m)) if m.contains(lb) && m.contains("in use")), "{result:?}");
}

#[tokio::test]
async fn find_owned_takes_the_newest_of_this_owners_certificates_for_the_name() {
    let asked: Arc<Mutex<Vec<ListCertificatesInput>>> = Arc::default();
    let sink = asked.clone();
    let summary = |arn: &str, domain: &str, secs: i64| {
        CertificateSummary::builder().certificate_arn(arn).domain_name(domain).created_at(aws_smithy_types::DateTime::from_secs(secs)).build()
    };
    let summaries = vec![summary(OLD_ARN, "example.com", 100), summary(ARN, "example.com", 200), summary("arn:other", "other.example.com", 300)];
    let list = mock!(Client::list_certificates).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        ListCertificatesOutput::builder().set_certificate_summary_list(Some(summaries.clone())).build()
    });
    let want = desired(json!({"domain_name": "example.com"}));
    let k = kind(&[list.clone(), tags_rule(owner().tags()), describe_rule(cert(ARN, "example.com", &[], CertificateStatus::Issued, true))]);
    let found = k.find_owned(&want).await.unwrap().unwrap();
    assert_eq!(found.id, ARN);
    assert_eq!(
        asked.lock().unwrap()[0].includes().map(|f| f.key_types().to_vec()),
        Some(vec![KeyAlgorithm::Rsa2048]),
        "EC certificates are listed only when asked for"
    );

    let theirs = kind(&[list, tags_rule(foreign_tags())]).find_owned(&want).await.unwrap();
    assert_eq!(theirs, None);
}

#[tokio::test(start_paused = true)]
async fn a_token_naming_a_deleted_certificate_moves_on_to_the_next() {
    let tokens: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = tokens.clone();
    let request = mock!(Client::request_certificate).then_compute_output(move |input| {
        let mut seen = sink.lock().unwrap();
        seen.push(input.idempotency_token().unwrap_or_default().to_string());
        // The first token is remembered for a certificate deleted since.
        RequestCertificateOutput::builder().certificate_arn(if seen.len() == 1 { OLD_ARN } else { ARN }).build()
    });
    let live = cert(ARN, "example.com", &[], CertificateStatus::PendingValidation, true);
    let describe = mock!(Client::describe_certificate)
        .match_requests(|i| i.certificate_arn() == Some(ARN))
        .then_output(move || DescribeCertificateOutput::builder().certificate(live.clone()).build());
    let dead = mock!(Client::describe_certificate)
        .match_requests(|i| i.certificate_arn() == Some(OLD_ARN))
        .then_error(|| aws_sdk_acm::operation::describe_certificate::DescribeCertificateError::generic(error("ResourceNotFoundException")));
    let want = desired(json!({"domain_name": "example.com"}));
    let obs = kind(&[request, describe, dead.clone()]).create(&want).await.unwrap();
    assert_eq!(obs.id, ARN);
    assert_eq!(dead.num_calls(), 3, "a certificate counts as deleted only after it stays not found");
    let tokens = tokens.lock().unwrap().clone();
    assert_eq!(tokens, [request_token(&want, 0), request_token(&want, 1)]);
}

#[tokio::test]
async fn a_repeated_request_sends_the_same_token() {
    // The SDK re-sends RequestCertificate with the same token: ACM answers with the same ARN.
    let arns: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = arns.clone();
    let request = mock!(Client::request_certificate).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.idempotency_token().unwrap_or_default().to_string());
        RequestCertificateOutput::builder().certificate_arn(ARN).build()
    });
    let k = kind(&[request, describe_rule(cert(ARN, "example.com", &[], CertificateStatus::PendingValidation, true))]);
    let want = desired(json!({"domain_name": "example.com"}));
    assert_eq!(k.create(&want).await.unwrap().id, ARN);
    assert_eq!(k.create(&want).await.unwrap().id, ARN);
    let tokens = arns.lock().unwrap().clone();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0], tokens[1], "a retried create sends the same token");
}
