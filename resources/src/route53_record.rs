//! `aws.route53.record`: one Route 53 record set (plain values with a TTL, or an alias), Terraform's `aws_route53_record`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use async_trait::async_trait;
use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::types::{AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use aws_sdk_route53::Client;
use cairn_engine::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, PropsRule, ProviderError, ResourceKind, ResourceSchema, TextRule};
use serde_json::{json, Value};

use crate::adopt::wanted;
use crate::aws::AwsContext;
use crate::error::{classify, found, SdkResultExt};
use crate::route53_common::{bare_zone_id, canonical, dns_name_problems, qualify, wait_insync, INSYNC_LIMIT};

/// The record types ChangeResourceRecordSets accepts.
pub const RR_TYPES: &[&str] = &["A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "SSHFP", "SVCB", "TXT"];

const ZONE_ID: TextRule = TextRule::len(1, 32).chars("");

pub static SCHEMA: ResourceSchema = ResourceSchema {
    kind: "aws.route53.record",
    doc: "A Route 53 record set: `ttl` and `records`, or an `alias` to an AWS resource. Its id is `ZONEID_NAME_TYPE[_SETID]`, as Terraform's.",
    props: &[
        PropSpec::new("zone_id", PropType::Text(ZONE_ID), "The hosted zone's id (`${zone.zone_id}`).").required().force_new(),
        PropSpec::new(
            "name",
            PropType::Text(TextRule::len(1, 255).chars("-_.*\\")),
            "The record's name: fully qualified (`www.example.com`, a trailing dot allowed) or relative to the zone (`www`); `*` as the whole first label makes a wildcard.",
        )
        .required()
        .force_new()
        .rule(record_name_rule),
        PropSpec::new("type", PropType::Enum(RR_TYPES), "The record type.").required().force_new(),
        PropSpec::new("ttl", PropType::IntRange(0, 2_147_483_647), "Seconds resolvers cache the record; required unless `alias` is set."),
        PropSpec::new(
            "records",
            PropType::List(&PropType::Text(TextRule::len(1, 4000))),
            "The values; required unless `alias` is set. TXT and SPF values are written without their surrounding quotes (cairn adds them); a value over 255 characters is split as `part1\" \"part2`.",
        ),
        PropSpec::new(
            "alias",
            PropType::Struct(&[
                PropSpec::new("name", PropType::Text(TextRule::len(1, 1024)), "The target's DNS name (a load balancer's `dns_name`, ...).").required(),
                PropSpec::new("zone_id", PropType::Text(ZONE_ID), "The target's hosted zone id.").required(),
                PropSpec::new("evaluate_target_health", PropType::Bool, "Answer only while the target is healthy.").required(),
            ]),
            "An alias to an AWS resource, instead of `ttl` and `records`.",
        ),
        PropSpec::new("set_identifier", PropType::Text(TextRule::len(1, 128)), "Tells apart records of one name and type under a routing policy.").force_new(),
        PropSpec::new(
            "weighted_routing_policy",
            PropType::Struct(&[PropSpec::new("weight", PropType::IntRange(0, 255), "This record's share of the answers.").required()]),
            "Weighted routing; needs `set_identifier`.",
        ),
        PropSpec::new(
            "allow_overwrite",
            PropType::Bool,
            "Take over a record of this name and type that exists already (UPSERT); without it the create fails when one exists with other values.",
        )
        .default("false")
        .local(),
    ],
    attrs: &["fqdn"],
    taggable: false,
    rules: &[PropsRule { props: &["type", "ttl", "records", "alias", "set_identifier", "weighted_routing_policy"], check: record_rule }],
};

fn record_name_rule(v: &Value) -> Vec<String> {
    v.as_str().map(|n| dns_name_problems(&canonical(n), true)).unwrap_or_default()
}

/// TXT and SPF values travel as quoted strings.
fn quoted_type(ty: &str) -> bool {
    matches!(ty, "TXT" | "SPF")
}

/// Why one value is not a `ty` record's value, if it is not.
fn value_problem(ty: &str, value: &str) -> Option<String> {
    match ty {
        "A" if value.parse::<Ipv4Addr>().is_err() => Some(format!("{value:?} is not an IPv4 address")),
        "AAAA" if value.parse::<Ipv6Addr>().is_err() => Some(format!("{value:?} is not an IPv6 address")),
        "MX" => {
            let ok = value.split_once(' ').is_some_and(|(pref, host)| pref.parse::<u16>().is_ok() && !host.trim().is_empty());
            (!ok).then(|| format!("{value:?} is not `PRIORITY HOST` (`10 mail.example.com`)"))
        }
        t if quoted_type(t) && value.len() >= 2 && value.starts_with('"') && value.ends_with('"') => {
            Some(format!("{value} is written with its quotes; write it without them, cairn adds them"))
        }
        t if quoted_type(t) && !value.contains('"') && value.len() > 255 => {
            Some(format!("a {t} string holds at most 255 characters; split the value as `part1\" \"part2`"))
        }
        _ => None,
    }
}

fn record_rule(props: &Props) -> Vec<String> {
    let mut out = vec![];
    let set = |p: &str| props.get(p).is_some_and(|v| !v.is_null());
    let ty = props.get("type").and_then(Value::as_str).unwrap_or("");
    let records: Vec<&str> = props.get("records").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    if set("alias") {
        if set("ttl") || set("records") {
            out.push("an alias record takes neither `ttl` nor `records` (Route 53 answers with the target's values)".into());
        }
    } else {
        if !set("ttl") {
            out.push("`ttl` is required unless `alias` is set".into());
        }
        if records.is_empty() {
            out.push("`records` needs at least one value unless `alias` is set".into());
        }
    }
    if set("set_identifier") != set("weighted_routing_policy") {
        out.push("`set_identifier` and a routing policy (`weighted_routing_policy`) go together".into());
    }
    if ty == "CNAME" && records.len() > 1 {
        out.push(format!("a CNAME record holds one value, not {}", records.len()));
    }
    out.extend(records.iter().filter_map(|v| value_problem(ty, v)));
    out
}

/// The record set a create or update sends, after the schema's checks.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    zone_id: String,
    /// As written: the id keeps this spelling, so that reads give it back and re-plans are no-ops.
    name: String,
    ty: String,
    ttl: Option<i64>,
    records: Vec<String>,
    alias: Option<(String, String, bool)>,
    set_identifier: Option<String>,
    weight: Option<i64>,
    allow_overwrite: bool,
}

