//! The protocol as the core and the server see it: commands in, client
//! events out; server events in, core inputs out. No socket, no clock: the
//! harness passes the time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use turngate_audio::{AudioFormat, ulaw};
use turngate_core::{
    AudioChunk, BackendCommand, BackendErrorKind, CallId, ClientEventId, Input, Purpose,
    ResponseStatus,
};

use crate::realtime::RealtimeSessionConfig;
use crate::realtime::link::{LinkEnd, Out};
use crate::realtime::openai_live::OpenAiLiveConfig;
use crate::realtime::openai_live::protocol::{
    DELEGATION_REFUSED, Protocol, SESSION_LOST, UNSUPPORTED,
};
use crate::realtime::stats::SharedStats;

pub(super) struct Harness {
    pub(super) protocol: Protocol,
    pub(super) now: Instant,
}

impl Harness {
    /// A protocol whose first session has started.
    fn started() -> Harness {
        Harness::started_with(&OpenAiLiveConfig::default(), &session_config())
    }

    /// A protocol with this configuration whose first session (`live_abc`)
    /// has started.
    pub(super) fn started_with(
        config: &OpenAiLiveConfig,
        session: &RealtimeSessionConfig,
    ) -> Harness {
        let mut harness = Harness::linked_with(config, session, false);
        harness.server(json!({"type": "session.started", "event_id": "ev_1",
            "client_event_id": "t:1:start",
            "session": {"id": "live_abc", "expires_at": 1_900_000_000, "status": "active"}}));
        harness
    }

    fn linked(reconnect: bool) -> Harness {
        Harness::linked_with(&OpenAiLiveConfig::default(), &session_config(), reconnect)
    }

    pub(super) fn linked_with(
        config: &OpenAiLiveConfig,
        session: &RealtimeSessionConfig,
        reconnect: bool,
    ) -> Harness {
        let stats = Arc::new(SharedStats::default());
        let protocol = Protocol::new(config, session, "t".to_owned(), stats);
        let now = Instant::now();
        let mut harness = Harness { protocol, now };
        let (frames, _) = harness.link_up(reconnect);
        assert_eq!(frames.len(), 1);
        harness
    }

    pub(super) fn link_up(&mut self, reconnect: bool) -> (Vec<Value>, Vec<Input>) {
        let mut out = Out::default();
        self.protocol.link_up(self.now, reconnect, &mut out);
        parse(out)
    }

    pub(super) fn link_down(&mut self) -> Vec<Input> {
        let mut out = Out::default();
        self.protocol.link_down(&mut out);
        parse(out).1
    }

    #[allow(clippy::needless_pass_by_value, reason = "callers write `json!(…)` inline")]
    pub(super) fn server(&mut self, event: Value) -> (Vec<Value>, Vec<Input>) {
        self.server_out(&event).0
    }

    pub(super) fn server_out(
        &mut self,
        event: &Value,
    ) -> ((Vec<Value>, Vec<Input>), Option<LinkEnd>) {
        let mut out = Out::default();
        self.protocol.server_text(self.now, &event.to_string(), &mut out);
        let end = out.end.take();
        (parse(out), end)
    }

    pub(super) fn command(&mut self, command: BackendCommand) -> (Vec<Value>, Vec<Input>) {
        let mut out = Out::default();
        self.protocol.command(self.now, command, &mut out);
        parse(out)
    }

    pub(super) fn advance(&mut self, by: Duration) -> (Vec<Value>, Vec<Input>) {
        self.now += by;
        let mut out = Out::default();
        if self.protocol.poll_timeout().is_some_and(|at| at <= self.now) {
            self.protocol.tick(self.now, &mut out);
        }
        parse(out)
    }

    /// Model output: `ms` of a voiced tone or of digital silence, in 20 ms deltas.
    pub(super) fn output(&mut self, ms: u64, voiced: bool) -> Vec<Input> {
        let mut inputs = Vec::new();
        for _ in 0..ms / 20 {
            let audio = if voiced { tone_frame() } else { vec![0xFF; 160] };
            let delta = STANDARD.encode(audio);
            inputs.extend(
                self.server(json!({"type": "session.output_audio.delta", "delta": delta})).1,
            );
        }
        inputs
    }

    /// Caller audio the carrier sent, `ms` of it.
    pub(super) fn caller_audio(&mut self, ms: u64) -> Vec<Value> {
        let chunk = AudioChunk::new(vec![0xFF; 8 * ms as usize], Duration::from_millis(ms));
        self.command(BackendCommand::AppendAudio(chunk)).0
    }
}

