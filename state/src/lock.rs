//! The run lock: one row saying which run may change this state, and when it may be taken over.

use cairn_engine::state::LockInfo;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::Error;
use crate::sys;

/// Which lock row a store instance wrote. The lease is left out because renewing changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    owner: String,
    host: String,
    pid: u32,
    created_at: u64,
}

impl Held {
    fn of(info: &LockInfo) -> Self {
        Held { owner: info.owner.clone(), host: info.host.clone(), pid: info.pid, created_at: info.created_at }
    }
}

pub(crate) fn current(conn: &Connection) -> Result<Option<LockInfo>, Error> {
    Ok(conn
        .query_row("SELECT owner, host, pid, operation, created_at, lease_expires_at FROM lock WHERE id = 1", [], |r| {
            Ok(LockInfo { owner: r.get(0)?, host: r.get(1)?, pid: r.get(2)?, operation: r.get(3)?, created_at: r.get(4)?, lease_expires_at: r.get(5)? })
        })
        .optional()?)
}

/// A lock is taken over only when it was left by a crashed run on this very machine.
/// An expired lease alone is not enough: the holder may be alive on another machine
/// with a stalled clock or network, and two applies at once corrupt real infrastructure.
fn abandoned(holder: &LockInfo) -> bool {
    sys::hostname().is_some_and(|h| h == holder.host) && sys::pid_is_dead(holder.pid)
}

/// Takes the lock for `info`, returning what this instance now holds.
pub(crate) fn acquire(conn: &mut Connection, held: Option<&Held>, info: &LockInfo) -> Result<Held, Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(holder) = current(&tx)? {
        let ours = held.is_some_and(|h| *h == Held::of(&holder));
        if !ours {
            if !abandoned(&holder) {
                return Err(Error::Locked(holder));
            }
            tracing::warn!(
                owner = %holder.owner, host = %holder.host, pid = holder.pid, operation = %holder.operation,
                "taking over a lock left by a run that is no longer alive"
            );
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO lock (id, owner, host, pid, operation, created_at, lease_expires_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
        params![info.owner, info.host, info.pid, info.operation, info.created_at, info.lease_expires_at],
    )?;
    tx.commit()?;
    Ok(Held::of(info))
}

pub(crate) fn renew(conn: &Connection, held: &Held, lease_expires_at: u64) -> Result<(), Error> {
    let n = conn.execute(
        "UPDATE lock SET lease_expires_at = ?1
         WHERE id = 1 AND owner = ?2 AND host = ?3 AND pid = ?4 AND created_at = ?5",
        params![lease_expires_at, held.owner, held.host, held.pid, held.created_at],
    )?;
    if n == 0 {
        return Err(Error::NotLocked);
    }
    Ok(())
}

pub(crate) fn release(conn: &Connection, held: &Held) -> Result<(), Error> {
    let n = conn.execute(
        "DELETE FROM lock WHERE id = 1 AND owner = ?1 AND host = ?2 AND pid = ?3 AND created_at = ?4",
        params![held.owner, held.host, held.pid, held.created_at],
    )?;
    if n == 0 {
        return Err(Error::NotLocked);
    }
    Ok(())
}

/// Removes whatever lock there is, returning it.
pub(crate) fn force_release(conn: &mut Connection) -> Result<Option<LockInfo>, Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let holder = current(&tx)?;
    tx.execute("DELETE FROM lock", [])?;
    tx.commit()?;
    Ok(holder)
}

pub(crate) fn is_held(holder: &LockInfo, held: Option<&Held>) -> bool {
    held.is_some_and(|h| *h == Held::of(holder))
}
