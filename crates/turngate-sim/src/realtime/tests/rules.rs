//! The simulator's rules, on its pure session: each breach gets the real
//! error and a violation; each legal event gets the real reply.

#![allow(clippy::needless_pass_by_value, reason = "helpers take the values tests build inline")]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use std::sync::Mutex;

use crate::realtime::session::{Action, Ids, SimSession, Timer};
use crate::realtime::violations::Record;
use crate::realtime::{Faults, SessionObserver, SimConfig};

struct Harness {
    session: SimSession,
    record: Arc<Record>,
    timers: Vec<Timer>,
}

impl Harness {
    fn new(config: SimConfig) -> Harness {
        let record = Arc::new(Record::default());
        let session = SimSession::new(
            Arc::new(config),
            Arc::clone(&record),
            Arc::new(Ids::default()),
            7,
            "gpt-realtime-2.1",
        );
        let mut harness = Harness { session, record, timers: Vec::new() };
        let opened = harness.session.on_open();
        assert_eq!(types(&harness.collect(opened)), ["session.created"]);
        harness
    }

    /// A session reporting to `observer`.
    fn observed(observer: Box<dyn SessionObserver>) -> Harness {
        let mut harness = Harness::plain();
        let session = std::mem::replace(
            &mut harness.session,
            SimSession::new(
                Arc::new(SimConfig::default()),
                Arc::clone(&harness.record),
                Arc::new(Ids::default()),
                7,
                "gpt-realtime-2.1",
            ),
        );
        harness.session = session.with_observer(observer);
        harness
    }

    /// Sends `text` exactly as written (duplicate keys, escapes, spacing).
    fn send_raw(&mut self, text: &str) -> Vec<Value> {
        let actions = self.session.on_text(text);
        self.collect(actions)
    }

    fn plain() -> Harness {
        Harness::new(SimConfig { faults: Faults::default(), ..SimConfig::default() })
    }

    fn send(&mut self, event: Value) -> Vec<Value> {
        let actions = self.session.on_text(&event.to_string());
        self.collect(actions)
    }

    /// Runs every pending timer until none is left.
    fn settle(&mut self) -> Vec<Value> {
        let mut events = Vec::new();
        while let Some(timer) = (!self.timers.is_empty()).then(|| self.timers.remove(0)) {
            let actions = self.session.on_timer(timer);
            events.extend(self.collect(actions));
        }
        events
    }

    fn collect(&mut self, actions: Vec<Action>) -> Vec<Value> {
        let mut events = Vec::new();
        for action in actions {
            match action {
                Action::Send(text) => events.push(serde_json::from_str(&text).unwrap()),
                Action::After(_, timer) => self.timers.push(timer),
                Action::Close(code, reason) => {
                    events.push(json!({"close": code, "reason": reason}));
                }
            }
        }
        events
    }

    fn configure(&mut self, session: Value) {
        let events =
            self.send(json!({"type": "session.update", "event_id": "c0", "session": session}));
        assert_eq!(types(&events), ["session.updated"], "{events:?}");
    }

    fn append_ms(&mut self, ms: usize) {
        let audio = STANDARD.encode(vec![0xFFu8; ms * 8]);
        let events = self.send(json!({"type": "input_audio_buffer.append", "audio": audio}));
        assert!(events.is_empty(), "{events:?}");
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap_or("close")).collect()
}

fn ulaw_session() -> Value {
    json!({
        "type": "realtime",
        "audio": {
            "input": {"format": {"type": "audio/pcmu"}, "turn_detection": null},
            "output": {"format": {"type": "audio/pcmu"}},
        },
        "tools": [{"type": "function", "name": "lookup", "description": "d", "parameters": {"type": "object"}}],
    })
}

fn error_of(events: &[Value]) -> &Value {
    &events.iter().find(|e| e["type"] == "error").expect("an error event")["error"]
}

