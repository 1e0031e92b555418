//! The WebSocket link both OpenAI voice providers share: one tokio task per
//! session that owns the socket, reconnects with backoff, and moves commands
//! and inputs between a provider's sans-IO protocol ([`LinkProtocol`]) and
//! the connection handle ([`WsConnection`]).
//!
//! The task never blocks on the handle: commands are always taken (so a
//! driver waiting in `send` cannot deadlock against a full input channel);
//! reading from the socket pauses instead while too many inputs wait for
//! the driver. Frames produced by one step are fed and flushed once, each
//! burst of writes within the write timeout.

use std::collections::VecDeque;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::Instrument as _;
use turngate_core::{BackendCommand, Input};

use crate::realtime::stats::SharedStats;
use crate::realtime::{BackendError, ConnectionStats, RealtimeConnection};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Commands waiting for the task.
const COMMAND_CAPACITY: usize = 256;
/// Inputs waiting for the driver in the channel.
const INPUT_CAPACITY: usize = 256;
/// Inputs the task may hold beyond the channel before it stops reading.
const PENDING_HIGH: usize = 64;
/// Commands taken in one step before the frames are flushed.
const COMMAND_BATCH: usize = 32;
/// How long closing waits for the task to shut the socket.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long a giving-up task waits for the driver to take its last inputs.
const FINAL_DELIVERY: Duration = Duration::from_secs(5);
/// How long a closing session may take to confirm its end, after the
/// handle has let go (GPT-Live drains its work for up to ten seconds after
/// `session.close`; pipecat and OpenAI's own example wait 10 to 15 s).
const FINALIZE: Duration = Duration::from_secs(10);

/// What one protocol step produced: frames for the socket, inputs for the
/// core, and whether the link must end.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub(crate) frames: Vec<String>,
    pub(crate) inputs: Vec<Input>,
    /// Set when the protocol wants this link over (a session that ended on
    /// the server, a refusal at start-up).
    pub(crate) end: Option<LinkEnd>,
}

/// Why a protocol ends its link.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "openai-live"),
    allow(dead_code, reason = "only the GPT-Live protocol ends its links itself")
)]
pub(crate) enum LinkEnd {
    /// A new link may carry on.
    Retry(String),
    /// Connecting again cannot help.
    Fatal(String),
}

/// A provider's sans-IO protocol, as the link task drives it.
pub(crate) trait LinkProtocol: Send + 'static {
    /// A link is open (`reconnect` after the first): send what starts a session.
    fn link_up(&mut self, now: std::time::Instant, reconnect: bool, out: &mut Out);
    /// The link is gone.
    fn link_down(&mut self, out: &mut Out);
    /// One command from the core.
    fn command(&mut self, now: std::time::Instant, command: BackendCommand, out: &mut Out);
    /// One text frame from the server.
    fn server_text(&mut self, now: std::time::Instant, text: &str, out: &mut Out);
    /// A binary frame, which neither API sends.
    fn server_binary(&mut self);
    /// The deadline [`poll_timeout`](Self::poll_timeout) named has passed.
    fn tick(&mut self, now: std::time::Instant, out: &mut Out);
    /// When the protocol next wants [`tick`](Self::tick).
    fn poll_timeout(&self) -> Option<std::time::Instant>;
    /// True when a close frame with `code` from the server means that
    /// connecting again cannot help.
    fn fatal_close(&self, code: u16) -> bool;

    /// The handle closes the session: true after putting in `out` what
    /// asks the server to end it, when the server must confirm the end
    /// (the link then stays up, at most [`FINALIZE`], until the protocol
    /// ends it); false to close the socket at once.
    fn close(&mut self, _out: &mut Out) -> bool {
        false
    }
}

/// How a link connects and writes.
#[derive(Clone)]
pub(crate) struct LinkSettings {
    /// The provider's name, for logs.
    pub(crate) provider: &'static str,
    /// The full WebSocket URL.
    pub(crate) url: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub(crate) api_key: Option<String>,
    /// Reconnecting after a drop.
    pub(crate) reconnect: ReconnectPolicy,
    /// The longest a WebSocket upgrade may take.
    pub(crate) connect_timeout: Duration,
    /// The longest [`RealtimeConnection::send`] may wait for room.
    pub(crate) send_timeout: Duration,
    /// The longest one burst of writes may take.
    pub(crate) write_timeout: Duration,
    /// The WebSocket read buffer.
    pub(crate) read_buffer_size: usize,
}

