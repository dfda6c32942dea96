//! Tests of `aws.eks.addon` against aws-smithy-mocks (moto has no EKS add-ons): create and its waits, adoption, read, update, delete, find_owned.

use std::sync::{Arc, Mutex};

use aws_sdk_eks::operation::create_addon::{CreateAddonError, CreateAddonInput, CreateAddonOutput};
use aws_sdk_eks::operation::delete_addon::{DeleteAddonInput, DeleteAddonOutput};
use aws_sdk_eks::operation::describe_addon::{DescribeAddonError, DescribeAddonOutput};
use aws_sdk_eks::operation::describe_pod_identity_association::DescribePodIdentityAssociationOutput;
use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
use aws_sdk_eks::operation::tag_resource::{TagResourceInput, TagResourceOutput};
use aws_sdk_eks::operation::update_addon::{UpdateAddonInput, UpdateAddonOutput};
use aws_sdk_eks::types::error::{ResourceInUseException, ResourceNotFoundException};
use aws_sdk_eks::types::{AddonHealth, AddonIssue, AddonIssueCode, PodIdentityAssociation, Update, UpdateStatus};
use aws_smithy_mocks::{mock, Rule};

use super::*;
use crate::eks_common::test_support::{client, desired, error};

const CLUSTER: &str = "shop-prod-cluster";
const ID: &str = "shop-prod-cluster:aws-ebs-csi-driver";
const ARN: &str = "arn:aws:eks:us-east-1:111122223333:addon/shop-prod-cluster/aws-ebs-csi-driver/uuid";
const ROLE: &str = "arn:aws:iam::111122223333:role/ebs-csi";
const ASSOC_ARN: &str = "arn:aws:eks:us-east-1:111122223333:podidentityassociation/shop-prod-cluster/a-abc123";
const CONFIG: &str = r#"{"controller":{"replicaCount":2}}"#;

fn props() -> Value {
    json!({
        "cluster_name": CLUSTER, "addon_name": "aws-ebs-csi-driver", "addon_version": "v1.35.0-eksbuild.1",
        "configuration_values": CONFIG, "resolve_conflicts_on_create": "OVERWRITE", "resolve_conflicts_on_update": "PRESERVE",
        "pod_identity_association": [{"role_arn": ROLE, "service_account": "ebs-csi-controller-sa"}]
    })
}

fn want() -> Desired {
    desired(props(), "ebs_csi")
}

fn addon(status: AddonStatus, tags: &Tags) -> Addon {
    addon_builder(status, tags).build()
}

fn addon_builder(status: AddonStatus, tags: &Tags) -> aws_sdk_eks::types::builders::AddonBuilder {
    Addon::builder()
        .cluster_name(CLUSTER)
        .addon_name("aws-ebs-csi-driver")
        .addon_arn(ARN)
        .addon_version("v1.35.0-eksbuild.1")
        .status(status)
        .configuration_values(CONFIG)
        .pod_identity_associations(ASSOC_ARN)
        .set_tags(Some(tags.clone().into_iter().collect()))
}

fn describing(statuses: &[AddonStatus], tags: Tags) -> Rule {
    let mut b = mock!(Client::describe_addon).sequence();
    for s in statuses {
        let a = addon(s.clone(), &tags);
        b = b.output(move || DescribeAddonOutput::builder().addon(a.clone()).build());
    }
    b.repeatedly().build()
}

fn association() -> Rule {
    mock!(Client::describe_pod_identity_association).match_requests(|i| i.association_id() == Some("a-abc123")).then_output(|| {
        DescribePodIdentityAssociationOutput::builder()
            .association(
                PodIdentityAssociation::builder()
                    .cluster_name(CLUSTER)
                    .namespace("kube-system")
                    .service_account("ebs-csi-controller-sa")
                    .role_arn(ROLE)
                    .build(),
            )
            .build()
    })
}

fn not_found() -> Rule {
    mock!(Client::describe_addon).then_error(|| {
        DescribeAddonError::ResourceNotFoundException(ResourceNotFoundException::builder().message("No addon").meta(error("ResourceNotFoundException")).build())
    })
}

fn in_use() -> Rule {
    mock!(Client::create_addon).then_error(|| {
        CreateAddonError::ResourceInUseException(ResourceInUseException::builder().message("exists").meta(error("ResourceInUseException")).build())
    })
}

