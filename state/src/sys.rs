//! What the clock, this process and this machine say: timestamps, lineage ids, host names, live pids.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A 32-hex-char id for a new state. It only has to be unique, not secret:
/// `RandomState` is seeded from the OS per process, and time, pid and a counter
/// keep ids apart within one process.
pub(crate) fn new_lineage() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let half = |salt: u8| RandomState::new().hash_one((nanos, pid, count, salt));
    format!("{:016x}{:016x}", half(0), half(1))
}

/// This machine's host name, if it can be found.
pub(crate) fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// This machine's host name for `LockInfo::host`; `unknown-host` when it cannot be found
/// (such a lock is then never taken over automatically).
pub fn local_hostname() -> String {
    hostname().unwrap_or_else(|| "unknown-host".to_string())
}

/// Whether a process on this machine is known to be gone. Where that cannot be told
/// (no `/proc`), the answer is "no": wrongly breaking a live run's lock is far worse
/// than asking the user to run `cairn state unlock`.
pub(crate) fn pid_is_dead(pid: u32) -> bool {
    if cfg!(target_os = "linux") && std::path::Path::new("/proc/self").exists() {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        false
    }
}

/// A random number for back-off jitter (not for secrets).
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    RandomState::new().hash_one((nanos, COUNTER.fetch_add(1, Ordering::Relaxed)))
}
