//! `FakeCloud`: the in-memory cloud behind the fake kinds, with failure injection, latency, a pause gate, a call log and out-of-band changes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::provider::{Observed, Operation, Props, ProviderError, Registry, Tags};

/// One resource as the fake cloud holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeResource {
    pub kind: &'static str,
    pub id: String,
    /// The stack address that created it (kept even for untaggable kinds, for test lookups).
    pub address: String,
    /// The physical name, for kinds that have one.
    pub name: Option<String>,
    pub props: Props,
    pub attrs: Props,
    pub tags: Tags,
    /// Creation order across the whole cloud (1, 2, ...).
    pub created_seq: u64,
}

impl FakeResource {
    pub fn observed(&self) -> Observed {
        Observed { id: self.id.clone(), props: self.props.clone(), attrs: self.attrs.clone(), tags: self.tags.clone() }
    }
}

/// One call a fake kind received. `target` is the owner's address for `create` and
/// `find_owned` (logged as `Read`), and the physical id for `read`, `update` and `delete`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub kind: &'static str,
    pub op: Operation,
    pub target: String,
}

/// How an injected crash after a successful create shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// The call returns an error although the resource was created (a lost response).
    Error,
    /// The task panics: the run dies between the journal's begin and finish.
    Panic,
}

/// The names a call can be matched by in failure injection: kind, address, name, id.
#[derive(Debug, Clone)]
pub(crate) struct Target<'a> {
    pub kind: &'static str,
    pub address: Option<&'a str>,
    pub name: Option<&'a str>,
    pub id: Option<&'a str>,
}

impl Target<'_> {
    fn is(&self, target: &str) -> bool {
        target == self.kind || self.address == Some(target) || self.name == Some(target) || self.id == Some(target)
    }
}

#[derive(Default)]
struct World {
    /// By id; ids are unique across kinds.
    resources: BTreeMap<String, FakeResource>,
    next_number: u64,
    calls: Vec<Call>,
    fail_next: Vec<(String, Operation, ProviderError)>,
    fail_always: Vec<(String, Operation)>,
    crashes: Vec<(String, Crash)>,
    latency: Duration,
    /// Set by `halt`: the run that made calls is dead, so no call reaches the cloud.
    halted: bool,
}

struct Shared {
    world: Mutex<World>,
    in_flight: watch::Sender<usize>,
    max_in_flight: AtomicUsize,
    paused: watch::Sender<bool>,
}

/// An in-memory cloud shared by the fake kinds that `registry()` builds. Cloning shares it.
#[derive(Clone)]
pub struct FakeCloud {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCloud").finish_non_exhaustive()
    }
}

impl Default for FakeCloud {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts a call as in flight until dropped (also when the call panics).
pub(crate) struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.send_modify(|n| *n -= 1);
    }
}

impl FakeCloud {
    pub fn new() -> FakeCloud {
        FakeCloud {
            shared: Arc::new(Shared {
                world: Mutex::default(),
                in_flight: watch::Sender::new(0),
                max_in_flight: AtomicUsize::new(0),
                paused: watch::Sender::new(false),
            }),
        }
    }

    /// A registry holding `fake.queue`, `fake.key` and `fake.grant`, all backed by this cloud.
    pub fn registry(&self) -> Registry {
        super::kinds::registry(self)
    }

    fn world(&self) -> MutexGuard<'_, World> {
        // No code panics while holding the lock, but a poisoned lock must not hide the original panic.
        self.shared.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ----- failure injection and timing -----

    /// The next call of `op` matching `target` (a kind, address, name or id) fails with `error`.
    pub fn fail_next(&self, target: &str, op: Operation, error: ProviderError) {
        self.world().fail_next.push((target.to_string(), op, error));
    }
    /// Every call of `op` matching `target` (an address, name, id or kind) fails until `clear_failures`.
    pub fn fail_always(&self, target: &str, op: Operation) {
        self.world().fail_always.push((target.to_string(), op));
    }
    /// The next create matching `target` succeeds in the cloud, then crashes as `how` says.
    pub fn crash_after_create(&self, target: &str, how: Crash) {
        self.world().crashes.push((target.to_string(), how));
    }
    /// Every later call fails without effect, as if the process making them had died;
    /// `clear_failures` ends it.
    pub fn halt(&self) {
        self.world().halted = true;
    }
    pub fn clear_failures(&self) {
        let mut w = self.world();
        w.halted = false;
        w.fail_next.clear();
        w.fail_always.clear();
        w.crashes.clear();
    }
    /// Every call sleeps this long before doing anything.
    pub fn set_latency(&self, latency: Duration) {
        self.world().latency = latency;
    }
    /// Calls that start from now on wait (counted as in flight) until `resume`.
    pub fn pause(&self) {
        self.shared.paused.send_replace(true);
    }
    pub fn resume(&self) {
        self.shared.paused.send_replace(false);
    }
    /// Waits until at least `n` calls are in flight.
    pub async fn wait_in_flight(&self, n: usize) {
        let mut rx = self.shared.in_flight.subscribe();
        let _ = rx.wait_for(|c| *c >= n).await;
    }
    /// The most calls that were ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    // ----- inspection -----