#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    let with = |key: &str, bad: Value| {
        let mut p = props();
        p[key] = bad;
        p
    };
    for p in [
        json!({"cluster_name": CLUSTER}),
        json!({"addon_name": "vpc-cni"}),
        with("configuration_values", json!("{not json")),
        with("configuration_values", json!("[1, 2]")),
        with("resolve_conflicts_on_create", json!("PRESERVE")),
        with("resolve_conflicts_on_update", json!("KEEP")),
        with("service_account_role_arn", json!("ebs-csi-role")),
        with("addon_name", json!("vpc cni")),
        with("pod_identity_association", json!([{"role_arn": ROLE}])),
        with("pod_identity_association", json!([{"role_arn": ROLE, "service_account": "Upper"}])),
        with("pod_identity_association", json!([{"role_arn": ROLE, "service_account": "b"}, {"role_arn": ROLE, "service_account": "a"}])),
        with("pod_identity_association", json!([{"role_arn": ROLE, "service_account": "a"}, {"role_arn": ROLE, "service_account": "a"}])),
        with("preserve", json!("yes")),
        with("wait_timeout_minutes", json!(0)),
    ] {
        let d = desired(p.clone(), "addon");
        assert!(Spec::from(&d).is_err(), "builder accepts {p}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {p}");
    }
}

/// Add-ons drawn from what AWS takes (a draw from the types alone would almost never give role ARNs or JSON).
fn addons() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let name = "[a-z][a-z0-9_-]{0,30}";
    let version = proptest::option::of("v[0-9]\\.[0-9]{1,2}\\.[0-9]-eksbuild\\.[0-9]");
    let config = proptest::option::of(proptest::collection::btree_map("[a-zA-Z]{1,8}", 0..100i64, 0..4));
    let role = proptest::option::of("[a-z0-9-]{1,20}".prop_map(|n| format!("arn:aws:iam::111122223333:role/{n}")));
    let accounts = proptest::collection::btree_set("[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?", 0..3);
    let flags = (proptest::option::of(prop_oneof!["NONE", "OVERWRITE"]), proptest::option::of(prop_oneof!["NONE", "OVERWRITE", "PRESERVE"]), any::<bool>());
    (name, version, config, role, accounts, flags).prop_map(|(name, version, config, role, accounts, (on_create, on_update, preserve))| {
        let mut p = json!({"cluster_name": CLUSTER, "addon_name": name, "preserve": preserve});
        let mut set = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                p[k] = v;
            }
        };
        set("addon_version", version.map(Value::from));
        set("configuration_values", config.map(|c| Value::from(serde_json::to_string(&c).unwrap())));
        set("service_account_role_arn", role.clone().map(Value::from));
        set("resolve_conflicts_on_create", on_create.map(Value::from));
        set("resolve_conflicts_on_update", on_update.map(Value::from));
        let r = role.unwrap_or_else(|| ROLE.into());
        set("pod_identity_association", Some(accounts.into_iter().map(|a| json!({"role_arn": r, "service_account": a})).collect()));
        p
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every add-on the schema accepts becomes a CreateAddon request.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(p in addons()) {
        let d = desired(p, "addon");
        proptest::prop_assert!(crate::schema_check::accepts(&SCHEMA, &d.props), "{:?}", d.props);
        let spec = Spec::from(&d);
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        proptest::prop_assert!(spec.associations().is_ok());
        proptest::prop_assert_eq!(spec.on_create.as_deref().map(ResolveConflicts::from).map(|r| r.as_str().to_string()), spec.on_create.clone());
    }
}

#[tokio::test]
async fn create_sends_everything_with_the_token_and_waits_through_creating_and_degraded() {
    let seen: Arc<Mutex<Vec<CreateAddonInput>>> = Arc::default();
    let sink = seen.clone();
    let create = mock!(Client::create_addon).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreateAddonOutput::builder().build()
    });
    let mut p = props();
    p["preserve"] = json!(true);
    let d = desired(p, "ebs_csi");
    let mut on_aws = d.tags.clone();
    on_aws.insert(PRESERVE_TAG.into(), "true".into());
    let describe = describing(&[AddonStatus::Creating, AddonStatus::Degraded, AddonStatus::Active], on_aws);
    let obs = EksAddon::from_client(client(&[&create, &describe, &association()])).create(&d).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!((input.cluster_name(), input.addon_name(), input.addon_version()), (Some(CLUSTER), Some("aws-ebs-csi-driver"), Some("v1.35.0-eksbuild.1")));
    assert_eq!(input.client_request_token(), Some("token-1"));
    assert_eq!(input.configuration_values(), Some(CONFIG));
    assert_eq!(input.resolve_conflicts(), Some(&ResolveConflicts::Overwrite));
    let pia = &input.pod_identity_associations()[0];
    assert_eq!((pia.service_account(), pia.role_arn()), ("ebs-csi-controller-sa", ROLE));
    let tags = input.tags().unwrap();
    assert_eq!(tags.get(PRESERVE_TAG).map(String::as_str), Some("true"));
    assert_eq!(tags.get("cairn:address").map(String::as_str), Some("ebs_csi"));
    assert_eq!(obs.id, ID);
    assert_eq!(obs.props["preserve"], json!(true));
    assert_eq!(obs.props["pod_identity_association"], json!([{"role_arn": ROLE, "service_account": "ebs-csi-controller-sa"}]));
    assert!(!obs.tags.contains_key(PRESERVE_TAG), "the marker is a prop, not a stack tag");
    assert_eq!(obs.attrs["status"], json!("ACTIVE"));
}

