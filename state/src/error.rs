//! Errors of the SQLite backend, and how they cross into the engine's `StateError`.

use std::io;
use std::path::PathBuf;

use cairn_engine::state::{LockInfo, StateError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create state directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("no state file at {0} (nothing has been applied for this stack and environment yet)")]
    Missing(PathBuf),
    #[error("{0} is not a cairn state file")]
    NotAState(PathBuf),
    #[error("state file {path} has schema version {found}, but this cairn only knows versions up to {supported}: upgrade cairn")]
    SchemaTooNew { path: PathBuf, found: u32, supported: u32 },
    #[error("state file {path} belongs to stack {found_stack:?} env {found_env:?}, not stack {stack:?} env {env:?}")]
    WrongStack { path: PathBuf, found_stack: String, found_env: String, stack: String, env: String },
    #[error("state file is damaged: {0}")]
    Corrupt(String),
    #[error("journal operation {0} does not exist")]
    NoSuchOp(i64),
    #[error("journal operation {op_id} is already closed ({status})")]
    OpClosed { op_id: i64, status: String },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("state JSON: {0}")]
    Json(#[from] serde_json::Error),
    // The three below have their own `StateError` variants, which callers match on.
    #[error("state is locked by {} on {} (pid {})", .0.owner, .0.host, .0.pid)]
    Locked(LockInfo),
    #[error("the lock is not held by this run")]
    NotLocked,
    #[error("no such history entry: serial {0}")]
    NoSuchSerial(u64),
}

impl From<Error> for StateError {
    fn from(e: Error) -> Self {
        match e {
            Error::Locked(holder) => StateError::Locked(holder),
            Error::NotLocked => StateError::NotLocked,
            Error::NoSuchSerial(serial) => StateError::NoSuchSerial(serial),
            other => StateError::Storage(other.to_string()),
        }
    }
}
