//! Telnyx: the media stream, and Call Control webhooks routed to the worker
//! that owns the call.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::{debug, warn};
use turngate_coord::{SessionId, Signal};
use turngate_telephony::telnyx::{TelnyxConfig, TelnyxTransport, decode_webhook};
use turngate_telephony::{Limits, WireErrorKind};

use super::util::{header_token_ok, unauthorized};
use super::{Door, upgrade};
use crate::driver::{session_key, signal_for};
use crate::http::PeerAddr;
use crate::state::AppState;

/// The header carrying the stream's auth token on the upgrade: the
/// `stream_auth_token` given to `streaming_start` (or dial/answer)
/// (https://developers.telnyx.com/api/call-control/start-call-streaming).
const STREAM_TOKEN: &str = "x-telnyx-streaming-auth-token";

/// `GET /telnyx`: the media stream of one call, once its token checks out.
pub(super) async fn stream(
    State(state): State<Arc<AppState>>,
    peer: PeerAddr,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token = &state.config.auth.telnyx_stream_token;
    if !header_token_ok(&headers, STREAM_TOKEN, token) {
        state.metrics.refused.inc("unauthorized");
        return unauthorized(&format!("a valid `{STREAM_TOKEN}` header"));
    }
    let config = TelnyxConfig {
        limits: Limits { max_frame_bytes: state.config.limits.max_frame_bytes },
        ..TelnyxConfig::default()
    };
    let door = Door { peer, authenticated: !token.is_empty(), relayed: false };
    upgrade(state, ws, door, move |now| Box::new(TelnyxTransport::new(config, now)))
}

/// `POST /telnyx/webhook`: verifies the signature over the raw body, decodes
/// the event and signals the call's owner, on whichever worker it is.
///
/// - Without a configured public key nothing can be verified, so nothing
///   acts: the request is refused with 403 and a body that says why.
/// - A bad signature is 401; nothing of the body is read.
/// - An event type this server does not know is answered 204 and counted:
///   Telnyx retries every non-2xx answer, and a retry would not help.
/// - A coordinator failure answers 503 so Telnyx retries; retries carry
///   the same event id, which de-duplicates them.
pub(super) async fn webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(verifier) = &state.telnyx_verifier else {
        state.metrics.webhooks.inc("unverified");
        return (
            StatusCode::FORBIDDEN,
            "auth.telnyx_public_key is not set: webhooks cannot be verified, so none is acted on\n",
        )
            .into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(error) = verifier.verify(
        header("telnyx-signature-ed25519"),
        header("telnyx-timestamp"),
        &body,
        SystemTime::now(),
    ) {
        state.metrics.webhooks.inc("unverified");
        state.metrics.refused.inc("unauthorized");
        return (StatusCode::UNAUTHORIZED, format!("{error}\n")).into_response();
    }
    let limits = Limits { max_frame_bytes: state.config.limits.max_body_bytes };
    let event = match decode_webhook(&body, &limits) {
        Ok(event) => event,
        Err(error) if error.kind() == WireErrorKind::Unknown => {
            state.metrics.webhooks.inc("unknown_event");
            debug!(%error, "webhook of a kind this server does not act on");
            return StatusCode::NO_CONTENT.into_response();
        }
        Err(error) => {
            state.metrics.webhooks.inc("malformed");
            state.metrics.protocol_errors.inc("telnyx");
            return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response();
        }
    };
    let Some(kind) = event.input.as_ref().and_then(signal_for) else {
        state.metrics.webhooks.inc("no_action");
        debug!(event = ?event.event, "webhook needs no action");
        return StatusCode::NO_CONTENT.into_response();
    };
    let Ok(session) = SessionId::new(session_key("telnyx", &event.call_control_id)) else {
        state.metrics.webhooks.inc("malformed");
        return (StatusCode::BAD_REQUEST, "unusable call_control_id\n").into_response();
    };
    // The event id travels as the payload too, so the call's timeline can
    // name the webhook that reached it.
    let payload = event.event_id.as_bytes().to_vec();
    let signal = match Signal::new(kind, payload).and_then(|s| s.with_dedup_key(&event.event_id)) {
        Ok(signal) => signal,
        Err(error) => {
            state.metrics.webhooks.inc("malformed");
            return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response();
        }
    };
    match state.coordinator.signal(&session, signal).await {
        Ok(receipt) => {
            state.metrics.webhooks.inc("routed");
            debug!(owner = ?receipt.owner, duplicate = receipt.duplicate, kind, "webhook routed");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => {
            state.metrics.webhooks.inc("unavailable");
            warn!(%error, "webhook could not be routed; Telnyx will retry");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response()
        }
    }
}
