//! Unit tests of a bucket's access logging and replication: what validate refuses, the requests sent, the order of updates, and reads.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::operation::delete_bucket_replication::{DeleteBucketReplicationError, DeleteBucketReplicationOutput};
use aws_sdk_s3::operation::put_bucket_logging::PutBucketLoggingOutput;
use aws_sdk_s3::operation::put_bucket_replication::PutBucketReplicationOutput;
use aws_sdk_s3::operation::put_bucket_versioning::PutBucketVersioningOutput;
use aws_sdk_s3::types::{ReplicationRule, ReplicationRuleStatus};
use aws_smithy_mocks::{mock, Rule};
use cairn_engine::expr::{unknown, Expr, Seg};
use serde_json::{json, Value};

use super::replication::Replication;
use super::tests::{desired, error, full_props, head_ok, kind, read_rules};
use super::*;

const ROLE: &str = "arn:aws:iam::111122223333:role/replication";

fn refusals(props: Value) -> Vec<String> {
    cairn_engine::typecheck::check_props(&SCHEMA, props.as_object().unwrap(), true).into_iter().map(|v| v.message).collect()
}

fn rule(id: &str, priority: Option<i64>, filter: bool) -> Value {
    let mut r = json!({ "id": id, "status": "Enabled", "destination": { "bucket": "arn:aws:s3:::replica" } });
    if filter {
        r["filter"] = json!({});
        r["delete_marker_replication"] = json!({ "status": "Disabled" });
    }
    if let Some(p) = priority {
        r["priority"] = p.into();
    }
    r
}

fn with_rules(rules: Vec<Value>) -> Value {
    json!({ "versioning": true, "replication_configuration": { "role": ROLE, "rules": rules } })
}

#[test]
fn the_schema_refuses_what_aws_refuses_in_replication_and_logging() {
    let cases = [
        (json!({ "replication_configuration": { "role": ROLE, "rules": [rule("a", None, false)] } }), "needs versioning: true"),
        (with_rules(vec![rule("a", None, false), rule("a", None, false)]), "rule id \"a\" is used twice"),
        (with_rules(vec![rule("a", Some(1), true), rule("b", Some(1), true)]), "priority 1 is used twice"),
        (with_rules(vec![rule("a", Some(1), true), rule("b", None, false)]), "either every rule has a filter"),
        (with_rules(vec![rule("a", None, true)]), "has a filter, so it needs priority"),
        (with_rules(vec![rule("a", Some(1), false)]), "priority needs a filter"),
        (with_rules(vec![]), "must hold 1 to 1000 rules"),
        (with_rules(vec![rule(&"x".repeat(256), None, false)]), "1 to 255 characters"),
        (with_rules((0..1001).map(|i| rule(&format!("r{i}"), None, false)).collect()), "must hold 1 to 1000 rules, found 1001"),
        (
            json!({ "versioning": true, "replication_configuration": { "role": "replication-role-name-here", "rules": [rule("a", None, false)] } }),
            "IAM role ARN",
        ),
        (with_rules(vec![json!({ "id": "a", "status": "Enabled", "destination": { "bucket": "replica" } })]), "must be a bucket ARN"),
        (with_rules(vec![json!({ "id": "a", "status": "On", "destination": { "bucket": "arn:aws:s3:::r" } })]), "must be one of"),
        (json!({ "logging": { "target_bucket": "Logs" } }), "lowercase"),
        (json!({ "logging": { "target_prefix": "x/" } }), "is required"),
        (json!({ "logging": { "target_bucket": "logs", "prefix": "x/" } }), "is not a known field"),
    ];
    for (props, want) in cases {
        let found = refusals(props.clone());
        assert!(found.iter().any(|m| m.contains(want)), "{props}: wanted {want:?}, got {found:?}");
        assert!(Spec::from(&desired(props.clone())).is_err(), "the builder accepts {props}");
    }
    for ok in [with_rules(vec![rule("a", Some(1), true), rule("b", Some(2), true)]), with_rules(vec![rule("a", None, false)])] {
        assert_eq!(refusals(ok.clone()), Vec::<String>::new(), "{ok}");
    }
}

