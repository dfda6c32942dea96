//! Counts what the emulator holds for a stack, per kind, through the SDK alone (ownership tag `cairn:stack` or the `<stack>-` name prefix).

use std::collections::BTreeMap;

use cairn_resources::AwsContext;

use crate::harness::{sdk_config, sdk_config_at, unique};

fn tag_filter(stack: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder().name("tag:cairn:stack").values(stack).build()
}

/// Counts of each kind owned by `stack` in the emulator at `endpoint`.
pub async fn count_all(endpoint: &str, stack: &str, kinds: impl Iterator<Item = &str>) -> BTreeMap<String, usize> {
    let ctx = AwsContext::from_config(sdk_config_at(endpoint, "test", "test").await);
    let mut out = BTreeMap::new();
    for kind in kinds {
        out.insert(kind.to_string(), count(&ctx, kind, stack).await);
    }
    out
}

/// Derived names start with `<stack>-`; names AWS forces a prefix on (`aws-waf-logs-<stack>-...`) contain it, and
/// path-like names (`/aws/eks/<stack>-dev-cluster/cluster`) hold it as a segment.
fn named(name: &str, stack: &str) -> bool {
    let (name, stack) = (name.to_ascii_lowercase(), stack.to_ascii_lowercase());
    name.starts_with(&format!("{stack}-")) || name.contains(&format!("-{stack}-")) || name.contains(&format!("/{stack}-"))
}

/// moto ignores `tag:` filters on some EC2 calls, so ownership is checked here as well.
macro_rules! owned {
    ($items:expr, $stack:expr) => {
        $items.iter().filter(|i| i.tags().iter().any(|t| t.key() == Some("cairn:stack") && t.value() == Some($stack))).count()
    };
}