#[test]
fn a_second_create_while_one_is_active_gets_the_real_conflict_error() {
    let mut h = Harness::plain();
    h.configure(ulaw_session());
    let first = h.send(json!({"type": "response.create", "event_id": "c1"}));
    let id = first.iter().find(|e| e["type"] == "response.created").unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = h.send(json!({"type": "response.create", "event_id": "c2"}));
    let error = error_of(&second);
    assert_eq!(error["code"], "conversation_already_has_active_response");
    assert_eq!(error["event_id"], "c2");
    assert_eq!(
        error["message"],
        format!(
            "Conversation already has an active response in progress: {id}. Wait until the response is finished before creating a new one."
        )
    );
    assert!(!types(&second).contains(&"response.done"), "a rejected create gets no response.done");
    assert_eq!(h.record.counts().conflicts, 1);
    let rest = h.settle();
    assert_eq!(rest.iter().filter(|e| e["type"] == "response.done").count(), 1);
    // Once it is done, the next create is fine.
    let third = h.send(json!({"type": "response.create", "event_id": "c3"}));
    assert!(types(&third).contains(&"response.created"));
    assert_eq!(h.record.counts().conflicts, 1);
}

#[test]
fn a_delayed_created_still_makes_the_response_active_at_once() {
    let mut h = Harness::new(SimConfig {
        faults: Faults { created_delay: Some(Duration::from_millis(50)), ..Faults::default() },
        ..SimConfig::default()
    });
    h.configure(ulaw_session());
    let first = h.send(json!({"type": "response.create", "event_id": "c1"}));
    assert!(first.is_empty(), "announcement waits for its timer: {first:?}");
    let second = h.send(json!({"type": "response.create", "event_id": "c2"}));
    assert_eq!(error_of(&second)["code"], "conversation_already_has_active_response");
    assert_eq!(h.record.counts().conflicts, 1);
}

#[test]
fn commits_need_a_hundred_milliseconds() {
    let mut h = Harness::plain();
    h.configure(ulaw_session());
    h.append_ms(60);
    let events = h.send(json!({"type": "input_audio_buffer.commit", "event_id": "c1"}));
    let error = error_of(&events);
    assert_eq!(error["code"], "input_audio_buffer_commit_empty");
    assert_eq!(
        error["message"],
        "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has 60.00ms of audio."
    );
    assert_eq!(h.record.counts().bad_commits, 1);
    h.append_ms(40);
    let events = h.send(json!({"type": "input_audio_buffer.commit", "event_id": "c2"}));
    assert_eq!(types(&events)[0], "input_audio_buffer.committed");
    assert_eq!(h.record.counts().bad_commits, 1);
}

#[test]
fn truncates_are_checked_against_the_audio_the_item_has() {
    let mut h = Harness::new(SimConfig { chunks_per_response: 3, ..SimConfig::default() });
    h.configure(ulaw_session());
    let mut events = h.send(json!({"type": "response.create"}));
    events.extend(h.settle());
    let item =
        events.iter().find(|e| e["type"] == "response.output_audio.delta").unwrap()["item_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let too_far = h.send(json!({"type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": 301}));
    assert_eq!(
        error_of(&too_far)["message"],
        "Audio content of 300ms is already shorter than 301ms"
    );
    let zero = h.send(json!({"type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": 0}));
    assert_eq!(error_of(&zero)["message"], "Only model output audio messages can be truncated");
    assert_eq!(h.record.counts().bad_truncates, 2);
    let ok = h.send(json!({"type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": 120}));
    assert_eq!(types(&ok), ["conversation.item.truncated"]);
    // The item is 120 ms long now.
    let again = h.send(json!({"type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": 200}));
    assert_eq!(error_of(&again)["message"], "Audio content of 120ms is already shorter than 200ms");
    assert_eq!(h.record.counts().bad_truncates, 3);
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let mut h = Harness::plain();
    let events = h.send(json!({
        "type": "session.update", "event_id": "c9",
        "session": {"type": "realtime", "tools": [{"type": "function", "name": "x", "meta": {}}]},
    }));
    let error = error_of(&events);
    assert_eq!(error["code"], "unknown_parameter");
    assert_eq!(error["message"], "Unknown parameter: 'session.tools[0].meta'.");
    assert_eq!(error["param"], "session.tools[0].meta");
    assert_eq!(error["event_id"], "c9");
    assert_eq!(h.record.counts().invalid_events, 1);
}

#[test]
fn wrong_types_missing_fields_and_bad_values_are_refused() {
    let mut h = Harness::plain();
    let cases = [
        (
            json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": "pcm16"}}}}),
            "invalid_type",
            "Invalid type for 'session.audio.input.format': expected an object, but got a string instead.",
        ),
        (
            json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "output": "{}"}}),
            "missing_required_parameter",
            "Missing required parameter: 'item.call_id'.",
        ),
        (
            json!({"type": "response.cancel", "response_id": 5}),
            "invalid_type",
            "Invalid type for 'response_id': expected a string, but got an integer instead.",
        ),
        (
            json!({"type": "input_audio_buffer.flush"}),
            "invalid_value",
            "Invalid value: 'input_audio_buffer.flush'. Supported values are: 'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'output_audio_buffer.clear', 'conversation.item.create', 'conversation.item.retrieve', 'conversation.item.truncate', 'conversation.item.delete', 'response.create', and 'response.cancel'.",
        ),
    ];
    for (index, (event, code, message)) in cases.iter().enumerate() {
        let events = h.send(event.clone());
        let error = error_of(&events);
        assert_eq!(error["code"], *code, "case {index}");
        assert_eq!(error["message"], *message, "case {index}");
    }
    assert_eq!(h.record.counts().invalid_events, cases.len() as u64);
}

