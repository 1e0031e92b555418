//! `turngate-loadgen`: measures the real `turngate` server under load.
//!
//! `turngate-loadgen calls` runs the Realtime simulator (or, with
//! `--voice-api live`, the GPT-Live one) in this process,
//! starts `target/release/turngate serve` as a separate process pointed at
//! it, and places steps of N concurrent simulated calls (Twilio, Telnyx or
//! AudioCodes callers from `turngate-sim`, real-time 20 ms frames, speech,
//! silence and barge-ins, marks echoed when their audio has played). Every
//! caller frame and every response chunk carries a tag in its audio bytes,
//! read back at the other end on the same clock, which gives the added
//! forwarding latency in both directions, lost frames, the turn latency
//! (commit to first answer audio at the caller) and call setup (call placed
//! to its first audio at the model); `/proc` gives the server's CPU and
//! memory. The run stops at the first step whose p99 added latency exceeds
//! the limit (5 ms) or that loses a frame; the largest step that held is
//! the result.
//!
//! `turngate-loadgen chat` measures chat conflict recovery against the
//! chat simulators.
//!
//! Both write flat `"key": number` JSON (`target/bench/calls.json`,
//! `target/bench/chat.json`) that `cargo xtask bench` merges.
//!
//! What it deliberately does not do: TLS, real speech or a real model's
//! timing (the simulator answers at once and streams in real time), or
//! load spread over several machines. The load generator shares the
//! machine with the server, so its own CPU use is reported beside the
//! server's.
//!
//! ```text
//! turngate-loadgen calls [--quick] [--steps 100,250,…] [--protocols twilio,telnyx,audiocodes]
//!                        [--voice-api realtime|live]
//!                        [--warmup-s N] [--measure-s N] [--ramp-rate CALLS_PER_S] [--limit-ms MS]
//!                        [--keep-going] [--binary PATH] [--out PATH]
//! turngate-loadgen chat [--rounds N] [--out PATH]
//! ```

#![allow(clippy::print_stdout, reason = "a benchmark tool reports on stdout")]
#![allow(clippy::print_stderr, reason = "a benchmark tool reports errors on stderr")]

mod calls;
mod chat;
mod hist;
mod probe;
mod procfs;
mod results;
mod server;
mod stamp;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use turngate_sim::callers::Protocol;

use crate::calls::{Plan, VoiceApi};
use crate::results::Results;

/// Steps of a full run.
const FULL_STEPS: &[usize] =
    &[100, 250, 500, 600, 700, 800, 900, 1000, 1250, 1500, 2000, 2500, 3000, 4000];
