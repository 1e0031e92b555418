//! `POST /chat`: one message in, the assistant's reply out, in order per
//! conversation across every worker.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use turngate_llm::chat::{ChatBackend, ChatError, ConversationId, UserMessage};

use super::util::bearer_ok;
use crate::state::AppState;

/// The coordinator flag naming a conversation's upstream object.
const UPSTREAM_FLAG: &str = "upstream";
/// How long a conversation's mapping outlives its last message.
const UPSTREAM_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Attempts at storing a conversation's mapping.
const SHARE_ATTEMPTS: u32 = 3;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatRequest {
    conversation_id: String,
    message: String,
}

impl ChatRequest {
    /// The conversation's coordinator scope, once the request is known to
    /// be usable; the error is what the client is told.
    pub(crate) fn check(&self) -> Result<turngate_coord::SessionId, &'static str> {
        if self.conversation_id.is_empty() || self.message.is_empty() {
            return Err("conversation_id and message must not be empty");
        }
        turngate_coord::SessionId::new(format!("chat:{}", self.conversation_id)).map_err(
            |_| "conversation_id is not usable (too long, or it contains control characters)",
        )
    }
}

/// The reply body.
#[derive(Debug, Serialize)]
pub(super) struct ChatReply {
    conversation_id: String,
    reply: String,
    queued_ms: u64,
    elapsed_ms: u64,
}

#[derive(Debug, Serialize)]
struct Problem {
    error: String,
    conversation_id: String,
}

pub(super) async fn chat(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<ChatRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if !bearer_ok(&headers, &state.config.auth.client_token) {
        state.metrics.refused.inc("unauthorized");
        return super::util::unauthorized("a valid bearer token");
    }
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return (StatusCode::BAD_REQUEST, format!("{rejection}\n")).into_response();
        }
    };
    let Some(queue) = &state.chat else {
        return (StatusCode::NOT_IMPLEMENTED, "no chat backend is configured\n").into_response();
    };
    let problem = |status: StatusCode, error: String| {
        let body = Problem { error, conversation_id: request.conversation_id.clone() };
        (status, Json(body)).into_response()
    };
    let scope = match request.check() {
        Ok(scope) => scope,
        Err(problem_text) => return problem(StatusCode::BAD_REQUEST, problem_text.to_owned()),
    };
    let timeout = state.config.chat.request_timeout;
    let started = tokio::time::Instant::now();
    // Across workers, one conversation is served first come, first served,
    // and driven by one worker at a time (a ticket, then a fenced lock).
    let turn = match crate::chat_order::take_turn(
        &state.coordinator,
        &request.conversation_id,
        timeout + Duration::from_secs(5),
        started + timeout,
        state.config.chat.queue_depth,
    )
    .await
    {
        Ok(turn) => turn,
        Err(error @ crate::chat_order::OrderError::Full { .. }) => {
            state.metrics.chat_requests.inc("queue_full");
            return problem(StatusCode::TOO_MANY_REQUESTS, format!("queue full: {error}"));
        }
        Err(error @ crate::chat_order::OrderError::Timeout { .. }) => {
            state.metrics.chat_requests.inc("timeout");
            return problem(StatusCode::GATEWAY_TIMEOUT, error.to_string());
        }
        Err(error) => {
            state.metrics.chat_requests.inc("unavailable");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("coordination failed: {error}"),
            );
        }
    };
    let waited_for_lock = started.elapsed();
    let conversation = ConversationId::new(request.conversation_id.clone());
    // Every worker talks to the same upstream object for a conversation:
    // the mapping lives in the coordinator, read and written under the
    // turn. A mapping that cannot be read fails the request: going on
    // would start a second upstream conversation and fork the history.
    match state.coordinator.get_flag(&scope, UPSTREAM_FLAG).await {
        Ok(Some(upstream)) => match String::from_utf8(upstream) {
            Ok(upstream) => queue.bind_upstream(&conversation, upstream),
            Err(_) => {
                turn.finish().await;
                state.metrics.chat_requests.inc("error");
                return problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the conversation's stored upstream id is not text; nothing was sent"
                        .to_owned(),
                );
            }
        },
        Ok(None) => {}
        Err(error) => {
            turn.finish().await;
            state.metrics.chat_requests.inc("unavailable");
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the conversation's state could not be read ({error}); nothing was sent, retry later"
                ),
            );
        }
    }
    let message = UserMessage::new(request.message.clone()).with_deadline(started + timeout);
    let outcome = queue.send(&conversation, message).await;
    if let Some(upstream) = queue.upstream_of(&conversation) {
        share_upstream(&state, &scope, &upstream).await;
    }
    turn.finish().await;
    match outcome {
        Ok(served) => {
            state.metrics.chat_requests.inc("ok");
            let queued = waited_for_lock + served.waited;
            state.metrics.queue_wait.observe(queued);
            Json(ChatReply {
                conversation_id: request.conversation_id,
                reply: served.reply.text,
                queued_ms: millis(queued),
                elapsed_ms: millis(started.elapsed()),
            })
            .into_response()
        }
        Err(error @ ChatError::QueueFull { .. }) => {
            state.metrics.chat_requests.inc("queue_full");
            problem(StatusCode::TOO_MANY_REQUESTS, error.to_string())
        }
        Err(error @ ChatError::Timeout { .. }) => {
            state.metrics.chat_requests.inc("timeout");
            problem(StatusCode::GATEWAY_TIMEOUT, error.to_string())
        }
        Err(error) => {
            state.metrics.chat_requests.inc("error");
            problem(StatusCode::BAD_GATEWAY, error.to_string())
        }
    }
}

/// Stores the conversation's upstream id for the other workers, retrying a
/// failing coordinator a few times within the request: the message has
/// been answered by then, so the request itself still succeeds.
async fn share_upstream(state: &AppState, scope: &turngate_coord::SessionId, upstream: &str) {
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=SHARE_ATTEMPTS {
        match state
            .coordinator
            .set_flag(scope, UPSTREAM_FLAG, upstream.as_bytes(), UPSTREAM_TTL)
            .await
        {
            Ok(()) => return,
            Err(error) if attempt == SHARE_ATTEMPTS => {
                state.metrics.chat_requests.inc("unshared");
                tracing::error!(
                    %error,
                    "could not share the conversation's upstream id with other workers; this worker keeps it"
                );
            }
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
