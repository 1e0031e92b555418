//! One simulated GPT-Live session (one primary WebSocket), as pure state.
//!
//! Client frames go in through [`LiveSession::on_text`], the passing of
//! wall-clock time through [`LiveSession::on_timeout`] (when
//! [`LiveSession::poll_timeout`] says), and the end of the socket through
//! [`LiveSession::on_lost`]. Each returns the [`Action`]s the IO layer
//! carries out in order. Time enters only through `now` arguments.
//!
//! Two clocks run in a session. The session timeline is the input audio
//! received so far: it moves only when the client appends audio, and
//! everything the model decides (answers, barge-in, acknowledgements,
//! delegations, fixture completion) happens at a point on it. The output
//! track is paced by the wall clock (or, with [`Pacing::Fast`], by the
//! timeline) and carries what the model decided to say; output transcript
//! fragments are stamped with the track's position, which equals the
//! timeline for a client that feeds input in real time.

// Reading a `serde_json::Value` by key yields `Null` for a missing key and
// never panics; the only writes index objects built a few lines above.
#![allow(clippy::indexing_slicing, reason = "serde_json::Value key access, see above")]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use turngate_audio::energy::{Vad, VadConfig, VadEvent, rms_dbfs};
use turngate_audio::{AudioFormat, FRAME_MS, SampleRate};

use super::config::{LiveSimConfig, Pacing};
use super::responses::{Backend, Breach, Output};
use super::schema::{self, CLIENT_EVENTS, Refusal};
use super::startup::{check_config, check_triggers, format_of, resolved};
use super::track::{self, Track};
use super::violations::{CloseReason, LiveRecord, LiveSessionStats, LiveViolationKind as Kind};
use crate::realtime::SessionObserver;

/// What the IO layer must do, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send this server event.
    Send(String),
    /// Send a normal close frame and stop.
    Close,
}

/// The counter every session of one server draws event ids from, so that
/// no two server events ever share one.
#[derive(Debug, Default)]
pub(crate) struct Ids(AtomicU64);

impl Ids {
    pub(crate) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Where the session is in its life.
#[derive(Debug)]
enum Phase {
    /// Connected; waiting for `session.start`.
    AwaitingStart,
    /// `session.start` accepted; `session.started` goes out at `at`.
    Starting { at: Instant, client_event_id: Option<String> },
    /// Running.
    Live,
    /// `session.closed` sent, or the start refused, or the socket gone.
    Closed,
}

/// The three context appends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AppendKind {
    Instructions,
    Thinking,
    Commentary,
}

impl AppendKind {
    fn of(kind: &str) -> Option<AppendKind> {
        match kind {
            "session.instructions.append" => Some(AppendKind::Instructions),
            "session.thinking.append" => Some(AppendKind::Thinking),
            "session.commentary.append" => Some(AppendKind::Commentary),
            _ => None,
        }
    }

    fn acknowledgement(self) -> &'static str {
        match self {
            AppendKind::Instructions => "session.instructions.appended",
            AppendKind::Thinking => "session.thinking.appended",
            AppendKind::Commentary => "session.commentary.appended",
        }
    }
}

/// An accepted append waiting for the timeline to reach `end_ms`.
#[derive(Debug)]
struct Pending {
    kind: AppendKind,
    client_event_id: Option<String>,
    delegation_id: Option<String>,
    start_ms: u64,
    end_ms: u64,
    content: String,
}

/// A delegation this session announced, and what the client sent for it.
#[derive(Debug, Default)]
struct Delegation {
    commentaries: u32,
    thinking: u32,
    /// A commentary naming it has been placed: it has its result. The
    /// pieces of one long result are sent back to back, before any is
    /// placed; a commentary after that is a second result.
    result_placed: bool,
}

/// Why the model speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SpeechKind {
    Answer,
    Acknowledgement,
    Content,
}

/// One stretch of model speech.
#[derive(Debug)]
struct Utterance {
    /// Names it to an observer, once it starts (unique in the session).
    id: String,
    kind: SpeechKind,
    words: Vec<String>,
    /// Output frames it lasts.
    frames: u64,
    /// Output frames sent.
    sent: u64,
    /// The track position it started at.
    start_ms: u64,
    /// Transcript fragments sent.
    words_sent: usize,
}

/// The fixture playing.
#[derive(Debug)]
struct Fixture {
    /// The fixture in the session format.
    audio: Vec<u8>,
    sent: usize,
    start_ms: u64,
    duration_ms: u64,
    client_event_id: Option<String>,
}

/// The caller, as the energy VAD hears the input.
#[derive(Debug, Default)]
struct Caller {
    speaking: bool,
    /// Where the next input transcript fragment starts.
    fragment_from: u64,
    /// The end of the last frame at speech level.
    last_loud_end: u64,
    words: usize,
}

/// What the model says to a caller utterance, cycled through.
const ANSWER_WORDS: &[&str] = &[
    "Sure,", "I", "can", "help", "with", "that.", "Let", "me", "tell", "you", "more", "about",
    "it.",
];
/// What the caller is transcribed as saying, cycled through.
const CALLER_WORDS: &[&str] = &["I'd", "like", "to", "check", "on", "my", "order", "please."];
/// The automatic acknowledgement of a delegation.
const ACKNOWLEDGEMENT: &str = "One moment.";
/// The most words the model speaks of an append: it paraphrases.
const SPOKEN_WORDS_MAX: usize = 40;
/// Timeline each input transcript fragment covers (fragments land on about
/// 200 ms boundaries on the real service, per pipecat-ai/pipecat
/// `src/pipecat/services/openai/live/llm.py`; ours are coarser).
const INPUT_FRAGMENT_MS: u64 = 400;
/// The most frames one late timer sends at once, so a stalled loop does not
/// burst seconds of audio.
const CATCH_UP_FRAMES: u32 = 10;
/// Client event ids remembered per session for reuse detection.
const EVENT_IDS_KEPT: usize = 200_000;
/// The longest fixture, in milliseconds (openai-python
/// `output_audio_fixture_play_event.py`: at most 30 s).
const FIXTURE_MAX_MS: u64 = 30_000;
/// The most tokens an append may have.
const APPEND_TOKENS_MAX: usize = 500;

