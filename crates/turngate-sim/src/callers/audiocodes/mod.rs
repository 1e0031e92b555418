//! The AudioCodes Bot API in streaming mode, from VoiceAI Connect's side
//! (VAIC is the WebSocket client; the bot is the server).
//!
//! VAIC sends `session.initiate` offering media formats and requires
//! `session.accepted` naming one of them; then `userStream.start`, which
//! the bot answers with `userStream.started` before audio flows as
//! `userStream.chunk`; key presses and the call's start as `activities`;
//! and `session.end` at hang-up (after `userStream.stop` →
//! `userStream.stopped`, if configured). Live Hub's "validate bot
//! connection" is its own short connection ([`check_validated`] judges its
//! answer); it is not part of a call.
//!
//! From the bot it accepts `playStream.start` / `chunk` / `stop` (one play
//! stream at a time, chunks only inside one, its `streamId` throughout, in
//! the negotiated format and not far ahead of playback), the
//! `userStream.speech.*` messages (which trigger VAIC's barge-in while
//! audio plays), `activities` (a `hangup` event ends the call) and
//! `session.error` (VAIC drops the call). Unknown types, unknown fields,
//! missing fields and messages out of order are violations.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use turngate_audio::AudioFormat;

use super::call::{Carrier, Shared};
use super::config::AudioCodesOptions;
use super::ids::{Rng, audiocodes_conversation_id, rfc3339};
use super::report::{CallerEvent, Party};
use super::twilio::json_str;
use super::voice::{FrameBank, Voice};

mod wire;

pub(super) use wire::check_validated;
use wire::{Activity, BOT_ACTIVITY_EVENTS, BotMessage, fields_of, media_format};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `session.initiate` sent.
    Initiating { deadline: Duration },
    /// `userStream.start` sent.
    Starting { deadline: Duration },
    /// Caller audio flows.
    Streaming,
    /// `userStream.stop` sent at hang-up.
    Stopping { deadline: Duration },
    /// `session.end` sent, or the call failed.
    Done,
    /// The socket dropped; a new one comes.
    Away,
    /// `session.resume` sent on the new socket.
    Resuming { deadline: Duration },
}

/// VAIC's side of one conversation.
#[derive(Debug)]
pub(super) struct AudioCodes {
    conversation_id: String,
    caller: String,
    callee: String,
    options: AudioCodesOptions,
    rng: Rng,
    phase: Phase,
    /// The negotiated format, its name and the caller's frames in it.
    format: Option<(String, AudioFormat, &'static FrameBank)>,
    /// The active play stream's id.
    play: Option<String>,
}

impl AudioCodes {
    pub(super) fn new(
        call_id: &str,
        caller: &str,
        callee: &str,
        options: AudioCodesOptions,
        rng: Rng,
    ) -> AudioCodes {
        AudioCodes {
            conversation_id: audiocodes_conversation_id(call_id),
            caller: caller.to_owned(),
            callee: callee.to_owned(),
            options,
            rng,
            phase: Phase::Done,
            format: None,
            play: None,
        }
    }

    fn send_initiate(&mut self, s: &mut Shared) {
        let formats = Value::from(self.options.supported_formats.clone()).to_string();
        s.send(format!(
            r#"{{"type":"session.initiate","conversationId":{},"botName":{},"caller":{},"expectAudioMessages":true,"supportedMediaFormats":{formats}}}"#,
            json_str(&self.conversation_id),
            json_str(&self.options.bot_name),
            json_str(&self.caller),
        ));
        self.phase = Phase::Initiating { deadline: s.now + self.options.answer_timeout };
        s.rec.event(s.now, CallerEvent::StartSent);
    }

    fn send_activity(&mut self, s: &mut Shared, activity: &Value) {
        s.send(format!(
            r#"{{"type":"activities","conversationId":{},"activities":[{activity}]}}"#,
            json_str(&self.conversation_id)
        ));
    }

    fn send_session_end(&mut self, s: &mut Shared) {
        s.send(format!(
            r#"{{"type":"session.end","conversationId":{},"reasonCode":"client-disconnected","reason":"Client Side"}}"#,
            json_str(&self.conversation_id)
        ));
        self.phase = Phase::Done;
    }

    /// VAIC gives up on the call after the bot broke the handshake.
    fn fail(&mut self, s: &mut Shared, violation: String) {
        s.violation(violation);
        self.phase = Phase::Done;
        s.end(Party::Caller, "the bot broke the session handshake".to_owned());
    }

    fn accepted(&self) -> bool {
        !matches!(self.phase, Phase::Initiating { .. } | Phase::Resuming { .. })
    }