#[tokio::test]
async fn create_failed_is_an_error_naming_the_health_issues() {
    let create = mock!(Client::create_addon).then_output(|| CreateAddonOutput::builder().build());
    let issue = AddonIssue::builder()
        .code(AddonIssueCode::InsufficientNumberOfReplicas)
        .message("The add-on is unhealthy because it doesn't have the desired number of replicas")
        .build();
    let failed = addon_builder(AddonStatus::CreateFailed, &want().tags).health(AddonHealth::builder().issues(issue).build()).build();
    let describe = mock!(Client::describe_addon).then_output(move || DescribeAddonOutput::builder().addon(failed.clone()).build());
    let r = EksAddon::from_client(client(&[&create, &describe])).create(&want()).await;
    assert!(matches!(&r, Err(ProviderError::Fatal(m)) if m.contains("CREATE_FAILED") && m.contains("InsufficientNumberOfReplicas")), "{r:?}");
}

#[tokio::test]
async fn a_wait_that_runs_out_reports_the_status_and_issues() {
    let create = mock!(Client::create_addon).then_output(|| CreateAddonOutput::builder().build());
    let describe = describing(&[AddonStatus::Degraded], want().tags);
    let mut p = props();
    p["wait_timeout_minutes"] = json!(2);
    let r = EksAddon::from_client(client(&[&create, &describe, &association()])).create(&desired(p, "ebs_csi")).await;
    assert!(matches!(&r, Err(ProviderError::Retryable(m)) if m.contains("DEGRADED") && m.contains("2 minutes")), "{r:?}");
}

#[tokio::test]
async fn a_lost_create_is_adopted_only_with_this_owners_tags() {
    // The first attempt made it; the retry meets ResourceInUseException and takes it over.
    let describe = describing(&[AddonStatus::Creating, AddonStatus::Active], want().tags);
    let obs = EksAddon::from_client(client(&[&in_use(), &describe, &association()])).create(&want()).await.unwrap();
    assert_eq!(obs.id, ID);
    let foreign = describing(&[AddonStatus::Active], crate::adopt::testing::foreign_tags());
    let r = EksAddon::from_client(client(&[&in_use(), &foreign, &association()])).create(&want()).await;
    assert!(matches!(&r, Err(ProviderError::Conflict(m)) if m.contains("not created by")), "{r:?}");
}

#[tokio::test]
async fn read_by_cluster_and_name_and_none_when_gone() {
    let obs = EksAddon::from_client(client(&[&describing(&[AddonStatus::Active], want().tags), &association()])).read(ID).await.unwrap().unwrap();
    assert_eq!(obs.props["configuration_values"], json!(CONFIG));
    assert_eq!(obs.props["addon_version"], json!("v1.35.0-eksbuild.1"));
    assert_eq!(obs.attrs["arn"], json!(ARN));
    assert_eq!(EksAddon::from_client(client(&[&not_found()])).read(ID).await.unwrap(), None);
    assert!(matches!(EksAddon::from_client(client(&[])).read("no-separator").await, Err(ProviderError::Invalid(_))));
}

#[tokio::test]
async fn update_sends_update_addon_and_waits_for_its_update() {
    let seen: Arc<Mutex<Vec<UpdateAddonInput>>> = Arc::default();
    let sink = seen.clone();
    let update = mock!(Client::update_addon).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        UpdateAddonOutput::builder().update(Update::builder().id("u-1").status(UpdateStatus::InProgress).build()).build()
    });
    let polled = mock!(Client::describe_update)
        .match_requests(|i| i.addon_name() == Some("aws-ebs-csi-driver") && i.update_id() == Some("u-1"))
        .sequence()
        .output(|| DescribeUpdateOutput::builder().update(Update::builder().id("u-1").status(UpdateStatus::InProgress).build()).build())
        .output(|| DescribeUpdateOutput::builder().update(Update::builder().id("u-1").status(UpdateStatus::Successful).build()).build())
        .build();
    let describe = describing(&[AddonStatus::Active], want().tags);
    let kind = EksAddon::from_client(client(&[&update, &polled, &describe, &association()]));
    let obs = kind.update(ID, &want(), &["addon_version".into(), "configuration_values".into()]).await.unwrap();
    assert_eq!(obs.id, ID);
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.resolve_conflicts(), Some(&ResolveConflicts::Preserve));
    assert_eq!(input.addon_version(), Some("v1.35.0-eksbuild.1"));
    assert_eq!(input.client_request_token(), Some("token-1-update"));
    assert_eq!(polled.num_calls(), 2);
}

