//! Serving a simulator on loopback, and the checks every request passes
//! first: the key, the `OpenAI-Beta` header, and injected faults.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::HeaderMap;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::record::{Event, Kind, Recorder, Stats, Violations, recovery_overheads};
use super::strict::ApiError;
use super::{Api, SimConfig};

/// What the handle needs from a simulator's state.
pub(crate) trait World: Send + 'static {
    fn recorder(&mut self) -> &mut Recorder;
    /// Brings every run or response up to `now` and counts what is only
    /// visible at the end (unanswered messages).
    fn settle(&mut self, now: Instant, start: Instant) -> u64;
    /// The user and assistant texts of a thread or conversation, in order.
    fn texts(&mut self, container: &str, now: Instant, start: Instant) -> Vec<(String, String)>;
}

/// The state every handler shares.
pub(crate) struct Shared<W> {
    pub(crate) config: SimConfig,
    pub(crate) start: Instant,
    world: Mutex<W>,
}

impl<W: World> Shared<W> {
    pub(crate) fn new(config: SimConfig, world: W) -> Self {
        Self { config, start: Instant::now(), world: Mutex::new(world) }
    }

    pub(crate) fn world(&self) -> MutexGuard<'_, W> {
        // The world is left consistent by every handler, so a panic in one
        // does not make it unusable for the others.
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts the request and applies the checks every endpoint shares.
    pub(crate) fn admit(
        &self,
        world: &mut W,
        headers: &HeaderMap,
        beta: bool,
    ) -> Result<(), ApiError> {
        let recorder = world.recorder();
        recorder.stats.requests += 1;
        let n = recorder.stats.requests;
        if let Some(key) = &self.config.api_key {
            let given = headers.get("authorization").and_then(|v| v.to_str().ok());
            if given != Some(format!("Bearer {key}").as_str()) {
                let message = match given {
                    None => {
                        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                    }
                    Some(_) => "Incorrect API key provided.",
                };
                recorder.violation(Kind::Invalid, format!("request {n}: bad or missing key"));
                return Err(ApiError::invalid(message)
                    .with_status(axum::http::StatusCode::UNAUTHORIZED)
                    .with_code("invalid_api_key"));
            }
        }
        if beta {
            let given = headers.get("openai-beta").and_then(|v| v.to_str().ok());
            if given.map(str::trim) != Some("assistants=v2") {
                recorder
                    .violation(Kind::Invalid, format!("request {n}: OpenAI-Beta header {given:?}"));
                return Err(ApiError::invalid(
                    "You must provide the 'OpenAI-Beta' header to access the Assistants API. Please try again by setting the header 'OpenAI-Beta: assistants=v2'.",
                )
                .with_code("invalid_beta"));
            }
        }
        let faults = self.config.faults;
        if faults.rate_limit_every.is_some_and(|every| every > 0 && n.is_multiple_of(every)) {
            recorder.stats.injected_rate_limits += 1;
            let mut error =
                ApiError::invalid("Rate limit reached for requests. Please try again in a moment.")
                    .with_status(axum::http::StatusCode::TOO_MANY_REQUESTS)
                    .with_code("rate_limit_exceeded");
            error.kind = "requests";
            error.headers.push(("retry-after-ms", faults.retry_after.as_millis().to_string()));
            error.headers.push(("retry-after", faults.retry_after.as_secs().max(1).to_string()));
            return Err(error);
        }
        if faults.server_error_every.is_some_and(|every| every > 0 && n.is_multiple_of(every)) {
            recorder.stats.injected_server_errors += 1;
            let mut error = ApiError::invalid(
                "The server had an error while processing your request. Sorry about that!",
            )
            .with_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            error.kind = "server_error";
            return Err(error);
        }
        Ok(())
    }

    /// Time since the simulator started.
    pub(crate) fn since_start(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }
}

/// What the handle can ask of any simulator, whatever its world.
trait Observe: Send + Sync {
    fn violations(&self) -> Violations;
    fn stats(&self) -> Stats;
    fn timeline(&self) -> Vec<Event>;
    fn texts(&self, container: &str) -> Vec<(String, String)>;
}

