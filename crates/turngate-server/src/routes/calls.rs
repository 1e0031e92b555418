//! Recent calls' transcripts and timelines: operator routes, behind the
//! admin token (they hold what callers said, the keys they pressed and the
//! arguments of tool calls).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::util::{bearer_ok, unauthorized};
use crate::state::AppState;

/// One recent call.
pub(super) async fn get(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !bearer_ok(&headers, &state.config.auth.admin_token) {
        state.metrics.refused.inc("unauthorized");
        return unauthorized("the admin bearer token");
    }
    match state.records.get(&id) {
        Some(record) => Json(record).into_response(),
        None => (StatusCode::NOT_FOUND, "no such recent call\n").into_response(),
    }
}

/// Every recent call, oldest first.
pub(super) async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if !bearer_ok(&headers, &state.config.auth.admin_token) {
        state.metrics.refused.inc("unauthorized");
        return unauthorized("the admin bearer token");
    }
    Json(state.records.all()).into_response()
}
