//! Telnyx media streaming over WebSocket, bidirectional RTP mode with PCMU,
//! from Telnyx's side.
//!
//! Telnyx sends `connected`, `start` (with `stream_id` at the top level and
//! `call_control_id` inside `start`), `media` frames of base64 RTP payload
//! every 20 ms with `sequence_number`, `chunk` and `timestamp` as strings,
//! `dtmf` (with `occurred_at`), a `mark` back for each mark whose audio has
//! played (at once when nothing is queued), `error` frames and `stop`.
//! Media order is not guaranteed; the caller can deliver frames out of
//! order on purpose.
//!
//! From the bot it accepts `media` (`media.payload`, 20 ms to 30 s of
//! audio per message), `mark` (`mark.name`) and `clear`, optionally with
//! this stream's `stream_id` and nothing else. A frame that breaks these
//! rules is answered with the `error` frame Telnyx documents
//! (`100003 malformed_frame`, `100004 invalid_media`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use turngate_audio::AudioFormat;

use super::call::{Carrier, Shared};
use super::config::TelnyxOptions;
use super::ids::{Rng, rfc3339, telnyx_call_control_id};
use super::report::CallerEvent;
use super::twilio::json_str;
use super::voice::{FrameBank, Voice};

/// The shortest and longest audio one outbound RTP-mode media message may
/// carry.
const MIN_CHUNK: Duration = Duration::from_millis(20);
const MAX_CHUNK: Duration = Duration::from_secs(30);

/// Telnyx's side of one stream.
#[derive(Debug)]
pub(super) struct Telnyx {
    call_control_id: String,
    stream_id: String,
    user_id: String,
    call_session_id: String,
    from: String,
    to: String,
    custom_parameters: String,
    options: TelnyxOptions,
    rng: Rng,
    sequence: u64,
    chunk: u64,
    started_at: Duration,
    last_timestamp: u64,
    /// A media frame held back to go out after the next one.
    held: Option<String>,
    bank: &'static FrameBank,
    started: bool,
}

impl Telnyx {
    pub(super) fn new(
        call_id: &str,
        from: &str,
        to: &str,
        custom: &[(String, String)],
        options: TelnyxOptions,
        mut rng: Rng,
    ) -> Telnyx {
        let map: serde_json::Map<String, serde_json::Value> =
            custom.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        Telnyx {
            call_control_id: telnyx_call_control_id(call_id),
            stream_id: rng.uuid(),
            user_id: rng.uuid(),
            call_session_id: rng.uuid(),
            from: from.to_owned(),
            to: to.to_owned(),
            custom_parameters: serde_json::Value::Object(map).to_string(),
            options,
            rng,
            sequence: 0,
            chunk: 0,
            started_at: Duration::ZERO,
            last_timestamp: 0,
            held: None,
            bank: FrameBank::get(AudioFormat::Ulaw),
            started: false,
        }
    }

    fn next_sequence(&mut self) -> String {
        self.sequence += 1;
        self.sequence.to_string()
    }

    /// Reports a broken rule and, like Telnyx, answers with an error frame.
    fn reject(&mut self, s: &mut Shared, code: u32, title: &str, detail: &str) {
        s.violation(format!("{code} {title}: {detail}"));
        if self.options.error_frames {
            s.send(format!(
                r#"{{"event":"error","payload":{{"code":{code},"title":"{title}","detail":{}}},"stream_id":"{}"}}"#,
                json_str(detail),
                self.stream_id
            ));
        }
    }

    fn on_media(&mut self, s: &mut Shared, payload: &str) {
        s.scratch.clear();
        if STANDARD.decode_vec(payload, &mut s.scratch).is_err() {
            self.reject(s, 100_004, "invalid_media", "media.payload is not base64");
            return;
        }
        if s.scratch.is_empty() {
            self.reject(s, 100_004, "invalid_media", "media.payload is empty");
            return;
        }
        let bytes = s.scratch.len();
        let audio = AudioFormat::Ulaw.duration_of(bytes as u64);
        if !(MIN_CHUNK..=MAX_CHUNK).contains(&audio) {
            s.violation(format!(
                "a media message carries {} ms of audio; RTP mode takes 20 ms to 30 s per message",
                audio.as_millis()
            ));
        }
        s.agent_audio(bytes, audio);
    }
}

/// Everything a bot may send Telnyx, as one shape; which fields each event
/// may carry is checked after parsing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BotMessage<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(borrow, default)]
    stream_id: Option<Cow<'a, str>>,
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

impl Carrier for Telnyx {
    fn call_ref(&self) -> &str {
        &self.call_control_id
    }

