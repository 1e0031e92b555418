//! Twilio Media Streams, bidirectional (`<Connect><Stream>`), from Twilio's
//! side.
//!
//! Twilio sends `connected`, `start`, then a `media` frame every 20 ms
//! (160 bytes of µ-law, base64), `dtmf` for key presses, a `mark` back for
//! each mark whose audio has played, and `stop` at hang-up. Numbers are
//! strings, `sequenceNumber` counts every message after `connected` from 1,
//! `chunk` counts media frames from 1, `timestamp` is milliseconds since
//! the stream started.
//!
//! From the bot it accepts only text frames (a binary frame is warning
//! 31950), and only `media` (a base64 µ-law `payload`, no file header:
//! 31924), `mark` (with a `mark.name`) and `clear`, each with this stream's
//! `streamSid` and no other fields (anything else is warning 31951).

use std::borrow::Cow;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use turngate_audio::AudioFormat;

use super::call::{Carrier, Shared};
use super::ids::{Rng, twilio_call_sid};
use super::voice::{FrameBank, Voice};

const MALFORMED: &str = "31950 Stream - Protocol - Malformed Message";
const INVALID: &str = "31951 Stream - Protocol - Invalid Message";
const PROTOCOL_ERROR: &str = "31924 Stream - Websocket - Protocol Error";

/// Twilio's side of one stream.
#[derive(Debug)]
pub(super) struct Twilio {
    call_sid: String,
    stream_sid: String,
    account_sid: String,
    custom_parameters: String,
    sequence: u64,
    chunk: u64,
    /// When `start` went out; media timestamps count from here.
    started_at: std::time::Duration,
    last_timestamp: u64,
    bank: &'static FrameBank,
    started: bool,
}

impl Twilio {
    pub(super) fn new(call_id: &str, custom: &[(String, String)], rng: &mut Rng) -> Twilio {
        let map: serde_json::Map<String, serde_json::Value> =
            custom.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        Twilio {
            call_sid: twilio_call_sid(call_id),
            stream_sid: format!("MZ{}", rng.hex(32)),
            account_sid: format!("AC{}", rng.hex(32)),
            custom_parameters: serde_json::Value::Object(map).to_string(),
            sequence: 0,
            chunk: 0,
            started_at: std::time::Duration::ZERO,
            last_timestamp: 0,
            bank: FrameBank::get(AudioFormat::Ulaw),
            started: false,
        }
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    fn on_media(&mut self, s: &mut Shared, payload: &str) {
        s.scratch.clear();
        if STANDARD.decode_vec(payload, &mut s.scratch).is_err() {
            s.violation(format!("{INVALID}: media.payload is not base64"));
            return;
        }
        if s.scratch.is_empty() {
            s.violation(format!("{INVALID}: media.payload is empty"));
            return;
        }
        if s.scratch.starts_with(b"RIFF") {
            s.violation(format!(
                "{PROTOCOL_ERROR}: media.payload starts with a RIFF (WAV) header; send raw audio/x-mulaw"
            ));
            return;
        }
        let bytes = s.scratch.len();
        s.agent_audio(bytes, AudioFormat::Ulaw.duration_of(bytes as u64));
    }
}

/// Everything a bot may send Twilio, as one shape; which fields each event
/// may carry is checked after parsing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BotMessage<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(rename = "streamSid", borrow, default)]
    stream_sid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    media: Option<MediaBody<'a>>,
    #[serde(borrow, default)]
    mark: Option<MarkBody<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaBody<'a> {
    #[serde(borrow)]
    payload: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkBody<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
}

impl Carrier for Twilio {
    fn call_ref(&self) -> &str {
        &self.call_sid
    }

