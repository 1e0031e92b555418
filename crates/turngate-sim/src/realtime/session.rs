//! One simulated Realtime session (one WebSocket), as pure state.
//!
//! Client frames go in through [`SimSession::on_text`], timers through
//! [`SimSession::on_timer`]; both return [`Action`]s (server events to send,
//! timers to set, a close) that the IO layer carries out in order. The
//! session enforces the API's rules the way the real server does, answers
//! every breach with the real error, and records it as a violation.

// Reading a `serde_json::Value` by key yields `Null` for a missing key and
// never panics; the only writes index objects built a few lines above.
#![allow(clippy::indexing_slicing, reason = "serde_json::Value key access, see above")]

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use turngate_audio::energy::{Vad, VadConfig, VadEvent};
use turngate_audio::{AudioFormat, SampleRate, alaw, pcm16, ulaw};

use super::config::{Pacing, SimConfig};
use super::observe::SessionObserver;
use super::schema::{self, Refusal};
use super::violations::{Counter, Record, Violation};

/// What the IO layer must do, in order.
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    /// Send this server event.
    Send(String),
    /// Call [`SimSession::on_timer`] with this timer after the delay.
    After(Duration, Timer),
    /// Send a close frame with this code and reason, then stop.
    Close(u16, String),
}

/// A timer the session set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Announce response `key` (`response.created`), after an injected delay.
    Created(u64),
    /// Produce the next part of response `key`.
    Step(u64),
}

/// The ids every session of one server draws from, so that no two
/// connections ever share a response or item id.
#[derive(Debug, Default)]
pub(crate) struct Ids(AtomicU64);

