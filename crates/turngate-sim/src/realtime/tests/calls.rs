//! The acceptance run: many calls, each the real session core driving the
//! real OpenAI Realtime provider over a loopback WebSocket into the strict
//! simulator, with adversarial settings on. Every simulator violation
//! counter must stay at zero and every committed user turn must be answered.
//!
//! `TURNGATE_REALTIME_CALLS` raises the number of calls (default 1,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use turngate_core::{BargeIn, DeadAirConfig, ResponseMode, SessionConfig, TurnDetection};
use turngate_llm::realtime::openai::{OpenAiRealtime, OpenAiRealtimeConfig, ReconnectPolicy};
use turngate_llm::realtime::{
    RealtimeBackend, RealtimeSessionConfig, ServerVad, ToolSpec, TurnDetectionConfig,
};
use turngate_llm::tool::{ToolError, ToolHandler};

use crate::realtime::conformance::{CallOutcome, CallPlan, CallScript, run_calls};
use crate::realtime::{Counts, Faults, Pacing, SimConfig, SimServer, serve};

/// The four simulated deployments the calls are spread over.
#[derive(Clone, Copy, Debug)]
enum Flavor {
    /// The core commits turns (transport VAD); drops, slow `response.created`,
    /// failed responses.
    ClientVad,
    /// Server VAD commits turns, the core creates every response; function
    /// calls every second response.
    ServerVadClientResponses,
    /// Server VAD commits turns *and* starts responses on its own, and
    /// cancels them when the caller talks; function calls every second
    /// response race those automatic responses.
    ServerVadAutoResponses,
    /// Sessions hit the time limit (1001) every few hundred milliseconds.
    SessionLimit,
}

const FLAVORS: [Flavor; 4] = [
    Flavor::ClientVad,
    Flavor::ServerVadClientResponses,
    Flavor::ServerVadAutoResponses,
    Flavor::SessionLimit,
];

fn sim_config(flavor: Flavor, seed: u64) -> SimConfig {
    let slow_created = Some(Duration::from_millis(80));
    let faults = match flavor {
        Flavor::ClientVad => Faults {
            drop_connection: Some((0.35, 20, 250)),
            created_delay: slow_created,
            server_error: 0.05,
            session_limit: None,
        },
        Flavor::ServerVadClientResponses | Flavor::ServerVadAutoResponses => Faults {
            drop_connection: Some((0.2, 40, 400)),
            created_delay: slow_created,
            server_error: 0.03,
            session_limit: None,
        },
        Flavor::SessionLimit => Faults {
            drop_connection: None,
            created_delay: slow_created,
            server_error: 0.0,
            session_limit: Some(Duration::from_millis(450)),
        },
    };
    SimConfig {
        api_key: Some("sk-sim".to_owned()),
        // A 100 ms chunk every 25 ms: the callers run four times faster
        // than real time too, so the agent is talked over mid-response.
        pacing: Pacing::Interval(Duration::from_millis(25)),
        chunks_per_response: 6,
        chunk: Duration::from_millis(100),
        function_call_every: match flavor {
            Flavor::ClientVad => 3,
            _ => 2,
        },
        transcribe: true,
        faults,
        seed,
    }
}

fn backend(server: &SimServer) -> Arc<dyn RealtimeBackend> {
    let config = OpenAiRealtimeConfig {
        max_create_hold: Duration::from_millis(2500),
        // The production default (1.5 s) on purpose: the server's automatic
        // `response.created` may reach us late when this machine is busy
        // (the callers run four times faster than real time, the scheduler
        // does not), and a create released before it is a real conflict.
        auto_response_wait: Duration::from_millis(1500),
        connect_timeout: Duration::from_secs(5),
        reconnect: ReconnectPolicy {
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            max_attempts: 12,
            max_total: Duration::from_secs(4),
        },
        ..OpenAiRealtimeConfig::openai("sk-sim")
    }
    .with_url(server.url());
    Arc::new(OpenAiRealtime::new(config))
}

/// How much faster than real time the callers speak and the carrier plays.
const SPEEDUP: u32 = 4;

