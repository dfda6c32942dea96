//! Tests of `aws.cloudtrail.trail` against aws-smithy-mocks: requests sent, shapes read, errors classified.

use std::sync::{Arc, Mutex};

use aws_sdk_cloudtrail::operation::add_tags::{AddTagsInput, AddTagsOutput};
use aws_sdk_cloudtrail::operation::create_trail::{CreateTrailError, CreateTrailInput, CreateTrailOutput};
use aws_sdk_cloudtrail::operation::delete_trail::DeleteTrailOutput;
use aws_sdk_cloudtrail::operation::describe_trails::{DescribeTrailsInput, DescribeTrailsOutput};
use aws_sdk_cloudtrail::operation::get_trail_status::GetTrailStatusOutput;
use aws_sdk_cloudtrail::operation::list_tags::ListTagsOutput;
use aws_sdk_cloudtrail::operation::remove_tags::{RemoveTagsInput, RemoveTagsOutput};
use aws_sdk_cloudtrail::operation::start_logging::StartLoggingOutput;
use aws_sdk_cloudtrail::operation::stop_logging::StopLoggingOutput;
use aws_sdk_cloudtrail::operation::update_trail::{UpdateTrailInput, UpdateTrailOutput};
use aws_sdk_cloudtrail::types::ResourceTag;
use aws_smithy_mocks::{mock, Rule};

use super::*;
use crate::adopt::testing::{desired, foreign_tags, owner};
use crate::kit::mock_cases::json_error;

const NAME: &str = "shop-dev-main";
const ARN: &str = "arn:aws:cloudtrail:us-east-1:123456789012:trail/shop-dev-main";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn kind(rules: &[Rule]) -> CloudTrailTrail {
    CloudTrailTrail::from_client(crate::mocked_client!(aws_sdk_cloudtrail, rules))
}

fn trail(name: &str, key: Option<&str>) -> Trail {
    Trail::builder()
        .name(name)
        .trail_arn(format!("arn:aws:cloudtrail:us-east-1:123456789012:trail/{name}"))
        .home_region("us-east-1")
        .s3_bucket_name("shop-dev-audit")
        .include_global_service_events(true)
        .is_multi_region_trail(true)
        .log_file_validation_enabled(true)
        .is_organization_trail(false)
        .set_kms_key_id(key.map(str::to_string))
        .build()
}

fn describe(trails: Vec<Trail>) -> Rule {
    mock!(Client::describe_trails).then_output(move || DescribeTrailsOutput::builder().set_trail_list(Some(trails.clone())).build())
}

fn status(logging: bool) -> Rule {
    mock!(Client::get_trail_status).then_output(move || GetTrailStatusOutput::builder().is_logging(logging).build())
}

fn tags_rule(tags: Tags) -> Rule {
    mock!(Client::list_tags).then_compute_output(move |input| {
        let list = input.resource_id_list().iter().map(|arn| ResourceTag::builder().resource_id(arn).set_tags_list(Some(tag_list(&tags))).build()).collect();
        ListTagsOutput::builder().set_resource_tag_list(Some(list)).build()
    })
}