pub async fn count(ctx: &AwsContext, kind: &str, stack: &str) -> usize {
    let ec2 = ctx.ec2();
    let f = tag_filter(stack);
    match kind {
        "aws.ec2.vpc" => owned!(ec2.describe_vpcs().filters(f).send().await.expect("DescribeVpcs").vpcs(), stack),
        "aws.ec2.subnet" => owned!(ec2.describe_subnets().filters(f).send().await.expect("DescribeSubnets").subnets(), stack),
        "aws.ec2.internet_gateway" => {
            owned!(ec2.describe_internet_gateways().filters(f).send().await.expect("DescribeInternetGateways").internet_gateways(), stack)
        }
        "aws.ec2.eip" => owned!(ec2.describe_addresses().filters(f).send().await.expect("DescribeAddresses").addresses(), stack),
        "aws.ec2.nat_gateway" => {
            let out = ec2.describe_nat_gateways().filter(f).send().await.expect("DescribeNatGateways");
            let live: Vec<_> =
                out.nat_gateways().iter().filter(|n| !matches!(n.state().map(|s| s.as_str()), Some("deleted" | "deleting" | "failed"))).collect();
            live.iter().filter(|n| n.tags().iter().any(|t| t.key() == Some("cairn:stack") && t.value() == Some(stack))).count()
        }
        "aws.ec2.route_table" => owned!(ec2.describe_route_tables().filters(f).send().await.expect("DescribeRouteTables").route_tables(), stack),
        "aws.ec2.security_group" => owned!(ec2.describe_security_groups().filters(f).send().await.expect("DescribeSecurityGroups").security_groups(), stack),
        "aws.kms.key" => kms_keys(ctx, stack).await,
        "aws.s3.bucket" => ctx.s3().list_buckets().send().await.expect("ListBuckets").buckets().iter().filter(|b| named(b.name().unwrap_or(""), stack)).count(),
        "aws.sqs.queue" => {
            let out = ctx.sqs().list_queues().queue_name_prefix(format!("{stack}-")).send().await.expect("ListQueues");
            out.queue_urls().len()
        }
        "aws.sns.topic" => topics(ctx, stack).await.len(),
        "aws.sns.subscription" => {
            let mut n = 0;
            for topic in topics(ctx, stack).await {
                let subs = ctx.sns().list_subscriptions_by_topic().topic_arn(&topic).send().await.expect("ListSubscriptionsByTopic");
                n += subs.subscriptions().len();
            }
            n
        }
        "aws.iam.role" => {
            let pages: Vec<_> = ctx.iam().list_roles().into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.expect("ListRoles");
            pages.iter().filter(|r| named(r.role_name(), stack)).count()
        }
        "aws.iam.policy" => {
            let list = ctx.iam().list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).into_paginator().items().send();
            let all: Vec<_> = list.collect::<Result<Vec<_>, _>>().await.expect("ListPolicies");
            all.iter().filter(|p| named(p.policy_name().unwrap_or(""), stack)).count()
        }
        "aws.iam.oidc_provider" => {
            let iam = ctx.iam();
            let list = iam.list_open_id_connect_providers().send().await.expect("ListOpenIDConnectProviders");
            let mut n = 0;
            for arn in list.open_id_connect_provider_list().iter().filter_map(|p| p.arn()) {
                if let Ok(tags) = iam.list_open_id_connect_provider_tags().open_id_connect_provider_arn(arn).send().await {
                    n += tags.tags().iter().any(|t| t.key() == "cairn:stack" && t.value() == stack) as usize;
                }
            }
            n
        }
        "aws.eks.cluster" => clusters(ctx, stack).await.len(),
        "aws.eks.nodegroup" => {
            let mut n = 0;
            for c in clusters(ctx, stack).await {
                n += ctx.eks().list_nodegroups().cluster_name(&c).send().await.expect("ListNodegroups").nodegroups().len();
            }
            n
        }
        "aws.eks.access_entry" => {
            let mut n = 0;
            for c in clusters(ctx, stack).await {
                n += ctx.eks().list_access_entries().cluster_name(&c).send().await.map(|o| o.access_entries().len()).unwrap_or(0);
            }
            n
        }
        "aws.rds.subnet_group" => {
            let all: Vec<_> =
                ctx.rds().describe_db_subnet_groups().into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.expect("DescribeDBSubnetGroups");
            all.iter().filter(|g| named(g.db_subnet_group_name().unwrap_or(""), stack)).count()
        }
        "aws.rds.parameter_group" => {
            let all: Vec<_> = ctx
                .rds()
                .describe_db_parameter_groups()
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .expect("DescribeDBParameterGroups");
            all.iter().filter(|g| named(g.db_parameter_group_name().unwrap_or(""), stack)).count()
        }
        "aws.rds.instance" => {
            let all: Vec<_> =
                ctx.rds().describe_db_instances().into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.expect("DescribeDBInstances");
            all.iter()
                .filter(|d| named(d.db_instance_identifier().unwrap_or(""), stack) && !matches!(d.db_instance_status(), Some("deleting" | "deleted")))
                .count()
        }
        "aws.wafv2.ip_set" => {
            let out = ctx.wafv2().list_ip_sets().scope("REGIONAL".into()).limit(100).send().await.expect("ListIPSets");
            out.ip_sets().iter().filter(|s| named(s.name().unwrap_or(""), stack)).count()
        }
        "aws.wafv2.web_acl" => web_acls(ctx, stack).await.len(),
        "aws.wafv2.web_acl_association" => {
            // moto has no ListResourcesForWebACL, so every load balancer is asked for its ACL.
            let acls = web_acls(ctx, stack).await;
            let lbs = ctx.elbv2().describe_load_balancers().send().await.expect("DescribeLoadBalancers");
            let mut n = 0;
            for lb in lbs.load_balancers().iter().filter_map(|l| l.load_balancer_arn()) {
                let out = ctx.wafv2().get_web_acl_for_resource().resource_arn(lb).send().await.expect("GetWebACLForResource");
                n += out.web_acl().is_some_and(|a| acls.iter().any(|x| x == a.arn())) as usize;
            }
            n
        }
        "aws.wafv2.logging_configuration" => {
            let mut n = 0;
            for arn in web_acls(ctx, stack).await {
                n += ctx.wafv2().get_logging_configuration().resource_arn(&arn).send().await.is_ok() as usize;
            }
            n
        }
        "aws.cloudtrail.trail" => {
            let all = ctx.cloudtrail().describe_trails().include_shadow_trails(false).send().await.expect("DescribeTrails");
            all.trail_list().iter().filter(|t| named(t.name().unwrap_or(""), stack)).count()
        }
        "aws.cloudwatch.metric_alarm" => {
            let out = ctx.cloudwatch().describe_alarms().alarm_name_prefix(stack).send().await.expect("DescribeAlarms");
            out.metric_alarms().iter().filter(|a| named(a.alarm_name().unwrap_or(""), stack)).count()
        }
        "aws.logs.log_group" => {
            let all: Vec<_> = ctx.logs().describe_log_groups().into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.expect("DescribeLogGroups");
            all.iter().filter(|g| named(g.log_group_name().unwrap_or(""), stack)).count()
        }
        "aws.ecr.repository" => {
            let all: Vec<_> =
                ctx.ecr().describe_repositories().into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.expect("DescribeRepositories");
            all.iter().filter(|r| named(r.repository_name().unwrap_or(""), stack)).count()
        }
        "aws.secretsmanager.secret" => {
            // Secrets scheduled for deletion are left out: destroy schedules (or forces) deletion.
            let pages: Vec<_> = ctx.secretsmanager().list_secrets().into_paginator().send().collect::<Result<Vec<_>, _>>().await.expect("ListSecrets");
            pages.iter().flat_map(|p| p.secret_list()).filter(|s| s.deleted_date().is_none() && named(s.name().unwrap_or(""), stack)).count()
        }
        "aws.ssm.parameter" => {
            let pages: Vec<_> = ctx.ssm().describe_parameters().into_paginator().send().collect::<Result<Vec<_>, _>>().await.expect("DescribeParameters");
            pages.iter().flat_map(|p| p.parameters()).filter(|p| named(p.name().unwrap_or("").trim_start_matches('/'), stack)).count()
        }
        "aws.backup.vault" => {
            let out = ctx.backup().list_backup_vaults().send().await.expect("ListBackupVaults");
            out.backup_vault_list().iter().filter(|v| named(v.backup_vault_name().unwrap_or(""), stack)).count()
        }
        "aws.backup.plan" => {
            // Deleted plans stay listed with includeDeleted only; the default listing is what exists.
            let out = ctx.backup().list_backup_plans().send().await.expect("ListBackupPlans");
            out.backup_plans_list().iter().filter(|p| p.deletion_date().is_none() && named(p.backup_plan_name().unwrap_or(""), stack)).count()
        }
        "aws.acm.certificate" => acm_certificates(ctx, stack).await.len(),
        // The validation creates nothing: it stands for the stack's certificate being ISSUED.
        "aws.acm.certificate_validation" => acm_certificates(ctx, stack).await.iter().filter(|s| s.as_str() == "ISSUED").count(),
        "aws.route53.zone" => route53_zones(ctx, stack).await.len(),
        // Records other than the SOA and NS records every zone has, in the stack's zones.
        "aws.route53.record" => {
            let mut n = 0;
            for zone in route53_zones(ctx, stack).await {
                let out = ctx.route53().list_resource_record_sets().hosted_zone_id(&zone).send().await.expect("ListResourceRecordSets");
                n += out.resource_record_sets().iter().filter(|r| !matches!(r.r#type().as_str(), "SOA" | "NS")).count();
            }
            n
        }
        other => panic!("inventory: no way to count {other} yet; add it to tests/it/conformance/inventory.rs"),
    }
}

/// The ids of the hosted zones named `<stack>.<domain>` (the fixtures' zone names).
async fn route53_zones(ctx: &AwsContext, stack: &str) -> Vec<String> {
    let prefix = format!("{}.", stack.to_ascii_lowercase());
    let mut out = vec![];
    let mut marker: Option<String> = None;
    loop {
        let page = ctx.route53().list_hosted_zones().set_marker(marker.take()).send().await.expect("ListHostedZones");
        out.extend(
            page.hosted_zones()
                .iter()
                .filter(|z| z.name().to_ascii_lowercase().starts_with(&prefix))
                .map(|z| z.id().trim_start_matches("/hostedzone/").to_string()),
        );
        match page.next_marker() {
            Some(m) if page.is_truncated() => marker = Some(m.to_string()),
            _ => return out,
        }
    }
}

/// Keys tagged for the stack that are not pending deletion (destroy schedules deletion).
async fn kms_keys(ctx: &AwsContext, stack: &str) -> usize {
    let kms = ctx.kms();
    let keys: Vec<_> = kms.list_keys().into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.expect("ListKeys");
    let mut n = 0;
    for key in keys.iter().filter_map(|k| k.key_id()) {
        let Ok(tags) = kms.list_resource_tags().key_id(key).send().await else { continue };
        if !tags.tags().iter().any(|t| t.tag_key() == "cairn:stack" && t.tag_value() == stack) {
            continue;
        }
        let state = kms.describe_key().key_id(key).send().await.ok().and_then(|d| d.key_metadata().and_then(|m| m.key_state().map(|s| s.as_str().to_string())));
        n += (state.as_deref() != Some("PendingDeletion")) as usize;
    }
    n
}

async fn topics(ctx: &AwsContext, stack: &str) -> Vec<String> {
    let all: Vec<_> = ctx.sns().list_topics().into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.expect("ListTopics");
    all.iter().filter_map(|t| t.topic_arn()).filter(|arn| named(arn.rsplit(':').next().unwrap_or(""), stack)).map(str::to_string).collect()
}

async fn clusters(ctx: &AwsContext, stack: &str) -> Vec<String> {
    let all: Vec<String> = ctx.eks().list_clusters().into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.expect("ListClusters");
    all.into_iter().filter(|c| named(c, stack)).collect()
}

async fn web_acls(ctx: &AwsContext, stack: &str) -> Vec<String> {
    let out = ctx.wafv2().list_web_acls().scope("REGIONAL".into()).limit(100).send().await.expect("ListWebACLs");
    out.web_acls().iter().filter(|a| named(a.name().unwrap_or(""), stack)).filter_map(|a| a.arn()).map(str::to_string).collect()
}

/// A VPC, two subnets and a load balancer made with the SDK, for fixtures that attach to one.
pub struct Scratch {
    vpc: String,
    subnets: Vec<String>,
    alb: String,
}

pub async fn scratch_alb() -> (String, Scratch) {
    let ctx = AwsContext::from_config(sdk_config().await);
    let ec2 = ctx.ec2();
    let vpc = ec2.create_vpc().cidr_block("10.61.0.0/16").send().await.expect("CreateVpc");
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
    let mut subnets = vec![];
    for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let s = ec2.create_subnet().vpc_id(&vpc).cidr_block(format!("10.61.{}.0/24", i + 1)).availability_zone(*az).send().await.expect("CreateSubnet");
        subnets.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
    }
    let out = ctx.elbv2().create_load_balancer().name(unique("cfalb")).subnets(&subnets[0]).subnets(&subnets[1]).send().await.expect("CreateLoadBalancer");
    let alb = out.load_balancers()[0].load_balancer_arn().expect("ALB ARN").to_string();
    (alb.clone(), Scratch { vpc, subnets, alb })
}

