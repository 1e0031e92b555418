//! The `Coordinator` trait and the handles it returns.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::config::InboxConfig;
use crate::error::Result;
use crate::ids::{SessionId, WorkerId};
use crate::inbox::Inbox;
use crate::signal::{Signal, SignalReceipt};

/// Cross-worker coordination for conversational sessions.
///
/// # Contract
///
/// Every implementation passes [`conformance`](crate::conformance); the
/// summary:
///
/// - **Flags** are small values with a TTL in a session's scope.
///   [`take_flag`](Self::take_flag) is an atomic get-and-delete: of any
///   number of concurrent takers, exactly one receives the value.
/// - **Signals** go to the worker that owns a session (holds its lease) and
///   has [registered](Inbox::register) it: pushed at once, and also stored,
///   so a missed push costs at most one inbox tick. Each stored signal is
///   handed to the owner's session task exactly once and in the order the
///   store accepted it. A signal for a session without an owner is stored
///   for the signal TTL and delivered to the next owner that registers it.
///   A full queue is an error, never a silent drop.
/// - **Leases** name a session's owner. Acquire succeeds if the session is
///   free or already owned by the same worker (which re-keys the lease), and
///   fails with [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) if
///   another worker owns it. Renew and release are compare-and-set on the
///   lease's token, so a worker that lost its lease can neither extend nor
///   delete its successor's.
/// - **Locks** are exclusive per key, expire after their TTL, and carry a
///   fencing token that increases with every acquisition of the key, so a
///   resource can refuse writes from a holder whose lock has expired.
///   Release and extension are compare-and-set on the token.
/// - **Counters** are integers with a TTL refreshed on every change.
///
/// Every TTL must be between 1 ms and [`MAX_TTL`](crate::MAX_TTL).
/// Operations against a backend that cannot be reached fail with
/// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) or
/// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) within a bounded time;
/// such a failure is ambiguous (the operation may have been applied), which
/// is why acquiring a lease and signalling with a de-duplication key are
/// safe to retry.
///
/// # Object safety
///
/// The trait is object-safe (`Arc<dyn Coordinator>` is the intended way to
/// share one), and is implemented for `Arc<T>` of any implementation.
/// Conveniences live in [`CoordinatorExt`].
#[async_trait]
pub trait Coordinator: fmt::Debug + Send + Sync {
    /// Sets flag `name` in `scope` to `value`, replacing any previous value,
    /// expiring after `ttl`.
    async fn set_flag(
        &self,
        scope: &SessionId,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<()>;

    /// Reads a flag; `None` if unset or expired.
    async fn get_flag(&self, scope: &SessionId, name: &str) -> Result<Option<Vec<u8>>>;

    /// Deletes a flag; true if it existed.
    async fn delete_flag(&self, scope: &SessionId, name: &str) -> Result<bool>;

    /// Atomically reads and deletes a flag: of concurrent takers, exactly one
    /// gets the value.
    async fn take_flag(&self, scope: &SessionId, name: &str) -> Result<Option<Vec<u8>>>;

    /// Stores `signal` in `session`'s queue and wakes the session's owner.
    ///
    /// Fails with [`ErrorKind::Full`](crate::ErrorKind::Full) if the session
    /// already has the configured maximum of undelivered signals.
    async fn signal(&self, session: &SessionId, signal: Signal) -> Result<SignalReceipt>;

    /// Starts this worker's inbox: the receiving end for signals to sessions
    /// the worker owns. One per worker process; sessions are then
    /// [registered](Inbox::register) on it.
    async fn subscribe(&self, worker: &WorkerId, config: InboxConfig) -> Result<Inbox>;

    /// Makes `worker` the owner of `session` for `ttl`.
    async fn acquire(&self, session: &SessionId, worker: &WorkerId, ttl: Duration)
    -> Result<Lease>;

    /// Extends a lease to `ttl` from now, if it is still the current one.
    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Lease>;

    /// Ends a lease if it is still the current one; false if it was not
    /// (already expired, released or taken over), in which case nothing is
    /// changed.
    async fn release(&self, lease: &Lease) -> Result<bool>;

    /// The worker that currently owns `session`, if any.
    async fn owner(&self, session: &SessionId) -> Result<Option<WorkerId>>;

    /// Takes the lock on `key` for `ttl`, waiting for it until `deadline`.
    ///
    /// Fails with [`Error::LockTimeout`](crate::Error::LockTimeout) (kind
    /// `Timeout`) if the lock is still held at the deadline.
    async fn lock(&self, key: &SessionId, ttl: Duration, deadline: Instant) -> Result<FencedLock>;

    /// Extends a held lock to `ttl` from now; fails with
    /// [`Error::LockLost`](crate::Error::LockLost) if it is no longer held
    /// with this token.
    async fn extend_lock(&self, lock: &FencedLock, ttl: Duration) -> Result<FencedLock>;

    /// Releases a lock if it is still held with this token; false otherwise.
    async fn unlock(&self, lock: &FencedLock) -> Result<bool>;

    /// Adds `delta` (which may be negative) to counter `name` in `scope`,
    /// creating it at zero, and sets its TTL to `ttl`; returns the new value.
    async fn incr(&self, scope: &SessionId, name: &str, delta: i64, ttl: Duration) -> Result<i64>;

    /// Reads a counter; `None` if it does not exist or expired.
    async fn counter(&self, scope: &SessionId, name: &str) -> Result<Option<i64>>;
}

/// Conveniences over [`Coordinator`], implemented for every coordinator.
/// Do not implement it yourself.
#[async_trait]
pub trait CoordinatorExt: Coordinator {
    /// Subtracts `delta` from a counter; see [`Coordinator::incr`].
    async fn decr(&self, scope: &SessionId, name: &str, delta: i64, ttl: Duration) -> Result<i64> {
        self.incr(scope, name, delta.saturating_neg(), ttl).await
    }

