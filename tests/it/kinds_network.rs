//! End-to-end tests of the network resource kinds against the emulator.
//!
//! EC2 is checked through an SDK client of the test's own (built from the harness's config,
//! not through cairn's kinds), so a mistake in a kind's read cannot hide one in its write.
//! The test crate has no direct aws-sdk-ec2 dependency: the client comes from
//! cairn-resources' `AwsContext` and is used without naming its types.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::harness::{runtime, sdk_config, unique, Workspace};
use crate::verify::assert_owned;

macro_rules! ec2 {
    () => {
        cairn_resources::AwsContext::from_config(sdk_config().await).ec2()
    };
}

macro_rules! tag_map {
    ($tags:expr) => {
        $tags.iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())).collect::<BTreeMap<String, String>>()
    };
}

const HEADER: &str = "region: us-east-1\n\ntags:\n  Project: LegacyPlatform\n  Owner: platform-team\n\nresources:\n";

fn network_stack(name: &str) -> String {
    let resources = r#"
  vpc:
    type: aws.ec2.vpc
    props:
      cidr_block: 10.40.0.0/16

  public_a:
    type: aws.ec2.subnet
    tags: { "kubernetes.io/role/elb": "1" }
    props:
      vpc_id: ${vpc.id}
      cidr_block: 10.40.1.0/24
      availability_zone: us-east-1a
      map_public_ip_on_launch: true

  private_a:
    type: aws.ec2.subnet
    tags: { "kubernetes.io/role/internal-elb": "1" }
    props:
      vpc_id: ${vpc.id}
      cidr_block: 10.40.2.0/24
      availability_zone: us-east-1a

  private_b:
    type: aws.ec2.subnet
    props:
      vpc_id: ${vpc.id}
      cidr_block: 10.40.3.0/24
      availability_zone: us-east-1b

  igw:
    type: aws.ec2.internet_gateway
    props:
      vpc_id: ${vpc.id}

  nat_ip:
    type: aws.ec2.eip

  nat:
    type: aws.ec2.nat_gateway
    props:
      subnet_id: ${public_a.id}
      allocation_id: ${nat_ip.id}

  public_rt:
    type: aws.ec2.route_table
    props:
      vpc_id: ${vpc.id}
      routes:
        - { destination_cidr_block: 0.0.0.0/0, gateway_id: "${igw.id}" }
      subnet_ids: ["${public_a.id}"]

  private_rt:
    type: aws.ec2.route_table
    props:
      vpc_id: ${vpc.id}
      routes:
        - { destination_cidr_block: 0.0.0.0/0, nat_gateway_id: "${nat.id}" }
      subnet_ids: ["${private_a.id}"]

  web_sg:
    type: aws.ec2.security_group
    props:
      vpc_id: ${vpc.id}
      description: web tier
      ingress:
        - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0], description: https }

  app_sg:
    type: aws.ec2.security_group
    props:
      vpc_id: ${vpc.id}
      ingress:
        - { protocol: tcp, from_port: 8080, to_port: 8080, source_security_group_id: "${web_sg.id}", description: from web }
      egress:
        - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0] }

outputs:
  vpc: ${vpc.id}
  default_sg: ${vpc.default_security_group_id}
  main_rt: ${vpc.main_route_table_id}
  nat_ip: ${nat_ip.public_ip}
"#;
    format!("stack: {name}\n{HEADER}{resources}")
}

/// Physical ids by address, from the recorded state.
fn ids(ws: &Workspace) -> BTreeMap<String, String> {
    let r = ws.cairn(&["state", "list", "--json"]);
    r.assert_code(0);
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("state list --json ({e}): {}", r.stdout));
    v["resources"].as_array().into_iter().flatten().filter_map(|x| Some((x["address"].as_str()?.to_string(), x["id"].as_str()?.to_string()))).collect()
}

fn action_of(plan: &Value, address: &str) -> String {
    plan["actions"].as_array().and_then(|a| a.iter().find(|x| x["address"] == address)).and_then(|x| x["action"].as_str()).unwrap_or("none").to_string()
}

#[derive(Debug, PartialEq)]
struct VpcInfo {
    cidr: String,
    dns_support: bool,
    dns_hostnames: bool,
    tags: BTreeMap<String, String>,
}

