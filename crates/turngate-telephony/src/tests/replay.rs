//! Replays a JSON-lines transcript through a transport and a real core
//! session, asserting both directions.
//!
//! Each line has `at` (milliseconds since the socket opened) and one action:
//!
//! | key | meaning |
//! | --- | --- |
//! | `in` | a frame from the provider (an object is sent as its JSON text, a string as is); `inputs` (required) lists the core inputs it must produce, `error` the error kind it must fail with, `notices` the notices it must raise |
//! | `out` | the next frame we must have sent: an object (compared as JSON), or `"close"` / `"hangup_via_api"` |
//! | `backend` | an input to the session from the model's side: `{"ready":true}`, `{"speech_started":true}`, `{"speech_stopped":true}`, `{"committed":"item_u1"}`, `{"created":"resp_1"}`, `{"audio":{"response","item","payload"}}`, `{"done":"resp_1","status":"cancelled"}` |
//! | `backend_out` | the next non-audio command the session sent to the model: `create`, `cancel resp_1`, `truncate item_1 200`, `commit` |
//! | `webhook` | a provider webhook body, decoded by the test's hook and routed to the session |
//! | `resume` | the server's answer to a resume: `{"accept":"raw/mulaw"}` or `{"reject":"why"}` |
//! | `inputs` (alone) | the inputs timers produced since the last check |
//! | `playout` | the transport's playout account (`sent_ms`, `confirmed_ms`, `flushed_ms`, `queued_ms`, `outstanding`) |
//! | `counters` | some of the transport's counters, by name |
//! | `session` | `agent_speaking`, `appended_ms` |
//!
//! Strictness: timers due at or before a line's time fire before it; when
//! an `in`, `backend`, `webhook` or `resume` line is reached, every frame and
//! backend command produced so far must have been asserted, and so must
//! every input timers produced. At the end, nothing may be left unasserted.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use turngate_audio::AudioFormat;
use turngate_core::{
    AudioChunk, BackendCommand, Command, Input, ItemId, Origin, ResponseId, ResponseStatus,
    Session, SessionConfig,
};

use crate::transport::{Decoded, Frame, Notice, OutFrame, ResumeAnswer, Transport, WireCounters};

/// Decodes a webhook body into the input for the call's session.
pub(crate) type WebhookHook<'a> = &'a dyn Fn(&[u8]) -> Option<Input>;

/// The result of a replay, for extra assertions.
pub(crate) struct Replayed {
    pub(crate) transport: Box<dyn Transport>,
    pub(crate) session: Option<Session>,
}

struct Harness<'a> {
    file: String,
    line: usize,
    start: Instant,
    now: Instant,
    transport: Box<dyn Transport>,
    session: Option<Session>,
    config: SessionConfig,
    wire_out: VecDeque<OutFrame>,
    backend_out: VecDeque<String>,
    timer_inputs: Vec<String>,
    appended: Duration,
    webhook: Option<WebhookHook<'a>>,
}

pub(crate) fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures").join(path)
}

/// Replays `tests/fixtures/<path>` through `transport`.
pub(crate) fn run(
    path: &str,
    make: impl FnOnce(Instant) -> Box<dyn Transport>,
    config: SessionConfig,
    webhook: Option<WebhookHook<'_>>,
) -> Replayed {
    let text = std::fs::read_to_string(fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = Instant::now();
    let mut h = Harness {
        file: path.to_owned(),
        line: 0,
        start,
        now: start,
        transport: make(start),
        session: None,
        config,
        wire_out: VecDeque::new(),
        backend_out: VecDeque::new(),
        timer_inputs: Vec::new(),
        appended: Duration::ZERO,
        webhook,
    };
    for (number, line) in text.lines().enumerate() {
        h.line = number + 1;
        if line.trim().is_empty() || line.starts_with("//") {
            continue;
        }
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| h.fail(&format!("bad line: {e}")));
        h.step(&value);
    }
    h.line = text.lines().count();
    h.assert_drained();
    assert!(h.timer_inputs.is_empty(), "{}: inputs left unasserted: {:?}", h.file, h.timer_inputs);
    Replayed { transport: h.transport, session: h.session }
}

/// A short description of an input, as transcripts write it.
pub(crate) fn describe(input: &Input) -> String {
    match input {
        Input::CallerAudio(audio) => {
            format!("caller_audio {}ms {}B", audio.duration.as_millis(), audio.payload.len())
        }
        Input::PlaybackMark(mark) => format!("mark {mark}"),
        Input::Dtmf { digit } => format!("dtmf {digit}"),
        Input::CallEnded => "call_ended".to_owned(),
        Input::PlaybackStarted => "playback_started".to_owned(),
        Input::PlaybackEnded => "playback_ended".to_owned(),
        Input::ExternalPlaybackEnded => "external_playback_ended".to_owned(),
        other => format!("{other:?}"),
    }
}

