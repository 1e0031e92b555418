//! `cargo xtask fuzz <target>… | --all [--time <seconds>] [--runs <n>]
//! [--sanitizer <address|none>]`: the cargo-fuzz targets in `fuzz/`
//! (nightly toolchain; cargo-fuzz installed if absent). The workspace
//! forbids `unsafe` code, so AddressSanitizer, cargo-fuzz's default, finds
//! nothing in it that a panic would not show, and halves the executions per
//! second: targets run without a sanitizer unless `--sanitizer address` asks. A target's hand-written seeds (`fuzz/seeds/<target>/`) are
//! copied into its corpus before its first run. Each run stops at the time
//! limit or after `--runs` executions, whichever comes first; libFuzzer's
//! last line (`Done N runs in S second(s)`) is the figure to report.

use std::fs;

use anyhow::{Context, bail};

use crate::run::{available, cmd};

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let mut time = "60".to_owned();
    let mut runs = None;
    let mut sanitizer = "none".to_owned();
    let mut targets = Vec::new();
    let mut all = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--all" => all = true,
            "--time" => time = args.next().context("--time needs seconds")?.clone(),
            "--runs" => runs = Some(args.next().context("--runs needs a count")?.clone()),
            "--sanitizer" => {
                sanitizer = args.next().context("--sanitizer needs a name")?.clone();
            }
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
        seed_corpus(&root, target)?;
        let limit = format!("-max_total_time={time}");
        let count = runs.as_ref().map(|n| format!("-runs={n}"));
        let manifest = root.join("Cargo.toml");
        let manifest = manifest.to_string_lossy();
        let fuzz_dir = root.to_string_lossy();
        let mut args = vec![
            "+nightly",
            "fuzz",
            "run",
            "--fuzz-dir",
            &fuzz_dir,
            "--sanitizer",
            &sanitizer,
            target,
            "--",
            &limit,
        ];
        if let Some(count) = &count {
            args.push(count);
        }
        cmd("cargo", &args)
            .with_context(|| format!("fuzz target {target} (manifest {manifest})"))?;
    }
    Ok(())
}

/// Copies `fuzz/seeds/<target>/*` into the target's corpus, once.
fn seed_corpus(root: &std::path::Path, target: &str) -> anyhow::Result<()> {
    let seeds = root.join("seeds").join(target);
    let corpus = root.join("corpus").join(target);
    if !seeds.is_dir() || corpus.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    for entry in fs::read_dir(&seeds)?.filter_map(Result::ok) {
        fs::copy(entry.path(), corpus.join(entry.file_name()))?;
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