async fn vpc(id: &str) -> Option<VpcInfo> {
    let ec2 = ec2!();
    let out = ec2.describe_vpcs().vpc_ids(id).send().await.ok()?;
    let v = out.vpcs().first()?.clone();
    let support = ec2.describe_vpc_attribute().vpc_id(id).attribute("enableDnsSupport".into()).send().await.expect("DescribeVpcAttribute");
    let hostnames = ec2.describe_vpc_attribute().vpc_id(id).attribute("enableDnsHostnames".into()).send().await.expect("DescribeVpcAttribute");
    Some(VpcInfo {
        cidr: v.cidr_block().unwrap_or_default().to_string(),
        dns_support: support.enable_dns_support().and_then(|a| a.value()).unwrap_or(false),
        dns_hostnames: hostnames.enable_dns_hostnames().and_then(|a| a.value()).unwrap_or(false),
        tags: tag_map!(v.tags()),
    })
}

/// (vpc, cidr, az, map_public_ip_on_launch, tags)
async fn subnet(id: &str) -> Option<(String, String, String, bool, BTreeMap<String, String>)> {
    let out = ec2!().describe_subnets().subnet_ids(id).send().await.ok()?;
    let s = out.subnets().first()?.clone();
    Some((
        s.vpc_id().unwrap_or_default().to_string(),
        s.cidr_block().unwrap_or_default().to_string(),
        s.availability_zone().unwrap_or_default().to_string(),
        s.map_public_ip_on_launch().unwrap_or(false),
        tag_map!(s.tags()),
    ))
}

/// (attached VPCs, tags)
async fn igw(id: &str) -> Option<(Vec<String>, BTreeMap<String, String>)> {
    let out = ec2!().describe_internet_gateways().internet_gateway_ids(id).send().await.ok()?;
    let g = out.internet_gateways().first()?.clone();
    Some((g.attachments().iter().filter_map(|a| a.vpc_id()).map(str::to_string).collect(), tag_map!(g.tags())))
}

/// (public ip, tags)
async fn eip(id: &str) -> Option<(String, BTreeMap<String, String>)> {
    let out = ec2!().describe_addresses().allocation_ids(id).send().await.ok()?;
    let a = out.addresses().first()?.clone();
    Some((a.public_ip().unwrap_or_default().to_string(), tag_map!(a.tags())))
}

/// (state, subnet, allocation ids, tags)
async fn nat(id: &str) -> Option<(String, String, Vec<String>, BTreeMap<String, String>)> {
    let out = ec2!().describe_nat_gateways().nat_gateway_ids(id).send().await.ok()?;
    let n = out.nat_gateways().first()?.clone();
    Some((
        n.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        n.subnet_id().unwrap_or_default().to_string(),
        n.nat_gateway_addresses().iter().filter_map(|a| a.allocation_id()).map(str::to_string).collect(),
        tag_map!(n.tags()),
    ))
}

/// (routes as "destination -> target" without the local route, associated subnets, tags)
async fn route_table(id: &str) -> Option<(Vec<String>, Vec<String>, BTreeMap<String, String>)> {
    let out = ec2!().describe_route_tables().route_table_ids(id).send().await.ok()?;
    let rt = out.route_tables().first()?.clone();
    let mut routes: Vec<String> = rt
        .routes()
        .iter()
        .filter(|r| r.gateway_id() != Some("local"))
        .map(|r| format!("{} -> {}", r.destination_cidr_block().unwrap_or_default(), r.nat_gateway_id().or(r.gateway_id()).unwrap_or_default()))
        .collect();
    routes.sort();
    let mut subnets: Vec<String> = rt.associations().iter().filter_map(|a| a.subnet_id()).map(str::to_string).collect();
    subnets.sort();
    Some((routes, subnets, tag_map!(rt.tags())))
}

/// (name, description, ingress, egress, tags); rules as "proto from-to source [description]".
async fn security_group(id: &str) -> Option<(String, String, Vec<String>, Vec<String>, BTreeMap<String, String>)> {
    let out = ec2!().describe_security_groups().group_ids(id).send().await.ok()?;
    let g = out.security_groups().first()?.clone();
    macro_rules! rules {
        ($perms:expr) => {{
            let mut out = vec![];
            for p in $perms {
                let head = format!("{} {}-{}", p.ip_protocol().unwrap_or_default(), p.from_port().unwrap_or(0), p.to_port().unwrap_or(0));
                for r in p.ip_ranges() {
                    out.push(format!("{head} {} [{}]", r.cidr_ip().unwrap_or_default(), r.description().unwrap_or_default()));
                }
                for r in p.user_id_group_pairs() {
                    out.push(format!("{head} {} [{}]", r.group_id().unwrap_or_default(), r.description().unwrap_or_default()));
                }
            }
            out.sort();
            out
        }};
    }
    Some((
        g.group_name().unwrap_or_default().to_string(),
        g.description().unwrap_or_default().to_string(),
        rules!(g.ip_permissions()),
        rules!(g.ip_permissions_egress()),
        tag_map!(g.tags()),
    ))
}

