//! The simulator's IO: a WebSocket listener, and one task per connection
//! that runs a [`LiveSession`], its deadlines and the injected faults.

// tungstenite's upgrade callback returns its own (large) HTTP response type.
#![allow(clippy::result_large_err, reason = "the handshake callback's error type is tungstenite's")]

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

use super::config::LiveSimConfig;
use super::session::{Action, Ids, LiveSession};
use super::violations::{CloseReason, LiveRecord, LiveViolationKind};
use crate::realtime::SimObserver;

/// The path of the primary WebSocket.
pub const LIVE_PATH: &str = "/v1/live/sessions";

/// Connections served at once; more wait for a slot.
const MAX_CONNECTIONS: usize = 20_000;
/// The longest a WebSocket upgrade may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running GPT-Live simulator. Dropping it stops it too.
#[derive(Debug)]
pub struct LiveSimServer {
    addr: SocketAddr,
    record: Arc<LiveRecord>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Binds a simulator with `config` to a free port on 127.0.0.1 and serves
/// it on the current tokio runtime until [`LiveSimServer::shutdown`] or
/// drop.
pub async fn serve(config: LiveSimConfig) -> io::Result<LiveSimServer> {
    serve_at(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
}

/// [`serve`] on `addr` (port 0 picks a free port).
pub async fn serve_at(config: LiveSimConfig, addr: SocketAddr) -> io::Result<LiveSimServer> {
    start(config, addr, None).await
}

/// [`serve_at`], with every session reporting to `observer`, the Realtime
/// simulator's hooks with their Live meanings: `appended` gets the decoded
/// bytes of each accepted `session.input_audio.append`; `committed` is the
/// end of a caller utterance by the simulator's VAD (where the model
/// answers or delegates); `audio_chunk` sees, and may overwrite, every
/// output frame of voiced model speech (never the track's silence), with
/// the utterance as `response_id`; `response_done` ends an utterance with
/// `completed` (played to its end) or `cancelled` (cut short by the caller
/// talking over it, an instruction or a fixture). One observer is opened
/// per accepted WebSocket and called on its session's task.
pub async fn serve_observed(
    config: LiveSimConfig,
    addr: SocketAddr,
    observer: Arc<dyn SimObserver>,
) -> io::Result<LiveSimServer> {
    start(config, addr, Some(observer)).await
}

async fn start(
    config: LiveSimConfig,
    addr: SocketAddr,
    observer: Option<Arc<dyn SimObserver>>,
) -> io::Result<LiveSimServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let record = Arc::new(LiveRecord::default());
    let (stop, stopped) = watch::channel(false);
    let shared = Shared {
        config: Arc::new(config),
        record: Arc::clone(&record),
        ids: Arc::new(Ids::default()),
        connections: AtomicU64::new(0),
        slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        observer,
    };
    let task = tokio::spawn(accept_loop(listener, Arc::new(shared), stopped));
    Ok(LiveSimServer { addr, record, stop, task: Some(task) })
}

impl LiveSimServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a client connects to (`ws://127.0.0.1:…/v1/live/sessions`).
    pub fn url(&self) -> String {
        format!("ws://{}{LIVE_PATH}", self.addr)
    }

    /// The shared record of violations and sessions.
    pub fn record(&self) -> Arc<LiveRecord> {
        Arc::clone(&self.record)
    }

    /// Stops accepting and ends every connection (each session is lost,
    /// as when the service goes away).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for LiveSimServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Shared {
    config: Arc<LiveSimConfig>,
    record: Arc<LiveRecord>,
    ids: Arc<Ids>,
    connections: AtomicU64,
    slots: Arc<Semaphore>,
    observer: Option<Arc<dyn SimObserver>>,
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let Ok((stream, _peer)) = accepted else { continue };
        let Ok(slot) = Arc::clone(&shared.slots).acquire_owned().await else { return };
        let shared = Arc::clone(&shared);
        let stopped = stopped.clone();
        tokio::spawn(async move {
            connection(stream, &shared, stopped).await;
            drop(slot);
        });
    }
}

