//! Terraform's VPC resources → `aws.ec2.*`: VPCs, subnets, gateways, Elastic IPs, route tables and security groups.
//!
//! Terraform splits a route table into `aws_route_table` + `aws_route` + `aws_route_table_association`
//! and a security group into `aws_security_group` + `aws_security_group_rule` /
//! `aws_vpc_security_group_{ingress,egress}_rule`; cairn keeps routes, associations and rules on the
//! table or group itself, so the parts are folded into their parent. The provider refreshes a
//! parent's inline `route` / `ingress` / `egress` from AWS, so those lists usually repeat what the
//! separate resources manage: both are merged and de-duplicated, and the result is written in the
//! order the kind's `read` reports it (routes by destination; rules by ports, protocol,
//! description, source), since any other order would be refused at apply.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{Family, Input, Mapped, Output, TfInstance};
use crate::sg_rule::{has_ports, Rule, RuleKey, Source};

pub const FAMILY: Family = Family {
    name: "network",
    types: &[
        "aws_vpc",
        "aws_subnet",
        "aws_internet_gateway",
        "aws_internet_gateway_attachment",
        "aws_eip",
        "aws_nat_gateway",
        "aws_route_table",
        "aws_route",
        "aws_route_table_association",
        "aws_security_group",
        "aws_security_group_rule",
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
    ],
    map,
};

pub fn map(input: &Input, out: &mut Output) {
    for tf in input.of_type("aws_vpc") {
        out.push(vpc(tf));
    }
    for tf in input.of_type("aws_subnet") {
        out.push(subnet(tf));
    }
    for tf in input.of_type("aws_internet_gateway") {
        out.push(internet_gateway(input, tf));
    }
    for tf in input.of_type("aws_eip") {
        out.push(eip(tf));
    }
    for tf in input.of_type("aws_nat_gateway") {
        out.push(nat_gateway(tf));
    }
    for tf in input.of_type("aws_route_table") {
        let table = route_table(input, out, tf);
        out.push(table);
    }
    for tf in input.of_type("aws_security_group") {
        out.push(security_group(input, tf));
    }
    // Parts whose parent is not in this state stay unconsumed (reported as left out); say why.
    let parents = |ty: &str| -> Vec<String> { input.of_type(ty).filter_map(|p| p.str("id")).map(str::to_string).collect() };
    let parts: [(&str, &str, Vec<String>); 6] = [
        ("aws_internet_gateway_attachment", "internet_gateway_id", parents("aws_internet_gateway")),
        ("aws_route", "route_table_id", parents("aws_route_table")),
        ("aws_route_table_association", "route_table_id", parents("aws_route_table")),
        ("aws_security_group_rule", "security_group_id", parents("aws_security_group")),
        ("aws_vpc_security_group_ingress_rule", "security_group_id", parents("aws_security_group")),
        ("aws_vpc_security_group_egress_rule", "security_group_id", parents("aws_security_group")),
    ];
    for (ty, key, known) in parts {
        for tf in input.of_type(ty) {
            let parent = tf.str(key).unwrap_or_default();
            if !known.iter().any(|k| k == parent) {
                out.note(tf, format!("left out: {parent} is not a resource of this Terraform state, and cairn manages this only as part of it"));
            }
        }
    }
}

fn vpc(tf: &TfInstance) -> Mapped {
    let id = tf.str("id").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.ec2.vpc", id);
    m.prop("cidr_block", tf.str("cidr_block").map(|s| json!(s)))
        .prop("enable_dns_support", tf.bool("enable_dns_support").map(|b| json!(b)))
        // The provider's default is false and cairn's true: the value is always written down.
        .prop("enable_dns_hostnames", tf.bool("enable_dns_hostnames").map(|b| json!(b)))
        .prop("instance_tenancy", tf.str("instance_tenancy").map(|s| json!(s)))
        .attr("arn", tf.str("arn"))
        .attr("default_security_group_id", tf.str("default_security_group_id"))
        .attr("main_route_table_id", tf.str("main_route_table_id"));
    if tf.str("ipv6_cidr_block").is_some() || tf.bool("assign_generated_ipv6_cidr_block") == Some(true) {
        m.note("the VPC's IPv6 CIDR block is not managed by cairn (it stays as it is)");
    }
    if tf.bool("enable_network_address_usage_metrics") == Some(true) {
        m.note("network address usage metrics are not managed by cairn (they stay on)");
    }
    m
}

