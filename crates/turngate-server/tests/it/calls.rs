//! Whole calls over each protocol against the built-in simulators.

use std::time::Duration;

use turngate_sim::callers::{self, CallerConfig, Protocol, Step};

use crate::support::{config, start};

async fn call(
    protocol: Protocol,
    path: &str,
    script: Vec<Step>,
) -> (callers::CallReport, crate::support::Running) {
    let server = start(config()).await;
    let report = callers::run(CallerConfig {
        protocol,
        url: server.ws(path),
        call_id: format!("it-{path}"),
        script,
        timeout: Duration::from_secs(30),
        ..CallerConfig::default()
    })
    .await
    .unwrap();
    (report, server)
}

#[tokio::test]
async fn a_twilio_call_is_answered_and_hangs_up_cleanly() {
    let (report, server) = call(
        Protocol::Twilio,
        "/twilio",
        vec![
            Step::Speak { ms: 800, hold_on: false },
            Step::WaitForAgent { max_ms: 10_000 },
            Step::HangUp,
        ],
    )
    .await;
    assert!(report.is_clean(), "{report}");
    assert!(!report.turn_latencies.is_empty(), "{report}");
    assert!(report.marks_echoed > 0, "{report}");
    let upstream = server.state.simulated_upstream();
    assert_eq!(upstream.violations, 0, "{:?}", upstream.details);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.state.active_calls(), 0);
    server.stop().await;
}

#[tokio::test]
async fn an_audiocodes_call_in_silence_is_checked_on_then_hung_up() {
    let mut config = config();
    config.session.dead_air.timeout = Duration::from_millis(800);
    config.session.dead_air.max_check_ins = 1;
    config.session.dead_air.hang_up_grace = Duration::from_millis(500);
    let server = start(config).await;
    let report = callers::run(CallerConfig {
        protocol: Protocol::AudioCodes,
        url: server.ws("/audiocodes"),
        call_id: "it-dead-air".to_owned(),
        script: vec![Step::SilentUntilHangup { max_ms: 15_000 }],
        timeout: Duration::from_secs(20),
        ..CallerConfig::default()
    })
    .await
    .unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(report.bot_hung_up, "{report}");
    let record = server.state.records.get("it-dead-air").expect("the call's record");
    assert_eq!(record.ended.as_deref(), Some("dead_air"), "{record:?}");
    assert!(record.timeline.iter().any(|e| e.kind == "check_in"), "{record:?}");
    server.stop().await;
}
