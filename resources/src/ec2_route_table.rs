//! `aws.ec2.route_table`: a VPC route table with the routes and subnet associations cairn manages.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType, Route, RouteTable};
use aws_sdk_ec2::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema};
use serde_json::{json, Map, Value};

use crate::adopt::adopt;
use crate::ec2_common::{
    arn, check, client_token, describe_by_id, eventually, filter, invalid, ipv4_cidr, ipv6_cidr, is_owned_match, is_token_mismatch, owner_filters, pick_owned,
    read_batched, read_created, required_str, sync_tags, tag_spec, tags_of, text_of, value, Lookup, CIDR4, CIDR6, EC2, ID, TOKEN_GENERATIONS,
};
use crate::error::gone;
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.ec2.route_table",
    doc: "A route table of a VPC. id = the route table id (rtb-...). `routes` lists the routes cairn manages; the VPC's `local` route, propagated routes and VPC endpoint routes are AWS's and never listed. Routes and subnet associations change in place; destroy disassociates the subnets first. Refresh describes all route tables of a stack in one DescribeRouteTables call per 200.",
    props: &[
        PropSpec::new("vpc_id", PropType::Text(ID), "The VPC the table belongs to.").required().force_new(),
        PropSpec::new(
            "routes",
            PropType::List(&PropType::Struct(&[
                PropSpec::new("destination_cidr_block", PropType::Text(CIDR4), "An IPv4 destination.").rule(ipv4_cidr),
                PropSpec::new("destination_ipv6_cidr_block", PropType::Text(CIDR6), "An IPv6 destination.").rule(ipv6_cidr),
                PropSpec::new("destination_prefix_list_id", PropType::Text(ID), "A managed prefix list as the destination (pl-...)."),
                PropSpec::new("gateway_id", PropType::Text(ID), "An internet or virtual private gateway (igw-..., vgw-...)."),
                PropSpec::new("nat_gateway_id", PropType::Text(ID), "A NAT gateway (nat-...)."),
                PropSpec::new("transit_gateway_id", PropType::Text(ID), "A transit gateway (tgw-...)."),
                PropSpec::new("vpc_peering_connection_id", PropType::Text(ID), "A VPC peering connection (pcx-...)."),
                PropSpec::new("network_interface_id", PropType::Text(ID), "A network interface (eni-...)."),
                PropSpec::new("egress_only_gateway_id", PropType::Text(ID), "An egress-only internet gateway (eigw-...)."),
            ])),
            "Routes, sorted by destination: a list of `{ destination_cidr_block: <CIDR>, gateway_id: <igw-...> }` or `{ destination_cidr_block: <CIDR>, nat_gateway_id: <nat-...> }`. Also accepted: destination_ipv6_cidr_block or destination_prefix_list_id as the destination, and transit_gateway_id, vpc_peering_connection_id, network_interface_id or egress_only_gateway_id as the target. One destination and one target per route.",
        )
        .default("[]")
        .rule(routes_rule),
        PropSpec::new("subnet_ids", PropType::List(&PropType::Text(ID)), "Subnets explicitly associated with this table (a subnet has at most one such table).").default("[]"),
    ],
    attrs: &["arn"],
    taggable: true,
    rules: &[],
};

static IAM: IamActions = IamActions {
    read: &["ec2:DescribeRouteTables"],
    create: &["ec2:CreateRouteTable", "ec2:CreateTags", "ec2:CreateRoute", "ec2:AssociateRouteTable", "ec2:DescribeRouteTables"],
    update: &[
        "ec2:CreateRoute",
        "ec2:ReplaceRoute",
        "ec2:DeleteRoute",
        "ec2:AssociateRouteTable",
        "ec2:DisassociateRouteTable",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:DescribeRouteTables",
    ],
    delete: &["ec2:DescribeRouteTables", "ec2:DisassociateRouteTable", "ec2:DeleteRouteTable"],
};

const DESTINATIONS: &[&str] = &["destination_cidr_block", "destination_ipv6_cidr_block", "destination_prefix_list_id"];
const TARGETS: &[&str] = &["gateway_id", "nat_gateway_id", "transit_gateway_id", "vpc_peering_connection_id", "network_interface_id", "egress_only_gateway_id"];

/// One route in the stack's shape: which key names the destination and the target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RouteSpec {
    destination: String,
    destination_key: &'static str,
    target_key: &'static str,
    target: String,
}

