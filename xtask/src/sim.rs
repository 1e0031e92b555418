//! `cargo xtask sim`: the deterministic simulation of the session core,
//! in a release build.

use crate::run::cmd;

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut full =
        vec!["run", "--release", "--quiet", "--package", "turngate-sim", "--bin", "core-sim", "--"];
    full.extend(args.iter().map(String::as_str));
    cmd("cargo", &full)
}
