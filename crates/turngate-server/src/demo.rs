//! `turngate demo`: the whole system on one machine, no keys needed.
//!
//! It starts the server on a free port with the in-process simulators,
//! places simulated calls over Twilio, Telnyx and AudioCodes (with a
//! barge-in, a function call, a dead-air check-in and a hang-up among
//! them) and a chat conversation, and one more call on a second server
//! whose voice API is GPT-Live (full duplex: a barge-in the model decides
//! itself, and a delegation run as a tool), then prints each call's
//! timeline and a summary. It succeeds only if every call behaved, no peer saw a protocol
//! violation, and the simulated upstream reported no conflict.

#![allow(clippy::print_stdout, reason = "printing the timeline and summary is the demo's purpose")]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use turngate_core::BargeIn;
use turngate_sim::callers::{self, CallReport, CallerConfig, CallerEvent, Protocol, Step};

use crate::config::{Config, VoiceApi};
use crate::server::{ServerBuilder, ServerError};
use crate::state::AppState;

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The server did not start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A socket failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Something did not behave; every problem is listed.
    #[error("the demo found {} problem(s):\n  - {}", .0.len(), .0.join("\n  - "))]
    Misbehaved(Vec<String>),
}

/// One simulated call of the demo and what it must show.
struct Scenario {
    name: &'static str,
    protocol: Protocol,
    path: &'static str,
    script: Vec<Step>,
    /// The behaviour this call exists to show.
    expect: Expectation,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expectation {
    BargeIn,
    FunctionCall,
    DeadAirHangUp,
    /// A GPT-Live call: the caller talks over the model, and a delegation
    /// reaches the app as a tool call.
    LiveBargeInAndDelegation,
}

/// Runs the demo; `config` supplies anything not fixed by the demo itself.
pub async fn run(mut config: Config) -> Result<(), DemoError> {
    // The demo always runs against its own simulators, on a free port, in
    // one process, with timings short enough to see everything in seconds.
    config.openai.api_key.clear();
    config.redis.url.clear();
    config.listen = "127.0.0.1:0".to_owned();
    config.session.greeting = Some("Greet the caller briefly.".to_owned());
    config.session.barge_in = BargeIn::Immediate;
    config.session.dead_air.timeout = Duration::from_millis(2500);
    config.session.dead_air.max_check_ins = 1;
    config.session.dead_air.hang_up_grace = Duration::from_millis(2000);
    let mut live_config = config.clone();
    live_config.openai.voice_api = VoiceApi::Live;
    let (state, addr, stop_tx, serving) = start(config).await?;
    let (live_state, live_addr, live_stop, live_serving) = start(live_config).await?;
    println!(
        "turngate demo: servers on http://{addr} (Realtime) and http://{live_addr} (GPT-Live), \
         upstream APIs simulated in process\n"
    );

    let scenarios = scenarios();
    let mut calls = Vec::new();
    for (index, scenario) in scenarios.iter().enumerate() {
        let server =
            if scenario.expect == Expectation::LiveBargeInAndDelegation { live_addr } else { addr };
        let config = CallerConfig {
            protocol: scenario.protocol,
            url: format!("ws://{server}{}", scenario.path),
            call_id: format!("demo-{}-{index}", scenario.name),
            script: scenario.script.clone(),
            timeout: Duration::from_secs(45),
            detailed_timeline: false,
            ..CallerConfig::default()
        };
        calls.push(tokio::spawn(callers::run(config)));
    }
    let chat = tokio::spawn(chat_conversation(addr));

    let mut problems = Vec::new();
    let mut reports = Vec::new();
    for (scenario, call) in scenarios.iter().zip(calls) {
        match call.await {
            Ok(Ok(report)) => reports.push((scenario, report)),
            Ok(Err(error)) => {
                problems.push(format!("{}: the caller failed: {error}", scenario.name));
            }
            Err(error) => {
                problems.push(format!("{}: the caller task failed: {error}", scenario.name));
            }
        }
    }
    let chat = chat.await.unwrap_or_else(|e| Err(format!("the chat task failed: {e}")));
    // Let the server finish writing the calls' records.
    tokio::time::sleep(Duration::from_millis(200)).await;

    for (scenario, report) in &reports {
        let state = if scenario.expect == Expectation::LiveBargeInAndDelegation {
            &live_state
        } else {
            &state
        };
        print_call(state, scenario, report);
        problems.extend(check_call(state, scenario, report));
    }
    match &chat {
        Ok(lines) => {
            println!("== chat (POST /chat, one conversation, three concurrent messages) ==");
            for line in lines {
                println!("  {line}");
            }
            println!();
        }
        Err(error) => problems.push(format!("chat: {error}")),
    }
    problems.extend(summary(&state, &live_state, &reports));
    match scrape_metrics(addr).await {
        Ok(text) => problems.extend(check_metrics(&text)),
        Err(error) => problems.push(format!("/metrics could not be scraped: {error}")),
    }

    let _ = stop_tx.send(());
    let _ = live_stop.send(());
    let _ = serving.await;
    let _ = live_serving.await;
    if problems.is_empty() {
        println!("demo: everything behaved");
        Ok(())
    } else {
        Err(DemoError::Misbehaved(problems))
    }
}

type Serving = tokio::task::JoinHandle<Result<(), ServerError>>;

/// Builds and serves one server on a free loopback port.
async fn start(
    config: Config,
) -> Result<(Arc<AppState>, SocketAddr, tokio::sync::oneshot::Sender<()>, Serving), DemoError> {
    let server = ServerBuilder::new(config).build().await?;
    let state = Arc::clone(server.state());
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async move {
        let _ = stop_rx.await;
    }));
    Ok((state, addr, stop_tx, serving))
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "twilio-barge-in",
            protocol: Protocol::Twilio,
            path: "/twilio",
            script: vec![
                Step::WaitForAgent { max_ms: 8000 },
                Step::Speak { ms: 1200, hold_on: false },
                Step::BargeIn { after_agent_ms: 500, speak_ms: 1000 },
                Step::WaitForAgent { max_ms: 10_000 },
                Step::HangUp,
            ],
            expect: Expectation::BargeIn,
        },
        Scenario {
            name: "telnyx-function-call",
            protocol: Protocol::Telnyx,
            path: "/telnyx",
            script: vec![
                Step::WaitForAgent { max_ms: 8000 },
                Step::Speak { ms: 1000, hold_on: false },
                Step::WaitForAgent { max_ms: 10_000 },
                Step::Speak { ms: 1000, hold_on: false },
                Step::WaitForAgent { max_ms: 10_000 },
                Step::Speak { ms: 800, hold_on: false },
                Step::WaitForAgent { max_ms: 10_000 },
                Step::HangUp,
            ],
            expect: Expectation::FunctionCall,
        },
        Scenario {
            name: "audiocodes-resume-dead-air",
            protocol: Protocol::AudioCodes,
            path: "/audiocodes",
            script: vec![
                Step::WaitForAgent { max_ms: 8000 },
                Step::Speak { ms: 1000, hold_on: false },
                // VoiceAI Connect loses its socket mid-answer and resumes.
                Step::Reconnect { after_agent_ms: 400, gap_ms: 500 },
                Step::WaitForAgent { max_ms: 10_000 },
                Step::SilentUntilHangup { max_ms: 25_000 },
            ],
            expect: Expectation::DeadAirHangUp,
        },
        Scenario {
            name: "twilio-gpt-live",
            protocol: Protocol::Twilio,
            path: "/twilio",
            script: vec![
                Step::WaitForAgent { max_ms: 8000 },
                Step::Speak { ms: 1000, hold_on: false },
                Step::BargeIn { after_agent_ms: 300, speak_ms: 1000 },
                Step::WaitForAgent { max_ms: 10_000 },
                // The third thing the caller says is delegated.
                Step::Speak { ms: 900, hold_on: false },
                Step::WaitForAgent { max_ms: 10_000 },
                Step::Silence { ms: 2500 },
                Step::HangUp,
            ],
            expect: Expectation::LiveBargeInAndDelegation,
        },
    ]
}