/// One simulated session.
#[derive(Debug)]
pub(crate) struct LiveSession {
    config: Arc<LiveSimConfig>,
    record: Arc<LiveRecord>,
    ids: Arc<Ids>,
    rng: u64,
    phase: Phase,
    /// The slot of this session in the record, once started.
    slot: Option<usize>,
    stats: LiveSessionStats,
    /// The resolved config as `session.started` shows it.
    resource: Value,
    format: AudioFormat,
    frame_ms: u64,
    track: Track,

    // The timeline and the caller.
    input_bytes: u64,
    timeline_ms: u64,
    vad: Vad,
    vad_samples: Vec<i16>,
    vad_frames: u64,
    caller: Caller,
    muted: bool,
    seen_event_ids: HashSet<String>,

    // Context and delegation.
    pending: VecDeque<Pending>,
    last_ack_end: u64,
    delegations: HashMap<String, Delegation>,
    ack_delay_ms: u64,
    /// The timeline points at which automatic acknowledgements are due.
    auto_acks: Vec<u64>,
    /// The Responses backend, in a session with Responses delegation.
    backend: Option<Backend>,

    // The model's speech and the output track.
    speaking: Option<Utterance>,
    queue: VecDeque<Utterance>,
    barge_at: Option<u64>,
    out_frames: u64,
    fixture: Option<Fixture>,
    output_text_started: bool,
    input_text_started: bool,
    usage_next_ms: Option<u64>,

    // Wall-clock deadlines.
    next_tick: Option<Instant>,
    idle_deadline: Option<Instant>,
    limit_deadline: Option<Instant>,

    out: Vec<Action>,
    observer: Option<Box<dyn SessionObserver>>,
}

impl LiveSession {
    pub(crate) fn new(
        config: Arc<LiveSimConfig>,
        record: Arc<LiveRecord>,
        ids: Arc<Ids>,
        seed: u64,
    ) -> LiveSession {
        let format = AudioFormat::Pcm16(SampleRate::Hz24000);
        let frame_ms = duration_ms(config.frame).max(1);
        let vad = Vad::new(vad_config(&config));
        LiveSession {
            rng: seed | 1,
            phase: Phase::AwaitingStart,
            slot: None,
            stats: LiveSessionStats::default(),
            resource: Value::Null,
            format,
            frame_ms,
            track: Track::new(format, frame_ms),
            input_bytes: 0,
            timeline_ms: 0,
            vad,
            vad_samples: Vec::new(),
            vad_frames: 0,
            caller: Caller::default(),
            muted: false,
            seen_event_ids: HashSet::new(),
            pending: VecDeque::new(),
            last_ack_end: 0,
            delegations: HashMap::new(),
            ack_delay_ms: 0,
            auto_acks: Vec::new(),
            backend: None,
            speaking: None,
            queue: VecDeque::new(),
            barge_at: None,
            out_frames: 0,
            fixture: None,
            output_text_started: false,
            input_text_started: false,
            usage_next_ms: config.usage_every.map(duration_ms).filter(|ms| *ms > 0),
            next_tick: None,
            idle_deadline: None,
            limit_deadline: None,
            out: Vec::new(),
            observer: None,
            config,
            record,
            ids,
        }
    }

    /// Reports what this session receives and sends to `observer`.
    pub(crate) fn with_observer(mut self, observer: Box<dyn SessionObserver>) -> LiveSession {
        self.observer = Some(observer);
        self
    }

    /// The `live_…` id, once started.
    pub(crate) fn id(&self) -> Option<&str> {
        self.slot.map(|_| self.stats.id.as_str())
    }

