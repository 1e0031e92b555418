//! One Telnyx media-stream leg as pure state: frames to inputs (media put
//! back in order), commands to frames, marks to played milliseconds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use turngate_audio::{AudioFormat, SampleRate};
use turngate_core::{AudioChunk, Input, TransportCommand};

use super::wire::{self, Inbound};
use crate::transport::{
    CallInfo, Decoded, Echo, Frame, HangUpSupport, JsonOut, Limits, MarkLedger, MarkSupport,
    Notice, OutFrame, Playout, ProviderId, Transport, TransportCaps, WireCounters, WireError,
    b64_decode, check_audio, dtmf_digit, swap16,
};

/// A codec Telnyx streams that we can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TelnyxCodec {
    /// G.711 µ-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// 16-bit linear PCM, **big-endian** on the wire (converted to and from
    /// the little-endian [`AudioFormat::Pcm16`] the rest of turngate uses).
    L16(SampleRate),
}

impl TelnyxCodec {
    /// The audio format the session sees.
    pub fn format(self) -> AudioFormat {
        match self {
            TelnyxCodec::Pcmu => AudioFormat::Ulaw,
            TelnyxCodec::Pcma => AudioFormat::Alaw,
            TelnyxCodec::L16(rate) => AudioFormat::Pcm16(rate),
        }
    }

    /// The codec for a `media_format`, if we can carry it. G722, OPUS and
    /// AMR-WB are compressed and L16 at 22.05 or 48 kHz has no
    /// [`SampleRate`]: those legs are refused.
    pub fn from_wire(encoding: &str, sample_rate: Option<u64>) -> Option<TelnyxCodec> {
        let rate = sample_rate.unwrap_or(8000);
        match encoding.to_ascii_uppercase().as_str() {
            "PCMU" if rate == 8000 => Some(TelnyxCodec::Pcmu),
            "PCMA" if rate == 8000 => Some(TelnyxCodec::Pcma),
            "L16" => u32::try_from(rate).ok().and_then(SampleRate::from_hz).map(TelnyxCodec::L16),
            _ => None,
        }
    }
}

/// How a Telnyx leg behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelnyxConfig {
    /// Size caps on inbound frames.
    pub limits: Limits,
    /// How long after the socket opened `start` may take.
    pub start_timeout: Duration,
    /// The codec of audio we send back (`stream_bidirectional_codec` in the
    /// streaming command); `None`, the default, means the inbound codec.
    pub outbound: Option<TelnyxCodec>,
    /// How many media frames may wait for a missing earlier one.
    pub reorder_window: usize,
    /// How long a media frame may wait for a missing earlier one.
    pub reorder_hold: Duration,
}

