//! Unit tests of `aws.eks.nodegroup` on mocked EKS for what moto lacks or cannot show: UpdateNodegroupVersion and its
//! wait, launch templates, update_config, and the rules `validate` applies to them.

use aws_sdk_eks::operation::update_nodegroup_version::UpdateNodegroupVersionOutput;
use aws_sdk_eks::types::{ErrorCode, ErrorDetail, LaunchTemplateSpecification, NodegroupUpdateConfig, UpdateType};

use super::tests::*;

fn update(id: &str, status: UpdateStatus) -> Update {
    Update::builder().id(id).r#type(UpdateType::VersionUpdate).status(status).build()
}

/// A node group on version 1.29 with launch template `lt-0abc` version 3, tagged as made by id.
fn on_template(tags: &Tags) -> DescribeNodegroupOutput {
    let mut tags = tags.clone();
    tags.insert(LAUNCH_TEMPLATE_KEY_TAG.into(), "id".into());
    let mut ng = nodegroup(NodegroupStatus::Active, &tags);
    ng.disk_size = None;
    ng.version = Some("1.29".into());
    ng.release_version = Some("1.29.8-20241001".into());
    ng.launch_template = Some(LaunchTemplateSpecification::builder().id("lt-0abc").name("workers").version("3").build());
    ng.update_config = Some(NodegroupUpdateConfig::builder().max_unavailable_percentage(33).build());
    DescribeNodegroupOutput::builder().nodegroup(ng).build()
}

fn template_props() -> Value {
    let mut p = props();
    p.as_object_mut().unwrap().remove("disk_size");
    p["version"] = json!("1.29");
    p["launch_template"] = json!({ "id": "lt-0abc", "version": "3" });
    p["update_config"] = json!({ "max_unavailable_percentage": 33 });
    p
}

#[tokio::test]
async fn create_sends_version_template_and_update_config_and_read_gives_them_back_in_the_stacks_shape() {
    let d = desired(template_props(), "workers");
    let cluster = mock!(Client::describe_cluster).then_output(active_cluster);
    let create = mock!(Client::create_nodegroup)
        .match_requests(|r| {
            let lt = r.launch_template().unwrap();
            r.version() == Some("1.29")
                && r.release_version().is_none()
                && (lt.id(), lt.name(), lt.version()) == (Some("lt-0abc"), None, Some("3"))
                && r.update_config().is_some_and(|u| (u.max_unavailable(), u.max_unavailable_percentage()) == (None, Some(33)))
                && r.disk_size().is_none()
                && r.tags().and_then(|t| t.get(LAUNCH_TEMPLATE_KEY_TAG)).map(String::as_str) == Some("id")
        })
        .then_output(|| CreateNodegroupOutput::builder().build());
    let tags = d.tags.clone();
    let describe = mock!(Client::describe_nodegroup).then_output(move || on_template(&tags));
    let observed = EksNodegroup::from_client(client(&[&cluster, &create, &describe])).create(&d).await.unwrap();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(observed.props["launch_template"], json!({ "id": "lt-0abc", "version": "3" }), "by id, as the stack gave it");
    assert_eq!(observed.props["update_config"], json!({ "max_unavailable_percentage": 33 }));
    assert_eq!((observed.props["version"].clone(), observed.props["release_version"].clone()), (json!("1.29"), json!("1.29.8-20241001")));
    assert_eq!(observed.tags, d.tags, "cairn's own tag is not the stack's");
    for (name, value) in &d.props {
        assert_eq!(observed.props.get(name), Some(value), "{name} reads back as written");
    }
}

