//! `aws.ec2.subnet`: a subnet of a VPC in one availability zone.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, ResourceType, Subnet};
use aws_sdk_ec2::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, TextRule};
use serde_json::json;

use crate::adopt::adopt_or;
use crate::ec2_common::{
    arn, bool_value, check, dependency_conflict, eventually, filter, network_cidr, owner_filters, pick_owned, read_batched, read_created, required_str,
    str_value, sync_tags, tag_spec, tags_of, text_of, waiter_error, while_in_use, Lookup, CIDR4, EC2, ID,
};
use crate::error::gone;
use crate::kit::defaults;
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.ec2.subnet",
    doc: "A subnet of a VPC. id = the subnet id (subnet-...). Role tags such as `kubernetes.io/role/elb: \"1\"` for EKS load balancers are ordinary tags. Refresh describes all subnets of a stack in one DescribeSubnets call per 200.",
    props: &[
        PropSpec::new("vpc_id", PropType::Text(ID), "The VPC the subnet belongs to.").required().force_new(),
        PropSpec::new("cidr_block", PropType::Text(CIDR4), "The subnet's IPv4 CIDR block, /16 to /28, inside the VPC's.")
            .required()
            .force_new()
            .rule(network_cidr),
        PropSpec::new("availability_zone", PropType::Text(AZ), "The availability zone, e.g. us-east-1a; unset lets AWS choose.").force_new(),
        PropSpec::new("map_public_ip_on_launch", PropType::Bool, "Whether instances launched here get a public IPv4 address (public subnets).").default("false"),
    ],
    attrs: &["arn", "availability_zone"],
    taggable: true,
    rules: &[],
};

/// An availability zone name (`us-east-1a`, `us-west-2-lax-1a`).
const AZ: TextRule = TextRule::len(1, 64).chars("-");

static IAM: IamActions = IamActions {
    read: &["ec2:DescribeSubnets"],
    create: &["ec2:CreateSubnet", "ec2:CreateTags", "ec2:ModifySubnetAttribute", "ec2:DescribeSubnets"],
    update: &["ec2:ModifySubnetAttribute", "ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeSubnets"],
    delete: &["ec2:DeleteSubnet", "ec2:DescribeNetworkInterfaces"],
};

const AVAILABLE_WAIT: Duration = Duration::from_secs(300);

/// What create sends: the CreateSubnet request's values, and whether to map public IPs after it.
#[derive(Debug)]
struct SubnetSpec {
    vpc: String,
    cidr: String,
    availability_zone: Option<String>,
    public: bool,
}

/// The request builder for create and update, checked against the schema first.
fn spec(desired: &Desired) -> Result<SubnetSpec, ProviderError> {
    check(&SCHEMA, desired)?;
    Ok(SubnetSpec {
        vpc: required_str(&SCHEMA, desired, "vpc_id")?,
        cidr: required_str(&SCHEMA, desired, "cidr_block")?,
        availability_zone: str_value(&SCHEMA, desired, "availability_zone")?,
        public: bool_value(&SCHEMA, desired, "map_public_ip_on_launch")?,
    })
}

crate::kit::client::client_kind!(Ec2Subnet, Client, ec2);

impl Ec2Subnet {
    async fn describe(&self, lookup: Lookup) -> Result<Vec<Subnet>, ProviderError> {
        let req = self.client.describe_subnets();
        let req = match lookup {
            Lookup::Ids(ids) => req.set_subnet_ids(Some(ids)),
            Lookup::Filter(ids) => req.filters(filter("subnet-id", ids)),
        };
        req.into_paginator().items().send().try_collect().await.op_in(&EC2, "DescribeSubnets")
    }

    /// Every subnet matching all of `filters`, across pages.
    async fn describe_where(&self, filters: Vec<Filter>) -> Result<Vec<Subnet>, ProviderError> {
        self.client.describe_subnets().set_filters(Some(filters)).into_paginator().items().send().try_collect().await.op_in(&EC2, "DescribeSubnets")
    }

