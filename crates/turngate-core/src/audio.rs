//! Audio as the core sees it: an opaque payload with a duration.

use std::fmt;
use std::time::Duration;

/// A piece of audio moving through the session.
///
/// The core never looks inside `payload`: the transport and the backend agree
/// on its encoding (raw G.711 bytes, PCM16, or base64 text passed through
/// unchanged when both ends use the same codec). The core only needs the
/// duration, to count what was sent, heard and committed.
#[derive(Clone, PartialEq, Eq)]
pub struct AudioChunk {
    /// The audio bytes in whatever encoding the two ends agreed on.
    pub payload: Vec<u8>,
    /// How long the audio plays.
    pub duration: Duration,
}

impl AudioChunk {
    /// A chunk of `duration` with the given payload.
    pub fn new(payload: Vec<u8>, duration: Duration) -> AudioChunk {
        AudioChunk { payload, duration }
    }
}

impl fmt::Debug for AudioChunk {
    // Payloads are large and meaningless in logs; their size and length are not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AudioChunk")
            .field("bytes", &self.payload.len())
            .field("duration", &self.duration)
            .finish()
    }
}
