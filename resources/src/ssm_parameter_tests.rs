//! Unit tests of `aws.ssm.parameter` against aws-smithy-mocks: PutParameter's shape, SecureString values kept out of reads and errors, deletes.

use std::sync::{Arc, Mutex};

use aws_sdk_ssm::operation::delete_parameter::{DeleteParameterError, DeleteParameterOutput};
use aws_sdk_ssm::operation::describe_parameters::DescribeParametersOutput;
use aws_sdk_ssm::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_ssm::operation::put_parameter::{PutParameterInput, PutParameterOutput};
use aws_smithy_mocks::{mock, Rule};

use super::*;
use crate::adopt::testing::desired;

fn kind(rules: &[Rule]) -> SsmParameter {
    SsmParameter::from_client(crate::mocked_client!(aws_sdk_ssm, rules))
}

fn metadata_rule(ty: ParameterType) -> Rule {
    mock!(Client::describe_parameters).then_output(move || {
        DescribeParametersOutput::builder()
            .parameters(ParameterMetadata::builder().name("/shop/api-key").arn("arn:aws:ssm:us-east-1:1:parameter/shop/api-key").r#type(ty.clone()).build())
            .build()
    })
}

fn tags_rule(tags: Tags) -> Rule {
    mock!(Client::list_tags_for_resource).then_output(move || ListTagsForResourceOutput::builder().set_tag_list(Some(ssm_tags(&tags).unwrap())).build())
}

#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    for props in [
        json!({"type": "SecureString", "value": "in-the-file"}),
        json!({}),
        json!({"value": "a", "key_id": "alias/k"}),
        json!({"value": "x".repeat(4097)}),
        json!({"value": "a", "tier": "Premium"}),
        json!({"value": "a", "data_type": "json"}),
    ] {
        let d = desired(props.clone());
        assert!(value_of(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

#[test]
fn a_secure_string_literal_is_refused_without_echoing_it() {
    let msgs = value_rules(&desired(json!({"type": "SecureString", "value": "hunter2-literal"})).props);
    assert!(msgs.iter().any(|m| m.contains("value_from")), "{msgs:?}");
    assert!(msgs.iter().all(|m| !m.contains("hunter2-literal")), "{msgs:?}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100))]
    /// Every plain-valued props set the schema accepts builds a PutParameter value.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
        let mut props = props;
        props.remove(SOURCE_PROP);
        props.remove(HMAC_PROP);
        proptest::prop_assume!(crate::schema_check::rules_pass(&SCHEMA, &props));
        let d = desired(Value::Object(props));
        proptest::prop_assert!(value_of(&d).is_ok(), "{:?}", value_of(&d).err());
    }
}

#[tokio::test]
async fn a_secure_string_is_put_from_its_source_and_never_read_back() {
    std::env::set_var("CAIRN_UNIT_SSM_A", "ssm-secret-value");
    let mut want = desired(json!({"name": "/shop/api-key", "type": "SecureString", "value_from": {"env": "CAIRN_UNIT_SSM_A"}}));
    let v = sensitive::Source::Env("CAIRN_UNIT_SSM_A".into()).read().unwrap();
    want.props.insert(HMAC_PROP.into(), json!(sensitive::hmac(&want.owner, &v)));
    let seen: Arc<Mutex<Vec<PutParameterInput>>> = Arc::default();
    let sink = seen.clone();
    let put = mock!(Client::put_parameter).then_compute_output(move |i| {
        sink.lock().unwrap().push(i.clone());
        PutParameterOutput::builder().build()
    });
    // No GetParameter rule: a read that asked for the value would fail the test.
    let obs = kind(&[put, metadata_rule(ParameterType::SecureString), tags_rule(full_tags(&want))]).create(&want).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.value(), Some("ssm-secret-value"));
    assert_eq!(input.r#type(), Some(&ParameterType::SecureString));
    assert_eq!(input.overwrite(), None);
    assert_eq!(obs.props[HMAC_PROP], want.props[HMAC_PROP]);
    assert!(!obs.props.contains_key("value"));
    assert!(!format!("{obs:?}").contains("ssm-secret-value"));
}

#[tokio::test]
async fn delete_of_a_missing_parameter_is_ok() {
    let del = mock!(Client::delete_parameter)
        .then_error(|| DeleteParameterError::generic(aws_smithy_types::error::ErrorMetadata::builder().code("ParameterNotFound").message("gone").build()));
    kind(&[del]).delete("/shop/api-key").await.unwrap();
    let del = mock!(Client::delete_parameter).then_output(|| DeleteParameterOutput::builder().build());
    kind(&[del]).delete("/shop/api-key").await.unwrap();
}