impl Spec {
    fn from(desired: &Desired) -> Result<Spec, ProviderError> {
        crate::schema_check::check(&SCHEMA, &desired.props)?;
        let text = |p: &str| desired.str(p).map(str::to_string);
        let alias = desired.props.get("alias").filter(|a| a.is_object()).map(|a| {
            (
                a["name"].as_str().unwrap_or_default().to_string(),
                a["zone_id"].as_str().unwrap_or_default().to_string(),
                a["evaluate_target_health"].as_bool().unwrap_or(false),
            )
        });
        Ok(Spec {
            zone_id: text("zone_id").unwrap_or_default(),
            name: text("name").unwrap_or_default(),
            ty: text("type").unwrap_or_default(),
            ttl: desired.i64("ttl"),
            records: desired.props.get("records").and_then(Value::as_array).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            alias,
            set_identifier: text("set_identifier"),
            weight: desired.props.get("weighted_routing_policy").and_then(|w| w.get("weight")).and_then(Value::as_i64),
            allow_overwrite: wanted(&SCHEMA, desired, "allow_overwrite").and_then(|v| v.as_bool()).unwrap_or(false),
        })
    }

    fn id(&self) -> String {
        let mut id = format!("{}_{}_{}", self.zone_id, self.name, self.ty);
        if let Some(s) = &self.set_identifier {
            id.push('_');
            id.push_str(s);
        }
        id
    }

    fn rrset(&self, fqdn: &str) -> Result<ResourceRecordSet, ProviderError> {
        let records: Vec<ResourceRecord> = self
            .records
            .iter()
            .map(|v| {
                let v = if quoted_type(&self.ty) && !v.starts_with('"') { format!("\"{v}\"") } else { v.clone() };
                ResourceRecord::builder().value(v).build()
            })
            .collect::<Result<_, _>>()
            .map_err(built)?;
        let alias = match &self.alias {
            Some((name, zone, health)) => {
                Some(AliasTarget::builder().dns_name(canonical(name)).hosted_zone_id(zone).evaluate_target_health(*health).build().map_err(built)?)
            }
            None => None,
        };
        ResourceRecordSet::builder()
            .name(fqdn)
            .r#type(RrType::from(self.ty.as_str()))
            .set_ttl(self.ttl)
            .set_resource_records((!records.is_empty()).then_some(records))
            .set_alias_target(alias)
            .set_set_identifier(self.set_identifier.clone())
            .set_weight(self.weight)
            .build()
            .map_err(built)
    }
}

