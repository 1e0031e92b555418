//! `POST /openai/webhook`: OpenAI's SIP call webhooks. The signature is
//! checked over the raw body before anything reads it, the delivery is
//! answered at once, and the decision on the call runs afterwards
//! (`crate::sip`), so OpenAI never waits on a coordinator or an accept and
//! never retries a delivery because we were slow.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::{Instrument as _, debug};
use turngate_llm::sip::{ID_HEADER, UnwrapError};

use crate::state::AppState;

pub(super) async fn webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(verifier) = &state.sip_verifier else {
        state.metrics.sip_webhooks.inc("unverified");
        return (
            StatusCode::FORBIDDEN,
            "openai.webhook_secret is not set: webhooks cannot be verified, so none is acted on\n",
        )
            .into_response();
    };
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_secs()).unwrap_or(i64::MAX));
    let event = match verifier.verify_and_parse(&pairs, &body, now) {
        Ok(event) => event,
        Err(UnwrapError::Signature(error)) => {
            state.metrics.sip_webhooks.inc("unverified");
            state.metrics.refused.inc("unauthorized");
            return (StatusCode::UNAUTHORIZED, format!("{error}\n")).into_response();
        }
        Err(UnwrapError::Body(error)) => {
            // Signed by OpenAI but not a shape we can read: a retry would
            // be the same, so it is answered as done and counted.
            state.metrics.sip_webhooks.inc("malformed");
            debug!(%error, "a verified webhook we cannot read");
            return (StatusCode::OK, format!("{error}\n")).into_response();
        }
    };
    // `verify_and_parse` found the header, so it is there and readable.
    let webhook_id = pairs
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(ID_HEADER))
        .map_or_else(String::new, |(_, value)| (*value).to_owned());
    let decided = crate::sip::decide(Arc::clone(&state), webhook_id, event);
    tokio::spawn(decided.in_current_span());
    StatusCode::OK.into_response()
}
