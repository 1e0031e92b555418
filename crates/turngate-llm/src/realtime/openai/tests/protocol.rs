//! The pure protocol: readiness, correlation, and the wire guards.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use turngate_audio::{AudioFormat, SampleRate};
use turngate_core::{
    AudioChunk, BackendCommand, BackendErrorKind, CallId, ClientEventId, Input, ItemId, Origin,
    Purpose, ResponseId, ResponseSpec, ResponseStatus,
};

use super::support::{Harness, audio_delta, created, done, message_added};
use crate::realtime::openai::protocol::{COMMIT_REFUSED, CREATE_REFUSED, CREATE_SUPERSEDED};
use crate::realtime::openai::{OpenAiRealtimeConfig, PayloadEncoding};
use crate::realtime::{RealtimeSessionConfig, ServerVad, TurnDetectionConfig};

fn append_ms(harness: &mut Harness, ms: usize) {
    let chunk = AudioChunk::new(vec![0xFF; ms * 8], Duration::from_millis(ms as u64));
    let (frames, inputs) = harness.command(BackendCommand::AppendAudio(chunk));
    assert_eq!((frames.len(), inputs.len()), (1, 0));
}

fn create(harness: &mut Harness, id: u64) -> (Vec<serde_json::Value>, Vec<Input>) {
    let spec = ResponseSpec { purpose: Purpose::Answer, instructions: None, out_of_band: false };
    harness.command(BackendCommand::CreateResponse { event_id: ClientEventId(id), spec })
}

fn auto_session() -> RealtimeSessionConfig {
    RealtimeSessionConfig {
        turn_detection: TurnDetectionConfig::ServerVad(ServerVad {
            create_response: true,
            interrupt_response: true,
            ..ServerVad::default()
        }),
        ..RealtimeSessionConfig::default()
    }
}

#[test]
fn ready_only_after_session_updated_and_lost_only_if_it_was_ready() {
    let mut harness =
        Harness::new(OpenAiRealtimeConfig::default(), RealtimeSessionConfig::default());
    harness.link_up(false);
    // Commands before the session is configured meet no ready link.
    let (frames, inputs) = create(&mut harness, 1);
    assert!(frames.is_empty() && inputs.is_empty());
    assert!(harness.link_down().is_empty(), "never ready: nothing to report");
    harness.link_up(true);
    let (_, inputs) = harness.server(json!({"type": "session.updated", "session": {}}));
    assert_eq!(inputs, [Input::BackendReady]);
    let (_, inputs) = harness.server(json!({"type": "session.updated", "session": {}}));
    assert!(inputs.is_empty(), "a second session.updated is not a second ready");
    assert_eq!(harness.link_down(), [Input::BackendDisconnected]);
    let stats = harness.stats.snapshot();
    assert_eq!((stats.reconnects, stats.dropped_while_down), (1, 1));
}

#[test]
fn a_short_commit_is_refused_locally_with_the_core_id() {
    let mut harness = Harness::default_ready();
    append_ms(&mut harness, 60);
    let (frames, inputs) = harness.command(BackendCommand::Commit { event_id: ClientEventId(4) });
    assert!(frames.is_empty(), "a doomed commit is never sent");
    let [Input::BackendError { event_id, code, .. }] = inputs.as_slice() else {
        panic!("one refusal, got {inputs:?}");
    };
    assert_eq!((*event_id, code.as_deref()), (Some(ClientEventId(4)), Some(COMMIT_REFUSED)));
    append_ms(&mut harness, 40);
    let (frames, inputs) = harness.command(BackendCommand::Commit { event_id: ClientEventId(5) });
    assert_eq!((frames.len(), inputs.len()), (1, 0));
    // The buffer is empty again after our commit.
    let (frames, _) = harness.command(BackendCommand::Commit { event_id: ClientEventId(6) });
    assert!(frames.is_empty());
    assert_eq!(harness.stats.snapshot().commits_refused, 2);
}

