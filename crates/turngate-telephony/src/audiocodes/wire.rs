//! AudioCodes Bot API (VoiceAI Connect, streaming mode) messages: serde
//! types and the known / unknown / corrupt classification. No state, no IO.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};
use turngate_audio::{AudioFormat, SampleRate};

use crate::transport::WireError;

/// A media format the Bot API names in `supportedMediaFormats`, that we
/// can carry (raw only: the `wav/…` ones prefix a RIFF header).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AcFormat {
    /// `raw/mulaw`: G.711 µ-law, 8 kHz.
    Mulaw,
    /// `raw/lpcm16_8`: 16-bit PCM, 8 kHz.
    Lpcm16At8,
    /// `raw/lpcm16`: 16-bit PCM, 16 kHz (the protocol's default).
    Lpcm16,
    /// `raw/lpcm16_24`: 16-bit PCM, 24 kHz.
    Lpcm16At24,
}

impl AcFormat {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AcFormat::Mulaw => "raw/mulaw",
            AcFormat::Lpcm16At8 => "raw/lpcm16_8",
            AcFormat::Lpcm16 => "raw/lpcm16",
            AcFormat::Lpcm16At24 => "raw/lpcm16_24",
        }
    }

    /// The format for a wire name.
    pub fn from_wire(name: &str) -> Option<AcFormat> {
        match name {
            "raw/mulaw" => Some(AcFormat::Mulaw),
            "raw/lpcm16_8" => Some(AcFormat::Lpcm16At8),
            "raw/lpcm16" => Some(AcFormat::Lpcm16),
            "raw/lpcm16_24" => Some(AcFormat::Lpcm16At24),
            _ => None,
        }
    }

    /// The audio format (PCM is little-endian).
    pub fn format(self) -> AudioFormat {
        match self {
            AcFormat::Mulaw => AudioFormat::Ulaw,
            AcFormat::Lpcm16At8 => AudioFormat::Pcm16(SampleRate::Hz8000),
            AcFormat::Lpcm16 => AudioFormat::Pcm16(SampleRate::Hz16000),
            AcFormat::Lpcm16At24 => AudioFormat::Pcm16(SampleRate::Hz24000),
        }
    }

    /// The Bot API format for an audio format, if it has one (A-law has none).
    pub fn for_format(format: AudioFormat) -> Option<AcFormat> {
        match format {
            AudioFormat::Ulaw => Some(AcFormat::Mulaw),
            AudioFormat::Alaw => None,
            AudioFormat::Pcm16(SampleRate::Hz8000) => Some(AcFormat::Lpcm16At8),
            AudioFormat::Pcm16(SampleRate::Hz16000) => Some(AcFormat::Lpcm16),
            AudioFormat::Pcm16(SampleRate::Hz24000) => Some(AcFormat::Lpcm16At24),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "conversationId", borrow, default)]
    conversation_id: Option<Cow<'a, str>>,
    #[serde(rename = "audioChunk", borrow, default)]
    audio_chunk: Option<Cow<'a, str>>,
    #[serde(rename = "supportedMediaFormats", default)]
    supported_media_formats: Option<Vec<Value>>,
    #[serde(rename = "expectAudioMessages", default)]
    expect_audio_messages: Option<bool>,
    #[serde(default)]
    caller: Option<String>,
    #[serde(rename = "botName", default)]
    bot_name: Option<String>,
    #[serde(default)]
    activities: Option<Vec<Activity>>,
    #[serde(rename = "reasonCode", default)]
    reason_code: Option<Value>,
    #[serde(default)]
    reason: Option<Value>,
}

/// One activity of an `activities` message.
#[derive(Debug, Deserialize)]
pub(crate) struct Activity {
    #[serde(rename = "type", default)]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) value: Option<Value>,
    #[serde(default)]
    pub(crate) parameters: Option<Map<String, Value>>,
}

/// A message from VoiceAI Connect, classified.
#[derive(Debug)]
pub(crate) enum Inbound<'a> {
    /// `session.initiate`: a new call.
    Initiate {
        conversation_id: String,
        caller: Option<String>,
        bot_name: Option<String>,
        expect_audio: Option<bool>,
        /// The offered formats as named; `None` if the field was absent.
        supported: Option<Vec<String>>,
    },
    /// `session.resume`: a reconnect mid-call.
    Resume { conversation_id: String },
    /// `session.end`.
    End { conversation_id: Option<Cow<'a, str>>, reason: String },
    /// `connection.validate` (Live Hub's health check).
    Validate,
    /// `userStream.start`.
    StreamStart { conversation_id: Option<Cow<'a, str>> },
    /// `userStream.chunk`.
    StreamChunk { conversation_id: Option<Cow<'a, str>>, audio: Cow<'a, str> },
    /// `userStream.stop`.
    StreamStop { conversation_id: Option<Cow<'a, str>> },
    /// `activities`.
    Activities { conversation_id: Option<Cow<'a, str>>, activities: Vec<Activity> },
}

impl Inbound<'_> {
    /// The message type, for errors.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Inbound::Initiate { .. } => "session.initiate",
            Inbound::Resume { .. } => "session.resume",
            Inbound::End { .. } => "session.end",
            Inbound::Validate => "connection.validate",
            Inbound::StreamStart { .. } => "userStream.start",
            Inbound::StreamChunk { .. } => "userStream.chunk",
            Inbound::StreamStop { .. } => "userStream.stop",
            Inbound::Activities { .. } => "activities",
        }
    }
}

fn missing(what: &str) -> WireError {
    WireError::Malformed { detail: format!("missing {what}") }
}

fn text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Parses and classifies one text message.
pub(crate) fn classify(text_frame: &str) -> Result<Inbound<'_>, WireError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(text_frame).map_err(|e| WireError::malformed(&e))?;
    let kind = envelope.kind.ok_or_else(|| missing("`type`"))?;
    let conversation_id = envelope.conversation_id;
    let required = |id: Option<Cow<'_, str>>| {
        id.map(Cow::into_owned).ok_or_else(|| missing("`conversationId`"))
    };
    Ok(match kind.as_ref() {
        "session.initiate" => Inbound::Initiate {
            conversation_id: required(conversation_id)?,
            caller: envelope.caller,
            bot_name: envelope.bot_name,
            expect_audio: envelope.expect_audio_messages,
            supported: envelope.supported_media_formats.map(|formats| {
                formats.into_iter().filter_map(|f| f.as_str().map(str::to_owned)).collect()
            }),
        },
        "session.resume" => Inbound::Resume { conversation_id: required(conversation_id)? },
        "session.end" => {
            let reason = [envelope.reason_code, envelope.reason]
                .into_iter()
                .flatten()
                .map(text)
                .collect::<Vec<_>>()
                .join(": ");
            Inbound::End { conversation_id, reason }
        }
        "connection.validate" => Inbound::Validate,
        "userStream.start" => Inbound::StreamStart { conversation_id },
        "userStream.chunk" => Inbound::StreamChunk {
            conversation_id,
            audio: envelope.audio_chunk.ok_or_else(|| missing("`audioChunk`"))?,
        },
        "userStream.stop" => Inbound::StreamStop { conversation_id },
        "activities" => Inbound::Activities {
            conversation_id,
            activities: envelope.activities.ok_or_else(|| missing("`activities`"))?,
        },
        other => return Err(WireError::unknown(other)),
    })
}
