//! Drives one call without IO, with time given in milliseconds, and keeps
//! what the caller sent as JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::callers::audiocodes::AudioCodes;
use crate::callers::call::{Call, Carrier, Outgoing, Shared};
use crate::callers::config::{AudioCodesOptions, CallObserver, Protocol, Step, TelnyxOptions};
use crate::callers::human::Human;
use crate::callers::ids::Rng;
use crate::callers::report::{CallReport, Recorder};
use crate::callers::telnyx::Telnyx;
use crate::callers::twilio::Twilio;

pub(super) struct Harness<C> {
    pub(super) call: Call<C>,
    t0: Instant,
    /// Everything the caller sent, in order.
    pub(super) sent: Vec<Value>,
    /// How many of `sent` the test has looked at.
    seen: usize,
    pub(super) closed: bool,
    /// The caller dropped its socket (a reconnect step).
    pub(super) dropped: bool,
}

pub(super) fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

pub(super) fn twilio(script: Vec<Step>) -> Harness<Twilio> {
    twilio_observed(script, None)
}

/// A Twilio call whose frames and received audio go to `observer`.
pub(super) fn twilio_observed(
    script: Vec<Step>,
    observer: Option<Arc<dyn CallObserver>>,
) -> Harness<Twilio> {
    let mut rng = Rng::for_call(1, "call-1");
    let carrier = Twilio::new("call-1", &[("tenant".to_owned(), "t1".to_owned())], &mut rng);
    Harness::new(carrier, Protocol::Twilio, script, observer)
}

pub(super) fn telnyx(script: Vec<Step>, options: TelnyxOptions) -> Harness<Telnyx> {
    telnyx_observed(script, options, None)
}

/// A Telnyx call whose frames and received audio go to `observer`.
pub(super) fn telnyx_observed(
    script: Vec<Step>,
    options: TelnyxOptions,
    observer: Option<Arc<dyn CallObserver>>,
) -> Harness<Telnyx> {
    let rng = Rng::for_call(1, "call-1");
    let carrier = Telnyx::new("call-1", "+15550001", "+15550002", &[], options, rng);
    Harness::new(carrier, Protocol::Telnyx, script, observer)
}

pub(super) fn audiocodes(script: Vec<Step>, options: AudioCodesOptions) -> Harness<AudioCodes> {
    let rng = Rng::for_call(1, "call-1");
    let carrier = AudioCodes::new("call-1", "+15550001", "+15550002", options, rng);
    Harness::new(carrier, Protocol::AudioCodes, script, None)
}

impl<C: Carrier> Harness<C> {
    fn new(
        carrier: C,
        protocol: Protocol,
        script: Vec<Step>,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Harness<C> {
        let rec = Recorder::new(protocol, carrier.call_ref().to_owned(), true);
        let shared = Shared::new(rec, observer);
        let call = Call::new(carrier, Human::new(script), shared, Duration::from_secs(120));
        Harness {
            call,
            t0: Instant::now(),
            sent: Vec::new(),
            seen: 0,
            closed: false,
            dropped: false,
        }
    }

    fn collect(&mut self) {
        for outgoing in self.call.outgoing() {
            match outgoing {
                Outgoing::Text(text) => {
                    let value = serde_json::from_str(&text).expect("the caller sends JSON");
                    self.sent.push(value);
                }
                Outgoing::Close => self.closed = true,
                Outgoing::Drop => self.dropped = true,
            }
        }
    }

    fn instant(&self, at: u64) -> Instant {
        self.t0 + ms(at)
    }

    pub(super) fn open(&mut self, at: u64) {
        self.call.open(ms(at), self.instant(at));
        self.collect();
    }

    pub(super) fn bot(&mut self, at: u64, message: &Value) {
        self.call.text(ms(at), self.instant(at), &message.to_string());
        self.collect();
    }

    pub(super) fn bot_text(&mut self, at: u64, text: &str) {
        self.call.text(ms(at), self.instant(at), text);
        self.collect();
    }

    pub(super) fn bot_binary(&mut self, at: u64, len: usize) {
        self.call.binary(ms(at), self.instant(at), len);
        self.collect();
    }

    pub(super) fn tick(&mut self, at: u64) {
        self.call.tick(ms(at), self.instant(at));
        self.collect();
    }

    /// Ticks every 20 ms from `from` up to and including `to`.
    pub(super) fn ticks(&mut self, from: u64, to: u64) {
        let mut at = from;
        while at <= to {
            self.tick(at);
            at += 20;
        }
    }

    pub(super) fn poll(&mut self, at: u64) {
        self.call.poll(ms(at), self.instant(at));
        self.collect();
    }

    /// Whether the call waits for a new socket.
    pub(super) fn wants_socket(&self) -> bool {
        self.call.wants_socket()
    }

    /// The new socket opened.
    pub(super) fn reopen(&mut self, at: u64) {
        self.call.reopened(ms(at), self.instant(at));
        self.collect();
    }

    pub(super) fn bot_closed(&mut self, at: u64) {
        self.call.closed(ms(at), self.instant(at), None);
        self.collect();
    }

    /// Messages sent since the last call.
    pub(super) fn new_messages(&mut self) -> Vec<Value> {
        let fresh = self.sent.get(self.seen..).unwrap_or_default().to_vec();
        self.seen = self.sent.len();
        fresh
    }

    /// Messages sent since the last call whose `key` is `value`.
    pub(super) fn new_of(&mut self, key: &str, value: &str) -> Vec<Value> {
        self.new_messages().into_iter().filter(|m| m[key] == value).collect()
    }

    pub(super) fn finish(self, at: u64) -> CallReport {
        self.call.finish(ms(at))
    }
}

/// `bytes` of µ-law silence as base64.
pub(super) fn ulaw_b64(bytes: usize) -> String {
    STANDARD.encode(vec![0xFFu8; bytes])
}

/// Whether the report lists a violation containing `needle`.
pub(super) fn has_violation(report: &CallReport, needle: &str) -> bool {
    report.violations.iter().any(|v| v.contains(needle))
}
