//! Sequenced delivery to app clients that may reconnect.

use std::collections::VecDeque;
use std::time::Instant;

use crate::ids::ConnId;

/// The messages a session sent to its app clients, kept for replay.
///
/// Every message gets the next sequence number. A client that reconnects
/// says which number it saw last and gets everything after it; if the
/// outbox no longer holds some of those, the client is told so explicitly.
#[derive(Debug)]
pub struct Outbox {
    held: VecDeque<(u64, String)>,
    next_seq: u64,
    capacity: usize,
}

/// The result of asking for the messages after a sequence number.
#[derive(Debug, PartialEq, Eq)]
pub struct Replay<'a> {
    /// Set when messages after the client's last one were already evicted:
    /// the oldest sequence number still held.
    pub gap_from: Option<u64>,
    /// The messages to send, in order.
    pub messages: Vec<(u64, &'a str)>,
}

impl Outbox {
    /// An empty outbox keeping at most `capacity` messages.
    pub fn new(capacity: usize) -> Outbox {
        Outbox { held: VecDeque::new(), next_seq: 1, capacity: capacity.max(1) }
    }

    /// Adds a message and returns its sequence number.
    pub fn push(&mut self, text: String) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.held.len() == self.capacity {
            self.held.pop_front();
        }
        self.held.push_back((seq, text));
        seq
    }

    /// Everything after `last_seen` (0 for a client that saw nothing).
    pub fn after(&self, last_seen: u64) -> Replay<'_> {
        let oldest = self.held.front().map_or(self.next_seq, |(seq, _)| *seq);
        let gap_from = (last_seen + 1 < oldest).then_some(oldest);
        let messages = self
            .held
            .iter()
            .filter(|(seq, _)| *seq > last_seen)
            .map(|(seq, text)| (*seq, text.as_str()))
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
