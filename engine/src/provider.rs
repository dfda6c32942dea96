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

/// The value type a property accepts; used to check stack files (`typecheck`) and to generate the JSON Schema.
///
/// The first seven are the original flat types; the rest carry the constraints AWS puts on a
/// value, so that `cairn validate` refuses what the API would refuse. All are usable in
/// `static` declarations: nested shapes are `&'static` slices of `PropSpec`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PropType {
    String,
    Int,
    Bool,
    /// A list of strings.
    StringList,
    /// A map of string to string.
    StringMap,
    /// A structured object or list of objects whose shape the kind checks itself (unconverted kinds).
    Object,
    /// An IAM policy document in AWS's JSON shape (compared semantically, not textually).
    Policy,
    /// A string from a fixed set of values.
    Enum(&'static [&'static str]),
    /// An integer within inclusive bounds.
    IntRange(i64, i64),
    /// A string with length and character rules.
    Text(TextRule),
    /// An object with its own fields; keys not listed are refused.
    Struct(&'static [PropSpec]),
    /// A list whose items all have one type.
    List(&'static PropType),
}

impl PropType {
    pub fn describe(self) -> &'static str {
        match self {
            PropType::String | PropType::Text(_) => "a string",
            PropType::Int | PropType::IntRange(..) => "an integer",
            PropType::Bool => "a boolean",
            PropType::StringList => "a list of strings",
            PropType::StringMap => "a map of strings",
            PropType::Object | PropType::Struct(_) => "an object",
            PropType::Policy => "an IAM policy document",
            PropType::Enum(_) => "one of the allowed values",
            PropType::List(_) => "a list",
        }
    }

    /// The flat type this one refines: what the compiler coerces a written value to.
    pub fn base(self) -> PropType {
        match self {
            PropType::Enum(_) | PropType::Text(_) => PropType::String,
            PropType::IntRange(..) => PropType::Int,
            PropType::Struct(_) => PropType::Object,
            PropType::List(item) if matches!(item.base(), PropType::String) => PropType::StringList,
            PropType::List(_) => PropType::Object,
            other => other,
        }
    }
}

/// Length and character rules for a string, in a simple documented form rather than a
/// regular expression: AWS states most name rules as "1 to N characters: letters, digits
/// and these symbols", which this says directly and can also generate values for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TextRule {
    pub min: usize,
    pub max: usize,
    /// Characters allowed besides ASCII letters and digits; `None` allows any character.
    pub extra: Option<&'static str>,
    /// Only lowercase letters (S3 bucket names).
    pub lowercase: bool,
}

impl TextRule {
    /// Any characters, `min..=max` long.
    pub const fn len(min: usize, max: usize) -> Self {
        TextRule { min, max, extra: None, lowercase: false }
    }
    /// Only ASCII letters, digits and the characters in `extra`.
    pub const fn chars(mut self, extra: &'static str) -> Self {
        self.extra = Some(extra);
        self
    }
    pub const fn lowercase(mut self) -> Self {
        self.lowercase = true;
        self
    }
    /// Why `s` breaks the rule, if it does.
    pub fn violation(&self, s: &str) -> Option<String> {
        let n = s.chars().count();
        if n < self.min || n > self.max {
            return Some(if self.min == self.max {
                format!("must be {} characters long, not {n}", self.min)
            } else {
                format!("must be {} to {} characters long, not {n}", self.min, self.max)
            });
        }
        if let Some(extra) = self.extra {
            if let Some(bad) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || extra.contains(*c))) {
                return Some(format!("may not contain {bad:?} (allowed: {})", self.allowed()));
            }
        }
        if self.lowercase && s.chars().any(|c| c.is_ascii_uppercase()) {
            return Some("must be lowercase".into());
        }
        None
    }
    /// The allowed characters, for messages and the JSON Schema.
    pub fn allowed(&self) -> String {
        match self.extra {
            None => "any character".into(),
            Some(extra) => {
                let letters = if self.lowercase { "a-z" } else { "A-Z a-z" };
                if extra.is_empty() {
                    format!("{letters} 0-9")
                } else {
                    format!("{letters} 0-9 and {}", extra.chars().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" "))
                }
            }
        }
    }
}

/// A check that spans several fields of one object (e.g. "kms_key only with aws:kms"), or
/// an order within a list. The kind's request builder calls the same function, so the rule
/// is declared once. Returns the violations as messages.
pub type Rule = fn(&Value) -> Vec<String>;