impl RouteSpec {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(self.destination_key.into(), json!(self.destination));
        m.insert(self.target_key.into(), json!(self.target));
        Value::Object(m)
    }

    /// One route of the stack (keys and value types already checked by the schema): exactly
    /// one destination and one target.
    fn from_json(v: &Value) -> Result<RouteSpec, String> {
        let shape =
            || format!("each route is {{ destination_cidr_block: <CIDR>, gateway_id | nat_gateway_id: <id> }} with one destination and one target, not {v}");
        let pick = |keys: &[&'static str]| -> Result<(&'static str, String), String> {
            let found: Vec<(&'static str, String)> = keys.iter().filter_map(|k| Some((*k, v.get(*k)?.as_str()?.to_string()))).collect();
            match found.as_slice() {
                [one] => Ok(one.clone()),
                _ => Err(shape()),
            }
        };
        let (destination_key, destination) = pick(DESTINATIONS)?;
        let (target_key, target) = pick(TARGETS)?;
        Ok(RouteSpec { destination, destination_key, target_key, target })
    }

    /// The route as read, or None for routes cairn does not manage.
    fn from_aws(r: &Route) -> Option<RouteSpec> {
        let origin = r.origin().map(|o| o.as_str());
        if matches!(origin, Some("CreateRouteTable" | "EnableVgwRoutePropagation")) || r.gateway_id() == Some("local") {
            return None;
        }
        // Gateway endpoints (S3, DynamoDB) add prefix-list routes of their own.
        if r.destination_prefix_list_id().is_some() && r.gateway_id().is_some_and(|g| g.starts_with("vpce-")) {
            return None;
        }
        let (destination_key, destination) = if let Some(d) = r.destination_cidr_block() {
            ("destination_cidr_block", d)
        } else if let Some(d) = r.destination_ipv6_cidr_block() {
            ("destination_ipv6_cidr_block", d)
        } else {
            ("destination_prefix_list_id", r.destination_prefix_list_id()?)
        };
        let (target_key, target) = if let Some(t) = r.nat_gateway_id() {
            ("nat_gateway_id", t)
        } else if let Some(t) = r.gateway_id() {
            ("gateway_id", t)
        } else if let Some(t) = r.transit_gateway_id() {
            ("transit_gateway_id", t)
        } else if let Some(t) = r.vpc_peering_connection_id() {
            ("vpc_peering_connection_id", t)
        } else if let Some(t) = r.egress_only_internet_gateway_id() {
            ("egress_only_gateway_id", t)
        } else if let Some(t) = r.network_interface_id() {
            ("network_interface_id", t)
        } else {
            // A target cairn cannot name (local gateway, carrier gateway, core network):
            // still reported, so that the route shows as a difference rather than hiding.
            ("gateway_id", r.local_gateway_id().or(r.carrier_gateway_id()).or(r.core_network_arn()).unwrap_or("unknown"))
        };
        Some(RouteSpec { destination: destination.to_string(), destination_key, target_key, target: target.to_string() })
    }
}

/// A routes list: one destination and one target per route, one route per destination, in
/// the order read reports them.
fn parse_routes(routes: &Value) -> Result<Vec<RouteSpec>, String> {
    let routes: Vec<RouteSpec> = routes.as_array().map(|items| items.iter().map(RouteSpec::from_json).collect()).unwrap_or(Ok(vec![]))?;
    let mut sorted = routes.clone();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0].destination == w[1].destination) {
        return Err(format!("has two routes for {}", w[0].destination));
    }
    // Read reports routes sorted by destination; any other order would show as a change on every plan.
    if sorted != routes {
        return Err(format!("must list routes sorted by destination: {}", Value::Array(sorted.iter().map(RouteSpec::to_json).collect())));
    }
    Ok(routes)
}

/// The schema's rule for `routes`: the same parse the request builder makes.
fn routes_rule(routes: &Value) -> Vec<String> {
    parse_routes(routes).err().into_iter().collect()
}

/// The request builder's reading of the props: the routes and the subnets to associate,
/// checked against the schema first.
fn desired_table(desired: &Desired) -> Result<(Vec<RouteSpec>, BTreeSet<String>), ProviderError> {
    check(&SCHEMA, desired)?;
    let routes = parse_routes(&value(&SCHEMA, desired, "routes").unwrap_or_default()).map_err(|m| invalid(SCHEMA.kind, format!("routes {m}")))?;
    let subnets =
        value(&SCHEMA, desired, "subnet_ids").as_ref().and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    Ok((routes, subnets))
}

/// Explicit subnet associations: subnet id to association id.
fn subnet_associations(rt: &RouteTable) -> BTreeMap<String, String> {
    rt.associations()
        .iter()
        .filter(|a| a.main() != Some(true))
        .filter(|a| !matches!(a.association_state().and_then(|s| s.state()).map(|s| s.as_str()), Some("disassociating" | "disassociated" | "failed")))
        .filter_map(|a| Some((a.subnet_id()?.to_string(), a.route_table_association_id()?.to_string())))
        .collect()
}

crate::kit::client::client_kind!(Ec2RouteTable, Client, ec2);

