//! A raw tokio-tungstenite client of the simulator, shared by the tests
//! that drive it over real loopback WebSockets.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use turngate_audio::{AudioFormat, SampleRate};

use crate::live::track::Track;
use crate::live::{LiveSimConfig, Pacing};

pub(super) const WAIT: Duration = Duration::from_secs(5);

pub(super) fn fast() -> LiveSimConfig {
    LiveSimConfig {
        pacing: Pacing::Fast,
        startup_delay: Duration::ZERO,
        ..LiveSimConfig::default()
    }
}

pub(super) const AUTH: (&str, &str) = ("authorization", "Bearer sk-test");

pub(super) struct Client {
    pub(super) ws: WebSocketStream<TcpStream>,
    /// The socket ended.
    pub(super) ended: bool,
    /// It ended with a close frame.
    pub(super) close_frame: bool,
}

/// Connects with these headers; `Err` is the HTTP status of a refusal.
pub(super) async fn connect(url: &str, headers: &[(&'static str, &str)]) -> Result<Client, u16> {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().append(*name, value.parse().unwrap());
    }
    let addr = request.uri().authority().unwrap().as_str().to_owned();
    let stream = TcpStream::connect(addr).await.unwrap();
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((ws, _)) => Ok(Client { ws, ended: false, close_frame: false }),
        Err(WsError::Http(response)) => Err(response.status().as_u16()),
        Err(error) => panic!("handshake failed: {error}"),
    }
}

impl Client {
    pub(super) async fn send(&mut self, event: Value) {
        if self.ws.send(Message::text(event.to_string())).await.is_err() {
            self.ended = true;
        }
    }

    /// The next server event within `timeout`; `None` on timeout or end.
    pub(super) async fn next(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(&text).unwrap());
                }
                Ok(Some(Ok(Message::Close(_)))) => {
                    self.ended = true;
                    self.close_frame = true;
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => self.ended = true,
            }
        }
        None
    }

    /// Reads until an event matches `done`.
    pub(super) async fn until(&mut self, done: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let event = self.next(deadline.saturating_duration_since(Instant::now())).await?;
            if done(&event) {
                return Some(event);
            }
        }
    }

    pub(super) async fn until_type(&mut self, kind: &str) -> Option<Value> {
        self.until(|e| e["type"] == kind).await
    }

    /// Every event already waiting.
    pub(super) async fn drain(&mut self) -> Vec<Value> {
        let mut events = Vec::new();
        while let Some(event) = self.next(Duration::ZERO).await {
            events.push(event);
        }
        events
    }

    /// Reads until the socket ends.
    pub(super) async fn until_end(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        while !self.ended && Instant::now() < deadline {
            self.next(deadline.saturating_duration_since(Instant::now())).await;
        }
        self.ended
    }

    pub(super) async fn start(&mut self) -> Value {
        self.start_with(json!({"model": "gpt-live-1"})).await
    }

    /// Starts with this session config and waits for `session.started`.
    pub(super) async fn start_with(&mut self, session: Value) -> Value {
        self.send(json!({"type": "session.start", "event_id": "s", "session": session})).await;
        self.until_type("session.started").await.expect("session.started")
    }

    /// Every event until the server has been quiet for 100 ms (with
    /// [`Pacing::Fast`] it sends nothing unprompted).
    pub(super) async fn settle(&mut self) -> Vec<Value> {
        let mut events = Vec::new();
        while let Some(event) = self.next(Duration::from_millis(100)).await {
            events.push(event);
        }
        events
    }

    /// Sends `frames` of caller audio (20 ms each), reading as it goes.
    pub(super) async fn audio(
        &mut self,
        voice: &mut Track,
        frames: usize,
        voiced: bool,
    ) -> Vec<Value> {
        let mut events = Vec::new();
        for _ in 0..frames {
            let audio = if voiced { voice.speech() } else { voice.silence().to_owned() };
            self.send(json!({"type": "session.input_audio.append", "audio": audio})).await;
            events.extend(self.drain().await);
            if self.ended {
                break;
            }
        }
        events
    }
}

pub(super) fn pcm24() -> Track {
    Track::new(AudioFormat::Pcm16(SampleRate::Hz24000), 20)
}
