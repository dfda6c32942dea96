//! The applier: runs a plan's actions concurrently in dependency order, journaling every cloud mutation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::expr;
use crate::plan::{Action, KnownScope, Plan, PlanMode, PlannedAction, ReplaceOrder};
use crate::provider::{Desired, Observed, ProviderError, Registry, ResourceKind};
use crate::state::{JournalAction, OpIntent, OpOutcome, ResourceRecord, StateError, StateStore};

/// What happened to one planned action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Outcome {
    Done {
        elapsed_ms: u64,
    },
    Failed {
        error: String,
    },
    /// Not attempted because something it depends on failed or was skipped.
    Blocked {
        because: String,
    },
    /// Not attempted because the run was interrupted.
    NotStarted,
}

/// Progress reported while applying; the binary renders it.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyEvent {
    Started { address: String, action: Action },
    Finished { address: String, action: Action, elapsed: Duration },
    Failed { address: String, action: Action, error: String },
    Blocked { address: String, because: String },
    Interrupted { in_flight: usize },
}

pub trait ApplyObserver: Send + Sync {
    fn event(&self, event: ApplyEvent);
}

/// Discards events.
pub struct Silent;
impl ApplyObserver for Silent {
    fn event(&self, _: ApplyEvent) {}
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub outcomes: BTreeMap<String, Outcome>,
    pub interrupted: bool,
    pub outputs: BTreeMap<String, Value>,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        !self.interrupted && self.outcomes.values().all(|o| matches!(o, Outcome::Done { .. }))
    }
    pub fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.values().filter(|o| f(o)).count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the state changed since this plan was made (plan: lineage {plan_lineage} serial {plan_serial}; state: lineage {lineage} serial {serial}); run plan again")]
    Stale { plan_lineage: String, plan_serial: u64, lineage: String, serial: u64 },
    #[error("this plan has no implementation for type {0}")]
    UnknownKind(String),
    #[error(transparent)]
    State(#[from] StateError),
}

pub struct ApplyOptions {
    /// How many cloud mutations may be in flight at once.
    pub parallelism: usize,
    /// Set to true to stop scheduling new work (Ctrl-C); in-flight calls finish and are recorded.
    pub cancel: watch::Receiver<bool>,
}

/// The default parallelism: AWS control-plane APIs throttle per account and region at a
/// few requests per second, so more workers only buy throttling retries.
pub const DEFAULT_PARALLELISM: usize = 4;

type TaskResult = (String, Result<Option<Observed>, String>, Duration);

