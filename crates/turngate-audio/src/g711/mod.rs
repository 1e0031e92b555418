//! ITU-T G.711 companding, bit-exact with the ITU-T G.191 reference.
//!
//! Both laws are table lookups: the tables are computed at compile time by
//! `const fn`s, so there is no runtime initialisation, no lock and no unsafe.
//! The encode tables are indexed by the high bits of the sample only (14 for
//! µ-law, 12 for A-law), because the reference discards the low bits before
//! it does anything else; that keeps them at 16 KiB and 4 KiB, inside L1.

pub mod alaw;
pub mod ulaw;

#[cfg(test)]
mod tests;

use crate::Error;

/// Applies `convert` to every element of `input`, writing to the front of
/// `output`; writes nothing when `output` is too short.
fn map_into<A: Copy, B>(
    input: &[A],
    output: &mut [B],
    convert: impl Fn(A) -> B,
) -> Result<usize, Error> {
    let available = output.len();
    let output = output
        .get_mut(..input.len())
        .ok_or(Error::OutputTooShort { needed: input.len(), available })?;
    for (out, &value) in output.iter_mut().zip(input) {
        *out = convert(value);
    }
    Ok(input.len())
}

/// Appends `convert` of every element of `input` to `output`, reserving once.
fn map_extend<A: Copy, B>(input: &[A], output: &mut Vec<B>, convert: impl Fn(A) -> B) {
    output.reserve(input.len());
    output.extend(input.iter().map(|&value| convert(value)));
}
