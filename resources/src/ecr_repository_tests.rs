//! Tests of `aws.ecr.repository` against aws-smithy-mocks: requests sent, shapes read, errors classified.

use std::sync::{Arc, Mutex};

use aws_sdk_ecr::operation::create_repository::{CreateRepositoryError, CreateRepositoryInput, CreateRepositoryOutput};
use aws_sdk_ecr::operation::delete_lifecycle_policy::DeleteLifecyclePolicyOutput;
use aws_sdk_ecr::operation::delete_repository::{DeleteRepositoryInput, DeleteRepositoryOutput};
use aws_sdk_ecr::operation::describe_repositories::{DescribeRepositoriesInput, DescribeRepositoriesOutput};
use aws_sdk_ecr::operation::get_lifecycle_policy::GetLifecyclePolicyOutput;
use aws_sdk_ecr::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_ecr::operation::put_image_scanning_configuration::{PutImageScanningConfigurationInput, PutImageScanningConfigurationOutput};
use aws_sdk_ecr::operation::put_lifecycle_policy::{PutLifecyclePolicyInput, PutLifecyclePolicyOutput};
use aws_sdk_ecr::operation::tag_resource::{TagResourceInput, TagResourceOutput};
use aws_sdk_ecr::operation::untag_resource::UntagResourceOutput;
use aws_smithy_mocks::{mock, Rule};

use super::*;
use crate::adopt::testing::{desired, foreign_tags, owner};
use crate::kit::mock_cases::{adopts_ours_refuses_theirs, json_error};

const NAME: &str = "shop-dev-main";
const ARN: &str = "arn:aws:ecr:us-east-1:123456789012:repository/shop-dev-main";
const KEY: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn kind(rules: &[Rule]) -> EcrRepository {
    EcrRepository::from_client(crate::mocked_client!(aws_sdk_ecr, rules))
}

fn repo(name: &str, kms: Option<&str>) -> Repository {
    let enc = match kms {
        Some(k) => EncryptionConfiguration::builder().encryption_type(EncryptionType::Kms).kms_key(k).build().unwrap(),
        None => EncryptionConfiguration::builder().encryption_type(EncryptionType::Aes256).build().unwrap(),
    };
    Repository::builder()
        .repository_name(name)
        .repository_arn(format!("arn:aws:ecr:us-east-1:123456789012:repository/{name}"))
        .repository_uri(format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}"))
        .registry_id("123456789012")
        .image_tag_mutability(ImageTagMutability::Immutable)
        .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(true).build())
        .encryption_configuration(enc)
        .build()
}

fn describe(repos: Vec<Repository>) -> Rule {
    mock!(Client::describe_repositories).then_output(move || DescribeRepositoriesOutput::builder().set_repositories(Some(repos.clone())).build())
}

fn tags_rule(tags: Tags) -> Rule {
    mock!(Client::list_tags_for_resource).then_output(move || ListTagsForResourceOutput::builder().set_tags(Some(ecr_tags(&tags).unwrap())).build())
}

fn no_policies() -> [Rule; 2] {
    [
        mock!(Client::get_lifecycle_policy).then_http_response(json_error("LifecyclePolicyNotFoundException")),
        mock!(Client::get_repository_policy).then_http_response(json_error("RepositoryPolicyNotFoundException")),
    ]
}

