//! The simulator's rules, on its pure session: each breach gets the real
//! error and is recorded; each legal event gets the real reply. Time is
//! driven by hand, and the output track follows the input ([`Pacing::Fast`]).

#![allow(clippy::needless_pass_by_value, reason = "helpers take the values tests build inline")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use turngate_audio::energy::rms_dbfs;
use turngate_audio::{AudioFormat, SampleRate, pcm16};

use crate::live::session::{Action, Ids, LiveSession};
use crate::live::track::Track;
use crate::live::{CloseReason, LiveRecord, LiveSimConfig, LiveViolationKind as Kind, Pacing};

struct Harness {
    session: LiveSession,
    record: Arc<LiveRecord>,
    now: Instant,
    voice: Track,
    format: AudioFormat,
    closed: bool,
}

fn config() -> LiveSimConfig {
    LiveSimConfig {
        pacing: Pacing::Fast,
        startup_delay: Duration::ZERO,
        ..LiveSimConfig::default()
    }
}

fn start_event() -> Value {
    json!({"type": "session.start", "event_id": "start", "session": {"model": "gpt-live-1"}})
}

impl Harness {
    fn new(config: LiveSimConfig) -> Harness {
        let record = Arc::new(LiveRecord::default());
        let session =
            LiveSession::new(Arc::new(config), Arc::clone(&record), Arc::new(Ids::default()), 7);
        let format = AudioFormat::Pcm16(SampleRate::Hz24000);
        Harness {
            session,
            record,
            now: Instant::now(),
            voice: Track::new(format, 20),
            format,
            closed: false,
        }
    }

    /// A session past `session.started`.
    fn started(config: LiveSimConfig) -> Harness {
        Harness::started_with(config, start_event())
    }

    fn started_with(config: LiveSimConfig, start: Value) -> Harness {
        let mut harness = Harness::new(config);
        let events = harness.send(start.clone());
        assert_eq!(types(&events), ["session.started"], "{events:?}");
        if let Some(format) = start["session"]["audio"]["format"].as_object() {
            harness.format = match (format["type"].as_str(), format["rate"].as_u64()) {
                (Some("audio/pcmu"), _) => AudioFormat::Ulaw,
                (Some("audio/pcma"), _) => AudioFormat::Alaw,
                (_, Some(16_000)) => AudioFormat::Pcm16(SampleRate::Hz16000),
                _ => AudioFormat::Pcm16(SampleRate::Hz24000),
            };
            harness.voice = Track::new(harness.format, 20);
        }
        harness
    }

    fn send(&mut self, event: Value) -> Vec<Value> {
        self.send_raw(&event.to_string())
    }

    fn send_raw(&mut self, text: &str) -> Vec<Value> {
        let actions = self.session.on_text(self.now, text);
        self.collect(actions)
    }

    /// `ms` of caller audio in 20 ms appends: the caller's voice or digital
    /// silence. The wall clock moves with it.
    fn audio(&mut self, ms: u64, voiced: bool) -> Vec<Value> {
        let mut events = Vec::new();
        for _ in 0..ms / 20 {
            let frame = if voiced { self.voice.speech() } else { self.voice.silence().to_owned() };
            events.extend(self.send(json!({"type": "session.input_audio.append", "audio": frame})));
            self.now += Duration::from_millis(20);
        }
        events
    }

    /// Moves the wall clock by `by` and runs the session's timeouts.
    fn elapse(&mut self, by: Duration) -> Vec<Value> {
        self.now += by;
        let mut events = Vec::new();
        while self.session.poll_timeout().is_some_and(|at| at <= self.now) {
            let actions = self.session.on_timeout(self.now);
            events.extend(self.collect(actions));
            if self.closed {
                break;
            }
        }
        events
    }

    fn collect(&mut self, actions: Vec<Action>) -> Vec<Value> {
        let mut events = Vec::new();
        for action in actions {
            match action {
                Action::Send(text) => events.push(serde_json::from_str(&text).unwrap()),
                Action::Close => {
                    self.closed = true;
                    events.push(json!({"type": "(close)"}));
                }
            }
        }
        events
    }

    fn append(
        &mut self,
        kind: &str,
        content: &str,
        delegation: Option<&str>,
        id: &str,
    ) -> Vec<Value> {
        self.send(json!({
            "type": format!("session.{kind}.append"),
            "event_id": id,
            "content": content,
            "delegation_id": delegation,
        }))
    }

    fn stats(&self) -> crate::live::LiveSessionStats {
        self.record.sessions().pop().unwrap()
    }

