//! The caller's voice: 20 ms frames of speech and silence, computed once
//! per audio format and shared by every call, already base64-encoded, so a
//! call spends nothing per frame on audio.
//!
//! Speech is a voiced tone (a fundamental and two harmonics) with a
//! syllable-rate swell, at [`SPEECH_DBFS`] overall: loud enough for any
//! energy VAD, never clipping. A "hold on" utterance uses another
//! fundamental so that a simulated upstream can tell it apart. Silence is
//! digital silence (µ-law `0xFF`, PCM zeros).

use std::f64::consts::TAU;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use turngate_audio::{AudioFormat, SampleRate, pcm16, ulaw};

/// The fundamental of ordinary caller speech, in hertz.
pub const SPEECH_HZ: u32 = 140;
/// The fundamental of a "hold on" utterance, in hertz.
pub const HOLD_ON_HZ: u32 = 230;
/// The level of caller speech over a whole cycle, in dBFS.
pub const SPEECH_DBFS: f64 = -12.0;

/// Frames in one cycle of the speech pattern (500 ms). Both fundamentals
/// and the 4 Hz swell complete whole periods in it, so the cycle repeats
/// without a click.
const CYCLE_FRAMES: usize = 25;
/// The syllable-rate swell of the speech level, in hertz.
const SWELL_HZ: f64 = 4.0;

/// What the caller's line carries during one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Voice {
    /// Digital silence.
    Silence,
    /// Speech; the number counts frames since the utterance started.
    Speech(usize),
    /// "Hold on" speech; the number counts frames since it started.
    HoldOn(usize),
}

/// The frames of one audio format.
#[derive(Debug)]
pub(super) struct FrameBank {
    speech: Vec<String>,
    hold_on: Vec<String>,
    silence: String,
    /// Bytes of audio in one frame (before base64).
    pub(super) frame_bytes: usize,
}

impl FrameBank {
    /// The shared bank for `format`, built on first use.
    pub(super) fn get(format: AudioFormat) -> &'static FrameBank {
        static ULAW: OnceLock<FrameBank> = OnceLock::new();
        static ALAW: OnceLock<FrameBank> = OnceLock::new();
        static PCM8: OnceLock<FrameBank> = OnceLock::new();
        static PCM16: OnceLock<FrameBank> = OnceLock::new();
        static PCM24: OnceLock<FrameBank> = OnceLock::new();
        let cell = match format {
            AudioFormat::Ulaw => &ULAW,
            AudioFormat::Alaw => &ALAW,
            AudioFormat::Pcm16(SampleRate::Hz8000) => &PCM8,
            AudioFormat::Pcm16(SampleRate::Hz16000) => &PCM16,
            AudioFormat::Pcm16(SampleRate::Hz24000) => &PCM24,
        };
        cell.get_or_init(|| FrameBank::build(format))
    }

    fn build(format: AudioFormat) -> FrameBank {
        let speech = frames(format, SPEECH_HZ);
        let hold_on = frames(format, HOLD_ON_HZ);
        let silence_byte = match format {
            AudioFormat::Ulaw => ulaw::SILENCE,
            AudioFormat::Alaw => turngate_audio::alaw::SILENCE,
            AudioFormat::Pcm16(_) => 0,
        };
        let frame_bytes = format.bytes_per_frame();
        FrameBank {
            speech,
            hold_on,
            silence: STANDARD.encode(vec![silence_byte; frame_bytes]),
            frame_bytes,
        }
    }

    /// The base64 payload for one frame of `voice`.
    pub(super) fn frame(&self, voice: Voice) -> &str {
        let silence = self.silence.as_str();
        match voice {
            Voice::Silence => silence,
            Voice::Speech(n) => self.speech.get(n % CYCLE_FRAMES).map_or(silence, String::as_str),
            Voice::HoldOn(n) => self.hold_on.get(n % CYCLE_FRAMES).map_or(silence, String::as_str),
        }
    }
}

/// One cycle of speech at `f0`, as base64 frames in `format`.
fn frames(format: AudioFormat, f0: u32) -> Vec<String> {
    let rate = format.sample_rate();
    let samples = synthesize(rate, f0);
    let per_frame = rate.samples_per_frame();
    samples
        .chunks(per_frame)
        .map(|frame| {
            let mut bytes = Vec::with_capacity(format.bytes_per_frame());
            match format {
                AudioFormat::Ulaw => ulaw::encode_extend(frame, &mut bytes),
                AudioFormat::Alaw => turngate_audio::alaw::encode_extend(frame, &mut bytes),
                AudioFormat::Pcm16(_) => pcm16::extend_le_bytes(frame, &mut bytes),
            }
            STANDARD.encode(&bytes)
        })
        .collect()
}

/// One cycle of voiced speech at `f0` and `rate`, scaled to [`SPEECH_DBFS`].
pub(super) fn synthesize(rate: SampleRate, f0: u32) -> Vec<i16> {
    let hz = f64::from(rate.hz());
    let len = rate.samples_per_frame() * CYCLE_FRAMES;
    let f0 = f64::from(f0);
    let raw: Vec<f64> = (0..len)
        .map(|i| {
            let t = i as f64 / hz;
            let voiced = (TAU * f0 * t).sin()
                + 0.5 * (TAU * 2.0 * f0 * t).sin()
                + 0.25 * (TAU * 3.0 * f0 * t).sin();
            let swell = 0.75 + 0.25 * (TAU * SWELL_HZ * t).sin();
            voiced * swell
        })
        .collect();
    let rms = (raw.iter().map(|x| x * x).sum::<f64>() / len as f64).sqrt();
    let target = 32_768.0 * 10f64.powf(SPEECH_DBFS / 20.0);
    let scale = if rms > 0.0 { target / rms } else { 0.0 };
    raw.iter()
        .map(|x| (x * scale).round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16)
        .collect()
}