fn lifecycle() -> Value {
    json!({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]})
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    for props in [
        json!({"image_tag_mutability": "SOMETIMES"}),
        json!({"image_scanning_configuration": {}}),
        json!({"image_scanning_configuration": {"scan_on_push": "yes"}}),
        json!({"encryption_configuration": {"encryption_type": "KMS"}}),
        json!({"encryption_configuration": {"encryption_type": "KMS", "kms_key": "alias/ecr"}}),
        json!({"encryption_configuration": {"encryption_type": "AES256", "kms_key": KEY}}),
        json!({"encryption_configuration": {"kms_key": KEY}}),
        json!({"force_delete": "true"}),
        json!({"lifecycle_policy": 3}),
        json!({"lifecycle_policy": {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "old", "countType": "sinceImagePushed", "countNumber": 1}, "action": {"type": "expire"}}]}}),
        json!({"lifecycle_policy": {"Statement": []}}),
    ] {
        let d = desired(props.clone());
        assert!(Spec::from(&d).and_then(|s| s.encryption()).is_err(), "builder accepts {props}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {props}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts becomes a CreateRepository request.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in crate::schema_gen::props(&SCHEMA)) {
        let d = desired(Value::Object(props));
        let spec = Spec::from(&d);
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        proptest::prop_assert!(spec.encryption().is_ok());
        proptest::prop_assert!(NAMING.rule.violation(&spec.name).is_none(), "{}", spec.name);
        proptest::prop_assert!(ecr_tags(&all_tags(&d.tags, spec.force_delete)).is_ok());
    }
}

#[tokio::test]
async fn create_sends_everything_and_reads_nothing_back() {
    let seen: Arc<Mutex<Vec<CreateRepositoryInput>>> = Arc::default();
    let sink = seen.clone();
    let create = mock!(Client::create_repository).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateRepositoryOutput::builder().repository(repo(NAME, Some(KEY))).build()
    });
    let put: Arc<Mutex<Vec<PutLifecyclePolicyInput>>> = Arc::default();
    let psink = put.clone();
    let lifecycle_rule = mock!(Client::put_lifecycle_policy).then_compute_output(move |input| {
        psink.lock().unwrap().push(input.clone());
        PutLifecyclePolicyOutput::builder().build()
    });
    let list = describe(vec![]);
    let want = desired(json!({
        "image_tag_mutability": "IMMUTABLE",
        "image_scanning_configuration": {"scan_on_push": true},
        "encryption_configuration": {"encryption_type": "KMS", "kms_key": KEY},
        "force_delete": true,
        "lifecycle_policy": lifecycle(),
    }));
    let obs = kind(&[create, lifecycle_rule, list.clone()]).create(&want).await.unwrap();

    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.repository_name(), Some(NAME));
    assert_eq!(input.image_tag_mutability(), Some(&ImageTagMutability::Immutable));
    assert!(input.image_scanning_configuration().unwrap().scan_on_push());
    assert_eq!(input.encryption_configuration().unwrap().kms_key(), Some(KEY));
    let sent: Tags = input.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    assert_eq!(sent, all_tags(&want.tags, true), "ownership tags and the force-delete marker");
    let text: Value = serde_json::from_str(put.lock().unwrap()[0].lifecycle_policy_text().unwrap()).unwrap();
    assert_eq!(text, lifecycle());
    assert_eq!(list.num_calls(), 0);
    assert_eq!(obs.id, NAME);
    assert_eq!(obs.attrs["arn"], json!(ARN));
    assert_eq!(obs.attrs["repository_url"], json!("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop-dev-main"));
    assert_eq!(obs.tags, want.tags, "the marker is reported as force_delete, not as a tag");
    assert_eq!(obs.props["force_delete"], json!(true));
    assert!(crate::adopt::changed(&SCHEMA, &want, &obs).is_empty(), "{:?}", crate::adopt::changed(&SCHEMA, &want, &obs));
}

#[tokio::test]
async fn already_exists_adopts_ours_and_refuses_theirs() {
    let exists = || {
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code("RepositoryAlreadyExistsException").message("exists").build();
        mock!(Client::create_repository).then_error(move || CreateRepositoryError::generic(meta.clone()))
    };
    let want = desired(json!({"image_tag_mutability": "IMMUTABLE", "image_scanning_configuration": {"scan_on_push": true}}));
    let want = &want;
    let create_finding = |tags| {
        let k = kind(&[exists(), describe(vec![repo(NAME, None)]), tags_rule(tags)].into_iter().chain(no_policies()).collect::<Vec<_>>());
        async move { k.create(want).await }
    };
    adopts_ours_refuses_theirs(create_finding, NAME, "ECR repository shop-dev-main").await;
}

