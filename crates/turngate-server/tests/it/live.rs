//! Whole calls with GPT-Live as the voice API, against the strict GPT-Live
//! simulator: the model takes its own turns, the server only forwards its
//! speech, runs its delegations once and keeps its timeline moving.

use std::sync::Arc;
use std::time::Duration;

use turngate_llm::realtime::openai_live::{LiveDelegation, OpenAiLive, OpenAiLiveConfig};
use turngate_server::ServerBuilder;
use turngate_server::config::VoiceApi;
use turngate_sim::callers::{self, CallReport, CallerConfig, Protocol, Step};
use turngate_sim::live::{CloseReason, LiveFaults, LiveRecord, LiveSimConfig};

use crate::support::{config, serve, start};

fn script() -> Vec<Step> {
    vec![
        Step::WaitForAgent { max_ms: 8000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::BargeIn { after_agent_ms: 300, speak_ms: 900 },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::Silence { ms: 2500 },
        Step::HangUp,
    ]
}

async fn call(url: String, call_id: &str, script: Vec<Step>) -> CallReport {
    callers::run(CallerConfig {
        protocol: Protocol::Twilio,
        url,
        call_id: call_id.to_owned(),
        script,
        timeout: Duration::from_secs(40),
        ..CallerConfig::default()
    })
    .await
    .unwrap()
}

/// The record of a call whose carrier id ends with `call_id` (Twilio's are
/// prefixed `CA`).
fn record_of(
    server: &crate::support::Running,
    call_id: &str,
) -> turngate_server::record::CallRecord {
    let all = server.state.records.all();
    all.into_iter().find(|r| r.call_id.ends_with(call_id)).expect("the call's record")
}

fn live_config() -> turngate_server::config::Config {
    let mut config = config();
    config.openai.voice_api = VoiceApi::Live;
    config.session.greeting = Some("Greet the caller briefly.".to_owned());
    config
}

#[tokio::test]
async fn a_gpt_live_call_takes_its_own_turns_and_runs_its_delegation_once() {
    let server = start(live_config()).await;
    let report = call(server.ws("/twilio"), "it-live", script()).await;
    assert!(report.is_clean(), "{report}");
    assert!(report.barge_ins > 0 && report.clears > 0, "{report}");
    let record = record_of(&server, "it-live");
    let tools: Vec<_> = record.timeline.iter().filter(|e| e.kind == "tool").collect();
    assert_eq!(tools.len(), 1, "{record:?}");
    assert!(tools[0].text.starts_with("delegate("), "{record:?}");
    assert_eq!(server.state.metrics.delegations.get("run"), 1);
    let metrics = server.state.metrics.render();
    assert!(metrics.contains("turngate_delegations_total{outcome=\"run\"} 1"), "{metrics}");
    assert!(record.timeline.iter().any(|e| e.kind == "barge_in"), "{record:?}");
    // The strict simulator saw no rule broken: no turn-gate event, no
    // unknown field, no append answered twice.
    let upstream = server.state.simulated_upstream();
    assert_eq!(upstream.violations, 0, "{:?}", upstream.details);
    let live = server.state.simulators.live.as_ref().expect("the GPT-Live simulator").record();
    // The call's end closes the session the way the API asks: session.close,
    // then session.closed.
    let closed = live
        .wait_for(Duration::from_secs(5), |r| {
            r.close_reasons().iter().any(|(_, reason)| *reason == CloseReason::CloseRequested)
        })
        .await;
    assert!(closed, "{:?}", live.close_reasons());
    let sessions = live.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let session = &sessions[0];
    assert_eq!(session.delegations_announced, 1, "{session:?}");
    assert_eq!(session.delegations_answered, 1, "{session:?}");
    // The greeting went as an instruction, and the speech the caller heard
    // is the model's speech, not its whole silent track.
    assert!(session.instructions_appends >= 1, "{session:?}");
    // Each stretch may carry the gate's lead-in and hangover (under 400 ms).
    let heard = u64::try_from(report.agent_audio_received.as_millis()).unwrap();
    let track = session.output_frames * 20;
    assert!(
        heard <= session.output_speech_ms + session.speech_stretches * 400,
        "{heard} ms heard, {session:?}"
    );
    assert!(heard + 3000 < track, "{heard} ms heard of a {track} ms track");
    server.stop().await;
}

#[tokio::test]
async fn a_lost_gpt_live_session_is_replaced_and_the_call_goes_on() {
    // Every session's socket drops after a few hundred events.
    let sim_config = LiveSimConfig {
        faults: LiveFaults { drop_connection: Some((1.0, 250, 350)), ..LiveFaults::default() },
        ..LiveSimConfig::default()
    };
    let sim = turngate_sim::live::serve(sim_config).await.unwrap();
    let backend = OpenAiLive::new(OpenAiLiveConfig {
        url: sim.url(),
        api_key: Some("it-key".to_owned()),
        ..OpenAiLiveConfig::default()
    });
    let server =
        serve(ServerBuilder::new(live_config()).realtime(Arc::new(backend)).build().await.unwrap())
            .await;
    let script = vec![
        Step::WaitForAgent { max_ms: 8000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::HangUp,
    ];
    let report = call(server.ws("/twilio"), "it-live-drop", script).await;
    let record: Arc<LiveRecord> = sim.record();
    assert!(report.is_clean(), "{report}");
    assert!(record.dropped() >= 1, "no socket was dropped");
    assert!(record.sessions_started() >= 2, "no new session after the drop");
    // Each new session started with the conversation so far, and the
    // strict schema took it.
    assert_eq!(record.total_violations(), 0, "{:?}", record.violations());
    let sessions = record.sessions();
    assert!(
        sessions.iter().skip(1).all(|s| s.startup_messages > 0),
        "a replacement session started without the conversation: {sessions:?}"
    );
    assert_eq!(sessions.first().map(|s| s.startup_messages), Some(0));
    let call = record_of(&server, "it-live-drop");
    assert!(call.timeline.iter().any(|e| e.kind == "backend_lost"), "{call:?}");
    assert!(report.turn_latencies.len() >= 3, "{report}");
    server.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_session_about_to_expire_is_replaced_before_it_does() {
    let sim_config =
        LiveSimConfig { session_limit: Duration::from_secs(12), ..LiveSimConfig::default() };
    let sim = turngate_sim::live::serve(sim_config).await.unwrap();
    let backend = OpenAiLive::new(OpenAiLiveConfig {
        url: sim.url(),
        api_key: Some("it-key".to_owned()),
        ..OpenAiLiveConfig::default()
    });
    let server =
        serve(ServerBuilder::new(live_config()).realtime(Arc::new(backend)).build().await.unwrap())
            .await;
    let script = vec![
        Step::WaitForAgent { max_ms: 8000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::Silence { ms: 9000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::HangUp,
    ];
    let report = call(server.ws("/twilio"), "it-live-expiry", script).await;
    assert!(report.is_clean(), "{report}");
    let record = sim.record();
    assert_eq!(record.total_violations(), 0, "{:?}", record.violations());
    let reasons = record.close_reasons();
    assert!(record.sessions_started() >= 2, "{reasons:?}");
    // The first session was closed by us, in time, not expired.
    assert_eq!(reasons.first().map(|(_, r)| *r), Some(CloseReason::CloseRequested), "{reasons:?}");
    assert!(reasons.iter().all(|(_, r)| *r != CloseReason::Expired), "{reasons:?}");
    // The caller was answered after the replacement too.
    assert!(report.turn_latencies.len() >= 2, "{report}");
    server.stop().await;
    sim.shutdown().await;
}

/// A tool that takes its time, so the caller can move on meanwhile.
#[derive(Debug)]
struct SlowTools;

#[async_trait::async_trait]
impl turngate_llm::tool::ToolHandler for SlowTools {
    async fn call(
        &self,
        _name: &str,
        _arguments: serde_json::Value,
    ) -> Result<serde_json::Value, turngate_llm::tool::ToolError> {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        Ok(serde_json::json!({ "status": "shipped" }))
    }
}

#[tokio::test]
async fn a_delegation_seen_twice_runs_once_and_a_late_result_is_not_spoken() {
    // Every utterance is delegated, and every delegation announced twice.
    let sim_config = LiveSimConfig {
        delegate_every: 1,
        faults: LiveFaults { duplicate_delegation: 1.0, ..LiveFaults::default() },
        ..LiveSimConfig::default()
    };
    let sim = turngate_sim::live::serve(sim_config).await.unwrap();
    let backend = OpenAiLive::new(OpenAiLiveConfig {
        url: sim.url(),
        api_key: Some("it-key".to_owned()),
        ..OpenAiLiveConfig::default()
    });
    let built = ServerBuilder::new(live_config())
        .realtime(Arc::new(backend))
        .tools(Arc::new(SlowTools), Vec::new())
        .build()
        .await
        .unwrap();
    let server = serve(built).await;
    // The caller asks, then goes on talking while the tool runs: its result
    // answers a question no longer asked.
    let script = vec![
        Step::WaitForAgent { max_ms: 8000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::Silence { ms: 1500 },
        Step::Speak { ms: 1500, hold_on: false },
        Step::Silence { ms: 6000 },
        Step::HangUp,
    ];
    let report = call(server.ws("/twilio"), "it-live-twice", script).await;
    assert!(report.violations.is_empty(), "{report}");
    let record = sim.record();
    assert_eq!(record.total_violations(), 0, "{:?}", record.violations());
    let call = record_of(&server, "it-live-twice");
    let tools = call.timeline.iter().filter(|e| e.kind == "tool").count();
    let sessions = record.sessions();
    let session = sessions.first().expect("a session");
    // Each delegation announced twice ran once (two utterances, two
    // delegations, four announcements).
    assert_eq!(u64::try_from(tools).unwrap(), session.delegations_announced, "{call:?}");
    assert!(session.delegations_announced >= 2, "{session:?}");
    // The first result came after the caller moved on: it went back silently.
    assert!(session.delegations_answered_silently >= 1, "{session:?}");
    server.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrent_gpt_live_calls_each_keep_every_rule() {
    // Every second utterance delegated, some announced twice; calls with
    // follow-ups, barge-ins and a silence long enough for a check-in.
    let sim_config = LiveSimConfig {
        delegate_every: 2,
        faults: LiveFaults { duplicate_delegation: 0.5, ..LiveFaults::default() },
        ..LiveSimConfig::default()
    };
    let sim = turngate_sim::live::serve(sim_config).await.unwrap();
    let backend = OpenAiLive::new(OpenAiLiveConfig {
        url: sim.url(),
        api_key: Some("it-key".to_owned()),
        ..OpenAiLiveConfig::default()
    });
    let mut config = live_config();
    config.session.dead_air.timeout = Duration::from_millis(2500);
    let server =
        serve(ServerBuilder::new(config).realtime(Arc::new(backend)).build().await.unwrap()).await;
    let script = vec![
        Step::WaitForAgent { max_ms: 8000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::BargeIn { after_agent_ms: 300, speak_ms: 800 },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::Silence { ms: 8000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::Speak { ms: 700, hold_on: false },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::HangUp,
    ];
    let calls: Vec<_> = (0..8)
        .map(|n| {
            let (url, script) = (server.ws("/twilio"), script.clone());
            tokio::spawn(async move { call(url, &format!("it-live-many-{n}"), script).await })
        })
        .collect();
    for (n, handle) in calls.into_iter().enumerate() {
        let report = handle.await.unwrap();
        assert!(report.is_clean(), "call {n}: {report}");
        assert!(report.turn_latencies.len() >= 3, "call {n}: {report}");
        let record = record_of(&server, &format!("it-live-many-{n}"));
        let kinds = |kind: &str| record.timeline.iter().filter(|e| e.kind == kind).count();
        assert!(kinds("barge_in") >= 1, "call {n}: {record:?}");
        assert!(kinds("check_in") >= 1, "call {n}: {record:?}");
        assert!(kinds("tool") >= 1, "call {n}: {record:?}");
    }
    let record = sim.record();
    assert_eq!(record.total_violations(), 0, "{:?}", record.violations());
    let sessions = record.sessions();
    assert_eq!(sessions.len(), 8, "{sessions:?}");
    for session in &sessions {
        // Every delegation answered exactly once (the simulator counts a
        // second answer as a violation, checked above).
        assert_eq!(
            session.delegations_answered + session.delegations_answered_silently,
            session.delegations_announced,
            "{session:?}"
        );
    }
    server.stop().await;
    sim.shutdown().await;
}

/// The in-memory coordinator, except that every delegation has already
/// been claimed by someone else (another observer of the same session).
#[derive(Debug)]
struct ClaimedElsewhere(turngate_coord::MemoryCoordinator);

#[async_trait::async_trait]
impl turngate_coord::Coordinator for ClaimedElsewhere {
    async fn set_flag(
        &self,
        scope: &turngate_coord::SessionId,
        name: &str,
        value: &[u8],
        ttl: Duration,
    ) -> turngate_coord::Result<()> {
        self.0.set_flag(scope, name, value, ttl).await
    }
    async fn get_flag(
        &self,
        scope: &turngate_coord::SessionId,
        name: &str,
    ) -> turngate_coord::Result<Option<Vec<u8>>> {
        self.0.get_flag(scope, name).await
    }
    async fn delete_flag(
        &self,
        scope: &turngate_coord::SessionId,
        name: &str,
    ) -> turngate_coord::Result<bool> {
        self.0.delete_flag(scope, name).await
    }
    async fn take_flag(
        &self,
        scope: &turngate_coord::SessionId,
        name: &str,
    ) -> turngate_coord::Result<Option<Vec<u8>>> {
        self.0.take_flag(scope, name).await
    }
    async fn signal(
        &self,
        session: &turngate_coord::SessionId,
        signal: turngate_coord::Signal,
    ) -> turngate_coord::Result<turngate_coord::SignalReceipt> {
        self.0.signal(session, signal).await
    }
    async fn subscribe(
        &self,
        worker: &turngate_coord::WorkerId,
        config: turngate_coord::InboxConfig,
    ) -> turngate_coord::Result<turngate_coord::Inbox> {
        self.0.subscribe(worker, config).await
    }
    async fn acquire(
        &self,
        session: &turngate_coord::SessionId,
        worker: &turngate_coord::WorkerId,
        ttl: Duration,
    ) -> turngate_coord::Result<turngate_coord::Lease> {
        self.0.acquire(session, worker, ttl).await
    }
    async fn renew(
        &self,
        lease: &turngate_coord::Lease,
        ttl: Duration,
    ) -> turngate_coord::Result<turngate_coord::Lease> {
        self.0.renew(lease, ttl).await
    }
    async fn release(&self, lease: &turngate_coord::Lease) -> turngate_coord::Result<bool> {
        self.0.release(lease).await
    }
    async fn owner(
        &self,
        session: &turngate_coord::SessionId,
    ) -> turngate_coord::Result<Option<turngate_coord::WorkerId>> {
        self.0.owner(session).await
    }
    async fn lock(
        &self,
        key: &turngate_coord::SessionId,
        ttl: Duration,
        deadline: tokio::time::Instant,
    ) -> turngate_coord::Result<turngate_coord::FencedLock> {
        self.0.lock(key, ttl, deadline).await
    }
    async fn extend_lock(
        &self,
        lock: &turngate_coord::FencedLock,
        ttl: Duration,
    ) -> turngate_coord::Result<turngate_coord::FencedLock> {
        self.0.extend_lock(lock, ttl).await
    }
    async fn unlock(&self, lock: &turngate_coord::FencedLock) -> turngate_coord::Result<bool> {
        self.0.unlock(lock).await
    }
    async fn incr(
        &self,
        scope: &turngate_coord::SessionId,
        name: &str,
        delta: i64,
        ttl: Duration,
    ) -> turngate_coord::Result<i64> {
        let count = self.0.incr(scope, name, delta, ttl).await?;
        Ok(if name.starts_with("delegation:") { count + 1 } else { count })
    }
    async fn counter(
        &self,
        scope: &turngate_coord::SessionId,
        name: &str,
    ) -> turngate_coord::Result<Option<i64>> {
        self.0.counter(scope, name).await
    }
}

#[tokio::test]
async fn a_delegation_another_observer_claimed_is_not_run_here() {
    let sim_config = LiveSimConfig { delegate_every: 1, ..LiveSimConfig::default() };
    let sim = turngate_sim::live::serve(sim_config).await.unwrap();
    let backend = OpenAiLive::new(OpenAiLiveConfig {
        url: sim.url(),
        api_key: Some("it-key".to_owned()),
        ..OpenAiLiveConfig::default()
    });
    let built = ServerBuilder::new(live_config())
        .realtime(Arc::new(backend))
        .coordinator(Arc::new(ClaimedElsewhere(turngate_coord::MemoryCoordinator::new())))
        .build()
        .await
        .unwrap();
    let server = serve(built).await;
    let script = vec![
        Step::WaitForAgent { max_ms: 8000 },
        Step::Speak { ms: 900, hold_on: false },
        Step::WaitForAgent { max_ms: 10_000 },
        Step::Silence { ms: 1500 },
        Step::HangUp,
    ];
    let report = call(server.ws("/twilio"), "it-live-elsewhere", script).await;
    assert!(report.violations.is_empty(), "{report}");
    let record = record_of(&server, "it-live-elsewhere");
    let kinds = |kind: &str| record.timeline.iter().filter(|e| e.kind == kind).count();
    assert_eq!(kinds("tool"), 0, "{record:?}");
    assert_eq!(kinds("delegation_elsewhere"), 1, "{record:?}");
    assert_eq!(server.state.metrics.delegations.get("elsewhere"), 1);
    assert_eq!(server.state.metrics.delegations.get("run"), 0);
    // The session was not answered from here: the claim's owner answers it.
    let session = sim.record().sessions().first().cloned().expect("a session");
    assert_eq!(session.delegations_announced, 1, "{session:?}");
    assert_eq!(session.delegations_answered + session.delegations_answered_silently, 0);
    server.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn with_responses_delegation_each_backend_call_runs_once_and_the_backend_goes_on_once() {
    // Every utterance delegated to the backend model, some of its calls
    // seen twice, some of its events not correlated with their delegation.
    let sim_config = LiveSimConfig {
        delegate_every: 1,
        faults: LiveFaults {
            duplicate_function_call: 0.5,
            uncorrelated_events: 0.3,
            ..LiveFaults::default()
        },
        ..LiveSimConfig::default()
    };
    let sim = turngate_sim::live::serve(sim_config).await.unwrap();
    let backend = OpenAiLive::new(OpenAiLiveConfig {
        url: sim.url(),
        api_key: Some("it-key".to_owned()),
        delegation: LiveDelegation::Responses {
            model: "gpt-6-luna".to_owned(),
            instructions: None,
        },
        ..OpenAiLiveConfig::default()
    });
    let server =
        serve(ServerBuilder::new(live_config()).realtime(Arc::new(backend)).build().await.unwrap())
            .await;
    let calls: Vec<_> = (0..3)
        .map(|n| {
            let url = server.ws("/twilio");
            tokio::spawn(
                async move { call(url, &format!("it-live-responses-{n}"), script()).await },
            )
        })
        .collect();
    for (n, handle) in calls.into_iter().enumerate() {
        let report = handle.await.unwrap();
        assert!(report.is_clean(), "call {n}: {report}");
        let record = record_of(&server, &format!("it-live-responses-{n}"));
        let tools: Vec<_> = record.timeline.iter().filter(|e| e.kind == "tool").collect();
        assert!(!tools.is_empty(), "call {n}: {record:?}");
        assert!(
            tools.iter().all(|t| !t.text.starts_with("delegate(")),
            "the backend calls the app's own tools: {record:?}"
        );
    }
    let record = sim.record();
    assert_eq!(record.total_violations(), 0, "{:?}", record.violations());
    let sessions = record.sessions();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    let mut calls_made = 0;
    for session in &sessions {
        assert!(session.function_calls > 0, "{session:?}");
        // Exactly one output per call (a second is a violation, checked
        // above, and counted here), and the backend continued.
        assert_eq!(session.function_call_outputs, session.function_calls, "{session:?}");
        assert_eq!(session.duplicate_function_call_outputs, 0, "{session:?}");
        assert!(session.continuations > 0, "{session:?}");
        assert_eq!(session.delegations_with_unanswered_calls_at_close, 0, "{session:?}");
        calls_made += session.function_calls;
    }
    assert_eq!(server.state.metrics.delegations.get("run"), calls_made);
    server.stop().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_start_refused_for_good_ends_the_call_at_once_and_says_why() {
    // The simulator knows gpt-live-1 and gpt-live-1.1 only: this start is
    // refused with model_not_found, which retrying cannot fix.
    let sim = turngate_sim::live::serve(LiveSimConfig::default()).await.unwrap();
    let backend = OpenAiLive::new(OpenAiLiveConfig {
        url: sim.url(),
        api_key: Some("it-key".to_owned()),
        model: "gpt-live-0".to_owned(),
        ..OpenAiLiveConfig::default()
    });
    let server =
        serve(ServerBuilder::new(live_config()).realtime(Arc::new(backend)).build().await.unwrap())
            .await;
    let started = std::time::Instant::now();
    let script = vec![Step::WaitForAgent { max_ms: 15_000 }, Step::HangUp];
    let _ = call(server.ws("/twilio"), "it-live-refused", script).await;
    // Well before the 10 s ready timeout that used to end such a call.
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let record = record_of(&server, "it-live-refused");
    assert_eq!(record.ended.as_deref(), Some("backend_unavailable"), "{record:?}");
    assert!(
        record.timeline.iter().any(|e| e.text.contains("model_not_found")),
        "the record says why: {record:?}"
    );
    assert_eq!(sim.record().sessions_started(), 0);
    server.stop().await;
    sim.shutdown().await;
}
