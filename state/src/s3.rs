//! `S3Store`: the state of one (stack, env) in an S3 bucket, for teams sharing it.
//!
//! # Layout
//!
//! Everything lives under `<key_prefix>/<stack>/<env>/`:
//!
//! * `state.json` — the whole state document: lineage, serial, resource records, outputs,
//!   the operation journal (open rows always, the last
//!   [`KEEP_CLOSED_JOURNAL_ROWS`](doc::KEEP_CLOSED_JOURNAL_ROWS) closed ones), the next
//!   journal id and an index of the history objects.
//! * `lock.json` — the run lock: the engine's `LockInfo` as JSON plus a random `run_id`.
//! * `history/<serial>.json` — one snapshot per `record_history`.
//!
//! # Consistency
//!
//! S3 has no transactions, so every change to `state.json` is a compare-and-swap: the new
//! version is written with `If-Match: <ETag of the version the change was computed from>`
//! (the very first with `If-None-Match: *`). When another writer got in between, S3 answers
//! 412 Precondition Failed (or 409 ConditionalRequestConflict while two conditional writes
//! are in flight); the store then reads the new version, applies the same change to it and
//! tries again, a few times with jittered back-off, before giving up with
//! `StateError::Conflict`. No write is ever computed from a version other than the one it
//! replaces, so an update can be retried or refused but never lost. The rules for what a
//! change does (which bump the serial, which journal rows may be closed) are those of the
//! SQLite backend; see [`doc`].
//!
//! The store keeps the last version it read or wrote together with its ETag. A change is
//! first tried against that copy (one request when nobody else writes); reads send
//! `If-None-Match` with it so an unchanged state costs no download. A change that would be
//! refused or would change nothing when computed from the cached copy is re-checked against
//! a fresh read before it is reported.
//!
//! # Lock
//!
//! `lock.json` is created with `If-None-Match: *`, so of two runs racing exactly one
//! succeeds; the other reads the lock and gets `StateError::Locked` with the holder.
//! Unlike the SQLite backend, a lock is never taken over automatically, even when its lease
//! has expired or its pid looks dead: hosts and pids mean little across machines and
//! containers, so breaking a stale lock takes `cairn state unlock` (`force_unlock`).
//! `renew_lock` rewrites the lock with `If-Match` on the ETag this store wrote, and
//! `unlock` deletes it only if it still carries this store's `run_id` — checked by reading
//! it, and then enforced with `If-Match` on the DeleteObject itself (endpoints answering 501
//! to a conditional delete get a plain delete after the read-and-compare).
//!
//! # Bucket setup
//!
//! Turn on bucket versioning: each `state.json` write is then a new object version, which
//! is the further history (`aws s3api list-object-versions --prefix <prefix>/<stack>/<env>/state.json`)
//! and the way back from a bad write or a deleted state (copy an older version over the
//! current one). With `kms_key` every object is written with SSE-KMS under that key.
//! Credentials need `s3:GetObject`, `s3:PutObject`, `s3:DeleteObject` on the prefix and
//! `s3:ListBucket` on the bucket (plus `kms:GenerateDataKey`/`kms:Decrypt` with a key).

mod doc;
mod object;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use cairn_engine::state::{HistoryEntry, LockInfo, OpIntent, OpOutcome, OpenOp, ResourceRecord, Snapshot, StateError, StateStore};
use serde_json::Value;

use crate::error::Error;
use crate::sys;
use doc::{Change, FormatProbe, HistoryObject, LockDoc, StateDoc, FORMAT_VERSION};
use object::{Cond, Delete, Got, Objects, Put};

/// How many times a change is computed and written before `StateError::Conflict`.
const DEFAULT_MAX_ATTEMPTS: u32 = 10;
/// ListObjectsV2 page size (S3's maximum).
const DEFAULT_LIST_PAGE_SIZE: i32 = 1000;

