//! `aws.ec2.security_group`: a VPC security group with its ingress and egress rules, changed in place.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, SecurityGroup, UserIdGroupPair};
use aws_sdk_ec2::Client;
use cairn_engine::provider::{
    Desired, NameScope, Naming, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, TextRule,
};
use serde_json::{json, Value};

use crate::adopt::adopt_or;
use crate::ec2_common::{
    arn, check, dependency_conflict, describe_by_id, eventually, filter, invalid, ipv4_cidr, ipv6_cidr, owner_filters, pick_owned, read_batched, read_created,
    required_str, sync_tags, tag_spec, tags_of, text_of, value, while_in_use, Lookup, CIDR4, CIDR6, EC2, ID,
};
use crate::error::gone;
use crate::kit::errors::ServiceResultExt;
use crate::kit::iam_actions::IamActions;
use cairn_engine::sg_rule::{has_ports, parse_rules, Rule, RuleKey, Source};

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.ec2.security_group",
    doc: "A VPC security group. id = the group id (sg-...). Rules change in place (authorize / revoke / update-description of the difference); the group is never replaced for a rule change. \
          Each rule has ONE source: `{ protocol: tcp|udp|icmp|icmpv6|-1|<number>, from_port, to_port, cidr_blocks: [<one CIDR>] | ipv6_cidr_blocks: [<one CIDR>] | prefix_list_ids: [<one pl-...>] | source_security_group_id: <sg-...>, description?: <text> }` \
          (write several rules for several sources). Protocol -1 (all traffic) and protocols without ports take from_port 0 and to_port 0. \
          Rules are listed sorted by from_port, to_port, protocol, description, then source; an apply with another order is refused and prints the order to use \
          (give rules that differ only in their source security group distinct descriptions, so their order does not depend on generated ids). \
          Refresh describes all groups of a stack in one DescribeSecurityGroups call per 200.",
    props: &[
        PropSpec::new("name", PropType::String, "Group name, unique in the VPC; defaults to a name derived from stack, env and address.")
            .force_new()
            .naming(NAMING)
            .rule(not_an_id),
        PropSpec::new("description", PropType::Text(TEXT), "Group description (cannot change after creation).").force_new().default("\"Managed by cairn\""),
        PropSpec::new("vpc_id", PropType::Text(ID), "The VPC the group belongs to.").required().force_new(),
        PropSpec::new("ingress", PropType::List(&RULE), "Inbound rules: a list of rules as described above.").default("[]").rule(rules_rule),
        PropSpec::new("egress", PropType::List(&RULE), "Outbound rules; the default is the allow-all rule AWS gives every new group.")
            .default(r#"[{"protocol":"-1","from_port":0,"to_port":0,"cidr_blocks":["0.0.0.0/0"]}]"#)
            .rule(rules_rule),
    ],
    attrs: &["arn"],
    taggable: true,
    rules: &[],
};

static IAM: IamActions = IamActions {
    read: &["ec2:DescribeSecurityGroups"],
    create: &[
        "ec2:CreateSecurityGroup",
        "ec2:CreateTags",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
        "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
        "ec2:DescribeSecurityGroups",
    ],
    update: &[
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
        "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
        "ec2:CreateTags",
        "ec2:DeleteTags",
        "ec2:DescribeSecurityGroups",
    ],
    delete: &["ec2:DeleteSecurityGroup", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups"],
};

/// Group names, group descriptions and rule descriptions (CreateSecurityGroup, IpRange): up
/// to 255 characters, letters, digits, spaces and `._-:/()#,@[]+=&;{}!$*`.
const TEXT: TextRule = TextRule::len(1, 255).chars(" ._-:/()#,@[]+=&;{}!$*");

/// Group names: unique within their VPC, which the per-region scope over-approximates (two
/// groups of one stack with the same name in different VPCs are refused too).
pub const NAMING: Naming = Naming::new(TEXT, NameScope::Region);

/// AWS refuses group names that start with `sg-`, the prefix of group ids.
fn not_an_id(name: &Value) -> Vec<String> {
    name.as_str().filter(|n| n.starts_with("sg-")).map(|_| "may not start with \"sg-\"".to_string()).into_iter().collect()
}

/// A rule's fields; which combinations make a rule (one source, ports that fit the protocol,
/// the list's order) is `rules_rule`'s to check.
static RULE: PropType = PropType::Struct(&[
    PropSpec::new("protocol", PropType::Text(TextRule::len(1, 6).chars("-")), "tcp, udp, icmp, icmpv6, -1 (all) or a protocol number.").required(),
    PropSpec::new("from_port", PropType::IntRange(-1, 65_535), "First port (or the ICMP type; -1 for all); 0 for protocols without ports.").required(),
    PropSpec::new("to_port", PropType::IntRange(-1, 65_535), "Last port (or the ICMP code; -1 for all); 0 for protocols without ports.").required(),
    PropSpec::new("cidr_blocks", PropType::List(&PropType::Text(CIDR4)), "One IPv4 CIDR block as the source.").rule(each_ipv4_cidr),
    PropSpec::new("ipv6_cidr_blocks", PropType::List(&PropType::Text(CIDR6)), "One IPv6 CIDR block as the source.").rule(each_ipv6_cidr),
    PropSpec::new("prefix_list_ids", PropType::List(&PropType::Text(ID)), "One managed prefix list (pl-...) as the source."),
    PropSpec::new("source_security_group_id", PropType::Text(ID), "A security group (sg-...) as the source."),
    PropSpec::new("description", PropType::Text(TEXT), "What the rule is for."),
]);

fn each(v: &Value, check: fn(&Value) -> Vec<String>) -> Vec<String> {
    v.as_array().into_iter().flatten().flat_map(check).collect()
}

fn each_ipv4_cidr(v: &Value) -> Vec<String> {
    each(v, ipv4_cidr)
}

fn each_ipv6_cidr(v: &Value) -> Vec<String> {
    each(v, ipv6_cidr)
}

/// The rule as AWS's `IpPermission`.
fn to_aws(rule: &Rule) -> IpPermission {
    let mut p = IpPermission::builder().ip_protocol(&rule.protocol);
    if has_ports(&rule.protocol) {
        p = p.from_port(rule.from_port as i32).to_port(rule.to_port as i32);
    }
    let d = rule.description.clone();
    match &rule.source {
        Source::Cidr(c) => p.ip_ranges(IpRange::builder().cidr_ip(c).set_description(d).build()),
        Source::Ipv6(c) => p.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).set_description(d).build()),
        Source::PrefixList(id) => p.prefix_list_ids(PrefixListId::builder().prefix_list_id(id).set_description(d).build()),
        Source::Group(g) => p.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).set_description(d).build()),
    }
    .build()
}

