//! The S3 state backend against a real S3 API: a moto server started for this test binary.
//!
//! With `CAIRN_TEST_ENDPOINT` set, that endpoint is used instead (LocalStack, MinIO...).
//! If the emulator cannot be started the tests fail and say why: they never skip.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
use cairn_engine::provider::{Desired, Owner, Props, Tags};
use cairn_engine::state::{JournalAction, LockInfo, OpIntent, OpOutcome, ResourceRecord, StateError, StateStore};
use cairn_state::{local_hostname, open_s3, S3Location, S3Store, SqliteStore};
use serde_json::json;

// ---------------------------------------------------------------- emulator

static ENDPOINT: OnceLock<String> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);
static MOTO: OnceLock<Mutex<Child>> = OnceLock::new();

fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| match std::env::var("CAIRN_TEST_ENDPOINT") {
        Ok(e) if !e.is_empty() => {
            wait_ready(&e, Duration::from_secs(30)).unwrap_or_else(|why| panic!("CAIRN_TEST_ENDPOINT={e} is not answering: {why}"));
            e
        }
        _ => start_moto(),
    })
}

fn start_moto() -> String {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free local port for the emulator");
    let log_path = std::env::temp_dir().join(format!("cairn-state-moto-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("cannot create the emulator log file");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../localstack/moto.sh");
    let child = Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(port.to_string())
        // The script stops moto once this test process is gone.
        .env("CAIRN_PARENT_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    // Kept for the life of the test process; the script exits on its own when we are gone.
    MOTO.get_or_init(|| Mutex::new(child));
    let endpoint = format!("http://127.0.0.1:{port}");
    // The first run installs moto into a venv, which takes a while on a new machine.
    if let Err(why) = wait_ready(&endpoint, Duration::from_secs(600)) {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("the moto emulator did not start ({why}). Its log ({}):\n{log}", log_path.display());
    }
    endpoint
}

fn wait_ready(endpoint: &str, limit: Duration) -> Result<(), String> {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    let deadline = Instant::now() + limit;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match probe(&hostport) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    Err(format!("not ready after {}s: {last}", limit.as_secs()))
}

/// `GET /moto-api/`: any HTTP answer means the server is up.
fn probe(hostport: &str) -> Result<(), String> {
    let mut s = TcpStream::connect(hostport).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(format!("GET /moto-api/ HTTP/1.0\r\nHost: {hostport}\r\n\r\n").as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
    if buf[..n].starts_with(b"HTTP/") {
        Ok(())
    } else {
        Err("not an HTTP answer".into())
    }
}

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id() % 100_000)
}

async fn sdk_config() -> aws_config::SdkConfig {
    let creds = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "cairn-tests");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .load()
        .await
}

/// A client of its own: each one stands for a separate machine.
async fn machine() -> Client {
    let conf = aws_sdk_s3::config::Builder::from(&sdk_config().await).force_path_style(true).build();
    Client::from_conf(conf)
}

async fn new_bucket(client: &Client) -> String {
    let bucket = unique("cairn-state");
    client.create_bucket().bucket(&bucket).send().await.unwrap_or_else(|e| panic!("create bucket {bucket}: {e:?}"));
    bucket
}

async fn open(client: &Client, bucket: &str) -> S3Store {
    S3Store::new(client.clone(), bucket, "teams/state", "app", "dev", None).await.unwrap()
}

async fn get_json(client: &Client, bucket: &str, key: &str) -> serde_json::Value {
    let out = client.get_object().bucket(bucket).key(key).send().await.unwrap();
    serde_json::from_slice(&out.body.collect().await.unwrap().into_bytes()).unwrap()
}

// ---------------------------------------------------------------- fixtures

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

fn lock_info(owner: &str) -> LockInfo {
    LockInfo {
        owner: owner.into(),
        host: local_hostname(),
        pid: std::process::id(),
        operation: "apply".into(),
        created_at: 1_700_000_000,
        lease_expires_at: 4_000_000_000,
    }
}

fn storage_message(err: StateError) -> String {
    match err {
        StateError::Storage(msg) => msg,
        other => panic!("expected a storage error, got {other:?}"),
    }
}

// ---------------------------------------------------------------- tests

