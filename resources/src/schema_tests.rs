//! Validate-time diagnostics for the kinds' typed schemas: the examples of stack files that used to fail only halfway through an apply.

use cairn_engine::compile::{compile_source, CompileOptions};
use cairn_engine::source::SourceFile;

/// Compiles `resources:` entries with the real kinds and renders every error.
fn validate(resources: &str) -> String {
    let text = format!("stack: shop\nresources:\n{resources}");
    let file = SourceFile::new("stack.yaml", text);
    match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas) {
        Ok(_) => "ok".into(),
        Err(d) => d.render(&file),
    }
}

#[test]
fn bucket_encryption_missing_bucket_key() {
    insta::assert_snapshot!(validate("  logs:\n    type: aws.s3.bucket\n    props:\n      sse:\n        algorithm: aws:kms\n        kms_key: \"${key.arn}\"\n  key:\n    type: aws.kms.key\n"));
}

#[test]
fn misspelt_nested_key() {
    insta::assert_snapshot!(validate("  logs:\n    type: aws.s3.bucket\n    props:\n      sse: { algorithm: AES256, bucket_kye: true }\n"));
}

#[test]
fn queue_visibility_out_of_range() {
    insta::assert_snapshot!(validate("  orders:\n    type: aws.sqs.queue\n    props:\n      visibility_timeout_seconds: 999999\n"));
}

#[test]
fn unknown_key_spec() {
    insta::assert_snapshot!(validate("  signing:\n    type: aws.kms.key\n    props:\n      key_usage: SIGN_VERIFY\n      key_spec: RSA_9999\n"));
}

#[test]
fn default_names_that_collide() {
    insta::assert_snapshot!(validate("  orders_dlq:\n    type: aws.sqs.queue\n  orders-dlq:\n    type: aws.sqs.queue\n"));
}

#[test]
fn component_part_errors_point_at_the_component_prop() {
    insta::assert_snapshot!(validate("  jobs:\n    type: cairn.queue\n    props:\n      visibility_timeout_seconds: 999999\n      max_receive_count: 0\n"));
}

#[test]
fn queue_names_over_the_limit_or_with_a_fifo_suffix() {
    insta::assert_snapshot!(validate(&format!(
        "  a:\n    type: aws.sqs.queue\n    props: {{ name: \"{}\", fifo_queue: true }}\n  b:\n    type: aws.sqs.queue\n    props: {{ name: orders.fifo }}\n  c:\n    type: aws.s3.bucket\n    props: {{ bucket: Logs_Bucket }}\n",
        "q".repeat(78)
    )));
}

#[test]
fn valid_typed_props_pass() {
    assert_eq!(
        validate(
            "  logs:\n    type: aws.s3.bucket\n    props:\n      sse: { algorithm: AES256, bucket_key: false }\n      lifecycle_rules:\n        - { id: old, enabled: true, transitions: [{ days: 30, storage_class: STANDARD_IA }, { days: 90, storage_class: GLACIER }], expiration_days: 365 }\n  orders:\n    type: aws.sqs.queue\n    props: { fifo_queue: true, visibility_timeout_seconds: 43200, redrive: { dead_letter_queue: \"${dlq.arn}\", max_receive_count: 5 } }\n  dlq:\n    type: aws.sqs.queue\n    props: { fifo_queue: true }\n"
        ),
        "ok"
    );
}
