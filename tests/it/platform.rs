//! The reference platform (stacks/platform.yaml): plans for dev, staging and prod, and a full apply and destroy of dev.

use serde_json::Value;

use crate::harness::{repo_root, runtime, unique, Workspace};

fn platform(name: &str, env: &str) -> Workspace {
    let text = std::fs::read_to_string(repo_root().join("stacks/platform.yaml")).expect("stacks/platform.yaml");
    // Unique names let this run beside other tests on one emulator.
    let text = text
        .replacen("stack: platform", &format!("stack: {name}"), 1)
        .replace("alias/platform-", &format!("alias/{name}-"))
        .replace("platform-${env}", &format!("{name}-${{env}}"));
    Workspace::with_stack(&text, name, env)
}

fn actions(plan: &Value) -> Vec<(String, String, Value)> {
    plan["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| (a["address"].as_str().unwrap_or("").to_string(), a["action"].as_str().unwrap_or("").to_string(), a["desired"]["props"].clone()))
        .collect()
}

fn props<'a>(all: &'a [(String, String, Value)], address: &str) -> &'a Value {
    &all.iter().find(|a| a.0 == address).unwrap_or_else(|| panic!("no {address} in plan")).2
}

#[test]
fn every_environment_plans_and_differs_only_by_variables() {
    let name = unique("pf");
    let mut by_env = std::collections::BTreeMap::new();
    for env in ["dev", "staging", "prod"] {
        let ws = platform(&name, env);
        ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(2);
        by_env.insert(env, actions(&ws.plan_json(&[])));
    }
    let (dev, staging, prod) = (&by_env["dev"], &by_env["staging"], &by_env["prod"]);
    assert!(dev.iter().chain(prod.iter()).all(|a| a.1 == "create"), "an empty state means creates only");
    let nats = |all: &[(String, String, Value)]| all.iter().filter(|a| a.0.starts_with("network.nat[")).count();
    assert_eq!((nats(dev), nats(staging), nats(prod)), (1, 1, 3), "one NAT in dev/staging, one per AZ in prod");
    let db = |all| props(all, "db.instance").clone();
    assert_eq!(db(dev)["multi_az"], false);
    assert_eq!(db(prod)["multi_az"], true);
    assert_eq!(
        (db(dev)["backup_retention_period"].clone(), db(staging)["backup_retention_period"].clone(), db(prod)["backup_retention_period"].clone()),
        (Value::from(7), Value::from(30), Value::from(35))
    );
    // AWS Backup keeps the database past RDS's 35 days where the environment needs it.
    let kept = |all| props(all, "backup_plan")["rule"][0]["lifecycle"]["delete_after"].clone();
    assert_eq!((kept(dev), kept(staging), kept(prod)), (Value::from(7), Value::from(30), Value::from(90)));
    for env in [dev, staging, prod] {
        assert!(props(env, "db_backup[0]")["iam_role_arn"].is_object(), "the selection uses the backup role, known after apply");
    }
    // The cluster's add-ons, the EBS CSI driver with its role through Pod Identity.
    for env in [dev, staging, prod] {
        for (address, name) in [
            ("addon_vpc_cni[0]", "vpc-cni"),
            ("addon_kube_proxy[0]", "kube-proxy"),
            ("addon_coredns[0]", "coredns"),
            ("addon_pod_identity_agent[0]", "eks-pod-identity-agent"),
        ] {
            assert_eq!(props(env, address)["addon_name"], name);
        }
        let ebs = props(env, "addon_ebs_csi[0]");
        assert_eq!(ebs["pod_identity_association"][0]["service_account"], "ebs-csi-controller-sa");
        assert!(ebs["pod_identity_association"][0]["role_arn"].is_object(), "the driver's role, known after apply");
    }
    assert_eq!(db(prod)["deletion_protection"], true);
    assert_eq!(db(dev)["deletion_protection"], false);
    assert_eq!(db(prod)["instance_class"], "db.r6g.large");
    assert_eq!(props(prod, "cluster.nodegroup[\"apps\"]")["max_size"], 12);
    assert_eq!(props(dev, "cluster.nodegroup[\"apps\"]")["max_size"], 3);
    assert_eq!(props(prod, "cluster.nodegroup[\"spot\"]")["capacity_type"], "SPOT");
    assert_eq!(props(dev, "network.subnet.private[0]")["cidr_block"], "10.10.128.0/20");
    // The wiring rules' completions are in the plan: the cluster admits access entries, the
    // data key admits SNS into the encrypted queues, the WAF log bucket and its key admit log delivery.
    for env in [dev, staging, prod] {
        assert_eq!(props(env, "cluster.cluster")["access_config"]["authentication_mode"], "API_AND_CONFIG_MAP");
        let sids = |address: &str| -> Vec<String> {
            props(env, address)["policy"]["Statement"].as_array().into_iter().flatten().filter_map(|s| s["Sid"].as_str().map(str::to_string)).collect()
        };
        assert!(sids("data_key").contains(&"CairnWiringKmsSnsToSqs".to_string()), "{:?}", sids("data_key"));
        assert!(sids("logs_key").contains(&"CairnWiringKmsLogDelivery".to_string()), "{:?}", sids("logs_key"));
        assert!(sids("waf_logs.bucket").contains(&"CairnWiringS3LogDeliveryPolicyWrite".to_string()), "{:?}", sids("waf_logs.bucket"));
        assert!(sids("waf_logs.bucket").contains(&"DenyInsecureTransport".to_string()), "{:?}", sids("waf_logs.bucket"));
        // The audit bucket and logs_key admit CloudTrail for the trail.
        assert!(sids("audit.bucket").contains(&"CairnWiringS3CloudtrailPolicyWrite".to_string()), "{:?}", sids("audit.bucket"));
        assert!(sids("logs_key").contains(&"CairnWiringKmsCloudtrail".to_string()), "{:?}", sids("logs_key"));
    }
    assert_eq!(props(prod, "network.subnet.private[0]")["cidr_block"], "10.30.128.0/20");
    // Same resources everywhere, apart from the NAT count.
    let shape = |all: &[(String, String, Value)]| {
        all.iter().map(|a| a.0.clone()).filter(|a| !a.starts_with("network.nat[") && !a.starts_with("network.eip[")).collect::<Vec<_>>()
    };
    assert_eq!(shape(dev), shape(prod));
}