#[test]
fn assistant_text_must_be_output_text_in_ga() {
    let mut h = Harness::plain();
    let events = h.send(json!({
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "hi"}]},
    }));
    assert_eq!(error_of(&events)["code"], "invalid_value");
    let events = h.send(json!({
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]},
    }));
    assert_eq!(types(&events), ["conversation.item.added", "conversation.item.done"]);
    assert_eq!(h.record.counts().invalid_events, 1);
}

#[test]
fn the_beta_shape_is_refused_and_the_session_closed_with_4000() {
    let mut h = Harness::plain();
    let events = h.send(json!({"type": "session.update", "session": {"modalities": ["text", "audio"], "input_audio_format": "g711_ulaw"}}));
    assert_eq!(error_of(&events)["code"], "beta_api_shape_disabled");
    assert_eq!(
        error_of(&events)["message"],
        "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
    );
    assert_eq!(events.last().unwrap()["close"], 4000);
    assert_eq!(h.record.counts().beta_shapes, 1);
}

#[test]
fn cancelling_with_nothing_active_is_harmless_but_answered() {
    let mut h = Harness::plain();
    let events =
        h.send(json!({"type": "response.cancel", "event_id": "c1", "response_id": "resp_x"}));
    assert_eq!(error_of(&events)["code"], "response_cancel_not_active");
    assert_eq!(error_of(&events)["message"], "Cancellation failed: no active response found");
    let counts = h.record.counts();
    assert_eq!((counts.violations(), counts.cancels_not_active), (0, 1));
}