fn plan(flavor: Flavor, index: u64) -> CallPlan {
    let seed = 0x7467_0000 + index;
    let variant = index % 3;
    let server_vad = |create_response: bool| {
        TurnDetectionConfig::ServerVad(ServerVad {
            silence_duration_ms: Some(200),
            create_response,
            interrupt_response: create_response,
            ..ServerVad::default()
        })
    };
    let (turn_detection, core_turns, mode) = match flavor {
        Flavor::ClientVad | Flavor::SessionLimit => {
            (TurnDetectionConfig::None, TurnDetection::Client, ResponseMode::Client)
        }
        Flavor::ServerVadClientResponses => {
            (server_vad(false), TurnDetection::Server, ResponseMode::Client)
        }
        Flavor::ServerVadAutoResponses => {
            (server_vad(true), TurnDetection::Server, ResponseMode::ServerAuto)
        }
    };
    let session = RealtimeSessionConfig {
        instructions: Some("You are a test agent.".to_owned()),
        voice: Some("marin".to_owned()),
        turn_detection,
        input_transcription: (variant != 2).then(|| "gpt-live-transcribe".to_owned()),
        tools: vec![ToolSpec {
            name: "lookup".to_owned(),
            description: "Looks something up.".to_owned(),
            parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}}),
        }],
        ..RealtimeSessionConfig::default()
    };
    let core = SessionConfig {
        turn_detection: core_turns,
        response_mode: mode,
        auto_response_grace: Duration::from_millis(300),
        greeting: (variant == 0).then(|| "Greet the caller.".to_owned()),
        barge_in: match variant {
            0 => BargeIn::Immediate,
            1 => BargeIn::Off,
            _ => BargeIn::AfterSpeechMs(60),
        },
        dead_air: DeadAirConfig {
            enabled: variant == 1,
            timeout: Duration::from_millis(700),
            hold_on_timeout: Duration::from_secs(2),
            max_check_ins: 50,
            ..DeadAirConfig::default()
        },
        ready_timeout: Duration::from_secs(6),
        create_timeout: Duration::from_secs(3),
        cancel_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(8),
        max_attempts: 6,
        retry_backoff: Duration::from_millis(40),
        playback_grace: Duration::from_millis(500),
        tool_timeout: Duration::from_secs(2),
        // The callers send audio SPEEDUP times faster than real time, so the
        // core's limit on caller audio is scaled by as much: unscaled, a call
        // slowed past two seconds by a busy machine is ended as abusive.
        caller_audio_rate: SessionConfig::default().caller_audio_rate * f64::from(SPEEDUP),
        ..SessionConfig::default()
    };
    let script = CallScript {
        seed,
        turns: 2 + (index % 3) as u32,
        speedup: SPEEDUP,
        talk_over: index.is_multiple_of(2),
        chunk: Duration::from_millis(40),
        min_gap: Duration::from_millis(480),
        max_wall: Duration::from_secs(25),
    };
    CallPlan { session, core, script }
}

/// A tool that answers after a short, varying delay.
#[derive(Debug)]
struct SlowLookup;

#[async_trait]
impl ToolHandler for SlowLookup {
    async fn call(&self, name: &str, arguments: Value) -> Result<Value, ToolError> {
        let delay = arguments.to_string().len() as u64 % 7 * 8;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        Ok(json!({"tool": name, "ok": true}))
    }
}

fn describe_failure(index: usize, outcome: &CallOutcome) -> String {
    format!(
        "call {index}: committed {} answered {} dropped {:?} ended {:?} failure {:?} errors {:?} stats {:?}\n  {}",
        outcome.committed,
        outcome.answered,
        outcome.dropped,
        outcome.ended,
        outcome.failure,
        outcome.backend_errors,
        outcome.stats,
        outcome.trail.iter().cloned().collect::<Vec<_>>().join("\n  ")
    )
}

