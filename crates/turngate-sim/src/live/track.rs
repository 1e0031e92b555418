//! The audio of the simulated output track and the decoding of input audio.
//!
//! Model speech is a voiced tone (a 200 Hz fundamental and two harmonics)
//! at [`SPEECH_DBFS`], far above any energy gate's threshold; silence is
//! digital silence (µ-law `0xFF`, A-law `0xD5`, PCM zeros), so an energy
//! gate on the track tells the two apart exactly. Fixtures are PCM16 at
//! 24 kHz whatever the session format, and are converted to it.

use std::f64::consts::TAU;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use turngate_audio::{AudioFormat, Resampler, SampleRate, alaw, pcm16, ulaw};

/// The level of model speech, in dBFS.
pub(crate) const SPEECH_DBFS: f64 = -14.0;
/// The fundamental of model speech, in hertz: whole periods in every
/// multiple of 5 ms, so frames join without a click.
const SPEECH_HZ: f64 = 200.0;

/// The output track's frames in one session format.
#[derive(Debug)]
pub(crate) struct Track {
    format: AudioFormat,
    /// One second of speech samples at the format's rate (whole periods).
    speech: Vec<i16>,
    /// Where the next speech frame starts in `speech`.
    phase: usize,
    samples_per_frame: usize,
    silence_b64: String,
    silence_byte: u8,
    scratch: Vec<i16>,
}

impl Track {
    pub(crate) fn new(format: AudioFormat, frame_ms: u64) -> Track {
        let rate = format.sample_rate();
        let samples_per_frame =
            usize::try_from(frame_ms).unwrap_or(1).saturating_mul(rate.samples_per_ms()).max(1);
        let silence_byte = silence_byte(format);
        let frame_bytes = samples_per_frame * format.bytes_per_sample();
        Track {
            format,
            speech: synthesize(rate),
            phase: 0,
            samples_per_frame,
            silence_b64: STANDARD.encode(vec![silence_byte; frame_bytes]),
            silence_byte,
            scratch: Vec::with_capacity(samples_per_frame),
        }
    }

    /// Bytes of one frame in the session format.
    pub(crate) fn frame_bytes(&self) -> usize {
        self.samples_per_frame * self.format.bytes_per_sample()
    }

    /// One frame of digital silence, base64.
    pub(crate) fn silence(&self) -> &str {
        &self.silence_b64
    }

    /// The next frame of speech, base64 (the tone continues across frames).
    pub(crate) fn speech(&mut self) -> String {
        STANDARD.encode(self.speech_bytes())
    }

    /// The next frame of speech as raw bytes in the session format, for an
    /// observer to tag before it is encoded.
    pub(crate) fn speech_bytes(&mut self) -> Vec<u8> {
        self.scratch.clear();
        let len = self.speech.len().max(1);
        for offset in 0..self.samples_per_frame {
            let index = (self.phase + offset) % len;
            self.scratch.push(self.speech.get(index).copied().unwrap_or(0));
        }
        self.phase = (self.phase + self.samples_per_frame) % len;
        encode(self.format, &self.scratch)
    }

    /// A frame cut from already-encoded audio, padded with silence.
    pub(crate) fn encoded_frame(&self, audio: &[u8]) -> String {
        let mut bytes = audio.to_vec();
        bytes.resize(self.frame_bytes(), self.silence_byte);
        STANDARD.encode(bytes)
    }
}

/// A fixture's PCM16 24 kHz bytes in the session format.
pub(crate) fn convert_fixture(pcm24: &[u8], format: AudioFormat) -> Vec<u8> {
    let mut samples = vec![0i16; pcm24.len() / 2];
    if pcm16::from_le_bytes(pcm24, &mut samples).is_err() {
        samples.clear();
    }
    let rate = format.sample_rate();
    let samples = if rate == SampleRate::Hz24000 {
        samples
    } else {
        let mut resampler = Resampler::new(SampleRate::Hz24000, rate);
        let mut out = Vec::with_capacity(resampler.max_output_len(samples.len()));
        resampler.process_extend(&samples, &mut out);
        let mut tail = vec![0i16; resampler.flush_len()];
        if let Ok(n) = resampler.flush(&mut tail) {
            out.extend(tail.iter().take(n));
        }
        out
    };
    encode(format, &samples)
}

/// Input bytes in `format` as samples, appended to `out`.
pub(crate) fn decode_extend(format: AudioFormat, bytes: &[u8], out: &mut Vec<i16>) {
    match format {
        AudioFormat::Ulaw => ulaw::decode_extend(bytes, out),
        AudioFormat::Alaw => alaw::decode_extend(bytes, out),
        AudioFormat::Pcm16(_) => {
            let mut samples = vec![0i16; bytes.len() / 2];
            if pcm16::from_le_bytes(bytes, &mut samples).is_ok() {
                out.extend_from_slice(&samples);
            }
        }
    }
}

fn encode(format: AudioFormat, samples: &[i16]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(samples.len() * format.bytes_per_sample());
    match format {
        AudioFormat::Ulaw => ulaw::encode_extend(samples, &mut bytes),
        AudioFormat::Alaw => alaw::encode_extend(samples, &mut bytes),
        AudioFormat::Pcm16(_) => pcm16::extend_le_bytes(samples, &mut bytes),
    }
    bytes
}

fn silence_byte(format: AudioFormat) -> u8 {
    match format {
        AudioFormat::Ulaw => ulaw::SILENCE,
        AudioFormat::Alaw => alaw::SILENCE,
        AudioFormat::Pcm16(_) => 0,
    }
}

/// One second of voiced tone at `rate`, scaled to [`SPEECH_DBFS`].
fn synthesize(rate: SampleRate) -> Vec<i16> {
    let hz = f64::from(rate.hz());
    let len = rate.hz() as usize;
    let raw: Vec<f64> = (0..len)
        .map(|i| {
            let t = i as f64 / hz;
            (TAU * SPEECH_HZ * t).sin()
                + 0.5 * (TAU * 2.0 * SPEECH_HZ * t).sin()
                + 0.25 * (TAU * 3.0 * SPEECH_HZ * t).sin()
        })
        .collect();
    let rms = (raw.iter().map(|x| x * x).sum::<f64>() / len as f64).sqrt();
    let target = 32_768.0 * 10f64.powf(SPEECH_DBFS / 20.0);
    let scale = if rms > 0.0 { target / rms } else { 0.0 };
    raw.iter()
        .map(|x| (x * scale).round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16)
        .collect()
}
