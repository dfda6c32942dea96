//! The planner: a pure function from (compiled stack, state, what AWS holds) to a deterministic `Plan`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diff;
use crate::expr::{self, Lookup, Scope, Seg};
use crate::graph::ResourceGraph;
use crate::provider::{Observed, Owner, PropType, Props, SchemaSource, Tags};
use crate::state::{deposed_of, ResourceRecord, Snapshot};

/// Bumped when the plan file's shape changes incompatibly.
pub const PLAN_FORMAT: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Bring AWS to the stack's definition.
    Apply,
    /// Delete everything the state knows.
    Destroy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoOp,
    Create,
    Update,
    Replace,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaceOrder {
    DeleteBeforeCreate,
    CreateBeforeDelete,
}

/// One attribute that changes. `after` may be an unknown marker (known after apply).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub forces_replacement: bool,
}

/// What a resource should become, as far as it is known at plan time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredResource {
    pub props: Props,
    pub tags: Tags,
    pub owner: Owner,
    pub default_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedAction {
    pub address: String,
    pub kind: String,
    pub action: Action,
    /// Why: "`key_spec` forces replacement", "deleted outside cairn", "removed from the stack".
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub reasons: Vec<String>,
    /// The physical id of the existing resource (update, replace, delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<DesiredResource>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub changes: Vec<Change>,
    /// Addresses this action depends on (the stack's edges; for deletes, the recorded ones).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub deps: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_order: Option<ReplaceOrder>,
    /// For a replace after `type:` changed: the kind that made the existing resource, which
    /// deletes it (`kind` creates the replacement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_kind: Option<String>,
}

/// A difference between what state recorded and what AWS holds, made outside cairn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub address: String,
    pub kind: String,
    /// The resource no longer exists.
    pub deleted: bool,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyException {
    pub rule: String,
    pub address: String,
    pub reason: String,
}

/// A complete, serialisable plan. The same inputs give a byte-identical plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub stack: String,
    pub env: String,
    pub region: String,
    pub account_id: Option<String>,
    pub mode: PlanMode,
    /// The state this plan was made against; apply refuses it if the state has moved.
    pub lineage: String,
    pub serial: u64,
    pub actions: Vec<PlannedAction>,
    pub drift: Vec<Drift>,
    /// Renames from the stack's `moved:` list that apply will record.
    pub moved: Vec<(String, String)>,
    pub outputs: BTreeMap<String, Value>,
    pub exceptions: Vec<PolicyException>,
    pub summary: Summary,
    /// Where the state lives when it is not local (opaque to the engine; the binary fills it in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<Value>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.actions.iter().any(|a| a.action != Action::NoOp) || !self.moved.is_empty()
    }
    pub fn action(&self, address: &str) -> Option<&PlannedAction> {
        self.actions.iter().find(|a| a.address == address)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("`{address}` is protected and this plan would {verb} it; pass --allow-destroy {address} if that is intended")]
    Protected { address: String, verb: &'static str },
    #[error("`{address}` has type {kind}, which this version of cairn does not know")]
    UnknownKind { address: String, kind: String },
    #[error("`{address}`: {message}")]
    Invalid { address: String, message: String },
    #[error(transparent)]
    Location(#[from] crate::state::LocationMismatch),
}

pub struct PlanInput<'a> {
    pub graph: &'a ResourceGraph,
    pub snapshot: &'a Snapshot,
    /// What a refresh read, by address: `None` = the resource no longer exists.
    pub observed: &'a BTreeMap<String, Option<Observed>>,
    pub schemas: &'a dyn SchemaSource,
    pub mode: PlanMode,
    /// Addresses the user allows to be deleted or replaced despite `protect`.
    pub allow_destroy: &'a BTreeSet<String>,
}

/// What is already known about each resource, for resolving `${addr.attr}` at plan and apply time.
#[derive(Debug, Clone, Default)]
pub struct KnownScope {
    pub resources: BTreeMap<String, Observed>,
    pub account_id: Option<String>,
}

impl KnownScope {
    pub fn from_records(records: &BTreeMap<String, ResourceRecord>, account_id: Option<String>) -> KnownScope {
        let resources = records
            .values()
            .map(|r| (r.address.clone(), Observed { id: r.id.clone(), props: r.props.clone(), attrs: r.attrs.clone(), tags: r.tags.clone() }))
            .collect();
        KnownScope { resources, account_id }
    }
}

