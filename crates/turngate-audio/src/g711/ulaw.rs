//! G.711 µ-law (PCMU), as used by North American and Japanese networks and by
//! Twilio Media Streams.
//!
//! Encoding matches `ulaw_compress` and decoding matches `ulaw_expand` of the
//! ITU-T G.191 Software Tool Library (`g711.c`) for every 16-bit input and
//! every code. That reference drops the two low bits of the 16-bit sample and
//! works on the 14-bit value; negative samples use the one's complement
//! (`!x`), so `encode(x) == encode(!x) ^ 0x80` for every negative `x`.
//!
//! The widely copied Sun Microsystems `g711.c` (the revision of December 1994)
//! `linear2ulaw` differs: it negates the 14-bit value instead of complementing
//! it, which makes the magnitude of a negative sample one 14-bit unit larger.
//! The two disagree on exactly 508 inputs, all negative: the four inputs on
//! the zero side of each of the 127 negative decision thresholds (for example
//! −31,612 to −31,609, beside the threshold at −31,613), where Sun picks the
//! code one step further from zero (−31,612 is `0x01` here and `0x00` in
//! Sun's). They agree on every positive input, and `ulaw2linear` agrees with
//! [`decode`] on all 256 codes.
//! The tests check all of this against independent implementations of both.

use super::{map_extend, map_into};
use crate::Error;

/// The code for digital silence (a decoded value of 0).
pub const SILENCE: u8 = 0xFF;

/// Encodes a 16-bit linear sample as a µ-law code.
#[inline]
#[must_use]
pub fn encode(sample: i16) -> u8 {
    #[allow(
        clippy::indexing_slicing,
        reason = "a u16 shifted right by 2 is below 16,384, the table's length"
    )]
    ENCODE[usize::from(sample.cast_unsigned() >> 2)]
}

/// Decodes a µ-law code to a 16-bit linear sample (the middle of the code's
/// quantisation interval, as in the reference).
#[inline]
#[must_use]
pub fn decode(code: u8) -> i16 {
    #[allow(clippy::indexing_slicing, reason = "a u8 is below 256, the table's length")]
    DECODE[usize::from(code)]
}

/// Encodes `samples` into the front of `codes` and returns how many were
/// written (`samples.len()`).
///
/// # Errors
///
/// [`Error::OutputTooShort`] when `codes` is shorter than `samples`; nothing
/// is written then.
pub fn encode_into(samples: &[i16], codes: &mut [u8]) -> Result<usize, Error> {
    map_into(samples, codes, encode)
}

/// Decodes `codes` into the front of `samples` and returns how many were
/// written (`codes.len()`).
///
/// # Errors
///
/// [`Error::OutputTooShort`] when `samples` is shorter than `codes`; nothing
/// is written then.
pub fn decode_into(codes: &[u8], samples: &mut [i16]) -> Result<usize, Error> {
    map_into(codes, samples, decode)
}

/// Appends the codes for `samples` to `codes`; a vector reused across frames
/// allocates only until it has reached the largest frame's size.
pub fn encode_extend(samples: &[i16], codes: &mut Vec<u8>) {
    map_extend(samples, codes, encode);
}

/// Appends the samples for `codes` to `samples`; a vector reused across
/// frames allocates only until it has reached the largest frame's size.
pub fn decode_extend(codes: &[u8], samples: &mut Vec<i16>) {
    map_extend(codes, samples, decode);
}

/// Codes by the sample's top 14 bits, read as an unsigned index (so the
/// upper half of the table holds the negative samples).
static ENCODE: [u8; 1 << 14] = encode_table();

/// Samples by code.
static DECODE: [i16; 256] = decode_table();

#[allow(clippy::indexing_slicing, reason = "the loop runs over the table's own indices")]
const fn encode_table() -> [u8; 1 << 14] {
    let mut table = [0; 1 << 14];
    let mut index = 0;
    while index < table.len() {
        // Sign-extend the 14-bit index back to the value `sample >> 2`.
        table[index] = encode_14bit(((index as i32) << 18) >> 18);
        index += 1;
    }
    table
}

/// The µ-law code of a 14-bit two's complement value.
const fn encode_14bit(value: i32) -> u8 {
    let (magnitude, sign) = if value < 0 { (!value, 0x00) } else { (value, 0x80) };
    // The bias of 33 makes every segment start at a power of two, so the
    // position of the top bit is the segment; 8,191 is the largest magnitude.
    let biased = if magnitude + 33 > 0x1FFF { 0x1FFF } else { magnitude + 33 };
    // `biased` is 33..=8191, so its top bit is bit 5..=12: exponent 0..=7.
    let exponent = 31 - biased.leading_zeros() as i32 - 5;
    let mantissa = (biased >> (exponent + 1)) & 0x0F;
    // The code on the wire is the complement of exponent and mantissa.
    sign | (!((exponent << 4) | mantissa) & 0x7F) as u8
}

#[allow(clippy::indexing_slicing, reason = "the loop runs over the table's own indices")]
const fn decode_table() -> [i16; 256] {
    let mut table = [0; 256];
    let mut code = 0;
    while code < table.len() {
        table[code] = decode_code(code as u8);
        code += 1;
    }
    table
}

/// The 16-bit value of a µ-law code.
const fn decode_code(code: u8) -> i16 {
    let bits = !code;
    let exponent = (bits >> 4) & 0x07;
    let mantissa = (bits & 0x0F) as i32;
    // In 16-bit units the bias is 33 << 2 = 132; the mantissa sits three bits
    // up with a half step (4) below it, and the exponent doubles everything.
    let magnitude = (((mantissa << 3) + 132) << exponent) - 132;
    if code & 0x80 != 0 { magnitude as i16 } else { -magnitude as i16 }
}
