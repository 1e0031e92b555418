//! AudioCodes `session.resume`: VoiceAI Connect reconnecting mid-call.
//!
//! The client here speaks the Bot API by hand, because the point is a
//! socket that drops without `session.end` and a second one that resumes.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt as _, StreamExt as _};
use rustls::pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use turngate_coord::WorkerId;
use turngate_server::ServerBuilder;

use crate::support::{Running, config, start};

/// One VoiceAI Connect socket.
pub(crate) struct Vaic {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every message received, in order.
    seen: Vec<Value>,
}

impl Vaic {
    pub(crate) async fn connect(url: &str) -> Vaic {
        Vaic::connect_with(url, &[]).await
    }

    /// Connects with extra upgrade headers (a bearer token).
    pub(crate) async fn connect_with(url: &str, headers: &[(String, String)]) -> Vaic {
        Vaic::connect_tls(url, headers, None).await
    }

    /// Connects, over TLS verified with `tls` for a `wss://` URL.
    pub(crate) async fn connect_tls(
        url: &str,
        headers: &[(String, String)],
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Vaic {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

        let mut request = url.into_client_request().unwrap();
        for (name, value) in headers {
            let name: HeaderName = name.parse().unwrap();
            request.headers_mut().insert(name, HeaderValue::from_str(value).unwrap());
        }
        let connector = tls.map(tokio_tungstenite::Connector::Rustls);
        let (ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector)
                .await
                .unwrap();
        Vaic { ws, seen: Vec::new() }
    }

    pub(crate) async fn send(&mut self, message: Value) {
        self.ws.send(Message::text(message.to_string())).await.unwrap();
    }

    /// Waits for a message of type `kind`, keeping the others.
    pub(crate) async fn expect(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = timeout(left, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no {kind} in time; saw {:?}", self.types()));
            let Some(Ok(Message::Text(text))) = message else {
                panic!("the socket ended before {kind}: {message:?}; saw {:?}", self.types());
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            self.seen.push(value.clone());
            if value["type"] == kind {
                return value;
            }
        }
    }

    /// Streams `ms` of audio in 100 ms chunks at the playback rate.
    pub(crate) async fn stream(&mut self, conversation: &str, ms: u64, loud: bool) {
        for chunk in 0..ms / 100 {
            let audio: Vec<u8> = (0..800)
                .map(|n| {
                    if !loud {
                        return 0xFF;
                    }
                    let t = (chunk * 800 + n) as f64 / 8000.0;
                    let sample = (t * 140.0 * std::f64::consts::TAU).sin() * 8000.0;
                    turngate_audio::ulaw::encode(sample as i16)
                })
                .collect();
            let chunk = json!({"type": "userStream.chunk", "conversationId": conversation,
                "audioChunk": STANDARD.encode(audio)});
            self.send(chunk).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn types(&self) -> Vec<String> {
        self.seen.iter().map(|v| v["type"].as_str().unwrap_or("?").to_owned()).collect()
    }

    /// Drops the TCP connection without a close handshake, as a network
    /// failure would.
    pub(crate) fn drop_connection(self) {
        drop(self.ws);
    }
}

fn initiate(conversation: &str) -> Value {
    json!({"type": "session.initiate", "conversationId": conversation, "botName": "bot",
        "caller": "+15550100", "expectAudioMessages": true,
        "supportedMediaFormats": ["raw/mulaw"]})
}

pub(crate) fn resume(conversation: &str) -> Value {
    json!({"type": "session.resume", "conversationId": conversation})
}

/// Starts a conversation and asks a question until the answer starts.
pub(crate) async fn call_until_answer(url: &str, conversation: &str) -> Vaic {
    let mut vaic = Vaic::connect(url).await;
    vaic.send(initiate(conversation)).await;
    assert_eq!(vaic.expect("session.accepted").await["mediaFormat"], "raw/mulaw");
    vaic.send(json!({"type": "userStream.start", "conversationId": conversation})).await;
    vaic.expect("userStream.started").await;
    vaic.stream(conversation, 800, true).await;
    vaic.stream(conversation, 700, false).await;
    vaic.expect("playStream.start").await;
    vaic
}

/// The socket drops mid-answer; VoiceAI Connect resumes on a new one and
/// the same call goes on: accepted in its format, the answer continues in
/// a new play stream, and the next question is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_is_resumed_and_the_call_goes_on() {
    let server = start(config()).await;
    let mut first = call_until_answer(&server.ws("/audiocodes"), "resume-me").await;
    let first_stream = first.expect("playStream.chunk").await["streamId"].clone();
    first.drop_connection();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.state.active_calls(), 1, "the call is held for the resume");

    let mut second = Vaic::connect(&server.ws("/audiocodes")).await;
    second.send(resume("resume-me")).await;
    let accepted = second.expect("session.accepted").await;
    assert_eq!(accepted["mediaFormat"], "raw/mulaw", "{accepted}");
    second.send(json!({"type": "userStream.start", "conversationId": "resume-me"})).await;
    second.expect("userStream.started").await;
    // The answer held during the gap plays on, in a stream of its own.
    let stream = second.expect("playStream.start").await["streamId"].clone();
    assert_ne!(stream, first_stream);
    second.expect("playStream.stop").await;
    // The call still answers questions.
    second.stream("resume-me", 800, true).await;
    second.stream("resume-me", 700, false).await;
    second.expect("playStream.start").await;
    second
        .send(json!({"type": "session.end", "conversationId": "resume-me",
            "reasonCode": "client-disconnected", "reason": "Client Side"}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    assert_eq!(server.state.active_calls(), 0);
    let record = server.state.records.get("resume-me").expect("the call's record");
    let kinds: Vec<&str> = record.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"detached") && kinds.contains(&"resumed"), "{kinds:?}");
    assert_eq!(record.ended.as_deref(), Some("caller_hung_up"), "{record:?}");
    assert!(server.state.metrics.render().contains("turngate_resumes_total 1"));
    let upstream = server.state.simulated_upstream();
    assert_eq!(upstream.violations, 0, "{:?}", upstream.details);
    server.stop().await;
}

/// A resume for a conversation nobody holds, or one that came back after
/// the window, is refused with `session.error`; the held call ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_too_late_or_for_nothing_is_refused() {
    let mut config = config();
    config.limits.resume_window = Duration::from_millis(300);
    let server = start(config).await;

    let mut stranger = Vaic::connect(&server.ws("/audiocodes")).await;
    stranger.send(resume("never-seen")).await;
    let error = stranger.expect("session.error").await;
    assert!(error["reason"].as_str().unwrap().contains("not known"), "{error}");

    let first = call_until_answer(&server.ws("/audiocodes"), "gone-away").await;
    first.drop_connection();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(server.state.active_calls(), 0, "the window passed");
    let mut late = Vaic::connect(&server.ws("/audiocodes")).await;
    late.send(resume("gone-away")).await;
    late.expect("session.error").await;
    let record = server.state.records.get("gone-away").expect("the call's record");
    assert_eq!(record.ended.as_deref(), Some("caller_hung_up"), "{record:?}");
    server.stop().await;
}

/// Two workers on one coordinator, each serving in this process.
async fn two_workers() -> (Running, Running) {
    let coordinator = turngate_server::memory_coordinator();
    let mut servers = Vec::new();
    for name in ["worker-a", "worker-b"] {
        let server = ServerBuilder::new(config())
            .coordinator(Arc::clone(&coordinator))
            .worker(WorkerId::new(name).unwrap())
            .build()
            .await
            .unwrap();
        servers.push(crate::support::serve(server).await);
    }
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    (a, b)
}

/// The load balancer sends the new socket to the worker without the call:
/// that worker relays it to the one holding the call, which resumes it as
/// its own; the conversation goes on through the relay to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_on_another_worker_is_relayed_to_the_owner() {
    let (a, b) = two_workers().await;
    let first = call_until_answer(&a.ws("/audiocodes"), "roaming").await;
    first.drop_connection();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut elsewhere = Vaic::connect(&b.ws("/audiocodes")).await;
    elsewhere.send(resume("roaming")).await;
    assert_eq!(elsewhere.expect("session.accepted").await["mediaFormat"], "raw/mulaw");
    elsewhere.send(json!({"type": "userStream.start", "conversationId": "roaming"})).await;
    elsewhere.expect("userStream.started").await;
    elsewhere.expect("playStream.start").await;
    elsewhere.stream("roaming", 800, true).await;
    elsewhere.stream("roaming", 700, false).await;
    elsewhere.expect("playStream.start").await;
    elsewhere
        .send(json!({"type": "session.end", "conversationId": "roaming",
            "reasonCode": "client-disconnected", "reason": "Client Side"}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The call lived on worker A throughout; B only carried messages.
    let record = a.state.records.get("roaming").expect("the call's record on worker A");
    let kinds: Vec<&str> = record.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"resumed"), "{kinds:?}");
    assert_eq!(record.ended.as_deref(), Some("caller_hung_up"), "{record:?}");
    assert!(b.state.records.get("roaming").is_none());
    assert_eq!((a.state.active_calls(), b.state.active_calls()), (0, 0));
    a.stop().await;
    b.stop().await;
}

