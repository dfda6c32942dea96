//! `aws.ec2.vpc`: a VPC with its primary IPv4 CIDR, tenancy and DNS settings.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Tenancy, Vpc, VpcAttributeName};
use aws_sdk_ec2::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::ec2_common::{
    answer_each, arn, bool_value, check, dependency_conflict, describe_batched, eventually, filter, invalid, network_cidr, owner_filters, pick_owned,
    read_created, required_str, sync_tags, tag_spec, tags_of, waiter_error, while_in_use, Lookup, BATCH, CIDR4, EC2,
};
use crate::error::gone;
use crate::kit::defaults;
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.ec2.vpc",
    doc: "A VPC. id = the VPC id (vpc-...). Refresh describes all VPCs of a stack in one DescribeVpcs call (plus one call each for their default security groups and main route tables), but the two DNS settings need DescribeVpcAttribute per VPC: 2 calls per VPC.",
    props: &[
        PropSpec::new("cidr_block", PropType::Text(CIDR4), "The primary IPv4 CIDR block, /16 to /28, e.g. 10.0.0.0/16.")
            .required()
            .force_new()
            .rule(network_cidr),
        PropSpec::new("enable_dns_support", PropType::Bool, "Whether the Amazon DNS server resolves names in the VPC.").default("true"),
        PropSpec::new("enable_dns_hostnames", PropType::Bool, "Whether instances get public DNS hostnames (EKS needs this and enable_dns_support).").default("true"),
        // CreateVpc refuses `host`, the third value of the Tenancy type.
        PropSpec::new("instance_tenancy", PropType::Enum(&["default", "dedicated"]), "default or dedicated.").force_new().default("\"default\""),
    ],
    attrs: &["arn", "default_security_group_id", "main_route_table_id"],
    taggable: true,
    rules: &[],
};

static IAM: IamActions = IamActions {
    read: &["ec2:DescribeVpcs", "ec2:DescribeVpcAttribute", "ec2:DescribeSecurityGroups", "ec2:DescribeRouteTables"],
    create: &[
        "ec2:CreateVpc",
        // Tags given to CreateVpc are authorised as ec2:CreateTags.
        "ec2:CreateTags",
        "ec2:ModifyVpcAttribute",
        "ec2:DescribeVpcs",
        "ec2:DescribeVpcAttribute",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeRouteTables",
    ],
    update: &[
        "ec2:ModifyVpcAttribute",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:DescribeVpcs",
        "ec2:DescribeVpcAttribute",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeRouteTables",
    ],
    delete: &["ec2:DeleteVpc", "ec2:DescribeNetworkInterfaces"],
};

/// DescribeVpcAttribute calls in flight at once during a refresh.
const ATTRIBUTE_CONCURRENCY: usize = 8;
/// How long create waits for a pending VPC.
const AVAILABLE_WAIT: Duration = Duration::from_secs(300);

crate::kit::client::client_kind!(Ec2Vpc, Client, ec2);

#[derive(Debug, Clone, Copy, PartialEq)]
struct Dns {
    support: bool,
    hostnames: bool,
}

impl Ec2Vpc {
    async fn describe(&self, lookup: Lookup) -> Result<Vec<Vpc>, ProviderError> {
        let req = self.client.describe_vpcs();
        let req = match lookup {
            Lookup::Ids(ids) => req.set_vpc_ids(Some(ids)),
            Lookup::Filter(ids) => req.filters(filter("vpc-id", ids)),
        };
        req.into_paginator().items().send().try_collect().await.op_in(&EC2, "DescribeVpcs")
    }

