//! The concurrent-calls benchmark: steps of N simultaneous calls through
//! the real server, each measured after ramp-up and warm-up, until one step
//! no longer holds (p99 added latency above the limit, a lost frame, or a
//! call that could not be placed or heard).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use turngate_sim::callers::{self, CallReport, CallerConfig, CallerError, Protocol, Step};
use turngate_sim::live::{self, LiveSimConfig};
use turngate_sim::realtime::{Pacing, SimConfig, serve_observed};

use crate::hist::{Histogram, Summary};
use crate::probe::{Losses, Probe, SimProbe};
use crate::procfs::{self, Machine, Sample};
use crate::results::Results;
use crate::server::Server;

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Concurrent calls per step, in order.
    pub(crate) steps: Vec<usize>,
    /// The protocols, assigned to calls in turn.
    pub(crate) protocols: Vec<Protocol>,
    /// The voice API the server bridges the calls to.
    pub(crate) voice_api: VoiceApi,
    /// Calls started per second during ramp-up (the ramp lasts at least 1 s).
    pub(crate) ramp_rate: f64,
    /// Time after ramp-up before measuring.
    pub(crate) warmup: Duration,
    /// The measurement window.
    pub(crate) measure: Duration,
    /// The largest p99 added latency a step may have and still hold.
    pub(crate) limit: Duration,
    /// Run every step even after one fails.
    pub(crate) keep_going: bool,
    /// The `turngate` binary.
    pub(crate) binary: PathBuf,
    /// Where the server's configuration file and log go.
    pub(crate) work_dir: PathBuf,
}

/// The voice API behind the server, each with its own simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VoiceApi {
    /// The Realtime API: turns gated by the server.
    Realtime,
    /// GPT-Live: full duplex, one continuous output track per call.
    Live,
}

impl std::str::FromStr for VoiceApi {
    type Err = String;

    fn from_str(text: &str) -> Result<VoiceApi, String> {
        match text {
            "realtime" => Ok(VoiceApi::Realtime),
            "live" => Ok(VoiceApi::Live),
            other => Err(format!("`{other}` is neither `realtime` nor `live`")),
        }
    }
}

/// The simulator a run talks to, in this process.
enum Sim {
    Realtime(turngate_sim::realtime::SimServer),
    Live(live::LiveSimServer),
}

impl Sim {
    /// Starts the simulator of `api`, every session reporting to `observer`.
    async fn start(api: VoiceApi, observer: Arc<SimProbe>) -> anyhow::Result<Sim> {
        let addr = "127.0.0.1:0".parse()?;
        Ok(match api {
            VoiceApi::Realtime => {
                let config = SimConfig {
                    // A speaking model: one 100 ms chunk every 100 ms, two-second answers.
                    pacing: Pacing::RealTime,
                    chunks_per_response: 20,
                    chunk: Duration::from_millis(100),
                    function_call_every: 0,
                    ..SimConfig::default()
                };
                Sim::Realtime(serve_observed(config, addr, observer).await?)
            }
            VoiceApi::Live => {
                let config = LiveSimConfig {
                    // The real service's pacing: one 20 ms frame of the
                    // continuous track every 20 ms, two-second answers.
                    pacing: live::Pacing::RealTime,
                    reply: (Duration::from_secs(2), Duration::from_secs(2)),
                    delegate_every: 0,
                    usage_every: None,
                    ..LiveSimConfig::default()
                };
                Sim::Live(live::serve_observed(config, addr, observer).await?)
            }
        })
    }

    fn url(&self) -> String {
        match self {
            Sim::Realtime(sim) => sim.url(),
            Sim::Live(sim) => sim.url(),
        }
    }

    /// The API violations the simulator saw, and a few of them.
    fn violations(&self) -> (u64, Vec<String>) {
        match self {
            Sim::Realtime(sim) => {
                let counts = sim.counts();
                let total = counts.conflicts
                    + counts.bad_commits
                    + counts.bad_truncates
                    + counts.invalid_events
                    + counts.beta_shapes
                    + counts.duplicate_event_ids
                    + counts.unknown_call_outputs
                    + counts.bad_audio
                    + counts.wrong_transport;
                (total, sim.record().details().into_iter().take(5).collect())
            }
            Sim::Live(sim) => {
                let record = sim.record();
                let details = record
                    .violations()
                    .into_iter()
                    .take(5)
                    .map(|v| format!("{}: {}", v.kind, v.detail))
                    .collect();
                (record.total_violations(), details)
            }
        }
    }

