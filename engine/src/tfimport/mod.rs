//! Moving from Terraform: reads a Terraform state, maps its `aws_*` resources to cairn kinds and writes the stack.
//!
//! The pipeline, all pure (the binary confirms resources exist and records state):
//!
//! 1. `parse` (in `tfstate.rs`) reads either a raw state file (`terraform.tfstate`, format
//!    version 4) or the output of `terraform show -json`, and normalises both into one flat list
//!    of [`TfInstance`]s: one per managed resource instance, with its full Terraform address
//!    (`module.network.aws_subnet.private["a"]`) and its attributes as the AWS provider recorded
//!    them. Data sources are set aside here, listed in [`Input::data_sources`].
//! 2. Every [`Family`] in [`families`] gets the whole [`Input`] and pushes [`Mapped`] resources
//!    into an [`Output`]. A family owns a handful of Terraform types; it *merges* Terraform's split
//!    resources into the one cairn resource they configure (an `aws_s3_bucket` with its
//!    `aws_s3_bucket_versioning`, an `aws_iam_role` with its `aws_iam_role_policy`s, ...), finding
//!    the parts through [`Input::of_type`] and an attribute that names the parent. Every Terraform
//!    address a family used goes into the mapped resource's `sources` (first = the primary one, which
//!    names the cairn address), or is consumed with [`Output::consume`] when it maps to nothing on
//!    purpose; whatever no family consumed is reported as unmapped, never dropped silently.
//! 3. `write` (in `writer.rs`) turns the mapped resources into a stack a person would write:
//!    addresses from Terraform addresses, `count`/`for_each` where instances share a shape,
//!    references (`${vpc.id}`) wherever a value equals another imported resource's attribute
//!    (as listed in [`Mapped::attrs`]), tags every resource shares lifted to the stack's `tags`,
//!    values equal to the kind's schema default left out.
//!
//! # Writing a family mapper
//!
//! A family is a file in this directory with a `pub const FAMILY: Family` and a `fn map(&Input,
//! &mut Output)`, listed in [`families`]. For each Terraform resource it understands it builds a
//! [`Mapped`] with:
//! - `kind`: the cairn kind (`aws.ec2.subnet`);
//! - `id`: the physical id exactly as that kind's `read(id)` expects it (see the kind's module in
//!   `resources/src/`: a queue URL, a bucket name, a subnet id, ...);
//! - `props`: cairn's property names and shapes (the kind's schema, `cairn schema`), holding the
//!   values that the kind's `read` would return for that resource, so that the plan after import is
//!   a no-op. Leave out what Terraform did not record; defaults are dropped by the writer;
//! - `tags`: the resource's own `tags` (not `tags_all`), and `tags_all` as recorded: the writer
//!   works out provider `default_tags` from the difference;
//! - `attrs`: cairn attribute name → value for everything another resource may reference
//!   (`id`, `arn`, `name`, `url`, ...); the writer replaces equal strings by `${address.attr}`;
//! - `notes`: anything the report must tell the user (a setting cairn cannot express, a
//!   Terraform default that differs from cairn's).
//!
//! Attribute helpers on [`TfInstance`] read the provider's shapes (nested blocks are lists of
//! one object in state files: [`TfInstance::block`]); [`block_in`] and [`sorted_strings`] do the
//! same for blocks nested in blocks. Tests share the helpers in `testing.rs`.

pub mod eks;
pub mod iam;
pub mod kms;
pub mod network;
pub mod rds;
pub mod report;
pub mod s3;
pub mod sqs_sns;
#[cfg(test)]
pub(crate) mod testing;
pub mod tfstate;
pub mod wafv2;
pub mod writer;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::provider::{Props, Tags};

/// The `count` index or `for_each` key of one instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndexKey {
    Int(i64),
    Str(String),
}