/// A check across several top-level props of a resource (e.g. "min_size ≤ desired_size ≤
/// max_size"), which a per-prop `Rule` cannot state. The kind's request builder calls the same
/// `check`, so the rule is declared once. `props` names what it reads: the check is skipped
/// while any of them is known only at apply, and a violation is located at the first of them
/// that is written (else at the resource).
#[derive(Debug, Clone, Copy)]
pub struct PropsRule {
    pub props: &'static [&'static str],
    /// The violations, as sentences that stand alone. It must tolerate absent or ill-typed
    /// values (their own checks report those).
    pub check: fn(&Props) -> Vec<String>,
}

/// Where a physical name must be unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameScope {
    /// Per account and region (queues, topics, roles' regional peers).
    Region,
    /// Per account, all regions (IAM).
    Account,
    /// Across all of AWS (S3 buckets).
    Global,
}

/// FIFO naming: a FIFO resource's name ends in `suffix`, and only a FIFO resource's does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FifoRule {
    /// The boolean prop that makes the resource FIFO.
    pub prop: &'static str,
    pub suffix: &'static str,
    /// The kind appends the suffix itself when the name lacks it (so only its presence on a
    /// non-FIFO resource is an error, and the suffix counts toward the length).
    pub appended: bool,
}

/// The facts about a kind's physical name, declared on the prop that holds it. The kind's
/// code reads the same declaration (`ResourceSchema::naming`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Naming {
    pub rule: TextRule,
    pub scope: NameScope,
    pub fifo: Option<FifoRule>,
}

impl Naming {
    pub const fn new(rule: TextRule, scope: NameScope) -> Self {
        Naming { rule, scope, fifo: None }
    }
    pub const fn fifo(mut self, prop: &'static str, suffix: &'static str, appended: bool) -> Self {
        self.fifo = Some(FifoRule { prop, suffix, appended });
        self
    }
}

/// One settable property of a kind (or one field of a nested object).
#[derive(Debug, Clone, Copy, Serialize)]
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
    /// The physical name of the resource: its length, characters and uniqueness scope.
    /// When unset in the stack, the default name (`compile::default_name`) is checked.
    pub naming: Option<Naming>,
    /// Checks across fields of this (object or list) value.
    #[serde(skip)]
    pub rule: Option<Rule>,
}

impl PropSpec {
    pub const fn new(name: &'static str, ty: PropType, doc: &'static str) -> Self {
        PropSpec { name, ty, required: false, force_new: false, default: None, doc, local: false, naming: None, rule: None }
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
    pub const fn naming(mut self, naming: Naming) -> Self {
        self.naming = Some(naming);
        self
    }
    pub const fn rule(mut self, rule: Rule) -> Self {
        self.rule = Some(rule);
        self
    }
    /// The declared default, parsed.
    pub fn default_value(&self) -> Option<Value> {
        self.default.and_then(|d| serde_json::from_str(d).ok())
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
    /// Checks across top-level props.
    #[serde(skip)]
    pub rules: &'static [PropsRule],
}

impl ResourceSchema {
    pub fn prop(&self, name: &str) -> Option<&PropSpec> {
        self.props.iter().find(|p| p.name == name)
    }
    /// The prop holding the physical name and its naming facts, for kinds that declare them.
    pub fn naming(&self) -> Option<(&'static str, Naming)> {
        self.props.iter().find_map(|p| Some((p.name, p.naming?)))
    }
    /// The value of prop `name` in `props`, or its declared default (what a rule across props
    /// reads, since an unset prop means its default).
    pub fn value_or_default(&self, props: &Props, name: &str) -> Option<Value> {
        props.get(name).filter(|v| !v.is_null()).cloned().or_else(|| self.prop(name)?.default_value())
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
    /// Whether `name` is cairn's derived default name. It embeds stack, env and address, so a
    /// resource of that name in this account and region is this owner's by construction (an
    /// earlier attempt of this very create made it): a create that AWS answers with an existing
    /// resource of that name needs no ownership read. An explicitly chosen name can be anyone's.
    pub fn has_derived_name(&self, name: &str) -> bool {
        name == self.default_name
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
    /// The same kinds, each wrapped by `f` (a decorator that observes every call).
    pub fn map(self, f: impl Fn(std::sync::Arc<dyn ResourceKind>) -> std::sync::Arc<dyn ResourceKind>) -> Registry {
        Registry { kinds: self.kinds.into_iter().map(|(k, v)| (k, f(v))).collect() }
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