#[test]
fn network_stack_applies_replans_clean_updates_in_place_and_destroys() {
    let name = unique("net");
    let ws = Workspace::with_stack(&network_stack(&name), &name, "dev");
    ws.apply();
    let ids = ids(&ws);
    let id = |a: &str| ids.get(a).unwrap_or_else(|| panic!("{a} in state: {ids:?}")).clone();
    let (s, e) = (name.clone(), ws.env.clone());

    runtime().block_on(async {
        let v = vpc(&id("vpc")).await.expect("VPC exists");
        assert_eq!((v.cidr.as_str(), v.dns_support, v.dns_hostnames), ("10.40.0.0/16", true, true));
        assert_owned(&v.tags, &s, &e, "vpc");

        let (vpc_id, cidr, az, public, tags) = subnet(&id("public_a")).await.expect("public subnet");
        assert_eq!((vpc_id.as_str(), cidr.as_str(), az.as_str(), public), (id("vpc").as_str(), "10.40.1.0/24", "us-east-1a", true));
        assert_owned(&tags, &s, &e, "public_a");
        assert_eq!(tags.get("kubernetes.io/role/elb").map(String::as_str), Some("1"));
        let (_, _, az_b, public_b, _) = subnet(&id("private_b")).await.expect("private subnet b");
        assert_eq!((az_b.as_str(), public_b), ("us-east-1b", false));

        let (attached, tags) = igw(&id("igw")).await.expect("internet gateway");
        assert_eq!(attached, vec![id("vpc")]);
        assert_owned(&tags, &s, &e, "igw");

        let (ip, tags) = eip(&id("nat_ip")).await.expect("Elastic IP");
        assert!(!ip.is_empty());
        assert_owned(&tags, &s, &e, "nat_ip");

        let (state, nat_subnet, allocations, tags) = nat(&id("nat")).await.expect("NAT gateway");
        assert_eq!((state.as_str(), nat_subnet.as_str()), ("available", id("public_a").as_str()));
        assert_eq!(allocations, vec![id("nat_ip")]);
        assert_owned(&tags, &s, &e, "nat");

        let (routes, subnets, tags) = route_table(&id("public_rt")).await.expect("public route table");
        assert_eq!(routes, vec![format!("0.0.0.0/0 -> {}", id("igw"))]);
        assert_eq!(subnets, vec![id("public_a")]);
        assert_owned(&tags, &s, &e, "public_rt");
        let (routes, subnets, _) = route_table(&id("private_rt")).await.expect("private route table");
        assert_eq!(routes, vec![format!("0.0.0.0/0 -> {}", id("nat"))]);
        assert_eq!(subnets, vec![id("private_a")]);

        let (sg_name, desc, ingress, egress, tags) = security_group(&id("web_sg")).await.expect("web security group");
        assert_eq!((sg_name, desc.as_str()), (format!("{s}-{e}-web_sg").replace('_', "-"), "web tier"));
        assert_eq!(ingress, vec!["tcp 443-443 0.0.0.0/0 [https]".to_string()]);
        assert_eq!(egress.len(), 1, "the default allow-all egress: {egress:?}");
        assert_owned(&tags, &s, &e, "web_sg");
        let (_, desc, ingress, egress, _) = security_group(&id("app_sg")).await.expect("app security group");
        assert_eq!(desc, "Managed by cairn");
        assert_eq!(ingress, vec![format!("tcp 8080-8080 {} [from web]", id("web_sg"))]);
        assert_eq!(egress, vec!["tcp 443-443 0.0.0.0/0 []".to_string()], "the default egress was replaced");
    });

    let out = ws.cairn(&["output", "--json"]);
    out.assert_code(0);
    assert!(out.stdout.contains("\"sg-") && out.stdout.contains("\"rtb-"), "default SG and main route table ids in outputs: {}", out.stdout);

    let r = ws.cairn(&["plan", "--detailed-exitcode"]);
    r.assert_code(0);

    // In-place changes on every kind that has one.
    ws.edit(|t| {
        t.replacen("      cidr_block: 10.40.0.0/16\n", "      cidr_block: 10.40.0.0/16\n      enable_dns_hostnames: false\n", 1)
            .replacen("      map_public_ip_on_launch: true\n", "      map_public_ip_on_launch: false\n", 1)
            .replacen("  igw:\n    type: aws.ec2.internet_gateway\n", "  igw:\n    type: aws.ec2.internet_gateway\n    tags: { Component: edge }\n", 1)
            .replacen(
                "        - { destination_cidr_block: 0.0.0.0/0, nat_gateway_id: \"${nat.id}\" }\n      subnet_ids: [\"${private_a.id}\"]\n",
                "        - { destination_cidr_block: 0.0.0.0/0, nat_gateway_id: \"${nat.id}\" }\n        - { destination_cidr_block: 10.99.0.0/16, nat_gateway_id: \"${nat.id}\" }\n      subnet_ids: [\"${private_a.id}\", \"${private_b.id}\"]\n",
                1,
            )
            .replacen(
                "        - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0], description: https }\n",
                "        - { protocol: tcp, from_port: 80, to_port: 80, cidr_blocks: [0.0.0.0/0], description: http }\n        - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0], description: https from anywhere }\n",
                1,
            )
    });
    let plan = ws.plan_json(&[]);
    for address in ["vpc", "public_a", "igw", "private_rt", "web_sg"] {
        assert_eq!(action_of(&plan, address), "update", "{address} changes in place: {plan}");
    }
    for address in ["private_a", "private_b", "nat", "nat_ip", "public_rt", "app_sg"] {
        assert_ne!(action_of(&plan, address), "replace", "{address}: {plan}");
    }
    ws.apply();
    assert_eq!(crate::kinds_network::ids(&ws), ids, "nothing was replaced");

    runtime().block_on(async {
        let v = vpc(&id("vpc")).await.expect("VPC");
        assert_eq!((v.dns_support, v.dns_hostnames), (true, false));
        assert!(!subnet(&id("public_a")).await.expect("subnet").3);
        assert_eq!(igw(&id("igw")).await.expect("igw").1.get("Component").map(String::as_str), Some("edge"));
        let (routes, subnets, _) = route_table(&id("private_rt")).await.expect("private route table");
        assert_eq!(routes, vec![format!("0.0.0.0/0 -> {}", id("nat")), format!("10.99.0.0/16 -> {}", id("nat"))]);
        let mut want = vec![id("private_a"), id("private_b")];
        want.sort();
        assert_eq!(subnets, want);
        let (_, _, ingress, _, _) = security_group(&id("web_sg")).await.expect("web sg");
        assert_eq!(ingress, vec!["tcp 443-443 0.0.0.0/0 [https from anywhere]".to_string(), "tcp 80-80 0.0.0.0/0 [http]".to_string()]);
    });
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);

    ws.cairn(&["destroy", "--auto-approve"]).assert_code(0);
    runtime().block_on(async {
        assert!(vpc(&id("vpc")).await.is_none(), "VPC deleted");
        for s in ["public_a", "private_a", "private_b"] {
            assert!(subnet(&id(s)).await.is_none(), "{s} deleted");
        }
        assert!(igw(&id("igw")).await.is_none(), "internet gateway deleted");
        assert!(eip(&id("nat_ip")).await.is_none(), "Elastic IP released");
        if let Some((state, ..)) = nat(&id("nat")).await {
            assert_eq!(state, "deleted");
        }
        for rt in ["public_rt", "private_rt"] {
            assert!(route_table(&id(rt)).await.is_none(), "{rt} deleted");
        }
        for sg in ["web_sg", "app_sg"] {
            assert!(security_group(&id(sg)).await.is_none(), "{sg} deleted");
        }
    });
    let list = ws.cairn(&["state", "list"]);
    list.assert_code(0);
    assert!(list.stdout.trim().is_empty(), "state is empty: {}", list.stdout);
}

