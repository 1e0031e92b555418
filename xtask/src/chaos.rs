//! `cargo xtask chaos [--quick] [--only a,b]`: the chaos suite
//! (`turngate-chaos`) against the real `turngate` binary: two server
//! processes on a real `redis-server`, the strict simulators as carriers
//! and upstream, and scripted faults (Redis killed for longer than a lease
//! lives, a worker SIGKILLed, the upstream dropping connections, hostile
//! peers). It prints a line per scenario and `chaos: N scenarios, V
//! violations`.
//!
//! The full run builds in release; `--quick` (small and short, part of
//! `cargo xtask ci`) uses the debug build, which the checks build anyway.

use std::time::Instant;

use anyhow::Context as _;

use crate::run::cmd;

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let build = Instant::now();
    let mut build_args =
        vec!["build", "--package", "turngate-server", "--package", "turngate-chaos"];
    if !quick {
        build_args.push("--release");
    }
    cmd("cargo", &build_args)?;
    println!("build: {:.0} s", build.elapsed().as_secs_f64());
    let profile = if quick { "debug" } else { "release" };
    let target = crate::target_dir().join(profile);
    let chaos = target.join("turngate-chaos");
    let server = target.join("turngate");
    let chaos = chaos.to_str().context("the workspace path is not UTF-8")?;
    let server = server.to_str().context("the workspace path is not UTF-8")?;
    let mut chaos_args = vec!["--binary", server];
    chaos_args.extend(args.iter().map(String::as_str));
    cmd(chaos, &chaos_args)
}