    async fn shutdown(self) {
        match self {
            Sim::Realtime(sim) => sim.shutdown().await,
            Sim::Live(sim) => sim.shutdown().await,
        }
    }
}

/// After the window, how long its last frames may take to arrive.
const GRACE: Duration = Duration::from_secs(2);
/// The shortest a script cycle can take (speech, the answer, the barge-in
/// and its answer); scripts are sized with it so every call outlives the
/// window.
const MIN_CYCLE: Duration = Duration::from_secs(9);
/// How long after a step the server may take to end its calls.
const IDLE_WAIT: Duration = Duration::from_secs(30);

/// One step's figures.
#[derive(Clone, Debug, Default)]
pub(crate) struct StepResult {
    pub(crate) calls: usize,
    pub(crate) up: Summary,
    pub(crate) down: Summary,
    /// The first chunk of each response, model to caller.
    pub(crate) onset: Summary,
    pub(crate) turn: Summary,
    pub(crate) setup: Summary,
    pub(crate) tick_lag: Summary,
    pub(crate) losses: Losses,
    pub(crate) errors: usize,
    pub(crate) silent_calls: usize,
    pub(crate) unclean_calls: usize,
    pub(crate) first_problem: Option<String>,
    pub(crate) caller_turn_p50_ms: f64,
    pub(crate) untagged: u64,
    pub(crate) unmatched: u64,
    pub(crate) server_cpu_pct: f64,
    pub(crate) server_rss_kib: u64,
    pub(crate) loadgen_cpu_pct: f64,
    /// CPU used on the machine by anything but the server and this process.
    pub(crate) other_cpu_pct: f64,
    pub(crate) window: Duration,
    /// The worst added latency of each second of the window, in µs.
    pub(crate) worst_by_second: Vec<u64>,
}

impl StepResult {
    /// The larger p99 of the two directions, in microseconds.
    pub(crate) fn p99_added(&self) -> u64 {
        self.up.p99.max(self.down.p99)
    }

    /// Whether the step held: latency within `limit`, nothing lost, every
    /// call placed, heard and clean.
    pub(crate) fn holds(&self, limit: Duration) -> bool {
        let limit = u64::try_from(limit.as_micros()).unwrap_or(u64::MAX);
        self.p99_added() <= limit
            && self.losses.up_lost == 0
            && self.losses.down_lost == 0
            && self.errors == 0
            && self.silent_calls == 0
            && self.unclean_calls == 0
            && self.up.count > 0
            && self.down.count > 0
    }
}

/// Everything the run found.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) steps: Vec<StepResult>,
    pub(crate) idle_rss_kib: u64,
    pub(crate) sim_violations: u64,
    pub(crate) sim_details: Vec<String>,
}

/// Runs the plan: the simulator in this process, the server as a child.
pub(crate) async fn run(plan: &Plan) -> anyhow::Result<Outcome> {
    let ticks = procfs::ticks_per_second();
    let first = Arc::new(Probe::new(0, plan.voice_api == VoiceApi::Live));
    let observer = Arc::new(SimProbe::new(first));
    let sim = Sim::start(plan.voice_api, Arc::clone(&observer)).await?;
    let (binary, url, dir) = (plan.binary.clone(), sim.url(), plan.work_dir.clone());
    let api = plan.voice_api;
    let server =
        tokio::task::spawn_blocking(move || Server::start(&binary, api, &url, &dir, ticks))
            .await??;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut outcome =
        Outcome { idle_rss_kib: server.sample().map_or(0, |s| s.rss_kib), ..Outcome::default() };
    for &calls in &plan.steps {
        let result = step(plan, &server, &observer, calls, ticks).await?;
        print_step(&result, plan.limit);
        let held = result.holds(plan.limit);
        outcome.steps.push(result);
        let server = &server;
        let idle = tokio::task::block_in_place(|| server.wait_idle(IDLE_WAIT));
        if !idle {
            println!("  (the server still had calls {IDLE_WAIT:?} after the step)");
        }
        if !held && !plan.keep_going {
            break;
        }
    }
    tokio::task::block_in_place(|| server.stop());
    (outcome.sim_violations, outcome.sim_details) = sim.violations();
    sim.shutdown().await;
    Ok(outcome)
}

