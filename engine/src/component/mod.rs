//! Components: golden paths written in Rust that expand one stack entry into plain resources with stable addresses.
//!
//! A component (`type: cairn.network`) receives its evaluated props, which may contain
//! values known only after apply, and returns parts: ordinary resources addressed under
//! the component's name (`network.subnet.private[0]`). Parts refer to each other with
//! `reference(address, attr)`; the compiler checks those references and draws the edges
//! exactly as for references written in the stack file.

pub mod alarms;
pub mod bucket;
pub mod eks_cluster;
pub mod github_oidc_role;
pub mod image_repository;
pub mod irsa_role;
pub mod network;
pub mod postgres;
pub mod queue;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::expr::{self, Expr, Seg};
use crate::provider::{PropSpec, Props, ResourceSchema, Tags};

/// One resource a component expands into.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Address relative to the component: `vpc`, `subnet.private[0]`.
    pub sub: String,
    pub kind: &'static str,
    pub props: Props,
    /// Tags for this part on top of the stack's and the component's (e.g. EKS subnet roles).
    pub tags: Tags,
    /// Relative addresses this part must follow without referencing them.
    pub depends_on: Vec<String>,
}

impl Part {
    pub fn new(sub: impl Into<String>, kind: &'static str, props: Value) -> Part {
        let props = match props {
            Value::Object(m) => m.into_iter().filter(|(_, v)| !v.is_null()).collect(),
            _ => Props::new(),
        };
        Part { sub: sub.into(), kind, props, tags: Tags::new(), depends_on: vec![] }
    }
    pub fn tag(mut self, k: &str, v: &str) -> Part {
        self.tags.insert(k.to_string(), v.to_string());
        self
    }
    pub fn after(mut self, sub: &str) -> Part {
        self.depends_on.push(sub.to_string());
        self
    }
}

/// What a component produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expansion {
    pub parts: Vec<Part>,
    /// Values users reference as `${component.output}`; may contain unknown markers.
    pub outputs: BTreeMap<String, Value>,
}

/// What a component sees.
pub struct ComponentInput<'a> {
    /// The component's own address (`network`, or `network[0]` under count).
    pub address: &'a str,
    pub props: &'a Props,
    pub stack: &'a str,
    pub env: &'a str,
    pub region: &'a str,
    /// The physical-name prefix for parts: `<stack>-<env>-<name>`.
    pub name_prefix: String,
}

impl ComponentInput<'_> {
    /// The full address of a part.
    pub fn addr(&self, sub: &str) -> String {
        format!("{}.{sub}", self.address)
    }
    /// `${<part>.<attr>}` as a value known after apply.
    pub fn reference(&self, sub: &str, attr: &str) -> Value {
        reference(&self.addr(sub), attr)
    }
    pub fn str(&self, name: &str) -> Option<&str> {
        self.props.get(name).and_then(Value::as_str)
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.props.get(name).filter(|v| !v.is_null())
    }
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(format!("`{name}` must be true or false, found {other}")),
        }
    }
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.as_i64().ok_or_else(|| format!("`{name}` must be a whole number, found {v}")),
        }
    }
    pub fn required(&self, name: &str) -> Result<&Value, String> {
        self.get(name).ok_or_else(|| format!("needs `{name}`"))
    }
    /// A list prop; an unknown value is not a list, so it is an error where the shape matters.
    pub fn list(&self, name: &str) -> Result<Vec<Value>, String> {
        match self.get(name) {
            None => Ok(vec![]),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(v) if expr::as_unknown(v).is_some() => {
                Err(format!("`{name}` must be a list known at plan time (write the list out; its items may reference resources)"))
            }
            Some(v) => Err(format!("`{name}` must be a list, found {v}")),
        }
    }
}

/// Turns `a.b[0]` into reference segments.
pub fn address_segments(address: &str) -> Vec<Seg> {
    let mut segs = vec![];
    for part in address.split('.') {
        let (name, rest) = part.split_once('[').map(|(n, r)| (n, Some(r))).unwrap_or((part, None));
        if !name.is_empty() {
            segs.push(Seg::Name(name.to_string()));
        }
        if let Some(rest) = rest {
            for idx in rest.split('[') {
                let idx = idx.trim_end_matches(']');
                if let Ok(i) = idx.parse::<i64>() {
                    segs.push(Seg::Index(i));
                } else {
                    segs.push(Seg::Key(idx.trim_matches('"').to_string()));
                }
            }
        }
    }
    segs
}

