//! One Twilio Media Streams leg as pure state: frames to inputs, commands to
//! frames, marks to played milliseconds.

use std::time::{Duration, Instant};

use turngate_audio::AudioFormat;
use turngate_core::{Input, TransportCommand};

use super::wire::{self, Inbound};
use crate::transport::{
    CallInfo, Decoded, Echo, Frame, HangUpSupport, JsonOut, Limits, MarkLedger, MarkSupport,
    Notice, OutFrame, Playout, ProviderId, Transport, TransportCaps, WireCounters, WireError,
    b64_decode, bytes_for, check_audio, dtmf_digit,
};

/// How a Twilio leg behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TwilioConfig {
    /// Size caps on inbound frames.
    pub limits: Limits,
    /// How long after the socket opened `start` may take; past it the
    /// transport asks for the socket to be closed.
    pub start_timeout: Duration,
    /// Split each `Play` into `media` messages of at most this much audio
    /// (still one `mark` after the last). `None`, the default, sends one
    /// `media` message per `Play`: Twilio accepts payloads of any length,
    /// and the core already batches per upstream delta.
    pub max_media: Option<Duration>,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            limits: Limits::default(),
            start_timeout: Duration::from_secs(5),
            max_media: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingStart,
    Streaming,
    Ended,
}

/// One bidirectional Twilio Media Streams leg (`<Connect><Stream>`).
///
/// Caller audio is µ-law 8 kHz, passed on as raw bytes; `Play` audio must
/// be raw µ-law 8 kHz too (no WAV header). Each `Play` becomes `media` and
/// then a `mark` named after the core's [`MarkId`](turngate_core::MarkId),
/// so every chunk's playout is confirmed by its echo; a `clear` flushes the
/// marks still pending, and their echoes (Twilio returns them all) are
/// counted, not forwarded, since that audio was never heard.
#[derive(Debug)]
pub struct TwilioTransport {
    config: TwilioConfig,
    state: State,
    start_deadline: Option<Instant>,
    call: Option<CallInfo>,
    ledger: MarkLedger,
    counters: WireCounters,
}

impl TwilioTransport {
    /// A leg whose socket opened at `now`.
    pub fn new(config: TwilioConfig, now: Instant) -> TwilioTransport {
        // A timeout too large to add means no deadline at all.
        let start_deadline = now.checked_add(config.start_timeout);
        TwilioTransport {
            config,
            state: State::AwaitingStart,
            start_deadline,
            call: None,
            ledger: MarkLedger::default(),
            counters: WireCounters::default(),
        }
    }

    fn decode(&mut self, frame: Frame<'_>, out: &mut Decoded) -> Result<(), WireError> {
        let text = match frame {
            Frame::Text(text) => text,
            Frame::Binary(bytes) => return Err(WireError::BinaryFrame { len: bytes.len() }),
        };
        self.config.limits.check(text.len())?;
        let inbound = wire::classify(text)?;
        if self.state == State::Ended {
            return Err(WireError::OutOfOrder { event: name(&inbound), reason: "after stop" });
        }
        match inbound {
            Inbound::Connected => {
                if self.state != State::AwaitingStart {
                    return Err(WireError::OutOfOrder {
                        event: "connected",
                        reason: "after start",
                    });
                }
                out.notices.push(Notice::Connected);
            }
            Inbound::Start(start) => {
                if self.state != State::AwaitingStart {
                    return Err(WireError::OutOfOrder { event: "start", reason: "a second start" });
                }
                if let Some((encoding, rate, channels)) = &start.format
                    && (encoding != "audio/x-mulaw"
                        || rate.is_some_and(|r| r != 8000)
                        || channels.is_some_and(|c| c != 1))
                {
                    return Err(WireError::UnsupportedFormat {
                        format: format!(
                            "{encoding} {}Hz {}ch",
                            rate.unwrap_or_default(),
                            channels.unwrap_or_default()
                        ),
                    });
                }
                self.call = Some(CallInfo {
                    call_id: start.call_sid,
                    stream_id: Some(start.stream_sid),
                    account_id: start.account_sid,
                    custom: start.custom,
                    ..CallInfo::default()
                });
                self.state = State::Streaming;
                self.start_deadline = None;
                out.notices.push(Notice::CallStarted);
            }
            Inbound::Media { stream_sid, track, payload } => {
                self.check_stream("media", stream_sid.as_deref())?;
                if track.as_deref().is_some_and(|t| t != "inbound") {
                    // Only `<Start><Stream>` forks the outbound track, and we
                    // never answer those; it is not the caller.
                    self.counters.ignored += 1;
                    return Ok(());
                }
                let audio = check_audio(b64_decode(&payload)?, AudioFormat::Ulaw)?;
                self.counters.media_in += 1;
                out.inputs.push(Input::CallerAudio(audio));
            }
            Inbound::Mark { stream_sid, name } => {
                self.check_stream("mark", stream_sid.as_deref())?;
                match self.ledger.echo(&name) {
                    Echo::Confirmed(mark) => out.inputs.push(Input::PlaybackMark(mark)),
                    Echo::Flushed => self.counters.flushed_marks += 1,
                    Echo::Stale => self.counters.stale_marks += 1,
                    Echo::Foreign => self.counters.foreign_marks += 1,
                }
            }
            Inbound::Dtmf { stream_sid, digit } => {
                self.check_stream("dtmf", stream_sid.as_deref())?;
                out.inputs.push(Input::Dtmf { digit: dtmf_digit(&digit)? });
            }
            Inbound::Stop { stream_sid } => {
                self.check_stream("stop", stream_sid.as_deref())?;
                self.state = State::Ended;
                out.inputs.push(Input::CallEnded);
                out.notices.push(Notice::Ended { reason: None });
            }
        }
        Ok(())
    }

