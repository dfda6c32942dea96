//! Unit tests of `aws.secretsmanager.secret` against aws-smithy-mocks: requests built, the value kept out of errors, deletes and adoption.

use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::operation::create_secret::{CreateSecretError, CreateSecretInput, CreateSecretOutput};
use aws_sdk_secretsmanager::operation::delete_secret::{DeleteSecretInput, DeleteSecretOutput};
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::operation::get_resource_policy::GetResourcePolicyOutput;
use aws_sdk_secretsmanager::operation::put_secret_value::{PutSecretValueInput, PutSecretValueOutput};
use aws_sdk_secretsmanager::operation::tag_resource::TagResourceOutput;
use aws_smithy_mocks::{mock, Rule};

use super::*;
use crate::adopt::testing::{desired, owner};

const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-password-AbCdEf";

fn kind(rules: &[Rule]) -> SecretsManagerSecret {
    SecretsManagerSecret::from_client(crate::mocked_client!(aws_sdk_secretsmanager, rules))
}

/// Props whose `value_from` names `var` holding `value`, with the hash the compiler would add.
fn with_value(var: &str, value: &str) -> Value {
    std::env::set_var(var, value);
    let props = json!({"name": "db-password", "value_from": {"env": var}});
    let mut d = desired(props);
    let v = sensitive::Source::Env(var.into()).read().unwrap();
    d.props.insert(HMAC_PROP.into(), json!(sensitive::hmac(&d.owner, &v)));
    Value::Object(d.props)
}

fn describe_rule(tags: Tags, deleted: bool) -> Rule {
    mock!(Client::describe_secret).then_output(move || {
        let b = DescribeSecretOutput::builder().arn(ARN).name("db-password").set_tags(Some(sm_tags(&tags)));
        if deleted {
            b.deleted_date(aws_smithy_types::DateTime::from_secs(1)).build()
        } else {
            b.build()
        }
    })
}

fn meta(code: &str, message: &str) -> aws_smithy_types::error::ErrorMetadata {
    aws_smithy_types::error::ErrorMetadata::builder().code(code).message(message).build()
}

fn policy_rule() -> Rule {
    mock!(Client::get_resource_policy).then_output(|| GetResourcePolicyOutput::builder().build())
}

#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    for props in [
        json!({"recovery_window_in_days": 3}),
        json!({"recovery_window_in_days": 31}),
        json!({"value_from": {"env": "A", "file": "b"}}),
        json!({"value_from": {}}),
        json!({"rotation": {"rotation_lambda_arn": "arn:aws:lambda:us-east-1:1:function:r", "rotation_rules": {}}}),
        json!({"description": 5}),
        json!({"secret_string": "x"}),
    ] {
        let d = desired(props.clone());
        assert!(value_of(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100))]
    /// Every props value the schema accepts (without `value_from`, which needs a real source) builds a request.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
        let mut props = props;
        props.remove(SOURCE_PROP);
        proptest::prop_assume!(crate::schema_check::rules_pass(&SCHEMA, &props));
        let d = desired(Value::Object(props));
        proptest::prop_assert!(value_of(&d).is_ok(), "{:?}", value_of(&d).err());
        let t = request_token(&d);
        proptest::prop_assert!((32..=64).contains(&t.len()), "{t}");
    }
}

#[tokio::test]
async fn create_sends_the_value_and_keeps_only_its_hash_in_tags() {
    let props = with_value("CAIRN_UNIT_SECRET_A", "correct-horse-battery");
    let seen: Arc<Mutex<Vec<CreateSecretInput>>> = Arc::default();
    let sink = seen.clone();
    let create = mock!(Client::create_secret).then_compute_output(move |i| {
        sink.lock().unwrap().push(i.clone());
        CreateSecretOutput::builder().arn(ARN).name("db-password").build()
    });
    let want = desired(props);
    let mut tags = full_tags(&want);
    tags.insert(WINDOW_TAG.into(), "30".into());
    let obs = kind(&[create, describe_rule(tags, false), policy_rule()]).create(&want).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.secret_string(), Some("correct-horse-battery"));
    assert_eq!(input.client_request_token().map(str::len), Some(request_token(&want).len()));
    let sent: Tags = input.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect();
    assert_eq!(sent.get(HMAC_TAG).map(String::as_str), want.str(HMAC_PROP));
    assert_eq!(obs.props[HMAC_PROP], want.props[HMAC_PROP]);
    assert!(!obs.tags.contains_key(HMAC_TAG), "internal tags are not the stack's");
    assert!(!format!("{obs:?}").contains("correct-horse-battery"));
}

