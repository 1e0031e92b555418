//! `GET /session`: app clients. `POST /session/{id}/confirm` and
//! `POST /session/{id}/publish`: the app's side of the same sessions.
//!
//! The WebSocket protocol, every frame JSON text:
//! - server → client `{"type":"ready","session":…}` right after the upgrade;
//!   the client answers `{"type":"ack"}` (optionally with `"last_seq"`)
//!   within the handshake timeout, and only then is the connection part of
//!   the session: replayed messages and live ones follow;
//! - sequenced messages `{"seq":n,"message":{…}}`, replayed after a
//!   reconnect that says `last_seq`; `{"type":"gap","oldest_held":n}` when
//!   some were no longer held;
//! - client → server `{"type":"message","text":…}` (answered through the
//!   chat queue as a sequenced `{"type":"reply",…}`), `{"type":"answer",
//!   "id":n,"approved":bool}` for a confirmation, `{"type":"ping"}`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use turngate_llm::chat::{ConversationId, UserMessage};

use super::util::{bearer_ok, same_secret};
use crate::sessions::{ConfirmOutcome, ToSession, connection_queue};
use crate::state::AppState;

/// The longest a confirmation may wait.
const MAX_CONFIRM: Duration = Duration::from_secs(300);

/// `GET /session?id=…[&last_seq=n][&token=…]`.
pub(super) async fn connect(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let token = &state.config.auth.client_token;
    // Browsers cannot set headers on a WebSocket; a `token` parameter works too.
    let query_token =
        query.get("token").is_some_and(|t| same_secret(t.as_bytes(), token.as_bytes()));
    if !bearer_ok(&headers, token) && !query_token {
        return (StatusCode::UNAUTHORIZED, "a valid client token is required\n").into_response();
    }
    let Some(id) = query.get("id").filter(|id| valid_id(id)).cloned() else {
        return (StatusCode::BAD_REQUEST, "`id` must be 1-128 characters of [A-Za-z0-9_.:-]\n")
            .into_response();
    };
    let last_seq = query.get("last_seq").and_then(|s| s.parse::<u64>().ok());
    let max = state.config.limits.max_frame_bytes;
    ws.max_message_size(max).on_upgrade(move |socket| serve(state, socket, id, last_seq))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
}

async fn serve(state: Arc<AppState>, mut socket: WebSocket, id: String, last_seq: Option<u64>) {
    let hello = json!({"type": "ready", "session": id}).to_string();
    if socket.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    // Nothing of the session reaches a connection that has not said it is
    // ready to receive.
    let acknowledged =
        tokio::time::timeout(state.config.limits.handshake_timeout, socket.recv()).await;
    let last_seq = match acknowledged {
        Ok(Some(Ok(Message::Text(text)))) => match serde_json::from_str::<Value>(&text) {
            Ok(ack) if ack.get("type").and_then(Value::as_str) == Some("ack") => {
                ack.get("last_seq").and_then(Value::as_u64).or(last_seq)
            }
            _ => {
                close_with(&mut socket, "the first message must be {\"type\":\"ack\"}").await;
                return;
            }
        },
        Err(_) => {
            close_with(&mut socket, "no acknowledgement of `ready` in time").await;
            return;
        }
        _ => return,
    };
    let conn = state.sessions.next_conn();
    let session = state.sessions.open(&id, &state.config.session);
    let (sender, mut outgoing) = connection_queue();
    if session.send(ToSession::Connect { conn, last_seq, sender }).await.is_err() {
        close_with(&mut socket, "the session has ended").await;
        return;
    }
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(reply) = on_client(&state, &session, &id, &text).await
                        && socket.send(Message::Text(reply.into())).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => {}
                _ => break,
            },
            text = outgoing.recv() => match text {
                Some(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                // The session dropped this connection (too slow) or ended.
                None => break,
            },
        }
    }
    let _ = session.send(ToSession::Disconnect { conn }).await;
    let _ = socket.send(Message::Close(None)).await;
}

