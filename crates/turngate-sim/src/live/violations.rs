//! What the simulator saw clients do wrong and what each session did,
//! shared across every connection of one server and queryable by tests.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A rule of the GPT-Live API that a client broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LiveViolationKind {
    /// The WebSocket upgrade was refused: no or wrong bearer token, a query
    /// string, an `OpenAI-Beta` header, or another path.
    RefusedUpgrade,
    /// A frame that is not a JSON object (or a binary frame).
    InvalidJson,
    /// A client event that breaks its schema: unknown fields, missing or
    /// mistyped fields, values outside their enums or limits, an unknown
    /// model or voice.
    InvalidEvent,
    /// A type the Live API does not have (`session.input_audio.commit`,
    /// `response.cancel`, `input_audio_buffer.append`, …).
    UnknownEventType,
    /// Anything but `session.start` as the first event, or a second
    /// `session.start`.
    BeforeStart,
    /// A command sent after `session.start` but before `session.started`.
    BeforeStarted,
    /// `response.*` in a client-delegation session, or `decision.*` in a
    /// session without Decisions delegation.
    WrongDelegationMode,
    /// `session.update` changing the delegation type.
    ImmutableUpdate,
    /// Audio that is not base64, not whole PCM16 samples, or a fixture
    /// longer than 30 s.
    BadAudio,
    /// An append over 500 tokens.
    AppendTooLong,
    /// An append while an audio fixture plays.
    AppendDuringFixture,
    /// A fixture while another one plays.
    FixtureBusy,
    /// An append naming a delegation this session never announced.
    UnknownDelegation,
    /// A commentary for a delegation whose result (a commentary) was already
    /// placed: the server accepts it, but a result must be delivered exactly
    /// once. The pieces of one long result, sent back to back before any is
    /// placed, are one result.
    DelegationAnsweredTwice,
    /// An append whose `event_id` an earlier event of the session used: the
    /// server accepts it (appends are not deduplicated), but acks and
    /// errors can then no longer be matched to commands.
    AppendEventIdReused,
    /// A real feature the simulator does not model (Decisions delegation,
    /// Responses input items other than `function_call_output`, a
    /// `response.create` with no delegated response to continue). Not a
    /// breach of the API: the simulator cannot judge it.
    Unsupported,
    /// A `function_call_output` for a `call_id` this session's Responses
    /// backend never emitted (another session's, or one lost with a dropped
    /// connection).
    UnknownCallId,
    /// A second `function_call_output` for one call: the service takes it
    /// as a new item, but each call must get exactly one output.
    DuplicateToolOutput,
    /// `response.create` before the latest backend response completed, or
    /// while one of its calls has no output yet.
    ResponseCreateEarly,
    /// `response.create` with nothing new to continue: the latest backend
    /// response made no calls, or was already continued.
    ResponseCreateRepeated,
    /// A context append naming a delegation in a Responses session, where
    /// `delegation_id` must be null.
    DelegationIdWithResponses,
}

/// One breach, with the session it happened on (`None` before
/// `session.started`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveViolation {
    /// What kind of rule was broken.
    pub kind: LiveViolationKind,
    /// What exactly happened.
    pub detail: String,
    /// The `live_…` id of the session, once it has one.
    pub session_id: Option<String>,
}

/// Why a session ended, as `session.closed` says (or would have said, for a
/// connection that was lost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client sent `session.close`.
    CloseRequested,
    /// The session limit or the idle expiry.
    Expired,
    /// The client closed the WebSocket gracefully without `session.close`.
    RemoteHangup,
    /// The socket dropped (by the client, by the fault injector, or at
    /// server shutdown). The session is gone for good.
    ConnectionLost,
}

impl CloseReason {
    /// The wire value of `session.closed.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::CloseRequested => "close_requested",
            CloseReason::Expired => "expired",
            CloseReason::RemoteHangup => "remote_hangup",
            CloseReason::ConnectionLost => "connection_lost",
        }
    }
}