/// One managed resource instance from a Terraform state, whichever format it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct TfInstance {
    /// The full address: `module.network.aws_subnet.private["a"]`.
    pub address: String,
    /// The module path, `module.network` or `module.app["x"].module.db`; empty at the root.
    pub module: String,
    /// The resource type, `aws_subnet`.
    pub ty: String,
    /// The resource name, `private`.
    pub name: String,
    pub index: Option<IndexKey>,
    /// The attributes as the provider recorded them.
    pub attrs: Map<String, Value>,
}

impl TfInstance {
    /// A non-empty string attribute.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
    }
    pub fn i64(&self, key: &str) -> Option<i64> {
        match self.attrs.get(key)? {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.attrs.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
    /// A list attribute (empty when absent or null).
    pub fn list(&self, key: &str) -> &[Value] {
        self.attrs.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
    }
    /// A list of strings (a `set` or `list` of strings in the provider's schema), sorted.
    pub fn strings(&self, key: &str) -> Vec<String> {
        sorted_strings(&self.attrs, key)
    }
    /// A nested block recorded as a list of (at most) one object.
    pub fn block(&self, key: &str) -> Option<&Map<String, Value>> {
        block_of(self.attrs.get(key))
    }
    /// A map-of-strings attribute (`tags`, `tags_all`).
    pub fn string_map(&self, key: &str) -> Tags {
        self.attrs
            .get(key)
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
            .unwrap_or_default()
    }
    /// A policy document attribute (a JSON string in state), parsed.
    pub fn policy(&self, key: &str) -> Option<Value> {
        self.str(key).and_then(|s| serde_json::from_str(s).ok())
    }
}

/// A nested block's object: the provider records a block as a list of (at most) one object, some
/// shapes as the object itself.
pub fn block_of(v: Option<&Value>) -> Option<&Map<String, Value>> {
    match v? {
        Value::Array(a) => a.first().and_then(Value::as_object),
        Value::Object(o) => Some(o),
        _ => None,
    }
}

/// The block `key` of an object (a block nested in a block), as [`block_of`].
pub fn block_in<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    block_of(obj.get(key))
}

/// The strings of the list `key` of an object, sorted (sets of strings come back from AWS in any order).
pub fn sorted_strings(obj: &Map<String, Value>, key: &str) -> Vec<String> {
    let mut v: Vec<String> = obj.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    v.sort();
    v
}

/// Everything read from a state file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Input {
    /// Managed resource instances, in the order the state lists them.
    pub instances: Vec<TfInstance>,
    /// Data sources, skipped: their addresses, for the report.
    pub data_sources: Vec<String>,
}

impl Input {
    pub fn of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = &'a TfInstance> + 'a {
        self.instances.iter().filter(move |i| i.ty == ty)
    }
    /// Instances of `ty` whose string attribute `key` equals `value` (parts naming their parent).
    pub fn parts<'a>(&'a self, ty: &'a str, key: &'a str, value: &'a str) -> impl Iterator<Item = &'a TfInstance> + 'a {
        self.of_type(ty).filter(move |i| i.str(key) == Some(value))
    }
}

/// One cairn resource made from one or more Terraform resources.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mapped {
    /// Terraform addresses folded into this resource; the first names the cairn address.
    pub sources: Vec<String>,
    /// The cairn kind, `aws.s3.bucket`.
    pub kind: String,
    /// The physical id as the kind's `read(id)` expects it.
    pub id: String,
    /// Cairn properties, as the kind's `read` would return them.
    pub props: Props,
    /// The resource's own tags (Terraform's `tags`).
    pub tags: Tags,
    /// Terraform's `tags_all` (own tags plus provider `default_tags`).
    pub tags_all: Tags,
    /// Referenceable attributes: cairn attribute name → value.
    pub attrs: BTreeMap<String, String>,
    /// What the report must say about this resource.
    pub notes: Vec<String>,
}

