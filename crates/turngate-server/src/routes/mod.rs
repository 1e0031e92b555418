//! The HTTP and WebSocket surface. `app(state)` builds the router, so tests
//! can call it as a service without a socket.

mod audiocodes;
mod calls;
mod chat;
mod health;
mod session;
mod telnyx;
mod twilio;
mod util;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::driver::run_call;
use crate::state::{AppState, TransportFactory};

/// The WebSocket read buffer of a call's socket.
const READ_BUFFER: usize = 4 * 1024;

/// Every route, with the body limit applied.
pub fn app(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/twilio", get(twilio::stream))
        .route("/twilio/voice", post(twilio::voice))
        .route("/telnyx", get(telnyx::stream))
        .route("/telnyx/webhook", post(telnyx::webhook))
        .route("/audiocodes", get(audiocodes::stream))
        .route("/chat", post(chat::chat))
        .route("/session", get(session::connect))
        .route("/session/{id}/confirm", post(session::confirm))
        .route("/session/{id}/publish", post(session::publish))
        .route("/calls", get(calls::list))
        .route("/calls/{id}", get(calls::get));
    for (name, factory) in &state.transports {
        let factory = Arc::clone(factory);
        router = router.route(
            &format!("/{name}"),
            get(move |state: State<Arc<AppState>>, ws: WebSocketUpgrade| {
                custom_stream(state, ws, Arc::clone(&factory))
            }),
        );
    }
    let limit = state.config.limits.max_body_bytes;
    router.layer(DefaultBodyLimit::max(limit)).with_state(state)
}

/// A transport registered through the builder, on its own path.
async fn custom_stream(
    State(state): State<Arc<AppState>>,
    ws: WebSocketUpgrade,
    factory: TransportFactory,
) -> Response {
    upgrade(state, ws, move |now| factory(now))
}

/// Admits a call and hands the upgraded socket to its task.
pub(crate) fn upgrade(
    state: Arc<AppState>,
    ws: WebSocketUpgrade,
    make: impl FnOnce(Instant) -> Box<dyn turngate_telephony::Transport> + Send + 'static,
) -> Response {
    upgrade_relayed(state, ws, make, false)
}

/// [`upgrade`], saying whether another worker relays this socket (a
/// relayed resume is never relayed again).
pub(crate) fn upgrade_relayed(
    state: Arc<AppState>,
    ws: WebSocketUpgrade,
    make: impl FnOnce(Instant) -> Box<dyn turngate_telephony::Transport> + Send + 'static,
    relayed: bool,
) -> Response {
    let Some(slot) = state.admit_call() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "not accepting calls: draining or at capacity\n")
            .into_response();
    };
    let max = state.config.limits.max_frame_bytes;
    // tungstenite zero-fills its whole read buffer before every read; at
    // the 128 KiB default that memset was a fifth of the server's CPU under
    // load (PERFORMANCE.md). Media messages are a few hundred bytes, and a
    // larger message still grows the buffer as it needs.
    let ws = ws.read_buffer_size(READ_BUFFER);
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| async move {
        let transport = make(Instant::now());
        run_call(state, socket, transport, slot, relayed).await;
    })
}
