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
use crate::admission::{CappedGuard, PendingGuard};
use crate::client_frames::ClientFrame;
use crate::http::PeerAddr;
use crate::sessions::{ConfirmOutcome, ToSession, connection_queue};
use crate::state::AppState;

/// The longest a confirmation may wait.
const MAX_CONFIRM: Duration = Duration::from_secs(300);
/// How long a chat reply may wait for room in its session's queue; the
/// session's task drains it in microseconds unless it has ended.
const REPLY_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// `GET /session?id=…[&last_seq=n][&token=…]`.
pub(super) async fn connect(
    State(state): State<Arc<AppState>>,
    peer: PeerAddr,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let token = &state.config.auth.client_token;
    // Browsers cannot set headers on a WebSocket; a `token` parameter works too.
    let query_token =
        query.get("token").is_some_and(|t| same_secret(t.as_bytes(), token.as_bytes()));
    if !bearer_ok(&headers, token) && !query_token {
        state.metrics.refused.inc("unauthorized");
        return super::util::unauthorized("a valid client token");
    }
    let Some(id) = query.get("id").filter(|id| valid_id(id)).cloned() else {
        return (StatusCode::BAD_REQUEST, "`id` must be 1-128 characters of [A-Za-z0-9_.:-]\n")
            .into_response();
    };
    let Some(pending) = state.pending_upgrades.enter(peer.0.map(|a| a.ip())) else {
        state.metrics.refused.inc("pending_upgrades");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many connections from this address are still starting\n",
        )
            .into_response();
    };
    let Some(counted) = state.client_connections.enter() else {
        state.metrics.refused.inc("client_connections");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many app-client connections on this worker\n",
        )
            .into_response();
    };
    let last_seq = query.get("last_seq").and_then(|s| s.parse::<u64>().ok());
    let max = state.config.limits.max_frame_bytes;
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| {
        serve(state, socket, id, last_seq, Guards { _pending: pending, _counted: counted })
    })
}

/// What a connection holds while it lives: its place among the pending
/// upgrades until it is part of a session, and its place among the
/// worker's client connections.
struct Guards {
    _pending: PendingGuard,
    _counted: CappedGuard,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
}

async fn serve(
    state: Arc<AppState>,
    mut socket: WebSocket,
    id: String,
    last_seq: Option<u64>,
    guards: Guards,
) {
    let write_timeout = state.config.limits.write_timeout;
    let hello = json!({"type": "ready", "session": id}).to_string();
    if !send_within(&mut socket, Message::Text(hello.into()), write_timeout).await {
        return;
    }
    // Nothing of the session reaches a connection that has not said it is
    // ready to receive.
    let acknowledged =
        tokio::time::timeout(state.config.limits.handshake_timeout, socket.recv()).await;
    let last_seq = match acknowledged {
        Ok(Some(Ok(Message::Text(text)))) => match crate::client_frames::parse(&text) {
            Ok(ClientFrame::Ack { last_seq: said }) => said.or(last_seq),
            _ => {
                close_with(
                    &mut socket,
                    "the first message must be {\"type\":\"ack\"}",
                    write_timeout,
                )
                .await;
                return;
            }
        },
        Err(_) => {
            close_with(&mut socket, "no acknowledgement of `ready` in time", write_timeout).await;
            return;
        }
        _ => return,
    };
    let Guards { _pending: pending, _counted: counted } = guards;
    drop(pending);
    let conn = state.sessions.next_conn();
    let Some(session) = state.sessions.open(&id, &state.config.session) else {
        state.metrics.refused.inc("sessions");
        close_with(&mut socket, "too many sessions on this worker", write_timeout).await;
        return;
    };
    let (sender, mut outgoing) = connection_queue();
    if !queue_within(&session, ToSession::Connect { conn, last_seq, sender }, write_timeout).await {
        close_with(&mut socket, "the session has ended or is not keeping up", write_timeout).await;
        return;
    }
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Some(reply) = on_client(&state, &session, &id, &text).await
                        && !send_within(&mut socket, Message::Text(reply.into()), write_timeout).await
                    {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => {}
                _ => break,
            },
            message = outgoing.recv() => match message {
                Some(message) => {
                    let text = message.render();
                    if !send_within(&mut socket, Message::Text(text.into()), write_timeout).await {
                        break;
                    }
                }
                // The session dropped this connection (too slow) or ended.
                None => break,
            },
        }
    }
    let _ = queue_within(&session, ToSession::Disconnect { conn }, write_timeout).await;
    let _ = send_within(&mut socket, Message::Close(None), write_timeout).await;
    drop(counted);
}