fn built(e: aws_sdk_route53::error::BuildError) -> ProviderError {
    ProviderError::Invalid(format!("{}: {e}", SCHEMA.kind))
}

/// The parts of a record id: zone, name as spelt, type, set identifier. The type is the first
/// `_`-separated part after the name that is a record type (names are DNS names: a type in
/// capitals between underscores does not occur in them).
fn parse_id(id: &str) -> Option<(String, String, String, Option<String>)> {
    let (zone, rest) = id.split_once('_')?;
    let mut pos = 0;
    while let Some(i) = rest[pos..].find('_').map(|i| i + pos) {
        if i > 0 {
            let after = &rest[i + 1..];
            let (ty, set) = after.split_once('_').map(|(t, s)| (t, Some(s.to_string()))).unwrap_or((after, None));
            if RR_TYPES.contains(&ty) && set.as_deref() != Some("") {
                return Some((zone.to_string(), rest[..i].to_string(), ty.to_string(), set));
            }
        }
        pos = i + 1;
    }
    None
}

/// A listed record set in the stack's prop shapes, `name` spelt as the id spells it.
fn observed(id: &str, zone_id: &str, name: &str, r: &ResourceRecordSet) -> Observed {
    let ty = r.r#type().as_str().to_string();
    let mut props = Props::new();
    props.insert("zone_id".into(), json!(zone_id));
    props.insert("name".into(), json!(name));
    props.insert("type".into(), json!(ty));
    if let Some(ttl) = r.ttl() {
        props.insert("ttl".into(), json!(ttl));
    }
    let values: Vec<String> = r
        .resource_records()
        .iter()
        .map(|v| {
            let v = v.value();
            let unquoted = quoted_type(&ty) && v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
            if unquoted {
                v[1..v.len() - 1].to_string()
            } else {
                v.to_string()
            }
        })
        .collect();
    if !values.is_empty() {
        props.insert("records".into(), json!(values));
    }
    if let Some(a) = r.alias_target() {
        props.insert(
            "alias".into(),
            json!({"name": canonical(a.dns_name()), "zone_id": bare_zone_id(a.hosted_zone_id()), "evaluate_target_health": a.evaluate_target_health()}),
        );
    }
    if let Some(s) = r.set_identifier() {
        props.insert("set_identifier".into(), json!(s));
    }
    if let Some(w) = r.weight() {
        props.insert("weighted_routing_policy".into(), json!({"weight": w}));
    }
    let mut attrs = Props::new();
    attrs.insert("fqdn".into(), json!(canonical(r.name())));
    Observed { id: id.to_string(), props, attrs, tags: Default::default() }
}

#[derive(Clone)]
pub struct Route53Record {
    client: Client,
}

impl Route53Record {
    pub fn new(ctx: &AwsContext) -> Self {
        Self::from_client(ctx.route53())
    }

    pub fn from_client(client: Client) -> Self {
        Route53Record { client }
    }

    /// The zone's name; `None` when the zone is gone.
    async fn zone_name(&self, zone_id: &str) -> Result<Option<String>, ProviderError> {
        let out = found(self.client.get_hosted_zone().id(zone_id).send().await.op("GetHostedZone"))?;
        Ok(out.and_then(|o| o.hosted_zone().map(|z| z.name().to_string())))
    }

