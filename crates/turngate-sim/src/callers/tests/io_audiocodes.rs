//! An AudioCodes caller over a real socket: the session handshake, play
//! streams at the ear, the user stream's goodbye, and a silent bot.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::bot::{FakeBot, is_speech};
use crate::callers::{AudioCodesOptions, CallerConfig, CallerEvent, Party, Protocol, Step, run};

fn pcm_b64(ms: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(vec![0u8; ms * 32])
}

#[tokio::test]
async fn an_audiocodes_call_negotiates_then_streams_both_ways() {
    let bot = FakeBot::bind().await;
    let config = CallerConfig {
        protocol: Protocol::AudioCodes,
        url: bot.url("/audiocodes"),
        call_id: "io-ac".to_owned(),
        headers: vec![("Authorization".to_owned(), "Bearer token".to_owned())],
        script: vec![
            Step::WaitForAgent { max_ms: 3000 },
            Step::Speak { ms: 200, hold_on: false },
            Step::WaitForAgent { max_ms: 3000 },
            Step::HangUp,
        ],
        timeout: Duration::from_secs(10),
        ..CallerConfig::default()
    };
    let caller = tokio::spawn(run(config));
    let (mut conn, headers) = bot.accept().await;
    assert!(headers.iter().any(|(k, v)| k == "authorization" && v == "Bearer token"));
    let initiate = conn.next().await.unwrap();
    assert_eq!(initiate["type"], "session.initiate");
    assert_eq!(initiate["conversationId"], "io-ac");
    conn.send(json!({"type": "session.accepted", "mediaFormat": "raw/lpcm16"})).await;
    assert_eq!(conn.next().await.unwrap()["activities"][0]["name"], "start");
    assert_eq!(conn.next().await.unwrap()["type"], "userStream.start");
    conn.send(json!({"type": "userStream.started"})).await;

    // A greeting in three chunks, paced roughly in real time.
    conn.send(json!({"type": "playStream.start", "streamId": "g", "mediaFormat": "raw/lpcm16"}))
        .await;
    for _ in 0..3 {
        conn.send(json!({"type": "playStream.chunk", "streamId": "g", "audioChunk": pcm_b64(100)}))
            .await;
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    conn.send(json!({"type": "playStream.stop", "streamId": "g"})).await;

    conn.until(|m| m["type"] == "userStream.chunk" && is_speech(&m["audioChunk"], 0)).await;
    conn.send(json!({"type": "userStream.speech.started"})).await;
    conn.until(|m| m["type"] == "userStream.chunk" && !is_speech(&m["audioChunk"], 0)).await;
    conn.send(json!({"type": "userStream.speech.stopped"})).await;
    conn.send(json!({"type": "userStream.speech.recognition", "alternatives": [{"text": "hello", "confidence": 0.9}]})).await;
    conn.send(json!({"type": "playStream.start", "streamId": "a"})).await;
    conn.send(json!({"type": "playStream.chunk", "streamId": "a", "audioChunk": pcm_b64(200)}))
        .await;
    conn.send(json!({"type": "playStream.stop", "streamId": "a"})).await;

    conn.until_kind("type", "userStream.stop").await;
    conn.send(json!({"type": "userStream.stopped"})).await;
    let end = conn.until_kind("type", "session.end").await;
    assert_eq!(end["reasonCode"], "client-disconnected");
    conn.until_closed().await;

    let report = caller.await.unwrap().unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.agent_audio, Duration::from_millis(500));
    assert_eq!(report.turn_latencies.len(), 1, "{report}");
    assert_eq!(report.clears, 0, "the caller spoke while nothing played");
    assert_eq!(report.hung_up_by, Some(Party::Caller));
    let chunks = conn.received.iter().filter(|(_, m)| m["type"] == "userStream.chunk").count();
    assert!(chunks > 20, "{chunks} chunks");
}

#[tokio::test]
async fn a_bot_that_never_accepts_is_dropped_at_the_timeout() {
    let bot = FakeBot::bind().await;
    let config = CallerConfig {
        protocol: Protocol::AudioCodes,
        url: bot.url("/audiocodes"),
        script: vec![Step::Speak { ms: 100, hold_on: false }],
        audiocodes: AudioCodesOptions {
            answer_timeout: Duration::from_millis(300),
            ..AudioCodesOptions::default()
        },
        ..CallerConfig::default()
    };
    let started = Instant::now();
    let caller = tokio::spawn(run(config));
    let (mut conn, _) = bot.accept().await;
    assert_eq!(conn.next().await.unwrap()["type"], "session.initiate");
    conn.until_closed().await;
    let report = caller.await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(report.violations, ["no session.accepted within 300 ms"]);
    assert_eq!(report.hung_up_by, Some(Party::Caller));
    assert!(report.setup.is_none());
}

#[tokio::test]
async fn validation_is_its_own_connection_before_the_call() {
    let bot = FakeBot::bind().await;
    let config = CallerConfig {
        protocol: Protocol::AudioCodes,
        url: bot.url("/audiocodes"),
        script: vec![Step::HangUp],
        audiocodes: AudioCodesOptions {
            validate_connection: true,
            stop_user_stream: false,
            ..AudioCodesOptions::default()
        },
        ..CallerConfig::default()
    };
    let caller = tokio::spawn(run(config));
    let (mut validation, _) = bot.accept().await;
    assert_eq!(validation.next().await.unwrap(), json!({"type": "connection.validate"}));
    validation.send(json!({"type": "connection.validated", "success": true})).await;
    assert!(validation.next().await.is_none(), "the caller closes the validation connection");
    let (mut call, _) = bot.accept().await;
    assert_eq!(call.next().await.unwrap()["type"], "session.initiate");
    call.send(json!({"type": "session.accepted", "mediaFormat": "raw/mulaw"})).await;
    call.until_kind("type", "userStream.start").await;
    call.send(json!({"type": "userStream.started"})).await;
    call.until_kind("type", "session.end").await;
    call.until_closed().await;
    let report = caller.await.unwrap().unwrap();
    assert!(report.is_clean(), "{report}");
    let validated = report.events(|e| *e == CallerEvent::ConnectionValidated).count();
    assert_eq!(validated, 1, "{report}");
}