/// Splits a reference path into the longest known address and the rest (`network.subnet.private[0]` + `id`).
fn split_known(path: &[Seg], known: impl Fn(&str) -> bool) -> Option<(String, &[Seg])> {
    (1..=path.len()).rev().map(|n| (crate::component::segments_address(&path[..n]), &path[n..])).find(|(a, _)| known(a))
}

/// `${addr.attr...}` against the resources known so far: `attribute` answers `attr` of a known
/// address; the segments after it index into the value.
fn lookup_known(
    path: &[Seg],
    account_id: Option<&str>,
    known: impl Fn(&str) -> bool,
    attribute: impl Fn(&str, &str) -> Option<Value>,
) -> Result<Lookup, String> {
    if matches!(path, [Seg::Name(n)] if n == "account_id") {
        return Ok(account_id.map(|a| Lookup::Known(Value::String(a.to_string()))).unwrap_or(Lookup::Later));
    }
    let Some((address, rest)) = split_known(path, &known) else { return Ok(Lookup::Later) };
    let Some(Seg::Name(attr)) = rest.first() else { return Err(format!("name an attribute of `{address}`")) };
    match attribute(&address, attr) {
        Some(mut v) => {
            for seg in &rest[1..] {
                v = match (seg, &v) {
                    (Seg::Index(i), Value::Array(a)) => a.get(*i as usize).cloned().unwrap_or(Value::Null),
                    (Seg::Key(k) | Seg::Name(k), Value::Object(m)) => m.get(k).cloned().unwrap_or(Value::Null),
                    _ => Value::Null,
                };
            }
            Ok(Lookup::Known(v))
        }
        None => Ok(Lookup::Later),
    }
}

impl Scope for KnownScope {
    fn lookup(&self, path: &[Seg]) -> Result<Lookup, String> {
        lookup_known(path, self.account_id.as_deref(), |a| self.resources.contains_key(a), |a, attr| self.resources.get(a).and_then(|r| r.attribute(attr)))
    }
}

/// A resource the plan keeps (no-op or update), as later references see it: id and
/// attributes as state or the refresh has them, properties as the plan sets them where known.
/// Borrowed, so that knowing every resource of a large stack does not copy the state again.
struct Settled<'a> {
    id: &'a str,
    attrs: &'a Props,
    /// The properties as recorded or read, under the planned ones.
    props: &'a Props,
    /// Index of its action in the plan's actions, whose desired properties take precedence.
    action: usize,
}

/// What the planner knows while it walks the graph: the settled resources so far.
struct PlanScope<'p, 'a> {
    settled: &'p BTreeMap<&'a str, Settled<'a>>,
    actions: &'p [PlannedAction],
    account_id: Option<&'p str>,
}

impl Settled<'_> {
    /// As [`Observed::attribute`] of the resource after an in-place update: attributes survive,
    /// properties take their new values unless those are known only after apply.
    fn attribute(&self, actions: &[PlannedAction], name: &str) -> Option<Value> {
        if name == "id" {
            return Some(Value::String(self.id.to_string()));
        }
        if let Some(v) = self.attrs.get(name) {
            return Some(expr::copy(v));
        }
        let planned = actions[self.action].desired.as_ref().and_then(|d| d.props.get(name)).filter(|v| !expr::contains_unknown(v));
        planned.or_else(|| self.props.get(name)).map(expr::copy)
    }
}

impl Scope for PlanScope<'_, '_> {
    fn lookup(&self, path: &[Seg]) -> Result<Lookup, String> {
        lookup_known(path, self.account_id, |a| self.settled.contains_key(a), |a, attr| self.settled.get(a).and_then(|s| s.attribute(self.actions, attr)))
    }
}

/// A node's properties with every marker the scope can answer resolved.
fn resolve_props(props: &Props, scope: &dyn Scope) -> Result<Props, String> {
    if props.len() == 1 && props.contains_key(expr::UNKNOWN_KEY) {
        // The map itself reads as a marker: resolve it as one.
        return Ok(match expr::resolve(&Value::Object(props.clone()), scope)? {
            Value::Object(p) => p,
            _ => Props::new(),
        });
    }
    props.iter().map(|(k, v)| Ok((k.clone(), expr::resolve(v, scope)?))).collect()
}

