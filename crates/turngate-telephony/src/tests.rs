//! Crate-wide tests: the transcript replayer the providers share, and the
//! property test that feeds random and mutated input to every decoder.

#[cfg(any(feature = "twilio", feature = "telnyx", feature = "audiocodes"))]
pub(crate) mod replay;

#[cfg(any(feature = "twilio", feature = "telnyx", feature = "audiocodes"))]
mod property;