fn subnet(tf: &TfInstance) -> Mapped {
    let id = tf.str("id").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.ec2.subnet", id);
    m.prop("vpc_id", tf.str("vpc_id").map(|s| json!(s)))
        .prop("cidr_block", tf.str("cidr_block").map(|s| json!(s)))
        .prop("availability_zone", tf.str("availability_zone").map(|s| json!(s)))
        .prop("map_public_ip_on_launch", tf.bool("map_public_ip_on_launch").map(|b| json!(b)))
        .attr("arn", tf.str("arn"));
    if tf.str("ipv6_cidr_block").is_some() || tf.bool("assign_ipv6_address_on_creation") == Some(true) || tf.bool("enable_dns64") == Some(true) {
        m.note("the subnet's IPv6 settings are not managed by cairn (they stay as they are)");
    }
    m
}

fn internet_gateway(input: &Input, tf: &TfInstance) -> Mapped {
    let id = tf.str("id").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.ec2.internet_gateway", id);
    // The provider records the attached VPC on the gateway too; a separate attachment names it as well.
    let mut vpc_id = tf.str("vpc_id").map(str::to_string);
    for att in input.parts("aws_internet_gateway_attachment", "internet_gateway_id", id) {
        vpc_id = vpc_id.or(att.str("vpc_id").map(str::to_string));
        m.merge(att);
    }
    m.prop("vpc_id", vpc_id.map(Value::String)).attr("arn", tf.str("arn"));
    m
}

fn eip(tf: &TfInstance) -> Mapped {
    let id = tf.str("allocation_id").or(tf.str("id")).unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.ec2.eip", id);
    let domain = tf.str("domain").or_else(|| (tf.bool("vpc") == Some(true)).then_some("vpc"));
    m.prop("domain", domain.map(|s| json!(s))).attr("public_ip", tf.str("public_ip"));
    if tf.str("instance").is_some() {
        m.note("the address's association with an instance is not managed by cairn (it stays as it is)");
    }
    m
}

fn nat_gateway(tf: &TfInstance) -> Mapped {
    let id = tf.str("id").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.ec2.nat_gateway", id);
    m.prop("subnet_id", tf.str("subnet_id").map(|s| json!(s)))
        .prop("allocation_id", tf.str("allocation_id").map(|s| json!(s)))
        .prop("connectivity_type", tf.str("connectivity_type").map(|s| json!(s)));
    if !tf.strings("secondary_allocation_ids").is_empty() || tf.i64("secondary_private_ip_address_count").unwrap_or(0) > 0 {
        m.note("secondary addresses of the NAT gateway are not managed by cairn (they stay as they are)");
    }
    m
}

/// Route destinations and targets as the provider names them in `aws_route_table.route` and
/// `aws_route` → cairn's key. Targets in the order cairn's read picks them when AWS reports several.
const ROUTE_DESTINATIONS: &[(&str, &str, &str)] = &[
    // (route_table.route key, aws_route key, cairn key)
    ("cidr_block", "destination_cidr_block", "destination_cidr_block"),
    ("ipv6_cidr_block", "destination_ipv6_cidr_block", "destination_ipv6_cidr_block"),
    ("destination_prefix_list_id", "destination_prefix_list_id", "destination_prefix_list_id"),
];
const ROUTE_TARGETS: &[(&str, &str)] = &[
    ("nat_gateway_id", "nat_gateway_id"),
    ("gateway_id", "gateway_id"),
    // A Gateway Load Balancer endpoint is reported by AWS as the route's gateway.
    ("vpc_endpoint_id", "gateway_id"),
    ("transit_gateway_id", "transit_gateway_id"),
    ("vpc_peering_connection_id", "vpc_peering_connection_id"),
    ("egress_only_gateway_id", "egress_only_gateway_id"),
    ("network_interface_id", "network_interface_id"),
    // Targets cairn cannot create; its read reports them as the gateway.
    ("local_gateway_id", "gateway_id"),
    ("carrier_gateway_id", "gateway_id"),
    ("core_network_arn", "gateway_id"),
];

