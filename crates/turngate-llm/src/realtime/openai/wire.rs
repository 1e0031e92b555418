//! The GA wire format: client events we send, server events we read.
//!
//! Client events are serde types serialized as sent; field names follow the
//! GA schema (openai-openapi `RealtimeClientEvent*`, openai-python
//! `types/realtime/*`). Server events are read in one pass into a flat,
//! borrowed superset of the fields we use ([`RawEvent`]) and then
//! [`classify`]d: a known type with the fields it needs, a type we do not
//! know (counted and ignored), or a corrupt frame (not JSON, or a known type
//! missing a field we need).
//!
//! Nothing here does IO or keeps state.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The `metadata` key under which `response.create` carries the core's id
/// of the create, so that `response.created` names the create it answers.
pub const CREATE_TAG_KEY: &str = "turngate_create";

// ---- Client events ---------------------------------------------------------

/// A client event, serialized with its `type`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub(crate) enum ClientEvent<'a> {
    #[serde(rename = "session.update")]
    SessionUpdate { event_id: &'a str, session: &'a SessionBody<'a> },
    #[serde(rename = "input_audio_buffer.append")]
    Append { event_id: &'a str, audio: &'a str },
    #[serde(rename = "input_audio_buffer.commit")]
    Commit { event_id: &'a str },
    #[serde(rename = "response.create")]
    ResponseCreate { event_id: &'a str, response: ResponseBody<'a> },
    #[serde(rename = "response.cancel")]
    ResponseCancel { event_id: &'a str, response_id: &'a str },
    #[serde(rename = "conversation.item.truncate")]
    Truncate { event_id: &'a str, item_id: &'a str, content_index: u32, audio_end_ms: u64 },
    #[serde(rename = "conversation.item.create")]
    ItemCreate { event_id: &'a str, item: Item<'a> },
}

/// The `session` of `session.update`.
#[derive(Debug, Serialize)]
pub(crate) struct SessionBody<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instructions: Option<&'a str>,
    pub(crate) output_modalities: [&'static str; 1],
    pub(crate) audio: AudioBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tools: Option<Vec<ToolBody<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<&'static str>,
}

/// `session.audio`.
#[derive(Debug, Serialize)]
pub(crate) struct AudioBody<'a> {
    pub(crate) input: InputBody<'a>,
    pub(crate) output: OutputBody<'a>,
}

/// `session.audio.input`. `turn_detection` is always sent, as `null` when
/// off, because `session.update` is partial and the server's default is on.
#[derive(Debug, Serialize)]
pub(crate) struct InputBody<'a> {
    pub(crate) format: Format,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transcription: Option<TranscriptionBody<'a>>,
    pub(crate) turn_detection: Option<TurnDetectionBody>,
}

/// `session.audio.output`.
#[derive(Debug, Serialize)]
pub(crate) struct OutputBody<'a> {
    pub(crate) format: Format,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) voice: Option<&'a str>,
}

/// An audio format object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum Format {
    #[serde(rename = "audio/pcmu")]
    Pcmu,
    #[serde(rename = "audio/pcma")]
    Pcma,
    #[serde(rename = "audio/pcm")]
    Pcm { rate: u32 },
}

/// `session.audio.input.transcription`.
#[derive(Debug, Serialize)]
pub(crate) struct TranscriptionBody<'a> {
    pub(crate) model: &'a str,
}

/// `session.audio.input.turn_detection`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub(crate) enum TurnDetectionBody {
    #[serde(rename = "server_vad")]
    ServerVad {
        #[serde(skip_serializing_if = "Option::is_none")]
        threshold: Option<f32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        prefix_padding_ms: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        silence_duration_ms: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        idle_timeout_ms: Option<u32>,
        create_response: bool,
        interrupt_response: bool,
    },
    #[serde(rename = "semantic_vad")]
    SemanticVad { eagerness: &'static str, create_response: bool, interrupt_response: bool },
}

/// A function tool in `session.tools`.
#[derive(Debug, Serialize)]
pub(crate) struct ToolBody<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) name: &'a str,
    pub(crate) description: &'a str,
    pub(crate) parameters: &'a serde_json::Value,
}

/// The `response` of `response.create`.
#[derive(Debug, Serialize)]
pub(crate) struct ResponseBody<'a> {
    /// `"none"` for an out-of-band response; absent (the default, `auto`)
    /// for the default conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) conversation: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instructions: Option<&'a str>,
    pub(crate) metadata: CreateTag<'a>,
}

/// `metadata` carrying our create tag.
#[derive(Debug, Serialize)]
pub(crate) struct CreateTag<'a> {
    pub(crate) turngate_create: &'a str,
}

/// A conversation item we create.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub(crate) enum Item<'a> {
    #[serde(rename = "message")]
    Message { role: &'static str, content: [TextContent<'a>; 1] },
    #[serde(rename = "function_call")]
    FunctionCall { call_id: &'a str, name: &'a str, arguments: &'a str },
    #[serde(rename = "function_call_output")]
    FunctionCallOutput { call_id: &'a str, output: &'a str },
}

