//! The fake kinds `fake.queue`, `fake.key` and `fake.grant`: faithful `ResourceKind` implementations over a `FakeCloud`.
//!
//! They keep the trait's contract the way the AWS kinds must: `read` returns every
//! property including defaults, `create` stores the tags it is given, `update` changes
//! only what `changed` names, `delete` of something gone succeeds, and `find_owned`
//! finds a resource by name (queues), ownership tags (keys) or content (grants).
//! References are checked like AWS does: a queue's `dlq` and a grant's `key` and
//! `queue` must be ARNs of resources that exist, so creating out of order fails.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::cloud::{Crash, FakeCloud, FakeResource, Target};
use crate::provider::{Desired, Observed, Operation, PropSpec, PropType, Props, ProviderError, Registry, ResourceKind, ResourceSchema, Tags};

pub static QUEUE: ResourceSchema = ResourceSchema {
    kind: "fake.queue",
    doc: "A fake message queue. Its id is `queue/<name>` and its ARN `arn:fake:queue:<name>`.",
    props: &[
        PropSpec::new("name", PropType::String, "Queue name; defaults to a name derived from stack, env and address.").force_new(),
        PropSpec::new("visibility", PropType::Int, "Visibility timeout in seconds (0-43200).").default("30"),
        PropSpec::new("dlq", PropType::String, "ARN of an existing fake queue receiving failed messages."),
    ],
    attrs: &["arn", "url"],
    taggable: true,
    rules: &[],
};

pub static KEY: ResourceSchema = ResourceSchema {
    kind: "fake.key",
    doc: "A fake encryption key with a generated id `key-N`.",
    props: &[
        PropSpec::new("description", PropType::String, "Free text.").default("\"\""),
        PropSpec::new("spec", PropType::String, "SYMMETRIC or RSA_2048.").force_new().default("\"SYMMETRIC\""),
    ],
    attrs: &["arn"],
    taggable: true,
    rules: &[],
};

pub static GRANT: ResourceSchema = ResourceSchema {
    kind: "fake.grant",
    doc: "A fake grant letting a queue use a key; untaggable, found again by its content.",
    props: &[
        PropSpec::new("key", PropType::String, "ARN of an existing fake key.").required().force_new(),
        PropSpec::new("queue", PropType::String, "ARN of an existing fake queue.").required(),
        PropSpec::new("actions", PropType::StringList, "Allowed operations (order does not matter).").default("[]"),
    ],
    attrs: &[],
    taggable: false,
    rules: &[],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Queue,
    Key,
    Grant,
}

/// One fake kind; which one is decided by its flavor.
struct FakeKind {
    cloud: FakeCloud,
    flavor: Flavor,
}

/// Builds the registry of fake kinds backed by `cloud`.
pub(crate) fn registry(cloud: &FakeCloud) -> Registry {
    let mut r = Registry::new();
    for flavor in [Flavor::Queue, Flavor::Key, Flavor::Grant] {
        r.register(Arc::new(FakeKind { cloud: cloud.clone(), flavor }));
    }
    r
}

/// The schema's defaults filled in for properties `props` does not set.
fn with_defaults(schema: &ResourceSchema, props: &Props) -> Props {
    let mut out = props.clone();
    for p in schema.props {
        if let (false, Some(d)) = (out.contains_key(p.name), p.default) {
            out.insert(p.name.to_string(), serde_json::from_str(d).unwrap_or(Value::Null));
        }
    }
    normalise(&mut out);
    out
}

/// What the cloud reports back: lists of strings sorted, as a real read would normalise them.
fn normalise(props: &mut Props) {
    if let Some(Value::Array(a)) = props.get_mut("actions") {
        a.sort_by_key(|v| v.to_string());
        a.dedup();
    }
}

fn invalid(kind: &str, msg: String) -> ProviderError {
    ProviderError::Invalid(format!("{kind}: {msg}"))
}