/// One route in cairn's shape: (destination, destination key, target key, target) — the kind's sort order.
type Route = (String, &'static str, &'static str, String);

fn route_of(obj: &Map<String, Value>, separate: bool) -> Option<Route> {
    let text = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let (dest_key, dest) = ROUTE_DESTINATIONS.iter().find_map(|(inline, sep, key)| text(if separate { sep } else { inline }).map(|d| (*key, d)))?;
    let (target_key, target) = ROUTE_TARGETS.iter().find_map(|(tf_key, key)| text(tf_key).map(|t| (*key, t)))?;
    Some((dest, dest_key, target_key, target))
}

fn route_json((dest, dest_key, target_key, target): &Route) -> Value {
    let mut m = Map::new();
    m.insert(dest_key.to_string(), json!(dest));
    m.insert(target_key.to_string(), json!(target));
    Value::Object(m)
}

fn route_table(input: &Input, out: &mut Output, tf: &TfInstance) -> Mapped {
    let id = tf.str("id").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.ec2.route_table", id);
    // Keyed by destination: a table has one route per destination, and the separate resource wins.
    let mut routes: BTreeMap<String, Route> = BTreeMap::new();
    for r in tf.list("route").iter().filter_map(Value::as_object).filter_map(|o| route_of(o, false)) {
        if r.3 != "local" {
            routes.insert(r.0.clone(), r);
        }
    }
    for part in input.parts("aws_route", "route_table_id", id) {
        // The provider records an instance target by its network interface too, which is what AWS reports.
        match route_of(&part.attrs, true) {
            Some(r) if r.3 == "local" => out.consume(part, "the VPC's local route belongs to AWS; cairn never lists it"),
            Some(r) => {
                routes.insert(r.0.clone(), r);
                m.merge(part);
            }
            None => {
                m.merge(part);
                m.note(format!(
                    "{}: cairn cannot express this route's destination or target; review the plan, which compares the table's routes with AWS",
                    part.address
                ));
            }
        }
    }
    let mut routes: Vec<Route> = routes.into_values().collect();
    routes.sort();
    if routes.iter().any(|r| r.3.starts_with("lgw-") || r.3.starts_with("cagw-") || r.3.starts_with("arn:")) {
        m.note("a route to a local gateway, carrier gateway or core network is kept as cairn reads it, but cairn could not create it again");
    }
    let mut subnets: Vec<String> = vec![];
    for assoc in input.parts("aws_route_table_association", "route_table_id", id) {
        match assoc.str("subnet_id") {
            Some(subnet) => {
                subnets.push(subnet.to_string());
                m.merge(assoc);
            }
            None => out.note(assoc, "left out: cairn associates route tables with subnets only, not with gateways (edge associations)"),
        }
    }
    subnets.sort();
    subnets.dedup();
    m.prop("vpc_id", tf.str("vpc_id").map(|s| json!(s)))
        .prop("routes", Value::Array(routes.iter().map(route_json).collect()))
        .prop("subnet_ids", json!(subnets))
        .attr("arn", tf.str("arn"));
    if !tf.strings("propagating_vgws").is_empty() {
        m.note("route propagation from virtual private gateways is not managed by cairn (it stays on)");
    }
    m
}

/// The protocol as AWS reports it: names for tcp/udp/icmp/icmpv6, `-1` for all traffic.
fn protocol(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        "all" | "-1" | "" => "-1".into(),
        other => other.to_string(),
    }
}

