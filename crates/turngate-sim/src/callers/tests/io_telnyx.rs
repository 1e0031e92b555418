//! A Telnyx caller over a real socket: out-of-order media, immediate marks,
//! error frames, and a call control id that webhooks can name.

use std::time::Duration;

use serde_json::{Value, json};

use super::bot::{FakeBot, ulaw_ms};
use crate::callers::{CallerConfig, Protocol, Step, TelnyxOptions, run, telnyx_call_control_id};

#[tokio::test]
async fn a_telnyx_call_reorders_media_and_answers_bad_frames() {
    let bot = FakeBot::bind().await;
    let config = CallerConfig {
        protocol: Protocol::Telnyx,
        url: bot.url("/telnyx"),
        call_id: "io-telnyx".to_owned(),
        script: vec![
            Step::Speak { ms: 300, hold_on: false },
            Step::Silence { ms: 300 },
            Step::HangUp,
        ],
        timeout: Duration::from_secs(10),
        telnyx: TelnyxOptions { reorder_probability: 0.3, ..TelnyxOptions::default() },
        ..CallerConfig::default()
    };
    let caller = tokio::spawn(run(config));
    let (mut conn, _) = bot.accept().await;
    assert_eq!(conn.next().await.unwrap(), json!({"event": "connected", "version": "1.0.0"}));
    let start = conn.next().await.unwrap();
    assert_eq!(start["start"]["call_control_id"], telnyx_call_control_id("io-telnyx"));
    let stream_id = start["stream_id"].as_str().unwrap().to_owned();

    conn.send(json!({"event": "mark", "mark": {"name": "nothing-queued"}})).await;
    assert_eq!(conn.until_kind("event", "mark").await["mark"]["name"], "nothing-queued");
    conn.send(
        json!({"event": "media", "stream_id": stream_id, "media": {"payload": ulaw_ms(100)}}),
    )
    .await;
    conn.send(json!({"event": "dance"})).await;
    let error = conn.until_kind("event", "error").await;
    assert_eq!(error["payload"]["code"], 100_003);
    assert_eq!(error["stream_id"], stream_id.as_str());
    conn.until_kind("event", "stop").await;
    conn.until_closed().await;

    let report = caller.await.unwrap().unwrap();
    assert_eq!(report.violations.len(), 1, "{report}");
    assert!(report.violations[0].starts_with("100003 malformed_frame: unsupported event `dance`"));
    assert!(report.failures.is_empty(), "{report}");
    assert_eq!(report.agent_audio, Duration::from_millis(100));

    let chunks: Vec<u64> = conn
        .received
        .iter()
        .filter(|(_, m)| m["event"] == "media")
        .map(|(_, m)| m["media"]["chunk"].as_str().unwrap().parse().unwrap())
        .collect();
    let mut sorted = chunks.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=30).collect::<Vec<_>>(), "every chunk exactly once");
    assert_ne!(chunks, sorted, "some frames arrived out of order");
    let sequence: Vec<&Value> = conn.received.iter().map(|(_, m)| &m["sequence_number"]).collect();
    assert!(sequence[0].is_null(), "connected has no sequence number");
}
