//! VoiceAI Connect's side without IO: the session handshake, play streams,
//! VAIC's barge-in and the bot's breaches.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::harness::{Harness, audiocodes, has_violation, ms};
use crate::callers::audiocodes::{AudioCodes, check_validated};
use crate::callers::config::{AudioCodesOptions, Step};
use crate::callers::report::{CallerEvent, Party};

fn pcm(ms_of_audio: usize) -> String {
    STANDARD.encode(vec![0u8; ms_of_audio * 32])
}

/// A call past the handshake, in `raw/lpcm16`, at t = 20 ms.
fn streaming(script: Vec<Step>, options: AudioCodesOptions) -> Harness<AudioCodes> {
    let mut h = audiocodes(script, options);
    h.open(0);
    h.bot(10, &json!({"type": "session.accepted", "mediaFormat": "raw/lpcm16"}));
    h.bot(20, &json!({"type": "userStream.started"}));
    h.new_messages();
    h
}

#[test]
fn the_handshake_comes_before_any_audio() {
    let mut h = audiocodes(vec![Step::Silence { ms: 1000 }], AudioCodesOptions::default());
    h.open(0);
    let initiate = h.new_messages();
    assert_eq!(
        initiate,
        [json!({
            "type": "session.initiate",
            "conversationId": "call-1",
            "botName": "turngate",
            "caller": "+15550001",
            "expectAudioMessages": true,
            "supportedMediaFormats": ["raw/mulaw", "raw/lpcm16"],
        })]
    );
    h.ticks(0, 100);
    assert!(h.new_messages().is_empty(), "no audio before session.accepted");
    h.bot(110, &json!({"type": "session.accepted", "mediaFormat": "raw/lpcm16"}));
    let after = h.new_messages();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0]["type"], "activities");
    assert_eq!(after[0]["conversationId"], "call-1");
    assert_eq!(after[0]["activities"][0]["type"], "event");
    assert_eq!(after[0]["activities"][0]["name"], "start");
    assert_eq!(
        after[0]["activities"][0]["parameters"],
        json!({"caller": "+15550001", "callee": "+15550002"})
    );
    assert_eq!(after[1], json!({"type": "userStream.start", "conversationId": "call-1"}));
    h.ticks(120, 200);
    assert!(h.new_messages().is_empty(), "no audio before userStream.started");
    h.bot(210, &json!({"type": "userStream.started"}));
    h.ticks(220, 260);
    let chunks = h.new_of("type", "userStream.chunk");
    assert_eq!(chunks.len(), 3);
    for chunk in &chunks {
        assert_eq!(chunk["conversationId"], "call-1");
        let audio = STANDARD.decode(chunk["audioChunk"].as_str().unwrap()).unwrap();
        assert_eq!(audio.len(), 640, "20 ms of 16 kHz PCM16");
    }
    let report = h.finish(300);
    assert_eq!(report.setup, Some(ms(110)), "setup ends at session.accepted");
    assert!(report.is_clean(), "{report}");
}

#[test]
fn an_unoffered_format_ends_the_call() {
    let mut h = audiocodes(vec![Step::Silence { ms: 1000 }], AudioCodesOptions::default());
    h.open(0);
    h.bot(10, &json!({"type": "session.accepted", "mediaFormat": "raw/lpcm16_24"}));
    assert!(h.closed);
    let report = h.finish(20);
    assert!(
        has_violation(&report, "mediaFormat `raw/lpcm16_24`, which was not offered"),
        "{report}"
    );
    assert_eq!(report.hung_up_by, Some(Party::Caller));
}

#[test]
fn no_answer_to_session_initiate_ends_the_call_at_the_timeout() {
    let options = AudioCodesOptions { answer_timeout: ms(300), ..AudioCodesOptions::default() };
    let mut h = audiocodes(vec![Step::Silence { ms: 1000 }], options);
    h.open(0);
    assert_eq!(h.call.next_deadline(), Some(ms(300)));
    h.poll(299);
    assert!(!h.closed);
    h.poll(300);
    assert!(h.closed);
    let report = h.finish(300);
    assert!(has_violation(&report, "no session.accepted within 300 ms"), "{report}");
}