/// One rule per source from a rule that may list several (`ingress` blocks, `aws_security_group_rule`).
fn rules_of(obj: &Map<String, Value>, group_id: &str, group_key: &str) -> Vec<Rule> {
    let text = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let int = |k: &str| obj.get(k).and_then(Value::as_i64);
    let list = |k: &str| -> Vec<String> {
        match obj.get(k) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string).collect(),
            Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
            _ => vec![],
        }
    };
    let protocol = protocol(&text("protocol").or(text("ip_protocol")).unwrap_or_default());
    let (from_port, to_port) = if has_ports(&protocol) { (int("from_port").unwrap_or(0), int("to_port").unwrap_or(0)) } else { (0, 0) };
    let description = text("description");
    let mut sources: Vec<Source> = vec![];
    sources.extend(list("cidr_blocks").into_iter().chain(list("cidr_ipv4")).map(Source::Cidr));
    sources.extend(list("ipv6_cidr_blocks").into_iter().chain(list("cidr_ipv6")).map(Source::Ipv6));
    sources.extend(list("prefix_list_ids").into_iter().chain(list("prefix_list_id")).map(Source::PrefixList));
    sources.extend(list(group_key).into_iter().chain(list("referenced_security_group_id")).map(Source::Group));
    if obj.get("self").and_then(Value::as_bool) == Some(true) {
        sources.push(Source::Group(group_id.to_string()));
    }
    sources.into_iter().map(|source| Rule { from_port, to_port, protocol: protocol.clone(), description: description.clone(), source }).collect()
}

fn security_group(input: &Input, tf: &TfInstance) -> Mapped {
    let id = tf.str("id").unwrap_or_default();
    let mut m = Mapped::new(tf, "aws.ec2.security_group", id);
    // Keyed by what identifies a rule to AWS (everything but the description): the provider
    // repeats separately managed rules in the group's own lists, and the separate resource wins.
    let mut ingress: BTreeMap<RuleKey, Rule> = BTreeMap::new();
    let mut egress: BTreeMap<RuleKey, Rule> = BTreeMap::new();
    for (list, rules) in [("ingress", &mut ingress), ("egress", &mut egress)] {
        for r in tf.list(list).iter().filter_map(Value::as_object).flat_map(|o| rules_of(o, id, "security_groups")) {
            rules.insert(r.key(), r);
        }
    }
    for part in input.parts("aws_security_group_rule", "security_group_id", id) {
        let rules = if part.str("type") == Some("egress") { &mut egress } else { &mut ingress };
        for r in rules_of(&part.attrs, id, "source_security_group_id") {
            rules.insert(r.key(), r);
        }
        m.merge(part);
    }
    for (ty, rules) in [("aws_vpc_security_group_ingress_rule", &mut ingress), ("aws_vpc_security_group_egress_rule", &mut egress)] {
        for part in input.parts(ty, "security_group_id", id) {
            for r in rules_of(&part.attrs, id, "referenced_security_group_id") {
                rules.insert(r.key(), r);
            }
            m.merge(part);
            if !part.string_map("tags").is_empty() {
                m.note(format!("{}: tags on a single rule are not managed by cairn (they stay on the rule)", part.address));
            }
        }
    }
    let sorted = |rules: BTreeMap<RuleKey, Rule>| {
        let mut v: Vec<Rule> = rules.into_values().collect();
        v.sort();
        Value::Array(v.iter().map(Rule::to_json).collect())
    };
    m.prop("name", tf.str("name").map(|s| json!(s)))
        .prop("description", tf.str("description").map(|s| json!(s)))
        .prop("vpc_id", tf.str("vpc_id").map(|s| json!(s)))
        .prop("ingress", sorted(ingress))
        // Always written: Terraform removes the allow-all egress rule AWS adds, cairn's default keeps it.
        .prop("egress", sorted(egress))
        .attr("arn", tf.str("arn"));
    m
}