/// What one session did, updated as it runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSessionStats {
    /// The `live_…` session id.
    pub id: String,
    /// The model it started with.
    pub model: String,
    /// `session.instructions.append` accepted.
    pub instructions_appends: u64,
    /// `session.thinking.append` accepted.
    pub thinking_appends: u64,
    /// `session.commentary.append` accepted.
    pub commentary_appends: u64,
    /// `*.appended` acknowledgements sent.
    pub acks: u64,
    /// Appends still unacknowledged when the session ended (each reported
    /// as `context_injection_incomplete` if the socket was still open).
    pub pending_at_close: u64,
    /// `session.delegation.created` sent.
    pub delegations_announced: u64,
    /// Delegations that got a commentary (their result, spoken).
    pub delegations_answered: u64,
    /// Delegations that got thinking but no commentary (answered silently).
    pub delegations_answered_silently: u64,
    /// Delegations with neither when the session ended.
    pub delegations_unanswered_at_close: u64,
    /// Function calls the Responses backend made (`function_call` items;
    /// one sent twice by the fault counts once).
    pub function_calls: u64,
    /// `function_call_output` items accepted for this session's calls,
    /// duplicates included.
    pub function_call_outputs: u64,
    /// Of those, outputs for a call that already had one.
    pub duplicate_function_call_outputs: u64,
    /// Backend responses continued by a valid `response.create`.
    pub continuations: u64,
    /// Responses delegations with a call still without output when the
    /// session ended.
    pub delegations_with_unanswered_calls_at_close: u64,
    /// Automatic spoken acknowledgements ("One moment.") of delegations.
    pub acknowledgements_spoken: u64,
    /// Caller utterances the energy VAD found.
    pub caller_utterances: u64,
    /// Stretches of model speech started.
    pub speech_stretches: u64,
    /// Stretches the model cut short because the caller talked over it.
    pub barge_ins: u64,
    /// Stretches cut short by an instruction append or a fixture.
    pub interruptions: u64,
    /// Input audio received (the session timeline), in milliseconds.
    pub input_ms: u64,
    /// Model speech sent on the output track, in milliseconds.
    pub output_speech_ms: u64,
    /// `session.output_audio.delta` frames sent.
    pub output_frames: u64,
    /// Fixtures played to the end (`fixture.played`).
    pub fixtures_played: u64,
    /// `error` events sent (each refused command, plus injected faults and
    /// incomplete injections).
    pub errors_sent: u64,
    /// Commands refused by the injected `server_error` fault.
    pub server_errors: u64,
    /// Messages of startup history (`session.input`) it started with.
    pub startup_messages: u64,
    /// Why it ended; `None` while it runs.
    pub close_reason: Option<CloseReason>,
}

/// The shared record of one simulator.
#[derive(Debug, Default)]
pub struct LiveRecord {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    violations: Vec<LiveViolation>,
    counts: HashMap<LiveViolationKind, u64>,
    sessions: Vec<LiveSessionStats>,
    connections: u64,
    failed_starts: u64,
    dropped: u64,
}

/// How many violations are kept in full (the counts are always exact).
const VIOLATIONS_KEPT: usize = 1000;

impl LiveRecord {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn violation(
        &self,
        kind: LiveViolationKind,
        detail: String,
        session_id: Option<&str>,
    ) {
        tracing::warn!(?kind, %detail, "live simulator: client violated the API");
        let mut inner = self.lock();
        *inner.counts.entry(kind).or_default() += 1;
        if inner.violations.len() < VIOLATIONS_KEPT {
            inner.violations.push(LiveViolation {
                kind,
                detail,
                session_id: session_id.map(str::to_owned),
            });
        }
    }

    pub(crate) fn connection(&self) {
        self.lock().connections += 1;
    }

    pub(crate) fn failed_start(&self) {
        self.lock().failed_starts += 1;
    }

    pub(crate) fn count_dropped(&self) {
        self.lock().dropped += 1;
    }

