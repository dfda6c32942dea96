//! `MemoryStore`: an in-memory `StateStore` with the SQLite backend's semantics (serials, journal, lock, history).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::Value;

use super::cloud::FakeCloud;
use crate::state::{HistoryEntry, LockInfo, OpIntent, OpOutcome, OpenOp, ResourceRecord, Snapshot, StateError, StateStore};

/// How a journal row ended, as the SQLite backend's `status` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalStatus {
    Open,
    Done,
    Failed,
}

/// One journal row, for tests to inspect.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalRow {
    pub op_id: i64,
    pub intent: OpIntent,
    pub status: JournalStatus,
    pub error: Option<String>,
}

/// State for one (stack, env), held in memory. Cheap to create; share it as `Arc<MemoryStore>`.
///
/// Behaves like `SqliteStore`: every committed change bumps the serial (a failed
/// operation, an unchanged `set_outputs` or removing a missing record does not), journal
/// rows stay open until finished, and `lock` refuses while another holder has the lock.
/// Unlike SQLite there is one instance per state, so a lock is "ours" when the caller
/// presents the same identity (owner, host, pid, created_at) as the holder.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Snapshot,
    journal: Vec<JournalRow>,
    lock: Option<LockInfo>,
    /// By serial: (applied_at, operation, snapshot).
    history: BTreeMap<u64, (u64, String, Snapshot)>,
    /// Writes still allowed before the store "crashes" (`crash_after_writes`); `None` = no limit.
    writes_left: Option<usize>,
    /// Writes committed so far.
    writes_done: usize,
    /// Halted the moment the crash budget is spent, so the dead run reaches no cloud either.
    halt_on_crash: Option<FakeCloud>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn same_holder(a: &LockInfo, b: &LockInfo) -> bool {
    (a.owner.as_str(), a.host.as_str(), a.pid, a.created_at) == (b.owner.as_str(), b.host.as_str(), b.pid, b.created_at)
}

