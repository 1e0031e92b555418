//! Counters a Realtime connection keeps, for metrics and for tests.

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
