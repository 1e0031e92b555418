//! Twilio: the TwiML that connects a call's media to `/twilio`, and the
//! media stream itself.

use std::sync::Arc;

use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use turngate_telephony::twilio::{ConnectStream, RequestValidator, TwilioConfig, TwilioTransport};

use super::upgrade;
use super::util::{parse_form, public_base, ws_base};
use crate::state::AppState;

const SIGNATURE: &str = "x-twilio-signature";

/// `POST /twilio/voice`: answers Twilio's voice webhook with
/// `<Connect><Stream>` pointing at `/twilio`, passing the call's numbers as
/// stream parameters (the stream URL cannot carry a query string).
pub(super) async fn voice(
    State(state): State<Arc<AppState>>,
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
        let url = format!("{base}/twilio/voice");
        if let Err(error) = RequestValidator::new(token.clone()).validate(&url, &pairs, signature) {
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
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let token = &state.config.auth.twilio_auth_token;
    if !token.is_empty() {
        // Twilio signs the upgrade over the wss:// URL it was given.
        let url = format!("{}/twilio", ws_base(&public_base(&state.config.public_url, &headers)));
        let signature = headers.get(SIGNATURE).and_then(|v| v.to_str().ok());
        if let Err(error) = RequestValidator::new(token.clone()).validate_upgrade(&url, signature) {
            return (StatusCode::FORBIDDEN, format!("{error}\n")).into_response();
        }
    }
    let config = TwilioConfig::default();
    upgrade(state, ws, move |now| Box::new(TwilioTransport::new(config, now)))
}
