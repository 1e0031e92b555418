//! `GET /v1/models/{model}`: the model object, with the announced shutdown
//! date OpenAI adds to it (`shutdown_date`, `YYYY-MM-DD` or null; see
//! <https://developers.openai.com/api/docs/deprecations>), served by both
//! chat simulators so that a client can check its models before use.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::server::{Shared, World};
use super::strict::ApiError;

/// A model the simulators know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimModel {
    /// Its id.
    pub id: String,
    /// Its announced shutdown day (`YYYY-MM-DD`), if any.
    pub shutdown_date: Option<String>,
}

impl SimModel {
    fn new(id: &str, shutdown_date: Option<&str>) -> SimModel {
        SimModel { id: id.to_owned(), shutdown_date: shutdown_date.map(str::to_owned) }
    }

    /// The models a key can use by default: the current voice, chat and
    /// transcription models without a shutdown date, and the ones retiring
    /// in early 2027 with theirs (the dates the openai-python SDK's model
    /// docstrings give).
    pub fn catalogue() -> Vec<SimModel> {
        vec![
            SimModel::new("gpt-realtime-2.1", None),
            SimModel::new("gpt-realtime-2.1-mini", None),
            SimModel::new("gpt-live-1", None),
            SimModel::new("gpt-live-1.1", None),
            SimModel::new("gpt-6-luna", None),
            SimModel::new("gpt-live-transcribe", None),
            SimModel::new("gpt-transcribe", None),
            SimModel::new("gpt-realtime", Some("2027-01-20")),
            SimModel::new("gpt-realtime-mini", Some("2027-01-20")),
            SimModel::new("gpt-4.1-mini", Some("2027-01-14")),
            SimModel::new("gpt-4.1", Some("2027-01-14")),
            SimModel::new("gpt-4o", Some("2027-01-14")),
            SimModel::new("gpt-4o-mini", Some("2027-01-14")),
            SimModel::new("gpt-4o-mini-transcribe", Some("2027-02-26")),
            SimModel::new("whisper-1", Some("2027-02-26")),
        ]
    }
}

/// The handler; the key is checked as on every other endpoint.
pub(crate) async fn get_model<W: World>(
    State(sim): State<Arc<Shared<W>>>,
    headers: HeaderMap,
    Path(model): Path<String>,
) -> Response {
    let mut world = sim.world();
    if let Err(error) = sim.admit(&mut world, &headers, false) {
        return error.into_response();
    }
    match sim.config.models.iter().find(|m| m.id == model) {
        Some(found) => axum::Json(json!({
            "id": found.id,
            "object": "model",
            "created": 1_756_339_200,
            "owned_by": "system",
            "shutdown_date": found.shutdown_date,
        }))
        .into_response(),
        None => ApiError::not_found(format!(
            "The model `{model}` does not exist or you do not have access to it."
        ))
        .with_code("model_not_found")
        .into_response(),
    }
}
