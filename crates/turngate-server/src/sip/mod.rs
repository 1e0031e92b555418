//! Direct SIP: the accept decision for a call whose audio goes straight from
//! the carrier to OpenAI, made once per call across every worker.
//!
//! OpenAI delivers each incoming-call webhook at least once, to whichever
//! worker the load balancer picks, retries it on any non-2xx, and one
//! pending call can raise both `realtime.call.incoming` and
//! `live.transport.incoming`; whichever accept succeeds first selects the
//! API that runs the call (openai-python 3.57.0, the two events'
//! docstrings). So after the route has verified a webhook and answered it,
//! this module:
//!
//! 1. drops a delivery whose `webhook-id` was seen before (the id stays the
//!    same across retries, per OpenAI's webhook guide);
//! 2. acts only on the event of the configured voice API, so the other
//!    surface's event for the same call can never race it;
//! 3. claims the call in the coordinator, keyed by the INVITE's `Call-ID`
//!    header (which both events of one call carry) or else the call's own
//!    id: one worker wins, every other records the call as decided
//!    elsewhere;
//! 4. asks the app's [`SipRouter`] (default: accept as configured) and
//!    sends that one decision (accept, reject or refer), retrying only when
//!    the answer says it may help (5xx, 429), and reading any other 4xx as
//!    "someone else owns this call, or it is gone".
//!
//! Nothing here drives the call after the accept: the sideband that would
//! is not built yet, so the model runs the call on the instructions, voice
//! and model given in the accept.

mod router;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracing::{info, warn};
use turngate_coord::SessionId;
use turngate_llm::sip::{
    ControlError, ControlOutcome, ControlRequest, LiveSessionId, RealtimeCallId, WebhookEvent,
    WebhookKind,
};

pub use router::{AcceptAll, IncomingSipCall, SipDecision, SipRouter};

use crate::config::VoiceApi;
use crate::state::AppState;

/// The longest the app's router may take over a ringing call.
pub const ROUTER_TIMEOUT: Duration = Duration::from_secs(3);
/// The SIP status a call gets when the router does not answer in time
/// (480 Temporarily Unavailable, RFC 3261 §21.4.18).
const ROUTER_LATE_STATUS: u16 = 480;

/// How long a webhook id or a call's claim is remembered: OpenAI retries a
/// failed delivery for up to three days (as a third-party summary of its
/// guide reports; the figure is not confirmed), so a retry after that
/// window is the only one that could be acted on twice.
const REMEMBERED: Duration = Duration::from_secs(72 * 60 * 60);
/// The longest one coordinator operation may take before the decision is
/// given up (the webhook was answered already; OpenAI's retry comes back).
const COORDINATOR_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest one accept request may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts at an accept that failed in a way that may pass.
const ATTEMPTS: u32 = 3;

/// What became of one verified webhook, for the metric and the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Not an incoming call (or not one this server takes).
    Ignored,
    /// A delivery of a webhook already handled here or elsewhere.
    Duplicate,
    /// The incoming-call event of the voice API this server does not run.
    OtherSurface,
    /// Another worker (or an earlier delivery) claimed the call.
    Elsewhere,
    /// Accepted by this worker.
    Accepted,
    /// Rejected by this worker, as the router decided (or because it was late).
    Rejected,
    /// Referred elsewhere by this worker, as the router decided.
    Referred,
    /// The accept was refused with a 4xx: the call is someone else's or gone.
    NotOurs,
    /// The accept could not be made (the coordinator or the API failed).
    Failed,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ignored => "ignored",
            Outcome::Duplicate => "duplicate",
            Outcome::OtherSurface => "other_surface",
            Outcome::Elsewhere => "elsewhere",
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Referred => "referred",
            Outcome::NotOurs => "not_ours",
            Outcome::Failed => "failed",
        }
    }
}

/// Decides on one verified webhook; runs after its delivery was answered.
pub(crate) async fn decide(state: Arc<AppState>, webhook_id: String, event: WebhookEvent) {
    let outcome = decision(&state, &webhook_id, &event).await;
    state.metrics.sip_webhooks.inc(outcome.as_str());
    info!(webhook = %webhook_id, event = event.event_type(), outcome = outcome.as_str(), "SIP webhook");
}