impl std::fmt::Debug for LinkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("LinkSettings")
            .field("provider", &self.provider)
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// Reconnect with exponential backoff and jitter, bounded in attempts and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// The wait before the first attempt after a drop.
    pub initial_backoff: Duration,
    /// The cap on one wait.
    pub max_backoff: Duration,
    /// Attempts before giving up (0 never reconnects).
    pub max_attempts: u32,
    /// The longest to keep trying after a drop.
    pub max_total: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(3),
            max_attempts: 8,
            max_total: Duration::from_secs(8),
        }
    }
}

/// One open session over a link. See [`RealtimeConnection`] for the contract.
#[derive(Debug)]
pub struct WsConnection {
    provider: &'static str,
    commands: mpsc::Sender<ToTask>,
    inputs: mpsc::Receiver<Input>,
    stats: Arc<SharedStats>,
    task: Option<JoinHandle<()>>,
    send_timeout: Duration,
}

#[derive(Debug)]
enum ToTask {
    Command(BackendCommand),
    Close,
}

/// The client TLS configuration, built once per backend (reading the
/// platform's roots costs milliseconds).
#[derive(Debug, Default)]
pub(crate) struct TlsCache(Mutex<Option<Arc<ClientConfig>>>);

/// Connects one session: the upgrade happens here, so a refused key or an
/// unreachable host fails the call to `connect`; the rest runs in the task.
pub(crate) async fn connect<P: LinkProtocol>(
    settings: LinkSettings,
    protocol: P,
    stats: Arc<SharedStats>,
    tls: &TlsCache,
) -> Result<WsConnection, BackendError> {
    let tls = tls.get(settings.provider, &settings.url)?;
    let ws = open(&settings, tls.clone()).await?;
    let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
    let (input_tx, input_rx) = mpsc::channel(INPUT_CAPACITY);
    let send_timeout = settings.send_timeout;
    let provider = settings.provider;
    let task = Task {
        rng: seed(),
        settings,
        tls,
        protocol,
        commands: command_rx,
        inputs: input_tx,
        pending: VecDeque::new(),
        out: Out::default(),
        closing: None,
        unready: 0,
        link_ready: false,
    };
    // The connection's task logs under the caller's span (the call), so a
    // dropped link is found next to the call it happened to.
    let handle = tokio::spawn(task.run(ws).instrument(tracing::Span::current()));
    Ok(WsConnection {
        provider,
        commands: command_tx,
        inputs: input_rx,
        stats,
        task: Some(handle),
        send_timeout,
    })
}

#[async_trait]
impl RealtimeConnection for WsConnection {
    async fn send(&mut self, command: BackendCommand) -> Result<(), BackendError> {
        let provider = self.provider;
        // The channel almost always has room: hand the command over without
        // building a timer, and wait (bounded) only when it is full.
        let command = match self.commands.try_send(ToTask::Command(command)) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(BackendError::Closed { provider });
            }
            Err(mpsc::error::TrySendError::Full(command)) => command,
        };
        match tokio::time::timeout(self.send_timeout, self.commands.send(command)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(BackendError::Closed { provider }),
            Err(_) => Err(BackendError::Timeout { provider, what: "handing over a command" }),
        }
    }

    async fn recv(&mut self) -> Option<Input> {
        self.inputs.recv().await
    }

    async fn close(mut self: Box<Self>) {
        let _ = tokio::time::timeout(CLOSE_WAIT, self.commands.send(ToTask::Close)).await;
        // Inputs still queued are of no use to anyone now; dropping the
        // receiver also unblocks a task waiting to deliver them.
        self.inputs.close();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(CLOSE_WAIT, task).await;
        }
    }

    fn stats(&self) -> ConnectionStats {
        self.stats.snapshot()
    }
}

/// What woke the task up.
enum Step {
    Delivered,
    HandleGone,
    Command(Option<ToTask>),
    Frame(Option<Result<Message, tungstenite::Error>>),
    Tick,
}

