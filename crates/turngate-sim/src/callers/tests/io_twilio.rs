//! Twilio callers over real loopback WebSockets against the fake bot:
//! pacing, mark timing, clears, violations, hang-ups and errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant as StdInstant};

use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::http::StatusCode;

use super::bot::{FakeBot, is_speech, ulaw_ms};
use crate::callers::{
    CallObserver, CallerConfig, CallerError, CallerEvent, ErrorKind, Party, Protocol, Step, run,
};

fn config(bot: &FakeBot, script: Vec<Step>) -> CallerConfig {
    CallerConfig {
        protocol: Protocol::Twilio,
        url: bot.url("/twilio"),
        call_id: "io-twilio".to_owned(),
        script,
        timeout: Duration::from_secs(15),
        ..CallerConfig::default()
    }
}

fn number(value: &Value) -> u64 {
    value.as_str().unwrap().parse().unwrap()
}

#[derive(Debug, Default)]
struct Counter {
    sent: AtomicU64,
    received: AtomicU64,
    received_bytes: AtomicU64,
}

impl CallObserver for Counter {
    fn audio_sent(&self, _at: StdInstant, payload_bytes: usize) {
        assert_eq!(payload_bytes, 160);
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    fn audio_received(&self, _at: StdInstant, payload_bytes: usize, audio: Duration) {
        assert_eq!(audio, Duration::from_millis(payload_bytes as u64 / 8));
        self.received.fetch_add(1, Ordering::Relaxed);
        self.received_bytes.fetch_add(payload_bytes as u64, Ordering::Relaxed);
    }
}

#[tokio::test]
async fn a_whole_call_paces_audio_and_echoes_marks_after_playout() {
    let bot = FakeBot::bind().await;
    let counter = Arc::new(Counter::default());
    let mut config = config(
        &bot,
        vec![
            Step::WaitForAgent { max_ms: 3000 },
            Step::Speak { ms: 400, hold_on: false },
            Step::WaitForAgent { max_ms: 3000 },
            Step::HangUp,
        ],
    );
    config.headers = vec![("X-Twilio-Signature".to_owned(), "c2lnbmF0dXJl".to_owned())];
    config.custom_parameters = vec![("tenant".to_owned(), "t1".to_owned())];
    config.observer = Some(counter.clone());
    let caller = tokio::spawn(run(config));
    let (mut conn, headers) = bot.accept().await;
    assert!(headers.iter().any(|(k, v)| k == "x-twilio-signature" && v == "c2lnbmF0dXJl"));

    assert_eq!(conn.next().await.unwrap()["event"], "connected");
    let start = conn.next().await.unwrap();
    assert_eq!(start["start"]["callSid"], "CAio-twilio");
    assert_eq!(start["start"]["customParameters"], json!({"tenant": "t1"}));
    let sid = start["streamSid"].as_str().unwrap().to_owned();

    // The greeting: 300 ms and a mark. The echo must wait for playout.
    let before = Instant::now();
    conn.send(json!({"event": "media", "streamSid": sid, "media": {"payload": ulaw_ms(300)}}))
        .await;
    conn.send(json!({"event": "mark", "streamSid": sid, "mark": {"name": "greeting"}})).await;
    let echo = conn.until_kind("event", "mark").await;
    let waited = before.elapsed();
    assert_eq!(echo["mark"]["name"], "greeting");
    assert!(
        waited >= Duration::from_millis(300),
        "echoed after {waited:?}, before the audio played"
    );
    assert!(waited < Duration::from_millis(700), "echoed only after {waited:?}");

    // The caller speaks after the greeting, then stops; the bot answers.
    conn.until(|m| m["event"] == "media" && is_speech(&m["media"]["payload"], 0xFF)).await;
    conn.until(|m| m["event"] == "media" && !is_speech(&m["media"]["payload"], 0xFF)).await;
    conn.send(json!({"event": "media", "streamSid": sid, "media": {"payload": ulaw_ms(200)}}))
        .await;
    conn.send(json!({"event": "mark", "streamSid": sid, "mark": {"name": "answer"}})).await;
    assert_eq!(conn.until_kind("event", "mark").await["mark"]["name"], "answer");
    let stop = conn.until_kind("event", "stop").await;
    assert_eq!(stop["stop"]["callSid"], "CAio-twilio");
    conn.until_closed().await;

    let report = caller.await.unwrap().unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.hung_up_by, Some(Party::Caller));
    assert_eq!(report.marks_echoed, 2);
    assert_eq!(report.agent_audio, Duration::from_millis(500));
    assert_eq!(report.turn_latencies.len(), 1, "{report}");
    assert!(report.turn_latencies[0] < Duration::from_millis(500), "{report}");
    assert!(report.setup.is_some());