/// One step of `calls` concurrent calls.
async fn step(
    plan: &Plan,
    server: &Server,
    observer: &SimProbe,
    calls: usize,
    ticks: u64,
) -> anyhow::Result<StepResult> {
    let calls = calls.clamp(1, usize::from(u16::MAX));
    let probe = Arc::new(Probe::new(calls, plan.voice_api == VoiceApi::Live));
    observer.switch(Arc::clone(&probe));
    let ramp = Duration::from_secs_f64((calls as f64 / plan.ramp_rate).max(1.0));
    let start = Instant::now();
    let window_start = start + ramp + plan.warmup;
    let window_end = window_start + plan.measure;
    probe.set_window(window_start.into_std(), window_end.into_std());
    println!(
        "step {calls} calls: ramp {:.1} s, warm-up {:.0} s, measuring {:.0} s",
        ramp.as_secs_f64(),
        plan.warmup.as_secs_f64(),
        plan.measure.as_secs_f64()
    );
    let mut tasks: Vec<JoinHandle<Result<CallReport, CallerError>>> = Vec::with_capacity(calls);
    for index in 0..calls {
        let offset = ramp.mul_f64(index as f64 / calls as f64);
        let protocol = plan.protocols.get(index % plan.protocols.len().max(1)).copied();
        let protocol = protocol.unwrap_or(Protocol::Twilio);
        let path = protocol.to_string();
        let config = CallerConfig {
            protocol,
            url: server.ws_url(&path),
            call_id: format!("bench-{calls}-{index}"),
            script: script(index, (window_end + GRACE).saturating_duration_since(start + offset)),
            timeout: plan.warmup + plan.measure + ramp + Duration::from_secs(120),
            detailed_timeline: false,
            seed: index as u64,
            ..CallerConfig::default()
        };
        let probe = Arc::clone(&probe);
        let index = u16::try_from(index).unwrap_or(u16::MAX);
        tasks.push(tokio::spawn(async move {
            sleep_until(start + offset).await;
            let config = CallerConfig { observer: Some(Arc::new(probe.caller(index))), ..config };
            callers::run(config).await
        }));
    }

    sleep_until(window_start).await;
    let server_before = server.sample();
    let loadgen_before = Sample::read("self", ticks);
    let machine_before = Machine::read();
    sleep_until(window_end).await;
    let server_after = server.sample();
    let loadgen_after = Sample::read("self", ticks);
    let machine_after = Machine::read();
    sleep_until(window_end + GRACE).await;
    let losses = probe.losses();

    let mut reports = Vec::with_capacity(calls);
    let mut errors = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(report)) => reports.push(report),
            Ok(Err(error)) => errors.push(error.to_string()),
            Err(error) => errors.push(format!("the call's task failed: {error}")),
        }
    }
    let unclean: Vec<&CallReport> = reports.iter().filter(|r| !r.is_clean()).collect();
    let first_problem = errors.first().cloned().or_else(|| {
        unclean.first().map(|r| {
            let what = r.violations.first().or(r.failures.first()).cloned().unwrap_or_default();
            format!("{} {}: {what}", r.protocol, r.carrier_call_id)
        })
    });
    let caller_turns = Histogram::default();
    for latency in reports.iter().flat_map(|r| &r.turn_latencies) {
        caller_turns.record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }
    let setups = Histogram::default();
    for setup in probe.setups() {
        setups.record(setup);
    }
    let cpu = |before: Option<Sample>, after: Option<Sample>| match (before, after) {
        (Some(before), Some(after)) => after.cpu_percent_since(&before),
        _ => 0.0,
    };
    let (server_cpu, loadgen_cpu) =
        (cpu(server_before, server_after), cpu(loadgen_before, loadgen_after));
    let machine_cpu = match (machine_before, machine_after) {
        (Some(before), Some(after)) => after.percent_since(&before, procfs::machine().1),
        _ => 0.0,
    };
    Ok(StepResult {
        calls,
        up: probe.up.summary(),
        down: probe.down.summary(),
        onset: probe.onset.summary(),
        turn: probe.turn.summary(),
        setup: setups.summary(),
        tick_lag: probe.tick_lag.summary(),
        losses,
        errors: errors.len(),
        silent_calls: probe.calls_without_audio(),
        unclean_calls: unclean.len(),
        first_problem,
        caller_turn_p50_ms: Summary::ms(caller_turns.summary().p50),
        untagged: probe.untagged.load(std::sync::atomic::Ordering::Relaxed),
        unmatched: probe.unmatched.load(std::sync::atomic::Ordering::Relaxed),
        server_cpu_pct: server_cpu,
        server_rss_kib: server_after.map_or(0, |s| s.rss_kib),
        loadgen_cpu_pct: loadgen_cpu,
        other_cpu_pct: (machine_cpu - server_cpu - loadgen_cpu).max(0.0),
        worst_by_second: probe.worst_by_second(),
        window: plan.measure,
    })
}

