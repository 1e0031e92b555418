//! Every door asks for its credential, and the legitimate peer that has it
//! is served.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use turngate_sim::callers::{
    self, CallerConfig, HangupCause, HangupSource, Protocol, Step, TelnyxEvent, TelnyxWebhook,
};

use super::{ADMIN_TOKEN, AUDIOCODES_TOKEN, CLIENT_TOKEN, carrier_headers, hardened, telnyx_key};
use crate::support::{Running, http, start};

/// The HTTP status a WebSocket upgrade got, or 101 when it was accepted.
async fn upgrade_status(server: &Running, path: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = server.ws(path).into_client_request().unwrap();
    for (name, value) in headers {
        let name: tokio_tungstenite::tungstenite::http::HeaderName = name.parse().unwrap();
        request.headers_mut().insert(name, HeaderValue::from_str(value).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{path}: {other}"),
    }
}

async fn legit_call(
    server: &Running,
    protocol: Protocol,
    path: &str,
    id: &str,
) -> callers::CallReport {
    callers::run(CallerConfig {
        protocol,
        url: server.ws(path),
        call_id: id.to_owned(),
        headers: carrier_headers(path),
        script: vec![
            Step::Speak { ms: 800, hold_on: false },
            Step::WaitForAgent { max_ms: 10_000 },
            Step::Dtmf('7'),
            Step::HangUp,
        ],
        timeout: Duration::from_secs(30),
        ..CallerConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_door_refuses_a_request_without_its_credential_and_serves_the_one_with_it() {
    let server = start(hardened()).await;
    let client = http();

    // Media sockets: nothing, or the wrong thing, is refused before the upgrade.
    assert_eq!(upgrade_status(&server, "/twilio", &[]).await, 403);
    let forged = [("x-twilio-signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")];
    assert_eq!(upgrade_status(&server, "/twilio", &forged).await, 403);
    assert_eq!(upgrade_status(&server, "/telnyx", &[]).await, 401);
    let wrong = [("x-telnyx-streaming-auth-token", "guess")];
    assert_eq!(upgrade_status(&server, "/telnyx", &wrong).await, 401);
    assert_eq!(upgrade_status(&server, "/audiocodes", &[]).await, 401);
    assert_eq!(
        upgrade_status(&server, "/audiocodes", &[("authorization", "Bearer guess")]).await,
        401
    );
    // A carrier's token does not pass as a worker's on the relay path.
    let carrier_as_worker = [
        ("authorization", &*format!("Bearer {AUDIOCODES_TOKEN}")),
        ("x-turngate-relayed-by", "worker-x"),
    ];
    assert_eq!(upgrade_status(&server, "/audiocodes", &carrier_as_worker).await, 401);
    assert_eq!(upgrade_status(&server, "/session?id=s1", &[]).await, 401);
    assert_eq!(upgrade_status(&server, "/session?id=s1&token=guess", &[]).await, 401);

    // HTTP doors.
    let status = |response: reqwest::Response| response.status().as_u16();
    let voice = client.post(server.url("/twilio/voice")).body("CallSid=CA1").send().await.unwrap();
    assert_eq!(status(voice), 403);
    let webhook = client.post(server.url("/telnyx/webhook")).body("{}").send().await.unwrap();
    assert_eq!(status(webhook), 401);
    let chat = client
        .post(server.url("/chat"))
        .json(&serde_json::json!({"conversation_id": "c", "message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(chat), 401);
    for path in ["/session/s1/publish", "/session/s1/confirm"] {
        let response = client.post(server.url(path)).body("{}").send().await.unwrap();
        assert_eq!(status(response), 401, "{path}");
    }
    for path in ["/calls", "/calls/CAanything"] {
        let response = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(status(response), 401, "{path}");
        let guessed = client.get(server.url(path)).bearer_auth("guess").send().await.unwrap();
        assert_eq!(status(guessed), 401, "{path}");
    }

    // Nothing got in: no call was started.
    assert_eq!(server.state.active_calls(), 0);
    assert!(server.state.records.all().is_empty());

    // The peers that hold the credentials are served.
    for (protocol, path) in [
        (Protocol::Twilio, "/twilio"),
        (Protocol::Telnyx, "/telnyx"),
        (Protocol::AudioCodes, "/audiocodes"),
    ] {
        let report = legit_call(&server, protocol, path, &format!("legit-{protocol}")).await;
        assert!(report.is_clean(), "{protocol}: {report}");
    }
    let chat = client
        .post(server.url("/chat"))
        .bearer_auth(CLIENT_TOKEN)
        .json(&serde_json::json!({"conversation_id": "c", "message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status(chat), 200);
    let metrics = client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("turngate_refused_total{reason=\"unauthorized\"}"), "{metrics}");
    server.stop().await;
}

/// Transcripts, key presses and tool arguments are for operators only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_records_need_the_admin_token_and_metrics_can_too() {
    let mut config = hardened();
    config.auth.metrics_require_token = true;
    let server = start(config).await;
    let report = legit_call(&server, Protocol::Twilio, "/twilio", "pin-call").await;
    assert!(report.is_clean(), "{report}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = http();
    let call = &report.carrier_call_id;
    let anonymous = client.get(server.url(&format!("/calls/{call}"))).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let refusal = anonymous.text().await.unwrap();
    assert!(!refusal.contains('7') && !refusal.contains(call), "the refusal leaks: {refusal}");
    let record = client
        .get(server.url(&format!("/calls/{call}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(record.status(), 200);
    let record = record.text().await.unwrap();
    assert!(record.contains("\"dtmf\"") && record.contains("\"7\""), "{record}");
    let list = client.get(server.url("/calls")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert!(list.text().await.unwrap().contains(call.as_str()));
    assert_eq!(client.get(server.url("/metrics")).send().await.unwrap().status(), 401);
    let metrics = client.get(server.url("/metrics")).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    server.stop().await;
}

/// With `admin_listen`, the operator routes live on their own address and
/// the public one does not serve them at all.
#[tokio::test]
async fn the_admin_listener_serves_the_operator_routes_and_only_it() {
    let admin_port =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = hardened();
    config.admin_listen = format!("127.0.0.1:{admin_port}");
    let server = start(config).await;
    let client = http();
    let admin = |path: &str| format!("http://127.0.0.1:{admin_port}{path}");
    let mut ready = false;
    for _ in 0..50 {
        if client.get(admin("/healthz")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready, "the admin listener never answered");
    assert_eq!(
        client.get(server.url("/calls")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().status(),
        404
    );
    assert_eq!(client.get(server.url("/metrics")).send().await.unwrap().status(), 404);
    assert_eq!(
        client.get(admin("/calls")).bearer_auth(ADMIN_TOKEN).send().await.unwrap().status(),
        200
    );
    assert_eq!(client.get(admin("/calls")).send().await.unwrap().status(), 401);
    assert_eq!(client.get(admin("/metrics")).send().await.unwrap().status(), 200);
    // The admin listener serves no call.
    assert_eq!(client.get(admin("/twilio")).send().await.unwrap().status(), 404);
    server.stop().await;
}

/// Twilio signs the voice webhook's URL as configured, query included.
#[tokio::test]
async fn a_twilio_voice_webhook_is_verified_over_its_query_string() {
    let server = start(hardened()).await;
    let validator = turngate_telephony::twilio::RequestValidator::new(super::TWILIO_TOKEN);
    let params = [("CallSid", "CA9"), ("From", "+15550100")];
    let body = "CallSid=CA9&From=%2B15550100";
    let with_query =
        validator.sign(&format!("{}/twilio/voice?tenant=t1", super::PUBLIC_URL), &params);
    let client = http();
    let ok = client
        .post(server.url("/twilio/voice?tenant=t1"))
        .header("X-Twilio-Signature", &with_query)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    // The same signature does not cover another query.
    let moved = client
        .post(server.url("/twilio/voice?tenant=t2"))
        .header("X-Twilio-Signature", &with_query)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 403);
    server.stop().await;
}

/// Unknown Telnyx events are acknowledged (Telnyx retries anything else)
/// and counted; a hang-up nobody signed never ends the call it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telnyx_webhooks_act_only_when_verified_and_unknown_ones_are_acknowledged() {
    let mut config = hardened();
    config.session.dead_air.enabled = false;
    let server = start(config).await;
    let calling = tokio::spawn(callers::run(CallerConfig {
        protocol: Protocol::Telnyx,
        url: server.ws("/telnyx"),
        call_id: "webhook-target".to_owned(),
        headers: carrier_headers("/telnyx"),
        script: vec![Step::Silence { ms: 2500 }, Step::HangUp],
        timeout: Duration::from_secs(20),
        ..CallerConfig::default()
    }));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let control_id = callers::telnyx_call_control_id("webhook-target");
    let client = http();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();

    // A hang-up signed with another key, and one not signed at all.
    let mut hangup = TelnyxWebhook::new(
        TelnyxEvent::Hangup { cause: HangupCause::NormalClearing, source: HangupSource::Caller },
        "webhook-target",
    );
    hangup.call_control_id.clone_from(&control_id);
    let forged = hangup.sign(&ed25519_dalek::SigningKey::from_bytes(&[1; 32]), now);
    for (signature, timestamp) in [(forged.signature.as_str(), forged.timestamp.as_str()), ("", "")]
    {
        let response = client
            .post(server.url("/telnyx/webhook"))
            .header("telnyx-signature-ed25519", signature)
            .header("telnyx-timestamp", timestamp)
            .body(forged.body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }

    // An event type this server does not know, properly signed.
    let body = serde_json::json!({
        "data": {"record_type": "event", "id": "evt-unknown", "event_type": "call.machine.premium.detection.ended",
                 "occurred_at": "2026-12-02T10:00:00Z", "payload": {"call_control_id": control_id}},
        "meta": {"attempt": 1, "delivered_to": "https://bridge.example.com/telnyx/webhook"}
    })
    .to_string();
    let signature = callers::sign_telnyx(&telnyx_key(), &now.to_string(), &body);
    let unknown = client
        .post(server.url("/telnyx/webhook"))
        .header("telnyx-signature-ed25519", signature)
        .header("telnyx-timestamp", now.to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 204);

    let report = calling.await.unwrap().unwrap();
    assert!(report.is_clean(), "{report}");
    let record = server.state.records.get(&control_id).expect("the call's record");
    assert_eq!(
        record.ended.as_deref(),
        Some("caller_hung_up"),
        "the caller hung up, not a forged webhook: {record:?}"
    );
    let metrics = server.state.metrics.render();
    assert!(metrics.contains("turngate_webhooks_total{outcome=\"unknown_event\"} 1"), "{metrics}");
    assert!(metrics.contains("turngate_webhooks_total{outcome=\"unverified\"} 2"), "{metrics}");
    server.stop().await;

    // Without a key nothing can be verified, so nothing is acted on.
    let server = start(crate::support::config()).await;
    let response =
        client.post(server.url("/telnyx/webhook")).body(forged.body.clone()).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("auth.telnyx_public_key"));
    server.stop().await;
}