    fn observe(&self, s: &Subnet) -> Option<Observed> {
        let id = s.subnet_id()?;
        let az = s.availability_zone().unwrap_or_default();
        let mut props = Props::new();
        props.insert("vpc_id".into(), json!(s.vpc_id().unwrap_or_default()));
        props.insert("cidr_block".into(), json!(s.cidr_block().unwrap_or_default()));
        props.insert("availability_zone".into(), json!(az));
        props.insert(
            "map_public_ip_on_launch".into(),
            json!(s.map_public_ip_on_launch().unwrap_or_else(|| defaults::default_flag(&SCHEMA, "map_public_ip_on_launch"))),
        );
        let mut attrs = Props::new();
        let arn = s.subnet_arn().map(str::to_string).unwrap_or_else(|| arn(&self.client, s.owner_id().unwrap_or_default(), &format!("subnet/{id}")));
        attrs.insert("arn".into(), json!(arn));
        attrs.insert("availability_zone".into(), json!(az));
        Some(Observed { id: id.to_string(), props, attrs, tags: tags_of(s.tags()) })
    }

    /// The subnet of `vpc` holding exactly `cidr`, whoever made it.
    async fn with_cidr(&self, vpc: &str, cidr: &str) -> Result<Option<Observed>, ProviderError> {
        let subnets = eventually(|| async {
            let found = self.describe_where(vec![filter("vpc-id", [vpc]), filter("cidr-block", [cidr])]).await?;
            // Just created and not yet visible: EC2 is eventually consistent.
            if found.is_empty() {
                return Err(ProviderError::NotFound(format!("subnet {cidr} in {vpc}")));
            }
            Ok(found)
        })
        .await;
        match subnets {
            Ok(s) => Ok(s.iter().find_map(|s| self.observe(s))),
            Err(ProviderError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn set_public_ip(&self, id: &str, on: bool) -> Result<(), ProviderError> {
        eventually(|| async {
            self.client
                .modify_subnet_attribute()
                .subnet_id(id)
                .map_public_ip_on_launch(AttributeBooleanValue::builder().value(on).build())
                .send()
                .await
                .op_in(&EC2, "ModifySubnetAttribute")
        })
        .await?;
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for Ec2Subnet {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read_many(&[id.to_string()]).await?.remove(id).flatten())
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        read_batched(ids, |lookup| self.describe(lookup), |s| self.observe(s)).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let SubnetSpec { vpc, cidr, availability_zone, public } = spec(desired)?;
        let out = self
            .client
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(&cidr)
            .set_availability_zone(availability_zone)
            .set_tag_specifications(tag_spec(ResourceType::Subnet, &desired.tags))
            .send()
            .await
            .op_in(&EC2, "CreateSubnet");
        let out = match out {
            // The CIDR is taken: by this subnet when an earlier attempt's answer was lost.
            Err(e) if text_of(&e).contains("InvalidSubnet.Conflict") => {
                let existing = self.with_cidr(&vpc, &cidr).await?;
                return adopt_or(self, desired, &format!("the subnet holding {cidr} in {vpc}"), existing, e).await;
            }
            other => other?,
        };
        let subnet = out.subnet().ok_or_else(|| ProviderError::Fatal("CreateSubnet: no subnet in the response".into()))?;
        let id = subnet.subnet_id().unwrap_or_default().to_string();
        if subnet.state().map(|s| s.as_str()) != Some("available") {
            eventually(|| async {
                self.client
                    .wait_until_subnet_available()
                    .subnet_ids(&id)
                    .wait(AVAILABLE_WAIT)
                    .await
                    .map_err(|e| waiter_error(&format!("subnet {id}"), "pending", 5, "re-run apply to continue waiting", e))
            })
            .await?;
        }
        if public {
            self.set_public_ip(&id, true).await?;
        }
        read_created("subnet", &id, || self.read(&id)).await
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        if changed.iter().any(|c| c == "map_public_ip_on_launch") {
            self.set_public_ip(id, spec(desired)?.public).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            let current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("subnet {id} no longer exists")))?;
            sync_tags(&self.client, id, &current.tags, &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("subnet {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        match gone(
            while_in_use(&self.client, || async { self.client.delete_subnet().subnet_id(id).send().await.map(|_| ()).op_in(&EC2, "DeleteSubnet") }).await,
        ) {
            Err(e @ ProviderError::Conflict(_)) => Err(dependency_conflict(&self.client, "subnet", "subnet-id", id, e).await),
            other => other,
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let subnets = self.describe_where(owner_filters(desired)).await?;
        Ok(pick_owned(&SCHEMA, desired, subnets.iter().filter_map(|s| self.observe(s))))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_ec2::operation::create_subnet::{CreateSubnetInput, CreateSubnetOutput};
    use aws_sdk_ec2::operation::delete_subnet::DeleteSubnetError;
    use aws_sdk_ec2::operation::describe_network_interfaces::{DescribeNetworkInterfacesInput, DescribeNetworkInterfacesOutput};
    use aws_sdk_ec2::operation::describe_subnets::{DescribeSubnetsError, DescribeSubnetsInput, DescribeSubnetsOutput};
    use aws_sdk_ec2::operation::modify_subnet_attribute::{ModifySubnetAttributeInput, ModifySubnetAttributeOutput};
    use aws_sdk_ec2::types::{NetworkInterface, NetworkInterfaceStatus, NetworkInterfaceType, SubnetState};
    use aws_smithy_mocks::{mock, MockResponse, Rule};
    use serde_json::Value;

    use super::*;
    use crate::ec2_common::testing::{
        builder_accepts_all, cidr4, client, defaults_typecheck, desired, ec2_tags, error_meta, owner, props_with, schema_refuses_what_the_builder_refuses,
    };

    fn subnet(id: &str, public: bool) -> Subnet {
        let mut tags = owner().tags();
        tags.insert("kubernetes.io/role/elb".into(), "1".into());
        Subnet::builder()
            .subnet_id(id)
            .vpc_id("vpc-1")
            .cidr_block("10.0.1.0/24")
            .availability_zone("us-east-1a")
            .map_public_ip_on_launch(public)
            .state(SubnetState::Available)
            .subnet_arn(format!("arn:aws:ec2:us-east-1:123456789012:subnet/{id}"))
            .set_tags(Some(ec2_tags(&tags)))
            .build()
    }

    fn describe(existing: &'static [&'static str]) -> Rule {
        mock!(Client::describe_subnets).then_compute_response(move |input: &DescribeSubnetsInput| {
            let ids = input.subnet_ids().to_vec();
            if ids.iter().any(|i| !existing.contains(&i.as_str())) {
                return MockResponse::Error(DescribeSubnetsError::generic(error_meta("InvalidSubnetID.NotFound")));
            }
            let wanted: Vec<String> =
                if ids.is_empty() { input.filters().iter().filter(|f| f.name() == Some("subnet-id")).flat_map(|f| f.values().to_vec()).collect() } else { ids };
            MockResponse::Output(
                DescribeSubnetsOutput::builder()
                    .set_subnets(Some(existing.iter().filter(|e| wanted.iter().any(|w| w == *e)).map(|e| subnet(e, true)).collect()))
                    .build(),
            )
        })
    }

    #[test]
    fn defaults_pass_the_schema() {
        defaults_typecheck(&SCHEMA);
    }

    /// Agreement: every props value the schema accepts builds a CreateSubnet request.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request() {
        builder_accepts_all(&SCHEMA, props_with(&SCHEMA, vec![("cidr_block", cidr4(16..=28))]), spec);
    }

    /// Agreement: what the builder refuses, the schema refuses (so `validate` reports it).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        schema_refuses_what_the_builder_refuses(
            &SCHEMA,
            &[
                json!({"cidr_block": "10.0.1.0/24"}),
                json!({"vpc_id": "vpc-1"}),
                json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/30"}),
                json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0"}),
                json!({"vpc_id": "vpc 1", "cidr_block": "10.0.1.0/24"}),
                json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "availability_zone": 1}),
                json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "map_public_ip_on_launch": "true"}),
                json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "az": "us-east-1a"}),
            ],
            spec,
        );
    }

    #[tokio::test]
    async fn create_tags_in_the_call_and_maps_public_ips() {
        let seen: Arc<Mutex<Vec<CreateSubnetInput>>> = Arc::default();
        let sink = seen.clone();
        let create = mock!(Client::create_subnet).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateSubnetOutput::builder().subnet(subnet("subnet-1", false)).build()
        });
        let modified: Arc<Mutex<Vec<ModifySubnetAttributeInput>>> = Arc::default();
        let msink = modified.clone();
        let modify = mock!(Client::modify_subnet_attribute).then_compute_output(move |input| {
            msink.lock().unwrap().push(input.clone());
            ModifySubnetAttributeOutput::builder().build()
        });
        let kind = Ec2Subnet::from_client(client(&[create, modify, describe(&["subnet-1"])]));
        let mut want = desired(json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a", "map_public_ip_on_launch": true}));
        want.tags.insert("kubernetes.io/role/elb".into(), "1".into());

        let obs = kind.create(&want).await.unwrap();

        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!((input.vpc_id(), input.cidr_block(), input.availability_zone()), (Some("vpc-1"), Some("10.0.1.0/24"), Some("us-east-1a")));
        assert_eq!(input.tag_specifications()[0].resource_type(), Some(&ResourceType::Subnet));
        assert_eq!(tags_of(input.tag_specifications()[0].tags()), want.tags);
        assert_eq!(modified.lock().unwrap()[0].map_public_ip_on_launch().and_then(|a| a.value()), Some(true));
        assert_eq!(
            Value::Object(obs.props),
            json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "availability_zone": "us-east-1a", "map_public_ip_on_launch": true})
        );
        assert_eq!(obs.attrs["availability_zone"], json!("us-east-1a"));
        assert_eq!(obs.attrs["arn"], json!("arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1"));
    }

    fn conflict_then(found: Subnet) -> Vec<Rule> {
        let create =
            mock!(Client::create_subnet).then_error(|| aws_sdk_ec2::operation::create_subnet::CreateSubnetError::generic(error_meta("InvalidSubnet.Conflict")));
        let by_cidr = mock!(Client::describe_subnets)
            .match_requests(|i| i.filters().iter().any(|f| f.name() == Some("cidr-block") && f.values() == ["10.0.1.0/24"]))
            .then_output(move || DescribeSubnetsOutput::builder().subnets(found.clone()).build());
        vec![create, by_cidr]
    }

    #[tokio::test]
    async fn a_cidr_conflict_with_our_own_subnet_adopts_it() {
        let mut rules = conflict_then(subnet("subnet-7", true));
        rules.push(describe(&["subnet-7"]));
        let kind = Ec2Subnet::from_client(client(&rules));
        let mut want = desired(json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "map_public_ip_on_launch": true}));
        want.tags = subnet("subnet-7", true).tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect();
        assert_eq!(kind.create(&want).await.unwrap().id, "subnet-7");
    }

    #[tokio::test]
    async fn a_cidr_conflict_with_someone_elses_subnet_is_refused() {
        let mut theirs = subnet("subnet-9", false);
        theirs.tags = Some(ec2_tags(&crate::adopt::testing::foreign_tags()));
        let kind = Ec2Subnet::from_client(client(&conflict_then(theirs)));
        let err = kind.create(&desired(json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24"}))).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Conflict(m) if m.contains("10.0.1.0/24") && m.contains("cairn:stack=other")), "{err:?}");
    }

    #[tokio::test]
    async fn private_subnet_needs_no_attribute_call() {
        let create = mock!(Client::create_subnet).then_output(|| CreateSubnetOutput::builder().subnet(subnet("subnet-1", false)).build());
        let modify = mock!(Client::modify_subnet_attribute).then_output(|| ModifySubnetAttributeOutput::builder().build());
        let kind = Ec2Subnet::from_client(client(&[create, modify.clone(), describe(&["subnet-1"])]));
        kind.create(&desired(json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24"}))).await.unwrap();
        assert_eq!(modify.num_calls(), 0);
    }

    #[tokio::test]
    async fn read_many_is_one_call_and_survives_deleted_ids() {
        let rule = describe(&["subnet-1", "subnet-2"]);
        let kind = Ec2Subnet::from_client(client(std::slice::from_ref(&rule)));
        let ids: Vec<String> = ["subnet-1", "subnet-2"].map(String::from).to_vec();
        let out = kind.read_many(&ids).await.unwrap();
        assert!(out.values().all(Option::is_some));
        assert_eq!(rule.num_calls(), 1);

        let ids: Vec<String> = ["subnet-1", "subnet-gone", "subnet-2"].map(String::from).to_vec();
        let out = kind.read_many(&ids).await.unwrap();
        assert_eq!(out["subnet-gone"], None);
        assert!(out["subnet-1"].is_some() && out["subnet-2"].is_some());
        assert_eq!(rule.num_calls(), 3, "InvalidSubnetID.NotFound, then the subnet-id filter");
    }

    #[tokio::test]
    async fn read_of_missing_subnet_is_none() {
        assert_eq!(Ec2Subnet::from_client(client(&[describe(&[])])).read("subnet-9").await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_of_missing_subnet_is_ok() {
        let del = mock!(Client::delete_subnet).then_error(|| DeleteSubnetError::generic(error_meta("InvalidSubnetID.NotFound")));
        Ec2Subnet::from_client(client(&[del])).delete("subnet-1").await.unwrap();
    }

    #[tokio::test]
    async fn delete_blocked_by_load_balancer_interfaces_says_what_to_do() {
        let del = mock!(Client::delete_subnet).then_error(|| DeleteSubnetError::generic(error_meta("DependencyViolation")));
        let asked: Arc<Mutex<Vec<DescribeNetworkInterfacesInput>>> = Arc::default();
        let sink = asked.clone();
        let enis = mock!(Client::describe_network_interfaces).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            DescribeNetworkInterfacesOutput::builder()
                .network_interfaces(
                    NetworkInterface::builder()
                        .network_interface_id("eni-0b1")
                        .description("ELB net/k8s-web/0a1b")
                        .requester_id("amazon-elb")
                        .interface_type(NetworkInterfaceType::NetworkLoadBalancer)
                        .status(NetworkInterfaceStatus::InUse)
                        .build(),
                )
                .network_interfaces(
                    NetworkInterface::builder()
                        .network_interface_id("eni-0a2")
                        .description("Amazon EKS shop")
                        .requester_id("123456789012")
                        .status(NetworkInterfaceStatus::Available)
                        .build(),
                )
                .build()
        });
        let kind = Ec2Subnet::from_client(client(&[del.clone(), enis]));
        let err = kind.delete("subnet-1").await.unwrap_err();
        let ProviderError::Conflict(m) = &err else { panic!("{err:?}") };
        assert!(m.contains("eni-0b1 \"ELB net/k8s-web/0a1b\" requested by amazon-elb"), "{m}");
        assert!(m.contains("eni-0a2 \"Amazon EKS shop\""), "{m}");
        assert!(m.contains("delete the load balancer") && m.contains("re-run destroy"), "{m}");
        let f = asked.lock().unwrap()[0].filters()[0].clone();
        assert_eq!((f.name(), f.values()), (Some("subnet-id"), &["subnet-1".to_string()][..]));
        assert_eq!(del.num_calls(), 7, "retried within a bounded wait; interfaces are never deleted");
    }

    #[tokio::test]
    async fn delete_waits_out_interfaces_that_are_being_released() {
        let del = mock!(Client::delete_subnet)
            .sequence()
            .error(|| DeleteSubnetError::generic(error_meta("DependencyViolation")))
            .times(2)
            .output(|| aws_sdk_ec2::operation::delete_subnet::DeleteSubnetOutput::builder().build())
            .build();
        Ec2Subnet::from_client(client(std::slice::from_ref(&del))).delete("subnet-1").await.unwrap();
        assert_eq!(del.num_calls(), 3);
    }

    #[tokio::test]
    async fn update_changes_public_ip_mapping_and_tags() {
        let modify = mock!(Client::modify_subnet_attribute).then_output(|| ModifySubnetAttributeOutput::builder().build());
        let created: Arc<Mutex<Vec<aws_sdk_ec2::operation::create_tags::CreateTagsInput>>> = Arc::default();
        let sink = created.clone();
        let tag = mock!(Client::create_tags).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build()
        });
        let untag = mock!(Client::delete_tags).then_output(|| aws_sdk_ec2::operation::delete_tags::DeleteTagsOutput::builder().build());
        let kind = Ec2Subnet::from_client(client(&[modify.clone(), tag, untag.clone(), describe(&["subnet-1"])]));
        let want = desired(json!({"vpc_id": "vpc-1", "cidr_block": "10.0.1.0/24", "map_public_ip_on_launch": false}));
        kind.update("subnet-1", &want, &["map_public_ip_on_launch".into(), "tags".into()]).await.unwrap();
        assert_eq!(modify.num_calls(), 1);
        let input = created.lock().unwrap().pop().unwrap();
        assert_eq!(tags_of(input.tags()).get("Project").map(String::as_str), Some("LegacyPlatform"));
        assert_eq!(untag.num_calls(), 1, "the elb role tag is no longer wanted");
    }
}