/// Compares desired properties and tags with what AWS holds.
pub fn diff_resource(
    schema_props: &[crate::provider::PropSpec],
    taggable: bool,
    desired: &Props,
    tags: &Tags,
    observed: &Observed,
    ignore: &[String],
) -> Vec<Change> {
    diff_against(schema_props, taggable, desired, tags, &observed.props, &observed.tags, ignore)
}

/// [`diff_resource`] against properties and tags wherever they are held (a record or a refresh).
fn diff_against(
    schema_props: &[crate::provider::PropSpec],
    taggable: bool,
    desired: &Props,
    tags: &Tags,
    have_props: &Props,
    have_tags: &Tags,
    ignore: &[String],
) -> Vec<Change> {
    let mut changes = vec![];
    for p in schema_props {
        if p.local || ignore.iter().any(|i| i == p.name) {
            continue;
        }
        let want = match desired.get(p.name) {
            Some(v) => expr::copy(v),
            None => match p.default.and_then(|d| serde_json::from_str::<Value>(d).ok()) {
                Some(d) => d,
                None => continue,
            },
        };
        let have = have_props.get(p.name);
        if expr::contains_unknown(&want) || !diff::same(p.ty, &want, have) {
            changes.push(Change { path: p.name.to_string(), before: have.map(expr::copy), after: Some(want), forces_replacement: p.force_new });
        }
    }
    if taggable && !ignore.iter().any(|i| i == "tags") {
        let keys: BTreeSet<&String> = tags.keys().chain(have_tags.keys().filter(|k| !k.starts_with("aws:"))).collect();
        for k in keys {
            let (a, b) = (have_tags.get(k), tags.get(k));
            if a != b {
                changes.push(Change {
                    path: format!("tags[\"{k}\"]"),
                    before: a.map(|v| Value::String(v.clone())),
                    after: b.map(|v| Value::String(v.clone())),
                    forces_replacement: false,
                });
            }
        }
    }
    changes
}

/// Differences between a recorded resource and what was read: changes made outside cairn.
fn drift_of(record: &ResourceRecord, observed: &Observed) -> Vec<Change> {
    let mut changes = vec![];
    let keys: BTreeSet<&String> = record.props.keys().chain(observed.props.keys()).collect();
    for k in keys {
        let (a, b) = (record.props.get(k), observed.props.get(k));
        let same = match (a, b) {
            (Some(a), b) => diff::same(PropType::Policy, a, b) && (a.get("Statement").is_some() || diff::same(PropType::Object, a, b)),
            (None, Some(b)) => b.is_null(),
            (None, None) => true,
        };
        if !same {
            changes.push(Change { path: k.clone(), before: a.cloned(), after: b.cloned(), forces_replacement: false });
        }
    }
    let tag_keys: BTreeSet<&String> = record.tags.keys().chain(observed.tags.keys()).filter(|k| !k.starts_with("aws:")).collect();
    for k in tag_keys {
        let (a, b) = (record.tags.get(k), observed.tags.get(k));
        if a != b {
            changes.push(Change {
                path: format!("tags[\"{k}\"]"),
                before: a.map(|v| Value::String(v.clone())),
                after: b.map(|v| Value::String(v.clone())),
                forces_replacement: false,
            });
        }
    }
    changes
}