    /// Whether an output audio delta is speech (by its energy).
    fn voiced(&self, event: &Value) -> bool {
        let bytes = STANDARD.decode(event["delta"].as_str().unwrap()).unwrap();
        let mut samples = Vec::new();
        match self.format {
            AudioFormat::Ulaw => turngate_audio::ulaw::decode_extend(&bytes, &mut samples),
            AudioFormat::Alaw => turngate_audio::alaw::decode_extend(&bytes, &mut samples),
            AudioFormat::Pcm16(_) => {
                samples = vec![0; bytes.len() / 2];
                pcm16::from_le_bytes(&bytes, &mut samples).unwrap();
            }
        }
        rms_dbfs(&samples) > -40.0
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap_or("?")).collect()
}

/// The events other than output audio.
fn control(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["type"] != "session.output_audio.delta").collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn only_error(events: &[Value]) -> &Value {
    let errors = of_type(events, "error");
    assert_eq!(errors.len(), 1, "{events:?}");
    &errors[0]["error"]
}

fn transcript(events: &[Value], kind: &str) -> String {
    of_type(events, kind).iter().map(|e| e["delta"].as_str().unwrap()).collect()
}

// ---- Startup ---------------------------------------------------------------------

#[test]
fn session_start_with_an_unknown_field_gets_the_exact_unknown_parameter_error() {
    let mut harness = Harness::new(config());
    let events = harness.send(json!({
        "type": "session.start", "event_id": "s1",
        "session": {"model": "gpt-live-1", "voice": "marin"},
    }));
    assert_eq!(types(&events), ["error", "(close)"], "a refused start ends the connection");
    let error = &events[0]["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "unknown_parameter");
    assert_eq!(error["message"], "Unknown parameter: 'session.voice'.");
    assert_eq!(error["param"], "session.voice");
    assert_eq!(error["client_event_id"], "s1");
    assert_eq!(events[0]["client_event_id"], "s1");
    assert_eq!(harness.record.failed_starts(), 1);
    assert_eq!(harness.record.count(Kind::InvalidEvent), 1);
    assert_eq!(harness.record.sessions_started(), 0);

    let mut nested = Harness::new(config());
    let events = nested.send(json!({"type": "session.start", "session": {
        "model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000, "bits": 16}},
    }}));
    assert_eq!(only_error(&events)["message"], "Unknown parameter: 'session.audio.format.bits'.");
    assert!(only_error(&events).get("client_event_id").is_none());
}

#[test]
fn a_full_start_answers_session_started_with_the_resolved_config() {
    let mut harness = Harness::new(config());
    let events = harness.send(json!({
        "type": "session.start", "event_id": "start-1",
        "session": {
            "model": "gpt-live-1.1",
            "instructions": "Be brief.",
            "audio": {"format": {"type": "audio/pcmu", "rate": 8000}, "output": {"voice": "cedar"}},
            "delegation": {"type": "client", "acknowledgement_delay_ms": 250},
            "input": [
                {"role": "developer", "content": [{"type": "input_text", "text": "Caller is Ann."}]},
                {"role": "assistant", "content": [{"type": "output_text", "text": "Hello Ann."}]},
            ],
            "store": false,
            "safety_identifier": "user-1",
        },
    }));
    assert_eq!(types(&events), ["session.started"]);
    let started = &events[0];
    assert_eq!(started["client_event_id"], "start-1");
    assert!(started["event_id"].as_str().unwrap().starts_with("event_"));
    let session = &started["session"];
    assert!(session["id"].as_str().unwrap().starts_with("live_"), "{session}");
    assert_eq!(session["status"], "active");
    let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let expires = session["expires_at"].as_u64().unwrap();
    assert!(expires.abs_diff(unix.as_secs() + 7200) <= 5, "{expires}");
    assert_eq!(session["model"], "gpt-live-1.1");
    assert_eq!(session["audio"]["format"], json!({"type": "audio/pcmu", "rate": 8000}));
    assert_eq!(session["audio"]["output"]["voice"], "cedar");
    assert_eq!(session["delegation"], json!({"type": "client", "acknowledgement_delay_ms": 250}));
    assert_eq!(harness.record.sessions_started(), 1);

    let mut defaults = Harness::new(config());
    let events = defaults.send(start_event());
    let session = &events[0]["session"];
    assert_eq!(session["audio"]["format"], json!({"type": "audio/pcm", "rate": 24000}));
    assert_eq!(session["audio"]["output"]["voice"], "marin");
    assert_eq!(session["delegation"]["type"], "client");
}

#[test]
fn start_configs_outside_the_schema_are_refused_and_never_start() {
    let cases: &[(Value, &str, Option<&str>, &str)] = &[
        (
            json!({}),
            "missing_required_parameter",
            Some("session.model"),
            "Missing required parameter: 'session.model'.",
        ),
        (
            json!({"model": "gpt-realtime"}),
            "model_not_found",
            Some("session.model"),
            "The model 'gpt-realtime' does not exist or you do not have access to it.",
        ),
        (
            json!({"model": "gpt-live-1", "audio": {"output": {"voice": "nova"}}}),
            "forbidden",
            Some("session.audio.output.voice"),
            "The voice 'nova' is not available for Live sessions.",
        ),
        (
            json!({"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 8000}}}),
            "invalid_value",
            Some("session.audio.format.rate"),
            "Invalid value: 8000. Supported values are: 16000 and 24000.",
        ),
        (
            json!({"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcmu"}}}),
            "missing_required_parameter",
            Some("session.audio.format.rate"),
            "Missing required parameter: 'session.audio.format.rate'.",
        ),
        (
            json!({"model": "gpt-live-1", "input": [{"role": "system", "content": [{"text": "x"}]}]}),
            "invalid_value",
            Some("session.input[0].role"),
            "Invalid value: 'system'. Supported values are: 'developer', 'user', and 'assistant'.",
        ),
        (
            json!({"model": "gpt-live-1", "input": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]}),
            "array_above_max_length",
            Some("session.input[0].content"),
            "Invalid 'session.input[0].content': array too long. Expected an array with maximum length 1, but got an array with length 2 instead.",
        ),
        (
            json!({"model": "gpt-live-1", "instructions": 5}),
            "invalid_type",
            Some("session.instructions"),
            "Invalid type for 'session.instructions': expected a string, but got an integer instead.",
        ),
        (
            json!({"model": "gpt-live-1", "delegation": {"type": "decisions", "decisions": {}}}),
            "invalid_value",
            Some("session.delegation.type"),
            "The simulator supports client and Responses delegation only.",
        ),
    ];
    for (session, code, param, message) in cases {
        let mut harness = Harness::new(config());
        let events = harness.send(json!({"type": "session.start", "session": session}));
        assert_eq!(types(&events), ["error", "(close)"], "{session}");
        let error = &events[0]["error"];
        assert_eq!(error["code"], *code, "{session}");
        assert_eq!(error["param"].as_str(), *param, "{session}");
        assert_eq!(error["message"], *message, "{session}");
        assert_eq!(harness.record.sessions_started(), 0);
    }
    let mut too_many = Harness::new(config());
    let input: Vec<Value> =
        (0..129).map(|_| json!({"role": "user", "content": [{"text": "hi"}]})).collect();
    let events = too_many
        .send(json!({"type": "session.start", "session": {"model": "gpt-live-1", "input": input}}));
    assert_eq!(only_error(&events)["code"], "array_above_max_length");
}

