//! Health, metrics, TwiML, webhook authentication and routing, chat.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use turngate_coord::{SessionId, WorkerId};

use crate::support::{config, http, start};

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let server = start(config()).await;
    let client = http();
    let live = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("# TYPE turngate_turn_latency_seconds histogram"), "{metrics}");
    server.state.start_draining();
    let draining = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(draining.status(), 503);
    server.stop().await;
}

#[tokio::test]
async fn twilio_voice_answers_connect_stream_and_checks_signatures() {
    let mut config = config();
    config.public_url = "https://bridge.example.com".to_owned();
    let server = start(config.clone()).await;
    let client = http();
    let body = "CallSid=CA123&From=%2B15550100&To=%2B15550199";
    let twiml = client
        .post(server.url("/twilio/voice"))
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(twiml.contains("<Connect><Stream url=\"wss://bridge.example.com/twilio\""), "{twiml}");
    assert!(twiml.contains("<Parameter name=\"from\" value=\"+15550100\"/>"), "{twiml}");
    server.stop().await;

    config.auth.twilio_auth_token = "test-token".to_owned();
    let server = start(config).await;
    let validator = turngate_telephony::twilio::RequestValidator::new("test-token");
    let params = [("CallSid", "CA123"), ("From", "+15550100"), ("To", "+15550199")];
    let good = validator.sign("https://bridge.example.com/twilio/voice", &params);
    let ok = client
        .post(server.url("/twilio/voice"))
        .header("X-Twilio-Signature", good)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let forged = client
        .post(server.url("/twilio/voice"))
        .header("X-Twilio-Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let missing = client.post(server.url("/twilio/voice")).body(body).send().await.unwrap();
    assert_eq!(missing.status(), 403);
    server.stop().await;
}

fn playback_ended(call_control_id: &str, event_id: &str) -> String {
    serde_json::json!({
        "data": {
            "record_type": "event",
            "id": event_id,
            "event_type": "call.playback.ended",
            "occurred_at": "2026-11-25T10:00:00Z",
            "payload": {
                "call_control_id": call_control_id,
                "call_leg_id": "leg", "call_session_id": "session", "connection_id": "conn",
                "client_state": null, "media_url": "https://example.com/a.mp3", "media_name": null,
                "overlay": false, "status": "completed", "status_detail": null
            }
        },
        "meta": {"attempt": 1, "delivered_to": "https://bridge.example.com/telnyx/webhook"}
    })
    .to_string()
}

/// A verified webhook becomes a signal for the call's owner; a forged or
/// stale one is refused before anything happens.
#[tokio::test]
async fn telnyx_webhooks_are_verified_and_routed_to_the_owner() {
    let key = SigningKey::from_bytes(&[7; 32]);
    let mut config = config();
    config.auth.telnyx_public_key =
        base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
    let server = start(config).await;
    let client = http();

    // Some worker owns the call: here a second inbox on the same coordinator.
    let owner = WorkerId::new("owner").unwrap();
    let session = SessionId::new("telnyx:v3:call-1").unwrap();
    let coordinator = &server.state.coordinator;
    let lease = coordinator.acquire(&session, &owner, Duration::from_secs(30)).await.unwrap();
    let inbox =
        coordinator.subscribe(&owner, turngate_coord::InboxConfig::default()).await.unwrap();
    let mut signals = inbox.register(&lease).await.unwrap();

    let body = playback_ended("v3:call-1", "evt-1");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().to_string();
    let sign = |timestamp: &str, body: &str| {
        let message = format!("{timestamp}|{body}");
        base64::engine::general_purpose::STANDARD.encode(key.sign(message.as_bytes()).to_bytes())
    };
    let post = |signature: String, timestamp: String, body: String| {
        client
            .post(server.url("/telnyx/webhook"))
            .header("telnyx-signature-ed25519", signature)
            .header("telnyx-timestamp", timestamp)
            .body(body)
            .send()
    };

    let forged = post(sign(&now, "{}"), now.clone(), body.clone()).await.unwrap();
    assert_eq!(forged.status(), 401);
    let stale_time =
        (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 3600).to_string();
    let stale = post(sign(&stale_time, &body), stale_time, body.clone()).await.unwrap();
    assert_eq!(stale.status(), 401);

    let accepted = post(sign(&now, &body), now.clone(), body.clone()).await.unwrap();
    assert_eq!(accepted.status(), 204);
    // Telnyx retries carry the same event id: delivered once.
    let retried = post(sign(&now, &body), now.clone(), body.clone()).await.unwrap();
    assert_eq!(retried.status(), 204);

    let delivered =
        tokio::time::timeout(Duration::from_secs(2), signals.recv()).await.unwrap().unwrap();
    assert_eq!(delivered.signal.kind(), "playback.ended");
    assert!(tokio::time::timeout(Duration::from_millis(300), signals.recv()).await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn chat_answers_in_order_and_refuses_a_full_queue() {
    let mut config = config();
    config.chat.queue_depth = 3;
    let server = start(config).await;
    let client = http();
    let mut tasks = Vec::new();
    for i in 0..5 {
        let client = client.clone();
        let url = server.url("/chat");
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10 * i)).await;
            let response = client
                .post(url)
                .json(&serde_json::json!({"conversation_id": "c1", "message": format!("message {i}")}))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }));
    }
    let mut ok = 0;
    let mut full = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            200 => {
                ok += 1;
                assert!(body.contains("\"reply\""), "{body}");
            }
            429 => {
                full += 1;
                assert!(body.to_lowercase().contains("full"), "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(ok >= 3, "{ok} answered");
    assert_eq!(ok + full, 5);
    let bad = client
        .post(server.url("/chat"))
        .body("not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(server.state.simulated_upstream().chat_violations, 0);
    server.stop().await;
}

#[tokio::test]
async fn bad_configuration_is_refused_with_the_key_named() {
    let mut config = config();
    config.redis.url = "redis//oops".to_owned();
    let error = turngate_server::ServerBuilder::new(config).build().await.unwrap_err().to_string();
    assert!(error.contains("redis.url"), "{error}");
}

/// With the Assistants backend and no assistant id, one is created at
/// start, and chats run on it.
#[tokio::test]
async fn the_assistants_backend_creates_its_assistant_when_none_is_given() {
    let mut config = config();
    config.openai.chat_backend = turngate_server::config::ChatBackendKind::Assistants;
    let server = start(config).await;
    let response = http()
        .post(server.url("/chat"))
        .json(&serde_json::json!({"conversation_id": "asst-1", "message": "hello there"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["reply"], "echo: hello there", "{body}");
    assert_eq!(server.state.simulated_upstream().chat_violations, 0);
    server.stop().await;
}
