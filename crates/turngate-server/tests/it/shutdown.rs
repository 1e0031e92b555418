//! Graceful shutdown: not ready at once, no new calls, active calls end at
//! the drain deadline with a reason, and the server returns.

use std::time::{Duration, Instant};

use turngate_sim::callers::{self, CallerConfig, Protocol, Step};

use crate::support::{config, http, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_then_ends_the_calls_still_running() {
    let mut config = config();
    config.drain_timeout = Duration::from_millis(1500);
    let server = start(config).await;
    let ws = server.ws("/twilio");
    let readyz = server.url("/readyz");
    let call = tokio::spawn(callers::run(CallerConfig {
        protocol: Protocol::Twilio,
        url: ws.clone(),
        call_id: "draining".to_owned(),
        // The caller would go on for a minute; the drain deadline is shorter.
        script: vec![Step::Speak { ms: 500, hold_on: false }, Step::Silence { ms: 60_000 }],
        timeout: Duration::from_secs(30),
        detailed_timeline: false,
        ..CallerConfig::default()
    }));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(server.state.active_calls(), 1);
    let state = std::sync::Arc::clone(&server.state);
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(state.is_draining());
    assert_eq!(http().get(&readyz).send().await.unwrap().status(), 503);
    // A new call is refused while draining.
    let refused = callers::run(CallerConfig {
        protocol: Protocol::Twilio,
        url: ws,
        call_id: "too-late".to_owned(),
        script: vec![Step::HangUp],
        timeout: Duration::from_secs(5),
        ..CallerConfig::default()
    })
    .await;
    assert!(refused.is_err(), "a call was accepted while draining: {refused:?}");
    stopping.await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400),
        "stopped after {took:?}, before the drain deadline"
    );
    assert!(took < Duration::from_secs(8), "stopping took {took:?}");
    let report = call.await.unwrap().unwrap();
    assert!(report.bot_hung_up, "{report}");
    let record = state.records.get("CAdraining").expect("the call's record");
    assert_eq!(record.ended.as_deref(), Some("app_hung_up"), "{record:?}");
    assert_eq!(state.active_calls(), 0);
}