#[test]
fn play_streams_follow_the_one_at_a_time_rule() {
    let mut h = streaming(vec![Step::Silence { ms: 10_000 }], AudioCodesOptions::default());
    h.bot(30, &json!({"type": "playStream.chunk", "streamId": "a", "audioChunk": pcm(20)}));
    h.bot(40, &json!({"type": "playStream.start", "streamId": "a", "mediaFormat": "raw/lpcm16"}));
    h.bot(50, &json!({"type": "playStream.chunk", "streamId": "a", "audioChunk": pcm(100)}));
    h.bot(60, &json!({"type": "playStream.start", "streamId": "b"}));
    h.bot(70, &json!({"type": "playStream.chunk", "streamId": "a", "audioChunk": pcm(20)}));
    h.bot(80, &json!({"type": "playStream.chunk", "streamId": "b", "audioChunk": STANDARD.encode([0u8; 3])}),
    );
    h.bot(90, &json!({"type": "playStream.stop", "streamId": "b"}));
    h.bot(95, &json!({"type": "playStream.stop", "streamId": "b"}));
    h.bot(100, &json!({"type": "playStream.start", "streamId": "c", "mediaFormat": "raw/mulaw"}));
    let report = h.finish(1000);
    for needle in [
        "playStream.chunk for `a` with no active play stream",
        "playStream.start `b` while play stream `a` is active",
        "playStream.chunk for `a` while `b` is the active stream",
        "playStream.chunk of 3 bytes is not whole 16-bit samples",
        "playStream.stop for `b` with no active play stream",
        "playStream.start in `raw/mulaw`, not the session's mediaFormat",
    ] {
        assert!(has_violation(&report, needle), "missing {needle:?} in {:#?}", report.violations);
    }
    assert_eq!(report.violations.len(), 6, "{:#?}", report.violations);
    assert_eq!(report.agent_audio_received, ms(100), "only the chunk inside its stream plays");
}

