//! Marks sent and echoed: what the caller has heard, by confirmation.

use std::collections::VecDeque;
use std::time::Duration;

use turngate_core::MarkId;

use super::Playout;

/// How many flushed marks to remember, so their echoes after a clear are
/// recognised. A clear returns every pending mark at once, so this only has
/// to cover what one clear can flush; older ones count as stale.
const FLUSHED_KEPT: usize = 512;

/// What a mark echo means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// The caller heard everything up to this mark: forward it to the core.
    Confirmed(MarkId),
    /// The mark was flushed by a clear; the peer returns flushed marks, but
    /// their audio was not heard. Counted, not forwarded.
    Flushed,
    /// One of our marks that is not outstanding (a duplicate echo, or one
    /// from before a reconnect). Counted, not forwarded.
    Stale,
    /// Not a name we produce. Counted and ignored, never an error.
    Foreign,
}

/// The ledger of marks a confirming transport (Twilio, Telnyx) has sent.
///
/// Peers echo marks in the order they were sent, so an echo confirms every
/// mark before it too.
#[derive(Debug, Default)]
pub struct MarkLedger {
    outstanding: VecDeque<(MarkId, Duration)>,
    flushed: VecDeque<MarkId>,
    sent: Duration,
    confirmed: Duration,
    flushed_total: Duration,
}

impl MarkLedger {
    /// Records audio of `duration` sent, followed by `mark`.
    pub fn sent(&mut self, mark: MarkId, duration: Duration) {
        self.sent += duration;
        self.outstanding.push_back((mark, duration));
    }

    /// Classifies an echoed mark name and applies it.
    pub fn echo(&mut self, name: &str) -> Echo {
        let Ok(mark) = name.parse::<MarkId>() else {
            return Echo::Foreign;
        };
        if let Some(position) = self.outstanding.iter().position(|(m, _)| *m == mark) {
            for (_, duration) in self.outstanding.drain(..=position) {
                self.confirmed += duration;
            }
            return Echo::Confirmed(mark);
        }
        if let Some(position) = self.flushed.iter().position(|m| *m == mark) {
            self.flushed.remove(position);
            return Echo::Flushed;
        }
        Echo::Stale
    }

    /// Everything outstanding was flushed (a clear was sent).
    pub fn clear(&mut self) {
        for (mark, duration) in self.outstanding.drain(..) {
            self.flushed_total += duration;
            if self.flushed.len() == FLUSHED_KEPT {
                self.flushed.pop_front();
            }
            self.flushed.push_back(mark);
        }
    }

    /// The account of audio sent, confirmed and flushed.
    pub fn playout(&self) -> Playout {
        Playout {
            sent: self.sent,
            queued: Duration::ZERO,
            confirmed: self.confirmed,
            flushed: self.flushed_total,
            outstanding_marks: self.outstanding.len(),
        }
    }
}