impl Ec2RouteTable {
    async fn describe(&self, lookup: Lookup) -> Result<Vec<RouteTable>, ProviderError> {
        let req = self.client.describe_route_tables();
        let req = match lookup {
            Lookup::Ids(ids) => req.set_route_table_ids(Some(ids)),
            Lookup::Filter(ids) => req.filters(filter("route-table-id", ids)),
        };
        req.into_paginator().items().send().try_collect().await.op_in(&EC2, "DescribeRouteTables")
    }

    async fn describe_one(&self, id: &str) -> Result<Option<RouteTable>, ProviderError> {
        describe_by_id(id, |lookup| self.describe(lookup)).await
    }

    fn observe(&self, rt: &RouteTable) -> Option<Observed> {
        let id = rt.route_table_id()?;
        let mut routes: Vec<RouteSpec> = rt.routes().iter().filter_map(RouteSpec::from_aws).collect();
        routes.sort();
        let mut props = Props::new();
        props.insert("vpc_id".into(), json!(rt.vpc_id().unwrap_or_default()));
        props.insert("routes".into(), Value::Array(routes.iter().map(RouteSpec::to_json).collect()));
        props.insert("subnet_ids".into(), json!(subnet_associations(rt).into_keys().collect::<Vec<_>>()));
        let mut attrs = Props::new();
        attrs.insert("arn".into(), json!(arn(&self.client, rt.owner_id().unwrap_or_default(), &format!("route-table/{id}"))));
        Some(Observed { id: id.to_string(), props, attrs, tags: tags_of(rt.tags()) })
    }

    async fn sync_routes(&self, id: &str, current: &[RouteSpec], want: &[RouteSpec]) -> Result<(), ProviderError> {
        let have: BTreeMap<&str, &RouteSpec> = current.iter().map(|r| (r.destination.as_str(), r)).collect();
        let wanted: BTreeSet<&str> = want.iter().map(|r| r.destination.as_str()).collect();
        for r in want {
            match have.get(r.destination.as_str()) {
                Some(old) if *old == r => {}
                Some(_) => self.write_route(id, r, true).await?,
                None => self.write_route(id, r, false).await?,
            }
        }
        for r in current.iter().filter(|r| !wanted.contains(r.destination.as_str())) {
            let req = self.client.delete_route().route_table_id(id);
            let req = match r.destination_key {
                "destination_ipv6_cidr_block" => req.destination_ipv6_cidr_block(&r.destination),
                "destination_prefix_list_id" => req.destination_prefix_list_id(&r.destination),
                _ => req.destination_cidr_block(&r.destination),
            };
            gone(req.send().await.map(|_| ()).op_in(&EC2, "DeleteRoute"))?;
        }
        Ok(())
    }

    /// CreateRoute, or ReplaceRoute when the destination exists with another target.
    async fn write_route(&self, id: &str, r: &RouteSpec, replace: bool) -> Result<(), ProviderError> {
        macro_rules! send {
            ($req:expr, $op:literal) => {{
                let req = $req.route_table_id(id);
                let req = match r.destination_key {
                    "destination_ipv6_cidr_block" => req.destination_ipv6_cidr_block(&r.destination),
                    "destination_prefix_list_id" => req.destination_prefix_list_id(&r.destination),
                    _ => req.destination_cidr_block(&r.destination),
                };
                let req = match r.target_key {
                    "nat_gateway_id" => req.nat_gateway_id(&r.target),
                    "transit_gateway_id" => req.transit_gateway_id(&r.target),
                    "vpc_peering_connection_id" => req.vpc_peering_connection_id(&r.target),
                    "network_interface_id" => req.network_interface_id(&r.target),
                    "egress_only_gateway_id" => req.egress_only_internet_gateway_id(&r.target),
                    _ => req.gateway_id(&r.target),
                };
                // A gateway created a moment ago may not be visible to the route API yet.
                eventually(|| {
                    let req = req.clone();
                    async move { req.send().await.map(|_| ()).op_in(&EC2, $op) }
                })
                .await
            }};
        }
        if replace {
            send!(self.client.replace_route(), "ReplaceRoute")
        } else {
            send!(self.client.create_route(), "CreateRoute")
        }
    }

    async fn sync_subnets(&self, id: &str, current: &BTreeMap<String, String>, want: &BTreeSet<String>) -> Result<(), ProviderError> {
        for subnet in want.iter().filter(|s| !current.contains_key(*s)) {
            let result = eventually(|| async {
                self.client.associate_route_table().route_table_id(id).subnet_id(subnet).send().await.map(|_| ()).op_in(&EC2, "AssociateRouteTable")
            })
            .await;
            if let Err(ProviderError::Conflict(m)) = result {
                return Err(ProviderError::Conflict(format!(
                    "subnet {subnet} is already associated with another route table, and a subnet has only one: remove it from the other table's subnet_ids (or disassociate it) first, then re-run ({m})"
                )));
            }
            result?;
        }
        for association in current.iter().filter(|(s, _)| !want.contains(*s)).map(|(_, a)| a) {
            gone(self.client.disassociate_route_table().association_id(association).send().await.map(|_| ()).op_in(&EC2, "DisassociateRouteTable"))?;
        }
        Ok(())
    }
}

