//! Tests of `aws.logs.log_group` against aws-smithy-mocks: requests sent, shapes read, errors classified.

use std::sync::{Arc, Mutex};

use aws_sdk_cloudwatchlogs::operation::associate_kms_key::AssociateKmsKeyOutput;
use aws_sdk_cloudwatchlogs::operation::create_log_group::{CreateLogGroupError, CreateLogGroupInput, CreateLogGroupOutput};
use aws_sdk_cloudwatchlogs::operation::delete_log_group::DeleteLogGroupOutput;
use aws_sdk_cloudwatchlogs::operation::delete_retention_policy::DeleteRetentionPolicyOutput;
use aws_sdk_cloudwatchlogs::operation::describe_log_groups::{DescribeLogGroupsInput, DescribeLogGroupsOutput};
use aws_sdk_cloudwatchlogs::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_cloudwatchlogs::operation::put_retention_policy::{PutRetentionPolicyInput, PutRetentionPolicyOutput};
use aws_sdk_cloudwatchlogs::operation::tag_resource::{TagResourceInput, TagResourceOutput};
use aws_sdk_cloudwatchlogs::operation::untag_resource::{UntagResourceInput, UntagResourceOutput};
use aws_smithy_mocks::{mock, Rule};

use super::*;
use crate::adopt::testing::{desired, foreign_tags, owner};
use crate::kit::mock_cases::{adopts_ours_refuses_theirs, json_error};

const NAME: &str = "shop-dev-main";
const ARN: &str = "arn:aws:logs:us-east-1:123456789012:log-group:shop-dev-main";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn kind(rules: &[Rule]) -> LogsLogGroup {
    LogsLogGroup::from_client(crate::mocked_client!(aws_sdk_cloudwatchlogs, rules))
}

fn group(name: &str, retention: Option<i32>, key: Option<&str>) -> LogGroup {
    LogGroup::builder()
        .log_group_name(name)
        .arn(format!("arn:aws:logs:us-east-1:123456789012:log-group:{name}:*"))
        .log_group_arn(format!("arn:aws:logs:us-east-1:123456789012:log-group:{name}"))
        .set_retention_in_days(retention)
        .set_kms_key_id(key.map(str::to_string))
        .build()
}

fn describe(groups: Vec<LogGroup>) -> Rule {
    mock!(Client::describe_log_groups).then_output(move || DescribeLogGroupsOutput::builder().set_log_groups(Some(groups.clone())).build())
}