/// One text part of a message: `input_text` for the user, `output_text`
/// for the assistant (GA; the beta `text` is gone).
#[derive(Debug, Serialize)]
pub(crate) struct TextContent<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) text: &'a str,
}

impl<'a> Item<'a> {
    /// A user message with one `input_text` part.
    pub(crate) fn user_text(text: &'a str) -> Item<'a> {
        Item::Message { role: "user", content: [TextContent { kind: "input_text", text }] }
    }

    /// An assistant message with one `output_text` part.
    pub(crate) fn assistant_text(text: &'a str) -> Item<'a> {
        Item::Message { role: "assistant", content: [TextContent { kind: "output_text", text }] }
    }
}

/// Serializes a client event. Our types cannot fail to serialize (no maps
/// with non-string keys, no non-finite floats reach them); should one ever
/// fail, the event is reported as empty text, which no server accepts.
pub(crate) fn to_text(event: &ClientEvent<'_>) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

// ---- Server events ---------------------------------------------------------

/// Every field of a server event that we read, borrowed from the frame
/// where no unescaping is needed. Unknown fields are skipped: the server may
/// add fields at any time.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub(crate) kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) response_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) item_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) delta: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) transcript: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) arguments: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) response: Option<RawResponse<'a>>,
    #[serde(default, borrow)]
    pub(crate) item: Option<RawItem<'a>>,
    #[serde(default, borrow)]
    pub(crate) error: Option<RawError<'a>>,
}

/// A response object (`response.created`, `response.done`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawResponse<'a> {
    #[serde(default, borrow)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) metadata: Option<RawMetadata<'a>>,
}

/// The one metadata key we read.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawMetadata<'a> {
    #[serde(default, borrow)]
    pub(crate) turngate_create: Option<Cow<'a, str>>,
}

/// A conversation item (`response.output_item.*`).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawItem<'a> {
    #[serde(default, borrow)]
    pub(crate) id: Option<Cow<'a, str>>,
    #[serde(rename = "type", default, borrow)]
    pub(crate) kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) arguments: Option<Cow<'a, str>>,
}

/// The `error` of an `error` event.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawError<'a> {
    #[serde(rename = "type", default, borrow)]
    pub(crate) kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) code: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) message: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) event_id: Option<Cow<'a, str>>,
}

/// A server event we act on, with the fields it needs.
#[derive(Debug, PartialEq)]
pub(crate) enum ServerEvent<'a> {
    SessionUpdated,
    Error {
        code: Option<Cow<'a, str>>,
        message: Cow<'a, str>,
        event_id: Option<Cow<'a, str>>,
    },
    SpeechStarted,
    SpeechStopped,
    Committed {
        item_id: Option<Cow<'a, str>>,
    },
    Cleared,
    /// Server VAD's idle timeout fired: it commits and answers on its own.
    TimeoutTriggered,
    UserTranscript {
        item_id: Option<Cow<'a, str>>,
        transcript: Cow<'a, str>,
    },
    ResponseCreated {
        response_id: Cow<'a, str>,
        tag: Option<Cow<'a, str>>,
    },
    /// An output item started: a message (its id) or a function call.
    OutputItemAdded {
        item_id: Option<Cow<'a, str>>,
        call: Option<(Cow<'a, str>, Cow<'a, str>)>,
    },
    /// A function call item finished, with everything about the call.
    FunctionCallItemDone {
        response_id: Cow<'a, str>,
        call_id: Cow<'a, str>,
        name: Cow<'a, str>,
        arguments: Cow<'a, str>,
    },
    AudioDelta {
        response_id: Cow<'a, str>,
        item_id: Cow<'a, str>,
        delta: Cow<'a, str>,
    },
    /// The final transcript of an audio part, or the final text of a text part.
    OutputTextDone {
        response_id: Cow<'a, str>,
        item_id: Cow<'a, str>,
        text: Cow<'a, str>,
    },
    FunctionArgumentsDone {
        response_id: Cow<'a, str>,
        call_id: Cow<'a, str>,
        arguments: Cow<'a, str>,
    },
    ResponseDone {
        response_id: Cow<'a, str>,
        status: Option<Cow<'a, str>>,
    },
    /// A known event that carries nothing we act on.
    Other,
}

