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

/// With a recording directory, each call leaves two WAV files: what the
/// caller said and what the agent said, in the leg's codec.
#[tokio::test]
async fn calls_are_recorded_both_ways_when_asked() {
    let dir = std::env::temp_dir().join(format!("turngate-recordings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = config();
    config.recording_dir = dir.to_string_lossy().into_owned();
    let server = start(config).await;
    let report = callers::run(CallerConfig {
        protocol: Protocol::Twilio,
        url: server.ws("/twilio"),
        call_id: "recorded".to_owned(),
        script: vec![
            Step::Speak { ms: 800, hold_on: false },
            Step::WaitForAgent { max_ms: 10_000 },
            Step::HangUp,
        ],
        timeout: Duration::from_secs(30),
        ..CallerConfig::default()
    })
    .await
    .unwrap();
    assert!(report.is_clean(), "{report}");
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for side in ["caller", "agent"] {
        let wav = std::fs::read(dir.join(format!("CArecorded-{side}.wav"))).unwrap();
        let data = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
        assert_eq!(wav.len(), 44 + data, "{side}: header and size disagree");
        // µ-law at 8 kHz: the caller spoke for at least 0.8 s, the agent answered.
        assert!(data >= 6400, "{side}: only {data} bytes recorded");
        assert_eq!(u16::from_le_bytes(wav[20..22].try_into().unwrap()), 7, "{side}: not µ-law");
    }
}

/// Closing a Telnyx media stream does not end the call: when the session
/// hangs up, the server asks Telnyx's Call Control API to, for a stream
/// that authenticated with the stream token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_telnyx_call_is_hung_up_through_call_control() {
    use std::sync::{Arc, Mutex};

    use axum::extract::Path;
    use axum::http::HeaderMap;
    use axum::routing::post;

    let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let api = axum::Router::new().route(
        "/v2/calls/{id}/actions/hangup",
        post(move |Path(id): Path<String>, headers: HeaderMap, body: String| {
            let record = Arc::clone(&record);
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                record.lock().unwrap().push((id, auth, body));
                axum::Json(serde_json::json!({"data": {"result": "ok"}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}/v2", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });

    let mut config = config();
    config.telnyx.api_key = "KEY123".to_owned();
    config.telnyx.api_url = api_url;
    config.auth.telnyx_stream_token = "stream-secret".to_owned();
    config.session.dead_air.timeout = Duration::from_millis(600);
    config.session.dead_air.max_check_ins = 1;
    config.session.dead_air.hang_up_grace = Duration::from_millis(400);
    let server = start(config).await;
    let report = callers::run(CallerConfig {
        protocol: Protocol::Telnyx,
        url: server.ws("/telnyx"),
        call_id: "hang-me-up".to_owned(),
        headers: vec![("x-telnyx-streaming-auth-token".to_owned(), "stream-secret".to_owned())],
        script: vec![Step::SilentUntilHangup { max_ms: 15_000 }],
        timeout: Duration::from_secs(20),
        ..CallerConfig::default()
    })
    .await
    .unwrap();
    assert!(report.is_clean(), "{report}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (id, auth, body) = &seen[0];
    assert_eq!(id, "v3:hang-me-up");
    assert_eq!(auth, "Bearer KEY123");
    assert!(body.contains("command_id"), "{body}");
    server.stop().await;
}