impl FakeKind {
    fn kind(&self) -> &'static str {
        self.schema().kind
    }

    fn name_of(&self, d: &Desired) -> Option<String> {
        (self.flavor == Flavor::Queue).then(|| d.name())
    }

    fn id_for(&self, name: Option<&str>, seq: u64) -> String {
        match (self.flavor, name) {
            (Flavor::Queue, Some(n)) => format!("queue/{n}"),
            (Flavor::Key, _) => format!("key-{seq}"),
            _ => format!("grant-{seq}"),
        }
    }

    fn attrs_for(&self, id: &str, name: Option<&str>) -> Props {
        let mut a = Props::new();
        match self.flavor {
            Flavor::Queue => {
                let n = name.unwrap_or_default();
                a.insert("arn".into(), Value::String(format!("arn:fake:queue:{n}")));
                a.insert("url".into(), Value::String(format!("https://queue.fake/{n}")));
            }
            Flavor::Key => {
                a.insert("arn".into(), Value::String(format!("arn:fake:key:{id}")));
            }
            Flavor::Grant => {}
        }
        a
    }

    /// Checks values and references the way the real API would.
    fn validate(&self, props: &Props) -> Result<(), ProviderError> {
        let kind = self.kind();
        let exists = |attr_kind: &str, arn: &Value| !self.cloud.find(|r| r.kind == attr_kind && r.attrs.get("arn") == Some(arn)).is_empty();
        match self.flavor {
            Flavor::Queue => {
                let v = props.get("visibility").and_then(Value::as_i64).unwrap_or(-1);
                if !(0..=43200).contains(&v) {
                    return Err(invalid(kind, format!("visibility must be 0-43200, got {v}")));
                }
                if let Some(dlq) = props.get("dlq") {
                    if !exists("fake.queue", dlq) {
                        return Err(invalid(kind, format!("dead-letter queue {dlq} does not exist")));
                    }
                }
            }
            Flavor::Key => {
                let spec = props.get("spec").and_then(Value::as_str).unwrap_or_default();
                if !["SYMMETRIC", "RSA_2048"].contains(&spec) {
                    return Err(invalid(kind, format!("unsupported key spec {spec:?}")));
                }
            }
            Flavor::Grant => {
                for (prop, target) in [("key", "fake.key"), ("queue", "fake.queue")] {
                    let v = props.get(prop).cloned().unwrap_or(Value::Null);
                    if !exists(target, &v) {
                        return Err(invalid(kind, format!("{prop} {v} does not exist")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether `r` is the resource `d`'s owner created.
    fn owned(&self, r: &FakeResource, d: &Desired) -> bool {
        match self.flavor {
            Flavor::Queue => r.name.as_deref() == Some(d.name().as_str()) && d.owner.matches(&r.tags),
            Flavor::Key => d.owner.matches(&r.tags),
            Flavor::Grant => r.props.get("key") == d.props.get("key") && r.props.get("queue") == d.props.get("queue"),
        }
    }

    /// The matching names of an existing resource, for failure injection on id-based calls.
    fn target_of<'a>(&self, id: &'a str, labels: &'a (Option<String>, Option<String>)) -> Target<'a> {
        Target { kind: self.kind(), address: labels.0.as_deref(), name: labels.1.as_deref(), id: Some(id) }
    }
}

#[async_trait]
impl ResourceKind for FakeKind {
    fn schema(&self) -> &'static ResourceSchema {
        match self.flavor {
            Flavor::Queue => &QUEUE,
            Flavor::Key => &KEY,
            Flavor::Grant => &GRANT,
        }
    }

    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        let labels = self.cloud.labels(id);
        let _call = self.cloud.enter(Operation::Read, id, self.target_of(id, &labels)).await?;
        Ok(self.cloud.get(id).filter(|r| r.kind == self.kind()).map(|r| r.observed()))
    }

    async fn create(&self, d: &Desired) -> Result<Observed, ProviderError> {
        let name = self.name_of(d);
        let target = Target { kind: self.kind(), address: Some(&d.owner.address), name: name.as_deref(), id: None };
        let _call = self.cloud.enter(Operation::Create, &d.owner.address, target.clone()).await?;
        let mut props = with_defaults(self.schema(), &d.props);
        if let Some(n) = &name {
            props.insert("name".into(), Value::String(n.clone()));
        }
        self.validate(&props)?;
        let seq = self.cloud.next_number();
        let id = self.id_for(name.as_deref(), seq);
        let tags = if self.schema().taggable { d.tags.clone() } else { Tags::new() };
        let r = FakeResource {
            kind: self.kind(),
            id: id.clone(),
            address: d.owner.address.clone(),
            attrs: self.attrs_for(&id, name.as_deref()),
            name: name.clone(),
            props,
            tags,
            created_seq: seq,
        };
        self.cloud.insert(r.clone())?;
        match self.cloud.take_crash(&target) {
            None => Ok(r.observed()),
            Some(Crash::Error) => Err(ProviderError::Retryable(format!("connection reset after creating {id}"))),
            Some(Crash::Panic) => panic!("injected crash after creating {id}"),
        }
    }

    async fn update(&self, id: &str, d: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        let labels = self.cloud.labels(id);
        let _call = self.cloud.enter(Operation::Update, id, self.target_of(id, &labels)).await?;
        let current = self.cloud.get(id).ok_or_else(|| ProviderError::NotFound(id.to_string()))?;
        let schema = self.schema();
        let mut props = current.props.clone();
        let mut tags = current.tags.clone();
        for c in changed {
            if c == "tags" && schema.taggable {
                tags = d.tags.clone();
                continue;
            }
            let spec = schema.prop(c).ok_or_else(|| invalid(schema.kind, format!("no property `{c}`")))?;
            if spec.force_new {
                return Err(invalid(schema.kind, format!("`{c}` cannot be changed in place")));
            }
            match d.props.get(c).cloned().or_else(|| spec.default.and_then(|j| serde_json::from_str(j).ok())) {
                Some(v) => props.insert(c.clone(), v),
                None => props.remove(c),
            };
        }
        normalise(&mut props);
        self.validate(&props)?;
        self.cloud.update(id, |r| (r.props, r.tags) = (props, tags)).map(|r| r.observed())
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        let labels = self.cloud.labels(id);
        let _call = self.cloud.enter(Operation::Delete, id, self.target_of(id, &labels)).await?;
        self.cloud.remove(id);
        Ok(())
    }

    async fn find_owned(&self, d: &Desired) -> Result<Option<Observed>, ProviderError> {
        let name = self.name_of(d);
        let target = Target { kind: self.kind(), address: Some(&d.owner.address), name: name.as_deref(), id: None };
        let _call = self.cloud.enter(Operation::Read, &d.owner.address, target).await?;
        let found = self.cloud.find(|r| r.kind == self.kind() && self.owned(r, d));
        Ok(found.into_iter().max_by_key(|r| r.created_seq).map(|r| r.observed()))
    }

    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        match op {
            Operation::Read => &["fake:Describe"],
            Operation::Create => &["fake:Create", "fake:Tag"],
            Operation::Update => &["fake:Modify", "fake:Tag", "fake:Untag"],
            Operation::Delete => &["fake:Delete"],
        }
    }
}
