//! `aws.ec2.nat_gateway`: a NAT gateway in a subnet, public (with an Elastic IP) or private.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::client::Waiters;
use aws_sdk_ec2::types::{ConnectivityType, NatGateway, ResourceType};
use aws_sdk_ec2::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema};
use serde_json::json;
use serde_json::Value;

use crate::ec2_common::{
    check, client_token, describe_batched, filter, invalid, is_token_mismatch, owner_filters, pick_owned, read_batched, read_created, required_str, str_value,
    sync_tags, tag_spec, tags_of, text_of, value, waiter_error, Lookup, EC2, ID, TOKEN_GENERATIONS,
};
use crate::error::gone;
use crate::kit::defaults;
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.ec2.nat_gateway",
    doc: "A NAT gateway. id = the NAT gateway id (nat-...). Create waits until it is available and destroy until it is deleted (a few minutes each). A gateway in the deleting, deleted or failed state counts as gone. Refresh describes all NAT gateways of a stack in one DescribeNatGateways call per 200.",
    props: &[
        PropSpec::new("subnet_id", PropType::Text(ID), "The subnet to place the gateway in (a public subnet for a public gateway).").required().force_new(),
        PropSpec::new("allocation_id", PropType::Text(ID), "The Elastic IP allocation id (eipalloc-...); needed for a public gateway, refused for a private one.")
            .force_new(),
        PropSpec::new("connectivity_type", PropType::Enum(&["public", "private"]), "public (internet access through the Elastic IP) or private.")
            .force_new()
            .default("\"public\""),
        PropSpec::new("wait_timeout_minutes", PropType::IntRange(1, 1_440), "How long create waits for the gateway to become available (destroy waits the default).")
            .local()
            .default("15"),
    ],
    attrs: &["public_ip", "network_interface_id"],
    taggable: true,
    rules: &[PropsRule { props: &["allocation_id", "connectivity_type"], check: address_matches_connectivity }],
};

/// A public gateway needs an Elastic IP and a private one takes none (CreateNatGateway refuses
/// both mismatches).
fn address_matches_connectivity(p: &Props) -> Vec<String> {
    let connectivity = SCHEMA.value_or_default(p, "connectivity_type");
    match (connectivity.as_ref().and_then(Value::as_str), p.get("allocation_id").filter(|v| !v.is_null())) {
        (Some("public"), None) => vec!["a public NAT gateway needs allocation_id (an aws.ec2.eip's id)".into()],
        (Some("private"), Some(_)) => vec!["a private NAT gateway takes no allocation_id".into()],
        _ => vec![],
    }
}

static IAM: IamActions = IamActions {
    read: &["ec2:DescribeNatGateways"],
    create: &["ec2:CreateNatGateway", "ec2:CreateTags", "ec2:DescribeNatGateways"],
    update: &["ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeNatGateways"],
    delete: &["ec2:DeleteNatGateway", "ec2:DescribeNatGateways"],
};

/// The schema's default wait, which delete uses: it is given only the id, not the desired props.
fn default_wait_minutes() -> i64 {
    SCHEMA.prop("wait_timeout_minutes").and_then(PropSpec::default_value).and_then(|v| v.as_i64()).unwrap_or_default()
}

crate::kit::client::client_kind!(Ec2NatGateway, Client, ec2);

/// States after which the gateway will never carry traffic again.
fn is_gone(n: &NatGateway) -> bool {
    matches!(n.state().map(|s| s.as_str()), Some("deleting" | "deleted" | "failed"))
}

fn observe(n: &NatGateway) -> Option<Observed> {
    let id = n.nat_gateway_id()?;
    if is_gone(n) {
        return None;
    }
    let addresses = n.nat_gateway_addresses();
    let primary = addresses.iter().find(|a| a.is_primary() == Some(true)).or_else(|| addresses.first());
    let mut props = Props::new();
    props.insert("subnet_id".into(), json!(n.subnet_id().unwrap_or_default()));
    props.insert(
        "connectivity_type".into(),
        json!(n.connectivity_type().map(|c| c.as_str().to_string()).unwrap_or_else(|| defaults::default_text(&SCHEMA, "connectivity_type"))),
    );
    if let Some(alloc) = primary.and_then(|a| a.allocation_id()) {
        props.insert("allocation_id".into(), json!(alloc));
    }
    let mut attrs = Props::new();
    if let Some(ip) = primary.and_then(|a| a.public_ip()) {
        attrs.insert("public_ip".into(), json!(ip));
    }
    if let Some(eni) = primary.and_then(|a| a.network_interface_id()) {
        attrs.insert("network_interface_id".into(), json!(eni));
    }
    Some(Observed { id: id.to_string(), props, attrs, tags: tags_of(n.tags()) })
}

