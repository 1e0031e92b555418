use std::sync::Arc;
use std::time::{Duration, Instant};

use turngate_sim::callers::{CallObserver, STAMP_BYTES, Step};
use turngate_sim::realtime::SimObserver;

use crate::calls::script;
use crate::chat::percentile;
use crate::hist::{Histogram, bucket_bounds};
use crate::probe::{Probe, SimProbe};
use crate::procfs::{cpu_ticks, machine_ticks, rss_kib};
use crate::results::Results;
use crate::server::{metric_value, parse_response};
use crate::stamp::Tag;

#[test]
fn tags_survive_a_round_trip_at_their_limits() {
    let tags = [
        Tag::Frame { call: 0, seq: 0 },
        Tag::Frame { call: 65_535, seq: (1 << 20) - 1 },
        Tag::Frame { call: 1_234, seq: 77 },
        Tag::Chunk { id: 0, turn: false, first: false },
        Tag::Chunk { id: 1, turn: false, first: true },
        Tag::Chunk { id: u32::MAX, turn: true, first: true },
        Tag::Chunk { id: 0x00AB_CDEF, turn: false, first: false },
    ];
    for tag in tags {
        let bytes = tag.encode();
        assert_eq!(Tag::decode(&bytes), Some(tag));
        // Followed by audio, as in a frame.
        let mut frame = bytes.to_vec();
        frame.extend_from_slice(&[0x12; 148]);
        assert_eq!(Tag::decode(&frame), Some(tag));
    }
}

#[test]
fn tags_are_found_wherever_frames_were_joined_or_split() {
    let tone: Vec<u8> = (0..160_u32).map(|n| (n * 37 % 251) as u8).collect();
    let mut joined = Vec::new();
    let tags = [
        Tag::Chunk { id: 5, turn: true, first: true },
        Tag::Chunk { id: 6, turn: false, first: false },
        Tag::Frame { call: 2, seq: 9 },
    ];
    // A silent pre-roll frame, then tagged frames; then a cut mid-frame.
    joined.extend_from_slice(&[0xFF; 160]);
    for tag in tags {
        let mut frame = tone.clone();
        frame[..STAMP_BYTES].copy_from_slice(&tag.encode());
        joined.extend_from_slice(&frame);
    }
    assert_eq!(Tag::find_all(&joined).collect::<Vec<_>>(), tags);
    assert_eq!(Tag::find_all(&joined[100..]).collect::<Vec<_>>(), tags);
    assert_eq!(Tag::find_all(&joined[..165]).count(), 0, "a cut tag is no tag");
    assert_eq!(Tag::find_all(&tone).count(), 0);
}

#[test]
fn a_sequence_number_wraps_at_twenty_bits() {
    let bytes = Tag::Frame { call: 3, seq: (1 << 20) + 5 }.encode();
    assert_eq!(Tag::decode(&bytes), Some(Tag::Frame { call: 3, seq: 5 }));
}

#[test]
fn silence_speech_and_short_buffers_carry_no_tag() {
    assert_eq!(Tag::decode(&[0xFF; 160]), None);
    assert_eq!(Tag::decode(&[0x7F; 160]), None);
    assert_eq!(Tag::decode(&Tag::Frame { call: 1, seq: 1 }.encode()[..STAMP_BYTES - 1]), None);
    let mut wrong_magic = Tag::Frame { call: 1, seq: 1 }.encode();
    wrong_magic[1] = 0xF6;
    assert_eq!(Tag::decode(&wrong_magic), None);
    let mut wrong_kind = Tag::Chunk { id: 9, turn: false, first: false }.encode();
    wrong_kind[2] = 0xF7;
    assert_eq!(Tag::decode(&wrong_kind), None);
    let mut out_of_segment = Tag::Chunk { id: 9, turn: false, first: false }.encode();
    out_of_segment[7] = 0x35;
    assert_eq!(Tag::decode(&out_of_segment), None);
}

#[test]
fn a_tag_is_quiet_audio() {
    // Every byte a tag can hold decodes to under -48 dBFS, so tagging a
    // frame of silence does not wake a speech detector.
    for nibble in 0..16_u8 {
        let sample = turngate_audio::ulaw::decode(0xF0 | nibble);
        assert!(i32::from(sample).abs() < 128, "0x{:02X} decodes to {sample}", 0xF0 | nibble);
    }
    let tag = Tag::Chunk { id: 0xFFFF_FFFF, turn: true, first: true }.encode();
    assert!(tag.iter().all(|byte| byte & 0xF0 == 0xF0));
}

