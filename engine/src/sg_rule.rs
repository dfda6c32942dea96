//! The canonical form of one `aws.ec2.security_group` rule as a stack writes it (one source per
//! rule, a fixed sort order): shared by the kind and by the Terraform importer.

use serde_json::{json, Map, Value};

/// Where a rule lets traffic come from (ingress) or go to (egress). The variant order is
/// part of the documented sort order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Cidr(String),
    Ipv6(String),
    PrefixList(String),
    Group(String),
}

/// One rule with one source; fields in sort order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    pub from_port: i64,
    pub to_port: i64,
    pub protocol: String,
    pub description: Option<String>,
    pub source: Source,
}

/// What identifies a rule to AWS: everything but the description.
pub type RuleKey = (i64, i64, String, Source);

/// Whether the protocol takes ports (AWS reports 0/0 for the others).
pub fn has_ports(protocol: &str) -> bool {
    matches!(protocol, "tcp" | "udp" | "icmp" | "icmpv6")
}

impl Rule {
    pub fn key(&self) -> RuleKey {
        (self.from_port, self.to_port, self.protocol.clone(), self.source.clone())
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("protocol".into(), json!(self.protocol));
        m.insert("from_port".into(), json!(self.from_port));
        m.insert("to_port".into(), json!(self.to_port));
        match &self.source {
            Source::Cidr(c) => m.insert("cidr_blocks".into(), json!([c])),
            Source::Ipv6(c) => m.insert("ipv6_cidr_blocks".into(), json!([c])),
            Source::PrefixList(p) => m.insert("prefix_list_ids".into(), json!([p])),
            Source::Group(g) => m.insert("source_security_group_id".into(), json!(g)),
        };
        if let Some(d) = &self.description {
            m.insert("description".into(), json!(d));
        }
        Value::Object(m)
    }

    /// One rule of the stack (keys and value types already checked by the schema).
    pub fn from_json(v: &Value) -> Result<Rule, String> {
        let bad = |why: &str| format!("rule {v}: {why}");
        let obj = v.as_object().ok_or_else(|| bad("a rule is a mapping"))?;
        let protocol =
            obj.get("protocol").and_then(Value::as_str).ok_or_else(|| bad("protocol is required (tcp, udp, icmp, icmpv6, -1 or a protocol number)"))?;
        match protocol {
            "tcp" | "udp" | "icmp" | "icmpv6" | "-1" => {}
            "all" => return Err(bad("write protocol \"-1\" for all traffic")),
            "6" | "17" | "1" | "58" => return Err(bad("write this protocol by its name (tcp, udp, icmp, icmpv6), which is how AWS reports it")),
            n if n.parse::<u8>().is_ok() => {}
            _ => return Err(bad("protocol must be tcp, udp, icmp, icmpv6, -1 or a protocol number, in lower case")),
        }
        let port = |name: &str| obj.get(name).and_then(Value::as_i64).ok_or_else(|| bad(&format!("{name} is required and must be an integer")));
        let (from_port, to_port) = (port("from_port")?, port("to_port")?);
        if !has_ports(protocol) && (from_port, to_port) != (0, 0) {
            return Err(bad("this protocol has no ports: set from_port and to_port to 0"));
        }
        let valid_port = |p: i64| (0..=65535).contains(&p);
        if matches!(protocol, "tcp" | "udp") && (!valid_port(from_port) || !valid_port(to_port) || from_port > to_port) {
            return Err(bad("ports must be 0-65535 with from_port <= to_port"));
        }
        let one = |name: &str| -> Result<Option<String>, String> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(a)) => match a.as_slice() {
                    [Value::String(s)] => Ok(Some(s.clone())),
                    _ => Err(bad(&format!("{name} takes exactly one entry per rule: write one rule per source"))),
                },
                Some(_) => Err(bad(&format!("{name} must be a list with one entry"))),
            }
        };
        let group = obj.get("source_security_group_id").and_then(Value::as_str).map(str::to_string);
        let sources: Vec<Source> = [
            one("cidr_blocks")?.map(Source::Cidr),
            one("ipv6_cidr_blocks")?.map(Source::Ipv6),
            one("prefix_list_ids")?.map(Source::PrefixList),
            group.map(Source::Group),
        ]
        .into_iter()
        .flatten()
        .collect();
        let [source] = <[Source; 1]>::try_from(sources)
            .map_err(|_| bad("give exactly one source: cidr_blocks, ipv6_cidr_blocks, prefix_list_ids or source_security_group_id"))?;
        let description = obj.get("description").and_then(Value::as_str).map(str::to_string);
        Ok(Rule { from_port, to_port, protocol: protocol.to_string(), description, source })
    }
}

/// A list of rules, each with one source, no rule twice, in the order read reports them.
pub fn parse_rules(rules: &Value) -> Result<Vec<Rule>, String> {
    let rules: Vec<Rule> = rules.as_array().map(|items| items.iter().map(Rule::from_json).collect()).unwrap_or(Ok(vec![]))?;
    let mut sorted = rules.clone();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0].key() == w[1].key()) {
        return Err(format!("has the same rule twice: {}", w[0].to_json()));
    }
    // Read reports the rules sorted; any other order would show as a change on every plan.
    if sorted != rules {
        return Err(format!(
            "must list rules sorted by from_port, to_port, protocol, description, then source, i.e.: {}",
            Value::Array(sorted.iter().map(Rule::to_json).collect())
        ));
    }
    Ok(rules)
}