#[test]
fn the_servers_own_commit_and_clear_empty_the_buffer_but_our_acks_do_not() {
    let mut harness = Harness::default_ready();
    append_ms(&mut harness, 120);
    harness.command(BackendCommand::Commit { event_id: ClientEventId(1) });
    append_ms(&mut harness, 100);
    // The acknowledgement of our own commit arrives after more audio: the
    // audio appended since stays counted.
    let (_, inputs) = harness.server(json!({"type": "input_audio_buffer.committed", "item_id": "item_1", "previous_item_id": null}));
    assert_eq!(inputs, [Input::InputCommitted { item_id: Some(ItemId::from("item_1")) }]);
    let (frames, _) = harness.command(BackendCommand::Commit { event_id: ClientEventId(2) });
    assert_eq!(frames.len(), 1);
    append_ms(&mut harness, 150);
    harness.server(json!({"type": "input_audio_buffer.cleared"}));
    let (frames, _) = harness.command(BackendCommand::Commit { event_id: ClientEventId(3) });
    assert!(frames.is_empty(), "cleared: nothing to commit");
    append_ms(&mut harness, 150);
    // A commit the server made itself (its VAD) took the buffer.
    harness.server(json!({"type": "input_audio_buffer.committed", "item_id": "item_2", "previous_item_id": "item_1"}));
    harness.server(json!({"type": "input_audio_buffer.committed", "item_id": "item_3", "previous_item_id": "item_2"}));
    let (frames, _) = harness.command(BackendCommand::Commit { event_id: ClientEventId(4) });
    assert!(frames.is_empty());
}

#[test]
fn truncates_are_clamped_to_the_audio_received_and_skipped_when_moot() {
    let mut harness = Harness::default_ready();
    harness.server(created("resp_1", Some("tg1")));
    harness.server(message_added("resp_1", "item_1"));
    // 500 ms of µ-law in two deltas.
    for bytes in [1600usize, 2400] {
        harness.server(audio_delta("resp_1", "item_1", &STANDARD.encode(vec![0xFFu8; bytes])));
    }
    let truncate = |harness: &mut Harness, id: u64, item: &str, ms: u64| {
        let (frames, inputs) = harness.command(BackendCommand::Truncate {
            event_id: ClientEventId(id),
            item_id: ItemId::from(item),
            audio_end_ms: ms,
        });
        assert!(inputs.is_empty());
        frames.first().map(|f| f["audio_end_ms"].as_u64().unwrap())
    };
    assert_eq!(truncate(&mut harness, 2, "item_1", 900), Some(500));
    // The item is 500 ms long now, and then 300.
    assert_eq!(truncate(&mut harness, 3, "item_1", 300), Some(300));
    assert_eq!(truncate(&mut harness, 4, "item_1", 400), Some(300));
    assert_eq!(truncate(&mut harness, 5, "item_1", 0), None);
    assert_eq!(truncate(&mut harness, 6, "item_old", 200), None);
    // Items of an earlier link are unknown to a new one.
    harness.link_down();
    harness.link_up(true);
    harness.server(json!({"type": "session.updated", "session": {}}));
    assert_eq!(truncate(&mut harness, 7, "item_1", 200), None);
    let stats = harness.stats.snapshot();
    assert_eq!((stats.truncates_clamped, stats.truncates_skipped), (2, 3));
}

#[test]
fn a_create_waits_while_the_server_has_a_response_and_goes_out_after_its_done() {
    let mut harness = Harness::default_ready();
    // The server's own response (no tag): known to be the server's.
    let (_, inputs) = harness.server(created("resp_srv", None));
    assert_eq!(
        inputs,
        [Input::ResponseCreated {
            response_id: ResponseId::from("resp_srv"),
            origin: Origin::Server,
            out_of_band: false
        }]
    );
    let (frames, inputs) = create(&mut harness, 7);
    assert!(frames.is_empty() && inputs.is_empty(), "held, not sent into a conflict");
    let (frames, inputs) = harness.server(done("resp_srv", "completed"));
    assert_eq!(
        inputs,
        [Input::ResponseDone {
            response_id: ResponseId::from("resp_srv"),
            status: ResponseStatus::Completed
        }]
    );
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["event_id"], "tg7");
    assert_eq!(frames[0]["response"]["metadata"]["turngate_create"], "tg7");
    assert_eq!(harness.stats.snapshot().creates_held, 1);
}

