//! Running commands from the workspace root, loudly.

use std::process::Command;

use anyhow::{Context, bail};

/// Runs `program args…` in the workspace root with inherited output.
pub(crate) fn cmd(program: &str, args: &[&str]) -> anyhow::Result<()> {
    cmd_env(program, args, &[])
}

/// Like [`cmd`], with extra environment variables.
pub(crate) fn cmd_env(program: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    println!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(crate::root())
        .status()
        .with_context(|| format!("could not start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// True if `program --version` runs.
pub(crate) fn available(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).output().is_ok_and(|output| output.status.success())
}
