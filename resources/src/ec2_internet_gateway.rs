//! `aws.ec2.internet_gateway`: an internet gateway, optionally attached to a VPC.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{InternetGateway, ResourceType};
use aws_sdk_ec2::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema};
use serde_json::json;

use crate::ec2_common::{
    arn, check, describe_by_id, eventually, filter, owner_filters, pick_owned, read_batched, read_created, str_value, sync_tags, tag_spec, tags_of, text_of,
    Lookup, EC2, ID,
};
use crate::error::gone;
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.ec2.internet_gateway",
    doc: "An internet gateway. id = the gateway id (igw-...). Changing vpc_id detaches it from the old VPC and attaches it to the new one in place; destroy detaches it first.",
    props: &[
        // A null default, so removing vpc_id from the stack detaches the gateway rather than being ignored.
        PropSpec::new("vpc_id", PropType::Text(ID), "The VPC to attach the gateway to; unset leaves it detached (and detaches it).").default("null"),
    ],
    attrs: &["arn"],
    taggable: true,
    rules: &[],
};

static IAM: IamActions = IamActions {
    read: &["ec2:DescribeInternetGateways"],
    create: &["ec2:CreateInternetGateway", "ec2:CreateTags", "ec2:AttachInternetGateway", "ec2:DescribeInternetGateways"],
    update: &["ec2:AttachInternetGateway", "ec2:DetachInternetGateway", "ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeInternetGateways"],
    delete: &["ec2:DescribeInternetGateways", "ec2:DetachInternetGateway", "ec2:DeleteInternetGateway"],
};

/// The request builder for create and update: the VPC to attach to, checked against the schema first.
fn wanted_vpc(desired: &Desired) -> Result<Option<String>, ProviderError> {
    check(&SCHEMA, desired)?;
    str_value(&SCHEMA, desired, "vpc_id")
}

crate::kit::client::client_kind!(Ec2InternetGateway, Client, ec2);

/// The VPCs a gateway is attached or attaching to. (An attached gateway reports the state
/// `available`, which the SDK's enum does not name.)
fn attached_vpcs(igw: &InternetGateway) -> Vec<String> {
    let mut vpcs: Vec<String> = igw
        .attachments()
        .iter()
        .filter(|a| matches!(a.state().map(|s| s.as_str()), Some("available" | "attached" | "attaching")))
        .filter_map(|a| a.vpc_id())
        .map(str::to_string)
        .collect();
    vpcs.sort();
    vpcs
}

impl Ec2InternetGateway {
    async fn describe(&self, lookup: Lookup) -> Result<Vec<InternetGateway>, ProviderError> {
        let req = self.client.describe_internet_gateways();
        let req = match lookup {
            Lookup::Ids(ids) => req.set_internet_gateway_ids(Some(ids)),
            Lookup::Filter(ids) => req.filters(filter("internet-gateway-id", ids)),
        };
        req.into_paginator().items().send().try_collect().await.op_in(&EC2, "DescribeInternetGateways")
    }

    async fn describe_one(&self, id: &str) -> Result<Option<InternetGateway>, ProviderError> {
        describe_by_id(id, |lookup| self.describe(lookup)).await
    }

    fn observe(&self, igw: &InternetGateway) -> Option<Observed> {
        let id = igw.internet_gateway_id()?;
        let mut props = Props::new();
        if let Some(vpc) = attached_vpcs(igw).into_iter().next() {
            props.insert("vpc_id".into(), json!(vpc));
        }
        let mut attrs = Props::new();
        attrs.insert("arn".into(), json!(arn(&self.client, igw.owner_id().unwrap_or_default(), &format!("internet-gateway/{id}"))));
        Some(Observed { id: id.to_string(), props, attrs, tags: tags_of(igw.tags()) })
    }

