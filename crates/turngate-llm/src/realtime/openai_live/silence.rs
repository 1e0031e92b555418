//! Keeping a GPT-Live session's input timeline moving.
//!
//! The session timeline advances only while input audio arrives: context
//! appends are placed (and acknowledged) only when the audio received
//! reaches their point on the timeline, so a timeline that stops leaves
//! every later append pending. Carriers stop sending media on hold, during
//! stream pauses and in jitter gaps; the client must then send silence
//! itself. [`SilenceFeed`] says how many 20 ms frames of silence are due,
//! given what audio was sent and when.
//!
//! Sans-IO: the caller passes the time.

use std::time::{Duration, Instant};

/// One frame of silence.
pub const FRAME: Duration = Duration::from_millis(20);

/// Tracks how far the input timeline is covered with audio.
#[derive(Debug, Clone)]
pub struct SilenceFeed {
    /// How long past the covered point the carrier may be late before
    /// silence is sent in its place (its normal jitter).
    grace: Duration,
    /// The most frames sent at once; a longer gap (a stalled process) is
    /// skipped rather than filled, since only movement matters.
    max_burst: u32,
    /// The input timeline has audio up to here; `None` before the session
    /// started.
    covered_until: Option<Instant>,
}

impl SilenceFeed {
    /// A feed that fills gaps longer than `grace`, with at most `max_burst`
    /// frames at a time.
    #[must_use]
    pub fn new(grace: Duration, max_burst: u32) -> SilenceFeed {
        SilenceFeed { grace, max_burst: max_burst.max(1), covered_until: None }
    }

    /// The session started at `now`: the timeline is covered up to now.
    pub fn start(&mut self, now: Instant) {
        self.covered_until = Some(now);
    }

    /// The session is gone: nothing is due until the next start.
    pub fn stop(&mut self) {
        self.covered_until = None;
    }

    /// Caller audio lasting `duration` was sent at `now`. Audio that comes
    /// faster than real time covers the timeline ahead of the clock; audio
    /// after a gap covers it from now.
    pub fn audio_sent(&mut self, now: Instant, duration: Duration) {
        if let Some(covered) = self.covered_until.as_mut() {
            *covered = (*covered).max(now) + duration;
        }
    }

    /// Frames of silence to send at `now` (0 when the carrier is on time);
    /// counts them as sent.
    pub fn due(&mut self, now: Instant) -> u32 {
        let Some(covered) = self.covered_until else { return 0 };
        if now < covered + self.grace {
            return 0;
        }
        let gap = now.duration_since(covered);
        let frames = gap.as_micros().div_ceil(FRAME.as_micros());
        let frames = u32::try_from(frames).unwrap_or(u32::MAX);
        if frames > self.max_burst {
            self.covered_until = Some(now);
            return self.max_burst;
        }
        self.covered_until = Some(covered + FRAME * frames);
        frames
    }

    /// When [`due`](Self::due) may next return frames, if ever.
    #[must_use]
    pub fn next_due(&self) -> Option<Instant> {
        self.covered_until.map(|covered| covered + self.grace)
    }
}
