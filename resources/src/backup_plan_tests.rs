//! Tests of `aws.backup.plan` against aws-smithy-mocks: the plan document sent and read back, UpdateBackupPlan (which moto lacks), adoption by name and tags.

use std::sync::{Arc, Mutex};

use aws_sdk_backup::operation::create_backup_plan::{CreateBackupPlanError, CreateBackupPlanInput, CreateBackupPlanOutput};
use aws_sdk_backup::operation::delete_backup_plan::{DeleteBackupPlanError, DeleteBackupPlanOutput};
use aws_sdk_backup::operation::get_backup_plan::{GetBackupPlanError, GetBackupPlanOutput};
use aws_sdk_backup::operation::list_backup_plans::ListBackupPlansOutput;
use aws_sdk_backup::operation::list_tags::ListTagsOutput;
use aws_sdk_backup::operation::tag_resource::TagResourceOutput;
use aws_sdk_backup::operation::untag_resource::UntagResourceOutput;
use aws_sdk_backup::operation::update_backup_plan::{UpdateBackupPlanInput, UpdateBackupPlanOutput};
use aws_sdk_backup::types::BackupPlansListMember;
use aws_smithy_mocks::{mock, Rule};
use cairn_engine::provider::Tags;
use proptest::prelude::*;

use super::*;
use crate::adopt::testing::{desired, foreign_tags, owner};
use crate::kit::mock_cases::meta;

const ID: &str = "8c2e9a4b-1f0d-4c55-9a1e-3d7f2b6c0e11";
const ARN: &str = "arn:aws:backup:us-east-1:123456789012:backup-plan:8c2e9a4b-1f0d-4c55-9a1e-3d7f2b6c0e11";
const NAME: &str = "shop-dev-main";

fn kind(rules: &[Rule]) -> BackupPlanKind {
    BackupPlanKind::from_client(crate::mocked_client!(aws_sdk_backup, rules))
}

fn daily(delete_after: i64) -> Value {
    json!({"rule": [{
        "rule_name": "daily", "target_vault_name": "shop-dev-vault", "schedule": "cron(0 5 ? * * *)",
        "start_window": 60, "completion_window": 180, "lifecycle": {"delete_after": delete_after},
        "recovery_point_tags": {"Env": "dev"}
    }]})
}

/// GetBackupPlan's answer for the plan `props` describe, as AWS fills it in (rule ids, time zone).
fn get_rule(props: Value, deleted: bool) -> Rule {
    let input = plan_input(&desired(props)).unwrap();
    mock!(Client::get_backup_plan).then_output(move || {
        let rules: Vec<BackupRule> = input
            .rules()
            .iter()
            .map(|r| {
                BackupRule::builder()
                    .rule_name(r.rule_name())
                    .target_backup_vault_name(r.target_backup_vault_name())
                    .set_schedule_expression(r.schedule_expression().map(str::to_string))
                    .schedule_expression_timezone("Etc/UTC")
                    .rule_id("rule-1")
                    .set_start_window_minutes(r.start_window_minutes())
                    .set_completion_window_minutes(r.completion_window_minutes())
                    .set_lifecycle(r.lifecycle().cloned())
                    .set_recovery_point_tags(r.recovery_point_tags().cloned())
                    .build()
                    .unwrap()
            })
            .collect();
        let plan = BackupPlan::builder().backup_plan_name(input.backup_plan_name()).set_rules(Some(rules)).build().unwrap();
        let b = GetBackupPlanOutput::builder().backup_plan(plan).backup_plan_id(ID).backup_plan_arn(ARN).version_id("v1");
        if deleted {
            b.deletion_date(aws_smithy_types::DateTime::from_secs(1)).build()
        } else {
            b.build()
        }
    })
}

fn tags_rule(tags: Tags) -> Rule {
    mock!(Client::list_tags).then_output(move || ListTagsOutput::builder().set_tags(Some(tags.clone().into_iter().collect())).build())
}

fn listed(names: &[(&str, &str)]) -> Rule {
    let members: Vec<BackupPlansListMember> =
        names.iter().map(|(id, name)| BackupPlansListMember::builder().backup_plan_id(*id).backup_plan_name(*name).backup_plan_arn(ARN).build()).collect();
    mock!(Client::list_backup_plans).then_output(move || ListBackupPlansOutput::builder().set_backup_plans_list(Some(members.clone())).build())
}

