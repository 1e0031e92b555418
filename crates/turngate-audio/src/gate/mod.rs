//! A speech gate: passes the speech in a continuous audio track and drops
//! the silence between.
//!
//! Some voice models (GPT-Live) stream one real-time track for the whole
//! session, silence included. A bridge to a carrier should forward only the
//! speech: the carrier plays silence by itself when nothing is sent, and
//! forwarding silence fills the carrier's buffer in front of the next words
//! and makes playback marks say nothing about speech heard.
//!
//! The gate cuts the track into 20 ms frames and runs the energy [`Vad`] over
//! them. Because the VAD needs a few loud frames before it calls speech,
//! the gate keeps those frames back, and one frame before them where a soft
//! onset may lie (the pre-roll), and forwards them first when speech starts,
//! so the first syllable is not clipped; the VAD's silence run is the
//! hangover that keeps word endings and short pauses.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::num::NonZeroUsize;

use crate::energy::{Vad, VadConfig, VadEvent};
use crate::{AudioFormat, Framer, alaw, pcm16, ulaw};

/// What one push produced, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gated {
    /// Speech began; the audio that follows is its start.
    Started,
    /// Speech audio to forward, in the track's format.
    Audio(Vec<u8>),
    /// Speech ended (after the hangover).
    Stopped,
}

/// The gate's thresholds: [`VadConfig`] in 20 ms frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateConfig {
    /// The detector; `min_speech_frames` is also the pre-roll and
    /// `min_silence_frames` the hangover.
    pub vad: VadConfig,
}

impl Default for GateConfig {
    /// Speech after 40 ms at −40 dBFS or louder; ends after 300 ms below
    /// −45 dBFS (short pauses between words stay inside the speech).
    fn default() -> GateConfig {
        GateConfig {
            vad: VadConfig {
                start_dbfs: -40.0,
                stop_dbfs: -45.0,
                min_speech_frames: 2,
                min_silence_frames: 15,
            },
        }
    }
}

/// The gate over one track.
#[derive(Debug)]
pub struct SpeechGate {
    format: AudioFormat,
    framer: Framer<u8>,
    vad: Vad,
    preroll: VecDeque<Vec<u8>>,
    preroll_frames: usize,
    samples: Vec<i16>,
}

impl SpeechGate {
    /// A gate for a track in `format`, starting in silence.
    #[must_use]
    pub fn new(format: AudioFormat, config: GateConfig) -> SpeechGate {
        let frame = NonZeroUsize::new(format.bytes_per_frame()).unwrap_or(NonZeroUsize::MIN);
        SpeechGate {
            format,
            framer: Framer::new(frame),
            vad: Vad::new(config.vad),
            preroll: VecDeque::new(),
            preroll_frames: config.vad.min_speech_frames.max(1) as usize,
            samples: Vec::with_capacity(frame.get()),
        }
    }

    /// Whether the gate is passing speech.
    #[must_use]
    pub fn open(&self) -> bool {
        self.vad.is_speaking()
    }

    /// Feeds a chunk of the track (any length; a partial frame waits for
    /// the rest); appends what it produced to `out`, with each stretch of
    /// speech audio as one [`Gated::Audio`].
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Gated>) {
        self.framer.push(chunk);
        let mut audio: Vec<u8> = Vec::new();
        while let Some(frame) = self.framer.next_frame() {
            self.samples.clear();
            match self.format {
                AudioFormat::Ulaw => ulaw::decode_extend(frame, &mut self.samples),
                AudioFormat::Alaw => alaw::decode_extend(frame, &mut self.samples),
                AudioFormat::Pcm16(_) => {
                    self.samples.resize(frame.len() / 2, 0);
                    // A whole frame of PCM16 is an even number of bytes.
                    let _ = pcm16::from_le_bytes(frame, &mut self.samples);
                }
            }
            let was_open = self.vad.is_speaking();
            let event = self.vad.push_frame(&self.samples);
            match (was_open, event) {
                (false, Some(VadEvent::SpeechStarted)) => {
                    out.push(Gated::Started);
                    for held in self.preroll.drain(..) {
                        audio.extend_from_slice(&held);
                    }
                    audio.extend_from_slice(frame);
                }
                (true, Some(VadEvent::SpeechStopped)) => {
                    // The hangover frames were forwarded; this last quiet
                    // one ends the speech.
                    audio.extend_from_slice(frame);
                    out.push(Gated::Audio(std::mem::take(&mut audio)));
                    out.push(Gated::Stopped);
                }
                (true, _) => audio.extend_from_slice(frame),
                (false, _) => {
                    // Silence is most of the track: reuse the oldest
                    // frame's buffer instead of allocating one per frame.
                    let mut held = if self.preroll.len() == self.preroll_frames {
                        self.preroll.pop_front().unwrap_or_default()
                    } else {
                        Vec::with_capacity(frame.len())
                    };
                    held.clear();
                    held.extend_from_slice(frame);
                    self.preroll.push_back(held);
                }
            }
        }
        if !audio.is_empty() {
            out.push(Gated::Audio(audio));
        }
    }

    /// Back to silence, dropping the pre-roll and any partial frame (the
    /// track restarted, e.g. a new session).
    pub fn reset(&mut self) {
        self.vad.reset();
        self.preroll.clear();
        let frame = NonZeroUsize::new(self.format.bytes_per_frame()).unwrap_or(NonZeroUsize::MIN);
        self.framer = Framer::new(frame);
    }
}
