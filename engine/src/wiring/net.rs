//! Placement rules: EKS clusters and DB subnet groups span at least two Availability Zones.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Action, Ctx, Finding};
use crate::graph::ResourceNode;

/// The zones of the subnets a list names, when every subnet is one of this stack's with a
/// zone known at plan time (a subnet given by id is not looked up).
fn zones(cx: &Ctx, node: &ResourceNode) -> Option<BTreeSet<String>> {
    let Some(Value::Array(ids)) = node.props.get("subnet_ids") else { return None };
    let mut out = BTreeSet::new();
    for id in ids {
        let subnet = cx.target(id).filter(|s| s.kind == "aws.ec2.subnet")?;
        out.insert(subnet.props.get("availability_zone")?.as_str()?.to_string());
    }
    Some(out)
}

pub(super) fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    for (kind, rule, what) in
        [("aws.eks.cluster", "eks-subnets-two-azs", "an EKS cluster"), ("aws.rds.subnet_group", "rds-subnet-group-two-azs", "a DB subnet group")]
    {
        for node in cx.nodes(kind) {
            let Some(z) = zones(cx, node) else { continue };
            if z.len() < 2 {
                let found = if z.is_empty() { "none".to_string() } else { z.iter().cloned().collect::<Vec<_>>().join(", ") };
                out.push(Finding::new(
                    rule,
                    node,
                    "subnet_ids",
                    Action::Refuse {
                        message: format!("{what} needs subnets in at least two Availability Zones; these are in {found}"),
                        help: "add a subnet in another zone of the same VPC".into(),
                    },
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::fixture;

    #[test]
    fn eks_subnets_two_azs() {
        let o = fixture("eks-subnets-two-azs");
        assert_eq!(o.codes(), ["eks-subnets-two-azs"], "{}", o.rendered());
        assert!(o.rendered().contains("these are in us-east-1a"), "{}", o.rendered());
    }

    #[test]
    fn rds_subnet_group_two_azs() {
        let o = fixture("rds-subnet-group-two-azs");
        assert_eq!(o.codes(), ["rds-subnet-group-two-azs"], "{}", o.rendered());
        assert!(o.rendered().contains("a DB subnet group needs subnets in at least two Availability Zones"), "{}", o.rendered());
    }
}