/// Sends one frame, giving up after `limit`: a client that stops reading
/// loses its connection (it reconnects and replays), never a task.
async fn send_within(socket: &mut WebSocket, message: Message, limit: Duration) -> bool {
    matches!(tokio::time::timeout(limit, socket.send(message)).await, Ok(Ok(())))
}

/// Hands a request to the session's task, waiting at most `limit` for room.
async fn queue_within(
    session: &mpsc::Sender<ToSession>,
    request: ToSession,
    limit: Duration,
) -> bool {
    matches!(tokio::time::timeout(limit, session.send(request)).await, Ok(Ok(())))
}

/// Handles one client frame; returns an unsequenced answer, if any.
async fn on_client(
    state: &Arc<AppState>,
    session: &mpsc::Sender<ToSession>,
    id: &str,
    text: &str,
) -> Option<String> {
    let error = |reason: &str| Some(json!({"type": "error", "reason": reason}).to_string());
    match crate::client_frames::parse(text) {
        Err(reason) => error(reason),
        Ok(ClientFrame::Ping) => Some(json!({"type": "pong"}).to_string()),
        Ok(ClientFrame::Ack { .. }) => error("already acknowledged"),
        Ok(ClientFrame::Answer { id: confirm, approved }) => {
            let answer = ToSession::Answer { id: confirm, approved };
            if queue_within(session, answer, state.config.limits.write_timeout).await {
                None
            } else {
                error("the session is not keeping up; answer again")
            }
        }
        Ok(ClientFrame::Message { text }) => {
            let Some(queue) = state.chat.clone() else {
                return error("no chat backend");
            };
            let session = session.clone();
            let conversation = ConversationId::new(format!("session:{id}"));
            // The reply is sequenced like everything else, so a client that
            // drops before it arrives finds it on reconnect.
            tokio::spawn(async move {
                let published = match queue.send(&conversation, UserMessage::new(text)).await {
                    Ok(served) => json!({"type": "reply", "text": served.reply.text}),
                    Err(error) => json!({"type": "reply_failed", "reason": error.to_string()}),
                };
                let publish = ToSession::Publish { text: published.to_string() };
                if !queue_within(&session, publish, REPLY_QUEUE_TIMEOUT).await {
                    tracing::warn!("a chat reply could not be queued for the session's clients");
                }
            });
            None
        }
    }
}

async fn close_with(socket: &mut WebSocket, reason: &str, limit: Duration) {
    let text = json!({"type": "error", "reason": reason}).to_string();
    if send_within(socket, Message::Text(text.into()), limit).await {
        let _ = send_within(socket, Message::Close(None), limit).await;
    }
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
        state.metrics.refused.inc("unauthorized");
        return super::util::unauthorized("a valid client token");
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
    let ask = ToSession::Confirm { prompt: request.prompt, timeout, reply };
    let outcome = if queue_within(&session, ask, state.config.limits.write_timeout).await {
        // The session answers every request, at the latest at its timeout;
        // the extra second covers a session that ends meanwhile.
        match tokio::time::timeout(timeout + Duration::from_secs(1), outcome).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => ConfirmOutcome::NoClient,
            Err(_) => ConfirmOutcome::TimedOut,
        }
    } else {
        ConfirmOutcome::NoClient
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
        state.metrics.refused.inc("unauthorized");
        return super::util::unauthorized("a valid client token");
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
    let publish = ToSession::Publish { text: message.to_string() };
    match tokio::time::timeout(state.config.limits.write_timeout, session.send(publish)).await {
        Ok(Ok(())) => StatusCode::ACCEPTED.into_response(),
        Ok(Err(_)) => (StatusCode::GONE, "the session has ended\n").into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the session is not keeping up; nothing was published\n",
        )
            .into_response(),
    }
}