fn audit() -> Value {
    json!({"s3_bucket_name": "shop-dev-audit", "is_multi_region_trail": true, "enable_log_file_validation": true})
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    for props in [
        json!({}),
        json!({"s3_bucket_name": "ab"}),
        json!({"s3_bucket_name": "shop-dev-audit", "s3_key_prefix": ""}),
        json!({"s3_bucket_name": "shop-dev-audit", "s3_key_prefix": "x".repeat(201)}),
        json!({"s3_bucket_name": "shop-dev-audit", "is_organization_trail": true}),
        json!({"s3_bucket_name": "shop-dev-audit", "is_multi_region_trail": true, "include_global_service_events": false}),
        json!({"s3_bucket_name": "shop-dev-audit", "cloud_watch_logs_group_arn": "arn:aws:logs:us-east-1:1:log-group:g:*"}),
        json!({"s3_bucket_name": "shop-dev-audit", "enable_logging": "yes"}),
        json!({"s3_bucket_name": "shop-dev-audit", "kms_key_id": ""}),
        json!({"s3_bucket_name": "shop-dev-audit", "name": "-trail"}),
        json!({"s3_bucket_name": "shop-dev-audit", "name": "my--trail"}),
        json!({"s3_bucket_name": "shop-dev-audit", "name": "ab"}),
        json!({"s3_bucket_name": "shop-dev-audit", "name": "a/b/c"}),
        json!({"s3_bucket_name": "shop-dev-audit", "name": "10.0.0.1"}),
        json!({"s3_bucket_name": "shop-dev-audit", "event_selector": []}),
    ] {
        let d = desired(props.clone());
        assert!(Spec::from(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

proptest::proptest! {
    // The cross-field rules (organization trails, multi-region, CloudWatch pairs) reject
    // about four draws in five.
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, max_global_rejects: 20_000, ..Default::default() })]
    /// Every props value the schema accepts becomes a CreateTrail request with a valid name.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
        let d = desired(Value::Object(props));
        let spec = Spec::from(&d);
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        proptest::prop_assert!(NAMING.rule.violation(&spec.name).is_none() && name_rule(&json!(spec.name)).is_empty(), "{}", spec.name);
        proptest::prop_assert!(!spec.multi_region || spec.global_events);
        proptest::prop_assert_eq!(spec.log_group.is_some(), spec.log_role.is_some());
    }
}

#[test]
fn names_follow_cloudtrail() {
    assert!(name_rule(&json!("platform-prod.audit_1")).is_empty());
    assert_eq!(name_rule(&json!("trail-")).len(), 1);
    assert_eq!(name_rule(&json!("_a__b")).len(), 2);
    assert_eq!(name_rule(&json!("192.168.5.4")).len(), 1);
}

#[tokio::test]
async fn create_sends_settings_and_tags_then_starts_logging() {
    let seen: Arc<Mutex<Vec<CreateTrailInput>>> = Arc::default();
    let sink = seen.clone();
    let create = mock!(Client::create_trail).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateTrailOutput::builder().name(NAME).trail_arn(ARN).build()
    });
    let start = mock!(Client::start_logging).then_output(|| StartLoggingOutput::builder().build());
    let list = describe(vec![]);
    let mut props = audit();
    props["kms_key_id"] = json!(KEY);
    props["s3_key_prefix"] = json!("trail");
    let want = desired(props);
    let obs = kind(&[create, start.clone(), list.clone()]).create(&want).await.unwrap();

    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!((input.name(), input.s3_bucket_name(), input.s3_key_prefix()), (Some(NAME), Some("shop-dev-audit"), Some("trail")));
    assert_eq!(
        (input.is_multi_region_trail(), input.include_global_service_events(), input.enable_log_file_validation()),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!((input.kms_key_id(), input.is_organization_trail()), (Some(KEY), Some(false)));
    let sent: Tags = input.tags_list().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect();
    assert_eq!(sent, want.tags);
    assert_eq!(start.num_calls(), 1);
    assert_eq!(list.num_calls(), 0, "no read after the create");
    assert_eq!((obs.id.as_str(), &obs.attrs["arn"], &obs.attrs["home_region"]), (NAME, &json!(ARN), &json!("us-east-1")));
    assert_eq!(obs.props["enable_logging"], json!(true));
    assert_eq!(obs.props["kms_key_id"], json!(KEY));
    assert_eq!(obs.tags, want.tags);
}

#[tokio::test]
async fn a_trail_that_should_not_log_is_not_started() {
    let create = mock!(Client::create_trail).then_output(|| CreateTrailOutput::builder().name(NAME).trail_arn(ARN).build());
    let start = mock!(Client::start_logging).then_output(|| StartLoggingOutput::builder().build());
    let mut props = audit();
    props["enable_logging"] = json!(false);
    let obs = kind(&[create, start.clone()]).create(&desired(props)).await.unwrap();
    assert_eq!(start.num_calls(), 0);
    assert_eq!(obs.props["enable_logging"], json!(false));
}