    pub fn calls(&self) -> Vec<Call> {
        self.world().calls.clone()
    }
    /// Calls of one operation, as (kind, target).
    pub fn calls_of(&self, op: Operation) -> Vec<Call> {
        self.world().calls.iter().filter(|c| c.op == op).cloned().collect()
    }
    pub fn clear_calls(&self) {
        self.world().calls.clear();
    }
    /// The resource a stack address created, if it still exists.
    pub fn resource(&self, address: &str) -> Option<FakeResource> {
        self.world().resources.values().find(|r| r.address == address).cloned()
    }
    pub fn resources(&self) -> Vec<FakeResource> {
        self.world().resources.values().cloned().collect()
    }
    pub fn count(&self, kind: &str) -> usize {
        self.world().resources.values().filter(|r| r.kind == kind).count()
    }

    // ----- changes made outside cairn -----

    /// Sets a property of the resource created for `address`, as someone in the console would.
    pub fn set_prop_out_of_band(&self, address: &str, prop: &str, value: Value) {
        self.modify(address, |r| {
            r.props.insert(prop.to_string(), value);
        });
    }
    pub fn set_tag_out_of_band(&self, address: &str, key: &str, value: &str) {
        self.modify(address, |r| {
            r.tags.insert(key.to_string(), value.to_string());
        });
    }
    /// Deletes the resource created for `address` without telling cairn.
    pub fn delete_out_of_band(&self, address: &str) {
        let mut w = self.world();
        let id = w.resources.values().find(|r| r.address == address).map(|r| r.id.clone());
        let id = id.unwrap_or_else(|| panic!("fake cloud: nothing was created for {address}"));
        w.resources.remove(&id);
    }

    fn modify(&self, address: &str, f: impl FnOnce(&mut FakeResource)) {
        let mut w = self.world();
        let r = w.resources.values_mut().find(|r| r.address == address);
        f(r.unwrap_or_else(|| panic!("fake cloud: nothing was created for {address}")));
    }

    // ----- used by the fake kinds -----

    /// Logs a call and counts it in flight, waits out the pause gate and latency, then
    /// returns the injected failure for it, if any.
    pub(crate) async fn enter(&self, op: Operation, logged: &str, target: Target<'_>) -> Result<InFlight<'_>, ProviderError> {
        let latency = {
            let mut w = self.world();
            w.calls.push(Call { kind: target.kind, op, target: logged.to_string() });
            w.latency
        };
        self.shared.in_flight.send_modify(|n| {
            *n += 1;
            self.shared.max_in_flight.fetch_max(*n, Ordering::SeqCst);
        });
        let guard = InFlight(&self.shared);
        let mut paused = self.shared.paused.subscribe();
        let _ = paused.wait_for(|p| !*p).await;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut w = self.world();
        if w.halted {
            return Err(ProviderError::Fatal("the run making this call has died".into()));
        }
        if let Some(i) = w.fail_next.iter().position(|(t, o, _)| *o == op && target.is(t)) {
            return Err(w.fail_next.remove(i).2);
        }
        if w.fail_always.iter().any(|(t, o)| *o == op && target.is(t)) {
            return Err(ProviderError::Fatal(format!("injected failure: {} {op:?} {logged}", target.kind)));
        }
        Ok(guard)
    }

    /// Takes the crash injected for a create matching `target`, if any.
    pub(crate) fn take_crash(&self, target: &Target<'_>) -> Option<Crash> {
        let mut w = self.world();
        let i = w.crashes.iter().position(|(t, _)| target.is(t))?;
        Some(w.crashes.remove(i).1)
    }

    /// A fresh number for generated ids.
    pub(crate) fn next_number(&self) -> u64 {
        let mut w = self.world();
        w.next_number += 1;
        w.next_number
    }

    pub(crate) fn get(&self, id: &str) -> Option<FakeResource> {
        self.world().resources.get(id).cloned()
    }

    pub(crate) fn find(&self, f: impl Fn(&FakeResource) -> bool) -> Vec<FakeResource> {
        self.world().resources.values().filter(|r| f(r)).cloned().collect()
    }

    /// Inserts a new resource; `Conflict` if its id is taken.
    pub(crate) fn insert(&self, r: FakeResource) -> Result<(), ProviderError> {
        let mut w = self.world();
        if w.resources.contains_key(&r.id) {
            return Err(ProviderError::Conflict(format!("{} already exists", r.id)));
        }
        w.resources.insert(r.id.clone(), r);
        Ok(())
    }

    pub(crate) fn update(&self, id: &str, f: impl FnOnce(&mut FakeResource)) -> Result<FakeResource, ProviderError> {
        let mut w = self.world();
        let r = w.resources.get_mut(id).ok_or_else(|| ProviderError::NotFound(id.to_string()))?;
        f(r);
        Ok(r.clone())
    }

    pub(crate) fn remove(&self, id: &str) {
        self.world().resources.remove(id);
    }

    /// The address and name of an existing resource, for matching id-based calls.
    pub(crate) fn labels(&self, id: &str) -> (Option<String>, Option<String>) {
        match self.world().resources.get(id) {
            Some(r) => (Some(r.address.clone()), r.name.clone()),
            None => (None, None),
        }
    }
}
