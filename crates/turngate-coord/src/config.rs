//! Settings shared by every coordinator, and the owner-side inbox settings.

use std::time::Duration;

use crate::error::{Error, Result};

/// Settings that shape stored state; the same for every implementation so
/// that the conformance suite means the same thing for each.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// How long a session's undelivered signals are kept after the last
    /// signal was stored or the last time an owner drained them. Signals for
    /// a session nobody drains expire after this.
    pub signal_ttl: Duration,
    /// The most signals a session may have waiting; beyond it
    /// [`signal`](crate::Coordinator::signal) fails with
    /// [`ErrorKind::Full`](crate::ErrorKind::Full) instead of dropping
    /// anything.
    pub max_pending_signals: usize,
    /// How long a signal's de-duplication key is remembered.
    pub dedup_window: Duration,
    /// The most de-duplication keys remembered per session; the oldest are
    /// forgotten first.
    pub max_dedup_keys: usize,
    /// How long a lock's fencing counter outlives the last lock taken on
    /// that key. Tokens stay monotonic even after it expires, because a fresh
    /// counter starts at the current time in microseconds.
    pub fence_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            signal_ttl: Duration::from_secs(120),
            max_pending_signals: 1024,
            dedup_window: Duration::from_secs(600),
            max_dedup_keys: 4096,
            fence_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

impl Config {
    /// Sets [`signal_ttl`](Self::signal_ttl).
    #[must_use]
    pub fn with_signal_ttl(mut self, ttl: Duration) -> Self {
        self.signal_ttl = ttl;
        self
    }

    /// Sets [`max_pending_signals`](Self::max_pending_signals).
    #[must_use]
    pub fn with_max_pending_signals(mut self, max: usize) -> Self {
        self.max_pending_signals = max;
        self
    }

    /// Sets [`dedup_window`](Self::dedup_window).
    #[must_use]
    pub fn with_dedup_window(mut self, window: Duration) -> Self {
        self.dedup_window = window;
        self
    }

    /// Checks that every duration is at least a millisecond and every bound
    /// at least one.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming the offending setting.
    pub fn validate(&self) -> Result<()> {
        ttl_ms("signal_ttl", self.signal_ttl)?;
        ttl_ms("dedup_window", self.dedup_window)?;
        ttl_ms("fence_ttl", self.fence_ttl)?;
        if self.max_pending_signals == 0 {
            return Err(Error::invalid("max_pending_signals", "must be at least 1"));
        }
        if self.max_dedup_keys == 0 {
            return Err(Error::invalid("max_dedup_keys", "must be at least 1"));
        }
        Ok(())
    }
}

/// Settings of one worker's [`Inbox`](crate::Inbox).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxConfig {
    /// How often every registered session is drained even without a
    /// wake-up: the bound on the delay a missed wake-up can cause.
    pub tick: Duration,
    /// Capacity of each session's channel. When it is full the inbox stops
    /// fetching for that session (the signals wait in the store) and resumes
    /// as soon as the session task reads.
    pub capacity: usize,
    /// The most signals fetched for one session in one round trip.
    pub batch: usize,
    /// The first delay before retrying a failed drain; it doubles per
    /// consecutive failure up to `tick`.
    pub retry_backoff: Duration,
    /// The most drains in flight at once across all sessions.
    pub max_concurrent_drains: usize,
    /// The most distinct sessions remembered as woken between two passes of
    /// the inbox; beyond it the inbox drains every session instead.
    pub max_pending_wakes: usize,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(500),
            capacity: 64,
            batch: 64,
            retry_backoff: Duration::from_millis(25),
            max_concurrent_drains: 32,
            max_pending_wakes: 4096,
        }
    }
}

impl InboxConfig {
    /// Sets [`tick`](Self::tick).
    #[must_use]
    pub fn with_tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// Sets [`capacity`](Self::capacity).
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets [`batch`](Self::batch).
    #[must_use]
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Checks that durations are at least a millisecond and bounds at least
    /// one.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming the offending setting.
    pub fn validate(&self) -> Result<()> {
        ttl_ms("tick", self.tick)?;
        ttl_ms("retry_backoff", self.retry_backoff)?;
        for (what, n) in [
            ("capacity", self.capacity),
            ("batch", self.batch),
            ("max_concurrent_drains", self.max_concurrent_drains),
            ("max_pending_wakes", self.max_pending_wakes),
        ] {
            if n == 0 {
                return Err(Error::invalid(what, "must be at least 1"));
            }
        }
        // The channel capacity bounds Tokio's semaphore.
        if self.capacity > 1 << 20 {
            return Err(Error::invalid("capacity", "at most 1048576"));
        }
        Ok(())
    }
}

/// The longest TTL accepted: 30 days. Longer-lived coordination state is
/// almost certainly a mistake (a leak).
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A TTL in whole milliseconds, rounded up, after checking it is between one
/// millisecond and [`MAX_TTL`].
pub(crate) fn ttl_ms(what: &'static str, ttl: Duration) -> Result<u64> {
    if ttl < Duration::from_millis(1) {
        return Err(Error::invalid(what, "must be at least 1 ms"));
    }
    if ttl > MAX_TTL {
        return Err(Error::invalid(what, "must be at most 30 days"));
    }
    let ms = ttl.as_millis() + u128::from(!ttl.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).map_err(|_| Error::invalid(what, "out of range"))
}

#[cfg(test)]
mod tests;
