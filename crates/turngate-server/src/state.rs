//! What every request handler and call task shares.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::watch;
use turngate_coord::{Coordinator, Inbox, WorkerId};
use turngate_llm::chat::{ChatBackend, ConversationQueue};
use turngate_llm::realtime::{RealtimeBackend, ToolSpec};
use turngate_llm::tool::ToolHandler;
use turngate_telephony::Transport;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::providers::Simulators;
use crate::record::Records;
use crate::sessions::Sessions;

/// Makes the transport for one new call leg.
pub type TransportFactory = Arc<dyn Fn(Instant) -> Box<dyn Transport> + Send + Sync>;

/// A transport registered through the builder, with the bearer token its
/// upgrade must carry (none: an open door, which the server refuses to
/// serve off loopback unless told to).
#[derive(Clone)]
pub struct TransportRoute {
    /// Makes one transport per call leg.
    pub factory: TransportFactory,
    /// The bearer token the upgrade must carry, if any.
    pub token: Option<String>,
}

impl fmt::Debug for TransportRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportRoute")
            .field("authenticated", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

/// The server's shared state.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// Every metric.
    pub metrics: Arc<Metrics>,
    /// Cross-worker coordination (in memory or Redis).
    pub coordinator: Arc<dyn Coordinator>,
    /// This worker's id, the owner named in leases.
    pub worker: WorkerId,
    /// This worker's inbox: signals for the sessions it owns.
    pub inbox: Inbox,
    /// The speech-to-speech model.
    pub realtime: Arc<dyn RealtimeBackend>,
    /// The chat model behind `/chat`, with its per-conversation queues.
    pub chat: Option<Arc<ConversationQueue<dyn ChatBackend>>>,
    /// The application's tools.
    pub tools: Arc<dyn ToolHandler>,
    /// The tools as the model is told about them.
    pub tool_specs: Vec<ToolSpec>,
    /// Recent calls.
    pub records: Records,
    /// Live app-client sessions.
    pub sessions: Arc<Sessions>,
    /// Transports registered by name; each is mounted at `GET /{name}`.
    pub transports: BTreeMap<String, TransportRoute>,
    /// True when the simulators stand in for the upstream APIs.
    pub simulated: bool,
    /// The in-process simulators, when they serve.
    pub simulators: Simulators,
    /// An HTTP client for provider APIs (Telnyx hang-ups).
    pub http: reqwest::Client,
    /// Calls on this worker that a new socket may resume.
    pub(crate) resumable: Arc<crate::driver::Resumable>,
    /// The Telnyx webhook verifier, built once at start from a key the
    /// configuration already checked.
    pub(crate) telnyx_verifier: Option<turngate_telephony::telnyx::WebhookVerifier>,
    /// Verifies OpenAI's SIP call webhooks, when a secret is configured.
    pub(crate) sip_verifier: Option<turngate_llm::sip::WebhookVerifier>,
    /// The app's decision on each direct-SIP call.
    pub(crate) sip_router: Arc<dyn crate::sip::SipRouter>,
    /// TLS for the listeners and for relays to other workers.
    pub(crate) tls: crate::tls::Tls,
    /// The calls live on this worker, by session key.
    pub(crate) live_calls: Arc<crate::admission::LiveCalls>,
    /// WebSockets per peer address that have not started anything yet.
    pub(crate) pending_upgrades: Arc<crate::admission::PendingUpgrades>,
    /// App-client connections open on this worker.
    pub(crate) client_connections: Arc<crate::admission::Capped>,
    draining: AtomicBool,
    active_calls: AtomicUsize,
    stop: watch::Sender<bool>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("worker", &self.worker)
            .field("simulated", &self.simulated)
            .field("draining", &self.is_draining())
            .field("active_calls", &self.active_calls())
            .finish_non_exhaustive()
    }
}

/// Everything an [`AppState`] is made of.
pub(crate) struct Parts {
    pub(crate) config: Config,
    pub(crate) coordinator: Arc<dyn Coordinator>,
    pub(crate) worker: WorkerId,
    pub(crate) inbox: Inbox,
    pub(crate) realtime: Arc<dyn RealtimeBackend>,
    pub(crate) chat: Option<Arc<ConversationQueue<dyn ChatBackend>>>,
    pub(crate) tools: Arc<dyn ToolHandler>,
    pub(crate) tool_specs: Vec<ToolSpec>,
    pub(crate) transports: BTreeMap<String, TransportRoute>,
    pub(crate) sip_router: Arc<dyn crate::sip::SipRouter>,
    pub(crate) simulated: bool,
    pub(crate) simulators: Simulators,
    pub(crate) tls: crate::tls::Tls,
}

