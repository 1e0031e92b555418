//! The crate's one error type.

use std::fmt;

/// Why a conversion did not run.
///
/// Every function that can be handed a buffer of the wrong size returns this
/// instead of panicking or silently converting less than it was given.
/// A function that returns an error has written nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The output slice cannot hold everything the input produces.
    OutputTooShort {
        /// How many elements the output needs.
        needed: usize,
        /// How many elements the output has.
        available: usize,
    },
    /// PCM16 bytes must come in pairs; this many bytes cannot be samples.
    OddByteCount {
        /// The number of bytes that was passed in.
        len: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::OutputTooShort { needed, available } => write!(
                f,
                "output buffer too short: {needed} elements needed, {available} available"
            ),
            Error::OddByteCount { len } => {
                write!(f, "{len} bytes is not a whole number of 16-bit samples")
            }
        }
    }
}

impl std::error::Error for Error {}