#[test]
fn histogram_percentiles_follow_nearest_rank() {
    let histogram = Histogram::default();
    for value in 1..=1000 {
        histogram.record(value);
    }
    let summary = histogram.summary();
    assert_eq!((summary.count, summary.p50, summary.p99, summary.max), (1000, 500, 990, 1000));
    assert_eq!(Histogram::default().summary().count, 0);
}

#[test]
fn histogram_buckets_are_within_a_fifth_of_a_percent() {
    let mut value = 1_u64;
    while value < 1 << 45 {
        let (low, high) = bucket_bounds(value);
        assert!(low <= value && value < high, "{value} not in [{low}, {high})");
        assert!((high - low) as f64 <= (low as f64 * 0.002).max(1.0), "{value}: [{low}, {high})");
        value = value * 3 / 2 + 1;
    }
    let histogram = Histogram::default();
    histogram.record(123_456);
    let summary = histogram.summary();
    assert!((summary.p50 as f64 - 123_456.0).abs() / 123_456.0 < 0.002);
    assert_eq!(summary.max, 123_456);
}

#[test]
fn proc_stat_is_read_past_a_command_name_with_spaces() {
    let stat = "4242 (tokio (rt) worker) S 1 4242 4242 0 -1 4194560 8120 0 0 0 731 129 0 0 20 0 3 0 12345 1000000 500 18446744073709551615";
    assert_eq!(cpu_ticks(stat), Some(731 + 129));
    assert_eq!(cpu_ticks("garbage"), None);
    let status = "Name:\tturngate\nVmPeak:\t  99999 kB\nVmRSS:\t   51234 kB\nThreads:\t3\n";
    assert_eq!(rss_kib(status), Some(51_234));
    assert_eq!(rss_kib("Name:\tx\n"), None);
}

#[test]
fn machine_load_counts_everything_but_idle_and_iowait() {
    let before = machine_ticks("cpu  100 5 50 1000 20 1 2 0 0 0\ncpu0 1 2 3 4\n").unwrap();
    let after = machine_ticks("cpu  160 5 90 1080 20 1 2 0 0 0\ncpu0 1 2 3 4\n").unwrap();
    assert_eq!((before.busy, before.total), (158, 1178));
    // 100 busy ticks of 180 on a 2-core machine: 111 % of one core.
    assert!((after.percent_since(&before, 2) - 111.1).abs() < 0.1);
    assert_eq!(machine_ticks("intr 1 2 3\n"), None);
}

#[test]
fn metrics_and_status_lines_are_parsed() {
    let response = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n# HELP turngate_active_calls Calls\nturngate_active_calls 17\nturngate_active_calls_total 3\nturngate_calls_total{provider=\"twilio\"} 5\n";
    let (status, body) = parse_response(response).unwrap();
    assert_eq!(status, 200);
    assert_eq!(metric_value(&body, "turngate_active_calls"), Some(17.0));
    assert_eq!(metric_value(&body, "turngate_calls_total"), None);
    assert_eq!(parse_response("HTTP/1.1 503 Service Unavailable\r\n\r\n").unwrap().0, 503);
    assert!(parse_response("").is_err());
}

#[test]
fn results_are_flat_json_with_later_values_winning() {
    let mut results = Results::default();
    results.put("calls.max_calls_p99_5ms", 2000.0);
    results.put("turn.p50_ms", 81.256_4);
    results.put("odd\"key", f64::NAN);
    results.put("calls.max_calls_p99_5ms", 2500.0);
    assert_eq!(
        results.to_json(),
        "{\n  \"calls.max_calls_p99_5ms\": 2500,\n  \"turn.p50_ms\": 81.256,\n  \"odd\\\"key\": null\n}\n"
    );
    assert_eq!(results.get("turn.p50_ms"), Some(81.256_4));
}

#[test]
fn scripts_outlast_the_window_and_end_with_a_hang_up() {
    for (index, needed) in [(0, 1), (5, 25), (999, 61)] {
        let steps = script(index, Duration::from_secs(needed));
        let cycles = steps.iter().filter(|s| matches!(s, Step::BargeIn { .. })).count();
        assert!(cycles as u64 * 9 >= needed, "{cycles} cycles for {needed} s");
        assert_eq!(steps.last(), Some(&Step::HangUp));
        assert!(matches!(steps.first(), Some(Step::Silence { ms }) if *ms < 2_000));
    }
}