    /// Media, marks, DTMF and stop need a started stream, and must name it.
    fn check_stream(&self, event: &'static str, sid: Option<&str>) -> Result<(), WireError> {
        if self.state != State::Streaming {
            return Err(WireError::OutOfOrder { event, reason: "before start" });
        }
        let ours = self.call.as_ref().and_then(|c| c.stream_id.as_deref());
        match sid {
            Some(sid) if Some(sid) != ours => Err(WireError::WrongStream),
            _ => Ok(()),
        }
    }

    fn stream_sid(&self) -> Option<&str> {
        self.call.as_ref().and_then(|c| c.stream_id.as_deref())
    }
}

fn name(inbound: &Inbound<'_>) -> &'static str {
    match inbound {
        Inbound::Connected => "connected",
        Inbound::Start(_) => "start",
        Inbound::Media { .. } => "media",
        Inbound::Mark { .. } => "mark",
        Inbound::Dtmf { .. } => "dtmf",
        Inbound::Stop { .. } => "stop",
    }
}

/// A `media` frame carrying `audio`.
fn media_frame(stream_sid: &str, audio: &[u8]) -> OutFrame {
    let capacity = 64 + stream_sid.len() + audio.len().div_ceil(3) * 4;
    OutFrame::Text(
        JsonOut::object(capacity)
            .str("event", "media")
            .str("streamSid", stream_sid)
            .open("media")
            .b64("payload", audio)
            .close()
            .finish(),
    )
}

impl Transport for TwilioTransport {
    fn provider(&self) -> ProviderId {
        ProviderId::Twilio
    }

    fn capabilities(&self) -> TransportCaps {
        TransportCaps {
            // Media Streams are always µ-law 8 kHz, both ways.
            inbound: Some(AudioFormat::Ulaw),
            outbound: Some(AudioFormat::Ulaw),
            marks: MarkSupport::Confirmed,
            clear: true,
            dtmf: true,
            playback_ended: false,
            hang_up: HangUpSupport::CloseSocket,
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

    fn encode(&mut self, _now: Instant, command: TransportCommand, out: &mut Vec<OutFrame>) {
        let before = out.len();
        match command {
            TransportCommand::HangUp => {
                // No in-band hang-up: with nothing after `<Connect><Stream>`
                // in the TwiML, closing the socket ends the call.
                out.push(OutFrame::Close);
            }
            command if self.state != State::Streaming => {
                let _ = command;
                self.counters.commands_dropped += 1;
            }
            TransportCommand::Play { item_id: _, audio, mark } => {
                // Fields, not `self.stream_sid()`: the ledger is borrowed below.
                let sid =
                    self.call.as_ref().and_then(|c| c.stream_id.as_deref()).unwrap_or_default();
                let bytes = &audio.payload;
                let max =
                    self.config.max_media.map(|d| bytes_for(AudioFormat::Ulaw, d)).unwrap_or(0);
                if max > 0 && bytes.len() > max {
                    for piece in bytes.chunks(max) {
                        out.push(media_frame(sid, piece));
                    }
                } else if !bytes.is_empty() {
                    out.push(media_frame(sid, bytes));
                }
                let name = mark.to_string();
                out.push(OutFrame::Text(
                    JsonOut::object(64 + sid.len())
                        .str("event", "mark")
                        .str("streamSid", sid)
                        .open("mark")
                        .str("name", &name)
                        .close()
                        .finish(),
                ));
                self.ledger.sent(mark, audio.duration);
            }
            TransportCommand::Clear => {
                let sid = self.stream_sid().unwrap_or_default();
                out.push(OutFrame::Text(
                    JsonOut::object(48 + sid.len())
                        .str("event", "clear")
                        .str("streamSid", sid)
                        .finish(),
                ));
                self.ledger.clear();
            }
        }
        self.counters.frames_out += out.len().saturating_sub(before) as u64;
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.start_deadline
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Decoded) {
        if self.state == State::AwaitingStart && self.start_deadline.is_some_and(|d| d <= now) {
            self.start_deadline = None;
            self.state = State::Ended;
            out.replies.push(OutFrame::Close);
            out.notices.push(Notice::StartTimedOut);
        }
    }

    fn playout(&self) -> Playout {
        self.ledger.playout()
    }

    fn counters(&self) -> &WireCounters {
        &self.counters
    }
}
