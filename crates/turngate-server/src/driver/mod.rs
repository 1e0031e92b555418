//! One task per call: the only place where a call's sockets, its backend
//! connection, the coordinator and the clock meet the session core.
//!
//! The loop selects over the caller's WebSocket, the backend connection,
//! signals routed to this worker for the call, tool results, a stop signal,
//! and the earliest deadline of the session, the transport and the lease.
//! Every event becomes core inputs; every core command is carried out in
//! order. An error ends this call only: nothing here can stop the worker.

mod audio;
mod hangup;
mod relay;
mod resume;
mod signals;
mod vad;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt as _;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout};
use tracing::{Instrument, debug, info, info_span, warn};
use turngate_audio::AudioFormat;
use turngate_coord::{Lease, SessionId, SessionSignals};
use turngate_core::{
    AppCommand, BackendCommand, Command, EndReason, Event, Input, Role, Session, TransportCommand,
};
use turngate_llm::realtime::{
    PCM_24K, RealtimeConnection, RealtimeSessionConfig, ServerVad, TurnDetectionConfig,
};
use turngate_llm::tool::output_text;
use turngate_telephony::{CallInfo, Decoded, Frame, Notice, OutFrame, ResumeAnswer, Transport};

use crate::record::LiveRecord;
use crate::state::{AppState, CallSlot};

pub(crate) use audio::Converter;
pub(crate) use relay::{RELAYED_BY, advertise, withdraw};
pub(crate) use resume::Resumable;
pub(crate) use signals::{input_for, session_key, signal_for};

/// How long the call's lease lasts without renewal; renewed at a third.
const LEASE_TTL: Duration = Duration::from_secs(30);
/// How long the backend may take to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Tool results waiting to be fed to the session.
const TOOL_RESULTS: usize = 16;
/// Transport commands held for a socket being resumed. A resume window of
/// seconds at a Play per 100 ms stays far below it; a call that reaches it
/// ends rather than dropping audio.
const HELD_COMMANDS: usize = 1024;

/// Why a call task stopped before its session ended on its own.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("the caller's socket failed: {0}")]
    Socket(String),
    #[error("the call never started")]
    NoStart,
    #[error("coordination failed: {0}")]
    Coordination(#[from] turngate_coord::Error),
    #[error("the backend refused the session: {0}")]
    Backend(String),
    #[error("the peer sent more than {0} messages in a second")]
    TooFast(u32),
}

/// Runs one call from the first frame to the last.
pub(crate) async fn run_call(
    state: Arc<AppState>,
    socket: WebSocket,
    transport: Box<dyn Transport>,
    slot: CallSlot,
    relayed: bool,
) {
    let provider = transport.provider();
    let span = info_span!("call", provider = provider.as_str(), call_id = tracing::field::Empty);
    let outcome =
        Call::start(state.clone(), socket, transport, slot, relayed).instrument(span.clone()).await;
    match outcome {
        Ok(Some(call)) => call.run().instrument(span).await,
        Ok(None) => {}
        Err(error) => {
            let _guard = span.enter();
            warn!(%error, "call ended before its session started");
            state.metrics.hang_ups.inc("setup_failed");
        }
    }
}

struct Call {
    state: Arc<AppState>,
    /// The provider's id for the call (what a provider API names it by).
    call_id: String,
    socket: WebSocket,
    transport: Box<dyn Transport>,
    session: Session,
    backend: Box<dyn RealtimeConnection>,
    backend_open: bool,
    signals: SessionSignals,
    lease: Lease,
    renew_at: Instant,
    up: Converter,
    down: Converter,
    record: LiveRecord,
    tools: (mpsc::Sender<Input>, mpsc::Receiver<Input>),
    decoded: Decoded,
    frames: Vec<OutFrame>,
    committed_at: Option<Instant>,
    rate: RateWindow,
    /// Speech detection on the caller's audio when the core commits turns.
    local_vad: Option<vad::LocalVad>,
    /// Both sides' audio on disk, when a recording directory is configured.
    recording: Option<crate::recording::Recording>,
    speech: Vec<Input>,
    /// Where a new socket resuming this call arrives, when its transport
    /// can be resumed.
    resume: Option<resume::ResumeSlot>,
    /// Set while the socket is gone and a resume is awaited: until when.
    detached_until: Option<Instant>,
    /// Transport commands the session issued while detached, carried out
    /// on the new socket.
    held: Vec<TransportCommand>,
    _slot: CallSlot,
}