#[test]
fn percentiles_of_a_small_sample() {
    let mut values = vec![40.0, 10.0, 30.0, 20.0];
    assert_eq!(percentile(&mut values, 0.5), 20.0);
    assert_eq!(percentile(&mut values, 0.99), 40.0);
    assert_eq!(percentile(&mut [], 0.5), 0.0);
}

/// A probe whose window is open from now for a minute.
fn open_probe(calls: usize) -> Arc<Probe> {
    let probe = Arc::new(Probe::new(calls, false));
    let now = Instant::now();
    probe.set_window(now, now + Duration::from_secs(60));
    probe
}

#[test]
fn frames_are_timed_from_the_caller_to_the_append_and_losses_counted() {
    let probe = open_probe(2);
    let sim = SimProbe::new(Arc::clone(&probe));
    let mut session = sim.session();
    let caller = probe.caller(1);
    // Three frames, built as a caller would: tagged, then 160 bytes.
    let frames: Vec<Vec<u8>> = (0..3)
        .map(|_| {
            let tag = caller.stamp(Instant::now()).expect("the probe tags every frame");
            let mut frame = tag.to_vec();
            frame.resize(160, 0xFF);
            frame
        })
        .collect();
    std::thread::sleep(Duration::from_millis(2));
    // The first two arrive in one append (a bridge may batch), the third never.
    session.appended(&[frames[0].clone(), frames[1].clone()].concat());
    let up = probe.up.summary();
    assert_eq!(up.count, 2);
    assert!(up.p50 >= 2_000, "{up:?}");
    let losses = probe.losses();
    assert_eq!((losses.up_sent, losses.up_lost), (3, 1));
    // A duplicate delivery is not counted twice.
    session.appended(&frames[0]);
    assert_eq!(probe.up.summary().count, 2);
    assert_eq!(probe.unmatched.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(probe.setups().len(), 1, "only call 1 was placed and heard");
    let worst = probe.worst_by_second();
    assert_eq!(worst.len(), 60);
    assert_eq!(worst[0], up.max);
    assert!(worst[1..].iter().all(|w| *w == 0));
}

#[test]
fn chunks_of_completed_responses_must_arrive_and_turns_are_timed_from_the_commit() {
    let probe = open_probe(1);
    let sim = SimProbe::new(Arc::clone(&probe));
    let mut session = sim.session();
    let caller = probe.caller(0);
    session.committed();
    let mut chunk = |response: &str, first: bool| {
        let mut audio = vec![0xFF_u8; 800];
        session.audio_chunk(response, first, &mut audio);
        audio
    };
    let answered = [chunk("resp_1", true), chunk("resp_1", false), chunk("resp_1", false)];
    let cancelled = chunk("resp_2", true);
    session.response_done("resp_1", "completed");
    session.response_done("resp_2", "cancelled");
    std::thread::sleep(Duration::from_millis(1));
    caller.agent_payload(Instant::now(), &answered[0]);
    caller.agent_payload(Instant::now(), &answered[2]);
    let losses = probe.losses();
    assert_eq!((losses.down_sent, losses.down_lost), (3, 1), "the middle chunk never arrived");
    assert_eq!(probe.down.summary().count, 2);
    let turn = probe.turn.summary();
    assert_eq!(turn.count, 1, "only the first chunk after the commit answers it");
    assert!(turn.p50 >= 1_000);
    // A chunk of a cancelled response is not expected, but timed if it comes.
    caller.agent_payload(Instant::now(), &cancelled);
    assert_eq!(probe.down.summary().count, 3);
    assert_eq!(probe.turn.summary().count, 1);
    assert_eq!(probe.losses().down_lost, 1);
}

#[test]
fn frames_outside_the_window_are_not_measured() {
    let probe = Arc::new(Probe::new(1, false));
    let later = Instant::now() + Duration::from_secs(3600);
    probe.set_window(later, later + Duration::from_secs(1));
    let sim = SimProbe::new(Arc::clone(&probe));
    let mut session = sim.session();
    let caller = probe.caller(0);
    let tag = caller.stamp(Instant::now()).unwrap();
    session.appended(&tag);
    assert_eq!(probe.up.summary().count, 0);
    assert_eq!(probe.losses().up_sent, 0);
    assert_eq!(probe.setups().len(), 1, "setup counts whatever the window");
}