impl AppState {
    pub(crate) fn new(parts: Parts) -> AppState {
        let (stop, _) = watch::channel(false);
        let limits = &parts.config.limits;
        let telnyx_verifier = (!parts.config.auth.telnyx_public_key.is_empty())
            .then(|| {
                turngate_telephony::telnyx::WebhookVerifier::from_base64(
                    &parts.config.auth.telnyx_public_key,
                )
                .ok()
            })
            .flatten();
        // The configuration was validated, so a set secret builds.
        let secret = &parts.config.openai.webhook_secret;
        let sip_verifier = (!secret.trim().is_empty())
            .then(|| {
                turngate_llm::sip::WebhookVerifier::with_secrets(secret.split_whitespace()).ok()
            })
            .flatten();
        let pending_upgrades =
            Arc::new(crate::admission::PendingUpgrades::new(limits.max_pending_upgrades_per_ip));
        let client_connections =
            Arc::new(crate::admission::Capped::new(limits.max_client_connections));
        let max_sessions = limits.max_sessions;
        AppState {
            config: parts.config,
            metrics: Arc::new(Metrics::default()),
            coordinator: parts.coordinator,
            worker: parts.worker,
            inbox: parts.inbox,
            realtime: parts.realtime,
            chat: parts.chat,
            tools: parts.tools,
            tool_specs: parts.tool_specs,
            records: Records::new(256),
            sessions: Arc::new(Sessions::new(max_sessions)),
            transports: parts.transports,
            simulated: parts.simulated,
            simulators: parts.simulators,
            http: http_client(),
            resumable: Arc::default(),
            telnyx_verifier,
            sip_verifier,
            sip_router: parts.sip_router,
            tls: parts.tls,
            live_calls: Arc::default(),
            pending_upgrades,
            client_connections,
            draining: AtomicBool::new(false),
            active_calls: AtomicUsize::new(0),
            stop,
        }
    }

    /// True once shutdown began: no new calls, not ready.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Starts draining.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Calls in progress on this worker.
    pub fn active_calls(&self) -> usize {
        self.active_calls.load(Ordering::SeqCst)
    }

    /// Tells every call still running to end now.
    pub fn stop_calls(&self) {
        self.stop.send_replace(true);
    }

    /// A receiver that flips to true when calls must stop.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// What the simulated upstream saw, when simulators serve.
    pub fn simulated_upstream(&self) -> UpstreamReport {
        let mut report = UpstreamReport::default();
        if let Some(realtime) = &self.simulators.realtime {
            let counts = realtime.counts();
            report.conflicts = counts.conflicts;
            report.violations = counts.violations();
            report.details = realtime.record().details();
        }
        if let Some(live) = &self.simulators.live {
            let record = live.record();
            let violations = record.violations();
            report.violations += violations.len() as u64;
            report.details.extend(violations.iter().map(|v| format!("{v:?}")));
        }
        if let Some(chat) = &self.simulators.chat {
            report.chat_violations = chat.violations().total();
        }
        report
    }

    /// Counts a call in; `None` when the server refuses new calls.
    pub(crate) fn admit_call(self: &Arc<Self>) -> Option<CallSlot> {
        if self.is_draining() {
            return None;
        }
        let before = self.active_calls.fetch_add(1, Ordering::SeqCst);
        if before >= self.config.limits.max_calls {
            self.active_calls.fetch_sub(1, Ordering::SeqCst);
            self.metrics.refused.inc("capacity");
            return None;
        }
        self.metrics.active_calls.add(1);
        Some(CallSlot { state: Arc::clone(self) })
    }
}

/// A call counted in; counted out when dropped, however the call ends.
#[derive(Debug)]
pub(crate) struct CallSlot {
    state: Arc<AppState>,
}

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.state.active_calls.fetch_sub(1, Ordering::SeqCst);
        self.state.metrics.active_calls.add(-1);
    }
}

/// What the simulated upstream APIs saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamReport {
    /// Creates refused because a response was active.
    pub conflicts: u64,
    /// Every Realtime rule broken, conflicts included.
    pub violations: u64,
    /// What they were.
    pub details: Vec<String>,
    /// Chat API rules broken.
    pub chat_violations: u64,
}

/// A client for provider APIs; reqwest is built without a default TLS
/// provider, and ring is ours.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}
