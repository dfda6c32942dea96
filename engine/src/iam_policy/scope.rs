//! What the generator knows about the stack: the physical names and exact ARNs of its resources, and the ownership-tag conditions.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::PolicyError;
use crate::graph::{ResourceGraph, ResourceNode};

/// Props of EC2 kinds that hold another EC2 resource's id, and that resource's ARN type.
const EC2_ID_PROPS: &[(&str, &str)] = &[("vpc_id", "vpc"), ("subnet_id", "subnet"), ("allocation_id", "elastic-ip")];

/// What the generator knows about the stack: names, ARNs and conditions.
pub(super) struct Scope<'a> {
    pub(super) graph: &'a ResourceGraph,
    pub(super) region: &'a str,
    pub(super) account: &'a str,
}

impl Scope<'_> {
    pub(super) fn nodes(&self, kind: &str) -> impl Iterator<Item = &ResourceNode> + '_ {
        let kind = kind.to_string();
        self.graph.nodes.values().filter(move |n| n.kind == kind)
    }

    pub(super) fn owned(&self) -> Value {
        json!({ "StringEquals": { "aws:ResourceTag/cairn:stack": self.graph.stack, "aws:ResourceTag/cairn:env": self.graph.env } })
    }

    /// Creates: the new resource must carry this stack's ownership tags, and only the tag
    /// keys the stack's resources of that service have (plus cairn's own).
    pub(super) fn tagged_at_creation(&self, service_prefix: &str) -> Value {
        let mut keys: BTreeSet<String> = BTreeSet::from(["cairn:*".to_string()]);
        for n in self.graph.nodes.values().filter(|n| n.kind.starts_with(service_prefix)) {
            keys.extend(n.tags.keys().filter(|k| !k.starts_with("cairn:")).cloned());
        }
        json!({
            "StringEquals": { "aws:RequestTag/cairn:stack": self.graph.stack, "aws:RequestTag/cairn:env": self.graph.env },
            "ForAllValues:StringLike": { "aws:TagKeys": keys },
        })
    }

    /// A tag action that is part of a create (with tags): allowed only on a resource that has
    /// no ownership tag yet, and only with this stack's.
    pub(super) fn tagging_at_creation(&self, service_prefix: &str) -> Value {
        let mut c = self.tagged_at_creation(service_prefix);
        c["Null"] = json!({ "aws:ResourceTag/cairn:stack": "true" });
        c
    }

    /// The physical name of a node, as its kind will name it.
    pub(super) fn name(&self, node: &ResourceNode, prop: &str) -> Result<String, PolicyError> {
        let name = match node.props.get(prop) {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => node.default_name.clone(),
            Some(_) => return Err(PolicyError::NameUnknown { address: node.address.clone(), kind: node.kind.clone() }),
        };
        let fifo = |flag: &str| node.props.get(flag).and_then(Value::as_bool).unwrap_or(false) && !name.ends_with(".fifo");
        Ok(match node.kind.as_str() {
            "aws.sqs.queue" if fifo("fifo_queue") => format!("{name}.fifo"),
            "aws.sns.topic" if fifo("fifo_topic") => format!("{name}.fifo"),
            k if k.starts_with("aws.rds.") => name.to_lowercase(),
            _ => name,
        })
    }

    pub(super) fn iam_path(node: &ResourceNode) -> String {
        match node.props.get("path").and_then(Value::as_str) {
            Some(p) if !p.is_empty() => {
                let p = if p.starts_with('/') { p.to_string() } else { format!("/{p}") };
                if p.ends_with('/') {
                    p
                } else {
                    format!("{p}/")
                }
            }
            _ => "/".into(),
        }
    }

    /// ARNs of a kind's IAM resources of type `ty` (`role`, `policy`), under their paths.
    fn iam_arns(&self, kind: &str, ty: &str) -> Result<Vec<String>, PolicyError> {
        let a = self.account;
        self.nodes(kind).map(|n| Ok(format!("arn:aws:iam::{a}:{ty}{}{}", Self::iam_path(n), self.name(n, "name")?))).collect()
    }

    pub(super) fn names(&self, kind: &str, prop: &str) -> Result<Vec<String>, PolicyError> {
        self.nodes(kind).map(|n| self.name(n, prop)).collect()
    }

    /// Literal strings in a kind's props that look like ARNs of `prefix` (resources outside the stack it refers to).
    pub(super) fn literal_arns(&self, kinds: &[&str], prop: &str, prefix: &str) -> Vec<String> {
        self.graph
            .nodes
            .values()
            .filter(|n| kinds.contains(&n.kind.as_str()))
            .filter_map(|n| n.props.get(prop).and_then(Value::as_str))
            .filter(|s| s.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    pub(super) fn role_arns(&self) -> Result<Vec<String>, PolicyError> {
        let mut out = self.iam_arns("aws.iam.role", "role")?;
        // Roles named by ARN in the stack's props (an EKS cluster's role from elsewhere) are passed too.
        for n in self.graph.nodes.values() {
            for v in n.props.values() {
                if let Some(s) = v.as_str().filter(|s| s.starts_with("arn:aws:iam::") && s.contains(":role/")) {
                    out.push(s.to_string());
                }
            }
        }
        Ok(out)
    }

    /// ARNs of EC2 resources the stack names by literal id (made elsewhere).
    pub(super) fn ec2_literals(&self) -> Vec<String> {
        let (r, a) = (self.region, self.account);
        let mut out = vec![];
        for n in self.graph.nodes.values().filter(|n| n.kind.starts_with("aws.ec2.")) {
            for (prop, ty) in EC2_ID_PROPS {
                if let Some(id) = n.props.get(*prop).and_then(Value::as_str) {
                    out.push(format!("arn:aws:ec2:{r}:{a}:{ty}/{id}"));
                }
            }
        }
        out
    }

    pub(super) fn topic_arns(&self) -> Result<Vec<String>, PolicyError> {
        let (r, a) = (self.region, self.account);
        let mut out: Vec<String> = self.names("aws.sns.topic", "name")?.iter().map(|n| format!("arn:aws:sns:{r}:{a}:{n}")).collect();
        out.extend(self.literal_arns(&["aws.sns.subscription"], "topic", "arn:aws:sns:"));
        Ok(out)
    }

    pub(super) fn bucket_arns(&self) -> Result<Vec<String>, PolicyError> {
        Ok(self.names("aws.s3.bucket", "bucket")?.iter().flat_map(|n| [format!("arn:aws:s3:::{n}"), format!("arn:aws:s3:::{n}/*")]).collect())
    }

    pub(super) fn cluster_names(&self) -> Result<Vec<String>, PolicyError> {
        let mut out = self.names("aws.eks.cluster", "name")?;
        for n in self
            .graph
            .nodes
            .values()
            .filter(|n| matches!(n.kind.as_str(), "aws.eks.nodegroup" | "aws.eks.access_entry" | "aws.eks.addon" | "aws.eks.pod_identity_association"))
        {
            if let Some(c) = n.props.get("cluster_name").and_then(Value::as_str) {
                out.push(c.to_string());
            }
        }
        Ok(out)
    }

    pub(super) fn web_acl_arns(&self) -> Result<Vec<String>, PolicyError> {
        let (r, a) = (self.region, self.account);
        let mut out = vec![];
        for (kind, what) in [("aws.wafv2.web_acl", "webacl"), ("aws.wafv2.ip_set", "ipset")] {
            for n in self.nodes(kind) {
                let scope = if n.props.get("scope").and_then(Value::as_str) == Some("CLOUDFRONT") { "global" } else { "regional" };
                out.push(format!("arn:aws:wafv2:{r}:{a}:{scope}/{what}/{}/*", self.name(n, "name")?));
            }
        }
        out.extend(self.literal_arns(&["aws.wafv2.logging_configuration", "aws.wafv2.web_acl_association"], "web_acl_arn", "arn:aws:wafv2:"));
        Ok(out)
    }

    pub(super) fn rds_arns(&self) -> Result<Vec<String>, PolicyError> {
        let (r, a) = (self.region, self.account);
        let mut out = vec![];
        for n in self.names("aws.rds.instance", "identifier")? {
            out.push(format!("arn:aws:rds:{r}:{a}:db:{n}"));
            // The final snapshot a destroy takes.
            out.push(format!("arn:aws:rds:{r}:{a}:snapshot:{n}-final"));
        }
        for n in self.names("aws.rds.parameter_group", "name")? {
            out.push(format!("arn:aws:rds:{r}:{a}:pg:{n}"));
        }
        for n in self.names("aws.rds.subnet_group", "name")? {
            out.push(format!("arn:aws:rds:{r}:{a}:subgrp:{n}"));
        }
        if self.nodes("aws.rds.instance").next().is_some() {
            // An instance without its own parameter or option group gets the engine's default one.
            out.push(format!("arn:aws:rds:{r}:{a}:pg:default.*"));
            out.push(format!("arn:aws:rds:{r}:{a}:og:default:*"));
        }
        Ok(out)
    }

    /// The exact ARNs of a name-scoped kind, `None` for kinds scoped by tags.
    pub(super) fn exact(&self, kind: &str) -> Result<Option<Vec<String>>, PolicyError> {
        let (r, a) = (self.region, self.account);
        Ok(Some(match kind {
            "aws.sqs.queue" => self.names(kind, "name")?.iter().map(|n| format!("arn:aws:sqs:{r}:{a}:{n}")).collect(),
            "aws.sns.topic" => self.topic_arns()?,
            // Log group actions are authorised on the group's ARN, some on `<ARN>:*` (its streams).
            "aws.logs.log_group" => self
                .names(kind, "name")?
                .iter()
                .flat_map(|n| [format!("arn:aws:logs:{r}:{a}:log-group:{n}"), format!("arn:aws:logs:{r}:{a}:log-group:{n}:*")])
                .collect(),
            "aws.ecr.repository" => self.names(kind, "name")?.iter().map(|n| format!("arn:aws:ecr:{r}:{a}:repository/{n}")).collect(),
            // A force_destroy deletes the vault's recovery points, whose ids AWS Backup's jobs choose.
            "aws.backup.vault" => self
                .names(kind, "name")?
                .iter()
                .map(|n| format!("arn:aws:backup:{r}:{a}:backup-vault:{n}"))
                .chain(self.nodes(kind).next().map(|_| format!("arn:aws:backup:{r}:{a}:recovery-point:*")))
                .collect(),
            "aws.cloudtrail.trail" => self.names(kind, "name")?.iter().map(|n| format!("arn:aws:cloudtrail:{r}:{a}:trail/{n}")).collect(),
            // Record changes are authorised on the zone (its id is random: exact only when written
            // out, else any zone) and GetChange on the change; zones themselves stay unscoped, since
            // CreateHostedZone and ListHostedZonesByName take no resource.
            "aws.route53.record" => {
                let ids: Vec<Option<&str>> = self.nodes(kind).map(|n| n.props.get("zone_id").and_then(Value::as_str)).collect();
                let mut v: Vec<String> = if ids.iter().all(Option::is_some) {
                    ids.into_iter().flatten().map(|z| format!("arn:aws:route53:::hostedzone/{z}")).collect()
                } else {
                    vec!["arn:aws:route53:::hostedzone/*".to_string()]
                };
                v.push("arn:aws:route53:::change/*".to_string());
                v
            }
            "aws.cloudwatch.metric_alarm" => self.names(kind, "alarm_name")?.iter().map(|n| format!("arn:aws:cloudwatch:{r}:{a}:alarm:{n}")).collect(),
            // Secrets Manager appends a random 6-character suffix to a secret's ARN.
            "aws.secretsmanager.secret" => self.names(kind, "name")?.iter().map(|n| format!("arn:aws:secretsmanager:{r}:{a}:secret:{n}-??????")).collect(),
            "aws.ssm.parameter" => self.names(kind, "name")?.iter().map(|n| format!("arn:aws:ssm:{r}:{a}:parameter/{}", n.trim_start_matches('/'))).collect(),
            // Subscribe is authorised on the topic, the others on `<topic>:<subscription id>`.
            "aws.sns.subscription" => self.topic_arns()?.into_iter().flat_map(|t| [format!("{t}:*"), t]).collect(),
            "aws.s3.bucket" => self.bucket_arns()?,
            "aws.iam.role" => self.iam_arns(kind, "role")?,
            "aws.iam.policy" => self.iam_arns(kind, "policy")?,
            "aws.iam.oidc_provider" => self
                .nodes(kind)
                .map(|n| match n.props.get("url").and_then(Value::as_str) {
                    Some(url) => Ok(format!("arn:aws:iam::{a}:oidc-provider/{}", url.trim_start_matches("https://").trim_end_matches('/'))),
                    None => Err(PolicyError::NameUnknown { address: n.address.clone(), kind: n.kind.clone() }),
                })
                .collect::<Result<_, _>>()?,
            k if k.starts_with("aws.rds.") => self.rds_arns()?,
            k if k.starts_with("aws.eks.") => self
                .cluster_names()?
                .iter()
                .flat_map(|c| {
                    [
                        format!("arn:aws:eks:{r}:{a}:cluster/{c}"),
                        format!("arn:aws:eks:{r}:{a}:nodegroup/{c}/*"),
                        format!("arn:aws:eks:{r}:{a}:access-entry/{c}/*"),
                        format!("arn:aws:eks:{r}:{a}:addon/{c}/*"),
                        format!("arn:aws:eks:{r}:{a}:podidentityassociation/{c}/*"),
                    ]
                })
                .collect(),
            "aws.wafv2.web_acl" | "aws.wafv2.ip_set" | "aws.wafv2.logging_configuration" => self.web_acl_arns()?,
            "aws.wafv2.web_acl_association" => {
                let mut v = self.web_acl_arns()?;
                let targets = self.literal_arns(&["aws.wafv2.web_acl_association"], "resource_arn", "arn:aws:");
                if targets.len() == self.nodes(kind).count() {
                    v.extend(targets);
                } else {
                    // The protected resource is known only after apply: any load balancer or API stage in the region.
                    v.push(format!("arn:aws:elasticloadbalancing:{r}:{a}:loadbalancer/app/*/*"));
                    v.push(format!("arn:aws:apigateway:{r}::/restapis/*/stages/*"));
                }
                v
            }
            _ => return Ok(None),
        }))
    }
}

pub(super) fn kms_key_arns(s: &Scope) -> Vec<String> {
    vec![format!("arn:aws:kms:{}:{}:key/*", s.region, s.account)]
}
