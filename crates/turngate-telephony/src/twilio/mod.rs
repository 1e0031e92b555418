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

mod form;
mod protocol;
mod signature;
mod twiml;
mod wire;

#[cfg(test)]
mod tests;

pub use form::parse_form;
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

/// The fuzz target's entry point for webhooks: the first line is the URL,
/// the second the `X-Twilio-Signature` header, the rest the form body.
/// Parsing must not panic, and a signature verifies only when it is the
/// one computed over that URL and those parameters (the fuzzer does not
/// know the token, so it never should).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_webhook(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let url = parts.next().unwrap_or_default();
    let signature = parts.next();
    let params = parse_form(parts.next().unwrap_or_default());
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let validator = RequestValidator::new("fuzz-auth-token");
    if validator.validate(url, &pairs, signature).is_ok() {
        assert_eq!(signature.map(str::trim), Some(validator.sign(url, &pairs).as_str()));
    }
    if validator.validate_upgrade(url, signature).is_ok() {
        assert!(signature.is_some(), "an upgrade verified without a signature");
    }
}

/// Frames that take a fresh leg past its start, so fuzzing reaches media
/// (with the ids of the transcripts, whose frames seed the property test).
#[cfg(any(test, feature = "fuzzing"))]
const FUZZ_PREAMBLE: &[&str] = &[
    r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
    r#"{"event":"start","sequenceNumber":"1","streamSid":"MZ00000000000000000000000000000001","start":{"streamSid":"MZ00000000000000000000000000000001","accountSid":"AC00000000000000000000000000000001","callSid":"CA00000000000000000000000000000001","tracks":["inbound"],"customParameters":{"tenant":"t1"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#,
];
