//! The Bot API's messages from the bot, as VAIC reads them: one strict
//! shape (unknown fields refused), the fields each message type may and
//! must carry, and the event activities a bot may send.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};
use turngate_audio::{AudioFormat, SampleRate};

/// The event activities a bot may send (the official SDK's list and the
/// names the VAIC documentation adds).
pub(super) const BOT_ACTIVITY_EVENTS: &[&str] = &[
    "hangup",
    "transfer",
    "config",
    "playUrl",
    "start",
    "startRecognition",
    "stopRecognition",
    "sendMetaData",
    "startCallRecording",
    "stopCallRecording",
    "pauseCallRecording",
    "resumeCallRecording",
    "speakerVerificationCreateSpeaker",
    "speakerVerificationGetSpeakerStatus",
    "speakerVerificationDeleteSpeaker",
    "speakerVerificationEnroll",
    "speakerVerificationVerify",
    "abortPrompts",
    "expectAnotherBotMessage",
    "sendDtmf",
];

/// The audio format behind a `mediaFormat` value the caller can stream.
pub(super) fn media_format(name: &str) -> Option<AudioFormat> {
    match name {
        "raw/mulaw" => Some(AudioFormat::Ulaw),
        "raw/lpcm16" => Some(AudioFormat::Pcm16(SampleRate::Hz16000)),
        "raw/lpcm16_8" => Some(AudioFormat::Pcm16(SampleRate::Hz8000)),
        "raw/lpcm16_24" => Some(AudioFormat::Pcm16(SampleRate::Hz24000)),
        _ => None,
    }
}

/// Judges the bot's answer to `connection.validate` on a validation
/// connection: it must be exactly `connection.validated` with
/// `success: true`.
pub(in crate::callers) fn check_validated(text: &str) -> Result<(), String> {
    let message: BotMessage<'_> = serde_json::from_str(text).map_err(|error| {
        format!("an answer to connection.validate that breaks the Bot API schema: {error}")
    })?;
    if message.kind != "connection.validated" {
        return Err(format!("`{}` in answer to connection.validate", message.kind));
    }
    if let Some(field) = message.present().find(|field| *field != "success") {
        return Err(format!("`connection.validated` with an unexpected field `{field}`"));
    }
    if message.conversation_id.is_some() {
        return Err("`connection.validated` with an unexpected field `conversationId`".to_owned());
    }
    if message.success != Some(true) {
        return Err("connection.validated without success: true".to_owned());
    }
    Ok(())
}

/// Everything a bot may send VAIC, as one shape; which fields each type
/// may carry is checked after parsing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BotMessage<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Cow<'a, str>,
    #[serde(rename = "conversationId", borrow, default)]
    pub(super) conversation_id: Option<Cow<'a, str>>,
    #[serde(rename = "mediaFormat", borrow, default)]
    pub(super) media_format: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub(super) reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) success: Option<bool>,
    #[serde(rename = "streamId", borrow, default)]
    pub(super) stream_id: Option<Cow<'a, str>>,
    #[serde(rename = "audioChunk", borrow, default)]
    pub(super) audio_chunk: Option<Cow<'a, str>>,
    #[serde(rename = "altText", borrow, default)]
    pub(super) alt_text: Option<Cow<'a, str>>,
    #[serde(rename = "activityParams", default)]
    pub(super) activity_params: Option<Map<String, Value>>,
    #[serde(borrow, default)]
    pub(super) alternatives: Option<Vec<Alternative<'a>>>,
    #[serde(default)]
    pub(super) activities: Option<Vec<Activity>>,
    #[serde(borrow, default)]
    pub(super) participant: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Alternative<'a> {
    // Parsed to check the shape; the text itself is not used.
    #[serde(rename = "text", borrow)]
    pub(super) _text: Cow<'a, str>,
    #[serde(default)]
    pub(super) confidence: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Activity {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) text: Option<String>,
    // The rest is parsed to check its shape only.
    #[serde(rename = "value", default)]
    pub(super) _value: Option<Value>,
    #[serde(rename = "activityParams", default)]
    pub(super) _activity_params: Option<Map<String, Value>>,
    #[serde(rename = "sessionParams", default)]
    pub(super) _session_params: Option<Map<String, Value>>,
    #[serde(rename = "parameters", default)]
    pub(super) _parameters: Option<Map<String, Value>>,
    #[serde(rename = "delay", default)]
    pub(super) _delay: Option<u64>,
    #[serde(rename = "id", default)]
    pub(super) _id: Option<String>,
    #[serde(rename = "timestamp", default)]
    pub(super) _timestamp: Option<String>,
    #[serde(rename = "language", default)]
    pub(super) _language: Option<String>,
}

/// The fields each bot message type may carry besides `type` and
/// `conversationId`, and the ones it must.
pub(super) fn fields_of(kind: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match kind {
        "session.accepted" => (&["mediaFormat"], &["mediaFormat"]),
        "session.error" => (&["reason"], &[]),
        "connection.validated" => (&["success"], &["success"]),
        "userStream.started" | "userStream.stopped" => (&[], &[]),
        "userStream.speech.started"
        | "userStream.speech.stopped"
        | "userStream.speech.committed" => (&["participant"], &[]),
        "userStream.speech.hypothesis" | "userStream.speech.recognition" => {
            (&["alternatives", "participant"], &["alternatives"])
        }
        "playStream.start" => {
            (&["streamId", "mediaFormat", "altText", "activityParams"], &["streamId"])
        }
        "playStream.chunk" => (&["streamId", "audioChunk"], &["streamId", "audioChunk"]),
        "playStream.stop" => (&["streamId"], &["streamId"]),
        "activities" => (&["activities"], &["activities"]),
        _ => return None,
    })
}

impl BotMessage<'_> {
    /// The optional fields present, by their wire names.
    pub(super) fn present(&self) -> impl Iterator<Item = &'static str> {
        [
            ("mediaFormat", self.media_format.is_some()),
            ("reason", self.reason.is_some()),
            ("success", self.success.is_some()),
            ("streamId", self.stream_id.is_some()),
            ("audioChunk", self.audio_chunk.is_some()),
            ("altText", self.alt_text.is_some()),
            ("activityParams", self.activity_params.is_some()),
            ("alternatives", self.alternatives.is_some()),
            ("activities", self.activities.is_some()),
            ("participant", self.participant.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, present)| present.then_some(name))
    }
}
