//! Arrival order for one chat conversation across every worker.
//!
//! Each request draws a ticket (an atomic increment in the coordinator),
//! waits until every earlier ticket has been served or given up, and runs
//! under the conversation's fenced lock. A waiter keeps a short-lived
//! "waiting" flag alive; when a ticket's flag is gone before it was served
//! (its request gave up, or its worker died), the next waiter skips it,
//! under the lock, so two waiters cannot skip the same ticket. A request
//! that gives up says so at once (an "abandoned" flag); one whose worker
//! died is recognised by its flag staying absent for a whole flag lifetime,
//! which also covers the moment between drawing a ticket and raising the
//! flag. The result is first-come first-served across workers, with no turn
//! stuck behind a request that will never come.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use turngate_coord::{Coordinator, CoordinatorExt, FencedLock, SessionId};

/// How long a waiter's flag lives without a refresh.
const ALIVE_TTL: Duration = Duration::from_secs(2);
/// How often a waiter looks again.
const POLL: Duration = Duration::from_millis(10);
/// How long an "abandoned" mark lives (long past any waiter's deadline).
const ABANDONED_TTL: Duration = Duration::from_secs(600);
/// How long the ticket counters live after the conversation's last request.
const COUNTER_TTL: Duration = Duration::from_secs(3600);

/// Why a turn could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OrderError {
    #[error(
        "waited {waited:?} behind earlier messages of this conversation (ticket {ticket}, serving {serving})"
    )]
    Timeout { ticket: i64, serving: i64, waited: Duration },
    #[error(
        "{ahead} earlier messages of this conversation are still waiting; the queue holds {max}"
    )]
    Full { ahead: i64, max: usize },
    #[error(transparent)]
    Coordinator(#[from] turngate_coord::Error),
}

/// A request's turn: the lock is held until [`Turn::finish`].
#[derive(Debug)]
pub(crate) struct Turn {
    coordinator: Arc<dyn Coordinator>,
    scope: SessionId,
    lock: FencedLock,
    /// False when this ticket was skipped meanwhile (its flag lapsed): it
    /// still runs, but must not count as served a second time.
    counts: bool,
}

/// Waits for this request's turn in `conversation`, until `deadline`.
pub(crate) async fn take_turn(
    coordinator: &Arc<dyn Coordinator>,
    conversation: &str,
    lock_ttl: Duration,
    deadline: Instant,
    max_waiting: usize,
) -> Result<Turn, OrderError> {
    let scope = SessionId::new(format!("chat:{conversation}"))?;
    let started = Instant::now();
    let ticket = coordinator.incr(&scope, "ticket", 1, COUNTER_TTL).await?;
    let flag = waiting_flag(ticket);
    let ahead = ticket - 1 - coordinator.counter(&scope, "served").await?.unwrap_or(0);
    if ahead >= i64::try_from(max_waiting).unwrap_or(i64::MAX) {
        give_up(coordinator, &scope, ticket).await;
        return Err(OrderError::Full { ahead, max: max_waiting });
    }
    coordinator.set_flag(&scope, &flag, b"1", ALIVE_TTL).await?;
    let mut refreshed = Instant::now();
    // When the ticket to serve next was first seen without a waiter.
    let mut missing_since: Option<(i64, Instant)> = None;
    loop {
        let served = coordinator.counter(&scope, "served").await?.unwrap_or(0);
        if served >= ticket - 1 {
            let wait = deadline.saturating_duration_since(Instant::now());
            match coordinator.lock_within(&scope, lock_ttl, wait).await {
                Ok(lock) => {
                    let _ = coordinator.delete_flag(&scope, &flag).await;
                    let served = coordinator.counter(&scope, "served").await?.unwrap_or(0);
                    let counts = served == ticket - 1;
                    return Ok(Turn { coordinator: Arc::clone(coordinator), scope, lock, counts });
                }
                Err(error) if error.kind() == turngate_coord::ErrorKind::Timeout => {
                    give_up(coordinator, &scope, ticket).await;
                    return Err(OrderError::Timeout {
                        ticket,
                        serving: served,
                        waited: started.elapsed(),
                    });
                }
                Err(error) => {
                    give_up(coordinator, &scope, ticket).await;
                    return Err(error.into());
                }
            }
        }
        // The ticket being served next: if its request is gone, skip it.
        let next = served + 1;
        if next < ticket {
            let abandoned = coordinator.get_flag(&scope, &abandoned_flag(next)).await?.is_some();
            let waiting = coordinator.get_flag(&scope, &waiting_flag(next)).await?.is_some();
            let gone_long = match missing_since {
                Some((seen, since)) if seen == next => since.elapsed() >= ALIVE_TTL,
                _ => false,
            };
            if abandoned || (!waiting && gone_long) {
                skip_if_abandoned(coordinator, &scope, next).await?;
                missing_since = None;
            } else if !waiting && missing_since.is_none_or(|(seen, _)| seen != next) {
                missing_since = Some((next, Instant::now()));
            }
        }
        if Instant::now() >= deadline {
            give_up(coordinator, &scope, ticket).await;
            return Err(OrderError::Timeout { ticket, serving: served, waited: started.elapsed() });
        }
        if refreshed.elapsed() >= ALIVE_TTL / 4 {
            coordinator.set_flag(&scope, &flag, b"1", ALIVE_TTL).await?;
            refreshed = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Skips ticket `next` if it is still the one to serve. Under the lock, so
/// no two waiters skip the same ticket; a ticket being served holds the
/// lock itself and is never skipped.
async fn skip_if_abandoned(
    coordinator: &Arc<dyn Coordinator>,
    scope: &SessionId,
    next: i64,
) -> Result<(), OrderError> {
    let Ok(lock) = coordinator.lock_within(scope, Duration::from_secs(5), POLL).await else {
        return Ok(());
    };
    let served = coordinator.counter(scope, "served").await?.unwrap_or(0);
    let waiting = coordinator.get_flag(scope, &waiting_flag(next)).await?.is_some();
    let abandoned = coordinator.get_flag(scope, &abandoned_flag(next)).await?.is_some();
    if served == next - 1 && (abandoned || !waiting) {
        coordinator.incr(scope, "served", 1, COUNTER_TTL).await?;
    }
    coordinator.unlock(&lock).await?;
    Ok(())
}

/// Says at once that `ticket` will not be served, so the next waiter skips it.
async fn give_up(coordinator: &Arc<dyn Coordinator>, scope: &SessionId, ticket: i64) {
    let _ = coordinator.set_flag(scope, &abandoned_flag(ticket), b"1", ABANDONED_TTL).await;
    let _ = coordinator.delete_flag(scope, &waiting_flag(ticket)).await;
}

fn waiting_flag(ticket: i64) -> String {
    format!("waiting-{ticket}")
}

fn abandoned_flag(ticket: i64) -> String {
    format!("abandoned-{ticket}")
}

impl Turn {
    /// Marks this ticket served and lets the next one go.
    pub(crate) async fn finish(self) {
        if !self.counts {
        } else if let Err(error) =
            self.coordinator.incr(&self.scope, "served", 1, COUNTER_TTL).await
        {
            tracing::warn!(%error, "could not mark a chat turn served; the next waiter skips it");
        }
        if let Err(error) = self.coordinator.unlock(&self.lock).await {
            tracing::warn!(%error, "chat lock release failed; it expires on its own");
        }
    }
}
