//! Direct SIP: OpenAI's incoming-call webhooks delivered to two workers,
//! twice, forged and stale, with both surfaces raised for one call. The
//! control plane here is a small strict peer of our own: it wants the
//! bearer key, takes the first accept of a call and refuses every later
//! one with a 4xx, as OpenAI's first successful accept decides a call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use turngate_llm::sip::WebhookVerifier;
use turngate_server::ServerBuilder;

use crate::support::{config, http, serve};

const SECRET: &str = "whsec_c2lwLXRlc3Qtc2VjcmV0LWZvci10dXJuZ2F0ZQ==";

/// Every accept the control plane was asked for, and the Call-ID each
/// pending call belongs to (both surfaces of one call share it).
#[derive(Default)]
struct ControlPlane {
    accepts: Vec<(String, Value)>,
    decided: HashMap<String, String>,
    call_of: HashMap<String, String>,
}

async fn realtime_accept(
    State(plane): State<Arc<Mutex<ControlPlane>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    accept(&plane, "realtime", &id, &headers, &body)
}

async fn live_accept(
    State(plane): State<Arc<Mutex<ControlPlane>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    accept(&plane, "live", &id, &headers, &body)
}

fn accept(
    plane: &Mutex<ControlPlane>,
    surface: &str,
    id: &str,
    headers: &HeaderMap,
    body: &str,
) -> StatusCode {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-test") {
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(body) = serde_json::from_str::<Value>(body) else { return StatusCode::BAD_REQUEST };
    let mut plane = plane.lock().unwrap();
    let call = plane.call_of.get(id).cloned().unwrap_or_else(|| id.to_owned());
    plane.accepts.push((format!("{surface}/{id}"), body));
    if plane.decided.contains_key(&call) {
        return StatusCode::BAD_REQUEST;
    }
    plane.decided.insert(call, surface.to_owned());
    StatusCode::OK
}

fn signed(body: &Value, webhook_id: &str, age: i64) -> (String, Vec<(String, String)>) {
    let body = body.to_string();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let timestamp = (i64::try_from(now).unwrap() - age).to_string();
    let signature =
        WebhookVerifier::new(SECRET).unwrap().sign(webhook_id, &timestamp, body.as_bytes());
    let headers = vec![
        ("webhook-id".to_owned(), webhook_id.to_owned()),
        ("webhook-timestamp".to_owned(), timestamp),
        ("webhook-signature".to_owned(), signature),
    ];
    (body, headers)
}

fn incoming(kind: &str, id: &str, sip_call_id: &str) -> Value {
    let data = if kind == "realtime.call.incoming" {
        json!({"call_id": id})
    } else {
        json!({"type": "sip", "session_id": id})
    };
    let mut data = data;
    data["sip_headers"] = json!([
        {"name": "From", "value": "<sip:+15550001111@carrier.example>"},
        {"name": "Call-ID", "value": sip_call_id},
    ]);
    json!({"object": "event", "id": format!("evt_{id}"), "type": kind, "created_at": 1, "data": data})
}

/// Serves `app` as the control plane; its base URL, `/v1` included.
async fn serve_control(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    control
}

/// A server taking SIP webhooks signed with [`SECRET`], its control plane
/// at `control`.
fn sip_config(control: &str) -> turngate_server::config::Config {
    let mut config = config();
    config.endpoints.push("openai_sip".to_owned());
    config.openai.webhook_secret = SECRET.to_owned();
    config.openai.api_key = "sk-test".to_owned();
    config.openai.check_models = false;
    control.clone_into(&mut config.openai.base_url);
    config
}