    fn open(&mut self, s: &mut Shared) {
        s.send(r#"{"event":"connected","version":"1.0.0"}"#.to_owned());
        let sequence = self.next_sequence();
        s.send(format!(
            concat!(
                r#"{{"event":"start","sequence_number":"{seq}","start":{{"user_id":"{user}","#,
                r#""call_control_id":{call},"call_session_id":"{session}","from":{from},"to":{to},"#,
                r#""tags":[],"custom_parameters":{custom},"#,
                r#""media_format":{{"encoding":"PCMU","sample_rate":8000,"channels":1}}}},"#,
                r#""stream_id":"{stream}"}}"#
            ),
            seq = sequence,
            user = self.user_id,
            call = json_str(&self.call_control_id),
            session = self.call_session_id,
            from = json_str(&self.from),
            to = json_str(&self.to),
            custom = self.custom_parameters,
            stream = self.stream_id,
        ));
        self.started_at = s.now;
        self.started = true;
        s.rec.event(s.now, CallerEvent::StartSent);
    }

    fn media_flowing(&self) -> bool {
        self.started
    }

    fn audio(&mut self, s: &mut Shared, voice: Voice) {
        let sequence = self.next_sequence();
        self.chunk += 1;
        let elapsed = s.now.saturating_sub(self.started_at).as_millis() as u64;
        self.last_timestamp = self.last_timestamp.max(elapsed);
        let payload = s.stamped(self.bank.frame(voice));
        let mut text = String::with_capacity(payload.len() + 180);
        let _ = write!(
            text,
            r#"{{"event":"media","sequence_number":"{sequence}","media":{{"track":"inbound","chunk":"{}","timestamp":"{}","payload":"{payload}"}},"stream_id":"{}"}}"#,
            self.chunk, self.last_timestamp, self.stream_id
        );
        let bytes = self.bank.frame_bytes;
        if let Some(held) = self.held.take() {
            // The held frame goes out after this later one: out of order.
            s.send_audio(text, bytes);
            s.send_audio(held, bytes);
        } else if self.options.reorder_probability > 0.0
            && self.rng.unit() < self.options.reorder_probability
        {
            self.held = Some(text);
        } else {
            s.send_audio(text, bytes);
        }
    }

    fn dtmf(&mut self, s: &mut Shared, digit: char) {
        let sequence = self.next_sequence();
        s.send(format!(
            r#"{{"event":"dtmf","stream_id":"{}","occurred_at":"{}","sequence_number":"{sequence}","dtmf":{{"digit":"{digit}"}}}}"#,
            self.stream_id,
            rfc3339(SystemTime::now())
        ));
    }

    fn echo_mark(&mut self, s: &mut Shared, name: &str) {
        let sequence = self.next_sequence();
        s.send(format!(
            r#"{{"event":"mark","stream_id":"{}","sequence_number":"{sequence}","mark":{{"name":{}}}}}"#,
            self.stream_id,
            json_str(name)
        ));
    }

    fn hang_up(&mut self, s: &mut Shared) {
        if let Some(held) = self.held.take() {
            s.send_audio(held, self.bank.frame_bytes);
        }
        let sequence = self.next_sequence();
        s.send(format!(
            r#"{{"event":"stop","sequence_number":"{sequence}","stop":{{"user_id":"{}","call_control_id":{}}},"stream_id":"{}"}}"#,
            self.user_id,
            json_str(&self.call_control_id),
            self.stream_id
        ));
    }

    fn text(&mut self, s: &mut Shared, text: &str) {
        let message: BotMessage<'_> = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(error) => {
                self.reject(s, 100_003, "malformed_frame", &error.to_string());
                return;
            }
        };
        let event = message.event.as_ref();
        if !matches!(event, "media" | "mark" | "clear") {
            let detail =
                format!("unsupported event `{event}` (a bot may send media, mark and clear)");
            self.reject(s, 100_003, "malformed_frame", &detail);
            return;
        }
        if let Some(id) = message.stream_id.as_deref()
            && id != self.stream_id
        {
            s.violation(format!("`{event}` for stream_id `{id}`, not this stream's"));
            return;
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
            let detail = format!("`{event}` with an unexpected `{field}` object");
            self.reject(s, 100_003, "malformed_frame", &detail);
            return;
        }
        match (event, message.media, message.mark) {
            ("media", Some(media), _) => self.on_media(s, &media.payload),
            ("media", None, _) => {
                self.reject(s, 100_003, "malformed_frame", "`media` without a media object");
            }
            ("mark", _, Some(mark)) if mark.name.is_empty() => {
                self.reject(s, 100_003, "malformed_frame", "`mark` with an empty mark.name");
            }
            ("mark", _, Some(mark)) => s.mark(mark.name.into_owned()),
            ("mark", _, None) => {
                self.reject(s, 100_003, "malformed_frame", "`mark` without a mark object");
            }
            _ => s.clear(),
        }
    }

    fn binary(&mut self, s: &mut Shared, len: usize) {
        let detail = format!("a binary frame ({len} bytes); frames must be JSON text");
        self.reject(s, 100_003, "malformed_frame", &detail);
    }
}
