//! One AudioCodes Bot API conversation as pure state: the session
//! handshake, the user stream, one paced play stream at a time, and
//! playout estimated from the audio sent and the wall clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use turngate_audio::{AudioFormat, SampleRate};
use turngate_core::{Event, Input, MarkId, Role, TransportCommand};

use super::wire::{self, AcFormat, Activity, Inbound};
use crate::transport::{
    CallInfo, Decoded, Frame, HangUpSupport, JsonOut, Limits, MarkSupport, Notice, OutFrame,
    Playout, ProviderId, ResumeAnswer, Transport, TransportCaps, WireCounters, WireError,
    b64_decode, bytes_for, check_audio, dtmf_digit, earliest, push_json_str,
};

/// How an AudioCodes conversation behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioCodesConfig {
    /// Size caps on inbound messages.
    pub limits: Limits,
    /// How long after the socket opened `session.initiate` (or the answer
    /// to a `session.resume`) may take.
    pub start_timeout: Duration,
    /// The formats we accept, best first; the first one VoiceAI Connect
    /// offers in `supportedMediaFormats` is chosen. The default prefers
    /// µ-law (no transcoding for a µ-law backend), then 24 kHz PCM (OpenAI
    /// `audio/pcm`), then 16 kHz and 8 kHz PCM. A backend that cannot take
    /// µ-law should drop it from the list.
    pub preferred_formats: Vec<AudioFormat>,
    /// How much audio may be queued at VoiceAI Connect ahead of the
    /// estimated playout. The rest waits here and is sent at the playback
    /// rate (the protocol asks for that), so a barge-in has at most this
    /// much audio left to flush at the peer.
    pub lead: Duration,
    /// The audio in one `playStream.chunk`.
    pub chunk: Duration,
    /// Added to the estimate of when audio was heard: the peer's own
    /// buffering and the network. Erring late keeps truncation from
    /// claiming audio the caller had not heard yet.
    pub playout_delay: Duration,
    /// Report the caller's speech to VoiceAI Connect (`userStream.speech.*`)
    /// from the session's events; its own barge-in relies on them.
    pub mirror_speech: bool,
}