async fn decision(state: &Arc<AppState>, webhook_id: &str, event: &WebhookEvent) -> Outcome {
    let voice_api = state.config.openai.voice_api;
    let (call, pending) = match (&event.kind, voice_api) {
        (WebhookKind::RealtimeCallIncoming(call), VoiceApi::Realtime) => {
            (call.call_id.as_str().to_owned(), Pending::Realtime(&call.call_id, &call.sip.headers))
        }
        (
            WebhookKind::LiveTransportIncoming(call) | WebhookKind::LiveCallIncoming(call),
            VoiceApi::Live,
        ) => (
            call.session_id.as_str().to_owned(),
            Pending::Live(&call.session_id, &call.sip.headers),
        ),
        (WebhookKind::RealtimeCallIncoming(_), VoiceApi::Live)
        | (
            WebhookKind::LiveTransportIncoming(_) | WebhookKind::LiveCallIncoming(_),
            VoiceApi::Realtime,
        ) => return Outcome::OtherSurface,
        _ => return Outcome::Ignored,
    };
    let scope = scope();
    match first(state, &scope, &format!("webhook:{webhook_id}")).await {
        Some(true) => {}
        Some(false) => return Outcome::Duplicate,
        None => return Outcome::Failed,
    }
    let key = event.sip_invite().and_then(|sip| sip.call_id()).unwrap_or(&call).to_owned();
    let record = state.records.start(&format!("sip:{call}"), "openai-sip", Instant::now());
    let note = |kind: &str, text: String| {
        if let Ok(mut record) = record.lock() {
            record.push(Instant::now(), kind, text);
        }
    };
    note("webhook", format!("{} {webhook_id}", event.event_type()));
    match first(state, &scope, &format!("call:{key}")).await {
        Some(true) => {}
        Some(false) => {
            note("ended", "decided_elsewhere".to_owned());
            return Outcome::Elsewhere;
        }
        None => {
            note("ended", "coordinator_unavailable".to_owned());
            return Outcome::Failed;
        }
    }
    let incoming = IncomingSipCall { voice_api, call_id: &call, headers: pending.headers() };
    let routed = tokio::time::timeout(ROUTER_TIMEOUT, state.sip_router.route(&incoming)).await;
    let decision = routed.unwrap_or_else(|_| {
        warn!(call = %call, "the SIP router did not answer in time; rejecting the call");
        note("router_late", format!("{ROUTER_TIMEOUT:?}"));
        SipDecision::Reject { status_code: ROUTER_LATE_STATUS }
    });
    note("decision", format!("{decision:?}"));
    let request = match pending.request(state, &decision) {
        Ok(request) => request,
        Err(error) => {
            warn!(%error, "the SIP decision cannot be sent");
            note("ended", format!("decision_invalid: {error}"));
            return Outcome::Failed;
        }
    };
    let outcome = match (send(state, &request).await, &decision) {
        (Outcome::Accepted, SipDecision::Reject { .. }) => Outcome::Rejected,
        (Outcome::Accepted, SipDecision::Refer { .. }) => Outcome::Referred,
        (outcome, _) => outcome,
    };
    note("ended", outcome.as_str().to_owned());
    outcome
}

/// A claimed call waiting for its control, on the surface it runs on.
enum Pending<'a> {
    Realtime(&'a RealtimeCallId, &'a [turngate_llm::sip::SipHeader]),
    Live(&'a LiveSessionId, &'a [turngate_llm::sip::SipHeader]),
}

