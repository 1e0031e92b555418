//! Keeping a call's lease, off the media path.
//!
//! The lease says which worker owns the call, so webhooks landing anywhere
//! are routed here. Renewing it is a coordinator round trip, and a
//! coordinator can be slow or gone for a while; that must never stall the
//! call's audio. So each call's lease lives in a small task of its own:
//!
//! ```text
//!   renew every ttl/3 ──ok──▶ held
//!        │ unreachable: retry every second (the call goes on; only
//!        │ cross-worker signals wait)
//!        │ the coordinator no longer has our lease (it expired during an
//!        ▼ outage, or the store lost its data)
//!   acquire again ──ok──▶ held (a recovery, counted)
//!        │ another worker holds it now: never taken from it
//!        ▼
//!      lost: the call says so and goes on without cross-worker signals
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{Instrument as _, info, warn};
use turngate_coord::{ErrorKind, Lease};

use crate::state::AppState;

/// How soon a renewal that could not reach the coordinator is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// The longest one coordinator call may take here (the coordinators bound
/// their own calls too; this keeps the task's rhythm whatever they do).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether this worker still owns the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// The lease is ours (perhaps not renewed lately, if the coordinator
    /// is unreachable).
    Held,
    /// Another worker holds the call's lease now.
    Lost {
        /// Who, when the coordinator said.
        owner: Option<String>,
    },
}

/// A call's lease and the task that renews it.
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    current: Arc<Mutex<Lease>>,
    status: watch::Receiver<Ownership>,
    task: JoinHandle<()>,
}

impl LeaseKeeper {
    /// Starts renewing `lease` every third of `ttl`.
    pub(crate) fn spawn(state: Arc<AppState>, lease: Lease, ttl: Duration) -> LeaseKeeper {
        let current = Arc::new(Mutex::new(lease));
        let (status_tx, status) = watch::channel(Ownership::Held);
        // The renewals log under the call's span, so they name the call.
        let task = tokio::spawn(
            keep(state, Arc::clone(&current), ttl, status_tx).instrument(tracing::Span::current()),
        );
        LeaseKeeper { current, status, task }
    }

    /// Resolves when ownership changes; the new state.
    pub(crate) async fn changed(&mut self) -> Ownership {
        if self.status.changed().await.is_err() {
            // The task ended without a verdict: nothing more will change.
            std::future::pending::<()>().await;
        }
        self.status.borrow_and_update().clone()
    }

    /// Stops renewing and gives the lease back, if it is still ours.
    pub(crate) async fn release(self, state: &AppState) {
        self.task.abort();
        if *self.status.borrow() != Ownership::Held {
            return;
        }
        let lease = self.current.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match timeout(CALL_TIMEOUT, state.coordinator.release(&lease)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => warn!(%error, "lease release failed; it expires on its own"),
            Err(_) => warn!("lease release timed out; it expires on its own"),
        }
    }
}

async fn keep(
    state: Arc<AppState>,
    current: Arc<Mutex<Lease>>,
    ttl: Duration,
    status: watch::Sender<Ownership>,
) {
    let every = ttl / 3;
    let mut next = Instant::now() + every;
    let mut failing = false;
    loop {
        sleep_until(next).await;
        let lease = current.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let renewed = timeout(CALL_TIMEOUT, state.coordinator.renew(&lease, ttl)).await;
        let error = match renewed {
            Ok(Ok(renewed)) => {
                *current.lock().unwrap_or_else(PoisonError::into_inner) = renewed;
                if failing {
                    info!("lease renewal works again");
                    failing = false;
                }
                next = Instant::now() + every;
                continue;
            }
            Ok(Err(error)) => error,
            Err(_) => {
                if !failing {
                    warn!("lease renewal timed out; retrying");
                    failing = true;
                }
                next = Instant::now() + RETRY;
                continue;
            }
        };
        if error.kind() != ErrorKind::Conflict {
            if !failing {
                warn!(%error, "lease renewal failed; the call goes on and renewal is retried");
                failing = true;
            }
            next = Instant::now() + RETRY;
            continue;
        }
        // The coordinator no longer has this lease. Take it again, unless
        // another worker holds it now: acquiring succeeds only for a free
        // session (or one this worker already holds), so a lease is never
        // taken from its current owner.
        let acquired =
            timeout(CALL_TIMEOUT, state.coordinator.acquire(lease.session(), lease.worker(), ttl))
                .await;
        match acquired {
            Ok(Ok(fresh)) => {
                *current.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
                state.metrics.lease_recoveries.inc();
                info!("the coordinator had lost the call's lease; it is re-acquired");
                failing = false;
                next = Instant::now() + every;
            }
            Ok(Err(error)) if error.kind() == ErrorKind::Conflict => {
                let owner = match &error {
                    turngate_coord::Error::LeaseHeld { owner, .. } => Some(owner.clone()),
                    _ => None,
                };
                warn!(
                    ?owner,
                    "another worker holds the call's lease now; the call goes on here without cross-worker signals"
                );
                state.metrics.leases_lost.inc();
                let _ = status.send(Ownership::Lost { owner });
                return;
            }
            Ok(Err(_)) | Err(_) => next = Instant::now() + RETRY,
        }
    }
}
