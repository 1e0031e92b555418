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
mod lease;
mod relay;
mod resume;
mod signals;
mod socket;
mod vad;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout};
use tracing::{Instrument, debug, info, info_span, warn};
use turngate_audio::AudioFormat;
use turngate_coord::{Delivered, ErrorKind, SessionId, SessionSignals};
use turngate_core::{
    AppCommand, BackendCommand, BackendErrorKind, Command, EndReason, Event, Input, Role, Session,
    TransportCommand, TurnModel,
};
use turngate_llm::realtime::{
    PCM_24K, RealtimeConnection, RealtimeSessionConfig, ServerVad, TurnDetectionConfig,
};
use turngate_llm::tool::output_text;
use turngate_telephony::{CallInfo, Decoded, Frame, Notice, OutFrame, ResumeAnswer, Transport};

use crate::admission::{LiveClaim, PendingGuard};
use crate::record::LiveRecord;
use crate::state::{AppState, CallSlot};

pub(crate) use audio::Converter;
pub(crate) use relay::{RELAYED_BY, WORKER_TOKEN, advertise, withdraw};
pub(crate) use resume::Resumable;
pub(crate) use signals::{input_for, session_key, signal_for};
pub(crate) use socket::send_frames;

use lease::{LeaseKeeper, Ownership};
use socket::{POLICY_VIOLATION, SendError, TRY_AGAIN_LATER};

/// How long the backend may take to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Tool results waiting to be fed to the session.
const TOOL_RESULTS: usize = 16;
/// The longest a delegation's claim in the coordinator may take.
const DELEGATION_CLAIM_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a delegation's claim is kept: past the longest a GPT-Live
/// session lives (about two hours), so no late observer claims it again.
const DELEGATION_CLAIM_TTL: Duration = Duration::from_secs(3 * 3600);
/// Transport commands held for a socket being resumed. A resume window of
/// seconds at a Play per 100 ms stays far below it; a call that reaches it
/// ends rather than dropping audio.
const HELD_COMMANDS: usize = 1024;
/// How long a socket may go without identifying its call when the
/// transport sets no deadline of its own.
const START_TIMEOUT: Duration = Duration::from_secs(30);

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
}

/// What a route hands a call's task along with the socket.
#[derive(Debug)]
pub(crate) struct Admission {
    /// The call counted against `limits.max_calls`.
    pub(crate) slot: CallSlot,
    /// The socket counted among its address's pending upgrades until the
    /// call starts.
    pub(crate) pending: PendingGuard,
    /// Another worker relays this socket.
    pub(crate) relayed: bool,
    /// The upgrade carried the door's configured credential. Only such a
    /// call may be acted on through a provider's API (a Telnyx hang-up):
    /// an unauthenticated socket could name any call.
    pub(crate) authenticated: bool,
}

/// Runs one call from the first frame to the last.
pub(crate) async fn run_call(
    state: Arc<AppState>,
    socket: WebSocket,
    transport: Box<dyn Transport>,
    admission: Admission,
) {
    let provider = transport.provider();
    let span = info_span!("call", provider = provider.as_str(), call_id = tracing::field::Empty);
    let outcome =
        Call::start(state.clone(), socket, transport, admission).instrument(span.clone()).await;
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
    /// The call's scope in the coordinator (its lease's key).
    scope: SessionId,
    /// True when the backend is full duplex: its delegations are claimed
    /// in the coordinator before the core sees them.
    full_duplex: bool,
    socket: WebSocket,
    /// False once the socket failed a write or stalled: nothing more is
    /// written to it.
    socket_open: bool,
    /// Set when a write stalled: the call ends as `peer_not_reading`.
    stalled: bool,
    /// When the peer last sent anything on the socket.
    last_heard: Instant,
    transport: Box<dyn Transport>,
    session: Session,
    backend: Box<dyn RealtimeConnection>,
    backend_open: bool,
    /// Signals from other workers; gone if another worker took the lease.
    signals: Option<SessionSignals>,
    lease: Option<LeaseKeeper>,
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
    /// See [`Admission::authenticated`].
    authenticated: bool,
    /// Set when the session ends for breaking a rule: the close frame
    /// says so.
    close_reason: Option<EndReason>,
    write_timeout: Duration,
    _claim: LiveClaim,
    _slot: CallSlot,
}