fn print_call(state: &AppState, scenario: &Scenario, report: &CallReport) {
    println!("== {} ({:?}) ==", scenario.name, scenario.protocol);
    println!("caller's side (mark echoes left out):");
    for line in report.to_string().lines().filter(|line| !is_mark_echo(line)) {
        println!("  {line}");
    }
    if let Some(record) = find_record(state, scenario) {
        println!("server's side:");
        for entry in &record.timeline {
            println!("  {:>7} ms  {:<10} {}", entry.at_ms, entry.kind, entry.text);
        }
    }
    println!();
}

/// One mark echo per 100 ms of audio would drown the timeline.
fn is_mark_echo(line: &str) -> bool {
    line.contains("mark \"") && line.trim_end().ends_with("echoed")
}

fn find_record(state: &AppState, scenario: &Scenario) -> Option<crate::record::CallRecord> {
    state.records.all().into_iter().rev().find(|r| r.call_id.contains(scenario.name))
}

fn check_call(state: &AppState, scenario: &Scenario, report: &CallReport) -> Vec<String> {
    let mut problems: Vec<String> = report
        .violations
        .iter()
        .map(|v| format!("{}: protocol violation seen by the caller: {v}", scenario.name))
        .chain(
            report
                .failures
                .iter()
                .map(|f| format!("{}: the call did not go as scripted: {f}", scenario.name)),
        )
        .collect();
    let record = find_record(state, scenario);
    let server_kinds = |kind: &str| {
        record.as_ref().map_or(0, |r| r.timeline.iter().filter(|e| e.kind == kind).count())
    };
    match scenario.expect {
        Expectation::BargeIn => {
            if report.barge_ins == 0 || server_kinds("barge_in") == 0 {
                problems.push(format!("{}: no barge-in happened", scenario.name));
            }
            if report.clears == 0 {
                problems.push(format!("{}: the carrier was never told to clear", scenario.name));
            }
        }
        Expectation::FunctionCall => {
            if server_kinds("tool") == 0 {
                problems.push(format!("{}: no function call was run", scenario.name));
            }
        }
        Expectation::LiveBargeInAndDelegation => {
            if report.barge_ins == 0 || server_kinds("barge_in") == 0 {
                problems.push(format!("{}: no barge-in happened", scenario.name));
            }
            if server_kinds("tool") == 0 {
                problems.push(format!("{}: no delegation was run as a tool", scenario.name));
            }
        }
        Expectation::DeadAirHangUp => {
            if server_kinds("check_in") == 0 {
                problems.push(format!("{}: no dead-air check-in", scenario.name));
            }
            let ended = record.as_ref().and_then(|r| r.ended.clone());
            if !report.bot_hung_up || ended.as_deref() != Some("dead_air") {
                problems.push(format!(
                    "{}: the bot did not hang up for dead air (ended: {ended:?})",
                    scenario.name
                ));
            }
        }
    }
    if report.turn_latencies.is_empty() {
        problems.push(format!("{}: the agent never answered the caller", scenario.name));
    }
    let reconnects = scenario.script.iter().any(|step| matches!(step, Step::Reconnect { .. }));
    let resumed = report.timeline.iter().any(|(_, event)| *event == CallerEvent::Resumed);
    if reconnects && (!resumed || server_kinds("resumed") == 0) {
        problems.push(format!("{}: the dropped line was not resumed", scenario.name));
    }
    problems
}

