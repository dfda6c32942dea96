//! `aws.route53.zone`: a Route 53 hosted zone (public, or private to VPCs) with its comment, tags and name servers.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, HostedZone, HostedZoneConfig, ResourceRecordSet, RrType, Vpc, VpcRegion};
use aws_sdk_route53::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, ResourceKind, ResourceSchema, Tags, TextRule};
use serde_json::{json, Value};

use crate::adopt::wanted;
use crate::aws::AwsContext;
use crate::error::{classify, found, SdkResultExt};
use crate::route53_common::{bare_zone_id, canonical, dns_name_problems, set_zone_tags, wait_insync, zone_tags, INSYNC_LIMIT};

/// `delete` receives only the zone id, so `force_destroy` travels on the zone as this tag.
const FORCE_DESTROY_TAG: &str = "cairn:force-destroy";

const VPC: PropType = PropType::Struct(&[
    PropSpec::new("vpc_id", PropType::Text(TextRule::len(1, 1024).chars("-")), "The VPC the private zone answers in.").required(),
    PropSpec::new("vpc_region", PropType::Text(TextRule::len(1, 64).chars("-")), "The VPC's region.").required(),
]);

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.route53.zone",
    doc: "A Route 53 hosted zone: public, or private to the VPCs listed in `vpc`. Its name servers are the `name_servers` attribute.",
    props: &[
        PropSpec::new("name", PropType::Text(TextRule::len(1, 253).chars("-_.").lowercase()), "The domain, in lower case and without the trailing dot (`example.com`).")
            .required()
            .force_new()
            .rule(zone_name_rule),
        PropSpec::new("comment", PropType::Text(TextRule::len(0, 256)), "A comment on the zone.").default("\"Managed by cairn\""),
        PropSpec::new(
            "force_destroy",
            PropType::Bool,
            "Delete every record but the zone's SOA and NS records when the zone is destroyed; without it, destroying a zone that holds any fails. Kept in the `cairn:force-destroy` tag.",
        )
        .default("false"),
        PropSpec::new("vpc", PropType::List(&VPC), "VPCs of a private zone, sorted by vpc_id; unset for a public zone.").force_new().rule(vpc_rule),
        PropSpec::new("delegation_set_id", PropType::Text(TextRule::len(1, 32).chars("")), "A reusable delegation set whose name servers the zone gets (public zones only).")
            .force_new(),
    ],
    attrs: &["zone_id", "arn", "name_servers"],
    taggable: true,
    rules: &[cairn_engine::provider::PropsRule { props: &["vpc", "delegation_set_id"], check: private_rule }],
};

fn zone_name_rule(v: &Value) -> Vec<String> {
    let Some(name) = v.as_str() else { return vec![] };
    let mut out: Vec<String> = dns_name_problems(name, false);
    if name.ends_with('.') {
        out.push(format!("must be written without the trailing dot: {:?}", name.trim_end_matches('.')));
    }
    out
}

fn vpc_rule(v: &Value) -> Vec<String> {
    let ids: Vec<&str> = v.as_array().into_iter().flatten().filter_map(|x| x.get("vpc_id").and_then(Value::as_str)).collect();
    if ids.windows(2).any(|w| w[0] >= w[1]) {
        return vec!["lists each VPC once, sorted by vpc_id (Route 53 keeps them as a set)".into()];
    }
    vec![]
}

fn private_rule(props: &Props) -> Vec<String> {
    let private = props.get("vpc").and_then(Value::as_array).is_some_and(|v| !v.is_empty());
    if private && props.get("delegation_set_id").is_some_and(|d| !d.is_null()) {
        return vec!["a private zone (with `vpc`) cannot use a delegation set".into()];
    }
    vec![]
}

