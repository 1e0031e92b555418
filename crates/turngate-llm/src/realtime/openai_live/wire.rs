//! The GPT-Live wire format: the client events we send and the server
//! events we read, as the openai-python SDK's Live types (3.57.0) define
//! them.
//!
//! Client events are serde types serialized exactly as sent: GPT-Live
//! rejects unknown fields in `session.start` (`unknown_parameter`), so
//! nothing optional is sent as `null` unless the schema requires the key
//! (`delegation_id` on appends must be present and may be null). Server
//! events are read in one pass into a flat, borrowed superset of the fields
//! we use ([`RawEvent`]) and then [`classify`]d: a known type with the
//! fields it needs, a type we do not know (counted, ignored: the API adds
//! events), or a corrupt frame.
//!
//! Nothing here does IO or keeps state.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The most tokens one context append may carry; longer ones are refused
/// with `invalid_value` ("Context append text must not exceed 500 tokens.").
pub const APPEND_MAX_TOKENS: usize = 500;

/// The longest `event_id` any client event may carry.
pub const EVENT_ID_MAX_CHARS: usize = 512;

// ---- Client events ---------------------------------------------------------

/// A client event, serialized with its `type`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum ClientEvent<'a> {
    /// The first message on the socket; nothing happens before it.
    #[serde(rename = "session.start")]
    SessionStart {
        /// Correlates the `session.started` (or the `error`).
        event_id: &'a str,
        /// The startup configuration.
        session: &'a SessionConfig<'a>,
    },
    /// Caller audio in the session's format; never acknowledged.
    #[serde(rename = "session.input_audio.append")]
    InputAudioAppend {
        /// Base64 of the raw audio (no container header).
        audio: &'a str,
    },
    /// Trusted instructions (greetings, check-ins, disclosures).
    #[serde(rename = "session.instructions.append")]
    InstructionsAppend(Append<'a>),
    /// Silent facts or progress; asks for no speech.
    #[serde(rename = "session.thinking.append")]
    ThinkingAppend(Append<'a>),
    /// Content the model should say (it may paraphrase).
    #[serde(rename = "session.commentary.append")]
    CommentaryAppend(Append<'a>),
    /// In Responses delegation: an item for the backend model.
    #[serde(rename = "response.item.create")]
    ResponseItemCreate {
        /// Correlates an `error`.
        event_id: &'a str,
        /// The item.
        item: ResponseItem<'a>,
    },
    /// In Responses delegation: continue the backend model.
    #[serde(rename = "response.create")]
    ResponseCreate {
        /// Correlates an `error`.
        event_id: &'a str,
    },
    /// Starts finalisation; `session.closed` ends it.
    #[serde(rename = "session.close")]
    SessionClose {
        /// Correlates the `session.closed`.
        event_id: &'a str,
    },
}

/// The shape the three context appends share. `delegation_id` is always
/// sent: `null` for session-wide context, or the id of a client delegation
/// this session announced.
#[derive(Debug, Serialize)]
pub struct Append<'a> {
    /// Unique across workers, so that the ack (`client_event_id`) and an
    /// error name exactly this append.
    pub event_id: &'a str,
    /// At most [`APPEND_MAX_TOKENS`] tokens of plain text.
    pub content: &'a str,
    /// The client delegation the content belongs to, if any.
    pub delegation_id: Option<&'a str>,
}

/// An item of `response.item.create`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum ResponseItem<'a> {
    /// The one output of a backend function call.
    #[serde(rename = "function_call_output")]
    FunctionCallOutput {
        /// The call answered.
        call_id: &'a str,
        /// The output, a string.
        output: &'a str,
    },
}