/// Applies a plan. Refuses a plan made against another state; never re-plans.
pub async fn apply(
    plan: &Plan,
    registry: &Registry,
    store: Arc<dyn StateStore>,
    opts: ApplyOptions,
    observer: &dyn ApplyObserver,
) -> Result<ApplyReport, ApplyError> {
    let snapshot = store.snapshot().await?;
    if snapshot.lineage != plan.lineage || snapshot.serial != plan.serial {
        return Err(ApplyError::Stale { plan_lineage: plan.lineage.clone(), plan_serial: plan.serial, lineage: snapshot.lineage, serial: snapshot.serial });
    }
    for a in plan.actions.iter().filter(|a| a.action != Action::NoOp) {
        if registry.get(&a.kind).is_none() {
            return Err(ApplyError::UnknownKind(a.kind.clone()));
        }
    }

    for (from, to) in &plan.moved {
        if let Some(mut r) = snapshot.resources.get(from).cloned() {
            r.address = to.clone();
            store.put_record(&r).await?;
            store.remove_record(from).await?;
        }
    }
    let mut records = store.snapshot().await?.resources;
    let mut known = KnownScope::from_records(&records, plan.account_id.clone());

    let work: BTreeMap<&str, &PlannedAction> = plan.actions.iter().filter(|a| a.action != Action::NoOp).map(|a| (a.address.as_str(), a)).collect();
    let waits = wait_sets(plan, &records, &work);

    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut pending: BTreeSet<&str> = work.keys().copied().collect();
    let mut running: JoinSet<TaskResult> = JoinSet::new();
    // Which address each task works on, so a task that panics still gets an outcome.
    let mut task_addresses: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut cancel = opts.cancel;
    let mut interrupted = *cancel.borrow();
    // A dropped sender means nobody can cancel any more, not that the run was cancelled.
    let mut cancel_open = true;
    let parallelism = opts.parallelism.max(1);

    loop {
        // Anything waiting on a failure is blocked, transitively.
        loop {
            let blocked: Vec<(&str, String)> = pending
                .iter()
                .filter_map(|a| {
                    waits[a]
                        .iter()
                        .find(|w| matches!(outcomes.get(**w), Some(Outcome::Failed { .. } | Outcome::Blocked { .. })))
                        .map(|w| (*a, (*w).to_string()))
                })
                .collect();
            if blocked.is_empty() {
                break;
            }
            for (a, because) in blocked {
                pending.remove(a);
                observer.event(ApplyEvent::Blocked { address: a.to_string(), because: because.clone() });
                outcomes.insert(a.to_string(), Outcome::Blocked { because });
            }
        }

        if !interrupted {
            let ready: Vec<&str> =
                pending.iter().filter(|a| waits[*a].iter().all(|w| matches!(outcomes.get(*w), Some(Outcome::Done { .. })))).copied().collect();
            for address in ready {
                if running.len() >= parallelism {
                    break;
                }
                pending.remove(address);
                let action = work[address].clone();
                let kind = registry.get(&action.kind).cloned().ok_or_else(|| ApplyError::UnknownKind(action.kind.clone()))?;
                let desired = match desired_for(&action, &known) {
                    Ok(d) => d,
                    Err(e) => {
                        observer.event(ApplyEvent::Failed { address: address.to_string(), action: action.action, error: e.clone() });
                        outcomes.insert(address.to_string(), Outcome::Failed { error: e });
                        continue;
                    }
                };
                let deps = action.deps.clone();
                observer.event(ApplyEvent::Started { address: address.to_string(), action: action.action });
                let store = store.clone();
                let task = running.spawn(async move {
                    let started = Instant::now();
                    let result = run_action(&action, desired, deps, kind, store).await;
                    (action.address.clone(), result, started.elapsed())
                });
                task_addresses.insert(task.id(), address.to_string());
            }
        }

        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next_with_id() => {
                let Some(joined) = joined else { continue };
                let (address, result, elapsed) = match joined {
                    Ok((id, r)) => {
                        task_addresses.remove(&id);
                        r
                    }
                    Err(e) => (task_addresses.remove(&e.id()).unwrap_or_default(), Err(format!("internal error: {e}")), Duration::ZERO),
                };
                let action = work.get(address.as_str()).map(|a| a.action).unwrap_or(Action::NoOp);
                match result {
                    Ok(obs) => {
                        match obs {
                            Some(o) => { known.resources.insert(address.clone(), o); }
                            None => { known.resources.remove(&address); records.remove(&address); }
                        }
                        observer.event(ApplyEvent::Finished { address: address.clone(), action, elapsed });
                        outcomes.insert(address, Outcome::Done { elapsed_ms: elapsed.as_millis() as u64 });
                    }
                    Err(error) => {
                        observer.event(ApplyEvent::Failed { address: address.clone(), action, error: error.clone() });
                        outcomes.insert(address, Outcome::Failed { error });
                    }
                }
            }
            changed = cancel.changed(), if !interrupted && cancel_open => {
                if changed.is_err() {
                    cancel_open = false;
                } else if *cancel.borrow() {
                    interrupted = true;
                    observer.event(ApplyEvent::Interrupted { in_flight: running.len() });
                }
            }
        }
    }
    for a in pending {
        outcomes.insert(a.to_string(), if interrupted { Outcome::NotStarted } else { Outcome::Blocked { because: "an unfinished dependency".into() } });
    }

    let mut outputs = BTreeMap::new();
    if plan.mode == PlanMode::Apply {
        for (k, v) in &plan.outputs {
            if let Ok(v) = expr::resolve(v, &known) {
                if !expr::contains_unknown(&v) {
                    outputs.insert(k.clone(), v);
                }
            }
        }
    }
    store.set_outputs(&outputs).await?;
    let op = if plan.mode == PlanMode::Destroy { "destroy" } else { "apply" };
    store.record_history(op).await?;
    Ok(ApplyReport { outcomes, interrupted, outputs })
}

