//! `cargo xtask fuzz <target> | --all [--time <seconds>]`: the cargo-fuzz
//! targets in `fuzz/` (nightly toolchain; cargo-fuzz installed if absent).

use std::fs;

use anyhow::{Context, bail};

use crate::run::{available, cmd};

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut time = "60".to_owned();
    let mut targets = Vec::new();
    let mut all = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--all" => all = true,
            "--time" => time = args.next().context("--time needs seconds")?.clone(),
            target => targets.push(target.to_owned()),
        }
    }
    if all {
        targets = list_targets()?;
    }
    if targets.is_empty() {
        bail!("name a target or pass --all; targets: {}", list_targets()?.join(", "));
    }
    if !available("cargo", &["+nightly", "fuzz", "--version"]) {
        cmd("cargo", &["+nightly", "install", "--locked", "cargo-fuzz"])?;
    }
    let root = crate::root().join("fuzz");
    for target in &targets {
        let limit = format!("-max_total_time={time}");
        let manifest = root.join("Cargo.toml");
        let manifest = manifest.to_string_lossy();
        cmd(
            "cargo",
            &[
                "+nightly",
                "fuzz",
                "run",
                "--fuzz-dir",
                &root.to_string_lossy(),
                target,
                "--",
                &limit,
            ],
        )
        .with_context(|| format!("fuzz target {target} (manifest {manifest})"))?;
    }
    Ok(())
}

fn list_targets() -> anyhow::Result<Vec<String>> {
    let dir = crate::root().join("fuzz/fuzz_targets");
    let mut targets: Vec<String> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".rs").map(str::to_owned))
        .collect();
    targets.sort();
    Ok(targets)
}
