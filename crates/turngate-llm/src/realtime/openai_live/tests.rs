//! The wire format against the shapes of the SDK's Live types: every client
//! event as it must be sent, every server event as it is read.

mod fuzz;
mod protocol;
mod responses;

use std::borrow::Cow;

use serde_json::{Value, json};

use super::wire::{
    Append, AppendKind, AudioConfig, AudioFormat, AudioOutput, Classified, ClientEvent, Delegation,
    InitialItem, ResponseItem, ServerEvent, SessionConfig, Target, Voice, classify,
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
        input: Vec::new(),
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
        input: vec![InitialItem::user("Where is my order?"), InitialItem::assistant("On its way.")],
    };
    assert_eq!(
        sent(&ClientEvent::SessionStart { event_id: "tg-2", session: &full }),
        json!({"type": "session.start", "event_id": "tg-2", "session": {
            "model": "gpt-live-1.1", "instructions": "Be brief.",
            "audio": {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": {"id": "voice_123"}}},
            "delegation": {"type": "client", "acknowledgement_delay_ms": 600},
            "input": [
                {"role": "user",
                 "content": [{"type": "input_text", "text": "Where is my order?"}]},
                {"role": "assistant",
                 "content": [{"type": "output_text", "text": "On its way."}]}]}})
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
                response_id: None,
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
            ServerEvent::BackendResponseDone {
                delegation_id: None,
                response_id: Some(b("resp_1")),
            },
        ),
        (
            r#"{"type":"session.delegation.created","event_id":"ev_11","offset_ms":900,"delegation":{"id":"del_3","type":"delegation","target":"responses","response_id":"resp_2"}}"#,
            ServerEvent::DelegationCreated {
                delegation_id: b("del_3"),
                target: Target::Responses,
                offset_ms: 900,
                response_id: Some(b("resp_2")),
            },
        ),
        (
            r#"{"type":"response.event","event_id":"ev_12","delegation_id":"del_3","event":{"type":"response.created","sequence_number":0,"response":{"id":"resp_2","object":"response","status":"in_progress","output":[]}}}"#,
            ServerEvent::BackendResponseStarted { response_id: b("resp_2") },
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

// ---- The append outbox -------------------------------------------------------

use super::appends::{AppendOutbox, AppendRequest, Outcome, estimated_tokens, pieces};

/// Runs a script against a fresh outbox (tag `s`) and compares the trace.
/// Steps: `push <kind> <text>` (kind `i`, `t` or `c`; `c@d1` names
/// delegation d1), `send` (everything that may go), `ack <id>`,
/// `fail <id> <code|->`, `fixture`, `fixture-done`, `lost`.
fn check(script: &str, expected: &str) {
    let mut outbox = AppendOutbox::new("s");
    let mut trace = Vec::new();
    for step in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (verb, rest) = step.split_once(' ').unwrap_or((step, ""));
        match verb {
            "push" => {
                let (kind, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let (kind, delegation_id) = match kind.split_once('@') {
                    Some((kind, delegation)) => (kind, Some(delegation.to_owned())),
                    None => (kind, None),
                };
                let kind = match kind {
                    "i" => AppendKind::Instructions,
                    "t" => AppendKind::Thinking,
                    "c" => AppendKind::Commentary,
                    other => panic!("kind {other}"),
                };
                let ids =
                    outbox.push(AppendRequest { kind, content: text.to_owned(), delegation_id });
                trace.push(format!("queued {}", ids.join(",")));
            }
            "send" => {
                while let Some(out) = outbox.next_to_send() {
                    let delegation = out.delegation_id.map(|d| format!("@{d}")).unwrap_or_default();
                    trace.push(format!(
                        "sent {} {:?}{delegation} {}",
                        out.event_id, out.kind, out.content
                    ));
                }
            }
            "ack" => trace.push(format!("{:?}", outbox.acknowledged(rest))),
            "fail" => {
                let (id, code) = rest.split_once(' ').unwrap_or((rest, "-"));
                let code = (code != "-").then_some(code);
                trace.push(format!("{:?}", outbox.failed(id, code, "refused")));
            }
            "fixture" => outbox.fixture_started(),
            "fixture-done" => outbox.fixture_ended(),
            "lost" => trace.push(format!("{:?}", outbox.session_lost())),
            other => panic!("step {other}"),
        }
    }
    let expected: Vec<&str> =
        expected.split(';').map(str::trim).filter(|s| !s.is_empty()).collect();
    assert_eq!(trace, expected, "script: {script}");
}

#[test]
fn appends_go_once_in_order_and_are_matched_by_their_ids() {
    check(
        "push i Greet.; push c@d1 Sunny.; send; ack s:2; ack s:1; ack s:1",
        r#"queued s:1; queued s:2;
           sent s:1 Instructions Greet.; sent s:2 Commentary@d1 Sunny.;
           Some(Placed { event_id: "s:2" }); Some(Placed { event_id: "s:1" }); None"#,
    );
}

#[test]
fn a_slow_ack_never_causes_a_second_send() {
    check("push t Working.; send; send; send", "queued s:1; sent s:1 Thinking Working.");
}

#[test]
fn only_an_error_naming_the_append_sends_it_again_and_only_if_it_can_help() {
    check(
        "push c Hello.; send; fail s:1 -; send; fail s:2 -; send; fail s:3 -; send",
        r#"queued s:1; sent s:1 Commentary Hello.;
           Some(Retried { event_id: "s:1", retry_id: "s:2" }); sent s:2 Commentary Hello.;
           Some(Retried { event_id: "s:2", retry_id: "s:3" }); sent s:3 Commentary Hello.;
           Some(Rejected { event_id: "s:3", code: None, message: "refused" })"#,
    );
    check(
        "push c Hello.; send; fail s:1 invalid_value; send; fail s:9 -",
        r#"queued s:1; sent s:1 Commentary Hello.;
           Some(Rejected { event_id: "s:1", code: Some("invalid_value"), message: "refused" }); None"#,
    );
    // A retried append keeps its place: ahead of what was queued after it.
    check(
        "push c One.; send; push c Two.; fail s:1 -; send",
        r#"queued s:1; sent s:1 Commentary One.; queued s:2;
           Some(Retried { event_id: "s:1", retry_id: "s:3" });
           sent s:3 Commentary One.; sent s:2 Commentary Two."#,
    );
}

#[test]
fn a_piece_overtaken_by_the_rest_of_its_text_is_refused_not_sent_again() {
    let mut outbox = AppendOutbox::new("s");
    let text = "A fairly long sentence about the order status. ".repeat(80);
    let ids = outbox.push(AppendRequest {
        kind: AppendKind::Commentary,
        content: text,
        delegation_id: Some("d1".to_owned()),
    });
    assert!(ids.len() > 1);
    while outbox.next_to_send().is_some() {}
    let outcome = outbox.failed(&ids[0], Some("server_error"), "try again");
    assert!(matches!(outcome, Some(Outcome::Rejected { ref event_id, .. }) if *event_id == ids[0]));
    assert!(outbox.next_to_send().is_none(), "nothing goes out of order");
}

#[test]
fn appends_wait_while_a_fixture_plays() {
    check(
        "fixture; push i Disclose.; send; fixture-done; send",
        "queued s:1; sent s:1 Instructions Disclose.",
    );
}

#[test]
fn a_lost_session_drops_everything_unplaced_and_replays_nothing() {
    check(
        "push c A.; push c B.; send; ack s:1; push c C.; lost; send",
        r#"queued s:1; queued s:2; sent s:1 Commentary A.; sent s:2 Commentary B.;
           Some(Placed { event_id: "s:1" }); queued s:3;
           [Dropped { event_id: "s:2" }, Dropped { event_id: "s:3" }]"#,
    );
}

#[test]
fn long_text_is_split_on_sentences_under_the_limit_and_joins_back() {
    let sentence = "The account shows three payments this month. ";
    let text = sentence.repeat(60);
    let parts = pieces(&text, 450);
    assert!(parts.len() > 1);
    assert_eq!(parts.concat(), text);
    for part in &parts {
        assert!(estimated_tokens(part) <= 450, "{} tokens", estimated_tokens(part));
        assert!(part.ends_with(". "), "split inside a sentence: {part:?}");
    }
    // One sentence longer than the limit is split between words.
    let long = "word ".repeat(400);
    let parts = pieces(&long, 100);
    assert_eq!(parts.concat(), long);
    assert!(parts.iter().all(|p| estimated_tokens(p) <= 100 && p.ends_with(' ')));
    // One word longer than the limit is split between characters.
    let word = "é".repeat(1000);
    let parts = pieces(&word, 100);
    assert_eq!(parts.concat(), word);
    assert!(parts.iter().all(|p| estimated_tokens(p) <= 100));
    assert_eq!(pieces("", 450), [""]);
    assert_eq!(pieces("Short.", 450), ["Short."]);
}

#[test]
fn the_pieces_of_one_request_go_back_to_back() {
    let mut outbox = AppendOutbox::new("call-7:1");
    let text = "A fairly long sentence about the order status. ".repeat(80);
    let first = outbox.push(AppendRequest {
        kind: AppendKind::Commentary,
        content: text.clone(),
        delegation_id: Some("d1".to_owned()),
    });
    let second = outbox.push(AppendRequest {
        kind: AppendKind::Thinking,
        content: "Next.".to_owned(),
        delegation_id: None,
    });
    assert!(first.len() > 1);
    let mut sent = Vec::new();
    while let Some(out) = outbox.next_to_send() {
        sent.push(out);
    }
    let ids: Vec<&str> = sent.iter().map(|o| o.event_id.as_str()).collect();
    let expected: Vec<&str> = first.iter().chain(&second).map(String::as_str).collect();
    assert_eq!(ids, expected);
    let joined: String = sent.iter().take(first.len()).map(|o| o.content.as_str()).collect();
    assert_eq!(joined, text);
    assert!(sent.iter().take(first.len()).all(|o| o.delegation_id.as_deref() == Some("d1")));
    assert!(ids.iter().all(|id| id.starts_with("call-7:1:")));
}

// ---- The silence feed ----------------------------------------------------------

use std::time::{Duration, Instant};

use super::silence::{FRAME, SilenceFeed};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_carrier_on_time_needs_no_silence() {
    let t0 = Instant::now();
    let mut feed = SilenceFeed::new(ms(60), 50);
    assert_eq!(feed.due(t0 + ms(500)), 0, "nothing before the session starts");
    assert_eq!(feed.next_due(), None);
    feed.start(t0);
    for n in 0..50 {
        // Frames 20 ms apart, each up to 18 ms late.
        let at = t0 + ms(20 * n + (n % 3) * 9);
        feed.audio_sent(at, FRAME);
        assert_eq!(feed.due(at), 0, "frame {n}");
    }
}

#[test]
fn a_silent_carrier_is_replaced_frame_for_frame() {
    let t0 = Instant::now();
    let mut feed = SilenceFeed::new(ms(60), 50);
    feed.start(t0);
    feed.audio_sent(t0, ms(100));
    assert_eq!(feed.next_due(), Some(t0 + ms(160)));
    assert_eq!(feed.due(t0 + ms(159)), 0, "within the grace");
    // At 160 ms the timeline is covered to 100 ms: three frames bring it
    // to 160 ms.
    assert_eq!(feed.due(t0 + ms(160)), 3);
    assert_eq!(feed.due(t0 + ms(170)), 0);
    // Held for a second: the feed keeps up, a frame at a time on average.
    let mut sent = 3;
    let mut at = t0 + ms(160);
    while at < t0 + ms(1160) {
        at += ms(20);
        sent += feed.due(at);
    }
    assert!((50..=54).contains(&sent), "{sent} frames for about 1.1 s of silence");
    // The carrier comes back: its audio continues the timeline.
    feed.audio_sent(at, FRAME);
    assert_eq!(feed.due(at + ms(10)), 0);
}

#[test]
fn a_stall_longer_than_a_burst_is_skipped_not_filled() {
    let t0 = Instant::now();
    let mut feed = SilenceFeed::new(ms(60), 50);
    feed.start(t0);
    assert_eq!(feed.due(t0 + ms(10_000)), 50);
    assert_eq!(feed.due(t0 + ms(10_000)), 0, "the rest of the gap is not sent");
    feed.stop();
    assert_eq!(feed.due(t0 + ms(20_000)), 0);
}

// ---- Delegations ---------------------------------------------------------------

use super::delegations::{Delegations, Route, Seen};

#[test]
fn a_delegation_seen_twice_is_acted_on_once_and_answered_once() {
    let mut delegations = Delegations::new();
    assert_eq!(delegations.created("del_1", 4200), Seen::New);
    assert_eq!(delegations.created("del_1", 4200), Seen::Duplicate);
    assert!(delegations.is_open("del_1"));
    assert_eq!(delegations.result("del_1"), Route::Commentary);
    assert!(!delegations.is_open("del_1"));
    assert_eq!(delegations.result("del_1"), Route::Refused("the delegation was already answered"));
    assert_eq!(delegations.created("del_1", 4200), Seen::Duplicate, "still remembered");
}

#[test]
fn a_result_for_a_delegation_this_session_never_announced_is_refused() {
    let mut old = Delegations::new();
    assert_eq!(old.created("del_old", 100), Seen::New);
    // The session was lost; the new one knows nothing of the old ids.
    let mut new = Delegations::new();
    assert_eq!(new.result("del_old"), Route::Refused("this session announced no such delegation"));
}

#[test]
fn a_result_after_the_caller_moved_on_goes_back_silently() {
    let cases: &[(&[(u64, &str)], Route)] = &[
        // Nothing said since: spoken.
        (&[], Route::Commentary),
        // The words of the request, transcribed after the delegation.
        (&[(4000, " what's the weather"), (4600, " in Paris")], Route::Commentary),
        // A short acknowledgement after it: still current.
        (&[(6000, " okay")], Route::Commentary),
        // The caller changed the subject.
        (&[(6000, " actually never mind,"), (6400, " book a table")], Route::Thinking),
        // Enough words exactly at the settle boundary count.
        (&[(4900, " one two three")], Route::Thinking),
    ];
    for (said, expected) in cases {
        let mut delegations = Delegations::new();
        assert_eq!(delegations.created("d", 4200), Seen::New);
        for (start, text) in *said {
            delegations.caller_said(*start, text);
        }
        assert_eq!(&delegations.result("d"), expected, "{said:?}");
    }
}

#[test]
fn each_open_delegation_is_judged_from_its_own_offset() {
    let mut delegations = Delegations::new();
    assert_eq!(delegations.created("early", 1000), Seen::New);
    delegations.caller_said(3000, " and also my balance please");
    assert_eq!(delegations.created("late", 3500), Seen::New);
    assert_eq!(delegations.result("late"), Route::Commentary, "those words were its request");
    assert_eq!(delegations.result("early"), Route::Thinking, "the caller moved on from it");
}

// ---- Robustness ----------------------------------------------------------------

/// Every documented frame, cut and with bytes flipped, classifies without
/// panicking; the text pieces of any input join back to it under the limit.
#[test]
fn mangled_frames_and_odd_text_never_panic() {
    let frames = [
        r#"{"type":"session.started","event_id":"ev_1","client_event_id":"tg-1","session":{"id":"live_abc","status":"active","expires_at":1796328000}}"#,
        r#"{"type":"session.delegation.created","event_id":"ev_7","offset_ms":4200,"delegation":{"id":"del_1","type":"delegation","target":"client"}}"#,
        r#"{"type":"response.event","delegation_id":"d","event":{"type":"response.output_item.done","item":{"type":"function_call","status":"completed","call_id":"c","name":"n","arguments":"{}"}}}"#,
        r#"{"type":"error","event_id":"ev_11","error":{"type":"invalid_request_error","code":"invalid_value","message":"m","param":"content","client_event_id":"s1:9"}}"#,
        r#"{"type":"session.input_transcript.delta","delta":" hi","start_ms":1,"end_ms":2}"#,
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for frame in frames {
        let bytes = frame.as_bytes();
        for _ in 0..2000 {
            let mut mangled = bytes.to_vec();
            let cut = (next() as usize) % (mangled.len() + 1);
            mangled.truncate(cut.max(1));
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % mangled.len();
                if let Some(byte) = mangled.get_mut(at) {
                    *byte = (next() & 0x7f) as u8;
                }
            }
            if let Ok(text) = std::str::from_utf8(&mangled) {
                let _ = classify(text);
                for limit in [1, 7, 450] {
                    let parts = pieces(text, limit);
                    assert_eq!(parts.concat(), text);
                    assert!(
                        parts.iter().all(|p| estimated_tokens(p) <= limit),
                        "{text:?} at {limit}"
                    );
                }
            }
        }
    }
}