    // What Twilio sent: consecutive numbers, 20 ms of audio per frame, at
    // the rate the audio plays.
    let messages: Vec<&(Instant, Value)> = conn.received.iter().skip(1).collect();
    for (i, (_, message)) in messages.iter().enumerate() {
        assert_eq!(number(&message["sequenceNumber"]), i as u64 + 1, "{message}");
    }
    let media: Vec<&(Instant, Value)> =
        messages.iter().copied().filter(|(_, m)| m["event"] == "media").collect();
    let speech = media.iter().filter(|(_, m)| is_speech(&m["media"]["payload"], 0xFF)).count();
    assert_eq!(speech, 20, "400 ms of speech is 20 frames");
    for (i, (_, frame)) in media.iter().enumerate() {
        assert_eq!(number(&frame["media"]["chunk"]), i as u64 + 1);
    }
    let stamps: Vec<u64> = media.iter().map(|(_, m)| number(&m["media"]["timestamp"])).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "timestamps never go back");
    let span = media.last().unwrap().0.duration_since(media[0].0);
    let expected = span.as_millis() as i64 / 20 + 1;
    assert!((media.len() as i64 - expected).abs() <= 5, "{} frames over {span:?}", media.len());
    assert_eq!(counter.sent.load(Ordering::Relaxed), media.len() as u64);
    assert_eq!(counter.received.load(Ordering::Relaxed), 2);
    assert_eq!(counter.received_bytes.load(Ordering::Relaxed), 4000);
}

#[tokio::test]
async fn a_clear_returns_every_pending_mark_at_once() {
    let bot = FakeBot::bind().await;
    let script = vec![
        Step::BargeIn { after_agent_ms: 200, speak_ms: 300 },
        Step::Silence { ms: 200 },
        Step::HangUp,
    ];
    let caller = tokio::spawn(run(config(&bot, script)));
    let (mut conn, _) = bot.accept().await;
    let sid = conn.until_kind("event", "start").await["streamSid"].as_str().unwrap().to_owned();
    conn.send(json!({"event": "media", "streamSid": sid, "media": {"payload": ulaw_ms(2000)}}))
        .await;
    conn.send(json!({"event": "mark", "streamSid": sid, "mark": {"name": "a"}})).await;
    conn.send(json!({"event": "media", "streamSid": sid, "media": {"payload": ulaw_ms(1000)}}))
        .await;
    conn.send(json!({"event": "mark", "streamSid": sid, "mark": {"name": "b"}})).await;
    conn.until(|m| m["event"] == "media" && is_speech(&m["media"]["payload"], 0xFF)).await;
    let cleared = Instant::now();
    conn.send(json!({"event": "clear", "streamSid": sid})).await;
    assert_eq!(conn.until_kind("event", "mark").await["mark"]["name"], "a");
    assert_eq!(conn.until_kind("event", "mark").await["mark"]["name"], "b");
    let waited = cleared.elapsed();
    assert!(waited < Duration::from_millis(300), "marks came {waited:?} after the clear");
    conn.until_kind("event", "stop").await;
    conn.until_closed().await;

    let report = caller.await.unwrap().unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!((report.barge_ins, report.clears, report.marks_echoed), (1, 1, 2));
    assert_eq!(report.clear_latencies.len(), 1);
    assert_eq!(report.agent_audio_received, Duration::from_secs(3));
    assert!(report.agent_audio >= Duration::from_millis(200), "{report}");
    assert!(report.agent_audio < Duration::from_millis(900), "{report}");
    assert!(report.events(|e| *e == CallerEvent::AgentAudioStopped { cleared: true }).count() == 1);
}

