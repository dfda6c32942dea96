//! Running one planned action against a kind: journal bracketing, bounded retries of
//! temporary failures, adoption of resources a failed create nevertheless made, and the
//! deposed half of a create-before-destroy replace.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::plan::{Action, PlannedAction, ReplaceOrder};
use crate::provider::{Desired, Observed, ProviderError, Registry, ResourceKind};
use crate::state::{deposed_address, JournalAction, OpIntent, OpOutcome, ResourceRecord, StateError, StateStore};

/// How hard the applier tries before a temporary failure counts as a failure.
///
/// AWS reports some conditions that clear by themselves as invalid requests: a role created
/// seconds ago that EKS "cannot assume", a fresh principal a key policy calls invalid. Kinds
/// classify those as `ProviderError::Retryable`; the applier retries them with exponential
/// backoff. The SDK already retries throttling and transport errors inside each call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls made at most for one create, update or delete (1 = no retry).
    pub attempts: u32,
    /// The wait before the second attempt; doubled for each further one.
    pub first_delay: Duration,
    /// No single wait is longer than this.
    pub max_delay: Duration,
    /// `find_owned` calls made at most after a failed create that AWS may have performed,
    /// because tag-based lookups see a new resource only after a while.
    pub find_attempts: u32,
    /// The wait between two `find_owned` calls.
    pub find_delay: Duration,
}