#[cfg(test)]
mod tests {
    use super::super::testing::{find, inst, run};
    use super::*;

    #[test]
    fn a_vpc_keeps_the_providers_dns_hostnames_default_and_its_referenceable_ids() {
        let out = run(
            map,
            vec![inst(
                "aws_vpc.main",
                json!({
                    "arn": "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0a1", "assign_generated_ipv6_cidr_block": false, "cidr_block": "10.0.0.0/16",
                    "default_network_acl_id": "acl-1", "default_route_table_id": "rtb-main", "default_security_group_id": "sg-default",
                    "dhcp_options_id": "dopt-1", "enable_dns_hostnames": false, "enable_dns_support": true, "enable_network_address_usage_metrics": false,
                    "id": "vpc-0a1", "instance_tenancy": "default", "ipv4_ipam_pool_id": null, "ipv4_netmask_length": null, "ipv6_association_id": "",
                    "ipv6_cidr_block": "", "ipv6_cidr_block_network_border_group": "", "ipv6_ipam_pool_id": "", "ipv6_netmask_length": 0,
                    "main_route_table_id": "rtb-main", "owner_id": "123456789012", "tags": {"Name": "main"}, "tags_all": {"Name": "main", "Team": "platform"}
                }),
            )],
        );
        let m = find(&out, "aws_vpc.main");
        assert_eq!((m.kind.as_str(), m.id.as_str()), ("aws.ec2.vpc", "vpc-0a1"));
        assert_eq!(
            Value::Object(m.props.clone()),
            json!({"cidr_block": "10.0.0.0/16", "enable_dns_support": true, "enable_dns_hostnames": false, "instance_tenancy": "default"})
        );
        assert_eq!(m.attrs["main_route_table_id"], "rtb-main");
        assert_eq!(m.attrs["arn"], "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0a1");
        assert_eq!(m.tags_all.len(), 2);
        assert!(m.notes.is_empty(), "{:?}", m.notes);
    }

    #[test]
    fn subnets_gateways_addresses_and_nat_gateways_map_one_to_one() {
        let out = run(
            map,
            vec![
                inst(
                    "aws_subnet.public",
                    json!({"id": "subnet-1", "arn": "arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1", "vpc_id": "vpc-1", "cidr_block": "10.0.0.0/20",
                       "availability_zone": "us-east-1a", "availability_zone_id": "use1-az1", "map_public_ip_on_launch": true,
                       "assign_ipv6_address_on_creation": false, "ipv6_cidr_block": "", "enable_dns64": false, "tags": {}, "tags_all": {}}),
                ),
                inst(
                    "aws_internet_gateway.gw",
                    json!({"id": "igw-1", "arn": "arn:aws:ec2:us-east-1:123456789012:internet-gateway/igw-1", "vpc_id": "", "owner_id": "123456789012", "tags": null, "tags_all": {}}),
                ),
                inst("aws_internet_gateway_attachment.gw", json!({"id": "igw-1:vpc-1", "internet_gateway_id": "igw-1", "vpc_id": "vpc-1"})),
                inst(
                    "aws_eip.nat",
                    json!({"id": "eipalloc-1", "allocation_id": "eipalloc-1", "domain": "vpc", "vpc": true, "public_ip": "3.3.3.3", "instance": "",
                       "network_interface": "eni-9", "association_id": "eipassoc-1", "tags": {}, "tags_all": {}}),
                ),
                inst(
                    "aws_nat_gateway.nat",
                    json!({"id": "nat-1", "allocation_id": "eipalloc-1", "subnet_id": "subnet-1", "connectivity_type": "public", "private_ip": "10.0.0.5",
                       "public_ip": "3.3.3.3", "network_interface_id": "eni-9", "secondary_allocation_ids": [], "secondary_private_ip_address_count": 0,
                       "tags": {"Name": "nat"}, "tags_all": {"Name": "nat"}}),
                ),
            ],
        );
        let subnet = find(&out, "aws_subnet.public");
        assert_eq!(
            Value::Object(subnet.props.clone()),
            json!({"vpc_id": "vpc-1", "cidr_block": "10.0.0.0/20", "availability_zone": "us-east-1a", "map_public_ip_on_launch": true})
        );
        let igw = find(&out, "aws_internet_gateway.gw");
        assert_eq!(igw.sources, vec!["aws_internet_gateway.gw", "aws_internet_gateway_attachment.gw"]);
        assert_eq!(Value::Object(igw.props.clone()), json!({"vpc_id": "vpc-1"}));
        let eip = find(&out, "aws_eip.nat");
        assert_eq!((eip.id.as_str(), Value::Object(eip.props.clone())), ("eipalloc-1", json!({"domain": "vpc"})));
        let nat = find(&out, "aws_nat_gateway.nat");
        assert_eq!(Value::Object(nat.props.clone()), json!({"subnet_id": "subnet-1", "allocation_id": "eipalloc-1", "connectivity_type": "public"}));
        assert!(out.consumed.contains("aws_internet_gateway_attachment.gw"));
        assert!(out.resources.iter().all(|m| m.notes.is_empty()));
    }