#[test]
fn a_held_create_is_given_up_explicitly_when_the_server_stays_busy_or_a_newer_one_comes() {
    let config = OpenAiRealtimeConfig {
        max_create_hold: Duration::from_secs(2),
        ..OpenAiRealtimeConfig::default()
    };
    let mut harness = Harness::ready(config, RealtimeSessionConfig::default());
    harness.server(created("resp_srv", None));
    create(&mut harness, 7);
    let (frames, inputs) = create(&mut harness, 8);
    assert!(frames.is_empty());
    let [Input::BackendError { event_id, code, .. }] = inputs.as_slice() else {
        panic!("{inputs:?}")
    };
    assert_eq!((*event_id, code.as_deref()), (Some(ClientEventId(7)), Some(CREATE_SUPERSEDED)));
    let (frames, inputs) = harness.advance(Duration::from_millis(1900));
    assert!(frames.is_empty() && inputs.is_empty());
    let (frames, inputs) = harness.advance(Duration::from_millis(200));
    assert!(frames.is_empty());
    let [Input::BackendError { event_id, code, .. }] = inputs.as_slice() else {
        panic!("{inputs:?}")
    };
    assert_eq!((*event_id, code.as_deref()), (Some(ClientEventId(8)), Some(CREATE_REFUSED)));
    // Nothing is left to send when the server is finally done.
    let (frames, _) = harness.server(done("resp_srv", "completed"));
    assert!(frames.is_empty());
    assert_eq!(harness.stats.snapshot().creates_refused, 2);
}

#[test]
fn after_the_servers_vad_ends_a_turn_a_create_waits_for_its_own_response() {
    let config = OpenAiRealtimeConfig {
        auto_response_wait: Duration::from_millis(500),
        ..OpenAiRealtimeConfig::default()
    };
    let mut harness = Harness::ready(config.clone(), auto_session());
    harness.server(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "item_1"}));
    let (_, inputs) = harness.server(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "item_1"}));
    assert_eq!(inputs, [Input::UserSpeechStopped]);
    let (frames, _) = create(&mut harness, 3);
    assert!(frames.is_empty(), "the server is about to answer on its own");
    harness.server(created("resp_auto", None));
    let (frames, _) = harness.advance(Duration::from_secs(1));
    assert!(frames.is_empty(), "still busy with its own response");
    let (frames, _) = harness.server(done("resp_auto", "completed"));
    assert_eq!(frames.len(), 1, "sent once the server is free");

    // When the server does not answer on its own in time, the create goes.
    let mut harness = Harness::ready(config, auto_session());
    harness.server(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "item_1"}));
    assert!(create(&mut harness, 3).0.is_empty());
    assert!(harness.advance(Duration::from_millis(400)).0.is_empty());
    assert_eq!(harness.advance(Duration::from_millis(100)).0.len(), 1);
}

#[test]
fn without_server_responses_a_vad_turn_does_not_hold_creates() {
    let mut harness = Harness::default_ready();
    harness.server(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 900, "item_id": "item_1"}));
    assert_eq!(create(&mut harness, 3).0.len(), 1);
}