#[tokio::test]
async fn a_new_version_is_one_update_nodegroup_version_waited_for_until_successful() {
    let tags = desired(props(), "workers").tags;
    let describe = mock!(Client::describe_nodegroup).then_output(move || on_template(&tags));
    let upgrade = mock!(Client::update_nodegroup_version)
        .match_requests(|r| {
            r.cluster_name() == Some(CLUSTER)
                && r.nodegroup_name() == Some(NAME)
                && r.version() == Some("1.30")
                && r.release_version().is_none()
                && r.launch_template().is_none()
                && r.client_request_token().is_some_and(|t| t.starts_with("token-1"))
        })
        .then_output(|| UpdateNodegroupVersionOutput::builder().update(update("u-1", UpdateStatus::InProgress)).build());
    let poll = mock!(Client::describe_update)
        .match_requests(|r| r.name() == Some(CLUSTER) && r.nodegroup_name() == Some(NAME) && r.update_id() == Some("u-1"))
        .sequence()
        .output(|| DescribeUpdateOutput::builder().update(update("u-1", UpdateStatus::InProgress)).build())
        .times(2)
        .output(|| DescribeUpdateOutput::builder().update(update("u-1", UpdateStatus::Successful)).build())
        .build();
    let mut p = template_props();
    p["version"] = json!("1.30");
    // No UpdateNodegroupConfig rule: a config call for a version change would fail the test.
    EksNodegroup::from_client(client(&[&describe, &upgrade, &poll])).update(ID, &desired(p, "workers"), &["version".into()]).await.unwrap();
    assert_eq!((upgrade.num_calls(), poll.num_calls()), (1, 3));
    assert!(UPDATE_ACTIONS.contains(&"eks:UpdateNodegroupVersion") && UPDATE_ACTIONS.contains(&"eks:DescribeUpdate"));
}

