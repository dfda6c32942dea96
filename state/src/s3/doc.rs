//! The documents kept in S3 and the changes made to them, free of any I/O.
//!
//! Every `StateStore` mutation is one pure function over [`StateDoc`] that says what it
//! returns and whether the document changed; the store then writes the new version with
//! a compare-and-swap, and runs the function again on a fresh copy if it lost the race.
//! The rules (which changes bump the serial, which journal rows may be closed) are the
//! SQLite backend's, statement for statement.

use std::collections::BTreeMap;

use cairn_engine::state::{HistoryEntry, LockInfo, OpIntent, OpOutcome, OpenOp, ResourceRecord, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// The layout version of `state.json` this binary writes; documents with a higher one are refused.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// How many closed journal rows `state.json` keeps (open rows are always kept). The whole
/// document is rewritten on every change, so an ever-growing journal would make each write
/// slower; older closed rows are still in earlier object versions when bucket versioning is on.
pub(crate) const KEEP_CLOSED_JOURNAL_ROWS: usize = 200;

/// How many history summaries `state.json` indexes; older `history/<serial>.json` objects
/// are still listed, their summary is then read from the object itself.
pub(crate) const KEEP_HISTORY_INDEX: usize = 1000;

/// `state.json`: everything about one (stack, env) except the lock and the history snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StateDoc {
    pub format: u32,
    pub stack: String,
    pub env: String,
    pub lineage: String,
    pub serial: u64,
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceRecord>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Value>,
    /// Ordered by `op_id`.
    #[serde(default)]
    pub journal: Vec<JournalRow>,
    /// The id the next `begin_op` hands out; ids are never reused, even after pruning.
    pub next_op_id: i64,
    /// Summaries of `history/<serial>.json`, newest last, so listing history needs no object reads.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// A random id of the write that produced this version. A writer whose request was retried
    /// by the SDK after it had in fact succeeded gets 412 on the retry; finding its own id here
    /// tells it the change is already in, rather than applying it a second time.
    #[serde(default)]
    pub write_id: String,
    /// Where the resources live; absent in documents written before cairn recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JournalRow {
    pub op_id: i64,
    pub intent: OpIntent,
    pub status: OpStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OpStatus {
    Open,
    Done,
    Failed,
}

impl OpStatus {
    fn name(self) -> &'static str {
        match self {
            OpStatus::Open => "open",
            OpStatus::Done => "done",
            OpStatus::Failed => "failed",
        }
    }
}

/// Only the version field, read before the rest so a newer layout is refused with a clear message.
#[derive(Deserialize)]
pub(crate) struct FormatProbe {
    pub format: u32,
}

/// `history/<serial>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct HistoryObject {
    pub serial: u64,
    pub applied_at: u64,
    pub operation: String,
    pub resource_count: usize,
    pub snapshot: Snapshot,
}

impl HistoryObject {
    pub fn entry(&self) -> HistoryEntry {
        HistoryEntry { serial: self.serial, applied_at: self.applied_at, operation: self.operation.clone(), resource_count: self.resource_count }
    }
}

/// `lock.json`: the engine's `LockInfo` plus the id of the store instance that wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LockDoc {
    #[serde(flatten)]
    pub info: LockInfo,
    /// Random per acquisition: two runs with the same owner, host, pid and second still differ here.
    #[serde(default)]
    pub run_id: String,
}

/// What a mutation returns, and whether the document has to be written.
pub(crate) type Change<T> = Result<(T, bool), Error>;

impl StateDoc {
    pub fn new(stack: &str, env: &str, lineage: String) -> StateDoc {
        StateDoc {
            format: FORMAT_VERSION,
            stack: stack.to_string(),
            env: env.to_string(),
            lineage,
            serial: 0,
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
            journal: Vec::new(),
            next_op_id: 1,
            history: Vec::new(),
            write_id: String::new(),
            region: None,
            account_id: None,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            lineage: self.lineage.clone(),
            serial: self.serial,
            resources: self.resources.clone(),
            outputs: self.outputs.clone(),
            region: self.region.clone(),
            account_id: self.account_id.clone(),
        }
    }

