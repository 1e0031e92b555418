//! `turngate-caller`: places one scripted call against a bot's WebSocket
//! URL as Twilio, Telnyx or AudioCodes would, and prints the call's report.
//!
//! Run with `cargo run -p turngate-sim --bin turngate-caller -- --protocol twilio
//! --url ws://127.0.0.1:8080/twilio`. Options:
//!
//! ```text
//! --protocol twilio|telnyx|audiocodes   the carrier (default twilio)
//! --url URL                             the bot's ws:// URL (required)
//! --call-id ID                          the call's id (default: generated)
//! --header NAME:VALUE                   an upgrade header; repeatable
//! --script STEPS                        comma-separated steps (default below)
//! --timeout-secs N                      the whole call's limit (default 60)
//! --param NAME=VALUE                    a custom stream parameter; repeatable
//! --formats F1,F2                       AudioCodes supportedMediaFormats
//! --validate                            AudioCodes: connection.validate first
//! --reorder P                           Telnyx: media reorder probability
//! --seed N                              ids and reordering seed
//! --calls N                             place N calls at once (default 1)
//! --ramp-ms N                           spread the calls' starts over N ms
//! ```
//!
//! With `--calls` above 1 the calls' ids are `ID-0`, `ID-1`, … and the tool
//! prints a summary (turn latency percentiles, violations, failures) and
//! the first report that was not clean, instead of every report.
//!
//! Steps: `speak:MS`, `hold-on:MS`, `silence:MS`, `wait:MAX_MS`,
//! `barge:AFTER_MS:SPEAK_MS`, `dtmf:KEY`, `silent-until-hangup:MAX_MS`,
//! `hangup`. The default script is `wait:10000,speak:1200,wait:10000,hangup`.
//!
//! Exit status: 0 when the bot broke no rule and the script's expectations
//! held, 1 when not, 2 for bad usage or a call that could not be placed.

#![allow(clippy::print_stdout, reason = "a command-line tool reports on stdout")]
#![allow(clippy::print_stderr, reason = "a command-line tool reports errors on stderr")]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use turngate_sim::callers::{self, CallReport, CallerConfig, CallerError, parse_script};

/// What the command line asked for.
struct Options {
    config: CallerConfig,
    calls: usize,
    ramp: Duration,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match parse(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("turngate-caller: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("turngate-caller: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    if options.calls <= 1 {
        return match runtime.block_on(callers::run(options.config)) {
            Ok(report) => {
                print!("{report}");
                if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
            }
            Err(error) => {
                eprintln!("turngate-caller: {error}");
                ExitCode::from(2)
            }
        };
    }
    let started = Instant::now();
    let results = runtime.block_on(many(&options));
    summarize(&results, started.elapsed())
}

/// Places `options.calls` calls, their starts spread over the ramp.
async fn many(options: &Options) -> Vec<Result<CallReport, CallerError>> {
    let base = if options.config.call_id.is_empty() {
        "load".to_owned()
    } else {
        options.config.call_id.clone()
    };
    let step = options
        .ramp
        .checked_div(u32::try_from(options.calls).unwrap_or(u32::MAX))
        .unwrap_or_default();
    let mut tasks = Vec::with_capacity(options.calls);
    for i in 0..options.calls {
        let mut config = options.config.clone();
        config.call_id = format!("{base}-{i}");
        config.detailed_timeline = false;
        let delay = step * u32::try_from(i).unwrap_or(u32::MAX);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            callers::run(config).await
        }));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(result) => results.push(result),
            Err(error) => results
                .push(Err(CallerError::Handshake(format!("the call's task failed: {error}")))),
        }
    }
    results
}

