//! `MemoryCoordinator`: every coordination primitive inside one process.
//!
//! The embedded default for a single worker. It keeps the exact semantics of
//! the Redis implementation (TTLs, atomic take, compare-and-set leases and
//! locks, exactly-once in-order signals through the same [`Inbox`]) so code
//! written against it behaves the same when moved to several workers. Time
//! is Tokio's clock, so tests may pause it.
//!
//! Expired entries are dropped when touched and swept every few hundred
//! writes, so memory stays proportional to live state.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::{Config, InboxConfig, ttl_ms};
use crate::coordinator::{Coordinator, FencedLock, Lease};
use crate::error::{Error, Result};
use crate::ids::{SessionId, WorkerId, check_name, random_u64, unix_micros};
use crate::inbox::{Inbox, InboxWaker, SignalSource};
use crate::signal::{Signal, SignalId, SignalReceipt, StoredSignal};

/// How many writes pass between sweeps of expired entries.
const SWEEP_EVERY: u64 = 256;

/// The in-process coordinator. Cloning shares the state.
#[derive(Clone)]
pub struct MemoryCoordinator {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    state: Mutex<State>,
    /// Notified whenever a lock is released, so waiters retry at once.
    lock_released: Notify,
}

#[derive(Default)]
struct State {
    flags: HashMap<(SessionId, String), Timed<Vec<u8>>>,
    counters: HashMap<(SessionId, String), Timed<i64>>,
    leases: HashMap<SessionId, Timed<LeaseRecord>>,
    locks: HashMap<SessionId, Timed<u64>>,
    streams: HashMap<SessionId, Timed<VecDeque<StoredSignal>>>,
    seen: HashMap<SessionId, HashMap<String, Timed<SignalId>>>,
    inboxes: HashMap<WorkerId, InboxWaker>,
    next_seq: u64,
    last_token: u64,
    writes: u64,
}

struct Timed<T> {
    value: T,
    expires_at: Instant,
}

impl<T> Timed<T> {
    fn new(value: T, ttl: Duration) -> Self {
        Self { value, expires_at: Instant::now() + ttl }
    }

    fn live(&self, now: Instant) -> bool {
        self.expires_at > now
    }
}

struct LeaseRecord {
    worker: WorkerId,
    token: u64,
}

/// Returns the live entry under `key`, removing it first if it expired.
fn live<'a, K, V>(
    map: &'a mut HashMap<K, Timed<V>>,
    key: &K,
    now: Instant,
) -> Option<&'a mut Timed<V>>
where
    K: std::hash::Hash + Eq,
{
    if map.get(key).is_some_and(|t| !t.live(now)) {
        map.remove(key);
    }
    map.get_mut(key)
}

impl State {
    fn wrote(&mut self) {
        self.writes += 1;
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            let now = Instant::now();
            self.flags.retain(|_, t| t.live(now));
            self.counters.retain(|_, t| t.live(now));
            self.leases.retain(|_, t| t.live(now));
            self.locks.retain(|_, t| t.live(now));
            self.streams.retain(|_, t| t.live(now));
            self.seen.retain(|_, keys| {
                keys.retain(|_, t| t.live(now));
                !keys.is_empty()
            });
            self.inboxes.retain(|_, waker| !waker.is_closed());
        }
    }

    /// A fencing token larger than every token issued before, and at least
    /// the current time in microseconds (the same rule as the Redis
    /// implementation, where it keeps tokens monotonic across data loss).
    fn next_token(&mut self) -> u64 {
        self.last_token = (self.last_token + 1).max(unix_micros());
        self.last_token
    }
}

impl MemoryCoordinator {
    /// A coordinator with default settings.
    #[must_use]
    pub fn new() -> Self {
        Self::build(Config::default())
    }

    /// A coordinator with `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] if `config` is invalid.
    pub fn with_config(config: Config) -> Result<Self> {
        config.validate()?;
        Ok(Self::build(config))
    }

    fn build(config: Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::default(),
                lock_released: Notify::new(),
            }),
        }
    }

    /// The settings in use.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recovering from poison keeps
        // a bug elsewhere from wedging every session.
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_lock(&self, key: &SessionId, ttl: Duration) -> Result<FencedLock, Instant> {
        let now = Instant::now();
        let mut state = self.state();
        if let Some(held) = live(&mut state.locks, key, now) {
            return Err(held.expires_at);
        }
        let token = state.next_token();
        state.locks.insert(key.clone(), Timed::new(token, ttl));
        state.wrote();
        Ok(FencedLock::new(key.clone(), token, now + ttl))
    }
}