    async fn attach(&self, id: &str, vpc: &str) -> Result<(), ProviderError> {
        let result = eventually(|| async {
            self.client.attach_internet_gateway().internet_gateway_id(id).vpc_id(vpc).send().await.op_in(&EC2, "AttachInternetGateway")
        })
        .await;
        match result {
            Ok(_) => Ok(()),
            // A repeated attach whose first answer was lost: already done if it is to this VPC.
            Err(e) if text_of(&e).contains("Resource.AlreadyAssociated") => match self.describe_one(id).await? {
                Some(igw) if attached_vpcs(&igw).iter().any(|v| v == vpc) => Ok(()),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn detach(&self, id: &str, vpc: &str) -> Result<(), ProviderError> {
        let result =
            gone(self.client.detach_internet_gateway().internet_gateway_id(id).vpc_id(vpc).send().await.map(|_| ()).op_in(&EC2, "DetachInternetGateway"));
        match result {
            Err(ProviderError::Conflict(m)) => Err(ProviderError::Conflict(format!(
                "internet gateway {id} cannot leave VPC {vpc} while the VPC still has public addresses mapped (Elastic IPs associated with NAT gateways, load balancers or instances): release or disassociate them first, then re-run ({m})"
            ))),
            other => other,
        }
    }
}

#[async_trait]
impl ResourceKind for Ec2InternetGateway {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.describe_one(id).await?.as_ref().and_then(|g| self.observe(g)))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        read_batched(ids, |lookup| self.describe(lookup), |g| self.observe(g)).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let vpc = wanted_vpc(desired)?;
        let out = self
            .client
            .create_internet_gateway()
            .set_tag_specifications(tag_spec(ResourceType::InternetGateway, &desired.tags))
            .send()
            .await
            .op_in(&EC2, "CreateInternetGateway")?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .ok_or_else(|| ProviderError::Fatal("CreateInternetGateway: no gateway id in the response".into()))?
            .to_string();
        if let Some(vpc) = vpc {
            self.attach(&id, &vpc).await?;
        }
        read_created("internet gateway", &id, || self.read(&id)).await
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let igw = self.describe_one(id).await?.ok_or_else(|| ProviderError::NotFound(format!("internet gateway {id} no longer exists")))?;
        if changed.iter().any(|c| c == "vpc_id") {
            let want = wanted_vpc(desired)?;
            let current = attached_vpcs(&igw);
            // A gateway attaches to one VPC at a time: let go of the old one first.
            for vpc in current.iter().filter(|v| Some(v.as_str()) != want.as_deref()) {
                self.detach(id, vpc).await?;
            }
            if let Some(vpc) = want.filter(|w| !current.contains(w)) {
                self.attach(id, &vpc).await?;
            }
        }
        if changed.iter().any(|c| c == "tags") {
            sync_tags(&self.client, id, &tags_of(igw.tags()), &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("internet gateway {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let Some(igw) = self.describe_one(id).await? else { return Ok(()) };
        for vpc in attached_vpcs(&igw) {
            self.detach(id, &vpc).await?;
        }
        gone(self.client.delete_internet_gateway().internet_gateway_id(id).send().await.map(|_| ()).op_in(&EC2, "DeleteInternetGateway"))
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let igws = self
            .client
            .describe_internet_gateways()
            .set_filters(Some(owner_filters(desired)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .op_in(&EC2, "DescribeInternetGateways")?;
        Ok(pick_owned(&SCHEMA, desired, igws.iter().filter_map(|g| self.observe(g))))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_ec2::operation::attach_internet_gateway::{AttachInternetGatewayError, AttachInternetGatewayInput, AttachInternetGatewayOutput};
    use aws_sdk_ec2::operation::create_internet_gateway::{CreateInternetGatewayInput, CreateInternetGatewayOutput};
    use aws_sdk_ec2::operation::delete_internet_gateway::{DeleteInternetGatewayError, DeleteInternetGatewayOutput};
    use aws_sdk_ec2::operation::describe_internet_gateways::{DescribeInternetGatewaysError, DescribeInternetGatewaysInput, DescribeInternetGatewaysOutput};
    use aws_sdk_ec2::operation::detach_internet_gateway::{DetachInternetGatewayError, DetachInternetGatewayInput, DetachInternetGatewayOutput};
    use aws_sdk_ec2::types::{AttachmentStatus, InternetGatewayAttachment};
    use aws_smithy_mocks::{mock, MockResponse, Rule};
    use serde_json::Value;

    use super::*;
    use crate::ec2_common::testing::{
        builder_accepts_all, client, defaults_typecheck, desired, ec2_tags, error_meta, owner, props_with, schema_refuses_what_the_builder_refuses,
    };

    fn igw(id: &str, vpc: Option<&str>) -> InternetGateway {
        let b = InternetGateway::builder().internet_gateway_id(id).owner_id("123456789012").set_tags(Some(ec2_tags(&owner().tags())));
        match vpc {
            Some(v) => b.attachments(InternetGatewayAttachment::builder().vpc_id(v).state(AttachmentStatus::from("available")).build()).build(),
            None => b.build(),
        }
    }

    fn describe(existing: &'static [(&'static str, Option<&'static str>)]) -> Rule {
        mock!(Client::describe_internet_gateways).then_compute_response(move |input: &DescribeInternetGatewaysInput| {
            let ids = input.internet_gateway_ids().to_vec();
            if ids.iter().any(|i| !existing.iter().any(|(e, _)| e == i)) {
                return MockResponse::Error(DescribeInternetGatewaysError::generic(error_meta("InvalidInternetGatewayID.NotFound")));
            }
            let wanted: Vec<String> = if ids.is_empty() { input.filters().iter().flat_map(|f| f.values().to_vec()).collect() } else { ids };
            MockResponse::Output(
                DescribeInternetGatewaysOutput::builder()
                    .set_internet_gateways(Some(existing.iter().filter(|(e, _)| wanted.iter().any(|w| w == e)).map(|(e, v)| igw(e, *v)).collect()))
                    .build(),
            )
        })
    }

    type Recorded<T> = Arc<Mutex<Vec<T>>>;

    fn recorder<T>() -> (Recorded<T>, Recorded<T>) {
        let a: Recorded<T> = Arc::default();
        (a.clone(), a)
    }

    #[test]
    fn defaults_pass_the_schema() {
        defaults_typecheck(&SCHEMA);
    }

    /// Agreement: every props value the schema accepts names a VPC to attach to, or none.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request() {
        builder_accepts_all(&SCHEMA, props_with(&SCHEMA, vec![]), wanted_vpc);
    }

    /// Agreement: what the builder refuses, the schema refuses (so `validate` reports it).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        schema_refuses_what_the_builder_refuses(
            &SCHEMA,
            &[json!({"vpc_id": 7}), json!({"vpc_id": ""}), json!({"vpc_id": ["vpc-1"]}), json!({"vpc": "vpc-1"})],
            wanted_vpc,
        );
    }

    #[tokio::test]
    async fn create_tags_in_the_call_then_attaches() {
        let (seen, sink) = recorder::<CreateInternetGatewayInput>();
        let create = mock!(Client::create_internet_gateway).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateInternetGatewayOutput::builder().internet_gateway(igw("igw-1", None)).build()
        });
        let (attached, asink) = recorder::<AttachInternetGatewayInput>();
        let attach = mock!(Client::attach_internet_gateway).then_compute_output(move |input| {
            asink.lock().unwrap().push(input.clone());
            AttachInternetGatewayOutput::builder().build()
        });
        let kind = Ec2InternetGateway::from_client(client(&[create, attach, describe(&[("igw-1", Some("vpc-1"))])]));
        let want = desired(json!({"vpc_id": "vpc-1"}));
        let obs = kind.create(&want).await.unwrap();
        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!(input.tag_specifications()[0].resource_type(), Some(&ResourceType::InternetGateway));
        assert_eq!(tags_of(input.tag_specifications()[0].tags()), want.tags);
        let a = attached.lock().unwrap().pop().unwrap();
        assert_eq!((a.internet_gateway_id(), a.vpc_id()), (Some("igw-1"), Some("vpc-1")));
        assert_eq!(Value::Object(obs.props), json!({"vpc_id": "vpc-1"}));
        assert_eq!(obs.attrs["arn"], json!("arn:aws:ec2:us-east-1:123456789012:internet-gateway/igw-1"));
    }

    #[tokio::test]
    async fn moving_to_another_vpc_detaches_then_attaches() {
        let (detached, dsink) = recorder::<DetachInternetGatewayInput>();
        let detach = mock!(Client::detach_internet_gateway).then_compute_output(move |input| {
            dsink.lock().unwrap().push(input.clone());
            DetachInternetGatewayOutput::builder().build()
        });
        let (attached, asink) = recorder::<AttachInternetGatewayInput>();
        let attach = mock!(Client::attach_internet_gateway).then_compute_output(move |input| {
            asink.lock().unwrap().push(input.clone());
            AttachInternetGatewayOutput::builder().build()
        });
        let kind = Ec2InternetGateway::from_client(client(&[detach, attach, describe(&[("igw-1", Some("vpc-old"))])]));
        kind.update("igw-1", &desired(json!({"vpc_id": "vpc-new"})), &["vpc_id".into()]).await.unwrap();
        assert_eq!(detached.lock().unwrap()[0].vpc_id(), Some("vpc-old"));
        assert_eq!(attached.lock().unwrap()[0].vpc_id(), Some("vpc-new"));
    }

    #[tokio::test]
    async fn unsetting_vpc_only_detaches() {
        let detach = mock!(Client::detach_internet_gateway).then_output(|| DetachInternetGatewayOutput::builder().build());
        let attach = mock!(Client::attach_internet_gateway).then_output(|| AttachInternetGatewayOutput::builder().build());
        let kind = Ec2InternetGateway::from_client(client(&[detach.clone(), attach.clone(), describe(&[("igw-1", Some("vpc-old"))])]));
        kind.update("igw-1", &desired(json!({})), &["vpc_id".into()]).await.unwrap();
        assert_eq!((detach.num_calls(), attach.num_calls()), (1, 0));
    }

    #[tokio::test]
    async fn delete_detaches_first_and_tolerates_a_detached_gateway() {
        let detach = mock!(Client::detach_internet_gateway).then_error(|| DetachInternetGatewayError::generic(error_meta("Gateway.NotAttached")));
        let del = mock!(Client::delete_internet_gateway).then_output(|| DeleteInternetGatewayOutput::builder().build());
        let kind = Ec2InternetGateway::from_client(client(&[detach.clone(), del.clone(), describe(&[("igw-1", Some("vpc-1"))])]));
        kind.delete("igw-1").await.unwrap();
        assert_eq!((detach.num_calls(), del.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn delete_of_missing_gateway_is_ok() {
        let del = mock!(Client::delete_internet_gateway).then_error(|| DeleteInternetGatewayError::generic(error_meta("InvalidInternetGatewayID.NotFound")));
        let kind = Ec2InternetGateway::from_client(client(&[describe(&[]), del.clone()]));
        kind.delete("igw-9").await.unwrap();
        assert_eq!(del.num_calls(), 0);
        assert_eq!(kind.read("igw-9").await.unwrap(), None);
    }

    #[tokio::test]
    async fn detach_blocked_by_mapped_addresses_is_a_conflict_with_advice() {
        let detach = mock!(Client::detach_internet_gateway).then_error(|| DetachInternetGatewayError::generic(error_meta("DependencyViolation")));
        let kind = Ec2InternetGateway::from_client(client(&[detach, describe(&[("igw-1", Some("vpc-1"))])]));
        let err = kind.delete("igw-1").await.unwrap_err();
        assert!(matches!(&err, ProviderError::Conflict(m) if m.contains("Elastic IPs")), "{err:?}");
    }

    #[tokio::test]
    async fn read_many_is_one_call() {
        let rule = describe(&[("igw-1", None), ("igw-2", Some("vpc-1"))]);
        let kind = Ec2InternetGateway::from_client(client(std::slice::from_ref(&rule)));
        let out = kind.read_many(&["igw-1".into(), "igw-2".into()]).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
        assert_eq!(out["igw-1"].as_ref().unwrap().props.get("vpc_id"), None);
        assert_eq!(out["igw-2"].as_ref().unwrap().props["vpc_id"], json!("vpc-1"));
        let out = kind.read_many(&["igw-1".into(), "igw-3".into()]).await.unwrap();
        assert_eq!(out["igw-3"], None);
        assert!(out["igw-1"].is_some());
    }

    #[tokio::test]
    async fn an_attach_repeated_after_a_lost_answer_counts_as_done() {
        let attach = mock!(Client::attach_internet_gateway).then_error(|| AttachInternetGatewayError::generic(error_meta("Resource.AlreadyAssociated")));
        let describe = mock!(Client::describe_internet_gateways).then_output(|| {
            let igw = InternetGateway::builder()
                .internet_gateway_id("igw-1")
                .attachments(InternetGatewayAttachment::builder().vpc_id("vpc-1").state(AttachmentStatus::Attached).build())
                .set_tags(Some(ec2_tags(&owner().tags())))
                .build();
            DescribeInternetGatewaysOutput::builder().internet_gateways(igw).build()
        });
        let kind = Ec2InternetGateway::from_client(client(&[attach.clone(), describe]));
        kind.attach("igw-1", "vpc-1").await.unwrap();
        assert!(kind.attach("igw-1", "vpc-2").await.is_err(), "attached elsewhere is still a conflict");
    }
}