/// A call refused at its start: the peer is told (in its protocol when it
/// has a refusal, then with a close frame) and nothing of the live call
/// the id names is touched.
async fn refuse(
    state: &AppState,
    mut socket: WebSocket,
    transport: &mut dyn Transport,
    counted_as: &str,
    code: u16,
    reason: &str,
) {
    state.metrics.refused.inc(counted_as);
    info!(reason, "call refused at its start");
    let limit = state.config.limits.write_timeout;
    let mut frames = Vec::new();
    transport.refuse(Instant::now(), reason, &mut frames);
    if send_frames(&mut socket, &mut frames, limit).await.is_ok() {
        socket::close(&mut socket, code, reason, limit).await;
    }
}

impl Call {
    /// Reads frames until the call's start; then claims the call's id on
    /// this worker and in the coordinator (refusing the socket if the call
    /// is live anywhere), connects the backend and creates the session.
    async fn start(
        state: Arc<AppState>,
        mut socket: WebSocket,
        mut transport: Box<dyn Transport>,
        admission: Admission,
    ) -> Result<Option<Call>, CallError> {
        let Admission { slot, pending, relayed, authenticated } = admission;
        let write_timeout = state.config.limits.write_timeout;
        let mut decoded = Decoded::default();
        let mut rate = RateWindow::new(state.config.limits.max_messages_per_second);
        let info: CallInfo = loop {
            let deadline =
                transport.poll_timeout().unwrap_or_else(|| Instant::now() + START_TIMEOUT);
            decoded.clear();
            tokio::select! {
                message = socket.recv() => {
                    let message = incoming(message)?;
                    if matches!(message, Incoming::Closed) {
                        return Ok(None);
                    }
                    if !rate.count(Instant::now()) {
                        let reason = "too many messages before the call started";
                        refuse(&state, socket, &mut *transport, "flood", POLICY_VIOLATION, reason).await;
                        return Ok(None);
                    }
                    if let Err(error) = decode(&mut *transport, &message, &mut decoded) {
                        state.metrics.protocol_errors.inc(transport.provider().as_str());
                        debug!(%error, "bad frame before start");
                    }
                }
                () = sleep_until(deadline.into()) => transport.on_timeout(Instant::now(), &mut decoded),
            }
            // The answer to a start waits until the call is known to be
            // ours: a refused start must not be accepted first.
            if let Some(info) = transport.call()
                && decoded.notices.iter().any(|n| matches!(n, Notice::CallStarted))
            {
                break info.clone();
            }
            send_frames(&mut socket, &mut decoded.replies, write_timeout)
                .await
                .map_err(|e| CallError::Socket(e.to_string()))?;
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
        };
        tracing::Span::current().record("call_id", info.call_id.as_str());
        let provider = transport.provider();
        let key = session_key(provider.as_str(), &info.call_id);
        let busy = "this call is already in progress on another connection";
        let Some(claim) = state.live_calls.claim(&key) else {
            refuse(&state, socket, &mut *transport, "duplicate_call", POLICY_VIOLATION, busy).await;
            return Ok(None);
        };
        let Ok(session_id) = SessionId::new(key.clone()) else {
            let reason = "the call's id is not usable";
            refuse(&state, socket, &mut *transport, "bad_call_id", POLICY_VIOLATION, reason).await;
            return Ok(None);
        };
        let ttl = state.config.redis.lease_ttl;
        let lease = match state.coordinator.acquire(&session_id, &state.worker, ttl).await {
            Ok(lease) => lease,
            Err(error) if error.kind() == ErrorKind::Conflict => {
                refuse(&state, socket, &mut *transport, "duplicate_call", POLICY_VIOLATION, busy)
                    .await;
                return Ok(None);
            }
            Err(error) => {
                warn!(%error, "the call's lease could not be taken");
                let reason = "the call cannot be coordinated right now; try again";
                refuse(&state, socket, &mut *transport, "coordinator", TRY_AGAIN_LATER, reason)
                    .await;
                return Ok(None);
            }
        };
        let keeper = LeaseKeeper::spawn(Arc::clone(&state), lease.clone(), ttl);
        let signals = match state.inbox.register(&lease).await {
            Ok(signals) => signals,
            Err(error) => {
                keeper.release(&state).await;
                if error.kind() == ErrorKind::Conflict {
                    refuse(
                        &state,
                        socket,
                        &mut *transport,
                        "duplicate_call",
                        POLICY_VIOLATION,
                        busy,
                    )
                    .await;
                    return Ok(None);
                }
                return Err(error.into());
            }
        };
        let resume = if transport.resumable() {
            match state.resumable.register(session_id.as_str()) {
                Some(slot) => Some(slot),
                None => {
                    keeper.release(&state).await;
                    refuse(
                        &state,
                        socket,
                        &mut *transport,
                        "duplicate_call",
                        POLICY_VIOLATION,
                        busy,
                    )
                    .await;
                    return Ok(None);
                }
            }
        } else {
            None
        };
        // The call is ours: now the start is answered.
        if let Err(error) = send_frames(&mut socket, &mut decoded.replies, write_timeout).await {
            keeper.release(&state).await;
            return Err(CallError::Socket(error.to_string()));
        }
        drop(pending);
        state.metrics.calls.inc(provider.as_str());
        info!(from = ?info.from, to = ?info.to, authenticated, "call started");

        let caps = transport.capabilities();
        let leg_in = caps.inbound.unwrap_or(AudioFormat::Ulaw);
        let leg_out = caps.outbound.unwrap_or(leg_in);
        let backend_caps = state.realtime.capabilities();
        let model_in = if backend_caps.input_formats.contains(&leg_in) { leg_in } else { PCM_24K };
        let model_out = match backend_caps.turn_model {
            // A full-duplex session has one format for both directions (the
            // caller's); the way down is converted to the leg's if need be.
            TurnModel::FullDuplex => model_in,
            TurnModel::Gated if backend_caps.output_formats.contains(&leg_out) => leg_out,
            TurnModel::Gated => PCM_24K,
        };
        let connected = timeout(
            CONNECT_TIMEOUT,
            state.realtime.connect(realtime_config(&state, model_in, model_out)),
        )
        .await;
        let backend = match connected {
            Ok(Ok(backend)) => backend,
            Ok(Err(error)) => {
                keeper.release(&state).await;
                return Err(CallError::Backend(error.to_string()));
            }
            Err(_) => {
                keeper.release(&state).await;
                return Err(CallError::Backend("no answer in time".to_owned()));
            }
        };

        let now = Instant::now();
        let record = state.records.start(&info.call_id, provider.as_str(), now);
        // How the backend takes turns is the backend's to say, not the file's.
        let call_config = turngate_core::SessionConfig {
            turn_model: backend_caps.turn_model,
            ..state.config.session.clone()
        };
        let recording =
            crate::recording::Recording::start(&state.config.recording_dir, &info.call_id, leg_in);
        let mut call = Call {
            call_id: info.call_id.clone(),
            scope: session_id.clone(),
            full_duplex: call_config.turn_model == TurnModel::FullDuplex,
            session: Session::new(call_config.clone(), now),
            socket,
            socket_open: true,
            stalled: false,
            last_heard: now,
            transport,
            backend,
            backend_open: true,
            signals: Some(signals),
            lease: Some(keeper),
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
            authenticated,
            close_reason: None,
            write_timeout,
            _claim: claim,
            _slot: slot,
            state,
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
        let sleep = sleep_until((Instant::now() + Duration::from_secs(1)).into());
        tokio::pin!(sleep);
        let mut armed = None;
        let reason = loop {
            if self.stalled {
                warn!(
                    timeout_ms = self.write_timeout.as_millis() as u64,
                    "the caller's side stopped reading; the call ends"
                );
                self.socket_open = false;
                self.stalled = false;
                self.feed(Instant::now(), Input::PeerFault { reason: EndReason::PeerNotReading })
                    .await;
            }
            if self.session.is_ended() {
                break None;
            }
            // While detached the transport waits for the new socket: its
            // pacing and playout estimate resume with it.
            let transport_wake =
                if self.detached_until.is_some() { None } else { self.transport.poll_timeout() };
            let wake = [self.session.poll_timeout(), transport_wake, self.detached_until]
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
                        if let Input::BackendError { kind: BackendErrorKind::ResponseActive, .. } =
                            &input
                        {
                            self.state.metrics.upstream_conflicts.inc();
                        }
                        if self.full_duplex && matches!(input, Input::FunctionCall { .. }) {
                            self.claim_delegation(input);
                        } else {
                            self.feed(Instant::now(), input).await;
                        }
                    }
                    // The connection gave up for good: the call ends now,
                    // not at the session's ready timeout.
                    None => {
                        self.backend_open = false;
                        self.feed(Instant::now(), Input::BackendUnavailable).await;
                    }
                },
                () = &mut sleep => {
                    // A timer that fired stays fired: arm it afresh.
                    armed = None;
                    if let Err(error) = self.on_deadline().await {
                        break Some(error);
                    }
                }
                delivered = next_signal(&mut self.signals) => match delivered {
                    Some(delivered) => {
                        self.state.metrics.signal_latency.observe(delivered.latency());
                        // The timeline says which signal arrived (a webhook's
                        // event id), so an operator can tell a lost or doubled
                        // one from the record alone.
                        let kind = delivered.signal.kind();
                        let what = match std::str::from_utf8(delivered.signal.payload()) {
                            Ok(about) if !about.is_empty() => format!("{kind} {about}"),
                            _ => kind.to_owned(),
                        };
                        self.record(Instant::now(), "signal", what);
                        match input_for(delivered.signal.kind()) {
                            Some(input) => self.feed(Instant::now(), input).await,
                            None => debug!(kind = delivered.signal.kind(), "signal ignored"),
                        }
                    }
                    None => {
                        warn!("the worker's inbox closed; the call goes on without cross-worker signals");
                        self.signals = None;
                    }
                },
                ownership = next_ownership(&mut self.lease) => {
                    if let Ownership::Lost { owner } = ownership {
                        // Signals for the call now go to the worker that
                        // holds the lease; this one no longer waits for any.
                        self.signals = None;
                        let who = owner.unwrap_or_else(|| "another worker".to_owned());
                        self.record(Instant::now(), "lease_lost", format!("the lease is held by {who}"));
                    }
                }
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
        self.last_heard = now;
        if !self.rate.count(now) {
            warn!(
                limit = self.state.config.limits.max_messages_per_second,
                "the peer floods the socket; the call ends"
            );
            self.feed(now, Input::PeerFault { reason: EndReason::PolicyViolation }).await;
            return Ok(());
        }
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
        self.note_rule_breach(&commands);
        for command in commands {
            self.execute(now, command).await;
        }
        if !self.speech.is_empty() {
            let speech: Vec<Input> = self.speech.drain(..).collect();
            for input in speech {
                let commands = self.session.handle(now, input);
                self.note_rule_breach(&commands);
                for command in commands {
                    self.execute(now, command).await;
                }
            }
        }
    }