fn summary(
    state: &AppState,
    live_state: &AppState,
    reports: &[(&Scenario, CallReport)],
) -> Vec<String> {
    let mut problems = Vec::new();
    let metrics = &state.metrics;
    let live = live_state.simulated_upstream();
    let mut latencies: Vec<Duration> =
        reports.iter().flat_map(|(_, r)| r.turn_latencies.iter().copied()).collect();
    latencies.sort();
    let percentile = |p: f64| -> String {
        if latencies.is_empty() {
            return "-".to_owned();
        }
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).map_or_else(|| "-".to_owned(), |d| format!("{} ms", d.as_millis()))
    };
    let upstream = state.simulated_upstream();
    let mut text = String::new();
    let _ = writeln!(text, "== summary ==");
    let _ = writeln!(
        text,
        "calls                      {} Realtime, {} GPT-Live",
        metrics.calls.total(),
        live_state.metrics.calls.total()
    );
    let _ = writeln!(text, "turns answered             {}", latencies.len());
    let _ = writeln!(text, "turn latency p50 / p90     {} / {}", percentile(0.5), percentile(0.9));
    let _ = writeln!(text, "responses requested        {}", metrics.responses.get());
    let _ = writeln!(text, "barge-ins                  {}", metrics.barge_ins.get());
    let _ = writeln!(text, "check-ins                  {}", metrics.check_ins.get());
    let _ = writeln!(text, "calls resumed              {}", metrics.resumes.get());
    let _ = writeln!(text, "conflicts prevented        {}", metrics.conflicts_prevented.get());
    let _ = writeln!(text, "conflicts upstream         {}", upstream.conflicts);
    let _ = writeln!(text, "upstream rule violations   {}", upstream.violations);
    let _ = writeln!(text, "chat rule violations       {}", upstream.chat_violations);
    let _ = writeln!(text, "GPT-Live rule violations   {}", live.violations);
    let delegations = live_state.metrics.delegations.get("run");
    let _ = writeln!(text, "GPT-Live delegations run   {delegations}");
    println!("{text}");
    if upstream.conflicts > 0 || metrics.upstream_conflicts.get() > 0 {
        problems.push(format!("the simulated upstream reported {} conflicts", upstream.conflicts));
    }
    if upstream.violations > 0 {
        problems.push(format!(
            "the Realtime simulator saw {} violations: {:?}",
            upstream.violations, upstream.details
        ));
    }
    if live.violations > 0 {
        problems.push(format!(
            "the GPT-Live simulator saw {} violations: {:?}",
            live.violations, live.details
        ));
    }
    if upstream.chat_violations > 0 {
        problems.push(format!("the chat simulator saw {} violations", upstream.chat_violations));
    }
    problems
}

