//! Runs the deterministic simulation of the session core.
//!
//! `core-sim --cases N [--first-seed S] [--threads T]` runs N schedules;
//! `core-sim --seed S` replays one and prints its report.

#![allow(clippy::print_stderr, reason = "a command-line tool reports on stderr")]

use std::process::ExitCode;

use turngate_core::SessionConfig;
use turngate_sim::schedule::{run_many, run_one};

fn main() -> ExitCode {
    let mut cases: u64 = 20_000;
    let mut first_seed: u64 = 1;
    let mut replay: Option<u64> = None;
    let mut threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let parsed = value.as_deref().and_then(parse_number);
        match (flag.as_str(), parsed) {
            ("--cases", Some(n)) => cases = n,
            ("--first-seed", Some(n)) => first_seed = n,
            ("--seed", Some(n)) => replay = Some(n),
            ("--threads", Some(n)) => threads = usize::try_from(n).unwrap_or(1),
            _ => {
                eprintln!("usage: core-sim [--cases N] [--first-seed S] [--threads T] | --seed S");
                return ExitCode::from(2);
            }
        }
    }
    let config = SessionConfig::default();
    if let Some(seed) = replay {
        return match run_one(seed, &config) {
            Ok(stats) => {
                eprintln!("seed {seed:#x}: no violation ({stats:?})");
                ExitCode::SUCCESS
            }
            Err(violation) => {
                eprintln!("{violation}");
                ExitCode::FAILURE
            }
        };
    }
    let report = run_many(cases, first_seed, threads, &config);
    let totals = &report.totals;
    eprintln!(
        "{} schedules, {} violations, {:.1}s wall on {threads} threads ({} inputs, {:.0} simulated hours, {} turns, {} barge-ins, {} check-ins, {} disconnects, {} full-duplex calls, {} delegations)",
        report.cases,
        u8::from(report.violation.is_some()),
        report.elapsed.as_secs_f64(),
        totals.inputs,
        totals.simulated.as_secs_f64() / 3600.0,
        totals.turns,
        totals.barge_ins,
        totals.check_ins,
        totals.disconnects,
        totals.full_duplex,
        totals.delegations,
    );
    match report.violation {
        Some(violation) => {
            eprintln!("{violation}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