fn describe_notice(notice: &Notice) -> String {
    match notice {
        Notice::Connected => "connected".to_owned(),
        Notice::CallStarted => "call_started".to_owned(),
        Notice::ResumeRequested { conversation_id } => {
            format!("resume_requested {conversation_id}")
        }
        Notice::Rejected { reason } => format!("rejected {reason}"),
        Notice::Validated => "validated".to_owned(),
        Notice::StartTimedOut => "start_timed_out".to_owned(),
        Notice::PeerError { code, message } => {
            format!("peer_error {} {message}", code.as_deref().unwrap_or("-"))
        }
        Notice::Ended { reason } => match reason {
            Some(reason) => format!("ended {reason}"),
            None => "ended".to_owned(),
        },
    }
}

pub(crate) fn counter(counters: &WireCounters, name: &str) -> u64 {
    match name {
        "frames_in" => counters.frames_in,
        "frames_out" => counters.frames_out,
        "media_in" => counters.media_in,
        "malformed" => counters.malformed,
        "unknown_events" => counters.unknown_events,
        "out_of_order" => counters.out_of_order,
        "oversized" => counters.oversized,
        "bad_audio" => counters.bad_audio,
        "wrong_stream" => counters.wrong_stream,
        "binary" => counters.binary,
        "foreign_marks" => counters.foreign_marks,
        "flushed_marks" => counters.flushed_marks,
        "stale_marks" => counters.stale_marks,
        "ignored" => counters.ignored,
        "reordered" => counters.reordered,
        "late_dropped" => counters.late_dropped,
        "gaps_skipped" => counters.gaps_skipped,
        "commands_dropped" => counters.commands_dropped,
        other => panic!("no counter named {other}"),
    }
}

