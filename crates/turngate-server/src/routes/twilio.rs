//! Twilio: the TwiML that connects a call's media to `/twilio`, and the
//! media stream itself.

use std::sync::Arc;

use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use turngate_telephony::Limits;
use turngate_telephony::twilio::{
    ConnectStream, RequestValidator, TwilioConfig, TwilioTransport, parse_form,
};

use super::util::{public_base, ws_base};
use super::{Door, upgrade};
use crate::http::PeerAddr;
use crate::state::AppState;

const SIGNATURE: &str = "x-twilio-signature";

/// `POST /twilio/voice`: answers Twilio's voice webhook with
/// `<Connect><Stream>` pointing at `/twilio`, passing the call's numbers as
/// stream parameters (the stream URL cannot carry a query string).
pub(super) async fn voice(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let params = parse_form(&body);
    let base = public_base(&state.config.public_url, &headers);
    let token = &state.config.auth.twilio_auth_token;
    if !token.is_empty() {
        let pairs: Vec<(&str, &str)> =
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let signature = headers.get(SIGNATURE).and_then(|v| v.to_str().ok());
        // Twilio signs the URL exactly as configured, query string included
        // (https://www.twilio.com/docs/usage/webhooks/webhooks-security).
        let url = match uri.query() {
            Some(query) => format!("{base}/twilio/voice?{query}"),
            None => format!("{base}/twilio/voice"),
        };
        if let Err(error) = RequestValidator::new(token.clone()).validate(&url, &pairs, signature) {
            state.metrics.refused.inc("unauthorized");
            return (StatusCode::FORBIDDEN, format!("{error}\n")).into_response();
        }
    }
    let mut stream = ConnectStream::new(format!("{}/twilio", ws_base(&base)));
    for name in ["From", "To", "CallSid"] {
        if let Some((_, value)) = params.iter().find(|(k, _)| k == name) {
            stream = stream.parameter(name.to_lowercase(), value.clone());
        }
    }
    match stream.render() {
        Ok(twiml) => ([(header::CONTENT_TYPE, "text/xml")], twiml).into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    }
}

/// `GET /twilio`: the bidirectional media stream of one call.
pub(super) async fn stream(
    State(state): State<Arc<AppState>>,
    peer: PeerAddr,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token = &state.config.auth.twilio_auth_token;
    if !token.is_empty() {
        // Twilio signs the upgrade over the wss:// URL it was given.
        let url = format!("{}/twilio", ws_base(&public_base(&state.config.public_url, &headers)));
        let signature = headers.get(SIGNATURE).and_then(|v| v.to_str().ok());
        if let Err(error) = RequestValidator::new(token.clone()).validate_upgrade(&url, signature) {
            state.metrics.refused.inc("unauthorized");
            return (StatusCode::FORBIDDEN, format!("{error}\n")).into_response();
        }
    }
    let config = TwilioConfig {
        limits: Limits { max_frame_bytes: state.config.limits.max_frame_bytes },
        ..TwilioConfig::default()
    };
    let door = Door { peer, authenticated: !token.is_empty(), relayed: false };
    upgrade(state, ws, door, move |now| Box::new(TwilioTransport::new(config, now)))
}