impl Default for AudioCodesConfig {
    fn default() -> Self {
        AudioCodesConfig {
            limits: Limits::default(),
            start_timeout: Duration::from_secs(5),
            preferred_formats: vec![
                AudioFormat::Ulaw,
                AudioFormat::Pcm16(SampleRate::Hz24000),
                AudioFormat::Pcm16(SampleRate::Hz16000),
                AudioFormat::Pcm16(SampleRate::Hz8000),
            ],
            lead: Duration::from_millis(300),
            chunk: Duration::from_millis(100),
            playout_delay: Duration::from_millis(100),
            mirror_speech: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    AwaitingInitiate,
    /// `session.resume` on a fresh socket; the server decides.
    AwaitingResumeAnswer(String),
    Active,
    Ended,
}

/// Audio waiting to be sent, with the mark that follows it.
#[derive(Debug)]
struct Queued {
    bytes: Vec<u8>,
    /// Bytes of it sent so far.
    sent: usize,
    /// How long the bytes sent so far play, summed chunk by chunk exactly
    /// as [`Player::sent`] was, so that flushing or confirming them never
    /// accounts for more than was sent.
    sent_duration: Duration,
    mark: MarkId,
}

/// The play side: one stream at a time, paced, playout estimated.
///
/// ```text
///   Play ──▶ queue ──(paced: at most `lead` ahead of the cursor)──▶ playStream.chunk
///                                 │ last byte of a Play sent
///                                 ▼
///                 pending mark, due at cursor + playout_delay ──(wall clock)──▶ Input::PlaybackMark
/// ```
/// The cursor is when everything sent so far should have finished playing,
/// if the peer plays it back to back from when it arrives.
#[derive(Debug, Default)]
struct Player {
    /// The active stream's number (`streamId` `play-<n>`).
    stream: Option<u64>,
    streams_started: u64,
    queue: VecDeque<Queued>,
    cursor: Option<Instant>,
    pending: VecDeque<(MarkId, Instant, Duration)>,
    sent: Duration,
    queued: Duration,
    confirmed: Duration,
    flushed: Duration,
}

/// One AudioCodes VoiceAI Connect conversation (Bot API, streaming mode).
///
/// The protocol has no playout acknowledgment, so marks are
/// [`MarkSupport::Estimated`]: audio is paced out at the playback rate and
/// each `Play`'s mark comes back from [`Transport::on_timeout`] once the
/// wall clock says its audio has played (plus `playout_delay`). Caller
/// audio and `Play` audio are the negotiated format's raw bytes (PCM
/// little-endian).
#[derive(Debug)]
pub struct AudioCodesTransport {
    config: AudioCodesConfig,
    state: State,
    start_deadline: Option<Instant>,
    call: Option<CallInfo>,
    format: Option<AcFormat>,
    user_stream: bool,
    call_ended: bool,
    player: Player,
    counters: WireCounters,
}

impl AudioCodesTransport {
    /// A conversation whose socket opened at `now`.
    pub fn new(config: AudioCodesConfig, now: Instant) -> AudioCodesTransport {
        // A timeout too large to add means no deadline at all.
        let start_deadline = now.checked_add(config.start_timeout);
        AudioCodesTransport {
            config,
            state: State::AwaitingInitiate,
            start_deadline,
            call: None,
            format: None,
            user_stream: false,
            call_ended: false,
            player: Player::default(),
            counters: WireCounters::default(),
        }
    }

    /// The negotiated media format, once accepted.
    pub fn media_format(&self) -> Option<AcFormat> {
        self.format
    }

    fn decode(&mut self, frame: Frame<'_>, out: &mut Decoded) -> Result<(), WireError> {
        // The official SDK reads text and binary messages alike, so JSON in
        // a binary frame is accepted; anything else in one is not.
        let text = match frame {
            Frame::Text(text) => text,
            Frame::Binary(bytes) => std::str::from_utf8(bytes)
                .map_err(|_| WireError::BinaryFrame { len: bytes.len() })?,
        };
        self.config.limits.check(text.len())?;
        let inbound = wire::classify(text)?;
        if self.state == State::Ended {
            return Err(WireError::OutOfOrder {
                event: inbound.name(),
                reason: "after the session ended",
            });
        }
        match inbound {
            Inbound::Validate => {
                out.replies.push(OutFrame::Text(
                    JsonOut::object(48)
                        .str("type", "connection.validated")
                        .bool("success", true)
                        .finish(),
                ));
                out.notices.push(Notice::Validated);
            }
            Inbound::Initiate { conversation_id, caller, bot_name, expect_audio, supported } => {
                if self.state != State::AwaitingInitiate {
                    return Err(WireError::OutOfOrder {
                        event: "session.initiate",
                        reason: "a second initiate",
                    });
                }
                if expect_audio == Some(false) {
                    self.reject(
                        &conversation_id,
                        "expectAudioMessages must be true: this bot streams audio",
                        out,
                    );
                    return Ok(());
                }
                // Without the field, the SDK's default format is offered.
                let supported =
                    supported.unwrap_or_else(|| vec![AcFormat::Lpcm16.as_str().to_owned()]);
                let chosen = self
                    .config
                    .preferred_formats
                    .iter()
                    .filter_map(|f| AcFormat::for_format(*f))
                    .find(|f| supported.iter().any(|s| s == f.as_str()));
                let Some(chosen) = chosen else {
                    self.reject(&conversation_id, "No common media format", out);
                    return Ok(());
                };
                let mut call =
                    CallInfo { call_id: conversation_id, from: caller, ..CallInfo::default() };
                if let Some(bot) = bot_name {
                    call.custom.insert("botName".to_owned(), bot);
                }
                self.accept(chosen, true, call, out);
            }
            Inbound::Resume { conversation_id } => match &self.state {
                State::AwaitingInitiate => {
                    out.notices
                        .push(Notice::ResumeRequested { conversation_id: conversation_id.clone() });
                    self.state = State::AwaitingResumeAnswer(conversation_id);
                }
                State::Active => {
                    // A resume on the socket that carries the conversation.
                    let ours = self.call.as_ref().is_some_and(|c| c.call_id == conversation_id);
                    if !ours {
                        return Err(WireError::WrongStream);
                    }
                    let format = self.format.unwrap_or(AcFormat::Lpcm16);
                    out.replies.push(accepted(Some(format)));
                }
                _ => {
                    return Err(WireError::OutOfOrder {
                        event: "session.resume",
                        reason: "awaiting an answer",
                    });
                }
            },
            Inbound::End { conversation_id, reason } => {
                self.check_conversation("session.end", conversation_id.as_deref())?;
                self.player_flush();
                self.end_call(out);
                self.state = State::Ended;
                out.notices.push(Notice::Ended { reason: Some(reason).filter(|r| !r.is_empty()) });
            }
            Inbound::StreamStart { conversation_id } => {
                self.check_conversation("userStream.start", conversation_id.as_deref())?;
                self.user_stream = true;
                out.replies.push(OutFrame::Text(
                    JsonOut::object(32).str("type", "userStream.started").finish(),
                ));
            }
            Inbound::StreamChunk { conversation_id, audio } => {
                let format =
                    self.check_conversation("userStream.chunk", conversation_id.as_deref())?;
                if !self.user_stream {
                    return Err(WireError::OutOfOrder {
                        event: "userStream.chunk",
                        reason: "before userStream.start",
                    });
                }
                let audio = check_audio(b64_decode(&audio)?, format.format())?;
                self.counters.media_in += 1;
                out.inputs.push(Input::CallerAudio(audio));
            }
            Inbound::StreamStop { conversation_id } => {
                self.check_conversation("userStream.stop", conversation_id.as_deref())?;
                self.user_stream = false;
                out.replies.push(OutFrame::Text(
                    JsonOut::object(32).str("type", "userStream.stopped").finish(),
                ));
            }
            Inbound::Activities { conversation_id, activities } => {
                self.check_conversation("activities", conversation_id.as_deref())?;
                self.activities(activities, out)?;
            }
        }
        Ok(())
    }

    /// Messages of a call need an accepted session, and must name it.
    fn check_conversation(
        &self,
        event: &'static str,
        id: Option<&str>,
    ) -> Result<AcFormat, WireError> {
        let (State::Active, Some(format)) = (&self.state, self.format) else {
            return Err(WireError::OutOfOrder { event, reason: "before the session was accepted" });
        };
        match (id, self.call.as_ref()) {
            (Some(id), Some(call)) if id != call.call_id => Err(WireError::WrongStream),
            _ => Ok(format),
        }
    }

    fn activities(
        &mut self,
        activities: Vec<Activity>,
        out: &mut Decoded,
    ) -> Result<(), WireError> {
        enum Effect {
            Start(serde_json::Map<String, serde_json::Value>),
            Digits(Vec<char>),
            HangUp,
            Ignored,
        }
        // Validate the whole message before acting on any of it.
        let mut effects = Vec::with_capacity(activities.len());
        for activity in activities {
            let effect = match (activity.kind.as_deref(), activity.name.as_deref()) {
                (Some("event"), Some("start")) => {
                    Effect::Start(activity.parameters.unwrap_or_default())
                }
                (Some("event"), Some("dtmf")) => {
                    let value = match activity.value {
                        Some(serde_json::Value::String(s)) => s,
                        Some(serde_json::Value::Number(n)) => n.to_string(),
                        _ => {
                            return Err(WireError::BadField {
                                field: "dtmf value",
                                detail: "absent".to_owned(),
                            });
                        }
                    };
                    let digits = value
                        .chars()
                        .map(|c| dtmf_digit(c.encode_utf8(&mut [0; 4])))
                        .collect::<Result<Vec<char>, WireError>>()?;
                    Effect::Digits(digits)
                }
                (Some("event"), Some("hangup")) => Effect::HangUp,
                // `noUserInput`, `playFinished`, text messages and the rest:
                // known to the protocol, nothing for the session.
                _ => Effect::Ignored,
            };
            effects.push(effect);
        }
        for effect in effects {
            match effect {
                Effect::Start(parameters) => {
                    let Some(call) = self.call.as_mut() else { continue };
                    for (key, value) in parameters {
                        let value = match value {
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        match key.as_str() {
                            "caller" if call.from.is_none() => call.from = Some(value.clone()),
                            "callee" => call.to = Some(value.clone()),
                            _ => {}
                        }
                        call.custom.insert(key, value);
                    }
                }
                Effect::Digits(digits) => {
                    out.inputs.extend(digits.into_iter().map(|digit| Input::Dtmf { digit }));
                }
                Effect::HangUp => self.end_call(out),
                Effect::Ignored => self.counters.ignored += 1,
            }
        }
        Ok(())
    }

    fn accept(&mut self, format: AcFormat, with_format: bool, call: CallInfo, out: &mut Decoded) {
        out.replies.push(accepted(with_format.then_some(format)));
        self.format = Some(format);
        self.call = Some(call);
        self.state = State::Active;
        self.start_deadline = None;
        out.notices.push(Notice::CallStarted);
    }

    fn reject(&mut self, conversation_id: &str, reason: &str, out: &mut Decoded) {
        out.replies.push(OutFrame::Text(
            JsonOut::object(64 + reason.len())
                .str("type", "session.error")
                .str("conversationId", conversation_id)
                .str("reason", reason)
                .finish(),
        ));
        out.replies.push(OutFrame::Close);
        out.notices.push(Notice::Rejected { reason: reason.to_owned() });
        self.state = State::Ended;
        self.start_deadline = None;
    }

    fn end_call(&mut self, out: &mut Decoded) {
        if !self.call_ended {
            self.call_ended = true;
            out.inputs.push(Input::CallEnded);
        }
    }

    // ---- The play side ------------------------------------------------------

    fn out_format(&self) -> Option<AudioFormat> {
        self.format.map(AcFormat::format)
    }

    /// Sends queued audio while at most `lead` would be ahead of playout.
    fn pump(&mut self, now: Instant, out: &mut Vec<OutFrame>) {
        let Some(format) = self.out_format() else { return };
        let chunk = bytes_for(format, self.config.chunk).max(format.bytes_per_sample());
        while let Some(front) = self.player.queue.front_mut() {
            let remaining = front.bytes.len().saturating_sub(front.sent);
            let take = remaining.min(chunk);
            let duration = format.duration_of(take as u64);
            let ahead =
                self.player.cursor.map_or(Duration::ZERO, |c| c.saturating_duration_since(now));
            if !ahead.is_zero() && ahead + duration > self.config.lead {
                break;
            }
            if take > 0 {
                let stream = match self.player.stream {
                    Some(stream) => stream,
                    None => {
                        self.player.streams_started += 1;
                        let stream = self.player.streams_started;
                        self.player.stream = Some(stream);
                        let id = format!("play-{stream}");
                        let media =
                            AcFormat::for_format(format).map_or("raw/lpcm16", AcFormat::as_str);
                        out.push(OutFrame::Text(
                            JsonOut::object(80)
                                .str("type", "playStream.start")
                                .str("streamId", &id)
                                .str("mediaFormat", media)
                                .finish(),
                        ));
                        stream
                    }
                };
                let piece = front.bytes.get(front.sent..front.sent + take).unwrap_or_default();
                let id = format!("play-{stream}");
                out.push(OutFrame::Text(
                    JsonOut::object(64 + take.div_ceil(3) * 4)
                        .str("type", "playStream.chunk")
                        .str("streamId", &id)
                        .b64("audioChunk", piece)
                        .finish(),
                ));
                front.sent += take;
                front.sent_duration += duration;
                let start = self.player.cursor.map_or(now, |c| c.max(now));
                self.player.cursor = Some(start + duration);
                self.player.sent += duration;
                self.player.queued = self.player.queued.saturating_sub(duration);
            }
            if front.sent >= front.bytes.len() {
                let mark = front.mark;
                let total = front.sent_duration;
                self.player.queue.pop_front();
                let heard_at =
                    self.player.cursor.map_or(now, |c| c.max(now)) + self.config.playout_delay;
                self.player.pending.push_back((mark, heard_at, total));
            }
        }
    }

    /// When the next paced chunk may go.
    fn next_send(&self) -> Option<Instant> {
        let format = self.out_format()?;
        let front = self.player.queue.front()?;
        let chunk = bytes_for(format, self.config.chunk).max(format.bytes_per_sample());
        let take = front.bytes.len().saturating_sub(front.sent).min(chunk);
        let duration = format.duration_of(take as u64);
        let cursor = self.player.cursor?;
        // Sendable once `cursor - now + duration <= lead`, or when nothing is ahead.
        let slack = self.config.lead.saturating_sub(duration);
        Some(cursor.checked_sub(slack).unwrap_or(cursor))
    }

    /// When the idle play stream is stopped: once everything sent has played.
    /// (An open stream always has a cursor: the chunk that opened it set one.)
    fn stop_at(&self) -> Option<Instant> {
        if self.player.stream.is_none()
            || !self.player.queue.is_empty()
            || !self.player.pending.is_empty()
        {
            return None;
        }
        self.player.cursor
    }

    fn stop_stream(&mut self, out: &mut Vec<OutFrame>) {
        if let Some(stream) = self.player.stream.take() {
            let id = format!("play-{stream}");
            out.push(OutFrame::Text(
                JsonOut::object(48).str("type", "playStream.stop").str("streamId", &id).finish(),
            ));
        }
    }

    /// Drops everything not yet heard (a clear, the end of the call). Audio
    /// never sent is simply dropped; what was sent and not yet confirmed
    /// (the sent part of the front entry, every pending mark's audio) is
    /// flushed. (Counting the unsent audio as flushed once made the account
    /// claim more than was sent; found by the audiocodes_frame fuzzer.)
    fn player_flush(&mut self) {
        self.player.queued = Duration::ZERO;
        if let Some(front) = self.player.queue.front() {
            self.player.flushed += front.sent_duration;
        }
        self.player.queue.clear();
        for (_, _, duration) in self.player.pending.drain(..) {
            self.player.flushed += duration;
        }
        self.player.cursor = None;
        // Callers that can still reach the peer stop the stream first.
        self.player.stream = None;
    }
}

fn accepted(format: Option<AcFormat>) -> OutFrame {
    OutFrame::Text(
        JsonOut::object(64)
            .str("type", "session.accepted")
            .opt_str("mediaFormat", format.map(AcFormat::as_str))
            .finish(),
    )
}

impl Transport for AudioCodesTransport {
    fn provider(&self) -> ProviderId {
        ProviderId::AudioCodes
    }

    fn capabilities(&self) -> TransportCaps {
        TransportCaps {
            inbound: self.out_format(),
            outbound: self.out_format(),
            marks: MarkSupport::Estimated,
            clear: true,
            dtmf: true,
            playback_ended: false,
            hang_up: HangUpSupport::InBand,
        }
    }

    fn call(&self) -> Option<&CallInfo> {
        self.call.as_ref()
    }

    fn on_frame(
        &mut self,
        _now: Instant,
        frame: Frame<'_>,
        out: &mut Decoded,
    ) -> Result<(), WireError> {
        self.counters.frames_in += 1;
        let before = out.replies.len();
        let result = self.decode(frame, out);
        match &result {
            Ok(()) => self.counters.frames_out += out.replies.len().saturating_sub(before) as u64,
            Err(error) => self.counters.record(error),
        }
        result
    }

    fn encode(&mut self, now: Instant, command: TransportCommand, out: &mut Vec<OutFrame>) {
        let before = out.len();
        match command {
            _ if self.state != State::Active || self.format.is_none() => {
                self.counters.commands_dropped += 1;
            }
            TransportCommand::Play { item_id: _, audio, mark } => {
                let duration = self
                    .out_format()
                    .map_or(audio.duration, |f| f.duration_of(audio.payload.len() as u64));
                self.player.queued += duration;
                self.player.queue.push_back(Queued {
                    bytes: audio.payload,
                    sent: 0,
                    sent_duration: Duration::ZERO,
                    mark,
                });
                self.pump(now, out);
            }
            TransportCommand::Clear => {
                self.stop_stream(out);
                self.player_flush();
            }
            TransportCommand::HangUp => {
                self.stop_stream(out);
                self.player_flush();
                out.push(OutFrame::Text(
                    JsonOut::object(80)
                        .str("type", "activities")
                        .raw("activities", r#"[{"type":"event","name":"hangup"}]"#)
                        .finish(),
                ));
            }
        }
        self.counters.frames_out += out.len().saturating_sub(before) as u64;
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let start = match self.state {
            State::AwaitingInitiate | State::AwaitingResumeAnswer(_) => self.start_deadline,
            _ => None,
        };
        let mark = self.player.pending.front().map(|(_, due, _)| *due);
        earliest([start, self.next_send(), mark, self.stop_at()])
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Decoded) {
        if matches!(self.state, State::AwaitingInitiate | State::AwaitingResumeAnswer(_))
            && self.start_deadline.is_some_and(|d| d <= now)
        {
            self.start_deadline = None;
            self.state = State::Ended;
            out.replies.push(OutFrame::Close);
            out.notices.push(Notice::StartTimedOut);
            return;
        }
        let before = out.replies.len();
        self.pump(now, &mut out.replies);
        while let Some(&(mark, due, duration)) = self.player.pending.front() {
            if due > now {
                break;
            }
            self.player.pending.pop_front();
            self.player.confirmed += duration;
            out.inputs.push(Input::PlaybackMark(mark));
        }
        if self.stop_at().is_some_and(|at| at <= now) {
            self.stop_stream(&mut out.replies);
            self.player.cursor = None;
        }
        self.counters.frames_out += out.replies.len().saturating_sub(before) as u64;
    }

    fn playout(&self) -> Playout {
        Playout {
            sent: self.player.sent,
            queued: self.player.queued,
            confirmed: self.player.confirmed,
            flushed: self.player.flushed,
            outstanding_marks: self.player.queue.len() + self.player.pending.len(),
        }
    }

    fn counters(&self) -> &WireCounters {
        &self.counters
    }

    fn on_event(&mut self, _now: Instant, event: &Event, out: &mut Vec<OutFrame>) {
        if !self.config.mirror_speech || self.state != State::Active {
            return;
        }
        let frame = match event {
            Event::UserSpeaking(true) => {
                JsonOut::object(40).str("type", "userStream.speech.started").finish()
            }
            Event::UserSpeaking(false) => {
                JsonOut::object(40).str("type", "userStream.speech.stopped").finish()
            }
            Event::TurnQueued { .. } => {
                JsonOut::object(40).str("type", "userStream.speech.committed").finish()
            }
            Event::Transcript { role: Role::User, text } => {
                let mut alternatives = String::with_capacity(text.len() + 16);
                alternatives.push_str("[{\"text\":");
                push_json_str(&mut alternatives, text);
                alternatives.push_str("}]");
                JsonOut::object(64 + alternatives.len())
                    .str("type", "userStream.speech.recognition")
                    .raw("alternatives", &alternatives)
                    .finish()
            }
            _ => return,
        };
        out.push(OutFrame::Text(frame));
        self.counters.frames_out += 1;
    }

    fn resumable(&self) -> bool {
        self.state == State::Active && !self.call_ended
    }

    fn resumed(&mut self, _now: Instant, out: &mut Vec<OutFrame>) {
        if !self.resumable() {
            return;
        }
        // The play stream lived on the old socket: what is still queued
        // goes out under a new `playStream.start`. VoiceAI Connect opens
        // its user stream again on the new socket.
        self.player.stream = None;
        self.user_stream = false;
        out.push(accepted(self.format));
        self.counters.frames_out += 1;
    }

    fn refuse(&mut self, _now: Instant, reason: &str, out: &mut Vec<OutFrame>) {
        // `session.error` is the Bot API's refusal of a conversation,
        // whether it was initiated or resumed on this socket.
        let conversation_id = match &self.state {
            State::AwaitingResumeAnswer(id) => id.clone(),
            State::Active => self.call.as_ref().map(|c| c.call_id.clone()).unwrap_or_default(),
            State::AwaitingInitiate | State::Ended => return,
        };
        let mut decoded = Decoded::default();
        self.reject(&conversation_id, reason, &mut decoded);
        decoded.replies.retain(|frame| !matches!(frame, OutFrame::Close));
        self.counters.frames_out += decoded.replies.len() as u64;
        out.append(&mut decoded.replies);
    }

    fn answer_resume(&mut self, _now: Instant, answer: ResumeAnswer, out: &mut Vec<OutFrame>) {
        let State::AwaitingResumeAnswer(conversation_id) = &self.state else {
            return;
        };
        let conversation_id = conversation_id.clone();
        let mut decoded = Decoded::default();
        match answer {
            ResumeAnswer::Accept { format } => {
                let known = format.and_then(AcFormat::for_format);
                // Without the conversation's format the SDK's answer carries
                // none, and the protocol's default applies.
                let call = CallInfo { call_id: conversation_id, ..CallInfo::default() };
                self.accept(known.unwrap_or(AcFormat::Lpcm16), known.is_some(), call, &mut decoded);
            }
            ResumeAnswer::Reject { reason } => self.reject(&conversation_id, &reason, &mut decoded),
        }
        self.counters.frames_out += decoded.replies.len() as u64;
        out.append(&mut decoded.replies);
    }
}
