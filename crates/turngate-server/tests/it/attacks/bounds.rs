//! Every resource bounded, every wait timed: peers that stop reading, that
//! send too much or too fast, that hold connections open, that pile up
//! sessions, cost their own connection and nothing else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use turngate_llm::realtime::openai::{OpenAiRealtime, OpenAiRealtimeConfig};
use turngate_server::ServerBuilder;
use turngate_sim::callers::{self, CallerConfig, Protocol, Step};
use turngate_sim::realtime::{SimConfig, SimServer};

use crate::support::{Running, config, http, serve, start};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const STREAM_SID: &str = "MZ00000000000000000000000000000001";

/// A Twilio media stream opened by hand: `connected` and `start` for
/// `call_sid`, nothing else yet.
async fn twilio_stream(server: &Running, call_sid: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws("/twilio")).await.unwrap();
    ws.send(Message::text(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#))
        .await
        .unwrap();
    let start = format!(
        concat!(
            r#"{{"event":"start","sequenceNumber":"1","start":{{"accountSid":"AC00000000000000000000000000000001","#,
            r#""streamSid":"{stream}","callSid":"{call}","tracks":["inbound"],"#,
            r#""mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"#,
            r#""customParameters":{{}}}},"streamSid":"{stream}"}}"#
        ),
        stream = STREAM_SID,
        call = call_sid,
    );
    ws.send(Message::text(start)).await.unwrap();
    ws
}

/// One Twilio media frame of `ms` of silence.
fn media(sequence: u64, timestamp_ms: u64, ms: u64) -> Message {
    let payload = base64::engine::general_purpose::STANDARD.encode(vec![0xFFu8; (ms * 8) as usize]);
    Message::text(format!(
        r#"{{"event":"media","sequenceNumber":"{sequence}","media":{{"track":"inbound","chunk":"{sequence}","timestamp":"{timestamp_ms}","payload":"{payload}"}},"streamSid":"{STREAM_SID}"}}"#
    ))
}

/// Waits until the call's record says it ended, and returns how.
async fn ended(server: &Running, call_id: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(ended) = server.state.records.get(call_id).and_then(|r| r.ended.clone()) {
            return ended;
        }
        assert!(Instant::now() < deadline, "{call_id} did not end within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A server whose model talks at length, as fast as the socket takes it.
async fn chatty_server(mut config: turngate_server::config::Config) -> (Running, SimServer) {
    let sim = turngate_sim::realtime::serve(
        SimConfig { chunks_per_response: 4000, ..SimConfig::default() },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    config.session.greeting = Some("Say hello at length.".to_owned());
    let realtime = OpenAiRealtime::new(OpenAiRealtimeConfig::default().with_url(sim.url()));
    let server = ServerBuilder::new(config).realtime(Arc::new(realtime)).build().await.unwrap();
    (serve(server).await, sim)
}

/// A caller's side that stops reading cannot hold its call's task: the
/// write times out, the call ends as `peer_not_reading`, and the call next
/// to it is served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_reading_ends_its_own_call_and_no_other() {
    let mut config = config();
    config.limits.write_timeout = Duration::from_millis(500);
    let (server, _sim) = chatty_server(config).await;
    let neighbour = tokio::spawn(callers::run(CallerConfig {
        protocol: Protocol::Twilio,
        url: server.ws("/twilio"),
        call_id: "neighbour".to_owned(),
        script: vec![Step::Silence { ms: 4000 }, Step::HangUp],
        timeout: Duration::from_secs(30),
        ..CallerConfig::default()
    }));
    let started = Instant::now();
    let mut deaf = twilio_stream(&server, "CAdeaf").await;
    // It keeps sending audio in real time, and never reads a byte.
    let sending = tokio::spawn(async move {
        for n in 0..400u64 {
            if deaf.send(media(n + 2, n * 20, 20)).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        deaf
    });
    let how = ended(&server, "CAdeaf", Duration::from_secs(15)).await;
    assert_eq!(how, "peer_not_reading");
    eprintln!("a non-reading peer's call ended {:?} after it started", started.elapsed());
    let report = neighbour.await.unwrap().unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(report.agent_audio_received > Duration::ZERO, "{report}");
    assert_eq!(
        server.state.records.get("CAneighbour").unwrap().ended.as_deref(),
        Some("caller_hung_up")
    );
    sending.abort();
    server.stop().await;
}

/// Caller audio is counted in audio time: a peer that sends it ten times
/// faster than real time, in few large messages (well under the message
/// rate limit), has its call ended as a policy violation within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_faster_than_real_time_ends_the_call_as_a_policy_violation() {
    let server = start(config()).await;
    let mut flood = twilio_stream(&server, "CAflood").await;
    let started = Instant::now();
    let mut refused = false;
    for n in 0..200u64 {
        // One second of audio every 100 ms.
        if flood.send(media(n + 2, n * 1000, 1000)).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if server.state.records.get("CAflood").and_then(|r| r.ended.clone()).is_some() {
            refused = true;
            break;
        }
    }
    assert!(refused, "twenty seconds of audio per second were accepted");
    assert_eq!(ended(&server, "CAflood", Duration::from_secs(5)).await, "policy_violation");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    // The socket is closed by the server with a policy-violation code.
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match flood.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                _ => return None,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(close, Some(1008));
    server.stop().await;
}

/// A flood of small messages, and a message over the size limit, each
/// cost the sender its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_floods_and_oversized_frames_are_refused() {
    let mut config = config();
    config.limits.max_frame_bytes = 16 * 1024;
    let server = start(config).await;
    let mut flood = twilio_stream(&server, "CAspam").await;
    for n in 0..2000u64 {
        if flood.send(media(n + 2, n / 50, 0)).await.is_err() {
            break;
        }
    }
    assert_eq!(ended(&server, "CAspam", Duration::from_secs(5)).await, "policy_violation");

    let mut big = twilio_stream(&server, "CAbig").await;
    let _ = big.send(media(2, 0, 4000)).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match big.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a 43 KB frame over a 16 KB limit was taken");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.state.active_calls() > 0 {
        assert!(Instant::now() < deadline, "calls left: {}", server.state.active_calls());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

/// Half-open HTTP connections are closed after the header read timeout;
/// past the connection cap new ones are closed at once; a body that does
/// not arrive is answered 408; and the server answers again afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_http_connections_are_bounded() {
    let mut config = config();
    config.limits.max_connections = 20;
    config.limits.header_read_timeout = Duration::from_millis(400);
    config.limits.body_read_timeout = Duration::from_millis(400);
    let server = start(config).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The 21st is closed as soon as it is accepted.
    let mut extra = TcpStream::connect(server.addr).await.unwrap();
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_millis(300), extra.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "the connection over the cap was served: {read:?}");
    // The held ones are dropped once their headers are late.
    for stream in &mut held {
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await;
        assert!(read.is_ok(), "a half-open connection was kept past the header timeout");
    }
    // An idle keep-alive connection goes the same way.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match idle.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an idle keep-alive connection was kept");
    // A body that never arrives.
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"conv").await.unwrap();
    let n =
        tokio::time::timeout(Duration::from_secs(3), slow.read(&mut buf)).await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let live = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    assert!(server.state.metrics.render().contains("turngate_connections_refused_total 1"));
    server.stop().await;
}