impl Harness<'_> {
    fn fail(&self, message: &str) -> ! {
        panic!("{}:{}: {message}", self.file, self.line)
    }

    fn step(&mut self, line: &Value) {
        let at = line.get("at").and_then(Value::as_u64).unwrap_or_else(|| self.fail("no `at`"));
        let at = self.start + Duration::from_millis(at);
        if at < self.now {
            self.fail("time goes backwards");
        }
        self.advance(at);
        self.now = at;
        if let Some(frame) = line.get("in") {
            self.assert_drained();
            self.assert_no_timer_inputs();
            self.frame_in(frame, line);
        } else if let Some(expected) = line.get("out") {
            self.frame_out(expected);
        } else if let Some(backend) = line.get("backend") {
            self.assert_drained();
            self.assert_no_timer_inputs();
            let input = self.backend_input(backend);
            self.deliver(input);
        } else if let Some(expected) = line.get("backend_out") {
            let expected =
                expected.as_str().unwrap_or_else(|| self.fail("backend_out is a string"));
            match self.backend_out.pop_front() {
                Some(actual) if actual == expected => {}
                Some(actual) => {
                    self.fail(&format!("backend got `{actual}`, transcript says `{expected}`"))
                }
                None => self.fail(&format!("backend got nothing, transcript says `{expected}`")),
            }
        } else if let Some(body) = line.get("webhook") {
            self.assert_drained();
            self.assert_no_timer_inputs();
            let hook = self.webhook.unwrap_or_else(|| self.fail("no webhook hook"));
            let body = serde_json::to_vec(body).unwrap_or_default();
            let input = hook(&body).unwrap_or_else(|| self.fail("the webhook produced no input"));
            self.deliver(input);
        } else if let Some(answer) = line.get("resume") {
            self.assert_drained();
            self.assert_no_timer_inputs();
            let answer = if let Some(format) = answer.get("accept") {
                let format = match format.as_str() {
                    Some("raw/mulaw") => Some(AudioFormat::Ulaw),
                    Some(name) => crate_format(name),
                    None => None,
                };
                ResumeAnswer::Accept { format }
            } else {
                let reason = answer.get("reject").and_then(Value::as_str).unwrap_or_default();
                ResumeAnswer::Reject { reason: reason.to_owned() }
            };
            let mut frames = Vec::new();
            self.transport.answer_resume(self.now, answer, &mut frames);
            self.wire_out.extend(frames);
            self.maybe_start_session();
        } else if let Some(expected) = line.get("inputs") {
            let expected: Vec<String> = strings(expected);
            let actual = std::mem::take(&mut self.timer_inputs);
            if actual != expected {
                self.fail(&format!("timers produced {actual:?}, transcript says {expected:?}"));
            }
        } else if let Some(expected) = line.get("playout") {
            let playout = self.transport.playout();
            let ms = |d: Duration| d.as_millis() as u64;
            for (key, value) in expected.as_object().into_iter().flatten() {
                let actual = match key.as_str() {
                    "sent_ms" => ms(playout.sent),
                    "confirmed_ms" => ms(playout.confirmed),
                    "flushed_ms" => ms(playout.flushed),
                    "queued_ms" => ms(playout.queued),
                    "outstanding" => playout.outstanding_marks as u64,
                    other => self.fail(&format!("no playout field {other}")),
                };
                if Some(actual) != value.as_u64() {
                    self.fail(&format!(
                        "playout {key} is {actual}, transcript says {value} ({playout:?})"
                    ));
                }
            }
        } else if let Some(expected) = line.get("counters") {
            for (key, value) in expected.as_object().into_iter().flatten() {
                let actual = counter(self.transport.counters(), key);
                if Some(actual) != value.as_u64() {
                    self.fail(&format!("counter {key} is {actual}, transcript says {value}"));
                }
            }
        } else if let Some(expected) = line.get("session") {
            let session = self.session.as_ref().unwrap_or_else(|| self.fail("no session yet"));
            if let Some(speaking) = expected.get("agent_speaking").and_then(Value::as_bool)
                && session.agent_speaking() != speaking
            {
                self.fail(&format!("agent_speaking is {}", session.agent_speaking()));
            }
            if let Some(appended) = expected.get("appended_ms").and_then(Value::as_u64)
                && self.appended.as_millis() as u64 != appended
            {
                self.fail(&format!("appended {:?}, transcript says {appended} ms", self.appended));
            }
        } else {
            self.fail("no action in line");
        }
    }

    /// Fires transport and session timers due up to `until`, in time order.
    fn advance(&mut self, until: Instant) {
        for _ in 0..100_000 {
            let transport = self.transport.poll_timeout().filter(|t| *t <= until);
            let session =
                self.session.as_ref().and_then(Session::poll_timeout).filter(|t| *t <= until);
            let transport_first = match (transport, session) {
                (Some(t), Some(s)) => t <= s,
                (t, _) => t.is_some(),
            };
            match (transport, session) {
                (Some(t), _) if transport_first => {
                    self.now = self.now.max(t);
                    let mut decoded = Decoded::default();
                    self.transport.on_timeout(self.now, &mut decoded);
                    self.timer_inputs.extend(decoded.inputs.iter().map(describe));
                    self.absorb(decoded);
                }
                (_, Some(s)) => {
                    self.now = self.now.max(s);
                    self.deliver(Input::Tick);
                }
                _ => return,
            }
        }
        self.fail("timers never settle");
    }

    fn frame_in(&mut self, frame: &Value, line: &Value) {
        let text = match frame {
            Value::String(raw) => raw.clone(),
            other => other.to_string(),
        };
        let mut decoded = Decoded::default();
        let result = self.transport.on_frame(self.now, Frame::Text(&text), &mut decoded);
        match (result, line.get("error").and_then(Value::as_str)) {
            (Ok(()), None) => {}
            (Err(error), Some(kind)) if error.kind().as_str() == kind => {}
            (Err(error), expected) => self.fail(&format!(
                "frame failed with {error} ({:?}), transcript expects {expected:?}",
                error.kind()
            )),
            (Ok(()), Some(kind)) => {
                self.fail(&format!("frame decoded, transcript expects a {kind} error"))
            }
        }
        let inputs: Vec<String> = decoded.inputs.iter().map(describe).collect();
        let expected = line
            .get("inputs")
            .map(strings)
            .unwrap_or_else(|| self.fail("`in` lines need `inputs`"));
        if inputs != expected {
            self.fail(&format!("frame produced {inputs:?}, transcript says {expected:?}"));
        }
        if let Some(expected) = line.get("notices") {
            let notices: Vec<String> = decoded.notices.iter().map(describe_notice).collect();
            if notices != strings(expected) {
                self.fail(&format!("frame raised {notices:?}, transcript says {expected}"));
            }
        }
        self.absorb(decoded);
    }

    /// Hands a transport's output on: replies to the wire, inputs to the session.
    fn absorb(&mut self, decoded: Decoded) {
        self.wire_out.extend(decoded.replies);
        let started = decoded.notices.contains(&Notice::CallStarted);
        if started {
            self.maybe_start_session();
        }
        for input in decoded.inputs {
            self.deliver(input);
        }
    }

    fn maybe_start_session(&mut self) {
        if self.session.is_none() && self.transport.call().is_some() {
            self.session = Some(Session::new(self.config.clone(), self.now));
        }
    }

    fn deliver(&mut self, input: Input) {
        let Some(session) = self.session.as_mut() else {
            self.fail(&format!("input {input:?} before the call started"));
        };
        let commands = session.handle(self.now, input);
        for command in commands {
            match command {
                Command::Transport(command) => {
                    let mut frames = Vec::new();
                    self.transport.encode(self.now, command, &mut frames);
                    self.wire_out.extend(frames);
                }
                Command::Backend(BackendCommand::AppendAudio(audio)) => {
                    self.appended += audio.duration;
                }
                Command::Backend(command) => self.backend_out.push_back(describe_backend(&command)),
                Command::Event(event) => {
                    let mut frames = Vec::new();
                    self.transport.on_event(self.now, &event, &mut frames);
                    self.wire_out.extend(frames);
                }
                Command::App(_) => {}
            }
        }
    }

    fn backend_input(&self, backend: &Value) -> Input {
        let text = |key: &str| backend.get(key).and_then(Value::as_str).map(str::to_owned);
        if backend.get("ready").is_some() {
            Input::BackendReady
        } else if backend.get("speech_started").is_some() {
            Input::UserSpeechStarted
        } else if backend.get("speech_stopped").is_some() {
            Input::UserSpeechStopped
        } else if let Some(item) = text("committed") {
            Input::InputCommitted { item_id: Some(ItemId(item)) }
        } else if let Some(id) = text("created") {
            Input::ResponseCreated {
                response_id: ResponseId(id),
                origin: Origin::Unknown,
                out_of_band: false,
            }
        } else if let Some(audio) = backend.get("audio") {
            let field = |key: &str| {
                audio
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| self.fail(&format!("audio needs {key}")))
            };
            let payload = crate::transport::b64_decode(field("payload"))
                .unwrap_or_else(|_| self.fail("bad base64"));
            let format = self
                .transport
                .capabilities()
                .outbound
                .unwrap_or_else(|| self.fail("no outbound format"));
            let duration = format.duration_of(payload.len() as u64);
            Input::ResponseAudio {
                response_id: ResponseId(field("response").to_owned()),
                item_id: ItemId(field("item").to_owned()),
                audio: AudioChunk::new(payload, duration),
            }
        } else if let Some(id) = text("done") {
            let status = match text("status").as_deref() {
                Some("cancelled") => ResponseStatus::Cancelled,
                Some("failed") => ResponseStatus::Failed,
                Some("incomplete") => ResponseStatus::Incomplete,
                _ => ResponseStatus::Completed,
            };
            Input::ResponseDone { response_id: ResponseId(id), status }
        } else {
            self.fail(&format!("unknown backend input {backend}"))
        }
    }

    fn frame_out(&mut self, expected: &Value) {
        let Some(actual) = self.wire_out.pop_front() else {
            self.fail(&format!("nothing was sent, transcript says {expected}"));
        };
        let matches = match (&actual, expected) {
            (OutFrame::Text(text), Value::Object(_)) => {
                serde_json::from_str::<Value>(text).ok().as_ref() == Some(expected)
            }
            (OutFrame::Close, Value::String(s)) => s == "close",
            (OutFrame::HangUpViaApi, Value::String(s)) => s == "hangup_via_api",
            _ => false,
        };
        if !matches {
            self.fail(&format!("sent {actual:?}, transcript says {expected}"));
        }
    }

    fn assert_drained(&self) {
        if let Some(frame) = self.wire_out.front() {
            self.fail(&format!("sent {frame:?}, which the transcript does not list"));
        }
        if let Some(command) = self.backend_out.front() {
            self.fail(&format!("backend got `{command}`, which the transcript does not list"));
        }
    }

    fn assert_no_timer_inputs(&self) {
        if !self.timer_inputs.is_empty() {
            self.fail(&format!(
                "timers produced {:?}, which the transcript does not list",
                self.timer_inputs
            ));
        }
    }
}

fn crate_format(name: &str) -> Option<AudioFormat> {
    use turngate_audio::SampleRate;
    match name {
        "raw/lpcm16" => Some(AudioFormat::Pcm16(SampleRate::Hz16000)),
        "raw/lpcm16_24" => Some(AudioFormat::Pcm16(SampleRate::Hz24000)),
        "raw/lpcm16_8" => Some(AudioFormat::Pcm16(SampleRate::Hz8000)),
        _ => None,
    }
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

fn describe_backend(command: &BackendCommand) -> String {
    match command {
        BackendCommand::CreateResponse { .. } => "create".to_owned(),
        BackendCommand::CancelResponse { response_id, .. } => format!("cancel {response_id}"),
        BackendCommand::Truncate { item_id, audio_end_ms, .. } => {
            format!("truncate {item_id} {audio_end_ms}")
        }
        BackendCommand::Commit { .. } => "commit".to_owned(),
        BackendCommand::FunctionOutput { call_id, .. } => format!("function_output {call_id}"),
        BackendCommand::AddUserText { .. } => "add_user_text".to_owned(),
        BackendCommand::Instruct { purpose, .. } => format!("instruct {}", purpose.as_str()),
        BackendCommand::AppendAudio(_) => "append".to_owned(),
    }
}