    /// Notes a session ending for a broken rule before its hang-up goes
    /// out, so the close frame that hang-up sends carries the reason.
    fn note_rule_breach(&mut self, commands: &[Command]) {
        for command in commands {
            if let Command::App(AppCommand::SessionEnded {
                reason: reason @ EndReason::PolicyViolation,
            }) = command
            {
                self.close_reason = Some(*reason);
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
                if self.socket_open && reason != EndReason::CallerHungUp {
                    self.socket_open = false;
                    let limit = self.write_timeout;
                    match reason {
                        EndReason::PolicyViolation => {
                            socket::close(
                                &mut self.socket,
                                POLICY_VIOLATION,
                                reason.as_str(),
                                limit,
                            )
                            .await;
                        }
                        // A peer that does not read would not read a close
                        // either: the socket is dropped.
                        EndReason::PeerNotReading => {}
                        _ => socket::close_plain(&mut self.socket, limit).await,
                    }
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
            // The operator reads why a call failed here (a start refused
            // for an unknown model, say); the text is the provider's own,
            // cut short so one chatty error cannot fill the record.
            Event::BackendError { code, message } => {
                let text: String = message.chars().take(300).collect();
                self.record(
                    now,
                    "backend_error",
                    format!("{}: {text}", code.as_deref().unwrap_or("-")),
                );
            }
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

    /// A full-duplex model handed work over: whoever else observes the same
    /// session (a sideband, another worker) may see the same delegation, so
    /// it is claimed in the coordinator first, off the media path, and the
    /// core sees it only if this worker's claim was the first. A
    /// coordinator that cannot answer in time does not stop the work: this
    /// connection is its session's one primary, whose provider already
    /// acts on each delegation once.
    fn claim_delegation(&self, input: Input) {
        let Input::FunctionCall { call_id, .. } = &input else { return };
        let coordinator = Arc::clone(&self.state.coordinator);
        let scope = self.scope.clone();
        let name = format!("delegation:{}", call_id.0);
        let results = self.tools.0.clone();
        let record = Arc::clone(&self.record);
        let state = Arc::clone(&self.state);
        tokio::spawn(
            async move {
                let claimed = timeout(
                    DELEGATION_CLAIM_TIMEOUT,
                    coordinator.incr(&scope, &name, 1, DELEGATION_CLAIM_TTL),
                )
                .await;
                let ours = match claimed {
                    Ok(Ok(count)) => count == 1,
                    Ok(Err(error)) => {
                        warn!(%error, %name, "delegation claim failed; running it here");
                        true
                    }
                    Err(_) => {
                        warn!(%name, "delegation claim got no answer in time; running it here");
                        true
                    }
                };
                if ours {
                    state.metrics.delegations.inc("run");
                    // The session times the work out on its own if this is late.
                    let _ = results.send(input).await;
                } else {
                    state.metrics.delegations.inc("elsewhere");
                    if let Ok(mut record) = record.lock() {
                        record.push(Instant::now(), "delegation_elsewhere", name);
                    }
                }
            }
            .in_current_span(),
        );
    }

    fn record(&self, now: Instant, kind: &str, text: impl Into<String>) {
        if let Ok(mut record) = self.record.lock() {
            record.push(now, kind, text);
        }
    }

    /// Sends `frames` (leaving the vector empty for reuse). A write that
    /// stalls marks the call to end as `peer_not_reading`.
    async fn send(&mut self, frames: &mut Vec<OutFrame>) {
        if frames.iter().any(|frame| matches!(frame, OutFrame::HangUpViaApi)) {
            if self.authenticated {
                hangup::telnyx(&self.state, &self.call_id);
            } else {
                // The socket could have named any call: a hang-up through
                // the provider's API is only for a stream that proved it
                // comes from the provider.
                warn!(
                    "not hanging up through Call Control: this media stream did not authenticate (set auth.telnyx_stream_token)"
                );
            }
        }
        if !self.socket_open {
            frames.clear();
            return;
        }
        let close = self.close_reason.map(|reason| (POLICY_VIOLATION, reason.as_str()));
        match socket::send_frames_closing(&mut self.socket, frames, self.write_timeout, close).await
        {
            Ok(()) => {}
            Err(SendError::Stalled(_)) => {
                self.socket_open = false;
                self.stalled = true;
            }
            Err(error) => debug!(%error, "send to the caller failed"),
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
        let limit = self.write_timeout;
        if !self.transport.resumable() {
            let reason = format!("conversation {} has ended", self.call_id);
            self.state.metrics.refused.inc("resume_refused");
            resume::reject_resume(handoff, reason, limit).await;
            return;
        }
        // A socket that is still talking is not replaced: a resume is for a
        // connection that is gone, or half-open (silent for a while).
        let quiet = now.saturating_duration_since(self.last_heard);
        if self.detached_until.is_none()
            && self.socket_open
            && quiet < self.state.config.limits.resume_quiet
        {
            self.state.metrics.refused.inc("resume_refused");
            let reason = format!("conversation {} is active on another connection", self.call_id);
            resume::reject_resume(handoff, reason, limit).await;
            return;
        }
        let mut old = std::mem::replace(&mut self.socket, handoff.socket);
        if self.socket_open {
            socket::close_plain(&mut old, limit).await;
        }
        self.socket_open = true;
        self.last_heard = now;
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
                resume::reject_resume(Box::new(handoff), reason, self.write_timeout).await;
            }
        }
        self.backend.close().await;
        if let Some(lease) = self.lease.take() {
            lease.release(&self.state).await;
        }
        if self.socket_open {
            socket::close_plain(&mut self.socket, self.write_timeout).await;
        }
    }
}

/// True when speech must be detected here: the core commits turns itself,
/// or the backend is full duplex and reports no caller speech, while the
/// core still needs it for barge-in and dead air.
fn call_turns_locally(session: &turngate_core::SessionConfig) -> bool {
    session.turn_detection == turngate_core::TurnDetection::Client
        || session.turn_model == TurnModel::FullDuplex
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
        input_transcription: Some(state.config.openai.transcription_model.clone())
            .filter(|model| !model.is_empty()),
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

/// The next signal for the call, or never when it takes none.
async fn next_signal(signals: &mut Option<SessionSignals>) -> Option<Delivered> {
    match signals {
        Some(signals) => signals.recv().await,
        None => std::future::pending().await,
    }
}

/// The next change of the call's ownership, or never without a lease.
async fn next_ownership(lease: &mut Option<LeaseKeeper>) -> Ownership {
    match lease {
        Some(lease) => lease.changed().await,
        None => std::future::pending().await,
    }
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

    /// Counts one message; false once the second's limit is passed.
    fn count(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count <= self.limit
    }
}