    pub fn open_ops(&self) -> Vec<OpenOp> {
        self.journal
            .iter()
            .filter(|row| row.status == OpStatus::Open)
            .map(|row| OpenOp { op_id: row.op_id, intent: row.intent.clone(), started_at: row.started_at })
            .collect()
    }

    pub fn begin_op(&mut self, intent: &OpIntent, now: u64) -> Change<i64> {
        let op_id = self.next_op_id;
        self.next_op_id += 1;
        self.journal.push(JournalRow { op_id, intent: intent.clone(), status: OpStatus::Open, error: None, started_at: now, finished_at: None });
        Ok((op_id, true))
    }

    pub fn finish_op(&mut self, op_id: i64, outcome: &OpOutcome, now: u64) -> Change<()> {
        let Some(row) = self.journal.iter_mut().find(|row| row.op_id == op_id) else {
            if op_id >= 1 && op_id < self.next_op_id {
                // Handed out, and since closed and pruned: it cannot be open any more.
                return Err(Error::OpClosed { op_id, status: "closed and pruned from the journal".into() });
            }
            return Err(Error::NoSuchOp(op_id));
        };
        if row.status != OpStatus::Open {
            return Err(Error::OpClosed { op_id, status: row.status.name().into() });
        }
        row.finished_at = Some(now);
        match outcome {
            OpOutcome::Failed { error } => {
                row.status = OpStatus::Failed;
                row.error = Some(error.clone());
            }
            OpOutcome::Applied(record) => {
                row.status = OpStatus::Done;
                self.resources.insert(record.address.clone(), record.clone());
                self.serial += 1;
            }
            OpOutcome::Deleted { address } => {
                row.status = OpStatus::Done;
                if self.resources.remove(address).is_some() {
                    self.serial += 1;
                }
            }
        }
        self.prune_journal();
        Ok(((), true))
    }

    pub fn put_record(&mut self, record: &ResourceRecord) -> Change<()> {
        self.resources.insert(record.address.clone(), record.clone());
        self.serial += 1;
        Ok(((), true))
    }

    pub fn remove_record(&mut self, address: &str) -> Change<()> {
        let removed = self.resources.remove(address).is_some();
        if removed {
            self.serial += 1;
        }
        Ok(((), removed))
    }

    /// Renames a record; both halves are in the one document write, so it is atomic.
    pub fn move_record(&mut self, from: &str, to: &str) -> Change<()> {
        let Some(mut record) = self.resources.remove(from) else { return Ok(((), false)) };
        record.address = to.to_string();
        self.resources.insert(to.to_string(), record);
        self.serial += 1;
        Ok(((), true))
    }

    pub fn set_location(&mut self, region: &str, account_id: Option<&str>) -> Change<()> {
        let (region, account_id) = (Some(region.to_string()), account_id.map(str::to_string));
        if self.region == region && self.account_id == account_id {
            return Ok(((), false));
        }
        (self.region, self.account_id) = (region, account_id);
        self.serial += 1;
        Ok(((), true))
    }

    pub fn set_outputs(&mut self, outputs: &BTreeMap<String, Value>) -> Change<()> {
        if self.outputs == *outputs {
            return Ok(((), false));
        }
        self.outputs = outputs.clone();
        self.serial += 1;
        Ok(((), true))
    }

    /// Adds (or replaces) the summary of a history object.
    pub fn index_history(&mut self, entry: &HistoryEntry) -> Change<()> {
        if self.history.iter().any(|h| h == entry) {
            return Ok(((), false));
        }
        self.history.retain(|h| h.serial != entry.serial);
        self.history.push(entry.clone());
        self.history.sort_by_key(|h| h.serial);
        let excess = self.history.len().saturating_sub(KEEP_HISTORY_INDEX);
        self.history.drain(..excess);
        Ok(((), true))
    }