/// Posts one webhook delivery.
async fn post_signed(
    url: String,
    body: String,
    headers: Vec<(String, String)>,
) -> reqwest::Response {
    let mut request = http().post(url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn every_call_is_accepted_once_across_workers_and_forgeries_never() {
    let plane = Arc::new(Mutex::new(ControlPlane::default()));
    plane.lock().unwrap().call_of.insert("live_2".to_owned(), "rtc_2".to_owned());
    let app = Router::new()
        .route("/v1/realtime/calls/{id}/accept", post(realtime_accept))
        .route("/v1/live/sessions/{id}/accept", post(live_accept))
        .with_state(Arc::clone(&plane));
    let control = serve_control(app).await;

    let coordinator = turngate_server::memory_coordinator();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let mut config = sip_config(&control);
        config.openai.webhook_secret = format!("whsec_b2xkLXNlY3JldA== {SECRET}");
        let server = ServerBuilder::new(config).coordinator(Arc::clone(&coordinator));
        workers.push(serve(server.build().await.unwrap()).await);
    }
    let deliver = |worker: usize, body: String, headers: Vec<(String, String)>| {
        post_signed(workers[worker].url("/openai/webhook"), body, headers)
    };

    // Three calls, every webhook to both workers, the first one twice.
    for n in 1..=3 {
        let event = incoming("realtime.call.incoming", &format!("rtc_{n}"), &format!("cid-{n}"));
        let (body, headers) = signed(&event, &format!("wh_{n}"), 0);
        for worker in [0, 1, 0] {
            let response = deliver(worker, body.clone(), headers.clone()).await;
            assert_eq!(response.status(), 200, "every verified delivery is answered 2xx");
        }
    }
    // Call 2 also raised the GPT-Live event: this server runs Realtime, so
    // that one is never accepted (the other surface would race the first).
    let live = incoming("live.transport.incoming", "live_2", "cid-2");
    let (body, headers) = signed(&live, "wh_live_2", 0);
    assert_eq!(deliver(1, body, headers).await.status(), 200);

    // A forgery, a stale delivery and a replay under a new id never accept.
    let forged = incoming("realtime.call.incoming", "rtc_forged", "cid-forged");
    let (body, mut headers) = signed(&forged, "wh_forged", 0);
    headers[2].1 = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned();
    let refused = deliver(0, body, headers).await;
    assert_eq!(refused.status(), 401);
    let text = refused.text().await.unwrap();
    assert!(text.contains("does not match the expected signature"), "{text}");
    let stale = incoming("realtime.call.incoming", "rtc_stale", "cid-stale");
    let (body, headers) = signed(&stale, "wh_stale", 301);
    let refused = deliver(1, body, headers).await;
    assert_eq!(refused.status(), 401);
    assert!(refused.text().await.unwrap().contains("too old"));
    let (body, mut headers) =
        signed(&incoming("realtime.call.incoming", "rtc_1", "cid-1"), "wh_1", 0);
    headers[0].1 = "wh_replayed".to_owned();
    assert_eq!(deliver(1, body, headers).await.status(), 401, "the id is signed too");

    // The decisions run after the answers: wait for them.
    let settled = || {
        let total: u64 = ["accepted", "duplicate", "elsewhere", "other_surface"]
            .iter()
            .map(|o| workers.iter().map(|w| w.state.metrics.sip_webhooks.get(o)).sum::<u64>())
            .sum();
        total == 10
    };
    for _ in 0..200 {
        if settled() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(settled(), "every verified delivery was decided");
    let accepts = plane.lock().unwrap().accepts.clone();
    let paths: Vec<&str> = accepts.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(paths.len(), 3, "one accept per call: {paths:?}");
    for n in 1..=3 {
        assert!(paths.contains(&format!("realtime/rtc_{n}").as_str()), "{paths:?}");
    }
    // The accept carries the configured Realtime session, flat.
    let (_, session) = &accepts[0];
    assert_eq!(session["type"], "realtime", "{session}");
    assert!(session.get("session").is_none(), "{session}");
    let count = |outcome: &str| {
        workers.iter().map(|w| w.state.metrics.sip_webhooks.get(outcome)).sum::<u64>()
    };
    assert_eq!(count("accepted"), 3);
    assert_eq!(count("duplicate"), 6);
    assert_eq!(count("other_surface"), 1);
    assert_eq!(count("unverified"), 3);
    for worker in workers {
        worker.stop().await;
    }
}

#[tokio::test]
async fn without_a_secret_no_webhook_is_acted_on() {
    let mut config = config();
    config.endpoints.push("openai_sip".to_owned());
    let server = serve(ServerBuilder::new(config).build().await.unwrap()).await;
    let (body, headers) = signed(&incoming("realtime.call.incoming", "rtc_1", "cid-1"), "wh_1", 0);
    assert_eq!(post_signed(server.url("/openai/webhook"), body, headers).await.status(), 403);
    server.stop().await;
}

#[tokio::test]
async fn a_gpt_live_server_accepts_the_live_event_with_its_session_wrapped() {
    let plane = Arc::new(Mutex::new(ControlPlane::default()));
    plane.lock().unwrap().call_of.insert("rtc_9".to_owned(), "live_9".to_owned());
    let app = Router::new()
        .route("/v1/realtime/calls/{id}/accept", post(realtime_accept))
        .route("/v1/live/sessions/{id}/accept", post(live_accept))
        .with_state(Arc::clone(&plane));
    let control = serve_control(app).await;
    let mut config = sip_config(&control);
    config.openai.voice_api = turngate_server::config::VoiceApi::Live;
    let server = serve(ServerBuilder::new(config).build().await.unwrap()).await;
    // One pending call raises both events; the deprecated Live name too.
    for (kind, id, webhook) in [
        ("realtime.call.incoming", "rtc_9", "wh_rt"),
        ("live.call.incoming", "live_9", "wh_old"),
        ("live.transport.incoming", "live_9", "wh_new"),
    ] {
        let mut event = incoming(kind, id, "cid-9");
        if kind == "live.call.incoming" {
            // The deprecated event has no `data.type`.
            event["data"].as_object_mut().unwrap().remove("type");
        }
        let (body, headers) = signed(&event, webhook, 0);
        assert_eq!(post_signed(server.url("/openai/webhook"), body, headers).await.status(), 200);
    }
    let metrics = &server.state.metrics.sip_webhooks;
    for _ in 0..200 {
        if metrics.get("accepted") + metrics.get("elsewhere") + metrics.get("other_surface") == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(metrics.get("other_surface"), 1, "the Realtime event is never accepted here");
    assert_eq!(metrics.get("accepted"), 1);
    assert_eq!(metrics.get("elsewhere"), 1, "both Live names of one call: one accept");
    let accepts = plane.lock().unwrap().accepts.clone();
    assert_eq!(accepts.len(), 1, "{accepts:?}");
    let (path, body) = &accepts[0];
    assert_eq!(path, "live/live_9");
    assert_eq!(body["session"]["type"], "live", "{body}");
    assert_eq!(body["session"]["model"], "gpt-live-1", "{body}");
    assert!(body["session"]["audio"].get("format").is_none(), "SIP negotiates the format: {body}");
    server.stop().await;
}

/// Rejects calls from one number, refers calls to another, accepts the rest.
#[derive(Debug)]
struct Screening;

#[async_trait::async_trait]
impl turngate_server::sip::SipRouter for Screening {
    async fn route(
        &self,
        call: &turngate_server::sip::IncomingSipCall<'_>,
    ) -> turngate_server::sip::SipDecision {
        use turngate_server::sip::SipDecision;
        let from = call.header("from").unwrap_or_default();
        if from.contains("+15550002222") {
            SipDecision::Reject { status_code: 486 }
        } else if from.contains("+15550003333") {
            SipDecision::Refer { target_uri: "tel:+15550100000".to_owned() }
        } else {
            SipDecision::Accept
        }
    }
}

async fn other_control(
    State(plane): State<Arc<Mutex<ControlPlane>>>,
    Path((id, action)): Path<(String, String)>,
    body: String,
) -> StatusCode {
    let body = serde_json::from_str::<Value>(&body).unwrap_or(Value::Null);
    plane.lock().unwrap().accepts.push((format!("{action}/{id}"), body));
    StatusCode::OK
}

#[tokio::test]
async fn the_apps_router_rejects_or_refers_a_call_instead_of_accepting_it() {
    let plane = Arc::new(Mutex::new(ControlPlane::default()));
    let app = Router::new()
        .route("/v1/realtime/calls/{id}/accept", post(realtime_accept))
        .route("/v1/realtime/calls/{id}/{action}", post(other_control))
        .with_state(Arc::clone(&plane));
    let control = serve_control(app).await;
    let builder = ServerBuilder::new(sip_config(&control)).sip_router(Arc::new(Screening));
    let server = serve(builder.build().await.unwrap()).await;
    for (n, from) in ["+15550001111", "+15550002222", "+15550003333"].iter().enumerate() {
        let mut event = incoming("realtime.call.incoming", &format!("rtc_r{n}"), &format!("c{n}"));
        event["data"]["sip_headers"][0]["value"] = json!(format!("<sip:{from}@carrier.example>"));
        let (body, headers) = signed(&event, &format!("wh_r{n}"), 0);
        assert_eq!(post_signed(server.url("/openai/webhook"), body, headers).await.status(), 200);
    }
    let metrics = &server.state.metrics.sip_webhooks;
    for _ in 0..200 {
        if metrics.get("accepted") + metrics.get("rejected") + metrics.get("referred") == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut seen = plane.lock().unwrap().accepts.clone();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        vec![
            ("realtime/rtc_r0".to_owned(), seen[0].1.clone()),
            ("refer/rtc_r2".to_owned(), json!({"target_uri": "tel:+15550100000"})),
            ("reject/rtc_r1".to_owned(), json!({"status_code": 486})),
        ]
    );
    assert_eq!(
        (metrics.get("accepted"), metrics.get("rejected"), metrics.get("referred")),
        (1, 1, 1)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_on_redis_accept_each_call_once() {
    let plane = Arc::new(Mutex::new(ControlPlane::default()));
    let app = Router::new()
        .route("/v1/realtime/calls/{id}/accept", post(realtime_accept))
        .with_state(Arc::clone(&plane));
    let control = serve_control(app).await;
    let peers = crate::multi_worker::Peers::start("sip").await;
    let (a, b) = peers
        .two_workers(vec![
            ("TURNGATE_ENDPOINTS", "twilio,openai_sip".to_owned()),
            ("OPENAI_WEBHOOK_SECRET", SECRET.to_owned()),
            ("TURNGATE_OPENAI_BASE_URL", control),
            ("OPENAI_API_KEY", "sk-test".to_owned()),
        ])
        .await;
    let calls = 6;
    let mut deliveries = Vec::new();
    for n in 0..calls {
        let event = incoming("realtime.call.incoming", &format!("rtc_p{n}"), &format!("cid-p{n}"));
        let (body, headers) = signed(&event, &format!("wh_p{n}"), 0);
        // Every webhook to both workers, at once, and every other one again.
        let times = if n % 2 == 0 { 3 } else { 2 };
        for delivery in 0..times {
            let worker = if delivery % 2 == 0 { &a.base } else { &b.base };
            let url = format!("http://{worker}/openai/webhook");
            let (body, headers) = (body.clone(), headers.clone());
            deliveries.push(tokio::spawn(async move { post_signed(url, body, headers).await }));
        }
    }
    for delivery in deliveries {
        assert_eq!(delivery.await.unwrap().status(), 200);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while plane.lock().unwrap().accepts.len() < calls && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Room for a second accept to show up, if one were coming.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut paths: Vec<String> =
        plane.lock().unwrap().accepts.iter().map(|(p, _)| p.clone()).collect();
    paths.sort();
    let expected: Vec<String> = (0..calls).map(|n| format!("realtime/rtc_p{n}")).collect();
    assert_eq!(paths, expected, "one accept per call across both processes");
    drop((a, b));
}
