//! Tests of `aws.backup.vault` against aws-smithy-mocks: requests sent, shapes read, errors classified, recovery points deleted only when asked.

use std::sync::{Arc, Mutex};

use aws_sdk_backup::operation::create_backup_vault::{CreateBackupVaultError, CreateBackupVaultInput, CreateBackupVaultOutput};
use aws_sdk_backup::operation::delete_backup_vault::{DeleteBackupVaultError, DeleteBackupVaultOutput};
use aws_sdk_backup::operation::delete_recovery_point::DeleteRecoveryPointOutput;
use aws_sdk_backup::operation::describe_backup_vault::DescribeBackupVaultError;
use aws_sdk_backup::operation::list_recovery_points_by_backup_vault::ListRecoveryPointsByBackupVaultOutput;
use aws_sdk_backup::operation::list_tags::ListTagsOutput;
use aws_sdk_backup::operation::tag_resource::{TagResourceInput, TagResourceOutput};
use aws_sdk_backup::operation::untag_resource::{UntagResourceInput, UntagResourceOutput};
use aws_sdk_backup::types::RecoveryPointByBackupVault;
use aws_smithy_mocks::{mock, Rule};

use super::*;
use crate::adopt::testing::{desired, foreign_tags, owner};
use crate::kit::mock_cases::{adopts_ours_refuses_theirs, meta};

const NAME: &str = "shop-dev-main";
const ARN: &str = "arn:aws:backup:us-east-1:123456789012:backup-vault:shop-dev-main";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn kind(rules: &[Rule]) -> BackupVault {
    BackupVault::from_client(crate::mocked_client!(aws_sdk_backup, rules))
}

fn describe(key: &str, points: i64) -> Rule {
    let key = key.to_string();
    mock!(Client::describe_backup_vault).then_output(move || {
        DescribeBackupVaultOutput::builder().backup_vault_name(NAME).backup_vault_arn(ARN).encryption_key_arn(&key).number_of_recovery_points(points).build()
    })
}

fn tags_rule(tags: Tags) -> Rule {
    mock!(Client::list_tags).then_output(move || ListTagsOutput::builder().set_tags(Some(tags.clone().into_iter().collect())).build())
}

fn forced(mut tags: Tags) -> Tags {
    tags.insert(FORCE_DESTROY_TAG.into(), "true".into());
    tags
}

/// Names are checked by validate's naming pass; the builder checks them again for `${...}` names.
#[test]
fn the_builder_refuses_names_aws_refuses() {
    for name in ["a", "has space", &"x".repeat(51)] {
        assert!(Spec::from(&desired(json!({"name": name}))).is_err(), "{name}");
    }
}

#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    for props in [json!({"kms_key_arn": "alias/aws/backup-key-alias"}), json!({"kms_key_arn": 7}), json!({"force_destroy": "yes"}), json!({"lock": true})] {
        let d = desired(props.clone());
        assert!(Spec::from(&d).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts (with a key given by ARN) becomes a CreateBackupVault request.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA), with_key in proptest::bool::ANY) {
        let mut props = props;
        props.remove("kms_key_arn");
        if with_key {
            props.insert("kms_key_arn".into(), json!(KEY));
        }
        let d = desired(Value::Object(props));
        let spec = Spec::from(&d);
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        proptest::prop_assert_eq!(spec.unwrap().kms_key_arn.is_some(), with_key);
    }
}

#[tokio::test]
async fn create_sends_key_tags_and_request_id() {
    let seen: Arc<Mutex<Vec<CreateBackupVaultInput>>> = Arc::default();
    let sink = seen.clone();
    let create = mock!(Client::create_backup_vault).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateBackupVaultOutput::builder().backup_vault_name(NAME).backup_vault_arn(ARN).build()
    });
    let read = describe(KEY, 0);
    let want = desired(json!({"kms_key_arn": KEY, "force_destroy": true}));
    let obs = kind(&[create, read.clone()]).create(&want).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.backup_vault_name(), Some(NAME));
    assert_eq!(input.encryption_key_arn(), Some(KEY));
    assert_eq!(input.creator_request_id(), Some(creator_request_id(&want, "vault").as_str()));
    let sent: Tags = input.backup_vault_tags().cloned().unwrap_or_default().into_iter().collect();
    assert_eq!(sent, forced(want.tags.clone()));
    assert_eq!(read.num_calls(), 0, "a vault with its key given needs no read");
    assert_eq!((obs.id.as_str(), obs.attrs["arn"].clone()), (NAME, json!(ARN)));
    assert_eq!(Value::Object(obs.props), json!({"name": NAME, "kms_key_arn": KEY, "force_destroy": true}));
    assert_eq!(obs.tags, want.tags);
}

#[tokio::test]
async fn create_without_key_reads_the_key_aws_chose() {
    let create = mock!(Client::create_backup_vault).then_output(|| CreateBackupVaultOutput::builder().backup_vault_arn(ARN).build());
    let obs = kind(&[create, describe(KEY, 0), tags_rule(owner().tags())]).create(&desired(json!({}))).await.unwrap();
    assert_eq!(obs.props["kms_key_arn"], json!(KEY));
    assert_eq!(obs.props["force_destroy"], json!(false));
}