    /// The answer to `session.resume`: the conversation goes on in the
    /// format it had (the official SDK's answer may name none).
    fn on_resumed(&mut self, s: &mut Shared, format: Option<&str>) {
        let current = self.format.as_ref().map(|(name, _, _)| name.as_str());
        if let Some(format) = format
            && current != Some(format)
        {
            let was = current.unwrap_or("none");
            s.violation(format!(
                "session.accepted for a resume in `{format}`; the call was in `{was}`"
            ));
        }
        s.rec.event(s.now, CallerEvent::Resumed);
        s.send(format!(
            r#"{{"type":"userStream.start","conversationId":{}}}"#,
            json_str(&self.conversation_id)
        ));
        self.phase = Phase::Starting { deadline: s.now + self.options.answer_timeout };
    }

    fn on_accepted(&mut self, s: &mut Shared, format: Option<&str>) {
        if matches!(self.phase, Phase::Resuming { .. }) {
            self.on_resumed(s, format);
            return;
        }
        if !matches!(self.phase, Phase::Initiating { .. }) {
            s.violation("session.accepted without a pending session.initiate".to_owned());
            return;
        }
        let Some(format) = format else {
            self.fail(s, "session.accepted without a mediaFormat".to_owned());
            return;
        };
        let offered = self.options.supported_formats.iter().any(|f| f == format);
        let audio = media_format(format).filter(|_| offered);
        let Some(audio) = audio else {
            let offer = self.options.supported_formats.join(", ");
            self.fail(
                s,
                format!(
                    "session.accepted with mediaFormat `{format}`, which was not offered ({offer})"
                ),
            );
            return;
        };
        self.format = Some((format.to_owned(), audio, FrameBank::get(audio)));
        s.rec.setup_done(s.now);
        s.rec.event(s.now, CallerEvent::SessionAccepted { media_format: format.to_owned() });
        let start = serde_json::json!({
            "type": "event",
            "name": "start",
            "id": self.rng.uuid(),
            "timestamp": rfc3339(SystemTime::now()),
            "language": "en-US",
            "parameters": {"caller": self.caller, "callee": self.callee},
        });
        self.send_activity(s, &start);
        s.send(format!(
            r#"{{"type":"userStream.start","conversationId":{}}}"#,
            json_str(&self.conversation_id)
        ));
        self.phase = Phase::Starting { deadline: s.now + self.options.answer_timeout };
    }

    fn on_play_start(&mut self, s: &mut Shared, stream_id: &str, format: Option<&str>) {
        if let Some(format) = format
            && self.format.as_ref().is_some_and(|(name, _, _)| name != format)
        {
            s.violation(format!("playStream.start in `{format}`, not the session's mediaFormat"));
        }
        if let Some(active) = self.play.as_deref() {
            s.violation(format!(
                "playStream.start `{stream_id}` while play stream `{active}` is active (stop it first)"
            ));
        }
        // The new stream is taken as the active one, so one missing stop
        // is reported once rather than on every chunk after it.
        self.play = Some(stream_id.to_owned());
        s.rec.event(s.now, CallerEvent::PlayStreamStarted { stream_id: stream_id.to_owned() });
    }

    fn on_play_chunk(&mut self, s: &mut Shared, stream_id: &str, chunk: &str) {
        match self.play.as_deref() {
            None => {
                s.violation(format!(
                    "playStream.chunk for `{stream_id}` with no active play stream"
                ));
                return;
            }
            Some(active) if active != stream_id => {
                s.violation(format!(
                    "playStream.chunk for `{stream_id}` while `{active}` is the active stream"
                ));
                return;
            }
            Some(_) => {}
        }
        let Some((_, format, _)) = self.format else { return };
        s.scratch.clear();
        if STANDARD.decode_vec(chunk, &mut s.scratch).is_err() {
            s.violation("playStream.chunk audioChunk is not base64".to_owned());
            return;
        }
        let bytes = s.scratch.len();
        if bytes == 0 {
            s.violation("playStream.chunk with an empty audioChunk".to_owned());
            return;
        }
        if !bytes.is_multiple_of(format.bytes_per_sample()) {
            s.violation(format!("playStream.chunk of {bytes} bytes is not whole 16-bit samples"));
            return;
        }
        s.agent_audio(bytes, format.duration_of(bytes as u64));
        if let Some(max) = self.options.max_ahead
            && s.ear.ahead(s.now) > max
        {
            s.violation(format!(
                "play stream audio ran more than {} ms ahead of playback (send it at about the playback rate)",
                max.as_millis()
            ));
        }
    }