/// What CreateHostedZone and the tags it is followed by send, after the schema's checks.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    name: String,
    comment: String,
    force_destroy: bool,
    vpcs: Vec<(String, String)>,
    delegation_set_id: Option<String>,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let vpcs = wanted(&SCHEMA, desired, "vpc")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|v| (v["vpc_id"].as_str().unwrap_or_default().to_string(), v["vpc_region"].as_str().unwrap_or_default().to_string()))
            .collect();
        Ok(Spec {
            name: desired.str("name").unwrap_or_default().to_string(),
            comment: wanted(&SCHEMA, desired, "comment").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            force_destroy: wanted(&SCHEMA, desired, "force_destroy").and_then(|v| v.as_bool()).unwrap_or(false),
            vpcs,
            delegation_set_id: desired.str("delegation_set_id").map(str::to_string),
        })
    }

    fn tags(&self, desired: &Tags) -> Tags {
        let mut tags = desired.clone();
        if self.force_destroy {
            tags.insert(FORCE_DESTROY_TAG.into(), "true".into());
        }
        tags
    }
}

/// The CallerReference of this create: the first part is derived from the desired state
/// (`Desired::idempotency_token`), the second is the moment of the attempt.
///
/// Route 53 keeps a CallerReference for ever, also after its zone is deleted: a stack
/// destroyed and applied again with the same desired state must not reuse one (AWS would
/// answer HostedZoneAlreadyExists for a zone that no longer exists). So each attempt gets a
/// fresh suffix, and the fixed prefix is what makes the zone recognisable as this create's:
/// a live zone of this name whose reference starts with the prefix was made by an attempt
/// whose answer was lost, or by a run that crashed before journaling it. `create` looks for
/// one before it sends anything, and again when AWS says the reference exists (the SDK
/// re-sent the identical request after a lost answer); `find_owned` finds it by the prefix
/// even when the crash came before its tags were written. Deleted zones are never listed,
/// so the prefix never points at a dead zone.
fn reference_prefix(desired: &Desired) -> String {
    crate::adopt::token(&[&desired.idempotency_token, "zone"], 100)
}

fn caller_reference(prefix: &str) -> String {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("{prefix}-{millis}")
}