#[tokio::test]
async fn read_reports_settings_policies_and_the_force_delete_marker() {
    let mut tags = owner().tags();
    tags.insert(FORCE_DELETE_TAG.into(), "true".into());
    let text = lifecycle().to_string();
    let get = mock!(Client::get_lifecycle_policy).then_output(move || GetLifecyclePolicyOutput::builder().lifecycle_policy_text(text.clone()).build());
    let no_policy = mock!(Client::get_repository_policy).then_http_response(json_error("RepositoryPolicyNotFoundException"));
    let obs = kind(&[describe(vec![repo(NAME, Some(KEY))]), tags_rule(tags), get, no_policy]).read(NAME).await.unwrap().unwrap();
    assert_eq!(
        Value::Object(obs.props),
        json!({
            "name": NAME,
            "image_tag_mutability": "IMMUTABLE",
            "image_scanning_configuration": {"scan_on_push": true},
            "encryption_configuration": {"encryption_type": "KMS", "kms_key": KEY},
            "force_delete": true,
            "lifecycle_policy": lifecycle(),
        })
    );
    assert_eq!(obs.tags, owner().tags());
}

#[tokio::test]
async fn read_many_asks_for_every_name_at_once_and_survives_missing_ones() {
    let asked: Arc<Mutex<Vec<DescribeRepositoriesInput>>> = Arc::default();
    let sink = asked.clone();
    let list = mock!(Client::describe_repositories).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DescribeRepositoriesOutput::builder().repositories(repo("a", None)).repositories(repo("b", None)).build()
    });
    let rules: Vec<Rule> = [list.clone(), tags_rule(owner().tags())].into_iter().chain(no_policies()).collect();
    let out = kind(&rules).read_many(&["a".into(), "b".into()]).await.unwrap();
    assert_eq!((list.num_calls(), out.values().filter(|o| o.is_some()).count()), (1, 2));
    assert_eq!(asked.lock().unwrap()[0].repository_names(), ["a".to_string(), "b".to_string()]);

    // One missing name fails the whole batch: each is then asked alone.
    let missing = mock!(Client::describe_repositories)
        .match_requests(|i| i.repository_names().len() != 1 || i.repository_names()[0] == "gone")
        .then_http_response(json_error("RepositoryNotFoundException"));
    let single = describe(vec![repo("a", None)]);
    let rules: Vec<Rule> = [missing, single, tags_rule(owner().tags())].into_iter().chain(no_policies()).collect();
    let out = kind(&rules).read_many(&["a".into(), "gone".into()]).await.unwrap();
    assert!(out["a"].is_some());
    assert_eq!(out["gone"], None);
}