    #[test]
    fn a_route_table_takes_its_routes_and_associations_sorted_and_without_duplicates() {
        let out = run(
            map,
            vec![
                inst(
                    "aws_route_table.private",
                    json!({"id": "rtb-1", "arn": "arn:aws:ec2:us-east-1:123456789012:route-table/rtb-1", "vpc_id": "vpc-1", "propagating_vgws": [],
                       "route": [
                         // Refreshed from AWS: repeats the aws_route below.
                         {"cidr_block": "0.0.0.0/0", "ipv6_cidr_block": "", "destination_prefix_list_id": "", "gateway_id": "", "nat_gateway_id": "nat-1",
                          "carrier_gateway_id": "", "core_network_arn": "", "egress_only_gateway_id": "", "local_gateway_id": "", "network_interface_id": "",
                          "transit_gateway_id": "", "vpc_endpoint_id": "", "vpc_peering_connection_id": ""},
                         {"cidr_block": "10.9.0.0/16", "ipv6_cidr_block": "", "destination_prefix_list_id": "", "gateway_id": "", "nat_gateway_id": "",
                          "carrier_gateway_id": "", "core_network_arn": "", "egress_only_gateway_id": "", "local_gateway_id": "", "network_interface_id": "",
                          "transit_gateway_id": "", "vpc_endpoint_id": "", "vpc_peering_connection_id": "pcx-1"}
                       ],
                       "tags": {"Name": "private"}, "tags_all": {"Name": "private"}}),
                ),
                inst(
                    "aws_route.private_nat",
                    json!({"id": "r-rtb-11080289494", "route_table_id": "rtb-1", "destination_cidr_block": "0.0.0.0/0", "destination_ipv6_cidr_block": "",
                       "destination_prefix_list_id": "", "gateway_id": "", "nat_gateway_id": "nat-1", "instance_id": "", "network_interface_id": "",
                       "origin": "CreateRoute", "state": "active", "transit_gateway_id": "", "vpc_endpoint_id": "", "vpc_peering_connection_id": ""}),
                ),
                inst("aws_route_table_association.b", json!({"id": "rtbassoc-2", "route_table_id": "rtb-1", "subnet_id": "subnet-b", "gateway_id": ""})),
                inst("aws_route_table_association.a", json!({"id": "rtbassoc-1", "route_table_id": "rtb-1", "subnet_id": "subnet-a", "gateway_id": ""})),
                inst("aws_route_table_association.edge", json!({"id": "rtbassoc-3", "route_table_id": "rtb-1", "subnet_id": "", "gateway_id": "igw-1"})),
                inst("aws_route_table_association.elsewhere", json!({"id": "rtbassoc-4", "route_table_id": "rtb-other", "subnet_id": "subnet-c"})),
            ],
        );
        let rt = find(&out, "aws_route_table.private");
        assert_eq!(
            Value::Object(rt.props.clone()),
            json!({
                "vpc_id": "vpc-1",
                "routes": [{"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1"}, {"destination_cidr_block": "10.9.0.0/16", "vpc_peering_connection_id": "pcx-1"}],
                "subnet_ids": ["subnet-a", "subnet-b"]
            })
        );
        assert_eq!(rt.sources.len(), 4);
        // Neither the edge association nor one of a table outside the state is swallowed.
        assert!(!out.consumed.contains("aws_route_table_association.edge"));
        assert!(!out.consumed.contains("aws_route_table_association.elsewhere"));
        assert_eq!(out.notes.len(), 2, "{:?}", out.notes);
    }