/// What create sends (CreateNatGateway's values) and how long it waits.
#[derive(Debug)]
struct NatSpec {
    subnet: String,
    allocation: Option<String>,
    connectivity: ConnectivityType,
    minutes: i64,
}

/// The request builder for create, checked against the schema first.
fn spec(desired: &Desired) -> Result<NatSpec, ProviderError> {
    check(&SCHEMA, desired)?;
    let connectivity = required_str(&SCHEMA, desired, "connectivity_type")?;
    let allocation = str_value(&SCHEMA, desired, "allocation_id")?;
    // `check` ran the schema's rules, `address_matches_connectivity` among them.
    // A value the schema allows but this SDK does not know would be sent as-is and refused by AWS.
    if !ConnectivityType::values().contains(&connectivity.as_str()) {
        return Err(invalid(SCHEMA.kind, format!("connectivity_type {connectivity:?} is unknown to this version of cairn")));
    }
    let connectivity = ConnectivityType::from(connectivity.as_str());
    Ok(NatSpec {
        subnet: required_str(&SCHEMA, desired, "subnet_id")?,
        allocation,
        connectivity,
        minutes: value(&SCHEMA, desired, "wait_timeout_minutes").as_ref().and_then(Value::as_i64).unwrap_or_else(default_wait_minutes),
    })
}

impl Ec2NatGateway {
    async fn describe(&self, lookup: Lookup) -> Result<Vec<NatGateway>, ProviderError> {
        let req = self.client.describe_nat_gateways();
        let req = match lookup {
            Lookup::Ids(ids) => req.set_nat_gateway_ids(Some(ids)),
            Lookup::Filter(ids) => req.filter(filter("nat-gateway-id", ids)),
        };
        req.into_paginator().items().send().try_collect().await.op_in(&EC2, "DescribeNatGateways")
    }

    async fn state_of(&self, id: &str) -> String {
        match describe_batched(&[id.to_string()], |lookup| self.describe(lookup)).await {
            Ok(gws) => gws.first().and_then(|n| n.state()).map(|s| s.as_str().to_string()).unwrap_or_else(|| "unknown".into()),
            Err(_) => "unknown".into(),
        }
    }

    async fn wait_available(&self, id: &str, minutes: i64) -> Result<(), ProviderError> {
        let result = self.client.wait_until_nat_gateway_available().nat_gateway_ids(id).wait(Duration::from_secs(minutes as u64 * 60)).await;
        match result {
            Ok(_) => Ok(()),
            Err(aws_smithy_runtime_api::client::waiters::error::WaiterError::FailureState(f)) => {
                let gw = f.final_poll().as_result().ok().and_then(|o| o.nat_gateways().first().cloned());
                let state = gw.as_ref().and_then(|g| g.state()).map(|s| s.as_str().to_string()).unwrap_or_else(|| "failed".into());
                let why = gw.as_ref().and_then(|g| g.failure_message()).unwrap_or("no reason given");
                Err(ProviderError::Fatal(format!("NAT gateway {id} is {state} instead of available: {why}")))
            }
            Err(e) => {
                let state = self.state_of(id).await;
                Err(waiter_error(&format!("NAT gateway {id}"), &state, minutes, "raise wait_timeout_minutes or re-run apply to continue waiting", e))
            }
        }
    }
}