fn session_config() -> RealtimeSessionConfig {
    RealtimeSessionConfig {
        instructions: Some("Be brief.".to_owned()),
        ..RealtimeSessionConfig::default()
    }
}

pub(super) fn parse(out: Out) -> (Vec<Value>, Vec<Input>) {
    let frames = out
        .frames
        .iter()
        .map(|frame| serde_json::from_str(frame).expect("every frame is JSON"))
        .collect();
    (frames, out.inputs)
}

/// 20 ms of a 300 Hz tone at about −12 dBFS in µ-law.
fn tone_frame() -> Vec<u8> {
    (0..160)
        .map(|n| {
            let phase = f64::from(n) * 300.0 * std::f64::consts::TAU / 8000.0;
            #[allow(clippy::cast_possible_truncation, reason = "the amplitude is in range")]
            let sample = (phase.sin() * 8000.0) as i16;
            ulaw::encode(sample)
        })
        .collect()
}

pub(super) fn types(frames: &[Value]) -> Vec<&str> {
    frames.iter().map(|f| f["type"].as_str().unwrap_or("?")).collect()
}

#[test]
fn the_first_message_starts_a_client_delegation_session_in_the_carrier_format() {
    let mut harness = Harness::linked(false);
    // Start again to look at what was sent (a second link on the same call).
    harness.link_down();
    let (frames, _) = harness.link_up(true);
    assert_eq!(
        frames[0],
        json!({"type": "session.start", "event_id": "t:2:start", "session": {
            "model": "gpt-live-1", "instructions": "Be brief.",
            "audio": {"format": {"type": "audio/pcmu", "rate": 8000}},
            "delegation": {"type": "client"}}})
    );
}

#[test]
fn the_session_is_ready_only_when_our_start_is_answered() {
    let mut harness = Harness::linked(false);
    let stray = json!({"type": "session.started", "client_event_id": "other",
        "session": {"id": "live_x", "expires_at": 1}});
    assert!(harness.server(stray).1.is_empty());
    // Audio before the start is answered is not sent anywhere.
    assert!(harness.caller_audio(20).is_empty());
    let (_, inputs) = harness
        .server(json!({"type": "session.started", "client_event_id": "t:1:start",
        "session": {"id": "live_abc", "expires_at": 1_900_000_000}}));
    assert_eq!(inputs, vec![Input::BackendReady]);
    assert_eq!(types(&harness.caller_audio(20)), ["session.input_audio.append"]);
}

#[test]
fn only_the_models_speech_reaches_the_core_as_one_response_per_stretch() {
    let mut harness = Harness::started();
    assert!(harness.output(400, false).is_empty(), "silence is not forwarded");
    let mut inputs = harness.output(200, true);
    harness.server(json!({"type": "session.output_transcript.delta", "delta": "Hello",
        "start_ms": 400, "end_ms": 500, "event_id": "e"}));
    harness.server(json!({"type": "session.output_transcript.delta", "delta": " there.",
        "start_ms": 500, "end_ms": 600, "event_id": "e"}));
    inputs.extend(harness.output(600, false));
    let created = inputs.iter().filter(|i| matches!(i, Input::ResponseCreated { .. })).count();
    let audio: Duration = inputs
        .iter()
        .filter_map(|i| match i {
            Input::ResponseAudio { audio, .. } => Some(audio.duration),
            _ => None,
        })
        .sum();
    assert_eq!(created, 1);
    // The speech and its lead-in and hangover, never the whole track.
    assert!(audio >= Duration::from_millis(200) && audio < Duration::from_millis(700), "{audio:?}");
    let tail: Vec<&Input> = inputs.iter().rev().take(2).collect();
    assert!(
        matches!(tail[0], Input::ResponseDone { status: ResponseStatus::Completed, .. }),
        "{tail:?}"
    );
    assert!(matches!(tail[1], Input::ResponseTranscript { text, .. } if text == "Hello there."));
}

