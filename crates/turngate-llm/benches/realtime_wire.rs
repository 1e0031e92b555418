//! What one Realtime connection costs per message, through the public API:
//! appends handed to `send` until they are on the socket, and audio deltas
//! from the socket until `recv` returns them, against a loopback server that
//! does no work of its own. Raw bytes (base64 encoded and decoded by the
//! provider) against base64 passed through.
//!
//! Run with `cargo bench -p turngate-llm --features openai-realtime --bench realtime_wire`.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly")]

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use turngate_core::{AudioChunk, BackendCommand, Input};
use turngate_llm::realtime::openai::{OpenAiRealtime, OpenAiRealtimeConfig, PayloadEncoding};
use turngate_llm::realtime::{RealtimeBackend, RealtimeSessionConfig};

const APPENDS: u32 = 50_000;
const DELTAS: u32 = 20_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for payload in [PayloadEncoding::Raw, PayloadEncoding::Base64] {
            let (append, delta) = measure(payload).await;
            println!(
                "{payload:?}: {:>6.0} ns per 20 ms append, {:>6.0} ns per 100 ms audio delta",
                append.as_nanos() as f64 / f64::from(APPENDS),
                delta.as_nanos() as f64 / f64::from(DELTAS),
            );
        }
    });
}

/// Returns the time for all appends and for all deltas.
async fn measure(payload: PayloadEncoding) -> (Duration, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1/realtime?model=gpt-realtime-2.1", listener.local_addr().unwrap());
    let (appends_seen, appends_done) = oneshot::channel();
    let (start_deltas, deltas_go) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        ws.next().await.unwrap().unwrap();
        ws.send(Message::text(r#"{"type":"session.updated","session":{}}"#)).await.unwrap();
        let mut seen = 0;
        while seen < APPENDS {
            if let Some(Ok(Message::Text(_))) = ws.next().await {
                seen += 1;
            }
        }
        appends_seen.send(()).unwrap();
        deltas_go.await.unwrap();
        // 100 ms of µ-law per delta, as the API sends it.
        let delta = STANDARD.encode(vec![0x7Fu8; 800]);
        let frame = format!(
            r#"{{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{delta}"}}"#
        );
        for _ in 0..DELTAS {
            ws.feed(Message::text(frame.clone())).await.unwrap();
        }
        ws.flush().await.unwrap();
        while ws.next().await.is_some() {}
    });

    let config = OpenAiRealtimeConfig { payload, ..OpenAiRealtimeConfig::default() }.with_url(url);
    let backend = OpenAiRealtime::new(config);
    let mut connection = backend.connect(RealtimeSessionConfig::default()).await.unwrap();
    assert_eq!(connection.recv().await, Some(Input::BackendReady));
    let frame = vec![0x7Fu8; 160];
    let chunk = match payload {
        PayloadEncoding::Raw => frame,
        PayloadEncoding::Base64 => STANDARD.encode(&frame).into_bytes(),
    };
    let started = Instant::now();
    for _ in 0..APPENDS {
        let audio = AudioChunk::new(chunk.clone(), Duration::from_millis(20));
        connection.send(BackendCommand::AppendAudio(audio)).await.unwrap();
    }
    appends_done.await.unwrap();
    let appends = started.elapsed();

    start_deltas.send(()).unwrap();
    let started = Instant::now();
    for _ in 0..DELTAS {
        match connection.recv().await {
            Some(Input::ResponseAudio { .. }) => {}
            other => panic!("expected audio, got {other:?}"),
        }
    }
    let deltas = started.elapsed();
    connection.close().await;
    (appends, deltas)
}