/// Handles one client frame; returns an unsequenced answer, if any.
async fn on_client(
    state: &Arc<AppState>,
    session: &mpsc::Sender<ToSession>,
    id: &str,
    text: &str,
) -> Option<String> {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return Some(json!({"type": "error", "reason": "not JSON"}).to_string());
    };
    match message.get("type").and_then(Value::as_str) {
        Some("ping") => Some(json!({"type": "pong"}).to_string()),
        Some("answer") => {
            let confirm = message.get("id").and_then(Value::as_u64);
            let approved = message.get("approved").and_then(Value::as_bool);
            match (confirm, approved) {
                (Some(confirm), Some(approved)) => {
                    let _ = session.send(ToSession::Answer { id: confirm, approved }).await;
                    None
                }
                _ => Some(
                    json!({"type": "error", "reason": "an answer needs `id` and `approved`"})
                        .to_string(),
                ),
            }
        }
        Some("message") => {
            let Some(text) = message.get("text").and_then(Value::as_str).filter(|t| !t.is_empty())
            else {
                return Some(
                    json!({"type": "error", "reason": "a message needs `text`"}).to_string(),
                );
            };
            let Some(queue) = state.chat.clone() else {
                return Some(json!({"type": "error", "reason": "no chat backend"}).to_string());
            };
            let session = session.clone();
            let conversation = ConversationId::new(format!("session:{id}"));
            let text = text.to_owned();
            // The reply is sequenced like everything else, so a client that
            // drops before it arrives finds it on reconnect.
            tokio::spawn(async move {
                let published = match queue.send(&conversation, UserMessage::new(text)).await {
                    Ok(served) => json!({"type": "reply", "text": served.reply.text}),
                    Err(error) => json!({"type": "reply_failed", "reason": error.to_string()}),
                };
                let _ = session.send(ToSession::Publish { text: published.to_string() }).await;
            });
            None
        }
        _ => Some(json!({"type": "error", "reason": "unknown message type"}).to_string()),
    }
}

async fn close_with(socket: &mut WebSocket, reason: &str) {
    let text = json!({"type": "error", "reason": reason}).to_string();
    let _ = socket.send(Message::Text(text.into())).await;
    let _ = socket.send(Message::Close(None)).await;
}

/// The body of a confirmation request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfirmRequest {
    prompt: String,
    timeout_ms: u64,
}

/// `POST /session/{id}/confirm`: asks the session's clients and waits for
/// an answer, at most `timeout_ms`. The outcome is always explicit:
/// approved, declined, timed out, or no client connected.
pub(super) async fn confirm(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<ConfirmRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if !bearer_ok(&headers, &state.config.auth.client_token) {
        return (StatusCode::UNAUTHORIZED, "a valid client token is required\n").into_response();
    }
    let Json(request) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return (StatusCode::BAD_REQUEST, format!("{rejection}\n")).into_response();
        }
    };
    let Some(session) = state.sessions.get(&id) else {
        return Json(json!({"outcome": ConfirmOutcome::NoClient})).into_response();
    };
    let timeout = Duration::from_millis(request.timeout_ms).min(MAX_CONFIRM);
    let (reply, outcome) = oneshot::channel();
    let asked = session.send(ToSession::Confirm { prompt: request.prompt, timeout, reply }).await;
    let outcome = match asked {
        // The session answers every request, at the latest at its timeout.
        Ok(()) => outcome.await.unwrap_or(ConfirmOutcome::NoClient),
        Err(_) => ConfirmOutcome::NoClient,
    };
    Json(json!({"outcome": outcome})).into_response()
}

/// `POST /session/{id}/publish`: a JSON message for every client of the
/// session, sequenced and kept for replay.
pub(super) async fn publish(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if !bearer_ok(&headers, &state.config.auth.client_token) {
        return (StatusCode::UNAUTHORIZED, "a valid client token is required\n").into_response();
    }
    let Json(message) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return (StatusCode::BAD_REQUEST, format!("{rejection}\n")).into_response();
        }
    };
    let Some(session) = state.sessions.get(&id) else {
        return (StatusCode::NOT_FOUND, format!("no session {id} on this worker\n"))
            .into_response();
    };
    match session.send(ToSession::Publish { text: message.to_string() }).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => (StatusCode::GONE, "the session has ended\n").into_response(),
    }
}
