//! AudioCodes VoiceAI Connect: the Bot API WebSocket.

use std::sync::Arc;

use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use turngate_telephony::audiocodes::{AudioCodesConfig, AudioCodesTransport};

use super::upgrade_relayed;
use super::util::bearer_ok;
use crate::state::AppState;

/// `GET /audiocodes`: one conversation, after the bot's bearer token checks out.
pub(super) async fn stream(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !bearer_ok(&headers, &state.config.auth.audiocodes_token) {
        return (StatusCode::UNAUTHORIZED, "a valid bearer token is required\n").into_response();
    }
    let config = AudioCodesConfig::default();
    let relayed = headers.contains_key(crate::driver::RELAYED_BY);
    upgrade_relayed(state, ws, move |now| Box::new(AudioCodesTransport::new(config, now)), relayed)
}
