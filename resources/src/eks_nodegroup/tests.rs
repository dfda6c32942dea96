//! Unit tests of `aws.eks.nodegroup` on mocked EKS: the schema against the request builder, create, read, update and delete.

pub(super) use super::schema::*;
pub(super) use super::spec::*;
pub(super) use super::*;
pub(super) use crate::eks_common::test_support::{client, desired, error};
pub(super) use aws_sdk_eks::operation::create_nodegroup::CreateNodegroupOutput;
pub(super) use aws_sdk_eks::operation::delete_nodegroup::DeleteNodegroupOutput;
pub(super) use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
pub(super) use aws_sdk_eks::operation::describe_nodegroup::{DescribeNodegroupError, DescribeNodegroupOutput};
pub(super) use aws_sdk_eks::operation::describe_update::DescribeUpdateOutput;
pub(super) use aws_sdk_eks::operation::update_nodegroup_config::UpdateNodegroupConfigOutput;
pub(super) use aws_sdk_eks::types::error::ResourceNotFoundException;
pub(super) use aws_sdk_eks::types::{AmiTypes, CapacityTypes, NodegroupScalingConfig, Taint, TaintEffect};
pub(super) use aws_sdk_eks::types::{Cluster, ClusterStatus, Issue, NodegroupHealth, NodegroupIssueCode, NodegroupStatus, Update, UpdateStatus};
pub(super) use aws_smithy_mocks::mock;
pub(super) use cairn_engine::provider::Tags;
pub(super) use serde_json::{json, Value};

pub(super) const CLUSTER: &str = "shop-prod-cluster";
pub(super) const NAME: &str = "shop-prod-workers";
pub(super) const ID: &str = "shop-prod-cluster:shop-prod-workers";
pub(super) const ARN: &str = "arn:aws:eks:us-east-1:111122223333:nodegroup/shop-prod-cluster/shop-prod-workers/uuid";
pub(super) const ROLE: &str = "arn:aws:iam::111122223333:role/nodes";

pub(super) fn props() -> Value {
    json!({
        "cluster_name": CLUSTER, "node_role_arn": ROLE, "subnet_ids": ["subnet-a", "subnet-b"],
        "instance_types": ["m5.large", "m6i.large"], "capacity_type": "SPOT", "ami_type": "AL2023_x86_64_STANDARD", "disk_size": 50,
        "desired_size": 2, "min_size": 1, "max_size": 4, "labels": {"role": "worker", "tier": "batch"},
        "taints": [{"key": "dedicated", "value": "batch", "effect": "NO_SCHEDULE"}, {"key": "spot", "effect": "PREFER_NO_SCHEDULE"}]
    })
}

pub(super) fn nodegroup(status: NodegroupStatus, tags: &Tags) -> Nodegroup {
    Nodegroup::builder()
        .cluster_name(CLUSTER)
        .nodegroup_name(NAME)
        .nodegroup_arn(ARN)
        .status(status)
        .node_role(ROLE)
        .subnets("subnet-b")
        .subnets("subnet-a")
        .instance_types("m6i.large")
        .instance_types("m5.large")
        .capacity_type(CapacityTypes::Spot)
        .ami_type(AmiTypes::Al2023X8664Standard)
        .disk_size(50)
        .scaling_config(NodegroupScalingConfig::builder().min_size(1).max_size(4).desired_size(2).build())
        .labels("tier", "batch")
        .labels("role", "worker")
        .taints(Taint::builder().key("spot").effect(TaintEffect::PreferNoSchedule).build())
        .taints(Taint::builder().key("dedicated").value("batch").effect(TaintEffect::NoSchedule).build())
        .set_tags(Some(tags.clone().into_iter().collect()))
        .build()
}

pub(super) fn describing(status: NodegroupStatus, tags: Tags) -> DescribeNodegroupOutput {
    DescribeNodegroupOutput::builder().nodegroup(nodegroup(status, &tags)).build()
}

pub(super) fn not_found() -> DescribeNodegroupError {
    DescribeNodegroupError::ResourceNotFoundException(
        ResourceNotFoundException::builder().message("No node group found").meta(error("ResourceNotFoundException")).build(),
    )
}

pub(super) fn active_cluster() -> DescribeClusterOutput {
    DescribeClusterOutput::builder().cluster(Cluster::builder().name(CLUSTER).status(ClusterStatus::Active).build()).build()
}

