//! Moving audio between the call leg's codec and the model's.
//!
//! When both ends use the same format (Twilio µ-law ↔ Realtime
//! `audio/pcmu`), bytes pass through untouched. Otherwise each direction has
//! its own converter that decodes to PCM16, resamples with state kept across
//! chunks, and encodes, reusing its buffers.

use std::time::Duration;

use turngate_audio::{AudioFormat, Resampler, alaw, pcm16, ulaw};
use turngate_core::AudioChunk;

/// One direction's conversion.
#[derive(Debug)]
pub(crate) struct Converter {
    from: AudioFormat,
    to: AudioFormat,
    resampler: Option<Resampler>,
    samples: Vec<i16>,
    resampled: Vec<i16>,
    carry: Option<u8>,
}

impl Converter {
    pub(crate) fn new(from: AudioFormat, to: AudioFormat) -> Converter {
        let resampler = (from.sample_rate() != to.sample_rate())
            .then(|| Resampler::new(from.sample_rate(), to.sample_rate()));
        Converter { from, to, resampler, samples: Vec::new(), resampled: Vec::new(), carry: None }
    }

    /// True when bytes pass through unchanged.
    pub(crate) fn is_identity(&self) -> bool {
        self.from == self.to
    }

    /// Converts one chunk; its duration is recomputed from what comes out.
    pub(crate) fn convert(&mut self, chunk: AudioChunk) -> AudioChunk {
        if self.is_identity() {
            return chunk;
        }
        self.samples.clear();
        match self.from {
            AudioFormat::Ulaw => ulaw::decode_extend(&chunk.payload, &mut self.samples),
            AudioFormat::Alaw => alaw::decode_extend(&chunk.payload, &mut self.samples),
            AudioFormat::Pcm16(_) => self.decode_pcm(&chunk.payload),
        }
        let samples = match &mut self.resampler {
            Some(resampler) => {
                self.resampled.clear();
                resampler.process_extend(&self.samples, &mut self.resampled);
                &self.resampled
            }
            None => &self.samples,
        };
        let mut payload = Vec::with_capacity(samples.len() * self.to.bytes_per_sample());
        match self.to {
            AudioFormat::Ulaw => ulaw::encode_extend(samples, &mut payload),
            AudioFormat::Alaw => alaw::encode_extend(samples, &mut payload),
            AudioFormat::Pcm16(_) => pcm16::extend_le_bytes(samples, &mut payload),
        }
        let duration = self.to.duration_of(payload.len() as u64);
        AudioChunk::new(payload, duration.max(Duration::from_micros(1)))
    }

    /// Little-endian PCM16; an odd trailing byte waits for the next chunk.
    fn decode_pcm(&mut self, bytes: &[u8]) {
        let mut joined;
        let bytes = match self.carry.take() {
            Some(first) => {
                joined = Vec::with_capacity(bytes.len() + 1);
                joined.push(first);
                joined.extend_from_slice(bytes);
                joined.as_slice()
            }
            None => bytes,
        };
        let mut pairs = bytes.chunks_exact(2);
        self.samples.extend(pairs.by_ref().map(|pair| match pair {
            [low, high] => i16::from_le_bytes([*low, *high]),
            _ => 0,
        }));
        self.carry = pairs.remainder().first().copied();
    }
}

#[cfg(test)]
mod tests;