#[test]
fn only_session_start_may_come_first_and_commands_wait_for_session_started() {
    let mut harness =
        Harness::new(LiveSimConfig { startup_delay: Duration::from_millis(50), ..config() });
    let events = harness
        .send(json!({"type": "session.input_audio.append", "audio": "AAAA", "event_id": "a0"}));
    let error = only_error(&events);
    assert_eq!(error["message"], "The first client event must be session.start.");
    assert_eq!(error["code"], Value::Null);
    assert_eq!(error["client_event_id"], "a0");
    assert_eq!(harness.record.count(Kind::BeforeStart), 1);
    assert!(!harness.closed, "an early command is an error, not the end");

    assert!(harness.send(start_event()).is_empty(), "session.started comes after the delay");
    let events = harness.send(json!({"type": "session.input_audio.mute", "event_id": "m0"}));
    assert_eq!(
        only_error(&events)["message"],
        "Wait for session.started before sending other client events."
    );
    assert_eq!(harness.record.count(Kind::BeforeStarted), 1);
    assert!(harness.elapse(Duration::from_millis(40)).is_empty());
    let events = harness.elapse(Duration::from_millis(10));
    assert_eq!(types(&events), ["session.started"]);
    assert_eq!(events[0]["client_event_id"], "start");
}

// ---- Commands ------------------------------------------------------------------------