fn summarize(results: &[Result<CallReport, CallerError>], took: Duration) -> ExitCode {
    let reports: Vec<&CallReport> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let errors: Vec<&CallerError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let mut latencies: Vec<Duration> =
        reports.iter().flat_map(|r| r.turn_latencies.iter().copied()).collect();
    latencies.sort_unstable();
    let mut setups: Vec<Duration> = reports.iter().filter_map(|r| r.setup).collect();
    setups.sort_unstable();
    let pick = |sorted: &[Duration], p: f64| -> String {
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(index).map_or_else(|| "-".to_owned(), |d| format!("{} ms", d.as_millis()))
    };
    let unclean: Vec<&&CallReport> = reports.iter().filter(|r| !r.is_clean()).collect();
    println!(
        "calls {} ({} placed, {} errors) in {:.1} s",
        results.len(),
        reports.len(),
        errors.len(),
        took.as_secs_f64()
    );
    println!("turns answered {}", latencies.len());
    println!(
        "turn latency p50 {} p90 {} p99 {}",
        pick(&latencies, 0.5),
        pick(&latencies, 0.9),
        pick(&latencies, 0.99)
    );
    println!("setup p50 {} p99 {}", pick(&setups, 0.5), pick(&setups, 0.99));
    let sent: u64 = reports.iter().map(|r| r.messages_sent).sum();
    let received: u64 = reports.iter().map(|r| r.messages_received).sum();
    println!("messages sent {sent}, received {received}");
    println!("calls with violations or failures {}", unclean.len());
    if let Some(error) = errors.first() {
        println!("first error: {error}");
    }
    if let Some(report) = unclean.first() {
        print!("first call that was not clean:\n{report}");
    }
    if errors.is_empty() && unclean.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut config = CallerConfig { url: String::new(), ..CallerConfig::default() };
    let (mut calls, mut ramp) = (1, Duration::ZERO);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--protocol" => config.protocol = value()?.parse()?,
            "--url" => config.url = value()?.clone(),
            "--call-id" => config.call_id = value()?.clone(),
            "--header" => {
                let text = value()?;
                let (name, value) = text.split_once(':').ok_or("--header takes NAME:VALUE")?;
                config.headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "--script" => config.script = parse_script(value()?)?,
            "--timeout-secs" => {
                let secs: u64 =
                    value()?.parse().map_err(|_| "--timeout-secs takes whole seconds")?;
                config.timeout = Duration::from_secs(secs);
            }
            "--param" => {
                let text = value()?;
                let (name, value) = text.split_once('=').ok_or("--param takes NAME=VALUE")?;
                config.custom_parameters.push((name.to_owned(), value.to_owned()));
            }
            "--formats" => {
                config.audiocodes.supported_formats = value()?
                    .split(',')
                    .map(|f| f.trim().to_owned())
                    .filter(|f| !f.is_empty())
                    .collect();
            }
            "--validate" => config.audiocodes.validate_connection = true,
            "--reorder" => {
                config.telnyx.reorder_probability =
                    value()?.parse().map_err(|_| "--reorder takes a probability")?;
            }
            "--seed" => config.seed = value()?.parse().map_err(|_| "--seed takes a number")?,
            "--calls" => calls = value()?.parse().map_err(|_| "--calls takes a count")?,
            "--ramp-ms" => {
                let ms: u64 = value()?.parse().map_err(|_| "--ramp-ms takes milliseconds")?;
                ramp = Duration::from_millis(ms);
            }
            "--help" | "-h" => {
                return Err("usage: turngate-caller --url ws://HOST:PORT/PATH [--protocol twilio|telnyx|audiocodes] \
                            [--script STEPS] [--header NAME:VALUE] [--call-id ID] [--timeout-secs N] \
                            [--param NAME=VALUE] [--formats F1,F2] [--validate] [--reorder P] [--seed N] [--calls N] [--ramp-ms N]"
                    .to_owned());
            }
            other => return Err(format!("unknown option {other} (try --help)")),
        }
    }
    if config.url.is_empty() {
        return Err("--url is required".to_owned());
    }
    Ok(Options { config, calls, ramp })
}