#[test]
fn speech_from_the_bot_while_audio_plays_is_vaic_barge_in() {
    let mut h = streaming(vec![Step::Silence { ms: 10_000 }], AudioCodesOptions::default());
    h.bot(30, &json!({"type": "userStream.speech.started"}));
    h.bot(40, &json!({"type": "playStream.start", "streamId": "p1"}));
    h.bot(50, &json!({"type": "playStream.chunk", "streamId": "p1", "audioChunk": pcm(1000)}));
    h.bot(
        250,
        &json!({"type": "userStream.speech.hypothesis", "alternatives": [{"text": "wait"}]}),
    );
    let report = h.finish(2000);
    assert_eq!(report.clears, 1, "speech while nothing plays clears nothing");
    assert_eq!(report.agent_audio, ms(200));
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_hangup_activity_is_the_bot_hanging_up() {
    let mut h =
        streaming(vec![Step::SilentUntilHangup { max_ms: 5000 }], AudioCodesOptions::default());
    h.ticks(20, 100);
    h.bot(110, &json!({"type": "activities", "activities": [{"type": "event", "name": "hangup", "activityParams": {"hangupReason": "done"}}]}),
    );
    assert!(h.closed);
    let report = h.finish(120);
    assert!(report.bot_hung_up);
    assert!(report.is_clean(), "{report}");
    assert!(
        report
            .timeline
            .iter()
            .any(|(_, e)| *e == CallerEvent::BotActivity { name: "hangup".to_owned() })
    );
}

#[test]
fn hanging_up_stops_the_user_stream_first() {
    let mut h =
        streaming(vec![Step::Silence { ms: 40 }, Step::HangUp], AudioCodesOptions::default());
    h.ticks(20, 100);
    let sent = h.new_messages();
    assert_eq!(
        sent.last().unwrap(),
        &json!({"type": "userStream.stop", "conversationId": "call-1"})
    );
    assert!(!h.closed, "waiting for userStream.stopped");
    h.ticks(120, 200);
    assert!(h.new_of("type", "userStream.chunk").is_empty(), "no audio after userStream.stop");
    h.bot(210, &json!({"type": "userStream.stopped"}));
    let end = h.new_messages();
    assert_eq!(
        end,
        [
            json!({"type": "session.end", "conversationId": "call-1", "reasonCode": "client-disconnected", "reason": "Client Side"})
        ]
    );
    assert!(h.closed);
    assert!(h.finish(220).is_clean());
}

#[test]
fn a_missing_user_stream_stopped_is_a_violation() {
    // With the default five-second answer timeout: the caller's own grace
    // for closing must not cut the wait short.
    let mut h = streaming(vec![Step::HangUp], AudioCodesOptions::default());
    h.tick(20);
    h.new_messages();
    h.poll(3100);
    assert!(!h.closed, "still waiting for userStream.stopped");
    h.poll(5019);
    assert!(!h.closed);
    h.poll(5020);
    assert_eq!(h.new_messages()[0]["type"], "session.end");
    assert!(h.closed);
    assert!(has_violation(&h.finish(5020), "no userStream.stopped within 5000 ms"));
}

#[test]
fn unknown_messages_fields_and_early_messages_are_violations() {
    let mut h = audiocodes(vec![Step::Silence { ms: 10_000 }], AudioCodesOptions::default());
    h.open(0);
    h.bot(5, &json!({"type": "playStream.start", "streamId": "early"}));
    h.bot(10, &json!({"type": "session.accepted", "mediaFormat": "raw/mulaw", "conversationId": "call-1"}));
    h.bot(20, &json!({"type": "userStream.started", "streamId": "x"}));
    h.bot(30, &json!({"type": "userStream.started"}));
    h.bot(40, &json!({"type": "session.ping"}));
    h.bot(50, &json!({"type": "playStream.chunk", "streamId": "x"}));
    h.bot(60, &json!({"type": "userStream.speech.stopped", "conversationId": "other"}));
    h.bot(70, &json!({"type": "activities", "activities": [{"type": "event", "name": "explode"}]}));
    h.bot(80, &json!({"type": "userStream.started"}));
    h.bot_binary(90, 4);
    let report = h.finish(100);
    for needle in [
        "`playStream.start` before session.accepted",
        "`userStream.started` with an unexpected field `streamId`",
        "unknown message type `session.ping`",
        "`playStream.chunk` without the required field `audioChunk`",
        "for conversationId `other`, not this conversation's",
        "unknown event activity `explode`",
        "userStream.started without a pending userStream.start",
        "a binary frame (4 bytes)",
    ] {
        assert!(has_violation(&report, needle), "missing {needle:?} in {:#?}", report.violations);
    }
    assert_eq!(report.violations.len(), 8, "{:#?}", report.violations);
}

#[test]
fn audio_far_ahead_of_playback_is_a_violation() {
    let options = AudioCodesOptions { max_ahead: Some(ms(2000)), ..AudioCodesOptions::default() };
    let mut h = streaming(vec![Step::Silence { ms: 10_000 }], options);
    h.bot(30, &json!({"type": "playStream.start", "streamId": "p"}));
    h.bot(30, &json!({"type": "playStream.chunk", "streamId": "p", "audioChunk": pcm(1500)}));
    assert!(h.finish(40).is_clean());

    let options = AudioCodesOptions { max_ahead: Some(ms(2000)), ..AudioCodesOptions::default() };
    let mut h = streaming(vec![Step::Silence { ms: 10_000 }], options);
    h.bot(30, &json!({"type": "playStream.start", "streamId": "p"}));
    for _ in 0..3 {
        h.bot(30, &json!({"type": "playStream.chunk", "streamId": "p", "audioChunk": pcm(1000)}));
    }
    assert!(has_violation(&h.finish(40), "ran more than 2000 ms ahead of playback"));
}

#[test]
fn a_validation_answer_must_be_exactly_connection_validated() {
    assert_eq!(check_validated(r#"{"type":"connection.validated","success":true}"#), Ok(()));
    for (answer, reason) in [
        (r#"{"type":"connection.validated","success":false}"#, "without success: true"),
        (r#"{"type":"connection.validated"}"#, "without success: true"),
        (
            r#"{"type":"session.accepted","mediaFormat":"raw/mulaw"}"#,
            "`session.accepted` in answer",
        ),
        (
            r#"{"type":"connection.validated","success":true,"reason":"ok"}"#,
            "unexpected field `reason`",
        ),
        (
            r#"{"type":"connection.validated","success":true,"conversationId":"c"}"#,
            "unexpected field `conversationId`",
        ),
        (r#"{"type":"connection.validated","success":"yes"}"#, "breaks the Bot API schema"),
    ] {
        let error = check_validated(answer).unwrap_err();
        assert!(error.contains(reason), "{answer}: {error}");
    }
}

#[test]
fn connection_validated_inside_a_call_is_a_violation() {
    let mut h = streaming(vec![Step::Silence { ms: 1000 }], AudioCodesOptions::default());
    h.bot(30, &json!({"type": "connection.validated", "success": true}));
    assert!(has_violation(&h.finish(40), "connection.validated in a call"));
}

#[test]
fn a_key_press_is_a_dtmf_activity() {
    let mut h =
        streaming(vec![Step::Dtmf('3'), Step::Silence { ms: 20 }], AudioCodesOptions::default());
    h.tick(20);
    let activities = h.new_of("type", "activities");
    assert_eq!(activities.len(), 1);
    let dtmf = &activities[0]["activities"][0];
    assert_eq!(
        (dtmf["type"].as_str(), dtmf["name"].as_str(), dtmf["value"].as_str()),
        (Some("event"), Some("dtmf"), Some("3"))
    );
}

/// A reconnect step: the socket drops while the agent speaks, and the
/// carrier resumes on a new one after the gap; the bot must accept in the
/// call's format and start a new play stream.
#[test]
fn a_dropped_line_comes_back_with_session_resume() {
    let script = vec![
        Step::Reconnect { after_agent_ms: 200, gap_ms: 300 },
        Step::Silence { ms: 100 },
        Step::HangUp,
    ];
    let mut h = streaming(script, AudioCodesOptions::default());
    h.bot(30, &json!({"type": "playStream.start", "streamId": "s1", "mediaFormat": "raw/lpcm16"}));
    h.bot(30, &json!({"type": "playStream.chunk", "streamId": "s1", "audioChunk": pcm(500)}));
    let mut at = 40;
    while !h.dropped {
        assert!(at <= 400, "the line never dropped");
        h.tick(at);
        at += 20;
    }
    h.new_messages();
    // Ticks while the line is down send nothing; the gap ends by the clock.
    h.ticks(at, at + 200);
    assert!(h.new_messages().is_empty(), "nothing goes out on a dropped line");
    assert!(!h.wants_socket());
    h.poll(at + 300);
    assert!(h.wants_socket());
    h.reopen(at + 310);
    assert_eq!(h.new_messages(), [json!({"type": "session.resume", "conversationId": "call-1"})]);
    // Only the answer to the resume may come first.
    h.bot(at + 320, &json!({"type": "session.accepted", "mediaFormat": "raw/lpcm16"}));
    assert_eq!(h.new_messages(), [json!({"type": "userStream.start", "conversationId": "call-1"})]);
    h.bot(at + 330, &json!({"type": "userStream.started"}));
    // The old play stream went with the old socket.
    h.bot(at + 340, &json!({"type": "playStream.chunk", "streamId": "s1", "audioChunk": pcm(20)}));
    h.bot(
        at + 350,
        &json!({"type": "playStream.start", "streamId": "s2", "mediaFormat": "raw/lpcm16"}),
    );
    h.ticks(at + 340, at + 600);
    let report = h.finish(at + 600);
    assert!(has_violation(&report, "no active play stream"), "{report}");
    assert_eq!(report.violations.len(), 1, "{report}");
    let events: Vec<&CallerEvent> = report.timeline.iter().map(|(_, e)| e).collect();
    for expected in [CallerEvent::SocketDropped, CallerEvent::ResumeSent, CallerEvent::Resumed] {
        assert!(events.contains(&&expected), "{expected} missing: {report}");
    }
}

#[test]
fn a_resume_answered_in_another_format_or_not_at_all_is_a_violation() {
    let drop_now = || vec![Step::Reconnect { after_agent_ms: 0, gap_ms: 100 }, Step::HangUp];
    let start = |h: &mut Harness<AudioCodes>| {
        h.bot(
            30,
            &json!({"type": "playStream.start", "streamId": "s1", "mediaFormat": "raw/lpcm16"}),
        );
        h.bot(30, &json!({"type": "playStream.chunk", "streamId": "s1", "audioChunk": pcm(500)}));
        h.ticks(40, 100);
        assert!(h.dropped);
        h.poll(300);
        h.reopen(300);
    };
    let mut h = streaming(drop_now(), AudioCodesOptions::default());
    start(&mut h);
    h.bot(310, &json!({"type": "session.accepted", "mediaFormat": "raw/mulaw"}));
    let report = h.finish(400);
    assert!(has_violation(&report, "the call was in `raw/lpcm16`"), "{report}");

    let mut h = streaming(drop_now(), AudioCodesOptions::default());
    start(&mut h);
    h.poll(300 + AudioCodesOptions::default().answer_timeout.as_millis() as u64);
    let report = h.finish(10_000);
    assert!(has_violation(&report, "no answer to session.resume"), "{report}");
}