/// Where the state lives in S3, as configured (`state.s3.*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct S3Location {
    pub bucket: String,
    /// Prepended to `<stack>/<env>/`; may be empty. Leading and trailing `/` are ignored.
    pub key_prefix: String,
    /// The bucket's region when it differs from the SDK configuration's.
    pub region: Option<String>,
    /// A KMS key id, ARN or alias: objects are then written with SSE-KMS under it.
    pub kms_key: Option<String>,
}

/// Builds an S3 client from `sdk_config` (with the location's region, if any) and opens the
/// state of (stack, env), creating it if there is none yet.
///
/// `force_path_style` is for emulators and S3-compatible stores that have no virtual-host buckets.
pub async fn open_s3(location: &S3Location, sdk_config: &aws_config::SdkConfig, force_path_style: bool, stack: &str, env: &str) -> Result<S3Store, StateError> {
    let mut conf = aws_sdk_s3::config::Builder::from(sdk_config).force_path_style(force_path_style);
    if let Some(region) = &location.region {
        conf = conf.region(aws_sdk_s3::config::Region::new(region.clone()));
    } else if sdk_config.region().is_none() {
        return Err(StateError::Storage(format!("no AWS region for state bucket {:?}: set state.s3.region or AWS_REGION", location.bucket)));
    }
    let client = Client::from_conf(conf.build());
    S3Store::new(client, location.bucket.clone(), location.key_prefix.clone(), stack, env, location.kms_key.clone()).await
}

/// An S3 client for the state bucket, as `open_s3` builds it.
pub fn s3_client(sdk_config: &aws_config::SdkConfig, force_path_style: bool, region: Option<&str>) -> Client {
    let mut conf = aws_sdk_s3::config::Builder::from(sdk_config).force_path_style(force_path_style);
    if let Some(region) = region {
        conf = conf.region(aws_sdk_s3::config::Region::new(region.to_string()));
    }
    Client::from_conf(conf.build())
}

/// The state of one (stack, env) in S3. See the module documentation for layout and guarantees.
pub struct S3Store {
    objects: Objects,
    key_prefix: String,
    /// `<key_prefix>/<stack>/<env>/`
    base: String,
    stack: String,
    env: String,
    lineage: String,
    /// The last version of `state.json` this store read or wrote.
    cache: Mutex<Option<Arc<Version>>>,
    /// The lock this store wrote, so `unlock` and `renew_lock` never touch another run's lock.
    held: Mutex<Option<HeldLock>>,
    max_attempts: u32,
    list_page_size: i32,
    conflicts: AtomicU64,
}

/// One version of `state.json`.
#[derive(Debug)]
struct Version {
    etag: String,
    doc: StateDoc,
}

#[derive(Debug, Clone)]
struct HeldLock {
    etag: String,
    run_id: String,
    info: LockInfo,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.objects.bucket)
            .field("base", &self.base)
            .field("lineage", &self.lineage)
            .field("kms_key", &self.objects.kms_key)
            .finish_non_exhaustive()
    }
}

/// Whether a stack or env name can be a key component.
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

impl S3Store {
    /// Opens the state of (stack, env) under `s3://bucket/key_prefix/stack/env/`, creating
    /// `state.json` (with a new lineage) if there is none. A document of another stack or env,
    /// or of a newer format, is refused.
    pub async fn new(
        client: Client,
        bucket: impl Into<String>,
        key_prefix: impl Into<String>,
        stack: impl Into<String>,
        env: impl Into<String>,
        kms_key: Option<String>,
    ) -> Result<S3Store, StateError> {
        let mut store = Self::unopened(client, bucket.into(), key_prefix.into(), stack.into(), env.into(), kms_key)?;
        store.open(true).await?;
        Ok(store)
    }

    /// Like [`S3Store::new`], but fails instead of creating a state; for commands that only read.
    pub async fn open_existing(
        client: Client,
        bucket: impl Into<String>,
        key_prefix: impl Into<String>,
        stack: impl Into<String>,
        env: impl Into<String>,
        kms_key: Option<String>,
    ) -> Result<S3Store, StateError> {
        let mut store = Self::unopened(client, bucket.into(), key_prefix.into(), stack.into(), env.into(), kms_key)?;
        store.open(false).await?;
        Ok(store)
    }