impl Scratch {
    pub async fn delete(self) {
        let ctx = AwsContext::from_config(sdk_config().await);
        let _ = ctx.elbv2().delete_load_balancer().load_balancer_arn(&self.alb).send().await;
        for s in &self.subnets {
            let _ = ctx.ec2().delete_subnet().subnet_id(s).send().await;
        }
        let _ = ctx.ec2().delete_vpc().vpc_id(&self.vpc).send().await;
    }
}

/// The statuses of the certificates tagged for the stack (every key type: ListCertificates
/// lists RSA_2048 keys only unless asked).
async fn acm_certificates(ctx: &AwsContext, stack: &str) -> Vec<String> {
    use aws_sdk_acm::types::{Filters, KeyAlgorithm};
    let acm = ctx.acm();
    let keys = Filters::builder().key_types(KeyAlgorithm::Rsa2048).key_types(KeyAlgorithm::EcPrime256v1).key_types(KeyAlgorithm::EcSecp384r1).build();
    let all: Vec<_> = acm.list_certificates().includes(keys).into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.expect("ListCertificates");
    let mut out = vec![];
    for arn in all.iter().filter_map(|c| c.certificate_arn()) {
        let Ok(tags) = acm.list_tags_for_certificate().certificate_arn(arn).send().await else { continue };
        if tags.tags().iter().any(|t| t.key() == "cairn:stack" && t.value() == Some(stack)) {
            let detail = acm.describe_certificate().certificate_arn(arn).send().await.expect("DescribeCertificate");
            out.push(detail.certificate().and_then(|c| c.status()).map(|s| s.as_str().to_string()).unwrap_or_default());
        }
    }
    out
}
