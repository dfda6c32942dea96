//! Unit tests of `aws.rds.instance` on mocked RDS: update, delete and finding what a lost create made.

use super::tests::*;

#[tokio::test]
async fn deferred_update_sends_only_the_change_and_read_reports_it_pending() {
    let (modified, sink) = recorder::<ModifyDbInstanceInput>();
    let modify = mock!(Client::modify_db_instance).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        ModifyDbInstanceOutput::builder().build()
    });
    let describe = mock!(Client::describe_db_instances).then_output(|| {
        describe_output(db("available").pending_modified_values(PendingModifiedValues::builder().db_instance_class("db.r6g.large").build()).build())
    });
    let mut props = base_props();
    props["instance_class"] = json!("db.r6g.large");
    props["apply_immediately"] = json!(false);
    // Other props differ from the mock too, but are not in `changed`.
    props["multi_az"] = json!(true);

    let observed = kind(&[&modify, &describe]).update(ID, &desired(props), &["instance_class".into()]).await.unwrap();

    let input = modified.lock().unwrap().pop().unwrap();
    assert_eq!(input.db_instance_identifier(), Some(ID));
    assert_eq!(input.db_instance_class(), Some("db.r6g.large"));
    assert_eq!(input.apply_immediately(), Some(false), "held for the maintenance window");
    assert_eq!((input.multi_az(), input.allocated_storage(), input.engine_version()), (None, None, None), "only what changed");
    assert_eq!(observed.props["instance_class"], json!("db.t4g.medium"), "read reports the current value, so the plan keeps the change");
    assert_eq!(observed.attrs["pending_modifications"], json!({"instance_class": "db.r6g.large"}));
    assert_actions(UPDATE_ACTIONS, &["ModifyDBInstance", "DescribeDBInstances"]);
}

#[tokio::test]
async fn immediate_update_waits_for_the_modification_to_finish() {
    let modify = mock!(Client::modify_db_instance)
        .match_requests(|r| r.apply_immediately() == Some(true) && r.allocated_storage() == Some(50))
        .then_output(|| ModifyDbInstanceOutput::builder().build());
    let describe = describe_sequence(&["available", "modifying", "modifying", "available"]);
    let mut props = base_props();
    props["allocated_storage"] = json!(50);
    kind(&[&modify, &describe]).update(ID, &desired(props), &["allocated_storage".into()]).await.unwrap();
    assert_eq!(modify.num_calls(), 1);
    assert!(describe.num_calls() >= 4, "polled through modifying: {}", describe.num_calls());
}

#[tokio::test]
async fn update_of_storage_already_grown_by_autoscaling_only_records_the_new_figure() {
    // No ModifyDBInstance rule: asking RDS to shrink storage would panic here.
    let mut tags = desired(json!({})).tags;
    tags.insert(ENGINE_VERSION_TAG.into(), "16".into());
    tags.insert(ALLOCATED_STORAGE_TAG.into(), "100".into());
    let describe = mock!(Client::describe_db_instances)
        .then_output(move || describe_output(db("available").allocated_storage(150).max_allocated_storage(1000).set_tag_list(Some(rds_tags(&tags))).build()));
    let (added, sink) = recorder::<AddTagsToResourceInput>();
    let add = mock!(Client::add_tags_to_resource).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        AddTagsToResourceOutput::builder().build()
    });
    let mut props = base_props();
    props["allocated_storage"] = json!(120);
    props["max_allocated_storage"] = json!(1000);
    kind(&[&describe, &add]).update(ID, &desired(props), &["allocated_storage".into()]).await.unwrap();
    let input = added.lock().unwrap().pop().unwrap();
    assert_eq!(input.resource_name(), Some(ARN));
    assert_eq!(tags_from(input.tags()), Tags::from([(ALLOCATED_STORAGE_TAG.to_string(), "120".to_string())]));
}

