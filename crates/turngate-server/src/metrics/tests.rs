use std::time::Duration;

use super::{Histogram, Metrics};

#[test]
fn histograms_are_cumulative_with_sum_and_count() {
    let histogram = Histogram::new(&[0.1, 0.5, 1.0]);
    for ms in [50, 120, 700, 2000] {
        histogram.observe(Duration::from_millis(ms));
    }
    let mut out = String::new();
    histogram.render(&mut out, "x_seconds", "help");
    assert!(out.contains("x_seconds_bucket{le=\"0.1\"} 1\n"), "{out}");
    assert!(out.contains("x_seconds_bucket{le=\"0.5\"} 2\n"), "{out}");
    assert!(out.contains("x_seconds_bucket{le=\"1\"} 3\n"), "{out}");
    assert!(out.contains("x_seconds_bucket{le=\"+Inf\"} 4\n"), "{out}");
    assert!(out.contains("x_seconds_sum 2.87\n"), "{out}");
    assert!(out.contains("x_seconds_count 4\n"), "{out}");
}

#[test]
fn every_metric_is_exported_with_help_and_type() {
    let metrics = Metrics::default();
    metrics.calls.inc("twilio");
    metrics.hang_ups.inc("dead_air");
    metrics.protocol_errors.inc("telnyx");
    metrics.queue_depth.set("chat", 3);
    let text = metrics.render();
    for name in [
        "turngate_calls_total",
        "turngate_hangups_total",
        "turngate_protocol_errors_total",
        "turngate_responses_total",
        "turngate_conflicts_prevented_total",
        "turngate_upstream_conflicts_total",
        "turngate_barge_ins_total",
        "turngate_check_ins_total",
        "turngate_chat_requests_total",
        "turngate_active_calls",
        "turngate_queue_depth",
        "turngate_turn_latency_seconds",
        "turngate_queue_wait_seconds",
        "turngate_signal_latency_seconds",
    ] {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing");
    }
    assert!(text.contains("turngate_calls_total{provider=\"twilio\"} 1\n"));
    assert!(text.contains("turngate_queue_depth{kind=\"chat\"} 3\n"));
}

#[test]
fn label_values_are_escaped() {
    let metrics = Metrics::default();
    metrics.hang_ups.inc("a\"b\\c");
    assert!(metrics.render().contains("reason=\"a\\\"b\\\\c\""));
}