#[test]
fn an_instruction_is_appended_once_and_a_refusal_names_the_cores_event() {
    let mut harness = Harness::started();
    let instruct = BackendCommand::Instruct {
        event_id: ClientEventId(7),
        purpose: Purpose::Greeting,
        text: "Greet the caller.".to_owned(),
    };
    let (frames, _) = harness.command(instruct);
    assert_eq!(
        frames,
        vec![json!({"type": "session.instructions.append", "event_id": "t:1:1",
            "content": "Greet the caller.", "delegation_id": null})]
    );
    // A slow ack is not a failure: nothing is sent again while time passes.
    let (frames, _) = harness.advance(Duration::from_secs(5));
    assert!(types(&frames).iter().all(|t| *t == "session.input_audio.append"), "{frames:?}");
    let refused = json!({"type": "error", "event_id": "e", "error": {"type": "invalid_request_error",
        "code": "invalid_value", "message": "Context append text must not exceed 500 tokens.",
        "param": "content", "client_event_id": "t:1:1"}});
    let (frames, inputs) = harness.server(refused);
    assert!(frames.is_empty());
    let [Input::BackendError { event_id: Some(ClientEventId(7)), code: Some(code), .. }] =
        inputs.as_slice()
    else {
        panic!("{inputs:?}")
    };
    assert_eq!(code, "invalid_value");
}

#[test]
fn an_error_that_says_nothing_against_an_append_sends_it_again_under_a_new_id() {
    let mut harness = Harness::started();
    let instruct = BackendCommand::Instruct {
        event_id: ClientEventId(3),
        purpose: Purpose::CheckIn,
        text: "Check in.".to_owned(),
    };
    harness.command(instruct);
    let (frames, inputs) = harness.server(json!({"type": "error", "event_id": "e",
        "error": {"type": "server_error", "code": "server_error", "message": "try again",
        "client_event_id": "t:1:1"}}));
    assert!(inputs.is_empty());
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["event_id"], "t:1:2");
    assert_eq!(frames[0]["content"], "Check in.");
    // Its ack under the new id places the core's instruction.
    let (_, inputs) = harness.server(json!({"type": "session.instructions.appended",
        "event_id": "e", "client_event_id": "t:1:2", "start_ms": 1, "end_ms": 2}));
    assert_eq!(inputs, vec![Input::InstructionPlaced { event_id: ClientEventId(3) }]);
}

#[test]
fn a_delegation_is_one_tool_call_with_what_the_caller_asked() {
    let mut harness = Harness::started();
    harness
        .server(json!({"type": "session.input_transcript.delta", "delta": " Where is order 42?",
        "start_ms": 100, "end_ms": 900, "event_id": "e"}));
    let created = json!({"type": "session.delegation.created", "event_id": "e", "offset_ms": 950,
        "delegation": {"id": "deleg_1", "type": "delegation", "target": "client"}});
    assert!(harness.server(created.clone()).1.is_empty(), "held while the request settles");
    // The same delegation seen again (a second observer) is not a second call.
    assert!(harness.server(created).1.is_empty());
    let (_, inputs) = harness.advance(Duration::from_millis(700));
    let calls: Vec<&Input> =
        inputs.iter().filter(|i| matches!(i, Input::FunctionCall { .. })).collect();
    let [Input::FunctionCall { call_id, name, arguments, .. }] = calls.as_slice() else {
        panic!("{inputs:?}")
    };
    assert_eq!(call_id.0, "deleg_1");
    assert_eq!(name, "delegate");
    assert_eq!(
        serde_json::from_str::<Value>(arguments).unwrap(),
        json!({"request": "Where is order 42?"})
    );
    let (_, later) = harness.advance(Duration::from_secs(5));
    assert!(!later.iter().any(|i| matches!(i, Input::FunctionCall { .. })));
}

