//! Telnyx media-stream frames: serde types and the known / unknown /
//! corrupt classification. No state, no IO.
//!
//! Note the shape: `stream_id` sits at the top level of every frame, and
//! `call_control_id` inside `start` (there is no `start.stream_id`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

use crate::transport::WireError;

/// A counter Telnyx sends as a numeric string (or, leniently, a number),
/// read without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Counter(pub(crate) u64);

impl<'de> Deserialize<'de> for Counter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Counter, D::Error> {
        struct CounterVisitor;
        impl Visitor<'_> for CounterVisitor {
            type Value = Counter;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer or a string of one")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Counter, E> {
                Ok(Counter(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Counter, E> {
                u64::try_from(v).map(Counter).map_err(|_| E::custom("negative counter"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Counter, E> {
                v.parse().map(Counter).map_err(|_| E::custom("counter is not a number"))
            }
        }
        deserializer.deserialize_any(CounterVisitor)
    }
}

#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stream_id: Option<Cow<'a, str>>,
    #[serde(default)]
    start: Option<StartBody>,
    #[serde(borrow, default)]
    media: Option<MediaBody<'a>>,
    #[serde(borrow, default)]
    mark: Option<NameBody<'a>>,
    #[serde(borrow, default)]
    dtmf: Option<DtmfBody<'a>>,
    #[serde(default)]
    payload: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct StartBody {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    call_control_id: Option<String>,
    #[serde(default)]
    call_session_id: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    client_state: Option<String>,
    #[serde(default)]
    custom_parameters: Option<Value>,
    #[serde(default)]
    media_format: Option<MediaFormat>,
}

#[derive(Debug, Deserialize)]
struct MediaFormat {
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    sample_rate: Option<Counter>,
    #[serde(default)]
    channels: Option<Counter>,
}

#[derive(Debug, Deserialize)]
struct MediaBody<'a> {
    #[serde(borrow, default)]
    track: Option<Cow<'a, str>>,
    #[serde(default)]
    chunk: Option<Counter>,
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

/// A frame from Telnyx, classified.
#[derive(Debug)]
pub(crate) enum Inbound<'a> {
    /// `connected`.
    Connected,
    /// `start`: the stream's metadata.
    Start {
        /// Top-level `stream_id`.
        stream_id: Option<String>,
        /// The content of `start`.
        start: Start,
    },
    /// `media`.
    Media {
        /// Top-level `stream_id`.
        stream_id: Option<Cow<'a, str>>,
        /// `inbound` or `outbound`.
        track: Option<Cow<'a, str>>,
        /// The media chunk's number, for reordering.
        chunk: Option<u64>,
        /// Base64 RTP payload (no RTP header).
        payload: Cow<'a, str>,
    },
    /// `mark`: an echo.
    Mark {
        /// Top-level `stream_id`.
        stream_id: Option<Cow<'a, str>>,
        /// The mark's name.
        name: Cow<'a, str>,
    },
    /// `dtmf`.
    Dtmf {
        /// Top-level `stream_id`.
        stream_id: Option<Cow<'a, str>>,
        /// The key.
        digit: Cow<'a, str>,
    },
    /// `error`: Telnyx refused something we sent.
    Error {
        /// Its code.
        code: Option<String>,
        /// Its title and detail.
        message: String,
    },
    /// `stop`.
    Stop {
        /// Top-level `stream_id`.
        stream_id: Option<Cow<'a, str>>,
    },
}

/// The content of `start`, owned (it arrives once per call).
#[derive(Debug)]
pub(crate) struct Start {
    pub(crate) user_id: Option<String>,
    pub(crate) call_control_id: String,
    pub(crate) call_session_id: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) client_state: Option<String>,
    pub(crate) custom: BTreeMap<String, String>,
    /// `(encoding, sample rate, channels)`.
    pub(crate) format: Option<(String, Option<u64>, Option<u64>)>,
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

/// Custom parameters as an object (`{"k":"v"}`, as stream frames show them)
/// or as the list the streaming command takes (`[{"name","value"}]`).
pub(crate) fn custom_parameters(value: Option<Value>) -> BTreeMap<String, String> {
    match value {
        Some(Value::Object(map)) => map.into_iter().map(|(k, v)| (k, text(v))).collect(),
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| {
                let Value::Object(mut item) = item else { return None };
                let name = text(item.remove("name")?);
                Some((name, item.remove("value").map(text).unwrap_or_default()))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn peer_error(body: Option<Value>) -> (Option<String>, String) {
    let Some(Value::Object(mut body)) = body else {
        return (None, "error without details".to_owned());
    };
    let code = body.remove("code").map(text);
    let parts: Vec<String> =
        ["title", "detail", "message"].iter().filter_map(|k| body.remove(*k)).map(text).collect();
    let message =
        if parts.is_empty() { "error without details".to_owned() } else { parts.join(": ") };
    (code, message)
}

/// Parses and classifies one text frame.
pub(crate) fn classify(text: &str) -> Result<Inbound<'_>, WireError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| WireError::malformed(&e))?;
    let event = envelope.event.ok_or_else(|| missing("`event`"))?;
    let stream_id = envelope.stream_id;
    Ok(match event.as_ref() {
        "connected" => Inbound::Connected,
        "start" => {
            let start = envelope.start.ok_or_else(|| missing("`start`"))?;
            let call_control_id =
                start.call_control_id.ok_or_else(|| missing("`start.call_control_id`"))?;
            Inbound::Start {
                stream_id: stream_id.map(Cow::into_owned),
                start: Start {
                    user_id: start.user_id,
                    call_control_id,
                    call_session_id: start.call_session_id,
                    from: start.from,
                    to: start.to,
                    client_state: start.client_state,
                    custom: custom_parameters(start.custom_parameters),
                    format: start.media_format.map(|f| {
                        (
                            f.encoding.unwrap_or_default(),
                            f.sample_rate.map(|c| c.0),
                            f.channels.map(|c| c.0),
                        )
                    }),
                },
            }
        }
        "media" => {
            let media = envelope.media.ok_or_else(|| missing("`media`"))?;
            let payload = media.payload.ok_or_else(|| missing("`media.payload`"))?;
            Inbound::Media {
                stream_id,
                track: media.track,
                chunk: media.chunk.map(|c| c.0),
                payload,
            }
        }
        "mark" => {
            let name = envelope.mark.and_then(|m| m.name).ok_or_else(|| missing("`mark.name`"))?;
            Inbound::Mark { stream_id, name }
        }
        "dtmf" => {
            let digit =
                envelope.dtmf.and_then(|d| d.digit).ok_or_else(|| missing("`dtmf.digit`"))?;
            Inbound::Dtmf { stream_id, digit }
        }
        "error" => {
            let (code, message) = peer_error(envelope.payload.or(envelope.error));
            Inbound::Error { code, message }
        }
        "stop" => Inbound::Stop { stream_id },
        other => return Err(WireError::unknown(other)),
    })
}