/// Workers whose listeners serve TLS relay over TLS, verified against the
/// configured CA, and prove themselves with the workers' own secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_is_relayed_over_tls_with_the_workers_secret() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    let file = |name: &str| fixtures.join(name).to_string_lossy().into_owned();
    let coordinator = turngate_server::memory_coordinator();
    let mut servers = Vec::new();
    for name in ["tls-a", "tls-b"] {
        let mut config = config();
        config.tls.cert_file = file("worker.pem");
        config.tls.key_file = file("worker.key");
        config.tls.ca_file = file("ca.pem");
        config.auth.audiocodes_token = "carrier-secret".to_owned();
        config.auth.worker_token = "workers-secret".to_owned();
        let server = ServerBuilder::new(config)
            .coordinator(Arc::clone(&coordinator))
            .worker(WorkerId::new(name).unwrap())
            .build()
            .await
            .unwrap();
        servers.push(crate::support::serve(server).await);
    }
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(file("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let tls = Arc::new(
        rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth(),
    );
    let bearer = vec![("Authorization".to_owned(), "Bearer carrier-secret".to_owned())];
    let wss = |server: &Running| format!("wss://127.0.0.1:{}/audiocodes", server.addr.port());
    // Plain WebSocket is not served on a TLS listener.
    assert!(tokio_tungstenite::connect_async(a.ws("/audiocodes")).await.is_err());

    let mut first = Vaic::connect_tls(&wss(&a), &bearer, Some(Arc::clone(&tls))).await;
    first.send(initiate("over-tls")).await;
    first.expect("session.accepted").await;
    first.send(json!({"type": "userStream.start", "conversationId": "over-tls"})).await;
    first.expect("userStream.started").await;
    first.drop_connection();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut elsewhere = Vaic::connect_tls(&wss(&b), &bearer, Some(tls)).await;
    elsewhere.send(resume("over-tls")).await;
    assert_eq!(elsewhere.expect("session.accepted").await["mediaFormat"], "raw/mulaw");
    elsewhere
        .send(json!({"type": "session.end", "conversationId": "over-tls",
            "reasonCode": "client-disconnected", "reason": "Client Side"}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let record = a.state.records.get("over-tls").expect("the call's record on worker A");
    assert!(record.timeline.iter().any(|e| e.kind == "resumed"), "{record:?}");
    assert!(b.state.records.get("over-tls").is_none());
    a.stop().await;
    b.stop().await;
}

/// A socket that is itself a relay is never relayed again: the worker
/// without the call refuses it, and the refusal names no worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_resume_is_not_relayed_twice() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    let (a, b) = two_workers().await;
    let first = call_until_answer(&a.ws("/audiocodes"), "bounced").await;
    first.drop_connection();
    let mut request = b.ws("/audiocodes").into_client_request().unwrap();
    request.headers_mut().insert("x-turngate-relayed-by", "worker-c".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut relayed = Vaic { ws, seen: Vec::new() };
    relayed.send(resume("bounced")).await;
    let error = relayed.expect("session.error").await;
    let reason = error["reason"].as_str().unwrap();
    assert!(reason.contains("cannot be resumed here"), "{error}");
    assert!(!reason.contains("worker-a") && !reason.contains("127.0.0.1"), "{error}");
    a.stop().await;
    b.stop().await;
}

/// The strict VoiceAI Connect simulator drops its line mid-answer and
/// resumes: every Bot API rule holds on both sockets (a new play stream
/// on the new one, the same format) and the call goes on to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_carrier_simulator_resumes_mid_answer_and_finds_no_fault() {
    use turngate_sim::callers::{self, CallerConfig, CallerEvent, Protocol, Step};

    let server = start(config()).await;
    let report = callers::run(CallerConfig {
        protocol: Protocol::AudioCodes,
        url: server.ws("/audiocodes"),
        call_id: "sim-resume".to_owned(),
        script: vec![
            Step::Speak { ms: 800, hold_on: false },
            Step::Reconnect { after_agent_ms: 300, gap_ms: 400 },
            Step::WaitForAgent { max_ms: 10_000 },
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
    assert!(report.timeline.iter().any(|(_, e)| *e == CallerEvent::Resumed), "{report}");
    assert!(report.turn_latencies.len() >= 2, "{report}");
    let conversation = report.carrier_call_id.clone();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let record = server.state.records.get(&conversation).expect("the call's record");
    let kinds: Vec<&str> = record.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"resumed"), "{kinds:?}");
    assert_eq!(record.ended.as_deref(), Some("caller_hung_up"), "{record:?}");
    let upstream = server.state.simulated_upstream();
    assert_eq!(upstream.violations, 0, "{:?}", upstream.details);
    server.stop().await;
}

/// VoiceAI Connect may reconnect before this side has seen the old socket
/// fail (a half-open connection): once the old socket has been silent for
/// `limits.resume_quiet_ms`, the resume reaches the call, the new socket
/// carries it on, and the old one is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_while_the_old_socket_still_looks_open_moves_the_call() {
    let mut config = config();
    config.limits.resume_quiet = Duration::from_millis(300);
    let server = start(config).await;
    let url = server.ws("/audiocodes");
    let mut first = call_until_answer(&url, "half-open").await;
    // The old line goes quiet (half-open) before the carrier reconnects.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut second = Vaic::connect(&url).await;
    second.send(resume("half-open")).await;
    assert_eq!(second.expect("session.accepted").await["mediaFormat"], "raw/mulaw");
    // The old socket is closed by the server once the new one took over.
    let closed = timeout(Duration::from_secs(5), async {
        loop {
            match first.ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the old socket stayed open");
    second.send(json!({"type": "userStream.start", "conversationId": "half-open"})).await;
    second.expect("userStream.started").await;
    second
        .send(json!({"type": "session.end", "conversationId": "half-open",
            "reasonCode": "client-disconnected", "reason": "Client Side"}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.state.active_calls(), 0);
    let record = server.state.records.get("half-open").expect("the call's record");
    let kinds: Vec<&str> = record.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"resumed") && !kinds.contains(&"detached"), "{kinds:?}");
    assert_eq!(record.ended.as_deref(), Some("caller_hung_up"), "{record:?}");
    server.stop().await;
}
