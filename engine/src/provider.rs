//! The contract between the engine and the code that talks to a cloud: one `ResourceKind` per resource type.
//!
//! The engine never imports an SDK. It hands a kind fully resolved properties and
//! tags, and gets back what the cloud holds, as plain JSON. Everything a kind
//! returns from `read` must be normalised (sorted lists where order is not
//! meaningful, policies as parsed JSON) so that comparing it with the desired
//! properties does not show a change that is not there.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Properties of a resource, keyed by property name (sorted, so output is deterministic).
pub type Props = serde_json::Map<String, Value>;
/// Tags as an unordered map; sorted by key for output.
pub type Tags = BTreeMap<String, String>;

/// The value type a property accepts; used to check stack files and to generate the JSON Schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PropType {
    String,
    Int,
    Bool,
    /// A list of strings.
    StringList,
    /// A map of string to string.
    StringMap,
    /// A structured object or list of objects whose shape the kind checks itself.
    Object,
    /// An IAM policy document in AWS's JSON shape (compared semantically, not textually).
    Policy,
}

impl PropType {
    pub fn describe(self) -> &'static str {
        match self {
            PropType::String => "a string",
            PropType::Int => "an integer",
            PropType::Bool => "a boolean",
            PropType::StringList => "a list of strings",
            PropType::StringMap => "a map of strings",
            PropType::Object => "an object",
            PropType::Policy => "an IAM policy document",
        }
    }
}

/// One settable property of a kind.
#[derive(Debug, Clone, Serialize)]
pub struct PropSpec {
    pub name: &'static str,
    pub ty: PropType,
    pub required: bool,
    /// Changing this property cannot be done in place: the resource is replaced.
    pub force_new: bool,
    /// The value AWS uses when the property is not set, as JSON text. A property with a
    /// default is always managed: removing it from the stack resets it to this value.
    pub default: Option<&'static str>,
    pub doc: &'static str,
    /// A setting for cairn itself (a wait timeout, a destroy option), never sent to or
    /// read from AWS, so never part of a diff.
    pub local: bool,
}

impl PropSpec {
    pub const fn new(name: &'static str, ty: PropType, doc: &'static str) -> Self {
        PropSpec { name, ty, required: false, force_new: false, default: None, doc, local: false }
    }
    pub const fn local(mut self) -> Self {
        self.local = true;
        self
    }
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub const fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }
    pub const fn default(mut self, json: &'static str) -> Self {
        self.default = Some(json);
        self
    }
}

/// What the engine needs to know about a kind without calling it.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceSchema {
    /// The stack-file type name, e.g. `aws.sqs.queue`.
    pub kind: &'static str,
    pub doc: &'static str,
    pub props: &'static [PropSpec],
    /// Attributes known only once the resource exists (`arn`, `url`, ...). `id` is always present.
    pub attrs: &'static [&'static str],
    pub taggable: bool,
}

impl ResourceSchema {
    pub fn prop(&self, name: &str) -> Option<&PropSpec> {
        self.props.iter().find(|p| p.name == name)
    }
    /// Whether `${addr.NAME}` may be referenced on a resource of this kind.
    pub fn has_attr(&self, name: &str) -> bool {
        name == "id" || self.attrs.contains(&name) || self.prop(name).is_some()
    }
}

/// The operations a kind performs; each has its own list of IAM actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Read,
    Create,
    Update,
    Delete,
}

impl Operation {
    pub const ALL: [Operation; 4] = [Operation::Read, Operation::Create, Operation::Update, Operation::Delete];
}

/// What the cloud holds for one resource, as returned by read, create and update.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Observed {
    /// The physical id the kind uses to find the resource again (queue URL, bucket name, key id...).
    pub id: String,
    /// The settable properties as they are in the cloud, in the same shape as the stack's `props`.
    pub props: Props,
    /// Computed attributes (`arn`, `url`, ...).
    pub attrs: Props,
    pub tags: Tags,
}

impl Observed {
    /// The value of `${addr.name}`: an attribute, a property, or the id.
    pub fn attribute(&self, name: &str) -> Option<Value> {
        if name == "id" {
            return Some(Value::String(self.id.clone()));
        }
        self.attrs.get(name).or_else(|| self.props.get(name)).cloned()
    }
}

/// Who a resource belongs to; written as the `cairn:*` ownership tags at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub stack: String,
    pub env: String,
    pub address: String,
}

impl Owner {
    pub const STACK_TAG: &'static str = "cairn:stack";
    pub const ENV_TAG: &'static str = "cairn:env";
    pub const ADDRESS_TAG: &'static str = "cairn:address";

    pub fn tags(&self) -> Tags {
        Tags::from([
            (Self::STACK_TAG.to_string(), self.stack.clone()),
            (Self::ENV_TAG.to_string(), self.env.clone()),
            (Self::ADDRESS_TAG.to_string(), self.address.clone()),
        ])
    }

    /// Whether a set of tags read from the cloud marks a resource as this owner's.
    pub fn matches(&self, tags: &Tags) -> bool {
        tags.get(Self::STACK_TAG) == Some(&self.stack) && tags.get(Self::ENV_TAG) == Some(&self.env) && tags.get(Self::ADDRESS_TAG) == Some(&self.address)
    }
}