#[test]
fn outputs_for_calls_the_conversation_lacks_are_violations() {
    let mut h = Harness::plain();
    h.send(json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_nope", "output": "{}"}}));
    assert_eq!(h.record.counts().unknown_call_outputs, 1);
    h.send(json!({"type": "conversation.item.create", "item": {"type": "function_call", "call_id": "call_a", "name": "lookup", "arguments": "{}"}}));
    h.send(json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_a", "output": "{}"}}));
    assert_eq!(h.record.counts().unknown_call_outputs, 1);
}

#[test]
fn every_kth_response_is_a_function_call_of_the_first_tool() {
    let mut h = Harness::new(SimConfig { function_call_every: 2, ..SimConfig::default() });
    h.configure(ulaw_session());
    let mut kinds = Vec::new();
    for _ in 0..4 {
        let mut events = h.send(json!({"type": "response.create"}));
        events.extend(h.settle());
        let call = events.iter().find(|e| e["type"] == "response.function_call_arguments.done");
        kinds.push(call.is_some());
        if let Some(call) = call {
            let added = events.iter().find(|e| e["type"] == "response.output_item.added").unwrap();
            assert_eq!(added["item"]["name"], "lookup");
            assert_eq!(added["item"]["call_id"], call["call_id"]);
        }
    }
    assert_eq!(kinds, [false, true, false, true]);
}

#[test]
fn server_vad_commits_and_answers_on_its_own_when_asked_to() {
    let mut h = Harness::plain();
    let mut session = ulaw_session();
    session["audio"]["input"]["turn_detection"] = json!({"type": "server_vad", "silence_duration_ms": 200, "create_response": true, "interrupt_response": true});
    h.configure(session);
    let tone: Vec<i16> = (0..8 * 300).map(|n| ((n as f64 * 0.3).sin() * 8000.0) as i16).collect();
    let mut loud = Vec::new();
    turngate_audio::ulaw::encode_extend(&tone, &mut loud);
    let events =
        h.send(json!({"type": "input_audio_buffer.append", "audio": STANDARD.encode(&loud)}));
    assert_eq!(types(&events), ["input_audio_buffer.speech_started"]);
    let events = h.send(json!({"type": "input_audio_buffer.append", "audio": STANDARD.encode(vec![0xFFu8; 8 * 300])}));
    let kinds = types(&events);
    assert_eq!(&kinds[..2], ["input_audio_buffer.speech_stopped", "input_audio_buffer.committed"]);
    assert!(kinds.contains(&"response.created"), "{kinds:?}");
    let created = events.iter().find(|e| e["type"] == "response.created").unwrap();
    assert_eq!(created["response"]["metadata"], Value::Null);
    // Speech during that response cancels it (interrupt_response).
    let events =
        h.send(json!({"type": "input_audio_buffer.append", "audio": STANDARD.encode(&loud)}));
    let done = events.iter().find(|e| e["type"] == "response.done").expect("cancelled");
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(done["response"]["status_details"]["reason"], "turn_detected");
    let counts = h.record.counts();
    assert_eq!((counts.auto_responses, counts.commits, counts.violations()), (1, 1, 0));
}

#[test]
fn duplicate_event_ids_are_violations() {
    let mut h = Harness::plain();
    h.send(json!({"type": "input_audio_buffer.clear", "event_id": "same"}));
    h.send(json!({"type": "input_audio_buffer.clear", "event_id": "same"}));
    assert_eq!(h.record.counts().duplicate_event_ids, 1);
}

#[test]
fn every_provider_fixture_passes_the_ga_schema() {
    let folder =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/openai");
    let mut checked = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            crate::realtime::schema::validate_event(&event),
            Ok(()),
            "{} breaks the GA schema",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} fixtures found in {}", folder.display());
}

#[test]
fn appends_are_held_to_the_schema_whatever_their_spelling() {
    let mut h = Harness::plain();
    h.configure(ulaw_session());
    let audio = STANDARD.encode([0xFF_u8; 160]);
    // Accepted, as the API accepts them: the plain shape, spacing, an
    // escaped id, and a duplicate key (JSON keeps the last).
    let accepted = [
        format!(r#"{{"type":"input_audio_buffer.append","event_id":"a1","audio":"{audio}"}}"#),
        format!("{{ \"audio\" : \"{audio}\" ,\n \"type\" : \"input_audio_buffer.append\" }}"),
        format!(r#"{{"type":"input_audio_buffer.append","event_id":"a\"2","audio":"{audio}"}}"#),
        format!(r#"{{"type":"input_audio_buffer.append","audio":"x","audio":"{audio}"}}"#),
    ];
    for text in &accepted {
        assert_eq!(h.send_raw(text), Vec::<Value>::new(), "{text}");
    }
    assert_eq!(h.record.counts().invalid_events, 0);
    // Refused with the schema's own errors.
    let long_id = "i".repeat(513);
    let refused = [
        (
            format!(r#"{{"type":"input_audio_buffer.append","event_id":null,"audio":"{audio}"}}"#),
            "invalid_type",
        ),
        (
            format!(r#"{{"type":"input_audio_buffer.append","audio":"{audio}","rate":8000}}"#),
            "unknown_parameter",
        ),
        (r#"{"type":"input_audio_buffer.append"}"#.to_owned(), "missing_required_parameter"),
        (r#"{"type":"input_audio_buffer.append","audio":7}"#.to_owned(), "invalid_type"),
        (
            format!(
                r#"{{"type":"input_audio_buffer.append","event_id":"{long_id}","audio":"{audio}"}}"#
            ),
            "string_above_max_length",
        ),
    ];
    for (number, (text, code)) in refused.iter().enumerate() {
        let events = h.send_raw(text);
        assert_eq!(error_of(&events)["code"], *code, "{text}");
        assert_eq!(h.record.counts().invalid_events, number as u64 + 1);
    }
    // A repeated id is caught on the fast path too, escaped or not.
    h.send_raw(&accepted[0]);
    h.send_raw(&accepted[2]);
    assert_eq!(h.record.counts().duplicate_event_ids, 2);
    // Everything accepted was buffered: 6 × 20 ms makes a valid commit.
    let committed = h.send(json!({"type": "input_audio_buffer.commit"}));
    assert_eq!(types(&committed)[0], "input_audio_buffer.committed", "{committed:?}");
}

/// What an observer saw, shared with the test.
#[derive(Debug, Default)]
struct Seen {
    appended: Vec<Vec<u8>>,
    commits: usize,
    chunks: Vec<(String, bool)>,
    done: Vec<(String, String)>,
}

#[derive(Debug)]
struct Recording(Arc<Mutex<Seen>>);

impl SessionObserver for Recording {
    fn appended(&mut self, audio: &[u8]) {
        self.0.lock().unwrap().appended.push(audio.to_vec());
    }

    fn committed(&mut self) {
        self.0.lock().unwrap().commits += 1;
    }

    fn audio_chunk(&mut self, response_id: &str, first: bool, audio: &mut [u8]) {
        let mut seen = self.0.lock().unwrap();
        seen.chunks.push((response_id.to_owned(), first));
        // Tag the chunk with its number.
        audio[0] = seen.chunks.len() as u8;
    }

    fn response_done(&mut self, response_id: &str, status: &str) {
        self.0.lock().unwrap().done.push((response_id.to_owned(), status.to_owned()));
    }
}

#[test]
fn an_observer_sees_appends_commits_and_chunks_and_may_tag_the_audio() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut h = Harness::observed(Box::new(Recording(Arc::clone(&seen))));
    h.configure(ulaw_session());
    h.send(json!({"type": "input_audio_buffer.append", "audio": STANDARD.encode([1, 2, 3])}));
    h.append_ms(100);
    h.send(json!({"type": "input_audio_buffer.commit"}));
    let created = h.send(json!({"type": "response.create"}));
    let id = created.iter().find(|e| e["type"] == "response.created").unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let events = h.settle();
    let deltas: Vec<Vec<u8>> = events
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .map(|e| STANDARD.decode(e["delta"].as_str().unwrap()).unwrap())
        .collect();
    // A refused append is not reported.
    h.send_raw(r#"{"type":"input_audio_buffer.append","audio":"***"}"#);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.appended, [vec![1, 2, 3], vec![0xFF; 800]]);
    assert_eq!(seen.commits, 1);
    let chunks = SimConfig::default().chunks_per_response as usize;
    assert_eq!(deltas.len(), chunks);
    let firsts: Vec<bool> = seen.chunks.iter().map(|(_, first)| *first).collect();
    assert_eq!(firsts.iter().filter(|f| **f).count(), 1);
    assert!(firsts[0]);
    assert!(seen.chunks.iter().all(|(response, _)| *response == id));
    for (number, delta) in deltas.iter().enumerate() {
        assert_eq!(delta[0], number as u8 + 1, "the tag went out in chunk {number}");
        assert!(delta[1..].iter().all(|b| *b == 0xFF));
    }
    assert_eq!(seen.done, [(id, "completed".to_owned())]);
}