    /// The record set of `fqdn` and `ty` (and `set`), listed from its own position on.
    async fn find(&self, zone_id: &str, fqdn: &str, ty: &str, set: Option<&str>) -> Result<Option<ResourceRecordSet>, ProviderError> {
        let mut start = (fqdn.to_string(), RrType::from(ty), set.map(str::to_string));
        loop {
            let page = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(zone_id)
                .start_record_name(&start.0)
                .start_record_type(start.1.clone())
                .set_start_record_identifier(start.2.take())
                .max_items(if set.is_some() { 100 } else { 1 })
                .send()
                .await
                .op("ListResourceRecordSets")?;
            for r in page.resource_record_sets() {
                if canonical(r.name()) != fqdn || r.r#type().as_str() != ty {
                    return Ok(None);
                }
                if r.set_identifier() == set {
                    return Ok(Some(r.clone()));
                }
            }
            match (page.is_truncated(), page.next_record_name(), page.next_record_type()) {
                (true, Some(n), Some(t)) if set.is_some() => start = (n.to_string(), t.clone(), page.next_record_identifier().map(str::to_string)),
                _ => return Ok(None),
            }
        }
    }

    /// Sends one change and waits for it to be INSYNC.
    async fn change(&self, zone_id: &str, action: ChangeAction, rrset: ResourceRecordSet) -> Result<(), ChangeFailure> {
        let change = Change::builder().action(action).resource_record_set(rrset).build().map_err(|e| ChangeFailure::Other(built(e)))?;
        let batch = ChangeBatch::builder().changes(change).build().map_err(|e| ChangeFailure::Other(built(e)))?;
        match self.client.change_resource_record_sets().hosted_zone_id(zone_id).change_batch(batch).send().await {
            Ok(out) => {
                if let Some(info) = out.change_info() {
                    wait_insync(&self.client, info.id(), Some(info.status()), INSYNC_LIMIT).await.map_err(ChangeFailure::Other)?;
                }
                Ok(())
            }
            Err(e) if e.code() == Some("InvalidChangeBatch") => {
                let msg = e.message().unwrap_or_default().to_string();
                if msg.contains("already exists") {
                    Err(ChangeFailure::Exists(msg))
                } else if msg.contains("not found") {
                    Err(ChangeFailure::Missing)
                } else {
                    Err(ChangeFailure::Other(ProviderError::Invalid(format!("ChangeResourceRecordSets: {msg}"))))
                }
            }
            Err(e) => Err(ChangeFailure::Other(classify("ChangeResourceRecordSets", e))),
        }
    }

    /// The zone's name, or NotFound naming the zone.
    async fn zone_of(&self, spec: &Spec) -> Result<String, ProviderError> {
        self.zone_name(&spec.zone_id).await?.ok_or_else(|| ProviderError::NotFound(format!("{}: hosted zone {} does not exist", SCHEMA.kind, spec.zone_id)))
    }
}

/// How a ChangeResourceRecordSets call failed, where the kind treats some answers as outcomes.
enum ChangeFailure {
    /// CREATE of a record that exists.
    Exists(String),
    /// DELETE of a record that does not exist.
    Missing,
    Other(ProviderError),
}

impl From<ChangeFailure> for ProviderError {
    fn from(f: ChangeFailure) -> ProviderError {
        match f {
            ChangeFailure::Exists(m) => ProviderError::Conflict(format!("ChangeResourceRecordSets: {m}")),
            ChangeFailure::Missing => ProviderError::NotFound("ChangeResourceRecordSets: the record set is not there".into()),
            ChangeFailure::Other(e) => e,
        }
    }
}