#[test]
fn unknown_types_are_refused_listing_the_supported_events() {
    let mut harness = Harness::started(config());
    for kind in [
        "session.input_audio.commit",
        "response.cancel",
        "conversation.item.truncate",
        "input_audio_buffer.append",
    ] {
        let events = harness.send(json!({"type": kind, "event_id": format!("x-{kind}")}));
        let error = only_error(&events);
        assert_eq!(error["code"], "invalid_value");
        assert_eq!(error["param"], "type");
        assert_eq!(error["client_event_id"], format!("x-{kind}"));
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "Invalid value: '{kind}'. Supported values are: 'session.start', 'session.update', "
            )),
            "{message}"
        );
        assert!(message.contains("'session.commentary.append'"), "{message}");
        assert!(message.ends_with(", and 'session.close'."), "{message}");
    }
    assert_eq!(harness.record.count(Kind::UnknownEventType), 4);
    assert!(!harness.closed, "command errors never close the session");
}

#[test]
fn response_create_in_client_mode_is_refused_with_the_recorded_message() {
    let mut harness = Harness::started(config());
    for kind in ["response.create", "response.item.create"] {
        let events = harness.send(json!({"type": kind, "event_id": "r1"}));
        let error = only_error(&events);
        assert_eq!(error["message"], "response.item.create requires Responses delegation.");
        assert_eq!(error["type"], "invalid_request_error");
        assert_eq!(error["code"], Value::Null);
        assert_eq!(error["client_event_id"], "r1");
    }
    let events = harness.send(json!({"type": "decision.create", "event_id": "d1"}));
    assert_eq!(only_error(&events)["message"], "decision.create requires Decisions delegation.");
    assert_eq!(harness.record.count(Kind::WrongDelegationMode), 3);
    let events = harness.send(start_event());
    assert_eq!(only_error(&events)["message"], "The session has already started.");
    assert_eq!(harness.record.count(Kind::BeforeStart), 1);
}

#[test]
fn the_timeline_counts_bytes_in_the_session_format() {
    for (format, frame_bytes) in [
        (json!({"type": "audio/pcm", "rate": 24000}), 960),
        (json!({"type": "audio/pcm", "rate": 16000}), 640),
        (json!({"type": "audio/pcmu", "rate": 8000}), 160),
        (json!({"type": "audio/pcma", "rate": 8000}), 160),
    ] {
        let mut harness = Harness::started_with(
            config(),
            json!({"type": "session.start", "session": {"model": "gpt-live-1", "audio": {"format": format}}}),
        );
        assert!(harness.append("thinking", "fact", None, "t").is_empty());
        let events = harness.audio(580, false);
        assert!(of_type(&events, "session.thinking.appended").is_empty(), "{format}");
        let deltas = of_type(&events, "session.output_audio.delta");
        assert_eq!(deltas.len(), 29);
        let bytes = STANDARD.decode(deltas[0]["delta"].as_str().unwrap()).unwrap();
        assert_eq!(bytes.len(), frame_bytes, "{format}");
        let events = harness.audio(20, false);
        assert_eq!(of_type(&events, "session.thinking.appended").len(), 1, "{format}");
        assert_eq!(harness.stats().input_ms, 600);
    }
}

#[test]
fn client_events_are_held_to_their_schema() {
    let mut harness = Harness::started(config());
    let cases = [
        (
            json!({"type": "session.commentary.append", "content": "hi"}),
            "Missing required parameter: 'delegation_id'.",
        ),
        (
            json!({"type": "session.thinking.append", "content": "hi", "delegation_id": null, "extra": 1}),
            "Unknown parameter: 'extra'.",
        ),
        (
            json!({"type": "session.input_audio.append", "audio": ""}),
            "Invalid 'audio': string too short. Expected a string with minimum length 1, but got an empty string instead.",
        ),
        (
            json!({"type": "session.input_audio.mute", "event_id": "e".repeat(513)}),
            "Invalid 'event_id': string too long. Expected a string with maximum length 512, but got a string with length 513 instead.",
        ),
        (
            json!({"type": "session.update", "session": {"instructions": "new"}}),
            "Unknown parameter: 'session.instructions'.",
        ),
        (
            json!({"type": "session.instructions.append", "content": ["a"], "delegation_id": null}),
            "Invalid type for 'content': expected a string, but got an array instead.",
        ),
    ];
    for (event, message) in cases {
        let events = harness.send(event.clone());
        assert_eq!(only_error(&events)["message"], message, "{event}");
    }
    let events = harness
        .send(json!({"type": "session.input_audio.append", "audio": STANDARD.encode([0u8; 3])}));
    assert_eq!(only_error(&events)["message"], "Invalid 'audio'. Expected whole 16-bit samples.");
    let events = harness.send_raw("not json");
    assert_eq!(only_error(&events)["code"], "invalid_json");
    assert_eq!(harness.record.count(Kind::InvalidEvent), 6);
    assert_eq!(harness.record.count(Kind::BadAudio), 1);
    assert_eq!(harness.record.count(Kind::InvalidJson), 1);
    assert_eq!(harness.stats().errors_sent, 8);
}