impl Ids {
    fn next(&self, prefix: &str) -> String {
        format!("{prefix}_{:06x}", self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// The effective audio and turn settings of the session.
#[derive(Debug)]
struct Settings {
    input: AudioFormat,
    output: AudioFormat,
    text_only: bool,
    transcription: bool,
    turn: Option<Turn>,
    tools: Vec<String>,
}

/// Server turn detection as configured.
#[derive(Clone, Copy, Debug)]
struct Turn {
    create_response: bool,
    interrupt_response: bool,
    silence_ms: u64,
}

#[derive(Debug)]
enum ItemKind {
    User,
    Assistant { audio_ms: u64, has_audio: bool },
    Call,
    Output,
    System,
}

#[derive(Debug)]
struct ItemRec {
    id: String,
    kind: ItemKind,
}

#[derive(Debug)]
enum Body {
    Audio { item_id: String, sent: u32, total: u32 },
    Text { item_id: String },
    Call { item_id: String, call_id: String, name: String },
}

#[derive(Debug)]
struct Response {
    key: u64,
    id: String,
    out_of_band: bool,
    metadata: Value,
    created_sent: bool,
    body: Body,
}

/// Server VAD on the appended audio.
#[derive(Debug)]
struct Detector {
    vad: Vad,
    samples: Vec<i16>,
    speech_item: Option<String>,
    speech_start_ms: u64,
}

/// One simulated session.
#[derive(Debug)]
pub(crate) struct SimSession {
    config: Arc<SimConfig>,
    record: Arc<Record>,
    ids: Arc<Ids>,
    rng: u64,
    effective: Value,
    settings: Settings,
    /// Input audio buffered since the last commit or clear, decoded bytes.
    buffered: u64,
    /// All input audio appended on this session, in milliseconds.
    stream_ms: u64,
    detector: Option<Detector>,
    items: Vec<ItemRec>,
    calls: HashSet<String>,
    active: Option<Response>,
    out_of_band: Vec<Response>,
    default_responses: u64,
    next_key: u64,
    /// Client event ids seen, as 64-bit SipHash digests: a duplicate is
    /// found all the same (at the cap of 100,000 ids, the chance that two
    /// distinct ids share a digest is below one in a billion), without a
    /// string kept per event.
    seen_event_ids: HashSet<u64, BuildHasherDefault<Digest>>,
    /// Committed user turns since the last default-conversation response.
    unanswered: u64,
    chunk_b64: String,
    /// One chunk of response audio as raw bytes, for an observer to tag.
    chunk_raw: Vec<u8>,
    observer: Option<Box<dyn SessionObserver>>,
    out: Vec<Action>,
}

/// The longest item history kept per session.
const ITEMS_KEPT: usize = 4096;
/// Client event ids remembered per session for duplicate detection.
const EVENT_IDS_KEPT: usize = 100_000;
/// The least audio a commit needs.
const MIN_COMMIT_MS: f64 = 100.0;

impl SimSession {
    pub(crate) fn new(
        config: Arc<SimConfig>,
        record: Arc<Record>,
        ids: Arc<Ids>,
        seed: u64,
        model: &str,
    ) -> SimSession {
        let effective = default_session(&ids.next("sess"), model);
        let mut session = SimSession {
            rng: seed | 1,
            effective,
            settings: Settings {
                input: AudioFormat::Pcm16(SampleRate::Hz24000),
                output: AudioFormat::Pcm16(SampleRate::Hz24000),
                text_only: false,
                transcription: false,
                turn: None,
                tools: Vec::new(),
            },
            buffered: 0,
            stream_ms: 0,
            detector: None,
            items: Vec::new(),
            calls: HashSet::new(),
            active: None,
            out_of_band: Vec::new(),
            default_responses: 0,
            next_key: 0,
            seen_event_ids: HashSet::default(),
            unanswered: 0,
            chunk_b64: String::new(),
            chunk_raw: Vec::new(),
            observer: None,
            out: Vec::new(),
            config,
            record,
            ids,
        };
        session.apply_effective();
        session
    }

    /// Reports what this session receives and sends to `observer`.
    pub(crate) fn with_observer(mut self, observer: Box<dyn SessionObserver>) -> SimSession {
        self.observer = Some(observer);
        self
    }

    /// The connection opened: `session.created`.
    pub(crate) fn on_open(&mut self) -> Vec<Action> {
        let session = self.effective.clone();
        self.send(json!({"type": "session.created", "session": session}));
        self.take()
    }

    /// The client sent the retired beta header: refuse as the API does.
    pub(crate) fn refuse_beta_header(&mut self) -> Vec<Action> {
        self.record
            .violation(Violation::BetaShape, "OpenAI-Beta header on the GA endpoint".to_owned());
        self.beta_refusal(None);
        self.take()
    }

    /// The connection is closing: turns committed and never answered on it
    /// are recorded.
    pub(crate) fn on_close(&mut self) {
        self.record.add(Counter::UnansweredAtClose, self.unanswered);
        self.unanswered = 0;
    }

    /// One text frame from the client.
    pub(crate) fn on_text(&mut self, text: &str) -> Vec<Action> {
        self.record.count(Counter::ClientEvents);
        // Appends are nine in ten client events under load; one that is
        // exactly what the schema allows takes a typed path. Anything else,
        // including every append the schema refuses, takes the general path
        // below, which answers it as the API does.
        if let Some(append) = FastAppend::parse(text) {
            if let Some(id) = append.event_id
                && !self.remember_event_id(id)
            {
                self.record
                    .violation(Violation::DuplicateEventId, format!("event_id {id} used twice"));
            }
            self.append(append.audio, append.event_id);
            return self.take();
        }
        let event: Value = match serde_json::from_str(text) {
            Ok(event @ Value::Object(_)) => event,
            _ => {
                self.record.violation(
                    Violation::InvalidEvent,
                    format!("not a JSON object: {}", clip(text)),
                );
                self.error(
                    "invalid_request_error",
                    Some("invalid_json"),
                    "We could not parse the JSON body of your request.".to_owned(),
                    None,
                    None,
                );
                return self.take();
            }
        };
        let event_id = event.get("event_id").and_then(Value::as_str).map(str::to_owned);
        let kind = event.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        if is_beta_shape(&kind, &event) {
            self.record.violation(Violation::BetaShape, format!("beta shape: {}", clip(text)));
            self.beta_refusal(event_id.as_deref());
            return self.take();
        }
        if let Err(refusal) = schema::validate_event(&event) {
            self.record
                .violation(Violation::InvalidEvent, format!("{}: {}", refusal.message, clip(text)));
            self.refuse(refusal, event_id.as_deref());
            return self.take();
        }
        if let Some(id) = &event_id
            && !self.remember_event_id(id)
        {
            self.record.violation(Violation::DuplicateEventId, format!("event_id {id} used twice"));
        }
        let eid = event_id.as_deref();
        match kind.as_str() {
            "session.update" => self.session_update(&event, eid),
            "input_audio_buffer.append" => {
                self.append(event["audio"].as_str().unwrap_or_default(), eid);
            }
            "input_audio_buffer.commit" => self.commit(eid),
            "input_audio_buffer.clear" => {
                self.buffered = 0;
                self.send(json!({"type": "input_audio_buffer.cleared"}));
            }
            "output_audio_buffer.clear" => {
                self.record.violation(
                    Violation::WrongTransport,
                    "output_audio_buffer.clear is for WebRTC and SIP only".to_owned(),
                );
                self.error(
                    "invalid_request_error",
                    Some("invalid_value"),
                    "output_audio_buffer.clear is only supported for WebRTC and SIP connections."
                        .to_owned(),
                    Some("type".to_owned()),
                    eid,
                );
            }
            "conversation.item.create" => self.item_create(&event, eid),
            "conversation.item.retrieve" => self.item_retrieve(&event, eid),
            "conversation.item.delete" => self.item_delete(&event, eid),
            "conversation.item.truncate" => self.truncate(&event, eid),
            "response.create" => self.response_create(&event, eid),
            "response.cancel" => self.response_cancel(&event, eid),
            _ => {}
        }
        self.take()
    }

    /// A timer fired.
    pub(crate) fn on_timer(&mut self, timer: Timer) -> Vec<Action> {
        match timer {
            Timer::Created(key) => {
                if self.response_mut(key).is_some_and(|r| !r.created_sent) {
                    self.announce(key);
                }
            }
            Timer::Step(key) => self.step(key),
        }
        self.take()
    }

    // ---- Session --------------------------------------------------------------

    fn session_update(&mut self, event: &Value, event_id: Option<&str>) {
        let Some(update) = event.get("session") else { return };
        if update.get("type").and_then(Value::as_str) == Some("transcription") {
            self.refuse(
                schema::invalid_value("session.type", "transcription", &["realtime"]),
                event_id,
            );
            self.record.violation(
                Violation::InvalidEvent,
                "transcription sessions are not simulated".to_owned(),
            );
            return;
        }
        merge(&mut self.effective, update);
        self.apply_effective();
        let session = self.effective.clone();
        self.send(json!({"type": "session.updated", "session": session}));
    }

    /// Derives the settings the simulation needs from the effective session.
    fn apply_effective(&mut self) {
        let audio = &self.effective["audio"];
        self.settings.input = format_of(&audio["input"]["format"]);
        self.settings.output = format_of(&audio["output"]["format"]);
        self.settings.text_only = self.effective["output_modalities"]
            .as_array()
            .is_some_and(|m| m.iter().all(|v| v == "text"));
        self.settings.transcription = audio["input"]["transcription"].is_object();
        let detection = &audio["input"]["turn_detection"];
        self.settings.turn = detection.as_object().map(|object| Turn {
            create_response: object.get("create_response").and_then(Value::as_bool).unwrap_or(true),
            interrupt_response: object
                .get("interrupt_response")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            silence_ms: object.get("silence_duration_ms").and_then(Value::as_u64).unwrap_or(500),
        });
        self.settings.tools = self.effective["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .filter(|t| t["type"] == "function")
                    .filter_map(|t| t["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        self.detector = self.settings.turn.map(|turn| Detector {
            vad: Vad::new(VadConfig {
                min_silence_frames: u32::try_from(turn.silence_ms / 20).unwrap_or(u32::MAX).max(1),
                ..VadConfig::default()
            }),
            samples: Vec::new(),
            speech_item: None,
            speech_start_ms: 0,
        });
        let chunk_bytes = self.settings.output.bytes_for_ms(duration_ms(self.config.chunk));
        let silence: u8 = match self.settings.output {
            AudioFormat::Ulaw => 0xFF,
            AudioFormat::Alaw => 0xD5,
            AudioFormat::Pcm16(_) => 0,
        };
        self.chunk_raw = vec![silence; usize::try_from(chunk_bytes).unwrap_or(0)];
        self.chunk_b64 = STANDARD.encode(&self.chunk_raw);
    }

    // ---- Input audio ------------------------------------------------------------

    fn append(&mut self, audio: &str, event_id: Option<&str>) {
        let Ok(bytes) = STANDARD.decode(audio) else {
            self.record.violation(Violation::BadAudio, "append audio is not base64".to_owned());
            self.error(
                "invalid_request_error",
                Some("invalid_value"),
                "Invalid 'audio'. Expected base64-encoded audio bytes.".to_owned(),
                Some("audio".to_owned()),
                event_id,
            );
            return;
        };
        let sample = self.settings.input.bytes_per_sample();
        if bytes.len() % sample != 0 {
            self.record.violation(
                Violation::BadAudio,
                format!("{} bytes is not whole samples", bytes.len()),
            );
            self.error(
                "invalid_request_error",
                Some("invalid_value"),
                "Invalid 'audio'. Expected whole 16-bit samples.".to_owned(),
                Some("audio".to_owned()),
                event_id,
            );
            return;
        }
        self.buffered += bytes.len() as u64;
        if let Some(observer) = self.observer.as_mut() {
            observer.appended(&bytes);
        }
        let start_ms = self.stream_ms;
        self.stream_ms += self.settings.input.ms_for_bytes(bytes.len() as u64);
        if self.detector.is_some() {
            self.detect(&bytes, start_ms);
        }
    }

    fn detect(&mut self, bytes: &[u8], start_ms: u64) {
        let input = self.settings.input;
        let Some(detector) = self.detector.as_mut() else { return };
        match input {
            AudioFormat::Ulaw => ulaw::decode_extend(bytes, &mut detector.samples),
            AudioFormat::Alaw => alaw::decode_extend(bytes, &mut detector.samples),
            AudioFormat::Pcm16(_) => {
                let mut samples = vec![0i16; bytes.len() / 2];
                if pcm16::from_le_bytes(bytes, &mut samples).is_ok() {
                    detector.samples.extend_from_slice(&samples);
                }
            }
        }
        let frame = input.sample_rate().samples_per_frame();
        let mut events = Vec::new();
        let mut offset = 0;
        while detector.samples.len() >= offset + frame {
            let Some(samples) = detector.samples.get(offset..offset + frame) else { break };
            if let Some(event) = detector.vad.push_frame(samples) {
                let at = start_ms + (offset / input.sample_rate().samples_per_ms()) as u64;
                events.push((event, at));
            }
            offset += frame;
        }
        detector.samples.drain(..offset);
        for (event, at_ms) in events {
            match event {
                VadEvent::SpeechStarted => self.speech_started(at_ms),
                VadEvent::SpeechStopped => self.speech_stopped(at_ms),
            }
        }
    }

    fn speech_started(&mut self, at_ms: u64) {
        let item_id = self.ids.next("item");
        if let Some(detector) = self.detector.as_mut() {
            detector.speech_item = Some(item_id.clone());
            detector.speech_start_ms = at_ms;
        }
        self.send(json!({
            "type": "input_audio_buffer.speech_started",
            "audio_start_ms": at_ms.saturating_sub(60),
            "item_id": item_id,
        }));
        let interrupt = self.settings.turn.is_some_and(|t| t.interrupt_response);
        if interrupt && let Some(active) = self.active.take() {
            self.finish_cancelled(active, "turn_detected");
        }
    }

    fn speech_stopped(&mut self, at_ms: u64) {
        let item_id = match self.detector.as_mut().and_then(|d| d.speech_item.take()) {
            Some(id) => id,
            None => self.ids.next("item"),
        };
        self.send(json!({
            "type": "input_audio_buffer.speech_stopped",
            "audio_end_ms": at_ms,
            "item_id": item_id,
        }));
        self.commit_buffer(&item_id);
        let create = self.settings.turn.is_some_and(|t| t.create_response);
        if create && self.active.is_none() {
            self.record.count(Counter::AutoResponses);
            self.start_response(false, Value::Null);
        }
    }

    fn commit(&mut self, event_id: Option<&str>) {
        let buffered_ms = self.buffered_ms();
        if buffered_ms < MIN_COMMIT_MS {
            self.record.violation(
                Violation::BadCommit,
                format!("commit with {buffered_ms:.2}ms buffered"),
            );
            self.error(
                "invalid_request_error",
                Some("input_audio_buffer_commit_empty"),
                format!(
                    "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {buffered_ms:.2}ms of audio."
                ),
                None,
                event_id,
            );
            return;
        }
        let item_id = self.ids.next("item");
        self.commit_buffer(&item_id);
    }

    fn buffered_ms(&self) -> f64 {
        self.settings.input.duration_of(self.buffered).as_secs_f64() * 1000.0
    }

    fn commit_buffer(&mut self, item_id: &str) {
        self.buffered = 0;
        if let Some(observer) = self.observer.as_mut() {
            observer.committed();
        }
        self.record.count(Counter::Commits);
        self.unanswered += 1;
        let previous = self.items.last().map(|i| i.id.clone());
        self.send(json!({
            "type": "input_audio_buffer.committed",
            "previous_item_id": previous,
            "item_id": item_id,
        }));
        let item = json!({
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": null}],
        });
        self.send(
            json!({"type": "conversation.item.added", "previous_item_id": previous, "item": item}),
        );
        self.send(
            json!({"type": "conversation.item.done", "previous_item_id": previous, "item": item}),
        );
        self.push_item(item_id.to_owned(), ItemKind::User);
        if self.settings.transcription && self.config.transcribe {
            self.send(json!({
                "type": "conversation.item.input_audio_transcription.completed",
                "item_id": item_id,
                "content_index": 0,
                "transcript": format!("caller words {}", self.items.len()),
                "usage": {"type": "duration", "seconds": 1},
            }));
        }
    }

    // ---- Items ------------------------------------------------------------------

    fn item_create(&mut self, event: &Value, event_id: Option<&str>) {
        let item = &event["item"];
        let kind = item["type"].as_str().unwrap_or_default();
        let record_kind = match kind {
            "message" => {
                let role = item["role"].as_str().unwrap_or_default();
                let allowed: &[&str] = match role {
                    "user" => &["input_text", "input_audio", "input_image"],
                    "assistant" => &["output_text", "output_audio"],
                    _ => &["input_text"],
                };
                let contents = item["content"].as_array().map(Vec::as_slice).unwrap_or_default();
                for (index, content) in contents.iter().enumerate() {
                    let content_type = content["type"].as_str().unwrap_or_default();
                    if !allowed.contains(&content_type) {
                        let refusal = schema::invalid_value(
                            &format!("item.content[{index}].type"),
                            content_type,
                            allowed,
                        );
                        self.record.violation(Violation::InvalidEvent, refusal.message.clone());
                        self.refuse(refusal, event_id);
                        return;
                    }
                }
                match role {
                    "user" => {
                        self.unanswered += 1;
                        ItemKind::User
                    }
                    "assistant" => ItemKind::Assistant { audio_ms: 0, has_audio: false },
                    _ => ItemKind::System,
                }
            }
            "function_call" => {
                if let Some(call_id) = item["call_id"].as_str() {
                    self.calls.insert(call_id.to_owned());
                }
                ItemKind::Call
            }
            _ => {
                let call_id = item["call_id"].as_str().unwrap_or_default();
                if !self.calls.contains(call_id) {
                    self.record.violation(
                        Violation::UnknownCallOutput,
                        format!("function_call_output for unknown call {call_id}"),
                    );
                }
                ItemKind::Output
            }
        };
        let id = item["id"].as_str().map_or_else(|| self.ids.next("item"), str::to_owned);
        let previous = self.items.last().map(|i| i.id.clone());
        let mut stored = item.clone();
        if let Some(object) = stored.as_object_mut() {
            object.insert("id".to_owned(), json!(id));
            object.insert("object".to_owned(), json!("realtime.item"));
            object.insert("status".to_owned(), json!("completed"));
        }
        self.send(json!({"type": "conversation.item.added", "previous_item_id": previous, "item": stored}));
        self.send(
            json!({"type": "conversation.item.done", "previous_item_id": previous, "item": stored}),
        );
        self.push_item(id, record_kind);
    }

    fn item_retrieve(&mut self, event: &Value, event_id: Option<&str>) {
        let item_id = event["item_id"].as_str().unwrap_or_default();
        if self.items.iter().any(|i| i.id == item_id) {
            self.send(json!({
                "type": "conversation.item.retrieved",
                "item": {"id": item_id, "object": "realtime.item"},
            }));
        } else {
            self.item_not_found(item_id, event_id);
        }
    }

    fn item_delete(&mut self, event: &Value, event_id: Option<&str>) {
        let item_id = event["item_id"].as_str().unwrap_or_default().to_owned();
        match self.items.iter().position(|i| i.id == item_id) {
            Some(position) => {
                self.items.remove(position);
                self.send(json!({"type": "conversation.item.deleted", "item_id": item_id}));
            }
            None => self.item_not_found(&item_id, event_id),
        }
    }

    fn item_not_found(&mut self, item_id: &str, event_id: Option<&str>) {
        self.error(
            "invalid_request_error",
            Some("item_not_found"),
            format!("Item with item_id '{item_id}' not found."),
            Some("item_id".to_owned()),
            event_id,
        );
    }

    fn truncate(&mut self, event: &Value, event_id: Option<&str>) {
        let item_id = event["item_id"].as_str().unwrap_or_default().to_owned();
        let content_index = event["content_index"].as_u64().unwrap_or_default();
        let end_ms = event["audio_end_ms"].as_u64().unwrap_or_default();
        let Some(item) = self.items.iter_mut().find(|i| i.id == item_id) else {
            self.record
                .violation(Violation::BadTruncate, format!("truncate of unknown item {item_id}"));
            self.item_not_found(&item_id, event_id);
            return;
        };
        let (audio_ms, has_audio) = match item.kind {
            ItemKind::Assistant { audio_ms, has_audio } => (audio_ms, has_audio),
            _ => (0, false),
        };
        if !has_audio || end_ms == 0 {
            self.record.violation(
                Violation::BadTruncate,
                format!("truncate of {item_id} at {end_ms}ms (audio: {has_audio})"),
            );
            self.error(
                "invalid_request_error",
                Some("unsupported_content_type"),
                "Only model output audio messages can be truncated".to_owned(),
                None,
                event_id,
            );
            return;
        }
        if content_index != 0 {
            self.record
                .violation(Violation::BadTruncate, format!("truncate of content {content_index}"));
            self.error(
                "invalid_request_error",
                Some("invalid_value"),
                format!(
                    "Invalid 'content_index': item {item_id} has no content part {content_index}."
                ),
                Some("content_index".to_owned()),
                event_id,
            );
            return;
        }
        if end_ms > audio_ms {
            self.record.violation(
                Violation::BadTruncate,
                format!("truncate of {item_id} at {end_ms}ms, audio is {audio_ms}ms"),
            );
            self.error(
                "invalid_request_error",
                None,
                format!("Audio content of {audio_ms}ms is already shorter than {end_ms}ms"),
                None,
                event_id,
            );
            return;
        }
        item.kind = ItemKind::Assistant { audio_ms: end_ms, has_audio };
        self.record.count(Counter::Truncates);
        self.send(json!({
            "type": "conversation.item.truncated",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": end_ms,
        }));
    }

    // ---- Responses ------------------------------------------------------------------

    fn response_create(&mut self, event: &Value, event_id: Option<&str>) {
        let response = event.get("response").cloned().unwrap_or(Value::Null);
        let conversation = response["conversation"].as_str().unwrap_or("auto");
        let out_of_band = match conversation {
            "auto" => false,
            "none" => true,
            other => {
                let refusal =
                    schema::invalid_value("response.conversation", other, &["auto", "none"]);
                self.record.violation(Violation::InvalidEvent, refusal.message.clone());
                self.refuse(refusal, event_id);
                return;
            }
        };
        if !out_of_band && let Some(active) = &self.active {
            let active_id = active.id.clone();
            self.record.violation(
                Violation::Conflict,
                format!("response.create ({event_id:?}) while {active_id} is active"),
            );
            self.error(
                "invalid_request_error",
                Some("conversation_already_has_active_response"),
                format!(
                    "Conversation already has an active response in progress: {active_id}. Wait until the response is finished before creating a new one."
                ),
                None,
                event_id,
            );
            return;
        }
        let metadata = response.get("metadata").cloned().unwrap_or(Value::Null);
        self.start_response(out_of_band, metadata);
    }

    fn response_cancel(&mut self, event: &Value, event_id: Option<&str>) {
        let wanted = event.get("response_id").and_then(Value::as_str);
        let active_matches =
            self.active.as_ref().is_some_and(|r| wanted.is_none_or(|id| id == r.id));
        if active_matches && let Some(active) = self.active.take() {
            self.finish_cancelled(active, "client_cancelled");
            return;
        }
        if let Some(id) = wanted
            && let Some(position) = self.out_of_band.iter().position(|r| r.id == id)
        {
            let response = self.out_of_band.remove(position);
            self.finish_cancelled(response, "client_cancelled");
            return;
        }
        self.record.count(Counter::CancelsNotActive);
        self.error(
            "invalid_request_error",
            Some("response_cancel_not_active"),
            "Cancellation failed: no active response found".to_owned(),
            None,
            event_id,
        );
    }

    fn start_response(&mut self, out_of_band: bool, metadata: Value) {
        self.next_key += 1;
        let key = self.next_key;
        let id = self.ids.next("resp");
        let item_id = self.ids.next("item");
        let body = if out_of_band {
            self.record.count(Counter::OutOfBand);
            Body::Text { item_id }
        } else {
            self.record.count(Counter::Responses);
            self.default_responses += 1;
            self.unanswered = 0;
            let every = u64::from(self.config.function_call_every);
            match self.settings.tools.first() {
                Some(name) if every > 0 && self.default_responses.is_multiple_of(every) => {
                    self.record.count(Counter::FunctionCalls);
                    Body::Call { item_id, call_id: self.ids.next("call"), name: name.clone() }
                }
                _ if self.settings.text_only => Body::Text { item_id },
                _ => {
                    Body::Audio { item_id, sent: 0, total: self.config.chunks_per_response.max(1) }
                }
            }
        };
        let response = Response { key, id, out_of_band, metadata, created_sent: false, body };
        if out_of_band {
            self.out_of_band.push(response);
        } else {
            self.active = Some(response);
        }
        match self.config.faults.created_delay {
            Some(max) if !max.is_zero() => {
                let delay = Duration::from_micros(self.random() % (duration_us(max) + 1));
                self.out.push(Action::After(delay, Timer::Created(key)));
            }
            _ => self.announce(key),
        }
    }

    /// Sends `response.created` and the first parts of response `key`.
    fn announce(&mut self, key: u64) {
        let fail = self.config.faults.server_error > 0.0
            && (self.random() % 1_000_000) as f64 / 1_000_000.0 < self.config.faults.server_error;
        let output = self.settings.output;
        let Some(response) = self.response_mut(key) else { return };
        response.created_sent = true;
        let created = response_object(response, "in_progress", Value::Null, output);
        let response_id = response.id.clone();
        let added = match &response.body {
            Body::Audio { item_id, .. } | Body::Text { item_id } => json!({
                "id": item_id, "object": "realtime.item", "type": "message",
                "status": "in_progress", "role": "assistant", "content": [],
            }),
            Body::Call { item_id, call_id, name } => json!({
                "id": item_id, "object": "realtime.item", "type": "function_call",
                "status": "in_progress", "call_id": call_id, "name": name, "arguments": "",
            }),
        };
        let part = match &response.body {
            Body::Audio { item_id, .. } => {
                Some((item_id.clone(), json!({"type": "audio", "transcript": ""})))
            }
            Body::Text { item_id } => Some((item_id.clone(), json!({"type": "text", "text": ""}))),
            Body::Call { .. } => None,
        };
        let out_of_band = response.out_of_band;
        self.send(json!({"type": "response.created", "response": created}));
        self.send(json!({
            "type": "rate_limits.updated",
            "rate_limits": [
                {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
                {"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 1.5},
            ],
        }));
        if fail {
            self.record.count(Counter::Failed);
            self.error(
                "server_error",
                None,
                "The server had an error while processing your request. Sorry about that!"
                    .to_owned(),
                None,
                None,
            );
            let details = json!({"type": "failed", "error": {"type": "server_error", "code": "server_error"}});
            self.finish(key, "failed", details);
            return;
        }
        self.send(json!({"type": "response.output_item.added", "response_id": response_id, "output_index": 0, "item": added}));
        if !out_of_band {
            let previous = self.items.last().map(|i| i.id.clone());
            self.send(json!({"type": "conversation.item.added", "previous_item_id": previous, "item": added}));
            if let Some(item_id) = added["id"].as_str() {
                let kind = match added["type"].as_str() {
                    Some("function_call") => ItemKind::Call,
                    _ => ItemKind::Assistant {
                        audio_ms: 0,
                        has_audio: part.as_ref().is_some_and(|(_, p)| p["type"] == "audio"),
                    },
                };
                self.push_item(item_id.to_owned(), kind);
            }
        }
        if let Some((item_id, part)) = part {
            self.send(json!({
                "type": "response.content_part.added", "response_id": response_id,
                "item_id": item_id, "output_index": 0, "content_index": 0, "part": part,
            }));
        }
        self.out.push(Action::After(Duration::ZERO, Timer::Step(key)));
    }

    fn step(&mut self, key: u64) {
        let pacing = self.config.pacing;
        let chunk = self.config.chunk;
        let chunk_ms = duration_ms(chunk);
        let Some(response) = self.response_mut(key) else { return };
        let response_id = response.id.clone();
        match &mut response.body {
            Body::Audio { item_id, sent, total } => {
                *sent += 1;
                let done = *sent >= *total;
                let number = *sent;
                let item_id = item_id.clone();
                let chunk_b64 = match self.observer.as_mut() {
                    Some(observer) => {
                        let mut raw = self.chunk_raw.clone();
                        observer.audio_chunk(&response_id, number == 1, &mut raw);
                        STANDARD.encode(&raw)
                    }
                    None => self.chunk_b64.clone(),
                };
                self.add_item_audio(&item_id, chunk_ms);
                self.send(json!({
                    "type": "response.output_audio.delta", "response_id": response_id,
                    "item_id": item_id, "output_index": 0, "content_index": 0, "delta": chunk_b64,
                }));
                self.send(json!({
                    "type": "response.output_audio_transcript.delta", "response_id": response_id,
                    "item_id": item_id, "output_index": 0, "content_index": 0, "delta": format!("word{number} "),
                }));
                if done {
                    let transcript = words(number);
                    self.send(json!({"type": "response.output_audio.done", "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}));
                    self.send(json!({"type": "response.output_audio_transcript.done", "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0, "transcript": transcript}));
                    self.send(json!({"type": "response.content_part.done", "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0, "part": {"type": "audio", "transcript": transcript}}));
                    self.finish(key, "completed", Value::Null);
                } else {
                    let wait = match pacing {
                        Pacing::RealTime => chunk,
                        Pacing::Fast => Duration::ZERO,
                        Pacing::Interval(interval) => interval,
                    };
                    self.out.push(Action::After(wait, Timer::Step(key)));
                }
            }
            Body::Text { item_id } => {
                let item_id = item_id.clone();
                let text = "a short answer";
                self.send(json!({"type": "response.output_text.delta", "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0, "delta": text}));
                self.send(json!({"type": "response.output_text.done", "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0, "text": text}));
                self.send(json!({"type": "response.content_part.done", "response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0, "part": {"type": "text", "text": text}}));
                self.finish(key, "completed", Value::Null);
            }
            Body::Call { item_id, call_id, .. } => {
                let (item_id, call_id) = (item_id.clone(), call_id.clone());
                let arguments = r#"{"query":"status"}"#;
                self.calls.insert(call_id.clone());
                self.send(json!({"type": "response.function_call_arguments.delta", "response_id": response_id, "item_id": item_id, "output_index": 0, "call_id": call_id, "delta": arguments}));
                self.send(json!({"type": "response.function_call_arguments.done", "response_id": response_id, "item_id": item_id, "output_index": 0, "call_id": call_id, "arguments": arguments}));
                self.finish(key, "completed", Value::Null);
            }
        }
    }

    fn finish_cancelled(&mut self, response: Response, reason: &str) {
        let key = response.key;
        let created_sent = response.created_sent;
        // Put it back where `finish` looks for it.
        if response.out_of_band {
            self.out_of_band.push(response);
        } else {
            self.active = Some(response);
        }
        if !created_sent {
            // A response is announced before anything else about it, even
            // when it is cancelled before its first part.
            self.announce_only(key);
        }
        self.record.count(Counter::Cancelled);
        self.finish(key, "cancelled", json!({"type": "cancelled", "reason": reason}));
    }

    /// Sends only `response.created` (for a response cancelled before its
    /// delayed announcement).
    fn announce_only(&mut self, key: u64) {
        let output = self.settings.output;
        let Some(response) = self.response_mut(key) else { return };
        response.created_sent = true;
        let created = response_object(response, "in_progress", Value::Null, output);
        self.send(json!({"type": "response.created", "response": created}));
    }

    /// Ends response `key` with `status`: the item and the response are done.
    fn finish(&mut self, key: u64, status: &str, details: Value) {
        let output = self.settings.output;
        let response = if self.active.as_ref().is_some_and(|r| r.key == key) {
            self.active.take()
        } else {
            self.out_of_band.iter().position(|r| r.key == key).map(|p| self.out_of_band.remove(p))
        };
        let Some(response) = response else { return };
        if let Some(observer) = self.observer.as_mut() {
            observer.response_done(&response.id, status);
        }
        let item_status = if status == "completed" { "completed" } else { "incomplete" };
        let item = match &response.body {
            Body::Audio { item_id, sent, .. } => json!({
                "id": item_id, "object": "realtime.item", "type": "message", "status": item_status,
                "role": "assistant", "content": [{"type": "output_audio", "transcript": words(*sent)}],
            }),
            Body::Text { item_id } => json!({
                "id": item_id, "object": "realtime.item", "type": "message", "status": item_status,
                "role": "assistant", "content": [{"type": "output_text", "text": "a short answer"}],
            }),
            Body::Call { item_id, call_id, name } => json!({
                "id": item_id, "object": "realtime.item", "type": "function_call", "status": item_status,
                "call_id": call_id, "name": name, "arguments": r#"{"query":"status"}"#,
            }),
        };
        if status != "failed" {
            self.send(json!({"type": "response.output_item.done", "response_id": response.id, "output_index": 0, "item": item}));
            if !response.out_of_band {
                self.send(json!({"type": "conversation.item.done", "previous_item_id": null, "item": item}));
            }
        }
        let mut done = response_object(&response, status, details, output);
        if status != "failed" {
            done["output"] = json!([item]);
        }
        done["usage"] = json!({"total_tokens": 120, "input_tokens": 80, "output_tokens": 40});
        self.send(json!({"type": "response.done", "response": done}));
    }

    // ---- Plumbing ---------------------------------------------------------------------

    fn response_mut(&mut self, key: u64) -> Option<&mut Response> {
        if let Some(active) = self.active.as_mut().filter(|r| r.key == key) {
            return Some(active);
        }
        self.out_of_band.iter_mut().find(|r| r.key == key)
    }

    fn add_item_audio(&mut self, item_id: &str, ms: u64) {
        if let Some(item) = self.items.iter_mut().find(|i| i.id == item_id)
            && let ItemKind::Assistant { audio_ms, .. } = &mut item.kind
        {
            *audio_ms += ms;
        }
    }

    fn push_item(&mut self, id: String, kind: ItemKind) {
        if self.items.len() == ITEMS_KEPT {
            self.items.remove(0);
        }
        self.items.push(ItemRec { id, kind });
    }

    fn remember_event_id(&mut self, id: &str) -> bool {
        if self.seen_event_ids.len() >= EVENT_IDS_KEPT {
            self.seen_event_ids.clear();
        }
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write(id.as_bytes());
        self.seen_event_ids.insert(hasher.finish())
    }

    fn refuse(&mut self, refusal: Refusal, event_id: Option<&str>) {
        self.error(
            "invalid_request_error",
            Some(refusal.code),
            refusal.message,
            refusal.param,
            event_id,
        );
    }

    fn beta_refusal(&mut self, event_id: Option<&str>) {
        self.error(
            "invalid_request_error",
            Some("beta_api_shape_disabled"),
            "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
                .to_owned(),
            None,
            event_id,
        );
        self.out.push(Action::Close(4000, "beta_api_shape_disabled".to_owned()));
    }

    fn error(
        &mut self,
        kind: &str,
        code: Option<&str>,
        message: String,
        param: Option<String>,
        event_id: Option<&str>,
    ) {
        let message = Value::String(message);
        let param = param.map_or(Value::Null, Value::String);
        self.send(json!({
            "type": "error",
            "error": {"type": kind, "code": code, "message": message, "param": param, "event_id": event_id},
        }));
    }

    fn send(&mut self, mut event: Value) {
        if let Some(object) = event.as_object_mut() {
            object.insert("event_id".to_owned(), json!(self.ids.next("event")));
        }
        self.out.push(Action::Send(event.to_string()));
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
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

/// The response object of `response.created` and `response.done`.
fn response_object(
    response: &Response,
    status: &str,
    details: Value,
    output: AudioFormat,
) -> Value {
    let conversation_id = if response.out_of_band { Value::Null } else { json!("conv_sim") };
    let modalities = match response.body {
        Body::Text { .. } => json!(["text"]),
        _ => json!(["audio"]),
    };
    let mut object = json!({
        "object": "realtime.response",
        "id": response.id,
        "status": status,
        "status_details": null,
        "output": [],
        "conversation_id": conversation_id,
        "output_modalities": modalities,
        "max_output_tokens": "inf",
        "audio": {"output": {"format": format_json(output), "voice": "marin"}},
        "usage": null,
        "metadata": response.metadata,
    });
    object["status_details"] = details;
    object
}

/// The session the server starts with: its defaults, as `session.created` shows.
fn default_session(id: &str, model: &str) -> Value {
    json!({
        "type": "realtime",
        "object": "realtime.session",
        "id": id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "Your knowledge cutoff is 2023-10. You are a helpful assistant.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": null,
        "prompt": null,
        "expires_at": 0,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": null,
                "noise_reduction": null,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": null,
                    "create_response": true,
                    "interrupt_response": true,
                },
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
        },
        "include": null,
    })
}

/// `session.update` is partial: objects merge field by field, anything
/// else (arrays, null, scalars) replaces. A new turn detection or format
/// replaces the old one whole, since its `type` decides its fields.
fn merge(target: &mut Value, update: &Value) {
    let (Some(target), Some(update)) = (target.as_object_mut(), update.as_object()) else {
        return;
    };
    for (key, value) in update {
        let whole = matches!(
            key.as_str(),
            "turn_detection" | "format" | "transcription" | "noise_reduction"
        );
        match target.get_mut(key) {
            Some(slot) if slot.is_object() && value.is_object() && !whole => merge(slot, value),
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
}

fn format_of(format: &Value) -> AudioFormat {
    match format["type"].as_str() {
        Some("audio/pcmu") => AudioFormat::Ulaw,
        Some("audio/pcma") => AudioFormat::Alaw,
        _ => AudioFormat::Pcm16(SampleRate::Hz24000),
    }
}

fn format_json(format: AudioFormat) -> Value {
    match format {
        AudioFormat::Ulaw => json!({"type": "audio/pcmu"}),
        AudioFormat::Alaw => json!({"type": "audio/pcma"}),
        AudioFormat::Pcm16(_) => json!({"type": "audio/pcm", "rate": 24000}),
    }
}

/// The retired beta shape: its session-only event, or flat beta fields in
/// `session.update`.
fn is_beta_shape(kind: &str, event: &Value) -> bool {
    const BETA_SESSION_FIELDS: &[&str] = &[
        "modalities",
        "input_audio_format",
        "output_audio_format",
        "input_audio_transcription",
        "input_audio_noise_reduction",
        "turn_detection",
        "voice",
        "temperature",
        "max_response_output_tokens",
    ];
    if kind == "transcription_session.update" {
        return true;
    }
    kind == "session.update"
        && event["session"]
            .as_object()
            .is_some_and(|s| BETA_SESSION_FIELDS.iter().any(|field| s.contains_key(*field)))
}

fn words(count: u32) -> String {
    (1..=count).map(|n| format!("word{n}")).collect::<Vec<_>>().join(" ")
}

fn clip(text: &str) -> String {
    text.chars().take(160).collect()
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn duration_us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// An `input_audio_buffer.append` exactly as the GA schema allows it:
/// `type`, an optional `event_id` string of at most 512 characters, and an
/// `audio` string, with no other field, no duplicate and no escapes in the
/// strings (which a borrowed `&str` cannot hold).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastAppend<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default, deserialize_with = "present_str")]
    event_id: Option<&'a str>,
    audio: &'a str,
}

impl<'a> FastAppend<'a> {
    fn parse(text: &'a str) -> Option<FastAppend<'a>> {
        // Cheap first look: only appends can take this path.
        if !text.contains("\"input_audio_buffer.append\"") {
            return None;
        }
        let append: FastAppend<'a> = serde_json::from_str(text).ok()?;
        let id_fits = append.event_id.is_none_or(|id| id.len() <= 512);
        (append.kind == "input_audio_buffer.append" && id_fits).then_some(append)
    }
}

/// A field that, when present, must be a string (`null` is refused, as the
/// schema refuses it).
fn present_str<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<&'de str>, D::Error> {
    <&'de str>::deserialize(deserializer).map(Some)
}

/// The event-id set's hasher: its keys are SipHash digests already, so
/// the digest is its own hash.
#[derive(Debug, Default)]
struct Digest(u64);

impl Hasher for Digest {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}
