//! Tests of `aws.eks.pod_identity_association` against aws-smithy-mocks (moto has no EKS Pod Identity): create, a lost create, read, update, delete, find_owned.

use std::sync::{Arc, Mutex};

use aws_sdk_eks::operation::create_pod_identity_association::{
    CreatePodIdentityAssociationError, CreatePodIdentityAssociationInput, CreatePodIdentityAssociationOutput,
};
use aws_sdk_eks::operation::delete_pod_identity_association::{
    DeletePodIdentityAssociationError, DeletePodIdentityAssociationInput, DeletePodIdentityAssociationOutput,
};
use aws_sdk_eks::operation::describe_pod_identity_association::{DescribePodIdentityAssociationError, DescribePodIdentityAssociationOutput};
use aws_sdk_eks::operation::list_pod_identity_associations::{ListPodIdentityAssociationsError, ListPodIdentityAssociationsOutput};
use aws_sdk_eks::operation::untag_resource::{UntagResourceInput, UntagResourceOutput};
use aws_sdk_eks::operation::update_pod_identity_association::{UpdatePodIdentityAssociationInput, UpdatePodIdentityAssociationOutput};
use aws_sdk_eks::types::error::{ResourceInUseException, ResourceNotFoundException};
use aws_sdk_eks::types::PodIdentityAssociationSummary;
use aws_smithy_mocks::{mock, Rule};
use cairn_engine::provider::Tags;

use super::*;
use crate::eks_common::test_support::{client, desired, error};

const CLUSTER: &str = "shop-prod-cluster";
const ASSOC: &str = "a-1a2b3c4d5e6f7g8h9";
const ID: &str = "shop-prod-cluster:a-1a2b3c4d5e6f7g8h9";
const ARN: &str = "arn:aws:eks:us-east-1:111122223333:podidentityassociation/shop-prod-cluster/a-1a2b3c4d5e6f7g8h9";
const ROLE: &str = "arn:aws:iam::111122223333:role/orders-worker";
const OTHER_ROLE: &str = "arn:aws:iam::111122223333:role/orders-worker-2";

fn props() -> Value {
    json!({"cluster_name": CLUSTER, "namespace": "orders", "service_account": "worker", "role_arn": ROLE})
}

fn want() -> Desired {
    desired(props(), "orders_identity")
}

fn association(role: &str, tags: &Tags) -> PodIdentityAssociation {
    PodIdentityAssociation::builder()
        .cluster_name(CLUSTER)
        .namespace("orders")
        .service_account("worker")
        .role_arn(role)
        .association_id(ASSOC)
        .association_arn(ARN)
        .disable_session_tags(false)
        .set_tags(Some(tags.clone().into_iter().collect()))
        .build()
}

fn describing(role: &'static str, tags: Tags) -> Rule {
    mock!(Client::describe_pod_identity_association)
        .then_output(move || DescribePodIdentityAssociationOutput::builder().association(association(role, &tags)).build())
}

fn listed() -> Rule {
    mock!(Client::list_pod_identity_associations).match_requests(|i| i.namespace() == Some("orders") && i.service_account() == Some("worker")).then_output(
        || {
            ListPodIdentityAssociationsOutput::builder()
                .associations(
                    PodIdentityAssociationSummary::builder().cluster_name(CLUSTER).namespace("orders").service_account("worker").association_id(ASSOC).build(),
                )
                .build()
        },
    )
}

fn in_use() -> Rule {
    mock!(Client::create_pod_identity_association).then_error(|| {
        CreatePodIdentityAssociationError::ResourceInUseException(
            ResourceInUseException::builder().message("exists").meta(error("ResourceInUseException")).build(),
        )
    })
}