/// `session` of `session.start`.
#[derive(Debug, Serialize)]
pub struct SessionConfig<'a> {
    /// Required; cannot change during the session.
    pub model: &'a str,
    /// At most 16,384 tokens; cannot change later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<&'a str>,
    /// The audio format (one for both directions) and the voice.
    pub audio: AudioConfig<'a>,
    /// How delegated work comes back; omitted means client delegation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegation: Option<Delegation<'a>>,
    /// Text-only startup history (at most [`INPUT_MAX_ITEMS`] messages): how
    /// a session that replaces a lost one learns the conversation so far.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub input: Vec<InitialItem<'a>>,
}

/// The most startup history messages `session.start` takes.
pub const INPUT_MAX_ITEMS: usize = 128;

/// The most rendered tokens of startup history the API keeps by default.
pub const INPUT_MAX_TOKENS: usize = 8192;

/// One message of startup history: the SDK's `InitialItem`, a role and one
/// text part (`input_text` for the caller, `output_text` for the model).
/// Nothing else is sent: the schema is strict, and no source names a
/// further field as required.
#[derive(Debug, Serialize)]
pub struct InitialItem<'a> {
    role: &'static str,
    content: [TextPart<'a>; 1],
}

#[derive(Debug, Serialize)]
struct TextPart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

impl<'a> InitialItem<'a> {
    /// Something the caller said (`input_text`).
    #[must_use]
    pub fn user(text: &'a str) -> InitialItem<'a> {
        InitialItem { role: "user", content: [TextPart { kind: "input_text", text }] }
    }

    /// Something the model said (`output_text`).
    #[must_use]
    pub fn assistant(text: &'a str) -> InitialItem<'a> {
        InitialItem { role: "assistant", content: [TextPart { kind: "output_text", text }] }
    }
}

/// `session.audio`.
#[derive(Debug, Serialize)]
pub struct AudioConfig<'a> {
    /// The format of input and output.
    pub format: AudioFormat,
    /// The voice, when not the default (`marin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<AudioOutput<'a>>,
}

/// `session.audio.output`.
#[derive(Debug, Serialize)]
pub struct AudioOutput<'a> {
    /// A built-in voice name, or a custom voice by id.
    pub voice: Voice<'a>,
}

/// A voice: `"marin"`, or `{"id": "<custom voice id>"}`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Voice<'a> {
    /// A built-in voice.
    BuiltIn(&'a str),
    /// A custom voice.
    Custom {
        /// Its id.
        id: &'a str,
    },
}

/// The session's audio format. The G.711 formats let telephony audio pass
/// through untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum AudioFormat {
    /// 16-bit little-endian PCM at 16 or 24 kHz.
    #[serde(rename = "audio/pcm")]
    Pcm {
        /// 16000 or 24000.
        rate: u32,
    },
    /// μ-law at 8 kHz.
    #[serde(rename = "audio/pcmu")]
    Pcmu {
        /// Always 8000.
        rate: u32,
    },
    /// A-law at 8 kHz.
    #[serde(rename = "audio/pcma")]
    Pcma {
        /// Always 8000.
        rate: u32,
    },
}

/// `session.delegation`; the type cannot change after startup.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Delegation<'a> {
    /// The application does delegated work and appends the results.
    #[serde(rename = "client")]
    Client {
        /// How long the server waits before asking the model for an
        /// automatic acknowledgement ("one moment"); default 0.
        #[serde(skip_serializing_if = "Option::is_none")]
        acknowledgement_delay_ms: Option<u32>,
    },
    /// A backend Responses model does delegated work; the application only
    /// runs the backend's function calls (`ResponsesDelegationConfig`).
    #[serde(rename = "responses")]
    Responses {
        /// As for client delegation; default 0.
        #[serde(skip_serializing_if = "Option::is_none")]
        acknowledgement_delay_ms: Option<u32>,
        /// The backend model and its tools.
        responses: ResponsesConfig<'a>,
    },
}

/// `session.delegation.responses`: the backend model (required) and what
/// it may call. Only the fields turngate sets are modelled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponsesConfig<'a> {
    /// Required.
    pub model: &'a str,
    /// The backend prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<&'a str>,
    /// The application's functions.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub tools: Vec<FunctionTool<'a>>,
}

