//! The wire format against the shapes of the SDK's Live types: every client
//! event as it must be sent, every server event as it is read.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::wire::{
    Append, AppendKind, AudioConfig, AudioFormat, AudioOutput, Classified, ClientEvent, Delegation,
    ResponseItem, ServerEvent, SessionConfig, Target, Voice, classify,
};

fn sent(event: &ClientEvent<'_>) -> Value {
    serde_json::to_value(event).expect("a client event serializes")
}

#[test]
fn session_start_sends_only_what_the_strict_schema_knows() {
    let minimal = SessionConfig {
        model: "gpt-live-1",
        instructions: None,
        audio: AudioConfig { format: AudioFormat::Pcmu { rate: 8000 }, output: None },
        delegation: None,
    };
    assert_eq!(
        sent(&ClientEvent::SessionStart { event_id: "tg-1", session: &minimal }),
        json!({"type": "session.start", "event_id": "tg-1", "session": {
            "model": "gpt-live-1", "audio": {"format": {"type": "audio/pcmu", "rate": 8000}}}})
    );
    let full = SessionConfig {
        model: "gpt-live-1.1",
        instructions: Some("Be brief."),
        audio: AudioConfig {
            format: AudioFormat::Pcm { rate: 24000 },
            output: Some(AudioOutput { voice: Voice::Custom { id: "voice_123" } }),
        },
        delegation: Some(Delegation::Client { acknowledgement_delay_ms: Some(600) }),
    };
    assert_eq!(
        sent(&ClientEvent::SessionStart { event_id: "tg-2", session: &full }),
        json!({"type": "session.start", "event_id": "tg-2", "session": {
            "model": "gpt-live-1.1", "instructions": "Be brief.",
            "audio": {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": {"id": "voice_123"}}},
            "delegation": {"type": "client", "acknowledgement_delay_ms": 600}}})
    );
    let alaw = SessionConfig {
        audio: AudioConfig {
            format: AudioFormat::Pcma { rate: 8000 },
            output: Some(AudioOutput { voice: Voice::BuiltIn("marin") }),
        },
        ..minimal
    };
    assert_eq!(
        sent(&ClientEvent::SessionStart { event_id: "tg-3", session: &alaw })["session"]["audio"],
        json!({"format": {"type": "audio/pcma", "rate": 8000}, "output": {"voice": "marin"}})
    );
}

#[test]
fn appends_always_carry_their_delegation_even_when_null() {
    let session_wide =
        Append { event_id: "s1:7", content: "Greet the caller.", delegation_id: None };
    assert_eq!(
        sent(&ClientEvent::InstructionsAppend(session_wide)),
        json!({"type": "session.instructions.append", "event_id": "s1:7",
            "content": "Greet the caller.", "delegation_id": null})
    );
    let result =
        Append { event_id: "s1:d1:2", content: "It is sunny.", delegation_id: Some("del_1") };
    assert_eq!(
        sent(&ClientEvent::CommentaryAppend(result)),
        json!({"type": "session.commentary.append", "event_id": "s1:d1:2",
            "content": "It is sunny.", "delegation_id": "del_1"})
    );
    let progress =
        Append { event_id: "s1:d1:1", content: "Looking it up.", delegation_id: Some("del_1") };
    assert_eq!(sent(&ClientEvent::ThinkingAppend(progress))["type"], "session.thinking.append");
}

#[test]
fn audio_results_and_close_are_sent_as_documented() {
    assert_eq!(
        sent(&ClientEvent::InputAudioAppend { audio: "AAAA" }),
        json!({"type": "session.input_audio.append", "audio": "AAAA"})
    );
    assert_eq!(
        sent(&ClientEvent::ResponseItemCreate {
            event_id: "e9",
            item: ResponseItem::FunctionCallOutput { call_id: "call_1", output: "{\"ok\":true}" },
        }),
        json!({"type": "response.item.create", "event_id": "e9",
            "item": {"type": "function_call_output", "call_id": "call_1", "output": "{\"ok\":true}"}})
    );
    assert_eq!(
        sent(&ClientEvent::ResponseCreate { event_id: "e10" }),
        json!({"type": "response.create", "event_id": "e10"})
    );
    assert_eq!(
        sent(&ClientEvent::SessionClose { event_id: "e11" }),
        json!({"type": "session.close", "event_id": "e11"})
    );
}

fn known(text: &str) -> ServerEvent<'_> {
    match classify(text) {
        Classified::Known(event) => event,
        other => panic!("{text}: {other:?}"),
    }
}

fn b(text: &str) -> Cow<'_, str> {
    Cow::Borrowed(text)
}

