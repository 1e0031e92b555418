//! The simulator's IO: a WebSocket listener, one task per connection that
//! runs a [`SimSession`], its timers, pacing and injected faults.

// tungstenite's upgrade callback returns its own (large) HTTP response type.
#![allow(clippy::result_large_err, reason = "the handshake callback's error type is tungstenite's")]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
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

use super::config::SimConfig;
use super::observe::SimObserver;
use super::session::{Action, Ids, SimSession, Timer};
use super::violations::{Counter, Counts, Record, Violation};

/// The reason OpenAI gives when it closes a session at its time limit.
pub const SESSION_LIMIT_REASON: &str = "Your session hit the maximum duration of 60 minutes.";

/// Connections served at once; more wait for a slot.
const MAX_CONNECTIONS: usize = 20_000;
/// The longest a WebSocket upgrade may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running Realtime simulator.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    record: Arc<Record>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Binds a simulator with `config` to `addr` (port 0 picks a free port) and
/// serves it on the current tokio runtime until [`SimServer::shutdown`].
pub async fn serve(config: SimConfig, addr: SocketAddr) -> io::Result<SimServer> {
    start(config, addr, None).await
}

/// [`serve`], with every session reporting to `observer` (see
/// [`SimObserver`]).
pub async fn serve_observed(
    config: SimConfig,
    addr: SocketAddr,
    observer: Arc<dyn SimObserver>,
) -> io::Result<SimServer> {
    start(config, addr, Some(observer)).await
}

async fn start(
    config: SimConfig,
    addr: SocketAddr,
    observer: Option<Arc<dyn SimObserver>>,
) -> io::Result<SimServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let record = Arc::new(Record::default());
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
    Ok(SimServer { addr, record, stop, task })
}

impl SimServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL a client connects to (`ws://…/v1/realtime?model=gpt-realtime-2.1`).
    pub fn url(&self) -> String {
        format!("ws://{}/v1/realtime?model=gpt-realtime-2.1", self.addr)
    }

    /// The shared record of violations and activity.
    pub fn record(&self) -> Arc<Record> {
        Arc::clone(&self.record)
    }

    /// A snapshot of the counts.
    pub fn counts(&self) -> Counts {
        self.record.counts()
    }

    /// Stops accepting and ends every connection.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

struct Shared {
    config: Arc<SimConfig>,
    record: Arc<Record>,
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

/// What the upgrade request said.
#[derive(Debug, Default)]
struct Upgrade {
    beta: bool,
    model: String,
}

async fn connection(stream: TcpStream, shared: &Shared, mut stopped: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let mut upgrade = Upgrade::default();
    let api_key = shared.config.api_key.clone();
    let check = |request: &Request, response: Response| {
        check_upgrade(request, response, api_key.as_deref(), &mut upgrade)
    };
    let ws_config = WebSocketConfig::default().read_buffer_size(4096);
    let accepting = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(ws_config));
    let Ok(Ok(mut ws)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, accepting).await else { return };

    shared.record.count(Counter::Connections);
    let number = shared.connections.fetch_add(1, Ordering::Relaxed);
    let seed = shared.config.seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = seed | 1;
    let mut session = SimSession::new(
        Arc::clone(&shared.config),
        Arc::clone(&shared.record),
        Arc::clone(&shared.ids),
        seed,
        &upgrade.model,
    );
    if let Some(observer) = &shared.observer {
        session = session.with_observer(observer.session());
    }
    let faults = &shared.config.faults;
    let drop_after = faults.drop_connection.and_then(|(probability, low, high)| {
        let roll = (next(&mut rng) % 1_000_000) as f64 / 1_000_000.0;
        (roll < probability).then(|| low + next(&mut rng) % (high.saturating_sub(low) + 1))
    });
    let limit = faults.session_limit.map(|limit| Instant::now() + limit);
    let mut timers: BinaryHeap<Reverse<(Instant, u64, TimerKey)>> = BinaryHeap::new();
    let mut timer_seq = 0u64;
    let mut sent = 0u64;

