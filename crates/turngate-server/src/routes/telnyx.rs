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
use turngate_telephony::Limits;
use turngate_telephony::telnyx::{TelnyxConfig, TelnyxTransport, WebhookVerifier, decode_webhook};

use super::upgrade;
use crate::driver::{session_key, signal_for};
use crate::state::AppState;

/// `GET /telnyx`: the media stream of one call.
pub(super) async fn stream(State(state): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    let config = TelnyxConfig::default();
    upgrade(state, ws, move |now| Box::new(TelnyxTransport::new(config, now)))
}

/// `POST /telnyx/webhook`: verifies the signature over the raw body, decodes
/// the event and signals the call's owner, on whichever worker it is. A
/// coordinator failure answers 503 so Telnyx retries; retries carry the
/// same event id, which de-duplicates them.
pub(super) async fn webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = &state.config.auth.telnyx_public_key;
    if !key.is_empty() {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let verified = WebhookVerifier::from_base64(key).and_then(|verifier| {
            verifier.verify(
                header("telnyx-signature-ed25519"),
                header("telnyx-timestamp"),
                &body,
                SystemTime::now(),
            )
        });
        if let Err(error) = verified {
            return (StatusCode::UNAUTHORIZED, format!("{error}\n")).into_response();
        }
    }
    let limits = Limits { max_frame_bytes: state.config.limits.max_body_bytes };
    let event = match decode_webhook(&body, &limits) {
        Ok(event) => event,
        Err(error) => {
            state.metrics.protocol_errors.inc("telnyx");
            return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response();
        }
    };
    let Some(kind) = event.input.as_ref().and_then(signal_for) else {
        debug!(event = ?event.event, "webhook needs no action");
        return StatusCode::NO_CONTENT.into_response();
    };
    let Ok(session) = SessionId::new(session_key("telnyx", &event.call_control_id)) else {
        return (StatusCode::BAD_REQUEST, "unusable call_control_id\n").into_response();
    };
    let signal = match Signal::new(kind, Vec::new()).and_then(|s| s.with_dedup_key(&event.event_id))
    {
        Ok(signal) => signal,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    };
    match state.coordinator.signal(&session, signal).await {
        Ok(receipt) => {
            debug!(owner = ?receipt.owner, duplicate = receipt.duplicate, kind, "webhook routed");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => {
            warn!(%error, "webhook could not be routed; Telnyx will retry");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response()
        }
    }
}
