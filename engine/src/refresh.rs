//! Refresh and reconcile: read what AWS holds for recorded resources, and settle journal rows a crashed run left open.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::apply::RetryPolicy;
use crate::graph::ResourceGraph;
use crate::provider::{Observed, ProviderError, Registry};
use crate::state::{JournalAction, OpOutcome, ResourceRecord, Snapshot, StateError, StateStore};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RefreshStats {
    pub resources: usize,
    /// `read_many` calls made, one per kind present.
    pub batches: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("reading {address} ({kind}): {error}")]
    Read { address: String, kind: String, error: ProviderError },
    #[error("state has {address} of type {kind}, which this version of cairn does not know")]
    UnknownKind { address: String, kind: String },
    #[error(transparent)]
    State(#[from] StateError),
}

/// Reads every recorded resource, one batch per kind, the kinds side by side (each kind's own
/// calls are paced by the throttling layer, so one slow or throttled service does not hold up
/// the others). `None` = gone from AWS.
pub async fn refresh(snapshot: &Snapshot, registry: &Registry) -> Result<(BTreeMap<String, Option<Observed>>, RefreshStats), RefreshError> {
    let mut by_kind: BTreeMap<&str, Vec<&ResourceRecord>> = BTreeMap::new();
    for r in snapshot.resources.values() {
        by_kind.entry(r.kind.as_str()).or_default().push(r);
    }
    let mut stats = RefreshStats::default();
    let mut batches = tokio::task::JoinSet::new();
    for (kind, records) in &by_kind {
        let Some(k) = registry.get(kind) else {
            return Err(RefreshError::UnknownKind { address: records[0].address.clone(), kind: kind.to_string() });
        };
        let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        stats.batches += 1;
        stats.resources += ids.len();
        let (k, kind) = (k.clone(), kind.to_string());
        batches.spawn(async move {
            let read = k.read_many(&ids).await;
            (kind, read)
        });
    }
    let mut out = BTreeMap::new();
    let mut first_error: Option<RefreshError> = None;
    while let Some(joined) = batches.join_next().await {
        let (kind, read) = joined.map_err(|e| RefreshError::Read {
            address: String::new(),
            kind: "?".into(),
            error: ProviderError::Fatal(format!("refresh task failed: {e}")),
        })?;
        let records = &by_kind[kind.as_str()];
        match read {
            Ok(read) => {
                for r in records {
                    out.insert(r.address.clone(), read.get(&r.id).cloned().flatten());
                }
            }
            // Errors are reported in kind order, whatever finished first, so the message is stable.
            Err(error) => {
                let e = RefreshError::Read { address: records[0].address.clone(), kind: kind.clone(), error };
                let earlier = match &first_error {
                    Some(RefreshError::Read { kind: k, .. }) => kind < *k,
                    _ => true,
                };
                if earlier {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok((out, stats))
}

/// What reconciling one open journal row did, for the user to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    pub address: String,
    pub action: JournalAction,
    pub result: String,
}

/// Settles journal rows left open by an interrupted run: a create whose resource exists is
/// adopted, one whose resource does not is closed as failed; updates and deletes are
/// settled by reading the resource with the kind the journal names (the old kind after a
/// `type:` change), and a delete settles only the address it was journaled under (a
/// deposed object's, never its replacement's). Must run under the state lock, before planning.
///
/// A create cut off by a crash may still be completing in AWS (the request was in flight), and
/// tag-based lookups lag behind creation: an open create row whose resource is not found is
/// looked for again `retry.find_attempts` times, `retry.find_delay` apart, before it is closed
/// as "nothing was created" — closing it early is what lets the next apply make a second one.
pub async fn reconcile(
    store: &dyn StateStore,
    registry: &Registry,
    graph: Option<&ResourceGraph>,
    retry: &RetryPolicy,
) -> Result<Vec<Reconciled>, RefreshError> {
    let mut notes = vec![];
    let snapshot = store.snapshot().await?;
    for op in store.open_ops().await? {
        let intent = &op.intent;
        let Some(kind) = registry.get(&intent.kind) else {
            return Err(RefreshError::UnknownKind { address: intent.address.clone(), kind: intent.kind.clone() });
        };
        let deps = graph
            .and_then(|g| g.nodes.get(&intent.address))
            .map(|n| n.deps.iter().cloned().collect())
            .or_else(|| snapshot.resources.get(&intent.address).map(|r| r.deps.clone()))
            .unwrap_or_default();
        let record = |o: &Observed| ResourceRecord {
            address: intent.address.clone(),
            kind: intent.kind.clone(),
            id: o.id.clone(),
            props: o.props.clone(),
            attrs: o.attrs.clone(),
            tags: o.tags.clone(),
            deps: deps.clone(),
        };
        let read_err = |error| RefreshError::Read { address: intent.address.clone(), kind: intent.kind.clone(), error };
        let (outcome, result) = match intent.action {
            JournalAction::Create => {
                // The old half of a create-before-destroy replace carries the same ownership
                // tags; finding it (now recorded as deposed) means the new one was never made.
                let taken = |id: &str| snapshot.resources.values().any(|r| r.address != intent.address && r.id == id);
                let mut found = None;
                if let Some(d) = &intent.desired {
                    for look in 1..=retry.find_attempts.max(1) {
                        found = kind.find_owned(d).await.map_err(read_err)?.filter(|o| !taken(&o.id));
                        if found.is_some() || look == retry.find_attempts.max(1) {
                            break;
                        }
                        tokio::time::sleep(retry.find_delay).await;
                    }
                }
                match found {
                    Some(o) => (OpOutcome::Applied(record(&o)), format!("adopted {} created by an interrupted run", o.id)),
                    None => (OpOutcome::Failed { error: "interrupted before the resource was created".into() }, "nothing had been created".to_string()),
                }
            }
            JournalAction::Update => match kind.read(&intent.id).await.map_err(read_err)? {
                Some(o) => (OpOutcome::Applied(record(&o)), "recorded its current settings".to_string()),
                None => (OpOutcome::Deleted { address: intent.address.clone() }, "it no longer exists; record removed".to_string()),
            },
            JournalAction::Delete => match kind.read(&intent.id).await.map_err(read_err)? {
                None => (OpOutcome::Deleted { address: intent.address.clone() }, "the delete had completed; record removed".to_string()),
                Some(_) => (OpOutcome::Failed { error: "interrupted before the delete completed".into() }, "it still exists; kept in state".to_string()),
            },
        };
        store.finish_op(op.op_id, &outcome).await?;
        notes.push(Reconciled { address: intent.address.clone(), action: intent.action, result });
    }
    Ok(notes)
}