#[tokio::test]
async fn rule_breaches_over_the_socket_are_reported_and_the_call_goes_on() {
    let bot = FakeBot::bind().await;
    let caller = tokio::spawn(run(config(&bot, vec![Step::Silence { ms: 300 }, Step::HangUp])));
    let (mut conn, _) = bot.accept().await;
    conn.until_kind("event", "start").await;
    conn.send_raw(Message::binary(vec![0xFFu8; 160])).await;
    conn.send(
        json!({"event": "media", "streamSid": "MZnot-this-one", "media": {"payload": ulaw_ms(20)}}),
    )
    .await;
    conn.until_kind("event", "stop").await;
    conn.until_closed().await;
    let report = caller.await.unwrap().unwrap();
    assert_eq!(report.violations.len(), 2, "{report}");
    assert!(report.violations[0].starts_with("31950"), "{report}");
    assert!(report.violations[1].starts_with("31951"), "{report}");
    assert!(report.failures.is_empty());
    assert_eq!(report.hung_up_by, Some(Party::Caller));
}

#[tokio::test]
async fn a_bot_closing_the_socket_is_a_bot_hang_up() {
    let bot = FakeBot::bind().await;
    let caller = tokio::spawn(run(config(&bot, vec![Step::SilentUntilHangup { max_ms: 5000 }])));
    let (mut conn, _) = bot.accept().await;
    conn.until_kind("event", "start").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    conn.close().await;
    let report = caller.await.unwrap().unwrap();
    assert!(report.bot_hung_up);
    assert!(report.is_clean(), "{report}");
    assert!(report.duration < Duration::from_secs(3), "{report}");
}

#[tokio::test]
async fn the_call_timeout_hangs_up_and_says_so() {
    let bot = FakeBot::bind().await;
    let mut config = config(&bot, vec![Step::WaitForAgent { max_ms: 10_000 }]);
    config.timeout = Duration::from_millis(400);
    let caller = tokio::spawn(run(config));
    let (mut conn, _) = bot.accept().await;
    conn.until_kind("event", "stop").await;
    conn.until_closed().await;
    let report = caller.await.unwrap().unwrap();
    assert_eq!(report.hung_up_by, Some(Party::Caller));
    assert_eq!(report.failures.len(), 1, "{report}");
    assert!(
        report.failures[0].starts_with("the call timed out after 400ms during step 0 (wait:10000)"),
        "{report}"
    );
}

#[tokio::test]
async fn calls_that_cannot_be_placed_are_typed_errors() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/twilio", closed.local_addr().unwrap());
    drop(closed);
    let error = run(CallerConfig { url, ..CallerConfig::default() }).await.unwrap_err();
    assert!(matches!(error, CallerError::Connect { .. }), "{error}");
    assert_eq!(error.kind(), ErrorKind::Transient);

    let bot = FakeBot::bind().await;
    let caller =
        tokio::spawn(run(CallerConfig { url: bot.url("/twilio"), ..CallerConfig::default() }));
    bot.refuse(StatusCode::FORBIDDEN).await;
    let error = caller.await.unwrap().unwrap_err();
    assert!(matches!(error, CallerError::Refused { status: 403 }), "{error}");
    assert_eq!(error.kind(), ErrorKind::Auth);

    let error =
        run(CallerConfig { url: "http://127.0.0.1:1/".to_owned(), ..CallerConfig::default() })
            .await
            .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Config, "{error}");
}
