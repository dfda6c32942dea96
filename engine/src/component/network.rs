//! `cairn.network`: a VPC with public and private subnets across AZs, an internet gateway, NAT and route tables.

use serde_json::{json, Value};

use super::{Component, ComponentInput, Expansion, Part};
use crate::expr::cidrsubnet;
use crate::provider::{PropSpec, PropType};

pub struct Network;

static PROPS: &[PropSpec] = &[
    PropSpec::new("cidr", PropType::String, "The VPC's IPv4 CIDR block, e.g. 10.10.0.0/16.").required(),
    PropSpec::new("azs", PropType::Int, "How many availability zones (1-6), lettered a, b, c... in the region.").default("2"),
    PropSpec::new("az_names", PropType::StringList, "Exact zone names, instead of `azs`."),
    PropSpec::new("nat", PropType::String, "`single` (one NAT gateway, cheapest), `per_az` (one per zone, survives a zone outage) or `none`.")
        .default("\"single\""),
    PropSpec::new("subnet_bits", PropType::Int, "Bits added to the VPC prefix for each subnet (4 turns a /16 into /20s).").default("4"),
    PropSpec::new("cluster_name", PropType::String, "An EKS cluster that shares these subnets; adds the kubernetes.io/cluster tag."),
];

impl Component for Network {
    fn kind(&self) -> &'static str {
        "cairn.network"
    }
    fn doc(&self) -> &'static str {
        "VPC, public and private subnets per AZ with EKS load-balancer tags, internet gateway, NAT gateway(s) and route tables."
    }
    fn props(&self) -> &'static [PropSpec] {
        PROPS
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["vpc_id", "vpc_cidr", "public_subnet_ids", "private_subnet_ids", "nat_gateway_ids"]
    }

    fn expand(&self, input: &ComponentInput) -> Result<Expansion, String> {
        let cidr = input.str("cidr").ok_or("`cidr` must be a CIDR block known at plan time")?.to_string();
        let bits = input.int_or("subnet_bits", 4)?;
        let azs: Vec<String> = match input.get("az_names") {
            Some(Value::Array(a)) => a.iter().map(|v| v.as_str().map(str::to_string).ok_or("`az_names` must list zone names")).collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("`az_names` must be a list of zone names, found {other}")),
            None => letters(input.region, input.int_or("azs", 2)?)?,
        };
        if azs.is_empty() || azs.len() > 6 {
            return Err(format!("`azs` must name 1 to 6 zones, found {}", azs.len()));
        }
        let nat = input.str("nat").unwrap_or("single");
        let nat_count = match nat {
            "single" => 1,
            "per_az" => azs.len(),
            "none" => 0,
            other => return Err(format!("`nat` must be single, per_az or none, found `{other}`")),
        };
        // Public subnets take the low networks, private ones start halfway, so both ranges can grow.
        let half = 1i64 << (bits - 1).max(0);
        if azs.len() as i64 > half {
            return Err(format!("{} zones do not fit in {bits} subnet bits; raise `subnet_bits`", azs.len()));
        }
        let cluster_tag = input.str("cluster_name").map(|c| format!("kubernetes.io/cluster/{c}"));

        let mut parts = vec![
            Part::new("vpc", "aws.ec2.vpc", json!({ "cidr_block": cidr, "enable_dns_support": true, "enable_dns_hostnames": true })),
            Part::new("igw", "aws.ec2.internet_gateway", json!({ "vpc_id": input.reference("vpc", "id") })),
        ];
        let vpc_id = input.reference("vpc", "id");
        for (i, az) in azs.iter().enumerate() {
            for (tier, offset, public) in [("public", 0, true), ("private", half, false)] {
                let block = cidrsubnet(&cidr, bits, offset + i as i64)?;
                let mut p = Part::new(
                    format!("subnet.{tier}[{i}]"),
                    "aws.ec2.subnet",
                    json!({ "vpc_id": vpc_id, "cidr_block": block, "availability_zone": az, "map_public_ip_on_launch": public }),
                )
                .tag(if public { "kubernetes.io/role/elb" } else { "kubernetes.io/role/internal-elb" }, "1")
                .tag("Tier", tier);
                if let Some(t) = &cluster_tag {
                    p = p.tag(t, "shared");
                }
                parts.push(p);
            }
        }
        let public_ids: Vec<Value> = (0..azs.len()).map(|i| input.reference(&format!("subnet.public[{i}]"), "id")).collect();
        let private_ids: Vec<Value> = (0..azs.len()).map(|i| input.reference(&format!("subnet.private[{i}]"), "id")).collect();
        parts.push(Part::new(
            "route_table.public",
            "aws.ec2.route_table",
            json!({ "vpc_id": vpc_id, "routes": [{ "destination_cidr_block": "0.0.0.0/0", "gateway_id": input.reference("igw", "id") }], "subnet_ids": public_ids }),
        ));
        for (i, public) in public_ids.iter().enumerate().take(nat_count) {
            parts.push(Part::new(format!("eip[{i}]"), "aws.ec2.eip", json!({ "domain": "vpc" })));
            // A NAT gateway in a public subnet only routes once the internet gateway is attached.
            parts.push(
                Part::new(
                    format!("nat[{i}]"),
                    "aws.ec2.nat_gateway",
                    json!({ "subnet_id": public, "allocation_id": input.reference(&format!("eip[{i}]"), "allocation_id") }),
                )
                .after("igw"),
            );
        }
        for (i, private) in private_ids.iter().enumerate() {
            let routes = if nat_count == 0 {
                json!([])
            } else {
                json!([{ "destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": input.reference(&format!("nat[{}]", i.min(nat_count - 1)), "id") }])
            };
            parts.push(Part::new(
                format!("route_table.private[{i}]"),
                "aws.ec2.route_table",
                json!({ "vpc_id": vpc_id, "routes": routes, "subnet_ids": [private] }),
            ));
        }

        let mut out = Expansion { parts, ..Default::default() };
        out.outputs.insert("vpc_id".into(), vpc_id);
        out.outputs.insert("vpc_cidr".into(), Value::String(cidr));
        out.outputs.insert("public_subnet_ids".into(), Value::Array(public_ids));
        out.outputs.insert("private_subnet_ids".into(), Value::Array(private_ids));
        out.outputs.insert("nat_gateway_ids".into(), Value::Array((0..nat_count).map(|i| input.reference(&format!("nat[{i}]"), "id")).collect()));
        Ok(out)
    }
}

fn letters(region: &str, n: i64) -> Result<Vec<String>, String> {
    if !(1..=6).contains(&n) {
        return Err(format!("`azs` must be 1 to 6, found {n}"));
    }
    Ok((0..n as u8).map(|i| format!("{region}{}", (b'a' + i) as char)).collect())
}
