//! Keeping the state lock during a run: renews its lease in the background and tells the
//! applier the moment the lock is lost, so no new work starts while another run may hold it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::{StateError, StateStore};

/// A running lease renewer. Dropping it stops renewing (the lock itself stays until released).
pub struct Lease {
    task: JoinHandle<()>,
    lost: watch::Receiver<bool>,
    why: Arc<Mutex<Option<String>>>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Lease {
    /// Renews the lock every `every` to expire `lease` later. The lock counts as lost when the
    /// store says it is not ours any more (`cairn state unlock`, a takeover), or when renewals
    /// keep failing until the lease would run out before the next attempt.
    pub fn keep(store: Arc<dyn StateStore>, lease: Duration, every: Duration) -> Lease {
        let (tx, lost) = watch::channel(false);
        let why = Arc::new(Mutex::new(None));
        let reason = why.clone();
        let task = tokio::spawn(async move {
            let mut last_ok = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                let failure = match store.renew_lock(unix_now() + lease.as_secs()).await {
                    Ok(()) => {
                        last_ok = Instant::now();
                        continue;
                    }
                    Err(e @ (StateError::NotLocked | StateError::Locked(_))) => e.to_string(),
                    Err(e) if last_ok.elapsed() + every >= lease => format!("the lease could not be renewed before it expired: {e}"),
                    Err(e) => {
                        tracing::warn!("renewing the state lock failed (will retry): {e}");
                        continue;
                    }
                };
                *reason.lock().unwrap_or_else(PoisonError::into_inner) = Some(failure);
                let _ = tx.send(true);
                return;
            }
        });
        Lease { task, lost, why }
    }

    /// Becomes true when the lock is lost; give it to `ApplyOptions::lock_lost`.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }

    /// Why the lock was lost, once it has been.
    pub fn why(&self) -> Option<String> {
        self.why.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::LockInfo;
    use crate::testkit::MemoryStore;

    #[tokio::test]
    async fn a_lock_removed_under_the_run_is_reported_lost() {
        let store = Arc::new(MemoryStore::new("L"));
        let info = LockInfo { owner: "me".into(), host: "h".into(), pid: 1, operation: "apply".into(), created_at: 1, lease_expires_at: 2 };
        store.lock(&info).await.expect("lock");
        let lease = Lease::keep(store.clone(), Duration::from_secs(120), Duration::from_millis(5));
        let mut lost = lease.lost();
        assert!(!*lost.borrow());
        store.force_unlock().await.expect("unlock");
        lost.wait_for(|l| *l).await.expect("renewer reports");
        assert!(lease.why().expect("reason").contains("not held"), "{:?}", lease.why());
    }
}