    fn unopened(client: Client, bucket: String, key_prefix: String, stack: String, env: String, kms_key: Option<String>) -> Result<S3Store, StateError> {
        if bucket.is_empty() {
            return Err(StateError::Storage("state.s3.bucket is empty: name the bucket that holds the state".into()));
        }
        for (what, name) in [("stack", &stack), ("env", &env)] {
            if !plain_name(name) {
                return Err(StateError::Storage(format!("{what} name {name:?} cannot be part of an S3 state key")));
            }
        }
        let key_prefix = key_prefix.trim_matches('/').to_string();
        let base = if key_prefix.is_empty() { format!("{stack}/{env}/") } else { format!("{key_prefix}/{stack}/{env}/") };
        Ok(S3Store {
            objects: Objects { client, bucket, kms_key: kms_key.filter(|k| !k.is_empty()) },
            key_prefix,
            base,
            stack,
            env,
            lineage: String::new(),
            cache: Mutex::new(None),
            held: Mutex::new(None),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            list_page_size: DEFAULT_LIST_PAGE_SIZE,
            conflicts: AtomicU64::new(0),
        })
    }

    /// How many times a change is computed and written before giving up with
    /// `StateError::Conflict` (at least 1; default 10).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The ListObjectsV2 page size used by `history` (1..=1000; default 1000). Small pages are for tests.
    pub fn with_list_page_size(mut self, size: i32) -> Self {
        self.list_page_size = size.clamp(1, 1000);
        self
    }

    pub fn bucket(&self) -> &str {
        &self.objects.bucket
    }