/// Whether `zone` was made by a create whose reference prefix is `prefix`.
fn made_by(zone: &HostedZone, prefix: &str) -> bool {
    zone.caller_reference().rsplit_once('-').is_some_and(|(p, t)| p == prefix && !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
}

fn arn(zone_id: &str) -> String {
    format!("arn:aws:route53:::hostedzone/{zone_id}")
}

/// A zone in the stack's prop shapes; `tags` still hold the force-destroy tag, which is taken out.
fn observed(zone: &HostedZone, name_servers: &[String], vpcs: &[Vpc], delegation_set_id: Option<&str>, mut tags: Tags) -> Observed {
    let id = bare_zone_id(zone.id()).to_string();
    let force_destroy = tags.remove(FORCE_DESTROY_TAG).as_deref() == Some("true");
    let mut props = Props::new();
    props.insert("name".into(), json!(canonical(zone.name())));
    props.insert("comment".into(), json!(zone.config().and_then(|c| c.comment()).unwrap_or_default()));
    props.insert("force_destroy".into(), json!(force_destroy));
    if zone.config().is_some_and(|c| c.private_zone()) {
        let mut list: Vec<(String, String)> =
            vpcs.iter().map(|v| (v.vpc_id().unwrap_or_default().to_string(), v.vpc_region().map(|r| r.as_str().to_string()).unwrap_or_default())).collect();
        list.sort();
        props.insert("vpc".into(), Value::Array(list.into_iter().map(|(id, region)| json!({"vpc_id": id, "vpc_region": region})).collect()));
    }
    if let Some(d) = delegation_set_id.map(|d| d.trim_start_matches("/delegationset/")).filter(|d| !d.is_empty()) {
        props.insert("delegation_set_id".into(), json!(d));
    }
    let mut attrs = Props::new();
    attrs.insert("zone_id".into(), json!(id));
    attrs.insert("arn".into(), json!(arn(&id)));
    attrs.insert("name_servers".into(), json!(name_servers));
    Observed { id, props, attrs, tags }
}

#[derive(Clone)]
pub struct Route53Zone {
    client: Client,
}

impl Route53Zone {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.route53())
    }

    pub fn from_client(client: Client) -> Self {
        Route53Zone { client }
    }

    /// The zones named `name` (zones of one name may be many), every page read:
    /// ListHostedZonesByName lists in name order from `name` on, so the first other name ends it.
    async fn by_name(&self, name: &str) -> Result<Vec<HostedZone>, ProviderError> {
        let mut out = vec![];
        let (mut dns, mut after): (Option<String>, Option<String>) = (Some(name.to_string()), None);
        loop {
            let page =
                self.client.list_hosted_zones_by_name().set_dns_name(dns.take()).set_hosted_zone_id(after.take()).send().await.op("ListHostedZonesByName")?;
            let mut past = false;
            for z in page.hosted_zones() {
                if canonical(z.name()) == name {
                    out.push(z.clone());
                } else {
                    past = true;
                }
            }
            match (page.is_truncated(), page.next_dns_name(), page.next_hosted_zone_id()) {
                (true, Some(n), Some(z)) if !past && canonical(n) == name => (dns, after) = (Some(n.to_string()), Some(z.to_string())),
                _ => return Ok(out),
            }
        }
    }

    /// GetHostedZone with the zone's tags; `None` when it is gone.
    async fn read_zone(&self, id: &str, tags: Option<Tags>) -> Result<Option<Observed>, ProviderError> {
        let Some(out) = found(self.client.get_hosted_zone().id(id).send().await.op("GetHostedZone"))? else { return Ok(None) };
        let Some(zone) = out.hosted_zone() else { return Ok(None) };
        let tags = match tags {
            Some(t) => t,
            None => match zone_tags(&self.client, id).await? {
                Some(t) => t,
                None => return Ok(None),
            },
        };
        let set = out.delegation_set();
        let servers = set.map(|s| s.name_servers().to_vec()).unwrap_or_default();
        Ok(Some(observed(zone, &servers, out.vpcs(), set.and_then(|s| s.id()), tags)))
    }

    /// Deletes every record but the zone's own SOA and apex NS records (force_destroy).
    async fn empty_zone(&self, id: &str) -> Result<(), ProviderError> {
        let Some(zone) = found(self.client.get_hosted_zone().id(id).send().await.op("GetHostedZone"))? else { return Ok(()) };
        let apex = zone.hosted_zone().map(|z| canonical(z.name())).unwrap_or_default();
        let mut doomed: Vec<ResourceRecordSet> = vec![];
        let (mut name, mut ty, mut ident): (Option<String>, Option<RrType>, Option<String>) = (None, None, None);
        loop {
            let req = self.client.list_resource_record_sets().hosted_zone_id(id).set_start_record_name(name.take());
            let page = req.set_start_record_type(ty.take()).set_start_record_identifier(ident.take()).send().await.op("ListResourceRecordSets")?;
            for r in page.resource_record_sets() {
                let own = canonical(r.name()) == apex && matches!(r.r#type(), RrType::Soa | RrType::Ns);
                if !own {
                    doomed.push(r.clone());
                }
            }
            if !page.is_truncated() {
                break;
            }
            (name, ty, ident) =
                (page.next_record_name().map(str::to_string), page.next_record_type().cloned(), page.next_record_identifier().map(str::to_string));
        }
        for chunk in doomed.chunks(100) {
            let changes: Vec<Change> = chunk
                .iter()
                .map(|r| Change::builder().action(ChangeAction::Delete).resource_record_set(r.clone()).build())
                .collect::<Result<_, _>>()
                .map_err(|e| ProviderError::Fatal(format!("{}: {e}", SCHEMA.kind)))?;
            let batch = ChangeBatch::builder().set_changes(Some(changes)).build().map_err(|e| ProviderError::Fatal(format!("{}: {e}", SCHEMA.kind)))?;
            match self.client.change_resource_record_sets().hosted_zone_id(id).change_batch(batch).send().await {
                Ok(_) => {}
                // A record changed or went since it was listed (a batch is all or nothing): the
                // retry lists again.
                Err(e) if e.code() == Some("InvalidChangeBatch") => {
                    return Err(ProviderError::Retryable(format!("{}: emptying zone {id}: {}", SCHEMA.kind, e.message().unwrap_or_default())))
                }
                Err(e) => return Err(classify("ChangeResourceRecordSets", e)),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for Route53Zone {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        self.read_zone(bare_zone_id(id), None).await
    }

    async fn read_many(&self, ids: &[String]) -> Result<std::collections::BTreeMap<String, Option<Observed>>, ProviderError> {
        let this = self.clone();
        crate::read_each::read_each(ids, move || this.clone()).await
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let prefix = reference_prefix(desired);
        let tags = spec.tags(&desired.tags);
        // A zone an earlier attempt of this very create made (its answer lost, or the run crashed).
        let earlier = self.by_name(&spec.name).await?.into_iter().find(|z| made_by(z, &prefix));
        let zone_id = match earlier {
            Some(z) => bare_zone_id(z.id()).to_string(),
            None => {
                let config = HostedZoneConfig::builder().comment(&spec.comment).private_zone(!spec.vpcs.is_empty()).build();
                let first = spec.vpcs.first().map(|(id, region)| Vpc::builder().vpc_id(id).vpc_region(VpcRegion::from(region.as_str())).build());
                let sent = self
                    .client
                    .create_hosted_zone()
                    .name(&spec.name)
                    .caller_reference(caller_reference(&prefix))
                    .hosted_zone_config(config)
                    .set_vpc(first)
                    .set_delegation_set_id(spec.delegation_set_id.clone())
                    .send()
                    .await;
                match sent {
                    Ok(out) => {
                        let zone =
                            out.hosted_zone().ok_or_else(|| ProviderError::Fatal(format!("CreateHostedZone: no zone in the answer for {}", spec.name)))?;
                        if let Some(change) = out.change_info() {
                            wait_insync(&self.client, change.id(), Some(change.status()), INSYNC_LIMIT).await?;
                        }
                        bare_zone_id(zone.id()).to_string()
                    }
                    // The SDK re-sent the request after its answer was lost: AWS made the zone then.
                    Err(e) if e.code() == Some("HostedZoneAlreadyExists") => {
                        let zone = self.by_name(&spec.name).await?.into_iter().find(|z| made_by(z, &prefix));
                        let zone = zone.ok_or_else(|| ProviderError::Retryable(format!("CreateHostedZone: the zone {} is not listed yet", spec.name)))?;
                        bare_zone_id(zone.id()).to_string()
                    }
                    Err(e) => return Err(classify("CreateHostedZone", e)),
                }
            }
        };
        // CreateHostedZone takes no tags: they follow at once, before the create is reported done.
        set_zone_tags(&self.client, &zone_id, &Tags::new(), &tags).await?;
        let mut zone = self
            .read_zone(&zone_id, Some(tags.clone()))
            .await?
            .ok_or_else(|| ProviderError::Retryable(format!("GetHostedZone: {zone_id} is not readable yet")))?;
        let have: Vec<String> =
            zone.props.get("vpc").and_then(Value::as_array).into_iter().flatten().filter_map(|v| v["vpc_id"].as_str().map(str::to_string)).collect();
        let missing: Vec<&(String, String)> = spec.vpcs.iter().filter(|(id, _)| !have.contains(id)).collect();
        for (vpc_id, region) in &missing {
            let vpc = Vpc::builder().vpc_id(vpc_id).vpc_region(VpcRegion::from(region.as_str())).build();
            let out = self.client.associate_vpc_with_hosted_zone().hosted_zone_id(&zone_id).vpc(vpc).send().await.op("AssociateVPCWithHostedZone")?;
            if let Some(change) = out.change_info() {
                wait_insync(&self.client, change.id(), Some(change.status()), INSYNC_LIMIT).await?;
            }
        }
        if !missing.is_empty() {
            let list: Vec<Value> = spec.vpcs.iter().map(|(id, region)| json!({"vpc_id": id, "vpc_region": region})).collect();
            zone.props.insert("vpc".into(), Value::Array(list));
        }
        Ok(zone)
    }

    /// The comment changes in place, and the tags (`force_destroy` among them); the rest replaces the zone.
    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        crate::schema_check::check_only(&SCHEMA, &desired.props, Some(&names))?;
        let id = bare_zone_id(id);
        if names.contains(&"comment") {
            let comment = wanted(&SCHEMA, desired, "comment").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            self.client.update_hosted_zone_comment().id(id).comment(comment).send().await.op("UpdateHostedZoneComment")?;
        }
        if names.contains(&"tags") || names.contains(&"force_destroy") {
            let current = zone_tags(&self.client, id).await?.ok_or_else(|| ProviderError::NotFound(format!("{}: hosted zone {id} is gone", SCHEMA.kind)))?;
            let force = wanted(&SCHEMA, desired, "force_destroy").and_then(|v| v.as_bool()).unwrap_or(false);
            let mut want = desired.tags.clone();
            if force {
                want.insert(FORCE_DESTROY_TAG.into(), "true".into());
            }
            set_zone_tags(&self.client, id, &current, &want).await?;
        }
        self.read(id).await?.ok_or_else(|| ProviderError::NotFound(format!("{}: hosted zone {id} is gone", SCHEMA.kind)))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let id = bare_zone_id(id);
        let Some(tags) = zone_tags(&self.client, id).await? else { return Ok(()) };
        if tags.get(FORCE_DESTROY_TAG).map(String::as_str) == Some("true") {
            self.empty_zone(id).await?;
        }
        match self.client.delete_hosted_zone().id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("HostedZoneNotEmpty") => Err(ProviderError::Conflict(format!(
                "{}: hosted zone {id} holds records other than its SOA and NS records; delete them first, or set force_destroy: true and apply before destroying",
                SCHEMA.kind
            ))),
            Err(e) => match classify("DeleteHostedZone", e) {
                ProviderError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// A zone of the desired name made by this create (its CallerReference prefix, even before
    /// its tags were written), else one carrying this owner's tags.
    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let Some(name) = desired.str("name") else { return Ok(None) };
        let zones = self.by_name(name).await?;
        let prefix = reference_prefix(desired);
        if let Some(z) = zones.iter().find(|z| made_by(z, &prefix)) {
            return self.read(z.id()).await;
        }
        for z in &zones {
            let id = bare_zone_id(z.id());
            if let Some(tags) = zone_tags(&self.client, id).await?.filter(|t| desired.owner.matches(t)) {
                return self.read_zone(id, Some(tags)).await;
            }
        }
        Ok(None)
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["route53:GetHostedZone", "route53:ListTagsForResource"],
            // ec2:DescribeVpcs: Route 53 checks a private zone's VPC with the caller's rights.
            Operation::Create => &[
                "route53:ListHostedZonesByName",
                "route53:CreateHostedZone",
                "route53:GetChange",
                "route53:ChangeTagsForResource",
                "route53:GetHostedZone",
                "route53:ListTagsForResource",
                "route53:AssociateVPCWithHostedZone",
                "ec2:DescribeVpcs",
            ],
            Operation::Update => &["route53:UpdateHostedZoneComment", "route53:ChangeTagsForResource", "route53:ListTagsForResource", "route53:GetHostedZone"],
            Operation::Delete => &[
                "route53:ListTagsForResource",
                "route53:GetHostedZone",
                "route53:ListResourceRecordSets",
                "route53:ChangeResourceRecordSets",
                "route53:DeleteHostedZone",
            ],
        }
    }
}

#[cfg(test)]
#[path = "route53_zone_tests.rs"]
mod tests;