#[tokio::test]
async fn already_exists_adopts_ours_and_refuses_theirs() {
    let exists = || mock!(Client::create_backup_vault).then_error(|| CreateBackupVaultError::generic(meta("AlreadyExistsException")));
    let want = &desired(json!({"kms_key_arn": KEY}));
    let create_finding = |tags| {
        let k = kind(&[exists(), describe(KEY, 0), tags_rule(tags)]);
        async move { k.create(want).await }
    };
    adopts_ours_refuses_theirs(create_finding, NAME, "backup vault shop-dev-main").await;
}

#[tokio::test]
async fn read_hides_the_marker_and_reports_recovery_points() {
    let obs = kind(&[describe(KEY, 3), tags_rule(forced(owner().tags()))]).read(NAME).await.unwrap().unwrap();
    assert_eq!(obs.tags, owner().tags());
    assert_eq!(obs.props["force_destroy"], json!(true));
    assert_eq!(obs.attrs["recovery_points"], json!(3));
    let missing = mock!(Client::describe_backup_vault).then_error(|| DescribeBackupVaultError::generic(meta("ResourceNotFoundException")));
    assert_eq!(kind(&[missing]).read(NAME).await.unwrap(), None);
}

#[tokio::test]
async fn update_changes_tags_and_the_marker() {
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
    let mut want = desired(json!({"kms_key_arn": KEY, "force_destroy": true}));
    want.tags.insert("team".into(), "core".into());
    let k = kind(&[describe(KEY, 0), tags_rule(current), tag, untag]);
    let obs = k.update(NAME, &want, &["tags".into(), "force_destroy".into()]).await.unwrap();
    let t = tagged.lock().unwrap().pop().unwrap();
    assert_eq!(t.resource_arn(), Some(ARN));
    let set: Tags = t.tags().cloned().unwrap_or_default().into_iter().collect();
    assert_eq!(set, Tags::from([("team".to_string(), "core".to_string()), (FORCE_DESTROY_TAG.to_string(), "true".to_string())]));
    assert_eq!(untagged.lock().unwrap().pop().unwrap().tag_key_list(), ["old".to_string()]);
    assert_eq!((obs.tags, obs.props["force_destroy"].clone()), (want.tags, json!(true)));
}

#[tokio::test]
async fn delete_of_a_missing_vault_is_ok() {
    let del = mock!(Client::delete_backup_vault).then_error(|| DeleteBackupVaultError::generic(meta("ResourceNotFoundException")));
    kind(&[del]).delete(NAME).await.unwrap();
    let del = mock!(Client::delete_backup_vault).then_output(|| DeleteBackupVaultOutput::builder().build());
    kind(&[del]).delete(NAME).await.unwrap();
}

#[tokio::test]
async fn a_vault_with_recovery_points_is_emptied_only_with_force_destroy() {
    let full = || mock!(Client::delete_backup_vault).then_error(|| DeleteBackupVaultError::generic(meta("InvalidRequestException")));
    let refused = kind(&[full(), describe(KEY, 2), tags_rule(owner().tags())]).delete(NAME).await;
    assert!(matches!(&refused, Err(ProviderError::Conflict(m)) if m.contains("force_destroy")), "{refused:?}");

    let attempts = Arc::new(Mutex::new(0));
    let counter = attempts.clone();
    let del = mock!(Client::delete_backup_vault).then_compute_response(move |_| {
        let mut n = counter.lock().unwrap();
        *n += 1;
        if *n == 1 {
            aws_smithy_mocks::MockResponse::Error(DeleteBackupVaultError::generic(meta("InvalidRequestException")))
        } else {
            aws_smithy_mocks::MockResponse::Output(DeleteBackupVaultOutput::builder().build())
        }
    });
    let points = mock!(Client::list_recovery_points_by_backup_vault).then_output(|| {
        ListRecoveryPointsByBackupVaultOutput::builder()
            .recovery_points(RecoveryPointByBackupVault::builder().recovery_point_arn("arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-1").build())
            .recovery_points(RecoveryPointByBackupVault::builder().recovery_point_arn("arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-2").build())
            .build()
    });
    let deleted = mock!(Client::delete_recovery_point).then_output(|| DeleteRecoveryPointOutput::builder().build());
    kind(&[del, describe(KEY, 2), tags_rule(forced(owner().tags())), points, deleted.clone()]).delete(NAME).await.unwrap();
    assert_eq!((*attempts.lock().unwrap(), deleted.num_calls()), (2, 2));
}

#[tokio::test]
async fn find_owned_matches_name_and_owner() {
    let found = kind(&[describe(KEY, 0), tags_rule(owner().tags())]).find_owned(&desired(json!({}))).await.unwrap();
    assert_eq!(found.unwrap().id, NAME);
    assert_eq!(kind(&[describe(KEY, 0), tags_rule(foreign_tags())]).find_owned(&desired(json!({}))).await.unwrap(), None);
    let missing = mock!(Client::describe_backup_vault).then_error(|| DescribeBackupVaultError::generic(meta("ResourceNotFoundException")));
    assert_eq!(kind(&[missing]).find_owned(&desired(json!({}))).await.unwrap(), None);
}
