//! G.711 A-law (PCMA), as used by European and most other international
//! networks.
//!
//! Encoding matches `alaw_compress` and decoding matches `alaw_expand` of the
//! ITU-T G.191 Software Tool Library (`g711.c`) for every 16-bit input and
//! every code. That reference drops the four low bits of the 16-bit sample
//! and works on the 12-bit value; negative samples use the one's complement.
//!
//! The widely copied Sun Microsystems `g711.c` (the revision of December 1994)
//! agrees exactly: `linear2alaw` gives the same code for all 65,536 inputs and
//! `alaw2linear` the same value for all 256 codes. The tests check both
//! against independent implementations of each.

use super::{map_extend, map_into};
use crate::Error;

/// The code for the smallest positive value (+8), which A-law uses for
/// silence since it has no code for 0.
pub const SILENCE: u8 = 0xD5;

/// Encodes a 16-bit linear sample as an A-law code.
#[inline]
#[must_use]
pub fn encode(sample: i16) -> u8 {
    #[allow(
        clippy::indexing_slicing,
        reason = "a u16 shifted right by 4 is below 4,096, the table's length"
    )]
    ENCODE[usize::from(sample.cast_unsigned() >> 4)]
}

/// Decodes an A-law code to a 16-bit linear sample (the middle of the code's
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

/// Codes by the sample's top 12 bits, read as an unsigned index (so the
/// upper half of the table holds the negative samples).
static ENCODE: [u8; 1 << 12] = encode_table();

/// Samples by code.
static DECODE: [i16; 256] = decode_table();

#[allow(clippy::indexing_slicing, reason = "the loop runs over the table's own indices")]
const fn encode_table() -> [u8; 1 << 12] {
    let mut table = [0; 1 << 12];
    let mut index = 0;
    while index < table.len() {
        // Sign-extend the 12-bit index back to the value `sample >> 4`.
        table[index] = encode_12bit(((index as i32) << 20) >> 20);
        index += 1;
    }
    table
}

/// The A-law code of a 12-bit two's complement value.
const fn encode_12bit(value: i32) -> u8 {
    let (magnitude, sign) = if value < 0 { (!value, 0x00) } else { (value, 0x80) };
    // Segments 0 and 1 share one step size and have no implied leading one,
    // so below 32 the magnitude is the code. Above, the top bit (5..=10)
    // gives exponent 2..=7 and the four bits under it are the mantissa.
    let code = if magnitude < 32 {
        magnitude
    } else {
        let exponent = 31 - magnitude.leading_zeros() as i32 - 3;
        (exponent << 4) | ((magnitude >> (exponent - 1)) & 0x0F)
    };
    // Even bits are inverted on the wire so that silence is not a run of
    // zeros (G.711's alternate digit inversion).
    (sign | code as u8) ^ 0x55
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

/// The 16-bit value of an A-law code.
const fn decode_code(code: u8) -> i16 {
    let bits = code ^ 0x55;
    let exponent = (bits >> 4) & 0x07;
    let mantissa = (bits & 0x0F) as i32;
    // The value is the middle of the interval: mantissa four bits up plus a
    // half step of 8; above segment 0 add the implied leading one (0x100)
    // and double per segment.
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if bits & 0x80 != 0 { magnitude as i16 } else { -magnitude as i16 }
}