    fn open(&mut self, s: &mut Shared) {
        s.send(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#.to_owned());
        let sequence = self.next_sequence();
        s.send(format!(
            concat!(
                r#"{{"event":"start","sequenceNumber":"{seq}","start":{{"accountSid":"{account}","#,
                r#""streamSid":"{stream}","callSid":{call},"tracks":["inbound"],"#,
                r#""mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"#,
                r#""customParameters":{custom}}},"streamSid":"{stream}"}}"#
            ),
            seq = sequence,
            account = self.account_sid,
            stream = self.stream_sid,
            call = json_str(&self.call_sid),
            custom = self.custom_parameters,
        ));
        self.started_at = s.now;
        self.started = true;
        s.rec.event(s.now, super::report::CallerEvent::StartSent);
    }

    fn media_flowing(&self) -> bool {
        self.started
    }

    fn audio(&mut self, s: &mut Shared, voice: Voice) {
        let sequence = self.next_sequence();
        self.chunk += 1;
        // Milliseconds since the stream started, never going backwards.
        let elapsed = s.now.saturating_sub(self.started_at).as_millis() as u64;
        self.last_timestamp = self.last_timestamp.max(elapsed);
        let payload = s.stamped(self.bank.frame(voice));
        let mut text = String::with_capacity(payload.len() + 160);
        let _ = write!(
            text,
            r#"{{"event":"media","sequenceNumber":"{sequence}","media":{{"track":"inbound","chunk":"{}","timestamp":"{}","payload":"{payload}"}},"streamSid":"{}"}}"#,
            self.chunk, self.last_timestamp, self.stream_sid
        );
        s.send_audio(text, self.bank.frame_bytes);
    }

    fn dtmf(&mut self, s: &mut Shared, digit: char) {
        let sequence = self.next_sequence();
        s.send(format!(
            r#"{{"event":"dtmf","streamSid":"{}","sequenceNumber":"{sequence}","dtmf":{{"track":"inbound_track","digit":"{digit}"}}}}"#,
            self.stream_sid
        ));
    }

    fn echo_mark(&mut self, s: &mut Shared, name: &str) {
        let sequence = self.next_sequence();
        s.send(format!(
            r#"{{"event":"mark","sequenceNumber":"{sequence}","streamSid":"{}","mark":{{"name":{}}}}}"#,
            self.stream_sid,
            json_str(name)
        ));
    }

    fn hang_up(&mut self, s: &mut Shared) {
        let sequence = self.next_sequence();
        s.send(format!(
            r#"{{"event":"stop","sequenceNumber":"{sequence}","streamSid":"{}","stop":{{"accountSid":"{}","callSid":{}}}}}"#,
            self.stream_sid,
            self.account_sid,
            json_str(&self.call_sid)
        ));
    }

    fn text(&mut self, s: &mut Shared, text: &str) {
        let message: BotMessage<'_> = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(error) if error.is_syntax() || error.is_eof() => {
                s.violation(format!("{INVALID}: not valid JSON ({error})"));
                return;
            }
            Err(error) => {
                s.violation(format!("{INVALID}: {error}"));
                return;
            }
        };
        let event = message.event.as_ref();
        if !matches!(event, "media" | "mark" | "clear") {
            s.violation(format!(
                "{INVALID}: unsupported event `{event}` (a bot may send only media, mark and clear)"
            ));
            return;
        }
        match message.stream_sid.as_deref() {
            None => {
                s.violation(format!("{INVALID}: `{event}` without a streamSid"));
                return;
            }
            Some(sid) if sid != self.stream_sid => {
                s.violation(format!(
                    "{INVALID}: `{event}` for streamSid `{sid}`, not this stream's"
                ));
                return;
            }
            Some(_) => {}
        }
        let stray = match event {
            "media" => message.mark.is_some().then_some("mark"),
            "mark" => message.media.is_some().then_some("media"),
            _ => {
                if message.media.is_some() {
                    Some("media")
                } else {
                    message.mark.is_some().then_some("mark")
                }
            }
        };
        if let Some(field) = stray {
            s.violation(format!("{INVALID}: `{event}` with an unexpected `{field}` object"));
            return;
        }
        match (event, message.media, message.mark) {
            ("media", Some(media), _) => self.on_media(s, &media.payload),
            ("media", None, _) => s.violation(format!("{INVALID}: `media` without a media object")),
            ("mark", _, Some(mark)) if mark.name.is_empty() => {
                s.violation(format!("{INVALID}: `mark` with an empty mark.name"));
            }
            ("mark", _, Some(mark)) => s.mark(mark.name.into_owned()),
            ("mark", _, None) => s.violation(format!("{INVALID}: `mark` without a mark object")),
            _ => s.clear(),
        }
    }

    fn binary(&mut self, s: &mut Shared, len: usize) {
        s.violation(format!("{MALFORMED}: a binary frame ({len} bytes); messages must be text"));
    }
}

/// `text` as a JSON string literal.
pub(super) fn json_str(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}