impl MemoryStore {
    /// An empty state (serial 0) with a fixed lineage.
    pub fn new(lineage: impl Into<String>) -> MemoryStore {
        let state = Snapshot { lineage: lineage.into(), ..Snapshot::default() };
        MemoryStore { inner: Mutex::new(Inner { state, ..Inner::default() }) }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Every mutation below completes before it can panic, so a poisoned lock is consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every journal row written so far, oldest first.
    pub fn journal(&self) -> Vec<JournalRow> {
        self.inner().journal.clone()
    }

    /// The current serial.
    pub fn serial(&self) -> u64 {
        self.inner().state.serial
    }

    /// Lets `n` more writes (journal rows, record changes) commit, then fails every later
    /// one: what a run sees of state when its process dies after its n-th commit.
    pub fn crash_after_writes(&self, n: usize) {
        self.inner().writes_left = Some(n);
    }

    /// Like `crash_after_writes`, and the process dies right after the n-th write commits:
    /// `cloud` takes no call from then on (a crash between a journal row and its cloud call).
    pub fn die_after_writes(&self, n: usize, cloud: &FakeCloud) {
        let mut inner = self.inner();
        inner.writes_left = Some(n);
        inner.halt_on_crash = Some(cloud.clone());
        if n == 0 {
            cloud.halt();
        }
    }

    /// Ends a simulated crash: the next run finds the state as the last commit left it.
    pub fn restart(&self) {
        let mut inner = self.inner();
        inner.writes_left = None;
        if let Some(cloud) = inner.halt_on_crash.take() {
            cloud.clear_failures();
        }
    }

    /// Writes committed so far, for sizing `crash_after_writes`.
    pub fn writes(&self) -> usize {
        self.inner().writes_done
    }
}

impl Inner {
    /// Counts one write against the crash budget; fails once it is spent.
    fn write(&mut self) -> Result<(), StateError> {
        match &mut self.writes_left {
            Some(0) => return Err(StateError::Storage("simulated crash: the state store is gone".into())),
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    if let Some(cloud) = &self.halt_on_crash {
                        cloud.halt();
                    }
                }
            }
            None => {}
        }
        self.writes_done += 1;
        Ok(())
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let mut inner = self.inner();
        if let Some(holder) = &inner.lock {
            if !same_holder(holder, info) {
                return Err(StateError::Locked(holder.clone()));
            }
        }
        inner.lock = Some(info.clone());
        Ok(())
    }

    async fn renew_lock(&self, lease_expires_at: u64) -> Result<(), StateError> {
        match self.inner().lock.as_mut() {
            Some(l) => {
                l.lease_expires_at = lease_expires_at;
                Ok(())
            }
            None => Err(StateError::NotLocked),
        }
    }

    async fn unlock(&self) -> Result<(), StateError> {
        self.inner().lock.take().map(|_| ()).ok_or(StateError::NotLocked)
    }

    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(self.inner().lock.take())
    }

    async fn current_lock(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(self.inner().lock.clone())
    }

    async fn snapshot(&self) -> Result<Snapshot, StateError> {
        Ok(self.inner().state.clone())
    }

    async fn begin_op(&self, intent: &OpIntent) -> Result<i64, StateError> {
        let mut inner = self.inner();
        inner.write()?;
        let op_id = inner.journal.len() as i64 + 1;
        inner.journal.push(JournalRow { op_id, intent: intent.clone(), status: JournalStatus::Open, error: None });
        Ok(op_id)
    }

    async fn finish_op(&self, op_id: i64, outcome: &OpOutcome) -> Result<(), StateError> {
        let mut inner = self.inner();
        inner.write()?;
        let Inner { state, journal, .. } = &mut *inner;
        // Rows are only appended and `op_id` is the row's 1-based position: a direct lookup
        // keeps an apply of many actions linear.
        let row = op_id
            .checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| journal.get_mut(i))
            .filter(|r| r.op_id == op_id)
            .ok_or_else(|| StateError::Storage(format!("journal operation {op_id} does not exist")))?;
        if row.status != JournalStatus::Open {
            return Err(StateError::Storage(format!("journal operation {op_id} is already closed ({:?})", row.status)));
        }
        match outcome {
            OpOutcome::Applied(record) => {
                row.status = JournalStatus::Done;
                state.resources.insert(record.address.clone(), record.clone());
                state.serial += 1;
            }
            OpOutcome::Deleted { address } => {
                row.status = JournalStatus::Done;
                if state.resources.remove(address).is_some() {
                    state.serial += 1;
                }
            }
            OpOutcome::Failed { error } => {
                row.status = JournalStatus::Failed;
                row.error = Some(error.clone());
            }
        }
        Ok(())
    }

    async fn open_ops(&self) -> Result<Vec<OpenOp>, StateError> {
        Ok(self
            .inner()
            .journal
            .iter()
            .filter(|r| r.status == JournalStatus::Open)
            .map(|r| OpenOp { op_id: r.op_id, intent: r.intent.clone(), started_at: 0 })
            .collect())
    }

    async fn put_record(&self, record: &ResourceRecord) -> Result<(), StateError> {
        let mut inner = self.inner();
        inner.write()?;
        inner.state.resources.insert(record.address.clone(), record.clone());
        inner.state.serial += 1;
        Ok(())
    }

    async fn remove_record(&self, address: &str) -> Result<(), StateError> {
        let mut inner = self.inner();
        inner.write()?;
        if inner.state.resources.remove(address).is_some() {
            inner.state.serial += 1;
        }
        Ok(())
    }

    async fn move_record(&self, from: &str, to: &str) -> Result<(), StateError> {
        let mut inner = self.inner();
        inner.write()?;
        if let Some(mut r) = inner.state.resources.remove(from) {
            r.address = to.to_string();
            inner.state.resources.insert(to.to_string(), r);
            inner.state.serial += 1;
        }
        Ok(())
    }

    async fn set_location(&self, region: &str, account_id: Option<&str>) -> Result<(), StateError> {
        let mut inner = self.inner();
        inner.write()?;
        let (region, account_id) = (Some(region.to_string()), account_id.map(str::to_string));
        if inner.state.region != region || inner.state.account_id != account_id {
            (inner.state.region, inner.state.account_id) = (region, account_id);
            inner.state.serial += 1;
        }
        Ok(())
    }

    async fn set_outputs(&self, outputs: &BTreeMap<String, Value>) -> Result<(), StateError> {
        let mut inner = self.inner();
        inner.write()?;
        if inner.state.outputs != *outputs {
            inner.state.outputs = outputs.clone();
            inner.state.serial += 1;
        }
        Ok(())
    }

    async fn record_history(&self, operation: &str) -> Result<(), StateError> {
        let mut inner = self.inner();
        let snapshot = inner.state.clone();
        inner.history.insert(snapshot.serial, (now(), operation.to_string(), snapshot));
        Ok(())
    }

    async fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        Ok(self
            .inner()
            .history
            .iter()
            .rev()
            .map(|(serial, (applied_at, operation, s))| HistoryEntry {
                serial: *serial,
                applied_at: *applied_at,
                operation: operation.clone(),
                resource_count: s.resources.len(),
            })
            .collect())
    }

    async fn history_snapshot(&self, serial: u64) -> Result<Snapshot, StateError> {
        self.inner().history.get(&serial).map(|(_, _, s)| s.clone()).ok_or(StateError::NoSuchSerial(serial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::JournalAction;

    fn record(address: &str) -> ResourceRecord {
        ResourceRecord {
            address: address.into(),
            kind: "fake.queue".into(),
            id: format!("queue/{address}"),
            props: Default::default(),
            attrs: Default::default(),
            tags: Default::default(),
            deps: vec![],
        }
    }

    fn intent(address: &str) -> OpIntent {
        OpIntent { address: address.into(), kind: "fake.queue".into(), action: JournalAction::Create, id: String::new(), desired: None }
    }

    fn lock_info(owner: &str) -> LockInfo {
        LockInfo { owner: owner.into(), host: "h".into(), pid: 1, operation: "apply".into(), created_at: 10, lease_expires_at: 20 }
    }

    #[tokio::test]
    async fn serial_moves_only_on_committed_changes() {
        let s = MemoryStore::new("L");
        assert_eq!(s.snapshot().await.unwrap().lineage, "L");
        let op = s.begin_op(&intent("a")).await.unwrap();
        assert_eq!(s.serial(), 0, "begin_op alone changes no record");
        assert_eq!(s.open_ops().await.unwrap().len(), 1);
        s.finish_op(op, &OpOutcome::Applied(record("a"))).await.unwrap();
        assert_eq!(s.serial(), 1);
        assert!(s.finish_op(op, &OpOutcome::Applied(record("a"))).await.is_err(), "a closed row cannot be finished again");
        assert!(s.finish_op(99, &OpOutcome::Deleted { address: "a".into() }).await.is_err());

        let failed = s.begin_op(&intent("b")).await.unwrap();
        s.finish_op(failed, &OpOutcome::Failed { error: "boom".into() }).await.unwrap();
        assert_eq!(s.serial(), 1, "a failed op does not bump");
        assert_eq!(s.journal()[1].status, JournalStatus::Failed);
        assert!(s.open_ops().await.unwrap().is_empty());

        let gone = s.begin_op(&intent("zz")).await.unwrap();
        s.finish_op(gone, &OpOutcome::Deleted { address: "zz".into() }).await.unwrap();
        s.remove_record("zz").await.unwrap();
        assert_eq!(s.serial(), 1, "removing a missing record does not bump");

        s.put_record(&record("c")).await.unwrap();
        s.remove_record("c").await.unwrap();
        assert_eq!(s.serial(), 3);
        let outputs = BTreeMap::from([("x".to_string(), Value::from(1))]);
        s.set_outputs(&outputs).await.unwrap();
        s.set_outputs(&outputs).await.unwrap();
        assert_eq!(s.serial(), 4, "unchanged outputs do not bump");
        assert_eq!(s.snapshot().await.unwrap().outputs, outputs);
    }

    #[tokio::test]
    async fn lock_refuses_another_holder() {
        let s = MemoryStore::new("L");
        s.lock(&lock_info("alice")).await.unwrap();
        s.lock(&lock_info("alice")).await.unwrap();
        match s.lock(&lock_info("bob")).await {
            Err(StateError::Locked(holder)) => assert_eq!(holder.owner, "alice"),
            other => panic!("expected Locked, got {other:?}"),
        }
        s.renew_lock(30).await.unwrap();
        assert_eq!(s.current_lock().await.unwrap().unwrap().lease_expires_at, 30);
        s.unlock().await.unwrap();
        assert!(matches!(s.unlock().await, Err(StateError::NotLocked)));
        assert!(matches!(s.renew_lock(40).await, Err(StateError::NotLocked)));
        s.lock(&lock_info("bob")).await.unwrap();
        assert_eq!(s.force_unlock().await.unwrap().unwrap().owner, "bob");
        assert!(s.current_lock().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn history_keeps_snapshots_newest_first() {
        let s = MemoryStore::new("L");
        s.record_history("apply").await.unwrap();
        s.put_record(&record("a")).await.unwrap();
        s.record_history("import").await.unwrap();
        let h = s.history().await.unwrap();
        assert_eq!(h.iter().map(|e| (e.serial, e.operation.as_str(), e.resource_count)).collect::<Vec<_>>(), [(1, "import", 1), (0, "apply", 0)]);
        assert!(s.history_snapshot(1).await.unwrap().resources.contains_key("a"));
        assert!(matches!(s.history_snapshot(7).await, Err(StateError::NoSuchSerial(7))));
    }
}