impl Pending<'_> {
    fn headers(&self) -> &[turngate_llm::sip::SipHeader] {
        match self {
            Pending::Realtime(_, headers) | Pending::Live(_, headers) => headers,
        }
    }

    /// The one call control that carries out `decision`.
    fn request(
        &self,
        state: &AppState,
        decision: &SipDecision,
    ) -> Result<ControlRequest, ControlError> {
        match (self, decision) {
            (Pending::Realtime(id, _), SipDecision::Accept) => id.accept(realtime_session(state)),
            (Pending::Live(id, _), SipDecision::Accept) => id.accept(live_session(state)),
            (Pending::Realtime(id, _), SipDecision::AcceptWith(session)) => {
                id.accept(session.clone())
            }
            (Pending::Live(id, _), SipDecision::AcceptWith(session)) => id.accept(session.clone()),
            (Pending::Realtime(id, _), SipDecision::Reject { status_code }) => {
                id.reject(Some(*status_code))
            }
            (Pending::Live(id, _), SipDecision::Reject { status_code }) => id.reject(*status_code),
            (Pending::Realtime(id, _), SipDecision::Refer { target_uri }) => id.refer(target_uri),
            (Pending::Live(id, _), SipDecision::Refer { target_uri }) => id.refer(target_uri),
        }
    }
}

/// True when this is the first time `name` is counted (the claim is ours),
/// false when it was counted before; `None` when the coordinator did not
/// answer in time.
async fn first(state: &AppState, scope: &SessionId, name: &str) -> Option<bool> {
    let count = state.coordinator.incr(scope, name, 1, REMEMBERED);
    match tokio::time::timeout(COORDINATOR_TIMEOUT, count).await {
        Ok(Ok(count)) => Some(count == 1),
        Ok(Err(error)) => {
            warn!(%error, name, "SIP claim failed");
            None
        }
        Err(_) => {
            warn!(name, "SIP claim got no answer in time");
            None
        }
    }
}

/// Every SIP claim lives in one coordinator scope.
fn scope() -> SessionId {
    SessionId::new("openai-sip").unwrap_or_else(|_| unreachable!("a fixed, valid scope name"))
}

/// Sends one call control, again only after an answer that says it may pass.
async fn send(state: &AppState, request: &ControlRequest) -> Outcome {
    let base = state.config.openai.base_url.trim_end_matches('/');
    // The base URL names the API version (`…/v1`); the request's path does too.
    let path = request.path.strip_prefix("/v1").unwrap_or(&request.path);
    let url = format!("{base}{path}");
    let mut delay = Duration::from_millis(250);
    for attempt in 1..=ATTEMPTS {
        let mut builder = state
            .http
            .post(&url)
            .bearer_auth(&state.config.openai.api_key)
            .timeout(CONTROL_TIMEOUT);
        if let Some(body) = request.body_json() {
            builder = builder.header("content-type", "application/json").body(body);
        }
        let status = match builder.send().await {
            Ok(response) => response.status().as_u16(),
            Err(error) => {
                warn!(%error, attempt, action = request.action.as_str(), "SIP call control failed");
                // A timeout may have been acted on: only a connection that
                // never reached the API is safe to try again.
                if error.is_connect() && attempt < ATTEMPTS {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    continue;
                }
                return Outcome::Failed;
            }
        };
        match turngate_llm::sip::classify_control_status(status) {
            ControlOutcome::Ok => return Outcome::Accepted,
            ControlOutcome::NotOurs => return Outcome::NotOurs,
            ControlOutcome::Retry if attempt < ATTEMPTS => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            ControlOutcome::Retry | ControlOutcome::Other => {
                warn!(status, action = request.action.as_str(), "SIP call control refused");
                return Outcome::Failed;
            }
        }
    }
    Outcome::Failed
}

/// The Realtime session an accepted call runs: the configured model (the
/// `model` of `openai.realtime_url`), instructions and voice.
fn realtime_session(state: &AppState) -> Value {
    let openai = &state.config.openai;
    let model = openai.realtime_model();
    let mut session = serde_json::Map::new();
    session.insert("type".to_owned(), json!("realtime"));
    if let Some(model) = model {
        session.insert("model".to_owned(), json!(model));
    }
    session.insert("instructions".to_owned(), json!(openai.instructions));
    session.insert("audio".to_owned(), json!({"output": {"voice": openai.voice}}));
    Value::Object(session)
}

/// The GPT-Live session an accepted call runs (no audio format: SIP
/// negotiates it).
fn live_session(state: &AppState) -> Value {
    let openai = &state.config.openai;
    json!({
        "type": "live",
        "model": openai.live_model,
        "instructions": openai.instructions,
        "audio": {"output": {"voice": openai.voice}},
    })
}
