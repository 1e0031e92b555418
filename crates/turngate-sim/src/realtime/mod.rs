//! A strict simulator of the OpenAI Realtime GA WebSocket API.
//!
//! [`serve`] binds a WebSocket server that speaks the GA events only and
//! holds clients to the real API's rules, answering every breach with the
//! real error (shape, code and text) and recording it in a shared
//! [`Record`] that tests query:
//! - one active response per conversation: a second default-conversation
//!   `response.create` gets `conversation_already_has_active_response`;
//! - commits need at least 100 ms buffered (`input_audio_buffer_commit_empty`);
//! - truncates must name an assistant audio item, content part 0, and an
//!   offset within the audio the item has (`Audio content of X ms is already
//!   shorter than Y ms`, `Only model output audio messages can be truncated`);
//! - every client event is checked against the GA schema: unknown fields
//!   (`Unknown parameter: '<path>'.`), missing or mistyped fields, values
//!   outside their enums; the beta header or shape gets
//!   `beta_api_shape_disabled` and close code 4000.
//!
//! It paces response audio in real time or as fast as possible, runs an
//! energy VAD on the appended audio when the session asks for server turn
//! detection (honouring `create_response` and `interrupt_response`), makes
//! every Kth response a function call, and injects faults: dropped sockets,
//! delayed `response.created`, random `server_error`s, the session limit.
//!
//! [`serve_observed`] does the same and reports each session's appended
//! audio, commits and response audio to a [`SimObserver`] (the load
//! generator's hooks).
//!
//! [`conformance`] drives any [`RealtimeBackend`](turngate_llm::realtime::RealtimeBackend)
//! with the real session core against it, call after call, with a scripted
//! caller, and checks that every committed turn is answered.
//!
//! What it deliberately does not do: generate speech (audio is silence of
//! the right length), model latency beyond the injected delays, or simulate
//! WebRTC/SIP-only events. Error texts the public record does not show are
//! marked as ours in `docs/protocols/openai-realtime.md`.

mod config;
mod observe;
mod schema;
mod server;
mod session;
mod violations;

pub mod conformance;

#[cfg(test)]
mod tests;

pub use config::{Faults, Pacing, SimConfig};
pub use observe::{SessionObserver, SimObserver};
pub use server::{SESSION_LIMIT_REASON, SimServer, serve, serve_observed};
pub use violations::{Counts, Record, Violation};