#[tokio::test]
async fn already_exists_adopts_ours_and_refuses_theirs() {
    let exists = || {
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code("TrailAlreadyExistsException").message("exists").build();
        mock!(Client::create_trail).then_error(move || CreateTrailError::generic(meta.clone()))
    };
    let start = mock!(Client::start_logging).then_output(|| StartLoggingOutput::builder().build());
    // Ours, left by a create whose answer was lost before StartLogging: adopted and started.
    let adopted =
        kind(&[exists(), describe(vec![trail(NAME, None)]), status(false), tags_rule(owner().tags()), start.clone()]).create(&desired(audit())).await.unwrap();
    assert_eq!((adopted.id.as_str(), start.num_calls()), (NAME, 1));
    assert_eq!(adopted.props["enable_logging"], json!(true));

    let theirs = kind(&[exists(), describe(vec![trail(NAME, None)]), status(true), tags_rule(foreign_tags())]).create(&desired(audit())).await;
    crate::adopt::testing::assert_refused(theirs, "trail shop-dev-main");

    // Exists, yet not in this region's list (another region's multi-region trail): a conflict.
    let elsewhere = kind(&[exists(), describe(vec![])]).create(&desired(audit())).await;
    assert!(matches!(elsewhere, Err(ProviderError::Conflict(_))), "{elsewhere:?}");
}

#[tokio::test]
async fn bucket_policy_refusals_are_retried() {
    let create = mock!(Client::create_trail).then_http_response(json_error("InsufficientS3BucketPolicyException"));
    let err = kind(&[create]).create(&desired(audit())).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Retryable(m) if m.contains("cloudtrail.amazonaws.com")), "{err:?}");
}

#[tokio::test]
async fn read_many_is_one_describe_and_one_list_tags() {
    let asked: Arc<Mutex<Vec<DescribeTrailsInput>>> = Arc::default();
    let sink = asked.clone();
    let trails = vec![trail("a-trail", None), trail("b-trail", Some(KEY)), trail("someone-elses", None)];
    let list = mock!(Client::describe_trails).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DescribeTrailsOutput::builder().set_trail_list(Some(trails.clone())).build()
    });
    let tags = tags_rule(owner().tags());
    let st = status(true);
    let ids = ["a-trail".to_string(), "b-trail".to_string(), "gone-trail".to_string()];
    let out = kind(&[list.clone(), tags.clone(), st.clone()]).read_many(&ids).await.unwrap();
    assert_eq!((list.num_calls(), tags.num_calls(), st.num_calls()), (1, 1, 2));
    let input = asked.lock().unwrap().pop().unwrap();
    assert_eq!((input.trail_name_list(), input.include_shadow_trails()), (&ids[..], Some(false)));
    let b = out["b-trail"].as_ref().unwrap();
    assert_eq!((&b.props["kms_key_id"], &b.props["is_multi_region_trail"], &b.props["enable_logging"]), (&json!(KEY), &json!(true), &json!(true)));
    assert_eq!(b.tags, owner().tags());
    assert!(out["a-trail"].as_ref().unwrap().props.get("kms_key_id").is_none());
    assert_eq!(out["gone-trail"], None);
    assert_eq!(out.len(), 3);
}

#[tokio::test]
async fn a_trail_deleted_during_the_read_reads_as_gone() {
    let st = mock!(Client::get_trail_status).then_http_response(json_error("TrailNotFoundException"));
    assert_eq!(kind(&[describe(vec![trail(NAME, None)]), tags_rule(owner().tags()), st]).read(NAME).await.unwrap(), None);
}

