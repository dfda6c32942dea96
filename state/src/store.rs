//! `SqliteStore`: opening a state file and the `StateStore` operations on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use cairn_engine::state::{HistoryEntry, JournalAction, LockInfo, OpIntent, OpOutcome, OpenOp, ResourceRecord, Snapshot, StateError, StateStore};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use serde_json::Value;

use crate::error::Error;
use crate::lock::{self, Held};
use crate::schema;
use crate::sys;

/// How long a statement waits for another process's write transaction before failing.
/// Writes are a handful of rows, so anything longer means the other side is stuck.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the state of one (stack, env) lives by default: `<root>/.cairn/<stack>/<env>.db`.
///
/// `stack` and `env` are used as path components as given; the caller has already checked they are plain names.
pub fn default_path(root: &Path, stack: &str, env: &str) -> PathBuf {
    root.join(".cairn").join(stack).join(format!("{env}.db"))
}

/// The state of one (stack, env) in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    stack: String,
    env: String,
    lineage: String,
    // One connection behind a plain mutex: every call is a few statements, so holding
    // it across an await-free critical section is cheaper than a pool or `spawn_blocking`.
    inner: Mutex<Inner>,
}

struct Inner {
    conn: Connection,
    /// The lock row this instance wrote, so `unlock` and `renew_lock` never touch another run's lock.
    held: Option<Held>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("stack", &self.stack)
            .field("env", &self.env)
            .field("lineage", &self.lineage)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the state file for (stack, env) at `path`, creating it (and its directory) if needed.
    ///
    /// A file that already belongs to another stack or env is refused.
    pub fn open(path: &Path, stack: &str, env: &str) -> Result<SqliteStore, StateError> {
        Self::open_inner(path, Some((stack, env))).map_err(StateError::from)
    }

    /// Opens a state file that must already exist; for commands that only read state.
    pub fn open_existing(path: &Path) -> Result<SqliteStore, StateError> {
        Self::open_inner(path, None).map_err(StateError::from)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    pub fn env(&self) -> &str {
        &self.env
    }

    /// Fixed when the file was created; see `Snapshot::lineage`.
    pub fn lineage(&self) -> &str {
        &self.lineage
    }

    fn open_inner(path: &Path, create_for: Option<(&str, &str)>) -> Result<SqliteStore, Error> {
        // No SQLITE_OPEN_URI: a path is taken literally, even one starting with `file:`.
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create_for.is_some() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir { path: dir.to_path_buf(), source })?;
            }
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        } else if !path.is_file() {
            return Err(Error::Missing(path.to_path_buf()));
        }
        let mut conn = Connection::open_with_flags(path, flags)?;
        // Before anything that writes, so a concurrent opener waits instead of failing.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Corrupt(format!("cannot switch {} to WAL mode (got {mode})", path.display())));
        }
        // NORMAL would be enough for consistency, but could lose the last commits on
        // power loss; the journal's promise is that a committed begin_op is on disk.
        conn.pragma_update(None, "synchronous", "FULL")?;

        schema::migrate(&mut conn, path, create_for.is_some())?;
        let (lineage, stack, env) = identify(&mut conn, path, create_for)?;
        Ok(SqliteStore { path: path.to_path_buf(), stack, env, lineage, inner: Mutex::new(Inner { conn, held: None }) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T, Error>) -> Result<T, StateError> {
        // A panic inside `f` drops its transaction, which rolls back: the connection is
        // still consistent, so a poisoned mutex is safe to keep using.
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut inner).map_err(StateError::from)
    }
}