/// AWS's permissions as one sorted rule per source.
fn rules_from_aws(perms: &[IpPermission]) -> Vec<Rule> {
    let mut out = vec![];
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let (from_port, to_port) = if has_ports(&protocol) { (p.from_port().unwrap_or(0) as i64, p.to_port().unwrap_or(0) as i64) } else { (0, 0) };
        let rule = |source: Source, description: Option<&str>| Rule {
            from_port,
            to_port,
            protocol: protocol.clone(),
            description: description.filter(|d| !d.is_empty()).map(str::to_string),
            source,
        };
        out.extend(p.ip_ranges().iter().filter_map(|r| Some(rule(Source::Cidr(r.cidr_ip()?.to_string()), r.description()))));
        out.extend(p.ipv6_ranges().iter().filter_map(|r| Some(rule(Source::Ipv6(r.cidr_ipv6()?.to_string()), r.description()))));
        out.extend(p.prefix_list_ids().iter().filter_map(|r| Some(rule(Source::PrefixList(r.prefix_list_id()?.to_string()), r.description()))));
        out.extend(p.user_id_group_pairs().iter().filter_map(|r| Some(rule(Source::Group(r.group_id()?.to_string()), r.description()))));
    }
    out.sort();
    out.dedup();
    out
}

/// The schema's rule for `ingress` and `egress`: the same parse the request builder makes.
fn rules_rule(rules: &Value) -> Vec<String> {
    parse_rules(rules).err().into_iter().collect()
}

/// The stack's rules for `prop`, checked against the schema first.
fn desired_rules(desired: &Desired, prop: &str) -> Result<Vec<Rule>, ProviderError> {
    check(&SCHEMA, desired)?;
    parse_rules(&value(&SCHEMA, desired, prop).unwrap_or_default()).map_err(|m| invalid(SCHEMA.kind, format!("{prop} {m}")))
}

/// What create sends: CreateSecurityGroup's values and the rules authorized after it.
#[derive(Debug)]
struct GroupSpec {
    name: String,
    description: String,
    vpc: String,
    ingress: Vec<Rule>,
    egress: Vec<Rule>,
}