/// A `function` tool of the backend model.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "function")]
pub struct FunctionTool<'a> {
    /// The function's name, as its calls will carry it.
    pub name: &'a str,
    /// What it does, for the backend model.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub description: &'a str,
    /// Its parameters, a JSON Schema object.
    pub parameters: &'a serde_json::Value,
}

/// Serializes a client event. Our types cannot fail to serialize (no maps
/// with non-string keys, no floats); should one ever fail, the event is
/// sent as empty text, which the server refuses with an error we log.
#[must_use]
pub fn to_text(event: &ClientEvent<'_>) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

// ---- Server events ---------------------------------------------------------

/// The fields of any server event that we read, borrowed from the frame.
#[derive(Debug, Deserialize)]
pub struct RawEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    client_event_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delta: Option<Cow<'a, str>>,
    #[serde(default)]
    start_ms: Option<u64>,
    #[serde(default)]
    end_ms: Option<u64>,
    #[serde(default)]
    offset_ms: Option<u64>,
    #[serde(default, borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delegation_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    session: Option<RawSession<'a>>,
    #[serde(default, borrow)]
    delegation: Option<RawDelegation<'a>>,
    #[serde(default, borrow)]
    error: Option<RawError<'a>>,
    #[serde(default, borrow)]
    event: Option<RawInner<'a>>,
}

/// The session resource of `session.started` / `session.closed`.
#[derive(Debug, Default, Deserialize)]
struct RawSession<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default)]
    expires_at: Option<u64>,
}

/// `delegation` of `session.delegation.created`.
#[derive(Debug, Default, Deserialize)]
struct RawDelegation<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    target: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    response_id: Option<Cow<'a, str>>,
}

/// `error` of an `error` event.
#[derive(Debug, Default, Deserialize)]
struct RawError<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    param: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    client_event_id: Option<Cow<'a, str>>,
}

/// The Responses streaming event inside `response.event`.
#[derive(Debug, Default, Deserialize)]
struct RawInner<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    item: Option<RawItem<'a>>,
    #[serde(default, borrow)]
    response: Option<RawResponse<'a>>,
}

/// The response snapshot of a Responses lifecycle event.
#[derive(Debug, Default, Deserialize)]
struct RawResponse<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
}

/// An output item of the backend model.
#[derive(Debug, Default, Deserialize)]
struct RawItem<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// Which context append an `*.appended` acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendKind {
    /// `session.instructions.append`.
    Instructions,
    /// `session.thinking.append`.
    Thinking,
    /// `session.commentary.append`.
    Commentary,
}

/// Who does the work of a delegation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The application (client delegation).
    Client,
    /// The backend Responses model.
    Responses,
    /// The decisions model.
    Decisions,
}

