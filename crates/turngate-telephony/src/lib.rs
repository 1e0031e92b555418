//! Telephony transports: one call leg's wire protocol as a sans-IO codec.
//!
//! What it does:
//! - the [`Transport`] trait: frames in → core [`Input`](turngate_core::Input)s
//!   (plus the immediate replies a protocol requires), core
//!   [`TransportCommand`](turngate_core::TransportCommand)s → frames out, with
//!   declared [`TransportCaps`] (formats, how playout is confirmed, clear,
//!   DTMF, a separate playback-ended signal, how to hang up);
//! - one module per provider, each behind its own feature: [`twilio`]
//!   (Media Streams, request signatures, TwiML), [`telnyx`] (media stream,
//!   Call Control webhooks with ed25519 verification), [`audiocodes`]
//!   (VoiceAI Connect Bot API, with paced and estimated playout);
//! - typed [`WireError`]s for every kind of bad input, counted in
//!   [`WireCounters`]; nothing a peer sends can panic.
//!
//! What it deliberately does not do: IO (no sockets, no HTTP, no clock:
//! time is passed in), transcoding (audio stays in the leg's codec; the
//! server converts with `turngate-audio`), routing webhooks to the worker
//! that owns a call (the coordinator's job), or REST calls to providers
//! (a transport says when one is needed, e.g. [`OutFrame::HangUpViaApi`]).

mod transport;

#[cfg(feature = "audiocodes")]
pub mod audiocodes;
#[cfg(feature = "telnyx")]
pub mod telnyx;
#[cfg(feature = "twilio")]
pub mod twilio;

#[cfg(test)]
mod tests;

pub use transport::{
    CallInfo, Decoded, Echo, Frame, HangUpSupport, JsonOut, Limits, MarkLedger, MarkSupport,
    Notice, OutFrame, Playout, ProviderId, ResumeAnswer, SignatureError, Transport, TransportCaps,
    WireCounters, WireError, WireErrorKind, b64_decode, b64_encode_into, bytes_for, check_audio,
    dtmf_digit, push_json_str, swap16,
};