impl Call {
    /// Reads frames until the call's start, then takes the lease, connects
    /// the backend and creates the session.
    async fn start(
        state: Arc<AppState>,
        mut socket: WebSocket,
        mut transport: Box<dyn Transport>,
        slot: CallSlot,
        relayed: bool,
    ) -> Result<Option<Call>, CallError> {
        let mut decoded = Decoded::default();
        let mut rate = RateWindow::new(state.config.limits.max_messages_per_second);
        let info: CallInfo = loop {
            let deadline = transport
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(30));
            decoded.clear();
            tokio::select! {
                message = socket.recv() => {
                    let message = incoming(message)?;
                    if matches!(message, Incoming::Closed) {
                        return Ok(None);
                    }
                    rate.count(Instant::now())?;
                    if let Err(error) = decode(&mut *transport, &message, &mut decoded) {
                        state.metrics.protocol_errors.inc(transport.provider().as_str());
                        debug!(%error, "bad frame before start");
                    }
                }
                () = sleep_until(deadline.into()) => transport.on_timeout(Instant::now(), &mut decoded),
            }
            send_frames(&mut socket, &mut decoded.replies).await?;
            for notice in &decoded.notices {
                match notice {
                    Notice::CallStarted => {}
                    Notice::Validated
                    | Notice::Rejected { .. }
                    | Notice::StartTimedOut
                    | Notice::Ended { .. } => {
                        return if matches!(notice, Notice::StartTimedOut) {
                            Err(CallError::NoStart)
                        } else {
                            Ok(None)
                        };
                    }
                    Notice::ResumeRequested { conversation_id } => {
                        let key = session_key(transport.provider().as_str(), conversation_id);
                        let handoff = Box::new(resume::Handoff { socket, transport });
                        let Err(handoff) = state.resumable.offer(&key, handoff) else {
                            // The call's own task answers on this socket now.
                            return Ok(None);
                        };
                        resume::elsewhere(&state, *handoff, &key, conversation_id, relayed).await;
                        return Ok(None);
                    }
                    Notice::Connected | Notice::PeerError { .. } => {}
                }
            }
            if let Some(info) = transport.call()
                && decoded.notices.iter().any(|n| matches!(n, Notice::CallStarted))
            {
                break info.clone();
            }
        };
        tracing::Span::current().record("call_id", info.call_id.as_str());
        let provider = transport.provider();
        state.metrics.calls.inc(provider.as_str());
        info!(from = ?info.from, to = ?info.to, "call started");

        let session_id = SessionId::new(session_key(provider.as_str(), &info.call_id))?;
        let lease = state.coordinator.acquire(&session_id, &state.worker, LEASE_TTL).await?;
        let signals = state.inbox.register(&lease).await?;

        let caps = transport.capabilities();
        let leg_in = caps.inbound.unwrap_or(AudioFormat::Ulaw);
        let leg_out = caps.outbound.unwrap_or(leg_in);
        let backend_caps = state.realtime.capabilities();
        let model_in = if backend_caps.input_formats.contains(&leg_in) { leg_in } else { PCM_24K };
        let model_out =
            if backend_caps.output_formats.contains(&leg_out) { leg_out } else { PCM_24K };
        let backend = timeout(
            CONNECT_TIMEOUT,
            state.realtime.connect(realtime_config(&state, model_in, model_out)),
        )
        .await
        .map_err(|_| CallError::Backend("no answer in time".to_owned()))?
        .map_err(|e| CallError::Backend(e.to_string()))?;

