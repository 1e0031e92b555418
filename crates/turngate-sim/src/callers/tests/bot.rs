//! A tiny fake bot for the IO tests: a WebSocket server the test drives by
//! hand, one message at a time, that keeps everything the caller sent.

#![allow(clippy::result_large_err, reason = "the handshake callback's error type is tungstenite's")]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

/// How long any single wait in a test may take before it fails.
pub(super) const PATIENCE: Duration = Duration::from_secs(5);

pub(super) struct FakeBot {
    listener: TcpListener,
}

impl FakeBot {
    pub(super) async fn bind() -> FakeBot {
        FakeBot { listener: TcpListener::bind("127.0.0.1:0").await.unwrap() }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.listener.local_addr().unwrap())
    }

    /// Accepts the caller's connection; returns it with the upgrade's headers.
    pub(super) async fn accept(&self) -> (BotConn, Vec<(String, String)>) {
        let (stream, _) = timeout(PATIENCE, self.listener.accept()).await.unwrap().unwrap();
        let mut headers = Vec::new();
        let callback = |request: &Request, response: Response| {
            headers = request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            Ok(response)
        };
        let ws = tokio_tungstenite::accept_hdr_async(stream, callback).await.unwrap();
        (BotConn { ws, received: Vec::new(), closed: false }, headers)
    }

    /// Refuses the next upgrade with `status`.
    pub(super) async fn refuse(&self, status: StatusCode) {
        let (stream, _) = timeout(PATIENCE, self.listener.accept()).await.unwrap().unwrap();
        let callback = |_: &Request, _: Response| {
            let mut refusal = ErrorResponse::new(None);
            *refusal.status_mut() = status;
            Err(refusal)
        };
        let _ = tokio_tungstenite::accept_hdr_async(stream, callback).await;
    }
}

pub(super) struct BotConn {
    ws: WebSocketStream<TcpStream>,
    /// Every text message the caller sent, parsed, with when it arrived.
    pub(super) received: Vec<(Instant, Value)>,
    pub(super) closed: bool,
}

impl BotConn {
    /// The next message from the caller; `None` once it closed.
    pub(super) async fn next(&mut self) -> Option<Value> {
        loop {
            let message = timeout(PATIENCE, self.ws.next()).await.expect("the caller went quiet");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value =
                        serde_json::from_str(text.as_str()).expect("callers send JSON");
                    self.received.push((Instant::now(), value.clone()));
                    return Some(value);
                }
                Some(Ok(Message::Close(_))) => {
                    // Answer the close handshake and end the TCP connection,
                    // as a server does.
                    let _ = self.ws.close(None).await;
                    let _ = self.ws.get_mut().shutdown().await;
                    self.closed = true;
                    return None;
                }
                None | Some(Err(_)) => {
                    self.closed = true;
                    return None;
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Reads until a message matches `pred` and returns it.
    pub(super) async fn until(&mut self, mut pred: impl FnMut(&Value) -> bool) -> Value {
        loop {
            let message = self.next().await.expect("the caller closed before the awaited message");
            if pred(&message) {
                return message;
            }
        }
    }

    /// Reads until a message has `key` equal to `value`.
    pub(super) async fn until_kind(&mut self, key: &str, value: &str) -> Value {
        self.until(|m| m[key] == value).await
    }

    /// Reads everything until the caller closes.
    pub(super) async fn until_closed(&mut self) {
        while self.next().await.is_some() {}
    }

    pub(super) async fn send(&mut self, message: Value) {
        self.ws.send(Message::text(message.to_string())).await.unwrap();
    }

    pub(super) async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    pub(super) async fn close(&mut self) {
        let _ = self.ws.close(None).await;
        while let Ok(Some(Ok(_))) = timeout(PATIENCE, self.ws.next()).await {}
    }
}

/// `ms` of µ-law silence, base64.
pub(super) fn ulaw_ms(ms: usize) -> String {
    STANDARD.encode(vec![0xFFu8; ms * 8])
}

/// Whether a base64 audio payload carries anything but digital silence.
pub(super) fn is_speech(payload: &Value, silence: u8) -> bool {
    let bytes = STANDARD.decode(payload.as_str().unwrap()).unwrap();
    bytes.iter().any(|&b| b != silence)
}
