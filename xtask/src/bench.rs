//! `cargo xtask bench [--quick | <what>]`: the project's measurements, each
//! in a release build, merged into `target/bench/results.json`.
//!
//! With no argument it runs everything below at full length and appends a
//! Markdown table (date, machine, commit, figures) to `docs/benchmarks.md`;
//! `--quick` runs the same with short windows and fewer steps (under five
//! minutes once the release build exists) and writes the table only to
//! `target/bench/results.md`. One name runs one part and merges its
//! figures:
//!
//! - `codec`: G.711 and resampling throughput (`turngate-audio`);
//! - `core`: `Session::handle` per input (`turngate-core`);
//! - `frames`: one media frame through each provider's codec
//!   (`turngate-telephony`);
//! - `signal`: cross-worker signal latency over a loopback Redis the
//!   benchmark starts itself, beside the raw Redis round trip
//!   (`turngate-coord`);
//! - `chat`: chat conflict-recovery overhead (`turngate-loadgen chat`);
//! - `calls`: concurrent Twilio calls through the real `turngate` binary,
//!   stepping N up to the knee (`turngate-loadgen calls`);
//! - `mixed`: one step of Twilio, Telnyx and AudioCodes calls side by side,
//!   its figures under `mixed.`;
//! - `live`: concurrent Twilio calls bridged to GPT-Live (its simulator's
//!   continuous real-time track), stepping N up to the knee
//!   (`turngate-loadgen calls --voice-api live`), its figures under `live.`.

mod report;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::run::cmd;
use report::Figures;

/// The keys `results.json` must hold after a complete run.
pub(crate) const REQUIRED: &[&str] = &[
    "calls.max_calls_p99_5ms",
    "calls.p99_added_ms_at_max",
    "calls.cpu_pct_per_call",
    "calls.rss_kib_per_call",
    "live.calls.max_calls_p99_5ms",
    "setup.p50_ms",
    "turn.p50_ms",
    "signal.p50_us",
    "signal.p99_us",
    "redis_rtt.p50_us",
    "chat.recovery_overhead_ms_p50",
    "g711.ulaw_decode_mb_s",
    "g711.ulaw_encode_mb_s",
    "core.handle_ns_p50",
];

/// The parts of a run, in the order a full run takes them.
const PARTS: &[&str] = &["codec", "core", "frames", "signal", "chat", "calls", "mixed", "live"];

/// The steps of the GPT-Live knee, full run and quick run. A Live call
/// moves a 20 ms frame each way all the time (the model's track is
/// continuous, silence included) and runs a speech gate over every one,
/// where a Realtime call receives 100 ms chunks only while the model
/// speaks; so its knee is lower.
const LIVE_STEPS: &str = "50,100,200,300,400,500,600";
const LIVE_QUICK_STEPS: &str = "50,100,200,300";

/// Concurrent calls in the mixed-protocol step.
const MIXED_CALLS: &str = "300";

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let root = crate::root();
    let bench_dir = root.join("target/bench");
    std::fs::create_dir_all(&bench_dir)?;
    let (parts, quick) = match args.first().map(String::as_str) {
        None => (PARTS.to_vec(), false),
        Some("--quick") => (PARTS.to_vec(), true),
        Some(part) if PARTS.contains(&part) => (vec![part], args.iter().any(|a| a == "--quick")),
        Some(other) => {
            bail!("unknown benchmark `{other}`; there are --quick, {}", PARTS.join(", "))
        }
    };
    let whole = parts.len() == PARTS.len();
    let started = Instant::now();
    if parts.iter().any(|p| matches!(*p, "chat" | "calls" | "mixed" | "live")) {
        let build = Instant::now();
        cmd(
            "cargo",
            &[
                "build",
                "--release",
                "--package",
                "turngate-server",
                "--package",
                "turngate-loadgen",
            ],
        )?;
        println!("release build: {:.0} s", build.elapsed().as_secs_f64());
    }
    // A whole run starts from nothing, so no figure is left over from an
    // earlier one; a single part updates its figures in place.
    let results = bench_dir.join("results.json");
    let mut figures = if whole { Figures::default() } else { Figures::read(&results)? };
    for part in &parts {
        let part_started = Instant::now();
        let found = run_part(part, quick, &bench_dir)?;
        println!(
            "{part}: {} figures in {:.0} s",
            found.len(),
            part_started.elapsed().as_secs_f64()
        );
        figures.merge(found);
    }
    figures.write(&results)?;
    println!("wrote {} in {:.0} s", results.display(), started.elapsed().as_secs_f64());
    if whole {
        let missing: Vec<&str> =
            REQUIRED.iter().copied().filter(|key| figures.get(key).is_none()).collect();
        if !missing.is_empty() {
            bail!("results.json lacks {}", missing.join(", "));
        }
        let table = report::markdown(&figures, quick, &machine(), &commit());
        std::fs::write(bench_dir.join("results.md"), &table)?;
        if quick {
            println!("{table}");
        } else {
            append(&root.join("docs/benchmarks.md"), &table)?;
            println!("appended the table to docs/benchmarks.md");
        }
    }
    Ok(())
}