#[test]
fn dev_applies_verifies_and_destroys() {
    let name = unique("pd");
    let ws = platform(&name, "dev");
    // moto's EKS returns no cluster security group; admit nothing rather than an unknown group.
    ws.edit(|t| t.replace("allowed_security_group_ids: [\"${cluster.cluster_security_group_id}\"]", "allowed_security_group_ids: []"));
    // What moto lacks is left off (see moto_vars.rs).
    let var = crate::moto_vars::PLATFORM_ON_MOTO;
    let mut apply = vec!["apply", "--auto-approve"];
    apply.extend(var);
    ws.cairn(&apply).assert_code(0);
    let mut plan = vec!["plan", "--detailed-exitcode"];
    plan.extend(var);
    ws.cairn(&plan).assert_code(0);

    let mut plan_json = vec!["plan", "--json"];
    plan_json.extend(var);
    let r = ws.cairn(&plan_json);
    r.assert_code(0);
    let json: Value = serde_json::from_str(&r.stdout).expect("plan json");
    let resources = json["refresh"]["resources"].as_u64().unwrap_or(0);
    let calls: u64 = json["api_calls"].as_object().map(|m| m.values().filter_map(Value::as_u64).sum()).unwrap_or(0);
    assert!(resources >= 40, "{resources}");
    assert!(calls > 0 && calls < resources * 8, "refresh made {calls} calls for {resources} resources");
    eprintln!("platform refresh: {resources} resources, {calls} API calls ({:.2} per resource)", calls as f64 / resources as f64);
    let recorded = |kind: &str| json["plan"]["actions"].as_array().into_iter().flatten().filter(|a| a["kind"] == kind).count();
    for (kind, ops) in json["api_calls_by_kind"].as_object().into_iter().flatten() {
        let n: u64 = ops.as_object().map(|m| m.values().filter_map(Value::as_u64).sum()).unwrap_or(0);
        eprintln!("  platform refresh {kind:<32} {:>3} resources {n:>4} calls", recorded(kind));
    }

    runtime().block_on(async {
        let cfg = crate::harness::sdk_config().await;
        let ctx = cairn_resources::AwsContext::from_config(cfg.clone());
        let ec2 = ctx.ec2();
        let vpcs = ec2.describe_vpcs().filters(aws_sdk_ec2_filter("tag:cairn:stack", &name)).send().await.expect("DescribeVpcs");
        assert_eq!(vpcs.vpcs().len(), 1);
        let vpc = &vpcs.vpcs()[0];
        assert_eq!(vpc.cidr_block(), Some("10.10.0.0/16"));
        let subnets = ec2.describe_subnets().filters(aws_sdk_ec2_filter("tag:cairn:stack", &name)).send().await.expect("DescribeSubnets");
        assert_eq!(subnets.subnets().len(), 6, "public and private subnets in 3 AZs");
        let elb_tagged = subnets.subnets().iter().filter(|s| s.tags().iter().any(|t| t.key() == Some("kubernetes.io/role/internal-elb"))).count();
        assert_eq!(elb_tagged, 3);
        let eks = ctx.eks();
        let cluster = eks.describe_cluster().name(format!("{name}-dev-cluster")).send().await.expect("DescribeCluster");
        let cluster = cluster.cluster().expect("cluster");
        assert_eq!(cluster.version(), Some("1.30"));
        assert_eq!(cluster.tags().and_then(|t| t.get("Component")).map(String::as_str), Some("cluster"));
        let groups = eks.list_nodegroups().cluster_name(format!("{name}-dev-cluster")).send().await.expect("ListNodegroups");
        assert_eq!(groups.nodegroups().len(), 3);
        let rds = ctx.rds();
        let db = rds.describe_db_instances().db_instance_identifier(format!("{name}-dev-db-instance")).send().await.expect("DescribeDBInstances");
        let db = &db.db_instances()[0];
        assert_eq!(db.backup_retention_period(), Some(7));
        assert_eq!(db.storage_encrypted(), Some(true));
        assert_eq!(db.iam_database_authentication_enabled(), Some(true));

        // WAF log delivery adds its own statements to the log bucket's policy on AWS (moto's WAF
        // does not): the bucket holds cairn's delivery statements already, and AWS's are not drift.
        let s3 = ctx.s3();
        let bucket = format!("aws-waf-logs-{name}-dev");
        let policy = s3.get_bucket_policy().bucket(&bucket).send().await.expect("GetBucketPolicy");
        let mut policy: Value = serde_json::from_str(policy.policy().unwrap_or("{}")).expect("policy JSON");
        let sids: Vec<String> = policy["Statement"].as_array().into_iter().flatten().filter_map(|s| s["Sid"].as_str().map(str::to_string)).collect();
        assert!(sids.contains(&"CairnWiringS3LogDeliveryPolicyWrite".to_string()), "{sids:?}");
        if let Some(list) = policy["Statement"].as_array_mut() {
            list.push(serde_json::json!({ "Sid": "AWSLogDeliveryWrite20150319", "Effect": "Allow", "Principal": { "Service": "delivery.logs.amazonaws.com" },
                "Action": "s3:PutObject", "Resource": format!("arn:aws:s3:::{bucket}/AWSLogs/*") }));
        }
        s3.put_bucket_policy().bucket(&bucket).policy(policy.to_string()).send().await.expect("PutBucketPolicy");
    });
    ws.cairn(&plan).assert_code(0);

    let mut destroy = vec!["destroy", "--auto-approve"];
    destroy.extend(var);
    ws.cairn(&destroy).assert_code(0);
    assert!(ws.cairn(&["state", "list"]).stdout.trim().is_empty());
}

fn aws_sdk_ec2_filter(name: &str, value: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder().name(name).values(value).build()
}