#[test]
fn each_server_event_is_read_with_what_it_needs() {
    let cases: Vec<(&str, ServerEvent<'_>)> = vec![
        (
            r#"{"type":"session.started","event_id":"ev_1","client_event_id":"tg-1","session":{"id":"live_abc","object":"live.session","model":"gpt-live-1","status":"active","expires_at":1796328000,"audio":{"format":{"type":"audio/pcmu","rate":8000}}}}"#,
            ServerEvent::SessionStarted {
                client_event_id: Some(b("tg-1")),
                session_id: b("live_abc"),
                expires_at: 1_796_328_000,
            },
        ),
        (
            r#"{"type":"session.output_audio.delta","delta":"//8A"}"#,
            ServerEvent::OutputAudio { delta: b("//8A") },
        ),
        (
            r#"{"type":"session.input_transcript.delta","event_id":"ev_2","delta":" What's","start_ms":1200,"end_ms":1400}"#,
            ServerEvent::InputTranscript { delta: b(" What's"), start_ms: 1200, end_ms: 1400 },
        ),
        (
            r#"{"type":"session.output_transcript.delta","event_id":"ev_3","delta":" Sure","start_ms":1600,"end_ms":1800}"#,
            ServerEvent::OutputTranscript { delta: b(" Sure"), start_ms: 1600, end_ms: 1800 },
        ),
        (
            r#"{"type":"session.commentary.appended","event_id":"ev_4","client_event_id":"s1:d1:2","start_ms":5000,"end_ms":5200}"#,
            ServerEvent::Appended {
                kind: AppendKind::Commentary,
                client_event_id: Some(b("s1:d1:2")),
            },
        ),
        (
            r#"{"type":"session.instructions.appended","event_id":"ev_5","start_ms":0,"end_ms":10}"#,
            ServerEvent::Appended { kind: AppendKind::Instructions, client_event_id: None },
        ),
        (
            r#"{"type":"session.thinking.appended","event_id":"ev_6","client_event_id":"x","start_ms":0,"end_ms":10}"#,
            ServerEvent::Appended { kind: AppendKind::Thinking, client_event_id: Some(b("x")) },
        ),
        (
            r#"{"type":"session.delegation.created","event_id":"ev_7","offset_ms":4200,"delegation":{"id":"del_1","type":"delegation","target":"client"}}"#,
            ServerEvent::DelegationCreated {
                delegation_id: b("del_1"),
                target: Target::Client,
                offset_ms: 4200,
            },
        ),
        (
            r#"{"type":"response.event","event_id":"ev_8","delegation_id":"del_2","event":{"type":"response.output_item.done","output_index":1,"item":{"type":"function_call","id":"fc_1","status":"completed","call_id":"call_1","name":"lookup","arguments":"{\"q\":\"x\"}"}}}"#,
            ServerEvent::FunctionCall {
                delegation_id: Some(b("del_2")),
                call_id: b("call_1"),
                name: b("lookup"),
                arguments: b(r#"{"q":"x"}"#),
            },
        ),
        (
            r#"{"type":"response.event","event_id":"ev_9","event":{"type":"response.output_item.done","item":{"type":"reasoning","id":"rs_1","summary":[]}}}"#,
            ServerEvent::Other,
        ),
        (
            r#"{"type":"response.event","event_id":"ev_10","delegation_id":null,"event":{"type":"response.completed","response":{"id":"resp_1","output":[]}}}"#,
            ServerEvent::BackendResponseDone { delegation_id: None },
        ),
        (
            r#"{"type":"error","event_id":"ev_11","error":{"type":"invalid_request_error","code":"invalid_value","message":"Context append text must not exceed 500 tokens.","param":"content","client_event_id":"s1:9"}}"#,
            ServerEvent::Error {
                kind: Some(b("invalid_request_error")),
                code: Some(b("invalid_value")),
                message: b("Context append text must not exceed 500 tokens."),
                param: Some(b("content")),
                client_event_id: Some(b("s1:9")),
            },
        ),
        (
            r#"{"type":"session.closed","event_id":"ev_12","reason":"expired","session":{"id":"live_abc","status":"active","expires_at":1},"usage":{"seconds":7200}}"#,
            ServerEvent::SessionClosed { reason: b("expired") },
        ),
        (
            r#"{"type":"session.usage.updated","event_id":"ev_13","usage":{"seconds":15}}"#,
            ServerEvent::Other,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(known(text), expected, "{text}");
    }
}

#[test]
fn a_function_call_not_yet_completed_is_not_run() {
    let text = r#"{"type":"response.event","event":{"type":"response.output_item.done","item":{"type":"function_call","status":"in_progress","call_id":"c","name":"n","arguments":"{}"}}}"#;
    assert_eq!(known(text), ServerEvent::Other);
}

#[test]
fn unknown_types_are_counted_and_broken_frames_named() {
    assert_eq!(
        classify(r#"{"type":"session.something_new","x":1}"#),
        Classified::Unknown(b("session.something_new"))
    );
    for broken in [
        "not json",
        r#"{"no_type":1}"#,
        r#"{"type":"session.started","session":{"id":"live_1"}}"#,
        r#"{"type":"session.input_transcript.delta","delta":"x"}"#,
        r#"{"type":"session.delegation.created","delegation":{"id":"d","target":"elsewhere"},"offset_ms":1}"#,
        r#"{"type":"session.delegation.created","delegation":{"target":"client"},"offset_ms":1}"#,
        r#"{"type":"session.closed"}"#,
        r#"{"type":"error"}"#,
        r#"{"type":"response.event","event":{}}"#,
    ] {
        assert!(matches!(classify(broken), Classified::Corrupt(_)), "{broken}");
    }
}