impl Default for MemoryCoordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCoordinator")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Coordinator for MemoryCoordinator {
    async fn set_flag(
        &self,
        scope: &SessionId,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<()> {
        check_name("flag name", name)?;
        ttl_ms("flag ttl", ttl)?;
        let mut state = self.state();
        state.flags.insert((scope.clone(), name.to_owned()), Timed::new(value.to_vec(), ttl));
        state.wrote();
        Ok(())
    }

    async fn get_flag(&self, scope: &SessionId, name: &str) -> Result<Option<Vec<u8>>> {
        check_name("flag name", name)?;
        let mut state = self.state();
        let key = (scope.clone(), name.to_owned());
        Ok(live(&mut state.flags, &key, Instant::now()).map(|t| t.value.clone()))
    }

    async fn delete_flag(&self, scope: &SessionId, name: &str) -> Result<bool> {
        check_name("flag name", name)?;
        let mut state = self.state();
        let key = (scope.clone(), name.to_owned());
        let existed = live(&mut state.flags, &key, Instant::now()).is_some();
        state.flags.remove(&key);
        Ok(existed)
    }

    async fn take_flag(&self, scope: &SessionId, name: &str) -> Result<Option<Vec<u8>>> {
        check_name("flag name", name)?;
        let mut state = self.state();
        let key = (scope.clone(), name.to_owned());
        let taken = live(&mut state.flags, &key, Instant::now()).is_some();
        Ok(if taken { state.flags.remove(&key).map(|t| t.value) } else { None })
    }

    async fn signal(&self, session: &SessionId, signal: Signal) -> Result<SignalReceipt> {
        let config = &self.inner.config;
        let now = Instant::now();
        let (receipt, waker) = {
            let mut state = self.state();
            let owner = live(&mut state.leases, session, now).map(|t| t.value.worker.clone());
            if let Some(key) = signal.dedup_key() {
                let seen = state.seen.entry(session.clone()).or_default();
                seen.retain(|_, t| t.live(now));
                if let Some(original) = seen.get(key) {
                    let receipt = SignalReceipt::new(original.value, owner, true);
                    return Ok(receipt);
                }
            }
            let pending = live(&mut state.streams, session, now).map_or(0, |t| t.value.len());
            if pending >= config.max_pending_signals {
                return Err(Error::QueueFull {
                    session: session.to_string(),
                    max: config.max_pending_signals,
                });
            }
            state.next_seq += 1;
            let id = SignalId::new(0, state.next_seq);
            if let Some(key) = signal.dedup_key() {
                let seen = state.seen.entry(session.clone()).or_default();
                seen.insert(key.to_owned(), Timed::new(id, config.dedup_window));
                if seen.len() > config.max_dedup_keys {
                    // Forget the oldest keys first, as the Redis sorted set
                    // does.
                    let mut by_age: Vec<(Instant, String)> =
                        seen.iter().map(|(k, t)| (t.expires_at, k.clone())).collect();
                    by_age.sort();
                    let excess = seen.len() - config.max_dedup_keys;
                    for (_, k) in by_age.into_iter().take(excess) {
                        seen.remove(&k);
                    }
                }
            }
            let stream = state
                .streams
                .entry(session.clone())
                .or_insert_with(|| Timed::new(VecDeque::new(), config.signal_ttl));
            stream.value.push_back(StoredSignal { id, signal });
            stream.expires_at = now + config.signal_ttl;
            let waker = owner
                .as_ref()
                .and_then(|w| state.inboxes.get(w))
                .filter(|waker| !waker.is_closed())
                .cloned();
            state.wrote();
            (SignalReceipt::new(id, owner, false), waker)
        };
        if let Some(waker) = waker {
            waker.wake(session);
        }
        Ok(receipt)
    }

    async fn subscribe(&self, worker: &WorkerId, config: InboxConfig) -> Result<Inbox> {
        let (inbox, waker) = Inbox::spawn(worker.clone(), Arc::new(self.clone()), config)?;
        self.state().inboxes.insert(worker.clone(), waker);
        Ok(inbox)
    }

    async fn acquire(
        &self,
        session: &SessionId,
        worker: &WorkerId,
        ttl: Duration,
    ) -> Result<Lease> {
        ttl_ms("lease ttl", ttl)?;
        let now = Instant::now();
        let mut state = self.state();
        if let Some(held) = live(&mut state.leases, session, now)
            && &held.value.worker != worker
        {
            return Err(Error::LeaseHeld {
                session: session.to_string(),
                owner: held.value.worker.to_string(),
            });
        }
        let token = random_u64();
        let record = LeaseRecord { worker: worker.clone(), token };
        state.leases.insert(session.clone(), Timed::new(record, ttl));
        state.wrote();
        Ok(Lease::new(session.clone(), worker.clone(), token, now + ttl))
    }

    async fn renew(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        ttl_ms("lease ttl", ttl)?;
        let now = Instant::now();
        let mut state = self.state();
        match live(&mut state.leases, lease.session(), now) {
            Some(held)
                if held.value.token == lease.token() && &held.value.worker == lease.worker() =>
            {
                held.expires_at = now + ttl;
                Ok(Lease::new(
                    lease.session().clone(),
                    lease.worker().clone(),
                    lease.token(),
                    now + ttl,
                ))
            }
            other => Err(Error::LeaseLost {
                session: lease.session().to_string(),
                owner: other.map(|t| t.value.worker.to_string()),
            }),
        }
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let now = Instant::now();
        let mut state = self.state();
        let ours = live(&mut state.leases, lease.session(), now)
            .is_some_and(|t| t.value.token == lease.token() && &t.value.worker == lease.worker());
        if ours {
            state.leases.remove(lease.session());
        }
        Ok(ours)
    }

    async fn owner(&self, session: &SessionId) -> Result<Option<WorkerId>> {
        let mut state = self.state();
        Ok(live(&mut state.leases, session, Instant::now()).map(|t| t.value.worker.clone()))
    }

    async fn lock(&self, key: &SessionId, ttl: Duration, deadline: Instant) -> Result<FencedLock> {
        ttl_ms("lock ttl", ttl)?;
        let started = Instant::now();
        loop {
            // Registering interest before trying means a release between the
            // try and the wait still wakes us.
            let released = self.inner.lock_released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let held_until = match self.try_lock(key, ttl) {
                Ok(lock) => return Ok(lock),
                Err(held_until) => held_until,
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::LockTimeout { key: key.to_string(), waited: now - started });
            }
            tokio::select! {
                () = &mut released => {}
                () = tokio::time::sleep_until(held_until.min(deadline)) => {}
            }
        }
    }

    async fn extend_lock(&self, lock: &FencedLock, ttl: Duration) -> Result<FencedLock> {
        ttl_ms("lock ttl", ttl)?;
        let now = Instant::now();
        let mut state = self.state();
        match live(&mut state.locks, lock.key(), now) {
            Some(held) if held.value == lock.token() => {
                held.expires_at = now + ttl;
                Ok(FencedLock::new(lock.key().clone(), lock.token(), now + ttl))
            }
            _ => Err(Error::LockLost { key: lock.key().to_string(), token: lock.token() }),
        }
    }

    async fn unlock(&self, lock: &FencedLock) -> Result<bool> {
        let ours = {
            let mut state = self.state();
            let ours = live(&mut state.locks, lock.key(), Instant::now())
                .is_some_and(|t| t.value == lock.token());
            if ours {
                state.locks.remove(lock.key());
            }
            ours
        };
        if ours {
            self.inner.lock_released.notify_waiters();
        }
        Ok(ours)
    }

    async fn incr(&self, scope: &SessionId, name: &str, delta: i64, ttl: Duration) -> Result<i64> {
        check_name("counter name", name)?;
        ttl_ms("counter ttl", ttl)?;
        let now = Instant::now();
        let mut state = self.state();
        let key = (scope.clone(), name.to_owned());
        let current = live(&mut state.counters, &key, now).map_or(0, |t| t.value);
        let value = current.checked_add(delta).ok_or_else(|| {
            Error::invalid("counter delta", "the counter would overflow a 64-bit integer")
        })?;
        state.counters.insert(key, Timed::new(value, ttl));
        state.wrote();
        Ok(value)
    }

    async fn counter(&self, scope: &SessionId, name: &str) -> Result<Option<i64>> {
        check_name("counter name", name)?;
        let mut state = self.state();
        let key = (scope.clone(), name.to_owned());
        Ok(live(&mut state.counters, &key, Instant::now()).map(|t| t.value))
    }
}

#[async_trait]
impl SignalSource for MemoryCoordinator {
    async fn drain(
        &self,
        session: &SessionId,
        ack: Option<SignalId>,
        after: Option<SignalId>,
        max: usize,
    ) -> Result<Vec<StoredSignal>> {
        let now = Instant::now();
        let signal_ttl = self.inner.config.signal_ttl;
        let mut state = self.state();
        let Some(stream) = live(&mut state.streams, session, now) else {
            return Ok(Vec::new());
        };
        if let Some(ack) = ack {
            while stream.value.front().is_some_and(|s| s.id <= ack) {
                stream.value.pop_front();
            }
        }
        let out: Vec<StoredSignal> = stream
            .value
            .iter()
            .filter(|s| after.is_none_or(|a| s.id > a))
            .take(max)
            .cloned()
            .collect();
        if !stream.value.is_empty() {
            stream.expires_at = now + signal_ttl;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
