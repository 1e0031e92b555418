//! `cargo xtask`: the project's automation, one module per command.
//!
//! - `ci [--advisories]`: everything CI checks, with a summary.
//! - `tidy`: the repository's conventions as failing checks.
//! - `sim [--cases N] [--seed S] [--threads T]`: the core's deterministic simulation.
//! - `bench [codec | signal]`: measurements in release builds.
//! - `chaos [--quick] [--only a,b]`: the chaos suite against the real binary.
//! - `fuzz <target> | --all [--time <s>]`: the cargo-fuzz targets (nightly).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool reports on the terminal"
)]

mod bench;
mod chaos;
mod ci;
mod fuzz;
mod run;
mod sim;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(args.get(1..).unwrap_or_default()),
        Some("tidy") => tidy::run(),
        Some("sim") => sim::run(args.get(1..).unwrap_or_default()),
        Some("bench") => bench::run(args.get(1..).unwrap_or_default()),
        Some("chaos") => chaos::run(args.get(1..).unwrap_or_default()),
        Some("fuzz") => fuzz::run(args.get(1..).unwrap_or_default()),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci [--advisories] | tidy | sim [--cases N] [--seed S] [--threads T] | bench [codec | signal] | chaos [--quick] | fuzz <target> | --all [--time s]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR` when set (relative
/// to the workspace root), else the workspace's `target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}