        let now = Instant::now();
        let record = state.records.start(&info.call_id, provider.as_str(), now);
        let call_config = state.config.session.clone();
        let recording =
            crate::recording::Recording::start(&state.config.recording_dir, &info.call_id, leg_in);
        let resume = transport.resumable().then(|| state.resumable.register(session_id.as_str()));
        let mut call = Call {
            call_id: info.call_id.clone(),
            session: Session::new(state.config.session.clone(), now),
            state,
            socket,
            transport,
            backend,
            backend_open: true,
            signals,
            lease,
            renew_at: now + LEASE_TTL / 3,
            up: Converter::new(leg_in, model_in),
            down: Converter::new(model_out, leg_out),
            record,
            tools: mpsc::channel(TOOL_RESULTS),
            decoded,
            frames: Vec::new(),
            committed_at: None,
            rate,
            local_vad: (call_turns_locally(&call_config)).then(|| vad::LocalVad::new(leg_in)),
            recording,
            speech: Vec::new(),
            resume,
            detached_until: None,
            held: Vec::new(),
            _slot: slot,
        };
        // Inputs decoded along with the start (early media) are not lost.
        let early: Vec<Input> = call.decoded.inputs.drain(..).collect();
        for input in early {
            call.feed(now, input).await;
        }
        Ok(Some(call))
    }

    async fn run(mut self) {
        let mut stop = self.state.stop_signal();
        // One timer for the whole call, moved only when the earliest
        // deadline moves: registering a fresh one per message cost a trip
        // through the runtime's timer wheel for every frame.
        let sleep = sleep_until(self.renew_at.into());
        tokio::pin!(sleep);
        let mut armed = None;
        let reason = loop {
            if self.session.is_ended() {
                break None;
            }
            // While detached the transport waits for the new socket: its
            // pacing and playout estimate resume with it.
            let transport_wake =
                if self.detached_until.is_some() { None } else { self.transport.poll_timeout() };
            let wake = [
                self.session.poll_timeout(),
                transport_wake,
                self.detached_until,
                Some(self.renew_at),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            if armed != Some(wake) {
                sleep.as_mut().reset(wake.into());
                armed = Some(wake);
            }
            // In order of traffic: a call's socket and backend carry a
            // message every few milliseconds, the rest rarely. Polling in
            // this order stops at the first one ready instead of polling
            // every channel on every message; nothing starves, since each
            // turn of the loop handles one message and the busy sources
            // are paced by their peers.
            tokio::select! {
                biased;
                message = self.socket.recv(), if self.detached_until.is_none() => {
                    if let Err(error) = self.on_socket(message).await
                        && !(matches!(error, CallError::Socket(_)) && self.detach(Instant::now()))
                    {
                        break Some(error);
                    }
                }
                input = self.backend.recv(), if self.backend_open => match input {
                    Some(input) => {
                        if let Input::BackendError { code: Some(code), .. } = &input
                            && code == "conversation_already_has_active_response"
                        {
                            self.state.metrics.upstream_conflicts.inc();
                        }
                        self.feed(Instant::now(), input).await;
                    }
                    // The connection gave up for good; the session's ready
                    // timeout ends the call.
                    None => self.backend_open = false,
                },
                () = &mut sleep => {
                    // A timer that fired stays fired: arm it afresh.
                    armed = None;
                    if let Err(error) = self.on_deadline().await {
                        break Some(error);
                    }
                }
                delivered = self.signals.recv() => match delivered {
                    Some(delivered) => {
                        self.state.metrics.signal_latency.observe(delivered.latency());
                        match input_for(delivered.signal.kind()) {
                            Some(input) => self.feed(Instant::now(), input).await,
                            None => debug!(kind = delivered.signal.kind(), "signal ignored"),
                        }
                    }
                    None => break Some(CallError::Socket("the worker's inbox closed".to_owned())),
                },
                Some(result) = self.tools.1.recv() => self.feed(Instant::now(), result).await,
                Some(handoff) = resume::next_handoff(&mut self.resume) => {
                    self.on_resume(handoff).await;
                }
                _ = stop.changed() => self.feed(Instant::now(), Input::HangUp).await,
            }
        };
        if let Some(error) = &reason {
            warn!(%error, "call ended by an error");
            if !self.session.is_ended() {
                self.feed(Instant::now(), Input::CallEnded).await;
            }
        }
        self.finish().await;
    }

    async fn on_socket(
        &mut self,
        message: Option<Result<Message, axum::Error>>,
    ) -> Result<(), CallError> {
        let now = Instant::now();
        let message = incoming(message)?;
        if matches!(message, Incoming::Closed) {
            if !self.detach(now) {
                self.feed(now, Input::CallEnded).await;
            }
            return Ok(());
        }
        self.rate.count(now)?;
        self.decoded.clear();
        if let Err(error) = decode(&mut *self.transport, &message, &mut self.decoded) {
            self.state.metrics.protocol_errors.inc(self.transport.provider().as_str());
            debug!(%error, "bad frame");
        }
        self.after_decode(now).await
    }

    async fn on_deadline(&mut self) -> Result<(), CallError> {
        let now = Instant::now();
        if let Some(until) = self.detached_until
            && until <= now
        {
            info!("no resume in time; the call ends");
            self.detached_until = None;
            self.held.clear();
            self.feed(now, Input::CallEnded).await;
            return Ok(());
        }
        if self.detached_until.is_none() && self.transport.poll_timeout().is_some_and(|t| t <= now)
        {
            self.decoded.clear();
            self.transport.on_timeout(now, &mut self.decoded);
            self.after_decode(now).await?;
        }
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.feed(now, Input::Tick).await;
        }
        if self.renew_at <= now {
            self.renew_at = now + LEASE_TTL / 3;
            match self.state.coordinator.renew(&self.lease, LEASE_TTL).await {
                Ok(lease) => self.lease = lease,
                // The call keeps running on this worker; only cross-worker
                // signals are at risk until the coordinator is back.
                Err(error) => warn!(%error, "lease renewal failed"),
            }
        }
        Ok(())
    }

    /// Sends the transport's replies and feeds its inputs and notices.
    async fn after_decode(&mut self, now: Instant) -> Result<(), CallError> {
        let mut replies = std::mem::take(&mut self.decoded.replies);
        self.send(&mut replies).await;
        self.decoded.replies = replies;
        // Taken out (and put back for reuse) rather than collected: this
        // runs for every message from the caller.
        let mut inputs = std::mem::take(&mut self.decoded.inputs);
        for input in inputs.drain(..) {
            self.feed(now, input).await;
        }
        if self.decoded.inputs.is_empty() {
            self.decoded.inputs = inputs;
        }
        let mut notices = std::mem::take(&mut self.decoded.notices);
        for notice in notices.drain(..) {
            match notice {
                Notice::Ended { reason } => {
                    debug!(?reason, "the caller's leg ended");
                    self.feed(now, Input::CallEnded).await;
                }
                Notice::PeerError { code, message } => {
                    warn!(?code, %message, "the peer reported an error");
                }
                Notice::ResumeRequested { .. } => {
                    // The socket that carries this call is the one asking:
                    // it already holds the conversation.
                    let mut out = Vec::new();
                    self.transport.answer_resume(
                        now,
                        ResumeAnswer::Accept { format: None },
                        &mut out,
                    );
                    self.send(&mut out).await;
                }
                _ => {}
            }
        }
        if self.decoded.notices.is_empty() {
            self.decoded.notices = notices;
        }
        Ok(())
    }

    /// Hands one input to the session and carries out what it answers;
    /// caller audio also goes through the local VAD when there is one.
    async fn feed(&mut self, now: Instant, input: Input) {
        if let Input::CallerAudio(audio) = &input {
            if let Some(vad) = &mut self.local_vad {
                vad.push(&audio.payload, &mut self.speech);
            }
            if let Some(recording) = &self.recording {
                recording.push(crate::recording::Side::Caller, &audio.payload);
            }
        }
        let commands = self.session.handle(now, input);
        for command in commands {
            self.execute(now, command).await;
        }
        if !self.speech.is_empty() {
            let speech: Vec<Input> = self.speech.drain(..).collect();
            for input in speech {
                let commands = self.session.handle(now, input);
                for command in commands {
                    self.execute(now, command).await;
                }
            }
        }
    }

    async fn execute(&mut self, now: Instant, command: Command) {
        match command {
            Command::Backend(command) => {
                let command = match command {
                    BackendCommand::AppendAudio(audio) => {
                        BackendCommand::AppendAudio(self.up.convert(audio))
                    }
                    BackendCommand::CreateResponse { event_id, spec } => {
                        self.state.metrics.responses.inc();
                        BackendCommand::CreateResponse { event_id, spec }
                    }
                    other => other,
                };
                if self.backend_open
                    && let Err(error) = self.backend.send(command).await
                {
                    debug!(%error, "backend send failed");
                }
            }
            Command::Transport(command) => {
                let command = match command {
                    TransportCommand::Play { item_id, audio, mark } => {
                        if let Some(committed) = self.committed_at.take() {
                            self.state
                                .metrics
                                .turn_latency
                                .observe(now.saturating_duration_since(committed));
                        }
                        let audio = self.down.convert(audio);
                        if let Some(recording) = &self.recording {
                            recording.push(crate::recording::Side::Agent, &audio.payload);
                        }
                        TransportCommand::Play { item_id, audio, mark }
                    }
                    other => other,
                };
                if self.detached_until.is_some() {
                    self.hold(now, command);
                    return;
                }
                let mut frames = std::mem::take(&mut self.frames);
                frames.clear();
                self.transport.encode(now, command, &mut frames);
                self.send(&mut frames).await;
                self.frames = frames;
            }
            Command::App(AppCommand::InvokeTool { call_id, name, arguments }) => {
                self.record(now, "tool", format!("{name}({arguments})"));
                let tools = Arc::clone(&self.state.tools);
                let results = self.tools.0.clone();
                tokio::spawn(async move {
                    let arguments =
                        serde_json::from_str(&arguments).unwrap_or(serde_json::Value::Null);
                    let output = match tools.call(&name, arguments).await {
                        Ok(output) => output_text(&output),
                        Err(error) => output_text(&error.to_output()),
                    };
                    // The session times the tool out on its own if this is late.
                    let _ = results.send(Input::ToolResult { call_id, output }).await;
                });
            }
            Command::App(AppCommand::SessionEnded { reason }) => {
                self.state.metrics.hang_ups.inc(reason.as_str());
                self.record(now, "ended", reason.as_str());
                if let Ok(mut record) = self.record.lock() {
                    record.ended = Some(reason.as_str().to_owned());
                }
                info!(reason = reason.as_str(), "call ended");
                if reason != EndReason::CallerHungUp {
                    let _ = self.socket.send(Message::Close(None)).await;
                }
            }
            Command::App(_) => {}
            Command::Event(event) => self.on_event(now, &event).await,
        }
    }

    async fn on_event(&mut self, now: Instant, event: &Event) {
        match event {
            Event::ResponseDeferred { .. } => self.state.metrics.conflicts_prevented.inc(),
            Event::BargeIn { played_ms, .. } => {
                self.state.metrics.barge_ins.inc();
                self.record(now, "barge_in", format!("after {played_ms} ms heard"));
            }
            Event::CheckIn { number } => {
                self.state.metrics.check_ins.inc();
                self.record(now, "check_in", format!("check-in {number}"));
            }
            Event::TurnQueued { .. } => {
                self.committed_at.get_or_insert(now);
            }
            Event::TurnsAnswered { waited, .. } => self.state.metrics.queue_wait.observe(*waited),
            Event::Transcript { role, text } => {
                let kind = if *role == Role::User { "user" } else { "assistant" };
                self.record(now, kind, text.clone());
            }
            Event::CallEnding { reason } => self.record(now, "ending", reason.as_str()),
            Event::Dtmf { digit } => self.record(now, "dtmf", digit.to_string()),
            Event::BackendLost => self.record(now, "backend_lost", ""),
            _ => {}
        }
        if self.detached_until.is_some() {
            // Mirrored state is for the socket; the new one starts afresh.
            return;
        }
        let mut frames = std::mem::take(&mut self.frames);
        frames.clear();
        self.transport.on_event(now, event, &mut frames);
        self.send(&mut frames).await;
        self.frames = frames;
    }

    fn record(&self, now: Instant, kind: &str, text: impl Into<String>) {
        if let Ok(mut record) = self.record.lock() {
            record.push(now, kind, text);
        }
    }

    /// Sends `frames` (leaving the vector empty for reuse).
    async fn send(&mut self, frames: &mut Vec<OutFrame>) {
        if frames.iter().any(|frame| matches!(frame, OutFrame::HangUpViaApi)) {
            hangup::telnyx(&self.state, &self.call_id);
        }
        if let Err(error) = send_frames(&mut self.socket, frames).await {
            debug!(%error, "send to the caller failed");
        }
    }

    /// The socket is gone: holds the call for a resume when the transport
    /// allows one, and says whether it did.
    fn detach(&mut self, now: Instant) -> bool {
        let window = self.state.config.limits.resume_window;
        if self.resume.is_none() || window.is_zero() || !self.transport.resumable() {
            return false;
        }
        info!(window_ms = window.as_millis() as u64, "the socket dropped; awaiting a resume");
        self.record(now, "detached", "socket lost; awaiting session.resume");
        self.detached_until = Some(now + window);
        true
    }

    /// Keeps a transport command for the socket a resume will bring; with
    /// too much held, the wait ends now and so does the call.
    fn hold(&mut self, now: Instant, command: TransportCommand) {
        if self.held.len() >= HELD_COMMANDS {
            warn!("too much held for a resume; the call ends");
            self.detached_until = Some(now);
            return;
        }
        self.held.push(command);
    }

    /// A new socket resumes the call: it replaces the old one (gone, or
    /// about to be), the transport answers on it, and what was held goes out.
    async fn on_resume(&mut self, handoff: Box<resume::Handoff>) {
        let now = Instant::now();
        if !self.transport.resumable() {
            let reason = format!("conversation {} has ended", self.call_id);
            resume::reject_resume(handoff, reason).await;
            return;
        }
        let mut old = std::mem::replace(&mut self.socket, handoff.socket);
        let _ = old.send(Message::Close(None)).await;
        self.detached_until = None;
        self.state.metrics.resumes.inc();
        self.record(now, "resumed", "session.resume on a new socket");
        info!("the call resumed on a new socket");
        let mut frames = Vec::new();
        self.transport.resumed(now, &mut frames);
        self.send(&mut frames).await;
        let held: Vec<TransportCommand> = self.held.drain(..).collect();
        for command in held {
            self.transport.encode(now, command, &mut frames);
            self.send(&mut frames).await;
        }
    }

    async fn finish(mut self) {
        if let Some(recording) = self.recording.take()
            && recording.dropped() > 0
        {
            warn!(dropped = recording.dropped(), "the disk fell behind; the recording has gaps");
        }
        if let Ok(mut record) = self.record.lock() {
            record.counters = Some(self.session.counters().clone());
        }
        if let Some(slot) = self.resume.take() {
            for handoff in slot.close() {
                let reason = format!("conversation {} has ended", self.call_id);
                resume::reject_resume(Box::new(handoff), reason).await;
            }
        }
        self.backend.close().await;
        if let Err(error) = self.state.coordinator.release(&self.lease).await {
            warn!(%error, "lease release failed");
        }
        let _ = self.socket.send(Message::Close(None)).await;
    }
}