    let mut actions = if upgrade.beta { session.refuse_beta_header() } else { session.on_open() };
    loop {
        let mut wrote = false;
        for action in actions.drain(..) {
            match action {
                Action::Send(text) => {
                    if ws.feed(Message::text(text)).await.is_err() {
                        session.on_close();
                        return;
                    }
                    wrote = true;
                    sent += 1;
                    if drop_after.is_some_and(|after| sent >= after) {
                        // The fault: the socket goes away mid-stream, with
                        // no close frame.
                        let _ = ws.flush().await;
                        shared.record.count(Counter::Dropped);
                        session.on_close();
                        return;
                    }
                }
                Action::After(delay, timer) => {
                    timer_seq += 1;
                    timers.push(Reverse((
                        Instant::now() + delay,
                        timer_seq,
                        TimerKey::from(timer),
                    )));
                }
                Action::Close(code, reason) => {
                    let _ = ws.flush().await;
                    close(&mut ws, code, &reason).await;
                    session.on_close();
                    return;
                }
            }
        }
        if wrote && ws.flush().await.is_err() {
            session.on_close();
            return;
        }
        let next_timer = timers.peek().map(|Reverse((at, _, _))| *at);
        tokio::select! {
            biased;
            _ = stopped.changed() => {
                session.on_close();
                return;
            }
            () = sleep_until(limit) => {
                shared.record.count(Counter::SessionLimits);
                close(&mut ws, 1001, SESSION_LIMIT_REASON).await;
                session.on_close();
                return;
            }
            () = sleep_until(next_timer) => {
                let now = Instant::now();
                while let Some(Reverse((at, _, timer))) = timers.peek().copied() {
                    if at > now {
                        break;
                    }
                    timers.pop();
                    actions.extend(session.on_timer(timer.into()));
                }
            }
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => actions = session.on_text(text.as_str()),
                Some(Ok(Message::Binary(_))) => {
                    shared.record.violation(Violation::InvalidEvent, "binary frame".to_owned());
                    actions = session.on_text("");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                    let _ = ws.flush().await;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    session.on_close();
                    return;
                }
            },
        }
    }
}

/// Checks the upgrade as the API does: credentials, a model, no beta header.
fn check_upgrade(
    request: &Request,
    response: Response,
    api_key: Option<&str>,
    upgrade: &mut Upgrade,
) -> Result<Response, ErrorResponse> {
    let headers = request.headers();
    if let Some(key) = api_key {
        let expected = format!("Bearer {key}");
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided.",
                "invalid_api_key",
            ));
        }
    }
    let model = request.uri().query().and_then(|query| {
        query.split('&').find_map(|pair| pair.strip_prefix("model=").map(str::to_owned))
    });
    let Some(model) = model.filter(|m| !m.is_empty()) else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "Missing required parameter: 'model'.",
            "missing_required_parameter",
        ));
    };
    upgrade.model = model;
    upgrade.beta = headers.get("openai-beta").is_some();
    Ok(response)
}

fn refuse(status: StatusCode, message: &str, code: &str) -> ErrorResponse {
    let body = serde_json::json!({
        "error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}
    });
    let mut response = ErrorResponse::new(Some(body.to_string()));
    *response.status_mut() = status;
    response
}

async fn close(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let frame = CloseFrame { code: CloseCode::from(code), reason: reason.into() };
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

/// [`Timer`] in an orderable form for the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    Created(u64),
    Step(u64),
}

impl From<Timer> for TimerKey {
    fn from(timer: Timer) -> Self {
        match timer {
            Timer::Created(key) => TimerKey::Created(key),
            Timer::Step(key) => TimerKey::Step(key),
        }
    }
}

impl From<TimerKey> for Timer {
    fn from(key: TimerKey) -> Self {
        match key {
            TimerKey::Created(key) => Timer::Created(key),
            TimerKey::Step(key) => Timer::Step(key),
        }
    }
}
