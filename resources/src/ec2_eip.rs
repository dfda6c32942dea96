//! `aws.ec2.eip`: an Elastic IP address allocated for use in a VPC (for NAT gateways, load balancers, instances).

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{Address, DomainType, ResourceType};
use aws_sdk_ec2::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema};
use serde_json::json;

use crate::ec2_common::{
    check, filter, invalid, is_owned_match, owner_filters, pick_owned, read_batched, read_created, required_str, sync_tags, tag_spec, tags_of, Lookup, EC2,
};
use crate::error::gone;
use crate::kit::defaults;
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.ec2.eip",
    doc: "An Elastic IP address. id = the allocation id (eipalloc-...). Destroy releases it; an address still associated (to a NAT gateway being deleted, an instance) is a conflict until it is let go. Refresh describes all addresses of a stack in one DescribeAddresses call per 200.",
    // AllocateAddress also takes `standard` (EC2-Classic), which accounts without EC2-Classic are refused.
    props: &[PropSpec::new("domain", PropType::Enum(&["vpc", "standard"]), "vpc (the only kind of address new accounts have).")
        .force_new()
        .default("\"vpc\"")],
    attrs: &["public_ip", "allocation_id"],
    taggable: true,
    rules: &[],
};

static IAM: IamActions = IamActions {
    read: &["ec2:DescribeAddresses"],
    create: &["ec2:AllocateAddress", "ec2:CreateTags", "ec2:DescribeAddresses"],
    update: &["ec2:CreateTags", "ec2:DeleteTags", "ec2:DescribeAddresses"],
    delete: &["ec2:ReleaseAddress"],
};

/// The request builder for create: AllocateAddress's domain, checked against the schema first.
fn domain(desired: &Desired) -> Result<DomainType, ProviderError> {
    check(&SCHEMA, desired)?;
    let domain = required_str(&SCHEMA, desired, "domain")?;
    // A value the schema allows but this SDK does not know would be sent as-is and refused by AWS.
    if !DomainType::values().contains(&domain.as_str()) {
        return Err(invalid(SCHEMA.kind, format!("domain {domain:?} is unknown to this version of cairn")));
    }
    Ok(DomainType::from(domain.as_str()))
}

crate::kit::client::client_kind!(Ec2Eip, Client, ec2);

fn observe(a: &Address) -> Option<Observed> {
    let id = a.allocation_id()?;
    let mut props = Props::new();
    props.insert("domain".into(), json!(a.domain().map(|d| d.as_str().to_string()).unwrap_or_else(|| defaults::default_text(&SCHEMA, "domain"))));
    let mut attrs = Props::new();
    attrs.insert("allocation_id".into(), json!(id));
    if let Some(ip) = a.public_ip() {
        attrs.insert("public_ip".into(), json!(ip));
    }
    Some(Observed { id: id.to_string(), props, attrs, tags: tags_of(a.tags()) })
}

impl Ec2Eip {
    /// DescribeAddresses has no pagination: it returns every match in one answer.
    async fn describe(&self, lookup: Lookup) -> Result<Vec<Address>, ProviderError> {
        let req = self.client.describe_addresses();
        let req = match lookup {
            Lookup::Ids(ids) => req.set_allocation_ids(Some(ids)),
            Lookup::Filter(ids) => req.filters(filter("allocation-id", ids)),
        };
        Ok(req.send().await.op_in(&EC2, "DescribeAddresses")?.addresses().to_vec())
    }
}

impl Ec2Eip {
    /// AllocateAddress takes no token, so a repeated allocation whose first answer was lost
    /// leaves a second address with this owner's tags. Unassociated ones other than `keep`
    /// can only be such strays (a replaced address still in use is associated), and are
    /// released; best effort, as the create itself has succeeded.
    async fn release_strays(&self, desired: &Desired, keep: &str) {
        let Ok(out) = self.client.describe_addresses().set_filters(Some(owner_filters(desired))).send().await else { return };
        for a in out.addresses().iter().filter(|a| a.association_id().is_none()) {
            let Some(stray) = a.allocation_id().filter(|id| *id != keep) else { continue };
            if observe(a).is_some_and(|o| is_owned_match(&SCHEMA, desired, &o)) {
                let _ = self.client.release_address().allocation_id(stray).send().await;
            }
        }
    }
}