fn tags_rule(tags: Tags) -> Rule {
    mock!(Client::list_tags_for_resource).then_output(move || ListTagsForResourceOutput::builder().set_tags(Some(tags.clone().into_iter().collect())).build())
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    for props in [
        json!({"retention_in_days": 2}),
        json!({"retention_in_days": 4000}),
        json!({"retention_in_days": "30"}),
        json!({"kms_key_id": ""}),
        json!({"kms_key_id": 7}),
        json!({"log_group_class": "COLD"}),
        json!({"skip": true}),
    ] {
        let d = desired(props.clone());
        assert!(Spec::from(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts becomes a CreateLogGroup request, with a retention AWS offers.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
        let d = desired(Value::Object(props));
        let spec = Spec::from(&d);
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        proptest::prop_assert!(RETENTION_DAYS.contains(&spec.retention));
        proptest::prop_assert!(NAMING.rule.violation(&spec.name).is_none(), "{}", spec.name);
    }
}

#[test]
fn common_prefix_covers_every_name() {
    assert_eq!(common_prefix(&["/app/api".into(), "/app/web".into()]), "/app/");
    assert_eq!(common_prefix(&["a".into()]), "a");
    assert_eq!(common_prefix(&["x".into(), "y".into()]), "");
    assert_eq!(common_prefix(&[]), "");
}

#[tokio::test]
async fn create_sends_tags_kms_and_class_then_sets_retention() {
    let seen: Arc<Mutex<Vec<CreateLogGroupInput>>> = Arc::default();
    let sink = seen.clone();
    let create = mock!(Client::create_log_group).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateLogGroupOutput::builder().build()
    });
    let retained: Arc<Mutex<Vec<PutRetentionPolicyInput>>> = Arc::default();
    let rsink = retained.clone();
    let retention = mock!(Client::put_retention_policy).then_compute_output(move |input| {
        rsink.lock().unwrap().push(input.clone());
        PutRetentionPolicyOutput::builder().build()
    });
    let list = describe(vec![group(NAME, Some(30), Some(KEY))]);
    let tags = tags_rule(owner().tags());
    let want = desired(json!({"retention_in_days": 30, "kms_key_id": KEY}));
    let obs = kind(&[create, retention, list.clone(), tags.clone()]).create(&want).await.unwrap();

    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.log_group_name(), Some(NAME));
    assert_eq!(input.kms_key_id(), Some(KEY));
    assert_eq!(input.log_group_class(), Some(&LogGroupClass::Standard));
    assert_eq!(input.tags().unwrap().clone().into_iter().collect::<Tags>(), want.tags);
    assert_eq!(retained.lock().unwrap().pop().unwrap().retention_in_days(), Some(30));
    assert_eq!(obs.id, NAME);
    assert_eq!(obs.attrs["arn"], json!(ARN));
    assert_eq!(Value::Object(obs.props), json!({"name": NAME, "retention_in_days": 30, "kms_key_id": KEY, "log_group_class": "STANDARD"}));
    assert_eq!(obs.tags, want.tags);
    // The tags were sent, so they are not read back; the ARN needs the one describe.
    assert_eq!((list.num_calls(), tags.num_calls()), (1, 0));
}

#[tokio::test]
async fn create_without_retention_sets_no_policy() {
    let create = mock!(Client::create_log_group).then_output(|| CreateLogGroupOutput::builder().build());
    let retention = mock!(Client::put_retention_policy).then_output(|| PutRetentionPolicyOutput::builder().build());
    let obs = kind(&[create, retention.clone(), describe(vec![group(NAME, None, None)])]).create(&desired(json!({}))).await.unwrap();
    assert_eq!(retention.num_calls(), 0);
    assert_eq!(obs.props["retention_in_days"], json!(0));
}

#[tokio::test]
async fn already_exists_adopts_ours_and_refuses_theirs() {
    let exists = || {
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code("ResourceAlreadyExistsException").message("exists").build();
        mock!(Client::create_log_group).then_error(move || CreateLogGroupError::generic(meta.clone()))
    };
    let retention = mock!(Client::put_retention_policy).then_output(|| PutRetentionPolicyOutput::builder().build());
    let list = describe(vec![group(NAME, Some(7), None)]);
    let want = &desired(json!({"retention_in_days": 14}));
    let create_finding = |tags| {
        let k = kind(&[exists(), list.clone(), tags_rule(tags), retention.clone()]);
        async move { k.create(want).await }
    };
    let adopted = adopts_ours_refuses_theirs(create_finding, NAME, "log group shop-dev-main").await;
    assert_eq!((retention.num_calls(), &adopted.props["retention_in_days"]), (1, &json!(14)), "ours is brought to the stack; theirs is left alone");
}

#[tokio::test]
async fn read_many_is_one_describe_over_the_common_prefix() {
    let prefixes: Arc<Mutex<Vec<DescribeLogGroupsInput>>> = Arc::default();
    let sink = prefixes.clone();
    let groups = vec![group("/app/api", Some(7), None), group("/app/apiary", None, None), group("/app/web", None, Some(KEY))];
    let list = mock!(Client::describe_log_groups).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DescribeLogGroupsOutput::builder().set_log_groups(Some(groups.clone())).build()
    });
    let tags = tags_rule(owner().tags());
    let ids = ["/app/api".to_string(), "/app/web".to_string(), "/app/gone".to_string()];
    let out = kind(&[list.clone(), tags.clone()]).read_many(&ids).await.unwrap();
    assert_eq!(list.num_calls(), 1);
    assert_eq!(prefixes.lock().unwrap()[0].log_group_name_prefix(), Some("/app/"));
    assert_eq!(tags.num_calls(), 2, "only the groups asked for");
    assert_eq!(out["/app/api"].as_ref().unwrap().props["retention_in_days"], json!(7));
    assert_eq!(out["/app/web"].as_ref().unwrap().props["kms_key_id"], json!(KEY));
    assert_eq!(out["/app/gone"], None);
}

