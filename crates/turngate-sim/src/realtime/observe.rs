//! Hooks into a running simulator, for the load generator: what each
//! session received and what it is about to send, at the moment it happens.
//!
//! A [`SimObserver`] given to [`serve_observed`](super::serve_observed)
//! opens one [`SessionObserver`] per WebSocket session. Its methods run on
//! the session's task, in order with the session's own work, so they need
//! no locking of their own; keep them short (a clock read, a counter, a
//! table write). They see audio bytes, never JSON, and cannot change what
//! the simulator enforces: only the content of the response audio, which
//! the simulator fills with silence anyway.

use std::fmt;

/// Opens one [`SessionObserver`] per session a simulator accepts.
pub trait SimObserver: fmt::Debug + Send + Sync {
    /// A WebSocket session was accepted.
    fn session(&self) -> Box<dyn SessionObserver>;
}

/// What one simulated session tells its observer. Every method has a
/// default that does nothing.
pub trait SessionObserver: fmt::Debug + Send {
    /// `input_audio_buffer.append` delivered these audio bytes (decoded
    /// from base64, in the session's input format), after every check
    /// passed.
    fn appended(&mut self, audio: &[u8]) {
        let _ = audio;
    }

    /// The input buffer was committed as a user turn (by the client or by
    /// the server's turn detection); `input_audio_buffer.committed` is
    /// about to go out.
    fn committed(&mut self) {
        let _ = ();
    }

    /// A chunk of response audio (raw bytes in the session's output
    /// format) is about to go out as `response.output_audio.delta`; the
    /// observer may overwrite its bytes (to tag it). `first` is true for
    /// the response's first chunk.
    fn audio_chunk(&mut self, response_id: &str, first: bool, audio: &mut [u8]) {
        let _ = (response_id, first, audio);
    }

    /// A response ended with `status` (`completed`, `cancelled`,
    /// `incomplete` or `failed`); `response.done` is about to go out.
    fn response_done(&mut self, response_id: &str, status: &str) {
        let _ = (response_id, status);
    }
}
