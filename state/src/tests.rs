//! Behaviour of the SQLite backend as the engine relies on it: atomic journaled changes, crash recovery, locking.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier};

use cairn_engine::provider::{Desired, Owner, Props, Tags};
use cairn_engine::state::{JournalAction, LockInfo, OpIntent, OpOutcome, ResourceRecord, StateError, StateStore};
use serde_json::json;

use crate::{default_path, local_hostname, SqliteStore, SCHEMA_VERSION};

fn record(address: &str, id: &str) -> ResourceRecord {
    let mut props = Props::new();
    props.insert("name".into(), json!(id));
    props.insert("visibility_timeout".into(), json!(30));
    let mut attrs = Props::new();
    attrs.insert("arn".into(), json!(format!("arn:aws:sqs:eu-west-1:000000000000:{id}")));
    ResourceRecord {
        address: address.into(),
        kind: "aws.sqs.queue".into(),
        id: id.into(),
        props,
        attrs,
        tags: Tags::from([("Env".to_string(), "dev".to_string())]),
        deps: vec!["kms.key".into()],
    }
}

fn intent(address: &str, action: JournalAction, id: &str) -> OpIntent {
    let owner = Owner { stack: "app".into(), env: "dev".into(), address: address.into() };
    OpIntent {
        address: address.into(),
        kind: "aws.sqs.queue".into(),
        action,
        id: id.into(),
        desired: Some(Desired { props: Props::new(), tags: owner.tags(), owner, default_name: "app-dev-queue".into(), idempotency_token: "tok-1".into() }),
    }
}

fn lock_info(owner: &str, pid: u32) -> LockInfo {
    LockInfo { owner: owner.into(), host: local_hostname(), pid, operation: "apply".into(), created_at: 1_700_000_000, lease_expires_at: 1_700_000_600 }
}

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, "app", "dev").unwrap()
}

/// A pid that belonged to a process which has since exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn storage_message(err: StateError) -> String {
    match err {
        StateError::Storage(msg) => msg,
        other => panic!("expected a storage error, got {other:?}"),
    }
}

#[tokio::test]
async fn create_and_reopen_keep_lineage_and_serial() {
    let dir = tempfile::tempdir().unwrap();
    let path = default_path(dir.path(), "app", "dev");
    assert!(path.ends_with(".cairn/app/dev.db"));

    let store = open(&path);
    assert!(path.is_file(), "parent directories and file are created");
    let first = store.snapshot().await.unwrap();
    assert_eq!(first.lineage.len(), 32);
    assert!(first.lineage.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(first.lineage, store.lineage());
    assert_eq!(first.serial, 0);
    store.put_record(&record("queue", "q1")).await.unwrap();
    drop(store);

    let again = open(&path);
    let snap = again.snapshot().await.unwrap();
    assert_eq!(snap.lineage, first.lineage);
    assert_eq!(snap.serial, 1);
    assert_eq!(snap.resources["queue"], record("queue", "q1"));
    drop(again);

    let existing = SqliteStore::open_existing(&path).unwrap();
    assert_eq!((existing.stack(), existing.env()), ("app", "dev"));
    assert_eq!(existing.snapshot().await.unwrap(), snap);

    let other = SqliteStore::open(&dir.path().join("other.db"), "app", "dev").unwrap();
    assert_ne!(other.lineage(), first.lineage, "each new state gets its own lineage");
}

#[tokio::test]
async fn open_existing_refuses_missing_or_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let msg = storage_message(SqliteStore::open_existing(&missing).unwrap_err());
    assert!(msg.contains("no state file") && msg.contains("nope.db"), "{msg}");
    assert!(!missing.exists(), "open_existing must not create the file");

    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign).unwrap().execute("CREATE TABLE t (x)", []).unwrap();
    let msg = storage_message(SqliteStore::open_existing(&foreign).unwrap_err());
    assert!(msg.contains("not a cairn state file"), "{msg}");
}

#[tokio::test]
async fn a_file_of_another_stack_or_env_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(open(&path));
    let msg = storage_message(SqliteStore::open(&path, "app", "prod").unwrap_err());
    assert!(msg.contains("\"prod\"") && msg.contains("\"dev\""), "{msg}");
}

#[tokio::test]
async fn finished_ops_apply_records_atomically_and_bump_the_serial() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("s.db"));

    let op = store.begin_op(&intent("queue", JournalAction::Create, "")).await.unwrap();
    let open_ops = store.open_ops().await.unwrap();
    assert_eq!(open_ops.len(), 1);
    assert_eq!(open_ops[0].op_id, op);
    assert_eq!(store.snapshot().await.unwrap().serial, 0, "beginning an op changes no record");

    store.finish_op(op, &OpOutcome::Applied(record("queue", "q1"))).await.unwrap();
    let snap = store.snapshot().await.unwrap();
    assert_eq!(snap.serial, 1);
    assert_eq!(snap.resources["queue"], record("queue", "q1"));
    assert!(store.open_ops().await.unwrap().is_empty());

    let op = store.begin_op(&intent("queue", JournalAction::Delete, "q1")).await.unwrap();
    store.finish_op(op, &OpOutcome::Deleted { address: "queue".into() }).await.unwrap();
    let snap = store.snapshot().await.unwrap();
    assert_eq!(snap.serial, 2);
    assert!(snap.resources.is_empty());

    let msg = storage_message(store.finish_op(op, &OpOutcome::Failed { error: "x".into() }).await.unwrap_err());
    assert!(msg.contains("already closed"), "{msg}");
    let msg = storage_message(store.finish_op(999, &OpOutcome::Failed { error: "x".into() }).await.unwrap_err());
    assert!(msg.contains("999"), "{msg}");
}

