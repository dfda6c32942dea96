//! `read_many` for kinds whose API reads one resource at a time: the reads run concurrently, a few at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_engine::provider::{Observed, ProviderError, ResourceKind};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How many single-resource reads of one kind run at once: enough to hide the round trip,
/// few enough that one kind's refresh does not spend the API's rate budget alone (the
/// per-operation throttle in `throttle.rs` paces whatever gets through).
pub const READ_CONCURRENCY: usize = 8;

/// Reads every id with `kind.read`, at most `READ_CONCURRENCY` at once. `make` builds the
/// kind again for each task (kinds hold a cheaply cloned SDK client), since a spawned task
/// cannot borrow `self`. The first error ends the batch, as a sequential read would.
pub async fn read_each<K, F>(ids: &[String], make: F) -> Result<BTreeMap<String, Option<Observed>>, ProviderError>
where
    K: ResourceKind + 'static,
    F: Fn() -> K,
{
    let limit = Arc::new(Semaphore::new(READ_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for id in ids {
        let (kind, id, limit) = (make(), id.clone(), limit.clone());
        // Spawned tasks do not inherit the task-local kind the call counter attributes calls to.
        tasks.spawn(crate::counted::in_current_kind(async move {
            let _permit = limit.acquire_owned().await;
            (kind.read(&id).await, id)
        }));
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (result, id) = joined.map_err(|e| ProviderError::Fatal(format!("read task: {e}")))?;
        out.insert(id, result?);
    }
    Ok(out)
}