#[tokio::test]
async fn tag_update_goes_by_arn_and_keeps_cairns_own_tags() {
    let mut current = desired(json!({})).tags;
    current.insert(ENGINE_VERSION_TAG.into(), "16".into());
    current.insert("Owner".into(), "someone-else".into());
    let describe = mock!(Client::describe_db_instances).then_output(move || describe_output(db("available").set_tag_list(Some(rds_tags(&current))).build()));
    let (added, sink) = recorder::<AddTagsToResourceInput>();
    let add = mock!(Client::add_tags_to_resource).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        AddTagsToResourceOutput::builder().build()
    });
    let (removed, sink) = recorder::<RemoveTagsFromResourceInput>();
    let remove = mock!(Client::remove_tags_from_resource).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        RemoveTagsFromResourceOutput::builder().build()
    });
    let mut d = desired(base_props());
    d.tags.insert("Team".into(), "data".into());
    kind(&[&describe, &add, &remove]).update(ID, &d, &["tags".into()]).await.unwrap();
    let add = added.lock().unwrap().pop().unwrap();
    assert_eq!(add.resource_name(), Some(ARN));
    assert_eq!(tags_from(add.tags()), Tags::from([("Team".to_string(), "data".to_string())]));
    let remove = removed.lock().unwrap().pop().unwrap();
    assert_eq!(remove.tag_keys(), ["Owner".to_string()], "the engine-version tag stays");
    assert_actions(UPDATE_ACTIONS, &["AddTagsToResource", "RemoveTagsFromResource"]);
}

#[tokio::test]
async fn changing_a_performance_insights_key_once_set_is_refused() {
    let describe = mock!(Client::describe_db_instances).then_output(|| {
        describe_output(
            db("available").performance_insights_enabled(true).performance_insights_kms_key_id("arn:aws:kms:us-east-1:123456789012:key/old").build(),
        )
    });
    let mut props = base_props();
    props["performance_insights_enabled"] = json!(true);
    props["performance_insights_kms_key"] = json!("arn:aws:kms:us-east-1:123456789012:key/new");
    let result = kind(&[&describe]).update(ID, &desired(props), &["performance_insights_kms_key".into()]).await;
    assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("cannot change the Performance Insights KMS key")), "{result:?}");
}

#[tokio::test]
async fn delete_refuses_an_instance_with_deletion_protection() {
    // No DeleteDBInstance or ModifyDBInstance rule: turning protection off silently would panic.
    let describe = mock!(Client::describe_db_instances).then_output(|| describe_output(db("available").deletion_protection(true).build()));
    let result = kind(&[&describe]).delete(ID).await;
    assert_eq!(
        result,
        Err(ProviderError::Conflict(format!("{KIND} {ID} has deletion_protection; set deletion_protection: false and apply before destroying")))
    );
}

#[tokio::test]
async fn delete_takes_a_final_snapshot_and_waits_until_gone() {
    let (deleted, sink) = recorder::<DeleteDbInstanceInput>();
    let delete = mock!(Client::delete_db_instance).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DeleteDbInstanceOutput::builder().build()
    });
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(|| describe_output(db("available").build()))
        .output(|| describe_output(db("deleting").build()))
        .times(2)
        .error(not_found)
        .build();
    kind(&[&delete, &describe]).delete(ID).await.unwrap();
    let input = deleted.lock().unwrap().pop().unwrap();
    assert_eq!(input.skip_final_snapshot(), Some(false));
    assert_eq!(input.final_db_snapshot_identifier(), Some("shop-dev-db-final"));
    assert_eq!(describe.num_calls(), 4, "polled through deleting until not found");
    assert_actions(DELETE_ACTIONS, &["DescribeDBInstances", "DeleteDBInstance", "CreateDBSnapshot"]);
}