/// The human's script for call `index`, lasting at least `needed`: a
/// staggered start, then cycles of a question, its answer, a second
/// question, a barge-in into the answer, and that answer.
pub(crate) fn script(index: usize, needed: Duration) -> Vec<Step> {
    let lead_ms = (index as u64 * 137) % 2_000;
    let cycle = [
        Step::Speak { ms: 1_600, hold_on: false },
        Step::WaitForAgent { max_ms: 8_000 },
        Step::Speak { ms: 1_200, hold_on: false },
        Step::BargeIn { after_agent_ms: 700, speak_ms: 800 },
        Step::WaitForAgent { max_ms: 8_000 },
    ];
    let cycles = needed.as_secs_f64() / MIN_CYCLE.as_secs_f64();
    let cycles = (cycles.ceil() as usize).max(1);
    let mut steps = vec![Step::Silence { ms: lead_ms }];
    for _ in 0..cycles {
        steps.extend(cycle.iter().cloned());
    }
    steps.push(Step::HangUp);
    steps
}

fn print_step(result: &StepResult, limit: Duration) {
    let ms = Summary::ms;
    println!(
        "  up p50/p99/max {:.2}/{:.2}/{:.2} ms ({} frames), down {:.2}/{:.2}/{:.2} ms ({} chunks)",
        ms(result.up.p50),
        ms(result.up.p99),
        ms(result.up.max),
        result.up.count,
        ms(result.down.p50),
        ms(result.down.p99),
        ms(result.down.max),
        result.down.count,
    );
    println!(
        "  onset p50/p99 {:.2}/{:.2} ms, turn p50/p99 {:.1}/{:.1} ms, setup p50/p99 {:.1}/{:.1} ms, caller tick lag p99/max {:.2}/{:.2} ms",
        ms(result.onset.p50),
        ms(result.onset.p99),
        ms(result.turn.p50),
        ms(result.turn.p99),
        ms(result.setup.p50),
        ms(result.setup.p99),
        ms(result.tick_lag.p99),
        ms(result.tick_lag.max),
    );
    println!(
        "  lost up {} of {}, down {} of {}; server CPU {:.0} % RSS {} MiB; load generator CPU {:.0} %; other processes {:.0} %",
        result.losses.up_lost,
        result.losses.up_sent,
        result.losses.down_lost,
        result.losses.down_sent,
        result.server_cpu_pct,
        result.server_rss_kib / 1024,
        result.loadgen_cpu_pct,
        result.other_cpu_pct,
    );
    if result.other_cpu_pct > 20.0 {
        println!(
            "  WARNING: other processes used {:.0} % of a core during the window; the figures are disturbed",
            result.other_cpu_pct
        );
    }
    println!(
        "  errors {}, calls never heard {}, calls not clean {}, untagged {}, unmatched {}: {}",
        result.errors,
        result.silent_calls,
        result.unclean_calls,
        result.untagged,
        result.unmatched,
        if result.holds(limit) { "holds" } else { "does not hold" }
    );
    let worst: Vec<String> =
        result.worst_by_second.iter().map(|w| format!("{:.0}", Summary::ms(*w))).collect();
    println!("  worst added latency per second of the window (ms): {}", worst.join(" "));
    if let Some(problem) = &result.first_problem {
        println!("  first problem: {problem}");
    }
}