    fn on_play_stop(&mut self, s: &mut Shared, stream_id: &str) {
        match self.play.as_deref() {
            Some(active) if active == stream_id => {
                self.play = None;
                s.rec.event(
                    s.now,
                    CallerEvent::PlayStreamStopped { stream_id: stream_id.to_owned() },
                );
            }
            Some(active) => {
                s.violation(format!(
                    "playStream.stop for `{stream_id}` while `{active}` is the active stream"
                ));
            }
            None => {
                s.violation(format!(
                    "playStream.stop for `{stream_id}` with no active play stream"
                ));
            }
        }
    }

    fn on_speech(&mut self, s: &mut Shared, kind: &str) {
        s.rec.detail(s.now, CallerEvent::BotSpeech { kind: kind.to_owned() });
        let barge_in = matches!(kind, "userStream.speech.started" | "userStream.speech.hypothesis");
        if barge_in && self.options.barge_in_on_speech && s.ear.ahead(s.now) > Duration::ZERO {
            s.clear();
        }
    }

    fn on_activities(&mut self, s: &mut Shared, activities: Vec<Activity>) {
        if activities.is_empty() {
            s.violation("activities with an empty list".to_owned());
            return;
        }
        for activity in activities {
            match (activity.kind.as_str(), activity.name.as_deref(), activity.text.as_deref()) {
                ("event", Some(name), None) if BOT_ACTIVITY_EVENTS.contains(&name) => {
                    s.rec.event(s.now, CallerEvent::BotActivity { name: name.to_owned() });
                    match name {
                        "hangup" => s.end(Party::Bot, "hangup activity".to_owned()),
                        "abortPrompts" if s.ear.ahead(s.now) > Duration::ZERO => s.clear(),
                        _ => {}
                    }
                }
                ("event", Some(name), None) => {
                    s.violation(format!("unknown event activity `{name}`"));
                }
                ("event", None, _) => s.violation("an event activity without a name".to_owned()),
                ("message", None, Some(text)) => {
                    s.rec.event(s.now, CallerEvent::BotText { text: text.to_owned() });
                }
                ("message", _, None) => s.violation("a message activity without text".to_owned()),
                (kind @ ("event" | "message"), _, _) => {
                    s.violation(format!("a `{kind}` activity with both name and text"));
                }
                (kind, _, _) => s.violation(format!("unknown activity type `{kind}`")),
            }
        }
    }
}

impl Carrier for AudioCodes {
    fn call_ref(&self) -> &str {
        &self.conversation_id
    }

    fn open(&mut self, s: &mut Shared) {
        self.send_initiate(s);
    }

    fn media_flowing(&self) -> bool {
        self.phase == Phase::Streaming
    }

    fn audio(&mut self, s: &mut Shared, voice: Voice) {
        let Some((_, _, bank)) = self.format else { return };
        let payload = s.stamped(bank.frame(voice));
        let mut text = String::with_capacity(payload.len() + 120);
        let _ = write!(
            text,
            r#"{{"type":"userStream.chunk","conversationId":{},"audioChunk":"{payload}"}}"#,
            json_str(&self.conversation_id)
        );
        s.send_audio(text, bank.frame_bytes);
    }

    fn dtmf(&mut self, s: &mut Shared, digit: char) {
        let activity = serde_json::json!({
            "type": "event",
            "name": "dtmf",
            "value": digit.to_string(),
            "id": self.rng.uuid(),
            "timestamp": rfc3339(SystemTime::now()),
        });
        self.send_activity(s, &activity);
    }

    fn echo_mark(&mut self, s: &mut Shared, name: &str) {
        // The Bot API has no marks; nothing can be due.
        let _ = (s, name);
    }

    fn hang_up(&mut self, s: &mut Shared) {
        match self.phase {
            Phase::Streaming if self.options.stop_user_stream => {
                s.send(format!(
                    r#"{{"type":"userStream.stop","conversationId":{}}}"#,
                    json_str(&self.conversation_id)
                ));
                self.phase = Phase::Stopping { deadline: s.now + self.options.answer_timeout };
            }
            Phase::Done => {}
            _ => self.send_session_end(s),
        }
    }

    fn closing(&self) -> bool {
        matches!(self.phase, Phase::Stopping { .. })
    }