/// Writes lineage, serial, stack and env into a new file, and reads them back.
fn identify(conn: &mut Connection, path: &Path, create_for: Option<(&str, &str)>) -> Result<(String, String, String), Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some((stack, env)) = create_for {
        let mut insert = tx.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)")?;
        insert.execute(params!["lineage", sys::new_lineage()])?;
        insert.execute(params!["serial", 0i64])?;
        insert.execute(params!["stack", stack])?;
        insert.execute(params!["env", env])?;
    }
    let get = |key: &str| -> Result<String, Error> {
        tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get::<_, String>(0))
            .optional()?
            .ok_or_else(|| Error::Corrupt(format!("{} has no {key} in its meta table", path.display())))
    };
    let (lineage, stack, env) = (get("lineage")?, get("stack")?, get("env")?);
    if let Some((want_stack, want_env)) = create_for {
        if stack != want_stack || env != want_env {
            return Err(Error::WrongStack {
                path: path.to_path_buf(),
                found_stack: stack,
                found_env: env,
                stack: want_stack.to_string(),
                env: want_env.to_string(),
            });
        }
    }
    tx.commit()?;
    Ok((lineage, stack, env))
}

fn write_tx(conn: &mut Connection) -> Result<Transaction<'_>, Error> {
    // IMMEDIATE takes the write lock up front: a DEFERRED transaction that reads and
    // then writes can fail with SQLITE_BUSY without waiting if another writer got in between.
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

fn serial(tx: &Connection) -> Result<u64, Error> {
    Ok(tx.query_row("SELECT value FROM meta WHERE key = 'serial'", [], |r| r.get(0))?)
}

fn bump_serial(tx: &Connection) -> Result<u64, Error> {
    Ok(tx.query_row("UPDATE meta SET value = value + 1 WHERE key = 'serial' RETURNING value", [], |r| r.get(0))?)
}

fn upsert_record(tx: &Connection, rec: &ResourceRecord) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO resources (address, kind, id, props, attrs, tags, deps, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (address) DO UPDATE SET
             kind = excluded.kind, id = excluded.id, props = excluded.props, attrs = excluded.attrs,
             tags = excluded.tags, deps = excluded.deps, updated_at = excluded.updated_at",
        params![
            rec.address,
            rec.kind,
            rec.id,
            serde_json::to_string(&rec.props)?,
            serde_json::to_string(&rec.attrs)?,
            serde_json::to_string(&rec.tags)?,
            serde_json::to_string(&rec.deps)?,
            sys::now(),
        ],
    )?;
    Ok(())
}

/// Removes a record; whether there was one to remove.
fn delete_record(tx: &Connection, address: &str) -> Result<bool, Error> {
    Ok(tx.execute("DELETE FROM resources WHERE address = ?1", [address])? > 0)
}

fn read_outputs(tx: &Connection) -> Result<BTreeMap<String, Value>, Error> {
    let mut stmt = tx.prepare("SELECT name, value FROM outputs")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (name, value) = row?;
        out.insert(name, serde_json::from_str(&value)?);
    }
    Ok(out)
}

fn read_snapshot(tx: &Connection) -> Result<Snapshot, Error> {
    let lineage: String = tx.query_row("SELECT value FROM meta WHERE key = 'lineage'", [], |r| r.get(0))?;
    let mut stmt = tx.prepare("SELECT address, kind, id, props, attrs, tags, deps FROM resources")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut resources = BTreeMap::new();
    for row in rows {
        let (address, kind, id, props, attrs, tags, deps) = row?;
        let record = ResourceRecord {
            address: address.clone(),
            kind,
            id,
            props: serde_json::from_str(&props)?,
            attrs: serde_json::from_str(&attrs)?,
            tags: serde_json::from_str(&tags)?,
            deps: serde_json::from_str(&deps)?,
        };
        resources.insert(address, record);
    }
    let meta = |key: &str| -> Result<Option<String>, Error> { Ok(tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?) };
    Ok(Snapshot { lineage, serial: serial(tx)?, resources, outputs: read_outputs(tx)?, region: meta("region")?, account_id: meta("account_id")? })
}

