//! End-to-end tests of the cluster resource kinds against the emulator.
//!
//! Covered here: `aws.eks.cluster`, `aws.eks.nodegroup` and `aws.iam.oidc_provider` (with
//! `aws.iam.role` for their roles). `aws.eks.access_entry` is tested with mocks only: moto
//! answers every access-entry call with a 404.
//!
//! The VPC and subnets are made with the SDK, not with `aws.ec2.vpc` / `aws.ec2.subnet`,
//! so that these tests do not depend on the network kinds.

use std::collections::BTreeMap;

use cairn_resources::AwsContext;

use crate::harness::{runtime, sdk_config, unique, Workspace};
use crate::verify::assert_owned;

fn action_of<'a>(plan: &'a serde_json::Value, address: &str) -> &'a serde_json::Value {
    plan["actions"].as_array().and_then(|a| a.iter().find(|x| x["address"] == address)).unwrap_or_else(|| panic!("no action for {address} in plan: {plan}"))
}

/// Clients for checking what cairn did (the test crate has no direct EKS/EC2 SDK dependency).
async fn aws() -> AwsContext {
    AwsContext::from_config(sdk_config().await)
}

/// A VPC with two subnets in two zones, made outside cairn.
struct Network {
    vpc: String,
    subnets: Vec<String>,
}

impl Network {
    async fn create(ctx: &AwsContext) -> Network {
        let ec2 = ctx.ec2();
        let vpc = ec2.create_vpc().cidr_block("10.42.0.0/16").send().await.expect("CreateVpc");
        let vpc = vpc.vpc().and_then(|v| v.vpc_id()).expect("VPC id").to_string();
        let mut subnets = vec![];
        for (cidr, zone) in [("10.42.1.0/24", "us-east-1a"), ("10.42.2.0/24", "us-east-1b")] {
            let s = ec2.create_subnet().vpc_id(&vpc).cidr_block(cidr).availability_zone(zone).send().await.expect("CreateSubnet");
            subnets.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
        }
        subnets.sort();
        Network { vpc, subnets }
    }

    async fn delete(&self, ctx: &AwsContext) {
        let ec2 = ctx.ec2();
        for s in &self.subnets {
            ec2.delete_subnet().subnet_id(s).send().await.expect("DeleteSubnet");
        }
        ec2.delete_vpc().vpc_id(&self.vpc).send().await.expect("DeleteVpc");
    }
}

fn cluster_stack(name: &str, subnets: &[String]) -> String {
    let subnets = format!("[{}]", subnets.join(", "));
    format!(
        r#"stack: {name}
region: us-east-1
tags: {{ Project: LegacyPlatform, Owner: platform-team }}
resources:
  cluster_role:
    type: aws.iam.role
    props:
      assume_role_policy:
        Version: "2012-10-17"
        Statement:
          - {{ Effect: Allow, Principal: {{ Service: eks.amazonaws.com }}, Action: sts:AssumeRole }}
      managed_policy_arns: [arn:aws:iam::aws:policy/AmazonEKSClusterPolicy]
  node_role:
    type: aws.iam.role
    props:
      assume_role_policy:
        Version: "2012-10-17"
        Statement:
          - {{ Effect: Allow, Principal: {{ Service: ec2.amazonaws.com }}, Action: sts:AssumeRole }}
      managed_policy_arns:
        - arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy
        - arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy
        - arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly
  cluster:
    type: aws.eks.cluster
    props:
      role_arn: ${{cluster_role.arn}}
      version: "1.30"
      subnet_ids: {subnets}
      enabled_log_types: [audit, api]
  workers:
    type: aws.eks.nodegroup
    props:
      cluster_name: ${{cluster.name}}
      node_role_arn: ${{node_role.arn}}
      subnet_ids: {subnets}
      disk_size: 20
      min_size: 1
      max_size: 3
      desired_size: 2
      labels: {{ role: worker }}
      taints:
        - {{ key: dedicated, value: batch, effect: NO_SCHEDULE }}
  irsa:
    type: aws.iam.oidc_provider
    props:
      url: ${{cluster.oidc_issuer_url}}
outputs:
  issuer: ${{cluster.oidc_issuer_url}}
  endpoint: ${{cluster.endpoint}}
"#
    )
}

