//! Tests of `aws.backup.selection` against aws-smithy-mocks (moto has no selections): create, read, update refused, delete, find_owned.

use std::sync::{Arc, Mutex};

use aws_sdk_backup::operation::create_backup_selection::{CreateBackupSelectionError, CreateBackupSelectionInput, CreateBackupSelectionOutput};
use aws_sdk_backup::operation::delete_backup_selection::{DeleteBackupSelectionError, DeleteBackupSelectionInput, DeleteBackupSelectionOutput};
use aws_sdk_backup::operation::get_backup_selection::{GetBackupSelectionError, GetBackupSelectionOutput};
use aws_sdk_backup::operation::list_backup_selections::{ListBackupSelectionsError, ListBackupSelectionsOutput};
use aws_sdk_backup::types::BackupSelectionsListMember;
use aws_smithy_mocks::{mock, Rule};

use super::*;
use crate::adopt::testing::desired;
use crate::kit::mock_cases::meta;

const PLAN: &str = "8c2e9a4b-1f0d-4c55-9a1e-3d7f2b6c0e11";
const SEL: &str = "5b1c0f3e-2a7d-4e99-8c41-0a9b8d7e6f12";
const ROLE: &str = "arn:aws:iam::123456789012:role/shop-dev-backup";
const DB: &str = "arn:aws:rds:us-east-1:123456789012:db:shop-dev-db";
const NAME: &str = "shop-dev-main";

fn kind(rules: &[Rule]) -> BackupSelectionKind {
    BackupSelectionKind::from_client(crate::mocked_client!(aws_sdk_backup, rules))
}

fn props() -> Value {
    json!({"plan_id": PLAN, "iam_role_arn": ROLE, "resources": [DB], "selection_tag": [{"type": "STRINGEQUALS", "key": "backup", "value": "daily"}]})
}

fn get_rule() -> Rule {
    let (_, selection) = selection_input(&desired(props())).unwrap();
    mock!(Client::get_backup_selection)
        .then_output(move || GetBackupSelectionOutput::builder().backup_selection(selection.clone()).backup_plan_id(PLAN).selection_id(SEL).build())
}

fn listed(name: &str) -> Rule {
    let member = BackupSelectionsListMember::builder().selection_id(SEL).selection_name(name).backup_plan_id(PLAN).iam_role_arn(ROLE).build();
    mock!(Client::list_backup_selections).then_output(move || ListBackupSelectionsOutput::builder().backup_selections_list(member.clone()).build())
}

#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    for p in [
        json!({"plan_id": PLAN, "iam_role_arn": ROLE}),
        json!({"plan_id": PLAN, "iam_role_arn": ROLE, "resources": []}),
        json!({"plan_id": PLAN, "iam_role_arn": "backup-role-by-name-only", "resources": [DB]}),
        json!({"iam_role_arn": ROLE, "resources": [DB]}),
        json!({"plan_id": PLAN, "iam_role_arn": ROLE, "selection_tag": [{"type": "STRINGLIKE", "key": "a", "value": "b"}]}),
        json!({"plan_id": PLAN, "iam_role_arn": ROLE, "resources": [DB], "not_resources": [DB]}),
    ] {
        let d = desired(p.clone());
        assert!(selection_input(&d).is_err(), "builder accepts {p}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {p}");
    }
}

/// Selections drawn from what AWS takes: resource ARNs and tag conditions, at least one of either
/// (a draw from the types alone would almost never give a role ARN).
fn selections() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let arns = proptest::collection::vec("[a-z0-9-]{1,20}".prop_map(|n| format!("arn:aws:rds:us-east-1:123456789012:db:{n}")), 0..3);
    let tags = proptest::collection::vec(("[a-zA-Z0-9:_-]{1,20}", "[a-zA-Z0-9 _-]{0,20}"), 0..3);
    (arns, tags).prop_filter("something selected", |(a, t)| !a.is_empty() || !t.is_empty()).prop_map(|(arns, tags)| {
        let mut p = json!({"plan_id": PLAN, "iam_role_arn": ROLE});
        if !arns.is_empty() {
            p["resources"] = json!(arns);
        }
        if !tags.is_empty() {
            p["selection_tag"] = tags.into_iter().map(|(k, v)| json!({"type": "STRINGEQUALS", "key": k, "value": v})).collect();
        }
        p
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every selection the schema accepts becomes a CreateBackupSelection request that reads back the same.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in selections()) {
        let d = desired(props);
        proptest::prop_assert!(crate::schema_check::accepts(&SCHEMA, &d.props), "{:?}", d.props);
        let built = selection_input(&d);
        proptest::prop_assert!(built.is_ok(), "{:?}", built.err());
        let (plan, selection) = built.unwrap();
        let back = observed(&plan, SEL, &selection);
        for p in ["plan_id", "iam_role_arn", "resources", "selection_tag"] {
            proptest::prop_assert_eq!(back.props.get(p), d.props.get(p), "{}", p);
        }
    }
}

#[test]
fn selections_are_immutable_and_untagged() {
    assert!(!SCHEMA.taggable);
    assert!(SCHEMA.props.iter().all(|p| p.force_new), "every prop replaces the selection");
}

