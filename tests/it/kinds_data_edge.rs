//! End-to-end tests of the data_edge resource kinds against the emulator.
//!
//! The network the database and the load balancer need is made here with plain SDK calls
//! (the EC2 kinds are tested in their own module), then passed into the stacks as literals.

use cairn_resources::AwsContext;
use serde_json::Value;

use crate::harness::{runtime, sdk_config, unique, Workspace};

/// SDK clients for setting up and checking, built from the harness's emulator config.
async fn aws() -> AwsContext {
    AwsContext::from_config(sdk_config().await)
}

fn action_of<'a>(plan: &'a Value, address: &str) -> &'a str {
    plan["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["address"] == address))
        .and_then(|x| x["action"].as_str())
        .unwrap_or_else(|| panic!("no action for {address} in plan: {plan}"))
}

fn output(ws: &Workspace, name: &str) -> String {
    let r = ws.cairn(&["output", name]);
    r.assert_code(0);
    r.stdout.trim().to_string()
}

/// A VPC with two subnets in different zones (what a DB subnet group and an ALB need), and a security group.
async fn network(ctx: &AwsContext, cidr_prefix: &str) -> (String, Vec<String>, String) {
    let ec2 = ctx.ec2();
    let vpc = ec2.create_vpc().cidr_block(format!("{cidr_prefix}.0.0/16")).send().await.expect("CreateVpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
    let mut subnets = vec![];
    for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let s =
            ec2.create_subnet().vpc_id(&vpc_id).cidr_block(format!("{cidr_prefix}.{}.0/24", i + 1)).availability_zone(*az).send().await.expect("CreateSubnet");
        subnets.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
    }
    let sg = ec2.create_security_group().group_name(unique("db-sg")).description("database").vpc_id(&vpc_id).send().await.expect("CreateSecurityGroup");
    (vpc_id, subnets, sg.group_id().expect("group id").to_string())
}

fn tags_of(list: impl Iterator<Item = (String, String)>) -> std::collections::BTreeMap<String, String> {
    list.collect()
}

