//! The caller's ear: the carrier's playout queue for the bot's audio.
//!
//! Audio plays in real time from the moment it arrives (or from the end of
//! what is already queued). A mark is due when the audio queued before it
//! has played; one sent with nothing queued is due at once. A clear drops
//! what is queued and makes every pending mark due at once. Times are
//! offsets from the start of the call, so the queue is pure and testable
//! without a clock.
//!
//! An utterance is a run of agent audio whose pauses are shorter than
//! [`UTTERANCE_GAP`]; its end is only known once that gap has passed with
//! nothing new queued, and is then stamped with when the audio ran out.

use std::collections::VecDeque;
use std::time::Duration;

/// A pause in agent audio shorter than this is part of one utterance (a
/// real-time bot's chunks arrive with some jitter, as a jitter buffer on a
/// real carrier would smooth over).
pub(super) const UTTERANCE_GAP: Duration = Duration::from_millis(150);

/// Marks waiting for their audio at once; a bot that sends more is
/// reported and the excess dropped, so the queue stays bounded.
pub(super) const MAX_PENDING_MARKS: usize = 10_000;

/// A change in what the caller hears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EarEvent {
    /// Agent audio started playing.
    Started(Duration),
    /// Agent audio stopped playing: ran out, or was cleared.
    Stopped {
        /// When it stopped.
        at: Duration,
        /// Whether a clear cut it off.
        cleared: bool,
    },
}

#[derive(Debug, Default)]
pub(super) struct Ear {
    /// When everything queued so far has played; at or before now when idle.
    play_until: Duration,
    /// When the current utterance started, if one is in progress.
    utterance: Option<Duration>,
    /// Utterances started so far.
    utterances: u64,
    /// When the last finished utterance stopped.
    last_end: Option<Duration>,
    /// Marks waiting for their audio, with when they are due (never
    /// decreasing, since the queue's end only moves forward).
    marks: VecDeque<(Duration, String)>,
    received: Duration,
    dropped: Duration,
}

impl Ear {
    /// `duration` of agent audio arrived at `now`.
    pub(super) fn audio(&mut self, now: Duration, duration: Duration, events: &mut Vec<EarEvent>) {
        self.finish_utterance(now, events);
        if self.utterance.is_none() {
            self.utterance = Some(now);
            self.utterances += 1;
            events.push(EarEvent::Started(now));
        }
        self.play_until = self.play_until.max(now) + duration;
        self.received += duration;
    }

    /// A mark arrived: `Ok(Some(name))` when it is due at once (nothing
    /// queued), `Ok(None)` when it waits for the audio before it, and
    /// `Err(name)` when [`MAX_PENDING_MARKS`] already wait (it is dropped).
    pub(super) fn mark(&mut self, now: Duration, name: String) -> Result<Option<String>, String> {
        if self.play_until <= now {
            return Ok(Some(name));
        }
        if self.marks.len() >= MAX_PENDING_MARKS {
            return Err(name);
        }
        self.marks.push_back((self.play_until, name));
        Ok(None)
    }

    /// A clear: queued audio is dropped, pending marks go to `due` at once.
    pub(super) fn clear(
        &mut self,
        now: Duration,
        due: &mut Vec<String>,
        events: &mut Vec<EarEvent>,
    ) {
        self.finish_utterance(now, events);
        // An utterance whose audio already ran out (a pause shorter than the
        // gap) was not cut by the clear: it ended when its audio did.
        let cut = self.play_until > now;
        if self.utterance.take().is_some() {
            let at = if cut { now } else { self.play_until };
            self.last_end = Some(at);
            events.push(EarEvent::Stopped { at, cleared: cut });
        }
        self.dropped += self.play_until.saturating_sub(now);
        self.play_until = self.play_until.min(now);
        due.extend(self.marks.drain(..).map(|(_, name)| name));
    }

    /// Time passed: marks whose audio has played go to `due`, in order, and
    /// an utterance whose audio ran out more than the gap ago ends.
    pub(super) fn poll(
        &mut self,
        now: Duration,
        due: &mut Vec<String>,
        events: &mut Vec<EarEvent>,
    ) {
        while let Some((at, _)) = self.marks.front() {
            if *at > now {
                break;
            }
            if let Some((_, name)) = self.marks.pop_front() {
                due.push(name);
            }
        }
        self.finish_utterance(now, events);
    }

    fn finish_utterance(&mut self, now: Duration, events: &mut Vec<EarEvent>) {
        if self.utterance.is_some() && now >= self.play_until + UTTERANCE_GAP {
            self.utterance = None;
            self.last_end = Some(self.play_until);
            events.push(EarEvent::Stopped { at: self.play_until, cleared: false });
        }
    }

    /// The next time [`Ear::poll`] has something to do.
    pub(super) fn next_deadline(&self) -> Option<Duration> {
        let mark = self.marks.front().map(|(at, _)| *at);
        let end = self.utterance.map(|_| self.play_until + UTTERANCE_GAP);
        match (mark, end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether an utterance is in progress (audio playing, or paused for
    /// less than the gap).
    pub(super) fn in_utterance(&self) -> bool {
        self.utterance.is_some()
    }

    /// Utterances started so far.
    pub(super) fn utterances(&self) -> u64 {
        self.utterances
    }

    /// How long the current utterance has been playing.
    pub(super) fn utterance_elapsed(&self, now: Duration) -> Option<Duration> {
        self.utterance.map(|start| now.saturating_sub(start))
    }

    /// How long the agent has been quiet since its last utterance ended
    /// (`None` while one is in progress or before the first).
    pub(super) fn quiet_for(&self, now: Duration) -> Option<Duration> {
        if self.utterance.is_some() {
            return None;
        }
        self.last_end.map(|end| now.saturating_sub(end))
    }

    /// Agent audio queued beyond `now`.
    pub(super) fn ahead(&self, now: Duration) -> Duration {
        self.play_until.saturating_sub(now)
    }

    /// Agent audio received so far.
    pub(super) fn received(&self) -> Duration {
        self.received
    }

    /// Agent audio played by `now`.
    pub(super) fn played(&self, now: Duration) -> Duration {
        self.received.saturating_sub(self.dropped).saturating_sub(self.ahead(now))
    }
}
