//! Frame energy and a small energy-based voice-activity detector.
//!
//! This is the cheap local VAD for transports without one of their own and
//! for tests; it does not try to tell speech from loud noise.

#[cfg(test)]
mod tests;

/// RMS of `samples` in dB relative to full scale, where full scale is a
/// square wave at ±32,768 (so a full-scale sine reads −3.01 dBFS).
///
/// Empty input and digital silence read `f32::NEG_INFINITY`, which compares
/// below every threshold.
#[must_use]
pub fn rms_dbfs(samples: &[i16]) -> f32 {
    // Squares of i16 fit in 31 bits, so a u64 sum cannot overflow below
    // 2^33 samples, far beyond any frame.
    let sum: u64 = samples.iter().map(|&s| u64::from(s.unsigned_abs()).pow(2)).sum();
    if sum == 0 {
        return f32::NEG_INFINITY;
    }
    let mean = sum as f64 / samples.len() as f64;
    (10.0 * (mean / (32_768.0 * 32_768.0)).log10()) as f32
}

/// Thresholds and durations of a [`Vad`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// A frame at or above this level counts towards speech starting.
    pub start_dbfs: f32,
    /// A frame below this level counts towards speech stopping. Keep it
    /// below `start_dbfs`: the gap is the hysteresis.
    pub stop_dbfs: f32,
    /// Consecutive loud frames before speech starts (0 behaves as 1).
    pub min_speech_frames: u32,
    /// Consecutive quiet frames before speech stops (0 behaves as 1).
    pub min_silence_frames: u32,
}

impl Default for VadConfig {
    /// Starting points for 20 ms telephone frames: speech starts after
    /// 60 ms at −40 dBFS or louder and stops after 500 ms below −45 dBFS.
    fn default() -> VadConfig {
        VadConfig {
            start_dbfs: -40.0,
            stop_dbfs: -45.0,
            min_speech_frames: 3,
            min_silence_frames: 25,
        }
    }
}

/// A transition reported by [`Vad::push_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Speech started; the first loud frame was `min_speech_frames - 1`
    /// frames before this one.
    SpeechStarted,
    /// Speech stopped; the first quiet frame was `min_silence_frames - 1`
    /// frames before this one.
    SpeechStopped,
}

/// An energy voice-activity detector with hysteresis, fed one frame at a
/// time.
///
/// Silent → speaking after `min_speech_frames` consecutive frames at or
/// above `start_dbfs`; speaking → silent after `min_silence_frames`
/// consecutive frames below `stop_dbfs`. A frame that breaks a run resets it.
#[derive(Debug, Clone)]
pub struct Vad {
    config: VadConfig,
    speaking: bool,
    /// Consecutive frames counting towards the opposite state.
    run: u32,
}

impl Vad {
    /// A detector in the silent state.
    #[must_use]
    pub fn new(config: VadConfig) -> Vad {
        Vad { config, speaking: false, run: 0 }
    }

    /// Whether speech is in progress.
    #[must_use]
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Feeds one frame of samples; returns the transition it completes.
    pub fn push_frame(&mut self, samples: &[i16]) -> Option<VadEvent> {
        self.push_level(rms_dbfs(samples))
    }

    /// Feeds the level of one frame in dBFS (for callers that already have
    /// it); returns the transition it completes.
    pub fn push_level(&mut self, dbfs: f32) -> Option<VadEvent> {
        let (counts, needed, event) = if self.speaking {
            (dbfs < self.config.stop_dbfs, self.config.min_silence_frames, VadEvent::SpeechStopped)
        } else {
            (dbfs >= self.config.start_dbfs, self.config.min_speech_frames, VadEvent::SpeechStarted)
        };
        if !counts {
            self.run = 0;
            return None;
        }
        self.run = self.run.saturating_add(1);
        if self.run < needed.max(1) {
            return None;
        }
        self.speaking = !self.speaking;
        self.run = 0;
        Some(event)
    }

    /// Back to silent, forgetting any run in progress.
    pub fn reset(&mut self) {
        self.speaking = false;
        self.run = 0;
    }
}
