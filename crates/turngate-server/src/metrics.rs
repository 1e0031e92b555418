//! The server's metrics, in the Prometheus text format.
//!
//! Counters and histograms are plain atomics, so recording costs a few
//! nanoseconds and never blocks a call's task; labelled families take a
//! short lock only the first time a label value appears.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    /// Calls accepted, by provider.
    pub calls: Family,
    /// Calls ended, by reason.
    pub hang_ups: Family,
    /// Frames a transport could not understand, by provider.
    pub protocol_errors: Family,
    /// `response.create` commands sent upstream.
    pub responses: Counter,
    /// Responses that waited for the gate instead of colliding.
    pub conflicts_prevented: Counter,
    /// Conflicts the upstream reported anyway (should stay 0).
    pub upstream_conflicts: Counter,
    /// Barge-ins.
    pub barge_ins: Counter,
    /// Dead-air check-ins.
    pub check_ins: Counter,
    /// Calls resumed on a new socket (AudioCodes `session.resume`).
    pub resumes: Counter,
    /// `/chat` requests, by outcome.
    pub chat_requests: Family,
    /// Calls in progress.
    pub active_calls: Gauge,
    /// Requests waiting, by kind (`turn`, `chat`).
    pub queue_depth: GaugeFamily,
    /// End of the caller's turn to the first response audio at the caller.
    pub turn_latency: Histogram,
    /// Time a turn or a chat request waited for its turn.
    pub queue_wait: Histogram,
    /// A cross-worker signal's time from sender to owner.
    pub signal_latency: Histogram,
    /// Requests and sockets refused before they reached a call, by reason
    /// (`unauthorized`, `duplicate_call`, `resume_refused`,
    /// `pending_upgrades`, `capacity`, …).
    pub refused: Family,
    /// TCP connections closed at once because the server had its maximum.
    pub connections_refused: Counter,
    /// Telnyx webhooks, by outcome (`routed`, `no_action`, `unknown_event`,
    /// `unverified`, `malformed`, `unavailable`).
    pub webhooks: Family,
    /// OpenAI SIP call webhooks, by what became of them.
    pub sip_webhooks: Family,
    /// Leases a call re-acquired after the coordinator lost or forgot them.
    pub lease_recoveries: Counter,
    /// Calls that found another worker holding their lease and went on
    /// without cross-worker signals.
    pub leases_lost: Counter,
    /// Delegations of a full-duplex model (GPT-Live), by outcome of their
    /// claim (`run` here, `elsewhere` by another observer).
    pub delegations: Family,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            calls: Family::default(),
            hang_ups: Family::default(),
            protocol_errors: Family::default(),
            responses: Counter::default(),
            conflicts_prevented: Counter::default(),
            upstream_conflicts: Counter::default(),
            barge_ins: Counter::default(),
            check_ins: Counter::default(),
            resumes: Counter::default(),
            chat_requests: Family::default(),
            active_calls: Gauge::default(),
            queue_depth: GaugeFamily::default(),
            turn_latency: Histogram::new(&[
                0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
            ]),
            queue_wait: Histogram::new(&[
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            signal_latency: Histogram::new(&[
                0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
            ]),
            refused: Family::default(),
            connections_refused: Counter::default(),
            webhooks: Family::default(),
            sip_webhooks: Family::default(),
            lease_recoveries: Counter::default(),
            leases_lost: Counter::default(),
            delegations: Family::default(),
        }
    }
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.calls.render(&mut out, "turngate_calls_total", "Calls accepted.", "provider");
        self.hang_ups.render(&mut out, "turngate_hangups_total", "Calls ended.", "reason");
        self.protocol_errors.render(
            &mut out,
            "turngate_protocol_errors_total",
            "Frames a transport could not understand.",
            "provider",
        );
        self.responses.render(
            &mut out,
            "turngate_responses_total",
            "Responses requested upstream.",
        );
        self.conflicts_prevented.render(
            &mut out,
            "turngate_conflicts_prevented_total",
            "Responses that waited for the turn gate instead of colliding.",
        );
        self.upstream_conflicts.render(
            &mut out,
            "turngate_upstream_conflicts_total",
            "Active-response conflicts reported by the upstream.",
        );
        self.barge_ins.render(
            &mut out,
            "turngate_barge_ins_total",
            "Callers talking over the agent.",
        );
        self.check_ins.render(&mut out, "turngate_check_ins_total", "Dead-air check-ins.");
        self.resumes.render(&mut out, "turngate_resumes_total", "Calls resumed on a new socket.");
        self.chat_requests.render(
            &mut out,
            "turngate_chat_requests_total",
            "Chat requests.",
            "outcome",
        );
        self.active_calls.render(&mut out, "turngate_active_calls", "Calls in progress.");
        self.queue_depth.render(&mut out, "turngate_queue_depth", "Requests waiting.", "kind");
        self.turn_latency.render(
            &mut out,
            "turngate_turn_latency_seconds",
            "End of the caller's turn to the first response audio at the caller.",
        );
        self.queue_wait.render(&mut out, "turngate_queue_wait_seconds", "Time waited for a turn.");
        self.signal_latency.render(
            &mut out,
            "turngate_signal_latency_seconds",
            "Cross-worker signal latency from sender to owner.",
        );
        self.refused.render(
            &mut out,
            "turngate_refused_total",
            "Requests and sockets refused before they reached a call.",
            "reason",
        );
        self.connections_refused.render(
            &mut out,
            "turngate_connections_refused_total",
            "Connections closed at once because the server had its maximum.",
        );
        self.webhooks.render(&mut out, "turngate_webhooks_total", "Telnyx webhooks.", "outcome");
        self.sip_webhooks.render(
            &mut out,
            "turngate_sip_webhooks_total",
            "OpenAI SIP call webhooks, by what became of them.",
            "outcome",
        );
        self.lease_recoveries.render(
            &mut out,
            "turngate_lease_recoveries_total",
            "Call leases re-acquired after the coordinator lost them.",
        );
        self.leases_lost.render(
            &mut out,
            "turngate_leases_lost_total",
            "Calls that found another worker holding their lease.",
        );
        self.delegations.render(
            &mut out,
            "turngate_delegations_total",
            "Delegations of a full-duplex model, by outcome of their claim.",
            "outcome",
        );
        out
    }
}