#[test]
fn internet_gateway_moves_between_vpcs_in_place() {
    let name = unique("igw");
    let resources = r#"
  vpc_a:
    type: aws.ec2.vpc
    props: { cidr_block: 10.50.0.0/16 }
  vpc_b:
    type: aws.ec2.vpc
    props: { cidr_block: 10.51.0.0/16 }
  igw:
    type: aws.ec2.internet_gateway
    props: { vpc_id: "${vpc_a.id}" }
"#;
    let ws = Workspace::with_stack(&format!("stack: {name}\n{HEADER}{resources}"), &name, "dev");
    ws.apply();
    let ids = ids(&ws);
    runtime().block_on(async { assert_eq!(igw(&ids["igw"]).await.expect("igw").0, vec![ids["vpc_a"].clone()]) });

    ws.edit(|t| t.replace("${vpc_a.id}", "${vpc_b.id}"));
    let plan = ws.plan_json(&[]);
    assert_eq!(action_of(&plan, "igw"), "update", "{plan}");
    ws.apply();
    assert_eq!(crate::kinds_network::ids(&ws)["igw"], ids["igw"], "moved, not replaced");
    runtime().block_on(async { assert_eq!(igw(&ids["igw"]).await.expect("igw").0, vec![ids["vpc_b"].clone()]) });
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);

    // Removing vpc_id detaches the gateway.
    ws.edit(|t| t.replace("    props: { vpc_id: \"${vpc_b.id}\" }\n", ""));
    assert_eq!(action_of(&ws.plan_json(&[]), "igw"), "update");
    ws.apply();
    runtime().block_on(async { assert!(igw(&ids["igw"]).await.expect("igw").0.is_empty(), "detached") });
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);

    ws.cairn(&["destroy", "--auto-approve"]).assert_code(0);
    runtime().block_on(async {
        assert!(igw(&ids["igw"]).await.is_none());
        assert!(vpc(&ids["vpc_a"]).await.is_none() && vpc(&ids["vpc_b"]).await.is_none());
    });
}