    fn prune_journal(&mut self) {
        let closed = self.journal.iter().filter(|row| row.status != OpStatus::Open).count();
        let mut excess = closed.saturating_sub(KEEP_CLOSED_JOURNAL_ROWS);
        self.journal.retain(|row| {
            if excess > 0 && row.status != OpStatus::Open {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::state::JournalAction;

    fn intent(address: &str) -> OpIntent {
        OpIntent { address: address.into(), kind: "aws.sqs.queue".into(), action: JournalAction::Create, id: String::new(), desired: None }
    }

    #[test]
    fn move_record_and_location_are_single_document_changes() {
        let mut doc = StateDoc::new("app", "dev", "l".into());
        let record = ResourceRecord {
            address: "old".into(),
            kind: "k".into(),
            id: "i".into(),
            props: Default::default(),
            attrs: Default::default(),
            tags: Default::default(),
            deps: vec![],
        };
        doc.put_record(&record).unwrap();
        assert_eq!(doc.move_record("old", "new").unwrap(), ((), true));
        assert_eq!((doc.serial, doc.resources["new"].address.as_str(), doc.resources.contains_key("old")), (2, "new", false));
        assert_eq!(doc.move_record("old", "new").unwrap(), ((), false), "nothing to move: no write");
        assert_eq!(doc.set_location("eu-west-1", Some("1")).unwrap(), ((), true));
        assert_eq!(doc.set_location("eu-west-1", Some("1")).unwrap(), ((), false));
        let snap = doc.snapshot();
        assert_eq!((snap.region.as_deref(), snap.account_id.as_deref(), snap.serial), (Some("eu-west-1"), Some("1"), 3));
        let old_doc: StateDoc = serde_json::from_str(&serde_json::to_string(&StateDoc::new("a", "d", "l".into())).unwrap()).unwrap();
        assert_eq!(old_doc.region, None, "documents without a location still read");
    }

    #[test]
    fn closed_rows_are_pruned_but_open_rows_and_ids_survive() {
        let mut doc = StateDoc::new("app", "dev", "l".into());
        let (kept_open, _) = doc.begin_op(&intent("open"), 1).unwrap();
        for _ in 0..KEEP_CLOSED_JOURNAL_ROWS + 5 {
            let (op, _) = doc.begin_op(&intent("q"), 1).unwrap();
            doc.finish_op(op, &OpOutcome::Failed { error: "e".into() }, 2).unwrap();
        }
        assert_eq!(doc.journal.len(), KEEP_CLOSED_JOURNAL_ROWS + 1);
        assert_eq!(doc.open_ops().len(), 1);
        assert_eq!(doc.open_ops()[0].op_id, kept_open);
        // Op 2 was pruned: it is reported as closed, not as unknown.
        let err = doc.finish_op(2, &OpOutcome::Failed { error: "e".into() }, 3).unwrap_err();
        assert!(err.to_string().contains("already closed"), "{err}");
        let err = doc.finish_op(10_000, &OpOutcome::Failed { error: "e".into() }, 3).unwrap_err();
        assert!(err.to_string().contains("10000"), "{err}");
        assert_eq!(doc.serial, 0, "failed ops never bump the serial");
    }

    #[test]
    fn the_history_index_replaces_same_serial_and_is_capped() {
        let mut doc = StateDoc::new("app", "dev", "l".into());
        let entry = |serial, op: &str| HistoryEntry { serial, applied_at: 5, operation: op.into(), resource_count: 1 };
        assert!(doc.index_history(&entry(3, "apply")).unwrap().1);
        assert!(!doc.index_history(&entry(3, "apply")).unwrap().1);
        assert!(doc.index_history(&entry(3, "import")).unwrap().1);
        assert_eq!(doc.history, [entry(3, "import")]);
        for s in 10..10 + KEEP_HISTORY_INDEX as u64 {
            doc.index_history(&entry(s, "apply")).unwrap();
        }
        assert_eq!(doc.history.len(), KEEP_HISTORY_INDEX);
        assert_eq!(doc.history[0].serial, 10);
    }

    #[test]
    fn a_lock_document_without_run_id_still_reads() {
        let json = r#"{"owner":"a","host":"h","pid":1,"operation":"apply","created_at":1,"lease_expires_at":2}"#;
        let doc: LockDoc = serde_json::from_str(json).unwrap();
        assert_eq!(doc.info.owner, "a");
        assert_eq!(doc.run_id, "");
        let back = serde_json::to_value(&doc).unwrap();
        assert_eq!(back["owner"], "a");
        assert!(back.get("run_id").is_some());
    }
}