#[tokio::test]
async fn delete_skips_the_snapshot_when_the_instance_says_so() {
    let mut tags = owner().tags();
    tags.insert(SKIP_FINAL_SNAPSHOT_TAG.into(), "true".into());
    let delete = mock!(Client::delete_db_instance)
        .match_requests(|r| r.skip_final_snapshot() == Some(true) && r.final_db_snapshot_identifier().is_none())
        .then_output(|| DeleteDbInstanceOutput::builder().build());
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(move || describe_output(db("available").set_tag_list(Some(rds_tags(&tags))).build()))
        .error(not_found)
        .build();
    kind(&[&delete, &describe]).delete(ID).await.unwrap();
    assert_eq!(delete.num_calls(), 1);
}

#[tokio::test]
async fn delete_of_missing_instance_is_ok_and_of_a_deleting_one_just_waits() {
    let missing = mock!(Client::describe_db_instances).then_error(not_found);
    kind(&[&missing]).delete(ID).await.unwrap();
    // No DeleteDBInstance rule: deleting twice would panic.
    let deleting = mock!(Client::describe_db_instances).sequence().output(|| describe_output(db("deleting").build())).times(2).error(not_found).build();
    kind(&[&deleting]).delete(ID).await.unwrap();
}

#[tokio::test]
async fn delete_that_outlasts_the_wait_is_retryable() {
    let delete = mock!(Client::delete_db_instance).then_output(|| DeleteDbInstanceOutput::builder().build());
    let describe = mock!(Client::describe_db_instances)
        .sequence()
        .output(|| describe_output(db("available").build()))
        .output(|| describe_output(db("deleting").build()))
        .repeatedly()
        .build();
    let clock = InstantClock::default();
    let result = kind_with_clock(&[&delete, &describe], &clock).delete(ID).await;
    assert!(matches!(&result, Err(ProviderError::Retryable(m)) if m.contains("still deleting after 60 minutes") && m.contains("re-run destroy")), "{result:?}");
    assert!(clock.elapsed_since_start() >= Duration::from_secs(3600));
}

#[tokio::test]
async fn delete_when_the_final_snapshot_name_is_taken_explains_the_way_out() {
    use aws_sdk_rds::operation::delete_db_instance::DeleteDBInstanceError;
    let delete = mock!(Client::delete_db_instance).then_error(|| DeleteDBInstanceError::generic(error("DBSnapshotAlreadyExists")));
    let describe = describe_sequence(&["available"]);
    let result = kind(&[&delete, &describe]).delete(ID).await;
    assert!(
        matches!(&result, Err(ProviderError::Conflict(m)) if m.contains("shop-dev-db-final already exists") && m.contains("skip_final_snapshot")),
        "{result:?}"
    );
}

#[tokio::test]
async fn find_owned_needs_the_owner_tags() {
    let ours = describe_sequence(&["available"]);
    assert_eq!(kind(&[&ours]).find_owned(&desired(base_props())).await.unwrap().map(|o| o.id), Some(ID.to_string()));
    let foreign = mock!(Client::describe_db_instances)
        .then_output(|| describe_output(db("available").set_tag_list(Some(rds_tags(&Tags::from([("cairn:stack".to_string(), "other".to_string())])))).build()));
    assert_eq!(kind(&[&foreign]).find_owned(&desired(base_props())).await.unwrap(), None);
}

fn already_exists() -> Rule {
    use aws_sdk_rds::operation::create_db_instance::CreateDBInstanceError;
    mock!(Client::create_db_instance).then_error(|| CreateDBInstanceError::generic(error("DBInstanceAlreadyExists")))
}

