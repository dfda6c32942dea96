//! EKS version skew: a node group's Kubernetes version is never newer than its cluster's and at most three minor versions older (two before 1.28).

use serde_json::Value;

use super::{Action, Ctx, Finding};

/// `"1.30"` as (1, 30); anything else (a reference, a patch version) is not compared.
fn minor_of(v: Option<&Value>) -> Option<(u32, u32)> {
    let (major, minor) = v?.as_str()?.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// How many minor versions a node may trail the control plane: EKS's skew policy allows three
/// from Kubernetes 1.28 on, two before.
fn allowed_lag(cluster: (u32, u32)) -> u32 {
    if cluster >= (1, 28) {
        3
    } else {
        2
    }
}

pub(super) fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    for group in cx.nodes("aws.eks.nodegroup") {
        let Some(cluster) = group.props.get("cluster_name").and_then(|c| cx.target(c)).filter(|c| c.kind == "aws.eks.cluster") else { continue };
        let (Some(node), Some(plane)) = (minor_of(group.props.get("version")), minor_of(cluster.props.get("version"))) else { continue };
        let problem = if node.0 != plane.0 || node.1 > plane.1 {
            Some(format!("its version {}.{} is newer than (or a different major from) cluster `{}`'s {}.{}", node.0, node.1, cluster.address, plane.0, plane.1))
        } else if plane.1 - node.1 > allowed_lag(plane) {
            Some(format!(
                "its version {}.{} trails cluster `{}`'s {}.{} by {} minor versions; EKS allows {}",
                node.0,
                node.1,
                cluster.address,
                plane.0,
                plane.1,
                plane.1 - node.1,
                allowed_lag(plane)
            ))
        } else {
            None
        };
        if let Some(message) = problem {
            out.push(Finding::new(
                "eks-nodegroup-version-skew",
                group,
                "version",
                Action::Refuse {
                    message,
                    help: format!(
                        "upgrade the node group toward {}.{} (one minor version per apply), or leave `version` unset to follow the cluster",
                        plane.0, plane.1
                    ),
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::fixture;
    use super::*;

    #[test]
    fn nodes_newer_than_the_cluster_or_too_far_behind_are_refused() {
        let o = fixture("eks-nodegroup-version-skew");
        assert_eq!(o.codes(), ["eks-nodegroup-version-skew", "eks-nodegroup-version-skew"], "{}", o.rendered());
        let text = o.rendered();
        assert!(text.contains("1.31 is newer than"), "{text}");
        assert!(text.contains("trails cluster `cluster`'s 1.30 by 4 minor versions; EKS allows 3"), "{text}");
        assert!(!text.contains("`ok`") && !text.contains("`follows`"), "three behind, and a reference, pass: {text}");
    }

    #[test]
    fn the_allowed_lag_is_three_from_1_28() {
        assert_eq!(allowed_lag((1, 28)), 3);
        assert_eq!(allowed_lag((1, 27)), 2);
        assert_eq!(minor_of(Some(&Value::String("1.30".into()))), Some((1, 30)));
        assert_eq!(minor_of(Some(&Value::String("latest".into()))), None);
    }
}