impl Ec2RouteTable {
    /// An emulator that ignores ClientToken makes a second table when a create is repeated
    /// after a lost answer. Empty tables (no routes of their own, no associations) other than
    /// `keep` that carry this owner's tags in the same VPC can only be such strays, and are
    /// deleted; best effort, as the create itself has succeeded.
    async fn delete_strays(&self, desired: &Desired, keep: &str) {
        let Ok(tables) = self.client.describe_route_tables().set_filters(Some(owner_filters(desired))).send().await else { return };
        for rt in tables.route_tables() {
            let Some(stray) = rt.route_table_id().filter(|id| *id != keep) else { continue };
            let empty = rt.associations().is_empty() && rt.routes().iter().all(|r| r.gateway_id() == Some("local"));
            if empty && self.observe(rt).is_some_and(|o| is_owned_match(&SCHEMA, desired, &o)) {
                let _ = self.client.delete_route_table().route_table_id(stray).send().await;
            }
        }
    }
}

/// Whether `table` is already associated with one of `subnets` (its own earlier association).
fn holds_any(table: &Observed, subnets: &BTreeSet<String>) -> bool {
    table.props.get("subnet_ids").and_then(Value::as_array).is_some_and(|held| held.iter().any(|s| s.as_str().is_some_and(|s| subnets.contains(s))))
}