/// Makes the plan. Pure: no I/O, no clocks; the same input gives the same plan.
pub fn plan(input: &PlanInput) -> Result<Plan, Vec<PlanError>> {
    let graph = input.graph;
    let mut errors = vec![];
    input.snapshot.check_location(&graph.region, graph.account_id.as_deref()).map_err(|e| vec![e.into()])?;

    // `moved:` renames recorded addresses before anything is compared.
    // Copied only when a `moved:` entry must rename something: a copy of the whole state per plan
    // doubled its memory for nothing.
    let mut records = Cow::Borrowed(&input.snapshot.resources);
    let mut observed = Cow::Borrowed(input.observed);
    let mut moved = vec![];
    for (from, to) in &graph.moved {
        if records.contains_key(to) || !records.contains_key(from) {
            continue;
        }
        let (records, observed) = (records.to_mut(), observed.to_mut());
        if let Some(mut r) = records.remove(from) {
            r.address = to.clone();
            records.insert(to.clone(), r);
            if let Some(o) = observed.remove(from) {
                observed.insert(to.clone(), o);
            }
            moved.push((from.clone(), to.clone()));
        }
    }

    let mut drift = vec![];
    for (addr, r) in records.iter() {
        match observed.get(addr) {
            Some(None) => drift.push(Drift { address: addr.clone(), kind: r.kind.clone(), deleted: true, changes: vec![] }),
            Some(Some(o)) => {
                let changes = drift_of(r, o);
                if !changes.is_empty() {
                    drift.push(Drift { address: addr.clone(), kind: r.kind.clone(), deleted: false, changes });
                }
            }
            None => {}
        }
    }

    let mut settled: BTreeMap<&str, Settled> = BTreeMap::new();
    let mut actions: Vec<PlannedAction> = vec![];
    let order = match graph.topo_addresses() {
        Ok(o) => o,
        Err(cycle) => {
            return Err(vec![PlanError::Invalid { address: cycle[0].clone(), message: format!("dependency cycle: {}", cycle.join(" -> ")) }]);
        }
    };

    if input.mode == PlanMode::Apply {
        for &address in &order {
            let node = &graph.nodes[address];
            let Some(schema) = input.schemas.schema_of(&node.kind) else {
                errors.push(PlanError::UnknownKind { address: address.to_string(), kind: node.kind.clone() });
                continue;
            };
            let scope = PlanScope { settled: &settled, actions: &actions, account_id: graph.account_id.as_deref() };
            let props = match resolve_props(&node.props, &scope) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(PlanError::Invalid { address: address.to_string(), message: e });
                    continue;
                }
            };
            let deps: Vec<String> = node.deps.iter().cloned().collect();
            let record = records.get(address);
            let obs = observed.get(address);
            let mut action = PlannedAction {
                address: address.to_string(),
                kind: node.kind.clone(),
                action: Action::Create,
                reasons: vec![],
                id: None,
                // Set last, when `props` is no longer needed, so that it moves in instead of being copied.
                desired: None,
                changes: vec![],
                deps,
                replace_order: None,
                replaced_kind: None,
            };
            let mut settles = None;
            match (record, obs) {
                (None, _) => {
                    action.changes = creation_tag_changes(&node.tags, schema.taggable);
                }
                (Some(_), Some(None)) => {
                    action.reasons.push("it was deleted outside cairn".into());
                    action.changes = creation_tag_changes(&node.tags, schema.taggable);
                }
                (Some(r), _) if r.kind != node.kind => {
                    let id = obs.and_then(|o| o.as_ref().map(|o| o.id.clone())).unwrap_or_else(|| r.id.clone());
                    action.action = Action::Replace;
                    action.id = Some(id);
                    action.reasons.push(format!("its type changed from {} to {}", r.kind, node.kind));
                    action.replaced_kind = Some(r.kind.clone());
                    action.changes = creation_tag_changes(&node.tags, schema.taggable);
                }
                (Some(r), o) => {
                    // Not refreshed (`-refresh=false`): compare with what state recorded.
                    let (id, have_props, have_attrs, have_tags) = match o {
                        Some(Some(o)) => (&o.id, &o.props, &o.attrs, &o.tags),
                        _ => (&r.id, &r.props, &r.attrs, &r.tags),
                    };
                    action.id = Some(id.clone());
                    action.changes = diff_against(schema.props, schema.taggable, &props, &node.tags, have_props, have_tags, &node.lifecycle.ignore_changes);
                    let forcing: Vec<&Change> = action.changes.iter().filter(|c| c.forces_replacement).collect();
                    if !forcing.is_empty() {
                        action.action = Action::Replace;
                        for c in forcing {
                            let why = if c.after.as_ref().is_some_and(expr::contains_unknown) {
                                "may force replacement (its new value is known only after apply)"
                            } else {
                                "forces replacement"
                            };
                            action.reasons.push(format!("`{}` {why}", c.path));
                        }
                    } else if !action.changes.is_empty() {
                        action.action = Action::Update;
                    } else {
                        action.action = Action::NoOp;
                    }
                    if matches!(action.action, Action::NoOp | Action::Update) {
                        // Attributes survive an in-place update; properties take their new values.
                        settles = Some(Settled { id: id.as_str(), attrs: have_attrs, props: have_props, action: actions.len() });
                    }
                }
            }
            if action.action == Action::Replace {
                action.replace_order =
                    Some(if node.lifecycle.create_before_destroy { ReplaceOrder::CreateBeforeDelete } else { ReplaceOrder::DeleteBeforeCreate });
                if node.lifecycle.protect && !input.allow_destroy.contains(address) {
                    errors.push(PlanError::Protected { address: address.to_string(), verb: "replace" });
                }
            }
            action.desired = Some(DesiredResource { props, tags: node.tags.clone(), owner: node.owner.clone(), default_name: node.default_name.clone() });
            if let Some(s) = settles {
                settled.insert(address, s);
            }
            actions.push(action);
        }
    }

    // Resolved while `settled` still indexes the actions in the order they were made.
    let outputs = if input.mode == PlanMode::Apply && errors.is_empty() {
        let scope = PlanScope { settled: &settled, actions: &actions, account_id: graph.account_id.as_deref() };
        graph.outputs.iter().map(|(k, v)| (k.clone(), expr::resolve(v, &scope).unwrap_or_else(|_| v.clone()))).collect()
    } else {
        BTreeMap::new()
    };
    drop(settled);

    for (addr, r) in records.iter() {
        let in_stack = graph.nodes.contains_key(addr);
        if input.mode == PlanMode::Apply && in_stack {
            continue;
        }
        if let Some(node) = graph.nodes.get(addr) {
            if node.lifecycle.protect && !input.allow_destroy.contains(addr) {
                errors.push(PlanError::Protected { address: addr.clone(), verb: "destroy" });
            }
        }
        if matches!(observed.get(addr), Some(None)) {
            // Already gone: deleting it only forgets the record.
            actions.push(PlannedAction {
                address: addr.clone(),
                kind: r.kind.clone(),
                action: Action::Delete,
                reasons: vec!["it no longer exists; only the state record is removed".into()],
                id: Some(r.id.clone()),
                desired: None,
                changes: vec![],
                deps: r.deps.clone(),
                replace_order: None,
                replaced_kind: None,
            });
            continue;
        }
        let reason = if deposed_of(addr).is_some() {
            "a deposed object: the old resource of a create-before-destroy replace whose delete did not complete"
        } else if input.mode == PlanMode::Destroy {
            "destroy was requested"
        } else {
            "it is no longer in the stack"
        };
        actions.push(PlannedAction {
            address: addr.clone(),
            kind: r.kind.clone(),
            action: Action::Delete,
            reasons: vec![reason.into()],
            id: Some(r.id.clone()),
            desired: None,
            changes: vec![],
            deps: r.deps.clone(),
            replace_order: None,
            replaced_kind: None,
        });
    }
    actions.sort_by(|a, b| a.address.cmp(&b.address));

    if !errors.is_empty() {
        return Err(errors);
    }

    let mut summary = Summary::default();
    for a in &actions {
        match a.action {
            Action::Create => summary.add += 1,
            Action::Update => summary.change += 1,
            Action::Replace => {
                summary.add += 1;
                summary.destroy += 1;
            }
            Action::Delete => summary.destroy += 1,
            Action::NoOp => {}
        }
    }

    Ok(Plan {
        format_version: PLAN_FORMAT,
        stack: graph.stack.clone(),
        env: graph.env.clone(),
        region: graph.region.clone(),
        account_id: graph.account_id.clone(),
        mode: input.mode,
        lineage: input.snapshot.lineage.clone(),
        serial: input.snapshot.serial,
        actions,
        drift,
        moved,
        outputs,
        exceptions: graph
            .exceptions
            .iter()
            .map(|(rule, address, reason)| PolicyException { rule: rule.clone(), address: address.clone(), reason: reason.clone() })
            .collect(),
        summary,
        backend: None,
    })
}

/// A create's tag changes. Its prop changes are not stored: they are `desired.props` again, and
/// at 10,000 resources that copy was half the plan's memory; `PlannedAction::shown_changes`
/// derives them when a plan is shown.
fn creation_tag_changes(tags: &Tags, taggable: bool) -> Vec<Change> {
    if !taggable {
        return vec![];
    }
    tags.iter()
        .map(|(k, v)| Change { path: format!("tags[\"{k}\"]"), before: None, after: Some(Value::String(v.clone())), forces_replacement: false })
        .collect()
}
