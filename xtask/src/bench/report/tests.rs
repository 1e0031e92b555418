use super::{Figures, civil_from_days, codec, markdown, mixed};

#[test]
fn flat_json_round_trips_and_later_figures_win() {
    let signal = r#"{"signal.p50_us":127,"signal.p99_us":212,"redis_rtt.p50_us":37.5,"x":null}"#;
    let mut figures = Figures::parse(signal).unwrap();
    assert_eq!(figures.len(), 3);
    assert_eq!(figures.get("redis_rtt.p50_us"), Some(37.5));
    assert_eq!(figures.get("x"), None);
    let mut calls = Figures::default();
    calls.put("signal.p50_us", 130.0);
    calls.put("calls.max_calls_p99_5ms", 2000.0);
    figures.merge(calls);
    assert_eq!(figures.get("signal.p50_us"), Some(130.0));
    let text = figures.to_json();
    assert_eq!(Figures::parse(&text).unwrap(), figures);
    assert!(text.contains("  \"redis_rtt.p50_us\": 37.500,\n"), "{text}");
    assert!(text.contains("  \"calls.max_calls_p99_5ms\": 2000\n}"), "{text}");
    assert_eq!(Figures::parse("{}").unwrap().len(), 0);
}

#[test]
fn malformed_json_is_an_error_not_a_guess() {
    for bad in ["", "[1]", r#"{"a" 1}"#, r#"{"a": "text"}"#, r#"{a: 1}"#, r#"{"a: 1}"#] {
        assert!(Figures::parse(bad).is_err(), "{bad} parsed");
    }
}

#[test]
fn codec_output_becomes_figures() {
    let output = "G.711, 524288 samples per call, median of 15 runs
µ-law encode (PCM16 in)         4519.9 MB/s     2260.0 M samples/s    231.99 µs per call
µ-law decode (bytes in)         3179.7 MB/s     3179.7 M samples/s    164.89 µs per call
A-law encode (PCM16 in)         4829.8 MB/s     2414.9 M samples/s    217.11 µs per call
A-law decode (bytes in)         3196.4 MB/s     3196.4 M samples/s    164.02 µs per call

Resampling one second in 20 ms frames, median of 15 runs
8 → 16 kHz                        84.8 MB/s       42.4 M samples/s    188.60 µs per call
24 → 8 kHz                       215.5 MB/s      107.8 M samples/s    222.72 µs per call
";
    let figures = codec(output).unwrap();
    assert_eq!(figures.get("g711.ulaw_encode_mb_s"), Some(4519.9));
    assert_eq!(figures.get("g711.ulaw_decode_mb_s"), Some(3179.7));
    assert_eq!(figures.get("g711.alaw_decode_mb_s"), Some(3196.4));
    assert_eq!(figures.get("resample.8_to_16_khz.msamples_s"), Some(42.4));
    assert_eq!(figures.get("resample.24_to_8_khz.msamples_s"), Some(107.8));
    assert_eq!(figures.len(), 6);
    assert!(codec("Resampling only\n8 → 16 kHz  84.8 MB/s  42.4 M samples/s\n").is_err());
}

#[test]
fn days_become_dates() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    assert_eq!(civil_from_days(20_782), (2026, 11, 25));
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
}

#[test]
fn the_table_shows_every_row_and_each_step() {
    let mut figures = Figures::default();
    figures.put("calls.max_calls_p99_5ms", 2000.0);
    figures.put("turn.p50_ms", 12.345);
    for (calls, holds) in [(1000, 1.0), (2000, 1.0), (3000, 0.0)] {
        figures.put(&format!("step.{calls}.up_p99_ms"), 1.5);
        figures.put(&format!("step.{calls}.server_rss_kib"), 204_800.0);
        figures.put(&format!("step.{calls}.holds"), holds);
    }
    let text = markdown(&figures, false, "2 cores, Test CPU", "abc123");
    assert!(text.starts_with("### "), "{text}");
    assert!(text.contains("full run · 2 cores, Test CPU · commit abc123"), "{text}");
    assert!(text.contains("holding p99 added latency ≤ 5 ms, no frame lost | 2000 | ≥ 2,000 |"));
    assert!(text.contains("| 12.3 / – |"), "{text}");
    assert!(text.contains("| 1000 | – / 1.50 / – |"), "{text}");
    assert!(text.contains("| 200 | – | – | yes |"), "{text}");
    assert!(text.contains("| 3000 |") && text.trim_end().ends_with("| no |"), "{text}");
}

#[test]
fn the_mixed_step_is_renamed_beside_the_knee() {
    let mut run = Figures::default();
    run.put("calls.max_calls_p99_5ms", 300.0);
    run.put("step.300.up_p99_ms", 1.25);
    run.put("step.300.holds", 1.0);
    let renamed = mixed(&run, "300");
    assert_eq!(renamed.get("mixed.up_p99_ms"), Some(1.25));
    assert_eq!(renamed.get("mixed.holds"), Some(1.0));
    assert_eq!(renamed.get("mixed.calls"), Some(300.0));
    assert_eq!(renamed.get("calls.max_calls_p99_5ms"), None);
    assert_eq!(renamed.len(), 3);
}

#[test]
fn a_run_other_processes_disturbed_says_so() {
    let mut figures = Figures::default();
    figures.put("step.500.other_cpu_pct", 3.0);
    assert!(!markdown(&figures, true, "m", "c").contains("Disturbed"));
    figures.put("step.700.other_cpu_pct", 96.4);
    assert!(
        markdown(&figures, true, "m", "c")
            .contains("**Disturbed:** other processes used up to 96 %")
    );
}
