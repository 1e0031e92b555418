//! Sequenced delivery to app clients that may reconnect.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use crate::ids::ConnId;

/// The messages a session sent to its app clients, kept for replay.
///
/// Every message gets the next sequence number. A client that reconnects
/// says which number it saw last and gets everything after it; if the
/// outbox no longer holds some of those, the client is told so explicitly.
///
/// The outbox is bounded twice: in messages and in bytes. The oldest
/// messages go first; the newest is always kept, so a single message over
/// the byte bound is still delivered to the clients connected now. Messages
/// are shared (`Arc<str>`): replaying the backlog to a connection copies
/// pointers, not text.
#[derive(Debug)]
pub struct Outbox {
    held: VecDeque<(u64, Arc<str>)>,
    next_seq: u64,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
}

/// The result of asking for the messages after a sequence number.
#[derive(Debug, PartialEq, Eq)]
pub struct Replay<'a> {
    /// Set when messages after the client's last one were already evicted:
    /// the oldest sequence number still held.
    pub gap_from: Option<u64>,
    /// The messages to send, in order.
    pub messages: Vec<(u64, &'a Arc<str>)>,
}

impl Outbox {
    /// An empty outbox keeping at most `capacity` messages and, beyond
    /// the newest one, at most `max_bytes` of text.
    pub fn new(capacity: usize, max_bytes: usize) -> Outbox {
        Outbox {
            held: VecDeque::new(),
            next_seq: 1,
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
        }
    }

    /// Adds a message and returns its sequence number.
    pub fn push(&mut self, text: Arc<str>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += text.len();
        self.held.push_back((seq, text));
        while self.held.len() > 1
            && (self.held.len() > self.capacity || self.bytes > self.max_bytes)
        {
            if let Some((_, evicted)) = self.held.pop_front() {
                self.bytes -= evicted.len();
            }
        }
        seq
    }

    /// The bytes of text held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The messages held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Everything after `last_seen` (0 for a client that saw nothing).
    pub fn after(&self, last_seen: u64) -> Replay<'_> {
        let oldest = self.held.front().map_or(self.next_seq, |(seq, _)| *seq);
        let gap_from = (last_seen + 1 < oldest).then_some(oldest);
        let messages = self
            .held
            .iter()
            .filter(|(seq, _)| *seq > last_seen)
            .map(|(seq, text)| (*seq, text))
            .collect();
        Replay { gap_from, messages }
    }

    /// The sequence number the next message will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

/// Which app-client connections are open, and since when none is.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    open: Vec<ConnId>,
    ever: bool,
    empty_since: Option<Instant>,
}

impl Presence {
    pub(crate) fn connect(&mut self, conn: ConnId) {
        if !self.open.contains(&conn) {
            self.open.push(conn);
        }
        self.ever = true;
        self.empty_since = None;
    }

    /// Returns false for a connection that was not open.
    pub(crate) fn disconnect(&mut self, now: Instant, conn: ConnId) -> bool {
        let before = self.open.len();
        self.open.retain(|c| *c != conn);
        if self.open.is_empty() && self.ever && self.empty_since.is_none() {
            self.empty_since = Some(now);
        }
        self.open.len() != before
    }

    pub(crate) fn open(&self) -> &[ConnId] {
        &self.open
    }

    /// Since when the last connection is gone, if it is.
    pub(crate) fn empty_since(&self) -> Option<Instant> {
        self.empty_since
    }
}