fn tags_of(tags: Option<&std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    tags.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

#[test]
fn cluster_node_group_and_oidc_provider_lifecycle() {
    let name = unique("eks");
    // One runtime for the whole test: the SDK clients' connections belong to it.
    let rt = runtime();
    let ctx = rt.block_on(aws());
    let net = rt.block_on(Network::create(&ctx));
    let ws = Workspace::with_stack(&cluster_stack(&name, &net.subnets), &name, "dev");
    let (s, e) = (ws.stack_name.clone(), ws.env.clone());
    let cluster = format!("{s}-{e}-cluster");
    let workers = format!("{s}-{e}-workers");
    ws.apply();

    let issuer = rt.block_on(async {
        let eks = ctx.eks();
        let out = eks.describe_cluster().name(&cluster).send().await.expect("DescribeCluster");
        let c = out.cluster().expect("cluster");
        assert_eq!(c.status().map(|s| s.as_str()), Some("ACTIVE"));
        assert!(c.role_arn().is_some_and(|r| r.ends_with(&format!(":role/{s}-{e}-cluster-role"))), "{:?}", c.role_arn());
        assert_eq!(c.version(), Some("1.30"));
        let vpc = c.resources_vpc_config().expect("VPC config");
        let mut subnets = vpc.subnet_ids().to_vec();
        subnets.sort();
        assert_eq!(subnets, net.subnets);
        assert_eq!((vpc.endpoint_private_access(), vpc.endpoint_public_access()), (true, false), "private-only by default");
        let enabled: Vec<&str> = c
            .logging()
            .map(|l| l.cluster_logging())
            .unwrap_or_default()
            .iter()
            .filter(|l| l.enabled() == Some(true))
            .flat_map(|l| l.types().iter().map(|t| t.as_str()))
            .collect();
        assert_eq!(enabled, ["api", "audit"]);
        assert_owned(&tags_of(c.tags()), &s, &e, "cluster");

        let out = eks.describe_nodegroup().cluster_name(&cluster).nodegroup_name(&workers).send().await.expect("DescribeNodegroup");
        let ng = out.nodegroup().expect("node group");
        let scaling = ng.scaling_config().expect("scaling");
        assert_eq!((scaling.min_size(), scaling.max_size(), scaling.desired_size()), (Some(1), Some(3), Some(2)));
        assert_eq!(ng.instance_types(), ["t3.medium"]);
        assert_eq!(ng.capacity_type().map(|c| c.as_str()), Some("ON_DEMAND"));
        assert_eq!(ng.labels().and_then(|l| l.get("role")).map(String::as_str), Some("worker"));
        let taints: Vec<(&str, Option<&str>, &str)> =
            ng.taints().iter().map(|t| (t.key().unwrap_or_default(), t.value(), t.effect().map(|e| e.as_str()).unwrap_or_default())).collect();
        assert_eq!(taints, [("dedicated", Some("batch"), "NO_SCHEDULE")]);
        assert!(ng.node_role().is_some_and(|r| r.ends_with(&format!(":role/{s}-{e}-node-role"))));
        assert_owned(&tags_of(ng.tags()), &s, &e, "workers");

        let issuer = c.identity().and_then(|i| i.oidc()).and_then(|o| o.issuer()).expect("OIDC issuer").to_string();
        let arn = oidc_arn(&ctx, &issuer).await.expect("an OIDC provider for the cluster's issuer");
        let provider = ctx.iam().get_open_id_connect_provider().open_id_connect_provider_arn(&arn).send().await.expect("GetOpenIDConnectProvider");
        assert_eq!(provider.client_id_list(), ["sts.amazonaws.com"]);
        let tags = provider.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        assert_owned(&tags, &s, &e, "irsa");
        issuer
    });
    let outputs = ws.cairn(&["output", "--json"]);
    outputs.assert_code(0);
    assert!(outputs.stdout.contains(&issuer), "outputs: {}", outputs.stdout);

    let r = ws.cairn(&["plan", "--detailed-exitcode"]);
    r.assert_code(0);
    assert!(r.stdout.contains("No changes"), "{}", r.stdout);

    // In place: logging on the cluster, a tag, and scaling, labels and taints on the node group.
    ws.edit(|t| {
        t.replacen("      enabled_log_types: [audit, api]\n", "      enabled_log_types: [audit, api, authenticator]\n", 1)
            .replacen("    type: aws.eks.cluster\n", "    type: aws.eks.cluster\n    tags: { Component: platform }\n", 1)
            .replacen("      desired_size: 2\n", "      desired_size: 3\n", 1)
            .replacen("      labels: { role: worker }\n", "      labels: { role: worker, tier: batch }\n", 1)
            .replacen("      taints:\n        - { key: dedicated, value: batch, effect: NO_SCHEDULE }\n", "", 1)
    });
    let plan = ws.plan_json(&[]);
    for address in ["cluster", "workers"] {
        let action = action_of(&plan, address);
        assert_eq!(action["action"], "update", "{address} changes in place: {action}");
    }
    assert!(action_of(&plan, "cluster")["changes"].to_string().contains("enabled_log_types"));
    let workers_changes = action_of(&plan, "workers")["changes"].to_string();
    assert!(workers_changes.contains("desired_size") && workers_changes.contains("labels") && workers_changes.contains("taints"), "{workers_changes}");
    let irsa = plan["actions"].as_array().and_then(|a| a.iter().find(|x| x["address"] == "irsa")).map(|x| x["action"].clone());
    assert!(irsa.is_none() || irsa == Some(serde_json::json!("no_op")), "the OIDC provider is untouched: {irsa:?}");
    ws.apply();
    rt.block_on(async {
        let eks = ctx.eks();
        let out = eks.describe_cluster().name(&cluster).send().await.expect("DescribeCluster");
        let c = out.cluster().expect("cluster");
        let enabled: Vec<&str> = c
            .logging()
            .map(|l| l.cluster_logging())
            .unwrap_or_default()
            .iter()
            .filter(|l| l.enabled() == Some(true))
            .flat_map(|l| l.types().iter().map(|t| t.as_str()))
            .collect();
        assert_eq!(enabled, ["api", "audit", "authenticator"]);
        assert_eq!(tags_of(c.tags()).get("Component").map(String::as_str), Some("platform"));
        let out = eks.describe_nodegroup().cluster_name(&cluster).nodegroup_name(&workers).send().await.expect("DescribeNodegroup");
        let ng = out.nodegroup().expect("node group");
        assert_eq!(ng.scaling_config().and_then(|s| s.desired_size()), Some(3));
        assert_eq!(ng.labels().and_then(|l| l.get("tier")).map(String::as_str), Some("batch"));
        assert!(ng.taints().is_empty(), "taint removed: {:?}", ng.taints());
    });
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);

    let r = ws.cairn(&["destroy", "--auto-approve"]);
    r.assert_code(0);
    let workers_pos = r.stdout.find("workers: Destroying").expect("node group destroyed");
    let cluster_pos = r.stdout.find("cluster: Destroying").expect("cluster destroyed");
    assert!(workers_pos < cluster_pos, "the node group goes before its cluster:\n{}", r.stdout);
    rt.block_on(async {
        let eks = ctx.eks();
        assert!(eks.describe_cluster().name(&cluster).send().await.is_err(), "cluster deleted");
        assert!(eks.describe_nodegroup().cluster_name(&cluster).nodegroup_name(&workers).send().await.is_err(), "node group deleted");
        assert_eq!(oidc_arn(&ctx, &issuer).await, None, "OIDC provider deleted");
        net.delete(&ctx).await;
    });
    assert!(ws.cairn(&["state", "list"]).stdout.trim().is_empty());
}