#[async_trait]
impl ResourceKind for Ec2NatGateway {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read_many(&[id.to_string()]).await?.remove(id).flatten())
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        read_batched(ids, |lookup| self.describe(lookup), observe).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let NatSpec { subnet, allocation, connectivity, minutes } = spec(desired)?;
        let mut retried_failure = false;
        for generation in 0..TOKEN_GENERATIONS {
            let out = self
                .client
                .create_nat_gateway()
                .subnet_id(&subnet)
                .set_allocation_id(allocation.clone())
                .connectivity_type(connectivity.clone())
                .client_token(client_token(desired, generation))
                .set_tag_specifications(tag_spec(ResourceType::Natgateway, &desired.tags))
                .send()
                .await
                .op_in(&EC2, "CreateNatGateway");
            let out = match out {
                Err(e) if is_token_mismatch(&e) => continue,
                // The address already went to a gateway: one an earlier attempt made, when the
                // endpoint does not honour the token, or someone else's.
                Err(e) if text_of(&e).contains("Resource.AlreadyAssociated") => {
                    return match self.find_owned(desired).await? {
                        Some(ours) => Ok(ours),
                        None => Err(e),
                    };
                }
                other => other?,
            };
            let id = out
                .nat_gateway()
                .and_then(|n| n.nat_gateway_id())
                .ok_or_else(|| ProviderError::Fatal("CreateNatGateway: no NAT gateway id in the response".into()))?
                .to_string();
            // A token used before answers with its gateway even once that is deleted or failed;
            // a failed one earns one fresh attempt under the next token, not an endless loop.
            match self.state_of(&id).await.as_str() {
                "deleting" | "deleted" => continue,
                "failed" if !retried_failure => {
                    retried_failure = true;
                    continue;
                }
                _ => {}
            }
            self.wait_available(&id, minutes).await?;
            return read_created("NAT gateway", &id, || self.read(&id)).await;
        }
        Err(ProviderError::Conflict(format!(
            "CreateNatGateway: each of the {TOKEN_GENERATIONS} client tokens of this address names a gateway deleted within the last day; re-run apply tomorrow or give the gateway another address"
        )))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("NAT gateway {id} no longer exists")))?;
        if !changed.iter().any(|c| c == "tags") {
            return Ok(current);
        }
        sync_tags(&self.client, id, &current.tags, &desired.tags).await?;
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("NAT gateway {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        gone(self.client.delete_nat_gateway().nat_gateway_id(id).send().await.map(|_| ()).op_in(&EC2, "DeleteNatGateway"))?;
        // Its Elastic IP and network interface are released only once it is deleted.
        match self.client.wait_until_nat_gateway_deleted().nat_gateway_ids(id).wait(Duration::from_secs(default_wait_minutes().max(0) as u64 * 60)).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let state = self.state_of(id).await;
                Err(waiter_error(&format!("NAT gateway {id}"), &state, default_wait_minutes(), "re-run destroy to continue waiting", e))
            }
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let gws = self
            .client
            .describe_nat_gateways()
            .set_filter(Some(owner_filters(desired)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .op_in(&EC2, "DescribeNatGateways")?;
        let found = pick_owned(&SCHEMA, desired, gws.iter().filter_map(observe));
        // An interrupted create may have left it pending: finish the wait the create began.
        if let Some(o) = &found {
            if gws.iter().any(|g| g.nat_gateway_id() == Some(o.id.as_str()) && g.state().map(|s| s.as_str()) == Some("pending")) {
                self.wait_available(&o.id, spec(desired)?.minutes).await?;
                return self.read(&o.id).await;
            }
        }
        Ok(found)
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_ec2::operation::create_nat_gateway::{CreateNatGatewayInput, CreateNatGatewayOutput};
    use aws_sdk_ec2::operation::delete_nat_gateway::{DeleteNatGatewayError, DeleteNatGatewayOutput};
    use aws_sdk_ec2::operation::describe_nat_gateways::{DescribeNatGatewaysError, DescribeNatGatewaysOutput};
    use aws_sdk_ec2::types::{NatGatewayAddress, NatGatewayState};
    use aws_smithy_mocks::{mock, Rule};
    use serde_json::Value;

    use super::*;
    use crate::ec2_common::testing::{
        builder_accepts_all, client, defaults_typecheck, desired, ec2_tags, error_meta, owner, props_with, schema_refuses_what_the_builder_refuses,
    };
    use proptest::strategy::Strategy;

    fn gateway(id: &str, state: NatGatewayState) -> NatGateway {
        NatGateway::builder()
            .nat_gateway_id(id)
            .subnet_id("subnet-1")
            .vpc_id("vpc-1")
            .state(state)
            .connectivity_type(ConnectivityType::Public)
            .nat_gateway_addresses(
                NatGatewayAddress::builder().allocation_id("eipalloc-1").public_ip("203.0.113.7").network_interface_id("eni-nat").is_primary(true).build(),
            )
            .set_tags(Some(ec2_tags(&owner().tags())))
            .build()
    }

    fn states(id: &'static str, seq: &[NatGatewayState]) -> Rule {
        let mut b = mock!(Client::describe_nat_gateways).sequence();
        for s in seq {
            let s = s.clone();
            b = b.output(move || DescribeNatGatewaysOutput::builder().nat_gateways(gateway(id, s.clone())).build());
        }
        b.repeatedly().build()
    }

    fn create_rule(sink: Arc<Mutex<Vec<CreateNatGatewayInput>>>) -> Rule {
        mock!(Client::create_nat_gateway).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateNatGatewayOutput::builder()
                .nat_gateway(gateway("nat-1", NatGatewayState::Pending))
                .client_token(input.client_token().unwrap_or_default())
                .build()
        })
    }

    fn want(extra: Value) -> Desired {
        let mut props = json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1"});
        props.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        desired(props)
    }

    #[test]
    fn defaults_pass_the_schema() {
        defaults_typecheck(&SCHEMA);
        assert!(default_wait_minutes() > 0, "delete waits the declared default");
    }

    /// Agreement: every props value the schema accepts builds a CreateNatGateway request.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request() {
        builder_accepts_all(&SCHEMA, props_with(&SCHEMA, vec![]).prop_filter("rules", |p| crate::schema_check::rules_pass(&SCHEMA, p)).boxed(), spec);
    }

    /// Agreement: what the builder refuses, the schema refuses (so `validate` reports it).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        schema_refuses_what_the_builder_refuses(
            &SCHEMA,
            &[
                json!({"allocation_id": "eipalloc-1"}),
                json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1", "connectivity_type": "Public"}),
                json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1", "wait_timeout_minutes": -1}),
                json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1", "wait_timeout_minutes": "15"}),
                json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc 1"}),
                json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1", "eip": "eipalloc-1"}),
                json!({"subnet_id": "subnet-1"}),
                json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1", "connectivity_type": "private"}),
            ],
            spec,
        );
    }

    #[tokio::test]
    async fn create_sends_token_and_tags_then_waits_until_available() {
        let seen: Arc<Mutex<Vec<CreateNatGatewayInput>>> = Arc::default();
        let describe = states("nat-1", &[NatGatewayState::Pending, NatGatewayState::Pending, NatGatewayState::Available]);
        let kind = Ec2NatGateway::from_client(client(&[create_rule(seen.clone()), describe.clone()]));
        let d = want(json!({"wait_timeout_minutes": 10}));

        let obs = kind.create(&d).await.unwrap();

        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!((input.subnet_id(), input.allocation_id()), (Some("subnet-1"), Some("eipalloc-1")));
        assert_eq!(input.connectivity_type(), Some(&ConnectivityType::Public));
        assert!(input.client_token().unwrap().starts_with(&d.idempotency_token), "{:?}", input.client_token());
        assert_eq!(input.tag_specifications()[0].resource_type(), Some(&ResourceType::Natgateway));
        assert_eq!(tags_of(input.tag_specifications()[0].tags()), d.tags);
        assert!(describe.num_calls() >= 4, "three polls, then the read");
        assert_eq!(Value::Object(obs.props), json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1", "connectivity_type": "public"}));
        assert_eq!(Value::Object(obs.attrs), json!({"public_ip": "203.0.113.7", "network_interface_id": "eni-nat"}));
    }

    #[tokio::test]
    async fn create_that_stays_pending_times_out_as_retryable() {
        let seen: Arc<Mutex<Vec<CreateNatGatewayInput>>> = Arc::default();
        let kind = Ec2NatGateway::from_client(client(&[create_rule(seen), states("nat-1", &[NatGatewayState::Pending])]));
        let err = kind.create(&want(json!({"wait_timeout_minutes": 2}))).await.unwrap_err();
        let ProviderError::Retryable(m) = &err else { panic!("{err:?}") };
        assert!(m.contains("nat-1 still pending after 2 minutes") && m.contains("raise wait_timeout_minutes"), "{m}");
    }

    #[tokio::test]
    async fn create_that_fails_reports_why() {
        let seen: Arc<Mutex<Vec<CreateNatGatewayInput>>> = Arc::default();
        let failed = mock!(Client::describe_nat_gateways).then_output(|| {
            let mut g = gateway("nat-1", NatGatewayState::Failed);
            g.failure_message = Some("Elastic IP address [eipalloc-1] is already associated".into());
            DescribeNatGatewaysOutput::builder().nat_gateways(g).build()
        });
        let kind = Ec2NatGateway::from_client(client(&[create_rule(seen), failed]));
        let err = kind.create(&want(json!({}))).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Fatal(m) if m.contains("already associated")), "{err:?}");
    }

    #[tokio::test]
    async fn a_repeated_create_sends_the_same_token() {
        let seen: Arc<Mutex<Vec<CreateNatGatewayInput>>> = Arc::default();
        let kind = Ec2NatGateway::from_client(client(&[create_rule(seen.clone()), states("nat-1", &[NatGatewayState::Available])]));
        kind.create(&want(json!({}))).await.unwrap();
        kind.create(&want(json!({}))).await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].client_token(), seen[1].client_token());
    }

    #[tokio::test]
    async fn a_token_naming_a_deleted_gateway_moves_to_the_next_one() {
        let seen: Arc<Mutex<Vec<CreateNatGatewayInput>>> = Arc::default();
        let sink = seen.clone();
        let create = mock!(Client::create_nat_gateway).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            let id = if sink.lock().unwrap().len() == 1 { "nat-old" } else { "nat-new" };
            CreateNatGatewayOutput::builder().nat_gateway(gateway(id, NatGatewayState::Pending)).build()
        });
        let describe = mock!(Client::describe_nat_gateways).then_compute_output(|input| {
            let id = input.nat_gateway_ids().first().cloned().unwrap_or_default();
            let state = if id == "nat-old" { NatGatewayState::Deleted } else { NatGatewayState::Available };
            DescribeNatGatewaysOutput::builder().nat_gateways(gateway(&id, state)).build()
        });
        let kind = Ec2NatGateway::from_client(client(&[create, describe]));
        let d = want(json!({}));
        assert_eq!(kind.create(&d).await.unwrap().id, "nat-new");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.iter().map(|i| i.client_token().unwrap().to_string()).collect::<Vec<_>>(), vec![client_token(&d, 0), client_token(&d, 1)]);
    }

    #[tokio::test]
    async fn public_gateway_without_address_is_rejected_before_any_call() {
        let kind = Ec2NatGateway::from_client(client(&[]));
        let err = kind.create(&desired(json!({"subnet_id": "subnet-1"}))).await.unwrap_err();
        assert!(matches!(err, ProviderError::Invalid(_)));
    }

    #[tokio::test]
    async fn deleted_and_failed_gateways_read_as_gone() {
        for state in [NatGatewayState::Deleted, NatGatewayState::Deleting, NatGatewayState::Failed] {
            let kind = Ec2NatGateway::from_client(client(&[states("nat-1", &[state])]));
            assert_eq!(kind.read("nat-1").await.unwrap(), None);
        }
        let missing = mock!(Client::describe_nat_gateways).then_error(|| DescribeNatGatewaysError::generic(error_meta("NatGatewayNotFound")));
        assert_eq!(Ec2NatGateway::from_client(client(&[missing])).read("nat-9").await.unwrap(), None);
    }

    #[tokio::test]
    async fn read_many_is_one_call() {
        let rule = mock!(Client::describe_nat_gateways).then_output(|| {
            DescribeNatGatewaysOutput::builder()
                .nat_gateways(gateway("nat-1", NatGatewayState::Available))
                .nat_gateways(gateway("nat-2", NatGatewayState::Deleted))
                .build()
        });
        let kind = Ec2NatGateway::from_client(client(std::slice::from_ref(&rule)));
        let out = kind.read_many(&["nat-1".into(), "nat-2".into(), "nat-3".into()]).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
        assert!(out["nat-1"].is_some());
        assert_eq!((&out["nat-2"], &out["nat-3"]), (&None, &None));
    }

    #[tokio::test]
    async fn read_many_falls_back_to_the_filter_when_an_id_is_gone() {
        let rule = mock!(Client::describe_nat_gateways).then_compute_response(|input| {
            if input.nat_gateway_ids().iter().any(|i| i == "nat-gone") {
                return aws_smithy_mocks::MockResponse::Error(DescribeNatGatewaysError::generic(error_meta("NatGatewayNotFound")));
            }
            let by_filter: Vec<String> = input.filter().iter().filter(|f| f.name() == Some("nat-gateway-id")).flat_map(|f| f.values().to_vec()).collect();
            assert!(by_filter.contains(&"nat-gone".to_string()), "the filter asks for every id again");
            aws_smithy_mocks::MockResponse::Output(DescribeNatGatewaysOutput::builder().nat_gateways(gateway("nat-1", NatGatewayState::Available)).build())
        });
        let kind = Ec2NatGateway::from_client(client(std::slice::from_ref(&rule)));
        let out = kind.read_many(&["nat-1".into(), "nat-gone".into()]).await.unwrap();
        assert_eq!(rule.num_calls(), 2);
        assert!(out["nat-1"].is_some());
        assert_eq!(out["nat-gone"], None);
    }

    #[tokio::test]
    async fn delete_waits_until_deleted() {
        let del = mock!(Client::delete_nat_gateway).then_output(|| DeleteNatGatewayOutput::builder().nat_gateway_id("nat-1").build());
        let describe = states("nat-1", &[NatGatewayState::Deleting, NatGatewayState::Deleting, NatGatewayState::Deleted]);
        Ec2NatGateway::from_client(client(&[del, describe.clone()])).delete("nat-1").await.unwrap();
        assert_eq!(describe.num_calls(), 3);
    }

    #[tokio::test]
    async fn delete_that_stays_deleting_times_out_as_retryable() {
        let del = mock!(Client::delete_nat_gateway).then_output(|| DeleteNatGatewayOutput::builder().nat_gateway_id("nat-1").build());
        let err = Ec2NatGateway::from_client(client(&[del, states("nat-1", &[NatGatewayState::Deleting])])).delete("nat-1").await.unwrap_err();
        assert!(matches!(&err, ProviderError::Retryable(m) if m.contains("still deleting after 15 minutes")), "{err:?}");
    }

    #[tokio::test]
    async fn delete_of_missing_gateway_is_ok() {
        let del = mock!(Client::delete_nat_gateway).then_error(|| DeleteNatGatewayError::generic(error_meta("NatGatewayNotFound")));
        let describe = mock!(Client::describe_nat_gateways).then_error(|| DescribeNatGatewaysError::generic(error_meta("NatGatewayNotFound")));
        Ec2NatGateway::from_client(client(&[del, describe])).delete("nat-1").await.unwrap();
    }

    #[test]
    fn actions_cover_the_calls() {
        let kind = Ec2NatGateway::from_client(client(&[]));
        assert!(kind.iam_actions(Operation::Create).contains(&"ec2:CreateTags"));
        assert!(kind.iam_actions(Operation::Delete).contains(&"ec2:DescribeNatGateways"));
    }

    #[tokio::test]
    async fn an_address_taken_by_our_own_earlier_gateway_adopts_that_gateway() {
        let create = mock!(Client::create_nat_gateway)
            .then_error(|| aws_sdk_ec2::operation::create_nat_gateway::CreateNatGatewayError::generic(error_meta("Resource.AlreadyAssociated")));
        let kind = Ec2NatGateway::from_client(client(&[create, states("nat-1", &[NatGatewayState::Available])]));
        assert_eq!(kind.create(&want(json!({}))).await.unwrap().id, "nat-1");
    }
}