#[test]
fn a_result_is_spoken_once_and_a_second_or_foreign_one_is_refused() {
    let mut harness = Harness::started();
    harness.server(json!({"type": "session.delegation.created", "event_id": "e", "offset_ms": 0,
        "delegation": {"id": "deleg_1", "type": "delegation", "target": "client"}}));
    harness.advance(Duration::from_millis(700));
    let output = |id: u64, call: &str| BackendCommand::FunctionOutput {
        event_id: ClientEventId(id),
        call_id: CallId(call.to_owned()),
        output: r#"{"status":"shipped"}"#.to_owned(),
    };
    let (frames, _) = harness.command(output(10, "deleg_1"));
    assert_eq!(
        frames,
        vec![json!({"type": "session.commentary.append", "event_id": "t:1:1",
            "content": r#"{"status":"shipped"}"#, "delegation_id": "deleg_1"})]
    );
    for (id, call) in [(11, "deleg_1"), (12, "deleg_from_an_old_session")] {
        let (frames, inputs) = harness.command(output(id, call));
        assert!(frames.is_empty());
        assert!(
            matches!(inputs.as_slice(), [Input::BackendError { event_id: Some(e), code: Some(c), .. }]
                if e.0 == id && c == DELEGATION_REFUSED),
            "{inputs:?}"
        );
    }
}

#[test]
fn a_result_after_the_caller_moved_on_goes_back_silently() {
    let mut harness = Harness::started();
    harness
        .server(json!({"type": "session.delegation.created", "event_id": "e", "offset_ms": 1000,
        "delegation": {"id": "deleg_1", "type": "delegation", "target": "client"}}));
    harness.server(json!({"type": "session.input_transcript.delta",
        "delta": " Actually forget that, what are your hours?", "start_ms": 3000, "end_ms": 4500,
        "event_id": "e"}));
    harness.advance(Duration::from_millis(700));
    let (frames, _) = harness.command(BackendCommand::FunctionOutput {
        event_id: ClientEventId(5),
        call_id: CallId("deleg_1".to_owned()),
        output: "{}".to_owned(),
    });
    assert_eq!(types(&frames), ["session.thinking.append"]);
}

#[test]
fn silence_keeps_the_timeline_moving_when_the_carrier_sends_none() {
    let mut harness = Harness::started();
    assert!(harness.caller_audio(20).len() == 1);
    // On time: nothing added.
    let (frames, _) = harness.advance(Duration::from_millis(40));
    assert!(frames.is_empty());
    // The carrier went quiet: the gap is filled with µ-law silence.
    let (frames, _) = harness.advance(Duration::from_millis(100));
    assert_eq!(types(&frames), ["session.input_audio.append"]);
    let audio = STANDARD.decode(frames[0]["audio"].as_str().unwrap()).unwrap();
    assert_eq!(audio.len() % 160, 0);
    assert!(audio.len() >= 160 * 5, "{}", audio.len());
    assert!(audio.iter().all(|b| *b == 0xFF));
}

#[test]
fn the_caller_is_reported_once_they_pause() {
    let mut harness = Harness::started();
    harness.server(json!({"type": "session.input_transcript.delta", "delta": " I need",
        "start_ms": 0, "end_ms": 200, "event_id": "e"}));
    harness.server(json!({"type": "session.input_transcript.delta", "delta": " a refund.",
        "start_ms": 200, "end_ms": 400, "event_id": "e"}));
    let (_, inputs) = harness.advance(Duration::from_millis(900));
    let heard: Vec<&str> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::UserTranscript { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(heard, [" I need a refund."]);
}

#[test]
fn a_lost_session_is_replaced_by_a_new_one_that_knows_the_conversation() {
    let mut harness = Harness::started();
    harness.server(json!({"type": "session.input_transcript.delta", "delta": " My name is Ada.",
        "start_ms": 0, "end_ms": 500, "event_id": "e"}));
    harness.advance(Duration::from_millis(900));
    harness.output(200, true);
    harness.server(json!({"type": "session.output_transcript.delta", "delta": "Hi Ada.",
        "start_ms": 600, "end_ms": 900, "event_id": "e"}));
    harness.output(600, false);
    // An append in flight when the session is lost is not replayed.
    harness.command(BackendCommand::Instruct {
        event_id: ClientEventId(9),
        purpose: Purpose::App,
        text: "Offer the upgrade.".to_owned(),
    });
    // It is reported lost, after the disconnect, and never replayed.
    let inputs = harness.link_down();
    assert!(
        matches!(
            inputs.as_slice(),
            [
                Input::BackendDisconnected,
                Input::BackendError {
                    event_id: Some(ClientEventId(9)),
                    kind: BackendErrorKind::Lost,
                    ..
                },
            ]
        ),
        "{inputs:?}"
    );
    let (frames, _) = harness.link_up(true);
    assert_eq!(types(&frames), ["session.start"]);
    assert_eq!(
        frames[0]["session"]["input"],
        json!([
            {"role": "user", "content": [{"type": "input_text", "text": "My name is Ada."}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Hi Ada."}]}
        ])
    );
    let (frames, inputs) = harness.server(json!({"type": "session.started",
        "client_event_id": "t:2:start", "session": {"id": "live_def", "expires_at": 1}}));
    assert_eq!(inputs, vec![Input::BackendReady]);
    assert!(frames.is_empty(), "nothing of the old session is sent again: {frames:?}");
}

#[test]
fn a_refused_start_ends_the_link_for_good_when_retrying_cannot_help() {
    let mut harness = Harness::linked(false);
    let ((_, inputs), end) = harness.server_out(&json!({"type": "error", "event_id": "e",
        "error": {"type": "invalid_request_error", "code": "model_not_found",
        "message": "The model `gpt-live-9` does not exist.", "client_event_id": "t:1:start"}}));
    assert!(
        matches!(inputs.as_slice(), [Input::BackendError { event_id: None, code: Some(c), .. }] if c == "model_not_found"),
        "{inputs:?}"
    );
    assert!(matches!(end, Some(LinkEnd::Fatal(reason)) if reason.contains("model_not_found")));
}

#[test]
fn a_closed_session_ends_the_link_and_only_an_expiry_or_a_loss_is_retried() {
    for (reason, fatal) in [
        ("expired", false),
        ("connection_lost", false),
        ("content", true),
        ("close_requested", true),
        ("remote_hangup", true),
    ] {
        let mut harness = Harness::started();
        let (_, end) = harness.server_out(&json!({"type": "session.closed", "event_id": "e",
            "reason": reason, "session": {"id": "live_abc", "expires_at": 1, "status": "active"},
            "usage": {"seconds": 10}}));
        match end {
            Some(LinkEnd::Fatal(_)) => assert!(fatal, "{reason}"),
            Some(LinkEnd::Retry(_)) => assert!(!fatal, "{reason}"),
            None => panic!("{reason}: the link goes on"),
        }
    }
}

#[test]
fn commands_of_the_gated_api_and_typed_text_are_refused_without_sending() {
    let mut harness = Harness::started();
    for command in [
        BackendCommand::Commit { event_id: ClientEventId(1) },
        BackendCommand::AddUserText { event_id: ClientEventId(2), text: "hi".to_owned() },
    ] {
        let (frames, inputs) = harness.command(command);
        assert!(frames.is_empty());
        assert!(
            matches!(inputs.as_slice(), [Input::BackendError { code: Some(c), .. }] if c == UNSUPPORTED)
        );
    }
}

#[test]
fn the_format_names_follow_the_carrier() {
    use crate::realtime::openai_live::protocol::wire_format;
    use crate::realtime::openai_live::wire::AudioFormat as Wire;
    assert_eq!(wire_format(AudioFormat::Alaw), Wire::Pcma { rate: 8000 });
    assert_eq!(
        wire_format(AudioFormat::Pcm16(turngate_audio::SampleRate::Hz16000)),
        Wire::Pcm { rate: 16_000 }
    );
}

#[test]
fn work_lost_with_its_session_is_reported_after_the_disconnect() {
    let mut harness = Harness::started();
    harness.server(json!({"type": "session.delegation.created", "event_id": "e", "offset_ms": 0,
        "delegation": {"id": "deleg_1", "type": "delegation", "target": "client"}}));
    harness.advance(Duration::from_millis(700));
    harness.command(BackendCommand::FunctionOutput {
        event_id: ClientEventId(21),
        call_id: CallId("deleg_1".to_owned()),
        output: "{}".to_owned(),
    });
    harness.command(BackendCommand::Instruct {
        event_id: ClientEventId(22),
        purpose: Purpose::Goodbye,
        text: "Say goodbye.".to_owned(),
    });
    let inputs = harness.link_down();
    let lost: Vec<u64> = inputs
        .iter()
        .filter_map(|input| match input {
            Input::BackendError {
                event_id: Some(id), kind: BackendErrorKind::Lost, code, ..
            } => {
                assert_eq!(code.as_deref(), Some(SESSION_LOST));
                Some(id.0)
            }
            _ => None,
        })
        .collect();
    assert_eq!(inputs.first(), Some(&Input::BackendDisconnected), "{inputs:?}");
    assert_eq!(lost, [21, 22]);
    // A result the core hands over before it hears of the disconnect is
    // answered too.
    let (frames, inputs) = harness.command(BackendCommand::FunctionOutput {
        event_id: ClientEventId(23),
        call_id: CallId("deleg_1".to_owned()),
        output: "{}".to_owned(),
    });
    assert!(frames.is_empty());
    assert!(
        matches!(
            inputs.as_slice(),
            [Input::BackendError {
                event_id: Some(ClientEventId(23)),
                kind: BackendErrorKind::Lost,
                ..
            }]
        ),
        "{inputs:?}"
    );
}

#[test]
fn a_placed_instruction_is_reported_and_a_start_answer_may_omit_its_id() {
    let mut harness = Harness::linked(false);
    // `client_event_id` is optional on `session.started`.
    let (_, inputs) = harness.server(json!({"type": "session.started", "event_id": "e",
        "session": {"id": "live_abc", "expires_at": 1}}));
    assert_eq!(inputs, vec![Input::BackendReady]);
    harness.command(BackendCommand::Instruct {
        event_id: ClientEventId(4),
        purpose: Purpose::Goodbye,
        text: "Say goodbye.".to_owned(),
    });
    let (_, inputs) = harness.server(json!({"type": "session.instructions.appended",
        "event_id": "e", "client_event_id": "t:1:1", "start_ms": 10, "end_ms": 20}));
    assert_eq!(inputs, vec![Input::InstructionPlaced { event_id: ClientEventId(4) }]);
}

#[test]
fn a_delegation_asks_what_the_caller_said_last() {
    let mut harness = Harness::started();
    let long = " blah".repeat(2000);
    harness.server(json!({"type": "session.input_transcript.delta", "delta": long,
        "start_ms": 0, "end_ms": 100, "event_id": "e"}));
    harness
        .server(json!({"type": "session.input_transcript.delta", "delta": " Where is order 42?",
        "start_ms": 100, "end_ms": 900, "event_id": "e"}));
    harness.server(json!({"type": "session.delegation.created", "event_id": "e", "offset_ms": 950,
        "delegation": {"id": "deleg_1", "type": "delegation", "target": "client"}}));
    let (_, inputs) = harness.advance(Duration::from_millis(700));
    let arguments = inputs
        .iter()
        .find_map(|i| match i {
            Input::FunctionCall { arguments, .. } => Some(arguments.clone()),
            _ => None,
        })
        .expect("the delegation");
    let request: Value = serde_json::from_str(&arguments).unwrap();
    let request = request["request"].as_str().unwrap();
    assert!(request.ends_with("Where is order 42?"), "{request}");
    assert!(request.len() <= 4096, "{}", request.len());
}

#[test]
fn closing_asks_the_server_to_end_the_session() {
    let mut harness = Harness::started();
    let mut out = Out::default();
    assert!(harness.protocol.close(&mut out));
    let (frames, _) = parse(out);
    assert_eq!(frames, vec![json!({"type": "session.close", "event_id": "t:1:close"})]);
    // session.closed for our close ends the link for good.
    let (_, end) = harness.server_out(&json!({"type": "session.closed", "event_id": "e",
        "client_event_id": "t:1:close", "reason": "close_requested",
        "session": {"id": "live_abc", "expires_at": 1, "status": "active"}, "usage": {"seconds": 3}}));
    assert!(matches!(end, Some(LinkEnd::Fatal(_))));
    // A session that never started has nothing to close.
    let mut unstarted = Harness::linked(false);
    let mut out = Out::default();
    assert!(!unstarted.protocol.close(&mut out));
    assert!(out.frames.is_empty());
}

#[test]
fn a_session_about_to_expire_is_replaced_at_a_quiet_moment() {
    let mut harness = Harness::linked(false);
    let expires_at =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 100;
    harness.server(json!({"type": "session.started", "client_event_id": "t:1:start",
        "session": {"id": "live_abc", "expires_at": expires_at}}));
    harness.caller_audio(20);
    // Well before the window nothing happens.
    let (frames, _) = harness.advance(Duration::from_secs(60));
    assert!(!types(&frames).contains(&"session.close"), "{frames:?}");
    // In the window, the model speaking holds the replacement back, and no
    // deadline is left due meanwhile (nothing spins).
    harness.output(200, true);
    let (frames, _) = harness.advance(Duration::from_secs(17));
    assert!(!types(&frames).contains(&"session.close"), "{frames:?}");
    let due = harness.protocol.poll_timeout().expect("the window's end");
    assert!(due > harness.now, "a deadline already due");
    // The stretch ends: that is the quiet moment.
    let closing: Vec<Value> = (0..30)
        .flat_map(|_| {
            let delta = STANDARD.encode(vec![0xFF; 160]);
            harness.server(json!({"type": "session.output_audio.delta", "delta": delta})).0
        })
        .collect();
    assert_eq!(types(&closing), ["session.close"], "{closing:?}");
    // Its end starts the next session (a retry, not the end of the call).
    let (_, end) = harness.server_out(&json!({"type": "session.closed", "event_id": "e",
        "client_event_id": "t:1:close", "reason": "close_requested",
        "session": {"id": "live_abc", "expires_at": expires_at, "status": "active"},
        "usage": {"seconds": 99}}));
    assert!(matches!(end, Some(LinkEnd::Retry(_))), "{end:?}");
}