/// Why a link ended.
#[derive(Debug)]
enum End {
    /// The handle closed the session or went away.
    Closed,
    /// The link broke in a way a new link may fix.
    Retry(String),
    /// The server refused us for good (beta shape, policy).
    Fatal(String),
}

struct Task<P> {
    settings: LinkSettings,
    tls: Option<Arc<ClientConfig>>,
    protocol: P,
    commands: mpsc::Receiver<ToTask>,
    inputs: mpsc::Sender<Input>,
    pending: VecDeque<Input>,
    out: Out,
    rng: u64,
    /// Set once the handle closed the session and the server is finishing
    /// it: until when the link may wait.
    closing: Option<Instant>,
    /// Links in a row that ended before their session was ready; they use
    /// up the reconnect budget as failed attempts do.
    unready: u32,
    link_ready: bool,
}

/// What the commands taken in one step amount to.
enum Taken {
    Continue,
    Close,
}

impl<P: LinkProtocol> Task<P> {
    async fn run(mut self, first: Ws) {
        let mut link = first;
        let mut reconnect = false;
        loop {
            self.link_ready = false;
            self.protocol.link_up(now(), reconnect, &mut self.out);
            let end = self.serve(&mut link).await;
            self.protocol.link_down(&mut self.out);
            self.take_inputs();
            if !self.link_ready {
                self.unready += 1;
            }
            if self.closing.is_some() {
                // The handle let go: nothing more to do for it.
                let _ = tokio::time::timeout(CLOSE_WAIT, link.close(None)).await;
                return;
            }
            match end {
                End::Closed => {
                    let _ = tokio::time::timeout(CLOSE_WAIT, link.close(None)).await;
                    return;
                }
                End::Fatal(reason) => {
                    tracing::error!(provider = self.settings.provider, %reason, "the server refused the session for good");
                    drop(link);
                    self.give_up().await;
                    return;
                }
                End::Retry(reason) => {
                    tracing::warn!(provider = self.settings.provider, %reason, "link lost; reconnecting");
                    drop(link);
                }
            }
            match self.reconnect().await {
                Some(new) => {
                    link = new;
                    reconnect = true;
                }
                None => {
                    self.give_up().await;
                    return;
                }
            }
        }
    }

