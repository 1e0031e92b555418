//! Twilio's side without IO: what it sends, when marks come back, and
//! which bot messages it refuses.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::harness::{Harness, has_violation, ms, twilio, ulaw_b64};
use crate::callers::config::Step;
use crate::callers::report::{CallerEvent, Party};
use crate::callers::twilio::Twilio;

fn started(script: Vec<Step>) -> (Harness<Twilio>, String) {
    let mut h = twilio(script);
    h.open(0);
    let sid = h.sent[1]["streamSid"].as_str().unwrap().to_owned();
    h.new_messages();
    (h, sid)
}

fn media(sid: &str, bytes: usize) -> Value {
    json!({"event": "media", "streamSid": sid, "media": {"payload": ulaw_b64(bytes)}})
}

fn mark(sid: &str, name: &str) -> Value {
    json!({"event": "mark", "streamSid": sid, "mark": {"name": name}})
}

#[test]
fn opening_messages_follow_twilio() {
    let mut h = twilio(vec![Step::HangUp]);
    h.open(0);
    assert_eq!(h.sent[0], json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}));
    let start = &h.sent[1];
    assert_eq!(start["event"], "start");
    assert_eq!(start["sequenceNumber"], "1");
    let sid = start["streamSid"].as_str().unwrap();
    assert!(sid.starts_with("MZ") && sid.len() == 34, "{sid}");
    assert_eq!(start["start"]["streamSid"], sid);
    let account = start["start"]["accountSid"].as_str().unwrap();
    assert!(account.starts_with("AC") && account.len() == 34, "{account}");
    assert_eq!(start["start"]["callSid"], "CAcall-1");
    assert_eq!(start["start"]["tracks"], json!(["inbound"]));
    assert_eq!(
        start["start"]["mediaFormat"],
        json!({"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1})
    );
    assert_eq!(start["start"]["customParameters"], json!({"tenant": "t1"}));
    assert_eq!(
        start.as_object().unwrap().len(),
        4,
        "event, sequenceNumber, start, streamSid: {start}"
    );
}

#[test]
fn media_frames_count_like_twilio_and_stop_ends_the_stream() {
    let (mut h, sid) = started(vec![
        Step::Silence { ms: 100 },
        Step::Speak { ms: 100, hold_on: false },
        Step::HangUp,
    ]);
    h.ticks(0, 400);
    let sent = h.new_messages();
    let media: Vec<&Value> = sent.iter().filter(|m| m["event"] == "media").collect();
    assert_eq!(media.len(), 10, "100 ms of silence and 100 ms of speech");
    for (i, frame) in media.iter().enumerate() {
        assert_eq!(frame["sequenceNumber"], (i + 2).to_string());
        assert_eq!(frame["streamSid"], sid);
        assert_eq!(frame["media"]["track"], "inbound");
        assert_eq!(frame["media"]["chunk"], (i + 1).to_string());
        assert_eq!(frame["media"]["timestamp"], (i * 20).to_string());
        let payload = STANDARD.decode(frame["media"]["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload.len(), 160);
        let silent = payload.iter().all(|&b| b == 0xFF);
        assert_eq!(silent, i < 5, "frame {i}: the first five are silence, the rest speech");
    }
    let stop = sent.last().unwrap();
    assert_eq!(stop["event"], "stop");
    assert_eq!(stop["sequenceNumber"], "12");
    assert_eq!(stop["streamSid"], sid);
    assert_eq!(stop["stop"]["callSid"], "CAcall-1");
    assert!(stop["stop"]["accountSid"].as_str().unwrap().starts_with("AC"));
    assert!(h.closed, "the socket closes after stop");
    let report = h.finish(400);
    assert_eq!(report.hung_up_by, Some(Party::Caller));
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_mark_comes_back_only_when_the_audio_before_it_has_played() {
    let (mut h, sid) = started(vec![Step::Silence { ms: 10_000 }]);
    h.bot(100, &media(&sid, 3200)); // 400 ms
    h.bot(100, &mark(&sid, "m1"));
    assert!(h.new_of("event", "mark").is_empty(), "nothing has played yet");
    assert_eq!(h.call.next_deadline(), Some(ms(500)));
    h.poll(499);
    assert!(h.new_of("event", "mark").is_empty(), "1 ms of audio is still queued");
    h.poll(500);
    let echoed = h.new_of("event", "mark");
    assert_eq!(echoed.len(), 1);
    assert_eq!(echoed[0]["mark"], json!({"name": "m1"}));
    assert_eq!(echoed[0]["streamSid"], sid);
    assert_eq!(echoed[0]["sequenceNumber"], "2");
    let report = h.finish(1000);
    assert_eq!(report.marks_echoed, 1);
    assert_eq!(report.agent_audio, ms(400));
}

#[test]
fn a_mark_with_nothing_queued_comes_back_at_once() {
    let (mut h, sid) = started(vec![Step::Silence { ms: 10_000 }]);
    h.bot(50, &mark(&sid, "early"));
    let echoed = h.new_of("event", "mark");
    assert_eq!(echoed.len(), 1);
    assert_eq!(echoed[0]["mark"]["name"], "early");
}

#[test]
fn marks_queue_behind_audio_sent_after_earlier_marks() {
    let (mut h, sid) = started(vec![Step::Silence { ms: 10_000 }]);
    h.bot(0, &media(&sid, 1600)); // 200 ms, plays 0..200
    h.bot(0, &mark(&sid, "a"));
    h.bot(50, &media(&sid, 1600)); // queued behind: plays 200..400
    h.bot(50, &mark(&sid, "b"));
    h.poll(199);
    assert!(h.new_of("event", "mark").is_empty());
    h.poll(200);
    assert_eq!(h.new_of("event", "mark")[0]["mark"]["name"], "a");
    h.poll(399);
    assert!(h.new_of("event", "mark").is_empty());
    h.poll(400);
    assert_eq!(h.new_of("event", "mark")[0]["mark"]["name"], "b");
}

#[test]
fn clear_drops_the_queue_and_echoes_every_pending_mark_at_once() {
    let (mut h, sid) = started(vec![Step::Silence { ms: 10_000 }]);
    h.bot(0, &media(&sid, 8000)); // 1 s
    h.bot(0, &mark(&sid, "a"));
    h.bot(0, &media(&sid, 8000));
    h.bot(0, &mark(&sid, "b"));
    h.poll(300);
    assert!(h.new_of("event", "mark").is_empty());
    h.bot(300, &json!({"event": "clear", "streamSid": sid}));
    let echoed = h.new_of("event", "mark");
    let names: Vec<&str> = echoed.iter().map(|m| m["mark"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b"], "both pending marks, in order, at the clear");
    h.poll(2500);
    assert!(h.new_of("event", "mark").is_empty(), "no mark comes back twice");
    let report = h.finish(2500);
    assert_eq!(report.clears, 1);
    assert_eq!(report.agent_audio, ms(300), "only what played before the clear");
    assert_eq!(report.agent_audio_received, ms(2000));
    assert!(report.timeline.iter().any(|(at, e)| *at == ms(300) && *e == CallerEvent::AgentAudioStopped { cleared: true }));
}

#[test]
fn every_rule_breach_is_a_violation_with_twilio_code() {
    let (mut h, sid) = started(vec![Step::Silence { ms: 10_000 }]);
    let wav = STANDARD.encode([b"RIFF".as_slice(), &[0u8; 40]].concat());
    h.bot_binary(10, 160);
    h.bot(20, &media("MZ00000000000000000000000000000000", 160));
    h.bot(30, &json!({"event": "foo", "streamSid": sid}));
    h.bot(40, &json!({"event": "media", "streamSid": sid, "media": {"payload": ulaw_b64(160), "track": "outbound"}}));
    h.bot(50, &json!({"event": "mark", "streamSid": sid, "mark": {}}));
    h.bot(60, &json!({"event": "media", "streamSid": sid, "media": {"payload": wav}}));
    h.bot_text(70, "not json");
    h.bot(80, &json!({"event": "clear"}));
    h.bot(90, &json!({"event": "media", "streamSid": sid, "media": {"payload": "@@@"}}));
    h.bot(100, &json!({"event": "clear", "streamSid": sid, "mark": {"name": "x"}}));
    let report = h.finish(200);
    let expect = [
        "31950 Stream - Protocol - Malformed Message: a binary frame",
        "31951 Stream - Protocol - Invalid Message: `media` for streamSid `MZ000",
        "31951 Stream - Protocol - Invalid Message: unsupported event `foo`",
        "unknown field `track`",
        "missing field `name`",
        "31924 Stream - Websocket - Protocol Error: media.payload starts with a RIFF",
        "31951 Stream - Protocol - Invalid Message: not valid JSON",
        "31951 Stream - Protocol - Invalid Message: `clear` without a streamSid",
        "31951 Stream - Protocol - Invalid Message: media.payload is not base64",
        "`clear` with an unexpected `mark` object",
    ];
    for needle in expect {
        assert!(has_violation(&report, needle), "missing {needle:?} in {:#?}", report.violations);
    }
    assert_eq!(report.violations.len(), expect.len(), "{:#?}", report.violations);
    assert_eq!(report.agent_audio_received, ms(0), "refused media is not played");
    assert_eq!(report.clears, 0, "a refused clear clears nothing");
}

#[test]
fn a_repeated_violation_is_listed_once_with_its_count() {
    let (mut h, _) = started(vec![Step::Silence { ms: 10_000 }]);
    for at in 0..3 {
        h.bot_binary(at, 10);
    }
    let report = h.finish(100);
    assert_eq!(report.violations.len(), 1);
    assert!(report.violations[0].ends_with("(×3)"), "{:?}", report.violations);
}

#[test]
fn a_key_press_goes_out_as_dtmf() {
    let (mut h, sid) = started(vec![Step::Dtmf('7'), Step::Silence { ms: 20 }, Step::HangUp]);
    h.ticks(0, 60);
    let dtmf = h.new_of("event", "dtmf");
    assert_eq!(dtmf.len(), 1);
    assert_eq!(dtmf[0]["dtmf"], json!({"track": "inbound_track", "digit": "7"}));
    assert_eq!(dtmf[0]["streamSid"], sid);
    assert_eq!(dtmf[0]["sequenceNumber"], "2");
}

#[test]
fn a_bot_closing_the_socket_hangs_up_and_fails_a_script_that_expected_more() {
    let (mut h, _) = started(vec![Step::Speak { ms: 1000, hold_on: false }, Step::HangUp]);
    h.ticks(0, 100);
    h.bot_closed(110);
    let report = h.finish(110);
    assert!(report.bot_hung_up);
    assert_eq!(report.failures.len(), 1, "{report}");
    assert!(report.failures[0].contains("during step 0 (speak:1000)"), "{report}");
}

#[test]
fn a_bot_hanging_up_when_expected_is_no_failure() {
    let (mut h, _) = started(vec![Step::SilentUntilHangup { max_ms: 5000 }]);
    h.ticks(0, 1000);
    h.bot_closed(1010);
    let report = h.finish(1010);
    assert!(report.bot_hung_up);
    assert!(report.is_clean(), "{report}");
}