#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = daily(30);
        f(&mut v["rule"][0]);
        v
    };
    for props in [
        json!({"rule": []}),
        json!({}),
        with(&|r| r["schedule"] = json!("rate(1 day)")),
        with(&|r| r["start_window"] = json!(30)),
        with(&|r| r["completion_window"] = json!(60)),
        with(&|r| r["lifecycle"] = json!({"cold_storage_after": 30, "delete_after": 100})),
        with(&|r| r["lifecycle"] = json!({})),
        with(&|r| r["rule_name"] = json!("has space")),
        with(&|r| r["target_vault_name"] = json!("v")),
        with(&|r| {
            r["copy_action"] =
                json!([{"destination_vault_arn": "arn:aws:backup:us-west-2:1:backup-vault:x", "lifecycle": {"cold_storage_after": 1, "delete_after": 2}}])
        }),
        json!({"rule": [daily(7)["rule"][0].clone(), daily(7)["rule"][0].clone()]}),
        json!({"rule": daily(7)["rule"].clone(), "advanced_backup_setting": [{"resource_type": "RDS", "backup_options": {}}]}),
    ] {
        let d = desired(props.clone());
        assert!(plan_input(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

/// Rules drawn field by field, then made to satisfy the cross-field rules a draw from the
/// types alone would almost never meet (cron schedules, windows, cold-storage distance).
fn rules() -> impl Strategy<Value = Value> {
    let rule = (
        "[a-zA-Z0-9._-]{1,20}",
        "[a-zA-Z0-9_-]{2,20}",
        60i64..100_000,
        1i64..100_000,
        proptest::option::of((proptest::option::of(1i64..1000), 1i64..5000)),
        any::<bool>(),
    )
        .prop_map(|(name, vault, start, extra, lifecycle, copy)| {
            let mut r = json!({"rule_name": name, "target_vault_name": vault, "schedule": "cron(0 5 ? * * *)", "start_window": start, "completion_window": start + extra});
            if let Some((cold, delete)) = lifecycle {
                let mut lc = json!({"delete_after": delete + cold.map_or(0, |c| c + 90)});
                if let Some(c) = cold {
                    lc["cold_storage_after"] = json!(c);
                }
                r["lifecycle"] = lc;
            }
            if copy {
                r["copy_action"] = json!([{"destination_vault_arn": "arn:aws:backup:us-west-2:123456789012:backup-vault:copies"}]);
            }
            r
        });
    proptest::collection::vec(rule, 1..4).prop_map(|mut rs| {
        for (i, r) in rs.iter_mut().enumerate() {
            let name = format!("{}-{i}", r["rule_name"].as_str().unwrap_or("r"));
            r["rule_name"] = json!(name);
        }
        Value::Array(rs)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Every plan the schema accepts becomes a request, and reads back as it was written.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(list in rules()) {
        let d = desired(json!({"rule": list}));
        prop_assert!(crate::schema_check::accepts(&SCHEMA, &d.props), "{:?}", d.props);
        let input = plan_input(&d);
        prop_assert!(input.is_ok(), "{:?}", input.err());
        let back = sent_props(&input.unwrap());
        prop_assert_eq!(&back["rule"], &d.props["rule"]);
    }
}

#[tokio::test]
async fn create_sends_the_document_tags_and_request_id() {
    let seen: Arc<Mutex<Vec<CreateBackupPlanInput>>> = Arc::default();
    let sink = seen.clone();
    let create = mock!(Client::create_backup_plan).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateBackupPlanOutput::builder().backup_plan_id(ID).backup_plan_arn(ARN).version_id("v1").build()
    });
    let want = desired(daily(7));
    let obs = kind(&[create]).create(&want).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    let plan = input.backup_plan().unwrap();
    assert_eq!(plan.backup_plan_name(), NAME);
    let rule = &plan.rules()[0];
    assert_eq!((rule.rule_name(), rule.target_backup_vault_name(), rule.schedule_expression()), ("daily", "shop-dev-vault", Some("cron(0 5 ? * * *)")));
    assert_eq!((rule.start_window_minutes(), rule.completion_window_minutes()), (Some(60), Some(180)));
    assert_eq!(rule.lifecycle().and_then(|l| l.delete_after_days()), Some(7));
    assert_eq!(input.creator_request_id(), Some(creator_request_id(&want, "plan").as_str()));
    let sent: Tags = input.backup_plan_tags().cloned().unwrap_or_default().into_iter().collect();
    assert_eq!(sent, want.tags);
    assert_eq!((obs.id.as_str(), obs.attrs["arn"].clone(), obs.attrs["version"].clone()), (ID, json!(ARN), json!("v1")));
    assert_eq!(obs.props["rule"], daily(7)["rule"]);
    assert_eq!(obs.tags, want.tags);
}

#[tokio::test]
async fn read_leaves_out_what_aws_adds_and_deleted_plans() {
    let obs = kind(&[get_rule(daily(30), false), tags_rule(owner().tags())]).read(ID).await.unwrap().unwrap();
    assert_eq!(Value::Object(obs.props), json!({"name": NAME, "rule": daily(30)["rule"]}));
    assert_eq!(kind(&[get_rule(daily(30), true)]).read(ID).await.unwrap(), None, "a deleted plan is gone");
    let missing = mock!(Client::get_backup_plan).then_error(|| GetBackupPlanError::generic(meta("ResourceNotFoundException")));
    assert_eq!(kind(&[missing]).read(ID).await.unwrap(), None);
}

#[tokio::test]
async fn update_sends_the_whole_document_as_a_new_version() {
    let seen: Arc<Mutex<Vec<UpdateBackupPlanInput>>> = Arc::default();
    let sink = seen.clone();
    let update = mock!(Client::update_backup_plan).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        UpdateBackupPlanOutput::builder().backup_plan_id(ID).backup_plan_arn(ARN).version_id("v2").build()
    });
    let tag = mock!(Client::tag_resource).then_output(|| TagResourceOutput::builder().build());
    let untag = mock!(Client::untag_resource).then_output(|| UntagResourceOutput::builder().build());
    let mut want = desired(daily(90));
    want.tags.insert("team".into(), "core".into());
    let k = kind(&[get_rule(daily(7), false), tags_rule(owner().tags()), update, tag.clone(), untag.clone()]);
    let obs = k.update(ID, &want, &["rule".into(), "tags".into()]).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.backup_plan_id(), Some(ID));
    assert_eq!(input.backup_plan().unwrap().rules()[0].lifecycle().and_then(|l| l.delete_after_days()), Some(90));
    assert_eq!((tag.num_calls(), untag.num_calls()), (1, 0));
    assert_eq!((obs.props["rule"].clone(), obs.attrs["version"].clone(), obs.tags), (daily(90)["rule"].clone(), json!("v2"), want.tags));
}