impl Mapped {
    /// A resource from one Terraform instance, with its tags taken from `tags`/`tags_all`.
    pub fn new(tf: &TfInstance, kind: &str, id: impl Into<String>) -> Self {
        let id = id.into();
        Mapped {
            sources: vec![tf.address.clone()],
            kind: kind.to_string(),
            attrs: BTreeMap::from([("id".to_string(), id.clone())]),
            id,
            props: Props::new(),
            tags: tf.string_map("tags"),
            tags_all: tf.string_map("tags_all"),
            notes: vec![],
        }
    }
    /// Sets a property when the value is present (`None` and JSON null are left out).
    pub fn prop(&mut self, name: &str, value: impl Into<Option<Value>>) -> &mut Self {
        if let Some(v) = value.into().filter(|v| !v.is_null()) {
            self.props.insert(name.to_string(), v);
        }
        self
    }
    /// Records a referenceable attribute when the value is present.
    pub fn attr(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.attrs.insert(name.to_string(), v.to_string());
        }
        self
    }
    /// Folds another Terraform resource (a split part) into this one.
    pub fn merge(&mut self, tf: &TfInstance) -> &mut Self {
        if !self.sources.contains(&tf.address) {
            self.sources.push(tf.address.clone());
        }
        self
    }
    pub fn note(&mut self, text: impl Into<String>) -> &mut Self {
        self.notes.push(text.into());
        self
    }
}

/// What the families produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub resources: Vec<Mapped>,
    /// Terraform addresses accounted for (mapped, merged or deliberately mapped to nothing).
    pub consumed: BTreeSet<String>,
    /// Report lines not tied to one mapped resource: (Terraform address, text).
    pub notes: Vec<(String, String)>,
}

impl Output {
    pub fn push(&mut self, m: Mapped) {
        self.consumed.extend(m.sources.iter().cloned());
        self.resources.push(m);
    }
    /// Marks a Terraform address as handled without a cairn resource of its own, saying why.
    pub fn consume(&mut self, tf: &TfInstance, why: impl Into<String>) {
        self.consumed.insert(tf.address.clone());
        self.notes.push((tf.address.clone(), why.into()));
    }
    pub fn note(&mut self, tf: &TfInstance, text: impl Into<String>) {
        self.notes.push((tf.address.clone(), text.into()));
    }
}

/// A group of Terraform types mapped together (split resources must be in the family of their parent).
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    /// Every Terraform type the family maps or merges, for the report's list of mapped types.
    pub types: &'static [&'static str],
    pub map: fn(&Input, &mut Output),
}

/// Every family, in the order they run.
pub fn families() -> Vec<Family> {
    vec![s3::FAMILY, sqs_sns::FAMILY, kms::FAMILY, iam::FAMILY, network::FAMILY, eks::FAMILY, rds::FAMILY, wafv2::FAMILY]
}

/// Runs every family over the input.
pub fn map_all(input: &Input) -> Output {
    let mut out = Output::default();
    for f in families() {
        (f.map)(input, &mut out);
    }
    out
}

/// Managed instances no family consumed: (address, type), in state order.
pub fn unmapped<'a>(input: &'a Input, out: &Output) -> Vec<&'a TfInstance> {
    input.instances.iter().filter(|i| !out.consumed.contains(&i.address)).collect()
}

/// Whether a policy is the one AWS gives a resource when none is set (SNS's owner-only topic
/// policy, KMS's "the account's IAM decides" key policy): such a policy is left unmanaged.
pub fn is_default_policy(doc: &Value) -> bool {
    let statements = match doc.get("Statement") {
        Some(Value::Array(s)) => s.as_slice(),
        Some(s @ Value::Object(_)) => std::slice::from_ref(s),
        _ => return false,
    };
    !statements.is_empty()
        && statements.iter().all(|s| matches!(s.get("Sid").and_then(Value::as_str), Some("__default_statement_ID" | "Enable IAM User Permissions")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policies_are_recognised() {
        assert!(is_default_policy(&serde_json::json!({"Statement": [{"Sid": "__default_statement_ID"}]})));
        assert!(!is_default_policy(&serde_json::json!({"Statement": [{"Sid": "__default_statement_ID"}, {"Sid": "Mine"}]})));
        assert!(!is_default_policy(&serde_json::json!({"Statement": []})));
    }
}