fn not_found() -> Rule {
    mock!(Client::describe_pod_identity_association).then_error(|| {
        DescribePodIdentityAssociationError::ResourceNotFoundException(
            ResourceNotFoundException::builder().message("gone").meta(error("ResourceNotFoundException")).build(),
        )
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
        json!({"cluster_name": CLUSTER, "namespace": "orders", "service_account": "worker"}),
        with("namespace", json!("Orders")),
        with("namespace", json!("orders.team")),
        with("namespace", json!("-orders")),
        with("namespace", json!("a".repeat(64))),
        with("service_account", json!("worker-")),
        with("service_account", json!("worker_1")),
        with("role_arn", json!("orders-worker")),
        with("target_role_arn", json!("arn:aws:iam::222233334444:user/x")),
        with("disable_session_tags", json!("no")),
    ] {
        let d = desired(p.clone(), "a");
        assert!(Spec::from(&d).is_err(), "builder accepts {p}");
        assert!(!crate::schema_check::accepts(&SCHEMA, &d.props), "schema accepts {p}");
    }
}

fn associations() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let ns = "[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?";
    let sa = "[a-z0-9]([a-z0-9.-]{0,40}[a-z0-9])?";
    let role = "[a-zA-Z0-9+=,.@_-]{1,40}".prop_map(|n| format!("arn:aws:iam::111122223333:role/{n}"));
    let target = proptest::option::of("[a-z0-9-]{1,20}".prop_map(|n| format!("arn:aws:iam::222233334444:role/{n}")));
    (ns, sa, role, target, any::<bool>()).prop_map(|(ns, sa, role, target, disable)| {
        let mut p = json!({"cluster_name": CLUSTER, "namespace": ns, "service_account": sa, "role_arn": role, "disable_session_tags": disable});
        if let Some(t) = target {
            p["target_role_arn"] = json!(t);
        }
        p
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every association the schema accepts becomes a request that reads back the same.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(p in associations()) {
        let d = desired(p, "a");
        proptest::prop_assert!(crate::schema_check::accepts(&SCHEMA, &d.props), "{:?}", d.props);
        let spec = Spec::from(&d);
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let s = spec.unwrap();
        let built = PodIdentityAssociation::builder()
            .cluster_name(&s.cluster)
            .namespace(&s.namespace)
            .service_account(&s.service_account)
            .role_arn(&s.role)
            .set_target_role_arn(s.target_role.clone())
            .disable_session_tags(s.disable_session_tags)
            .association_id(ASSOC)
            .build();
        let back = observed(&built);
        for k in ["cluster_name", "namespace", "service_account", "role_arn", "target_role_arn", "disable_session_tags"] {
            proptest::prop_assert_eq!(back.props.get(k), d.props.get(k), "{}", k);
        }
    }
}

#[tokio::test]
async fn create_sends_role_tags_and_the_token() {
    let seen: Arc<Mutex<Vec<CreatePodIdentityAssociationInput>>> = Arc::default();
    let sink = seen.clone();
    let tags = want().tags;
    let create = mock!(Client::create_pod_identity_association).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        CreatePodIdentityAssociationOutput::builder().association(association(ROLE, &tags)).build()
    });
    let obs = EksPodIdentityAssociation::from_client(client(&[&create])).create(&want()).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!(
        (input.cluster_name(), input.namespace(), input.service_account(), input.role_arn()),
        (Some(CLUSTER), Some("orders"), Some("worker"), Some(ROLE))
    );
    assert_eq!(input.client_request_token(), Some("token-1"));
    assert_eq!(input.tags().unwrap().get("cairn:address").map(String::as_str), Some("orders_identity"));
    assert_eq!(obs.id, ID);
    assert_eq!(obs.attrs["association_arn"], json!(ARN));
    assert_eq!(obs.props["disable_session_tags"], json!(false));
}

#[tokio::test]
async fn a_lost_create_is_adopted_only_with_this_owners_tags() {
    // The service account already has an association: ours from an attempt whose answer was lost.
    let obs = EksPodIdentityAssociation::from_client(client(&[&in_use(), &listed(), &describing(ROLE, want().tags)])).create(&want()).await.unwrap();
    assert_eq!(obs.id, ID);
    // Ours with another role (the props changed between the attempts): brought to the desired role.
    let update = mock!(Client::update_pod_identity_association).then_output(|| UpdatePodIdentityAssociationOutput::builder().build());
    let describe = mock!(Client::describe_pod_identity_association)
        .sequence()
        .output(|| DescribePodIdentityAssociationOutput::builder().association(association(OTHER_ROLE, &want().tags)).build())
        .output(|| DescribePodIdentityAssociationOutput::builder().association(association(ROLE, &want().tags)).build())
        .repeatedly()
        .build();
    let obs = EksPodIdentityAssociation::from_client(client(&[&in_use(), &listed(), &describe, &update])).create(&want()).await.unwrap();
    assert_eq!(obs.props["role_arn"], json!(ROLE));
    assert_eq!(update.num_calls(), 1);
    let foreign = describing(ROLE, crate::adopt::testing::foreign_tags());
    let r = EksPodIdentityAssociation::from_client(client(&[&in_use(), &listed(), &foreign])).create(&want()).await;
    assert!(matches!(&r, Err(ProviderError::Conflict(m)) if m.contains("not created by")), "{r:?}");
}