/// True when the core commits turns itself, so speech must be detected here.
fn call_turns_locally(session: &turngate_core::SessionConfig) -> bool {
    session.turn_detection == turngate_core::TurnDetection::Client
}

/// The session-level Realtime configuration for one call.
fn realtime_config(
    state: &AppState,
    input: AudioFormat,
    output: AudioFormat,
) -> RealtimeSessionConfig {
    let session = &state.config.session;
    let turn_detection = match session.turn_detection {
        turngate_core::TurnDetection::Client => TurnDetectionConfig::None,
        turngate_core::TurnDetection::Server => TurnDetectionConfig::ServerVad(ServerVad {
            // The core owns every create unless told the server may start
            // responses itself; it also owns barge-in.
            create_response: session.response_mode == turngate_core::ResponseMode::ServerAuto,
            interrupt_response: false,
            ..ServerVad::default()
        }),
    };
    RealtimeSessionConfig {
        instructions: Some(state.config.openai.instructions.clone()),
        voice: Some(state.config.openai.voice.clone()),
        input_format: input,
        output_format: output,
        turn_detection,
        input_transcription: Some("gpt-4o-mini-transcribe".to_owned()),
        tools: state.tool_specs.clone(),
        ..RealtimeSessionConfig::default()
    }
}

/// A message from the caller's socket, its bytes as the socket gave them.
enum Incoming {
    Text(Utf8Bytes),
    Binary(Bytes),
    /// Ping or pong: nothing for the transport.
    Control,
    Closed,
}

