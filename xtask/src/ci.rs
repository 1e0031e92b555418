//! `cargo xtask ci`: everything CI checks, in order, with a summary.

use std::time::Instant;

use anyhow::bail;

use crate::run::{available, cmd, cmd_env};

/// One named check.
type Step = Box<dyn Fn() -> anyhow::Result<()>>;

/// Schedules the deterministic simulation runs in CI (its test reads
/// `TURNGATE_SIM_CASES`).
const SIM_CASES: &str = "20000";

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let advisories = args.iter().any(|a| a == "--advisories");
    let checks: Vec<String> = if advisories {
        ["advisories", "bans", "licenses", "sources"].map(str::to_owned).to_vec()
    } else {
        // The advisory database cannot be fetched on machines without
        // internet access; `--advisories` adds it where it can.
        ["bans", "licenses", "sources"].map(str::to_owned).to_vec()
    };
    let steps: Vec<(&str, Step)> = vec![
        ("format", Box::new(|| cmd("cargo", &["fmt", "--all", "--check"]))),
        (
            "clippy",
            Box::new(|| {
                cmd(
                    "cargo",
                    &[
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--all-features",
                        "--",
                        "-D",
                        "warnings",
                    ],
                )
            }),
        ),
        (
            "test",
            Box::new(|| {
                cmd_env(
                    "cargo",
                    &["test", "--workspace", "--all-features", "--no-fail-fast"],
                    &[("TURNGATE_SIM_CASES", SIM_CASES)],
                )
            }),
        ),
        ("chaos", Box::new(|| crate::chaos::run(&["--quick".to_owned()]))),
        ("tidy", Box::new(crate::tidy::run)),
        (
            "deny",
            Box::new(move || {
                if !available("cargo", &["deny", "--version"]) {
                    cmd("cargo", &["install", "--locked", "cargo-deny"])?;
                }
                let mut args = vec!["deny", "--all-features", "check"];
                args.extend(checks.iter().map(String::as_str));
                cmd("cargo", &args)
            }),
        ),
    ];
    let mut results = Vec::new();
    for (name, step) in &steps {
        println!("\n== {name} ==");
        let started = Instant::now();
        let outcome = step();
        if let Err(error) = &outcome {
            eprintln!("{name} failed: {error:#}");
        }
        results.push((*name, outcome.is_ok(), started.elapsed()));
    }
    println!("\n== summary ==");
    for (name, ok, elapsed) in &results {
        println!(
            "{:<8} {:<6} {:>7.1}s",
            name,
            if *ok { "ok" } else { "FAILED" },
            elapsed.as_secs_f64()
        );
    }
    let failed: Vec<&str> = results.iter().filter(|r| !r.1).map(|r| r.0).collect();
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    println!("all checks passed");
    Ok(())
}
