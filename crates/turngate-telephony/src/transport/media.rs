//! Media payloads: base64 in and out, and the size checks audio must pass.

use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use turngate_audio::AudioFormat;
use turngate_core::AudioChunk;

use super::error::WireError;

/// Standard base64; padding is written, and accepted present or absent.
pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a base64 payload into a new buffer sized for it.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, WireError> {
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3 + 3);
    B64.decode_vec(text.as_bytes(), &mut bytes).map_err(|_| WireError::BadBase64)?;
    Ok(bytes)
}

/// Appends the base64 of `bytes` to `out`.
pub fn b64_encode_into(bytes: &[u8], out: &mut String) {
    B64.encode_string(bytes, out);
}

/// Checks that `bytes` can be audio in `format` and wraps them with their
/// duration: not empty, and a whole number of samples.
pub fn check_audio(bytes: Vec<u8>, format: AudioFormat) -> Result<AudioChunk, WireError> {
    if bytes.is_empty() {
        return Err(WireError::WrongSize { len: 0, reason: "empty media payload" });
    }
    if !bytes.len().is_multiple_of(format.bytes_per_sample()) {
        return Err(WireError::WrongSize {
            len: bytes.len(),
            reason: "not a whole number of 16-bit samples",
        });
    }
    let duration = format.duration_of(bytes.len() as u64);
    Ok(AudioChunk::new(bytes, duration))
}

/// Swaps the bytes of each 16-bit sample in place (big- ↔ little-endian).
pub fn swap16(bytes: &mut [u8]) {
    for pair in bytes.chunks_exact_mut(2) {
        pair.swap(0, 1);
    }
}

/// The bytes that play for `duration` in `format`, whole samples only.
pub fn bytes_for(format: AudioFormat, duration: Duration) -> usize {
    let per_ms = format.bytes_per_ms() as u128;
    let bytes = duration.as_micros() * per_ms / 1000;
    let sample = format.bytes_per_sample() as u128;
    usize::try_from(bytes - bytes % sample).unwrap_or(usize::MAX)
}