#[tokio::test]
async fn a_failed_op_leaves_records_and_serial_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = open(&path);
    store.put_record(&record("queue", "q1")).await.unwrap();
    let before = store.snapshot().await.unwrap();

    let op = store.begin_op(&intent("queue", JournalAction::Update, "q1")).await.unwrap();
    store.finish_op(op, &OpOutcome::Failed { error: "AccessDenied".into() }).await.unwrap();
    assert_eq!(store.snapshot().await.unwrap(), before);
    assert!(store.open_ops().await.unwrap().is_empty());

    let conn = rusqlite::Connection::open(&path).unwrap();
    let (status, error): (String, String) = conn.query_row("SELECT status, error FROM journal WHERE op_id = ?1", [op], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((status.as_str(), error.as_str()), ("failed", "AccessDenied"));
}

#[tokio::test]
async fn an_op_never_finished_is_open_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = open(&path);
    let wanted = intent("queue", JournalAction::Create, "");
    let op = store.begin_op(&wanted).await.unwrap();
    drop(store);

    let store = open(&path);
    let open_ops = store.open_ops().await.unwrap();
    assert_eq!(open_ops.len(), 1);
    assert_eq!(open_ops[0].op_id, op);
    assert_eq!(open_ops[0].intent, wanted);
    assert!(open_ops[0].started_at > 0);

    // Reconciliation closes it with what it found in the cloud.
    store.finish_op(op, &OpOutcome::Applied(record("queue", "q1"))).await.unwrap();
    assert!(store.open_ops().await.unwrap().is_empty());
    assert_eq!(store.snapshot().await.unwrap().serial, 1);
}

#[tokio::test]
async fn records_and_outputs_outside_the_journal_bump_the_serial_only_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("s.db"));
    store.put_record(&record("a", "1")).await.unwrap();
    store.remove_record("missing").await.unwrap();
    assert_eq!(store.snapshot().await.unwrap().serial, 1);
    store.remove_record("a").await.unwrap();
    assert_eq!(store.snapshot().await.unwrap().serial, 2);

    let outputs = BTreeMap::from([("url".to_string(), json!("https://q")), ("n".to_string(), json!([1, 2]))]);
    store.set_outputs(&outputs).await.unwrap();
    store.set_outputs(&outputs).await.unwrap();
    let snap = store.snapshot().await.unwrap();
    assert_eq!(snap.serial, 3);
    assert_eq!(snap.outputs, outputs);
    store.set_outputs(&BTreeMap::new()).await.unwrap();
    let snap = store.snapshot().await.unwrap();
    assert_eq!((snap.serial, snap.outputs.len()), (4, 0));
}

#[tokio::test]
async fn a_live_lock_is_refused_with_the_holders_identity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let alice = open(&path);
    let bob = open(&path);
    let alice_lock = lock_info("alice", std::process::id());
    alice.lock(&alice_lock).await.unwrap();

    let err = bob.lock(&lock_info("bob", std::process::id())).await.unwrap_err();
    match &err {
        StateError::Locked(holder) => assert_eq!(*holder, alice_lock),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(err.to_string().contains("alice"), "{err}");
    // pid 1 is alive, and an expired lease does not make a lock breakable.
    let mut init = lock_info("init", 1);
    init.lease_expires_at = 1;
    assert!(matches!(alice.force_unlock().await, Ok(Some(_))));
    bob.lock(&init).await.unwrap();
    assert!(matches!(alice.lock(&alice_lock).await, Err(StateError::Locked(h)) if h == init));
    bob.unlock().await.unwrap();
    alice.lock(&alice_lock).await.unwrap();

    assert!(matches!(bob.unlock().await, Err(StateError::NotLocked)));
    assert!(matches!(bob.renew_lock(9).await, Err(StateError::NotLocked)));
    alice.renew_lock(1_800_000_000).await.unwrap();
    assert_eq!(bob.current_lock().await.unwrap().unwrap().lease_expires_at, 1_800_000_000);
    alice.lock(&alice_lock).await.unwrap();

    alice.unlock().await.unwrap();
    assert_eq!(bob.current_lock().await.unwrap(), None);
    assert!(matches!(alice.unlock().await, Err(StateError::NotLocked)));
    bob.lock(&lock_info("bob", std::process::id())).await.unwrap();
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_lock_left_by_a_dead_process_on_this_host_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let crashed = open(&path);
    let pid = dead_pid();
    crashed.lock(&lock_info("crashed", pid)).await.unwrap();

    let next = open(&path);
    let mine = lock_info("next", std::process::id());
    next.lock(&mine).await.unwrap();
    assert_eq!(next.current_lock().await.unwrap(), Some(mine));
    assert!(matches!(crashed.unlock().await, Err(StateError::NotLocked)));
    next.unlock().await.unwrap();

    // The same dead pid on another machine says nothing about that machine's process.
    let mut elsewhere = lock_info("remote", pid);
    elsewhere.host = format!("not-{}", local_hostname());
    crashed.lock(&elsewhere).await.unwrap();
    assert!(matches!(next.lock(&lock_info("next", std::process::id())).await, Err(StateError::Locked(h)) if h == elsewhere));
}