#[async_trait]
impl ResourceKind for Ec2RouteTable {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.describe_one(id).await?.as_ref().and_then(|rt| self.observe(rt)))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        read_batched(ids, |lookup| self.describe(lookup), |rt| self.observe(rt)).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let (routes, subnets) = desired_table(desired)?;
        let vpc = required_str(&SCHEMA, desired, "vpc_id")?;
        for generation in 0..TOKEN_GENERATIONS {
            let out = self
                .client
                .create_route_table()
                .vpc_id(&vpc)
                .client_token(client_token(desired, generation))
                .set_tag_specifications(tag_spec(ResourceType::RouteTable, &desired.tags))
                .send()
                .await
                .op_in(&EC2, "CreateRouteTable");
            let out = match out {
                Err(e) if is_token_mismatch(&e) => continue,
                other => other?,
            };
            let id = out
                .route_table()
                .and_then(|rt| rt.route_table_id())
                .ok_or_else(|| ProviderError::Fatal("CreateRouteTable: no route table id in the response".into()))?
                .to_string();
            let filled = async {
                self.sync_routes(&id, &[], &routes).await?;
                self.sync_subnets(&id, &BTreeMap::new(), &subnets).await
            }
            .await;
            match filled {
                Ok(()) => {
                    let created = read_created("route table", &id, || self.read(&id)).await?;
                    self.delete_strays(desired, &id).await;
                    return Ok(created);
                }
                // The token names a table deleted since (a replacement, an out-of-band delete).
                Err(ProviderError::NotFound(_)) => continue,
                // The token names a table an earlier attempt made and began to fill, before its
                // answer was lost or the process died: finish it from what it holds now.
                Err(e) if text_of(&e).contains("RouteAlreadyExists") || text_of(&e).contains("Resource.AlreadyAssociated") => match self.read(&id).await? {
                    Some(current) if !text_of(&e).contains("Resource.AlreadyAssociated") || holds_any(&current, &subnets) => {
                        return adopt(self, desired, &format!("route table {id}"), current).await;
                    }
                    _ => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
        Err(ProviderError::Conflict(format!(
            "CreateRouteTable: each of the {TOKEN_GENERATIONS} client tokens of this address names a route table deleted within the last day; re-run apply tomorrow or give the table another address"
        )))
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let (routes, subnets) = desired_table(desired)?;
        let rt = self.describe_one(id).await?.ok_or_else(|| ProviderError::NotFound(format!("route table {id} no longer exists")))?;
        if changed.iter().any(|c| c == "routes") {
            let mut current: Vec<RouteSpec> = rt.routes().iter().filter_map(RouteSpec::from_aws).collect();
            current.sort();
            self.sync_routes(id, &current, &routes).await?;
        }
        if changed.iter().any(|c| c == "subnet_ids") {
            self.sync_subnets(id, &subnet_associations(&rt), &subnets).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            sync_tags(&self.client, id, &tags_of(rt.tags()), &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("route table {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let Some(rt) = self.describe_one(id).await? else { return Ok(()) };
        if rt.associations().iter().any(|a| a.main() == Some(true)) {
            return Err(ProviderError::Conflict(format!("route table {id} is its VPC's main route table, which goes only with the VPC")));
        }
        self.sync_subnets(id, &subnet_associations(&rt), &BTreeSet::new()).await?;
        match gone(self.client.delete_route_table().route_table_id(id).send().await.map(|_| ()).op_in(&EC2, "DeleteRouteTable")) {
            Err(ProviderError::Conflict(m)) => {
                Err(ProviderError::Conflict(format!("route table {id} is still associated (with a gateway or a subnet added meanwhile): re-run destroy ({m})")))
            }
            other => other,
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let tables = self
            .client
            .describe_route_tables()
            .set_filters(Some(owner_filters(desired)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .op_in(&EC2, "DescribeRouteTables")?;
        Ok(pick_owned(&SCHEMA, desired, tables.iter().filter_map(|rt| self.observe(rt))))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_ec2::operation::associate_route_table::{AssociateRouteTableError, AssociateRouteTableInput, AssociateRouteTableOutput};
    use aws_sdk_ec2::operation::create_route::{CreateRouteInput, CreateRouteOutput};
    use aws_sdk_ec2::operation::create_route_table::{CreateRouteTableInput, CreateRouteTableOutput};
    use aws_sdk_ec2::operation::delete_route::{DeleteRouteInput, DeleteRouteOutput};
    use aws_sdk_ec2::operation::delete_route_table::{DeleteRouteTableError, DeleteRouteTableOutput};
    use aws_sdk_ec2::operation::describe_route_tables::{DescribeRouteTablesError, DescribeRouteTablesInput, DescribeRouteTablesOutput};
    use aws_sdk_ec2::operation::disassociate_route_table::{DisassociateRouteTableInput, DisassociateRouteTableOutput};
    use aws_sdk_ec2::operation::replace_route::{ReplaceRouteInput, ReplaceRouteOutput};
    use aws_sdk_ec2::types::{RouteOrigin, RouteTableAssociation};
    use aws_smithy_mocks::{mock, MockResponse, Rule};

    use proptest::prelude::*;

    use super::*;
    use crate::ec2_common::testing::{
        builder_accepts_all, cidr4, cidr6, client, defaults_typecheck, desired, ec2_tags, error_meta, owner, props_with,
        schema_refuses_what_the_builder_refuses,
    };

    fn table(id: &str, subnets: &[&str], extra_routes: Vec<Route>) -> RouteTable {
        let mut b = RouteTable::builder()
            .route_table_id(id)
            .vpc_id("vpc-1")
            .owner_id("123456789012")
            .set_tags(Some(ec2_tags(&owner().tags())))
            .routes(Route::builder().destination_cidr_block("10.0.0.0/16").gateway_id("local").origin(RouteOrigin::CreateRouteTable).build())
            .routes(Route::builder().destination_prefix_list_id("pl-63a5400a").gateway_id("vpce-0abc").origin(RouteOrigin::CreateRoute).build())
            .routes(Route::builder().destination_cidr_block("172.16.0.0/12").gateway_id("vgw-1").origin(RouteOrigin::EnableVgwRoutePropagation).build());
        for r in extra_routes {
            b = b.routes(r);
        }
        for (i, s) in subnets.iter().enumerate() {
            b = b.associations(RouteTableAssociation::builder().subnet_id(*s).route_table_association_id(format!("rtbassoc-{i}")).main(false).build());
        }
        b.build()
    }

    fn igw_route() -> Route {
        Route::builder().destination_cidr_block("0.0.0.0/0").gateway_id("igw-1").origin(RouteOrigin::CreateRoute).build()
    }

    fn describe(tables: Vec<RouteTable>) -> Rule {
        mock!(Client::describe_route_tables).then_compute_response(move |input: &DescribeRouteTablesInput| {
            let ids = input.route_table_ids().to_vec();
            if ids.iter().any(|i| !tables.iter().any(|t| t.route_table_id() == Some(i.as_str()))) {
                return MockResponse::Error(DescribeRouteTablesError::generic(error_meta("InvalidRouteTableID.NotFound")));
            }
            let wanted: Vec<String> = if ids.is_empty() { input.filters().iter().flat_map(|f| f.values().to_vec()).collect() } else { ids };
            MockResponse::Output(
                DescribeRouteTablesOutput::builder()
                    .set_route_tables(Some(tables.iter().filter(|t| wanted.iter().any(|w| Some(w.as_str()) == t.route_table_id())).cloned().collect()))
                    .build(),
            )
        })
    }

    fn record<I: Clone + Send + Sync + 'static>() -> Arc<Mutex<Vec<I>>> {
        Arc::default()
    }

    #[test]
    fn defaults_pass_the_schema() {
        defaults_typecheck(&SCHEMA);
    }

    /// Route lists the schema accepts: a random draw of nine optional keys almost never has
    /// exactly one destination and one target, so routes are drawn that way, then sorted.
    fn routes() -> BoxedStrategy<Value> {
        let destination = prop_oneof![
            cidr4(0..=32).prop_map(|c| ("destination_cidr_block", c)),
            cidr6().prop_map(|c| ("destination_ipv6_cidr_block", c)),
            "pl-[0-9a-f]{8}".prop_map(|p| ("destination_prefix_list_id", json!(p))),
        ];
        let target = (proptest::sample::select(TARGETS), "[a-z]{2,4}-[0-9a-f]{8,17}");
        proptest::collection::vec((destination, target), 0..5)
            .prop_map(|routes| {
                let mut specs: Vec<RouteSpec> = routes
                    .into_iter()
                    .map(|((dk, d), (tk, t))| RouteSpec {
                        destination: d.as_str().unwrap_or_default().to_string(),
                        destination_key: dk,
                        target_key: tk,
                        target: t,
                    })
                    .collect();
                specs.sort();
                specs.dedup_by(|a, b| a.destination == b.destination);
                Value::Array(specs.iter().map(RouteSpec::to_json).collect())
            })
            .boxed()
    }

    /// Agreement: every props value the schema accepts becomes routes and associations.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request() {
        builder_accepts_all(&SCHEMA, props_with(&SCHEMA, vec![("routes", routes())]), desired_table);
        // The draw from the declared types alone, as `schema_gen::props` makes it (empty route lists, mostly).
        builder_accepts_all(&SCHEMA, crate::schema_gen::props(&SCHEMA), desired_table);
    }

    /// Agreement: what the builder refuses, the schema refuses (so `validate` reports it).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let route = |r: Value| json!({"vpc_id": "vpc-1", "routes": [r]});
        schema_refuses_what_the_builder_refuses(
            &SCHEMA,
            &[
                json!({"routes": []}),
                route(json!({"destination_cidr_block": "0.0.0.0/0"})),
                route(json!({"gateway_id": "igw-1"})),
                route(json!({"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1", "nat_gateway_id": "nat-1"})),
                route(json!({"destination_cidr_block": "0.0.0.0/0", "destination_prefix_list_id": "pl-1", "gateway_id": "igw-1"})),
                route(json!({"destination_cidr_block": "0.0.0.0/0", "gateway": "igw-1"})),
                route(json!({"destination_cidr_block": "0.0.0.0/0", "gateway_id": 1})),
                route(json!({"destination_cidr_block": "0.0.0.0/33", "gateway_id": "igw-1"})),
                route(json!({"destination_ipv6_cidr_block": "::/0/1", "gateway_id": "igw-1"})),
                json!({"vpc_id": "vpc-1", "routes": [
                    {"destination_cidr_block": "10.0.0.0/8", "gateway_id": "igw-1"},
                    {"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"},
                ]}),
                json!({"vpc_id": "vpc-1", "routes": [
                    {"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"},
                    {"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1"},
                ]}),
                json!({"vpc_id": "vpc-1", "routes": {"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"}}),
                json!({"vpc_id": "vpc-1", "subnet_ids": "subnet-1"}),
                json!({"vpc_id": "vpc-1", "subnet_ids": [1]}),
            ],
            desired_table,
        );
    }

    #[tokio::test]
    async fn create_tags_in_the_call_adds_routes_and_associations() {
        let created = record::<CreateRouteTableInput>();
        let sink = created.clone();
        let create = mock!(Client::create_route_table).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateRouteTableOutput::builder().route_table(table("rtb-1", &[], vec![])).build()
        });
        let routes = record::<CreateRouteInput>();
        let rsink = routes.clone();
        let route = mock!(Client::create_route).then_compute_output(move |input| {
            rsink.lock().unwrap().push(input.clone());
            CreateRouteOutput::builder().r#return(true).build()
        });
        let assocs = record::<AssociateRouteTableInput>();
        let asink = assocs.clone();
        let assoc = mock!(Client::associate_route_table).then_compute_output(move |input| {
            asink.lock().unwrap().push(input.clone());
            AssociateRouteTableOutput::builder().association_id("rtbassoc-x").build()
        });
        let kind = Ec2RouteTable::from_client(client(&[create, route, assoc, describe(vec![table("rtb-1", &["subnet-a", "subnet-b"], vec![igw_route()])])]));
        let want = desired(
            json!({"vpc_id": "vpc-1", "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"}], "subnet_ids": ["subnet-b", "subnet-a"]}),
        );

        let obs = kind.create(&want).await.unwrap();

        let input = created.lock().unwrap().pop().unwrap();
        assert_eq!(input.vpc_id(), Some("vpc-1"));
        assert!(input.client_token().unwrap().starts_with(&want.idempotency_token));
        assert_eq!(tags_of(input.tag_specifications()[0].tags()), want.tags);
        let r = routes.lock().unwrap().pop().unwrap();
        assert_eq!((r.route_table_id(), r.destination_cidr_block(), r.gateway_id()), (Some("rtb-1"), Some("0.0.0.0/0"), Some("igw-1")));
        let subnets: BTreeSet<_> = assocs.lock().unwrap().iter().map(|a| a.subnet_id().unwrap().to_string()).collect();
        assert_eq!(subnets, BTreeSet::from(["subnet-a".to_string(), "subnet-b".to_string()]));
        assert_eq!(
            obs.props["routes"],
            json!([{"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"}]),
            "local, propagated and endpoint routes are not reported"
        );
        assert_eq!(obs.props["subnet_ids"], json!(["subnet-a", "subnet-b"]));
        assert_eq!(obs.attrs["arn"], json!("arn:aws:ec2:us-east-1:123456789012:route-table/rtb-1"));
    }

    #[tokio::test]
    async fn update_replaces_changed_routes_deletes_removed_and_moves_associations() {
        let nat_route = Route::builder().destination_cidr_block("10.9.0.0/16").nat_gateway_id("nat-1").origin(RouteOrigin::CreateRoute).build();
        let replaced = record::<ReplaceRouteInput>();
        let sink = replaced.clone();
        let replace = mock!(Client::replace_route).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            ReplaceRouteOutput::builder().build()
        });
        let deleted = record::<DeleteRouteInput>();
        let dsink = deleted.clone();
        let delete = mock!(Client::delete_route).then_compute_output(move |input| {
            dsink.lock().unwrap().push(input.clone());
            DeleteRouteOutput::builder().build()
        });
        let disassoc = record::<DisassociateRouteTableInput>();
        let xsink = disassoc.clone();
        let disassociate = mock!(Client::disassociate_route_table).then_compute_output(move |input| {
            xsink.lock().unwrap().push(input.clone());
            DisassociateRouteTableOutput::builder().build()
        });
        let associate = mock!(Client::associate_route_table).then_output(|| AssociateRouteTableOutput::builder().association_id("rtbassoc-new").build());
        let create = mock!(Client::create_route).then_output(|| CreateRouteOutput::builder().build());
        let kind = Ec2RouteTable::from_client(client(&[
            replace,
            delete,
            disassociate,
            associate.clone(),
            create.clone(),
            describe(vec![table("rtb-1", &["subnet-a"], vec![igw_route(), nat_route])]),
        ]));
        let want =
            desired(json!({"vpc_id": "vpc-1", "routes": [{"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-2"}], "subnet_ids": ["subnet-c"]}));

        kind.update("rtb-1", &want, &["routes".into(), "subnet_ids".into()]).await.unwrap();

        let r = replaced.lock().unwrap().pop().unwrap();
        assert_eq!((r.destination_cidr_block(), r.nat_gateway_id(), r.gateway_id()), (Some("0.0.0.0/0"), Some("nat-2"), None));
        assert_eq!(deleted.lock().unwrap().pop().unwrap().destination_cidr_block(), Some("10.9.0.0/16"));
        assert_eq!(create.num_calls(), 0);
        assert_eq!(associate.num_calls(), 1);
        assert_eq!(disassoc.lock().unwrap().pop().unwrap().association_id(), Some("rtbassoc-0"));
    }

    #[tokio::test]
    async fn routes_out_of_order_are_rejected_with_the_order_to_use() {
        let kind = Ec2RouteTable::from_client(client(&[]));
        let want = desired(json!({"vpc_id": "vpc-1", "routes": [
            {"destination_cidr_block": "10.1.0.0/16", "nat_gateway_id": "nat-1"},
            {"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"},
        ]}));
        let err = kind.create(&want).await.unwrap_err();
        let ProviderError::Invalid(m) = &err else { panic!("{err:?}") };
        assert!(m.contains("sorted by destination") && m.find("0.0.0.0/0") < m.find("10.1.0.0/16"), "{m}");
    }

    #[test]
    fn route_shapes_are_checked() {
        assert!(RouteSpec::from_json(&json!({"destination_cidr_block": "0.0.0.0/0"})).is_err());
        assert!(RouteSpec::from_json(&json!({"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1", "nat_gateway_id": "nat-1"})).is_err());
        assert!(RouteSpec::from_json(&json!({"destination_cidr_block": "0.0.0.0/0", "gateway": "igw-1"})).is_err());
        let r = RouteSpec::from_json(&json!({"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1"})).unwrap();
        assert_eq!(r.to_json(), json!({"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1"}));
    }

    #[tokio::test]
    async fn a_replayed_token_finishes_the_table_an_earlier_attempt_began() {
        let create = mock!(Client::create_route_table).then_output(|| CreateRouteTableOutput::builder().route_table(table("rtb-1", &[], vec![])).build());
        let route =
            mock!(Client::create_route).then_error(|| aws_sdk_ec2::operation::create_route::CreateRouteError::generic(error_meta("RouteAlreadyExists")));
        let assoc = mock!(Client::associate_route_table).then_output(|| AssociateRouteTableOutput::builder().association_id("rtbassoc-b").build());
        let half = table("rtb-1", &["subnet-a"], vec![igw_route()]);
        let mut want = desired(
            json!({"vpc_id": "vpc-1", "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"}], "subnet_ids": ["subnet-a", "subnet-b"]}),
        );
        want.tags = owner().tags();
        let kind = Ec2RouteTable::from_client(client(&[create.clone(), route.clone(), assoc.clone(), describe(vec![half])]));
        assert_eq!(kind.create(&want).await.unwrap().id, "rtb-1");
        assert_eq!((create.num_calls(), route.num_calls(), assoc.num_calls()), (1, 1, 1), "only the missing association is added");
    }

    #[tokio::test]
    async fn an_empty_stray_left_by_a_repeated_create_is_deleted() {
        let fresh = |id: &str| {
            RouteTable::builder()
                .route_table_id(id)
                .vpc_id("vpc-1")
                .set_tags(Some(ec2_tags(&owner().tags())))
                .routes(Route::builder().destination_cidr_block("10.0.0.0/16").gateway_id("local").build())
                .build()
        };
        let create = mock!(Client::create_route_table).then_output(move || CreateRouteTableOutput::builder().route_table(fresh("rtb-2")).build());
        let all = [fresh("rtb-1"), fresh("rtb-2"), table("rtb-3", &["subnet-a"], vec![])];
        let describe = mock!(Client::describe_route_tables).then_compute_output(move |input: &DescribeRouteTablesInput| {
            let ids = input.route_table_ids().to_vec();
            let found = all.iter().filter(|t| ids.is_empty() || ids.iter().any(|i| t.route_table_id() == Some(i))).cloned().collect();
            DescribeRouteTablesOutput::builder().set_route_tables(Some(found)).build()
        });
        let deleted = record::<aws_sdk_ec2::operation::delete_route_table::DeleteRouteTableInput>();
        let sink = deleted.clone();
        let del = mock!(Client::delete_route_table).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            aws_sdk_ec2::operation::delete_route_table::DeleteRouteTableOutput::builder().build()
        });
        let kind = Ec2RouteTable::from_client(client(&[create, describe, del]));
        assert_eq!(kind.create(&desired(json!({"vpc_id": "vpc-1"}))).await.unwrap().id, "rtb-2");
        let deleted: Vec<_> = deleted.lock().unwrap().iter().map(|d| d.route_table_id().unwrap().to_string()).collect();
        assert_eq!(deleted, ["rtb-1"], "the new table and the one in use stay");
    }

    #[tokio::test]
    async fn association_taken_by_another_table_is_a_conflict_with_advice() {
        let create = mock!(Client::create_route_table).then_output(|| CreateRouteTableOutput::builder().route_table(table("rtb-1", &[], vec![])).build());
        let assoc = mock!(Client::associate_route_table).then_error(|| AssociateRouteTableError::generic(error_meta("Resource.AlreadyAssociated")));
        let kind = Ec2RouteTable::from_client(client(&[create, assoc, describe(vec![table("rtb-1", &[], vec![])])]));
        let err = kind.create(&desired(json!({"vpc_id": "vpc-1", "subnet_ids": ["subnet-a"]}))).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Conflict(m) if m.contains("subnet-a is already associated")), "{err:?}");
    }

    #[tokio::test]
    async fn delete_disassociates_subnets_first() {
        let disassociate = mock!(Client::disassociate_route_table).then_output(|| DisassociateRouteTableOutput::builder().build());
        let del = mock!(Client::delete_route_table).then_output(|| DeleteRouteTableOutput::builder().build());
        let kind = Ec2RouteTable::from_client(client(&[disassociate.clone(), del.clone(), describe(vec![table("rtb-1", &["subnet-a", "subnet-b"], vec![])])]));
        kind.delete("rtb-1").await.unwrap();
        assert_eq!((disassociate.num_calls(), del.num_calls()), (2, 1));
    }

    #[tokio::test]
    async fn delete_of_missing_table_is_ok() {
        let del = mock!(Client::delete_route_table).then_error(|| DeleteRouteTableError::generic(error_meta("InvalidRouteTableID.NotFound")));
        let kind = Ec2RouteTable::from_client(client(&[describe(vec![]), del.clone()]));
        kind.delete("rtb-9").await.unwrap();
        assert_eq!(kind.read("rtb-9").await.unwrap(), None);
    }

    #[tokio::test]
    async fn read_many_is_one_call_and_survives_deleted_ids() {
        let rule = describe(vec![table("rtb-1", &[], vec![]), table("rtb-2", &[], vec![igw_route()])]);
        let kind = Ec2RouteTable::from_client(client(std::slice::from_ref(&rule)));
        let out = kind.read_many(&["rtb-1".into(), "rtb-2".into()]).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
        assert_eq!(out["rtb-1"].as_ref().unwrap().props["routes"], json!([]));
        let out = kind.read_many(&["rtb-1".into(), "rtb-gone".into()]).await.unwrap();
        assert_eq!(out["rtb-gone"], None);
        assert!(out["rtb-1"].is_some());
    }
}