#[tokio::test]
async fn read_by_cluster_and_association_id() {
    let obs = EksPodIdentityAssociation::from_client(client(&[&describing(ROLE, want().tags)])).read(ID).await.unwrap().unwrap();
    assert_eq!(obs.props["namespace"], json!("orders"));
    assert_eq!(obs.attrs["association_id"], json!(ASSOC));
    assert_eq!(EksPodIdentityAssociation::from_client(client(&[&not_found()])).read(ID).await.unwrap(), None);
    assert!(matches!(EksPodIdentityAssociation::from_client(client(&[])).read("a-only").await, Err(ProviderError::Invalid(_))));
}

#[tokio::test]
async fn update_changes_the_role_and_the_tags() {
    let seen: Arc<Mutex<Vec<UpdatePodIdentityAssociationInput>>> = Arc::default();
    let sink = seen.clone();
    let update = mock!(Client::update_pod_identity_association).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        UpdatePodIdentityAssociationOutput::builder().build()
    });
    let untagged: Arc<Mutex<Vec<UntagResourceInput>>> = Arc::default();
    let usink = untagged.clone();
    let untag = mock!(Client::untag_resource).then_compute_output(move |input| {
        usink.lock().unwrap().push(input.clone());
        UntagResourceOutput::builder().build()
    });
    let mut on_aws = want().tags;
    on_aws.insert("old".into(), "x".into());
    let describe = describing(ROLE, on_aws);
    let kind = EksPodIdentityAssociation::from_client(client(&[&update, &untag, &describe]));
    kind.update(ID, &want(), &["role_arn".into(), "tags".into()]).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!((input.cluster_name(), input.association_id(), input.role_arn()), (Some(CLUSTER), Some(ASSOC), Some(ROLE)));
    assert_eq!(input.client_request_token(), Some("token-1-update"));
    let u = untagged.lock().unwrap().pop().unwrap();
    assert_eq!((u.resource_arn(), u.tag_keys()), (Some(ARN), ["old".to_string()].as_slice()));
}

#[tokio::test]
async fn delete_names_the_association_and_tolerates_gone() {
    let seen: Arc<Mutex<Vec<DeletePodIdentityAssociationInput>>> = Arc::default();
    let sink = seen.clone();
    let del = mock!(Client::delete_pod_identity_association).then_compute_output(move |input| {
        sink.lock().unwrap().push(input.clone());
        DeletePodIdentityAssociationOutput::builder().build()
    });
    EksPodIdentityAssociation::from_client(client(&[&del])).delete(ID).await.unwrap();
    let input = seen.lock().unwrap().pop().unwrap();
    assert_eq!((input.cluster_name(), input.association_id()), (Some(CLUSTER), Some(ASSOC)));
    let gone = mock!(Client::delete_pod_identity_association).then_error(|| {
        DeletePodIdentityAssociationError::ResourceNotFoundException(
            ResourceNotFoundException::builder().message("gone").meta(error("ResourceNotFoundException")).build(),
        )
    });
    EksPodIdentityAssociation::from_client(client(&[&gone])).delete(ID).await.unwrap();
}

#[tokio::test]
async fn find_owned_lists_the_service_account_and_checks_tags() {
    let found = EksPodIdentityAssociation::from_client(client(&[&listed(), &describing(ROLE, want().tags)])).find_owned(&want()).await.unwrap();
    assert_eq!(found.map(|o| o.id), Some(ID.to_string()));
    let foreign = describing(ROLE, crate::adopt::testing::foreign_tags());
    assert_eq!(EksPodIdentityAssociation::from_client(client(&[&listed(), &foreign])).find_owned(&want()).await.unwrap(), None);
    let none = mock!(Client::list_pod_identity_associations).then_output(|| ListPodIdentityAssociationsOutput::builder().build());
    assert_eq!(EksPodIdentityAssociation::from_client(client(&[&none])).find_owned(&want()).await.unwrap(), None);
    let cluster_gone = mock!(Client::list_pod_identity_associations).then_error(|| {
        ListPodIdentityAssociationsError::ResourceNotFoundException(
            ResourceNotFoundException::builder().message("no cluster").meta(error("ResourceNotFoundException")).build(),
        )
    });
    assert_eq!(EksPodIdentityAssociation::from_client(client(&[&cluster_gone])).find_owned(&want()).await.unwrap(), None);
}