/// What the backend relies on, checked on the emulator itself with plain SDK calls.
#[tokio::test]
async fn the_emulator_enforces_conditional_writes_and_deletes() {
    let client = machine().await;
    let bucket = new_bucket(&client).await;
    let put = |body: &'static str| client.put_object().bucket(&bucket).key("k").body(ByteStream::from_static(body.as_bytes()));
    let first = put("a").if_none_match("*").send().await.unwrap();
    let err = put("b").if_none_match("*").send().await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 412);
    assert_eq!(err.code(), Some("PreconditionFailed"));
    let err = put("c").if_match("\"0000\"").send().await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 412);
    put("d").if_match(first.e_tag().unwrap()).send().await.unwrap();
    let del = |etag: &str| client.delete_object().bucket(&bucket).key("k").if_match(etag);
    let err = del(first.e_tag().unwrap()).send().await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 412);
    let etag = client.head_object().bucket(&bucket).key("k").send().await.unwrap().e_tag().unwrap().to_string();
    del(&etag).send().await.unwrap();
    let gone = client.head_object().bucket(&bucket).key("k").send().await;
    assert!(gone.is_err(), "the conditional delete removed the object");
}

#[tokio::test]
async fn create_and_reopen_keep_lineage_and_serial() {
    let client = machine().await;
    let bucket = new_bucket(&client).await;

    let missing = S3Store::open_existing(client.clone(), &bucket, "teams/state", "app", "dev", None).await.unwrap_err();
    let msg = storage_message(missing);
    assert!(msg.contains("no state at") && msg.contains("teams/state/app/dev/state.json"), "{msg}");

    let store = open(&client, &bucket).await;
    assert_eq!(store.state_key(), "teams/state/app/dev/state.json");
    let first = store.snapshot().await.unwrap();
    assert_eq!(first.lineage.len(), 32);
    assert_eq!(first.lineage, store.lineage());
    assert_eq!(first.serial, 0);
    store.put_record(&record("queue", "q1")).await.unwrap();
    drop(store);

    // A new instance, as on another machine; the prefix's slashes do not matter.
    let again = S3Store::new(machine().await, &bucket, "/teams/state/", "app", "dev", None).await.unwrap();
    let snap = again.snapshot().await.unwrap();
    assert_eq!(snap.lineage, first.lineage);
    assert_eq!(snap.serial, 1);
    assert_eq!(snap.resources["queue"], record("queue", "q1"));
    let existing = S3Store::open_existing(client.clone(), &bucket, "teams/state", "app", "dev", None).await.unwrap();
    assert_eq!(existing.snapshot().await.unwrap(), snap);

    let prod = S3Store::new(client.clone(), &bucket, "teams/state", "app", "prod", None).await.unwrap();
    assert_ne!(prod.lineage(), first.lineage, "each new state gets its own lineage");
    assert_eq!(prod.snapshot().await.unwrap().serial, 0);

    // A document of another stack at this key, or one from a newer cairn, is refused.
    let mut doc = get_json(&client, &bucket, "teams/state/app/dev/state.json").await;
    doc["env"] = json!("prod");
    client.put_object().bucket(&bucket).key("elsewhere/app/dev/state.json").body(ByteStream::from(serde_json::to_vec(&doc).unwrap())).send().await.unwrap();
    let msg = storage_message(S3Store::new(client.clone(), &bucket, "elsewhere", "app", "dev", None).await.unwrap_err());
    assert!(msg.contains("\"prod\"") && msg.contains("\"dev\""), "{msg}");
    doc["env"] = json!("dev");
    doc["format"] = json!(99);
    client.put_object().bucket(&bucket).key("elsewhere/app/dev/state.json").body(ByteStream::from(serde_json::to_vec(&doc).unwrap())).send().await.unwrap();
    let msg = storage_message(S3Store::new(client.clone(), &bucket, "elsewhere", "app", "dev", None).await.unwrap_err());
    assert!(msg.contains("format version 99") && msg.contains("upgrade cairn"), "{msg}");
}