impl Outcome {
    /// The largest step that held, if any.
    pub(crate) fn best(&self, limit: Duration) -> Option<&StepResult> {
        self.steps.iter().filter(|s| s.holds(limit)).max_by_key(|s| s.calls)
    }

    /// The figures under `calls.`, `setup.`, `turn.` and `step.<N>.`.
    pub(crate) fn write(&self, limit: Duration, results: &mut Results) {
        let ms = Summary::ms;
        let best = self.best(limit);
        results.put("calls.max_calls_p99_5ms", best.map_or(0.0, |s| s.calls as f64));
        // With no step holding, the first step's figures say how far off it was.
        if let Some(step) = best.or(self.steps.first()) {
            let n = step.calls.max(1) as f64;
            results.put("calls.p99_added_ms_at_max", ms(step.p99_added()));
            results.put("calls.cpu_pct_per_call", step.server_cpu_pct / n);
            let grown = step.server_rss_kib.saturating_sub(self.idle_rss_kib);
            results.put("calls.rss_kib_per_call", grown as f64 / n);
            results.put("calls.up_p50_ms_at_max", ms(step.up.p50));
            results.put("calls.up_p99_ms_at_max", ms(step.up.p99));
            results.put("calls.up_max_ms_at_max", ms(step.up.max));
            results.put("calls.down_p50_ms_at_max", ms(step.down.p50));
            results.put("calls.down_p99_ms_at_max", ms(step.down.p99));
            results.put("calls.down_max_ms_at_max", ms(step.down.max));
            results.put("calls.onset_p50_ms_at_max", ms(step.onset.p50));
            results.put("calls.onset_p99_ms_at_max", ms(step.onset.p99));
            results.put("calls.server_cpu_pct_at_max", step.server_cpu_pct);
            results.put("calls.loadgen_cpu_pct_at_max", step.loadgen_cpu_pct);
            results.put("calls.window_s", step.window.as_secs_f64());
            results.put("setup.p50_ms", ms(step.setup.p50));
            results.put("setup.p99_ms", ms(step.setup.p99));
            results.put("setup.max_ms", ms(step.setup.max));
            results.put("turn.p50_ms", ms(step.turn.p50));
            results.put("turn.p99_ms", ms(step.turn.p99));
            results.put("turn.caller_p50_ms", step.caller_turn_p50_ms);
        }
        results.put("calls.idle_rss_kib", self.idle_rss_kib as f64);
        results.put("calls.sim_violations", self.sim_violations as f64);
        for step in &self.steps {
            let key = |name: &str| format!("step.{}.{name}", step.calls);
            results.put(key("up_p50_ms"), ms(step.up.p50));
            results.put(key("up_p99_ms"), ms(step.up.p99));
            results.put(key("up_max_ms"), ms(step.up.max));
            results.put(key("down_p50_ms"), ms(step.down.p50));
            results.put(key("down_p99_ms"), ms(step.down.p99));
            results.put(key("down_max_ms"), ms(step.down.max));
            results.put(key("turn_p50_ms"), ms(step.turn.p50));
            results.put(key("setup_p50_ms"), ms(step.setup.p50));
            results.put(key("lost_up"), step.losses.up_lost as f64);
            results.put(key("lost_down"), step.losses.down_lost as f64);
            results.put(key("frames_up"), step.losses.up_sent as f64);
            results.put(key("chunks_down"), step.losses.down_sent as f64);
            results.put(key("server_cpu_pct"), step.server_cpu_pct);
            results.put(key("server_rss_kib"), step.server_rss_kib as f64);
            results.put(key("loadgen_cpu_pct"), step.loadgen_cpu_pct);
            results.put(key("other_cpu_pct"), step.other_cpu_pct);
            results.put(key("tick_lag_p99_ms"), ms(step.tick_lag.p99));
            results.put(key("tick_lag_max_ms"), ms(step.tick_lag.max));
            results.put(key("errors"), step.errors as f64);
            results.put(key("unclean_calls"), step.unclean_calls as f64);
            results.put(key("holds"), if step.holds(limit) { 1.0 } else { 0.0 });
        }
    }
}