/// Three messages to one conversation at once, and the replies in order.
async fn chat_conversation(addr: SocketAddr) -> Result<Vec<String>, String> {
    let client = reqwest_client()?;
    let url = format!("http://{addr}/chat");
    let mut tasks = Vec::new();
    for (i, text) in
        ["What are your opening hours?", "And on Sundays?", "Thanks!"].into_iter().enumerate()
    {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            // Staggered by a few milliseconds so their order is defined.
            tokio::time::sleep(Duration::from_millis(20 * i as u64)).await;
            let response = client
                .post(&url)
                .json(&serde_json::json!({"conversation_id": "demo-chat", "message": text}))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("HTTP {status}: {body}"));
            }
            Ok(format!(
                "{text:?} → {:?} (queued {} ms, {} ms in all)",
                body.get("reply").and_then(|r| r.as_str()).unwrap_or_default(),
                body.get("queued_ms").and_then(serde_json::Value::as_u64).unwrap_or_default(),
                body.get("elapsed_ms").and_then(serde_json::Value::as_u64).unwrap_or_default(),
            ))
        }));
    }
    let mut lines = Vec::new();
    for task in tasks {
        lines.push(task.await.map_err(|e| e.to_string())??);
    }
    Ok(lines)
}

async fn scrape_metrics(addr: SocketAddr) -> Result<String, String> {
    let client = reqwest_client()?;
    let response =
        client.get(format!("http://{addr}/metrics")).send().await.map_err(|e| e.to_string())?;
    response.text().await.map_err(|e| e.to_string())
}

/// The metrics the demo exercised must be there and above zero; the
/// upstream-conflict counter must be there and zero.
pub fn check_metrics(text: &str) -> Vec<String> {
    let value = |series: &str| -> Option<f64> {
        text.lines()
            .find(|line| line.split_whitespace().next() == Some(series))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    let mut problems = Vec::new();
    for series in [
        "turngate_calls_total{provider=\"twilio\"}",
        "turngate_calls_total{provider=\"telnyx\"}",
        "turngate_calls_total{provider=\"audiocodes\"}",
        "turngate_responses_total",
        "turngate_barge_ins_total",
        "turngate_check_ins_total",
        "turngate_resumes_total",
        "turngate_hangups_total{reason=\"dead_air\"}",
        "turngate_hangups_total{reason=\"caller_hung_up\"}",
        "turngate_chat_requests_total{outcome=\"ok\"}",
        "turngate_turn_latency_seconds_count",
        "turngate_queue_wait_seconds_count",
    ] {
        match value(series) {
            Some(v) if v > 0.0 => {}
            Some(_) => {
                problems.push(format!("/metrics: {series} is zero although the demo exercised it"));
            }
            None => problems.push(format!("/metrics: {series} is missing")),
        }
    }
    for series in [
        "turngate_conflicts_prevented_total",
        "turngate_active_calls",
        "turngate_signal_latency_seconds_count",
        "turngate_protocol_errors_total",
    ] {
        if !text.contains(series) {
            problems.push(format!("/metrics: {series} is missing"));
        }
    }
    if value("turngate_upstream_conflicts_total") != Some(0.0) {
        problems.push("/metrics: turngate_upstream_conflicts_total is not 0".to_owned());
    }
    problems
}

fn reqwest_client() -> Result<reqwest::Client, String> {
    // reqwest is built without a default TLS provider; ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().map_err(|e| e.to_string())
}