/// Runs the journal and record rules on any backend, returning what it observed.
async fn journal_transcript(store: &dyn StateStore) -> Vec<String> {
    let mut seen = Vec::new();
    let mut note = |s: String| seen.push(s);
    let serial = |s: &cairn_engine::state::Snapshot| s.serial;

    note(format!("start serial {}", serial(&store.snapshot().await.unwrap())));
    let op = store.begin_op(&intent("queue", JournalAction::Create, "")).await.unwrap();
    let open = store.open_ops().await.unwrap();
    note(format!("begin -> op {op}, open {:?}, serial {}", open.iter().map(|o| o.op_id).collect::<Vec<_>>(), serial(&store.snapshot().await.unwrap())));
    assert_eq!(open[0].intent, intent("queue", JournalAction::Create, ""));
    assert!(open[0].started_at > 0);

    store.finish_op(op, &OpOutcome::Applied(record("queue", "q1"))).await.unwrap();
    let snap = store.snapshot().await.unwrap();
    note(format!("applied -> serial {}, records {:?}, open {}", snap.serial, snap.resources.keys().collect::<Vec<_>>(), store.open_ops().await.unwrap().len()));
    assert_eq!(snap.resources["queue"], record("queue", "q1"));

    let before = store.snapshot().await.unwrap();
    let op = store.begin_op(&intent("queue", JournalAction::Update, "q1")).await.unwrap();
    store.finish_op(op, &OpOutcome::Failed { error: "AccessDenied".into() }).await.unwrap();
    let after = store.snapshot().await.unwrap();
    assert_eq!(after, before, "a failed op changes nothing");
    note(format!("failed op {op} -> serial {}, open {}", after.serial, store.open_ops().await.unwrap().len()));

    let op = store.begin_op(&intent("queue", JournalAction::Delete, "q1")).await.unwrap();
    store.finish_op(op, &OpOutcome::Deleted { address: "queue".into() }).await.unwrap();
    let snap = store.snapshot().await.unwrap();
    note(format!("deleted op {op} -> serial {}, records {}", snap.serial, snap.resources.len()));

    let closed = store.finish_op(op, &OpOutcome::Failed { error: "x".into() }).await.unwrap_err();
    note(format!("finish closed -> {closed}"));
    let unknown = store.finish_op(999, &OpOutcome::Failed { error: "x".into() }).await.unwrap_err();
    note(format!("finish unknown -> {unknown}"));

    let op = store.begin_op(&intent("ghost", JournalAction::Delete, "g")).await.unwrap();
    store.finish_op(op, &OpOutcome::Deleted { address: "ghost".into() }).await.unwrap();
    note(format!("deleting a missing record -> serial {}", serial(&store.snapshot().await.unwrap())));

    store.put_record(&record("a", "1")).await.unwrap();
    store.remove_record("missing").await.unwrap();
    note(format!("put + remove missing -> serial {}", serial(&store.snapshot().await.unwrap())));
    store.remove_record("a").await.unwrap();
    note(format!("remove -> serial {}", serial(&store.snapshot().await.unwrap())));

    let outputs = BTreeMap::from([("url".to_string(), json!("https://q")), ("n".to_string(), json!([1, 2]))]);
    store.set_outputs(&outputs).await.unwrap();
    store.set_outputs(&outputs).await.unwrap();
    let snap = store.snapshot().await.unwrap();
    assert_eq!(snap.outputs, outputs);
    note(format!("outputs twice -> serial {}", snap.serial));
    store.set_outputs(&BTreeMap::new()).await.unwrap();
    let snap = store.snapshot().await.unwrap();
    note(format!("outputs cleared -> serial {}, {}", snap.serial, snap.outputs.len()));

    let left_open = store.begin_op(&intent("b", JournalAction::Create, "")).await.unwrap();
    note(format!("left open {left_open} -> open {:?}", store.open_ops().await.unwrap().iter().map(|o| o.op_id).collect::<Vec<_>>()));

    assert!(store.history().await.unwrap().is_empty());
    store.put_record(&record("b", "2")).await.unwrap();
    store.record_history("apply").await.unwrap();
    let at_apply = store.snapshot().await.unwrap();
    store.put_record(&record("c", "3")).await.unwrap();
    store.put_record(&record("d", "4")).await.unwrap();
    store.record_history("import").await.unwrap();
    store.record_history("import").await.unwrap();
    let history = store.history().await.unwrap();
    assert!(history.iter().all(|h| h.applied_at > 0));
    note(format!("history {:?}", history.iter().map(|h| (h.serial, h.operation.clone(), h.resource_count)).collect::<Vec<_>>()));
    assert_eq!(store.history_snapshot(at_apply.serial).await.unwrap(), at_apply);
    assert_eq!(store.history_snapshot(history[0].serial).await.unwrap(), store.snapshot().await.unwrap());
    let missing = store.history_snapshot(3).await.unwrap_err();
    note(format!("history 3 -> {missing}"));
    seen
}