#[test]
fn security_group_rules_out_of_order_are_refused_with_the_order_to_use() {
    let name = unique("sgo");
    let resources = r#"
  vpc:
    type: aws.ec2.vpc
    props: { cidr_block: 10.60.0.0/16 }
  sg:
    type: aws.ec2.security_group
    props:
      vpc_id: ${vpc.id}
      ingress:
        - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [10.0.0.0/8] }
        - { protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: [10.0.0.0/8] }
"#;
    let ws = Workspace::with_stack(&format!("stack: {name}\n{HEADER}{resources}"), &name, "dev");
    let r = ws.cairn(&["apply", "--auto-approve"]);
    assert_ne!(r.code, 0, "misordered rules are refused:\n{}\n{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("sorted by from_port"), "{all}");
    // Refused by the schema before anything was created: validate says so, with the location.
    let v = ws.cairn(&["validate"]);
    assert_ne!(v.code, 0, "validate refuses misordered rules:\n{}", v.stdout);
    let said = format!("{}{}", v.stdout, v.stderr);
    assert!(said.contains("sorted by from_port") && said.contains(".yaml:"), "{said}");

    ws.edit(|t| {
        t.replace(
            "        - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [10.0.0.0/8] }\n        - { protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: [10.0.0.0/8] }\n",
            "        - { protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: [10.0.0.0/8] }\n        - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [10.0.0.0/8] }\n",
        )
    });
    ws.apply();
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);
    ws.cairn(&["destroy", "--auto-approve"]).assert_code(0);
}

#[test]
fn refresh_survives_resources_deleted_out_of_band() {
    let name = unique("oob");
    let resources = r#"
  vpc:
    type: aws.ec2.vpc
    props: { cidr_block: 10.70.0.0/16 }
  a:
    type: aws.ec2.subnet
    props: { vpc_id: "${vpc.id}", cidr_block: 10.70.1.0/24 }
  b:
    type: aws.ec2.subnet
    props: { vpc_id: "${vpc.id}", cidr_block: 10.70.2.0/24 }
  c:
    type: aws.ec2.subnet
    props: { vpc_id: "${vpc.id}", cidr_block: 10.70.3.0/24 }
  sg_a:
    type: aws.ec2.security_group
    props: { vpc_id: "${vpc.id}" }
  sg_b:
    type: aws.ec2.security_group
    props: { vpc_id: "${vpc.id}" }
"#;
    let ws = Workspace::with_stack(&format!("stack: {name}\n{HEADER}{resources}"), &name, "dev");
    ws.apply();
    let ids = ids(&ws);
    // One batched DescribeSubnets / DescribeSecurityGroups now names an id that is gone,
    // which fails the id-list call as a whole; the filter fallback must still read the rest.
    runtime().block_on(async {
        let ec2 = ec2!();
        ec2.delete_subnet().subnet_id(&ids["b"]).send().await.expect("DeleteSubnet");
        ec2.delete_security_group().group_id(&ids["sg_a"]).send().await.expect("DeleteSecurityGroup");
    });
    let plan = ws.plan_json(&[]);
    assert_eq!(action_of(&plan, "b"), "create", "{plan}");
    assert_eq!(action_of(&plan, "sg_a"), "create", "{plan}");
    for unchanged in ["a", "c", "sg_b", "vpc"] {
        assert!(matches!(action_of(&plan, unchanged).as_str(), "none" | "no_op" | "noop"), "{unchanged}: {plan}");
    }
    ws.apply();
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);
    ws.cairn(&["destroy", "--auto-approve"]).assert_code(0);
}