/// A destination known only at apply (`${replica.arn}`) still leaves ids and priorities checked at validate.
#[test]
fn rules_are_checked_when_a_destination_is_known_only_at_apply() {
    let later = unknown(&Expr::Ref(vec![Seg::Name("replica".into()), Seg::Name("arn".into())]));
    let mut a = rule("a", Some(1), true);
    a["destination"]["bucket"] = later;
    let found = refusals(with_rules(vec![a.clone(), rule("a", Some(1), true)]));
    assert!(found.iter().any(|m| m.contains("rule id \"a\" is used twice")), "{found:?}");
    assert!(found.iter().any(|m| m.contains("priority 1 is used twice")), "{found:?}");
    assert_eq!(refusals(with_rules(vec![a, rule("b", Some(2), true)])), Vec::<String>::new());
}

#[tokio::test]
async fn removing_logging_turns_it_off() {
    let off = mock!(Client::put_bucket_logging)
        .match_requests(|r| r.bucket_logging_status().is_some_and(|s| s.logging_enabled().is_none()))
        .then_output(|| PutBucketLoggingOutput::builder().build());
    let mut rules = vec![off, head_ok()];
    rules.extend(read_rules(Tags::new()));
    let mut props = full_props();
    props.as_object_mut().unwrap().remove("logging");
    kind(&rules.iter().collect::<Vec<_>>()).update(super::tests::BUCKET, &desired(props), &["logging".to_string()]).await.unwrap();
    assert_eq!(rules[0].num_calls(), 1);
}

/// S3 refuses to suspend versioning while replication is configured, so the configuration goes first.
#[tokio::test]
async fn removing_replication_deletes_it_before_versioning_is_suspended() {
    let calls = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let (c1, c2) = (calls.clone(), calls.clone());
    let delete = mock!(Client::delete_bucket_replication).then_compute_output(move |_| {
        c1.lock().unwrap().push("DeleteBucketReplication");
        DeleteBucketReplicationOutput::builder().build()
    });
    let versioning = mock!(Client::put_bucket_versioning).then_compute_output(move |_| {
        c2.lock().unwrap().push("PutBucketVersioning");
        PutBucketVersioningOutput::builder().build()
    });
    let mut rules = vec![delete, versioning, head_ok()];
    rules.extend(read_rules(Tags::new()));
    let mut props = full_props();
    props.as_object_mut().unwrap().remove("replication_configuration");
    props["versioning"] = json!(false);
    let changed = ["versioning".to_string(), "replication_configuration".to_string()];
    kind(&rules.iter().collect::<Vec<_>>()).update(super::tests::BUCKET, &desired(props), &changed).await.unwrap();
    assert_eq!(*calls.lock().unwrap(), ["DeleteBucketReplication", "PutBucketVersioning"]);
}

/// And the other way round: versioning is turned on before the configuration is put.
#[tokio::test]
async fn adding_replication_follows_versioning() {
    let calls = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let (c1, c2) = (calls.clone(), calls.clone());
    let put = mock!(Client::put_bucket_replication).then_compute_output(move |_| {
        c1.lock().unwrap().push("PutBucketReplication");
        PutBucketReplicationOutput::builder().build()
    });
    let versioning = mock!(Client::put_bucket_versioning).then_compute_output(move |_| {
        c2.lock().unwrap().push("PutBucketVersioning");
        PutBucketVersioningOutput::builder().build()
    });
    let mut rules = vec![put, versioning, head_ok()];
    rules.extend(read_rules(Tags::new()));
    let changed = ["replication_configuration".to_string(), "versioning".to_string()];
    kind(&rules.iter().collect::<Vec<_>>()).update(super::tests::BUCKET, &desired(full_props()), &changed).await.unwrap();
    assert_eq!(*calls.lock().unwrap(), ["PutBucketVersioning", "PutBucketReplication"]);
}

#[tokio::test]
async fn deleting_a_replication_that_is_gone_is_done() {
    let gone = mock!(Client::delete_bucket_replication).then_error(|| DeleteBucketReplicationError::generic(error("ReplicationConfigurationNotFoundError")));
    kind(&[&gone]).put_replication(super::tests::BUCKET, None).await.unwrap();
    let denied = mock!(Client::delete_bucket_replication).then_error(|| DeleteBucketReplicationError::generic(error("AccessDenied")));
    assert!(matches!(kind(&[&denied]).put_replication(super::tests::BUCKET, None).await, Err(ProviderError::AccessDenied(_))));
}