/// A server event we act on, with the fields it needs.
#[derive(Debug, PartialEq)]
pub enum ServerEvent<'a> {
    /// The session is live: its id (`live_…`) and when it expires (Unix s).
    SessionStarted {
        /// The `event_id` of our `session.start`.
        client_event_id: Option<Cow<'a, str>>,
        /// The session id, kept exactly as received.
        session_id: Cow<'a, str>,
        /// The authoritative end of the session.
        expires_at: u64,
    },
    /// Output audio in the session format: one continuous track, silence
    /// included, with no timing on the primary socket.
    OutputAudio {
        /// Base64 audio.
        delta: Cow<'a, str>,
    },
    /// A fragment of what the caller said; joined exactly as received.
    InputTranscript {
        /// The fragment, leading space included.
        delta: Cow<'a, str>,
        /// Session-timeline milliseconds (inclusive).
        start_ms: u64,
        /// Session-timeline milliseconds (exclusive).
        end_ms: u64,
    },
    /// A fragment of what the model said.
    OutputTranscript {
        /// The fragment, leading space included.
        delta: Cow<'a, str>,
        /// Session-timeline milliseconds (inclusive).
        start_ms: u64,
        /// Session-timeline milliseconds (exclusive).
        end_ms: u64,
    },
    /// An append was placed on the timeline (not spoken, not heard).
    Appended {
        /// Which append.
        kind: AppendKind,
        /// The append's `event_id`.
        client_event_id: Option<Cow<'a, str>>,
    },
    /// The model delegated work; no task text comes with it.
    DelegationCreated {
        /// The delegation's id, for appends and for the exactly-once claim.
        delegation_id: Cow<'a, str>,
        /// Who does the work.
        target: Target,
        /// Where on the timeline the model delegated.
        offset_ms: u64,
        /// The backend response doing it (Responses delegation only).
        response_id: Option<Cow<'a, str>>,
    },
    /// A backend function call finished (Responses delegation): run it
    /// once, answer it once.
    FunctionCall {
        /// The delegation it belongs to, when the server could correlate it.
        delegation_id: Option<Cow<'a, str>>,
        /// The call.
        call_id: Cow<'a, str>,
        /// The function.
        name: Cow<'a, str>,
        /// JSON text.
        arguments: Cow<'a, str>,
    },
    /// A backend response started (Responses delegation).
    BackendResponseStarted {
        /// The response's id.
        response_id: Cow<'a, str>,
    },
    /// A backend response finished (Responses delegation).
    BackendResponseDone {
        /// The delegation it belongs to, when known.
        delegation_id: Option<Cow<'a, str>>,
        /// The response's id, when the snapshot carries one.
        response_id: Option<Cow<'a, str>>,
    },
    /// A command failed (the session goes on), or the session could not
    /// start (no `session.started` will come).
    Error {
        /// `invalid_request_error`, …
        kind: Option<Cow<'a, str>>,
        /// `invalid_value`, `unknown_parameter`, `model_not_found`, … (may be null).
        code: Option<Cow<'a, str>>,
        /// The text.
        message: Cow<'a, str>,
        /// The parameter at fault.
        param: Option<Cow<'a, str>>,
        /// The failing command's `event_id`, when it had one.
        client_event_id: Option<Cow<'a, str>>,
    },
    /// The session is over; only this event confirms it.
    SessionClosed {
        /// `close_requested`, `expired`, `content`, `remote_hangup`,
        /// `connection_lost`.
        reason: Cow<'a, str>,
    },
    /// A known event that carries nothing we act on.
    Other,
}

/// What a frame turned out to be.
#[derive(Debug, PartialEq)]
pub enum Classified<'a> {
    /// A known event.
    Known(ServerEvent<'a>),
    /// A well-formed event of a type we do not know.
    Unknown(Cow<'a, str>),
    /// Not an event we can read; the reason, for the log.
    Corrupt(&'static str),
}

/// Server event types we know and ignore.
const IGNORED: &[&str] = &[
    "session.updated",
    "session.usage.updated",
    "session.input_audio.muted",
    "session.input_audio.unmuted",
    "session.output_audio.fixture.playing",
    "session.output_audio.fixture.played",
    "decision.event",
    "decision.item.created",
    "decision.item.deleted",
    "info",
];

/// Parses and classifies one text frame.
pub fn classify(text: &str) -> Classified<'_> {
    let Ok(raw) = serde_json::from_str::<RawEvent<'_>>(text) else {
        return Classified::Corrupt("not a JSON event object");
    };
    interpret(raw)
}

fn transcript<'a>(
    raw: RawEvent<'a>,
    make: fn(Cow<'a, str>, u64, u64) -> ServerEvent<'a>,
) -> Classified<'a> {
    match (raw.delta, raw.start_ms, raw.end_ms) {
        (Some(delta), Some(start), Some(end)) => Classified::Known(make(delta, start, end)),
        _ => Classified::Corrupt("transcript delta without delta, start_ms or end_ms"),
    }
}