    /// The configured prefix without leading or trailing `/`.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    pub fn env(&self) -> &str {
        &self.env
    }

    /// Fixed when the state was created; see `Snapshot::lineage`.
    pub fn lineage(&self) -> &str {
        &self.lineage
    }

    /// The key of `state.json`.
    pub fn state_key(&self) -> String {
        format!("{}state.json", self.base)
    }

    /// The key of `lock.json`.
    pub fn lock_key(&self) -> String {
        format!("{}lock.json", self.base)
    }

    /// The key of the snapshot `record_history` saved for `serial`.
    pub fn history_key(&self, serial: u64) -> String {
        format!("{}history/{serial}.json", self.base)
    }

    /// How many writes of `state.json` this store found beaten by another writer (and redid).
    pub fn conflicts_seen(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.objects.bucket)
    }

    fn cached(&self) -> Option<Arc<Version>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn remember(&self, version: Arc<Version>) {
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(version);
    }

    fn held(&self) -> Option<HeldLock> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set_held(&self, held: Option<HeldLock>) {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = held;
    }

    async fn open(&mut self, create: bool) -> Result<(), StateError> {
        let key = self.state_key();
        for _ in 0..self.max_attempts.max(3) {
            match self.objects.get(&key, None).await? {
                Got::Found { etag, body } => {
                    let doc = self.parse_state(&body)?;
                    self.lineage = doc.lineage.clone();
                    self.remember_read(etag, doc)?;
                    return Ok(());
                }
                Got::Missing if !create => {
                    return Err(StateError::Storage(format!("no state at {} (nothing has been applied for this stack and environment yet)", self.url(&key))))
                }
                Got::Missing | Got::NotModified => {
                    let mut doc = StateDoc::new(&self.stack, &self.env, sys::new_lineage());
                    doc.write_id = sys::new_lineage();
                    match self.objects.put(&key, to_json(&doc)?, Cond::Absent).await? {
                        Put::Written(etag) => {
                            self.lineage = doc.lineage.clone();
                            match etag {
                                Some(etag) => self.remember(Arc::new(Version { etag, doc })),
                                None => {
                                    self.read_state().await?;
                                }
                            }
                            tracing::debug!(state = %self.url(&key), lineage = %self.lineage, "created S3 state");
                            return Ok(());
                        }
                        // Another run created it first (or our own retried request did): read it.
                        Put::Lost | Put::Missing => continue,
                    }
                }
            }
        }
        Err(StateError::Storage(format!("{} keeps appearing and disappearing while it is opened; is something deleting it?", self.url(&key))))
    }

    fn remember_read(&self, etag: String, doc: StateDoc) -> Result<Arc<Version>, StateError> {
        if etag.is_empty() {
            return Err(StateError::Storage(format!(
                "the S3 endpoint returned no ETag for {}: it cannot do the conditional writes this backend needs",
                self.url(&self.state_key())
            )));
        }
        let version = Arc::new(Version { etag, doc });
        self.remember(version.clone());
        Ok(version)
    }

    fn parse_state(&self, body: &[u8]) -> Result<StateDoc, StateError> {
        let url = self.url(&self.state_key());
        let probe: FormatProbe = serde_json::from_slice(body).map_err(|e| StateError::Storage(format!("{url} is not a cairn state document: {e}")))?;
        if probe.format > FORMAT_VERSION {
            return Err(StateError::Storage(format!(
                "state {url} has format version {}, but this cairn only knows versions up to {FORMAT_VERSION}: upgrade cairn",
                probe.format
            )));
        }
        let doc: StateDoc = serde_json::from_slice(body).map_err(|e| StateError::Storage(format!("state {url} is damaged: {e}")))?;
        if doc.stack != self.stack || doc.env != self.env {
            return Err(StateError::Storage(format!(
                "state {url} belongs to stack {:?} env {:?}, not stack {:?} env {:?}",
                doc.stack, doc.env, self.stack, self.env
            )));
        }
        if !self.lineage.is_empty() && doc.lineage != self.lineage {
            return Err(StateError::Storage(format!(
                "state {url} now has lineage {}, not {} as when this run opened it: it was deleted and created again; refusing to go on (bucket versioning keeps the old one)",
                doc.lineage, self.lineage
            )));
        }
        Ok(doc)
    }

    /// The current `state.json`, downloaded only if it differs from the cached copy.
    async fn read_state(&self) -> Result<Arc<Version>, StateError> {
        let key = self.state_key();
        let cached = self.cached();
        match self.objects.get(&key, cached.as_ref().map(|c| c.etag.as_str())).await? {
            Got::Found { etag, body } => {
                let doc = self.parse_state(&body)?;
                self.remember_read(etag, doc)
            }
            Got::NotModified => {
                cached.ok_or_else(|| StateError::Storage(format!("S3 answered 304 Not Modified to an unconditional read of {}", self.url(&key))))
            }
            Got::Missing => Err(self.vanished()),
        }
    }

    fn vanished(&self) -> StateError {
        StateError::Storage(format!(
            "state {} is gone: it was deleted after this run opened it. Restore it from the bucket's object versions, or run again to start a new, empty state",
            self.url(&self.state_key())
        ))
    }

    /// Applies `change` to the current state and writes the result with a compare-and-swap,
    /// redoing it on a fresh copy whenever another writer got in first.
    async fn mutate<T>(&self, what: &str, change: impl Fn(&mut StateDoc) -> Change<T>) -> Result<T, StateError> {
        let key = self.state_key();
        let (mut base, mut fresh) = match self.cached() {
            Some(cached) => (cached, false),
            None => (self.read_state().await?, true),
        };
        let mut lost = 0u32;
        loop {
            let mut doc = base.doc.clone();
            let outcome = change(&mut doc);
            if !fresh && !matches!(outcome, Ok((_, true))) {
                // Refused, or nothing to do, judging by a copy that may be old: judge again on the current one.
                base = self.read_state().await?;
                fresh = true;
                continue;
            }
            let (value, changed) = outcome?;
            if !changed {
                return Ok(value);
            }
            doc.write_id = sys::new_lineage();
            let write_id = doc.write_id.clone();
            let body = to_json(&doc)?;
            match self.objects.put(&key, body, Cond::Matches(&base.etag)).await? {
                Put::Written(Some(etag)) => {
                    self.remember(Arc::new(Version { etag, doc }));
                    return Ok(value);
                }
                Put::Written(None) => {
                    self.read_state().await?;
                    return Ok(value);
                }
                Put::Missing => return Err(self.vanished()),
                Put::Lost => {
                    let latest = self.read_state().await?;
                    if latest.doc.write_id == write_id {
                        // The SDK retried a request that had in fact gone through.
                        return Ok(value);
                    }
                    lost += 1;
                    self.conflicts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(state = %self.url(&key), what, attempt = lost, "state changed under a write; redoing it");
                    if lost >= self.max_attempts {
                        return Err(StateError::Conflict { expected: base.doc.serial, found: latest.doc.serial });
                    }
                    backoff(lost).await;
                    base = latest;
                    fresh = true;
                }
            }
        }
    }

    /// The lock object: its ETag, and its content if it is a cairn lock.
    async fn read_lock(&self) -> Result<Option<(String, Result<LockDoc, String>)>, StateError> {
        match self.objects.get(&self.lock_key(), None).await? {
            Got::Found { etag, body } => Ok(Some((etag, serde_json::from_slice::<LockDoc>(&body).map_err(|e| e.to_string())))),
            Got::Missing | Got::NotModified => Ok(None),
        }
    }

    fn unreadable_lock(&self, why: &str) -> StateError {
        StateError::Storage(format!("{} is not a cairn lock ({why}); if no run is going on, remove it with `cairn state unlock`", self.url(&self.lock_key())))
    }

    /// The ETag of the lock this store just wrote, reading it when S3 did not return one.
    async fn written_lock_etag(&self, etag: Option<String>, run_id: &str) -> Result<Option<String>, StateError> {
        if let Some(etag) = etag.filter(|e| !e.is_empty()) {
            return Ok(Some(etag));
        }
        Ok(match self.read_lock().await? {
            Some((etag, Ok(doc))) if doc.run_id == run_id && !etag.is_empty() => Some(etag),
            _ => None,
        })
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StateError> {
    serde_json::to_vec_pretty(value).map_err(|e| StateError::from(Error::Json(e)))
}

/// Sleeps a random 50–100% of 20 ms × 2^attempt (capped at 640 ms), so racing writers spread out.
async fn backoff(attempt: u32) {
    let ceiling = 20u64 << attempt.min(5);
    let millis = ceiling / 2 + sys::random_u64() % (ceiling / 2 + 1);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

#[async_trait]
impl StateStore for S3Store {
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        let key = self.lock_key();
        let held = self.held();
        let run_id = held.as_ref().map(|h| h.run_id.clone()).unwrap_or_else(sys::new_lineage);
        let body = to_json(&LockDoc { info: info.clone(), run_id: run_id.clone() })?;
        // Re-locking a lock this store holds replaces it in place, as in SQLite.
        let mut replace: Option<String> = held.map(|h| h.etag);
        for _ in 0..self.max_attempts.max(3) {
            let cond = match &replace {
                Some(etag) => Cond::Matches(etag),
                None => Cond::Absent,
            };
            match self.objects.put(&key, body.clone(), cond).await? {
                Put::Written(etag) => {
                    let Some(etag) = self.written_lock_etag(etag, &run_id).await? else {
                        // Taken from us (force-unlocked) within the last two requests: try again.
                        replace = None;
                        continue;
                    };
                    self.set_held(Some(HeldLock { etag, run_id, info: info.clone() }));
                    return Ok(());
                }
                Put::Lost | Put::Missing => match self.read_lock().await? {
                    None => replace = None,
                    Some((etag, Ok(doc))) if doc.run_id == run_id => {
                        if doc.info == *info {
                            // Our own write, retried by the SDK after it had gone through.
                            self.set_held(Some(HeldLock { etag, run_id, info: info.clone() }));
                            return Ok(());
                        }
                        replace = Some(etag);
                    }
                    Some((_, Ok(doc))) => {
                        self.set_held(None);
                        return Err(StateError::Locked(doc.info));
                    }
                    Some((_, Err(why))) => return Err(self.unreadable_lock(&why)),
                },
            }
        }
        Err(StateError::Storage(format!("{} kept changing while this run tried to take it; try again", self.url(&key))))
    }

    async fn renew_lock(&self, lease_expires_at: u64) -> Result<(), StateError> {
        let Some(mut held) = self.held() else {
            return Err(StateError::NotLocked);
        };
        let key = self.lock_key();
        held.info.lease_expires_at = lease_expires_at;
        let body = to_json(&LockDoc { info: held.info.clone(), run_id: held.run_id.clone() })?;
        for _ in 0..3 {
            match self.objects.put(&key, body.clone(), Cond::Matches(&held.etag)).await? {
                Put::Written(etag) => {
                    let Some(etag) = self.written_lock_etag(etag, &held.run_id).await? else {
                        break;
                    };
                    held.etag = etag;
                    self.set_held(Some(held));
                    return Ok(());
                }
                Put::Lost | Put::Missing => match self.read_lock().await? {
                    // Still ours (an earlier write of ours went through unseen): renew that version.
                    Some((etag, Ok(doc))) if doc.run_id == held.run_id => held.etag = etag,
                    // Someone ran `cairn state unlock` (and maybe locked): we no longer hold anything.
                    _ => break,
                },
            }
        }
        self.set_held(None);
        Err(StateError::NotLocked)
    }

    async fn unlock(&self) -> Result<(), StateError> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner).take().ok_or(StateError::NotLocked)?;
        let key = self.lock_key();
        // Read and compare first: this also covers endpoints that ignore If-Match on DeleteObject.
        let etag = match self.read_lock().await? {
            Some((etag, Ok(doc))) if doc.run_id == held.run_id => etag,
            _ => return Err(StateError::NotLocked),
        };
        match self.objects.delete(&key, Some(&etag)).await? {
            Delete::Deleted => Ok(()),
            Delete::Unsupported => {
                tracing::debug!(lock = %self.url(&key), "endpoint refuses conditional deletes; deleting after read-and-compare");
                match self.objects.delete(&key, None).await? {
                    Delete::Deleted | Delete::Missing => Ok(()),
                    Delete::Lost | Delete::Unsupported => Err(StateError::NotLocked),
                }
            }
            Delete::Lost | Delete::Missing => Err(StateError::NotLocked),
        }
    }

    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        let key = self.lock_key();
        for _ in 0..self.max_attempts.max(3) {
            let Some((etag, doc)) = self.read_lock().await? else {
                return Ok(None);
            };
            let deleted = match self.objects.delete(&key, Some(&etag)).await? {
                Delete::Deleted => true,
                Delete::Unsupported => matches!(self.objects.delete(&key, None).await?, Delete::Deleted),
                // Changed or gone since it was read: look again, so what is returned is what was removed.
                Delete::Lost | Delete::Missing => false,
            };
            if !deleted {
                continue;
            }
            let info = match doc {
                Ok(doc) => {
                    let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
                    if held.as_ref().is_some_and(|h| h.run_id == doc.run_id) {
                        *held = None;
                    }
                    doc.info
                }
                Err(why) => LockInfo {
                    owner: format!("unreadable lock.json ({why})"),
                    host: String::new(),
                    pid: 0,
                    operation: String::new(),
                    created_at: 0,
                    lease_expires_at: 0,
                },
            };
            tracing::warn!(lock = %self.url(&key), owner = %info.owner, host = %info.host, pid = info.pid, "removed the state lock");
            return Ok(Some(info));
        }
        Err(StateError::Storage(format!("{} kept changing while this run tried to remove it; try again", self.url(&key))))
    }

    async fn current_lock(&self) -> Result<Option<LockInfo>, StateError> {
        match self.read_lock().await? {
            None => Ok(None),
            Some((_, Ok(doc))) => Ok(Some(doc.info)),
            Some((_, Err(why))) => Err(self.unreadable_lock(&why)),
        }
    }

    async fn snapshot(&self) -> Result<Snapshot, StateError> {
        Ok(self.read_state().await?.doc.snapshot())
    }

    async fn begin_op(&self, intent: &OpIntent) -> Result<i64, StateError> {
        let now = sys::now();
        self.mutate("begin_op", |doc| doc.begin_op(intent, now)).await
    }

    async fn finish_op(&self, op_id: i64, outcome: &OpOutcome) -> Result<(), StateError> {
        let now = sys::now();
        self.mutate("finish_op", |doc| doc.finish_op(op_id, outcome, now)).await
    }

    async fn open_ops(&self) -> Result<Vec<OpenOp>, StateError> {
        Ok(self.read_state().await?.doc.open_ops())
    }

    async fn put_record(&self, record: &ResourceRecord) -> Result<(), StateError> {
        self.mutate("put_record", |doc| doc.put_record(record)).await
    }

    async fn remove_record(&self, address: &str) -> Result<(), StateError> {
        self.mutate("remove_record", |doc| doc.remove_record(address)).await
    }

    async fn move_record(&self, from: &str, to: &str) -> Result<(), StateError> {
        self.mutate("move_record", |doc| doc.move_record(from, to)).await
    }

    async fn set_location(&self, region: &str, account_id: Option<&str>) -> Result<(), StateError> {
        self.mutate("set_location", |doc| doc.set_location(region, account_id)).await
    }

    async fn set_outputs(&self, outputs: &BTreeMap<String, Value>) -> Result<(), StateError> {
        self.mutate("set_outputs", |doc| doc.set_outputs(outputs)).await
    }

    async fn record_history(&self, operation: &str) -> Result<(), StateError> {
        let current = self.read_state().await?;
        let snapshot = current.doc.snapshot();
        let object = HistoryObject {
            serial: snapshot.serial,
            applied_at: sys::now(),
            operation: operation.to_string(),
            resource_count: snapshot.resources.len(),
            snapshot,
        };
        // Same serial, same records: overwriting an earlier entry for it is what SQLite's INSERT OR REPLACE does.
        let key = self.history_key(object.serial);
        self.objects.put(&key, to_json(&object)?, Cond::Always).await?;
        let entry = object.entry();
        self.mutate("record_history", |doc| doc.index_history(&entry)).await
    }

    async fn history(&self) -> Result<Vec<HistoryEntry>, StateError> {
        let prefix = format!("{}history/", self.base);
        // The listing says which snapshots exist; state.json's index saves reading each one.
        let keys = self.objects.list(&prefix, self.list_page_size).await?;
        let current = self.read_state().await?;
        let index: HashMap<u64, &HistoryEntry> = current.doc.history.iter().map(|h| (h.serial, h)).collect();
        let mut entries = Vec::new();
        for key in &keys {
            let Some(serial) = key.strip_prefix(&prefix).and_then(|name| name.strip_suffix(".json")).and_then(|s| s.parse::<u64>().ok()) else {
                continue;
            };
            match index.get(&serial) {
                Some(entry) => entries.push((*entry).clone()),
                None => {
                    if let Some(object) = self.read_history(serial).await? {
                        entries.push(object.entry());
                    }
                }
            }
        }
        entries.sort_by_key(|h| std::cmp::Reverse(h.serial));
        Ok(entries)
    }

    async fn history_snapshot(&self, serial: u64) -> Result<Snapshot, StateError> {
        self.read_history(serial).await?.map(|object| object.snapshot).ok_or(StateError::NoSuchSerial(serial))
    }
}

impl S3Store {
    async fn read_history(&self, serial: u64) -> Result<Option<HistoryObject>, StateError> {
        let key = self.history_key(serial);
        match self.objects.get(&key, None).await? {
            Got::Found { body, .. } => {
                serde_json::from_slice(&body).map(Some).map_err(|e| StateError::Storage(format!("history snapshot {} is damaged: {e}", self.url(&key))))
            }
            Got::Missing | Got::NotModified => Ok(None),
        }
    }
}
