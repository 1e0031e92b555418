//! Telnyx: the media stream over WebSocket (bidirectional, RTP mode) and
//! the Call Control webhooks, with ed25519 signature verification.
//!
//! Files: `wire.rs` (stream frames and classification), `protocol.rs` (the
//! leg's pure state, with the media reorder window), `webhook.rs` (pure
//! verification and decoding of Call Control webhooks), `tests.rs`. There is
//! no `io.rs`: the server owns the socket, the HTTP endpoint and the REST
//! client.
//!
//! Not implemented: MP3 bidirectional mode (whole files, one a second: no
//! per-chunk marks), the G722, OPUS and AMR-WB codecs, and L16 at 22.05 or
//! 48 kHz (legs in those are refused at `start`), and Call Control commands
//! (REST: the server's job; [`crate::OutFrame::HangUpViaApi`] says when).

mod protocol;
mod webhook;
mod wire;

#[cfg(test)]
mod tests;

pub use protocol::{TelnyxCodec, TelnyxConfig, TelnyxTransport};
pub use webhook::{
    SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookEvent, WebhookSignal, WebhookVerifier,
    decode_webhook,
};

/// The fuzz target's entry point for stream frames (see `transport::fuzz`).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_frames(data: &[u8]) -> [usize; 3] {
    crate::transport::fuzz::run(data, FUZZ_PREAMBLE, |now| {
        Box::new(TelnyxTransport::new(TelnyxConfig::default(), now))
    })
}

/// The fuzz target's entry point for webhooks: the first line is the
/// timestamp header, the second the signature header, the rest the body.
/// Decoding must not panic, and no signature made up by the fuzzer may
/// verify.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_webhook(data: &[u8]) {
    use std::time::{Duration, SystemTime};

    let _ = decode_webhook(data, &crate::transport::Limits::default());
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let timestamp = parts.next().and_then(|p| std::str::from_utf8(p).ok());
    let signature = parts.next().and_then(|p| std::str::from_utf8(p).ok());
    let body = parts.next().unwrap_or_default();
    if let Ok(verifier) = WebhookVerifier::from_bytes(&FUZZ_PUBLIC_KEY) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let verdict = verifier.verify(signature, timestamp, body, now);
        assert!(verdict.is_err(), "a made-up signature verified");
    }
}

/// RFC 8032's first test public key. Its private half is published, but
/// the fuzzer cannot compute a signature over `"{timestamp}|{body}"`, so no
/// input it makes up may verify.
#[cfg(any(test, feature = "fuzzing"))]
const FUZZ_PUBLIC_KEY: [u8; 32] = [
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
];

/// Frames that take a fresh leg past its start (with the ids of the
/// transcripts, whose frames seed the property test).
#[cfg(any(test, feature = "fuzzing"))]
const FUZZ_PREAMBLE: &[&str] = &[
    r#"{"event":"connected","version":"1.0.0"}"#,
    r#"{"event":"start","sequence_number":"1","stream_id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","start":{"user_id":"u1","call_control_id":"v3:u5OAKGEPT3Dx8SZSSDRWEMdNH2OripQhO","call_session_id":"cs1","from":"+15550001","to":"+15550002","tags":[],"client_state":null,"custom_parameters":{"tenant":"t1"},"media_format":{"encoding":"PCMU","sample_rate":8000,"channels":1}}}"#,
];
