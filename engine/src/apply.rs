//! The applier: runs a plan's actions concurrently in dependency order, journaling every cloud mutation.

mod budgets;
mod critical;
mod ops;
mod schedule;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::expr;
use crate::plan::{Action, KnownScope, Plan, PlanMode, PlannedAction, ReplaceOrder};
use crate::provider::{Desired, Observed, Registry};
use crate::state::{deposed_address, deposed_of, LocationMismatch, ResourceRecord, StateError, StateStore};

pub use budgets::{budget_keys, default_service_limits, parse_service_limit, service_limits_with, LimitParseError, ServiceBudget, DEFAULT_SERVICE_BUDGETS};
pub use critical::{service_of, CriticalPath, Weights};
pub use ops::RetryPolicy;

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
    Started {
        address: String,
        action: Action,
    },
    Finished {
        address: String,
        action: Action,
        elapsed: Duration,
    },
    Failed {
        address: String,
        action: Action,
        error: String,
    },
    Blocked {
        address: String,
        because: String,
    },
    Interrupted {
        in_flight: usize,
    },
    /// The state lock was lost (another run may hold it): nothing new starts.
    LockLost {
        in_flight: usize,
    },
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
    /// The run stopped early because the state lock was lost; outputs and history were not written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub lock_lost: bool,
    pub outputs: BTreeMap<String, Value>,
    /// The longest chain of this run by measured durations, and the wall time over it; absent
    /// when nothing ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critical_path: Option<CriticalPath>,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        !self.interrupted && !self.lock_lost && self.outcomes.values().all(|o| matches!(o, Outcome::Done { .. }))
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
    Location(#[from] LocationMismatch),
    #[error(transparent)]
    State(#[from] StateError),
}

pub struct ApplyOptions {
    /// How many cloud mutations may be in flight at once.
    pub parallelism: usize,
    /// Set to true to stop scheduling new work (Ctrl-C, SIGTERM); in-flight calls finish and are recorded.
    pub cancel: watch::Receiver<bool>,
    /// Set to true when the state lock's lease could not be renewed: like `cancel`, and the
    /// report says the lock was lost.
    pub lock_lost: watch::Receiver<bool>,
    pub retry: RetryPolicy,
    /// Expected duration per kind and action: the ready action with the heaviest chain ahead
    /// of it starts first.
    pub weights: Weights,
    /// Most actions in flight at once per service (`aws.eks`, see `service_of`) or per kind
    /// (`aws.ec2.nat_gateway`), within `parallelism`; an action counts against both its kind's
    /// and its service's budget, and one with neither listed is bounded by `parallelism` alone.
    pub service_limits: BTreeMap<String, usize>,
}

impl ApplyOptions {
    /// Options with a lock that cannot be lost, the default retry policy and the default
    /// service budgets (`DEFAULT_SERVICE_BUDGETS`).
    pub fn new(parallelism: usize, cancel: watch::Receiver<bool>) -> ApplyOptions {
        // The sender is dropped at once: a closed channel never reports a loss.
        let (_, lock_lost) = watch::channel(false);
        ApplyOptions { parallelism, cancel, lock_lost, retry: RetryPolicy::default(), weights: Weights::default(), service_limits: default_service_limits() }
    }
}

/// The default parallelism: AWS control-plane APIs throttle per account and region at a
/// few requests per second, so more workers only buy throttling retries.
pub const DEFAULT_PARALLELISM: usize = 4;

/// The action's number in the schedule, its result and how long it took.
type TaskResult = (usize, Result<Option<Observed>, String>, Duration);

/// The delete of the old half of each create-before-destroy replace: a step of its own, so
/// that dependents move to the replacement before the old resource goes.
fn deposed_deletes(plan: &Plan) -> Vec<PlannedAction> {
    plan.actions
        .iter()
        .filter(|a| a.action == Action::Replace && a.replace_order == Some(ReplaceOrder::CreateBeforeDelete))
        .map(|a| PlannedAction {
            address: deposed_address(&a.address),
            kind: a.replaced_kind.clone().unwrap_or_else(|| a.kind.clone()),
            action: Action::Delete,
            reasons: vec!["the old resource of a create-before-destroy replace".into()],
            id: a.id.clone(),
            desired: None,
            changes: vec![],
            deps: vec![],
            replace_order: None,
            replaced_kind: None,
        })
        .collect()
}

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
    snapshot.check_location(&plan.region, plan.account_id.as_deref())?;
    for a in plan.actions.iter().filter(|a| a.action != Action::NoOp) {
        for kind in std::iter::once(&a.kind).chain(&a.replaced_kind) {
            if registry.get(kind).is_none() {
                return Err(ApplyError::UnknownKind(kind.clone()));
            }
        }
    }
    // The first apply records where the resources live; later ones refuse another place (above).
    let account = plan.account_id.as_deref().or(snapshot.account_id.as_deref());
    if snapshot.region.as_deref() != Some(plan.region.as_str()) || snapshot.account_id.as_deref() != account {
        store.set_location(&plan.region, account).await?;
    }

    for (from, to) in &plan.moved {
        store.move_record(from, to).await?;
    }
    let mut records = store.snapshot().await?.resources;
    let mut known = KnownScope::from_records(&records, plan.account_id.clone());

    let synthetic = deposed_deletes(plan);
    let mut work: BTreeMap<&str, &PlannedAction> = plan.actions.iter().filter(|a| a.action != Action::NoOp).map(|a| (a.address.as_str(), a)).collect();
    // A deposed object left by an earlier run of a resource now replaced again is deleted
    // inside that replace, before the current one is deposed; its own entry gives way.
    work.extend(synthetic.iter().map(|a| (a.address.as_str(), a)));
    let waits = wait_sets(&records, &work);
    let priority = critical::priorities(&waits, |a| opts.weights.weight(&work[a].kind, work[a].action));
    let mut sched = schedule::Schedule::new(&waits, |a| priority[a], |a| budget_keys(&work[a].kind), &opts.service_limits);
    let mut measured: HashMap<String, Duration> = HashMap::new();
    let run_started = Instant::now();
    let ctx = Arc::new(ops::Ctx {
        store: store.clone(),
        registry: registry.clone(),
        retry: opts.retry.clone(),
        taken: records.values().map(|r| r.id.clone()).collect(),
    });

    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut running: JoinSet<TaskResult> = JoinSet::new();
    // Which action each task works on, so a task that panics still gets an outcome.
    let mut task_actions: HashMap<tokio::task::Id, usize> = HashMap::new();
    let mut cancel = opts.cancel;
    let mut interrupted = *cancel.borrow();
    // A dropped sender means nobody can cancel any more, not that the run was cancelled.
    let mut cancel_open = true;
    let mut lock_rx = opts.lock_lost;
    let mut lock_lost = *lock_rx.borrow();
    let mut lock_open = true;
    let parallelism = opts.parallelism.max(1);

    loop {
        block_dependents(&mut sched, observer, &mut outcomes);

        // Longest remaining chain first; ties keep address order. An action whose budget is
        // spent waits in the schedule while others start.
        while !interrupted && !lock_lost && running.len() < parallelism {
            let Some(i) = sched.next() else { break };
            let address = sched.address(i);
            let action = work[address].clone();
            let kind = registry.get(&action.kind).cloned().ok_or_else(|| ApplyError::UnknownKind(action.kind.clone()))?;
            let old_kind_name = action.replaced_kind.as_deref().unwrap_or(&action.kind);
            let old_kind = registry.get(old_kind_name).cloned().ok_or_else(|| ApplyError::UnknownKind(old_kind_name.to_string()))?;
            let desired = match desired_for(&action, &known) {
                Ok(d) => d,
                Err(e) => {
                    observer.event(ApplyEvent::Failed { address: address.to_string(), action: action.action, error: e.clone() });
                    outcomes.insert(address.to_string(), Outcome::Failed { error: e });
                    sched.finished(i, false);
                    continue;
                }
            };
            observer.event(ApplyEvent::Started { address: address.to_string(), action: action.action });
            sched.started(i);
            let ctx = ctx.clone();
            let task = running.spawn(async move {
                let started = Instant::now();
                let result = match (action.action, deposed_of(&action.address)) {
                    (Action::Delete, Some(_)) => {
                        ops::delete_deposed(&ctx, &action.address, &action.kind, action.id.as_deref().unwrap_or_default(), kind.as_ref()).await.map(|()| None)
                    }
                    _ => ops::run_action(&ctx, &action, desired, kind, old_kind).await,
                };
                (i, result, started.elapsed())
            });
            task_actions.insert(task.id(), i);
        }

        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next_with_id() => {
                let Some(joined) = joined else { continue };
                let (i, result, elapsed) = match joined {
                    Ok((id, r)) => {
                        task_actions.remove(&id);
                        r
                    }
                    Err(e) => match task_actions.remove(&e.id()) {
                        Some(i) => (i, Err(format!("internal error: {e}")), Duration::ZERO),
                        // Every task is recorded when spawned; nothing to attribute this to.
                        None => continue,
                    },
                };
                let address = sched.address(i).to_string();
                let action = work[address.as_str()].action;
                sched.finished(i, result.is_ok());
                match result {
                    Ok(obs) => {
                        match obs {
                            Some(o) => { known.resources.insert(address.clone(), o); }
                            None => { known.resources.remove(&address); records.remove(&address); }
                        }
                        observer.event(ApplyEvent::Finished { address: address.clone(), action, elapsed });
                        measured.insert(address.clone(), elapsed);
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
            changed = lock_rx.changed(), if !lock_lost && lock_open => {
                if changed.is_err() {
                    lock_open = false;
                } else if *lock_rx.borrow() {
                    lock_lost = true;
                    observer.event(ApplyEvent::LockLost { in_flight: running.len() });
                }
            }
        }
    }
    // A failure to start the last actions has not blocked their dependents yet.
    block_dependents(&mut sched, observer, &mut outcomes);
    for i in sched.not_started() {
        outcomes.insert(
            sched.address(i).to_string(),
            if interrupted || lock_lost { Outcome::NotStarted } else { Outcome::Blocked { because: "an unfinished dependency".into() } },
        );
    }

    let critical_path = critical::critical_path(&waits, &measured, run_started.elapsed());

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
    if lock_lost {
        // Another run may hold the lock now: every finished call is recorded, nothing more is written.
        return Ok(ApplyReport { outcomes, interrupted, lock_lost, outputs: BTreeMap::new(), critical_path });
    }
    store.set_outputs(&outputs).await?;
    let op = if plan.mode == PlanMode::Destroy { "destroy" } else { "apply" };
    store.record_history(op).await?;
    Ok(ApplyReport { outcomes, interrupted, lock_lost, outputs, critical_path })
}

/// Anything waiting on a failure is blocked, transitively.
fn block_dependents(sched: &mut schedule::Schedule<'_>, observer: &dyn ApplyObserver, outcomes: &mut BTreeMap<String, Outcome>) {
    for (i, because) in sched.block_dependents() {
        let (address, because) = (sched.address(i).to_string(), sched.address(because).to_string());
        observer.event(ApplyEvent::Blocked { address: address.clone(), because: because.clone() });
        outcomes.insert(address, Outcome::Blocked { because });
    }
}

/// For each action, the actions that must finish first. Who depends on what is indexed once,
/// so a destroy of many resources costs what its edges cost, not actions times records.
fn wait_sets<'p>(records: &BTreeMap<String, ResourceRecord>, work: &BTreeMap<&'p str, &'p PlannedAction>) -> BTreeMap<&'p str, Vec<&'p str>> {
    // Address → the planned non-delete actions that reference it, and the recorded resources that do.
    let mut planned_users: HashMap<&str, Vec<&'p str>> = HashMap::new();
    for (addr, a) in work {
        if a.action != Action::Delete {
            for d in &a.deps {
                planned_users.entry(d.as_str()).or_default().push(addr);
            }
        }
    }
    let mut recorded_users: HashMap<&str, Vec<&str>> = HashMap::new();
    for (other, r) in records {
        for d in &r.deps {
            recorded_users.entry(d.as_str()).or_default().push(other.as_str());
        }
    }
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
                // updated so it no longer references it. A deposed object was depended on
                // under its base address, and goes only once its replacement is in place.
                let users: Vec<&str> = std::iter::once(*addr).chain(deposed_of(addr)).collect();
                if let Some(base) = deposed_of(addr) {
                    if let Some((k, _)) = work.get_key_value(base) {
                        w.push(k);
                    }
                    w.extend(planned_users.get(base).into_iter().flatten().copied());
                }
                for user in &users {
                    for other in recorded_users.get(user).into_iter().flatten() {
                        if let Some((k, _)) = work.get_key_value(*other) {
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
        owner: d.owner.clone(),
        default_name: d.default_name.clone(),
        idempotency_token: idempotency_token(&d.owner.stack, &d.owner.env, &action.address, &props, &d.tags),
        props,
        tags: d.tags.clone(),
    }))
}

/// A token for one desired state of one resource: the same stack, env, address, properties
/// and tags always give the same token (so a retried or resumed create is recognised by
/// AWS), and a change to any of them gives a new one (so a replacement is not answered
/// with the resource the old token made). FNV-1a over canonical JSON: stable across runs,
/// platforms and map orders.
pub fn idempotency_token(stack: &str, env: &str, address: &str, props: &crate::provider::Props, tags: &crate::provider::Tags) -> String {
    let mut text = format!("{stack}/{env}/{address}/");
    canonical(&Value::Object(props.clone()), &mut text);
    text.push('/');
    canonical(&serde_json::to_value(tags).unwrap_or_default(), &mut text);
    let h = text.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3));
    format!("cairn-{h:016x}")
}

/// JSON with object keys sorted at every level, whatever order the map keeps.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}