#[tokio::test]
async fn create_sends_plan_role_resources_tags_and_request_id() {
    let seen: Arc<Mutex<Vec<CreateBackupSelectionInput>>> = Arc::default();
    let sink = seen.clone();
    let create = mock!(Client::create_backup_selection).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateBackupSelectionOutput::builder().selection_id(SEL).backup_plan_id(PLAN).build()
    });
    let want = desired(props());
    let obs = kind(&[create]).create(&want).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.backup_plan_id(), Some(PLAN));
    assert_eq!(input.creator_request_id(), Some(creator_request_id(&want, "selection").as_str()));
    let s = input.backup_selection().unwrap();
    assert_eq!((s.selection_name(), s.iam_role_arn(), s.resources()), (NAME, ROLE, [DB.to_string()].as_slice()));
    let c = &s.list_of_tags()[0];
    assert_eq!((c.condition_type(), c.condition_key(), c.condition_value()), (&ConditionType::Stringequals, "backup", "daily"));
    assert_eq!(obs.id, format!("{PLAN}/{SEL}"));
    assert_eq!(obs.attrs["selection_id"], json!(SEL));
    let mut want_props = props();
    want_props["name"] = json!(NAME);
    assert_eq!(Value::Object(obs.props), want_props);
    assert!(obs.tags.is_empty());
}

#[tokio::test]
async fn already_exists_adopts_the_selection_of_that_name() {
    let exists = mock!(Client::create_backup_selection).then_error(|| CreateBackupSelectionError::generic(meta("AlreadyExistsException")));
    let adopted = kind(&[exists, listed(NAME), get_rule()]).create(&desired(props())).await.unwrap();
    assert_eq!(adopted.id, format!("{PLAN}/{SEL}"));
    let exists = mock!(Client::create_backup_selection).then_error(|| CreateBackupSelectionError::generic(meta("AlreadyExistsException")));
    let refused = kind(&[exists, listed("another")]).create(&desired(props())).await;
    assert!(matches!(refused, Err(ProviderError::Conflict(_))), "{refused:?}");
    // Same name, other resources: not what this stack asks for, and it cannot be changed in place.
    let exists = mock!(Client::create_backup_selection).then_error(|| CreateBackupSelectionError::generic(meta("AlreadyExistsException")));
    let mut other = props();
    other["resources"] = json!(["arn:aws:rds:us-east-1:123456789012:db:other"]);
    let refused = kind(&[exists, listed(NAME), get_rule()]).create(&desired(other)).await;
    assert!(matches!(&refused, Err(ProviderError::Conflict(m)) if m.contains("resources")), "{refused:?}");
}

#[tokio::test]
async fn read_by_plan_and_selection_id() {
    let obs = kind(&[get_rule()]).read(&format!("{PLAN}/{SEL}")).await.unwrap().unwrap();
    assert_eq!(obs.props["resources"], json!([DB]));
    assert_eq!(obs.props["plan_id"], json!(PLAN));
    let missing = mock!(Client::get_backup_selection).then_error(|| GetBackupSelectionError::generic(meta("ResourceNotFoundException")));
    assert_eq!(kind(&[missing]).read(&format!("{PLAN}/{SEL}")).await.unwrap(), None);
    assert!(matches!(kind(&[]).read("no-separator").await, Err(ProviderError::Invalid(_))));
}

#[tokio::test]
async fn update_is_refused_because_every_change_replaces() {
    let r = kind(&[]).update(&format!("{PLAN}/{SEL}"), &desired(props()), &["resources".into()]).await;
    assert!(matches!(&r, Err(ProviderError::Invalid(m)) if m.contains("replaced")), "{r:?}");
}

#[tokio::test]
async fn delete_names_plan_and_selection_and_tolerates_gone() {
    let seen: Arc<Mutex<Vec<DeleteBackupSelectionInput>>> = Arc::default();
    let sink = seen.clone();
    let del = mock!(Client::delete_backup_selection).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DeleteBackupSelectionOutput::builder().build()
    });
    kind(&[del]).delete(&format!("{PLAN}/{SEL}")).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!((input.backup_plan_id(), input.selection_id()), (Some(PLAN), Some(SEL)));
    let gone = mock!(Client::delete_backup_selection).then_error(|| DeleteBackupSelectionError::generic(meta("ResourceNotFoundException")));
    kind(&[gone]).delete(&format!("{PLAN}/{SEL}")).await.unwrap();
}

#[tokio::test]
async fn find_owned_looks_by_name_in_the_plan() {
    let found = kind(&[listed(NAME), get_rule()]).find_owned(&desired(props())).await.unwrap();
    assert_eq!(found.map(|o| o.id), Some(format!("{PLAN}/{SEL}")));
    assert_eq!(kind(&[listed("another")]).find_owned(&desired(props())).await.unwrap(), None);
    let plan_gone = mock!(Client::list_backup_selections).then_error(|| ListBackupSelectionsError::generic(meta("ResourceNotFoundException")));
    assert_eq!(kind(&[plan_gone]).find_owned(&desired(props())).await.unwrap(), None);
}