#[tokio::test]
async fn a_tag_change_alone_keeps_the_version() {
    let update = mock!(Client::update_backup_plan).then_output(|| UpdateBackupPlanOutput::builder().build());
    let tag = mock!(Client::tag_resource).then_output(|| TagResourceOutput::builder().build());
    let mut want = desired(daily(7));
    want.tags.insert("team".into(), "core".into());
    let obs = kind(&[get_rule(daily(7), false), tags_rule(owner().tags()), update.clone(), tag]).update(ID, &want, &["tags".into()]).await.unwrap();
    assert_eq!((update.num_calls(), obs.attrs["version"].clone()), (0, json!("v1")));
}

#[tokio::test]
async fn already_exists_adopts_ours_and_refuses_theirs() {
    let exists = || mock!(Client::create_backup_plan).then_error(|| CreateBackupPlanError::generic(meta("AlreadyExistsException")));
    let want = desired(daily(7));
    let list = listed(&[("other-id", "another-plan"), (ID, NAME)]);
    let adopted = kind(&[exists(), list.clone(), get_rule(daily(7), false), tags_rule(owner().tags())]).create(&want).await.unwrap();
    assert_eq!(adopted.id, ID);
    let theirs = kind(&[exists(), list, get_rule(daily(7), false), tags_rule(foreign_tags())]).create(&want).await;
    assert!(matches!(&theirs, Err(ProviderError::Conflict(m)) if m.contains("not this stack's")), "{theirs:?}");
}

#[tokio::test]
async fn find_owned_looks_by_name_then_tags() {
    let found = kind(&[listed(&[(ID, NAME)]), get_rule(daily(7), false), tags_rule(owner().tags())]).find_owned(&desired(daily(7))).await.unwrap();
    assert_eq!(found.map(|o| o.id), Some(ID.to_string()));
    let none = kind(&[listed(&[(ID, "someone-else")])]).find_owned(&desired(daily(7))).await.unwrap();
    assert_eq!(none, None);
    let theirs = kind(&[listed(&[(ID, NAME)]), get_rule(daily(7), false), tags_rule(foreign_tags())]).find_owned(&desired(daily(7))).await.unwrap();
    assert_eq!(theirs, None);
}

#[tokio::test]
async fn delete_of_a_missing_plan_is_ok() {
    let del = mock!(Client::delete_backup_plan).then_error(|| DeleteBackupPlanError::generic(meta("ResourceNotFoundException")));
    kind(&[del]).delete(ID).await.unwrap();
    let del = mock!(Client::delete_backup_plan).then_output(|| DeleteBackupPlanOutput::builder().build());
    kind(&[del]).delete(ID).await.unwrap();
}