    /// The next moment [`Self::on_timeout`] has work, if any.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Starting { at, .. } => Some(*at),
            Phase::Live => [self.limit_deadline, self.idle_deadline, self.next_tick]
                .into_iter()
                .flatten()
                .min(),
            Phase::AwaitingStart | Phase::Closed => None,
        }
    }

    /// Wall-clock time passed: startup, output frames, expiry.
    pub(crate) fn on_timeout(&mut self, now: Instant) -> Vec<Action> {
        match &self.phase {
            Phase::Starting { at, .. } if *at <= now => self.started(now),
            Phase::Live => {
                let expired = |deadline: Option<Instant>| deadline.is_some_and(|d| d <= now);
                if expired(self.limit_deadline) || expired(self.idle_deadline) {
                    self.finish(CloseReason::Expired, None);
                } else if let Some(mut next) = self.next_tick.filter(|t| *t <= now) {
                    let period = self.tick_period();
                    let mut sent = 0;
                    while next <= now && sent < CATCH_UP_FRAMES {
                        self.emit_frame();
                        next += period;
                        sent += 1;
                    }
                    self.next_tick = Some(if next <= now { now + period } else { next });
                }
            }
            Phase::AwaitingStart | Phase::Starting { .. } | Phase::Closed => {}
        }
        self.publish();
        self.take()
    }

    /// One text frame from the client.
    pub(crate) fn on_text(&mut self, now: Instant, text: &str) -> Vec<Action> {
        if matches!(self.phase, Phase::Closed) {
            return Vec::new();
        }
        let event: Value = match serde_json::from_str(text) {
            Ok(event @ Value::Object(_)) => event,
            _ => {
                self.violation(Kind::InvalidJson, format!("not a JSON object: {}", clip(text)));
                // OpenAI's wording for an unparsable body elsewhere; not
                // recorded for Live.
                let refusal = Refusal::new(
                    "invalid_json",
                    "We could not parse the JSON body of your request.".to_owned(),
                    None,
                );
                self.error("invalid_request_error", refusal, None);
                self.publish();
                return self.take();
            }
        };
        let event_id = event.get("event_id").and_then(Value::as_str).map(str::to_owned);
        let kind = event.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let eid = event_id.as_deref();
        match self.phase {
            Phase::AwaitingStart => self.before_start(now, &event, &kind, eid),
            Phase::Starting { .. } => {
                self.violation(Kind::BeforeStarted, format!("{kind} before session.started"));
                // Ours: the guide says to wait for `session.started` before
                // sending anything; what the service answers is not recorded.
                let refusal = Refusal::uncoded(
                    "Wait for session.started before sending other client events.".to_owned(),
                    None,
                );
                self.error("invalid_request_error", refusal, eid);
            }
            Phase::Live => self.live_event(now, &event, &kind, eid),
            Phase::Closed => {}
        }
        self.publish();
        self.take()
    }

    /// A binary frame from the client: the API speaks JSON text only.
    pub(crate) fn on_binary(&mut self) -> Vec<Action> {
        if matches!(self.phase, Phase::Closed) {
            return Vec::new();
        }
        self.violation(Kind::InvalidJson, "binary frame".to_owned());
        let refusal = Refusal::new(
            "invalid_json",
            "We could not parse the JSON body of your request.".to_owned(),
            None,
        );
        self.error("invalid_request_error", refusal, None);
        self.publish();
        self.take()
    }

    /// The socket is gone without `session.closed` (the client closed it or
    /// it dropped): the session is lost for good. Appends still pending are
    /// counted, with nobody left to tell.
    pub(crate) fn on_lost(&mut self, reason: CloseReason) {
        if matches!(self.phase, Phase::Live) {
            self.stats.pending_at_close += self.pending.len() as u64;
            self.pending.clear();
            self.tally_delegations(true);
            self.stats.close_reason = Some(reason);
        }
        self.phase = Phase::Closed;
        self.publish();
    }

    // ---- Startup ----------------------------------------------------------------

    fn before_start(&mut self, now: Instant, event: &Value, kind: &str, eid: Option<&str>) {
        if kind == "session.start" {
            self.start(now, event, eid);
            return;
        }
        if !event.get("type").is_some_and(Value::is_string) {
            if let Err(refusal) = schema::validate_start(event) {
                self.violation(Kind::InvalidEvent, refusal.message.clone());
                self.error("invalid_request_error", refusal, eid);
            }
            return;
        }
        if CLIENT_EVENTS.contains(&kind) {
            self.violation(Kind::BeforeStart, format!("{kind} before session.start"));
            // Ours: the record says only that the first message must be
            // `session.start`.
            let refusal =
                Refusal::uncoded("The first client event must be session.start.".to_owned(), None);
            self.error("invalid_request_error", refusal, eid);
        } else {
            self.unknown_type(kind, eid);
        }
    }

    fn start(&mut self, now: Instant, event: &Value, eid: Option<&str>) {
        let checked = schema::validate_start(event)
            .map_err(|refusal| (Kind::InvalidEvent, refusal))
            .and_then(|()| check_config(&event["session"]));
        if let Err((kind, refusal)) = checked {
            // A startup failure: `session.started` never arrives. The strict
            // reading also ends the connection, so a client waiting for it
            // finds out at once.
            self.violation(kind, format!("session.start refused: {}", refusal.message));
            self.error("invalid_request_error", refusal, eid);
            self.record.failed_start();
            self.phase = Phase::Closed;
            self.out.push(Action::Close);
            return;
        }
        if let Some(id) = eid {
            self.seen_event_ids.insert(id.to_owned());
        }
        let session = &event["session"];
        self.format = format_of(&session["audio"]["format"]);
        self.track = Track::new(self.format, self.frame_ms);
        self.ack_delay_ms = session["delegation"]["acknowledgement_delay_ms"].as_u64().unwrap_or(0);
        self.resource = resolved(session, self.ack_delay_ms);
        if session["delegation"]["type"] == "responses" {
            let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let seed = self.random();
            let responses = &session["delegation"]["responses"];
            self.backend = Some(Backend::new(responses, &self.config, unix, seed));
        }
        self.stats.model = session["model"].as_str().unwrap_or_default().to_owned();
        self.stats.startup_messages =
            session["input"].as_array().map_or(0, |items| items.len() as u64);
        let at = now + self.config.startup_delay;
        self.phase = Phase::Starting { at, client_event_id: eid.map(str::to_owned) };
        if self.config.startup_delay.is_zero() {
            self.started(now);
        }
    }

    fn started(&mut self, now: Instant) {
        let client_event_id = match std::mem::replace(&mut self.phase, Phase::Live) {
            Phase::Starting { client_event_id, .. } => client_event_id,
            _ => None,
        };
        let id = format!("live_{:016x}{:08x}", self.random(), self.random() as u32);
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let expires_at = unix + self.config.session_limit.as_secs();
        if let Some(resource) = self.resource.as_object_mut() {
            resource.insert("id".to_owned(), json!(id));
            resource.insert("expires_at".to_owned(), json!(expires_at));
            resource.insert("status".to_owned(), json!("active"));
        }
        self.stats.id = id;
        self.slot = Some(self.record.session_started(self.stats.clone()));
        let mut started = json!({"type": "session.started", "session": self.resource.clone()});
        with_client_event_id(&mut started, client_event_id.as_deref());
        self.send(started);
        self.idle_deadline = self.config.idle_expiry.map(|idle| now + idle);
        self.limit_deadline = Some(now + self.config.session_limit);
        if !matches!(self.config.pacing, Pacing::Fast) {
            self.next_tick = Some(now + self.tick_period());
        }
    }

    fn tick_period(&self) -> Duration {
        match self.config.pacing {
            Pacing::RealTime | Pacing::Fast => Duration::from_millis(self.frame_ms),
            Pacing::Interval(interval) => interval.max(Duration::from_micros(100)),
        }
    }

    // ---- Commands -----------------------------------------------------------------

    fn live_event(&mut self, now: Instant, event: &Value, kind: &str, eid: Option<&str>) {
        match kind {
            "session.start" => {
                self.violation(Kind::BeforeStart, "a second session.start".to_owned());
                // Ours: not recorded.
                let refusal = Refusal::uncoded("The session has already started.".to_owned(), None);
                self.error("invalid_request_error", refusal, eid);
                return;
            }
            "response.create" | "response.item.create" if self.backend.is_none() => {
                self.violation(Kind::WrongDelegationMode, format!("{kind} in client delegation"));
                // The text is recorded (Travizm/dsh-openai-live
                // `docs/protocol.md`); its code is not, so it is null.
                let refusal = Refusal::uncoded(
                    "response.item.create requires Responses delegation.".to_owned(),
                    None,
                );
                self.error("invalid_request_error", refusal, eid);
                return;
            }
            "decision.create" | "decision.item.create" | "decision.item.delete" => {
                self.violation(Kind::WrongDelegationMode, format!("{kind} without Decisions"));
                // Ours, by analogy with the recorded Responses message.
                let name = kind.split('.').take(2).collect::<Vec<_>>().join(".");
                let refusal =
                    Refusal::uncoded(format!("{name} requires Decisions delegation."), None);
                self.error("invalid_request_error", refusal, eid);
                return;
            }
            _ if !kind.is_empty() && !CLIENT_EVENTS.contains(&kind) => {
                self.unknown_type(kind, eid);
                return;
            }
            _ => {}
        }
        if let Err(refusal) = schema::validate_event(event) {
            self.violation(
                Kind::InvalidEvent,
                format!("{}: {}", refusal.message, clip_value(event)),
            );
            self.error("invalid_request_error", refusal, eid);
            return;
        }
        let reused = eid.is_some_and(|id| {
            if self.seen_event_ids.len() >= EVENT_IDS_KEPT {
                self.seen_event_ids.clear();
            }
            !self.seen_event_ids.insert(id.to_owned())
        });
        let command = !matches!(kind, "session.input_audio.append" | "session.close");
        if command && self.roll(self.config.faults.server_error) {
            self.stats.server_errors += 1;
            // OpenAI's usual text for a server error; ours for Live.
            let refusal = Refusal::new(
                "server_error",
                "The server had an error while processing your request. Sorry about that!"
                    .to_owned(),
                None,
            );
            self.error("server_error", refusal, eid);
            return;
        }
        match kind {
            "session.input_audio.append" => {
                self.input_audio(now, event["audio"].as_str().unwrap_or_default(), eid);
            }
            "session.input_audio.mute" | "session.input_audio.unmute" => {
                self.muted = kind.ends_with(".mute");
                let answer = if self.muted {
                    "session.input_audio.muted"
                } else {
                    "session.input_audio.unmuted"
                };
                let mut answer = json!({"type": answer});
                with_client_event_id(&mut answer, eid);
                self.send(answer);
            }
            "session.update" => self.update(&event["session"], eid),
            "session.output_audio.fixture.play" => {
                self.fixture_play(event["audio"].as_str().unwrap_or_default(), eid);
            }
            "session.close" => self.finish(CloseReason::CloseRequested, eid),
            "response.item.create" => self.item_create(&event["item"], eid),
            "response.create" => self.response_create(eid),
            _ => {
                if let Some(append) = AppendKind::of(kind) {
                    self.context_append(append, event, eid, reused);
                }
            }
        }
    }

    fn unknown_type(&mut self, kind: &str, eid: Option<&str>) {
        self.violation(Kind::UnknownEventType, format!("unknown client event {kind}"));
        // The service lists its supported client events (Travizm/dsh-openai-live
        // `docs/protocol.md`); the exact text is not recorded, so this is
        // ours, in OpenAI's usual wording for a value outside an enum.
        let refusal = schema::invalid_value("type", kind, CLIENT_EVENTS);
        self.error("invalid_request_error", refusal, eid);
    }

    fn update(&mut self, update: &Value, eid: Option<&str>) {
        let own = if self.backend.is_some() { "responses" } else { "client" };
        if let Some(delegation) = update.get("delegation") {
            // Null selects client delegation.
            if delegation["type"].as_str().unwrap_or("client") != own {
                self.violation(
                    Kind::ImmutableUpdate,
                    format!("delegation type changed to {}", delegation["type"]),
                );
                let refusal = Refusal::new(
                    "immutable_field_update",
                    "The delegation type cannot change after session startup.".to_owned(),
                    Some("session.delegation.type".to_owned()),
                );
                self.error("invalid_request_error", refusal, eid);
                return;
            }
        }
        if let Some(triggers) = update.get("triggers")
            && let Err(refusal) = check_triggers(triggers)
        {
            self.violation(Kind::InvalidEvent, refusal.message.clone());
            self.error("invalid_request_error", refusal, eid);
            return;
        }
        // Sparse: an omitted `acknowledgement_delay_ms` keeps its value, and
        // a new one applies to later delegations.
        if let Some(ms) = update["delegation"]["acknowledgement_delay_ms"].as_u64() {
            self.ack_delay_ms = ms;
            self.resource["delegation"]["acknowledgement_delay_ms"] = json!(ms);
        }
        if let Some(triggers) = update.get("triggers") {
            self.resource["triggers"] = triggers.clone();
        }
        if let Some(backend) = self.backend.as_mut()
            && let Some(responses) = update["delegation"].get("responses")
        {
            backend.update(responses);
            self.resource["delegation"]["responses"] = backend.config().clone();
        }
        let mut updated = json!({"type": "session.updated", "session": self.resource.clone()});
        with_client_event_id(&mut updated, eid);
        self.send(updated);
    }

    fn finish(&mut self, reason: CloseReason, eid: Option<&str>) {
        if !matches!(self.phase, Phase::Live) {
            return;
        }
        // Each append never placed is reported once, at close.
        while let Some(pending) = self.pending.pop_front() {
            self.stats.pending_at_close += 1;
            // The code is recorded (Travizm/dsh-openai-live
            // `docs/commentary-pacing.md`); the message is ours.
            let refusal = Refusal::new(
                "context_injection_incomplete",
                "The appended context was not injected before the session closed.".to_owned(),
                None,
            );
            self.error("invalid_request_error", refusal, pending.client_event_id.as_deref());
        }
        self.tally_delegations(true);
        self.stats.close_reason = Some(reason);
        let seconds = self.timeline_ms as f64 / 1000.0;
        let mut closed = json!({
            "type": "session.closed",
            "reason": reason.as_str(),
            "session": self.resource.clone(),
            "usage": {"seconds": seconds},
        });
        with_client_event_id(&mut closed, eid);
        self.send(closed);
        self.phase = Phase::Closed;
        self.out.push(Action::Close);
    }

    // ---- Context appends ---------------------------------------------------------------

    fn context_append(&mut self, kind: AppendKind, event: &Value, eid: Option<&str>, reused: bool) {
        if self.fixture.is_some() {
            self.violation(Kind::AppendDuringFixture, format!("{kind:?} append during a fixture"));
            // Ours: the SDK says appends are rejected while a fixture is
            // active, not with what.
            let refusal = Refusal::uncoded(
                "Context appends are not accepted while an audio fixture is playing.".to_owned(),
                None,
            );
            self.error("invalid_request_error", refusal, eid);
            return;
        }
        let content = event["content"].as_str().unwrap_or_default();
        let tokens = schema::tokens(content);
        if tokens > APPEND_TOKENS_MAX {
            self.violation(
                Kind::AppendTooLong,
                format!("{kind:?} append of about {tokens} tokens"),
            );
            let refusal = Refusal::new(
                "invalid_value",
                "Context append text must not exceed 500 tokens.".to_owned(),
                Some("content".to_owned()),
            );
            self.error("invalid_request_error", refusal, eid);
            return;
        }
        let delegation_id = event["delegation_id"].as_str();
        if self.backend.is_some()
            && let Some(id) = delegation_id
        {
            self.violation(Kind::DelegationIdWithResponses, format!("{kind:?} append for {id}"));
            // "Non-null IDs are not accepted with Responses delegation"
            // (openai-python `commentary_append_event.py`); the text is ours.
            let refusal = Refusal::uncoded(
                "delegation_id must be null with Responses delegation.".to_owned(),
                Some("delegation_id".to_owned()),
            );
            self.error("invalid_request_error", refusal, eid);
            return;
        }
        if let Some(id) = delegation_id
            && !self.delegations.contains_key(id)
        {
            self.violation(Kind::UnknownDelegation, format!("{kind:?} append for unknown {id}"));
            // Ours: a non-null id must name an existing client delegation
            // (https://developers.openai.com/api/docs/guides/voice-server-controls?api=live,
            // zh translation); the service's text is not recorded.
            let refusal = Refusal::uncoded(
                format!(
                    "Unknown delegation_id: '{id}'. It must name a client delegation of this session."
                ),
                Some("delegation_id".to_owned()),
            );
            self.error("invalid_request_error", refusal, eid);
            return;
        }
        if reused && let Some(id) = eid {
            self.violation(
                Kind::AppendEventIdReused,
                format!("{kind:?} append reuses event_id {id}"),
            );
        }
        match kind {
            AppendKind::Instructions => self.stats.instructions_appends += 1,
            AppendKind::Thinking => self.stats.thinking_appends += 1,
            AppendKind::Commentary => self.stats.commentary_appends += 1,
        }
        if matches!(kind, AppendKind::Thinking | AppendKind::Commentary) {
            // Any commentary or thinking cancels every pending automatic
            // acknowledgement, of every delegation (openai-python
            // `client_delegation.py`, `acknowledgement_delay_ms`).
            self.auto_acks.clear();
            self.queue.retain(|u| u.kind != SpeechKind::Acknowledgement);
        }
        if let Some(id) = delegation_id {
            let twice = match self.delegations.get_mut(id) {
                Some(delegation) if kind == AppendKind::Commentary => {
                    delegation.commentaries += 1;
                    delegation.result_placed
                }
                Some(delegation) if kind == AppendKind::Thinking => {
                    delegation.thinking += 1;
                    false
                }
                _ => false,
            };
            if twice {
                self.violation(
                    Kind::DelegationAnsweredTwice,
                    format!("a commentary for {id} after its result was placed"),
                );
            }
            self.tally_delegations(false);
        }
        let lag = duration_ms(self.config.ack_lag) + self.fault_ack_delay();
        let end_ms = (self.timeline_ms + lag).max(self.last_ack_end);
        self.last_ack_end = end_ms;
        self.pending.push_back(Pending {
            kind,
            client_event_id: eid.map(str::to_owned),
            delegation_id: delegation_id.map(str::to_owned),
            start_ms: self.timeline_ms,
            end_ms,
            content: content.to_owned(),
        });
        self.release_acks();
    }

    /// Acknowledges, in send order, every append the timeline has reached.
    fn release_acks(&mut self) {
        while self.pending.front().is_some_and(|p| p.end_ms <= self.timeline_ms) {
            let Some(pending) = self.pending.pop_front() else { break };
            let mut ack = json!({
                "type": pending.kind.acknowledgement(),
                "start_ms": pending.start_ms,
                "end_ms": pending.end_ms,
            });
            with_client_event_id(&mut ack, pending.client_event_id.as_deref());
            self.send(ack);
            self.stats.acks += 1;
            if pending.kind == AppendKind::Commentary
                && let Some(delegation) =
                    pending.delegation_id.as_deref().and_then(|id| self.delegations.get_mut(id))
            {
                delegation.result_placed = true;
            }
            match pending.kind {
                // An instruction makes the model speak, cutting into speech
                // in progress (the guide's "Deliver a disclosure").
                AppendKind::Instructions => {
                    if let Some(utterance) = self.content_utterance(&pending.content) {
                        if self.cut_speech() {
                            self.stats.interruptions += 1;
                        }
                        self.queue.push_front(utterance);
                    }
                }
                AppendKind::Commentary => {
                    if let Some(utterance) = self.content_utterance(&pending.content) {
                        self.queue.push_back(utterance);
                    }
                }
                AppendKind::Thinking => {}
            }
        }
    }

    fn tally_delegations(&mut self, closing: bool) {
        let all = self.delegations.values();
        self.stats.delegations_answered = all.clone().filter(|d| d.commentaries > 0).count() as u64;
        self.stats.delegations_answered_silently =
            all.clone().filter(|d| d.commentaries == 0 && d.thinking > 0).count() as u64;
        if closing {
            self.stats.delegations_unanswered_at_close =
                all.filter(|d| d.commentaries == 0 && d.thinking == 0).count() as u64;
            if let Some(backend) = &self.backend {
                backend.tally_at_close(&mut self.stats);
            }
        }
    }

    // ---- Input audio and the timeline ----------------------------------------------------------

    fn input_audio(&mut self, now: Instant, audio: &str, eid: Option<&str>) {
        let Ok(bytes) = STANDARD.decode(audio) else {
            self.violation(Kind::BadAudio, "input audio is not base64".to_owned());
            self.error("invalid_request_error", not_base64(), eid);
            return;
        };
        if bytes.len() % self.format.bytes_per_sample() != 0 {
            self.violation(Kind::BadAudio, format!("{} bytes of PCM16 input", bytes.len()));
            self.error("invalid_request_error", odd_pcm(), eid);
            return;
        }
        if let Some(observer) = self.observer.as_mut() {
            observer.appended(&bytes);
        }
        self.idle_deadline = self.config.idle_expiry.map(|idle| now + idle);
        track::decode_extend(self.format, &bytes, &mut self.vad_samples);
        self.input_bytes += bytes.len() as u64;
        let target_ms = self.format.ms_for_bytes(self.input_bytes);
        let per_frame = self.format.sample_rate().samples_per_frame();
        let mut offset = 0;
        while self.vad_samples.len() >= offset + per_frame {
            // Muted input and input during a fixture reach the model as
            // silence.
            let gated = self.muted || self.fixture.is_some();
            let level = match self.vad_samples.get(offset..offset + per_frame) {
                Some(samples) if !gated => rms_dbfs(samples),
                _ => f32::NEG_INFINITY,
            };
            offset += per_frame;
            self.vad_frames += 1;
            let end_ms = self.vad_frames * FRAME_MS as u64;
            self.advance_to(end_ms.min(target_ms));
            self.caller_frame(level, end_ms);
        }
        self.vad_samples.drain(..offset);
        self.advance_to(target_ms);
        self.stats.input_ms = self.timeline_ms;
    }

    fn caller_frame(&mut self, level: f32, end_ms: u64) {
        let loud = level >= vad_config(&self.config).stop_dbfs;
        if loud {
            self.caller.last_loud_end = end_ms;
        }
        match self.vad.push_level(level) {
            Some(VadEvent::SpeechStarted) => {
                let frames = u64::from(vad_config(&self.config).min_speech_frames.max(1));
                self.caller.speaking = true;
                self.caller.fragment_from = end_ms.saturating_sub(frames * FRAME_MS as u64);
                if self.speaking.is_some() && self.barge_at.is_none() {
                    let (low, high) = self.config.barge_in;
                    let lag = self.between(low, high);
                    self.barge_at = Some(end_ms + lag);
                }
            }
            Some(VadEvent::SpeechStopped) => {
                // A caller who stopped before the model yielded no longer
                // stops it (only matters when `end_of_turn` is shorter than
                // the barge-in lag).
                self.caller.speaking = false;
                self.barge_at = None;
                let end = self.caller.last_loud_end;
                if end > self.caller.fragment_from {
                    self.caller_fragment(self.caller.fragment_from, end);
                }
                self.utterance_done(end_ms);
            }
            None => {}
        }
        while self.caller.speaking
            && self.caller.last_loud_end >= self.caller.fragment_from + INPUT_FRAGMENT_MS
        {
            let from = self.caller.fragment_from;
            self.caller_fragment(from, from + INPUT_FRAGMENT_MS);
            self.caller.fragment_from = from + INPUT_FRAGMENT_MS;
        }
    }

    fn caller_fragment(&mut self, start_ms: u64, end_ms: u64) {
        let word = CALLER_WORDS.get(self.caller.words % CALLER_WORDS.len()).unwrap_or(&"");
        self.caller.words += 1;
        let delta = spaced(word, &mut self.input_text_started);
        self.send(json!({
            "type": "session.input_transcript.delta",
            "delta": delta,
            "start_ms": start_ms,
            "end_ms": end_ms,
        }));
    }

    fn utterance_done(&mut self, at_ms: u64) {
        if let Some(observer) = self.observer.as_mut() {
            observer.committed();
        }
        self.stats.caller_utterances += 1;
        let every = u64::from(self.config.delegate_every);
        if every > 0 && self.stats.caller_utterances.is_multiple_of(every) {
            self.delegate(at_ms);
            return;
        }
        let (low, high) = self.config.reply;
        let ms = self.between(low, high);
        let words = (ms / duration_ms(self.config.word).max(1)).max(1) as usize;
        let text: Vec<String> =
            ANSWER_WORDS.iter().cycle().take(words).map(|w| (*w).to_owned()).collect();
        let utterance = self.utterance(SpeechKind::Answer, text, ms);
        self.queue.push_back(utterance);
    }

    fn delegate(&mut self, at_ms: u64) {
        let id = format!("deleg_{:016x}", self.random());
        self.stats.delegations_announced += 1;
        let mut delegation = json!({"id": id, "type": "delegation", "target": "client"});
        match self.backend.as_mut() {
            Some(backend) => {
                delegation["target"] = json!("responses");
                delegation["response_id"] = json!(backend.delegate(&self.ids, &id, at_ms));
            }
            None => {
                self.delegations.insert(id, Delegation::default());
            }
        }
        let mut created = json!({"type": "session.delegation.created", "offset_ms": at_ms});
        created["delegation"] = delegation;
        if self.roll(self.config.faults.duplicate_delegation) {
            self.send(created.clone());
        }
        self.send(created);
        self.auto_acks.push(at_ms + self.ack_delay_ms);
        self.due_auto_acks();
        self.backend_due();
    }

    fn due_auto_acks(&mut self) {
        let now = self.timeline_ms;
        let due = self.auto_acks.iter().filter(|at| **at <= now).count();
        self.auto_acks.retain(|at| *at > now);
        for _ in 0..due {
            let words = ACKNOWLEDGEMENT.split(' ').map(str::to_owned).collect::<Vec<_>>();
            let ms = words.len() as u64 * duration_ms(self.config.word);
            let utterance = self.utterance(SpeechKind::Acknowledgement, words, ms);
            self.queue.push_back(utterance);
        }
    }

    /// The timeline reached `ms`: everything due at it happens.
    fn advance_to(&mut self, ms: u64) {
        self.timeline_ms = self.timeline_ms.max(ms);
        self.release_acks();
        self.due_auto_acks();
        self.backend_due();
        if self.barge_at.is_some_and(|at| at <= self.timeline_ms) {
            self.barge_at = None;
            if self.cut_speech() {
                self.stats.barge_ins += 1;
            }
        }
        self.fixture_done();
        while let Some(next) = self.usage_next_ms.filter(|next| *next <= self.timeline_ms) {
            self.send(json!({
                "type": "session.usage.updated",
                "usage": {"seconds": next as f64 / 1000.0},
            }));
            let every = self.config.usage_every.map_or(0, duration_ms).max(1);
            self.usage_next_ms = Some(next + every);
        }
        if matches!(self.config.pacing, Pacing::Fast) {
            while (self.out_frames + 1) * self.frame_ms <= self.timeline_ms {
                self.emit_frame();
            }
        }
    }

    // ---- Responses delegation ----------------------------------------------------------------

    fn item_create(&mut self, item: &Value, eid: Option<&str>) {
        let stats = &mut self.stats;
        let breach = self.backend.as_mut().and_then(|backend| backend.item_create(item, stats));
        self.breach(breach, eid);
    }

    fn response_create(&mut self, eid: Option<&str>) {
        let (at, stats) = (self.timeline_ms, &mut self.stats);
        let breach = self.backend.as_mut().and_then(|b| b.create(&self.ids, at, stats));
        self.breach(breach, eid);
        self.backend_due();
    }

    fn breach(&mut self, breach: Option<Breach>, eid: Option<&str>) {
        let Some(Breach { kind, detail, refusal }) = breach else { return };
        self.violation(kind, detail);
        if let Some(refusal) = refusal {
            self.error("invalid_request_error", refusal, eid);
        }
    }

    /// Sends what the Responses backend has due on the timeline. The voice
    /// says a result as it says a commentary: after what it is saying, and
    /// never over the caller (the queue waits while the caller speaks).
    fn backend_due(&mut self) {
        let Some(backend) = self.backend.as_mut() else { return };
        for output in backend.due(&self.ids, self.timeline_ms, &mut self.stats) {
            match output {
                Output::Event { delegation_id, event } => {
                    let mut envelope = json!({"type": "response.event"});
                    envelope["event"] = event;
                    if let Some(id) = delegation_id {
                        envelope["delegation_id"] = json!(id);
                    }
                    self.send(envelope);
                }
                Output::Speak(text) => {
                    if let Some(utterance) = self.content_utterance(&text) {
                        self.queue.push_back(utterance);
                    }
                }
            }
        }
    }

    // ---- The output track -----------------------------------------------------------------------

    fn emit_frame(&mut self) {
        let position = self.out_frames * self.frame_ms;
        self.out_frames += 1;
        self.stats.output_frames += 1;
        let frame_bytes = self.track.frame_bytes();
        if let Some(fixture) = self.fixture.as_mut()
            && fixture.sent < fixture.audio.len()
        {
            let end = (fixture.sent + frame_bytes).min(fixture.audio.len());
            let delta =
                self.track.encoded_frame(fixture.audio.get(fixture.sent..end).unwrap_or(&[]));
            fixture.sent = end;
            self.send_audio(&delta);
            self.fixture_done();
            return;
        }
        if self.speaking.is_none()
            && self.fixture.is_none()
            && !self.caller.speaking
            && let Some(mut next) = self.queue.pop_front()
        {
            next.start_ms = position;
            self.stats.speech_stretches += 1;
            next.id = format!("utt_{:06}", self.stats.speech_stretches);
            if next.kind == SpeechKind::Acknowledgement {
                self.stats.acknowledgements_spoken += 1;
            }
            self.speaking = Some(next);
        }
        let Some(mut utterance) = self.speaking.take() else {
            let silence = self.track.silence().to_owned();
            self.send_audio(&silence);
            return;
        };
        let total_ms = utterance.frames * self.frame_ms;
        let words = utterance.words.len().max(1) as u64;
        let word_start = |i: usize| utterance.start_ms + i as u64 * total_ms / words;
        while utterance.words_sent < utterance.words.len()
            && word_start(utterance.words_sent) < position + self.frame_ms
        {
            let i = utterance.words_sent;
            let word = utterance.words.get(i).map_or("", String::as_str);
            let delta = spaced(word, &mut self.output_text_started);
            let (start_ms, end_ms) = (word_start(i), word_start(i + 1));
            utterance.words_sent += 1;
            self.send(json!({
                "type": "session.output_transcript.delta",
                "delta": delta,
                "start_ms": start_ms,
                "end_ms": end_ms,
            }));
        }
        let speech = match self.observer.as_mut() {
            // The observer may tag the raw frame, so it is encoded after.
            Some(observer) => {
                let mut raw = self.track.speech_bytes();
                observer.audio_chunk(&utterance.id, utterance.sent == 0, &mut raw);
                STANDARD.encode(raw)
            }
            None => self.track.speech(),
        };
        self.send_audio(&speech);
        self.stats.output_speech_ms += self.frame_ms;
        utterance.sent += 1;
        if utterance.sent < utterance.frames {
            self.speaking = Some(utterance);
        } else {
            // Finished before the caller's barge-in took effect: nothing to
            // stop.
            self.barge_at = None;
            if let Some(observer) = self.observer.as_mut() {
                observer.response_done(&utterance.id, "completed");
            }
        }
    }

    /// Stops the speech in progress, if any; an observer hears it was
    /// cancelled.
    fn cut_speech(&mut self) -> bool {
        let Some(utterance) = self.speaking.take() else { return false };
        if let Some(observer) = self.observer.as_mut() {
            observer.response_done(&utterance.id, "cancelled");
        }
        true
    }

    fn utterance(&self, kind: SpeechKind, words: Vec<String>, ms: u64) -> Utterance {
        let frames = ms.div_ceil(self.frame_ms).max(1);
        Utterance { id: String::new(), kind, words, frames, sent: 0, start_ms: 0, words_sent: 0 }
    }

    /// The model voicing an append: its first words, one word per
    /// configured word duration.
    fn content_utterance(&self, content: &str) -> Option<Utterance> {
        let words: Vec<String> =
            content.split_whitespace().take(SPOKEN_WORDS_MAX).map(str::to_owned).collect();
        if words.is_empty() {
            return None;
        }
        let ms = words.len() as u64 * duration_ms(self.config.word).max(1);
        Some(self.utterance(SpeechKind::Content, words, ms))
    }

    // ---- Fixtures -----------------------------------------------------------------------------

    fn fixture_play(&mut self, audio: &str, eid: Option<&str>) {
        if self.fixture.is_some() {
            self.violation(Kind::FixtureBusy, "fixture while another plays".to_owned());
            // Ours: only one fixture can be active; the text is not recorded.
            let refusal = Refusal::uncoded("An audio fixture is already playing.".to_owned(), None);
            self.error("invalid_request_error", refusal, eid);
            return;
        }
        let Ok(bytes) = STANDARD.decode(audio) else {
            self.violation(Kind::BadAudio, "fixture audio is not base64".to_owned());
            self.error("invalid_request_error", not_base64(), eid);
            return;
        };
        if bytes.len() % 2 != 0 {
            self.violation(Kind::BadAudio, format!("{} bytes of PCM16 fixture", bytes.len()));
            self.error("invalid_request_error", odd_pcm(), eid);
            return;
        }
        let duration_ms = AudioFormat::Pcm16(SampleRate::Hz24000).ms_for_bytes(bytes.len() as u64);
        if duration_ms > FIXTURE_MAX_MS {
            self.violation(Kind::BadAudio, format!("fixture of {duration_ms} ms"));
            // Ours: the limit is documented, its error text is not.
            let refusal = Refusal::new(
                "invalid_value",
                "Fixture audio must not exceed 30 seconds.".to_owned(),
                Some("audio".to_owned()),
            );
            self.error("invalid_request_error", refusal, eid);
            return;
        }
        // The payload is valid: only now is model speech interrupted and
        // input muted.
        if self.cut_speech() {
            self.stats.interruptions += 1;
        }
        self.fixture = Some(Fixture {
            audio: track::convert_fixture(&bytes, self.format),
            sent: 0,
            start_ms: self.timeline_ms,
            duration_ms,
            client_event_id: eid.map(str::to_owned),
        });
        let mut playing = json!({"type": "session.output_audio.fixture.playing"});
        with_client_event_id(&mut playing, eid);
        self.send(playing);
    }

    /// `fixture.played` once the fixture's audio is all on the track and the
    /// timeline has passed its duration.
    fn fixture_done(&mut self) {
        let done = self.fixture.as_ref().is_some_and(|f| {
            f.sent >= f.audio.len() && self.timeline_ms >= f.start_ms + f.duration_ms
        });
        if !done {
            return;
        }
        let client_event_id = self.fixture.take().and_then(|f| f.client_event_id);
        self.stats.fixtures_played += 1;
        let mut played = json!({"type": "session.output_audio.fixture.played"});
        with_client_event_id(&mut played, client_event_id.as_deref());
        self.send(played);
    }

    // ---- Plumbing --------------------------------------------------------------------------------

    fn violation(&self, kind: Kind, detail: String) {
        self.record.violation(kind, detail, self.id());
    }

    fn error(&mut self, kind: &str, refusal: Refusal, client_event_id: Option<&str>) {
        self.stats.errors_sent += 1;
        let Refusal { code, message, param } = refusal;
        let mut error = json!({
            "type": kind,
            "code": code,
            "message": Value::String(message),
            "param": param.map_or(Value::Null, Value::String),
        });
        let mut event = json!({"type": "error"});
        if let Some(id) = client_event_id {
            error["client_event_id"] = json!(id);
            event["client_event_id"] = json!(id);
        }
        event["error"] = error;
        self.send(event);
    }

    fn send(&mut self, mut event: Value) {
        if let Some(object) = event.as_object_mut() {
            object.insert("event_id".to_owned(), json!(format!("event_{:08x}", self.ids.next())));
        }
        self.out.push(Action::Send(event.to_string()));
    }

    /// Output audio carries no `event_id` on the primary WebSocket (nor
    /// `start_ms`/`end_ms`). Base64 needs no JSON escaping.
    fn send_audio(&mut self, delta: &str) {
        self.out.push(Action::Send(format!(
            r#"{{"type":"session.output_audio.delta","delta":"{delta}"}}"#
        )));
    }

    fn publish(&self) {
        if let Some(slot) = self.slot {
            self.record.update(slot, &self.stats);
        }
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    fn fault_ack_delay(&mut self) -> u64 {
        match self.config.faults.ack_delay.map(duration_ms) {
            Some(max) if max > 0 => self.random() % (max + 1),
            _ => 0,
        }
    }

    fn roll(&mut self, probability: f64) -> bool {
        probability > 0.0 && (self.random() % 1_000_000) as f64 / 1_000_000.0 < probability
    }

    /// A whole number of milliseconds in `low..=high`.
    fn between(&mut self, low: Duration, high: Duration) -> u64 {
        let (low, high) = (duration_ms(low), duration_ms(high));
        let high = high.max(low);
        low + self.random() % (high - low + 1)
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

fn vad_config(config: &LiveSimConfig) -> VadConfig {
    let frames = duration_ms(config.end_of_turn) / FRAME_MS as u64;
    VadConfig {
        min_silence_frames: u32::try_from(frames).unwrap_or(u32::MAX).max(1),
        ..VadConfig::default()
    }
}

fn with_client_event_id(event: &mut Value, client_event_id: Option<&str>) {
    if let (Some(object), Some(id)) = (event.as_object_mut(), client_event_id) {
        object.insert("client_event_id".to_owned(), json!(id));
    }
}

/// A transcript fragment with its own leading space, except the very first
/// of its direction.
fn spaced(word: &str, started: &mut bool) -> String {
    if std::mem::replace(started, true) { format!(" {word}") } else { word.to_owned() }
}

// Ours: the service's texts for undecodable audio are not recorded.
fn not_base64() -> Refusal {
    Refusal::new(
        "invalid_value",
        "Invalid 'audio'. Expected base64-encoded audio bytes.".to_owned(),
        Some("audio".to_owned()),
    )
}

// Ours: "PCM chunks must hold whole 16-bit samples"
// (https://developers.openai.com/api/docs/guides/voice-websockets?api=live);
// the error text is not recorded.
fn odd_pcm() -> Refusal {
    Refusal::new(
        "invalid_value",
        "Invalid 'audio'. Expected whole 16-bit samples.".to_owned(),
        Some("audio".to_owned()),
    )
}

fn clip(text: &str) -> String {
    text.chars().take(160).collect()
}

fn clip_value(value: &Value) -> String {
    clip(&value.to_string())
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
