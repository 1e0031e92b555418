//! The randomized shape of one simulated call.

use std::time::Duration;

use turngate_core::{BargeIn, ResponseMode, SessionConfig, TurnDetection, TurnModel};

use super::rng::Rng;

/// How the carrier confirms playback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Media-stream marks echoed in order once the audio before them played
    /// (and all at once on a clear), as Twilio and Telnyx streams do.
    Marks,
    /// A "playback ended" webhook when the queue drains, delayed, possibly
    /// duplicated and unordered with respect to the media stream, as Call
    /// Control webhooks are.
    Webhook,
}

/// Everything random about one schedule, drawn from its seed.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) config: SessionConfig,
    pub(crate) flavor: Flavor,
    /// The upstream echoes our create tag in `response.created`.
    pub(crate) echo_tags: bool,
    /// One-way latency ranges in milliseconds.
    pub(crate) upstream_latency: (u64, u64),
    pub(crate) carrier_latency: (u64, u64),
    pub(crate) webhook_latency: (u64, u64),
    /// How long the caller takes part before falling silent for good.
    pub(crate) active_for: Duration,
    /// Caller audio frame length.
    pub(crate) frame: Duration,
    /// When the backend connection drops (at most a few times per call).
    pub(crate) disconnects: Vec<Duration>,
    pub(crate) p_reject: f64,
    pub(crate) p_slow_created: f64,
    pub(crate) p_failed: f64,
    pub(crate) p_late_deltas: f64,
    pub(crate) p_stale_done: f64,
    pub(crate) p_duplicate_webhook: f64,
    pub(crate) p_tool_call: f64,
    pub(crate) p_tool_silent: f64,
    pub(crate) p_barge: f64,
    pub(crate) p_long_pause: f64,
    pub(crate) p_hold_on: f64,
    pub(crate) p_cough: f64,
    pub(crate) hang_up_at: Option<Duration>,
    pub(crate) app_every: Option<(u64, u64)>,
}

impl Params {
    pub(crate) fn random(rng: &mut Rng, base: &SessionConfig) -> Params {
        let mut config = base.clone();
        // A quarter of the calls run against a full-duplex model, which
        // takes its own turns; the driver's local VAD then reports the
        // caller's speech, as it does for GPT-Live.
        config.turn_model = if rng.chance(0.25) { TurnModel::FullDuplex } else { TurnModel::Gated };
        config.turn_detection = if config.turn_model == TurnModel::FullDuplex || rng.chance(0.3) {
            TurnDetection::Client
        } else {
            TurnDetection::Server
        };
        config.response_mode = if config.turn_detection == TurnDetection::Server && rng.chance(0.2)
        {
            ResponseMode::ServerAuto
        } else {
            ResponseMode::Client
        };
        config.auto_response_grace = rng.millis(300, 1500);
        config.barge_in = match rng.range(0, 4) {
            0 => BargeIn::Off,
            1 | 2 => BargeIn::Immediate,
            _ => BargeIn::AfterSpeechMs(rng.range(150, 600)),
        };
        config.greeting = rng.chance(0.5).then(|| "Greet the caller.".to_owned());
        config.dead_air.enabled = true;
        config.dead_air.timeout = rng.millis(2000, 6000);
        config.dead_air.hold_on_timeout = config.dead_air.timeout + rng.millis(1000, 5000);
        config.dead_air.max_check_ins = u32::try_from(rng.range(1, 3)).unwrap_or(2);
        config.dead_air.hang_up_grace = rng.millis(1000, 3000);
        config.max_call_duration = rng.millis(20_000, 120_000);
        config.goodbye = rng.chance(0.7).then(|| "Say goodbye.".to_owned());
        config.goodbye_timeout = rng.millis(5000, 10_000);
        config.ready_timeout = Duration::from_secs(8);
        config.readiness_buffer = rng.millis(200, 2000);
        // Timeouts stay above what the schedule's peers can take when they
        // behave, so any timeout that fires marks a real fault.
        config.create_timeout = Duration::from_secs(6);
        config.cancel_timeout = Duration::from_secs(3);
        config.response_timeout = Duration::from_secs(30);
        config.playback_grace = rng.millis(1000, 2000);
        config.external_playback_timeout = Duration::from_secs(20);
        config.tool_timeout = rng.millis(2000, 5000);
        config.max_attempts = u32::try_from(rng.range(2, 4)).unwrap_or(3);

        let disconnect_count = match rng.range(0, 9) {
            0..=5 => 0,
            6..=8 => 1,
            _ => 2,
        };
        let active_for = rng.millis(8_000, 60_000);
        let disconnects = (0..disconnect_count)
            .map(|_| rng.millis(1000, active_for.as_millis() as u64))
            .collect();
        Params {
            config,
            flavor: if rng.chance(0.75) { Flavor::Marks } else { Flavor::Webhook },
            echo_tags: rng.chance(0.8),
            upstream_latency: (rng.range(2, 30), rng.range(30, 90)),
            carrier_latency: (rng.range(1, 10), rng.range(10, 40)),
            webhook_latency: (rng.range(10, 100), rng.range(100, 500)),
            active_for,
            frame: Duration::from_millis(100),
            disconnects,
            p_reject: if rng.chance(0.3) { 0.1 } else { 0.0 },
            p_slow_created: if rng.chance(0.3) { 0.2 } else { 0.0 },
            p_failed: if rng.chance(0.2) { 0.1 } else { 0.0 },
            p_late_deltas: 0.5,
            p_stale_done: if rng.chance(0.3) { 0.2 } else { 0.0 },
            p_duplicate_webhook: 0.2,
            p_tool_call: if rng.chance(0.4) { 0.25 } else { 0.0 },
            p_tool_silent: if rng.chance(0.2) { 0.3 } else { 0.0 },
            p_barge: rng.range(0, 60) as f64 / 100.0,
            p_long_pause: rng.range(5, 40) as f64 / 100.0,
            p_hold_on: if rng.chance(0.3) { 0.2 } else { 0.0 },
            p_cough: 0.1,
            hang_up_at: rng.chance(0.15).then(|| rng.millis(1000, active_for.as_millis() as u64)),
            app_every: rng.chance(0.4).then(|| (rng.range(2000, 5000), rng.range(5000, 20_000))),
        }
    }
}
