//! The HTTP and WebSocket surface. `app(state)` builds the router, so tests
//! can call it as a service without a socket.
//!
//! Every door that reaches a call, a transcript or a model session checks
//! its credential before anything else happens: before a WebSocket is
//! upgraded, before a body is parsed, before a call is counted.

mod audiocodes;
mod calls;
pub(crate) mod chat;
mod health;
mod openai_sip;
mod session;
mod telnyx;
mod twilio;
mod util;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::driver::{Admission, run_call};
use crate::http::{BodyLimits, PeerAddr, read_body_in_time};
use crate::state::{AppState, TransportRoute};

/// The WebSocket read buffer of a call's socket.
const READ_BUFFER: usize = 4 * 1024;

/// Every route the main listener serves: the configured public endpoints,
/// transports registered through the builder, health, and the operator
/// routes unless an admin listener serves them.
pub fn app(state: Arc<AppState>) -> Router {
    let config = &state.config;
    let mut router = health_routes();
    if config.serves("twilio") {
        router = router
            .route("/twilio", get(twilio::stream))
            .route("/twilio/voice", post(twilio::voice));
    }
    if config.serves("telnyx") {
        router = router
            .route("/telnyx", get(telnyx::stream))
            .route("/telnyx/webhook", post(telnyx::webhook));
    }
    if config.serves("audiocodes") {
        router = router.route("/audiocodes", get(audiocodes::stream));
    }
    if state.config.serves("openai_sip") {
        router = router.route("/openai/webhook", post(openai_sip::webhook));
    }
    if config.serves("chat") {
        router = router.route("/chat", post(chat::chat));
    }
    if config.serves("session") {
        router = router
            .route("/session", get(session::connect))
            .route("/session/{id}/confirm", post(session::confirm))
            .route("/session/{id}/publish", post(session::publish));
    }
    for (name, route) in &state.transports {
        let route = route.clone();
        router = router.route(
            &format!("/{name}"),
            get(
                move |state: State<Arc<AppState>>,
                      peer: PeerAddr,
                      headers: HeaderMap,
                      ws: WebSocketUpgrade| {
                    custom_stream(state, peer, headers, ws, route.clone())
                },
            ),
        );
    }
    if config.admin_listen.is_empty() {
        router = router.merge(operator_routes());
    }
    finish(router, state)
}

/// The admin listener's routes: health, metrics and recent calls only.
pub fn admin_app(state: Arc<AppState>) -> Router {
    finish(health_routes().merge(operator_routes()), state)
}

fn health_routes() -> Router<Arc<AppState>> {
    Router::new().route("/healthz", get(health::live)).route("/readyz", get(health::ready))
}

fn operator_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/metrics", get(health::metrics))
        .route("/calls", get(calls::list))
        .route("/calls/{id}", get(calls::get))
}

/// The body limits every route shares, then the state.
fn finish(router: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    let limits = BodyLimits {
        max_bytes: state.config.limits.max_body_bytes,
        timeout: state.config.limits.body_read_timeout,
    };
    router
        .layer(axum::middleware::from_fn_with_state(limits, read_body_in_time))
        .layer(DefaultBodyLimit::max(limits.max_bytes))
        .with_state(state)
}

/// A transport registered through the builder, on its own path.
async fn custom_stream(
    State(state): State<Arc<AppState>>,
    peer: PeerAddr,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
    route: TransportRoute,
) -> Response {
    if let Some(token) = &route.token
        && !util::bearer_ok(&headers, token)
    {
        state.metrics.refused.inc("unauthorized");
        return util::unauthorized("a valid bearer token");
    }
    let factory = route.factory;
    let door = Door { peer, authenticated: route.token.is_some(), relayed: false };
    upgrade(state, ws, door, move |now| factory(now))
}

/// What the route learned about the socket before it was upgraded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Door {
    /// Where it came from.
    pub(crate) peer: PeerAddr,
    /// True when the upgrade carried the door's configured credential (not
    /// merely "no credential was configured").
    pub(crate) authenticated: bool,
    /// True when another worker relays this socket (a relayed resume is
    /// never relayed again).
    pub(crate) relayed: bool,
}

/// Admits a call and hands the upgraded socket to its task. A peer
/// address with too many sockets that have not started a call yet is
/// refused, as is any call while the server drains or is full.
pub(crate) fn upgrade(
    state: Arc<AppState>,
    ws: WebSocketUpgrade,
    door: Door,
    make: impl FnOnce(Instant) -> Box<dyn turngate_telephony::Transport> + Send + 'static,
) -> Response {
    let Some(pending) = state.pending_upgrades.enter(door.peer.0.map(|a| a.ip())) else {
        state.metrics.refused.inc("pending_upgrades");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many connections from this address are still starting\n",
        )
            .into_response();
    };
    let Some(slot) = state.admit_call() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "not accepting calls: draining or at capacity\n")
            .into_response();
    };
    let max = state.config.limits.max_frame_bytes;
    let admission =
        Admission { slot, pending, relayed: door.relayed, authenticated: door.authenticated };
    // tungstenite zero-fills its whole read buffer before every read; at
    // the 128 KiB default that memset was a fifth of the server's CPU under
    // load. Media messages are a few hundred bytes, and a larger message
    // still grows the buffer as it needs.
    let ws = ws.read_buffer_size(READ_BUFFER);
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| async move {
        let transport = make(Instant::now());
        run_call(state, socket, transport, admission).await;
    })
}