fn incoming(message: Option<Result<Message, axum::Error>>) -> Result<Incoming, CallError> {
    match message {
        None | Some(Ok(Message::Close(_))) => Ok(Incoming::Closed),
        Some(Ok(Message::Text(text))) => Ok(Incoming::Text(text)),
        // Binary frames go to the transport as they are: some protocols
        // refuse them (Twilio warning 31950), some accept JSON in them.
        Some(Ok(Message::Binary(bytes))) => Ok(Incoming::Binary(bytes)),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(Incoming::Control),
        Some(Err(error)) => Err(CallError::Socket(error.to_string())),
    }
}

fn decode(
    transport: &mut dyn Transport,
    message: &Incoming,
    out: &mut Decoded,
) -> Result<(), turngate_telephony::WireError> {
    let frame = match message {
        Incoming::Text(text) => Frame::Text(text.as_str()),
        Incoming::Binary(bytes) => Frame::Binary(bytes),
        Incoming::Control | Incoming::Closed => return Ok(()),
    };
    transport.on_frame(Instant::now(), frame, out)
}

/// Sends `frames` in order, draining the vector: every message is fed to
/// the socket and the burst is flushed once, so a `Play` (audio, then its
/// mark) costs one write, not one per message.
async fn send_frames(socket: &mut WebSocket, frames: &mut Vec<OutFrame>) -> Result<(), CallError> {
    let failed = |e: axum::Error| CallError::Socket(e.to_string());
    let mut pending = false;
    for frame in frames.drain(..) {
        match frame {
            OutFrame::Text(text) => {
                socket.feed(Message::Text(text.into())).await.map_err(failed)?;
                pending = true;
            }
            // No provider API client is configured for `HangUpViaApi`:
            // closing the media socket is the most this server can do.
            OutFrame::Close | OutFrame::HangUpViaApi => {
                // Sending the close flushes whatever was fed before it.
                let _ = socket.send(Message::Close(None)).await;
                pending = false;
            }
        }
    }
    if pending {
        socket.flush().await.map_err(failed)?;
    }
    Ok(())
}

/// Counts messages per second to stop a peer that floods the socket.
#[derive(Debug)]
struct RateWindow {
    limit: u32,
    window_start: Instant,
    count: u32,
}

impl RateWindow {
    fn new(limit: u32) -> RateWindow {
        RateWindow { limit, window_start: Instant::now(), count: 0 }
    }

    fn count(&mut self, now: Instant) -> Result<(), CallError> {
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.count = 0;
        }
        self.count += 1;
        if self.count > self.limit {
            return Err(CallError::TooFast(self.limit));
        }
        Ok(())
    }
}
