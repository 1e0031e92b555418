//! Twilio Media Streams, bidirectional (`<Connect><Stream>`), plus the
//! `X-Twilio-Signature` check and the TwiML that starts a stream.
//!
//! Files: `wire.rs` (serde types and classification), `protocol.rs` (the
//! leg's pure state), `signature.rs` and `twiml.rs` (pure functions for the
//! HTTP side), `tests.rs`. There is no `io.rs`: the server owns the socket.
//!
//! Not implemented: `<Start><Stream>` (unidirectional forks: nothing can be
//! played back on them), ConversationRelay, and the Webhooks-Rule
//! HMAC-SHA256 signature (`X-Twilio-Webhooks-Signature-Settings`).

mod protocol;
mod signature;
mod twiml;
mod wire;

#[cfg(test)]
mod tests;

pub use protocol::{TwilioConfig, TwilioTransport};
pub use signature::RequestValidator;
pub use twiml::{ConnectStream, TwimlError};

/// The fuzz target's entry point: `data` as a sequence of frames and
/// commands for a fresh leg (see `transport::fuzz`).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_frames(data: &[u8]) -> [usize; 3] {
    crate::transport::fuzz::run(data, FUZZ_PREAMBLE, |now| {
        Box::new(TwilioTransport::new(TwilioConfig::default(), now))
    })
}

/// Frames that take a fresh leg past its start, so fuzzing reaches media
/// (with the ids of the transcripts, whose frames seed the property test).
#[cfg(any(test, feature = "fuzzing"))]
const FUZZ_PREAMBLE: &[&str] = &[
    r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
    r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ00000000000000000000000000000001","start":{"streamSid":"MZ00000000000000000000000000000001","accountSid":"AC00000000000000000000000000000001","callSid":"CA00000000000000000000000000000001","tracks":["inbound"],"customParameters":{"tenant":"t1"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#,
];
