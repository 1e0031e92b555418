//! The builder that assembles a server and the loop that serves it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tracing::{info, warn};
use turngate_coord::{Coordinator, InboxConfig, MemoryCoordinator, WorkerId};
use turngate_llm::chat::{ChatBackend, ConversationQueue, QueueConfig};
use turngate_llm::realtime::{RealtimeBackend, ToolSpec};
use turngate_llm::tool::ToolHandler;

use crate::config::Config;
use crate::providers::{self, Simulators};
use crate::state::{AppState, Parts, TransportFactory};

/// Why a server could not start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The coordinator could not be reached or set up.
    #[error("coordinator: {0}")]
    Coordinator(#[from] turngate_coord::Error),
    /// A provider could not be set up.
    #[error("{what}: {detail}")]
    Provider {
        /// Which provider.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The listener failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Assembles a [`Server`]: anything not given is built from the
/// configuration (Redis or the in-memory coordinator; the OpenAI providers,
/// or the in-process simulators when no API key is set).
#[derive(Default)]
pub struct ServerBuilder {
    config: Config,
    realtime: Option<Arc<dyn RealtimeBackend>>,
    chat: Option<Arc<dyn ChatBackend>>,
    coordinator: Option<Arc<dyn Coordinator>>,
    tools: Option<(Arc<dyn ToolHandler>, Vec<ToolSpec>)>,
    transports: BTreeMap<String, TransportFactory>,
    worker: Option<WorkerId>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .field("transports", &self.transports.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// A builder for this configuration.
    pub fn new(config: Config) -> ServerBuilder {
        ServerBuilder { config, ..ServerBuilder::default() }
    }

    /// Uses this speech-to-speech backend instead of the configured one.
    pub fn realtime(mut self, backend: Arc<dyn RealtimeBackend>) -> ServerBuilder {
        self.realtime = Some(backend);
        self
    }

    /// Uses this chat backend for `/chat` instead of the configured one.
    pub fn chat(mut self, backend: Arc<dyn ChatBackend>) -> ServerBuilder {
        self.chat = Some(backend);
        self
    }

    /// Uses this coordinator instead of the configured one.
    pub fn coordinator(mut self, coordinator: Arc<dyn Coordinator>) -> ServerBuilder {
        self.coordinator = Some(coordinator);
        self
    }

    /// Runs the application's tools with this handler; `specs` is how the
    /// model is told about them.
    pub fn tools(mut self, tools: Arc<dyn ToolHandler>, specs: Vec<ToolSpec>) -> ServerBuilder {
        self.tools = Some((tools, specs));
        self
    }

    /// Mounts a transport of your own at `GET /{name}` (a WebSocket): the
    /// factory makes one transport per call leg.
    pub fn transport(mut self, name: &str, factory: TransportFactory) -> ServerBuilder {
        self.transports.insert(name.trim_matches('/').to_owned(), factory);
        self
    }

    /// Names this worker in leases (a random id by default).
    pub fn worker(mut self, worker: WorkerId) -> ServerBuilder {
        self.worker = Some(worker);
        self
    }

    /// Sets everything up; the server is ready to serve.
    pub async fn build(self) -> Result<Server, ServerError> {
        let config = self.config;
        config.validate()?;
        let coordinator = match self.coordinator {
            Some(coordinator) => coordinator,
            None => providers::coordinator(&config).await?,
        };
        let worker = self.worker.unwrap_or_else(WorkerId::random);
        let inbox = coordinator.subscribe(&worker, InboxConfig::default()).await?;
        let mut simulators = Simulators::default();
        let simulated = config.uses_simulators();
        let realtime = match self.realtime {
            Some(backend) => backend,
            None => providers::realtime(&config, &mut simulators).await?,
        };
        let chat_backend = match self.chat {
            Some(backend) => Some(backend),
            None => Some(providers::chat(&config, &mut simulators).await?),
        };
        let (tools, tool_specs) = self
            .tools
            .unwrap_or_else(|| (Arc::new(providers::DemoTools), providers::DemoTools::specs()));
        let chat = chat_backend.map(|backend| {
            let queue = QueueConfig {
                max_depth: config.chat.queue_depth,
                timeout: config.chat.request_timeout,
                ..QueueConfig::default()
            };
            Arc::new(ConversationQueue::new(backend, queue))
        });
        warn_about_open_doors(&config);
        let state = Arc::new(AppState::new(Parts {
            config,
            coordinator,
            worker,
            inbox,
            realtime,
            chat,
            tools,
            tool_specs,
            transports: self.transports,
            simulated,
            simulators,
        }));
        Ok(Server { state })
    }
}

/// A built server.
#[derive(Debug)]
pub struct Server {
    state: Arc<AppState>,
}

impl Server {
    /// The shared state (metrics, records, coordinator, …).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serves on `listener` until `shutdown` completes, then drains: stops
    /// taking calls, reports not ready, lets active calls finish up to the
    /// drain deadline, ends the rest, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let state = Arc::clone(&self.state);
        let app = crate::routes::app(Arc::clone(&state));
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
        let drain_state = Arc::clone(&state);
        let drain = async move {
            shutdown.await;
            info!(active_calls = drain_state.active_calls(), "draining");
            drain_state.start_draining();
            let deadline = tokio::time::Instant::now() + drain_state.config.drain_timeout;
            while drain_state.active_calls() > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if drain_state.active_calls() > 0 {
                warn!(
                    active_calls = drain_state.active_calls(),
                    "drain deadline passed; ending calls"
                );
                drain_state.stop_calls();
                let grace = tokio::time::Instant::now() + Duration::from_secs(5);
                while drain_state.active_calls() > 0 && tokio::time::Instant::now() < grace {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let _ = stopped_tx.send(());
        };
        tokio::spawn(drain);
        // Media messages are small and latency-bound: without TCP_NODELAY a
        // message written while an earlier one is unacknowledged waits for
        // the peer's (delayed) ACK, which measured up to 20 ms on the first
        // audio after a speech event.
        let advertising = advertised_url(&state.config, &listener)
            .map(|url| tokio::spawn(crate::driver::advertise(Arc::clone(&state), url)));
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped_rx.await;
            })
            .await;
        if let Some(task) = advertising {
            task.abort();
            crate::driver::withdraw(&state).await;
        }
        served?;
        Ok(())
    }
}

/// Where other workers reach this one: the configured URL, or the listen
/// address when it names one host (a wildcard address names none).
fn advertised_url(config: &Config, listener: &TcpListener) -> Option<String> {
    if !config.advertise_url.is_empty() {
        return Some(config.advertise_url.clone());
    }
    let addr = listener.local_addr().ok()?;
    if addr.ip().is_unspecified() {
        info!(
            "listening on a wildcard address: set advertise_url so other workers can relay resumed calls here"
        );
        return None;
    }
    Some(format!("http://{addr}"))
}

fn warn_about_open_doors(config: &Config) {
    let auth = &config.auth;
    for (key, value) in [
        ("auth.twilio_auth_token", &auth.twilio_auth_token),
        ("auth.telnyx_public_key", &auth.telnyx_public_key),
        ("auth.audiocodes_token", &auth.audiocodes_token),
        ("auth.client_token", &auth.client_token),
    ] {
        if value.is_empty() {
            warn!("{key} is not set: requests on that path are not authenticated");
        }
    }
    if config.uses_simulators() {
        warn!(
            "OPENAI_API_KEY is not set: every call and chat is served by the in-process SIMULATORS, not by a model"
        );
    }
    if config.redis.url.is_empty() {
        info!("no Redis URL: using the in-memory coordinator (one worker only)");
    }
}

/// The in-memory coordinator, for callers that build one themselves.
pub fn memory_coordinator() -> Arc<dyn Coordinator> {
    Arc::new(MemoryCoordinator::new())
}