#[tokio::test]
async fn update_changes_retention_kms_and_tags() {
    let deleted = mock!(Client::delete_retention_policy).then_output(|| DeleteRetentionPolicyOutput::builder().build());
    let associated = mock!(Client::associate_kms_key).then_output(|| AssociateKmsKeyOutput::builder().build());
    let tagged: Arc<Mutex<Vec<TagResourceInput>>> = Arc::default();
    let tsink = tagged.clone();
    let tag = mock!(Client::tag_resource).then_compute_output(move |input| {
        tsink.lock().unwrap().push(input.clone());
        TagResourceOutput::builder().build()
    });
    let untagged: Arc<Mutex<Vec<UntagResourceInput>>> = Arc::default();
    let usink = untagged.clone();
    let untag = mock!(Client::untag_resource).then_compute_output(move |input| {
        usink.lock().unwrap().push(input.clone());
        UntagResourceOutput::builder().build()
    });
    let mut current = owner().tags();
    current.insert("old".into(), "x".into());
    let mut want = desired(json!({"kms_key_id": KEY}));
    want.tags.insert("team".into(), "core".into());
    let kind = kind(&[deleted.clone(), associated.clone(), tag, untag, describe(vec![group(NAME, Some(7), None)]), tags_rule(current)]);
    let changed = ["retention_in_days".to_string(), "kms_key_id".to_string(), "tags".to_string()];
    let obs = kind.update(NAME, &want, &changed).await.unwrap();
    assert_eq!((deleted.num_calls(), associated.num_calls()), (1, 1));
    let t = tagged.lock().unwrap().pop().unwrap();
    assert_eq!((t.resource_arn(), t.tags().unwrap().len()), (Some(ARN), 1));
    assert_eq!(untagged.lock().unwrap().pop().unwrap().tag_keys(), ["old".to_string()]);
    assert_eq!(obs.props["retention_in_days"], json!(0));
    assert_eq!(obs.props["kms_key_id"], json!(KEY));
    assert_eq!(obs.tags, want.tags);
}

#[tokio::test]
async fn delete_of_a_missing_group_is_ok() {
    let del = mock!(Client::delete_log_group).then_http_response(json_error("ResourceNotFoundException"));
    kind(&[del]).delete(NAME).await.unwrap();
    let del = mock!(Client::delete_log_group).then_output(|| DeleteLogGroupOutput::builder().build());
    kind(&[del]).delete(NAME).await.unwrap();
}

#[tokio::test]
async fn find_owned_matches_name_and_owner() {
    let list = describe(vec![group(NAME, None, None)]);
    assert_eq!(kind(&[list.clone(), tags_rule(owner().tags())]).find_owned(&desired(json!({}))).await.unwrap().unwrap().id, NAME);
    assert_eq!(kind(&[list, tags_rule(foreign_tags())]).find_owned(&desired(json!({}))).await.unwrap(), None);
    assert_eq!(kind(&[describe(vec![])]).find_owned(&desired(json!({}))).await.unwrap(), None);
}

#[tokio::test]
async fn a_group_deleted_between_describe_and_tags_reads_as_gone() {
    let tags = mock!(Client::list_tags_for_resource).then_http_response(json_error("ResourceNotFoundException"));
    assert_eq!(kind(&[describe(vec![group(NAME, None, None)]), tags]).read(NAME).await.unwrap(), None);
}