#[async_trait]
impl ResourceKind for Ec2Eip {
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
        let out = self
            .client
            .allocate_address()
            .domain(domain(desired)?)
            .set_tag_specifications(tag_spec(ResourceType::ElasticIp, &desired.tags))
            .send()
            .await
            .op_in(&EC2, "AllocateAddress")?;
        let id = out.allocation_id().ok_or_else(|| ProviderError::Fatal("AllocateAddress: no allocation id in the response".into()))?.to_string();
        let created = read_created("Elastic IP", &id, || self.read(&id)).await?;
        self.release_strays(desired, &id).await;
        Ok(created)
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let current = self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("Elastic IP {id} no longer exists")))?;
        if changed.iter().any(|c| c == "tags") {
            sync_tags(&self.client, id, &current.tags, &desired.tags).await?;
            return self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("Elastic IP {id} disappeared during update")));
        }
        Ok(current)
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        match gone(self.client.release_address().allocation_id(id).send().await.map(|_| ()).op_in(&EC2, "ReleaseAddress")) {
            Err(ProviderError::Conflict(m)) | Err(ProviderError::AccessDenied(m)) if m.contains("InUse") || m.contains("associated") => Err(ProviderError::Conflict(format!(
                "Elastic IP {id} is still associated (with a NAT gateway, load balancer or instance): delete or disassociate that first, then re-run destroy ({m})"
            ))),
            other => other,
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let out = self.client.describe_addresses().set_filters(Some(owner_filters(desired))).send().await.op_in(&EC2, "DescribeAddresses")?;
        Ok(pick_owned(&SCHEMA, desired, out.addresses().iter().filter_map(observe)))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_ec2::operation::allocate_address::{AllocateAddressInput, AllocateAddressOutput};
    use aws_sdk_ec2::operation::describe_addresses::{DescribeAddressesError, DescribeAddressesInput, DescribeAddressesOutput};
    use aws_sdk_ec2::operation::release_address::{ReleaseAddressError, ReleaseAddressInput, ReleaseAddressOutput};
    use aws_smithy_mocks::{mock, MockResponse, Rule};
    use serde_json::Value;

    use super::*;
    use crate::ec2_common::testing::{
        builder_accepts_all, client, defaults_typecheck, desired, ec2_tags, error_meta, owner, props_with, schema_refuses_what_the_builder_refuses,
    };

    fn address(id: &str) -> Address {
        Address::builder().allocation_id(id).public_ip("203.0.113.7").domain(DomainType::Vpc).set_tags(Some(ec2_tags(&owner().tags()))).build()
    }

    fn describe(existing: &'static [&'static str]) -> Rule {
        mock!(Client::describe_addresses).then_compute_response(move |input: &DescribeAddressesInput| {
            let ids = input.allocation_ids().to_vec();
            if ids.iter().any(|i| !existing.contains(&i.as_str())) {
                return MockResponse::Error(DescribeAddressesError::generic(error_meta("InvalidAllocationID.NotFound")));
            }
            let wanted: Vec<String> = if ids.is_empty() { input.filters().iter().flat_map(|f| f.values().to_vec()).collect() } else { ids };
            MockResponse::Output(
                DescribeAddressesOutput::builder()
                    .set_addresses(Some(existing.iter().filter(|e| wanted.iter().any(|w| w == *e)).map(|e| address(e)).collect()))
                    .build(),
            )
        })
    }

    #[test]
    fn defaults_pass_the_schema() {
        defaults_typecheck(&SCHEMA);
    }

    /// Agreement: every props value the schema accepts builds an AllocateAddress request.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request() {
        builder_accepts_all(&SCHEMA, props_with(&SCHEMA, vec![]), domain);
    }

    /// Agreement: what the builder refuses, the schema refuses (so `validate` reports it).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        schema_refuses_what_the_builder_refuses(
            &SCHEMA,
            &[json!({"domain": "classic"}), json!({"domain": "VPC"}), json!({"domain": true}), json!({"vpc": true})],
            domain,
        );
    }

    #[tokio::test]
    async fn allocate_tags_in_the_call() {
        let seen: Arc<Mutex<Vec<AllocateAddressInput>>> = Arc::default();
        let sink = seen.clone();
        let alloc = mock!(Client::allocate_address).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            AllocateAddressOutput::builder().allocation_id("eipalloc-1").public_ip("203.0.113.7").build()
        });
        let kind = Ec2Eip::from_client(client(&[alloc, describe(&["eipalloc-1"])]));
        let want = desired(json!({}));
        let obs = kind.create(&want).await.unwrap();
        let input = seen.lock().unwrap().pop().unwrap();
        assert_eq!(input.domain(), Some(&DomainType::Vpc));
        assert_eq!(input.tag_specifications()[0].resource_type(), Some(&ResourceType::ElasticIp));
        assert_eq!(tags_of(input.tag_specifications()[0].tags()), want.tags);
        assert_eq!(obs.id, "eipalloc-1");
        assert_eq!(Value::Object(obs.props), json!({"domain": "vpc"}));
        assert_eq!(Value::Object(obs.attrs), json!({"allocation_id": "eipalloc-1", "public_ip": "203.0.113.7"}));
    }

    #[tokio::test]
    async fn a_stray_from_a_repeated_allocation_is_released() {
        let alloc = mock!(Client::allocate_address).then_output(|| AllocateAddressOutput::builder().allocation_id("eipalloc-2").build());
        let describe = mock!(Client::describe_addresses).then_compute_output(|input: &DescribeAddressesInput| {
            let mut in_use = address("eipalloc-3");
            in_use.association_id = Some("eipassoc-1".into());
            let all = vec![address("eipalloc-1"), address("eipalloc-2"), in_use];
            let ids = input.allocation_ids().to_vec();
            DescribeAddressesOutput::builder()
                .set_addresses(Some(all.into_iter().filter(|a| ids.is_empty() || ids.iter().any(|i| a.allocation_id() == Some(i))).collect()))
                .build()
        });
        let released: Arc<Mutex<Vec<ReleaseAddressInput>>> = Arc::default();
        let sink = released.clone();
        let release = mock!(Client::release_address).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            ReleaseAddressOutput::builder().build()
        });
        let kind = Ec2Eip::from_client(client(&[alloc, describe, release]));
        assert_eq!(kind.create(&desired(json!({}))).await.unwrap().id, "eipalloc-2");
        let released: Vec<_> = released.lock().unwrap().iter().map(|r| r.allocation_id().unwrap().to_string()).collect();
        assert_eq!(released, ["eipalloc-1"], "the new address and the associated one stay");
    }

    #[tokio::test]
    async fn read_many_is_one_call_and_maps_released_addresses_to_none() {
        let rule = describe(&["eipalloc-1", "eipalloc-2"]);
        let kind = Ec2Eip::from_client(client(std::slice::from_ref(&rule)));
        let out = kind.read_many(&["eipalloc-1".into(), "eipalloc-2".into()]).await.unwrap();
        assert!(out.values().all(Option::is_some));
        assert_eq!(rule.num_calls(), 1);
        let out = kind.read_many(&["eipalloc-1".into(), "eipalloc-x".into()]).await.unwrap();
        assert_eq!(out["eipalloc-x"], None);
        assert!(out["eipalloc-1"].is_some());
        assert_eq!(kind.read("eipalloc-x").await.unwrap(), None);
    }

    #[tokio::test]
    async fn release_uses_the_allocation_id_and_tolerates_a_released_address() {
        let seen: Arc<Mutex<Vec<ReleaseAddressInput>>> = Arc::default();
        let sink = seen.clone();
        let release = mock!(Client::release_address).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            ReleaseAddressOutput::builder().build()
        });
        Ec2Eip::from_client(client(&[release])).delete("eipalloc-1").await.unwrap();
        assert_eq!(seen.lock().unwrap()[0].allocation_id(), Some("eipalloc-1"));

        let missing = mock!(Client::release_address).then_error(|| ReleaseAddressError::generic(error_meta("InvalidAllocationID.NotFound")));
        Ec2Eip::from_client(client(&[missing])).delete("eipalloc-1").await.unwrap();
    }

    #[tokio::test]
    async fn release_of_an_associated_address_is_a_conflict() {
        let busy = mock!(Client::release_address).then_error(|| ReleaseAddressError::generic(error_meta("InvalidIPAddress.InUse")));
        let err = Ec2Eip::from_client(client(&[busy])).delete("eipalloc-1").await.unwrap_err();
        assert!(matches!(&err, ProviderError::Conflict(m) if m.contains("still associated")), "{err:?}");
    }
}