#[test]
fn a_501_token_append_is_refused_with_the_exact_error() {
    let mut harness = Harness::started(config());
    let events = harness.append("commentary", &"a".repeat(2001), None, "long");
    let error = only_error(&events);
    assert_eq!(
        error,
        &json!({
            "type": "invalid_request_error",
            "code": "invalid_value",
            "message": "Context append text must not exceed 500 tokens.",
            "param": "content",
            "client_event_id": "long",
        })
    );
    assert_eq!(harness.record.count(Kind::AppendTooLong), 1);
    assert!(harness.append("commentary", &"a".repeat(2000), None, "fits").is_empty());
    assert_eq!(harness.stats().commentary_appends, 1);
}

// ---- The timeline and acknowledgements -----------------------------------------------

#[test]
fn acks_wait_for_the_timeline_and_pending_appends_are_reported_at_close() {
    let mut harness = Harness::started(config());
    assert!(harness.append("thinking", "The order shipped.", None, "t1").is_empty());
    // The wall clock alone moves nothing.
    assert!(harness.elapse(Duration::from_secs(5)).is_empty());
    let events = harness.audio(580, false);
    assert!(of_type(&events, "session.thinking.appended").is_empty());
    let events = harness.audio(20, false);
    let acks = of_type(&events, "session.thinking.appended");
    assert_eq!(acks.len(), 1, "{:?}", control(&events));
    assert_eq!(acks[0]["client_event_id"], "t1");
    assert_eq!(acks[0]["start_ms"], 0);
    assert_eq!(acks[0]["end_ms"], 600);

    // Input stops: an append sent now is never placed.
    assert!(harness.append("instructions", "Say goodbye.", None, "i1").is_empty());
    assert!(harness.elapse(Duration::from_secs(10)).is_empty());
    let events = harness.send(json!({"type": "session.close", "event_id": "bye"}));
    assert_eq!(types(&events), ["error", "session.closed", "(close)"]);
    assert_eq!(events[0]["error"]["code"], "context_injection_incomplete");
    assert_eq!(events[0]["error"]["client_event_id"], "i1");
    assert_eq!(events[0]["client_event_id"], "i1");
    let closed = &events[1];
    assert_eq!(closed["reason"], "close_requested");
    assert_eq!(closed["client_event_id"], "bye");
    assert_eq!(closed["usage"]["seconds"], 0.6);
    assert_eq!(closed["session"]["status"], "active");
    let stats = harness.stats();
    assert_eq!((stats.acks, stats.pending_at_close), (1, 1));
    assert_eq!(stats.close_reason, Some(CloseReason::CloseRequested));
    assert!(harness.send(json!({"type": "session.close"})).is_empty(), "closed stays closed");
}

