//! Counters a Realtime connection keeps, for metrics and for tests.

#[cfg(any(feature = "openai-realtime", feature = "openai-live"))]
use std::sync::atomic::{AtomicU64, Ordering};

/// What crossed a Realtime connection so far. Every field only grows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Client events sent upstream (all connections).
    pub events_sent: u64,
    /// Server events received (all connections).
    pub events_received: u64,
    /// Server events of a type we do not know; ignored.
    pub unknown_events: u64,
    /// Server frames that were not valid events (bad JSON, missing fields,
    /// bad base64); ignored.
    pub corrupt_events: u64,
    /// Links re-established after a drop.
    pub reconnects: u64,
    /// Commits refused locally because less than the minimum audio was
    /// appended since the last commit (the upstream would have rejected them).
    pub commits_refused: u64,
    /// Truncates whose offset was lowered to the audio received for the item.
    pub truncates_clamped: u64,
    /// Truncates not sent: the item belongs to an earlier link, or no audio
    /// of it was received.
    pub truncates_skipped: u64,
    /// Creates held back because the upstream had a response of its own
    /// active or about to start; each went out once it was free.
    pub creates_held: u64,
    /// Held creates answered locally with a conflict because the upstream
    /// stayed busy too long, or because a newer create replaced them.
    pub creates_refused: u64,
    /// Commands that arrived while the link was down; `BackendDisconnected`
    /// told the core that they are lost.
    pub dropped_while_down: u64,
    /// Conversation items re-sent to a new link after a reconnect.
    pub items_reinjected: u64,
}

/// Counters shared with the connection handle.
#[cfg(any(feature = "openai-realtime", feature = "openai-live"))]
#[derive(Debug, Default)]
pub(crate) struct SharedStats {
    pub(crate) events_sent: AtomicU64,
    pub(crate) events_received: AtomicU64,
    pub(crate) unknown_events: AtomicU64,
    pub(crate) corrupt_events: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) commits_refused: AtomicU64,
    pub(crate) truncates_clamped: AtomicU64,
    pub(crate) truncates_skipped: AtomicU64,
    pub(crate) creates_held: AtomicU64,
    pub(crate) creates_refused: AtomicU64,
    pub(crate) dropped_while_down: AtomicU64,
    pub(crate) items_reinjected: AtomicU64,
}

#[cfg(any(feature = "openai-realtime", feature = "openai-live"))]
impl SharedStats {
    /// A snapshot of the counters.
    pub(crate) fn snapshot(&self) -> ConnectionStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ConnectionStats {
            events_sent: get(&self.events_sent),
            events_received: get(&self.events_received),
            unknown_events: get(&self.unknown_events),
            corrupt_events: get(&self.corrupt_events),
            reconnects: get(&self.reconnects),
            commits_refused: get(&self.commits_refused),
            truncates_clamped: get(&self.truncates_clamped),
            truncates_skipped: get(&self.truncates_skipped),
            creates_held: get(&self.creates_held),
            creates_refused: get(&self.creates_refused),
            dropped_while_down: get(&self.dropped_while_down),
            items_reinjected: get(&self.items_reinjected),
        }
    }
}

/// Adds one to `counter`.
#[cfg(any(feature = "openai-realtime", feature = "openai-live"))]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to `counter`.
#[cfg(any(feature = "openai-realtime", feature = "openai-live"))]
pub(crate) fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}
