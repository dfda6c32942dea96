//! Test hook: `CAIRN_TEST_CRASH_AFTER_JOURNAL_WRITES=N` aborts the process right after the Nth journal write (begin or finish) is committed.
//!
//! The end-to-end suite uses it to crash an apply at every journal step and prove the next run
//! reconciles what the dead one left. Without the variable the store is returned untouched.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use cairn_engine::state::{HistoryEntry, LockInfo, OpIntent, OpOutcome, OpenOp, ResourceRecord, Snapshot, StateError, StateStore};
use serde_json::Value;

pub const ENV_VAR: &str = "CAIRN_TEST_CRASH_AFTER_JOURNAL_WRITES";

/// Wraps `store` when the hook variable holds a positive number.
pub fn wrap(store: Arc<dyn StateStore>) -> Arc<dyn StateStore> {
    match std::env::var(ENV_VAR).ok().and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(after) if after > 0 => Arc::new(CrashAfter { inner: store, after, writes: AtomicU64::new(0) }),
        _ => store,
    }
}

struct CrashAfter {
    inner: Arc<dyn StateStore>,
    after: u64,
    writes: AtomicU64,
}

impl CrashAfter {
    fn count(&self) {
        if self.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.after {
            // Like kill -9: no destructors, no lock release, no final state write.
            std::process::abort();
        }
    }
}

#[async_trait]
impl StateStore for CrashAfter {
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        self.inner.lock(info).await
    }
    async fn renew_lock(&self, lease_expires_at: u64) -> Result<(), StateError> {
        self.inner.renew_lock(lease_expires_at).await
    }
    async fn unlock(&self) -> Result<(), StateError> {
        self.inner.unlock().await
    }
    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        self.inner.force_unlock().await
    }
    async fn current_lock(&self) -> Result<Option<LockInfo>, StateError> {
        self.inner.current_lock().await
    }
    async fn snapshot(&self) -> Result<Snapshot, StateError> {
        self.inner.snapshot().await
    }
    async fn begin_op(&self, intent: &OpIntent) -> Result<i64, StateError> {
        let id = self.inner.begin_op(intent).await?;
        self.count();
        Ok(id)
    }
    async fn finish_op(&self, op_id: i64, outcome: &OpOutcome) -> Result<(), StateError> {
        self.inner.finish_op(op_id, outcome).await?;
        self.count();
        Ok(())
    }
    async fn open_ops(&self) -> Result<Vec<OpenOp>, StateError> {
        self.inner.open_ops().await
    }
    async fn put_record(&self, record: &ResourceRecord) -> Result<(), StateError> {
        self.inner.put_record(record).await
    }
    async fn remove_record(&self, address: &str) -> Result<(), StateError> {
        self.inner.remove_record(address).await
    }
    async fn move_record(&self, from: &str, to: &str) -> Result<(), StateError> {
        self.inner.move_record(from, to).await
    }
    async fn set_location(&self, region: &str, account_id: Option<&str>) -> Result<(), StateError> {
        self.inner.set_location(region, account_id).await
    }
    async fn set_outputs(&self, outputs: &BTreeMap<String, Value>) -> Result<(), StateError> {
        self.inner.set_outputs(outputs).await
    }
    async fn record_history(&self, operation: &str) -> Result<(), StateError> {
        self.inner.record_history(operation).await
    }
    async fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        self.inner.history().await
    }
    async fn history_snapshot(&self, serial: u64) -> Result<Snapshot, StateError> {
        self.inner.history_snapshot(serial).await
    }
}