pub(super) fn assert_actions(actions: &[&str], operations: &[&str]) {
    for op in operations {
        assert!(actions.contains(&format!("eks:{op}").as_str()), "eks:{op} missing from {actions:?}");
    }
}

#[test]
fn the_wait_default_is_the_schemas() {
    assert_eq!(SCHEMA.prop("wait_timeout_minutes").and_then(|p| p.default_value()), Some(json!(DEFAULT_WAIT_MINUTES)));
    assert_eq!(crate::eks_cluster::SCHEMA.prop("wait_timeout_minutes").and_then(|p| p.default_value()), Some(json!(DEFAULT_WAIT_MINUTES)));
}

/// `validate` refuses at their place what an apply would have failed on, nested values included.
#[test]
fn validate_refuses_bad_values_with_their_location() {
    use cairn_engine::compile::{compile_source, CompileOptions};
    use cairn_engine::source::SourceFile;
    let text = "stack: shop\nresources:\n  workers:\n    type: aws.eks.nodegroup\n    props:\n      cluster_name: shop\n      node_role_arn: arn:aws:iam::111122223333:role/nodes\n      subnet_ids: [subnet-a]\n      min_size: 1\n      max_size: 0\n      capacity_type: spot\n      taints: [{ key: gpu, effect: NoSchedule }]\n";
    let file = SourceFile::new("stack.yaml", text.to_string());
    let rendered = match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas) {
        Ok(_) => panic!("validate accepted the stack"),
        Err(d) => d.render(&file),
    };
    for want in ["stack.yaml:10:", "`max_size` must be from 1", "stack.yaml:11:", "`capacity_type` must be one of", "stack.yaml:12:", "`taints[0].effect`"] {
        assert!(rendered.contains(want), "{want:?} missing from:\n{rendered}");
    }
}

/// Sizes out of order are refused by `validate`, located at the first size written.
#[test]
fn validate_refuses_sizes_out_of_order_at_min_size() {
    use cairn_engine::compile::{compile_source, CompileOptions};
    use cairn_engine::source::SourceFile;
    let text = "stack: shop\nresources:\n  workers:\n    type: aws.eks.nodegroup\n    props:\n      cluster_name: shop\n      node_role_arn: arn:aws:iam::111122223333:role/nodes\n      subnet_ids: [subnet-a]\n      min_size: 5\n      max_size: 2\n";
    let file = SourceFile::new("stack.yaml", text.to_string());
    let diags = match compile_source(&file, &CompileOptions { env: "dev".into(), ..Default::default() }, &crate::Schemas) {
        Ok(_) => panic!("validate accepted the stack"),
        Err(d) => d,
    };
    let found: Vec<(usize, String)> = diags.iter().map(|d| (d.span.map_or(0, |s| s.line), d.message.clone())).collect();
    assert_eq!(found, vec![(9, "`workers` (aws.eks.nodegroup): min_size 5 is above max_size 2".to_string())]);
}

/// The schema refuses what the request builder refuses (the other half of the agreement test).
#[test]
fn the_schema_refuses_what_the_builder_refuses() {
    let with = |key: &str, bad: Value| {
        let mut p = props();
        p[key] = bad;
        p
    };
    let without = |key: &str| {
        let mut p = props();
        p.as_object_mut().unwrap().remove(key);
        p
    };
    for p in [
        without("cluster_name"),
        without("node_role_arn"),
        without("min_size"),
        without("max_size"),
        with("cluster_name", json!("")),
        with("subnet_ids", json!([])),
        with("subnet_ids", json!("subnet-a")),
        with("max_size", json!(0)),
        with("min_size", json!(-1)),
        with("desired_size", json!(5_000_000_000i64)),
        with("disk_size", json!("50")),
        with("capacity_type", json!("spot")),
        with("taints", json!([{"key": "a", "effect": "NoSchedule"}])),
        with("taints", json!([{"key": "a", "effect": "NO_SCHEDULE"}, {"key": "a", "value": "b", "effect": "NO_SCHEDULE"}])),
        with("taints", json!({"key": "a"})),
        with("taints", json!([{"key": "a", "effect": "NO_SCHEDULE", "operator": "Equal"}])),
        with("labels", json!({"a": 1})),
        with("instance_types", json!("m5.large")),
        with("wait_timeout_minutes", json!(0)),
        with("min_size", json!(9)),
        with("desired_size", json!(9)),
    ] {
        let d = desired(p.clone(), "workers");
        assert!(Spec::from(&d).is_err(), "builder accepts {p}");
        assert!(crate::rds_common::test_support::schema_refuses(&SCHEMA, &d.props), "schema accepts {p}");
    }
}