/// A rule in the older shape reads back without priority or delete-marker replication (AWS
/// returns neither for it), so a stack that wrote none sees no change.
#[test]
fn rules_read_back_in_the_shape_they_were_written() {
    let v1: Replication = serde_json::from_value(json!({ "role": ROLE, "rules": [rule("a", None, false)] })).unwrap();
    let sent = v1.to_sdk().unwrap();
    assert_eq!(Replication::to_json(&sent), json!({ "role": ROLE, "rules": [rule("a", None, false)] }));
    let v2 = json!({ "role": ROLE, "rules": [rule("a", Some(3), true)] });
    let parsed: Replication = serde_json::from_value(v2.clone()).unwrap();
    assert_eq!(Replication::to_json(&parsed.to_sdk().unwrap()), v2);
    // What moto and AWS answer for `filter: {}`: an empty prefix.
    let read = ReplicationRule::builder()
        .id("a")
        .status(ReplicationRuleStatus::Enabled)
        .filter(aws_sdk_s3::types::ReplicationRuleFilter::builder().prefix("").build())
        .priority(3)
        .delete_marker_replication(
            aws_sdk_s3::types::DeleteMarkerReplication::builder().status(aws_sdk_s3::types::DeleteMarkerReplicationStatus::Disabled).build(),
        )
        .destination(aws_sdk_s3::types::Destination::builder().bucket("arn:aws:s3:::replica").build().unwrap())
        .build()
        .unwrap();
    let config = aws_sdk_s3::types::ReplicationConfiguration::builder().role(ROLE).rules(read).build().unwrap();
    assert_eq!(Replication::to_json(&config), v2);
}

#[tokio::test]
async fn read_reports_logging_and_replication() {
    let mut rules: Vec<Rule> = vec![head_ok()];
    rules.extend(read_rules(Tags::new()));
    let observed = kind(&rules.iter().collect::<Vec<_>>()).read(super::tests::BUCKET).await.unwrap().unwrap();
    assert_eq!(observed.props["logging"], full_props()["logging"]);
    assert_eq!(observed.props["replication_configuration"], full_props()["replication_configuration"]);
    for action in ["s3:GetBucketLogging", "s3:GetReplicationConfiguration"] {
        assert!(READ_ACTIONS.contains(&action) && UPDATE_ACTIONS.contains(&action), "{action}");
    }
    for action in ["s3:PutBucketLogging", "s3:PutReplicationConfiguration", "iam:PassRole"] {
        assert!(UPDATE_ACTIONS.contains(&action) && CREATE_ACTIONS.contains(&action), "{action}");
    }
}

/// moto (and AWS, later) writes a log object for each call into a bucket that logs into itself,
/// so a forced delete turns logging off before emptying it.
#[tokio::test]
async fn a_forced_delete_of_a_bucket_logging_into_itself_stops_logging_first() {
    use aws_sdk_s3::operation::delete_bucket::{DeleteBucketError, DeleteBucketOutput};
    use aws_sdk_s3::operation::get_bucket_logging::GetBucketLoggingOutput;
    use aws_sdk_s3::operation::get_bucket_tagging::GetBucketTaggingOutput;
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
    let bucket = super::tests::BUCKET;
    let delete = mock!(Client::delete_bucket)
        .sequence()
        .error(|| DeleteBucketError::generic(error("BucketNotEmpty")))
        .output(|| DeleteBucketOutput::builder().build())
        .build();
    let tags = mock!(Client::get_bucket_tagging).then_output(|| {
        GetBucketTaggingOutput::builder().tag_set(aws_sdk_s3::types::Tag::builder().key(FORCE_DESTROY_TAG).value("true").build().unwrap()).build().unwrap()
    });
    let logging = mock!(Client::get_bucket_logging).then_output(move || {
        let enabled = aws_sdk_s3::types::LoggingEnabled::builder().target_bucket(bucket).target_prefix("self/").build().unwrap();
        GetBucketLoggingOutput::builder().logging_enabled(enabled).build()
    });
    let off = mock!(Client::put_bucket_logging)
        .match_requests(|r| r.bucket_logging_status().is_some_and(|s| s.logging_enabled().is_none()))
        .then_output(|| PutBucketLoggingOutput::builder().build());
    let list = mock!(Client::list_object_versions).then_output(|| ListObjectVersionsOutput::builder().is_truncated(false).build());
    kind(&[&delete, &tags, &logging, &off, &list]).delete(bucket).await.unwrap();
    assert_eq!(off.num_calls(), 1);
    assert!(DELETE_ACTIONS.contains(&"s3:PutBucketLogging") && DELETE_ACTIONS.contains(&"s3:GetBucketLogging"));
}