    /// The default security group and main route table of each VPC: one call each per chunk.
    async fn defaults_of(&self, vpc_ids: &[String]) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>), ProviderError> {
        let mut groups = BTreeMap::new();
        let mut tables = BTreeMap::new();
        for chunk in vpc_ids.chunks(BATCH) {
            let sgs = self
                .client
                .describe_security_groups()
                .filters(filter("vpc-id", chunk.to_vec()))
                .filters(filter("group-name", ["default"]))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .op_in(&EC2, "DescribeSecurityGroups")?;
            for sg in sgs {
                if let (Some(vpc), Some(id)) = (sg.vpc_id(), sg.group_id()) {
                    groups.insert(vpc.to_string(), id.to_string());
                }
            }
            let rts = self
                .client
                .describe_route_tables()
                .filters(filter("vpc-id", chunk.to_vec()))
                .filters(filter("association.main", ["true"]))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .op_in(&EC2, "DescribeRouteTables")?;
            for rt in rts {
                if let (Some(vpc), Some(id)) = (rt.vpc_id(), rt.route_table_id()) {
                    tables.insert(vpc.to_string(), id.to_string());
                }
            }
        }
        Ok((groups, tables))
    }

    /// DNS settings per VPC; a VPC deleted meanwhile is left out.
    async fn dns_of(&self, vpc_ids: &[String]) -> Result<BTreeMap<String, Dns>, ProviderError> {
        let limit = Arc::new(Semaphore::new(ATTRIBUTE_CONCURRENCY));
        let mut tasks = JoinSet::new();
        for id in vpc_ids {
            let (client, id, limit) = (self.client.clone(), id.clone(), limit.clone());
            tasks.spawn(crate::counted::in_current_kind(async move {
                let _permit = limit.acquire_owned().await;
                (dns_attributes(&client, &id).await, id)
            }));
        }
        let mut out = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            let (result, id) = joined.map_err(|e| ProviderError::Fatal(format!("DescribeVpcAttribute task: {e}")))?;
            match result {
                Ok(dns) => {
                    out.insert(id, dns);
                }
                Err(ProviderError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn observe(&self, vpcs: Vec<Vpc>) -> Result<Vec<Observed>, ProviderError> {
        // A VPC being deleted is as good as gone.
        let vpcs: Vec<Vpc> = vpcs.into_iter().filter(|v| v.vpc_id().is_some() && v.state().map(|s| s.as_str()) != Some("deleting")).collect();
        if vpcs.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<String> = vpcs.iter().filter_map(|v| v.vpc_id()).map(str::to_string).collect();
        let ((groups, tables), dns) = tokio::try_join!(self.defaults_of(&ids), self.dns_of(&ids))?;
        Ok(vpcs
            .iter()
            .filter_map(|v| {
                let id = v.vpc_id()?;
                let dns = dns.get(id)?;
                let mut props = Props::new();
                props.insert("cidr_block".into(), json!(v.cidr_block().unwrap_or_default()));
                props.insert("enable_dns_support".into(), json!(dns.support));
                props.insert("enable_dns_hostnames".into(), json!(dns.hostnames));
                props.insert(
                    "instance_tenancy".into(),
                    json!(v.instance_tenancy().map(|t| t.as_str().to_string()).unwrap_or_else(|| defaults::default_text(&SCHEMA, "instance_tenancy"))),
                );
                let mut attrs = Props::new();
                attrs.insert("arn".into(), json!(arn(&self.client, v.owner_id().unwrap_or_default(), &format!("vpc/{id}"))));
                if let Some(sg) = groups.get(id) {
                    attrs.insert("default_security_group_id".into(), json!(sg));
                }
                if let Some(rt) = tables.get(id) {
                    attrs.insert("main_route_table_id".into(), json!(rt));
                }
                Some(Observed { id: id.to_string(), props, attrs, tags: tags_of(v.tags()) })
            })
            .collect())
    }

    async fn set_dns(&self, id: &str, want: Dns, current: Option<Dns>) -> Result<(), ProviderError> {
        let support = current.is_none_or(|c| c.support != want.support);
        let hostnames = current.is_none_or(|c| c.hostnames != want.hostnames);
        // Hostnames need DNS support: enable support first, disable hostnames first.
        let order: &[(bool, VpcAttributeName)] = if want.support {
            &[(support, VpcAttributeName::EnableDnsSupport), (hostnames, VpcAttributeName::EnableDnsHostnames)]
        } else {
            &[(hostnames, VpcAttributeName::EnableDnsHostnames), (support, VpcAttributeName::EnableDnsSupport)]
        };
        for (needed, attr) in order {
            if !needed {
                continue;
            }
            let req = self.client.modify_vpc_attribute().vpc_id(id);
            let req = match attr {
                VpcAttributeName::EnableDnsSupport => req.enable_dns_support(AttributeBooleanValue::builder().value(want.support).build()),
                _ => req.enable_dns_hostnames(AttributeBooleanValue::builder().value(want.hostnames).build()),
            };
            eventually(|| {
                let req = req.clone();
                async move { req.send().await.op_in(&EC2, "ModifyVpcAttribute") }
            })
            .await?;
        }
        Ok(())
    }
}

async fn dns_attributes(client: &Client, id: &str) -> Result<Dns, ProviderError> {
    let support = client.describe_vpc_attribute().vpc_id(id).attribute(VpcAttributeName::EnableDnsSupport).send().await.op_in(&EC2, "DescribeVpcAttribute")?;
    let hostnames =
        client.describe_vpc_attribute().vpc_id(id).attribute(VpcAttributeName::EnableDnsHostnames).send().await.op_in(&EC2, "DescribeVpcAttribute")?;
    Ok(Dns {
        support: support.enable_dns_support().and_then(|a| a.value()).unwrap_or_else(|| defaults::default_flag(&SCHEMA, "enable_dns_support")),
        hostnames: hostnames.enable_dns_hostnames().and_then(|a| a.value()).unwrap_or(false),
    })
}

/// What create sends: the CreateVpc request's values, and the DNS settings set after it.
#[derive(Debug)]
struct VpcSpec {
    cidr: String,
    tenancy: Tenancy,
    dns: Dns,
}

/// The request builder for create and update, checked against the schema first.
fn spec(desired: &Desired) -> Result<VpcSpec, ProviderError> {
    check(&SCHEMA, desired)?;
    let tenancy = required_str(&SCHEMA, desired, "instance_tenancy")?;
    // A value the schema allows but this SDK does not know would be sent as-is and refused by AWS.
    if !Tenancy::values().contains(&tenancy.as_str()) {
        return Err(invalid(SCHEMA.kind, format!("instance_tenancy {tenancy:?} is unknown to this version of cairn")));
    }
    let tenancy = Tenancy::from(tenancy.as_str());
    Ok(VpcSpec {
        cidr: required_str(&SCHEMA, desired, "cidr_block")?,
        tenancy,
        dns: Dns { support: bool_value(&SCHEMA, desired, "enable_dns_support")?, hostnames: bool_value(&SCHEMA, desired, "enable_dns_hostnames")? },
    })
}

#[async_trait]
impl ResourceKind for Ec2Vpc {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read_many(&[id.to_string()]).await?.remove(id).flatten())
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        let vpcs = describe_batched(ids, |lookup| self.describe(lookup)).await?;
        Ok(answer_each(ids, self.observe(vpcs).await?))
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let VpcSpec { cidr, tenancy, dns } = spec(desired)?;
        let out = self
            .client
            .create_vpc()
            .cidr_block(&cidr)
            .instance_tenancy(tenancy)
            .set_tag_specifications(tag_spec(ResourceType::Vpc, &desired.tags))
            .send()
            .await
            .op_in(&EC2, "CreateVpc")?;
        let vpc = out.vpc().ok_or_else(|| ProviderError::Fatal("CreateVpc: no VPC in the response".into()))?;
        let id = vpc.vpc_id().unwrap_or_default().to_string();
        if vpc.state().map(|s| s.as_str()) != Some("available") {
            eventually(|| async {
                self.client
                    .wait_until_vpc_available()
                    .vpc_ids(&id)
                    .wait(AVAILABLE_WAIT)
                    .await
                    .map_err(|e| waiter_error(&format!("VPC {id}"), "pending", 5, "re-run apply to continue waiting", e))
            })
            .await?;
        }
        // A new VPC has DNS support on and hostnames off.
        self.set_dns(&id, dns, Some(Dns { support: true, hostnames: false })).await?;
        read_created("VPC", &id, || self.read(&id)).await
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("VPC {id} no longer exists")))?;
        if changed.iter().any(|c| c == "enable_dns_support" || c == "enable_dns_hostnames") {
            let have = Dns {
                support: current
                    .props
                    .get("enable_dns_support")
                    .and_then(|v| v.as_bool())
                    .unwrap_or_else(|| defaults::default_flag(&SCHEMA, "enable_dns_support")),
                hostnames: current.props.get("enable_dns_hostnames").and_then(|v| v.as_bool()).unwrap_or(false),
            };
            self.set_dns(id, spec(desired)?.dns, Some(have)).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            sync_tags(&self.client, id, &current.tags, &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("VPC {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        match gone(while_in_use(&self.client, || async { self.client.delete_vpc().vpc_id(id).send().await.map(|_| ()).op_in(&EC2, "DeleteVpc") }).await) {
            Err(e @ ProviderError::Conflict(_)) => Err(dependency_conflict(&self.client, "VPC", "vpc-id", id, e).await),
            other => other,
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let vpcs = self
            .client
            .describe_vpcs()
            .set_filters(Some(owner_filters(desired)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .op_in(&EC2, "DescribeVpcs")?;
        Ok(pick_owned(&SCHEMA, desired, self.observe(vpcs).await?))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use aws_sdk_ec2::operation::create_vpc::{CreateVpcInput, CreateVpcOutput};
    use aws_sdk_ec2::operation::delete_vpc::DeleteVpcError;
    use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
    use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
    use aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput;
    use aws_sdk_ec2::operation::describe_vpc_attribute::{DescribeVpcAttributeInput, DescribeVpcAttributeOutput};
    use aws_sdk_ec2::operation::describe_vpcs::{DescribeVpcsError, DescribeVpcsInput, DescribeVpcsOutput};
    use aws_sdk_ec2::operation::modify_vpc_attribute::{ModifyVpcAttributeInput, ModifyVpcAttributeOutput};
    use aws_sdk_ec2::types::{NetworkInterface, RouteTable, RouteTableAssociation, SecurityGroup, VpcState};
    use aws_smithy_mocks::{mock, Rule};
    use serde_json::Value;

    use super::*;
    use crate::ec2_common::testing::{
        builder_accepts_all, cidr4, client, defaults_typecheck, desired, ec2_tags, error_meta, owner, props_with, schema_refuses_what_the_builder_refuses,
    };

    fn vpc(id: &str) -> Vpc {
        let mut tags = owner().tags();
        tags.insert("Project".into(), "LegacyPlatform".into());
        Vpc::builder()
            .vpc_id(id)
            .cidr_block("10.0.0.0/16")
            .instance_tenancy(Tenancy::Default)
            .state(VpcState::Available)
            .owner_id("123456789012")
            .set_tags(Some(ec2_tags(&tags)))
            .build()
    }

    /// DescribeVpcs that knows `existing`: the id list fails on any other id, as AWS does.
    fn describe_vpcs(existing: &'static [&'static str]) -> Rule {
        mock!(Client::describe_vpcs).then_compute_response(move |input: &DescribeVpcsInput| {
            let ids = input.vpc_ids().to_vec();
            if ids.iter().any(|i| !existing.contains(&i.as_str())) {
                return aws_smithy_mocks::MockResponse::Error(DescribeVpcsError::generic(error_meta("InvalidVpcID.NotFound")));
            }
            let wanted: Vec<String> =
                if ids.is_empty() { input.filters().iter().filter(|f| f.name() == Some("vpc-id")).flat_map(|f| f.values().to_vec()).collect() } else { ids };
            let vpcs = existing.iter().filter(|e| wanted.is_empty() || wanted.iter().any(|w| w == *e)).map(|e| vpc(e)).collect();
            aws_smithy_mocks::MockResponse::Output(DescribeVpcsOutput::builder().set_vpcs(Some(vpcs)).build())
        })
    }

    fn attributes(hostnames: bool) -> Rule {
        mock!(Client::describe_vpc_attribute).then_compute_output(move |input: &DescribeVpcAttributeInput| {
            let b = DescribeVpcAttributeOutput::builder().vpc_id(input.vpc_id().unwrap_or_default());
            match input.attribute() {
                Some(VpcAttributeName::EnableDnsSupport) => b.enable_dns_support(AttributeBooleanValue::builder().value(true).build()).build(),
                _ => b.enable_dns_hostnames(AttributeBooleanValue::builder().value(hostnames).build()).build(),
            }
        })
    }

    fn defaults() -> Vec<Rule> {
        vec![
            mock!(Client::describe_security_groups).then_output(|| {
                DescribeSecurityGroupsOutput::builder()
                    .security_groups(SecurityGroup::builder().group_id("sg-default1").vpc_id("vpc-1").group_name("default").build())
                    .build()
            }),
            mock!(Client::describe_route_tables).then_output(|| {
                DescribeRouteTablesOutput::builder()
                    .route_tables(
                        RouteTable::builder()
                            .route_table_id("rtb-main1")
                            .vpc_id("vpc-1")
                            .associations(RouteTableAssociation::builder().main(true).build())
                            .build(),
                    )
                    .build()
            }),
        ]
    }

    #[test]
    fn defaults_pass_the_schema() {
        defaults_typecheck(&SCHEMA);
    }

    /// Agreement: every props value the schema accepts builds a CreateVpc request.
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
                json!({}),
                json!({"cidr_block": "10.0.0.0/8"}),
                json!({"cidr_block": "10.0.0.0/29"}),
                json!({"cidr_block": "10.0.0/16"}),
                json!({"cidr_block": "10.0.0.256/16"}),
                json!({"cidr_block": 10}),
                json!({"cidr_block": "10.0.0.0/16", "instance_tenancy": "host"}),
                json!({"cidr_block": "10.0.0.0/16", "enable_dns_support": "yes"}),
                json!({"cidr_block": "10.0.0.0/16", "cidr": "10.0.0.0/16"}),
            ],
            spec,
        );
    }

    #[tokio::test]
    async fn create_tags_in_the_call_and_turns_hostnames_on() {
        let seen: Arc<Mutex<Vec<CreateVpcInput>>> = Arc::default();
        let sink = seen.clone();
        let create = mock!(Client::create_vpc).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateVpcOutput::builder().vpc(vpc("vpc-1")).build()
        });
        let modified: Arc<Mutex<Vec<ModifyVpcAttributeInput>>> = Arc::default();
        let msink = modified.clone();
        let modify = mock!(Client::modify_vpc_attribute).then_compute_output(move |input| {
            msink.lock().unwrap().push(input.clone());
            ModifyVpcAttributeOutput::builder().build()
        });
        let mut rules = vec![create, modify, describe_vpcs(&["vpc-1"]), attributes(true)];
        rules.extend(defaults());
        let kind = Ec2Vpc::from_client(client(&rules));
        let want = desired(json!({"cidr_block": "10.0.0.0/16"}));

        let obs = kind.create(&want).await.unwrap();

        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!(input.cidr_block(), Some("10.0.0.0/16"));
        assert_eq!(input.instance_tenancy(), Some(&Tenancy::Default));
        let spec = &input.tag_specifications()[0];
        assert_eq!(spec.resource_type(), Some(&ResourceType::Vpc));
        assert_eq!(tags_of(spec.tags()), want.tags);
        let modified = modified.lock().unwrap();
        assert_eq!(modified.len(), 1, "only hostnames differ from a new VPC's settings");
        assert_eq!(modified[0].enable_dns_hostnames().and_then(|a| a.value()), Some(true));

        assert_eq!(obs.id, "vpc-1");
        assert_eq!(
            Value::Object(obs.props),
            json!({"cidr_block": "10.0.0.0/16", "enable_dns_support": true, "enable_dns_hostnames": true, "instance_tenancy": "default"})
        );
        assert_eq!(obs.attrs["arn"], json!("arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1"));
        assert_eq!(obs.attrs["default_security_group_id"], json!("sg-default1"));
        assert_eq!(obs.attrs["main_route_table_id"], json!("rtb-main1"));
        assert_eq!(obs.tags, want.tags);
    }

    #[tokio::test]
    async fn read_many_uses_one_describe_and_falls_back_to_the_filter() {
        let describe = describe_vpcs(&["vpc-1", "vpc-3"]);
        let attrs = attributes(true);
        let mut rules = vec![describe.clone(), attrs.clone()];
        rules.extend(defaults());
        let kind = Ec2Vpc::from_client(client(&rules));
        let ids: Vec<String> = ["vpc-1", "vpc-2", "vpc-3"].map(String::from).to_vec();
        let out = kind.read_many(&ids).await.unwrap();
        assert_eq!(out.len(), 3);
        assert!(out["vpc-1"].is_some() && out["vpc-3"].is_some());
        assert_eq!(out["vpc-2"], None);
        assert_eq!(describe.num_calls(), 2, "the id list failed on vpc-2, the filter answered");
        assert_eq!(attrs.num_calls(), 4, "two attributes per existing VPC");
    }

    #[tokio::test]
    async fn read_of_missing_vpc_is_none() {
        let kind = Ec2Vpc::from_client(client(&[describe_vpcs(&[])]));
        assert_eq!(kind.read("vpc-9").await.unwrap(), None);
    }

    #[tokio::test]
    async fn update_turns_dns_support_off_after_hostnames() {
        let modified: Arc<Mutex<Vec<ModifyVpcAttributeInput>>> = Arc::default();
        let msink = modified.clone();
        let modify = mock!(Client::modify_vpc_attribute).then_compute_output(move |input| {
            msink.lock().unwrap().push(input.clone());
            ModifyVpcAttributeOutput::builder().build()
        });
        let mut rules = vec![modify, describe_vpcs(&["vpc-1"]), attributes(true)];
        rules.extend(defaults());
        let kind = Ec2Vpc::from_client(client(&rules));
        let want = desired(json!({"cidr_block": "10.0.0.0/16", "enable_dns_support": false, "enable_dns_hostnames": false}));
        kind.update("vpc-1", &want, &["enable_dns_hostnames".into(), "enable_dns_support".into()]).await.unwrap();
        let m = modified.lock().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].enable_dns_hostnames().and_then(|a| a.value()), Some(false));
        assert_eq!(m[1].enable_dns_support().and_then(|a| a.value()), Some(false));
    }

    #[tokio::test]
    async fn delete_of_missing_vpc_is_ok() {
        let del = mock!(Client::delete_vpc).then_error(|| DeleteVpcError::generic(error_meta("InvalidVpcID.NotFound")));
        Ec2Vpc::from_client(client(&[del])).delete("vpc-1").await.unwrap();
    }

    #[tokio::test]
    async fn delete_blocked_by_interfaces_names_them() {
        let del = mock!(Client::delete_vpc).then_error(|| DeleteVpcError::generic(error_meta("DependencyViolation")));
        let enis = mock!(Client::describe_network_interfaces).then_output(|| {
            DescribeNetworkInterfacesOutput::builder()
                .network_interfaces(NetworkInterface::builder().network_interface_id("eni-1").description("ELB app/web/123").requester_id("amazon-elb").build())
                .build()
        });
        let err = Ec2Vpc::from_client(client(&[del, enis])).delete("vpc-1").await.unwrap_err();
        let ProviderError::Conflict(m) = err else { panic!("{err:?}") };
        assert!(m.contains("eni-1") && m.contains("amazon-elb") && m.contains("re-run destroy"), "{m}");
    }

    #[tokio::test]
    async fn find_owned_filters_by_ownership_tags() {
        let seen: Arc<Mutex<Vec<DescribeVpcsInput>>> = Arc::default();
        let sink = seen.clone();
        let describe = mock!(Client::describe_vpcs).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            DescribeVpcsOutput::builder().vpcs(vpc("vpc-1")).build()
        });
        let mut rules = vec![describe, attributes(true)];
        rules.extend(defaults());
        let kind = Ec2Vpc::from_client(client(&rules));
        let found = kind.find_owned(&desired(json!({"cidr_block": "10.0.0.0/16"}))).await.unwrap();
        assert_eq!(found.map(|o| o.id), Some("vpc-1".to_string()));
        let input = seen.lock().unwrap().pop().unwrap();
        assert!(input.filters().iter().any(|f| f.name() == Some("tag:cairn:address") && f.values() == ["main"]));
        // A VPC of the same owner with another CIDR is the one being replaced.
        let replaced = kind.find_owned(&desired(json!({"cidr_block": "10.1.0.0/16"}))).await.unwrap();
        assert_eq!(replaced, None);
    }
}
