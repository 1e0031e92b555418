//! `turngate-sim-realtime`: the strict OpenAI Realtime GA simulator as a
//! process, for the demo, the load generator and other programs.
//!
//! Run with `cargo run -p turngate-sim --bin turngate-sim-realtime -- --port 8765`
//! and point a client at the printed URL. Options (all optional):
//!
//! ```text
//! --host ADDR                 listen address (default 127.0.0.1)
//! --port N                    port (default 8765; 0 picks one)
//! --api-key KEY               require `Authorization: Bearer KEY`
//! --pacing realtime|fast|Nms  response audio pacing (default realtime)
//! --chunks N                  audio chunks per response (default 5)
//! --chunk-ms N                audio per chunk (default 100)
//! --function-call-every K     every Kth response calls the first tool
//! --drop P:MIN:MAX            drop a connection with probability P after MIN..MAX events
//! --created-delay-ms N        delay response.created by up to N ms
//! --server-error P            fail a response with probability P
//! --session-limit-ms N        close sessions with 1001 after N ms
//! --seed N                    randomness seed
//! --report-secs N             print the counts every N seconds (default 10)
//! ```

#![allow(clippy::print_stdout, reason = "a command-line tool reports on stdout")]
#![allow(clippy::print_stderr, reason = "a command-line tool reports errors on stderr")]

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use turngate_sim::realtime::{Pacing, SimConfig, serve};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("turngate-sim-realtime: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("turngate-sim-realtime: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match serve(options.config, options.addr).await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("turngate-sim-realtime: cannot listen on {}: {error}", options.addr);
                return ExitCode::FAILURE;
            }
        };
        println!("turngate-sim-realtime listening: {}", server.url());
        let mut last = None;
        loop {
            tokio::time::sleep(options.report).await;
            let counts = server.counts();
            if last.as_ref() != Some(&counts) {
                println!(
                    "connections={} responses={} violations={} conflicts={} bad_commits={} bad_truncates={} invalid_events={}",
                    counts.connections,
                    counts.responses,
                    counts.violations(),
                    counts.conflicts,
                    counts.bad_commits,
                    counts.bad_truncates,
                    counts.invalid_events
                );
                last = Some(counts);
            }
        }
    })
}

struct Options {
    addr: SocketAddr,
    config: SimConfig,
    report: Duration,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut host: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let mut port: u16 = 8765;
    let mut config = SimConfig { pacing: Pacing::RealTime, ..SimConfig::default() };
    let mut report = Duration::from_secs(10);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => host = number(value()?, flag)?,
            "--port" => port = number(value()?, flag)?,
            "--api-key" => config.api_key = Some(value()?.clone()),
            "--pacing" => {
                config.pacing = match value()?.as_str() {
                    "realtime" => Pacing::RealTime,
                    "fast" => Pacing::Fast,
                    other => match other.strip_suffix("ms").and_then(|ms| ms.parse().ok()) {
                        Some(ms) => Pacing::Interval(Duration::from_millis(ms)),
                        None => {
                            return Err(format!(
                                "--pacing: `{other}` is not realtime, fast or <N>ms"
                            ));
                        }
                    },
                };
            }
            "--chunks" => config.chunks_per_response = number(value()?, flag)?,
            "--chunk-ms" => config.chunk = Duration::from_millis(number(value()?, flag)?),
            "--function-call-every" => config.function_call_every = number(value()?, flag)?,
            "--drop" => {
                let spec = value()?;
                let parts: Vec<&str> = spec.split(':').collect();
                let [p, low, high] = parts.as_slice() else {
                    return Err("--drop takes P:MIN:MAX".to_owned());
                };
                config.faults.drop_connection =
                    Some((number(p, flag)?, number(low, flag)?, number(high, flag)?));
            }
            "--created-delay-ms" => {
                config.faults.created_delay = Some(Duration::from_millis(number(value()?, flag)?));
            }
            "--server-error" => config.faults.server_error = number(value()?, flag)?,
            "--session-limit-ms" => {
                config.faults.session_limit = Some(Duration::from_millis(number(value()?, flag)?));
            }
            "--seed" => config.seed = number(value()?, flag)?,
            "--report-secs" => report = Duration::from_secs(number::<u64>(value()?, flag)?.max(1)),
            other => return Err(format!("unknown option `{other}` (see the source header)")),
        }
    }
    Ok(Options { addr: SocketAddr::new(host, port), config, report })
}

fn number<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{flag}: `{text}` is not a valid value"))
}