/// Sockets that upgrade and then say nothing are capped per address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_that_never_start_are_capped_per_address() {
    let mut config = config();
    config.limits.max_pending_upgrades_per_ip = 3;
    let server = start(config).await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        let (ws, _) = tokio_tungstenite::connect_async(server.ws("/twilio")).await.unwrap();
        silent.push(ws);
    }
    match tokio_tungstenite::connect_async(server.ws("/audiocodes")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("a fourth silent upgrade was taken: {:?}", other.map(|_| ())),
    }
    // A socket that starts its call frees its place.
    drop(silent.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = callers::run(CallerConfig {
        protocol: Protocol::Twilio,
        url: server.ws("/twilio"),
        call_id: "after-the-flood".to_owned(),
        script: vec![Step::Silence { ms: 300 }, Step::HangUp],
        timeout: Duration::from_secs(10),
        ..CallerConfig::default()
    })
    .await
    .unwrap();
    assert!(report.is_clean(), "{report}");
    server.stop().await;
}

/// App sessions and their connections count against limits, and a
/// session's backlog is bounded in bytes however large its messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_sessions_connections_and_backlogs_are_bounded() {
    let mut config = config();
    config.limits.max_sessions = 2;
    config.limits.max_client_connections = 3;
    config.session.outbox_max_bytes = 256 * 1024;
    let server = start(config).await;
    let open = |id: &str| {
        let url = server.ws(&format!("/session?id={id}"));
        async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            let _ready = ws.next().await;
            ws.send(Message::text(r#"{"type":"ack"}"#)).await.unwrap();
            ws
        }
    };
    let _a = open("a").await;
    let _b = open("b").await;
    let mut c = open("c").await;
    let refusal = tokio::time::timeout(Duration::from_secs(2), c.next()).await.unwrap();
    let Some(Ok(Message::Text(text))) = refusal else { panic!("{refusal:?}") };
    assert!(text.contains("too many sessions"), "{text}");
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _a2 = open("a").await;
    match tokio_tungstenite::connect_async(server.ws("/session?id=b")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("a fourth connection was taken: {:?}", other.map(|_| ())),
    }
    // 40 messages of 64 KB each: the backlog keeps 256 KB of them.
    let big = "x".repeat(64 * 1024);
    for n in 0..40 {
        let response = http()
            .post(server.url("/session/a/publish"))
            .json(&serde_json::json!({"n": n, "pad": big}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    drop(_a2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut late, _) =
        tokio_tungstenite::connect_async(server.ws("/session?id=a&last_seq=0")).await.unwrap();
    let _ready = late.next().await;
    late.send(Message::text(r#"{"type":"ack","last_seq":0}"#)).await.unwrap();
    let mut replayed = 0usize;
    let mut gap = false;
    while let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout(Duration::from_millis(500), late.next()).await
    {
        if text.contains("\"gap\"") {
            gap = true;
        } else {
            replayed += text.len();
        }
    }
    assert!(gap, "the client was not told about the messages no longer held");
    assert!(replayed <= 256 * 1024 + 70 * 1024, "replayed {replayed} bytes");
    assert!(replayed >= 3 * 64 * 1024, "replayed only {replayed} bytes");
    server.stop().await;
}

/// A chat worker remembers a bounded number of conversations; one it
/// forgot is found again through the coordinator, not started afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_memory_is_bounded_and_forgetting_forks_nothing() {
    let mut config = config();
    config.chat.max_conversations = 2;
    let server = start(config).await;
    let client = http();
    for (conversation, message) in
        [("a", "one"), ("b", "one"), ("c", "one"), ("d", "one"), ("a", "two"), ("b", "two")]
    {
        let response = client
            .post(server.url("/chat"))
            .json(&serde_json::json!({"conversation_id": conversation, "message": message}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{conversation}: {}", response.text().await.unwrap());
    }
    let chat = server.state.simulators.chat.as_ref().unwrap();
    assert_eq!(chat.stats().containers_created, 4, "one upstream conversation per conversation");
    assert_eq!(chat.violations().total(), 0, "{:?}", chat.violations());
    server.stop().await;
}