/// Steps of a quick run.
const QUICK_STEPS: &[usize] = &[250, 500, 750, 1000, 1500, 2000];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("turngate-loadgen: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = match args.first().map(String::as_str) {
        Some("calls") => runtime.block_on(calls_command(args.get(1..).unwrap_or_default())),
        Some("chat") => runtime.block_on(chat_command(args.get(1..).unwrap_or_default())),
        _ => {
            eprintln!("usage: turngate-loadgen <calls | chat> [options] (see the crate docs)");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("turngate-loadgen: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn calls_command(args: &[String]) -> anyhow::Result<()> {
    let root = server::workspace_root();
    let mut quick = false;
    let mut steps: Option<Vec<usize>> = None;
    let mut plan = Plan {
        steps: Vec::new(),
        protocols: vec![Protocol::Twilio],
        voice_api: VoiceApi::Realtime,
        ramp_rate: 400.0,
        warmup: Duration::from_secs(10),
        measure: Duration::from_secs(30),
        limit: Duration::from_millis(5),
        keep_going: false,
        binary: server::default_binary(),
        work_dir: root.join("target/bench"),
    };
    let (mut warmup, mut measure) = (None, None);
    let mut out = root.join("target/bench/calls.json");
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => quick = true,
            "--steps" => steps = Some(list(value()?, |s| s.parse().ok())?),
            "--protocols" => plan.protocols = list(value()?, |s| s.parse().ok())?,
            "--voice-api" => {
                plan.voice_api = value()?.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            }
            "--warmup-s" => warmup = Some(seconds(value()?)?),
            "--measure-s" => measure = Some(seconds(value()?)?),
            "--ramp-rate" => plan.ramp_rate = value()?.parse().context("--ramp-rate")?,
            "--limit-ms" => {
                plan.limit = Duration::from_secs_f64(
                    value()?.parse::<f64>().context("--limit-ms")? / 1000.0,
                );
            }
            "--keep-going" => plan.keep_going = true,
            "--binary" => plan.binary = PathBuf::from(value()?),
            "--out" => out = PathBuf::from(value()?),
            other => bail!("unknown option {other}"),
        }
    }
    if plan.ramp_rate <= 0.0 {
        bail!("--ramp-rate must be positive");
    }
    if quick {
        plan.warmup = Duration::from_secs(5);
        plan.measure = Duration::from_secs(10);
    }
    plan.warmup = warmup.unwrap_or(plan.warmup);
    plan.measure = measure.unwrap_or(plan.measure);
    plan.steps = steps.unwrap_or_else(|| if quick { QUICK_STEPS } else { FULL_STEPS }.to_vec());
    if plan.steps.is_empty() || plan.protocols.is_empty() {
        bail!("no steps or no protocols");
    }
    let (model, cores) = procfs::machine();
    println!(
        "turngate-loadgen: {} to {:?} on {cores} cores ({model}); server {}; load generator, simulator and server share the machine",
        plan.protocols.iter().map(ToString::to_string).collect::<Vec<_>>().join("+"),
        plan.voice_api,
        plan.binary.display(),
    );
    let outcome = calls::run(&plan).await?;
    let mut results = Results::default();
    outcome.write(plan.limit, &mut results);
    results.put("machine.cores", cores as f64);
    results.write(&out)?;
    println!(
        "largest step that held (p99 ≤ {:?}, nothing lost): {} calls; results in {}",
        plan.limit,
        results.get("calls.max_calls_p99_5ms").unwrap_or_default(),
        out.display()
    );
    if outcome.sim_violations > 0 {
        println!("the simulator saw {} API violations:", outcome.sim_violations);
        for detail in &outcome.sim_details {
            println!("  {detail}");
        }
    }
    Ok(())
}

async fn chat_command(args: &[String]) -> anyhow::Result<()> {
    let mut rounds = 20;
    let mut out = server::workspace_root().join("target/bench/chat.json");
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--rounds" => rounds = value()?.parse().context("--rounds")?,
            "--out" => out = PathBuf::from(value()?),
            other => bail!("unknown option {other}"),
        }
    }
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let recovery = chat::measure(rounds).await?;
    let mut results = Results::default();
    recovery.write(&mut results);
    results.write(&out)?;
    println!(
        "chat recovery overhead past the simulator's cancel ({}–{} ms): p50 {:.1} ms, p99 {:.1} ms (assistants p50 {:.1}, responses p50 {:.1}; {} rounds); with a 40–60 ms poll: p50 {:.1} ms; results in {}",
        chat::CANCELS.first().map_or(0, Duration::as_millis),
        chat::CANCELS.last().map_or(0, Duration::as_millis),
        results.get("chat.recovery_overhead_ms_p50").unwrap_or_default(),
        results.get("chat.recovery_overhead_ms_p99").unwrap_or_default(),
        results.get("chat.assistants_overhead_ms_p50").unwrap_or_default(),
        results.get("chat.responses_overhead_ms_p50").unwrap_or_default(),
        results.get("chat.rounds").unwrap_or_default(),
        results.get("chat.recovery_overhead_ms_p50_fast_poll").unwrap_or_default(),
        out.display()
    );
    Ok(())
}

/// A comma-separated list, each item parsed by `parse`.
fn list<T>(text: &str, parse: impl Fn(&str) -> Option<T>) -> anyhow::Result<Vec<T>> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| parse(item).with_context(|| format!("`{item}` is not valid here")))
        .collect()
}

fn seconds(text: &str) -> anyhow::Result<Duration> {
    let value: f64 =
        text.parse().with_context(|| format!("`{text}` is not a number of seconds"))?;
    if !(0.0..=3600.0).contains(&value) {
        bail!("{value} s is out of range");
    }
    Ok(Duration::from_secs_f64(value))
}
