//! `cargo xtask`: the project's automation.

fn main() -> anyhow::Result<()> {
    Ok(())
}