    /// Registers a started session; returns its slot for [`Self::update`].
    pub(crate) fn session_started(&self, stats: LiveSessionStats) -> usize {
        let mut inner = self.lock();
        inner.sessions.push(stats);
        inner.sessions.len() - 1
    }

    /// Replaces the stats of the session in `slot`.
    pub(crate) fn update(&self, slot: usize, stats: &LiveSessionStats) {
        if let Some(entry) = self.lock().sessions.get_mut(slot)
            && entry != stats
        {
            entry.clone_from(stats);
        }
    }

    /// Every violation kept (the first 1,000), in order.
    pub fn violations(&self) -> Vec<LiveViolation> {
        self.lock().violations.clone()
    }

    /// The violations of one kind that were kept.
    pub fn violations_of(&self, kind: LiveViolationKind) -> Vec<LiveViolation> {
        self.lock().violations.iter().filter(|v| v.kind == kind).cloned().collect()
    }

    /// How many violations of `kind` happened (exact).
    pub fn count(&self, kind: LiveViolationKind) -> u64 {
        self.lock().counts.get(&kind).copied().unwrap_or(0)
    }

    /// All violations, summed (exact): zero for a client that kept every rule.
    pub fn total_violations(&self) -> u64 {
        self.lock().counts.values().sum()
    }

    /// Every session that reached `session.started`, in start order.
    pub fn sessions(&self) -> Vec<LiveSessionStats> {
        self.lock().sessions.clone()
    }

    /// The session with this id.
    pub fn session(&self, id: &str) -> Option<LiveSessionStats> {
        self.lock().sessions.iter().find(|s| s.id == id).cloned()
    }

    /// Sessions that reached `session.started`.
    pub fn sessions_started(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Each ended session's id and close reason, in start order.
    pub fn close_reasons(&self) -> Vec<(String, CloseReason)> {
        let inner = self.lock();
        inner.sessions.iter().filter_map(|s| s.close_reason.map(|r| (s.id.clone(), r))).collect()
    }

    /// WebSocket upgrades accepted.
    pub fn connections(&self) -> u64 {
        self.lock().connections
    }

    /// `session.start` events refused (the session never started).
    pub fn failed_starts(&self) -> u64 {
        self.lock().failed_starts
    }

    /// Connections dropped by the fault injector.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Polls `done` every few milliseconds until it holds or `timeout`
    /// passes; returns whether it held.
    pub async fn wait_for(&self, timeout: Duration, done: impl Fn(&LiveRecord) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl fmt::Display for LiveViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LiveViolationKind::RefusedUpgrade => "refused upgrade",
            LiveViolationKind::InvalidJson => "invalid JSON",
            LiveViolationKind::InvalidEvent => "invalid event",
            LiveViolationKind::UnknownEventType => "unknown event type",
            LiveViolationKind::BeforeStart => "event before session.start",
            LiveViolationKind::BeforeStarted => "command before session.started",
            LiveViolationKind::WrongDelegationMode => "command of another delegation mode",
            LiveViolationKind::ImmutableUpdate => "delegation type changed",
            LiveViolationKind::BadAudio => "bad audio",
            LiveViolationKind::AppendTooLong => "append over 500 tokens",
            LiveViolationKind::AppendDuringFixture => "append during a fixture",
            LiveViolationKind::FixtureBusy => "fixture while another plays",
            LiveViolationKind::UnknownDelegation => "unknown delegation",
            LiveViolationKind::DelegationAnsweredTwice => "delegation answered twice",
            LiveViolationKind::AppendEventIdReused => "append event_id reused",
            LiveViolationKind::Unsupported => "unsupported by the simulator",
            LiveViolationKind::UnknownCallId => "unknown call_id",
            LiveViolationKind::DuplicateToolOutput => "duplicate tool output",
            LiveViolationKind::ResponseCreateEarly => "response.create too early",
            LiveViolationKind::ResponseCreateRepeated => "response.create with nothing to continue",
            LiveViolationKind::DelegationIdWithResponses => {
                "delegation_id with Responses delegation"
            }
        })
    }
}