/// What a frame turned out to be.
#[derive(Debug, PartialEq)]
pub(crate) enum Classified<'a> {
    Known(ServerEvent<'a>),
    /// A well-formed event of a type we do not know.
    Unknown(Cow<'a, str>),
    /// Not an event we can read; the reason, for the log.
    Corrupt(&'static str),
}

/// Server event types we know and ignore: they carry nothing the session
/// core acts on (their content arrives again in the events we do read).
const IGNORED: &[&str] = &[
    "session.created",
    "conversation.created",
    "conversation.item.created",
    "conversation.item.added",
    "conversation.item.done",
    "conversation.item.retrieved",
    "conversation.item.deleted",
    "conversation.item.truncated",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.failed",
    "conversation.item.input_audio_transcription.segment",
    "input_audio_buffer.dtmf_event_received",
    "output_audio_buffer.started",
    "output_audio_buffer.stopped",
    "output_audio_buffer.cleared",
    "response.content_part.added",
    "response.content_part.done",
    "response.output_audio.done",
    "response.output_audio_transcript.delta",
    "response.output_text.delta",
    "response.function_call_arguments.delta",
    "response.mcp_call_arguments.delta",
    "response.mcp_call_arguments.done",
    "response.mcp_call.in_progress",
    "response.mcp_call.completed",
    "response.mcp_call.failed",
    "mcp_list_tools.in_progress",
    "mcp_list_tools.completed",
    "mcp_list_tools.failed",
    "rate_limits.updated",
];

/// Parses and classifies one text frame.
pub(crate) fn classify(text: &str) -> Classified<'_> {
    let Ok(raw) = serde_json::from_str::<RawEvent<'_>>(text) else {
        return Classified::Corrupt("not a JSON event object");
    };
    interpret(raw)
}

fn interpret(raw: RawEvent<'_>) -> Classified<'_> {
    use ServerEvent as E;
    let known = |event| Classified::Known(event);
    match raw.kind.as_ref() {
        "session.updated" => known(E::SessionUpdated),
        "error" => match raw.error {
            Some(RawError { code, message, event_id, kind }) => known(E::Error {
                code,
                message: message.or(kind).unwrap_or(Cow::Borrowed("")),
                event_id,
            }),
            None => Classified::Corrupt("error without `error`"),
        },
        "input_audio_buffer.speech_started" => known(E::SpeechStarted),
        "input_audio_buffer.speech_stopped" => known(E::SpeechStopped),
        "input_audio_buffer.committed" => known(E::Committed { item_id: raw.item_id }),
        "input_audio_buffer.cleared" => known(E::Cleared),
        "input_audio_buffer.timeout_triggered" => known(E::TimeoutTriggered),
        "conversation.item.input_audio_transcription.completed" => match raw.transcript {
            Some(transcript) => known(E::UserTranscript { item_id: raw.item_id, transcript }),
            None => Classified::Corrupt("transcription without `transcript`"),
        },
        "response.created" => match raw.response {
            Some(RawResponse { id: Some(response_id), metadata, .. }) => {
                let tag = metadata.and_then(|m| m.turngate_create);
                known(E::ResponseCreated { response_id, tag })
            }
            _ => Classified::Corrupt("response.created without `response.id`"),
        },
        "response.done" => match raw.response {
            Some(RawResponse { id: Some(response_id), status, .. }) => {
                known(E::ResponseDone { response_id, status })
            }
            _ => Classified::Corrupt("response.done without `response.id`"),
        },
        "response.output_item.added" => {
            let item = raw.item.unwrap_or_default();
            let call = match (item.kind.as_deref(), item.call_id, item.name) {
                (Some("function_call"), Some(call_id), Some(name)) => Some((call_id, name)),
                _ => None,
            };
            known(E::OutputItemAdded { item_id: item.id, call })
        }
        "response.output_item.done" => match (raw.response_id, raw.item) {
            (Some(response_id), Some(item)) if item.kind.as_deref() == Some("function_call") => {
                match (item.call_id, item.name, item.arguments) {
                    (Some(call_id), Some(name), Some(arguments)) => {
                        known(E::FunctionCallItemDone { response_id, call_id, name, arguments })
                    }
                    _ => {
                        Classified::Corrupt("function_call item without call_id, name or arguments")
                    }
                }
            }
            (Some(_), Some(_)) => known(E::Other),
            _ => Classified::Corrupt("response.output_item.done without response_id or item"),
        },
        "response.output_audio.delta" => match (raw.response_id, raw.item_id, raw.delta) {
            (Some(response_id), Some(item_id), Some(delta)) => {
                known(E::AudioDelta { response_id, item_id, delta })
            }
            _ => Classified::Corrupt("audio delta without response_id, item_id or delta"),
        },
        "response.output_audio_transcript.done" => {
            match (raw.response_id, raw.item_id, raw.transcript) {
                (Some(response_id), Some(item_id), Some(text)) => {
                    known(E::OutputTextDone { response_id, item_id, text })
                }
                _ => Classified::Corrupt(
                    "transcript done without response_id, item_id or transcript",
                ),
            }
        }
        "response.output_text.done" => match (raw.response_id, raw.item_id, raw.text) {
            (Some(response_id), Some(item_id), Some(text)) => {
                known(E::OutputTextDone { response_id, item_id, text })
            }
            _ => Classified::Corrupt("text done without response_id, item_id or text"),
        },
        "response.function_call_arguments.done" => {
            match (raw.response_id, raw.call_id, raw.arguments) {
                (Some(response_id), Some(call_id), Some(arguments)) => {
                    known(E::FunctionArgumentsDone { response_id, call_id, arguments })
                }
                _ => {
                    Classified::Corrupt("arguments done without response_id, call_id or arguments")
                }
            }
        }
        other if IGNORED.contains(&other) => known(E::Other),
        _ => Classified::Unknown(raw.kind),
    }
}
