//! `turngate-chaos`: the chaos suite behind `cargo xtask chaos`.
//!
//! Each scenario starts a real persistent `redis-server`, the strict
//! Realtime and chat simulators, and real `turngate serve` processes (the
//! binary given with `--binary`) configured with every secret, places
//! calls through the strict carrier simulators, injects one kind of fault,
//! and checks what a user would check afterwards: every call served to
//! its end, every turn answered, every webhook signal delivered once,
//! every lease where it belongs, the server alive and its memory bounded.
//!
//! ```text
//! turngate-chaos --binary target/release/turngate [--quick] [--only redis-outage,worker-kill,…]
//! ```
//!
//! It prints one line per scenario, then `chaos: N scenarios, V violations`,
//! and exits non-zero if any scenario found a violation or could not run.

#![allow(clippy::print_stdout, reason = "a test tool reports on stdout")]
#![allow(clippy::print_stderr, reason = "a test tool reports errors on stderr")]
#![allow(
    clippy::indexing_slicing,
    reason = "a test tool: indexes are into fixed arrays of workers and protocols, by index modulo their length"
)]

mod abuse;
mod calls;
mod kill;
mod outage;
mod rig;
mod upstream;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;

/// How big and how long each scenario is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale {
    /// Live calls while Redis is down.
    pub(crate) outage_calls: usize,
    /// How long Redis stays down (longer than a lease lives).
    pub(crate) outage: Duration,
    /// The workers' lease TTL.
    pub(crate) lease_ttl: Duration,
    /// Calls spread over two workers when one is killed.
    pub(crate) kill_calls: usize,
    /// Calls while the upstream drops connections.
    pub(crate) abort_calls: usize,
    /// Legitimate calls during the abuse.
    pub(crate) abuse_calls: usize,
    /// Concurrent chat requests to one conversation.
    pub(crate) chat_flood: usize,
}

impl Scale {
    fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                outage_calls: 8,
                outage: Duration::from_secs(6),
                lease_ttl: Duration::from_secs(3),
                kill_calls: 6,
                abort_calls: 6,
                abuse_calls: 4,
                chat_flood: 400,
            }
        } else {
            Scale {
                outage_calls: 50,
                outage: Duration::from_secs(45),
                lease_ttl: Duration::from_secs(30),
                kill_calls: 50,
                abort_calls: 50,
                abuse_calls: 20,
                chat_flood: 2000,
            }
        }
    }
}

/// What one scenario found.
#[derive(Debug)]
pub(crate) struct Verdict {
    /// Its name.
    pub(crate) name: &'static str,
    /// One line of figures.
    pub(crate) summary: String,
    /// Everything that broke a promise; empty when all held.
    pub(crate) violations: Vec<String>,
}

const SCENARIOS: &[&str] = &["redis-outage", "worker-kill", "upstream-aborts", "abuse"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value =
        |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let Some(binary) = value("--binary").map(PathBuf::from) else {
        eprintln!("usage: turngate-chaos --binary <turngate> [--quick] [--only a,b]");
        return ExitCode::from(2);
    };
    let only: Vec<String> = value("--only")
        .map(|list| list.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|| SCENARIOS.iter().map(|s| (*s).to_owned()).collect());
    if let Some(unknown) = only.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
        eprintln!("unknown scenario `{unknown}` (known: {})", SCENARIOS.join(", "));
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let scale = Scale::new(quick);
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        let mut verdicts = Vec::new();
        for name in &only {
            let began = Instant::now();
            let verdict = run(name, &binary, scale).await;
            let verdict = match verdict {
                Ok(verdict) => verdict,
                Err(error) => Verdict {
                    name: SCENARIOS.iter().find(|s| **s == name.as_str()).copied().unwrap_or("?"),
                    summary: "could not run".to_owned(),
                    violations: vec![format!("{error:#}")],
                },
            };
            let status = if verdict.violations.is_empty() { "ok" } else { "VIOLATED" };
            println!(
                "{}: {} ({:.0} s) {status}",
                verdict.name,
                verdict.summary,
                began.elapsed().as_secs_f64()
            );
            for violation in &verdict.violations {
                println!("  - {violation}");
            }
            verdicts.push(verdict);
        }
        verdicts
    });
    let violations: usize = outcome.iter().map(|v| v.violations.len()).sum();
    println!(
        "chaos: {} scenarios, {violations} violations ({:.0} s{})",
        outcome.len(),
        started.elapsed().as_secs_f64(),
        if quick { ", quick" } else { "" }
    );
    if violations == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

async fn run(name: &str, binary: &std::path::Path, scale: Scale) -> anyhow::Result<Verdict> {
    match name {
        "redis-outage" => outage::run(binary, scale).await,
        "worker-kill" => kill::run(binary, scale).await,
        "upstream-aborts" => upstream::run(binary, scale).await,
        "abuse" => abuse::run(binary, scale).await,
        other => bail!("unknown scenario {other}"),
    }
}