#[tokio::test]
async fn journal_and_record_rules_match_the_sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("s.db"), "app", "dev").unwrap();
    let expected = journal_transcript(&sqlite).await;

    let client = machine().await;
    let bucket = new_bucket(&client).await;
    let s3 = open(&client, &bucket).await;
    let got = journal_transcript(&s3).await;
    assert_eq!(got, expected);

    // And the rules themselves, so a change to both backends does not go unnoticed.
    let pinned = [
        "start serial 0",
        "begin -> op 1, open [1], serial 0",
        "applied -> serial 1, records [\"queue\"], open 0",
        "failed op 2 -> serial 1, open 0",
        "deleted op 3 -> serial 2, records 0",
        "finish closed -> state storage: journal operation 3 is already closed (done)",
        "finish unknown -> state storage: journal operation 999 does not exist",
        "deleting a missing record -> serial 2",
        "put + remove missing -> serial 3",
        "remove -> serial 4",
        "outputs twice -> serial 5",
        "outputs cleared -> serial 6, 0",
        "left open 5 -> open [5]",
        "history [(9, \"import\", 3), (7, \"apply\", 1)]",
        "history 3 -> no such history entry: serial 3",
    ];
    assert_eq!(got, pinned);
}

#[tokio::test]
async fn an_op_never_finished_is_open_for_the_next_machine() {
    let client = machine().await;
    let bucket = new_bucket(&client).await;
    let crashed = open(&client, &bucket).await;
    let wanted = intent("queue", JournalAction::Create, "");
    let op = crashed.begin_op(&wanted).await.unwrap();
    drop(crashed);

    let next = open(&machine().await, &bucket).await;
    let open_ops = next.open_ops().await.unwrap();
    assert_eq!(open_ops.len(), 1);
    assert_eq!((open_ops[0].op_id, &open_ops[0].intent), (op, &wanted));
    next.finish_op(op, &OpOutcome::Applied(record("queue", "q1"))).await.unwrap();
    assert!(next.open_ops().await.unwrap().is_empty());
    assert_eq!(next.snapshot().await.unwrap().serial, 1);

    // The journal row is in state.json, closed.
    let doc = get_json(&client, &bucket, &next.state_key()).await;
    assert_eq!(doc["journal"][0]["status"], "done");
    assert_eq!(doc["next_op_id"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_machines_racing_for_the_lock_exactly_one_wins() {
    let setup = machine().await;
    let bucket = new_bucket(&setup).await;
    let machines = [Arc::new(open(&machine().await, &bucket).await), Arc::new(open(&machine().await, &bucket).await)];
    for round in 0..30 {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = machines
            .iter()
            .enumerate()
            .map(|(i, store)| {
                let (store, barrier) = (store.clone(), barrier.clone());
                tokio::spawn(async move {
                    let info = lock_info(&format!("machine-{i}-round-{round}"));
                    barrier.wait().await;
                    (info.clone(), store.lock(&info).await)
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let winners: Vec<usize> = (0..2).filter(|&i| results[i].1.is_ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let (winner, loser) = (winners[0], 1 - winners[0]);
        match &results[loser].1 {
            Err(StateError::Locked(holder)) => assert_eq!(*holder, results[winner].0, "round {round}"),
            other => panic!("round {round}: the loser got {other:?}"),
        }
        assert_eq!(machines[loser].current_lock().await.unwrap().as_ref(), Some(&results[winner].0));
        assert!(matches!(machines[loser].unlock().await, Err(StateError::NotLocked)));
        machines[winner].unlock().await.unwrap();
        assert_eq!(machines[loser].current_lock().await.unwrap(), None);
    }
}

#[tokio::test]
async fn only_the_holder_renews_or_releases_the_lock() {
    let client = machine().await;
    let bucket = new_bucket(&client).await;
    let alice = open(&client, &bucket).await;
    let bob = open(&client, &bucket).await;
    let alice_lock = lock_info("alice");
    alice.lock(&alice_lock).await.unwrap();
    let stored = get_json(&client, &bucket, &alice.lock_key()).await;
    assert_eq!(stored["owner"], "alice");
    assert_eq!(stored["run_id"].as_str().unwrap().len(), 32);

    let err = bob.lock(&lock_info("bob")).await.unwrap_err();
    assert!(matches!(&err, StateError::Locked(h) if *h == alice_lock), "{err:?}");
    assert!(err.to_string().contains("alice"), "{err}");
    assert!(matches!(bob.unlock().await, Err(StateError::NotLocked)));
    assert!(matches!(bob.renew_lock(9).await, Err(StateError::NotLocked)));

    alice.renew_lock(4_100_000_000).await.unwrap();
    assert_eq!(bob.current_lock().await.unwrap().unwrap().lease_expires_at, 4_100_000_000);
    // Locking again while holding replaces the lock in place, as in SQLite.
    alice.lock(&alice_lock).await.unwrap();
    assert_eq!(bob.current_lock().await.unwrap(), Some(alice_lock.clone()));
    alice.unlock().await.unwrap();
    assert_eq!(bob.current_lock().await.unwrap(), None);
    assert!(matches!(alice.unlock().await, Err(StateError::NotLocked)));

    // Same owner, host, pid and second: still two different runs, told apart by run_id.
    bob.lock(&alice_lock).await.unwrap();
    assert!(matches!(alice.lock(&alice_lock).await, Err(StateError::Locked(_))));
    assert!(matches!(alice.unlock().await, Err(StateError::NotLocked)));
    assert_eq!(bob.current_lock().await.unwrap(), Some(alice_lock.clone()));
    bob.unlock().await.unwrap();
}

#[tokio::test]
async fn a_stale_lock_is_reported_with_its_owner_until_force_unlocked() {
    let client = machine().await;
    let bucket = new_bucket(&client).await;
    let crashed = open(&client, &bucket).await;
    let mut stale = lock_info("ci-runner-7");
    stale.host = "build-host-that-died".into();
    stale.lease_expires_at = 1_700_000_060; // long past
    crashed.lock(&stale).await.unwrap();
    drop(crashed);

    let next = open(&machine().await, &bucket).await;
    let err = next.lock(&lock_info("next")).await.unwrap_err();
    match &err {
        StateError::Locked(holder) => assert_eq!(*holder, stale),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(err.to_string().contains("ci-runner-7") && err.to_string().contains("build-host-that-died"));
    assert_eq!(next.current_lock().await.unwrap(), Some(stale.clone()));

    assert_eq!(next.force_unlock().await.unwrap(), Some(stale));
    assert_eq!(next.force_unlock().await.unwrap(), None);
    next.lock(&lock_info("next")).await.unwrap();

    // A holder whose lock was force-removed no longer holds anything.
    let admin = open(&client, &bucket).await;
    assert_eq!(admin.force_unlock().await.unwrap(), Some(lock_info("next")));
    assert!(matches!(next.renew_lock(5).await, Err(StateError::NotLocked)));
    admin.lock(&lock_info("admin")).await.unwrap();
    assert!(matches!(next.unlock().await, Err(StateError::NotLocked)));
    assert_eq!(next.current_lock().await.unwrap(), Some(lock_info("admin")));

    // Junk at lock.json is neither taken as a lock nor overwritten; force_unlock clears it.
    admin.force_unlock().await.unwrap();
    client.put_object().bucket(&bucket).key(admin.lock_key()).body(ByteStream::from_static(b"not json")).send().await.unwrap();
    let msg = storage_message(admin.lock(&lock_info("admin")).await.unwrap_err());
    assert!(msg.contains("cairn state unlock"), "{msg}");
    let removed = admin.force_unlock().await.unwrap().unwrap();
    assert!(removed.owner.contains("unreadable"), "{removed:?}");
    admin.lock(&lock_info("admin")).await.unwrap();
}

#[tokio::test]
async fn a_writer_holding_a_stale_etag_cannot_overwrite() {
    let client = machine().await;
    let bucket = new_bucket(&client).await;
    let a = open(&machine().await, &bucket).await;
    let b = open(&machine().await, &bucket).await;

    // A reads (and caches that version's ETag); B writes; A writes from its old copy.
    assert_eq!(a.snapshot().await.unwrap().serial, 0);
    b.put_record(&record("from-b", "b1")).await.unwrap();
    a.put_record(&record("from-a", "a1")).await.unwrap();
    assert!(a.conflicts_seen() >= 1, "A's first write must have been refused");
    let snap = b.snapshot().await.unwrap();
    assert_eq!(snap.resources.keys().collect::<Vec<_>>(), ["from-a", "from-b"]);
    assert_eq!(snap.serial, 2, "A's change was redone on top of B's");

    // With no retries allowed the stale write is refused outright, and nothing is lost.
    let strict = open(&machine().await, &bucket).await.with_max_attempts(1);
    assert_eq!(strict.snapshot().await.unwrap().serial, 2);
    b.put_record(&record("from-b-2", "b2")).await.unwrap();
    match strict.put_record(&record("from-strict", "s")).await {
        Err(StateError::Conflict { expected, found }) => assert_eq!((expected, found), (2, 3)),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let snap = a.snapshot().await.unwrap();
    assert_eq!(snap.serial, 3);
    assert!(snap.resources.contains_key("from-b-2") && !snap.resources.contains_key("from-strict"));
    // Its next attempt starts from the version it just read, and goes through.
    strict.put_record(&record("from-strict", "s")).await.unwrap();
    assert_eq!(a.snapshot().await.unwrap().serial, 4);

    // A's copy still has the op open, B closes it: A's write is refused by the ETag and
    // redone on B's version, where the op is closed.
    let op = a.begin_op(&intent("q", JournalAction::Create, "")).await.unwrap();
    assert_eq!(b.open_ops().await.unwrap().len(), 1);
    b.finish_op(op, &OpOutcome::Applied(record("q", "q"))).await.unwrap();
    let err = a.finish_op(op, &OpOutcome::Failed { error: "x".into() }).await.unwrap_err();
    assert!(err.to_string().contains("already closed (done)"), "{err}");
    // And a no-op judged on a stale copy too: A's cached outputs are empty, B set some.
    let outputs = BTreeMap::from([("o".to_string(), json!(1))]);
    b.set_outputs(&outputs).await.unwrap();
    a.set_outputs(&BTreeMap::new()).await.unwrap();
    assert!(b.snapshot().await.unwrap().outputs.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_machines_lose_no_update() {
    let setup = machine().await;
    let bucket = new_bucket(&setup).await;
    let machines =
        [Arc::new(open(&machine().await, &bucket).await.with_max_attempts(50)), Arc::new(open(&machine().await, &bucket).await.with_max_attempts(50))];
    let per_task = 6;
    let mut tasks = Vec::new();
    for (m, store) in machines.iter().enumerate() {
        for t in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..per_task {
                    let address = format!("m{m}-t{t}-r{i}");
                    store.put_record(&record(&address, &address)).await?;
                }
                Ok::<_, StateError>(())
            }));
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let snap = machines[0].snapshot().await.unwrap();
    assert_eq!(snap.resources.len(), 4 * per_task, "{:?}", snap.resources.keys());
    assert_eq!(snap.serial, 4 * per_task as u64, "every put bumped the serial exactly once");
    let conflicts = machines[0].conflicts_seen() + machines[1].conflicts_seen();
    assert!(conflicts > 0, "the writers did overlap");
}

#[tokio::test]
async fn history_lists_every_snapshot_newest_first_across_pages() {
    let client = machine().await;
    let bucket = new_bucket(&client).await;
    let store = open(&client, &bucket).await.with_list_page_size(2);
    let mut expected = Vec::new();
    for i in 0..5 {
        store.put_record(&record(&format!("r{i}"), &i.to_string())).await.unwrap();
        store.record_history("apply").await.unwrap();
        expected.push((i as u64 + 1, "apply".to_string(), i + 1));
    }
    assert!(client.head_object().bucket(&bucket).key(store.history_key(3)).send().await.is_ok());

    // An object state.json has no summary for (say, written by an older run) is read itself.
    let mut orphan = get_json(&client, &bucket, &store.history_key(2)).await;
    orphan["serial"] = json!(42);
    orphan["operation"] = json!("restore");
    client.put_object().bucket(&bucket).key(store.history_key(42)).body(ByteStream::from(serde_json::to_vec(&orphan).unwrap())).send().await.unwrap();
    // And keys that are not snapshots are ignored.
    client
        .put_object()
        .bucket(&bucket)
        .key(format!("{}README", store.history_key(0).trim_end_matches("0.json")))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    expected.push((42, "restore".to_string(), 2));
    expected.reverse();

    let history = store.history().await.unwrap();
    let summary: Vec<_> = history.iter().map(|h| (h.serial, h.operation.clone(), h.resource_count)).collect();
    assert_eq!(summary, expected);
    let at_three = store.history_snapshot(3).await.unwrap();
    assert_eq!(at_three.serial, 3);
    assert_eq!(at_three.resources.len(), 3);
    assert!(matches!(store.history_snapshot(6).await, Err(StateError::NoSuchSerial(6))));
}

#[tokio::test]
async fn every_object_is_written_with_sse_kms_when_a_key_is_given() {
    let client = machine().await;
    let bucket = new_bucket(&client).await;
    let kms = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555";
    let store = S3Store::new(client.clone(), &bucket, "", "app", "dev", Some(kms.into())).await.unwrap();
    assert_eq!(store.state_key(), "app/dev/state.json");
    store.put_record(&record("a", "1")).await.unwrap();
    store.record_history("apply").await.unwrap();
    store.lock(&lock_info("alice")).await.unwrap();
    for key in [store.state_key(), store.lock_key(), store.history_key(1)] {
        let head = client.head_object().bucket(&bucket).key(&key).send().await.unwrap();
        assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::AwsKms), "{key}");
        assert_eq!(head.ssekms_key_id(), Some(kms), "{key}");
    }
    store.unlock().await.unwrap();
}

#[tokio::test]
async fn a_missing_bucket_is_reported_with_the_fix() {
    let client = machine().await;
    let msg = storage_message(S3Store::new(client, "no-such-cairn-bucket", "p", "app", "dev", None).await.unwrap_err());
    assert!(msg.contains("no-such-cairn-bucket"), "{msg}");
    assert!(msg.contains("create the bucket or fix state.s3.bucket"), "{msg}");
}

#[tokio::test]
async fn open_s3_builds_the_client_from_an_sdk_config() {
    let client = machine().await;
    let bucket = new_bucket(&client).await;
    let location = S3Location { bucket: bucket.clone(), key_prefix: "wired".into(), region: Some("us-east-1".into()), kms_key: None };
    let conf = sdk_config().await;
    let store = open_s3(&location, &conf, true, "app", "dev").await.unwrap();
    store.put_record(&record("a", "1")).await.unwrap();
    assert_eq!((store.bucket(), store.key_prefix()), (bucket.as_str(), "wired"));
    let doc = get_json(&client, &bucket, "wired/app/dev/state.json").await;
    assert_eq!(doc["serial"], 1);
    assert_eq!(doc["lineage"], store.lineage());
    assert_eq!(doc["resources"]["a"]["id"], "1");

    let msg = storage_message(open_s3(&S3Location { bucket: bucket.clone(), ..S3Location::default() }, &conf, true, "app/x", "dev").await.unwrap_err());
    assert!(msg.contains("\"app/x\""), "{msg}");
}

#[tokio::test]
async fn a_state_deleted_under_a_run_is_not_silently_recreated() {
    let client = machine().await;
    let bucket = new_bucket(&client).await;
    let store = open(&client, &bucket).await;
    store.put_record(&record("a", "1")).await.unwrap();
    client.delete_object().bucket(&bucket).key(store.state_key()).send().await.unwrap();
    let msg = storage_message(store.put_record(&record("b", "2")).await.unwrap_err());
    assert!(msg.contains("is gone") && msg.contains("object versions"), "{msg}");
    let msg = storage_message(store.snapshot().await.unwrap_err());
    assert!(msg.contains("is gone"), "{msg}");

    // Recreated by someone else: a different lineage, which this run refuses to write into.
    let other = open(&machine().await, &bucket).await;
    assert_ne!(other.lineage(), store.lineage());
    let msg = storage_message(store.put_record(&record("b", "2")).await.unwrap_err());
    assert!(msg.contains("lineage"), "{msg}");
}