fn action_name(action: JournalAction) -> &'static str {
    match action {
        JournalAction::Create => "create",
        JournalAction::Update => "update",
        JournalAction::Delete => "delete",
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        self.with(|inner| {
            inner.held = Some(lock::acquire(&mut inner.conn, inner.held.as_ref(), info)?);
            Ok(())
        })
    }

    async fn renew_lock(&self, lease_expires_at: u64) -> Result<(), StateError> {
        self.with(|inner| {
            let held = inner.held.as_ref().ok_or(Error::NotLocked)?;
            let renewed = lock::renew(&inner.conn, held, lease_expires_at);
            if matches!(renewed, Err(Error::NotLocked)) {
                // Someone ran `cairn state unlock` (or took over): we no longer hold anything.
                inner.held = None;
            }
            renewed
        })
    }

    async fn unlock(&self) -> Result<(), StateError> {
        self.with(|inner| {
            let held = inner.held.take().ok_or(Error::NotLocked)?;
            lock::release(&inner.conn, &held)
        })
    }

    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        self.with(|inner| {
            let removed = lock::force_release(&mut inner.conn)?;
            if removed.as_ref().is_some_and(|r| lock::is_held(r, inner.held.as_ref())) {
                inner.held = None;
            }
            Ok(removed)
        })
    }

    async fn current_lock(&self) -> Result<Option<LockInfo>, StateError> {
        self.with(|inner| lock::current(&inner.conn))
    }

    async fn snapshot(&self) -> Result<Snapshot, StateError> {
        self.with(|inner| {
            // One read transaction, so records, outputs and serial come from the same commit.
            let tx = inner.conn.transaction()?;
            read_snapshot(&tx)
        })
    }

    async fn begin_op(&self, intent: &OpIntent) -> Result<i64, StateError> {
        self.with(|inner| {
            let tx = write_tx(&mut inner.conn)?;
            tx.execute(
                "INSERT INTO journal (address, kind, action, physical_id, intent, status, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6)",
                params![intent.address, intent.kind, action_name(intent.action), intent.id, serde_json::to_string(intent)?, sys::now(),],
            )?;
            let op_id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(op_id)
        })
    }

    async fn finish_op(&self, op_id: i64, outcome: &OpOutcome) -> Result<(), StateError> {
        self.with(|inner| {
            let tx = write_tx(&mut inner.conn)?;
            let status: String =
                tx.query_row("SELECT status FROM journal WHERE op_id = ?1", [op_id], |r| r.get(0)).optional()?.ok_or(Error::NoSuchOp(op_id))?;
            if status != "open" {
                return Err(Error::OpClosed { op_id, status });
            }
            let (status, error) = match outcome {
                OpOutcome::Failed { error } => ("failed", Some(error.as_str())),
                OpOutcome::Applied(_) | OpOutcome::Deleted { .. } => ("done", None),
            };
            tx.execute("UPDATE journal SET status = ?1, error = ?2, finished_at = ?3 WHERE op_id = ?4", params![status, error, sys::now(), op_id])?;
            match outcome {
                OpOutcome::Applied(record) => {
                    upsert_record(&tx, record)?;
                    bump_serial(&tx)?;
                }
                OpOutcome::Deleted { address } => {
                    if delete_record(&tx, address)? {
                        bump_serial(&tx)?;
                    }
                }
                OpOutcome::Failed { .. } => {}
            }
            tx.commit()?;
            Ok(())
        })
    }

    async fn open_ops(&self) -> Result<Vec<OpenOp>, StateError> {
        self.with(|inner| {
            let mut stmt = inner.conn.prepare("SELECT op_id, intent, started_at FROM journal WHERE status = 'open' ORDER BY op_id")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, u64>(2)?)))?;
            let mut ops = Vec::new();
            for row in rows {
                let (op_id, intent, started_at) = row?;
                ops.push(OpenOp { op_id, intent: serde_json::from_str(&intent)?, started_at });
            }
            Ok(ops)
        })
    }

    async fn put_record(&self, record: &ResourceRecord) -> Result<(), StateError> {
        self.with(|inner| {
            let tx = write_tx(&mut inner.conn)?;
            upsert_record(&tx, record)?;
            bump_serial(&tx)?;
            tx.commit()?;
            Ok(())
        })
    }

    async fn remove_record(&self, address: &str) -> Result<(), StateError> {
        self.with(|inner| {
            let tx = write_tx(&mut inner.conn)?;
            if delete_record(&tx, address)? {
                bump_serial(&tx)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    async fn move_record(&self, from: &str, to: &str) -> Result<(), StateError> {
        if from == to {
            return Ok(());
        }
        self.with(|inner| {
            let tx = write_tx(&mut inner.conn)?;
            let moved = tx.execute(
                "INSERT OR REPLACE INTO resources (address, kind, id, props, attrs, tags, deps, updated_at)
                 SELECT ?2, kind, id, props, attrs, tags, deps, ?3 FROM resources WHERE address = ?1",
                params![from, to, sys::now()],
            )?;
            if moved > 0 {
                delete_record(&tx, from)?;
                bump_serial(&tx)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    async fn set_location(&self, region: &str, account_id: Option<&str>) -> Result<(), StateError> {
        self.with(|inner| {
            let tx = write_tx(&mut inner.conn)?;
            let snapshot = read_snapshot(&tx)?;
            if snapshot.region.as_deref() == Some(region) && snapshot.account_id.as_deref() == account_id {
                return Ok(());
            }
            // In `meta`, like lineage: a file written before these keys existed simply lacks them.
            tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('region', ?1)", [region])?;
            match account_id {
                Some(a) => tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('account_id', ?1)", [a])?,
                None => tx.execute("DELETE FROM meta WHERE key = 'account_id'", [])?,
            };
            bump_serial(&tx)?;
            tx.commit()?;
            Ok(())
        })
    }

    async fn set_outputs(&self, outputs: &BTreeMap<String, Value>) -> Result<(), StateError> {
        self.with(|inner| {
            let tx = write_tx(&mut inner.conn)?;
            if read_outputs(&tx)? == *outputs {
                return Ok(());
            }
            tx.execute("DELETE FROM outputs", [])?;
            {
                let mut insert = tx.prepare("INSERT INTO outputs (name, value) VALUES (?1, ?2)")?;
                for (name, value) in outputs {
                    insert.execute(params![name, serde_json::to_string(value)?])?;
                }
            }
            bump_serial(&tx)?;
            tx.commit()?;
            Ok(())
        })
    }

    async fn record_history(&self, operation: &str) -> Result<(), StateError> {
        self.with(|inner| {
            let tx = write_tx(&mut inner.conn)?;
            let snapshot = read_snapshot(&tx)?;
            tx.execute(
                "INSERT OR REPLACE INTO history (serial, applied_at, operation, snapshot) VALUES (?1, ?2, ?3, ?4)",
                params![snapshot.serial, sys::now(), operation, serde_json::to_string(&snapshot)?],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    async fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        self.with(|inner| {
            // Counting in SQL spares parsing every stored snapshot just to list them.
            let mut stmt = inner.conn.prepare(
                "SELECT serial, applied_at, operation, (SELECT count(*) FROM json_each(snapshot, '$.resources'))
                 FROM history ORDER BY serial DESC",
            )?;
            let rows =
                stmt.query_map([], |r| Ok(HistoryEntry { serial: r.get(0)?, applied_at: r.get(1)?, operation: r.get(2)?, resource_count: r.get(3)? }))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    async fn history_snapshot(&self, serial: u64) -> Result<Snapshot, StateError> {
        self.with(|inner| {
            let json: String = inner
                .conn
                .query_row("SELECT snapshot FROM history WHERE serial = ?1", [serial], |r| r.get(0))
                .optional()?
                .ok_or(Error::NoSuchSerial(serial))?;
            Ok(serde_json::from_str(&json)?)
        })
    }
}