#[tokio::test]
async fn a_failed_update_is_an_error() {
    let update = mock!(Client::update_addon)
        .then_output(|| UpdateAddonOutput::builder().update(Update::builder().id("u-2").status(UpdateStatus::Failed).build()).build());
    let r = EksAddon::from_client(client(&[&update])).update(ID, &want(), &["addon_version".into()]).await;
    assert!(matches!(&r, Err(ProviderError::Fatal(m)) if m.contains("u-2")), "{r:?}");
}

#[tokio::test]
async fn preserve_and_tags_change_through_tag_resource() {
    let seen: Arc<Mutex<Vec<TagResourceInput>>> = Arc::default();
    let sink = seen.clone();
    let tag = mock!(Client::tag_resource).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        TagResourceOutput::builder().build()
    });
    let mut p = props();
    p["preserve"] = json!(true);
    let describe = describing(&[AddonStatus::Active], want().tags);
    EksAddon::from_client(client(&[&tag, &describe, &association()])).update(ID, &desired(p, "ebs_csi"), &["preserve".into()]).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(input.resource_arn(), Some(ARN));
    assert_eq!(input.tags().unwrap().get(PRESERVE_TAG).map(String::as_str), Some("true"));
}

#[tokio::test]
async fn delete_passes_preserve_from_the_tag_and_waits_until_gone() {
    let seen: Arc<Mutex<Vec<DeleteAddonInput>>> = Arc::default();
    let sink = seen.clone();
    let del = mock!(Client::delete_addon).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DeleteAddonOutput::builder().build()
    });
    let mut tags = want().tags;
    tags.insert(PRESERVE_TAG.into(), "true".into());
    let a = addon(AddonStatus::Active, &tags);
    let deleting = addon(AddonStatus::Deleting, &tags);
    let describe = mock!(Client::describe_addon)
        .sequence()
        .output(move || DescribeAddonOutput::builder().addon(a.clone()).build())
        .output(move || DescribeAddonOutput::builder().addon(deleting.clone()).build())
        .error(|| {
            DescribeAddonError::ResourceNotFoundException(ResourceNotFoundException::builder().message("gone").meta(error("ResourceNotFoundException")).build())
        })
        .build();
    EksAddon::from_client(client(&[&del, &describe])).delete(ID).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!((input.cluster_name(), input.addon_name(), input.preserve()), (Some(CLUSTER), Some("aws-ebs-csi-driver"), Some(true)));
    assert_eq!(describe.num_calls(), 3);
    // Already gone: nothing to delete.
    EksAddon::from_client(client(&[&not_found()])).delete(ID).await.unwrap();
}

#[tokio::test]
async fn find_owned_reads_the_add_on_and_checks_its_tags() {
    let found = EksAddon::from_client(client(&[&describing(&[AddonStatus::Active], want().tags), &association()])).find_owned(&want()).await.unwrap();
    assert_eq!(found.map(|o| o.id), Some(ID.to_string()));
    let foreign = describing(&[AddonStatus::Active], crate::adopt::testing::foreign_tags());
    assert_eq!(EksAddon::from_client(client(&[&foreign, &association()])).find_owned(&want()).await.unwrap(), None);
    assert_eq!(EksAddon::from_client(client(&[&not_found()])).find_owned(&want()).await.unwrap(), None);
}

#[test]
fn iam_actions_cover_every_call() {
    let kind = EksAddon::from_client(client(&[]));
    for (op, calls) in [
        (Operation::Create, &["CreateAddon", "DescribeAddon", "TagResource", "DescribePodIdentityAssociation"][..]),
        (Operation::Update, &["UpdateAddon", "DescribeUpdate", "TagResource", "UntagResource"][..]),
        (Operation::Delete, &["DeleteAddon", "DescribeAddon"][..]),
        (Operation::Read, &["DescribeAddon"][..]),
    ] {
        for c in calls {
            assert!(kind.iam_actions(op).contains(&format!("eks:{c}").as_str()), "{op:?}: eks:{c}");
        }
    }
    assert!(kind.iam_actions(Operation::Create).contains(&"iam:PassRole"));
}