#[test]
fn rds_subnet_group_parameter_group_and_instance_lifecycle() {
    let rt = runtime();
    let ctx = rt.block_on(aws());
    let (_, subnets, sg) = rt.block_on(network(&ctx, "10.41"));
    let stack = unique("rds");
    let yaml = format!(
        r#"stack: {stack}
tags: {{ Project: LegacyPlatform, Owner: platform-team }}
resources:
  db_subnets:
    type: aws.rds.subnet_group
    props:
      description: platform database subnets
      subnet_ids: [{s0}, {s1}]
  db_params:
    type: aws.rds.parameter_group
    props:
      family: postgres16
      parameters:
        - {{ name: log_min_duration_statement, value: "500", apply_method: immediate }}
  db:
    type: aws.rds.instance
    props:
      engine_version: "16"
      instance_class: db.t4g.micro
      allocated_storage: 20
      db_subnet_group_name: ${{db_subnets.id}}
      parameter_group_name: ${{db_params.id}}
      vpc_security_group_ids: [{sg}]
      backup_retention_period: 7
      wait_timeout_minutes: 5
outputs:
  endpoint: ${{db.endpoint}}
  secret: ${{db.master_user_secret_arn}}
"#,
        s0 = subnets[0],
        s1 = subnets[1],
    );
    let ws = Workspace::with_stack(&yaml, &stack, "dev");
    ws.apply();
    let id = format!("{stack}-dev-db");
    let subnet_group = format!("{stack}-dev-db-subnets");
    let param_group = format!("{stack}-dev-db-params");

    rt.block_on(async {
        let rds = ctx.rds();
        let out = rds.describe_db_instances().db_instance_identifier(&id).send().await.expect("DescribeDBInstances");
        let db = &out.db_instances()[0];
        assert_eq!(db.db_instance_status(), Some("available"));
        assert_eq!((db.engine(), db.engine_version(), db.db_instance_class()), (Some("postgres"), Some("16"), Some("db.t4g.micro")));
        assert_eq!((db.allocated_storage(), db.storage_type(), db.storage_encrypted()), (Some(20), Some("gp3"), Some(true)));
        assert_eq!(db.backup_retention_period(), Some(7));
        assert_eq!(db.db_subnet_group().and_then(|g| g.db_subnet_group_name()), Some(subnet_group.as_str()));
        assert_eq!(db.db_parameter_groups()[0].db_parameter_group_name(), Some(param_group.as_str()));
        assert_eq!(db.vpc_security_groups()[0].vpc_security_group_id(), Some(sg.as_str()));
        assert!(db.master_user_secret().and_then(|s| s.secret_arn()).is_some(), "RDS keeps the master password in Secrets Manager");
        let tags = tags_of(db.tag_list().iter().map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string())));
        assert_eq!(tags.get("Project").map(String::as_str), Some("LegacyPlatform"));
        assert_eq!(tags.get("cairn:address").map(String::as_str), Some("db"));
        assert_eq!(tags.get("cairn:stack"), Some(&stack));

        let groups = rds.describe_db_subnet_groups().db_subnet_group_name(&subnet_group).send().await.expect("DescribeDBSubnetGroups");
        let group = &groups.db_subnet_groups()[0];
        let mut ids: Vec<&str> = group.subnets().iter().filter_map(|s| s.subnet_identifier()).collect();
        ids.sort();
        let mut want: Vec<&str> = subnets.iter().map(String::as_str).collect();
        want.sort();
        assert_eq!(ids, want);
        assert_eq!(group.db_subnet_group_description(), Some("platform database subnets"));
        let gtags = rds.list_tags_for_resource().resource_name(group.db_subnet_group_arn().unwrap()).send().await.expect("ListTagsForResource");
        assert!(gtags.tag_list().iter().any(|t| t.key() == Some("cairn:address") && t.value() == Some("db_subnets")));

        let params = rds.describe_db_parameters().db_parameter_group_name(&param_group).send().await.expect("DescribeDBParameters");
        let p = params.parameters().iter().find(|p| p.parameter_name() == Some("log_min_duration_statement")).expect("parameter set");
        assert_eq!(p.parameter_value(), Some("500"));
    });
    assert!(output(&ws, "endpoint").starts_with(&id), "endpoint output");
    assert!(output(&ws, "secret").contains(":secretsmanager:"), "secret ARN output");

    let r = ws.cairn(&["plan", "--detailed-exitcode"]);
    r.assert_code(0);
    assert!(r.stdout.contains("No changes"), "{}", r.stdout);

    // In place: a bigger class and another parameter value. (moto drops a subnet group on
    // ModifyDBSubnetGroup, so subnet changes are covered by the mocked tests only.)
    ws.edit(|t| t.replace("instance_class: db.t4g.micro", "instance_class: db.t4g.small").replace("value: \"500\"", "value: \"1000\""));
    let plan = ws.plan_json(&[]);
    assert_eq!(action_of(&plan, "db"), "update");
    assert_eq!(action_of(&plan, "db_params"), "update");
    ws.apply();
    rt.block_on(async {
        let rds = ctx.rds();
        let out = rds.describe_db_instances().db_instance_identifier(&id).send().await.expect("instance kept");
        assert_eq!(out.db_instances()[0].db_instance_class(), Some("db.t4g.small"));
        let params = rds.describe_db_parameters().db_parameter_group_name(&param_group).send().await.expect("DescribeDBParameters");
        let p = params.parameters().iter().find(|p| p.parameter_name() == Some("log_min_duration_statement")).expect("parameter set");
        assert_eq!(p.parameter_value(), Some("1000"));
    });
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);

    // Deletion protection is honoured, never lifted behind the user's back.
    ws.edit(|t| t.replace("      wait_timeout_minutes: 5\n", "      wait_timeout_minutes: 5\n      deletion_protection: true\n"));
    ws.apply();
    let refused = ws.cairn(&["destroy", "--auto-approve"]);
    assert_ne!(refused.code, 0, "destroy must fail while deletion_protection is on:\n{}", refused.stdout);
    let text = format!("{}{}", refused.stdout, refused.stderr);
    assert!(text.contains("set deletion_protection: false and apply before destroying"), "{text}");
    rt.block_on(async {
        let out = ctx.rds().describe_db_instances().db_instance_identifier(&id).send().await.expect("still there");
        assert_eq!(out.db_instances()[0].deletion_protection(), Some(true), "not turned off silently");
    });

    ws.edit(|t| t.replace("      deletion_protection: true\n", "      deletion_protection: false\n"));
    ws.apply();
    ws.cairn(&["destroy", "--auto-approve"]).assert_code(0);
    rt.block_on(async {
        let rds = ctx.rds();
        assert!(rds.describe_db_instances().db_instance_identifier(&id).send().await.is_err(), "instance gone");
        assert!(rds.describe_db_subnet_groups().db_subnet_group_name(&subnet_group).send().await.is_err(), "subnet group gone");
        assert!(
            rds.describe_db_parameter_groups().db_parameter_group_name(&param_group).send().await.map(|o| o.db_parameter_groups().is_empty()).unwrap_or(true),
            "parameter group gone"
        );
        let snaps = rds.describe_db_snapshots().db_snapshot_identifier(format!("{id}-final")).send().await.expect("DescribeDBSnapshots");
        assert_eq!(snaps.db_snapshots().len(), 1, "destroy took the final snapshot {id}-final");
    });
}