    #[test]
    fn separate_routes_name_targets_as_aws_reports_them_and_the_local_route_is_awss() {
        let route = |name: &str, attrs: Value| {
            let mut a = json!({"route_table_id": "rtb-1", "destination_cidr_block": "", "destination_ipv6_cidr_block": "", "destination_prefix_list_id": "",
                               "gateway_id": "", "nat_gateway_id": "", "instance_id": "", "network_interface_id": "", "transit_gateway_id": "",
                               "vpc_endpoint_id": "", "vpc_peering_connection_id": "", "egress_only_gateway_id": ""});
            a.as_object_mut().unwrap().extend(attrs.as_object().unwrap().clone());
            inst(&format!("aws_route.{name}"), a)
        };
        let out = run(
            map,
            vec![
                inst("aws_route_table.t", json!({"id": "rtb-1", "vpc_id": "vpc-1", "route": [], "tags": {}, "tags_all": {}})),
                // An instance target: the provider records its network interface too, which is what AWS reports.
                route("appliance", json!({"destination_cidr_block": "10.8.0.0/16", "instance_id": "i-1", "network_interface_id": "eni-1"})),
                // A Gateway Load Balancer endpoint: AWS reports it as the gateway.
                route("inspect", json!({"destination_cidr_block": "0.0.0.0/0", "vpc_endpoint_id": "vpce-1"})),
                route("v6", json!({"destination_ipv6_cidr_block": "::/0", "egress_only_gateway_id": "eigw-1"})),
                route("local", json!({"destination_cidr_block": "10.0.0.0/16", "gateway_id": "local"})),
            ],
        );
        let rt = find(&out, "aws_route_table.t");
        assert_eq!(
            rt.props["routes"],
            json!([
                {"destination_cidr_block": "0.0.0.0/0", "gateway_id": "vpce-1"},
                {"destination_cidr_block": "10.8.0.0/16", "network_interface_id": "eni-1"},
                {"destination_ipv6_cidr_block": "::/0", "egress_only_gateway_id": "eigw-1"}
            ])
        );
        assert!(out.consumed.contains("aws_route.local") && !rt.sources.contains(&"aws_route.local".to_string()));
    }

    #[test]
    fn a_provider_v4_address_is_a_vpc_address_by_its_vpc_flag() {
        let out =
            run(map, vec![inst("aws_eip.old", json!({"id": "eipalloc-9", "allocation_id": "eipalloc-9", "vpc": true, "public_ip": "3.3.3.3", "tags": {}}))]);
        assert_eq!(find(&out, "aws_eip.old").props["domain"], json!("vpc"));
    }