#[tokio::test]
async fn a_new_release_and_template_version_go_in_one_call() {
    let tags = desired(props(), "workers").tags;
    let describe = mock!(Client::describe_nodegroup).then_output(move || on_template(&tags));
    let upgrade = mock!(Client::update_nodegroup_version)
        .match_requests(|r| {
            let lt = r.launch_template().unwrap();
            r.version().is_none() && r.release_version() == Some("1.29.9-20241101") && (lt.id(), lt.version()) == (Some("lt-0abc"), Some("4"))
        })
        .then_output(|| UpdateNodegroupVersionOutput::builder().update(update("u-2", UpdateStatus::Successful)).build());
    let mut p = template_props();
    p["release_version"] = json!("1.29.9-20241101");
    p["launch_template"]["version"] = json!("4");
    let changed = ["release_version".to_string(), "launch_template".to_string()];
    let tag = mock!(Client::tag_resource)
        .match_requests(|r| r.tags().and_then(|t| t.get(LAUNCH_TEMPLATE_KEY_TAG)).map(String::as_str) == Some("id"))
        .then_output(|| aws_sdk_eks::operation::tag_resource::TagResourceOutput::builder().build());
    EksNodegroup::from_client(client(&[&describe, &upgrade, &tag])).update(ID, &desired(p, "workers"), &changed).await.unwrap();
    assert_eq!(upgrade.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_version_update_is_fatal_with_the_errors_eks_lists() {
    let tags = desired(props(), "workers").tags;
    let describe = mock!(Client::describe_nodegroup).then_output(move || on_template(&tags));
    let upgrade =
        mock!(Client::update_nodegroup_version).then_output(|| UpdateNodegroupVersionOutput::builder().update(update("u-3", UpdateStatus::InProgress)).build());
    let poll = mock!(Client::describe_update).then_output(|| {
        let failed = Update::builder()
            .id("u-3")
            .status(UpdateStatus::Failed)
            .errors(ErrorDetail::builder().error_code(ErrorCode::PodEvictionFailure).error_message("Reached max retries while trying to evict pods").build())
            .build();
        DescribeUpdateOutput::builder().update(failed).build()
    });
    let mut p = template_props();
    p["version"] = json!("1.30");
    let result = EksNodegroup::from_client(client(&[&describe, &upgrade, &poll])).update(ID, &desired(p, "workers"), &["version".into()]).await;
    assert!(
        matches!(&result, Err(ProviderError::Fatal(m)) if m.contains("Kubernetes 1.30") && m.contains("Failed") && m.contains("PodEvictionFailure") && m.contains("evict pods")),
        "{result:?}"
    );
}

#[tokio::test]
async fn update_config_goes_with_the_config_call_before_the_version_call() {
    use std::sync::{Arc, Mutex};
    let order = Arc::new(Mutex::new(Vec::<&str>::new()));
    let tags = desired(props(), "workers").tags;
    let describe = mock!(Client::describe_nodegroup).then_output(move || on_template(&tags));
    let seen = order.clone();
    let config = mock!(Client::update_nodegroup_config)
        .match_requests(|r| {
            r.update_config().is_some_and(|u| (u.max_unavailable(), u.max_unavailable_percentage()) == (Some(2), None))
                && r.scaling_config().is_none()
                && r.labels().is_none()
        })
        .then_compute_output(move |_| {
            seen.lock().unwrap().push("config");
            UpdateNodegroupConfigOutput::builder().update(update("c-1", UpdateStatus::Successful)).build()
        });
    let seen = order.clone();
    let upgrade = mock!(Client::update_nodegroup_version).then_compute_output(move |_| {
        seen.lock().unwrap().push("version");
        UpdateNodegroupVersionOutput::builder().update(update("u-4", UpdateStatus::Successful)).build()
    });
    let mut p = template_props();
    p["update_config"] = json!({ "max_unavailable": 2 });
    p["version"] = json!("1.30");
    let changed = ["update_config".to_string(), "version".to_string()];
    EksNodegroup::from_client(client(&[&describe, &config, &upgrade])).update(ID, &desired(p, "workers"), &changed).await.unwrap();
    assert_eq!(*order.lock().unwrap(), ["config", "version"], "the new limit governs the roll");
}

#[tokio::test]
async fn another_launch_template_is_refused_before_any_call() {
    let tags = desired(props(), "workers").tags;
    let describe = mock!(Client::describe_nodegroup).then_output(move || on_template(&tags));
    let mut p = template_props();
    p["launch_template"] = json!({ "name": "other", "version": "1" });
    let result = EksNodegroup::from_client(client(&[&describe])).update(ID, &desired(p, "workers"), &["launch_template".into()]).await;
    assert!(matches!(&result, Err(ProviderError::Invalid(m)) if m.contains("launch template name other") && m.contains("another name")), "{result:?}");
}

#[test]
fn read_of_a_node_group_made_elsewhere_reports_its_template_by_id() {
    let mut out = on_template(&Tags::new());
    out.nodegroup.as_mut().unwrap().tags = None;
    let o = observed(out.nodegroup().unwrap());
    assert_eq!(o.props["launch_template"], json!({ "id": "lt-0abc", "version": "3" }));
    let mut tags = Tags::new();
    tags.insert(LAUNCH_TEMPLATE_KEY_TAG.into(), "name".into());
    let o = observed(
        on_template(&Tags::new())
            .nodegroup()
            .map(|ng| {
                let mut ng = ng.clone();
                ng.tags = Some(tags.into_iter().collect());
                ng
            })
            .as_ref()
            .unwrap(),
    );
    assert_eq!(o.props["launch_template"], json!({ "name": "workers", "version": "3" }));
    assert!(o.tags.is_empty());
}

/// The schema refuses what the builder or EKS refuses about versions, templates and update_config.
#[test]
fn the_schema_refuses_bad_versions_templates_and_limits() {
    let with = |key: &str, bad: Value| {
        let mut p = template_props();
        p[key] = bad;
        p
    };
    for p in [
        with("version", json!("1.30.1")),
        with("version", json!("v1.30")),
        with("update_config", json!({})),
        with("update_config", json!({ "max_unavailable": 1, "max_unavailable_percentage": 10 })),
        with("update_config", json!({ "max_unavailable": 0 })),
        with("update_config", json!({ "max_unavailable": 101 })),
        with("update_config", json!({ "max_unavailable_percentage": 101 })),
        with("launch_template", json!({ "version": "1" })),
        with("launch_template", json!({ "id": "lt-1", "name": "x", "version": "1" })),
        with("launch_template", json!({ "id": "workers", "version": "1" })),
        with("launch_template", json!({ "id": "lt-1" })),
        with("launch_template", json!({ "name": "workers", "version": "$Latest" })),
        with("disk_size", json!(50)),
        {
            let mut p = template_props();
            p.as_object_mut().unwrap().remove("instance_types");
            p
        },
    ] {
        let d = desired(p.clone(), "workers");
        assert!(Spec::from(&d).is_err(), "builder accepts {p}");
        assert!(crate::rds_common::test_support::schema_refuses(&SCHEMA, &d.props), "schema accepts {p}");
    }
    assert!(Spec::from(&desired(template_props(), "workers")).is_ok());
}

#[test]
fn versions_compare_as_major_and_minor() {
    assert_eq!(minor_of("1.30"), Some((1, 30)));
    assert_eq!(minor_of("1.9"), Some((1, 9)));
    for bad in ["1", "1.", ".30", "1.30.0", "1.x"] {
        assert_eq!(minor_of(bad), None, "{bad}");
    }
}