/// The ARN of the account's OIDC provider for `url`, if there is one.
async fn oidc_arn(ctx: &AwsContext, url: &str) -> Option<String> {
    let bare = url.trim_start_matches("https://").trim_end_matches('/');
    let listed = ctx.iam().list_open_id_connect_providers().send().await.expect("ListOpenIDConnectProviders");
    listed.open_id_connect_provider_list().iter().filter_map(|p| p.arn()).find(|a| a.ends_with(&format!(":oidc-provider/{bare}"))).map(str::to_string)
}

#[test]
fn oidc_provider_for_an_external_issuer() {
    let name = unique("oidc");
    let url = format!("https://token.{name}.example.com");
    let (first, second) = ("a".repeat(40), "b".repeat(40));
    let stack = format!(
        "stack: {name}\ntags: {{ Project: LegacyPlatform, Owner: platform-team }}\nresources:\n  ci:\n    type: aws.iam.oidc_provider\n    props:\n      url: {url}\n      client_id_list: [sts.amazonaws.com]\n      thumbprint_list: [{first}]\n"
    );
    let ws = Workspace::with_stack(&stack, &name, "dev");
    ws.apply();
    let rt = runtime();
    let ctx = rt.block_on(aws());
    let arn = rt.block_on(async {
        let arn = oidc_arn(&ctx, &url).await.expect("provider created");
        let p = ctx.iam().get_open_id_connect_provider().open_id_connect_provider_arn(&arn).send().await.expect("GetOpenIDConnectProvider");
        assert_eq!(p.thumbprint_list(), [first.as_str()]);
        assert_eq!(p.client_id_list(), ["sts.amazonaws.com"]);
        let tags = p.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        assert_owned(&tags, &name, "dev", "ci");
        arn
    });
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);

    ws.edit(|t| t.replace(&first, &second).replacen("    type: aws.iam.oidc_provider\n", "    type: aws.iam.oidc_provider\n    tags: { Component: ci }\n", 1));
    let plan = ws.plan_json(&[]);
    let ci = action_of(&plan, "ci");
    assert_eq!(ci["action"], "update", "{ci}");
    assert!(ci["changes"].to_string().contains("thumbprint_list"), "{ci}");
    ws.apply();
    rt.block_on(async {
        let p = ctx.iam().get_open_id_connect_provider().open_id_connect_provider_arn(&arn).send().await.expect("GetOpenIDConnectProvider");
        assert_eq!(p.thumbprint_list(), [second.as_str()]);
        assert!(p.tags().iter().any(|t| t.key() == "Component" && t.value() == "ci"));
    });
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);

    ws.cairn(&["destroy", "--auto-approve"]).assert_code(0);
    assert_eq!(rt.block_on(oidc_arn(&ctx, &url)), None);
}
