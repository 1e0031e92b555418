//! The session: one state machine that every input goes through.

use std::collections::VecDeque;
use std::mem;
use std::time::{Duration, Instant};

use crate::audio::AudioChunk;
use crate::command::{
    AppCommand, BackendCommand, Command, Purpose, ResponseSpec, TransportCommand,
};
use crate::config::{BargeIn, ResponseMode, SessionConfig, TurnDetection, TurnModel};
use crate::counters::Counters;
use crate::dead_air::{DeadAir, Expiry};
use crate::event::{DropReason, EndReason, Event, GateKind, Ignored, RequeueReason, Role, Wait};
use crate::gate::{CancelReason, Flight, Gate, Ours, ToolCall};
use crate::ids::{CallId, ClientEventId, ConnId, ItemId, MarkId, ResponseId};
use crate::input::{BackendErrorKind, Input, Origin, ResponseStatus};
use crate::outbox::{Outbox, Presence};
use crate::playback::{ItemProgress, Playback};
use crate::queue::{Next, PendingTurn, Queue, Request};

mod full_duplex;

use full_duplex::GoodbyeWait;

/// One conversation (a phone call, an app session) as a sans-IO state machine.
///
/// # Contract
///
/// - Time enters only through the `now` arguments. The session never reads a
///   clock; feed it a monotonic time (an earlier `now` than the last one is
///   treated as the last one).
/// - [`Session::handle`] accepts every [`Input`] in every state and never
///   fails: an input that does not apply is counted and reported as
///   [`Event::Ignored`]. The returned commands must be carried out in order.
/// - [`Session::poll_timeout`] says when the session next wants
///   [`Input::Tick`]; the driver sleeps until then or the next input,
///   whichever comes first.
/// - After [`AppCommand::SessionEnded`] the session is inert.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    now: Instant,
    started_at: Instant,
    phase: Phase,

    ready: bool,
    ready_deadline: Option<Instant>,
    held_audio: VecDeque<AudioChunk>,
    held_audio_duration: Duration,
    held_backend: VecDeque<Held>,

    gate: Gate,
    idle_since: Instant,
    create_not_before: Option<Instant>,
    queue: Queue,
    out_of_band: VecDeque<ResponseId>,
    tools: Vec<ToolWait>,
    /// Full duplex: the goodbye was instructed; it is taken as said once
    /// the model has spoken for a while after it was placed.
    goodbye: Option<GoodbyeWait>,

    appended_since_commit: Duration,
    /// The most recent audio appended since the last commit (at most
    /// `readiness_buffer` of it): the backend's input buffer dies with its
    /// connection, so this is sent again on the next one, and a caller who
    /// was mid-sentence when the link dropped is still heard whole.
    uncommitted: VecDeque<AudioChunk>,
    uncommitted_duration: Duration,
    commit_wanted: bool,
    unacked_commits: VecDeque<(ClientEventId, u64)>,
    sent: VecDeque<(ClientEventId, Sent)>,
    next_event_id: u64,

    playback: Playback,
    user_speaking: bool,
    barge_in_at: Option<Instant>,
    dead_air: DeadAir,
    pace: crate::pace::AudioPace,

    outbox: Outbox,
    presence: Presence,

    counters: Counters,
    out: Vec<Command>,
}

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionPhase {
    /// Waiting for the backend to become ready for the first time.
    Starting,
    /// Running.
    Live,
    /// Saying goodbye before hanging up.
    Ending(EndReason),
    /// Over; every further input is ignored.
    Ended(EndReason),
}

#[derive(Debug)]
enum Phase {
    Starting,
    Live,
    Ending { reason: EndReason, deadline: Instant, goodbye_done: bool },
    Ended(EndReason),
}

/// Upstream work that must wait until the backend is ready.
#[derive(Debug)]
enum Held {
    UserText(String),
    ToolOutput { call_id: CallId, output: String },
}

/// A tool call handed to the app, waiting for its result.
#[derive(Debug)]
struct ToolWait {
    call_id: CallId,
    deadline: Instant,
}

/// What a client event we sent was, so an error naming it can be understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    Commit,
    Create,
    Cancel,
    Truncate,
    FunctionOutput,
    UserText,
    Instruct(Purpose),
}

/// The timers a session runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Ready,
    MaxDuration,
    Ending,
    Gate,
    BargeIn,
    DeadAir,
    Playback,
    Tool,
    Presence,
    /// Nothing to do but look again (a retry backoff or a grace period ends).
    Wake,
}

/// How many client events to remember for matching errors to them.
const SENT_REMEMBERED: usize = 64;
/// How many out-of-band responses to track at once.
const OUT_OF_BAND_TRACKED: usize = 16;
/// How much upstream work may wait for the backend to become ready.
const HELD_BACKEND_LIMIT: usize = 64;
/// Timers fired per input at most; each firing clears its own deadline, so
/// this only guards against a bug turning into an endless loop.
const TIMERS_PER_INPUT: usize = 64;
/// The output a tool that never answered gets, so the model can go on.
const TOOL_TIMEOUT_OUTPUT: &str = r#"{"error":"the tool did not answer in time"}"#;

impl Session {
    /// A new session starting at `now`. A configured greeting waits for the
    /// backend to become ready.
    pub fn new(config: SessionConfig, now: Instant) -> Session {
        let outbox = Outbox::new(config.outbox_capacity, config.outbox_max_bytes);
        let ready_deadline = Some(now + config.ready_timeout);
        let mut session = Session {
            now,
            started_at: now,
            phase: Phase::Starting,
            ready: false,
            ready_deadline,
            held_audio: VecDeque::new(),
            held_audio_duration: Duration::ZERO,
            held_backend: VecDeque::new(),
            gate: Gate::Idle,
            idle_since: now,
            create_not_before: None,
            queue: Queue::default(),
            out_of_band: VecDeque::new(),
            tools: Vec::new(),
            goodbye: None,
            appended_since_commit: Duration::ZERO,
            uncommitted: VecDeque::new(),
            uncommitted_duration: Duration::ZERO,
            commit_wanted: false,
            unacked_commits: VecDeque::new(),
            sent: VecDeque::new(),
            next_event_id: 0,
            playback: Playback::default(),
            user_speaking: false,
            barge_in_at: None,
            dead_air: DeadAir::default(),
            pace: crate::pace::AudioPace::new(config.caller_audio_rate, config.caller_audio_burst),
            outbox,
            presence: Presence::default(),
            counters: Counters::default(),
            out: Vec::new(),
            config,
        };
        if let Some(greeting) = session.config.greeting.clone() {
            session.queue.push_request(Purpose::Greeting, Some(greeting));
        }
        session
    }

