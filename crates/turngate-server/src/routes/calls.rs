//! Recent calls' transcripts and timelines.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// One recent call.
pub(super) async fn get(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.records.get(&id) {
        Some(record) => Json(record).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no recent call {id}\n")).into_response(),
    }
}

/// Every recent call, oldest first.
pub(super) async fn list(State(state): State<Arc<AppState>>) -> Response {
    Json(state.records.all()).into_response()
}