#[test]
fn wafv2_ip_set_web_acl_association_and_logging_lifecycle() {
    let rt = runtime();
    let ctx = rt.block_on(aws());
    let (_, subnets, _) = rt.block_on(network(&ctx, "10.42"));
    let alb_name = unique("alb");
    let alb = rt.block_on(async {
        let out = ctx.elbv2().create_load_balancer().name(&alb_name).subnets(&subnets[0]).subnets(&subnets[1]).send().await.expect("CreateLoadBalancer");
        out.load_balancers()[0].load_balancer_arn().expect("ALB ARN").to_string()
    });
    let stack = unique("waf");
    let logs = format!("arn:aws:s3:::aws-waf-logs-{stack}");
    let yaml = format!(
        r#"stack: {stack}
tags: {{ Project: LegacyPlatform, Owner: platform-team }}
resources:
  blocklist:
    type: aws.wafv2.ip_set
    props:
      addresses: ["203.0.113.0/24", "198.51.100.7/32"]
      description: known bad actors
  edge:
    type: aws.wafv2.web_acl
    props:
      description: edge protection
      visibility_config: {{ cloudwatch_metrics_enabled: true, metric_name: edge, sampled_requests_enabled: true }}
      rules:
        - name: common
          priority: 1
          visibility_config: {{ cloudwatch_metrics_enabled: true, metric_name: common, sampled_requests_enabled: true }}
          managed_rule_group: {{ vendor: AWS, name: AWSManagedRulesCommonRuleSet, excluded_rules: [SizeRestrictions_BODY] }}
        - name: rate
          priority: 10
          visibility_config: {{ cloudwatch_metrics_enabled: true, metric_name: rate, sampled_requests_enabled: true }}
          rate_based: {{ limit: 2000, aggregate_key_type: IP }}
          action: block
        - name: blocklist
          priority: 20
          visibility_config: {{ cloudwatch_metrics_enabled: true, metric_name: blocklist, sampled_requests_enabled: true }}
          ip_set: {{ arn: "${{blocklist.arn}}" }}
          action: block
  edge_alb:
    type: aws.wafv2.web_acl_association
    props:
      web_acl_arn: ${{edge.arn}}
      resource_arn: {alb}
  edge_logs:
    type: aws.wafv2.logging_configuration
    props:
      web_acl_arn: ${{edge.arn}}
      log_destination_arns: ["{logs}"]
      redacted_fields: [{{ single_header: authorization }}]
outputs:
  acl_arn: ${{edge.arn}}
  acl_id: ${{edge.web_acl_id}}
  ip_set_id: ${{blocklist.ip_set_id}}
"#
    );
    let ws = Workspace::with_stack(&yaml, &stack, "dev");
    ws.apply();
    let (acl_arn, acl_id, ip_set_id) = (output(&ws, "acl_arn"), output(&ws, "acl_id"), output(&ws, "ip_set_id"));
    let acl_name = format!("{stack}-dev-edge");
    let ip_set_name = format!("{stack}-dev-blocklist");

    rt.block_on(async {
        let waf = ctx.wafv2();
        let set = waf.get_ip_set().name(&ip_set_name).scope("REGIONAL".into()).id(&ip_set_id).send().await.expect("GetIPSet");
        let set = set.ip_set().expect("ip set");
        let mut addresses = set.addresses().to_vec();
        addresses.sort();
        assert_eq!(addresses, ["198.51.100.7/32", "203.0.113.0/24"]);
        assert_eq!(set.description(), Some("known bad actors"));
        let tags = waf.list_tags_for_resource().resource_arn(set.arn()).send().await.expect("ListTagsForResource");
        let tags = tags_of(tags.tag_info_for_resource().map(|i| i.tag_list()).unwrap_or_default().iter().map(|t| (t.key().to_string(), t.value().to_string())));
        assert_eq!(tags.get("cairn:address").map(String::as_str), Some("blocklist"));
        assert_eq!(tags.get("Owner").map(String::as_str), Some("platform-team"));

        let acl = waf.get_web_acl().name(&acl_name).scope("REGIONAL".into()).id(&acl_id).send().await.expect("GetWebACL");
        let acl = acl.web_acl().expect("web acl");
        assert_eq!(acl.arn(), acl_arn);
        assert!(acl.default_action().and_then(|a| a.allow()).is_some());
        assert_eq!(acl.rules().len(), 3);
        let blocklist_rule = acl.rules().iter().find(|r| r.name() == "blocklist").expect("blocklist rule");
        assert_eq!(blocklist_rule.statement().and_then(|s| s.ip_set_reference_statement()).map(|s| s.arn()), Some(set.arn()), "the rule points at the IP set");
        let tags = waf.list_tags_for_resource().resource_arn(acl.arn()).send().await.expect("ListTagsForResource");
        assert!(tags.tag_info_for_resource().map(|i| i.tag_list()).unwrap_or_default().iter().any(|t| t.key() == "cairn:address" && t.value() == "edge"));

        let attached = waf.get_web_acl_for_resource().resource_arn(&alb).send().await.expect("GetWebACLForResource");
        assert_eq!(attached.web_acl().map(|a| a.arn()), Some(acl_arn.as_str()), "the ALB is protected by the ACL");

        let logging = waf.get_logging_configuration().resource_arn(&acl_arn).send().await.expect("GetLoggingConfiguration");
        let logging = logging.logging_configuration().expect("logging");
        assert_eq!(logging.log_destination_configs(), std::slice::from_ref(&logs));
        assert_eq!(logging.redacted_fields()[0].single_header().map(|h| h.name()), Some("authorization"));
    });

    let r = ws.cairn(&["plan", "--detailed-exitcode"]);
    r.assert_code(0);
    assert!(r.stdout.contains("No changes"), "{}", r.stdout);

    // In place: one more address, block by default with a tighter rate limit, one more redacted header.
    ws.edit(|t| {
        t.replace("addresses: [\"203.0.113.0/24\", \"198.51.100.7/32\"]", "addresses: [\"203.0.113.0/24\", \"198.51.100.7/32\", \"192.0.2.0/24\"]")
            .replace("      description: edge protection\n", "      description: edge protection\n      default_action: block\n")
            .replace("limit: 2000", "limit: 1000")
            .replace("redacted_fields: [{ single_header: authorization }]", "redacted_fields: [{ single_header: authorization }, { single_header: cookie }]")
    });
    let plan = ws.plan_json(&[]);
    for address in ["blocklist", "edge", "edge_logs"] {
        assert_eq!(action_of(&plan, address), "update", "{address} changes in place");
    }
    ws.apply();
    assert_eq!(output(&ws, "acl_id"), acl_id, "the ACL was updated, not replaced");
    rt.block_on(async {
        let waf = ctx.wafv2();
        let set = waf.get_ip_set().name(&ip_set_name).scope("REGIONAL".into()).id(&ip_set_id).send().await.expect("GetIPSet");
        assert_eq!(set.ip_set().map(|s| s.addresses().len()), Some(3));
        let acl = waf.get_web_acl().name(&acl_name).scope("REGIONAL".into()).id(&acl_id).send().await.expect("GetWebACL");
        let acl = acl.web_acl().expect("web acl");
        assert!(acl.default_action().and_then(|a| a.block()).is_some());
        let rate = acl.rules().iter().find(|r| r.name() == "rate").and_then(|r| r.statement()).and_then(|s| s.rate_based_statement()).expect("rate rule");
        assert_eq!(rate.limit(), 1000);
        let logging = waf.get_logging_configuration().resource_arn(&acl_arn).send().await.expect("GetLoggingConfiguration");
        assert_eq!(logging.logging_configuration().map(|l| l.redacted_fields().len()), Some(2));
    });
    ws.cairn(&["plan", "--detailed-exitcode"]).assert_code(0);

    ws.cairn(&["destroy", "--auto-approve"]).assert_code(0);
    rt.block_on(async {
        let waf = ctx.wafv2();
        assert!(waf.get_ip_set().name(&ip_set_name).scope("REGIONAL".into()).id(&ip_set_id).send().await.is_err(), "IP set gone");
        assert!(waf.get_web_acl().name(&acl_name).scope("REGIONAL".into()).id(&acl_id).send().await.is_err(), "web ACL gone");
        let attached = waf.get_web_acl_for_resource().resource_arn(&alb).send().await.expect("GetWebACLForResource");
        assert!(attached.web_acl().is_none(), "the ALB no longer has an ACL");
        assert!(waf.get_logging_configuration().resource_arn(&acl_arn).send().await.is_err(), "logging gone");
        ctx.elbv2().delete_load_balancer().load_balancer_arn(&alb).send().await.expect("DeleteLoadBalancer");
    });
}

#[test]
fn waf_logging_to_a_destination_not_named_for_waf_is_refused() {
    let stack = unique("wafbad");
    let yaml = format!(
        r#"stack: {stack}
tags: {{ Project: LegacyPlatform, Owner: platform-team }}
resources:
  edge_logs:
    type: aws.wafv2.logging_configuration
    props:
      web_acl_arn: arn:aws:wafv2:us-east-1:123456789012:regional/webacl/edge/0000
      log_destination_arns: ["arn:aws:s3:::company-logs"]
"#
    );
    let ws = Workspace::with_stack(&yaml, &stack, "dev");
    let r = ws.cairn(&["apply", "--auto-approve"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    let text = format!("{}{}", r.stdout, r.stderr);
    assert!(text.contains("names start with \\\"aws-waf-logs-\\\"") || text.contains("names start with \"aws-waf-logs-\""), "{text}");
}
