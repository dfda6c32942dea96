//! The contract for where state lives (SQLite locally, S3 for teams): records, journal, lock, history.
//!
//! Every cloud mutation is bracketed by `begin_op` (committed before the call) and
//! `finish_op` (committed after it, together with the resource record it produced),
//! so a crash at any point leaves a journal row that the next run reconciles.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::provider::{Props, Tags};

/// What state knows about one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    pub address: String,
    pub kind: String,
    pub id: String,
    /// Properties as last applied or read (resolved values).
    pub props: Props,
    pub attrs: Props,
    pub tags: Tags,
    /// Addresses this resource depended on when it was applied: destroy order comes from here.
    pub deps: Vec<String>,
}

/// A consistent copy of one (stack, env) state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Random id fixed when the state is created; a plan made against another lineage is refused.
    pub lineage: String,
    /// Incremented by every committed change.
    pub serial: u64,
    pub resources: BTreeMap<String, ResourceRecord>,
    pub outputs: BTreeMap<String, Value>,
    /// The region the resources live in, recorded by the first apply; `None` in state written
    /// before cairn recorded it (the next apply adopts the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The AWS account the resources live in, recorded like `region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// State recorded one region or account, and this run works in another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the state records {what} {recorded}, but this run uses {what} {current}. Planning here would treat every resource as deleted outside cairn and create it again, orphaning the originals. Use the {what} the state records; to move the stack on purpose, destroy it there first, or re-point the state with `cairn state migrate --{flag} {current}` (README: \"Moving a stack\")"
)]
pub struct LocationMismatch {
    /// `region` or `account`.
    pub what: &'static str,
    pub flag: &'static str,
    pub recorded: String,
    pub current: String,
}

impl Snapshot {
    /// Refuses a run in another region or account than the state records. State without a
    /// record (new, or written before cairn recorded it) accepts any; the next apply records it.
    pub fn check_location(&self, region: &str, account_id: Option<&str>) -> Result<(), LocationMismatch> {
        if let Some(recorded) = self.region.as_deref().filter(|r| *r != region) {
            return Err(LocationMismatch { what: "region", flag: "region", recorded: recorded.into(), current: region.into() });
        }
        if let (Some(recorded), Some(current)) = (self.account_id.as_deref(), account_id) {
            if recorded != current {
                return Err(LocationMismatch { what: "account", flag: "account", recorded: recorded.into(), current: current.into() });
            }
        }
        Ok(())
    }
}

/// The suffix of the address under which a create-before-destroy replace keeps the old
/// resource until its delete is confirmed (Terraform's "deposed" object).
pub const DEPOSED_SUFFIX: &str = "~deposed";

/// Where the old resource of `address` is kept while its replacement is created.
pub fn deposed_address(address: &str) -> String {
    format!("{address}{DEPOSED_SUFFIX}")
}

/// The address a deposed record belongs to, if `address` is one.
pub fn deposed_of(address: &str) -> Option<&str> {
    address.strip_suffix(DEPOSED_SUFFIX)
}

/// Who holds (or wants) the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub owner: String,
    pub host: String,
    pub pid: u32,
    /// What the holder is doing: `apply`, `destroy`, `plan`, `import`...
    pub operation: String,
    /// Unix seconds at which the lock was taken.
    pub created_at: u64,
    /// Unix seconds after which the lock counts as abandoned unless renewed.
    pub lease_expires_at: u64,
}

/// The mutation about to be made, journaled before the cloud is called.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpIntent {
    pub address: String,
    pub kind: String,
    pub action: JournalAction,
    /// The physical id for update/delete; empty for create.
    pub id: String,
    /// The desired resource as sent (props, tags, owner, token), so an interrupted create can be found again.
    pub desired: Option<crate::provider::Desired>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalAction {
    Create,
    Update,
    Delete,
}

/// How a journaled mutation ended. `finish_op` applies the record change in the same transaction.
// One outcome lives for the length of one call; boxing the record would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OpOutcome {
    /// The resource now exists as recorded.
    Applied(ResourceRecord),
    /// The resource is gone; its record is removed.
    Deleted { address: String },
    /// The call failed; the record is unchanged.
    Failed { error: String },
}

/// A journal row left open by a run that never finished it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenOp {
    pub op_id: i64,
    pub intent: OpIntent,
    pub started_at: u64,
}

/// One entry of `cairn state history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub serial: u64,
    pub applied_at: u64,
    /// `apply`, `destroy`, `import`, `reconcile`...
    pub operation: String,
    pub resource_count: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state is locked by {} on {} (pid {}) for {} since {}", .0.owner, .0.host, .0.pid, .0.operation, .0.created_at)]
    Locked(LockInfo),
    #[error("the lock is not held by this run")]
    NotLocked,
    #[error("state changed since it was read (expected serial {expected}, found {found})")]
    Conflict { expected: u64, found: u64 },
    #[error("state storage: {0}")]
    Storage(String),
    #[error("no such history entry: serial {0}")]
    NoSuchSerial(u64),
}

/// Where state for one (stack, env) is kept.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Takes the lock or fails with the holder's identity.
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError>;
    /// Extends the lease of a lock this run holds.
    async fn renew_lock(&self, lease_expires_at: u64) -> Result<(), StateError>;
    async fn unlock(&self) -> Result<(), StateError>;
    /// Removes any lock, whoever holds it (`cairn state unlock`). Returns the lock that was removed.
    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError>;
    async fn current_lock(&self) -> Result<Option<LockInfo>, StateError>;

    async fn snapshot(&self) -> Result<Snapshot, StateError>;

    /// Journals an intent; committed before this returns.
    async fn begin_op(&self, intent: &OpIntent) -> Result<i64, StateError>;
    /// Closes a journal row and applies its outcome to the records, atomically; bumps the serial.
    async fn finish_op(&self, op_id: i64, outcome: &OpOutcome) -> Result<(), StateError>;
    async fn open_ops(&self) -> Result<Vec<OpenOp>, StateError>;

    /// Writes a record outside the journal (import, refresh of drifted attributes); bumps the serial.
    async fn put_record(&self, record: &ResourceRecord) -> Result<(), StateError>;
    async fn remove_record(&self, address: &str) -> Result<(), StateError>;
    /// Renames a record from `from` to `to` in one commit (`moved:`, deposing the old half of
    /// a replace): a crash never leaves both or neither. A missing `from` is a no-op; an
    /// existing `to` is overwritten. Bumps the serial when something moved.
    async fn move_record(&self, from: &str, to: &str) -> Result<(), StateError>;
    /// Records the region and account the resources live in (first apply, or a deliberate
    /// `cairn state migrate`); bumps the serial when they change.
    async fn set_location(&self, region: &str, account_id: Option<&str>) -> Result<(), StateError>;
    async fn set_outputs(&self, outputs: &BTreeMap<String, Value>) -> Result<(), StateError>;

    /// Saves the current state as a history entry.
    async fn record_history(&self, operation: &str) -> Result<(), StateError>;
    async fn history(&self) -> Result<Vec<HistoryEntry>, StateError>;
    async fn history_snapshot(&self, serial: u64) -> Result<Snapshot, StateError>;
}