async fn connection(stream: TcpStream, shared: &Shared, mut stopped: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let api_key = shared.config.api_key.clone();
    let record = Arc::clone(&shared.record);
    let check = |request: &Request, response: Response| {
        check_upgrade(request, response, api_key.as_deref()).inspect_err(|refused| {
            let detail = refused.body().clone().unwrap_or_default();
            record.violation(LiveViolationKind::RefusedUpgrade, detail, None);
        })
    };
    let ws_config = WebSocketConfig::default().read_buffer_size(4096);
    let accepting = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(ws_config));
    let Ok(Ok(mut ws)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, accepting).await else { return };

    shared.record.connection();
    let number = shared.connections.fetch_add(1, Ordering::Relaxed);
    let seed = shared.config.seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = seed | 1;
    let mut session = LiveSession::new(
        Arc::clone(&shared.config),
        Arc::clone(&shared.record),
        Arc::clone(&shared.ids),
        seed,
    );
    if let Some(observer) = &shared.observer {
        session = session.with_observer(observer.session());
    }
    let drop_after = shared.config.faults.drop_connection.and_then(|(probability, low, high)| {
        let roll = (next(&mut rng) % 1_000_000) as f64 / 1_000_000.0;
        (roll < probability).then(|| low + next(&mut rng) % (high.saturating_sub(low) + 1))
    });
    let mut sent = 0u64;
    let mut actions = Vec::new();
    loop {
        let mut wrote = false;
        for action in actions.drain(..) {
            match action {
                Action::Send(text) => {
                    if ws.feed(Message::text(text)).await.is_err() {
                        session.on_lost(CloseReason::ConnectionLost);
                        return;
                    }
                    wrote = true;
                    sent += 1;
                    if drop_after.is_some_and(|after| sent >= after) {
                        // The fault: the socket goes away mid-stream, with
                        // no close frame and no `session.closed`.
                        let _ = ws.flush().await;
                        shared.record.count_dropped();
                        session.on_lost(CloseReason::ConnectionLost);
                        return;
                    }
                }
                Action::Close => {
                    let _ = ws.flush().await;
                    close(&mut ws).await;
                    return;
                }
            }
        }
        if wrote && ws.flush().await.is_err() {
            session.on_lost(CloseReason::ConnectionLost);
            return;
        }
        let deadline = session.poll_timeout().map(Instant::from_std);
        tokio::select! {
            biased;
            _ = stopped.changed() => {
                session.on_lost(CloseReason::ConnectionLost);
                return;
            }
            () = sleep_until(deadline) => {
                actions = session.on_timeout(Instant::now().into_std());
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    actions = session.on_text(Instant::now().into_std(), text.as_str());
                }
                Some(Ok(Message::Binary(_))) => actions = session.on_binary(),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                    let _ = ws.flush().await;
                }
                Some(Ok(Message::Close(_))) => {
                    // A graceful close without `session.close`.
                    session.on_lost(CloseReason::RemoteHangup);
                    return;
                }
                Some(Err(_)) | None => {
                    session.on_lost(CloseReason::ConnectionLost);
                    return;
                }
            },
        }
    }
}

/// Checks the upgrade: the path, a bearer token, no query string, no
/// `OpenAI-Beta` header.
fn check_upgrade(
    request: &Request,
    response: Response,
    api_key: Option<&str>,
) -> Result<Response, ErrorResponse> {
    if request.uri().path() != LIVE_PATH {
        // Ours, in OpenAI's usual shape for an unknown URL.
        let message = format!("Invalid URL (GET {}).", request.uri().path());
        return Err(refuse(StatusCode::NOT_FOUND, &message, None));
    }
    let headers = request.headers();
    let given = headers.get("authorization").and_then(|v| v.to_str().ok());
    let token = given.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
    if token.is_empty() {
        // OpenAI's usual text for a missing key on its HTTP API; ours for Live.
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            None,
        ));
    }
    if api_key.is_some_and(|key| key != token) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided.",
            Some("invalid_api_key"),
        ));
    }
    if request.uri().query().is_some() {
        // Ours: the endpoint takes no query parameters (openai-python
        // `openai/resources/live/live.py`); the service's answer is not
        // recorded.
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "The Live endpoint takes no query parameters; put the model in session.start.",
            None,
        ));
    }
    if headers.get("openai-beta").is_some() {
        // Ours: there is no `OpenAI-Beta` header for Live
        // (https://developers.openai.com/api/reference/resources/live/primary-websocket).
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "The OpenAI-Beta header is not supported by the Live API.",
            None,
        ));
    }
    Ok(response)
}

fn refuse(status: StatusCode, message: &str, code: Option<&str>) -> ErrorResponse {
    let body = serde_json::json!({
        "error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}
    });
    let mut response = ErrorResponse::new(Some(body.to_string()));
    *response.status_mut() = status;
    response
}

async fn close(ws: &mut WebSocketStream<TcpStream>) {
    let frame = CloseFrame { code: CloseCode::Normal, reason: "".into() };
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}