/// The request builder for create, checked against the schema first.
fn spec(desired: &Desired) -> Result<GroupSpec, ProviderError> {
    Ok(GroupSpec {
        ingress: desired_rules(desired, "ingress")?,
        egress: desired_rules(desired, "egress")?,
        name: desired.name(),
        description: required_str(&SCHEMA, desired, "description")?,
        vpc: required_str(&SCHEMA, desired, "vpc_id")?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

/// What to send to bring `current` to `want`.
#[derive(Debug, Default, PartialEq)]
struct RuleChanges {
    authorize: Vec<Rule>,
    describe: Vec<Rule>,
    revoke: Vec<Rule>,
}

fn rule_changes(current: &[Rule], want: &[Rule]) -> RuleChanges {
    let have: BTreeMap<RuleKey, &Rule> = current.iter().map(|r| (r.key(), r)).collect();
    let wanted: BTreeSet<RuleKey> = want.iter().map(Rule::key).collect();
    let mut out = RuleChanges::default();
    for r in want {
        match have.get(&r.key()) {
            None => out.authorize.push(r.clone()),
            Some(old) if old.description != r.description => out.describe.push(r.clone()),
            Some(_) => {}
        }
    }
    out.revoke = current.iter().filter(|r| !wanted.contains(&r.key())).cloned().collect();
    out
}

crate::kit::client::client_kind!(Ec2SecurityGroup, Client, ec2);

impl Ec2SecurityGroup {
    async fn describe(&self, lookup: Lookup) -> Result<Vec<SecurityGroup>, ProviderError> {
        let req = self.client.describe_security_groups();
        let req = match lookup {
            Lookup::Ids(ids) => req.set_group_ids(Some(ids)),
            Lookup::Filter(ids) => req.filters(filter("group-id", ids)),
        };
        req.into_paginator().items().send().try_collect().await.op_in(&EC2, "DescribeSecurityGroups")
    }

    async fn describe_one(&self, id: &str) -> Result<Option<SecurityGroup>, ProviderError> {
        describe_by_id(id, |lookup| self.describe(lookup)).await
    }

    fn observe(&self, sg: &SecurityGroup) -> Option<Observed> {
        let id = sg.group_id()?;
        let mut props = Props::new();
        props.insert("name".into(), json!(sg.group_name().unwrap_or_default()));
        props.insert("description".into(), json!(sg.description().unwrap_or_default()));
        props.insert("vpc_id".into(), json!(sg.vpc_id().unwrap_or_default()));
        props.insert("ingress".into(), Value::Array(rules_from_aws(sg.ip_permissions()).iter().map(Rule::to_json).collect()));
        props.insert("egress".into(), Value::Array(rules_from_aws(sg.ip_permissions_egress()).iter().map(Rule::to_json).collect()));
        let mut attrs = Props::new();
        let arn = sg
            .security_group_arn()
            .map(str::to_string)
            .unwrap_or_else(|| arn(&self.client, sg.owner_id().unwrap_or_default(), &format!("security-group/{id}")));
        attrs.insert("arn".into(), json!(arn));
        Some(Observed { id: id.to_string(), props, attrs, tags: tags_of(sg.tags()) })
    }

    async fn sync_rules(&self, id: &str, direction: Direction, current: &[Rule], want: &[Rule]) -> Result<(), ProviderError> {
        let changes = rule_changes(current, want);
        let perms = |rules: &[Rule]| Some(rules.iter().map(to_aws).collect::<Vec<_>>());
        macro_rules! call {
            ($method:ident, $op:literal, $rules:expr) => {
                if !$rules.is_empty() {
                    let req = self.client.$method().group_id(id).set_ip_permissions(perms(&$rules));
                    // The group (or a group its rules name) may be new and not visible yet.
                    eventually(|| {
                        let req = req.clone();
                        async move { req.send().await.map(|_| ()).op_in(&EC2, $op) }
                    })
                    .await?;
                }
            };
        }
        // Authorize before revoking, so a rule being reworded or moved never leaves a gap.
        match direction {
            Direction::Ingress => {
                call!(authorize_security_group_ingress, "AuthorizeSecurityGroupIngress", changes.authorize);
                call!(update_security_group_rule_descriptions_ingress, "UpdateSecurityGroupRuleDescriptionsIngress", changes.describe);
                if !changes.revoke.is_empty() {
                    gone(
                        self.client
                            .revoke_security_group_ingress()
                            .group_id(id)
                            .set_ip_permissions(perms(&changes.revoke))
                            .send()
                            .await
                            .map(|_| ())
                            .op_in(&EC2, "RevokeSecurityGroupIngress"),
                    )?;
                }
            }
            Direction::Egress => {
                call!(authorize_security_group_egress, "AuthorizeSecurityGroupEgress", changes.authorize);
                call!(update_security_group_rule_descriptions_egress, "UpdateSecurityGroupRuleDescriptionsEgress", changes.describe);
                if !changes.revoke.is_empty() {
                    gone(
                        self.client
                            .revoke_security_group_egress()
                            .group_id(id)
                            .set_ip_permissions(perms(&changes.revoke))
                            .send()
                            .await
                            .map(|_| ())
                            .op_in(&EC2, "RevokeSecurityGroupEgress"),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Brings the group's rules to `ingress` and `egress`; `None` leaves that direction alone.
    async fn sync_all(&self, sg: &SecurityGroup, ingress: Option<&[Rule]>, egress: Option<&[Rule]>) -> Result<(), ProviderError> {
        let id = sg.group_id().unwrap_or_default();
        if let Some(want) = ingress {
            self.sync_rules(id, Direction::Ingress, &rules_from_aws(sg.ip_permissions()), want).await?;
        }
        if let Some(want) = egress {
            self.sync_rules(id, Direction::Egress, &rules_from_aws(sg.ip_permissions_egress()), want).await?;
        }
        Ok(())
    }

    /// Groups whose rules name `id`, which also keep it from being deleted.
    async fn referencing_groups(&self, id: &str) -> Result<Vec<String>, ProviderError> {
        let mut out = BTreeSet::new();
        for name in ["ip-permission.group-id", "egress.ip-permission.group-id"] {
            let groups = self
                .client
                .describe_security_groups()
                .filters(filter(name, [id]))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .op_in(&EC2, "DescribeSecurityGroups")?;
            out.extend(
                groups.iter().filter(|g| g.group_id() != Some(id)).map(|g| format!("{} ({})", g.group_id().unwrap_or("?"), g.group_name().unwrap_or("?"))),
            );
        }
        Ok(out.into_iter().collect())
    }
}

#[async_trait]
impl ResourceKind for Ec2SecurityGroup {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.describe_one(id).await?.as_ref().and_then(|sg| self.observe(sg)))
    }

    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        read_batched(ids, |lookup| self.describe(lookup), |sg| self.observe(sg)).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        // Checked before anything exists, so a bad rule leaves no half-made group behind.
        let GroupSpec { name, description, vpc, ingress, egress } = spec(desired)?;
        let out = self
            .client
            .create_security_group()
            .group_name(&name)
            .description(description)
            .vpc_id(&vpc)
            .set_tag_specifications(tag_spec(ResourceType::SecurityGroup, &desired.tags))
            .send()
            .await
            .op_in(&EC2, "CreateSecurityGroup");
        let out = match out {
            // Names are unique per VPC: an earlier attempt whose answer was lost made it, or someone else did.
            Err(e) if text_of(&e).contains("InvalidGroup.Duplicate") => {
                let groups = self
                    .client
                    .describe_security_groups()
                    .filters(filter("vpc-id", [vpc.as_str()]))
                    .filters(filter("group-name", [name.as_str()]))
                    .send()
                    .await
                    .op_in(&EC2, "DescribeSecurityGroups")?;
                let existing = groups.security_groups().iter().find_map(|sg| self.observe(sg));
                return adopt_or(self, desired, &format!("security group {name} in {vpc}"), existing, e).await;
            }
            other => other?,
        };
        let id = out.group_id().ok_or_else(|| ProviderError::Fatal("CreateSecurityGroup: no group id in the response".into()))?.to_string();
        // The rules AWS starts the group with (allow all outbound) are read, not assumed.
        let sg =
            eventually(|| async { self.describe_one(&id).await?.ok_or_else(|| ProviderError::NotFound(format!("security group {id} is not readable yet"))) })
                .await?;
        self.sync_all(&sg, Some(&ingress), Some(&egress)).await?;
        read_created("security group", &id, || self.read(&id)).await
    }

    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let sg = self.describe_one(id).await?.ok_or_else(|| ProviderError::NotFound(format!("security group {id} no longer exists")))?;
        let has = |p: &str| changed.iter().any(|c| c == p);
        let rules = |p: &str| if has(p) { desired_rules(desired, p).map(Some) } else { Ok(None) };
        let (ingress, egress) = (rules("ingress")?, rules("egress")?);
        self.sync_all(&sg, ingress.as_deref(), egress.as_deref()).await?;
        if has("tags") {
            sync_tags(&self.client, id, &tags_of(sg.tags()), &desired.tags).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("security group {id} disappeared during update")))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        match gone(
            while_in_use(&self.client, || async {
                self.client.delete_security_group().group_id(id).send().await.map(|_| ()).op_in(&EC2, "DeleteSecurityGroup")
            })
            .await,
        ) {
            Err(e @ ProviderError::Conflict(_)) => {
                let base = dependency_conflict(&self.client, "security group", "group-id", id, e).await;
                match self.referencing_groups(id).await {
                    Ok(refs) if !refs.is_empty() => Err(ProviderError::Conflict(format!(
                        "{}. Rules of these security groups refer to it: {}: remove those rules (or destroy those groups) first",
                        text_of(&base),
                        refs.join(", ")
                    ))),
                    _ => Err(base),
                }
            }
            other => other,
        }
    }

    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let groups = self
            .client
            .describe_security_groups()
            .set_filters(Some(owner_filters(desired)))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .op_in(&EC2, "DescribeSecurityGroups")?;
        let name = desired.name();
        let candidates = groups.iter().filter_map(|sg| self.observe(sg)).filter(|o| o.props.get("name") == Some(&json!(name)));
        Ok(pick_owned(&SCHEMA, desired, candidates))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        IAM.of(op)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_ec2::operation::authorize_security_group_egress::{AuthorizeSecurityGroupEgressInput, AuthorizeSecurityGroupEgressOutput};
    use aws_sdk_ec2::operation::authorize_security_group_ingress::{AuthorizeSecurityGroupIngressInput, AuthorizeSecurityGroupIngressOutput};
    use aws_sdk_ec2::operation::create_security_group::{CreateSecurityGroupError, CreateSecurityGroupInput, CreateSecurityGroupOutput};
    use aws_sdk_ec2::operation::delete_security_group::{DeleteSecurityGroupError, DeleteSecurityGroupOutput};
    use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
    use aws_sdk_ec2::operation::describe_security_groups::{DescribeSecurityGroupsError, DescribeSecurityGroupsInput, DescribeSecurityGroupsOutput};
    use aws_sdk_ec2::operation::revoke_security_group_egress::{RevokeSecurityGroupEgressInput, RevokeSecurityGroupEgressOutput};
    use aws_sdk_ec2::operation::revoke_security_group_ingress::{RevokeSecurityGroupIngressInput, RevokeSecurityGroupIngressOutput};
    use aws_sdk_ec2::operation::update_security_group_rule_descriptions_ingress::{
        UpdateSecurityGroupRuleDescriptionsIngressInput, UpdateSecurityGroupRuleDescriptionsIngressOutput,
    };
    use aws_sdk_ec2::types::NetworkInterface;
    use aws_smithy_mocks::{mock, MockResponse};

    use super::*;
    use crate::ec2_common::testing::{
        builder_accepts_all, cidr4, cidr6, client, defaults_typecheck, desired, ec2_tags, error_meta, owner, props_with,
        schema_refuses_what_the_builder_refuses,
    };
    use proptest::prelude::*;

    fn all_out() -> IpPermission {
        IpPermission::builder().ip_protocol("-1").ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build()).build()
    }

    fn group(id: &str, ingress: Vec<IpPermission>, egress: Vec<IpPermission>) -> SecurityGroup {
        SecurityGroup::builder()
            .group_id(id)
            .group_name("net-dev-main")
            .description("Managed by cairn")
            .vpc_id("vpc-1")
            .owner_id("123456789012")
            .security_group_arn(format!("arn:aws:ec2:us-east-1:123456789012:security-group/{id}"))
            .set_ip_permissions(Some(ingress))
            .set_ip_permissions_egress(Some(egress))
            .set_tags(Some(ec2_tags(&owner().tags())))
            .build()
    }

    fn describe(groups: Vec<SecurityGroup>) -> aws_smithy_mocks::Rule {
        mock!(Client::describe_security_groups).then_compute_response(move |input: &DescribeSecurityGroupsInput| {
            let ids = input.group_ids().to_vec();
            if ids.iter().any(|i| !groups.iter().any(|g| g.group_id() == Some(i.as_str()))) {
                return MockResponse::Error(DescribeSecurityGroupsError::generic(error_meta("InvalidGroup.NotFound")));
            }
            let by_filter: Vec<String> = input.filters().iter().filter(|f| f.name() == Some("group-id")).flat_map(|f| f.values().to_vec()).collect();
            let wanted = if ids.is_empty() { by_filter } else { ids };
            let found = groups.iter().filter(|g| wanted.is_empty() || wanted.iter().any(|w| Some(w.as_str()) == g.group_id())).cloned().collect();
            MockResponse::Output(DescribeSecurityGroupsOutput::builder().set_security_groups(Some(found)).build())
        })
    }

    fn rec<I>() -> Arc<Mutex<Vec<I>>> {
        Arc::new(Mutex::new(vec![]))
    }

    #[test]
    fn defaults_are_json_and_the_egress_default_is_canonical() {
        defaults_typecheck(&SCHEMA);
        let d = desired(json!({"vpc_id": "vpc-1"}));
        let egress = desired_rules(&d, "egress").unwrap();
        assert_eq!(
            Value::Array(egress.iter().map(Rule::to_json).collect()),
            serde_json::from_str::<Value>(SCHEMA.prop("egress").unwrap().default.unwrap()).unwrap()
        );
        assert_eq!(rules_from_aws(&[all_out()]), egress, "what AWS creates reads back as the default");
    }

    /// Rule lists the schema accepts: a random draw of the eight fields almost never has one
    /// source and ports that fit the protocol, so rules are drawn that way, then sorted.
    fn rules() -> BoxedStrategy<Value> {
        let ports = prop_oneof![
            (prop_oneof![Just("tcp"), Just("udp")], 0i64..=65_535, 0i64..=65_535).prop_map(|(p, a, b)| (p, a.min(b), a.max(b))),
            (prop_oneof![Just("icmp"), Just("icmpv6")], -1i64..=255, -1i64..=255).prop_map(|(p, a, b)| (p, a, b)),
            prop_oneof![Just("-1"), Just("50"), Just("0")].prop_map(|p| (p, 0, 0)),
        ];
        let source = prop_oneof![
            cidr4(0..=32).prop_map(|c| Source::Cidr(c.as_str().unwrap_or_default().to_string())),
            cidr6().prop_map(|c| Source::Ipv6(c.as_str().unwrap_or_default().to_string())),
            "pl-[0-9a-f]{8}".prop_map(Source::PrefixList),
            "sg-[0-9a-f]{8,17}".prop_map(Source::Group),
        ];
        let description = proptest::option::of("[a-zA-Z0-9 ._:/()#,@+=&;{}!$*-]{1,40}");
        proptest::collection::vec((ports, source, description), 0..5)
            .prop_map(|rules| {
                let mut rules: Vec<Rule> = rules
                    .into_iter()
                    .map(|((protocol, from_port, to_port), source, description)| Rule {
                        from_port,
                        to_port,
                        protocol: protocol.to_string(),
                        description,
                        source,
                    })
                    .collect();
                rules.sort();
                rules.dedup_by(|a, b| a.key() == b.key());
                Value::Array(rules.iter().map(Rule::to_json).collect())
            })
            .boxed()
    }

    /// Agreement: every props value the schema accepts builds a CreateSecurityGroup request
    /// and the permissions to authorize.
    #[test]
    fn every_value_the_schema_accepts_builds_a_request() {
        let build = |d: &Desired| {
            let spec = spec(d)?;
            // What AWS will report back is what was written, or every plan would show a change.
            for written in [&spec.ingress, &spec.egress] {
                let read = rules_from_aws(&written.iter().map(to_aws).collect::<Vec<IpPermission>>());
                if read != *written {
                    return Err(ProviderError::Invalid(format!("reads back as {read:?}")));
                }
            }
            Ok(spec)
        };
        builder_accepts_all(&SCHEMA, props_with(&SCHEMA, vec![("ingress", rules()), ("egress", rules())]), build);
        // The draw from the declared types alone, as `schema_gen::props` makes it (empty rule lists, mostly).
        builder_accepts_all(&SCHEMA, crate::schema_gen::props(&SCHEMA), spec);
    }

    /// Agreement: what the builder refuses, the schema refuses (so `validate` reports it).
    #[test]
    fn the_schema_refuses_what_the_builder_refuses() {
        let rule = |r: Value| json!({"vpc_id": "vpc-1", "ingress": [r]});
        schema_refuses_what_the_builder_refuses(
            &SCHEMA,
            &[
                json!({}),
                json!({"vpc_id": "vpc-1", "description": ""}),
                json!({"vpc_id": "vpc-1", "description": "caf\u{e9}"}),
                json!({"vpc_id": "vpc-1", "ingress": {"protocol": "tcp"}}),
                rule(json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8", "10.1.0.0/16"]})),
                rule(json!({"protocol": "tcp", "from_port": 443, "to_port": 443})),
                rule(json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"], "source_security_group_id": "sg-1"})),
                rule(json!({"protocol": "-1", "from_port": 0, "to_port": 65535, "cidr_blocks": ["10.0.0.0/8"]})),
                rule(json!({"protocol": "TCP", "from_port": 1, "to_port": 2, "cidr_blocks": ["10.0.0.0/8"]})),
                rule(json!({"protocol": "6", "from_port": 1, "to_port": 2, "cidr_blocks": ["10.0.0.0/8"]})),
                rule(json!({"protocol": "tcp", "from_port": 443, "to_port": 80, "cidr_blocks": ["10.0.0.0/8"]})),
                rule(json!({"protocol": "tcp", "from_port": -1, "to_port": 80, "cidr_blocks": ["10.0.0.0/8"]})),
                rule(json!({"protocol": "tcp", "from_port": 1, "to_port": 70000, "cidr_blocks": ["10.0.0.0/8"]})),
                rule(json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"], "description": ""})),
                rule(json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/33"]})),
                rule(json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": "10.0.0.0/8"})),
                rule(json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "source_security_group_id": ""})),
                rule(json!({"protocol": "tcp", "port": 443, "cidr_blocks": ["10.0.0.0/8"]})),
                json!({"vpc_id": "vpc-1", "egress": [
                    {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]},
                    {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]},
                ]}),
            ],
            spec,
        );
    }

    #[test]
    fn names_that_look_like_ids_are_refused() {
        let problems = cairn_engine::typecheck::check_props(&SCHEMA, &desired(json!({"vpc_id": "vpc-1", "name": "sg-web"})).props, true);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn read_splits_permissions_into_one_rule_per_source_and_sorts() {
        let perms = vec![
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").description("vpn").build())
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").description("public").build())
                .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-lb").user_id("123456789012").description("lb").build())
                .build(),
            IpPermission::builder().ip_protocol("tcp").from_port(22).to_port(22).ip_ranges(IpRange::builder().cidr_ip("10.1.0.0/16").build()).build(),
            IpPermission::builder().ip_protocol("icmp").from_port(-1).to_port(-1).ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build()).build(),
        ];
        let rules: Vec<Value> = rules_from_aws(&perms).iter().map(Rule::to_json).collect();
        assert_eq!(
            Value::Array(rules),
            json!([
                {"protocol": "icmp", "from_port": -1, "to_port": -1, "cidr_blocks": ["10.0.0.0/8"]},
                {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["10.1.0.0/16"]},
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "source_security_group_id": "sg-lb", "description": "lb"},
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"], "description": "public"},
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"], "description": "vpn"},
            ])
        );
    }

    #[test]
    fn rule_shapes_are_checked() {
        let bad = [
            json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8", "10.1.0.0/16"]}),
            json!({"protocol": "tcp", "from_port": 443, "to_port": 443}),
            json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"], "source_security_group_id": "sg-1"}),
            json!({"protocol": "-1", "from_port": 0, "to_port": 65535, "cidr_blocks": ["10.0.0.0/8"]}),
            json!({"protocol": "TCP", "from_port": 1, "to_port": 2, "cidr_blocks": ["10.0.0.0/8"]}),
            json!({"protocol": "6", "from_port": 1, "to_port": 2, "cidr_blocks": ["10.0.0.0/8"]}),
            json!({"protocol": "tcp", "from_port": 443, "to_port": 80, "cidr_blocks": ["10.0.0.0/8"]}),
            json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["10.0.0.0/8"], "description": ""}),
            json!({"protocol": "tcp", "port": 443, "cidr_blocks": ["10.0.0.0/8"]}),
        ];
        for b in bad {
            assert!(desired_rules(&desired(json!({"vpc_id": "vpc-1", "ingress": [b.clone()]})), "ingress").is_err(), "{b} should be rejected");
        }
        let ok = json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "source_security_group_id": "sg-1", "description": "from the LB"});
        assert_eq!(Rule::from_json(&ok).unwrap().to_json(), ok);
    }

    #[test]
    fn rules_out_of_order_are_rejected_with_the_order_to_use() {
        let d = desired(json!({"vpc_id": "vpc-1", "ingress": [
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]},
            {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["0.0.0.0/0"]},
        ]}));
        let err = desired_rules(&d, "ingress").unwrap_err();
        let ProviderError::Invalid(m) = &err else { panic!("{err:?}") };
        assert!(m.find("\"from_port\":80") < m.find("\"from_port\":443"), "{m}");
    }

    #[test]
    fn changes_reword_instead_of_replacing() {
        let r = |port: i64, desc: Option<&str>| Rule {
            from_port: port,
            to_port: port,
            protocol: "tcp".into(),
            description: desc.map(String::from),
            source: Source::Cidr("10.0.0.0/8".into()),
        };
        let changes = rule_changes(&[r(22, None), r(80, Some("old"))], &[r(80, Some("new")), r(443, None)]);
        assert_eq!(changes, RuleChanges { authorize: vec![r(443, None)], describe: vec![r(80, Some("new"))], revoke: vec![r(22, None)] });
    }

    #[tokio::test]
    async fn create_tags_in_the_call_then_authorizes_ingress_and_keeps_the_default_egress() {
        let created = rec::<CreateSecurityGroupInput>();
        let sink = created.clone();
        let create = mock!(Client::create_security_group).then_compute_output(move |input| {
            sink.lock().unwrap().push(input.clone());
            CreateSecurityGroupOutput::builder().group_id("sg-1").build()
        });
        let authorized = rec::<AuthorizeSecurityGroupIngressInput>();
        let asink = authorized.clone();
        let auth = mock!(Client::authorize_security_group_ingress).then_compute_output(move |input| {
            asink.lock().unwrap().push(input.clone());
            AuthorizeSecurityGroupIngressOutput::builder().r#return(true).build()
        });
        let egress_auth = mock!(Client::authorize_security_group_egress).then_output(|| AuthorizeSecurityGroupEgressOutput::builder().build());
        let egress_revoke = mock!(Client::revoke_security_group_egress).then_output(|| RevokeSecurityGroupEgressOutput::builder().build());
        let https = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(443)
            .to_port(443)
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-lb").description("lb").build())
            .build();
        let read = mock!(Client::describe_security_groups)
            .sequence()
            .output(|| DescribeSecurityGroupsOutput::builder().security_groups(group("sg-1", vec![], vec![all_out()])).build())
            .output(move || DescribeSecurityGroupsOutput::builder().security_groups(group("sg-1", vec![https.clone()], vec![all_out()])).build())
            .repeatedly()
            .build();
        let kind = Ec2SecurityGroup::from_client(client(&[create, auth, egress_auth.clone(), egress_revoke.clone(), read]));
        let want = desired(
            json!({"vpc_id": "vpc-1", "ingress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "source_security_group_id": "sg-lb", "description": "lb"}]}),
        );

        let obs = kind.create(&want).await.unwrap();

        let input = created.lock().unwrap().pop().unwrap();
        assert_eq!((input.group_name(), input.description(), input.vpc_id()), (Some("net-dev-main"), Some("Managed by cairn"), Some("vpc-1")));
        assert_eq!(input.tag_specifications()[0].resource_type(), Some(&ResourceType::SecurityGroup));
        assert_eq!(tags_of(input.tag_specifications()[0].tags()), want.tags);
        let perms = authorized.lock().unwrap().pop().unwrap().ip_permissions().to_vec();
        assert_eq!(perms.len(), 1);
        assert_eq!((perms[0].ip_protocol(), perms[0].from_port(), perms[0].user_id_group_pairs()[0].group_id()), (Some("tcp"), Some(443), Some("sg-lb")));
        assert_eq!((egress_auth.num_calls(), egress_revoke.num_calls()), (0, 0), "the default egress is what AWS made");
        assert_eq!(obs.props["ingress"], want.props["ingress"]);
        assert_eq!(obs.props["egress"], json!([{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}]));
        assert_eq!(obs.props["name"], json!("net-dev-main"));
    }

    #[tokio::test]
    async fn update_applies_only_the_difference_in_place() {
        let ssh = IpPermission::builder().ip_protocol("tcp").from_port(22).to_port(22).ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build()).build();
        let web = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").description("old").build())
            .build();
        let authorized = rec::<AuthorizeSecurityGroupIngressInput>();
        let asink = authorized.clone();
        let auth = mock!(Client::authorize_security_group_ingress).then_compute_output(move |input| {
            asink.lock().unwrap().push(input.clone());
            AuthorizeSecurityGroupIngressOutput::builder().build()
        });
        let described = rec::<UpdateSecurityGroupRuleDescriptionsIngressInput>();
        let dsink = described.clone();
        let desc = mock!(Client::update_security_group_rule_descriptions_ingress).then_compute_output(move |input| {
            dsink.lock().unwrap().push(input.clone());
            UpdateSecurityGroupRuleDescriptionsIngressOutput::builder().build()
        });
        let revoked = rec::<RevokeSecurityGroupIngressInput>();
        let rsink = revoked.clone();
        let revoke = mock!(Client::revoke_security_group_ingress).then_compute_output(move |input| {
            rsink.lock().unwrap().push(input.clone());
            RevokeSecurityGroupIngressOutput::builder().build()
        });
        let egress_revoked = rec::<RevokeSecurityGroupEgressInput>();
        let esink = egress_revoked.clone();
        let egress_revoke = mock!(Client::revoke_security_group_egress).then_compute_output(move |input| {
            esink.lock().unwrap().push(input.clone());
            RevokeSecurityGroupEgressOutput::builder().build()
        });
        let egress_auth = rec::<AuthorizeSecurityGroupEgressInput>();
        let easink = egress_auth.clone();
        let egress_authorize = mock!(Client::authorize_security_group_egress).then_compute_output(move |input| {
            easink.lock().unwrap().push(input.clone());
            AuthorizeSecurityGroupEgressOutput::builder().build()
        });
        let kind = Ec2SecurityGroup::from_client(client(&[
            auth,
            desc,
            revoke,
            egress_revoke,
            egress_authorize,
            describe(vec![group("sg-1", vec![ssh, web], vec![all_out()])]),
        ]));
        let want = desired(json!({"vpc_id": "vpc-1",
            "ingress": [
                {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr_blocks": ["0.0.0.0/0"], "description": "new"},
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]},
            ],
            "egress": [{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]}],
        }));

        kind.update("sg-1", &want, &["egress".into(), "ingress".into()]).await.unwrap();

        let a = authorized.lock().unwrap().pop().unwrap();
        assert_eq!(a.ip_permissions().len(), 1);
        assert_eq!(a.ip_permissions()[0].from_port(), Some(443));
        let d = described.lock().unwrap().pop().unwrap();
        assert_eq!(d.ip_permissions()[0].ip_ranges()[0].description(), Some("new"));
        let r = revoked.lock().unwrap().pop().unwrap();
        assert_eq!(r.ip_permissions()[0].from_port(), Some(22));
        let er = egress_revoked.lock().unwrap().pop().unwrap();
        assert_eq!((er.ip_permissions()[0].ip_protocol(), er.ip_permissions()[0].from_port()), (Some("-1"), None));
        assert_eq!(egress_auth.lock().unwrap()[0].ip_permissions()[0].to_port(), Some(443));
    }

    #[tokio::test]
    async fn read_many_is_one_call_and_survives_deleted_ids() {
        let rule = describe(vec![group("sg-1", vec![], vec![all_out()]), group("sg-2", vec![], vec![])]);
        let kind = Ec2SecurityGroup::from_client(client(std::slice::from_ref(&rule)));
        let out = kind.read_many(&["sg-1".into(), "sg-2".into()]).await.unwrap();
        assert_eq!(rule.num_calls(), 1);
        assert_eq!(out["sg-2"].as_ref().unwrap().props["egress"], json!([]));
        let out = kind.read_many(&["sg-1".into(), "sg-gone".into()]).await.unwrap();
        assert_eq!(out["sg-gone"], None);
        assert!(out["sg-1"].is_some());
        assert_eq!(kind.read("sg-gone").await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_of_missing_group_is_ok() {
        let del = mock!(Client::delete_security_group).then_error(|| DeleteSecurityGroupError::generic(error_meta("InvalidGroup.NotFound")));
        Ec2SecurityGroup::from_client(client(&[del])).delete("sg-1").await.unwrap();
        let ok = mock!(Client::delete_security_group).then_output(|| DeleteSecurityGroupOutput::builder().build());
        Ec2SecurityGroup::from_client(client(&[ok])).delete("sg-1").await.unwrap();
    }

    #[tokio::test]
    async fn delete_blocked_by_interfaces_and_rules_names_both() {
        let del = mock!(Client::delete_security_group).then_error(|| DeleteSecurityGroupError::generic(error_meta("DependencyViolation")));
        let enis = mock!(Client::describe_network_interfaces).then_output(|| {
            DescribeNetworkInterfacesOutput::builder()
                .network_interfaces(
                    NetworkInterface::builder().network_interface_id("eni-7").description("aws-K8S-i-0abc").requester_id("AROAEXAMPLE:eks").build(),
                )
                .build()
        });
        let refs = mock!(Client::describe_security_groups).then_output(|| {
            DescribeSecurityGroupsOutput::builder().security_groups(SecurityGroup::builder().group_id("sg-nodes").group_name("nodes").build()).build()
        });
        let err = Ec2SecurityGroup::from_client(client(&[del, enis, refs])).delete("sg-1").await.unwrap_err();
        let ProviderError::Conflict(m) = &err else { panic!("{err:?}") };
        assert!(m.contains("eni-7 \"aws-K8S-i-0abc\" requested by AROAEXAMPLE:eks"), "{m}");
        assert!(m.contains("sg-nodes (nodes)") && m.contains("re-run destroy"), "{m}");
    }

    #[tokio::test]
    async fn a_duplicate_name_is_adopted_when_ours_and_refused_when_not() {
        let dup = || mock!(Client::create_security_group).then_error(|| CreateSecurityGroupError::generic(error_meta("InvalidGroup.Duplicate")));
        let kind = Ec2SecurityGroup::from_client(client(&[dup(), describe(vec![group("sg-1", vec![], vec![all_out()])])]));
        let mut ours = desired(json!({"vpc_id": "vpc-1"}));
        ours.tags = owner().tags();
        assert_eq!(kind.create(&ours).await.unwrap().id, "sg-1");

        let mut theirs = group("sg-2", vec![], vec![all_out()]);
        theirs.tags = None;
        let kind = Ec2SecurityGroup::from_client(client(&[dup(), describe(vec![theirs])]));
        let err = kind.create(&desired(json!({"vpc_id": "vpc-1"}))).await.unwrap_err();
        assert!(matches!(&err, ProviderError::Conflict(m) if m.contains("sg-2") && m.contains("no cairn ownership tags")), "{err:?}");
    }

    #[tokio::test]
    async fn find_owned_accepts_the_derived_name() {
        let kind = Ec2SecurityGroup::from_client(client(&[describe(vec![group("sg-1", vec![], vec![all_out()])])]));
        let found = kind.find_owned(&desired(json!({"vpc_id": "vpc-1"}))).await.unwrap();
        assert_eq!(found.map(|o| o.id), Some("sg-1".into()));
        let other_vpc = kind.find_owned(&desired(json!({"vpc_id": "vpc-2"}))).await.unwrap();
        assert_eq!(other_vpc, None);
    }
}