/// For each action, the actions that must finish first.
fn wait_sets<'p>(plan: &'p Plan, records: &BTreeMap<String, ResourceRecord>, work: &BTreeMap<&'p str, &'p PlannedAction>) -> BTreeMap<&'p str, Vec<&'p str>> {
    let mut waits: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (addr, a) in work {
        let mut w: Vec<&str> = vec![];
        match a.action {
            Action::Create | Action::Update | Action::Replace => {
                for d in &a.deps {
                    if let Some((k, dep)) = work.get_key_value(d.as_str()) {
                        if dep.action != Action::Delete {
                            w.push(k);
                        }
                    }
                }
            }
            Action::Delete => {
                // Whatever depended on this resource must let go of it first: deleted, or
                // updated so it no longer references it.
                for (other, r) in records {
                    if r.deps.iter().any(|d| d == addr) {
                        if let Some((k, _)) = work.get_key_value(other.as_str()) {
                            w.push(k);
                        }
                    }
                }
            }
            Action::NoOp => {}
        }
        w.sort();
        w.dedup();
        waits.insert(addr, w);
    }
    let _ = plan;
    waits
}

/// Resolves what is now known (attributes of resources created earlier in this run).
fn desired_for(action: &PlannedAction, known: &KnownScope) -> Result<Option<Desired>, String> {
    let Some(d) = &action.desired else { return Ok(None) };
    let props = match expr::resolve(&Value::Object(d.props.clone()), known)? {
        Value::Object(p) => p,
        _ => return Err("properties did not resolve to a mapping".into()),
    };
    if expr::contains_unknown(&Value::Object(props.clone())) {
        let mut missing = vec![];
        expr::refs_in(&Value::Object(props.clone()), &mut missing);
        let names: Vec<String> = missing.iter().map(|p| expr::path_text(p)).collect();
        return Err(format!("AWS returned no value for {} although the resource exists; this property cannot be set", names.join(", ")));
    }
    Ok(Some(Desired {
        props,
        tags: d.tags.clone(),
        owner: d.owner.clone(),
        default_name: d.default_name.clone(),
        idempotency_token: idempotency_token(&d.owner.stack, &d.owner.env, &action.address),
    }))
}

/// A token stable for one resource of one stack and env, so a retried create is recognised.
pub fn idempotency_token(stack: &str, env: &str, address: &str) -> String {
    let s = format!("{stack}/{env}/{address}");
    let h = s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    format!("cairn-{h:016x}")
}

fn record_of(action: &PlannedAction, deps: Vec<String>, o: &Observed) -> ResourceRecord {
    ResourceRecord {
        address: action.address.clone(),
        kind: action.kind.clone(),
        id: o.id.clone(),
        props: o.props.clone(),
        attrs: o.attrs.clone(),
        tags: o.tags.clone(),
        deps,
    }
}

fn describe(e: &ProviderError) -> String {
    let hint = match e {
        ProviderError::AccessDenied(_) => " (the caller lacks a permission: `cairn iam-policy` prints what this stack needs)",
        ProviderError::Throttled(_) => " (AWS throttled the call past the retry budget; lower --parallelism)",
        ProviderError::Conflict(_) => " (the resource is in use or changing; retry later)",
        _ => "",
    };
    format!("{e}{hint}")
}

