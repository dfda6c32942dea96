//! Attributes every AWS call to the kind that made it, so reads and writes can be reported per kind.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use cairn_engine::provider::{Desired, Observed, Operation, ProviderError, ResourceKind, ResourceSchema};

tokio::task_local! {
    static KIND: &'static str;
}

/// The kind whose method is running in this task, if any.
pub fn current_kind() -> Option<&'static str> {
    KIND.try_with(|k| *k).ok()
}

/// Runs `fut` as the current kind's work; for futures a kind hands to `tokio::spawn`, which
/// does not inherit task-locals.
pub fn in_current_kind<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let kind = current_kind().unwrap_or("");
    KIND.scope(kind, fut)
}

/// A kind whose calls are counted under its name (see `CallCounter::by_kind`).
pub struct Counted {
    inner: Arc<dyn ResourceKind>,
    kind: &'static str,
}

impl Counted {
    pub fn wrap(inner: Arc<dyn ResourceKind>) -> Arc<dyn ResourceKind> {
        let kind = inner.schema().kind;
        Arc::new(Counted { inner, kind })
    }
}

#[async_trait]
impl ResourceKind for Counted {
    fn schema(&self) -> &'static ResourceSchema {
        self.inner.schema()
    }
    async fn read(&self, id: &str) -> Result<Option<Observed>, ProviderError> {
        KIND.scope(self.kind, self.inner.read(id)).await
    }
    async fn read_many(&self, ids: &[String]) -> Result<BTreeMap<String, Option<Observed>>, ProviderError> {
        KIND.scope(self.kind, self.inner.read_many(ids)).await
    }
    async fn create(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        KIND.scope(self.kind, self.inner.create(desired)).await
    }
    async fn update(&self, id: &str, desired: &Desired, changed: &[String]) -> Result<Observed, ProviderError> {
        KIND.scope(self.kind, self.inner.update(id, desired, changed)).await
    }
    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        KIND.scope(self.kind, self.inner.delete(id)).await
    }
    async fn find_owned(&self, desired: &Desired) -> Result<Option<Observed>, ProviderError> {
        KIND.scope(self.kind, self.inner.find_owned(desired)).await
    }
    fn iam_actions(&self, op: Operation) -> &'static [&'static str] {
        self.inner.iam_actions(op)
    }
}