fn interpret(raw: RawEvent<'_>) -> Classified<'_> {
    use ServerEvent as E;
    let known = |event| Classified::Known(event);
    match raw.kind.as_ref() {
        "session.started" => match raw.session {
            Some(RawSession { id: Some(session_id), expires_at: Some(expires_at) }) => {
                known(E::SessionStarted {
                    client_event_id: raw.client_event_id,
                    session_id,
                    expires_at,
                })
            }
            _ => Classified::Corrupt("session.started without session.id or expires_at"),
        },
        "session.output_audio.delta" => match raw.delta {
            Some(delta) => known(E::OutputAudio { delta }),
            None => Classified::Corrupt("output audio without delta"),
        },
        "session.input_transcript.delta" => transcript(raw, |delta, start_ms, end_ms| {
            E::InputTranscript { delta, start_ms, end_ms }
        }),
        "session.output_transcript.delta" => transcript(raw, |delta, start_ms, end_ms| {
            E::OutputTranscript { delta, start_ms, end_ms }
        }),
        "session.instructions.appended" => known(E::Appended {
            kind: AppendKind::Instructions,
            client_event_id: raw.client_event_id,
        }),
        "session.thinking.appended" => {
            known(E::Appended { kind: AppendKind::Thinking, client_event_id: raw.client_event_id })
        }
        "session.commentary.appended" => known(E::Appended {
            kind: AppendKind::Commentary,
            client_event_id: raw.client_event_id,
        }),
        "session.delegation.created" => {
            let delegation = raw.delegation.unwrap_or_default();
            let target = match delegation.target.as_deref() {
                Some("client") => Target::Client,
                Some("responses") => Target::Responses,
                Some("decisions") => Target::Decisions,
                _ => return Classified::Corrupt("delegation with an unknown target"),
            };
            match (delegation.id, raw.offset_ms) {
                (Some(delegation_id), Some(offset_ms)) => known(E::DelegationCreated {
                    delegation_id,
                    target,
                    offset_ms,
                    response_id: delegation.response_id,
                }),
                _ => Classified::Corrupt("delegation without id or offset_ms"),
            }
        }
        "response.event" => {
            let inner = raw.event.unwrap_or_default();
            match inner.kind.as_deref() {
                Some("response.output_item.done") => match inner.item {
                    Some(RawItem {
                        kind: Some(kind),
                        status,
                        call_id: Some(call_id),
                        name: Some(name),
                        arguments: Some(arguments),
                    }) if kind == "function_call" && status.as_deref() == Some("completed") => {
                        known(E::FunctionCall {
                            delegation_id: raw.delegation_id,
                            call_id,
                            name,
                            arguments,
                        })
                    }
                    // Reasoning and message items, and calls not completed.
                    Some(_) => known(E::Other),
                    None => Classified::Corrupt("output_item.done without item"),
                },
                Some("response.created") => match inner.response.and_then(|r| r.id) {
                    Some(response_id) => known(E::BackendResponseStarted { response_id }),
                    None => Classified::Corrupt("response.created without response.id"),
                },
                Some("response.completed" | "response.failed" | "response.incomplete") => {
                    known(E::BackendResponseDone {
                        delegation_id: raw.delegation_id,
                        response_id: inner.response.and_then(|r| r.id),
                    })
                }
                Some(_) => known(E::Other),
                None => Classified::Corrupt("response.event without event.type"),
            }
        }
        "error" => match raw.error {
            Some(error) => known(E::Error {
                kind: error.kind,
                code: error.code,
                message: error.message.unwrap_or(Cow::Borrowed("")),
                param: error.param,
                client_event_id: error.client_event_id.or(raw.client_event_id),
            }),
            None => Classified::Corrupt("error without `error`"),
        },
        "session.closed" => match raw.reason {
            Some(reason) => known(E::SessionClosed { reason }),
            None => Classified::Corrupt("session.closed without reason"),
        },
        other if IGNORED.contains(&other) => known(E::Other),
        _ => Classified::Unknown(raw.kind),
    }
}
