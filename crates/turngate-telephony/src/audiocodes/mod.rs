//! AudioCodes VoiceAI Connect, Bot API in streaming mode (`ac-api`
//! provider with `directSTT` and `directTTS`): one WebSocket per
//! conversation, JSON messages, base64 audio.
//!
//! Files: `wire.rs` (messages and classification), `protocol.rs` (the
//! conversation's pure state: handshake, user stream, one paced play stream,
//! estimated playout), `tests.rs`. There is no `io.rs`: the server owns the
//! socket (and checks the `Authorization: Bearer` token on the upgrade).
//!
//! Not implemented: `wav/…` media formats, text `message` activities
//! (VoiceAI Connect's own TTS, `expectAudioMessages: false`, is refused),
//! outbound activities other than `hangup` (`transfer`, `playUrl`,
//! `sendDtmf`, …), `userStream.speech.hypothesis`, and agent-assist
//! `participant`s.

mod protocol;
mod wire;

#[cfg(test)]
mod tests;

pub use protocol::{AudioCodesConfig, AudioCodesTransport};
pub use wire::AcFormat;

/// The fuzz target's entry point (see `transport::fuzz`).
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn fuzz_frames(data: &[u8]) -> [usize; 3] {
    crate::transport::fuzz::run(data, FUZZ_PREAMBLE, |now| {
        Box::new(AudioCodesTransport::new(AudioCodesConfig::default(), now))
    })
}

/// Messages that take a fresh conversation past its handshake (with the
/// ids of the transcripts, whose messages seed the property test).
#[cfg(any(test, feature = "fuzzing"))]
const FUZZ_PREAMBLE: &[&str] = &[
    r#"{"type":"session.initiate","conversationId":"4a8b7c10-9d2e-4f3a-8b5c-6d7e8f9a0b1c","botName":"bot","caller":"+15550001","expectAudioMessages":true,"supportedMediaFormats":["raw/lpcm16","raw/mulaw"]}"#,
    r#"{"type":"userStream.start","conversationId":"4a8b7c10-9d2e-4f3a-8b5c-6d7e8f9a0b1c"}"#,
];