impl<W: World> Observe for Shared<W> {
    fn violations(&self) -> Violations {
        let mut world = self.world();
        let unanswered = world.settle(Instant::now(), self.start);
        let mut violations = world.recorder().violations.clone();
        violations.unanswered = unanswered;
        violations
    }

    fn stats(&self) -> Stats {
        let mut world = self.world();
        world.settle(Instant::now(), self.start);
        world.recorder().stats
    }

    fn timeline(&self) -> Vec<Event> {
        let mut world = self.world();
        world.settle(Instant::now(), self.start);
        let mut timeline = world.recorder().timeline.clone();
        timeline.sort_by_key(|e| e.at);
        timeline
    }

    fn texts(&self, container: &str) -> Vec<(String, String)> {
        self.world().texts(container, Instant::now(), self.start)
    }
}

/// A running chat simulator. Dropping it stops the server.
pub struct ChatSim {
    api: Api,
    addr: SocketAddr,
    state: Arc<dyn Observe>,
    threads: Option<Arc<Shared<super::assistants::Threads>>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for ChatSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatSim").field("api", &self.api).field("addr", &self.addr).finish()
    }
}

impl ChatSim {
    /// An Assistants simulator on an ephemeral loopback port.
    pub async fn assistants(config: SimConfig) -> std::io::Result<Self> {
        Self::serve(Api::Assistants, config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// A Responses + Conversations simulator on an ephemeral loopback port.
    pub async fn responses(config: SimConfig) -> std::io::Result<Self> {
        Self::serve(Api::Responses, config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// A simulator of `api` listening on `addr`.
    pub async fn serve(api: Api, config: SimConfig, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (router, state, threads): (axum::Router, Arc<dyn Observe>, _) = match api {
            Api::Assistants => {
                let world = super::assistants::Threads::new(config.clone());
                let shared = Arc::new(Shared::new(config, world));
                (super::assistants::router(Arc::clone(&shared)), shared.clone(), Some(shared))
            }
            Api::Responses => {
                let world = super::responses::Conversations::new(config.clone());
                let shared = Arc::new(Shared::new(config, world));
                (super::responses::router(Arc::clone(&shared)), shared, None)
            }
        };
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing_free_log(&error);
            }
        });
        Ok(Self { api, addr, state, threads, task })
    }

    /// The API root to configure clients with, e.g. `http://127.0.0.1:4010/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every rule breach so far; a test fails when `total()` is not zero.
    pub fn violations(&self) -> Violations {
        self.state.violations()
    }

    /// Load and fault counters.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Work endings and message acceptances, in time order.
    pub fn timeline(&self) -> Vec<Event> {
        self.state.timeline()
    }

    /// For each message that waited for cancelled work: the time from that
    /// work's end to the message's acceptance (see [`recovery_overheads`]).
    pub fn recovery_overheads(&self) -> Vec<Duration> {
        recovery_overheads(&self.timeline())
    }

    /// Adds a user message to `thread` as another client would (Assistants
    /// only); false when the thread is unknown or a run is active.
    pub fn foreign_message(&self, thread: &str, text: &str) -> bool {
        let Some(shared) = &self.threads else { return false };
        let now = Instant::now();
        let mut world = shared.world();
        world.advance_thread(thread, now);
        if world.active_run(thread).is_some() {
            return false;
        }
        world.add_message(thread, "user", text.to_owned(), serde_json::json!({}), now).is_some()
    }

    /// Starts a run on `thread` as another client would (Assistants only),
    /// with `tools` it may call; `None` when a run is already active.
    pub fn foreign_run(&self, thread: &str, tools: &[&str]) -> Option<String> {
        let shared = self.threads.as_ref()?;
        let tools = tools.iter().map(|t| (*t).to_owned()).collect();
        shared.world().foreign_run(thread, tools, Instant::now())
    }

    /// `(role, text)` of every message in a thread or conversation, in order.
    pub fn texts(&self, container: &str) -> Vec<(String, String)> {
        self.state.texts(container)
    }
}

impl Drop for ChatSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The server task has nowhere to report to but stderr; it ends only when
/// the listener fails.
#[allow(clippy::print_stderr, reason = "a background server's last words")]
fn tracing_free_log(error: &std::io::Error) {
    eprintln!("chat simulator stopped: {error}");
}