    /// Feeds one input at `now` and returns what must be done, in order.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Command> {
        let now = self.advance(now);
        if !self.is_ended() {
            self.fire_due(now);
        }
        if self.is_ended() {
            if input != Input::Tick {
                self.event(Event::Ignored(Ignored::SessionOver));
            }
        } else {
            self.apply(now, input);
            if !self.is_ended() {
                self.settle(now);
            }
        }
        mem::take(&mut self.out)
    }

    /// When the session next needs [`Input::Tick`], if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(at, _)| at)
    }

    // ---- Getters ----------------------------------------------------------

    /// Where the session is in its life.
    pub fn phase(&self) -> SessionPhase {
        match self.phase {
            Phase::Starting => SessionPhase::Starting,
            Phase::Live => SessionPhase::Live,
            Phase::Ending { reason, .. } => SessionPhase::Ending(reason),
            Phase::Ended(reason) => SessionPhase::Ended(reason),
        }
    }

    /// True once the session is over.
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended(_))
    }

    /// The turn gate's state.
    pub fn gate(&self) -> GateKind {
        self.gate.kind()
    }

    /// The response the gate tracks, if one exists on the backend.
    pub fn active_response(&self) -> Option<&ResponseId> {
        self.gate.flight().map(|f| &f.response_id)
    }

    /// True while the caller may be hearing the agent: from the first audio
    /// sent until the transport confirms the last of it.
    pub fn agent_speaking(&self) -> bool {
        self.playback.speaking()
    }

    /// True between the caller's speech start and stop.
    pub fn user_speaking(&self) -> bool {
        self.user_speaking
    }

    /// True while upstream traffic may flow.
    pub fn backend_ready(&self) -> bool {
        self.ready
    }

    /// User turns waiting for a response.
    pub fn pending_turns(&self) -> usize {
        self.queue.turns().len()
    }

    /// Requested responses waiting for the gate.
    pub fn pending_requests(&self) -> usize {
        self.queue.requests().len()
    }

    /// When the oldest waiting user turn was committed.
    pub fn oldest_pending_since(&self) -> Option<Instant> {
        self.queue.turns().front().map(|t| t.committed_at)
    }

    /// Tool calls handed to the app and not answered yet.
    pub fn tools_running(&self) -> usize {
        self.tools.len()
    }

    /// Dead-air check-ins since the caller last spoke.
    pub fn check_ins(&self) -> u32 {
        self.dead_air.check_ins()
    }

    /// True while the silence timer runs.
    pub fn silence_timer_running(&self) -> bool {
        self.dead_air.is_quiet()
    }

    /// Audio chunks sent to the caller and not yet confirmed heard.
    pub fn unconfirmed_chunks(&self) -> usize {
        self.playback.unconfirmed_chunks()
    }

    /// What became of the most recent assistant items' audio.
    pub fn items(&self) -> impl Iterator<Item = &ItemProgress> {
        self.playback.items()
    }

    /// Running totals.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The app-client outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Open app-client connections.
    pub fn client_connections(&self) -> usize {
        self.presence.open().len()
    }

    /// The configuration the session runs with.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The latest time the session was given.
    pub fn now(&self) -> Instant {
        self.now
    }

    // ---- Dispatch -----------------------------------------------------------

    fn apply(&mut self, now: Instant, input: Input) {
        match input {
            Input::Tick => {}
            Input::CallerAudio(audio) => self.on_caller_audio(now, audio),
            Input::UserSpeechStarted => self.on_speech_started(now),
            Input::UserSpeechStopped => self.on_speech_stopped(now),
            Input::Dtmf { digit } => {
                self.event(Event::Dtmf { digit });
                self.dead_air.caller_active();
            }
            Input::PlaybackMark(mark) => self.on_mark(mark),
            Input::PlaybackStarted => {
                let was = self.playback.speaking();
                self.playback.external_started(now + self.config.external_playback_timeout);
                self.speaking_changed(was);
            }
            Input::PlaybackEnded => {
                let was = self.playback.speaking();
                if !self.playback.ended() {
                    self.event(Event::Ignored(Ignored::PlaybackNotActive));
                }
                self.speaking_changed(was);
            }
            Input::ExternalPlaybackEnded => {
                let was = self.playback.speaking();
                if !self.playback.external_ended() {
                    self.event(Event::Ignored(Ignored::PlaybackNotActive));
                }
                self.speaking_changed(was);
            }
            Input::CallEnded => self.end(now, EndReason::CallerHungUp),
            Input::PeerFault { reason } => self.end(now, reason),
            Input::BackendReady => self.on_backend_ready(now),
            Input::BackendDisconnected => self.on_backend_lost(now),
            Input::BackendUnavailable => self.end(now, EndReason::BackendUnavailable),
            Input::InputCommitted { item_id: _ } => self.on_committed(now),
            Input::ResponseCreated { response_id, origin, out_of_band } => {
                self.on_created(now, response_id, origin, out_of_band);
            }
            Input::ResponseAudio { response_id, item_id, audio } => {
                self.on_response_audio(now, &response_id, item_id, audio);
            }
            Input::ResponseTranscript { text, .. } => {
                self.event(Event::Transcript { role: Role::Assistant, text });
            }
            Input::FunctionCall { response_id, call_id, name, arguments } => {
                self.on_function_call(now, &response_id, ToolCall { call_id, name, arguments });
            }
            Input::ResponseDone { response_id, status } => self.on_done(now, &response_id, status),
            Input::UserTranscript { text, .. } => self.on_user_transcript(text),
            Input::InstructionPlaced { event_id } => self.on_instruction_placed(event_id),
            Input::BackendError { event_id, kind, code, message } => {
                self.on_backend_error(now, event_id, kind, code, message);
            }
            Input::RequestResponse { instructions, out_of_band } => {
                self.on_request(instructions, out_of_band);
            }
            Input::UserText { text } => self.on_user_text(now, text),
            Input::ToolResult { call_id, output } => self.on_tool_result(&call_id, output),
            Input::HangUp => self.end(now, EndReason::AppHungUp),
            Input::ClientConnected { conn, last_seq } => self.on_client_connected(conn, last_seq),
            Input::ClientDisconnected { conn } => {
                if !self.presence.disconnect(now, conn) {
                    self.event(Event::Ignored(Ignored::UnknownConnection));
                }
            }
            Input::SendToClients { text } => self.on_send_to_clients(text),
        }
    }

    /// Brings derived state up to date after any change: sends the next
    /// create if the gate allows, finishes a goodbye, runs the silence timer.
    fn settle(&mut self, now: Instant) {
        self.pump(now);
        if let Phase::Ending { reason, goodbye_done: true, .. } = self.phase
            && !self.playback.speaking()
        {
            self.end(now, reason);
            return;
        }
        let quiet = self.is_quiet();
        self.dead_air.set_quiet(now, quiet);
    }

    fn is_quiet(&self) -> bool {
        let user_quiet = !self.user_speaking || self.planted(PlantedBugKind::DeadAirIgnoresUser);
        matches!(self.phase, Phase::Live)
            && self.ready
            && user_quiet
            && !self.playback.speaking()
            && matches!(self.gate, Gate::Idle)
            && self.queue.is_empty()
            && self.tools.is_empty()
            && self.barge_in_at.is_none()
    }

    // ---- Transport inputs ---------------------------------------------------

    fn on_caller_audio(&mut self, now: Instant, audio: AudioChunk) {
        if !self.pace.admit(now, audio.duration) {
            self.event(Event::CallerAudioTooFast { duration: audio.duration });
            self.end(now, EndReason::PolicyViolation);
            return;
        }
        if self.ready {
            self.append(audio);
            return;
        }
        // Before the backend is ready, hold the most recent audio only: what
        // the caller says just before the agent can listen matters most.
        self.held_audio_duration += audio.duration;
        self.held_audio.push_back(audio);
        while self.held_audio_duration > self.config.readiness_buffer {
            let Some(oldest) = self.held_audio.pop_front() else {
                break;
            };
            self.held_audio_duration = self.held_audio_duration.saturating_sub(oldest.duration);
            self.event(Event::CallerAudioDropped { duration: oldest.duration });
        }
    }

    /// Sends caller audio to a ready backend, keeping a copy until the next
    /// commit in case the connection drops first.
    fn append(&mut self, audio: AudioChunk) {
        if self.full_duplex() {
            // Nothing is committed, and a new full-duplex session starts a
            // new timeline: old audio sent into it would be heard as if the
            // caller had just said it.
            self.push(Command::Backend(BackendCommand::AppendAudio(audio)));
            return;
        }
        self.appended_since_commit += audio.duration;
        self.uncommitted_duration += audio.duration;
        self.uncommitted.push_back(audio.clone());
        while self.uncommitted_duration > self.config.readiness_buffer {
            let Some(oldest) = self.uncommitted.pop_front() else {
                break;
            };
            self.uncommitted_duration = self.uncommitted_duration.saturating_sub(oldest.duration);
        }
        self.push(Command::Backend(BackendCommand::AppendAudio(audio)));
    }

    /// The backend's input buffer became a turn (or died): nothing in it is
    /// to be sent again.
    fn forget_uncommitted(&mut self) {
        self.appended_since_commit = Duration::ZERO;
        self.uncommitted.clear();
        self.uncommitted_duration = Duration::ZERO;
    }

    fn on_speech_started(&mut self, now: Instant) {
        if !self.user_speaking {
            self.user_speaking = true;
            self.event(Event::UserSpeaking(true));
        }
        self.dead_air.caller_active();
        // A check-in that has not been asked yet is moot once the caller speaks.
        for request in self.queue.drain_requests_where(|r| r.purpose == Purpose::CheckIn) {
            self.event(Event::RequestDropped {
                purpose: request.purpose,
                reason: DropReason::Interrupted,
            });
        }
        if !matches!(self.phase, Phase::Live) || !self.agent_busy() {
            return;
        }
        match self.config.barge_in {
            BargeIn::Off => {}
            BargeIn::Immediate => self.barge_in(now),
            BargeIn::AfterSpeechMs(ms) => {
                if self.barge_in_at.is_none() {
                    self.barge_in_at = Some(now + Duration::from_millis(ms));
                }
            }
        }
    }

    /// True while the agent is talking or about to.
    fn agent_busy(&self) -> bool {
        self.playback.speaking() || matches!(self.gate, Gate::Requested { .. } | Gate::Active(_))
    }

    fn on_speech_stopped(&mut self, now: Instant) {
        if self.user_speaking {
            self.user_speaking = false;
            self.event(Event::UserSpeaking(false));
        }
        self.barge_in_at = None;
        if self.config.turn_detection == TurnDetection::Client
            && !self.full_duplex()
            && matches!(self.phase, Phase::Starting | Phase::Live)
        {
            if self.ready {
                self.commit_if_enough(now);
            } else {
                self.commit_wanted = true;
            }
        }
    }

    /// Commits the input buffer as a turn, but only with enough audio in it:
    /// a shorter commit is rejected by the backend, and the audio stays in
    /// the buffer to join the next turn.
    fn commit_if_enough(&mut self, now: Instant) {
        self.commit_wanted = false;
        if self.appended_since_commit < self.config.min_commit
            || !matches!(self.phase, Phase::Starting | Phase::Live)
        {
            return;
        }
        let event_id = self.event_id(Sent::Commit);
        self.push(Command::Backend(BackendCommand::Commit { event_id }));
        self.forget_uncommitted();
        if let Some(seq) = self.register_turn(now) {
            self.unacked_commits.push_back((event_id, seq));
        }
    }

    fn on_mark(&mut self, mark: MarkId) {
        let was = self.playback.speaking();
        if !self.playback.confirm(mark) {
            self.event(Event::Ignored(Ignored::UnknownMark));
        }
        self.speaking_changed(was);
    }

    fn speaking_changed(&mut self, was: bool) {
        let is = self.playback.speaking();
        if was != is {
            self.event(Event::AgentSpeaking(is));
        }
    }

    // ---- Barge-in -------------------------------------------------------------

    /// The caller talks over the agent: stop generating, stop playing, and
    /// tell the model what the caller actually heard.
    fn barge_in(&mut self, now: Instant) {
        self.barge_in_at = None;
        if self.full_duplex() && !self.planted(PlantedBugKind::GateInFullDuplex) {
            // The model hears the caller too and decides itself whether to
            // stop; all that is ours is what the caller's leg still queues.
            self.clear_playout();
            return;
        }
        let from = self.gate.kind();
        match mem::replace(&mut self.gate, Gate::Idle) {
            Gate::Active(flight) => {
                let heard = self.heard(&flight);
                self.cancel(now, from, flight, CancelReason::BargeIn { heard });
            }
            Gate::Requested { event_id, request, since, .. } => {
                self.gate = Gate::Requested {
                    event_id,
                    request,
                    since,
                    cancel_on_create: Some(CancelReason::BargeIn { heard: false }),
                };
            }
            other => self.gate = other,
        }
        if !self.playback.speaking() {
            self.event(Event::BargeIn { item_id: None, played_ms: 0 });
            return;
        }
        self.push(Command::Transport(TransportCommand::Clear));
        let cut = self.playback.clear();
        match cut {
            Some(cut) => {
                let played_ms = u64::try_from(cut.played.as_millis()).unwrap_or(u64::MAX);
                self.event(Event::BargeIn { item_id: Some(cut.item_id.clone()), played_ms });
                if played_ms == 0 || !cut.truncatable || !self.ready {
                    // The backend rejects a truncate at 0 ms, and a new
                    // connection does not know the items of the old one.
                    self.event(Event::TruncateSkipped { item_id: cut.item_id });
                } else {
                    let event_id = self.event_id(Sent::Truncate);
                    self.push(Command::Backend(BackendCommand::Truncate {
                        event_id,
                        item_id: cut.item_id,
                        audio_end_ms: played_ms,
                    }));
                }
            }
            None => self.event(Event::BargeIn { item_id: None, played_ms: 0 }),
        }
        self.event(Event::AgentSpeaking(false));
    }

    /// True if the caller heard any of the response's audio.
    fn heard(&self, flight: &Flight) -> bool {
        flight.items.iter().any(|id| {
            self.playback.items().any(|item| &item.item_id == id && !item.played.is_zero())
        })
    }

    fn cancel(&mut self, now: Instant, from: GateKind, flight: Flight, reason: CancelReason) {
        let event_id = self.event_id(Sent::Cancel);
        self.push(Command::Backend(BackendCommand::CancelResponse {
            event_id,
            response_id: flight.response_id.clone(),
        }));
        self.transition(now, from, Gate::Cancelling { flight, reason, since: now });
    }

    // ---- Backend inputs -------------------------------------------------------

    fn on_backend_ready(&mut self, now: Instant) {
        if self.ready {
            self.event(Event::Ignored(Ignored::AlreadyReady));
            return;
        }
        self.ready = true;
        self.ready_deadline = None;
        self.event(Event::BackendReady);
        if matches!(self.phase, Phase::Starting) {
            self.phase = Phase::Live;
        }
        self.held_audio_duration = Duration::ZERO;
        for audio in mem::take(&mut self.held_audio) {
            self.append(audio);
        }
        for held in mem::take(&mut self.held_backend) {
            match held {
                Held::UserText(text) => self.send_user_text(now, text),
                Held::ToolOutput { call_id, output } => self.send_tool_output(call_id, output),
            }
        }
        if self.commit_wanted && !self.user_speaking {
            self.commit_if_enough(now);
        }
    }

    fn on_backend_lost(&mut self, now: Instant) {
        if !self.ready {
            self.event(Event::Ignored(Ignored::AlreadyDisconnected));
            return;
        }
        self.ready = false;
        self.ready_deadline = Some(now + self.config.ready_timeout);
        self.event(Event::BackendLost);
        self.playback.backend_lost();
        // The backend's input buffer and responses died with the connection.
        // What the caller said since the last commit is held again, to be
        // sent first on the next connection (before anything said meanwhile).
        self.appended_since_commit = Duration::ZERO;
        self.held_audio = mem::take(&mut self.uncommitted);
        self.held_audio_duration = mem::replace(&mut self.uncommitted_duration, Duration::ZERO);
        self.unacked_commits.clear();
        self.out_of_band.clear();
        if self.full_duplex() {
            // A full-duplex session dies with its connection, and with it
            // every delegation it announced: a result for one could only be
            // refused by the next session, so the work is called off here,
            // where the app still hears of it.
            let orphaned = mem::take(&mut self.tools).len();
            self.discard_tool_calls(orphaned, ResponseStatus::Cancelled);
            if let Some(goodbye) = self.goodbye.take() {
                self.retry_request(goodbye.request);
            }
        }
        let from = self.gate.kind();
        match mem::replace(&mut self.gate, Gate::Idle) {
            Gate::Idle => {}
            Gate::Requested { request, .. } => self.retry_request(request),
            Gate::Active(flight) => self.settle_lost_flight(flight, None),
            Gate::Cancelling { flight, reason, .. } => {
                self.settle_lost_flight(flight, Some(reason));
            }
        }
        self.transition(now, from, Gate::Idle);
    }

    /// A response died with the backend connection.
    fn settle_lost_flight(&mut self, flight: Flight, reason: Option<CancelReason>) {
        match reason {
            Some(CancelReason::BargeIn { heard: true }) => {
                self.answered(&flight.covered, flight.created_at, true);
            }
            Some(CancelReason::Ending) => {
                self.drop_turns(&flight.covered, DropReason::SessionEnding);
            }
            _ => self.requeue_turns(flight.covered, RequeueReason::BackendLost),
        }
        self.discard_tool_calls(flight.tool_calls.len(), ResponseStatus::Cancelled);
        match flight.ours {
            Ours::No => {}
            Ours::Yes(request) | Ours::Probably(_, request) => {
                if reason.is_none() && request.purpose != Purpose::Answer {
                    self.retry_request(request);
                }
            }
            // Never sent on this connection's behalf: it goes back in line as it was.
            Ours::Behind(_, request) => self.retry_request(request),
        }
    }

    fn on_committed(&mut self, now: Instant) {
        if self.full_duplex() {
            // A full-duplex backend takes its own turns; none is ours to answer.
            self.event(Event::Ignored(Ignored::UnexpectedCommit));
            return;
        }
        // A commit we sent was counted as a turn when we sent it.
        if self.unacked_commits.pop_front().is_some() {
            return;
        }
        if self.config.turn_detection == TurnDetection::Client {
            // Only our own commits make turns here; this acknowledges one
            // sent on a connection that has since been replaced.
            self.event(Event::Ignored(Ignored::UnexpectedCommit));
            return;
        }
        // The backend's VAD committed: its input buffer is empty again.
        self.forget_uncommitted();
        self.register_turn(now);
    }

    /// Adds a committed user turn to the queue; returns its sequence number.
    fn register_turn(&mut self, now: Instant) -> Option<u64> {
        if !matches!(self.phase, Phase::Starting | Phase::Live) {
            self.event(Event::TurnsDropped { count: 1, reason: DropReason::SessionEnding });
            return None;
        }
        let busy = !matches!(self.gate, Gate::Idle);
        if busy && self.planted(PlantedBugKind::ForgetTurnWhileBusy) {
            self.event(Event::TurnQueued { pending: self.queue.turns().len() });
            return None;
        }
        let seq = self.queue.push_turn(now);
        self.event(Event::TurnQueued { pending: self.queue.turns().len() });
        if busy {
            self.event(Event::ResponseDeferred { purpose: Purpose::Answer });
        }
        Some(seq)
    }

    fn on_created(
        &mut self,
        now: Instant,
        response_id: ResponseId,
        origin: Origin,
        out_of_band: bool,
    ) {
        if out_of_band {
            if self.out_of_band.len() == OUT_OF_BAND_TRACKED {
                self.out_of_band.pop_front();
            }
            self.out_of_band.push_back(response_id);
            return;
        }
        if self.full_duplex() {
            self.on_speech_began(now, response_id);
            return;
        }
        let from = self.gate.kind();
        match mem::replace(&mut self.gate, Gate::Idle) {
            Gate::Idle => {
                self.event(Event::ServerResponseAdopted { response_id: response_id.clone() });
                let flight = self.flight(now, response_id, Ours::No);
                self.transition(now, from, Gate::Active(flight));
            }
            Gate::Requested { event_id, request, cancel_on_create, .. } => {
                let ours = match origin {
                    Origin::Create(tag) if tag == event_id => Ours::Yes(request),
                    Origin::Unknown => Ours::Probably(event_id, request),
                    // The server's own, or the answer to an earlier create
                    // we gave up on: ours is still outstanding behind it.
                    Origin::Create(_) | Origin::Server => {
                        self.event(Event::ServerResponseAdopted {
                            response_id: response_id.clone(),
                        });
                        Ours::Behind(event_id, request)
                    }
                };
                let flight = self.flight(now, response_id, ours);
                match cancel_on_create {
                    Some(reason) => self.cancel(now, from, flight, reason),
                    None => self.transition(now, from, Gate::Active(flight)),
                }
            }
            other => {
                // The backend allows one response at a time; a second one
                // means it broke that rule. Keep tracking the first.
                self.gate = other;
                self.event(Event::Ignored(Ignored::ExtraResponseCreated));
            }
        }
    }

    /// A response now exists: it answers every turn committed before it,
    /// and it continues after every tool output returned before it, so a
    /// waiting tool follow-up is moot.
    fn flight(&mut self, now: Instant, response_id: ResponseId, ours: Ours) -> Flight {
        self.queue.drain_requests_where(|r| r.purpose == Purpose::ToolFollowUp);
        Flight {
            response_id,
            ours,
            covered: self.queue.take_turns(),
            created_at: now,
            tool_calls: Vec::new(),
            items: Vec::new(),
        }
    }

    fn on_response_audio(
        &mut self,
        now: Instant,
        response_id: &ResponseId,
        item_id: ItemId,
        audio: AudioChunk,
    ) {
        let play = match &mut self.gate {
            Gate::Active(flight) if &flight.response_id == response_id => {
                if !flight.items.contains(&item_id) {
                    flight.items.push(item_id.clone());
                }
                true
            }
            Gate::Cancelling { flight, .. } if &flight.response_id == response_id => {
                self.planted(PlantedBugKind::PlayLateAudio)
            }
            _ => false,
        };
        if !play {
            // Audio of a cancelled response keeps arriving for a while; the
            // caller must not hear what they just interrupted.
            self.event(Event::LateAudioDropped {
                response_id: response_id.clone(),
                duration: audio.duration,
            });
            return;
        }
        if let Some(goodbye) = self.goodbye.as_mut().filter(|g| g.placed) {
            goodbye.spoken += audio.duration;
        }
        let was = self.playback.speaking();
        let mark = self.playback.send(now, &item_id, audio.duration);
        self.push(Command::Transport(TransportCommand::Play { item_id, audio, mark }));
        self.speaking_changed(was);
    }

    fn on_function_call(&mut self, now: Instant, response_id: &ResponseId, call: ToolCall) {
        if self.full_duplex() {
            // Work the model hands over (a delegation) belongs to no
            // response: it runs at once, while the conversation goes on.
            if matches!(self.phase, Phase::Live) {
                self.invoke_tool(now, call);
            } else {
                self.discard_tool_calls(1, ResponseStatus::Cancelled);
            }
            return;
        }
        match &mut self.gate {
            Gate::Active(flight) | Gate::Cancelling { flight, .. }
                if &flight.response_id == response_id =>
            {
                flight.tool_calls.push(call);
            }
            _ => self.event(Event::Ignored(Ignored::UnknownResponseData)),
        }
    }

    fn on_done(&mut self, now: Instant, response_id: &ResponseId, status: ResponseStatus) {
        if let Some(position) = self.out_of_band.iter().position(|id| id == response_id) {
            self.out_of_band.remove(position);
            return;
        }
        let tracked = self.gate.flight().is_some_and(|f| &f.response_id == response_id);
        if !tracked {
            self.event(Event::Ignored(Ignored::UnknownResponseDone));
            return;
        }
        let from = self.gate.kind();
        let (flight, reason) = match mem::replace(&mut self.gate, Gate::Idle) {
            Gate::Active(flight) => (flight, None),
            Gate::Cancelling { flight, reason, .. } => (flight, Some(reason)),
            other => {
                self.gate = other;
                return;
            }
        };
        if self.planted(PlantedBugKind::SpeakingEndsOnResponseDone) {
            let was = self.playback.speaking();
            self.playback.ended();
            self.speaking_changed(was);
        }
        let next = self.finish(now, flight, status, reason);
        self.transition(now, from, next);
        if self.full_duplex() {
            self.on_speech_ended();
        }
    }

    /// Settles a finished response: its turns, its tool calls, our request.
    /// Returns the gate's next state.
    fn finish(
        &mut self,
        now: Instant,
        flight: Flight,
        status: ResponseStatus,
        reason: Option<CancelReason>,
    ) -> Gate {
        let Flight { ours, covered, created_at, tool_calls, .. } = flight;
        match (status, reason) {
            (
                ResponseStatus::Completed | ResponseStatus::Incomplete | ResponseStatus::Cancelled,
                Some(CancelReason::BargeIn { heard: false }),
            ) => {
                // Cut off before the caller heard a word (whether or not the
                // backend finished it first): the turns were never answered,
                // so they wait for the next response.
                self.requeue_turns_free(covered);
            }
            (ResponseStatus::Completed | ResponseStatus::Incomplete, _) => {
                self.answered(&covered, created_at, false);
            }
            (ResponseStatus::Cancelled, Some(CancelReason::Ending)) => {
                self.drop_turns(&covered, DropReason::SessionEnding);
            }
            (ResponseStatus::Cancelled, Some(CancelReason::BargeIn { heard: true }) | None) => {
                self.answered(&covered, created_at, true);
            }
            (ResponseStatus::Cancelled, Some(CancelReason::Timeout))
            | (ResponseStatus::Failed, _) => {
                self.requeue_turns(covered, RequeueReason::ResponseFailed);
            }
        }
        if status == ResponseStatus::Completed && matches!(self.phase, Phase::Live) {
            for call in tool_calls {
                self.invoke_tool(now, call);
            }
        } else {
            self.discard_tool_calls(tool_calls.len(), status);
        }
        match ours {
            Ours::No => Gate::Idle,
            Ours::Yes(request) | Ours::Probably(_, request) => {
                self.request_finished(request, status, reason);
                Gate::Idle
            }
            // The server's response is done; ours is still waiting there.
            Ours::Behind(event_id, request) => {
                Gate::Requested { event_id, request, since: now, cancel_on_create: None }
            }
        }
    }

    /// Hands a tool call to the app and starts its timeout.
    fn invoke_tool(&mut self, now: Instant, call: ToolCall) {
        self.push(Command::App(AppCommand::InvokeTool {
            call_id: call.call_id.clone(),
            name: call.name,
            arguments: call.arguments,
        }));
        self.tools
            .push(ToolWait { call_id: call.call_id, deadline: now + self.config.tool_timeout });
    }

    fn request_finished(
        &mut self,
        request: Request,
        status: ResponseStatus,
        reason: Option<CancelReason>,
    ) {
        let failed = status == ResponseStatus::Failed
            || (status == ResponseStatus::Cancelled && reason == Some(CancelReason::Timeout));
        // An answer's turns were settled with the response that covered them.
        if failed && request.purpose != Purpose::Answer {
            self.retry_request(request);
            return;
        }
        if request.purpose == Purpose::Goodbye
            && let Phase::Ending { goodbye_done, .. } = &mut self.phase
        {
            *goodbye_done = true;
        }
    }

    fn on_user_transcript(&mut self, text: String) {
        let lowered = text.to_lowercase();
        let hold_on = self
            .config
            .dead_air
            .hold_on_phrases
            .iter()
            .any(|phrase| lowered.contains(&phrase.to_lowercase()));
        self.event(Event::Transcript { role: Role::User, text });
        if hold_on {
            self.dead_air.hold_on();
            self.event(Event::HoldOn);
        }
    }

    fn on_backend_error(
        &mut self,
        now: Instant,
        event_id: Option<ClientEventId>,
        kind: BackendErrorKind,
        code: Option<String>,
        message: String,
    ) {
        if let Some(event_id) = event_id {
            if self.answers_our_create(event_id) {
                self.create_rejected(now, code);
                return;
            }
            match self.sent_kind(event_id) {
                Some(Sent::Cancel) if kind == BackendErrorKind::NothingToCancel => {
                    // The response finished before our cancel arrived.
                    self.event(Event::BenignError { code: code.unwrap_or_default() });
                }
                Some(Sent::Commit) => self.commit_rejected(event_id, code),
                Some(Sent::Instruct(purpose)) if kind == BackendErrorKind::Lost => {
                    self.instruction_lost(event_id, purpose);
                }
                Some(Sent::Instruct(purpose)) => {
                    self.event(Event::BackendError { code, message });
                    self.instruction_rejected(purpose);
                }
                Some(_) => self.event(Event::BackendError { code, message }),
                None => {
                    self.event(Event::Ignored(Ignored::UnknownEventError));
                    self.event(Event::BackendError { code, message });
                }
            }
            return;
        }
        match kind {
            BackendErrorKind::NothingToCancel | BackendErrorKind::NothingToCommit => {
                self.event(Event::BenignError { code: code.unwrap_or_default() });
            }
            BackendErrorKind::ResponseActive | BackendErrorKind::Lost | BackendErrorKind::Other => {
                self.event(Event::BackendError { code, message });
            }
        }
    }

    fn answers_our_create(&self, event_id: ClientEventId) -> bool {
        match &self.gate {
            Gate::Requested { event_id: ours, .. } => *ours == event_id,
            Gate::Active(flight) | Gate::Cancelling { flight, .. } => {
                flight.ours.outstanding() == Some(event_id)
            }
            Gate::Idle => false,
        }
    }

    /// The backend refused our create (typically because a response of its
    /// own is active): the request waits, with a backoff, and is retried.
    fn create_rejected(&mut self, now: Instant, code: Option<String>) {
        let from = self.gate.kind();
        let (request, cancel_reason) = match mem::replace(&mut self.gate, Gate::Idle) {
            Gate::Requested { request, cancel_on_create, .. } => {
                self.transition(now, from, Gate::Idle);
                (request, cancel_on_create)
            }
            Gate::Active(mut flight) => {
                let request = self.unclaim(&mut flight);
                self.gate = Gate::Active(flight);
                let Some(request) = request else { return };
                (request, None)
            }
            Gate::Cancelling { mut flight, reason, since } => {
                let request = self.unclaim(&mut flight);
                self.gate = Gate::Cancelling { flight, reason, since };
                let Some(request) = request else { return };
                (request, Some(reason))
            }
            Gate::Idle => return,
        };
        let attempts = self.attempts_of(&request) + 1;
        let retry_in =
            self.config.retry_backoff * 2u32.saturating_pow(attempts.saturating_sub(1).min(5));
        self.event(Event::CreateRejected { code, retry_in });
        self.create_not_before = Some(now + retry_in);
        if let Some(reason) = cancel_reason
            && request.purpose != Purpose::Answer
        {
            self.event(Event::RequestDropped {
                purpose: request.purpose,
                reason: reason.drop_reason(),
            });
            return;
        }
        self.retry_request(request);
    }

    /// Takes our request back from a response that proved not to be ours.
    fn unclaim(&mut self, flight: &mut Flight) -> Option<Request> {
        match mem::replace(&mut flight.ours, Ours::No) {
            Ours::Probably(_, request) | Ours::Behind(_, request) => Some(request),
            other => {
                flight.ours = other;
                None
            }
        }
    }

    fn commit_rejected(&mut self, event_id: ClientEventId, code: Option<String>) {
        let Some(position) = self.unacked_commits.iter().position(|(id, _)| *id == event_id) else {
            self.event(Event::BenignError { code: code.unwrap_or_default() });
            return;
        };
        let seq = self.unacked_commits.remove(position).map(|(_, seq)| seq);
        if let Some(seq) = seq
            && self.queue.remove_turn(seq)
        {
            self.event(Event::TurnsDropped { count: 1, reason: DropReason::CommitRejected });
        }
        self.event(Event::BenignError { code: code.unwrap_or_default() });
    }

    // ---- App inputs -------------------------------------------------------------

    fn on_request(&mut self, instructions: Option<String>, out_of_band: bool) {
        if !matches!(self.phase, Phase::Starting | Phase::Live) {
            self.event(Event::RequestDropped {
                purpose: Purpose::App,
                reason: DropReason::SessionEnding,
            });
            return;
        }
        if self.full_duplex() && (out_of_band || instructions.is_none()) {
            // A full-duplex model has no side responses and speaks on
            // request only when told what to say.
            self.event(Event::RequestDropped {
                purpose: Purpose::App,
                reason: DropReason::Unsupported,
            });
            return;
        }
        if out_of_band {
            if !self.ready {
                self.event(Event::RequestDropped {
                    purpose: Purpose::App,
                    reason: DropReason::NotReady,
                });
                return;
            }
            // Out-of-band responses do not write to the conversation and
            // may run beside the gated one.
            let event_id = self.event_id(Sent::Create);
            let spec = ResponseSpec { purpose: Purpose::App, instructions, out_of_band: true };
            self.push(Command::Backend(BackendCommand::CreateResponse { event_id, spec }));
            return;
        }
        if !matches!(self.gate, Gate::Idle) && !self.full_duplex() {
            self.event(Event::ResponseDeferred { purpose: Purpose::App });
        }
        self.queue.push_request(Purpose::App, instructions);
    }

    fn on_user_text(&mut self, now: Instant, text: String) {
        if self.full_duplex() {
            // A full-duplex model hears its caller and takes no typed turns.
            self.event(Event::RequestDropped {
                purpose: Purpose::App,
                reason: DropReason::Unsupported,
            });
            return;
        }
        if !matches!(self.phase, Phase::Starting | Phase::Live) {
            self.event(Event::TurnsDropped { count: 1, reason: DropReason::SessionEnding });
            return;
        }
        if self.ready {
            self.send_user_text(now, text);
        } else if self.held_backend.len() < HELD_BACKEND_LIMIT {
            self.held_backend.push_back(Held::UserText(text));
        } else {
            self.event(Event::TurnsDropped { count: 1, reason: DropReason::NotReady });
        }
    }

    fn send_user_text(&mut self, now: Instant, text: String) {
        let event_id = self.event_id(Sent::UserText);
        self.push(Command::Backend(BackendCommand::AddUserText { event_id, text }));
        self.register_turn(now);
    }

    fn on_tool_result(&mut self, call_id: &CallId, output: String) {
        let Some(position) = self.tools.iter().position(|t| &t.call_id == call_id) else {
            self.event(Event::Ignored(Ignored::UnknownToolResult));
            return;
        };
        let wait = self.tools.remove(position);
        self.tool_answered(wait.call_id, output);
    }

    fn tool_answered(&mut self, call_id: CallId, output: String) {
        if self.ready {
            self.send_tool_output(call_id, output);
        } else if self.held_backend.len() < HELD_BACKEND_LIMIT {
            self.held_backend.push_back(Held::ToolOutput { call_id, output });
        }
        // Once every call of the response has its output, the model goes on
        // (a full-duplex model goes on by itself).
        if self.tools.is_empty() && matches!(self.phase, Phase::Live) && !self.full_duplex() {
            if !matches!(self.gate, Gate::Idle) {
                self.event(Event::ResponseDeferred { purpose: Purpose::ToolFollowUp });
            }
            self.queue.push_request(Purpose::ToolFollowUp, None);
        }
    }

    fn send_tool_output(&mut self, call_id: CallId, output: String) {
        let event_id = self.event_id(Sent::FunctionOutput);
        self.push(Command::Backend(BackendCommand::FunctionOutput { event_id, call_id, output }));
    }

    fn on_client_connected(&mut self, conn: ConnId, last_seq: Option<u64>) {
        self.presence.connect(conn);
        let replay = self.outbox.after(last_seq.unwrap_or(0));
        let gap = replay.gap_from;
        let messages: Vec<(u64, std::sync::Arc<str>)> = replay
            .messages
            .into_iter()
            .map(|(seq, text)| (seq, std::sync::Arc::clone(text)))
            .collect();
        if let Some(oldest_held) = gap {
            self.push(Command::App(AppCommand::ReplayGap { conn, oldest_held }));
        }
        for (seq, text) in messages {
            self.push(Command::App(AppCommand::Deliver { conn, seq, text }));
        }
    }

    fn on_send_to_clients(&mut self, text: String) {
        let text: std::sync::Arc<str> = text.into();
        let open: Vec<ConnId> = self.presence.open().to_vec();
        for conn in open {
            self.push(Command::App(AppCommand::Deliver {
                conn,
                seq: self.outbox.next_seq(),
                text: std::sync::Arc::clone(&text),
            }));
        }
        self.outbox.push(text);
    }

    // ---- Creating responses -------------------------------------------------------

    /// Sends the next create if the gate is idle and something waits for it.
    fn pump(&mut self, now: Instant) {
        if self.full_duplex() {
            self.pump_instructions();
            return;
        }
        let gate_open = match self.gate {
            Gate::Idle => true,
            Gate::Requested { .. } => self.planted(PlantedBugKind::CreateWhileRequested),
            Gate::Active(_) | Gate::Cancelling { .. } => false,
        };
        if !gate_open || !self.ready || !self.tools.is_empty() {
            return;
        }
        // Nobody is answered while the caller is still talking: the response
        // would talk over them, and their words may change the answer.
        if self.user_speaking && matches!(self.phase, Phase::Live) {
            return;
        }
        if self.create_not_before.is_some_and(|at| at > now) {
            return;
        }
        self.create_not_before = None;
        let request = match self.phase {
            Phase::Live => match self.queue.next() {
                None => return,
                Some(Next::Turns) => {
                    if self.turns_eligible_at().is_some_and(|at| at > now) {
                        return;
                    }
                    let Some(seq) = self.queue.oldest_turn_seq() else {
                        return;
                    };
                    Request { seq, purpose: Purpose::Answer, instructions: None, attempts: 0 }
                }
                Some(Next::Request) => match self.queue.pop_request() {
                    Some(request) => request,
                    None => return,
                },
            },
            Phase::Ending { .. } => {
                match self.queue.drain_requests_where(|r| r.purpose == Purpose::Goodbye).pop() {
                    Some(request) => request,
                    None => return,
                }
            }
            Phase::Starting | Phase::Ended(_) => return,
        };
        let event_id = self.event_id(Sent::Create);
        let spec = ResponseSpec {
            purpose: request.purpose,
            instructions: request.instructions.clone(),
            out_of_band: false,
        };
        self.push(Command::Backend(BackendCommand::CreateResponse { event_id, spec }));
        let from = self.gate.kind();
        self.transition(
            now,
            from,
            Gate::Requested { event_id, request, since: now, cancel_on_create: None },
        );
    }

    /// With server-created responses, when waiting turns may be answered by
    /// us: only after the backend had its chance to answer them itself.
    fn turns_eligible_at(&self) -> Option<Instant> {
        if self.config.response_mode != ResponseMode::ServerAuto {
            return None;
        }
        let oldest = self.queue.turns().front()?;
        Some(oldest.committed_at.max(self.idle_since) + self.config.auto_response_grace)
    }

    fn attempts_of(&self, request: &Request) -> u32 {
        if request.purpose == Purpose::Answer {
            self.queue.turns().iter().map(|t| t.attempts).max().unwrap_or(0)
        } else {
            request.attempts
        }
    }

    /// A request whose create or response was lost goes back in line, unless
    /// it has used up its attempts.
    fn retry_request(&mut self, mut request: Request) {
        if request.purpose == Purpose::Answer {
            // The turns themselves wait in the queue; they carry the count.
            let max = self.config.max_attempts;
            let mut exhausted = 0;
            let turns = self.queue.turns_mut();
            for turn in turns.iter_mut() {
                turn.attempts += 1;
            }
            let before = turns.len();
            turns.retain(|t| t.attempts < max);
            exhausted += before - turns.len();
            if exhausted > 0 {
                self.event(Event::TurnsDropped {
                    count: exhausted,
                    reason: DropReason::RetriesExhausted,
                });
            }
            return;
        }
        request.attempts += 1;
        if request.attempts >= self.config.max_attempts {
            self.event(Event::RequestDropped {
                purpose: request.purpose,
                reason: DropReason::RetriesExhausted,
            });
            return;
        }
        self.queue.requeue_request(request);
    }

    fn answered(&mut self, covered: &[PendingTurn], created_at: Instant, interrupted: bool) {
        let Some(oldest) = covered.iter().map(|t| t.committed_at).min() else {
            return;
        };
        self.event(Event::TurnsAnswered {
            count: covered.len(),
            waited: created_at.saturating_duration_since(oldest),
            interrupted,
        });
    }

    fn requeue_turns(&mut self, mut turns: Vec<PendingTurn>, reason: RequeueReason) {
        if turns.is_empty() {
            return;
        }
        let max = self.config.max_attempts;
        for turn in &mut turns {
            turn.attempts += 1;
        }
        let (keep, exhausted): (Vec<_>, Vec<_>) = turns.into_iter().partition(|t| t.attempts < max);
        if !exhausted.is_empty() {
            self.event(Event::TurnsDropped {
                count: exhausted.len(),
                reason: DropReason::RetriesExhausted,
            });
        }
        if !keep.is_empty() {
            self.event(Event::TurnsRequeued { count: keep.len(), reason });
            self.queue.requeue_turns(keep);
        }
    }

    /// Puts turns back without counting an attempt: nothing failed.
    fn requeue_turns_free(&mut self, turns: Vec<PendingTurn>) {
        if turns.is_empty() {
            return;
        }
        self.event(Event::TurnsRequeued { count: turns.len(), reason: RequeueReason::Interrupted });
        self.queue.requeue_turns(turns);
    }

    fn drop_turns(&mut self, turns: &[PendingTurn], reason: DropReason) {
        if !turns.is_empty() {
            self.event(Event::TurnsDropped { count: turns.len(), reason });
        }
    }

    fn discard_tool_calls(&mut self, count: usize, status: ResponseStatus) {
        if count > 0 {
            self.event(Event::ToolCallsDiscarded { count, status });
        }
    }

    fn transition(&mut self, now: Instant, from: GateKind, to: Gate) {
        let kind = to.kind();
        self.gate = to;
        if kind != from {
            self.event(Event::GateChanged { from, to: kind });
            if kind == GateKind::Idle {
                self.idle_since = now;
            }
        }
    }

    // ---- Timers -----------------------------------------------------------------

    fn next_timer(&self) -> Option<(Instant, Timer)> {
        let mut timers: [Option<(Instant, Timer)>; 11] = [None; 11];
        let live = matches!(self.phase, Phase::Starting | Phase::Live);
        if live && !self.ready {
            timers[0] = self.ready_deadline.map(|at| (at, Timer::Ready));
        }
        if live {
            timers[1] = Some((self.started_at + self.config.max_call_duration, Timer::MaxDuration));
        }
        match self.phase {
            Phase::Ending { deadline, .. } => timers[2] = Some((deadline, Timer::Ending)),
            Phase::Ended(_) => return None,
            Phase::Starting | Phase::Live => {}
        }
        timers[3] = match &self.gate {
            // A full-duplex model's speech is its own to end.
            _ if self.full_duplex() => None,
            Gate::Idle => None,
            Gate::Requested { since, .. } => Some(*since + self.config.create_timeout),
            Gate::Active(flight) => Some(flight.created_at + self.config.response_timeout),
            Gate::Cancelling { since, .. } => Some(*since + self.config.cancel_timeout),
        }
        .map(|at| (at, Timer::Gate));
        timers[4] = self.barge_in_at.map(|at| (at, Timer::BargeIn));
        if matches!(self.phase, Phase::Live) {
            timers[5] =
                self.dead_air.deadline(&self.config.dead_air).map(|at| (at, Timer::DeadAir));
        }
        timers[6] =
            self.playback.deadline(self.config.playback_grace).map(|at| (at, Timer::Playback));
        timers[7] = self.tools.iter().map(|t| t.deadline).min().map(|at| (at, Timer::Tool));
        if self.config.end_when_clients_gone {
            timers[8] = self
                .presence
                .empty_since()
                .map(|since| (since + self.config.client_grace, Timer::Presence));
        }
        // Wake-ups only matter while they lie ahead; once past, the next
        // settle already acts on them.
        timers[9] = self.create_not_before.filter(|at| *at > self.now).map(|at| (at, Timer::Wake));
        timers[10] =
            self.turns_eligible_at().filter(|at| *at > self.now).map(|at| (at, Timer::Wake));
        timers.into_iter().flatten().min_by_key(|(at, _)| *at)
    }

    fn fire_due(&mut self, now: Instant) {
        for _ in 0..TIMERS_PER_INPUT {
            let Some((at, timer)) = self.next_timer() else {
                return;
            };
            if at > now {
                return;
            }
            self.fire(now, timer);
            if self.is_ended() {
                return;
            }
            self.settle(now);
            if self.is_ended() {
                return;
            }
        }
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Ready => self.end(now, EndReason::BackendNotReady),
            Timer::MaxDuration => self.begin_ending(now, EndReason::MaxDuration),
            Timer::Ending => {
                self.event(Event::TimedOut(Wait::Goodbye));
                if let Phase::Ending { reason, .. } = self.phase {
                    self.end(now, reason);
                }
            }
            Timer::Gate => self.gate_timed_out(now),
            Timer::BargeIn => {
                self.barge_in_at = None;
                if self.user_speaking && self.agent_busy() {
                    self.barge_in(now);
                }
            }
            Timer::DeadAir => match self.dead_air.expire(&self.config.dead_air) {
                Expiry::CheckIn(number) => {
                    self.event(Event::CheckIn { number });
                    let check_in = self.config.dead_air.check_in.clone();
                    self.queue.push_request(Purpose::CheckIn, Some(check_in));
                }
                Expiry::HangUp => self.end(now, EndReason::DeadAir),
            },
            Timer::Playback => {
                let was = self.playback.speaking();
                if self.playback.expire(now, self.config.playback_grace) {
                    self.event(Event::PlaybackAssumed);
                }
                self.speaking_changed(was);
            }
            Timer::Tool => {
                let (expired, waiting): (Vec<_>, Vec<_>) =
                    mem::take(&mut self.tools).into_iter().partition(|t| t.deadline <= now);
                self.tools = waiting;
                for wait in expired {
                    self.event(Event::ToolTimedOut { call_id: wait.call_id.clone() });
                    self.tool_answered(wait.call_id, TOOL_TIMEOUT_OUTPUT.to_owned());
                }
            }
            Timer::Presence => self.end(now, EndReason::ClientsGone),
            Timer::Wake => {}
        }
    }

    fn gate_timed_out(&mut self, now: Instant) {
        let from = self.gate.kind();
        match mem::replace(&mut self.gate, Gate::Idle) {
            Gate::Idle => {}
            Gate::Requested { request, cancel_on_create, .. } => {
                self.event(Event::TimedOut(Wait::ResponseCreated));
                self.transition(now, from, Gate::Idle);
                match cancel_on_create {
                    // Nobody wants this response any more; do not ask again.
                    Some(reason) if request.purpose != Purpose::Answer => {
                        self.event(Event::RequestDropped {
                            purpose: request.purpose,
                            reason: reason.drop_reason(),
                        });
                    }
                    _ => self.retry_request(request),
                }
            }
            Gate::Active(flight) => {
                self.event(Event::TimedOut(Wait::ResponseDone));
                self.cancel(now, from, flight, CancelReason::Timeout);
            }
            Gate::Cancelling { flight, reason, .. } => {
                // The backend never confirmed the cancel; settle as if it had.
                self.event(Event::TimedOut(Wait::CancelDone));
                let next = self.finish(now, flight, ResponseStatus::Cancelled, Some(reason));
                self.transition(now, from, next);
            }
        }
    }

    // ---- Ending -------------------------------------------------------------------

    /// The call-duration limit: stop what is going on, say goodbye, hang up.
    fn begin_ending(&mut self, now: Instant, reason: EndReason) {
        self.event(Event::CallEnding { reason });
        self.drop_waiting(DropReason::SessionEnding);
        self.barge_in_at = None;
        let from = self.gate.kind();
        match mem::replace(&mut self.gate, Gate::Idle) {
            // A full-duplex model cannot be cancelled; the goodbye
            // instruction is what turns it.
            flight @ Gate::Active(_) if self.full_duplex() => self.gate = flight,
            Gate::Active(flight) => self.cancel(now, from, flight, CancelReason::Ending),
            Gate::Requested { event_id, request, since, .. } => {
                self.gate = Gate::Requested {
                    event_id,
                    request,
                    since,
                    cancel_on_create: Some(CancelReason::Ending),
                };
            }
            other => self.gate = other,
        }
        // A full-duplex model's speech goes on whatever we cut here; the
        // goodbye instruction is what turns it.
        if self.playback.speaking() && !self.full_duplex() {
            self.push(Command::Transport(TransportCommand::Clear));
            self.playback.clear();
            self.event(Event::AgentSpeaking(false));
        }
        match self.config.goodbye.clone() {
            Some(goodbye) => {
                self.queue.push_request(Purpose::Goodbye, Some(goodbye));
                self.phase = Phase::Ending {
                    reason,
                    deadline: now + self.config.goodbye_timeout,
                    goodbye_done: false,
                };
            }
            None => self.end(now, reason),
        }
    }

    /// Ends the session now.
    fn end(&mut self, now: Instant, reason: EndReason) {
        self.drop_waiting(DropReason::SessionEnding);
        let from = self.gate.kind();
        match mem::replace(&mut self.gate, Gate::Idle) {
            Gate::Idle => {}
            Gate::Requested { request, .. } => self.drop_request(&request),
            Gate::Active(flight) | Gate::Cancelling { flight, .. } => {
                self.drop_turns(&flight.covered, DropReason::SessionEnding);
                self.discard_tool_calls(flight.tool_calls.len(), ResponseStatus::Cancelled);
                match flight.ours {
                    Ours::No => {}
                    Ours::Yes(request) | Ours::Probably(_, request) | Ours::Behind(_, request) => {
                        self.drop_request(&request);
                    }
                }
            }
        }
        self.transition(now, from, Gate::Idle);
        self.discard_tool_calls(self.tools.len(), ResponseStatus::Cancelled);
        self.tools.clear();
        let texts = self.held_backend.iter().filter(|h| matches!(h, Held::UserText(_))).count();
        self.held_backend.clear();
        if texts > 0 {
            self.event(Event::TurnsDropped { count: texts, reason: DropReason::SessionEnding });
        }
        if reason != EndReason::CallerHungUp {
            self.push(Command::Transport(TransportCommand::HangUp));
        }
        self.phase = Phase::Ended(reason);
        self.push(Command::App(AppCommand::SessionEnded { reason }));
    }

    /// Drops every waiting turn and request, by the session-ending rule.
    fn drop_waiting(&mut self, reason: DropReason) {
        let turns = self.queue.take_turns();
        self.drop_turns(&turns, reason);
        for request in self.queue.drain_requests_where(|_| true) {
            self.event(Event::RequestDropped { purpose: request.purpose, reason });
        }
    }

    fn drop_request(&mut self, request: &Request) {
        if request.purpose == Purpose::Answer {
            return;
        }
        self.event(Event::RequestDropped {
            purpose: request.purpose,
            reason: DropReason::SessionEnding,
        });
    }

    // ---- Plumbing ---------------------------------------------------------------

    fn full_duplex(&self) -> bool {
        self.config.turn_model == TurnModel::FullDuplex
    }

    fn advance(&mut self, now: Instant) -> Instant {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    fn event_id(&mut self, kind: Sent) -> ClientEventId {
        self.next_event_id += 1;
        let id = ClientEventId(self.next_event_id);
        if self.sent.len() == SENT_REMEMBERED {
            self.sent.pop_front();
        }
        self.sent.push_back((id, kind));
        id
    }

    fn sent_kind(&self, id: ClientEventId) -> Option<Sent> {
        self.sent.iter().find(|(sent, _)| *sent == id).map(|(_, kind)| *kind)
    }

    fn event(&mut self, event: Event) {
        self.push(Command::Event(event));
    }

    fn push(&mut self, command: Command) {
        self.counters.count(&command);
        self.out.push(command);
    }

    #[cfg(feature = "planted-bugs")]
    fn planted(&self, kind: PlantedBugKind) -> bool {
        use crate::config::PlantedBug;
        let planted = match kind {
            PlantedBugKind::CreateWhileRequested => PlantedBug::CreateWhileRequested,
            PlantedBugKind::SpeakingEndsOnResponseDone => PlantedBug::SpeakingEndsOnResponseDone,
            PlantedBugKind::ForgetTurnWhileBusy => PlantedBug::ForgetTurnWhileBusy,
            PlantedBugKind::DeadAirIgnoresUser => PlantedBug::DeadAirIgnoresUser,
            PlantedBugKind::PlayLateAudio => PlantedBug::PlayLateAudio,
            PlantedBugKind::GateInFullDuplex => PlantedBug::GateInFullDuplex,
        };
        self.config.planted_bug == Some(planted)
    }

    #[cfg(not(feature = "planted-bugs"))]
    fn planted(&self, _kind: PlantedBugKind) -> bool {
        false
    }
}

/// The places a planted bug can switch on (always off without the feature).
#[derive(Clone, Copy, Debug)]
enum PlantedBugKind {
    CreateWhileRequested,
    SpeakingEndsOnResponseDone,
    ForgetTurnWhileBusy,
    DeadAirIgnoresUser,
    PlayLateAudio,
    GateInFullDuplex,
}
