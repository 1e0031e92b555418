//! AudioCodes VoiceAI Connect: the Bot API WebSocket.

use std::sync::Arc;

use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use turngate_telephony::Limits;
use turngate_telephony::audiocodes::{AudioCodesConfig, AudioCodesTransport};

use super::util::{bearer_ok, header_token_ok, unauthorized};
use super::{Door, upgrade};
use crate::driver::{RELAYED_BY, WORKER_TOKEN};
use crate::http::PeerAddr;
use crate::state::AppState;

/// `GET /audiocodes`: one conversation, after the bot's bearer token checks
/// out. A socket another worker relays (it says so in `x-turngate-relayed-by`)
/// must carry the workers' own secret instead, when one is configured: a
/// carrier's token never passes as a worker's.
pub(super) async fn stream(
    State(state): State<Arc<AppState>>,
    peer: PeerAddr,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let auth = &state.config.auth;
    let relayed = headers.contains_key(RELAYED_BY);
    let (allowed, authenticated) = if relayed && !auth.worker_token.is_empty() {
        (header_token_ok(&headers, WORKER_TOKEN, &auth.worker_token), true)
    } else {
        (bearer_ok(&headers, &auth.audiocodes_token), !auth.audiocodes_token.is_empty())
    };
    if !allowed {
        state.metrics.refused.inc("unauthorized");
        return unauthorized(if relayed { "the workers' token" } else { "a valid bearer token" });
    }
    let config = AudioCodesConfig {
        limits: Limits { max_frame_bytes: state.config.limits.max_frame_bytes },
        ..AudioCodesConfig::default()
    };
    let door = Door { peer, authenticated, relayed };
    upgrade(state, ws, door, move |now| Box::new(AudioCodesTransport::new(config, now)))
}