    /// Runs one link until it ends.
    async fn serve(&mut self, ws: &mut Ws) -> End {
        let mut flush = false;
        loop {
            if !self.out.frames.is_empty() || flush {
                flush = false;
                match tokio::time::timeout(self.settings.write_timeout, self.write(ws)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => return End::Retry(format!("write failed: {error}")),
                    Err(_) => {
                        return End::Retry(format!(
                            "the server read nothing for {} ms",
                            self.settings.write_timeout.as_millis()
                        ));
                    }
                }
            }
            self.take_inputs();
            let closing = self.closing.is_some();
            if closing {
                // Nobody takes inputs any more.
                self.pending.clear();
            }
            let deadline = [self.protocol.poll_timeout().map(Instant::from_std), self.closing]
                .into_iter()
                .flatten()
                .min();
            let reading = self.pending.len() < PENDING_HIGH;
            let step = tokio::select! {
                biased;
                permit = self.inputs.reserve(), if !self.pending.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(input) = self.pending.pop_front() {
                            permit.send(input);
                        }
                        Step::Delivered
                    }
                    Err(_) => Step::HandleGone,
                },
                command = self.commands.recv(), if !closing => Step::Command(command),
                frame = ws.next(), if reading => Step::Frame(frame),
                () = sleep_until(deadline), if deadline.is_some() => Step::Tick,
            };
            match step {
                Step::Delivered => {}
                Step::HandleGone => return End::Closed,
                Step::Command(command) => {
                    if let Taken::Close = self.take_commands(command) {
                        if !self.protocol.close(&mut self.out) {
                            return End::Closed;
                        }
                        self.closing = Some(Instant::now() + FINALIZE);
                    }
                }
                Step::Frame(frame) => match frame {
                    Some(Ok(Message::Text(text))) => {
                        self.protocol.server_text(now(), text.as_str(), &mut self.out);
                    }
                    Some(Ok(Message::Binary(_))) => self.protocol.server_binary(),
                    // tungstenite queues the pong; the next flush sends it.
                    Some(Ok(Message::Ping(_))) => flush = true,
                    Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        return self.closed_by_server(frame.as_ref());
                    }
                    Some(Err(error)) => return End::Retry(format!("read failed: {error}")),
                    None => return End::Retry("the server closed the stream".to_owned()),
                },
                Step::Tick => {
                    if self.closing.is_some_and(|until| until <= Instant::now()) {
                        return End::Closed;
                    }
                    self.protocol.tick(now(), &mut self.out);
                }
            }
            if let Some(end) = self.out.end.take() {
                // What the protocol still had to say goes out first (a close).
                let _ = tokio::time::timeout(self.settings.write_timeout, self.write(ws)).await;
                return match end {
                    LinkEnd::Retry(reason) => End::Retry(reason),
                    LinkEnd::Fatal(reason) => End::Fatal(reason),
                };
            }
        }
    }

    /// What a close frame from the server means for us.
    fn closed_by_server(&self, frame: Option<&CloseFrame>) -> End {
        let Some(frame) = frame else {
            return End::Retry("closed without a reason".to_owned());
        };
        let code = u16::from(frame.code);
        let reason = format!("closed with {code}: {}", frame.reason.as_str());
        if self.protocol.fatal_close(code) { End::Fatal(reason) } else { End::Retry(reason) }
    }

    /// Takes one command and whatever else is already queued, until the
    /// handle closes the session.
    fn take_commands(&mut self, first: Option<ToTask>) -> Taken {
        let mut next = first;
        for _ in 0..COMMAND_BATCH {
            match next {
                Some(ToTask::Command(command)) => {
                    self.protocol.command(now(), command, &mut self.out);
                }
                Some(ToTask::Close) | None => return Taken::Close,
            }
            match self.commands.try_recv() {
                Ok(command) => next = Some(command),
                Err(mpsc::error::TryRecvError::Empty) => return Taken::Continue,
                Err(mpsc::error::TryRecvError::Disconnected) => next = None,
            }
        }
        match next {
            Some(ToTask::Command(command)) => {
                self.protocol.command(now(), command, &mut self.out);
                Taken::Continue
            }
            Some(ToTask::Close) | None => Taken::Close,
        }
    }

    async fn write(&mut self, ws: &mut Ws) -> Result<(), tungstenite::Error> {
        for frame in self.out.frames.drain(..) {
            ws.feed(Message::text(frame)).await?;
        }
        ws.flush().await
    }

    fn take_inputs(&mut self) {
        if self.out.inputs.contains(&Input::BackendReady) {
            self.link_ready = true;
            self.unready = 0;
        }
        self.pending.extend(self.out.inputs.drain(..));
    }

    /// Waits with backoff and opens a new link; `None` when it gave up or
    /// the handle closed the session meanwhile.
    async fn reconnect(&mut self) -> Option<Ws> {
        let policy = self.settings.reconnect.clone();
        let started = Instant::now();
        // A link that opened but never got its session ready counts as a
        // failed attempt: a server refusing every start is not dialled
        // forever at the first backoff step.
        for attempt in self.unready.saturating_sub(1)..policy.max_attempts {
            let wait = backoff(&policy, attempt, &mut self.rng);
            if started.elapsed() + wait > policy.max_total {
                break;
            }
            self.wait_for(tokio::time::sleep(wait)).await?;
            let settings = self.settings.clone();
            let tls = self.tls.clone();
            match self.wait_for(async move { open(&settings, tls).await }).await? {
                Ok(ws) => {
                    tracing::info!(
                        provider = self.settings.provider,
                        attempt = attempt + 1,
                        "reconnected"
                    );
                    return Some(ws);
                }
                Err(error) if error.kind().is_retryable() => {
                    tracing::warn!(provider = self.settings.provider, attempt = attempt + 1, %error, "reconnect failed");
                }
                Err(error) => {
                    tracing::error!(provider = self.settings.provider, %error, "reconnect refused; giving up");
                    return None;
                }
            }
        }
        tracing::error!(
            provider = self.settings.provider,
            "could not reconnect in time; giving up"
        );
        None
    }

    /// Runs `future` while still taking commands (they meet no link and are
    /// counted as lost) and delivering inputs; `None` if the handle closed.
    async fn wait_for<F: Future>(&mut self, future: F) -> Option<F::Output> {
        tokio::pin!(future);
        loop {
            self.take_inputs();
            // Without a link nothing can be sent (and the protocol produces
            // nothing to send while it has none).
            self.out.frames.clear();
            let step = tokio::select! {
                biased;
                permit = self.inputs.reserve(), if !self.pending.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(input) = self.pending.pop_front() {
                            permit.send(input);
                        }
                        None
                    }
                    Err(_) => return None,
                },
                command = self.commands.recv() => Some(command),
                output = &mut future => return Some(output),
            };
            // Closing without a link has no session to finish.
            if let Some(command) = step
                && let Taken::Close = self.take_commands(command)
            {
                return None;
            }
        }
    }

    /// Delivers what is left (bounded), then ends: the handle's `recv`
    /// returns `None` after the last input.
    async fn give_up(mut self) {
        self.take_inputs();
        let deliver = async {
            while let Some(input) = self.pending.pop_front() {
                if self.inputs.send(input).await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(FINAL_DELIVERY, deliver).await;
    }
}

/// Opens one WebSocket link (the upgrade, with our credentials).
async fn open(settings: &LinkSettings, tls: Option<Arc<ClientConfig>>) -> Result<Ws, BackendError> {
    let provider = settings.provider;
    let bad_config = |detail: String| BackendError::Config { provider, detail };
    let mut request = settings
        .url
        .as_str()
        .into_client_request()
        .map_err(|error| bad_config(format!("bad WebSocket URL: {error}")))?;
    if let Some(key) = &settings.api_key {
        let value = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| bad_config("the API key is not a valid header value".to_owned()))?;
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let ws_config = WebSocketConfig::default().read_buffer_size(settings.read_buffer_size);
    let connector = match tls {
        Some(tls) => Connector::Rustls(tls),
        None => Connector::Plain,
    };
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(ws_config),
        true,
        Some(connector),
    );
    match tokio::time::timeout(settings.connect_timeout, connecting).await {
        Err(_) => Err(BackendError::Timeout { provider, what: "opening the WebSocket" }),
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            if status == 401 || status == 403 {
                Err(BackendError::Auth { provider, status })
            } else {
                Err(BackendError::Refused { provider, status })
            }
        }
        Ok(Err(tungstenite::Error::Url(error))) => {
            Err(bad_config(format!("bad WebSocket URL: {error}")))
        }
        Ok(Err(error)) => Err(BackendError::Connect { provider, detail: error.to_string() }),
    }
}