impl Default for RetryPolicy {
    /// About a minute in all (1+2+4+8+16+20 s), which is how long IAM changes take to propagate.
    fn default() -> Self {
        RetryPolicy {
            attempts: 7,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(20),
            find_attempts: 3,
            find_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The same number of attempts without waiting, for tests.
    pub fn immediate() -> Self {
        RetryPolicy { first_delay: Duration::ZERO, max_delay: Duration::ZERO, find_delay: Duration::ZERO, ..RetryPolicy::default() }
    }

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Calls `f` until it succeeds, fails with something other than `Retryable`, or the attempts are spent.
async fn retrying<T, F, Fut>(policy: &RetryPolicy, mut f: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Err(ProviderError::Retryable(why)) if attempt < policy.attempts => {
                tracing::debug!(attempt, %why, "temporary failure; retrying");
                tokio::time::sleep(policy.delay(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Whether a failed create may nevertheless have made the resource (a lost response, a
/// timeout, a name already taken: perhaps by us).
fn may_have_acted(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Retryable(_) | ProviderError::Throttled(_) | ProviderError::Conflict(_) | ProviderError::Fatal(_))
}

/// What one action needs besides the plan: where to record, whom to call, how to retry.
pub(super) struct Ctx {
    pub store: Arc<dyn StateStore>,
    pub registry: Registry,
    pub retry: RetryPolicy,
    /// Physical ids state already gives to some address (the resource being replaced, its
    /// deposed predecessor): `find_owned` matching one of them has not found a new resource.
    pub taken: BTreeSet<String>,
}

pub(super) fn describe(e: &ProviderError) -> String {
    let hint = match e {
        ProviderError::AccessDenied(_) => " (the caller lacks a permission: `cairn iam-policy` prints what this stack needs)",
        ProviderError::Throttled(_) => " (AWS throttled the call past the retry budget; lower --parallelism)",
        ProviderError::Conflict(_) => " (the resource is in use or changing; retry later)",
        ProviderError::Retryable(_) => " (still failing after the retry budget; run apply again)",
        _ => "",
    };
    format!("{e}{hint}")
}

fn state_err(e: StateError) -> String {
    format!("state: {e}")
}

fn record_of(address: &str, kind: &str, deps: Vec<String>, o: &Observed) -> ResourceRecord {
    ResourceRecord {
        address: address.to_string(),
        kind: kind.to_string(),
        id: o.id.clone(),
        props: o.props.clone(),
        attrs: o.attrs.clone(),
        tags: o.tags.clone(),
        deps,
    }
}

/// Runs one action. `old_kind` is the kind that made the existing resource (differs from
/// `kind` only when `type:` changed); deletes always go to it.
pub(super) async fn run_action(
    ctx: &Ctx,
    action: &PlannedAction,
    desired: Option<Desired>,
    kind: Arc<dyn ResourceKind>,
    old_kind: Arc<dyn ResourceKind>,
) -> Result<Option<Observed>, String> {
    let deps = action.deps.clone();
    let id = action.id.clone().unwrap_or_default();
    let old_kind_name = action.replaced_kind.as_deref().unwrap_or(&action.kind);
    match action.action {
        Action::NoOp => Ok(None),
        Action::Create => {
            let d = desired.ok_or("create without a desired state")?;
            create(ctx, &action.address, &action.kind, &d, deps, kind.as_ref()).await.map(Some)
        }
        Action::Update => {
            let d = desired.ok_or("update without a desired state")?;
            let changed: Vec<String> = action
                .changes
                .iter()
                .map(|c| if c.path.starts_with("tags[") { "tags".to_string() } else { c.path.clone() })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            update(ctx, action, &id, &d, &changed, deps, kind.as_ref()).await.map(Some)
        }
        Action::Delete => {
            delete(ctx, &action.address, &action.kind, &id, kind.as_ref()).await?;
            Ok(None)
        }
        Action::Replace => {
            let d = desired.ok_or("replace without a desired state")?;
            match action.replace_order.unwrap_or(ReplaceOrder::DeleteBeforeCreate) {
                ReplaceOrder::DeleteBeforeCreate => {
                    delete(ctx, &action.address, old_kind_name, &id, old_kind.as_ref()).await?;
                    create(ctx, &action.address, &action.kind, &d, deps, kind.as_ref()).await.map(Some)
                }
                ReplaceOrder::CreateBeforeDelete => {
                    // The old resource keeps a record (as deposed) until its delete is confirmed,
                    // so a crash at any point leaves state knowing both halves. A deposed object
                    // left by an earlier run goes first: deposing this one would overwrite its record.
                    let deposed = deposed_address(&action.address);
                    let earlier = ctx.store.snapshot().await.map_err(state_err)?.resources.remove(&deposed);
                    if let Some(prev) = earlier {
                        let k =
                            ctx.registry.get(&prev.kind).ok_or_else(|| format!("state has {deposed} of type {}, which this cairn does not know", prev.kind))?;
                        delete_deposed(ctx, &deposed, &prev.kind, &prev.id, k.as_ref()).await?;
                    }
                    ctx.store.move_record(&action.address, &deposed).await.map_err(state_err)?;
                    create(ctx, &action.address, &action.kind, &d, deps, kind.as_ref()).await.map(Some)
                }
            }
        }
    }
}

/// Deletes a deposed object: the old half of a create-before-destroy replace.
pub(super) async fn delete_deposed(ctx: &Ctx, address: &str, kind_name: &str, id: &str, kind: &dyn ResourceKind) -> Result<(), String> {
    delete(ctx, address, kind_name, id, kind).await.map_err(|e| {
        format!("the replacement exists, but deleting the old resource {id} failed: {e}; it stays in state as deposed and the next apply deletes it")
    })
}

async fn create(ctx: &Ctx, address: &str, kind_name: &str, d: &Desired, deps: Vec<String>, kind: &dyn ResourceKind) -> Result<Observed, String> {
    let store = ctx.store.as_ref();
    let intent =
        OpIntent { address: address.to_string(), kind: kind_name.to_string(), action: JournalAction::Create, id: String::new(), desired: Some(d.clone()) };
    let op = store.begin_op(&intent).await.map_err(state_err)?;
    let mut attempt = 1;
    loop {
        let e = match kind.create(d).await {
            Ok(o) => {
                store.finish_op(op, &OpOutcome::Applied(record_of(address, kind_name, deps, &o))).await.map_err(state_err)?;
                return Ok(o);
            }
            Err(e) => e,
        };
        let retry = matches!(e, ProviderError::Retryable(_)) && attempt < ctx.retry.attempts;
        // When AWS may have acted, look as long as a tag index may lag before calling create
        // again: a kind without a client token would otherwise make a second resource.
        let looks = if may_have_acted(&e) { ctx.retry.find_attempts.max(1) } else { 1 };
        if let Some(o) = find_new(ctx, kind, d, looks).await {
            store.finish_op(op, &OpOutcome::Applied(record_of(address, kind_name, deps, &o))).await.map_err(state_err)?;
            return Err(format!("{} (the resource was created and is recorded; the next apply completes it)", describe(&e)));
        }
        if !retry {
            store.finish_op(op, &OpOutcome::Failed { error: e.to_string() }).await.map_err(state_err)?;
            return Err(describe(&e));
        }
        tokio::time::sleep(ctx.retry.delay(attempt)).await;
        attempt += 1;
    }
}

/// Looks up to `looks` times for a resource this owner created that no address holds yet.
async fn find_new(ctx: &Ctx, kind: &dyn ResourceKind, d: &Desired, looks: u32) -> Option<Observed> {
    for look in 1..=looks {
        match kind.find_owned(d).await {
            Ok(Some(o)) if !ctx.taken.contains(&o.id) => return Some(o),
            Ok(_) | Err(_) if look < looks => tokio::time::sleep(ctx.retry.find_delay).await,
            _ => {}
        }
    }
    None
}

async fn update(
    ctx: &Ctx,
    action: &PlannedAction,
    id: &str,
    d: &Desired,
    changed: &[String],
    deps: Vec<String>,
    kind: &dyn ResourceKind,
) -> Result<Observed, String> {
    let store = ctx.store.as_ref();
    let intent =
        OpIntent { address: action.address.clone(), kind: action.kind.clone(), action: JournalAction::Update, id: id.to_string(), desired: Some(d.clone()) };
    let op = store.begin_op(&intent).await.map_err(state_err)?;
    match retrying(&ctx.retry, || kind.update(id, d, changed)).await {
        Ok(o) => {
            store.finish_op(op, &OpOutcome::Applied(record_of(&action.address, &action.kind, deps, &o))).await.map_err(state_err)?;
            Ok(o)
        }
        Err(e) => {
            store.finish_op(op, &OpOutcome::Failed { error: e.to_string() }).await.map_err(state_err)?;
            Err(describe(&e))
        }
    }
}

async fn delete(ctx: &Ctx, address: &str, kind_name: &str, id: &str, kind: &dyn ResourceKind) -> Result<(), String> {
    let store = ctx.store.as_ref();
    let intent = OpIntent { address: address.to_string(), kind: kind_name.to_string(), action: JournalAction::Delete, id: id.to_string(), desired: None };
    let op = store.begin_op(&intent).await.map_err(state_err)?;
    match retrying(&ctx.retry, || kind.delete(id)).await {
        Ok(()) => {
            store.finish_op(op, &OpOutcome::Deleted { address: address.to_string() }).await.map_err(state_err)?;
            Ok(())
        }
        Err(e) => {
            store.finish_op(op, &OpOutcome::Failed { error: e.to_string() }).await.map_err(state_err)?;
            Err(describe(&e))
        }
    }
}
