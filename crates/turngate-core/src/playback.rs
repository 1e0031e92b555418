//! What the caller has heard: audio sent, marks echoed, items played.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::ids::{ItemId, MarkId};

/// Playback toward the caller.
///
/// ```text
///              Play (first chunk) / PlaybackStarted
///   ┌────────┐ ──────────────────────────────────▶ ┌─────────┐
///   │ Silent │                                     │ Playing │ ◀─┐ more chunks
///   └────────┘ ◀────────────────────────────────── └─────────┘ ──┘
///        last mark echoed, PlaybackEnded, Clear (barge-in),
///        no confirmation long after the audio should have ended
/// ```
///
/// "Agent speaking" is `Playing`. It starts with the first audio sent, not
/// with `response.created`, and it ends when the transport confirms that the
/// last chunk was heard, not with `response.done`: a response is usually done
/// generating long before the caller has heard it.
#[derive(Debug, Default)]
pub(crate) struct Playback {
    /// Chunks sent and not yet confirmed heard, oldest first.
    unconfirmed: VecDeque<Chunk>,
    /// The most recent assistant items and what became of their audio.
    items: VecDeque<ItemProgress>,
    /// When the queued audio should have finished playing, if the caller's
    /// side plays it in real time from the moment it was sent.
    expected_end: Option<Instant>,
    /// A playback the transport started on its own (and when to stop
    /// waiting for its end).
    external_until: Option<Instant>,
    next_mark: u64,
}

#[derive(Debug)]
struct Chunk {
    mark: MarkId,
    item_id: ItemId,
    /// Where in its item this chunk ends.
    end_in_item: Duration,
}

/// What became of one assistant item's audio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemProgress {
    /// The item.
    pub item_id: ItemId,
    /// Audio received from the backend (and sent to the caller).
    pub received: Duration,
    /// Audio the transport confirmed the caller heard.
    pub played: Duration,
    /// False once the backend connection that produced the item is gone:
    /// the new connection does not know it, so it cannot be truncated.
    pub truncatable: bool,
}

/// The item that was cut off by a clear, and how far it got.
#[derive(Debug)]
pub(crate) struct Cut {
    pub(crate) item_id: ItemId,
    pub(crate) played: Duration,
    pub(crate) truncatable: bool,
}

/// How many items to remember; only the one playing matters for truncation.
const ITEMS_KEPT: usize = 8;

impl Playback {
    /// True while the caller may be hearing the agent.
    pub(crate) fn speaking(&self) -> bool {
        !self.unconfirmed.is_empty() || self.external_until.is_some()
    }

    /// Records a chunk about to be sent and returns the mark to follow it.
    pub(crate) fn send(&mut self, now: Instant, item_id: &ItemId, duration: Duration) -> MarkId {
        self.next_mark += 1;
        let mark = MarkId(self.next_mark);
        let item = self.item_mut(item_id);
        item.received += duration;
        let end_in_item = item.received;
        self.unconfirmed.push_back(Chunk { mark, item_id: item_id.clone(), end_in_item });
        // The carrier plays queued audio back to back, starting now at the earliest.
        let start = self.expected_end.map_or(now, |end| end.max(now));
        self.expected_end = Some(start + duration);
        mark
    }

    /// Applies a mark echo: everything up to and including that chunk was
    /// heard. Returns false for a mark that is not outstanding.
    pub(crate) fn confirm(&mut self, mark: MarkId) -> bool {
        let Some(position) = self.unconfirmed.iter().position(|c| c.mark == mark) else {
            return false;
        };
        for chunk in self.unconfirmed.drain(..=position) {
            if let Some(item) = self.items.iter_mut().find(|i| i.item_id == chunk.item_id) {
                item.played = item.played.max(chunk.end_in_item);
            }
        }
        if self.unconfirmed.is_empty() {
            self.expected_end = None;
        }
        true
    }

    /// The transport says everything queued was heard. Returns false when
    /// nothing was playing.
    pub(crate) fn ended(&mut self) -> bool {
        let was = self.speaking();
        self.external_until = None;
        if let Some(last) = self.unconfirmed.back() {
            let last = last.mark;
            self.confirm(last);
        }
        was
    }

    /// An externally started playback ended. Returns false when none was
    /// playing.
    pub(crate) fn external_ended(&mut self) -> bool {
        self.external_until.take().is_some()
    }

    /// An externally started playback began.
    pub(crate) fn external_started(&mut self, until: Instant) {
        self.external_until = Some(until);
    }

    /// Everything queued is dropped (the transport was told to clear).
    /// Returns the item that was playing and what was heard of it.
    pub(crate) fn clear(&mut self) -> Option<Cut> {
        self.external_until = None;
        self.expected_end = None;
        let front = self.unconfirmed.front()?.item_id.clone();
        self.unconfirmed.clear();
        let item = self.items.iter().find(|i| i.item_id == front)?;
        // What was heard can never exceed what was received; the clamp keeps
        // a truncate inside the audio the backend actually produced.
        Some(Cut {
            item_id: front,
            played: item.played.min(item.received),
            truncatable: item.truncatable,
        })
    }

    /// When to stop waiting for confirmations that have not come.
    pub(crate) fn deadline(&self, grace: Duration) -> Option<Instant> {
        let streamed = self.expected_end.map(|end| end + grace);
        match (streamed, self.external_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Gives up on confirmations past their deadline, assuming the audio was
    /// heard. Returns true if anything was given up.
    pub(crate) fn expire(&mut self, now: Instant, grace: Duration) -> bool {
        let mut expired = false;
        if self.external_until.is_some_and(|until| until <= now) {
            self.external_until = None;
            expired = true;
        }
        if self.expected_end.is_some_and(|end| end + grace <= now) {
            if let Some(last) = self.unconfirmed.back() {
                let last = last.mark;
                self.confirm(last);
            }
            self.expected_end = None;
            expired = true;
        }
        expired
    }

    /// The backend connection that produced the items is gone.
    pub(crate) fn backend_lost(&mut self) {
        for item in &mut self.items {
            item.truncatable = false;
        }
    }

    /// Progress of the remembered items, oldest first.
    pub(crate) fn items(&self) -> impl Iterator<Item = &ItemProgress> {
        self.items.iter()
    }

    /// Audio sent and not yet confirmed heard.
    pub(crate) fn unconfirmed_chunks(&self) -> usize {
        self.unconfirmed.len()
    }

    fn item_mut(&mut self, item_id: &ItemId) -> &mut ItemProgress {
        let position = match self.items.iter().position(|i| &i.item_id == item_id) {
            Some(position) => position,
            None => {
                if self.items.len() == ITEMS_KEPT {
                    self.items.pop_front();
                }
                self.items.push_back(ItemProgress {
                    item_id: item_id.clone(),
                    received: Duration::ZERO,
                    played: Duration::ZERO,
                    truncatable: true,
                });
                self.items.len() - 1
            }
        };
        match self.items.get_mut(position) {
            Some(item) => item,
            None => unreachable!("invariant: the position was found or just pushed"),
        }
    }
}
