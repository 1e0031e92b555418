//! One call cannot reach another: not by naming its id on a new socket,
//! not by resuming it, not by getting the server to hang it up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use turngate_coord::WorkerId;
use turngate_server::ServerBuilder;
use turngate_sim::callers::{self, CallReport, CallerConfig, Protocol, Step};

use super::{carrier_headers, hardened};
use crate::resume::{Vaic, resume};
use crate::support::{Running, config, start};

/// A call long enough to be attacked while it lasts.
fn long_call(server: &Running, protocol: Protocol, path: &str, id: &str) -> CallerConfig {
    CallerConfig {
        protocol,
        url: server.ws(path),
        call_id: id.to_owned(),
        headers: carrier_headers(path),
        script: vec![
            Step::Speak { ms: 800, hold_on: false },
            Step::WaitForAgent { max_ms: 10_000 },
            Step::Speak { ms: 800, hold_on: false },
            Step::WaitForAgent { max_ms: 10_000 },
            Step::HangUp,
        ],
        timeout: Duration::from_secs(40),
        ..CallerConfig::default()
    }
}

fn assert_served_to_the_end(report: &CallReport, server: &Running) {
    assert!(report.is_clean(), "{report}");
    assert!(report.turn_latencies.len() >= 2, "both questions answered: {report}");
    let record = server.state.records.get(&report.carrier_call_id).expect("the call's record");
    assert_eq!(record.ended.as_deref(), Some("caller_hung_up"), "{record:?}");
}

/// A second stream naming a live call, even from a peer holding the
/// carrier's credentials, is refused; the live call is not touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stream_with_a_live_calls_id_is_refused_and_the_call_goes_on() {
    let server = start(hardened()).await;
    for (protocol, path) in [
        (Protocol::Twilio, "/twilio"),
        (Protocol::Telnyx, "/telnyx"),
        (Protocol::AudioCodes, "/audiocodes"),
    ] {
        let id = format!("victim-{protocol}");
        let victim = tokio::spawn(callers::run(long_call(&server, protocol, path, &id)));
        tokio::time::sleep(Duration::from_millis(700)).await;
        let mut intruder = long_call(&server, protocol, path, &id);
        intruder.script = vec![Step::Silence { ms: 500 }, Step::HangUp];
        intruder.timeout = Duration::from_secs(5);
        let intruded = callers::run(intruder).await.unwrap();
        assert!(!intruded.is_clean(), "{protocol}: the intruder was served: {intruded}");
        let report = victim.await.unwrap().unwrap();
        assert_served_to_the_end(&report, &server);
    }
    let metrics = server.state.metrics.render();
    assert!(metrics.contains("turngate_refused_total{reason=\"duplicate_call\"} 3"), "{metrics}");
    server.stop().await;
}

/// The same across workers: the lease names the call's owner, and a start
/// for it on another worker is refused there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_on_another_worker_for_a_live_call_is_refused() {
    let coordinator = turngate_server::memory_coordinator();
    let mut workers = Vec::new();
    for name in ["iso-a", "iso-b"] {
        let server = ServerBuilder::new(config())
            .coordinator(Arc::clone(&coordinator))
            .worker(WorkerId::new(name).unwrap())
            .build()
            .await
            .unwrap();
        workers.push(crate::support::serve(server).await);
    }
    let b = workers.pop().unwrap();
    let a = workers.pop().unwrap();
    let mut victim = long_call(&a, Protocol::Twilio, "/twilio", "roams");
    victim.headers.clear();
    let victim = tokio::spawn(callers::run(victim));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut intruder = long_call(&b, Protocol::Twilio, "/twilio", "roams");
    intruder.headers.clear();
    intruder.script = vec![Step::Silence { ms: 500 }, Step::HangUp];
    intruder.timeout = Duration::from_secs(5);
    let intruded = callers::run(intruder).await.unwrap();
    assert!(!intruded.is_clean(), "{intruded}");
    let report = victim.await.unwrap().unwrap();
    assert_served_to_the_end(&report, &a);
    assert!(b.state.records.get(&report.carrier_call_id).is_none());
    assert!(
        b.state.metrics.render().contains("turngate_refused_total{reason=\"duplicate_call\"} 1")
    );
    a.stop().await;
    b.stop().await;
}

/// A `session.resume` for a healthy AudioCodes call (its socket talking)
/// is refused, even with the bot's token; the call stays on its socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_cannot_take_over_a_healthy_audiocodes_call() {
    let server = start(hardened()).await;
    let victim = tokio::spawn(callers::run(long_call(
        &server,
        Protocol::AudioCodes,
        "/audiocodes",
        "healthy",
    )));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut thief =
        Vaic::connect_with(&server.ws("/audiocodes"), &carrier_headers("/audiocodes")).await;
    thief.send(resume("healthy")).await;
    let refusal = thief.expect("session.error").await;
    let reason = refusal["reason"].as_str().unwrap();
    assert!(reason.contains("active on another connection"), "{refusal}");
    let report = victim.await.unwrap().unwrap();
    assert_served_to_the_end(&report, &server);
    let record = server.state.records.get("healthy").unwrap();
    assert!(!record.timeline.iter().any(|e| e.kind == "resumed"), "{record:?}");
    server.stop().await;
}

/// A media stream that did not authenticate never makes the server use
/// its Call Control key: the call it named is not hung up through the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_telnyx_stream_cannot_make_the_server_hang_up_a_call() {
    use axum::extract::Path;
    use axum::routing::post;

    let hangups: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&hangups);
    let api = axum::Router::new().route(
        "/v2/calls/{id}/actions/hangup",
        post(move |Path(id): Path<String>| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().unwrap().push(id);
                axum::Json(json!({"data": {"result": "ok"}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}/v2", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });

    // The development setup: no stream token, but a Call Control key.
    let mut config = config();
    config.telnyx.api_key = "KEY123".to_owned();
    config.telnyx.api_url = api_url;
    config.session.dead_air.timeout = Duration::from_millis(600);
    config.session.dead_air.max_check_ins = 1;
    config.session.dead_air.hang_up_grace = Duration::from_millis(400);
    let server = start(config).await;
    let report = callers::run(CallerConfig {
        protocol: Protocol::Telnyx,
        url: server.ws("/telnyx"),
        call_id: "somebody-elses-call".to_owned(),
        script: vec![Step::SilentUntilHangup { max_ms: 15_000 }],
        timeout: Duration::from_secs(20),
        ..CallerConfig::default()
    })
    .await
    .unwrap();
    assert!(report.bot_hung_up, "{report}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        hangups.lock().unwrap().is_empty(),
        "hung up {:?} for an unauthenticated stream",
        hangups.lock().unwrap()
    );
    server.stop().await;
}
