//! Hostile peers all at once, while legitimate calls go on: sockets that
//! never read, floods of garbage frames and oversized ones, upgrades
//! without credentials, raw garbage on the HTTP port, and a flood of chat
//! requests to one conversation. The server must stay up, its memory
//! bounded, the legitimate calls served to their end, and the chat
//! answered in order or refused explicitly, never with a conflict.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use futures_util::SinkExt as _;
use futures_util::future::join_all;
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use turngate_sim::callers::{Protocol, Step};
use turngate_sim::realtime::{Pacing, SimConfig};

use crate::calls::{self, place, question};
use crate::rig::{CLIENT_TOKEN, Rig, Worker, carrier_headers};
use crate::{Scale, Verdict};

/// Resident memory the worker may gain over the run, in MiB.
const MAX_GROWTH_MIB: u64 = 128;

pub(crate) async fn run(binary: &Path, scale: Scale) -> anyhow::Result<Verdict> {
    let realtime =
        SimConfig { pacing: Pacing::RealTime, chunks_per_response: 10, ..SimConfig::default() };
    let rig = Rig::start("abuse", binary, realtime, scale.lease_ttl).await?;
    let mut worker = rig.worker("abuse-a").await?;
    let before_kib = worker.rss_kib().unwrap_or(0);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let worker_addr = worker.addr;
    let ws = |path: &str| worker.ws(path);

    let mut abusers = Vec::new();
    for n in 0..3 {
        abusers.push(tokio::spawn(deaf_caller(
            ws("/twilio"),
            format!("CAdeaf{n}"),
            Arc::clone(&stop),
        )));
    }
    for path in ["/twilio", "/telnyx", "/audiocodes"] {
        for _ in 0..2 {
            abusers.push(tokio::spawn(garbage(
                ws(path),
                path,
                Arc::clone(&stop),
                Arc::clone(&sent),
            )));
            abusers.push(tokio::spawn(oversized(ws(path), path, Arc::clone(&stop))));
        }
        abusers.push(tokio::spawn(no_credentials(ws(path), Arc::clone(&stop))));
    }
    abusers.push(tokio::spawn(tcp_garbage(worker_addr, Arc::clone(&stop))));

    let mut script: Vec<Step> = question().to_vec();
    script.push(Step::Silence { ms: 1000 });
    script.extend(question());
    script.push(Step::HangUp);
    let mut placed = Vec::new();
    for n in 0..scale.abuse_calls {
        let protocol = if n % 2 == 0 { Protocol::Twilio } else { Protocol::AudioCodes };
        placed.push(place(&worker, 0, protocol, format!("abuse-{n}"), script.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let flood = chat_flood(&worker, scale.chat_flood).await;

    let mut violations = Vec::new();
    let mut served = 0;
    for call in &mut placed {
        match calls::outcome(call).await {
            Ok(_) => served += 1,
            Err(problem) => violations.push(problem),
        }
    }
    stop.store(true, Ordering::SeqCst);
    for abuser in abusers {
        let _ = tokio::time::timeout(Duration::from_secs(10), abuser).await;
    }
    let peak_kib = worker.rss_kib().unwrap_or(0);
    if !worker.alive().await {
        violations.push("the worker did not survive".to_owned());
    }
    let growth_mib = peak_kib.saturating_sub(before_kib) / 1024;
    if growth_mib > MAX_GROWTH_MIB {
        violations
            .push(format!("the worker's memory grew by {growth_mib} MiB (limit {MAX_GROWTH_MIB})"));
    }
    if !worker.wait_idle(Duration::from_secs(20)).await {
        violations.push("calls still active after every caller and abuser left".to_owned());
    }
    let chat = rig.chat.violations();
    if chat.total() > 0 {
        violations.push(format!(
            "the chat upstream saw {} rule(s) broken: {:?}",
            chat.total(),
            chat.details
        ));
    }
    if flood.ok == 0 {
        violations.push("no chat request of the flood was answered".to_owned());
    }
    if flood.other > 0 {
        violations
            .push(format!("{} chat requests got neither an answer nor a 429/504", flood.other));
    }
    let refused =
        worker.metric("turngate_protocol_errors_total{provider=\"twilio\"}").await.unwrap_or(0.0);
    let summary = format!(
        "{} legitimate calls beside 3 deaf callers, 12 garbage and oversized floods ({} garbage frames sent), credential-less upgrades and TCP garbage: {served} served to the end; {} chat requests to one conversation: {} answered, {} refused 429, {} timed out 504; memory {} → {} MiB; {refused:.0} Twilio protocol errors counted",
        placed.len(),
        sent.load(Ordering::Relaxed),
        scale.chat_flood,
        flood.ok,
        flood.full,
        flood.timeout,
        before_kib / 1024,
        peak_kib / 1024,
    );
    Ok(Verdict { name: "abuse", summary, violations })
}

/// Opens `url` with the carrier's credentials for `path`.
async fn open(
    url: &str,
    headers: &[(String, String)],
) -> Option<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let mut request = url.into_client_request().ok()?;
    for (name, value) in headers {
        let name: HeaderName = name.parse().ok()?;
        request.headers_mut().insert(name, HeaderValue::from_str(value).ok()?);
    }
    let connecting = tokio_tungstenite::connect_async(request);
    tokio::time::timeout(Duration::from_secs(5), connecting).await.ok()?.ok().map(|(ws, _)| ws)
}

/// A Twilio stream that starts a call, sends audio in real time and never
/// reads what it is sent.
async fn deaf_caller(url: String, call_sid: String, stop: Arc<AtomicBool>) {
    let Some(mut ws) = open(&url, &carrier_headers("/twilio")).await else { return };
    let stream = "MZ000000000000000000000000000000de";
    let start = format!(
        r#"{{"event":"start","sequenceNumber":"1","start":{{"accountSid":"AC00000000000000000000000000000000","streamSid":"{stream}","callSid":"{call_sid}","tracks":["inbound"],"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"customParameters":{{}}}},"streamSid":"{stream}"}}"#
    );
    let _ = ws
        .send(Message::text(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#))
        .await;
    let _ = ws.send(Message::text(start)).await;
    let silence = base64::engine::general_purpose::STANDARD.encode([0xFFu8; 160]);
    let mut n = 2u64;
    while !stop.load(Ordering::SeqCst) {
        let frame = format!(
            r#"{{"event":"media","sequenceNumber":"{n}","media":{{"track":"inbound","chunk":"{n}","timestamp":"{}","payload":"{silence}"}},"streamSid":"{stream}"}}"#,
            n * 20
        );
        let sending = tokio::time::timeout(Duration::from_secs(2), ws.send(Message::text(frame)));
        if !matches!(sending.await, Ok(Ok(()))) {
            return;
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Garbage text frames as fast as the socket takes them; reconnects when
/// the server closes the socket, until told to stop.
async fn garbage(url: String, path: &'static str, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ path.len() as u64;
    while !stop.load(Ordering::SeqCst) {
        let Some(mut ws) = open(&url, &carrier_headers(path)).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        while !stop.load(Ordering::SeqCst) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let junk = match seed % 4 {
                0 => format!("{{\"event\":\"media\",\"media\":{{\"payload\":\"{seed:x}!!\"}}}}"),
                1 => format!("{{\"type\":\"userStream.chunk\",\"audioChunk\":{seed}}}"),
                2 => "{".repeat((seed % 500) as usize),
                _ => format!("\u{0}{seed}\u{7f}"),
            };
            let sending =
                tokio::time::timeout(Duration::from_secs(2), ws.send(Message::text(junk)));
            if !matches!(sending.await, Ok(Ok(()))) {
                break;
            }
            sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Frames of a megabyte, far over the limit, one per connection.
async fn oversized(url: String, path: &'static str, stop: Arc<AtomicBool>) {
    let big = "A".repeat(1024 * 1024);
    while !stop.load(Ordering::SeqCst) {
        if let Some(mut ws) = open(&url, &carrier_headers(path)).await {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), ws.send(Message::text(big.clone())))
                    .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Upgrades without any credential, over and over.
async fn no_credentials(url: String, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        let _ = open(&url, &[]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Raw bytes that are not HTTP, on fresh connections.
async fn tcp_garbage(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        if let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await
        {
            let _ = stream
                .write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
                .await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How the chat flood was answered.
#[derive(Debug, Default)]
struct Flood {
    ok: usize,
    full: usize,
    timeout: usize,
    other: usize,
}

/// `count` concurrent messages to one conversation.
async fn chat_flood(worker: &Worker, count: usize) -> Flood {
    let started = Instant::now();
    let requests = (0..count).map(|n| {
        let request = worker
            .http
            .post(worker.url("/chat"))
            .bearer_auth(CLIENT_TOKEN)
            .json(&serde_json::json!({"conversation_id": "flooded", "message": format!("message {n}")}))
            .timeout(Duration::from_secs(120))
            .send();
        async move { request.await.map(|r| r.status().as_u16()) }
    });
    let statuses = join_all(requests).await;
    let mut flood = Flood::default();
    for status in statuses {
        match status {
            Ok(200) => flood.ok += 1,
            Ok(429) => flood.full += 1,
            Ok(504) => flood.timeout += 1,
            _ => flood.other += 1,
        }
    }
    let _ = started;
    flood
}
