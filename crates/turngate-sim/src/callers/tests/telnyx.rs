//! Telnyx's side without IO: the frames it sends (out of order on purpose),
//! marks, and the error frames it answers bad messages with.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::harness::{Harness, has_violation, telnyx, ulaw_b64};
use crate::callers::config::{Step, TelnyxOptions};
use crate::callers::telnyx::Telnyx;

fn started(script: Vec<Step>, options: TelnyxOptions) -> (Harness<Telnyx>, String) {
    let mut h = telnyx(script, options);
    h.open(0);
    let id = h.sent[1]["stream_id"].as_str().unwrap().to_owned();
    h.new_messages();
    (h, id)
}

fn number(value: &Value) -> u64 {
    value.as_str().expect("numbers are strings").parse().unwrap()
}

#[test]
fn opening_frames_follow_telnyx() {
    let mut h = telnyx(vec![Step::HangUp], TelnyxOptions::default());
    h.open(0);
    assert_eq!(h.sent[0], json!({"event": "connected", "version": "1.0.0"}));
    let start = &h.sent[1];
    assert_eq!(start["event"], "start");
    assert_eq!(start["sequence_number"], "1");
    assert_eq!(start["stream_id"].as_str().unwrap().len(), 36, "a UUID at the top level");
    assert!(start["start"].get("stream_id").is_none(), "not inside start");
    assert_eq!(start["start"]["call_control_id"], "v3:call-1");
    assert_eq!(start["start"]["from"], "+15550001");
    assert_eq!(start["start"]["to"], "+15550002");
    assert_eq!(
        start["start"]["media_format"],
        json!({"encoding": "PCMU", "sample_rate": 8000, "channels": 1})
    );
    assert_eq!(start["start"]["custom_parameters"], json!({}));
}

#[test]
fn media_can_arrive_out_of_order_but_every_chunk_arrives_once() {
    let options = TelnyxOptions { reorder_probability: 0.5, ..TelnyxOptions::default() };
    let (mut h, id) = started(vec![Step::Silence { ms: 2000 }, Step::HangUp], options);
    h.ticks(0, 2100);
    let sent = h.new_messages();
    let media: Vec<&Value> = sent.iter().filter(|m| m["event"] == "media").collect();
    let chunks: Vec<u64> = media.iter().map(|m| number(&m["media"]["chunk"])).collect();
    assert_eq!(
        chunks.iter().copied().collect::<BTreeSet<_>>(),
        (1..=100).collect(),
        "each chunk once"
    );
    assert_eq!(chunks.len(), 100);
    let swaps = chunks.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(swaps >= 10, "with p = 0.5 about a quarter of frames go out late; saw {swaps}");
    for frame in &media {
        // Sequence numbers and timestamps travel with their frame.
        let chunk = number(&frame["media"]["chunk"]);
        assert_eq!(number(&frame["sequence_number"]), chunk + 1);
        assert_eq!(number(&frame["media"]["timestamp"]), (chunk - 1) * 20);
        assert_eq!(frame["stream_id"], id);
        assert_eq!(frame["media"]["track"], "inbound");
    }
    let stop = sent.last().unwrap();
    assert_eq!(stop["event"], "stop", "a held frame goes out before stop");
    assert_eq!(stop["stop"]["call_control_id"], "v3:call-1");
    assert_eq!(stop["stream_id"], id);
}

#[test]
fn without_reordering_media_is_in_order() {
    let (mut h, _) =
        started(vec![Step::Silence { ms: 400 }, Step::HangUp], TelnyxOptions::default());
    h.ticks(0, 500);
    let chunks: Vec<u64> =
        h.new_of("event", "media").iter().map(|m| number(&m["media"]["chunk"])).collect();
    assert_eq!(chunks, (1..=20).collect::<Vec<_>>());
}

#[test]
fn marks_come_back_after_playout_or_at_once_when_idle() {
    let (mut h, id) = started(vec![Step::Silence { ms: 10_000 }], TelnyxOptions::default());
    h.bot(0, &json!({"event": "mark", "mark": {"name": "idle"}}));
    assert_eq!(h.new_of("event", "mark")[0]["mark"]["name"], "idle");
    h.bot(10, &json!({"event": "media", "media": {"payload": ulaw_b64(1600)}}));
    h.bot(10, &json!({"event": "mark", "stream_id": id, "mark": {"name": "after"}}));
    h.poll(209);
    assert!(h.new_of("event", "mark").is_empty());
    h.poll(210);
    let echoed = h.new_of("event", "mark");
    assert_eq!(echoed[0]["mark"]["name"], "after");
    assert_eq!(echoed[0]["stream_id"], id);
    assert!(echoed[0]["sequence_number"].is_string());
    let report = h.finish(300);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn bad_frames_get_telnyx_error_frames() {
    let (mut h, id) = started(vec![Step::Silence { ms: 10_000 }], TelnyxOptions::default());
    h.bot_text(0, "{");
    let error = h.new_of("event", "error");
    assert_eq!(error.len(), 1);
    assert_eq!(error[0]["payload"]["code"], 100_003);
    assert_eq!(error[0]["payload"]["title"], "malformed_frame");
    assert!(error[0]["payload"]["detail"].is_string());
    assert_eq!(error[0]["stream_id"], id);
    h.bot(10, &json!({"event": "media", "media": {"payload": "%%%"}}));
    assert_eq!(h.new_of("event", "error")[0]["payload"]["title"], "invalid_media");
    h.bot_binary(20, 160);
    assert_eq!(h.new_of("event", "error")[0]["payload"]["code"], 100_003);
    h.bot(30, &json!({"event": "media", "media": {"payload": ulaw_b64(80)}}));
    h.bot(
        40,
        &json!({"event": "media", "stream_id": "other", "media": {"payload": ulaw_b64(160)}}),
    );
    h.bot(50, &json!({"event": "stop"}));
    h.bot(60, &json!({"event": "clear", "extra": 1}));
    let report = h.finish(100);
    for needle in [
        "100003 malformed_frame: EOF",
        "100004 invalid_media: media.payload is not base64",
        "100003 malformed_frame: a binary frame",
        "carries 10 ms of audio; RTP mode takes 20 ms to 30 s",
        "`media` for stream_id `other`",
        "unsupported event `stop`",
        "unknown field `extra`",
    ] {
        assert!(has_violation(&report, needle), "missing {needle:?} in {:#?}", report.violations);
    }
    assert_eq!(report.violations.len(), 7, "{:#?}", report.violations);
}

#[test]
fn error_frames_can_be_turned_off() {
    let options = TelnyxOptions { error_frames: false, ..TelnyxOptions::default() };
    let (mut h, _) = started(vec![Step::Silence { ms: 10_000 }], options);
    h.bot_text(0, "[]");
    assert!(h.new_messages().is_empty());
    assert_eq!(h.finish(10).violations.len(), 1);
}

#[test]
fn dtmf_carries_occurred_at() {
    let (mut h, id) =
        started(vec![Step::Dtmf('#'), Step::Silence { ms: 20 }], TelnyxOptions::default());
    h.ticks(0, 20);
    let dtmf = h.new_of("event", "dtmf");
    assert_eq!(dtmf[0]["dtmf"], json!({"digit": "#"}));
    assert_eq!(dtmf[0]["stream_id"], id);
    let at = dtmf[0]["occurred_at"].as_str().unwrap();
    assert!(at.len() == 27 && at.ends_with('Z') && at.as_bytes()[10] == b'T', "{at}");
}