/// Runs one part and returns its figures.
fn run_part(part: &str, quick: bool, bench_dir: &Path) -> anyhow::Result<Figures> {
    let loadgen = crate::root().join("target/release/turngate-loadgen");
    let loadgen = loadgen.to_str().context("the workspace path is not UTF-8")?;
    match part {
        "codec" => {
            let output =
                capture("cargo", &["bench", "--package", "turngate-audio", "--bench", "codec"])?;
            report::codec(&output)
        }
        "core" => {
            cmd("cargo", &["bench", "--package", "turngate-core", "--bench", "handle"])?;
            Figures::read(&bench_dir.join("core.json"))
        }
        "frames" => {
            cmd(
                "cargo",
                &[
                    "bench",
                    "--package",
                    "turngate-telephony",
                    "--features",
                    "full",
                    "--bench",
                    "frames",
                ],
            )?;
            Figures::read(&bench_dir.join("frames.json"))
        }
        "signal" => {
            cmd(
                "cargo",
                &[
                    "bench",
                    "--package",
                    "turngate-coord",
                    "--features",
                    "redis",
                    "--bench",
                    "signal",
                ],
            )?;
            Figures::read(&bench_dir.join("signal.json"))
        }
        "chat" => {
            let rounds = if quick { "10" } else { "30" };
            cmd(loadgen, &["chat", "--rounds", rounds])?;
            Figures::read(&bench_dir.join("chat.json"))
        }
        "calls" => {
            let mut args = vec!["calls"];
            if quick {
                args.push("--quick");
            }
            cmd(loadgen, &args)?;
            Figures::read(&bench_dir.join("calls.json"))
        }
        "mixed" => {
            let out = bench_dir.join("mixed.json");
            let out_arg = out.to_str().context("the workspace path is not UTF-8")?;
            let mut args = vec![
                "calls",
                "--protocols",
                "twilio,telnyx,audiocodes",
                "--steps",
                MIXED_CALLS,
                "--out",
                out_arg,
            ];
            if quick {
                args.push("--quick");
            }
            cmd(loadgen, &args)?;
            Ok(report::mixed(&Figures::read(&out)?, MIXED_CALLS))
        }
        "live" => {
            let out = bench_dir.join("live.json");
            let out_arg = out.to_str().context("the workspace path is not UTF-8")?;
            let steps = if quick { LIVE_QUICK_STEPS } else { LIVE_STEPS };
            let mut args = vec!["calls", "--voice-api", "live", "--steps", steps, "--out", out_arg];
            if quick {
                args.push("--quick");
            }
            cmd(loadgen, &args)?;
            Ok(report::prefixed(&Figures::read(&out)?, "live."))
        }
        other => bail!("unknown benchmark `{other}`"),
    }
}

/// Runs a command in the workspace root, shows its output and returns it.
fn capture(program: &str, args: &[&str]) -> anyhow::Result<String> {
    println!("$ {program} {}", args.join(" "));
    let output = Command::new(program)
        .args(args)
        .current_dir(crate::root())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start {program}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    print!("{text}");
    if !output.status.success() {
        bail!("`{program} {}` failed ({})", args.join(" "), output.status);
    }
    Ok(text)
}

/// `<cores> × <CPU model>`, from the machine itself.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cores} cores, {model}")
}

/// The commit measured, marked when the tree has changes on top of it.
fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(crate::root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head} (with uncommitted changes)") } else { head }
}

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut current = std::fs::read_to_string(path).unwrap_or_default();
    if !current.is_empty() && !current.ends_with("\n\n") {
        current.push('\n');
    }
    current.push_str(text);
    std::fs::write(path, current).with_context(|| format!("writing {}", path.display()))
}
