//! Twilio Media Streams frames: serde types and the known / unknown /
//! corrupt classification. No state, no IO.
//!
//! Parsing borrows from the frame text; a media frame costs one pass of
//! serde and no allocation until its payload is decoded.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::transport::WireError;

/// One frame from Twilio, as sent (every field optional, so that what is
/// missing is reported by the classification, per event).
#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(rename = "streamSid", borrow, default)]
    stream_sid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    start: Option<StartBody<'a>>,
    #[serde(borrow, default)]
    media: Option<MediaBody<'a>>,
    #[serde(borrow, default)]
    mark: Option<NameBody<'a>>,
    #[serde(borrow, default)]
    dtmf: Option<DtmfBody<'a>>,
}

#[derive(Debug, Deserialize)]
struct StartBody<'a> {
    #[serde(rename = "streamSid", borrow, default)]
    stream_sid: Option<Cow<'a, str>>,
    #[serde(rename = "accountSid", borrow, default)]
    account_sid: Option<Cow<'a, str>>,
    #[serde(rename = "callSid", borrow, default)]
    call_sid: Option<Cow<'a, str>>,
    #[serde(rename = "customParameters", default)]
    custom_parameters: Option<BTreeMap<String, Value>>,
    #[serde(rename = "mediaFormat", default)]
    media_format: Option<MediaFormat>,
}

#[derive(Debug, Deserialize)]
struct MediaFormat {
    #[serde(default)]
    encoding: Option<String>,
    #[serde(rename = "sampleRate", default)]
    sample_rate: Option<Value>,
    #[serde(default)]
    channels: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct MediaBody<'a> {
    #[serde(borrow, default)]
    track: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct NameBody<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
struct DtmfBody<'a> {
    #[serde(borrow, default)]
    digit: Option<Cow<'a, str>>,
}

/// A frame from Twilio, classified.
#[derive(Debug)]
pub(crate) enum Inbound<'a> {
    /// `connected`: the socket is up.
    Connected,
    /// `start`: the stream's metadata.
    Start(Start),
    /// `media`: caller audio (base64 µ-law).
    Media {
        /// The frame's `streamSid`.
        stream_sid: Option<Cow<'a, str>>,
        /// `inbound` or `outbound`.
        track: Option<Cow<'a, str>>,
        /// Base64 audio.
        payload: Cow<'a, str>,
    },
    /// `mark`: an echo of a mark we sent.
    Mark {
        /// The frame's `streamSid`.
        stream_sid: Option<Cow<'a, str>>,
        /// The mark's name.
        name: Cow<'a, str>,
    },
    /// `dtmf`: a key press.
    Dtmf {
        /// The frame's `streamSid`.
        stream_sid: Option<Cow<'a, str>>,
        /// The key.
        digit: Cow<'a, str>,
    },
    /// `stop`: the stream (and usually the call) is over.
    Stop {
        /// The frame's `streamSid`.
        stream_sid: Option<Cow<'a, str>>,
    },
}

/// The `start` event's content, owned (it arrives once per call).
#[derive(Debug)]
pub(crate) struct Start {
    pub(crate) stream_sid: String,
    pub(crate) account_sid: Option<String>,
    pub(crate) call_sid: String,
    pub(crate) custom: BTreeMap<String, String>,
    /// `(encoding, sample rate, channels)` as sent, when sent.
    pub(crate) format: Option<(String, Option<u64>, Option<u64>)>,
}

fn missing(what: &str) -> WireError {
    WireError::Malformed { detail: format!("missing {what}") }
}

/// Reads a number Twilio may send as a number or as a numeric string.
pub(crate) fn lenient_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A JSON value as a custom-parameter string: strings as they are, anything
/// else as its JSON text.
pub(crate) fn param_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// Parses and classifies one text frame.
pub(crate) fn classify(text: &str) -> Result<Inbound<'_>, WireError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| WireError::malformed(&e))?;
    let event = envelope.event.ok_or_else(|| missing("`event`"))?;
    let stream_sid = envelope.stream_sid;
    Ok(match event.as_ref() {
        "connected" => Inbound::Connected,
        "start" => {
            let start = envelope.start.ok_or_else(|| missing("`start`"))?;
            let stream_sid = start
                .stream_sid
                .or(stream_sid)
                .ok_or_else(|| missing("`start.streamSid`"))?
                .into_owned();
            let call_sid = start.call_sid.ok_or_else(|| missing("`start.callSid`"))?.into_owned();
            let custom = start
                .custom_parameters
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, param_text(v)))
                .collect();
            let format = start.media_format.map(|f| {
                (
                    f.encoding.unwrap_or_default(),
                    f.sample_rate.as_ref().and_then(lenient_u64),
                    f.channels.as_ref().and_then(lenient_u64),
                )
            });
            Inbound::Start(Start {
                stream_sid,
                account_sid: start.account_sid.map(Cow::into_owned),
                call_sid,
                custom,
                format,
            })
        }
        "media" => {
            let media = envelope.media.ok_or_else(|| missing("`media`"))?;
            let payload = media.payload.ok_or_else(|| missing("`media.payload`"))?;
            Inbound::Media { stream_sid, track: media.track, payload }
        }
        "mark" => {
            let name = envelope.mark.and_then(|m| m.name).ok_or_else(|| missing("`mark.name`"))?;
            Inbound::Mark { stream_sid, name }
        }
        "dtmf" => {
            let digit =
                envelope.dtmf.and_then(|d| d.digit).ok_or_else(|| missing("`dtmf.digit`"))?;
            Inbound::Dtmf { stream_sid, digit }
        }
        "stop" => Inbound::Stop { stream_sid },
        other => return Err(WireError::unknown(other)),
    })
}
