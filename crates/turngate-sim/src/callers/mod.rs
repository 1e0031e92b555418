//! Simulated callers: the carrier side of each telephony protocol plus a
//! scripted human, calling a bot over WebSocket and reporting what the
//! caller heard and every carrier rule the bot broke.
//!
//! [`run`] places one call: it connects to the bot as Twilio Media Streams,
//! Telnyx media streaming or AudioCodes VoiceAI Connect would, streams the
//! caller's audio every 20 ms (speech, silence, key presses as the
//! [`Step`]s of the script say), plays the bot's audio in real time (marks
//! are echoed when the audio before them has played; a clear drops the
//! queue and echoes pending marks at once) and returns a [`CallReport`]:
//! the timeline, setup time, turn latencies, agent audio heard, who hung
//! up, and `violations`, which a test should require to be empty.
//!
//! The callers are independent implementations of the carriers, written
//! from the carriers' public documentation (Twilio Media Streams, Telnyx
//! media streaming, the AudioCodes Bot API; `docs/protocols/` links each
//! page), and at least as strict as they are: unknown events, unknown or
//! missing fields, the wrong stream id, binary frames, file headers in
//! audio, messages out of order and unoffered formats are all violations,
//! worded with the carrier's own error codes where it has them.
//! [`TelnyxWebhook`] builds and signs Telnyx Call Control webhooks for the
//! same call.
//!
//! What they deliberately do not do: TLS (`ws://` only), real speech (the
//! voice is a tone at a speech level; see [`SPEECH_HZ`]), speech
//! recognition of the agent's audio (only its timing counts), Twilio's
//! REST API or the webhook side of any carrier, AudioCodes
//! `session.resume`, or any retry: a call that cannot connect is an error,
//! and a call that goes wrong is a report.
//!
//! Each call is one task; its audio frames are computed once per process
//! and shared, its socket reads with a small buffer, and it allocates per
//! message only the text it sends.

mod audiocodes;
mod call;
mod config;
mod ear;
mod error;
mod human;
mod ids;
mod io;
mod report;
mod telnyx;
mod twilio;
mod voice;
mod webhook;

#[cfg(test)]
mod tests;

pub use config::{
    AudioCodesOptions, CallObserver, CallerConfig, Protocol, STAMP_BYTES, Step, TelnyxOptions,
    parse_script,
};
pub use error::{CallerError, ErrorKind};
pub use ids::{audiocodes_conversation_id, telnyx_call_control_id, twilio_call_sid};
pub use io::run;
pub use report::{CallReport, CallerEvent, Party};
pub use voice::{HOLD_ON_HZ, SPEECH_DBFS, SPEECH_HZ};
pub use webhook::{
    HangupCause, HangupSource, PlaybackStatus, SignedWebhook, TELNYX_SIGNATURE_HEADER,
    TELNYX_TIMESTAMP_HEADER, TelnyxEvent, TelnyxWebhook, sign_telnyx,
};
