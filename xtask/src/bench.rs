//! `cargo xtask bench <what>`: the project's measurements, each a release build.
//!
//! - `codec`: G.711 and resampling throughput (`turngate-audio`).
//! - `signal`: cross-worker signal latency over a loopback Redis the
//!   benchmark starts itself, beside the raw Redis round trip
//!   (`turngate-coord`); also written to `target/bench/signal.json`.

use anyhow::bail;

use crate::run::cmd;

pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("codec") => {
            cmd("cargo", &["bench", "--package", "turngate-audio", "--bench", "codec"])
        }
        Some("signal") => cmd(
            "cargo",
            &["bench", "--package", "turngate-coord", "--features", "redis", "--bench", "signal"],
        ),
        Some(other) => bail!("unknown benchmark `{other}`; there are `codec` and `signal`"),
        None => {
            cmd("cargo", &["bench", "--package", "turngate-audio", "--bench", "codec"])?;
            cmd(
                "cargo",
                &[
                    "bench",
                    "--package",
                    "turngate-coord",
                    "--features",
                    "redis",
                    "--bench",
                    "signal",
                ],
            )
        }
    }
}