#[async_trait]
impl ResourceKind for Route53Record {
    fn schema(&self) -> &'static ResourceSchema {
        &SCHEMA
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        Ok(self.read_many(&[id.to_string()]).await?.remove(id).flatten())
    }

    /// One GetHostedZone per zone (names may be relative to it), then one
    /// ListResourceRecordSets per record, started at the record itself.
    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        let mut out: BTreeMap<String, Option<Observed>> = ids.iter().map(|id| (id.clone(), None)).collect();
        let mut zones: BTreeMap<String, Option<String>> = BTreeMap::new();
        for id in ids {
            let (zone, name, ty, set) = parse_id(id)
                .ok_or_else(|| ProviderError::Invalid(format!("{}: {id:?} is not a record id (ZONEID_NAME_TYPE or ZONEID_NAME_TYPE_SETID)", SCHEMA.kind)))?;
            let zone_name = match zones.get(&zone) {
                Some(z) => z.clone(),
                None => {
                    let z = self.zone_name(&zone).await?;
                    zones.insert(zone.clone(), z.clone());
                    z
                }
            };
            let Some(zone_name) = zone_name else { continue };
            let fqdn = qualify(&name, &zone_name);
            if let Some(r) = self.find(&zone, &fqdn, &ty, set.as_deref()).await? {
                out.insert(id.clone(), Some(observed(id, &zone, &name, &r)));
            }
        }
        Ok(out)
    }

    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let fqdn = qualify(&spec.name, &self.zone_of(&spec).await?);
        let rrset = spec.rrset(&fqdn)?;
        let action = if spec.allow_overwrite { ChangeAction::Upsert } else { ChangeAction::Create };
        match self.change(&spec.zone_id, action, rrset.clone()).await {
            Ok(()) => Ok(observed(&spec.id(), &spec.zone_id, &spec.name, &rrset)),
            // Records carry no tags, so a record is this create's when it holds exactly the
            // values this create sends: an attempt whose answer was lost made it, and if another
            // writer made an identical one, taking it over changes nothing in DNS. A record with
            // other values is someone else's; it is replaced only with allow_overwrite.
            Err(ChangeFailure::Exists(msg)) => match self.find_owned(desired).await? {
                Some(o) => Ok(o),
                None => Err(ProviderError::Conflict(format!(
                    "{}: a {} record {fqdn} already exists in zone {} with other values ({msg}); set allow_overwrite: true to take it over, or import it",
                    SCHEMA.kind, spec.ty, spec.zone_id
                ))),
            },
            Err(other) => Err(other.into()),
        }
    }

    /// UPSERT: values, TTL, alias and weight change in place.
    async fn update(&self, id: &str, desired: &Desired, _changed: &[String]) -> Result<Observed, ProviderError> {
        let spec = Spec::from(desired)?;
        let fqdn = qualify(&spec.name, &self.zone_of(&spec).await?);
        let rrset = spec.rrset(&fqdn)?;
        self.change(&spec.zone_id, ChangeAction::Upsert, rrset.clone()).await?;
        Ok(observed(id, &spec.zone_id, &spec.name, &rrset))
    }

    /// DELETE must name the record's current values exactly, so they are read first.
    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let Some((zone, name, ty, set)) = parse_id(id) else {
            return Err(ProviderError::Invalid(format!("{}: {id:?} is not a record id", SCHEMA.kind)));
        };
        let Some(zone_name) = self.zone_name(&zone).await? else { return Ok(()) };
        let Some(current) = self.find(&zone, &qualify(&name, &zone_name), &ty, set.as_deref()).await? else { return Ok(()) };
        match self.change(&zone, ChangeAction::Delete, current).await {
            Ok(()) | Err(ChangeFailure::Missing) => Ok(()),
            Err(e) => match ProviderError::from(e) {
                ProviderError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// The record of the desired name, type and set identifier when it holds exactly the
    /// desired values (see `create` for why that makes it this owner's).
    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        let spec = Spec::from(desired)?;
        let Some(zone_name) = self.zone_name(&spec.zone_id).await? else { return Ok(None) };
        let fqdn = qualify(&spec.name, &zone_name);
        let Some(r) = self.find(&spec.zone_id, &fqdn, &spec.ty, spec.set_identifier.as_deref()).await? else { return Ok(None) };
        let o = observed(&spec.id(), &spec.zone_id, &spec.name, &r);
        let mut want = desired.clone();
        if let Some(a) = want.props.get_mut("alias").and_then(Value::as_object_mut) {
            if let Some(n) = a.get("name").and_then(Value::as_str).map(canonical) {
                a.insert("name".into(), json!(n));
            }
        }
        Ok(crate::adopt::changed(&SCHEMA, &want, &o).is_empty().then_some(o))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["route53:GetHostedZone", "route53:ListResourceRecordSets"],
            Operation::Create => &["route53:GetHostedZone", "route53:ChangeResourceRecordSets", "route53:GetChange", "route53:ListResourceRecordSets"],
            Operation::Update => &["route53:GetHostedZone", "route53:ChangeResourceRecordSets", "route53:GetChange"],
            Operation::Delete => &["route53:GetHostedZone", "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets", "route53:GetChange"],
        }
    }
}

#[cfg(test)]
#[path = "route53_record_tests.rs"]
mod tests;
