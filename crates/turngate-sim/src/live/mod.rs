//! A strict simulator of OpenAI's GPT-Live primary WebSocket, with client
//! or Responses delegation.
//!
//! [`serve`] binds a WebSocket server at `/v1/live/sessions` that holds a
//! client to the API's rules, answers every breach with the real error
//! (shape, code and text where the public record has them) and records it
//! in a shared [`LiveRecord`] that tests query. [`serve_observed`] does the
//! same and reports each session's input audio, the ends of caller
//! utterances and every frame of model speech (which it may tag) to a
//! [`SimObserver`](crate::realtime::SimObserver), for the load generator.
//! The facts come from openai-python 3.57.0 (`openai/types/live/`, `openai/resources/live/`),
//! the GPT-Live guides on developers.openai.com ("Managing GPT-Live
//! sessions", "WebSockets"), and third-party wire captures
//! (Travizm/dsh-openai-live, pipecat-ai/pipecat PR #5688, aplisay/llm-agent
//! PR #306); each rule's source is given where it is enforced.
//!
//! Rules enforced:
//! - **Upgrade**: `GET /v1/live/sessions` only (404 otherwise), with
//!   `Authorization: Bearer <key>` (401), no query string (400) and no
//!   `OpenAI-Beta` header (400). Nothing is sent before `session.start`.
//! - **Startup**: the first event must be `session.start`; its config is
//!   strict (an unknown field anywhere gets `unknown_parameter`,
//!   `Unknown parameter: '<path>'.`); `model` is required and must be
//!   `gpt-live-1` or `gpt-live-1.1` (`model_not_found`); `audio.format` is
//!   PCM16 at 16 or 24 kHz or G.711 at 8 kHz, `rate` included;
//!   `audio.output.voice` is one of the SDK's 23 built-in voices or
//!   `{"id"}` (`fable`, `nova`, `onyx` get `forbidden`); `input` holds at
//!   most 128 developer, user or assistant messages of exactly one text
//!   part (no `system`) and 8,192 tokens; `instructions` at most 16,384
//!   tokens; at most one trigger per transcript event type;
//!   `delegation.responses` needs a `model`, its enums (`reasoning`,
//!   `service_tier`, `text.verbosity`, `tool_choice`) are checked, and its
//!   `function` tools field by field (other tool types are accepted
//!   whole). A refused start never starts: the error is followed by a
//!   close. Commands sent between `session.start` and `session.started`
//!   are refused.
//! - **Commands**: every event is checked against its schema (unknown
//!   fields, missing fields, types, `event_id` at most 512 characters,
//!   `audio` at least one); an unknown type (`session.input_audio.commit`,
//!   `response.cancel`, `conversation.item.truncate`, …) gets an error
//!   listing the supported client events; in client mode `response.create`
//!   and `response.item.create` get `response.item.create requires
//!   Responses delegation.`; PCM input must be whole 16-bit samples;
//!   appends need a `delegation_id` key (null allowed), at most 500 tokens
//!   (`invalid_value`, `Context append text must not exceed 500 tokens.`),
//!   no fixture playing, and a non-null id must name a delegation this session
//!   announced (in a Responses session it must be null: `delegation_id
//!   must be null with Responses delegation.`); `session.update` may not
//!   change the delegation type (`immutable_field_update`) and merges a
//!   sparse Responses config; one fixture at a time, PCM16 24 kHz, at
//!   most 30 s. Every error carries `client_event_id` (top level and in
//!   `error`) when the command had an `event_id`; no command error closes
//!   the session.
//! - **Exactly-once delivery** (accepted by the service, recorded as
//!   violations): a second commentary for one delegation, a second
//!   `function_call_output` for one call, and an append reusing an
//!   `event_id` the session has seen.
//! - **Responses delegation** (see `responses.rs`): a delegation names its
//!   backend response (`target: responses`, `response_id`), whose events
//!   follow as `response.event` envelopes carrying the `delegation_id`,
//!   paced on the timeline: `response.created`, a reasoning item, one or
//!   two function calls of the configured tools (or a message, spoken at
//!   once, without any), `response.completed` with a cleared snapshot. A
//!   `function_call_output` must name a call of this session (`Unknown
//!   call_id: '<id>'.`) and have a string `output`; only that input item is
//!   modelled. `response.create` takes `event_id` alone and is refused
//!   before `response.completed`, while a call lacks its output (`No tool
//!   output found for function call <id>.`) and with nothing new to
//!   continue; a valid one runs a continuation (a message) whose words the
//!   voice then says. Neither command is acknowledged.
//! - **Timeline**: it moves only with input audio (48, 32 or 8 bytes per
//!   millisecond). Appends are acknowledged (`session.*.appended` with
//!   `start_ms`, `end_ms`, `client_event_id`) in send order once the
//!   timeline has moved [`LiveSimConfig::ack_lag`] past their sending; with
//!   input stopped they stay pending, and at close each gets one
//!   `context_injection_incomplete` error before `session.closed`. No input
//!   for [`LiveSimConfig::idle_expiry`], or the session limit, closes the
//!   session with reason `expired`.
//! - **Output**: one continuous track of `session.output_audio.delta`
//!   (no `event_id`, no timing), digital silence except where the model
//!   speaks a voiced tone, with `session.output_transcript.delta` fragments
//!   for its words; caller speech (an energy VAD on the decoded input)
//!   gets `session.input_transcript.delta` fragments.
//! - **Model**: after each caller utterance it answers, or every
//!   [`LiveSimConfig::delegate_every`]th time announces
//!   `session.delegation.created` and, after `acknowledgement_delay_ms` of
//!   timeline, says "One moment." unless a commentary or thinking append
//!   came first (any of them cancels every pending acknowledgement). A
//!   commentary is spoken after its ack; an instruction too, cutting into
//!   speech in progress; thinking never. A caller talking over the model
//!   stops it within [`LiveSimConfig::barge_in`] of timeline, with no event.
//!   A fixture interrupts speech, gates input to silence, and ends with
//!   `fixture.played` once its audio is out and the timeline has passed it.
//! - **No resume**: a dropped socket loses the session (`connection_lost`);
//!   a new connection is a new session with a new id and no delegations.
//!
//! Faults ([`LiveFaults`], off by default, seeded): dropped sockets, late
//! acknowledgements, random `server_error`s, delegations and function
//! calls announced twice (as a client seeing one event on two connections
//! would), and `response.event`s without their `delegation_id` (as the
//! service sends when it cannot correlate one).
//!
//! What it deliberately does not do: Decisions delegation (a start asking
//! for it is refused with `The simulator supports client and Responses
//! delegation only.`, recorded as [`LiveViolationKind::Unsupported`], and
//! `decision.*` events are refused), Responses input items other than
//! `function_call_output` (a user message is refused as unsupported, as is
//! a `response.create` with no delegated response to continue), running
//! built-in or MCP tools, streaming deltas of backend output, trigger
//! evaluation (`decision.event`), sidebands, forks, WebRTC and SIP, `info`
//! events, moderation, context compaction, or real speech and
//! transcription (speech is a tone, transcripts are stock words, an
//! append is "paraphrased" as its first 40 words). Error texts the public
//! record does not show are ours and are marked so where they are made;
//! where a code is not recorded it is `null`, which the guide allows.

mod config;
mod responses;
mod schema;
mod server;
mod session;
mod startup;
mod track;
mod violations;

#[cfg(test)]
mod tests;

pub use config::{LiveFaults, LiveSimConfig, Pacing};
pub use server::{LIVE_PATH, LiveSimServer, serve, serve_at, serve_observed};
pub use violations::{CloseReason, LiveRecord, LiveSessionStats, LiveViolation, LiveViolationKind};