#[test]
fn origins_follow_the_echoed_tag() {
    let mut harness = Harness::default_ready();
    let (_, inputs) = harness.server(created("resp_1", Some("tg4")));
    assert_eq!(
        inputs,
        [Input::ResponseCreated {
            response_id: ResponseId::from("resp_1"),
            origin: Origin::Create(ClientEventId(4)),
            out_of_band: false
        }]
    );
    harness.server(done("resp_1", "completed"));
    // An out-of-band create of ours is recognised by its tag.
    let spec = ResponseSpec { purpose: Purpose::App, instructions: None, out_of_band: true };
    harness.command(BackendCommand::CreateResponse { event_id: ClientEventId(9), spec });
    let (_, inputs) = harness.server(created("resp_2", Some("tg9")));
    assert_eq!(
        inputs,
        [Input::ResponseCreated {
            response_id: ResponseId::from("resp_2"),
            origin: Origin::Create(ClientEventId(9)),
            out_of_band: true
        }]
    );
    // An out-of-band response never holds a default-conversation create.
    assert_eq!(create(&mut harness, 10).0.len(), 1);

    let config = OpenAiRealtimeConfig { echoes_metadata: false, ..OpenAiRealtimeConfig::default() };
    let mut harness = Harness::ready(config, RealtimeSessionConfig::default());
    let (_, inputs) = harness.server(created("resp_3", None));
    assert_eq!(
        inputs,
        [Input::ResponseCreated {
            response_id: ResponseId::from("resp_3"),
            origin: Origin::Unknown,
            out_of_band: false
        }]
    );
}

#[test]
fn errors_name_our_commands_and_foreign_ids_are_dropped() {
    let mut harness = Harness::default_ready();
    let error = |event_id: serde_json::Value, code: &str| {
        json!({"type": "error", "event_id": "event_5", "error": {"type": "invalid_request_error", "code": code,
            "message": "Conversation already has an active response in progress: resp_77. Wait until the response is finished before creating a new one.",
            "param": null, "event_id": event_id}})
    };
    let (_, inputs) =
        harness.server(error(json!("tg12"), "conversation_already_has_active_response"));
    let [Input::BackendError { event_id, kind, code, message }] = inputs.as_slice() else {
        panic!()
    };
    assert_eq!(*event_id, Some(ClientEventId(12)));
    assert_eq!(*kind, BackendErrorKind::ResponseActive);
    assert_eq!(code.as_deref(), Some("conversation_already_has_active_response"));
    assert!(message.contains("resp_77"));
    // The error told us of a response we had not seen: the retry waits for it.
    assert!(create(&mut harness, 13).0.is_empty());
    assert_eq!(harness.server(done("resp_77", "completed")).0.len(), 1);
    for foreign in [json!("tgp1"), json!("client_3"), json!(null)] {
        let (_, inputs) = harness.server(error(foreign, "response_cancel_not_active"));
        assert!(matches!(
            inputs.as_slice(),
            [Input::BackendError { event_id: None, kind: BackendErrorKind::NothingToCancel, .. }]
        ));
    }
}

#[test]
fn error_codes_become_the_cores_kinds() {
    let cases = [
        (Some("conversation_already_has_active_response"), BackendErrorKind::ResponseActive),
        (Some("response_cancel_not_active"), BackendErrorKind::NothingToCancel),
        (Some("input_audio_buffer_commit_empty"), BackendErrorKind::NothingToCommit),
        (Some("server_error"), BackendErrorKind::Other),
        (None, BackendErrorKind::Other),
    ];
    for (code, kind) in cases {
        assert_eq!(crate::realtime::openai::protocol::error_kind(code), kind, "{code:?}");
    }
}

#[test]
fn an_instruction_is_refused_by_the_gated_api_without_sending_anything() {
    let mut harness = Harness::default_ready();
    let command = BackendCommand::Instruct {
        event_id: ClientEventId(40),
        purpose: Purpose::Greeting,
        text: "Say hello.".to_owned(),
    };
    let (frames, inputs) = harness.command(command);
    assert!(frames.is_empty(), "{frames:?}");
    let [Input::BackendError { event_id: Some(ClientEventId(40)), code: Some(code), .. }] =
        inputs.as_slice()
    else {
        panic!("{inputs:?}")
    };
    assert_eq!(code, "turngate_unsupported_command");
}