/// The wait before reconnect attempt `attempt` (from 0): exponential,
/// capped, with half of it random ("equal jitter"), so many sessions that
/// dropped together do not come back together.
fn backoff(policy: &ReconnectPolicy, attempt: u32, rng: &mut u64) -> Duration {
    let exponential = policy.initial_backoff.saturating_mul(2u32.saturating_pow(attempt.min(16)));
    let capped = exponential.min(policy.max_backoff);
    let half = capped / 2;
    let half_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(next_random(rng) % half_ms.saturating_add(1))
}

fn seed() -> u64 {
    // A per-process random key from the standard library; only jitter
    // depends on it.
    std::collections::hash_map::RandomState::new().hash_one(0x7467_u64) | 1
}

fn next_random(state: &mut u64) -> u64 {
    // xorshift64: plenty for jitter.
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl TlsCache {
    /// The TLS configuration for `url`: `None` for `ws://`.
    fn get(
        &self,
        provider: &'static str,
        url: &str,
    ) -> Result<Option<Arc<ClientConfig>>, BackendError> {
        if !url.starts_with("wss://") {
            return Ok(None);
        }
        let mut cached = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(config) = cached.as_ref() {
            return Ok(Some(Arc::clone(config)));
        }
        let config = Arc::new(build_tls(provider)?);
        *cached = Some(Arc::clone(&config));
        Ok(Some(config))
    }
}

/// rustls with the ring provider (no cmake build) and the platform's roots.
fn build_tls(provider: &'static str) -> Result<ClientConfig, BackendError> {
    let tls_error = |detail: String| BackendError::Config { provider, detail };
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(tls_error("no root certificates found on this machine".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| tls_error(format!("TLS setup failed: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