/// Props the generator draws, with the values whose form no character rule states drawn
/// valid: `MAJOR.MINOR` versions, a launch template by id or name with a version number (and
/// then instance types and no disk size), an update_config with exactly one limit.
pub(super) fn accepted_props() -> impl proptest::strategy::Strategy<Value = cairn_engine::provider::Props> {
    use proptest::prelude::*;
    let version = proptest::option::of((1u32..3, 0u32..40)).prop_map(|v| v.map(|(a, b)| json!(format!("{a}.{b}"))));
    let template = proptest::option::of((any::<bool>(), "[a-z0-9]{3,20}", 1u32..500)).prop_map(|t| {
        t.map(|(by_id, name, version)| match by_id {
            true => json!({ "id": format!("lt-{name}"), "version": version.to_string() }),
            false => json!({ "name": name, "version": version.to_string() }),
        })
    });
    let limit = proptest::option::of((any::<bool>(), 1i64..=100))
        .prop_map(|l| l.map(|(count, n)| if count { json!({ "max_unavailable": n }) } else { json!({ "max_unavailable_percentage": n }) }));
    (crate::schema_gen::props(&SCHEMA), version, template, limit).prop_map(|(mut props, version, template, limit)| {
        for (name, v) in [("version", version), ("update_config", limit)] {
            match v {
                Some(v) => props.insert(name.into(), v),
                None => props.remove(name),
            };
        }
        match template {
            Some(t) => {
                props.insert("launch_template".into(), t);
                props.remove("disk_size");
                props.entry("instance_types").or_insert(json!(["m5.large"]));
            }
            None => {
                props.remove("launch_template");
            }
        }
        props
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    /// Every props value the schema accepts (its rule on size order included) becomes a
    /// CreateNodegroup request with values the SDK knows.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request(props in accepted_props()) {
        proptest::prop_assume!(crate::schema_check::accepts(&SCHEMA, &props));
        let spec = Spec::from(&desired(Value::Object(props), "workers"));
        proptest::prop_assert!(spec.is_ok(), "{:?}", spec.err());
        let spec = spec.unwrap();
        proptest::prop_assert!(CapacityTypes::values().contains(&spec.capacity.as_str()));
        proptest::prop_assert!(spec.ami.iter().all(|a| AmiTypes::values().contains(&a.as_str())));
        for t in &spec.taints {
            proptest::prop_assert!(t.sdk().effect().is_some_and(|e| TaintEffect::values().contains(&e.as_str())));
        }
        proptest::prop_assert!(!spec.subnets.is_empty() && spec.wait >= 1);
    }
}

#[tokio::test]
async fn create_waits_for_the_cluster_then_the_node_group() {
    let d = desired(props(), "workers");
    let tags = d.tags.clone();
    let cluster = mock!(Client::describe_cluster)
        .match_requests(|r| r.name() == Some(CLUSTER))
        .sequence()
        .output(|| DescribeClusterOutput::builder().cluster(Cluster::builder().name(CLUSTER).status(ClusterStatus::Creating).build()).build())
        .output(active_cluster)
        .build();
    let create = mock!(Client::create_nodegroup)
        .match_requests(|r| {
            let s = r.scaling_config().unwrap();
            let tags = r.tags().unwrap();
            r.cluster_name() == Some(CLUSTER)
                && r.nodegroup_name() == Some(NAME)
                && r.node_role() == Some(ROLE)
                && r.subnets() == ["subnet-a", "subnet-b"]
                && r.instance_types() == ["m5.large", "m6i.large"]
                && r.capacity_type() == Some(&CapacityTypes::Spot)
                && r.disk_size() == Some(50)
                && (s.min_size(), s.max_size(), s.desired_size()) == (Some(1), Some(4), Some(2))
                && r.labels().is_some_and(|l| l.len() == 2)
                && r.taints().len() == 2
                && r.client_request_token() == Some("token-1")
                && tags.get("cairn:address").map(String::as_str) == Some("workers")
        })
        .then_output(|| CreateNodegroupOutput::builder().build());
    let t = tags.clone();
    let describe = mock!(Client::describe_nodegroup)
        .sequence()
        .output({
            let t = t.clone();
            move || describing(NodegroupStatus::Creating, t.clone())
        })
        .times(3)
        .output(move || describing(NodegroupStatus::Active, t.clone()))
        .repeatedly()
        .build();

    let observed = EksNodegroup::from_client(client(&[&cluster, &create, &describe])).create(&d).await.unwrap();

    assert_eq!((cluster.num_calls(), create.num_calls()), (2, 1));
    assert!(describe.num_calls() >= 4);
    assert_eq!(observed.id, ID);
    assert_eq!(observed.tags, tags);
    for (name, value) in &d.props {
        assert_eq!(observed.props.get(name), Some(value), "{name} reads back as written");
    }
    assert_eq!(observed.attrs["status"], json!("ACTIVE"));
    assert_actions(CREATE_ACTIONS, &["DescribeCluster", "CreateNodegroup", "DescribeNodegroup", "TagResource"]);
}

#[tokio::test]
async fn create_that_stays_creating_times_out_as_retryable() {
    let cluster = mock!(Client::describe_cluster).then_output(active_cluster);
    let create = mock!(Client::create_nodegroup).then_output(|| CreateNodegroupOutput::builder().build());
    let describe = mock!(Client::describe_nodegroup).then_output(|| describing(NodegroupStatus::Creating, Tags::new()));
    let mut p = props();
    p["wait_timeout_minutes"] = json!(5);
    let result = EksNodegroup::from_client(client(&[&cluster, &create, &describe])).create(&desired(p, "workers")).await;
    assert!(matches!(&result, Err(ProviderError::Retryable(m)) if m.contains(ID) && m.contains("still CREATING after 5 minutes")), "{result:?}");
}

#[tokio::test]
async fn create_failed_is_fatal_with_the_health_issue() {
    let cluster = mock!(Client::describe_cluster).then_output(active_cluster);
    let create = mock!(Client::create_nodegroup).then_output(|| CreateNodegroupOutput::builder().build());
    let describe = mock!(Client::describe_nodegroup).then_output(|| {
        let mut ng = nodegroup(NodegroupStatus::CreateFailed, &Tags::new());
        ng.health = Some(
            NodegroupHealth::builder()
                .issues(Issue::builder().code(NodegroupIssueCode::NodeCreationFailure).message("Instances failed to join").build())
                .build(),
        );
        DescribeNodegroupOutput::builder().nodegroup(ng).build()
    });
    let result = EksNodegroup::from_client(client(&[&cluster, &create, &describe])).create(&desired(props(), "workers")).await;
    assert!(matches!(&result, Err(ProviderError::Fatal(m)) if m.contains("CREATE_FAILED") && m.contains("failed to join")), "{result:?}");
}

#[tokio::test]
async fn cluster_that_never_becomes_active_stops_the_create() {
    // No CreateNodegroup rule: creating against a CREATING cluster would fail the test.
    let cluster = mock!(Client::describe_cluster)
        .then_output(|| DescribeClusterOutput::builder().cluster(Cluster::builder().name(CLUSTER).status(ClusterStatus::Creating).build()).build());
    let mut p = props();
    p["wait_timeout_minutes"] = json!(1);
    let result = EksNodegroup::from_client(client(&[&cluster])).create(&desired(p, "workers")).await;
    assert!(matches!(&result, Err(ProviderError::Retryable(m)) if m.contains("aws.eks.cluster shop-prod-cluster is still CREATING")), "{result:?}");
}

#[tokio::test]
async fn invalid_props_fail_before_any_call() {
    let kind = EksNodegroup::from_client(client(&[]));
    let base = props();
    for (key, bad) in [
        ("min_size", json!(5)),
        ("desired_size", json!(9)),
        ("max_size", json!(0)),
        ("min_size", json!(-1)),
        ("taints", json!([{"key": "a", "effect": "NoSchedule"}])),
        ("taints", json!([{"key": "a", "effect": "NO_SCHEDULE"}, {"key": "a", "value": "b", "effect": "NO_SCHEDULE"}])),
        ("taints", json!({"key": "a"})),
        ("labels", json!({"a": 1})),
    ] {
        let mut p = base.clone();
        p[key] = bad.clone();
        assert!(matches!(kind.create(&desired(p, "workers")).await, Err(ProviderError::Invalid(_))), "{key}: {bad}");
    }
}

#[tokio::test]
async fn read_of_missing_or_deleting_node_group_is_none() {
    let missing = mock!(Client::describe_nodegroup).then_error(not_found);
    assert_eq!(EksNodegroup::from_client(client(&[&missing])).read(ID).await.unwrap(), None);
    let deleting = mock!(Client::describe_nodegroup).then_output(|| describing(NodegroupStatus::Deleting, Tags::new()));
    assert_eq!(EksNodegroup::from_client(client(&[&deleting])).read(ID).await.unwrap(), None);
    assert!(matches!(EksNodegroup::from_client(client(&[])).read("no-colon").await, Err(ProviderError::Invalid(_))));
}

#[tokio::test]
async fn delete_of_missing_node_group_is_ok() {
    let missing = mock!(Client::describe_nodegroup).then_error(not_found);
    EksNodegroup::from_client(client(&[&missing])).delete(ID).await.unwrap();
}

#[tokio::test]
async fn delete_waits_until_gone() {
    let describe = mock!(Client::describe_nodegroup)
        .sequence()
        .output(|| describing(NodegroupStatus::Active, Tags::new()))
        .output(|| describing(NodegroupStatus::Deleting, Tags::new()))
        .times(3)
        .error(not_found)
        .build();
    let delete = mock!(Client::delete_nodegroup)
        .match_requests(|r| r.cluster_name() == Some(CLUSTER) && r.nodegroup_name() == Some(NAME))
        .then_output(|| DeleteNodegroupOutput::builder().build());
    EksNodegroup::from_client(client(&[&describe, &delete])).delete(ID).await.unwrap();
    assert_eq!((delete.num_calls(), describe.num_calls()), (1, 5));
    assert_actions(DELETE_ACTIONS, &["DescribeNodegroup", "DeleteNodegroup"]);
}

#[tokio::test]
async fn delete_failed_is_fatal() {
    let describe = mock!(Client::describe_nodegroup)
        .sequence()
        .output(|| describing(NodegroupStatus::Deleting, Tags::new()))
        .output(|| describing(NodegroupStatus::DeleteFailed, Tags::new()))
        .build();
    let result = EksNodegroup::from_client(client(&[&describe])).delete(ID).await;
    assert!(matches!(&result, Err(ProviderError::Fatal(m)) if m.contains("DELETE_FAILED")), "{result:?}");
}

#[tokio::test]
async fn update_sends_scaling_label_and_taint_changes_in_one_call_and_waits() {
    let current = Tags::new();
    let describe = mock!(Client::describe_nodegroup).then_output(move || describing(NodegroupStatus::Active, current.clone()));
    let config = mock!(Client::update_nodegroup_config)
        .match_requests(|r| {
            let s = r.scaling_config().unwrap();
            let labels = r.labels().unwrap();
            let taints = r.taints().unwrap();
            let added: Vec<(&str, &str)> = taints.add_or_update_taints().iter().map(|t| (t.key().unwrap(), t.effect().unwrap().as_str())).collect();
            let removed: Vec<&str> = taints.remove_taints().iter().map(|t| t.key().unwrap()).collect();
            r.cluster_name() == Some(CLUSTER)
                && r.nodegroup_name() == Some(NAME)
                && (s.min_size(), s.max_size(), s.desired_size()) == (Some(2), Some(6), Some(3))
                && labels.add_or_update_labels().is_some_and(|l| l.len() == 1 && l.get("tier").map(String::as_str) == Some("web"))
                && labels.remove_labels() == ["role"]
                && added == [("dedicated", "NO_EXECUTE")]
                && removed == ["dedicated", "spot"]
        })
        .then_output(|| UpdateNodegroupConfigOutput::builder().update(Update::builder().id("u-9").status(UpdateStatus::InProgress).build()).build());
    let poll = mock!(Client::describe_update)
        .match_requests(|r| r.name() == Some(CLUSTER) && r.nodegroup_name() == Some(NAME) && r.update_id() == Some("u-9"))
        .sequence()
        .output(|| DescribeUpdateOutput::builder().update(Update::builder().id("u-9").status(UpdateStatus::InProgress).build()).build())
        .output(|| DescribeUpdateOutput::builder().update(Update::builder().id("u-9").status(UpdateStatus::Successful).build()).build())
        .build();
    let mut p = props();
    p["min_size"] = json!(2);
    p["max_size"] = json!(6);
    p["desired_size"] = json!(3);
    p["labels"] = json!({"tier": "web"});
    p["taints"] = json!([{"key": "dedicated", "value": "batch", "effect": "NO_EXECUTE"}]);
    let changed: Vec<String> = ["min_size", "max_size", "desired_size", "labels", "taints"].iter().map(|s| s.to_string()).collect();
    EksNodegroup::from_client(client(&[&describe, &config, &poll])).update(ID, &desired(p, "workers"), &changed).await.unwrap();
    assert_eq!((config.num_calls(), poll.num_calls()), (1, 2));
    assert_actions(UPDATE_ACTIONS, &["DescribeNodegroup", "UpdateNodegroupConfig", "DescribeUpdate"]);
}

#[tokio::test]
async fn unmanaged_desired_size_is_kept_inside_the_new_range() {
    let describe = mock!(Client::describe_nodegroup).then_output(|| describing(NodegroupStatus::Active, Tags::new()));
    let config = mock!(Client::update_nodegroup_config)
        .match_requests(|r| {
            r.scaling_config().is_some_and(|s| (s.min_size(), s.max_size(), s.desired_size()) == (Some(3), Some(5), Some(3)))
                && r.labels().is_none()
                && r.taints().is_none()
        })
        .then_output(|| UpdateNodegroupConfigOutput::builder().update(Update::builder().id("u").status(UpdateStatus::Successful).build()).build());
    let mut p = props();
    p.as_object_mut().unwrap().remove("desired_size");
    p["min_size"] = json!(3);
    p["max_size"] = json!(5);
    EksNodegroup::from_client(client(&[&describe, &config])).update(ID, &desired(p, "workers"), &["min_size".into(), "max_size".into()]).await.unwrap();
    assert_eq!(config.num_calls(), 1);
}

#[tokio::test]
async fn update_of_tags_only_tags() {
    let describe = mock!(Client::describe_nodegroup).then_output(|| describing(NodegroupStatus::Active, Tags::from([("old".to_string(), "1".to_string())])));
    let tag = mock!(Client::tag_resource)
        .match_requests(|r| r.resource_arn() == Some(ARN))
        .then_output(|| aws_sdk_eks::operation::tag_resource::TagResourceOutput::builder().build());
    let untag = mock!(Client::untag_resource)
        .match_requests(|r| r.tag_keys() == ["old"])
        .then_output(|| aws_sdk_eks::operation::untag_resource::UntagResourceOutput::builder().build());
    EksNodegroup::from_client(client(&[&describe, &tag, &untag])).update(ID, &desired(props(), "workers"), &["tags".into()]).await.unwrap();
    assert_eq!((tag.num_calls(), untag.num_calls()), (1, 1));
}

#[tokio::test]
async fn find_owned_uses_cluster_and_name() {
    let d = desired(props(), "workers");
    let tags = d.tags.clone();
    let active = tags.clone();
    let describe = mock!(Client::describe_nodegroup)
        .match_requests(|r| r.cluster_name() == Some(CLUSTER) && r.nodegroup_name() == Some(NAME))
        .sequence()
        .output(move || describing(NodegroupStatus::Creating, tags.clone()))
        .times(3)
        .output(move || describing(NodegroupStatus::Active, active.clone()))
        .repeatedly()
        .build();
    assert_eq!(EksNodegroup::from_client(client(&[&describe])).find_owned(&d).await.unwrap().map(|o| o.id), Some(ID.to_string()));
    assert!(describe.num_calls() >= 4, "a node group left CREATING by a killed run is waited for");
}

#[tokio::test]
async fn create_answered_resource_in_use_adopts_our_node_group_and_refuses_another() {
    use aws_sdk_eks::operation::create_nodegroup::CreateNodegroupError;
    use aws_sdk_eks::types::error::ResourceInUseException;
    let d = desired(props(), "workers");
    let cluster = mock!(Client::describe_cluster).then_output(active_cluster);
    let in_use = mock!(Client::create_nodegroup).then_error(|| {
        CreateNodegroupError::ResourceInUseException(
            ResourceInUseException::builder().message("NodeGroup already exists").meta(error("ResourceInUseException")).build(),
        )
    });
    let tags = d.tags.clone();
    let ours = mock!(Client::describe_nodegroup).then_output(move || describing(NodegroupStatus::Active, tags.clone()));
    assert_eq!(EksNodegroup::from_client(client(&[&cluster, &in_use, &ours])).create(&d).await.map(|o| o.id), Ok(ID.to_string()));
    let theirs = mock!(Client::describe_nodegroup).then_output(|| describing(NodegroupStatus::Active, Tags::new()));
    let result = EksNodegroup::from_client(client(&[&cluster, &in_use, &theirs])).create(&d).await;
    crate::adopt::testing::assert_refused(result, &format!("EKS node group {ID}"));
}

#[test]
fn every_operation_lists_read() {
    for action in READ_ACTIONS {
        assert!(CREATE_ACTIONS.contains(action) && UPDATE_ACTIONS.contains(action), "{action}");
    }
}
