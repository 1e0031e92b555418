//! The IO task against small scripted WebSocket servers on loopback.

#![allow(
    clippy::result_large_err,
    reason = "tungstenite's handshake callback returns its own response type"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use turngate_core::{BackendCommand, ClientEventId, Input};

use crate::realtime::openai::{OpenAiRealtime, OpenAiRealtimeConfig, ReconnectPolicy};
use crate::realtime::{ErrorKind, RealtimeBackend, RealtimeConnection, RealtimeSessionConfig};

type Ws = WebSocketStream<TcpStream>;

/// What the scripted server does with each accepted connection (by number).
type Script = Arc<dyn Fn(u32, Ws) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

struct Server {
    url: String,
    accepted: Arc<AtomicU32>,
}

/// A server that requires the bearer key `sk-test` and runs `script`.
async fn server(script: Script) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1/realtime?model=gpt-realtime-2.1", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let number = counter.fetch_add(1, Ordering::SeqCst);
            let script = Arc::clone(&script);
            tokio::spawn(async move {
                let check = |request: &Request,
                             response: Response|
                 -> Result<Response, ErrorResponse> {
                    let auth = request.headers().get("authorization").and_then(|v| v.to_str().ok());
                    if auth != Some("Bearer sk-test")
                        || request.headers().contains_key("openai-beta")
                    {
                        let mut refused = ErrorResponse::new(Some("no".to_owned()));
                        *refused.status_mut() =
                            tokio_tungstenite::tungstenite::http::StatusCode::UNAUTHORIZED;
                        return Err(refused);
                    }
                    Ok(response)
                };
                if let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, check).await {
                    script(number, ws).await;
                }
            });
        }
    });
    Server { url, accepted }
}

async fn next_event(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(text)) => return serde_json::from_str(text.as_str()).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Reads the session update and confirms it.
async fn configure(ws: &mut Ws) {
    let update = next_event(ws).await.expect("a session.update");
    assert_eq!(update["type"], "session.update");
    ws.send(Message::text(
        json!({"type": "session.updated", "event_id": "event_1", "session": {}}).to_string(),
    ))
    .await
    .unwrap();
}

fn backend(url: &str, key: &str) -> OpenAiRealtime {
    let config = OpenAiRealtimeConfig {
        reconnect: ReconnectPolicy {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_attempts: 5,
            max_total: Duration::from_secs(2),
        },
        ..OpenAiRealtimeConfig::openai(key)
    }
    .with_url(url);
    OpenAiRealtime::new(config)
}

async fn recv(connection: &mut Box<dyn RealtimeConnection>) -> Option<Input> {
    tokio::time::timeout(Duration::from_secs(5), connection.recv()).await.expect("an input in time")
}

#[tokio::test]
async fn ready_after_the_session_is_configured_and_refusals_come_back_as_inputs() {
    let server = server(Arc::new(|_, mut ws| {
        Box::pin(async move {
            configure(&mut ws).await;
            // Keep the link open until the client closes it.
            while next_event(&mut ws).await.is_some() {}
        })
    }))
    .await;
    let mut connection =
        backend(&server.url, "sk-test").connect(RealtimeSessionConfig::default()).await.unwrap();
    assert_eq!(recv(&mut connection).await, Some(Input::BackendReady));
    connection.send(BackendCommand::Commit { event_id: ClientEventId(3) }).await.unwrap();
    let Some(Input::BackendError { event_id, .. }) = recv(&mut connection).await else {
        panic!("a refusal")
    };
    assert_eq!(event_id, Some(ClientEventId(3)));
    let stats = connection.stats();
    assert_eq!((stats.commits_refused, stats.events_sent), (1, 1));
    connection.close().await;
}

#[tokio::test]
async fn a_refused_key_fails_the_connect_as_an_auth_error() {
    let server = server(Arc::new(|_, _ws| Box::pin(async {}))).await;
    let error = backend(&server.url, "sk-wrong")
        .connect(RealtimeSessionConfig::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn a_dropped_link_reconnects_and_configures_the_new_session() {
    let server = server(Arc::new(|number, mut ws| {
        Box::pin(async move {
            configure(&mut ws).await;
            if number == 0 {
                // Gone without a close frame.
                drop(ws);
                return;
            }
            while next_event(&mut ws).await.is_some() {}
        })
    }))
    .await;
    let mut connection =
        backend(&server.url, "sk-test").connect(RealtimeSessionConfig::default()).await.unwrap();
    assert_eq!(recv(&mut connection).await, Some(Input::BackendReady));
    assert_eq!(recv(&mut connection).await, Some(Input::BackendDisconnected));
    assert_eq!(recv(&mut connection).await, Some(Input::BackendReady));
    assert_eq!(connection.stats().reconnects, 1);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
    connection.close().await;
}

#[tokio::test]
async fn the_session_limit_close_reconnects_but_a_beta_refusal_is_final() {
    let server = server(Arc::new(|number, mut ws| {
        Box::pin(async move {
            configure(&mut ws).await;
            let (code, reason) = match number {
                0 => (1001, "Your session hit the maximum duration of 60 minutes."),
                _ => (4000, "beta_api_shape_disabled"),
            };
            let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
            let _ = ws.close(Some(frame)).await;
        })
    }))
    .await;
    let mut connection =
        backend(&server.url, "sk-test").connect(RealtimeSessionConfig::default()).await.unwrap();
    let mut inputs = Vec::new();
    while let Some(input) = recv(&mut connection).await {
        inputs.push(input);
    }
    assert_eq!(
        inputs,
        [
            Input::BackendReady,
            Input::BackendDisconnected,
            Input::BackendReady,
            Input::BackendDisconnected
        ]
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2, "no attempt after the refusal");
    assert!(connection.send(BackendCommand::Commit { event_id: ClientEventId(1) }).await.is_err());
}