#[tokio::test]
async fn force_unlock_removes_any_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let holder = open(&path);
    let admin = open(&path);
    assert_eq!(admin.force_unlock().await.unwrap(), None);

    let info = lock_info("alice", std::process::id());
    holder.lock(&info).await.unwrap();
    assert_eq!(admin.force_unlock().await.unwrap(), Some(info));
    assert_eq!(admin.current_lock().await.unwrap(), None);
    assert!(matches!(holder.renew_lock(5).await, Err(StateError::NotLocked)));
    admin.lock(&lock_info("admin", std::process::id())).await.unwrap();
}

#[test]
fn of_two_stores_racing_for_the_lock_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    for round in 0..10 {
        let stores = [Arc::new(open(&path)), Arc::new(open(&path))];
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let (store, barrier) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                    barrier.wait();
                    rt.block_on(store.lock(&lock_info(&format!("racer-{i}"), std::process::id())))
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: {results:?}");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(matches!(loser, StateError::Locked(_)), "round {round}: {loser:?}");

        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert!(rt.block_on(stores[0].force_unlock()).unwrap().is_some());
    }
}

#[tokio::test]
async fn history_round_trips_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("s.db"));
    assert!(store.history().await.unwrap().is_empty());

    store.put_record(&record("a", "1")).await.unwrap();
    store.set_outputs(&BTreeMap::from([("o".to_string(), json!(1))])).await.unwrap();
    store.record_history("apply").await.unwrap();
    let at_two = store.snapshot().await.unwrap();
    store.put_record(&record("b", "2")).await.unwrap();
    store.put_record(&record("c", "3")).await.unwrap();
    store.record_history("import").await.unwrap();

    let history = store.history().await.unwrap();
    let summary: Vec<_> = history.iter().map(|h| (h.serial, h.operation.as_str(), h.resource_count)).collect();
    assert_eq!(summary, [(4, "import", 3), (2, "apply", 1)]);
    assert!(history.iter().all(|h| h.applied_at > 0));
    assert_eq!(store.history_snapshot(2).await.unwrap(), at_two);
    assert_eq!(store.history_snapshot(4).await.unwrap(), store.snapshot().await.unwrap());
    assert!(matches!(store.history_snapshot(3).await, Err(StateError::NoSuchSerial(3))));
}

#[tokio::test]
async fn a_file_from_a_newer_cairn_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(open(&path));
    let newer = SCHEMA_VERSION + 1;
    rusqlite::Connection::open(&path).unwrap().execute("UPDATE meta SET value = ?1 WHERE key = 'schema_version'", [newer]).unwrap();

    for err in [SqliteStore::open(&path, "app", "dev").unwrap_err(), SqliteStore::open_existing(&path).unwrap_err()] {
        let msg = storage_message(err);
        assert!(msg.contains(&format!("schema version {newer}")), "{msg}");
        assert!(msg.contains("upgrade cairn"), "{msg}");
    }
}

#[tokio::test]
async fn the_schema_version_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(open(&path));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: u32 = conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn move_record_renames_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("s.db"));
    store.put_record(&record("old", "q1")).await.unwrap();
    store.move_record("old", "new").await.unwrap();
    let snap = store.snapshot().await.unwrap();
    assert_eq!(snap.serial, 2, "one commit for both halves");
    assert!(!snap.resources.contains_key("old"));
    assert_eq!(snap.resources["new"], ResourceRecord { address: "new".into(), ..record("old", "q1") });
    store.move_record("missing", "elsewhere").await.unwrap();
    store.move_record("new", "new").await.unwrap();
    let after = store.snapshot().await.unwrap();
    assert_eq!((after.serial, after.resources.len()), (2, 1), "nothing to move changes nothing");
}

#[tokio::test]
async fn region_and_account_are_recorded_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = open(&path);
    let fresh = store.snapshot().await.unwrap();
    assert_eq!((fresh.region, fresh.account_id), (None, None), "a state that predates them has none");
    store.set_location("eu-west-1", Some("123456789012")).await.unwrap();
    store.set_location("eu-west-1", Some("123456789012")).await.unwrap();
    assert_eq!(store.snapshot().await.unwrap().serial, 1, "unchanged location does not bump");
    drop(store);
    let snap = open(&path).snapshot().await.unwrap();
    assert_eq!((snap.region.as_deref(), snap.account_id.as_deref()), (Some("eu-west-1"), Some("123456789012")));
}
