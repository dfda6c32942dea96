//! Schema migrations: the ordered SQL scripts that bring a state file to the layout this binary uses.
//!
//! `meta.schema_version` is the number of scripts applied. Scripts are only ever
//! appended; an applied script is never edited, since files in the wild already ran it.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::Error;

/// `meta` is created outside the scripts because it is where their progress is recorded.
const META: &str = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value NOT NULL)";

const V1: &str = "
CREATE TABLE resources (
    address    TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    props      TEXT NOT NULL,
    attrs      TEXT NOT NULL,
    tags       TEXT NOT NULL,
    deps       TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE outputs (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
CREATE TABLE journal (
    op_id       INTEGER PRIMARY KEY AUTOINCREMENT,
    address     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    action      TEXT NOT NULL,
    physical_id TEXT NOT NULL,
    intent      TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'failed')),
    error       TEXT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
);
-- Every run starts by looking for open rows; the journal itself only grows.
CREATE INDEX journal_open ON journal (op_id) WHERE status = 'open';
CREATE TABLE lock (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    owner            TEXT NOT NULL,
    host             TEXT NOT NULL,
    pid              INTEGER NOT NULL,
    operation        TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    lease_expires_at INTEGER NOT NULL
);
CREATE TABLE history (
    serial     INTEGER PRIMARY KEY NOT NULL,
    applied_at INTEGER NOT NULL,
    operation  TEXT NOT NULL,
    snapshot   TEXT NOT NULL
);
";

const MIGRATIONS: &[&str] = &[V1];

/// The schema version this binary writes; files with a higher one are refused.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Applies the scripts a file has not run yet, one transaction each.
///
/// With `create` false, a file without `meta` is refused rather than turned into a state file.
pub(crate) fn migrate(conn: &mut Connection, path: &Path, create: bool) -> Result<(), Error> {
    loop {
        // IMMEDIATE: two processes opening a new file at once must not both run a script.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !table_exists(&tx, "meta")? {
            if !create {
                return Err(Error::NotAState(path.to_path_buf()));
            }
            tx.execute(META, [])?;
        }
        let found: u32 = tx.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0)).optional()?.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew { path: path.to_path_buf(), found, supported: SCHEMA_VERSION });
        }
        if found == SCHEMA_VERSION {
            tx.commit()?;
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[found as usize])?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [found + 1],
        )?;
        tx.commit()?;
        tracing::debug!(path = %path.display(), version = found + 1, "migrated state schema");
    }
}

fn table_exists(conn: &Connection, name: &str) -> Result<bool, rusqlite::Error> {
    conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [name], |r| r.get::<_, i64>(0)).map(|n| n > 0)
}