    /// [`Coordinator::lock`] with a deadline `wait` from now.
    async fn lock_within(
        &self,
        key: &SessionId,
        ttl: Duration,
        wait: Duration,
    ) -> Result<FencedLock> {
        self.lock(key, ttl, Instant::now() + wait).await
    }
}

impl<T: Coordinator + ?Sized> CoordinatorExt for T {}

/// Proof that a worker owned a session as of the last acquire or renew.
///
/// The token identifies this particular acquisition: renew and release
/// succeed only while the stored lease still carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    session: SessionId,
    worker: WorkerId,
    token: u64,
    expires_at: Instant,
}

impl Lease {
    /// A lease, for [`Coordinator`] implementations. `expires_at` should be
    /// conservative: the local time the request was sent plus the TTL.
    #[must_use]
    pub fn new(session: SessionId, worker: WorkerId, token: u64, expires_at: Instant) -> Self {
        Self { session, worker, token, expires_at }
    }

    /// The session owned.
    #[must_use]
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// The owning worker.
    #[must_use]
    pub fn worker(&self) -> &WorkerId {
        &self.worker
    }

    /// The token of this acquisition.
    #[must_use]
    pub fn token(&self) -> u64 {
        self.token
    }

    /// When the lease expires at the latest, by the local clock, measured
    /// from before the request that granted it was sent. Renew well before.
    #[must_use]
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }
}

/// A held lock and its fencing token.
///
/// Dropping it does not release the lock (release needs a round trip); call
/// [`Coordinator::unlock`], or the lock expires after its TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a lock is held until unlocked or until its TTL expires"]
pub struct FencedLock {
    key: SessionId,
    token: u64,
    expires_at: Instant,
}

impl FencedLock {
    /// A lock handle, for [`Coordinator`] implementations.
    pub fn new(key: SessionId, token: u64, expires_at: Instant) -> Self {
        Self { key, token, expires_at }
    }

    /// The key locked.
    #[must_use]
    pub fn key(&self) -> &SessionId {
        &self.key
    }

    /// The fencing token: larger than every token issued for this key
    /// before. Pass it to the protected resource with each write.
    #[must_use]
    pub fn token(&self) -> u64 {
        self.token
    }

    /// When the lock expires at the latest, by the local clock.
    #[must_use]
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }
}

// Every method is forwarded so that a shared coordinator behaves exactly like
// the one it wraps.
#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<T: Coordinator + ?Sized> Coordinator for Arc<T> {
    async fn set_flag(
        &self,
        scope: &SessionId,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        (**self).set_flag(scope, name, value, ttl).await
    }

    async fn get_flag(&self, scope: &SessionId, name: &str) -> Result<Option<Vec<u8>>> {
        (**self).get_flag(scope, name).await
    }

    async fn delete_flag(&self, scope: &SessionId, name: &str) -> Result<bool> {
        (**self).delete_flag(scope, name).await
    }

    async fn take_flag(&self, scope: &SessionId, name: &str) -> Result<Option<Vec<u8>>> {
        (**self).take_flag(scope, name).await
    }

    async fn signal(&self, session: &SessionId, signal: Signal) -> Result<SignalReceipt> {
        (**self).signal(session, signal).await
    }

    async fn subscribe(&self, worker: &WorkerId, config: InboxConfig) -> Result<Inbox> {
        (**self).subscribe(worker, config).await
    }

    async fn acquire(
        &self,
        session: &SessionId,
        worker: &WorkerId,
        ttl: Duration,
    ) -> Result<Lease> {
        (**self).acquire(session, worker, ttl).await
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        (**self).renew(lease, ttl).await
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        (**self).release(lease).await
    }

    async fn owner(&self, session: &SessionId) -> Result<Option<WorkerId>> {
        (**self).owner(session).await
    }

    async fn lock(&self, key: &SessionId, ttl: Duration, deadline: Instant) -> Result<FencedLock> {
        (**self).lock(key, ttl, deadline).await
    }

    async fn extend_lock(&self, lock: &FencedLock, ttl: Duration) -> Result<FencedLock> {
        (**self).extend_lock(lock, ttl).await
    }

    async fn unlock(&self, lock: &FencedLock) -> Result<bool> {
        (**self).unlock(lock).await
    }

    async fn incr(&self, scope: &SessionId, name: &str, delta: i64, ttl: Duration) -> Result<i64> {
        (**self).incr(scope, name, delta, ttl).await
    }

    async fn counter(&self, scope: &SessionId, name: &str) -> Result<Option<i64>> {
        (**self).counter(scope, name).await
    }
}