#[tokio::test]
async fn create_answered_already_exists_waits_for_our_instance_and_adopts_it() {
    let create = already_exists();
    let describe = describe_sequence(&["creating", "creating", "available"]);
    let adopted = kind(&[&create, &describe]).create(&desired(base_props())).await;
    assert_eq!(adopted.map(|o| o.id), Ok(ID.to_string()));
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn create_answered_already_exists_refuses_an_instance_that_is_not_ours() {
    let foreign = mock!(Client::describe_db_instances).then_output(|| describe_output(db("available").set_tag_list(Some(vec![])).build()));
    let result = kind(&[&already_exists(), &foreign]).create(&desired(base_props())).await;
    crate::adopt::testing::assert_refused(result, &format!("DB instance {ID}"));
}

#[tokio::test]
async fn find_owned_finishes_the_wait_of_a_run_killed_while_creating() {
    let describe = describe_sequence(&["creating", "creating", "backing-up", "available"]);
    let found = kind(&[&describe]).find_owned(&desired(base_props())).await.unwrap();
    assert_eq!(found.map(|o| o.props["instance_class"].clone()), Some(json!("db.t4g.medium")));
    assert!(describe.num_calls() >= 4, "waited until available");
}

const MONITORING_ROLE: &str = "arn:aws:iam::123456789012:role/rds-monitoring";

#[tokio::test]
async fn create_sends_enhanced_monitoring_and_read_reports_it() {
    let (created, sink) = recorder::<CreateDbInstanceInput>();
    let create = mock!(Client::create_db_instance).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateDbInstanceOutput::builder().build()
    });
    let describe = mock!(Client::describe_db_instances)
        .then_output(|| describe_output(db("available").monitoring_interval(60).monitoring_role_arn(MONITORING_ROLE).build()));
    let mut props = base_props();
    props["monitoring_interval"] = json!(60);
    props["monitoring_role_arn"] = json!(MONITORING_ROLE);
    let observed = kind(&[&create, &describe]).create(&desired(props)).await.unwrap();
    let input = created.lock().unwrap().pop().unwrap();
    assert_eq!((input.monitoring_interval(), input.monitoring_role_arn()), (Some(60), Some(MONITORING_ROLE)));
    assert_eq!((observed.props["monitoring_interval"].clone(), observed.props["monitoring_role_arn"].clone()), (json!(60), json!(MONITORING_ROLE)));
    assert!(CREATE_ACTIONS.contains(&"iam:PassRole") && UPDATE_ACTIONS.contains(&"iam:PassRole"), "the role is passed to RDS");
}

#[tokio::test]
async fn monitoring_is_turned_on_and_off_with_modify_db_instance() {
    let (modified, sink) = recorder::<ModifyDbInstanceInput>();
    let modify = mock!(Client::modify_db_instance).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        ModifyDbInstanceOutput::builder().build()
    });
    let describe = describe_sequence(&["available"]);
    let changed = ["monitoring_interval".to_string(), "monitoring_role_arn".to_string()];
    let mut on = base_props();
    on["monitoring_interval"] = json!(30);
    on["monitoring_role_arn"] = json!(MONITORING_ROLE);
    kind(&[&modify, &describe]).update(ID, &desired(on), &changed).await.unwrap();
    let input = modified.lock().unwrap().pop().unwrap();
    assert_eq!((input.monitoring_interval(), input.monitoring_role_arn()), (Some(30), Some(MONITORING_ROLE)));
    assert_eq!(input.db_instance_class(), None, "only what changed");

    kind(&[&modify, &describe]).update(ID, &desired(base_props()), &["monitoring_interval".into()]).await.unwrap();
    let input = modified.lock().unwrap().pop().unwrap();
    assert_eq!((input.monitoring_interval(), input.monitoring_role_arn()), (Some(0), None), "off sends no role");
}

#[test]
fn monitoring_needs_a_role_exactly_when_on_and_an_interval_from_the_list() {
    let with = |interval: Option<i64>, role: bool| {
        let mut p = base_props();
        if let Some(n) = interval {
            p["monitoring_interval"] = json!(n);
        }
        if role {
            p["monitoring_role_arn"] = json!(MONITORING_ROLE);
        }
        crate::schema_check::accepts(&SCHEMA, &desired(p).props)
    };
    assert!(with(None, false) && with(Some(0), false) && with(Some(1), true) && with(Some(60), true));
    assert!(!with(Some(5), false), "on without a role");
    assert!(!with(None, true) && !with(Some(0), true), "a role with monitoring off");
    assert!(!with(Some(2), true) && !with(Some(120), true), "not an interval AWS offers");
}
