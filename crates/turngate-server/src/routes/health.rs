//! Liveness, readiness and metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use turngate_coord::SessionId;

use crate::state::AppState;

/// The process is up.
pub(super) async fn live() -> &'static str {
    "ok\n"
}

/// The worker can take calls: not draining, and the coordinator answers.
pub(super) async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response();
    }
    let probe = SessionId::new("readiness-probe").ok();
    let coordinator = match probe {
        Some(probe) => {
            tokio::time::timeout(Duration::from_secs(2), state.coordinator.owner(&probe)).await
        }
        None => return (StatusCode::INTERNAL_SERVER_ERROR, "bad probe id\n").into_response(),
    };
    match coordinator {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        // The details (hosts, ports) are for the log, not for whoever asks.
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: the coordinator is unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "coordinator unavailable\n").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "coordinator did not answer in time\n")
            .into_response(),
    }
}

/// Prometheus text: counts only, never call content, so open by default;
/// behind the admin token when `auth.metrics_require_token` is set.
pub(super) async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.config.auth.metrics_require_token
        && !super::util::bearer_ok(&headers, &state.config.auth.admin_token)
    {
        state.metrics.refused.inc("unauthorized");
        return super::util::unauthorized("the admin bearer token");
    }
    if let Some(chat) = &state.chat {
        let stats = chat.stats();
        state.metrics.queue_depth.set("chat", i64::try_from(stats.depth).unwrap_or(i64::MAX));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
        .into_response()
}