/// Renders reference segments back into an address: `a.b[0]`.
pub fn segments_address(segs: &[Seg]) -> String {
    expr::path_text(segs)
}

/// `${address.attr}` as an unknown marker.
pub fn reference(address: &str, attr: &str) -> Value {
    let mut path = address_segments(address);
    path.push(Seg::Name(attr.to_string()));
    expr::unknown(&Expr::Ref(path))
}

/// A golden path.
pub trait Component: Sync {
    fn kind(&self) -> &'static str;
    fn doc(&self) -> &'static str;
    fn props(&self) -> &'static [PropSpec];
    /// Names users may reference as `${name.output}`.
    fn outputs(&self) -> &'static [&'static str];
    fn expand(&self, input: &ComponentInput) -> Result<Expansion, String>;
}

/// Every component, by type name.
pub fn all() -> Vec<&'static dyn Component> {
    vec![
        &network::Network,
        &bucket::Bucket,
        &queue::Queue,
        &alarms::Alarms,
        &postgres::Postgres,
        &eks_cluster::EksCluster,
        &irsa_role::IrsaRole,
        &github_oidc_role::GithubOidcRole,
        &image_repository::ImageRepository,
    ]
}

pub fn find(kind: &str) -> Option<&'static dyn Component> {
    all().into_iter().find(|c| c.kind() == kind)
}

/// Components described as resource schemas (their outputs as attributes), for checking
/// props and references and for the JSON Schema.
pub fn schemas() -> &'static [ResourceSchema] {
    static SCHEMAS: OnceLock<Vec<ResourceSchema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        all().iter().map(|c| ResourceSchema { kind: c.kind(), doc: c.doc(), props: c.props(), attrs: c.outputs(), taggable: true, rules: &[] }).collect()
    })
}

pub fn schema_of(kind: &str) -> Option<&'static ResourceSchema> {
    schemas().iter().find(|s| s.kind == kind)
}

/// An IAM policy document with the given statements.
pub fn policy(statements: Vec<Value>) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// A web-identity trust policy for one subject. The issuer host is a JSON *key* in the
/// condition, so when it is known only after apply the whole document is built by an
/// expression (`jsondecode(format(...))`) that the applier evaluates.
pub fn web_identity_trust(provider_arn: &Value, issuer_url: &Value, subject: &str) -> Value {
    let template = format!(
        "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Principal\":{{\"Federated\":\"%s\"}},\"Action\":\"sts:AssumeRoleWithWebIdentity\",\"Condition\":{{\"StringEquals\":{{\"%s:sub\":\"{subject}\",\"%s:aud\":\"sts.amazonaws.com\"}}}}}}]}}"
    );
    let host = Expr::Call("replace".into(), vec![to_expr(issuer_url), Expr::Lit(json!("https://")), Expr::Lit(json!(""))]);
    let e =
        Expr::Call("jsondecode".into(), vec![Expr::Call("format".into(), vec![Expr::Lit(Value::String(template)), to_expr(provider_arn), host.clone(), host])]);
    match expr::partial_eval(&e, &NoScope) {
        Ok(Expr::Lit(v)) => v,
        Ok(residual) => expr::unknown(&residual),
        Err(_) => expr::unknown(&e),
    }
}

/// A value as an expression: markers become their residual, everything else a literal.
pub fn to_expr(v: &Value) -> Expr {
    expr::as_unknown(v).unwrap_or_else(|| Expr::Lit(v.clone()))
}

struct NoScope;
impl expr::Scope for NoScope {
    fn lookup(&self, _: &[Seg]) -> Result<expr::Lookup, String> {
        Ok(expr::Lookup::Later)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_segments() {
        for a in ["network", "network.vpc", "network.subnet.private[0]", "queues[\"a\"].dlq", "x[2].y[3]"] {
            assert_eq!(segments_address(&address_segments(a)), a);
        }
    }
}