#[test]
fn unknown_and_corrupt_frames_are_counted_and_ignored_and_done_always_releases() {
    let mut harness = Harness::default_ready();
    assert!(harness.server(json!({"type": "response.audio.delta", "delta": "AAAA"})).1.is_empty());
    assert!(harness.server_text("{{{").1.is_empty());
    assert!(harness.server(audio_delta("resp_1", "item_1", "***")).1.is_empty());
    let (_, inputs) = harness.server(done("resp_1", "exploded"));
    assert_eq!(
        inputs,
        [Input::ResponseDone {
            response_id: ResponseId::from("resp_1"),
            status: ResponseStatus::Failed
        }]
    );
    let stats = harness.stats.snapshot();
    assert_eq!((stats.events_received, stats.unknown_events, stats.corrupt_events), (5, 1, 3));
}

#[test]
fn audio_deltas_become_chunks_with_their_duration_or_pass_through_as_base64() {
    let pcm = AudioFormat::Pcm16(SampleRate::Hz24000);
    let session = RealtimeSessionConfig {
        output_format: pcm,
        input_format: pcm,
        ..RealtimeSessionConfig::default()
    };
    let mut harness = Harness::ready(OpenAiRealtimeConfig::default(), session.clone());
    let bytes: Vec<u8> = (0..4800u32).map(|n| (n % 251) as u8).collect();
    let delta = STANDARD.encode(&bytes);
    let (_, inputs) = harness.server(audio_delta("resp_1", "item_1", &delta));
    let [Input::ResponseAudio { audio, item_id, .. }] = inputs.as_slice() else { panic!() };
    assert_eq!(
        (audio.payload.as_slice(), audio.duration),
        (bytes.as_slice(), Duration::from_millis(100))
    );
    assert_eq!(item_id, &ItemId::from("item_1"));

    let config = OpenAiRealtimeConfig {
        payload: PayloadEncoding::Base64,
        ..OpenAiRealtimeConfig::default()
    };
    let mut harness = Harness::ready(config, session);
    let (_, inputs) = harness.server(audio_delta("resp_1", "item_1", &delta));
    let [Input::ResponseAudio { audio, .. }] = inputs.as_slice() else { panic!() };
    assert_eq!(
        (audio.payload.as_slice(), audio.duration),
        (delta.as_bytes(), Duration::from_millis(100))
    );
    // Appends pass the text through, and count the audio it decodes to.
    let half = STANDARD.encode(vec![0u8; 2400]);
    let (frames, _) = harness.command(BackendCommand::AppendAudio(AudioChunk::new(
        half.clone().into_bytes(),
        Duration::from_millis(50),
    )));
    assert_eq!(frames[0]["audio"], half);
    assert!(harness.command(BackendCommand::Commit { event_id: ClientEventId(1) }).0.is_empty());
    harness.command(BackendCommand::AppendAudio(AudioChunk::new(
        half.into_bytes(),
        Duration::from_millis(50),
    )));
    assert_eq!(harness.command(BackendCommand::Commit { event_id: ClientEventId(2) }).0.len(), 1);
}

#[test]
fn function_calls_are_handed_over_once_with_their_name() {
    let mut harness = Harness::default_ready();
    harness.server(created("resp_1", Some("tg1")));
    harness.server(json!({"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0,
        "item": {"id": "item_1", "type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": ""}}));
    let (_, inputs) = harness
        .server(json!({"type": "response.function_call_arguments.done", "response_id": "resp_1",
        "item_id": "item_1", "output_index": 0, "call_id": "call_1", "arguments": "{\"q\":1}"}));
    assert_eq!(
        inputs,
        [Input::FunctionCall {
            response_id: ResponseId::from("resp_1"),
            call_id: CallId::from("call_1"),
            name: "lookup".to_owned(),
            arguments: "{\"q\":1}".to_owned(),
        }]
    );
    let item_done = |call: &str| {
        json!({"type": "response.output_item.done", "response_id": "resp_1", "output_index": 0,
            "item": {"id": "item_x", "type": "function_call", "call_id": call, "name": "lookup", "arguments": "{}", "status": "completed"}})
    };
    assert!(harness.server(item_done("call_1")).1.is_empty(), "not twice");
    // Without the added item, the call comes from the done item.
    let (_, inputs) = harness.server(item_done("call_2"));
    assert!(
        matches!(inputs.as_slice(), [Input::FunctionCall { call_id, .. }] if call_id == &CallId::from("call_2"))
    );
}