    fn text(&mut self, s: &mut Shared, text: &str) {
        let message: BotMessage<'_> = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(error) => {
                s.violation(format!("a message that breaks the Bot API schema: {error}"));
                return;
            }
        };
        let kind = message.kind.as_ref();
        let Some((allowed, required)) = fields_of(kind) else {
            s.violation(format!("unknown message type `{kind}`"));
            return;
        };
        if let Some(field) = message.present().find(|field| !allowed.contains(field)) {
            s.violation(format!("`{kind}` with an unexpected field `{field}`"));
            return;
        }
        if let Some(field) = required.iter().find(|field| !message.present().any(|p| p == **field))
        {
            s.violation(format!("`{kind}` without the required field `{field}`"));
            return;
        }
        if let Some(id) = message.conversation_id.as_deref()
            && id != self.conversation_id
        {
            s.violation(format!("`{kind}` for conversationId `{id}`, not this conversation's"));
            return;
        }
        if self.phase == Phase::Done {
            return;
        }
        if !self.accepted() && !matches!(kind, "session.accepted" | "session.error") {
            s.violation(format!("`{kind}` before session.accepted"));
            return;
        }
        match kind {
            "connection.validated" => {
                s.violation(
                    "connection.validated in a call (only a validation connection asks for it)"
                        .to_owned(),
                );
            }
            "session.accepted" => self.on_accepted(s, message.media_format.as_deref()),
            "session.error" => {
                let reason = message.reason.as_deref().unwrap_or("no reason given");
                self.phase = Phase::Done;
                s.end(Party::Bot, format!("session.error: {reason}"));
            }
            "userStream.started" => {
                if matches!(self.phase, Phase::Starting { .. }) {
                    self.phase = Phase::Streaming;
                    s.rec.event(s.now, CallerEvent::UserStreamStarted);
                } else {
                    s.violation("userStream.started without a pending userStream.start".to_owned());
                }
            }
            "userStream.stopped" => {
                if matches!(self.phase, Phase::Stopping { .. }) {
                    self.send_session_end(s);
                } else {
                    s.violation("userStream.stopped without a pending userStream.stop".to_owned());
                }
            }
            "playStream.start" => {
                let id = message.stream_id.as_deref().unwrap_or_default();
                self.on_play_start(s, id, message.media_format.as_deref());
            }
            "playStream.chunk" => {
                let id = message.stream_id.as_deref().unwrap_or_default();
                let chunk = message.audio_chunk.as_deref().unwrap_or_default();
                self.on_play_chunk(s, id, chunk);
            }
            "playStream.stop" => {
                self.on_play_stop(s, message.stream_id.as_deref().unwrap_or_default());
            }
            "activities" => self.on_activities(s, message.activities.unwrap_or_default()),
            _ => {
                if let Some(alternatives) = &message.alternatives
                    && (alternatives.is_empty()
                        || alternatives
                            .iter()
                            .any(|a| a.confidence.is_some_and(|c| !(0.0..=1.0).contains(&c))))
                {
                    s.violation(format!(
                        "`{kind}` with an empty alternatives list or a confidence outside [0, 1]"
                    ));
                }
                self.on_speech(s, kind);
            }
        }
    }

    fn binary(&mut self, s: &mut Shared, len: usize) {
        s.violation(format!("a binary frame ({len} bytes); Bot API messages are JSON text"));
    }

    fn poll(&mut self, s: &mut Shared) {
        let timeout = self.options.answer_timeout.as_millis();
        match self.phase {
            Phase::Initiating { deadline } if s.now >= deadline => {
                self.fail(s, format!("no session.accepted within {timeout} ms"));
            }
            Phase::Starting { deadline } if s.now >= deadline => {
                self.fail(s, format!("no userStream.started within {timeout} ms"));
            }
            Phase::Stopping { deadline } if s.now >= deadline => {
                s.violation(format!("no userStream.stopped within {timeout} ms"));
                self.send_session_end(s);
            }
            Phase::Resuming { deadline } if s.now >= deadline => {
                self.fail(s, format!("no answer to session.resume within {timeout} ms"));
            }
            _ => {}
        }
    }

    fn next_deadline(&self) -> Option<Duration> {
        match self.phase {
            Phase::Initiating { deadline }
            | Phase::Starting { deadline }
            | Phase::Stopping { deadline }
            | Phase::Resuming { deadline } => Some(deadline),
            Phase::Streaming | Phase::Done | Phase::Away => None,
        }
    }

    fn setup_on_first_message(&self) -> bool {
        false
    }

    fn socket_dropped(&mut self, s: &mut Shared) {
        // The play stream lived on the old socket; the bot must start a new
        // one on the new socket. What VAIC had buffered keeps playing.
        let _ = s;
        self.play = None;
        self.phase = Phase::Away;
    }

    fn reopened(&mut self, s: &mut Shared) {
        s.send(format!(
            r#"{{"type":"session.resume","conversationId":{}}}"#,
            json_str(&self.conversation_id)
        ));
        self.phase = Phase::Resuming { deadline: s.now + self.options.answer_timeout };
    }
}