#[test]
fn a_thousand_adversarial_calls_keep_every_rule_and_answer_every_turn() {
    let calls: u64 =
        std::env::var("TURNGATE_REALTIME_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let started = Instant::now();
        let mut servers = Vec::new();
        for (index, flavor) in FLAVORS.iter().enumerate() {
            let server = serve(sim_config(*flavor, 0xC0FF_EE00 + index as u64), "127.0.0.1:0".parse().unwrap())
                .await
                .expect("bind the simulator");
            servers.push((*flavor, server));
        }
        let mut runs = Vec::new();
        for (slot, (flavor, server)) in servers.iter().enumerate() {
            let plans: Vec<CallPlan> = (0..calls)
                .filter(|i| *i as usize % FLAVORS.len() == slot)
                .map(|i| plan(*flavor, i))
                .collect();
            runs.push(tokio::spawn(run_calls(backend(server), Arc::new(SlowLookup), plans, 24)));
        }
        let mut outcomes = Vec::new();
        for run in runs {
            outcomes.push(run.await.expect("calls ran"));
        }

        let mut failures = Vec::new();
        let mut totals = CallOutcome::default();
        let mut done = 0;
        for (slot, outcomes) in outcomes.iter().enumerate() {
            for (index, outcome) in outcomes.iter().enumerate() {
                done += 1;
                totals.committed += outcome.committed;
                totals.answered += outcome.answered;
                totals.responses += outcome.responses;
                totals.tool_calls += outcome.tool_calls;
                totals.barge_ins += outcome.barge_ins;
                totals.creates_rejected += outcome.creates_rejected;
                totals.ready += outcome.ready;
                totals.stats.reconnects += outcome.stats.reconnects;
                totals.stats.creates_held += outcome.stats.creates_held;
                totals.stats.truncates_clamped += outcome.stats.truncates_clamped;
                totals.stats.unknown_events += outcome.stats.unknown_events;
                totals.stats.corrupt_events += outcome.stats.corrupt_events;
                if !outcome.passed() {
                    failures.push(describe_failure(index * FLAVORS.len() + slot, outcome));
                }
            }
        }
        let mut counts = Vec::new();
        for (flavor, server) in servers {
            counts.push((flavor, server.counts(), server.record().details()));
            server.shutdown().await;
        }
        println!(
            "{done} calls in {:.1}s: {} turns committed, {} answered, {} responses, {} tool calls, {} barge-ins, {} creates rejected, {} reconnects, {} creates held, {} truncates clamped",
            started.elapsed().as_secs_f64(),
            totals.committed,
            totals.answered,
            totals.responses,
            totals.tool_calls,
            totals.barge_ins,
            totals.creates_rejected,
            totals.stats.reconnects,
            totals.stats.creates_held,
            totals.stats.truncates_clamped,
        );
        for (flavor, counts, _) in &counts {
            println!("{flavor:?}: {counts:?}");
        }
        assert_eq!(done as u64, calls);
        let violations: Vec<(Flavor, &Counts, &Vec<String>)> =
            counts.iter().filter(|(_, c, _)| c.violations() > 0).map(|(f, c, d)| (*f, c, d)).collect();
        assert!(violations.is_empty(), "the simulator saw violations: {violations:#?}");
        assert!(failures.is_empty(), "{} calls failed:\n{}", failures.len(), failures.join("\n"));
        assert_eq!(totals.committed, totals.answered);
        // The run must have exercised what it claims to.
        for (flavor, counts, _) in &counts {
            assert!(counts.responses > 0, "{flavor:?} created no responses");
            match flavor {
                Flavor::ClientVad => {
                    assert!(counts.dropped > 0 || calls < 40, "no connection was dropped");
                    assert!(counts.failed > 0 || calls < 200, "no response failed");
                }
                Flavor::ServerVadAutoResponses => {
                    assert!(counts.auto_responses > 0, "server VAD created no response");
                    assert!(counts.function_calls > 0, "no function call raced the VAD");
                }
                Flavor::SessionLimit => assert!(counts.session_limits > 0, "no session hit its limit"),
                Flavor::ServerVadClientResponses => {
                    assert!(counts.function_calls > 0, "no function call");
                }
            }
        }
        assert!(totals.stats.reconnects > 0, "no call reconnected");
    });
}