#[tokio::test]
async fn a_value_changed_since_the_plan_is_refused_without_showing_it() {
    let props = with_value("CAIRN_UNIT_SECRET_B", "first-value");
    std::env::set_var("CAIRN_UNIT_SECRET_B", "second-value");
    let err = kind(&[]).create(&desired(props)).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("plan again") && text.contains("CAIRN_UNIT_SECRET_B"), "{text}");
    assert!(!text.contains("first-value") && !text.contains("second-value"), "{text}");
}

#[tokio::test]
async fn update_of_the_hash_puts_the_value_then_the_tag() {
    let props = with_value("CAIRN_UNIT_SECRET_C", "rotated-by-hand");
    let seen: Arc<Mutex<Vec<PutSecretValueInput>>> = Arc::default();
    let sink = seen.clone();
    let put = mock!(Client::put_secret_value).then_compute_output(move |i| {
        sink.lock().unwrap().push(i.clone());
        PutSecretValueOutput::builder().build()
    });
    let tag = mock!(Client::tag_resource).then_output(|| TagResourceOutput::builder().build());
    let want = desired(props);
    kind(&[put, tag, describe_rule(owner().tags(), false), policy_rule()]).update(ARN, &want, &[HMAC_PROP.into()]).await.unwrap();
    assert_eq!(seen.lock().unwrap()[0].secret_string(), Some("rotated-by-hand"));
}

#[tokio::test]
async fn delete_uses_the_recorded_window_and_gone_is_success() {
    let seen: Arc<Mutex<Vec<DeleteSecretInput>>> = Arc::default();
    let sink = seen.clone();
    let del = mock!(Client::delete_secret).then_compute_output(move |i| {
        sink.lock().unwrap().push(i.clone());
        DeleteSecretOutput::builder().build()
    });
    let mut tags = owner().tags();
    tags.insert(WINDOW_TAG.into(), "0".into());
    kind(&[del, describe_rule(tags, false)]).delete(ARN).await.unwrap();
    assert_eq!(seen.lock().unwrap()[0].force_delete_without_recovery(), Some(true));
    // Already scheduled for deletion: nothing to do.
    kind(&[describe_rule(owner().tags(), true)]).delete(ARN).await.unwrap();
    let missing = mock!(Client::describe_secret)
        .then_error(|| aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError::generic(meta("ResourceNotFoundException", "gone")));
    kind(&[missing]).delete(ARN).await.unwrap();
}

#[tokio::test]
async fn a_name_held_by_someone_elses_secret_is_refused() {
    let create = mock!(Client::create_secret).then_error(|| CreateSecretError::generic(meta("ResourceExistsException", "exists")));
    let result = kind(&[create, describe_rule(Tags::new(), false), policy_rule()]).create(&desired(json!({"name": "db-password"}))).await;
    crate::adopt::testing::assert_refused(result, "secret db-password");
}

#[tokio::test]
async fn a_name_scheduled_for_deletion_by_someone_else_says_what_to_do() {
    let create = mock!(Client::create_secret).then_error(|| {
        CreateSecretError::generic(meta(
            "InvalidRequestException",
            "You can't create this secret because a secret with this name is already scheduled for deletion.",
        ))
    });
    let err = kind(&[create, describe_rule(Tags::new(), true)]).create(&desired(json!({"name": "db-password"}))).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Conflict(m) if m.contains("restore-secret")), "{err}");
}