#[test]
fn acks_go_out_in_send_order() {
    let mut harness = Harness::started(LiveSimConfig {
        faults: crate::live::LiveFaults {
            ack_delay: Some(Duration::from_millis(300)),
            ..Default::default()
        },
        ..config()
    });
    for n in 0..5 {
        assert!(harness.append("thinking", "fact", None, &format!("t{n}")).is_empty());
    }
    let events = harness.audio(1000, false);
    let ids: Vec<&str> = of_type(&events, "session.thinking.appended")
        .iter()
        .map(|a| a["client_event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["t0", "t1", "t2", "t3", "t4"]);
}

#[test]
fn a_reused_append_event_id_is_recorded_but_accepted() {
    let mut harness = Harness::started(config());
    assert!(harness.append("thinking", "one", None, "same").is_empty());
    assert!(harness.append("thinking", "two", None, "same").is_empty());
    assert_eq!(harness.record.count(Kind::AppendEventIdReused), 1);
    let events = harness.audio(700, false);
    assert_eq!(of_type(&events, "session.thinking.appended").len(), 2);
}

// ---- Output, speech and delegation ------------------------------------------------------

#[test]
fn the_track_is_continuous_silence_with_voiced_speech_after_a_caller_utterance() {
    let mut harness = Harness::started(config());
    let events = harness.audio(1000, false);
    let audio = of_type(&events, "session.output_audio.delta");
    assert_eq!(audio.len(), 50, "one 20 ms frame per 20 ms of input");
    assert!(audio.iter().all(|a| !harness.voiced(a)));
    assert!(audio.iter().all(|a| a.get("event_id").is_none() && a.get("start_ms").is_none()));

    let mut events = harness.audio(600, true);
    events.extend(harness.audio(3000, false));
    let audio = of_type(&events, "session.output_audio.delta");
    assert_eq!(audio.len(), 180, "the track never stops");
    let voiced = audio.iter().filter(|a| harness.voiced(a)).count();
    assert!((20..=60).contains(&voiced), "{voiced} voiced frames");
    let first_voiced = audio.iter().position(|a| harness.voiced(a)).unwrap();
    assert!(first_voiced >= 30, "the model waits for the caller to finish: {first_voiced}");

    let heard = of_type(&events, "session.input_transcript.delta");
    assert!(!heard.is_empty());
    assert_eq!(heard.first().unwrap()["start_ms"], 1000);
    assert!(heard.last().unwrap()["end_ms"].as_u64().unwrap() <= 1600);
    let said = transcript(&events, "session.output_transcript.delta");
    assert!(said.starts_with("Sure,"), "{said}");
    let stats = harness.stats();
    assert_eq!((stats.caller_utterances, stats.speech_stretches), (1, 1));
    assert_eq!(stats.output_speech_ms, voiced as u64 * 20);
    assert_eq!(stats.input_ms, 4600);
}

/// A long result goes as pieces sent back to back, before any is placed:
/// that is one result, not two.
#[test]
fn the_pieces_of_one_result_are_one_answer() {
    let mut harness = Harness::started(LiveSimConfig { delegate_every: 1, ..config() });
    let mut events = harness.audio(400, true);
    events.extend(harness.audio(1500, false));
    let created = of_type(&events, "session.delegation.created");
    assert_eq!(created.len(), 1, "{events:?}");
    let id = created[0]["delegation"]["id"].as_str().unwrap().to_owned();
    assert!(harness.append("commentary", "Your order", Some(&id), "p1").is_empty());
    assert!(harness.append("commentary", " ships Monday.", Some(&id), "p2").is_empty());
    let events = harness.audio(2000, false);
    assert_eq!(of_type(&events, "session.commentary.appended").len(), 2);
    assert_eq!(harness.record.count(Kind::DelegationAnsweredTwice), 0);
    // Once placed, another commentary for it is a second result.
    assert!(harness.append("commentary", "Again.", Some(&id), "p3").is_empty());
    assert_eq!(harness.record.count(Kind::DelegationAnsweredTwice), 1);
}

#[test]
fn every_kth_utterance_is_delegated_and_its_commentary_spoken_once() {
    let mut harness = Harness::started(LiveSimConfig { delegate_every: 2, ..config() });
    let mut events = harness.audio(400, true);
    events.extend(harness.audio(2000, false));
    assert!(of_type(&events, "session.delegation.created").is_empty(), "the first is answered");
    let mut events = harness.audio(400, true);
    events.extend(harness.audio(1500, false));
    let created = of_type(&events, "session.delegation.created");
    assert_eq!(created.len(), 1);
    let delegation = &created[0]["delegation"];
    assert_eq!(delegation["type"], "delegation");
    assert_eq!(delegation["target"], "client");
    let id = delegation["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("deleg_"));
    let offset = created[0]["offset_ms"].as_u64().unwrap();
    assert!((2800..=3400).contains(&offset), "{offset}");
    assert_eq!(transcript(&events, "session.output_transcript.delta"), " One moment.");

    assert!(harness.append("commentary", "Your order ships Monday.", Some(&id), "c1").is_empty());
    let events = harness.audio(2000, false);
    assert_eq!(of_type(&events, "session.commentary.appended").len(), 1);
    assert_eq!(transcript(&events, "session.output_transcript.delta"), " Your order ships Monday.");

    assert!(harness.append("commentary", "Again.", Some(&id), "c2").is_empty());
    let twice = harness.record.violations_of(Kind::DelegationAnsweredTwice);
    assert_eq!(twice.len(), 1);
    assert_eq!(twice[0].session_id.as_deref(), Some(harness.stats().id.as_str()));

    let events = harness.append("commentary", "Lost.", Some("deleg_unknown"), "c3");
    let error = only_error(&events);
    assert_eq!(error["param"], "delegation_id");
    assert_eq!(error["client_event_id"], "c3");
    assert_eq!(harness.record.count(Kind::UnknownDelegation), 1);
    let stats = harness.stats();
    assert_eq!((stats.delegations_announced, stats.delegations_answered), (1, 1));
    assert_eq!(stats.commentary_appends, 2, "the unknown one was refused");
    assert_eq!(stats.acknowledgements_spoken, 1);
}

#[test]
fn thinking_cancels_pending_acknowledgements_and_answers_silently() {
    let mut harness = Harness::started_with(
        LiveSimConfig { delegate_every: 1, ..config() },
        json!({"type": "session.start", "session": {
            "model": "gpt-live-1", "delegation": {"type": "client", "acknowledgement_delay_ms": 1000},
        }}),
    );
    let mut events = harness.audio(400, true);
    events.extend(harness.audio(600, false));
    let created = of_type(&events, "session.delegation.created");
    let id = created[0]["delegation"]["id"].as_str().unwrap().to_owned();
    assert!(harness.append("thinking", "Looking it up.", Some(&id), "t1").is_empty());
    let events = harness.audio(3000, false);
    assert_eq!(of_type(&events, "session.thinking.appended").len(), 1);
    assert!(of_type(&events, "session.output_transcript.delta").is_empty(), "thinking is silent");
    let events = harness.send(json!({"type": "session.close"}));
    assert_eq!(types(&events), ["session.closed", "(close)"]);
    let stats = harness.stats();
    assert_eq!(stats.acknowledgements_spoken, 0);
    assert_eq!(stats.delegations_answered_silently, 1);
    assert_eq!(stats.delegations_unanswered_at_close, 0);
}

#[test]
fn an_unanswered_delegation_is_counted_at_close() {
    let mut harness = Harness::started(LiveSimConfig { delegate_every: 1, ..config() });
    let mut events = harness.audio(400, true);
    events.extend(harness.audio(1000, false));
    assert_eq!(of_type(&events, "session.delegation.created").len(), 1);
    harness.send(json!({"type": "session.close"}));
    assert_eq!(harness.stats().delegations_unanswered_at_close, 1);
}

#[test]
fn a_caller_talking_over_the_model_stops_it() {
    let mut harness = Harness::started(config());
    let words = "word ".repeat(30);
    assert!(harness.append("instructions", &words, None, "long").is_empty());
    let events = harness.audio(1600, false);
    let audio = of_type(&events, "session.output_audio.delta");
    assert!(audio.iter().skip(31).all(|a| harness.voiced(a)), "speaking after the ack");

    let events = harness.audio(1000, true);
    let audio = of_type(&events, "session.output_audio.delta");
    let still = audio.iter().take_while(|a| harness.voiced(a)).count();
    // The VAD hears the caller 60 ms in; the model stops 200–400 ms later.
    assert!((12..=22).contains(&still), "stopped after {still} frames of overlap");
    assert!(audio.iter().skip(still).all(|a| !harness.voiced(a)), "and stays quiet");
    let stats = harness.stats();
    assert_eq!(stats.barge_ins, 1);
    assert!(stats.output_speech_ms < 30 * 250);
}

#[test]
fn an_instruction_interrupts_speech_in_progress() {
    let mut harness = Harness::started(config());
    assert!(harness.append("commentary", &"long ".repeat(20), None, "c1").is_empty());
    harness.audio(1000, false);
    assert!(harness.append("instructions", "Disclosure now.", None, "i1").is_empty());
    let events = harness.audio(1500, false);
    let said = transcript(&events, "session.output_transcript.delta");
    assert!(said.contains(" Disclosure now."), "{said}");
    assert_eq!(harness.stats().interruptions, 1);
}

#[test]
fn update_keeps_the_delegation_type_and_sets_the_acknowledgement_delay() {
    let mut harness = Harness::started(config());
    let events = harness.send(json!({
        "type": "session.update", "event_id": "u1",
        "session": {"delegation": {"type": "responses", "responses": {"model": "gpt-5"}}},
    }));
    assert_eq!(
        only_error(&events),
        &json!({
            "type": "invalid_request_error",
            "code": "immutable_field_update",
            "message": "The delegation type cannot change after session startup.",
            "param": "session.delegation.type",
            "client_event_id": "u1",
        })
    );
    assert_eq!(harness.record.count(Kind::ImmutableUpdate), 1);
    let events = harness.send(json!({
        "type": "session.update", "event_id": "u2",
        "session": {"delegation": {"type": "client", "acknowledgement_delay_ms": 700}},
    }));
    assert_eq!(types(&events), ["session.updated"]);
    assert_eq!(events[0]["client_event_id"], "u2");
    assert_eq!(events[0]["session"]["delegation"]["acknowledgement_delay_ms"], 700);
    assert!(events[0]["session"]["id"].as_str().unwrap().starts_with("live_"));
}

#[test]
fn mute_unmute_and_fixtures_are_answered_and_fixtures_exclude_appends() {
    let mut harness = Harness::started_with(
        config(),
        json!({"type": "session.start", "session": {
            "model": "gpt-live-1", "audio": {"format": {"type": "audio/pcmu", "rate": 8000}},
        }}),
    );
    let events = harness.send(json!({"type": "session.input_audio.mute", "event_id": "m"}));
    assert_eq!(types(&events), ["session.input_audio.muted"]);
    assert_eq!(events[0]["client_event_id"], "m");
    let events = harness.send(json!({"type": "session.input_audio.unmute", "event_id": "u"}));
    assert_eq!(types(&events), ["session.input_audio.unmuted"]);

    // 500 ms of a loud tone at 24 kHz, played in the session's µ-law.
    let tone: Vec<i16> =
        (0..12_000).map(|i| if (i / 30) % 2 == 0 { 8000 } else { -8000 }).collect();
    let mut pcm = Vec::new();
    pcm16::extend_le_bytes(&tone, &mut pcm);
    let events = harness.send(json!({
        "type": "session.output_audio.fixture.play", "event_id": "f1", "audio": STANDARD.encode(&pcm),
    }));
    assert_eq!(types(&events), ["session.output_audio.fixture.playing"]);
    assert_eq!(events[0]["client_event_id"], "f1");
    let events = harness.append("commentary", "hi", None, "during");
    assert_eq!(
        only_error(&events)["message"],
        "Context appends are not accepted while an audio fixture is playing."
    );
    let events =
        harness.send(json!({"type": "session.output_audio.fixture.play", "audio": "AAAA"}));
    assert_eq!(only_error(&events)["message"], "An audio fixture is already playing.");

    // The caller talks during the fixture: dropped, never heard.
    let mut events = harness.audio(500, true);
    events.extend(harness.audio(200, false));
    let audio = of_type(&events, "session.output_audio.delta");
    assert!(audio.iter().take(20).all(|a| harness.voiced(a)), "the fixture plays");
    let played = of_type(&events, "session.output_audio.fixture.played");
    assert_eq!(played.len(), 1);
    assert_eq!(played[0]["client_event_id"], "f1");
    assert!(of_type(&events, "session.input_transcript.delta").is_empty());
    assert!(harness.append("commentary", "after", None, "after").is_empty());
    assert_eq!(harness.record.count(Kind::AppendDuringFixture), 1);
    assert_eq!(harness.record.count(Kind::FixtureBusy), 1);
    assert_eq!(harness.stats().fixtures_played, 1);

    let too_long = STANDARD.encode(vec![0u8; 48 * 30_001]);
    let events =
        harness.send(json!({"type": "session.output_audio.fixture.play", "audio": too_long}));
    assert_eq!(only_error(&events)["message"], "Fixture audio must not exceed 30 seconds.");
}

#[test]
fn idle_expiry_and_the_session_limit_close_with_expired() {
    let mut idle = Harness::started(config());
    idle.audio(200, false);
    assert!(idle.elapse(Duration::from_secs(30)).is_empty());
    let events = idle.elapse(Duration::from_secs(1));
    assert_eq!(types(&events), ["session.closed", "(close)"]);
    assert_eq!(events[0]["reason"], "expired");
    assert_eq!(idle.stats().close_reason, Some(CloseReason::Expired));

    let mut limited = Harness::started(LiveSimConfig {
        session_limit: Duration::from_secs(2),
        idle_expiry: None,
        ..config()
    });
    limited.audio(1000, false);
    let events = limited.elapse(Duration::from_secs(1));
    assert_eq!(control(&events).len(), 2, "{events:?}");
    assert_eq!(events[0]["reason"], "expired");
}

#[test]
fn usage_snapshots_follow_the_timeline() {
    let mut harness =
        Harness::started(LiveSimConfig { usage_every: Some(Duration::from_secs(1)), ..config() });
    let events = harness.audio(2500, false);
    let usage: Vec<f64> = of_type(&events, "session.usage.updated")
        .iter()
        .map(|e| e["usage"]["seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(usage, [1.0, 2.0]);
}

#[test]
fn server_errors_refuse_commands_without_closing() {
    let mut harness = Harness::started(LiveSimConfig {
        faults: crate::live::LiveFaults { server_error: 1.0, ..Default::default() },
        ..config()
    });
    let events = harness.append("thinking", "x", None, "t");
    let error = only_error(&events);
    assert_eq!(error["type"], "server_error");
    assert_eq!(error["code"], "server_error");
    assert_eq!(error["client_event_id"], "t");
    assert!(of_type(&harness.audio(100, false), "error").is_empty(), "audio is never refused");
    assert_eq!(harness.stats().server_errors, 1);
    assert_eq!(harness.record.total_violations(), 0);
}
