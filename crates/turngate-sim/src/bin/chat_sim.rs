//! Serves a strict chat simulator as a process, for demos and load tests.
//!
//! `turngate-sim-chat --api assistants|responses [--port 4010] [--run-ms 200]
//! [--cancel-ms 1500] [--queued-ms 20] [--rate-limit-every N]
//! [--server-error-every N] [--retry-after-ms 200] [--api-key KEY]`
//!
//! Point a client at the printed base URL (e.g. `TURNGATE_OPENAI_BASE_URL`).
//! On Ctrl-C it prints the violations it saw and exits non-zero if any.

#![allow(clippy::print_stderr, reason = "a command-line tool reports on stderr")]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use turngate_sim::chat::{Api, ChatSim, SimConfig};

const USAGE: &str = "usage: turngate-sim-chat --api assistants|responses [--port N] [--run-ms N] [--cancel-ms N] [--queued-ms N] [--rate-limit-every N] [--server-error-every N] [--retry-after-ms N] [--api-key KEY]";

fn main() -> ExitCode {
    let mut api = None;
    let mut port: u16 = 4010;
    let mut config = SimConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        };
        let number = value.parse::<u64>().ok();
        match (flag.as_str(), number) {
            ("--api", _) if value == "assistants" => api = Some(Api::Assistants),
            ("--api", _) if value == "responses" => api = Some(Api::Responses),
            ("--port", Some(n)) => port = u16::try_from(n).unwrap_or(4010),
            ("--run-ms", Some(n)) => config.run = Duration::from_millis(n),
            ("--cancel-ms", Some(n)) => config.cancel = Duration::from_millis(n),
            ("--queued-ms", Some(n)) => config.queued = Duration::from_millis(n),
            ("--rate-limit-every", Some(n)) => config.faults.rate_limit_every = Some(n),
            ("--server-error-every", Some(n)) => config.faults.server_error_every = Some(n),
            ("--retry-after-ms", Some(n)) => config.faults.retry_after = Duration::from_millis(n),
            ("--api-key", _) => config.api_key = Some(value),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(api) = api else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let sim = match ChatSim::serve(api, config, addr).await {
            Ok(sim) => sim,
            Err(error) => {
                eprintln!("cannot listen on {addr}: {error}");
                return ExitCode::FAILURE;
            }
        };
        eprintln!("{api:?} simulator at {}", sim.base_url());
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("waiting for Ctrl-C failed: {error}");
        }
        let violations = sim.violations();
        eprintln!("{:?}\n{violations:?}", sim.stats());
        if violations.total() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    })
}
