//! Sample rates, audio formats, and the arithmetic between bytes and time.

#[cfg(test)]
mod tests;

use std::time::Duration;

/// A sample rate that telephony and realtime speech APIs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SampleRate {
    /// 8 kHz: G.711 and the PSTN.
    Hz8000,
    /// 16 kHz: wideband telephony and many speech models.
    Hz16000,
    /// 24 kHz: OpenAI Realtime PCM16.
    Hz24000,
}

impl SampleRate {
    /// Samples per second.
    #[must_use]
    pub const fn hz(self) -> u32 {
        match self {
            SampleRate::Hz8000 => 8_000,
            SampleRate::Hz16000 => 16_000,
            SampleRate::Hz24000 => 24_000,
        }
    }

    /// Samples per millisecond (8, 16 or 24).
    #[must_use]
    pub const fn samples_per_ms(self) -> usize {
        self.hz() as usize / 1_000
    }

    /// Samples in one 20 ms frame (160, 320 or 480).
    #[must_use]
    pub const fn samples_per_frame(self) -> usize {
        self.samples_per_ms() * FRAME_MS
    }

    /// The rate for `hz`, if it is one of the three.
    #[must_use]
    pub const fn from_hz(hz: u32) -> Option<SampleRate> {
        match hz {
            8_000 => Some(SampleRate::Hz8000),
            16_000 => Some(SampleRate::Hz16000),
            24_000 => Some(SampleRate::Hz24000),
            _ => None,
        }
    }
}

/// The length of a frame, in milliseconds: the RTP and media-stream norm.
pub const FRAME_MS: usize = 20;

/// How audio is laid out in bytes on a wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    /// G.711 µ-law at 8 kHz, one byte per sample.
    Ulaw,
    /// G.711 A-law at 8 kHz, one byte per sample.
    Alaw,
    /// Signed 16-bit little-endian PCM, two bytes per sample.
    Pcm16(SampleRate),
}

impl AudioFormat {
    /// The sample rate (G.711 is always 8 kHz).
    #[must_use]
    pub const fn sample_rate(self) -> SampleRate {
        match self {
            AudioFormat::Ulaw | AudioFormat::Alaw => SampleRate::Hz8000,
            AudioFormat::Pcm16(rate) => rate,
        }
    }

    /// Bytes per sample: 1 for G.711, 2 for PCM16.
    #[must_use]
    pub const fn bytes_per_sample(self) -> usize {
        match self {
            AudioFormat::Ulaw | AudioFormat::Alaw => 1,
            AudioFormat::Pcm16(_) => 2,
        }
    }

    /// Bytes per millisecond: 8 for G.711, 16, 32 or 48 for PCM16 at 8, 16
    /// or 24 kHz.
    #[must_use]
    pub const fn bytes_per_ms(self) -> usize {
        self.sample_rate().samples_per_ms() * self.bytes_per_sample()
    }

    /// Bytes in one 20 ms frame.
    #[must_use]
    pub const fn bytes_per_frame(self) -> usize {
        self.bytes_per_ms() * FRAME_MS
    }

    /// Bytes that play for `ms` milliseconds (saturating, never panicking).
    #[must_use]
    pub const fn bytes_for_ms(self, ms: u64) -> u64 {
        ms.saturating_mul(self.bytes_per_ms() as u64)
    }

    /// Whole milliseconds that `bytes` play for, rounded down (so a
    /// truncation "at the milliseconds played" never claims audio that was
    /// not played).
    #[must_use]
    pub const fn ms_for_bytes(self, bytes: u64) -> u64 {
        bytes / self.bytes_per_ms() as u64
    }

    /// How long `bytes` play, exact to the nanosecond, rounded down. A
    /// trailing odd byte of PCM16 counts as the half sample it is.
    #[must_use]
    pub const fn duration_of(self, bytes: u64) -> Duration {
        let per_ms = self.bytes_per_ms() as u64;
        let whole_ms = bytes / per_ms;
        let rest_nanos = (bytes % per_ms) * 1_000_000 / per_ms;
        Duration::from_millis(whole_ms).saturating_add(Duration::from_nanos(rest_nanos))
    }
}
