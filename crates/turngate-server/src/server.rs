//! The builder that assembles a server and the loop that serves it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tracing::{info, warn};
use turngate_coord::{Coordinator, InboxConfig, MemoryCoordinator, WorkerId};
use turngate_llm::chat::{ChatBackend, ConversationQueue, QueueConfig};
use turngate_llm::realtime::{RealtimeBackend, ToolSpec};
use turngate_llm::tool::ToolHandler;

use crate::config::Config;
use crate::providers::{self, Simulators};
use crate::state::{AppState, Parts, TransportFactory, TransportRoute};

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
    /// A configured model is unknown to the model API or already shut down.
    #[error("model check: {0}")]
    Models(String),
    /// The listener failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
    /// The admin listener could not be bound.
    #[error("binding admin_listen {addr}: {source}")]
    AdminListen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
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
    transports: BTreeMap<String, TransportRoute>,
    worker: Option<WorkerId>,
    sip_router: Option<Arc<dyn crate::sip::SipRouter>>,
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
    /// factory makes one transport per call leg. The route checks no
    /// credential: the server serves it on loopback only, unless
    /// `auth.allow_unauthenticated` is set. Prefer
    /// [`authenticated_transport`](Self::authenticated_transport).
    pub fn transport(mut self, name: &str, factory: TransportFactory) -> ServerBuilder {
        self.transports
            .insert(name.trim_matches('/').to_owned(), TransportRoute { factory, token: None });
        self
    }

    /// Mounts a transport of your own at `GET /{name}`, whose upgrade must
    /// carry `Authorization: Bearer <token>`.
    pub fn authenticated_transport(
        mut self,
        name: &str,
        token: impl Into<String>,
        factory: TransportFactory,
    ) -> ServerBuilder {
        let route = TransportRoute { factory, token: Some(token.into()) };
        self.transports.insert(name.trim_matches('/').to_owned(), route);
        self
    }

    /// Decides on direct-SIP calls (`/openai/webhook`) with this router
    /// instead of accepting every one as configured.
    pub fn sip_router(mut self, router: Arc<dyn crate::sip::SipRouter>) -> ServerBuilder {
        self.sip_router = Some(router);
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
        // Refuse an exposed open door before anything is started.
        let open_routes = unauthenticated_routes(&self.transports);
        let main = config.listen_addr()?;
        let admin = config.admin_addr()?;
        let doors = config.check_exposure(&main, admin.as_ref(), &open_routes)?;
        let tls = crate::tls::Tls::load(&config.tls)?;
        crate::model_check::run(&config).await?;
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
        warn_about_open_doors(&config, &doors);
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
            sip_router: self.sip_router.unwrap_or_else(|| Arc::new(crate::sip::AcceptAll)),
            simulated,
            simulators,
            tls,
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
        // The addresses actually listened on decide, whatever the
        // configuration said: a caller may bind its own listener.
        let main = listener.local_addr()?;
        let admin_listener = match state.config.admin_addr()? {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::AdminListen { addr, source })?,
            ),
            None => None,
        };
        let admin = match &admin_listener {
            Some(listener) => Some(listener.local_addr()?),
            None => None,
        };
        state.config.check_exposure(
            &main,
            admin.as_ref(),
            &unauthenticated_routes(&state.transports),
        )?;
        let app = crate::routes::app(Arc::clone(&state));
        let (stopped_tx, stopped_rx) = tokio::sync::watch::channel(false);
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
            let _ = stopped_tx.send(true);
        };
        tokio::spawn(drain);
        let advertising = advertised_url(&state.config, &listener)
            .map(|url| tokio::spawn(crate::driver::advertise(Arc::clone(&state), url)));
        let limits = crate::http::HttpLimits {
            max_connections: state.config.limits.max_connections,
            header_read_timeout: state.config.limits.header_read_timeout,
        };
        let tls = state.tls.server.clone().map(tokio_rustls::TlsAcceptor::from);
        let admin_task = admin_listener.map(|listener| {
            info!(addr = ?admin, "operator routes on their own listener");
            let app = crate::routes::admin_app(Arc::clone(&state));
            let metrics = Arc::clone(&state.metrics);
            let stopped = stopped_rx.clone();
            let tls = tls.clone();
            tokio::spawn(crate::http::serve(
                listener,
                app,
                crate::http::Serving { limits, tls, metrics },
                stopped_when(stopped),
            ))
        });
        let serving = crate::http::Serving { limits, tls, metrics: Arc::clone(&state.metrics) };
        let served = crate::http::serve(listener, app, serving, stopped_when(stopped_rx)).await;
        if let Some(task) = admin_task {
            let _ = task.await;
        }
        if let Some(task) = advertising {
            task.abort();
            crate::driver::withdraw(&state).await;
        }
        served?;
        Ok(())
    }
}

/// Resolves once the drain says the server has stopped.
async fn stopped_when(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stopped| *stopped).await;
}

/// The routes of transports registered without a token.
fn unauthenticated_routes(transports: &BTreeMap<String, TransportRoute>) -> Vec<String> {
    transports
        .iter()
        .filter(|(_, route)| route.token.is_none())
        .map(|(name, _)| format!("/{name}"))
        .collect()
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
    let scheme = if config.tls.cert_file.is_empty() { "http" } else { "https" };
    Some(format!("{scheme}://{addr}"))
}

fn warn_about_open_doors(config: &Config, doors: &crate::config::OpenDoors) {
    for door in &doors.0 {
        warn!(routes = %door.routes, fix = %door.fix, "an unauthenticated door is served");
    }
    if config.auth.allow_unauthenticated && !doors.0.is_empty() {
        warn!(
            "auth.allow_unauthenticated is set: the doors above are open to whoever can reach them"
        );
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