/// Everything a kind needs to create or update a resource: resolved properties, the
/// complete tag set (stack tags, resource tags, `Env`, ownership tags) and who owns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    pub props: Props,
    pub tags: Tags,
    pub owner: Owner,
    /// A physical name derived from stack, env and address, for kinds whose `name` is optional.
    pub default_name: String,
    /// A hash of stack, env, address and the resolved props and tags (`apply::idempotency_token`):
    /// the same for a retried or resumed create of the same desired state, different when the
    /// desired state changes (a replacement must not get the old resource back). Kinds whose
    /// API has a `ClientToken` pass it (plus a per-call suffix where AWS remembers a token
    /// after the resource is gone).
    pub idempotency_token: String,
}

impl Desired {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.props.get(name).and_then(Value::as_str)
    }
    pub fn i64(&self, name: &str) -> Option<i64> {
        self.props.get(name).and_then(Value::as_i64)
    }
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.props.get(name).and_then(Value::as_bool)
    }
    /// The `name` property if set, else the derived default name.
    pub fn name(&self) -> String {
        self.str("name").map(str::to_string).unwrap_or_else(|| self.default_name.clone())
    }
}

/// Why a cloud call failed, classified so the engine can decide what to do next.
///
/// `Retryable` is retried by the applier with backoff (about a minute): kinds use it for
/// conditions that clear by themselves, including IAM propagation ("role cannot be assumed",
/// "invalid principal" right after the principal was created). `Conflict` is for a resource
/// in use or a name taken by something that is *not* this owner's (one that is, is adopted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ProviderError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("throttled: {0}")]
    Throttled(String),
    #[error("temporary failure: {0}")]
    Retryable(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("{0}")]
    Fatal(String),
}

/// Which call is being made, for error messages and the IAM action tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSite {
    pub kind: &'static str,
    pub op: Operation,
}

impl fmt::Display for CallSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind, self.op)
    }
}

/// One kind of cloud resource. Implementations live outside the engine (`cairn-resources`).
///
/// The contract (ARCHITECTURE.md, "The kind contract"), on which crash safety rests:
///
/// * `create` is idempotent: it passes `Desired::idempotency_token` as the client token where
///   the API has one; otherwise it recognises "already exists"/conflict on its own
///   deterministic name or ownership tags and adopts that resource instead of failing or
///   creating a second one. The engine may call it again after a crash or a `Retryable` error.
/// * The physical id is known to the engine as soon as AWS gives it: `create` returns once the
///   resource exists with its tags, and the engine journals the id in the same commit.
/// * `find_owned` finds everything the kind can create, by name or ownership tags, also right
///   after a crash; when several match, the newest.
/// * Every AWS error is classified (`ProviderError`): retryable (incl. IAM propagation),
///   throttled, conflict, not found, invalid, access denied, with a message for the user.
/// * `delete` of something already gone is success; it needs nothing but the id, and the
///   engine calls it on the kind that created the resource (also after a `type:` change).
#[async_trait]
pub trait ResourceKind: Send + Sync {
    fn schema(&self) -> &'static ResourceSchema;

    /// Reads one resource by physical id; `Ok(None)` when it no longer exists.
    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError>;

    /// Reads many resources of this kind. Kinds whose API can describe several
    /// resources in one call override this; the default reads them one by one.
    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        let mut out = BTreeMap::new();
        for id in ids {
            out.insert(id.clone(), self.read(id).await?);
        }
        Ok(out)
    }

    /// Creates the resource with its tags set in the creating call (or, where the API
    /// cannot, in the calls that complete creation before this returns). Idempotent: the
    /// client token from `desired.idempotency_token`, or adoption of this owner's resource on
    /// "already exists".
    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError>;

    /// Brings an existing resource to `desired`. `changed` names the properties that
    /// differ (and `tags` when tags differ); none of them forces replacement.
    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError>;

    /// Deletes the resource. Already gone is success.
    async fn delete(&self, id: &str) -> Result<(), ProviderError>;

    /// Finds a resource this owner created but whose creation was never recorded (a
    /// crash between the journal's begin and finish, a lost response): by name where names
    /// are deterministic, else by the ownership tags; the newest when several match. The
    /// engine calls it again when a tag index may not show a new resource yet.
    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError>;

    /// The IAM actions this kind calls for an operation; the least-privilege generator
    /// and the coverage tests depend on this being complete.
    fn iam_actions(&self, op: Operation) -> &'static [&'static str];
}

/// The kinds available to a run, by type name.
#[derive(Default, Clone)]
pub struct Registry {
    kinds: BTreeMap<&'static str, std::sync::Arc<dyn ResourceKind>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn register(&mut self, kind: std::sync::Arc<dyn ResourceKind>) {
        self.kinds.insert(kind.schema().kind, kind);
    }
    pub fn get(&self, kind: &str) -> Option<&std::sync::Arc<dyn ResourceKind>> {
        self.kinds.get(kind)
    }
    pub fn schemas(&self) -> impl Iterator<Item = &'static ResourceSchema> + '_ {
        self.kinds.values().map(|k| k.schema())
    }
}

/// The kinds' schemas alone, for work that calls no cloud (validate, schema, graph).
pub trait SchemaSource {
    fn schema_of(&self, kind: &str) -> Option<&'static ResourceSchema>;
    fn all_schemas(&self) -> Vec<&'static ResourceSchema>;
}

impl SchemaSource for Registry {
    fn schema_of(&self, kind: &str) -> Option<&'static ResourceSchema> {
        self.get(kind).map(|k| k.schema())
    }
    fn all_schemas(&self) -> Vec<&'static ResourceSchema> {
        self.schemas().collect()
    }
}