#[tokio::test]
async fn update_sends_changed_settings_logging_and_tags() {
    let updated: Arc<Mutex<Vec<UpdateTrailInput>>> = Arc::default();
    let usink = updated.clone();
    let update = mock!(Client::update_trail).then_compute_output(move |input| {
        usink.lock().unwrap().push(input.clone());
        UpdateTrailOutput::builder().build()
    });
    let stop = mock!(Client::stop_logging).then_output(|| StopLoggingOutput::builder().build());
    let added: Arc<Mutex<Vec<AddTagsInput>>> = Arc::default();
    let asink = added.clone();
    let add = mock!(Client::add_tags).then_compute_output(move |input| {
        asink.lock().unwrap().push(input.clone());
        AddTagsOutput::builder().build()
    });
    let removed: Arc<Mutex<Vec<RemoveTagsInput>>> = Arc::default();
    let rsink = removed.clone();
    let remove = mock!(Client::remove_tags).then_compute_output(move |input| {
        rsink.lock().unwrap().push(input.clone());
        RemoveTagsOutput::builder().build()
    });
    let mut current = owner().tags();
    current.insert("old".into(), "x".into());
    let mut props = audit();
    props["enable_logging"] = json!(false);
    props["is_multi_region_trail"] = json!(false);
    let mut want = desired(props);
    want.tags.insert("team".into(), "core".into());
    let kind = kind(&[update, stop.clone(), add, remove, describe(vec![trail(NAME, Some(KEY))]), status(true), tags_rule(current)]);
    let changed = ["kms_key_id".to_string(), "is_multi_region_trail".to_string(), "enable_logging".to_string(), "tags".to_string()];
    let obs = kind.update(NAME, &want, &changed).await.unwrap();

    let u = updated.lock().unwrap().pop().unwrap();
    // An unset key is cleared with an empty id; what did not change is not sent.
    assert_eq!((u.name(), u.kms_key_id(), u.is_multi_region_trail()), (Some(NAME), Some(""), Some(false)));
    assert_eq!((u.s3_bucket_name(), u.enable_log_file_validation()), (None, None));
    assert_eq!(stop.num_calls(), 1);
    let a = added.lock().unwrap().pop().unwrap();
    assert_eq!((a.resource_id(), a.tags_list().len()), (Some(ARN), 1));
    assert_eq!(removed.lock().unwrap().pop().unwrap().tags_list()[0].key(), "old");
    assert_eq!(obs.props["enable_logging"], json!(false));
    assert!(obs.props.get("kms_key_id").is_none());
    assert_eq!(obs.tags, want.tags);
}

#[tokio::test]
async fn only_logging_changed_sends_no_update_trail() {
    let update = mock!(Client::update_trail).then_output(|| UpdateTrailOutput::builder().build());
    let start = mock!(Client::start_logging).then_output(|| StartLoggingOutput::builder().build());
    let kind = kind(&[update.clone(), start.clone(), describe(vec![trail(NAME, None)]), status(false), tags_rule(owner().tags())]);
    kind.update(NAME, &desired(audit()), &["enable_logging".to_string()]).await.unwrap();
    assert_eq!((update.num_calls(), start.num_calls()), (0, 1));
}

#[tokio::test]
async fn delete_of_a_missing_trail_is_ok() {
    let del = mock!(Client::delete_trail).then_http_response(json_error("TrailNotFoundException"));
    kind(&[del]).delete(NAME).await.unwrap();
    let del = mock!(Client::delete_trail).then_output(|| DeleteTrailOutput::builder().build());
    kind(&[del]).delete(NAME).await.unwrap();
}

#[tokio::test]
async fn find_owned_matches_name_and_owner() {
    let found = kind(&[describe(vec![trail(NAME, None)]), status(true), tags_rule(owner().tags())]).find_owned(&desired(audit())).await.unwrap();
    assert_eq!(found.unwrap().id, NAME);
    let theirs = kind(&[describe(vec![trail(NAME, None)]), status(true), tags_rule(foreign_tags())]).find_owned(&desired(audit())).await.unwrap();
    assert_eq!(theirs, None);
    assert_eq!(kind(&[describe(vec![])]).find_owned(&desired(audit())).await.unwrap(), None);
}