/// A monotonically growing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n", self.get());
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Adds `n` (which may be negative).
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the value.
    pub fn set(&self, n: i64) {
        self.0.store(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}\n", self.get());
    }
}

/// Counters by one label.
#[derive(Debug, Default)]
pub struct Family(Mutex<BTreeMap<String, u64>>);

impl Family {
    /// Adds one to the counter for `label`.
    pub fn inc(&self, label: &str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(label) {
            Some(count) => *count += 1,
            None => {
                map.insert(label.to_owned(), 1);
            }
        }
    }

    /// The counter for `label`.
    pub fn get(&self, label: &str) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(label).copied().unwrap_or(0)
    }

    /// The sum over every label.
    pub fn total(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).values().sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str, label: &str) {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} counter\n");
        for (value, count) in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {count}", escape(value));
        }
    }
}

/// Gauges by one label.
#[derive(Debug, Default)]
pub struct GaugeFamily(Mutex<BTreeMap<String, i64>>);

impl GaugeFamily {
    /// Sets the gauge for `label`.
    pub fn set(&self, label: &str, value: i64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(label.to_owned(), value);
    }

    /// Adds to the gauge for `label`.
    pub fn add(&self, label: &str, delta: i64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(label.to_owned()).or_insert(0) +=
            delta;
    }

    fn render(&self, out: &mut String, name: &str, help: &str, label: &str) {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n");
        for (value, gauge) in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {gauge}", escape(value));
        }
    }
}

/// A histogram with explicit bucket bounds, in seconds.
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// A histogram with these upper bounds (ascending).
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            bounds: bounds.to_vec(),
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(u64::try_from(value.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            let _ =
                writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", bucket.load(Ordering::Relaxed));
        }
        let count = self.count();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = write!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}\n"
        );
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
