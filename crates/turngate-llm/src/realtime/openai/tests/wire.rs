//! Every client event the provider sends, against the hand-written GA
//! fixtures in `tests/fixtures/openai/`; and the classification of server
//! frames.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use turngate_audio::{AudioFormat, SampleRate};
use turngate_core::{
    AudioChunk, BackendCommand, CallId, ClientEventId, ItemId, Purpose, ResponseId, ResponseSpec,
};

use super::support::{Harness, audio_delta, created, fixture, message_added};
use crate::realtime::openai::OpenAiRealtimeConfig;
use crate::realtime::openai::wire::{Classified, ServerEvent, classify};
use crate::realtime::{
    Eagerness, OutputModality, RealtimeSessionConfig, SemanticVad, ServerVad, ToolSpec,
    TurnDetectionConfig,
};

fn phone_session() -> RealtimeSessionConfig {
    RealtimeSessionConfig {
        instructions: Some("You are a helpful phone agent.".to_owned()),
        voice: Some("marin".to_owned()),
        input_format: AudioFormat::Ulaw,
        output_format: AudioFormat::Ulaw,
        output: OutputModality::Audio,
        turn_detection: TurnDetectionConfig::ServerVad(ServerVad {
            threshold: Some(0.5),
            prefix_padding_ms: Some(300),
            silence_duration_ms: Some(500),
            idle_timeout_ms: None,
            create_response: false,
            interrupt_response: false,
        }),
        input_transcription: Some("gpt-live-transcribe".to_owned()),
        tools: vec![ToolSpec {
            name: "lookup".to_owned(),
            description: "Looks up an order.".to_owned(),
            parameters: json!({"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}),
        }],
    }
}

fn ready() -> Harness {
    Harness::ready(OpenAiRealtimeConfig::default(), phone_session())
}

#[test]
fn session_update_carries_the_ga_session() {
    let mut harness = Harness::new(OpenAiRealtimeConfig::default(), phone_session());
    assert_eq!(harness.link_up(false), [fixture("session_update")]);
}

#[test]
fn session_update_turns_detection_off_explicitly_and_maps_every_format() {
    let session = RealtimeSessionConfig {
        input_format: AudioFormat::Pcm16(SampleRate::Hz24000),
        output_format: AudioFormat::Alaw,
        ..RealtimeSessionConfig::default()
    };
    let mut harness = Harness::new(OpenAiRealtimeConfig::default(), session);
    assert_eq!(harness.link_up(false), [fixture("session_update_client_turns")]);
}

#[test]
fn session_update_with_semantic_vad_and_text_output() {
    let session = RealtimeSessionConfig {
        input_format: AudioFormat::Alaw,
        output_format: AudioFormat::Alaw,
        output: OutputModality::Text,
        turn_detection: TurnDetectionConfig::SemanticVad(SemanticVad {
            eagerness: Eagerness::High,
            create_response: true,
            interrupt_response: true,
        }),
        ..RealtimeSessionConfig::default()
    };
    let mut harness = Harness::new(OpenAiRealtimeConfig::default(), session);
    assert_eq!(harness.link_up(false), [fixture("session_update_semantic_vad")]);
}

#[test]
fn append_commit_create_cancel_output_and_text() {
    let mut harness = ready();
    let chunk =
        AudioChunk::new(vec![0xFF, 0xFF, 0x7E, 0x7D], std::time::Duration::from_micros(500));
    let (frames, _) = harness.command(BackendCommand::AppendAudio(chunk));
    assert_eq!(frames, [fixture("input_audio_buffer_append")]);

    // A commit needs 100 ms on the link: 800 more µ-law bytes.
    let chunk = AudioChunk::new(vec![0xFF; 800], std::time::Duration::from_millis(100));
    harness.command(BackendCommand::AppendAudio(chunk));
    let (frames, _) = harness.command(BackendCommand::Commit { event_id: ClientEventId(3) });
    assert_eq!(frames, [fixture("input_audio_buffer_commit")]);

    let spec = ResponseSpec {
        purpose: Purpose::Greeting,
        instructions: Some("Greet the caller.".to_owned()),
        out_of_band: false,
    };
    let (frames, _) =
        harness.command(BackendCommand::CreateResponse { event_id: ClientEventId(4), spec });
    assert_eq!(frames, [fixture("response_create")]);

    let spec = ResponseSpec { purpose: Purpose::App, instructions: None, out_of_band: true };
    let (frames, _) =
        harness.command(BackendCommand::CreateResponse { event_id: ClientEventId(5), spec });
    assert_eq!(frames, [fixture("response_create_out_of_band")]);

    let (frames, _) = harness.command(BackendCommand::CancelResponse {
        event_id: ClientEventId(6),
        response_id: ResponseId::from("resp_001"),
    });
    assert_eq!(frames, [fixture("response_cancel")]);

    let (frames, _) = harness.command(BackendCommand::FunctionOutput {
        event_id: ClientEventId(8),
        call_id: CallId::from("call_7"),
        output: r#"{"ok":true}"#.to_owned(),
    });
    assert_eq!(frames, [fixture("conversation_item_create_function_call_output")]);

    let (frames, _) = harness.command(BackendCommand::AddUserText {
        event_id: ClientEventId(9),
        text: "Where is my order?".to_owned(),
    });
    assert_eq!(frames, [fixture("conversation_item_create_user_text")]);
}

#[test]
fn truncate_names_the_item_part_zero_and_the_milliseconds() {
    let mut harness = ready();
    harness.server(created("resp_001", Some("tg4")));
    harness.server(message_added("resp_001", "item_009"));
    let two_seconds = STANDARD.encode(vec![0xFFu8; 16_000]);
    harness.server(audio_delta("resp_001", "item_009", &two_seconds));
    let (frames, _) = harness.command(BackendCommand::Truncate {
        event_id: ClientEventId(7),
        item_id: ItemId::from("item_009"),
        audio_end_ms: 1840,
    });
    assert_eq!(frames, [fixture("conversation_item_truncate")]);
}

#[test]
fn reinjected_items_use_the_ga_content_types() {
    let mut harness = ready();
    harness.server(created("resp_001", None));
    harness.server(message_added("resp_001", "item_001"));
    harness.server(json!({"type": "response.output_audio_transcript.done", "response_id": "resp_001",
        "item_id": "item_001", "output_index": 0, "content_index": 0, "transcript": "It ships today."}));
    harness.server(json!({"type": "response.output_item.added", "response_id": "resp_001", "output_index": 1,
        "item": {"id": "item_002", "type": "function_call", "call_id": "call_7", "name": "lookup", "arguments": ""}}));
    harness.server(json!({"type": "response.function_call_arguments.done", "response_id": "resp_001",
        "item_id": "item_002", "output_index": 1, "call_id": "call_7", "arguments": "{\"order\":\"A1\"}"}));
    harness.link_down();
    let frames = harness.link_up(true);
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert_eq!(frames[0]["type"], "session.update");
    assert_eq!(frames[1], fixture("conversation_item_create_assistant_text"));
    assert_eq!(frames[2], fixture("conversation_item_create_function_call"));
}

#[test]
fn server_frames_are_classified_known_unknown_or_corrupt() {
    let known = r#"{"type":"response.created","event_id":"e","response":{"id":"resp_1","metadata":{"turngate_create":"tg5","other":"x"}}}"#;
    assert_eq!(
        classify(known),
        Classified::Known(ServerEvent::ResponseCreated {
            response_id: "resp_1".into(),
            tag: Some("tg5".into()),
        })
    );
    // Fields the server adds later are skipped, not refused.
    let extra = r#"{"type":"response.done","response":{"id":"resp_1","status":"completed","brand_new":{"x":[1,2]}}}"#;
    assert!(matches!(classify(extra), Classified::Known(ServerEvent::ResponseDone { .. })));
    assert_eq!(
        classify(r#"{"type":"rate_limits.updated","rate_limits":[]}"#),
        Classified::Known(ServerEvent::Other)
    );
    // The beta name is not a GA event.
    assert_eq!(
        classify(r#"{"type":"response.audio.delta","delta":"AAAA"}"#),
        Classified::Unknown("response.audio.delta".into())
    );
    assert!(matches!(classify("not json"), Classified::Corrupt(_)));
    assert!(matches!(classify(r#"{"event_id":"no type"}"#), Classified::Corrupt(_)));
    assert!(matches!(
        classify(r#"{"type":"response.done","response":{}}"#),
        Classified::Corrupt(_)
    ));
    assert!(matches!(
        classify(r#"{"type":"response.output_audio.delta","response_id":"r","delta":"AAAA"}"#),
        Classified::Corrupt(_)
    ));
}

#[test]
fn errors_keep_their_code_message_and_event_id() {
    let text = r#"{"type":"error","event_id":"event_9","error":{"type":"invalid_request_error","code":"conversation_already_has_active_response","message":"Conversation already has an active response in progress: resp_2. Wait until the response is finished before creating a new one.","param":null,"event_id":"tg12"}}"#;
    let Classified::Known(ServerEvent::Error { code, message, event_id }) = classify(text) else {
        panic!("an error event");
    };
    assert_eq!(code.as_deref(), Some("conversation_already_has_active_response"));
    assert!(
        message.starts_with("Conversation already has an active response in progress: resp_2.")
    );
    assert_eq!(event_id.as_deref(), Some("tg12"));
}