    #[test]
    fn security_group_rules_from_every_terraform_spelling_become_one_sorted_rule_per_source() {
        let block = |from: i64, to: i64, proto: &str, cidrs: Value, groups: Value, self_: bool, description: &str| {
            json!({"from_port": from, "to_port": to, "protocol": proto, "cidr_blocks": cidrs, "ipv6_cidr_blocks": [], "prefix_list_ids": [],
                   "security_groups": groups, "self": self_, "description": description})
        };
        let out = run(
            map,
            vec![
                inst(
                    "aws_security_group.db",
                    json!({"id": "sg-db", "arn": "arn:aws:ec2:us-east-1:123456789012:security-group/sg-db", "name": "db", "name_prefix": "",
                       "description": "Managed by Terraform", "vpc_id": "vpc-1", "owner_id": "123456789012", "revoke_rules_on_delete": false,
                       "ingress": [block(5432, 5432, "tcp", json!(["10.0.0.0/16", "10.1.0.0/16"]), json!([]), false, ""),
                                   block(5432, 5432, "tcp", json!([]), json!(["sg-app"]), true, "apps")],
                       "egress": [],
                       "tags": {}, "tags_all": {}}),
                ),
                // Separately managed: repeats one inline rule, adds one.
                inst(
                    "aws_security_group_rule.app",
                    json!({"id": "sgrule-1", "type": "ingress", "security_group_id": "sg-db", "protocol": "tcp", "from_port": 5432, "to_port": 5432,
                       "cidr_blocks": null, "ipv6_cidr_blocks": null, "prefix_list_ids": [], "source_security_group_id": "sg-app", "self": false,
                       "description": "apps", "security_group_rule_id": "sgr-1"}),
                ),
                inst(
                    "aws_vpc_security_group_egress_rule.all",
                    json!({"id": "sgr-2", "arn": "arn:aws:ec2:us-east-1:123456789012:security-group-rule/sgr-2", "security_group_id": "sg-db",
                       "ip_protocol": "-1", "from_port": null, "to_port": null, "cidr_ipv4": "0.0.0.0/0", "cidr_ipv6": null, "prefix_list_id": null,
                       "referenced_security_group_id": null, "description": null, "security_group_rule_id": "sgr-2", "tags": null, "tags_all": {}}),
                ),
                inst(
                    "aws_vpc_security_group_ingress_rule.icmp",
                    json!({"id": "sgr-3", "security_group_id": "sg-db", "ip_protocol": "icmp", "from_port": 8, "to_port": 0, "cidr_ipv4": "10.0.0.0/8",
                       "description": "ping", "tags": {"Name": "ping"}, "tags_all": {"Name": "ping"}}),
                ),
            ],
        );
        let sg = find(&out, "aws_security_group.db");
        assert_eq!(sg.sources.len(), 4);
        assert_eq!(
            Value::Object(sg.props.clone()),
            json!({
                "name": "db", "description": "Managed by Terraform", "vpc_id": "vpc-1",
                "ingress": [
                    {"protocol": "icmp", "from_port": 8, "to_port": 0, "cidr_blocks": ["10.0.0.0/8"], "description": "ping"},
                    {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.0.0.0/16"]},
                    {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr_blocks": ["10.1.0.0/16"]},
                    {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "source_security_group_id": "sg-app", "description": "apps"},
                    {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "source_security_group_id": "sg-db", "description": "apps"}
                ],
                "egress": [{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}]
            })
        );
        assert_eq!(sg.notes.len(), 1, "the rule's own tags are reported: {:?}", sg.notes);
    }

    #[test]
    fn a_group_without_egress_keeps_an_explicitly_empty_list() {
        let out = run(
            map,
            vec![inst(
                "aws_security_group.closed",
                json!({"id": "sg-1", "name": "closed", "description": "x", "vpc_id": "vpc-1", "ingress": [], "egress": [], "tags": {}, "tags_all": {}}),
            )],
        );
        assert_eq!(find(&out, "aws_security_group.closed").props["egress"], json!([]));
    }

    #[test]
    fn rules_of_a_group_outside_the_state_are_left_out_with_a_reason() {
        let out = run(
            map,
            vec![inst(
                "aws_security_group_rule.orphan",
                json!({"id": "sgrule-9", "type": "ingress", "security_group_id": "sg-elsewhere", "protocol": "tcp", "from_port": 1, "to_port": 1, "cidr_blocks": ["1.1.1.1/32"]}),
            )],
        );
        assert!(out.resources.is_empty());
        assert!(!out.consumed.contains("aws_security_group_rule.orphan"));
        assert!(out.notes[0].1.contains("sg-elsewhere"));
    }
}
