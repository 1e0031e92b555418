//! Signed 16-bit little-endian PCM bytes to samples and back.
//!
//! Wire formats (OpenAI Realtime `pcm16`, WAV data, AudioCodes raw PCM) carry
//! PCM16 as little-endian byte pairs. These functions never see half a
//! sample: an odd byte count is an [`Error::OddByteCount`]. To accept
//! arbitrary chunks from a socket, put them through a
//! [`Framer`](crate::Framer) first, which carries the odd byte over.

#[cfg(test)]
mod tests;

use crate::Error;

/// Reads the little-endian samples in `bytes` into the front of `samples`
/// and returns how many were written (`bytes.len() / 2`).
///
/// # Errors
///
/// [`Error::OddByteCount`] when `bytes` has an odd length, and
/// [`Error::OutputTooShort`] when `samples` cannot hold them; nothing is
/// written then.
pub fn from_le_bytes(bytes: &[u8], samples: &mut [i16]) -> Result<usize, Error> {
    if !bytes.len().is_multiple_of(2) {
        return Err(Error::OddByteCount { len: bytes.len() });
    }
    let count = bytes.len() / 2;
    let available = samples.len();
    let samples =
        samples.get_mut(..count).ok_or(Error::OutputTooShort { needed: count, available })?;
    for (sample, pair) in samples.iter_mut().zip(bytes.chunks_exact(2)) {
        if let [low, high] = *pair {
            *sample = i16::from_le_bytes([low, high]);
        }
    }
    Ok(count)
}

/// Writes `samples` as little-endian bytes into the front of `bytes` and
/// returns how many bytes were written (`2 * samples.len()`).
///
/// # Errors
///
/// [`Error::OutputTooShort`] when `bytes` is shorter than twice `samples`;
/// nothing is written then.
pub fn to_le_bytes(samples: &[i16], bytes: &mut [u8]) -> Result<usize, Error> {
    let needed = samples.len().saturating_mul(2);
    let available = bytes.len();
    let bytes = bytes.get_mut(..needed).ok_or(Error::OutputTooShort { needed, available })?;
    for (pair, sample) in bytes.chunks_exact_mut(2).zip(samples) {
        pair.copy_from_slice(&sample.to_le_bytes());
    }
    Ok(needed)
}

/// Appends the little-endian bytes of `samples` to `bytes`.
pub fn extend_le_bytes(samples: &[i16], bytes: &mut Vec<u8>) {
    bytes.reserve(samples.len().saturating_mul(2));
    bytes.extend(samples.iter().flat_map(|sample| sample.to_le_bytes()));
}