#[tokio::test]
async fn update_puts_scanning_lifecycle_and_the_marker() {
    let scans: Arc<Mutex<Vec<PutImageScanningConfigurationInput>>> = Arc::default();
    let ssink = scans.clone();
    let scan = mock!(Client::put_image_scanning_configuration).then_compute_output(move |input| {
        ssink.lock().unwrap().push(input.clone());
        PutImageScanningConfigurationOutput::builder().build()
    });
    let dropped = mock!(Client::delete_lifecycle_policy).then_output(|| DeleteLifecyclePolicyOutput::builder().build());
    let tagged: Arc<Mutex<Vec<TagResourceInput>>> = Arc::default();
    let tsink = tagged.clone();
    let tag = mock!(Client::tag_resource).then_compute_output(move |input| {
        tsink.lock().unwrap().push(input.clone());
        TagResourceOutput::builder().build()
    });
    let untag = mock!(Client::untag_resource).then_output(|| UntagResourceOutput::builder().build());
    let text = lifecycle().to_string();
    let get = mock!(Client::get_lifecycle_policy).then_output(move || GetLifecyclePolicyOutput::builder().lifecycle_policy_text(text.clone()).build());
    let no_policy = mock!(Client::get_repository_policy).then_http_response(json_error("RepositoryPolicyNotFoundException"));
    let want = desired(json!({"image_scanning_configuration": {"scan_on_push": false}, "force_delete": true}));
    let rules = [scan, dropped.clone(), tag, untag.clone(), describe(vec![repo(NAME, None)]), tags_rule(owner().tags()), get, no_policy];
    let changed = ["image_scanning_configuration".to_string(), "lifecycle_policy".to_string(), "force_delete".to_string()];
    let obs = kind(&rules).update(NAME, &want, &changed).await.unwrap();
    assert!(!scans.lock().unwrap()[0].image_scanning_configuration().unwrap().scan_on_push());
    assert_eq!(dropped.num_calls(), 1);
    let t = tagged.lock().unwrap().pop().unwrap();
    assert_eq!(t.resource_arn(), Some(ARN));
    assert_eq!(t.tags().iter().map(|t| (t.key(), t.value())).collect::<Vec<_>>(), [(FORCE_DELETE_TAG, "true")]);
    assert_eq!(untag.num_calls(), 0);
    assert_eq!(obs.props["force_delete"], json!(true));
    assert!(!obs.props.contains_key("lifecycle_policy"));
    assert_eq!(obs.props["encryption_configuration"], json!({"encryption_type": "AES256"}));
}

#[tokio::test]
async fn delete_forces_only_with_the_marker_and_gone_is_ok() {
    let gone_repo = mock!(Client::delete_repository).then_http_response(json_error("RepositoryNotFoundException"));
    kind(&[gone_repo]).delete(NAME).await.unwrap();

    let seen: Arc<Mutex<Vec<DeleteRepositoryInput>>> = Arc::default();
    let sink = seen.clone();
    let not_empty = mock!(Client::delete_repository).match_requests(|i| i.force() != Some(true)).then_http_response(json_error("RepositoryNotEmptyException"));
    let forced = mock!(Client::delete_repository).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DeleteRepositoryOutput::builder().build()
    });
    let mut marked = owner().tags();
    marked.insert(FORCE_DELETE_TAG.into(), "true".into());
    let rules: Vec<Rule> = [not_empty.clone(), forced, describe(vec![repo(NAME, None)]), tags_rule(marked)].into_iter().chain(no_policies()).collect();
    kind(&rules).delete(NAME).await.unwrap();
    assert_eq!(seen.lock().unwrap()[0].force(), Some(true));

    let rules: Vec<Rule> = [not_empty, describe(vec![repo(NAME, None)]), tags_rule(owner().tags())].into_iter().chain(no_policies()).collect();
    let err = kind(&rules).delete(NAME).await.unwrap_err();
    assert!(matches!(&err, ProviderError::Conflict(m) if m.contains("force_delete")), "{err:?}");
}

#[tokio::test]
async fn find_owned_matches_name_and_owner() {
    let rules: Vec<Rule> = [describe(vec![repo(NAME, None)]), tags_rule(owner().tags())].into_iter().chain(no_policies()).collect();
    assert_eq!(kind(&rules).find_owned(&desired(json!({}))).await.unwrap().unwrap().id, NAME);
    let rules: Vec<Rule> = [describe(vec![repo(NAME, None)]), tags_rule(foreign_tags())].into_iter().chain(no_policies()).collect();
    assert_eq!(kind(&rules).find_owned(&desired(json!({}))).await.unwrap(), None);
    let missing = mock!(Client::describe_repositories).then_http_response(json_error("RepositoryNotFoundException"));
    assert_eq!(kind(&[missing]).find_owned(&desired(json!({}))).await.unwrap(), None);
}
