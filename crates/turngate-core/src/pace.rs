//! How fast caller audio may arrive: a token bucket in audio time.
//!
//! A carrier sends the caller's audio in real time. A peer that sends it
//! faster makes the model hear (and the operator pay for) more audio than
//! the call lasts, so the session counts audio by its duration, not by
//! messages: the bucket holds up to `burst` of audio, refills at `rate`
//! times the clock, and each chunk takes its duration out. Audio beyond
//! what the bucket holds is a policy violation. Network jitter is absorbed:
//! a stream that is paused and then flushes what it buffered stays within
//! the bucket as long as its average rate stays under `rate`.

use std::time::{Duration, Instant};

/// The bucket.
#[derive(Debug)]
pub(crate) struct AudioPace {
    rate: f64,
    burst: Duration,
    /// Audio that may still arrive without a violation, as of `at`.
    allowance: Duration,
    at: Option<Instant>,
}

impl AudioPace {
    pub(crate) fn new(rate: f64, burst: Duration) -> AudioPace {
        AudioPace { rate, burst, allowance: burst, at: None }
    }

    /// Takes `duration` of audio arriving at `now`; false if it is more
    /// than the bucket holds.
    pub(crate) fn admit(&mut self, now: Instant, duration: Duration) -> bool {
        if let Some(at) = self.at {
            let refill = now.saturating_duration_since(at).mul_f64(self.rate);
            self.allowance = (self.allowance + refill).min(self.burst);
        }
        self.at = Some(now);
        match self.allowance.checked_sub(duration) {
            Some(left) => {
                self.allowance = left;
                true
            }
            None => {
                self.allowance = Duration::ZERO;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