/// Runs one action, bracketing every cloud mutation with a journal row.
async fn run_action(
    action: &PlannedAction,
    desired: Option<Desired>,
    deps: Vec<String>,
    kind: Arc<dyn ResourceKind>,
    store: Arc<dyn StateStore>,
) -> Result<Option<Observed>, String> {
    let err = |e: StateError| format!("state: {e}");
    match action.action {
        Action::NoOp => Ok(None),
        Action::Create => {
            let d = desired.ok_or("create without a desired state")?;
            create(action, &d, deps, kind.as_ref(), store.as_ref()).await.map(Some)
        }
        Action::Update => {
            let d = desired.ok_or("update without a desired state")?;
            let id = action.id.clone().unwrap_or_default();
            let op = store
                .begin_op(&OpIntent {
                    address: action.address.clone(),
                    kind: action.kind.clone(),
                    action: JournalAction::Update,
                    id: id.clone(),
                    desired: Some(d.clone()),
                })
                .await
                .map_err(err)?;
            let changed: Vec<String> = action
                .changes
                .iter()
                .map(|c| if c.path.starts_with("tags[") { "tags".to_string() } else { c.path.clone() })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            match kind.update(&id, &d, &changed).await {
                Ok(o) => {
                    store.finish_op(op, &OpOutcome::Applied(record_of(action, deps, &o))).await.map_err(err)?;
                    Ok(Some(o))
                }
                Err(e) => {
                    store.finish_op(op, &OpOutcome::Failed { error: e.to_string() }).await.map_err(err)?;
                    Err(describe(&e))
                }
            }
        }
        Action::Delete => {
            delete(action, kind.as_ref(), store.as_ref()).await?;
            Ok(None)
        }
        Action::Replace => {
            let d = desired.ok_or("replace without a desired state")?;
            match action.replace_order.unwrap_or(ReplaceOrder::DeleteBeforeCreate) {
                ReplaceOrder::DeleteBeforeCreate => {
                    delete(action, kind.as_ref(), store.as_ref()).await?;
                    create(action, &d, deps, kind.as_ref(), store.as_ref()).await.map(Some)
                }
                ReplaceOrder::CreateBeforeDelete => {
                    let new = create(action, &d, deps.clone(), kind.as_ref(), store.as_ref()).await?;
                    let old = action.id.clone().unwrap_or_default();
                    let op = store
                        .begin_op(&OpIntent {
                            address: action.address.clone(),
                            kind: action.kind.clone(),
                            action: JournalAction::Delete,
                            id: old.clone(),
                            desired: None,
                        })
                        .await
                        .map_err(err)?;
                    match kind.delete(&old).await {
                        // The record already describes the new resource; finishing re-applies it.
                        Ok(()) => store.finish_op(op, &OpOutcome::Applied(record_of(action, deps, &new))).await.map_err(err)?,
                        Err(e) => {
                            store.finish_op(op, &OpOutcome::Failed { error: e.to_string() }).await.map_err(err)?;
                            return Err(format!("created the replacement, but deleting the old resource {old} failed: {}", describe(&e)));
                        }
                    }
                    Ok(Some(new))
                }
            }
        }
    }
}

async fn create(action: &PlannedAction, d: &Desired, deps: Vec<String>, kind: &dyn ResourceKind, store: &dyn StateStore) -> Result<Observed, String> {
    let err = |e: StateError| format!("state: {e}");
    let op = store
        .begin_op(&OpIntent {
            address: action.address.clone(),
            kind: action.kind.clone(),
            action: JournalAction::Create,
            id: String::new(),
            desired: Some(d.clone()),
        })
        .await
        .map_err(err)?;
    match kind.create(d).await {
        Ok(o) => {
            store.finish_op(op, &OpOutcome::Applied(record_of(action, deps, &o))).await.map_err(err)?;
            Ok(o)
        }
        Err(e) => {
            // A create can fail after AWS made the resource (a timeout on the response,
            // a failing follow-up call): adopt it rather than leave an orphan.
            if let Ok(Some(o)) = kind.find_owned(d).await {
                store.finish_op(op, &OpOutcome::Applied(record_of(action, deps, &o))).await.map_err(err)?;
                return Err(format!("{} (the resource was created and is recorded; the next apply completes it)", describe(&e)));
            }
            store.finish_op(op, &OpOutcome::Failed { error: e.to_string() }).await.map_err(err)?;
            Err(describe(&e))
        }
    }
}

async fn delete(action: &PlannedAction, kind: &dyn ResourceKind, store: &dyn StateStore) -> Result<(), String> {
    let err = |e: StateError| format!("state: {e}");
    let id = action.id.clone().unwrap_or_default();
    let op = store
        .begin_op(&OpIntent { address: action.address.clone(), kind: action.kind.clone(), action: JournalAction::Delete, id: id.clone(), desired: None })
        .await
        .map_err(err)?;
    match kind.delete(&id).await {
        Ok(()) => {
            store.finish_op(op, &OpOutcome::Deleted { address: action.address.clone() }).await.map_err(err)?;
            Ok(())
        }
        Err(e) => {
            store.finish_op(op, &OpOutcome::Failed { error: e.to_string() }).await.map_err(err)?;
            Err(describe(&e))
        }
    }
}