#[test]
fn a_reconnect_reinjects_the_conversation_in_order() {
    let session = RealtimeSessionConfig {
        input_transcription: Some("gpt-live-transcribe".to_owned()),
        ..RealtimeSessionConfig::default()
    };
    let mut harness = Harness::ready(OpenAiRealtimeConfig::default(), session);
    harness.server(json!({"type": "input_audio_buffer.committed", "item_id": "item_u1", "previous_item_id": null}));
    harness.server(created("resp_1", Some("tg1")));
    harness.server(message_added("resp_1", "item_a1"));
    harness.server(json!({"type": "response.output_audio_transcript.done", "response_id": "resp_1", "item_id": "item_a1",
        "output_index": 0, "content_index": 0, "transcript": "Hello there, how can I help you today?"}));
    // The user's transcription arrives after the answer; it keeps its place.
    harness.server(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "item_u1", "content_index": 0, "transcript": "Hi"}));
    // A committed turn never transcribed is left out.
    harness.server(json!({"type": "input_audio_buffer.committed", "item_id": "item_u2", "previous_item_id": "item_a1"}));
    // The caller heard half of the second answer.
    harness.server(created("resp_2", Some("tg2")));
    harness.server(message_added("resp_2", "item_a2"));
    harness.server(audio_delta("resp_2", "item_a2", &STANDARD.encode(vec![0xFFu8; 8000])));
    harness.server(json!({"type": "response.output_audio_transcript.done", "response_id": "resp_2", "item_id": "item_a2",
        "output_index": 0, "content_index": 0, "transcript": "Your order ships today by courier"}));
    harness.command(BackendCommand::Truncate {
        event_id: ClientEventId(3),
        item_id: ItemId::from("item_a2"),
        audio_end_ms: 500,
    });
    assert_eq!(harness.link_down(), [Input::BackendDisconnected]);
    // A tool output and a typed message while the link is down still count.
    harness.command(BackendCommand::AddUserText {
        event_id: ClientEventId(4),
        text: "Are you there?".to_owned(),
    });
    harness.command(BackendCommand::FunctionOutput {
        event_id: ClientEventId(5),
        call_id: CallId::from("call_gone"),
        output: "{}".to_owned(),
    });
    let frames = harness.link_up(true);
    let texts: Vec<(String, String)> = frames[1..]
        .iter()
        .map(|f| {
            (
                f["item"]["role"].as_str().unwrap_or("-").to_owned(),
                f["item"]["content"][0]["text"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        texts,
        [
            ("user".to_owned(), "Hi".to_owned()),
            ("assistant".to_owned(), "Hello there, how can I help you today?".to_owned()),
            ("assistant".to_owned(), "Your order ships".to_owned()),
            ("user".to_owned(), "Are you there?".to_owned()),
        ],
        "the output for a call the conversation never had is not re-injected"
    );
    assert_eq!(frames[0]["type"], "session.update");
    assert_eq!(harness.stats.snapshot().items_reinjected, 4);
}

#[test]
fn formats_the_ga_api_lacks_are_refused_up_front() {
    let session = RealtimeSessionConfig {
        input_format: AudioFormat::Pcm16(SampleRate::Hz16000),
        ..RealtimeSessionConfig::default()
    };
    let stats = std::sync::Arc::default();
    let error = crate::realtime::openai::protocol::Protocol::new(
        &OpenAiRealtimeConfig::default(),
        session,
        stats,
    )
    .unwrap_err();
    assert_eq!(error.kind(), crate::realtime::ErrorKind::Config);
}