impl Default for TelnyxConfig {
    fn default() -> Self {
        TelnyxConfig {
            limits: Limits::default(),
            start_timeout: Duration::from_secs(5),
            outbound: None,
            // Five 20 ms frames and 60 ms: enough for the reordering a media
            // path does, short enough not to be heard as latency.
            reorder_window: 5,
            reorder_hold: Duration::from_millis(60),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingStart,
    Streaming,
    Ended,
}

/// Media frames put back in `chunk` order within a small window.
///
/// Telnyx does not guarantee media order. A frame ahead of the next
/// expected chunk waits, until the gap fills, the window is full or the
/// hold time passes (then the gap is skipped). A frame behind is late:
/// its place in the audio has been given up, so it is dropped.
#[derive(Debug)]
struct Reorder {
    next: u64,
    held: BTreeMap<u64, (Instant, AudioChunk)>,
}

impl Default for Reorder {
    fn default() -> Self {
        // Chunks count from 1.
        Reorder { next: 1, held: BTreeMap::new() }
    }
}

/// One Telnyx media-stream leg (bidirectional, RTP mode).
///
/// Caller audio is the stream's codec, passed on as raw bytes (L16 turned
/// little-endian). `Play` audio is the outbound codec's; each `Play` is one
/// `media` message and then a `mark`, which Telnyx echoes when the audio
/// before it has played. Played milliseconds come from those echoes.
#[derive(Debug)]
pub struct TelnyxTransport {
    config: TelnyxConfig,
    state: State,
    start_deadline: Option<Instant>,
    call: Option<CallInfo>,
    inbound: Option<TelnyxCodec>,
    ledger: MarkLedger,
    reorder: Reorder,
    counters: WireCounters,
}

impl TelnyxTransport {
    /// A leg whose socket opened at `now`.
    pub fn new(config: TelnyxConfig, now: Instant) -> TelnyxTransport {
        // A timeout too large to add means no deadline at all.
        let start_deadline = now.checked_add(config.start_timeout);
        TelnyxTransport {
            config,
            state: State::AwaitingStart,
            start_deadline,
            call: None,
            inbound: None,
            ledger: MarkLedger::default(),
            reorder: Reorder::default(),
            counters: WireCounters::default(),
        }
    }

    fn outbound(&self) -> Option<TelnyxCodec> {
        self.config.outbound.or(self.inbound)
    }

    fn decode(
        &mut self,
        now: Instant,
        frame: Frame<'_>,
        out: &mut Decoded,
    ) -> Result<(), WireError> {
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
            Inbound::Start { stream_id, start } => {
                if self.state != State::AwaitingStart {
                    return Err(WireError::OutOfOrder { event: "start", reason: "a second start" });
                }
                let (encoding, rate, channels) =
                    start.format.unwrap_or_else(|| ("PCMU".to_owned(), Some(8000), Some(1)));
                let codec =
                    TelnyxCodec::from_wire(&encoding, rate).filter(|_| channels.unwrap_or(1) == 1);
                let Some(codec) = codec else {
                    return Err(WireError::UnsupportedFormat {
                        format: format!(
                            "{encoding} {}Hz {}ch",
                            rate.unwrap_or_default(),
                            channels.unwrap_or(1)
                        ),
                    });
                };
                self.inbound = Some(codec);
                self.call = Some(CallInfo {
                    call_id: start.call_control_id,
                    stream_id,
                    account_id: start.user_id,
                    session_id: start.call_session_id,
                    from: start.from,
                    to: start.to,
                    custom: start.custom,
                    client_state: start.client_state,
                });
                self.state = State::Streaming;
                self.start_deadline = None;
                out.notices.push(Notice::CallStarted);
            }
            Inbound::Media { stream_id, track, chunk, payload } => {
                let codec = self.check_stream("media", stream_id.as_deref())?;
                if track.as_deref().is_some_and(|t| t != "inbound") {
                    // `both_tracks` also streams what the caller hears.
                    self.counters.ignored += 1;
                    return Ok(());
                }
                let mut bytes = b64_decode(&payload)?;
                if matches!(codec, TelnyxCodec::L16(_)) && bytes.len().is_multiple_of(2) {
                    swap16(&mut bytes);
                }
                let audio = check_audio(bytes, codec.format())?;
                self.counters.media_in += 1;
                match chunk {
                    Some(chunk) => self.reorder_push(now, chunk, audio, out),
                    None => out.inputs.push(Input::CallerAudio(audio)),
                }
            }
            Inbound::Mark { stream_id, name } => {
                self.check_stream("mark", stream_id.as_deref())?;
                match self.ledger.echo(&name) {
                    Echo::Confirmed(mark) => out.inputs.push(Input::PlaybackMark(mark)),
                    Echo::Flushed => self.counters.flushed_marks += 1,
                    Echo::Stale => self.counters.stale_marks += 1,
                    Echo::Foreign => self.counters.foreign_marks += 1,
                }
            }
            Inbound::Dtmf { stream_id, digit } => {
                self.check_stream("dtmf", stream_id.as_deref())?;
                out.inputs.push(Input::Dtmf { digit: dtmf_digit(&digit)? });
            }
            Inbound::Error { code, message } => {
                out.notices.push(Notice::PeerError { code, message });
            }
            Inbound::Stop { stream_id } => {
                self.check_stream("stop", stream_id.as_deref())?;
                // What was held is the caller's last audio: deliver it first.
                self.release_all(out);
                self.state = State::Ended;
                out.inputs.push(Input::CallEnded);
                out.notices.push(Notice::Ended { reason: None });
            }
        }
        Ok(())
    }

    /// Media, marks, DTMF and stop need a started stream, and must name it.
    fn check_stream(
        &self,
        event: &'static str,
        id: Option<&str>,
    ) -> Result<TelnyxCodec, WireError> {
        let (State::Streaming, Some(codec)) = (self.state, self.inbound) else {
            return Err(WireError::OutOfOrder { event, reason: "before start" });
        };
        let ours = self.call.as_ref().and_then(|c| c.stream_id.as_deref());
        match (id, ours) {
            (Some(id), Some(ours)) if id != ours => Err(WireError::WrongStream),
            _ => Ok(codec),
        }
    }

    fn reorder_push(&mut self, now: Instant, chunk: u64, audio: AudioChunk, out: &mut Decoded) {
        let reorder = &mut self.reorder;
        if chunk < reorder.next {
            self.counters.late_dropped += 1;
            return;
        }
        if chunk == reorder.next {
            out.inputs.push(Input::CallerAudio(audio));
            reorder.next = chunk.saturating_add(1);
            self.drain_ready(out);
            return;
        }
        self.counters.reordered += 1;
        if reorder.held.insert(chunk, (now, audio)).is_some() {
            // The same chunk twice: keep the later copy, count the duplicate.
            self.counters.late_dropped += 1;
        }
        if self.reorder.held.len() > self.config.reorder_window {
            self.skip_gap(out);
        }
    }

    /// Delivers held frames that are next in order.
    fn drain_ready(&mut self, out: &mut Decoded) {
        while let Some((_, audio)) = self.reorder.held.remove(&self.reorder.next) {
            out.inputs.push(Input::CallerAudio(audio));
            self.reorder.next = self.reorder.next.saturating_add(1);
        }
    }

    /// Gives up on the gap before the oldest held frame.
    fn skip_gap(&mut self, out: &mut Decoded) {
        if let Some((&first, _)) = self.reorder.held.first_key_value() {
            self.counters.gaps_skipped += 1;
            self.reorder.next = first;
            self.drain_ready(out);
        }
    }

    fn release_all(&mut self, out: &mut Decoded) {
        while !self.reorder.held.is_empty() {
            self.skip_gap(out);
        }
    }

    fn hold_deadline(&self) -> Option<Instant> {
        self.reorder
            .held
            .values()
            .map(|(arrived, _)| *arrived)
            .min()
            .map(|t| t + self.config.reorder_hold)
    }
}

fn name(inbound: &Inbound<'_>) -> &'static str {
    match inbound {
        Inbound::Connected => "connected",
        Inbound::Start { .. } => "start",
        Inbound::Media { .. } => "media",
        Inbound::Mark { .. } => "mark",
        Inbound::Dtmf { .. } => "dtmf",
        Inbound::Error { .. } => "error",
        Inbound::Stop { .. } => "stop",
    }
}

impl Transport for TelnyxTransport {
    fn provider(&self) -> ProviderId {
        ProviderId::Telnyx
    }

    fn capabilities(&self) -> TransportCaps {
        TransportCaps {
            inbound: self.inbound.map(TelnyxCodec::format),
            outbound: self.outbound().map(TelnyxCodec::format),
            marks: MarkSupport::Confirmed,
            clear: true,
            dtmf: true,
            // `call.playback.*` and `call.speak.*` webhooks (see `webhook`).
            playback_ended: true,
            hang_up: HangUpSupport::ProviderApi,
        }
    }

    fn call(&self) -> Option<&CallInfo> {
        self.call.as_ref()
    }

    fn on_frame(
        &mut self,
        now: Instant,
        frame: Frame<'_>,
        out: &mut Decoded,
    ) -> Result<(), WireError> {
        self.counters.frames_in += 1;
        let before = out.replies.len();
        let result = self.decode(now, frame, out);
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
                // Closing the media socket only stops the stream; the call
                // itself ends through Call Control.
                out.push(OutFrame::HangUpViaApi);
                out.push(OutFrame::Close);
            }
            command if self.state != State::Streaming => {
                let _ = command;
                self.counters.commands_dropped += 1;
            }
            TransportCommand::Play { item_id: _, mut audio, mark } => {
                if !audio.payload.is_empty() {
                    if matches!(self.outbound(), Some(TelnyxCodec::L16(_))) {
                        swap16(&mut audio.payload);
                    }
                    let capacity = 48 + audio.payload.len().div_ceil(3) * 4;
                    out.push(OutFrame::Text(
                        JsonOut::object(capacity)
                            .str("event", "media")
                            .open("media")
                            .b64("payload", &audio.payload)
                            .close()
                            .finish(),
                    ));
                }
                let name = mark.to_string();
                out.push(OutFrame::Text(
                    JsonOut::object(48)
                        .str("event", "mark")
                        .open("mark")
                        .str("name", &name)
                        .close()
                        .finish(),
                ));
                self.ledger.sent(mark, audio.duration);
            }
            TransportCommand::Clear => {
                out.push(OutFrame::Text(JsonOut::object(24).str("event", "clear").finish()));
                self.ledger.clear();
            }
        }
        self.counters.frames_out += out.len().saturating_sub(before) as u64;
    }

    fn poll_timeout(&self) -> Option<Instant> {
        crate::transport::earliest([self.start_deadline, self.hold_deadline()])
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Decoded) {
        if self.state == State::AwaitingStart && self.start_deadline.is_some_and(|d| d <= now) {
            self.start_deadline = None;
            self.state = State::Ended;
            out.replies.push(OutFrame::Close);
            out.notices.push(Notice::StartTimedOut);
        }
        while self.hold_deadline().is_some_and(|d| d <= now) {
            self.skip_gap(out);
        }
    }

    fn playout(&self) -> Playout {
        self.ledger.playout()
    }

    fn counters(&self) -> &WireCounters {
        &self.counters
    }
}
